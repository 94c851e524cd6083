/* client.c — see client.h. One curl easy handle per client keeps its connection open between
 * requests (HTTP keep-alive); every attempt is signed afresh (X-Amz-Date moves on). Headers we
 * sign are exactly the headers we send: Host is set explicitly and curl's own "Expect:
 * 100-continue" is switched off (it would add a round trip per upload). */
#include "aws/client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "aws/creds.h"
#include "core/backoff.h"
#include "core/time.h"

struct fp_aws_client {
    CURL *curl;
    char *service, *region, *base; /* base: "http://host:port" without trailing '/' */
    char host[256];
    fp_aws_creds_owned creds;
    int max_attempts;
    int64_t base_delay_ms, max_delay_ms, timeout_ms, connect_timeout_ms;
    fp_aws_stats stats;
    const fp_stop *stop;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t or_default(int64_t v, int64_t d)
{
    return v > 0 ? v : d;
}

const char *fp_aws_region(const char *explicit_region)
{
    const char *region = explicit_region;
    if (!region || !*region)
        region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    return region && *region ? region : NULL;
}

fp_code fp_aws_client_new(const fp_aws_opts *o, fp_aws_client **out, fp_err *err)
{
    *out = NULL;
    if (!o->region || !*o->region)
        return fp_err_set(err, FP_ERR_CONFIG, "%s: no region given", o->service);
    const char *ep = o->endpoint;
    const char *rest = NULL;
    if (ep && !strncmp(ep, "http://", 7))
        rest = ep + 7;
    else if (ep && !strncmp(ep, "https://", 8))
        rest = ep + 8;
    if (!rest || !*rest || *rest == '/')
        return fp_err_set(err, FP_ERR_CONFIG,
                          "%s endpoint '%s': expected http://host[:port] or https://host[:port]",
                          o->service, ep ? ep : "");
    size_t hl = strcspn(rest, "/?#");
    if (hl >= sizeof(((fp_aws_client *)0)->host) || strchr(rest, '@'))
        return fp_err_set(err, FP_ERR_CONFIG, "%s endpoint '%s': bad host", o->service, ep);
    for (size_t i = hl; rest[i]; i++)
        if (rest[i] != '/')
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s endpoint '%s': no path or query allowed after the host",
                              o->service, ep);
    pthread_once(&curl_once, curl_init_once);

    fp_aws_client *c = fp_xcalloc(1, sizeof *c);
    fp_code rc = fp_aws_creds_load(o->profile, &c->creds, err);
    if (rc) {
        free(c);
        return fp_err_prefix(err, "%s", o->service);
    }
    memcpy(c->host, rest, hl);
    c->host[hl] = 0;
    c->base = fp_xstrndup(ep, (size_t)(rest - ep) + hl);
    c->service = fp_xstrdup(o->service);
    c->region = fp_xstrdup(o->region);
    c->max_attempts = o->max_attempts > 0 ? o->max_attempts : 10;
    c->base_delay_ms = or_default(o->base_delay_ms, 50);
    c->max_delay_ms = or_default(o->max_delay_ms, 20000);
    c->timeout_ms = or_default(o->timeout_ms, 120000);
    c->connect_timeout_ms = or_default(o->connect_timeout_ms, 10000);
    c->stop = o->stop;
    c->curl = curl_easy_init();
    if (!c->curl) {
        fp_aws_client_free(c);
        return fp_err_set(err, FP_ERR_INTERNAL, "%s: curl_easy_init failed", o->service);
    }
    *out = c;
    return FP_OK;
}

void fp_aws_client_free(fp_aws_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    fp_aws_creds_clear(&c->creds);
    free(c->service);
    free(c->region);
    free(c->base);
    free(c);
}

const fp_aws_stats *fp_aws_client_stats(const fp_aws_client *c)
{
    return &c->stats;
}

const char *fp_aws_client_host(const fp_aws_client *c)
{
    return c->host;
}

void fp_aws_resp_free(fp_aws_resp *resp)
{
    fp_buf_free(&resp->body);
    memset(resp, 0, sizeof *resp);
}

/* ---- helpers ---------------------------------------------------------------------------- */

void fp_aws_uri_encode(fp_buf *out, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
            (keep_slash && ch == '/')) {
            fp_buf_putc(out, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            fp_buf_append(out, e, 3);
        }
    }
}

int fp_aws_code_is_throttle(const char *code)
{
    static const char *const codes[] = {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (!strcmp(code, codes[i]))
            return 1;
    return 0;
}

/* Transient answers that are not throttling but still worth another attempt. */
static int code_is_transient(const char *code)
{
    /* BadDigest, IncompleteBody, XAmzContentSHA256Mismatch: the body was damaged or cut on
     * the way (we computed its hashes from the file); OperationAborted: a conflicting operation
     * on the bucket was in progress. */
    static const char *const codes[] = {
        "RequestTimeout",      "RequestTimeoutException",   "InternalError",
        "InternalServerError", "ServiceUnavailable",        "BadDigest",
        "IncompleteBody",      "XAmzContentSHA256Mismatch", "OperationAborted",
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (!strcmp(code, codes[i]))
            return 1;
    return 0;
}

const fp_stop *fp_aws_client_stop(const fp_aws_client *c)
{
    return c->stop;
}

/* Error code and message from an AWS error body: JSON {"__type":"ns#Code","message":".."} or
 * XML <Error><Code>..</Code><Message>..</Message>. */
static void parse_error(const fp_buf *body, char *code, size_t code_sz, fp_buf *msg)
{
    code[0] = 0;
    if (!body->len)
        return;
    const char *p = body->p;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    if (*p == '{') {
        json_t *j = json_loadb(body->p, body->len, 0, NULL);
        if (!j)
            return;
        const char *t = json_string_value(json_object_get(j, "__type"));
        if (!t)
            t = json_string_value(json_object_get(j, "code"));
        if (t) {
            const char *h = strrchr(t, '#');
            snprintf(code, code_sz, "%s", h ? h + 1 : t);
        }
        const char *m = json_string_value(json_object_get(j, "message"));
        if (!m)
            m = json_string_value(json_object_get(j, "Message"));
        if (m)
            fp_buf_puts(msg, m);
        json_decref(j);
        return;
    }
    const char *tags[2][2] = {{"<Code>", "</Code>"}, {"<Message>", "</Message>"}};
    for (int i = 0; i < 2; i++) {
        const char *a = strstr(body->p, tags[i][0]);
        const char *b = a ? strstr(a, tags[i][1]) : NULL;
        if (!b)
            continue;
        a += strlen(tags[i][0]);
        size_t n = (size_t)(b - a);
        if (i == 0)
            snprintf(code, code_sz, "%.*s", (int)(n < code_sz ? n : code_sz - 1), a);
        else
            fp_buf_append(msg, a, n < 512 ? n : 512);
    }
}

/* ---- one attempt ------------------------------------------------------------------------ */

typedef struct xfer {
    const fp_aws_req *r;
    fp_aws_resp *resp;
    size_t sent;      /* body bytes handed to curl */
    int streamed;     /* on_data got bytes */
    int streaming_ok; /* status is 2xx: stream instead of buffering */
    fp_code cb_rc;
    fp_err cb_err;
    int read_errno;
} xfer;

static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer *x = arg;
    size_t want = size * nitems;
    size_t left = x->r->body_len - x->sent;
    if (want > left)
        want = left;
    if (!want)
        return 0;
    if (x->r->body_fd >= 0) {
        ssize_t n = pread(x->r->body_fd, buf, want, x->r->body_off + (off_t)x->sent);
        if (n <= 0) {
            x->read_errno = n < 0 ? errno : EIO;
            return CURL_READFUNC_ABORT;
        }
        want = (size_t)n;
    } else {
        memcpy(buf, (const char *)x->r->body + x->sent, want);
    }
    x->sent += want;
    return want;
}

/* curl rewinds the body when it must send the request again within one attempt (a kept-alive
 * connection that turned out dead, a 100/417 exchange); without this it fails the transfer. */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
    xfer *x = arg;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > x->r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->sent = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    if (x->streaming_ok && x->r->on_data) {
        x->streamed = 1;
        x->cb_rc = x->r->on_data(data, n, x->r->on_data_arg, &x->cb_err);
        return x->cb_rc ? 0 : n;
    }
    if (x->resp->body.len + n > (64u << 20))
        return 0; /* an error or listing body this large is not an AWS answer */
    fp_buf_append(&x->resp->body, data, n);
    return n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t out_sz)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    snprintf(out, out_sz, "%.*s", (int)(e - v), v);
}

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
    xfer *x = arg;
    size_t n = size * nitems;
    if (n > 5 && !strncmp(line, "HTTP/", 5)) {
        /* a new response (after a redirect or 100): status decides where the body goes */
        const char *sp = memchr(line, ' ', n);
        long st = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->streaming_ok = st >= 200 && st < 300;
        x->resp->etag[0] = 0;
        x->resp->content_length = -1;
        return n;
    }
    char len[24] = "";
    header_value(line, n, "Content-Length", len, sizeof len);
    if (len[0])
        x->resp->content_length = strtoll(len, NULL, 10);
    header_value(line, n, "ETag", x->resp->etag, sizeof x->resp->etag);
    header_value(line, n, "x-amz-request-id", x->resp->request_id, sizeof x->resp->request_id);
    header_value(line, n, "x-amzn-RequestId", x->resp->request_id, sizeof x->resp->request_id);
    return n;
}

/* One signed request. FP_OK on 2xx; otherwise an error, with *retry set (and why saying what
 * happened) when another attempt may succeed, else err set for the caller. */
static fp_code attempt(fp_aws_client *c, const fp_aws_req *r, const char *payload_hash,
                       fp_aws_resp *resp, fp_buf *why, bool *retry, fp_err *err)
{
    *retry = false;
    char amz_date[17];
    fp_sigv4_amz_date(fp_time_now_ms(), amz_date);
    size_t nh = r->nheaders + 4;
    fp_sigv4_header *h = fp_xcalloc(nh, sizeof *h);
    size_t k = 0;
    h[k++] = (fp_sigv4_header){"Host", c->host};
    h[k++] = (fp_sigv4_header){"X-Amz-Date", amz_date};
    if (!strcmp(c->service, "s3"))
        h[k++] = (fp_sigv4_header){"X-Amz-Content-Sha256", payload_hash};
    if (c->creds.c.session_token)
        h[k++] = (fp_sigv4_header){"X-Amz-Security-Token", c->creds.c.session_token};
    for (size_t i = 0; i < r->nheaders; i++)
        h[k++] = r->headers[i];
    fp_sigv4_request sr = {r->method, r->path, r->query, h, k, payload_hash};
    fp_buf auth = {0}, line = {0}, url = {0};
    struct curl_slist *hl = NULL;
    fp_code out = fp_sigv4_sign(&sr, &c->creds.c, c->region, c->service, amz_date,
                                !strcmp(c->service, "s3"), &auth, NULL, err);
    if (out) {
        fp_err_prefix(err, "%s %s", c->service, r->op);
        goto done;
    }
    for (size_t i = 0; i < k; i++) {
        fp_buf_reset(&line);
        fp_buf_printf(&line, "%s: %s", h[i].name, h[i].value);
        hl = curl_slist_append(hl, line.p);
    }
    fp_buf_reset(&line);
    fp_buf_printf(&line, "Authorization: %s", auth.p);
    hl = curl_slist_append(hl, line.p);
    hl = curl_slist_append(hl, "Expect:");
    hl = curl_slist_append(hl, "Accept:");
    if (r->body_len == 0 && (!strcmp(r->method, "POST") || !strcmp(r->method, "PUT")))
        hl = curl_slist_append(hl, "Content-Type:"); /* curl adds a form type to empty POSTs */
    explicit_bzero(line.p, line.cap);
    explicit_bzero(auth.p, auth.cap);

    fp_buf_printf(&url, "%s%s%s%s", c->base, r->path, r->query && *r->query ? "?" : "",
                  r->query ? r->query : "");
    CURL *e = c->curl;
    curl_easy_reset(e);
    xfer x = {.r = r, .resp = resp};
    curl_easy_setopt(e, CURLOPT_URL, url.p);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* Bodies from files can be gigabytes (multipart parts): bound them by progress, not by
     * a total time that a slow link could never meet. */
    if (r->body_fd >= 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                         (long)(c->timeout_ms / 1000 > 0 ? c->timeout_ms / 1000 : 1));
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "GET")) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
        if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST") || r->body_len) {
            curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(e, CURLOPT_READDATA, &x);
            curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(e, CURLOPT_SEEKDATA, &x);
            curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        }
    }
    atomic_fetch_add(&c->stats.requests, 1);
    CURLcode cc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
    fp_buf_reset(why);
    if (x.cb_rc) {
        out = fp_err_set(err, x.cb_rc, "%s %s %s: %s", c->service, r->op, r->path, x.cb_err.msg);
        goto done;
    }
    if (cc != CURLE_OK) {
        if (x.read_errno)
            fp_buf_printf(why, "reading the body: %s", strerror(x.read_errno));
        else
            fp_buf_printf(why, "%s", curl_easy_strerror(cc));
        /* Only failures of the connection are worth another attempt: a certificate that does
         * not verify, a bad URL or an unsupported protocol will fail the same way again. */
        *retry = !x.streamed && cc != CURLE_PEER_FAILED_VERIFICATION &&
                 cc != CURLE_SSL_CACERT_BADFILE && cc != CURLE_SSL_CERTPROBLEM &&
                 cc != CURLE_UNSUPPORTED_PROTOCOL && cc != CURLE_URL_MALFORMAT &&
                 cc != CURLE_ABORTED_BY_CALLBACK;
        out = FP_ERR_IO;
        if (x.streamed)
            fp_err_set(err, FP_ERR_IO, "%s %s %s: %s after part of the body", c->service, r->op,
                       r->path, why->p);
        else if (!*retry) /* a local read error stays IO (worth a later retry) */
            out = fp_err_set(err, x.read_errno ? FP_ERR_IO : FP_ERR_CONFIG, "%s %s %s: %s",
                             c->service, r->op, r->path, why->p);
        goto done;
    }
    if (resp->status >= 200 && resp->status < 300)
        goto done;
    fp_buf msg = {0};
    parse_error(&resp->body, resp->code, sizeof resp->code, &msg);
    fp_buf_printf(why, "HTTP %ld%s%s%s%s", resp->status, resp->code[0] ? " " : "", resp->code,
                  msg.len ? ": " : "", msg.len ? msg.p : "");
    if (!resp->code[0] && !strcmp(r->method, "HEAD"))
        fp_buf_puts(why, resp->status == 403
                             ? " (access denied or a bad signature; HEAD answers carry no error "
                               "body; S3 also answers 403 for a missing key without "
                               "s3:ListBucket)"
                             : " (HEAD answers carry no error body)");
    if (resp->request_id[0])
        fp_buf_printf(why, " (request id %s)", resp->request_id);
    fp_buf_free(&msg);
    if (resp->status >= 500 || resp->status == 429 || fp_aws_code_is_throttle(resp->code) ||
        code_is_transient(resp->code)) {
        if (fp_aws_code_is_throttle(resp->code) || resp->status == 429 || resp->status == 503)
            atomic_fetch_add(&c->stats.throttled, 1);
        *retry = true;
        out = FP_ERR_IO;
        goto done;
    }
    out = fp_err_set(err, resp->status == 404 ? FP_ERR_NOTFOUND : FP_ERR_INVALID, "%s %s %s: %s",
                     c->service, r->op, r->path, why->p);
done:
    curl_slist_free_all(hl);
    fp_buf_free(&auth);
    fp_buf_free(&line);
    fp_buf_free(&url);
    free(h);
    return out;
}

fp_code fp_aws_call(fp_aws_client *c, const fp_aws_req *r, fp_aws_resp *resp, fp_err *err)
{
    fp_aws_resp_free(resp);
    char hash[65];
    const char *payload_hash = r->body_sha256;
    if (!payload_hash) {
        if (r->body_fd >= 0 && r->body_len)
            return fp_err_set(err, FP_ERR_INTERNAL, "%s %s: file body without its SHA-256",
                              c->service, r->op);
        fp_sigv4_sha256_hex(r->body ? r->body : "", r->body_len, hash);
        payload_hash = hash;
    }
    fp_buf why = {0};
    fp_code rc = FP_OK;
    fp_backoff b;
    fp_backoff_init(&b, c->base_delay_ms, c->max_delay_ms);
    for (int i = 0;; i++) {
        fp_buf_reset(&resp->body);
        resp->code[0] = resp->etag[0] = resp->request_id[0] = 0;
        resp->status = 0;
        resp->content_length = -1;
        bool retry;
        rc = attempt(c, r, payload_hash, resp, &why, &retry, err);
        if (!rc || !retry)
            break;
        if (i + 1 >= c->max_attempts || fp_stop_requested(c->stop)) {
            rc = fp_err_set(err, FP_ERR_IO, "%s %s %s: %s (gave up after %d attempts)", c->service,
                            r->op, r->path, why.p, i + 1);
            break;
        }
        atomic_fetch_add(&c->stats.retries, 1);
        fp_backoff_sleep(&b, c->stop);
    }
    fp_buf_free(&why);
    return rc;
}
