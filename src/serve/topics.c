/* topics.c — GET /topics (partitions and watermarks), GET /topics/{t}/messages (a read-only
 * browser like "UI for Apache Kafka": keys, every header, values as text or base64) and
 * GET /pipeline (connect's connectors and tasks, dead letters by reason, newest check results, the
 * warehouse scheduler's runs per DAG, and the counters of each --stage-metrics part).
 *
 * The one thing to know: nothing here joins a group or commits, and nothing waits past the
 * request's budget (BUDGET_MS). Metadata and watermarks use one shared long-lived handle;
 * messages are read by an assign()-only consumer made per request (small prefetch, at most
 * READERS_MAX at once). /pipeline asks its three sources on three threads; one that cannot be
 * reached is {"available": false, "error"} in a 200 answer. Threads: request threads of their own
 * (serve.c's route_run).
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/status_client.h"
#include "core/json.h"
#include "core/props.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "ops/scrape.h"
#include "pg/pg.h"
#include "serve/serve_int.h"

#define BUDGET_MS 2000            /* one request's Kafka (and connect, PostgreSQL) time */
#define READERS_MAX 8             /* consumers open at once, over all requests */
#define LIMIT_DEFAULT 50          /* messages per answer */
#define LIMIT_MAX 500             /* ... at most */
#define SCAN_MAX 10000            /* messages one browser request may look at (key filter) */
#define DEADLETTER_SCAN_MAX 50000 /* dead letters /pipeline counts, the newest first */
#define VALUE_MAX (64 * 1024)     /* bytes of a value (or header) shown; the rest is cut */
#define DQ_ROWS_MAX 1000          /* checks shown by /pipeline */
#define TREND_DAYS_TEXT "30"      /* local days of results per status /pipeline's trend gives */
#define REASONS_MAX 200           /* distinct error.class values counted; more: "(other)" */
#define DEADLETTER_TOPIC "fms.deadletter"

struct fp_serve_topics {
    const char *bootstrap; /* borrowed from fp_serve.o; NULL: Kafka not configured */
    rd_kafka_t *meta;      /* metadata and watermarks only; shared by every request */
    atomic_int readers;    /* consumers open now */
};

/* ---------------------------------------------------------------- backend */

fp_code fp_serve_topics_init(fp_serve *s, fp_err *err)
{
    const fp_serve_opts *o = &s->o;
    if (!o->bootstrap && !o->connect_url && !o->pg)
        return FP_OK;
    fp_serve_topics *t = fp_xcalloc(1, sizeof *t);
    if (o->bootstrap) {
        fp_code rc = fp_kafka_bootstrap_check("--bootstrap-servers", o->bootstrap, err);
        if (!rc) {
            rd_kafka_conf_t *conf = rd_kafka_conf_new();
            rc = fp_kafka_conf_set(conf, "client.id", "fleetpipe-serve-topics", err);
            if (rc)
                rd_kafka_conf_destroy(conf);
            else
                t->meta = fp_kafka_producer_new(o->bootstrap, conf, NULL, NULL, err);
            if (!rc && !t->meta)
                rc = err->code;
        }
        if (rc) {
            free(t);
            return rc;
        }
        t->bootstrap = o->bootstrap;
    }
    s->topics = t;
    return FP_OK;
}

void fp_serve_topics_free(fp_serve *s)
{
    fp_serve_topics *t = s->topics;
    if (!t)
        return;
    if (t->meta)
        rd_kafka_destroy(t->meta);
    free(t);
    s->topics = NULL;
}

/* ---------------------------------------------------------------- Kafka */

static int left_ms(int64_t deadline)
{
    int64_t left = deadline - fp_time_mono_ms();
    return left < 1 ? 1 : (int)left;
}

/* Every topic's metadata (never a named topic: asking for one may create it). */
static fp_code metadata(fp_serve_topics *t, int64_t deadline, const rd_kafka_metadata_t **md,
                        fp_err *err)
{
    rd_kafka_resp_err_t e = rd_kafka_metadata(t->meta, 1, NULL, md, left_ms(deadline));
    if (e)
        return fp_kafka_err(err, e, "metadata");
    return FP_OK;
}

static const rd_kafka_metadata_topic_t *find_topic(const rd_kafka_metadata_t *md, const char *name)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, name))
            return &md->topics[i];
    return NULL;
}

/* The low and high watermarks of every partition of topics[0..n): two ListOffsets rounds (one
 * request per leader each, rd_kafka_offsets_for_times with the special times "earliest" and
 * "latest", which is what query_watermark_offsets asks one partition at a time). lo and hi come
 * back in the order of the topics' partitions; a partition whose offset is unknown has
 * RD_KAFKA_OFFSET_INVALID and its error in .err. An error return: no partition is known. */
static rd_kafka_resp_err_t watermarks(fp_serve_topics *t,
                                      const rd_kafka_metadata_topic_t *const *topics, size_t n,
                                      int64_t deadline, rd_kafka_topic_partition_list_t **lo,
                                      rd_kafka_topic_partition_list_t **hi)
{
    int cnt = 0;
    for (size_t i = 0; i < n; i++)
        cnt += topics[i]->partition_cnt;
    *lo = rd_kafka_topic_partition_list_new(cnt > 0 ? cnt : 1);
    *hi = rd_kafka_topic_partition_list_new(cnt > 0 ? cnt : 1);
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < topics[i]->partition_cnt; p++) {
            int32_t id = topics[i]->partitions[p].id;
            rd_kafka_topic_partition_list_add(*lo, topics[i]->topic, id)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
            rd_kafka_topic_partition_list_add(*hi, topics[i]->topic, id)->offset =
                RD_KAFKA_OFFSET_END;
        }
    if (!cnt)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(t->meta, *lo, left_ms(deadline));
    if (!e)
        e = rd_kafka_offsets_for_times(t->meta, *hi, left_ms(deadline));
    if (!e)
        return e;
    /* A round fails whole when one leader cannot be found: ask partition by partition, so one
     * offline partition is an error of its own and not the answer's. */
    bool any = false;
    for (int i = 0; i < cnt; i++) {
        rd_kafka_topic_partition_t *l = &(*lo)->elems[i], *h = &(*hi)->elems[i];
        rd_kafka_resp_err_t pe =
            fp_time_mono_ms() < deadline
                ? rd_kafka_query_watermark_offsets(t->meta, l->topic, l->partition, &l->offset,
                                                   &h->offset, left_ms(deadline))
                : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (pe)
            l->offset = h->offset = RD_KAFKA_OFFSET_INVALID;
        l->err = h->err = pe;
        any = any || !pe;
    }
    return any ? RD_KAFKA_RESP_ERR_NO_ERROR : e;
}

/* One partition a reader consumes: [start, end) of it, end being the high watermark when the
 * request began (what arrives later is the next page's). */
typedef struct range {
    int32_t partition;
    int64_t start, end;
    int64_t next; /* the offset after the last one seen */
    bool done;
} range;

/* Called per message in range; false stops the reader. */
typedef bool (*on_message_fn)(void *ctx, const rd_kafka_message_t *m);

typedef enum read_end { READ_DONE, READ_STOPPED, READ_BUDGET } read_end;

static bool reader_enter(fp_serve_topics *t)
{
    if (atomic_fetch_add(&t->readers, 1) < READERS_MAX)
        return true;
    atomic_fetch_sub(&t->readers, 1);
    return false;
}

/* Reads topic's ranges with an assign()-only consumer until every range is done, on_message
 * says stop, or the deadline. *last_error (cap bytes) gets the last consumer error seen ("" when
 * none). FP_ERR_* only when the consumer cannot be made or assigned. */
static fp_code read_ranges(fp_serve_topics *t, const char *topic, range *r, size_t n,
                           int64_t deadline, on_message_fn on_message, void *ctx, read_end *end,
                           char *last_error, size_t cap, fp_err *err)
{
    *end = READ_DONE;
    last_error[0] = '\0';
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)n + 1);
    size_t open = 0;
    for (size_t i = 0; i < n; i++) {
        r[i].next = r[i].start;
        r[i].done = r[i].start >= r[i].end;
        if (!r[i].done) {
            rd_kafka_topic_partition_list_add(parts, topic, r[i].partition)->offset = r[i].start;
            open++;
        }
    }
    if (!open) {
        rd_kafka_topic_partition_list_destroy(parts);
        return FP_OK;
    }
    /* A small prefetch: a browser reads at most a few MiB, and READERS_MAX run at once. */
    fp_props over;
    fp_props_init(&over);
    fp_props_set(&over, "b.queued.max.messages.kbytes", "2048");
    fp_props_set(&over, "b.fetch.max.bytes", "1048576");
    fp_props_set(&over, "b.queued.min.messages", "1000");
    fp_kafka_consumer_opts co = {.bootstrap = t->bootstrap,
                                 .group = "fleetpipe-serve-browser", /* never joined */
                                 .client_id = "fleetpipe-serve-browser",
                                 .partition_eof = true,
                                 .overrides = &over,
                                 .override_prefix = "b."};
    rd_kafka_t *rk = fp_kafka_consumer_new(&co, err);
    fp_props_free(&over);
    if (!rk) {
        rd_kafka_topic_partition_list_destroy(parts);
        return err->code;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    fp_code rc = FP_OK;
    if (e) {
        rc = fp_kafka_err(err, e, "assign");
        open = 0;
    }
    while (open) {
        if (fp_time_mono_ms() >= deadline) {
            *end = READ_BUDGET;
            break;
        }
        int wait = left_ms(deadline);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, wait < 100 ? wait : 100);
        if (!m)
            continue;
        range *hit = NULL;
        for (size_t i = 0; i < n && !hit && m->rkt; i++)
            if (r[i].partition == m->partition && !strcmp(rd_kafka_topic_name(m->rkt), topic))
                hit = &r[i];
        bool stop = false;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (hit && !hit->done) {
                /* offsets left below end hold no message (transaction markers, compaction) */
                if (m->offset > hit->next)
                    hit->next = m->offset < hit->end ? m->offset : hit->end;
                hit->done = true;
                open--;
            }
        } else if (m->err) {
            snprintf(last_error, cap, "%s", rd_kafka_message_errstr(m));
        } else if (hit && !hit->done) {
            if (m->offset >= hit->end) {
                hit->done = true;
                open--;
            } else {
                hit->next = m->offset + 1;
                stop = !on_message(ctx, m);
                if (hit->next >= hit->end) {
                    hit->done = true;
                    open--;
                }
            }
        }
        rd_kafka_message_destroy(m);
        if (stop) {
            *end = READ_STOPPED;
            break;
        }
    }
    fp_kafka_consumer_close(rk, 1000, NULL, "serve");
    return rc;
}

/* ---------------------------------------------------------------- JSON */

static void put_key(fp_buf *b, const char *k)
{
    fp_json_quote(b, k, strlen(k));
    fp_buf_putc(b, ':');
}

/* "<name>": bytes as text (valid UTF-8) or base64, "<name>_encoding", and, when the bytes
 * are longer than VALUE_MAX, only the first VALUE_MAX of them (text: cut at a character
 * boundary) and "<name>_truncated": true. NULL: null, no encoding. */
static void put_bytes(fp_buf *b, const char *name, const void *p, size_t n)
{
    char k[64];
    put_key(b, name);
    if (!p) {
        fp_buf_puts(b, "null");
        return;
    }
    const char *s = p;
    bool text = fp_utf8_valid(s, n);
    size_t shown = n > VALUE_MAX ? VALUE_MAX : n;
    while (text && shown < n && shown > 0 && ((unsigned char)s[shown] & 0xc0) == 0x80)
        shown--;
    if (text)
        fp_json_quote(b, s, shown);
    else
        fp_json_quote_base64(b, s, shown);
    snprintf(k, sizeof k, ",\"%s_encoding\":", name);
    fp_buf_puts(b, k);
    fp_buf_puts(b, text ? "\"text\"" : "\"base64\"");
    if (shown < n) {
        snprintf(k, sizeof k, ",\"%s_truncated\":true", name);
        fp_buf_puts(b, k);
    }
}

static void put_offset(fp_buf *b, int64_t v)
{
    if (v < 0)
        fp_buf_puts(b, "null");
    else
        fp_buf_printf(b, "%" PRId64, v);
}

/* One message as the browser shows it. */
static void put_message(fp_buf *b, const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    fp_buf_printf(b,
                  "{\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"timestamp\":", m->partition,
                  m->offset);
    if (tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0) {
        fp_buf_puts(b, "null,\"timestamp_ms\":null");
    } else {
        fp_buf_putc(b, '"');
        fp_time_format_iso(ts, b);
        fp_buf_printf(b, "\",\"timestamp_ms\":%" PRId64, ts);
    }
    fp_buf_printf(b, ",\"timestamp_type\":\"%s\",",
                  tt == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? "create_time"
                  : tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "log_append_time"
                                                             : "none");
    put_bytes(b, "key", m->key, m->key_len);
    fp_buf_puts(b, ",\"headers\":[");
    rd_kafka_headers_t *h = NULL;
    if (!rd_kafka_message_headers(m, &h) && h) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &size); i++) {
            fp_buf_puts(b, i ? ",{" : "{");
            put_key(b, "key");
            fp_json_quote(b, name, strlen(name));
            fp_buf_putc(b, ',');
            put_bytes(b, "value", val, size);
            fp_buf_putc(b, '}');
        }
    }
    fp_buf_puts(b, "],");
    put_bytes(b, "value", m->payload, m->len);
    fp_buf_printf(b, ",\"value_bytes\":%zu}", m->payload ? m->len : 0);
}

/* The value of header name as a string into out (reset); false when the message has none. */
static bool header_value(const rd_kafka_message_t *m, const char *name, fp_buf *out)
{
    rd_kafka_headers_t *h = NULL;
    const void *val = NULL;
    size_t size = 0;
    fp_buf_reset(out);
    if (rd_kafka_message_headers(m, &h) || !h || rd_kafka_header_get_last(h, name, &val, &size) ||
        !val)
        return false;
    fp_buf_append(out, val, size);
    if (!out->p)
        fp_buf_reserve(out, 0);
    return true;
}

static void send_body(fp_serve_call *c, fp_buf *body)
{
    fp_http_resp *r = c->resp;
    r->status = 200;
    r->content_type = "application/json";
    fp_buf_reset(&r->body);
    fp_buf_append(&r->body, body->p ? body->p : "", body->len);
}

/* ---------------------------------------------------------------- GET /topics */

static int cmp_topic(const void *a, const void *b)
{
    const rd_kafka_metadata_topic_t *x = *(const rd_kafka_metadata_topic_t *const *)a;
    const rd_kafka_metadata_topic_t *y = *(const rd_kafka_metadata_topic_t *const *)b;
    return strcmp(x->topic, y->topic);
}

static int cmp_partition(const void *a, const void *b)
{
    const rd_kafka_metadata_partition_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

void fp_serve_topic_list(fp_serve_call *c)
{
    fp_serve_topics *t = c->s->topics;
    if (!t || !t->meta) {
        fp_serve_unavailable(c, "kafka", NULL);
        return;
    }
    int64_t deadline = fp_time_mono_ms() + BUDGET_MS;
    const rd_kafka_metadata_t *md = NULL;
    fp_err err = {0};
    if (metadata(t, deadline, &md, &err)) {
        fp_serve_unavailable(c, "kafka", &err);
        return;
    }
    size_t n = 0;
    const rd_kafka_metadata_topic_t **tops = fp_xcalloc((size_t)md->topic_cnt + 1, sizeof *tops);
    for (int i = 0; i < md->topic_cnt; i++)
        if (!md->topics[i].err)
            tops[n++] = &md->topics[i];
    qsort(tops, n, sizeof *tops, cmp_topic);
    rd_kafka_topic_partition_list_t *lo, *hi;
    rd_kafka_resp_err_t we = watermarks(t, tops, n, deadline, &lo, &hi);
    if (we && n) {
        fp_kafka_err(&err, we, "watermarks");
        fp_serve_unavailable(c, "kafka", &err);
        goto out;
    }
    fp_buf b = FP_BUF_INIT;
    fp_buf_printf(&b, "{\"brokers\":%d,\"topics\":[", md->broker_cnt);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_metadata_topic_t *tp = tops[i];
        /* watermarks are in metadata order; the answer lists partitions by id */
        rd_kafka_metadata_partition_t *ps = fp_xcalloc((size_t)tp->partition_cnt + 1, sizeof *ps);
        memcpy(ps, tp->partitions, (size_t)tp->partition_cnt * sizeof *ps);
        int base = k;
        qsort(ps, (size_t)tp->partition_cnt, sizeof *ps, cmp_partition);
        fp_buf_puts(&b, i ? ",{" : "{");
        put_key(&b, "name");
        fp_json_quote(&b, tp->topic, strlen(tp->topic));
        fp_buf_puts(&b, ",\"partitions\":[");
        int64_t total = 0;
        bool total_known = true;
        for (int p = 0; p < tp->partition_cnt; p++) {
            int j = base;
            while (j < base + tp->partition_cnt && lo->elems[j].partition != ps[p].id)
                j++;
            const rd_kafka_topic_partition_t *l = &lo->elems[j], *h = &hi->elems[j];
            bool known = !l->err && !h->err && l->offset >= 0 && h->offset >= 0;
            fp_buf_printf(&b, "%s{\"partition\":%" PRId32 ",\"leader\":%" PRId32 ",\"low\":",
                          p ? "," : "", ps[p].id, ps[p].leader);
            put_offset(&b, known ? l->offset : -1);
            fp_buf_puts(&b, ",\"high\":");
            put_offset(&b, known ? h->offset : -1);
            fp_buf_puts(&b, ",\"messages\":");
            put_offset(&b, known ? h->offset - l->offset : -1);
            if (!known) {
                const char *why = rd_kafka_err2str(l->err ? l->err : h->err);
                fp_buf_puts(&b, ",\"error\":");
                fp_json_quote(&b, why, strlen(why));
                total_known = false;
            } else {
                total += h->offset - l->offset;
            }
            fp_buf_putc(&b, '}');
        }
        k += tp->partition_cnt;
        fp_buf_puts(&b, "],\"messages\":");
        put_offset(&b, total_known ? total : -1);
        fp_buf_putc(&b, '}');
        free(ps);
    }
    fp_buf_puts(&b, "]}\n");
    send_body(c, &b);
    fp_buf_free(&b);
out:
    rd_kafka_topic_partition_list_destroy(lo);
    rd_kafka_topic_partition_list_destroy(hi);
    free(tops);
    rd_kafka_metadata_destroy(md);
}

/* ---------------------------------------------------------------- GET /topics/{t}/messages */

typedef struct browse {
    fp_buf *out;
    const char *key; /* filter; NULL: none */
    size_t key_len;
    int64_t limit, found, scanned;
} browse;

static bool browse_one(void *ctx, const rd_kafka_message_t *m)
{
    browse *w = ctx;
    w->scanned++;
    if (!w->key || (m->key && m->key_len == w->key_len && !memcmp(m->key, w->key, w->key_len))) {
        if (w->found++)
            fp_buf_putc(w->out, ',');
        put_message(w->out, m);
    }
    return w->found < w->limit && w->scanned < SCAN_MAX;
}

/* Kafka's rule for topic names: 1-249 of [a-zA-Z0-9._-]. */
static bool topic_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 249)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
            return false;
    return true;
}

void fp_serve_topic_messages(fp_serve_call *c)
{
    fp_serve_topics *t = c->s->topics;
    const char *topic = c->arg[0] ? c->arg[0] : "";
    int64_t limit, offset, partition;
    fp_buf key = FP_BUF_INIT;
    bool bad = false;
    /* Parameters first: a bad request is 400 whether Kafka is up or not. */
    if (!fp_serve_param_i64(c, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX, &limit) ||
        !fp_serve_param_i64(c, "offset", -1, 0, INT64_MAX, &offset) ||
        !fp_serve_param_i64(c, "partition", -1, 0, INT32_MAX, &partition))
        return;
    bool has_key = fp_serve_query(c, "key", &key, &bad);
    if (bad)
        goto done;
    if (!topic_name_ok(topic)) {
        fp_buf shown = FP_BUF_INIT;
        fp_json_quote(&shown, topic, strlen(topic) > 60 ? 60 : strlen(topic));
        fp_serve_fail(c, 400, "topic %s: not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)",
                      shown.p);
        fp_buf_free(&shown);
        goto done;
    }
    if (!t || !t->meta) {
        fp_serve_unavailable(c, "kafka", NULL);
        goto done;
    }
    int64_t deadline = fp_time_mono_ms() + BUDGET_MS;
    const rd_kafka_metadata_t *md = NULL;
    fp_err err = {0};
    if (metadata(t, deadline, &md, &err)) {
        fp_serve_unavailable(c, "kafka", &err);
        goto done;
    }
    const rd_kafka_metadata_topic_t *tp = find_topic(md, topic);
    if (!tp || tp->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        fp_serve_fail(c, 404, "no topic %s", topic);
        goto out;
    }
    if (partition < 0 && tp->partition_cnt == 1)
        partition = tp->partitions[0].id;
    if (partition < 0) {
        fp_serve_fail(c, 400, "parameter partition is required: topic %s has %d partitions", topic,
                      tp->partition_cnt);
        goto out;
    }
    bool found = false;
    for (int i = 0; i < tp->partition_cnt; i++)
        found = found || tp->partitions[i].id == partition;
    if (!found) {
        fp_serve_fail(
            c, 400, "parameter partition: topic %s has no partition %" PRId64 " (it has %d: 0..%d)",
            topic, partition, tp->partition_cnt, tp->partition_cnt - 1);
        goto out;
    }
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(t->meta, topic, (int32_t)partition,
                                                             &low, &high, left_ms(deadline));
    if (e) {
        fp_kafka_err(&err, e, "watermarks");
        fp_serve_unavailable(c, "kafka", &err);
        goto out;
    }
    if (offset > high) {
        fp_serve_fail(c, 400,
                      "parameter offset: %" PRId64 " is past the end of %s/%" PRId64
                      " (its next offset is %" PRId64 ")",
                      offset, topic, partition, high);
        goto out;
    }
    /* Without an offset: the newest limit messages, or with a key the newest SCAN_MAX. */
    int64_t start = offset >= 0 ? offset : high - (has_key ? SCAN_MAX : limit);
    bool below = start < low;
    if (below)
        start = low;
    if (!reader_enter(t)) {
        fp_http_resp_header(c->resp, "Retry-After", "1");
        fp_serve_fail(c, 429, "the topic browser reads %d partitions at once already; retry",
                      READERS_MAX);
        goto out;
    }
    fp_buf msgs = FP_BUF_INIT;
    browse w = {&msgs, has_key ? key.p : NULL, key.len, limit, 0, 0};
    range r = {.partition = (int32_t)partition, .start = start, .end = high};
    read_end end;
    char last[256];
    fp_code rc =
        read_ranges(t, topic, &r, 1, deadline, browse_one, &w, &end, last, sizeof last, &err);
    atomic_fetch_sub(&t->readers, 1);
    if (!rc && end == READ_BUDGET && !w.scanned) {
        rc = fp_err_set(&err, FP_ERR_KAFKA,
                        "no message of %s/%" PRId64 " from offset %" PRId64 " within %d ms%s%s",
                        topic, partition, start, BUDGET_MS, last[0] ? ": " : "", last);
    }
    if (rc) {
        fp_serve_unavailable(c, "kafka", &err);
        fp_buf_free(&msgs);
        goto out;
    }
    const char *why = end == READ_BUDGET      ? "time_budget"
                      : r.done                ? "end"
                      : w.found >= limit      ? "limit"
                      : w.scanned >= SCAN_MAX ? "scan_max"
                                              : "end";
    fp_buf b = FP_BUF_INIT;
    fp_buf_puts(&b, "{\"topic\":");
    fp_json_quote(&b, topic, strlen(topic));
    fp_buf_printf(&b,
                  ",\"partition\":%" PRId64 ",\"low\":%" PRId64 ",\"high\":%" PRId64
                  ",\"requested_offset\":",
                  partition, low, high);
    put_offset(&b, offset);
    fp_buf_printf(&b, ",\"start_offset\":%" PRId64 ",\"below_log_start\":%s", start,
                  below && offset >= 0 ? "true" : "false");
    if (below && offset >= 0)
        fp_buf_printf(&b,
                      ",\"note\":\"offset %" PRId64 " is below the log start %" PRId64
                      " (retention deleted it): answered from the log start\"",
                      offset, low);
    fp_buf_puts(&b, ",\"key\":");
    if (has_key)
        fp_json_quote(&b, key.p, key.len);
    else
        fp_buf_puts(&b, "null");
    fp_buf_printf(&b,
                  ",\"limit\":%" PRId64 ",\"count\":%" PRId64 ",\"scanned\":%" PRId64
                  ",\"next_offset\":%" PRId64 ",\"end_of_partition\":%s,\"stopped\":\"%s\","
                  "\"messages\":[",
                  limit, w.found, w.scanned, r.next, r.next >= high ? "true" : "false", why);
    fp_buf_append(&b, msgs.p ? msgs.p : "", msgs.len);
    fp_buf_puts(&b, "]}\n");
    send_body(c, &b);
    fp_buf_free(&b);
    fp_buf_free(&msgs);
out:
    rd_kafka_metadata_destroy(md);
done:
    fp_buf_free(&key);
}

/* ---------------------------------------------------------------- GET /pipeline */

/* {"available": false, "error": "<what>: <why>"} ("<why>" alone when it names what already:
 * pg's errors start with "postgresql host:port/db"). */
static void put_unavailable(fp_buf *b, const char *what, const char *why)
{
    fp_buf msg = FP_BUF_INIT;
    size_t wl = strlen(what);
    if (!strncmp(why, what, wl) && (why[wl] == ' ' || why[wl] == ':'))
        fp_buf_puts(&msg, why);
    else
        fp_buf_printf(&msg, "%s: %s", what, why);
    fp_buf_puts(b, "{\"available\":false,\"error\":");
    fp_json_quote(b, msg.p, msg.len);
    fp_buf_putc(b, '}');
    fp_buf_free(&msg);
}

static void put_str_or_null(fp_buf *b, const char *s)
{
    if (s)
        fp_json_quote(b, s, strlen(s));
    else
        fp_buf_puts(b, "null");
}

/* The connect worker's connectors and tasks: its own REST API. */
static void *connect_part(void *arg)
{
    fp_serve_call *c = ((void **)arg)[0];
    fp_buf *b = ((void **)arg)[1];
    const char *url = c->s->o.connect_url;
    if (!url) {
        put_unavailable(b, "connect", "not configured (--connect URL)");
        return NULL;
    }
    fp_connect_status_opts o = {.rest = url, .interval_ms = 0, .timeout_ms = BUDGET_MS};
    fp_connect_status_row *rows = NULL;
    size_t n = 0;
    fp_err err = {0};
    if (fp_connect_status_fetch(&o, &rows, &n, &err)) {
        put_unavailable(b, "connect", err.msg);
        return NULL;
    }
    fp_buf_puts(b, "{\"available\":true,\"url\":");
    fp_json_quote(b, url, strlen(url));
    fp_buf_puts(b, ",\"connectors\":[");
    for (size_t i = 0; i < n; i++) {
        fp_connect_status_row *r = &rows[i];
        fp_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        fp_json_quote(b, r->name, strlen(r->name));
        fp_buf_puts(b, ",\"state\":");
        fp_json_quote(b, r->state, strlen(r->state));
        fp_buf_printf(b, ",\"tasks_running\":%zu,\"tasks_total\":%zu,\"lag\":", r->running,
                      r->tasks);
        put_offset(b, r->lag < 0 ? -1 : (int64_t)llround(r->lag));
        fp_buf_printf(b, ",\"records_lost\":%" PRIu64 ",\"tasks\":[", r->lost);
        for (size_t j = 0; j < r->tasks; j++) {
            const fp_connect_status_task *k = &r->task[j];
            fp_buf_printf(b, "%s{\"id\":%" PRId64 ",\"state\":", j ? "," : "", k->id);
            fp_json_quote(b, k->state, strlen(k->state));
            fp_buf_puts(b, ",\"worker_id\":");
            put_str_or_null(b, k->worker_id);
            fp_buf_puts(b, ",\"lag\":");
            put_offset(b, k->lag);
            fp_buf_printf(b, ",\"records_lost\":%" PRIu64 ",\"reason\":", k->lost);
            put_str_or_null(b, k->reason);
            fp_buf_putc(b, '}');
        }
        fp_buf_puts(b, "]}");
    }
    fp_buf_puts(b, "]}");
    fp_connect_status_rows_free(rows, n);
    return NULL;
}

/* The warehouse scheduler's runs per DAG (ops.runs), with pg. */
static void warehouse_part(fp_pg *pg, fp_buf *b)
{
    fp_err err = {0};
    int64_t exists = 0;
    PGresult *res = NULL;
    if (fp_pg_query_int(pg, "SELECT (to_regclass('ops.runs') IS NOT NULL)::int", 0, NULL, &exists,
                        &err)) {
        put_unavailable(b, "postgresql", err.msg);
        return;
    }
    if (!exists) {
        fp_buf_puts(b, "{\"available\":true,\"table\":\"ops.runs\",\"exists\":false,\"dags\":[]}");
        return;
    }
    static const char sql[] =
        "SELECT dag, count(*) FILTER (WHERE state = 'success'), count(*) FILTER (WHERE state = "
        "'running'), count(*) FILTER (WHERE state IN ('scheduled', 'up_for_retry')), count(*) "
        "FILTER (WHERE state IN ('failed', 'upstream_failed')), to_char(max(interval_end) FILTER "
        "(WHERE state = 'success') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "to_char(max(ended_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "(array_agg(error ORDER BY ended_at DESC NULLS LAST) FILTER (WHERE state = "
        "'failed'))[1], coalesce(sum(duration_s) FILTER (WHERE state = 'success'), 0) "
        "FROM ops.runs GROUP BY dag ORDER BY dag";
    if (fp_pg_query(pg, sql, 0, NULL, &res, &err)) {
        put_unavailable(b, "postgresql", err.msg);
        return;
    }
    fp_buf_puts(b, "{\"available\":true,\"table\":\"ops.runs\",\"exists\":true,\"dags\":[");
    static const char *const keys[] = {"dag",        "success",    "running",
                                       "queued",     "failed",     "newest_done",
                                       "last_ended", "last_error", "task_seconds"};
    for (int i = 0; i < PQntuples(res); i++) {
        fp_buf_puts(b, i ? ",{" : "{");
        for (int j = 0; j < 9; j++) {
            if (j)
                fp_buf_putc(b, ',');
            put_key(b, keys[j]);
            const char *v = PQgetvalue(res, i, j);
            if (PQgetisnull(res, i, j))
                fp_buf_puts(b, "null");
            else if (j >= 1 && j <= 4)
                fp_buf_puts(b, v);
            else if (j == 8)
                fp_buf_put_double(b, strtod(v, NULL));
            else
                fp_json_quote(b, v, strlen(v));
        }
        fp_buf_putc(b, '}');
    }
    fp_buf_puts(b, "]}");
    PQclear(res);
}

/* The newest result of every check in ops.dq_results, and the scheduler's runs into wh. */
static void *dq_part(void *arg)
{
    fp_serve_call *c = ((void **)arg)[0];
    fp_buf *b = ((void **)arg)[1], *wh = ((void **)arg)[2];
    const char *conninfo = c->s->o.pg;
    if (!conninfo) {
        put_unavailable(b, "postgresql", "not configured (--pg CONNINFO)");
        put_unavailable(wh, "postgresql", "not configured (--pg CONNINFO)");
        return NULL;
    }
    fp_pg *pg = NULL;
    fp_err err = {0};
    PGresult *res = NULL;
    int64_t exists = 0;
    fp_pg_opts po = {.conninfo = conninfo,
                     .app = "fleetpipe serve",
                     .connect_timeout_s = BUDGET_MS < 2000 ? 2 : (int)(BUDGET_MS / 1000),
                     .statement_timeout_ms = BUDGET_MS};
    if (fp_pg_connect_opts(&po, &pg, &err) ||
        fp_pg_query_int(pg, "SELECT (to_regclass('ops.dq_results') IS NOT NULL)::int", 0, NULL,
                        &exists, &err)) {
        put_unavailable(b, "postgresql", err.msg);
        put_unavailable(wh, "postgresql", err.msg);
        goto out;
    }
    warehouse_part(pg, wh);
    if (!exists) {
        fp_buf_puts(b, "{\"available\":true,\"table\":\"ops.dq_results\",\"exists\":false,"
                       "\"checks\":0,\"by_status\":{},\"results\":[]}");
        goto out;
    }
    static const char sql[] =
        "SELECT check_name, target, to_char(interval_start, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "to_char(interval_end, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), status, observed, denominator, "
        "ratio, threshold, error, to_char(ran_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
        "FROM (SELECT DISTINCT ON (check_name) * FROM ops.dq_results "
        "ORDER BY check_name, interval_start DESC) newest ORDER BY check_name LIMIT $1";
    char lim[16];
    snprintf(lim, sizeof lim, "%d", DQ_ROWS_MAX + 1);
    const char *params[] = {lim};
    if (fp_pg_query(pg, sql, 1, params, &res, &err)) {
        put_unavailable(b, "postgresql", err.msg);
        goto out;
    }
    int rows = PQntuples(res);
    bool cut = rows > DQ_ROWS_MAX;
    if (cut)
        rows = DQ_ROWS_MAX;
    static const char *const status[] = {"pass", "warn", "fail", "error"};
    int count[4] = {0};
    fp_buf list = FP_BUF_INIT;
    static const char *const cols[] = {"check_name", "target",   "interval_start", "interval_end",
                                       "status",     "observed", "denominator",    "ratio",
                                       "threshold",  "error",    "ran_at"};
    for (int i = 0; i < rows; i++) {
        fp_buf_puts(&list, i ? ",{" : "{");
        for (int j = 0; j < 11; j++) {
            if (j)
                fp_buf_putc(&list, ',');
            put_key(&list, cols[j]);
            const char *v = PQgetvalue(res, i, j);
            if (PQgetisnull(res, i, j)) {
                fp_buf_puts(&list, "null");
            } else if (j == 5 || j == 6) {
                fp_buf_puts(&list, v);
            } else if (j == 7) {
                double d = strtod(v, NULL);
                if (isfinite(d))
                    fp_buf_put_double(&list, d);
                else
                    fp_buf_puts(&list, "null");
            } else {
                fp_json_quote(&list, v, strlen(v));
            }
            if (j == 4)
                for (int s = 0; s < 4; s++)
                    count[s] += !strcmp(v, status[s]);
        }
        fp_buf_putc(&list, '}');
    }
    fp_buf_printf(b,
                  "{\"available\":true,\"table\":\"ops.dq_results\",\"exists\":true,"
                  "\"checks\":%d,\"truncated\":%s,\"by_status\":{",
                  rows, cut ? "true" : "false");
    for (int s = 0; s < 4; s++)
        fp_buf_printf(b, "%s\"%s\":%d", s ? "," : "", status[s], count[s]);
    fp_buf_puts(b, "},\"results\":[");
    fp_buf_append(b, list.p ? list.p : "", list.len);
    fp_buf_puts(b, "],\"trend\":");
    fp_buf_free(&list);
    PQclear(res);
    res = NULL;
    /* results per status of each of the newest TREND_DAYS local days that have any */
    static const char trend_sql[] =
        "SELECT to_char(ds, 'YYYY-MM-DD'), count(*) FILTER (WHERE status = 'pass'), count(*) "
        "FILTER (WHERE status = 'warn'), count(*) FILTER (WHERE status = 'fail'), count(*) "
        "FILTER (WHERE status = 'error') FROM ops.dq_results WHERE ds IS NOT NULL GROUP BY ds "
        "ORDER BY ds DESC LIMIT " TREND_DAYS_TEXT;
    if (fp_pg_query(pg, trend_sql, 0, NULL, &res, &err)) {
        fp_buf_puts(b, "null}");
        goto out;
    }
    fp_buf_putc(b, '[');
    for (int i = PQntuples(res) - 1; i >= 0; i--) {
        fp_buf_printf(b, "%s{\"day\":", i == PQntuples(res) - 1 ? "" : ",");
        const char *d = PQgetvalue(res, i, 0);
        fp_json_quote(b, d, strlen(d));
        for (int k = 0; k < 4; k++)
            fp_buf_printf(b, ",\"%s\":%s", status[k], PQgetvalue(res, i, k + 1));
        fp_buf_putc(b, '}');
    }
    fp_buf_puts(b, "]}");
out:
    if (res)
        PQclear(res);
    fp_pg_free(pg);
    return NULL;
}

/* Dead letters counted by their error.class header. */
typedef struct reasons {
    char **name;
    int64_t *n;
    size_t len;
    int64_t scanned;
    fp_buf val;
} reasons;

static bool count_reason(void *ctx, const rd_kafka_message_t *m)
{
    reasons *r = ctx;
    r->scanned++;
    const char *cls = header_value(m, "error.class", &r->val) ? r->val.p : "(none)";
    for (int pass = 0; pass < 2; pass++) {
        size_t i = 0;
        while (i < r->len && strcmp(r->name[i], cls))
            i++;
        if (i == r->len && r->len >= REASONS_MAX && !pass) {
            cls = "(other)"; /* classes are a short list: a flood of new ones is one entry */
            continue;
        }
        if (i == r->len) {
            r->name = fp_xrealloc(r->name, (r->len + 1) * sizeof *r->name);
            r->n = fp_xrealloc(r->n, (r->len + 1) * sizeof *r->n);
            r->name[i] = fp_xstrdup(cls);
            r->n[r->len++] = 0;
        }
        r->n[i]++;
        break;
    }
    return r->scanned < DEADLETTER_SCAN_MAX;
}

static void deadletter_part(fp_serve_call *c, fp_buf *b)
{
    fp_serve_topics *t = c->s->topics;
    if (!t || !t->meta) {
        put_unavailable(b, "kafka", "not configured (--bootstrap-servers)");
        return;
    }
    int64_t deadline = fp_time_mono_ms() + BUDGET_MS;
    const rd_kafka_metadata_t *md = NULL;
    fp_err err = {0};
    if (metadata(t, deadline, &md, &err)) {
        put_unavailable(b, "kafka", err.msg);
        return;
    }
    const rd_kafka_metadata_topic_t *tp = find_topic(md, DEADLETTER_TOPIC);
    if (!tp || tp->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        fp_buf_puts(b, "{\"available\":true,\"topic\":\"" DEADLETTER_TOPIC "\",\"exists\":false,"
                       "\"retained\":0,\"scanned\":0,\"complete\":true,\"by_reason\":{}}");
        rd_kafka_metadata_destroy(md);
        return;
    }
    rd_kafka_topic_partition_list_t *lo, *hi;
    rd_kafka_resp_err_t we = watermarks(t, &tp, 1, deadline, &lo, &hi);
    range *rg = fp_xcalloc((size_t)lo->cnt + 1, sizeof *rg);
    int64_t retained = 0;
    int with_data = 0, unknown = 0;
    for (int i = 0; !we && i < lo->cnt; i++) {
        rg[i].partition = lo->elems[i].partition;
        rg[i].start = lo->elems[i].offset;
        rg[i].end = hi->elems[i].offset;
        if (lo->elems[i].err || hi->elems[i].err || rg[i].start < 0 || rg[i].end < rg[i].start) {
            rg[i].start = rg[i].end = 0; /* not read; said in unknown_partitions */
            unknown++;
        }
        retained += rg[i].end - rg[i].start;
        with_data += rg[i].end > rg[i].start;
    }
    reasons rs = {0};
    read_end end = READ_DONE;
    char last[256] = "";
    fp_code rc = FP_OK;
    if (we) {
        rc = fp_kafka_err(&err, we, "watermarks");
    } else if (with_data && !reader_enter(t)) {
        rc = fp_err_set(&err, FP_ERR_KAFKA, "the topic browser's %d readers are busy; retry",
                        READERS_MAX);
    } else if (with_data) {
        /* the newest of each partition when there are more than the scan may read */
        int64_t quota = DEADLETTER_SCAN_MAX / with_data;
        for (int i = 0; i < lo->cnt; i++)
            if (rg[i].end - rg[i].start > quota)
                rg[i].start = rg[i].end - quota;
        rc = read_ranges(t, DEADLETTER_TOPIC, rg, (size_t)lo->cnt, deadline, count_reason, &rs,
                         &end, last, sizeof last, &err);
        atomic_fetch_sub(&t->readers, 1);
    }
    if (rc) {
        put_unavailable(b, "kafka", err.msg);
    } else {
        bool complete = rs.scanned == retained && !unknown;
        fp_buf_printf(b,
                      "{\"available\":true,\"topic\":\"" DEADLETTER_TOPIC "\",\"exists\":true,"
                      "\"retained\":%" PRId64 ",\"scanned\":%" PRId64 ",\"complete\":%s",
                      retained, rs.scanned, complete ? "true" : "false");
        if (unknown)
            fp_buf_printf(b, ",\"unknown_partitions\":%d", unknown);
        if (rs.scanned < retained)
            fp_buf_printf(b,
                          ",\"note\":\"counted the newest %" PRId64 " of %" PRId64
                          " retained dead letters (%s)\"",
                          rs.scanned, retained, end == READ_BUDGET ? "time budget" : "scan limit");
        fp_buf_puts(b, ",\"by_reason\":{");
        for (size_t i = 0; i < rs.len; i++) {
            if (i)
                fp_buf_putc(b, ',');
            put_key(b, rs.name[i]);
            fp_buf_printf(b, "%" PRId64, rs.n[i]);
        }
        fp_buf_puts(b, "}}");
    }
    for (size_t i = 0; i < rs.len; i++)
        free(rs.name[i]);
    free(rs.name);
    free(rs.n);
    fp_buf_free(&rs.val);
    free(rg);
    rd_kafka_topic_partition_list_destroy(lo);
    rd_kafka_topic_partition_list_destroy(hi);
    rd_kafka_metadata_destroy(md);
}

/* Each --stage-metrics part's /metrics, summed per metric name: its counters and gauges (no
 * histograms), for the console's per-stage throughput (a rate is two readings apart). */
static void stages_part(fp_serve_call *c, fp_buf *b)
{
    const char *list = c->s->o.stage_metrics;
    fp_buf_putc(b, '[');
    fp_scrape_conn *http = list && *list ? fp_scrape_conn_new() : NULL;
    fp_scrape_page page = {0};
    fp_buf body = FP_BUF_INIT, name = FP_BUF_INIT, url = FP_BUF_INIT;
    int n = 0;
    for (const char *p = list; http && p && *p;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        fp_buf_reset(&name);
        fp_buf_reset(&url);
        if (eq) {
            fp_buf_append(&name, p, (size_t)(eq - p));
            fp_buf_append(&url, eq + 1, (size_t)(end - eq - 1));
        }
        p = comma ? comma + 1 : end;
        if (!eq)
            continue;
        fp_buf_puts(b, n++ ? ",{\"name\":" : "{\"name\":");
        fp_json_quote(b, name.p, name.len);
        fp_buf_puts(b, ",\"url\":");
        fp_json_quote(b, url.p, url.len);
        fp_err err = {0};
        if (fp_scrape_get(http, url.p, BUDGET_MS, &body, &err) ||
            fp_scrape_parse(body.p, body.len, &page, &err)) {
            fp_buf_puts(b, ",\"available\":false,\"error\":");
            fp_json_quote(b, err.msg, strlen(err.msg));
            fp_buf_putc(b, '}');
            continue;
        }
        fp_buf_puts(b, ",\"available\":true,\"metrics\":{");
        /* every fleetpipe_* name once, in page order, its samples summed */
        int m = 0;
        for (size_t i = 0; i < page.n; i++) {
            const char *mn = page.v[i].name;
            size_t ml = strlen(mn);
            bool hist = (ml > 7 && !strcmp(mn + ml - 7, "_bucket")) ||
                        (ml > 4 && !strcmp(mn + ml - 4, "_sum")) ||
                        (ml > 6 && !strcmp(mn + ml - 6, "_count"));
            bool seen = false;
            for (size_t k = 0; k < i && !seen; k++)
                seen = !strcmp(page.v[k].name, mn);
            if (strncmp(mn, "fleetpipe_", 10) || hist || seen)
                continue;
            fp_buf_puts(b, m++ ? "," : "");
            fp_json_quote(b, mn, ml);
            fp_buf_putc(b, ':');
            double v = fp_scrape_sum(&page, mn, NULL, NULL);
            if (isfinite(v))
                fp_buf_put_double(b, v);
            else
                fp_buf_puts(b, "null");
        }
        fp_buf_puts(b, "}}");
    }
    fp_buf_putc(b, ']');
    fp_scrape_page_free(&page);
    fp_scrape_conn_free(http);
    fp_buf_free(&body);
    fp_buf_free(&name);
    fp_buf_free(&url);
}

void fp_serve_pipeline(fp_serve_call *c)
{
    fp_buf conn = FP_BUF_INIT, dq = FP_BUF_INIT, dl = FP_BUF_INIT, wh = FP_BUF_INIT,
           st = FP_BUF_INIT;
    void *ca[2] = {c, &conn}, *qa[3] = {c, &dq, &wh};
    pthread_t ct, qt;
    bool c_thread = !pthread_create(&ct, NULL, connect_part, ca);
    if (!c_thread)
        connect_part(ca);
    bool q_thread = !pthread_create(&qt, NULL, dq_part, qa);
    if (!q_thread)
        dq_part(qa);
    deadletter_part(c, &dl);
    stages_part(c, &st);
    if (c_thread)
        pthread_join(ct, NULL);
    if (q_thread)
        pthread_join(qt, NULL);
    fp_buf b = FP_BUF_INIT;
    fp_buf_puts(&b, "{\"generated_at\":\"");
    fp_time_format_iso(fp_time_now_ms(), &b);
    fp_buf_puts(&b, "\",\"connect\":");
    fp_buf_append(&b, conn.p, conn.len);
    fp_buf_puts(&b, ",\"dead_letters\":");
    fp_buf_append(&b, dl.p, dl.len);
    fp_buf_puts(&b, ",\"data_quality\":");
    fp_buf_append(&b, dq.p, dq.len);
    fp_buf_puts(&b, ",\"warehouse\":");
    fp_buf_append(&b, wh.p, wh.len);
    fp_buf_puts(&b, ",\"stages\":");
    fp_buf_append(&b, st.p, st.len);
    fp_buf_puts(&b, "}\n");
    send_body(c, &b);
    fp_buf_free(&b);
    fp_buf_free(&conn);
    fp_buf_free(&dq);
    fp_buf_free(&dl);
    fp_buf_free(&wh);
    fp_buf_free(&st);
}
