/* loadtest.c — `fleetpipe loadtest`: the plan, the fleet, the once-a-second watch, the analysis
 * and report.json (the report's HTML is loadtest_html.c).
 *
 * The fleet is real: one child `fleetpipe sim` per step (a separate process, so its CPU and
 * memory are the load generator's and not the watcher's, and it publishes over MQTT exactly as
 * devices do). Without --replay, step i's child adds vehicles N[i-1]+1..N[i] with --warm, so the
 * fleet grows and the offered rate steps up at once; with --replay, step i's child replays the
 * file with --multiply K[i] --retime, after step i-1's child stopped (the clones share ids).
 *
 * The watch keeps one time series per number (a cumulative counter or a gauge, NaN where it
 * was not read) and one tick per second. Everything in the report is computed from those series
 * after the run: rates are counter deltas over a step, lag is the gauges' maximum and end, and
 * latency percentiles come from the deltas of the record-age histogram buckets over the step,
 * interpolated within a bucket as Prometheus' histogram_quantile() does.
 */
#include "stack/loadtest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "ops/scrape.h"
#include "sim/sim.h"
#include "stack/loadtest_int.h"

/* The record-age histogram's bounds (ops/metrics.c, fp_metrics_hist_init_age) plus +Inf. */
static const double age_le[LT_AGE_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,   2.5,     5,
                                              10,   30,  60,   300, 900, INFINITY};

/* ---------------------------------------------------------------- series */

static lt_series *series(lt_run *r, const char *key)
{
    for (size_t i = 0; i < r->ns; i++)
        if (!strcmp(r->s[i].key, key))
            return &r->s[i];
    if (r->ns == r->scap) {
        r->scap = r->scap ? 2 * r->scap : 64;
        r->s = fp_xrealloc(r->s, r->scap * sizeof *r->s);
    }
    lt_series *s = &r->s[r->ns++];
    s->key = fp_xstrdup(key);
    s->v = fp_xmalloc((r->tcap ? r->tcap : 1) * sizeof *s->v);
    for (size_t i = 0; i < r->tcap; i++)
        s->v[i] = NAN;
    return s;
}

const lt_series *lt_find(const lt_run *r, const char *key)
{
    for (size_t i = 0; i < r->ns; i++)
        if (!strcmp(r->s[i].key, key))
            return &r->s[i];
    return NULL;
}

static void set(lt_run *r, const char *key, double v)
{
    series(r, key)->v[r->nt - 1] = v;
}

static void setf(lt_run *r, double v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setf(lt_run *r, double v, const char *fmt, ...)
{
    fp_buf k = FP_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    fp_buf_vprintf(&k, fmt, ap);
    va_end(ap);
    set(r, k.p, v);
    fp_buf_free(&k);
}

static void new_tick(lt_run *r, int64_t t_ms, int step)
{
    if (r->nt == r->tcap) {
        size_t old = r->tcap;
        r->tcap = r->tcap ? 2 * r->tcap : 256;
        r->t = fp_xrealloc(r->t, r->tcap * sizeof *r->t);
        r->step_of = fp_xrealloc(r->step_of, r->tcap * sizeof *r->step_of);
        for (size_t i = 0; i < r->ns; i++) {
            r->s[i].v = fp_xrealloc(r->s[i].v, r->tcap * sizeof *r->s[i].v);
            for (size_t j = old; j < r->tcap; j++)
                r->s[i].v[j] = NAN;
        }
    }
    r->t[r->nt] = (double)(t_ms - r->t0_ms) / 1000.0;
    r->step_of[r->nt] = step;
    r->nt++;
}

/* ---------------------------------------------------------------- the parts file */

static const char *str_of(json_t *o, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        const char *v = json_string_value(json_object_get(o, keys[i]));
        if (v && *v)
            return v;
    }
    return NULL;
}

/* A path in the parts file, relative to the file's directory. */
static char *resolve(const char *file, const char *path)
{
    if (!path || path[0] == '/')
        return path ? fp_xstrdup(path) : NULL;
    const char *slash = strrchr(file, '/');
    fp_buf b = FP_BUF_INIT;
    if (slash)
        fp_buf_printf(&b, "%.*s/", (int)(slash - file), file);
    fp_buf_puts(&b, path);
    return fp_buf_steal(&b);
}

/* A part's /metrics URL from "metrics" (a URL, or host:port), "metrics_url", or
 * "endpoints": {"metrics": ...}. */
static char *metrics_url(json_t *p)
{
    static const char *const keys[] = {"metrics", "metrics_url", NULL};
    const char *m = str_of(p, keys);
    if (!m)
        m = str_of(json_object_get(p, "endpoints"), keys);
    if (!m)
        return NULL;
    fp_buf b = FP_BUF_INIT;
    if (strncmp(m, "http://", 7) && strncmp(m, "https://", 8))
        fp_buf_puts(&b, "http://");
    fp_buf_puts(&b, m);
    if (!strstr(m + (strncmp(m, "http", 4) ? 0 : 8), "/"))
        fp_buf_puts(&b, "/metrics");
    return fp_buf_steal(&b);
}

static bool known_role(const char *r)
{
    static const char *const roles[] = {"bridge",     "connect",    "lake",
                                        "lake-watch", "lake_watch", NULL};
    for (size_t i = 0; r && roles[i]; i++)
        if (!strcmp(r, roles[i]))
            return true;
    return false;
}

/* A part's role: "role", else its name when that is a role (stack.json names its parts
 * bridge, connect, lake-watch, ...), else "kind"/"type" when that is one, else the name. */
static const char *role_of(json_t *p, const char *name)
{
    const char *role = json_string_value(json_object_get(p, "role"));
    if (role && *role)
        return role;
    if (known_role(name))
        return name;
    static const char *const kinds[] = {"kind", "type", NULL};
    const char *k = str_of(p, kinds);
    return known_role(k) ? k : name;
}

static fp_code add_part(lt_run *r, const char *name, json_t *p, fp_err *err)
{
    static const char *const rest_keys[] = {"rest", "rest_url", NULL};
    if (!json_is_object(p))
        return fp_err_set(err, FP_ERR_CONFIG, "part %s: not a JSON object", name);
    json_t *pid = json_object_get(p, "pid");
    char *metrics = metrics_url(p);
    const char *rest = str_of(p, rest_keys);
    if (!rest)
        rest = str_of(json_object_get(p, "endpoints"), rest_keys);
    const char *role = role_of(p, name);
    if (!metrics && rest && !strcmp(role, "connect")) { /* /metrics next to the REST API */
        fp_buf m = FP_BUF_INIT;
        fp_buf_printf(&m, "%s/metrics", rest);
        metrics = fp_buf_steal(&m);
    }
    if (!metrics && !(json_integer_value(pid) > 0)) { /* a job that ran, or nothing to watch */
        free(metrics);
        return FP_OK;
    }
    if (r->nparts == LT_MAX_PARTS) {
        free(metrics);
        return fp_err_set(err, FP_ERR_CONFIG, "more than %d parts", LT_MAX_PARTS);
    }
    lt_part *q = &r->parts[r->nparts++];
    q->name = fp_xstrdup(name);
    q->role = fp_xstrdup(role);
    q->metrics = metrics;
    q->pid = json_is_integer(pid) ? (int)json_integer_value(pid) : 0;
    if (rest && !strncmp(rest, "http", 4))
        q->rest = fp_xstrdup(rest);
    else if (!strcmp(q->role, "connect") && q->metrics) {
        char *m = fp_xstrdup(q->metrics);
        char *slash = strstr(m, "/metrics");
        if (slash)
            *slash = '\0';
        q->rest = m;
    }
    return FP_OK;
}

/* Reads a stack.json or an endpoints file: {"parts": [ {name, role, metrics, pid, ...} ] or
 * {"<name>": {...}}, "mqtt": "mqtt://h:p" or {"url", "credentials"}, "credentials": ...}. The
 * MQTT broker may instead be a part with role mosquitto/mqtt and a "url". */
fp_code lt_load_parts(lt_run *r, const char *file, fp_err *err)
{
    json_error_t je;
    json_t *j = json_load_file(file, 0, &je);
    if (!j)
        return fp_err_set(err, FP_ERR_CONFIG, "%s:%d: %s", file, je.line, je.text);
    fp_code rc = FP_OK;
    json_t *parts = json_object_get(j, "parts");
    if (json_is_array(parts)) {
        size_t i;
        json_t *p;
        json_array_foreach(parts, i, p)
        {
            static const char *const nk[] = {"name", "id", NULL};
            const char *name = str_of(p, nk);
            char num[32];
            snprintf(num, sizeof num, "part%zu", i);
            if ((rc = add_part(r, name ? name : num, p, err)))
                break;
        }
    } else if (json_is_object(parts)) {
        const char *k;
        json_t *p;
        json_object_foreach(parts, k, p)
        {
            if ((rc = add_part(r, k, p, err)))
                break;
        }
    } else {
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: no \"parts\" list", file);
    }
    json_t *mq = json_object_get(j, "mqtt");
    static const char *const url_keys[] = {"url", "mqtt", "endpoint", "address", NULL};
    static const char *const cred_keys[] = {"credentials", "device_credentials", "devices_secret",
                                            NULL};
    const char *url = json_is_string(mq) ? json_string_value(mq) : str_of(mq, url_keys);
    const char *creds = str_of(mq, cred_keys);
    if (!creds)
        creds = str_of(j, cred_keys);
    for (size_t i = 0; !url && json_is_array(parts) && i < json_array_size(parts); i++) {
        json_t *p = json_array_get(parts, i);
        static const char *const rk[] = {"role", "name", NULL};
        const char *role = str_of(p, rk);
        if (role && (!strcmp(role, "mosquitto") || !strcmp(role, "mqtt"))) {
            url = str_of(p, url_keys);
            if (!url)
                url = str_of(json_object_get(p, "endpoints"), url_keys);
            if (!creds)
                creds = str_of(p, cred_keys);
            if (!creds)
                creds = str_of(json_object_get(p, "endpoints"), cred_keys);
        }
    }
    if (!rc && !url)
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: no MQTT broker (\"mqtt\": \"mqtt://host:port\")",
                        file);
    if (!rc) {
        r->mqtt = fp_xstrdup(url);
        r->credentials = resolve(file, creds);
    }
    json_decref(j);
    return rc;
}

/* ---------------------------------------------------------------- /proc */

static bool proc_read(int pid, double *cpu_s, double *rss)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state(3) ppid(4) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return false;
    *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    f = fopen(path, "r");
    unsigned long long vs = 0, rs = 0;
    bool ok = f && fscanf(f, "%llu %llu", &vs, &rs) == 2;
    if (f)
        fclose(f);
    *rss = ok ? (double)rs * (double)sysconf(_SC_PAGESIZE) : NAN;
    return true;
}

/* Busy CPU seconds of the whole machine (every core), from /proc/stat. */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return NAN;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4)
        return NAN;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* not idle, iowait */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

/* ---------------------------------------------------------------- the sim children */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Starts step's child. A simulated child connects its devices ahead of the step and starts
 * sending at start_wall_ms (--start with --wall-clock); a replay starts at once. */
static fp_code sim_start(lt_run *r, int step, int64_t start_wall_ms, fp_err *err)
{
    const fp_stack_loadtest_opts *o = r->o;
    lt_child *c = &r->kids[r->nkids];
    *c = (lt_child){.step = step, .published = NAN};
    c->port = free_port();
    int64_t before = step > 0 && !o->replay ? o->vehicles[step - 1] : 0;
    c->first_id = before + 1;
    c->vehicles = o->replay ? 0 : o->vehicles[step] - before;
    if (!o->replay && c->vehicles <= 0)
        return FP_OK; /* the same fleet size again: nothing to add */
    char a_veh[32], a_first[32], a_dur[32], a_seed[32], a_listen[64], a_thr[16], a_mul[32],
        a_stride[32];
    fp_buf a_start = FP_BUF_INIT;
    fp_time_format_iso(start_wall_ms, &a_start);
    /* long enough for every step left plus the drain; the child is stopped with SIGTERM */
    int64_t dur_s = ((int64_t)(o->nsteps - step) * o->step_ms + o->drain_ms) / 1000 + 600;
    snprintf(a_veh, sizeof a_veh, "%lld", (long long)c->vehicles);
    snprintf(a_first, sizeof a_first, "%lld", (long long)c->first_id);
    snprintf(a_dur, sizeof a_dur, "%llds", (long long)dur_s);
    snprintf(a_seed, sizeof a_seed, "%lld", (long long)o->seed);
    snprintf(a_listen, sizeof a_listen, "127.0.0.1:%d", c->port);
    snprintf(a_thr, sizeof a_thr, "%d", o->sim_threads > 0 ? o->sim_threads : 1);
    snprintf(a_mul, sizeof a_mul, "%lld", (long long)(o->replay ? o->multiply[step] : 1));
    const char *argv[40];
    int n = 0;
    argv[n++] = o->self;
    argv[n++] = "sim";
    if (o->replay) {
        argv[n++] = "--replay";
        argv[n++] = o->replay;
        argv[n++] = "--multiply";
        argv[n++] = a_mul;
        snprintf(a_stride, sizeof a_stride, "%lld", (long long)r->replay_stride);
        argv[n++] = "--id-stride";
        argv[n++] = a_stride;
        argv[n++] = "--retime";
    } else {
        argv[n++] = "--vehicles";
        argv[n++] = a_veh;
        argv[n++] = "--first-id";
        argv[n++] = a_first;
        argv[n++] = "--warm";
        argv[n++] = "--wall-clock";
        argv[n++] = "--start";
        argv[n++] = a_start.p;
        argv[n++] = "--duration";
        argv[n++] = a_dur;
        argv[n++] = "--seed";
        argv[n++] = a_seed;
    }
    argv[n++] = "--speedup";
    argv[n++] = "1";
    argv[n++] = "--threads";
    argv[n++] = a_thr;
    argv[n++] = "--target";
    argv[n++] = r->mqtt;
    if (r->credentials) {
        argv[n++] = "--credentials";
        argv[n++] = r->credentials;
    }
    argv[n++] = "--metrics-listen";
    argv[n++] = a_listen;
    argv[n++] = "--status-format";
    argv[n++] = "json";
    argv[n] = NULL;
    fp_buf out = FP_BUF_INIT, log = FP_BUF_INIT;
    fp_buf_printf(&out, "%s/sim-step%d.status.json", o->out_dir, step + 1);
    fp_buf_printf(&log, "%s/sim-step%d.log", o->out_dir, step + 1);
    c->status_path = fp_buf_steal(&out);
    c->start_wall_ms = start_wall_ms;
    int ofd = open(c->status_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int efd = open(log.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    fp_buf_free(&log);
    if (ofd < 0 || efd < 0) {
        fp_buf_free(&a_start);
        if (ofd >= 0)
            close(ofd);
        if (efd >= 0)
            close(efd);
        return fp_err_set(err, FP_ERR_IO, "%s: %s", c->status_path, strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        fp_buf_free(&a_start);
        close(ofd);
        close(efd);
        return fp_err_set(err, FP_ERR_IO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        execv(o->self, (char *const *)argv);
        _exit(127);
    }
    close(ofd);
    close(efd);
    fp_buf_free(&a_start);
    c->pid = pid;
    c->running = true;
    fp_buf url = FP_BUF_INIT;
    fp_buf_printf(&url, "http://127.0.0.1:%d/metrics", c->port);
    c->metrics = fp_buf_steal(&url);
    c->conn = fp_scrape_conn_new();
    r->nkids++;
    fp_log(FP_LOG_INFO, "loadtest", -1, "step %d: sim pid %d, %s", step + 1, (int)pid,
           o->replay ? "replay" : "vehicles added");
    return FP_OK;
}

/* The child's final status line: {"published": N, ...}. */
static void sim_read_status(lt_child *c)
{
    json_t *j = json_load_file(c->status_path, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *p = json_object_get(j, "published");
    if (json_is_integer(p))
        c->published = (double)json_integer_value(p);
    json_decref(j);
}

static void sim_stop(lt_child *c)
{
    if (c->running && !c->stopping) {
        kill(c->pid, SIGTERM);
        c->stopping = true;
        c->stop_mono = fp_time_mono_ms();
    }
}

/* Reaps exited children; escalates to SIGKILL after 20 s. */
static void sim_reap(lt_run *r)
{
    for (int i = 0; i < r->nkids; i++) {
        lt_child *c = &r->kids[i];
        if (!c->running)
            continue;
        int st;
        pid_t w = waitpid(c->pid, &st, WNOHANG);
        if (w == c->pid) {
            c->running = false;
            sim_read_status(c);
            fp_scrape_conn_free(c->conn);
            c->conn = NULL;
        } else if (c->stopping && fp_time_mono_ms() - c->stop_mono > 20000) {
            kill(c->pid, SIGKILL);
        }
    }
}

/* ---------------------------------------------------------------- one tick */

typedef struct conn_acc {
    char name[128];
    double in, out, dead, retries, lost, lag, objects;
    bool lag_known;
    double age[LT_AGE_BUCKETS];
    bool age_known;
} conn_acc;

static conn_acc *acc_for(conn_acc *a, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(a[i].name, name))
            return &a[i];
    if (*n == LT_MAX_CONNECTORS)
        return NULL;
    conn_acc *c = &a[(*n)++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

static int age_index(const char *le)
{
    double v = strcmp(le, "+Inf") ? strtod(le, NULL) : INFINITY;
    for (int i = 0; i < LT_AGE_BUCKETS; i++)
        if (v == age_le[i] || (isfinite(v) && fabs(v - age_le[i]) < 1e-9))
            return i;
    return -1;
}

static void note_connector(lt_run *r, const char *name)
{
    for (int i = 0; i < r->nconns; i++)
        if (!strcmp(r->conns[i].name, name))
            return;
    if (r->nconns < LT_MAX_CONNECTORS)
        snprintf(r->conns[r->nconns++].name, sizeof r->conns[0].name, "%s", name);
}

static void connect_page(lt_run *r, const fp_scrape_page *pg, conn_acc *acc, int *nacc)
{
    static const struct {
        const char *name;
        size_t off;
    } fams[] = {
        {"fleetpipe_connect_records_in_total", offsetof(conn_acc, in)},
        {"fleetpipe_connect_records_out_total", offsetof(conn_acc, out)},
        {"fleetpipe_connect_records_dead_lettered_total", offsetof(conn_acc, dead)},
        {"fleetpipe_connect_retries_total", offsetof(conn_acc, retries)},
        {"fleetpipe_connect_records_lost_total", offsetof(conn_acc, lost)},
        {"fleetpipe_connect_sink_objects_total", offsetof(conn_acc, objects)},
        {"fleetpipe_connect_consumer_lag", offsetof(conn_acc, lag)},
    };
    for (size_t i = 0; i < pg->n; i++) {
        const fp_scrape_sample *s = &pg->v[i];
        if (strncmp(s->name, "fleetpipe_connect_", 18))
            continue;
        const char *cn = fp_scrape_label(s, "connector");
        if (!cn)
            continue;
        conn_acc *a = acc_for(acc, nacc, cn);
        if (!a)
            continue;
        note_connector(r, cn);
        if (!strcmp(s->name, "fleetpipe_connect_record_age_seconds_bucket")) {
            const char *le = fp_scrape_label(s, "le");
            int k = le ? age_index(le) : -1;
            if (k >= 0) {
                a->age[k] += s->value;
                a->age_known = true;
            }
            continue;
        }
        for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++)
            if (!strcmp(s->name, fams[f].name)) {
                *(double *)((char *)a + fams[f].off) += s->value;
                if (!strcmp(fams[f].name, "fleetpipe_connect_consumer_lag"))
                    a->lag_known = true;
            }
    }
}

/* Scrapes everything once and appends a tick. */
static void tick(lt_run *r, int step)
{
    new_tick(r, fp_time_now_ms(), step);
    fp_buf body = FP_BUF_INIT;
    fp_scrape_page pg = {0};
    conn_acc acc[LT_MAX_CONNECTORS];
    int nacc = 0;
    double br[7] = {0};
    bool br_ok = false;
    double lk[6] = {0}, lage[LT_AGE_BUCKETS] = {0};
    bool lk_ok = false, lag_ok = false, lage_ok = false;
    for (int i = 0; i < r->nparts; i++) {
        lt_part *p = &r->parts[i];
        double cpu = NAN, rss = NAN;
        bool page = false;
        if (p->metrics && p->conn) {
            fp_err e = {0};
            page = !fp_scrape_get(p->conn, p->metrics, 900, &body, &e) &&
                   !fp_scrape_parse(body.p ? body.p : "", body.len, &pg, &e);
            if (!page) {
                p->scrape_errors++;
                if (!p->last_error[0] || p->scrape_errors % 30 == 1)
                    fp_log(FP_LOG_WARN, "loadtest", -1, "%s: %s", p->name, e.msg);
                snprintf(p->last_error, sizeof p->last_error, "%s", e.msg);
            }
        }
        if (page && !strcmp(p->role, "bridge")) {
            static const char *const n[] = {"fleetpipe_bridge_mqtt_messages_received_total",
                                            "fleetpipe_bridge_mqtt_messages_acked_total",
                                            "fleetpipe_bridge_records_forwarded_total",
                                            "fleetpipe_bridge_records_dead_lettered_total",
                                            "fleetpipe_bridge_kafka_delivery_failures_total",
                                            "fleetpipe_bridge_mqtt_unacked_messages",
                                            "fleetpipe_bridge_mqtt_reconnects_total"};
            for (int k = 0; k < 7; k++)
                br[k] += fp_scrape_sum(&pg, n[k], NULL, NULL);
            br_ok = true;
        } else if (page && !strcmp(p->role, "connect")) {
            connect_page(r, &pg, acc, &nacc);
        } else if (page && (!strcmp(p->role, "lake") || !strcmp(p->role, "lake-watch") ||
                            !strcmp(p->role, "lake_watch"))) {
            static const char *const n[] = {
                "fleetpipe_lake_events_total", "fleetpipe_lake_rows_written_total",
                "fleetpipe_lake_objects_converted_total", "fleetpipe_lake_conversion_retries_total",
                "fleetpipe_lake_rows_failed_total"};
            for (int k = 0; k < 5; k++)
                lk[k] += fp_scrape_sum(&pg, n[k], NULL, NULL);
            int found = 0;
            lk[5] += fp_scrape_sum(&pg, "fleetpipe_lake_consumer_lag", NULL, &found);
            lag_ok = lag_ok || found;
            for (size_t s = 0; s < pg.n; s++)
                if (!strcmp(pg.v[s].name, "fleetpipe_lake_record_age_seconds_bucket")) {
                    const char *le = fp_scrape_label(&pg.v[s], "le");
                    int k = le ? age_index(le) : -1;
                    if (k >= 0) {
                        lage[k] += pg.v[s].value;
                        lage_ok = true;
                    }
                }
            lk_ok = true;
        }
        if (p->pid > 0) {
            if (!proc_read(p->pid, &cpu, &rss))
                cpu = rss = NAN;
        } else if (page) { /* a remote part: its own process metrics */
            int f1 = 0, f2 = 0;
            cpu = fp_scrape_sum(&pg, "process_cpu_seconds_total", NULL, &f1);
            rss = fp_scrape_sum(&pg, "process_resident_memory_bytes", NULL, &f2);
            if (!f1)
                cpu = NAN;
            if (!f2)
                rss = NAN;
        }
        setf(r, cpu, "cpu.%s", p->name);
        setf(r, rss, "rss.%s", p->name);
    }
    if (br_ok) {
        set(r, "bridge.received", br[0]);
        set(r, "bridge.acked", br[1]);
        set(r, "bridge.forwarded", br[2]);
        set(r, "bridge.dead", br[3]);
        set(r, "bridge.delivery_failures", br[4]);
        set(r, "bridge.unacked", br[5]);
        set(r, "bridge.reconnects", br[6]);
    }
    for (int i = 0; i < nacc; i++) {
        conn_acc *a = &acc[i];
        setf(r, a->in, "connect.%s.in", a->name);
        setf(r, a->out, "connect.%s.out", a->name);
        setf(r, a->dead, "connect.%s.dead", a->name);
        setf(r, a->retries, "connect.%s.retries", a->name);
        setf(r, a->lost, "connect.%s.lost", a->name);
        setf(r, a->objects, "connect.%s.objects", a->name);
        setf(r, a->lag_known ? a->lag : NAN, "connect.%s.lag", a->name);
        for (int k = 0; a->age_known && k < LT_AGE_BUCKETS; k++)
            setf(r, a->age[k], "connect.%s.age.%d", a->name, k);
    }
    if (lk_ok) {
        r->has_lake = true;
        set(r, "lake.events", lk[0]);
        set(r, "lake.rows", lk[1]);
        set(r, "lake.objects", lk[2]);
        set(r, "lake.retries", lk[3]);
        set(r, "lake.rows_failed", lk[4]);
        set(r, "lake.lag", lag_ok ? lk[5] : NAN);
        for (int k = 0; lage_ok && k < LT_AGE_BUCKETS; k++)
            setf(r, lage[k], "lake.age.%d", k);
    }
    /* the fleet: every child's acknowledged count (the final status once it exited) */
    double pub = 0, cpu = 0, rss = 0;
    bool any_proc = false;
    for (int i = 0; i < r->nkids; i++) {
        lt_child *c = &r->kids[i];
        if (c->running && c->conn) {
            fp_err e = {0};
            if (!fp_scrape_get(c->conn, c->metrics, 900, &body, &e) &&
                !fp_scrape_parse(body.p ? body.p : "", body.len, &pg, &e)) {
                int f = 0;
                double v = fp_scrape_sum(&pg, "fleetpipe_sim_messages_acked_total", NULL, &f);
                if (f)
                    c->last_acked = v;
            }
        }
        pub += !c->running && !isnan(c->published) && c->published > c->last_acked ? c->published
                                                                                   : c->last_acked;
        double cc, rs;
        if (c->running && proc_read(c->pid, &cc, &rs)) {
            c->last_cpu = cc;
            rss += isnan(rs) ? 0 : rs;
            any_proc = true;
        }
        cpu += c->last_cpu; /* an exited child's CPU stays counted */
    }
    set(r, "sim.published", pub);
    set(r, "cpu.sim", r->nkids ? cpu : NAN);
    set(r, "rss.sim", any_proc ? rss : NAN);
    set(r, "machine.busy", machine_busy_s());
    fp_scrape_page_free(&pg);
    fp_buf_free(&body);
}

/* ---------------------------------------------------------------- connector classes */

static void fetch_classes(lt_run *r)
{
    fp_buf body = FP_BUF_INIT;
    for (int i = 0; i < r->nparts; i++) {
        lt_part *p = &r->parts[i];
        if (!p->rest || !p->conn)
            continue;
        fp_buf url = FP_BUF_INIT;
        fp_buf_printf(&url, "%s/connectors?expand=info", p->rest);
        fp_err e = {0};
        if (!fp_scrape_get(p->conn, url.p, 3000, &body, &e)) {
            json_t *j = json_loadb(body.p ? body.p : "", body.len, 0, NULL);
            const char *name;
            json_t *v;
            json_object_foreach(j, name, v)
            {
                json_t *cfg = json_object_get(json_object_get(v, "info"), "config");
                const char *cls = json_string_value(json_object_get(cfg, "connector.class"));
                note_connector(r, name);
                for (int k = 0; cls && k < r->nconns; k++)
                    if (!strcmp(r->conns[k].name, name))
                        snprintf(r->conns[k].cls, sizeof r->conns[k].cls, "%s", cls);
            }
            json_decref(j);
        }
        fp_buf_free(&url);
    }
    fp_buf_free(&body);
}

/* ---------------------------------------------------------------- the run */

/* How long before its step a simulated child starts, to connect its new devices (mosquitto
 * takes a few ms per login): 3 s plus 5 ms a device, at most half a step and 30 s. */
static int64_t lead_ms(const fp_stack_loadtest_opts *o, int s)
{
    int64_t add = o->vehicles[s] - (s > 0 ? o->vehicles[s - 1] : 0);
    int64_t lead = 3000 + 5 * (add > 0 ? add : 0);
    if (lead > o->step_ms / 2)
        lead = o->step_ms / 2;
    return lead > 30000 ? 30000 : lead;
}

/* The wall-clock time of a monotonic instant. */
static int64_t wall_of(int64_t mono_ms)
{
    return fp_time_now_ms() + (mono_ms - fp_time_mono_ms());
}

static bool stopped(const lt_run *r)
{
    return r->o->stop && fp_stop_requested(r->o->stop);
}

/* Sleeps until mono deadline (or a stop); false on a stop. */
static bool sleep_until(const lt_run *r, int64_t deadline)
{
    return fp_stop_sleep_ms(r->o->stop, deadline - fp_time_mono_ms());
}

/* The pipeline is idle: every child exited, the bridge acknowledged everything the fleet
 * published, every lag is 0, and no counter moved over the last 3 ticks. */
static bool drained(lt_run *r)
{
    for (int i = 0; i < r->nkids; i++)
        if (r->kids[i].running)
            return false;
    if (r->nt < 4)
        return false;
    size_t e = r->nt - 1, b = r->nt - 4;
    const lt_series *pub = lt_find(r, "sim.published"), *ack = lt_find(r, "bridge.acked");
    if (ack && pub && !(ack->v[e] >= pub->v[e]))
        return false;
    for (size_t i = 0; i < r->ns; i++) {
        const lt_series *s = &r->s[i];
        const char *k = s->key;
        size_t kl = strlen(k);
        bool lag = kl > 4 && !strcmp(k + kl - 4, ".lag");
        bool counter = !strncmp(k, "bridge.", 7) || !strncmp(k, "connect.", 8) ||
                       !strncmp(k, "lake.", 5) || !strcmp(k, "sim.published");
        if (lag && s->v[e] > 0)
            return false;
        if (counter && !lag && !isnan(s->v[e]) && !isnan(s->v[b]) && s->v[e] != s->v[b])
            return false;
    }
    return true;
}

static fp_code make_dir(const char *d, fp_err *err)
{
    if (mkdir(d, 0777) != 0 && errno != EEXIST)
        return fp_err_set(err, FP_ERR_IO, "mkdir %s: %s", d, strerror(errno));
    return FP_OK;
}

static double per_vehicle_rate(void)
{
    fp_err e = {0};
    fp_sim_registry *reg = fp_sim_registry_load(NULL, &e);
    double rate = 0;
    for (size_t i = 0; reg && i < fp_sim_registry_count(reg); i++) {
        const fp_sim_protocol *p = fp_sim_registry_get(reg, i);
        if (p->periodic && p->send_interval_s > 0)
            rate += 1.0 / p->send_interval_s;
    }
    fp_sim_registry_free(reg);
    return rate;
}

static void run_free(lt_run *r)
{
    for (int i = 0; i < r->nparts; i++) {
        free(r->parts[i].name);
        free(r->parts[i].role);
        free(r->parts[i].metrics);
        free(r->parts[i].rest);
        fp_scrape_conn_free(r->parts[i].conn);
    }
    for (int i = 0; i < r->nkids; i++) {
        free(r->kids[i].status_path);
        free(r->kids[i].metrics);
        fp_scrape_conn_free(r->kids[i].conn);
    }
    for (size_t i = 0; i < r->ns; i++) {
        free(r->s[i].key);
        free(r->s[i].v);
    }
    free(r->s);
    free(r->t);
    free(r->step_of);
    free(r->mqtt);
    free(r->credentials);
    free(r->steps);
}

fp_code fp_stack_loadtest_run(const fp_stack_loadtest_opts *o, fp_stack_loadtest_result *res,
                              fp_err *err)
{
    *res = (fp_stack_loadtest_result){.sustainable_step = -1};
    if (o->nsteps < 1 || o->nsteps > LT_MAX_STEPS)
        return fp_err_set(err, FP_ERR_CONFIG, "between 1 and %d steps", LT_MAX_STEPS);
    if (!o->stack_dir == !o->endpoints)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "give exactly one of --stack DIR or --endpoints FILE");
    for (int i = 1; !o->replay && i < o->nsteps; i++)
        if (o->vehicles[i] < o->vehicles[i - 1])
            return fp_err_set(err, FP_ERR_CONFIG,
                              "--vehicles must not decrease (the fleet grows step by step)");
    lt_run r = {.o = o};
    fp_code rc = FP_OK;
    fp_buf file = FP_BUF_INIT;
    if (o->stack_dir)
        fp_buf_printf(&file, "%s/stack.json", o->stack_dir);
    else
        fp_buf_puts(&file, o->endpoints);
    rc = lt_load_parts(&r, file.p, err);
    fp_buf_free(&file);
    int64_t need = o->replay ? 0 : o->vehicles[o->nsteps - 1];
    if (!rc && o->replay) {
        /* the recording's highest id: the clones' stride, and K of it the accounts needed */
        FILE *rf = fopen(o->replay, "r");
        char *line = NULL;
        size_t cap = 0;
        while (rf && getline(&line, &cap, rf) > 0) {
            json_t *m = json_loads(line, 0, NULL);
            json_int_t id = json_integer_value(json_object_get(m, "id"));
            if (id > r.replay_stride)
                r.replay_stride = id;
            json_decref(m);
        }
        free(line);
        if (rf)
            fclose(rf);
        int64_t k = 1;
        for (int s = 0; s < o->nsteps; s++)
            k = o->multiply[s] > k ? o->multiply[s] : k;
        if (!rf)
            rc = fp_err_set(err, FP_ERR_CONFIG, "--replay %s: %s", o->replay, strerror(errno));
        else if (r.replay_stride <= 0)
            rc = fp_err_set(err, FP_ERR_CONFIG, "--replay %s: no message with a vehicle id",
                            o->replay);
        need = k * r.replay_stride;
    }
    if (!rc && r.credentials) {
        /* every vehicle of the largest step needs its account (dev-000001..) */
        FILE *f = fopen(r.credentials, "r");
        int64_t n = 0;
        for (int c = f ? getc(f) : EOF; c != EOF; c = getc(f))
            n += c == '\n';
        if (f)
            fclose(f);
        if (!f)
            rc = fp_err_set(err, FP_ERR_CONFIG, "device credentials %s: %s", r.credentials,
                            strerror(errno));
        else if (n < need)
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "device credentials %s cover %lld devices, the plan needs %lld: "
                            "provision more (fleetpipe sim provision --vehicles %lld) and reload "
                            "the broker's password file",
                            r.credentials, (long long)n, (long long)need, (long long)need);
    }
    if (!rc)
        rc = make_dir(o->out_dir, err);
    if (rc) {
        run_free(&r);
        return rc;
    }
    for (int i = 0; i < r.nparts; i++)
        if (r.parts[i].metrics || r.parts[i].rest)
            r.parts[i].conn = fp_scrape_conn_new();
    r.per_vehicle = o->replay ? NAN : per_vehicle_rate();
    r.steps = fp_xcalloc((size_t)o->nsteps, sizeof *r.steps);
    r.t0_ms = fp_time_now_ms();
    r.started_ms = r.t0_ms;
    fetch_classes(&r);
    /* The schedule: step s runs [T0 + s * step, T0 + (s + 1) * step) on the monotonic clock; a
     * simulated step's child is started lead_ms(s) before its step so its devices are connected
     * when the step begins (a replay's child starts at its step). */
    int64_t lead0 = o->replay ? 0 : lead_ms(o, 0);
    int64_t T0 = fp_time_mono_ms() + lead0, next = fp_time_mono_ms();
    tick(&r, -1); /* the baseline */
    if (!o->replay)
        rc = sim_start(&r, 0, wall_of(T0), err);
    for (next += 1000; !rc && next <= T0 && sleep_until(&r, next); next += 1000) {
        sim_reap(&r);
        tick(&r, -1);
    }
    for (int s = 0; s < o->nsteps && !rc && !stopped(&r); s++) {
        int64_t Ts = T0 + (int64_t)s * o->step_ms, end = Ts + o->step_ms;
        if (o->replay) {
            for (int i = 0; i < r.nkids; i++)
                sim_stop(&r.kids[i]);
            while (r.nkids && r.kids[r.nkids - 1].running && !stopped(&r)) {
                sim_reap(&r);
                usleep(50 * 1000);
            }
            rc = sim_start(&r, s, fp_time_now_ms(), err);
            if (rc)
                break;
        }
        r.steps[s].start_s = (double)(wall_of(Ts) - r.t0_ms) / 1000.0;
        r.nsteps_run = s + 1;
        fp_log(FP_LOG_INFO, "loadtest", -1, "step %d of %d: %lld %s for %lld s", s + 1, o->nsteps,
               (long long)(o->replay ? o->multiply[s] : o->vehicles[s]),
               o->replay ? "clones" : "vehicles", (long long)(o->step_ms / 1000));
        bool next_started = o->replay || s + 1 >= o->nsteps;
        int64_t Tn = end; /* the next step's start */
        for (next = Ts + 1000; next <= end; next += 1000) {
            if (!sleep_until(&r, next))
                break;
            sim_reap(&r);
            tick(&r, s);
            if (!next_started && fp_time_mono_ms() >= Tn - lead_ms(o, s + 1)) {
                next_started = true;
                rc = sim_start(&r, s + 1, wall_of(Tn), err);
                if (rc)
                    break;
            }
        }
        r.steps[s].end_s = (double)(fp_time_now_ms() - r.t0_ms) / 1000.0;
    }
    res->interrupted = stopped(&r);
    /* the drain: the fleet stops, the pipeline catches up */
    for (int i = 0; i < r.nkids; i++)
        sim_stop(&r.kids[i]);
    int64_t drain_end = fp_time_mono_ms() + o->drain_ms;
    next = fp_time_mono_ms() + 1000;
    while (fp_time_mono_ms() < drain_end) {
        sleep_until(&r, next);
        next += 1000;
        sim_reap(&r);
        tick(&r, LT_DRAIN);
        if (drained(&r)) {
            r.drained = true;
            break;
        }
        if (stopped(&r) && fp_time_mono_ms() > drain_end - o->drain_ms + 5000)
            break; /* a second interrupt is not waited for long */
    }
    for (int i = 0; i < r.nkids; i++) { /* every child is reaped before we return */
        if (!r.kids[i].running)
            continue;
        kill(r.kids[i].pid, SIGKILL);
        int st;
        waitpid(r.kids[i].pid, &st, 0);
        r.kids[i].running = false;
        sim_read_status(&r.kids[i]);
    }
    fetch_classes(&r);
    if (!rc) {
        lt_analyse(&r);
        rc = lt_write_json(&r, err);
        if (!rc)
            rc = lt_write_html(&r, err);
        res->sustainable_step = r.sustainable;
        if (r.sustainable >= 0) {
            res->sustainable_vehicles = o->replay ? 0 : o->vehicles[r.sustainable];
            res->sustainable_msgs_per_s = r.steps[r.sustainable].offered;
        }
    }
    run_free(&r);
    return rc;
}
