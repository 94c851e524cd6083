/* lake.h — raw JSON objects to per-type Parquet tables with a schema catalog and a retry queue.
 *
 * The one thing to know: the unit of work is one raw object (a JSON-lines file the objstore sink
 * committed, optionally .zst). Converting it splits every message's `measurements` (the same
 * SplitArrayField transform the connectors use), routes each row to the table
 * `<object>_<type>`, and writes one Parquet file per (table, dt, hour) of the rows' UTC
 * `timestamp_iso`, named after the raw object:
 *
 *   <lake>/<table>/dt=YYYY-MM-DD/hour=HH/<raw base name>.parquet
 *
 * Output names depend only on the raw object and the rows, so converting the same object again
 * rewrites the same files (idempotent; several workers may convert the same object). Rows that
 * cannot be converted (not JSON, no timestamp, a type conflict with the catalog) go to
 * <lake>/_failed/<raw base name>.jsonl with the reason; an unreadable object is recorded there
 * as a whole. Rows in = rows written + rows failed, for every object.
 *
 * The catalog <lake>/_catalog/<table>.json is a Glue-shaped table definition (columns, partition
 * keys, location) plus its partitions with files and row counts. Evolution: a new field adds a
 * nullable column; an integer field widens to double; any other conflict keeps the catalog type
 * and fails the row.
 *
 * Threads: an fp_lake is used by one thread at a time (lake watch runs one per worker).
 */
#ifndef FP_LAKE_LAKE_H
#define FP_LAKE_LAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "parquet/parquet.h"
#include "store/store.h"

typedef struct fp_lake_opts {
    const char *from_url, *to_url; /* raw store, lake store */
    fp_store_opts from_store, to_store;
    fp_pq_writer_opts parquet;
    const char *split_field; /* default "measurements" */
    const char *database;    /* catalog database name; default "fleetpipe" */
} fp_lake_opts;

typedef struct fp_lake fp_lake;

/* Counts of one conversion (or a sum of several). */
typedef struct fp_lake_counts {
    int64_t objects, objects_failed; /* raw objects converted / recorded as unreadable */
    int64_t messages;                /* raw lines read */
    int64_t rows_in, rows_written, rows_failed;
    int64_t files, bytes; /* Parquet files and their bytes */
} fp_lake_counts;

fp_code fp_lake_open(const fp_lake_opts *o, fp_lake **out, fp_err *err);
void fp_lake_free(fp_lake *l);

/* Converts one raw object (its name in the raw store) and updates the catalog; adds to *c.
 * FP_OK also when rows or the whole object went to the retry queue (that is an outcome, not an
 * error). FP_ERR_IO when a store failed (worth retrying: nothing was committed that a retry
 * would duplicate); FP_ERR_CONFIG for bad options. */
fp_code fp_lake_convert_object(fp_lake *l, const char *name, fp_lake_counts *c, fp_err *err);

/* Lists the raw store and converts every raw object (*.jsonl, *.jsonl.zst) whose dt=/hour=
 * partition in its name overlaps [since_ms, until_ms) (INT64_MIN/INT64_MAX: no bound; objects
 * without a dt= partition always qualify), in name order. */
fp_code fp_lake_convert_all(fp_lake *l, int64_t since_ms, int64_t until_ms, fp_lake_counts *c,
                            fp_err *err);

/* Re-runs everything in <lake>/_failed/: unreadable objects are converted again, failed rows
 * are converted again against the current catalog; what still fails stays queued. */
fp_code fp_lake_retry(fp_lake *l, fp_lake_counts *c, fp_err *err);

#endif
