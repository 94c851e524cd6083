/* alert.c — see alert.h. Three parts: the decision (caller's thread, one short transaction on
 * ops.dq_alert_state under a per-key advisory lock, so concurrent `check run`s and the
 * scheduler agree), one delivery thread per sink (slack, webhook) with a bounded FIFO queue,
 * and the HTTP POST (libcurl, as src/aws/client.c; its client is SigV4-bound, so only the
 * library is shared, not the code).
 *
 * The one thing to know: the state records what the receivers were *told* (sent_status,
 * last_sent_at), not only what was observed. A message that no sink delivered is handed back
 * to the caller's thread as an outcome, and the next fp_alert_report/fp_alert_sync restores the
 * previous sent_status, so a key whose alert was lost fires again at its next report instead of
 * being suppressed for the quiet time. Webhook URLs are secrets: they live only in the sink
 * struct and curl's handle; logs name the sink ("slack", "webhook"), never the URL.
 */
#include "check/alert.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "check/alert_int.h"
#include "core/backoff.h"
#include "core/log.h"
#include "core/props.h"
#include "core/stop.h"
#include "core/time.h"
#include "ops/http.h"
#include "ops/metrics.h"

/* ---- configuration ---------------------------------------------------------------------- */

typedef struct alert_conf {
    char *slack_url_file, *webhook_url_file;
    int64_t quiet_ms, retry_budget_ms, retry_base_ms, retry_cap_ms, timeout_ms, queue;
} alert_conf;

#define C(f) offsetof(alert_conf, f)
static const fp_conf_def alert_defs[] = {
    {"slack.url_file", FP_CONF_OPTSTRING, NULL, C(slack_url_file),
     "file holding the Slack incoming-webhook URL (a secret; relative to the config's folder)",
     NULL, 0, 0},
    {"webhook.url_file", FP_CONF_OPTSTRING, NULL, C(webhook_url_file),
     "file holding the generic JSON webhook's URL (a secret; relative to the config's folder)",
     NULL, 0, 0},
    {"quiet", FP_CONF_MS, "1h", C(quiet_ms),
     "a key that stays in the same failing status is alerted again only after this long", NULL, 0,
     0},
    {"retry_budget", FP_CONF_MS, "5m", C(retry_budget_ms),
     "how long one message may wait and be retried (from when it was queued) before it counts as "
     "lost",
     NULL, 0, 0},
    {"retry_base", FP_CONF_MS, "500ms", C(retry_base_ms),
     "first backoff delay after a 5xx or a connection error (doubles, full jitter)", NULL, 1,
     3600000},
    {"retry_cap", FP_CONF_MS, "30s", C(retry_cap_ms), "largest backoff delay", NULL, 1, 3600000},
    {"timeout", FP_CONF_MS, "10s", C(timeout_ms),
     "one HTTP attempt, connect to last byte (connecting alone: at most 5 s of it)", NULL, 100,
     600000},
    {"queue", FP_CONF_INT, "100", C(queue),
     "messages waiting per sink; a report that finds the queue full counts its message lost", NULL,
     1, 100000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};
#undef C

/* ---- the pure parts (alert_int.h) ------------------------------------------------------- */

const char *fp_alert_decision_name(fp_alert_decision d)
{
    switch (d) {
    case FP_ALERT_NONE:
        return "none";
    case FP_ALERT_FIRE:
        return "fire";
    case FP_ALERT_REPEAT:
        return "repeat";
    case FP_ALERT_SUPPRESS:
        return "suppress";
    case FP_ALERT_RESOLVED:
        return "resolved";
    }
    return "?";
}

bool fp_alert_status_failing(const char *s)
{
    return s && (!strcmp(s, "warn") || !strcmp(s, "fail") || !strcmp(s, "error"));
}

static bool status_valid(const char *s)
{
    return s && (!strcmp(s, "pass") || fp_alert_status_failing(s));
}

fp_alert_decision fp_alert_decide(const char *told, int64_t told_at_ms, const char *status,
                                  int64_t now_ms, int64_t quiet_ms)
{
    bool told_failing = fp_alert_status_failing(told);
    if (!fp_alert_status_failing(status))
        return told_failing ? FP_ALERT_RESOLVED : FP_ALERT_NONE;
    if (!told_failing || strcmp(told, status))
        return FP_ALERT_FIRE;
    return now_ms - told_at_ms >= quiet_ms ? FP_ALERT_REPEAT : FP_ALERT_SUPPRESS;
}

/* Slack's limits: header text 150 characters, section text 3000, a field 2000, 10 fields. */
enum { SLACK_HEADER_MAX = 150, SLACK_TEXT_MAX = 3000, SLACK_FIELD_MAX = 2000, SLACK_FIELDS = 10 };

/* Appends s, cut to at most max bytes at a UTF-8 boundary ("…" marks a cut); with mrkdwn,
 * &, < and > are escaped as Slack requires (a "<!channel>" in a check's text must not ping). */
static void put_text(fp_buf *b, const char *s, size_t max, bool mrkdwn)
{
    s = s ? s : "";
    size_t need = 0;
    for (const char *p = s; *p; p++)
        need += mrkdwn && *p == '&' ? 5 : mrkdwn && (*p == '<' || *p == '>') ? 4 : 1;
    bool cut = need > max;
    if (cut && max < 4)
        return;
    size_t room = cut ? max - 3 : max, start = b->len;
    for (const char *p = s; *p; p++) {
        const char *esc = NULL;
        if (mrkdwn && *p == '&')
            esc = "&amp;";
        else if (mrkdwn && *p == '<')
            esc = "&lt;";
        else if (mrkdwn && *p == '>')
            esc = "&gt;";
        size_t n = esc ? strlen(esc) : 1;
        if (b->len - start + n > room)
            break;
        if (esc)
            fp_buf_puts(b, esc);
        else
            fp_buf_putc(b, *p);
    }
    if (!cut)
        return;
    /* back off to a character boundary, then mark the cut */
    while (b->len > start && ((unsigned char)b->p[b->len - 1] & 0xC0) == 0x80)
        b->len--;
    if (b->len > start && ((unsigned char)b->p[b->len - 1] & 0xC0) == 0xC0)
        b->len--;
    b->p[b->len] = 0;
    fp_buf_puts(b, "\xE2\x80\xA6");
}

static const char *status_word(const fp_alert_msg *m)
{
    if (m->decision == FP_ALERT_RESOLVED)
        return "RESOLVED";
    if (!strcmp(m->status, "fail"))
        return "FAIL";
    if (!strcmp(m->status, "warn"))
        return "WARN";
    if (!strcmp(m->status, "error"))
        return "ERROR";
    return "PASS";
}

static const char *status_emoji(const fp_alert_msg *m)
{
    if (m->decision == FP_ALERT_RESOLVED)
        return ":large_green_circle:";
    if (!strcmp(m->status, "warn"))
        return ":large_orange_circle:";
    return ":red_circle:";
}

/* A field's value as text: strings as they are, anything else as compact JSON. */
static void put_value(fp_buf *b, const json_t *v)
{
    if (json_is_string(v)) {
        fp_buf_puts(b, json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    fp_buf_puts(b, s ? s : "");
    free(s);
}

static json_t *text_obj(const char *type, fp_buf *b)
{
    json_t *j = json_pack("{s:s, s:s%}", "type", type, "text", b->p ? b->p : "", b->len);
    fp_buf_reset(b);
    return j;
}

json_t *fp_alert_slack_payload(const fp_alert_msg *m)
{
    fp_buf b = FP_BUF_INIT;
    json_t *blocks = json_array();

    /* header: "[FAIL] title" (plain text: no markup to escape) */
    fp_buf_printf(&b, "[%s] ", status_word(m));
    put_text(&b, m->title && *m->title ? m->title : m->key, SLACK_HEADER_MAX - b.len, false);
    json_t *header = text_obj("plain_text", &b);
    json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "header", "text", header));

    /* section: emoji, what happened, the text */
    fp_buf_printf(&b, "%s *%s* `", status_emoji(m), status_word(m));
    put_text(&b, m->key, 200, true);
    fp_buf_puts(&b, "`");
    if (m->decision == FP_ALERT_RESOLVED && m->prev_status)
        fp_buf_printf(&b, " passes again (was %s)", m->prev_status);
    else if (m->decision == FP_ALERT_REPEAT)
        fp_buf_puts(&b, " still failing");
    if (m->text && *m->text) {
        fp_buf_puts(&b, "\n");
        put_text(&b, m->text, SLACK_TEXT_MAX - b.len, true);
    }
    json_array_append_new(
        blocks, json_pack("{s:s, s:o}", "type", "section", "text", text_obj("mrkdwn", &b)));

    /* section fields: status, since, then the caller's facts (check, target, interval,
     * observed, threshold, ...) */
    json_t *fields = json_array();
    fp_buf_printf(&b, "*status*\n%s", m->status);
    json_array_append_new(fields, text_obj("mrkdwn", &b));
    if (m->since) {
        fp_buf_printf(&b, "*since*\n%s", m->since);
        json_array_append_new(fields, text_obj("mrkdwn", &b));
    }
    const char *k;
    json_t *v;
    if (json_is_object(m->fields)) {
        json_object_foreach((json_t *)m->fields, k, v)
        {
            if (json_array_size(fields) >= SLACK_FIELDS)
                break;
            fp_buf tmp = FP_BUF_INIT;
            put_value(&tmp, v);
            fp_buf_puts(&b, "*");
            put_text(&b, k, 100, true);
            fp_buf_puts(&b, "*\n");
            put_text(&b, tmp.p, SLACK_FIELD_MAX - b.len, true);
            fp_buf_free(&tmp);
            json_array_append_new(fields, text_obj("mrkdwn", &b));
        }
    }
    json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "section", "fields", fields));

    /* context: who sent it, when */
    fp_buf_printf(&b, "fleetpipe check · %s", m->at ? m->at : "");
    json_t *ctx = json_pack("[o]", text_obj("mrkdwn", &b));
    json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "context", "elements", ctx));

    /* text: the plain fallback notifications show */
    /* Slack parses mentions in the fallback too: escaped like mrkdwn */
    fp_buf_printf(&b, "[%s] ", status_word(m));
    put_text(&b, m->key, 200, true);
    if (m->title && *m->title) {
        fp_buf_puts(&b, ": ");
        put_text(&b, m->title, SLACK_HEADER_MAX, true);
    }
    json_t *out = json_pack("{s:s%, s:o}", "text", b.p, b.len, "blocks", blocks);
    fp_buf_free(&b);
    return out;
}

json_t *fp_alert_webhook_payload(const fp_alert_msg *m)
{
    const char *kind = m->decision == FP_ALERT_RESOLVED ? "resolved"
                       : m->decision == FP_ALERT_REPEAT ? "repeat"
                                                        : "firing";
    json_t *j = json_object();
    if (json_is_object(m->fields))
        json_object_update(j, (json_t *)m->fields);
    json_object_set_new(j, "source", json_string("fleetpipe"));
    json_object_set_new(j, "kind", json_string(kind));
    json_object_set_new(j, "key", json_string(m->key));
    json_object_set_new(j, "status", json_string(m->status));
    json_object_set_new(j, "previous_status",
                        m->prev_status ? json_string(m->prev_status) : json_null());
    json_object_set_new(j, "title", json_string(m->title ? m->title : ""));
    json_object_set_new(j, "text", json_string(m->text ? m->text : ""));
    json_object_set_new(j, "since", m->since ? json_string(m->since) : json_null());
    json_object_set_new(j, "at", json_string(m->at ? m->at : ""));
    return j;
}

/* ---- the alerter ------------------------------------------------------------------------ */

enum { LOST_REJECTED, LOST_BUDGET, LOST_QUEUE_FULL, LOST_FLUSH, LOST_NREASONS };
static const char *const lost_names[LOST_NREASONS] = {"rejected", "budget", "queue_full", "flush"};
enum { RETRY_429, RETRY_5XX, RETRY_NETWORK, RETRY_NREASONS };
static const char *const retry_names[RETRY_NREASONS] = {"429", "5xx", "network"};

/* One decided message, shared by the sinks that deliver it; the last sink to finish decides
 * whether it was delivered at all. */
typedef struct alert_job {
    atomic_int pending;   /* sinks still working on it */
    atomic_int delivered; /* sinks that got a 2xx */
    char *key;
    char *sent_at;   /* last_sent_at written with it (timestamptz text), to undo exactly that */
    char *prev_told; /* sent_status and last_sent_at before it (NULL: none) */
    char *prev_told_at;
} alert_job;

typedef struct alert_item {
    alert_job *job;
    char *body;
    int64_t queued_mono;
} alert_item;

typedef struct alert_sink {
    const char *name; /* "slack", "webhook" */
    char *url;        /* secret */
    struct fp_alert *a;
    pthread_t thread;
    bool started;
    /* queue: ring of cap items; guarded by mu */
    alert_item *ring;
    size_t cap, head, n;
    bool busy;       /* the thread holds an item */
    bool closing;    /* fp_alert_free: finish */
    fp_stop abandon; /* ends retry waits and in-flight transfers (flush timeout, free) */
    /* counters */
    _Atomic uint64_t attempts, sent, retries[RETRY_NREASONS], lost[LOST_NREASONS];
    _Atomic long last_status;
} alert_sink;

/* A finished job that no sink delivered, waiting for the caller's thread to undo its state. */
typedef struct outcome {
    char *key, *sent_at, *prev_told, *prev_told_at;
    struct outcome *next;
} outcome;

struct fp_alert {
    alert_conf cf;
    alert_sink sinks[2];
    size_t nsinks;
    pthread_mutex_t mu; /* guards every sink's queue and the outcomes */
    pthread_cond_t cond;
    outcome *outcomes;
    bool table_ready;
    const fp_pg *table_pg; /* the connection table_ready was established on */
    _Atomic uint64_t decisions[FP_ALERT_RESOLVED + 1];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void job_free(alert_job *j)
{
    if (!j)
        return;
    free(j->key);
    free(j->sent_at);
    free(j->prev_told);
    free(j->prev_told_at);
    free(j);
}

/* A sink is done with job (delivered or not): the last one out records the outcome. Called
 * with a->mu NOT held. */
static void job_release(fp_alert *a, alert_job *j, bool delivered)
{
    if (delivered)
        atomic_fetch_add(&j->delivered, 1);
    if (atomic_fetch_sub(&j->pending, 1) != 1)
        return;
    if (atomic_load(&j->delivered) == 0 && j->sent_at) {
        outcome *o = fp_xcalloc(1, sizeof *o);
        o->key = j->key;
        o->sent_at = j->sent_at;
        o->prev_told = j->prev_told;
        o->prev_told_at = j->prev_told_at;
        j->key = j->sent_at = j->prev_told = j->prev_told_at = NULL;
        pthread_mutex_lock(&a->mu);
        o->next = a->outcomes;
        a->outcomes = o;
        pthread_mutex_unlock(&a->mu);
    }
    job_free(j);
}

/* ---- one HTTP attempt ---- */

typedef struct xfer {
    fp_buf body;         /* the answer, first 4 KiB */
    int64_t retry_after; /* ms, -1 when absent */
    const fp_stop *abandon;
} xfer;

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    if (x->body.len < 4096)
        fp_buf_append(&x->body, data, n < 4096 - x->body.len ? n : 4096 - x->body.len);
    return n;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
    xfer *x = arg;
    size_t n = size * nitems;
    if (n > 5 && !strncmp(line, "HTTP/", 5))
        x->retry_after = -1; /* a new response */
    /* delta-seconds only: Slack sends seconds; an HTTP-date falls back to the backoff */
    fp_http_retry_after(line, n, &x->retry_after);
    return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer *x = arg;
    return fp_stop_requested(x->abandon) ? 1 : 0;
}

/* The answer's text for a log line: printable ASCII, at most 200 bytes, with the URL (or its
 * path, where the secret of a Slack URL is) cut out in case a receiver echoes it. */
static void safe_text(const alert_sink *s, const fp_buf *body, fp_buf *out)
{
    const char *path = strstr(s->url, "://");
    path = path ? strchr(path + 3, '/') : NULL;
    size_t plen = path ? strlen(path) : 0;
    for (size_t i = 0; i < body->len && out->len < 200; i++) {
        if (plen >= 2 && body->len - i >= plen && !memcmp(body->p + i, path, plen)) {
            fp_buf_puts(out, "[url]");
            i += plen - 1;
            continue;
        }
        char ch = body->p[i];
        fp_buf_putc(out, ch >= 0x20 && ch < 0x7f ? ch : ' ');
    }
}

typedef enum { TRY_OK, TRY_RETRY, TRY_REJECTED, TRY_ABANDONED } try_result;

static try_result attempt(alert_sink *s, CURL *e, const char *body, int *why, int64_t *wait_ms,
                          fp_buf *what)
{
    xfer x = {.retry_after = -1, .abandon = &s->abandon};
    struct curl_slist *hl = NULL;
    hl = curl_slist_append(hl, "Content-Type: application/json; charset=utf-8");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->a->cf.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(s->a->cf.timeout_ms < 5000 ? s->a->cf.timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer, not a hop */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, &x);
    atomic_fetch_add(&s->attempts, 1);
    CURLcode cc = curl_easy_perform(e);
    long st = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hl);
    fp_buf_reset(what);
    try_result r;
    *wait_ms = -1;
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        fp_buf_puts(what, "abandoned");
        r = TRY_ABANDONED;
    } else if (cc != CURLE_OK) {
        /* curl_easy_strerror only: the error buffer would name the host */
        fp_buf_puts(what, curl_easy_strerror(cc));
        *why = RETRY_NETWORK;
        r = TRY_RETRY;
    } else {
        atomic_store(&s->last_status, st);
        fp_buf_printf(what, "HTTP %ld", st);
        if (x.body.len && (st < 200 || st >= 300)) {
            fp_buf_puts(what, " ");
            safe_text(s, &x.body, what);
        }
        if (st >= 200 && st < 300) {
            r = TRY_OK;
        } else if (st == 429) {
            *why = RETRY_429;
            *wait_ms = x.retry_after;
            r = TRY_RETRY;
        } else if (st >= 500) {
            *why = RETRY_5XX;
            r = TRY_RETRY;
        } else {
            r = TRY_REJECTED;
        }
    }
    fp_buf_free(&x.body);
    return r;
}

/* Delivers one item within its budget; true when a 2xx came back. */
static bool deliver(alert_sink *s, CURL *e, alert_item *it)
{
    const alert_conf *cf = &s->a->cf;
    int64_t deadline = it->queued_mono + cf->retry_budget_ms;
    fp_backoff b;
    fp_backoff_init(&b, cf->retry_base_ms, cf->retry_cap_ms);
    fp_buf what = FP_BUF_INIT;
    bool ok = false;
    int tries = 0;
    for (;;) {
        if (fp_stop_requested(&s->abandon)) {
            atomic_fetch_add(&s->lost[LOST_FLUSH], 1);
            fp_log(FP_LOG_WARN, "alert", -1, "%s: alert %s lost: still undelivered at flush",
                   s->name, it->job->key);
            break;
        }
        int why = RETRY_NETWORK;
        int64_t wait = -1;
        tries++;
        try_result r = attempt(s, e, it->body, &why, &wait, &what);
        if (r == TRY_OK) {
            atomic_fetch_add(&s->sent, 1);
            ok = true;
            break;
        }
        if (r == TRY_ABANDONED)
            continue; /* counted at the top */
        if (r == TRY_REJECTED) {
            atomic_fetch_add(&s->lost[LOST_REJECTED], 1);
            fp_log(FP_LOG_ERROR, "alert", -1, "%s: alert %s rejected (not retried): %s", s->name,
                   it->job->key, what.p);
            break;
        }
        if (wait < 0)
            wait = fp_backoff_next(&b);
        if (fp_time_mono_ms() + wait > deadline) {
            atomic_fetch_add(&s->lost[LOST_BUDGET], 1);
            fp_log(FP_LOG_ERROR, "alert", -1,
                   "%s: alert %s lost after %d attempts: retry budget of %" PRId64
                   " ms spent (last: %s)",
                   s->name, it->job->key, tries, cf->retry_budget_ms, what.p);
            break;
        }
        atomic_fetch_add(&s->retries[why], 1);
        fp_log(FP_LOG_WARN, "alert", -1, "%s: alert %s: %s; retrying in %" PRId64 " ms", s->name,
               it->job->key, what.p, wait);
        fp_stop_sleep_ms(&s->abandon, wait);
    }
    fp_buf_free(&what);
    return ok;
}

static void *sink_main(void *arg)
{
    alert_sink *s = arg;
    fp_alert *a = s->a;
    CURL *e = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&a->mu);
        while (!s->n && !s->closing)
            pthread_cond_wait(&a->cond, &a->mu);
        if (!s->n) {
            pthread_mutex_unlock(&a->mu);
            break;
        }
        alert_item it = s->ring[s->head];
        s->head = (s->head + 1) % s->cap;
        s->n--;
        s->busy = true;
        pthread_mutex_unlock(&a->mu);

        bool ok = false;
        if (e) {
            ok = deliver(s, e, &it);
        } else {
            atomic_fetch_add(&s->lost[LOST_BUDGET], 1);
            fp_log(FP_LOG_ERROR, "alert", -1, "%s: alert %s lost: curl_easy_init failed", s->name,
                   it.job->key);
        }
        free(it.body);
        job_release(a, it.job, ok);

        pthread_mutex_lock(&a->mu);
        s->busy = false;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->mu);
    }
    if (e)
        curl_easy_cleanup(e);
    return NULL;
}

/* ---- open / free ---- */

/* Flattens {"slack": {"url_file": x}, "quiet": "1h"} into "slack.url_file", "quiet". */
static fp_code flatten(const json_t *conf, fp_props *p, fp_err *err)
{
    const char *k, *k2;
    json_t *v, *v2;
    json_object_foreach((json_t *)conf, k, v)
    {
        if (json_is_object(v) && (!strcmp(k, "slack") || !strcmp(k, "webhook"))) {
            json_object_foreach(v, k2, v2)
            {
                fp_buf key = FP_BUF_INIT;
                fp_buf_printf(&key, "%s.%s", k, k2);
                if (!json_is_string(v2)) {
                    fp_err_set(err, FP_ERR_CONFIG, "alerts: key '%s': expected a string", key.p);
                    fp_buf_free(&key);
                    return FP_ERR_CONFIG;
                }
                fp_props_set(p, key.p, json_string_value(v2));
                fp_buf_free(&key);
            }
            continue;
        }
        char num[64];
        if (json_is_string(v))
            fp_props_set(p, k, json_string_value(v));
        else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            fp_props_set(p, k, num);
        } else
            return fp_err_set(err, FP_ERR_CONFIG, "alerts: key '%s': expected a string or a number",
                              k);
    }
    return FP_OK;
}

/* The URL from a file: its first line, trimmed; must be http(s). Errors name the file, never
 * its content. */
static fp_code read_url(const char *key, const char *file, const char *base_dir, char **out,
                        fp_err *err)
{
    fp_buf path = FP_BUF_INIT;
    if (file[0] != '/' && base_dir && *base_dir)
        fp_buf_printf(&path, "%s/%s", base_dir, file);
    else
        fp_buf_puts(&path, file);
    FILE *f = fopen(path.p, "rb");
    if (!f) {
        fp_err_set(err, FP_ERR_CONFIG, "alerts: %s %s: cannot open", key, path.p);
        fp_buf_free(&path);
        return FP_ERR_CONFIG;
    }
    char line[4096];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    line[strcspn(line, "\r\n")] = 0;
    char *s = line;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
        s[--l] = 0;
    fp_code rc = FP_OK;
    if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "alerts: %s %s: expected one line with an http:// or https:// URL", key,
                        path.p);
    else
        *out = fp_xstrdup(s);
    explicit_bzero(line, sizeof line);
    fp_buf_free(&path);
    return rc;
}

fp_code fp_alert_open(const json_t *conf, const char *base_dir, fp_alert **out, fp_err *err)
{
    *out = NULL;
    if (!conf)
        return FP_OK;
    if (!json_is_object(conf))
        return fp_err_set(err, FP_ERR_CONFIG, "alerts: expected a JSON object");
    fp_props p;
    fp_props_init(&p);
    alert_conf cf = {0};
    fp_code rc = flatten(conf, &p, err);
    if (!rc)
        rc = fp_conf_apply(alert_defs, &p, NULL, &cf, err);
    if (!rc)
        rc = fp_props_check_used(&p, "alerts", err);
    fp_props_free(&p);
    if (!rc && !cf.slack_url_file && !cf.webhook_url_file)
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "alerts: neither slack.url_file nor webhook.url_file is given");
    if (rc) {
        fp_conf_free(alert_defs, &cf);
        return rc;
    }
    fp_alert *a = fp_xcalloc(1, sizeof *a);
    a->cf = cf;
    pthread_mutex_init(&a->mu, NULL);
    fp_time_cond_init(&a->cond);
    const char *names[2] = {"slack", "webhook"};
    const char *files[2] = {cf.slack_url_file, cf.webhook_url_file};
    for (int i = 0; i < 2; i++) {
        if (!files[i])
            continue;
        alert_sink *s = &a->sinks[a->nsinks];
        char key[32];
        snprintf(key, sizeof key, "%s.url_file", names[i]);
        rc = read_url(key, files[i], base_dir, &s->url, err);
        if (rc) {
            fp_alert_free(a);
            return rc;
        }
        s->name = names[i];
        s->a = a;
        s->cap = (size_t)cf.queue;
        s->ring = fp_xcalloc(s->cap, sizeof *s->ring);
        a->nsinks++;
    }
    pthread_once(&curl_once, curl_init_once);
    for (size_t i = 0; i < a->nsinks; i++) {
        if (pthread_create(&a->sinks[i].thread, NULL, sink_main, &a->sinks[i])) {
            fp_alert_free(a);
            return fp_err_set(err, FP_ERR_INTERNAL, "alerts: cannot start a delivery thread");
        }
        a->sinks[i].started = true;
    }
    *out = a;
    return FP_OK;
}

static void outcomes_free(outcome *o)
{
    while (o) {
        outcome *n = o->next;
        free(o->key);
        free(o->sent_at);
        free(o->prev_told);
        free(o->prev_told_at);
        free(o);
        o = n;
    }
}

void fp_alert_free(fp_alert *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nsinks; i++) {
        alert_sink *s = &a->sinks[i];
        s->closing = true;
        /* what is still queued is lost: the process is going away */
        while (s->n) {
            alert_item it = s->ring[s->head];
            s->head = (s->head + 1) % s->cap;
            s->n--;
            atomic_fetch_add(&s->lost[LOST_FLUSH], 1);
            free(it.body);
            pthread_mutex_unlock(&a->mu);
            job_release(a, it.job, false);
            pthread_mutex_lock(&a->mu);
        }
        fp_stop_request(&s->abandon);
    }
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; i < a->nsinks; i++) {
        alert_sink *s = &a->sinks[i];
        if (s->started)
            pthread_join(s->thread, NULL);
        if (s->url)
            explicit_bzero(s->url, strlen(s->url));
        free(s->url);
        free(s->ring);
    }
    outcomes_free(a->outcomes);
    fp_conf_free(alert_defs, &a->cf);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* ---- ops.dq_alert_state ---- */

static const char state_ddl[] =
    "CREATE SCHEMA IF NOT EXISTS ops;"
    "CREATE TABLE IF NOT EXISTS ops.dq_alert_state ("
    " key text PRIMARY KEY,"
    " status text NOT NULL,"       /* last reported status */
    " since timestamptz NOT NULL," /* when it entered that status */
    " reported_at timestamptz NOT NULL,"
    " sent_status text,"                /* what the receivers were last told (NULL: nothing) */
    " last_sent_at timestamptz,"        /* when */
    " last_decision text,"              /* fire, repeat, suppress, resolved, none */
    " sends bigint NOT NULL DEFAULT 0," /* messages queued for the key, ever */
    " lost bigint NOT NULL DEFAULT 0,"  /* of them, delivered by no sink */
    " title text, text text);";

static fp_code ensure_table(fp_alert *a, fp_pg *pg, fp_err *err)
{
    if (a->table_ready && a->table_pg == pg)
        return FP_OK;
    fp_code rc = fp_pg_exec(pg, state_ddl, err);
    if (rc == FP_ERR_INVALID) /* two processes creating it at once: the loser sees it exists */
        rc = fp_pg_exec(pg, state_ddl, err);
    if (rc)
        return fp_err_prefix(err, "alerts: ops.dq_alert_state");
    a->table_ready = true;
    a->table_pg = pg;
    return FP_OK;
}

static bool in_transaction(fp_pg *pg)
{
    return PQtransactionStatus(fp_pg_conn(pg)) != PQTRANS_IDLE;
}

fp_code fp_alert_sync(fp_alert *a, fp_pg *pg, fp_err *err)
{
    if (!a)
        return FP_OK;
    pthread_mutex_lock(&a->mu);
    outcome *list = a->outcomes;
    a->outcomes = NULL;
    pthread_mutex_unlock(&a->mu);
    if (!list)
        return FP_OK;
    fp_code rc = ensure_table(a, pg, err);
    outcome *o = list;
    for (; !rc && o; o = o->next) {
        /* only if nothing was sent for the key since: a later message supersedes this one */
        const char *p[4] = {o->key, o->sent_at, o->prev_told, o->prev_told_at};
        rc = fp_pg_query(pg,
                         "UPDATE ops.dq_alert_state SET sent_status = $3,"
                         " last_sent_at = $4::timestamptz, lost = lost + 1"
                         " WHERE key = $1 AND last_sent_at = $2::timestamptz",
                         4, p, NULL, err);
    }
    if (rc) {
        /* keep what was not written for the next call */
        pthread_mutex_lock(&a->mu);
        outcome **tail = &a->outcomes;
        while (*tail)
            tail = &(*tail)->next;
        *tail = list;
        pthread_mutex_unlock(&a->mu);
        return fp_err_prefix(err, "alerts: recording lost alerts");
    }
    outcomes_free(list);
    return FP_OK;
}

/* Queues body on s for job; false (counted lost) when the queue is full. */
static bool enqueue(fp_alert *a, alert_sink *s, alert_job *job, char *body)
{
    pthread_mutex_lock(&a->mu);
    if (s->n == s->cap) {
        pthread_mutex_unlock(&a->mu);
        atomic_fetch_add(&s->lost[LOST_QUEUE_FULL], 1);
        fp_log(FP_LOG_ERROR, "alert", -1, "%s: alert %s lost: queue full (%zu messages)", s->name,
               job->key, s->cap);
        free(body);
        return false;
    }
    s->ring[(s->head + s->n) % s->cap] = (alert_item){job, body, fp_time_mono_ms()};
    s->n++;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    return true;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s ? s : fp_xstrdup("{}");
}

/* The locked read-decide-write of one report. *job_out: the job to queue (NULL: nothing). */
static fp_code decide_and_record(fp_alert *a, fp_pg *pg, const char *key, const char *status,
                                 const char *title, const char *text, const json_t *fields,
                                 fp_alert_decision *dec_out, fp_err *err)
{
    PGresult *res = NULL;
    const char *pk[1] = {key};
    fp_code rc = fp_pg_query(pg, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7251))", 1, pk,
                             NULL, err);
    if (!rc)
        rc = fp_pg_query(pg,
                         "SELECT status, sent_status, last_sent_at::text,"
                         " (extract(epoch FROM last_sent_at) * 1000)::bigint,"
                         " (extract(epoch FROM now()) * 1000)::bigint"
                         " FROM ops.dq_alert_state WHERE key = $1",
                         1, pk, &res, err);
    if (rc)
        return rc;
    bool have = PQntuples(res) > 0;
    char *prev_status = have && !PQgetisnull(res, 0, 0) ? fp_xstrdup(PQgetvalue(res, 0, 0)) : NULL;
    char *told = have && !PQgetisnull(res, 0, 1) ? fp_xstrdup(PQgetvalue(res, 0, 1)) : NULL;
    char *told_at = have && !PQgetisnull(res, 0, 2) ? fp_xstrdup(PQgetvalue(res, 0, 2)) : NULL;
    int64_t told_at_ms =
        have && !PQgetisnull(res, 0, 3) ? strtoll(PQgetvalue(res, 0, 3), NULL, 10) : 0;
    int64_t now_ms = have ? strtoll(PQgetvalue(res, 0, 4), NULL, 10) : 0;
    PQclear(res);
    res = NULL;
    /* no row: never told, so the decision does not look at the clock */
    fp_alert_decision d = fp_alert_decide(told, told_at_ms, status, now_ms, a->cf.quiet_ms);
    bool send = d == FP_ALERT_FIRE || d == FP_ALERT_REPEAT || d == FP_ALERT_RESOLVED;
    const char *p[6] = {key, status, send ? "t" : "f", fp_alert_decision_name(d), title, text};
    rc = fp_pg_query(
        pg,
        "INSERT INTO ops.dq_alert_state AS s (key, status, since, reported_at, sent_status,"
        " last_sent_at, last_decision, sends, title, text)"
        " VALUES ($1, $2, now(), now(), CASE WHEN $3::bool THEN $2 END,"
        " CASE WHEN $3::bool THEN now() END, $4, CASE WHEN $3::bool THEN 1 ELSE 0 END, $5, $6)"
        " ON CONFLICT (key) DO UPDATE SET status = $2,"
        " since = CASE WHEN s.status = $2 THEN s.since ELSE now() END, reported_at = now(),"
        " sent_status = CASE WHEN $3::bool THEN $2 ELSE s.sent_status END,"
        " last_sent_at = CASE WHEN $3::bool THEN now() ELSE s.last_sent_at END,"
        " last_decision = $4, sends = s.sends + CASE WHEN $3::bool THEN 1 ELSE 0 END,"
        " title = $5, text = $6"
        " RETURNING last_sent_at::text, to_char(since AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(now() AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        6, p, &res, err);
    if (!rc && send && a->nsinks) {
        alert_job *job = fp_xcalloc(1, sizeof *job);
        job->key = fp_xstrdup(key);
        job->sent_at = fp_xstrdup(PQgetvalue(res, 0, 0));
        job->prev_told = told;
        job->prev_told_at = told_at;
        told = told_at = NULL;
        fp_alert_msg m = {
            .key = key,
            .status = status,
            .prev_status = d == FP_ALERT_RESOLVED ? job->prev_told : prev_status,
            .title = title,
            .text = text,
            .since = PQgetvalue(res, 0, 1),
            .at = PQgetvalue(res, 0, 2),
            .decision = d,
            .fields = fields,
        };
        char *bodies[2];
        for (size_t i = 0; i < a->nsinks; i++)
            bodies[i] = dump(!strcmp(a->sinks[i].name, "slack") ? fp_alert_slack_payload(&m)
                                                                : fp_alert_webhook_payload(&m));
        atomic_store(&job->pending, (int)a->nsinks + 1); /* +1: ours, until every sink has it */
        for (size_t i = 0; i < a->nsinks; i++)
            if (!enqueue(a, &a->sinks[i], job, bodies[i]))
                job_release(a, job, false);
        job_release(a, job, false);
    }
    PQclear(res);
    free(prev_status);
    free(told);
    free(told_at);
    if (!rc)
        *dec_out = d;
    return rc;
}

fp_code fp_alert_report_fields(fp_alert *a, fp_pg *pg, const char *key, const char *status,
                               const char *title, const char *text, const json_t *fields,
                               fp_err *err)
{
    if (!a)
        return FP_OK;
    if (!key || !*key || strlen(key) > 200)
        return fp_err_set(err, FP_ERR_INVALID, "alerts: key must be 1 to 200 bytes");
    if (!status_valid(status))
        return fp_err_set(err, FP_ERR_INVALID,
                          "alerts: %s: status '%s': expected pass, warn, fail or error", key,
                          status ? status : "");
    if (fields && !json_is_object(fields))
        return fp_err_set(err, FP_ERR_INVALID, "alerts: %s: fields must be a JSON object", key);
    fp_code rc = ensure_table(a, pg, err);
    if (!rc)
        rc = fp_alert_sync(a, pg, err);
    if (rc)
        return rc;
    bool own_tx = !in_transaction(pg);
    if (own_tx && (rc = fp_pg_exec(pg, "BEGIN", err)))
        return fp_err_prefix(err, "alerts: %s", key);
    fp_alert_decision d = FP_ALERT_NONE;
    rc = decide_and_record(a, pg, key, status, title ? title : "", text ? text : "", fields, &d,
                           err);
    if (own_tx) {
        fp_err e2 = {0};
        if (rc)
            fp_pg_exec(pg, "ROLLBACK", &e2);
        else
            rc = fp_pg_exec(pg, "COMMIT", err);
    }
    if (rc)
        return fp_err_prefix(err, "alerts: %s", key);
    atomic_fetch_add(&a->decisions[d], 1);
    return FP_OK;
}

fp_code fp_alert_report(fp_alert *a, fp_pg *pg, const char *key, const char *status,
                        const char *title, const char *text, fp_err *err)
{
    return fp_alert_report_fields(a, pg, key, status, title, text, NULL, err);
}

/* ---- flush, numbers ---- */

static bool all_idle(const fp_alert *a)
{
    for (size_t i = 0; i < a->nsinks; i++)
        if (a->sinks[i].n || a->sinks[i].busy)
            return false;
    return true;
}

static void wait_until(fp_alert *a, int64_t end_mono)
{
    while (!all_idle(a)) {
        int64_t left = end_mono - fp_time_mono_ms();
        if (left <= 0)
            return;
        if (left > 50)
            left = 50; /* wake often and look again */
        struct timespec ts = fp_time_deadline(left);
        pthread_cond_timedwait(&a->cond, &a->mu, &ts);
    }
}

void fp_alert_flush(fp_alert *a, int64_t timeout_ms)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    wait_until(a, fp_time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0));
    if (all_idle(a)) {
        pthread_mutex_unlock(&a->mu);
        return;
    }
    /* Time is up: what is queued is lost; the item in flight is abandoned (its wait and its
     * transfer end within a progress tick). */
    for (size_t i = 0; i < a->nsinks; i++) {
        alert_sink *s = &a->sinks[i];
        while (s->n) {
            alert_item it = s->ring[s->head];
            s->head = (s->head + 1) % s->cap;
            s->n--;
            atomic_fetch_add(&s->lost[LOST_FLUSH], 1);
            fp_log(FP_LOG_WARN, "alert", -1, "%s: alert %s lost: still queued at flush", s->name,
                   it.job->key);
            free(it.body);
            pthread_mutex_unlock(&a->mu);
            job_release(a, it.job, false);
            pthread_mutex_lock(&a->mu);
        }
        if (s->busy)
            fp_stop_request(&s->abandon);
    }
    wait_until(a, fp_time_mono_ms() + 10000);
    for (size_t i = 0; i < a->nsinks; i++)
        fp_stop_reset(&a->sinks[i].abandon);
    pthread_mutex_unlock(&a->mu);
}

static uint64_t lost_total(const alert_sink *s)
{
    uint64_t n = 0;
    for (int r = 0; r < LOST_NREASONS; r++)
        n += atomic_load(&s->lost[r]);
    return n;
}

json_t *fp_alert_stats_json(const fp_alert *a)
{
    json_t *dec = json_object(), *sinks = json_object();
    for (int d = 0; d <= FP_ALERT_RESOLVED; d++)
        json_object_set_new(dec, fp_alert_decision_name((fp_alert_decision)d),
                            json_integer(a ? (json_int_t)atomic_load(&a->decisions[d]) : 0));
    for (size_t i = 0; a && i < a->nsinks; i++) {
        const alert_sink *s = &a->sinks[i];
        json_t *lost_by = json_object(), *retries_by = json_object();
        uint64_t retries = 0;
        for (int r = 0; r < LOST_NREASONS; r++)
            json_object_set_new(lost_by, lost_names[r],
                                json_integer((json_int_t)atomic_load(&s->lost[r])));
        for (int r = 0; r < RETRY_NREASONS; r++) {
            retries += atomic_load(&s->retries[r]);
            json_object_set_new(retries_by, retry_names[r],
                                json_integer((json_int_t)atomic_load(&s->retries[r])));
        }
        json_object_set_new(
            sinks, s->name,
            json_pack("{s:I, s:I, s:I, s:o, s:I, s:o, s:I}", "sent",
                      (json_int_t)atomic_load(&s->sent), "attempts",
                      (json_int_t)atomic_load(&s->attempts), "retries", (json_int_t)retries,
                      "retries_by", retries_by, "lost", (json_int_t)lost_total(s), "lost_by",
                      lost_by, "last_http_status", (json_int_t)atomic_load(&s->last_status)));
    }
    return json_pack("{s:o, s:o}", "decisions", dec, "sinks", sinks);
}

void fp_alert_metrics(const fp_alert *a, fp_buf *out)
{
    if (!a)
        return;
    fp_metrics_out m = {out, NULL};
    fp_metrics_family(&m, "fleetpipe_alert_decisions_total", FP_METRIC_COUNTER,
                      "alert decisions of reported check states, by decision");
    for (int d = 0; d <= FP_ALERT_RESOLVED; d++)
        fp_metrics_sample_u64(
            &m, (const char *[]){"decision", fp_alert_decision_name((fp_alert_decision)d), NULL},
            atomic_load(&a->decisions[d]));
    fp_metrics_family(&m, "fleetpipe_alert_sent_total", FP_METRIC_COUNTER,
                      "alert messages a sink accepted (HTTP 2xx)");
    for (size_t i = 0; i < a->nsinks; i++)
        fp_metrics_sample_u64(&m, (const char *[]){"sink", a->sinks[i].name, NULL},
                              atomic_load(&a->sinks[i].sent));
    fp_metrics_family(&m, "fleetpipe_alert_attempts_total", FP_METRIC_COUNTER,
                      "HTTP requests sent to alert sinks, retries included");
    for (size_t i = 0; i < a->nsinks; i++)
        fp_metrics_sample_u64(&m, (const char *[]){"sink", a->sinks[i].name, NULL},
                              atomic_load(&a->sinks[i].attempts));
    fp_metrics_family(&m, "fleetpipe_alert_retries_total", FP_METRIC_COUNTER,
                      "alert deliveries retried, by reason (429, 5xx, network)");
    for (size_t i = 0; i < a->nsinks; i++)
        for (int r = 0; r < RETRY_NREASONS; r++)
            fp_metrics_sample_u64(
                &m, (const char *[]){"sink", a->sinks[i].name, "reason", retry_names[r], NULL},
                atomic_load(&a->sinks[i].retries[r]));
    fp_metrics_family(&m, "fleetpipe_alert_lost_total", FP_METRIC_COUNTER,
                      "alert messages never delivered, by reason (rejected, budget, queue_full, "
                      "flush)");
    for (size_t i = 0; i < a->nsinks; i++)
        for (int r = 0; r < LOST_NREASONS; r++)
            fp_metrics_sample_u64(
                &m, (const char *[]){"sink", a->sinks[i].name, "reason", lost_names[r], NULL},
                atomic_load(&a->sinks[i].lost[r]));
    fp_metrics_family(&m, "fleetpipe_alert_queue_depth", FP_METRIC_GAUGE,
                      "alert messages waiting or in flight per sink");
    for (size_t i = 0; i < a->nsinks; i++) {
        pthread_mutex_lock(&((fp_alert *)a)->mu);
        size_t n = a->sinks[i].n + (a->sinks[i].busy ? 1 : 0);
        pthread_mutex_unlock(&((fp_alert *)a)->mu);
        fp_metrics_sample_u64(&m, (const char *[]){"sink", a->sinks[i].name, NULL}, (uint64_t)n);
    }
}
