/* check.h — fleetpipe's data-quality checks (docs/checks.md): declared in config/checks/ (every
 * .json), run over one interval against PostgreSQL, recorded in ops.dq_results.
 *
 * A check yields the failing rows of its interval: a `sql` check from its file's SELECT, the
 * built-in kinds (not_null, unique, accepted_range, accepted_values, relationships, row_count,
 * freshness) from SQL generated out of their keys. The count (and the ratio to a denominator)
 * against warn_if / error_if gives pass, warn or fail; a check that cannot run is error.
 *
 * Ownership and threads: an fp_check_set is immutable once loaded and may be shared by
 * threads; fp_check_run uses its own connection.
 */
#ifndef FP_CHECK_CHECK_H
#define FP_CHECK_CHECK_H

#include <jansson.h>
#include <stdint.h>

#include "check/alert.h"
#include "core/err.h"
#include "core/stop.h"

typedef struct fp_check_set fp_check_set;

/* Loads every *.json of a directory (in name order) or one file; FP_ERR_CONFIG naming the file
 * and check for unknown keys, duplicate names, bad rules, unreadable SQL or unknown templates. */
fp_code fp_check_set_load(const char *path, fp_check_set **out, fp_err *err);
void fp_check_set_free(fp_check_set *s);
/* The "alerts" object of the set's files (NULL: none) and the directory it came from. */
const json_t *fp_check_set_alerts(const fp_check_set *s);
const char *fp_check_set_dir(const fp_check_set *s);
/* Whether the set has checks whose file's "every" is every ("hour" or "day"). */
bool fp_check_set_has(const fp_check_set *s, const char *every);
/* The set's timezone (params.timezone, default Asia/Seoul): the zone of its days. */
const char *fp_check_set_timezone(const fp_check_set *s);

typedef struct fp_check_opts {
    const char *pg;           /* libpq connection string; never logged */
    int64_t start_ms, end_ms; /* the interval [start, end) */
    const char *ds;           /* its local start date, YYYY-MM-DD */
    const char *only;         /* comma-separated check names, or NULL: all */
    const char *every;        /* "hour" or "day": only the checks of files saying so (a file
                                 without "every" is "day"); NULL: all */
    fp_alert *alerts;         /* NULL: no alerts */
    const fp_stop *stop;
} fp_check_opts;

typedef struct fp_check_counts {
    int64_t checks, pass, warn, fail, error;
    json_t *results; /* array of {check, target, status, observed, ratio, threshold, error};
                        owned by the caller (json_decref) */
} fp_check_counts;

/* Runs the set's checks over one interval, records each result in ops.dq_results (created if
 * missing; a re-run replaces the interval's rows) and reports it to alerts. Returns an error
 * only when PostgreSQL cannot be reached; a check that fails to run is counted as error. */
fp_code fp_check_run(const fp_check_set *s, const fp_check_opts *o, fp_check_counts *c,
                     fp_err *err);

/* One local day as an interval. */
typedef struct fp_check_day {
    int64_t start_ms, end_ms; /* UTC */
    char ds[11];              /* YYYY-MM-DD */
} fp_check_day;

/* The local days [from, to) of timezone tz (YYYY-MM-DD; to NULL or "": from + 1 day) into *days
 * (*n of them, owned by the caller). Asks PostgreSQL, whose zone database the marts use too. */
fp_code fp_check_days(const char *pg, const char *tz, const char *from, const char *to,
                      fp_check_day **days, size_t *n, fp_err *err);

/* Runs every `sql` check with an "anomaly" key over [start, end) and scores all its failing
 * rows against the simulator's truth file (check/score.h): *report owned by the caller. */
fp_code fp_check_score_run(const fp_check_set *s, const fp_check_opts *o, const char *truth,
                           json_t **report, fp_err *err);

#endif
