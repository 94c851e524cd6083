/* cmd_warehouse_sched.c — `fleetpipe warehouse scheduler|run|backfill|status`: flags and output
 * of the scheduler (warehouse/sched.h). (Merged into cmd_warehouse.c once it exists.)
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "core/time.h"
#include "warehouse/sched.h"

typedef struct wh_sched_cli_opts {
    char *pg, *pipeline, *lake, *s3_endpoint, *s3_region, *aws_profile, *metrics_listen, *now, *dag,
        *ds, *from, *to, *reprocess, *status_format, *start_date, *end_date;
    int64_t parallelism, tick_ms, refresh_ms, concurrency;
    bool once;
} wh_sched_cli_opts;

#define O(f) offsetof(wh_sched_cli_opts, f)
#define END_FLAGS                                                                                  \
    {                                                                                              \
        NULL, 0, NULL, 0, NULL, NULL, 0, 0                                                         \
    }
#define FLAGS_COMMON                                                                               \
    {"pg",                                                                                         \
     FP_CONF_STRING,                                                                               \
     "",                                                                                           \
     O(pg),                                                                                        \
     "PostgreSQL connection string (libpq URI or key=value); default $FLEETPIPE_PG, then libpq's " \
     "PG* variables",                                                                              \
     NULL,                                                                                         \
     0,                                                                                            \
     0},                                                                                           \
        {"pipeline",                                                                               \
         FP_CONF_STRING,                                                                           \
         "config/warehouse/pipeline.json",                                                         \
         O(pipeline),                                                                              \
         "the DAGs (JSON); SQL files are read relative to it",                                     \
         NULL,                                                                                     \
         0,                                                                                        \
         0},                                                                                       \
        {"lake",                                                                                   \
         FP_CONF_STRING,                                                                           \
         "",                                                                                       \
         O(lake),                                                                                  \
         "the Parquet lake load tasks read; default the pipeline's \"lake\"",                      \
         NULL,                                                                                     \
         0,                                                                                        \
         0},                                                                                       \
        {"s3-endpoint",                                                                            \
         FP_CONF_STRING,                                                                           \
         "",                                                                                       \
         O(s3_endpoint),                                                                           \
         "S3 endpoint URL for an s3:// lake; default AWS",                                         \
         NULL,                                                                                     \
         0,                                                                                        \
         0},                                                                                       \
        {"s3-region",                                                                              \
         FP_CONF_STRING,                                                                           \
         "",                                                                                       \
         O(s3_region),                                                                             \
         "S3 region; default AWS_REGION",                                                          \
         NULL,                                                                                     \
         0,                                                                                        \
         0},                                                                                       \
    {                                                                                              \
        "aws-profile", FP_CONF_STRING, "", O(aws_profile),                                         \
            "credentials profile when the environment has no keys", NULL, 0, 0                     \
    }
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
    FP_CLI_STATUS_FLAG(wh_sched_cli_opts),
    END_FLAGS,
};

static const fp_conf_def status_flags[] = {
    {"pg", FP_CONF_STRING, "", O(pg),
     "PostgreSQL connection string; default $FLEETPIPE_PG, then libpq's PG* variables", NULL, 0, 0},
    {"dag", FP_CONF_STRING, "", O(dag), "only this DAG", NULL, 0, 0},
    FP_CLI_STATUS_FLAG(wh_sched_cli_opts),
    END_FLAGS,
};

static int fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return err->code == FP_ERR_CONFIG ? 2 : 1;
}

static const char *conninfo(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("FLEETPIPE_PG");
    return env ? env : "";
}

/* Options and the pipeline for the scheduler's commands; *p owned by the caller. */
static fp_code sched_opts(const wh_sched_cli_opts *c, fp_wh_sched_opts *o, fp_wh_pipeline **p,
                          fp_err *err)
{
    fp_code rc = fp_wh_pipeline_load(c->pipeline, p, err);
    if (!rc)
        rc = fp_wh_pipeline_set_dates(*p, c->start_date, c->end_date, err);
    if (rc)
        return rc;
    *o = (fp_wh_sched_opts){
        .pg = conninfo(c->pg),
        .lake_url = c->lake,
        .store = {.region = c->s3_region,
                  .endpoint = c->s3_endpoint,
                  .profile = c->aws_profile[0] ? c->aws_profile : NULL,
                  .path_style = -1,
                  .stop = fp_sig_token()},
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
    wh_sched_cli_opts *c = opts;
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

static int print_summary(const fp_cmd *cmd, const wh_sched_cli_opts *c, json_t *sum, fp_code rc,
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

static int backfill(const fp_cmd *cmd, wh_sched_cli_opts *c, const char *from, const char *to,
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
    wh_sched_cli_opts *c = opts;
    fp_wh_reprocess re = !strcmp(c->reprocess, "all")      ? FP_WH_REPROCESS_ALL
                         : !strcmp(c->reprocess, "failed") ? FP_WH_REPROCESS_FAILED
                                                           : FP_WH_REPROCESS_NONE;
    return backfill(cmd, c, c->from, c->to, re);
}

static int run_run(const fp_cmd *cmd, void *opts)
{
    wh_sched_cli_opts *c = opts;
    return backfill(cmd, c, c->ds, NULL, FP_WH_REPROCESS_ALL);
}

static int run_status(const fp_cmd *cmd, void *opts)
{
    wh_sched_cli_opts *c = opts;
    fp_err err = {0};
    json_t *st = NULL;
    fp_code rc = fp_wh_status(conninfo(c->pg), c->dag[0] ? c->dag : NULL, &st, &err);
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
    "Marts whose input was loaded again (late data) re-run by themselves. One scheduler per\n"
    "database (a second one exits 1). SIGINT/SIGTERM stop it; running tasks are cancelled\n"
    "and queued again. See docs/warehouse.md.",
    scheduler_flags,
    sizeof(wh_sched_cli_opts),
    run_scheduler,
};

const fp_cmd fp_cmd_warehouse_run = {
    "warehouse run",
    "run one interval of a DAG now, in the foreground",
    "usage: fleetpipe warehouse run --dag DAG --ds DATE [--pg CONNINFO] [--pipeline FILE]\n\n"
    "Runs every task of the DAG's interval that starts at --ds (in the DAG's time zone), even\n"
    "if it succeeded before, and records it in ops.runs. Exit 1 when a task failed for good.",
    run_flags,
    sizeof(wh_sched_cli_opts),
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
    sizeof(wh_sched_cli_opts),
    run_backfill,
};

const fp_cmd fp_cmd_warehouse_status = {
    "warehouse status",
    "task runs per DAG and state, the newest finished interval, what failed",
    "usage: fleetpipe warehouse status [--pg CONNINFO] [--dag DAG] [--status-format json]\n\n"
    "Reads ops.runs: per DAG and task the runs per state and the end of the newest interval\n"
    "that succeeded; then the latest failed, upstream_failed and retrying runs with errors.",
    status_flags,
    sizeof(wh_sched_cli_opts),
    run_status,
};
