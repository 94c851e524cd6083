/* watermark.c — the lake's event-time watermark: <lake>/_catalog/_watermark.json, and a copy of
 * each table's value in its catalog as Parameters["fleetpipe.watermark"] (docs/lake.md,
 * "Watermark").
 *
 * The one thing to know: a source is one Kafka partition of the raw lake connector
 * (`<topic>+<partition>` of the raw object's name). Per source the lake keeps the newest event
 * time it converted (the max of the rows' partitioning time, order-independent, so converting an
 * object again changes nothing). A table's watermark is the min over the non-idle sources of
 * the topics that ever fed it, less the lateness; it only moves forward. The lake-wide value is
 * the same over every source except the dead-letter topic's (flagged "deadletter"). The document is
 * merged like the catalog (re-read, merge, write): the merge is monotonic (max per source, max per
 * watermark), so a lost race only delays a value until the next conversion writes it again.
 * Pure functions (source parsing, apply, recompute) are separate from the store I/O so the unit
 * test (tests/unit/test_lake_watermark.c) pins them down. One thread per fp_lake, like lake.h.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "lake/lake_int.h"

#define WM_NAME "_catalog/_watermark.json"

bool fp_lake_wm_source_of(const char *name, fp_buf *source, fp_buf *topic, int32_t *partition,
                          int64_t *offset)
{
    size_t n;
    const char *b = fp_lake_object_base(name, &n);
    /* <topic>+<partition>+<20 digits>: Kafka topic names have no '+', so parse from the right */
    if (n < 24 || b[n - 21] != '+')
        return false;
    int64_t off = 0;
    for (size_t i = n - 20; i < n; i++) {
        if (b[i] < '0' || b[i] > '9')
            return false;
        if (off > (INT64_MAX - 9) / 10)
            return false;
        off = off * 10 + (b[i] - '0');
    }
    size_t pe = n - 21, ps = pe;
    while (ps > 0 && b[ps - 1] >= '0' && b[ps - 1] <= '9')
        ps--;
    if (ps == pe || pe - ps > 9 || ps < 2 || b[ps - 1] != '+')
        return false;
    int64_t part = 0;
    for (size_t i = ps; i < pe; i++)
        part = part * 10 + (b[i] - '0');
    if (part > INT32_MAX)
        return false;
    size_t tn = ps - 1;
    for (size_t i = 0; i < tn; i++)
        if (b[i] == '+' || b[i] == '/')
            return false;
    if (source) {
        fp_buf_reset(source);
        fp_buf_append(source, b, pe);
    }
    if (topic) {
        fp_buf_reset(topic);
        fp_buf_append(topic, b, tn);
    }
    if (partition)
        *partition = (int32_t)part;
    if (offset)
        *offset = off;
    return true;
}

/* An integer member, or def when absent or not an integer. */
static int64_t get_i64(const json_t *o, const char *k, int64_t def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static json_t *obj_member(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_object(v)) {
        v = json_object();
        json_object_set_new(o, k, v);
    }
    return v;
}

/* Sets k_ms (integer or null) and k (ISO-8601 UTC or null) of o. */
static void set_time(json_t *o, const char *k, int64_t ms)
{
    char km[64];
    snprintf(km, sizeof km, "%s_ms", k);
    if (ms == INT64_MIN) {
        json_object_set_new(o, k, json_null());
        json_object_set_new(o, km, json_null());
        return;
    }
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(ms, &b);
    json_object_set_new(o, k, json_string(b.p));
    json_object_set_new(o, km, json_integer((json_int_t)ms));
    fp_buf_free(&b);
}

json_t *fp_lake_wm_new_doc(void)
{
    json_t *d = json_object();
    json_object_set_new(d, "sources", json_object());
    json_object_set_new(d, "tables", json_object());
    set_time(d, "watermark", INT64_MIN);
    json_object_set_new(d, "late_rows", json_integer(0));
    return d;
}

int64_t fp_lake_wm_table(const json_t *doc, const char *table)
{
    if (!table || !table[0])
        return get_i64(doc, "watermark_ms", INT64_MIN);
    return get_i64(json_object_get(json_object_get(doc, "tables"), table), "watermark_ms",
                   INT64_MIN);
}

bool fp_lake_wm_is_replay(const json_t *doc, const char *source, int64_t offset)
{
    const json_t *s = json_object_get(json_object_get(doc, "sources"), source);
    return s && offset <= get_i64(s, "last_offset", -1);
}

/* The watermark over the sources whose topic is in topics (all when NULL), before the
 * forward-only max: INT64_MIN when it cannot be known (no source that holds it, or one that
 * holds it has converted nothing yet). */
static int64_t wm_over(json_t *sources, const json_t *topics, int64_t now_ms, int64_t lateness,
                       int64_t idle)
{
    const char *k;
    json_t *s;
    int64_t min = INT64_MAX;
    bool any = false;
    json_object_foreach(sources, k, s)
    {
        if (!topics && json_is_true(json_object_get(s, "deadletter")))
            continue; /* the lake-wide value is the telemetry's (docs/lake.md, "Dead letters") */
        if (topics) {
            const char *t = json_string_value(json_object_get(s, "topic"));
            bool in = false;
            size_t i;
            json_t *e;
            json_array_foreach(topics, i, e) in |= t && !strcmp(t, json_string_value(e) ?: "");
            if (!in)
                continue;
        }
        int64_t seen = get_i64(s, "seen_at_ms", INT64_MIN);
        if (idle > 0 && seen != INT64_MIN && now_ms - seen > idle)
            continue; /* idle: no new object for `idle`, does not hold the watermark back */
        int64_t newest = get_i64(s, "newest_ms", INT64_MIN);
        if (newest == INT64_MIN)
            return INT64_MIN; /* known, converted nothing yet: holds it where it is */
        any = true;
        if (newest < min)
            min = newest;
    }
    if (!any)
        return INT64_MIN; /* every source idle (or none): the watermark holds */
    return min > INT64_MIN + lateness ? min - lateness : INT64_MIN;
}

void fp_lake_wm_recompute(json_t *doc, int64_t now_ms, int64_t lateness_ms, int64_t idle_ms)
{
    json_t *sources = obj_member(doc, "sources"), *tables = obj_member(doc, "tables");
    json_object_set_new(doc, "lateness_ms", json_integer((json_int_t)lateness_ms));
    json_object_set_new(doc, "idle_ms", json_integer((json_int_t)idle_ms));
    const char *k;
    json_t *t;
    json_object_foreach(tables, k, t)
    {
        int64_t w = wm_over(sources, json_object_get(t, "topics"), now_ms, lateness_ms, idle_ms);
        int64_t cur = get_i64(t, "watermark_ms", INT64_MIN);
        set_time(t, "watermark", w > cur ? w : cur);
    }
    int64_t w = wm_over(sources, NULL, now_ms, lateness_ms, idle_ms);
    int64_t cur = get_i64(doc, "watermark_ms", INT64_MIN);
    set_time(doc, "watermark", w > cur ? w : cur);
}

void fp_lake_wm_apply(json_t *doc, const fp_lake_wm_update *u, int64_t now_ms)
{
    json_t *sources = obj_member(doc, "sources"), *tables = obj_member(doc, "tables");
    json_t *s = json_object_get(sources, u->source);
    if (!json_is_object(s)) {
        s = json_pack("{s:s, s:i, s:n, s:I, s:I}", "topic", u->topic, "partition",
                      (int)u->partition, "last_object", "last_offset", (json_int_t)-1, "objects",
                      (json_int_t)0);
        set_time(s, "newest", INT64_MIN);
        set_time(s, "seen_at", now_ms); /* registration starts the idle clock */
        json_object_set_new(sources, u->source, s);
    }
    if (u->deadletter)
        json_object_set_new(s, "deadletter", json_true());
    if (u->register_only)
        return;
    if (u->offset > get_i64(s, "last_offset", -1)) {
        /* a new object of the source (not a re-conversion): it is the last one and restarts
         * the idle clock */
        json_object_set_new(s, "last_object", json_string(u->object));
        json_object_set_new(s, "last_offset", json_integer((json_int_t)u->offset));
        json_object_set_new(s, "objects", json_integer((json_int_t)(get_i64(s, "objects", 0) + 1)));
        if (now_ms > get_i64(s, "seen_at_ms", INT64_MIN))
            set_time(s, "seen_at", now_ms);
    }
    if (u->newest_ms != INT64_MIN && u->newest_ms > get_i64(s, "newest_ms", INT64_MIN))
        set_time(s, "newest", u->newest_ms);
    int64_t late = 0;
    for (size_t i = 0; i < u->ntables; i++) {
        json_t *t = json_object_get(tables, u->tables[i].name);
        if (!json_is_object(t)) {
            t = json_pack("{s:[], s:I}", "topics", "late_rows", (json_int_t)0);
            set_time(t, "watermark", INT64_MIN);
            json_object_set_new(tables, u->tables[i].name, t);
        }
        json_t *topics = json_object_get(t, "topics");
        if (!json_is_array(topics)) {
            topics = json_array();
            json_object_set_new(t, "topics", topics);
        }
        bool in = false;
        size_t j;
        json_t *e;
        json_array_foreach(topics, j, e) in |= !strcmp(json_string_value(e) ?: "", u->topic);
        if (!in)
            json_array_append_new(topics, json_string(u->topic));
        json_object_set_new(
            t, "late_rows",
            json_integer((json_int_t)(get_i64(t, "late_rows", 0) + u->tables[i].late_rows)));
        late += u->tables[i].late_rows;
    }
    json_object_set_new(doc, "late_rows",
                        json_integer((json_int_t)(get_i64(doc, "late_rows", 0) + late)));
}

fp_code fp_lake_wm_read(fp_store *lake, json_t **doc, fp_err *err)
{
    *doc = NULL;
    bool exists = false;
    fp_code rc = fp_store_exists(lake, WM_NAME, &exists, err);
    if (rc || !exists) {
        if (!rc)
            *doc = fp_lake_wm_new_doc();
        return rc;
    }
    json_error_t je;
    rc = fp_lake_read_json(lake, WM_NAME, doc, &je, err);
    if (!rc) {
        if (!json_is_object(*doc) || !json_is_object(json_object_get(*doc, "sources"))) {
            json_decref(*doc);
            *doc = NULL;
            rc = fp_err_set(err, FP_ERR_INVALID, "%s: not a fleetpipe watermark (%s)", WM_NAME,
                            je.text[0] ? je.text : "no \"sources\" object");
        }
    }
    return rc;
}

fp_code fp_lake_wm_commit(fp_store *lake, const fp_lake_wm_update *u, size_t n, int64_t now_ms,
                          int64_t lateness_ms, int64_t idle_ms, json_t **out, fp_err *err)
{
    json_t *doc = NULL;
    fp_code rc = fp_lake_wm_read(lake, &doc, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        fp_lake_wm_apply(doc, &u[i], now_ms);
    fp_lake_wm_recompute(doc, now_ms, lateness_ms, idle_ms);
    fp_buf now = FP_BUF_INIT;
    fp_time_format_iso(now_ms, &now);
    json_object_set_new(doc, "UpdateTime", json_string(now.p));
    fp_buf_free(&now);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    rc = fp_lake_put_bytes(lake, WM_NAME, text, strlen(text), err);
    free(text);
    if (!rc && out)
        *out = doc;
    else
        json_decref(doc);
    return rc ? fp_err_prefix(err, "%s", WM_NAME) : FP_OK;
}

fp_code fp_lake_watermark_read(const char *lake_url, const fp_store_opts *so, const char *table,
                               int64_t *watermark_ms, fp_err *err)
{
    *watermark_ms = INT64_MIN;
    fp_store_opts o = so ? *so : (fp_store_opts){0};
    o.read_only = true;
    o.must_exist = true;
    fp_store *st = NULL;
    fp_code rc = fp_store_open(lake_url, &o, &st, err);
    json_t *doc = NULL;
    if (!rc)
        rc = fp_lake_wm_read(st, &doc, err);
    if (!rc)
        *watermark_ms = fp_lake_wm_table(doc, table);
    json_decref(doc);
    fp_store_free(st);
    return rc;
}
