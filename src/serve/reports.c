/* reports.c — the Fleet API's PostgreSQL part: the daily marts (mart.vehicle_daily,
 * mart.reefer_daily; config/warehouse/sql/schema.sql) as JSON rows, one vehicle's KPIs for
 * GET /vehicles/{id}, and the vehicles of failing data-quality checks for the status "alarm".
 *
 * Every statement is prepared (fp_pg_prepare, so a reconnection prepares it again) with the day
 * and the id filter as parameters: nothing a caller sends is ever part of SQL text. Each
 * connection runs with a statement_timeout and opens with a connect timeout, both the server's
 * backend timeout, so a slow or hung PostgreSQL answers 503 instead of holding the request; a
 * connection the server dropped (restart, idle kill) is reset once and the statement retried.
 *
 * Check alarms: ops.dq_results keeps, per check and interval, the vehicles of every failing row
 * (a check's "vehicle" column, docs/checks.md). A thread of its own reads, every
 * check_alarms_every_ms, the newest interval of each check that ended within
 * check_alarms_within_ms and is warn or fail, into a snapshot sorted by vehicle; requests only
 * look it up, so a slow or down PostgreSQL never delays a live-state answer (the snapshot then
 * ages, and is dropped after three failed refreshes rather than shown stale for ever).
 *
 * Threads: a libpq connection is one-thread-at-a-time; requests take one from a bounded pool
 * (serve/pool.h). The alarm thread has its own connection; the snapshot is swapped under mu.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "pg/pg.h"
#include "serve/pool.h"
#include "serve/serve_int.h"

#define IDS_MAX 1000 /* ids a report filter may list */

/* One vehicle named by a failing check's newest interval. */
typedef struct alarm {
    int64_t vehicle;
    int64_t interval_end_ms;
    const char *check;  /* into the snapshot's names */
    const char *status; /* "warn" or "fail" (static) */
} alarm;

typedef struct alarms {
    alarm *v; /* sorted by vehicle, then check */
    size_t n;
    char *names; /* the checks' names, NUL-separated */
} alarms;

struct fp_serve_pg {
    fp_pg_opts o;       /* conninfo borrowed from fp_serve's options */
    fp_serve_pool pool; /* of fp_pg */
    fp_serve *s;
    /* check alarms */
    pthread_t thread;
    bool started;
    bool stop;           /* under mu */
    pthread_cond_t wake; /* under mu: stop */
    pthread_mutex_t mu;
    alarms cur; /* under mu */
};

#define VEHICLE_DAILY_COLUMNS                                                                      \
    "SELECT vehicle_id, day, distance_km, gps_distance_km, drive_s, idle_s, engine_on_s, "         \
    "utilization, trips, max_speed, speeding_s, harsh_accel, harsh_brake, harsh_per_100km, "       \
    "battery_min_v, fuel_used_pct, samples FROM mart.vehicle_daily "

/* The prepared statements: $1 day, $2 ids (bigint[] or NULL: all); the KPIs: $1 a time (epoch
 * ms), $2 one id, $3 the fleet's time zone (today is that time's local day). */
static const struct stmt {
    const char *name;
    const char *sql;
    int n;
} stmts[] = {
    {"serve_vehicle_daily",
     VEHICLE_DAILY_COLUMNS "WHERE day = $1::date AND "
                           "($2::bigint[] IS NULL OR vehicle_id = ANY($2::bigint[])) ORDER BY "
                           "vehicle_id",
     2},
    {"serve_reefer_daily",
     "SELECT vehicle_id, zone, day, monitored_min, excursion_min, longest_excursion_min, "
     "door_open_min, door_openings, compliance_pct, min_temperature, avg_temperature, "
     "max_temperature, samples FROM mart.reefer_daily WHERE day = $1::date AND "
     "($2::bigint[] IS NULL OR vehicle_id = ANY($2::bigint[])) ORDER BY vehicle_id, zone",
     2},
    {"serve_vehicle_kpis",
     VEHICLE_DAILY_COLUMNS "WHERE vehicle_id = $2::bigint AND "
                           "day = (to_timestamp($1::bigint / 1000.0) AT TIME ZONE $3)::date",
     3},
};
enum { VEHICLE_DAILY, REEFER_DAILY, VEHICLE_KPIS };

/* $1 now (epoch ms), $2 within (ms): (vehicle, check, status, interval end ms) of each check's
 * newest interval that names vehicles, failed or warned, and ended within $2 of $1. */
static const struct stmt alarms_stmt = {
    "serve_check_alarms",
    "SELECT v, l.check_name, l.status, CAST(date_part('epoch', l.interval_end) * 1000 AS bigint) "
    "FROM (SELECT DISTINCT ON (check_name) check_name, status, interval_end, vehicles "
    "FROM ops.dq_results WHERE vehicles IS NOT NULL AND interval_end > "
    "to_timestamp(($1::bigint - $2::bigint) / 1000.0) ORDER BY check_name, interval_start DESC) l, "
    "unnest(l.vehicles) v "
    "WHERE l.status IN ('warn', 'fail') ORDER BY v, l.check_name",
    2};

/* ---------------------------------------------------------------- the pool */

static fp_code conn_open(void *ctx, void **conn, fp_err *err)
{
    fp_serve_pg *p = ctx;
    fp_pg *pg = NULL;
    fp_code rc = fp_pg_connect_opts(&p->o, &pg, err);
    for (size_t i = 0; !rc && i < sizeof stmts / sizeof stmts[0]; i++)
        rc = fp_pg_prepare(pg, stmts[i].name, stmts[i].sql, stmts[i].n, err);
    if (rc) {
        fp_pg_free(pg);
        pg = NULL;
    }
    *conn = pg;
    return rc;
}

static void conn_close(void *ctx, void *conn)
{
    (void)ctx;
    fp_pg_free(conn);
}

/* ---------------------------------------------------------------- check alarms */

static void alarms_free(alarms *a)
{
    free(a->v);
    free(a->names);
    *a = (alarms){0};
}

/* Reads the snapshot with pg (its own connection, opened on demand). */
static fp_code alarms_read(fp_serve_pg *p, fp_pg **pg, alarms *out, fp_err *err)
{
    fp_code rc = FP_OK;
    if (!*pg && (rc = fp_pg_connect_opts(&p->o, pg, err)))
        return rc;
    char now[32], within[32];
    snprintf(now, sizeof now, "%" PRId64, fp_serve_now_ms(p->s));
    snprintf(within, sizeof within, "%" PRId64, p->s->o.check_alarms_within_ms);
    const char *params[2] = {now, within};
    PGresult *res = NULL;
    if ((rc = fp_pg_query(*pg, alarms_stmt.sql, 2, params, &res, err))) {
        if (fp_pg_broken(*pg)) {
            fp_pg_free(*pg);
            *pg = NULL;
        }
        return rc;
    }
    int n = PQntuples(res);
    fp_buf names = FP_BUF_INIT;
    size_t *off = fp_xcalloc((size_t)n + 1, sizeof *off);
    out->v = fp_xcalloc((size_t)n + 1, sizeof *out->v);
    for (int i = 0; i < n; i++) {
        const char *check = PQgetvalue(res, i, 1);
        /* rows come by vehicle: a check's name is looked for among those already kept */
        size_t at = names.len;
        for (size_t k = 0; k < names.len; k += strlen(names.p + k) + 1)
            if (!strcmp(names.p + k, check)) {
                at = k;
                break;
            }
        if (at == names.len)
            fp_buf_append(&names, check, strlen(check) + 1);
        off[i] = at;
        out->v[i] = (alarm){.vehicle = strtoll(PQgetvalue(res, i, 0), NULL, 10),
                            .interval_end_ms = strtoll(PQgetvalue(res, i, 3), NULL, 10),
                            .status = strcmp(PQgetvalue(res, i, 2), "fail") ? "warn" : "fail"};
    }
    PQclear(res);
    out->n = (size_t)n;
    out->names = names.p ? names.p : fp_xstrdup("");
    for (size_t i = 0; i < out->n; i++)
        out->v[i].check = out->names + off[i];
    free(off);
    return FP_OK;
}

static void *alarms_main(void *arg)
{
    fp_serve_pg *p = arg;
    fp_pg *pg = NULL;
    int failures = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        pthread_mutex_unlock(&p->mu);
        alarms next = {0};
        fp_err err = {0};
        /* no ops.dq_results yet (SQLSTATE 42P01): no check has run, so no alarm */
        bool ok = !alarms_read(p, &pg, &next, &err) || strstr(err.msg, "42P01");
        pthread_mutex_lock(&p->mu);
        if (ok || ++failures >= 3) {
            if (!ok && failures == 3)
                fp_log(FP_LOG_WARN, "serve", -1,
                       "check alarms: %s (the alarms are dropped until PostgreSQL answers)",
                       err.msg);
            alarms_free(&p->cur);
            p->cur = next;
            failures = ok ? 0 : failures;
        }
        struct timespec until = fp_time_deadline(p->s->o.check_alarms_every_ms);
        while (!p->stop && pthread_cond_timedwait(&p->wake, &p->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&p->mu);
    fp_pg_free(pg);
    return NULL;
}

void fp_serve_pg_check_alarms(fp_serve *s, int64_t id, fp_buf *out)
{
    fp_serve_pg *p = s->pg;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    size_t lo = 0, hi = p->cur.n;
    while (lo < hi) { /* the first entry of id */
        size_t mid = lo + (hi - lo) / 2;
        if (p->cur.v[mid].vehicle < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < p->cur.n && p->cur.v[i].vehicle == id; i++) {
        const alarm *a = &p->cur.v[i];
        fp_buf_printf(out, "%s{\"kind\":\"check\",\"check\":", out->len ? "," : "");
        fp_json_quote(out, a->check, strlen(a->check));
        fp_buf_printf(out, ",\"status\":\"%s\",\"interval_end\":\"", a->status);
        fp_time_format_iso(a->interval_end_ms, out);
        fp_buf_puts(out, "\"}");
    }
    pthread_mutex_unlock(&p->mu);
}

fp_code fp_serve_pg_init(fp_serve *s, fp_err *err)
{
    (void)err;
    s->pg = NULL;
    if (!s->o.pg || !*s->o.pg)
        return FP_OK;
    fp_serve_pg *p = fp_xcalloc(1, sizeof *p);
    int64_t t = s->o.backend_timeout_ms > 0 ? s->o.backend_timeout_ms : 5000;
    p->o = (fp_pg_opts){.conninfo = s->o.pg,
                        .app = "fleetpipe serve",
                        .connect_timeout_s = (int)((t + 999) / 1000),
                        .statement_timeout_ms = t};
    p->pool = (fp_serve_pool){.backend = "postgresql",
                              .max = 8,
                              .wait_ms = t,
                              .open = conn_open,
                              .close = conn_close,
                              .ctx = p};
    fp_serve_pool_init(&p->pool);
    p->s = s;
    pthread_mutex_init(&p->mu, NULL);
    fp_time_cond_init(&p->wake);
    /* A server that is down now is no reason not to start: each request connects. */
    s->pg = p;
    if (pthread_create(&p->thread, NULL, alarms_main, p))
        fp_log(FP_LOG_WARN, "serve", -1, "check alarms: no thread (statuses show no check alarm)");
    else
        p->started = true;
    return FP_OK;
}

void fp_serve_pg_free(fp_serve *s)
{
    if (!s->pg)
        return;
    fp_serve_pg *p = s->pg;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    alarms_free(&p->cur);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    fp_serve_pool_free(&p->pool);
    free(s->pg);
    s->pg = NULL;
}

/* Runs statement st with a pooled connection; a connection found broken is reset and the
 * statement tried once more (the first use after a server restart). */
static fp_code run(fp_serve_pg *p, const struct stmt *st, const char *const *params, PGresult **res,
                   fp_err *err)
{
    void *conn = NULL;
    fp_code rc = fp_serve_pool_get(&p->pool, &conn, err);
    if (rc)
        return rc;
    fp_pg *pg = conn;
    rc = fp_pg_query_prepared(pg, st->name, st->n, params, res, err);
    if (rc && fp_pg_broken(pg)) {
        rc = fp_pg_reset(pg, err);
        if (!rc)
            rc = fp_pg_query_prepared(pg, st->name, st->n, params, res, err);
    }
    fp_serve_pool_put(&p->pool, pg, fp_pg_broken(pg));
    return rc;
}

/* ---------------------------------------------------------------- rows as JSON */

/* PostgreSQL's type oids (pg_type.dat) for the columns the marts have. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700
};

static void put_row(fp_buf *b, const PGresult *res, int row)
{
    fp_buf_putc(b, '{');
    for (int f = 0; f < PQnfields(res); f++) {
        if (f)
            fp_buf_puts(b, ", ");
        const char *name = PQfname(res, f);
        fp_json_quote(b, name, strlen(name));
        fp_buf_puts(b, ": ");
        const char *v = PQgetvalue(res, row, f);
        size_t n = (size_t)PQgetlength(res, row, f);
        Oid t = PQftype(res, f);
        if (PQgetisnull(res, row, f))
            fp_buf_puts(b, "null");
        else if (t == OID_INT8 || t == OID_INT2 || t == OID_INT4 || t == OID_FLOAT4 ||
                 t == OID_FLOAT8 || t == OID_NUMERIC)
            fp_json_put_number(b, v, n); /* NaN, Infinity: null */
        else if (t == OID_BOOL)
            fp_buf_puts(b, v[0] == 't' ? "true" : "false");
        else
            fp_json_quote(b, v, n);
    }
    fp_buf_putc(b, '}');
}

/* ---------------------------------------------------------------- parameters */

/* day=YYYY-MM-DD, a real date. */
static bool param_day(fp_serve_call *c, fp_buf *day)
{
    bool bad = false;
    if (!fp_serve_query(c, "day", day, &bad)) {
        if (!bad)
            fp_serve_fail(c, 400, "parameter day is required (YYYY-MM-DD)");
        return false;
    }
    bool ok = day->len == 10;
    for (size_t i = 0; ok && i < 10; i++)
        ok = i == 4 || i == 7 ? day->p[i] == '-' : day->p[i] >= '0' && day->p[i] <= '9';
    int64_t ms;
    fp_buf iso = FP_BUF_INIT;
    if (ok) {
        fp_buf_printf(&iso, "%sT00:00:00Z", day->p);
        ok = !fp_time_parse_iso(iso.p, iso.len, &ms, NULL);
    }
    fp_buf_free(&iso);
    if (!ok) {
        fp_buf shown = FP_BUF_INIT;
        fp_json_quote(&shown, day->p, day->len > 40 ? 40 : day->len);
        fp_serve_fail(c, 400, "parameter day: %s is not a date YYYY-MM-DD", shown.p);
        fp_buf_free(&shown);
    }
    return ok;
}

/* ids=1,2,3 as a PostgreSQL bigint[] literal "{1,2,3}"; absent: *has = false. */
static bool param_ids(fp_serve_call *c, fp_buf *arr, bool *has)
{
    int64_t *ids = NULL;
    size_t n = 0;
    *has = false;
    if (!fp_serve_param_ids(c, "ids", IDS_MAX, &ids, &n))
        return false;
    if (ids) {
        *has = true;
        fp_buf_putc(arr, '{');
        for (size_t i = 0; i < n; i++)
            fp_buf_printf(arr, "%s%" PRId64, i ? "," : "", ids[i]);
        fp_buf_putc(arr, '}');
    }
    free(ids);
    return true;
}

/* ---------------------------------------------------------------- the routes */

static void report(fp_serve_call *c, const struct stmt *st)
{
    fp_buf day = FP_BUF_INIT, ids = FP_BUF_INIT;
    bool has_ids = false;
    if (!param_day(c, &day) || !param_ids(c, &ids, &has_ids))
        goto out;
    if (!c->s->pg) {
        fp_serve_unavailable(c, "postgresql", NULL);
        goto out;
    }
    const char *params[2] = {day.p, has_ids ? ids.p : NULL};
    PGresult *res = NULL;
    fp_err err = {0};
    if (run(c->s->pg, st, params, &res, &err)) {
        fp_serve_unavailable(c, "postgresql", &err);
        goto out;
    }
    int n = res ? PQntuples(res) : 0;
    fp_buf *b = &c->resp->body;
    c->resp->content_type = "application/json";
    fp_buf_puts(b, "{\"day\": ");
    fp_json_quote(b, day.p, day.len);
    fp_buf_printf(b, ", \"available\": %s, \"data\": [", n ? "true" : "false");
    for (int i = 0; i < n; i++) {
        fp_buf_puts(b, i ? ",\n" : "\n");
        put_row(b, res, i);
    }
    fp_buf_puts(b, "]}\n");
    PQclear(res);
out:
    fp_buf_free(&day);
    fp_buf_free(&ids);
}

void fp_serve_report_vehicle(fp_serve_call *c)
{
    report(c, &stmts[VEHICLE_DAILY]);
}

void fp_serve_report_reefer(fp_serve_call *c)
{
    report(c, &stmts[REEFER_DAILY]);
}

fp_code fp_serve_pg_kpis(fp_serve *s, int64_t id, int64_t now_ms, fp_buf *json_out, fp_err *err)
{
    if (!s->pg)
        return fp_err_set(err, FP_ERR_CONFIG, "not configured");
    char idt[32], nowt[32];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    snprintf(nowt, sizeof nowt, "%" PRId64, now_ms);
    const char *params[3] = {nowt, idt, s->o.timezone};
    PGresult *res = NULL;
    fp_code rc = run(s->pg, &stmts[VEHICLE_KPIS], params, &res, err);
    if (rc)
        return rc;
    if (res && PQntuples(res) > 0)
        put_row(json_out, res, 0);
    else
        fp_buf_puts(json_out, "null");
    PQclear(res);
    return FP_OK;
}
