/* demo.c — `fleetpipe demo`'s run (see demo.h): the stack, a fleet, every stage waited for, one
 * reconciled summary.
 *
 * The fleet runs twice with one seed, which gives the same bytes: into DIR/sent.jsonl with the
 * truth file (what was sent, for the Redis comparison and the score), then over MQTT into the
 * stack with each device's own login. Its time starts at 23:30 local two days back, so the
 * stretch crosses a local midnight that is long past: the scheduler's loads, hourly partials,
 * daily marts and checks of that day can all run (the lake's watermark passes the day's end).
 * Spoofed topics are left out: mosquitto answers them by dropping the device's connection, and
 * the resends would blur the exact count (tests/integration/mqtt_security.sh covers them).
 *
 * Each stage is waited for by what it says about itself: the bridge's counters on /metrics,
 * every connector RUNNING with no lag (the connect REST API), lake watch's lag, the day's runs
 * of marts_daily and checks_daily in ops.runs. The summary then runs the cross-store checks
 * (docs/checks.md, "Cross-store reconciliation") over the day with the stack's endpoints, reads
 * the scheduler's results of the day from ops.dq_results, scores the raw checks against the
 * truth, and compares each vehicle's Redis hash with the newest sample time the fleet sent.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check/check.h"
#include "connect/status_client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "ops/scrape.h"
#include "pg/pg.h"
#include "redis/client.h"
#include "sim/provision.h"
#include "sim/run.h"
#include "sim/sim.h"
#include "stack/demo.h"
#include "stack/stack.h"

#define WHO "demo"
#define MARKER ".fleetpipe-demo"
#define DAY_MS ((int64_t)86400 * 1000)
#define POLL_MS 500
/* The fleet's time zone, Asia/Seoul (+09:00, no DST): the simulator's local time and the marts'
 * params.timezone. */
#define LOCAL_OFFSET_MS ((int64_t)9 * 3600 * 1000)

static int rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -1;
        struct dirent *de;
        int rc = 0;
        while (rc == 0 && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            fp_buf p = FP_BUF_INIT;
            fp_buf_printf(&p, "%s/%s", path, de->d_name);
            rc = rm_tree(p.p);
            fp_buf_free(&p);
        }
        closedir(d);
        return rc ? rc : rmdir(path);
    }
    return unlink(path);
}

/* Makes dir an empty demo directory; refuses to clean a directory the demo did not make. A
 * stack an earlier demo left running there (--keep) is stopped first. */
static fp_code prepare_dir(const char *dir, fp_err *err)
{
    DIR *d = opendir(dir);
    if (d) {
        bool ours = false, empty = true;
        struct dirent *de;
        for (de = readdir(d); de; de = readdir(d)) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            empty = false;
            ours = ours || !strcmp(de->d_name, MARKER);
        }
        closedir(d);
        if (!empty && !ours)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s exists and is not a fleetpipe demo directory; give --dir", dir);
        json_t *info = NULL, *rep = NULL;
        fp_err e = {0};
        if (!empty && !fp_stack_load(dir, &info, &e)) {
            fp_log(FP_LOG_INFO, WHO, -1, "stopping the stack an earlier demo left in %s", dir);
            fp_stack_down(dir, 0, &rep, &e);
        }
        json_decref(info);
        json_decref(rep);
        if (rm_tree(dir) != 0)
            return fp_err_set(err, FP_ERR_IO, "cleaning %s: %s", dir, strerror(errno));
    }
    if (mkdir(dir, 0777) != 0)
        return fp_err_set(err, FP_ERR_IO, "mkdir %s: %s", dir, strerror(errno));
    fp_buf m = FP_BUF_INIT;
    fp_buf_printf(&m, "%s/" MARKER, dir);
    FILE *f = fopen(m.p, "w");
    fp_buf_free(&m);
    if (!f)
        return fp_err_set(err, FP_ERR_IO, "%s: cannot write the marker file", dir);
    fputs("made by fleetpipe demo; the next run deletes this directory's contents\n", f);
    fclose(f);
    return FP_OK;
}

/* ---- stack.json */

/* parts[name].endpoints[key] as a string, NULL when the part is off or has none. */
static const char *endpoint(const json_t *info, const char *part, const char *key)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(info, "parts"), i, p)
    {
        if (!strcmp(json_string_value(json_object_get(p, "name")) ?: "", part))
            return json_string_value(json_object_get(json_object_get(p, "endpoints"), key));
    }
    return NULL;
}

/* ---- the fleet */

/* One run of the simulator. */
typedef struct phase {
    int64_t start_ms, end_ms; /* fleet time */
    uint32_t vehicles;
    double anomaly_rate;
} phase;

typedef struct fleet {
    /* the fleet (23:30 local for --minutes), then a clean tail: the same vehicles at 02:15
     * local for 10 minutes, whose samples carry the lake's watermark past 02:00, which the
     * day's last hourly checks need (they read 10 minutes past the day, those hours' partials
     * 10 minutes further, and an hour is loaded once the watermark passes its end). The
     * watermark is the minimum over the raw lake's sources (topic partitions) of their newest
     * event time - 10 min, so every partition the fleet wrote must move: every vehicle, every
     * protocol (the 5-minute blackbox status too). A real fleet sends on through the night;
     * the demo needs only that much of it. */
    phase run[2];
    char day[11];         /* the local day that closes */
    int64_t day_start_ms; /* its 00:00 local, UTC ms */
} fleet;

/* Two local days before today's. */
static void fleet_times(const fp_stack_demo_opts *o, fleet *f)
{
    int64_t local_day = (fp_time_now_ms() + LOCAL_OFFSET_MS) / DAY_MS - 2;
    f->day_start_ms = local_day * DAY_MS - LOCAL_OFFSET_MS;
    int64_t midnight = f->day_start_ms + DAY_MS;
    f->run[0] = (phase){midnight - 30 * 60000, midnight - 30 * 60000 + o->minutes * 60000,
                        o->vehicles, o->anomaly_rate};
    f->run[1] = (phase){midnight + 135 * 60000, midnight + 145 * 60000, o->vehicles, 0};
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(local_day * DAY_MS, &b);
    snprintf(f->day, sizeof f->day, "%.10s", b.p);
    fp_buf_free(&b);
}

/* One phase of the fleet: to the file out (with the truth into truth) when mqtt is NULL, else
 * over MQTT with each device's login from creds. */
static fp_code run_phase(const fp_stack_demo_opts *o, const phase *f, FILE *out, FILE *truth,
                         const char *mqtt, const char *creds_path, fp_sim_summary *sum, fp_err *err)
{
    fp_sim_registry *reg = fp_sim_registry_load(NULL, err);
    if (!reg)
        return err->code;
    fp_sim_conf conf = {.reg = reg,
                        .seed = o->seed,
                        .fleet_size = f->vehicles,
                        .start_ms = f->start_ms,
                        .anomaly_rate = f->anomaly_rate};
    fp_sim_anomaly_parse("all", &conf.anomaly_mask, NULL);
    conf.anomaly_mask &= ~(1u << FP_SIM_ANOM_SPOOFED_TOPIC);
    fp_sim_run_opts ro = {.conf = &conf,
                          .stop = o->stop,
                          .vehicles = f->vehicles,
                          .end_ms = f->end_ms,
                          .threads = 1,
                          .target = mqtt ? FP_SIM_TO_MQTT : FP_SIM_TO_FILE,
                          .out = out,
                          .truth = truth};
    fp_sim_credentials *creds = NULL;
    fp_code rc = FP_OK;
    char host[256] = "";
    int port = 0;
    if (mqtt) {
        if (sscanf(mqtt, "mqtt://%255[^:]:%d", host, &port) != 2)
            rc = fp_err_set(err, FP_ERR_CONFIG, "stack.json: mosquitto at %s", mqtt);
        else if (!(creds = fp_sim_credentials_load(creds_path, err)))
            rc = err->code;
        ro.mqtt = (fp_sim_mqtt_conf){
            .host = host, .port = port, .credentials = creds, .max_inflight = 100};
    }
    if (!rc)
        rc = fp_sim_run(&ro, sum, err);
    if (!rc && sum->failed)
        rc = fp_err_set(err, FP_ERR_IO, "%llu messages were not acknowledged",
                        (unsigned long long)sum->failed);
    fp_sim_credentials_free(creds);
    fp_sim_registry_free(reg);
    return rc;
}

/* Phases [from, to); published and injected added up. */
static fp_code run_fleet(const fp_stack_demo_opts *o, const fleet *f, int from, int to, FILE *out,
                         FILE *truth, const char *mqtt, const char *creds_path, uint64_t *published,
                         uint64_t *injected, fp_err *err)
{
    fp_code rc = FP_OK;
    for (int i = from; i < to && !rc; i++) {
        fp_sim_summary sum = {0};
        rc = run_phase(o, &f->run[i], out, truth, mqtt, creds_path, &sum, err);
        *published += sum.published;
        for (int a = 1; a < FP_SIM_ANOM_COUNT; a++)
            *injected += sum.anomalies[a];
        free(sum.messages);
        free(sum.samples);
    }
    return rc;
}

/* ---- waiting for the stages */

typedef struct waiter {
    const fp_stack_demo_opts *o;
    const json_t *info;
    const fleet *f;
    uint64_t published;
    fp_scrape_conn *http;
    fp_scrape_page page;
    fp_buf body;
    fp_pg *pg;
    char why[1200]; /* what the last poll saw, for a timeout's message */
    uint64_t forwarded, dead_lettered;
} waiter;

/* The sum of metric name on the page at url; false when it cannot be read. */
static bool metric(waiter *w, const char *url, const char *name, double *v)
{
    fp_err e = {0};
    int found = 0;
    if (!url || fp_scrape_get(w->http, url, 5000, &w->body, &e) ||
        fp_scrape_parse(w->body.p, w->body.len, &w->page, &e)) {
        snprintf(w->why, sizeof w->why, "%s: %s", url ? url : "(no endpoint)", e.msg);
        return false;
    }
    *v = fp_scrape_sum(&w->page, name, NULL, &found);
    if (!found)
        snprintf(w->why, sizeof w->why, "%s: no %s", url, name);
    return found;
}

static bool bridge_done(waiter *w)
{
    const char *url = endpoint(w->info, "bridge", "metrics");
    double fw, dl;
    if (!metric(w, url, "fleetpipe_bridge_records_forwarded_total", &fw) ||
        !metric(w, url, "fleetpipe_bridge_records_dead_lettered_total", &dl))
        return false;
    w->forwarded = (uint64_t)fw;
    w->dead_lettered = (uint64_t)dl;
    snprintf(w->why, sizeof w->why, "bridge: %.0f forwarded + %.0f dead-lettered of %" PRIu64, fw,
             dl, w->published);
    return w->forwarded + w->dead_lettered >= w->published;
}

static bool connect_idle(waiter *w)
{
    fp_connect_status_opts so = {.rest = endpoint(w->info, "connect", "rest"), .timeout_ms = 5000};
    fp_connect_status_row *rows = NULL;
    size_t n = 0;
    fp_err e = {0};
    if (!so.rest || fp_connect_status_fetch(&so, &rows, &n, &e)) {
        snprintf(w->why, sizeof w->why, "connect: %s", so.rest ? e.msg : "not in the stack");
        return false;
    }
    bool idle = n > 0;
    for (size_t i = 0; i < n && idle; i++)
        if (strcmp(rows[i].state, "RUNNING") || rows[i].running != rows[i].tasks ||
            rows[i].lag != 0) {
            snprintf(w->why, sizeof w->why, "connect: %s %s, %zu/%zu tasks running, lag %.0f",
                     rows[i].name, rows[i].state, rows[i].running, rows[i].tasks, rows[i].lag);
            idle = false;
        }
    fp_connect_status_rows_free(rows, n);
    return idle;
}

static bool lake_idle(waiter *w)
{
    double lag;
    if (!metric(w, endpoint(w->info, "lake-watch", "metrics"), "fleetpipe_lake_consumer_lag", &lag))
        return false;
    snprintf(w->why, sizeof w->why, "lake watch: lag %.0f", lag);
    return lag == 0;
}

/* The day's marts_daily and checks_daily runs all succeeded; a failed one fails the wait. */
static bool day_done(waiter *w, fp_err *err)
{
    fp_err e = {0};
    if (!w->pg &&
        fp_pg_connect(endpoint(w->info, "postgres", "pg"), "fleetpipe demo", &w->pg, &e)) {
        snprintf(w->why, sizeof w->why, "postgresql: %s", e.msg);
        return false;
    }
    char start[32];
    snprintf(start, sizeof start, "%" PRId64, w->f->day_start_ms);
    const char *p[] = {start};
    PGresult *res = NULL;
    if (fp_pg_query(w->pg,
                    "SELECT count(*) FILTER (WHERE state = 'success'), count(*) FILTER (WHERE "
                    "state IN ('failed', 'upstream_failed')), count(*) FROM ops.runs WHERE (dag "
                    "IN ('marts_daily', 'checks_daily') AND interval_start = "
                    "to_timestamp($1::bigint / 1000.0)) OR (dag = 'checks_hourly' AND "
                    "interval_start >= to_timestamp($1::bigint / 1000.0) AND interval_start < "
                    "to_timestamp($1::bigint / 1000.0) + interval '1 day')",
                    1, p, &res, &e)) {
        snprintf(w->why, sizeof w->why, "ops.runs: %s", e.msg);
        if (fp_pg_broken(w->pg)) {
            fp_pg_free(w->pg);
            w->pg = NULL;
        }
        return false;
    }
    long ok = atol(PQgetvalue(res, 0, 0)), failed = atol(PQgetvalue(res, 0, 1)),
         all = atol(PQgetvalue(res, 0, 2));
    PQclear(res);
    snprintf(w->why, sizeof w->why,
             "warehouse: %ld of the day's %ld runs of its daily marts and its checks done", ok,
             all);
    if (failed)
        fp_err_set(err, FP_ERR_IO,
                   "warehouse: %ld of the day's daily runs failed (fleetpipe warehouse status "
                   "--pg ...; DIR/logs/scheduler.log)",
                   failed);
    /* marts_daily's three tasks, checks_daily's one, and the day's 24 hourly checks */
    return all >= 28 && ok == all;
}

typedef bool (*stage_fn)(waiter *w);

/* Polls fn until it holds, twice in a row when twice (a count that can still move). */
static fp_code wait_stage(waiter *w, const char *name, stage_fn fn, bool twice, int64_t deadline,
                          json_t *stages, int64_t t0, fp_err *err)
{
    int held = 0;
    int64_t next_log = fp_time_mono_ms() + 10000;
    while (held < (twice ? 2 : 1)) {
        held = fn(w) ? held + 1 : 0;
        if (held >= (twice ? 2 : 1))
            break;
        if (fp_time_mono_ms() > deadline)
            return fp_err_set(err, FP_ERR_IO, "%s did not catch up in time: %s", name, w->why);
        if (fp_time_mono_ms() > next_log) {
            fp_log(FP_LOG_INFO, WHO, -1, "waiting for %s: %s", name, w->why);
            next_log += 10000;
        }
        if (!fp_stop_sleep_ms(w->o->stop, POLL_MS))
            return fp_err_set(err, FP_ERR_IO, "interrupted while waiting for %s", name);
    }
    double s = (double)(fp_time_mono_ms() - t0) / 1000.0;
    json_object_set_new(stages, name, json_real(s));
    fp_log(FP_LOG_INFO, WHO, -1, "%s caught up after %.1f s: %s", name, s, w->why);
    return FP_OK;
}

static bool day_done_stage(waiter *w)
{
    fp_err e = {0};
    bool done = day_done(w, &e);
    if (e.code)
        snprintf(w->why, sizeof w->why, "%s", e.msg);
    return done;
}

/* ---- the summary */

/* The cross-store checks over the day, with the stack's endpoints (DIR/checks/stores.json). */
static fp_code stores_checks(const json_t *info, const fleet *f, const char *dir,
                             fp_stack_demo_result *res, fp_err *err)
{
    const char *s3 = endpoint(info, "s3rver", "s3"), *ddb = endpoint(info, "dynalite", "dynamodb");
    const char *raw = endpoint(info, "connect", "raw_lake"),
               *lake = endpoint(info, "lake-watch", "lake");
    if (!raw || !lake)
        return fp_err_set(err, FP_ERR_IO, "stack.json names no raw lake or Parquet lake");
    json_t *rawj =
        s3 ? json_pack("{s:s,s:s,s:s}", "url", raw, "endpoint", s3, "region", "us-east-1")
           : json_string(raw);
    json_t *lakej =
        s3 ? json_pack("{s:s,s:s,s:s}", "url", lake, "endpoint", s3, "region", "us-east-1")
           : json_string(lake);
    json_t *samples = json_pack("{s:o,s:o,s:b}", "raw", rawj, "lake", lakej, "postgresql", 1);
    json_t *checks = json_array();
    if (ddb)
        json_object_set_new(
            samples, "dynamodb",
            json_pack("{s:s,s:s,s:s}", "endpoint", ddb, "table", "fms", "region", "us-east-1"));
    json_array_append_new(checks,
                          json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:[sss]}}", "name", "stores.samples",
                                    "kind", "reconcile", "target", "lake.vehicle_kinematic",
                                    "stores", samples, "params", "compare", "counts", "tables",
                                    "vehicle_kinematic", "vehicle_status", "cargo_temperature"));
    if (ddb)
        json_array_append_new(
            checks,
            json_pack("{s:s,s:s,s:s,s:{s:b,s:{s:s,s:s,s:s}},s:{s:s,s:s,s:s,s:s,s:s}}", "name",
                      "stores.agg5m", "kind", "reconcile", "target", "lake.cargo_temperature",
                      "stores", "postgresql", 1, "dynamodb", "endpoint", ddb, "table", "fms",
                      "region", "us-east-1", "params", "compare", "aggregates", "field",
                      "temperature", "group", "zone", "window", "5m", "pk_suffix", "#5m"));
    json_t *set = json_pack("{s:s,s:{s:s},s:o}", "description",
                            "fleetpipe demo: cross-store reconciliation of the demo's stack",
                            "params", "timezone", "Asia/Seoul", "checks", checks);
    fp_buf path = FP_BUF_INIT;
    fp_buf_printf(&path, "%s/checks", dir);
    mkdir(path.p, 0777);
    fp_buf_puts(&path, "/stores.json");
    fp_code rc = json_dump_file(set, path.p, JSON_INDENT(2))
                     ? fp_err_set(err, FP_ERR_IO, "%s: cannot write", path.p)
                     : FP_OK;
    json_decref(set);
    fp_check_set *cs = NULL;
    if (!rc)
        rc = fp_check_set_load(path.p, &cs, err);
    fp_buf_free(&path);
    if (rc)
        return rc;
    /* The lake's S3 and DynamoDB: the stack's parts take any key (s3rver, dynalite). */
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 0);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 0);
    fp_check_opts co = {.pg = endpoint(info, "postgres", "pg"),
                        .start_ms = f->day_start_ms,
                        .end_ms = f->day_start_ms + DAY_MS,
                        .ds = f->day};
    fp_check_counts cc = {0};
    rc = fp_check_run(cs, &co, &cc, err);
    fp_check_set_free(cs);
    res->stores = cc.results ? cc.results : json_array();
    res->stores_ok = !rc && cc.checks > 0 && cc.pass == cc.checks;
    return rc;
}

/* The scheduler's results for the day: counts per status and the checks that did not pass. */
static fp_code day_results(fp_pg *pg, const fleet *f, fp_stack_demo_result *res, fp_err *err)
{
    char start[32], end[32];
    snprintf(start, sizeof start, "%" PRId64, f->day_start_ms);
    snprintf(end, sizeof end, "%" PRId64, f->day_start_ms + DAY_MS);
    const char *p[] = {start, end};
    PGresult *r = NULL;
    fp_code rc = fp_pg_query(
        pg,
        "SELECT check_name, CASE WHEN bool_or(status = 'error') THEN 'error' WHEN bool_or(status "
        "= 'fail') THEN 'fail' WHEN bool_or(status = 'warn') THEN 'warn' ELSE 'pass' END, "
        "coalesce(sum(observed), 0) FROM ops.dq_results WHERE interval_start >= "
        "to_timestamp($1::bigint / 1000.0) AND interval_end <= to_timestamp($2::bigint / "
        "1000.0) AND check_name NOT LIKE 'stores.%' GROUP BY check_name ORDER BY check_name",
        2, p, &r, err);
    if (rc)
        return rc;
    json_t *failing = json_array();
    res->checks = json_pack("{s:i,s:i,s:i,s:i}", "pass", 0, "warn", 0, "fail", 0, "error", 0);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *st = PQgetvalue(r, i, 1);
        json_object_set_new(res->checks, st,
                            json_integer(json_integer_value(json_object_get(res->checks, st)) + 1));
        if (strcmp(st, "pass"))
            json_array_append_new(failing, json_pack("{s:s,s:s,s:I}", "check", PQgetvalue(r, i, 0),
                                                     "status", st, "observed",
                                                     (json_int_t)atoll(PQgetvalue(r, i, 2))));
    }
    PQclear(r);
    json_object_set_new(res->checks, "failing", failing);
    int64_t v = 0;
    char day[16];
    snprintf(day, sizeof day, "%s", f->day);
    const char *dp[] = {day};
    if (!fp_pg_query_int(pg, "SELECT count(*) FROM mart.vehicle_daily WHERE day = $1::date", 1, dp,
                         &v, err))
        res->mart_rows = v;
    return FP_OK;
}

/* The raw checks' findings against the truth file (check score), over the whole run and up to
 * now: the fleet's messages (from 23:30 the day before the day that closes) and the dead letters,
 * which are counted by arrival (received_at: the wall clock, two days after the fleet's time). */
static fp_code score(const json_t *info, const fleet *f, const char *truth,
                     fp_stack_demo_result *res, fp_err *err)
{
    const char *home = json_string_value(json_object_get(info, "home"));
    fp_buf dir = FP_BUF_INIT;
    fp_buf_printf(&dir, "%s/config/checks", home ? home : ".");
    fp_check_set *cs = NULL;
    fp_code rc = fp_check_set_load(dir.p, &cs, err);
    fp_buf_free(&dir);
    if (rc)
        return rc;
    fp_check_opts co = {.pg = endpoint(info, "postgres", "pg"),
                        .start_ms = f->day_start_ms - DAY_MS,
                        .end_ms = fp_time_now_ms() + 3600000,
                        .ds = f->day};
    json_t *rep = NULL;
    rc = fp_check_score_run(cs, &co, truth, &rep, err);
    fp_check_set_free(cs);
    if (!rc) {
        res->score = json_incref(json_object_get(rep, "kinds"));
        if (!res->score)
            res->score = json_incref(rep);
    }
    json_decref(rep);
    return rc;
}

/* A message's key for the dead-letter lookup: "<id> <seq> <object> <type>" of o's members
 * id_key (the truth says vehicle_id, a message id), seq, object and type. */
static void msg_key(const json_t *o, const char *id_key, char *k, size_t n)
{
    snprintf(k, n, "%" JSON_INTEGER_FORMAT " %" JSON_INTEGER_FORMAT " %s %s",
             json_integer_value(json_object_get(o, id_key)),
             json_integer_value(json_object_get(o, "seq")),
             json_string_value(json_object_get(o, "object")) ?: "",
             json_string_value(json_object_get(o, "type")) ?: "");
}

/* "id seq object type" of every message the truth file marks as dead-lettered. */
static json_t *dead_letters(const char *truth)
{
    json_t *set = json_object();
    FILE *f = fopen(truth, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_t *t = json_loads(line, 0, NULL);
        if (t && json_is_true(json_object_get(t, "dead_letter"))) {
            char k[160];
            msg_key(t, "vehicle_id", k, sizeof k);
            json_object_set_new(set, k, json_true());
        }
        json_decref(t);
    }
    free(line);
    if (f)
        fclose(f);
    return set;
}

/* Redis' vehicle:<id> ts against the newest sample time each vehicle sent (the messages the
 * bridge forwarded: those the truth marks as dead letters are left out). */
static fp_code redis_latest(const json_t *info, const char *sent, const char *truth,
                            fp_stack_demo_result *res, fp_err *err)
{
    fp_redis_url u = {0};
    redisContext *rc = NULL;
    const char *url = endpoint(info, "redis", "redis");
    if (!url)
        return fp_err_set(err, FP_ERR_IO, "stack.json names no redis");
    fp_code code = fp_redis_url_parse(url, &u, err);
    if (!code)
        code = fp_redis_open(&u, 3000, 5000, &rc, err);
    fp_redis_url_free(&u);
    if (code)
        return code;
    json_t *dead = dead_letters(truth), *newest = json_object();
    FILE *f = fopen(sent, "r");
    char *line = NULL;
    size_t cap = 0;
    fp_time_iso_cache tc = {0};
    while (f && getline(&line, &cap, f) > 0) {
        json_t *m = json_loads(line, 0, NULL), *ms = json_object_get(m, "measurements");
        char k[160], id[32];
        json_int_t vid = json_integer_value(json_object_get(m, "id"));
        msg_key(m, "id", k, sizeof k);
        snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, vid);
        size_t i;
        json_t *s;
        /* a message without its envelope (missing_field) is a dead letter too */
        if (m && json_is_array(ms) && vid > 0 && json_is_string(json_object_get(m, "device_id")) &&
            json_is_string(json_object_get(m, "messaged_at")) && !json_object_get(dead, k) &&
            (!strcmp(json_string_value(json_object_get(m, "object")) ?: "", "vehicle") ||
             !strcmp(json_string_value(json_object_get(m, "object")) ?: "", "cargo")))
            json_array_foreach(ms, i, s)
            {
                const char *t = json_string_value(json_object_get(s, "timestamp_iso"));
                int64_t ms_t;
                if (t && !fp_time_parse_iso_cached(&tc, t, strlen(t), &ms_t, NULL) &&
                    ms_t > json_integer_value(json_object_get(newest, id)))
                    json_object_set_new(newest, id, json_integer(ms_t));
            }
        json_decref(m);
    }
    free(line);
    if (f)
        fclose(f);
    redisReply *r = redisCommand(rc, "ZCARD fleet:vehicles");
    res->redis_vehicles = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    const char *id;
    json_t *v;
    json_object_foreach(newest, id, v)
    {
        r = redisCommand(rc, "HGET vehicle:%s ts", id);
        if (r && r->type == REDIS_REPLY_STRING &&
            strtoll(r->str, NULL, 10) == json_integer_value(v))
            res->redis_latest_ok++;
        else
            fp_log(FP_LOG_WARN, WHO, -1,
                   "redis vehicle:%s ts %s, the newest sample sent %" JSON_INTEGER_FORMAT, id,
                   r && r->type == REDIS_REPLY_STRING ? r->str : "(none)", json_integer_value(v));
        freeReplyObject(r);
    }
    int64_t sent_vehicles = (int64_t)json_object_size(newest);
    json_decref(dead);
    json_decref(newest);
    redisFree(rc);
    if (sent_vehicles != res->redis_vehicles)
        fp_log(FP_LOG_WARN, WHO, -1, "redis holds %" PRId64 " vehicles, the fleet sent %" PRId64,
               res->redis_vehicles, sent_vehicles);
    return FP_OK;
}

/* ---- the run */

fp_code fp_stack_demo_run(const fp_stack_demo_opts *o, fp_stack_demo_result *res, fp_err *err)
{
    memset(res, 0, sizeof *res);
    res->stages = json_object();
    int64_t t0 = fp_time_mono_ms();
    fp_code rc = prepare_dir(o->dir, err);
    if (rc)
        return rc;
    char dir[PATH_MAX];
    if (!realpath(o->dir, dir))
        return fp_err_set(err, FP_ERR_IO, "%s: %s", o->dir, strerror(errno));
    fleet f;
    fleet_times(o, &f);
    snprintf(res->day, sizeof res->day, "%s", f.day);

    /* What the fleet sends, and the truth, before the stack starts. */
    fp_buf sent = FP_BUF_INIT, truth = FP_BUF_INIT;
    fp_buf_printf(&sent, "%s/sent.jsonl", dir);
    fp_buf_printf(&truth, "%s/truth.jsonl", dir);
    FILE *sf = fopen(sent.p, "w"), *tf = fopen(truth.p, "w");
    uint64_t n_sent = 0, n_anom = 0;
    if (!sf || !tf)
        rc = fp_err_set(err, FP_ERR_IO, "%s: cannot write", !sf ? sent.p : truth.p);
    else
        rc = run_fleet(o, &f, 0, 2, sf, tf, NULL, NULL, &n_sent, &n_anom, err);
    if (sf)
        fclose(sf);
    if (tf)
        fclose(tf);
    if (rc)
        goto out;

    json_t *info = NULL;
    fp_stack_opts so = {
        .dir = dir, .vehicles = o->vehicles, .warehouse_start = f.day, .stop = o->stop};
    fp_log(FP_LOG_INFO, WHO, -1, "starting the stack in %s (fleetpipe stack up)", dir);
    if ((rc = fp_stack_up(&so, &info, err)))
        goto out;
    json_object_set_new(res->stages, "stack", json_real((double)(fp_time_mono_ms() - t0) / 1000.0));
    const char *console = json_string_value(json_object_get(info, "console"));
    res->console = console ? fp_xstrdup(console) : NULL;

    /* The night's first hour, into every store, before the tail moves the lake's watermark: a
     * partition the lake has not seen yet cannot hold the watermark back (docs/lake.md), so a
     * tail converted before the hour would let the scheduler load the day half-converted. */
    const char *mqtt = endpoint(info, "mosquitto", "mqtt");
    const char *creds = endpoint(info, "mosquitto", "device_credentials");
    waiter w = {.o = o, .info = info, .f = &f, .http = fp_scrape_conn_new()};
    int64_t deadline = fp_time_mono_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 300000);
    bool pg = endpoint(info, "postgres", "pg") != NULL;
    rc = run_fleet(o, &f, 0, 1, NULL, NULL, mqtt, creds, &res->published, &res->injected, err);
    if (rc) {
        fp_err_prefix(err, "fleet");
        goto waited;
    }
    json_object_set_new(res->stages, "fleet", json_real((double)(fp_time_mono_ms() - t0) / 1000.0));
    fp_log(FP_LOG_INFO, WHO, -1,
           "%u vehicles published %" PRIu64 " messages (%s 23:30 local for %" PRId64
           " minutes, %" PRIu64 " anomalies)",
           o->vehicles, res->published, f.day, o->minutes, res->injected);
    w.published = res->published;
    if ((rc = wait_stage(&w, "bridge", bridge_done, false, deadline, res->stages, t0, err)) ||
        (rc = wait_stage(&w, "connectors", connect_idle, true, deadline, res->stages, t0, err)) ||
        (rc = wait_stage(&w, "lake watch", lake_idle, true, deadline, res->stages, t0, err)))
        goto waited;
    rc = run_fleet(o, &f, 1, 2, NULL, NULL, mqtt, creds, &res->published, &res->injected, err);
    if (rc) {
        fp_err_prefix(err, "fleet, 02:15");
        goto waited;
    }
    json_object_set_new(res->stages, "fleet 02:15",
                        json_real((double)(fp_time_mono_ms() - t0) / 1000.0));
    w.published = res->published;
    if ((rc = wait_stage(&w, "bridge 02:15", bridge_done, false, deadline, res->stages, t0, err)) ||
        (rc =
             wait_stage(&w, "lake watch 02:15", lake_idle, true, deadline, res->stages, t0, err)) ||
        (pg && (rc = wait_stage(&w, "warehouse", day_done_stage, false, deadline, res->stages, t0,
                                err))) ||
        (rc = wait_stage(&w, "connectors 02:15", connect_idle, true, deadline, res->stages, t0,
                         err)))
        goto waited;
    res->forwarded = w.forwarded;
    res->dead_lettered = w.dead_lettered;
    res->fleet_reconciles = res->published == res->forwarded + res->dead_lettered;
    if (pg && ((rc = stores_checks(info, &f, dir, res, err)) ||
               (rc = day_results(w.pg, &f, res, err)) || (rc = score(info, &f, truth.p, res, err))))
        goto waited;
    rc = redis_latest(info, sent.p, truth.p, res, err);
waited:
    res->interrupted = fp_stop_requested(o->stop);
    fp_scrape_conn_free(w.http);
    fp_scrape_page_free(&w.page);
    fp_buf_free(&w.body);
    fp_pg_free(w.pg);
    if (!o->keep || rc) {
        fp_stop_reset(o->stop);
        json_t *rep = NULL;
        fp_err de = {0};
        fp_log(FP_LOG_INFO, WHO, -1, "stopping the stack (its data stays in %s)", dir);
        if (fp_stack_down(dir, 0, &rep, &de))
            fp_log(FP_LOG_WARN, WHO, -1, "stack down: %s", de.msg);
        json_decref(rep);
    }
    json_decref(info);
out:
    fp_buf_free(&sent);
    fp_buf_free(&truth);
    res->seconds = (double)(fp_time_mono_ms() - t0) / 1000.0;
    return rc;
}

void fp_stack_demo_result_free(fp_stack_demo_result *res)
{
    json_decref(res->stores);
    json_decref(res->checks);
    json_decref(res->score);
    json_decref(res->stages);
    free(res->console);
    memset(res, 0, sizeof *res);
}
