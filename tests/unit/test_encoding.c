/* test_encoding.c — parquet/encoding: DELTA_BINARY_PACKED and BYTE_STREAM_SPLIT round trips on
 * the sequences that stress them (empty, one value, block and miniblock edges, wrap-around at
 * INT64_MIN/MAX, 64-bit widths, random), the size function against the encoder, and refusal of
 * hostile input. DuckDB-written pages of both encodings are read in test_parquet.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parquet/encoding.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void round_trip(const uint64_t *v, size_t n)
{
    fp_buf b = FP_BUF_INIT;
    fp_pq_delta_encode(&b, v, NULL, n);
    assert_int_equal(b.len, fp_pq_delta_size(v, n));
    uint64_t *out = calloc(n + 1, sizeof *out);
    size_t used = 0;
    fp_err err = {0};
    if (fp_pq_delta_decode((const uint8_t *)b.p, b.len, out, n, &used, &err))
        fail_msg("n=%zu: %s", n, err.msg);
    assert_int_equal(used, b.len);
    assert_memory_equal(out, v, n * sizeof *v);
    /* every truncation is refused, never read past */
    for (size_t cut = 0; cut < b.len && n; cut += 1 + b.len / 64)
        assert_int_equal(fp_pq_delta_decode((const uint8_t *)b.p, cut, out, n, NULL, &err),
                         FP_ERR_INVALID);
    fp_buf_reset(&b);
    fp_pq_bss_encode(&b, v, NULL, n);
    assert_int_equal(b.len, 8 * n);
    memset(out, 0, n * sizeof *out);
    assert_int_equal(fp_pq_bss_decode((const uint8_t *)b.p, b.len, out, n, &err), FP_OK);
    assert_memory_equal(out, v, n * sizeof *v);
    free(out);
    fp_buf_free(&b);
}

static void test_delta_shapes(void **state)
{
    (void)state;
    enum { N = 1000 };
    static uint64_t v[N];
    round_trip(v, 0);
    v[0] = (uint64_t)-5;
    round_trip(v, 1);
    size_t sizes[] = {2, 31, 32, 33, 127, 128, 129, 130, 256, 257, 999};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        for (size_t i = 0; i < sizes[s]; i++) /* timestamps one second apart */
            v[i] = (uint64_t)(1700000000000LL + 1000LL * (int64_t)i);
        round_trip(v, sizes[s]);
        for (size_t i = 0; i < sizes[s]; i++) /* random: 64-bit deltas */
            v[i] = next();
        round_trip(v, sizes[s]);
        for (size_t i = 0; i < sizes[s]; i++) /* alternating extremes: wrap-around */
            v[i] = i % 2 ? (uint64_t)INT64_MAX : (uint64_t)INT64_MIN;
        round_trip(v, sizes[s]);
        for (size_t i = 0; i < sizes[s]; i++) /* decreasing, small jitter */
            v[i] = (uint64_t)(1000000 - 7 * (int64_t)i + (int64_t)(next() % 3));
        round_trip(v, sizes[s]);
    }
}

static void test_delta_is_small_for_steady_series(void **state)
{
    (void)state;
    enum { N = 4096 };
    static uint64_t v[N];
    for (size_t i = 0; i < N; i++)
        v[i] = (uint64_t)(1700000000000LL + 1000LL * (int64_t)i);
    /* constant delta: bit width 0, a few bytes per 128-value block */
    assert_true(fp_pq_delta_size(v, N) < N / 16);
}

static void test_hostile(void **state)
{
    (void)state;
    uint64_t out[4];
    fp_err err = {0};
    /* block size 0, not a multiple of 128, miniblocks that do not divide it */
    const uint8_t zero_block[] = {0, 4, 1, 0};
    assert_int_equal(fp_pq_delta_decode(zero_block, sizeof zero_block, out, 1, NULL, &err),
                     FP_ERR_INVALID);
    const uint8_t odd_block[] = {100, 4, 1, 0};
    assert_int_equal(fp_pq_delta_decode(odd_block, sizeof odd_block, out, 1, NULL, &err),
                     FP_ERR_INVALID);
    /* a count that disagrees with the page */
    const uint8_t count[] = {0x80, 1, 4, 3, 0};
    assert_int_equal(fp_pq_delta_decode(count, sizeof count, out, 2, NULL, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "3 values, page has 2"));
    /* a bit width over 64 */
    const uint8_t wide[] = {0x80, 1, 4, 2, 0, 0, 65, 0, 0, 0};
    assert_int_equal(fp_pq_delta_decode(wide, sizeof wide, out, 2, NULL, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "bit width 65"));
    /* an endless varint */
    const uint8_t endless[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(fp_pq_delta_decode(endless, sizeof endless, out, 1, NULL, &err),
                     FP_ERR_INVALID);
    /* BYTE_STREAM_SPLIT needs exactly 8 bytes a value */
    const uint8_t seven[7] = {0};
    assert_int_equal(fp_pq_bss_decode(seven, 7, out, 1, &err), FP_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_shapes),
        cmocka_unit_test(test_delta_is_small_for_steady_series),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
