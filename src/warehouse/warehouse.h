/* warehouse.h — the Parquet lake in PostgreSQL, daily marts as SQL files, and a scheduler
 * with Airflow's semantics (data intervals, catchup, retries, backfill) plus readiness from the
 * lake's watermark.
 *
 * The one thing to know: every unit of work replaces exactly its interval in one transaction —
 * a load replaces one (table, dt, hour) partition of schema `lake`, a mart task replaces one
 * data interval of its mart table — so any unit may run again (retry, re-run after a crash,
 * late data, backfill) and the database ends as after one clean run.
 *
 * Schemas (warehouse init): `lake` — one table per catalog table, the catalog's columns plus
 * dt (date) and hour (smallint) as in the lake's Hive partitions; `mart` — the marts, created
 * by config/warehouse/sql/schema.sql; `ops` — ops.loads (one row per loaded Parquet file) and
 * ops.runs (one row per DAG task and data interval).
 *
 * Threads: every call here runs on the calling thread with its own connection(s).
 */
#ifndef FP_WAREHOUSE_H
#define FP_WAREHOUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/stop.h"
#include "store/store.h"

/* ---- load (load.c) ---- */

typedef struct fp_wh_load_opts {
    const char *pg;       /* libpq connection string; never logged */
    const char *lake_url; /* file:///..., a directory, or s3://bucket/prefix */
    fp_store_opts store;  /* endpoint and credentials for s3:// */
    int64_t since_ms;     /* partitions (dt, hour) that overlap [since, until); INT64_MIN/MAX */
    int64_t until_ms;     /*   for no bound */
    const char *table;    /* only this catalog table; NULL or "": every table */
    bool text;            /* COPY in text format instead of binary (for measuring) */
    const fp_stop *stop;  /* may be NULL */
} fp_wh_load_opts;

typedef struct fp_wh_load_counts {
    int64_t partitions;         /* partitions considered */
    int64_t partitions_loaded;  /* replaced in PostgreSQL */
    int64_t partitions_skipped; /* every file unchanged since its load */
    int64_t partitions_failed;  /* rolled back (their error was logged) */
    int64_t files, rows, bytes; /* loaded */
    int64_t columns_added, columns_widened;
} fp_wh_load_counts;

/* Creates the schemas and the ops tables, and a lake table per catalog table of lake_url
 * (NULL: none); mart_schema_sql (NULL: none) is run as is (the marts' CREATE TABLE IF NOT
 * EXISTS statements). Idempotent. */
fp_code fp_wh_init(const char *pg, const char *lake_url, const fp_store_opts *store,
                   const char *mart_schema_sql, fp_err *err);

/* Loads every partition in range whose files changed since their load (new, rewritten or
 * removed files), one transaction per partition. A partition that fails is rolled back, logged
 * with table, dt, hour and file, counted, and the rest continue; the return is then
 * FP_ERR_INVALID (bad file or schema) or FP_ERR_IO (PostgreSQL or the store) for the first
 * failure. A lost connection is reconnected and the partition retried with backoff before it
 * counts as failed. */
fp_code fp_wh_load(const fp_wh_load_opts *o, fp_wh_load_counts *c, fp_err *err);

#endif
