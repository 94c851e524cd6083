/* http.c — fp_http on libmicrohttpd: a thread pool of epoll loops, hard limits, and the checks
 * every endpoint shares (body size, bearer token, path decoding) done before the handler runs.
 *
 * The one thing to know: libmicrohttpd calls the access handler several times per request
 * (headers, then each body chunk, then once more at the end). The per-request state lives in
 * con_cls, created by the URI log callback, which is the only place libmicrohttpd hands out the
 * raw request target; we percent-decode the path ourselves so that "%00" and invalid UTF-8 are
 * rejected instead of silently truncated. Refusals (401, 400, 413 by Content-Length) are queued
 * on the first call, before any body byte is read; a chunked body that grows past max_body is
 * discarded as it arrives and answered 413 at the end.
 */
#include "ops/http.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/json.h"

#define HTTP_DEFAULT_MAX_BODY (1u << 20)
#define HTTP_DEFAULT_THREADS 4u
#define HTTP_CONNECTION_LIMIT 256u
#define HTTP_CONNECTION_TIMEOUT_S 30u
#define HTTP_THREAD_STACK (256u << 10) /* handlers keep their buffers on the heap */
#define HTTP_PUMP_CHUNK (16u << 10)    /* a streamed body is read this much at a time */
#define HTTP_PUMP_CAP (64u << 10)      /* and buffered up to this much per connection */

typedef struct http_pump http_pump;

struct fp_http {
    struct MHD_Daemon *d;
    pthread_mutex_t lock; /* guards h, ctx, nthreads, pumps */
    pthread_cond_t idle;  /* signalled when a thread of ours ends */
    fp_http_handler h;
    void *ctx;
    fp_http_offload_fn offload;
    bool pool;            /* a thread pool (not a thread per connection) */
    atomic_bool stopping; /* fp_http_stop began: nothing new is offloaded */
    unsigned nthreads;    /* offloaded handlers and stream pumps running */
    unsigned nhandlers;   /* of them, offloaded handlers (their connections are suspended) */
    http_pump *pumps;     /* every pump whose response MHD still holds */
    char *token;          /* NULL: no authentication */
    bool token_everywhere;
    size_t max_body;
};

/* One request, from the URI log callback to the completion callback. */
typedef struct http_req_state {
    char *raw_uri;
    fp_buf body;
    bool started;   /* the access handler saw the headers */
    bool too_big;   /* body exceeded max_body: the rest is discarded */
    bool responded; /* a refusal was queued on the first call */
    /* An offloaded request: its thread ran the handler into resp while the connection was
     * suspended, and the next access-handler call (after the resume) queues it. */
    bool ready;
    fp_http_resp resp;
} http_req_state;

/* A streamed body in a pool server: a thread of its own calls the stream function (which may
 * block) into buf; libmicrohttpd's content reader, on a pool thread, takes from buf, and
 * suspends the connection while buf is empty until the thread resumes it. Freed by whichever
 * of the two (the response's free callback, the thread) lets go last. */
struct http_pump {
    fp_http *s;
    struct MHD_Connection *c;
    fp_http_stream_fn fn;
    void *ctx;
    void (*free_fn)(void *ctx);
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t room;  /* buf has room, or closed */
    char buf[HTTP_PUMP_CAP];
    size_t len;
    bool eof;    /* fn ended the stream */
    bool closed; /* MHD let go of the response (sent, client gone, or server stopping) */
    bool parked; /* the connection is suspended until bytes (or the end) arrive */
    int refs;
    http_pump *next; /* in s->pumps, while MHD holds the response (s->lock) */
};

void fp_http_error(fp_http_resp *resp, int status, const char *fmt, ...)
{
    fp_buf msg = FP_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    fp_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = "application/json";
    fp_buf_reset(&resp->body);
    fp_buf_printf(&resp->body, "{\"error_code\": %d, \"message\": ", status);
    fp_json_quote(&resp->body, msg.p ? msg.p : "", msg.len);
    fp_buf_puts(&resp->body, "}\n");
    fp_buf_free(&msg);
}

fp_code fp_http_read_token(const char *path, char **token, fp_err *err)
{
    *token = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return fp_err_set(err, FP_ERR_CONFIG, "token file %s: %s", path, strerror(errno));
    char line[4096];
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    if (!got)
        return fp_err_set(err, FP_ERR_CONFIG, "token file %s: empty", path);
    size_t b = 0, e = strlen(line);
    while (b < e && (line[b] == ' ' || line[b] == '\t'))
        b++;
    while (e > b && (line[e - 1] == '\n' || line[e - 1] == '\r' || line[e - 1] == ' ' ||
                     line[e - 1] == '\t'))
        e--;
    if (e == b)
        return fp_err_set(err, FP_ERR_CONFIG, "token file %s: empty first line", path);
    *token = fp_xstrndup(line + b, e - b);
    return FP_OK;
}

bool fp_http_retry_after(const char *line, size_t n, int64_t *ms)
{
    static const char name[] = "retry-after:";
    if (n <= sizeof name - 1 || strncasecmp(line, name, sizeof name - 1))
        return false;
    char v[32];
    snprintf(v, sizeof v, "%.*s", (int)(n - (sizeof name - 1)), line + sizeof name - 1);
    char *end;
    long long s = strtoll(v, &end, 10);
    while (*end == ' ' || *end == '\r' || *end == '\n')
        end++;
    if (end == v || *end || s < 0)
        return false;
    *ms = s > 86400 ? 86400000 : (int64_t)s * 1000;
    return true;
}

/* Compares the whole expected token whatever the input, so timing does not reveal a prefix. */
bool fp_http_token_equal(const char *given, size_t given_len, const char *want)
{
    size_t want_len = strlen(want);
    unsigned diff = (unsigned)(given_len != want_len);
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned)(g ^ (unsigned char)want[i]);
    }
    return diff == 0;
}

static bool authorized(const fp_http *s, struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *t = auth + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
        n--;
    return fp_http_token_equal(t, n, s->token);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool fp_http_percent_decode(const char *s, size_t n, bool plus_is_space, fp_buf *out)
{
    fp_buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        fp_buf_putc(out, c);
    }
    return true;
}

/* Decodes the path part of a raw request target into out; false (with a reason) when it holds
 * a bad escape, a NUL or invalid UTF-8. The query starts at the first '?', *query points to it. */
static bool decode_target(const char *raw, fp_buf *out, const char **query, const char **why)
{
    const char *q = strchr(raw, '?');
    size_t n = q ? (size_t)(q - raw) : strlen(raw);
    *query = q ? q + 1 : "";
    if (!fp_http_percent_decode(raw, n, false, out)) {
        *why = "bad percent escape in path";
        return false;
    }
    if (memchr(out->p, '\0', out->len)) {
        *why = "NUL in path";
        return false;
    }
    if (!fp_utf8_valid(out->p, out->len)) {
        *why = "path is not valid UTF-8";
        return false;
    }
    return true;
}

const char *fp_http_header(const fp_http_req *req, const char *name)
{
    if (!req->conn)
        return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

void fp_http_resp_header(fp_http_resp *resp, const char *name, const char *value)
{
    if (resp->nhdr >= FP_HTTP_MAX_HEADERS)
        return;
    resp->hdr_name[resp->nhdr] = fp_xstrdup(name);
    resp->hdr_value[resp->nhdr] = fp_xstrdup(value);
    resp->nhdr++;
}

/* Frees what a handler left in r (headers, an unsent stream), not the body. */
static void resp_release(fp_http_resp *r)
{
    for (int i = 0; i < r->nhdr; i++) {
        free(r->hdr_name[i]);
        free(r->hdr_value[i]);
    }
    r->nhdr = 0;
    if (r->stream && r->stream_free)
        r->stream_free(r->stream_ctx);
    r->stream = NULL;
}

typedef struct http_stream {
    fp_http_stream_fn fn;
    void *ctx;
    void (*free_fn)(void *ctx);
} http_stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_stream *st = cls;
    ssize_t n = st->fn(st->ctx, buf, max);
    return n > 0 ? n : (ssize_t)MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_done(void *cls)
{
    http_stream *st = cls;
    if (st->free_fn)
        st->free_fn(st->ctx);
    free(st);
}

/* The server's count of our threads: +1 before pthread_create, -1 as the thread ends. */
static void thread_ended(fp_http *s, bool handler)
{
    pthread_mutex_lock(&s->lock);
    s->nthreads--;
    if (handler)
        s->nhandlers--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

static bool spawn(fp_http *s, void *(*fn)(void *), void *arg, bool handler)
{
    pthread_mutex_lock(&s->lock);
    s->nthreads++;
    if (handler)
        s->nhandlers++;
    pthread_mutex_unlock(&s->lock);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, HTTP_THREAD_STACK);
    pthread_t t;
    int e = pthread_create(&t, &a, fn, arg);
    pthread_attr_destroy(&a);
    if (e)
        thread_ended(s, handler);
    return !e;
}

static void pump_unref(http_pump *p)
{
    pthread_mutex_lock(&p->lock);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (!last)
        return;
    if (p->free_fn)
        p->free_fn(p->ctx);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->room);
    free(p);
}

/* The pump's thread: the stream function into buf until it ends or the response is gone. */
static void *pump_run(void *arg)
{
    http_pump *p = arg;
    fp_http *s = p->s;
    char chunk[HTTP_PUMP_CHUNK];
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->closed && p->len + sizeof chunk > sizeof p->buf)
            pthread_cond_wait(&p->room, &p->lock);
        bool closed = p->closed;
        pthread_mutex_unlock(&p->lock);
        ssize_t n = closed ? -1 : p->fn(p->ctx, chunk, sizeof chunk);
        pthread_mutex_lock(&p->lock);
        if (n > 0 && !p->closed) {
            memcpy(p->buf + p->len, chunk, (size_t)n);
            p->len += (size_t)n;
        } else {
            p->eof = true;
        }
        /* A parked connection is alive: MHD closes none while suspended (fp_http_stop resumes
         * them first), so resuming it here is safe. */
        bool wake = p->parked;
        p->parked = false;
        bool end = p->eof;
        pthread_mutex_unlock(&p->lock);
        if (wake)
            MHD_resume_connection(p->c);
        if (end)
            break;
    }
    pump_unref(p);
    thread_ended(s, false);
    return NULL;
}

/* libmicrohttpd's content reader for a pump, on a pool thread: never blocks. */
static ssize_t pump_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_pump *p = cls;
    pthread_mutex_lock(&p->lock);
    ssize_t n;
    if (p->len) {
        size_t k = p->len < max ? p->len : max;
        memcpy(buf, p->buf, k);
        memmove(p->buf, p->buf + k, p->len - k);
        p->len -= k;
        pthread_cond_signal(&p->room);
        n = (ssize_t)k;
    } else if (p->eof || atomic_load(&p->s->stopping)) {
        n = (ssize_t)MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* libmicrohttpd: suspending from the content reader is allowed, and a 0 then waits
         * for the resume instead of spinning. */
        p->parked = true;
        MHD_suspend_connection(p->c);
        n = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void pump_done(void *cls)
{
    http_pump *p = cls;
    fp_http *s = p->s;
    pthread_mutex_lock(&s->lock);
    for (http_pump **q = &s->pumps; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    p->parked = false;
    pthread_cond_signal(&p->room);
    pthread_mutex_unlock(&p->lock);
    pump_unref(p);
}

/* A response for r's stream in a pool server, its pump thread started; NULL when no thread
 * could be made (the stream is freed). */
static struct MHD_Response *pump_response(fp_http *s, struct MHD_Connection *c, fp_http_resp *r)
{
    http_pump *p = fp_xcalloc(1, sizeof *p);
    p->s = s;
    p->c = c;
    p->fn = r->stream;
    p->ctx = r->stream_ctx;
    p->free_fn = r->stream_free;
    r->stream = NULL; /* the pump's from here on */
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->room, NULL);
    p->refs = 2;
    struct MHD_Response *mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_PUMP_CHUNK,
                                                                pump_read, p, pump_done);
    if (!mr) {
        p->refs = 1;
        pump_unref(p);
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    p->next = s->pumps;
    s->pumps = p;
    pthread_mutex_unlock(&s->lock);
    if (!spawn(s, pump_run, p, false)) {
        pthread_mutex_lock(&p->lock);
        p->eof = true; /* the reader ends the response; pump_done frees */
        p->refs--;
        pthread_mutex_unlock(&p->lock);
    }
    return mr;
}

static enum MHD_Result send_resp(fp_http *s, struct MHD_Connection *c, fp_http_resp *r)
{
    struct MHD_Response *mr;
    if (r->stream && s->pool) {
        mr = pump_response(s, c, r);
        if (!mr) {
            resp_release(r);
            return MHD_NO;
        }
    } else if (r->stream) {
        http_stream *st = fp_xcalloc(1, sizeof *st);
        *st = (http_stream){r->stream, r->stream_ctx, r->stream_free};
        r->stream = NULL; /* owned by the response from here on */
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st,
                                               stream_done);
        if (!mr) {
            stream_done(st);
            resp_release(r);
            return MHD_NO;
        }
    } else {
        size_t len = r->body.len;
        char *bytes = fp_buf_steal(&r->body);
        if (!bytes)
            bytes = fp_xstrdup("");
        mr = MHD_create_response_from_buffer(len, bytes, MHD_RESPMEM_MUST_FREE);
        if (!mr) {
            free(bytes);
            resp_release(r);
            return MHD_NO;
        }
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    for (int i = 0; i < r->nhdr; i++)
        MHD_add_response_header(mr, r->hdr_name[i], r->hdr_value[i]);
    resp_release(r);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)(r->status ? r->status : 200), mr);
    MHD_destroy_response(mr);
    return ok;
}

static enum MHD_Result send_error(fp_http *s, struct MHD_Connection *c, int status, const char *msg)
{
    fp_http_resp r = {.status = status};
    fp_http_error(&r, status, "%s", msg);
    enum MHD_Result ok = send_resp(s, c, &r);
    fp_buf_free(&r.body);
    return ok;
}

static bool open_path(const char *raw)
{
    size_t n = strcspn(raw, "?");
    return (n == 8 && memcmp(raw, "/metrics", 8) == 0) ||
           (n == 8 && memcmp(raw, "/healthz", 8) == 0);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    http_req_state *st = fp_xcalloc(1, sizeof *st);
    st->raw_uri = fp_xstrdup(uri ? uri : "");
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_req_state *st = *con_cls;
    if (!st)
        return;
    free(st->raw_uri);
    fp_buf_free(&st->body);
    resp_release(&st->resp); /* an offloaded answer the connection went away before sending */
    fp_buf_free(&st->resp.body);
    free(st);
    *con_cls = NULL;
}

/* An offloaded request, owned by its thread. */
typedef struct http_job {
    fp_http *s;
    struct MHD_Connection *c;
    http_req_state *st;
    fp_http_handler h;
    void *ctx;
    char *method;
    fp_buf path;
    const char *query; /* in st->raw_uri */
} http_job;

/* The offloaded handler's thread. The connection is suspended meanwhile, so libmicrohttpd
 * touches neither it nor st (its headers are read from here); after the resume, neither may
 * this thread. */
static void *job_run(void *arg)
{
    http_job *j = arg;
    fp_http *s = j->s;
    http_req_state *st = j->st;
    fp_http_req req = {
        .conn = j->c,
        .method = j->method,
        .path = j->path.p,
        .query = j->query,
        .body = st->body.p,
        .body_len = st->body.len,
    };
    st->resp = (fp_http_resp){.status = 200, .content_type = "application/json"};
    j->h(j->ctx, &req, &st->resp);
    st->ready = true;
    MHD_resume_connection(j->c);
    free(j->method);
    fp_buf_free(&j->path);
    free(j);
    thread_ended(s, true);
    return NULL;
}

/* First call: refuse what can be refused from the headers alone. */
static enum MHD_Result on_headers(fp_http *s, struct MHD_Connection *c, http_req_state *st)
{
    st->started = true;
    if (s->token && (s->token_everywhere || !open_path(st->raw_uri)) && !authorized(s, c)) {
        st->responded = true;
        return send_error(s, c, 401, "missing or wrong bearer token");
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > s->max_body) {
            st->responded = true;
            return send_error(s, c, 413, "request body too large");
        }
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    fp_http *s = cls;
    http_req_state *st = *con_cls;
    if (!st) /* cannot happen: the URI callback always runs first */
        return MHD_NO;
    if (st->ready) { /* resumed: the offloaded handler's answer */
        st->ready = false;
        enum MHD_Result ok = send_resp(s, c, &st->resp);
        fp_buf_free(&st->resp.body);
        return ok;
    }
    if (!st->started)
        return on_headers(s, c, st);
    if (st->responded) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!st->too_big && st->body.len + *upload_size <= s->max_body)
            fp_buf_append(&st->body, upload, *upload_size);
        else
            st->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->too_big)
        return send_error(s, c, 413, "request body too large");

    fp_buf path = FP_BUF_INIT;
    const char *query, *why = NULL;
    if (!decode_target(st->raw_uri, &path, &query, &why)) {
        fp_buf_free(&path);
        return send_error(s, c, 400, why);
    }
    pthread_mutex_lock(&s->lock);
    fp_http_handler h = s->h;
    void *ctx = s->ctx;
    pthread_mutex_unlock(&s->lock);
    if (!h) {
        fp_buf_free(&path);
        return send_error(s, c, 503, "not ready");
    }
    if (!st->body.p)
        fp_buf_reserve(&st->body, 0);
    fp_http_req req = {
        .conn = c,
        .method = method,
        .path = path.p,
        .query = query,
        .body = st->body.p,
        .body_len = st->body.len,
    };
    if (s->pool && s->offload && s->offload(ctx, &req)) {
        if (atomic_load(&s->stopping)) {
            fp_buf_free(&path);
            return send_error(s, c, 503, "server stopping");
        }
        http_job *j = fp_xcalloc(1, sizeof *j);
        *j = (http_job){s, c, st, h, ctx, fp_xstrdup(method), path, query};
        MHD_suspend_connection(c);
        if (spawn(s, job_run, j, true))
            return MHD_YES;
        MHD_resume_connection(c);
        free(j->method);
        fp_buf_free(&j->path);
        free(j);
        return send_error(s, c, 503, "no thread for the request");
    }
    fp_http_resp resp = {.status = 200, .content_type = "application/json"};
    h(ctx, &req, &resp);
    enum MHD_Result ok = send_resp(s, c, &resp);
    fp_buf_free(&resp.body);
    fp_buf_free(&path);
    return ok;
}

/* "host:port", ":port", "[v6]:port"; an empty host means every IPv4 address. */
static fp_code parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *salen,
                            fp_err *err)
{
    if (!listen || !*listen)
        return fp_err_set(err, FP_ERR_CONFIG, "http: empty listen address");
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1])
        return fp_err_set(err, FP_ERR_CONFIG, "http: listen address %s: expected host:port",
                          listen);
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 0 || port > 65535)
        return fp_err_set(err, FP_ERR_CONFIG, "http: listen address %s: bad port", listen);
    const char *h = listen;
    size_t hn = (size_t)(colon - listen);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']')
        h++, hn -= 2;
    char host[256];
    if (hn >= sizeof host)
        return fp_err_set(err, FP_ERR_CONFIG, "http: listen address %s: host too long", listen);
    memcpy(host, h, hn);
    host[hn] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%ld", port);
    if (!hn)
        hints.ai_family = AF_INET;
    int rc = getaddrinfo(hn ? host : NULL, portstr, &hints, &ai);
    if (rc || !ai)
        return fp_err_set(err, FP_ERR_CONFIG, "http: listen address %s: %s", listen,
                          gai_strerror(rc));
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    *salen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return FP_OK;
}

fp_code fp_http_start(const fp_http_opts *o, fp_http_handler h, void *ctx, fp_http **out,
                      fp_err *err)
{
    *out = NULL;
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    fp_code rc = parse_listen(o->listen, &sa, &salen, err);
    if (rc)
        return rc;
    fp_http *s = fp_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->h = h;
    s->ctx = ctx;
    s->token = o->token && *o->token ? fp_xstrdup(o->token) : NULL;
    s->token_everywhere = o->token_everywhere;
    s->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
    unsigned threads = o->threads ? o->threads : HTTP_DEFAULT_THREADS;
    unsigned limit = o->max_connections ? o->max_connections : HTTP_CONNECTION_LIMIT;

    s->offload = o->offload;
    s->pool = !o->thread_per_connection;
    pthread_cond_init(&s->idle, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (o->thread_per_connection) {
        /* A thread per connection cannot share a pool; its stack stays small (handlers keep
         * their buffers on the heap). */
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
        threads = 0;
    } else {
        flags |=
            MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
        flags |= MHD_ALLOW_SUSPEND_RESUME; /* offloaded handlers and streams */
    }
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(o->thread_per_connection ? HTTP_THREAD_STACK : 0),
        MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        limit, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        (void *)s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)s, MHD_OPTION_END);
    if (!s->d) {
        int e = errno;
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->idle);
        free(s->token);
        free(s);
        return fp_err_set(err, FP_ERR_IO, "http: cannot listen on %s: %s", o->listen,
                          e ? strerror(e) : "libmicrohttpd refused to start");
    }
    *out = s;
    return FP_OK;
}

void fp_http_set_handler(fp_http *s, fp_http_handler h, void *ctx)
{
    pthread_mutex_lock(&s->lock);
    s->h = h;
    s->ctx = ctx;
    pthread_mutex_unlock(&s->lock);
}

int fp_http_port(const fp_http *s)
{
    if (!s || !s->d)
        return -1;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? (int)i->port : -1;
}

void fp_http_stop(fp_http *s)
{
    if (!s)
        return;
    /* libmicrohttpd must not stop with a connection suspended: let the offloaded handlers
     * finish (they resume their connections; nothing new is offloaded), then wake the parked
     * streams (their readers now end them), stop, and wait for the pumps' threads. */
    atomic_store(&s->stopping, true);
    pthread_mutex_lock(&s->lock);
    while (s->nhandlers)
        pthread_cond_wait(&s->idle, &s->lock);
    size_t n = 0;
    for (http_pump *p = s->pumps; p; p = p->next)
        n++;
    struct MHD_Connection **wake = fp_xcalloc(n + 1, sizeof *wake);
    n = 0;
    for (http_pump *p = s->pumps; p; p = p->next) {
        pthread_mutex_lock(&p->lock);
        if (p->parked) /* still suspended (so alive) until the resume below */
            wake[n++] = p->c;
        p->parked = false;
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(wake[i]);
    free(wake);
    MHD_stop_daemon(s->d);
    pthread_mutex_lock(&s->lock);
    while (s->nthreads)
        pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s->token);
    free(s);
}
