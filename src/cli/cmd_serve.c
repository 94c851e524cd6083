/* cmd_serve.c — `fleetpipe serve`: the Fleet API (src/serve). Flags, then fp_serve_run() until
 * SIGINT/SIGTERM. With --ready-file the bound address is written once the server listens. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "serve/serve.h"

typedef struct serve_cli_opts {
    char *listen, *tokens, *redis, *ready_file, *clock, *timezone;
    char *dynamodb_endpoint, *dynamodb_table, *region, *pg, *bootstrap, *mqtt, *mqtt_user,
        *mqtt_password_file, *connect, *web_dir, *stage_metrics;
    int64_t offline_after_ms, heartbeat_ms, ring, client_lag, command_timeout_ms,
        backend_timeout_ms, check_alarms_every_ms, check_alarms_within_ms;
    int64_t cmd_token_burst, cmd_token_rate, cmd_vehicle_burst, cmd_vehicle_rate;
    int64_t webhooks_max, wh_batch_events, wh_batch_bytes, wh_connect_ms, wh_timeout_ms,
        wh_lease_ms, wh_backoff_base_ms, wh_backoff_max_ms;
} serve_cli_opts;

static const fp_conf_def serve_flags[] = {
    {"listen", FP_CONF_STRING, "127.0.0.1:8090", offsetof(serve_cli_opts, listen),
     "address to serve on (\":0\" picks a free port); beyond loopback only with --tokens", NULL, 0,
     0},
    {"tokens", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, tokens),
     "bearer tokens file: \"<token> viewer|operator [name]\" per line", NULL, 0, 0},
    {"ready-file", FP_CONF_STRING, "", offsetof(serve_cli_opts, ready_file),
     "write http://HOST:PORT here once listening (atomically; removed on a clean stop)", NULL, 0,
     0},
    {"redis", FP_CONF_STRING, "redis://127.0.0.1:6379/0", offsetof(serve_cli_opts, redis),
     "live state: the redis sink's hashes, index and change stream", NULL, 0, 0},
    {"offline-after", FP_CONF_MS, "10m", offsetof(serve_cli_opts, offline_after_ms),
     "a vehicle with no sample this long is offline", NULL, 1000, 86400000LL * 30},
    {"clock", FP_CONF_ENUM, "wall", offsetof(serve_cli_opts, clock),
     "\"now\" for offline: the wall clock, or the newest sample time seen (replayed fleets)",
     "wall|data", 0, 0},
    {"heartbeat", FP_CONF_MS, "15s", offsetof(serve_cli_opts, heartbeat_ms),
     "event stream heartbeat (below the server's 30 s idle timeout)", NULL, 100, 25000},
    {"stream-ring", FP_CONF_INT, "65536", offsetof(serve_cli_opts, ring),
     "recent changes kept in memory for the event stream's fan-out", NULL, 64, 10000000},
    {"stream-client-lag", FP_CONF_INT, "16384", offsetof(serve_cli_opts, client_lag),
     "changes a stream client may fall behind before it is closed (it resumes with "
     "Last-Event-ID)",
     NULL, 16, 5000000},
    {"dynamodb-endpoint", FP_CONF_STRING, "", offsetof(serve_cli_opts, dynamodb_endpoint),
     "DynamoDB endpoint (dynalite: http://127.0.0.1:PORT); empty: AWS' own for --region", NULL, 0,
     0},
    {"dynamodb-table", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, dynamodb_table),
     "the single table (tracks, 5-minute aggregates); absent: those endpoints answer 503", NULL, 0,
     0},
    {"region", FP_CONF_STRING, "us-east-1", offsetof(serve_cli_opts, region), "AWS region", NULL, 0,
     0},
    {"pg", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, pg),
     "libpq conninfo of the warehouse (reports, KPIs, check results)", NULL, 0, 0},
    {"check-alarms-every", FP_CONF_MS, "30s", offsetof(serve_cli_opts, check_alarms_every_ms),
     "how often the vehicles of failing data-quality checks are read (status alarm)", NULL, 1000,
     3600000},
    {"check-alarms-within", FP_CONF_MS, "36h", offsetof(serve_cli_opts, check_alarms_within_ms),
     "a check's newest interval raises alarms while it ended at most this long ago", NULL, 60000,
     86400000LL * 30},
    {"timezone", FP_CONF_STRING, "Asia/Seoul", offsetof(serve_cli_opts, timezone),
     "the fleet's time zone (the marts' params.timezone): today's KPIs are that local day's", NULL,
     0, 0},
    {"bootstrap-servers", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, bootstrap),
     "Kafka: command answers and the topic browser", NULL, 0, 0},
    {"mqtt", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, mqtt),
     "mqtt://host:port to send device commands", NULL, 0, 0},
    {"mqtt-user", FP_CONF_STRING, "fleetpipe-api", offsetof(serve_cli_opts, mqtt_user),
     "MQTT account for commands (its ACL: write fms/+/cmd only)", NULL, 0, 0},
    {"mqtt-password-file", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, mqtt_password_file),
     "file whose first line is that account's password", NULL, 0, 0},
    {"connect", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, connect),
     "a connect worker's REST API (http://127.0.0.1:8083) for /pipeline", NULL, 0, 0},
    {"stage-metrics", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, stage_metrics),
     "NAME=URL,... of other parts' /metrics (bridge, lake watch, scheduler): /pipeline shows "
     "their counters",
     NULL, 0, 0},
    {"command-timeout", FP_CONF_MS, "2m", offsetof(serve_cli_opts, command_timeout_ms),
     "a command with no answer this long is \"timeout\"", NULL, 100, 86400000},
    {"command-token-burst", FP_CONF_INT, "20", offsetof(serve_cli_opts, cmd_token_burst),
     "commands one token (by its name) may send at once", NULL, 1, 1000000},
    {"command-token-rate", FP_CONF_INT, "60", offsetof(serve_cli_opts, cmd_token_rate),
     "commands per minute one token's allowance refills by", NULL, 1, 6000000},
    {"command-vehicle-burst", FP_CONF_INT, "5", offsetof(serve_cli_opts, cmd_vehicle_burst),
     "commands one vehicle may receive at once", NULL, 1, 1000000},
    {"command-vehicle-rate", FP_CONF_INT, "6", offsetof(serve_cli_opts, cmd_vehicle_rate),
     "commands per minute one vehicle's allowance refills by", NULL, 1, 6000000},
    {"web-dir", FP_CONF_OPTSTRING, NULL, offsetof(serve_cli_opts, web_dir),
     "serve the web console from this directory (index.html, assets/; e.g. web/dist) instead of "
     "the copy compiled into the binary",
     NULL, 0, 0},
    {"backend-timeout", FP_CONF_MS, "5s", offsetof(serve_cli_opts, backend_timeout_ms),
     "longest DynamoDB request, PostgreSQL statement or wait for a pooled connection (then 503)",
     NULL, 100, 600000},
    {"webhooks-max", FP_CONF_INT, "100", offsetof(serve_cli_opts, webhooks_max),
     "webhooks that may be registered (POST /api/v1/webhooks beyond it: 400)", NULL, 1, 10000},
    {"webhook-batch-events", FP_CONF_INT, "100", offsetof(serve_cli_opts, wh_batch_events),
     "changes in one webhook delivery at most", NULL, 1, 10000},
    {"webhook-batch-bytes", FP_CONF_INT, "262144", offsetof(serve_cli_opts, wh_batch_bytes),
     "bytes of JSON in one webhook delivery at most (a bigger single change goes alone)", NULL,
     1024, 16777216},
    {"webhook-connect-timeout", FP_CONF_MS, "5s", offsetof(serve_cli_opts, wh_connect_ms),
     "longest TCP/TLS connect to a webhook receiver", NULL, 100, 60000},
    {"webhook-timeout", FP_CONF_MS, "10s", offsetof(serve_cli_opts, wh_timeout_ms),
     "longest wait for a receiver's answer after connecting (then: a failed attempt)", NULL, 100,
     300000},
    {"webhook-lease", FP_CONF_MS, "30s", offsetof(serve_cli_opts, wh_lease_ms),
     "how long an instance holds a webhook without renewing (then another takes it over); "
     "above connect + response timeout + 1 s",
     NULL, 1000, 3600000},
    {"webhook-backoff", FP_CONF_MS, "1s", offsetof(serve_cli_opts, wh_backoff_base_ms),
     "first retry delay of a failed delivery (doubling, full jitter)", NULL, 10, 3600000},
    {"webhook-backoff-max", FP_CONF_MS, "5m", offsetof(serve_cli_opts, wh_backoff_max_ms),
     "longest retry delay of a failed delivery", NULL, 10, 86400000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

typedef struct ready {
    const char *file;
    int failed;
} ready;

static void on_ready(void *ctx, int port)
{
    ready *r = ctx;
    char line[64];
    snprintf(line, sizeof line, "http://127.0.0.1:%d", port);
    fprintf(stderr,
            "fleetpipe serve: Fleet API at %s/api/v1 (OpenAPI: /api/v1/openapi.json), web console "
            "at %s/\n",
            line, line);
    fp_err err = {0};
    if (r->file[0] && fp_cli_ready_file("--ready-file", r->file, line, &err)) {
        fprintf(stderr, "fleetpipe serve: %s\n", err.msg);
        r->failed = 1;
        fp_stop_request(fp_sig_token());
    }
}

static int run(const fp_cmd *cmd, void *opts)
{
    serve_cli_opts *c = opts;
    fp_sig_install();
    ready r = {c->ready_file, 0};
    fp_serve_opts o = {
        .listen = c->listen,
        .tokens_file = c->tokens,
        .redis_url = c->redis,
        .offline_after_ms = c->offline_after_ms,
        .data_clock = !strcmp(c->clock, "data"),
        .heartbeat_ms = c->heartbeat_ms,
        .ring_events = (size_t)c->ring,
        .client_lag_max = (size_t)c->client_lag,
        .dynamodb_endpoint = c->dynamodb_endpoint,
        .dynamodb_table = c->dynamodb_table,
        .region = c->region,
        .pg = c->pg,
        .check_alarms_every_ms = c->check_alarms_every_ms,
        .check_alarms_within_ms = c->check_alarms_within_ms,
        .timezone = c->timezone,
        .bootstrap = c->bootstrap,
        .mqtt_url = c->mqtt,
        .mqtt_user = c->mqtt_user,
        .mqtt_password_file = c->mqtt_password_file,
        .connect_url = c->connect,
        .stage_metrics = c->stage_metrics,
        .web_dir = c->web_dir,
        .command_timeout_ms = c->command_timeout_ms,
        .command_token_burst = c->cmd_token_burst,
        .command_token_per_min = c->cmd_token_rate,
        .command_vehicle_burst = c->cmd_vehicle_burst,
        .command_vehicle_per_min = c->cmd_vehicle_rate,
        .backend_timeout_ms = c->backend_timeout_ms,
        .webhooks_max = (unsigned)c->webhooks_max,
        .webhook_batch_events = (unsigned)c->wh_batch_events,
        .webhook_batch_bytes = (size_t)c->wh_batch_bytes,
        .webhook_connect_timeout_ms = c->wh_connect_ms,
        .webhook_timeout_ms = c->wh_timeout_ms,
        .webhook_lease_ms = c->wh_lease_ms,
        .webhook_backoff_base_ms = c->wh_backoff_base_ms,
        .webhook_backoff_max_ms = c->wh_backoff_max_ms,
        .stop = fp_sig_token(),
        .on_ready = on_ready,
        .ready_ctx = &r,
    };
    fp_err err = {0};
    fp_code rc = fp_serve_run(&o, &err);
    if (c->ready_file[0])
        remove(c->ready_file);
    if (rc)
        return fp_cli_fail(cmd, &err);
    return r.failed;
}

const fp_cmd fp_cmd_serve = {
    "serve",
    "the Fleet API: live state, tracks, aggregates, reports, commands, feed and event stream",
    "usage: fleetpipe serve [--listen 127.0.0.1:8090] [--tokens FILE] [--redis URL]\n"
    "                       [--dynamodb-table fms --dynamodb-endpoint URL] [--pg CONNINFO]\n"
    "                       [--bootstrap-servers BS] [--mqtt URL --mqtt-password-file F]\n"
    "                       [--connect URL] [--ready-file F] [--command-timeout 2m]\n"
    "                       [--web-dir DIR]\n\n"
    "Serves /api/v1 (JSON; the OpenAPI 3 document at /api/v1/openapi.json), /metrics and\n"
    "/healthz: GET /vehicles, /vehicles/{id}, /feed and /stream (Server-Sent Events, resumable\n"
    "with Last-Event-ID) from Redis as the redis sink writes it "
    "(config/connectors/redis-live*.json);\n"
    "/vehicles/{id}/track and /aggregates from DynamoDB; /reports/vehicle-daily and\n"
    "/reports/reefer-daily from PostgreSQL; POST /vehicles/{id}/commands and GET /commands/{id}\n"
    "over MQTT and Kafka; /topics, /topics/{t}/messages and /pipeline. Every backend but Redis is\n"
    "optional: its endpoints answer 503 naming it while the rest keep working. Without --tokens\n"
    "it serves loopback only, every caller an operator. GET /api/v1/whoami tells a token's name\n"
    "and role, the fleet's time zone and status rules.\n\n"
    "Webhooks: POST /api/v1/webhooks {url, eventTypes, secret?} (operators) registers a\n"
    "receiver; every vehicle change (vehicle.state_changed) and command transition\n"
    "(command.state_changed) is POSTed to it in signed JSON batches, at least once and in\n"
    "order, resumed from a cursor kept in Redis; one instance delivers each webhook at a\n"
    "time (a lease in Redis). GET /api/v1/webhooks[/{id}] shows delivery status, DELETE removes\n"
    "one. Signature: X-Fleetpipe-Signature: v1=hex(HMAC-SHA256(secret, timestamp \".\" body))\n"
    "with timestamp = X-Fleetpipe-Timestamp. See docs/serve-webhooks.md.\n\n"
    "The web console (a live fleet map, vehicle detail with charts and commands, the pipeline\n"
    "and its topics) is served at / from the files compiled into the binary (web/dist at build\n"
    "time; scripts/setup.sh builds them), or from --web-dir DIR. Without them / answers 503\n"
    "saying how to build them, and the API keeps working. Open http://127.0.0.1:8090/ and give a\n"
    "token of --tokens (kept in the page's memory only). See docs/serve.md and docs/web.md.",
    serve_flags,
    sizeof(serve_cli_opts),
    run,
};
