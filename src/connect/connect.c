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
 */
#include "connect/connect.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/sig.h"
#include "connect/log.h"
#include "connect/sink.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "xform/xform.h"

#define BATCH_MAX 512                 /* messages per put() */
#define BATCH_BYTES (8 * 1024 * 1024) /* transformed bytes per put(): the batch's memory budget */
#define TICK_MS 100
#define DLQ_QUEUE_FULL_MS 60000  /* longest wait for room in the dead-letter queue */
#define COMMITTED_FETCH_MS 60000 /* how long an assignment retries fetching committed offsets */

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
    _Atomic int state;
    _Atomic bool idle;
    _Atomic uint64_t in, dead;
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
};

struct fp_connect {
    char *bootstrap;
    fp_connect_opts o;
    connector **conns;
    size_t nconns;
    _Atomic bool stop; /* idle stop or teardown; SIGINT/SIGTERM go through cli/sig.h */
};

/* ---------------------------------------------------------------- configuration */

fp_connect *fp_connect_new(const fp_connect_opts *o)
{
    fp_connect *c = fp_xcalloc(1, sizeof *c);
    c->o = *o;
    c->bootstrap = fp_xstrdup(o->bootstrap);
    c->o.bootstrap = c->bootstrap;
    if (c->o.status_interval_ms <= 0)
        c->o.status_interval_ms = 10000;
    return c;
}

static void connector_free(connector *k)
{
    if (!k)
        return;
    if (k->tasks) {
        for (int i = 0; i < k->cf.tasks_max; i++) {
            task *t = &k->tasks[i];
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
    }
    if (k->dlq)
        rd_kafka_destroy(k->dlq);
    for (size_t i = 0; i < k->nmarks; i++)
        free(k->marks[i].topic);
    free(k->marks);
    pthread_mutex_destroy(&k->dlq_lock);
    fp_conf_free(conn_defs, &k->cf);
    fp_props_free(&k->props);
    free(k);
}

fp_code fp_connect_add(fp_connect *c, fp_props *props, fp_err *err)
{
    connector *k = fp_xcalloc(1, sizeof *k);
    k->rt = c;
    pthread_mutex_init(&k->dlq_lock, NULL);
    k->props = *props;
    fp_props_init(props);
    fp_code rc = fp_conf_apply(conn_defs, &k->props, NULL, &k->cf, err);
    const char *what = k->cf.name ? k->cf.name : "?";
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
        fp_sink_ctx ctx = {k->cf.name, -1, &st, k->rt->bootstrap};
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
    for (size_t i = 0; !rc && i < c->nconns; i++)
        if (!strcmp(c->conns[i]->cf.name, k->cf.name))
            rc = fp_err_set(err, FP_ERR_CONFIG, "two connectors are named '%s'", k->cf.name);
    if (rc) {
        if (what)
            fp_err_prefix(err, "connector %s", what);
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
    atomic_store(&t->state, T_FAILED);
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
    fp_sink_rc src = n ? t->c->plugin->put(t->sink, t->recs, n, &err) : FP_SINK_OK;
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
        bool stopping = fp_sig_stopping() || atomic_load(&k->rt->stop);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || stopping || fp_time_mono_ms() >= give_up) {
            if (h)
                rd_kafka_headers_destroy(h);
            dlq_unmark(k, topic, m->partition, m->offset, prev);
            if (stopping && e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
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
            if (fp_sig_stopping() || atomic_load(&t->c->rt->stop))
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
            if (!fp_sig_stopping() && !atomic_load(&k->rt->stop))
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
        if (task_assign(t, parts))
            rd_kafka_resume_partitions(rk, parts);
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
    while (!fp_sig_stopping() && !atomic_load(&rt->stop) && atomic_load(&t->state) == T_RUNNING) {
        int64_t now = fp_time_mono_ms();
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
                fp_sink_rc src = k->plugin->flush(t->sink, fp_time_now_ms(), false, &err);
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
    t->ctx = (fp_sink_ctx){k->cf.name, id, &t->stats, k->rt->bootstrap};
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

fp_code fp_connect_start(fp_connect *c, fp_err *err)
{
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        if (k->cf.dlq_topic[0]) {
            rd_kafka_conf_t *pc = rd_kafka_conf_new();
            fp_code rc = fp_kafka_conf_passthrough(pc, &k->props, "producer.override.", err);
            if (rc) {
                rd_kafka_conf_destroy(pc);
                return fp_err_prefix(err, "connector %s", k->cf.name);
            }
            k->dlq = fp_kafka_producer_new(c->bootstrap, pc, dlq_dr, k, err);
            if (!k->dlq)
                return fp_err_prefix(err, "connector %s: dead-letter producer", k->cf.name);
        }
        k->tasks = fp_xcalloc((size_t)k->cf.tasks_max, sizeof *k->tasks);
        for (int j = 0; j < k->cf.tasks_max; j++) {
            fp_code rc = task_init(k, &k->tasks[j], j, err);
            if (rc)
                return fp_err_prefix(err, "connector %s task %d", k->cf.name, j);
        }
        fp_log(FP_LOG_INFO, k->cf.name, -1,
               "started: class %s, %" PRId64 " task(s), group connect-%s, errors.tolerance=%s%s%s",
               k->plugin->name, k->cf.tasks_max, k->cf.name, k->cf.tolerance,
               k->dlq ? ", dead letters to " : "", k->dlq ? k->cf.dlq_topic : "");
    }
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            atomic_store(&t->state, T_STARTING);
            if (pthread_create(&t->th, NULL, task_main, t) != 0)
                return fp_err_set(err, FP_ERR_INTERNAL, "cannot start a task thread");
            t->started = true;
        }
    }
    return FP_OK;
}

void fp_connect_totals_get(fp_connect *c, fp_connect_totals *tot)
{
    memset(tot, 0, sizeof *tot);
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
}

static void print_status(fp_connect *c, const char *when)
{
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        fp_buf b = FP_BUF_INIT;
        uint64_t in = 0, dead = 0, out = 0, obj = 0, bytes = 0;
        for (int j = 0; j < k->cf.tasks_max; j++) {
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
               when, b.p, in, out, dead, obj, bytes);
        fp_buf_free(&b);
    }
}

int fp_connect_wait(fp_connect *c)
{
    int64_t last_status = fp_time_mono_ms();
    for (;;) {
        bool all_done = true, all_idle = true;
        for (size_t i = 0; i < c->nconns; i++) {
            connector *k = c->conns[i];
            for (int j = 0; j < k->cf.tasks_max; j++) {
                int st = atomic_load(&k->tasks[j].state);
                all_done = all_done && (st == T_STOPPED || st == T_FAILED);
                all_idle = all_idle && atomic_load(&k->tasks[j].idle);
            }
        }
        if (all_done)
            break;
        if (c->o.exit_when_idle_ms > 0 && all_idle && !atomic_load(&c->stop)) {
            fp_log(FP_LOG_INFO, NULL, -1, "every task is caught up and idle: stopping");
            atomic_store(&c->stop, true);
        }
        usleep(50 * 1000);
        int64_t now = fp_time_mono_ms();
        if (!c->o.quiet && now - last_status >= c->o.status_interval_ms) {
            last_status = now;
            print_status(c, "periodic");
        }
    }
    int failed = 0;
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; j < k->cf.tasks_max; j++) {
            if (k->tasks[j].started)
                pthread_join(k->tasks[j].th, NULL);
            k->tasks[j].started = false;
            failed += atomic_load(&k->tasks[j].state) == T_FAILED;
        }
        if (k->dlq)
            rd_kafka_flush(k->dlq, 30000);
    }
    print_status(c, "final");
    return failed ? 1 : 0;
}

void fp_connect_free(fp_connect *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            if (k->tasks[j].started) {
                atomic_store(&c->stop, true);
                pthread_join(k->tasks[j].th, NULL);
            }
        }
        connector_free(k);
    }
    free(c->conns);
    free(c->bootstrap);
    free(c);
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
