/* worker.h — one `fleetpipe connect` worker process: the runtime, its REST API and (with a
 * group) distributed mode, wired together and run to the end.
 *
 * Three ways to run: connectors from files (a fixed set; the REST API can still manage them and
 * the run ends when every task is done); no files (a REST-managed standalone worker that runs
 * until the stop token); a group (distributed mode: configs and status in compacted topics
 * shared by every worker of the group, connect/dist.h). Without a bootstrap it starts the
 * in-memory development broker (empty: only useful with producers in the same process).
 * Blocks on the caller's thread.
 */
#ifndef FP_CONNECT_WORKER_H
#define FP_CONNECT_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connect/connect.h"
#include "core/err.h"
#include "core/stop.h"

typedef struct fp_connect_worker_opts {
    const char *bootstrap; /* NULL: the in-memory development broker; else checked (host:port) */
    const char *const *connector_files; /* JSON properties files; n_connector_files of them */
    size_t n_connector_files;
    int64_t exit_when_idle_ms, status_interval_ms;
    const char *rest_listen; /* NULL or "": no REST API (then files are required) */
    const char *rest_token;  /* bearer token the API requires, or NULL */
    const char *group;       /* NULL or "": standalone; else distributed mode (REST required) */
    const char *worker_id;   /* NULL or "": hostname:port of the REST API (or hostname:pid) */
    fp_stop *stop;         /* the owner's stop token; requested here when start-up fails half-way */
    int64_t memory_budget; /* bytes; 0: FP_CONNECT_MEMORY_BUDGET (fp_connect_opts) */
} fp_connect_worker_opts;

/* Runs the worker until its tasks are done (file mode) or the stop token. Returns FP_OK with
 * *task_failed set when a task FAILED (errors.tolerance=none), and *totals filled either way;
 * FP_ERR_CONFIG for a connector file that cannot be read or is invalid (naming the key);
 * another code when the broker, distributed mode or the REST API (without files) cannot start. */
fp_code fp_connect_worker_run(const fp_connect_worker_opts *o, fp_connect_totals *totals,
                              bool *task_failed, fp_err *err);

#endif
