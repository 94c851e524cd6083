/* mem.c — aborting allocators and fp_buf. */
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "fleetpipe: out of memory allocating %zu bytes\n", n);
    abort();
}

void *fp_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *fp_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *fp_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *fp_xstrndup(const char *s, size_t n)
{
    char *d = fp_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *fp_xstrdup(const char *s)
{
    return fp_xstrndup(s, strlen(s));
}

void fp_buf_reserve(fp_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->p = fp_xrealloc(b->p, cap);
    b->cap = cap;
}

void fp_buf_append(fp_buf *b, const void *data, size_t n)
{
    fp_buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void fp_buf_puts(fp_buf *b, const char *s)
{
    fp_buf_append(b, s, strlen(s));
}

void fp_buf_putc(fp_buf *b, char c)
{
    fp_buf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

void fp_buf_vprintf(fp_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    fp_buf_reserve(b, (size_t)n);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void fp_buf_printf(fp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fp_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void fp_buf_reset(fp_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void fp_buf_free(fp_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *fp_buf_steal(fp_buf *b)
{
    char *p = b->p ? b->p : fp_xstrdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void fp_buf_put_double(fp_buf *b, double v)
{
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (prec == 17 || strtod(s, NULL) == v)
            break;
    }
    fp_buf_puts(b, s);
}
