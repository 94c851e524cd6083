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
                               const fp_lake_file *files, size_t n, int64_t watermark_ms,
                               fp_err *err);
/* With watermark_ms not INT64_MIN, Parameters["fleetpipe.watermark"] (ISO-8601 UTC) of a catalog
 * document becomes it when that is later than what the document says (forward only); true when
 * the document changed. */
bool fp_lake_catalog_set_watermark(json_t *cat, int64_t watermark_ms);
/* Re-reads table's catalog and raises its watermark parameter (a table this conversion did not
 * touch, whose watermark moved); nothing when the table has no catalog or it is not behind. */
fp_code fp_lake_catalog_raise_watermark(fp_store *lake, const char *table, int64_t watermark_ms,
                                        fp_err *err);

/* ---- the watermark (watermark.c; docs/lake.md, "Watermark") ---- */

/* The source of a raw object name, "<topic>+<partition>" of "<topic>+<partition>+<20 digits>
 * .jsonl[.zst]" (the objstore sink's names); false for any other name (a hand-made object: it
 * neither moves nor holds the watermark). Each output may be NULL. */
bool fp_lake_wm_source_of(const char *name, fp_buf *source, fp_buf *topic, int32_t *partition,
                          int64_t *offset);

/* What one conversion tells the watermark: per table it wrote rows to, the late rows. */
typedef struct fp_lake_wm_table_update {
    const char *name;
    int64_t late_rows; /* rows below the table's watermark when the object was converted */
} fp_lake_wm_table_update;

typedef struct fp_lake_wm_update {
    const char *source, *topic, *object; /* borrowed */
    int32_t partition;
    int64_t offset;
    int64_t newest_ms; /* max partitioning time of the rows that count; INT64_MIN none */
    const fp_lake_wm_table_update *tables;
    size_t ntables;
    bool register_only; /* only make the source known (it holds the watermark until converted) */
    /* a source of the dead-letter topic: it feeds only the dead-letter table's watermark, never
     * the lake-wide one (dead letters are rare: their partitions would hold it back) */
    bool deadletter;
} fp_lake_wm_update;

/* An empty document; *doc owned by the caller (json_decref). */
json_t *fp_lake_wm_new_doc(void);
/* The watermark of table (NULL or "": the lake's) in doc; INT64_MIN when unknown. */
int64_t fp_lake_wm_table(const json_t *doc, const char *table);
/* Whether offset is at or below the last converted object of source: a re-conversion. */
bool fp_lake_wm_is_replay(const json_t *doc, const char *source, int64_t offset);
/* Merges one conversion into doc (max per source; late counts added); pure. */
void fp_lake_wm_apply(json_t *doc, const fp_lake_wm_update *u, int64_t now_ms);
/* Every table's and the lake's watermark from the sources, forward only; pure. */
void fp_lake_wm_recompute(json_t *doc, int64_t now_ms, int64_t lateness_ms, int64_t idle_ms);
/* Reads <lake>/_catalog/_watermark.json (an empty document when there is none). */
fp_code fp_lake_wm_read(fp_store *lake, json_t **doc, fp_err *err);
/* Re-reads the document, applies u[0..n), recomputes, writes it; *out (when not NULL) gets the
 * document written (the caller's to json_decref). */
fp_code fp_lake_wm_commit(fp_store *lake, const fp_lake_wm_update *u, size_t n, int64_t now_ms,
                          int64_t lateness_ms, int64_t idle_ms, json_t **out, fp_err *err);

/* The base name of a raw object, "<dir>/<base>.jsonl[.zst]" -> "<base>": a pointer into name
 * and its length in *n (convert.c). */
const char *fp_lake_object_base(const char *name, size_t *n);

/* Whether an object name is a raw object: *.jsonl or *.jsonl.zst outside hidden (.staging) and
 * lake (_failed) folders (convert.c). */
bool fp_lake_is_raw_name(const char *name);
/* The [*t0, *t1) of a name's dt=YYYY-MM-DD[/hour=HH] partition (a day without hour=); false
 * when it has none (convert.c). */
bool fp_lake_name_time(const char *name, int64_t *t0, int64_t *t1);

/* Reads a whole object into out (appended), decompressing names ending in ".zst". */
fp_code fp_lake_read_object(fp_store *st, const char *name, fp_buf *out, fp_err *err);
/* Reads the JSON document name (the catalog, the watermark) into *doc (NULL when its text does
 * not parse; je says why). A text that does not parse is read again twice, 200 ms apart, before
 * it is believed: a store whose PUT is not atomic to readers (s3rver writes its files in place)
 * can show a write in progress as an empty or cut object; S3 and file:// (rename) never do. */
fp_code fp_lake_read_json(fp_store *st, const char *name, json_t **doc, json_error_t *je,
                          fp_err *err);
/* Writes bytes as object name through a staging file. */
fp_code fp_lake_put_bytes(fp_store *st, const char *name, const void *p, size_t n, fp_err *err);

#endif
