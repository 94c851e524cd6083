/* hexdata.h — helpers shared by the unit tests of byte-exact encoders (test_rle, test_thrift):
 * hex vectors from tests/data and exactly-sized copies for ASan. Include after <cmocka.h>. */
#ifndef FP_TEST_HEXDATA_H
#define FP_TEST_HEXDATA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "15 0a", "00*16", "-" -> bytes (a '-' ends the list); returns the count. */
static inline size_t parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s || *s == '-')
            break;
        unsigned v;
        int used = 0;
        if (sscanf(s, "%2x%n", &v, &used) != 1)
            fail_msg("bad hex at \"%s\"", s);
        s += used;
        unsigned rep = 1;
        if (*s == '*')
            rep = (unsigned)strtoul(s + 1, (char **)&s, 10);
        for (unsigned i = 0; i < rep; i++) {
            assert_true(n < cap);
            out[n++] = (uint8_t)v;
        }
    }
    return n;
}

/* An exactly-sized heap copy, so reading p[n] is an ASan error. The caller frees it. */
static inline uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    assert_non_null(q);
    if (n)
        memcpy(q, p, n);
    return q;
}

#endif
