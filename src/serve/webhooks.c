/* webhooks.c — outgoing webhooks: POST /api/v1/webhooks registers a URL for event types, and
 * every entry of the change stream (the redis sink's vehicle changes, and the command
 * transitions commands.c appends) is POSTed to it in signed JSON batches.
 *
 * The one thing to know: the backlog is the Redis change stream itself and a webhook's only
 * state is a Redis hash (fleet:wh:<id>) holding its cursor, the last stream id a receiver
 * acknowledged with a 2xx. A batch is the entries after the cursor; the cursor moves only after
 * a 2xx, so delivery is at least once and in stream order, it resumes at any instance after a
 * crash, and a receiver that is down costs Redis nothing extra and this process one batch. Which
 * instance delivers a webhook is decided by a lease (fleet:wh:<id>:lease, SET NX PX, renewed
 * before every attempt and while waiting); every write of delivery state is a Lua script that
 * first checks the lease is still ours (a fence), so an instance that lost its lease cannot move
 * the cursor. The lease outlives the longest attempt (connect + response timeout), so two
 * instances never have a request to the same webhook in flight at once. When the stream was
 * trimmed past the cursor, the next batch starts with a `webhook.gap` event naming the lost range
 * and its exact size (entries are numbered by XINFO STREAM's entries-added, and the cursor keeps
 * its entry's number; see take_snapshot) instead of skipping it silently.
 *
 * Threads: routes run on request threads (Redis through the pool); one scheduler thread per
 * instance takes free leases; one worker thread per webhook this instance holds (at most
 * webhooks_max), each with its own Redis connection and curl handle.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "serve/serve_int.h"

#define WH_PREFIX "fleet:wh:"
#define WH_INDEX "fleet:wh:index"
#define URL_MAX 2048
#define NAME_MAX_LEN 200
#define SECRET_MIN 16
#define SECRET_MAX 128
#define TYPES_MAX 8
#define BLOCK_MS 1000

/* Event types a webhook may ask for; webhook.gap is always delivered. */
static const char *const event_types[] = {"vehicle.state_changed", "command.state_changed"};
#define NTYPES (sizeof event_types / sizeof event_types[0])

typedef fp_serve_sid sid;

typedef struct worker {
    struct fp_serve_hooks *hk;
    char id[40];
    pthread_t th;
    atomic_bool done;
    _Atomic uint64_t deliveries, failures, events, gaps;
    _Atomic uint64_t pending_ms; /* the oldest unacknowledged change's time, 0 when none */
    struct worker *next;
} worker;

typedef struct fp_serve_hooks {
    fp_serve *s;
    char instance[80]; /* this instance's lease value: host:pid:random */
    fp_stop stop;
    pthread_t sched;
    bool started;
    pthread_mutex_t mu; /* guards workers */
    worker *workers;
    _Atomic uint64_t owned, acquired, lost, deliveries, failures, events, gaps;
} fp_serve_hooks;

/* ---------------------------------------------------------------- Lua */

#define LUA_NOW                                                                                    \
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + "                            \
    "math.floor(tonumber(t[2]) / 1000) "

/* KEYS[1] index, KEYS[2] hash; ARGV[1] the cap, ARGV[2] id, then field/value pairs.
 * -1: at the cap; 0: the id exists; else Redis' now. */
static const char lua_create[] =
    LUA_NOW "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end "
            "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end "
            "redis.call('HSET', KEYS[2], 'created_ms', now, unpack(ARGV, 3)) "
            "redis.call('ZADD', KEYS[1], now, ARGV[2]) return now";

/* KEYS[1] index, KEYS[2] hash, KEYS[3] lease; ARGV[1] id. 1 deleted, 0 unknown. */
static const char lua_delete[] = "local n = redis.call('DEL', KEYS[2]) "
                                 "redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('DEL', KEYS[3]) "
                                 "return n";

/* KEYS[1] lease; ARGV[1] our value, ARGV[2] ms. 1 taken (free, or ours already), 0 not. */
static const char lua_acquire[] = "local v = redis.call('GET', KEYS[1]) "
                                  "if v and v ~= ARGV[1] then return 0 end "
                                  "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";

/* KEYS[1] lease; ARGV[1] our value, ARGV[2] ms. 1 renewed, 0 not ours. */
static const char lua_renew[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

/* KEYS[1] lease, KEYS[2] hash; ARGV[1] our value, ARGV[2] new cursor, ARGV[3] events,
 * ARGV[4] delivery id, ARGV[5] gaps, ARGV[6] the cursor's entry number. 1 advanced; 0 the lease is
 * not ours; -1 deleted. */
static const char lua_advance[] =
    LUA_NOW "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
            "if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end "
            "redis.call('HSET', KEYS[2], 'cursor', ARGV[2], 'last_success_ms', now, "
            "'consecutive_failures', 0, 'last_delivery_id', ARGV[4], 'cursor_seq', ARGV[6]) "
            "redis.call('HINCRBY', KEYS[2], 'events_delivered', ARGV[3]) "
            "redis.call('HINCRBY', KEYS[2], 'deliveries', 1) "
            "redis.call('HINCRBY', KEYS[2], 'gaps', ARGV[5]) return 1";

/* KEYS[1] lease, KEYS[2] hash; ARGV[1] our value, ARGV[2] the error. As lua_advance. */
static const char lua_failed[] =
    LUA_NOW "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
            "if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end "
            "redis.call('HSET', KEYS[2], 'last_error', ARGV[2], 'last_error_ms', now) "
            "redis.call('HINCRBY', KEYS[2], 'consecutive_failures', 1) "
            "redis.call('HINCRBY', KEYS[2], 'failures', 1) return 1";

/* ---------------------------------------------------------------- small helpers */

static void key_of(char *out, size_t n, const char *id, const char *suffix)
{
    snprintf(out, n, WH_PREFIX "%s%s", id, suffix);
}

/* nbytes (at most 64) random bytes from the kernel as hex into out (2 * nbytes + 1); false when
 * there are none (never a weaker source: these make secrets). */
static bool random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    out[0] = '\0';
    if (getrandom(b, nbytes, 0) != (ssize_t)nbytes)
        return false;
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return true;
}

static bool valid_id(const char *id)
{
    if (!id || strncmp(id, "wh_", 3) || strlen(id) != 3 + 16)
        return false;
    for (const char *p = id + 3; *p; p++)
        if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
            return false;
    return true;
}

static redisReply *evalv(redisContext *rc, const char *script, int nkeys, int argc,
                         const char **argv)
{
    const char **a = fp_xcalloc((size_t)argc + 3, sizeof *a);
    char nk[8];
    snprintf(nk, sizeof nk, "%d", nkeys);
    a[0] = "EVAL";
    a[1] = script;
    a[2] = nk;
    for (int i = 0; i < argc; i++)
        a[3 + i] = argv[i];
    redisReply *r = redisCommandArgv(rc, argc + 3, a, NULL);
    free(a);
    return r;
}

/* The value of field in an HGETALL reply, NULL when absent. */
static const char *hget(const redisReply *r, const char *field)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && !strcmp(r->element[i]->str, field))
            return r->element[i + 1]->str;
    return NULL;
}

static void put_time_or_null(fp_buf *b, const char *ms)
{
    if (!ms || !*ms) {
        fp_buf_puts(b, "null");
        return;
    }
    fp_buf_putc(b, '"');
    fp_time_format_iso(strtoll(ms, NULL, 10), b);
    fp_buf_putc(b, '"');
}

static void put_str_or_null(fp_buf *b, const char *v)
{
    if (!v)
        fp_buf_puts(b, "null");
    else
        fp_json_quote(b, v, strlen(v));
}

static const char *num_or_0(const char *v)
{
    return v && *v ? v : "0";
}

/* The change stream's newest id ("0-0" when empty) and how many entries it ever took
 * (XINFO STREAM entries-added: the newest entry's number), read in one MULTI. */
static bool stream_position(redisContext *rc, const char *key, char *head, size_t n,
                            long long *added)
{
    snprintf(head, n, "0-0");
    *added = 0;
    redisAppendCommand(rc, "MULTI");
    redisAppendCommand(rc, "XREVRANGE %s + - COUNT 1", key);
    redisAppendCommand(rc, "XINFO STREAM %s", key);
    redisAppendCommand(rc, "EXEC");
    redisReply *ex = NULL;
    for (int i = 0; i < 4; i++) {
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **)&r) != REDIS_OK)
            return false;
        if (i == 3)
            ex = r;
        else
            freeReplyObject(r);
    }
    bool ok = ex && ex->type == REDIS_REPLY_ARRAY && ex->elements == 2;
    if (ok) {
        const redisReply *r = ex->element[0], *info = ex->element[1];
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
            snprintf(head, n, "%s", r->element[0]->element[0]->str);
        if (info->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0; i + 1 < info->elements; i += 2)
                if (info->element[i]->type == REDIS_REPLY_STRING &&
                    !strcmp(info->element[i]->str, "entries-added") &&
                    info->element[i + 1]->type == REDIS_REPLY_INTEGER)
                    *added = info->element[i + 1]->integer;
    }
    freeReplyObject(ex);
    return ok;
}

/* ---------------------------------------------------------------- the webhook object */

/* Appends the webhook of hash reply h (id given) as JSON; with rc, also its backlog. */
static void put_webhook(fp_serve *s, fp_buf *b, const char *id, const redisReply *h,
                        redisContext *rc, const char *secret)
{
    fp_buf_puts(b, "{\"id\":");
    fp_json_quote(b, id, strlen(id));
    fp_buf_puts(b, ",\"name\":");
    put_str_or_null(b, hget(h, "name"));
    fp_buf_puts(b, ",\"url\":");
    put_str_or_null(b, hget(h, "url"));
    fp_buf_puts(b, ",\"eventTypes\":[");
    const char *types = hget(h, "event_types");
    for (const char *p = types ? types : ""; *p;) {
        size_t k = strcspn(p, ",");
        fp_json_quote(b, p, k);
        p += k;
        if (*p == ',') {
            fp_buf_putc(b, ',');
            p++;
        }
    }
    fp_buf_puts(b, "],\"createdAt\":");
    put_time_or_null(b, hget(h, "created_ms"));
    fp_buf_puts(b, ",\"createdBy\":");
    put_str_or_null(b, hget(h, "created_by"));
    if (secret) {
        fp_buf_puts(b, ",\"secret\":");
        fp_json_quote(b, secret, strlen(secret));
    }
    const char *cursor = hget(h, "cursor");
    fp_buf_puts(b, ",\"delivery\":{\"cursor\":");
    put_str_or_null(b, cursor);
    fp_buf_puts(b, ",\"lastSuccessAt\":");
    put_time_or_null(b, hget(h, "last_success_ms"));
    fp_buf_puts(b, ",\"lastDeliveryId\":");
    put_str_or_null(b, hget(h, "last_delivery_id"));
    fp_buf_puts(b, ",\"lastErrorAt\":");
    put_time_or_null(b, hget(h, "last_error_ms"));
    fp_buf_puts(b, ",\"lastError\":");
    put_str_or_null(b, hget(h, "last_error"));
    fp_buf_printf(b,
                  ",\"consecutiveFailures\":%s,\"deliveries\":%s,\"failures\":%s,"
                  "\"eventsDelivered\":%s,\"gaps\":%s",
                  num_or_0(hget(h, "consecutive_failures")), num_or_0(hget(h, "deliveries")),
                  num_or_0(hget(h, "failures")), num_or_0(hget(h, "events_delivered")),
                  num_or_0(hget(h, "gaps")));
    if (rc) {
        char lease[128];
        key_of(lease, sizeof lease, id, ":lease");
        redisReply *o = redisCommand(rc, "GET %s", lease);
        fp_buf_puts(b, ",\"deliveringInstance\":");
        put_str_or_null(b, o && o->type == REDIS_REPLY_STRING ? o->str : NULL);
        freeReplyObject(o);
        char head[48];
        long long added = 0;
        stream_position(rc, s->o.stream_key, head, sizeof head, &added);
        const char *seq = hget(h, "cursor_seq");
        long long pending = seq ? added - strtoll(seq, NULL, 10) : 0;
        if (pending < 0)
            pending = 0;
        /* lag: the age of the oldest change not yet acknowledged (stream ids are Redis' ms) */
        double lag = 0;
        if (pending) {
            char start[64];
            snprintf(start, sizeof start, "(%s", cursor ? cursor : "0-0");
            redisReply *f = redisCommand(rc, "XRANGE %s %s + COUNT 1", s->o.stream_key, start);
            sid fs;
            if (f && f->type == REDIS_REPLY_ARRAY && f->elements == 1 &&
                f->element[0]->type == REDIS_REPLY_ARRAY && f->element[0]->elements == 2 &&
                fp_serve_sid_parse(f->element[0]->element[0]->str, &fs) &&
                (uint64_t)fp_time_now_ms() > fs.ms)
                lag = (double)((uint64_t)fp_time_now_ms() - fs.ms) / 1000.0;
            freeReplyObject(f);
        }
        fp_buf_puts(b, ",\"streamHead\":");
        fp_json_quote(b, head, strlen(head));
        fp_buf_printf(b, ",\"pendingEvents\":%lld,\"lagSeconds\":", pending);
        fp_buf_put_double(b, lag);
    }
    fp_buf_puts(b, "}}");
}

/* ---------------------------------------------------------------- routes */

static redisContext *redis_or_503(fp_serve_call *c)
{
    fp_err err = {0};
    redisContext *rc = fp_serve_redis_get(c->s, &err);
    if (!rc)
        fp_serve_unavailable(c, "redis", &err);
    return rc;
}

static bool redis_failed(fp_serve_call *c, redisContext *rc, redisReply *r, const char *what)
{
    if (r && r->type != REDIS_REPLY_ERROR)
        return false;
    fp_err err = {0};
    fp_err_set(&err, FP_ERR_IO, "%s: %s", what, r ? r->str : rc->errstr);
    fp_serve_unavailable(c, "redis", &err);
    return true;
}

/* Checks a webhook URL: http or https, a host, no user info, no fragment, printable ASCII. */
static bool check_url(fp_serve_call *c, const char *url)
{
    size_t n = strlen(url);
    if (!n || n > URL_MAX) {
        fp_serve_fail(c, 400, "url: must be 1..%d bytes", URL_MAX);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f) {
            fp_serve_fail(c, 400, "url: holds a space, control or non-ASCII byte at %zu", i);
            return false;
        }
    CURLU *u = curl_url();
    bool ok = false;
    char *scheme = NULL, *host = NULL, *user = NULL, *frag = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        fp_serve_fail(c, 400, "url: not an absolute http(s) URL");
    } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
               (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
        fp_serve_fail(c, 400, "url: the scheme must be http or https");
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        fp_serve_fail(c, 400, "url: no host");
    } else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        fp_serve_fail(c, 400, "url: user info is not allowed (receivers verify the signature)");
    } else if (curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
        fp_serve_fail(c, 400, "url: a fragment is not allowed");
    } else {
        ok = true;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(frag);
    curl_url_cleanup(u);
    return ok;
}

void fp_serve_webhook_post(fp_serve_call *c)
{
    fp_serve *s = c->s;
    const fp_http_req *q = c->req;
    json_error_t je;
    json_t *root = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &je);
    fp_buf types = FP_BUF_INIT, secret_buf = FP_BUF_INIT, body = FP_BUF_INIT;
    redisContext *rc = NULL;
    redisReply *r = NULL, *h = NULL;
    if (!root) {
        fp_serve_fail(c, 400, "body: not a JSON object: %s (line %d, column %d)", je.text, je.line,
                      je.column);
        goto out;
    }
    if (!json_is_object(root)) {
        fp_serve_fail(c, 400, "body: not a JSON object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (strcmp(k, "url") && strcmp(k, "eventTypes") && strcmp(k, "secret") &&
            strcmp(k, "name")) {
            fp_buf shown = FP_BUF_INIT;
            fp_json_quote(&shown, k, strlen(k) > 40 ? 40 : strlen(k));
            fp_serve_fail(c, 400, "%s: unknown field (url, eventTypes, secret, name)", shown.p);
            fp_buf_free(&shown);
            goto out;
        }
    }
    const char *url = json_string_value(json_object_get(root, "url"));
    if (!url) {
        fp_serve_fail(c, 400, "url: required, a string");
        goto out;
    }
    if (!check_url(c, url))
        goto out;
    json_t *name_j = json_object_get(root, "name");
    const char *name = name_j ? json_string_value(name_j) : NULL;
    if (name_j && (!name || strlen(name) > NAME_MAX_LEN)) {
        fp_serve_fail(c, 400, "name: a string of at most %d bytes", NAME_MAX_LEN);
        goto out;
    }
    json_t *et = json_object_get(root, "eventTypes");
    if (!json_is_array(et) || !json_array_size(et) || json_array_size(et) > TYPES_MAX) {
        fp_serve_fail(c, 400, "eventTypes: required, an array of 1..%d event types", TYPES_MAX);
        goto out;
    }
    size_t i;
    json_array_foreach(et, i, v)
    {
        const char *t = json_string_value(v);
        bool known = false;
        for (size_t j = 0; t && j < NTYPES; j++)
            known = known || !strcmp(t, event_types[j]);
        if (!known) {
            fp_buf shown = FP_BUF_INIT;
            if (t)
                fp_json_quote(&shown, t, strlen(t) > 60 ? 60 : strlen(t));
            fp_serve_fail(c, 400, "eventTypes[%zu]: %s is not an event type (known: %s)", i,
                          t ? shown.p : "not a string",
                          "vehicle.state_changed, command.state_changed");
            fp_buf_free(&shown);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t, json_string_value(json_array_get(et, j)))) {
                fp_serve_fail(c, 400, "eventTypes[%zu]: %s given twice", i, t);
                goto out;
            }
        if (types.len)
            fp_buf_putc(&types, ',');
        fp_buf_puts(&types, t);
    }
    json_t *sec_j = json_object_get(root, "secret");
    const char *secret = NULL;
    if (sec_j) {
        secret = json_string_value(sec_j);
        size_t n = secret ? strlen(secret) : 0;
        bool printable = secret != NULL;
        for (size_t j = 0; printable && j < n; j++)
            printable = secret[j] > 0x20 && secret[j] < 0x7f;
        if (!printable || n < SECRET_MIN || n > SECRET_MAX) {
            fp_serve_fail(c, 400, "secret: %d..%d printable ASCII characters, no spaces",
                          SECRET_MIN, SECRET_MAX);
            goto out;
        }
    } else {
        char hex[65];
        if (!random_hex(hex, 24)) {
            fp_serve_fail(c, 500, "no randomness for a secret");
            goto out;
        }
        fp_buf_printf(&secret_buf, "whsec_%s", hex);
        secret = secret_buf.p;
    }
    if (!(rc = redis_or_503(c)))
        goto out;
    /* deliveries start after what the stream holds now, as a new subscriber expects */
    char head[48], seq[24];
    long long added = 0;
    if (!stream_position(rc, s->o.stream_key, head, sizeof head, &added)) {
        fp_err err = {0};
        fp_err_set(&err, FP_ERR_IO, "XREVRANGE: %s", rc->err ? rc->errstr : "error");
        fp_serve_unavailable(c, "redis", &err);
        goto out;
    }
    snprintf(seq, sizeof seq, "%lld", added);
    char id[40], hex[17], hkey[128], cap[16];
    if (!random_hex(hex, 8)) {
        fp_serve_fail(c, 500, "no randomness for a webhook id");
        goto out;
    }
    snprintf(id, sizeof id, "wh_%s", hex);
    key_of(hkey, sizeof hkey, id, "");
    snprintf(cap, sizeof cap, "%u", s->o.webhooks_max);
    const char *argv[] = {WH_INDEX,      hkey,    cap,          id,     "url",    url,
                          "event_types", types.p, "secret",     secret, "cursor", head,
                          "cursor_seq",  seq,     "created_by", c->who, "name",   name ? name : ""};
    int argc = name ? 18 : 16;
    r = evalv(rc, lua_create, 2, argc, argv);
    if (redis_failed(c, rc, r, "create webhook"))
        goto out;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == -1) {
        fp_serve_fail(c, 400, "webhooks: at most %u may be registered (delete one first)",
                      s->o.webhooks_max);
        goto out;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer == 0) {
        fp_serve_fail(c, 409, "webhook id %s exists: try again", id);
        goto out;
    }
    h = redisCommand(rc, "HGETALL %s", hkey);
    if (redis_failed(c, rc, h, "HGETALL"))
        goto out;
    fp_log(FP_LOG_INFO, "serve", -1, "webhook %s registered by %s for %s", id, c->who, types.p);
    put_webhook(s, &c->resp->body, id, h, rc, secret);
    c->resp->status = 201;
    fp_buf_printf(&body, "/api/v1/webhooks/%s", id);
    fp_http_resp_header(c->resp, "Location", body.p);
out:
    freeReplyObject(r);
    freeReplyObject(h);
    fp_serve_redis_put(s, rc);
    json_decref(root);
    fp_buf_free(&types);
    fp_buf_free(&body);
    if (secret_buf.p)
        memset(secret_buf.p, 0, secret_buf.len);
    fp_buf_free(&secret_buf);
}

void fp_serve_webhook_list(fp_serve_call *c)
{
    redisContext *rc = redis_or_503(c);
    if (!rc)
        return;
    redisReply *ids = redisCommand(rc, "ZRANGE %s 0 -1", WH_INDEX);
    if (redis_failed(c, rc, ids, "ZRANGE")) {
        freeReplyObject(ids);
        fp_serve_redis_put(c->s, rc);
        return;
    }
    fp_buf *b = &c->resp->body;
    fp_buf_puts(b, "{\"data\":[");
    size_t n = 0;
    for (size_t i = 0; i < ids->elements; i++) {
        char hkey[128];
        key_of(hkey, sizeof hkey, ids->element[i]->str, "");
        redisReply *h = redisCommand(rc, "HGETALL %s", hkey);
        if (h && h->type == REDIS_REPLY_ARRAY && h->elements) {
            if (n++)
                fp_buf_putc(b, ',');
            put_webhook(c->s, b, ids->element[i]->str, h, NULL, NULL);
        }
        freeReplyObject(h);
    }
    fp_buf_printf(b, "],\"limit\":%u}", c->s->o.webhooks_max);
    freeReplyObject(ids);
    fp_serve_redis_put(c->s, rc);
}

static bool path_id(fp_serve_call *c)
{
    if (valid_id(c->arg[0]))
        return true;
    fp_buf shown = FP_BUF_INIT;
    const char *a = c->arg[0] ? c->arg[0] : "";
    fp_json_quote(&shown, a, strlen(a) > 40 ? 40 : strlen(a));
    fp_serve_fail(c, 400, "webhook id %s: expected wh_ and 16 hex digits", shown.p);
    fp_buf_free(&shown);
    return false;
}

void fp_serve_webhook_get(fp_serve_call *c)
{
    if (!path_id(c))
        return;
    redisContext *rc = redis_or_503(c);
    if (!rc)
        return;
    char hkey[128];
    key_of(hkey, sizeof hkey, c->arg[0], "");
    redisReply *h = redisCommand(rc, "HGETALL %s", hkey);
    if (!redis_failed(c, rc, h, "HGETALL")) {
        if (h->type != REDIS_REPLY_ARRAY || !h->elements)
            fp_serve_fail(c, 404, "no webhook %s", c->arg[0]);
        else
            put_webhook(c->s, &c->resp->body, c->arg[0], h, rc, NULL);
    }
    freeReplyObject(h);
    fp_serve_redis_put(c->s, rc);
}

void fp_serve_webhook_delete(fp_serve_call *c)
{
    if (!path_id(c))
        return;
    redisContext *rc = redis_or_503(c);
    if (!rc)
        return;
    char hkey[128], lkey[128];
    key_of(hkey, sizeof hkey, c->arg[0], "");
    key_of(lkey, sizeof lkey, c->arg[0], ":lease");
    const char *argv[] = {WH_INDEX, hkey, lkey, c->arg[0]};
    redisReply *r = evalv(rc, lua_delete, 3, 4, argv);
    if (!redis_failed(c, rc, r, "delete webhook")) {
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
            fp_log(FP_LOG_INFO, "serve", -1, "webhook %s deleted by %s", c->arg[0], c->who);
            c->resp->status = 204;
        } else {
            fp_serve_fail(c, 404, "no webhook %s", c->arg[0]);
        }
    }
    freeReplyObject(r);
    fp_serve_redis_put(c->s, rc);
}

/* ---------------------------------------------------------------- one delivery attempt */

typedef struct answer {
    fp_buf body;         /* first 512 bytes of the receiver's answer, for last_error */
    int64_t retry_after; /* ms from a Retry-After: <seconds> header, -1 when none */
} answer;

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
    answer *a = arg;
    size_t n = size * nitems;
    if (n > 5 && !strncmp(line, "HTTP/", 5))
        a->retry_after = -1;                       /* a new response (after a 100 Continue) */
    fp_http_retry_after(line, n, &a->retry_after); /* delta-seconds; a date: the backoff */
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    answer *a = arg;
    size_t n = size * nmemb;
    if (a->body.len < 512)
        fp_buf_append(&a->body, data, n < 512 - a->body.len ? n : 512 - a->body.len);
    return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    return fp_stop_requested(arg) ? 1 : 0;
}

/* hex(HMAC-SHA256(secret, timestamp "." body)) into out (65 bytes). */
static void sign(const char *secret, const char *ts, const char *body, size_t n, char out[65])
{
    fp_buf msg = FP_BUF_INIT;
    fp_buf_printf(&msg, "%s.", ts);
    fp_buf_append(&msg, body, n);
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.p, msg.len, mac,
         &len);
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hx[mac[i] >> 4];
        out[2 * i + 1] = hx[mac[i] & 15];
    }
    out[64] = '\0';
    fp_buf_free(&msg);
}

/* POSTs body; true on a 2xx. what says what happened otherwise (no URL in it). */
static bool post(fp_serve_hooks *hk, CURL *e, const char *url, const char *wid, const char *did,
                 int attempt, const char *secret, const fp_buf *body, fp_buf *what,
                 int64_t *retry_after)
{
    const fp_serve_opts *o = &hk->s->o;
    char ts[24], sig[65], h[5][160];
    snprintf(ts, sizeof ts, "%" PRId64, fp_time_now_ms() / 1000);
    sign(secret, ts, body->p, body->len, sig);
    snprintf(h[0], sizeof h[0], "X-Fleetpipe-Webhook-Id: %s", wid);
    snprintf(h[1], sizeof h[1], "X-Fleetpipe-Delivery-Id: %s", did);
    snprintf(h[2], sizeof h[2], "X-Fleetpipe-Timestamp: %s", ts);
    snprintf(h[3], sizeof h[3], "X-Fleetpipe-Signature: v1=%s", sig);
    snprintf(h[4], sizeof h[4], "X-Fleetpipe-Attempt: %d", attempt);
    char inst[160];
    snprintf(inst, sizeof inst, "X-Fleetpipe-Instance: %s", hk->instance);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    hl = curl_slist_append(hl, "User-Agent: fleetpipe-webhooks/1");
    for (int i = 0; i < 5; i++)
        hl = curl_slist_append(hl, h[i]);
    hl = curl_slist_append(hl, inst);
    answer a = {FP_BUF_INIT, -1};
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->p);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->webhook_connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     (long)(o->webhook_connect_timeout_ms + o->webhook_timeout_ms));
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is a failure, not a hop */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, &hk->stop);
    CURLcode cc = curl_easy_perform(e);
    long st = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hl);
    fp_buf_reset(what);
    bool ok = false;
    if (cc != CURLE_OK) {
        fp_buf_puts(what, curl_easy_strerror(cc)); /* not the error buffer: it names the host */
    } else if (st >= 200 && st < 300) {
        ok = true;
    } else {
        fp_buf_printf(what, "HTTP %ld", st);
        if (a.body.len) {
            fp_buf_puts(what, ": ");
            for (size_t i = 0; i < a.body.len && i < 200; i++)
                fp_buf_putc(what, a.body.p[i] >= 0x20 && a.body.p[i] < 0x7f ? a.body.p[i] : ' ');
        }
    }
    *retry_after = a.retry_after;
    fp_buf_free(&a.body);
    return ok;
}

/* ---------------------------------------------------------------- the worker */

typedef struct wctx {
    worker *w;
    fp_serve_hooks *hk;
    redisContext *rc;
    char lease[128], hkey[128];
} wctx;

/* Renews the lease; false when it is not ours any more (or Redis failed). */
static bool renew(wctx *x)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, x->hk->s->o.webhook_lease_ms);
    const char *argv[] = {x->lease, x->hk->instance, ms};
    redisReply *r = evalv(x->rc, lua_renew, 1, 3, argv);
    bool ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return ok;
}

/* Sleeps ms in slices, renewing the lease; false when stopped or the lease was lost. */
static bool wait_renewing(wctx *x, int64_t ms)
{
    int64_t slice = x->hk->s->o.webhook_lease_ms / 3;
    while (ms > 0) {
        int64_t d = ms < slice ? ms : slice;
        if (!fp_stop_sleep_ms(&x->hk->stop, d) || !renew(x))
            return false;
        ms -= d;
    }
    return true;
}

/* What the stream holds after the cursor, and how many entries it ever took, read in one
 * MULTI so the two agree: entries-added (XINFO STREAM) numbers every entry (the n-th XADD is
 * entry n), and with trimming only from the front the first entry kept is number
 * added - length + 1. A cursor remembers its entry's number, so a trim past it shows as a
 * difference of numbers, exact however many were trimmed. */
typedef struct snapshot {
    redisReply *exec; /* owned */
    const redisReply *entries;
    long long added, length; /* -1: the stream does not exist */
    char first[48];          /* "" when none */
} snapshot;

static bool take_snapshot(wctx *x, const char *cursor, unsigned count, snapshot *sn)
{
    const char *key = x->hk->s->o.stream_key;
    char start[64], cnt[16];
    snprintf(start, sizeof start, "(%s", cursor);
    snprintf(cnt, sizeof cnt, "%u", count);
    memset(sn, 0, sizeof *sn);
    sn->added = sn->length = -1;
    redisAppendCommand(x->rc, "MULTI");
    redisAppendCommand(x->rc, "XINFO STREAM %s", key);
    const char *argv[] = {"XRANGE", key, start, "+", "COUNT", cnt};
    redisAppendCommandArgv(x->rc, 6, argv, NULL);
    redisAppendCommand(x->rc, "EXEC");
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        redisReply *r = NULL;
        if (redisGetReply(x->rc, (void **)&r) != REDIS_OK) {
            ok = false;
            break;
        }
        if (i == 3)
            sn->exec = r;
        else
            freeReplyObject(r);
    }
    if (!ok || !sn->exec || sn->exec->type != REDIS_REPLY_ARRAY || sn->exec->elements != 2) {
        freeReplyObject(sn->exec);
        sn->exec = NULL;
        return false;
    }
    const redisReply *info = sn->exec->element[0], *range = sn->exec->element[1];
    if (info->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < info->elements; i += 2) {
            const redisReply *k = info->element[i], *v = info->element[i + 1];
            if (k->type != REDIS_REPLY_STRING)
                continue;
            if (!strcmp(k->str, "entries-added") && v->type == REDIS_REPLY_INTEGER)
                sn->added = v->integer;
            else if (!strcmp(k->str, "length") && v->type == REDIS_REPLY_INTEGER)
                sn->length = v->integer;
            else if (!strcmp(k->str, "first-entry") && v->type == REDIS_REPLY_ARRAY &&
                     v->elements == 2 && v->element[0]->type == REDIS_REPLY_STRING)
                snprintf(sn->first, sizeof sn->first, "%s", v->element[0]->str);
        }
    sn->entries = range->type == REDIS_REPLY_ARRAY ? range : NULL;
    return true;
}

/* The value of field name of a stream entry ([id, [field, value, ...]]), NULL when absent. */
static const redisReply *entry_field(const redisReply *e, const char *name)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const redisReply *kv = e->element[1];
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING && !strcmp(kv->element[i]->str, name) &&
            kv->element[i + 1]->type == REDIS_REPLY_STRING)
            return kv->element[i + 1];
    return NULL;
}

static void put_event_head(fp_buf *b, const char *id, const char *type)
{
    fp_buf_puts(b, "{\"eventId\":");
    fp_json_quote(b, id, strlen(id));
    fp_buf_printf(b, ",\"eventType\":\"%s\",\"eventMs\":", type);
}

typedef enum { FENCE_OK = 1, FENCE_LOST = 0, FENCE_GONE = -1, FENCE_ERR = -2 } fence;

static fence fenced(wctx *x, const char *script, int argc, const char **argv)
{
    redisReply *r = evalv(x->rc, script, 2, argc, argv);
    fence f = r && r->type == REDIS_REPLY_INTEGER ? (fence)r->integer : FENCE_ERR;
    freeReplyObject(r);
    return f;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    fp_serve_hooks *hk = w->hk;
    fp_serve *s = hk->s;
    const fp_serve_opts *o = &s->o;
    wctx x = {.w = w, .hk = hk};
    key_of(x.lease, sizeof x.lease, w->id, ":lease");
    key_of(x.hkey, sizeof x.hkey, w->id, "");
    CURL *e = curl_easy_init();
    fp_backoff bo;
    fp_backoff_init(&bo, o->webhook_backoff_base_ms, o->webhook_backoff_max_ms);
    fp_buf body = FP_BUF_INIT, what = FP_BUF_INIT;
    fp_err err = {0};
    const char *why = "stopped";
    if (!e || fp_serve_redis_open(s, BLOCK_MS + 5000, &x.rc, &err)) {
        why = "no redis connection or curl handle";
        goto out;
    }
    fp_log(FP_LOG_INFO, "serve", -1, "webhook %s: delivering from this instance", w->id);
    while (!fp_stop_requested(&hk->stop)) {
        if (!renew(&x)) {
            /* DELETE removes the lease with the webhook: that is not a lease lost */
            redisReply *ex = redisCommand(x.rc, "EXISTS %s", x.hkey);
            bool gone = ex && ex->type == REDIS_REPLY_INTEGER && ex->integer == 0;
            freeReplyObject(ex);
            why = gone ? "deleted" : "lease lost";
            if (!gone)
                atomic_fetch_add(&hk->lost, 1);
            break;
        }
        redisReply *h =
            redisCommand(x.rc, "HMGET %s url secret cursor event_types cursor_seq", x.hkey);
        if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != 5) {
            freeReplyObject(h);
            why = "redis failed";
            break;
        }
        if (h->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(h);
            redisReply *d = redisCommand(x.rc, "DEL %s", x.lease);
            freeReplyObject(d);
            why = "deleted";
            break;
        }
        char *url = fp_xstrdup(h->element[0]->str);
        char *secret =
            fp_xstrdup(h->element[1]->type == REDIS_REPLY_STRING ? h->element[1]->str : "");
        char cursor[48];
        snprintf(cursor, sizeof cursor, "%s",
                 h->element[2]->type == REDIS_REPLY_STRING ? h->element[2]->str : "0-0");
        bool want_changes = h->element[3]->type == REDIS_REPLY_STRING &&
                            strstr(h->element[3]->str, "vehicle.state_changed");
        bool want_commands = h->element[3]->type == REDIS_REPLY_STRING &&
                             strstr(h->element[3]->str, "command.state_changed");
        bool have_seq = h->element[4]->type == REDIS_REPLY_STRING;
        long long cur_seq = have_seq ? strtoll(h->element[4]->str, NULL, 10) : 0;
        freeReplyObject(h);
        sid cur = {0, 0};
        fp_serve_sid_parse(cursor, &cur);
        /* the batch, and a gap first when the stream was trimmed past the cursor */
        snapshot sn;
        if (!take_snapshot(&x, cursor, o->webhook_batch_events, &sn)) {
            free(url);
            free(secret);
            why = "redis failed";
            break;
        }
        const redisReply *entries = sn.entries;
        size_t n = entries ? entries->elements : 0;
        sid oldest_pending = {0, 0};
        if (n && entries->element[0]->type == REDIS_REPLY_ARRAY &&
            entries->element[0]->elements == 2 &&
            entries->element[0]->element[0]->type == REDIS_REPLY_STRING)
            fp_serve_sid_parse(entries->element[0]->element[0]->str, &oldest_pending);
        atomic_store(&w->pending_ms, oldest_pending.ms);
        if (!n) {
            /* caught up: wait for the next change (XREAD BLOCK wakes at once when one comes) */
            freeReplyObject(sn.exec);
            free(url);
            free(secret);
            char block[24];
            snprintf(block, sizeof block, "%" PRId64,
                     o->webhook_lease_ms / 3 < BLOCK_MS ? o->webhook_lease_ms / 3 : BLOCK_MS);
            const char *argv[] = {"XREAD", "COUNT",   "1",           "BLOCK",
                                  block,   "STREAMS", o->stream_key, cursor};
            redisReply *r = redisCommandArgv(x.rc, 8, argv, NULL);
            bool bad = !r || r->type == REDIS_REPLY_ERROR;
            freeReplyObject(r);
            if (bad) {
                why = "redis failed";
                break;
            }
            continue;
        }
        /* the number of the first entry after the cursor, and how many were trimmed before it */
        sid first = {0, 0};
        bool gap = false;
        long long lost = 0, seq0 = cur_seq + 1;
        if (sn.first[0] && fp_serve_sid_parse(sn.first, &first) &&
            fp_serve_sid_cmp(first, cur) > 0 && sn.added >= 0 && sn.length >= 0) {
            long long first_seq = sn.added - sn.length + 1;
            lost = first_seq - cur_seq - 1;
            if (lost != 0 || !have_seq) {
                gap = true;
                seq0 = first_seq;
            }
        }
        char from[48], sn_first[48];
        snprintf(from, sizeof from, "%s", cursor);
        snprintf(sn_first, sizeof sn_first, "%s", sn.first);
        fp_buf_reset(&body);
        fp_buf_puts(&body, "{\"webhookId\":\"");
        fp_buf_puts(&body, w->id);
        fp_buf_puts(&body, "\",\"deliveryId\":\"");
        size_t did_at = body.len;
        fp_buf_puts(&body, "dl_");
        for (int i = 0; i < 28; i++)
            fp_buf_putc(&body, '0');
        fp_buf_puts(&body, "\",\"events\":[");
        size_t nev = 0, taken = 0;
        char last[48];
        snprintf(last, sizeof last, "%s", from);
        if (gap) {
            /* the gap's id: the cursor it starts after, so a retry names it the same */
            char gid[64];
            snprintf(gid, sizeof gid, "gap-%s", cursor);
            put_event_head(&body, gid, "webhook.gap");
            fp_buf_printf(&body, "%" PRIu64 ",\"data\":{\"after\":", first.ms);
            fp_json_quote(&body, cursor, strlen(cursor));
            fp_buf_puts(&body, ",\"before\":");
            fp_json_quote(&body, sn.first, strlen(sn.first));
            if (have_seq && lost > 0)
                fp_buf_printf(&body, ",\"lost\":%lld", lost);
            else
                fp_buf_puts(&body, ",\"lost\":null");
            fp_buf_puts(&body, ",\"reason\":\"the change stream was trimmed past this webhook's "
                               "cursor: the changes after 'after' and before 'before' are no "
                               "longer kept\"}}");
            nev++;
        }
        for (size_t i = 0; i < n; i++) {
            const char *eid = NULL;
            const redisReply *d = fp_serve_entry_data(entries->element[i], &eid);
            if (!eid)
                continue;
            sid es;
            if (!fp_serve_sid_parse(eid, &es))
                continue;
            const redisReply *cmd = d ? NULL : entry_field(entries->element[i], "c");
            if ((d && want_changes) || (cmd && want_commands)) {
                size_t len = d ? d->len : cmd->len;
                if (nev && body.len + len + 200 > o->webhook_batch_bytes)
                    break; /* the next batch starts here */
                if (nev)
                    fp_buf_putc(&body, ',');
                put_event_head(&body, eid, d ? "vehicle.state_changed" : "command.state_changed");
                fp_buf_printf(&body, "%" PRIu64 ",\"data\":", es.ms);
                if (d)
                    fp_serve_put_change(&body, eid, d->str, d->len);
                else /* the commands' Lua made it with cjson.encode: one JSON object */
                    fp_buf_append(&body, cmd->str, cmd->len);
                fp_buf_putc(&body, '}');
                nev++;
            }
            snprintf(last, sizeof last, "%s", eid);
            taken++;
        }
        freeReplyObject(sn.exec);
        char seqtxt[24];
        snprintf(seqtxt, sizeof seqtxt, "%lld", seq0 + (long long)taken - 1);
        fp_buf_puts(&body, "]}");
        /* the delivery id: stable for the same batch (its webhook and range), so a receiver
         * sees a retry as one delivery */
        unsigned char dg[SHA256_DIGEST_LENGTH];
        fp_buf seed = FP_BUF_INIT;
        fp_buf_printf(&seed, "%s|%s|%s", w->id, from, last);
        SHA256((const unsigned char *)seed.p, seed.len, dg);
        fp_buf_free(&seed);
        static const char hx[] = "0123456789abcdef";
        for (int i = 0; i < 14; i++) {
            body.p[did_at + 3 + 2 * i] = hx[dg[i] >> 4];
            body.p[did_at + 3 + 2 * i + 1] = hx[dg[i] & 15];
        }
        char did[32];
        memcpy(did, body.p + did_at, 31);
        did[31] = '\0';
        bool stop = false;
        if (!nev) {
            /* only entries of types this webhook does not want: move on without a POST */
            char zero[] = "0";
            const char *aa[] = {x.lease, x.hkey, hk->instance, last, zero, did, zero, seqtxt};
            fence f = fenced(&x, lua_advance, 8, aa);
            stop = f != FENCE_OK;
            why = f == FENCE_GONE ? "deleted" : "lease lost";
        }
        for (int attempt = 1; nev && !stop; attempt++) {
            if (!renew(&x)) {
                why = "lease lost";
                atomic_fetch_add(&hk->lost, 1);
                stop = true;
                break;
            }
            int64_t retry_after = -1;
            if (post(hk, e, url, w->id, did, attempt, secret, &body, &what, &retry_after)) {
                char evs[24], gaps[8];
                snprintf(evs, sizeof evs, "%zu", nev - (gap ? 1 : 0));
                snprintf(gaps, sizeof gaps, "%d", gap ? 1 : 0);
                const char *aa[] = {x.lease, x.hkey, hk->instance, last, evs, did, gaps, seqtxt};
                fence f = fenced(&x, lua_advance, 8, aa);
                atomic_fetch_add(&w->deliveries, 1);
                atomic_fetch_add(&hk->deliveries, 1);
                atomic_fetch_add(&w->events, nev - (gap ? 1 : 0));
                atomic_fetch_add(&hk->events, nev - (gap ? 1 : 0));
                if (gap) {
                    atomic_fetch_add(&w->gaps, 1);
                    atomic_fetch_add(&hk->gaps, 1);
                    fp_log(FP_LOG_WARN, "serve", -1,
                           "webhook %s: the stream was trimmed past its cursor %s: told the "
                           "receiver of the gap before %s (%lld changes)",
                           w->id, cursor, sn_first, lost);
                }
                fp_backoff_reset(&bo);
                if (f != FENCE_OK) {
                    why = f == FENCE_GONE ? "deleted" : "lease lost";
                    stop = true;
                }
                break;
            }
            atomic_fetch_add(&w->failures, 1);
            atomic_fetch_add(&hk->failures, 1);
            const char *aa[] = {x.lease, x.hkey, hk->instance, what.p ? what.p : "failed"};
            fence f = fenced(&x, lua_failed, 4, aa);
            if (f != FENCE_OK) {
                why = f == FENCE_GONE ? "deleted" : "lease lost";
                stop = true;
                break;
            }
            /* the receiver's Retry-After (429, 503) when longer, within the backoff's cap */
            int64_t delay = fp_backoff_next(&bo);
            if (retry_after > delay)
                delay = retry_after < o->webhook_backoff_max_ms ? retry_after
                                                                : o->webhook_backoff_max_ms;
            fp_log(FP_LOG_DEBUG, "serve", -1,
                   "webhook %s: attempt %d of %s failed (%s); next in %" PRId64 " ms", w->id,
                   attempt, did, what.p, delay);
            if (!wait_renewing(&x, delay)) {
                why = fp_stop_requested(&hk->stop) ? "stopped" : "lease lost";
                stop = true;
                break;
            }
        }
        free(url);
        if (secret)
            memset(secret, 0, strlen(secret));
        free(secret);
        if (stop)
            break;
    }
out:
    fp_log(FP_LOG_INFO, "serve", -1, "webhook %s: this instance stops delivering (%s)", w->id, why);
    if (x.rc) {
        /* give the lease back at once when it is still ours, so another instance goes on */
        if (fp_stop_requested(&hk->stop) || !strcmp(why, "redis failed")) {
            const char *argv[] = {x.lease, hk->instance, "1"};
            freeReplyObject(evalv(x.rc, lua_renew, 1, 3, argv));
        }
        redisFree(x.rc);
    }
    if (e)
        curl_easy_cleanup(e);
    fp_buf_free(&body);
    fp_buf_free(&what);
    atomic_store(&w->done, true);
    return NULL;
}

/* ---------------------------------------------------------------- the scheduler */

static void reap(fp_serve_hooks *hk, bool all)
{
    pthread_mutex_lock(&hk->mu);
    worker **pp = &hk->workers;
    while (*pp) {
        worker *w = *pp;
        if (all || atomic_load(&w->done)) {
            *pp = w->next;
            pthread_mutex_unlock(&hk->mu);
            pthread_join(w->th, NULL);
            free(w);
            atomic_fetch_sub(&hk->owned, 1);
            pthread_mutex_lock(&hk->mu);
            continue;
        }
        pp = &w->next;
    }
    pthread_mutex_unlock(&hk->mu);
}

static bool owned_here(fp_serve_hooks *hk, const char *id)
{
    pthread_mutex_lock(&hk->mu);
    bool found = false;
    for (worker *w = hk->workers; w && !found; w = w->next)
        found = !strcmp(w->id, id);
    pthread_mutex_unlock(&hk->mu);
    return found;
}

static void *sched_main(void *arg)
{
    fp_serve_hooks *hk = arg;
    fp_serve *s = hk->s;
    redisContext *rc = NULL;
    fp_backoff bo;
    fp_backoff_init(&bo, 200, 5000);
    int64_t every = s->o.webhook_lease_ms / 3 < 1000 ? s->o.webhook_lease_ms / 3 : 1000;
    while (!fp_stop_requested(&hk->stop)) {
        reap(hk, false);
        if (!rc) {
            fp_err err = {0};
            if (fp_serve_redis_open(s, 5000, &rc, &err)) {
                fp_backoff_sleep(&bo, &hk->stop);
                continue;
            }
        }
        redisReply *ids = redisCommand(rc, "ZRANGE %s 0 -1", WH_INDEX);
        if (!ids || ids->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(ids);
            redisFree(rc);
            rc = NULL;
            continue;
        }
        fp_backoff_reset(&bo);
        char ms[24];
        snprintf(ms, sizeof ms, "%" PRId64, s->o.webhook_lease_ms);
        for (size_t i = 0; i < ids->elements && !fp_stop_requested(&hk->stop); i++) {
            const char *id = ids->element[i]->str;
            if (!valid_id(id) || owned_here(hk, id))
                continue;
            char lease[128];
            key_of(lease, sizeof lease, id, ":lease");
            const char *argv[] = {lease, hk->instance, ms};
            redisReply *r = evalv(rc, lua_acquire, 1, 3, argv);
            bool got = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
            freeReplyObject(r);
            if (!got)
                continue;
            worker *w = fp_xcalloc(1, sizeof *w);
            w->hk = hk;
            snprintf(w->id, sizeof w->id, "%s", id);
            if (pthread_create(&w->th, NULL, worker_main, w)) {
                free(w);
                redisReply *d = redisCommand(rc, "DEL %s", lease);
                freeReplyObject(d);
                continue;
            }
            atomic_fetch_add(&hk->acquired, 1);
            atomic_fetch_add(&hk->owned, 1);
            pthread_mutex_lock(&hk->mu);
            w->next = hk->workers;
            hk->workers = w;
            pthread_mutex_unlock(&hk->mu);
        }
        freeReplyObject(ids);
        fp_stop_sleep_ms(&hk->stop, every);
    }
    if (rc)
        redisFree(rc);
    return NULL;
}

fp_code fp_serve_hooks_init(fp_serve *s, fp_err *err)
{
    const fp_serve_opts *o = &s->o;
    if (o->webhook_lease_ms < o->webhook_connect_timeout_ms + o->webhook_timeout_ms + 1000)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "serve: --webhook-lease %" PRId64
                          " ms must exceed --webhook-connect-timeout + --webhook-timeout + 1 s "
                          "(%" PRId64 " ms), or two instances could deliver one webhook at once",
                          o->webhook_lease_ms,
                          o->webhook_connect_timeout_ms + o->webhook_timeout_ms + 1000);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fp_serve_hooks *hk = fp_xcalloc(1, sizeof *hk);
    hk->s = s;
    char host[64] = "host", rnd[9];
    gethostname(host, sizeof host - 1);
    if (!random_hex(rnd, 4))
        snprintf(rnd, sizeof rnd, "%08x", (unsigned)fp_time_mono_ms()); /* an id, not a secret */
    snprintf(hk->instance, sizeof hk->instance, "%.40s:%d:%s", host, (int)getpid(), rnd);
    pthread_mutex_init(&hk->mu, NULL);
    s->hooks = hk;
    if (pthread_create(&hk->sched, NULL, sched_main, hk)) {
        fp_serve_hooks_free(s);
        return fp_err_set(err, FP_ERR_IO, "serve: cannot start the webhook scheduler thread");
    }
    hk->started = true;
    return FP_OK;
}

void fp_serve_hooks_free(fp_serve *s)
{
    fp_serve_hooks *hk = s->hooks;
    if (!hk)
        return;
    fp_stop_request(&hk->stop);
    if (hk->started)
        pthread_join(hk->sched, NULL);
    reap(hk, true);
    pthread_mutex_destroy(&hk->mu);
    free(hk);
    s->hooks = NULL;
}

void fp_serve_hooks_metrics(fp_serve *s, fp_metrics_out *m)
{
    fp_serve_hooks *hk = s->hooks;
    if (!hk)
        return;
    fp_metrics_family(m, "fleetpipe_serve_webhooks_owned", FP_METRIC_GAUGE,
                      "Webhooks this instance delivers now (it holds their lease).");
    fp_metrics_sample_u64(m, NULL, atomic_load(&hk->owned));
    fp_metrics_family(m, "fleetpipe_serve_webhook_leases_acquired_total", FP_METRIC_COUNTER,
                      "Webhook leases this instance took (at start, or from an instance that "
                      "stopped renewing).");
    fp_metrics_sample_u64(m, NULL, atomic_load(&hk->acquired));
    fp_metrics_family(m, "fleetpipe_serve_webhook_leases_lost_total", FP_METRIC_COUNTER,
                      "Webhook leases found taken by another instance before renewal.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&hk->lost));
    struct {
        const char *name, *help;
        fp_metric_type t;
        size_t off;
    } rows[] = {
        {"fleetpipe_serve_webhook_deliveries_total",
         "Webhook batches a receiver acknowledged with a 2xx (this instance).", FP_METRIC_COUNTER,
         offsetof(worker, deliveries)},
        {"fleetpipe_serve_webhook_delivery_failures_total",
         "Webhook delivery attempts that failed (timeout, refused, non-2xx); each is retried.",
         FP_METRIC_COUNTER, offsetof(worker, failures)},
        {"fleetpipe_serve_webhook_events_delivered_total",
         "Change events in acknowledged webhook batches (this instance).", FP_METRIC_COUNTER,
         offsetof(worker, events)},
        {"fleetpipe_serve_webhook_gaps_total",
         "webhook.gap events delivered: the stream was trimmed past a webhook's cursor.",
         FP_METRIC_COUNTER, offsetof(worker, gaps)},
    };
    pthread_mutex_lock(&hk->mu);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fp_metrics_family(m, rows[i].name, rows[i].t, rows[i].help);
        for (worker *w = hk->workers; w; w = w->next)
            fp_metrics_sample_u64(m, (const char *[]){"webhook", w->id, NULL},
                                  atomic_load((_Atomic uint64_t *)((char *)w + rows[i].off)));
    }
    fp_metrics_family(m, "fleetpipe_serve_webhook_lag_seconds", FP_METRIC_GAUGE,
                      "Age of the oldest change a webhook's receiver has not acknowledged "
                      "(webhooks this instance delivers; 0 when caught up).");
    uint64_t now = (uint64_t)fp_time_now_ms();
    for (worker *w = hk->workers; w; w = w->next) {
        uint64_t c = atomic_load(&w->pending_ms);
        double lag = c && now > c ? (double)(now - c) / 1000.0 : 0;
        fp_metrics_sample(m, (const char *[]){"webhook", w->id, NULL}, lag);
    }
    pthread_mutex_unlock(&hk->mu);
    fp_metrics_family(m, "fleetpipe_serve_webhook_instance_deliveries_total", FP_METRIC_COUNTER,
                      "Webhook batches acknowledged, all webhooks, since this instance started.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&hk->deliveries));
    fp_metrics_family(m, "fleetpipe_serve_webhook_instance_failures_total", FP_METRIC_COUNTER,
                      "Webhook delivery attempts failed, all webhooks, since this instance "
                      "started.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&hk->failures));
}
