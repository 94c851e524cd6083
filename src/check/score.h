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

/* One failing row of a raw-data check: the anomaly kind its check detects and the message it
 * names (vehicle id and message seq). */
typedef struct fp_check_hit {
    const char *anomaly;
    int64_t id, seq;
} fp_check_hit;

/* Reads the truth file (fleetpipe sim --truth: one line per anomalous message) and scores hits
 * against it, per anomaly kind: *report = {"kinds": {kind: {"truth", "detected", "true_positive",
 * "precision", "recall"}}, ...}. Only truth messages whose samples fall in [from_ms, to_ms)
 * count (0, 0: all). Kinds in the truth that no hit names are reported with recall 0. */
fp_code fp_check_score(const char *truth_path, const fp_check_hit *hits, size_t nhits,
                       int64_t from_ms, int64_t to_ms, json_t **report, fp_err *err);

#endif
