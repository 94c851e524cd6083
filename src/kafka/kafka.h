/* kafka.h — librdkafka glue shared by every command that talks to Kafka: error mapping into
 * fp_err, config helpers, and the embedded development broker.
 *
 * The embedded broker is librdkafka's Kafka-protocol mock cluster (rdkafka_mock.h): real wire
 * protocol on loopback, consumer groups with offset commits, but everything lives in the memory
 * of the process that started it and is gone when that process stops. It is for development,
 * tests and the demo — never for data you want to keep. Each partition keeps only its newest
 * 5 MiB (a hard-coded mock limit; older messages vanish), so spread volume over partitions. A
 * command given no --bootstrap-servers starts one in-process (fp_kafka_embedded_start) and talks to
 * it over loopback like any client.
 *
 * Threads: an fp_kafka_embedded runs its brokers on librdkafka's own threads; start/stop from
 * one thread.
 */
#ifndef FP_KAFKA_H
#define FP_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/props.h"

/* The topics of ../shared/PROTOCOLS.md, NULL-terminated. */
extern const char *const fp_kafka_fms_topics[];

/* Maps a librdkafka error to an fp_code (configuration, I/O-like transport, invalid message,
 * everything else FP_ERR_KAFKA) and sets err to "<what>: <librdkafka message>". */
fp_code fp_kafka_err(fp_err *err, rd_kafka_resp_err_t e, const char *what);

/* rd_kafka_conf_set() with the error in an fp_err (FP_ERR_CONFIG naming key and value). */
fp_code fp_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, fp_err *err);

/* Sets every property of p whose key starts with prefix (prefix stripped) on conf and marks
 * it used: the `consumer.override.*` / `producer.override.*` passthrough. */
fp_code fp_kafka_conf_passthrough(rd_kafka_conf_t *conf, fp_props *p, const char *prefix,
                                  fp_err *err);

/* A producer for bootstrap (idempotent, acks=all). dr_cb may be NULL. extra_conf (may be NULL)
 * is taken: freed here on failure, owned by the handle on success. The caller owns the handle
 * (rd_kafka_destroy). librdkafka's log lines go through core/log. */
rd_kafka_t *fp_kafka_producer_new(const char *bootstrap, rd_kafka_conf_t *extra_conf,
                                  void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                  void *opaque, fp_err *err);

/* The memory budget of one consumer's prefetch (docs/connect.md, "Memory budget"): librdkafka's
 * defaults let one consumer queue 64 MiB and have a 50 MiB fetch in flight, which made a
 * 2-task connect worker peak at 64-109 MiB on a backlog. Defaults, each overridable after this
 * (consumer.override.* in connect): queued.max.messages.kbytes (the consumer queue, all
 * partitions), fetch.max.bytes (one fetch response; must stay >= message.max.bytes) and
 * queued.min.messages (per partition: bounds the per-record overhead of small records).
 * Why not smaller: librdkafka 2.0 looks at a full queue again only when its broker thread
 * wakes up, after at most 1 s (rd_kafka_max_block_ms; 2.2 added fetch.queue.backoff.ms), so a
 * queue smaller than about one second of a task's throughput (~32 MB/s here) idles the task
 * while it catches up on a backlog: 8 MiB cut the worker's peak to 45-57 MiB but took 2.3-3x as
 * long (bench/memory.sh, docs/performance.md). A consumer that keeps up never fills it. */
#define FP_KAFKA_QUEUED_MAX_KBYTES 32768
#define FP_KAFKA_FETCH_MAX_BYTES (4 * 1024 * 1024)
#define FP_KAFKA_QUEUED_MIN_MESSAGES 10000

/* Sets the budget above on conf (FP_ERR_CONFIG on failure). fp_kafka_consumer_new() calls it;
 * a consumer built by hand calls it before its overrides are applied. */
fp_code fp_kafka_consumer_budget(rd_kafka_conf_t *conf, fp_err *err);

/* How every fleetpipe consumer is configured. Fixed, because the caller alone decides what is
 * committed: enable.auto.commit=false and enable.auto.offset.store=false. Defaults a caller's
 * overrides may change: auto.offset.reset=earliest, fetch.wait.max.ms=100 (a fetch that finds
 * nothing holds up partitions that became fetchable meanwhile; 500 ms, the default, showed as
 * stalls) and the prefetch budget (fp_kafka_consumer_budget). librdkafka's log lines go
 * through core/log. */
typedef struct fp_kafka_consumer_opts {
    const char *bootstrap; /* required */
    const char *group;     /* group.id (required by librdkafka even for assign()-only use) */
    const char *client_id; /* NULL: librdkafka's default */
    /* Static membership (KIP-345): a stable id per worker and task, so a restarted process
     * takes its partitions back at once instead of after the session timeout. NULL: dynamic. */
    const char *instance_id;
    int64_t session_timeout_ms; /* 0: librdkafka's default (45 s); overridable */
    bool partition_eof;         /* deliver RD_KAFKA_RESP_ERR__PARTITION_EOF events */
    /* Properties whose key starts with override_prefix are set with the prefix stripped and
     * marked used (Kafka Connect's consumer.override.*); overrides may be NULL. */
    fp_props *overrides;
    const char *override_prefix;
    /* Callbacks and other settings made by the caller (rebalance_cb, opaque); may be NULL.
     * Taken: freed here on failure, owned by the handle on success. */
    rd_kafka_conf_t *conf;
} fp_kafka_consumer_opts;

/* A consumer with the poll queue redirected to the consumer queue (rd_kafka_poll_set_consumer).
 * NULL with err set (FP_ERR_CONFIG naming a bad key and value). The caller owns the handle:
 * rd_kafka_consumer_close() then rd_kafka_destroy(). */
rd_kafka_t *fp_kafka_consumer_new(const fp_kafka_consumer_opts *o, fp_err *err);

/* Messages after position in topic/partition, from the high watermark librdkafka cached from
 * its last fetch (no request to the broker). position < 0 (not consumed yet) counts from the
 * low watermark. -1 when the watermarks are not known yet. */
int64_t fp_kafka_lag(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t position);
/* The sum of fp_kafka_lag() over the consumer's current assignment at its current positions;
 * -1 when unknown (nothing assigned, or a partition's watermarks not known yet). */
int64_t fp_kafka_assignment_lag(rd_kafka_t *rk);

/* Records a consumer will never see: retention (on the dev broker, its 5 MiB per partition cap)
 * deleted them before they were consumed. A consumer whose next offset for a partition is below
 * the partition's log start offset has lost [next, log start); librdkafka's
 * auto.offset.reset=earliest would jump over them without a word, so every fleetpipe consumer
 * asks this at assignment (with the committed offset) and on every lag update (with its
 * position), and reports what it finds (ERROR log naming topic, partition and range, a
 * ..._records_lost_total counter, status).
 *   fp_kafka_lost_cached: from the low watermark librdkafka cached from its last fetch (no
 *     request; 0 when it knows none yet).
 *   fp_kafka_lost_query: asks the partition leader (timeout_ms); -1 with err when it cannot.
 * Both return how many records were lost (to - from), 0 when none, and set *from / *to. */
int64_t fp_kafka_lost_cached(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t next,
                             int64_t *from, int64_t *to);
int64_t fp_kafka_lost_query(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t next,
                            int timeout_ms, int64_t *from, int64_t *to, fp_err *err);

/* Routes librdkafka's log lines of conf's handle through core/log (levels mapped, "kafka" as
 * the component), instead of librdkafka's own stderr format. */
void fp_kafka_conf_log(rd_kafka_conf_t *conf);

typedef struct fp_kafka_embedded fp_kafka_embedded;

/* Starts a mock cluster of `brokers` brokers on 127.0.0.1 (random free ports) and creates the
 * fms.* topics with `partitions` partitions each (other topics are auto-created on first use
 * with librdkafka's mock default of 4 partitions). */
fp_kafka_embedded *fp_kafka_embedded_start(int brokers, int partitions, fp_err *err);
/* "127.0.0.1:port,..." — valid until stop. */
const char *fp_kafka_embedded_bootstraps(const fp_kafka_embedded *e);
/* Creates one more topic (e.g. a test's own topic). */
fp_code fp_kafka_embedded_topic(fp_kafka_embedded *e, const char *topic, int partitions,
                                fp_err *err);
/* Test hook: the next `count` produce requests fail with `e` (e.g. MSG_SIZE_TOO_LARGE, which
 * the mock never returns by itself), to prove what clients do with errors a real cluster
 * gives. */
void fp_kafka_embedded_fail_produce(fp_kafka_embedded *e, int count, rd_kafka_resp_err_t err);
/* Stops the brokers; all data is gone. NULL is fine. */
void fp_kafka_embedded_stop(fp_kafka_embedded *e);

#endif
