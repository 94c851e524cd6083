/* window.h — the event-time window state of the aggregate connector, one input partition at a
 * time: tumbling windows per group key, the partition's watermark, and what a replay must skip.
 * Kept apart from the plugin (aggregate.c: config, JSON parsing, Kafka) so unit tests pin the
 * rules down.
 *
 * Rules. Stream time S = the largest event time added; watermark W = max(W, S - lateness), and
 * the idle rule may raise it further (fp_agg_part_advance). A window [start, start+size) closes
 * when W >= its end: it is emitted (final) and forgotten. A sample whose window has closed is
 * late. State is one entry per open window (never per sample), so memory is bounded by the
 * number of open windows.
 *
 * Replay. The connector commits, per partition, the first offset an open window still needs
 * (fp_agg_part_min_offset) with "W and the next unput offset P" as metadata. A replay restores
 * both (fp_agg_part_restore): every sample at an offset below P that does not belong to a window
 * still open at the commit (end > W) was handled before — aggregated into a window already
 * emitted, or dead-lettered — and is skipped, so a replay rebuilds exactly the open windows and
 * never emits a partial one.
 *
 * Threads and ownership: a part belongs to one task thread; windows own their key and group
 * text; everything a callback receives is valid only during the call.
 */
#ifndef FP_SINK_AGGREGATE_WINDOW_H
#define FP_SINK_AGGREGATE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

#define FP_AGG_NONE INT64_MIN /* no watermark / no stream time yet */

enum { /* aggregate.functions, as a bit set */
       FP_AGG_COUNT = 1,
       FP_AGG_SUM = 2,
       FP_AGG_MIN = 4,
       FP_AGG_MAX = 8,
       FP_AGG_AVG = 16,
       FP_AGG_FIRST = 32,
       FP_AGG_LAST = 64,
};

/* What every window of a connector has in common (owned by the plugin instance). */
typedef struct fp_agg_spec {
    int64_t size_ms, lateness_ms;
    size_t nfields;
    char **fields;  /* aggregated field names (borrowed) */
    unsigned funcs; /* FP_AGG_* */
} fp_agg_spec;

/* Per field statistics of one window; count 0: no sample had the field. */
typedef struct fp_agg_stat {
    uint64_t count;
    double sum, min, max, first, last;
    int64_t first_ts, last_ts;
} fp_agg_stat;

typedef struct fp_agg_win {
    int64_t start;
    int64_t first_offset; /* lowest input offset that contributed */
    uint64_t samples;
    uint32_t revision; /* emissions so far */
    bool dirty;        /* changed since its last emission */
    uint64_t hash;
    char *key; /* group key: the group fields' values joined by '#' */
    size_t klen;
    char *group; /* the group fields as JSON members: "id":350,"zone":1 */
    size_t glen;
    fp_agg_stat stat[]; /* spec->nfields */
} fp_agg_win;

/* One sample, as the plugin parsed it (pointers valid during the call). */
typedef struct fp_agg_sample {
    int64_t ts, offset;
    const char *key, *group;
    size_t klen, glen;
    const double *vals; /* spec->nfields */
    const bool *has;    /* whether the sample carries field i (absent or null: no) */
} fp_agg_sample;

typedef enum fp_agg_verdict {
    FP_AGG_ADDED,    /* in an open window */
    FP_AGG_LATE,     /* its window has closed: dead-letter it */
    FP_AGG_REPLAYED, /* handled before the restored commit: skip */
} fp_agg_verdict;

/* Called for each window that closes (final) or is emitted while open (update mode). */
typedef void (*fp_agg_emit_fn)(void *ctx, fp_agg_win *w, bool final);

typedef struct fp_agg_part fp_agg_part;

/* A partition's state. *open_windows counts the instance's open windows over all its parts
 * (the plugin's budget); spec and open_windows must outlive the part. */
fp_agg_part *fp_agg_part_new(const fp_agg_spec *spec, size_t *open_windows);
void fp_agg_part_free(fp_agg_part *p); /* NULL is fine; forgets its open windows */
/* Forgets every open window and sets the watermark and replay bound of a commit (FP_AGG_NONE
 * and -1 for a partition without a commit). */
void fp_agg_part_restore(fp_agg_part *p, int64_t watermark, int64_t replay_upto);
/* Adds a sample (offsets non-decreasing), then closes what the new watermark closes. */
fp_agg_verdict fp_agg_part_add(fp_agg_part *p, const fp_agg_sample *s, fp_agg_emit_fn emit,
                               void *ctx);
/* Whether offset was handled before the restored commit (a bad sample there is skipped, not
 * dead-lettered again). */
bool fp_agg_part_replayed(const fp_agg_part *p, int64_t offset);
/* Raises the watermark to at least w (the idle rule) and closes what it closes. */
void fp_agg_part_advance(fp_agg_part *p, int64_t w, fp_agg_emit_fn emit, void *ctx);
/* Emits every open window changed since its last emission (update mode), not final. */
void fp_agg_part_emit_dirty(fp_agg_part *p, fp_agg_emit_fn emit, void *ctx);
/* The end of the latest open window (FP_AGG_NONE: none open). */
int64_t fp_agg_part_last_end(const fp_agg_part *p);
/* Lowest offset an open window needs, INT64_MAX when none is open. */
int64_t fp_agg_part_min_offset(const fp_agg_part *p);
int64_t fp_agg_part_watermark(const fp_agg_part *p);
size_t fp_agg_part_open(const fp_agg_part *p);

/* Appends a window's output value (one JSON object, no newline) and its Kafka key
 * ("<group key>#<window start ISO>"). */
void fp_agg_win_value(const fp_agg_spec *spec, const fp_agg_win *w, bool final, fp_buf *out);
void fp_agg_win_key(const fp_agg_win *w, fp_buf *out);

#endif
