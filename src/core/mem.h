/* mem.h — allocation that never returns NULL, and a growable byte buffer.
 *
 * fp_xmalloc() and friends abort with a message on out-of-memory: every queue and buffer in
 * fleetpipe has a budget, so running out means a bug, and a clean abort beats a half-written
 * object. fp_buf is the one way to build strings and byte sequences (no sprintf/strcpy); the
 * buffer owns its bytes, fp_buf_free() releases them, and len never counts the NUL that the
 * buffer always keeps after the data so that fp_buf.p can be used as a C string.
 */
#ifndef FP_MEM_H
#define FP_MEM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *fp_xmalloc(size_t n);
void *fp_xcalloc(size_t n, size_t size);
void *fp_xrealloc(void *p, size_t n);
char *fp_xstrdup(const char *s);
char *fp_xstrndup(const char *s, size_t n);

typedef struct fp_buf {
    char *p;
    size_t len;
    size_t cap;
} fp_buf;

#define FP_BUF_INIT                                                                                \
    {                                                                                              \
        0                                                                                          \
    }

void fp_buf_reserve(fp_buf *b, size_t extra); /* ensure room for len + extra + NUL */
void fp_buf_append(fp_buf *b, const void *data, size_t n);
void fp_buf_puts(fp_buf *b, const char *s);
void fp_buf_putc(fp_buf *b, char c);
void fp_buf_printf(fp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fp_buf_vprintf(fp_buf *b, const char *fmt, va_list ap);
/* Appends v in decimal, as "%llu" would, without printf. */
void fp_buf_put_u64(fp_buf *b, uint64_t v);
/* Appends a finite double with the fewest digits (%.15g, %.16g or %.17g) that read back as the
 * same double; the caller decides what NaN and infinities become. */
void fp_buf_put_double(fp_buf *b, double v);
void fp_buf_reset(fp_buf *b); /* len = 0, keeps the memory */
void fp_buf_free(fp_buf *b);
/* Hands the bytes to the caller (who frees them with free()) and resets the buffer. */
char *fp_buf_steal(fp_buf *b);

#endif
