/* kafka.h — librdkafka glue shared by every command that talks to Kafka: error mapping into
 * fp_err, config helpers, and the embedded development broker.
 *
 * The embedded broker is librdkafka's Kafka-protocol mock cluster (rdkafka_mock.h): real wire
 * protocol on loopback, consumer groups with offset commits, but everything lives in the memory
 * of the process that started it and is gone when that process stops. It is for development,
 * tests and the demo — never for data you want to keep. Each partition keeps only its newest
 * 5 MiB (a hard-coded mock limit; older messages vanish), so spread volume over partitions, and
 * run fp_kafka_embedded_watch_drops() so that what vanishes is logged. A command given no
 * --bootstrap-servers starts one in-process (fp_kafka_embedded_start) and talks to it over
 * loopback like any client.
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
 * librdkafka 2.0 looks at a full queue again only when its broker thread wakes up, after at
 * most 1 s (rd_kafka_max_block_ms; 2.2 added fetch.queue.backoff.ms): a consumer that polls
 * with an fp_kafka_waker (kafka/wake.h; connect's tasks and lake watch do) wakes it once the
 * queue drained to half. Without one, a queue smaller than about one second of a task's
 * throughput idles the task on a backlog. Why not smaller even so: with the waker an 8 MiB
 * queue still cost 14% of a 2-task worker's rate and saved less memory than it should (65-70
 * MiB against 80-98; bench/memory.sh, docs/performance.md "Memory"). A consumer that keeps up
 * never fills it. These are the defaults of a consumer given no share of a budget (lake watch);
 * connect's tasks each get a share of the worker's budget instead (connect.h,
 * FP_CONNECT_MEMORY_BUDGET: the queue, the fetch size and the put() batch bounded together). */
#define FP_KAFKA_QUEUED_MAX_KBYTES 32768
#define FP_KAFKA_FETCH_MAX_BYTES (4 * 1024 * 1024)
#define FP_KAFKA_QUEUED_MIN_MESSAGES 10000
/* librdkafka's floor of fetch.max.bytes: its message.max.bytes default (1000000). */
#define FP_KAFKA_FETCH_MIN_BYTES 1000000

/* How every fleetpipe consumer is configured. Fixed, because the caller alone decides what is
 * committed: enable.auto.commit=false and enable.auto.offset.store=false. Defaults a caller's
 * overrides may change: auto.offset.reset=earliest, fetch.wait.max.ms=100 (a fetch that finds
 * nothing holds up partitions that became fetchable meanwhile; 500 ms, the default, showed as
 * stalls) and the prefetch budget (FP_KAFKA_QUEUED_MAX_KBYTES and friends). librdkafka's log lines
 * go through core/log. */
typedef struct fp_kafka_consumer_opts {
    const char *bootstrap; /* required */
    const char *group;     /* group.id (required by librdkafka even for assign()-only use) */
    const char *client_id; /* NULL: librdkafka's default */
    /* Group membership, before the overrides (so consumer.override.* still wins):
     * - dev_broker (fp_kafka_is_dev_broker): dynamic members, session.timeout.ms 3000,
     *   heartbeat.interval.ms 1000. librdkafka 2.0.2's mock cluster ignores group.instance.id
     *   and starts every rebalance of a running group with a wait of session.timeout.ms - 1 s,
     *   so a short session is what makes a restart or a config update fast there.
     * - otherwise session.timeout.ms FP_KAFKA_SESSION_MS (Kafka Connect's 10 s) and, with an
     *   instance_id, static membership (KIP-345): a restarted process with the same id takes
     *   its partitions back at once. Give a stable id per worker (and task), never one shared
     *   by two live consumers of a group: the broker fences the older one. */
    bool dev_broker;
    const char *instance_id;    /* NULL: dynamic membership */
    int64_t session_timeout_ms; /* 0: FP_KAFKA_SESSION_MS (or the dev broker's 3000) */
    bool partition_eof;         /* deliver RD_KAFKA_RESP_ERR__PARTITION_EOF events */
    /* Properties whose key starts with override_prefix are set with the prefix stripped and
     * marked used (Kafka Connect's consumer.override.*); overrides may be NULL. */
    fp_props *overrides;
    const char *override_prefix;
    /* This consumer's share of a memory budget (connect's --memory-budget-mb splits one per
     * task: docs/connect.md "Memory budget"); 0: the FP_KAFKA_* defaults above. Set before the
     * overrides, so consumer.override.* still wins. fetch_max_bytes is raised to
     * FP_KAFKA_FETCH_MIN_BYTES (librdkafka refuses less), and max.partition.fetch.bytes follows
     * it when it is below librdkafka's 1 MiB. */
    int64_t queue_kbytes;    /* queued.max.messages.kbytes */
    int64_t fetch_max_bytes; /* fetch.max.bytes */
    /* Callbacks and other settings made by the caller (rebalance_cb, opaque); may be NULL.
     * Taken: freed here on failure, owned by the handle on success. */
    rd_kafka_conf_t *conf;
} fp_kafka_consumer_opts;

#define FP_KAFKA_SESSION_MS 10000
#define FP_KAFKA_DEV_SESSION_MS 3000

/* Whether bootstrap is the development broker (librdkafka's mock cluster: `fleetpipe broker` or
 * the in-process one), by its cluster id ("mockCluster..."); false when the cluster does not
 * answer within timeout_ms (counted as a real one). One short-lived client per call. */
bool fp_kafka_is_dev_broker(const char *bootstrap, int timeout_ms);
/* The same through an existing client handle. */
bool fp_kafka_is_dev_cluster(rd_kafka_t *rk, int timeout_ms);

/* A consumer with the poll queue redirected to the consumer queue (rd_kafka_poll_set_consumer).
 * NULL with err set (FP_ERR_CONFIG naming a bad key and value). The caller owns the handle and
 * ends it with fp_kafka_consumer_close(). */
rd_kafka_t *fp_kafka_consumer_new(const fp_kafka_consumer_opts *o, fp_err *err);

/* Bounded stops. librdkafka's synchronous rd_kafka_commit() and rd_kafka_consumer_close() wait
 * without a deadline for the group coordinator: with Kafka gone a SIGTERM took ~95 s. Every
 * fleetpipe consumer commits and closes through these two instead, so a stop spends at most
 * FP_KAFKA_COMMIT_MS in its final commit and FP_KAFKA_CLOSE_MS in its close (10 s together:
 * docs/connect.md, docs/lake.md). A broker that answers in time still gets the commit and the
 * LeaveGroup; there is no shortcut on "all brokers down" (one may have just come back). */
#define FP_KAFKA_COMMIT_MS 5000
#define FP_KAFKA_CLOSE_MS 5000

/* Commits offsets (as rd_kafka_commit) and waits at most timeout_ms for the coordinator's
 * answer. Returns the request's error, RD_KAFKA_RESP_ERR__TIMED_OUT when no answer came in
 * time (the request may still land later: callers only ever commit durable offsets, so a late
 * commit is as right as an early one); per-partition errors are copied into offsets' err. The
 * caller treats any error as "not committed" (the records are replayed next time). Call from
 * the thread that polls the consumer (a rebalance callback included). */
rd_kafka_resp_err_t
fp_kafka_commit_bounded(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *offsets, int timeout_ms);

/* Closes and destroys a consumer in at most about timeout_ms: rd_kafka_consumer_close_queue(),
 * serving its queue (a rebalance there is handed to rebalance_cb with the handle's opaque, the
 * same callback the conf got; NULL: a plain unassign) until rd_kafka_consumer_closed() or the
 * deadline, then rd_kafka_destroy_flags(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE) on a thread of its
 * own, waited for until the same deadline (at least 1 s; librdkafka's destroy also waits for the
 * group's outstanding requests), then left to finish in the background. A close cut short is
 * logged (WARN, naming who): the group moves the partitions after the session timeout instead
 * of at once; nothing else is lost. rk is gone either way (never use it after); NULL is fine. */
void fp_kafka_consumer_close(rd_kafka_t *rk, int timeout_ms,
                             void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                  rd_kafka_topic_partition_list_t *, void *),
                             const char *who);

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

/* Checks a --bootstrap-servers value the user gave: a comma-separated list of host:port (an
 * optional scheme:// prefix, IPv6 in brackets), port 1..65535. Empty, a bare host (librdkafka
 * would quietly add :9092) or junk is FP_ERR_CONFIG naming `what` (the flag) and the value.
 * Only an absent flag may mean "start the embedded broker": callers check NULL first. */
fp_code fp_kafka_bootstrap_check(const char *what, const char *bootstrap, fp_err *err);

/* Routes librdkafka's log lines of conf's handle through core/log (levels mapped, "kafka" as
 * the component), instead of librdkafka's own stderr format. */
void fp_kafka_conf_log(rd_kafka_conf_t *conf);

/* An integer property of a client's effective configuration (after every default and
 * override), dflt when it is unset, not a positive integer or unknown. Any thread. */
int64_t fp_kafka_conf_int(rd_kafka_t *rk, const char *key, int64_t dflt);

/* The embedded broker's limits, from librdkafka 2.0.2's rdkafka_mock.c (mpart->max_size,
 * mpart->max_cnt): per partition, the newest 5 MiB of record batches, and at most 100,000
 * batches. A record batch costs at least 61 bytes of header, so 100,000 batches exceed 5 MiB:
 * the size cap is the one that bites. Older batches are deleted whole. */
#define FP_KAFKA_EMBEDDED_PARTITION_BYTES (5 * 1024 * 1024)
#define FP_KAFKA_EMBEDDED_PARTITION_BATCHES 100000
/* Default partitions of the fms.* topics for `fleetpipe broker`, the demo and connect's
 * embedded broker: 64 x 5 MiB = 320 MiB per topic, over three times the largest laptop load
 * (bench/connect.sh's 100 MB) and a hundred times the demo's 2-3 MB. Memory is used only as
 * data arrives. */
#define FP_KAFKA_EMBEDDED_PARTITIONS 64

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
/* Starts a thread (owned by e, ended by fp_kafka_embedded_stop) that asks every partition of
 * every topic for its log start offset each interval_ms and, when it moved, logs a WARN through
 * core/log ("broker" as the component) naming topic, partition and how many messages the
 * broker dropped and why, ending in machine-readable fields:
 *   topic=T partition=P dropped=N dropped_total=M log_start=S
 * (dropped_total = log_start: this broker deletes only to stay within its cap). Call once. */
fp_code fp_kafka_embedded_watch_drops(fp_kafka_embedded *e, int interval_ms, fp_err *err);
/* Messages dropped so far over every partition, as of the watcher's last check (0 without a
 * watcher). Any thread. */
int64_t fp_kafka_embedded_dropped(const fp_kafka_embedded *e);
/* Stops the brokers; all data is gone. NULL is fine. */
void fp_kafka_embedded_stop(fp_kafka_embedded *e);

#endif
