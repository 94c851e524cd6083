/* cmd_check_notify.c — `fleetpipe check notify`: reports one key's status through the alerts
 * config (check/alert.h), waits for delivery and prints what happened: an operator's way to
 * test a webhook config end to end, like amtool's `alert add`.
 *
 * It exits 0 when the report was decided and recorded, whether or not a sink took it (the
 * delivery counts say that); 1 when PostgreSQL failed; 2 on a configuration error.
 */
#include <jansson.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/alert.h"
#include "cli/cli.h"
#include "core/mem.h"
#include "core/time.h"
#include "pg/pg.h"

typedef struct notify_opts {
    char *alerts, *key, *status, *title, *text, *fields, *pg, *status_format, *wait;
} notify_opts;

#define O(f) offsetof(notify_opts, f)
static const fp_conf_def notify_flags[] = {
    {"alerts", FP_CONF_STRING, NULL, O(alerts),
     "JSON file: a checks file with an \"alerts\" object, or the alerts object itself", NULL, 0, 0},
    {"key", FP_CONF_STRING, NULL, O(key), "the key reported (a check and its target, a deadline)",
     NULL, 0, 0},
    {"status", FP_CONF_ENUM, NULL, O(status), "the key's status now", "pass|warn|fail|error", 0, 0},
    {"title", FP_CONF_STRING, "", O(title), "the message's title (default: the key)", NULL, 0, 0},
    {"text", FP_CONF_STRING, "", O(text), "the message's text", NULL, 0, 0},
    {"fields", FP_CONF_STRING, "", O(fields),
     "facts as a JSON object ({\"check\": .., \"target\": .., \"observed\": 3, \"threshold\": ..})",
     NULL, 0, 0},
    {"pg", FP_CONF_STRING, "", O(pg),
     "PostgreSQL connection string (ops.dq_alert_state); default $FLEETPIPE_PG, then libpq's PG* "
     "defaults. Never logged",
     NULL, 0, 0},
    {"wait", FP_CONF_OPTSTRING, NULL, O(wait),
     "how long to wait for delivery before exiting (the rest counts as lost); default the "
     "config's retry_budget + timeout",
     NULL, 0, 0},
    FP_CLI_STATUS_FLAG(notify_opts),
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};
#undef O

static int fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return err->code == FP_ERR_CONFIG ? 2 : 1;
}

/* The alerts object of path (new reference) and the directory its url files are relative to. */
static fp_code load_alerts(const char *path, json_t **out, char **dir, fp_err *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fp_err_set(err, FP_ERR_CONFIG, "--alerts %s: line %d column %d: %s", path, je.line,
                          je.column, je.text);
    json_t *a = json_object_get(root, "alerts");
    if (!json_is_object(a))
        a = root;
    if (!json_is_object(a)) {
        json_decref(root);
        return fp_err_set(err, FP_ERR_CONFIG, "--alerts %s: expected a JSON object", path);
    }
    *out = json_incref(a);
    json_decref(root);
    char *copy = fp_xstrdup(path);
    *dir = fp_xstrdup(dirname(copy));
    free(copy);
    return FP_OK;
}

/* The config's own bound on one message: its retry budget plus one attempt's timeout. */
static int64_t default_wait(const json_t *conf)
{
    int64_t budget = 300000, timeout = 10000, v;
    const char *s = json_string_value(json_object_get(conf, "retry_budget"));
    if (s && !fp_parse_ms(s, &v))
        budget = v;
    else if (json_is_integer(json_object_get(conf, "retry_budget")))
        budget = json_integer_value(json_object_get(conf, "retry_budget"));
    s = json_string_value(json_object_get(conf, "timeout"));
    if (s && !fp_parse_ms(s, &v))
        timeout = v;
    else if (json_is_integer(json_object_get(conf, "timeout")))
        timeout = json_integer_value(json_object_get(conf, "timeout"));
    return budget + timeout;
}

static int run(const fp_cmd *cmd, void *opts)
{
    notify_opts *o = opts;
    fp_err err = {0};
    json_t *conf = NULL, *fields = NULL;
    char *dir = NULL;
    fp_alert *a = NULL;
    fp_pg *pg = NULL;
    if (load_alerts(o->alerts, &conf, &dir, &err))
        return fail(cmd, &err);
    if (o->fields[0]) {
        json_error_t je;
        fields = json_loads(o->fields, 0, &je);
        if (!json_is_object(fields)) {
            json_decref(fields);
            json_decref(conf);
            free(dir);
            fp_err_set(&err, FP_ERR_CONFIG, "--fields: expected a JSON object");
            return fail(cmd, &err);
        }
    }
    fp_code rc = fp_alert_open(conf, dir, &a, &err);
    const char *conninfo = o->pg[0] ? o->pg : getenv("FLEETPIPE_PG");
    if (!rc)
        rc = fp_pg_connect(conninfo ? conninfo : "", "fleetpipe check notify", &pg, &err);
    int64_t report_ms = 0, wait_ms = default_wait(conf);
    if (!rc && o->wait && fp_parse_ms(o->wait, &wait_ms))
        rc = fp_err_set(&err, FP_ERR_CONFIG, "--wait '%s': not a duration (500ms, 30s, 5m)",
                        o->wait);
    if (!rc) {
        int64_t t0 = fp_time_mono_ms();
        rc = fp_alert_report_fields(a, pg, o->key, o->status, o->title[0] ? o->title : o->key,
                                    o->text, fields, &err);
        report_ms = fp_time_mono_ms() - t0;
    }
    int64_t t1 = fp_time_mono_ms();
    fp_alert_flush(a, wait_ms);
    int64_t flush_ms = fp_time_mono_ms() - t1;
    fp_err se = {0};
    if (!rc && fp_alert_sync(a, pg, &se))
        fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, se.msg);
    int code = rc ? fail(cmd, &err) : 0;
    json_t *j = fp_alert_stats_json(a);
    json_object_set_new(j, "report_ms", json_integer(report_ms));
    json_object_set_new(j, "flush_ms", json_integer(flush_ms));
    if (rc)
        json_object_set_new(j, "error", json_string(err.msg));
    if (strcmp(o->status_format, "json")) {
        json_t *sinks = json_object_get(j, "sinks");
        const char *name;
        json_t *s;
        json_object_foreach(sinks, name, s)
        {
            fprintf(stderr, "fleetpipe %s: %s: %lld sent, %lld lost, %lld retries\n", cmd->name,
                    name, (long long)json_integer_value(json_object_get(s, "sent")),
                    (long long)json_integer_value(json_object_get(s, "lost")),
                    (long long)json_integer_value(json_object_get(s, "retries")));
        }
    }
    fp_cli_status_print(cmd, o->status_format, j, code, stdout);
    fp_alert_free(a);
    fp_pg_free(pg);
    json_decref(fields);
    json_decref(conf);
    free(dir);
    return code;
}

const fp_cmd fp_cmd_check_notify = {
    "check notify",
    "report one key's status through the alerts config and wait for delivery (test a webhook)",
    "usage: fleetpipe check notify --alerts FILE --key K --status pass|warn|fail|error\n"
    "                              [--title T] [--text X] [--fields JSON] [--pg CONNINFO]\n"
    "                              [--wait DURATION] [--status-format json]\n\n"
    "Decides against ops.dq_alert_state exactly as `check run` does (fire on a change, repeat\n"
    "after the quiet time, resolved when it passes again; docs/checks.md \"Alerts\"), queues\n"
    "the message, waits up to --wait for the sinks and prints the decision and delivery counts\n"
    "(with --status-format json one JSON line on stdout). Exit 0 even when no sink took the\n"
    "message; 1 when PostgreSQL failed; 2 on a configuration error. The webhook URLs are read\n"
    "from their files and never printed.",
    notify_flags,
    sizeof(notify_opts),
    run,
};
