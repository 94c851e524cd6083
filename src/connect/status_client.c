/* status_client.c — GET /connectors?expand=status and two /metrics scrapes of a connect worker.
 *
 * Rates are the difference of the fleetpipe_connect_records_{in,out}_total counters of the two
 * scrapes over the interval (negative after a worker restart: shown as 0); lag is
 * fleetpipe_connect_consumer_lag of the last scrape. curl_global_init() is called per fetch
 * (reference-counted and thread-safe in the libcurl of Debian 12, 7.88): the CLI makes one
 * fetch per process, the Fleet API one per /pipeline request.
 */
#include "connect/status_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    fp_buf_append(ud, p, sz * n);
    return sz * n;
}

/* GETs base+path into out; returns the HTTP status, or -1 with err set. */
static long http_get(const char *base, const char *path, const char *token, int64_t timeout_ms,
                     fp_buf *out, fp_err *err)
{
    CURL *h = curl_easy_init();
    if (!h) {
        fp_err_set(err, FP_ERR_INTERNAL, "curl_easy_init failed");
        return -1;
    }
    fp_buf url = FP_BUF_INIT;
    fp_buf_printf(&url, "%s%s", base, path);
    struct curl_slist *hdr = NULL;
    fp_buf auth = FP_BUF_INIT;
    if (token) {
        fp_buf_printf(&auth, "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth.p);
    }
    curl_easy_setopt(h, CURLOPT_URL, url.p);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 10000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM: other threads run */
    CURLcode cc = curl_easy_perform(h);
    long code = -1;
    if (cc)
        fp_err_set(err, FP_ERR_IO, "GET %s: %s", url.p, curl_easy_strerror(cc));
    else
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    fp_buf_free(&url);
    fp_buf_free(&auth);
    return code;
}

/* Sum of family's samples whose connector label is name (the text of one scrape). */
static double metric_sum(const char *text, const char *family, const char *name)
{
    double sum = 0;
    size_t fl = strlen(family);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        if (!strncmp(p, family, fl) && p[fl] == '{') {
            const char *c = strstr(p, "connector=\"");
            const char *close = strchr(p, '}');
            if (c && close && (!eol || close < eol) && c < close) {
                c += 11;
                size_t nl = strlen(name);
                if (!strncmp(c, name, nl) && c[nl] == '"')
                    sum += strtod(close + 1, NULL);
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    return sum;
}

static double rate(const char *m1, const char *m2, const char *family, const char *name,
                   double secs)
{
    double r = (metric_sum(m2, family, name) - metric_sum(m1, family, name)) / secs;
    return r < 0 ? 0 : r;
}

fp_code fp_connect_status_fetch(const fp_connect_status_opts *o, fp_connect_status_row **rows,
                                size_t *n, fp_err *err)
{
    *rows = NULL;
    *n = 0;
    fp_code rc = FP_OK;
    fp_buf st = FP_BUF_INIT, m1 = FP_BUF_INIT, m2 = FP_BUF_INIT;
    json_t *j = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long code = http_get(o->rest, "/connectors?expand=status", o->token, o->timeout_ms, &st, err);
    if (code != 200) {
        if (code > 0)
            rc = fp_err_set(err, FP_ERR_IO, "GET /connectors: HTTP %ld %s", code, st.p ? st.p : "");
        else
            rc = err->code;
        goto out;
    }
    if (http_get(o->rest, "/metrics", o->token, o->timeout_ms, &m1, err) != 200) {
        if (err->code)
            rc = fp_err_prefix(err, "/metrics");
        else
            rc = fp_err_set(err, FP_ERR_IO, "/metrics: not 200");
        goto out;
    }
    if (o->interval_ms > 0) {
        struct timespec ts = {o->interval_ms / 1000, (o->interval_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        fp_err ignored = {0}; /* a failed second scrape shows as zero rates, not as an error */
        http_get(o->rest, "/metrics", o->token, o->timeout_ms, &m2, &ignored);
    }
    j = json_loadb(st.p ? st.p : "", st.len, 0, NULL);
    if (!json_is_object(j)) {
        rc = fp_err_set(err, FP_ERR_IO, "GET /connectors?expand=status: not a JSON object");
        goto out;
    }
    double secs = (double)o->interval_ms / 1000.0;
    const char *m1t = m1.p ? m1.p : "";
    const char *m2t = o->interval_ms > 0 ? (m2.p ? m2.p : "") : m1t;
    *rows = fp_xcalloc(json_object_size(j) + 1, sizeof **rows);
    const char *name;
    json_t *v;
    json_object_foreach(j, name, v)
    {
        fp_connect_status_row *r = &(*rows)[(*n)++];
        json_t *s = json_object_get(v, "status");
        const char *state =
            json_string_value(json_object_get(json_object_get(s, "connector"), "state"));
        json_t *tasks = json_object_get(s, "tasks"), *t;
        size_t i;
        bool lag_unknown = !json_array_size(tasks);
        r->task = fp_xcalloc(json_array_size(tasks) + 1, sizeof *r->task);
        json_array_foreach(tasks, i, t)
        {
            const char *tstate = json_string_value(json_object_get(t, "state"));
            r->running += tstate && !strcmp(tstate, "RUNNING");
            json_t *lag = json_object_get(t, "lag");
            lag_unknown = lag_unknown || !json_is_integer(lag);
            r->lost += (uint64_t)json_integer_value(json_object_get(t, "records_lost"));
            fp_connect_status_task *d = &r->task[i];
            const char *wid = json_string_value(json_object_get(t, "worker_id"));
            const char *why = json_string_value(json_object_get(t, "reason"));
            if (!why)
                why = json_string_value(json_object_get(t, "trace"));
            d->id = json_integer_value(json_object_get(t, "id"));
            d->state = fp_xstrdup(tstate ? tstate : "?");
            d->worker_id = wid ? fp_xstrdup(wid) : NULL;
            d->reason = why ? fp_xstrdup(why) : NULL;
            d->lag = json_is_integer(lag) ? (int64_t)json_integer_value(lag) : -1;
            d->lost = (uint64_t)json_integer_value(json_object_get(t, "records_lost"));
        }
        r->name = fp_xstrdup(name);
        r->state = fp_xstrdup(state ? state : "?");
        r->tasks = json_array_size(tasks);
        if (secs > 0) {
            r->in_per_s = rate(m1t, m2t, "fleetpipe_connect_records_in_total", name, secs);
            r->out_per_s = rate(m1t, m2t, "fleetpipe_connect_records_out_total", name, secs);
        }
        r->lag = lag_unknown ? -1 : metric_sum(m2t, "fleetpipe_connect_consumer_lag", name);
    }
out:
    json_decref(j);
    fp_buf_free(&st);
    fp_buf_free(&m1);
    fp_buf_free(&m2);
    curl_global_cleanup();
    return rc;
}

void fp_connect_status_rows_free(fp_connect_status_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].name);
        free(rows[i].state);
        for (size_t j = 0; rows[i].task && j < rows[i].tasks; j++) {
            free(rows[i].task[j].state);
            free(rows[i].task[j].worker_id);
            free(rows[i].task[j].reason);
        }
        free(rows[i].task);
    }
    free(rows);
}
