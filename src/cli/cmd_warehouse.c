/* cmd_warehouse.c — `fleetpipe warehouse`: flags and output of the warehouse's subcommands
 * (warehouse/warehouse.h). One options struct and one flag table per subcommand; every
 * subcommand is one library call. The scheduler's subcommands (run, backfill, scheduler,
 * status) join this file as further fp_cmd entries of the same shape.
 *
 * --pg: the libpq connection string; when omitted, $FLEETPIPE_PG, and when that is unset too,
 * libpq's own defaults (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, ~/.pgpass, PGSERVICE),
 * exactly as psql. The string is never printed (pg.h).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "core/mem.h"
#include "core/time.h"
#include "store/store.h"
#include "warehouse/warehouse.h"

typedef struct wh_cli_opts {
    char *pg, *lake, *mart_schema, *since, *until, *table, *copy_format;
    char *s3_endpoint, *s3_region, *aws_profile, *status_format;
} wh_cli_opts;

#define O(f) offsetof(wh_cli_opts, f)
#define END_FLAGS                                                                                  \
    {                                                                                              \
        NULL, 0, NULL, 0, NULL, NULL, 0, 0                                                         \
    }
#define FLAG_PG                                                                                    \
    {                                                                                              \
        "pg", FP_CONF_STRING, "", O(pg),                                                           \
            "PostgreSQL connection string (libpq URI or key=value); default $FLEETPIPE_PG, then "  \
            "libpq's PG* defaults. Never logged",                                                  \
            NULL, 0, 0                                                                             \
    }
#define FLAG_LAKE(dflt)                                                                            \
    {                                                                                              \
        "lake", FP_CONF_STRING, dflt, O(lake),                                                     \
            "the Parquet lake (lake convert's --to): file:///abs/path, a directory, or "           \
            "s3://bucket/prefix",                                                                  \
            NULL, 0, 0                                                                             \
    }
/* clang-format off */
#define FLAGS_STORE                                                                                \
    {"s3-endpoint", FP_CONF_STRING, "", O(s3_endpoint),                                            \
     "S3 endpoint URL (http://127.0.0.1:4568 for s3rver); default AWS", NULL, 0, 0},               \
    {"s3-region", FP_CONF_STRING, "", O(s3_region),                                                \
     "S3 region; default AWS_REGION, then AWS_DEFAULT_REGION", NULL, 0, 0},                        \
    {"aws-profile", FP_CONF_STRING, "", O(aws_profile),                                            \
     "credentials profile when the environment has no keys", NULL, 0, 0}
/* clang-format on */

static const fp_conf_def init_flags[] = {
    FLAG_PG,
    FLAG_LAKE(""),
    {"mart-schema", FP_CONF_STRING, "", O(mart_schema),
     "SQL file run after the schemas exist (the marts' CREATE TABLE IF NOT EXISTS)", NULL, 0, 0},
    FLAGS_STORE,
    FP_CLI_STATUS_FLAG(wh_cli_opts),
    END_FLAGS,
};

static const fp_conf_def load_flags[] = {
    FLAG_PG,
    FLAG_LAKE(NULL),
    {"since", FP_CONF_STRING, "", O(since),
     "only partitions (dt, hour) that end after this ISO-8601 time", NULL, 0, 0},
    {"until", FP_CONF_STRING, "", O(until),
     "only partitions (dt, hour) that start before this ISO-8601 time", NULL, 0, 0},
    {"table", FP_CONF_STRING, "", O(table), "one catalog table; default every table", NULL, 0, 0},
    {"copy-format", FP_CONF_ENUM, "binary", O(copy_format),
     "COPY format sent to PostgreSQL (binary is faster; text for comparison)", "binary|text", 0, 0},
    FLAGS_STORE,
    FP_CLI_STATUS_FLAG(wh_cli_opts),
    END_FLAGS,
};

static int fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return err->code == FP_ERR_CONFIG ? 2 : 1;
}

static const char *conninfo(const wh_cli_opts *o)
{
    if (o->pg && o->pg[0])
        return o->pg;
    const char *e = getenv("FLEETPIPE_PG");
    return e ? e : ""; /* "": libpq's defaults */
}

static fp_store_opts store_opts(const wh_cli_opts *o)
{
    return (fp_store_opts){
        .region = o->s3_region,
        .endpoint = o->s3_endpoint,
        .profile = o->aws_profile[0] ? o->aws_profile : NULL,
        .path_style = -1,
        .stop = fp_sig_token(),
    };
}

static bool json_status(const wh_cli_opts *o)
{
    return o->status_format && !strcmp(o->status_format, "json");
}

static fp_code parse_time(const char *flag, const char *s, int64_t none, int64_t *out, fp_err *err)
{
    *out = none;
    if (!s[0])
        return FP_OK;
    fp_err e = {0};
    if (fp_time_parse_iso(s, strlen(s), out, &e))
        return fp_err_set(err, FP_ERR_CONFIG, "--%s '%s': %s", flag, s, e.msg);
    return FP_OK;
}

static fp_code read_text_file(const char *path, fp_buf *out, fp_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_err_set(err, FP_ERR_CONFIG, "--mart-schema %s: cannot open", path);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fp_buf_append(out, chunk, n);
    bool bad = ferror(f);
    fclose(f);
    fp_buf_reserve(out, 0);
    return bad ? fp_err_set(err, FP_ERR_CONFIG, "--mart-schema %s: read error", path) : FP_OK;
}

/* The counts as JSON (the same keys for init and load). */
static json_t *counts_json(const fp_wh_load_counts *c)
{
    json_t *failed = json_array();
    for (size_t i = 0; i < c->nfailures; i++) {
        const fp_wh_load_failure *f = &c->failures[i];
        json_array_append_new(failed, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "table", f->table,
                                                "dt", f->dt, "hour", f->hour, "file", f->file,
                                                "class", fp_code_name(f->code), "error", f->error));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "tables",
                     (json_int_t)c->tables, "tables_failed", (json_int_t)c->tables_failed,
                     "partitions", (json_int_t)c->partitions, "partitions_loaded",
                     (json_int_t)c->partitions_loaded, "partitions_skipped",
                     (json_int_t)c->partitions_skipped, "partitions_failed",
                     (json_int_t)c->partitions_failed, "retries", (json_int_t)c->retries, "files",
                     (json_int_t)c->files, "rows", (json_int_t)c->rows, "bytes",
                     (json_int_t)c->bytes, "columns_added", (json_int_t)c->columns_added,
                     "columns_widened", (json_int_t)c->columns_widened, "failed", failed);
}

/* A summary line on stderr; the counts as one JSON line on stdout (with --status-format json
 * the final status line: the same keys plus command, exit_code and error). */
static int finish(const fp_cmd *cmd, const wh_cli_opts *o, fp_wh_load_counts *c, fp_code rc,
                  const fp_err *err)
{
    fprintf(stderr,
            "fleetpipe %s: %" PRId64 " partitions: %" PRId64 " loaded, %" PRId64
            " unchanged, %" PRId64 " failed (%" PRId64 " retries); %" PRId64 " files, %" PRId64
            " rows, %" PRId64 " bytes; %" PRId64 " columns added, %" PRId64 " widened\n",
            cmd->name, c->partitions, c->partitions_loaded, c->partitions_skipped,
            c->partitions_failed, c->retries, c->files, c->rows, c->bytes, c->columns_added,
            c->columns_widened);
    int code = rc ? fail(cmd, err) : 0;
    json_t *j = counts_json(c);
    fp_wh_load_counts_free(c);
    if (!json_status(o)) {
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
        json_decref(j);
        return code;
    }
    if (rc)
        json_object_set_new(j, "error", json_string(err->msg));
    return fp_cli_status_print(cmd, o->status_format, j, code, stdout);
}

static int run_init(const fp_cmd *cmd, void *opts)
{
    wh_cli_opts *o = opts;
    fp_err err = {0};
    fp_buf sql = FP_BUF_INIT;
    if (o->mart_schema[0] && read_text_file(o->mart_schema, &sql, &err))
        return fail(cmd, &err);
    fp_store_opts so = store_opts(o);
    fp_wh_load_counts c = {0};
    fp_code rc = fp_wh_init(conninfo(o), o->lake[0] ? o->lake : NULL, &so, sql.p, &c, &err);
    fp_buf_free(&sql);
    return finish(cmd, o, &c, rc, &err);
}

static int run_load(const fp_cmd *cmd, void *opts)
{
    wh_cli_opts *o = opts;
    fp_err err = {0};
    fp_wh_load_opts lo = {
        .pg = conninfo(o),
        .lake_url = o->lake,
        .store = store_opts(o),
        .table = o->table,
        .text = !strcmp(o->copy_format, "text"),
        .stop = fp_sig_token(),
    };
    if (parse_time("since", o->since, INT64_MIN, &lo.since_ms, &err) ||
        parse_time("until", o->until, INT64_MAX, &lo.until_ms, &err))
        return fail(cmd, &err);
    fp_sig_install();
    fp_wh_load_counts c = {0};
    fp_code rc = fp_wh_load(&lo, &c, &err);
    return finish(cmd, o, &c, rc, &err);
}

const fp_cmd fp_cmd_warehouse_init = {
    "warehouse init",
    "create the warehouse's schemas (lake, mart, ops), ops.loads and the lake tables",
    "usage: fleetpipe warehouse init [--pg CONNINFO] [--lake URL] [--mart-schema FILE]\n\n"
    "Creates schemas lake, mart and ops and the table ops.loads; with --lake, a table\n"
    "lake.<table> per catalog table (the catalog's columns plus dt date, hour smallint, a BRIN\n"
    "index on (dt, hour)); with --mart-schema, runs that SQL file. Idempotent. Prints the\n"
    "counts as JSON on stdout. Exit 0 when done, 1 on a database or lake error, 2 on a\n"
    "configuration error.",
    init_flags,
    sizeof(wh_cli_opts),
    run_init,
};

const fp_cmd fp_cmd_warehouse_load = {
    "warehouse load",
    "load the lake's changed (dt, hour) partitions into PostgreSQL, one transaction each",
    "usage: fleetpipe warehouse load [--pg CONNINFO] --lake URL [--since T --until T]\n"
    "                                [--table T] [--copy-format binary|text]\n\n"
    "Goes by the lake's catalog: every partition of the range whose files (name + bytes)\n"
    "differ from ops.loads is replaced in one transaction (DELETE its rows, COPY its files,\n"
    "replace its ops.loads rows, COMMIT); unchanged partitions are skipped. New catalog\n"
    "columns are added to the table, bigint columns the catalog widened become double\n"
    "precision. A partition that fails (corrupt or truncated file, a file whose columns the\n"
    "catalog does not have, a database error) is rolled back and the rest continue; a lost\n"
    "connection is reconnected and the partition retried (5 attempts, backoff). Prints a\n"
    "summary on stderr and the counts (with a `failed` list naming table, dt, hour, file and\n"
    "error) as JSON on stdout. Exit 0 when every partition loaded or was unchanged, 1 when\n"
    "any failed, 2 on a configuration error. See docs/warehouse.md.",
    load_flags,
    sizeof(wh_cli_opts),
    run_load,
};

static const fp_conf_def parent_flags[] = {
    END_FLAGS,
};

static const char parent_usage[] =
    "usage: fleetpipe warehouse init [--pg CONNINFO] [--lake URL] [--mart-schema FILE]\n"
    "       fleetpipe warehouse load [--pg CONNINFO] --lake URL [--since T --until T]\n"
    "                                [--table T] [--copy-format binary|text]\n\n"
    "The lake in PostgreSQL (schema lake) with marts (schema mart) and bookkeeping (schema\n"
    "ops). `fleetpipe help warehouse <subcommand>` gives each one's options.";

static int run_parent(const fp_cmd *cmd, void *opts)
{
    fprintf(stderr, "fleetpipe warehouse: which subcommand?\n\n%s\n", parent_usage);
    return 2;
}

const fp_cmd fp_cmd_warehouse = {
    "warehouse",         "PostgreSQL warehouse: init, load",
    parent_usage,        parent_flags,
    sizeof(wh_cli_opts), run_parent,
};
