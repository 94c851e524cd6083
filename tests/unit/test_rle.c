/* test_rle.c — Parquet's RLE/bit-packing hybrid: hand-written vectors from Encodings.md in
 * tests/data/rle/cases.txt (exact bytes both ways, the two framings, malformed input with the
 * byte offset), round trips of random runs at every bit width 0..32 (fixed seed), every
 * truncation of encoded data, and a fuzz loop of random and mutated bytes. Inputs under test
 * are exactly-sized heap copies so that the ASan build catches any over-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hexdata.h"

#include "parquet/rle.h"

static const char *data_dir;

/* "1,0*9,0..7,(0,1)*4" -> values; returns the count. */
static size_t parse_values(const char *s, uint32_t *out, size_t cap)
{
    size_t n = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    while (*s) {
        uint32_t group[16];
        size_t gn = 0;
        char *end;
        if (*s == '(') {
            s++;
            while (*s != ')') {
                group[gn++] = (uint32_t)strtoul(s, &end, 10);
                s = *end == ',' ? end + 1 : end;
            }
            s++;
        } else {
            group[gn++] = (uint32_t)strtoul(s, &end, 10);
            s = end;
            if (s[0] == '.' && s[1] == '.') {
                uint32_t hi = (uint32_t)strtoul(s + 2, &end, 10);
                s = end;
                for (uint32_t v = group[0] + 1; v <= hi; v++)
                    group[gn++] = v;
            }
        }
        unsigned long rep = 1;
        if (*s == '*') {
            rep = strtoul(s + 1, &end, 10);
            s = end;
        }
        for (unsigned long r = 0; r < rep; r++)
            for (size_t i = 0; i < gn; i++) {
                assert_true(n < cap);
                out[n++] = group[i];
            }
        if (*s == ',')
            s++;
    }
    return n;
}

enum form { PLAIN, LEN, DICT };

static fp_code encode(enum form f, fp_buf *out, const uint32_t *v, size_t n, unsigned w,
                      fp_err *err)
{
    if (f == LEN)
        return fp_pq_rle_encode_len_prefixed(out, v, n, w, err);
    if (f == DICT)
        return fp_pq_rle_encode_dict_indices(out, v, n, w, err);
    return fp_pq_rle_encode(out, v, n, w, err);
}

static fp_code decode(enum form f, const uint8_t *p, size_t len, unsigned w, uint32_t *out,
                      size_t n, size_t *used, fp_err *err)
{
    if (f == LEN)
        return fp_pq_rle_decode_len_prefixed(p, len, w, out, n, used, err);
    if (f == DICT) {
        unsigned got_w = 99;
        fp_code rc = fp_pq_rle_decode_dict_indices(p, len, out, n, &got_w, used, err);
        if (!rc)
            assert_int_equal(got_w, w);
        return rc;
    }
    return fp_pq_rle_decode(p, len, w, out, n, used, err);
}

/* Decoding every strict prefix of a valid encoding fails cleanly, naming a byte. */
static void check_prefixes(const char *what, enum form f, const uint8_t *p, size_t len, unsigned w,
                           size_t n)
{
    uint32_t *out = calloc(n ? n : 1, sizeof *out);
    for (size_t k = 0; k < len; k++) {
        uint8_t *q = dup_exact(p, k);
        fp_err err = {0};
        size_t used;
        fp_code rc = decode(f, q, k, w, out, n, &used, &err);
        if (rc != FP_ERR_INVALID || !strstr(err.msg, "byte "))
            fail_msg("%s: prefix %zu of %zu: rc %d \"%s\"", what, k, len, rc, err.msg);
        free(q);
    }
    free(out);
}

static void test_cases(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/rle/cases.txt", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    static uint32_t vals[4096], got[4096];
    static uint8_t want[8192];
    int n_ok = 0, n_bad = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        char *arrow = strstr(line, " => ");
        assert_non_null(arrow);
        *arrow = 0;
        const char *rhs = arrow + 4;
        char kind[16], a[64], b[4096];
        int fields = sscanf(line, "%15s %63s %4095s", kind, a, b);
        assert_true(fields >= 2);
        unsigned w = (unsigned)atoi(a);
        if (strncmp(kind, "bad", 3) == 0) {
            /* bad W N HEX: HEX is the rest of the line after N. */
            char *rest = line;
            for (int k = 0; k < 3; k++) {
                rest += strspn(rest, " ");
                rest += strcspn(rest, " ");
            }
            size_t n = (size_t)atoi(b);
            size_t hn = parse_hex(rest, want, sizeof want);
            enum form fm = strcmp(kind, "badlen") == 0    ? LEN
                           : strcmp(kind, "baddict") == 0 ? DICT
                                                          : PLAIN;
            uint8_t *q = dup_exact(want, hn);
            fp_err err = {0};
            size_t used;
            fp_code rc = fm == DICT
                             ? fp_pq_rle_decode_dict_indices(q, hn, got, n, NULL, &used, &err)
                             : decode(fm, q, hn, w, got, n, &used, &err);
            if (rc != FP_ERR_INVALID || !strstr(err.msg, rhs))
                fail_msg("%s: rc %d \"%s\", want \"%s\"", line, rc, err.msg, rhs);
            free(q);
            n_bad++;
            continue;
        }
        enum form fm = strcmp(kind, "len") == 0 ? LEN : strcmp(kind, "dict") == 0 ? DICT : PLAIN;
        size_t n = parse_values(b, vals, 4096);
        size_t hn = parse_hex(rhs, want, sizeof want);
        fp_buf out = FP_BUF_INIT;
        fp_err err = {0};
        if (encode(fm, &out, vals, n, w, &err))
            fail_msg("%s: %s", line, err.msg);
        if (out.len != hn || (hn && memcmp(out.p, want, hn) != 0)) {
            fp_buf s = FP_BUF_INIT;
            for (size_t i = 0; i < out.len; i++)
                fp_buf_printf(&s, "%02x ", (uint8_t)out.p[i]);
            fail_msg("%s\n got %s\nwant %s", line, s.p ? s.p : "-", rhs);
        }
        fp_buf_free(&out);
        uint8_t *q = dup_exact(want, hn);
        size_t used = 12345;
        memset(got, 0xee, sizeof got);
        if (decode(fm, q, hn, w, got, n, &used, &err))
            fail_msg("%s: decode: %s", line, err.msg);
        assert_memory_equal(got, vals, n * sizeof *vals);
        assert_int_equal(used, hn);
        free(q);
        check_prefixes(line, fm, want, hn, w, n);
        n_ok++;
    }
    fclose(f);
    assert_true(n_ok >= 40);
    assert_true(n_bad >= 15);
}

static void test_bit_width(void **state)
{
    (void)state;
    assert_int_equal(fp_pq_rle_bit_width(0), 0);
    assert_int_equal(fp_pq_rle_bit_width(1), 1);
    assert_int_equal(fp_pq_rle_bit_width(2), 2);
    assert_int_equal(fp_pq_rle_bit_width(3), 2);
    assert_int_equal(fp_pq_rle_bit_width(4), 3);
    assert_int_equal(fp_pq_rle_bit_width(255), 8);
    assert_int_equal(fp_pq_rle_bit_width(256), 9);
    assert_int_equal(fp_pq_rle_bit_width(UINT32_MAX), 32);
}

static void test_encode_errors(void **state)
{
    (void)state;
    fp_buf out = FP_BUF_INIT;
    fp_err err = {0};
    uint32_t v[] = {0, 1, 4};
    assert_int_equal(fp_pq_rle_encode(&out, v, 3, 2, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "value 4 at index 2 does not fit in 2 bits"));
    assert_int_equal(fp_pq_rle_encode(&out, v, 3, 33, &err), FP_ERR_INVALID);
    assert_int_equal(fp_pq_rle_encode_dict_indices(&out, v, 3, 40, &err), FP_ERR_INVALID);
    assert_int_equal(fp_pq_rle_encode(&out, v, 2, 0, &err), FP_ERR_INVALID);
    fp_buf_free(&out);
}

static uint32_t rand32(void)
{
    return (uint32_t)rand() << 16 ^ (uint32_t)rand();
}

/* Random data with runs of random length, so both run kinds and every boundary case occur. */
static void fill(uint32_t *v, size_t n, unsigned w)
{
    uint32_t mask = w == 32 ? UINT32_MAX : (w == 0 ? 0 : (1u << w) - 1);
    size_t i = 0;
    while (i < n) {
        uint32_t x = rand32() & mask;
        size_t run = rand() % 3 == 0 ? (size_t)(rand() % 40) + 1 : 1;
        for (size_t k = 0; k < run && i < n; k++)
            v[i++] = x;
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    srand(42);
    static const size_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4099};
    uint32_t *v = malloc(5000 * sizeof *v), *got = malloc(5000 * sizeof *got);
    int checked = 0;
    for (unsigned w = 0; w <= 32; w++) {
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            for (enum form fm = PLAIN; fm <= DICT; fm++) {
                for (int rep = 0; rep < 3; rep++) {
                    size_t n = lens[li];
                    fill(v, n, w);
                    fp_buf out = FP_BUF_INIT;
                    fp_err err = {0};
                    if (encode(fm, &out, v, n, w, &err))
                        fail_msg("w %u n %zu: %s", w, n, err.msg);
                    uint8_t *q = dup_exact(out.p, out.len);
                    size_t used = 0;
                    if (decode(fm, q, out.len, w, got, n, &used, &err))
                        fail_msg("w %u n %zu form %d: %s", w, n, fm, err.msg);
                    assert_memory_equal(got, v, n * sizeof *v);
                    assert_int_equal(used, out.len);
                    /* Never larger than bit-packing everything plus a header per 8 values. */
                    assert_true(out.len <= 5 + (n + 7) / 8 * (w + 5));
                    if (n <= 64)
                        check_prefixes("round trip", fm, q, out.len, w, n);
                    free(q);
                    fp_buf_free(&out);
                    checked++;
                }
            }
        }
    }
    assert_int_equal(checked, 33 * 13 * 3 * 3);
    free(v);
    free(got);
}

static void test_fuzz(void **state)
{
    (void)state;
    srand(7);
    uint8_t buf[128];
    uint32_t *out = malloc(4096 * sizeof *out);
    for (int it = 0; it < 200000; it++) {
        size_t n = (size_t)(rand() % 48);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(rand() % 2 ? rand() % 8 : rand());
        unsigned w = (unsigned)(rand() % 34);
        size_t want = (size_t)(rand() % 4096);
        uint8_t *q = dup_exact(buf, n);
        fp_err err = {0};
        size_t used = 0;
        enum form fm = (enum form)(rand() % 3);
        fp_code rc = decode(fm == DICT ? PLAIN : fm, q, n, w, out, want, &used, &err);
        assert_true(rc == FP_OK || rc == FP_ERR_INVALID);
        if (rc == FP_OK)
            assert_true(used <= n);
        rc = fp_pq_rle_decode_dict_indices(q, n, out, want, NULL, &used, &err);
        assert_true(rc == FP_OK || rc == FP_ERR_INVALID);
        free(q);
    }
    /* Mutations of a valid stream that has both run kinds. */
    uint32_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i < 40 ? 3 : (uint32_t)(i * 7) % 13;
    fp_buf enc = FP_BUF_INIT;
    assert_int_equal(fp_pq_rle_encode_len_prefixed(&enc, v, 100, 4, NULL), FP_OK);
    for (int it = 0; it < 100000; it++) {
        memcpy(buf, enc.p, enc.len);
        for (int k = 0; k < 1 + rand() % 3; k++)
            buf[rand() % enc.len] = (uint8_t)rand();
        size_t n = rand() % 4 == 0 ? (size_t)rand() % (enc.len + 1) : enc.len;
        uint8_t *q = dup_exact(buf, n);
        fp_err err = {0};
        size_t used = 0;
        fp_code rc = fp_pq_rle_decode_len_prefixed(q, n, 4, out, 100, &used, &err);
        assert_true(rc == FP_OK || rc == FP_ERR_INVALID);
        if (rc == FP_OK)
            assert_true(used <= n);
        free(q);
    }
    fp_buf_free(&enc);
    free(out);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),         cmocka_unit_test(test_bit_width),
        cmocka_unit_test(test_encode_errors), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
