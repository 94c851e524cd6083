/* serve_int.h — what the Fleet API's files share: the server state, one request as a route
 * sees it, and the helpers every route uses to read parameters and answer errors.
 *
 * A route is a function of an fp_serve_call. It reads path arguments (c->arg), query parameters
 * (fp_serve_query and the fp_serve_param_* validators, which answer 400 themselves and return
 * false) and writes c->resp. Backends live in their own files (live.c: Redis; stream.c: the
 * event stream; and so on), each with an _init/_free pair run by serve.c; a backend that is not
 * configured leaves its pointer NULL and its routes answer 503 through fp_serve_unavailable.
 *
 * Threads: routes run concurrently on request threads (the HTTP pool's, or their own: serve.c's
 * route_run); everything reachable from fp_serve is
 * either read-only after start or guarded by its owner.
 */
#ifndef FP_SERVE_INT_H
#define FP_SERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "core/err.h"
#include "core/mem.h"
#include "ops/http.h"
#include "ops/metrics.h"
#include "serve/serve.h"

typedef enum fp_serve_role {
    FP_SERVE_NONE = 0,
    FP_SERVE_VIEWER = 1,   /* GET */
    FP_SERVE_OPERATOR = 2, /* GET and commands */
} fp_serve_role;

typedef struct fp_serve_token {
    char *token;
    char *name; /* who, for logs (never the token) */
    fp_serve_role role;
} fp_serve_token;

typedef struct fp_serve_live fp_serve_live;     /* live.c: Redis reads */
typedef struct fp_serve_stream fp_serve_stream; /* stream.c: change history and SSE */
typedef struct fp_serve_ddb fp_serve_ddb;       /* track.c: DynamoDB */
typedef struct fp_serve_pg fp_serve_pg;         /* reports.c: PostgreSQL */
typedef struct fp_serve_cmd fp_serve_cmd;       /* commands.c: MQTT out, Kafka answers */
typedef struct fp_serve_topics fp_serve_topics; /* topics.c: topic browser, pipeline */
typedef struct fp_serve_web fp_serve_web;       /* web.c: the web console's files */
typedef struct fp_serve_hooks fp_serve_hooks;   /* webhooks.c: registrations and delivery */

#define FP_SERVE_ROUTES_MAX 32

typedef struct fp_serve {
    fp_serve_opts o; /* resolved defaults; strings borrowed from the caller */
    fp_serve_token *tokens;
    size_t ntokens;
    fp_http *http;
    fp_serve_live *live;
    fp_serve_stream *stream;
    fp_serve_ddb *ddb;
    fp_serve_pg *pg;
    fp_serve_cmd *cmd;
    fp_serve_topics *topics;
    fp_serve_web *web;
    fp_serve_hooks *hooks;
    /* metrics: per route and status class */
    _Atomic uint64_t requests[FP_SERVE_ROUTES_MAX + 1][5]; /* [route][1xx..5xx] */
    fp_metrics_hist latency[FP_SERVE_ROUTES_MAX + 1];
} fp_serve;

/* One request, as a route sees it. */
typedef struct fp_serve_call {
    fp_serve *s;
    const fp_http_req *req;
    fp_http_resp *resp;
    char *arg[2];       /* path arguments ("{id}"), decoded, NUL-terminated */
    fp_serve_role role; /* the caller's */
    const char *who;    /* the token's name, "local" without tokens */
} fp_serve_call;

/* ---- answers */

/* {"error_code": status, "message": ...}: 400 for a bad parameter, 404, 403, ... */
void fp_serve_fail(fp_serve_call *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 503 {"error_code": 503, "message": "<backend>: <why>", "backend": "<backend>"}; why is err's
 * message, or "not configured" when err is NULL. */
void fp_serve_unavailable(fp_serve_call *c, const char *backend, const fp_err *err);

/* ---- parameters (each answers 400 naming the parameter and returns false when bad) */

/* The decoded value of query parameter name (percent escapes and '+'); false when absent. A
 * value that is not valid UTF-8 or holds NUL answers 400 and sets *bad. */
bool fp_serve_query(fp_serve_call *c, const char *name, fp_buf *out, bool *bad);
/* An integer parameter in [min, max]; absent: def. */
bool fp_serve_param_i64(fp_serve_call *c, const char *name, int64_t def, int64_t min, int64_t max,
                        int64_t *out);
/* An ISO-8601 time with offset or integer epoch ms; absent: *ms = def (required: 400). */
bool fp_serve_param_time(fp_serve_call *c, const char *name, bool required, int64_t def,
                         int64_t *ms);
/* c->arg[0] as a vehicle id: decimal digits, 1..2^53. */
bool fp_serve_vehicle_id(fp_serve_call *c, int64_t *id);
/* A comma-separated list of vehicle ids ("ids=1,2,3"), at most max of them; absent: *ids NULL,
 * *n 0. *ids is the caller's (free). */
bool fp_serve_param_ids(fp_serve_call *c, const char *name, size_t max, int64_t **ids, size_t *n);

/* ---- cursors: opaque to clients, checked on the way back in */

/* Appends the cursor of (kind, payload): hex of "<kind>:<payload>" and a check digit group, so a
 * truncated or edited cursor is refused instead of misread. */
void fp_serve_cursor_put(fp_buf *out, const char *kind, const char *payload, size_t n);
/* Decodes a cursor of kind into payload; false when it is not one (nothing answered). */
bool fp_serve_cursor_decode(const char *kind, const char *text, fp_buf *payload);
/* The same, answering 400 naming param when it is not one. */
bool fp_serve_cursor_get(fp_serve_call *c, const char *param, const char *kind, const char *text,
                         fp_buf *payload);

/* ---- backends: each _init leaves its pointer NULL when not configured */

fp_code fp_serve_live_init(fp_serve *s, fp_err *err);
void fp_serve_live_free(fp_serve *s);
/* Whether Redis answers; the reason otherwise. */
bool fp_serve_live_health(fp_serve *s, fp_buf *why);
fp_code fp_serve_stream_init(fp_serve *s, fp_err *err);
/* Stops the hub and ends every client's stream at once (at shutdown, before the HTTP server). */
void fp_serve_stream_halt(fp_serve *s);
void fp_serve_stream_free(fp_serve *s);
bool fp_serve_stream_health(fp_serve *s, fp_buf *why);
void fp_serve_stream_metrics(fp_serve *s, fp_metrics_out *m);
/* topics.c: Kafka metadata and readers, the connect worker and ops.dq_results for /pipeline;
 * NULL when none of --bootstrap-servers, --connect, --pg is given. */
fp_code fp_serve_topics_init(fp_serve *s, fp_err *err);
void fp_serve_topics_free(fp_serve *s);

/* ---- Redis connections (live.c): one fp_redis_pool for every route (redis/pool.h); put gives
 * one back, one whose err is set is closed instead. */
redisContext *fp_serve_redis_get(fp_serve *s, fp_err *err);
void fp_serve_redis_put(fp_serve *s, redisContext *c);
/* True while Redis seems to stall or fail (a failure in the last 10 s): its routes then leave
 * the HTTP pool's threads for threads of their own. */
bool fp_serve_redis_troubled(fp_serve *s);
/* A connection of its own, outside the pool (the stream hub's blocking XREAD). */
fp_code fp_serve_redis_open(fp_serve *s, int64_t command_ms, redisContext **out, fp_err *err);
/* "now" for offline: the wall clock, or (data_clock) the newest sample time seen. */
int64_t fp_serve_now_ms(fp_serve *s);
/* Tells the data clock about a sample time seen (stream.c, live.c). */
void fp_serve_saw_ts(fp_serve *s, int64_t ts);

/* Commands (commands.c): MQTT out, answers from Kafka, state in Redis. Left NULL without
 * --mqtt; FP_ERR_CONFIG when --mqtt is given without --bootstrap-servers. */
fp_code fp_serve_cmd_init(fp_serve *s, fp_err *err);
void fp_serve_cmd_free(fp_serve *s);
void fp_serve_cmd_metrics(fp_serve *s, fp_metrics_out *m);
fp_code fp_serve_ddb_init(fp_serve *s, fp_err *err);
void fp_serve_ddb_free(fp_serve *s);
fp_code fp_serve_pg_init(fp_serve *s, fp_err *err);
void fp_serve_pg_free(fp_serve *s);

/* For GET /vehicles/{id}: the newest 5-minute window of each cargo zone (among the vehicle's
 * 100 newest windows), as a JSON array of /aggregates' window objects appended to json_out.
 * FP_ERR_CONFIG "not configured" without DynamoDB; other codes: DynamoDB's error. */
fp_code fp_serve_ddb_latest_aggregates(fp_serve *s, int64_t id, fp_buf *json_out, fp_err *err);
/* For GET /vehicles/{id}: that vehicle's mart.vehicle_daily row of today (the local day of
 * now_ms in the fleet's time zone, o.timezone) as a JSON object, or null when there is none,
 * appended to json_out. FP_ERR_CONFIG "not configured" without PostgreSQL. */
fp_code fp_serve_pg_kpis(fp_serve *s, int64_t id, int64_t now_ms, fp_buf *json_out, fp_err *err);
/* For a vehicle's status: the failing data-quality checks that name vehicle id, appended to
 * out as members of a JSON array ({"kind":"check","check":..,"status":..,"interval_end":..});
 * nothing without a warehouse. Any thread; never waits for PostgreSQL. */
void fp_serve_pg_check_alarms(fp_serve *s, int64_t id, fp_buf *out);

/* ---- routes */

void fp_serve_vehicles(fp_serve_call *c);     /* GET /vehicles */
void fp_serve_vehicle(fp_serve_call *c);      /* GET /vehicles/{id} */
void fp_serve_feed(fp_serve_call *c);         /* GET /feed */
void fp_serve_sse(fp_serve_call *c);          /* GET /stream */
void fp_serve_openapi(fp_serve_call *c);      /* GET /openapi.json */
void fp_serve_command_post(fp_serve_call *c); /* POST /vehicles/{id}/commands */
void fp_serve_command_get(fp_serve_call *c);  /* GET /commands/{id} */

/* A Redis stream id "<ms>-<seq>" (stream.c): parsed from its text (false when it is not one),
 * and compared. */
typedef struct fp_serve_sid {
    uint64_t ms, seq;
} fp_serve_sid;
bool fp_serve_sid_parse(const char *text, fp_serve_sid *out);
int fp_serve_sid_cmp(fp_serve_sid a, fp_serve_sid b);

/* A change stream entry ([id, [field, value, ...]]): its 'd' value and *sid; NULL when it has
 * none. */
const redisReply *fp_serve_entry_data(const redisReply *e, const char **sid);
/* A change as the API gives it: {"cursor", "vehicle_id", "at", "fields"} from the sink's d. */
void fp_serve_put_change(fp_buf *b, const char *sid, const char *d, size_t n);

/* webhooks.c: POST/GET /webhooks, GET/DELETE /webhooks/{id}; delivery threads (_init starts
 * them; FP_ERR_CONFIG when the lease is not longer than an attempt can take). */
void fp_serve_webhook_post(fp_serve_call *c);
void fp_serve_webhook_list(fp_serve_call *c);
void fp_serve_webhook_get(fp_serve_call *c);
void fp_serve_webhook_delete(fp_serve_call *c);
fp_code fp_serve_hooks_init(fp_serve *s, fp_err *err);
void fp_serve_hooks_free(fp_serve *s);
void fp_serve_hooks_metrics(fp_serve *s, fp_metrics_out *m);

/* topics.c */
void fp_serve_topic_list(fp_serve_call *c);     /* GET /topics */
void fp_serve_topic_messages(fp_serve_call *c); /* GET /topics/{t}/messages */
void fp_serve_pipeline(fp_serve_call *c);       /* GET /pipeline */
/* track.c: GET /vehicles/{id}/track and /vehicles/{id}/aggregates (DynamoDB) */
void fp_serve_track(fp_serve_call *c);
void fp_serve_aggregates(fp_serve_call *c);
/* reports.c: GET /reports/vehicle-daily and /reports/reefer-daily (PostgreSQL) */
void fp_serve_report_vehicle(fp_serve_call *c);
void fp_serve_report_reefer(fp_serve_call *c);

/* The change stream's newest id ("0-0" when empty) into out, for a snapshot's cursor: taken
 * before the snapshot is read, so nothing between the two is missed. */
fp_code fp_serve_stream_head(fp_serve *s, fp_buf *out, fp_err *err);

#endif
