/* err.c — fp_err formatting. Messages are truncated, never overflowed. */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

fp_code fp_err_set(fp_err *err, fp_code code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

fp_code fp_err_prefix(fp_err *err, const char *fmt, ...)
{
    if (!err)
        return FP_OK;
    char ctx[FP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    if (n < 0)
        return err->code;
    /* Shift the old message right and put "ctx: " in front; truncate at the end. */
    size_t clen = strlen(ctx), olen = strlen(err->msg);
    if (clen + 2 >= sizeof err->msg)
        clen = sizeof err->msg - 3;
    if (clen + 2 + olen >= sizeof err->msg)
        olen = sizeof err->msg - 1 - clen - 2;
    memmove(err->msg + clen + 2, err->msg, olen);
    memcpy(err->msg, ctx, clen);
    err->msg[clen] = ':';
    err->msg[clen + 1] = ' ';
    err->msg[clen + 2 + olen] = '\0';
    return err->code;
}

void fp_err_clear(fp_err *err)
{
    if (!err)
        return;
    err->code = FP_OK;
    err->msg[0] = '\0';
}

const char *fp_code_name(fp_code code)
{
    switch (code) {
    case FP_OK:
        return "ok";
    case FP_ERR_INVALID:
        return "invalid";
    case FP_ERR_CONFIG:
        return "config";
    case FP_ERR_IO:
        return "io";
    case FP_ERR_LIMIT:
        return "limit";
    case FP_ERR_NOTFOUND:
        return "not_found";
    case FP_ERR_KAFKA:
        return "kafka";
    case FP_ERR_INTERNAL:
        return "internal";
    case FP_ERR_EXISTS:
        return "exists";
    }
    return "unknown";
}
