/* parquet.h — fleetpipe's own Parquet writer and reader (Apache parquet-format, parquet.thrift).
 *
 * The one thing to know: the writer takes rows one value at a time into per-column buffers of
 * the current row group, and encodes, compresses and writes a row group when its buffered
 * (uncompressed) bytes pass the budget or the file is closed. It does not sort: callers that
 * want sorted files (the lake sorts by id, timestamp) hand rows over in order. Files are flat
 * (one level, every column OPTIONAL), which is all the lake needs.
 *
 * What a file holds: "PAR1", row groups of column chunks (an optional PLAIN dictionary page, then
 * data pages v1 with RLE definition levels and PLAIN or PLAIN_DICTIONARY values, each page
 * compressed on its own), FileMetaData (Thrift compact) with schema, statistics per chunk,
 * column_orders and created_by, its 4-byte length, "PAR1".
 *
 * Ownership: a writer owns its FILE and buffers; names and strings handed in are copied. A
 * reader owns the file's bytes (read whole into memory) and everything it returns points into
 * the reader and lives until fp_pq_reader_free(). One thread per writer or reader.
 */
#ifndef FP_PARQUET_H
#define FP_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Column types. Physical type / logical type in the file:
 *   BOOL      BOOLEAN
 *   INT64     INT64 (no logical type)
 *   DOUBLE    DOUBLE
 *   STRING    BYTE_ARRAY, LogicalType STRING + ConvertedType UTF8
 *   TIMESTAMP INT64, LogicalType TIMESTAMP(isAdjustedToUTC=true, MILLIS) + ConvertedType
 *             TIMESTAMP_MILLIS; values are milliseconds since the Unix epoch, UTC */
typedef enum fp_pq_type {
    FP_PQ_BOOL = 0,
    FP_PQ_INT64,
    FP_PQ_DOUBLE,
    FP_PQ_STRING,
    FP_PQ_TIMESTAMP,
} fp_pq_type;

/* "boolean", "bigint", "double", "string", "timestamp" */
const char *fp_pq_type_name(fp_pq_type t);

typedef enum fp_pq_codec {
    FP_PQ_ZSTD = 0, /* default */
    FP_PQ_SNAPPY,
    FP_PQ_UNCOMPRESSED,
} fp_pq_codec;

/* "zstd", "snappy", "none"/"uncompressed"; FP_ERR_CONFIG otherwise. */
fp_code fp_pq_codec_parse(const char *s, fp_pq_codec *out, fp_err *err);

typedef struct fp_pq_column {
    const char *name; /* UTF-8, non-empty */
    fp_pq_type type;
} fp_pq_column;

typedef struct fp_pq_writer_opts {
    fp_pq_codec codec;
    int zstd_level;         /* 0: default (3) */
    size_t row_group_bytes; /* buffered uncompressed bytes that close a row group; 0: 64 MiB */
    size_t page_bytes;      /* target uncompressed bytes of a data page; 0: 1 MiB */
    size_t dict_max_bytes;  /* a column's dictionary above this falls back to PLAIN; 0: 1 MiB */
    const char *created_by; /* NULL: "fleetpipe version <FP_VERSION>" */
} fp_pq_writer_opts;

typedef struct fp_pq_writer fp_pq_writer;

/* Creates (truncates) path and writes the magic. ncols >= 1, names unique; FP_ERR_CONFIG for a
 * bad schema, FP_ERR_IO naming the path. opts may be NULL (defaults). */
fp_code fp_pq_writer_open(const char *path, const fp_pq_column *cols, size_t ncols,
                          const fp_pq_writer_opts *opts, fp_pq_writer **out, fp_err *err);

/* One row: set any subset of columns (each at most once), then end the row; columns not set
 * are null. Setting a column with the wrong type or twice in a row is a programming error
 * (FP_ERR_INTERNAL from fp_pq_writer_end_row). A string must be valid UTF-8 (not checked
 * here; the lake validated it as JSON). Doubles: NaN and infinities are stored as given. */
void fp_pq_set_bool(fp_pq_writer *w, size_t col, bool v);
void fp_pq_set_int64(fp_pq_writer *w, size_t col, int64_t v); /* INT64 and TIMESTAMP */
void fp_pq_set_double(fp_pq_writer *w, size_t col, double v);
void fp_pq_set_string(fp_pq_writer *w, size_t col, const char *p, size_t n);
/* May write a row group (FP_ERR_IO). */
fp_code fp_pq_writer_end_row(fp_pq_writer *w, fp_err *err);

/* Writes the last row group and the footer, fsyncs and closes; *rows (may be NULL) gets the row
 * count. The writer is freed whatever the result. A file with zero rows is valid (one empty
 * schema, no row groups). */
fp_code fp_pq_writer_close(fp_pq_writer *w, int64_t *rows, fp_err *err);
/* Closes and frees without finishing the file (the caller deletes it). NULL is fine. */
void fp_pq_writer_abort(fp_pq_writer *w);

/* ---- reader ---- */

typedef struct fp_pq_reader fp_pq_reader;

/* Reads the whole file and parses its footer. FP_ERR_INVALID "parquet: <path>: ... " for
 * anything that is not a well-formed flat Parquet file of the types above (bad magic, footer
 * out of bounds, malformed Thrift, nested schema, unsupported type, codec or encoding); the
 * reader never reads outside the file's bytes whatever they hold. */
fp_code fp_pq_reader_open(const char *path, fp_pq_reader **out, fp_err *err);
/* The same over bytes in memory (copied); name is used in messages. */
fp_code fp_pq_reader_open_mem(const void *p, size_t n, const char *name, fp_pq_reader **out,
                              fp_err *err);
void fp_pq_reader_free(fp_pq_reader *r);

size_t fp_pq_reader_ncols(const fp_pq_reader *r);
const fp_pq_column *fp_pq_reader_column(const fp_pq_reader *r, size_t col);
int64_t fp_pq_reader_nrows(const fp_pq_reader *r);
size_t fp_pq_reader_nrowgroups(const fp_pq_reader *r);
const char *fp_pq_reader_created_by(const fp_pq_reader *r); /* "" when absent */

/* A decoded column chunk: n values; valid[i] false for nulls (the value slot is then 0/empty). */
typedef struct fp_pq_values {
    size_t n;
    fp_pq_type type;
    bool *valid;
    bool *b;        /* BOOL */
    int64_t *i64;   /* INT64, TIMESTAMP */
    double *f64;    /* DOUBLE */
    const char **s; /* STRING: pointers into the reader or the decoded pages */
    size_t *slen;
    void *priv_; /* decoded page memory */
} fp_pq_values;

/* Chunk statistics as stored: has_minmax false when the chunk has only nulls. min/max are in
 * the column's type (strings point into the reader). */
typedef struct fp_pq_stats {
    int64_t null_count;
    bool has_minmax;
    union {
        bool b;
        int64_t i64;
        double f64;
        struct {
            const char *p;
            size_t n;
        } s;
    } min, max;
} fp_pq_stats;

/* Decodes column col of row group rg (decompressing and checking every page: sizes, counts,
 * levels, dictionary indices in range). FP_ERR_INVALID naming the column, row group and page. */
fp_code fp_pq_read_column(fp_pq_reader *r, size_t rg, size_t col, fp_pq_values *out, fp_err *err);
void fp_pq_values_free(fp_pq_values *v);
fp_code fp_pq_read_stats(const fp_pq_reader *r, size_t rg, size_t col, fp_pq_stats *out,
                         fp_err *err);

#endif
