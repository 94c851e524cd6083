/* reconcile.h — the `reconcile` check kind: one interval counted in every store the pipeline
 * writes, per (vehicle, protocol): raw JSON lake, Parquet lake, PostgreSQL, DynamoDB, Redis
 * (docs/checks.md, "Cross-store reconciliation").
 *
 * Threads: one call at a time per fp_pg, as the runner.
 */
#ifndef FP_CHECK_RECONCILE_H
#define FP_CHECK_RECONCILE_H

#include <jansson.h>
#include <stdint.h>

#include "check/check.h"
#include "core/err.h"
#include "pg/pg.h"

/* Checks a reconcile check's object (its "stores" and "params") when the set loads; dir is its
 * file's directory. FP_ERR_CONFIG naming what otherwise. */
fp_code fp_check_reconcile_conf(const json_t *conf, const char *dir, const char *what, fp_err *err);

/* Counts [o->start_ms, o->end_ms) in every configured store and compares: *observed gets the
 * number of mismatching (vehicle, protocol, store) rows, *samples (malloc'd JSON array text, or
 * NULL) the first 20 of them. An error means the check could not run (a store unreachable). */
fp_code fp_check_reconcile(const json_t *conf, const fp_check_opts *o, fp_pg *pg, int64_t *observed,
                           char **samples, fp_err *err);

#endif
