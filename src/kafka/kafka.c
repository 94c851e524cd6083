/* kafka.c — librdkafka error mapping, config helpers and the embedded mock-cluster broker.
 *
 * librdkafka 2.0.2 mock cluster notes (checked against rdkafka_mock.h and by running it):
 * it always listens on 127.0.0.1 with ephemeral ports (there is no API to pick host or port);
 * it supports the idempotent producer, consumer groups with JoinGroup/SyncGroup, OffsetCommit
 * and OffsetFetch, and auto-creates unknown topics with 4 partitions. Surprise: every partition
 * keeps only its newest 5 MiB (or 100000 message sets) — older messages are deleted silently
 * (hard-coded in rdkafka_mock.c, mpart->max_size). Volume needs partitions: ~100 MB of
 * telemetry wants 32+ of them. Deletion moves the partition's log start offset, which ListOffsets
 * reports, so a watcher thread (fp_kafka_embedded_watch_drops) turns the silence into a WARN.
 *
 * librdkafka's log: one callback for every handle (log_cb) that maps levels into core/log and
 * collapses repeats (the same line within REPEAT_WINDOW_MS is printed once, then "repeated N
 * times"): an unreachable broker otherwise fills the log with one FAIL line per retry.
 */
#include "kafka/kafka.h"

#include <ctype.h>
#include <inttypes.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"

const char *const fp_kafka_fms_topics[] = {
    "fms.vehicle", "fms.cargo", "fms.blackbox", "fms.device", "fms.deadletter", NULL,
};

fp_code fp_kafka_err(fp_err *err, rd_kafka_resp_err_t e, const char *what)
{
    fp_code code;
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return FP_OK;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        code = FP_ERR_CONFIG;
        break;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        code = FP_ERR_IO;
        break;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        code = FP_ERR_LIMIT;
        break;
    default:
        code = FP_ERR_KAFKA;
    }
    return fp_err_set(err, code, "%s: %s (%s)", what, rd_kafka_err2str(e), rd_kafka_err2name(e));
}

fp_code fp_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, fp_err *err)
{
    char es[512];
    if (rd_kafka_conf_set(conf, key, val, es, sizeof es) != RD_KAFKA_CONF_OK)
        return fp_err_set(err, FP_ERR_CONFIG, "kafka property '%s'='%s': %s", key, val, es);
    return FP_OK;
}

fp_code fp_kafka_conf_passthrough(rd_kafka_conf_t *conf, fp_props *p, const char *prefix,
                                  fp_err *err)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < p->n; i++) {
        if (strncmp(p->v[i].key, prefix, pl) != 0)
            continue;
        p->v[i].used = true;
        fp_code rc = fp_kafka_conf_set(conf, p->v[i].key + pl, p->v[i].val, err);
        if (rc)
            return fp_err_prefix(err, "%s", p->v[i].key);
    }
    return FP_OK;
}

rd_kafka_t *fp_kafka_producer_new(const char *bootstrap, rd_kafka_conf_t *extra_conf,
                                  void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                  void *opaque, fp_err *err)
{
    rd_kafka_conf_t *conf = extra_conf ? extra_conf : rd_kafka_conf_new();
    char es[512];
    if (fp_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err) ||
        fp_kafka_conf_set(conf, "enable.idempotence", "true", err) ||
        fp_kafka_conf_set(conf, "linger.ms", "5", err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    fp_kafka_conf_log(conf);
    if (dr_cb)
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fp_err_set(err, FP_ERR_KAFKA, "producer: %s", es);
    }
    return rk;
}

fp_code fp_kafka_bootstrap_check(const char *what, const char *bootstrap, fp_err *err)
{
    const char *hint = "expected host:port[,host:port...]";
    if (!bootstrap || !bootstrap[0])
        return fp_err_set(err, FP_ERR_CONFIG, "%s is empty: %s", what, hint);
    const char *p = bootstrap;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && p[len - 1] == ' ')
            len--;
        const char *item = p, *lim = p + len;
        const char *sch = strstr(item, "://");
        if (sch && sch < lim)
            item = sch + 3;
        const char *colon = NULL;
        if (item < lim && *item == '[') { /* [v6]:port */
            const char *rb = memchr(item, ']', (size_t)(lim - item));
            if (rb && rb + 1 < lim && rb[1] == ':' && rb > item + 1)
                colon = rb + 1;
        } else {
            for (const char *q = item; q < lim; q++)
                if (*q == ':')
                    colon = q;
            for (const char *q = item; colon && q < colon; q++)
                if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-' && *q != '_')
                    colon = NULL;
        }
        long port = 0;
        bool ok = colon && colon > item && colon + 1 < lim;
        for (const char *q = colon ? colon + 1 : lim; ok && q < lim; q++) {
            if (!isdigit((unsigned char)*q) || (port = port * 10 + (*q - '0')) > 65535)
                ok = false;
        }
        if (!ok || port < 1)
            return fp_err_set(err, FP_ERR_CONFIG, "%s '%s': '%.*s' is not host:port (%s)", what,
                              bootstrap, (int)len, p, hint);
        if (!end)
            return FP_OK;
        p = end + 1;
    }
}

/* Repeat collapsing: a few slots of recent lines; a line seen again within the window of its
 * first print is counted, not printed, and the count is printed with the line once the window
 * has passed. librdkafka's ", N identical error(s) suppressed" and "(after Nms in state X)"
 * tails differ between repeats, so the key is the text before " (after ". */
#define REPEAT_WINDOW_MS 10000
#define REPEAT_SLOTS 32
typedef struct repeat_slot {
    char key[256];
    int64_t first_ms; /* 0: free */
    uint64_t repeats; /* suppressed since first_ms */
} repeat_slot;
static pthread_mutex_t repeat_lock = PTHREAD_MUTEX_INITIALIZER;
static repeat_slot repeat_slots[REPEAT_SLOTS];

/* Whether to print the line with key; *repeats is set to what was suppressed before it. */
static bool repeat_admit(const char *key, uint64_t *repeats)
{
    int64_t now = fp_time_mono_ms();
    *repeats = 0;
    pthread_mutex_lock(&repeat_lock);
    repeat_slot *hit = NULL, *oldest = &repeat_slots[0];
    for (int i = 0; i < REPEAT_SLOTS; i++) {
        repeat_slot *s = &repeat_slots[i];
        if (s->first_ms && !strcmp(s->key, key)) {
            hit = s;
            break;
        }
        if (s->first_ms < oldest->first_ms)
            oldest = s;
    }
    bool print = true;
    if (hit && now - hit->first_ms < REPEAT_WINDOW_MS) {
        hit->repeats++;
        print = false;
    } else if (hit) {
        *repeats = hit->repeats;
        hit->first_ms = now;
        hit->repeats = 0;
    } else {
        snprintf(oldest->key, sizeof oldest->key, "%s", key);
        oldest->first_ms = now;
        oldest->repeats = 0;
    }
    pthread_mutex_unlock(&repeat_lock);
    return print;
}

/* librdkafka calls this from its own threads; syslog levels: 0-3 error, 4 warning, 5-6 info,
 * 7 debug. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    fp_log_level l = level <= 3   ? FP_LOG_ERROR
                     : level == 4 ? FP_LOG_WARN
                     : level <= 6 ? FP_LOG_INFO
                                  : FP_LOG_DEBUG;
    if (!fp_log_enabled(l))
        return;
    const char *name = rk ? rd_kafka_name(rk) : "librdkafka";
    char key[256];
    const char *after = strstr(buf, " (after ");
    int blen = after ? (int)(after - buf) : (int)strlen(buf);
    snprintf(key, sizeof key, "%s|%s|%.*s", name, fac, blen, buf);
    uint64_t repeats;
    if (l != FP_LOG_DEBUG && !repeat_admit(key, &repeats))
        return;
    if (l != FP_LOG_DEBUG && repeats)
        fp_log(l, "kafka", -1,
               "%s: %s (%s; the same line %" PRIu64 " more times before, not shown)", name, buf,
               fac, repeats);
    else
        fp_log(l, "kafka", -1, "%s: %s (%s)", name, buf, fac);
}

void fp_kafka_conf_log(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, log_cb);
}

/* The prefetch budget of kafka.h (o's share, or the defaults), set before the overrides so
 * they still win. */
static fp_code consumer_budget(rd_kafka_conf_t *conf, const fp_kafka_consumer_opts *o, fp_err *err)
{
    char v[32];
    int64_t queue = o->queue_kbytes > 0 ? o->queue_kbytes : FP_KAFKA_QUEUED_MAX_KBYTES;
    int64_t fetch = o->fetch_max_bytes > 0 ? o->fetch_max_bytes : FP_KAFKA_FETCH_MAX_BYTES;
    if (fetch < FP_KAFKA_FETCH_MIN_BYTES)
        fetch = FP_KAFKA_FETCH_MIN_BYTES;
    snprintf(v, sizeof v, "%" PRId64, queue);
    fp_code rc = fp_kafka_conf_set(conf, "queued.max.messages.kbytes", v, err);
    snprintf(v, sizeof v, "%" PRId64, fetch);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "fetch.max.bytes", v, err);
    if (!rc && fetch < 1024 * 1024) /* librdkafka's max.partition.fetch.bytes default */
        rc = fp_kafka_conf_set(conf, "max.partition.fetch.bytes", v, err);
    snprintf(v, sizeof v, "%d", FP_KAFKA_QUEUED_MIN_MESSAGES);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "queued.min.messages", v, err);
    return rc;
}

int64_t fp_kafka_conf_int(rd_kafka_t *rk, const char *key, int64_t dflt)
{
    char v[64];
    size_t n = sizeof v;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), key, v, &n) != RD_KAFKA_CONF_OK)
        return dflt;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    return end != v && x > 0 ? (int64_t)x : dflt;
}

rd_kafka_t *fp_kafka_consumer_new(const fp_kafka_consumer_opts *o, fp_err *err)
{
    rd_kafka_conf_t *conf = o->conf ? o->conf : rd_kafka_conf_new();
    fp_code rc =
        fp_kafka_conf_set(conf, "bootstrap.servers", o->bootstrap ? o->bootstrap : "", err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "group.id", o->group ? o->group : "", err);
    if (!rc && o->client_id)
        rc = fp_kafka_conf_set(conf, "client.id", o->client_id, err);
    if (!rc && o->instance_id && !o->dev_broker)
        rc = fp_kafka_conf_set(conf, "group.instance.id", o->instance_id, err);
    if (!rc) {
        char v[32];
        int64_t session = o->session_timeout_ms > 0 ? o->session_timeout_ms
                          : o->dev_broker           ? FP_KAFKA_DEV_SESSION_MS
                                                    : FP_KAFKA_SESSION_MS;
        snprintf(v, sizeof v, "%" PRId64, session);
        rc = fp_kafka_conf_set(conf, "session.timeout.ms", v, err);
    }
    if (!rc && o->dev_broker)
        rc = fp_kafka_conf_set(conf, "heartbeat.interval.ms", "1000", err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "enable.partition.eof", o->partition_eof ? "true" : "false",
                               err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "auto.offset.reset", "earliest", err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err);
    if (!rc)
        rc = consumer_budget(conf, o, err);
    if (!rc && o->overrides && o->override_prefix)
        rc = fp_kafka_conf_passthrough(conf, o->overrides, o->override_prefix, err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "enable.auto.commit", "false", err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "enable.auto.offset.store", "false", err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    fp_kafka_conf_log(conf);
    char es[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fp_err_set(err, FP_ERR_KAFKA, "consumer: %s", es);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

rd_kafka_resp_err_t
fp_kafka_commit_bounded(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *offsets, int timeout_ms)
{
    /* A queue of our own: the answer comes back as an event here and nowhere else (the
     * handle keeps the queue alive for an answer that comes after we gave up on it). */
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_resp_err_t e = rd_kafka_commit_queue(rk, offsets, q, NULL, NULL);
    int64_t deadline = fp_time_mono_ms() + timeout_ms;
    rd_kafka_event_t *ev = NULL;
    while (!e && !ev) {
        int64_t left = deadline - fp_time_mono_ms();
        if (left <= 0) {
            e = RD_KAFKA_RESP_ERR__TIMED_OUT;
            break;
        }
        ev = rd_kafka_queue_poll(q, (int)(left < 100 ? left : 100));
        if (ev && rd_kafka_event_type(ev) != RD_KAFKA_EVENT_OFFSET_COMMIT) {
            rd_kafka_event_destroy(ev);
            ev = NULL;
        }
    }
    if (ev) {
        e = rd_kafka_event_error(ev);
        const rd_kafka_topic_partition_list_t *r = rd_kafka_event_topic_partition_list(ev);
        for (int i = 0; r && i < offsets->cnt; i++) {
            rd_kafka_topic_partition_t *p = &offsets->elems[i];
            const rd_kafka_topic_partition_t *a =
                rd_kafka_topic_partition_list_find(r, p->topic, p->partition);
            p->err = a ? a->err : e;
        }
        rd_kafka_event_destroy(ev);
    } else {
        for (int i = 0; i < offsets->cnt; i++)
            offsets->elems[i].err = e;
    }
    rd_kafka_queue_destroy(q);
    return e;
}

/* A consumer handle being destroyed on its own thread; freed by whichever of the two (the
 * destroying thread, the closer) lets go last. */
struct destroyer {
    rd_kafka_t *rk;
    atomic_bool done;
    atomic_int refs;
};

static void *destroy_main(void *arg)
{
    struct destroyer *d = arg;
    rd_kafka_destroy_flags(d->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    atomic_store(&d->done, true);
    if (atomic_fetch_sub(&d->refs, 1) == 1)
        free(d);
    return NULL;
}

void fp_kafka_consumer_close(rd_kafka_t *rk, int timeout_ms,
                             void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                  rd_kafka_topic_partition_list_t *, void *),
                             const char *who)
{
    if (!rk)
        return;
    int64_t t0 = fp_time_mono_ms(), deadline = t0 + timeout_ms;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, q);
    if (error) {
        fp_log(FP_LOG_WARN, who, -1, "consumer close: %s; not leaving the group",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else {
        while (!rd_kafka_consumer_closed(rk) && fp_time_mono_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (!ev)
                continue;
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
                rd_kafka_resp_err_t re = rd_kafka_event_error(ev);
                rd_kafka_topic_partition_list_t *parts = rd_kafka_event_topic_partition_list(ev);
                if (rebalance_cb)
                    rebalance_cb(rk, re, parts, rd_kafka_opaque(rk));
                else if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE"))
                    rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
                else
                    rd_kafka_assign(rk, NULL);
            }
            rd_kafka_event_destroy(ev);
        }
        if (!rd_kafka_consumer_closed(rk))
            fp_log(FP_LOG_WARN, who, -1,
                   "consumer close: not done after %d ms (Kafka unreachable?); stopping without "
                   "it: the group moves this member's partitions after its session timeout",
                   timeout_ms);
        else
            fp_log(FP_LOG_DEBUG, who, -1, "consumer closed in %" PRId64 " ms",
                   fp_time_mono_ms() - t0);
    }
    rd_kafka_queue_destroy(q);
    /* Even without the close, librdkafka's destroy joins its main thread, which waits for the
     * group's outstanding requests (seen: 5 s more with Kafka gone). Destroyed on a thread of
     * its own: waited for until the deadline (at least 1 s), then left to finish by itself
     * (or with the process). */
    struct destroyer *d = fp_xcalloc(1, sizeof *d);
    d->rk = rk;
    atomic_init(&d->refs, 2);
    pthread_t th;
    if (pthread_create(&th, NULL, destroy_main, d)) {
        free(d);
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return;
    }
    pthread_detach(th);
    int64_t until = deadline > fp_time_mono_ms() + 1000 ? deadline : fp_time_mono_ms() + 1000;
    while (!atomic_load(&d->done) && fp_time_mono_ms() < until)
        usleep(10 * 1000);
    if (!atomic_load(&d->done))
        fp_log(FP_LOG_WARN, who, -1,
               "consumer destroy: still waiting for Kafka; left to finish in the background");
    if (atomic_fetch_sub(&d->refs, 1) == 1)
        free(d);
}

bool fp_kafka_is_dev_cluster(rd_kafka_t *rk, int timeout_ms)
{
    char *id = rd_kafka_clusterid(rk, timeout_ms);
    bool dev = id && !strncmp(id, "mockCluster", 11);
    if (id)
        rd_kafka_mem_free(rk, id);
    return dev;
}

bool fp_kafka_is_dev_broker(const char *bootstrap, int timeout_ms)
{
    fp_err err = {0};
    rd_kafka_t *rk = fp_kafka_producer_new(bootstrap, NULL, NULL, NULL, &err);
    bool dev = rk && fp_kafka_is_dev_cluster(rk, timeout_ms);
    if (rk)
        rd_kafka_destroy(rk);
    return dev;
}

int64_t fp_kafka_lag(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t position)
{
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(rk, topic, partition, &lo, &hi) || hi < 0)
        return -1;
    int64_t pos = position >= 0 ? position : lo;
    return hi > pos ? hi - pos : 0;
}

int64_t fp_kafka_assignment_lag(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(rk, &a) || !a)
        return -1;
    rd_kafka_position(rk, a);
    int64_t sum = 0;
    bool known = a->cnt > 0;
    for (int i = 0; i < a->cnt; i++) {
        int64_t l = fp_kafka_lag(rk, a->elems[i].topic, a->elems[i].partition, a->elems[i].offset);
        if (l < 0)
            known = false;
        else
            sum += l;
    }
    rd_kafka_topic_partition_list_destroy(a);
    return known ? sum : -1;
}

static int64_t lost_below(int64_t lo, int64_t next, int64_t *from, int64_t *to)
{
    *from = *to = next;
    if (next < 0 || lo <= next)
        return 0;
    *to = lo;
    return lo - next;
}

int64_t fp_kafka_lost_cached(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t next,
                             int64_t *from, int64_t *to)
{
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(rk, topic, partition, &lo, &hi) || lo < 0)
        lo = -1;
    return lost_below(lo, next, from, to);
}

int64_t fp_kafka_lost_query(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t next,
                            int timeout_ms, int64_t *from, int64_t *to, fp_err *err)
{
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, timeout_ms);
    if (e) {
        char what[300];
        snprintf(what, sizeof what, "log start offset of %s/%" PRId32, topic, partition);
        fp_kafka_err(err, e, what);
        *from = *to = next;
        return -1;
    }
    return lost_below(lo, next, from, to);
}

/* What the drop watcher last saw of one partition. */
typedef struct drop_seen {
    char *topic;
    int32_t partition;
    int64_t log_start;
} drop_seen;

struct fp_kafka_embedded {
    rd_kafka_t *rk; /* owns the mock cluster's bookkeeping; never produces */
    rd_kafka_mock_cluster_t *mc;
    char *bootstraps;
    /* The drop watcher (fp_kafka_embedded_watch_drops): its own client handle and thread;
     * seen[] is the thread's alone, dropped is read by any thread. */
    bool watching;
    pthread_t watcher;
    atomic_bool watch_stop;
    int watch_interval_ms;
    rd_kafka_t *watch_rk;
    drop_seen *seen;
    size_t nseen;
    _Atomic int64_t dropped;
};

static drop_seen *seen_slot(fp_kafka_embedded *e, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < e->nseen; i++)
        if (e->seen[i].partition == partition && !strcmp(e->seen[i].topic, topic))
            return &e->seen[i];
    e->seen = fp_xrealloc(e->seen, (e->nseen + 1) * sizeof *e->seen);
    e->seen[e->nseen] = (drop_seen){fp_xstrdup(topic), partition, 0};
    return &e->seen[e->nseen++];
}

/* One check: every partition's log start offset (ListOffsets with EARLIEST, one request per
 * broker), compared with the last check's. */
static void watch_once(fp_kafka_embedded *e)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(e->watch_rk, 1, NULL, &md, 2000) || !md)
        return; /* transient; the next round asks again */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (mt->err || !strncmp(mt->topic, "__", 2))
            continue;
        for (int i = 0; i < mt->partition_cnt; i++)
            rd_kafka_topic_partition_list_add(parts, mt->topic, mt->partitions[i].id)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_metadata_destroy(md);
    if (parts->cnt && !rd_kafka_offsets_for_times(e->watch_rk, parts, 2000)) {
        int64_t total = 0;
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &parts->elems[i];
            drop_seen *s = seen_slot(e, tp->topic, tp->partition);
            if (!tp->err && tp->offset > s->log_start) {
                int64_t n = tp->offset - s->log_start;
                fp_log(FP_LOG_WARN, "broker", -1,
                       "%s [%" PRId32 "]: dropped %" PRId64 " messages (offsets %" PRId64
                       "..%" PRId64 ") to stay within the development broker's cap of the newest "
                       "%d MiB (or %d record batches) per partition; consumers that had not read "
                       "them lost them. Use more --partitions. topic=%s partition=%" PRId32
                       " dropped=%" PRId64 " dropped_total=%" PRId64 " log_start=%" PRId64,
                       tp->topic, tp->partition, n, s->log_start, tp->offset - 1,
                       FP_KAFKA_EMBEDDED_PARTITION_BYTES / (1024 * 1024),
                       FP_KAFKA_EMBEDDED_PARTITION_BATCHES, tp->topic, tp->partition, n, tp->offset,
                       tp->offset);
                s->log_start = tp->offset;
            }
            total += s->log_start;
        }
        atomic_store(&e->dropped, total);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static void *watch_main(void *arg)
{
    fp_kafka_embedded *e = arg;
    while (!atomic_load(&e->watch_stop)) {
        watch_once(e);
        for (int slept = 0; slept < e->watch_interval_ms && !atomic_load(&e->watch_stop);
             slept += 50) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    watch_once(e); /* what was dropped since the last round still gets its line */
    return NULL;
}

fp_code fp_kafka_embedded_watch_drops(fp_kafka_embedded *e, int interval_ms, fp_err *err)
{
    if (e->watching)
        return FP_OK;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (fp_kafka_conf_set(conf, "bootstrap.servers", e->bootstraps, err) ||
        fp_kafka_conf_set(conf, "client.id", "fleetpipe-broker-watch", err)) {
        rd_kafka_conf_destroy(conf);
        return err->code;
    }
    fp_kafka_conf_log(conf);
    char es[512];
    e->watch_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!e->watch_rk) {
        rd_kafka_conf_destroy(conf);
        return fp_err_set(err, FP_ERR_KAFKA, "embedded broker watcher: %s", es);
    }
    e->watch_interval_ms = interval_ms > 0 ? interval_ms : 1000;
    atomic_store(&e->watch_stop, false);
    if (pthread_create(&e->watcher, NULL, watch_main, e) != 0) {
        rd_kafka_destroy(e->watch_rk);
        e->watch_rk = NULL;
        return fp_err_set(err, FP_ERR_IO, "embedded broker watcher: cannot start a thread");
    }
    e->watching = true;
    return FP_OK;
}

int64_t fp_kafka_embedded_dropped(const fp_kafka_embedded *e)
{
    return e ? atomic_load(&((fp_kafka_embedded *)e)->dropped) : 0;
}

fp_kafka_embedded *fp_kafka_embedded_start(int brokers, int partitions, fp_err *err)
{
    char es[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Quiet: the handle exists only to host the cluster. */
    rd_kafka_conf_set(conf, "log_level", "3", es, sizeof es);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fp_err_set(err, FP_ERR_KAFKA, "embedded broker: %s", es);
        return NULL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        rd_kafka_destroy(rk);
        fp_err_set(err, FP_ERR_KAFKA, "embedded broker: cannot create mock cluster");
        return NULL;
    }
    fp_kafka_embedded *e = fp_xcalloc(1, sizeof *e);
    e->rk = rk;
    e->mc = mc;
    e->bootstraps = fp_xstrdup(rd_kafka_mock_cluster_bootstraps(mc));
    for (size_t i = 0; fp_kafka_fms_topics[i]; i++) {
        if (fp_kafka_embedded_topic(e, fp_kafka_fms_topics[i], partitions, err)) {
            fp_kafka_embedded_stop(e);
            return NULL;
        }
    }
    return e;
}

const char *fp_kafka_embedded_bootstraps(const fp_kafka_embedded *e)
{
    return e->bootstraps;
}

fp_code fp_kafka_embedded_topic(fp_kafka_embedded *e, const char *topic, int partitions,
                                fp_err *err)
{
    int rf = 1; /* replicas add nothing in memory; leaders still spread over the brokers */
    rd_kafka_resp_err_t ke = rd_kafka_mock_topic_create(e->mc, topic, partitions, rf);
    if (ke)
        return fp_kafka_err(err, ke, topic);
    return FP_OK;
}

void fp_kafka_embedded_stop(fp_kafka_embedded *e)
{
    if (!e)
        return;
    if (e->watching) {
        atomic_store(&e->watch_stop, true);
        pthread_join(e->watcher, NULL);
        rd_kafka_destroy(e->watch_rk);
    }
    for (size_t i = 0; i < e->nseen; i++)
        free(e->seen[i].topic);
    free(e->seen);
    rd_kafka_mock_cluster_destroy(e->mc);
    rd_kafka_destroy(e->rk);
    free(e->bootstraps);
    free(e);
}

void fp_kafka_embedded_fail_produce(fp_kafka_embedded *e, int count, rd_kafka_resp_err_t err)
{
    for (int i = 0; i < count; i++)
        rd_kafka_mock_push_request_errors(e->mc, 0 /* ProduceRequest */, 1, err);
}
