/* pg.h — fleetpipe's PostgreSQL client: a thin layer over libpq that turns its results into
 * fp_err, so the warehouse, the checks and the Fleet API share one way to talk to the server.
 *
 * The one thing to know: the connection string (a libpq URI or key=value list; PGPASSFILE,
 * PGPASSWORD and the other PG* variables apply as in psql) is never logged or put into an
 * error message — errors name the server as host:port/dbname only. A lost connection is
 * FP_ERR_IO (worth retrying after fp_pg_reset); an error the server reported for a statement
 * is FP_ERR_INVALID with the server's message and SQLSTATE, and the connection stays usable
 * (after a ROLLBACK when a transaction was open).
 *
 * Ownership and threads: an fp_pg owns its PGconn; one thread at a time per fp_pg. Results
 * (PGresult) handed out are owned by the caller (PQclear).
 */
#ifndef FP_PG_H
#define FP_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

typedef struct fp_pg fp_pg;

/* Connects (FP_ERR_IO when the server cannot be reached or refuses; FP_ERR_CONFIG for a
 * connection string libpq cannot parse). app is the application_name ("fleetpipe warehouse").
 * The session runs with client_encoding UTF8 and TimeZone UTC. */
fp_code fp_pg_connect(const char *conninfo, const char *app, fp_pg **out, fp_err *err);
void fp_pg_free(fp_pg *pg);

/* The same with bounds for a server that must not hang its caller (the Fleet API): at most
 * connect_timeout_s to connect (libpq's connect_timeout, unless the connection string or
 * PGCONNECT_TIMEOUT sets one; 0: libpq's default, none) and statement_timeout_ms per statement
 * (SET statement_timeout; 0: the server's). Both hold again after fp_pg_reset. */
typedef struct fp_pg_opts {
    const char *conninfo;
    const char *app;
    int connect_timeout_s;
    int64_t statement_timeout_ms;
} fp_pg_opts;
fp_code fp_pg_connect_opts(const fp_pg_opts *o, fp_pg **out, fp_err *err);

/* "host:port/dbname" for messages. */
const char *fp_pg_name(const fp_pg *pg);
PGconn *fp_pg_conn(fp_pg *pg);

/* Reconnects with the same connection string after the connection was lost. */
fp_code fp_pg_reset(fp_pg *pg, fp_err *err);

/* Runs sql (one or more statements, no parameters) and discards the results. */
fp_code fp_pg_exec(fp_pg *pg, const char *sql, fp_err *err);

/* Runs one statement with text parameters $1..$n (NULL entries are SQL NULL). *res (may be
 * NULL: discarded) gets the result of a statement that returned rows or a command tag. */
fp_code fp_pg_query(fp_pg *pg, const char *sql, int n, const char *const *params, PGresult **res,
                    fp_err *err);

/* Names a statement (sql with $1..$n, all text parameters) for fp_pg_query_prepared, which
 * prepares it on the connection at its first use there, and again after fp_pg_reset: callers
 * name their statements once and never send SQL text with values in it. Only statements
 * actually run are prepared, so one waiting on a locked table holds up no other. A name given
 * twice is FP_ERR_INTERNAL; an error in sql shows at the first run. */
fp_code fp_pg_prepare(fp_pg *pg, const char *name, const char *sql, int n, fp_err *err);
/* Runs statement name with n text parameters (NULL entries are SQL NULL); *res as
 * fp_pg_query's. */
fp_code fp_pg_query_prepared(fp_pg *pg, const char *name, int n, const char *const *params,
                             PGresult **res, fp_err *err);

/* Runs a query with parameters and returns the first column of the first row as int64 in *v
 * (0 when there is no row or it is NULL). */
fp_code fp_pg_query_int(fp_pg *pg, const char *sql, int n, const char *const *params, int64_t *v,
                        fp_err *err);

/* COPY ... FROM STDIN: begin with the COPY statement, put bytes (any chunking), end. end with
 * abort_reason != NULL cancels the COPY (the server rolls it back with that message) and
 * returns FP_OK unless the connection is gone, leaving err to the caller's own reason. *rows
 * (may be NULL) gets the rows the server took. */
fp_code fp_pg_copy_begin(fp_pg *pg, const char *copy_sql, fp_err *err);
fp_code fp_pg_copy_put(fp_pg *pg, const void *p, size_t n, fp_err *err);
fp_code fp_pg_copy_end(fp_pg *pg, const char *abort_reason, int64_t *rows, fp_err *err);

/* The connection is gone (after an FP_ERR_IO). */
bool fp_pg_broken(const fp_pg *pg);

/* Appends name as a quoted SQL identifier ("a""b") to out; and a string as a quoted literal. */
void fp_pg_put_ident(fp_buf *out, const char *name);
void fp_pg_put_literal(fp_buf *out, const char *s);

#endif
