/* cmd_status.c — `fleetpipe status`: one table of a connect worker's connectors, from its REST
 * API (GET /connectors?expand=status) and two /metrics scrapes a second apart (rates).
 *
 * Read-only and stateless: it is what an operator types first; anything deeper is the REST API.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/mem.h"
#include "ops/http.h"

typedef struct status_opts {
    char *rest, *token_file;
    int64_t interval;
} status_opts;

static const fp_conf_def status_flags[] = {
    {"rest", FP_CONF_STRING, "http://127.0.0.1:8083", offsetof(status_opts, rest),
     "base URL of the worker's REST API", NULL, 0, 0},
    {"token-file", FP_CONF_STRING, "", offsetof(status_opts, token_file),
     "file whose first line is the API's bearer token", NULL, 0, 0},
    {"interval", FP_CONF_MS, "1s", offsetof(status_opts, interval),
     "time between the two /metrics scrapes the rates come from", NULL, 100, 60000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    fp_buf_append(ud, p, sz * n);
    return sz * n;
}

/* GETs base+path into out; returns the HTTP status, or -1 with err set. */
static long http_get(const char *base, const char *path, const char *token, fp_buf *out,
                     fp_err *err)
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
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
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

static int run(const fp_cmd *cmd, void *opts)
{
    status_opts *o = opts;
    fp_err err = {0};
    char *token = NULL;
    int rc = 0;
    fp_buf st = FP_BUF_INIT, m1 = FP_BUF_INIT, m2 = FP_BUF_INIT;
    json_t *j = NULL;
    if (o->token_file[0] && fp_http_read_token(o->token_file, &token, &err))
        return fp_cli_fail(cmd, &err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long code = http_get(o->rest, "/connectors?expand=status", token, &st, &err);
    if (code != 200) {
        if (code > 0)
            fprintf(stderr, "fleetpipe status: GET /connectors: HTTP %ld %s\n", code,
                    st.p ? st.p : "");
        else
            fprintf(stderr, "fleetpipe status: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (http_get(o->rest, "/metrics", token, &m1, &err) != 200) {
        fprintf(stderr, "fleetpipe status: /metrics: %s\n", err.code ? err.msg : "not 200");
        rc = 1;
        goto out;
    }
    struct timespec ts = {o->interval / 1000, (o->interval % 1000) * 1000000};
    nanosleep(&ts, NULL);
    http_get(o->rest, "/metrics", token, &m2, &err);
    j = json_loadb(st.p ? st.p : "", st.len, 0, NULL);
    if (!json_is_object(j)) {
        fprintf(stderr, "fleetpipe status: GET /connectors?expand=status: not a JSON object\n");
        rc = 1;
        goto out;
    }
    double secs = (double)o->interval / 1000.0;
    printf("%-24s %-10s %7s %10s %10s %10s\n", "CONNECTOR", "STATE", "TASKS", "IN/s", "OUT/s",
           "LAG");
    const char *name;
    json_t *v;
    json_object_foreach(j, name, v)
    {
        json_t *s = json_object_get(v, "status");
        const char *state =
            json_string_value(json_object_get(json_object_get(s, "connector"), "state"));
        size_t i, running = 0;
        json_t *t;
        json_t *tasks = json_object_get(s, "tasks");
        json_array_foreach(tasks, i, t)
        {
            const char *ts_ = json_string_value(json_object_get(t, "state"));
            running += ts_ && !strcmp(ts_, "RUNNING");
        }
        const char *m2t = m2.p ? m2.p : "", *m1t = m1.p ? m1.p : "";
        double in = (metric_sum(m2t, "fleetpipe_connect_records_in_total", name) -
                     metric_sum(m1t, "fleetpipe_connect_records_in_total", name)) /
                    secs;
        double out = (metric_sum(m2t, "fleetpipe_connect_records_out_total", name) -
                      metric_sum(m1t, "fleetpipe_connect_records_out_total", name)) /
                     secs;
        double lag = metric_sum(m2t, "fleetpipe_connect_consumer_lag", name);
        char tk[32];
        snprintf(tk, sizeof tk, "%zu/%zu", running, json_array_size(tasks));
        printf("%-24s %-10s %7s %10.1f %10.1f %10.0f\n", name, state ? state : "?", tk,
               in < 0 ? 0 : in, out < 0 ? 0 : out, lag);
    }
out:
    json_decref(j);
    fp_buf_free(&st);
    fp_buf_free(&m1);
    fp_buf_free(&m2);
    free(token);
    curl_global_cleanup();
    return rc;
}

const fp_cmd fp_cmd_status = {
    "status",
    "one table of a connect worker's connectors: state, tasks, records in/out per second, lag",
    "usage: fleetpipe status [--rest http://127.0.0.1:8083] [--token-file F]\n\n"
    "Reads GET /connectors?expand=status and two /metrics scrapes --interval apart from a\n"
    "`fleetpipe connect` worker. TASKS is running/total (in distributed mode: of every live\n"
    "worker), IN/s and OUT/s are consumed and durably written records per second, LAG is the\n"
    "sum over the connector's partitions of this worker. Exit status 1 when the worker cannot\n"
    "be reached.",
    status_flags,
    sizeof(status_opts),
    run,
};
