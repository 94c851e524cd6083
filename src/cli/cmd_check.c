/* cmd_check.c — `fleetpipe check`, `check run` and `check score`: flags and output of the
 * data-quality checks (check/check.h; docs/checks.md). `check notify` is cmd_check_notify.c.
 *
 * --pg: as the warehouse's, the libpq connection string, else $FLEETPIPE_PG, else libpq's PG*
 * defaults; never printed.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cli/cli.h"
#include "cli/sig.h"
#include "core/mem.h"
#include "pg/pg.h"

typedef struct check_cli_opts {
    char *pg, *checks, *from, *to, *only, *truth, *status_format, *every;
    int64_t flush_ms;
} check_cli_opts;

#define O(f) offsetof(check_cli_opts, f)
/* clang-format off */
#define FLAGS_COMMON                                                                               \
    {"pg", FP_CONF_STRING, "", O(pg),                                                              \
     "PostgreSQL connection string (libpq URI or key=value); default $FLEETPIPE_PG, then "         \
     "libpq's PG* defaults. Never logged", NULL, 0, 0},                                            \
    {"checks", FP_CONF_STRING, "config/checks", O(checks),                                         \
     "a directory of checks (every *.json in it) or one file", NULL, 0, 0},                        \
    {"from", FP_CONF_STRING, NULL, O(from),                                                        \
     "first local day (YYYY-MM-DD, in the checks' params.timezone)", NULL, 0, 0},                  \
    {"to", FP_CONF_STRING, "", O(to), "day after the last one; default --from + 1 day", NULL, 0,   \
     0},                                                                                           \
    {"only", FP_CONF_STRING, "", O(only), "comma-separated check names; default all", NULL, 0, 0}, \
    FP_CLI_STATUS_FLAG(check_cli_opts)
/* clang-format on */
#define END_FLAGS                                                                                  \
    {                                                                                              \
        NULL, 0, NULL, 0, NULL, NULL, 0, 0                                                         \
    }

static const fp_conf_def run_flags[] = {
    FLAGS_COMMON,
    {"alerts-flush", FP_CONF_MS, "30s", O(flush_ms),
     "how long to wait for queued alerts before exiting (the rest count as lost)", NULL, 0, 0},
    {"every", FP_CONF_STRING, "", O(every),
     "hour or day: only the checks of files whose \"every\" says so; default both (each day's "
     "day checks, then its hour checks hour by hour)",
     NULL, 0, 0},
    END_FLAGS,
};

static const fp_conf_def score_flags[] = {
    FLAGS_COMMON,
    {"truth", FP_CONF_STRING, NULL, O(truth), "the simulator's truth file (sim --truth)", NULL, 0,
     0},
    END_FLAGS,
};

static int fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return err->code == FP_ERR_CONFIG ? 2 : 1;
}

static const char *conninfo(const check_cli_opts *o)
{
    if (o->pg && o->pg[0])
        return o->pg;
    const char *e = getenv("FLEETPIPE_PG");
    return e ? e : "";
}

/* The checks and the days of --from/--to; a config error exit code otherwise. */
static fp_code prepare(const check_cli_opts *o, fp_check_set **set, fp_check_day **days, size_t *n,
                       fp_err *err)
{
    fp_code rc = fp_check_set_load(o->checks, set, err);
    if (!rc)
        rc = fp_check_days(conninfo(o), fp_check_set_timezone(*set), o->from, o->to, days, n, err);
    return rc;
}

static int run_run(const fp_cmd *cmd, void *opts)
{
    check_cli_opts *o = opts;
    fp_err err = {0};
    fp_check_set *set = NULL;
    fp_check_day *days = NULL;
    size_t n = 0;
    fp_alert *alerts = NULL;
    fp_code rc = prepare(o, &set, &days, &n, &err);
    if (!rc)
        rc = fp_alert_open(fp_check_set_alerts(set), fp_check_set_dir(set), &alerts, &err);
    fp_sig_install();
    fp_check_counts c = {0};
    const char *every = o->every && *o->every ? o->every : NULL;
    if (!rc && every && strcmp(every, "hour") && strcmp(every, "day"))
        rc = fp_err_set(&err, FP_ERR_CONFIG, "--every %s: hour or day", every);
    bool daily = !rc && (!every || !strcmp(every, "day")) && fp_check_set_has(set, "day"),
         hourly = !rc && (!every || !strcmp(every, "hour")) && fp_check_set_has(set, "hour");
    for (size_t i = 0; i < n && !rc && !fp_stop_requested(fp_sig_token()); i++) {
        fp_check_opts co = {.pg = conninfo(o),
                            .start_ms = days[i].start_ms,
                            .end_ms = days[i].end_ms,
                            .ds = days[i].ds,
                            .only = o->only,
                            .every = "day",
                            .alerts = alerts,
                            .stop = fp_sig_token()};
        if (daily)
            rc = fp_check_run(set, &co, &c, &err);
        /* the day's hours from local midnight, as the scheduler's checks_hourly runs them (a
         * day of 23 or 25 hours too; in a zone whose offset is not whole hours they straddle
         * UTC hours, which the checks' partition bounds allow) */
        co.every = "hour";
        for (int64_t h = days[i].start_ms; hourly && !rc && h < days[i].end_ms; h += 3600000) {
            co.start_ms = h;
            co.end_ms = h + 3600000 < days[i].end_ms ? h + 3600000 : days[i].end_ms;
            if (fp_stop_requested(fp_sig_token()))
                break;
            rc = fp_check_run(set, &co, &c, &err);
        }
    }
    fp_alert_flush(alerts, o->flush_ms);
    if (alerts && !rc) { /* what no sink took fires again at the next run */
        fp_pg *pg = NULL;
        fp_err se = {0};
        if (fp_pg_connect(conninfo(o), "fleetpipe check", &pg, &se) ||
            fp_alert_sync(alerts, pg, &se))
            fprintf(stderr, "fleetpipe %s: recording the alerts' delivery: %s\n", cmd->name,
                    se.msg);
        fp_pg_free(pg);
    }
    fp_alert_free(alerts);
    int code = rc ? fail(cmd, &err) : (c.fail || c.error) ? 1 : 0;
    fprintf(stderr,
            "fleetpipe %s: %zu day(s), %" PRId64 " results: %" PRId64 " pass, %" PRId64
            " warn, %" PRId64 " fail, %" PRId64 " error\n",
            cmd->name, n, c.checks, c.pass, c.warn, c.fail, c.error);
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "days", (json_int_t)n, "checks",
                          (json_int_t)c.checks, "pass", (json_int_t)c.pass, "warn",
                          (json_int_t)c.warn, "fail", (json_int_t)c.fail, "error",
                          (json_int_t)c.error, "results", c.results ? c.results : json_array());
    fp_cli_status_print(cmd, o->status_format, j, code, stdout); /* takes j */
    free(days);
    fp_check_set_free(set);
    return code;
}

static int run_score(const fp_cmd *cmd, void *opts)
{
    check_cli_opts *o = opts;
    fp_err err = {0};
    fp_check_set *set = NULL;
    fp_check_day *days = NULL;
    size_t n = 0;
    json_t *report = NULL;
    fp_code rc = prepare(o, &set, &days, &n, &err);
    if (!rc) {
        fp_check_opts co = {.pg = conninfo(o),
                            .start_ms = days[0].start_ms,
                            .end_ms = days[n - 1].end_ms,
                            .ds = days[0].ds,
                            .only = o->only,
                            .stop = fp_sig_token()};
        rc = fp_check_score_run(set, &co, o->truth, &report, &err);
    }
    int code = rc ? fail(cmd, &err) : 0;
    if (!rc) {
        char *s = json_dumps(report, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
    }
    json_decref(report);
    free(days);
    fp_check_set_free(set);
    return code;
}

static const char parent_usage[] =
    "usage: fleetpipe check run   [--pg CONNINFO] [--checks config/checks] --from DAY [--to DAY]\n"
    "                             [--every hour|day] [--only NAMES] [--status-format json]\n"
    "       fleetpipe check score [--pg CONNINFO] --truth FILE --from DAY [--to DAY]\n"
    "       fleetpipe check notify --alerts FILE --key K --status S ...\n\n"
    "Data-quality checks over the warehouse (docs/checks.md). `fleetpipe help check <sub>`\n"
    "gives each one's options.";

static int run_parent(const fp_cmd *cmd, void *opts)
{
    (void)cmd, (void)opts;
    fprintf(stderr, "fleetpipe check: which subcommand?\n\n%s\n", parent_usage);
    return 2;
}

static const fp_conf_def parent_flags[] = {END_FLAGS};

const fp_cmd fp_cmd_check = {
    "check",
    "data-quality checks: run, score against the simulator's truth, notify",
    parent_usage,
    parent_flags,
    sizeof(check_cli_opts),
    run_parent,
};

const fp_cmd fp_cmd_check_run = {
    "check run",
    "run the checks over local days; results in ops.dq_results, alerts on changes",
    "usage: fleetpipe check run [--pg CONNINFO] [--checks DIR|FILE] --from DAY [--to DAY]\n"
    "                           [--every hour|day] [--only NAMES] [--status-format json]\n\n"
    "Runs every check of config/checks/*.json (or --only those) over each local day of\n"
    "[--from, --to) in the checks' params.timezone, the checks of a file with \"every\": \"hour\"\n"
    "(raw.json) over each hour of those days instead (--every picks one of the two): records\n"
    "one row per check and interval in ops.dq_results (a re-run replaces it) and reports each\n"
    "status to the alerts of the checks' \"alerts\" object. Prints a summary on stderr and\n"
    "the results as JSON on stdout (with --status-format json). Exit 0 when every check passed\n"
    "or warned, 1 when any failed or could not run, 2 on a configuration error. See\n"
    "docs/checks.md.",
    run_flags,
    sizeof(check_cli_opts),
    run_run,
};

const fp_cmd fp_cmd_check_score = {
    "check score",
    "score the raw-data checks against the simulator's ground truth (precision, recall)",
    "usage: fleetpipe check score [--pg CONNINFO] [--checks DIR|FILE] --truth FILE --from DAY\n"
    "                             [--to DAY] [--only NAMES]\n\n"
    "Runs every sql check that names an \"anomaly\" over [--from, --to), takes all of its\n"
    "failing rows and scores them against the truth file of `fleetpipe sim --truth`: prints\n"
    "one JSON object with precision and recall per anomaly kind. Exit 0 when it could score,\n"
    "1 on a database error, 2 on a configuration error. See docs/checks.md, \"Scoring\".",
    score_flags,
    sizeof(check_cli_opts),
    run_score,
};
