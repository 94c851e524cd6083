/* pg.c — libpq behind fp_err (see pg.h). The connection string stays inside the PGconn and
 * the saved copy for fp_pg_reset; messages carry only host:port/dbname.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "pg/pg.h"

struct fp_pg {
    PGconn *conn;
    char *conninfo; /* owned; never printed */
    char *app;
    char name[256];
    bool broken;
    int connect_timeout_s;
    int64_t statement_timeout_ms;
    /* named statements, prepared on a connection at their first use there */
    struct pg_stmt {
        char *name, *sql;
        int n;
        bool ready; /* prepared on the current connection */
    } * stmts;
    size_t nstmts;
};

/* libpq's messages end with a newline and may span lines; keep the first line. */
fp_code fp_pg_exec(fp_pg *pg, const char *sql, fp_err *err);

static void first_line(const char *msg, char *out, size_t cap)
{
    size_t n = strcspn(msg ? msg : "", "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, msg ? msg : "", n);
    out[n] = 0;
}

static fp_code conn_error(fp_pg *pg, const char *what, fp_err *err)
{
    char line[512];
    first_line(PQerrorMessage(pg->conn), line, sizeof line);
    pg->broken = PQstatus(pg->conn) != CONNECTION_OK;
    return fp_err_set(err, FP_ERR_IO, "postgresql %s: %s: %s", pg->name, what, line);
}

/* libpq's default notice processor writes NOTICEs ("relation already exists, skipping") to
 * stderr between our log lines; they go to the log at DEBUG instead, one line each. */
static void notice_to_log(void *arg, const char *msg)
{
    fp_pg *pg = arg;
    char line[512];
    first_line(msg, line, sizeof line);
    fp_log(FP_LOG_DEBUG, "postgresql", -1, "%s: %s", pg->name, line);
}

static fp_code open_conn(fp_pg *pg, fp_err *err)
{
    /* Our defaults first: what the connection string says wins (expand_dbname); a
     * connect_timeout of ours only when the environment sets none. */
    char ct[16];
    snprintf(ct, sizeof ct, "%d", pg->connect_timeout_s);
    bool want_ct = pg->connect_timeout_s > 0 && !getenv("PGCONNECT_TIMEOUT");
    const char *keys[] = {"application_name", "client_encoding",
                          want_ct ? "connect_timeout" : "dbname", "dbname", NULL};
    const char *vals[] = {pg->app, "UTF8", want_ct ? ct : pg->conninfo, pg->conninfo, NULL};
    if (!want_ct)
        keys[3] = vals[3] = NULL;
    PQfinish(pg->conn);
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn)
        return fp_err_set(err, FP_ERR_IO, "postgresql: out of memory connecting");
    const char *host = PQhost(pg->conn), *port = PQport(pg->conn), *db = PQdb(pg->conn);
    snprintf(pg->name, sizeof pg->name, "%s:%s/%s", host && *host ? host : "localhost",
             port && *port ? port : "5432", db ? db : "");
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        pg->broken = true;
        return conn_error(pg, "connect", err);
    }
    pg->broken = false;
    PQsetNoticeProcessor(pg->conn, notice_to_log, pg);
    fp_code rc = fp_pg_exec(pg, "SET TimeZone = 'UTC'", err);
    if (!rc && pg->statement_timeout_ms > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET statement_timeout = %" PRId64, pg->statement_timeout_ms);
        rc = fp_pg_exec(pg, sql, err);
    }
    for (size_t i = 0; i < pg->nstmts; i++)
        pg->stmts[i].ready = false;
    return rc;
}

fp_code fp_pg_connect(const char *conninfo, const char *app, fp_pg **out, fp_err *err)
{
    fp_pg_opts o = {.conninfo = conninfo, .app = app};
    return fp_pg_connect_opts(&o, out, err);
}

fp_code fp_pg_connect_opts(const fp_pg_opts *o, fp_pg **out, fp_err *err)
{
    const char *conninfo = o->conninfo, *app = o->app;
    *out = NULL;
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &msg);
    if (!opts) {
        char line[512];
        first_line(msg, line, sizeof line);
        PQfreemem(msg);
        return fp_err_set(err, FP_ERR_CONFIG, "postgresql connection string: %s", line);
    }
    PQconninfoFree(opts);
    fp_pg *pg = fp_xcalloc(1, sizeof *pg);
    pg->conninfo = fp_xstrdup(conninfo ? conninfo : "");
    pg->app = fp_xstrdup(app ? app : "fleetpipe");
    pg->connect_timeout_s = o->connect_timeout_s;
    pg->statement_timeout_ms = o->statement_timeout_ms;
    fp_code rc = open_conn(pg, err);
    if (rc) {
        fp_pg_free(pg);
        return rc;
    }
    *out = pg;
    return FP_OK;
}

void fp_pg_free(fp_pg *pg)
{
    if (!pg)
        return;
    PQfinish(pg->conn);
    free(pg->conninfo);
    free(pg->app);
    for (size_t i = 0; i < pg->nstmts; i++) {
        free(pg->stmts[i].name);
        free(pg->stmts[i].sql);
    }
    free(pg->stmts);
    free(pg);
}

const char *fp_pg_name(const fp_pg *pg)
{
    return pg->name;
}

PGconn *fp_pg_conn(fp_pg *pg)
{
    return pg->conn;
}

bool fp_pg_broken(const fp_pg *pg)
{
    return pg->broken;
}

fp_code fp_pg_reset(fp_pg *pg, fp_err *err)
{
    return open_conn(pg, err);
}

/* Turns a finished result into a code: OK for commands, rows and COPY IN; the server's
 * message with its SQLSTATE otherwise. Connection exceptions (class 08), shutdowns (57P0x)
 * and insufficient resources (class 53: disk full, out of memory) are FP_ERR_IO. */
static fp_code result_code(fp_pg *pg, PGresult *res, fp_err *err)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN ||
        st == PGRES_EMPTY_QUERY)
        return FP_OK;
    if (!res || PQstatus(pg->conn) != CONNECTION_OK)
        return conn_error(pg, "connection lost", err);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    fp_code code = FP_ERR_INVALID;
    if (state &&
        (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2)))
        code = FP_ERR_IO;
    char line[512];
    first_line(prim ? prim : PQresultErrorMessage(res), line, sizeof line);
    return fp_err_set(err, code, "postgresql %s: %s (SQLSTATE %s)", pg->name, line,
                      state ? state : "?");
}

/* Drains the remaining results of a command; the first error wins. */
static fp_code drain(fp_pg *pg, PGresult **keep, fp_err *err)
{
    fp_code rc = FP_OK;
    PGresult *res;
    bool any = false;
    while ((res = PQgetResult(pg->conn))) {
        any = true;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
            /* a COPY through exec/query: libpq would hand out this result forever */
            PQclear(res);
            if (st == PGRES_COPY_IN) {
                PQputCopyEnd(pg->conn, "fleetpipe: COPY FROM STDIN needs fp_pg_copy_begin");
            } else {
                char *row;
                while (PQgetCopyData(pg->conn, &row, 0) > 0)
                    PQfreemem(row);
            }
            if (!rc)
                rc = fp_err_set(err, FP_ERR_INTERNAL, "postgresql %s: COPY needs fp_pg_copy_begin",
                                pg->name);
            if (PQstatus(pg->conn) != CONNECTION_OK)
                break;
            continue;
        }
        fp_code r = result_code(pg, res, rc ? NULL : err);
        if (!rc)
            rc = r;
        if (keep && !rc && !*keep &&
            (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK))
            *keep = res;
        else
            PQclear(res);
        if (PQstatus(pg->conn) != CONNECTION_OK)
            break;
    }
    if (!any && !rc && PQstatus(pg->conn) != CONNECTION_OK)
        rc = conn_error(pg, "connection lost", err);
    return rc;
}

/* The result of a sent query into *res (may be NULL: discarded); NULL on an error. */
static fp_code query_result(fp_pg *pg, PGresult **res, fp_err *err)
{
    PGresult *keep = NULL;
    fp_code rc = drain(pg, res ? &keep : NULL, err);
    if (rc) {
        PQclear(keep);
        keep = NULL;
    }
    if (res)
        *res = keep;
    return rc;
}

fp_code fp_pg_exec(fp_pg *pg, const char *sql, fp_err *err)
{
    if (!PQsendQuery(pg->conn, sql))
        return conn_error(pg, "send", err);
    return drain(pg, NULL, err);
}

fp_code fp_pg_query(fp_pg *pg, const char *sql, int n, const char *const *params, PGresult **res,
                    fp_err *err)
{
    if (!PQsendQueryParams(pg->conn, sql, n, NULL, params, NULL, NULL, 0))
        return conn_error(pg, "send", err);
    return query_result(pg, res, err);
}

fp_code fp_pg_prepare(fp_pg *pg, const char *name, const char *sql, int n, fp_err *err)
{
    for (size_t i = 0; i < pg->nstmts; i++)
        if (!strcmp(pg->stmts[i].name, name))
            return fp_err_set(err, FP_ERR_INTERNAL, "postgresql %s: statement %s prepared twice",
                              pg->name, name);
    pg->stmts = fp_xrealloc(pg->stmts, (pg->nstmts + 1) * sizeof *pg->stmts);
    pg->stmts[pg->nstmts++] = (struct pg_stmt){fp_xstrdup(name), fp_xstrdup(sql), n, false};
    return FP_OK;
}

fp_code fp_pg_query_prepared(fp_pg *pg, const char *name, int n, const char *const *params,
                             PGresult **res, fp_err *err)
{
    if (res)
        *res = NULL;
    struct pg_stmt *st = NULL;
    for (size_t i = 0; !st && i < pg->nstmts; i++)
        if (!strcmp(pg->stmts[i].name, name))
            st = &pg->stmts[i];
    if (!st || st->n != n)
        return fp_err_set(err, FP_ERR_INTERNAL, "postgresql %s: statement %s %s", pg->name, name,
                          st ? "has another number of parameters" : "was never prepared");
    if (!st->ready) {
        if (!PQsendPrepare(pg->conn, st->name, st->sql, st->n, NULL))
            return conn_error(pg, "send", err);
        fp_code rc = drain(pg, NULL, err);
        if (rc)
            return rc;
        st->ready = true;
    }
    if (!PQsendQueryPrepared(pg->conn, name, n, params, NULL, NULL, 0))
        return conn_error(pg, "send", err);
    return query_result(pg, res, err);
}

fp_code fp_pg_query_int(fp_pg *pg, const char *sql, int n, const char *const *params, int64_t *v,
                        fp_err *err)
{
    PGresult *res = NULL;
    *v = 0;
    fp_code rc = fp_pg_query(pg, sql, n, params, &res, err);
    if (rc)
        return rc;
    if (res && PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
        *v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return FP_OK;
}

fp_code fp_pg_copy_begin(fp_pg *pg, const char *copy_sql, fp_err *err)
{
    PGresult *res = PQexec(pg->conn, copy_sql);
    if (res && PQresultStatus(res) == PGRES_COPY_IN) {
        PQclear(res);
        return FP_OK;
    }
    fp_code rc = result_code(pg, res, err);
    PQclear(res);
    if (!rc) /* a statement that is not COPY FROM STDIN */
        rc = fp_err_set(err, FP_ERR_INTERNAL, "postgresql %s: not a COPY FROM STDIN", pg->name);
    drain(pg, NULL, NULL);
    return rc;
}

fp_code fp_pg_copy_put(fp_pg *pg, const void *p, size_t n, fp_err *err)
{
    while (n) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        if (PQputCopyData(pg->conn, p, chunk) != 1)
            return conn_error(pg, "COPY", err);
        p = (const char *)p + chunk;
        n -= (size_t)chunk;
    }
    return FP_OK;
}

fp_code fp_pg_copy_end(fp_pg *pg, const char *abort_reason, int64_t *rows, fp_err *err)
{
    if (rows)
        *rows = 0;
    if (PQputCopyEnd(pg->conn, abort_reason) != 1)
        return conn_error(pg, "COPY end", err);
    PGresult *res = NULL;
    if (abort_reason) {
        /* The server answers a cancelled COPY with an error by design: the caller already
         * holds the real reason, so only a lost connection is reported. */
        drain(pg, NULL, NULL);
        return PQstatus(pg->conn) == CONNECTION_OK ? FP_OK : conn_error(pg, "COPY end", err);
    }
    fp_code rc = drain(pg, &res, err);
    if (!rc && rows && res) {
        const char *t = PQcmdTuples(res);
        *rows = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(res);
    return rc;
}

void fp_pg_put_ident(fp_buf *out, const char *name)
{
    fp_buf_putc(out, '"');
    for (const char *c = name; *c; c++) {
        if (*c == '"')
            fp_buf_putc(out, '"');
        fp_buf_putc(out, *c);
    }
    fp_buf_putc(out, '"');
}

void fp_pg_put_literal(fp_buf *out, const char *s)
{
    fp_buf_putc(out, '\'');
    for (const char *c = s; *c; c++) {
        if (*c == '\'')
            fp_buf_putc(out, '\'');
        fp_buf_putc(out, *c);
    }
    fp_buf_putc(out, '\'');
}
