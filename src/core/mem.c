/* mem.c — aborting allocators and fp_buf. */
#include "core/mem.h"

#include <stdint.h>
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

void fp_buf_put_u64(fp_buf *b, uint64_t v)
{
    char t[20];
    size_t n = 0;
    do {
        t[sizeof t - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    fp_buf_append(b, t + sizeof t - n, n);
}

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The shortest of %.15g, %.16g, %.17g that reads back as v. The common case without printf:
 * when some i / 10^k with i < 10^15 is exactly v (i and 10^k are exact doubles, one division),
 * that decimal is the only one of at most 15 digits that reads back as v, so it is what %.15g
 * prints (trailing zeros dropped) for 1e-4 <= |v| < 1e15, the range where %g does not switch to
 * an exponent. The smallest k finds it; when none does, no 15-digit form reads back, and the
 * printf loop starts at 16. */
void fp_buf_put_double(fp_buf *b, double v)
{
    char s[40];
    int prec = 15;
    double a = v < 0 ? -v : v;
    if (a >= 1e-4 && a < 1e15) {
        for (int k = 0; k <= 19; k++) {
            double m = a * pow10_tab[k];
            if (m >= 1e15)
                break;
            double i = (double)(uint64_t)(m + 0.5);
            if (i >= 1e15 || i / pow10_tab[k] != a)
                continue;
            char dig[24], rev[24];
            int n = 0;
            for (uint64_t u = (uint64_t)i; u; u /= 10)
                rev[n++] = (char)('0' + u % 10);
            for (int j = 0; j < n; j++)
                dig[j] = rev[n - 1 - j];
            char *o = s;
            if (v < 0)
                *o++ = '-';
            if (n > k) {
                memcpy(o, dig, (size_t)(n - k));
                o += n - k;
            } else {
                *o++ = '0';
            }
            if (k) {
                *o++ = '.';
                for (int z = n; z < k; z++)
                    *o++ = '0';
                memcpy(o, dig + (n > k ? n - k : 0), (size_t)(n > k ? k : n));
                o += n > k ? k : n;
            }
            *o = '\0';
            fp_buf_puts(b, s);
            return;
        }
        prec = 16;
    }
    for (; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (prec == 17 || strtod(s, NULL) == v)
            break;
    }
    fp_buf_puts(b, s);
}
