/* sink.h — the sink plugin interface of the connect runtime (Fluent Bit style).
 *
 * A sink is one `const fp_sink_plugin` (name, config table, callbacks) in its own folder under
 * src/sink/<name>/, listed once in connect/registry.c. The runtime owns everything around the
 * sink: consuming, transforms, dead letters, retries with backoff, pausing, offset commits.
 *
 * Delivery contract. The runtime commits, per partition, min(position, uncommitted_from()):
 * position is the next offset the runtime has fully handled (put OK or dead-lettered), and
 * uncommitted_from() is the lowest offset the sink still holds in a non-durable state. A sink
 * that writes synchronously returns INT64_MAX. So a record is committed only when the sink says
 * it is durable. After RETRY or ERROR from put/flush the runtime never assumes anything of that
 * call was kept: on RETRY it pauses, waits (core/backoff.h), calls close() for every assigned
 * partition (discard what is not durable), calls open() again, seeks back to the committed
 * offsets and replays — so sinks must be idempotent for a replayed range.
 *
 * open() answers count too: RETRY (at an assignment or at a retry's rewind) takes the same
 * retry path as a put() RETRY (pause, back off, close every partition, rewind to the committed
 * offsets, open again); ERROR fails the task, with the sink's error as its trace. So a sink may
 * check at open() what put() would otherwise find out later (a connection, credentials). After
 * a failed open() the runtime may still call close() for that partition, and calls no put()
 * before an open() of every assigned partition returned OK.
 *
 * Threads: one instance per task thread; all callbacks for an instance come from that thread.
 * Ownership: records passed to check()/put() are valid only during the call.
 */
#ifndef FP_CONNECT_SINK_H
#define FP_CONNECT_SINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "core/props.h"
#include "core/stop.h"
#include "xform/xform.h"

typedef enum fp_sink_rc {
    FP_SINK_OK = 0,
    FP_SINK_RETRY, /* transient (store unavailable, disk full): the runtime retries, never skips */
    FP_SINK_ERROR, /* permanent: the task goes FAILED */
} fp_sink_rc;

/* One Kafka header of a record (raw sinks only, see fp_sink_plugin.raw): name is
 * NUL-terminated; value is NULL for a header without a value. Valid only during the call. */
typedef struct fp_sink_header {
    const char *name;
    const void *value;
    size_t len;
} fp_sink_header;

/* One transformed record. A Kafka message may give several (a split transform) with the same
 * offset; a put() batch always holds all records of every message in it. */
typedef struct fp_sink_rec {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* Kafka record timestamp, -1 if none */
    const char *key;      /* may be NULL */
    size_t key_len;
    const char *value; /* transformed JSON object, no newline; raw sinks: the message's bytes as
                          they are (any bytes, newlines too), NULL for a tombstone */
    size_t len;
    int64_t sink_ts;               /* scratch for the sink: check() may store a parsed time here */
    const fp_sink_header *headers; /* raw sinks only (NULL otherwise): the message's headers in
                                      their order, nheaders of them */
    size_t nheaders;
    const fp_xform_member *members; /* sinks with fp_sink_plugin.members (NULL otherwise): the
                                       value's top-level members, each key once, as offsets
                                       into value; nmembers of them */
    size_t nmembers;
} fp_sink_rec;

/* Counters a sink keeps up to date for status lines (read from other threads). */
typedef struct fp_sink_stats {
    _Atomic uint64_t objects; /* objects / batches made durable */
    _Atomic uint64_t bytes;   /* bytes made durable */
    _Atomic uint64_t records; /* records made durable */
} fp_sink_stats;

/* How a sink writes records of its own to Kafka (objstore's object-committed events): on the
 * runtime's producer, the connector's one producer shared by its tasks (idempotent, acks=all,
 * producer.override.* applied; it also carries the dead letters). Produces value (key may be
 * NULL with key_len 0) to topic and blocks until its delivery report: FP_OK only when the
 * broker acknowledged the record; FP_ERR_IO when no report came within timeout_ms (the record
 * may still be delivered later: at least once), else the producer's error. Thread-safe: any
 * thread of the sink instance (objstore's upload thread) may call it while the instance lives.
 */
typedef fp_code (*fp_sink_emit_fn)(void *emit_arg, const char *topic, const void *key,
                                   size_t key_len, const void *value, size_t len,
                                   int64_t timeout_ms, fp_err *err);

/* How a sink produces records of its own without waiting for each (the aggregate connector's
 * windows): queued on the runtime's producer; the runtime waits for every queued record's
 * delivery before it commits offsets, and a record Kafka did not take fails the task before
 * anything past it is committed (as for a dead letter). A full queue waits for room (up to
 * 60 s, not past a stop). FP_OK: queued. Task thread only. */
typedef fp_code (*fp_sink_produce_fn)(void *task_arg, const char *topic, const void *key,
                                      size_t key_len, const void *value, size_t len, fp_err *err);

/* How a sink dead-letters one record of a put() batch (a late sample) while keeping the rest:
 * value and key of rec go to errors.deadletterqueue.topic.name with the usual headers, their
 * error.class = reason ("late") and error.message = msg, plus source.record = index (the record's
 * place among its message's records). Counted as a dead letter; acknowledged before the next
 * commit. With errors.tolerance=none it answers FP_ERR_INVALID (the sink returns ERROR: the task
 * fails); without a dead-letter topic the record is counted as dropped. Task thread only. */
typedef fp_code (*fp_sink_dead_letter_fn)(void *task_arg, const fp_sink_rec *rec, int index,
                                          const char *reason, const char *msg, fp_err *err);

/* Whether the task has read topic/partition to its end: the consumer reported the end of the
 * partition and no record came since (an idle rule must not fire while the task is merely behind,
 * paused or rebalancing). Task thread only. */
typedef bool (*fp_sink_caught_up_fn)(void *task_arg, const char *topic, int32_t partition);

typedef struct fp_sink_ctx {
    const char *connector;      /* connector name */
    int task;                   /* task number */
    fp_sink_stats *stats;       /* owned by the runtime */
    fp_sink_emit_fn emit;       /* the runtime's producer (above); NULL where there is none (unit
                                   tests): a sink that needs it fails create() with FP_ERR_CONFIG */
    void *emit_arg;             /* passed to emit */
    fp_sink_produce_fn produce; /* NULL where there is none (unit tests) */
    fp_sink_dead_letter_fn dead_letter; /* NULL where there is none */
    fp_sink_caught_up_fn caught_up;     /* NULL where there is none: read as caught up */
    void *task_arg;                     /* passed to produce and dead_letter */
    const fp_stop *stop; /* the worker's stop token (SIGINT/SIGTERM): a sink waiting in a
                            retry pause gives up and returns RETRY (replayed on the next run);
                            an idle stop or a connector update does not request it, so final
                            flushes still retry; may be NULL */
} fp_sink_ctx;

typedef struct fp_sink_plugin {
    const char *name;           /* connector.class */
    const char *const *aliases; /* other accepted connector.class values, NULL-terminated */
    const char *summary;
    const fp_conf_def *config; /* the sink's own keys */
    const char *help;          /* extra help text (may be NULL) */

    /* Validates and claims the sink's keys (fp_conf_apply marks them used) and creates one
     * instance for a task. ctx outlives the instance. */
    fp_code (*create)(fp_props *props, const fp_sink_ctx *ctx, void **out, fp_err *err);
    /* A partition was assigned to this task, or is opened again after a retry's close(). RETRY:
     * retried with backoff; ERROR: the task goes FAILED (see the top of this file). */
    fp_sink_rc (*open)(void *s, const char *topic, int32_t partition, fp_err *err);
    /* Per-record conversion check, before put (may be NULL). FP_ERR_INVALID: the record's
     * message goes to the dead-letter path and none of its records reach put(). */
    fp_code (*check)(void *s, fp_sink_rec *rec, fp_err *err);
    /* Accepts a batch. OK does not mean durable: see uncommitted_from(). */
    fp_sink_rc (*put)(void *s, fp_sink_rec *recs, size_t n, fp_err *err);
    /* Called often (every loop, ~100 ms): do time-based work (rotation by wall clock). closing:
     * the task stops — make everything durable that can be. */
    fp_sink_rc (*flush)(void *s, int64_t now_ms, bool closing, fp_err *err);
    /* Lowest offset of the partition not yet durable, INT64_MAX when everything put is. */
    int64_t (*uncommitted_from)(void *s, const char *topic, int32_t partition);
    /* The partition was revoked (or is being replayed): discard everything not durable. */
    void (*close)(void *s, const char *topic, int32_t partition);
    void (*destroy)(void *s);
    /* Optional (NULL: no state in commits). A sink whose state outlives single records (the
     * aggregate connector's watermark) keeps it with the offsets, in Kafka's offset-commit
     * metadata: commit_metadata() is asked each time the runtime commits `offset` for the
     * partition (the string is copied; NULL: none), and the runtime commits when the offset
     * advanced or the string changed; restore() is called before every open() (assignment and
     * retry rewind) with the offset the replay starts at (-1: no commit) and the metadata
     * committed with it ("" when none). */
    const char *(*commit_metadata)(void *s, const char *topic, int32_t partition, int64_t offset);
    void (*restore)(void *s, const char *topic, int32_t partition, int64_t committed,
                    const char *metadata);
    /* Optional: true while the sink is over its memory budget; the runtime then pauses the
     * task's partitions (backpressure, nothing dropped) and keeps calling flush(). */
    bool (*hold)(void *s);
    /* Optional (NULL: false). True when this instance (by its config: objstore's
     * format.envelope) takes every Kafka message as it is: no JSON validation and no transforms
     * (a connector with transforms is a config error), one record per message, with the
     * message's headers; tombstones are records too (value NULL). Asked once, after create(). */
    bool (*raw)(void *s);
    /* True: every record comes with its top-level members (fp_sink_rec.members), which the
     * transforms chain notes as it writes the record, so the sink finds fields without scanning
     * the JSON again. */
    bool members;
} fp_sink_plugin;

/* The registry (connect/registry.c). */
extern const fp_sink_plugin *const fp_sink_plugins[];
const fp_sink_plugin *fp_sink_find(const char *connector_class);
/* For tests: makes p findable by fp_sink_find (by name only; it is not listed in
 * fp_sink_plugins[], so help and GET /connector-plugins do not show it). One at a time (NULL
 * removes it); call before fp_connect_add, from the thread that adds connectors. */
void fp_sink_register_test(const fp_sink_plugin *p);

#endif
