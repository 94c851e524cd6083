/* loadtest_int.h — what the load test's files share: the run (parts, sim children, time series)
 * and the per-step analysis. loadtest.c runs and watches, loadtest_report.c analyses and writes
 * report.json, loadtest_html.c writes report.html. Not for use outside src/stack/loadtest*.
 * Threads: one (the caller's).
 */
#ifndef FP_STACK_LOADTEST_INT_H
#define FP_STACK_LOADTEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "ops/scrape.h"
#include "stack/loadtest.h"

#define LT_MAX_PARTS 64
#define LT_MAX_CONNECTORS 32
#define LT_MAX_STEPS 64
#define LT_AGE_BUCKETS 13 /* the record-age bounds and +Inf */
#define LT_DRAIN (-2)     /* step_of of the ticks after the last step */
#define LT_MAX_STAGES (LT_MAX_CONNECTORS + 3)

/* One number over time: v[i] at tick i, NaN where it was not read. */
typedef struct lt_series {
    char *key; /* "bridge.acked", "connect.<name>.lag", "cpu.<part>", ... */
    double *v;
} lt_series;

typedef struct lt_part {
    char *name, *role; /* role: bridge, connect, lake, or anything (CPU and RSS only) */
    char *metrics;     /* /metrics URL or NULL */
    char *rest;        /* connect: its REST base URL, for the connectors' classes */
    int pid;           /* 0: unknown (CPU and RSS then come from its process_* metrics) */
    fp_scrape_conn *conn;
    uint64_t scrape_errors;
    char last_error[FP_ERR_MSG_MAX];
} lt_part;

typedef struct lt_child { /* one `fleetpipe sim` */
    int step;
    pid_t pid;
    int port;
    int64_t first_id, vehicles;
    int64_t start_wall_ms; /* when it starts sending */
    char *status_path, *metrics;
    fp_scrape_conn *conn;
    bool running, stopping;
    int64_t stop_mono;
    double last_acked, last_cpu;
    double published; /* from its final status; NaN until it exited */
} lt_child;

typedef struct lt_conn {
    char name[128];
    char cls[64]; /* connector.class from the REST API, "" when unknown */
} lt_conn;

/* One stage of one step. Rates are per second over the step; lag in records (bridge: messages
 * the fleet published that the bridge has not acknowledged yet). */
typedef struct lt_stage {
    char name[160], kind[16]; /* kind: sim, bridge, connect, lake */
    char unit[16];            /* what offered/achieved count: "messages", "records", "objects" */
    double offered, achieved, written; /* written: connect records_out/s, lake rows/s */
    bool has_lag;
    double lag_max, lag_mid, lag_end;
    double dead, retries; /* in the step */
    bool bounded, short_of, saturated;
    char why[240];
} lt_stage;

typedef struct lt_latency {
    char sink[200], connector[128];
    double count, p50, p95, p99; /* seconds; NaN without observations */
    bool above;                  /* a percentile fell in the +Inf bucket: it is a lower bound */
    bool has, met;
} lt_latency;

typedef struct lt_proc {
    char name[128], role[64];
    double cpu_pct, rss_peak;
    bool near_core;
} lt_proc;

typedef struct lt_step {
    double start_s, end_s, seconds;
    int64_t vehicles, multiply;
    double offered; /* messages/s the plan offers (vehicles x per-vehicle rate), else the fleet's */
    lt_stage stages[LT_MAX_STAGES];
    int nstages;
    lt_latency lat[LT_MAX_CONNECTORS + 1];
    int nlat;
    lt_proc procs[LT_MAX_PARTS + 1];
    int nprocs;
    double machine_cpu_pct;
    bool lag_bounded, latency_met, ok;
    char verdict[300];
} lt_step;

typedef struct lt_run {
    const fp_stack_loadtest_opts *o;
    lt_part parts[LT_MAX_PARTS];
    int nparts;
    lt_child kids[LT_MAX_STEPS];
    int nkids;
    lt_conn conns[LT_MAX_CONNECTORS];
    int nconns;
    char *mqtt, *credentials;
    int64_t replay_stride; /* replay: the recording's highest vehicle id; clone k of vehicle v is
                              v + k * replay_stride, so the clones stay within the provisioned
                              accounts dev-000001.. */
    double per_vehicle;    /* messages/s one simulated vehicle sends (NaN for a replay) */
    int64_t t0_ms, started_ms;
    /* ticks */
    double *t;    /* seconds since t0 */
    int *step_of; /* step index, -1 baseline, LT_DRAIN */
    size_t nt, tcap;
    lt_series *s;
    size_t ns, scap;
    bool has_lake, drained;
    /* analysis */
    lt_step *steps;
    int nsteps_run;
    int sustainable;    /* -1: none */
    int first_sat_step; /* -1: none */
    char first_sat_stage[160], first_sat_why[300];
} lt_run;

const lt_series *lt_find(const lt_run *r, const char *key);
fp_code lt_load_parts(lt_run *r, const char *file, fp_err *err);
/* Fills r->steps (stages, latency, processes, verdicts), r->sustainable and first_sat_*. */
void lt_analyse(lt_run *r);
fp_code lt_write_json(const lt_run *r, fp_err *err);
fp_code lt_write_html(const lt_run *r, fp_err *err);

/* The charts report.html draws, in order (report.json lists them too). */
typedef struct lt_chart_def {
    const char *id, *title;
} lt_chart_def;
extern const lt_chart_def lt_charts[];
extern const size_t lt_ncharts;

/* A value per tick of a series as a rate per second over the last `window` ticks. */
void lt_rate(const lt_run *r, const lt_series *s, size_t window, double *out);

#endif
