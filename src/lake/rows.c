/* rows.c — the raw lake's rows as a conversion makes them, without writing anything (lake.h,
 * fp_lake_raw_rows): for readers that count what the raw lake holds (check's reconcile kind).
 *
 * The split is the conversion's own chain (SplitArrayField on "measurements" under HasField, so
 * an event message is one row) and the routing is add_row()'s rule in convert.c: the table is
 * <object>_<type>, the time timestamp_iso, else messaged_at. A change to either belongs in both
 * places; tests/integration/check_stores.sh counts a clean lake both ways and finds them equal.
 */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/props.h"
#include "core/time.h"
#include "lake/lake_int.h"
#include "xform/xform.h"

static bool table_name_ok(fp_span s)
{
    if (!s.n || s.n > 64)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One split row: routed and handed on, or counted as failed. */
static fp_code route(fp_span rec, fp_lake_raw_row_fn fn, void *arg, fp_lake_raw_counts *c,
                     fp_err *err)
{
    fp_span obj, typ, ts, id;
    bool has_obj = fp_json_obj_get(rec, "object", 6, &obj) && obj.p[0] == '"';
    bool has_typ = fp_json_obj_get(rec, "type", 4, &typ) && typ.p[0] == '"';
    if (!has_obj || !has_typ) {
        c->failed++;
        return FP_OK;
    }
    fp_span os = {obj.p + 1, obj.n - 2}, tys = {typ.p + 1, typ.n - 2};
    if (!table_name_ok(os) || !table_name_ok(tys)) {
        c->failed++;
        return FP_OK;
    }
    if (!(fp_json_obj_get(rec, "timestamp_iso", 13, &ts) && ts.p[0] == '"') &&
        !(fp_json_obj_get(rec, "messaged_at", 11, &ts) && ts.p[0] == '"')) {
        c->failed++;
        return FP_OK;
    }
    int64_t t;
    if (fp_time_parse_iso(ts.p + 1, ts.n - 2, &t, NULL)) {
        c->failed++;
        return FP_OK;
    }
    int64_t vid = INT64_MIN;
    if (fp_json_obj_get(rec, "id", 2, &id) && id.n < 24) {
        char num[24];
        memcpy(num, id.p, id.n);
        num[id.n] = '\0';
        int64_t x;
        if (fp_parse_i64(num, &x) == FP_OK)
            vid = x;
    }
    char table[160];
    snprintf(table, sizeof table, "%.*s_%.*s", (int)os.n, os.p, (int)tys.n, tys.p);
    c->rows++;
    fp_lake_raw_row row = {table, vid, t, rec.p, rec.n};
    return fn(&row, arg, err);
}

fp_code fp_lake_raw_rows(fp_store *raw, int64_t since_ms, int64_t until_ms,
                         const char *deadletter_topic, fp_lake_raw_row_fn fn, void *arg,
                         fp_lake_raw_counts *c, fp_err *err)
{
    fp_lake_raw_counts local = {0};
    if (!c)
        c = &local;
    const char *dl = deadletter_topic ? deadletter_topic : "fms.deadletter";
    fp_props p;
    fp_props_init(&p);
    fp_props_set(&p, "predicates", "samples");
    fp_props_set(&p, "predicates.samples.type", "HasField");
    fp_props_set(&p, "predicates.samples.field", "measurements");
    fp_props_set(&p, "transforms", "split");
    fp_props_set(&p, "transforms.split.type", "SplitArrayField");
    fp_props_set(&p, "transforms.split.field", "measurements");
    fp_props_set(&p, "transforms.split.predicate", "samples");
    fp_xform_chain *chain = NULL;
    fp_code rc = fp_xform_chain_new(&p, &chain, err);
    fp_props_free(&p);
    fp_strv names = {0};
    if (!rc)
        rc = fp_store_list(raw, "", &names, err);
    if (!rc && names.n > 1)
        qsort(names.v, names.n, sizeof *names.v, name_cmp);
    fp_xform_out out = {0};
    fp_buf text = FP_BUF_INIT;
    for (size_t i = 0; i < names.n && !rc; i++) {
        const char *name = names.v[i];
        int64_t t0, t1;
        if (!fp_lake_is_raw_name(name) ||
            (fp_lake_name_time(name, &t0, &t1) && (t1 <= since_ms || t0 >= until_ms)))
            continue;
        size_t bn;
        const char *base = fp_lake_object_base(name, &bn);
        size_t dn = strlen(dl);
        if (dn && bn > dn && !strncmp(base, dl, dn) && base[dn] == '+')
            continue; /* dead letters are rows of their own table, never telemetry */
        fp_buf_reset(&text);
        if ((rc = fp_lake_read_object(raw, name, &text, err))) {
            fp_err_prefix(err, "raw %s", name);
            break;
        }
        c->objects++;
        const char *q = text.p, *end = text.p + text.len;
        while (q && q < end && !rc) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            const char *e = nl ? nl : end;
            if (fp_json_skip_ws(q, e) < e) {
                c->messages++;
                fp_rec_meta meta = {NULL, -1, -1, -1, name};
                fp_err xe;
                fp_xform_out_reset(&out);
                if (fp_xform_chain_apply(chain, &meta, q, (size_t)(e - q), &out, &xe)) {
                    c->failed++;
                } else {
                    for (size_t k = 0; k < out.n && !rc; k++)
                        rc = route((fp_span){out.data.p + out.off[k], out.len[k]}, fn, arg, c, err);
                }
            }
            q = nl ? nl + 1 : end;
        }
    }
    fp_buf_free(&text);
    fp_xform_out_free(&out);
    fp_strv_free(&names);
    fp_xform_chain_free(chain);
    return rc;
}
