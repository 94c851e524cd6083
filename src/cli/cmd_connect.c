/* cmd_connect.c — `fleetpipe connect`: run sink connectors (the Kafka Connect style runtime).
 *
 * Without --bootstrap-servers it starts the in-memory development broker in-process (empty, so
 * only useful together with producers in the same process — the demo does that).
 */
#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "connect/connect.h"
#include "connect/log.h"
#include "kafka/kafka.h"

typedef struct connect_opts {
    char *bootstrap;
    fp_strv connectors;
    int64_t exit_when_idle, status_interval;
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
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static int run(const fp_cmd *cmd, void *opts)
{
    connect_opts *o = opts;
    fp_err err = {0};
    int rc = 0;
    fp_kafka_embedded *emb = NULL;
    fp_connect *c = NULL;
    if (!o->connectors.n) {
        fp_err_set(&err, FP_ERR_CONFIG, "give at least one --connector FILE");
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
    fp_connect_opts co = {bs, o->exit_when_idle, o->status_interval, 0};
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
        fp_sig_request_stop();
        goto out;
    }
    rc = fp_connect_wait(c);
out:
    fp_connect_free(c);
    fp_kafka_embedded_stop(emb);
    return rc;
}

const fp_cmd fp_cmd_connect = {
    "connect",
    "run sink connectors: Kafka -> transforms -> stores, dead letters, exactly-once objects",
    "usage: fleetpipe connect [--bootstrap-servers BS] --connector FILE [--connector FILE ...]\n\n"
    "Each connector file is a JSON object of Kafka Connect style keys (flat, or\n"
    "{\"name\": ..., \"config\": {...}}); `fleetpipe help connectors` lists them. A connector is\n"
    "consumer group connect-<name> with tasks.max task threads; start more workers with the same\n"
    "files to spread partitions. Offsets are committed only when the sink has the data durably.\n"
    "SIGINT/SIGTERM: stop consuming, make durable what can be, commit, exit 0. Exit status 1\n"
    "when a task FAILED (errors.tolerance=none), 2 for configuration errors.",
    connect_flags,
    sizeof(connect_opts),
    run,
};
