/* redis.c — the `redis` sink: live vehicle state in Redis, newest sample per field wins.
 *
 * One record is one EVALSHA of fp_redis_script (map.c), which decides server-side and atomically
 * which of the record's fields are newer than what the hash holds, writes those, moves the
 * vehicle in the geo set when its position won, and publishes the fields whose value changed.
 * Because "newer" is decided by sample time, never by arrival, the result does not depend on
 * the order records arrive in, and replaying a range rewrites nothing and publishes nothing:
 * the runtime's replay after RETRY is harmless, so put() can be synchronous and simple.
 *
 * put() pipelines: it appends up to redis.pipeline.depth commands, then reads their replies,
 * and returns only when every reply is in. So everything put() accepted is applied in Redis
 * (how durable that is, is Redis' persistence config), and uncommitted_from() is INT64_MAX.
 *
 * Connection: lazy, on open() or put(). A connection error or timeout frees the context and
 * answers RETRY (the runtime backs off and replays); the next attempt to connect waits a
 * backoff of its own (100 ms doubling to redis.reconnect.backoff.max.ms) so a dead server is
 * not hammered. At connect the sink AUTHs, SELECTs and SCRIPT LOADs; a NOSCRIPT reply (SCRIPT
 * FLUSH, a failover) reloads the script and resends from the first refused command. Error
 * replies that say "try later" (LOADING, BUSY, MASTERDOWN, READONLY, TRYAGAIN, OOM, max number
 * of clients reached) are RETRY,
 * every other one (WRONGTYPE, auth) is ERROR with the server's message.
 *
 * Threads and ownership: one instance per task thread, every callback on that thread; the
 * instance owns its hiredis context, its config and its scratch buffers. The password lives
 * only in the parsed URL and is never logged (messages name host:port/db only).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "connect/sink.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sink/redis/redis.h"

typedef struct rs_conf {
    char *url, *id_field, *ts_field, *key_prefix, *geo_key, *lat_field, *lng_field, *channel;
    char *stream_key, *index_key, *suffix;
    fp_strv fields;
    int64_t connect_timeout_ms, command_timeout_ms, backoff_max_ms, depth, stream_maxlen;
} rs_conf;

static const fp_conf_def rs_defs[] = {
    {"redis.url", FP_CONF_STRING, "redis://127.0.0.1:6379/0", offsetof(rs_conf, url),
     "redis://[[user]:password@]host[:port][/db]; the password is never logged", NULL, 0, 0},
    {"redis.id.field", FP_CONF_STRING, "id", offsetof(rs_conf, id_field),
     "top-level field naming the vehicle (string or number): hash <key.prefix><id>, geo member",
     NULL, 0, 0},
    {"redis.timestamp.field", FP_CONF_STRING, "timestamp_iso", offsetof(rs_conf, ts_field),
     "sample time: ISO-8601 with offset, or integer epoch ms; missing or bad: dead letter", NULL, 0,
     0},
    {"redis.fields", FP_CONF_LIST, "", offsetof(rs_conf, fields),
     "fields to keep; empty: every top-level field but the id and timestamp fields", NULL, 0, 0},
    {"redis.key.prefix", FP_CONF_STRING, "vehicle:", offsetof(rs_conf, key_prefix),
     "prefix of the per-vehicle hash", NULL, 0, 0},
    {"redis.geo.key", FP_CONF_STRING, "fleet:positions", offsetof(rs_conf, geo_key),
     "geo set of the newest positions (member = id); empty: off", NULL, 0, 0},
    {"redis.geo.lat.field", FP_CONF_STRING, "lat", offsetof(rs_conf, lat_field),
     "latitude field (-85.05112878..85.05112878, Redis' GEO limit; outside: dead letter)", NULL, 0,
     0},
    {"redis.geo.lng.field", FP_CONF_STRING, "lng", offsetof(rs_conf, lng_field),
     "longitude field (-180..180)", NULL, 0, 0},
    {"redis.channel", FP_CONF_STRING, "fleet:updates", offsetof(rs_conf, channel),
     "pub/sub channel: {\"id\":..,\"ts\":..,\"fields\":{changed}} when a value changed; empty: "
     "off",
     NULL, 0, 0},
    {"redis.stream", FP_CONF_STRING, "fleet:stream", offsetof(rs_conf, stream_key),
     "Redis stream of the same changes as the channel, kept for replay (fleetpipe serve's "
     "/stream and /feed resume from it); empty: off",
     NULL, 0, 0},
    {"redis.stream.maxlen", FP_CONF_INT, "200000", offsetof(rs_conf, stream_maxlen),
     "changes the stream keeps (XADD MAXLEN ~): the replay window is this over the change rate",
     NULL, 1, 100000000},
    {"redis.index.key", FP_CONF_STRING, "fleet:vehicles", offsetof(rs_conf, index_key),
     "sorted set of every id written (score = the id as a number), for paging; empty: off", NULL, 0,
     0},
    {"redis.field.suffix", FP_CONF_STRING, "", offsetof(rs_conf, suffix),
     "appended to every field name, from a field of the record that is then not stored: "
     "\".z${zone}\" keeps each cargo zone apart in one vehicle hash (temperature.z1)",
     NULL, 0, 0},
    {"redis.connect.timeout.ms", FP_CONF_MS, "5s", offsetof(rs_conf, connect_timeout_ms),
     "TCP connect timeout", NULL, 1, 3600000},
    {"redis.command.timeout.ms", FP_CONF_MS, "30s", offsetof(rs_conf, command_timeout_ms),
     "longest wait for a reply (socket read/write timeout); hitting it is a RETRY", NULL, 1,
     3600000},
    {"redis.reconnect.backoff.max.ms", FP_CONF_MS, "10s", offsetof(rs_conf, backoff_max_ms),
     "longest wait between connection attempts (starts at 100 ms, doubles)", NULL, 1, 3600000},
    {"redis.pipeline.depth", FP_CONF_INT, "256", offsetof(rs_conf, depth),
     "commands sent before their replies are read", NULL, 1, 100000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

typedef struct rsink {
    rs_conf c;
    const fp_sink_ctx *ctx;
    fp_redis_url url;
    fp_redis_map_conf mc;
    redisContext *rc;
    char sha[41];
    int64_t next_connect_mono; /* no connection attempt before this */
    int64_t backoff_ms;        /* current reconnect backoff; 0 after a good connection */
    bool connected_once;
    char last_err[512]; /* why the last connection attempt failed, for "not connected" */
    fp_redis_args args; /* one command being built */
    size_t *sent_bytes; /* per command of a round: for stats */
} rsink;

static void rs_destroy(void *sp);

static fp_code rs_create(fp_props *props, const fp_sink_ctx *ctx, void **out, fp_err *err)
{
    rsink *s = fp_xcalloc(1, sizeof *s);
    s->ctx = ctx;
    fp_code rc = fp_conf_apply(rs_defs, props, NULL, &s->c, err);
    if (!rc)
        rc = fp_redis_url_parse(s->c.url, &s->url, err);
    if (!rc) {
        s->mc = (fp_redis_map_conf){s->c.id_field,      s->c.ts_field,  &s->c.fields,
                                    s->c.key_prefix,    s->c.geo_key,   s->c.lat_field,
                                    s->c.lng_field,     s->c.channel,   s->c.stream_key,
                                    s->c.stream_maxlen, s->c.index_key, s->c.suffix};
        rc = fp_redis_map_conf_check(&s->mc, err);
    }
    if (rc) {
        rs_destroy(s);
        return rc;
    }
    *out = s;
    return FP_OK;
}

/* host:port/db, for messages (never the password). */
static const char *where(rsink *s, char *buf, size_t n)
{
    snprintf(buf, n, "redis %s:%d/%d", s->url.host, s->url.port, s->url.db);
    return buf;
}

static void disconnect(rsink *s)
{
    if (s->rc) {
        redisFree(s->rc);
        s->rc = NULL;
    }
}

/* Remembers why the connection was lost and delays the next attempt. */
static void backoff(rsink *s, const fp_err *err)
{
    snprintf(s->last_err, sizeof s->last_err, "%.480s", err ? err->msg : "");
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 100;
    if (s->backoff_ms > s->c.backoff_max_ms)
        s->backoff_ms = s->c.backoff_max_ms;
    s->next_connect_mono = fp_time_mono_ms() + s->backoff_ms;
}

/* Error replies that mean "not now": the server is loading, busy, read-only after a failover,
 * out of memory, out of client slots; everything else is permanent. */
static bool transient_reply(const char *msg)
{
    static const char *const codes[] = {"LOADING",  "BUSY",        "MASTERDOWN", "READONLY",
                                        "TRYAGAIN", "CLUSTERDOWN", "OOM",        NULL};
    for (size_t i = 0; codes[i]; i++) {
        size_t n = strlen(codes[i]);
        if (!strncmp(msg, codes[i], n) && (msg[n] == ' ' || msg[n] == '\0'))
            return true;
    }
    /* Refused at connect because every client slot is taken: one may free up. */
    return !strncmp(msg, "ERR max number of clients reached", 33);
}

/* Result of a command on a connection that failed: context freed, RETRY. */
static fp_sink_rc conn_failed(rsink *s, const char *what, fp_err *err)
{
    char w[300];
    fp_err_set(err, FP_ERR_IO, "%s: %s: %s", where(s, w, sizeof w), what,
               s->rc && s->rc->errstr[0] ? s->rc->errstr : "connection lost");
    disconnect(s);
    backoff(s, err);
    return FP_SINK_RETRY;
}

/* Runs one setup command (AUTH, SELECT, SCRIPT LOAD). On OK *reply is the reply (caller frees). */
static fp_sink_rc setup_cmd(rsink *s, const char *what, int argc, const char **argv,
                            redisReply **reply, fp_err *err)
{
    redisReply *r = redisCommandArgv(s->rc, argc, argv, NULL);
    if (!r)
        return conn_failed(s, what, err);
    if (r->type == REDIS_REPLY_ERROR) {
        char w[300];
        bool tr = transient_reply(r->str);
        fp_err_set(err, tr ? FP_ERR_IO : FP_ERR_CONFIG, "%s: %s: %s", where(s, w, sizeof w), what,
                   r->str);
        freeReplyObject(r);
        disconnect(s);
        backoff(s, err);
        return tr ? FP_SINK_RETRY : FP_SINK_ERROR;
    }
    if (reply)
        *reply = r;
    else
        freeReplyObject(r);
    return FP_SINK_OK;
}

static fp_sink_rc load_script(rsink *s, fp_err *err)
{
    const char *argv[] = {"SCRIPT", "LOAD", fp_redis_script};
    redisReply *r = NULL;
    fp_sink_rc src = setup_cmd(s, "SCRIPT LOAD", 3, argv, &r, err);
    if (src)
        return src;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        freeReplyObject(r);
        char w[300];
        fp_err_set(err, FP_ERR_INTERNAL, "%s: SCRIPT LOAD: unexpected reply",
                   where(s, w, sizeof w));
        return FP_SINK_ERROR;
    }
    memcpy(s->sha, r->str, 40);
    s->sha[40] = '\0';
    freeReplyObject(r);
    return FP_SINK_OK;
}

/* Connects when not connected and the backoff allows; OK means s->rc is usable. */
static fp_sink_rc ensure_connected(rsink *s, fp_err *err)
{
    if (s->rc)
        return FP_SINK_OK;
    char w[300];
    int64_t now = fp_time_mono_ms();
    if (now < s->next_connect_mono) {
        fp_err_set(err, FP_ERR_IO, "not connected; next attempt in %" PRId64 " ms (last error: %s)",
                   s->next_connect_mono - now, s->last_err);
        return FP_SINK_RETRY;
    }
    struct timeval ct = {s->c.connect_timeout_ms / 1000, (s->c.connect_timeout_ms % 1000) * 1000};
    s->rc = redisConnectWithTimeout(s->url.host, s->url.port, ct);
    if (!s->rc || s->rc->err)
        return conn_failed(s, "connect", err);
    struct timeval tt = {s->c.command_timeout_ms / 1000, (s->c.command_timeout_ms % 1000) * 1000};
    if (redisSetTimeout(s->rc, tt) != REDIS_OK || redisEnableKeepAlive(s->rc) != REDIS_OK)
        return conn_failed(s, "socket options", err);
    fp_sink_rc src = FP_SINK_OK;
    if (s->url.password) {
        const char *argv[] = {"AUTH", s->url.user ? s->url.user : s->url.password, s->url.password};
        src = setup_cmd(s, "AUTH", s->url.user ? 3 : 2, argv, NULL, err);
    }
    if (!src && s->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", s->url.db);
        const char *argv[] = {"SELECT", db};
        src = setup_cmd(s, "SELECT", 2, argv, NULL, err);
    }
    if (!src)
        src = load_script(s, err);
    if (src)
        return src;
    fp_log(FP_LOG_INFO, s->ctx->connector, s->ctx->task, "%s: connected%s, script %s",
           where(s, w, sizeof w), s->connected_once ? " again" : "", s->sha);
    s->connected_once = true;
    s->backoff_ms = 0;
    return FP_SINK_OK;
}

static fp_sink_rc rs_open(void *sp, const char *topic, int32_t partition, fp_err *err)
{
    rsink *s = sp;
    /* Connecting here finds a dead server or bad credentials before anything is consumed:
     * RETRY (the runtime backs off) or ERROR (auth: the task goes FAILED). */
    return ensure_connected(s, err);
}

static void rs_close(void *sp, const char *topic, int32_t partition)
{
    /* Nothing is held per partition: put() returns only when Redis has applied everything. */
}

static fp_code rs_check(void *sp, fp_sink_rec *r, fp_err *err)
{
    rsink *s = sp;
    return fp_redis_map(&s->mc, r->value, r->len, NULL, &r->sink_ts, err);
}

/* Appends the EVALSHA of record r; its size goes to *bytes. */
static fp_sink_rc append_record(rsink *s, const fp_sink_rec *r, size_t *bytes, fp_err *err)
{
    fp_redis_args *a = &s->args;
    fp_redis_args_reset(a);
    fp_redis_args_add(a, "EVALSHA", 7);
    fp_redis_args_add(a, s->sha, 40);
    int64_t ts;
    fp_code rc = fp_redis_map(&s->mc, r->value, r->len, a, &ts, err);
    if (rc) {
        /* check() accepted it, so this is a broken invariant, not bad input */
        fp_err_prefix(err, "record at %s/%" PRId32 "@%" PRId64, r->topic, r->partition, r->offset);
        return FP_SINK_ERROR;
    }
    fp_redis_args_seal(a);
    if (redisAppendCommandArgv(s->rc, (int)a->n, a->argv, a->argvlen) != REDIS_OK)
        return conn_failed(s, "append", err);
    *bytes = a->buf.len;
    return FP_SINK_OK;
}

/* One pipelined round over recs[0..n): append all, read all. *done gets how many records are
 * applied (a prefix); on NOSCRIPT it stops there with OK so the caller reloads and resends. */
static fp_sink_rc round_trip(rsink *s, const fp_sink_rec *recs, size_t n, size_t *done,
                             bool *noscript, fp_err *err)
{
    *done = 0;
    *noscript = false;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = 0;
        fp_sink_rc src = append_record(s, &recs[i], &b, err);
        if (src) {
            if (s->rc) /* a half-sent pipeline leaves the connection unusable */
                disconnect(s);
            return src;
        }
        s->sent_bytes[i] = b;
    }
    fp_sink_rc out = FP_SINK_OK;
    size_t first_noscript = n, applied = 0;
    for (size_t i = 0; i < n; i++) {
        void *rp = NULL;
        if (redisGetReply(s->rc, &rp) != REDIS_OK || !rp)
            return conn_failed(s, "reply", err);
        redisReply *r = rp;
        if (r->type == REDIS_REPLY_ERROR && out == FP_SINK_OK) {
            if (!strncmp(r->str, "NOSCRIPT", 8)) {
                if (first_noscript == n)
                    first_noscript = i;
            } else {
                char w[300];
                bool tr = transient_reply(r->str);
                fp_err_set(err, tr ? FP_ERR_IO : FP_ERR_INVALID,
                           "%s: record at %s/%" PRId32 "@%" PRId64 ": %s", where(s, w, sizeof w),
                           recs[i].topic, recs[i].partition, recs[i].offset, r->str);
                out = tr ? FP_SINK_RETRY : FP_SINK_ERROR;
            }
        }
        if (r->type != REDIS_REPLY_ERROR && first_noscript == n) {
            bytes += s->sent_bytes[i];
            applied++;
        }
        freeReplyObject(r);
    }
    atomic_fetch_add(&s->ctx->stats->objects, 1);
    atomic_fetch_add(&s->ctx->stats->bytes, bytes);
    atomic_fetch_add(&s->ctx->stats->records, applied);
    *done = first_noscript;
    *noscript = first_noscript < n;
    return out;
}

static fp_sink_rc rs_put(void *sp, fp_sink_rec *recs, size_t n, fp_err *err)
{
    rsink *s = sp;
    size_t depth = (size_t)s->c.depth;
    if (!s->sent_bytes)
        s->sent_bytes = fp_xmalloc(depth * sizeof *s->sent_bytes);
    size_t i = 0;
    int reloads = 0;
    while (i < n) {
        fp_sink_rc src = ensure_connected(s, err);
        if (src)
            return src;
        size_t m = n - i < depth ? n - i : depth, done = 0;
        bool noscript = false;
        src = round_trip(s, recs + i, m, &done, &noscript, err);
        if (src)
            return src;
        i += done;
        if (!noscript)
            continue;
        /* The server lost the script (SCRIPT FLUSH, a restart behind a proxy): load it again
         * and resend from the first refused command; commands after it that succeeded are
         * resent too, which is harmless (idempotent) and keeps the order of application. */
        char w[300];
        if (++reloads > 3) {
            fp_err_set(err, FP_ERR_IO, "%s: NOSCRIPT after reloading the script 3 times",
                       where(s, w, sizeof w));
            disconnect(s);
            backoff(s, err);
            return FP_SINK_RETRY;
        }
        fp_log(FP_LOG_INFO, s->ctx->connector, s->ctx->task, "%s: NOSCRIPT, loading the script",
               where(s, w, sizeof w));
        src = load_script(s, err);
        if (src)
            return src;
    }
    return FP_SINK_OK;
}

static fp_sink_rc rs_flush(void *sp, int64_t now_ms, bool closing, fp_err *err)
{
    return FP_SINK_OK;
}

static int64_t rs_uncommitted_from(void *sp, const char *topic, int32_t partition)
{
    return INT64_MAX;
}

static void rs_destroy(void *sp)
{
    rsink *s = sp;
    if (!s)
        return;
    disconnect(s);
    fp_redis_url_free(&s->url);
    fp_redis_args_free(&s->args);
    free(s->sent_bytes);
    fp_conf_free(rs_defs, &s->c);
    free(s);
}

static const char *const rs_aliases[] = {"io.fleetpipe.connect.RedisSinkConnector", NULL};

const fp_sink_plugin fp_sink_redis = {
    "redis",
    rs_aliases,
    "live vehicle state: newest value per field in a hash, positions in a geo set, changes "
    "published",
    rs_defs,
    "  Hash <redis.key.prefix><id>: <field> = newest value (strings unescaped, numbers as their\n"
    "  JSON text, true/false, objects/arrays as compact JSON; null skipped), <field>:ts = its\n"
    "  sample time in epoch ms, ts = the newest sample time. A Lua script decides per field,\n"
    "  server-side: an older sample never overwrites a newer one, of two with an equal time the\n"
    "  greater value (byte order) wins, so arrival order does not matter and a replay changes\n"
    "  and publishes nothing. GEOADD when the\n"
    "  position fields win; PUBLISH only the fields whose value changed.",
    rs_create,
    rs_open,
    rs_check,
    rs_put,
    rs_flush,
    rs_uncommitted_from,
    rs_close,
    rs_destroy,
    NULL,  /* commit_metadata */
    NULL,  /* restore */
    NULL,  /* hold */
    NULL,  /* raw */
    false, /* members */
};
