/* metrics.h — Prometheus text exposition (format 0.0.4) for fleetpipe's own numbers, and the
 * standard /metrics + /healthz endpoint every long-running command serves.
 *
 * The one thing to know: there is no global registry of metric objects. Whoever owns numbers
 * (a connect task, the bridge, the simulator) keeps them in its own atomics and, at scrape time,
 * writes them through an fp_metrics_out: one fp_metrics_family() call per metric name (HELP and
 * TYPE once), then one sample call per label set. Histograms are fp_metrics_hist values with
 * fixed buckets that writers update lock-free. Names follow Prometheus conventions: prefix
 * fleetpipe_, base units (_seconds, _bytes), counters end in _total.
 *
 * Threads: fp_metrics_hist_observe() is safe from any thread; an fp_metrics_out is used by one
 * scrape on one thread.
 */
#ifndef FP_OPS_METRICS_H
#define FP_OPS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/mem.h"
#include "ops/http.h"

typedef enum fp_metric_type {
    FP_METRIC_COUNTER,
    FP_METRIC_GAUGE,
    FP_METRIC_HISTOGRAM
} fp_metric_type;

typedef struct fp_metrics_out {
    fp_buf *buf;
    const char *family; /* current family name */
} fp_metrics_out;

/* Starts a family: "# HELP name help\n# TYPE name type\n". Each family name once per scrape. */
void fp_metrics_family(fp_metrics_out *m, const char *name, fp_metric_type t, const char *help);
/* One sample of the current family. labels: NULL-terminated list of name, value pairs
 * (values escaped as the format requires), e.g. (const char *[]){"connector", "raw", "task",
 * "0", NULL}; NULL for none. */
void fp_metrics_sample(fp_metrics_out *m, const char *const *labels, double v);
void fp_metrics_sample_u64(fp_metrics_out *m, const char *const *labels, uint64_t v);

/* Latency and size histograms: FP_METRICS_BUCKETS upper bounds chosen at init (seconds or
 * counts), cumulative only when written. */
#define FP_METRICS_BUCKETS 12
typedef struct fp_metrics_hist {
    double le[FP_METRICS_BUCKETS]; /* upper bounds, ascending; +Inf is implied */
    _Atomic uint64_t count[FP_METRICS_BUCKETS + 1];
    _Atomic uint64_t sum_micro; /* sum of observations x 1e6 */
} fp_metrics_hist;

/* Latencies: 1 ms .. 30 s. */
void fp_metrics_hist_init_seconds(fp_metrics_hist *h);
/* Ages (end-to-end latency: now minus a record's event time): 50 ms .. 15 min. */
void fp_metrics_hist_init_age(fp_metrics_hist *h);
/* Sizes (records per batch): 1 .. 10000. */
void fp_metrics_hist_init_sizes(fp_metrics_hist *h);
void fp_metrics_hist_observe(fp_metrics_hist *h, double v);
/* Writes the _bucket/_sum/_count samples of h under the current (HISTOGRAM) family. */
void fp_metrics_sample_hist(fp_metrics_out *m, const char *const *labels, const fp_metrics_hist *h);

/* process_resident_memory_bytes, process_cpu_seconds_total, process_start_time_seconds,
 * process_open_fds (the names every Prometheus client library uses), from /proc/self. */
void fp_metrics_process(fp_metrics_out *m);

/* ---- the endpoint ---- */

/* Writes a command's own families; called per scrape on an HTTP thread. */
typedef void (*fp_metrics_writer)(void *ctx, fp_metrics_out *m);
/* A whole scrape into out: w's families, then fp_metrics_process (for servers that route
 * /metrics themselves, like connect's REST server). */
void fp_metrics_render(fp_metrics_writer w, void *ctx, fp_buf *out);
/* Health: true when the command works as it should (e.g. no FAILED task); reason on false. */
typedef bool (*fp_health_fn)(void *ctx, fp_buf *reason);

typedef struct fp_metrics_server fp_metrics_server;

/* Serves GET /metrics (writer's families + fp_metrics_process, text/plain; version=0.0.4) and
 * GET /healthz (200 "ok\n", or 503 with the reason) on listen ("127.0.0.1:9464"; "" or NULL:
 * no server, *out = NULL and FP_OK). Other paths: 404. */
fp_code fp_metrics_serve(const char *listen, fp_metrics_writer w, fp_health_fn health, void *ctx,
                         fp_metrics_server **out, fp_err *err);
/* The port actually bound (useful with ":0"); -1 for NULL. */
int fp_metrics_server_port(const fp_metrics_server *s);
void fp_metrics_server_stop(fp_metrics_server *s);

#endif
