/* loadtest_html.c — report.html: one self-contained page (inline CSS and SVG, no script, no
 * external resource) with the plan and the key results at the top, a table per step, then the
 * charts of lt_charts[] drawn here as SVG line charts.
 *
 * The one thing to know: every string that reaches the page (part and connector names, paths,
 * reasons) goes through esc(), which escapes & < > " and '; numbers are formatted by us.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/time.h"
#include "stack/loadtest_int.h"

#define W 820
#define H 300
#define ML 70
#define MR 20
#define MT 16
#define MB 36

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
#define NPAL (sizeof palette / sizeof palette[0])

static void esc(fp_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fp_buf_puts(b, "&amp;");
            break;
        case '<':
            fp_buf_puts(b, "&lt;");
            break;
        case '>':
            fp_buf_puts(b, "&gt;");
            break;
        case '"':
            fp_buf_puts(b, "&quot;");
            break;
        case '\'':
            fp_buf_puts(b, "&#39;");
            break;
        default:
            fp_buf_putc(b, *s);
        }
    }
}

/* A number for a table cell: "–" when unknown. */
static void cell(fp_buf *b, double v, const char *fmt)
{
    fp_buf_puts(b, "<td>");
    if (isfinite(v))
        fp_buf_printf(b, fmt, v);
    else
        fp_buf_puts(b, "&#8211;");
    fp_buf_puts(b, "</td>");
}

static void bytes_cell(fp_buf *b, double v)
{
    cell(b, isfinite(v) ? v / 1048576.0 : NAN, "%.1f MiB");
}

/* ---------------------------------------------------------------- charts */

typedef struct line {
    char name[200];
    double *y; /* owned */
    bool dashed, points;
} line;

typedef struct chart {
    const char *id, *title, *yunit;
    const double *x;
    size_t n;
    line lines[LT_MAX_CONNECTORS + LT_MAX_PARTS + 8];
    size_t nl;
    const char *const *xlabels; /* category labels instead of a numeric x axis */
    double hline;               /* a horizontal target line, NaN none */
    const char *hline_name;
    const lt_run *r; /* step boundaries */
} chart;

static line *add_line(chart *c, const char *name, bool dashed)
{
    line *l = &c->lines[c->nl++];
    snprintf(l->name, sizeof l->name, "%.*s", (int)sizeof l->name - 1, name); /* cut */
    l->y = fp_xmalloc((c->n ? c->n : 1) * sizeof *l->y);
    for (size_t i = 0; i < c->n; i++)
        l->y[i] = NAN;
    l->dashed = dashed;
    return l;
}

static double nice_step(double v)
{
    if (!(v > 0))
        return 1;
    double e = pow(10, floor(log10(v))), f = v / e;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * e;
}

static void tick_label(fp_buf *b, double v)
{
    double a = fabs(v);
    if (a >= 1e9)
        fp_buf_printf(b, "%gG", v / 1e9);
    else if (a >= 1e6)
        fp_buf_printf(b, "%gM", v / 1e6);
    else if (a >= 1e4)
        fp_buf_printf(b, "%gk", v / 1e3);
    else
        fp_buf_printf(b, "%g", v);
}

static void draw(fp_buf *b, chart *c)
{
    double xmin = 0, xmax = 1, ymax = 0;
    if (c->n) {
        xmin = c->xlabels ? -0.5 : c->x[0]; /* categories sit in the middle of their slot */
        xmax = c->xlabels ? (double)c->n - 0.5 : c->x[c->n - 1];
    }
    if (xmax <= xmin)
        xmax = xmin + 1;
    for (size_t l = 0; l < c->nl; l++)
        for (size_t i = 0; i < c->n; i++)
            if (isfinite(c->lines[l].y[i]) && c->lines[l].y[i] > ymax)
                ymax = c->lines[l].y[i];
    if (isfinite(c->hline) && c->hline > ymax)
        ymax = c->hline;
    double ystep = nice_step(ymax / 5);
    ymax = ystep * ceil(ymax / ystep);
    if (ymax <= 0)
        ymax = ystep;
    size_t rows = (c->nl + (isfinite(c->hline) ? 1 : 0) + 2) / 3;
    int height = H + (int)rows * 18;
    double pw = W - ML - MR, ph = H - MT - MB;
#define PX(x) (ML + ((x)-xmin) / (xmax - xmin) * pw)
#define PY(y) (MT + ph - (y) / ymax * ph)
    fp_buf_printf(b, "<figure id=\"chart-%s\"><figcaption>", c->id);
    esc(b, c->title);
    fp_buf_printf(b,
                  "</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                  "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
                  W, height, W, height);
    esc(b, c->title);
    fp_buf_puts(b, "\">\n");
    fp_buf_printf(b,
                  "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
                  "stroke=\"#ccc\"/>\n",
                  ML, MT, pw, ph);
    /* y grid and labels */
    for (double y = 0; y <= ymax + ystep / 2; y += ystep) {
        fp_buf_printf(b,
                      "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>"
                      "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">",
                      ML, ML + pw, PY(y), PY(y), ML - 4, PY(y) + 4);
        tick_label(b, y);
        fp_buf_puts(b, "</text>\n");
    }
    fp_buf_printf(b,
                  "<text x=\"14\" y=\"%.1f\" font-size=\"11\" transform=\"rotate(-90 14 %.1f)\" "
                  "text-anchor=\"middle\">",
                  MT + ph / 2, MT + ph / 2);
    esc(b, c->yunit);
    fp_buf_puts(b, "</text>\n");
    /* x axis */
    if (c->xlabels) {
        for (size_t i = 0; i < c->n; i++) {
            double x = PX((double)i);
            fp_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">",
                          x, MT + ph + 16);
            esc(b, c->xlabels[i]);
            fp_buf_puts(b, "</text>\n");
        }
    } else {
        double xs = nice_step((xmax - xmin) / 8);
        for (double x = ceil(xmin / xs) * xs; x <= xmax; x += xs)
            fp_buf_printf(b,
                          "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                          "font-size=\"11\">%g s</text>\n",
                          PX(x), PX(x), MT, MT + ph, PX(x), MT + ph + 16, x);
        /* step boundaries */
        for (int s = 0; c->r && s < c->r->nsteps_run; s++) {
            double x = c->r->steps[s].start_s;
            if (x < xmin || x > xmax)
                continue;
            fp_buf_printf(b,
                          "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\" stroke=\"#999\" "
                          "stroke-dasharray=\"2 3\"/><text x=\"%.1f\" y=\"%d\" font-size=\"10\" "
                          "fill=\"#555\">step %d</text>\n",
                          PX(x), PX(x), MT, MT + ph, PX(x) + 3, MT + 10, s + 1);
        }
    }
    /* lines */
    for (size_t l = 0; l < c->nl; l++) {
        const line *ln = &c->lines[l];
        const char *col = palette[l % NPAL];
        fp_buf_puts(b, "<path fill=\"none\" stroke-width=\"1.6\" stroke=\"");
        fp_buf_puts(b, col);
        fp_buf_puts(b, ln->dashed ? "\" stroke-dasharray=\"6 4\" d=\"" : "\" d=\"");
        bool pen = false, any = false;
        for (size_t i = 0; i < c->n; i++) {
            double y = ln->y[i];
            if (!isfinite(y)) {
                pen = false;
                continue;
            }
            double x = c->xlabels ? PX((double)i) : PX(c->x[i]);
            fp_buf_printf(b, "%s%.1f %.1f ", pen ? "L" : "M", x, PY(y));
            pen = any = true;
        }
        if (!any)
            fp_buf_printf(b, "M%d %.1f", ML, PY(0));
        fp_buf_puts(b, "\"/>\n");
        for (size_t i = 0; c->xlabels && i < c->n; i++)
            if (isfinite(ln->y[i]))
                fp_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                              PX((double)i), PY(ln->y[i]), col);
    }
    if (isfinite(c->hline))
        fp_buf_printf(b,
                      "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" "
                      "stroke-dasharray=\"1 3\"/>\n",
                      ML, ML + pw, PY(c->hline), PY(c->hline));
    /* legend */
    size_t k = 0;
    for (size_t l = 0; l <= c->nl; l++, k++) {
        bool target = l == c->nl;
        if (target && !isfinite(c->hline))
            break;
        double lx = ML + (double)(k % 3) * (pw / 3), ly = H + (double)(k / 3) * 18 - 4;
        fp_buf_printf(b,
                      "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"2\"%s/><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">",
                      lx, lx + 18, ly - 4, ly - 4, target ? "#000" : palette[l % NPAL],
                      target               ? " stroke-dasharray=\"1 3\""
                      : c->lines[l].dashed ? " stroke-dasharray=\"6 4\""
                                           : "",
                      lx + 22, ly);
        esc(b, target ? c->hline_name : c->lines[l].name);
        fp_buf_puts(b, "</text>\n");
    }
    fp_buf_puts(b, "</svg></figure>\n");
#undef PX
#undef PY
    for (size_t l = 0; l < c->nl; l++)
        free(c->lines[l].y);
    c->nl = 0;
}

static void chart_init(chart *c, const lt_run *r, const char *id, const char *yunit)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->yunit = yunit;
    c->x = r->t;
    c->n = r->nt;
    c->r = r;
    c->hline = NAN;
    for (size_t i = 0; i < lt_ncharts; i++)
        if (!strcmp(lt_charts[i].id, id))
            c->title = lt_charts[i].title;
}

static void rate_line(chart *c, const lt_run *r, const char *key, const char *name, bool dashed)
{
    const lt_series *s = lt_find(r, key);
    if (!s)
        return;
    line *l = add_line(c, name, dashed);
    lt_rate(r, s, 5, l->y);
}

/* The series "<what>.<part>" when it holds any reading, else NULL (a part never measured). */
static const lt_series *process_series(const lt_run *r, const char *what, const char *part)
{
    char key[200];
    snprintf(key, sizeof key, "%s.%s", what, part);
    const lt_series *s = lt_find(r, key);
    for (size_t i = 0; s && i < r->nt; i++)
        if (isfinite(s->v[i]))
            return s;
    return NULL;
}

static void charts(fp_buf *b, const lt_run *r)
{
    chart c;
    /* offered vs achieved */
    chart_init(&c, r, "rates", "messages / s (5 s average)");
    if (!r->o->replay && r->nt) {
        line *l = add_line(&c, "offered by the plan", true);
        for (size_t i = 0; i < r->nt; i++) {
            int s = r->step_of[i];
            l->y[i] = s >= 0 ? (double)r->o->vehicles[s] * r->per_vehicle : NAN;
        }
    }
    rate_line(&c, r, "sim.published", "fleet published (broker acknowledged)", false);
    rate_line(&c, r, "bridge.acked", "bridge acknowledged", false);
    for (int k = 0; k < r->nconns; k++) {
        char key[200], name[200];
        snprintf(key, sizeof key, "connect.%s.in", r->conns[k].name);
        snprintf(name, sizeof name, "connect %s consumed", r->conns[k].name);
        rate_line(&c, r, key, name, false);
    }
    rate_line(&c, r, "lake.events", "lake watch objects converted", false);
    draw(b, &c);
    /* lag */
    chart_init(&c, r, "lag", "records");
    const lt_series *pub = lt_find(r, "sim.published"), *ack = lt_find(r, "bridge.acked");
    if (pub && ack) {
        line *l = add_line(&c, "bridge: published, not acknowledged", false);
        for (size_t i = 0; i < r->nt; i++)
            l->y[i] = pub->v[i] - ack->v[i] < 0 ? 0 : pub->v[i] - ack->v[i];
    }
    for (int k = 0; k < r->nconns; k++) {
        char key[200], name[200];
        snprintf(key, sizeof key, "connect.%s.lag", r->conns[k].name);
        snprintf(name, sizeof name, "connect %s", r->conns[k].name);
        const lt_series *s = lt_find(r, key);
        if (!s)
            continue;
        line *l = add_line(&c, name, false);
        memcpy(l->y, s->v, r->nt * sizeof *l->y);
    }
    const lt_series *ll = lt_find(r, "lake.lag");
    if (ll) {
        line *l = add_line(&c, "lake watch (events)", false);
        memcpy(l->y, ll->v, r->nt * sizeof *l->y);
    }
    draw(b, &c);
    /* latency per step */
    chart_init(&c, r, "latency", "seconds");
    char **labels = fp_xcalloc((size_t)(r->nsteps_run ? r->nsteps_run : 1), sizeof *labels);
    for (int s = 0; s < r->nsteps_run; s++) {
        fp_buf l = FP_BUF_INIT;
        if (r->o->replay)
            fp_buf_printf(&l, "step %d (x%lld)", s + 1, (long long)r->steps[s].multiply);
        else
            fp_buf_printf(&l, "step %d (%lld vehicles)", s + 1, (long long)r->steps[s].vehicles);
        labels[s] = fp_buf_steal(&l);
    }
    c.x = NULL;
    c.n = (size_t)r->nsteps_run;
    c.xlabels = (const char *const *)labels;
    c.hline = (double)r->o->latency_target_ms / 1000.0;
    c.hline_name = "p99 target";
    int nsinks = r->nsteps_run ? r->steps[0].nlat : 0;
    for (int k = 0; k < nsinks && c.nl + 3 < sizeof c.lines / sizeof c.lines[0]; k++) {
        static const char *const q[] = {"p50", "p95", "p99"};
        for (int qi = 0; qi < 3; qi++) {
            char name[260];
            snprintf(name, sizeof name, "%s %s", r->steps[0].lat[k].sink, q[qi]);
            line *l = add_line(&c, name, qi < 2);
            for (int s = 0; s < r->nsteps_run; s++) {
                const lt_latency *lt = k < r->steps[s].nlat ? &r->steps[s].lat[k] : NULL;
                l->y[s] = !lt ? NAN : qi == 0 ? lt->p50 : qi == 1 ? lt->p95 : lt->p99;
            }
        }
    }
    draw(b, &c);
    for (int s = 0; s < r->nsteps_run; s++)
        free(labels[s]);
    free(labels);
    /* CPU and RSS */
    chart_init(&c, r, "cpu", "% of one core (5 s average)");
    for (int p = 0; p <= r->nparts; p++) {
        const char *name = p < r->nparts ? r->parts[p].name : "sim";
        const lt_series *s = process_series(r, "cpu", name);
        if (!s)
            continue;
        line *l = add_line(&c, name, false);
        lt_rate(r, s, 5, l->y);
        for (size_t i = 0; i < r->nt; i++)
            l->y[i] *= 100;
    }
    draw(b, &c);
    chart_init(&c, r, "rss", "MiB");
    for (int p = 0; p <= r->nparts; p++) {
        const char *name = p < r->nparts ? r->parts[p].name : "sim";
        const lt_series *s = process_series(r, "rss", name);
        if (!s)
            continue;
        line *l = add_line(&c, name, false);
        for (size_t i = 0; i < r->nt; i++)
            l->y[i] = s->v[i] / 1048576.0;
    }
    draw(b, &c);
}

/* ---------------------------------------------------------------- the page */

static void plan_section(fp_buf *b, const lt_run *r)
{
    const fp_stack_loadtest_opts *o = r->o;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    fp_buf when = FP_BUF_INIT;
    fp_time_format_iso(r->started_ms, &when);
    fp_buf_puts(b, "<section id=\"plan\"><h2>Plan</h2><table class=\"kv\">");
    fp_buf_puts(b, "<tr><th>started</th><td>");
    esc(b, when.p);
    fp_buf_puts(b, "</td></tr><tr><th>steps</th><td>");
    for (int s = 0; s < o->nsteps; s++) {
        if (o->replay)
            fp_buf_printf(b, "%s&#215;%lld", s ? ", " : "", (long long)o->multiply[s]);
        else
            fp_buf_printf(b, "%s%lld", s ? ", " : "", (long long)o->vehicles[s]);
    }
    fp_buf_printf(b, " %s, %lld s each (then up to %lld s of drain)</td></tr>",
                  o->replay ? "(replay clones)" : "vehicles", (long long)(o->step_ms / 1000),
                  (long long)(o->drain_ms / 1000));
    if (o->replay) {
        fp_buf_puts(b, "<tr><th>replay</th><td>");
        esc(b, o->replay);
        fp_buf_puts(b, " (re-timed to now)</td></tr>");
    } else {
        fp_buf_printf(b,
                      "<tr><th>offered</th><td>%.4f messages/s per vehicle (the protocol "
                      "registry's send intervals); the fleet grows step by step, each vehicle "
                      "its own MQTT client (QoS 1)</td></tr>",
                      r->per_vehicle);
    }
    fp_buf_printf(b,
                  "<tr><th>targets</th><td>p99 end-to-end latency &#8804; %lld ms per sink; lag "
                  "bounded: &#8804; %lld s of input at a step's end, or not growing over its "
                  "second half</td></tr>",
                  (long long)o->latency_target_ms, (long long)o->lag_bound_s);
    fp_buf_printf(b, "<tr><th>machine</th><td>%ld CPUs, %.1f GiB memory</td></tr>", nproc,
                  mem / 1073741824.0);
    fp_buf_puts(b, "<tr><th>MQTT</th><td>");
    esc(b, r->mqtt);
    fp_buf_puts(b, "</td></tr><tr><th>parts</th><td>");
    for (int i = 0; i < r->nparts; i++) {
        if (i)
            fp_buf_puts(b, ", ");
        esc(b, r->parts[i].name);
        fp_buf_puts(b, " (");
        esc(b, r->parts[i].role);
        if (r->parts[i].pid)
            fp_buf_printf(b, ", pid %d", r->parts[i].pid);
        fp_buf_puts(b, ")");
    }
    fp_buf_puts(b, "</td></tr></table></section>\n");
    fp_buf_free(&when);
}

static void result_section(fp_buf *b, const lt_run *r)
{
    fp_buf_puts(b, "<section id=\"result\"><h2>Result</h2><ul>");
    if (r->sustainable >= 0) {
        const lt_step *s = &r->steps[r->sustainable];
        fp_buf_printf(b, "<li class=\"ok\"><strong>Sustainable:</strong> step %d",
                      r->sustainable + 1);
        if (!r->o->replay)
            fp_buf_printf(b, ", %lld vehicles", (long long)s->vehicles);
        fp_buf_printf(b, ", %.1f messages/s offered.</li>", s->offered);
    } else {
        fp_buf_puts(b, "<li class=\"bad\"><strong>No step was sustainable</strong> (see the "
                       "table).</li>");
    }
    if (r->first_sat_step >= 0) {
        fp_buf_printf(b, "<li><strong>Saturated first:</strong> ");
        esc(b, r->first_sat_stage);
        fp_buf_printf(b, " at step %d: ", r->first_sat_step + 1);
        esc(b, r->first_sat_why);
        fp_buf_puts(b, ".</li>");
    } else {
        fp_buf_puts(b, "<li><strong>No stage saturated</strong> in the steps run.</li>");
    }
    fp_buf_printf(b, "<li>Drained after the last step: %s.</li></ul>",
                  r->drained ? "yes (every lag 0, no counter moving)" : "no (time ran out)");
    /* key metrics per step */
    fp_buf_puts(b, "<table><thead><tr><th>step</th><th>vehicles</th><th>offered msg/s</th>"
                   "<th>fleet msg/s</th><th>bridge msg/s</th><th>max lag</th>"
                   "<th>worst p99</th><th>machine CPU</th><th>verdict</th></tr></thead><tbody>");
    for (int s = 0; s < r->nsteps_run; s++) {
        const lt_step *st = &r->steps[s];
        fp_buf_printf(b, "<tr class=\"%s\"><td>%d</td>", st->ok ? "ok" : "bad", s + 1);
        cell(b, r->o->replay ? NAN : (double)st->vehicles, "%.0f");
        cell(b, st->offered, "%.1f");
        cell(b, st->nstages > 0 ? st->stages[0].achieved : NAN, "%.1f");
        double br = NAN, lag = NAN, p99 = NAN;
        for (int k = 0; k < st->nstages; k++) {
            if (!strcmp(st->stages[k].kind, "bridge"))
                br = st->stages[k].achieved;
            if (st->stages[k].has_lag && !(st->stages[k].lag_max <= lag))
                lag = st->stages[k].lag_max;
        }
        for (int k = 0; k < st->nlat; k++)
            if (st->lat[k].has && !(st->lat[k].p99 <= p99))
                p99 = st->lat[k].p99;
        cell(b, br, "%.1f");
        cell(b, lag, "%.0f");
        cell(b, p99, "%.2f s");
        cell(b, st->machine_cpu_pct, "%.0f %%");
        fp_buf_puts(b, "<td>");
        esc(b, st->verdict);
        fp_buf_puts(b, "</td></tr>");
    }
    fp_buf_puts(b, "</tbody></table></section>\n");
}

static void steps_section(fp_buf *b, const lt_run *r)
{
    fp_buf_puts(b, "<section id=\"steps\"><h2>Steps</h2>");
    for (int s = 0; s < r->nsteps_run; s++) {
        const lt_step *st = &r->steps[s];
        fp_buf_printf(b, "<h3>Step %d", s + 1);
        if (!r->o->replay)
            fp_buf_printf(b, ": %lld vehicles", (long long)st->vehicles);
        fp_buf_printf(b, " (%.0f s from %.0f s)</h3>", st->seconds, st->start_s);
        fp_buf_puts(b, "<table><thead><tr><th>stage</th><th>offered /s</th><th>achieved /s</th>"
                       "<th>written /s</th><th>lag max</th><th>lag end</th><th>dead letters</th>"
                       "<th>retries</th><th>state</th></tr></thead><tbody>");
        for (int k = 0; k < st->nstages; k++) {
            const lt_stage *g = &st->stages[k];
            fp_buf_printf(b, "<tr class=\"%s\"><td>", g->saturated ? "bad" : "ok");
            esc(b, g->name);
            fp_buf_puts(b, "</td>");
            cell(b, g->offered, "%.2f");
            cell(b, g->achieved, "%.2f");
            cell(b, g->written, "%.2f");
            cell(b, g->has_lag ? g->lag_max : NAN, "%.0f");
            cell(b, g->has_lag ? g->lag_end : NAN, "%.0f");
            cell(b, strcmp(g->kind, "sim") ? g->dead : NAN, "%.0f");
            cell(b, strcmp(g->kind, "sim") ? g->retries : NAN, "%.0f");
            fp_buf_puts(b, "<td>");
            esc(b, g->saturated ? g->why : "kept up");
            fp_buf_puts(b, "</td></tr>");
        }
        fp_buf_puts(b, "</tbody></table>");
        if (st->nlat) {
            fp_buf_puts(b, "<table><thead><tr><th>sink (end-to-end latency)</th><th>records</th>"
                           "<th>p50</th><th>p95</th><th>p99</th><th>target</th></tr></thead>"
                           "<tbody>");
            for (int k = 0; k < st->nlat; k++) {
                const lt_latency *l = &st->lat[k];
                fp_buf_printf(b, "<tr class=\"%s\"><td>", l->met ? "ok" : "bad");
                esc(b, l->sink);
                fp_buf_puts(b, "</td>");
                cell(b, l->count, "%.0f");
                cell(b, l->p50, "%.3f s");
                cell(b, l->p95, "%.3f s");
                cell(b, l->p99, l->above ? "&gt; %.0f s" : "%.3f s");
                fp_buf_printf(b, "<td>%s</td></tr>",
                              l->met   ? "met"
                              : l->has ? "missed"
                                       : "no record made durable");
            }
            fp_buf_puts(b, "</tbody></table>");
        }
        fp_buf_puts(b, "<table><thead><tr><th>process</th><th>role</th><th>CPU</th>"
                       "<th>peak RSS</th></tr></thead><tbody>");
        for (int p = 0; p < st->nprocs; p++) {
            const lt_proc *pr = &st->procs[p];
            fp_buf_printf(b, "<tr class=\"%s\"><td>", pr->near_core ? "bad" : "ok");
            esc(b, pr->name);
            fp_buf_puts(b, "</td><td>");
            esc(b, pr->role);
            fp_buf_puts(b, "</td>");
            cell(b, pr->cpu_pct, "%.0f %%");
            bytes_cell(b, pr->rss_peak);
            fp_buf_puts(b, "</tr>");
        }
        fp_buf_puts(b, "</tbody></table>");
    }
    fp_buf_puts(b, "</section>\n");
}

fp_code lt_write_html(const lt_run *r, fp_err *err)
{
    fp_buf b = FP_BUF_INIT;
    fp_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<title>fleetpipe load test</title>\n<style>\n"
                    "body{font-family:sans-serif;margin:24px;max-width:880px;color:#222}\n"
                    "table{border-collapse:collapse;margin:8px 0 16px}\n"
                    "th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}\n"
                    "th{background:#f0f0f0}\ntd:first-child,th:first-child{text-align:left}\n"
                    "table.kv td{text-align:left}\ntr.bad td{background:#fdecea}\n"
                    "li.ok{color:#176e2c}\nli.bad{color:#a61b1b}\n"
                    "figure{margin:16px 0}\nfigcaption{font-weight:bold;margin-bottom:4px}\n"
                    "</style>\n</head>\n<body>\n<h1>fleetpipe load test</h1>\n");
    plan_section(&b, r);
    result_section(&b, r);
    fp_buf_puts(&b, "<section id=\"charts\"><h2>Charts</h2>\n");
    charts(&b, r);
    fp_buf_puts(&b, "</section>\n");
    steps_section(&b, r);
    fp_buf_puts(&b, "<footer><p>Written by <code>fleetpipe loadtest</code>; the numbers are in "
                    "report.json next to this file (docs/loadtest.md).</p></footer>\n</body>\n"
                    "</html>\n");
    fp_buf path = FP_BUF_INIT, tmp = FP_BUF_INIT;
    fp_buf_printf(&path, "%s/report.html", r->o->out_dir);
    fp_buf_printf(&tmp, "%s.tmp", path.p);
    FILE *f = fopen(tmp.p, "w");
    fp_code rc = FP_OK;
    if (!f || fwrite(b.p, 1, b.len, f) != b.len || fclose(f) != 0 || rename(tmp.p, path.p) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "cannot write %s", path.p);
    fp_buf_free(&b);
    fp_buf_free(&path);
    fp_buf_free(&tmp);
    return rc;
}
