/* task.c — the task engine: consume, transform, put/flush, commit what is durable, retry,
 * rebalance, lag.
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
 * assigned partition, waits (core/backoff.h: full jitter below a bound that starts at 100 ms and
 * doubles up to errors.retry.delay.max.ms; the task loop keeps polling meanwhile, so a stop ends
 * the wait), then rewinds: close() every partition in the sink (discarding what is not
 * durable), open() them again, seek to `committed`, resume. open() answers are honoured
 * (sink.h): RETRY at an assignment or a rewind starts or continues the retry episode, ERROR
 * fails the task. The failed records are replayed, never skipped; errors.retry.timeout (-1:
 * forever) bounds the whole episode, after which the task goes FAILED. Dead letters re-met in a
 * replay by this process (rewind, or a partition that came back after a rebalance) are not
 * produced twice (connector-wide dlq marks).
 *
 * Rebalances (eager protocol): on revoke a task drops its unput batch, commits what is durable,
 * and closes the partitions in the sink; the next owner replays from the committed offset.
 *
 * Record age: each message put carries its event time (record.age.field, found by a byte scan
 * of the message, not a parse) into its partition's queue; once the commit point passes it the
 * task observes now minus that time in fleetpipe_connect_record_age_seconds — the end-to-end
 * latency up to this sink's durable write. At most AGE_QUEUE_MAX messages wait per partition
 * (more are counted in age_skipped, not observed).
 *
 * Task metrics are atomics and fixed histograms; consumer lag is computed by the task thread
 * about once a second (position and cached watermarks, no broker call) and published under the
 * task's mutex.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connect/connect_int.h"
#include "connect/sink.h"
#include "core/backoff.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "xform/xform.h"

#define BATCH_MAX 512 /* messages per put(); the bytes are the task's budget (t->mem) */
#define TICK_MS 100
#define RETRY_BASE_MS 100 /* first retry delay bound; errors.retry.delay.max.ms caps it */
#define COMMITTED_BASE_MS 100
#define COMMITTED_CAP_MS 5000
#define COMMITTED_FETCH_MS 60000 /* how long an assignment retries fetching committed offsets */
#define LAG_EVERY_MS 1000
#define AGE_QUEUE_MAX 65536 /* messages awaiting durability per partition for the age metric */
#define LEAVE_WAIT_MS 3000  /* a removed static member's unsubscribe: revoke and LeaveGroup */
#define LEAVE_SEND_MS 300   /* after the revoke, for the LeaveGroup to go out */

static int64_t fp_time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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

void fp_connect_task_fail(task *t, const char *msg)
{
    if (atomic_load(&t->state) == T_FAILED)
        return; /* the first reason stands (a final commit may fail the same way again) */
    fp_log(FP_LOG_ERROR, t->c->cf.name, t->id, "task FAILED: %s", msg);
    pthread_mutex_lock(&t->mu);
    snprintf(t->trace, sizeof t->trace, "%s", msg);
    pthread_mutex_unlock(&t->mu);
    atomic_store(&t->state, T_FAILED);
}

bool fp_connect_stopping(const connector *k)
{
    return fp_stop_requested(k->rt->o.stop) || atomic_load(&k->rt->stop) ||
           fp_stop_requested(&k->stop);
}

/* ---------------------------------------------------------------- honesty */

/* Reports [from, to) of tp as lost (the part not reported before): ERROR, counters, status. */
static void note_lost(task *t, tpart *tp, int64_t from, int64_t to)
{
    if (from < tp->lost_upto)
        from = tp->lost_upto;
    if (to <= from)
        return;
    tp->lost_upto = to;
    uint64_t n = (uint64_t)(to - from);
    fp_log(FP_LOG_ERROR, t->c->cf.name, t->id,
           "RECORDS LOST: connector %s task %d %s/%" PRId32 " offsets %" PRId64 "..%" PRId64
           " (%" PRIu64 " records) were deleted by retention before they were consumed",
           t->c->cf.name, t->id, tp->topic, tp->partition, from, to - 1, n);
    atomic_fetch_add(&t->lost, n);
    pthread_mutex_lock(&t->mu);
    struct tlost *l = NULL;
    for (size_t i = 0; i < t->nlosts && !l; i++)
        if (t->losts[i].partition == tp->partition && !strcmp(t->losts[i].topic, tp->topic))
            l = &t->losts[i];
    if (!l) {
        t->losts = fp_xrealloc(t->losts, (t->nlosts + 1) * sizeof *t->losts);
        l = &t->losts[t->nlosts++];
        *l = (struct tlost){fp_xstrdup(tp->topic), tp->partition, 0};
    }
    l->n += n;
    snprintf(t->last_lost.topic, sizeof t->last_lost.topic, "%s", tp->topic);
    t->last_lost.partition = tp->partition;
    t->last_lost.from = from;
    t->last_lost.to = to;
    pthread_mutex_unlock(&t->mu);
}

/* librdkafka's error_cb (served by rd_kafka_consumer_poll on the task thread): no broker, or a
 * broker connection failed. Cleared by probe_kafka() once a broker answers. */
static void on_kafka_error(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    (void)rk;
    task *t = opaque;
    if (e != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && e != RD_KAFKA_RESP_ERR__TRANSPORT &&
        e != RD_KAFKA_RESP_ERR__RESOLVE) {
        fp_log(FP_LOG_WARN, t->c->cf.name, t->id, "kafka: %s", reason);
        return;
    }
    pthread_mutex_lock(&t->mu);
    snprintf(t->kafka_error, sizeof t->kafka_error, "%s", reason);
    pthread_mutex_unlock(&t->mu);
    int64_t zero = 0;
    if (atomic_compare_exchange_strong(&t->kafka_down_since, &zero, fp_time_mono_ms()))
        fp_log(FP_LOG_WARN, t->c->cf.name, t->id, "Kafka unreachable: %s", reason);
    t->last_probe_mono = fp_time_mono_ms();
}

/* While Kafka is marked unreachable, asks a broker for metadata about once a second; an answer
 * clears the mark. */
static void probe_kafka(task *t, int64_t now)
{
    if (!atomic_load(&t->kafka_down_since) || now - t->last_probe_mono < 1000)
        return;
    t->last_probe_mono = now;
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(t->rk, 0, NULL, &md, 1000) || !md || md->broker_cnt <= 0) {
        if (md)
            rd_kafka_metadata_destroy(md);
        return;
    }
    rd_kafka_metadata_destroy(md);
    atomic_store(&t->kafka_down_since, 0);
    fp_log(FP_LOG_INFO, t->c->cf.name, t->id, "Kafka reachable again");
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

/* ---------------------------------------------------------------- record age */

/* The event time of a message: the first `"<field>"` followed by ':' and an ISO-8601 string or
 * an integer (epoch ms). A byte scan (the field is top-level in every fleetpipe message; a
 * nested member of that name earlier in the bytes would be taken instead). -1: none. */
static int64_t message_event_ms(task *t, const char *p, size_t n)
{
    const char *f = t->c->cf.age_field;
    size_t fl = strlen(f);
    if (!fl || !p)
        return -1;
    const char *end = p + n;
    for (const char *q = p; q + fl + 2 < end;) {
        const char *hit = memmem(q, (size_t)(end - q), f, fl);
        if (!hit)
            return -1;
        q = hit + fl;
        if (hit == p || hit[-1] != '"' || q >= end || *q != '"')
            continue;
        const char *v = q + 1;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
            v++;
        if (v >= end || *v != ':')
            continue;
        v++;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
            v++;
        if (v < end && *v == '"') {
            const char *close = memchr(v + 1, '"', (size_t)(end - v - 1));
            int64_t ms;
            if (!close ||
                fp_time_parse_iso_cached(&t->agecache, v + 1, (size_t)(close - v - 1), &ms, NULL))
                return -1;
            return ms;
        }
        int64_t ms = 0;
        bool digits = false;
        for (; v < end && *v >= '0' && *v <= '9' && ms < INT64_MAX / 10; v++, digits = true)
            ms = ms * 10 + (*v - '0');
        return digits ? ms : -1;
    }
    return -1;
}

static void age_push(task *t, tpart *tp, int64_t offset, int64_t event_ms)
{
    if (event_ms < 0)
        return;
    if (tp->agen - tp->ageh >= AGE_QUEUE_MAX) {
        atomic_fetch_add(&t->age_skipped, 1);
        return;
    }
    if (tp->agen == tp->agecap) {
        if (tp->ageh > tp->agecap / 2) { /* slide down rather than grow */
            memmove(tp->agev, tp->agev + tp->ageh, (tp->agen - tp->ageh) * sizeof *tp->agev);
            tp->agen -= tp->ageh;
            tp->ageh = 0;
        } else {
            tp->agecap = tp->agecap ? tp->agecap * 2 : 256;
            tp->agev = fp_xrealloc(tp->agev, tp->agecap * sizeof *tp->agev);
        }
    }
    tp->agev[tp->agen++] = (struct tage){offset, event_ms};
}

/* Observes the age of every queued message below the partition's commit point (what the sink
 * holds durably), at the wall clock now. */
static void age_observe(task *t, int64_t now_ms)
{
    for (size_t i = 0; i < t->nparts; i++) {
        tpart *tp = &t->parts[i];
        if (tp->ageh == tp->agen || tp->position < 0)
            continue;
        int64_t c = tp->position;
        int64_t u = t->c->plugin->uncommitted_from(t->sink, tp->topic, tp->partition);
        if (u < c)
            c = u;
        while (tp->ageh < tp->agen && tp->agev[tp->ageh].offset < c) {
            int64_t age = now_ms - tp->agev[tp->ageh++].event_ms;
            fp_metrics_hist_observe(&t->age, age > 0 ? (double)age / 1000.0 : 0);
        }
        if (tp->ageh == tp->agen)
            tp->ageh = tp->agen = 0;
    }
}

/* What was not durable is replayed (rewind) or another task's (revoke): forget it. */
static void age_discard(tpart *tp)
{
    tp->ageh = tp->agen = 0;
}

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
    size_t nh = 0; /* raw sinks: every header of the batch, then each record's slice of them */
    for (size_t i = 0; t->raw && i < n; i++) {
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers(t->msgs[t->outmsg[i]], &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
            nh += rd_kafka_header_cnt(h);
    }
    if (nh > t->hdrcap) {
        t->hdrcap = nh * 2;
        t->hdrs = fp_xrealloc(t->hdrs, t->hdrcap * sizeof *t->hdrs);
    }
    nh = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = t->msgs[t->outmsg[i]];
        rd_kafka_timestamp_type_t tt;
        t->recs[i] = (fp_sink_rec){rd_kafka_topic_name(m->rkt),
                                   m->partition,
                                   m->offset,
                                   rd_kafka_message_timestamp(m, &tt),
                                   m->key,
                                   m->key_len,
                                   t->xout.data.p + t->xout.off[i],
                                   t->xout.len[i],
                                   t->outts[i],
                                   NULL,
                                   0,
                                   t->xout.mcnt[i] ? t->xout.mem + t->xout.moff[i] : NULL,
                                   t->xout.mcnt[i]};
        if (!t->raw)
            continue;
        if (!m->payload) /* a tombstone; an empty value is "" (xout.data.p may still be NULL) */
            t->recs[i].value = NULL;
        else if (!t->xout.data.p)
            t->recs[i].value = "";
        rd_kafka_headers_t *h = NULL;
        t->recs[i].headers = t->hdrs + nh;
        if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        const char *name;
        const void *val;
        size_t size;
        for (size_t j = 0; !rd_kafka_header_get_all(h, j, &name, &val, &size); j++) {
            t->hdrs[nh++] = (fp_sink_header){name, val, val ? size : 0};
            t->recs[i].nheaders++;
        }
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
            if (tp)
                age_push(t, tp, m->offset, t->msgev[i]);
        }
    }
    batch_drop(t);
    if (src == FP_SINK_RETRY)
        start_retry(t, "sink", &err);
    else if (src == FP_SINK_ERROR)
        fp_connect_task_fail(t, err.msg);
    return src;
}

/* ---------------------------------------------------------------- commits */

/* Commits what is durable. Returns false when the task failed. */
static bool commit_durable(task *t, int *advanced)
{
    *advanced = 0;
    connector *k = t->c;
    if (t->dlq_pending) {
        /* At a stop bounded like the commit: dead letters Kafka cannot take now fail the task
         * (offsets past them stay uncommitted: replayed, nothing lost). */
        rd_kafka_resp_err_t e = rd_kafka_flush(k->prod, t->stopping ? FP_KAFKA_COMMIT_MS : 60000);
        if (e || atomic_load(&k->dlq_failed)) {
            fp_connect_task_fail(t, "dead letters or sink records were not acknowledged by "
                                    "Kafka; offsets past them stay uncommitted");
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
        const char *meta = k->plugin->commit_metadata
                               ? k->plugin->commit_metadata(t->sink, tp->topic, tp->partition, c)
                               : NULL;
        if (!meta)
            meta = "";
        if (c > tp->committed || (c >= 0 && c == tp->committed && strcmp(meta, tp->meta))) {
            rd_kafka_topic_partition_t *e =
                rd_kafka_topic_partition_list_add(l, tp->topic, tp->partition);
            e->offset = c;
            if (*meta) {
                e->metadata = fp_xstrdup(meta); /* freed with the list (librdkafka: free()) */
                e->metadata_size = strlen(meta);
            }
        }
    }
    if (l->cnt && t->commit_gave_up) {
        /* The final commit could not reach Kafka moments ago (logged then): a second wait in
         * the close's revoke would only double the stop. */
    } else if (l->cnt) {
        /* Bounded (kafka.h): with Kafka gone rd_kafka_commit() would wait for the coordinator
         * without a deadline. Not committed means replayed, never skipped (sinks are
         * idempotent for a replay). */
        rd_kafka_resp_err_t e = fp_kafka_commit_bounded(t->rk, l, FP_KAFKA_COMMIT_MS);
        if (e) {
            fp_buf what = FP_BUF_INIT;
            for (int i = 0; i < l->cnt; i++)
                fp_buf_printf(&what, "%s%s/%" PRId32 "@%" PRId64, i ? ", " : "", l->elems[i].topic,
                              l->elems[i].partition, l->elems[i].offset);
            if (t->stopping) {
                t->commit_gave_up = true;
                fp_log(FP_LOG_WARN, k->cf.name, t->id,
                       "final commit: %s; NOT committed: %s (durable in the sink; the next run "
                       "replays from the offsets committed before)",
                       rd_kafka_err2str(e), what.p);
            } else {
                fp_log(FP_LOG_WARN, k->cf.name, t->id, "commit: %s; not committed: %s (will retry)",
                       rd_kafka_err2str(e), what.p);
            }
            fp_buf_free(&what);
        } else {
            for (int i = 0; i < l->cnt; i++) {
                tpart *tp = find_tp(t, l->elems[i].topic, l->elems[i].partition);
                fp_log(FP_LOG_DEBUG, k->cf.name, t->id, "committed %s/%" PRId32 "@%" PRId64,
                       l->elems[i].topic, l->elems[i].partition, l->elems[i].offset);
                if (tp && !l->elems[i].err) {
                    if (l->elems[i].offset > tp->committed)
                        ++*advanced;
                    tp->committed = l->elems[i].offset;
                    free(tp->meta);
                    tp->meta = l->elems[i].metadata
                                   ? fp_xstrndup(l->elems[i].metadata, l->elems[i].metadata_size)
                                   : fp_xstrdup("");
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
        atomic_store(&t->retrying_since, now);
        fp_backoff_reset(&t->backoff);
    }
    t->retry_delay = fp_backoff_next(&t->backoff);
    t->attempts++;
    atomic_fetch_add(&t->retries, 1);
    if (t->c->cf.retry_timeout >= 0 && now - t->retry_since > t->c->cf.retry_timeout) {
        char msg[FP_ERR_MSG_MAX + 100];
        snprintf(msg, sizeof msg, "%s still failing after errors.retry.timeout: %s", what,
                 err->msg);
        fp_connect_task_fail(t, msg);
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

/* fp_sink_caught_up_fn: the partition's end-of-partition mark. */
static bool sink_caught_up(void *arg, const char *topic, int32_t partition)
{
    tpart *tp = find_tp(arg, topic, partition);
    return tp && tp->eof;
}

/* Opens tp in the sink (restoring its committed state first); a failure's message names the
 * partition. */
static fp_sink_rc sink_open(task *t, const tpart *tp, fp_err *err)
{
    const char *topic = tp->topic;
    int32_t partition = tp->partition;
    if (t->c->plugin->restore)
        t->c->plugin->restore(t->sink, topic, partition, tp->committed, tp->meta);
    fp_sink_rc src = t->c->plugin->open(t->sink, topic, partition, err);
    if (src != FP_SINK_OK)
        fp_err_prefix(err, "open %s/%" PRId32, topic, partition);
    return src;
}

/* The rule of sink.h for a failed open(): RETRY takes the retry path (pause, back off, close,
 * rewind, open again), anything else fails the task with the sink's error as its trace. */
static void open_failed(task *t, fp_sink_rc src, const fp_err *err)
{
    if (src == FP_SINK_RETRY)
        start_retry(t, "sink", err);
    else
        fp_connect_task_fail(t, err->msg);
}

static void rewind_partitions(task *t)
{
    age_observe(t, fp_time_now_ms()); /* what was durable before the failure */
    for (size_t i = 0; i < t->nparts; i++) {
        t->c->plugin->close(t->sink, t->parts[i].topic, t->parts[i].partition);
        age_discard(&t->parts[i]);
    }
    rd_kafka_topic_partition_list_t *l = assigned_list(t);
    for (size_t i = 0; i < t->nparts; i++) {
        tpart *tp = &t->parts[i];
        fp_err oerr = {0};
        fp_sink_rc src = sink_open(t, tp, &oerr);
        if (src != FP_SINK_OK) {
            /* Still paused; the next rewind closes and opens every partition again. */
            rd_kafka_topic_partition_list_destroy(l);
            open_failed(t, src, &oerr);
            return;
        }
        tp->position = tp->committed;
        tp->fetched = tp->committed;
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
    fp_connect_task_fail(t, msg);
    return false;
}

/* Sleeps ms; false as soon as the connector's tasks should stop (fp_connect_stopping: the
 * worker's token, the idle stop, the connector's own stop). */
static bool sleep_unless_stopping(const connector *k, int64_t ms)
{
    for (int64_t until = fp_time_mono_ms() + ms;;) {
        if (fp_connect_stopping(k))
            return false;
        int64_t left = until - fp_time_mono_ms();
        if (left <= 0)
            return true;
        fp_stop_sleep_ms(&k->stop, left < 20 ? left : 20);
    }
}

/* Fetches the group's committed offsets into parts. A failed fetch (of the list or of one
 * partition) is retried with backoff, never read as "no commit": starting a partition that has
 * a commit from the beginning would replay its whole history into the sink. */
static bool fetch_committed(task *t, rd_kafka_topic_partition_list_t *parts, fp_err *err)
{
    int64_t give_up = fp_time_mono_ms() + COMMITTED_FETCH_MS;
    fp_backoff b;
    fp_backoff_init(&b, COMMITTED_BASE_MS, COMMITTED_CAP_MS);
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
        int64_t delay = fp_backoff_next(&b);
        if (fp_time_mono_ms() + delay > give_up)
            return false;
        fp_log(FP_LOG_WARN, t->c->cf.name, t->id, "%s (retrying in %" PRId64 " ms)", err->msg,
               delay);
        if (!sleep_unless_stopping(t->c, delay))
            return false;
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    task *t = opaque;
    connector *k = t->c;
    t->revoked = e != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        fp_err ferr = {0};
        if (!fetch_committed(t, parts, &ferr)) {
            /* Consume nothing whose start is unknown; leaving the group hands the partitions
             * to a member that can read their commits. A stop is not a failure. */
            char msg[FP_ERR_MSG_MAX + 100];
            snprintf(msg, sizeof msg, "%s; not consuming partitions whose commit is unknown",
                     ferr.msg);
            if (!fp_connect_stopping(k))
                fp_connect_task_fail(t, msg);
            task_assign(t, NULL);
            return;
        }
        t->parts = fp_xrealloc(t->parts, (t->nparts + (size_t)parts->cnt) * sizeof *t->parts);
        /* The first failed open(): the rest wait for the retry's rewind, which opens all. */
        fp_sink_rc open_rc = FP_SINK_OK;
        fp_err open_err = {0};
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *p = &parts->elems[i];
            int64_t c = p->offset; /* RD_KAFKA_OFFSET_INVALID: the group has no commit */
            if (c < 0)
                c = -1;
            tpart *tp = &t->parts[t->nparts++];
            *tp = (tpart){.topic = fp_xstrdup(p->topic),
                          .partition = p->partition,
                          .committed = c,
                          .position = c,
                          .gap_at = -1,
                          .fetched = c,
                          .meta = c >= 0 && p->metadata ? fp_xstrndup(p->metadata, p->metadata_size)
                                                        : fp_xstrdup("")};
            /* A commit below the log start: retention deleted what the group never read, and
             * auto.offset.reset would skip it without a word. No commit: nothing to lose. */
            int64_t from, to;
            fp_err lerr = {0};
            if (c >= 0) {
                int64_t lost =
                    fp_kafka_lost_query(rk, p->topic, p->partition, c, 5000, &from, &to, &lerr);
                if (lost > 0)
                    note_lost(t, tp, from, to);
                else if (lost < 0)
                    fp_log(FP_LOG_WARN, k->cf.name, t->id,
                           "%s (lost records are detected on the next lag update)", lerr.msg);
            }
            if (open_rc == FP_SINK_OK)
                open_rc = sink_open(t, tp, &open_err);
            /* Start exactly at the committed offset (or the beginning). */
            p->offset = c >= 0 ? c : RD_KAFKA_OFFSET_BEGINNING;
        }
        fp_log(FP_LOG_INFO, k->cf.name, t->id, "assigned %d partition(s)", parts->cnt);
        /* librdkafka keeps a partition's pause flag across unassign/assign: one paused by a
         * retry under an earlier assignment would never be fetched again. Cleared before the
         * assign: a resume after it bumps the partition's version while its start offset is
         * being queried, librdkafka 2.0.2 then drops the answer as outdated and asks again
         * 500 ms later, so every assignment started half a second late. */
        rd_kafka_resume_partitions(rk, parts);
        if (task_assign(t, parts) && t->paused_applied)
            rd_kafka_pause_partitions(rk, parts);
        t->retrying = false;
        t->attempts = 0;
        atomic_store(&t->retrying_since, 0);
        t->had_assignment = true;
        atomic_store(&t->unjoined_since, 0);
        if (open_rc != FP_SINK_OK && atomic_load(&t->state) == T_RUNNING)
            open_failed(t, open_rc, &open_err);
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
        if (!t->retrying)
            age_observe(t, fp_time_now_ms());
        for (size_t i = 0; i < t->nparts; i++) {
            k->plugin->close(t->sink, t->parts[i].topic, t->parts[i].partition);
            free(t->parts[i].topic);
            free(t->parts[i].meta);
            free(t->parts[i].agev);
        }
        t->nparts = 0;
        if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            fp_log(FP_LOG_INFO, k->cf.name, t->id, "revoked %d partition(s)", parts->cnt);
        else
            fp_log(FP_LOG_WARN, k->cf.name, t->id, "rebalance error: %s; dropping the assignment",
                   rd_kafka_err2str(e));
        task_assign(t, NULL);
        t->retrying = false;
        atomic_store(&t->unjoined_since, fp_time_mono_ms());
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
    if (tp && tp->fetched >= 0 && m->offset > tp->fetched) {
        /* A jump: auto.offset.reset after the fetch offset fell below the log start? */
        int64_t from, to;
        if (fp_kafka_lost_cached(t->rk, tp->topic, tp->partition, tp->fetched, &from, &to) > 0)
            note_lost(t, tp, from, to);
    }
    if (tp && m->offset + 1 > tp->fetched)
        tp->fetched = m->offset + 1;
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
    if ((t->nmsgs >= BATCH_MAX || t->xout.data.len >= (size_t)t->mem.batch_bytes) &&
        batch_put(t) != FP_SINK_OK) {
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
    if (t->raw) /* the message as it is, one record (sink.h, raw) */
        fp_xform_out_add(&t->xout, m->payload ? m->payload : "", m->payload ? m->len : 0);
    else if (!m->payload)
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
                         -1,
                         NULL,
                         0,
                         t->xout.mcnt[i] ? t->xout.mem + t->xout.moff[i] : NULL,
                         t->xout.mcnt[i]};
        rc = k->plugin->check(t->sink, &r, &err);
        if (rc) /* transform errors name the place themselves; sink checks do not */
            fp_err_prefix(&err, "record at %s/%" PRId32 "@%" PRId64, meta.topic, m->partition,
                          m->offset);
        t->outts[i] = r.sink_ts;
    }
    if (rc) {
        /* All or nothing: none of this message's records reach the sink. */
        fp_xform_out_truncate(&t->xout, before, before_len);
        /* Everything before it must reach the sink first (order, and tolerance=none). */
        if (batch_put(t) != FP_SINK_OK) {
            rd_kafka_message_destroy(m);
            return atomic_load(&t->state) != T_FAILED;
        }
        bool ok = fp_connect_dead_letter(t, tp, m, &err);
        rd_kafka_message_destroy(m);
        return ok;
    }
    t->msgev[t->nmsgs] = message_event_ms(t, m->payload, m->payload ? m->len : 0);
    t->msgs[t->nmsgs++] = m;
    return true;
}

/* Applies the connector's pause flag to this task's consumer (task thread only). */
static void apply_pause(task *t)
{
    bool held = t->c->plugin->hold && t->c->plugin->hold(t->sink);
    bool want = atomic_load(&t->c->paused) || held;
    if (want == t->paused_applied)
        return;
    t->paused_applied = want;
    if (held || t->held) {
        fp_log(want ? FP_LOG_WARN : FP_LOG_INFO, t->c->cf.name, t->id, "%s",
               want ? "sink over its budget: consumption held until it drains"
                    : "sink drained: consumption resumes");
        t->held = held;
    }
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
    bool known = !atomic_load(&t->kafka_down_since) && !atomic_load(&t->unjoined_since);
    for (size_t i = 0; i < t->nparts; i++) {
        tpart *tp = &t->parts[i];
        int64_t pos = l->elems[i].offset;
        if (pos < 0)
            pos = tp->position; /* < 0 too: fp_kafka_lag counts from the low mark */
        int64_t lag = fp_kafka_lag(t->rk, tp->topic, tp->partition, pos);
        if (lag < 0)
            known = false; /* watermarks not known yet: -1, never shown as 0 */
        lags[i] = (struct tlag){fp_xstrdup(tp->topic), tp->partition, lag};
        int64_t next = tp->fetched >= 0 ? tp->fetched : tp->position, from, to;
        if (next >= 0 &&
            fp_kafka_lost_cached(t->rk, tp->topic, tp->partition, next, &from, &to) > 0)
            note_lost(t, tp, from, to);
    }
    atomic_store(&t->lag_known, known);
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

/* The waker's count where metrics and totals read it. */
static void publish_wakes(task *t)
{
    fp_kafka_waker_stats ws;
    fp_kafka_waker_stats_get(t->waker, &ws);
    if (t->waker)
        atomic_store(&t->fetch_wakes, ws.wakes);
}

/* A static member's close does not send LeaveGroup (KIP-345): its partitions would wait out the
 * session timeout for a member that never comes back. Unsubscribing does leave (librdkafka
 * leaves once the unassign is done, unless the handle is terminating): unsubscribe, serve the
 * revoke, give the LeaveGroup a moment to go out, then close. */
static void static_leave(task *t)
{
    t->revoked = false;
    rd_kafka_resp_err_t e = rd_kafka_unsubscribe(t->rk);
    if (e) {
        fp_log(FP_LOG_WARN, t->c->cf.name, t->id,
               "unsubscribe: %s; its partitions move after the session timeout",
               rd_kafka_err2str(e));
        return;
    }
    int64_t until = fp_time_mono_ms() + LEAVE_WAIT_MS, left_at = -1;
    while (fp_time_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, 50);
        if (m)
            rd_kafka_message_destroy(m);
        if (left_at < 0 && (t->revoked || !t->had_assignment))
            left_at = fp_time_mono_ms();
        if (left_at >= 0 && fp_time_mono_ms() - left_at >= LEAVE_SEND_MS)
            break;
    }
    fp_log(FP_LOG_INFO, t->c->cf.name, t->id, "left the group (task removed)");
}

void *fp_connect_task_main(void *arg)
{
    task *t = arg;
    connector *k = t->c;
    fp_connect *rt = k->rt;
    atomic_store(&t->unjoined_since, fp_time_mono_ms());
    atomic_store(&t->state, T_RUNNING);
    t->msgs = fp_xcalloc(BATCH_MAX, sizeof *t->msgs);
    t->msgev = fp_xcalloc(BATCH_MAX, sizeof *t->msgev);
    t->last_msg_mono = t->last_commit_mono = fp_time_mono_ms();
    int64_t last_tick = 0;
    fp_err err = {0};
    t->waker = fp_kafka_waker_new(t->rk, k->cf.name, &err);
    if (!t->waker) {
        fp_log(FP_LOG_WARN, k->cf.name, t->id,
               "%s; consuming without it (a backlog then refills only once a second)", err.msg);
        err = (fp_err){0};
    }
    while (!fp_connect_stopping(k) && atomic_load(&t->state) == T_RUNNING) {
        apply_pause(t);
        int64_t now = fp_time_mono_ms();
        probe_kafka(t, now);
        if (now - t->last_lag_mono >= LAG_EVERY_MS) {
            t->last_lag_mono = now;
            update_lag(t);
            publish_wakes(t);
        }
        if (t->retrying && now >= t->retry_at)
            rewind_partitions(t);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, t->nmsgs ? 0 : TICK_MS);
        fp_kafka_waker_seen(t->waker, m); /* before handle_message, which frees m */
        if (m && !handle_message(t, m))
            break;
        if (!m || t->nmsgs >= BATCH_MAX || t->xout.data.len >= (size_t)t->mem.batch_bytes) {
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
                    fp_connect_task_fail(t, err.msg);
                else
                    age_observe(t, fp_time_now_ms());
            }
            if (!t->retrying && atomic_load(&t->state) == T_RUNNING &&
                now - t->last_commit_mono >= k->cf.commit_interval) {
                int adv;
                if (!commit_durable(t, &adv))
                    break;
                if (adv) {
                    t->attempts = 0; /* progress ends a retry episode */
                    atomic_store(&t->retrying_since, 0);
                }
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
    /* Stop: make durable what can be, commit it (never past a failure), leave the group. Each
     * Kafka step is bounded (kafka.h: FP_KAFKA_COMMIT_MS, FP_KAFKA_CLOSE_MS), so a stop with
     * Kafka gone ends: what could not be committed is logged and replayed next time. The
     * waker is told first, so a wake call in flight ends during the final commit. */
    fp_kafka_waker_stop(t->waker);
    t->stopping = true;
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
                fp_connect_task_fail(t, err.msg);
            else if (src != FP_SINK_OK)
                fp_log(FP_LOG_WARN, k->cf.name, t->id, "final flush: %s", err.msg);
            else
                age_observe(t, fp_time_now_ms());
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
    publish_wakes(t);
    fp_kafka_waker_free(t->waker); /* borrows rk: before the close */
    t->waker = NULL;
    if (atomic_load(&t->leave) && k->rt->members == FP_MEMBERS_STATIC)
        static_leave(t);
    /* Revokes (on_rebalance closes the sink's partitions), then leaves the group (a dynamic
     * member sends LeaveGroup, so the rebalance starts at once); bounded, and the handle is
     * destroyed. A close cut short still revoked nothing it had not made durable. */
    fp_kafka_consumer_close(t->rk, FP_KAFKA_CLOSE_MS, on_rebalance, k->cf.name);
    t->rk = NULL;
    if (atomic_load(&t->state) != T_FAILED)
        atomic_store(&t->state, T_STOPPED);
    atomic_store(&t->idle, true);
    return NULL;
}

fp_code fp_connect_task_init(connector *k, task *t, int id, fp_err *err)
{
    t->c = k;
    t->id = id;
    fp_metrics_hist_init_seconds(&t->latency);
    fp_metrics_hist_init_sizes(&t->batch);
    fp_metrics_hist_init_age(&t->age);
    /* A cap below the base (errors.retry.delay.max.ms < 100) makes the cap the base, as before. */
    int64_t cap = k->cf.retry_delay_max;
    fp_backoff_init(&t->backoff, cap < RETRY_BASE_MS ? cap : RETRY_BASE_MS, cap);
    t->ctx = (fp_sink_ctx){.connector = k->cf.name,
                           .task = id,
                           .stats = &t->stats,
                           .emit = fp_connect_emit,
                           .emit_arg = k,
                           .produce = fp_connect_sink_produce,
                           .dead_letter = fp_connect_sink_dead_letter,
                           .caught_up = sink_caught_up,
                           .task_arg = t,
                           .stop = k->rt->o.stop};
    fp_code rc = fp_xform_chain_new(&k->props, &t->chain, err);
    if (!rc)
        rc = k->plugin->create(&k->props, &t->ctx, &t->sink, err);
    if (rc)
        return rc;
    t->raw = k->plugin->raw && k->plugin->raw(t->sink);
    t->xout.members = k->plugin->members && !t->raw;
    if (t->raw && fp_xform_chain_len(t->chain))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "connector %s: its sink takes messages as they are (format.envelope): "
                          "transforms cannot apply",
                          k->cf.name);
    char group[300], client[320];
    snprintf(group, sizeof group, "connect-%s", k->cf.name);
    snprintf(client, sizeof client, "connect-%s-%d", k->cf.name, id);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_opaque(conf, t);
    /* Membership (connect.c decides rt->members once per worker): static with a stable worker
     * id, so a restarted worker or a config update that keeps the task ids gets the same
     * partitions back without waiting; dynamic on the development broker (it ignores
     * group.instance.id, and a static member that never leaves would stall every rebalance) or
     * when the worker id changes with each run. */
    char instance[700];
    snprintf(instance, sizeof instance, "%s-%s-%d", k->rt->worker_id, k->cf.name, id);
    /* The runtime alone decides what is committed: fp_kafka_consumer_new() sets the commit
     * settings after the consumer.override.* passthrough, so no override can change them. */
    fp_kafka_consumer_opts co = {.bootstrap = k->rt->bootstrap,
                                 .group = group,
                                 .client_id = client,
                                 .instance_id =
                                     k->rt->members == FP_MEMBERS_STATIC ? instance : NULL,
                                 .dev_broker = k->rt->members == FP_MEMBERS_DEV,
                                 .partition_eof = true,
                                 .overrides = &k->props,
                                 .override_prefix = "consumer.override.",
                                 .conf = conf,
                                 .queue_kbytes = t->mem.queue_kbytes,
                                 .fetch_max_bytes = t->mem.fetch_max_bytes};
    t->rk = fp_kafka_consumer_new(&co, err);
    if (!t->rk)
        return err->code;
    t->mem.eff_queue_kbytes = fp_kafka_conf_int(t->rk, "queued.max.messages.kbytes", -1);
    t->mem.eff_fetch_max_bytes = fp_kafka_conf_int(t->rk, "fetch.max.bytes", -1);
    t->mem.eff_partition_fetch_bytes = fp_kafka_conf_int(t->rk, "max.partition.fetch.bytes", -1);
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
