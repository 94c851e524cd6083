/* connect_int.h — what the files of the connect runtime share: the connector, task and
 * partition structs and the functions one file calls in another. Not for use outside
 * src/connect/ (the API is connect.h; sinks see only sink.h).
 *
 * Files and threads: connect.c (runtime, lifecycle, management calls: the controlling thread and
 * management callers under fp_connect.mu), task.c (the task engine: one task thread each),
 * deadletter.c (the dead-letter path: task threads, and librdkafka's delivery reports),
 * views.c (JSON views, validation, help: management callers under fp_connect.mu) and metrics.c
 * (scrapes and health: any thread, under fp_connect.mu).
 */
#ifndef FP_CONNECT_INT_H
#define FP_CONNECT_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "connect/connect.h"
#include "connect/sink.h"
#include "core/backoff.h"
#include "core/time.h"
#include "kafka/wake.h"
#include "xform/xform.h"

typedef struct conn_conf {
    char *name, *cls, *topics_regex, *tolerance, *dlq_topic, *age_field;
    fp_strv topics;
    int64_t tasks_max, retry_timeout, retry_delay_max, commit_interval;
    bool dlq_headers, log_errors, log_messages;
} conn_conf;

/* The runtime keys of every connector (connect.c). */
extern const fp_conf_def fp_connect_conn_defs[];

enum { T_STARTING, T_RUNNING, T_STOPPED, T_FAILED };

/* One task's share of the worker's memory budget (connect.c, fp_connect_budget_split), and what
 * its consumer ended up with after consumer.override.* (read back from librdkafka at the
 * task's start). Written once by fp_connect_task_init, read by metrics and logs afterwards. */
typedef struct task_budget {
    int64_t share;        /* bytes: the worker's budget / its tasks */
    int64_t queue_kbytes; /* queued.max.messages.kbytes asked for (share - 2 fetch - 2 batch) */
    int64_t
        fetch_max_bytes; /* fetch.max.bytes asked for (share / 8, at least librdkafka's floor) */
    int64_t batch_bytes; /* transformed bytes per put() (share / 8) */
    /* effective, after consumer.override.*: */
    int64_t eff_queue_kbytes, eff_fetch_max_bytes, eff_partition_fetch_bytes;
} task_budget;

/* The split of fp_connect_opts.memory_budget for one of ntasks tasks (docs/connect.md, "Memory
 * budget"); the effective fields are left 0. */
void fp_connect_budget_split(int64_t budget, int64_t ntasks, task_budget *out);

typedef struct tpart {
    char *topic;
    int32_t partition;
    int64_t committed; /* offset the group has; <0: none yet */
    int64_t position;  /* next offset fully handled; <0: unknown */
    bool eof;
    bool rewound;      /* sought to position: its first message must be at position, not past it */
    int64_t gap_at;    /* first offset seen past position after a rewind, -1: none */
    int64_t fetched;   /* offset after the last message the consumer delivered; -1: none yet */
    int64_t lost_upto; /* end of the lost range already reported (nothing below it again) */
    char *meta;        /* owned: the sink's metadata committed with `committed` ("" none) */
    /* Record age (fleetpipe_connect_record_age_seconds): the event time of every message put
     * and not yet durable, in offset order, [ageh, agen) of agev; observed once the commit
     * point (position, uncommitted_from) passes it, discarded at a rewind or revoke. */
    struct tage {
        int64_t offset, event_ms;
    } * agev;
    size_t ageh, agen, agecap;
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
    int64_t *msgev; /* per message of the batch: its record.age.field time, -1 none */
    size_t nmsgs;
    fp_time_iso_cache agecache; /* parses record.age.field (task thread) */
    fp_xform_out xout;
    task_budget mem; /* set by fp_connect_task_init, then read-only */
    size_t *outmsg;
    int64_t *outts;
    size_t outcap;
    fp_sink_rec *recs;
    size_t reccap;
    /* raw sinks (sink.h, fp_sink_plugin.raw): messages skip the chain, and each batch's headers
     * are collected here for the records of batch_put() */
    bool raw;
    fp_sink_header *hdrs;
    size_t hdrcap;
    /* retry state */
    bool retrying;
    int attempts;
    int64_t retry_at, retry_delay, retry_since;
    fp_backoff backoff; /* the retry episode's delays (reset when an episode starts) */
    bool dlq_pending;   /* dead letters or sink records queued since the last commit */
    int64_t last_msg_mono, last_commit_mono;
    bool had_assignment;
    bool failed_on_record; /* FAILED by a bad record: what came before it is still good */
    bool paused_applied;   /* the connector's pause flag (or the sink's hold) as applied */
    bool held;             /* paused_applied because of the sink's hold() */
    _Atomic int state;
    _Atomic bool idle;
    /* Set before the stop when this task id goes away (delete, tasks.max decrease): a static
     * member then leaves the group explicitly, since its close alone does not (KIP-345). */
    _Atomic bool leave;
    bool revoked; /* the last rebalance event was a revoke (task thread) */
    /* Task thread: set at stop; a final commit that did not reach Kafka sets commit_gave_up,
     * and the revoke of the close then does not try (and wait) again. */
    bool stopping, commit_gave_up;
    _Atomic uint64_t in, dead, retries;
    /* Task thread: wakes librdkafka's fetcher once the full prefetch queue drained (kafka/wake.h);
     * NULL when its thread could not start. fetch_wakes: its wake calls so far (metrics, totals;
     * kept after the waker is freed at the stop). */
    fp_kafka_waker *waker;
    _Atomic uint64_t fetch_wakes;
    /* metrics: put+flush time per tick that put something, records per put() */
    fp_metrics_hist latency, batch;
    fp_metrics_hist age;          /* wall time when durable minus the record's event time */
    _Atomic uint64_t age_skipped; /* messages not observed: the queue of a partition was full */
    int64_t pending_lat_us;       /* put time since the last flush */
    int64_t last_lag_mono;
    pthread_mutex_t mu; /* guards lags and trace (read by scrapes and status) */
    struct tlag {
        char *topic;
        int32_t partition;
        int64_t lag;
    } * lags;
    size_t nlags;
    char trace[FP_ERR_MSG_MAX + 256]; /* why the task FAILED */
    /* Honesty (task.c writes; status, metrics and health read). Atomics, and under mu: */
    _Atomic uint64_t lost;    /* records retention deleted before they were consumed */
    _Atomic uint64_t dropped; /* bad records dropped: errors.tolerance=all, no dead-letter topic */
    _Atomic int64_t kafka_down_since; /* mono ms of librdkafka's ALL_BROKERS_DOWN / TRANSPORT
                                         error (error_cb), until a probe reaches a broker; 0 */
    _Atomic int64_t unjoined_since;   /* mono ms of the start or the last revoke while no
                                         assignment came since; 0: the group assigned */
    _Atomic int64_t retrying_since;   /* mono ms the current sink retry episode started; 0 */
    _Atomic bool lag_known;           /* every assigned partition's lag is known */
    int64_t last_probe_mono;          /* task thread */
    char kafka_error[256];            /* under mu: librdkafka's last transport error */
    struct tlost {                    /* under mu: lost records per partition (the metric) */
        char *topic;
        int32_t partition;
        uint64_t n;
    } * losts;
    size_t nlosts;
    struct tlost_range { /* under mu: the last lost range */
        char topic[256];
        int32_t partition;
        int64_t from, to;
    } last_lost;
} task;

struct connector {
    fp_connect *rt;
    conn_conf cf;
    fp_props props;
    const fp_sink_plugin *plugin;
    /* The connector's producer, shared by its tasks and their sinks (thread-safe): dead letters
     * and sink records (fp_sink_ctx.emit). Created at start when a dead-letter topic is set,
     * else on the first emit; prod_lock guards the pointer (fp_connect_producer). */
    rd_kafka_t *prod;
    pthread_mutex_t prod_lock;
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

/* How task consumers join their group (decided at the first connector start, under mu). */
enum { FP_MEMBERS_UNKNOWN, FP_MEMBERS_DEV, FP_MEMBERS_STATIC, FP_MEMBERS_DYNAMIC };

struct fp_connect {
    char *bootstrap, *worker_id;
    fp_connect_opts o;
    pthread_mutex_t mu; /* guards conns/nconns and every connector's start/stop */
    int members;        /* FP_MEMBERS_*: see fp_connect_task_init() */
    bool started;
    connector **conns;
    size_t nconns;
    _Atomic bool stop; /* idle stop or teardown; SIGINT/SIGTERM come through o.stop */
};

/* ---- connect.c */

/* The connector named name (its index in c->conns into *idx when idx is not NULL); c->mu held. */
connector *fp_connect_find(fp_connect *c, const char *name, size_t *idx);

/* FP_ERR_CONFIG `topics.regex "<re>": <reason>` when librdkafka could not compile re as a
 * subscription (it uses POSIX extended regular expressions, anchored at the start). */
fp_code fp_connect_regex_check(const char *re, fp_err *err);

/* ---- task.c (the task thread) */

/* Sets up task id of k: transform chain, sink instance, consumer subscribed to the topics. */
fp_code fp_connect_task_init(connector *k, task *t, int id, fp_err *err);
/* The task thread (pthread start routine; arg is the task). */
void *fp_connect_task_main(void *arg);
/* Marks the task FAILED with msg as its trace. */
void fp_connect_task_fail(task *t, const char *msg);
/* Whether k's tasks should stop: the owner's token, the runtime's idle stop, k's own stop. */
bool fp_connect_stopping(const connector *k);

/* ---- deadletter.c */

/* The connector's producer, created on the first call (producer.override.* applied); NULL with
 * err set when it cannot be created. Any thread. */
rd_kafka_t *fp_connect_producer(connector *k, fp_err *err);
/* Waits up to ms for the producer's outstanding messages (none: no producer yet). Any thread. */
void fp_connect_producer_flush(connector *k, int ms);
/* Destroys the producer once its users are gone (tasks joined, sinks destroyed): what is still
 * queued is dropped, and waiting emits are told so. */
void fp_connect_producer_free(connector *k);
/* fp_sink_emit_fn of the runtime (arg: the connector). */
fp_code fp_connect_emit(void *arg, const char *topic, const void *key, size_t key_len,
                        const void *value, size_t len, int64_t timeout_ms, fp_err *err);
/* Sends a bad message to the dead-letter path, or fails the task (errors.tolerance=none).
 * Returns false when the task must stop. Task thread. */
bool fp_connect_dead_letter(task *t, tpart *tp, rd_kafka_message_t *m, const fp_err *why);
/* fp_sink_produce_fn and fp_sink_dead_letter_fn of the runtime (arg: the task). */
fp_code fp_connect_sink_produce(void *arg, const char *topic, const void *key, size_t key_len,
                                const void *value, size_t len, fp_err *err);
fp_code fp_connect_sink_dead_letter(void *arg, const fp_sink_rec *rec, int index,
                                    const char *reason, const char *msg, fp_err *err);

/* ---- metrics.c */

/* How long a task may stay without an assignment after its start or a revoke, and a sink
 * retry episode may last, before health says so (503). */
#define FP_CONNECT_UNASSIGNED_BOUND_MS 30000
#define FP_CONNECT_RETRY_BOUND_MS 60000

/* Why task t cannot consume (Kafka unreachable, group not joined), into why; false when it
 * can. Any thread. */
bool fp_connect_task_blocked(task *t, char *why, size_t n);

/* ---- views.c */

/* The task's state as the REST status and the metrics name it: RUNNING, PAUSED, FAILED,
 * UNASSIGNED. */
const char *fp_connect_task_state(const connector *k, task *t);

#endif
