/* reconcile.c — the `reconcile` check kind (reconcile.h; docs/checks.md, "Cross-store
 * reconciliation"): one interval counted in every store the pipeline writes, compared per
 * (vehicle, protocol); every difference is one failing row naming the interval, the store, the
 * vehicle, the protocol and both numbers.
 *
 * A check compares one thing (params.compare):
 *   counts      samples per (vehicle, table) in the raw JSON lake (split as the lake splits:
 *               lake/lake.h fp_lake_raw_rows), the Parquet lake (the interval's catalog files,
 *               read: id and time columns), PostgreSQL (lake.<table>) and DynamoDB (one Query
 *               per vehicle pk, sk within the interval; or one filtered Scan). The first store
 *               configured in that order is the reference the others must equal.
 *   latest      Redis' hash per vehicle against the newest sample in PostgreSQL's lake tables.
 *   aggregates  the 5-minute items in DynamoDB against count/sum/min/max recomputed from
 *               PostgreSQL's lake table.
 * Everything is read, nothing written. Memory: one raw object's text, one Parquet file, and a
 * counter per (vehicle, table) of the interval.
 */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "aws/dynamodb.h"
#include "check/reconcile.h"
#include "core/props.h"
#include "core/time.h"
#include "core/url.h"
#include "lake/lake.h"
#include "parquet/parquet.h"
#include "redis/client.h"
#include "store/store.h"

#define SAMPLES 20

enum { S_RAW, S_LAKE, S_PG, S_DDB, S_N };
static const char *const store_names[S_N] = {"raw", "lake", "postgresql", "dynamodb"};

/* ------------------------------------------------------------------ configuration */

static const char *str_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* s with every ${NAME} replaced by the environment's value; an unset name is an error. */
static fp_code expand(const char *s, const char *what, fp_buf *out, fp_err *err)
{
    fp_buf_reset(out);
    for (const char *p = s; *p;) {
        const char *open = strstr(p, "${");
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            fp_buf_puts(out, p);
            break;
        }
        fp_buf_append(out, p, (size_t)(open - p));
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(close - open - 2), open + 2);
        const char *v = getenv(name);
        if (!v)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: ${%s} is not set in the environment", what,
                              name);
        fp_buf_puts(out, v);
        p = close + 1;
    }
    if (!out->p)
        fp_buf_puts(out, "");
    return FP_OK;
}

static fp_code check_keys(const json_t *o, const char *const *keys, const char *what, fp_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (int i = 0; keys[i] && !known; i++)
            known = !strcmp(keys[i], key);
        if (!known)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: unknown key \"%s\"", what, key);
    }
    return FP_OK;
}

static bool table_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 64 || !strchr(s, '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static fp_code check_tables(const json_t *t, const char *what, fp_err *err)
{
    if (!t)
        return FP_OK;
    if (!json_is_array(t) || !json_array_size(t))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"tables\" must be a non-empty list", what);
    for (size_t i = 0; i < json_array_size(t); i++)
        if (!table_ok(json_string_value(json_array_get(t, i))))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: table %zu is not a lake table <object>_<type> of [a-z0-9_]",
                              what, i);
    return FP_OK;
}

/* A store given as "URL" or {"url", "endpoint", "region", "profile"}. */
static fp_code check_url_store(const json_t *v, const char *what, fp_err *err)
{
    static const char *const keys[] = {"url", "endpoint", "region", "profile", NULL};
    if (json_is_string(v))
        return FP_OK;
    if (!json_is_object(v) || !str_of(v, "url"))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: a URL or {\"url\": ...}", what);
    return check_keys(v, keys, what, err);
}

static const char *compare_of(const json_t *conf)
{
    const char *c = str_of(json_object_get(conf, "params"), "compare");
    return c ? c : "counts";
}

fp_code fp_check_reconcile_conf(const json_t *conf, const char *dir, const char *what, fp_err *err)
{
    (void)dir;
    static const char *const store_keys[] = {"raw",      "lake",  "postgresql",
                                             "dynamodb", "redis", NULL};
    static const char *const ddb_keys[] = {"endpoint", "region", "profile", "table",
                                           "tables",   "read",   NULL};
    static const char *const redis_keys[] = {"url", "key_prefix", "tables", "fields", NULL};
    char w[300];
    const json_t *stores = json_object_get(conf, "stores"),
                 *params = json_object_get(conf, "params");
    if (!json_is_object(stores))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: a reconcile check needs \"stores\" (an object)",
                          what);
    fp_code rc = check_keys(stores, store_keys, what, err);
    const json_t *v;
    int counted = 0;
    for (int s = S_RAW; !rc && s <= S_LAKE; s++)
        if ((v = json_object_get(stores, store_names[s]))) {
            snprintf(w, sizeof w, "%s: stores.%s", what, store_names[s]);
            rc = check_url_store(v, w, err);
            counted++;
        }
    v = json_object_get(stores, "postgresql");
    if (!rc && v && !json_is_boolean(v))
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "%s: stores.postgresql must be true or false (the check's own --pg)", what);
    bool pg = json_is_true(v);
    counted += pg;
    const json_t *ddb = json_object_get(stores, "dynamodb");
    if (!rc && ddb) {
        snprintf(w, sizeof w, "%s: stores.dynamodb", what);
        const char *rd = str_of(ddb, "read");
        if (!json_is_object(ddb))
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: an object", w);
        else if (!(rc = check_keys(ddb, ddb_keys, w, err)) && rd && strcmp(rd, "query") &&
                 strcmp(rd, "scan"))
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: \"read\" is query or scan", w);
        if (!rc)
            rc = check_tables(json_object_get(ddb, "tables"), w, err);
        counted++;
    }
    const json_t *redis = json_object_get(stores, "redis");
    if (!rc && redis) {
        snprintf(w, sizeof w, "%s: stores.redis", what);
        const char *url = str_of(redis, "url");
        if (!json_is_object(redis))
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: an object", w);
        else if (!(rc = check_keys(redis, redis_keys, w, err)) && url &&
                 strncmp(url, "redis://", 8) && strncmp(url, "${", 2))
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: \"url\" must be redis://...", w);
        if (!rc)
            rc = check_tables(json_object_get(redis, "tables"), w, err);
        const json_t *f = json_object_get(redis, "fields");
        if (!rc && f && !json_is_array(f))
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: \"fields\" must be a list", w);
    }
    if (rc)
        return rc;
    rc = check_tables(json_object_get(params, "tables"), what, err);
    const char *cmp = compare_of(conf);
    const char *margin = str_of(params, "raw_margin");
    int64_t ms;
    if (!rc && margin && (fp_parse_ms(margin, &ms) || ms < 0))
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: params.raw_margin must be a duration (1h)", what);
    const char *win = str_of(params, "window");
    if (!rc && win && (fp_parse_ms(win, &ms) || ms <= 0))
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: params.window must be a duration (5m)", what);
    if (rc)
        return rc;
    if (!strcmp(cmp, "counts")) {
        if (counted < 2)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: compare counts needs two of stores.raw, lake, postgresql, "
                              "dynamodb",
                              what);
    } else if (!strcmp(cmp, "latest")) {
        if (!redis || !pg)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: compare latest needs stores.redis and stores.postgresql", what);
    } else if (!strcmp(cmp, "aggregates")) {
        if (!ddb || !pg)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: compare aggregates needs stores.dynamodb and stores.postgresql",
                              what);
    } else {
        return fp_err_set(err, FP_ERR_CONFIG,
                          "%s: params.compare \"%s\" (counts, latest, aggregates)", what, cmp);
    }
    return FP_OK;
}

/* ------------------------------------------------------------------ one run */

typedef struct cell {
    size_t tab;
    int64_t id;
    int64_t n[S_N];
    int64_t distinct; /* PostgreSQL's distinct samples (time, and zone where the table has one):
                         what an idempotent store keyed by them (DynamoDB's pk, sk) holds */
} cell;

typedef struct run {
    const json_t *conf, *stores, *params;
    const fp_check_opts *o;
    fp_pg *pg;
    fp_strv tables;                          /* the lake tables compared */
    char start[32], end[32], d0[11], d1[11]; /* the interval as ISO UTC; its UTC dates */
    json_t *rows;                            /* the first SAMPLES failing rows */
    int64_t failing;
    cell *cells; /* open addressing on (tab, id) */
    size_t ncells, cap;
    fp_buf tmp;
} run;

static long table_index(const run *r, const char *name)
{
    for (size_t i = 0; i < r->tables.n; i++)
        if (!strcmp(r->tables.v[i], name))
            return (long)i;
    return -1;
}

static size_t cell_hash(size_t tab, int64_t id, size_t cap)
{
    uint64_t h = ((uint64_t)id * 0x9E3779B97F4A7C15ull) ^ (tab * 0xC2B2AE3D27D4EB4Full);
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static cell *cell_get(run *r, size_t tab, int64_t id)
{
    if (2 * (r->ncells + 1) > r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        cell *v = fp_xcalloc(cap, sizeof *v);
        for (size_t i = 0; i < r->cap; i++)
            if (r->cells[i].tab) {
                size_t k = cell_hash(r->cells[i].tab, r->cells[i].id, cap);
                while (v[k].tab)
                    k = (k + 1) & (cap - 1);
                v[k] = r->cells[i];
            }
        free(r->cells);
        r->cells = v;
        r->cap = cap;
    }
    size_t t = tab + 1; /* 0 marks a free slot */
    size_t k = cell_hash(t, id, r->cap);
    while (r->cells[k].tab && !(r->cells[k].tab == t && r->cells[k].id == id))
        k = (k + 1) & (r->cap - 1);
    if (!r->cells[k].tab) {
        r->cells[k] = (cell){.tab = t, .id = id};
        r->ncells++;
    }
    return &r->cells[k];
}

/* "vehicle_kinematic" -> "vehicle/kinematic" (the object has no '_'). */
static void protocol_of(const char *table, fp_buf *out)
{
    fp_buf_reset(out);
    const char *u = strchr(table, '_');
    fp_buf_append(out, table, (size_t)(u - table));
    fp_buf_printf(out, "/%s", u + 1);
}

/* One failing row: counted, kept among the first SAMPLES (takes row). */
static void failing(run *r, json_t *row)
{
    r->failing++;
    json_t *base = json_pack("{s:s, s:s, s:s}", "interval", r->o->ds ? r->o->ds : "",
                             "interval_start", r->start, "interval_end", r->end);
    json_object_update(base, row);
    json_decref(row);
    if (json_array_size(r->rows) < SAMPLES)
        json_array_append_new(r->rows, base);
    else
        json_decref(base);
}

static json_t *count_or_null(int64_t n)
{
    return n >= 0 ? json_integer(n) : json_null();
}

/* ---- raw */

typedef struct raw_ctx {
    run *r;
    int64_t start_ms, end_ms;
} raw_ctx;

static fp_code on_raw_row(const fp_lake_raw_row *row, void *arg, fp_err *err)
{
    (void)err;
    raw_ctx *x = arg;
    if (row->ts_ms < x->start_ms || row->ts_ms >= x->end_ms || row->id == INT64_MIN)
        return FP_OK;
    long t = table_index(x->r, row->table);
    if (t >= 0)
        cell_get(x->r, (size_t)t, row->id)->n[S_RAW]++;
    return FP_OK;
}

static fp_code open_store(run *r, const char *which, bool must_exist, fp_store **st, fp_err *err)
{
    const json_t *v = json_object_get(r->stores, which);
    const char *url = json_is_string(v) ? json_string_value(v) : str_of(v, "url");
    char what[64];
    snprintf(what, sizeof what, "stores.%s", which);
    fp_buf u = FP_BUF_INIT, ep = FP_BUF_INIT, reg = FP_BUF_INIT, prof = FP_BUF_INIT;
    fp_code rc = expand(url, what, &u, err);
    if (!rc && str_of(v, "endpoint"))
        rc = expand(str_of(v, "endpoint"), what, &ep, err);
    if (!rc && str_of(v, "region"))
        rc = expand(str_of(v, "region"), what, &reg, err);
    if (!rc && str_of(v, "profile"))
        rc = expand(str_of(v, "profile"), what, &prof, err);
    fp_store_opts so = {.endpoint = ep.p,
                        .region = reg.p,
                        .profile = prof.p,
                        .path_style = -1,
                        .read_only = true,
                        .must_exist = must_exist,
                        .stop = r->o->stop};
    if (!rc)
        rc = fp_store_open(u.p, &so, st, err);
    if (rc)
        fp_err_prefix(err, "%s", what);
    fp_buf_free(&u);
    fp_buf_free(&ep);
    fp_buf_free(&reg);
    fp_buf_free(&prof);
    return rc;
}

static fp_code count_raw(run *r, fp_err *err)
{
    int64_t margin = 3600000;
    const char *m = str_of(r->params, "raw_margin");
    if (m)
        fp_parse_ms(m, &margin);
    fp_store *st = NULL;
    fp_code rc = open_store(r, "raw", true, &st, err);
    raw_ctx x = {r, r->o->start_ms, r->o->end_ms};
    if (!rc)
        rc = fp_lake_raw_rows(st, r->o->start_ms - margin, r->o->end_ms + margin,
                              str_of(r->params, "deadletter_topic"), on_raw_row, &x, NULL, err);
    if (rc)
        fp_err_prefix(err, "raw");
    fp_store_free(st);
    return rc;
}

/* ---- lake (Parquet) */

typedef struct read_ctx {
    fp_buf *b;
} read_ctx;

static fp_code on_bytes(const void *data, size_t n, void *arg, fp_err *err)
{
    (void)err;
    fp_buf_append(((read_ctx *)arg)->b, data, n);
    return FP_OK;
}

/* Counts one Parquet file's rows of the interval per vehicle. */
static fp_code count_file(run *r, size_t tab, const char *name, const void *p, size_t n,
                          int64_t want_rows, fp_err *err)
{
    fp_pq_reader *pr = NULL;
    fp_code rc = fp_pq_reader_open_mem(p, n, name, &pr, err);
    if (rc)
        return rc;
    long cid = -1, cts = -1, cmsg = -1;
    for (size_t c = 0; c < fp_pq_reader_ncols(pr); c++) {
        const char *cn = fp_pq_reader_column(pr, c)->name;
        if (!strcmp(cn, "id"))
            cid = (long)c;
        else if (!strcmp(cn, "timestamp_iso"))
            cts = (long)c;
        else if (!strcmp(cn, "messaged_at"))
            cmsg = (long)c;
    }
    if (want_rows >= 0 && fp_pq_reader_nrows(pr) != want_rows) {
        fp_buf_reset(&r->tmp);
        protocol_of(r->tables.v[tab], &r->tmp);
        failing(r, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "store", "lake", "protocol",
                             r->tmp.p, "file", name, "problem",
                             "the file's rows differ from its catalog entry", "expected",
                             (json_int_t)want_rows, "actual", (json_int_t)fp_pq_reader_nrows(pr)));
    }
    for (size_t g = 0; g < fp_pq_reader_nrowgroups(pr) && !rc && cid >= 0; g++) {
        fp_pq_values vid = {0}, vts = {0}, vmsg = {0};
        rc = fp_pq_read_column(pr, g, (size_t)cid, &vid, err);
        if (!rc && cts >= 0)
            rc = fp_pq_read_column(pr, g, (size_t)cts, &vts, err);
        if (!rc && cmsg >= 0)
            rc = fp_pq_read_column(pr, g, (size_t)cmsg, &vmsg, err);
        if (!rc && ((vid.type != FP_PQ_INT64 && vid.type != FP_PQ_DOUBLE) ||
                    (cts >= 0 && vts.type != FP_PQ_TIMESTAMP) ||
                    (cmsg >= 0 && vmsg.type != FP_PQ_TIMESTAMP)))
            rc = fp_err_set(err, FP_ERR_INVALID,
                            "%s: id is not a number or the time column not a timestamp", name);
        for (size_t i = 0; !rc && i < vid.n; i++) {
            int64_t ts;
            if (cts >= 0 && vts.valid[i])
                ts = vts.i64[i];
            else if (cmsg >= 0 && vmsg.valid[i])
                ts = vmsg.i64[i];
            else
                continue;
            if (!vid.valid[i] || ts < r->o->start_ms || ts >= r->o->end_ms)
                continue;
            /* an id column widened to double by a fractional id still names the vehicle */
            int64_t id = vid.type == FP_PQ_DOUBLE ? (int64_t)vid.f64[i] : vid.i64[i];
            cell_get(r, tab, id)->n[S_LAKE]++;
        }
        fp_pq_values_free(&vid);
        fp_pq_values_free(&vts);
        fp_pq_values_free(&vmsg);
    }
    fp_pq_reader_free(pr);
    return rc;
}

static fp_code count_lake(run *r, fp_err *err)
{
    fp_store *st = NULL;
    fp_code rc = open_store(r, "lake", true, &st, err);
    fp_buf name = FP_BUF_INIT, bytes = FP_BUF_INIT;
    for (size_t t = 0; t < r->tables.n && !rc; t++) {
        fp_lake_cat_table cat = {0};
        rc = fp_lake_cat_read(st, r->tables.v[t], &cat, err);
        if (rc == FP_ERR_NOTFOUND) { /* no catalog: the lake has none of its rows */
            rc = FP_OK;
            continue;
        }
        for (size_t p = 0; p < cat.nparts && !rc; p++) {
            const fp_lake_cat_part *pt = &cat.parts[p];
            if (pt->start_ms + 3600000 <= r->o->start_ms || pt->start_ms >= r->o->end_ms)
                continue;
            for (size_t f = 0; f < pt->nfiles && !rc; f++) {
                fp_buf_reset(&name);
                fp_buf_printf(&name, "%s/dt=%s/hour=%s/%s", cat.name, pt->dt, pt->hour,
                              pt->files[f].name);
                bool exists = false;
                rc = fp_store_exists(st, name.p, &exists, err);
                if (rc)
                    break;
                if (!exists) {
                    fp_buf_reset(&r->tmp);
                    protocol_of(r->tables.v[t], &r->tmp);
                    failing(r, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "store", "lake",
                                         "protocol", r->tmp.p, "file", name.p, "problem",
                                         "listed in the catalog, missing from the lake", "expected",
                                         (json_int_t)pt->files[f].rows, "actual", (json_int_t)0));
                    continue;
                }
                fp_buf_reset(&bytes);
                read_ctx x = {&bytes};
                rc = fp_store_read(st, name.p, on_bytes, &x, err);
                if (!rc)
                    rc = count_file(r, t, name.p, bytes.p, bytes.len, pt->files[f].rows, err);
            }
        }
        fp_lake_cat_free(&cat);
    }
    if (rc)
        fp_err_prefix(err, "lake");
    fp_buf_free(&name);
    fp_buf_free(&bytes);
    fp_store_free(st);
    return rc;
}

/* ---- PostgreSQL */

/* The time expression of lake.<table>'s rows (timestamp_iso, else messaged_at, as the lake
 * partitions), or "" when the table does not exist. */
static fp_code pg_time_expr(run *r, const char *table, fp_buf *out, fp_err *err)
{
    PGresult *res = NULL;
    const char *p[] = {table};
    fp_buf_reset(out);
    fp_code rc = fp_pg_query(r->pg,
                             "SELECT bool_or(column_name = 'timestamp_iso'), bool_or(column_name "
                             "= 'messaged_at') FROM information_schema.columns WHERE "
                             "table_schema = 'lake' AND table_name = $1",
                             1, p, &res, err);
    if (rc)
        return rc;
    bool ts = !PQgetisnull(res, 0, 0) && PQgetvalue(res, 0, 0)[0] == 't';
    bool msg = !PQgetisnull(res, 0, 1) && PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    if (ts && msg)
        fp_buf_puts(out, "COALESCE(timestamp_iso, messaged_at)");
    else if (ts)
        fp_buf_puts(out, "timestamp_iso");
    else if (msg)
        fp_buf_puts(out, "messaged_at");
    else
        fp_buf_puts(out, "");
    return FP_OK;
}

/* The interval's rows of lake.<table> as a WHERE clause ($1, $2: start, end; $3, $4: UTC dates),
 * over time expression te; hi_extra (may be "") widens the upper time bound. */
static void pg_where(const char *te, const char *hi_extra, fp_buf *q)
{
    fp_buf_printf(q,
                  " WHERE dt >= CAST($3 AS DATE) AND dt <= CAST($4 AS DATE) AND %s >= "
                  "CAST($1 AS TIMESTAMPTZ) AND %s < CAST($2 AS TIMESTAMPTZ)%s",
                  te, te, hi_extra);
}

static fp_code count_pg(run *r, fp_err *err)
{
    fp_buf te = FP_BUF_INIT, q = FP_BUF_INIT;
    fp_code rc = FP_OK;
    for (size_t t = 0; t < r->tables.n && !rc; t++) {
        if ((rc = pg_time_expr(r, r->tables.v[t], &te, err)) || !te.len)
            continue;
        PGresult *zr = NULL;
        const char *zp[] = {r->tables.v[t]};
        if ((rc = fp_pg_query(r->pg,
                              "SELECT count(*) FROM information_schema.columns WHERE table_schema "
                              "= 'lake' AND table_name = $1 AND column_name = 'zone'",
                              1, zp, &zr, err)))
            break;
        bool zone = PQgetvalue(zr, 0, 0)[0] != '0';
        PQclear(zr);
        fp_buf_reset(&q);
        fp_buf_printf(&q, "SELECT id, count(*), count(DISTINCT (%s%s)) FROM lake.", te.p,
                      zone ? ", zone" : ", 0");
        fp_pg_put_ident(&q, r->tables.v[t]);
        pg_where(te.p, "", &q);
        fp_buf_puts(&q, " AND id IS NOT NULL GROUP BY id");
        const char *p[] = {r->start, r->end, r->d0, r->d1};
        PGresult *res = NULL;
        rc = fp_pg_query(r->pg, q.p, 4, p, &res, err);
        for (int i = 0; !rc && i < PQntuples(res); i++) {
            cell *c = cell_get(r, t, strtoll(PQgetvalue(res, i, 0), NULL, 10));
            c->n[S_PG] += strtoll(PQgetvalue(res, i, 1), NULL, 10);
            c->distinct += strtoll(PQgetvalue(res, i, 2), NULL, 10);
        }
        PQclear(res);
    }
    if (rc)
        fp_err_prefix(err, "postgresql");
    fp_buf_free(&te);
    fp_buf_free(&q);
    return rc;
}

/* ---- DynamoDB */

static fp_code ddb_client(run *r, fp_aws_client **cl, fp_buf *table, fp_err *err)
{
    const json_t *d = json_object_get(r->stores, "dynamodb");
    fp_buf ep = FP_BUF_INIT, reg = FP_BUF_INIT, prof = FP_BUF_INIT;
    fp_code rc = FP_OK;
    if (str_of(d, "endpoint"))
        rc = expand(str_of(d, "endpoint"), "stores.dynamodb.endpoint", &ep, err);
    if (!rc && str_of(d, "region"))
        rc = expand(str_of(d, "region"), "stores.dynamodb.region", &reg, err);
    if (!rc && str_of(d, "profile"))
        rc = expand(str_of(d, "profile"), "stores.dynamodb.profile", &prof, err);
    if (!rc)
        rc = expand(str_of(d, "table") ? str_of(d, "table") : "fms", "stores.dynamodb.table", table,
                    err);
    fp_aws_dynamodb_opts o = {
        .region = reg.p,
        .endpoint = ep.p,
        .profile = prof.p,
        .no_region_msg = "stores.dynamodb: no region: set \"region\", AWS_REGION or "
                         "AWS_DEFAULT_REGION",
        .stop = r->o->stop,
    };
    if (!rc)
        rc = fp_aws_dynamodb_client_new(&o, cl, err);
    fp_buf_free(&ep);
    fp_buf_free(&reg);
    fp_buf_free(&prof);
    return rc;
}

/* Whether DynamoDB holds table (stores.dynamodb.tables; none: every compared table). */
static bool ddb_holds(const run *r, const char *table)
{
    const json_t *t = json_object_get(json_object_get(r->stores, "dynamodb"), "tables");
    if (!t)
        return true;
    for (size_t i = 0; i < json_array_size(t); i++)
        if (!strcmp(json_string_value(json_array_get(t, i)), table))
            return true;
    return false;
}

typedef struct ddb_ctx {
    run *r;
    const char *end; /* ISO of the interval's end: sk below it */
    size_t tab;      /* query: the table; scan: found from pk */
    int64_t id, n;
    bool scan;
} ddb_ctx;

static const char *attr_s(const json_t *item, const char *name)
{
    return str_of(json_object_get(item, name), "S");
}

static fp_code on_ddb_item(const json_t *item, void *arg, fp_err *err)
{
    (void)err;
    ddb_ctx *x = arg;
    const char *sk = attr_s(item, "sk");
    if (!sk || strncmp(sk, x->end, strlen(x->end)) >= 0)
        return FP_OK; /* BETWEEN includes the end; the interval does not */
    if (!x->scan) {
        x->n++;
        return FP_OK;
    }
    /* pk <id>#<object>#<type>: a sample item (the 5-minute ones have a fourth part) */
    const char *pk = attr_s(item, "pk");
    char *end = NULL;
    long long id = pk ? strtoll(pk, &end, 10) : 0;
    if (!pk || end == pk || *end != '#')
        return FP_OK;
    const char *o = end + 1, *h = strchr(o, '#');
    if (!h || strchr(h + 1, '#'))
        return FP_OK;
    char table[160];
    snprintf(table, sizeof table, "%.*s_%s", (int)(h - o), o, h + 1);
    long t = table_index(x->r, table);
    if (t >= 0 && ddb_holds(x->r, table))
        cell_get(x->r, (size_t)t, id)->n[S_DDB]++;
    return FP_OK;
}

static fp_code count_ddb(run *r, fp_err *err)
{
    fp_aws_client *cl = NULL;
    fp_buf table = FP_BUF_INIT, pk = FP_BUF_INIT;
    fp_code rc = ddb_client(r, &cl, &table, err);
    const char *rd = str_of(json_object_get(r->stores, "dynamodb"), "read");
    bool scan = rd && !strcmp(rd, "scan");
    ddb_ctx x = {.r = r, .end = r->end, .scan = scan};
    if (!rc && scan) {
        json_t *req =
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}, s:{s:s}}}", "TableName", table.p,
                      "FilterExpression", "#s BETWEEN :a AND :b", "ProjectionExpression", "#p, #s",
                      "ExpressionAttributeNames", "#p", "pk", "#s", "sk",
                      "ExpressionAttributeValues", ":a", "S", r->start, ":b", "S", r->end);
        rc = fp_aws_dynamodb_pages(cl, "Scan", req, on_ddb_item, &x, NULL, err);
        json_decref(req);
    }
    /* query: one pk per (vehicle, table) that any other store counted */
    for (size_t i = 0; !rc && !scan && i < r->cap; i++) {
        cell *c = &r->cells[i];
        if (!c->tab || !ddb_holds(r, r->tables.v[c->tab - 1]))
            continue;
        const char *tn = r->tables.v[c->tab - 1], *u = strchr(tn, '_');
        fp_buf_reset(&pk);
        fp_buf_printf(&pk, "%" PRId64 "#%.*s#%s", c->id, (int)(u - tn), tn, u + 1);
        json_t *req = json_pack(
            "{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}, s:{s:s}, s:{s:s}}}", "TableName", table.p,
            "KeyConditionExpression", "#p = :p AND #s BETWEEN :a AND :b", "ProjectionExpression",
            "#s", "ExpressionAttributeNames", "#p", "pk", "#s", "sk", "ExpressionAttributeValues",
            ":p", "S", pk.p, ":a", "S", r->start, ":b", "S", r->end);
        x.n = 0;
        rc = fp_aws_dynamodb_pages(cl, "Query", req, on_ddb_item, &x, NULL, err);
        json_decref(req);
        r->cells[i].n[S_DDB] = x.n; /* the table may have grown: index i is still this cell */
    }
    if (rc)
        fp_err_prefix(err, "dynamodb");
    fp_aws_client_free(cl);
    fp_buf_free(&table);
    fp_buf_free(&pk);
    return rc;
}

static fp_code compare_counts(run *r, fp_err *err)
{
    bool on[S_N] = {
        json_object_get(r->stores, "raw") != NULL,
        json_object_get(r->stores, "lake") != NULL,
        json_is_true(json_object_get(r->stores, "postgresql")),
        json_object_get(r->stores, "dynamodb") != NULL,
    };
    fp_code rc = FP_OK;
    if (on[S_RAW])
        rc = count_raw(r, err);
    if (!rc && on[S_LAKE])
        rc = count_lake(r, err);
    if (!rc && on[S_PG])
        rc = count_pg(r, err);
    if (!rc && on[S_DDB])
        rc = count_ddb(r, err);
    if (rc)
        return rc;
    int ref = on[S_RAW] ? S_RAW : on[S_LAKE] ? S_LAKE : S_PG;
    /* in (table, vehicle) order, so the samples read the same on every run */
    size_t n = 0;
    cell **v = fp_xcalloc(r->ncells + 1, sizeof *v);
    for (size_t i = 0; i < r->cap; i++)
        if (r->cells[i].tab)
            v[n++] = &r->cells[i];
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && (v[j - 1]->tab > v[j]->tab ||
                                     (v[j - 1]->tab == v[j]->tab && v[j - 1]->id > v[j]->id));
             j--) {
            cell *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        const cell *c = v[i];
        const char *tn = r->tables.v[c->tab - 1];
        for (int s = 0; s < S_N; s++) {
            /* DynamoDB keeps one item per (pk, sk): a sample sent twice (a duplicated message)
             * is one item, so with PostgreSQL at hand it is held to the reference less the
             * repeats PostgreSQL holds (not to PostgreSQL itself: a row lost there is
             * PostgreSQL's difference, not DynamoDB's) */
            bool keyed = s == S_DDB && on[S_PG];
            int64_t want = keyed ? c->n[ref] - (c->n[S_PG] - c->distinct) : c->n[ref];
            if (!on[s] || s == ref || c->n[s] == want || (s == S_DDB && !ddb_holds(r, tn)))
                continue;
            protocol_of(tn, &r->tmp);
            failing(r, json_pack("{s:s, s:I, s:s, s:s, s:I, s:I}", "store", store_names[s],
                                 "vehicle", (json_int_t)c->id, "protocol", r->tmp.p, "reference",
                                 keyed ? (ref == S_RAW    ? "raw less the repeats in postgresql"
                                          : ref == S_LAKE ? "lake less the repeats in postgresql"
                                                          : "postgresql, distinct samples")
                                       : store_names[ref],
                                 "expected", (json_int_t)want, "actual", (json_int_t)c->n[s]));
        }
    }
    free(v);
    return FP_OK;
}

/* ---- Redis: the newest state per vehicle */

static fp_code redis_open(run *r, redisContext **out, fp_err *err)
{
    const json_t *rj = json_object_get(r->stores, "redis");
    fp_buf url = FP_BUF_INIT;
    fp_redis_url u = {0};
    fp_code rc = expand(str_of(rj, "url") ? str_of(rj, "url") : "redis://127.0.0.1:6379/0",
                        "stores.redis.url", &url, err);
    if (!rc)
        rc = fp_redis_url_parse(url.p, &u, err);
    if (rc)
        fp_err_prefix(err, "stores.redis.url");
    else
        rc = fp_redis_open(&u, 5000, 30000, out, err);
    fp_redis_url_free(&u);
    fp_buf_free(&url);
    return rc;
}

/* The newest sample per vehicle over the Redis tables: per field, the rows at its newest time
 * (an equal time in two tables: either value may be the one Redis kept). */
typedef struct newest {
    int64_t id, ts; /* ts: the newest of any field */
    json_t *fields; /* field -> {"ts": ms, "values": [...], "protocol": "..."} */
} newest;

static bool is_time_name(const char *k)
{
    size_t n = strlen(k);
    return !strcmp(k, "timestamp_iso") || (n > 3 && !strcmp(k + n - 3, "_at"));
}

/* Whether Redis' text v is the value the lake holds (PostgreSQL's row_to_json of it). */
static bool same_value(const char *field, const json_t *lake, const char *v)
{
    if (json_is_true(lake) || json_is_false(lake))
        return !strcmp(v, json_is_true(lake) ? "true" : "false");
    if (json_is_number(lake)) {
        char *end = NULL;
        double d = strtod(v, &end), l = json_number_value(lake);
        return end != v && !*end && fabs(d - l) <= 1e-9 * fmax(1.0, fabs(l));
    }
    if (json_is_string(lake)) {
        const char *s = json_string_value(lake);
        if (is_time_name(field)) {
            int64_t a, b;
            return !fp_time_parse_iso(s, strlen(s), &a, NULL) &&
                   !fp_time_parse_iso(v, strlen(v), &b, NULL) && a == b;
        }
        return !strcmp(s, v);
    }
    char *t = json_dumps(lake, JSON_COMPACT);
    bool same = t && !strcmp(t, v);
    free(t);
    return same;
}

static bool field_kept(const json_t *fields, const char *k)
{
    if (!strcmp(k, "id") || !strcmp(k, "timestamp_iso") || !strcmp(k, "dt") || !strcmp(k, "hour"))
        return false;
    if (!fields || !json_array_size(fields))
        return true;
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (!strcmp(json_string_value(json_array_get(fields, i)), k))
            return true;
    return false;
}

static newest *newest_get(newest **v, size_t *n, int64_t id)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].id == id)
            return &(*v)[i];
    *v = fp_xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[*n] = (newest){.id = id, .ts = INT64_MIN, .fields = json_object()};
    return &(*v)[(*n)++];
}

static const char *redis_field(redisReply *h, const char *name)
{
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, name))
            return h->element[i + 1]->type == REDIS_REPLY_STRING ? h->element[i + 1]->str : NULL;
    return NULL;
}

static fp_code compare_latest(run *r, fp_err *err)
{
    const json_t *rj = json_object_get(r->stores, "redis");
    const json_t *tabs = json_object_get(rj, "tables"), *fields = json_object_get(rj, "fields");
    const char *prefix = str_of(rj, "key_prefix") ? str_of(rj, "key_prefix") : "vehicle:";
    newest *nv = NULL;
    size_t nn = 0;
    fp_buf te = FP_BUF_INIT, q = FP_BUF_INIT;
    fp_code rc = FP_OK;
    size_t ntab = tabs ? json_array_size(tabs) : r->tables.n;
    for (size_t t = 0; t < ntab && !rc; t++) {
        const char *tn = tabs ? json_string_value(json_array_get(tabs, t)) : r->tables.v[t];
        if ((rc = pg_time_expr(r, tn, &te, err)) || !te.len)
            continue;
        /* the newest row at or after the interval's start of every vehicle with rows in it */
        fp_buf_reset(&q);
        fp_buf_printf(&q,
                      "SELECT DISTINCT ON (id) id, (extract(epoch FROM %s) * 1000)::bigint, "
                      "row_to_json(t)::text FROM lake.",
                      te.p);
        fp_pg_put_ident(&q, tn);
        fp_buf_printf(&q,
                      " t WHERE dt >= CAST($3 AS DATE) AND %s >= CAST($1 AS TIMESTAMPTZ) AND id IN "
                      "(SELECT id FROM lake.",
                      te.p);
        fp_pg_put_ident(&q, tn);
        pg_where(te.p, "", &q);
        fp_buf_printf(&q, ") ORDER BY id, %s DESC", te.p);
        const char *p[] = {r->start, r->end, r->d0, r->d1};
        PGresult *res = NULL;
        rc = fp_pg_query(r->pg, q.p, 4, p, &res, err);
        protocol_of(tn, &r->tmp);
        for (int i = 0; !rc && i < PQntuples(res); i++) {
            newest *w = newest_get(&nv, &nn, strtoll(PQgetvalue(res, i, 0), NULL, 10));
            int64_t ts = strtoll(PQgetvalue(res, i, 1), NULL, 10);
            json_t *row = json_loads(PQgetvalue(res, i, 2), 0, NULL);
            if (ts > w->ts)
                w->ts = ts;
            const char *k;
            json_t *val;
            json_object_foreach(row, k, val)
            {
                if (json_is_null(val) || !field_kept(fields, k))
                    continue;
                json_t *f = json_object_get(w->fields, k);
                int64_t fts = f ? json_integer_value(json_object_get(f, "ts")) : INT64_MIN;
                if (f && ts < fts)
                    continue;
                if (!f || ts > fts) {
                    f = json_pack("{s:I, s:[], s:s}", "ts", (json_int_t)ts, "values", "protocol",
                                  r->tmp.p);
                    json_object_set_new(w->fields, k, f);
                }
                json_array_append(json_object_get(f, "values"), val);
            }
            json_decref(row);
        }
        PQclear(res);
    }
    if (rc)
        fp_err_prefix(err, "postgresql");
    redisContext *c = NULL;
    if (!rc && nn)
        rc = redis_open(r, &c, err);
    for (size_t i = 0; !rc && i < nn; i++) {
        newest *w = &nv[i];
        redisReply *h = redisCommand(c, "HGETALL %s%" PRId64, prefix, w->id);
        if (!h || h->type == REDIS_REPLY_ERROR) {
            rc = fp_err_set(err, FP_ERR_IO, "redis: HGETALL %s%" PRId64 ": %s", prefix, w->id,
                            h ? h->str : c->errstr);
            freeReplyObject(h);
            break;
        }
        const char *hts = redis_field(h, "ts");
        int64_t got = hts ? strtoll(hts, NULL, 10) : INT64_MIN;
        if (got != w->ts)
            failing(r,
                    json_pack("{s:s, s:I, s:o, s:s, s:I, s:o}", "store", "redis", "vehicle",
                              (json_int_t)w->id, "key", json_sprintf("%s%" PRId64, prefix, w->id),
                              "field", "ts", "expected", (json_int_t)w->ts, "actual",
                              hts ? json_integer(got) : json_null()));
        const char *k;
        json_t *f;
        json_object_foreach(w->fields, k, f)
        {
            int64_t fts = json_integer_value(json_object_get(f, "ts"));
            fp_buf_reset(&q);
            fp_buf_printf(&q, "%s:ts", k);
            const char *v = redis_field(h, k), *vts = redis_field(h, q.p);
            bool ok = v && vts && strtoll(vts, NULL, 10) == fts, same = false;
            const json_t *vals = json_object_get(f, "values");
            for (size_t j = 0; ok && !same && j < json_array_size(vals); j++)
                same = same_value(k, json_array_get(vals, j), v);
            ok = ok && same;
            if (ok)
                continue;
            json_t *row =
                json_pack("{s:s, s:I, s:s, s:o, s:s, s:I, s:O, s:o, s:o}", "store", "redis",
                          "vehicle", (json_int_t)w->id, "protocol", str_of(f, "protocol"), "key",
                          json_sprintf("%s%" PRId64, prefix, w->id), "field", k, "expected_ts",
                          (json_int_t)fts, "expected", json_array_get(vals, 0), "actual_ts",
                          vts ? json_integer(strtoll(vts, NULL, 10)) : json_null(), "actual",
                          v ? json_string(v) : json_null());
            failing(r, row);
        }
        freeReplyObject(h);
    }
    if (c)
        redisFree(c);
    for (size_t i = 0; i < nn; i++)
        json_decref(nv[i].fields);
    free(nv);
    fp_buf_free(&te);
    fp_buf_free(&q);
    return rc;
}

/* ---- the 5-minute aggregates */

typedef struct agg {
    int64_t id, zone, w; /* zone INT64_MIN: no group field */
    int64_t count[2];    /* lake, dynamodb; -1: absent */
    double sum[2], min[2], max[2];
} agg;

typedef struct agg_ctx {
    agg *v;
    size_t n;
    const char *end;
    int64_t id;
    const char *field;
} agg_ctx;

static agg *agg_get(agg_ctx *x, int64_t id, int64_t zone, int64_t w)
{
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].id == id && x->v[i].zone == zone && x->v[i].w == w)
            return &x->v[i];
    x->v = fp_xrealloc(x->v, (x->n + 1) * sizeof *x->v);
    x->v[x->n] = (agg){.id = id, .zone = zone, .w = w, .count = {-1, -1}};
    return &x->v[x->n++];
}

static double attr_n(const json_t *m, const char *name)
{
    const char *s = str_of(json_object_get(m, name), "N");
    return s ? strtod(s, NULL) : NAN;
}

static fp_code on_agg_item(const json_t *item, void *arg, fp_err *err)
{
    (void)err;
    agg_ctx *x = arg;
    const char *sk = attr_s(item, "sk");
    if (!sk || strncmp(sk, x->end, strlen(x->end)) >= 0)
        return FP_OK;
    const char *h = strchr(sk, '#');
    int64_t w, zone = INT64_MIN;
    if (fp_time_parse_iso(sk, h ? (size_t)(h - sk) : strlen(sk), &w, NULL))
        return FP_OK;
    if (h && h[1] == 'z')
        zone = strtoll(h + 2, NULL, 10);
    const json_t *m = json_object_get(json_object_get(item, x->field), "M");
    agg *a = agg_get(x, x->id, zone, w);
    double c = attr_n(m, "count");
    a->count[1] = isnan(c) ? 0 : (int64_t)c;
    a->sum[1] = attr_n(m, "sum");
    a->min[1] = attr_n(m, "min");
    a->max[1] = attr_n(m, "max");
    return FP_OK;
}

static bool near(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return fabs(a - b) <= 1e-6 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

static fp_code compare_aggregates(run *r, fp_err *err)
{
    const char *field = str_of(r->params, "field") ? str_of(r->params, "field") : "temperature";
    const char *group = str_of(r->params, "group") ? str_of(r->params, "group") : "zone";
    const char *suffix = str_of(r->params, "pk_suffix") ? str_of(r->params, "pk_suffix") : "#5m";
    int64_t wms = 300000;
    if (str_of(r->params, "window"))
        fp_parse_ms(str_of(r->params, "window"), &wms);
    const char *tn = r->tables.v[0];
    agg_ctx x = {.end = r->end, .field = field};
    fp_buf te = FP_BUF_INIT, q = FP_BUF_INIT, pk = FP_BUF_INIT, table = FP_BUF_INIT;
    fp_code rc = pg_time_expr(r, tn, &te, err);
    if (!rc && te.len) {
        /* windows that start in the interval, with every sample of theirs */
        fp_buf_reset(&q);
        fp_buf_puts(&q, "SELECT id, ");
        if (*group)
            fp_pg_put_ident(&q, group);
        else
            fp_buf_puts(&q, "NULL");
        fp_buf_puts(&q, ", w, count(");
        fp_pg_put_ident(&q, field);
        fp_buf_puts(&q, ")::text, sum(");
        fp_pg_put_ident(&q, field);
        fp_buf_puts(&q, ")::text, min(");
        fp_pg_put_ident(&q, field);
        fp_buf_puts(&q, ")::text, max(");
        fp_pg_put_ident(&q, field);
        fp_buf_printf(&q,
                      ")::text FROM (SELECT *, (floor(extract(epoch FROM %s) * 1000 / %" PRId64
                      ") * %" PRId64 ")::bigint AS w FROM lake.",
                      te.p, wms, wms);
        fp_pg_put_ident(&q, tn);
        fp_buf_printf(&q,
                      " WHERE dt >= CAST($3 AS DATE) AND dt <= CAST($4 AS DATE) + 1 AND %s >= "
                      "CAST($1 AS TIMESTAMPTZ) AND %s < CAST($2 AS TIMESTAMPTZ) + "
                      "make_interval(secs => %" PRId64 ")) s WHERE w < (extract(epoch FROM "
                      "CAST($2 AS TIMESTAMPTZ)) * 1000)::bigint GROUP BY 1, 2, 3",
                      te.p, te.p, wms / 1000);
        const char *p[] = {r->start, r->end, r->d0, r->d1};
        PGresult *res = NULL;
        rc = fp_pg_query(r->pg, q.p, 4, p, &res, err);
        for (int i = 0; !rc && i < PQntuples(res); i++) {
            agg *a = agg_get(&x, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                             PQgetisnull(res, i, 1) ? INT64_MIN
                                                    : strtoll(PQgetvalue(res, i, 1), NULL, 10),
                             strtoll(PQgetvalue(res, i, 2), NULL, 10));
            a->count[0] = strtoll(PQgetvalue(res, i, 3), NULL, 10);
            a->sum[0] = PQgetisnull(res, i, 4) ? NAN : strtod(PQgetvalue(res, i, 4), NULL);
            a->min[0] = PQgetisnull(res, i, 5) ? NAN : strtod(PQgetvalue(res, i, 5), NULL);
            a->max[0] = PQgetisnull(res, i, 6) ? NAN : strtod(PQgetvalue(res, i, 6), NULL);
        }
        PQclear(res);
        if (rc)
            fp_err_prefix(err, "postgresql");
    }
    fp_aws_client *cl = NULL;
    if (!rc && x.n)
        rc = ddb_client(r, &cl, &table, err);
    /* one Query per vehicle of the lake's windows */
    int64_t *ids = fp_xcalloc(x.n + 1, sizeof *ids);
    size_t nids = 0;
    for (size_t i = 0; i < x.n; i++) {
        bool seen = false;
        for (size_t j = 0; j < nids && !seen; j++)
            seen = ids[j] == x.v[i].id;
        if (!seen)
            ids[nids++] = x.v[i].id;
    }
    const char *u = strchr(tn, '_');
    for (size_t i = 0; !rc && i < nids; i++) {
        fp_buf_reset(&pk);
        fp_buf_printf(&pk, "%" PRId64 "#%.*s#%s%s", ids[i], (int)(u - tn), tn, u + 1, suffix);
        json_t *req = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}, s:{s:s}, s:{s:s}}}",
                                "TableName", table.p, "KeyConditionExpression",
                                "#p = :p AND #s BETWEEN :a AND :b", "ExpressionAttributeNames",
                                "#p", "pk", "#s", "sk", "ExpressionAttributeValues", ":p", "S",
                                pk.p, ":a", "S", r->start, ":b", "S", r->end);
        x.id = ids[i];
        rc = fp_aws_dynamodb_pages(cl, "Query", req, on_agg_item, &x, NULL, err);
        json_decref(req);
    }
    if (rc && cl)
        fp_err_prefix(err, "dynamodb");
    protocol_of(tn, &r->tmp);
    for (size_t i = 0; !rc && i < x.n; i++) {
        const agg *a = &x.v[i];
        const char *what = a->count[0] != a->count[1]    ? "count"
                           : a->count[0] < 0             ? NULL
                           : !near(a->sum[0], a->sum[1]) ? "sum"
                           : !near(a->min[0], a->min[1]) ? "min"
                           : !near(a->max[0], a->max[1]) ? "max"
                                                         : NULL;
        if (!what)
            continue;
        fp_buf w = FP_BUF_INIT;
        fp_time_format_iso(a->w, &w);
        json_t *row =
            json_pack("{s:s, s:I, s:s, s:s, s:s}", "store", "dynamodb", "vehicle",
                      (json_int_t)a->id, "protocol", r->tmp.p, "window", w.p, "measure", what);
        if (a->zone != INT64_MIN)
            json_object_set_new(row, group, json_integer(a->zone));
        double e = !strcmp(what, "sum") ? a->sum[0] : !strcmp(what, "min") ? a->min[0] : a->max[0];
        double g = !strcmp(what, "sum") ? a->sum[1] : !strcmp(what, "min") ? a->min[1] : a->max[1];
        if (!strcmp(what, "count")) {
            json_object_set_new(row, "expected", count_or_null(a->count[0]));
            json_object_set_new(row, "actual", count_or_null(a->count[1]));
        } else {
            json_object_set_new(row, "expected", isnan(e) ? json_null() : json_real(e));
            json_object_set_new(row, "actual", isnan(g) ? json_null() : json_real(g));
        }
        failing(r, row);
        fp_buf_free(&w);
    }
    free(ids);
    free(x.v);
    fp_aws_client_free(cl);
    fp_buf_free(&te);
    fp_buf_free(&q);
    fp_buf_free(&pk);
    fp_buf_free(&table);
    return rc;
}

fp_code fp_check_reconcile(const json_t *conf, const fp_check_opts *o, fp_pg *pg, int64_t *observed,
                           char **samples, fp_err *err)
{
    run r = {.conf = conf, .o = o, .pg = pg, .rows = json_array()};
    r.stores = json_object_get(conf, "stores");
    r.params = json_object_get(conf, "params");
    *observed = 0;
    *samples = NULL;
    const json_t *tabs = json_object_get(r.params, "tables");
    for (size_t i = 0; tabs && i < json_array_size(tabs); i++) {
        r.tables.v = fp_xrealloc(r.tables.v, (r.tables.n + 1) * sizeof *r.tables.v);
        r.tables.v[r.tables.n++] = fp_xstrdup(json_string_value(json_array_get(tabs, i)));
    }
    if (!tabs) { /* the target's table: lake.vehicle_kinematic */
        const char *t = str_of(conf, "target"), *dot = t ? strchr(t, '.') : NULL;
        r.tables.v = fp_xcalloc(1, sizeof *r.tables.v);
        r.tables.v[r.tables.n++] = fp_xstrdup(dot ? dot + 1 : "");
    }
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(o->start_ms, &b);
    snprintf(r.start, sizeof r.start, "%s", b.p);
    snprintf(r.d0, sizeof r.d0, "%.10s", b.p);
    fp_buf_reset(&b);
    fp_time_format_iso(o->end_ms, &b);
    snprintf(r.end, sizeof r.end, "%s", b.p);
    snprintf(r.d1, sizeof r.d1, "%.10s", b.p);
    fp_buf_free(&b);
    fp_code rc = FP_OK;
    for (size_t i = 0; i < r.tables.n && !rc; i++)
        if (!table_ok(r.tables.v[i]))
            rc = fp_err_set(err, FP_ERR_CONFIG, "table \"%s\" is not <object>_<type>",
                            r.tables.v[i]);
    const char *cmp = compare_of(conf);
    if (!rc && !strcmp(cmp, "counts"))
        rc = compare_counts(&r, err);
    else if (!rc && !strcmp(cmp, "latest"))
        rc = compare_latest(&r, err);
    else if (!rc)
        rc = compare_aggregates(&r, err);
    if (!rc) {
        *observed = r.failing;
        if (json_array_size(r.rows))
            *samples = json_dumps(r.rows, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(r.rows);
    free(r.cells);
    fp_strv_free(&r.tables);
    fp_buf_free(&r.tmp);
    return rc;
}
