/* convert.c — one raw object to per-type Parquet files (see lake.h for the contract).
 *
 * Two passes over an object. Pass 1 splits each message (the connectors' SplitArrayField),
 * types every field of every row and checks it against the table's schema (the catalog's, plus
 * what this object adds); rows that fit keep their values in flat arrays (strings in one byte
 * buffer), rows that do not go to the retry queue with the reason. Pass 2 buckets the rows by
 * (table, hour), sorts each bucket by (id, timestamp, arrival) and writes one Parquet file per
 * bucket with the table's final schema, so every file of an object agrees on column types even
 * when a later row widened a column. Then the catalog and the retry queue are committed.
 *
 * Memory: pass 1 holds the object's text plus about 16 bytes per value and 40 per row; the text
 * is released before pass 2, whose Parquet writer buffers up to one row group (--row-group-mb,
 * 64 MiB) on top of the values; all of it is released after the object. Raw objects are bounded
 * by the objstore sink's flush.size (docs/lake.md, "Memory").
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/props.h"
#include "core/time.h"
#include "lake/lake_int.h"
#include "xform/xform.h"

typedef struct fp_lake_val {
    uint16_t col;
    uint8_t kind; /* fp_pq_type of the value; INT64 in a DOUBLE column is converted on write */
    uint32_t slen;
    union {
        int64_t i;
        double d;
        uint64_t off; /* STRING: offset in l->strs */
        bool b;
    } u;
} fp_lake_val;

typedef struct fp_lake_row {
    uint32_t group, nval;
    uint64_t first; /* index of the first value in l->vals */
    int64_t id, ts;
} fp_lake_row;

typedef struct fp_lake_table {
    char *name;
    fp_lake_schema schema;
} fp_lake_table;

typedef struct fp_lake_group {
    uint32_t table;
    int64_t hour; /* epoch hours of the rows' UTC timestamp_iso */
    size_t nrows, start;
} fp_lake_group;

typedef struct fp_lake_member {
    fp_span k, v;
    bool kesc;
} fp_lake_member;

struct fp_lake {
    int64_t last_newest_ms; /* newest messaged_at of the last object converted; INT64_MIN none */
    char *to_url, *database;
    fp_store *from, *to;
    fp_pq_writer_opts pq;
    fp_xform_chain *chain;
    fp_xform_out out;
    fp_buf raw, strs, tmp, key, failed;
    size_t raw_hint; /* the last object's text size: the next read reserves it in one go */
    fp_lake_val *vals;
    size_t nvals, capv;
    fp_lake_row *rows;
    size_t nrows, capr;
    fp_lake_table *tables;
    size_t ntables;
    fp_lake_group *groups;
    size_t ngroups;
    fp_lake_member *mem;
    size_t capm;
    fp_lake_col *pending; /* new columns of the row being typed (names owned) */
    size_t npending, cappending;
    int attempt;         /* retry generation written into _failed entries */
    const char *source;  /* raw object the rows come from */
    fp_lake_counts *cnt; /* of the current unit */
    /* the watermark: options, and the current object's source (wm_on false: a hand-made name,
     * or a retry of queued rows; neither moves the watermark) */
    int64_t lateness_ms, idle_ms;
    bool wm_on;
    fp_buf wm_source, wm_topic;
    int32_t wm_partition;
    int64_t wm_offset;
    int64_t wm_upper; /* rows later than this do not move the watermark (a skewed clock) */
    /* dead letters: the topic ("" none), whether the current object is one of its, and the
     * row being built from an envelope line */
    char *dl_topic;
    bool dl;
    fp_buf dl_row, dl_val;
};

/* ---------------------------------------------------------------- setup */

fp_code fp_lake_open(const fp_lake_opts *o, fp_lake **out, fp_err *err)
{
    fp_lake *l = fp_xcalloc(1, sizeof *l);
    l->to_url = fp_xstrdup(o->to_url);
    size_t n = strlen(l->to_url);
    while (n > 1 && l->to_url[n - 1] == '/')
        l->to_url[--n] = '\0';
    l->database = fp_xstrdup(o->database ? o->database : "fleetpipe");
    l->pq = o->parquet;
    l->lateness_ms = o->lateness_ms > 0 ? o->lateness_ms : 0;
    l->idle_ms = o->idle_ms > 0 ? o->idle_ms : 0;
    l->dl_topic = fp_xstrdup(o->deadletter_topic ? o->deadletter_topic : "fms.deadletter");
    fp_code rc = FP_OK;
    /* The raw store is only read: never created (a typo is an error naming it). The lake is
     * created unless the caller says it must exist (retry: it is the source of _failed/). */
    fp_store_opts from_so = o->from_store, to_so = o->to_store;
    from_so.read_only = true;
    to_so.must_exist = to_so.must_exist || o->lake_must_exist;
    if (o->from_url)
        rc = fp_store_open(o->from_url, &from_so, &l->from, err);
    if (!rc)
        rc = fp_store_open(o->to_url, &to_so, &l->to, err);
    fp_props p;
    fp_props_init(&p);
    /* Periodic messages are split; event messages (no measurements, PROTOCOLS.md) are one row. */
    const char *field = o->split_field ? o->split_field : "measurements";
    fp_props_set(&p, "predicates", "samples");
    fp_props_set(&p, "predicates.samples.type", "HasField");
    fp_props_set(&p, "predicates.samples.field", field);
    fp_props_set(&p, "transforms", "split");
    fp_props_set(&p, "transforms.split.type", "SplitArrayField");
    fp_props_set(&p, "transforms.split.field", field);
    fp_props_set(&p, "transforms.split.predicate", "samples");
    if (!rc)
        rc = fp_xform_chain_new(&p, &l->chain, err);
    fp_props_free(&p);
    if (rc) {
        fp_lake_free(l);
        return rc;
    }
    *out = l;
    return FP_OK;
}

static void reset_object(fp_lake *l)
{
    for (size_t i = 0; i < l->ntables; i++) {
        free(l->tables[i].name);
        fp_lake_schema_free(&l->tables[i].schema);
    }
    free(l->tables);
    l->tables = NULL;
    free(l->groups);
    l->groups = NULL;
    l->ntables = l->ngroups = l->nvals = l->nrows = 0;
    fp_buf_reset(&l->strs);
    fp_buf_reset(&l->failed);
    fp_buf_reset(&l->raw);
}

void fp_lake_free(fp_lake *l)
{
    if (!l)
        return;
    reset_object(l);
    fp_store_free(l->from);
    fp_store_free(l->to);
    fp_xform_chain_free(l->chain);
    fp_xform_out_free(&l->out);
    fp_buf_free(&l->raw);
    fp_buf_free(&l->strs);
    fp_buf_free(&l->tmp);
    fp_buf_free(&l->key);
    fp_buf_free(&l->failed);
    fp_buf_free(&l->wm_source);
    fp_buf_free(&l->wm_topic);
    fp_buf_free(&l->dl_row);
    fp_buf_free(&l->dl_val);
    free(l->dl_topic);
    free(l->vals);
    free(l->rows);
    free(l->mem);
    free(l->pending);
    free(l->to_url);
    free(l->database);
    free(l);
}

/* ---------------------------------------------------------------- the retry queue */

const char *fp_lake_object_base(const char *name, size_t *n)
{
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    *n = strlen(b);
    if (*n > 4 && !strcmp(b + *n - 4, ".zst"))
        *n -= 4;
    if (*n > 6 && !strncmp(b + *n - 6, ".jsonl", 6))
        *n -= 6;
    return b;
}

/* "<dir>/<base>.jsonl[.zst]" -> "<base>" */
static void base_name(const char *name, fp_buf *out)
{
    size_t n;
    const char *b = fp_lake_object_base(name, &n);
    fp_buf_reset(out);
    fp_buf_append(out, b, n);
}

/* Whether JSON text holds a \uD800-\uDFFF escape. A lone one is valid JSON (JSON.parse takes it)
 * but jq refuses the whole line, so queue entries keep such rows in base64. */
static bool surrogate_escape(const char *p, size_t n)
{
    for (const char *q = memchr(p, '\\', n); q && q + 3 < p + n;
         q = memchr(q + 1, '\\', (size_t)(p + n - q - 1)))
        if (q[1] == 'u' && (q[2] == 'd' || q[2] == 'D') && strchr("89abAB", q[3]))
            return true;
    return false;
}

/* One _failed line: {"source", "line", "attempt", "reason", then "row" (a JSON object),
 * "message" (the original text as a string) or "object": true. "row_b64" / "message_b64" hold
 * a row with surrogate escapes / a message that is not UTF-8, so that jq can read every line and
 * a retry sees the same bytes. */
static void fail_entry(fp_lake *l, long line, const char *reason, const char *kind, const char *p,
                       size_t n)
{
    fp_buf *f = &l->failed;
    fp_buf_puts(f, "{\"source\":");
    fp_json_quote(f, l->source, strlen(l->source));
    fp_buf_printf(f, ",\"line\":%ld,\"attempt\":%d,\"reason\":", line, l->attempt);
    /* a reason quoting a field name with a lone surrogate gets U+FFFD instead (jq-readable) */
    fp_buf_reset(&l->tmp);
    for (const char *r = reason; *r; r++) {
        bool sur = (unsigned char)r[0] == 0xED && (unsigned char)r[1] >= 0xA0 && r[2];
        fp_buf_append(&l->tmp, sur ? "\xEF\xBF\xBD" : r, sur ? 3 : 1);
        r += sur ? 2 : 0;
    }
    fp_json_quote(f, l->tmp.p, l->tmp.len);
    bool b64 = !strcmp(kind, "message") ? !fp_utf8_valid(p, n)
                                        : !strcmp(kind, "row") && surrogate_escape(p, n);
    fp_buf_printf(f, ",\"%s%s\":", kind, b64 ? "_b64" : "");
    if (b64)
        fp_json_quote_base64(f, p, n);
    else if (!strcmp(kind, "row"))
        fp_buf_append(f, p, n);
    else if (!strcmp(kind, "message"))
        fp_json_quote(f, p, n);
    else
        fp_buf_puts(f, "true");
    fp_buf_puts(f, "}\n");
    l->cnt->rows_failed++;
}

/* ---------------------------------------------------------------- typing rows */

static bool is_time_field(const char *k, size_t n)
{
    return (n == 13 && !memcmp(k, "timestamp_iso", 13)) || (n > 3 && !memcmp(k + n - 3, "_at", 3));
}

/* A JSON number (validated): INT64 when it is an integer literal that fits, else DOUBLE. */
static fp_pq_type parse_number(const char *p, size_t n, int64_t *i, double *d)
{
    return fp_json_number(p, n, i, d) ? FP_PQ_INT64 : FP_PQ_DOUBLE;
}

/* The dead-letter table's columns (docs/lake.md, "Dead letters"). */
static const struct {
    const char *name;
    fp_pq_type type;
} dl_cols[] = {
    {"received_at", FP_PQ_TIMESTAMP},
    {"error_class", FP_PQ_STRING},
    {"error_message", FP_PQ_STRING},
    {"source_topic", FP_PQ_STRING},
    {"source_partition", FP_PQ_INT64},
    {"source_offset", FP_PQ_INT64},
    {"mqtt_topic", FP_PQ_STRING},
    {"device_id", FP_PQ_STRING},
    {"value_bytes", FP_PQ_INT64},
    {"value", FP_PQ_STRING},
    {NULL, 0},
};

void fp_lake_cat_deadletter(fp_lake_cat_table *out)
{
    size_t n = 0;
    while (dl_cols[n].name)
        n++;
    *out = (fp_lake_cat_table){.name = fp_xstrdup(FP_LAKE_DEADLETTER_TABLE),
                               .cols = fp_xcalloc(n, sizeof *out->cols),
                               .ncols = n};
    for (size_t i = 0; i < n; i++)
        out->cols[i] = (fp_lake_cat_col){fp_xstrdup(dl_cols[i].name), dl_cols[i].type};
}

static fp_lake_table *table_for(fp_lake *l, const char *name, fp_err *err)
{
    for (size_t i = l->ntables; i-- > 0;)
        if (!strcmp(l->tables[i].name, name))
            return &l->tables[i];
    l->tables = fp_xrealloc(l->tables, (l->ntables + 1) * sizeof *l->tables);
    fp_lake_table *t = &l->tables[l->ntables];
    *t = (fp_lake_table){fp_xstrdup(name), {0}};
    fp_code rc = fp_lake_catalog_read(l->to, name, &t->schema, NULL, err);
    if (rc) {
        free(t->name);
        fp_lake_schema_free(&t->schema);
        return NULL;
    }
    /* The dead-letter table has fixed columns in a fixed order, whatever its first rows hold
     * (a column of only nulls would otherwise appear late, or never). */
    for (size_t i = 0; !strcmp(name, FP_LAKE_DEADLETTER_TABLE) && dl_cols[i].name; i++)
        if (fp_lake_schema_find(&t->schema, dl_cols[i].name, strlen(dl_cols[i].name)) < 0)
            fp_lake_schema_add(&t->schema, dl_cols[i].name, strlen(dl_cols[i].name),
                               dl_cols[i].type);
    l->ntables++;
    return t;
}

static uint32_t group_for(fp_lake *l, uint32_t table, int64_t hour)
{
    for (size_t i = l->ngroups; i-- > 0;)
        if (l->groups[i].table == table && l->groups[i].hour == hour)
            return (uint32_t)i;
    l->groups = fp_xrealloc(l->groups, (l->ngroups + 1) * sizeof *l->groups);
    l->groups[l->ngroups] = (fp_lake_group){table, hour, 0, 0};
    return (uint32_t)l->ngroups++;
}

static bool name_ok(fp_span s)
{
    if (s.n == 0 || s.n > 64)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static fp_lake_val *push_val(fp_lake *l)
{
    if (l->nvals == l->capv) {
        l->capv = l->capv ? 2 * l->capv : 4096;
        l->vals = fp_xrealloc(l->vals, l->capv * sizeof *l->vals);
    }
    return &l->vals[l->nvals++];
}

/* The members of a row, which the chain wrote once each. */
static size_t collect(fp_lake *l, fp_span rec)
{
    fp_json_iter it;
    fp_json_iter_init(&it, rec);
    size_t n = 0;
    fp_lake_member m;
    while (fp_json_obj_next(&it, &m.k, &m.kesc, &m.v)) {
        if (n == l->capm) {
            l->capm = l->capm ? 2 * l->capm : 32;
            l->mem = fp_xrealloc(l->mem, l->capm * sizeof *l->mem);
        }
        l->mem[n++] = m;
    }
    return n;
}

/* A lone surrogate escape ("\ud800") decodes to WTF-8 (ED A0..BF xx), which is not UTF-8:
 * Parquet readers refuse such strings, so rows holding one fail instead. */
static bool has_surrogate(fp_span s)
{
    for (const char *p = memchr(s.p, 0xED, s.n); p && p + 1 < s.p + s.n;
         p = memchr(p + 1, 0xED, (size_t)(s.p + s.n - p - 1)))
        if ((unsigned char)p[1] >= 0xA0)
            return true;
    return false;
}

/* The decoded content of a JSON string (in tmp only when it has escapes); false when it holds a
 * lone surrogate. */
static bool string_content(fp_span raw, fp_buf *tmp, fp_span *out)
{
    if (!memchr(raw.p, '\\', raw.n)) {
        *out = raw;
        return true;
    }
    fp_buf_reset(tmp);
    fp_json_unescape(raw, tmp);
    *out = (fp_span){tmp->p, tmp->len};
    return !has_surrogate(*out);
}

#define LK_MAX_COLUMNS 1000 /* per table; beyond it rows fail (a bound on hostile input) */

/* Why a field cannot become a new column of s (with the row's pending columns), or NULL. Names
 * must survive Glue/Athena, which fold case and use dt/hour for the partition keys. */
static const char *column_problem(const fp_lake_schema *s, const fp_lake_col *pending, size_t np,
                                  fp_span k)
{
    if (k.n == 0 || memchr(k.p, '\0', k.n))
        return "empty or NUL in the field name";
    if (has_surrogate(k))
        return "lone surrogate in the field name";
    if ((k.n == 2 && !memcmp(k.p, "dt", 2)) || (k.n == 4 && !memcmp(k.p, "hour", 4)))
        return "field name is a partition key (dt, hour)";
    if (s->n + np >= LK_MAX_COLUMNS)
        return "table would have more than 1000 columns";
    for (size_t i = 0; i < s->n + np; i++) {
        const fp_lake_col *c = i < s->n ? &s->c[i] : &pending[i - s->n];
        if (c->len == k.n && !strncasecmp(c->name, k.p, k.n))
            return "field name differs only in case from a column";
    }
    return NULL;
}

/* Types one row and appends it; on a bad row writes the reason to why and returns false
 * without changing any schema. table NULL: the row's object/type name its table, and its
 * timestamp_iso (or messaged_at) partitions it; else that table, partitioned by received_at. */
static bool add_row(fp_lake *l, fp_span rec, const char *table, char *why, size_t whyn, fp_err *err,
                    fp_code *rc)
{
    size_t n = collect(l, rec);
    fp_span obj = {0}, typ = {0}, tsv = {0}, msg_at = {0}, rcv_at = {0};
    for (size_t i = 0; i < n; i++) {
        const fp_lake_member *m = &l->mem[i];
        if (m->kesc)
            continue;
        if (m->k.n == 6 && !memcmp(m->k.p, "object", 6))
            obj = m->v;
        else if (m->k.n == 4 && !memcmp(m->k.p, "type", 4))
            typ = m->v;
        else if (m->k.n == 13 && !memcmp(m->k.p, "timestamp_iso", 13))
            tsv = m->v;
        else if (m->k.n == 11 && !memcmp(m->k.p, "messaged_at", 11))
            msg_at = m->v;
        else if (m->k.n == 11 && !memcmp(m->k.p, "received_at", 11))
            rcv_at = m->v;
    }
    char tname[160];
    const char *tsname = "timestamp_iso";
    if (table) {
        snprintf(tname, sizeof tname, "%s", table);
        tsv = rcv_at;
        tsname = "received_at";
        if (!tsv.n || tsv.p[0] != '"') {
            snprintf(why, whyn, "row has no string \"received_at\" to partition by");
            return false;
        }
        goto routed;
    }
    if (!obj.n || !typ.n || obj.p[0] != '"' || typ.p[0] != '"') {
        snprintf(why, whyn, "row has no string \"object\" and \"type\" to name its table");
        return false;
    }
    fp_span os = {obj.p + 1, obj.n - 2}, ts_ = {typ.p + 1, typ.n - 2};
    if (!name_ok(os) || !name_ok(ts_)) {
        snprintf(why, whyn, "object/type \"%.*s\"/\"%.*s\" do not make a table name ([a-z0-9_])",
                 (int)(os.n > 64 ? 64 : os.n), os.p, (int)(ts_.n > 64 ? 64 : ts_.n), ts_.p);
        return false;
    }
    snprintf(tname, sizeof tname, "%.*s_%.*s", (int)os.n, os.p, (int)ts_.n, ts_.p);
    /* A sample's time, or for an event (no timestamp_iso) when it was sent. */
    if (!tsv.n && msg_at.n) {
        tsv = msg_at;
        tsname = "messaged_at";
    }
    if (!tsv.n || tsv.p[0] != '"') {
        snprintf(why, whyn,
                 "row has no string \"timestamp_iso\" or \"messaged_at\" to partition by");
        return false;
    }
routed:;
    int64_t ts;
    fp_err te;
    if (fp_time_parse_iso(tsv.p + 1, tsv.n - 2, &ts, &te)) {
        snprintf(why, whyn, "%s: %.400s", tsname, te.msg);
        return false;
    }
    fp_lake_table *t = table_for(l, tname, err);
    if (!t) {
        *rc = err ? err->code : FP_ERR_IO;
        return false;
    }
    fp_lake_schema *s = &t->schema;
    size_t v0 = l->nvals, strs0 = l->strs.len;
    l->npending = 0;
    int64_t id = INT64_MIN;
    long guess = 0;
    for (size_t i = 0; i < n; i++) {
        const fp_lake_member *m = &l->mem[i];
        char c = m->v.p[0];
        if (c == 'n')
            continue; /* null: no value, no column */
        fp_span key = m->k;
        if (m->kesc)
            string_content(m->k, &l->key, &key); /* checked by column_problem() when new */
        /* rows of a table mostly list their fields in the same order: try the next column */
        long col = guess < (long)s->n && s->c[guess].len == key.n &&
                           !memcmp(s->c[guess].name, key.p, key.n)
                       ? guess
                       : fp_lake_schema_find(s, key.p, key.n);
        guess = col + 1;
        fp_pq_type ct = FP_PQ_STRING;
        if (col >= 0)
            ct = s->c[col].type;
        else
            for (size_t k = 0; k < l->npending; k++)
                if (l->pending[k].len == key.n && !memcmp(l->pending[k].name, key.p, key.n))
                    col = (long)(s->n + k), ct = l->pending[k].type;
        fp_lake_val v = {0};
        fp_pq_type kind;
        const char *problem = col < 0 ? column_problem(s, l->pending, l->npending, key) : NULL;
        if (problem) {
            snprintf(why, whyn, "field \"%.*s\": %s", (int)(key.n > 64 ? 64 : key.n), key.p,
                     problem);
            goto bad;
        }
        if (c == '"') {
            fp_span str;
            if (!string_content((fp_span){m->v.p + 1, m->v.n - 2}, &l->tmp, &str)) {
                snprintf(why, whyn, "field \"%.*s\": lone surrogate in the string",
                         (int)(key.n > 64 ? 64 : key.n), key.p);
                goto bad;
            }
            bool as_time = col >= 0 ? ct == FP_PQ_TIMESTAMP : is_time_field(key.p, key.n);
            if (as_time) {
                kind = FP_PQ_TIMESTAMP;
                if (fp_time_parse_iso(str.p, str.n, &v.u.i, &te)) {
                    snprintf(why, whyn, "field \"%.*s\": %.300s", (int)(key.n > 64 ? 64 : key.n),
                             key.p, te.msg);
                    goto bad;
                }
            } else {
                kind = FP_PQ_STRING;
                v.u.off = l->strs.len;
                v.slen = (uint32_t)str.n;
                fp_buf_append(&l->strs, str.p, str.n);
            }
        } else if (c == 't' || c == 'f') {
            kind = FP_PQ_BOOL;
            v.u.b = c == 't';
        } else if (c == '{' || c == '[') {
            kind = FP_PQ_STRING; /* nested values are kept as their JSON text */
            v.u.off = l->strs.len;
            v.slen = (uint32_t)m->v.n;
            fp_buf_append(&l->strs, m->v.p, m->v.n);
        } else {
            kind = parse_number(m->v.p, m->v.n, &v.u.i, &v.u.d);
        }
        if (col < 0) {
            if (l->npending == l->cappending) {
                l->cappending = l->cappending ? 2 * l->cappending : 16;
                l->pending = fp_xrealloc(l->pending, l->cappending * sizeof *l->pending);
            }
            col = (long)(s->n + l->npending);
            l->pending[l->npending++] = (fp_lake_col){fp_xstrndup(key.p, key.n), kind, key.n};
        } else if (kind != ct && !(ct == FP_PQ_DOUBLE && kind == FP_PQ_INT64) &&
                   !(ct == FP_PQ_INT64 && kind == FP_PQ_DOUBLE)) {
            snprintf(why, whyn, "field \"%.*s\": %s value in a %s column",
                     (int)(key.n > 64 ? 64 : key.n), key.p, fp_lake_hive_type(kind),
                     fp_lake_hive_type(ct));
            goto bad;
        }
        if (col >= (long)UINT16_MAX) {
            snprintf(why, whyn, "more than %u columns", UINT16_MAX - 1);
            goto bad;
        }
        v.col = (uint16_t)col;
        v.kind = (uint8_t)kind;
        *push_val(l) = v;
        if (key.n == 2 && !memcmp(key.p, "id", 2) && kind == FP_PQ_INT64)
            id = v.u.i;
    }
    /* The row fits: widen int columns that met a double, then add the new columns. */
    for (size_t i = v0; i < l->nvals; i++) {
        fp_lake_val *v = &l->vals[i];
        if (v->col < s->n && v->kind == FP_PQ_DOUBLE && s->c[v->col].type == FP_PQ_INT64)
            s->c[v->col].type = FP_PQ_DOUBLE;
        else if (v->col >= s->n && v->kind == FP_PQ_DOUBLE &&
                 l->pending[v->col - s->n].type == FP_PQ_INT64)
            l->pending[v->col - s->n].type = FP_PQ_DOUBLE;
    }
    for (size_t k = 0; k < l->npending; k++) {
        fp_lake_schema_add(s, l->pending[k].name, l->pending[k].len, l->pending[k].type);
        free(l->pending[k].name);
    }
    l->npending = 0;
    if (l->nrows == l->capr) {
        l->capr = l->capr ? 2 * l->capr : 1024;
        l->rows = fp_xrealloc(l->rows, l->capr * sizeof *l->rows);
    }
    uint32_t g =
        group_for(l, (uint32_t)(t - l->tables), ts >= 0 ? ts / 3600000 : (ts - 3599999) / 3600000);
    l->groups[g].nrows++;
    l->rows[l->nrows++] = (fp_lake_row){g, (uint32_t)(l->nvals - v0), v0, id, ts};
    return true;
bad:
    for (size_t k = 0; k < l->npending; k++)
        free(l->pending[k].name);
    l->npending = 0;
    l->nvals = v0;
    l->strs.len = strs0;
    return false;
}

/* A row from a split (or from the retry queue); a bad one is queued with its reason. */
static fp_code take_row(fp_lake *l, fp_span rec, long line, fp_err *err)
{
    char why[512];
    fp_code rc = FP_OK;
    l->cnt->rows_in++;
    if (!add_row(l, rec, l->dl ? FP_LAKE_DEADLETTER_TABLE : NULL, why, sizeof why, err, &rc) && !rc)
        fail_entry(l, line, why, "row", rec.p, rec.n);
    return rc;
}

/* The string value of a JSON member as decoded text into out (reset); false when it is not a
 * string. */
static bool member_text(fp_span v, fp_buf *out)
{
    fp_buf_reset(out);
    if (!v.n || v.p[0] != '"')
        return false;
    fp_json_unescape((fp_span){v.p + 1, v.n - 2}, out);
    return true;
}

/* Appends at most max bytes of [p, p+n) to out as valid UTF-8: a byte that does not start a
 * valid sequence becomes U+FFFD (Parquet strings must be UTF-8); never cuts a character. */
static void utf8_capped(const char *p, size_t n, size_t max, fp_buf *out)
{
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        bool ok = i + k <= n && (k == 1 || fp_utf8_valid(p + i, k));
        const char *s = ok ? p + i : "\xEF\xBF\xBD";
        size_t sn = ok ? k : 3;
        if (used + sn > max)
            break;
        fp_buf_append(out, s, sn);
        used += sn;
        i += ok ? k : 1;
    }
}

/* Appends ,"name":<string or null> to the row being built. */
static void dl_field(fp_buf *row, const char *name, const fp_buf *v, bool present)
{
    fp_buf_printf(row, ",\"%s\":", name);
    if (present)
        fp_json_quote(row, v->p ? v->p : "", v->len);
    else
        fp_buf_puts(row, "null");
}

/* One line of a dead-letter object: an objstore envelope (format.envelope) becomes one row of
 * the dead-letter table. A line that is not an envelope is queued as a message, with why. */
static fp_code take_deadletter(fp_lake *l, const char *p, size_t n, long line, fp_err *err)
{
    fp_span env = {p, n}, ts = {0}, hdrs = {0}, val = {0}, enc = {0};
    const char *bad = NULL;
    env.p = fp_json_skip_ws(p, p + n);
    env.n = (size_t)(p + n - env.p);
    if (fp_json_validate(p, n, NULL) != FP_OK || fp_json_type_of(env.p) != FP_JSON_OBJECT)
        bad = "not JSON";
    else if (!fp_json_obj_get(env, "timestamp", 9, &ts) || ts.p[0] != '"' ||
             !fp_json_obj_get(env, "headers", 7, &hdrs) ||
             fp_json_type_of(hdrs.p) != FP_JSON_OBJECT || !fp_json_obj_get(env, "value", 5, &val))
        bad = "no string \"timestamp\", object \"headers\" and \"value\"";
    if (bad) {
        char why[300];
        snprintf(why, sizeof why,
                 "dead-letter line is not an objstore envelope (%s): write %s with "
                 "format.envelope=true",
                 bad, l->dl_topic);
        l->cnt->rows_in++;
        fail_entry(l, line, why, "message", p, n);
        return FP_OK;
    }
    /* the headers, last occurrence of a name wins (as JSON.parse) */
    static const char *const hn[] = {"error.class",      "error.message", "source.topic",
                                     "source.partition", "source.offset", "mqtt.topic"};
    fp_span hv[6] = {{0}};
    fp_json_iter it;
    fp_json_iter_init(&it, hdrs);
    fp_span k, v;
    bool kesc;
    while (fp_json_obj_next(&it, &k, &kesc, &v))
        for (size_t i = 0; i < 6; i++)
            if (fp_json_key_eq(k, kesc, hn[i], strlen(hn[i])))
                hv[i] = v;
    fp_buf *row = &l->dl_row, *t = &l->tmp;
    fp_buf_reset(row);
    fp_buf_puts(row, "{\"received_at\":");
    fp_buf_append(row, ts.p, ts.n);
    static const char *const cn[] = {"error_class", "error_message", "source_topic"};
    for (size_t i = 0; i < 3; i++)
        dl_field(row, cn[i], t, member_text(hv[i], t));
    for (size_t i = 3; i < 5; i++) {
        int64_t x;
        bool num = member_text(hv[i], t) && t->len && fp_parse_i64(t->p, &x) == FP_OK;
        fp_buf_printf(row, ",\"%s\":", i == 3 ? "source_partition" : "source_offset");
        if (num)
            fp_buf_printf(row, "%" PRId64, x);
        else
            fp_buf_puts(row, "null");
    }
    bool mq = member_text(hv[5], t);
    dl_field(row, "mqtt_topic", t, mq);
    /* device_id: the <id> of an mqtt.topic fms/<id>/... */
    const char *slash =
        mq && t->len > 4 && !strncmp(t->p, "fms/", 4) ? strchr(t->p + 4, '/') : NULL;
    if (slash && slash > t->p + 4) {
        fp_buf id = FP_BUF_INIT;
        fp_buf_append(&id, t->p + 4, (size_t)(slash - t->p - 4));
        dl_field(row, "device_id", &id, true);
        fp_buf_free(&id);
    } else {
        dl_field(row, "device_id", t, false);
    }
    /* the value's bytes: text, or base64 (value_encoding); null for a tombstone */
    fp_buf *bytes = &l->dl_val;
    bool is_b64 = fp_json_obj_get(env, "value_encoding", 14, &enc) && member_text(enc, t) &&
                  !strcmp(t->p, "base64");
    bool has = val.p[0] == '"';
    if (has && is_b64)
        fp_json_unbase64((fp_span){val.p + 1, val.n - 2}, bytes);
    else
        member_text(val, bytes);
    if (has)
        fp_buf_printf(row, ",\"value_bytes\":%zu", bytes->len);
    else
        fp_buf_puts(row, ",\"value_bytes\":null");
    fp_buf_reset(t);
    if (has)
        utf8_capped(bytes->p ? bytes->p : "", bytes->len, FP_LAKE_DEADLETTER_VALUE_MAX, t);
    dl_field(row, "value", t, has);
    fp_buf_putc(row, '}');
    fp_buf_reset(bytes);
    return take_row(l, (fp_span){row->p, row->len}, line, err);
}

/* One raw message: split into rows, or queued whole when it cannot be split. */
static fp_code take_message(fp_lake *l, const char *p, size_t n, long line, fp_err *err)
{
    if (l->dl)
        return take_deadletter(l, p, n, line, err);
    char where[300];
    snprintf(where, sizeof where, "%s line %ld", l->source, line);
    fp_rec_meta meta = {NULL, -1, -1, -1, where};
    fp_err e;
    fp_xform_out_reset(&l->out);
    if (fp_xform_chain_apply(l->chain, &meta, p, n, &l->out, &e)) {
        l->cnt->rows_in++;
        fail_entry(l, line, e.msg, "message", p, n);
        return FP_OK;
    }
    for (size_t i = 0; i < l->out.n; i++) {
        fp_code rc =
            take_row(l, (fp_span){l->out.data.p + l->out.off[i], l->out.len[i]}, line, err);
        if (rc)
            return rc;
    }
    return FP_OK;
}

/* ---------------------------------------------------------------- writing */

static int row_cmp(const void *a, const void *b, void *rows)
{
    const fp_lake_row *x = &((const fp_lake_row *)rows)[*(const uint32_t *)a];
    const fp_lake_row *y = &((const fp_lake_row *)rows)[*(const uint32_t *)b];
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static void set_value(fp_lake *l, fp_pq_writer *w, const fp_lake_schema *s, const fp_lake_val *v)
{
    switch ((fp_pq_type)s->c[v->col].type) {
    case FP_PQ_BOOL:
        fp_pq_set_bool(w, v->col, v->u.b);
        break;
    case FP_PQ_INT64:
    case FP_PQ_TIMESTAMP:
        fp_pq_set_int64(w, v->col, v->u.i);
        break;
    case FP_PQ_DOUBLE:
        fp_pq_set_double(w, v->col, v->kind == FP_PQ_INT64 ? (double)v->u.i : v->u.d);
        break;
    case FP_PQ_STRING:
        fp_pq_set_string(w, v->col, l->strs.p + v->u.off, v->slen);
        break;
    }
}

/* Writes the rows idx[0..n) of group g as <table>/dt=/hour=/<base>.parquet. */
static fp_code write_group(fp_lake *l, const fp_lake_group *g, const uint32_t *idx,
                           const char *base, fp_lake_file *f, fp_err *err)
{
    const fp_lake_table *t = &l->tables[g->table];
    int y, mo, d, h, mi, se;
    fp_time_utc(g->hour * 3600000, &y, &mo, &d, &h, &mi, &se);
    snprintf(f->dt, sizeof f->dt, "%04d-%02d-%02d", y, mo, d);
    snprintf(f->hour, sizeof f->hour, "%02d", h);
    fp_buf name = FP_BUF_INIT, path = FP_BUF_INIT;
    fp_buf_printf(&name, "%s/dt=%s/hour=%s/%s.parquet", t->name, f->dt, f->hour, base);
    fp_code rc = FP_OK;
    int fd = fp_store_staging_file(l->to, "lake", &path, err); /* 0666 less the umask */
    if (fd < 0)
        rc = err->code;
    else
        close(fd);
    fp_pq_column *cols = fp_xcalloc(t->schema.n, sizeof *cols);
    for (size_t i = 0; i < t->schema.n; i++)
        cols[i] = (fp_pq_column){t->schema.c[i].name, t->schema.c[i].type};
    fp_pq_writer *w = NULL;
    if (!rc)
        rc = fp_pq_writer_open(path.p, cols, t->schema.n, &l->pq, &w, err);
    for (size_t i = 0; i < g->nrows && !rc; i++) {
        const fp_lake_row *r = &l->rows[idx[i]];
        for (uint32_t k = 0; k < r->nval; k++)
            set_value(l, w, &t->schema, &l->vals[r->first + k]);
        rc = fp_pq_writer_end_row(w, err);
    }
    if (w && rc)
        fp_pq_writer_abort(w);
    else if (w)
        rc = fp_pq_writer_close(w, &f->rows, err);
    struct stat st;
    if (!rc && stat(path.p, &st) == 0)
        f->bytes = st.st_size;
    if (!rc)
        rc = fp_store_put_file(l->to, path.p, name.p, err);
    if (rc) {
        unlink(path.p);
        fp_err_prefix(err, "%s", name.p);
    }
    free(cols);
    f->name = fp_buf_steal(&name);
    fp_buf_free(&path);
    return rc;
}

/* The watermark before this object (*before, read from the lake) and with it (*after, not
 * written yet); fills u and its per-table late counts tu (one entry per table with rows). Late
 * rows are counted only for an object above its source's last one: converting an old object
 * again counts nothing twice. */
static fp_code wm_prepare(fp_lake *l, fp_lake_wm_table_update *tu, fp_lake_wm_update *u,
                          json_t **before, json_t **after, fp_err *err)
{
    fp_code rc = fp_lake_wm_read(l->to, before, err);
    if (rc)
        return rc;
    bool replay = fp_lake_wm_is_replay(*before, l->wm_source.p, l->wm_offset);
    int64_t *wt = fp_xcalloc(l->ntables ? l->ntables : 1, sizeof *wt);
    bool *has = fp_xcalloc(l->ntables ? l->ntables : 1, sizeof *has);
    for (size_t t = 0; t < l->ntables; t++)
        wt[t] = fp_lake_wm_table(*before, l->tables[t].name);
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < l->nrows; i++) {
        const fp_lake_row *r = &l->rows[i];
        uint32_t t = l->groups[r->group].table;
        has[t] = true;
        if (!replay && r->ts < wt[t])
            tu[t].late_rows++;
        if (r->ts <= l->wm_upper && r->ts > newest)
            newest = r->ts;
    }
    size_t n = 0;
    for (size_t t = 0; t < l->ntables; t++)
        if (has[t]) {
            l->cnt->late_rows += tu[t].late_rows;
            tu[n++] = (fp_lake_wm_table_update){l->tables[t].name, tu[t].late_rows};
        }
    free(wt);
    free(has);
    *u = (fp_lake_wm_update){
        .source = l->wm_source.p,
        .topic = l->wm_topic.p,
        .object = l->source,
        .partition = l->wm_partition,
        .offset = l->wm_offset,
        .newest_ms = newest,
        .tables = tu,
        .ntables = n,
        .deadletter = l->dl,
    };
    int64_t now = fp_time_now_ms();
    *after = json_deep_copy(*before);
    fp_lake_wm_apply(*after, u, now);
    fp_lake_wm_recompute(*after, now, l->lateness_ms, l->idle_ms);
    return FP_OK;
}

/* Writes the watermark document (re-read and merged), then raises the parameter of the tables
 * whose watermark moved without this object touching them (a table that gets rows rarely, such
 * as vehicle_event, still shows how far its topic is converted). */
static fp_code wm_commit(fp_lake *l, const fp_lake_wm_update *u, const json_t *before, fp_err *err)
{
    json_t *doc = NULL;
    fp_code rc =
        fp_lake_wm_commit(l->to, u, 1, fp_time_now_ms(), l->lateness_ms, l->idle_ms, &doc, err);
    const char *k;
    json_t *t;
    json_object_foreach(rc ? NULL : json_object_get(doc, "tables"), k, t)
    {
        int64_t w = fp_lake_wm_table(doc, k);
        bool touched = false;
        for (size_t i = 0; i < u->ntables; i++)
            touched |= !strcmp(u->tables[i].name, k);
        if (touched || w == INT64_MIN || w <= fp_lake_wm_table(before, k))
            continue;
        rc = fp_lake_catalog_raise_watermark(l->to, k, w, err);
        if (rc)
            break;
    }
    json_decref(doc);
    return rc;
}

/* Pass 2 and the commits: every group's file, the catalogs, then the retry queue. */
static fp_code finish(fp_lake *l, const char *base, const char *failed_name, fp_err *err)
{
    /* counting sort of row indices by group, then each group sorted by (id, ts, arrival) */
    uint32_t *idx = fp_xmalloc((l->nrows ? l->nrows : 1) * sizeof *idx);
    size_t at = 0;
    for (size_t g = 0; g < l->ngroups; g++) {
        l->groups[g].start = at;
        at += l->groups[g].nrows;
        l->groups[g].nrows = 0;
    }
    for (size_t i = 0; i < l->nrows; i++) {
        fp_lake_group *g = &l->groups[l->rows[i].group];
        idx[g->start + g->nrows++] = (uint32_t)i;
    }
    fp_lake_file *files = fp_xcalloc(l->ngroups ? l->ngroups : 1, sizeof *files);
    fp_code rc = FP_OK;
    for (size_t g = 0; g < l->ngroups && !rc; g++) {
        qsort_r(idx + l->groups[g].start, l->groups[g].nrows, sizeof *idx, row_cmp, l->rows);
        rc = write_group(l, &l->groups[g], idx + l->groups[g].start, base, &files[g], err);
        if (!rc) {
            l->cnt->files++;
            l->cnt->bytes += files[g].bytes;
            l->cnt->rows_written += files[g].rows;
        }
    }
    /* the watermark this object makes, per table, for the catalogs' parameter */
    json_t *wm_before = NULL, *wm_after = NULL;
    fp_lake_wm_table_update *tu = fp_xcalloc(l->ntables ? l->ntables : 1, sizeof *tu);
    fp_lake_wm_update u = {0};
    if (!rc && l->wm_on)
        rc = wm_prepare(l, tu, &u, &wm_before, &wm_after, err);
    /* one catalog commit per table, with all of its files */
    fp_lake_file *mine = fp_xcalloc(l->ngroups ? l->ngroups : 1, sizeof *mine);
    for (size_t t = 0; t < l->ntables && !rc; t++) {
        size_t n = 0;
        for (size_t g = 0; g < l->ngroups; g++)
            if (l->groups[g].table == t)
                mine[n++] = files[g];
        if (!n)
            continue; /* only failed rows named this table: it does not exist yet */
        rc = fp_lake_catalog_commit(
            l->to, l->to_url, l->database, l->tables[t].name, l->pq.codec, &l->tables[t].schema,
            mine, n, wm_after ? fp_lake_wm_table(wm_after, l->tables[t].name) : INT64_MIN, err);
    }
    free(mine);
    /* after the catalogs: the watermark never claims rows a catalog does not list yet */
    if (!rc && l->wm_on)
        rc = wm_commit(l, &u, wm_before, err);
    json_decref(wm_before);
    json_decref(wm_after);
    free(tu);
    for (size_t g = 0; g < l->ngroups; g++)
        free(files[g].name);
    free(files);
    free(idx);
    if (rc)
        return rc;
    if (l->failed.len)
        return fp_lake_put_bytes(l->to, failed_name, l->failed.p, l->failed.len, err);
    bool exists = false;
    rc = fp_store_exists(l->to, failed_name, &exists, err);
    if (!rc && exists)
        rc = fp_store_delete(l->to, failed_name, err);
    return rc;
}

/* ---------------------------------------------------------------- units of work */

/* The line's "messaged_at" (the device's send time) raises l->last_newest_ms: lake watch's
 * record age measures from the instant connect's does. A byte scan for the first occurrence. */
static void note_messaged(fp_lake *l, const char *p, const char *e, fp_time_iso_cache *cache)
{
    static const char key[] = "\"messaged_at\":\"";
    const char *hit = memmem(p, (size_t)(e - p), key, sizeof key - 1);
    if (!hit)
        return;
    const char *v = hit + sizeof key - 1;
    const char *q = memchr(v, '"', (size_t)(e - v));
    int64_t ms;
    if (q && !fp_time_parse_iso_cached(cache, v, (size_t)(q - v), &ms, NULL) &&
        ms > l->last_newest_ms)
        l->last_newest_ms = ms;
}

static fp_code convert_text(fp_lake *l, const char *base, const char *failed_name, fp_err *err)
{
    const char *p = l->raw.p, *end = l->raw.p + l->raw.len;
    long line = 0;
    fp_code rc = FP_OK;
    fp_time_iso_cache cache = {0};
    while (p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        line++;
        const char *s = fp_json_skip_ws(p, e);
        if (s < e) {
            l->cnt->messages++;
            note_messaged(l, s, e, &cache);
            rc = take_message(l, p, (size_t)(e - p), line, err);
        }
        p = nl ? nl + 1 : end;
    }
    /* Pass 2 needs none of the text (values and strings were copied out): give it back before
     * the Parquet writer buffers a row group, or the two add up at the peak. */
    l->raw_hint = l->raw.len;
    fp_buf_free(&l->raw);
    return rc ? rc : finish(l, base, failed_name, err);
}

static void counts_add(fp_lake_counts *c, const fp_lake_counts *a)
{
    c->objects += a->objects;
    c->objects_failed += a->objects_failed;
    c->messages += a->messages;
    c->rows_in += a->rows_in;
    c->rows_written += a->rows_written;
    c->rows_failed += a->rows_failed;
    c->files += a->files;
    c->bytes += a->bytes;
    c->late_rows += a->late_rows;
}

/* A relative UTF-8 object name without empty, "." or ".." segments (event keys come from
 * outside; the name ends up in the catalog's JSON). */
static bool name_ok_path(const char *name)
{
    if (!name[0] || name[0] == '/' || !fp_utf8_valid(name, strlen(name)))
        return false;
    for (const char *p = name; p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p = e ? e + 1 : NULL;
    }
    return true;
}

/* Whether an object's base name is the dead-letter topic's, "<topic>+...". */
static bool is_deadletter(const fp_lake *l, const char *base)
{
    size_t n = strlen(l->dl_topic);
    return n && !strncmp(base, l->dl_topic, n) && base[n] == '+';
}

fp_code fp_lake_convert_object(fp_lake *l, const char *name, fp_lake_counts *c, fp_err *err)
{
    if (!l->from)
        return fp_err_set(err, FP_ERR_CONFIG, "lake: no raw store (--from) to read %s", name);
    fp_lake_counts mine = {0};
    l->cnt = &mine;
    l->source = name;
    l->attempt = 1;
    l->last_newest_ms = INT64_MIN;
    reset_object(l);
    fp_buf base = FP_BUF_INIT, failed = FP_BUF_INIT;
    base_name(name, &base);
    fp_buf_printf(&failed, "_failed/%s.jsonl", base.p);
    l->dl = is_deadletter(l, base.p);
    fp_err e;
    fp_buf_reserve(&l->raw, l->raw_hint); /* objects are alike: no doubling copies */
    fp_code rc = name_ok_path(name) ? fp_lake_read_object(l->from, name, &l->raw, &e)
                                    : fp_err_set(&e, FP_ERR_INVALID,
                                                 "not a raw object name (empty, absolute, "
                                                 "not UTF-8, or with a . or .. segment)");
    if (rc == FP_ERR_IO) {
        fp_err_set(err, rc, "%s", e.msg);
    } else if (rc) {
        /* unreadable for good (corrupt zstd, gone): queue the object itself */
        fp_log(FP_LOG_WARN, "lake", -1, "%s: unreadable, queued for retry: %s", name, e.msg);
        fail_entry(l, 0, e.msg, "object", NULL, 0);
        mine.rows_failed = 0; /* an object is not a row */
        mine.objects_failed = 1;
        rc = fp_lake_put_bytes(l->to, failed.p, l->failed.p, l->failed.len, err);
    } else {
        mine.objects = 1;
        l->wm_on = fp_lake_wm_source_of(name, &l->wm_source, &l->wm_topic, &l->wm_partition,
                                        &l->wm_offset);
        /* A row later than the object's time bucket (or than now) by more than the lateness is a
         * skewed clock (the simulator's time_skew shifts by a year): it is written, but it does
         * not move the watermark, which would otherwise call a year of data late. */
        int64_t t0, t1;
        l->wm_upper = fp_time_now_ms();
        if (fp_lake_name_time(name, &t0, &t1) && t1 < l->wm_upper)
            l->wm_upper = t1;
        l->wm_upper += l->lateness_ms;
        rc = convert_text(l, base.p, failed.p, err);
        l->wm_on = false;
        if (!rc && l->last_newest_ms == INT64_MIN) /* no line had a messaged_at */
            for (size_t i = 0; i < l->nrows; i++)
                if (l->rows[i].ts > l->last_newest_ms)
                    l->last_newest_ms = l->rows[i].ts;
        if (rc)
            l->last_newest_ms = INT64_MIN;
    }
    l->dl = false;
    if (rc) {
        fp_err_prefix(err, "lake: %s", name);
    } else {
        counts_add(c, &mine);
    }
    reset_object(l);
    fp_buf_free(&base);
    fp_buf_free(&failed);
    return rc;
}

int64_t fp_lake_last_newest_ms(const fp_lake *l)
{
    return l->last_newest_ms;
}

/* [*t0, *t1) of the dt=YYYY-MM-DD[/hour=HH] partition in an object name; false without one. */
bool fp_lake_name_time(const char *name, int64_t *t0, int64_t *t1)
{
    const char *d = strstr(name, "dt=");
    char iso[32];
    if (!d || strlen(d) < 13)
        return false;
    const char *h = strstr(d, "hour=");
    bool hour = h && h[5] >= '0' && h[5] <= '9' && h[6] >= '0' && h[6] <= '9';
    snprintf(iso, sizeof iso, "%.10sT%.2s:00:00Z", d + 3, hour ? h + 5 : "00");
    if (fp_time_parse_iso(iso, strlen(iso), t0, NULL))
        return false;
    *t1 = *t0 + (hour ? 3600000 : 86400000);
    return true;
}

bool fp_lake_is_raw_name(const char *name)
{
    size_t n = strlen(name);
    if (!((n > 6 && !strcmp(name + n - 6, ".jsonl")) ||
          (n > 10 && !strcmp(name + n - 10, ".jsonl.zst"))))
        return false;
    for (const char *p = name; p; p = strchr(p, '/')) {
        p += *p == '/';
        if (*p == '.' || *p == '_')
            return false;
    }
    return true;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Makes every source of the listing known to the watermark before the first conversion: name
 * order converts hour by hour, so without this the first partition's objects would move the
 * watermark past the rows of partitions not converted yet (which would all count as late). */
static fp_code register_sources(fp_lake *l, const fp_strv *names, fp_err *err)
{
    fp_lake_wm_update *u = fp_xcalloc(names->n ? names->n : 1, sizeof *u);
    fp_buf *src = fp_xcalloc(names->n ? names->n : 1, sizeof *src);
    fp_buf *top = fp_xcalloc(names->n ? names->n : 1, sizeof *top);
    size_t n = 0;
    for (size_t i = 0; i < names->n; i++) {
        if (!names->v[i])
            continue;
        int32_t p;
        int64_t off;
        if (!fp_lake_wm_source_of(names->v[i], &src[n], &top[n], &p, &off))
            continue;
        bool dup = false; /* names are sorted by path, not by source: a linear check */
        for (size_t k = 0; k < n && !dup; k++)
            dup = !strcmp(src[k].p, src[n].p);
        if (dup)
            continue;
        u[n] = (fp_lake_wm_update){.source = src[n].p,
                                   .topic = top[n].p,
                                   .partition = p,
                                   .register_only = true,
                                   .deadletter = l->dl_topic[0] && !strcmp(top[n].p, l->dl_topic)};
        n++;
    }
    fp_code rc =
        n ? fp_lake_wm_commit(l->to, u, n, fp_time_now_ms(), l->lateness_ms, l->idle_ms, NULL, err)
          : FP_OK;
    for (size_t i = 0; i < names->n; i++) {
        fp_buf_free(&src[i]);
        fp_buf_free(&top[i]);
    }
    free(src);
    free(top);
    free(u);
    return rc;
}

fp_code fp_lake_convert_all(fp_lake *l, int64_t since_ms, int64_t until_ms, fp_lake_counts *c,
                            fp_err *err)
{
    if (!l->from)
        return fp_err_set(err, FP_ERR_CONFIG, "lake convert: no raw store (--from)");
    fp_strv names = {0};
    fp_code rc = fp_store_list(l->from, "", &names, err);
    if (!rc && names.n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(names.v, names.n, sizeof *names.v, str_cmp);
    for (size_t i = 0; i < names.n; i++) {
        int64_t t0, t1;
        if (!fp_lake_is_raw_name(names.v[i]) ||
            (fp_lake_name_time(names.v[i], &t0, &t1) && (t1 <= since_ms || t0 >= until_ms))) {
            free(names.v[i]);
            names.v[i] = NULL;
        }
    }
    if (!rc)
        rc = register_sources(l, &names, err);
    for (size_t i = 0; i < names.n && !rc; i++)
        if (names.v[i])
            rc = fp_lake_convert_object(l, names.v[i], c, err);
    fp_strv_free(&names);
    return rc;
}

/* A queue entry's count field ("attempt", "line"): a JSON integer in [0, max], else an error
 * naming the queue file, the entry and the field (never read as 0, which would re-run the
 * entry under another attempt's file name or lose its line). */
static fp_code entry_count(fp_span v, const char *failed_name, long entry, const char *field,
                           int64_t max, int64_t *out, fp_err *err)
{
    char num[24];
    int64_t x = -1;
    if (v.n > 0 && v.n < sizeof num) {
        memcpy(num, v.p, v.n);
        num[v.n] = '\0';
        if (fp_parse_i64(num, &x))
            x = -1;
    }
    if (x < 0 || x > max)
        return fp_err_set(err, FP_ERR_INVALID,
                          "%s, entry %ld: \"%s\" is %.*s%s, not a whole number from 0 to %" PRId64,
                          failed_name, entry, field, (int)(v.n > 32 ? 32 : v.n), v.p,
                          v.n > 32 ? "..." : "", max);
    *out = x;
    return FP_OK;
}

/* Re-runs one _failed/<base>.jsonl: queued rows and messages go through the current catalog
 * into <base>.retry-<attempt>.parquet files; what fails again is queued with attempt + 1. */
static fp_code retry_file(fp_lake *l, const char *failed_name, fp_lake_counts *c, fp_err *err)
{
    fp_buf text = FP_BUF_INIT, base = FP_BUF_INIT, src = FP_BUF_INIT, msg = FP_BUF_INIT;
    fp_code rc = fp_lake_read_object(l->to, failed_name, &text, err);
    int attempt = 0;
    bool whole = false;
    long entry = 0;
    /* first pass: the source object, the attempt, whether the object itself failed, and that
     * every count field reads (before anything is re-run) */
    for (char *p = text.p; !rc && p && *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fp_span v;
        fp_span line = {p, n};
        int64_t x = 0;
        entry++;
        if (fp_json_validate(p, n, NULL) == FP_OK) {
            if (fp_json_obj_get(line, "source", 6, &v) && v.p[0] == '"' && !src.len) {
                fp_span s;
                string_content((fp_span){v.p + 1, v.n - 2}, &msg, &s);
                fp_buf_append(&src, s.p, s.n);
            }
            if (fp_json_obj_get(line, "attempt", 7, &v)) {
                rc = entry_count(v, failed_name, entry, "attempt", INT_MAX - 1, &x, err);
                if (!rc && x > attempt)
                    attempt = (int)x;
            }
            if (!rc && fp_json_obj_get(line, "line", 4, &v))
                rc = entry_count(v, failed_name, entry, "line", LONG_MAX, &x, err);
            whole |= fp_json_obj_get(line, "object", 6, &v);
        }
        p = nl ? nl + 1 : NULL;
    }
    if (!rc && !src.len)
        rc = fp_err_set(err, FP_ERR_INVALID, "%s: no \"source\" in the retry queue entry",
                        failed_name);
    if (!rc && whole) {
        rc = fp_lake_convert_object(l, src.p, c, err);
        goto out;
    }
    if (rc)
        goto out;
    fp_lake_counts mine = {0};
    reset_object(l);
    l->cnt = &mine;
    l->source = src.p;
    l->attempt = attempt + 1;
    base_name(src.p, &base);
    l->dl = is_deadletter(l, base.p);
    fp_buf_printf(&base, ".retry-%d", attempt > 0 ? attempt : 1);
    entry = 0;
    for (char *p = text.p; !rc && p && *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fp_span line = {p, n}, v, ln;
        long lno = 0;
        int64_t x = 0;
        entry++;
        bool valid = n && fp_json_validate(p, n, NULL) == FP_OK;
        if (valid && fp_json_obj_get(line, "line", 4, &ln)) { /* checked in the first pass */
            rc = entry_count(ln, failed_name, entry, "line", LONG_MAX, &x, err);
            lno = (long)x;
        }
        if (rc)
            break;
        if (valid && fp_json_obj_get(line, "row", 3, &v) && v.p[0] == '{') {
            rc = take_row(l, v, lno, err);
        } else if (valid && fp_json_obj_get(line, "row_b64", 7, &v) && v.p[0] == '"') {
            fp_json_unbase64((fp_span){v.p + 1, v.n - 2}, &msg);
            if (fp_json_validate(msg.p, msg.len, NULL) == FP_OK && msg.len && msg.p[0] == '{')
                rc = take_row(l, (fp_span){msg.p, msg.len}, lno, err);
            else
                rc = take_message(l, msg.p, msg.len, lno, err); /* fails again, kept */
        } else if (valid && fp_json_obj_get(line, "message", 7, &v) && v.p[0] == '"') {
            fp_span s;
            string_content((fp_span){v.p + 1, v.n - 2}, &msg, &s);
            l->cnt->messages++;
            rc = take_message(l, s.p, s.n, lno, err);
        } else if (valid && fp_json_obj_get(line, "message_b64", 11, &v) && v.p[0] == '"') {
            fp_json_unbase64((fp_span){v.p + 1, v.n - 2}, &msg);
            l->cnt->messages++;
            rc = take_message(l, msg.p, msg.len, lno, err);
        } else if (n) {
            /* not an entry this version can re-run (edited by hand, or a row nested deeper
             * than the validator allows once wrapped): kept as it is, never dropped */
            fp_buf_append(&l->failed, p, n);
            fp_buf_putc(&l->failed, '\n');
            l->cnt->rows_in++;
            l->cnt->rows_failed++;
        }
        p = nl ? nl + 1 : NULL;
    }
    if (!rc)
        rc = finish(l, base.p, failed_name, err);
    l->dl = false;
    if (!rc)
        counts_add(c, &mine);
    reset_object(l);
out:
    if (rc)
        fp_err_prefix(err, "lake retry %s", failed_name);
    fp_buf_free(&text);
    fp_buf_free(&base);
    fp_buf_free(&src);
    fp_buf_free(&msg);
    return rc;
}

fp_code fp_lake_retry(fp_lake *l, fp_lake_counts *c, fp_err *err)
{
    fp_strv names = {0};
    fp_code rc = fp_store_list(l->to, "_failed/", &names, err);
    if (!rc && names.n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(names.v, names.n, sizeof *names.v, str_cmp);
    for (size_t i = 0; i < names.n && !rc; i++) {
        size_t n = strlen(names.v[i]);
        if (n > 6 && !strcmp(names.v[i] + n - 6, ".jsonl"))
            rc = retry_file(l, names.v[i], c, err);
        if (rc == FP_ERR_INVALID) { /* this queue file only: the others still get their retry */
            fp_log(FP_LOG_WARN, "lake", -1, "%s",
                   err ? err->msg : "a retry queue file is unusable");
            rc = FP_OK;
        }
    }
    fp_strv_free(&names);
    return rc;
}
