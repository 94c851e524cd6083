/* cmd_demo.c — `fleetpipe demo`: the whole front half of the pipeline on one laptop in seconds.
 *
 * Flags and the summary only; the run itself (broker, mosquitto, bridge, fleet, connector, dead
 * letters, Parquet conversion) is fp_stack_demo_run() in stack/demo.h. The summary goes to
 * stderr and reconciles every message; exit 1 when it does not.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "stack/demo.h"

typedef struct demo_opts {
    char *dir, *anomaly_rate, *status_format;
    int64_t vehicles, minutes, seed, tasks;
    bool no_mqtt;
} demo_opts;

static const fp_conf_def demo_flags[] = {
    {"dir", FP_CONF_STRING, "./fleetpipe-demo", offsetof(demo_opts, dir),
     "output directory (cleaned on every run; must be empty or an earlier demo's)", NULL, 0, 0},
    {"vehicles", FP_CONF_INT, "50", offsetof(demo_opts, vehicles), "vehicles", NULL, 1, 100000},
    {"minutes", FP_CONF_INT, "5", offsetof(demo_opts, minutes), "minutes of fleet time", NULL, 1,
     24 * 60},
    {"anomaly-rate", FP_CONF_STRING, "0.03", offsetof(demo_opts, anomaly_rate),
     "share of messages with an injected anomaly (the broken ones become dead letters)", NULL, 0,
     0},
    {"seed", FP_CONF_INT, "1", offsetof(demo_opts, seed), "simulator seed", NULL, 0, 0},
    {"no-mqtt", FP_CONF_BOOL, NULL, offsetof(demo_opts, no_mqtt),
     "skip mosquitto and the bridge: the fleet produces straight into Kafka", NULL, 0, 0},
    {"tasks", FP_CONF_INT, "2", offsetof(demo_opts, tasks), "connector tasks", NULL, 1, 64},
    FP_CLI_STATUS_FLAG(demo_opts),
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static void print_summary(const demo_opts *o, const fp_stack_demo_result *r)
{
    fprintf(stderr, "\nfleetpipe demo summary\n");
    fprintf(stderr, "  devices published     %llu messages, %llu with injected anomalies%s\n",
            (unsigned long long)r->published, (unsigned long long)r->injected,
            r->over_mqtt ? " (over MQTT, QoS 1, each device its own login)"
                         : " (straight to Kafka)");
    if (r->over_mqtt)
        fprintf(stderr,
                "  bridge                %llu forwarded to fms.<object>, %llu dead-lettered "
                "(bad JSON, missing fields), %llu acknowledged\n",
                (unsigned long long)r->bridge_forwarded,
                (unsigned long long)r->bridge_dead_lettered, (unsigned long long)r->bridge_acked);
    fprintf(
        stderr,
        "  connector consumed    %" PRIu64 " records\n"
        "  records in the lake   %ld (in %ld objects, %" PRIu64 " bytes written)\n"
        "  dead letters          %ld (read back from fms.deadletter)\n"
        "  reconciles            %s (published = lake + dead letters)\n"
        "  5-minute aggregates   %" PRIu64 " windows to fms.agg (cargo temperature per vehicle "
        "and zone) from %" PRIu64 " samples; %" PRIu64 " dead-lettered (late or invalid)\n"
        "  Parquet lake          %" PRId64 " rows in %" PRId64 " files (%" PRId64
        " bytes), %" PRId64 " rows failed; rows reconcile: %s\n"
        "  time taken            %.1f s\n\n"
        "Look at:\n"
        "  find %s/raw -name '*.jsonl' | sort | head      # raw/<topic>/dt=/hour=/ objects\n"
        "  head -c 600 $(find %s/raw -name '*.jsonl' | sort | head -1)\n"
        "  jq -c '{\"error.class\", \"error.message\", \"mqtt.topic\", \"source.topic\"}' "
        "%s/deadletters.jsonl | head\n"
        "  jq -c '.value | {window_start, id, zone, temperature}' %s/aggregates.jsonl | head -3\n"
        "  fleetpipe lake cat $(find %s/lake -name '*.parquet' | sort | head -1) | head -3\n"
        "  fleetpipe lake ddl --to %s/lake   # Athena and DuckDB DDL from the catalog\n",
        r->consumed, r->lake_records, r->lake_objects, r->connector_bytes, r->dead_letters,
        r->reconciles ? "yes" : "NO", r->agg_windows, r->agg_samples, r->agg_dead_lettered,
        r->parquet.rows_written, r->parquet.files, r->parquet.bytes, r->parquet.rows_failed,
        r->parquet_ok ? "yes" : "NO", r->seconds, o->dir, o->dir, o->dir, o->dir, o->dir, o->dir);
    if (r->over_mqtt)
        fprintf(stderr, "  %s/mqtt/mosquitto.conf (the broker's config; its log is next to it)\n",
                o->dir);
    if (r->interrupted)
        fprintf(stderr, "(interrupted: the lake holds what was durable when you stopped it)\n");
}

/* The summary's reconciliation numbers (--status-format json). */
static json_t *status_json(const fp_stack_demo_result *r)
{
    json_t *j = json_pack(
        "{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:f}", "over_mqtt", r->over_mqtt, "published",
        (json_int_t)r->published, "injected", (json_int_t)r->injected, "consumed",
        (json_int_t)r->consumed, "lake_records", (json_int_t)r->lake_records, "lake_objects",
        (json_int_t)r->lake_objects, "dead_letters", (json_int_t)r->dead_letters, "reconciles",
        r->reconciles, "interrupted", r->interrupted, "seconds", r->seconds);
    json_object_set_new(j, "bytes", json_integer((json_int_t)r->connector_bytes));
    json_object_set_new(j, "aggregate",
                        json_pack("{s:I,s:I,s:I}", "windows", (json_int_t)r->agg_windows, "samples",
                                  (json_int_t)r->agg_samples, "dead_lettered",
                                  (json_int_t)r->agg_dead_lettered));
    if (r->over_mqtt)
        json_object_set_new(j, "bridge",
                            json_pack("{s:I,s:I,s:I}", "forwarded", (json_int_t)r->bridge_forwarded,
                                      "dead_lettered", (json_int_t)r->bridge_dead_lettered, "acked",
                                      (json_int_t)r->bridge_acked));
    json_object_set_new(
        j, "parquet",
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:b}", "rows_in", (json_int_t)r->parquet.rows_in,
                  "rows_written", (json_int_t)r->parquet.rows_written, "rows_failed",
                  (json_int_t)r->parquet.rows_failed, "files", (json_int_t)r->parquet.files,
                  "bytes", (json_int_t)r->parquet.bytes, "reconciles", r->parquet_ok));
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
                             .tasks = (int)o->tasks,
                             .no_mqtt = o->no_mqtt,
                             .stop = fp_sig_token()};
    fp_stack_demo_result r;
    fp_code drc = fp_stack_demo_run(&so, &r, &err);
    if (drc == FP_ERR_CONFIG)
        return fp_cli_fail(cmd, &err);
    if (drc) {
        fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
        return 1;
    }
    if (r.parquet_err.code)
        fprintf(stderr, "fleetpipe demo: lake: %s\n", r.parquet_err.msg);
    print_summary(o, &r);
    int rc = r.connector_failed || (!r.interrupted && (!r.reconciles || r.parquet_err.code));
    return fp_cli_status_print(cmd, o->status_format, status_json(&r), rc, stdout);
}

const fp_cmd fp_cmd_demo = {
    "demo",
    "simulated fleet -> mosquitto -> bridge -> Kafka -> raw lake -> Parquet lake, on a laptop, "
    "in seconds",
    "usage: fleetpipe demo [--dir ./fleetpipe-demo] [--vehicles 50] [--minutes 5] [--no-mqtt]\n\n"
    "Starts the in-memory Kafka broker in this process and mosquitto as a child process (with\n"
    "the built-in config/mosquitto: per-device passwords, ACL), runs the bridge, lets the\n"
    "simulated fleet publish a few minutes of telemetry over MQTT (with injected anomalies),\n"
    "and runs an objstore connector (all fms.* topics, uncompressed JSON lines, dead letters to\n"
    "fms.deadletter) into --dir, converts that raw lake to per-table Parquet with its catalog\n"
    "(fleetpipe lake convert), then prints a summary that reconciles every message and where\n"
    "to look. Without mosquitto installed (or with --no-mqtt) the fleet produces straight into\n"
    "Kafka. Re-runnable: --dir is cleaned on each run. --status-format json also prints the\n"
    "summary's numbers as one JSON line on stdout (published, injected, bridge.*, consumed,\n"
    "lake_records, lake_objects, bytes, dead_letters, reconciles, parquet.*, seconds).",
    demo_flags,
    sizeof(demo_opts),
    run,
};
