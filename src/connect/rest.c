/* rest.c — Kafka Connect's REST API on fp_http (routes and shapes: docs/connect.md).
 *
 * The one thing to know: a handler never trusts the path or body. Names are checked with
 * fp_connect_name_ok() (a bad one is 400 on create, 404 on lookup, so "../x" or "a%2Fb" never
 * reach anything that builds a group id or a key), bodies go through jansson (invalid JSON and
 * invalid UTF-8 are 400), and every answer is built from the runtime's own JSON views.
 */
#include "connect/rest.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/version.h"
#include "kafka/kafka.h"
#include "ops/http.h"
#include "ops/metrics.h"

struct fp_connect_rest {
    fp_http *srv;
    fp_connect *c;
    fp_connect_dist *d;
    char *bootstrap, *cluster_id;
};

#define MAX_SEGS 6

static void send_json(fp_http_resp *r, int status, json_t *j)
{
    r->status = status;
    r->content_type = "application/json";
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    fp_buf_puts(&r->body, s ? s : "null");
    free(s);
    json_decref(j);
}

static void send_empty(fp_http_resp *r, int status)
{
    r->status = status;
}

static void send_err(fp_http_resp *r, const fp_err *err)
{
    int st = err->code == FP_ERR_NOTFOUND                                ? 404
             : err->code == FP_ERR_EXISTS                                ? 409
             : err->code == FP_ERR_CONFIG || err->code == FP_ERR_INVALID ? 400
                                                                         : 500;
    fp_http_error(r, st, "%s", err->msg);
}

static void not_found(fp_http_resp *r, const char *name)
{
    fp_http_error(r, 404, "Connector %s not found", name);
}

/* Whether the raw query holds key=val (or key, when val is NULL) as one of its & pairs. */
static bool query_has(const char *q, const char *key, const char *val)
{
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        const char *e = strchr(p, '&');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n >= kl && !strncmp(p, key, kl) && (n == kl || p[kl] == '=')) {
            if (!val)
                return true;
            if (n > kl && n - kl - 1 == strlen(val) && !strncmp(p + kl + 1, val, n - kl - 1))
                return true;
        }
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* Parses the body as a JSON object; on failure answers 400 and returns NULL. */
static json_t *body_object(const fp_http_req *req, fp_http_resp *resp)
{
    json_error_t je;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        fp_http_error(resp, 400, "request body is not valid JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        fp_http_error(resp, 400, "request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* A flat config object into props (values as strings); 400 on nested values. */
static bool config_props(json_t *cfg, fp_props *p, fp_http_resp *resp)
{
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v)
    {
        /* Kafka Connect configs are string maps; an object or array value (even one called
         * "config", which the file loader would unwrap) is refused, not flattened */
        if (json_is_object(v) || json_is_array(v)) {
            fp_http_error(resp, 400, "config key '%s': value must be a string, number or boolean",
                          k);
            return false;
        }
    }
    fp_props_init(p);
    char *text = json_dumps(cfg, JSON_COMPACT);
    fp_err err = {0};
    fp_code rc = fp_props_load_json(p, text, strlen(text), "config", &err);
    free(text);
    if (rc) {
        fp_props_free(p);
        fp_http_error(resp, 400, "%s", err.msg);
        return false;
    }
    return true;
}

static json_t *props_json(const fp_props *p)
{
    json_t *o = json_object();
    for (size_t i = 0; i < p->n; i++)
        json_object_set_new(o, p->v[i].key, json_string(p->v[i].val));
    return o;
}

static json_t *status_of(fp_connect_rest *r, const char *name)
{
    return r->d ? fp_connect_dist_status(r->d, name) : fp_connect_status_json(r->c, name);
}

/* Creates or updates (create_only: POST). Answers 201 (created) or 200 with the info. */
static void put_connector(fp_connect_rest *r, const char *name, json_t *cfg, bool create_only,
                          fp_http_resp *resp)
{
    if (!fp_connect_name_ok(name)) {
        fp_http_error(resp, 400,
                      "Connector name is invalid: 1 to 249 characters without '/', '..', '\\' or "
                      "control characters");
        return;
    }
    if (!json_is_object(cfg)) {
        fp_http_error(resp, 400, "\"config\" must be a JSON object");
        return;
    }
    fp_props p;
    if (!config_props(cfg, &p, resp))
        return;
    const fp_prop *pn = fp_props_find(&p, "name");
    if (pn && strcmp(pn->val, name)) {
        fp_http_error(resp, 400, "key 'name': '%s' differs from the connector name '%s'", pn->val,
                      name);
        fp_props_free(&p);
        return;
    }
    if (!pn)
        fp_props_set(&p, "name", name);
    fp_err err = {0};
    bool created = false;
    if (r->d && !fp_connect_dist_caught_up(r->d)) {
        fp_props_free(&p);
        fp_http_error(resp, 409,
                      "Cannot complete request because of a conflicting operation: this worker "
                      "is still reading " FP_DIST_CONFIG_TOPIC);
        return;
    }
    if (r->d) {
        bool existed = fp_connect_exists(r->c, name);
        fp_code rc = existed && create_only
                         ? fp_err_set(&err, FP_ERR_EXISTS, "Connector %s already exists", name)
                         : fp_connect_check(r->c, &p, &err);
        if (!rc) {
            json_t *pj = props_json(&p);
            rc = fp_connect_dist_put(r->d, name, pj, &err);
            json_decref(pj);
        }
        fp_props_free(&p);
        if (rc) {
            send_err(resp, &err);
            return;
        }
        created = !existed;
    } else if (fp_connect_put(r->c, name, &p, create_only, &created, &err)) {
        send_err(resp, &err);
        return;
    }
    json_t *info = fp_connect_info_json(r->c, name);
    if (!info) { /* deleted meanwhile */
        not_found(resp, name);
        return;
    }
    send_json(resp, created ? 201 : 200, info);
}

static void list_connectors(fp_connect_rest *r, const fp_http_req *req, fp_http_resp *resp)
{
    bool st = query_has(req->query, "expand", "status");
    bool info = query_has(req->query, "expand", "info");
    json_t *names = fp_connect_names_json(r->c);
    if (!st && !info) {
        send_json(resp, 200, names);
        return;
    }
    json_t *o = json_object();
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
    {
        const char *name = json_string_value(n);
        json_t *e = json_object();
        json_t *s = st ? status_of(r, name) : NULL;
        json_t *in = info ? fp_connect_info_json(r->c, name) : NULL;
        if (s)
            json_object_set_new(e, "status", s);
        if (in)
            json_object_set_new(e, "info", in);
        json_object_set_new(o, name, e);
    }
    json_decref(names);
    send_json(resp, 200, o);
}

static void root(fp_connect_rest *r, fp_http_resp *resp)
{
    send_json(resp, 200,
              json_pack("{s:s, s:s, s:s}", "version", FP_VERSION_STRING, "commit", "",
                        "kafka_cluster_id", r->cluster_id ? r->cluster_id : ""));
}

static void method_not_allowed(fp_http_resp *resp, const fp_http_req *req)
{
    fp_http_error(resp, 405, "HTTP method %s is not allowed here", req->method);
}

static bool is(const fp_http_req *req, const char *m)
{
    return !strcmp(req->method, m);
}

/* /connectors/{name}/tasks/{id}/status|restart. A restart restarts the connector's task set
 * (its tasks share one stop barrier); ids are those of GET .../status. */
static void task_route(fp_connect_rest *r, const fp_http_req *req, const char *name, const char *id,
                       const char *what, fp_http_resp *resp)
{
    bool status = !strcmp(what, "status");
    if (status ? !is(req, "GET") : !is(req, "POST")) {
        method_not_allowed(resp, req);
        return;
    }
    if (!fp_connect_name_ok(name) || !fp_connect_exists(r->c, name)) {
        not_found(resp, name);
        return;
    }
    char *end = NULL;
    long n = strtol(id, &end, 10);
    json_t *st = status_of(r, name);
    json_t *t = NULL, *e;
    size_t i;
    json_array_foreach(json_object_get(st, "tasks"), i, e)
    {
        if (id[0] && !*end && json_integer_value(json_object_get(e, "id")) == n)
            t = e;
    }
    if (!t) {
        json_decref(st);
        fp_http_error(resp, 404, "Task %s of connector %s not found", id, name);
        return;
    }
    if (status) {
        send_json(resp, 200, json_incref(t));
        json_decref(st);
        return;
    }
    json_decref(st);
    fp_err err = {0};
    fp_code rc = r->d ? fp_connect_dist_restart(r->d, name, false, &err)
                      : fp_connect_restart(r->c, name, false, &err);
    if (rc)
        send_err(resp, &err);
    else
        send_empty(resp, 204);
}

/* /connectors/{name}[/...] */
static void connector_route(fp_connect_rest *r, const fp_http_req *req, char **seg, int nseg,
                            fp_http_resp *resp)
{
    const char *name = seg[1];
    const char *sub = nseg > 2 ? seg[2] : NULL;
    fp_err err = {0};
    /* Method checks come first: a wrong method is 405 whether or not the connector exists. */
    if (nseg == 2 && !is(req, "GET") && !is(req, "DELETE")) {
        method_not_allowed(resp, req);
        return;
    }
    if (nseg == 3) {
        bool ok = (!strcmp(sub, "config") && (is(req, "GET") || is(req, "PUT"))) ||
                  ((!strcmp(sub, "status") || !strcmp(sub, "tasks")) && is(req, "GET")) ||
                  ((!strcmp(sub, "pause") || !strcmp(sub, "resume")) && is(req, "PUT")) ||
                  (!strcmp(sub, "restart") && is(req, "POST"));
        bool known = !strcmp(sub, "config") || !strcmp(sub, "status") || !strcmp(sub, "tasks") ||
                     !strcmp(sub, "pause") || !strcmp(sub, "resume") || !strcmp(sub, "restart");
        if (!known) {
            fp_http_error(resp, 404, "no such route");
            return;
        }
        if (!ok) {
            method_not_allowed(resp, req);
            return;
        }
    }
    if (nseg == 5 && !strcmp(sub, "tasks") &&
        (!strcmp(seg[4], "status") || !strcmp(seg[4], "restart"))) {
        task_route(r, req, name, seg[3], seg[4], resp);
        return;
    }
    if (nseg > 3) {
        fp_http_error(resp, 404, "no such route");
        return;
    }
    if (nseg == 3 && !strcmp(sub, "config") && is(req, "PUT")) {
        json_t *cfg = body_object(req, resp);
        if (cfg)
            put_connector(r, name, cfg, false, resp);
        json_decref(cfg);
        return;
    }
    if (!fp_connect_name_ok(name) || !fp_connect_exists(r->c, name)) {
        not_found(resp, name);
        return;
    }
    json_t *j = NULL;
    if (nseg == 2 && is(req, "GET")) {
        j = fp_connect_info_json(r->c, name);
    } else if (nseg == 2) { /* DELETE */
        fp_code rc =
            r->d ? fp_connect_dist_delete(r->d, name, &err) : fp_connect_delete(r->c, name, &err);
        if (rc) {
            send_err(resp, &err);
            return;
        }
        {
            send_empty(resp, 204);
            return;
        }
    } else if (!strcmp(sub, "config")) {
        j = fp_connect_config_json(r->c, name);
    } else if (!strcmp(sub, "status")) {
        j = status_of(r, name);
    } else if (!strcmp(sub, "tasks")) {
        j = fp_connect_tasks_json(r->c, name);
    } else if (!strcmp(sub, "pause") || !strcmp(sub, "resume")) {
        bool pause = !strcmp(sub, "pause");
        fp_code rc = r->d ? fp_connect_dist_pause(r->d, name, pause, &err)
                          : fp_connect_pause(r->c, name, pause, &err);
        if (rc) {
            send_err(resp, &err);
            return;
        }
        {
            send_empty(resp, 202);
            return;
        }
    } else { /* restart */
        /* Kafka Connect 3.x: with includeTasks=false and onlyFailed=false (the defaults) the
         * answer is the old 204; otherwise 202 and the status */
        bool only_failed = query_has(req->query, "onlyFailed", "true");
        bool v3 = query_has(req->query, "includeTasks", "true") || only_failed;
        fp_code rc = r->d ? fp_connect_dist_restart(r->d, name, only_failed, &err)
                          : fp_connect_restart(r->c, name, only_failed, &err);
        if (rc) {
            send_err(resp, &err);
            return;
        }
        if (!v3) {
            send_empty(resp, 204);
            return;
        }
        j = status_of(r, name);
        if (j) {
            send_json(resp, 202, j);
            return;
        }
    }
    if (!j) {
        not_found(resp, name);
        return;
    }
    send_json(resp, 200, j);
}

static void plugins_route(fp_connect_rest *r, const fp_http_req *req, char **seg, int nseg,
                          fp_http_resp *resp)
{
    if (nseg == 1) {
        if (!is(req, "GET")) {
            method_not_allowed(resp, req);
            return;
        }
        {
            send_json(resp, 200, fp_connect_plugins_json());
            return;
        }
    }
    if (nseg != 4 || strcmp(seg[2], "config") || strcmp(seg[3], "validate")) {
        fp_http_error(resp, 404, "no such route");
        return;
    }
    if (!is(req, "PUT")) {
        method_not_allowed(resp, req);
        return;
    }
    json_t *cfg = body_object(req, resp);
    if (!cfg)
        return;
    fp_props p;
    if (!config_props(cfg, &p, resp)) {
        json_decref(cfg);
        return;
    }
    json_decref(cfg);
    json_t *out = fp_connect_validate_json(seg[1], &p, r->bootstrap);
    fp_props_free(&p);
    if (!out) {
        fp_http_error(resp, 404, "Plugin %s not found (see GET /connector-plugins)", seg[1]);
        return;
    }
    send_json(resp, 200, out);
}

static void handle(void *ctx, const fp_http_req *req, fp_http_resp *resp)
{
    fp_connect_rest *r = ctx;
    /* Split the (decoded) path into segments; a trailing slash is ignored. */
    size_t plen = strlen(req->path);
    char *path = fp_xstrdup(req->path);
    if (plen > 1 && path[plen - 1] == '/')
        path[plen - 1] = '\0';
    char *seg[MAX_SEGS + 1];
    int nseg = 0;
    bool bad = path[0] != '/';
    for (char *p = path + 1; !bad && *p;) {
        if (nseg == MAX_SEGS) {
            bad = true;
            break;
        }
        seg[nseg++] = p;
        char *e = strchr(p, '/');
        if (!e)
            break;
        *e = '\0';
        p = e + 1;
        if (!*p || *p == '/')
            bad = true; /* empty segment */
    }
    if (bad) {
        fp_http_error(resp, 404, "no such route");
    } else if (nseg == 0) {
        if (is(req, "GET"))
            root(r, resp);
        else
            method_not_allowed(resp, req);
    } else if (!strcmp(seg[0], "metrics") && nseg == 1) {
        if (!is(req, "GET")) {
            method_not_allowed(resp, req);
        } else {
            fp_metrics_render(fp_connect_metrics, r->c, &resp->body);
            resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        }
    } else if (!strcmp(seg[0], "healthz") && nseg == 1) {
        if (!is(req, "GET")) {
            method_not_allowed(resp, req);
        } else {
            resp->content_type = "text/plain; charset=utf-8";
            if (fp_connect_healthy(r->c, &resp->body)) {
                fp_buf_puts(&resp->body, "ok\n");
            } else {
                resp->status = 503;
            }
        }
    } else if (!strcmp(seg[0], "connectors")) {
        if (nseg == 1) {
            if (is(req, "GET")) {
                list_connectors(r, req, resp);
            } else if (is(req, "POST")) {
                json_t *b = body_object(req, resp);
                if (b) {
                    json_t *name = json_object_get(b, "name");
                    if (!json_is_string(name) || !json_string_value(name)[0])
                        fp_http_error(resp, 400, "\"name\" (a non-empty string) is required");
                    else
                        put_connector(r, json_string_value(name), json_object_get(b, "config"),
                                      true, resp);
                    json_decref(b);
                }
            } else {
                method_not_allowed(resp, req);
            }
        } else {
            connector_route(r, req, seg, nseg, resp);
        }
    } else if (!strcmp(seg[0], "connector-plugins")) {
        plugins_route(r, req, seg, nseg, resp);
    } else {
        fp_http_error(resp, 404, "no such route");
    }
    free(path);
}

/* The cluster id for GET / (empty when the cluster does not say within 5 s). */
static char *cluster_id(const char *bootstrap)
{
    fp_err err = {0};
    rd_kafka_t *rk = fp_kafka_producer_new(bootstrap, NULL, NULL, NULL, &err);
    if (!rk)
        return fp_xstrdup("");
    char *id = rd_kafka_clusterid(rk, 5000);
    char *out = fp_xstrdup(id ? id : "");
    if (id)
        rd_kafka_mem_free(rk, id);
    rd_kafka_destroy(rk);
    return out;
}

fp_code fp_connect_rest_start(const fp_connect_rest_opts *o, fp_connect_rest **out, fp_err *err)
{
    *out = NULL;
    fp_connect_rest *r = fp_xcalloc(1, sizeof *r);
    r->c = o->c;
    r->d = o->dist;
    r->bootstrap = fp_xstrdup(o->bootstrap);
    r->cluster_id = cluster_id(o->bootstrap);
    fp_http_opts ho = {
        .listen = o->listen, .token = o->token, .max_body = 1024 * 1024, .threads = 4};
    fp_code rc = fp_http_start(&ho, handle, r, &r->srv, err);
    if (rc) {
        fp_connect_rest_stop(r);
        return rc;
    }
    fp_log(FP_LOG_INFO, NULL, -1, "REST API on http://%s (port %d)%s", o->listen,
           fp_http_port(r->srv), o->token && o->token[0] ? ", bearer token required" : "");
    *out = r;
    return FP_OK;
}

int fp_connect_rest_port(const fp_connect_rest *r)
{
    return r ? fp_http_port(r->srv) : -1;
}

void fp_connect_rest_stop(fp_connect_rest *r)
{
    if (!r)
        return;
    fp_http_stop(r->srv);
    free(r->bootstrap);
    free(r->cluster_id);
    free(r);
}
