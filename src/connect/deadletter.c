/* deadletter.c — the connector's producer and what goes through it: dead letters (a bad
 * record's original bytes and key to errors.deadletterqueue.topic.name) and the records sinks
 * emit (fp_sink_ctx.emit: objstore's object-committed events). One producer per connector,
 * shared by its tasks and their sinks.
 *
 * A dead-lettered offset counts as handled (the position passes it), but the task commits past
 * it only after the producer flushed and no dead letter failed (task.c, commit_durable). Marks
 * (connector-wide, under dlq_lock) remember the highest dead-lettered offset per partition, so
 * a replay by this process does not produce the same dead letter twice. An emit blocks its
 * caller until the record's delivery report, so the sink knows the broker has it before it lets
 * the record's offsets be committed.
 * Threads: fp_connect_dead_letter() runs on task threads, emits on sinks' threads (objstore's
 * upload thread); delivery reports on whichever of them polls or flushes the producer.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/connect_int.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"

#define DLQ_QUEUE_FULL_MS 60000 /* longest wait for room in the dead-letter queue */

/* A sink's emit waiting for its delivery report. Two references, the emitter's and the
 * report's: an emitter that gave up (timeout) leaves, the late report frees it. */
typedef struct emit_wait {
    atomic_int refs;
    atomic_bool done;
    rd_kafka_resp_err_t err; /* written before done */
} emit_wait;

static void emit_wait_drop(emit_wait *w)
{
    if (atomic_fetch_sub(&w->refs, 1) == 1)
        free(w);
}

/* Delivery reports, on whichever thread polls or flushes the producer. A message with an
 * opaque is an emit; one without is a dead letter. */
static void producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    connector *k = opaque;
    emit_wait *w = m->_private;
    if (w) {
        w->err = m->err;
        atomic_store(&w->done, true);
        emit_wait_drop(w);
        return;
    }
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

/* The dead-letter headers (NULL when errors.deadletterqueue.context.headers.enable is off):
 * error.class, error.message, source.topic/partition/offset, and source.record when record >= 0
 * (one record of a message, dead-lettered by the sink). */
static rd_kafka_headers_t *dlq_headers(const connector *k, const char *cls, const char *msg,
                                       const char *topic, int32_t partition, int64_t offset,
                                       int record)
{
    if (!k->cf.dlq_headers)
        return NULL;
    char part[16], off[24], idx[16];
    snprintf(part, sizeof part, "%" PRId32, partition);
    snprintf(off, sizeof off, "%" PRId64, offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    rd_kafka_header_add(h, "error.class", -1, cls, -1);
    rd_kafka_header_add(h, "error.message", -1, msg, -1);
    rd_kafka_header_add(h, "source.topic", -1, topic, -1);
    rd_kafka_header_add(h, "source.partition", -1, part, -1);
    rd_kafka_header_add(h, "source.offset", -1, off, -1);
    if (record >= 0) {
        snprintf(idx, sizeof idx, "%d", record);
        rd_kafka_header_add(h, "source.record", -1, idx, -1);
    }
    return h;
}

/* Produces on the connector's producer (created already); h is taken on success and freed on
 * failure. A full queue waits for deliveries, but not past a stop or DLQ_QUEUE_FULL_MS (then
 * ERR__QUEUE_FULL): the caller leaves the record unhandled, so it is replayed, never skipped. */
static rd_kafka_resp_err_t produce_waiting(connector *k, const char *topic, const void *key,
                                           size_t key_len, const void *value, size_t len,
                                           rd_kafka_headers_t *h)
{
    int64_t give_up = fp_time_mono_ms() + DLQ_QUEUE_FULL_MS;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (!e)
            return e;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || fp_connect_stopping(k) ||
            fp_time_mono_ms() >= give_up) {
            if (h)
                rd_kafka_headers_destroy(h);
            return e;
        }
        rd_kafka_poll(k->prod, 50);
    }
}

/* Sends a bad message to the dead-letter path, or fails the task (errors.tolerance=none).
 * Returns false when the task must stop. */
bool fp_connect_dead_letter(task *t, tpart *tp, rd_kafka_message_t *m, const fp_err *why)
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
        fp_connect_task_fail(t, msg);
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
    if (!k->cf.dlq_topic[0]) {
        if (fresh) /* dropped: only logged (a replay of one already counted is not counted) */
            atomic_fetch_add(&t->dropped, 1);
        tp->position = m->offset + 1;
        return true;
    }
    /* Sent before a rewind, maybe not acknowledged yet: the commit must wait for it too. */
    t->dlq_pending = true;
    if (!fresh) {
        tp->position = m->offset + 1;
        return true;
    }
    rd_kafka_headers_t *h =
        dlq_headers(k, fp_code_name(why->code), why->msg, topic, m->partition, m->offset, -1);
    rd_kafka_resp_err_t e =
        produce_waiting(k, k->cf.dlq_topic, m->key, m->key_len, m->payload, m->len, h);
    if (e) {
        dlq_unmark(k, topic, m->partition, m->offset, prev);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && fp_connect_stopping(k))
            return false; /* the stop commits up to (not past) this record */
        char what[FP_ERR_MSG_MAX];
        snprintf(what, sizeof what, "dead-letter produce of %s/%" PRId32 "@%" PRId64 "%s", topic,
                 m->partition, m->offset,
                 e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? " (gave up waiting for room)" : "");
        fp_err ferr;
        fp_kafka_err(&ferr, e, what);
        fp_connect_task_fail(t, ferr.msg);
        return false;
    }
    tp->position = m->offset + 1;
    return true;
}

fp_code fp_connect_sink_produce(void *arg, const char *topic, const void *key, size_t key_len,
                                const void *value, size_t len, fp_err *err)
{
    task *t = arg;
    rd_kafka_t *rk = fp_connect_producer(t->c, err);
    if (!rk)
        return fp_err_prefix(err, "connector %s: producer", t->c->cf.name);
    t->dlq_pending = true; /* the next commit waits for its delivery */
    rd_kafka_resp_err_t e = produce_waiting(t->c, topic, key, key_len, value, len, NULL);
    if (!e)
        return FP_OK;
    char what[300];
    snprintf(what, sizeof what, "produce to %s%s", topic,
             e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? " (gave up waiting for room)" : "");
    return fp_kafka_err(err, e, what);
}

fp_code fp_connect_sink_dead_letter(void *arg, const fp_sink_rec *rec, int index,
                                    const char *reason, const char *msg, fp_err *err)
{
    task *t = arg;
    connector *k = t->c;
    if (strcmp(k->cf.tolerance, "all") != 0)
        return fp_err_set(err, FP_ERR_INVALID,
                          "%s record %d at %s/%" PRId32 "@%" PRId64
                          " and errors.tolerance=none: %s (nothing past it is committed)",
                          reason, index, rec->topic, rec->partition, rec->offset, msg);
    if (k->cf.log_errors)
        fp_log(FP_LOG_WARN, k->cf.name, t->id,
               "dead letter %s/%" PRId32 "@%" PRId64 " record %d (%s): %s%s%.*s", rec->topic,
               rec->partition, rec->offset, index, reason, msg, k->cf.log_messages ? " — " : "",
               k->cf.log_messages ? (int)(rec->len < 200 ? rec->len : 200) : 0, rec->value);
    atomic_fetch_add(&t->dead, 1); /* a failed produce is replayed, then counted again */
    if (!k->cf.dlq_topic[0]) {
        atomic_fetch_add(&t->dropped, 1);
        return FP_OK;
    }
    rd_kafka_t *rk = fp_connect_producer(k, err);
    if (!rk)
        return fp_err_prefix(err, "connector %s: producer", k->cf.name);
    rd_kafka_headers_t *h =
        dlq_headers(k, reason, msg, rec->topic, rec->partition, rec->offset, index);
    t->dlq_pending = true;
    rd_kafka_resp_err_t e =
        produce_waiting(k, k->cf.dlq_topic, rec->key, rec->key_len, rec->value, rec->len, h);
    if (!e)
        return FP_OK;
    char what[FP_ERR_MSG_MAX];
    snprintf(what, sizeof what, "dead-letter produce of %s/%" PRId32 "@%" PRId64 " record %d",
             rec->topic, rec->partition, rec->offset, index);
    return fp_kafka_err(err, e, what);
}

/* ---------------------------------------------------------------- the connector's producer */

rd_kafka_t *fp_connect_producer(connector *k, fp_err *err)
{
    pthread_mutex_lock(&k->prod_lock);
    if (!k->prod) {
        rd_kafka_conf_t *pc = rd_kafka_conf_new();
        if (fp_kafka_conf_passthrough(pc, &k->props, "producer.override.", err)) {
            rd_kafka_conf_destroy(pc);
        } else {
            k->prod = fp_kafka_producer_new(k->rt->bootstrap, pc, producer_dr, k, err);
        }
    }
    rd_kafka_t *rk = k->prod;
    pthread_mutex_unlock(&k->prod_lock);
    return rk;
}

void fp_connect_producer_flush(connector *k, int ms)
{
    pthread_mutex_lock(&k->prod_lock);
    rd_kafka_t *rk = k->prod;
    pthread_mutex_unlock(&k->prod_lock);
    if (rk)
        rd_kafka_flush(rk, ms);
}

void fp_connect_producer_free(connector *k)
{
    if (!k->prod)
        return;
    /* Purged messages get their delivery reports (ERR__PURGE_*) from the flush: every emit
     * reference is dropped before the handle goes. */
    rd_kafka_purge(k->prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(k->prod, 5000);
    rd_kafka_destroy(k->prod);
    k->prod = NULL;
}

fp_code fp_connect_emit(void *arg, const char *topic, const void *key, size_t key_len,
                        const void *value, size_t len, int64_t timeout_ms, fp_err *err)
{
    connector *k = arg;
    rd_kafka_t *rk = fp_connect_producer(k, err);
    if (!rk)
        return fp_err_prefix(err, "connector %s: producer", k->cf.name);
    emit_wait *w = fp_xcalloc(1, sizeof *w);
    atomic_init(&w->refs, 2);
    atomic_init(&w->done, false);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
    if (e) {
        free(w);
        char what[300];
        snprintf(what, sizeof what, "produce to %s", topic);
        return fp_kafka_err(err, e, what);
    }
    int64_t deadline = fp_time_mono_ms() + timeout_ms;
    while (!atomic_load(&w->done) && fp_time_mono_ms() < deadline)
        rd_kafka_poll(rk, 20);
    fp_code rc = FP_OK;
    if (!atomic_load(&w->done)) {
        rc = fp_err_set(err, FP_ERR_IO, "produce to %s: no delivery report within %" PRId64 " ms",
                        topic, timeout_ms);
    } else if (w->err) {
        char what[300];
        snprintf(what, sizeof what, "produce to %s", topic);
        rc = fp_kafka_err(err, w->err, what);
    }
    emit_wait_drop(w);
    return rc;
}
