/* connect.c — connector tasks: consume, transform, dead-letter, put, commit what is durable.
 *
 * One task = one thread = one rd_kafka consumer in group connect-<name> + one transform chain +
 * one sink instance. Everything a task touches belongs to that thread (the rebalance callback
 * runs inside its rd_kafka_consumer_poll), except the connector's shared dead-letter producer
 * and the atomic counters read by the status printer.
 *
 * Offsets. Per assigned partition a task tracks `committed` (what the group has) and `position`
 * (next offset fully handled: put OK or dead-lettered). A commit sends min(position,
 * sink->uncommitted_from()) — never more than the sink holds durably — and only after the
 * dead-letter producer flushed, so a dead letter is acknowledged before offsets pass it.
 *
 * Retries (the runtime's job, never the sink's). put/flush answering RETRY pauses every
 * assigned partition, waits with exponential backoff (100 ms doubling up to
 * errors.retry.delay.max.ms), then rewinds: close() every partition in the sink (discarding what
 * is not durable), seek to `committed`, open() again, resume. The failed records are replayed,
 * never skipped; errors.retry.timeout (-1: forever) bounds the whole episode, after which the
 * task goes FAILED. Dead letters re-met in a replay by this process (rewind, or a partition
 * that came back after a rebalance) are not produced twice (connector-wide dlq marks).
 *
 * Rebalances (eager protocol): on revoke a task drops its unput batch, commits what is durable,
 * and closes the partitions in the sink; the next owner replays from the committed offset.
 *
 * Management (REST, distributed mode). The connector list is guarded by fp_connect.mu; every
 * management call and every reader takes it (connect.h). Stopping a connector sets its own stop
 * flag and joins its tasks, which end exactly as on SIGTERM (final flush, commit, leave the
 * group). Pausing is a flag each task applies to its own consumer on its next loop turn
 * (rd_kafka_pause_partitions on its assignment), because the assignment belongs to the task
 * thread. Task metrics are atomics and fixed histograms; consumer lag is computed by the task
 * thread about once a second (position and cached watermarks, no broker call) and published
 * under the task's mutex.
 */
#include "connect/connect.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connect/sink.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "core/version.h"
#include "kafka/kafka.h"
#include "xform/xform.h"

#define BATCH_MAX 512                 /* messages per put() */
#define BATCH_BYTES (8 * 1024 * 1024) /* transformed bytes per put(): the batch's memory budget */
#define TICK_MS 100
#define DLQ_QUEUE_FULL_MS 60000  /* longest wait for room in the dead-letter queue */
#define COMMITTED_FETCH_MS 60000 /* how long an assignment retries fetching committed offsets */
#define LAG_EVERY_MS 1000

static int64_t fp_time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct conn_conf {
    char *name, *cls, *topics_regex, *tolerance, *dlq_topic;
    fp_strv topics;
    int64_t tasks_max, retry_timeout, retry_delay_max, commit_interval;
    bool dlq_headers, log_errors, log_messages;
} conn_conf;

static const fp_conf_def conn_defs[] = {
    {"name", FP_CONF_STRING, NULL, offsetof(conn_conf, name),
     "connector name; its consumer group is connect-<name>", NULL, 0, 0},
    {"connector.class", FP_CONF_STRING, NULL, offsetof(conn_conf, cls), "sink plugin (see below)",
     NULL, 0, 0},
    {"topics", FP_CONF_LIST, "", offsetof(conn_conf, topics), "topics to consume (comma list)",
     NULL, 0, 0},
    {"topics.regex", FP_CONF_STRING, "", offsetof(conn_conf, topics_regex),
     "regular expression of topics to consume (instead of topics)", NULL, 0, 0},
    {"tasks.max", FP_CONF_INT, "1", offsetof(conn_conf, tasks_max),
     "task threads, each its own consumer in the group", NULL, 1, 256},
    {"errors.tolerance", FP_CONF_ENUM, "none", offsetof(conn_conf, tolerance),
     "bad records: none = task FAILED at the first; all = dead-letter and go on", "none|all", 0, 0},
    {"errors.deadletterqueue.topic.name", FP_CONF_STRING, "", offsetof(conn_conf, dlq_topic),
     "dead-letter topic (original bytes and key); empty: bad records are only logged", NULL, 0, 0},
    {"errors.deadletterqueue.context.headers.enable", FP_CONF_BOOL, "true",
     offsetof(conn_conf, dlq_headers),
     "add error.class, error.message, source.topic, source.partition, source.offset headers", NULL,
     0, 0},
    {"errors.retry.timeout", FP_CONF_INT, "-1", offsetof(conn_conf, retry_timeout),
     "ms to keep retrying a failing sink before the task goes FAILED; -1: forever", NULL, -1,
     INT64_MAX},
    {"errors.retry.delay.max.ms", FP_CONF_MS, "60000", offsetof(conn_conf, retry_delay_max),
     "longest wait between retries (backoff starts at 100 ms and doubles)", NULL, 1, INT64_MAX},
    {"errors.log.enable", FP_CONF_BOOL, "true", offsetof(conn_conf, log_errors),
     "log every bad record", NULL, 0, 0},
    {"errors.log.include.messages", FP_CONF_BOOL, "false", offsetof(conn_conf, log_messages),
     "include the record's first bytes in that log line", NULL, 0, 0},
    {"offset.flush.interval.ms", FP_CONF_MS, "1000", offsetof(conn_conf, commit_interval),
     "how often durable offsets are committed", NULL, 1, INT64_MAX},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

enum { T_STARTING, T_RUNNING, T_STOPPED, T_FAILED };
static const char *const state_names[] = {"STARTING", "RUNNING", "STOPPED", "FAILED"};

typedef struct tpart {
    char *topic;
    int32_t partition;
    int64_t committed; /* offset the group has; <0: none yet */
    int64_t position;  /* next offset fully handled; <0: unknown */
    bool eof;
    bool rewound;   /* sought to position: its first message must be at position, not past it */
    int64_t gap_at; /* first offset seen past position after a rewind, -1: none */
} tpart;

typedef struct connector connector;

typedef struct task {
    connector *c;
    int id;
    pthread_t th;
    bool started;
    rd_kafka_t *rk;
    fp_xform_chain *chain;
    void *sink;
    fp_sink_ctx ctx;
    fp_sink_stats stats;
    tpart *parts;
    size_t nparts;
    /* current batch: messages, and per output record its message index and sink time */
    rd_kafka_message_t **msgs;
    size_t nmsgs;
    fp_xform_out xout;
    size_t *outmsg;
    int64_t *outts;
    size_t outcap;
    fp_sink_rec *recs;
    size_t reccap;
    /* retry state */
    bool retrying;
    int attempts;
    int64_t retry_at, retry_delay, retry_since;
    bool dlq_pending;
    int64_t last_msg_mono, last_commit_mono;
    bool had_assignment;
    bool failed_on_record; /* FAILED by a bad record: what came before it is still good */
    bool paused_applied;   /* the connector's pause flag as applied to this consumer */
    _Atomic int state;
    _Atomic bool idle;
    _Atomic uint64_t in, dead, retries;
    /* metrics: put+flush time per tick that put something, records per put() */
    fp_metrics_hist latency, batch;
    int64_t pending_lat_us; /* put time since the last flush */
    int64_t last_lag_mono;
    pthread_mutex_t mu; /* guards lags and trace (read by scrapes and status) */
    struct tlag {
        char *topic;
        int32_t partition;
        int64_t lag;
    } * lags;
    size_t nlags;
    char trace[FP_ERR_MSG_MAX + 256]; /* why the task FAILED */
} task;

struct connector {
    fp_connect *rt;
    conn_conf cf;
    fp_props props;
    const fp_sink_plugin *plugin;
    rd_kafka_t *dlq; /* shared by the tasks (thread-safe) */
    _Atomic uint64_t dlq_failed;
    _Atomic int final_done;   /* tasks past their final commit (stop barrier) */
    pthread_mutex_t dlq_lock; /* guards marks: highest dead-lettered offset per partition */
    struct dlq_mark {
        char *topic;
        int32_t partition;
        int64_t high;
    } * marks;
    size_t nmarks;
    task *tasks;
    fp_stop stop;        /* this connector's tasks stop (delete, update, restart) */
    _Atomic bool paused; /* target state PAUSED */
    bool running;        /* tasks were started and not yet joined */
};

struct fp_connect {
    char *bootstrap, *worker_id;
    fp_connect_opts o;
    pthread_mutex_t mu; /* guards conns/nconns and every connector's start/stop */
    bool started;
    connector **conns;
    size_t nconns;
    _Atomic bool stop; /* idle stop or teardown; SIGINT/SIGTERM come through o.stop */
};

/* ---------------------------------------------------------------- configuration */

fp_connect *fp_connect_new(const fp_connect_opts *o)
{
    fp_connect *c = fp_xcalloc(1, sizeof *c);
    c->o = *o;
    c->bootstrap = fp_xstrdup(o->bootstrap);
    c->o.bootstrap = c->bootstrap;
    c->worker_id = fp_xstrdup(o->worker_id && o->worker_id[0] ? o->worker_id : "local");
    c->o.worker_id = c->worker_id;
    pthread_mutex_init(&c->mu, NULL);
    if (c->o.status_interval_ms <= 0)
        c->o.status_interval_ms = 10000;
    return c;
}

/* Frees the tasks (threads already joined) and the dead-letter producer, so the connector can
 * be started again. */
static void connector_tasks_free(connector *k)
{
    if (k->tasks) {
        for (int i = 0; i < k->cf.tasks_max; i++) {
            task *t = &k->tasks[i];
            for (size_t j = 0; j < t->nlags; j++)
                free(t->lags[j].topic);
            free(t->lags);
            pthread_mutex_destroy(&t->mu);
            if (t->sink)
                k->plugin->destroy(t->sink);
            fp_xform_chain_free(t->chain);
            if (t->rk)
                rd_kafka_destroy(t->rk);
            fp_xform_out_free(&t->xout);
            free(t->msgs);
            free(t->outmsg);
            free(t->outts);
            free(t->recs);
            for (size_t j = 0; j < t->nparts; j++)
                free(t->parts[j].topic);
            free(t->parts);
        }
        free(k->tasks);
        k->tasks = NULL;
    }
    if (k->dlq)
        rd_kafka_destroy(k->dlq);
    k->dlq = NULL;
    atomic_store(&k->final_done, 0);
    atomic_store(&k->dlq_failed, 0);
    /* The marks only say what this producer was given: a restart replays from the committed
     * offsets, and a dead letter whose delivery failed must be produced again (at least once). */
    for (size_t i = 0; i < k->nmarks; i++)
        free(k->marks[i].topic);
    free(k->marks);
    k->marks = NULL;
    k->nmarks = 0;
}

static void connector_free(connector *k)
{
    if (!k)
        return;
    connector_tasks_free(k);
    pthread_mutex_destroy(&k->dlq_lock);
    fp_conf_free(conn_defs, &k->cf);
    fp_props_free(&k->props);
    free(k);
}

bool fp_connect_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > 249 || strchr(name, '/') || strstr(name, "..") || strchr(name, '\\'))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return fp_utf8_valid(name, n); /* JSON and metric labels need it */
}

/* Validates props into a new connector (takes ownership of props); not in c's list. */
static fp_code connector_new(fp_connect *c, fp_props *props, connector **out, fp_err *err)
{
    *out = NULL;
    connector *k = fp_xcalloc(1, sizeof *k);
    k->rt = c;
    pthread_mutex_init(&k->dlq_lock, NULL);
    k->props = *props;
    fp_props_init(props);
    fp_code rc = fp_conf_apply(conn_defs, &k->props, NULL, &k->cf, err);
    const char *what = k->cf.name ? k->cf.name : "?";
    if (!rc && !fp_connect_name_ok(k->cf.name))
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "key 'name': a connector name is 1 to 249 characters without '/', '..', "
                        "'\\\\' or control characters");
    if (!rc && !k->cf.topics.n && !k->cf.topics_regex[0])
        rc = fp_err_set(err, FP_ERR_CONFIG, "set topics or topics.regex");
    if (!rc && k->cf.topics.n && k->cf.topics_regex[0])
        rc = fp_err_set(err, FP_ERR_CONFIG, "set topics or topics.regex, not both");
    if (!rc) {
        k->plugin = fp_sink_find(k->cf.cls);
        if (!k->plugin)
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "connector.class '%s' is unknown (see fleetpipe help connectors)",
                            k->cf.cls);
    }
    /* Validate every claimant once, so unknown keys are reported before anything starts. */
    if (!rc) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rc = fp_kafka_conf_passthrough(kc, &k->props, "consumer.override.", err);
        rd_kafka_conf_destroy(kc);
    }
    if (!rc) {
        /* on_rebalance speaks the eager protocol (rd_kafka_assign of the whole set). */
        const fp_prop *st =
            fp_props_find(&k->props, "consumer.override.partition.assignment.strategy");
        if (st && strstr(st->val, "cooperative"))
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "consumer.override.partition.assignment.strategy '%s': cooperative "
                            "rebalancing is not supported (the runtime uses the eager protocol); "
                            "use range or roundrobin",
                            st->val);
    }
    if (!rc) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rc = fp_kafka_conf_passthrough(kc, &k->props, "producer.override.", err);
        rd_kafka_conf_destroy(kc);
    }
    if (!rc) {
        fp_xform_chain *ch = NULL;
        rc = fp_xform_chain_new(&k->props, &ch, err);
        fp_xform_chain_free(ch);
    }
    if (!rc) {
        fp_sink_stats st;
        memset(&st, 0, sizeof st);
        fp_sink_ctx ctx = {k->cf.name, -1, &st, k->rt->bootstrap, NULL};
        void *s = NULL;
        rc = k->plugin->create(&k->props, &ctx, &s, err);
        if (s)
            k->plugin->destroy(s);
    }
    if (!rc) {
        char what_buf[300];
        snprintf(what_buf, sizeof what_buf, "connector %s", k->cf.name);
        rc = fp_props_check_used(&k->props, what_buf, err);
        if (rc)
            what = NULL; /* the message already names the connector */
    }
    if (rc) {
        if (what)
            fp_err_prefix(err, "connector %s", what);
        connector_free(k);
        return rc;
    }
    *out = k;
    return FP_OK;
}

static connector *find_conn(fp_connect *c, const char *name, size_t *idx)
{
    for (size_t i = 0; i < c->nconns; i++)
        if (!strcmp(c->conns[i]->cf.name, name)) {
            if (idx)
                *idx = i;
            return c->conns[i];
        }
    return NULL;
}

fp_code fp_connect_add(fp_connect *c, fp_props *props, fp_err *err)
{
    connector *k;
    fp_code rc = connector_new(c, props, &k, err);
    if (rc)
        return rc;
    if (find_conn(c, k->cf.name, NULL)) {
        rc = fp_err_set(err, FP_ERR_CONFIG, "connector %s: two connectors are named '%s'",
                        k->cf.name, k->cf.name);
        connector_free(k);
        return rc;
    }
    c->conns = fp_xrealloc(c->conns, (c->nconns + 1) * sizeof *c->conns);
    c->conns[c->nconns++] = k;
    return FP_OK;
}

/* ---------------------------------------------------------------- partitions */

static tpart *find_tp(task *t, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].partition == partition && !strcmp(t->parts[i].topic, topic))
            return &t->parts[i];
    return NULL;
}

static rd_kafka_topic_partition_list_t *assigned_list(task *t)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)t->nparts + 1);
    for (size_t i = 0; i < t->nparts; i++)
        rd_kafka_topic_partition_list_add(l, t->parts[i].topic, t->parts[i].partition);
    return l;
}

static void task_fail(task *t, const char *msg)
{
    fp_log(FP_LOG_ERROR, t->c->cf.name, t->id, "task FAILED: %s", msg);
    pthread_mutex_lock(&t->mu);
    snprintf(t->trace, sizeof t->trace, "%s", msg);
    pthread_mutex_unlock(&t->mu);
    atomic_store(&t->state, T_FAILED);
}

static bool stopping(const connector *k)
{
    return fp_stop_requested(k->rt->o.stop) || atomic_load(&k->rt->stop) ||
           fp_stop_requested(&k->stop);
}

/* ---------------------------------------------------------------- batches */

static void batch_drop(task *t)
{
    for (size_t i = 0; i < t->nmsgs; i++)
        rd_kafka_message_destroy(t->msgs[i]);
    t->nmsgs = 0;
    fp_xform_out_reset(&t->xout);
}

static void start_retry(task *t, const char *what, const fp_err *err);

/* Hands the batch to the sink; on OK the messages' offsets become the positions. */
static fp_sink_rc batch_put(task *t)
{
    if (!t->nmsgs)
        return FP_SINK_OK;
    size_t n = t->xout.n;
    if (n > t->reccap) {
        t->reccap = n * 2;
        t->recs = fp_xrealloc(t->recs, t->reccap * sizeof *t->recs);
    }
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = t->msgs[t->outmsg[i]];
        rd_kafka_timestamp_type_t tt;
        t->recs[i] = (fp_sink_rec){rd_kafka_topic_name(m->rkt),        m->partition,   m->offset,
                                   rd_kafka_message_timestamp(m, &tt), m->key,         m->key_len,
                                   t->xout.data.p + t->xout.off[i],    t->xout.len[i], t->outts[i]};
    }
    fp_err err = {0};
    int64_t t0 = fp_time_mono_us();
    fp_sink_rc src = n ? t->c->plugin->put(t->sink, t->recs, n, &err) : FP_SINK_OK;
    if (n) {
        t->pending_lat_us += fp_time_mono_us() - t0;
        fp_metrics_hist_observe(&t->batch, (double)n);
    }
    if (src == FP_SINK_OK) {
        for (size_t i = 0; i < t->nmsgs; i++) {
            rd_kafka_message_t *m = t->msgs[i];
            tpart *tp = find_tp(t, rd_kafka_topic_name(m->rkt), m->partition);
            if (tp && m->offset + 1 > tp->position)
                tp->position = m->offset + 1;
        }
    }
    batch_drop(t);
    if (src == FP_SINK_RETRY)
        start_retry(t, "sink", &err);
    else if (src == FP_SINK_ERROR)
        task_fail(t, err.msg);
    return src;
}

/* ---------------------------------------------------------------- dead letters */

static void dlq_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    connector *k = opaque;
    if (m->err) {
        atomic_fetch_add(&k->dlq_failed, 1);
        fp_log(FP_LOG_ERROR, k->cf.name, -1, "dead letter not delivered: %s",
               rd_kafka_err2str(m->err));
    }
}

static struct dlq_mark *dlq_mark_find(connector *k, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < k->nmarks; i++)
        if (k->marks[i].partition == partition && !strcmp(k->marks[i].topic, topic))
            return &k->marks[i];
    return NULL;
}

/* Records that offset of topic/partition is dead-lettered; false when it already was. *prev
 * gets the mark before, for dlq_unmark(). */
static bool dlq_mark(connector *k, const char *topic, int32_t partition, int64_t offset,
                     int64_t *prev)
{
    pthread_mutex_lock(&k->dlq_lock);
    struct dlq_mark *mk = dlq_mark_find(k, topic, partition);
    if (!mk) {
        k->marks = fp_xrealloc(k->marks, (k->nmarks + 1) * sizeof *k->marks);
        mk = &k->marks[k->nmarks++];
        *mk = (struct dlq_mark){fp_xstrdup(topic), partition, -1};
    }
    *prev = mk->high;
    bool fresh = offset > mk->high;
    if (fresh)
        mk->high = offset;
    pthread_mutex_unlock(&k->dlq_lock);
    return fresh;
}

/* Undoes dlq_mark() for a dead letter that was never produced, so a replay sends it. */
static void dlq_unmark(connector *k, const char *topic, int32_t partition, int64_t offset,
                       int64_t prev)
{
    pthread_mutex_lock(&k->dlq_lock);
    struct dlq_mark *mk = dlq_mark_find(k, topic, partition);
    if (mk && mk->high == offset)
        mk->high = prev;
    pthread_mutex_unlock(&k->dlq_lock);
}

/* Sends a bad message to the dead-letter path, or fails the task (errors.tolerance=none).
 * Returns false when the task must stop. */
static bool dead_letter(task *t, tpart *tp, rd_kafka_message_t *m, const fp_err *why)
{
    connector *k = t->c;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (strcmp(k->cf.tolerance, "all") != 0) {
        char msg[FP_ERR_MSG_MAX + 200];
        snprintf(msg, sizeof msg,
                 "bad record at %s/%" PRId32 "@%" PRId64
                 " and errors.tolerance=none: %s (nothing past it is committed)",
                 topic, m->partition, m->offset, why->msg);
        t->failed_on_record = true;
        task_fail(t, msg);
        return false;
    }
    atomic_fetch_add(&t->dead, 1);
    if (k->cf.log_errors)
        fp_log(FP_LOG_WARN, k->cf.name, t->id, "dead letter %s/%" PRId32 "@%" PRId64 ": %s%s%.*s",
               topic, m->partition, m->offset, why->msg, k->cf.log_messages ? " — " : "",
               k->cf.log_messages ? (int)(m->len < 200 ? m->len : 200) : 0,
               m->payload ? (const char *)m->payload : "");
    int64_t prev;
    bool fresh = dlq_mark(k, topic, m->partition, m->offset, &prev);
    if (!k->dlq) {
        tp->position = m->offset + 1;
        return true;
    }
    /* Sent before a rewind, maybe not acknowledged yet: the commit must wait for it too. */
    t->dlq_pending = true;
    if (!fresh) {
        tp->position = m->offset + 1;
        return true;
    }
    rd_kafka_headers_t *h = NULL;
    if (k->cf.dlq_headers) {
        char part[16], off[24];
        snprintf(part, sizeof part, "%" PRId32, m->partition);
        snprintf(off, sizeof off, "%" PRId64, m->offset);
        h = rd_kafka_headers_new(5);
        rd_kafka_header_add(h, "error.class", -1, fp_code_name(why->code), -1);
        rd_kafka_header_add(h, "error.message", -1, why->msg, -1);
        rd_kafka_header_add(h, "source.topic", -1, topic, -1);
        rd_kafka_header_add(h, "source.partition", -1, part, -1);
        rd_kafka_header_add(h, "source.offset", -1, off, -1);
    }
    /* A full producer queue waits for deliveries, but not past a stop or DLQ_QUEUE_FULL_MS:
     * giving up leaves the position before the record, so it is replayed, never skipped. */
    int64_t give_up = fp_time_mono_ms() + DLQ_QUEUE_FULL_MS;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->dlq, RD_KAFKA_V_TOPIC(k->cf.dlq_topic), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (!e)
            break;
        bool stop = stopping(k);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop || fp_time_mono_ms() >= give_up) {
            if (h)
                rd_kafka_headers_destroy(h);
            dlq_unmark(k, topic, m->partition, m->offset, prev);
            if (stop && e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return false; /* the stop commits up to (not past) this record */
            char what[FP_ERR_MSG_MAX];
            snprintf(what, sizeof what, "dead-letter produce of %s/%" PRId32 "@%" PRId64 "%s",
                     topic, m->partition, m->offset,
                     e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? " (gave up waiting for room)" : "");
            fp_err ferr;
            fp_kafka_err(&ferr, e, what);
            task_fail(t, ferr.msg);
            return false;
        }
        rd_kafka_poll(k->dlq, 50);
    }
    tp->position = m->offset + 1;
    return true;
}

/* ---------------------------------------------------------------- commits */

/* Commits what is durable. Returns false when the task failed. */
static bool commit_durable(task *t, int *advanced)
{
    *advanced = 0;
    connector *k = t->c;
    if (t->dlq_pending) {
        rd_kafka_resp_err_t e = rd_kafka_flush(k->dlq, 60000);
        if (e || atomic_load(&k->dlq_failed)) {
            task_fail(t, "dead letters were not acknowledged; offsets past them stay uncommitted");
            return false;
        }
        t->dlq_pending = false;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)t->nparts + 1);
    for (size_t i = 0; i < t->nparts; i++) {
        tpart *tp = &t->parts[i];
        if (tp->position < 0)
            continue;
        int64_t c = tp->position;
        int64_t u = k->plugin->uncommitted_from(t->sink, tp->topic, tp->partition);
        if (u < c)
            c = u;
        if (c > tp->committed)
            rd_kafka_topic_partition_list_add(l, tp->topic, tp->partition)->offset = c;
    }
    if (l->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_commit(t->rk, l, 0);
        if (e) {
            fp_log(FP_LOG_WARN, k->cf.name, t->id, "commit: %s (will retry)", rd_kafka_err2str(e));
        } else {
            for (int i = 0; i < l->cnt; i++) {
                tpart *tp = find_tp(t, l->elems[i].topic, l->elems[i].partition);
                fp_log(FP_LOG_DEBUG, k->cf.name, t->id, "committed %s/%" PRId32 "@%" PRId64,
                       l->elems[i].topic, l->elems[i].partition, l->elems[i].offset);
                if (tp && !l->elems[i].err) {
                    tp->committed = l->elems[i].offset;
                    ++*advanced;
                }
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    t->last_commit_mono = fp_time_mono_ms();
    return true;
}

/* ---------------------------------------------------------------- retries */

/* what failed ("sink", "rewind") heads the log lines. */
static void start_retry(task *t, const char *what, const fp_err *err)
{
    int64_t now = fp_time_mono_ms();
    if (!t->attempts) {
        t->retry_since = now;
        t->retry_delay = 100;
    } else {
        t->retry_delay *= 2;
    }
    if (t->retry_delay > t->c->cf.retry_delay_max)
        t->retry_delay = t->c->cf.retry_delay_max;
    t->attempts++;
    atomic_fetch_add(&t->retries, 1);
    if (t->c->cf.retry_timeout >= 0 && now - t->retry_since > t->c->cf.retry_timeout) {
        char msg[FP_ERR_MSG_MAX + 100];
        snprintf(msg, sizeof msg, "%s still failing after errors.retry.timeout: %s", what,
                 err->msg);
        task_fail(t, msg);
        return;
    }
    fp_log(FP_LOG_WARN, t->c->cf.name, t->id,
           "%s: %s; consumption paused, replaying from the committed offsets in %" PRId64
           " ms (attempt %d)",
           what, err->msg, t->retry_delay, t->attempts);
    rd_kafka_topic_partition_list_t *l = assigned_list(t);
    rd_kafka_pause_partitions(t->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    batch_drop(t);
    t->retrying = true;
    t->retry_at = now + t->retry_delay;
}

static void rewind_partitions(task *t)
{
    rd_kafka_topic_partition_list_t *l = assigned_list(t);
    for (size_t i = 0; i < t->nparts; i++) {
        tpart *tp = &t->parts[i];
        t->c->plugin->close(t->sink, tp->topic, tp->partition);
        fp_err err = {0};
        t->c->plugin->open(t->sink, tp->topic, tp->partition, &err);
        tp->position = tp->committed;
        tp->eof = false;
        tp->rewound = tp->committed >= 0;
        l->elems[i].offset = tp->committed >= 0 ? tp->committed : RD_KAFKA_OFFSET_BEGINNING;
    }
    fp_err err = {0};
    rd_kafka_error_t *e = rd_kafka_seek_partitions(t->rk, l, 10000);
    if (e) {
        fp_err_set(&err, FP_ERR_KAFKA, "seek: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    for (int i = 0; !err.code && i < l->cnt; i++)
        if (l->elems[i].err)
            fp_err_set(&err, FP_ERR_KAFKA, "seek %s/%" PRId32 " to %" PRId64 ": %s",
                       l->elems[i].topic, l->elems[i].partition, l->elems[i].offset,
                       rd_kafka_err2str(l->elems[i].err));
    if (err.code) {
        /* Resumed, a partition would fetch from wherever the failed seek left it (skipping or
         * repeating records): stay paused and rewind again after the next backoff. */
        rd_kafka_topic_partition_list_destroy(l);
        start_retry(t, "rewind", &err);
        return;
    }
    if (!t->paused_applied)
        rd_kafka_resume_partitions(t->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    t->retrying = false;
}

/* ---------------------------------------------------------------- rebalances */

/* rd_kafka_assign(), checked: after a failed (un)assignment the task no longer knows what it
 * consumes, so it fails. parts NULL: unassign. */
static bool task_assign(task *t, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t e = rd_kafka_assign(t->rk, parts);
    if (!e)
        return true;
    char msg[300];
    snprintf(msg, sizeof msg, "%s: %s", parts ? "assign" : "unassign", rd_kafka_err2str(e));
    task_fail(t, msg);
    return false;
}

/* Fetches the group's committed offsets into parts. A failed fetch (of the list or of one
 * partition) is retried with backoff, never read as "no commit": starting a partition that has
 * a commit from the beginning would replay its whole history into the sink. */
static bool fetch_committed(task *t, rd_kafka_topic_partition_list_t *parts, fp_err *err)
{
    int64_t give_up = fp_time_mono_ms() + COMMITTED_FETCH_MS, delay = 100;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_committed(t->rk, parts, 30000);
        const rd_kafka_topic_partition_t *bad = NULL;
        for (int i = 0; !e && !bad && i < parts->cnt; i++)
            if (parts->elems[i].err)
                bad = &parts->elems[i];
        if (!e && !bad)
            return true;
        if (bad)
            fp_err_set(err, FP_ERR_KAFKA, "fetching the committed offset of %s/%" PRId32 ": %s",
                       bad->topic, bad->partition, rd_kafka_err2str(bad->err));
        else
            fp_err_set(err, FP_ERR_KAFKA, "fetching committed offsets: %s", rd_kafka_err2str(e));
        if (fp_time_mono_ms() + delay > give_up)
            return false;
        fp_log(FP_LOG_WARN, t->c->cf.name, t->id, "%s (retrying in %" PRId64 " ms)", err->msg,
               delay);
        for (int64_t until = fp_time_mono_ms() + delay; fp_time_mono_ms() < until;) {
            if (stopping(t->c))
                return false;
            usleep(20 * 1000);
        }
        delay = delay * 2 < 5000 ? delay * 2 : 5000;
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    task *t = opaque;
    connector *k = t->c;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        fp_err ferr = {0};
        if (!fetch_committed(t, parts, &ferr)) {
            /* Consume nothing whose start is unknown; leaving the group hands the partitions
             * to a member that can read their commits. A stop is not a failure. */
            char msg[FP_ERR_MSG_MAX + 100];
            snprintf(msg, sizeof msg, "%s; not consuming partitions whose commit is unknown",
                     ferr.msg);
            if (!stopping(k))
                task_fail(t, msg);
            task_assign(t, NULL);
            return;
        }
        t->parts = fp_xrealloc(t->parts, (t->nparts + (size_t)parts->cnt) * sizeof *t->parts);
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *p = &parts->elems[i];
            int64_t c = p->offset; /* RD_KAFKA_OFFSET_INVALID: the group has no commit */
            if (c < 0)
                c = -1;
            t->parts[t->nparts++] =
                (tpart){fp_xstrdup(p->topic), p->partition, c, c, false, false, -1};
            fp_err err = {0};
            k->plugin->open(t->sink, p->topic, p->partition, &err);
            /* Start exactly at the committed offset (or the beginning). */
            p->offset = c >= 0 ? c : RD_KAFKA_OFFSET_BEGINNING;
        }
        fp_log(FP_LOG_INFO, k->cf.name, t->id, "assigned %d partition(s)", parts->cnt);
        /* librdkafka keeps a partition's pause flag across unassign/assign: one paused by a
         * retry under an earlier assignment would never be fetched again. */
        if (task_assign(t, parts)) {
            if (t->paused_applied)
                rd_kafka_pause_partitions(rk, parts);
            else
                rd_kafka_resume_partitions(rk, parts);
        }
        t->retrying = false;
        t->attempts = 0;
        t->had_assignment = true;
    } else {
        batch_drop(t);
        int adv;
        if (!t->retrying && atomic_load(&t->state) == T_RUNNING)
            commit_durable(t, &adv);
        if (t->retrying) {
            /* Paused by start_retry: the pause outlives the unassign (see above). */
            rd_kafka_topic_partition_list_t *l = assigned_list(t);
            rd_kafka_resume_partitions(rk, l);
            rd_kafka_topic_partition_list_destroy(l);
        }
        for (size_t i = 0; i < t->nparts; i++) {
            k->plugin->close(t->sink, t->parts[i].topic, t->parts[i].partition);
            free(t->parts[i].topic);
        }
        t->nparts = 0;
        if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            fp_log(FP_LOG_INFO, k->cf.name, t->id, "revoked %d partition(s)", parts->cnt);
        else
            fp_log(FP_LOG_WARN, k->cf.name, t->id, "rebalance error: %s; dropping the assignment",
                   rd_kafka_err2str(e));
        task_assign(t, NULL);
        t->retrying = false;
    }
}

/* ---------------------------------------------------------------- the task loop */

static bool handle_message(task *t, rd_kafka_message_t *m)
{
    connector *k = t->c;
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            tpart *tp = m->rkt ? find_tp(t, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
            if (tp && (t->retrying || m->offset >= tp->position))
                tp->eof = true;
        } else {
            fp_log(FP_LOG_WARN, k->cf.name, t->id, "consumer: %s", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        return true;
    }
    tpart *tp = find_tp(t, rd_kafka_topic_name(m->rkt), m->partition);
    if (!tp || (tp->position >= 0 && m->offset < tp->position) || t->retrying) {
        rd_kafka_message_destroy(m);
        return true;
    }
    if (tp->rewound && m->offset > tp->position && m->offset != tp->gap_at) {
        /* The seek did not land where the commit is: accepting this would skip records. Seek
         * again; if the next rewind lands on the same offset, the gap is real (transaction
         * markers, compaction) and is accepted below. */
        tp->gap_at = m->offset;
        fp_err gap;
        fp_err_set(&gap, FP_ERR_KAFKA,
                   "after the rewind %s/%" PRId32 " delivered offset %" PRId64
                   ", expected %" PRId64,
                   tp->topic, tp->partition, m->offset, tp->position);
        rd_kafka_message_destroy(m);
        start_retry(t, "rewind", &gap);
        return atomic_load(&t->state) != T_FAILED;
    }
    if (tp->rewound && m->offset > tp->position)
        fp_log(FP_LOG_WARN, k->cf.name, t->id,
               "%s/%" PRId32 ": offsets %" PRId64 "..%" PRId64
               " do not exist (twice after a rewind): a transaction marker or compaction gap",
               tp->topic, tp->partition, tp->position, m->offset - 1);
    tp->rewound = false;
    tp->gap_at = -1;
    if ((t->nmsgs >= BATCH_MAX || t->xout.data.len >= BATCH_BYTES) && batch_put(t) != FP_SINK_OK) {
        rd_kafka_message_destroy(m);
        return atomic_load(&t->state) != T_FAILED;
    }
    tp->eof = false;
    t->last_msg_mono = fp_time_mono_ms();
    atomic_fetch_add(&t->in, 1);
    rd_kafka_timestamp_type_t tt;
    fp_rec_meta meta = {.topic = rd_kafka_topic_name(m->rkt),
                        .partition = m->partition,
                        .offset = m->offset,
                        .timestamp_ms = rd_kafka_message_timestamp(m, &tt)};
    size_t before = t->xout.n;
    size_t before_len = t->xout.data.len;
    fp_err err = {0};
    fp_code rc = FP_OK;
    if (!m->payload)
        rc = fp_err_set(&err, FP_ERR_INVALID,
                        "record at %s/%" PRId32 "@%" PRId64 ": no value (tombstone)", meta.topic,
                        m->partition, m->offset);
    else
        rc = fp_xform_chain_apply(t->chain, &meta, m->payload, m->len, &t->xout, &err);
    if (!rc && t->xout.n > t->outcap) {
        t->outcap = t->xout.n * 2;
        t->outmsg = fp_xrealloc(t->outmsg, t->outcap * sizeof *t->outmsg);
        t->outts = fp_xrealloc(t->outts, t->outcap * sizeof *t->outts);
    }
    for (size_t i = before; !rc && i < t->xout.n; i++) {
        t->outmsg[i] = t->nmsgs;
        t->outts[i] = -1;
        if (!k->plugin->check)
            continue;
        fp_sink_rec r = {meta.topic,
                         m->partition,
                         m->offset,
                         meta.timestamp_ms,
                         m->key,
                         m->key_len,
                         t->xout.data.p + t->xout.off[i],
                         t->xout.len[i],
                         -1};
        rc = k->plugin->check(t->sink, &r, &err);
        if (rc) /* transform errors name the place themselves; sink checks do not */
            fp_err_prefix(&err, "record at %s/%" PRId32 "@%" PRId64, meta.topic, m->partition,
                          m->offset);
        t->outts[i] = r.sink_ts;
    }
    if (rc) {
        /* All or nothing: none of this message's records reach the sink. */
        t->xout.n = before;
        t->xout.data.len = before_len;
        if (t->xout.data.p)
            t->xout.data.p[before_len] = '\0';
        /* Everything before it must reach the sink first (order, and tolerance=none). */
        if (batch_put(t) != FP_SINK_OK) {
            rd_kafka_message_destroy(m);
            return atomic_load(&t->state) != T_FAILED;
        }
        bool ok = dead_letter(t, tp, m, &err);
        rd_kafka_message_destroy(m);
        return ok;
    }
    t->msgs[t->nmsgs++] = m;
    return true;
}

/* Applies the connector's pause flag to this task's consumer (task thread only). */
static void apply_pause(task *t)
{
    bool want = atomic_load(&t->c->paused);
    if (want == t->paused_applied)
        return;
    t->paused_applied = want;
    rd_kafka_topic_partition_list_t *l = assigned_list(t);
    if (want)
        rd_kafka_pause_partitions(t->rk, l);
    else if (!t->retrying) /* a retry resumes after its rewind */
        rd_kafka_resume_partitions(t->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    fp_log(FP_LOG_INFO, t->c->cf.name, t->id, "%s", want ? "paused" : "resumed");
}

/* Lag per assigned partition: high watermark (cached from fetches) - position. */
static void update_lag(task *t)
{
    rd_kafka_topic_partition_list_t *l = assigned_list(t);
    rd_kafka_position(t->rk, l);
    struct tlag *lags = t->nparts ? fp_xcalloc(t->nparts, sizeof *lags) : NULL;
    for (size_t i = 0; i < t->nparts; i++) {
        int64_t lo = -1, hi = -1, pos = l->elems[i].offset;
        rd_kafka_get_watermark_offsets(t->rk, t->parts[i].topic, t->parts[i].partition, &lo, &hi);
        if (pos < 0)
            pos = t->parts[i].position >= 0 ? t->parts[i].position : lo;
        int64_t lag = hi >= 0 && pos >= 0 && hi > pos ? hi - pos : 0;
        lags[i] = (struct tlag){fp_xstrdup(t->parts[i].topic), t->parts[i].partition, lag};
    }
    rd_kafka_topic_partition_list_destroy(l);
    pthread_mutex_lock(&t->mu);
    struct tlag *old = t->lags;
    size_t nold = t->nlags;
    t->lags = lags;
    t->nlags = t->nparts;
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < nold; i++)
        free(old[i].topic);
    free(old);
}

static void *task_main(void *arg)
{
    task *t = arg;
    connector *k = t->c;
    fp_connect *rt = k->rt;
    atomic_store(&t->state, T_RUNNING);
    t->msgs = fp_xcalloc(BATCH_MAX, sizeof *t->msgs);
    t->last_msg_mono = t->last_commit_mono = fp_time_mono_ms();
    int64_t last_tick = 0;
    fp_err err = {0};
    while (!stopping(k) && atomic_load(&t->state) == T_RUNNING) {
        apply_pause(t);
        int64_t now = fp_time_mono_ms();
        if (now - t->last_lag_mono >= LAG_EVERY_MS) {
            t->last_lag_mono = now;
            update_lag(t);
        }
        if (t->retrying && now >= t->retry_at)
            rewind_partitions(t);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, t->nmsgs ? 0 : TICK_MS);
        if (m && !handle_message(t, m))
            break;
        if (!m || t->nmsgs >= BATCH_MAX || t->xout.data.len >= BATCH_BYTES) {
            if (batch_put(t) == FP_SINK_ERROR)
                break;
        }
        now = fp_time_mono_ms();
        if (!t->retrying && now - last_tick >= TICK_MS) {
            last_tick = now;
            if (!t->nmsgs || batch_put(t) == FP_SINK_OK) {
                int64_t t0 = fp_time_mono_us();
                fp_sink_rc src = k->plugin->flush(t->sink, fp_time_now_ms(), false, &err);
                if (t->pending_lat_us) {
                    t->pending_lat_us += fp_time_mono_us() - t0;
                    fp_metrics_hist_observe(&t->latency, (double)t->pending_lat_us / 1e6);
                    t->pending_lat_us = 0;
                }
                if (src == FP_SINK_RETRY)
                    start_retry(t, "sink", &err);
                else if (src == FP_SINK_ERROR)
                    task_fail(t, err.msg);
            }
            if (!t->retrying && atomic_load(&t->state) == T_RUNNING &&
                now - t->last_commit_mono >= k->cf.commit_interval) {
                int adv;
                if (!commit_durable(t, &adv))
                    break;
                if (adv)
                    t->attempts = 0; /* progress ends a retry episode */
            }
        }
        bool idle = false;
        if (rt->o.exit_when_idle_ms > 0 && t->had_assignment && !t->retrying && !t->nmsgs &&
            now - t->last_msg_mono >= rt->o.exit_when_idle_ms) {
            idle = true;
            for (size_t i = 0; i < t->nparts; i++)
                idle = idle && t->parts[i].eof;
        }
        atomic_store(&t->idle, idle);
    }
    /* Stop: make durable what can be, commit it (never past a failure), leave the group. */
    if (atomic_load(&t->state) == T_FAILED && !t->failed_on_record) {
        int adv;
        batch_drop(t);
        commit_durable(t, &adv);
    } else if (!t->retrying) {
        /* Stopping, or FAILED at a bad record: everything before it was put, so make it durable
         * and commit up to (never past) the bad record. */
        if (batch_put(t) == FP_SINK_OK) {
            fp_sink_rc src = k->plugin->flush(t->sink, fp_time_now_ms(), true, &err);
            /* Nothing is lost either way (offsets stop before what was not made durable), but
             * an ERROR is one a restart will meet again: the task ends FAILED, not STOPPED. */
            if (src == FP_SINK_ERROR)
                task_fail(t, err.msg);
            else if (src != FP_SINK_OK)
                fp_log(FP_LOG_WARN, k->cf.name, t->id, "final flush: %s", err.msg);
        }
        int adv;
        commit_durable(t, &adv);
    }
    /* Leave the group only when every task of the connector has committed: the first task to
     * leave triggers a rebalance that would make the others' final commits fail. */
    atomic_fetch_add(&k->final_done, 1);
    int64_t until = fp_time_mono_ms() + 10000;
    while (atomic_load(&k->final_done) < k->cf.tasks_max && fp_time_mono_ms() < until)
        usleep(10 * 1000);
    rd_kafka_consumer_close(t->rk);
    if (atomic_load(&t->state) != T_FAILED)
        atomic_store(&t->state, T_STOPPED);
    atomic_store(&t->idle, true);
    return NULL;
}

/* ---------------------------------------------------------------- start / wait */

static fp_code task_init(connector *k, task *t, int id, fp_err *err)
{
    t->c = k;
    t->id = id;
    fp_metrics_hist_init_seconds(&t->latency);
    fp_metrics_hist_init_sizes(&t->batch);
    t->ctx = (fp_sink_ctx){k->cf.name, id, &t->stats, k->rt->bootstrap, k->rt->o.stop};
    fp_code rc = fp_xform_chain_new(&k->props, &t->chain, err);
    if (!rc)
        rc = k->plugin->create(&k->props, &t->ctx, &t->sink, err);
    if (rc)
        return rc;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[300], client[320];
    snprintf(group, sizeof group, "connect-%s", k->cf.name);
    snprintf(client, sizeof client, "connect-%s-%d", k->cf.name, id);
    rc = fp_kafka_conf_set(conf, "bootstrap.servers", k->rt->bootstrap, err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "group.id", group, err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "client.id", client, err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "auto.offset.reset", "earliest", err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "enable.partition.eof", "true", err);
    /* A fetch that finds nothing is held by the broker for fetch.wait.max.ms, and partitions
     * that became fetchable meanwhile wait behind it: 500 ms (the default) showed up as
     * stalls once the prefetch queue had filled and drained. Overridable. */
    if (!rc)
        rc = fp_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err);
    if (!rc) /* the prefetch's memory budget (kafka.h); overridable */
        rc = fp_kafka_consumer_budget(conf, err);
    if (!rc)
        rc = fp_kafka_conf_passthrough(conf, &k->props, "consumer.override.", err);
    /* Not overridable: the runtime alone decides what is committed. */
    if (!rc)
        rc = fp_kafka_conf_set(conf, "enable.auto.commit", "false", err);
    if (!rc)
        rc = fp_kafka_conf_set(conf, "enable.auto.offset.store", "false", err);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, t);
    char es[512];
    t->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!t->rk) {
        rd_kafka_conf_destroy(conf);
        return fp_err_set(err, FP_ERR_KAFKA, "consumer: %s", es);
    }
    rd_kafka_poll_set_consumer(t->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(4);
    if (k->cf.topics_regex[0]) {
        fp_buf re = FP_BUF_INIT;
        fp_buf_printf(&re, "%s%s", k->cf.topics_regex[0] == '^' ? "" : "^", k->cf.topics_regex);
        rd_kafka_topic_partition_list_add(sub, re.p, RD_KAFKA_PARTITION_UA);
        fp_buf_free(&re);
    }
    for (size_t i = 0; i < k->cf.topics.n; i++)
        rd_kafka_topic_partition_list_add(sub, k->cf.topics.v[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(t->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (ke)
        return fp_kafka_err(err, ke, "subscribe");
    return FP_OK;
}

/* Stops the connector's tasks (final flush + commit, group left) and frees them. c->mu held
 * (or single-threaded). */
static void connector_stop(connector *k)
{
    fp_stop_request(&k->stop);
    for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
        if (k->tasks[j].started)
            pthread_join(k->tasks[j].th, NULL);
        k->tasks[j].started = false;
    }
    if (k->dlq)
        rd_kafka_flush(k->dlq, 30000);
    if (k->running)
        fp_log(FP_LOG_INFO, k->cf.name, -1, "stopped");
    connector_tasks_free(k);
    k->running = false;
    fp_stop_reset(&k->stop);
}

/* Creates the tasks and starts their threads; on failure everything started is stopped. */
static fp_code connector_start(connector *k, fp_err *err)
{
    fp_connect *c = k->rt;
    fp_code rc = FP_OK;
    fp_stop_reset(&k->stop);
    atomic_store(&k->final_done, 0);
    k->tasks = fp_xcalloc((size_t)k->cf.tasks_max, sizeof *k->tasks);
    for (int j = 0; j < k->cf.tasks_max; j++)
        pthread_mutex_init(&k->tasks[j].mu, NULL); /* connector_tasks_free() destroys */
    if (k->cf.dlq_topic[0]) {
        rd_kafka_conf_t *pc = rd_kafka_conf_new();
        rc = fp_kafka_conf_passthrough(pc, &k->props, "producer.override.", err);
        if (rc) {
            rd_kafka_conf_destroy(pc);
            fp_err_prefix(err, "connector %s", k->cf.name);
            goto fail;
        }
        k->dlq = fp_kafka_producer_new(c->bootstrap, pc, dlq_dr, k, err);
        if (!k->dlq) {
            rc = fp_err_prefix(err, "connector %s: dead-letter producer", k->cf.name);
            goto fail;
        }
    }
    for (int j = 0; j < k->cf.tasks_max; j++) {
        rc = task_init(k, &k->tasks[j], j, err);
        if (rc) {
            fp_err_prefix(err, "connector %s task %d", k->cf.name, j);
            goto fail;
        }
    }
    fp_log(FP_LOG_INFO, k->cf.name, -1,
           "started: class %s, %" PRId64 " task(s), group connect-%s, errors.tolerance=%s%s%s%s",
           k->plugin->name, k->cf.tasks_max, k->cf.name, k->cf.tolerance,
           k->dlq ? ", dead letters to " : "", k->dlq ? k->cf.dlq_topic : "",
           atomic_load(&k->paused) ? ", PAUSED" : "");
    k->running = true;
    for (int j = 0; j < k->cf.tasks_max; j++) {
        task *t = &k->tasks[j];
        atomic_store(&t->state, T_STARTING);
        if (pthread_create(&t->th, NULL, task_main, t) != 0) {
            rc = fp_err_set(err, FP_ERR_INTERNAL, "cannot start a task thread");
            goto fail;
        }
        t->started = true;
    }
    return FP_OK;
fail:
    connector_stop(k);
    return rc;
}

fp_code fp_connect_start(fp_connect *c, fp_err *err)
{
    pthread_mutex_lock(&c->mu);
    fp_code rc = FP_OK;
    for (size_t i = 0; !rc && i < c->nconns; i++)
        rc = connector_start(c->conns[i], err);
    c->started = true;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void fp_connect_totals_get(fp_connect *c, fp_connect_totals *tot)
{
    memset(tot, 0, sizeof *tot);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            tot->in += atomic_load(&t->in);
            tot->dead += atomic_load(&t->dead);
            tot->out += atomic_load(&t->stats.records);
            tot->objects += atomic_load(&t->stats.objects);
            tot->bytes += atomic_load(&t->stats.bytes);
            tot->tasks++;
            int st = atomic_load(&t->state);
            tot->running += st == T_RUNNING || st == T_STARTING;
            tot->failed += st == T_FAILED;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

static void print_status(fp_connect *c, const char *when)
{
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        fp_buf b = FP_BUF_INIT;
        uint64_t in = 0, dead = 0, out = 0, obj = 0, bytes = 0;
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            in += atomic_load(&t->in);
            dead += atomic_load(&t->dead);
            out += atomic_load(&t->stats.records);
            obj += atomic_load(&t->stats.objects);
            bytes += atomic_load(&t->stats.bytes);
            fp_buf_printf(&b, "%s%d=%s", j ? " " : "", j, state_names[atomic_load(&t->state)]);
        }
        fp_log(FP_LOG_INFO, k->cf.name, -1,
               "%s status: tasks [%s] in=%" PRIu64 " durable=%" PRIu64 " dead=%" PRIu64
               " objects=%" PRIu64 " bytes=%" PRIu64,
               when, b.p ? b.p : "", in, out, dead, obj, bytes);
        fp_buf_free(&b);
    }
}

int fp_connect_wait(fp_connect *c)
{
    int64_t last_status = fp_time_mono_ms();
    for (;;) {
        bool all_done = true, all_idle = true;
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < c->nconns; i++) {
            connector *k = c->conns[i];
            for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
                int st = atomic_load(&k->tasks[j].state);
                all_done = all_done && (st == T_STOPPED || st == T_FAILED);
                all_idle = all_idle && atomic_load(&k->tasks[j].idle);
            }
        }
        pthread_mutex_unlock(&c->mu);
        if (all_done &&
            (!c->o.keep_running || fp_stop_requested(c->o.stop) || atomic_load(&c->stop)))
            break;
        if (c->o.exit_when_idle_ms > 0 && all_idle && !atomic_load(&c->stop)) {
            fp_log(FP_LOG_INFO, NULL, -1, "every task is caught up and idle: stopping");
            atomic_store(&c->stop, true);
        }
        usleep(50 * 1000);
        int64_t now = fp_time_mono_ms();
        if (!c->o.quiet && now - last_status >= c->o.status_interval_ms) {
            last_status = now;
            pthread_mutex_lock(&c->mu);
            print_status(c, "periodic");
            pthread_mutex_unlock(&c->mu);
        }
    }
    int failed = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            if (k->tasks[j].started)
                pthread_join(k->tasks[j].th, NULL);
            k->tasks[j].started = false;
            failed += atomic_load(&k->tasks[j].state) == T_FAILED;
        }
        if (k->dlq)
            rd_kafka_flush(k->dlq, 30000);
    }
    print_status(c, "final");
    pthread_mutex_unlock(&c->mu);
    return failed ? 1 : 0;
}

void fp_connect_free(fp_connect *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++)
            if (k->tasks[j].started)
                pthread_join(k->tasks[j].th, NULL);
        connector_free(k);
    }
    free(c->conns);
    free(c->bootstrap);
    free(c->worker_id);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---------------------------------------------------------------- management */

static bool props_equal(const fp_props *a, const fp_props *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const fp_prop *o = fp_props_find(b, a->v[i].key);
        if (!o || strcmp(o->val, a->v[i].val))
            return false;
    }
    return true;
}

fp_code fp_connect_put(fp_connect *c, const char *name, fp_props *props, bool create_only,
                       bool *created, fp_err *err)
{
    if (created)
        *created = false;
    const fp_prop *pn = fp_props_find(props, "name");
    if (pn && strcmp(pn->val, name)) {
        fp_err_set(err, FP_ERR_CONFIG, "key 'name': '%s' differs from the connector name '%s'",
                   pn->val, name);
        fp_props_free(props);
        return FP_ERR_CONFIG;
    }
    if (!pn)
        fp_props_set(props, "name", name);
    pthread_mutex_lock(&c->mu);
    size_t idx = 0;
    connector *old = find_conn(c, name, &idx);
    fp_code rc = FP_OK;
    if (old && create_only) {
        rc = fp_err_set(err, FP_ERR_EXISTS, "Connector %s already exists", name);
    } else if (old && props_equal(&old->props, props)) {
        rc = FP_OK; /* nothing changed: keep the tasks running */
    } else {
        connector *k;
        rc = connector_new(c, props, &k, err);
        if (!rc) {
            if (old) {
                atomic_store(&k->paused, atomic_load(&old->paused));
                fp_log(FP_LOG_INFO, name, -1, "config changed: restarting the tasks");
                connector_stop(old);
                connector_free(old);
                c->conns[idx] = k;
            } else {
                c->conns = fp_xrealloc(c->conns, (c->nconns + 1) * sizeof *c->conns);
                c->conns[c->nconns++] = k;
                if (created)
                    *created = true;
            }
            /* A start failure leaves the connector in place without tasks (UNASSIGNED). */
            if (c->started && connector_start(k, err))
                fp_log(FP_LOG_ERROR, name, -1, "start: %s", err->msg);
            rc = FP_OK;
        }
    }
    pthread_mutex_unlock(&c->mu);
    fp_props_free(props);
    return rc;
}

fp_code fp_connect_delete(fp_connect *c, const char *name, fp_err *err)
{
    pthread_mutex_lock(&c->mu);
    size_t idx;
    connector *k = find_conn(c, name, &idx);
    if (!k) {
        pthread_mutex_unlock(&c->mu);
        return fp_err_set(err, FP_ERR_NOTFOUND, "Connector %s not found", name);
    }
    connector_stop(k);
    memmove(&c->conns[idx], &c->conns[idx + 1], (c->nconns - idx - 1) * sizeof *c->conns);
    c->nconns--;
    pthread_mutex_unlock(&c->mu);
    fp_log(FP_LOG_INFO, name, -1, "deleted");
    connector_free(k);
    return FP_OK;
}

fp_code fp_connect_pause(fp_connect *c, const char *name, bool pause, fp_err *err)
{
    pthread_mutex_lock(&c->mu);
    connector *k = find_conn(c, name, NULL);
    if (k)
        atomic_store(&k->paused, pause);
    pthread_mutex_unlock(&c->mu);
    if (!k)
        return fp_err_set(err, FP_ERR_NOTFOUND, "Connector %s not found", name);
    return FP_OK;
}

fp_code fp_connect_restart(fp_connect *c, const char *name, bool only_failed, fp_err *err)
{
    pthread_mutex_lock(&c->mu);
    connector *k = find_conn(c, name, NULL);
    fp_code rc = FP_OK;
    if (!k) {
        rc = fp_err_set(err, FP_ERR_NOTFOUND, "Connector %s not found", name);
    } else {
        bool any_failed = !k->running;
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++)
            any_failed = any_failed || atomic_load(&k->tasks[j].state) == T_FAILED;
        if (!only_failed || any_failed) {
            fp_log(FP_LOG_INFO, name, -1, "restarting");
            connector_stop(k);
            if (c->started && connector_start(k, err))
                fp_log(FP_LOG_ERROR, name, -1, "start: %s", err->msg);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

bool fp_connect_exists(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    bool r = find_conn(c, name, NULL) != NULL;
    pthread_mutex_unlock(&c->mu);
    return r;
}

fp_code fp_connect_check(fp_connect *c, const fp_props *props, fp_err *err)
{
    fp_props copy;
    fp_props_init(&copy);
    for (size_t i = 0; i < props->n; i++)
        fp_props_set(&copy, props->v[i].key, props->v[i].val);
    connector *k;
    fp_code rc = connector_new(c, &copy, &k, err);
    if (!rc)
        connector_free(k);
    return rc;
}

bool fp_connect_paused(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = find_conn(c, name, NULL);
    bool r = k && atomic_load(&k->paused);
    pthread_mutex_unlock(&c->mu);
    return r;
}

/* ---------------------------------------------------------------- JSON views */

static json_t *config_of(const connector *k)
{
    json_t *o = json_object();
    for (size_t i = 0; i < k->props.n; i++)
        json_object_set_new(o, k->props.v[i].key, json_string(k->props.v[i].val));
    return o;
}

json_t *fp_connect_names_json(fp_connect *c)
{
    json_t *a = json_array();
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++)
        json_array_append_new(a, json_string(c->conns[i]->cf.name));
    pthread_mutex_unlock(&c->mu);
    return a;
}

json_t *fp_connect_config_json(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = find_conn(c, name, NULL);
    json_t *o = k ? config_of(k) : NULL;
    pthread_mutex_unlock(&c->mu);
    return o;
}

json_t *fp_connect_info_json(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = find_conn(c, name, NULL);
    json_t *o = NULL;
    if (k) {
        json_t *tasks = json_array();
        for (int j = 0; j < k->cf.tasks_max; j++)
            json_array_append_new(tasks, json_pack("{s:s, s:i}", "connector", name, "task", j));
        o = json_pack("{s:s, s:o, s:o, s:s}", "name", name, "config", config_of(k), "tasks", tasks,
                      "type", "sink");
    }
    pthread_mutex_unlock(&c->mu);
    return o;
}

json_t *fp_connect_tasks_json(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = find_conn(c, name, NULL);
    json_t *a = NULL;
    if (k) {
        a = json_array();
        for (int j = 0; j < k->cf.tasks_max; j++)
            json_array_append_new(a, json_pack("{s:{s:s, s:i}, s:o}", "id", "connector", name,
                                               "task", j, "config", config_of(k)));
    }
    pthread_mutex_unlock(&c->mu);
    return a;
}

static const char *task_state(const connector *k, task *t)
{
    int st = atomic_load(&t->state);
    if (st == T_FAILED)
        return "FAILED";
    if (st == T_STOPPED)
        return "UNASSIGNED";
    return atomic_load(&k->paused) ? "PAUSED" : "RUNNING";
}

static const char *connector_state(const connector *k)
{
    if (!k->running)
        return "UNASSIGNED";
    return atomic_load(&k->paused) ? "PAUSED" : "RUNNING";
}

json_t *fp_connect_status_json(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = find_conn(c, name, NULL);
    json_t *o = NULL;
    if (k) {
        json_t *tasks = json_array();
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            const char *st = task_state(k, t);
            json_t *e =
                json_pack("{s:i, s:s, s:s}", "id", j, "state", st, "worker_id", c->worker_id);
            if (!strcmp(st, "FAILED")) {
                pthread_mutex_lock(&t->mu);
                json_object_set_new(e, "trace", json_string(t->trace));
                pthread_mutex_unlock(&t->mu);
            }
            json_array_append_new(tasks, e);
        }
        o = json_pack("{s:s, s:{s:s, s:s}, s:o, s:s}", "name", name, "connector", "state",
                      connector_state(k), "worker_id", c->worker_id, "tasks", tasks, "type",
                      "sink");
    }
    pthread_mutex_unlock(&c->mu);
    return o;
}

json_t *fp_connect_plugins_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; fp_sink_plugins[i]; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "class", fp_sink_plugins[i]->name,
                                           "type", "sink", "version", FP_VERSION_STRING));
    return a;
}

/* ---------------------------------------------------------------- validation */

static void add_error(void *ctx, const char *key, const char *msg)
{
    json_t *errs = ctx;
    json_t *a = json_object_get(errs, key);
    if (!a) {
        a = json_array();
        json_object_set_new(errs, key, a);
    }
    json_array_append_new(a, json_string(msg));
}

/* Files msg under the first key of props (with prefix) that the message names, else fallback. */
static void add_error_mention(json_t *errs, const fp_props *p, const char *prefix,
                              const char *fallback, const char *msg)
{
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->v[i].key;
        if ((!prefix || !strncmp(k, prefix, strlen(prefix))) && strstr(msg, k)) {
            add_error(errs, k, msg);
            return;
        }
    }
    add_error(errs, fallback, msg);
}

static const char *kafka_type(fp_conf_type t)
{
    switch (t) {
    case FP_CONF_INT:
        return "LONG";
    case FP_CONF_BOOL:
        return "BOOLEAN";
    case FP_CONF_LIST:
        return "LIST";
    default:
        return "STRING";
    }
}

static json_t *config_entry(const char *key, const char *type, bool required, const char *dflt,
                            const char *doc, const char *choices, const fp_props *p, json_t *errs)
{
    const fp_prop *v = fp_props_find(p, key);
    json_t *rec = json_array();
    fp_strv ch = {0};
    if (choices) {
        fp_strv_split(&ch, choices, '|');
        for (size_t i = 0; i < ch.n; i++)
            json_array_append_new(rec, json_string(ch.v[i]));
        fp_strv_free(&ch);
    }
    json_t *e = json_object_get(errs, key);
    return json_pack("{s:{s:s, s:s, s:b, s:o, s:s}, s:{s:s, s:o, s:o, s:o, s:b}}", "definition",
                     "name", key, "type", type, "required", required, "default_value",
                     dflt ? json_string(dflt) : json_null(), "documentation", doc ? doc : "",
                     "value", "name", key, "value", v ? json_string(v->val) : json_null(),
                     "recommended_values", rec, "errors", e ? json_incref(e) : json_array(),
                     "visible", 1);
}

static size_t defs_scratch(const fp_conf_def *defs)
{
    size_t m = 0;
    for (const fp_conf_def *d = defs; d && d->key; d++)
        if (d->offset > m)
            m = d->offset;
    return m + 64;
}

json_t *fp_connect_validate_json(const char *plugin, fp_props *p, const char *bootstrap)
{
    const fp_sink_plugin *pl = fp_sink_find(plugin);
    if (!pl)
        return NULL;
    if (!fp_props_find(p, "connector.class"))
        fp_props_set(p, "connector.class", pl->name);
    json_t *errs = json_object();
    conn_conf cf;
    memset(&cf, 0, sizeof cf);
    fp_conf_apply_each(conn_defs, p, NULL, &cf, add_error, errs);
    if (cf.name && !fp_connect_name_ok(cf.name))
        add_error(errs, "name",
                  "a connector name is 1 to 249 characters without '/', '..', '\\' or control "
                  "characters");
    if (cf.cls && fp_sink_find(cf.cls) != pl)
        add_error(errs, "connector.class", "does not name the plugin being validated");
    if (!json_object_get(errs, "topics") && !json_object_get(errs, "topics.regex")) {
        if (!cf.topics.n && !(cf.topics_regex && cf.topics_regex[0]))
            add_error(errs, "topics", "set topics or topics.regex");
        else if (cf.topics.n && cf.topics_regex && cf.topics_regex[0])
            add_error(errs, "topics.regex", "set topics or topics.regex, not both");
    }
    fp_conf_free(conn_defs, &cf);
    void *scratch = fp_xcalloc(1, defs_scratch(pl->config));
    fp_conf_apply_each(pl->config, p, NULL, scratch, add_error, errs);
    fp_conf_free(pl->config, scratch);
    free(scratch);
    fp_err err = {0};
    const char *pfx[] = {"consumer.override.", "producer.override."};
    for (int i = 0; i < 2; i++) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        if (fp_kafka_conf_passthrough(kc, p, pfx[i], &err))
            add_error_mention(errs, p, pfx[i], pfx[i], err.msg);
        rd_kafka_conf_destroy(kc);
    }
    fp_xform_chain *ch = NULL;
    if (fp_xform_chain_new(p, &ch, &err))
        add_error_mention(errs, p, "transforms", "transforms", err.msg);
    fp_xform_chain_free(ch);
    if (!json_object_size(errs)) {
        /* Keys are fine one by one: let the sink check how they go together. */
        fp_sink_stats st;
        memset(&st, 0, sizeof st);
        const fp_prop *nm = fp_props_find(p, "name");
        fp_sink_ctx ctx = {nm ? nm->val : "validate", -1, &st, bootstrap, NULL};
        void *s = NULL;
        if (pl->create(p, &ctx, &s, &err))
            add_error_mention(errs, p, NULL, "connector.class", err.msg);
        if (s)
            pl->destroy(s);
    }
    for (size_t i = 0; i < p->n; i++)
        if (!p->v[i].used && !json_object_get(errs, p->v[i].key))
            add_error(errs, p->v[i].key,
                      "unknown key (no runtime, transform or sink key of this "
                      "name; see GET /connector-plugins)");
    json_t *configs = json_array();
    const fp_conf_def *tables[] = {conn_defs, pl->config};
    for (int t = 0; t < 2; t++)
        for (const fp_conf_def *d = tables[t]; d->key; d++)
            json_array_append_new(
                configs,
                config_entry(d->key, kafka_type(d->type),
                             !d->dflt && d->type != FP_CONF_BOOL && d->type != FP_CONF_LIST,
                             d->dflt, d->doc, d->type == FP_CONF_ENUM ? d->choices : NULL, p,
                             errs));
    /* Keys outside the tables (overrides, transforms, unknown) that have errors. */
    const char *key;
    json_t *v;
    json_object_foreach(errs, key, v)
    {
        bool in_table = false;
        for (int t = 0; t < 2 && !in_table; t++)
            for (const fp_conf_def *d = tables[t]; d->key && !in_table; d++)
                in_table = !strcmp(d->key, key);
        if (!in_table)
            json_array_append_new(configs,
                                  config_entry(key, "STRING", false, NULL, "", NULL, p, errs));
    }
    json_t *out = json_pack("{s:s, s:I, s:[s, s], s:o}", "name", pl->name, "error_count",
                            (json_int_t)json_object_size(errs), "groups", "Common", pl->name,
                            "configs", configs);
    json_decref(errs);
    return out;
}

/* ---------------------------------------------------------------- metrics */

static const char *const task_states[] = {"RUNNING", "PAUSED", "FAILED", "UNASSIGNED"};

void fp_connect_metrics(void *ctx, fp_metrics_out *m)
{
    fp_connect *c = ctx;
    static const struct {
        const char *name, *help;
        int which;
    } counters[] = {
        {"fleetpipe_connect_records_in_total", "records consumed from Kafka", 0},
        {"fleetpipe_connect_records_out_total", "records the sink made durable", 1},
        {"fleetpipe_connect_records_dead_lettered_total", "records sent to the dead-letter path",
         2},
        {"fleetpipe_connect_retries_total", "sink retries (pause, back off, replay)", 3},
    };
    char tid[16];
    pthread_mutex_lock(&c->mu);
    for (size_t f = 0; f < sizeof counters / sizeof counters[0]; f++) {
        fp_metrics_family(m, counters[f].name, FP_METRIC_COUNTER, counters[f].help);
        for (size_t i = 0; i < c->nconns; i++) {
            connector *k = c->conns[i];
            for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
                task *t = &k->tasks[j];
                snprintf(tid, sizeof tid, "%d", j);
                const char *lb[] = {"connector", k->cf.name, "task", tid, NULL};
                uint64_t v = counters[f].which == 0   ? atomic_load(&t->in)
                             : counters[f].which == 1 ? atomic_load(&t->stats.records)
                             : counters[f].which == 2 ? atomic_load(&t->dead)
                                                      : atomic_load(&t->retries);
                fp_metrics_sample_u64(m, lb, v);
            }
        }
    }
    for (int h = 0; h < 2; h++) {
        fp_metrics_family(
            m, h ? "fleetpipe_connect_batch_records" : "fleetpipe_connect_sink_latency_seconds",
            FP_METRIC_HISTOGRAM,
            h ? "records per put() batch" : "time of the sink's put and flush calls");
        for (size_t i = 0; i < c->nconns; i++) {
            connector *k = c->conns[i];
            for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
                snprintf(tid, sizeof tid, "%d", j);
                const char *lb[] = {"connector", k->cf.name, "task", tid, NULL};
                fp_metrics_sample_hist(m, lb, h ? &k->tasks[j].batch : &k->tasks[j].latency);
            }
        }
    }
    fp_metrics_family(m, "fleetpipe_connect_consumer_lag", FP_METRIC_GAUGE,
                      "records behind the high watermark, per assigned partition");
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            snprintf(tid, sizeof tid, "%d", j);
            pthread_mutex_lock(&t->mu);
            for (size_t l = 0; l < t->nlags; l++) {
                char part[16];
                snprintf(part, sizeof part, "%" PRId32, t->lags[l].partition);
                const char *lb[] = {"connector",      k->cf.name,  "task", tid, "topic",
                                    t->lags[l].topic, "partition", part,   NULL};
                fp_metrics_sample(m, lb, (double)t->lags[l].lag);
            }
            pthread_mutex_unlock(&t->mu);
        }
    }
    fp_metrics_family(m, "fleetpipe_connect_task_state", FP_METRIC_GAUGE,
                      "1 for the task's current state");
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            const char *cur = task_state(k, &k->tasks[j]);
            snprintf(tid, sizeof tid, "%d", j);
            for (size_t s = 0; s < 4; s++) {
                const char *lb[] = {"connector", k->cf.name,     "task", tid,
                                    "state",     task_states[s], NULL};
                fp_metrics_sample(m, lb, strcmp(cur, task_states[s]) ? 0 : 1);
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
}

bool fp_connect_healthy(void *ctx, fp_buf *reason)
{
    fp_connect *c = ctx;
    bool ok = true;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            if (atomic_load(&t->state) != T_FAILED)
                continue;
            ok = false;
            pthread_mutex_lock(&t->mu);
            fp_buf_printf(reason, "connector %s task %d FAILED: %s\n", k->cf.name, j, t->trace);
            pthread_mutex_unlock(&t->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void fp_connect_print_help(FILE *f)
{
    fprintf(f, "Connector keys (every connector file; a flat JSON object or Kafka Connect's\n"
               "{\"name\": ..., \"config\": {...}}):\n");
    fp_conf_print(conn_defs, "", f);
    fprintf(f, "  %-28s %-8s %s\n", "consumer.override.*", "string",
            "librdkafka consumer properties (enable.auto.commit stays false)");
    fprintf(f, "  %-28s %-8s %s\n", "producer.override.*", "string",
            "librdkafka properties of the dead-letter producer");
    fprintf(f, "  %-28s %-8s %s\n", "transforms, transforms.*", "",
            "transform chain (fleetpipe help transforms)");
    for (size_t i = 0; fp_sink_plugins[i]; i++) {
        const fp_sink_plugin *p = fp_sink_plugins[i];
        fprintf(f, "\nconnector.class %s", p->name);
        for (size_t j = 0; p->aliases && p->aliases[j]; j++)
            fprintf(f, " (or %s)", p->aliases[j]);
        fprintf(f, " — %s\n", p->summary);
        fp_conf_print(p->config, "", f);
        if (p->help)
            fprintf(f, "%s\n", p->help);
    }
}
