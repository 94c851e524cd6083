/* sched.c — the scheduler loop over ops.runs (see sched.h for the semantics).
 *
 * One loop thread owns the main connection and every state change of ops.runs except the work
 * itself: it creates the due intervals, picks ready tasks, claims each (state running, try + 1,
 * owner = this process) and hands it to a worker thread with its own connection, then records
 * the worker's result. A mart's DELETE and INSERT are separate statements inside BEGIN/COMMIT,
 * so a task whose process dies never commits half of its work: PostgreSQL rolls it back when
 * the connection drops, and the next scheduler re-runs it.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check/alert.h"
#include "core/backoff.h"
#include "core/log.h"
#include "core/time.h"
#include "lake/lake.h"
#include "ops/metrics.h"
#include "pg/pg.h"
#include "pg/tmpl.h"
#include "warehouse/sched_int.h"
#include "warehouse/warehouse.h"

#define WHO "warehouse"
#define TASK_APP_SCHED "fleetpipe warehouse scheduler task"
#define TASK_APP_BACKFILL "fleetpipe warehouse backfill task"
#define LOCK_KEY "fleetpipe.warehouse.scheduler"

/* ---- schema ---- */

fp_code fp_wh_sched_init_schema(fp_pg *pg, fp_err *err)
{
    return fp_pg_exec(
        pg,
        "CREATE SCHEMA IF NOT EXISTS ops;"
        "CREATE TABLE IF NOT EXISTS ops.runs ("
        " dag text NOT NULL, task text NOT NULL,"
        " interval_start timestamptz NOT NULL, interval_end timestamptz NOT NULL, ds date NOT NULL,"
        " state text NOT NULL CHECK (state IN ('scheduled','running','success','up_for_retry',"
        "  'failed','upstream_failed')),"
        " try integer NOT NULL DEFAULT 0, max_tries integer NOT NULL DEFAULT 1,"
        " reason text NOT NULL DEFAULT 'schedule',"
        " created_at timestamptz NOT NULL DEFAULT now(), next_try_at timestamptz,"
        " started_at timestamptz, ended_at timestamptz, duration_s double precision,"
        " rows bigint, error text, owner text, deadline_missed_at timestamptz,"
        " PRIMARY KEY (dag, task, interval_start));"
        "CREATE INDEX IF NOT EXISTS runs_open ON ops.runs (state, next_try_at)"
        " WHERE state IN ('scheduled','up_for_retry','running');"
        "CREATE TABLE IF NOT EXISTS ops.task_tries ("
        " dag text NOT NULL, task text NOT NULL, interval_start timestamptz NOT NULL,"
        " try integer NOT NULL, state text NOT NULL, reason text,"
        " started_at timestamptz, ended_at timestamptz NOT NULL DEFAULT now(),"
        " duration_s double precision, rows bigint, error text, owner text,"
        " next_try_at timestamptz);"
        "CREATE INDEX IF NOT EXISTS task_tries_run ON ops.task_tries (dag, task, interval_start);",
        err);
}

/* ---- the loop's state ---- */

typedef struct loop loop;

typedef struct job {
    loop *L;
    const fp_wh_dag *dag;
    fp_wh_task *task;
    int64_t start_ms, end_ms;
    char ds[11];
    int try_number, max_tries;
    char reason[32];
    int64_t started_mono;
    fp_stop stop; /* the loop asks a load to stop (timeout, shutdown) */
    pthread_mutex_t mu;
    PGcancel *cancel; /* the worker's statement, for the loop to cancel; under mu */
    bool timed_out;
    /* the worker's result, read after done */
    fp_code rc;
    char err[FP_ERR_MSG_MAX];
    int64_t rows;
    double seconds;
    _Atomic bool done;
    bool busy;     /* the slot holds a job (running, or done and not recorded yet) */
    bool joinable; /* th runs or ran and was not joined */
    pthread_t th;
} job;

struct loop {
    const fp_wh_sched_opts *o;
    const fp_wh_pipeline *p;
    const char *lake_url;
    fp_pg *pg;
    bool backfill;
    char owner[160];
    const char *task_app;
    job *slots;
    int nslots;
    /* scope: one DAG and a range for a backfill; every DAG otherwise */
    const fp_wh_dag *only;
    int64_t from_ms, to_ms;
    int concurrency;
    /* counts for the summary */
    int64_t tasks_run, success, failed, interrupted;
    /* what /metrics and /healthz read, under mu */
    pthread_mutex_t mu;
    json_t *counts; /* {"dag": {"state": n}} */
    json_t *dq;     /* [{check, target, status, observed}] of each check's newest interval */
    bool pg_down;
    char health[512]; /* "" when healthy */
    int64_t next_refresh_mono;
    fp_alert *alerts; /* the first check task's "alerts": check results and missed deadlines */
};

static int64_t now_ms(const loop *L)
{
    return L->o->now_ms ? L->o->now_ms : fp_time_now_ms();
}

static void iso(int64_t ms, char *out, size_t cap)
{
    fp_buf b = {0};
    fp_pg_tmpl_iso(ms, &b);
    snprintf(out, cap, "%s", b.p);
    fp_buf_free(&b);
}

static double mono_s(void)
{
    return (double)fp_time_mono_ms() / 1000.0;
}

/* ---- workers ---- */

static fp_code tx_step(fp_pg *pg, job *j, const char *sql, int64_t *rows, fp_err *err)
{
    PGresult *res = NULL;
    fp_code rc = fp_pg_query(pg, sql, 0, NULL, rows ? &res : NULL, err);
    if (!rc && rows && res) {
        const char *t = PQcmdTuples(res);
        *rows = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(res);
    (void)j;
    return rc;
}

static fp_code run_sql_task(job *j, fp_pg *pg, fp_err *err)
{
    fp_pg_tmpl_ctx c = {.start_ms = j->start_ms,
                        .end_ms = j->end_ms,
                        .ds = j->ds,
                        .try_number = j->try_number,
                        .dag = j->dag->id,
                        .task = j->task->id,
                        .params = j->dag->params};
    fp_buf sql = {0}, del = {0}, stmt = {0};
    fp_code rc = fp_pg_tmpl_render(j->task->sql, &c, &sql, err);
    if (!rc && j->task->kind == FP_WH_TASK_MART)
        rc = fp_pg_tmpl_render(j->task->delete_where, &c, &del, err);
    if (rc)
        goto out;
    if ((rc = fp_pg_exec(pg, "BEGIN", err)))
        goto out;
    if (j->task->timeout_ms > 0) {
        fp_buf_printf(&stmt, "SET LOCAL statement_timeout = %" PRId64, j->task->timeout_ms);
        if ((rc = fp_pg_exec(pg, stmt.p, err)))
            goto rollback;
    }
    if (j->task->kind == FP_WH_TASK_MART) {
        fp_buf_reset(&stmt);
        fp_buf_printf(&stmt, "DELETE FROM %s WHERE %s", j->task->table, del.p);
        if ((rc = tx_step(pg, j, stmt.p, NULL, err)))
            goto rollback;
        fp_buf_reset(&stmt);
        fp_buf_printf(&stmt, "INSERT INTO %s\n%s", j->task->table, sql.p);
        if ((rc = tx_step(pg, j, stmt.p, &j->rows, err)))
            goto rollback;
    } else if ((rc = fp_pg_exec(pg, sql.p, err))) {
        goto rollback;
    }
    rc = fp_pg_exec(pg, "COMMIT", err);
    goto out;
rollback:
    if (!fp_pg_broken(pg))
        fp_pg_exec(pg, "ROLLBACK", NULL);
out:
    fp_buf_free(&sql);
    fp_buf_free(&del);
    fp_buf_free(&stmt);
    return rc;
}

static void *job_main(void *arg)
{
    job *j = arg;
    loop *L = j->L;
    fp_err e = {0};
    double t0 = mono_s();
    fp_code rc;
    if (j->task->kind == FP_WH_TASK_LOAD) {
        /* The interval's hours, and every changed partition before its end (late data, and
         * the rows a clock a year back dated into hours before the grid) and past the wall
         * clock (a year ahead) or of the arrival-partitioned deadletter table: whatever was
         * converted by the time the watermark passed the interval's end is in PostgreSQL when
         * the interval's checks run (docs/warehouse.md, "Strays"). */
        fp_wh_load_opts lo = {.pg = L->o->pg,
                              .lake_url = L->lake_url,
                              .store = L->o->store,
                              .since_ms = INT64_MIN,
                              .until_ms = j->end_ms,
                              .strays = true,
                              .stop = &j->stop};
        fp_wh_load_counts c = {0};
        rc = L->lake_url ? fp_wh_load(&lo, &c, &e)
                         : fp_err_set(&e, FP_ERR_CONFIG, "no lake: give --lake or \"lake\"");
        j->rows = c.rows;
    } else if (j->task->kind == FP_WH_TASK_CHECK) {
        /* done when every check ran; a check that could not run (error) is worth a retry, a
         * failing one is a result (ops.dq_results, alerts), not a failed task */
        fp_check_opts co = {.pg = L->o->pg,
                            .start_ms = j->start_ms,
                            .end_ms = j->end_ms,
                            .ds = j->ds,
                            .only = j->task->only,
                            .every = j->task->every,
                            .alerts = L->alerts,
                            .stop = &j->stop};
        fp_check_counts cc = {0};
        rc = fp_check_run(j->task->checks, &co, &cc, &e);
        if (!rc && cc.error)
            rc = fp_err_set(&e, FP_ERR_IO, "%" PRId64 " of %" PRId64 " checks could not run",
                            cc.error, cc.checks);
        j->rows = cc.checks;
        json_decref(cc.results);
    } else {
        fp_pg *pg = NULL;
        rc = fp_pg_connect(L->o->pg, L->task_app, &pg, &e);
        if (!rc) {
            pthread_mutex_lock(&j->mu);
            j->cancel = PQgetCancel(fp_pg_conn(pg));
            pthread_mutex_unlock(&j->mu);
            rc = run_sql_task(j, pg, &e);
            pthread_mutex_lock(&j->mu);
            PQfreeCancel(j->cancel);
            j->cancel = NULL;
            pthread_mutex_unlock(&j->mu);
        }
        fp_pg_free(pg);
    }
    j->seconds = mono_s() - t0;
    j->rc = rc;
    snprintf(j->err, sizeof j->err, "%s", rc ? e.msg : "");
    atomic_store(&j->done, true);
    return NULL;
}

/* Stops a running job: a load at its next partition, a statement by a cancel request. */
static void job_cancel(job *j)
{
    fp_stop_request(&j->stop);
    pthread_mutex_lock(&j->mu);
    if (j->cancel) {
        char buf[256];
        PQcancel(j->cancel, buf, sizeof buf);
    }
    pthread_mutex_unlock(&j->mu);
}

/* ---- ops.runs ---- */

static fp_code q(loop *L, const char *sql, int n, const char *const *params, PGresult **res,
                 fp_err *err)
{
    return fp_pg_query(L->pg, sql, n, params, res, err);
}

/* The n-th retry delay: min(base * 2^(n-1), cap), scaled by 1 ± jitter. */
static int64_t retry_delay(const fp_wh_task *t, int try_number)
{
    double d = (double)t->retry_delay_ms * pow(2.0, try_number > 1 ? try_number - 1 : 0);
    if (d > (double)t->max_retry_delay_ms)
        d = (double)t->max_retry_delay_ms;
    if (t->jitter > 0) {
        unsigned seed = (unsigned)(fp_time_mono_ms() ^ (int64_t)(uintptr_t)t ^ try_number);
        double u = (double)rand_r(&seed) / RAND_MAX;
        d *= 1.0 + t->jitter * (2.0 * u - 1.0);
    }
    return (int64_t)d;
}

static void try_history(loop *L, const job *j, const char *state, const char *next_try_iso)
{
    char s[32], secs[32], rows[32], tr[16];
    iso(j->start_ms, s, sizeof s);
    snprintf(secs, sizeof secs, "%.3f", j->seconds);
    snprintf(rows, sizeof rows, "%" PRId64, j->rows);
    snprintf(tr, sizeof tr, "%d", j->try_number);
    const char *p[] = {
        j->dag->id, j->task->id,           s,        tr,          state, j->reason, secs,
        rows,       j->rc ? j->err : NULL, L->owner, next_try_iso};
    fp_err e = {0};
    if (q(L,
          "INSERT INTO ops.task_tries (dag, task, interval_start, try, state, reason, started_at,"
          " duration_s, rows, error, owner, next_try_at) VALUES ($1, $2, $3, $4, $5, $6,"
          " now() - make_interval(secs => $7::double precision), $7, $8, $9, $10, $11)",
          11, p, NULL, &e))
        fp_log(FP_LOG_WARN, WHO, -1, "recording a try of %s/%s: %s", j->dag->id, j->task->id,
               e.msg);
}

/* Marks every task downstream of t (transitively) upstream_failed in the interval. */
static void fail_downstream(loop *L, const fp_wh_dag *d, size_t t, const char *start_iso)
{
    for (size_t i = 0; i < d->ntasks; i++)
        for (size_t u = 0; u < d->tasks[i].nupstream; u++)
            if (d->tasks[i].upstream[u] == t) {
                const char *p[] = {d->id, d->tasks[i].id, start_iso};
                q(L,
                  "UPDATE ops.runs SET state = 'upstream_failed', ended_at = now() WHERE dag = $1"
                  " AND task = $2 AND interval_start = $3 AND state IN ('scheduled',"
                  " 'up_for_retry')",
                  3, p, NULL, NULL);
                fail_downstream(L, d, i, start_iso);
            }
}

static void deadline_alert(loop *L, const char *dag, const char *task, const char *status,
                           const char *interval, const char *state);

/* Writes j's result into ops.runs; false when PostgreSQL could not be reached (the loop keeps
 * the job and records it again after reconnecting, so no result is lost). */
static bool record(loop *L, job *j)
{
    char s[32], secs[32], rows[32];
    iso(j->start_ms, s, sizeof s);
    snprintf(secs, sizeof secs, "%.3f", j->seconds);
    snprintf(rows, sizeof rows, "%" PRId64, j->rows);
    fp_metrics_hist_observe(&j->task->duration, j->seconds);
    fp_err e = {0};
    if (j->timed_out && !j->rc) {
        j->rc = FP_ERR_IO;
        snprintf(j->err, sizeof j->err, "timed out after %" PRId64 " s",
                 j->task->timeout_ms / 1000);
    }
    if (!j->rc) {
        atomic_fetch_add(&j->task->rows_total, j->rows);
        const char *p[] = {j->dag->id, j->task->id, s, secs, rows, L->owner};
        if (q(L,
              "UPDATE ops.runs SET state = 'success', ended_at = now(), duration_s = $4,"
              " rows = $5, error = NULL WHERE dag = $1 AND task = $2 AND interval_start = $3"
              " AND owner = $6 AND state = 'running'",
              6, p, NULL, &e)) {
            fp_log(FP_LOG_WARN, WHO, -1, "recording %s/%s@%s: %s", j->dag->id, j->task->id, s,
                   e.msg);
            return false;
        }
        try_history(L, j, "success", NULL);
        L->success++;
        if (j->dag->deadline_ms)
            deadline_alert(L, j->dag->id, j->task->id, "pass", s, "done");
        fp_log(FP_LOG_INFO, WHO, -1, "%s/%s %s..: success (try %d, %.1f s, %" PRId64 " rows)",
               j->dag->id, j->task->id, s, j->try_number, j->seconds, j->rows);
        return true;
    }
    bool retry = j->try_number < j->max_tries;
    char next[32] = "", delay[32];
    int64_t dms = retry ? retry_delay(j->task, j->try_number) : 0;
    snprintf(delay, sizeof delay, "%.3f", (double)dms / 1000.0);
    const char *p[] = {
        j->dag->id, j->task->id, s, secs, j->err, L->owner, retry ? "up_for_retry" : "failed",
        delay};
    PGresult *res = NULL;
    if (q(L,
          "UPDATE ops.runs SET state = $7, ended_at = now(), duration_s = $4, error = $5,"
          " next_try_at = CASE WHEN $7 = 'up_for_retry' THEN now() + make_interval(secs =>"
          " $8::double precision) END WHERE dag = $1 AND task = $2 AND interval_start = $3"
          " AND owner = $6 AND state = 'running' RETURNING next_try_at",
          8, p, &res, &e)) {
        fp_log(FP_LOG_WARN, WHO, -1, "recording %s/%s@%s: %s", j->dag->id, j->task->id, s, e.msg);
        return false;
    }
    if (res && PQntuples(res) && !PQgetisnull(res, 0, 0))
        snprintf(next, sizeof next, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    try_history(L, j, retry ? "up_for_retry" : "failed", *next ? next : NULL);
    if (retry) {
        fp_log(FP_LOG_WARN, WHO, -1, "%s/%s %s..: try %d of %d failed, retry in %.1f s: %s",
               j->dag->id, j->task->id, s, j->try_number, j->max_tries, (double)dms / 1000.0,
               j->err);
    } else {
        L->failed++;
        fp_log(FP_LOG_ERROR, WHO, -1, "%s/%s %s..: failed after %d tries: %s", j->dag->id,
               j->task->id, s, j->try_number, j->err);
        fail_downstream(L, j->dag, (size_t)(j->task - j->dag->tasks), s);
    }
    return true;
}

/* Joins finished workers and records their results; asks overdue ones to stop. */
static int reap(loop *L)
{
    int finished = 0;
    for (int i = 0; i < L->nslots; i++) {
        job *j = &L->slots[i];
        if (!j->busy)
            continue;
        if (!atomic_load(&j->done)) {
            if (j->task->timeout_ms > 0 && !j->timed_out &&
                fp_time_mono_ms() - j->started_mono > j->task->timeout_ms) {
                j->timed_out = true;
                job_cancel(j);
            }
            continue;
        }
        if (j->joinable) {
            pthread_join(j->th, NULL);
            j->joinable = false;
        }
        if (!record(L, j))
            continue; /* PostgreSQL is gone: recorded after the reconnect */
        j->busy = false;
        finished++;
    }
    return finished;
}

static int busy_slots(const loop *L)
{
    int n = 0;
    for (int i = 0; i < L->nslots; i++)
        n += L->slots[i].busy;
    return n;
}

/* Sleeps up to ms, but wakes within 20 ms of a worker finishing (its result is recorded and the
 * next task starts at once, not a whole tick later) or of a stop request. */
static void idle_wait(const loop *L, int64_t ms)
{
    for (int64_t left = ms; left > 0; left -= 20) {
        for (int i = 0; i < L->nslots; i++)
            if (L->slots[i].busy && atomic_load(&L->slots[i].done))
                return;
        if (!fp_stop_sleep_ms(L->o->stop, left < 20 ? left : 20))
            return;
    }
}

/* ---- creating intervals ---- */

/* Task names and tries of d as PostgreSQL array literals (ids are [A-Za-z0-9_.-]). */
static void task_arrays(const fp_wh_dag *d, bool skip_loads, fp_buf *names, fp_buf *tries)
{
    fp_buf_putc(names, '{');
    fp_buf_putc(tries, '{');
    const char *sep = "";
    for (size_t i = 0; i < d->ntasks; i++) {
        if (skip_loads && d->tasks[i].kind == FP_WH_TASK_LOAD)
            continue;
        fp_buf_printf(names, "%s%s", sep, d->tasks[i].id);
        fp_buf_printf(tries, "%s%d", sep, d->tasks[i].retries + 1);
        sep = ",";
    }
    fp_buf_putc(names, '}');
    fp_buf_putc(tries, '}');
}

/* The DAG's intervals (on its start_date grid, in its time zone) that end by `until` (and by
 * end_date): all of them with catchup, else only the newest; existing rows are kept. */
static fp_code create_due(loop *L, const fp_wh_dag *d, fp_err *err)
{
    char until[32];
    iso(now_ms(L), until, sizeof until);
    fp_buf names = {0}, tries = {0};
    task_arrays(d, false, &names, &tries);
    const char *p[] = {d->start, until,   d->end, d->timezone, d->step, d->catchup ? "t" : "f",
                       d->id,    names.p, tries.p};
    fp_code rc =
        q(L,
          "WITH last AS (SELECT max(interval_start) AS m FROM ops.runs WHERE dag = $7),"
          " s AS (SELECT g FROM last, generate_series(GREATEST($1::timestamp,"
          "  COALESCE(last.m AT TIME ZONE $4, $1::timestamp)),"
          "  (LEAST($2::timestamptz, COALESCE($3::timestamp AT TIME ZONE $4, 'infinity'))"
          "   AT TIME ZONE $4) - $5::interval, $5::interval) g),"
          " pick AS (SELECT g FROM s WHERE $6::boolean OR g = (SELECT max(g) FROM s))"
          " INSERT INTO ops.runs (dag, task, interval_start, interval_end, ds, state, reason,"
          "  max_tries)"
          " SELECT $7, t.task, g AT TIME ZONE $4, (g + $5::interval) AT TIME ZONE $4, g::date,"
          "  'scheduled', 'schedule', t.tries"
          " FROM pick, unnest($8::text[], $9::int[]) AS t(task, tries)"
          " ON CONFLICT DO NOTHING",
          9, p, NULL, err);
    fp_buf_free(&names);
    fp_buf_free(&tries);
    return rc;
}

/* Backfill: every interval of the grid that starts in [from, to), re-queued per reprocess. The
 * grid is the DAG's start_date stepped back as far as from needs (a backfill may start before
 * start_date). */
static fp_code create_backfill(loop *L, const fp_wh_dag *d, fp_wh_reprocess re, fp_err *err)
{
    char from[32], to[32];
    iso(L->from_ms, from, sizeof from);
    iso(L->to_ms, to, sizeof to);
    fp_buf names = {0}, tries = {0};
    task_arrays(d, false, &names, &tries);
    const char *cond = re == FP_WH_REPROCESS_ALL      ? "ops.runs.state <> 'running'"
                       : re == FP_WH_REPROCESS_FAILED ? "ops.runs.state IN ('failed', "
                                                        "'upstream_failed', 'scheduled', "
                                                        "'up_for_retry')"
                                                      : "ops.runs.state IN ('scheduled', "
                                                        "'up_for_retry')";
    fp_buf sql = {0};
    fp_buf_printf(
        &sql,
        "INSERT INTO ops.runs (dag, task, interval_start, interval_end, ds, state, reason,"
        "  max_tries)"
        " SELECT $1, t.task, g AT TIME ZONE $2, (g + $3::interval) AT TIME ZONE $2, g::date,"
        "  'scheduled', 'backfill', t.tries"
        " FROM generate_series($4::timestamp - GREATEST(0, ceil(extract(epoch FROM $4::timestamp"
        "  - ($5::timestamptz AT TIME ZONE $2)) / extract(epoch FROM $3::interval))) * "
        "$3::interval,"
        "  ($6::timestamptz AT TIME ZONE $2), $3::interval) g,"
        "  unnest($7::text[], $8::int[]) AS t(task, tries)"
        " WHERE g AT TIME ZONE $2 >= $5::timestamptz AND g AT TIME ZONE $2 < $6::timestamptz"
        " ON CONFLICT (dag, task, interval_start) DO UPDATE SET state = 'scheduled', try = 0,"
        "  reason = 'backfill', error = NULL, next_try_at = NULL, max_tries = EXCLUDED.max_tries"
        " WHERE %s",
        cond);
    const char *p[] = {d->id, d->timezone, d->step, d->start, from, to, names.p, tries.p};
    fp_code rc = q(L, sql.p, 8, p, NULL, err);
    fp_buf_free(&sql);
    fp_buf_free(&names);
    fp_buf_free(&tries);
    return rc;
}

/* ---- readiness ---- */

static bool in_scope(const loop *L, const fp_wh_dag *d)
{
    return !L->only || L->only == d;
}

/* Whether DAG w succeeded over all of [s, e) (its intervals tile it, every task success). */
/* Whether DAG w's runs that overlap [s, e) all succeeded and together cover it; s is first
 * moved up to w's first interval (there is nothing to wait for before it). */
static bool dag_covered(loop *L, const fp_wh_dag *w, const char *s, const char *e)
{
    const char *p[] = {w->id, s, e};
    PGresult *res = NULL;
    bool ok = false;
    if (!q(L,
           "WITH b AS (SELECT GREATEST($2::timestamptz, (SELECT min(interval_start) FROM ops.runs"
           "  WHERE dag = $1)) AS s, $3::timestamptz AS e),"
           " iv AS (SELECT interval_start, interval_end, bool_and(state = 'success') ok"
           " FROM ops.runs, b WHERE dag = $1 AND interval_end > b.s AND interval_start < b.e"
           " GROUP BY 1, 2)"
           " SELECT COALESCE(bool_and(ok), false) AND COALESCE(sum(extract(epoch FROM"
           " LEAST(interval_end, b.e) - GREATEST(interval_start, b.s))), 0)"
           " = extract(epoch FROM b.e - b.s) FROM iv, b GROUP BY b.s, b.e",
           3, p, &res, NULL) &&
        PQntuples(res))
        ok = !strcmp(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    return ok;
}

/* The lake watermark, read once per tick; INT64_MIN when unknown. */
static int64_t lake_watermark(loop *L, bool *have, int64_t *cache)
{
    if (*have)
        return *cache;
    *have = true;
    *cache = INT64_MIN;
    fp_err e = {0};
    if (L->lake_url && fp_lake_watermark_read(L->lake_url, &L->o->store, NULL, cache, &e))
        fp_log(FP_LOG_WARN, WHO, -1, "reading the lake watermark: %s", e.msg);
    return *cache;
}

typedef struct cand {
    const fp_wh_dag *dag;
    size_t task;
    int64_t start_ms, end_ms;
    char start[32], end[32], ds[11];
    int try_number, max_tries;
    char reason[32];
} cand;

typedef struct active {
    const fp_wh_dag *dag;
    char start[32];
} active;

/* Intervals of d with a task that started and a task not finished: Airflow's running DAG runs. */
static size_t load_active(loop *L, active **act, size_t n)
{
    PGresult *res = NULL;
    if (q(L,
          "SELECT dag, to_char(interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
          " FROM ops.runs GROUP BY dag, interval_start"
          " HAVING bool_or(state = 'running' OR state = 'success' OR try > 0)"
          " AND bool_or(state IN ('scheduled', 'running', 'up_for_retry'))",
          0, NULL, &res, NULL)) {
        PQclear(res);
        return n;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const fp_wh_dag *d = fp_wh_dag_find(L->p, PQgetvalue(res, r, 0));
        if (!d)
            continue;
        *act = fp_xrealloc(*act, (n + 1) * sizeof **act);
        (*act)[n].dag = d;
        snprintf((*act)[n].start, sizeof(*act)[n].start, "%s", PQgetvalue(res, r, 1));
        n++;
    }
    PQclear(res);
    return n;
}

static bool is_active(const active *a, size_t n, const fp_wh_dag *d, const char *start,
                      size_t *count)
{
    bool found = false;
    *count = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i].dag == d) {
            (*count)++;
            found = found || !strcmp(a[i].start, start);
        }
    return found;
}

/* Upstream states of c in its interval: 1 all succeeded, 0 not yet, -1 one failed for good. */
static int upstream_state(loop *L, const cand *c)
{
    const fp_wh_task *t = &c->dag->tasks[c->task];
    if (!t->nupstream)
        return 1;
    const char *p[] = {c->dag->id, c->start};
    PGresult *res = NULL;
    if (q(L, "SELECT task, state FROM ops.runs WHERE dag = $1 AND interval_start = $2", 2, p, &res,
          NULL)) {
        PQclear(res);
        return 0;
    }
    int st = 1;
    for (size_t u = 0; u < t->nupstream; u++) {
        const char *name = c->dag->tasks[t->upstream[u]].id, *state = NULL;
        for (int r = 0; r < PQntuples(res); r++)
            if (!strcmp(PQgetvalue(res, r, 0), name))
                state = PQgetvalue(res, r, 1);
        if (state && (!strcmp(state, "failed") || !strcmp(state, "upstream_failed"))) {
            st = -1;
            break;
        }
        if (!state || strcmp(state, "success"))
            st = 0;
    }
    PQclear(res);
    return st;
}

/* Claims c (running, try + 1, owner) and starts it on slot j; false when another process took
 * it first. */
static bool start_job(loop *L, const cand *c, job *j)
{
    const char *p[] = {c->dag->id, c->dag->tasks[c->task].id, c->start, L->owner};
    PGresult *res = NULL;
    fp_err e = {0};
    if (q(L,
          "UPDATE ops.runs SET state = 'running', try = try + 1, started_at = now(),"
          " ended_at = NULL, owner = $4, next_try_at = NULL WHERE dag = $1 AND task = $2"
          " AND interval_start = $3 AND state IN ('scheduled', 'up_for_retry')"
          " RETURNING try, max_tries, reason",
          4, p, &res, &e) ||
        PQntuples(res) != 1) {
        PQclear(res);
        return false;
    }
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    *j = (job){.L = L,
               .dag = c->dag,
               .task = &((fp_wh_dag *)c->dag)->tasks[c->task],
               .start_ms = c->start_ms,
               .end_ms = c->end_ms,
               .try_number = atoi(PQgetvalue(res, 0, 0)),
               .max_tries = atoi(PQgetvalue(res, 0, 1)),
               .started_mono = fp_time_mono_ms(),
               .mu = mu,
               .busy = true};
    snprintf(j->ds, sizeof j->ds, "%s", c->ds);
    snprintf(j->reason, sizeof j->reason, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    L->tasks_run++;
    fp_log(FP_LOG_INFO, WHO, -1, "%s/%s %s..%s: start (try %d of %d, %s)", c->dag->id, j->task->id,
           c->start, c->end, j->try_number, j->max_tries, j->reason);
    if (pthread_create(&j->th, NULL, job_main, j)) {
        j->rc = FP_ERR_INTERNAL;
        snprintf(j->err, sizeof j->err, "cannot start a worker thread");
        atomic_store(&j->done, true);
    } else {
        j->joinable = true;
    }
    return true;
}

/* Starts what is ready, up to the free slots. *waiting gets the rows in scope that are queued
 * but could not start (for the idle test); returns the number started. */
static int dispatch(loop *L, int64_t *waiting, char *why, size_t whycap)
{
    *waiting = 0;
    int free_slots = L->nslots - busy_slots(L);
    char from[32] = "-infinity", to[32] = "infinity";
    if (L->backfill) {
        iso(L->from_ms, from, sizeof from);
        iso(L->to_ms, to, sizeof to);
    }
    const char *p[] = {L->only ? L->only->id : NULL, from, to};
    PGresult *res = NULL;
    fp_err e = {0};
    if (q(L,
          "SELECT dag, task, (extract(epoch FROM interval_start) * 1000)::bigint,"
          " (extract(epoch FROM interval_end) * 1000)::bigint, to_char(ds, 'YYYY-MM-DD'),"
          " next_try_at IS NOT NULL AND next_try_at > now()"
          " FROM ops.runs WHERE state IN ('scheduled', 'up_for_retry')"
          " AND ($1::text IS NULL OR dag = $1) AND interval_start >= $2::timestamptz"
          " AND interval_start < $3::timestamptz ORDER BY interval_start, dag LIMIT 1000",
          3, p, &res, &e)) {
        fp_log(FP_LOG_WARN, WHO, -1, "looking for work: %s", e.msg);
        PQclear(res);
        return 0;
    }
    active *act = NULL;
    size_t nact = load_active(L, &act, 0);
    bool have_w = false;
    int64_t wm = INT64_MIN;
    int started = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        cand c = {0};
        c.dag = fp_wh_dag_find(L->p, PQgetvalue(res, r, 0));
        long t = c.dag ? fp_wh_task_index(c.dag, PQgetvalue(res, r, 1)) : -1;
        if (t < 0 || !in_scope(L, c.dag))
            continue; /* a DAG or task no longer in the pipeline */
        (*waiting)++;
        if (!strcmp(PQgetvalue(res, r, 5), "t"))
            continue; /* waiting for its retry delay */
        c.task = (size_t)t;
        c.start_ms = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        c.end_ms = strtoll(PQgetvalue(res, r, 3), NULL, 10);
        iso(c.start_ms, c.start, sizeof c.start);
        iso(c.end_ms, c.end, sizeof c.end);
        snprintf(c.ds, sizeof c.ds, "%s", PQgetvalue(res, r, 4));
        const fp_wh_task *task = &c.dag->tasks[c.task];
        int up = upstream_state(L, &c);
        if (up < 0) {
            const char *pp[] = {c.dag->id, task->id, c.start};
            q(L,
              "UPDATE ops.runs SET state = 'upstream_failed', ended_at = now() WHERE dag = $1"
              " AND task = $2 AND interval_start = $3",
              3, pp, NULL, NULL);
            (*waiting)--;
            continue;
        }
        if (up == 0) {
            if (!*why) /* the least telling reason: the upstream task's own is more useful */
                snprintf(why, whycap, "%s/%s %s: upstream not done", c.dag->id, task->id, c.start);
            continue;
        }
        bool ready = true;
        char reach0[32], reach1[32];
        iso(c.start_ms - c.dag->reads_before_ms, reach0, sizeof reach0);
        iso(c.end_ms + c.dag->reads_after_ms, reach1, sizeof reach1);
        for (size_t w = 0; w < c.dag->nwait_for && ready; w++) {
            const fp_wh_dag *wd = &L->p->dags[c.dag->wait_for[w]];
            ready = dag_covered(L, wd, reach0, reach1);
            if (!ready && !*why) /* as "upstream not done": a root cause says more */
                snprintf(why, whycap, "%s/%s %s: waiting for DAG %s over %s..%s", c.dag->id,
                         task->id, c.start, wd->id, reach0, reach1);
        }
        if (ready && task->kind == FP_WH_TASK_LOAD && c.dag->wait_watermark && !L->backfill) {
            int64_t w = lake_watermark(L, &have_w, &wm);
            ready = w != INT64_MIN && w >= c.end_ms;
            if (!ready) {
                char ws[32] = "unknown";
                if (w != INT64_MIN)
                    iso(w, ws, sizeof ws);
                snprintf(why, whycap, "%s/%s %s: lake watermark %s has not passed %s", c.dag->id,
                         task->id, c.start, ws, c.end);
            }
        }
        if (!ready)
            continue;
        size_t nrun;
        int cap = L->backfill && L->concurrency > 0 ? L->concurrency : c.dag->max_active_runs;
        if (!is_active(act, nact, c.dag, c.start, &nrun) && (int)nrun >= cap) {
            snprintf(why, whycap, "%s: %d active runs (max_active_runs)", c.dag->id, cap);
            continue;
        }
        if (free_slots <= 0)
            break;
        job *slot = NULL;
        for (int i = 0; i < L->nslots && !slot; i++)
            if (!L->slots[i].busy)
                slot = &L->slots[i];
        if (slot && start_job(L, &c, slot)) {
            started++;
            free_slots--;
            (*waiting)--;
            if (!is_active(act, nact, c.dag, c.start, &nrun)) {
                act = fp_xrealloc(act, (nact + 1) * sizeof *act);
                act[nact].dag = c.dag;
                snprintf(act[nact].start, sizeof act[nact].start, "%s", c.start);
                nact++;
            }
        }
    }
    free(act);
    PQclear(res);
    return started;
}

/* ---- late data, deadlines, recovery ---- */

/* Loads again what changed in the lake since its load (late files in hours already loaded),
 * then queues every succeeded mart whose interval holds a partition loaded after it ran. */
static void late_data(loop *L)
{
    fp_err e = {0};
    int64_t have_loads = 0;
    fp_pg_query_int(L->pg, "SELECT (to_regclass('ops.loads') IS NOT NULL)::int", 0, NULL,
                    &have_loads, NULL);
    if (!have_loads)
        return; /* no warehouse init yet: nothing was loaded */
    for (size_t i = 0; i < L->p->ndags; i++) {
        const fp_wh_dag *d = &L->p->dags[i];
        for (size_t t = 0; t < d->ntasks && L->lake_url; t++) {
            if (d->tasks[t].kind != FP_WH_TASK_LOAD)
                continue;
            PGresult *res = NULL;
            const char *p[] = {d->id, d->tasks[t].id};
            if (q(L,
                  "SELECT (extract(epoch FROM min(interval_start)) * 1000)::bigint,"
                  " (extract(epoch FROM max(interval_end)) * 1000)::bigint FROM ops.runs"
                  " WHERE dag = $1 AND task = $2 AND state = 'success'",
                  2, p, &res, NULL) ||
                !PQntuples(res) || PQgetisnull(res, 0, 0)) {
                PQclear(res);
                continue;
            }
            /* as a load task does: everything before the newest loaded interval's end, and
             * the strays */
            fp_wh_load_opts lo = {.pg = L->o->pg,
                                  .lake_url = L->lake_url,
                                  .store = L->o->store,
                                  .since_ms = INT64_MIN,
                                  .until_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10),
                                  .strays = true,
                                  .stop = L->o->stop};
            PQclear(res);
            fp_wh_load_counts c = {0};
            if (fp_wh_load(&lo, &c, &e))
                fp_log(FP_LOG_WARN, WHO, -1, "late-data refresh of %s/%s: %s", d->id,
                       d->tasks[t].id, e.msg);
            else if (c.partitions_loaded)
                fp_log(FP_LOG_INFO, WHO, -1,
                       "late data: %" PRId64 " partition(s) of already loaded hours loaded again "
                       "(%" PRId64 " rows)",
                       c.partitions_loaded, c.rows);
        }
        if (!d->rerun_on_late_data)
            continue;
        /* A load task is not queued again: late_data() just loaded its partitions, and every
         * load would look late to itself (its rows are loaded after it started). */
        fp_buf names = {0}, tries = {0};
        task_arrays(d, true, &names, &tries);
        char before[32], after[32];
        snprintf(before, sizeof before, "%" PRId64, d->reads_before_ms);
        snprintf(after, sizeof after, "%" PRId64, d->reads_after_ms);
        const char *p[] = {d->id, names.p, before, after};
        PGresult *res = NULL;
        /* a loaded partition is the hour [hour_start, hour_start + 1 h) */
        if (!q(L,
               "UPDATE ops.runs r SET state = 'scheduled', try = 0, reason = 'late_data',"
               " next_try_at = NULL, error = NULL WHERE r.dag = $1 AND r.task = ANY($2::text[])"
               " AND r.state = 'success' AND EXISTS (SELECT 1 FROM ops.loads l WHERE"
               " l.hour_start + interval '1 hour' > r.interval_start"
               "  - make_interval(secs => $3::double precision / 1000)"
               " AND l.hour_start < r.interval_end + make_interval(secs => $4::double precision"
               "  / 1000) AND l.loaded_at > r.started_at) RETURNING r.task, r.interval_start",
               4, p, &res, &e)) {
            for (int r = 0; r < PQntuples(res); r++)
                fp_log(FP_LOG_INFO, WHO, -1, "%s/%s %s: input loaded again after it ran: queued",
                       d->id, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
        } else {
            fp_log(FP_LOG_WARN, WHO, -1, "late-data check of %s: %s", d->id, e.msg);
        }
        PQclear(res);
        fp_buf_free(&names);
        fp_buf_free(&tries);
    }
}

/* Queues every succeeded task run of a DAG with wait_for again once a run of a DAG it waits for
 * succeeded after it started (that input changed: late data, a backfill with reprocess), over
 * the same reach as the wait. Runs each tick, so a chain (hourly partials, then the day) settles
 * within one scheduler pass. */
static void upstream_changed(loop *L)
{
    for (size_t i = 0; i < L->p->ndags; i++) {
        const fp_wh_dag *d = &L->p->dags[i];
        if (!d->nwait_for || !d->rerun_on_late_data)
            continue;
        fp_buf names = {0}, tries = {0}, waits = {0};
        task_arrays(d, true, &names, &tries);
        fp_buf_putc(&waits, '{');
        for (size_t w = 0; w < d->nwait_for; w++)
            fp_buf_printf(&waits, "%s%s", w ? "," : "", L->p->dags[d->wait_for[w]].id);
        fp_buf_putc(&waits, '}');
        char before[32], after[32];
        snprintf(before, sizeof before, "%" PRId64, d->reads_before_ms);
        snprintf(after, sizeof after, "%" PRId64, d->reads_after_ms);
        const char *p[] = {d->id, names.p, waits.p, before, after};
        PGresult *res = NULL;
        fp_err e = {0};
        if (!q(L,
               "UPDATE ops.runs r SET state = 'scheduled', try = 0, reason = 'upstream_changed',"
               " next_try_at = NULL, error = NULL WHERE r.dag = $1 AND r.task = ANY($2::text[])"
               " AND r.state = 'success' AND EXISTS (SELECT 1 FROM ops.runs u WHERE"
               " u.dag = ANY($3::text[]) AND u.state = 'success' AND u.ended_at > r.started_at"
               " AND u.interval_end > r.interval_start - make_interval(secs => $4::double"
               "  precision / 1000) AND u.interval_start < r.interval_end + make_interval(secs =>"
               "  $5::double precision / 1000)) RETURNING r.task, r.interval_start",
               5, p, &res, &e)) {
            for (int r = 0; r < PQntuples(res); r++)
                fp_log(FP_LOG_INFO, WHO, -1, "%s/%s %s: its input DAG ran again after it: queued",
                       d->id, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
        } else {
            fp_log(FP_LOG_WARN, WHO, -1, "upstream check of %s: %s", d->id, e.msg);
        }
        PQclear(res);
        fp_buf_free(&names);
        fp_buf_free(&tries);
        fp_buf_free(&waits);
    }
}

/* A task's deadline as an alert key: fails when an interval misses it, passes again when the
 * task next succeeds. */
static void deadline_alert(loop *L, const char *dag, const char *task, const char *status,
                           const char *interval, const char *state)
{
    if (!L->alerts)
        return;
    fp_buf key = {0}, title = {0}, text = {0};
    fp_buf_printf(&key, "deadline %s/%s", dag, task);
    fp_buf_printf(&title, "%s: deadline of %s/%s", status, dag, task);
    if (!strcmp(status, "pass"))
        fp_buf_printf(&text, "%s/%s is on time again", dag, task);
    else
        fp_buf_printf(&text, "interval %s is %s after its deadline", interval, state);
    fp_err e = {0};
    if (fp_alert_report(L->alerts, L->pg, key.p, status, title.p, text.p, &e))
        fp_log(FP_LOG_WARN, WHO, -1, "deadline alert: %s", e.msg);
    fp_buf_free(&key);
    fp_buf_free(&title);
    fp_buf_free(&text);
}

static void deadlines(loop *L)
{
    char now[32];
    iso(now_ms(L), now, sizeof now);
    for (size_t i = 0; i < L->p->ndags; i++) {
        fp_wh_dag *d = &((fp_wh_pipeline *)L->p)->dags[i];
        if (!d->deadline_ms)
            continue;
        char ms[32];
        snprintf(ms, sizeof ms, "%" PRId64, d->deadline_ms);
        const char *p[] = {d->id, ms, now};
        PGresult *res = NULL;
        if (q(L,
              "UPDATE ops.runs SET deadline_missed_at = now() WHERE dag = $1 AND"
              " deadline_missed_at IS NULL AND state <> 'success' AND interval_end +"
              " make_interval(secs => $2::double precision / 1000) < $3::timestamptz"
              " RETURNING task, interval_start, state",
              3, p, &res, NULL)) {
            PQclear(res);
            continue;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            atomic_fetch_add(&d->deadline_missed_total, 1);
            fp_log(FP_LOG_WARN, WHO, -1,
                   "deadline missed: %s/%s %s is %s %" PRId64 " s after its interval ended", d->id,
                   PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                   d->deadline_ms / 1000);
            deadline_alert(L, d->id, PQgetvalue(res, r, 0), "fail", PQgetvalue(res, r, 1),
                           PQgetvalue(res, r, 2));
        }
        PQclear(res);
    }
}

/* Rows left running by a process that is gone: the scheduler's predecessor (we hold the lock,
 * so every scheduler-owned running row is orphaned) or a dead backfill of this host. Their
 * open statements are terminated first, so nothing of theirs can still commit. The try that
 * was cut short does not count against the retries. */
static void recover(loop *L)
{
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    PGresult *res = NULL;
    if (q(L, "SELECT DISTINCT owner FROM ops.runs WHERE state = 'running'", 0, NULL, &res, NULL)) {
        PQclear(res);
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *owner = PQgetvalue(res, r, 0);
        bool dead = false;
        if (!L->backfill && !strncmp(owner, "scheduler:", 10)) {
            dead = strcmp(owner, L->owner) != 0;
        } else {
            char h[64];
            int pid;
            const char *colon = strchr(owner, ':');
            if (colon && sscanf(colon + 1, "%63[^:]:%d", h, &pid) == 2 && !strcmp(h, host))
                dead = kill(pid, 0) != 0;
        }
        if (!dead)
            continue;
        const char *p[] = {owner, L->backfill ? TASK_APP_BACKFILL : TASK_APP_SCHED};
        if (!L->backfill)
            q(L,
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name ="
              " $2 AND pid <> pg_backend_pid() AND $1 IS NOT NULL",
              2, p, NULL, NULL);
        PGresult *upd = NULL;
        if (!q(L,
               "UPDATE ops.runs SET state = 'up_for_retry', next_try_at = NULL,"
               " max_tries = max_tries + 1, ended_at = now(),"
               " error = 'interrupted: ' || owner || ' stopped while it ran'"
               " WHERE state = 'running' AND owner = $1 RETURNING dag, task, interval_start, try",
               1, p, &upd, NULL)) {
            for (int u = 0; u < PQntuples(upd); u++) {
                const char *hp[] = {PQgetvalue(upd, u, 0), PQgetvalue(upd, u, 1),
                                    PQgetvalue(upd, u, 2), PQgetvalue(upd, u, 3), owner};
                q(L,
                  "INSERT INTO ops.task_tries (dag, task, interval_start, try, state, error,"
                  " owner) VALUES ($1, $2, $3, $4, 'interrupted', 'the process died', $5)",
                  5, hp, NULL, NULL);
                L->interrupted++;
                fp_log(FP_LOG_WARN, WHO, -1,
                       "%s/%s %s: was running under %s, which is gone: "
                       "queued again",
                       hp[0], hp[1], hp[2], owner);
            }
        }
        PQclear(upd);
    }
    PQclear(res);
}

/* ---- metrics and health ---- */

static void refresh_counts(loop *L)
{
    PGresult *res = NULL;
    bool ok = !q(L,
                 "SELECT dag, task, state, count(*), COALESCE((extract(epoch FROM"
                 " max(interval_end)) * 1000)::bigint, 0) FROM ops.runs GROUP BY 1, 2, 3",
                 0, NULL, &res, NULL);
    json_t *counts = json_object();
    fp_buf failed = {0};
    int nfailed = 0;
    for (int r = 0; ok && r < PQntuples(res); r++) {
        const char *dag = PQgetvalue(res, r, 0), *state = PQgetvalue(res, r, 2);
        long long n = atoll(PQgetvalue(res, r, 3));
        json_t *jd = json_object_get(counts, dag);
        if (!jd)
            json_object_set_new(counts, dag, jd = json_object());
        json_t *prev = json_object_get(jd, state);
        json_object_set_new(jd, state, json_integer((prev ? json_integer_value(prev) : 0) + n));
        const fp_wh_dag *d = fp_wh_dag_find(L->p, dag);
        long t = d ? fp_wh_task_index(d, PQgetvalue(res, r, 1)) : -1;
        if (t >= 0 && !strcmp(state, "success"))
            atomic_store(&((fp_wh_dag *)d)->tasks[t].freshness_end_ms,
                         strtoll(PQgetvalue(res, r, 4), NULL, 10));
        if (!strcmp(state, "failed")) {
            if (nfailed++ < 3)
                fp_buf_printf(&failed, "%s%s/%s (%lld)", nfailed > 1 ? ", " : "", dag,
                              PQgetvalue(res, r, 1), n);
        }
    }
    PQclear(res);
    /* the newest result of each data-quality check, for /metrics */
    json_t *dq = json_array();
    res = NULL;
    int64_t have_dq = 0;
    if (ok)
        fp_pg_query_int(L->pg, "SELECT (to_regclass('ops.dq_results') IS NOT NULL)::int", 0, NULL,
                        &have_dq, NULL);
    if (have_dq && !q(L,
                      "SELECT check_name, target, status, COALESCE(observed, 0) FROM (SELECT"
                      " DISTINCT ON (check_name) * FROM ops.dq_results ORDER BY check_name,"
                      " interval_start DESC) x",
                      0, NULL, &res, NULL))
        for (int r = 0; r < PQntuples(res); r++)
            json_array_append_new(
                dq, json_pack("{s:s, s:s, s:s, s:I}", "check", PQgetvalue(res, r, 0), "target",
                              PQgetvalue(res, r, 1), "status", PQgetvalue(res, r, 2), "observed",
                              (json_int_t)atoll(PQgetvalue(res, r, 3))));
    PQclear(res);
    pthread_mutex_lock(&L->mu);
    json_decref(L->dq);
    L->dq = dq;
    json_decref(L->counts);
    L->counts = counts;
    L->pg_down = !ok;
    if (!ok)
        snprintf(L->health, sizeof L->health, "PostgreSQL %s unreachable", fp_pg_name(L->pg));
    else if (nfailed)
        snprintf(L->health, sizeof L->health, "failed tasks: %s", failed.p);
    else
        L->health[0] = 0;
    pthread_mutex_unlock(&L->mu);
    fp_buf_free(&failed);
}

static void metrics_write(void *ctx, fp_metrics_out *m)
{
    loop *L = ctx;
    fp_metrics_family(m, "fleetpipe_warehouse_runs", FP_METRIC_GAUGE,
                      "task runs (dag, task, interval) in ops.runs by state");
    pthread_mutex_lock(&L->mu);
    const char *dag;
    json_t *jd;
    json_object_foreach(L->counts, dag, jd)
    {
        const char *state;
        json_t *n;
        json_object_foreach(jd, state, n)
        {
            const char *labels[] = {"dag", dag, "state", state, NULL};
            fp_metrics_sample(m, labels, (double)json_integer_value(n));
        }
    }
    bool down = L->pg_down;
    fp_metrics_family(m, "fleetpipe_dq_check_status", FP_METRIC_GAUGE,
                      "newest result of each data-quality check: 0 pass, 1 warn, 2 fail, 3 error");
    size_t k;
    json_t *r;
    json_array_foreach(L->dq, k, r)
    {
        const char *st = json_string_value(json_object_get(r, "status"));
        const char *labels[] = {"check", json_string_value(json_object_get(r, "check")), "target",
                                json_string_value(json_object_get(r, "target")), NULL};
        fp_metrics_sample(m, labels,
                          !strcmp(st, "pass")   ? 0
                          : !strcmp(st, "warn") ? 1
                          : !strcmp(st, "fail") ? 2
                                                : 3);
    }
    fp_metrics_family(m, "fleetpipe_dq_failing_rows", FP_METRIC_GAUGE,
                      "failing rows of each data-quality check's newest result");
    json_array_foreach(L->dq, k, r)
    {
        const char *labels[] = {"check", json_string_value(json_object_get(r, "check")), "target",
                                json_string_value(json_object_get(r, "target")), NULL};
        fp_metrics_sample(m, labels, (double)json_integer_value(json_object_get(r, "observed")));
    }
    pthread_mutex_unlock(&L->mu);
    fp_alert_metrics(L->alerts, m->buf);
    fp_metrics_family(m, "fleetpipe_warehouse_postgres_up", FP_METRIC_GAUGE,
                      "1 while the scheduler reaches PostgreSQL");
    fp_metrics_sample(m, NULL, down ? 0 : 1);
    fp_metrics_family(m, "fleetpipe_warehouse_task_duration_seconds", FP_METRIC_HISTOGRAM,
                      "seconds per task try");
    for (size_t i = 0; i < L->p->ndags; i++)
        for (size_t t = 0; t < L->p->dags[i].ntasks; t++) {
            const char *labels[] = {"dag", L->p->dags[i].id, "task", L->p->dags[i].tasks[t].id,
                                    NULL};
            fp_metrics_sample_hist(m, labels, &L->p->dags[i].tasks[t].duration);
        }
    fp_metrics_family(m, "fleetpipe_warehouse_rows_total", FP_METRIC_COUNTER,
                      "rows loaded (load tasks) or inserted (marts) by succeeded tries");
    for (size_t i = 0; i < L->p->ndags; i++)
        for (size_t t = 0; t < L->p->dags[i].ntasks; t++) {
            const char *labels[] = {"dag", L->p->dags[i].id, "task", L->p->dags[i].tasks[t].id,
                                    NULL};
            fp_metrics_sample_u64(m, labels,
                                  (uint64_t)atomic_load(&L->p->dags[i].tasks[t].rows_total));
        }
    fp_metrics_family(m, "fleetpipe_warehouse_freshness_seconds", FP_METRIC_GAUGE,
                      "seconds since the end of the newest interval the task succeeded for");
    int64_t now = now_ms(L);
    for (size_t i = 0; i < L->p->ndags; i++)
        for (size_t t = 0; t < L->p->dags[i].ntasks; t++) {
            int64_t end = atomic_load(&L->p->dags[i].tasks[t].freshness_end_ms);
            if (!end)
                continue;
            const char *labels[] = {"dag", L->p->dags[i].id, "task", L->p->dags[i].tasks[t].id,
                                    NULL};
            fp_metrics_sample(m, labels, (double)(now - end) / 1000.0);
        }
    fp_metrics_family(m, "fleetpipe_warehouse_deadline_missed_total", FP_METRIC_COUNTER,
                      "intervals not done by interval end + the DAG's deadline");
    for (size_t i = 0; i < L->p->ndags; i++) {
        const char *labels[] = {"dag", L->p->dags[i].id, NULL};
        fp_metrics_sample_u64(m, labels,
                              (uint64_t)atomic_load(&L->p->dags[i].deadline_missed_total));
    }
}

static bool health(void *ctx, fp_buf *reason)
{
    loop *L = ctx;
    pthread_mutex_lock(&L->mu);
    bool ok = !L->health[0];
    if (!ok)
        fp_buf_puts(reason, L->health);
    pthread_mutex_unlock(&L->mu);
    return ok;
}

/* ---- the loop ---- */

static fp_code loop_open(loop *L, const fp_wh_sched_opts *o, bool backfill, fp_err *err)
{
    *L = (loop){.o = o, .p = o->pipeline, .backfill = backfill};
    pthread_mutex_init(&L->mu, NULL);
    L->lake_url = o->lake_url && *o->lake_url ? o->lake_url : o->pipeline->lake_url;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(L->owner, sizeof L->owner, "%s:%s:%d", backfill ? "backfill" : "scheduler", host,
             (int)getpid());
    L->task_app = backfill ? TASK_APP_BACKFILL : TASK_APP_SCHED;
    L->nslots = o->parallelism > 0 ? o->parallelism : 2;
    L->slots = fp_xcalloc((size_t)L->nslots, sizeof *L->slots);
    L->counts = json_object();
    fp_code rc = fp_pg_connect(
        o->pg, backfill ? "fleetpipe warehouse backfill" : "fleetpipe warehouse scheduler", &L->pg,
        err);
    if (!rc)
        rc = fp_wh_sched_init_schema(L->pg, err);
    for (size_t i = 0; i < L->p->ndags && !rc && !L->alerts; i++)
        for (size_t t = 0; t < L->p->dags[i].ntasks && !rc && !L->alerts; t++) {
            const fp_check_set *cs = L->p->dags[i].tasks[t].checks;
            if (cs && fp_check_set_alerts(cs))
                rc = fp_alert_open(fp_check_set_alerts(cs), fp_check_set_dir(cs), &L->alerts, err);
        }
    return rc;
}

static void loop_close(loop *L)
{
    for (int i = 0; i < L->nslots; i++)
        if (L->slots[i].busy) {
            job_cancel(&L->slots[i]);
            if (L->slots[i].joinable)
                pthread_join(L->slots[i].th, NULL);
            /* cut short by the stop: queued again, not counted as a try */
            char s[32];
            iso(L->slots[i].start_ms, s, sizeof s);
            const char *p[] = {L->slots[i].dag->id, L->slots[i].task->id, s, L->owner};
            if (L->pg)
                q(L,
                  "UPDATE ops.runs SET state = 'up_for_retry', next_try_at = NULL,"
                  " max_tries = max_tries + 1, error = 'interrupted: the scheduler stopped'"
                  " WHERE dag = $1 AND task = $2 AND interval_start = $3 AND owner = $4"
                  " AND state = 'running'",
                  4, p, NULL, NULL);
            L->interrupted++;
        }
    free(L->slots);
    fp_pg_free(L->pg);
    json_decref(L->counts);
    pthread_mutex_destroy(&L->mu);
    fp_alert_flush(L->alerts, 10000);
    fp_alert_free(L->alerts);
    json_decref(L->dq);
}

/* Runs the loop until stop, or (once/backfill) until nothing in scope can run. */
static fp_code loop_run(loop *L, char *blocked, size_t cap, fp_err *err)
{
    fp_backoff bo;
    fp_backoff_init(&bo, 500, 30000);
    int64_t tick = L->o->tick_ms > 0 ? L->o->tick_ms : 1000;
    int64_t refresh = L->o->refresh_ms > 0 ? L->o->refresh_ms : 60000;
    blocked[0] = 0;
    while (!fp_stop_requested(L->o->stop)) {
        if (fp_pg_broken(L->pg)) {
            fp_err e = {0};
            refresh_counts(L); /* marks PostgreSQL down for /healthz */
            if (fp_pg_reset(L->pg, &e)) {
                fp_log(FP_LOG_WARN, WHO, -1, "%s", e.msg);
                if (!fp_backoff_sleep(&bo, L->o->stop))
                    break;
                continue;
            }
            fp_backoff_reset(&bo);
            fp_log(FP_LOG_INFO, WHO, -1, "reconnected to PostgreSQL %s", fp_pg_name(L->pg));
        }
        fp_err e = {0};
        int finished = reap(L);
        if (!L->backfill) {
            for (size_t i = 0; i < L->p->ndags; i++)
                if (create_due(L, &L->p->dags[i], &e))
                    fp_log(FP_LOG_WARN, WHO, -1, "creating the runs of %s: %s", L->p->dags[i].id,
                           e.msg);
            if (fp_time_mono_ms() >= L->next_refresh_mono) {
                late_data(L);
                L->next_refresh_mono = fp_time_mono_ms() + refresh;
            }
            upstream_changed(L);
            deadlines(L);
            if (L->alerts && fp_alert_sync(L->alerts, L->pg, &e))
                fp_log(FP_LOG_WARN, WHO, -1, "alert state: %s", e.msg);
        }
        int64_t waiting = 0;
        char why[512] = "";
        int started = dispatch(L, &waiting, why, sizeof why);
        refresh_counts(L);
        if ((L->o->once || L->backfill) && !started && !finished && busy_slots(L) == 0) {
            /* nothing runs; rows that wait only for a retry delay keep the loop going */
            const char *p[] = {L->only ? L->only->id : NULL};
            int64_t delayed = 0;
            fp_pg_query_int(L->pg,
                            "SELECT count(*) FROM ops.runs WHERE state = 'up_for_retry' AND"
                            " next_try_at > now() AND ($1::text IS NULL OR dag = $1)",
                            1, p, &delayed, NULL);
            if (!delayed) {
                if (waiting)
                    snprintf(blocked, cap, "%" PRId64 " task run(s) cannot start: %s", waiting,
                             why);
                return FP_OK;
            }
        }
        if (!started && !finished)
            idle_wait(L, tick);
        else
            fp_stop_sleep_ms(L->o->stop, 20);
    }
    (void)err;
    return FP_OK;
}

fp_code fp_wh_sched_run(const fp_wh_sched_opts *o, fp_err *err)
{
    loop L;
    fp_code rc = loop_open(&L, o, false, err);
    fp_metrics_server *ms = NULL;
    int64_t locked = 0;
    if (!rc)
        rc = fp_pg_query_int(L.pg, "SELECT pg_try_advisory_lock(hashtext('" LOCK_KEY "'))::int", 0,
                             NULL, &locked, err);
    if (!rc && !locked)
        rc = fp_err_set(err, FP_ERR_EXISTS,
                        "another warehouse scheduler is running against %s (it holds the "
                        "scheduler lock)",
                        fp_pg_name(L.pg));
    if (!rc)
        rc = fp_metrics_serve(o->metrics_listen, metrics_write, health, &L, &ms, err);
    if (!rc) {
        recover(&L);
        fp_log(FP_LOG_INFO, WHO, -1, "scheduler %s: %zu DAG(s), %d worker(s), PostgreSQL %s",
               L.owner, o->pipeline->ndags, L.nslots, fp_pg_name(L.pg));
        char blocked[600];
        rc = loop_run(&L, blocked, sizeof blocked, err);
        if (blocked[0])
            fp_log(FP_LOG_INFO, WHO, -1, "idle: %s", blocked);
        fp_log(FP_LOG_INFO, WHO, -1,
               "scheduler stops: %" PRId64 " tries, %" PRId64 " succeeded, %" PRId64
               " failed for good, %" PRId64 " interrupted",
               L.tasks_run, L.success, L.failed, L.interrupted);
    }
    fp_metrics_server_stop(ms);
    loop_close(&L);
    return rc;
}

fp_code fp_wh_backfill(const fp_wh_sched_opts *o, const char *dag, int64_t from_ms, int64_t to_ms,
                       fp_wh_reprocess reprocess, int concurrency, json_t **summary, fp_err *err)
{
    if (summary)
        *summary = NULL;
    const fp_wh_dag *d = fp_wh_dag_find(o->pipeline, dag);
    if (!d)
        return fp_err_set(err, FP_ERR_CONFIG, "backfill: no DAG %s in %s", dag, o->pipeline->path);
    if (to_ms <= from_ms)
        return fp_err_set(err, FP_ERR_CONFIG, "backfill: --to must be after --from");
    loop L;
    fp_code rc = loop_open(&L, o, true, err);
    L.only = d;
    L.from_ms = from_ms;
    L.to_ms = to_ms;
    L.concurrency = concurrency;
    if (!rc)
        rc = create_backfill(&L, d, reprocess, err);
    char blocked[600] = "";
    int64_t intervals = 0;
    if (!rc) {
        recover(&L);
        char f[32], t[32];
        iso(from_ms, f, sizeof f);
        iso(to_ms, t, sizeof t);
        const char *p[] = {d->id, f, t};
        fp_pg_query_int(L.pg,
                        "SELECT count(DISTINCT interval_start) FROM ops.runs WHERE dag = $1 AND"
                        " interval_start >= $2 AND interval_start < $3",
                        3, p, &intervals, NULL);
        rc = loop_run(&L, blocked, sizeof blocked, err);
    }
    if (!rc && L.failed)
        rc = fp_err_set(err, FP_ERR_INVALID, "backfill of %s: %" PRId64 " task run(s) failed", dag,
                        L.failed);
    else if (!rc && blocked[0])
        rc = fp_err_set(err, FP_ERR_INVALID, "backfill of %s blocked: %s", dag, blocked);
    if (summary)
        *summary = json_pack("{sI sI sI sI sI}", "intervals", (json_int_t)intervals, "tasks_run",
                             (json_int_t)L.tasks_run, "success", (json_int_t)L.success, "failed",
                             (json_int_t)L.failed, "interrupted", (json_int_t)L.interrupted);
    loop_close(&L);
    return rc;
}

fp_code fp_wh_local_ms(const fp_wh_sched_opts *o, const char *dag, const char *text, int64_t *ms,
                       fp_err *err)
{
    const fp_wh_dag *d = fp_wh_dag_find(o->pipeline, dag);
    if (!d)
        return fp_err_set(err, FP_ERR_CONFIG, "no DAG %s in %s", dag, o->pipeline->path);
    size_t n = strlen(text);
    bool zoned = n > 10 && (text[n - 1] == 'Z' || text[n - 6] == '+' || text[n - 6] == '-');
    if (zoned)
        return fp_time_parse_iso(text, n, ms, err) ? fp_err_prefix(err, "'%s'", text) : FP_OK;
    char *local = NULL;
    fp_code rc = fp_wh_local_parse(text, &local, "time", err);
    if (rc)
        return rc;
    fp_pg *pg = NULL;
    rc = fp_pg_connect(o->pg, "fleetpipe warehouse", &pg, err);
    const char *p[] = {local, d->timezone};
    if (!rc)
        rc = fp_pg_query_int(pg,
                             "SELECT (extract(epoch FROM $1::timestamp AT TIME ZONE $2) * 1000)"
                             "::bigint",
                             2, p, ms, err);
    fp_pg_free(pg);
    free(local);
    return rc;
}

/* ---- status ---- */

fp_code fp_wh_status(const char *pg, const char *dag, json_t **out, fp_err *err)
{
    *out = NULL;
    fp_pg *c = NULL;
    fp_code rc = fp_pg_connect(pg, "fleetpipe warehouse status", &c, err);
    if (!rc)
        rc = fp_wh_sched_init_schema(c, err);
    PGresult *res = NULL, *bad = NULL;
    const char *p[] = {dag};
    const char *fmt = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";
    fp_buf sql = {0}, sql2 = {0};
    fp_buf_printf(&sql,
                  "SELECT dag, task, state, count(*), to_char(max(interval_end) FILTER (WHERE"
                  " state = 'success') AT TIME ZONE 'UTC', %s), count(deadline_missed_at),"
                  " max(try) FROM ops.runs WHERE $1::text IS NULL OR dag = $1"
                  " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                  fmt);
    fp_buf_printf(&sql2,
                  "SELECT dag, task, to_char(interval_start AT TIME ZONE 'UTC', %s), state, try,"
                  " error FROM ops.runs WHERE ($1::text IS NULL OR dag = $1) AND state IN"
                  " ('failed', 'upstream_failed', 'up_for_retry') ORDER BY interval_start DESC"
                  " LIMIT 20",
                  fmt);
    if (!rc)
        rc = fp_pg_query(c, sql.p, 1, p, &res, err);
    if (!rc)
        rc = fp_pg_query(c, sql2.p, 1, p, &bad, err);
    fp_buf_free(&sql);
    fp_buf_free(&sql2);
    if (!rc) {
        json_t *root = json_object(), *dags = json_object(), *totals = json_object();
        int64_t missed = 0;
        for (int r = 0; r < PQntuples(res); r++) {
            const char *dg = PQgetvalue(res, r, 0), *task = PQgetvalue(res, r, 1),
                       *state = PQgetvalue(res, r, 2);
            json_int_t n = atoll(PQgetvalue(res, r, 3));
            json_t *jd = json_object_get(dags, dg);
            if (!jd)
                json_object_set_new(dags, dg, jd = json_object());
            json_t *jt = json_object_get(jd, task);
            if (!jt)
                json_object_set_new(jd, task, jt = json_object());
            json_object_set_new(jt, state, json_integer(n));
            if (!PQgetisnull(res, r, 4))
                json_object_set_new(jt, "last_success_end", json_string(PQgetvalue(res, r, 4)));
            missed += atoll(PQgetvalue(res, r, 5));
            json_t *tot = json_object_get(totals, state);
            json_object_set_new(totals, state,
                                json_integer((tot ? json_integer_value(tot) : 0) + n));
        }
        json_t *problems = json_array();
        for (int r = 0; r < PQntuples(bad); r++)
            json_array_append_new(problems,
                                  json_pack("{ss ss ss ss si s?s}", "dag", PQgetvalue(bad, r, 0),
                                            "task", PQgetvalue(bad, r, 1), "interval_start",
                                            PQgetvalue(bad, r, 2), "state", PQgetvalue(bad, r, 3),
                                            "try", atoi(PQgetvalue(bad, r, 4)), "error",
                                            PQgetisnull(bad, r, 5) ? NULL : PQgetvalue(bad, r, 5)));
        json_object_set_new(root, "dags", dags);
        json_object_set_new(root, "totals", totals);
        json_object_set_new(root, "problems", problems);
        json_object_set_new(root, "deadline_missed", json_integer(missed));
        *out = root;
    }
    PQclear(res);
    PQclear(bad);
    fp_pg_free(c);
    return rc;
}
