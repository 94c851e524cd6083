/* run.h — drives simulated vehicles (or a replay) in real or accelerated time and publishes
 * their messages to MQTT (one libmosquitto connection per device, QoS 1), Kafka (idempotent
 * producer, key = device_id) or a JSON-lines file.
 *
 * Vehicles are spread over worker threads; each thread owns its vehicles and their MQTT
 * connections and multiplexes them with poll(), so a thousand devices cost a thousand sockets,
 * not a thousand threads. A message counts as published when the broker acknowledged it
 * (PUBACK), Kafka confirmed it, or it was written. Backpressure: a device with too many
 * unacknowledged messages waits; nothing is dropped.
 */
#ifndef FP_SIM_RUN_H
#define FP_SIM_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/stop.h"
#include "ops/metrics.h"
#include "sim/provision.h"
#include "sim/sim.h"

typedef enum fp_sim_target { FP_SIM_TO_FILE, FP_SIM_TO_KAFKA, FP_SIM_TO_MQTT } fp_sim_target;

typedef struct fp_sim_mqtt_conf {
    const char *host;
    int port;
    int tls;
    const char *cafile, *certfile, *keyfile;
    int insecure;
    const fp_sim_credentials *credentials; /* per device; NULL: username/password for all */
    const char *username, *password;
    int max_inflight; /* unacknowledged messages per device before it waits */
} fp_sim_mqtt_conf;

/* Counters a scrape reads while the run goes on (`--metrics-listen`). Owned by the caller, who
 * keeps it alive until the metrics server stopped; one row of atomics per worker thread so that
 * workers never share a cache line on the hot path. */
typedef struct fp_sim_live fp_sim_live;
fp_sim_live *fp_sim_live_new(const fp_sim_registry *reg, int threads);
void fp_sim_live_free(fp_sim_live *l);
/* An fp_metrics_writer (ctx: fp_sim_live): fleetpipe_sim_messages_published_total{protocol}
 * (handed to the target), fleetpipe_sim_messages_acked_total (PUBACK, Kafka confirmation or
 * written), fleetpipe_sim_anomalies_total{kind}. */
void fp_sim_live_write(void *live, fp_metrics_out *m);

typedef struct fp_sim_run_opts {
    const fp_sim_conf *conf;
    uint32_t vehicles;
    uint32_t first_id; /* vehicle ids first_id..first_id+vehicles-1; 0 means 1 */
    int64_t end_ms;    /* simulated end time */
    double speedup;    /* simulated seconds per wall second; 0: as fast as possible */
    /* The simulated clock is start + (wall clock - start) x speedup rather than counted from
     * when the simulation begins: time spent connecting devices is not lost (what fell due is
     * sent at once), and a start in the future waits for it. */
    bool wall_clock;
    double rate; /* messages per second cap over all threads; 0: none */
    int threads;
    fp_sim_target target;
    FILE *out;                    /* FP_SIM_TO_FILE */
    const char *bootstrap;        /* FP_SIM_TO_KAFKA */
    fp_sim_mqtt_conf mqtt;        /* FP_SIM_TO_MQTT */
    FILE *truth;                  /* ground truth lines, or NULL */
    const char *replay;           /* replay this file instead of simulating */
    uint32_t multiply, id_stride; /* replay cloning */
    bool retime;                  /* replay: event times moved to now (fp_sim_replay_retime) */
    fp_sim_live *live;            /* or NULL; made for at least `threads` threads */
    const fp_stop *stop;          /* the owner's stop token; may be NULL */
} fp_sim_run_opts;

typedef struct fp_sim_summary {
    uint64_t *messages, *samples; /* per registry protocol, plus one slot for "other" (replay) */
    uint64_t anomalies[FP_SIM_ANOM_COUNT];
    uint64_t emitted;   /* messages handed to the target */
    uint64_t published; /* acknowledged / written */
    uint64_t failed;    /* refused or not acknowledged in the end */
    uint64_t bad_replay_lines;
    uint64_t commands; /* commands received on fms/<device>/cmd */
    int64_t wall_ms;
} fp_sim_summary;

/* Runs to the end (or until o->stop is requested). summary->messages/samples are allocated (free
 * them). Returns FP_ERR_CONFIG when the broker refuses a device's credentials. */
fp_code fp_sim_run(const fp_sim_run_opts *o, fp_sim_summary *summary, fp_err *err);

#endif
