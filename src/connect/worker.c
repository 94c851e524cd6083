/* worker.c — start-up and shutdown order of a connect worker: broker, runtime, connectors,
 * distributed mode, REST API; then wait; then the reverse.
 *
 * A REST API that cannot bind is only a warning in file mode: several file-mode workers on one
 * host (scaling out, tests) would all want the default port, and that costs the API, not the
 * data flow.
 */
#include "connect/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connect/dist.h"
#include "connect/rest.h"
#include "core/log.h"
#include "core/props.h"
#include "kafka/kafka.h"

/* host:port of the REST API (stable across restarts), else host:pid (*stable false). */
static char *default_worker_id(const char *listen, bool *stable)
{
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char buf[400];
    *stable = colon && colon[1] && strcmp(colon + 1, "0");
    if (*stable)
        snprintf(buf, sizeof buf, "%s:%s", host, colon + 1);
    else
        snprintf(buf, sizeof buf, "%s:%d", host, (int)getpid());
    return strdup(buf);
}

fp_code fp_connect_worker_run(const fp_connect_worker_opts *o, fp_connect_totals *totals,
                              bool *task_failed, fp_err *err)
{
    memset(totals, 0, sizeof *totals);
    *task_failed = false;
    fp_code rc = FP_OK;
    fp_kafka_embedded *emb = NULL;
    fp_connect *c = NULL;
    fp_connect_dist *dist = NULL;
    fp_connect_rest *rest = NULL;
    char *worker = NULL;
    bool distributed = o->group && o->group[0];
    bool rest_on = o->rest_listen && o->rest_listen[0];
    const char *bs = o->bootstrap;
    /* Only an absent flag means "embedded": an empty or malformed address is the user's to
     * fix, not a reason to start a broker nobody else can see. */
    if (bs && fp_kafka_bootstrap_check("--bootstrap-servers", bs, err))
        return err->code;
    if (!bs) {
        emb = fp_kafka_embedded_start(1, FP_KAFKA_EMBEDDED_PARTITIONS, err);
        if (!emb)
            return err->code;
        if (fp_kafka_embedded_watch_drops(emb, 1000, err)) {
            fp_kafka_embedded_stop(emb);
            return err->code;
        }
        bs = fp_kafka_embedded_bootstraps(emb);
        fp_log(FP_LOG_WARN, NULL, -1,
               "no --bootstrap-servers: started an in-memory development broker at %s (empty; "
               "data gone on exit)",
               bs);
    }
    bool stable = true;
    worker = o->worker_id && o->worker_id[0] ? strdup(o->worker_id)
                                             : default_worker_id(o->rest_listen, &stable);
    /* Connectors from files end the run when their tasks are done; a REST-managed or
     * distributed worker runs until the stop token. */
    fp_connect_opts co = {bs,
                          o->exit_when_idle_ms,
                          o->status_interval_ms,
                          0,
                          !o->n_connector_files,
                          worker,
                          o->stop,
                          stable,
                          o->memory_budget};
    c = fp_connect_new(&co);
    for (size_t i = 0; i < o->n_connector_files; i++) {
        fp_props p;
        fp_props_init(&p);
        rc = fp_props_load_json_file(&p, o->connector_files[i], err);
        if (!rc)
            rc = fp_connect_add(c, &p, err);
        fp_props_free(&p);
        if (rc) {
            err->code = rc = FP_ERR_CONFIG; /* the file is the user's to fix, like a flag */
            goto out;
        }
    }
    rc = fp_connect_start(c, err);
    if (rc) {
        fp_stop_request(o->stop);
        goto out;
    }
    if (distributed) {
        rc = fp_connect_dist_start(c, bs, o->group, worker, &dist, err);
        if (rc) {
            fp_err_prefix(err, "distributed mode");
            fp_stop_request(o->stop);
            goto out;
        }
    }
    if (rest_on) {
        fp_connect_rest_opts ro = {o->rest_listen, o->rest_token, bs, c, dist};
        if (fp_connect_rest_start(&ro, &rest, err)) {
            if (o->n_connector_files) {
                fp_log(FP_LOG_WARN, NULL, -1, "REST API not started: %s", err->msg);
                *err = (fp_err){0};
            } else {
                rc = err->code;
                fp_stop_request(o->stop);
                goto out;
            }
        }
    }
    *task_failed = fp_connect_wait(c) != 0;
    fp_connect_totals_get(c, totals);
out:
    fp_connect_rest_stop(rest);
    fp_connect_dist_stop(dist);
    fp_connect_free(c);
    fp_kafka_embedded_stop(emb);
    free(worker);
    return rc;
}
