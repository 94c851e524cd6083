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

static fp_code collect_cb(const void *data, size_t n, void *arg, fp_err *err)
{
    fp_buf_append(arg, data, n);
    return FP_OK;
}

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

static fp_code table_ddl(const char *database, const char *name, json_t *cat, fp_buf *out,
                         fp_err *err)
{
    const char *table = json_string_value(json_object_get(cat, "Name"));
    json_t *sd = json_object_get(cat, "StorageDescriptor");
    json_t *cols = json_object_get(sd, "Columns");
    const char *loc = json_string_value(json_object_get(sd, "Location"));
    if (!table || !json_is_array(cols) || !loc || !ddl_name_ok(table) || !json_array_size(cols))
        return fp_err_set(err, FP_ERR_INVALID,
                          "%s: not a catalog table (needs a Name of [a-z0-9_], "
                          "StorageDescriptor.Columns and StorageDescriptor.Location)",
                          name);
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
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c)
    {
        const char *cn = json_string_value(json_object_get(c, "Name"));
        const char *ct = json_string_value(json_object_get(c, "Type"));
        bool known = false;
        for (int t = FP_PQ_BOOL; ct && t <= FP_PQ_TIMESTAMP; t++)
            known = known || !strcmp(ct, fp_pq_type_name((fp_pq_type)t));
        if (!cn || !known)
            return fp_err_set(err, FP_ERR_INVALID, "%s: column %zu has no Name or a bad Type", name,
                              i);
        fp_buf_puts(out, i ? ",\n  " : "\n  ");
        quoted(out, '`', cn);
        fp_buf_printf(out, " %s", ct);
    }
    fp_buf_puts(out, "\n)\nPARTITIONED BY (`dt` string, `hour` string)\nSTORED AS PARQUET\n"
                     "LOCATION ");
    quoted(out, '\'', loc);
    fp_buf_puts(out, "\nTBLPROPERTIES ('parquet.compression'='ZSTD');\nMSCK REPAIR TABLE ");
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
    fp_buf_puts(out, ", hive_partitioning = true, union_by_name = true);\n\n");
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
    fp_code rc = fp_store_open(lake_url, so, &st, err);
    if (rc)
        return rc;
    fp_strv names = {0};
    if (table && table[0]) {
        fp_buf n = FP_BUF_INIT;
        fp_buf_printf(&n, "_catalog/%s.json", table);
        names.v = fp_xcalloc(1, sizeof *names.v);
        names.v[names.n++] = fp_buf_steal(&n);
    } else {
        rc = fp_store_list(st, "_catalog/", &names, err);
        if (!rc && !names.n)
            rc = fp_err_set(err, FP_ERR_NOTFOUND, "%s: no tables in _catalog/", lake_url);
        if (!rc) /* listings come in store order; the DDL in table order */
            qsort(names.v, names.n, sizeof *names.v, cmp_str);
    }
    fp_buf raw = FP_BUF_INIT;
    for (size_t i = 0; i < names.n && !rc; i++) {
        size_t len = strlen(names.v[i]);
        if (len < 5 || strcmp(names.v[i] + len - 5, ".json"))
            continue;
        fp_buf_reset(&raw);
        rc = fp_store_read(st, names.v[i], collect_cb, &raw, err);
        if (rc) {
            fp_err_prefix(err, "%s", names.v[i]);
            break;
        }
        json_error_t je;
        json_t *cat = json_loadb(raw.p ? raw.p : "", raw.len, 0, &je);
        if (!cat)
            rc = fp_err_set(err, FP_ERR_INVALID, "%s: %s (line %d)", names.v[i], je.text, je.line);
        else
            rc = table_ddl(database, names.v[i], cat, out, err);
        json_decref(cat);
    }
    fp_buf_free(&raw);
    fp_strv_free(&names);
    fp_store_free(st);
    return rc;
}
