/* client.h — one signed AWS HTTP client (S3, DynamoDB): libcurl with connection reuse, SigV4
 * on every attempt, retries with exponential backoff and full jitter.
 *
 * Retry policy (the AWS SDKs' "standard" mode): network errors, HTTP 5xx, 429 and the
 * throttling codes (ThrottlingException, ProvisionedThroughputExceededException,
 * RequestLimitExceeded, SlowDown, RequestTimeout, ...) are retried up to max_attempts, sleeping
 * a uniform random time in [0, min(max_delay, base_delay * 2^attempt)] before each retry. Every
 * other answer (validation, auth, not found) is final at once and returned with the server's
 * code and message. Secrets never appear in errors or logs.
 *
 * Threads: a client is used by one thread at a time (it owns one curl handle and its open
 * connection); make one per task thread.
 */
#ifndef FP_AWS_CLIENT_H
#define FP_AWS_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aws/sigv4.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/stop.h"

typedef struct fp_aws_opts {
    const char *service;   /* "s3", "dynamodb": the SigV4 service name */
    const char *region;    /* e.g. "eu-west-1" */
    const char *endpoint;  /* "http://127.0.0.1:4569", "https://dynamodb.eu-west-1.amazonaws.com" */
    const char *profile;   /* credentials profile, NULL: AWS_PROFILE or "default" (aws/creds.h) */
    int max_attempts;      /* 0: 10 */
    int64_t base_delay_ms; /* 0: 50 */
    int64_t max_delay_ms;  /* 0: 20000 */
    int64_t timeout_ms;    /* whole request, 0: 120000; a file body: no progress this long */
    int64_t connect_timeout_ms; /* 0: 10000 */
    const fp_stop *stop;        /* ends retry waits early; may be NULL; must outlive the client */
} fp_aws_opts;

typedef struct fp_aws_client fp_aws_client;

/* Counters, readable from any thread. */
typedef struct fp_aws_stats {
    _Atomic uint64_t requests; /* attempts sent */
    _Atomic uint64_t retries;  /* attempts that were retries */
    _Atomic uint64_t throttled;
} fp_aws_stats;

/* The region, in the AWS CLI's order: explicit_region when non-empty, else AWS_REGION, else
 * AWS_DEFAULT_REGION. NULL when none is set: the caller turns that into FP_ERR_CONFIG naming
 * its own setting (--region, aws.dynamodb.region, s3.region). The result points into
 * explicit_region or the environment; any thread, as long as nobody calls setenv(). */
const char *fp_aws_region(const char *explicit_region);

/* Loads credentials (FP_ERR_CONFIG naming where it looked) and checks the endpoint URL. The
 * options' strings are copied. */
fp_code fp_aws_client_new(const fp_aws_opts *o, fp_aws_client **out, fp_err *err);
void fp_aws_client_free(fp_aws_client *c);
const fp_aws_stats *fp_aws_client_stats(const fp_aws_client *c);
/* "host[:port]" of the endpoint, as sent in the Host header. */
const char *fp_aws_client_host(const fp_aws_client *c);

typedef struct fp_aws_req {
    const char *method;             /* "GET", "PUT", "POST", "HEAD", "DELETE" */
    const char *op;                 /* name for messages: "PutObject", "BatchWriteItem" */
    const char *path;               /* percent-encoded, from '/' */
    const char *query;              /* raw query without '?', or NULL */
    const fp_sigv4_header *headers; /* extra headers (Content-Type, X-Amz-Target, Content-MD5) */
    size_t nheaders;
    /* Body: either bytes in memory, or [body_off, body_off + body_len) of body_fd (read with
     * pread, so a retry re-reads it). */
    const void *body;
    int body_fd; /* -1 when body (or none) */
    off_t body_off;
    size_t body_len;
    /* SHA-256 hex of the body when the caller has it (else computed); S3 signs it. */
    const char *body_sha256;
    /* Streams a 2xx response body instead of buffering it in resp->body. A failure after
     * bytes were delivered is not retried (FP_ERR_IO). */
    fp_code (*on_data)(const void *data, size_t n, void *arg, fp_err *err);
    void *on_data_arg;
} fp_aws_req;

typedef struct fp_aws_resp {
    long status;            /* last HTTP status, 0 when no answer */
    fp_buf body;            /* body of the last answer (error bodies always) */
    char code[96];          /* error code parsed from the body ("ValidationException") */
    char etag[128];         /* ETag header, quotes kept */
    char request_id[96];    /* x-amz-request-id / x-amzn-RequestId */
    int64_t content_length; /* Content-Length of the last answer, -1 when absent */
} fp_aws_resp;

/* Sends r, retrying as above. FP_OK: a 2xx answer. FP_ERR_NOTFOUND: 404. FP_ERR_IO: network
 * or retryable errors and the attempts ran out (worth retrying later). FP_ERR_INVALID: any
 * other answer (bad request, auth): final. FP_ERR_CONFIG: no answer and none will come (TLS
 * certificate that does not verify, bad URL). err names op, status, code and the server's message.
 * resp (reset first) holds the last answer; free it with fp_aws_resp_free(). */
fp_code fp_aws_call(fp_aws_client *c, const fp_aws_req *r, fp_aws_resp *resp, fp_err *err);
void fp_aws_resp_free(fp_aws_resp *resp);

/* True for error codes that mean "slow down" (throttling) in S3 or DynamoDB. */
int fp_aws_code_is_throttle(const char *code);
/* The stop token the client was made with (may be NULL). */
const fp_stop *fp_aws_client_stop(const fp_aws_client *c);

/* Percent-encodes s (n bytes) with the unreserved set; '/' kept when keep_slash (S3 keys). */
void fp_aws_uri_encode(fp_buf *out, const char *s, size_t n, int keep_slash);

#endif
