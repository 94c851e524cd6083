/* cmd_loadtest.c — `fleetpipe loadtest`: flags, the plan's lists, one fp_stack_loadtest_run()
 * call, and a one-line-per-step summary. The run, the analysis and the reports are
 * stack/loadtest*.c (docs/loadtest.md).
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "stack/loadtest.h"

typedef struct loadtest_opts {
    char *vehicles, *replay, *multiply, *stack, *endpoints, *out, *status_format;
    int64_t step, drain, latency_target_ms, lag_bound, seed, sim_threads;
} loadtest_opts;

static const fp_conf_def loadtest_flags[] = {
    {"vehicles", FP_CONF_STRING, "1000,3000,10000", offsetof(loadtest_opts, vehicles),
     "fleet size per step, ascending, comma-separated", NULL, 0, 0},
    {"step", FP_CONF_MS, "60s", offsetof(loadtest_opts, step), "duration of each step", NULL, 5000,
     INT64_MAX},
    {"drain", FP_CONF_MS, "60s", offsetof(loadtest_opts, drain),
     "after the last step: how long to wait for every lag to reach 0", NULL, 0, INT64_MAX},
    {"replay", FP_CONF_STRING, "", offsetof(loadtest_opts, replay),
     "replay this recording (JSON lines) per step instead of simulating, re-timed to now", NULL, 0,
     0},
    {"multiply", FP_CONF_STRING, "1", offsetof(loadtest_opts, multiply),
     "with --replay: clones per step (one K for every step, or a list like --vehicles)", NULL, 0,
     0},
    {"stack", FP_CONF_STRING, "", offsetof(loadtest_opts, stack),
     "a `fleetpipe stack up` directory: its stack.json lists the parts", NULL, 0, 0},
    {"endpoints", FP_CONF_STRING, "", offsetof(loadtest_opts, endpoints),
     "a parts file of the same shape, for a pipeline started otherwise (docs/loadtest.md)", NULL, 0,
     0},
    {"out", FP_CONF_STRING, "loadtest-report", offsetof(loadtest_opts, out),
     "directory for report.json, report.html and the simulator's logs", NULL, 0, 0},
    {"latency-target-ms", FP_CONF_INT, "10000", offsetof(loadtest_opts, latency_target_ms),
     "p99 end-to-end latency every sink must meet for a step to count as sustainable", NULL, 1,
     INT64_MAX},
    {"lag-bound", FP_CONF_MS, "10s", offsetof(loadtest_opts, lag_bound),
     "a lag is bounded when a step ends with at most this much input waiting (or it did not grow "
     "over the step's second half)",
     NULL, 1000, INT64_MAX},
    {"seed", FP_CONF_INT, "1", offsetof(loadtest_opts, seed), "simulator seed", NULL, 0, 0},
    {"sim-threads", FP_CONF_INT, "1", offsetof(loadtest_opts, sim_threads),
     "threads of each simulator process", NULL, 1, 64},
    FP_CLI_STATUS_FLAG(loadtest_opts),
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

/* "1000,3000" into v (at most max); FP_ERR_CONFIG naming the flag. */
static fp_code parse_list(const char *flag, const char *s, int64_t *v, int max, int *n, fp_err *err)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || x < 1 || (*end && *end != ','))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "--%s %s: expected positive integers, e.g. 1000,3000", flag, s);
        if (*n == max)
            return fp_err_set(err, FP_ERR_CONFIG, "--%s: at most %d steps", flag, max);
        v[(*n)++] = x;
        p = *end ? end + 1 : end;
    }
    if (!*n)
        return fp_err_set(err, FP_ERR_CONFIG, "--%s: empty", flag);
    return FP_OK;
}

static int run(const fp_cmd *cmd, void *opts)
{
    loadtest_opts *o = opts;
    fp_err err = {0};
    int64_t vehicles[64], multiply[64];
    int nv = 0, nm = 0;
    if (parse_list("vehicles", o->vehicles, vehicles, 64, &nv, &err) ||
        parse_list("multiply", o->multiply, multiply, 64, &nm, &err))
        return fp_cli_fail(cmd, &err);
    bool replay = o->replay[0];
    int nsteps = replay ? nm : nv;
    if (replay && nm == 1) { /* one K for every step: as many steps as --vehicles lists */
        nsteps = nv;
        for (int i = 1; i < nsteps; i++)
            multiply[i] = multiply[0];
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fp_err_set(&err, FP_ERR_IO, "/proc/self/exe: %s", strerror(errno));
        return fp_cli_fail(cmd, &err);
    }
    self[n] = '\0';
    fp_sig_install();
    fp_stack_loadtest_opts lo = {.self = self,
                                 .vehicles = vehicles,
                                 .nsteps = nsteps,
                                 .step_ms = o->step,
                                 .drain_ms = o->drain,
                                 .replay = replay ? o->replay : NULL,
                                 .multiply = multiply,
                                 .stack_dir = o->stack[0] ? o->stack : NULL,
                                 .endpoints = o->endpoints[0] ? o->endpoints : NULL,
                                 .out_dir = o->out,
                                 .latency_target_ms = o->latency_target_ms,
                                 .lag_bound_s = o->lag_bound / 1000,
                                 .seed = o->seed,
                                 .sim_threads = (int)o->sim_threads,
                                 .stop = fp_sig_token()};
    fp_stack_loadtest_result res;
    fp_code rc = fp_stack_loadtest_run(&lo, &res, &err);
    if (rc == FP_ERR_CONFIG)
        return fp_cli_fail(cmd, &err);
    if (rc) {
        fprintf(stderr, "fleetpipe loadtest: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "fleetpipe loadtest: report in %s/report.html and %s/report.json\n", o->out,
            o->out);
    if (res.sustainable_step >= 0)
        fprintf(stderr, "  sustainable: step %d (%lld vehicles, %.1f messages/s offered)\n",
                res.sustainable_step + 1, (long long)res.sustainable_vehicles,
                res.sustainable_msgs_per_s);
    else
        fprintf(stderr, "  no step was sustainable\n");
    if (res.interrupted)
        fprintf(stderr, "  (interrupted: the report covers the steps run)\n");
    json_t *st = json_pack("{s:s, s:b}", "out", o->out, "interrupted", res.interrupted);
    json_object_set_new(st, "sustainable_step",
                        res.sustainable_step >= 0 ? json_integer(res.sustainable_step + 1)
                                                  : json_null());
    return fp_cli_status_print(cmd, o->status_format, st, 0, stdout);
}

const fp_cmd fp_cmd_loadtest = {
    "loadtest",
    "ramp a simulated fleet against a running pipeline and write report.html and report.json",
    "usage: fleetpipe loadtest (--stack DIR | --endpoints FILE) [--vehicles 1000,3000,10000]\n"
    "                          [--step 60s] [--replay FILE --multiply K[,K...]] [--out DIR]\n"
    "                          [--latency-target-ms 10000] [--lag-bound 10s] [--drain 60s]\n\n"
    "For each step, grows the fleet to that many vehicles (one `fleetpipe sim --warm --first-id`\n"
    "child per step, real time, every vehicle its own MQTT client with its provisioned\n"
    "credentials) or replays FILE with K clones re-timed to now, and once a second scrapes\n"
    "every part's /metrics (Prometheus text) and reads each pid's CPU and RSS from /proc. After\n"
    "the last step the fleet stops and the pipeline drains. OUT/report.json holds the plan\n"
    "(steps, machine), per step offered vs achieved messages/s per stage (fleet, bridge, every\n"
    "connector, lake watch), lag (max and end), p50/p95/p99 end-to-end latency per sink (from\n"
    "fleetpipe_connect_record_age_seconds and fleetpipe_lake_record_age_seconds), CPU % and\n"
    "peak RSS per process, dead letters and retries, the highest sustainable step (every lag\n"
    "bounded, every p99 within the target) and the stage that saturated first; OUT/report.html\n"
    "shows the same with inline SVG charts (no script, no external resource). The parts file:\n"
    "{\"mqtt\": {\"url\": \"mqtt://127.0.0.1:1883\", \"credentials\": \"devices.secret\"},\n"
    " \"parts\": [{\"name\": \"bridge\", \"role\": \"bridge\", \"metrics\": \"http://...\",\n"
    " \"pid\": 123}, ...]} with roles bridge, connect, lake and any other (CPU and RSS only).\n"
    "See docs/loadtest.md. Exit 0 when the report was written, whatever it found.",
    loadtest_flags,
    sizeof(loadtest_opts),
    run,
};
