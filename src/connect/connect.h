/* connect.h — the Kafka Connect style sink runtime behind `fleetpipe connect` and the demo.
 *
 * A connector (one properties file) is a consumer group `connect-<name>` with tasks.max task
 * threads; each task has its own consumer, transform chain and sink instance, so Kafka's group
 * protocol spreads partitions over tasks and over worker processes. Offsets are committed
 * explicitly and only up to what the sink reports durable (connect/sink.h), and past a dead
 * letter only after the dead-letter topic acknowledged it: at-least-once into the sink, and
 * exactly-once where the sink is idempotent for replays (objstore).
 *
 * Threads: fp_connect_* functions are called from one controlling thread; tasks run on their
 * own threads between fp_connect_start() and the return of fp_connect_wait().
 */
#ifndef FP_CONNECT_H
#define FP_CONNECT_H

#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "core/props.h"

typedef struct fp_connect fp_connect;

typedef struct fp_connect_opts {
    const char *bootstrap;     /* Kafka bootstrap servers (copied) */
    int64_t exit_when_idle_ms; /* >0: stop when every task is caught up and idle this long */
    int64_t status_interval_ms;
    int quiet; /* no periodic status lines */
} fp_connect_opts;

typedef struct fp_connect_totals {
    uint64_t in, out, dead, objects, bytes;
    int tasks, running, failed;
} fp_connect_totals;

fp_connect *fp_connect_new(const fp_connect_opts *o);
/* Validates a connector's properties (takes ownership of props): runtime keys, transforms, the
 * sink's keys; unknown keys are FP_ERR_CONFIG naming the key. */
fp_code fp_connect_add(fp_connect *c, fp_props *props, fp_err *err);
/* Creates every task's consumer, chain and sink and starts the task threads. */
fp_code fp_connect_start(fp_connect *c, fp_err *err);
/* Blocks until every task stopped: by SIGINT/SIGTERM (cli/sig.h), by going idle, or FAILED.
 * Prints status lines to stderr. Returns 0, or 1 when a task FAILED. */
int fp_connect_wait(fp_connect *c);
void fp_connect_totals_get(fp_connect *c, fp_connect_totals *t);
void fp_connect_free(fp_connect *c);

/* `fleetpipe help connectors`: the common connector keys and every sink's keys. */
void fp_connect_print_help(FILE *f);

#endif
