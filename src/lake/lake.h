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
 * Dead letters: objects of the dead-letter topic (fp_lake_opts.deadletter_topic) hold objstore
 * envelope lines instead, one row each of the table FP_LAKE_DEADLETTER_TABLE (fixed columns);
 * their sources never count in the lake-wide watermark (docs/lake.md, "Dead letters").
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
#include "core/mem.h"
#include "core/stop.h"
#include "ops/metrics.h"
#include "parquet/parquet.h"
#include "store/store.h"

typedef struct fp_lake_opts {
    const char *from_url, *to_url; /* raw store, lake store */
    fp_store_opts from_store, to_store;
    fp_pq_writer_opts parquet;
    const char *split_field; /* default "measurements" */
    const char *database;    /* catalog database name; default "fleetpipe" */
    /* The raw store is always opened read-only (it must exist; nothing is created in it). The
     * lake is created when missing, unless lake_must_exist (retry, whose source it is). */
    bool lake_must_exist;
    /* The watermark (docs/lake.md, "Watermark"): lateness_ms is subtracted from the sources'
     * newest event time (0: none; the CLI's default is 10 min); a source that converted no new
     * object for idle_ms of wall clock does not hold the watermark back (0: every source holds
     * it; the CLI's default is 1 h). */
    int64_t lateness_ms, idle_ms;
    /* The dead-letter topic (NULL: "fms.deadletter"; "": none): its raw objects, named
     * <topic>+<partition>+<offset>, hold the objstore sink's format.envelope lines and become
     * rows of the table FP_LAKE_DEADLETTER_TABLE, one per dead letter (docs/lake.md, "Dead
     * letters"). */
    const char *deadletter_topic;
} fp_lake_opts;

/* The dead-letter table: no '_', so no <object>_<type> of a device can ever name it. */
#define FP_LAKE_DEADLETTER_TABLE "deadletter"
/* Bytes of a dead letter's value kept in its `value` column (value_bytes has the full length). */
#define FP_LAKE_DEADLETTER_VALUE_MAX 4096

typedef struct fp_lake fp_lake;

/* Counts of one conversion (or a sum of several). */
typedef struct fp_lake_counts {
    int64_t objects, objects_failed; /* raw objects converted / recorded as unreadable */
    int64_t messages;                /* raw lines read */
    int64_t rows_in, rows_written, rows_failed;
    int64_t files, bytes; /* Parquet files and their bytes */
    int64_t late_rows;    /* rows written below their table's watermark (counted, not refused) */
} fp_lake_counts;

fp_code fp_lake_open(const fp_lake_opts *o, fp_lake **out, fp_err *err);
void fp_lake_free(fp_lake *l);

/* Converts one raw object (its name in the raw store) and updates the catalog; adds to *c.
 * FP_OK also when rows or the whole object went to the retry queue (that is an outcome, not an
 * error). FP_ERR_IO when a store failed (worth retrying: nothing was committed that a retry
 * would duplicate); FP_ERR_CONFIG for bad options. */
fp_code fp_lake_convert_object(fp_lake *l, const char *name, fp_lake_counts *c, fp_err *err);
/* The newest messaged_at (epoch ms; the device's send time) of the lines of the object the last
 * fp_lake_convert_object() converted successfully (rows without one: the newest row time,
 * timestamp_iso else messaged_at); INT64_MIN when it had no rows or failed. */
int64_t fp_lake_last_newest_ms(const fp_lake *l);

/* Lists the raw store and converts every raw object (*.jsonl, *.jsonl.zst) whose dt=/hour=
 * partition in its name overlaps [since_ms, until_ms) (INT64_MIN/INT64_MAX: no bound; objects
 * without a dt= partition always qualify), in name order. */
fp_code fp_lake_convert_all(fp_lake *l, int64_t since_ms, int64_t until_ms, fp_lake_counts *c,
                            fp_err *err);

/* Re-runs everything in <lake>/_failed/: unreadable objects are converted again, failed rows
 * are converted again against the current catalog; what still fails stays queued. */
fp_code fp_lake_retry(fp_lake *l, fp_lake_counts *c, fp_err *err);

/* ---- watch: conversion driven by the objstore sink's object-committed events (watch.c) ---- */

typedef struct fp_lake_watch_opts {
    fp_lake_opts lake;          /* lake.from_url is the raw store the events must name */
    const char *bootstrap;      /* Kafka bootstrap servers; required */
    const char *topic;          /* the objstore sink's store.events.topic; required */
    const char *group;          /* consumer group; workers of one group share the events */
    int64_t status_interval_ms; /* period of the status log line; <= 0: 10 s */
    const fp_stop *stop; /* the owner's stop token (SIGINT/SIGTERM in the CLI); may be NULL */
    /* Static membership (group.instance.id "lake-watch-<worker_id>"): a restarted worker takes
     * its partitions back at once. NULL or "": a dynamic member. Two live workers of one group
     * must not share an id (the second fences the first, which stops with an error). */
    const char *worker_id;
} fp_lake_watch_opts;

/* Partitions whose lost records are counted one by one (fleetpipe_lake_records_lost_total's
 * partition label); higher partitions are counted under partition="other". */
#define FP_LAKE_WATCH_PARTITIONS 1024
/* /healthz reports a loss this long after it was found. */
#define FP_LAKE_WATCH_LOST_RECENT_MS (5 * 60 * 1000)
/* /healthz is 503 when the worker holds no partition (group not joined, or joined with none)
 * for longer than this: three 10 s session timeouts, more than any rebalance should take. */
#define FP_LAKE_WATCH_UNASSIGNED_MS 30000

/* Written by the watch loop only, after each event; atomics because /metrics reads them from
 * an HTTP thread while the loop runs (fp_lake_watch_stats_write), and the owner reads them for
 * the final status after fp_lake_watch_run returned. */
typedef struct fp_lake_watch_stats {
    _Atomic int64_t events;  /* events whose object was converted, then committed */
    _Atomic int64_t skipped; /* events that were not JSON or named no object, committed */
    _Atomic int64_t retries; /* conversions retried after a store's I/O error */
    _Atomic int64_t objects, objects_failed, messages, rows_in, rows_written, rows_failed, files,
        bytes;                  /* the sum of the conversions' fp_lake_counts */
    _Atomic int64_t lag;        /* events not consumed yet in the assignment; -1 unknown */
    _Atomic bool retrying;      /* a conversion is being retried (for /healthz) */
    fp_metrics_hist conversion; /* seconds per successful conversion */
    fp_metrics_hist age;        /* Parquet committed minus the object's newest row time */
    /* Loss: events retention deleted before this group consumed them (their objects are still
     * in the raw store; `lake convert` catches up). Per partition, the rest in lost_other. */
    const char *_Atomic topic, *_Atomic group; /* o->topic, o->group once running */
    _Atomic int64_t lost[FP_LAKE_WATCH_PARTITIONS], lost_other, lost_total;
    _Atomic int64_t lost_at_ms; /* fp_time_mono_ms() of the last loss found; 0: none */
    _Atomic int64_t lost_last_partition, lost_last_from, lost_last_to; /* its range */
    /* Health: Kafka reachable (librdkafka's ALL_BROKERS_DOWN until a broker answers again),
     * partitions held (-1: group not joined) and since when none are. */
    _Atomic bool kafka_down;
    _Atomic int kafka_err; /* the rd_kafka_resp_err_t that made it down */
    _Atomic int64_t assigned, unassigned_since_ms;
} fp_lake_watch_stats;

/* Zeroes stats (lag -1, the histogram's buckets set). Call once before a metrics server or
 * fp_lake_watch_run reads them; fp_lake_watch_run does not reset them. */
void fp_lake_watch_stats_init(fp_lake_watch_stats *stats);

/* Consumes the object-committed events of o->topic in o->group and converts each named object
 * (fp_lake_convert_object) until o->stop is requested. Lost events are never skipped silently:
 * at assignment (from the committed offset; no commit counts from offset 0, the group reads
 * from the earliest record) and on every lag update and offset gap (from the position), events
 * below the partition's log start offset are reported as an ERROR naming topic, partition and
 * range and counted in stats->lost; the worker goes on from the log start (the events are
 * gone). An event's offset is committed only
 * after its object was converted; an FP_ERR_IO conversion is retried with backoff, never
 * skipped. Events that are not JSON or name no key are logged and committed (stats->skipped).
 * Logs a status line every status_interval_ms and a final one. Returns FP_OK after a stop
 * (also during a backoff: that event stays uncommitted); FP_ERR_CONFIG for an event of another
 * store than o->lake.from_url (left uncommitted) or bad options; any other conversion error
 * stops the loop with its code. Runs on the calling thread. */
fp_code fp_lake_watch_run(const fp_lake_watch_opts *o, fp_lake_watch_stats *stats, fp_err *err);

/* An fp_metrics_writer (ctx: fp_lake_watch_stats): fleetpipe_lake_events_total,
 * _events_skipped_total, _conversion_retries_total, _objects_converted_total,
 * _objects_failed_total, _rows_written_total, _rows_failed_total, _files_written_total,
 * _written_bytes_total, _conversion_seconds, _record_age_seconds, _consumer_lag,
 * _records_lost_total{topic,partition}. Any thread. */
void fp_lake_watch_stats_write(void *stats, fp_metrics_out *m);
/* An fp_health_fn (ctx: fp_lake_watch_stats): unhealthy, with every reason that applies, while
 * Kafka is unreachable, while no partition is held for longer than FP_LAKE_WATCH_UNASSIGNED_MS,
 * while a conversion is being retried, and for FP_LAKE_WATCH_LOST_RECENT_MS after a loss. */
bool fp_lake_watch_stats_healthy(void *stats, fp_buf *reason);

/* ---- the watermark (watermark.c) ---- */

/* The watermark of table (NULL or "": the lake's, over every source) from
 * <lake_url>/_catalog/_watermark.json: the event time (epoch ms, UTC) below which every row the
 * raw-lake connector committed has been converted, less the lateness. INT64_MIN when unknown (no
 * watermark yet, no such table, or a source that holds it has converted nothing yet). The lake is
 * opened read-only and must exist. Any thread (it opens its own store). FP_ERR_INVALID for a
 * document that is not what fleetpipe writes. */
fp_code fp_lake_watermark_read(const char *lake_url, const fp_store_opts *so, const char *table,
                               int64_t *watermark_ms, fp_err *err);

/* ---- ddl: SQL for the lake's tables from the catalog (ddl.c) ---- */

/* Appends to out, per table of <lake_url>/_catalog/ (only `table` when not NULL or ""; in name
 * order otherwise), an Athena / Redshift Spectrum CREATE EXTERNAL TABLE with MSCK REPAIR TABLE
 * and a DuckDB view over read_parquet(). database NULL or "": the catalog's DatabaseName.
 * FP_ERR_CONFIG for a table name that is not [a-z0-9_]; FP_ERR_NOTFOUND for a missing table or
 * an empty catalog; FP_ERR_INVALID naming the catalog file that is not what fleetpipe writes. */
fp_code fp_lake_ddl(const char *lake_url, const fp_store_opts *so, const char *table,
                    const char *database, fp_buf *out, fp_err *err);

/* ---- the catalog as data, for the lake's readers (warehouse load) (tables.c) ---- */

/* One file of a partition as the catalog records it: base name, rows and bytes. */
typedef struct fp_lake_cat_file {
    char *name; /* "<raw base name>.parquet" */
    int64_t rows, bytes;
} fp_lake_cat_file;

typedef struct fp_lake_cat_part {
    char dt[11], hour[3]; /* "YYYY-MM-DD", "HH" */
    int64_t start_ms;     /* the partition is [start_ms, start_ms + 1 h) */
    int64_t rows;         /* Parameters.numRows */
    fp_lake_cat_file *files;
    size_t nfiles;
} fp_lake_cat_part;

typedef struct fp_lake_cat_col {
    char *name;
    fp_pq_type type;
} fp_lake_cat_col;

/* A table of the catalog: columns in catalog order, partitions in (dt, hour) order. Owns
 * everything it points to (fp_lake_cat_free). */
typedef struct fp_lake_cat_table {
    char *name;
    fp_lake_cat_col *cols;
    size_t ncols;
    fp_lake_cat_part *parts;
    size_t nparts;
} fp_lake_cat_table;

/* Appends to out the table names of <lake>/_catalog/ in name order (FP_ERR_INVALID for a
 * catalog file whose name is not [a-z0-9_]; an empty catalog is no error). */
fp_code fp_lake_cat_tables(fp_store *lake, fp_strv *out, fp_err *err);
/* Reads <lake>/_catalog/<table>.json into *out (reset first). FP_ERR_NOTFOUND when the table
 * has no catalog; FP_ERR_INVALID naming the catalog for a document fleetpipe did not write
 * (bad partition values, files without Name/Rows/Bytes). */
fp_code fp_lake_cat_read(fp_store *lake, const char *table, fp_lake_cat_table *out, fp_err *err);
void fp_lake_cat_free(fp_lake_cat_table *t);
/* The dead-letter table's fixed columns as a catalog table without partitions, for a reader
 * that wants the table before any dead letter arrived (warehouse init). Free with
 * fp_lake_cat_free. */
void fp_lake_cat_deadletter(fp_lake_cat_table *out);

/* ---- the raw lake's rows, as a conversion makes them, for readers that count them (rows.c) */

/* One row of a raw object after the split: its table (<object>_<type>), vehicle (INT64_MIN when
 * the row has no integer "id"), partitioning time (timestamp_iso, else messaged_at; epoch ms)
 * and its JSON text. Everything is borrowed for the callback's duration. */
typedef struct fp_lake_raw_row {
    const char *table;
    int64_t id, ts_ms;
    const char *json;
    size_t n;
} fp_lake_raw_row;

typedef fp_code (*fp_lake_raw_row_fn)(const fp_lake_raw_row *row, void *arg, fp_err *err);

/* What fp_lake_raw_rows read: objects, lines, rows handed to the callback, and rows a
 * conversion would queue in _failed/ for a reason visible without the catalog (not JSON, no
 * object/type naming a table, no time). */
typedef struct fp_lake_raw_counts {
    int64_t objects, messages, rows, failed;
} fp_lake_raw_counts;

/* Reads every raw object of raw (*.jsonl, *.jsonl.zst; not the dead-letter topic's, NULL:
 * "fms.deadletter") whose dt=/hour= partition overlaps [since_ms, until_ms) (objects without a
 * dt= partition always qualify), splits each message with the conversion's own SplitArrayField
 * chain on "measurements" and routes each row as fp_lake_convert_object does, handing it to fn.
 * Rows whose time is outside the window are handed on too (the caller filters: the raw
 * partition is the connector's time, not the sample's). Memory: one object's text. Adds to *c
 * (may be NULL). Any thread; raw is used by this call only. */
fp_code fp_lake_raw_rows(fp_store *raw, int64_t since_ms, int64_t until_ms,
                         const char *deadletter_topic, fp_lake_raw_row_fn fn, void *arg,
                         fp_lake_raw_counts *c, fp_err *err);

#endif
