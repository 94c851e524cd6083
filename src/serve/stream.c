/* stream.c — GET /api/v1/stream: every change as a Server-Sent Event, resumable by id.
 *
 * The history is the redis sink's change stream (XADD per change, ids "<ms>-<seq>" that Redis
 * makes strictly increasing), so an event's id is valid at any serve instance and after a
 * restart. One hub thread follows the stream (XREAD BLOCK) into a bounded ring of the newest
 * ring_events changes and wakes the clients; each client keeps only its position. A client that
 * resumes (Last-Event-ID, or ?last_event_id=) from inside the ring is served from memory; from
 * further back it is first caught up from Redis (XRANGE pages), then joins the ring; from before
 * what Redis still keeps it gets an `event: gap` naming the oldest id, then everything after.
 * A client without an id starts after the stream's newest entry at its request. A client never
 * gets an id twice or out of order: ids at or below the last one it was sent are skipped,
 * whichever path they come by.
 *
 * Slow clients: a client that falls client_lag_max changes behind the hub (or out of the ring)
 * gets `event: overflow` with the id to resume from, and is closed; memory per client is one
 * formatted batch. A client that stops reading altogether blocks only its own stream's thread
 * (ops/http.h), until the server's connection timeout closes it.
 *
 * Threads: the hub thread writes the ring under lock; client readers run on their streams'
 * threads and read it under the same lock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "redis/client.h"
#include "serve/serve_int.h"

#define XREAD_BLOCK_MS 1000
#define XREAD_COUNT 1000
#define CATCHUP_PAGE 500
#define BATCH_EVENTS 256
#define BATCH_BYTES (64 * 1024)

typedef fp_serve_sid sid;

typedef struct event {
    sid id;
    char *text; /* the whole SSE event, "id: ..\nevent: change\ndata: ..\n\n" */
    size_t len;
} event;

struct fp_serve_stream {
    fp_serve *s;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    event *ring;
    size_t cap;
    uint64_t next; /* ring positions [oldest, next) hold events */
    char why[256]; /* empty while the hub follows the stream */
    int64_t last_ok_mono;
    _Atomic uint64_t events, sent, clients, overflows, resumes_ring, resumes_redis, gaps;
};

bool fp_serve_sid_parse(const char *p, fp_serve_sid *out)
{
    const char *d = strchr(p, '-');
    if (!d || d == p || !d[1] || strlen(p) > 41)
        return false;
    for (const char *q = p; *q; q++)
        if (q != d && (*q < '0' || *q > '9'))
            return false;
    out->ms = strtoull(p, NULL, 10);
    out->seq = strtoull(d + 1, NULL, 10);
    return true;
}

int fp_serve_sid_cmp(fp_serve_sid a, fp_serve_sid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    return (a.seq > b.seq) - (a.seq < b.seq);
}

static uint64_t oldest(const fp_serve_stream *h)
{
    return h->next > h->cap ? h->next - h->cap : 0;
}

/* First ring position whose id is above id (under lock). */
static uint64_t ring_after(const fp_serve_stream *h, sid id)
{
    uint64_t lo = oldest(h), hi = h->next;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (fp_serve_sid_cmp(h->ring[mid % h->cap].id, id) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* One SSE event for stream entry (id text, payload d). */
static void format_event(fp_serve *s, const char *id, const char *d, size_t n, fp_buf *out)
{
    fp_buf_printf(out, "id: %s\nevent: change\ndata: ", id);
    fp_serve_put_change(out, id, d, n);
    fp_buf_puts(out, "\n\n");
    fp_span v;
    if (fp_json_obj_get((fp_span){d, n}, "ts", 2, &v)) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(v.n < 31 ? v.n : 31), v.p);
        fp_serve_saw_ts(s, strtoll(tmp, NULL, 10));
    }
}

/* ---------------------------------------------------------------- the hub */

static void hub_down(fp_serve_stream *h, const char *fmt, const char *why)
{
    pthread_mutex_lock(&h->lock);
    bool was_up = !h->why[0];
    snprintf(h->why, sizeof h->why, fmt, why);
    pthread_mutex_unlock(&h->lock);
    if (was_up)
        fp_log(FP_LOG_WARN, "serve", -1, "event stream: %s", h->why);
}

static void *hub_main(void *arg)
{
    fp_serve_stream *h = arg;
    fp_serve *s = h->s;
    char last[48] = "0-0"; /* from the start of what Redis keeps: the ring fills with history */
    redisContext *rc = NULL;
    int64_t backoff = 100;
    while (!atomic_load(&h->stop)) {
        if (!rc) {
            fp_err err = {0};
            if (fp_serve_redis_open(s, XREAD_BLOCK_MS + 5000, &rc, &err)) {
                hub_down(h, "redis unreachable: %.200s", err.msg);
                struct timespec ts = {0, (long)backoff * 1000000L};
                nanosleep(&ts, NULL);
                backoff = backoff < 2000 ? backoff * 2 : 2000;
                continue;
            }
        }
        char block[16], count[16];
        snprintf(block, sizeof block, "%d", XREAD_BLOCK_MS);
        snprintf(count, sizeof count, "%d", XREAD_COUNT);
        const char *argv[] = {"XREAD", "COUNT",   count,           "BLOCK",
                              block,   "STREAMS", s->o.stream_key, last};
        redisReply *r = redisCommandArgv(rc, 8, argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            hub_down(h, "redis XREAD: %.200s", r ? r->str : rc->errstr);
            freeReplyObject(r);
            redisFree(rc);
            rc = NULL;
            continue;
        }
        backoff = 100;
        const redisReply *entries = NULL;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
            entries = r->element[0]->element[1];
        size_t n = entries && entries->type == REDIS_REPLY_ARRAY ? entries->elements : 0;
        event *batch = n ? fp_xcalloc(n, sizeof *batch) : NULL;
        size_t nb = 0;
        for (size_t i = 0; i < n; i++) {
            const char *id = NULL;
            const redisReply *d = fp_serve_entry_data(entries->element[i], &id);
            if (!id)
                continue;
            snprintf(last, sizeof last, "%s", id);
            sid x;
            if (!d || !fp_serve_sid_parse(id, &x))
                continue;
            fp_buf t = FP_BUF_INIT;
            format_event(s, id, d->str, d->len, &t);
            batch[nb].id = x;
            batch[nb].len = t.len;
            batch[nb].text = fp_buf_steal(&t);
            nb++;
        }
        freeReplyObject(r);
        pthread_mutex_lock(&h->lock);
        h->why[0] = '\0';
        h->last_ok_mono = fp_time_mono_ms();
        for (size_t i = 0; i < nb; i++) {
            event *slot = &h->ring[h->next % h->cap];
            free(slot->text);
            *slot = batch[i];
            h->next++;
        }
        if (nb)
            pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->lock);
        atomic_fetch_add(&h->events, nb);
        free(batch);
    }
    if (rc)
        redisFree(rc);
    return NULL;
}

fp_code fp_serve_stream_init(fp_serve *s, fp_err *err)
{
    fp_serve_stream *h = fp_xcalloc(1, sizeof *h);
    h->s = s;
    h->cap = s->o.ring_events;
    h->ring = fp_xcalloc(h->cap, sizeof *h->ring);
    pthread_mutex_init(&h->lock, NULL);
    fp_time_cond_init(&h->cv);
    snprintf(h->why, sizeof h->why, "not connected to redis yet");
    s->stream = h;
    if (pthread_create(&h->thread, NULL, hub_main, h)) {
        fp_serve_stream_free(s);
        return fp_err_set(err, FP_ERR_IO, "serve: cannot start the event stream thread");
    }
    h->started = true;
    return FP_OK;
}

void fp_serve_stream_halt(fp_serve *s)
{
    fp_serve_stream *h = s->stream;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    atomic_store(&h->stop, true);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->lock);
}

void fp_serve_stream_free(fp_serve *s)
{
    fp_serve_stream *h = s->stream;
    if (!h)
        return;
    atomic_store(&h->stop, true);
    if (h->started)
        pthread_join(h->thread, NULL);
    for (size_t i = 0; i < h->cap; i++)
        free(h->ring[i].text);
    free(h->ring);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cv);
    free(h);
    s->stream = NULL;
}

bool fp_serve_stream_health(fp_serve *s, fp_buf *why)
{
    fp_serve_stream *h = s->stream;
    pthread_mutex_lock(&h->lock);
    bool ok = !h->why[0] && fp_time_mono_ms() - h->last_ok_mono < 3 * XREAD_BLOCK_MS + 5000;
    if (!ok)
        fp_buf_printf(why, "event stream: %s", h->why[0] ? h->why : "stalled");
    pthread_mutex_unlock(&h->lock);
    return ok;
}

void fp_serve_stream_metrics(fp_serve *s, fp_metrics_out *m)
{
    fp_serve_stream *h = s->stream;
    if (!h)
        return;
    struct {
        const char *name, *help;
        fp_metric_type t;
        _Atomic uint64_t *v;
    } rows[] = {
        {"fleetpipe_serve_stream_clients", "Event stream clients connected.", FP_METRIC_GAUGE,
         &h->clients},
        {"fleetpipe_serve_stream_changes_total", "Changes read from the Redis change stream.",
         FP_METRIC_COUNTER, &h->events},
        {"fleetpipe_serve_stream_events_sent_total", "Change events sent to stream clients.",
         FP_METRIC_COUNTER, &h->sent},
        {"fleetpipe_serve_stream_overflows_total",
         "Stream clients closed for falling behind (they resume by id).", FP_METRIC_COUNTER,
         &h->overflows},
        {"fleetpipe_serve_stream_gaps_total",
         "Resumes from an id older than the history Redis keeps (event: gap sent).",
         FP_METRIC_COUNTER, &h->gaps},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fp_metrics_family(m, rows[i].name, rows[i].t, rows[i].help);
        fp_metrics_sample_u64(m, NULL, atomic_load(rows[i].v));
    }
    fp_metrics_family(m, "fleetpipe_serve_stream_resumes_total", FP_METRIC_COUNTER,
                      "Stream clients that resumed by id, by where the history came from.");
    fp_metrics_sample_u64(m, (const char *[]){"from", "memory", NULL},
                          atomic_load(&h->resumes_ring));
    fp_metrics_sample_u64(m, (const char *[]){"from", "redis", NULL},
                          atomic_load(&h->resumes_redis));
}

fp_code fp_serve_stream_head(fp_serve *s, fp_buf *out, fp_err *err)
{
    redisContext *rc = fp_serve_redis_get(s, err);
    if (!rc)
        return FP_ERR_IO;
    redisReply *r = redisCommand(rc, "XREVRANGE %s + - COUNT 1", s->o.stream_key);
    fp_code code = FP_OK;
    if (!r || r->type == REDIS_REPLY_ERROR)
        code = fp_err_set(err, FP_ERR_IO, "XREVRANGE: %s", r ? r->str : rc->errstr);
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
             r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
        fp_buf_puts(out, r->element[0]->element[0]->str);
    else
        fp_buf_puts(out, "0-0");
    freeReplyObject(r);
    fp_serve_redis_put(s, rc);
    return code;
}

/* ---------------------------------------------------------------- one client */

typedef struct client {
    fp_serve *s;
    fp_serve_stream *h;
    uint64_t pos;     /* next ring position (live) */
    bool catching_up; /* from Redis until the ring covers what follows `last` */
    bool have_last;
    sid last; /* the last id sent (or resumed from) */
    char last_text[48];
    bool closing;
    fp_buf out;
    size_t off;
} client;

static void client_free(void *ctx)
{
    client *cl = ctx;
    atomic_fetch_sub(&cl->h->clients, 1);
    fp_buf_free(&cl->out);
    free(cl);
}

static bool newer(const client *cl, sid id)
{
    return !cl->have_last || fp_serve_sid_cmp(id, cl->last) > 0;
}

static void mark(client *cl, sid id, const char *text)
{
    cl->last = id;
    cl->have_last = true;
    snprintf(cl->last_text, sizeof cl->last_text, "%s", text);
}

static void close_with(client *cl, const char *kind, const char *reason)
{
    fp_buf_printf(&cl->out, "event: %s\ndata: {\"reason\":\"%s\",\"resume_from\":", kind, reason);
    if (cl->have_last)
        fp_json_quote(&cl->out, cl->last_text, strlen(cl->last_text));
    else
        fp_buf_puts(&cl->out, "null");
    fp_buf_puts(&cl->out, "}\n\n");
    cl->closing = true;
}

/* Joins the ring when it holds everything after cl->last and cl is not already further behind
 * than a live client may be (else it would overflow at once): under lock. */
static bool join_ring(client *cl)
{
    fp_serve_stream *h = cl->h;
    if (h->next == oldest(h) || fp_serve_sid_cmp(h->ring[oldest(h) % h->cap].id, cl->last) > 0)
        return false;
    uint64_t pos = ring_after(h, cl->last);
    if (h->next - pos > cl->s->o.client_lag_max)
        return false;
    cl->pos = pos;
    cl->catching_up = false;
    return true;
}

/* One page of history from Redis after cl->last; switches to the ring once it covers the rest. */
static void catch_up(client *cl)
{
    fp_serve_stream *h = cl->h;
    pthread_mutex_lock(&h->lock);
    bool joined = join_ring(cl);
    pthread_mutex_unlock(&h->lock);
    if (joined)
        return;
    fp_err err = {0};
    redisContext *rc = fp_serve_redis_get(cl->s, &err);
    if (!rc) {
        close_with(cl, "error", "redis unreachable");
        return;
    }
    char start[64], cnt[16];
    snprintf(start, sizeof start, "(%" PRIu64 "-%" PRIu64, cl->last.ms, cl->last.seq);
    snprintf(cnt, sizeof cnt, "%d", CATCHUP_PAGE);
    const char *argv[] = {"XRANGE", cl->s->o.stream_key, start, "+", "COUNT", cnt};
    redisReply *r = redisCommandArgv(rc, 6, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        close_with(cl, "error", "redis XRANGE failed");
    } else if (!r->elements) {
        /* nothing more in Redis: the ring (filling behind Redis) carries on */
        pthread_mutex_lock(&h->lock);
        cl->pos = ring_after(h, cl->last);
        pthread_mutex_unlock(&h->lock);
        cl->catching_up = false;
    } else {
        for (size_t i = 0; i < r->elements; i++) {
            const char *id = NULL;
            const redisReply *d = fp_serve_entry_data(r->element[i], &id);
            sid x;
            if (!id || !fp_serve_sid_parse(id, &x) || !newer(cl, x))
                continue;
            if (d) {
                format_event(cl->s, id, d->str, d->len, &cl->out);
                atomic_fetch_add(&h->sent, 1);
            }
            mark(cl, x, id);
        }
    }
    freeReplyObject(r);
    fp_serve_redis_put(cl->s, rc);
}

/* Live: the next batch from the ring, or a wait that ends in a heartbeat. */
static void live(client *cl)
{
    fp_serve_stream *h = cl->h;
    fp_serve *s = cl->s;
    pthread_mutex_lock(&h->lock);
    if (cl->pos < oldest(h) || h->next - cl->pos > s->o.client_lag_max) {
        pthread_mutex_unlock(&h->lock);
        atomic_fetch_add(&h->overflows, 1);
        close_with(cl, "overflow", "client too slow: resume with Last-Event-ID");
        return;
    }
    if (cl->pos == h->next) {
        struct timespec dl = fp_time_deadline(s->o.heartbeat_ms);
        int rc = 0;
        while (cl->pos == h->next && rc == 0 && !atomic_load(&h->stop))
            rc = pthread_cond_timedwait(&h->cv, &h->lock, &dl);
        if (cl->pos == h->next) {
            pthread_mutex_unlock(&h->lock);
            if (atomic_load(&h->stop))
                cl->closing = true;
            else
                fp_buf_printf(&cl->out, ": heartbeat %" PRId64 "\n\n", fp_time_now_ms());
            return;
        }
    }
    size_t n = 0;
    while (cl->pos < h->next && n < BATCH_EVENTS && cl->out.len < BATCH_BYTES) {
        const event *e = &h->ring[cl->pos % h->cap];
        cl->pos++;
        if (!newer(cl, e->id))
            continue;
        fp_buf_append(&cl->out, e->text, e->len);
        cl->last = e->id;
        cl->have_last = true;
        const char *nl = memchr(e->text + 4, '\n', e->len - 4);
        snprintf(cl->last_text, sizeof cl->last_text, "%.*s", (int)(nl - e->text - 4), e->text + 4);
        n++;
    }
    pthread_mutex_unlock(&h->lock);
    atomic_fetch_add(&h->sent, n);
}

static ssize_t client_read(void *ctx, char *buf, size_t max)
{
    client *cl = ctx;
    for (;;) {
        if (cl->off < cl->out.len) {
            size_t n = cl->out.len - cl->off;
            if (n > max)
                n = max;
            memcpy(buf, cl->out.p + cl->off, n);
            cl->off += n;
            if (cl->off == cl->out.len) {
                fp_buf_reset(&cl->out);
                cl->off = 0;
            }
            return (ssize_t)n;
        }
        if (cl->closing)
            return -1;
        if (cl->catching_up) {
            catch_up(cl);
        } else {
            live(cl);
        }
    }
}

/* A resume from before what Redis keeps (the id itself is gone, and what followed it may be
 * too): `event: gap` naming the oldest id kept, before everything from there. */
static void say_gap(client *cl, sid id)
{
    fp_err err = {0};
    redisContext *rc = fp_serve_redis_get(cl->s, &err);
    redisReply *r = rc ? redisCommand(rc, "XRANGE %s - + COUNT 1", cl->s->o.stream_key) : NULL;
    sid first;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY &&
        fp_serve_sid_parse(r->element[0]->element[0]->str, &first) &&
        fp_serve_sid_cmp(id, first) < 0) {
        fp_buf_printf(&cl->out,
                      "event: gap\ndata: {\"reason\":\"history trimmed\",\"oldest\":\"%s\"}\n\n",
                      r->element[0]->element[0]->str);
        atomic_fetch_add(&cl->h->gaps, 1);
    }
    freeReplyObject(r);
    fp_serve_redis_put(cl->s, rc);
}

void fp_serve_sse(fp_serve_call *c)
{
    fp_serve *s = c->s;
    fp_serve_stream *h = s->stream;
    fp_buf q = FP_BUF_INIT;
    bool bad = false;
    const char *from = fp_http_header(c->req, "Last-Event-ID");
    if (!from && fp_serve_query(c, "last_event_id", &q, &bad))
        from = q.p;
    if (bad)
        goto out;
    sid id = {0, 0};
    if (from && *from && !fp_serve_sid_parse(from, &id)) {
        fp_serve_fail(c, 400, "Last-Event-ID: '%.48s' is not an id this stream gave out", from);
        goto out;
    }
    fp_err err = {0};
    fp_buf why = FP_BUF_INIT;
    if (!fp_serve_stream_health(s, &why)) {
        fp_err_set(&err, FP_ERR_IO, "%s", why.p);
        fp_serve_unavailable(c, "redis", &err);
        fp_buf_free(&why);
        goto out;
    }
    fp_buf_free(&why);
    client *cl = fp_xcalloc(1, sizeof *cl);
    cl->s = s;
    cl->h = h;
    fp_buf_puts(&cl->out, "retry: 2000\n: fleetpipe change stream\n\n");
    if (from && *from) {
        mark(cl, id, from);
        cl->catching_up = true;
        pthread_mutex_lock(&h->lock);
        bool in_ring = join_ring(cl);
        pthread_mutex_unlock(&h->lock);
        atomic_fetch_add(in_ring ? &h->resumes_ring : &h->resumes_redis, 1);
        if (!in_ring)
            say_gap(cl, id);
    } else {
        /* From now on: after the stream's newest entry. The ring alone would not do while the
         * hub is still loading history (it starts at the oldest entry Redis keeps, 1,000 a
         * read): those entries would reach this client as new. With its last id at the head,
         * the skip rule drops them. */
        fp_buf head = FP_BUF_INIT;
        sid hid;
        if (fp_serve_stream_head(s, &head, &err)) {
            fp_buf_free(&head);
            fp_buf_free(&cl->out);
            free(cl);
            fp_serve_unavailable(c, "redis", &err);
            goto out;
        }
        if (fp_serve_sid_parse(head.p, &hid) && (hid.ms || hid.seq))
            mark(cl, hid, head.p);
        fp_buf_free(&head);
        pthread_mutex_lock(&h->lock);
        cl->pos = cl->have_last ? ring_after(h, cl->last) : h->next;
        pthread_mutex_unlock(&h->lock);
    }
    atomic_fetch_add(&h->clients, 1);
    c->resp->content_type = "text/event-stream";
    fp_http_resp_header(c->resp, "X-Accel-Buffering", "no");
    c->resp->stream = client_read;
    c->resp->stream_ctx = cl;
    c->resp->stream_free = client_free;
out:
    fp_buf_free(&q);
}
