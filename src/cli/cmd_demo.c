/* cmd_demo.c — `fleetpipe demo`: the whole pipeline on one machine, a fleet through it, and one
 * reconciled summary.
 *
 * Flags and the summary only; the run (the stack, the fleet, the waits, the reconciliation) is
 * fp_stack_demo_run() in stack/demo.h. The summary goes to stderr; exit 1 when a store does not
 * reconcile or a stage did not catch up.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "stack/demo.h"

typedef struct demo_opts {
    char *dir, *anomaly_rate, *status_format;
    int64_t vehicles, minutes, seed, timeout_ms;
    bool keep;
} demo_opts;

static const fp_conf_def demo_flags[] = {
    {"dir", FP_CONF_STRING, "./fleetpipe-demo", offsetof(demo_opts, dir),
     "the stack's directory (cleaned on every run; must be empty or an earlier demo's)", NULL, 0,
     0},
    {"vehicles", FP_CONF_INT, "50", offsetof(demo_opts, vehicles), "vehicles", NULL, 1, 100000},
    {"minutes", FP_CONF_INT, "60", offsetof(demo_opts, minutes),
     "minutes of fleet time from 23:30 local two days back (at least 31: across the midnight); "
     "the fleet then sends 10 more minutes from 02:15, which carries the lake's watermark past "
     "the day's last hourly checks",
     NULL, 31, 24 * 60},
    {"anomaly-rate", FP_CONF_STRING, "0.02", offsetof(demo_opts, anomaly_rate),
     "share of messages with an injected anomaly (the broken ones become dead letters)", NULL, 0,
     0},
    {"seed", FP_CONF_INT, "1", offsetof(demo_opts, seed), "simulator seed", NULL, 0, 0},
    {"keep", FP_CONF_BOOL, NULL, offsetof(demo_opts, keep),
     "leave the stack and the web console running (fleetpipe stack down --dir DIR stops it)", NULL,
     0, 0},
    {"timeout", FP_CONF_MS, "5m", offsetof(demo_opts, timeout_ms),
     "how long the stages may take to catch up with the fleet", NULL, 1000, 3600000},
    FP_CLI_STATUS_FLAG(demo_opts),
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static const char *status_of(const json_t *results, const char *check, int64_t *observed)
{
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r)
    {
        if (!strcmp(json_string_value(json_object_get(r, "check")) ?: "", check)) {
            *observed = json_integer_value(json_object_get(r, "observed"));
            return json_string_value(json_object_get(r, "status"));
        }
    }
    return NULL;
}

static void print_summary(const demo_opts *o, const fp_stack_demo_result *r)
{
    FILE *e = stderr;
    fprintf(e, "\nfleetpipe demo summary (local day %s closed; %.0f s)\n", r->day, r->seconds);
    fprintf(e,
            "  fleet                 %" PRIu64 " messages over MQTT, %" PRIu64
            " with injected anomalies (truth in %s/truth.jsonl)\n",
            r->published, r->injected, o->dir);
    fprintf(e,
            "  bridge                %" PRIu64 " forwarded + %" PRIu64 " dead-lettered = %" PRIu64
            " published: %s\n",
            r->forwarded, r->dead_lettered, r->published, r->fleet_reconciles ? "yes" : "NO");
    static const char *const stores[][2] = {
        {"stores.samples",
         "the day's samples per (vehicle, protocol): raw lake = Parquet = PostgreSQL = DynamoDB"},
        {"stores.agg5m", "5-minute cargo aggregates in DynamoDB = recomputed from the lake"},
    };
    for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++) {
        int64_t obs = 0;
        const char *st = status_of(r->stores, stores[i][0], &obs);
        if (st)
            fprintf(e, "  %-21s %s: %s (%" PRId64 " differences)\n", stores[i][0], stores[i][1],
                    !strcmp(st, "pass") ? "yes" : "NO", obs);
    }
    fprintf(e,
            "  redis                 %" PRId64 " vehicles; %" PRId64
            " hold the newest sample time their vehicle sent\n",
            r->redis_vehicles, r->redis_latest_ok);
    fprintf(e, "  marts                 %" PRId64 " rows of mart.vehicle_daily for %s\n",
            r->mart_rows, r->day);
    if (r->checks) {
        fprintf(e,
                "  checks of the day     %" JSON_INTEGER_FORMAT " pass, %" JSON_INTEGER_FORMAT
                " warn, %" JSON_INTEGER_FORMAT " fail, %" JSON_INTEGER_FORMAT " error",
                json_integer_value(json_object_get(r->checks, "pass")),
                json_integer_value(json_object_get(r->checks, "warn")),
                json_integer_value(json_object_get(r->checks, "fail")),
                json_integer_value(json_object_get(r->checks, "error")));
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(r->checks, "failing"), i, c)
            fprintf(e, "%s%s %" JSON_INTEGER_FORMAT, i ? ", " : " (",
                    json_string_value(json_object_get(c, "check")),
                    json_integer_value(json_object_get(c, "observed")));
        fprintf(e, "%s\n", json_array_size(json_object_get(r->checks, "failing")) ? ")" : "");
    }
    if (r->score) {
        fprintf(e, "  found vs injected     the raw checks against the simulator's truth, the "
                   "whole run:\n");
        const char *k;
        json_t *v;
        json_object_foreach(r->score, k, v)
        {
            json_int_t truth = json_integer_value(json_object_get(v, "truth"));
            if (!truth)
                continue;
            json_t *p = json_object_get(v, "precision"), *rc = json_object_get(v, "recall");
            char prec[16] = "-";
            if (json_is_number(p))
                snprintf(prec, sizeof prec, "%.2f", json_number_value(p));
            fprintf(e,
                    "    %-20s %3" JSON_INTEGER_FORMAT " injected, %3" JSON_INTEGER_FORMAT
                    " found: precision %s, recall %.2f\n",
                    k, truth, json_integer_value(json_object_get(v, "true_positive")), prec,
                    json_number_value(rc));
        }
        fprintf(e, "    (out_of_order has no check: docs/checks.md)\n");
    }
    fprintf(e, "\nLook at:\n");
    if (o->keep && r->console)
        fprintf(e, "  %s                  the web console (the stack keeps running)\n", r->console);
    fprintf(e,
            "  fleetpipe stack status --dir %s           every part's health\n"
            "  jq -c '.parts[] | {name, endpoints}' %s/stack.json\n"
            "  ls %s/logs                                    one log per part\n",
            o->dir, o->dir, o->dir);
    if (!o->keep)
        fprintf(e, "  fleetpipe demo --keep                    to explore it in the console\n");
}

static bool reconciles(const fp_stack_demo_result *r)
{
    bool ok =
        r->fleet_reconciles && r->redis_latest_ok == r->redis_vehicles && r->redis_vehicles > 0;
    if (r->stores)
        ok = ok && r->stores_ok;
    return ok;
}

static json_t *status_json(const fp_stack_demo_result *r)
{
    json_t *j = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:b,s:b,s:f}", "day", r->day, "published",
        (json_int_t)r->published, "injected", (json_int_t)r->injected, "forwarded",
        (json_int_t)r->forwarded, "dead_lettered", (json_int_t)r->dead_lettered, "fleet_reconciles",
        r->fleet_reconciles, "redis_vehicles", (json_int_t)r->redis_vehicles, "redis_latest_ok",
        (json_int_t)r->redis_latest_ok, "mart_rows", (json_int_t)r->mart_rows, "stores_ok",
        r->stores_ok, "reconciles", reconciles(r), "seconds", r->seconds);
    json_object_set(j, "stores", r->stores ? r->stores : json_null());
    json_object_set(j, "checks", r->checks ? r->checks : json_null());
    json_object_set(j, "score", r->score ? r->score : json_null());
    json_object_set(j, "stages", r->stages);
    return j;
}

static int run(const fp_cmd *cmd, void *opts)
{
    demo_opts *o = opts;
    fp_err err = {0};
    fp_sig_install();
    char *end;
    double rate = strtod(o->anomaly_rate, &end);
    if (end == o->anomaly_rate || *end || !(rate >= 0 && rate <= 1)) {
        fp_err_set(&err, FP_ERR_CONFIG, "--anomaly-rate %s: expected a number in 0..1",
                   o->anomaly_rate);
        return fp_cli_fail(cmd, &err);
    }
    fp_stack_demo_opts so = {.dir = o->dir,
                             .vehicles = (uint32_t)o->vehicles,
                             .minutes = o->minutes,
                             .anomaly_rate = rate,
                             .seed = (uint64_t)o->seed,
                             .keep = o->keep,
                             .timeout_ms = o->timeout_ms,
                             .stop = fp_sig_token()};
    fp_stack_demo_result r;
    fp_code drc = fp_stack_demo_run(&so, &r, &err);
    if (drc == FP_ERR_CONFIG) {
        fp_stack_demo_result_free(&r);
        return fp_cli_fail(cmd, &err);
    }
    if (drc) {
        fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
        fp_stack_demo_result_free(&r);
        return 1;
    }
    print_summary(o, &r);
    int rc = !reconciles(&r);
    int code = fp_cli_status_print(cmd, o->status_format, status_json(&r), rc, stdout);
    fp_stack_demo_result_free(&r);
    return code;
}

const fp_cmd fp_cmd_demo = {
    "demo",
    "the whole pipeline on this machine with a simulated fleet, every store reconciled",
    "usage: fleetpipe demo [--dir ./fleetpipe-demo] [--vehicles 50] [--minutes 60] [--keep]\n\n"
    "Starts `fleetpipe stack` in --dir (every part supervised: dev broker, mosquitto, Redis,\n"
    "PostgreSQL, s3rver and dynalite when installed, bridge, connectors, lake watch, the\n"
    "warehouse scheduler with the checks, the Fleet API and web console), publishes a simulated\n"
    "fleet over MQTT with injected anomalies across a local midnight two days back, waits for\n"
    "every stage to catch up (the day's daily marts and checks included), and prints one\n"
    "summary: published = forwarded + dead letters; the day's samples equal in the raw lake,\n"
    "Parquet, PostgreSQL and DynamoDB, and the 5-minute aggregates equal to the lake's (the\n"
    "cross-store checks); Redis' newest sample per vehicle equal to what it sent; the day's\n"
    "checks and their precision and recall against the simulator's truth. Without --keep the\n"
    "stack is stopped at the end (its data stays; --dir is cleaned on the next run).\n"
    "--status-format json also prints the numbers as one JSON line on stdout. Exit 1 when a\n"
    "store does not reconcile or a stage did not catch up within --timeout. docs/stack.md.",
    demo_flags,
    sizeof(demo_opts),
    run,
};
