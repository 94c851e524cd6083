/* http.h — the small HTTP/1.1 server behind every operational endpoint (libmicrohttpd):
 * /metrics and /healthz of every long-running command, and the connect REST API.
 *
 * The one thing to know: the server owns sockets, threads, limits and authentication; callers
 * give one handler that maps (method, path, query, body) to (status, content type, body). The
 * server answers by itself, without calling the handler: 413 for a body above max_body, 401 for
 * a missing or wrong bearer token (when a token is set; /healthz and /metrics stay open unless
 * token_everywhere), 400 for a path that is not valid UTF-8 or holds NUL, 503 when the handler is
 * not set yet. Error bodies are JSON {"error_code": N, "message": "..."} (Kafka Connect's shape).
 *
 * Threads: the handler runs on libmicrohttpd's threads (a thread pool), or on a thread of its own
 * for a request the offload callback names, concurrently; it must be thread-safe. Ownership:
 * request strings are valid during the call; the handler fills resp.body (an fp_buf the server
 * frees after sending).
 */
#ifndef FP_OPS_HTTP_H
#define FP_OPS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/mem.h"

typedef struct fp_http_req {
    const void *conn;   /* the server's connection: for fp_http_header() only */
    const char *method; /* "GET", "POST", "PUT", "DELETE", ... */
    const char *path;   /* percent-decoded, without the query: "/connectors/my sink/status" */
    const char *query;  /* raw query string without '?', "" when none ("expand=status") */
    const char *body;   /* NUL-terminated copy; "" when none */
    size_t body_len;
} fp_http_req;

/* A streamed body (Server-Sent Events): called whenever the client can take more, with room for
 * max bytes. Returns the bytes written into buf (> 0), or -1 to end the response. It may block
 * (it runs on the connection's thread, or in a pool server on a thread of the stream's own) but
 * must return within the connection timeout, e.g. with a heartbeat. stream_free(ctx) runs once
 * when the response ends or the client goes away. */
typedef ssize_t (*fp_http_stream_fn)(void *ctx, char *buf, size_t max);

#define FP_HTTP_MAX_HEADERS 8

typedef struct fp_http_resp {
    int status;               /* default 200 */
    const char *content_type; /* default "application/json" */
    fp_buf body;
    /* Extra response headers (fp_http_resp_header); names and values are copied. */
    char *hdr_name[FP_HTTP_MAX_HEADERS], *hdr_value[FP_HTTP_MAX_HEADERS];
    int nhdr;
    /* When stream is set, body is ignored and the response is streamed (no Content-Length);
     * the server owns stream_ctx from the handler's return on and frees it with stream_free. */
    fp_http_stream_fn stream;
    void *stream_ctx;
    void (*stream_free)(void *ctx);
} fp_http_resp;

typedef void (*fp_http_handler)(void *ctx, const fp_http_req *req, fp_http_resp *resp);
/* Pool servers: true when the handler may block on req (a slow backend), so it runs on a thread
 * of its own while the connection waits, suspended, and the pool's threads go on serving the
 * others. Called on a pool thread with the handler's ctx and the whole request, before the
 * handler: it must not block. */
typedef bool (*fp_http_offload_fn)(void *ctx, const fp_http_req *req);

typedef struct fp_http_opts {
    const char *listen;    /* "127.0.0.1:8083", "0.0.0.0:9100", ":0" (any port) */
    const char *token;     /* bearer token (copied); NULL or "": no authentication */
    bool token_everywhere; /* also require the token on /metrics and /healthz */
    size_t max_body;       /* default 1 MiB */
    unsigned threads;      /* default 4 (a pool of epoll loops) */
    /* In a pool, handlers run on the pool's threads unless offload says otherwise; a streamed
     * body's function always runs on a thread of its own (fed into a bounded buffer the pool
     * sends from). NULL: every handler runs on the pool. */
    fp_http_offload_fn offload;
    /* One thread per connection instead of the pool: everything may block there; threads and
     * offload are then ignored. */
    bool thread_per_connection;
    unsigned max_connections; /* default 256 */
} fp_http_opts;

typedef struct fp_http fp_http;

/* Binds and starts serving. FP_ERR_CONFIG for a bad listen address, FP_ERR_IO naming the address
 * when it cannot bind. */
fp_code fp_http_start(const fp_http_opts *o, fp_http_handler h, void *ctx, fp_http **out,
                      fp_err *err);
/* Sets (or replaces) the handler of a running server, for callers that bind before they are
 * ready to answer (requests meanwhile get 503). Safe from any thread; a request already in its
 * handler finishes with the old one. */
void fp_http_set_handler(fp_http *s, fp_http_handler h, void *ctx);
/* The port actually bound (useful with ":0"). */
int fp_http_port(const fp_http *s);
/* Stops accepting, waits for running handlers, frees. NULL is fine. */
void fp_http_stop(fp_http *s);

/* Helpers for handlers: a JSON error body {"error_code": status, "message": msg}. */
void fp_http_error(fp_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Percent-decodes s[0..n) onto out (a path; with plus_is_space, a query value, where '+' is a
 * space). false on a bad escape; NUL and UTF-8 are the caller's to check. */
bool fp_http_percent_decode(const char *s, size_t n, bool plus_is_space, fp_buf *out);
/* A request header (case-insensitive name), NULL when absent. Valid during the handler. */
const char *fp_http_header(const fp_http_req *req, const char *name);
/* Adds a response header (at most FP_HTTP_MAX_HEADERS; more are dropped). */
void fp_http_resp_header(fp_http_resp *resp, const char *name, const char *value);
/* Reads a response header line as libcurl's CURLOPT_HEADERFUNCTION gives it ("Retry-After: 5\r\n",
 * not NUL-terminated): true and *ms when it is Retry-After with delta-seconds (at most a day);
 * false for any other header or an HTTP-date (the caller's backoff applies then). For the HTTP
 * clients that honour it: the check alerts (check/alert.c) and the Fleet API's webhooks. */
bool fp_http_retry_after(const char *line, size_t n, int64_t *ms);
/* Compares a given token with the wanted one in time that depends only on want's length. */
bool fp_http_token_equal(const char *given, size_t given_len, const char *want);
/* Reads a token file (first line, trimmed); FP_ERR_CONFIG when empty or unreadable. The caller
 * frees *token. */
fp_code fp_http_read_token(const char *path, char **token, fp_err *err);

#endif
