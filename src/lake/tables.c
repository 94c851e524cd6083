/* tables.c — the catalog as plain data for the lake's readers (lake.h, fp_lake_table_*): the
 * warehouse loads partitions by what the catalog says they hold, so it needs the columns and
 * each partition's files, rows and bytes, without jansson or the lake's internals.
 *
 * The catalog is the lake's commit record: a file appears in it only after it was written whole,
 * so a reader that goes by the catalog never sees a file half-converted.
 */
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "lake/lake_int.h"

static bool table_name_ok(const char *s, size_t n)
{
    size_t k = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
    return n > 0 && n <= 63 && k >= n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

fp_code fp_lake_cat_tables(fp_store *lake, fp_strv *out, fp_err *err)
{
    fp_strv names = {0};
    fp_code rc = fp_store_list(lake, "_catalog/", &names, err);
    size_t first = out->n;
    for (size_t i = 0; i < names.n && !rc; i++) {
        if (strncmp(names.v[i], "_catalog/", 9))
            continue;
        const char *b = names.v[i] + 9;
        size_t len = strlen(b);
        if (len < 5 || strcmp(b + len - 5, ".json") || strchr(b, '/') || b[0] == '_')
            continue; /* not a table's catalog (_watermark.json is the lake's own) */
        if (!table_name_ok(b, len - 5)) {
            rc = fp_err_set(err, FP_ERR_INVALID, "%s: not a lake table name ([a-z0-9_])",
                            names.v[i]);
            break;
        }
        out->v = fp_xrealloc(out->v, (out->n + 1) * sizeof *out->v);
        out->v[out->n++] = fp_xstrndup(b, len - 5);
    }
    fp_strv_free(&names);
    if (out->n > first)
        qsort(out->v + first, out->n - first, sizeof *out->v, cmp_str);
    return rc;
}

void fp_lake_cat_free(fp_lake_cat_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncols; i++)
        free(t->cols[i].name);
    for (size_t i = 0; i < t->nparts; i++) {
        for (size_t j = 0; j < t->parts[i].nfiles; j++)
            free(t->parts[i].files[j].name);
        free(t->parts[i].files);
    }
    free(t->cols);
    free(t->parts);
    free(t->name);
    *t = (fp_lake_cat_table){0};
}

/* "YYYY-MM-DD" and "HH" as the catalog writes them, and the hour's start. */
static bool part_values(const char *dt, const char *hour, int64_t *start)
{
    if (!dt || !hour || strlen(dt) != 10 || strlen(hour) != 2)
        return false;
    char iso[32];
    snprintf(iso, sizeof iso, "%sT%s:00:00Z", dt, hour);
    return fp_time_parse_iso(iso, strlen(iso), start, NULL) == FP_OK;
}

static int cmp_part(const void *a, const void *b)
{
    const fp_lake_cat_part *x = a, *y = b;
    return x->start_ms < y->start_ms ? -1 : x->start_ms > y->start_ms;
}

fp_code fp_lake_cat_read(fp_store *lake, const char *table, fp_lake_cat_table *out, fp_err *err)
{
    *out = (fp_lake_cat_table){0};
    fp_lake_schema s = {0};
    json_t *cat = NULL;
    fp_code rc = fp_lake_catalog_read(lake, table, &s, &cat, err);
    if (!rc && !cat)
        rc = fp_err_set(err, FP_ERR_NOTFOUND, "_catalog/%s.json: no such table", table);
    if (rc) {
        fp_lake_schema_free(&s);
        return rc;
    }
    out->name = fp_xstrdup(table);
    out->cols = fp_xcalloc(s.n ? s.n : 1, sizeof *out->cols);
    for (size_t i = 0; i < s.n; i++)
        out->cols[out->ncols++] = (fp_lake_cat_col){fp_xstrdup(s.c[i].name), s.c[i].type};
    fp_lake_schema_free(&s);
    json_t *parts = json_object_get(cat, "Partitions");
    size_t np = json_is_array(parts) ? json_array_size(parts) : 0;
    out->parts = fp_xcalloc(np ? np : 1, sizeof *out->parts);
    for (size_t i = 0; i < np && !rc; i++) {
        json_t *p = json_array_get(parts, i);
        json_t *v = json_object_get(p, "Values");
        const char *dt = json_string_value(json_array_get(v, 0));
        const char *hour = json_string_value(json_array_get(v, 1));
        fp_lake_cat_part *tp = &out->parts[out->nparts];
        if (!part_values(dt, hour, &tp->start_ms)) {
            rc = fp_err_set(err, FP_ERR_INVALID,
                            "_catalog/%s.json: partition %zu: Values are not [\"YYYY-MM-DD\", "
                            "\"HH\"]",
                            table, i);
            break;
        }
        out->nparts++;
        memcpy(tp->dt, dt, 11);
        memcpy(tp->hour, hour, 3);
        const char *nr =
            json_string_value(json_object_get(json_object_get(p, "Parameters"), "numRows"));
        tp->rows = nr ? strtoll(nr, NULL, 10) : 0;
        json_t *files = json_object_get(p, "Files");
        size_t nf = json_is_array(files) ? json_array_size(files) : 0;
        tp->files = fp_xcalloc(nf ? nf : 1, sizeof *tp->files);
        for (size_t j = 0; j < nf; j++) {
            json_t *f = json_array_get(files, j);
            const char *name = json_string_value(json_object_get(f, "Name"));
            json_t *r = json_object_get(f, "Rows"), *b = json_object_get(f, "Bytes");
            if (!name || !*name || strchr(name, '/') || !json_is_integer(r) ||
                !json_is_integer(b)) {
                rc = fp_err_set(err, FP_ERR_INVALID,
                                "_catalog/%s.json: partition dt=%s/hour=%s: file %zu has no "
                                "Name, Rows and Bytes",
                                table, dt, hour, j);
                break;
            }
            tp->files[tp->nfiles++] = (fp_lake_cat_file){
                fp_xstrdup(name), (int64_t)json_integer_value(r), (int64_t)json_integer_value(b)};
        }
    }
    json_decref(cat);
    if (rc) {
        fp_lake_cat_free(out);
        return rc;
    }
    qsort(out->parts, out->nparts, sizeof *out->parts, cmp_part);
    return FP_OK;
}
