/* scrape.c — GET a /metrics page with libcurl and parse the Prometheus text format 0.0.4.
 *
 * The parser follows the exposition format's grammar for sample lines: a metric name
 * ([a-zA-Z_:][a-zA-Z0-9_:]*), optional {label="value",...} (escapes \\, \", \n; a trailing
 * comma allowed), a value (a float, +Inf, -Inf or NaN) and an optional integer timestamp,
 * which is ignored. curl_global_init() is reference-counted in Debian 12's libcurl (7.88): each
 * connection holds one reference.
 */
#include "ops/scrape.h"

#include <curl/curl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fp_scrape_conn {
    CURL *h;
};

static void sample_free(fp_scrape_sample *s)
{
    free(s->name);
    for (size_t i = 0; i < 2 * s->nlabels; i++)
        free(s->labels[i]);
    free(s->labels);
}

void fp_scrape_page_free(fp_scrape_page *page)
{
    for (size_t i = 0; i < page->n; i++)
        sample_free(&page->v[i]);
    free(page->v);
    *page = (fp_scrape_page){0};
}

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_blank(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Parses the value at p (up to end); false when it is not a number of the format. */
static bool parse_value(const char *p, const char *end, double *v, const char **after)
{
    size_t n = 0;
    while (p + n < end && p[n] != ' ' && p[n] != '\t')
        n++;
    if (!n || n > 63)
        return false;
    char tmp[64];
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (!strcmp(tmp, "+Inf") || !strcmp(tmp, "Inf")) {
        *v = INFINITY;
    } else if (!strcmp(tmp, "-Inf")) {
        *v = -INFINITY;
    } else if (!strcmp(tmp, "NaN")) {
        *v = NAN;
    } else {
        char *e;
        *v = strtod(tmp, &e);
        if (*e)
            return false;
    }
    *after = p + n;
    return true;
}

/* One sample line [p, end) into s; returns an error text or NULL. */
static const char *parse_line(const char *p, const char *end, fp_scrape_sample *s)
{
    const char *q = p;
    if (q >= end || !name_start(*q))
        return "expected a metric name";
    while (q < end && name_char(*q))
        q++;
    s->name = fp_xstrndup(p, (size_t)(q - p));
    q = skip_blank(q, end);
    size_t cap = 0;
    if (q < end && *q == '{') {
        q++;
        for (;;) {
            q = skip_blank(q, end);
            if (q < end && *q == '}') {
                q++;
                break;
            }
            const char *ln = q;
            if (q >= end || !name_start(*q))
                return "expected a label name";
            while (q < end && name_char(*q))
                q++;
            size_t lnl = (size_t)(q - ln);
            q = skip_blank(q, end);
            if (q >= end || *q != '=')
                return "expected '=' after a label name";
            q = skip_blank(q + 1, end);
            if (q >= end || *q != '"')
                return "expected a quoted label value";
            q++;
            fp_buf val = FP_BUF_INIT;
            bool closed = false;
            while (q < end) {
                if (*q == '\\' && q + 1 < end) {
                    char c = q[1];
                    fp_buf_putc(&val, c == 'n' ? '\n' : c);
                    q += 2;
                } else if (*q == '"') {
                    closed = true;
                    q++;
                    break;
                } else {
                    fp_buf_putc(&val, *q++);
                }
            }
            if (!closed) {
                fp_buf_free(&val);
                return "unterminated label value";
            }
            if (s->nlabels == cap) {
                cap = cap ? 2 * cap : 4;
                s->labels = fp_xrealloc(s->labels, 2 * cap * sizeof *s->labels);
            }
            s->labels[2 * s->nlabels] = fp_xstrndup(ln, lnl);
            s->labels[2 * s->nlabels + 1] = val.p ? fp_buf_steal(&val) : fp_xstrdup("");
            s->nlabels++;
            q = skip_blank(q, end);
            if (q < end && *q == ',')
                q++;
            else if (q < end && *q == '}')
                continue;
            else
                return "expected ',' or '}' after a label";
        }
    }
    q = skip_blank(q, end);
    const char *after;
    if (!parse_value(q, end, &s->value, &after))
        return "expected a value";
    q = skip_blank(after, end);
    while (q < end && ((*q >= '0' && *q <= '9') || *q == '-'))
        q++; /* the optional timestamp */
    q = skip_blank(q, end);
    return q == end ? NULL : "trailing bytes after the value";
}

fp_code fp_scrape_parse(const char *text, size_t len, fp_scrape_page *page, fp_err *err)
{
    fp_scrape_page_free(page);
    const char *p = text, *end = text + len;
    size_t lineno = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        lineno++;
        const char *s = skip_blank(p, le);
        if (le > s && le[-1] == '\r')
            le--;
        if (s < le && *s != '#') {
            if (page->n == page->cap) {
                page->cap = page->cap ? 2 * page->cap : 256;
                page->v = fp_xrealloc(page->v, page->cap * sizeof *page->v);
            }
            fp_scrape_sample *smp = &page->v[page->n];
            *smp = (fp_scrape_sample){0};
            const char *why = parse_line(s, le, smp);
            if (why) {
                sample_free(smp);
                fp_scrape_page_free(page);
                return fp_err_set(err, FP_ERR_INVALID, "line %zu: %s", lineno, why);
            }
            page->n++;
        }
        p = eol ? eol + 1 : end;
    }
    return FP_OK;
}

const char *fp_scrape_label(const fp_scrape_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (!strcmp(s->labels[2 * i], name))
            return s->labels[2 * i + 1];
    return NULL;
}

double fp_scrape_sum(const fp_scrape_page *page, const char *name, const char *const *match,
                     int *found)
{
    double sum = 0;
    int any = 0;
    for (size_t i = 0; i < page->n; i++) {
        const fp_scrape_sample *s = &page->v[i];
        if (strcmp(s->name, name))
            continue;
        bool ok = true;
        for (size_t j = 0; ok && match && match[j] && match[j + 1]; j += 2) {
            const char *v = fp_scrape_label(s, match[j]);
            ok = v && !strcmp(v, match[j + 1]);
        }
        if (ok) {
            sum += s->value;
            any = 1;
        }
    }
    if (found)
        *found = any;
    return sum;
}

/* ---- HTTP ---- */

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    fp_buf_append(ud, p, sz * n);
    return sz * n;
}

fp_scrape_conn *fp_scrape_conn_new(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fp_scrape_conn *c = fp_xcalloc(1, sizeof *c);
    c->h = curl_easy_init();
    if (!c->h) {
        free(c);
        curl_global_cleanup();
        return NULL;
    }
    return c;
}

void fp_scrape_conn_free(fp_scrape_conn *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->h);
    free(c);
    curl_global_cleanup();
}

fp_code fp_scrape_get(fp_scrape_conn *c, const char *url, int64_t timeout_ms, fp_buf *body,
                      fp_err *err)
{
    fp_buf_reset(body);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 5000));
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c->h);
    if (cc)
        return fp_err_set(err, FP_ERR_IO, "GET %s: %s", url, curl_easy_strerror(cc));
    long code = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200)
        return fp_err_set(err, FP_ERR_IO, "GET %s: HTTP %ld", url, code);
    return FP_OK;
}
