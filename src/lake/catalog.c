/* catalog.c — the lake's schema catalog: one Glue-shaped JSON document per table,
 * <lake>/_catalog/<table>.json, and the small store helpers the lake uses.
 *
 * Shape (Glue's field names, so the document maps 1:1 onto a CreateTable/CreatePartition call):
 *   {"Name", "DatabaseName", "TableType": "EXTERNAL_TABLE", "Parameters": {"classification":
 *    "parquet", "compressionType": "zstd"|"snappy"|"none"}, "PartitionKeys": [dt, hour],
 * "StorageDescriptor": {"Columns": [{"Name", "Type"}], "Location", "InputFormat", "OutputFormat",
 * "SerdeInfo"}, "Partitions": [{"Values": [dt, hour], "StorageDescriptor": {"Location"},
 * "Parameters": {"numRows"}, "Files": [{"Name", "Rows", "Bytes"}]}], "UpdateTime"} "Files" is
 * fleetpipe's addition: what the partition holds, for reconciliation.
 *
 * Concurrency: a commit re-reads the document and merges into it, so a writer keeps what others
 * committed before its read. Two workers committing the same table at the same instant can
 * still lose one's partition entry (object stores have no compare-and-swap here); the Parquet
 * files themselves are never lost, and converting the object again restores the entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "core/time.h"
#include "lake/lake_int.h"

void fp_lake_schema_free(fp_lake_schema *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->c[i].name);
    free(s->c);
    *s = (fp_lake_schema){0};
}

long fp_lake_schema_find(const fp_lake_schema *s, const char *name, size_t n)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->c[i].len == n && !memcmp(s->c[i].name, name, n))
            return (long)i;
    return -1;
}

void fp_lake_schema_add(fp_lake_schema *s, const char *name, size_t n, fp_pq_type t)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->c = fp_xrealloc(s->c, s->cap * sizeof *s->c);
    }
    s->c[s->n++] = (fp_lake_col){fp_xstrndup(name, n), t, n};
}

static const char *const hive_types[] = {
    [FP_PQ_BOOL] = "boolean",  [FP_PQ_INT64] = "bigint",        [FP_PQ_DOUBLE] = "double",
    [FP_PQ_STRING] = "string", [FP_PQ_TIMESTAMP] = "timestamp",
};

const char *fp_lake_hive_type(fp_pq_type t)
{
    return hive_types[t];
}

fp_code fp_lake_hive_type_parse(const char *s, fp_pq_type *t, fp_err *err)
{
    for (size_t i = 0; i < sizeof hive_types / sizeof *hive_types; i++)
        if (!strcmp(s, hive_types[i])) {
            *t = (fp_pq_type)i;
            return FP_OK;
        }
    return fp_err_set(err, FP_ERR_INVALID, "unknown column type \"%s\"", s);
}

static const char *const codec_names[] = {
    [FP_PQ_ZSTD] = "zstd",
    [FP_PQ_SNAPPY] = "snappy",
    [FP_PQ_UNCOMPRESSED] = "none",
};

const char *fp_lake_codec_name(fp_pq_codec c)
{
    return codec_names[c];
}

fp_code fp_lake_codec_parse(const char *s, fp_pq_codec *c, fp_err *err)
{
    for (size_t i = 0; i < sizeof codec_names / sizeof *codec_names; i++)
        if (!strcmp(s, codec_names[i])) {
            *c = (fp_pq_codec)i;
            return FP_OK;
        }
    return fp_err_set(err, FP_ERR_INVALID, "unknown compressionType \"%s\" (zstd, snappy or none)",
                      s);
}

/* ---------------------------------------------------------------- store helpers */

/* Raw objects are bounded by the sink's flush.size; this bounds a hostile or mistaken one (a
 * zstd bomb) before it exhausts memory. */
#define LK_MAX_OBJECT ((size_t)4 << 30)

typedef struct read_ctx {
    fp_buf *out;
    ZSTD_DCtx *dc;
    size_t last; /* ZSTD_decompressStream's last result: 0 when a frame just ended */
} read_ctx;

static fp_code read_cb(const void *data, size_t n, void *arg, fp_err *err)
{
    read_ctx *c = arg;
    if (!c->dc)
        fp_buf_append(c->out, data, n);
    ZSTD_inBuffer in = {data, c->dc ? n : 0, 0};
    while (in.pos < in.size) {
        fp_buf_reserve(c->out, 1 << 17);
        ZSTD_outBuffer o = {c->out->p + c->out->len, c->out->cap - c->out->len - 1, 0};
        c->last = ZSTD_decompressStream(c->dc, &o, &in);
        if (ZSTD_isError(c->last))
            return fp_err_set(err, FP_ERR_INVALID, "zstd: %s", ZSTD_getErrorName(c->last));
        c->out->len += o.pos;
        if (c->out->len > LK_MAX_OBJECT)
            break;
    }
    if (c->out->len > LK_MAX_OBJECT)
        return fp_err_set(err, FP_ERR_LIMIT, "object larger than %zu GiB", LK_MAX_OBJECT >> 30);
    return FP_OK;
}

fp_code fp_lake_read_object(fp_store *st, const char *name, fp_buf *out, fp_err *err)
{
    size_t n = strlen(name);
    read_ctx c = {out, NULL, 0};
    if (n > 4 && !strcmp(name + n - 4, ".zst"))
        c.dc = ZSTD_createDCtx();
    fp_code rc = fp_store_read(st, name, read_cb, &c, err);
    if (!rc && c.dc && c.last != 0) /* the last frame did not end: a cut object */
        rc = fp_err_set(err, FP_ERR_INVALID, "zstd: truncated (the last frame does not end)");
    ZSTD_freeDCtx(c.dc);
    fp_buf_reserve(out, 0); /* keeps the NUL after the data */
    out->p[out->len] = '\0';
    return rc;
}

fp_code fp_lake_read_json(fp_store *st, const char *name, json_t **doc, json_error_t *je,
                          fp_err *err)
{
    fp_buf text = FP_BUF_INIT;
    fp_code rc = FP_OK;
    *doc = NULL;
    for (int attempt = 0; attempt < 3 && !rc && !*doc; attempt++) {
        if (attempt)
            usleep(200 * 1000);
        fp_buf_reset(&text);
        if (!(rc = fp_lake_read_object(st, name, &text, err)))
            *doc = json_loadb(text.p, text.len, 0, je);
    }
    fp_buf_free(&text);
    return rc;
}

fp_code fp_lake_put_bytes(fp_store *st, const char *name, const void *p, size_t n, fp_err *err)
{
    fp_buf path = FP_BUF_INIT;
    int fd = fp_store_staging_file(st, "lake", &path, err);
    fp_code rc = FP_OK;
    if (fd < 0) {
        rc = err->code;
    } else {
        const char *b = p;
        for (size_t off = 0; off < n && !rc;) {
            ssize_t w = write(fd, b + off, n - off);
            if (w < 0 && errno != EINTR)
                rc = fp_err_set(err, FP_ERR_IO, "%s: %s", path.p, strerror(errno));
            else if (w > 0)
                off += (size_t)w;
        }
        close(fd);
        if (!rc)
            rc = fp_store_put_file(st, path.p, name, err);
        if (rc)
            unlink(path.p);
    }
    fp_buf_free(&path);
    return rc;
}

/* ---------------------------------------------------------------- catalog */

static void catalog_name(fp_buf *b, const char *table)
{
    fp_buf_reset(b);
    fp_buf_printf(b, "_catalog/%s.json", table);
}

fp_code fp_lake_catalog_read(fp_store *lake, const char *table, fp_lake_schema *s, json_t **cat,
                             fp_err *err)
{
    fp_buf name = FP_BUF_INIT;
    catalog_name(&name, table);
    json_t *doc = NULL;
    bool exists = false;
    json_error_t je;
    fp_code rc = fp_store_exists(lake, name.p, &exists, err);
    if (!rc && exists)
        rc = fp_lake_read_json(lake, name.p, &doc, &je, err);
    if (!rc && exists) {
        json_t *cols = json_object_get(json_object_get(doc, "StorageDescriptor"), "Columns");
        if (!json_is_array(cols))
            rc = fp_err_set(err, FP_ERR_INVALID, "%s: not a fleetpipe catalog (%s)", name.p,
                            doc ? "no StorageDescriptor.Columns" : je.text);
        size_t i;
        json_t *c;
        json_array_foreach(rc ? NULL : cols, i, c)
        {
            const char *cn = json_string_value(json_object_get(c, "Name"));
            const char *ct = json_string_value(json_object_get(c, "Type"));
            fp_pq_type t = FP_PQ_STRING;
            if (!cn || !ct || fp_lake_hive_type_parse(ct, &t, err)) {
                rc = fp_err_set(err, FP_ERR_INVALID, "%s: column %zu has no valid Name/Type",
                                name.p, i);
                break;
            }
            if (fp_lake_schema_find(s, cn, strlen(cn)) < 0)
                fp_lake_schema_add(s, cn, strlen(cn), t);
        }
    }
    if (rc || !cat)
        json_decref(doc);
    else
        *cat = doc;
    fp_buf_free(&name);
    return rc;
}

static json_t *new_catalog(const char *lake_url, const char *database, const char *table)
{
    fp_buf loc = FP_BUF_INIT;
    fp_buf_printf(&loc, "%s/%s/", lake_url, table);
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:{s:s}, s:[{s:s,s:s},{s:s,s:s}], s:{s:[], s:s, s:s, s:s, s:{s:s}},"
        " s:[]}",
        "Name", table, "DatabaseName", database, "TableType", "EXTERNAL_TABLE", "Parameters",
        "classification", "parquet", "PartitionKeys", "Name", "dt", "Type", "string", "Name",
        "hour", "Type", "string", "StorageDescriptor", "Columns", "Location", loc.p, "InputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat", "OutputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat", "SerdeInfo",
        "SerializationLibrary", "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Partitions");
    fp_buf_free(&loc);
    return doc;
}

/* The partition entry for (dt, hour), created in order when absent. */
static json_t *partition_of(json_t *parts, const char *location, const fp_lake_file *f)
{
    size_t i, at = json_array_size(parts);
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        json_t *v = json_object_get(p, "Values");
        int c = strcmp(json_string_value(json_array_get(v, 0)) ?: "", f->dt);
        if (!c)
            c = strcmp(json_string_value(json_array_get(v, 1)) ?: "", f->hour);
        if (!c)
            return p;
        if (c > 0) {
            at = i;
            break;
        }
    }
    fp_buf loc = FP_BUF_INIT;
    fp_buf_printf(&loc, "%sdt=%s/hour=%s/", location, f->dt, f->hour);
    p = json_pack("{s:[s,s], s:{s:s}, s:{s:s}, s:[]}", "Values", f->dt, f->hour,
                  "StorageDescriptor", "Location", loc.p, "Parameters", "numRows", "0", "Files");
    fp_buf_free(&loc);
    json_array_insert_new(parts, at, p);
    return p;
}

static void add_file(json_t *part, const fp_lake_file *f)
{
    const char *base = strrchr(f->name, '/');
    base = base ? base + 1 : f->name;
    json_t *files = json_object_get(part, "Files");
    size_t i;
    json_t *e;
    json_array_foreach(files, i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "Name")) ?: "", base)) {
            json_array_remove(files, i);
            break;
        }
    }
    json_array_append_new(files, json_pack("{s:s, s:I, s:I}", "Name", base, "Rows",
                                           (json_int_t)f->rows, "Bytes", (json_int_t)f->bytes));
    int64_t rows = 0;
    json_array_foreach(files, i, e) rows += json_integer_value(json_object_get(e, "Rows"));
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)rows);
    json_object_set_new(json_object_get(part, "Parameters"), "numRows", json_string(num));
}

fp_code fp_lake_catalog_commit(fp_store *lake, const char *lake_url, const char *database,
                               const char *table, fp_pq_codec codec, const fp_lake_schema *s,
                               const fp_lake_file *files, size_t n, int64_t watermark_ms,
                               fp_err *err)
{
    fp_lake_schema cur = {0};
    json_t *doc = NULL;
    fp_code rc = fp_lake_catalog_read(lake, table, &cur, &doc, err);
    if (rc)
        return rc;
    if (!doc)
        doc = new_catalog(lake_url, database, table);
    json_t *sd = json_object_get(doc, "StorageDescriptor");
    json_t *cols = json_object_get(sd, "Columns");
    for (size_t i = 0; i < s->n; i++) {
        long k = fp_lake_schema_find(&cur, s->c[i].name, strlen(s->c[i].name));
        json_t *col = NULL;
        if (k < 0) {
            col = json_pack("{s:s, s:s}", "Name", s->c[i].name, "Type",
                            fp_lake_hive_type(s->c[i].type));
            if (!col) /* names are UTF-8 (convert.c checks); anything else is a bug */
                rc = fp_err_set(err, FP_ERR_INTERNAL, "column %zu: name is not UTF-8", i);
            else
                json_array_append_new(cols, col);
        } else if (cur.c[k].type == FP_PQ_INT64 && s->c[i].type == FP_PQ_DOUBLE) {
            json_object_set_new(json_array_get(cols, (size_t)k), "Type",
                                json_string(fp_lake_hive_type(FP_PQ_DOUBLE)));
        } else if (cur.c[k].type != s->c[i].type &&
                   !(cur.c[k].type == FP_PQ_DOUBLE && s->c[i].type == FP_PQ_INT64)) {
            /* another worker gave the column another type since this conversion read the
             * catalog: convert again against the new one (a retry reads it afresh) */
            rc = fp_err_set(err, FP_ERR_IO,
                            "%s: column %s became %s in the catalog while this conversion wrote "
                            "%s; converting again",
                            table, s->c[i].name, fp_lake_hive_type(cur.c[k].type),
                            fp_lake_hive_type(s->c[i].type));
        }
        if (rc)
            break;
    }
    fp_lake_schema_free(&cur);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    json_t *parts = json_object_get(doc, "Partitions");
    if (!json_is_array(parts)) {
        parts = json_array();
        json_object_set_new(doc, "Partitions", parts);
    }
    /* catalogs written before the codec was recorded get it on their next commit */
    json_t *params = json_object_get(doc, "Parameters");
    if (!json_is_object(params)) {
        params = json_pack("{s:s}", "classification", "parquet");
        json_object_set_new(doc, "Parameters", params);
    }
    json_object_set_new(params, "compressionType", json_string(fp_lake_codec_name(codec)));
    fp_lake_catalog_set_watermark(doc, watermark_ms);
    const char *location = json_string_value(json_object_get(sd, "Location")) ?: "";
    for (size_t i = 0; i < n; i++)
        add_file(partition_of(parts, location, &files[i]), &files[i]);
    fp_buf now = FP_BUF_INIT, name = FP_BUF_INIT;
    fp_time_format_iso(fp_time_now_ms(), &now);
    json_object_set_new(doc, "UpdateTime", json_string(now.p));
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    catalog_name(&name, table);
    rc = fp_lake_put_bytes(lake, name.p, text, strlen(text), err);
    free(text);
    fp_buf_free(&now);
    fp_buf_free(&name);
    json_decref(doc);
    return rc;
}

bool fp_lake_catalog_set_watermark(json_t *cat, int64_t watermark_ms)
{
    json_t *params = json_object_get(cat, "Parameters");
    if (watermark_ms == INT64_MIN || !json_is_object(params))
        return false;
    const char *cur = json_string_value(json_object_get(params, "fleetpipe.watermark"));
    int64_t was = INT64_MIN;
    if (cur && fp_time_parse_iso(cur, strlen(cur), &was, NULL))
        was = INT64_MIN; /* not a time (edited by hand): replaced */
    if (watermark_ms <= was)
        return false;
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(watermark_ms, &b);
    json_object_set_new(params, "fleetpipe.watermark", json_string(b.p));
    fp_buf_free(&b);
    return true;
}

fp_code fp_lake_catalog_raise_watermark(fp_store *lake, const char *table, int64_t watermark_ms,
                                        fp_err *err)
{
    fp_lake_schema cur = {0};
    json_t *doc = NULL;
    fp_code rc = fp_lake_catalog_read(lake, table, &cur, &doc, err);
    fp_lake_schema_free(&cur);
    if (rc || !doc || !fp_lake_catalog_set_watermark(doc, watermark_ms)) {
        json_decref(doc);
        return rc;
    }
    fp_buf name = FP_BUF_INIT;
    catalog_name(&name, table);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    rc = fp_lake_put_bytes(lake, name.p, text, strlen(text), err);
    free(text);
    fp_buf_free(&name);
    json_decref(doc);
    return rc;
}
