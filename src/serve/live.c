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
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "redis/client.h"
#include "redis/pool.h"
#include "serve/serve_int.h"

#define POOL_IDLE 64
#define PAGE_MAX 1000
#define IDS_MAX 1000
#define SCAN_MAX 20000
#define FEED_MAX 1000

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

/* One field of a hash: name, value, its sample time (INT64_MIN when unknown). */
typedef struct hfield {
    const char *name, *val;
    size_t nlen, vlen;
    int64_t ts;
} hfield;

typedef struct vstate {
    int64_t id, ts;
    hfield *f;
    size_t n;
} vstate;

static const hfield *find(const vstate *v, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < v->n; i++)
        if (v->f[i].nlen == n && !memcmp(v->f[i].name, name, n))
            return &v->f[i];
    return NULL;
}

static bool num(const vstate *v, const char *name, double *out)
{
    const hfield *f = find(v, name);
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

static bool is_true(const vstate *v, const char *name)
{
    const hfield *f = find(v, name);
    return f && f->vlen == 4 && !memcmp(f->val, "true", 4);
}

/* Builds v from an HGETALL reply (pairs); false when the hash is empty. */
static bool parse_hash(const redisReply *r, int64_t id, vstate *v)
{
    *v = (vstate){id, INT64_MIN, NULL, 0};
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return false;
    v->f = fp_xcalloc(r->elements / 2, sizeof *v->f);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *x = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || x->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k->str, "ts")) {
            v->ts = strtoll(x->str, NULL, 10);
            continue;
        }
        if (k->len > 3 && !memcmp(k->str + k->len - 3, ":ts", 3))
            continue;
        v->f[v->n++] = (hfield){k->str, x->str, k->len, x->len, INT64_MIN};
    }
    /* the sample times: "<field>:ts" */
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *x = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || k->len <= 3 || memcmp(k->str + k->len - 3, ":ts", 3) ||
            x->type != REDIS_REPLY_STRING)
            continue;
        for (size_t j = 0; j < v->n; j++)
            if (v->f[j].nlen == k->len - 3 && !memcmp(v->f[j].name, k->str, k->len - 3))
                v->f[j].ts = strtoll(x->str, NULL, 10);
    }
    return v->n > 0 || v->ts != INT64_MIN;
}

/* A cargo zone field "<name>.z<zone>": the zone, or 0. */
static int zone_of(const hfield *f, size_t *base)
{
    for (size_t i = f->nlen; i > 0; i--) {
        if (f->name[i - 1] != '.')
            continue;
        if (i + 1 < f->nlen && f->name[i] == 'z') {
            int z = 0;
            for (size_t j = i + 1; j < f->nlen; j++) {
                if (!isdigit((unsigned char)f->name[j]) || z > 100000)
                    return 0;
                z = z * 10 + (f->name[j] - '0');
            }
            *base = i - 1;
            return z;
        }
        return 0;
    }
    return 0;
}

typedef enum vstatus { ST_MOVING, ST_IDLE, ST_PARKED, ST_OFFLINE, ST_ALARM } vstatus;
static const char *const status_names[] = {"moving", "idle", "parked", "offline", "alarm"};

/* The derived status, and the alarms into alarms (a JSON array's members). */
static vstatus derive(fp_serve *s, const vstate *v, fp_buf *alarms)
{
    size_t before = alarms->len;
    double bat;
    if (num(v, "battery_voltage", &bat) && bat < s->o.battery_low_v) {
        fp_buf_printf(alarms, "%s{\"kind\":\"battery_low\",\"value\":", alarms->len ? "," : "");
        fp_buf_put_double(alarms, bat);
        fp_buf_puts(alarms, "}");
    }
    for (size_t i = 0; i < v->n; i++) {
        size_t base;
        int z = zone_of(&v->f[i], &base);
        if (!z || base != 11 || memcmp(v->f[i].name, "temperature", 11))
            continue;
        char sp[64], t[64];
        snprintf(t, sizeof t, "temperature.z%d", z);
        snprintf(sp, sizeof sp, "setpoint.z%d", z);
        double tv, spv;
        if (num(v, t, &tv) && num(v, sp, &spv) && fabs(tv - spv) > s->o.reefer_tolerance_c) {
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
    if (num(v, "speed", &speed) && speed >= s->o.moving_kmh)
        return ST_MOVING;
    if (is_true(v, "engine_on") || is_true(v, "ignition"))
        return ST_IDLE;
    return ST_PARKED;
}

static void put_field(fp_buf *b, const hfield *f)
{
    fp_buf_puts(b, "{\"value\":");
    put_value(b, f->val, f->vlen);
    fp_buf_puts(b, ",\"at\":");
    if (f->ts == INT64_MIN)
        fp_buf_puts(b, "null");
    else
        put_time(b, f->ts);
    fp_buf_putc(b, '}');
}

/* Writes the vehicle object; returns its status. */
static vstatus put_vehicle(fp_serve *s, fp_buf *b, const vstate *v)
{
    fp_buf alarms = FP_BUF_INIT;
    vstatus st = derive(s, v, &alarms);
    fp_buf_printf(b, "{\"id\":%" PRId64 ",\"status\":\"%s\",\"updated_at\":", v->id,
                  status_names[st]);
    if (v->ts == INT64_MIN)
        fp_buf_puts(b, "null");
    else
        put_time(b, v->ts);
    const hfield *dev = find(v, "device_id");
    fp_buf_puts(b, ",\"device_id\":");
    if (dev)
        fp_json_quote(b, dev->val, dev->vlen);
    else
        fp_buf_puts(b, "null");
    fp_buf_printf(b, ",\"alarms\":[%s]", alarms.p ? alarms.p : "");
    double lat, lng;
    const hfield *fl = find(v, "lat");
    if (num(v, "lat", &lat) && num(v, "lng", &lng)) {
        fp_buf_puts(b, ",\"position\":{\"lat\":");
        fp_buf_put_double(b, lat);
        fp_buf_puts(b, ",\"lng\":");
        fp_buf_put_double(b, lng);
        double h, sp;
        if (num(v, "heading", &h)) {
            fp_buf_puts(b, ",\"heading\":");
            fp_buf_put_double(b, h);
        }
        if (num(v, "speed", &sp)) {
            fp_buf_puts(b, ",\"speed\":");
            fp_buf_put_double(b, sp);
        }
        fp_buf_puts(b, ",\"at\":");
        if (fl->ts == INT64_MIN)
            fp_buf_puts(b, "null");
        else
            put_time(b, fl->ts);
        fp_buf_putc(b, '}');
    } else {
        fp_buf_puts(b, ",\"position\":null");
    }
    /* cargo zones, in zone order */
    fp_buf_puts(b, ",\"cargo\":[");
    int last = 0;
    bool first_zone = true;
    for (;;) {
        int next = 0;
        for (size_t i = 0; i < v->n; i++) {
            size_t base;
            int z = zone_of(&v->f[i], &base);
            if (z > last && (!next || z < next))
                next = z;
        }
        if (!next)
            break;
        fp_buf_printf(b, "%s{\"zone\":%d", first_zone ? "" : ",", next);
        first_zone = false;
        for (size_t i = 0; i < v->n; i++) {
            size_t base;
            if (zone_of(&v->f[i], &base) != next)
                continue;
            fp_buf_putc(b, ',');
            fp_json_quote(b, v->f[i].name, base);
            fp_buf_putc(b, ':');
            put_field(b, &v->f[i]);
        }
        fp_buf_putc(b, '}');
        last = next;
    }
    fp_buf_puts(b, "],\"fields\":{");
    bool first = true;
    for (size_t i = 0; i < v->n; i++) {
        size_t base;
        if (zone_of(&v->f[i], &base))
            continue;
        if (!first)
            fp_buf_putc(b, ',');
        first = false;
        fp_json_quote(b, v->f[i].name, v->f[i].nlen);
        fp_buf_putc(b, ':');
        put_field(b, &v->f[i]);
    }
    fp_buf_puts(b, "}}");
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
        if (!num(v, "lat", &lat) || !num(v, "lng", &lng) || lng < f->min_lng || lng > f->max_lng ||
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

/* HGETALL of each id, pipelined; replies[i] owned by the caller (freeReplyObject). */
static bool read_hashes(fp_serve_call *c, redisContext *rc, const int64_t *ids, size_t n,
                        redisReply **replies)
{
    const char *prefix = c->s->o.key_prefix;
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(rc, "HGETALL %s%" PRId64, prefix, ids[i]);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(rc, &r) != REDIS_OK) {
            ok = false;
            for (size_t j = i; j < n; j++)
                replies[j] = NULL;
            break;
        }
        replies[i] = r;
    }
    if (!ok || rc->err) {
        for (size_t i = 0; i < n; i++)
            freeReplyObject(replies[i]);
        failed(c, rc, NULL, "HGETALL");
        return false;
    }
    return true;
}

/* The next ids of the index after `after`, at most n. */
static bool index_range(fp_serve_call *c, redisContext *rc, int64_t after, size_t n, int64_t *ids,
                        size_t *got)
{
    char lo[32], cnt[32];
    snprintf(lo, sizeof lo, "(%" PRId64, after);
    snprintf(cnt, sizeof cnt, "%zu", n);
    const char *argv[] = {"ZRANGEBYSCORE", c->s->o.index_key, lo, "+inf", "LIMIT", "0", cnt};
    redisReply *r = redisCommandArgv(rc, 7, argv, NULL);
    if (failed(c, rc, r, "ZRANGEBYSCORE"))
        return false;
    *got = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        char *end;
        long long id = strtoll(r->element[i]->str, &end, 10);
        if (*end || id <= after) /* a non-numeric member (score 0) is not a vehicle */
            continue;
        ids[(*got)++] = id;
    }
    freeReplyObject(r);
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
    /* the change stream's position before reading: a client that follows /stream from here
     * misses nothing that happened after this snapshot */
    redisContext *rc = NULL;
    if (fp_serve_stream_head(s, &head, &err)) {
        fp_serve_unavailable(c, "redis", &err);
        goto out;
    }
    rc = fp_serve_redis_get(s, &err);
    if (!rc) {
        fp_serve_unavailable(c, "redis", &err);
        goto out;
    }
    size_t batch = f.status_mask || f.bbox ? (size_t)limit * 2 + 64 : (size_t)limit + 1;
    if (batch > PAGE_MAX + 1)
        batch = PAGE_MAX + 1;
    int64_t *ids = fp_xcalloc(batch, sizeof *ids);
    redisReply **reps = fp_xcalloc(batch, sizeof *reps);
    fp_buf *b = &c->resp->body;
    fp_buf_puts(b, "{\"data\":[");
    size_t rows = 0, scanned = 0, pos_ids = 0;
    int64_t last = after;
    bool more = false, first = true;
    while (rows < (size_t)limit && scanned < SCAN_MAX) {
        size_t got = 0;
        if (f.nids) {
            while (pos_ids < f.nids && f.ids[pos_ids] <= last)
                pos_ids++;
            while (got < batch && pos_ids + got < f.nids)
                ids[got] = f.ids[pos_ids + got], got++;
        } else if (!index_range(c, rc, last, batch, ids, &got)) {
            goto fail;
        }
        if (!got)
            break;
        if (!read_hashes(c, rc, ids, got, reps))
            goto fail;
        size_t i = 0;
        for (; i < got; i++) {
            vstate v;
            bool present = parse_hash(reps[i], ids[i], &v);
            if (present && v.ts != INT64_MIN)
                fp_serve_saw_ts(s, v.ts);
            if (rows == (size_t)limit) {
                /* one more exists: the page is full */
                if (present && keep(s, &f, &v))
                    more = true;
                free(v.f);
                if (more)
                    break;
                last = ids[i];
                continue;
            }
            if (present && keep(s, &f, &v)) {
                if (!first)
                    fp_buf_putc(b, ',');
                first = false;
                put_vehicle(s, b, &v);
                rows++;
            }
            free(v.f);
            last = ids[i];
        }
        for (size_t j = 0; j < got; j++)
            freeReplyObject(reps[j]);
        scanned += i;
        if (more || got < batch)
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
    free(ids);
    free(reps);
    goto out;
fail:
    free(ids);
    free(reps);
out:
    fp_serve_redis_put(s, rc);
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
    redisContext *rc = fp_serve_redis_get(s, &err);
    if (!rc) {
        fp_serve_unavailable(c, "redis", &err);
        return;
    }
    redisReply *r = NULL;
    if (!read_hashes(c, rc, &id, 1, &r))
        goto out;
    vstate v;
    if (!parse_hash(r, id, &v)) {
        fp_serve_fail(c, 404, "vehicle %" PRId64 " not found", id);
        free(v.f);
        goto out;
    }
    fp_serve_saw_ts(s, v.ts);
    fp_buf *b = &c->resp->body;
    fp_buf_puts(b, "{\"data\":");
    put_vehicle(s, b, &v);
    /* the latest 5-minute window per cargo zone, as the redis-agg-5m connector keeps it */
    b->len--; /* reopen the vehicle object */
    fp_buf_puts(b, ",\"aggregates\":[");
    bool first = true;
    for (size_t i = 0; i < v.n; i++) {
        size_t base;
        int z = zone_of(&v.f[i], &base);
        if (!z || base != 11 || memcmp(v.f[i].name, "temperature", 11))
            continue;
        redisReply *a = redisCommand(rc, "HGETALL %s%" PRId64 ":z%d", s->o.agg_prefix, id, z);
        if (failed(c, rc, a, "HGETALL")) {
            free(v.f);
            freeReplyObject(r);
            goto out;
        }
        vstate w;
        if (parse_hash(a, id, &w)) {
            fp_buf_printf(b, "%s{\"zone\":%d", first ? "" : ",", z);
            first = false;
            for (size_t j = 0; j < w.n; j++) {
                fp_buf_putc(b, ',');
                fp_json_quote(b, w.f[j].name, w.f[j].nlen);
                fp_buf_putc(b, ':');
                put_value(b, w.f[j].val, w.f[j].vlen);
            }
            fp_buf_putc(b, '}');
        }
        free(w.f);
        freeReplyObject(a);
    }
    /* today's KPIs, when the warehouse is configured and answers */
    fp_buf_puts(b, "],\"kpis\":");
    fp_buf kpis = FP_BUF_INIT;
    fp_err kerr = {0};
    if (fp_serve_pg_kpis(s, id, fp_serve_now_ms(s), &kpis, &kerr))
        fp_buf_puts(b, "null");
    else
        fp_buf_append(b, kpis.p, kpis.len);
    fp_buf_puts(b, "}}\n");
    fp_buf_free(&kpis);
    free(v.f);
out:
    freeReplyObject(r);
    fp_serve_redis_put(s, rc);
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
static void feed_snapshot(fp_serve_call *c, redisContext *rc, const char *head, int64_t after,
                          int64_t limit)
{
    int64_t *ids = fp_xcalloc((size_t)limit + 1, sizeof *ids);
    redisReply **reps = fp_xcalloc((size_t)limit + 1, sizeof *reps);
    size_t got = 0;
    if (!index_range(c, rc, after, (size_t)limit + 1, ids, &got) ||
        (got && !read_hashes(c, rc, ids, got, reps))) {
        free(ids);
        free(reps);
        return;
    }
    bool more = got > (size_t)limit;
    size_t n = more ? (size_t)limit : got;
    fp_buf *b = &c->resp->body;
    fp_buf_puts(b, "{\"data\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        vstate v;
        if (parse_hash(reps[i], ids[i], &v)) { /* an indexed id whose hash is gone: skipped */
            if (!first)
                fp_buf_putc(b, ',');
            first = false;
            put_vehicle(c->s, b, &v);
        }
        free(v.f);
    }
    for (size_t i = 0; i < got; i++)
        freeReplyObject(reps[i]);
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
    free(reps);
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
            freeReplyObject(first);
            return;
        }
    }
    freeReplyObject(first);
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
    freeReplyObject(r);
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
    redisContext *rc = fp_serve_redis_get(s, &err);
    if (!rc) {
        fp_serve_unavailable(c, "redis", &err);
        goto out;
    }
    if (!have) {
        feed_snapshot(c, rc, head.p, 0, limit);
    } else if (snap) {
        char *bar = strchr(p.p, '|');
        char *end = NULL;
        int64_t after = bar ? strtoll(bar + 1, &end, 10) : -1;
        if (bar)
            *bar = '\0';
        if (!bar || *end || after < 0 || !fp_serve_sid_parse(p.p, &sid_seen))
            fp_serve_fail(c, 400, "parameter after: not a cursor this API gave out");
        else
            feed_snapshot(c, rc, p.p, after, limit);
    } else if (!fp_serve_sid_parse(p.p, &sid_seen)) {
        fp_serve_fail(c, 400, "parameter after: not a cursor this API gave out");
    } else {
        feed_changes(c, rc, p.p, limit);
    }
    fp_serve_redis_put(s, rc);
out:
    fp_buf_free(&head);
    fp_buf_free(&v);
    fp_buf_free(&p);
}
