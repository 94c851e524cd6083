/* metrics.c — Prometheus text exposition 0.0.4 written straight into an fp_buf, /proc/self
 * process metrics, and the /metrics + /healthz server on fp_http.
 *
 * The one thing to know: nothing here holds metric state except fp_metrics_hist, whose buckets
 * are stored per bucket (not cumulative) so an observation is one atomic add; the cumulative
 * counts, _sum and _count are derived at scrape time. _count is the sum of the bucket counts we
 * read, so a scrape is always self-consistent even while observations race with it.
 * Numbers: integral values below 2^53 print as integers, other doubles in the shortest form that
 * reads back exactly (at most %.17g), and non-finite values as +Inf, -Inf, NaN.
 */
#include "ops/metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void put_double(fp_buf *b, double v)
{
    if (isnan(v)) {
        fp_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        fp_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        fp_buf_printf(b, "%.0f", v == 0 ? 0.0 : v); /* no "-0" */
        return;
    }
    fp_buf_put_double(b, v);
}

/* HELP text escapes backslash and newline; label values also escape the double quote. */
static void put_escaped(fp_buf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fp_buf_puts(b, "\\\\");
        else if (*s == '\n')
            fp_buf_puts(b, "\\n");
        else if (quote && *s == '"')
            fp_buf_puts(b, "\\\"");
        else
            fp_buf_putc(b, *s);
    }
}

void fp_metrics_family(fp_metrics_out *m, const char *name, fp_metric_type t, const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    m->family = name;
    fp_buf_printf(m->buf, "# HELP %s ", name);
    put_escaped(m->buf, help ? help : "", false);
    fp_buf_printf(m->buf, "\n# TYPE %s %s\n", name, types[t]);
}

/* name{labels[,le="x"]} — le is NULL outside histogram buckets. */
static void put_series(fp_metrics_out *m, const char *suffix, const char *const *labels,
                       const char *le)
{
    fp_buf_puts(m->buf, m->family ? m->family : "");
    fp_buf_puts(m->buf, suffix);
    bool any = (labels && labels[0]) || le;
    if (!any)
        return;
    fp_buf_putc(m->buf, '{');
    bool first = true;
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        if (!first)
            fp_buf_putc(m->buf, ',');
        first = false;
        fp_buf_printf(m->buf, "%s=\"", labels[i]);
        put_escaped(m->buf, labels[i + 1], true);
        fp_buf_putc(m->buf, '"');
    }
    if (le) {
        if (!first)
            fp_buf_putc(m->buf, ',');
        fp_buf_printf(m->buf, "le=\"%s\"", le);
    }
    fp_buf_putc(m->buf, '}');
}

void fp_metrics_sample(fp_metrics_out *m, const char *const *labels, double v)
{
    put_series(m, "", labels, NULL);
    fp_buf_putc(m->buf, ' ');
    put_double(m->buf, v);
    fp_buf_putc(m->buf, '\n');
}

void fp_metrics_sample_u64(fp_metrics_out *m, const char *const *labels, uint64_t v)
{
    put_series(m, "", labels, NULL);
    fp_buf_printf(m->buf, " %llu\n", (unsigned long long)v);
}

static void hist_init(fp_metrics_hist *h, const double le[FP_METRICS_BUCKETS])
{
    memcpy(h->le, le, sizeof h->le);
    for (size_t i = 0; i <= FP_METRICS_BUCKETS; i++)
        atomic_init(&h->count[i], 0);
    atomic_init(&h->sum_micro, 0);
}

void fp_metrics_hist_init_seconds(fp_metrics_hist *h)
{
    static const double le[FP_METRICS_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,   0.25,   0.5,   1,    5,     30};
    hist_init(h, le);
}

void fp_metrics_hist_init_age(fp_metrics_hist *h)
{
    static const double le[FP_METRICS_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                                  5,    10,  30,   60,  300, 900};
    hist_init(h, le);
}

void fp_metrics_hist_init_sizes(fp_metrics_hist *h)
{
    static const double le[FP_METRICS_BUCKETS] = {1,   5,   10,   25,   50,   100,
                                                  250, 500, 1000, 2500, 5000, 10000};
    memcpy(h->le, le, sizeof le);
    for (size_t i = 0; i <= FP_METRICS_BUCKETS; i++)
        atomic_init(&h->count[i], 0);
    atomic_init(&h->sum_micro, 0);
}

void fp_metrics_hist_observe(fp_metrics_hist *h, double v)
{
    size_t i = 0;
    while (i < FP_METRICS_BUCKETS && !(v <= h->le[i]))
        i++; /* NaN and values above the last bound land in +Inf */
    atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
    if (v > 0 && v < 1.8e13) /* the sum is kept in whole microseconds (or micro-units) */
        atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)llround(v * 1e6), memory_order_relaxed);
}

void fp_metrics_sample_hist(fp_metrics_out *m, const char *const *labels, const fp_metrics_hist *h)
{
    uint64_t cum = 0;
    fp_buf le = FP_BUF_INIT;
    for (size_t i = 0; i <= FP_METRICS_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->count[i], memory_order_relaxed);
        fp_buf_reset(&le);
        if (i < FP_METRICS_BUCKETS)
            put_double(&le, h->le[i]);
        else
            fp_buf_puts(&le, "+Inf");
        put_series(m, "_bucket", labels, le.p);
        fp_buf_printf(m->buf, " %llu\n", (unsigned long long)cum);
    }
    fp_buf_free(&le);
    put_series(m, "_sum", labels, NULL);
    fp_buf_putc(m->buf, ' ');
    put_double(m->buf, (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6);
    fp_buf_putc(m->buf, '\n');
    put_series(m, "_count", labels, NULL);
    fp_buf_printf(m->buf, " %llu\n", (unsigned long long)cum);
}

/* ---- process metrics ---- */

static size_t read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    char line[512];
    double bt = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    }
    fclose(f);
    return bt;
}

void fp_metrics_process(fp_metrics_out *m)
{
    char buf[1024];
    double tck = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    /* /proc/self/stat: fields after the last ')' (the command may hold spaces and parens);
     * utime is field 14, stime 15, starttime 22, counting from 1. */
    if (read_small("/proc/self/stat", buf, sizeof buf) && tck > 0) {
        char *p = strrchr(buf, ')');
        unsigned long long f[23] = {0};
        int field = 3;
        if (p) {
            p += 2;
            while (*p && field <= 22) {
                char *end;
                if (field >= 4)
                    f[field] = strtoull(p, &end, 10);
                else
                    end = p + strcspn(p, " ");
                p = end + strspn(end, " ");
                field++;
            }
        }
        if (field > 22) {
            fp_metrics_family(m, "process_cpu_seconds_total", FP_METRIC_COUNTER,
                              "Total user and system CPU time spent in seconds.");
            fp_metrics_sample(m, NULL, (double)(f[14] + f[15]) / tck);
            fp_metrics_family(m, "process_start_time_seconds", FP_METRIC_GAUGE,
                              "Start time of the process since unix epoch in seconds.");
            fp_metrics_sample(m, NULL, boot_time() + (double)f[22] / tck);
        }
    }
    unsigned long long vsize = 0, rss = 0;
    if (read_small("/proc/self/statm", buf, sizeof buf) &&
        sscanf(buf, "%llu %llu", &vsize, &rss) == 2) {
        fp_metrics_family(m, "process_virtual_memory_bytes", FP_METRIC_GAUGE,
                          "Virtual memory size in bytes.");
        fp_metrics_sample(m, NULL, (double)vsize * page);
        fp_metrics_family(m, "process_resident_memory_bytes", FP_METRIC_GAUGE,
                          "Resident memory size in bytes.");
        fp_metrics_sample(m, NULL, (double)rss * page);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        uint64_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        fp_metrics_family(m, "process_open_fds", FP_METRIC_GAUGE,
                          "Number of open file descriptors.");
        fp_metrics_sample_u64(m, NULL, n ? n - 1 : 0); /* minus the directory's own fd */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        fp_metrics_family(m, "process_max_fds", FP_METRIC_GAUGE,
                          "Maximum number of open file descriptors.");
        fp_metrics_sample(m, NULL, rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    }
}

void fp_metrics_render(fp_metrics_writer w, void *ctx, fp_buf *out)
{
    fp_metrics_out m = {.buf = out, .family = NULL};
    if (w)
        w(ctx, &m);
    fp_metrics_process(&m);
}

/* ---- the endpoint ---- */

struct fp_metrics_server {
    fp_http *http;
    fp_metrics_writer w;
    fp_health_fn health;
    void *ctx;
};

static void metrics_handler(void *arg, const fp_http_req *req, fp_http_resp *resp)
{
    fp_metrics_server *s = arg;
    bool is_metrics = strcmp(req->path, "/metrics") == 0;
    bool is_health = strcmp(req->path, "/healthz") == 0;
    if (!is_metrics && !is_health) {
        fp_http_error(resp, 404, "no such endpoint: %s (try /metrics or /healthz)", req->path);
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        fp_http_error(resp, 405, "%s: only GET", req->path);
        return;
    }
    resp->content_type = "text/plain; charset=utf-8";
    if (is_metrics) {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        fp_metrics_render(s->w, s->ctx, &resp->body);
        return;
    }
    fp_buf reason = FP_BUF_INIT;
    if (!s->health || s->health(s->ctx, &reason)) {
        fp_buf_puts(&resp->body, "ok\n");
    } else {
        resp->status = 503;
        fp_buf_append(&resp->body, reason.p ? reason.p : "unhealthy", reason.p ? reason.len : 9);
        fp_buf_putc(&resp->body, '\n');
    }
    fp_buf_free(&reason);
}

fp_code fp_metrics_serve(const char *listen, fp_metrics_writer w, fp_health_fn health, void *ctx,
                         fp_metrics_server **out, fp_err *err)
{
    *out = NULL;
    if (!listen || !*listen)
        return FP_OK;
    fp_metrics_server *s = fp_xcalloc(1, sizeof *s);
    s->w = w;
    s->health = health;
    s->ctx = ctx;
    /* Scrapes are rare and small: two threads, and no request needs a body. */
    fp_http_opts o = {.listen = listen, .max_body = 64 * 1024, .threads = 2};
    fp_code rc = fp_http_start(&o, metrics_handler, s, &s->http, err);
    if (rc) {
        free(s);
        fp_err_prefix(err, "metrics");
        return rc;
    }
    *out = s;
    return FP_OK;
}

/* The bound port (for ":0" in tests); -1 when s is NULL. */
int fp_metrics_server_port(const fp_metrics_server *s)
{
    return s ? fp_http_port(s->http) : -1;
}

void fp_metrics_server_stop(fp_metrics_server *s)
{
    if (!s)
        return;
    fp_http_stop(s->http);
    free(s);
}
