/* demo.h — the whole front half of the pipeline in one process, for `fleetpipe demo`.
 *
 * stack/ is the orchestration stage: it sits above the other stages and wires them together
 * (it may include connect, ingest, sim, lake, kafka, ops and core; nothing includes it but the
 * CLI). fp_stack_demo_run() starts the in-memory Kafka broker, mosquitto as a child process
 * (when installed and not no_mqtt) with the bridge on a thread, runs the simulated fleet, a
 * raw-lake objstore connector with a dead-letter topic and the 5-minute cargo aggregate (its own
 * dead-letter topic), copies the raw lake's dead letters into a file
 * and converts the raw lake to Parquet. It runs on the caller's thread and blocks until done.
 */
#ifndef FP_STACK_DEMO_H
#define FP_STACK_DEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/stop.h"
#include "lake/lake.h"

#define FP_STACK_DEMO_AGG_DLQ "fms.deadletter.agg"

typedef struct fp_stack_demo_opts {
    const char *dir; /* cleaned first; refused unless empty or an earlier demo's (marker file) */
    uint32_t vehicles;
    int64_t minutes;     /* of fleet time */
    double anomaly_rate; /* 0..1 */
    uint64_t seed;
    int tasks; /* connector tasks */
    bool no_mqtt;
    /* The owner's stop token (SIGINT/SIGTERM in the CLI). A stop ends the fleet or the
     * connector early; the demo then resets it to save the dead letters, and skips the
     * Parquet conversion. */
    fp_stop *stop;
} fp_stack_demo_opts;

typedef struct fp_stack_demo_result {
    bool over_mqtt; /* mosquitto and the bridge ran (false: the fleet produced into Kafka) */
    uint64_t published, injected; /* fleet: messages acknowledged, with injected anomalies */
    uint64_t bridge_forwarded, bridge_dead_lettered, bridge_acked; /* over_mqtt only */
    uint64_t consumed;                                    /* records the connector consumed */
    uint64_t agg_samples, agg_windows, agg_dead_lettered; /* the aggregate: samples in windows,
                                        windows emitted to fms.agg, samples and messages
                                        dead-lettered (late, invalid) to FP_STACK_DEMO_AGG_DLQ */
    bool connector_failed;                                /* a connector task FAILED */
    uint64_t connector_bytes;                             /* bytes the connector wrote */
    long lake_records, lake_objects;                      /* lines and objects under <dir>/raw */
    long dead_letters;      /* read back from fms.deadletter into deadletters.jsonl */
    bool reconciles;        /* published == lake_records + dead_letters */
    fp_lake_counts parquet; /* the conversion to <dir>/lake */
    bool parquet_ok;        /* converted without error and rows_in == written + failed */
    fp_err parquet_err;     /* why the conversion failed (code 0: it did not) */
    bool interrupted;       /* the stop token ended the connector */
    double seconds;         /* wall-clock time of the run */
} fp_stack_demo_result;

/* Runs the demo. Returns FP_OK when it got as far as the summary (res filled; whether it
 * reconciles is res->reconciles and res->parquet_ok), else an error with err set: FP_ERR_CONFIG
 * for a directory that is not the demo's, FP_ERR_IO / FP_ERR_KAFKA for a component that failed
 * (the message names it: "fleet: ...", "bridge: ..."). One demo per process at a time: it
 * forks mosquitto and runs the bridge on a thread of its own, joined before it returns. */
fp_code fp_stack_demo_run(const fp_stack_demo_opts *o, fp_stack_demo_result *res, fp_err *err);

#endif
