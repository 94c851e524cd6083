/* connect.h — the Kafka Connect style sink runtime behind `fleetpipe connect` and the demo.
 *
 * A connector (one properties file, or one REST create) is a consumer group `connect-<name>`
 * with tasks.max task threads; each task has its own consumer, transform chain and sink
 * instance, so Kafka's group protocol spreads partitions over tasks and over worker processes.
 * Offsets are committed explicitly and only up to what the sink reports durable
 * (connect/sink.h), and past a dead letter only after the dead-letter topic acknowledged it:
 * at-least-once into the sink, and exactly-once where the sink is idempotent for replays
 * (objstore).
 *
 * Threads. fp_connect_new/add/start/wait/free are called from one controlling thread. The
 * management and introspection functions below (put, delete, pause, resume, restart, the JSON
 * views, metrics, health) may be called from any thread (REST handlers, the distributed-mode
 * config consumer) once fp_connect_start() returned: they are serialized by one runtime mutex.
 * Task threads never take that mutex, so a management call may hold it while it stops a
 * connector's tasks (joins them after their final commit, a few seconds at most); concurrent
 * readers wait for it meanwhile. fp_connect_wait() takes the mutex only to look at task states.
 */
#ifndef FP_CONNECT_H
#define FP_CONNECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/props.h"
#include "core/stop.h"
#include "ops/metrics.h"

typedef struct fp_connect fp_connect;

typedef struct fp_connect_opts {
    const char *bootstrap;     /* Kafka bootstrap servers (copied) */
    int64_t exit_when_idle_ms; /* >0: stop when every task is caught up and idle this long */
    int64_t status_interval_ms;
    int quiet;             /* no periodic status lines */
    bool keep_running;     /* run until SIGINT/SIGTERM even with no connector or every task done
                              (REST-managed and distributed workers) */
    const char *worker_id; /* reported in status (copied); NULL: "local" */
    const fp_stop *stop;   /* the owner's stop token (the CLI's SIGINT/SIGTERM); may be NULL;
                              must outlive the runtime */
    /* worker_id is the same after a restart (given, or derived from the REST port, not from the
     * pid): task consumers are static members (group.instance.id <worker>-<connector>-<task>),
     * so a restarted worker takes its partitions back at once (docs/connect.md). */
    bool stable_worker_id;
    /* The worker's memory budget in bytes (0: FP_CONNECT_MEMORY_BUDGET): split evenly over the
     * tasks of every connector this worker runs, and each task's share between its consumer's
     * prefetch (queued.max.messages.kbytes, fetch.max.bytes; consumer.override.* still wins)
     * and its put() batch (docs/connect.md, "Memory budget"). */
    int64_t memory_budget;
} fp_connect_opts;

/* The default budget: a 2-task worker on a backlog stays below 48 MiB of RSS with it
 * (bench/memory.sh, docs/performance.md "Memory"). */
#define FP_CONNECT_MEMORY_BUDGET_MB 16
#define FP_CONNECT_MEMORY_BUDGET ((int64_t)FP_CONNECT_MEMORY_BUDGET_MB * 1024 * 1024)

typedef struct fp_connect_totals {
    uint64_t in, out, dead, objects, bytes;
    uint64_t lost;        /* records retention deleted before they were consumed */
    uint64_t dropped;     /* bad records dropped (errors.tolerance=all, no dead-letter topic) */
    uint64_t fetch_wakes; /* wakes of librdkafka's fetcher after a full queue (kafka/wake.h) */
    int tasks, running, failed;
} fp_connect_totals;

fp_connect *fp_connect_new(const fp_connect_opts *o);
/* Validates a connector's properties (takes ownership of props): runtime keys, transforms, the
 * sink's keys; unknown keys are FP_ERR_CONFIG naming the key. Before fp_connect_start() only. */
fp_code fp_connect_add(fp_connect *c, fp_props *props, fp_err *err);
/* Creates every task's consumer, chain and sink and starts the task threads. */
fp_code fp_connect_start(fp_connect *c, fp_err *err);
/* Blocks until every task stopped: by the stop token (opts.stop), by going idle, or FAILED
 * (with keep_running: only by a signal). Prints status lines to stderr. Returns 0, or 1 when a
 * task FAILED. */
int fp_connect_wait(fp_connect *c);
void fp_connect_totals_get(fp_connect *c, fp_connect_totals *t);
void fp_connect_free(fp_connect *c);

/* ---- management (thread-safe; after fp_connect_start) ---- */

/* Creates or updates connector `name` from props (takes ownership; props' "name", when set,
 * must equal name). create_only: FP_ERR_EXISTS when it exists. An update with a different
 * config stops the tasks (final flush and commit) and starts new ones; an identical config is a
 * no-op. Invalid configs are FP_ERR_CONFIG naming the key; *created says which happened. */
fp_code fp_connect_put(fp_connect *c, const char *name, fp_props *props, bool create_only,
                       bool *created, fp_err *err);
/* Stops the tasks (final commit, group left) and forgets the connector. FP_ERR_NOTFOUND. */
fp_code fp_connect_delete(fp_connect *c, const char *name, fp_err *err);
/* Pause: tasks keep their assignment but stop fetching (rd_kafka_pause_partitions); PAUSED. */
fp_code fp_connect_pause(fp_connect *c, const char *name, bool pause, fp_err *err);
/* Stops and starts the tasks. only_failed: only when a task FAILED (the tasks of a connector
 * share one stop barrier, so the whole task set restarts then). */
fp_code fp_connect_restart(fp_connect *c, const char *name, bool only_failed, fp_err *err);
bool fp_connect_exists(fp_connect *c, const char *name);
/* Validates props as fp_connect_put() would, without keeping anything (props stays the
 * caller's). Distributed mode checks before it writes a config to the config topic. */
fp_code fp_connect_check(fp_connect *c, const fp_props *props, fp_err *err);
/* Whether name may name a connector (1..249 bytes, no '/', "..", control characters). */
bool fp_connect_name_ok(const char *name);

/* ---- introspection (thread-safe; new references, NULL when the connector does not exist) */

json_t *fp_connect_names_json(fp_connect *c);                    /* ["a", "b"] */
json_t *fp_connect_config_json(fp_connect *c, const char *name); /* {"key": "value"} */
json_t *fp_connect_info_json(fp_connect *c, const char *name);   /* name, config, tasks, type */
json_t *fp_connect_tasks_json(fp_connect *c, const char *name);  /* [{"id", "config"}] */
/* This worker's view: {"name", "connector": {"state", "worker_id"}, "tasks": [{"id", "state",
 * "worker_id"[, "trace"]}], "type": "sink"}. */
json_t *fp_connect_status_json(fp_connect *c, const char *name);
/* Whether the connector is paused (target state). */
bool fp_connect_paused(fp_connect *c, const char *name);
/* Validates props as a connector of class plugin without starting anything, collecting every
 * error (Kafka Connect's ConfigInfos shape). */
json_t *fp_connect_validate_json(const char *plugin, fp_props *props, const char *bootstrap);
/* [{"class", "type": "sink", "version"}] */
json_t *fp_connect_plugins_json(void);

/* Writes the fleetpipe_connect_* families (a metrics writer; ctx is the fp_connect). */
void fp_connect_metrics(void *ctx, fp_metrics_out *m);
/* false with the reason when a task FAILED (a health function; ctx is the fp_connect). */
bool fp_connect_healthy(void *ctx, fp_buf *reason);

/* `fleetpipe help connectors`: the common connector keys and every sink's keys. */
void fp_connect_print_help(FILE *f);

#endif
