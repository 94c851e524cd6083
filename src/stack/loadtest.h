/* loadtest.h — `fleetpipe loadtest`: ramps a simulated fleet against a running pipeline in real
 * time, watches every part, and writes report.json and report.html (docs/loadtest.md).
 *
 * The pipeline is given as a parts list (a stack's DIR/stack.json, or an --endpoints file of
 * the same shape): each part has a name, a role (bridge, connect, lake, ... ), a /metrics URL
 * and a pid, and the file names the MQTT broker with the devices' credentials. Per step the
 * fleet grows: one child `fleetpipe sim --warm --first-id F` per step adds the step's new
 * vehicles (the earlier children keep driving), so the offered rate steps up without a gap.
 * Once a second every part's /metrics is scraped (and each sim child's) and every pid's CPU
 * time and RSS read from /proc. At the end the children are stopped, the pipeline is given
 * time to drain, and the report says per step what was offered and achieved per stage, lag,
 * latency percentiles per sink (from the record-age histograms), CPU and memory.
 *
 * Threads: runs on the caller's thread and blocks until the report is written; it forks the
 * sim children and reaps them before it returns.
 */
#ifndef FP_STACK_LOADTEST_H
#define FP_STACK_LOADTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/stop.h"

typedef struct fp_stack_loadtest_opts {
    const char *self;        /* the fleetpipe binary to run `sim` with (/proc/self/exe) */
    const int64_t *vehicles; /* fleet size per step, ascending */
    int nsteps;
    int64_t step_ms;           /* duration of each step */
    int64_t drain_ms;          /* after the last step: how long to wait for lag to reach 0 */
    const char *replay;        /* NULL, or replay this file per step instead of simulating */
    const int64_t *multiply;   /* replay: clones per step (nsteps of them) */
    const char *stack_dir;     /* DIR/stack.json, or */
    const char *endpoints;     /* an endpoints file; exactly one of the two */
    const char *out_dir;       /* report.json, report.html, samples and the sim children's logs */
    int64_t latency_target_ms; /* p99 target of every sink */
    int64_t lag_bound_s;       /* a step's lag is bounded when it ends below this many seconds
                                  of input (or did not grow over the step's second half) */
    int64_t seed;
    int sim_threads;
    const fp_stop *stop; /* SIGINT/SIGTERM: ends the current step early, still writes a report */
} fp_stack_loadtest_opts;

typedef struct fp_stack_loadtest_result {
    int sustainable_step; /* index of the highest step meeting both criteria; -1: none */
    int64_t sustainable_vehicles;
    double sustainable_msgs_per_s;
    bool interrupted;
} fp_stack_loadtest_result;

/* Runs the plan and writes the reports. FP_ERR_CONFIG for a bad parts file or plan, FP_ERR_IO
 * when the out directory cannot be written or the simulator cannot be started. */
fp_code fp_stack_loadtest_run(const fp_stack_loadtest_opts *o, fp_stack_loadtest_result *res,
                              fp_err *err);

#endif
