/* err.h — the one error type of fleetpipe.
 *
 * Every function that can fail returns an fp_code and, when given a non-NULL fp_err, fills it
 * with a message that names what failed and where ("template field ${id}: missing in record at
 * fms.vehicle/3@1812"). Callers add context with fp_err_prefix() on the way up. FP_OK is 0, so
 * `if (rc) return rc;` is the idiom. Out of memory is not an fp_code: fp_xmalloc() aborts (see
 * mem.h), because every buffer in fleetpipe has a budget and OOM means a bug, not input.
 */
#ifndef FP_ERR_H
#define FP_ERR_H

#include <stdarg.h>

typedef enum fp_code {
    FP_OK = 0,
    FP_ERR_INVALID,  /* bad input data: malformed JSON, missing field; goes to dead letters */
    FP_ERR_CONFIG,   /* bad configuration or command line; fatal at start-up */
    FP_ERR_IO,       /* file system or network error; usually retried */
    FP_ERR_LIMIT,    /* a size or depth limit was exceeded; treated like FP_ERR_INVALID */
    FP_ERR_NOTFOUND, /* a named thing does not exist */
    FP_ERR_KAFKA,    /* librdkafka reported an error */
    FP_ERR_INTERNAL, /* a broken invariant */
    FP_ERR_EXISTS,   /* a named thing already exists (REST: 409) */
} fp_code;

#define FP_ERR_MSG_MAX 1024

typedef struct fp_err {
    fp_code code;
    char msg[FP_ERR_MSG_MAX];
} fp_err;

/* Sets err (if non-NULL) and returns code, so `return fp_err_set(err, ...)` reads naturally. */
fp_code fp_err_set(fp_err *err, fp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to err->msg; returns err->code (FP_OK when err is NULL). */
fp_code fp_err_prefix(fp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void fp_err_clear(fp_err *err);

/* Short stable name of a code, used in dead-letter headers as error.class. */
const char *fp_code_name(fp_code code);

#endif
