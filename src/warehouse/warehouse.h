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

/* ops.loads — one row per loaded Parquet file:
 *   table_name text, dt date, hour smallint   the partition (lake.<table_name> WHERE dt, hour)
 *   hour_start timestamptz                    dt + hour as the partition's start (UTC): the
 *                                             scheduler's key, indexed with loaded_at, so "was
 *                                             any partition in [a, b) loaded after T?" is
 *                                             SELECT EXISTS (SELECT 1 FROM ops.loads WHERE
 *                                             hour_start >= a AND hour_start < b AND
 *                                             loaded_at > T), one index range scan
 *   file text                                 "<table>/dt=YYYY-MM-DD/hour=HH/<name>.parquet",
 *                                             the object's name in the lake
 *   size bigint, rows bigint                  the catalog's Bytes and Rows of the file
 *   loaded_at timestamptz                     clock_timestamp() when the row was written, just
 *                                             before the partition's COMMIT (so it is at most
 *                                             the commit time: compare with T minus a margin,
 *                                             or use load_xid)
 *   load_xid xid8                             the loading transaction: exact visibility test
 *                                             against a snapshot a mart run recorded
 *                                             (pg_visible_in_snapshot(load_xid, snap))
 *   PRIMARY KEY (table_name, file)
 * A partition's rows are replaced together with its data, in the same transaction. */

typedef struct fp_wh_load_opts {
    const char *pg;       /* libpq connection string; never logged */
    const char *lake_url; /* file:///..., a directory, or s3://bucket/prefix */
    fp_store_opts store;  /* endpoint and credentials for s3:// */
    int64_t since_ms;     /* partitions (dt, hour) that overlap [since, until); INT64_MIN/MAX */
    int64_t until_ms;     /*   for no bound */
    const char *table;    /* only this catalog table; NULL or "": every table */
    bool text;            /* COPY in text format instead of binary (for measuring) */
    /* Also load, when changed, the partitions no interval of an event-time grid reaches in
     * time (the scheduler's loads; docs/warehouse.md, "Strays"): those starting
     * FP_WH_STRAY_AHEAD_MS or more after the wall clock (clocks a year ahead: their hour's own
     * load is that far off) and every partition of the arrival-partitioned table deadletter
     * (its hours are wall-clock hours, not the grid's event time). */
    bool strays;
    const fp_stop *stop; /* may be NULL */
} fp_wh_load_opts;

/* A partition this far past the wall clock is a stray (fp_wh_load_opts.strays): only a clock
 * that is wrong dates data there, and the check of the hour it was sent in needs it now. */
#define FP_WH_STRAY_AHEAD_MS (INT64_C(86400000))

/* One partition (or table) that failed: every string owned by the counts. */
typedef struct fp_wh_load_failure {
    char *table, *dt, *hour; /* dt, hour "" for a table-level failure (catalog, DDL) */
    char *file;              /* base name of the file the error is about; "" when none */
    fp_code code;
    char *error; /* the whole message (names table, dt, hour, file, column) */
} fp_wh_load_failure;

typedef struct fp_wh_load_counts {
    int64_t tables, tables_failed; /* tables_failed: catalog unreadable or DDL refused */
    int64_t partitions;            /* partitions considered (in range) */
    int64_t partitions_loaded;     /* replaced in PostgreSQL */
    int64_t partitions_skipped;    /* every file unchanged since its load */
    int64_t partitions_failed;     /* rolled back (their error was logged) */
    int64_t retries;               /* partition attempts repeated after a lost connection */
    int64_t files, rows, bytes;    /* loaded */
    int64_t columns_added, columns_widened;
    fp_wh_load_failure *failures; /* in order; fp_wh_load_counts_free */
    size_t nfailures;
} fp_wh_load_counts;

/* Frees the failures (the counts stay). NULL is fine. */
void fp_wh_load_counts_free(fp_wh_load_counts *c);

/* Creates the schemas and ops.loads, and a lake table (with its (dt, hour) BRIN index) per
 * catalog table of lake_url (NULL: none; evolution as in a load: columns added, bigint widened
 * to double; c->tables, columns_added, columns_widened count it); mart_schema_sql (NULL: none)
 * is run as is (the marts' CREATE TABLE IF NOT EXISTS statements). Idempotent. */
fp_code fp_wh_init(const char *pg, const char *lake_url, const fp_store_opts *store,
                   const char *mart_schema_sql, fp_wh_load_counts *c, fp_err *err);

/* Loads every partition in range (and, with o->strays, every stray) whose files changed since
 * their load (new, rewritten or removed files), one transaction per partition, going by the lake's
 * catalog (what a partition holds, with each file's rows and bytes). Schemas and tables are created
 * as by fp_wh_init first. A file's columns must be catalog columns (missing ones load as NULL) of
 * the table's types (bigint into a widened double column is fine); its rows and bytes must be the
 * catalog's. A partition that fails is rolled back, logged with table, dt, hour and file,
 * counted and listed in c->failures, and the rest continue; the return is then FP_ERR_INVALID
 * (bad file or schema) or FP_ERR_IO (PostgreSQL or the store) of the first failure, err saying
 * how many failed. A lost connection is reconnected and the partition retried with backoff (5
 * attempts) before it counts as failed; a server error on a live connection (disk full,
 * SQLSTATE 53100, among them) fails the partition at once. Concurrent loads of one partition
 * (two scheduler tasks, the late-data refresh) are serialised by a transaction-scoped advisory
 * lock per partition, and the second skips it when the first already loaded its files.
 * Test hook: FLEETPIPE_TEST_WH_PAUSE=<path> creates <path> at the first COPY of the run and
 * waits until it is removed (so a test can restart the server mid-COPY). */
fp_code fp_wh_load(const fp_wh_load_opts *o, fp_wh_load_counts *c, fp_err *err);

#endif
