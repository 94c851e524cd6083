/* dist.h — distributed mode of `fleetpipe connect --group G`: connector configs and status
 * shared through two compacted Kafka topics, as Kafka Connect does.
 *
 * _fleetpipe-configs (1 partition, compacted) holds, keyed like Kafka Connect:
 *   connector-<name>          {"properties": {...}}   or a tombstone (deleted)
 *   target-state-<name>       {"state": "STARTED" | "PAUSED"}
 *   restart-connector-<name>  {"seq": N, "only_failed": bool}
 * Every worker reads it from the beginning with its own consumer (assign, no group) and applies
 * each record to its local runtime, so every worker runs every connector's tasks.max tasks and
 * the connector's consumer group spreads partitions over all workers' tasks (and moves them
 * when a worker dies). Restart records older than the worker's start are history, not orders.
 * REST writes produce there (acks=all, waiting for the delivery report) and then wait until this
 * worker applied the record (30 s at most), so an answer reflects the new state.
 *
 * _fleetpipe-status (1 partition, compacted): each worker writes
 * status-task-<name>-<worker_id>-<n> -> {"connector", "task", "state", "trace", "worker_id",
 * "generation"} every FP_DIST_STATUS_MS and whenever a state changes (tombstones for tasks it
 * no longer runs). A merged status lists the tasks of every worker whose entry is younger than
 * 3 x FP_DIST_STATUS_MS (older ones are from dead workers), sorted by worker id then task
 * number; "id" is the position in that order (unique across the cluster at that moment) and
 * "worker_id" + "worker_task" say where it runs.
 *
 * Threads: one thread consumes both topics and publishes status; the fp_connect_dist_* calls
 * are thread-safe (REST handlers).
 */
#ifndef FP_CONNECT_DIST_H
#define FP_CONNECT_DIST_H

#include <jansson.h>
#include <stdbool.h>

#include "connect/connect.h"
#include "core/err.h"

#define FP_DIST_CONFIG_TOPIC "_fleetpipe-configs"
#define FP_DIST_STATUS_TOPIC "_fleetpipe-status"
#define FP_DIST_STATUS_MS 2000

typedef struct fp_connect_dist fp_connect_dist;

/* Starts the thread, which creates the topics if missing (admin API, cleanup.policy=compact),
 * finds the config topic's end and reads it: returns without waiting for Kafka, so the REST API
 * answers at once (writes 409 until caught up). c must be started and outlive the returned
 * object. */
fp_code fp_connect_dist_start(fp_connect *c, const char *bootstrap, const char *group,
                              const char *worker_id, fp_connect_dist **out, fp_err *err);
/* Whether this worker has applied the config topic up to where it was when it started; until
 * then it cannot tell whether a connector exists, so REST writes answer 409. */
bool fp_connect_dist_caught_up(fp_connect_dist *d);
/* Writes a connector's config (flat object of strings; not owned) and waits until applied. */
fp_code fp_connect_dist_put(fp_connect_dist *d, const char *name, json_t *config, fp_err *err);
fp_code fp_connect_dist_delete(fp_connect_dist *d, const char *name, fp_err *err);
fp_code fp_connect_dist_pause(fp_connect_dist *d, const char *name, bool pause, fp_err *err);
fp_code fp_connect_dist_restart(fp_connect_dist *d, const char *name, bool only_failed,
                                fp_err *err);
/* Merged status of every live worker (new reference; NULL when the connector is unknown). */
json_t *fp_connect_dist_status(fp_connect_dist *d, const char *name);
/* Stops the thread, writes tombstones for this worker's status entries, frees. NULL is fine. */
void fp_connect_dist_stop(fp_connect_dist *d);

#endif
