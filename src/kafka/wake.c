/* wake.c — the fetch waker (wake.h): a flag the consumer's thread sets, a thread that turns it
 * into one bounded rd_kafka_offsets_for_times() call, which wakes the leaders' broker threads.
 *
 * The rule lives on the consumer's thread (fp_kafka_waker_seen): "armed" once the queue was at
 * three quarters of a bound (the fetcher may have stopped), a wake once it is at or below half
 * of both bounds again (the fetcher would fetch if it looked). Bytes are estimated as the
 * queue's length times the average size of the messages polled (librdkafka counts a message's
 * value length, rko_len = rkm_len, against queued.max.messages.kbytes). Threads: each field
 * of struct fp_kafka_waker says whose it is; the waker thread touches rk, want/stop (under mu)
 * and the stats (atomics), nothing else.
 */
#include "kafka/wake.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"

struct fp_kafka_waker {
    rd_kafka_t *rk;      /* borrowed; fixed after new */
    rd_kafka_queue_t *q; /* the consumer queue (a reference of ours): the caller's */
    char *who;           /* fixed after new */
    /* The caller's (the consumer's thread). */
    int64_t qmin, qbytes; /* queued.min.messages, queued.max.messages.kbytes * 1024 */
    int64_t avg_len;      /* average value length of the messages polled; -1: none yet */
    bool armed;           /* the queue was near a bound since the last wake */
    /* Both threads, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool want, stop;
    pthread_t th;
    _Atomic uint64_t asked, wakes, failed;
};

/* One wake: the end offsets of every assigned partition from their leaders. The answer only
 * tells that the requests went through. */
static void wake_once(fp_kafka_waker *w, fp_backoff *b, int64_t *next_at)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(w->rk, &l) || !l || !l->cnt) {
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        *next_at = fp_time_mono_ms() + FP_KAFKA_WAKE_MIN_INTERVAL_MS;
        return; /* nothing assigned (a rebalance meanwhile): nothing to wake */
    }
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = RD_KAFKA_OFFSET_END; /* as a timestamp: the latest offset */
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(w->rk, l, FP_KAFKA_WAKE_TIMEOUT_MS);
    rd_kafka_topic_partition_list_destroy(l);
    atomic_fetch_add(&w->wakes, 1);
    if (e) {
        /* Kafka slow or unreachable: back off (at least the base), so requests that timed out
         * here and still wait in librdkafka's queues stay few. */
        atomic_fetch_add(&w->failed, 1);
        int64_t d = fp_backoff_next(b);
        if (d < FP_KAFKA_WAKE_BACKOFF_BASE_MS)
            d = FP_KAFKA_WAKE_BACKOFF_BASE_MS;
        fp_log(FP_LOG_DEBUG, w->who, -1, "fetch wake: %s; none for %" PRId64 " ms",
               rd_kafka_err2str(e), d);
        *next_at = fp_time_mono_ms() + d;
        return;
    }
    fp_backoff_reset(b);
    *next_at = fp_time_mono_ms() + FP_KAFKA_WAKE_MIN_INTERVAL_MS;
}

static void *waker_main(void *arg)
{
    fp_kafka_waker *w = arg;
    fp_backoff b;
    fp_backoff_init(&b, FP_KAFKA_WAKE_BACKOFF_BASE_MS, FP_KAFKA_WAKE_BACKOFF_CAP_MS);
    int64_t next_at = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->want && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        int64_t now = fp_time_mono_ms();
        if (now < next_at) {
            /* Rate bound: wakes asked for meanwhile are one wake, at next_at. */
            struct timespec ts = fp_time_deadline(next_at - now);
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            continue;
        }
        w->want = false;
        pthread_mutex_unlock(&w->mu);
        wake_once(w, &b, &next_at);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

fp_kafka_waker *fp_kafka_waker_new(rd_kafka_t *rk, const char *who, fp_err *err)
{
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    if (!q) {
        fp_err_set(err, FP_ERR_KAFKA, "%s: fetch waker: the handle has no consumer queue", who);
        return NULL;
    }
    fp_kafka_waker *w = fp_xcalloc(1, sizeof *w);
    w->rk = rk;
    w->q = q;
    w->who = fp_xstrdup(who);
    w->qmin = fp_kafka_conf_int(rk, "queued.min.messages", 100000);
    w->qbytes = fp_kafka_conf_int(rk, "queued.max.messages.kbytes", 65536) * 1024;
    w->avg_len = -1;
    pthread_mutex_init(&w->mu, NULL);
    fp_time_cond_init(&w->cv);
    if (pthread_create(&w->th, NULL, waker_main, w) != 0) {
        fp_err_set(err, FP_ERR_IO, "%s: fetch waker: cannot start a thread", who);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        rd_kafka_queue_destroy(q);
        free(w->who);
        free(w);
        return NULL;
    }
    return w;
}

void fp_kafka_waker_seen(fp_kafka_waker *w, const rd_kafka_message_t *m)
{
    if (!w)
        return;
    if (m && !m->err) {
        int64_t len = (int64_t)m->len;
        w->avg_len = w->avg_len < 0 ? len : w->avg_len + (len - w->avg_len) / 16;
    }
    int64_t qlen = rd_kafka_queue_length(w->q);
    int64_t bytes = w->avg_len > 0 ? qlen * w->avg_len : 0;
    if (qlen * 4 >= w->qmin * 3 || bytes * 4 >= w->qbytes * 3) {
        w->armed = true;
        return;
    }
    if (!w->armed || qlen * 2 > w->qmin || bytes * 2 > w->qbytes)
        return;
    w->armed = false;
    atomic_fetch_add(&w->asked, 1);
    pthread_mutex_lock(&w->mu);
    w->want = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void fp_kafka_waker_stop(fp_kafka_waker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void fp_kafka_waker_free(fp_kafka_waker *w)
{
    if (!w)
        return;
    fp_kafka_waker_stop(w);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    rd_kafka_queue_destroy(w->q);
    free(w->who);
    free(w);
}

void fp_kafka_waker_stats_get(const fp_kafka_waker *w, fp_kafka_waker_stats *out)
{
    fp_kafka_waker *m = (fp_kafka_waker *)w;
    out->asked = m ? atomic_load(&m->asked) : 0;
    out->wakes = m ? atomic_load(&m->wakes) : 0;
    out->failed = m ? atomic_load(&m->failed) : 0;
}
