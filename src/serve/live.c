/* live.c — the Fleet API's live state: GET /vehicles, /vehicles/{id} and /feed, read from the
 * redis sink's keys (a hash per vehicle, the id index, the change stream), and the Redis
 * connection pool the live routes share (redis/pool.h).
 *
 * The one thing to know: Redis holds text. The sink stores a string field's text and any other
 * field as compact JSON, so a value is given back as JSON when it parses as a number, a boolean,
 * an object or an array, and as a JSON string otherwise (a device's text is always quoted and
 * escaped, never reflected raw). Each field comes with its own sample time (`<field>:ts`), and
 * fields named `<name>.z<zone>` (the sink's redis.field.suffix) are a cargo zone's.
 *
 * Paging: /vehicles walks the index in id order; a filtered page scans at most SCAN_MAX ids and
 * may hold fewer than `limit` rows: hasNextPage and the cursor say where to go on. /feed's first
 * call pages the snapshot, then follows the change stream from the id it took before the snapshot
 * began, so a change made meanwhile shows up (perhaps twice: once in the snapshot, once as a
 * change), never not at all.
 *
 * Speed (docs/performance.md, "Fleet API"): a page's HGETALLs go out as one pipelined write, and
 * each reply is read, written out and forgotten before the next, its objects built in the
 * connection thread's arena (redis/arena.h) rather than one malloc per element; a vehicle's
 * fields are indexed once (the names the status rule reads, each field's zone), and a sample
 * time shared by several fields is formatted once.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "redis/arena.h"
#include "redis/client.h"
#include "redis/pool.h"
#include "serve/serve_int.h"

#define POOL_IDLE 64
#define REDIS_TROUBLE_MS 10000 /* fp_serve_redis_troubled() */
#define PAGE_MAX 1000
#define IDS_MAX 1000
#define SCAN_MAX 20000
#define FEED_MAX 1000
#define ARENA_BLOCK (16 * 1024) /* a request's replies: one vehicle hash fits, pages reuse it */
#define VEHICLE_JSON 1024       /* about one vehicle object's JSON, to size a body up front */
/* Appends a string literal (its length known at compile time). */
#define PUT(b, lit) fp_buf_append((b), (lit), sizeof(lit) - 1)

struct fp_serve_live {
    fp_redis_url url;    /* for connections of their own (the stream hub) */
    fp_redis_pool *pool; /* for requests */
    _Atomic int64_t newest_ts;
};

/* ---------------------------------------------------------------- pool */

fp_code fp_serve_live_init(fp_serve *s, fp_err *err)
{
    fp_serve_live *l = fp_xcalloc(1, sizeof *l);
    fp_code rc = fp_redis_url_parse(s->o.redis_url, &l->url, err);
    if (!rc) {
        l->pool = fp_redis_pool_new(s->o.redis_url, 2000, 5000, POOL_IDLE, err);
        rc = l->pool ? FP_OK : err->code;
    }
    if (rc) {
        fp_redis_url_free(&l->url);
        free(l);
        return fp_err_prefix(err, "--redis");
    }
    s->live = l;
    return FP_OK;
}

void fp_serve_live_free(fp_serve *s)
{
    fp_serve_live *l = s->live;
    if (!l)
        return;
    fp_redis_pool_free(l->pool);
    fp_redis_url_free(&l->url);
    free(l);
    s->live = NULL;
}

redisContext *fp_serve_redis_get(fp_serve *s, fp_err *err)
{
    return fp_redis_pool_get(s->live->pool, err);
}

fp_code fp_serve_redis_open(fp_serve *s, int64_t command_ms, redisContext **out, fp_err *err)
{
    return fp_redis_open(&s->live->url, 2000, command_ms, out, err);
}

void fp_serve_redis_put(fp_serve *s, redisContext *c)
{
    if (c)
        fp_redis_pool_put(s->live->pool, c, !c->err);
}

bool fp_serve_redis_troubled(fp_serve *s)
{
    int64_t at = fp_redis_pool_failed_at(s->live->pool);
    return at && fp_time_mono_ms() - at < REDIS_TROUBLE_MS;
}

bool fp_serve_live_health(fp_serve *s, fp_buf *why)
{
    fp_err err = {0};
    redisContext *c = fp_serve_redis_get(s, &err);
    if (!c) {
        fp_buf_printf(why, "redis unreachable: %s", err.msg);
        return false;
    }
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        fp_buf_printf(why, "redis: PING failed: %s", r ? r->str : c->errstr);
    freeReplyObject(r);
    fp_serve_redis_put(s, c);
    return ok;
}

int64_t fp_serve_now_ms(fp_serve *s)
{
    if (!s->o.data_clock)
        return fp_time_now_ms();
    int64_t t = atomic_load(&s->live->newest_ts);
    return t ? t : fp_time_now_ms();
}

void fp_serve_saw_ts(fp_serve *s, int64_t ts)
{
    int64_t cur = atomic_load(&s->live->newest_ts);
    while (ts > cur && !atomic_compare_exchange_weak(&s->live->newest_ts, &cur, ts))
        ;
}

/* A reply that is not what was asked: a server-side error, or the connection broke. */
static bool failed(fp_serve_call *c, redisContext *rc, redisReply *r, const char *what)
{
    if (r && r->type != REDIS_REPLY_ERROR)
        return false;
    fp_err err = {0};
    fp_err_set(&err, FP_ERR_IO, "%s: %s", what, r ? r->str : rc->errstr);
    fp_serve_unavailable(c, "redis", &err);
    return true;
}

/* ---------------------------------------------------------------- replies in an arena */

/* A request's Redis connection with its replies built in an arena (redis/arena.h): replies are
 * never freeReplyObject'ed here, the arena forgets them on reset and at the end. The arena is
 * the request thread's own (a thread of the HTTP pool, or of an offloaded request), kept between
 * its requests and freed when the thread ends, so a request allocates nothing for its replies. */
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_end(void *a)
{
    fp_redis_arena_free(a);
}

static void arena_key_make(void)
{
    if (pthread_key_create(&arena_key, arena_end))
        abort(); /* only when the process is out of keys: nothing else would work either */
}

static fp_redis_arena *thread_arena(void)
{
    pthread_once(&arena_once, arena_key_make);
    fp_redis_arena *a = pthread_getspecific(arena_key);
    if (!a) {
        a = fp_redis_arena_new(ARENA_BLOCK);
        pthread_setspecific(arena_key, a);
    }
    fp_redis_arena_reset(a);
    return a;
}

static redisContext *conn_get(fp_serve *s, fp_redis_arena **a, fp_err *err)
{
    *a = NULL;
    redisContext *rc = fp_serve_redis_get(s, err);
    if (rc) {
        *a = thread_arena();
        fp_redis_arena_attach(rc, *a);
    }
    return rc;
}

static void conn_put(fp_serve *s, redisContext *rc, fp_redis_arena *a)
{
    fp_redis_arena_detach(rc); /* before the pool sees it: other routes read hiredis' replies */
    fp_serve_redis_put(s, rc);
    if (a)
        fp_redis_arena_reset(a); /* keeps only the first block between requests */
}

/* Appends HGETALL <prefix><id><suffix> to cmd as RESP (formatted here rather than by hiredis'
 * printf-like formatter per command). */
static void put_hgetall(fp_buf *cmd, const char *prefix, int64_t id, const char *suffix)
{
    char key[256];
    int k = snprintf(key, sizeof key, "%s%" PRId64 "%s", prefix, id, suffix);
    fp_buf_puts(cmd, "*2\r\n$7\r\nHGETALL\r\n$");
    if (k >= (int)sizeof key) { /* a very long prefix: the slow way */
        fp_buf kb = FP_BUF_INIT;
        fp_buf_printf(&kb, "%s%" PRId64 "%s", prefix, id, suffix);
        fp_buf_put_u64(cmd, kb.len);
        fp_buf_puts(cmd, "\r\n");
        fp_buf_append(cmd, kb.p, kb.len);
        fp_buf_free(&kb);
    } else {
        fp_buf_put_u64(cmd, (uint64_t)k);
        fp_buf_puts(cmd, "\r\n");
        fp_buf_append(cmd, key, (size_t)k);
    }
    fp_buf_puts(cmd, "\r\n");
}

/* HGETALL <key prefix><id> of each id, as one pipelined write. Read the replies with
 * next_reply, one per id, in order. */
static void send_hgetalls(fp_serve *s, redisContext *rc, const int64_t *ids, size_t n)
{
    if (!n)
        return;
    fp_buf cmd = FP_BUF_INIT;
    fp_buf_reserve(&cmd, n * (strlen(s->o.key_prefix) + 40));
    for (size_t i = 0; i < n; i++)
        put_hgetall(&cmd, s->o.key_prefix, ids[i], "");
    redisAppendFormattedCommand(rc, cmd.p, cmd.len);
    fp_buf_free(&cmd);
}

/* The next pipelined reply (in the arena), or NULL when the connection broke: then 503 is
 * answered (naming what) and rc has err set, so the pool closes it. */
static redisReply *next_reply(fp_serve_call *c, redisContext *rc, const char *what)
{
    void *r = NULL;
    if (redisGetReply(rc, &r) != REDIS_OK || !r) {
        failed(c, rc, NULL, what);
        return NULL;
    }
    return r;
}

/* ---------------------------------------------------------------- one vehicle */

/* A Redis text as JSON: raw when it is a JSON number, boolean, null, object or array. */
static void put_value(fp_buf *b, const char *v, size_t n)
{
    if (n && fp_json_validate(v, n, NULL) == FP_OK && fp_json_type_of(v) != FP_JSON_STRING) {
        fp_buf_append(b, v, n);
        return;
    }
    fp_json_quote(b, v, n);
}

static void put_time(fp_buf *b, int64_t ms)
{
    fp_buf_putc(b, '"');
    fp_time_format_iso(ms, b);
    fp_buf_putc(b, '"');
}

/* The sample times a response formats, each once: a vehicle's fields share a handful of times
 * (one per message type), and a page's vehicles often the same ones. */
#define TCACHE 4
typedef struct tcache {
    int64_t ms[TCACHE]; /* INT64_MIN: empty (never formatted: it is null) */
    char txt[TCACHE][24];
    unsigned next;
} tcache;

static void tcache_init(tcache *tc)
{
    for (int i = 0; i < TCACHE; i++)
        tc->ms[i] = INT64_MIN;
    tc->next = 0;
}

/* put_time through the cache; INT64_MIN is null. */
static void put_time_c(tcache *tc, fp_buf *b, int64_t ms)
{
    if (ms == INT64_MIN) {
        PUT(b, "null");
        return;
    }
    for (int i = 0; i < TCACHE; i++)
        if (tc->ms[i] == ms) {
            fp_buf_reserve(b, 26);
            b->p[b->len] = '"';
            memcpy(b->p + b->len + 1, tc->txt[i], 24);
            b->p[b->len + 25] = '"';
            b->len += 26;
            b->p[b->len] = '\0';
            return;
        }
    fp_buf_putc(b, '"');
    size_t at = b->len;
    fp_time_format_iso(ms, b);
    if (b->len - at == 24) { /* the fixed layout (years 0..9999): worth keeping */
        unsigned k = tc->next++ % TCACHE;
        tc->ms[k] = ms;
        memcpy(tc->txt[k], b->p + at, 24);
    }
    fp_buf_putc(b, '"');
}

/* One field of a hash: name, value, its sample time (INT64_MIN when unknown), and its cargo
 * zone when the name is "<base>.z<zone>" (zone > 0, base = the length of <base>; else zone 0,
 * base = nlen). */
typedef struct hfield {
    const char *name, *val;
    size_t nlen, vlen, base;
    int64_t ts;
    int zone;
} hfield;

/* The fields the status rule and the position read, found once per vehicle. */
enum { K_LAT, K_LNG, K_SPEED, K_HEADING, K_ENGINE_ON, K_IGNITION, K_BATTERY, K_DEVICE_ID, K_N };
static const struct {
    const char *name;
    size_t n;
} known[K_N] = {{"lat", 3},
                {"lng", 3},
                {"speed", 5},
                {"heading", 7},
                {"engine_on", 9},
                {"ignition", 8},
                {"battery_voltage", 15},
                {"device_id", 9}};

typedef struct vstate {
    int64_t id, ts;
    hfield *f; /* in the request's arena */
    size_t n;
    const hfield *k[K_N]; /* the first field of each known name, NULL when absent */
    bool zones;           /* some field has a cargo zone */
} vstate;

static const hfield *find(const vstate *v, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < v->n; i++)
        if (v->f[i].nlen == n && !memcmp(v->f[i].name, name, n))
            return &v->f[i];
    return NULL;
}

/* A field's value as a finite number. */
static bool num_of(const hfield *f, double *out)
{
    if (!f || !f->vlen)
        return false;
    char tmp[64];
    if (f->vlen >= sizeof tmp)
        return false;
    memcpy(tmp, f->val, f->vlen);
    tmp[f->vlen] = '\0';
    char *end;
    double d = strtod(tmp, &end);
    if (*end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool num(const vstate *v, int k, double *out)
{
    return num_of(v->k[k], out);
}

static bool is_true(const vstate *v, int k)
{
    const hfield *f = v->k[k];
    return f && f->vlen == 4 && !memcmp(f->val, "true", 4);
}

/* A cargo zone field "<name>.z<zone>": the zone, or 0. */
static int zone_of(const char *name, size_t nlen, size_t *base)
{
    for (size_t i = nlen; i > 0; i--) {
        if (name[i - 1] != '.')
            continue;
        if (i + 1 < nlen && name[i] == 'z') {
            int z = 0;
            for (size_t j = i + 1; j < nlen; j++) {
                if (!isdigit((unsigned char)name[j]) || z > 100000)
                    return 0;
                z = z * 10 + (name[j] - '0');
            }
            *base = i - 1;
            return z;
        }
        return 0;
    }
    return 0;
}

/* A sample time's text as strtoll reads it, without strtoll for the usual plain digits. */
static int64_t ts_of(const redisReply *x)
{
    if (x->len && x->len <= 18) {
        int64_t v = 0;
        size_t i = 0;
        for (; i < x->len && x->str[i] >= '0' && x->str[i] <= '9'; i++)
            v = v * 10 + (x->str[i] - '0');
        if (i == x->len)
            return v;
    }
    return strtoll(x->str, NULL, 10);
}

static bool is_ts_key(const redisReply *k)
{
    return k->len > 3 && !memcmp(k->str + k->len - 3, ":ts", 3);
}

/* Builds v from an HGETALL reply (pairs), its field table in a; false when the hash is empty. */
static bool parse_hash(fp_redis_arena *a, const redisReply *r, int64_t id, vstate *v)
{
    *v = (vstate){.id = id, .ts = INT64_MIN};
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return false;
    v->f = fp_redis_arena_alloc(a, r->elements / 2 * sizeof *v->f);
    bool times = false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *x = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || x->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k->str, "ts")) {
            v->ts = ts_of(x);
            continue;
        }
        if (is_ts_key(k)) {
            times = true;
            continue;
        }
        hfield *f = &v->f[v->n++];
        *f = (hfield){k->str, x->str, k->len, x->len, k->len, INT64_MIN, 0};
        f->zone = zone_of(f->name, f->nlen, &f->base);
        if (!f->zone)
            f->base = f->nlen;
        v->zones |= f->zone != 0;
        for (int j = 0; j < K_N; j++)
            if (!v->k[j] && known[j].n == f->nlen && !memcmp(known[j].name, f->name, f->nlen))
                v->k[j] = f;
    }
    /* the sample times: "<field>:ts", usually right after its field (the sink writes them
     * together), so that one is tried first */
    size_t pos = 0;
    for (size_t i = 0; times && i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *x = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || x->type != REDIS_REPLY_STRING)
            continue;
        if (!is_ts_key(k)) {
            if (strcmp(k->str, "ts"))
                pos++;
            continue;
        }
        size_t n = k->len - 3;
        int64_t ts = ts_of(x);
        if (pos && v->f[pos - 1].nlen == n && !memcmp(v->f[pos - 1].name, k->str, n)) {
            v->f[pos - 1].ts = ts;
            continue;
        }
        for (size_t j = 0; j < v->n; j++)
            if (v->f[j].nlen == n && !memcmp(v->f[j].name, k->str, n))
                v->f[j].ts = ts;
    }
    return v->n > 0 || v->ts != INT64_MIN;
}

/* Writes z (> 0) in decimal with its NUL at p (room for 12 bytes). */
static void put_int(char *p, int z)
{
    char d[12];
    int n = 0;
    for (; z > 0 && n < 11; z /= 10)
        d[n++] = (char)('0' + z % 10);
    while (n)
        *p++ = d[--n];
    *p = '\0';
}

typedef enum vstatus { ST_MOVING, ST_IDLE, ST_PARKED, ST_OFFLINE, ST_ALARM } vstatus;
static const char *const status_names[] = {"moving", "idle", "parked", "offline", "alarm"};

/* The derived status, and the alarms into alarms (a JSON array's members). */
static vstatus derive(fp_serve *s, const vstate *v, fp_buf *alarms)
{
    size_t before = alarms->len;
    double bat;
    if (num(v, K_BATTERY, &bat) && bat < s->o.battery_low_v) {
        fp_buf_printf(alarms, "%s{\"kind\":\"battery_low\",\"value\":", alarms->len ? "," : "");
        fp_buf_put_double(alarms, bat);
        fp_buf_puts(alarms, "}");
    }
    for (size_t i = 0; v->zones && i < v->n; i++) {
        const hfield *f = &v->f[i];
        if (!f->zone || f->base != 11 || memcmp(f->name, "temperature", 11))
            continue;
        int z = f->zone;
        char t[32] = "temperature.z", sp[32] = "setpoint.z";
        put_int(t + 13, z);
        put_int(sp + 10, z);
        double tv, spv;
        if (num_of(find(v, t), &tv) && num_of(find(v, sp), &spv) &&
            fabs(tv - spv) > s->o.reefer_tolerance_c) {
            fp_buf_printf(alarms, "%s{\"kind\":\"reefer_excursion\",\"zone\":%d,\"value\":",
                          alarms->len ? "," : "", z);
            fp_buf_put_double(alarms, tv);
            fp_buf_puts(alarms, ",\"setpoint\":");
            fp_buf_put_double(alarms, spv);
            fp_buf_puts(alarms, "}");
        }
    }
    fp_serve_pg_check_alarms(s, v->id, alarms);
    if (v->ts == INT64_MIN || fp_serve_now_ms(s) - v->ts > s->o.offline_after_ms)
        return ST_OFFLINE;
    if (alarms->len > before)
        return ST_ALARM;
    double speed;
    if (num(v, K_SPEED, &speed) && speed >= s->o.moving_kmh)
        return ST_MOVING;
    if (is_true(v, K_ENGINE_ON) || is_true(v, K_IGNITION))
        return ST_IDLE;
    return ST_PARKED;
}

static void put_field(tcache *tc, fp_buf *b, const hfield *f)
{
    PUT(b, "{\"value\":");
    put_value(b, f->val, f->vlen);
    PUT(b, ",\"at\":");
    put_time_c(tc, b, f->ts);
    fp_buf_putc(b, '}');
}

/* Writes the vehicle object; returns its status. */
static vstatus put_vehicle(fp_serve *s, tcache *tc, fp_buf *b, const vstate *v)
{
    fp_buf alarms = FP_BUF_INIT;
    vstatus st = derive(s, v, &alarms);
    PUT(b, "{\"id\":");
    fp_buf_put_u64(b, (uint64_t)v->id);
    PUT(b, ",\"status\":\"");
    fp_buf_puts(b, status_names[st]);
    PUT(b, "\",\"updated_at\":");
    put_time_c(tc, b, v->ts);
    const hfield *dev = v->k[K_DEVICE_ID];
    PUT(b, ",\"device_id\":");
    if (dev)
        fp_json_quote(b, dev->val, dev->vlen);
    else
        PUT(b, "null");
    PUT(b, ",\"alarms\":[");
    fp_buf_append(b, alarms.p ? alarms.p : "", alarms.len);
    fp_buf_putc(b, ']');
    double lat, lng;
    if (num(v, K_LAT, &lat) && num(v, K_LNG, &lng)) {
        PUT(b, ",\"position\":{\"lat\":");
        fp_buf_put_double(b, lat);
        PUT(b, ",\"lng\":");
        fp_buf_put_double(b, lng);
        double h, sp;
        if (num(v, K_HEADING, &h)) {
            PUT(b, ",\"heading\":");
            fp_buf_put_double(b, h);
        }
        if (num(v, K_SPEED, &sp)) {
            PUT(b, ",\"speed\":");
            fp_buf_put_double(b, sp);
        }
        PUT(b, ",\"at\":");
        put_time_c(tc, b, v->k[K_LAT]->ts);
        fp_buf_putc(b, '}');
    } else {
        PUT(b, ",\"position\":null");
    }
    /* cargo zones, in zone order */
    PUT(b, ",\"cargo\":[");
    int last = 0;
    bool first_zone = true;
    while (v->zones) {
        int next = 0;
        for (size_t i = 0; i < v->n; i++) {
            int z = v->f[i].zone;
            if (z > last && (!next || z < next))
                next = z;
        }
        if (!next)
            break;
        if (first_zone)
            PUT(b, "{\"zone\":");
        else
            PUT(b, ",{\"zone\":");
        fp_buf_put_u64(b, (uint64_t)next);
        first_zone = false;
        for (size_t i = 0; i < v->n; i++) {
            if (v->f[i].zone != next)
                continue;
            fp_buf_putc(b, ',');
            fp_json_quote(b, v->f[i].name, v->f[i].base);
            fp_buf_putc(b, ':');
            put_field(tc, b, &v->f[i]);
        }
        fp_buf_putc(b, '}');
        last = next;
    }
    PUT(b, "],\"fields\":{");
    bool first = true;
    for (size_t i = 0; i < v->n; i++) {
        if (v->f[i].zone)
            continue;
        if (!first)
            fp_buf_putc(b, ',');
        first = false;
        fp_json_quote(b, v->f[i].name, v->f[i].nlen);
        fp_buf_putc(b, ':');
        put_field(tc, b, &v->f[i]);
    }
    PUT(b, "}}");
    fp_buf_free(&alarms);
    return st;
}

/* ---------------------------------------------------------------- filters */

typedef struct filter {
    unsigned status_mask; /* 0: any */
    bool bbox;
    double min_lng, min_lat, max_lng, max_lat;
    int64_t *ids;
    size_t nids;
} filter;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool parse_filter(fp_serve_call *c, filter *f)
{
    *f = (filter){0};
    fp_buf v = FP_BUF_INIT;
    bool bad = false, ok = true;
    if (fp_serve_query(c, "status", &v, &bad)) {
        char *save = NULL;
        for (char *t = strtok_r(v.p, ",", &save); ok && t; t = strtok_r(NULL, ",", &save)) {
            unsigned bit = 0;
            for (unsigned i = 0; i < 5; i++)
                if (!strcmp(t, status_names[i]))
                    bit = 1u << i;
            if (!bit) {
                fp_serve_fail(c, 400,
                              "parameter status: '%.40s' is not one of moving, idle, parked, "
                              "offline, alarm",
                              t);
                ok = false;
            }
            f->status_mask |= bit;
        }
        if (ok && !f->status_mask) {
            fp_serve_fail(c, 400, "parameter status: empty");
            ok = false;
        }
    }
    ok = ok && !bad;
    if (ok && fp_serve_query(c, "bbox", &v, &bad)) {
        double x[4];
        int n = 0;
        char *p = v.p, *end;
        while (ok && n < 4) {
            errno = 0;
            x[n] = strtod(p, &end);
            if (end == p || errno || !isfinite(x[n]))
                break;
            n++;
            p = end;
            if (*p != ',')
                break;
            p++;
        }
        if (n != 4 || *p || x[0] < -180 || x[2] > 180 || x[1] < -90 || x[3] > 90 || x[0] > x[2] ||
            x[1] > x[3]) {
            fp_serve_fail(c, 400,
                          "parameter bbox: expected minLng,minLat,maxLng,maxLat within "
                          "-180..180 and -90..90, min <= max");
            ok = false;
        } else {
            f->bbox = true;
            f->min_lng = x[0], f->min_lat = x[1], f->max_lng = x[2], f->max_lat = x[3];
        }
    }
    ok = ok && !bad;
    if (ok) {
        ok = fp_serve_param_ids(c, "ids", IDS_MAX, &f->ids, &f->nids);
        if (ok && f->nids)
            qsort(f->ids, f->nids, sizeof *f->ids, cmp_i64);
    }
    fp_buf_free(&v);
    return ok && !bad;
}

static bool keep(fp_serve *s, const filter *f, const vstate *v)
{
    if (f->bbox) {
        double lat, lng;
        if (!num(v, K_LAT, &lat) || !num(v, K_LNG, &lng) || lng < f->min_lng || lng > f->max_lng ||
            lat < f->min_lat || lat > f->max_lat)
            return false;
    }
    if (f->status_mask) {
        fp_buf a = FP_BUF_INIT;
        vstatus st = derive(s, v, &a);
        fp_buf_free(&a);
        if (!(f->status_mask & (1u << st)))
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- reading many vehicles */

/* The next ids of the index after `after`, at most n; *members is how many members the index
 * gave (fewer than n: its end), *got how many of them are vehicle ids. */
static bool index_range(fp_serve_call *c, redisContext *rc, int64_t after, size_t n, int64_t *ids,
                        size_t *got, size_t *members)
{
    char lo[32], cnt[32];
    snprintf(lo, sizeof lo, "(%" PRId64, after);
    snprintf(cnt, sizeof cnt, "%zu", n);
    const char *argv[] = {"ZRANGEBYSCORE", c->s->o.index_key, lo, "+inf", "LIMIT", "0", cnt};
    redisReply *r = redisCommandArgv(rc, 7, argv, NULL);
    if (failed(c, rc, r, "ZRANGEBYSCORE"))
        return false;
    *got = 0;
    *members = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        char *end;
        long long id = strtoll(r->element[i]->str, &end, 10);
        if (*end || id <= after) /* a non-numeric member (score 0) is not a vehicle */
            continue;
        ids[(*got)++] = id;
    }
    return true;
}

static bool get_after(fp_serve_call *c, int64_t *after)
{
    fp_buf v = FP_BUF_INIT, p = FP_BUF_INIT;
    bool bad = false, ok = true;
    *after = 0;
    if (fp_serve_query(c, "after", &v, &bad)) {
        ok = fp_serve_cursor_get(c, "after", "v", v.p, &p);
        if (ok) {
            char *end;
            *after = strtoll(p.p ? p.p : "", &end, 10);
            if (!p.len || *end || *after < 0) {
                fp_serve_fail(c, 400, "parameter after: not a cursor this API gave out");
                ok = false;
            }
        }
    }
    fp_buf_free(&v);
    fp_buf_free(&p);
    return ok && !bad;
}

void fp_serve_vehicles(fp_serve_call *c)
{
    fp_serve *s = c->s;
    int64_t limit, after;
    filter f;
    if (!fp_serve_param_i64(c, "limit", 100, 1, PAGE_MAX, &limit) || !get_after(c, &after))
        return;
    if (!parse_filter(c, &f))
        goto out_f;
    fp_err err = {0};
    fp_buf head = FP_BUF_INIT;
    fp_redis_arena *a = NULL;
    /* the change stream's position before reading: a client that follows /stream from here
     * misses nothing that happened after this snapshot */
    redisContext *rc = NULL;
    if (fp_serve_stream_head(s, &head, &err)) {
        fp_serve_unavailable(c, "redis", &err);
        goto out;
    }
    rc = conn_get(s, &a, &err);
    if (!rc) {
        fp_serve_unavailable(c, "redis", &err);
        goto out;
    }
    size_t batch = f.status_mask || f.bbox ? (size_t)limit * 2 + 64 : (size_t)limit + 1;
    if (batch > PAGE_MAX + 1)
        batch = PAGE_MAX + 1;
    int64_t *ids = fp_xcalloc(batch, sizeof *ids);
    fp_buf *b = &c->resp->body;
    fp_buf_reserve(b, (size_t)limit * VEHICLE_JSON);
    fp_buf_puts(b, "{\"data\":[");
    tcache tc;
    tcache_init(&tc);
    size_t rows = 0, scanned = 0, pos_ids = 0;
    int64_t last = after;
    bool more = false, first = true;
    /* a full page still looks on for one more vehicle that exists: the id after the page may
     * be one whose hash is gone, and hasNextPage must not end the walk there */
    while ((rows < (size_t)limit || !more) && scanned < SCAN_MAX) {
        size_t got = 0, members = 0;
        fp_redis_arena_reset(a);
        if (f.nids) {
            while (pos_ids < f.nids && f.ids[pos_ids] <= last)
                pos_ids++;
            while (got < batch && pos_ids + got < f.nids)
                ids[got] = f.ids[pos_ids + got], got++;
            members = got;
        } else if (!index_range(c, rc, last, batch, ids, &got, &members)) {
            goto fail;
        }
        if (!got)
            break;
        /* one vehicle at a time: each reply is read, written out and forgotten before the
         * next, so the arena holds one hash, not the batch */
        send_hgetalls(s, rc, ids, got);
        size_t i = 0;
        for (; i < got; i++) {
            fp_redis_arena_reset(a);
            redisReply *r = next_reply(c, rc, "HGETALL");
            if (!r)
                goto fail;
            vstate v;
            bool present = parse_hash(a, r, ids[i], &v);
            if (present && v.ts != INT64_MIN)
                fp_serve_saw_ts(s, v.ts);
            if (rows == (size_t)limit) {
                /* one more exists: the page is full */
                if (present && keep(s, &f, &v))
                    more = true;
                if (more)
                    break;
                last = ids[i];
                continue;
            }
            if (present && keep(s, &f, &v)) {
                if (!first)
                    fp_buf_putc(b, ',');
                first = false;
                put_vehicle(s, &tc, b, &v);
                rows++;
            }
            last = ids[i];
        }
        scanned += i;
        /* the replies after the one that filled the page: read, so that the connection is
         * back in step (a failure here is Redis failing this request, as before) */
        for (size_t j = i + (i < got); j < got; j++) {
            fp_redis_arena_reset(a);
            if (!next_reply(c, rc, "HGETALL"))
                goto fail;
        }
        if (more || members < batch)
            break;
    }
    if (!more && scanned >= SCAN_MAX)
        more = true; /* stopped scanning: the cursor says where to go on */
    fp_buf_puts(b, "],\"pagination\":{\"endCursor\":");
    if (more || rows) {
        char lastid[32];
        int n = snprintf(lastid, sizeof lastid, "%" PRId64, last);
        fp_buf_putc(b, '"');
        fp_serve_cursor_put(b, "v", lastid, (size_t)n);
        fp_buf_putc(b, '"');
    } else {
        fp_buf_puts(b, "null");
    }
    fp_buf_printf(b, ",\"hasNextPage\":%s},\"streamCursor\":", more ? "true" : "false");
    fp_json_quote(b, head.p, head.len);
    fp_buf_puts(b, "}\n");
fail:
    free(ids);
out:
    conn_put(s, rc, a);
    fp_buf_free(&head);
out_f:
    free(f.ids);
}

void fp_serve_vehicle(fp_serve_call *c)
{
    fp_serve *s = c->s;
    int64_t id;
    if (!fp_serve_vehicle_id(c, &id))
        return;
    fp_err err = {0};
    fp_redis_arena *a;
    redisContext *rc = conn_get(s, &a, &err);
    if (!rc) {
        fp_serve_unavailable(c, "redis", &err);
        return;
    }
    send_hgetalls(s, rc, &id, 1);
    redisReply *r = next_reply(c, rc, "HGETALL");
    if (!r)
        goto out;
    vstate v;
    if (!parse_hash(a, r, id, &v)) {
        fp_serve_fail(c, 404, "vehicle %" PRId64 " not found", id);
        goto out;
    }
    fp_serve_saw_ts(s, v.ts);
    fp_buf *b = &c->resp->body;
    fp_buf_reserve(b, 2 * VEHICLE_JSON);
    fp_buf_puts(b, "{\"data\":");
    tcache tc;
    tcache_init(&tc);
    put_vehicle(s, &tc, b, &v);
    /* the latest 5-minute window per cargo zone, as the redis-agg-5m connector keeps it */
    b->len--; /* reopen the vehicle object */
    fp_buf_puts(b, ",\"aggregates\":[");
    bool first = true;
    for (size_t i = 0; v.zones && i < v.n; i++) {
        const hfield *f = &v.f[i];
        if (!f->zone || f->base != 11 || memcmp(f->name, "temperature", 11))
            continue;
        int z = f->zone;
        char zs[24];
        snprintf(zs, sizeof zs, ":z%d", z);
        fp_buf cmd = FP_BUF_INIT;
        put_hgetall(&cmd, s->o.agg_prefix, id, zs);
        redisAppendFormattedCommand(rc, cmd.p, cmd.len);
        fp_buf_free(&cmd);
        redisReply *w_r = next_reply(c, rc, "HGETALL");
        if (!w_r || failed(c, rc, w_r, "HGETALL"))
            goto out;
        vstate w;
        if (parse_hash(a, w_r, id, &w)) {
            fp_buf_puts(b, first ? "{\"zone\":" : ",{\"zone\":");
            fp_buf_put_u64(b, (uint64_t)z);
            first = false;
            for (size_t j = 0; j < w.n; j++) {
                fp_buf_putc(b, ',');
                fp_json_quote(b, w.f[j].name, w.f[j].nlen);
                fp_buf_putc(b, ':');
                put_value(b, w.f[j].val, w.f[j].vlen);
            }
            fp_buf_putc(b, '}');
        }
    }
    /* today's KPIs, when the warehouse is configured and answers */
    fp_buf_puts(b, "],\"kpis\":");
    fp_buf kpis = FP_BUF_INIT;
    fp_err kerr = {0};
    if (!s->pg || fp_serve_pg_kpis(s, id, fp_serve_now_ms(s), &kpis, &kerr))
        fp_buf_puts(b, "null");
    else
        fp_buf_append(b, kpis.p, kpis.len);
    fp_buf_puts(b, "}}\n");
    fp_buf_free(&kpis);
out:
    conn_put(s, rc, a);
}

/* ---------------------------------------------------------------- feed */

/* One stream entry as a feed item: {"id": "<stream id>", "vehicle_id":.., "ts":.., "fields":..}
 * from the sink's {"id":..,"ts":..,"fields":{..}}. */
void fp_serve_put_change(fp_buf *b, const char *sid, const char *d, size_t n)
{
    fp_span obj = {d, n}, v;
    fp_buf_puts(b, "{\"cursor\":");
    fp_json_quote(b, sid, strlen(sid));
    if (fp_json_obj_get(obj, "id", 2, &v)) {
        fp_buf_puts(b, ",\"vehicle_id\":");
        fp_buf_append(b, v.p, v.n);
    }
    if (fp_json_obj_get(obj, "ts", 2, &v)) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(v.n < 31 ? v.n : 31), v.p);
        fp_buf_puts(b, ",\"at\":");
        put_time(b, strtoll(tmp, NULL, 10));
    }
    if (fp_json_obj_get(obj, "fields", 6, &v)) {
        fp_buf_puts(b, ",\"fields\":");
        fp_buf_append(b, v.p, v.n);
    }
    fp_buf_putc(b, '}');
}

/* The payload of entry e (a [id, [field, value, ...]] pair): the 'd' value. */
const redisReply *fp_serve_entry_data(const redisReply *e, const char **sid)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    *sid = e->element[0]->str;
    const redisReply *kv = e->element[1];
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING && !strcmp(kv->element[i]->str, "d") &&
            kv->element[i + 1]->type == REDIS_REPLY_STRING)
            return kv->element[i + 1];
    return NULL;
}

/* The snapshot pages of the first feed calls: cursor "fs" = "<stream head>|<last id>". */
static void feed_snapshot(fp_serve_call *c, redisContext *rc, fp_redis_arena *a, const char *head,
                          int64_t after, int64_t limit)
{
    int64_t *ids = fp_xcalloc((size_t)limit + 1, sizeof *ids);
    size_t got = 0, members = 0;
    if (!index_range(c, rc, after, (size_t)limit + 1, ids, &got, &members)) {
        free(ids);
        return;
    }
    bool more = got > (size_t)limit;
    size_t n = more ? (size_t)limit : got;
    send_hgetalls(c->s, rc, ids, got);
    fp_buf *b = &c->resp->body;
    fp_buf_reserve(b, n * VEHICLE_JSON);
    fp_buf_puts(b, "{\"data\":[");
    tcache tc;
    tcache_init(&tc);
    bool first = true;
    for (size_t i = 0; i < got; i++) {
        fp_redis_arena_reset(a);
        redisReply *r = next_reply(c, rc, "HGETALL");
        if (!r) {
            free(ids);
            return;
        }
        vstate v;
        /* an indexed id whose hash is gone: skipped; the one past the page: only read */
        if (i < n && parse_hash(a, r, ids[i], &v)) {
            if (!first)
                fp_buf_putc(b, ',');
            first = false;
            put_vehicle(c->s, &tc, b, &v);
        }
    }
    fp_buf_puts(b, "],\"pagination\":{\"endCursor\":\"");
    fp_buf p = FP_BUF_INIT;
    if (more) {
        fp_buf_printf(&p, "%s|%" PRId64, head, ids[n - 1]);
        fp_serve_cursor_put(b, "fs", p.p, p.len);
    } else {
        fp_serve_cursor_put(b, "f", head, strlen(head));
    }
    fp_buf_printf(b, "\",\"hasNextPage\":%s},\"snapshot\":true}\n", more ? "true" : "false");
    fp_buf_free(&p);
    free(ids);
}

static void feed_changes(fp_serve_call *c, redisContext *rc, const char *from, int64_t limit)
{
    fp_serve *s = c->s;
    char start[64], cnt[32];
    snprintf(start, sizeof start, "(%s", from);
    snprintf(cnt, sizeof cnt, "%" PRId64, limit);
    /* the oldest entry kept: a cursor older than it has lost changes to trimming */
    redisReply *first = redisCommand(rc, "XRANGE %s - + COUNT 1", s->o.stream_key);
    if (failed(c, rc, first, "XRANGE"))
        return;
    if (first->type == REDIS_REPLY_ARRAY && first->elements == 1 && strcmp(from, "0-0")) {
        const char *fid = first->element[0]->element[0]->str;
        fp_serve_sid a, f;
        /* older than the oldest kept, and not its immediate predecessor in the same ms */
        if (fp_serve_sid_parse(from, &a) && fp_serve_sid_parse(fid, &f) &&
            fp_serve_sid_cmp(a, f) < 0 && !(a.ms == f.ms && a.seq + 1 == f.seq)) {
            fp_serve_fail(c, 410,
                          "cursor is older than the change history Redis keeps (oldest %s): "
                          "start again without after",
                          fid);
            return;
        }
    }
    const char *argv[] = {"XRANGE", s->o.stream_key, start, "+", "COUNT", cnt};
    redisReply *r = redisCommandArgv(rc, 6, argv, NULL);
    if (failed(c, rc, r, "XRANGE"))
        return;
    fp_buf *b = &c->resp->body;
    fp_buf_puts(b, "{\"data\":[");
    const char *last = from;
    size_t n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *sid = NULL;
        const redisReply *d = fp_serve_entry_data(r->element[i], &sid);
        if (!sid)
            continue;
        last = sid;
        if (!d)
            continue;
        if (n++)
            fp_buf_putc(b, ',');
        fp_serve_put_change(b, sid, d->str, d->len);
    }
    fp_buf_puts(b, "],\"pagination\":{\"endCursor\":\"");
    fp_serve_cursor_put(b, "f", last, strlen(last));
    fp_buf_printf(b, "\",\"hasNextPage\":%s},\"snapshot\":false}\n",
                  r->type == REDIS_REPLY_ARRAY && (int64_t)r->elements == limit ? "true" : "false");
}

void fp_serve_feed(fp_serve_call *c)
{
    fp_serve *s = c->s;
    int64_t limit;
    if (!fp_serve_param_i64(c, "limit", 500, 1, FEED_MAX, &limit))
        return;
    fp_buf v = FP_BUF_INIT, p = FP_BUF_INIT;
    bool bad = false, have = fp_serve_query(c, "after", &v, &bad);
    if (bad)
        goto out;
    bool snap = false;
    fp_serve_sid sid_seen; /* only validated */
    if (have) {
        /* which kind: changes ("f") or a snapshot page ("fs") */
        snap = !fp_serve_cursor_decode("f", v.p, &p);
        if (snap && !fp_serve_cursor_get(c, "after", "fs", v.p, &p))
            goto out;
    }
    fp_err err = {0};
    fp_buf head = FP_BUF_INIT;
    if (!have && fp_serve_stream_head(s, &head, &err)) {
        fp_serve_unavailable(c, "redis", &err);
        goto out;
    }
    fp_redis_arena *a;
    redisContext *rc = conn_get(s, &a, &err);
    if (!rc) {
        fp_serve_unavailable(c, "redis", &err);
        goto out;
    }
    if (!have) {
        feed_snapshot(c, rc, a, head.p, 0, limit);
    } else if (snap) {
        char *bar = strchr(p.p, '|');
        char *end = NULL;
        int64_t after = bar ? strtoll(bar + 1, &end, 10) : -1;
        if (bar)
            *bar = '\0';
        if (!bar || *end || after < 0 || !fp_serve_sid_parse(p.p, &sid_seen))
            fp_serve_fail(c, 400, "parameter after: not a cursor this API gave out");
        else
            feed_snapshot(c, rc, a, p.p, after, limit);
    } else if (!fp_serve_sid_parse(p.p, &sid_seen)) {
        fp_serve_fail(c, 400, "parameter after: not a cursor this API gave out");
    } else {
        feed_changes(c, rc, p.p, limit);
    }
    conn_put(s, rc, a);
out:
    fp_buf_free(&head);
    fp_buf_free(&v);
    fp_buf_free(&p);
}
