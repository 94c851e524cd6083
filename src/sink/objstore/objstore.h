/* objstore.h — the pure parts of the objstore sink: object paths and names, rotation policy,
 * the committable offset, and replay reconciliation. Kept apart from I/O so unit tests pin
 * them down (tests/unit/test_objstore.c).
 *
 * Exactly-once, in one paragraph. Each partition has at most one open file; a file holds a
 * contiguous run of the partition's offsets and is named by the offset of its first record, so
 * a replay from that offset produces the same name. Rotation only happens between two Kafka
 * messages (never inside the records of one split message). The committable offset of a
 * partition is the start offset of its open file, or the next unprocessed offset when none is
 * open: every offset below it is in a durable object. A replay after a crash or rebalance
 * starts at the committed offset, which is always a file start; when the file it opens already
 * exists in the store, the earlier run made it, so the new file is forced to hold exactly as
 * many records as the existing one and rotates then, whatever flush.size, rotate.interval.ms or
 * rotate.schedule.interval.ms say: the replay reproduces the earlier cut points and rewrites
 * byte-identical objects. (Confluent's S3 sink gives up exactly-once with wall-clock rotation;
 * this reconciliation is why fleetpipe does not have to.) A forced file is never cut short:
 * on shutdown it is discarded and replayed next time.
 */
#ifndef FP_SINK_OBJSTORE_H
#define FP_SINK_OBJSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

/* Validates a Java DateTimeFormatter-style path format: YYYY/yyyy (year), MM, dd, HH, mm,
 * '...' quoted literals ('' is a quote); letters outside quotes must be one of the tokens. */
fp_code fp_objstore_path_check(const char *fmt, fp_err *err);
/* Appends the path of the time bucket holding epoch_ms (floor to duration_ms, UTC). */
void fp_objstore_path_format(const char *fmt, int64_t epoch_ms, int64_t duration_ms, fp_buf *out);
/* Appends <topics_dir>/<topic>/<path>/<topic>+<partition>+<start, 20 digits>.jsonl[.zst]. */
void fp_objstore_object_name(fp_buf *out, const char *topics_dir, const char *topic,
                             const char *path, int32_t partition, int64_t start_offset, bool zstd);

/* State of one open file, as far as rotation cares. */
typedef struct fp_objstore_filestate {
    const char *path;     /* time-bucket path of its records */
    int64_t start_offset; /* offset of its first record */
    int64_t first_ts;     /* record time of its first record */
    int64_t records;      /* records (lines) written */
    int64_t opened_mono;  /* monotonic ms when opened */
    int64_t forced;       /* replay: rotate after exactly this many records; -1: not a replay */
} fp_objstore_filestate;

typedef struct fp_objstore_rules {
    int64_t flush_size;         /* records per file */
    int64_t rotate_interval_ms; /* record-time span of a file; 0: off */
    int64_t rotate_schedule_ms; /* wall-clock age of a file; 0: off */
} fp_objstore_rules;

typedef enum fp_objstore_rotate {
    FP_OBJSTORE_KEEP = 0,
    FP_OBJSTORE_ROT_PATH,     /* the next record belongs to another time bucket */
    FP_OBJSTORE_ROT_SIZE,     /* flush.size reached */
    FP_OBJSTORE_ROT_INTERVAL, /* rotate.interval.ms of record time */
    FP_OBJSTORE_ROT_SCHEDULE, /* rotate.schedule.interval.ms of wall clock */
    FP_OBJSTORE_ROT_REPLAY,   /* replayed file reached the existing object's record count */
    FP_OBJSTORE_ROT_DIVERGED, /* replay saw another bucket before the count: not deterministic */
} fp_objstore_rotate;

const char *fp_objstore_rotate_name(fp_objstore_rotate r);
/* Before writing the first record of a new Kafka message (path, ts: that record's). */
fp_objstore_rotate fp_objstore_before_message(const fp_objstore_filestate *f,
                                              const fp_objstore_rules *r, const char *path,
                                              int64_t ts);
/* After a put() batch (always ends between messages). */
fp_objstore_rotate fp_objstore_after_batch(const fp_objstore_filestate *f,
                                           const fp_objstore_rules *r);
/* On the periodic tick. */
fp_objstore_rotate fp_objstore_on_tick(const fp_objstore_filestate *f, const fp_objstore_rules *r,
                                       int64_t now_mono);

/* Committable offset of a partition: the open file's start, else next_offset. */
int64_t fp_objstore_committable(const fp_objstore_filestate *open_file, int64_t next_offset);

#endif
