/* ddl.c — SQL for the lake's tables from the catalog: an Athena / Redshift Spectrum external
 * table (with MSCK REPAIR TABLE to load the dt/hour partitions) and a DuckDB view.
 *
 * Every name that reaches the SQL is either checked ([a-z0-9_] table names) or quoted with the
 * quote character doubled, so a catalog cannot inject statements.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lake/lake_int.h"

/* Appends s between q and q, a q inside doubled (backticks for Athena, " for DuckDB, ' for SQL
 * string literals). */
static void quoted(fp_buf *b, char q, const char *s)
{
    fp_buf_putc(b, q);
    for (; *s; s++) {
        if (*s == q)
            fp_buf_putc(b, q);
        fp_buf_putc(b, *s);
    }
    fp_buf_putc(b, q);
}

/* Table names as the lake makes them (<object>_<type>, [a-z0-9_]); anything else in a catalog
 * (or in --table) is refused, so it can reach neither SQL comments nor paths. */
static bool ddl_name_ok(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
    return n > 0 && n <= 129 && s[n] == '\0';
}

/* The TBLPROPERTIES clause for the codec the catalog records ("" for uncompressed files, and
 * for catalogs written before the codec was recorded: no claim rather than a wrong one; Athena
 * reads each file's codec from the file itself). */
static fp_code compression_clause(const char *name, json_t *cat, const char **out, fp_err *err)
{
    const char *v =
        json_string_value(json_object_get(json_object_get(cat, "Parameters"), "compressionType"));
    *out = "";
    if (!v)
        return FP_OK;
    fp_pq_codec c;
    if (fp_lake_codec_parse(v, &c, err))
        return fp_err_prefix(err, "%s: Parameters", name);
    switch (c) {
    case FP_PQ_ZSTD:
        *out = "TBLPROPERTIES ('parquet.compression'='ZSTD');\n";
        break;
    case FP_PQ_SNAPPY:
        *out = "TBLPROPERTIES ('parquet.compression'='SNAPPY');\n";
        break;
    case FP_PQ_UNCOMPRESSED:
        break;
    }
    return FP_OK;
}

/* One table's DDL from its catalog: cat is the document, s its columns (fp_lake_catalog_read
 * checked their names and types). */
static fp_code table_ddl(const char *database, const char *name, json_t *cat,
                         const fp_lake_schema *s, fp_buf *out, fp_err *err)
{
    const char *table = json_string_value(json_object_get(cat, "Name"));
    const char *loc =
        json_string_value(json_object_get(json_object_get(cat, "StorageDescriptor"), "Location"));
    if (!table || !loc || !ddl_name_ok(table) || !s->n)
        return fp_err_set(err, FP_ERR_INVALID,
                          "%s: not a catalog table (needs a Name of [a-z0-9_], "
                          "StorageDescriptor.Columns and StorageDescriptor.Location)",
                          name);
    const char *props;
    fp_code rc = compression_clause(name, cat, &props, err);
    if (rc)
        return rc;
    const char *db = database && database[0]
                         ? database
                         : json_string_value(json_object_get(cat, "DatabaseName"));
    if (!db || !db[0])
        db = "fleetpipe";
    fp_buf_printf(out, "-- %s (Athena / Redshift Spectrum)\nCREATE EXTERNAL TABLE IF NOT EXISTS ",
                  table);
    quoted(out, '`', db);
    fp_buf_putc(out, '.');
    quoted(out, '`', table);
    fp_buf_puts(out, " (");
    for (size_t i = 0; i < s->n; i++) {
        fp_buf_puts(out, i ? ",\n  " : "\n  ");
        quoted(out, '`', s->c[i].name);
        fp_buf_printf(out, " %s", fp_lake_hive_type(s->c[i].type));
    }
    fp_buf_puts(out, "\n)\nPARTITIONED BY (`dt` string, `hour` string)\nSTORED AS PARQUET\n"
                     "LOCATION ");
    quoted(out, '\'', loc);
    fp_buf_printf(out, "\n%sMSCK REPAIR TABLE ", props);
    quoted(out, '`', db);
    fp_buf_putc(out, '.');
    quoted(out, '`', table);
    fp_buf_puts(out, ";\n\n-- DuckDB\nCREATE OR REPLACE VIEW ");
    quoted(out, '"', table);
    /* DuckDB reads local files by path and s3:// itself (httpfs). */
    fp_buf dl = FP_BUF_INIT;
    fp_buf_puts(&dl, strncmp(loc, "file://", 7) ? loc : loc + 7);
    if (dl.len && dl.p[dl.len - 1] != '/')
        fp_buf_putc(&dl, '/');
    fp_buf_puts(&dl, "*/*/*.parquet");
    fp_buf_puts(out, " AS SELECT * FROM read_parquet(");
    quoted(out, '\'', dl.p);
    /* Typed as PostgreSQL's loaded tables have them (warehouse load: dt date, hour smallint),
     * so one mart SQL compares them the same way in both; DuckDB would guess hour as text. */
    fp_buf_puts(out, ", hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER}, "
                     "union_by_name = true);\n\n");
    fp_buf_free(&dl);
    return FP_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

fp_code fp_lake_ddl(const char *lake_url, const fp_store_opts *so, const char *table,
                    const char *database, fp_buf *out, fp_err *err)
{
    if (table && table[0] && !ddl_name_ok(table))
        return fp_err_set(err, FP_ERR_CONFIG, "--table %s: not a lake table name ([a-z0-9_])",
                          table);
    fp_store *st = NULL;
    fp_store_opts ro = so ? *so : (fp_store_opts){.path_style = -1};
    ro.read_only = true; /* DDL only reads the catalog: a missing lake is an error, not created */
    fp_code rc = fp_store_open(lake_url, &ro, &st, err);
    if (rc)
        return rc;
    fp_strv tables = {0};
    if (table && table[0]) {
        tables.v = fp_xcalloc(1, sizeof *tables.v);
        tables.v[tables.n++] = fp_xstrdup(table);
    } else {
        fp_strv names = {0};
        rc = fp_store_list(st, "_catalog/", &names, err);
        tables.v = fp_xcalloc(names.n ? names.n : 1, sizeof *tables.v);
        for (size_t i = 0; i < names.n && !rc; i++) {
            /* "_catalog/<table>.json"; other files there are not the lake's */
            const char *b = names.v[i] + strlen("_catalog/");
            size_t len = strlen(b);
            if (strncmp(names.v[i], "_catalog/", 9) || len < 5 || strcmp(b + len - 5, ".json") ||
                !strcmp(b, "_watermark.json")) /* the lake's watermark (watermark.c) */
                continue;
            char *t = fp_xstrndup(b, len - 5);
            if (!ddl_name_ok(t))
                rc = fp_err_set(err, FP_ERR_INVALID, "%s: not a lake table name ([a-z0-9_])",
                                names.v[i]);
            tables.v[tables.n++] = t;
        }
        fp_strv_free(&names);
        if (!rc && !tables.n)
            rc = fp_err_set(err, FP_ERR_NOTFOUND, "%s: no tables in _catalog/", lake_url);
        if (!rc) /* listings come in store order; the DDL in table order */
            qsort(tables.v, tables.n, sizeof *tables.v, cmp_str);
    }
    for (size_t i = 0; i < tables.n && !rc; i++) {
        fp_lake_schema s = {0};
        json_t *cat = NULL;
        fp_buf name = FP_BUF_INIT;
        fp_buf_printf(&name, "_catalog/%s.json", tables.v[i]);
        rc = fp_lake_catalog_read(st, tables.v[i], &s, &cat, err);
        if (!rc && !cat)
            rc = fp_err_set(err, FP_ERR_NOTFOUND, "%s: no such table in %s", name.p, lake_url);
        if (!rc)
            rc = table_ddl(database, name.p, cat, &s, out, err);
        json_decref(cat);
        fp_lake_schema_free(&s);
        fp_buf_free(&name);
    }
    fp_strv_free(&tables);
    fp_store_free(st);
    return rc;
}
