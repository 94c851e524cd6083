/* cmd_connect.c — `fleetpipe connect`: run sink connectors (the Kafka Connect style runtime).
 *
 * Flags only; the worker is fp_connect_worker_run() (connect/worker.h). Three ways to run:
 * connectors from --connector files (fixed set; the REST API can still manage them and the process
 * ends when every task is done, as before); no files (a REST-managed standalone worker that runs
 * until SIGTERM); --group G (distributed mode: configs and status in compacted topics shared by
 * every worker of the group, connect/dist.h). Without --bootstrap-servers it starts the in-memory
 * development broker in-process (empty, so only useful together with producers in the same process
 * — the demo does that).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "connect/worker.h"
#include "ops/http.h"

typedef struct connect_opts {
    char *bootstrap;
    fp_strv connectors;
    int64_t exit_when_idle, status_interval, memory_budget_mb;
    char *rest_listen, *rest_token_file, *group, *worker_id, *status_format;
} connect_opts;

#define STR_(x) #x
#define STR(x) STR_(x)
#define MEMORY_BUDGET_MB_STR STR(FP_CONNECT_MEMORY_BUDGET_MB)

static const fp_conf_def connect_flags[] = {
    {"bootstrap-servers", FP_CONF_OPTSTRING, NULL, offsetof(connect_opts, bootstrap),
     "Kafka cluster (host:port,...); leave the flag out to start the in-memory development "
     "broker in-process (an empty or malformed value is an error)",
     NULL, 0, 0},
    {"connector", FP_CONF_LIST, NULL, offsetof(connect_opts, connectors),
     "connector properties file (JSON); repeat for several connectors", NULL, 0, 0},
    {"exit-when-idle", FP_CONF_MS, "0", offsetof(connect_opts, exit_when_idle),
     "stop cleanly once every task is caught up and got nothing for this long; 0: run until "
     "SIGINT/SIGTERM",
     NULL, 0, 0},
    {"status-interval", FP_CONF_MS, "10s", offsetof(connect_opts, status_interval),
     "period of the status line on stderr", NULL, 1, INT64_MAX},
    {"rest-listen", FP_CONF_STRING, "127.0.0.1:8083", offsetof(connect_opts, rest_listen),
     "address of the REST API, /metrics and /healthz (\":0\": any port); \"\": no server", NULL, 0,
     0},
    {"rest-token-file", FP_CONF_STRING, "", offsetof(connect_opts, rest_token_file),
     "file whose first line is the bearer token the REST API requires (/metrics and /healthz "
     "stay open)",
     NULL, 0, 0},
    {"group", FP_CONF_STRING, "", offsetof(connect_opts, group),
     "distributed mode: workers of this group share connectors through _fleetpipe-configs and "
     "_fleetpipe-status",
     NULL, 0, 0},
    {"worker-id", FP_CONF_STRING, "", offsetof(connect_opts, worker_id),
     "this worker's id in status; empty: hostname:port of the REST API (or hostname:pid)", NULL, 0,
     0},
    {"memory-budget-mb", FP_CONF_INT, MEMORY_BUDGET_MB_STR,
     offsetof(connect_opts, memory_budget_mb),
     "the worker's memory budget (MiB), split evenly over its tasks; each task's share is its "
     "consumer's prefetch (queue and fetch size; consumer.override.* still wins) and its put() "
     "batch (docs/connect.md, \"Memory budget\")",
     NULL, 4, 1048576},
    FP_CLI_STATUS_FLAG(connect_opts),
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static int run(const fp_cmd *cmd, void *opts)
{
    connect_opts *o = opts;
    fp_err err = {0};
    char *token = NULL;
    bool distributed = o->group[0] != '\0';
    if (!o->connectors.n && !o->rest_listen[0])
        fp_err_set(&err, FP_ERR_CONFIG,
                   "give at least one --connector FILE, or a --rest-listen "
                   "address to manage connectors over REST");
    else if (distributed && o->connectors.n)
        fp_err_set(&err, FP_ERR_CONFIG,
                   "--group (distributed mode) takes its connectors from "
                   "the REST API, not --connector files");
    else if (distributed && !o->rest_listen[0])
        fp_err_set(&err, FP_ERR_CONFIG, "--group needs the REST API (--rest-listen)");
    if (!err.code && o->rest_token_file[0])
        fp_http_read_token(o->rest_token_file, &token, &err);
    if (err.code)
        return fp_cli_fail(cmd, &err);
    fp_sig_install();
    fp_connect_worker_opts wo = {
        .bootstrap = o->bootstrap,
        .connector_files = (const char *const *)o->connectors.v,
        .n_connector_files = o->connectors.n,
        .exit_when_idle_ms = o->exit_when_idle,
        .status_interval_ms = o->status_interval,
        .rest_listen = o->rest_listen,
        .rest_token = token,
        .group = o->group,
        .worker_id = o->worker_id,
        .stop = fp_sig_token(),
        .memory_budget = o->memory_budget_mb * 1024 * 1024,
    };
    fp_connect_totals tot;
    bool failed = false;
    fp_code wrc = fp_connect_worker_run(&wo, &tot, &failed, &err);
    free(token);
    if (wrc == FP_ERR_CONFIG)
        return fp_cli_fail(cmd, &err);
    if (wrc) {
        fprintf(stderr, "fleetpipe connect: %s\n", err.msg);
        return 1;
    }
    json_t *st = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i}", "in", (json_int_t)tot.in,
                           "out", (json_int_t)tot.out, "dead", (json_int_t)tot.dead, "lost",
                           (json_int_t)tot.lost, "dropped", (json_int_t)tot.dropped, "objects",
                           (json_int_t)tot.objects, "bytes", (json_int_t)tot.bytes, "tasks",
                           tot.tasks, "running", tot.running, "failed", tot.failed);
    return fp_cli_status_print(cmd, o->status_format, st, failed ? 1 : 0, stdout);
}

const fp_cmd fp_cmd_connect = {
    "connect",
    "run sink connectors: Kafka -> transforms -> stores, dead letters, exactly-once objects",
    "usage: fleetpipe connect [--bootstrap-servers BS] [--connector FILE ...]\n"
    "                         [--rest-listen ADDR] [--rest-token-file F] [--group G]\n"
    "                         [--memory-budget-mb N]\n\n"
    "Each connector file is a JSON object of Kafka Connect style keys (flat, or\n"
    "{\"name\": ..., \"config\": {...}}); `fleetpipe help connectors` lists them. A connector is\n"
    "consumer group connect-<name> with tasks.max task threads; start more workers with the same\n"
    "files to spread partitions. Offsets are committed only when the sink has the data durably.\n"
    "The REST API (Kafka Connect's routes, default 127.0.0.1:8083) creates, updates, pauses,\n"
    "resumes, restarts and deletes connectors while the worker runs, and serves /metrics and\n"
    "/healthz. --group G: distributed mode, every worker of G runs every connector and they\n"
    "share configs and status through the _fleetpipe-configs and _fleetpipe-status topics.\n"
    "--memory-budget-mb N bounds what the tasks hold of the data they move: split evenly over\n"
    "the worker's tasks, each task's share is its consumer's queue and fetch size and its put()\n"
    "batch (the split is in the start log and in /metrics); a 2-task objstore worker on a\n"
    "backlog peaked about 15 MiB above it (docs/connect.md, \"Memory budget\").\n"
    "SIGINT/SIGTERM: stop consuming, make durable what can be, commit, exit 0. Exit status 1\n"
    "when a task FAILED (errors.tolerance=none), 2 for configuration errors.\n"
    "--status-format json prints the final totals as one JSON line on stdout: in, out (durable),\n"
    "dead, lost (records retention deleted before they were consumed), dropped (bad records\n"
    "dropped: errors.tolerance=all without a dead-letter topic), objects, bytes, tasks, running,\n"
    "failed (the final status line's numbers).",
    connect_flags,
    sizeof(connect_opts),
    run,
};
