/* sim.h — the fleet simulator's model: protocol registry, vehicles, anomalies, replay.
 *
 * Transport-free: a vehicle turns simulated time into the messages of ../shared/PROTOCOLS.md
 * and hands each one to an emit callback; cmd_sim.c publishes them to MQTT, Kafka or a file.
 * Every vehicle has its own random stream derived from (seed, vehicle id), so a vehicle's bytes
 * depend only on the seed, the start time and the configuration — not on threads or pacing.
 *
 * The protocol registry is data (config/protocols.json, built in as the default): each
 * protocol names its object/type, kind, rate, send interval and, per field, the vehicle signal
 * or generator that fills it. Adding a protocol is adding an entry, not code.
 *
 * Threads: a vehicle belongs to one thread at a time; the registry is read-only once loaded and
 * may be shared.
 */
#ifndef FP_SIM_H
#define FP_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

/* ---- protocol registry ---- */

typedef struct fp_sim_registry fp_sim_registry;

typedef struct fp_sim_protocol {
    const char *object;  /* "vehicle" */
    const char *type;    /* "kinematic" */
    const char *topic;   /* Kafka topic, "fms.vehicle" */
    bool periodic;       /* false: event type (no measurements) */
    double hz;           /* samples per second (periodic) */
    int send_interval_s; /* batch period (periodic) */
} fp_sim_protocol;

/* path NULL: the built-in copy of config/protocols.json. Errors name the file and entry. */
fp_sim_registry *fp_sim_registry_load(const char *path, fp_err *err);
void fp_sim_registry_free(fp_sim_registry *r);
size_t fp_sim_registry_count(const fp_sim_registry *r);
const fp_sim_protocol *fp_sim_registry_get(const fp_sim_registry *r, size_t i);
/* The registry's object names, deduplicated, in registry order, NULL-terminated (what the
 * bridge's routing rules accept). Free with fp_sim_registry_objects_free. */
char **fp_sim_registry_objects(const fp_sim_registry *r);
void fp_sim_registry_objects_free(char **objects);
/* Keeps only the protocols in a comma-separated "object/type" list (unknown names are
 * FP_ERR_CONFIG naming them). */
fp_code fp_sim_registry_select(fp_sim_registry *r, const char *list, fp_err *err);
/* Whether some protocol (selected or not) has this object / this object and type. */
bool fp_sim_registry_has_object(const fp_sim_registry *r, const char *object, size_t n);
bool fp_sim_registry_has_type(const fp_sim_registry *r, const char *object, size_t on,
                              const char *type, size_t tn);

/* ---- anomalies ---- */

typedef enum fp_sim_anomaly {
    FP_SIM_ANOM_NONE = 0,
    FP_SIM_ANOM_GPS_JUMP,       /* one sample teleported far away */
    FP_SIM_ANOM_TIME_SKEW,      /* messaged_at and sample times off by about a year */
    FP_SIM_ANOM_DUPLICATE,      /* the same message (same seq, same bytes) sent twice */
    FP_SIM_ANOM_OUT_OF_ORDER,   /* a message held back and sent after the next one */
    FP_SIM_ANOM_STUCK_SENSOR,   /* one field repeats the same value in every sample */
    FP_SIM_ANOM_VOLTAGE_RANGE,  /* battery_voltage impossible (e.g. 3.1 V or 31 V) */
    FP_SIM_ANOM_ODOMETER_BACK,  /* odometer decreases within the message */
    FP_SIM_ANOM_MALFORMED_JSON, /* bytes that are not JSON: the bridge dead-letters them */
    FP_SIM_ANOM_MISSING_FIELD,  /* a required envelope field left out: dead-lettered */
    FP_SIM_ANOM_SPOOFED_TOPIC,  /* published on another device's topic: dead-lettered */
    FP_SIM_ANOM_COUNT
} fp_sim_anomaly;

const char *fp_sim_anomaly_name(fp_sim_anomaly a); /* "gps_jump", ...; "none" */
/* Comma-separated names or "all" into a bit mask (1u << kind). */
fp_code fp_sim_anomaly_parse(const char *list, uint32_t *mask, fp_err *err);
/* Whether the bridge must dead-letter a message with this anomaly. */
bool fp_sim_anomaly_is_dead_letter(fp_sim_anomaly a);

/* ---- vehicles ---- */

typedef struct fp_sim_conf {
    const fp_sim_registry *reg;
    uint64_t seed;
    int64_t start_ms;      /* simulated start, epoch ms UTC */
    uint32_t fleet_size;   /* vehicle ids are 1..fleet_size (spoof victims come from it) */
    double anomaly_rate;   /* probability that a message carries an anomaly, 0..1 */
    uint32_t anomaly_mask; /* which kinds may be injected */
    /* A warm fleet (`fleetpipe sim --warm`, what `fleetpipe loadtest` runs): each vehicle's
     * first step lies up to warm_ms before start_ms (its phase drawn from 0..warm_ms), and
     * messages sent before start_ms are not emitted (the run's publisher drops them), so with
     * warm_ms = the longest send interval every protocol goes out at its steady rate from the
     * first second instead of after a silent first interval. 0: vehicles start at start_ms plus
     * a phase of 0..59 s. */
    int64_t warm_ms;
} fp_sim_conf;

typedef struct fp_sim_msg {
    char mqtt_topic[128]; /* fms/<device_id>/<object>/<type>; the victim's when spoofed */
    char device_id[32];   /* the sending device (its MQTT identity, the Kafka key) */
    const fp_sim_protocol *proto;
    uint32_t vehicle_id;
    int64_t seq;
    int64_t messaged_ms;     /* send time in simulated time (pacing), epoch ms */
    uint32_t samples;        /* measurements in the message (0 for events) */
    fp_sim_anomaly anomaly;  /* NONE, or the kind injected into this copy */
    char anomaly_detail[96]; /* e.g. "field temperature", "jumped 412 km" */
    bool anomaly_noop;       /* the anomaly left the bytes as they were (a stuck_sensor whose
                                field did not change anyway): "noop" in the truth line */
    const char *payload;     /* valid during the callback only */
    size_t len;
} fp_sim_msg;

typedef void (*fp_sim_emit_fn)(void *ctx, const fp_sim_msg *m);

typedef struct fp_sim_vehicle fp_sim_vehicle;

/* id in 1..conf->fleet_size; conf (and its registry) must outlive the vehicle. */
fp_sim_vehicle *fp_sim_vehicle_new(const fp_sim_conf *conf, uint32_t id);
/* "dev-000350" */
const char *fp_sim_vehicle_device_id(const fp_sim_vehicle *v);
/* Advances the vehicle to until_ms and emits, in send order, every message whose send time is
 * <= until_ms. Returns how many messages were emitted. */
size_t fp_sim_vehicle_run(fp_sim_vehicle *v, int64_t until_ms, fp_sim_emit_fn emit, void *ctx);
/* The end of a run at end_ms: advances to it, closes every protocol's open batch (what was
 * sampled since its last send, however short the run) and emits everything still queued,
 * including messages whose send delay falls after end_ms: every sample of the duration is sent.
 * The vehicle should not be run further. Returns how many messages were emitted. */
size_t fp_sim_vehicle_finish(fp_sim_vehicle *v, int64_t end_ms, fp_sim_emit_fn emit, void *ctx);
/* Simulated time of the next periodic message or command response the vehicle will emit (for
 * pacing). vehicle/event messages come out of the physics, so one that occurs earlier is
 * emitted by the run() that reaches this time, in send order with its own messaged_at. */
int64_t fp_sim_vehicle_next_ms(const fp_sim_vehicle *v);
/* A command arrived on fms/<device_id>/cmd at simulated time now_ms. A later run() emits the
 * device/command_response after the command's simulated execution time; a command that is not
 * valid JSON or lacks command_id/command gets a "failed" response saying why (command_id
 * "unknown" when absent). Commands: {"command_id":"c-17","command":"ping"|"reboot"|
 * "upload_video"|"set_setpoint","requested_at":"<ISO>" (optional, echoed), and for
 * set_setpoint "zone" and "setpoint" at top level or in "params"}. At most 64 commands wait
 * for their response; beyond that the oldest is answered never (the device is overwhelmed). */
void fp_sim_vehicle_command(fp_sim_vehicle *v, const char *payload, size_t len, int64_t now_ms);
/* Messages not yet due (and an out_of_order message still held back) are dropped. */
void fp_sim_vehicle_free(fp_sim_vehicle *v);
/* Appends one ground-truth line per local day (FP_SIM_LOCAL_OFFSET_MS, +09:00) the vehicle was
 * simulated in, each ending in a newline: {"kind":"summary","id","device_id","day","from",
 * "until" (the part of the day this run covered, local ISO), "whole_day", "distance_km" (what
 * the model drove, split at local midnight), "drive_s" (seconds moving), "engine_on_s",
 * "stops" (standstills: red lights, deliveries, depot, emergency stops), "deliveries",
 * "door_openings" (the cargo door, which every zone reports), "harsh_brake", "harsh_accel",
 * "impact" (what the model did, whether or not vehicle/event is simulated)}. Deterministic. */
void fp_sim_vehicle_truth_days(const fp_sim_vehicle *v, fp_buf *out);

/* Appends the ground-truth JSON line (no newline) for an anomalous message:
 * {"device_id":..,"vehicle_id":..,"seq":..,"object":..,"type":..,"mqtt_topic":..,
 *  "anomaly":"gps_jump","detail":..,"dead_letter":true|false} */
void fp_sim_truth_format(const fp_sim_msg *m, fp_buf *out);

/* ---- replay ---- */

typedef struct fp_sim_replay fp_sim_replay;

/* Reads recorded messages (JSON lines, one message per line, as `fleetpipe sim --target
 * file:...` or the raw lake writes them). multiply K >= 1 clones every vehicle K times: clone k
 * gets id + k * id_stride and device id from it, positions shifted by k small steps and times
 * shifted by k seconds; clone 0 is the original. */
fp_sim_replay *fp_sim_replay_open(const char *path, uint32_t multiply, uint32_t id_stride,
                                  fp_err *err);
/* Next message into m (payload valid until the next call). Returns 1, or 0 at the end. A line
 * that cannot be replayed (not a JSON object, no integer id, no string device_id/object/type —
 * the topic needs them) returns -1 with err "FILE:LINE: reason"; the caller counts it and goes
 * on. m->proto describes the line's object/type (periodic when it has measurements; hz and
 * send_interval_s are 0) and lives as long as the replay. m->anomaly is NONE. */
int fp_sim_replay_next(fp_sim_replay *r, fp_sim_msg *m, fp_err *err);
/* Re-times the replay to now_ms: the first replayable line's messaged_at becomes now_ms
 * (whole seconds) and every time field of every line and clone moves by the same amount (clone
 * k by k seconds more), so event times are current and end-to-end latency can be measured. Call
 * before the first fp_sim_replay_next(). The original (clone 0) is then rewritten too. */
void fp_sim_replay_retime(fp_sim_replay *r, int64_t now_ms);
void fp_sim_replay_free(fp_sim_replay *r);

#endif
