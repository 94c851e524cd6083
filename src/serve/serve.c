/* serve.c — the Fleet API's server: tokens and roles, the route table, the parameter and cursor
 * helpers every route uses, /metrics and /healthz, and the run loop (see serve.h).
 *
 * Authentication happens here, before any route: a bearer token is looked up by comparing it
 * with every configured token in constant time (the loop never stops early), so neither the
 * answer's timing nor its content tells which prefix matched; tokens are never logged, the
 * token's name is. Without a tokens file the server refuses to listen beyond loopback.
 */
#include "serve/serve_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "serve/web.h"

/* ---------------------------------------------------------------- routes */

/* Where a route runs (fp_http's pool servers): on the pool's threads, or on a thread of its own
 * because it may block on a backend other than Redis (or stream) for seconds. */
typedef enum route_run {
    RUN_POOL,   /* no backend: static documents */
    RUN_REDIS,  /* Redis alone: on the pool while Redis answers, else a thread of its own */
    RUN_KPIS,   /* as RUN_REDIS without --pg; with it (today's KPIs), as RUN_THREAD */
    RUN_THREAD, /* DynamoDB, PostgreSQL, Kafka, MQTT, the connect worker, the stream */
} route_run;

typedef struct route {
    const char *method;
    const char *pattern; /* "{}" is one path segment, handed over in c->arg */
    fp_serve_role need;
    void (*fn)(fp_serve_call *c);
    const char *name; /* metrics label */
    bool head;        /* a static document: HEAD is answered as GET (the server sends no body) */
    route_run run;
} route;

static const route routes[] = {
    {"GET", "/api/v1/vehicles", FP_SERVE_VIEWER, fp_serve_vehicles, "vehicles", false, RUN_REDIS},
    {"GET", "/api/v1/vehicles/{}", FP_SERVE_VIEWER, fp_serve_vehicle, "vehicle", false, RUN_KPIS},
    {"GET", "/api/v1/feed", FP_SERVE_VIEWER, fp_serve_feed, "feed", false, RUN_REDIS},
    {"GET", "/api/v1/stream", FP_SERVE_VIEWER, fp_serve_sse, "stream", false, RUN_THREAD},
    {"GET", "/api/v1/openapi.json", FP_SERVE_NONE, fp_serve_openapi, "openapi", true, RUN_POOL},
    {"POST", "/api/v1/vehicles/{}/commands", FP_SERVE_OPERATOR, fp_serve_command_post,
     "command_post", false, RUN_THREAD},
    {"GET", "/api/v1/commands/{}", FP_SERVE_VIEWER, fp_serve_command_get, "command", false,
     RUN_THREAD},
    {"GET", "/api/v1/topics", FP_SERVE_VIEWER, fp_serve_topic_list, "topics", false, RUN_THREAD},
    {"GET", "/api/v1/topics/{}/messages", FP_SERVE_VIEWER, fp_serve_topic_messages, "messages",
     false, RUN_THREAD},
    {"GET", "/api/v1/pipeline", FP_SERVE_VIEWER, fp_serve_pipeline, "pipeline", false, RUN_THREAD},
    {"GET", "/api/v1/vehicles/{}/track", FP_SERVE_VIEWER, fp_serve_track, "track", false,
     RUN_THREAD},
    {"GET", "/api/v1/vehicles/{}/aggregates", FP_SERVE_VIEWER, fp_serve_aggregates, "aggregates",
     false, RUN_THREAD},
    {"GET", "/api/v1/reports/vehicle-daily", FP_SERVE_VIEWER, fp_serve_report_vehicle,
     "report_vehicle_daily", false, RUN_THREAD},
    {"GET", "/api/v1/reports/reefer-daily", FP_SERVE_VIEWER, fp_serve_report_reefer,
     "report_reefer_daily", false, RUN_THREAD},
    {"POST", "/api/v1/webhooks", FP_SERVE_OPERATOR, fp_serve_webhook_post, "webhook_post", false,
     RUN_REDIS},
    {"GET", "/api/v1/webhooks", FP_SERVE_VIEWER, fp_serve_webhook_list, "webhook_list", false,
     RUN_REDIS},
    {"GET", "/api/v1/webhooks/{}", FP_SERVE_VIEWER, fp_serve_webhook_get, "webhook_get", false,
     RUN_REDIS},
    {"DELETE", "/api/v1/webhooks/{}", FP_SERVE_OPERATOR, fp_serve_webhook_delete, "webhook_delete",
     false, RUN_REDIS},
    {"GET", "/api/v1/whoami", FP_SERVE_VIEWER, fp_serve_whoami, "whoami", false, RUN_POOL},
    {"GET", "/", FP_SERVE_NONE, fp_serve_web_index, "web", true, RUN_POOL},
    {"GET", "/assets/{}", FP_SERVE_NONE, fp_serve_web_asset, "web_asset", true, RUN_POOL},
};
#define NROUTES (sizeof routes / sizeof routes[0])
_Static_assert(NROUTES <= FP_SERVE_ROUTES_MAX, "raise FP_SERVE_ROUTES_MAX");

/* Matches path against pattern; the "{}" segments are copied into args. */
/* args NULL: only whether path matches. */
static bool match(const char *pattern, const char *path, char *args[2])
{
    int na = 0;
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (p[0] == '{' && p[1] == '}') {
            size_t n = strcspn(q, "/");
            if (!n || na == 2)
                goto no;
            if (args)
                args[na] = fp_xstrndup(q, n);
            na++;
            p += 2;
            q += n;
            continue;
        }
        if (*p != *q)
            goto no;
        p++, q++;
    }
    if (!*p && !*q)
        return true;
no:
    for (int i = 0; args && i < na; i++) {
        free(args[i]);
        args[i] = NULL;
    }
    return false;
}

/* ---------------------------------------------------------------- answers */

void fp_serve_fail(fp_serve_call *c, int status, const char *fmt, ...)
{
    fp_buf msg = FP_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    fp_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    fp_http_error(c->resp, status, "%s", msg.p ? msg.p : "");
    fp_buf_free(&msg);
}

void fp_serve_unavailable(fp_serve_call *c, const char *backend, const fp_err *err)
{
    fp_http_resp *r = c->resp;
    r->status = 503;
    r->content_type = "application/json";
    fp_buf_reset(&r->body);
    const char *why = err && err->msg[0] ? err->msg : "not configured";
    fp_buf msg = FP_BUF_INIT;
    fp_buf_printf(&msg, "%s: %s", backend, why);
    fp_buf_puts(&r->body, "{\"error_code\": 503, \"message\": ");
    fp_json_quote(&r->body, msg.p, msg.len);
    fp_buf_puts(&r->body, ", \"backend\": ");
    fp_json_quote(&r->body, backend, strlen(backend));
    fp_buf_puts(&r->body, "}\n");
    fp_buf_free(&msg);
    fp_http_resp_header(r, "Retry-After", "5");
}

/* ---------------------------------------------------------------- parameters */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool fp_serve_query(fp_serve_call *c, const char *name, fp_buf *out, bool *bad)
{
    *bad = false;
    fp_buf_reset(out);
    size_t nl = strlen(name);
    const char *q = c->req->query;
    while (q && *q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t kn = eq ? (size_t)(eq - q) : n;
        if (kn == nl && !memcmp(q, name, nl)) {
            const char *v = eq ? eq + 1 : q + n;
            size_t vn = (size_t)(q + n - v);
            if (!fp_http_percent_decode(v, vn, true, out) ||
                memchr(out->p ? out->p : "", '\0', out->len) ||
                !fp_utf8_valid(out->p ? out->p : "", out->len)) {
                fp_serve_fail(c, 400, "parameter %s: bad percent escape, NUL or invalid UTF-8",
                              name);
                *bad = true;
                return false;
            }
            if (!out->p)
                fp_buf_reserve(out, 0);
            return true;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return false;
}

bool fp_serve_param_i64(fp_serve_call *c, const char *name, int64_t def, int64_t min, int64_t max,
                        int64_t *out)
{
    fp_buf v = FP_BUF_INIT;
    bool bad;
    *out = def;
    bool ok = true;
    if (fp_serve_query(c, name, &v, &bad)) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(v.p, &end, 10);
        if (!v.len || errno || *end || !isdigit((unsigned char)v.p[v.len - 1]) ||
            (v.p[0] != '-' && !isdigit((unsigned char)v.p[0]))) {
            fp_serve_fail(c, 400, "parameter %s: '%.40s' is not an integer", name, v.p);
            ok = false;
        } else if (x < min || x > max) {
            fp_serve_fail(c, 400, "parameter %s: %lld is outside %lld..%lld", name, x,
                          (long long)min, (long long)max);
            ok = false;
        } else {
            *out = x;
        }
    } else if (bad) {
        ok = false;
    }
    fp_buf_free(&v);
    return ok;
}

bool fp_serve_param_time(fp_serve_call *c, const char *name, bool required, int64_t def,
                         int64_t *ms)
{
    fp_buf v = FP_BUF_INIT;
    bool bad, ok = true;
    *ms = def;
    if (fp_serve_query(c, name, &v, &bad)) {
        size_t i = 0;
        while (i < v.len && isdigit((unsigned char)v.p[i]))
            i++;
        fp_err err = {0};
        if (v.len && i == v.len && v.len <= 15) {
            *ms = strtoll(v.p, NULL, 10);
        } else if (fp_time_parse_iso(v.p, v.len, ms, &err)) {
            fp_serve_fail(c, 400,
                          "parameter %s: '%.60s' is neither ISO-8601 time with an offset nor "
                          "epoch ms",
                          name, v.p);
            ok = false;
        }
    } else if (bad) {
        ok = false;
    } else if (required) {
        fp_serve_fail(c, 400, "parameter %s is required", name);
        ok = false;
    }
    fp_buf_free(&v);
    return ok;
}

/* Whether a[0..n) is a vehicle id: decimal digits, 1..2^53. */
static bool id_text(const char *a, size_t n, int64_t *v)
{
    bool digits = n > 0 && n <= 16;
    for (size_t i = 0; digits && i < n; i++)
        digits = isdigit((unsigned char)a[i]);
    *v = digits ? strtoll(a, NULL, 10) : 0;
    return digits && *v >= 1 && *v <= (1LL << 53);
}

bool fp_serve_vehicle_id(fp_serve_call *c, int64_t *id)
{
    const char *a = c->arg[0] ? c->arg[0] : "";
    size_t n = strlen(a);
    int64_t v;
    if (!id_text(a, n, &v)) {
        fp_buf shown = FP_BUF_INIT;
        fp_json_quote(&shown, a, n > 40 ? 40 : n);
        fp_serve_fail(c, 400, "vehicle id %s: expected a positive integer", shown.p);
        fp_buf_free(&shown);
        return false;
    }
    *id = v;
    return true;
}

bool fp_serve_param_ids(fp_serve_call *c, const char *name, size_t max, int64_t **ids, size_t *n)
{
    fp_buf v = FP_BUF_INIT;
    bool bad = false, ok = true;
    *ids = NULL;
    *n = 0;
    if (!fp_serve_query(c, name, &v, &bad)) {
        fp_buf_free(&v);
        return !bad;
    }
    const char *p = v.p, *end = v.p + v.len;
    size_t cap = 0;
    while (ok) {
        size_t k = strcspn(p, ",");
        int64_t id;
        if (!id_text(p, k, &id)) {
            fp_buf shown = FP_BUF_INIT;
            fp_json_quote(&shown, p, k > 40 ? 40 : k);
            fp_serve_fail(c, 400, "parameter %s: %s is not a vehicle id", name, shown.p);
            fp_buf_free(&shown);
            ok = false;
        } else if (*n == max) {
            fp_serve_fail(c, 400, "parameter %s: more than %zu ids", name, max);
            ok = false;
        } else {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *ids = fp_xrealloc(*ids, cap * sizeof **ids);
            }
            (*ids)[(*n)++] = id;
        }
        if (p + k >= end)
            break;
        p += k + 1;
    }
    if (!ok) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    fp_buf_free(&v);
    return ok;
}

/* ---------------------------------------------------------------- cursors */

/* FNV-1a of the bytes, as the check group: catches edits and truncation, not an adversary
 * (a cursor grants nothing: it only says where to continue). */
static uint32_t cursor_check(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

void fp_serve_cursor_put(fp_buf *out, const char *kind, const char *payload, size_t n)
{
    fp_buf raw = FP_BUF_INIT;
    fp_buf_printf(&raw, "%s:", kind);
    fp_buf_append(&raw, payload, n);
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < raw.len; i++) {
        fp_buf_putc(out, hx[(unsigned char)raw.p[i] >> 4]);
        fp_buf_putc(out, hx[(unsigned char)raw.p[i] & 15]);
    }
    fp_buf_printf(out, ".%08x", cursor_check(raw.p, raw.len));
    fp_buf_free(&raw);
}

bool fp_serve_cursor_decode(const char *kind, const char *text, fp_buf *payload)
{
    fp_buf raw = FP_BUF_INIT;
    size_t n = strlen(text);
    const char *dot = strrchr(text, '.');
    bool ok = dot && (size_t)(dot - text) % 2 == 0 && strlen(dot + 1) == 8 && n <= 8192;
    for (const char *p = text; ok && p < dot; p += 2) {
        int hi = hexval(p[0]), lo = hexval(p[1]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            fp_buf_putc(&raw, (char)(hi << 4 | lo));
    }
    size_t kn = strlen(kind);
    if (ok) {
        char want[9];
        snprintf(want, sizeof want, "%08x", cursor_check(raw.p ? raw.p : "", raw.len));
        ok = !strcmp(want, dot + 1) && raw.len > kn && !memcmp(raw.p, kind, kn) && raw.p[kn] == ':';
    }
    if (ok) {
        fp_buf_reset(payload);
        fp_buf_append(payload, raw.p + kn + 1, raw.len - kn - 1);
        if (!payload->p)
            fp_buf_reserve(payload, 0);
    }
    fp_buf_free(&raw);
    return ok;
}

bool fp_serve_cursor_get(fp_serve_call *c, const char *param, const char *kind, const char *text,
                         fp_buf *payload)
{
    if (fp_serve_cursor_decode(kind, text, payload))
        return true;
    fp_serve_fail(c, 400, "parameter %s: not a cursor this API gave out (edited or truncated)",
                  param);
    return false;
}

/* ---------------------------------------------------------------- tokens */

static fp_code load_tokens(fp_serve *s, const char *path, fp_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fp_err_set(err, FP_ERR_CONFIG, "tokens file %s: %s", path, strerror(errno));
    char line[1024];
    int lineno = 0;
    fp_code rc = FP_OK;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *tok = strtok_r(line, " \t\r\n", &save);
        if (!tok)
            continue;
        char *role = strtok_r(NULL, " \t\r\n", &save);
        char *name = strtok_r(NULL, " \t\r\n", &save);
        fp_serve_role r = FP_SERVE_NONE;
        if (role && !strcmp(role, "viewer"))
            r = FP_SERVE_VIEWER;
        else if (role && !strcmp(role, "operator"))
            r = FP_SERVE_OPERATOR;
        if (!r) {
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "tokens file %s:%d: expected \"<token> viewer|operator [name]\"", path,
                            lineno);
            break;
        }
        if (strlen(tok) < 16) {
            rc =
                fp_err_set(err, FP_ERR_CONFIG,
                           "tokens file %s:%d: a token needs at least 16 characters", path, lineno);
            break;
        }
        s->tokens = fp_xrealloc(s->tokens, (s->ntokens + 1) * sizeof *s->tokens);
        char dflt[32];
        snprintf(dflt, sizeof dflt, "token-%d", lineno);
        s->tokens[s->ntokens++] =
            (fp_serve_token){fp_xstrdup(tok), fp_xstrdup(name ? name : dflt), r};
        memset(line, 0, sizeof line);
    }
    fclose(f);
    if (!rc && !s->ntokens)
        rc = fp_err_set(err, FP_ERR_CONFIG, "tokens file %s: no tokens", path);
    return rc;
}

/* The caller's role from its bearer token; NONE when missing or unknown. */
static fp_serve_role authenticate(const fp_serve *s, const fp_http_req *req, const char **who)
{
    const char *auth = fp_http_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7))
        return FP_SERVE_NONE;
    const char *t = auth + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ')
        n--;
    fp_serve_role role = FP_SERVE_NONE;
    for (size_t i = 0; i < s->ntokens; i++) {
        bool eq = fp_http_token_equal(t, n, s->tokens[i].token);
        if (eq && role == FP_SERVE_NONE) {
            role = s->tokens[i].role;
            *who = s->tokens[i].name;
        }
    }
    return role;
}

static bool loopback(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return false;
    size_t n = (size_t)(colon - listen);
    return (n == 9 && !memcmp(listen, "127.0.0.1", 9)) ||
           (n == 9 && !memcmp(listen, "localhost", 9)) || (n == 5 && !memcmp(listen, "[::1]", 5));
}

/* ---------------------------------------------------------------- metrics and health */

static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

static void write_metrics(void *ctx, fp_metrics_out *m)
{
    fp_serve *s = ctx;
    fp_metrics_family(m, "fleetpipe_serve_requests_total", FP_METRIC_COUNTER,
                      "Fleet API requests answered, by route and status class.");
    for (size_t r = 0; r <= NROUTES; r++)
        for (int k = 0; k < 5; k++) {
            uint64_t v = atomic_load(&s->requests[r][k]);
            if (!v && k != 1)
                continue;
            const char *name = r < NROUTES ? routes[r].name : "other";
            fp_metrics_sample_u64(m, (const char *[]){"route", name, "code", classes[k], NULL}, v);
        }
    fp_metrics_family(m, "fleetpipe_serve_request_seconds", FP_METRIC_HISTOGRAM,
                      "Time to answer a Fleet API request (an event stream: until its headers).");
    for (size_t r = 0; r <= NROUTES; r++)
        fp_metrics_sample_hist(
            m, (const char *[]){"route", r < NROUTES ? routes[r].name : "other", NULL},
            &s->latency[r]);
    fp_serve_stream_metrics(s, m);
    fp_serve_cmd_metrics(s, m);
    fp_serve_hooks_metrics(s, m);
}

static bool healthy(fp_serve *s, fp_buf *why)
{
    bool ok = fp_serve_live_health(s, why);
    if (ok)
        ok = fp_serve_stream_health(s, why);
    return ok;
}

/* ---------------------------------------------------------------- dispatch */

/* "/../", "/./", "//" or a trailing "/." / "/..": never a resource of this API. */
static bool dot_segment(const char *p)
{
    for (const char *q = strchr(p, '/'); q; q = strchr(q + 1, '/')) {
        size_t n = strcspn(q + 1, "/");
        if (n == 0 && q[1] == '/')
            return true;
        if ((n == 1 && q[1] == '.') || (n == 2 && q[1] == '.' && q[2] == '.'))
            return true;
    }
    return false;
}

static void security_headers(fp_http_resp *r)
{
    fp_http_resp_header(r, "X-Content-Type-Options", "nosniff");
    fp_http_resp_header(r, "Cache-Control", "no-store");
    fp_http_resp_header(r, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
}

static void count(fp_serve *s, size_t r, int status, int64_t t0)
{
    int k = status / 100 - 1;
    if (k < 0 || k > 4)
        k = 4;
    atomic_fetch_add(&s->requests[r][k], 1);
    fp_metrics_hist_observe(&s->latency[r], (double)(fp_time_mono_ms() - t0) / 1000.0);
}

/* fp_http's offload: which requests leave the pool's threads (route_run). /healthz reads Redis;
 * /metrics and refusals read nothing. */
static bool offload(void *ctx, const fp_http_req *req)
{
    fp_serve *s = ctx;
    route_run run = strcmp(req->path, "/healthz") ? RUN_POOL : RUN_REDIS;
    for (size_t i = 0; i < NROUTES; i++) {
        const route *r = &routes[i];
        if ((!strcmp(r->method, req->method) || (r->head && !strcmp(req->method, "HEAD"))) &&
            match(r->pattern, req->path, NULL)) {
            run = r->run;
            break;
        }
    }
    if (run == RUN_KPIS)
        run = s->pg ? RUN_THREAD : RUN_REDIS;
    return run == RUN_THREAD || (run == RUN_REDIS && fp_serve_redis_troubled(s));
}

static void handle(void *ctx, const fp_http_req *req, fp_http_resp *resp)
{
    fp_serve *s = ctx;
    int64_t t0 = fp_time_mono_ms();
    if (!strcmp(req->path, "/metrics")) {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        fp_metrics_render(write_metrics, s, &resp->body);
        return;
    }
    if (!strcmp(req->path, "/healthz")) {
        fp_buf why = FP_BUF_INIT;
        resp->content_type = "text/plain";
        if (healthy(s, &why)) {
            fp_buf_puts(&resp->body, "ok\n");
        } else {
            resp->status = 503;
            fp_buf_printf(&resp->body, "%s\n", why.p ? why.p : "unhealthy");
        }
        fp_buf_free(&why);
        return;
    }
    security_headers(resp);
    fp_serve_call c = {.s = s, .req = req, .resp = resp};
    if (dot_segment(req->path)) {
        fp_serve_fail(&c, 400, "path holds a '.' or '..' segment: %.200s", req->path);
        count(s, NROUTES, 400, t0);
        return;
    }
    const route *hit = NULL;
    bool path_known = false;
    char allow[64] = "";
    for (size_t i = 0; i < NROUTES && !hit; i++) {
        char *args[2] = {NULL, NULL};
        if (!match(routes[i].pattern, req->path, args))
            continue;
        path_known = true;
        bool head = routes[i].head && !strcmp(req->method, "HEAD");
        if (strcmp(routes[i].method, req->method) && !head) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof allow - n, "%s%s%s", n ? ", " : "", routes[i].method,
                     routes[i].head ? ", HEAD" : "");
            free(args[0]);
            free(args[1]);
            continue;
        }
        hit = &routes[i];
        c.arg[0] = args[0];
        c.arg[1] = args[1];
    }
    size_t ri = hit ? (size_t)(hit - routes) : NROUTES;
    if (!hit) {
        if (path_known) {
            fp_http_resp_header(resp, "Allow", allow);
            fp_serve_fail(&c, 405, "%s is not allowed on %s", req->method, req->path);
        } else {
            fp_serve_fail(&c, 404, "no such endpoint: %.200s", req->path);
        }
        count(s, ri, resp->status, t0);
        return;
    }
    c.who = "local";
    c.role = FP_SERVE_OPERATOR;
    if (s->ntokens) {
        c.role = authenticate(s, req, &c.who);
        if (c.role == FP_SERVE_NONE && hit->need != FP_SERVE_NONE) {
            fp_http_resp_header(resp, "WWW-Authenticate", "Bearer");
            fp_serve_fail(&c, 401, "missing or unknown bearer token");
            goto out;
        }
    }
    if (c.role < hit->need) {
        fp_serve_fail(&c, 403, "%s needs the operator role", hit->name);
        goto out;
    }
    hit->fn(&c);
out:
    count(s, ri, resp->status ? resp->status : 200, t0);
    free(c.arg[0]);
    free(c.arg[1]);
}

/* ---------------------------------------------------------------- run */

static void resolve(fp_serve *s, const fp_serve_opts *o)
{
    s->o = *o;
    fp_serve_opts *d = &s->o;
    if (!d->listen || !*d->listen)
        d->listen = "127.0.0.1:8090";
    if (!d->redis_url)
        d->redis_url = "redis://127.0.0.1:6379/0";
    if (!d->key_prefix)
        d->key_prefix = "vehicle:";
    if (!d->index_key)
        d->index_key = "fleet:vehicles";
    if (!d->stream_key)
        d->stream_key = "fleet:stream";
    if (!d->agg_prefix)
        d->agg_prefix = "agg5m:";
    if (!d->offline_after_ms)
        d->offline_after_ms = 10 * 60 * 1000;
    if (!d->moving_kmh)
        d->moving_kmh = 1;
    if (!d->reefer_tolerance_c)
        d->reefer_tolerance_c = 2;
    if (!d->battery_low_v)
        d->battery_low_v = 11.5;
    if (d->check_alarms_every_ms <= 0)
        d->check_alarms_every_ms = 30 * 1000;
    if (d->check_alarms_within_ms <= 0)
        d->check_alarms_within_ms = 36 * 3600 * 1000LL;
    if (!d->heartbeat_ms)
        d->heartbeat_ms = 15000;
    if (!d->ring_events)
        d->ring_events = 65536;
    if (!d->client_lag_max)
        d->client_lag_max = 16384;
    if (d->client_lag_max > d->ring_events / 2)
        d->client_lag_max = d->ring_events / 2;
    if (!d->max_connections)
        d->max_connections = 1024;
    if (!d->region)
        d->region = "us-east-1";
    if (!d->timezone)
        d->timezone = "Asia/Seoul";
    if (!d->command_timeout_ms)
        d->command_timeout_ms = 120000;
    if (!d->command_token_burst)
        d->command_token_burst = 20;
    if (!d->command_token_per_min)
        d->command_token_per_min = 60;
    if (!d->command_vehicle_burst)
        d->command_vehicle_burst = 5;
    if (!d->command_vehicle_per_min)
        d->command_vehicle_per_min = 6;
    if (!d->backend_timeout_ms)
        d->backend_timeout_ms = 5000;
    if (!d->webhooks_max)
        d->webhooks_max = 100;
    if (!d->webhook_batch_events)
        d->webhook_batch_events = 100;
    if (!d->webhook_batch_bytes)
        d->webhook_batch_bytes = 256 * 1024;
    if (!d->webhook_connect_timeout_ms)
        d->webhook_connect_timeout_ms = 5000;
    if (!d->webhook_timeout_ms)
        d->webhook_timeout_ms = 10000;
    if (!d->webhook_lease_ms)
        d->webhook_lease_ms = 30000;
    if (!d->webhook_backoff_base_ms)
        d->webhook_backoff_base_ms = 1000;
    if (!d->webhook_backoff_max_ms)
        d->webhook_backoff_max_ms = 300000;
    for (size_t r = 0; r <= NROUTES; r++)
        fp_metrics_hist_init_seconds(&s->latency[r]);
}

static void teardown(fp_serve *s)
{
    fp_serve_stream_halt(s); /* streams end now, not at their next heartbeat */
    fp_http_stop(s->http);
    fp_serve_hooks_free(s);
    fp_serve_cmd_free(s);
    fp_serve_pg_free(s);
    fp_serve_ddb_free(s);
    fp_serve_stream_free(s);
    fp_serve_live_free(s);
    fp_serve_topics_free(s);
    fp_serve_web_free(s);
    for (size_t i = 0; i < s->ntokens; i++) {
        volatile char *p = s->tokens[i].token;
        while (*p)
            *p++ = '\0';
        free(s->tokens[i].token);
        free(s->tokens[i].name);
    }
    free(s->tokens);
    free(s);
}

fp_code fp_serve_run(const fp_serve_opts *o, fp_err *err)
{
    fp_serve *s = fp_xcalloc(1, sizeof *s);
    resolve(s, o);
    fp_code rc = FP_OK;
    if (s->o.tokens_file)
        rc = load_tokens(s, s->o.tokens_file, err);
    else if (!loopback(s->o.listen))
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "serve: --listen %s is not a loopback address: give --tokens FILE "
                        "(no token configured means 127.0.0.1 only)",
                        s->o.listen);
    if (!rc)
        rc = fp_serve_live_init(s, err);
    if (!rc)
        rc = fp_serve_stream_init(s, err);
    if (!rc)
        rc = fp_serve_cmd_init(s, err);
    if (!rc)
        rc = fp_serve_topics_init(s, err);
    if (!rc)
        rc = fp_serve_ddb_init(s, err);
    if (!rc)
        rc = fp_serve_pg_init(s, err);
    if (!rc)
        rc = fp_serve_web_init(s, err);
    if (!rc)
        rc = fp_serve_hooks_init(s, err);
    if (!rc) {
        fp_http_opts ho = {.listen = s->o.listen,
                           .max_body = 64 * 1024,
                           .offload = offload,
                           .max_connections = s->o.max_connections};
        rc = fp_http_start(&ho, handle, s, &s->http, err);
    }
    if (rc) {
        teardown(s);
        return rc;
    }
    int port = fp_http_port(s->http);
    fp_log(FP_LOG_INFO, "serve", -1,
           "Fleet API on %s (port %d), %zu token(s), redis %s, web console: %zu files (%s)",
           s->o.listen, port, s->ntokens, "configured", fp_serve_web_count(s),
           fp_serve_web_source(s));
    if (s->o.on_ready)
        s->o.on_ready(s->o.ready_ctx, port);
    while (!fp_stop_requested(s->o.stop))
        fp_stop_sleep_ms(s->o.stop, 200);
    fp_log(FP_LOG_INFO, "serve", -1, "stopping");
    teardown(s);
    return FP_OK;
}
