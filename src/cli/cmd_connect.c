/* cmd_connect.c — `fleetpipe connect`: run sink connectors (the Kafka Connect style runtime).
 *
 * Three ways to run: connectors from --connector files (fixed set; the REST API can still
 * manage them and the process ends when every task is done, as before); no files (a
 * REST-managed standalone worker that runs until SIGTERM); --group G (distributed mode:
 * configs and status in compacted topics shared by every worker of the group, connect/dist.h).
 * Without --bootstrap-servers it starts the in-memory development broker in-process (empty, so
 * only useful together with producers in the same process — the demo does that).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "connect/connect.h"
#include "connect/dist.h"
#include "connect/rest.h"
#include "core/log.h"
#include "kafka/kafka.h"
#include "ops/http.h"

typedef struct connect_opts {
    char *bootstrap;
    fp_strv connectors;
    int64_t exit_when_idle, status_interval;
    char *rest_listen, *rest_token_file, *group, *worker_id;
} connect_opts;

static const fp_conf_def connect_flags[] = {
    {"bootstrap-servers", FP_CONF_STRING, "", offsetof(connect_opts, bootstrap),
     "Kafka cluster; empty: start the in-memory development broker in-process", NULL, 0, 0},
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
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static char *default_worker_id(const char *listen)
{
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char buf[400];
    if (colon && colon[1] && strcmp(colon + 1, "0"))
        snprintf(buf, sizeof buf, "%s:%s", host, colon + 1);
    else
        snprintf(buf, sizeof buf, "%s:%d", host, (int)getpid());
    return strdup(buf);
}

static int run(const fp_cmd *cmd, void *opts)
{
    connect_opts *o = opts;
    fp_err err = {0};
    int rc = 0;
    fp_kafka_embedded *emb = NULL;
    fp_connect *c = NULL;
    fp_connect_dist *dist = NULL;
    fp_connect_rest *rest = NULL;
    char *token = NULL, *worker = NULL;
    bool distributed = o->group[0] != '\0';
    if (!o->connectors.n && !o->rest_listen[0]) {
        fp_err_set(&err, FP_ERR_CONFIG,
                   "give at least one --connector FILE, or a --rest-listen "
                   "address to manage connectors over REST");
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    if (distributed && o->connectors.n) {
        fp_err_set(&err, FP_ERR_CONFIG,
                   "--group (distributed mode) takes its connectors from "
                   "the REST API, not --connector files");
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    if (distributed && !o->rest_listen[0]) {
        fp_err_set(&err, FP_ERR_CONFIG, "--group needs the REST API (--rest-listen)");
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    if (o->rest_token_file[0] && fp_http_read_token(o->rest_token_file, &token, &err)) {
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    fp_sig_install();
    const char *bs = o->bootstrap;
    if (!bs[0]) {
        emb = fp_kafka_embedded_start(1, 6, &err);
        if (!emb) {
            fprintf(stderr, "fleetpipe connect: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        bs = fp_kafka_embedded_bootstraps(emb);
        fp_log(FP_LOG_WARN, NULL, -1,
               "no --bootstrap-servers: started an in-memory development broker at %s (empty; "
               "data gone on exit)",
               bs);
    }
    worker = o->worker_id[0] ? strdup(o->worker_id) : default_worker_id(o->rest_listen);
    /* Connectors from files end the process when their tasks are done (as before REST); a
     * REST-managed or distributed worker runs until SIGTERM. */
    fp_connect_opts co = {bs,     o->exit_when_idle, o->status_interval, 0, !o->connectors.n,
                          worker, fp_sig_token()};
    c = fp_connect_new(&co);
    for (size_t i = 0; i < o->connectors.n; i++) {
        fp_props p;
        fp_props_init(&p);
        fp_code frc = fp_props_load_json_file(&p, o->connectors.v[i], &err);
        if (!frc)
            frc = fp_connect_add(c, &p, &err);
        fp_props_free(&p);
        if (frc) {
            rc = fp_cli_fail(cmd, &err);
            goto out;
        }
    }
    if (fp_connect_start(c, &err)) {
        fprintf(stderr, "fleetpipe connect: %s\n", err.msg);
        rc = 1;
        fp_stop_request(fp_sig_token());
        goto out;
    }
    if (distributed && fp_connect_dist_start(c, bs, o->group, worker, &dist, &err)) {
        fprintf(stderr, "fleetpipe connect: distributed mode: %s\n", err.msg);
        rc = 1;
        fp_stop_request(fp_sig_token());
        goto out;
    }
    if (o->rest_listen[0]) {
        fp_connect_rest_opts ro = {o->rest_listen, token, bs, c, dist};
        if (fp_connect_rest_start(&ro, &rest, &err)) {
            if (o->connectors.n) {
                /* Several file-mode workers on one host (scaling out, tests) would all want
                 * the default port: that costs the API, not the data flow. */
                fp_log(FP_LOG_WARN, NULL, -1, "REST API not started: %s", err.msg);
            } else {
                fprintf(stderr, "fleetpipe connect: %s\n", err.msg);
                rc = 1;
                fp_stop_request(fp_sig_token());
                goto out;
            }
        }
    }
    rc = fp_connect_wait(c);
out:
    fp_connect_rest_stop(rest);
    fp_connect_dist_stop(dist);
    fp_connect_free(c);
    fp_kafka_embedded_stop(emb);
    free(token);
    free(worker);
    return rc;
}

const fp_cmd fp_cmd_connect = {
    "connect",
    "run sink connectors: Kafka -> transforms -> stores, dead letters, exactly-once objects",
    "usage: fleetpipe connect [--bootstrap-servers BS] [--connector FILE ...]\n"
    "                         [--rest-listen ADDR] [--rest-token-file F] [--group G]\n\n"
    "Each connector file is a JSON object of Kafka Connect style keys (flat, or\n"
    "{\"name\": ..., \"config\": {...}}); `fleetpipe help connectors` lists them. A connector is\n"
    "consumer group connect-<name> with tasks.max task threads; start more workers with the same\n"
    "files to spread partitions. Offsets are committed only when the sink has the data durably.\n"
    "The REST API (Kafka Connect's routes, default 127.0.0.1:8083) creates, updates, pauses,\n"
    "resumes, restarts and deletes connectors while the worker runs, and serves /metrics and\n"
    "/healthz. --group G: distributed mode, every worker of G runs every connector and they\n"
    "share configs and status through the _fleetpipe-configs and _fleetpipe-status topics.\n"
    "SIGINT/SIGTERM: stop consuming, make durable what can be, commit, exit 0. Exit status 1\n"
    "when a task FAILED (errors.tolerance=none), 2 for configuration errors.",
    connect_flags,
    sizeof(connect_opts),
    run,
};
