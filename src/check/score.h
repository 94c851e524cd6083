/* score.h — data-quality checks scored against the simulator's ground truth (`fleetpipe check
 * score`, docs/checks.md "Scoring").
 *
 * Threads: pure functions; any thread.
 */
#ifndef FP_CHECK_SCORE_H
#define FP_CHECK_SCORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* seq of a hit that names no message: a dead letter, counted per device (below). */
#define FP_CHECK_NO_SEQ (-1)

/* One failing row of a raw-data check: the anomaly kind its check detects (the simulator's
 * name, e.g. "gps_jump", "malformed_json") and the message it names: vehicle id and message
 * seq. A dead-letter row has seq FP_CHECK_NO_SEQ (or any negative seq) and as id the number in
 * its topic's device id (dev-000007: 7; 0 when the topic named none). The strings are not
 * kept after the call. */
typedef struct fp_check_hit {
    const char *anomaly;
    int64_t id, seq;
} fp_check_hit;

/* A field that the checks of an anomaly kind target (raw.json "anomaly_fields"): with any for a
 * kind, only its truth lines whose "detail" is "field <one of them>" (or names no field) are
 * scored; the others are reported as "untargeted" and left out like noop ones. */
typedef struct fp_check_scope {
    const char *anomaly, *field;
} fp_check_scope;

/* Reads the truth file (fleetpipe sim --truth: one line per anomalous message; lines with a
 * "kind" are the daily summaries and are skipped) and scores hits against it, per anomaly kind:
 *
 *   *report = {"from", "to", "truth_lines", "hits", "ignored",
 *              "kinds": {kind: {"match": "seq"|"count", "truth", "noop", "detected",
 *                               "true_positive", "false_positive", "false_negative",
 *                               "precision", "recall"[, "fields", "untargeted"]}}}
 *
 * Matching (docs/checks.md, "Scoring"): a message kind matches by (anomaly, vehicle_id, seq),
 * hits of one key counting once; a dead-letter kind (truth "dead_letter": true, or hits without
 * seq) matches by count per (anomaly, device number of the truth's mqtt_topic): true positives =
 * min(hits, truth) per device. Truth lines marked "noop" (the anomaly changed no byte) are left
 * out of "truth" and reported as "noop"; a hit on one, or on a truth line outside the interval,
 * is "ignored", never a false positive; so are lines outside the scope (above). precision (recall)
 * is null when nothing was detected (nothing was in the truth).
 *
 * Interval: with from_ms < to_ms, only truth lines whose "messaged_at" (the true send time) is
 * in [from_ms, to_ms) count; a truth line without one is then an error. 0, 0: every line. Kinds
 * in the truth that no hit names are reported with recall 0; kinds only hits name, with truth 0.
 * Errors: FP_ERR_IO (the file), FP_ERR_INVALID naming the file and line. */
fp_code fp_check_score(const char *truth_path, const fp_check_hit *hits, size_t nhits,
                       const fp_check_scope *scope, size_t nscope, int64_t from_ms, int64_t to_ms,
                       json_t **report, fp_err *err);

#endif
