/* serve.h — `fleetpipe serve`: the Fleet API over HTTP (/api/v1) for fleet applications and the
 * web console: live state from Redis, tracks and 5-minute aggregates from DynamoDB, the marts
 * from PostgreSQL, device commands over MQTT with their answers from Kafka, a cursor feed and a
 * resumable Server-Sent Event stream, and a read-only view of the pipeline and its topics.
 *
 * The one thing to know: the server keeps no state a second instance would lack. Live state is
 * Redis' (the redis sink's hashes and index), the change history is the Redis stream the sink
 * appends to, so a feed cursor or a Last-Event-ID given to one instance is valid at any other.
 * Each backend is optional: an endpoint whose backend is not configured or not reachable
 * answers 503 naming it, and every other endpoint keeps working.
 *
 * Threads: fp_serve_run() blocks on the caller's thread until o->stop is requested; requests run
 * on their connections' threads (one per connection, so an event stream may wait).
 */
#ifndef FP_SERVE_SERVE_H
#define FP_SERVE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/stop.h"

typedef struct fp_serve_opts {
    const char *listen;      /* "127.0.0.1:8090" by default */
    const char *tokens_file; /* "<token> <viewer|operator> [name]" lines; NULL: no tokens, and
                                then listen must be a loopback address */
    /* Live state, as the redis sink writes it (its defaults when NULL). */
    const char *redis_url;     /* redis://127.0.0.1:6379/0 */
    const char *key_prefix;    /* vehicle: */
    const char *index_key;     /* fleet:vehicles */
    const char *stream_key;    /* fleet:stream */
    const char *agg_prefix;    /* agg5m: (the 5-minute windows' live hashes) */
    int64_t offline_after_ms;  /* no sample this long: offline (default 10 min) */
    bool data_clock;           /* "now" is the newest sample time seen, not the wall clock: for
                                  replayed or accelerated fleets */
    double moving_kmh;         /* default 1 */
    double reefer_tolerance_c; /* |temperature - setpoint| above it: alarm (default 2) */
    double battery_low_v;      /* battery_voltage below it: alarm (default 11.5) */
    /* Event stream. */
    int64_t heartbeat_ms;     /* default 15 s */
    size_t ring_events;       /* recent changes kept in memory for fan-out (default 65536) */
    size_t client_lag_max;    /* changes a client may fall behind before it is closed with a
                                 resumable id (default 16384, at most ring_events / 2) */
    unsigned max_connections; /* default 1024 */
    /* Other backends; NULL: that part answers 503 "not configured". */
    const char *dynamodb_endpoint; /* e.g. http://127.0.0.1:4567; "" or NULL: AWS' own */
    const char *dynamodb_table;    /* the single table, e.g. fms; NULL: off */
    const char *region;            /* default us-east-1 */
    const char *pg;                /* libpq conninfo of the warehouse */
    /* Alarms from the data-quality checks (ops.dq_results' vehicles): refreshed this often
     * (default 30 s), from each check's newest interval when it ended at most this long before
     * now (default 36 h). */
    int64_t check_alarms_every_ms, check_alarms_within_ms;
    const char *timezone;  /* the fleet's zone, for "today" (default Asia/Seoul) */
    const char *bootstrap; /* Kafka: command answers, the topic browser */
    const char *mqtt_url;  /* mqtt://host:port for commands */
    const char *mqtt_user; /* the API's account (ACL: write fms/+/cmd only) */
    const char *mqtt_password_file;
    const char *connect_url;    /* a connect worker's REST API, for /pipeline */
    const char *stage_metrics;  /* "name=URL,..." of other parts' /metrics (bridge, lake watch,
                                   scheduler), whose counters /pipeline shows; NULL: none */
    const char *web_dir;        /* the web console's files (index.html, assets/) read from here at
                                   start-up; NULL: the ones compiled into the binary */
    int64_t command_timeout_ms; /* no answer this long: "timeout" (default 2 min) */
    /* Command rate limits, token buckets kept in Redis (shared by every instance): per token
     * name and per vehicle, a burst and a refill per minute (defaults 20 and 60; 5 and 6). */
    int64_t command_token_burst, command_token_per_min;
    int64_t command_vehicle_burst, command_vehicle_per_min;
    int64_t backend_timeout_ms; /* DynamoDB request, PostgreSQL statement and the wait for a
                                   pooled connection: each at most this long (default 5 s) */
    /* Webhooks (webhooks.c): at most webhooks_max registered (default 100); a batch holds at
     * most webhook_batch_events changes (default 100) and about webhook_batch_bytes of JSON
     * (default 256 KiB; one bigger change goes alone); each attempt may take connect + response
     * timeout (defaults 5 s and 10 s); retries back off from base to max (defaults 1 s, 5 min)
     * with full jitter; the lease one instance holds a webhook by lasts webhook_lease_ms
     * (default 30 s) and must be longer than an attempt. */
    unsigned webhooks_max, webhook_batch_events;
    size_t webhook_batch_bytes;
    int64_t webhook_connect_timeout_ms, webhook_timeout_ms, webhook_lease_ms;
    int64_t webhook_backoff_base_ms, webhook_backoff_max_ms;
    const fp_stop *stop;
    /* Called once the server listens, with the port bound (listen may say ":0"). */
    void (*on_ready)(void *ctx, int port);
    void *ready_ctx;
} fp_serve_opts;

/* Serves until o->stop is requested. FP_ERR_CONFIG for bad options (a tokens file that does not
 * parse, no tokens on a non-loopback address), FP_ERR_IO when it cannot listen. A backend that is
 * down is not an error here: it is retried per request and reported by /healthz. */
fp_code fp_serve_run(const fp_serve_opts *o, fp_err *err);

#endif
