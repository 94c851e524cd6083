/* cmd_warehouse.c — `fleetpipe warehouse`: flags and output of the warehouse's subcommands
 * (warehouse/warehouse.h). One options struct and one flag table per subcommand; every
 * subcommand is one library call: init and load (warehouse.h), scheduler, run, backfill and
 * status (sched.h).
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
#include "warehouse/sched.h"
#include "warehouse/warehouse.h"

typedef struct wh_cli_opts {
    char *pg, *lake, *mart_schema, *since, *until, *table, *copy_format;
    char *s3_endpoint, *s3_region, *aws_profile, *status_format;
    /* the scheduler's subcommands */
    char *pipeline, *metrics_listen, *now, *dag, *ds, *from, *to, *reprocess, *start_date,
        *end_date;
    int64_t parallelism, tick_ms, refresh_ms, concurrency;
    bool once;
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

#define FLAGS_COMMON                                                                               \
    FLAG_PG,                                                                                       \
        {"pipeline",                                                                               \
         FP_CONF_STRING,                                                                           \
         "config/warehouse/pipeline.json",                                                         \
         O(pipeline),                                                                              \
         "the DAGs (JSON); SQL files are read relative to it",                                     \
         NULL,                                                                                     \
         0,                                                                                        \
         0},                                                                                       \
        FLAG_LAKE(""), FLAGS_STORE
#define FLAG_PARALLELISM                                                                           \
    {                                                                                              \
        "parallelism", FP_CONF_INT, "2", O(parallelism),                                           \
            "tasks that run at once (one PostgreSQL connection each)", NULL, 1, 64                 \
    }

static const fp_conf_def scheduler_flags[] = {
    FLAGS_COMMON,
    FLAG_PARALLELISM,
    {"tick", FP_CONF_MS, "1s", O(tick_ms), "how often the scheduler looks for work", NULL, 0, 0},
    {"refresh", FP_CONF_MS, "60s", O(refresh_ms),
     "how often loaded hours are checked for late files", NULL, 0, 0},
    {"metrics-listen", FP_CONF_STRING, "", O(metrics_listen),
     "serve Prometheus /metrics and /healthz here (e.g. 127.0.0.1:9467); empty: off", NULL, 0, 0},
    {"once", FP_CONF_BOOL, NULL, O(once),
     "stop when nothing runs and nothing can start (a cron-style pass)", NULL, 0, 0},
    {"start-date", FP_CONF_STRING, "", O(start_date),
     "override every DAG's start_date (a local date or time in each DAG's zone)", NULL, 0, 0},
    {"end-date", FP_CONF_STRING, "", O(end_date), "override every DAG's end_date", NULL, 0, 0},
    {"now", FP_CONF_STRING, "", O(now),
     "pretend the clock says this ISO-8601 time when deciding what is due (tests, replays)", NULL,
     0, 0},
    END_FLAGS,
};

static const fp_conf_def run_flags[] = {
    FLAGS_COMMON,
    FLAG_PARALLELISM,
    {"dag", FP_CONF_STRING, NULL, O(dag), "the DAG", NULL, 0, 0},
    {"ds", FP_CONF_STRING, NULL, O(ds),
     "the interval's start: a date or local time in the DAG's zone, or ISO-8601 with offset", NULL,
     0, 0},
    END_FLAGS,
};

static const fp_conf_def backfill_flags[] = {
    FLAGS_COMMON,
    FLAG_PARALLELISM,
    {"dag", FP_CONF_STRING, NULL, O(dag), "the DAG", NULL, 0, 0},
    {"from", FP_CONF_STRING, NULL, O(from),
     "first interval start (date or local time in the DAG's zone, or ISO-8601 with offset)", NULL,
     0, 0},
    {"to", FP_CONF_STRING, NULL, O(to), "intervals that start before this", NULL, 0, 0},
    {"reprocess", FP_CONF_ENUM, "none", O(reprocess),
     "none: only intervals never run; failed: also failed ones; all: every interval",
     "none|failed|all", 0, 0},
    {"concurrency", FP_CONF_INT, "0", O(concurrency),
     "intervals at once; 0: the DAG's max_active_runs", NULL, 0, 1000},
    FP_CLI_STATUS_FLAG(wh_cli_opts),
    END_FLAGS,
};

static const fp_conf_def status_flags[] = {
    {"pg", FP_CONF_STRING, "", O(pg),
     "PostgreSQL connection string; default $FLEETPIPE_PG, then libpq's PG* variables", NULL, 0, 0},
    {"dag", FP_CONF_STRING, "", O(dag), "only this DAG", NULL, 0, 0},
    FP_CLI_STATUS_FLAG(wh_cli_opts),
    END_FLAGS,
};

/* Options and the pipeline for the scheduler's commands; *p owned by the caller. */
static fp_code sched_opts(const wh_cli_opts *c, fp_wh_sched_opts *o, fp_wh_pipeline **p,
                          fp_err *err)
{
    fp_code rc = fp_wh_pipeline_load(c->pipeline, p, err);
    if (!rc)
        rc = fp_wh_pipeline_set_dates(*p, c->start_date, c->end_date, err);
    if (rc)
        return rc;
    *o = (fp_wh_sched_opts){
        .pg = conninfo(c),
        .lake_url = c->lake,
        .store = store_opts(c),
        .pipeline = *p,
        .parallelism = (int)c->parallelism,
        .tick_ms = c->tick_ms,
        .refresh_ms = c->refresh_ms,
        .metrics_listen = c->metrics_listen,
        .once = c->once,
        .stop = fp_sig_token(),
    };
    if (c->now && c->now[0] && fp_time_parse_iso(c->now, strlen(c->now), &o->now_ms, err))
        return fp_err_prefix(err, "--now");
    return FP_OK;
}

static int run_scheduler(const fp_cmd *cmd, void *opts)
{
    wh_cli_opts *c = opts;
    fp_err err = {0};
    fp_wh_sched_opts o;
    fp_wh_pipeline *p = NULL;
    fp_sig_install();
    fp_code rc = sched_opts(c, &o, &p, &err);
    if (!rc)
        rc = fp_wh_sched_run(&o, &err);
    fp_wh_pipeline_free(p);
    return rc ? fail(cmd, &err) : 0;
}

static int print_summary(const fp_cmd *cmd, const wh_cli_opts *c, json_t *sum, fp_code rc,
                         const fp_err *err)
{
    int code = rc ? fail(cmd, err) : 0;
    if (!sum)
        sum = json_object();
    if (rc)
        json_object_set_new(sum, "error", json_string(err->msg));
    if (c->status_format && !strcmp(c->status_format, "json"))
        return fp_cli_status_print(cmd, c->status_format, sum, code, stdout);
    char *text = json_dumps(sum, JSON_COMPACT);
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, text);
    free(text);
    json_decref(sum);
    return code;
}

static int backfill(const fp_cmd *cmd, wh_cli_opts *c, const char *from, const char *to,
                    fp_wh_reprocess re)
{
    fp_err err = {0};
    fp_wh_sched_opts o;
    fp_wh_pipeline *p = NULL;
    fp_sig_install();
    json_t *sum = NULL;
    int64_t f = 0, t = 0;
    fp_code rc = sched_opts(c, &o, &p, &err);
    if (!rc)
        rc = fp_wh_local_ms(&o, c->dag, from, &f, &err);
    if (!rc && to)
        rc = fp_wh_local_ms(&o, c->dag, to, &t, &err);
    if (!rc)
        rc = fp_wh_backfill(&o, c->dag, f, to ? t : f + 1, re, 0, &sum, &err);
    fp_wh_pipeline_free(p);
    return print_summary(cmd, c, sum, rc, &err);
}

static int run_backfill(const fp_cmd *cmd, void *opts)
{
    wh_cli_opts *c = opts;
    fp_wh_reprocess re = !strcmp(c->reprocess, "all")      ? FP_WH_REPROCESS_ALL
                         : !strcmp(c->reprocess, "failed") ? FP_WH_REPROCESS_FAILED
                                                           : FP_WH_REPROCESS_NONE;
    return backfill(cmd, c, c->from, c->to, re);
}

static int run_run(const fp_cmd *cmd, void *opts)
{
    wh_cli_opts *c = opts;
    return backfill(cmd, c, c->ds, NULL, FP_WH_REPROCESS_ALL);
}

static int run_status(const fp_cmd *cmd, void *opts)
{
    wh_cli_opts *c = opts;
    fp_err err = {0};
    json_t *st = NULL;
    fp_code rc = fp_wh_status(conninfo(c), c->dag[0] ? c->dag : NULL, &st, &err);
    if (rc)
        return fail(cmd, &err);
    if (c->status_format && !strcmp(c->status_format, "json"))
        return fp_cli_status_print(cmd, c->status_format, st, 0, stdout);
    printf("%-16s %-18s %9s %9s %9s %9s %9s %9s  %s\n", "DAG", "TASK", "SUCCESS", "RUNNING",
           "QUEUED", "RETRY", "FAILED", "UPSTREAM", "NEWEST DONE");
    const char *dag, *task;
    json_t *jd, *jt;
    json_object_foreach(json_object_get(st, "dags"), dag, jd)
    {
        json_object_foreach(jd, task, jt)
        {
            const char *last = json_string_value(json_object_get(jt, "last_success_end"));
            printf("%-16s %-18s %9lld %9lld %9lld %9lld %9lld %9lld  %s\n", dag, task,
                   (long long)json_integer_value(json_object_get(jt, "success")),
                   (long long)json_integer_value(json_object_get(jt, "running")),
                   (long long)json_integer_value(json_object_get(jt, "scheduled")),
                   (long long)json_integer_value(json_object_get(jt, "up_for_retry")),
                   (long long)json_integer_value(json_object_get(jt, "failed")),
                   (long long)json_integer_value(json_object_get(jt, "upstream_failed")),
                   last ? last : "-");
        }
    }
    size_t i;
    json_t *pr;
    json_array_foreach(json_object_get(st, "problems"), i, pr)
    {
        printf("%s %s/%s %s try %lld: %s\n", json_string_value(json_object_get(pr, "state")),
               json_string_value(json_object_get(pr, "dag")),
               json_string_value(json_object_get(pr, "task")),
               json_string_value(json_object_get(pr, "interval_start")),
               (long long)json_integer_value(json_object_get(pr, "try")),
               json_string_value(json_object_get(pr, "error"))
                   ? json_string_value(json_object_get(pr, "error"))
                   : "");
    }
    json_decref(st);
    return 0;
}

const fp_cmd fp_cmd_warehouse_scheduler = {
    "warehouse scheduler",
    "run the warehouse DAGs on their schedule (loads, marts, checks)",
    "usage: fleetpipe warehouse scheduler --pg CONNINFO [--pipeline FILE] [--lake URL]\n"
    "                                     [--parallelism N] [--metrics-listen ADDR] [--once]\n\n"
    "Runs every DAG of --pipeline with Airflow's semantics: a run covers the data interval\n"
    "[start, end) and starts after it ends; catchup creates every interval since start_date;\n"
    "upstream tasks, the DAGs in wait_for and (load tasks) the lake watermark must be done\n"
    "first; at most max_active_runs intervals per DAG at once; failures retried with\n"
    "exponential backoff and jitter. State in ops.runs (one row per dag, task, interval) and\n"
    "ops.task_tries (every try): a killed scheduler's successor re-runs what was running.\n"
    "A load task loads its hours plus every changed partition before its end, those dated\n"
    "a day or more past the wall clock and every deadletter partition (strays: time-skewed\n"
    "rows, dead letters by arrival), so the interval's checks see them.\n"
    "Marts whose input was loaded again (late data) re-run by themselves. One scheduler per\n"
    "database (a second one exits 1). SIGINT/SIGTERM stop it; running tasks are cancelled\n"
    "and queued again. See docs/warehouse.md.",
    scheduler_flags,
    sizeof(wh_cli_opts),
    run_scheduler,
};

const fp_cmd fp_cmd_warehouse_run = {
    "warehouse run",
    "run one interval of a DAG now, in the foreground",
    "usage: fleetpipe warehouse run --dag DAG --ds DATE [--pg CONNINFO] [--pipeline FILE]\n\n"
    "Runs every task of the DAG's interval that starts at --ds (in the DAG's time zone), even\n"
    "if it succeeded before, and records it in ops.runs. Exit 1 when a task failed for good.",
    run_flags,
    sizeof(wh_cli_opts),
    run_run,
};

const fp_cmd fp_cmd_warehouse_backfill = {
    "warehouse backfill",
    "run a DAG over a range of intervals, with a concurrency cap",
    "usage: fleetpipe warehouse backfill --dag DAG --from T --to T [--reprocess none|failed|all]\n"
    "                                    [--concurrency N] [--pg CONNINFO] [--pipeline FILE]\n\n"
    "Runs every interval of the DAG that starts in [--from, --to), whatever start_date and\n"
    "catchup say. --reprocess none runs only intervals that never ran; failed also re-runs\n"
    "failed ones; all re-runs every interval. Does not wait for the lake watermark (a\n"
    "backfill is explicit) but does wait for upstream tasks and wait_for DAGs: when those can\n"
    "never be met it stops, blocked (exit 1). Prints a JSON summary.",
    backfill_flags,
    sizeof(wh_cli_opts),
    run_backfill,
};

const fp_cmd fp_cmd_warehouse_status = {
    "warehouse status",
    "task runs per DAG and state, the newest finished interval, what failed",
    "usage: fleetpipe warehouse status [--pg CONNINFO] [--dag DAG] [--status-format json]\n\n"
    "Reads ops.runs: per DAG and task the runs per state and the end of the newest interval\n"
    "that succeeded; then the latest failed, upstream_failed and retrying runs with errors.",
    status_flags,
    sizeof(wh_cli_opts),
    run_status,
};

static const fp_conf_def parent_flags[] = {
    END_FLAGS,
};

static const char parent_usage[] =
    "usage: fleetpipe warehouse init [--pg CONNINFO] [--lake URL] [--mart-schema FILE]\n"
    "       fleetpipe warehouse load [--pg CONNINFO] --lake URL [--since T --until T]\n"
    "                                [--table T] [--copy-format binary|text]\n"
    "       fleetpipe warehouse scheduler [--pg CONNINFO] [--pipeline FILE] [--lake URL] [--once]\n"
    "       fleetpipe warehouse run --dag DAG --ds DATE\n"
    "       fleetpipe warehouse backfill --dag DAG --from T --to T [--reprocess none|failed|all]\n"
    "       fleetpipe warehouse status [--dag DAG]\n\n"
    "The lake in PostgreSQL (schema lake) with marts (schema mart) and bookkeeping (schema\n"
    "ops). `fleetpipe help warehouse <subcommand>` gives each one's options.";

static int run_parent(const fp_cmd *cmd, void *opts)
{
    fprintf(stderr, "fleetpipe warehouse: which subcommand?\n\n%s\n", parent_usage);
    return 2;
}

const fp_cmd fp_cmd_warehouse = {
    "warehouse",         "PostgreSQL warehouse: init, load, scheduler, run, backfill, status",
    parent_usage,        parent_flags,
    sizeof(wh_cli_opts), run_parent,
};
