/* sched.h — the warehouse scheduler: DAGs of tasks over data intervals, with Airflow's
 * semantics and readiness from the lake's watermark.
 *
 * The one thing to know: all state lives in PostgreSQL's ops.runs, one row per (dag, task,
 * data interval), and every task replaces exactly its interval in one transaction. So the
 * scheduler can die at any point: the next one (one at a time: a session advisory lock)
 * terminates the dead one's statements, puts what was running back into the queue and goes
 * on; running a task twice leaves the same rows as running it once.
 *
 * A run covers the data interval [start, end) and becomes due after end (catchup creates every
 * interval since start_date; without it only the newest). A task starts when its upstream tasks
 * of the same interval succeeded, the DAGs it waits for succeeded over the interval, its input
 * is complete (load tasks: the lake watermark has passed the interval's end) and fewer than
 * max_active_runs intervals of its DAG are active. A failure is retried after
 * min(retry_delay * 2^(try-1), max_retry_delay) with ±jitter; the last failure marks the
 * downstream tasks upstream_failed. A mart whose input partitions were loaded again after it
 * ran (late data) is queued again by itself.
 *
 * Threads: fp_wh_sched_run and fp_wh_backfill run their loop on the calling thread and the
 * tasks on worker threads, each with its own connection. A pipeline is read-only once loaded.
 */
#ifndef FP_WAREHOUSE_SCHED_H
#define FP_WAREHOUSE_SCHED_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/stop.h"
#include "store/store.h"

/* config/warehouse/pipeline.json, parsed and checked (unknown keys, cycles, missing SQL files,
 * unknown template names are errors naming the DAG and task); SQL files are read relative to
 * the pipeline file. The caller owns *out. */
typedef struct fp_wh_pipeline fp_wh_pipeline;
fp_code fp_wh_pipeline_load(const char *path, fp_wh_pipeline **out, fp_err *err);
void fp_wh_pipeline_free(fp_wh_pipeline *p);
/* Overrides every DAG's start_date and/or end_date (local dates or times as in the file; NULL
 * or "": keep the DAG's own). For a first run over a lake whose data starts elsewhere. */
fp_code fp_wh_pipeline_set_dates(fp_wh_pipeline *p, const char *start, const char *end,
                                 fp_err *err);

typedef struct fp_wh_sched_opts {
    const char *pg;       /* libpq connection string; never logged */
    const char *lake_url; /* for load tasks and the watermark; overrides the pipeline's */
    fp_store_opts store;
    const fp_wh_pipeline *pipeline;
    int parallelism;    /* worker threads (connections); <= 0: 2 */
    int64_t tick_ms;    /* how often the loop looks for work; <= 0: 1 s */
    int64_t refresh_ms; /* how often loaded intervals are checked for late files; <= 0: 60 s */
    int64_t now_ms;     /* 0: the wall clock (tests pin it to make "due" deterministic) */
    const char *metrics_listen; /* /metrics and /healthz; NULL or "": none */
    bool once; /* return when nothing is running and nothing can start (instead of waiting) */
    const fp_stop *stop;
} fp_wh_sched_opts;

/* The scheduler: every DAG of the pipeline, until stop (or, with once, until idle). FP_OK on a
 * stop or when idle; FP_ERR_EXISTS when another scheduler holds the lock; FP_ERR_IO when
 * PostgreSQL stays unreachable. */
fp_code fp_wh_sched_run(const fp_wh_sched_opts *o, fp_err *err);

typedef enum fp_wh_reprocess {
    FP_WH_REPROCESS_NONE,   /* run intervals that never succeeded nor failed */
    FP_WH_REPROCESS_FAILED, /* also the failed ones (and their upstream_failed tasks) */
    FP_WH_REPROCESS_ALL,    /* every interval, succeeded ones too */
} fp_wh_reprocess;

/* Runs DAG dag (only task `task` and what it needs when not NULL) over every interval that
 * starts in [from_ms, to_ms), whatever its start_date and catchup say, with at most
 * concurrency intervals at once (<= 0: the DAG's max_active_runs); the lake watermark is not
 * waited for (a backfill is explicit). Returns when every interval is done; *summary (may be
 * NULL) gets {"intervals", "tasks_run", "success", "failed", "skipped"}. FP_ERR_INVALID when a
 * task failed for good or the run is blocked (a DAG it waits for has not succeeded). */
fp_code fp_wh_backfill(const fp_wh_sched_opts *o, const char *dag, int64_t from_ms, int64_t to_ms,
                       fp_wh_reprocess reprocess, int concurrency, json_t **summary, fp_err *err);

/* A time for --from/--to/--ds: ISO-8601 with an offset or Z as is; a date or a time without
 * an offset ("2026-03-03", "2026-03-03T06:00") in the DAG's time zone (PostgreSQL converts
 * it, so every zone and daylight-saving rule is right). */
fp_code fp_wh_local_ms(const fp_wh_sched_opts *o, const char *dag, const char *text, int64_t *ms,
                       fp_err *err);

/* ops.runs summed up: per DAG and task the count per state, the newest succeeded interval,
 * the failed ones with their error, missed deadlines. dag NULL: every DAG. */
fp_code fp_wh_status(const char *pg, const char *dag, json_t **out, fp_err *err);

/* Creates ops.runs and ops.task_tries (part of fp_wh_init). */
struct fp_pg;
fp_code fp_wh_sched_init_schema(struct fp_pg *pg, fp_err *err);

#endif
