/* loadtest_report.c — the load test's analysis and report.json.
 *
 * Per step (its ticks, plus the tick before it as the baseline of every delta):
 *   offered and achieved per stage — the fleet: what the plan offers (vehicles x the registry's
 *   per-vehicle rate) vs what the broker acknowledged; the bridge: what the fleet published vs
 *   what the bridge acknowledged (forwarded + dead-lettered); a connector or lake watch: what
 *   arrived in its topics (consumed + lag growth) vs what it consumed.
 *   lag bounded — at the step's end at most lag_bound_s seconds of the stage's input, or not
 *   above the lag at the step's middle (not growing over the second half).
 *   short — achieved fell behind offered by more than 5 % and more than 5 messages (the fleet:
 *   20 % and 10, and only in steps of at least a minute or 200 expected messages, since its
 *   batches are spread over the 60 s send interval).
 *   latency — p50/p95/p99 of the record-age histograms' bucket deltas over the step; the target
 *   is met when every sink's p99 is at most latency_target_ms (a sink that consumed records in
 *   the step but made none durable does not meet it).
 *   a process near a core — above 90 % of one core over the step.
 * A step is sustainable when no stage is short or unbounded and the latency target is met; the
 * first saturated stage is the first, in pipeline order, that is short or unbounded in the first
 * step where one is, else the busiest process that is near a core.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/time.h"
#include "stack/loadtest_int.h"

static const double age_le[LT_AGE_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,   2.5,     5,
                                              10,   30,  60,   300, 900, INFINITY};

const lt_chart_def lt_charts[] = {
    {"rates", "Offered vs achieved messages per second, per stage"},
    {"lag", "Consumer lag per connector (records; bridge: messages not acknowledged yet)"},
    {"latency", "End-to-end latency per sink and step (p50, p95, p99)"},
    {"cpu", "CPU per process (% of one core)"},
    {"rss", "Resident memory per process (MiB)"},
};
const size_t lt_ncharts = sizeof lt_charts / sizeof lt_charts[0];

/* ---------------------------------------------------------------- helpers */

static const lt_series *findf(const lt_run *r, const char *fmt, const char *a)
{
    fp_buf k = FP_BUF_INIT;
    fp_buf_printf(&k, fmt, a);
    const lt_series *s = lt_find(r, k.p);
    fp_buf_free(&k);
    return s;
}

/* First and last valid values of s in ticks [a, b]. */
static bool ends(const lt_series *s, size_t a, size_t b, double *va, double *vb)
{
    if (!s)
        return false;
    size_t i = a, j = b;
    while (i <= b && isnan(s->v[i]))
        i++;
    while (j > i && isnan(s->v[j]))
        j--;
    if (i > b || isnan(s->v[j]))
        return false;
    *va = s->v[i];
    *vb = s->v[j];
    return true;
}

static double delta(const lt_series *s, size_t a, size_t b)
{
    double va, vb;
    return ends(s, a, b, &va, &vb) ? vb - va : NAN;
}

static double last_valid(const lt_series *s, size_t a, size_t b)
{
    double va, vb;
    return ends(s, a, b, &va, &vb) ? vb : NAN;
}

void lt_rate(const lt_run *r, const lt_series *s, size_t window, double *out)
{
    for (size_t i = 0; i < r->nt; i++) {
        out[i] = NAN;
        if (!s || i < 1)
            continue;
        size_t a = i > window ? i - window : 0;
        double dt = r->t[i] - r->t[a];
        if (dt > 0 && !isnan(s->v[i]) && !isnan(s->v[a]))
            out[i] = (s->v[i] - s->v[a]) / dt;
        if (out[i] < 0)
            out[i] = 0; /* a restarted part's counters */
    }
}

/* Lag of a stage at ticks [a, b]: max, value at the middle tick, end. lag(i) is a series or
 * the bridge's backlog. */
static bool lag_stats(const lt_run *r, const lt_series *lag, const lt_series *pub,
                      const lt_series *ack, size_t a, size_t b, lt_stage *st)
{
    st->lag_max = st->lag_mid = st->lag_end = NAN;
    bool any = false;
    size_t mid = a + (b - a) / 2;
    for (size_t i = a; i <= b; i++) {
        double v = lag ? lag->v[i] : (pub && ack ? pub->v[i] - ack->v[i] : NAN);
        if (isnan(v))
            continue;
        if (v < 0)
            v = 0;
        if (!any || v > st->lag_max)
            st->lag_max = v;
        if (i <= mid || isnan(st->lag_mid))
            st->lag_mid = v;
        st->lag_end = v;
        any = true;
    }
    (void)r;
    return any;
}

/* histogram_quantile over bucket deltas d[0..LT_AGE_BUCKETS) (cumulative). */
static double quantile(double q, const double *d, bool *above)
{
    double total = d[LT_AGE_BUCKETS - 1];
    if (!(total > 0))
        return NAN;
    double rank = q * total;
    for (int i = 0; i < LT_AGE_BUCKETS; i++) {
        if (d[i] < rank)
            continue;
        if (i == LT_AGE_BUCKETS - 1) {
            *above = true;
            return age_le[LT_AGE_BUCKETS - 2];
        }
        double lo = i ? age_le[i - 1] : 0, prev = i ? d[i - 1] : 0;
        double in = d[i] - prev;
        return in > 0 ? lo + (age_le[i] - lo) * (rank - prev) / in : age_le[i];
    }
    return NAN;
}

static void latency_of(const lt_run *r, const char *prefix, size_t a, size_t b, lt_latency *l)
{
    double d[LT_AGE_BUCKETS];
    bool any = false;
    for (int k = 0; k < LT_AGE_BUCKETS; k++) {
        char key[200];
        snprintf(key, sizeof key, "%s.age.%d", prefix, k);
        d[k] = delta(lt_find(r, key), a, b);
        if (isnan(d[k]))
            d[k] = 0;
        else
            any = true;
    }
    l->has = any && d[LT_AGE_BUCKETS - 1] > 0;
    l->count = any ? d[LT_AGE_BUCKETS - 1] : 0;
    l->p50 = quantile(0.50, d, &l->above);
    l->p95 = quantile(0.95, d, &l->above);
    l->p99 = quantile(0.99, d, &l->above);
}

/* Whether prefix's age histogram observed anything in the whole run: a sink whose records carry
 * no record.age.field (the aggregate's windows, and the sinks fed from fms.agg) has none, and
 * no latency to judge. */
static bool has_age(const lt_run *r, const char *prefix)
{
    char key[200];
    snprintf(key, sizeof key, "%s.age.%d", prefix, LT_AGE_BUCKETS - 1);
    const lt_series *s = lt_find(r, key);
    double n = s && r->nt ? last_valid(s, 0, r->nt - 1) : NAN;
    return n > 0;
}

/* The shortfall rule of the file's top comment. */
static bool short_of(double offered, double achieved, double secs, double share, double min_n)
{
    if (isnan(offered) || isnan(achieved) || offered <= 0)
        return false;
    double behind = (offered - achieved) * secs;
    return achieved < (1 - share) * offered && behind > min_n;
}

/* ---------------------------------------------------------------- analysis */

static void stage_verdict(const lt_run *r, lt_stage *st, double secs)
{
    double bound = (double)r->o->lag_bound_s * (isnan(st->offered) ? 0 : st->offered);
    if (bound < 1)
        bound = 1;
    st->bounded = !st->has_lag || !(st->lag_end > bound) || !(st->lag_end > st->lag_mid);
    bool sim = !strcmp(st->kind, "sim");
    /* The fleet's batches are spread over a 60 s send interval: a shorter step sees a random
     * share of the vehicles' sends, so the fleet's rate is only judged over whole intervals. */
    st->short_of = (!sim || secs >= 59 || st->offered * secs >= 200) &&
                   short_of(st->offered, st->achieved, secs, sim ? 0.2 : 0.05, sim ? 10 : 5);
    st->saturated = !st->bounded || st->short_of;
    st->why[0] = '\0';
    if (!st->bounded)
        snprintf(st->why, sizeof st->why,
                 "lag grew to %.0f at the step's end (%.0f at its middle; bound %.0f = %lld s of "
                 "input)",
                 st->lag_end, st->lag_mid, bound, (long long)r->o->lag_bound_s);
    else if (st->short_of)
        snprintf(st->why, sizeof st->why, "achieved %.1f/s of %.1f/s offered", st->achieved,
                 st->offered);
}

void lt_analyse(lt_run *r)
{
    const fp_stack_loadtest_opts *o = r->o;
    r->sustainable = -1;
    r->first_sat_step = -1;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    const lt_series *pub = lt_find(r, "sim.published"), *ack = lt_find(r, "bridge.acked");
    for (int s = 0; s < r->nsteps_run; s++) {
        lt_step *st = &r->steps[s];
        size_t a = 0, b = 0;
        bool found = false;
        for (size_t i = 0; i < r->nt; i++)
            if (r->step_of[i] == s) {
                if (!found)
                    a = i;
                b = i;
                found = true;
            }
        if (!found)
            continue;
        size_t a0 = a > 0 ? a - 1 : a; /* the tick before the step: its baseline */
        double secs = r->t[b] - r->t[a0];
        if (secs <= 0)
            secs = 1;
        st->seconds = secs;
        st->vehicles = o->replay ? 0 : o->vehicles[s];
        st->multiply = o->replay ? o->multiply[s] : 1;
        double sim_rate = delta(pub, a0, b) / secs;
        st->offered = o->replay ? sim_rate : (double)st->vehicles * r->per_vehicle;
        st->nstages = 0;
        /* the fleet */
        lt_stage *g = &st->stages[st->nstages++];
        *g = (lt_stage){.offered = st->offered, .achieved = sim_rate, .written = NAN};
        snprintf(g->name, sizeof g->name, "fleet (sim)");
        snprintf(g->kind, sizeof g->kind, "sim");
        snprintf(g->unit, sizeof g->unit, "messages");
        stage_verdict(r, g, secs);
        /* the bridge */
        if (ack) {
            lt_stage *br = &st->stages[st->nstages++];
            *br = (lt_stage){.offered = sim_rate, .achieved = delta(ack, a0, b) / secs};
            snprintf(br->name, sizeof br->name, "bridge");
            snprintf(br->kind, sizeof br->kind, "bridge");
            snprintf(br->unit, sizeof br->unit, "messages");
            br->written = delta(lt_find(r, "bridge.forwarded"), a0, b) / secs;
            br->dead = delta(lt_find(r, "bridge.dead"), a0, b);
            br->retries = delta(lt_find(r, "bridge.delivery_failures"), a0, b);
            br->has_lag = lag_stats(r, NULL, pub, ack, a, b, br);
            stage_verdict(r, br, secs);
        }
        /* connectors */
        for (int c = 0; c < r->nconns && st->nstages < LT_MAX_STAGES - 1; c++) {
            const char *n = r->conns[c].name;
            const lt_series *in = findf(r, "connect.%s.in", n),
                            *lag = findf(r, "connect.%s.lag", n);
            if (!in)
                continue;
            lt_stage *k = &st->stages[st->nstages++];
            *k = (lt_stage){0};
            int w = snprintf(k->name, sizeof k->name, "connect %s%s%s%s", n,
                             r->conns[c].cls[0] ? " (" : "", r->conns[c].cls,
                             r->conns[c].cls[0] ? ")" : "");
            (void)w; /* a long name is cut, as the report shows it */
            snprintf(k->kind, sizeof k->kind, "connect");
            snprintf(k->unit, sizeof k->unit, "messages");
            double din = delta(in, a0, b), la, lb;
            double dlag = ends(lag, a0, b, &la, &lb) ? lb - la : 0;
            k->achieved = din / secs;
            k->offered = (din + dlag) / secs;
            k->written = delta(findf(r, "connect.%s.out", n), a0, b) / secs;
            k->dead = delta(findf(r, "connect.%s.dead", n), a0, b);
            k->retries = delta(findf(r, "connect.%s.retries", n), a0, b);
            k->has_lag = lag_stats(r, lag, NULL, NULL, a, b, k);
            stage_verdict(r, k, secs);
        }
        if (r->has_lake) {
            lt_stage *k = &st->stages[st->nstages++];
            *k = (lt_stage){0};
            snprintf(k->name, sizeof k->name, "lake watch");
            snprintf(k->kind, sizeof k->kind, "lake");
            snprintf(k->unit, sizeof k->unit, "objects");
            const lt_series *ev = lt_find(r, "lake.events"), *lag = lt_find(r, "lake.lag");
            double din = delta(ev, a0, b), la, lb;
            double dlag = ends(lag, a0, b, &la, &lb) ? lb - la : 0;
            k->achieved = din / secs;
            k->offered = (din + dlag) / secs;
            k->written = delta(lt_find(r, "lake.rows"), a0, b) / secs;
            k->dead = delta(lt_find(r, "lake.rows_failed"), a0, b);
            k->retries = delta(lt_find(r, "lake.retries"), a0, b);
            k->has_lag = lag_stats(r, lag, NULL, NULL, a, b, k);
            stage_verdict(r, k, secs);
        }
        /* latency per sink */
        st->nlat = 0;
        st->latency_met = true;
        for (int c = 0; c < r->nconns; c++) {
            char prefix[160];
            snprintf(prefix, sizeof prefix, "connect.%s", r->conns[c].name);
            /* a window's age is its length by design: not a latency of the sample path */
            if (!has_age(r, prefix) || !strcmp(r->conns[c].cls, "aggregate"))
                continue;
            lt_latency *l = &st->lat[st->nlat++];
            *l = (lt_latency){0};
            snprintf(l->connector, sizeof l->connector, "%s", r->conns[c].name);
            snprintf(l->sink, sizeof l->sink, "%s%s%s%s", r->conns[c].name,
                     r->conns[c].cls[0] ? " (" : "", r->conns[c].cls,
                     r->conns[c].cls[0] ? ")" : "");
            latency_of(r, prefix, a0, b, l);
            double din = delta(findf(r, "connect.%s.in", r->conns[c].name), a0, b);
            l->met =
                l->has ? l->p99 * 1000 <= (double)o->latency_target_ms && !l->above : !(din > 0);
            st->latency_met = st->latency_met && l->met;
        }
        if (r->has_lake && has_age(r, "lake")) {
            lt_latency *l = &st->lat[st->nlat++];
            *l = (lt_latency){0};
            snprintf(l->sink, sizeof l->sink, "parquet (lake watch)");
            latency_of(r, "lake", a0, b, l);
            double din = delta(lt_find(r, "lake.events"), a0, b);
            l->met =
                l->has ? l->p99 * 1000 <= (double)o->latency_target_ms && !l->above : !(din > 0);
            st->latency_met = st->latency_met && l->met;
        }
        /* processes */
        st->nprocs = 0;
        for (int p = 0; p <= r->nparts; p++) {
            const char *name = p < r->nparts ? r->parts[p].name : "sim";
            const lt_series *cpu = findf(r, "cpu.%s", name), *rss = findf(r, "rss.%s", name);
            lt_proc *pr = &st->procs[st->nprocs++];
            *pr = (lt_proc){0};
            snprintf(pr->name, sizeof pr->name, "%s", name);
            snprintf(pr->role, sizeof pr->role, "%s", p < r->nparts ? r->parts[p].role : "sim");
            pr->cpu_pct = delta(cpu, a0, b) / secs * 100;
            pr->rss_peak = NAN;
            for (size_t i = a; rss && i <= b; i++)
                if (!isnan(rss->v[i]) && !(rss->v[i] <= pr->rss_peak))
                    pr->rss_peak = rss->v[i];
            pr->near_core = pr->cpu_pct >= 90;
        }
        st->machine_cpu_pct =
            delta(lt_find(r, "machine.busy"), a0, b) / secs / (double)(nproc > 0 ? nproc : 1) * 100;
        /* verdicts */
        st->lag_bounded = true;
        bool any_short = false;
        const lt_stage *first = NULL;
        for (int k = 0; k < st->nstages; k++) {
            st->lag_bounded = st->lag_bounded && st->stages[k].bounded;
            any_short = any_short || st->stages[k].short_of;
            if (!first && st->stages[k].saturated)
                first = &st->stages[k];
        }
        st->ok = st->lag_bounded && !any_short && st->latency_met;
        if (st->ok)
            r->sustainable = s;
        const lt_proc *hot = NULL;
        for (int p = 0; p < st->nprocs; p++)
            if (st->procs[p].near_core && (!hot || st->procs[p].cpu_pct > hot->cpu_pct))
                hot = &st->procs[p];
        if (r->first_sat_step < 0 && (first || hot)) {
            r->first_sat_step = s;
            if (first) {
                snprintf(r->first_sat_stage, sizeof r->first_sat_stage, "%s", first->name);
                snprintf(r->first_sat_why, sizeof r->first_sat_why, "%s", first->why);
            } else {
                snprintf(r->first_sat_stage, sizeof r->first_sat_stage, "process %s", hot->name);
                snprintf(r->first_sat_why, sizeof r->first_sat_why,
                         "%.0f %% of one core over the step", hot->cpu_pct);
            }
        }
        snprintf(st->verdict, sizeof st->verdict, "%s%s%s",
                 st->ok ? "sustainable" : "not sustainable:",
                 st->ok ? "" : (!st->lag_bounded || any_short ? " a stage fell behind" : ""),
                 st->ok || st->latency_met ? "" : " p99 latency above the target");
    }
}

/* ---------------------------------------------------------------- report.json */

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *count(double v)
{
    return isfinite(v) ? json_integer((json_int_t)llround(v)) : json_null();
}

static json_t *iso(int64_t ms)
{
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(ms, &b);
    json_t *j = json_string(b.p);
    fp_buf_free(&b);
    return j;
}

static json_t *plan_json(const lt_run *r)
{
    const fp_stack_loadtest_opts *o = r->o;
    json_t *steps = json_array();
    for (int s = 0; s < o->nsteps; s++) {
        json_t *st =
            json_pack("{s:i, s:i}", "step", s + 1, "duration_s", (json_int_t)(o->step_ms / 1000));
        if (o->replay)
            json_object_set_new(st, "multiply", json_integer(o->multiply[s]));
        else {
            json_object_set_new(st, "vehicles", json_integer(o->vehicles[s]));
            json_object_set_new(st, "offered_msgs_per_s",
                                num((double)o->vehicles[s] * r->per_vehicle));
        }
        json_array_append_new(steps, st);
    }
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    json_t *parts = json_array();
    for (int i = 0; i < r->nparts; i++) {
        const lt_part *p = &r->parts[i];
        json_t *pj = json_pack("{s:s, s:s}", "name", p->name, "role", p->role);
        json_object_set_new(pj, "metrics", p->metrics ? json_string(p->metrics) : json_null());
        json_object_set_new(pj, "pid", p->pid ? json_integer(p->pid) : json_null());
        json_object_set_new(pj, "scrape_errors", json_integer((json_int_t)p->scrape_errors));
        if (p->last_error[0])
            json_object_set_new(pj, "last_scrape_error", json_string(p->last_error));
        json_array_append_new(parts, pj);
    }
    json_t *plan =
        json_pack("{s:o, s:i, s:i, s:i, s:i, s:o, s:o, s:s, s:o, s:{s:i, s:o, s:s}, s:o}", "steps",
                  steps, "step_s", (json_int_t)(o->step_ms / 1000), "latency_target_ms",
                  (json_int_t)o->latency_target_ms, "lag_bound_s", (json_int_t)o->lag_bound_s,
                  "seed", (json_int_t)o->seed, "msgs_per_vehicle_s", num(r->per_vehicle), "replay",
                  o->replay ? json_string(o->replay) : json_null(), "mqtt", r->mqtt, "started_at",
                  iso(r->started_ms), "machine", "nproc", (json_int_t)nproc, "memory_bytes",
                  count(mem), "hostname", host, "parts", parts);
    json_object_set_new(plan, "simulator",
                        json_string(o->replay ? "one `fleetpipe sim --replay --retime` per step"
                                              : "one `fleetpipe sim --warm --first-id` per step "
                                                "adds the step's vehicles (a growing fleet)"));
    return plan;
}

static json_t *step_json(const lt_run *r, int s)
{
    const lt_step *st = &r->steps[s];
    json_t *stages = json_array(), *lat = json_array(), *procs = json_array();
    json_t *dead = json_object(), *retries = json_object();
    for (int k = 0; k < st->nstages; k++) {
        const lt_stage *g = &st->stages[k];
        json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:b, s:b, s:b}", "stage", g->name, "kind",
                              g->kind, "unit", g->unit, "offered_per_s", num(g->offered),
                              "achieved_per_s", num(g->achieved), "lag_bounded", g->bounded,
                              "short", g->short_of, "saturated", g->saturated);
        if (!isnan(g->written))
            json_object_set_new(j,
                                !strcmp(g->kind, "lake")     ? "rows_per_s"
                                : !strcmp(g->kind, "bridge") ? "forwarded_per_s"
                                                             : "records_written_per_s",
                                num(g->written));
        if (g->has_lag)
            json_object_set_new(j, "lag",
                                json_pack("{s:o, s:o, s:o}", "max", count(g->lag_max), "mid",
                                          count(g->lag_mid), "end", count(g->lag_end)));
        if (g->why[0])
            json_object_set_new(j, "why", json_string(g->why));
        json_array_append_new(stages, j);
        if (strcmp(g->kind, "sim")) {
            json_object_set_new(dead, g->name, count(g->dead));
            json_object_set_new(retries, g->name, count(g->retries));
        }
    }
    for (int k = 0; k < st->nlat; k++) {
        const lt_latency *l = &st->lat[k];
        json_array_append_new(
            lat, json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:b}", "sink", l->sink, "count",
                           count(l->count), "p50_s", num(l->p50), "p95_s", num(l->p95), "p99_s",
                           num(l->p99), "above_last_bucket", l->above, "meets_target", l->met));
    }
    for (int p = 0; p < st->nprocs; p++) {
        const lt_proc *pr = &st->procs[p];
        json_array_append_new(procs,
                              json_pack("{s:s, s:s, s:o, s:o, s:b}", "name", pr->name, "role",
                                        pr->role, "cpu_percent", num(pr->cpu_pct), "rss_peak_bytes",
                                        count(pr->rss_peak), "near_one_core", pr->near_core));
    }
    json_t *j = json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:b, "
                          "s:s}",
                          "step", s + 1, "vehicles",
                          r->o->replay ? json_null() : json_integer(st->vehicles), "start_s",
                          num(st->start_s), "seconds", num(st->seconds), "offered_msgs_per_s",
                          num(st->offered), "stages", stages, "latency", lat, "processes", procs,
                          "machine_cpu_percent", num(st->machine_cpu_pct), "dead_letters", dead,
                          "retries", retries, "lag_bounded", st->lag_bounded, "latency_met",
                          st->latency_met, "sustainable", st->ok, "verdict", st->verdict);
    if (r->o->replay)
        json_object_set_new(j, "multiply", json_integer(st->multiply));
    return j;
}

static json_t *totals_json(const lt_run *r)
{
    size_t e = r->nt ? r->nt - 1 : 0;
    json_t *t = json_object();
    json_object_set_new(t, "sim_published", count(last_valid(lt_find(r, "sim.published"), 0, e)));
    double pub_status = 0;
    for (int i = 0; i < r->nkids; i++)
        pub_status += isnan(r->kids[i].published) ? 0 : r->kids[i].published;
    json_object_set_new(t, "sim_published_by_status", count(pub_status));
    if (lt_find(r, "bridge.acked")) {
        json_t *b = json_object();
        static const char *const k[][2] = {{"received", "bridge.received"},
                                           {"acked", "bridge.acked"},
                                           {"forwarded", "bridge.forwarded"},
                                           {"dead_lettered", "bridge.dead"},
                                           {"delivery_failures", "bridge.delivery_failures"},
                                           {"reconnects", "bridge.reconnects"}};
        for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
            json_object_set_new(b, k[i][0], count(last_valid(lt_find(r, k[i][1]), 0, e)));
        json_object_set_new(t, "bridge", b);
    }
    json_t *cs = json_object();
    for (int c = 0; c < r->nconns; c++) {
        const char *n = r->conns[c].name;
        if (!findf(r, "connect.%s.in", n))
            continue;
        json_t *cj = json_object();
        json_object_set_new(cj, "class", json_string(r->conns[c].cls));
        static const char *const k[][2] = {
            {"records_in", "in"},   {"records_out", "out"},   {"dead_lettered", "dead"},
            {"retries", "retries"}, {"records_lost", "lost"}, {"sink_objects", "objects"},
            {"lag", "lag"}};
        for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
            fp_buf key = FP_BUF_INIT;
            fp_buf_printf(&key, "connect.%s.%s", n, k[i][1]);
            json_object_set_new(cj, k[i][0], count(last_valid(lt_find(r, key.p), 0, e)));
            fp_buf_free(&key);
        }
        json_object_set_new(cs, n, cj);
    }
    json_object_set_new(t, "connectors", cs);
    if (r->has_lake)
        json_object_set_new(
            t, "lake",
            json_pack("{s:o, s:o, s:o, s:o, s:o}", "events",
                      count(last_valid(lt_find(r, "lake.events"), 0, e)), "objects_converted",
                      count(last_valid(lt_find(r, "lake.objects"), 0, e)), "rows_written",
                      count(last_valid(lt_find(r, "lake.rows"), 0, e)), "rows_failed",
                      count(last_valid(lt_find(r, "lake.rows_failed"), 0, e)), "lag",
                      count(last_valid(lt_find(r, "lake.lag"), 0, e))));
    return t;
}

static json_t *series_json(const lt_run *r)
{
    json_t *j = json_object(), *t = json_array(), *st = json_array();
    for (size_t i = 0; i < r->nt; i++) {
        json_array_append_new(t, json_real(r->t[i]));
        json_array_append_new(
            st, r->step_of[i] >= 0 ? json_integer(r->step_of[i] + 1)
                                   : json_string(r->step_of[i] == LT_DRAIN ? "drain" : "baseline"));
    }
    json_object_set_new(j, "t_s", t);
    json_object_set_new(j, "step", st);
    for (size_t k = 0; k < r->ns; k++) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->nt; i++)
            json_array_append_new(a, num(r->s[k].v[i]));
        json_object_set_new(j, r->s[k].key, a);
    }
    return j;
}

fp_code lt_write_json(const lt_run *r, fp_err *err)
{
    json_t *steps = json_array();
    for (int s = 0; s < r->nsteps_run; s++)
        json_array_append_new(steps, step_json(r, s));
    json_t *charts = json_array();
    for (size_t i = 0; i < lt_ncharts; i++)
        json_array_append_new(
            charts, json_pack("{s:s, s:s}", "id", lt_charts[i].id, "title", lt_charts[i].title));
    json_t *result = json_object();
    int su = r->sustainable;
    json_object_set_new(result, "sustainable_step", su >= 0 ? json_integer(su + 1) : json_null());
    json_object_set_new(result, "sustainable_vehicles",
                        su >= 0 && !r->o->replay ? json_integer(r->steps[su].vehicles)
                                                 : json_null());
    json_object_set_new(result, "sustainable_msgs_per_s",
                        su >= 0 ? num(r->steps[su].offered) : json_null());
    json_object_set_new(
        result, "definition",
        json_string("the highest step whose every stage kept up (achieved within 5 % of offered, "
                    "the fleet within 20 %) with bounded lag (at the step's end at most "
                    "lag_bound_s seconds of input, or not above the lag at the step's middle) and "
                    "whose every sink's p99 latency is at most latency_target_ms"));
    if (r->first_sat_step >= 0)
        json_object_set_new(
            result, "first_saturated",
            json_pack("{s:i, s:o, s:s, s:s}", "step", r->first_sat_step + 1, "vehicles",
                      r->o->replay ? json_null()
                                   : json_integer(r->steps[r->first_sat_step].vehicles),
                      "stage", r->first_sat_stage, "why", r->first_sat_why));
    else
        json_object_set_new(result, "first_saturated", json_null());
    json_object_set_new(result, "drained", json_boolean(r->drained));
    json_t *doc =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "plan", plan_json(r), "steps", steps, "result",
                  result, "totals", totals_json(r), "charts", charts, "series", series_json(r));
    fp_buf path = FP_BUF_INIT;
    fp_buf_printf(&path, "%s/report.json", r->o->out_dir);
    fp_buf tmp = FP_BUF_INIT;
    fp_buf_printf(&tmp, "%s.tmp", path.p);
    fp_code rc = FP_OK;
    if (json_dump_file(doc, tmp.p, JSON_INDENT(1) | JSON_REAL_PRECISION(6)) != 0 ||
        rename(tmp.p, path.p) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "cannot write %s", path.p);
    json_decref(doc);
    fp_buf_free(&path);
    fp_buf_free(&tmp);
    return rc;
}
