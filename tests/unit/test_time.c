/* test_time.c — strict ISO-8601 parsing and UTC formatting, checked against known instants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/time.h"

static int64_t parse(const char *s)
{
    int64_t ms = 0;
    fp_err err;
    fp_code rc = fp_time_parse_iso(s, strlen(s), &ms, &err);
    if (rc)
        print_error("%s: %s\n", s, err.msg);
    assert_int_equal(rc, FP_OK);
    return ms;
}

static void test_parse(void **state)
{
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2023-01-01T12:00:00+09:00"), 1672542000000);
    assert_int_equal(parse("2023-01-01T03:00:00Z"), 1672542000000);
    assert_int_equal(parse("2023-01-01T03:00:00.000z"), 1672542000000);
    assert_int_equal(parse("2022-12-31T21:30:00.5-05:30"), 1672542000500);
    assert_int_equal(parse("2023-01-01t03:00:00+0000"), 1672542000000);
    assert_int_equal(parse("2023-01-01 03:00:00.1239999Z"), 1672542000123);
    assert_int_equal(parse("1969-12-31T23:59:59.999Z"), -1);
    assert_int_equal(parse("1900-03-01T00:00:00Z"), -2203891200000);
    assert_int_equal(parse("2000-02-29T00:00:00Z"), 951782400000);
    assert_int_equal(parse("2024-02-29T23:59:59+14:00"), 1709200799000);
    assert_int_equal(parse("0001-01-01T00:00:00Z"), -62135596800000);
    assert_int_equal(parse("9999-12-31T23:59:59.999Z"), 253402300799999);
}

static void test_reject(void **state)
{
    static const char *const bad[][2] = {
        {"2023-02-29T00:00:00Z", "day does not exist"},
        {"1900-02-29T00:00:00Z", "day does not exist"},
        {"2023-04-31T00:00:00Z", "day does not exist"},
        {"2023-13-01T00:00:00Z", "month out of range"},
        {"2023-00-01T00:00:00Z", "month out of range"},
        {"2023-01-01T24:00:00Z", "time of day out of range"},
        {"2023-01-01T23:60:00Z", "time of day out of range"},
        {"2023-01-01T23:59:60Z", "time of day out of range"},
        {"2023-01-01T12:00:00", "missing UTC offset"},
        {"2023-01-01T12:00:00+9:00", "bad UTC offset"},
        {"2023-01-01T12:00:00+24:00", "UTC offset out of range"},
        {"2023-01-01T12:00:00.Z", "expected digits after '.'"},
        {"2023-01-01T12:00:00Z ", "trailing characters"},
        {"2023-01-01", "expected 'T'"},
        {"2023-1-01T00:00:00Z", "expected YYYY-MM-DD"},
        {"", "expected YYYY-MM-DD"},
        {"2023-01-01T12:00Z", "expected HH:MM:SS"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms;
        fp_err err;
        fp_code rc = fp_time_parse_iso(bad[i][0], strlen(bad[i][0]), &ms, &err);
        if (rc != FP_ERR_INVALID || !strstr(err.msg, bad[i][1]))
            print_error("'%s': got %d '%s'\n", bad[i][0], rc, err.msg);
        assert_int_equal(rc, FP_ERR_INVALID);
        assert_non_null(strstr(err.msg, bad[i][1]));
    }
}

static void test_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *s;
    } f[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {1672542000123, "2023-01-01T03:00:00.123Z"},
        {951782400000, "2000-02-29T00:00:00.000Z"},
        {-62135596800000, "0001-01-01T00:00:00.000Z"},
        {253402300799999, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        fp_buf b = FP_BUF_INIT;
        fp_time_format_iso(f[i].ms, &b);
        assert_string_equal(b.p, f[i].s);
        assert_int_equal(parse(b.p), f[i].ms);
        fp_buf_free(&b);
    }
    /* every day for 1000 years round-trips through civil fields */
    for (int64_t d = -200000; d < 200000; d += 7) {
        int64_t ms = d * 86400000 + 12345;
        fp_buf b = FP_BUF_INIT;
        fp_time_format_iso(ms, &b);
        assert_int_equal(parse(b.p), ms);
        fp_buf_free(&b);
    }
    int y, mo, d, h, mi, s;
    fp_time_utc(1672542000123, &y, &mo, &d, &h, &mi, &s);
    assert_int_equal(y * 10000 + mo * 100 + d, 20230101);
    assert_int_equal(h * 10000 + mi * 100 + s, 30000);
    assert_true(fp_time_now_ms() > 1600000000000);
    assert_true(fp_time_mono_ms() >= 0);
}

/* The cached parse answers exactly as the plain one, over runs that share all but the seconds,
 * that differ elsewhere (minute, fraction, offset, length), and bad strings in between. */
static void test_cached(void **state)
{
    (void)state;
    static const char *const s[] = {
        "2026-01-05T00:04:00Z",      "2026-01-05T00:04:05Z",
        "2026-01-05T00:04:59Z",      "2026-01-05T00:04:60Z",
        "2026-01-05T00:04:7aZ",      "2026-01-05T00:04:10Z",
        "2026-01-05T00:05:10Z",      "2026-01-05T00:05:10.250Z",
        "2026-01-05T00:05:11.250Z",  "2026-01-05T09:05:11+09:00",
        "2026-01-05T09:05:12+09:00", "2026-01-05T09:05:12-09:00",
        "2026-01-05T09:05:1",        "2026-01-05T09:05:13-09:00",
        "1969-12-31T23:59:58.999Z",  "1969-12-31T23:59:59.999Z",
        "2026-02-30T00:00:01Z",      "2026-02-28T00:00:01Z",
        "2026-02-28T00:00:02Z",      "",
    };
    fp_time_iso_cache c = {0};
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
            int64_t a = -7, b = -7;
            fp_err ea = {0}, eb = {0};
            fp_code ra = fp_time_parse_iso(s[i], strlen(s[i]), &a, &ea);
            fp_code rb = fp_time_parse_iso_cached(&c, s[i], strlen(s[i]), &b, &eb);
            assert_int_equal(ra, rb);
            if (ra)
                assert_string_equal(ea.msg, eb.msg);
            else
                assert_int_equal(a, b);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
