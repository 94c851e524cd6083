/* sigv4.h — AWS Signature Version 4 for the Authorization header, written from the AWS docs.
 *
 * fp_sigv4_sign() turns one request (method, path, query, headers, payload hash) into the
 * Authorization header value; it never sends anything and never adds headers itself: the caller
 * sends exactly the headers it passed (Host and X-Amz-Date among them), plus Authorization.
 * With temporary credentials the caller must also pass X-Amz-Security-Token (the session token)
 * as a header so that it is signed; fp_sigv4_sign() refuses to sign without it.
 * Secrets (secret key, session token) never appear in error messages. Pure function, any thread.
 */
#ifndef FP_AWS_SIGV4_H
#define FP_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

typedef struct fp_aws_creds {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL for long-term keys */
} fp_aws_creds;

typedef struct fp_sigv4_header {
    const char *name, *value;
} fp_sigv4_header;

typedef struct fp_sigv4_request {
    const char *method; /* "GET", "PUT", ... */
    /* The path as in the request line. Not S3: normalised (".", ".." and empty segments
     * removed) and every byte outside A-Z a-z 0-9 - _ . ~ of each segment percent-encoded once
     * more, so a path sent percent-encoded ends up encoded twice, as AWS specifies. S3: used
     * exactly as given (it must already be the percent-encoded form that is sent). */
    const char *path;
    /* Raw query string without '?', may be NULL or "". Each name and value is percent-decoded
     * and re-encoded with the unreserved set, so already-encoded queries are not double-encoded;
     * '+' is a literal plus. */
    const char *query;
    /* Every one is signed, so pass exactly the headers that are sent (Host is required). Values
     * with control bytes other than tab (CR, LF, ...) are refused. */
    const fp_sigv4_header *headers;
    size_t nheaders;
    const char *payload_sha256_hex; /* 64 lower-case hex digits, or "UNSIGNED-PAYLOAD" */
} fp_sigv4_request;

/* Signs r for region/service at amz_date ("20150830T123600Z", the X-Amz-Date header's value).
 * s3 selects S3's canonical URI rules (no normalisation, no second encoding). Appends the
 * Authorization header value to *authorization and, when canonical_request is non-NULL, the
 * canonical request to it. Errors are FP_ERR_INVALID and name the offending input (never a
 * secret); the output buffers may then hold partial data. */
fp_code fp_sigv4_sign(const fp_sigv4_request *r, const fp_aws_creds *c, const char *region,
                      const char *service, const char *amz_date, bool s3, fp_buf *authorization,
                      fp_buf *canonical_request, fp_err *err);

/* Lower-case hex SHA-256 of [p, p+n), NUL-terminated. */
void fp_sigv4_sha256_hex(const void *p, size_t n, char out[65]);

/* "YYYYMMDDTHHMMSSZ" (UTC) of an epoch-ms instant, NUL-terminated; FP_ERR_INVALID outside the
 * years 0000..9999 (out is then ""). */
fp_code fp_sigv4_amz_date(int64_t epoch_ms, char out[17]);

#endif
