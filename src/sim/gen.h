/* gen.h — a small deterministic fleet telemetry generator for `fleetpipe demo`, benchmarks and
 * tests. The full simulator with a vehicle model, anomalies and MQTT is sim.h (`fleetpipe sim`).
 *
 * Messages follow ../shared/PROTOCOLS.md: vehicle/kinematic (60 samples per message),
 * vehicle/status, cargo/temperature, blackbox/status and occasional vehicle/event. Vehicles take
 * turns in round-robin order; message time advances by each protocol's send interval from
 * start_ms. The same seed gives the same bytes.
 */
#ifndef FP_SIM_GEN_H
#define FP_SIM_GEN_H

#include <stdint.h>

#include "core/mem.h"

typedef struct fp_gen fp_gen;

typedef struct fp_gen_msg {
    const char *topic;   /* "fms.vehicle", "fms.cargo", ... (static storage) */
    char device_id[32];  /* record key */
    int64_t messaged_ms; /* send time, epoch ms UTC */
    int bad;             /* 1 when this message was made malformed on purpose */
} fp_gen_msg;

/* vehicles >= 1; bad_per_million: how many messages in a million are deliberately broken
 * (truncated JSON, missing field), for dead-letter demos. */
fp_gen *fp_gen_new(uint32_t vehicles, uint64_t seed, int64_t start_ms, uint32_t bad_per_million);
/* Appends the next message's JSON to out (no newline) and describes it in msg. */
void fp_gen_next(fp_gen *g, fp_buf *out, fp_gen_msg *msg);
/* Only vehicle/kinematic messages with 60 samples (the benchmark message). */
void fp_gen_kinematic(fp_gen *g, fp_buf *out, fp_gen_msg *msg);
void fp_gen_free(fp_gen *g);

#endif
