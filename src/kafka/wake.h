/* wake.h — the fetch waker: wakes a consumer's fetching broker threads after its full prefetch
 * queue drained, from a thread of its own, so the consumer's thread never waits for Kafka.
 *
 * Why. librdkafka 2.0.2 stops fetching while a consumer's queue holds queued.min.messages or
 * queued.max.messages.kbytes (all partitions: the partition queues forward into the consumer
 * queue), and its broker thread looks at the queue again only when an op, IO or its 1 s
 * timeout wakes it (rd_kafka_broker_consumer_serve, rd_kafka_max_block_ms); taking records out
 * of the queue wakes nothing. A consumer on a backlog therefore drains its queue, idles until
 * the next wake-up, refills, once a second (docs/performance.md, "Aggregate"). librdkafka 2.2's
 * fetch.queue.backoff.ms removes the stall; 2.0.2 has no call for it.
 *
 * How. The consumer's thread calls fp_kafka_waker_seen() for every message it polls: the waker
 * notes when the queue is (nearly) full — the only state in which the fetcher stops for queue
 * reasons, and the proof of a backlog — and, once the queue has drained to half of both bounds
 * since, sets a flag for its thread (no Kafka call, no wait on the caller's side). The thread
 * then asks the partition leaders for the consumer's assigned partitions' end offsets
 * (rd_kafka_offsets_for_times with RD_KAFKA_OFFSET_END, one ListOffsets per leader): the
 * request is enqueued on each leader's broker thread as an op, which wakes it, and it fetches
 * again at once. The answer is not used. Why that call (librdkafka 2.0.2 read for it): every
 * call that enqueues a plain wake-up op (flush, purge) is producer-only; pause/resume and seek
 * purge the queue; there is no asynchronous ListOffsets (the admin ListOffsets came in 2.3),
 * and the admin calls of 2.0.2 go to the controller, the coordinator or every broker, not to a
 * partition's leader; rd_kafka_query_watermark_offsets waits without its timeout while a
 * request is outstanding (its wait loop does not check the deadline). offsets_for_times is
 * bounded by its timeout, sends one request per leader for all partitions, and drops a late
 * answer safely.
 *
 * A consumer that keeps up never fills its queue and is never woken: no requests while caught
 * up. Bounds: at most one call in flight per consumer (the thread makes them one at a time,
 * each within FP_KAFKA_WAKE_TIMEOUT_MS), at most one per FP_KAFKA_WAKE_MIN_INTERVAL_MS, and a
 * failed call (Kafka unreachable) backs off (core/backoff.h, FP_KAFKA_WAKE_BACKOFF_*), so
 * requests that time out do not pile up in librdkafka.
 *
 * Threads and ownership: fp_kafka_waker_new/seen/stop/free from the consumer's thread (the one
 * that polls); fp_kafka_waker_wakes from any thread. The waker borrows rk: free the waker before
 * the consumer is closed or destroyed. Every function accepts NULL (no waker: nothing happens).
 */
#ifndef FP_KAFKA_WAKE_H
#define FP_KAFKA_WAKE_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "core/err.h"

#define FP_KAFKA_WAKE_TIMEOUT_MS 1000
#define FP_KAFKA_WAKE_MIN_INTERVAL_MS 20
#define FP_KAFKA_WAKE_BACKOFF_BASE_MS 1000
#define FP_KAFKA_WAKE_BACKOFF_CAP_MS 30000

typedef struct fp_kafka_waker fp_kafka_waker;

/* What a waker did, for metrics and tests. */
typedef struct fp_kafka_waker_stats {
    uint64_t asked;  /* wakes the rule asked for (fp_kafka_waker_seen; several may make one) */
    uint64_t wakes;  /* wake calls made (each one ListOffsets per leader) */
    uint64_t failed; /* of those, calls that failed or timed out */
} fp_kafka_waker_stats;

/* Starts the waker of consumer rk (borrowed; must outlive the waker) and its thread. The queue
 * bounds are read from rk's configuration (queued.min.messages, queued.max.messages.kbytes, as
 * fp_kafka_consumer_new and any override left them). who names the waker in log lines. NULL with
 * err set when the thread cannot start (the consumer then works as without a waker). */
fp_kafka_waker *fp_kafka_waker_new(rd_kafka_t *rk, const char *who, fp_err *err);

/* The consumer's thread, after each rd_kafka_consumer_poll() that returned m (a message or an
 * event; NULL is fine): updates the average message size, looks at the queue's length and asks
 * for a wake when the rule above says so. Never waits for Kafka (one queue lock). */
void fp_kafka_waker_seen(fp_kafka_waker *w, const rd_kafka_message_t *m);

/* Asks the thread to end (no wait). Call as soon as the consumer stops consuming (before the
 * final commit), so that a call in flight ends while the caller does other work. */
void fp_kafka_waker_stop(fp_kafka_waker *w);

/* Stops and joins the thread, then frees w. The wait is bounded by the one call that may be in
 * flight (FP_KAFKA_WAKE_TIMEOUT_MS), and is 0 when fp_kafka_waker_stop() came long enough
 * before. */
void fp_kafka_waker_free(fp_kafka_waker *w);

/* Any thread. Zeros for NULL. */
void fp_kafka_waker_stats_get(const fp_kafka_waker *w, fp_kafka_waker_stats *out);

#endif
