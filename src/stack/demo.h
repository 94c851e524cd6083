/* demo.h — `fleetpipe demo`: the whole pipeline on one machine, a fleet through it, and one
 * summary that reconciles every store against what the fleet sent.
 *
 * stack/ is the orchestration stage above every other stage (only the CLI includes it).
 * fp_stack_demo_run() starts `fleetpipe stack` in the demo's directory (stack.h: every part as
 * a supervised process), runs a simulated fleet over MQTT into it — a stretch of fleet time
 * across a local midnight two days back, so that one local day closes and the scheduler's daily
 * marts and checks run — waits for every stage (bridge, connectors, lake watch, the warehouse's
 * loads, marts and checks of that day), then reconciles: published = forwarded + dead letters,
 * the day's samples in the raw lake = Parquet = PostgreSQL = DynamoDB and the 5-minute
 * aggregates = the lake's (the cross-store checks of docs/checks.md, run over the day), Redis =
 * the newest sample each vehicle sent, and the checks' findings against the simulator's truth
 * (check score). It runs on the caller's thread and blocks until done.
 */
#ifndef FP_STACK_DEMO_H
#define FP_STACK_DEMO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/stop.h"

typedef struct fp_stack_demo_opts {
    const char *dir; /* cleaned first; refused unless empty or an earlier demo's (marker file) */
    uint32_t vehicles;
    int64_t minutes;     /* of fleet time, from 23:30 local (at least 31) */
    double anomaly_rate; /* 0..1 */
    uint64_t seed;
    bool keep;          /* leave the stack (and the console) running */
    int64_t timeout_ms; /* for the stages to catch up (default 5 min) */
    fp_stop *stop;      /* the owner's stop token (SIGINT/SIGTERM): ends the wait early */
} fp_stack_demo_opts;

typedef struct fp_stack_demo_result {
    char day[11];                      /* the local day that closed, YYYY-MM-DD */
    uint64_t published, injected;      /* fleet: messages acknowledged, with injected anomalies */
    uint64_t forwarded, dead_lettered; /* bridge */
    bool fleet_reconciles;             /* published == forwarded + dead_lettered */
    int64_t lake_rows;                 /* PostgreSQL's lake rows of the day (every table) */
    int64_t mart_rows;                 /* mart.vehicle_daily rows of the day */
    int64_t redis_vehicles, redis_latest_ok; /* in the index; whose ts is the newest sent */
    json_t *stores; /* the cross-store checks' results over the day (fp_check_counts.results) */
    bool stores_ok; /* every one passed */
    json_t *checks; /* the scheduler's results for the day: {"pass": n, "warn": n, ...} and
                       "failing": [{check, status, observed}] */
    json_t *score;  /* check score against the truth: {kind: {precision, recall, ...}} */
    bool interrupted;
    char *console;  /* the web console's URL */
    double seconds; /* wall-clock time of the run */
    json_t *stages; /* seconds until each stage was caught up: {"stack": s, "fleet": s, ...} */
} fp_stack_demo_result;

/* Runs the demo. FP_OK when it got as far as the summary (res filled: free with
 * fp_stack_demo_result_free); else an error with err set: FP_ERR_CONFIG for a directory that is
 * not the demo's, FP_ERR_IO naming the part or stage that failed or did not catch up in time.
 * Without o->keep the stack is stopped before it returns (its data stays in the directory). */
fp_code fp_stack_demo_run(const fp_stack_demo_opts *o, fp_stack_demo_result *res, fp_err *err);
void fp_stack_demo_result_free(fp_stack_demo_result *res);

#endif
