/* lake_int.h — what convert.c and catalog.c share (internal to src/lake).
 *
 * A table's schema is an ordered list of columns; the order is the order of first appearance and
 * never changes, so files written at different times list columns in the same order.
 */
#ifndef FP_LAKE_INT_H
#define FP_LAKE_INT_H

#include <jansson.h>

#include "lake/lake.h"

typedef struct fp_lake_col {
    char *name; /* owned */
    fp_pq_type type;
    size_t len; /* strlen(name) */
} fp_lake_col;

typedef struct fp_lake_schema {
    fp_lake_col *c;
    size_t n, cap;
} fp_lake_schema;

void fp_lake_schema_free(fp_lake_schema *s);
/* Index of the column called name, or -1. */
long fp_lake_schema_find(const fp_lake_schema *s, const char *name, size_t n);
void fp_lake_schema_add(fp_lake_schema *s, const char *name, size_t n, fp_pq_type t);

/* One Parquet file written for a table: its partition values and name in the lake. */
typedef struct fp_lake_file {
    char dt[11], hour[3];
    char *name; /* object name in the lake store, owned by the caller */
    int64_t rows, bytes;
} fp_lake_file;

/* Hive/Glue type name of a column type, and back (FP_ERR_INVALID for an unknown name). */
const char *fp_lake_hive_type(fp_pq_type t);
fp_code fp_lake_hive_type_parse(const char *s, fp_pq_type *t, fp_err *err);

/* The codec as the catalog records it in the table's Parameters.compressionType (Glue's key
 * for it): "zstd", "snappy", "none"; and back (FP_ERR_INVALID for anything else). */
const char *fp_lake_codec_name(fp_pq_codec c);
fp_code fp_lake_codec_parse(const char *s, fp_pq_codec *c, fp_err *err);

/* Reads <lake>/_catalog/<table>.json: the columns into *s (appended) and, when cat is not NULL,
 * the parsed document (*cat NULL when the table has no catalog yet). FP_ERR_INVALID for a
 * catalog that is not what fleetpipe writes. */
fp_code fp_lake_catalog_read(fp_store *lake, const char *table, fp_lake_schema *s, json_t **cat,
                             fp_err *err);
/* Merges schema s (columns added; bigint widened to double) and files (replacing entries of the
 * same name) into the table's catalog and writes it, with codec (the files' compression) as
 * Parameters.compressionType: the last writer's codec, which is every file's when a lake is
 * written with one --codec. Re-reads the catalog first, so what other writers committed before
 * is kept. */
fp_code fp_lake_catalog_commit(fp_store *lake, const char *lake_url, const char *database,
                               const char *table, fp_pq_codec codec, const fp_lake_schema *s,
                               const fp_lake_file *files, size_t n, fp_err *err);

/* Reads a whole object into out (appended), decompressing names ending in ".zst". */
fp_code fp_lake_read_object(fp_store *st, const char *name, fp_buf *out, fp_err *err);
/* Writes bytes as object name through a staging file. */
fp_code fp_lake_put_bytes(fp_store *st, const char *name, const void *p, size_t n, fp_err *err);

#endif
