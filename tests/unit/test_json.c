/* test_json.c — the validating scanner: what RFC 8259 accepts and rejects (with the byte offset
 * and reason), UTF-8 edge cases, nesting limits, and the unchecked iterators on text that
 * crosses the 16/64-byte blocks of the SIMD paths.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"

static fp_code v(const char *s, size_t n, fp_err *err)
{
    fp_err_clear(err);
    return fp_json_validate(s, n, err);
}

static void test_accept(void **state)
{
    static const char *const ok[] = {
        "{}",
        "[]",
        " {} ",
        "\t\r\n[ ]\n",
        "0",
        "-0",
        "-0.0",
        "1e5",
        "1E+5",
        "1e-5",
        "0.5e-0",
        "12345678901234567890123",
        "1e-310",
        "3.141592653589793238462643383279",
        "\"\"",
        "\"a\"",
        "true",
        "false",
        "null",
        "[1,2,3]",
        "{\"a\":{\"b\":[true,false,null]}}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uFFFF\\uD83D\\uDE00\"",
        "\"\\ud800\"", /* lone surrogate escape: accepted like JSON.parse */
        "\"\\udc00x\\ud800\"",
        "{\"\":\"\"}",
        "[[[[]]]]",
        "\"\x7f\"",
        "{\"a\" : 1 , \"b\" :\"c\"}",
    };
    fp_err err;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        fp_code rc = v(ok[i], strlen(ok[i]), &err);
        if (rc)
            print_error("should accept %s: %s\n", ok[i], err.msg);
        assert_int_equal(rc, FP_OK);
    }
}

typedef struct reject {
    const char *text;
    fp_code code;
    const char *msg;
} reject;

static void test_reject(void **state)
{
    static const reject bad[] = {
        {"", FP_ERR_INVALID, "offset 0: empty input"},
        {"   ", FP_ERR_INVALID, "offset 3: empty input"},
        {"{", FP_ERR_INVALID, "offset 1: unexpected end of input, expected an object key"},
        {"[1,]", FP_ERR_INVALID, "offset 3: unexpected character, expected a value"},
        {"{\"a\":1,}", FP_ERR_INVALID, "offset 7: expected '\"' to start an object key"},
        {"{\"a\" 1}", FP_ERR_INVALID, "offset 5: expected ':' after object key"},
        {"{a:1}", FP_ERR_INVALID, "offset 1: expected '\"'"},
        {"[1 2]", FP_ERR_INVALID, "offset 3: expected ',' or ']' in array"},
        {"{} {}", FP_ERR_INVALID, "offset 3: trailing characters"},
        {"01", FP_ERR_INVALID, "offset 0: invalid number: leading zero"},
        {"-01", FP_ERR_INVALID, "leading zero"},
        {"1.", FP_ERR_INVALID, "offset 2: invalid number: expected a digit after '.'"},
        {".1", FP_ERR_INVALID, "offset 0: unexpected character"},
        {"1e", FP_ERR_INVALID, "offset 2: invalid number: expected a digit in exponent"},
        {"1e+", FP_ERR_INVALID, "in exponent"},
        {"-", FP_ERR_INVALID, "offset 0: invalid number: expected a digit"},
        {"+1", FP_ERR_INVALID, "offset 0: unexpected character"},
        {"NaN", FP_ERR_INVALID, "offset 0: unexpected character"},
        {"Infinity", FP_ERR_INVALID, "offset 0"},
        {"nul", FP_ERR_INVALID, "expected null"},
        {"tru", FP_ERR_INVALID, "expected true"},
        {"falsy", FP_ERR_INVALID, "expected false"},
        {"\"abc", FP_ERR_INVALID, "offset 4: unterminated string"},
        {"\"\\x\"", FP_ERR_INVALID, "offset 1: invalid escape in string"},
        {"\"\\u12xy\"", FP_ERR_INVALID, "offset 5: invalid hex digit in \\u escape"},
        {"\"\\u12\"", FP_ERR_INVALID, "offset 1: truncated \\u escape"},
        {"\"\\u12", FP_ERR_INVALID, "truncated \\u escape"},
        {"\"\\", FP_ERR_INVALID, "unterminated escape"},
        {"\"a\tb\"", FP_ERR_INVALID, "offset 2: unescaped control character 0x09 in string"},
        {"\"\n\"", FP_ERR_INVALID, "control character 0x0a"},
        {"'a'", FP_ERR_INVALID, "offset 0: unexpected character"},
        {"[1]]", FP_ERR_INVALID, "offset 3: trailing characters"},
        {"{\"a\":1]", FP_ERR_INVALID, "offset 6: expected ',' or '}' in object"},
    };
    fp_err err;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_code rc = v(bad[i].text, strlen(bad[i].text), &err);
        if (rc != bad[i].code || !strstr(err.msg, bad[i].msg))
            print_error("'%s': got %d '%s', want '%s'\n", bad[i].text, rc, err.msg, bad[i].msg);
        assert_int_equal(rc, bad[i].code);
        assert_non_null(strstr(err.msg, bad[i].msg));
    }
}

/* Each sequence inside a string, both alone and after 20 ASCII bytes (the SSE2 path). */
static void check_utf8_at(const char *seq, size_t n, bool valid, int at)
{
    for (int pad = 0; pad <= 40; pad += 20) {
        char buf[128];
        size_t len = 0;
        buf[len++] = '"';
        memset(buf + len, 'a', (size_t)pad);
        len += (size_t)pad;
        memcpy(buf + len, seq, n);
        len += n;
        buf[len++] = '"';
        fp_err err;
        fp_code rc = v(buf, len, &err);
        if ((rc == FP_OK) != valid) {
            print_error("sequence %02x.. (%zu bytes) pad %d: got %d %s\n", (unsigned char)seq[0], n,
                        pad, rc, err.msg);
            fail();
        }
        if (!valid) {
            char want[64];
            snprintf(want, sizeof want, "offset %d: invalid UTF-8", 1 + pad + at);
            assert_non_null(strstr(err.msg, want));
        }
    }
}

static void check_utf8(const char *seq, size_t n, bool valid)
{
    check_utf8_at(seq, n, valid, 0);
}

static void test_utf8(void **state)
{
    /* boundaries of each length */
    check_utf8("\xc2\x80", 2, true);         /* U+0080 */
    check_utf8("\xdf\xbf", 2, true);         /* U+07FF */
    check_utf8("\xe0\xa0\x80", 3, true);     /* U+0800 */
    check_utf8("\xed\x9f\xbf", 3, true);     /* U+D7FF, just below the surrogates */
    check_utf8("\xee\x80\x80", 3, true);     /* U+E000, just above */
    check_utf8("\xef\xbf\xbf", 3, true);     /* U+FFFF */
    check_utf8("\xf0\x90\x80\x80", 4, true); /* U+10000 */
    check_utf8("\xf0\x9f\x98\x80", 4, true); /* emoji */
    check_utf8("\xf4\x8f\xbf\xbf", 4, true); /* U+10FFFF */
    /* overlongs */
    check_utf8("\xc0\x80", 2, false);
    check_utf8("\xc1\xbf", 2, false);
    check_utf8("\xe0\x9f\xbf", 3, false);
    check_utf8("\xf0\x8f\xbf\xbf", 4, false);
    /* surrogates encoded in UTF-8 */
    check_utf8("\xed\xa0\x80", 3, false);
    check_utf8("\xed\xbf\xbf", 3, false);
    /* above U+10FFFF, and bytes that never appear */
    check_utf8("\xf4\x90\x80\x80", 4, false);
    check_utf8("\xf5\x80\x80\x80", 4, false);
    check_utf8("\xff", 1, false);
    check_utf8("\xfe", 1, false);
    /* stray continuation bytes, truncated sequences */
    check_utf8("\x80", 1, false);
    check_utf8("\xbf", 1, false);
    check_utf8("\xc2", 1, false);
    check_utf8("\xc2\x41", 2, false);
    check_utf8("\xe2\x82", 2, false);
    check_utf8("\xf0\x9f\x98", 3, false);
    check_utf8_at("\xe2\x82\xac\x80", 4, false, 3); /* valid euro then a stray byte */
}

static void test_depth(void **state)
{
    size_t n = 1000000;
    char *s = malloc(2 * n);
    memset(s, '[', n);
    memset(s + n, ']', n);
    fp_err err;
    assert_int_equal(v(s, n, &err), FP_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "offset 64: nesting deeper than 64 levels"));
    assert_int_equal(v(s, 2 * n, &err), FP_ERR_LIMIT);
    /* exactly FP_JSON_MAX_DEPTH levels is fine, one more is not */
    char *t = s + n - FP_JSON_MAX_DEPTH;
    assert_int_equal(v(t, 2 * FP_JSON_MAX_DEPTH, &err), FP_OK);
    assert_int_equal(v(t - 1, 2 * FP_JSON_MAX_DEPTH + 2, &err), FP_ERR_LIMIT);
    for (size_t i = 0; i < n; i++)
        s[i] = (i % 2) ? '[' : '{';
    assert_int_equal(v(s, n, &err), FP_ERR_INVALID); /* '{' then '[' is not a key */
    free(s);
}

static void test_obj_get(void **state)
{
    const char *o = "{\"a\":1,\"b\":\"x\",\"a\":[2,{\"a\":3}],\"c\\u0041\":true, \"d\" : null }";
    assert_int_equal(v(o, strlen(o), NULL), FP_OK);
    fp_span obj = {o, strlen(o)}, val;
    assert_true(fp_json_obj_get(obj, "a", 1, &val));
    assert_int_equal(val.n, 11);
    assert_memory_equal(val.p, "[2,{\"a\":3}]", 11);
    assert_true(fp_json_obj_get(obj, "cA", 2, &val));
    assert_memory_equal(val.p, "true", 4);
    assert_true(fp_json_obj_get(obj, "d", 1, &val));
    assert_int_equal(val.n, 4);
    assert_false(fp_json_obj_get(obj, "e", 1, &val));
    assert_int_equal(fp_json_type_of("null"), FP_JSON_NULL);
    assert_int_equal(fp_json_type_of("-1"), FP_JSON_NUMBER);
    assert_int_equal(fp_json_type_of("\"\""), FP_JSON_STRING);
}

/* Strings full of brackets, quotes and backslashes at every offset across 64-byte blocks. */
static void test_iter_blocks(void **state)
{
    static const char *const tricky[] = {"]}", "\\\"]", "\\\\", "{[", "\\\\\\\"}", "x"};
    for (size_t pad = 0; pad < 140; pad++) {
        for (size_t t = 0; t < sizeof tricky / sizeof *tricky; t++) {
            fp_buf b = FP_BUF_INIT;
            fp_buf_puts(&b, "[{\"k\":\"");
            for (size_t i = 0; i < pad; i++)
                fp_buf_putc(&b, 'a');
            fp_buf_puts(&b, tricky[t]);
            fp_buf_puts(&b, "\",\"n\":[[1],{\"z\":\"]\"}]},2,\"s]\",{\"q\":{}}]");
            assert_int_equal(v(b.p, b.len, NULL), FP_OK);
            fp_json_iter it;
            fp_span el;
            size_t count = 0;
            fp_json_iter_init(&it, (fp_span){b.p, b.len});
            const char *want[] = {"{", "2", "\"s]\"", "{\"q\":{}}"};
            while (fp_json_arr_next(&it, &el)) {
                assert_true(count < 4);
                assert_memory_equal(el.p, want[count], strlen(want[count]));
                if (count == 0)
                    assert_int_equal(el.p[el.n - 1], '}');
                else
                    assert_int_equal(el.n, strlen(want[count]));
                count++;
            }
            assert_int_equal(count, 4);
            fp_buf_free(&b);
        }
    }
}

static void test_quote_roundtrip(void **state)
{
    static const char *const s[] = {
        "",
        "plain",
        "quote \" back \\ slash /",
        "\b\f\n\r\t",
        "caf\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80",
        "\x7f",
        "\xed\xa0\x80", /* WTF-8 lone surrogate (what unescape makes of \ud800) */
    };
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        fp_buf q = FP_BUF_INIT, u = FP_BUF_INIT;
        fp_json_quote(&q, s[i], strlen(s[i]));
        assert_int_equal(v(q.p, q.len, NULL), FP_OK);
        fp_json_unescape((fp_span){q.p + 1, q.len - 2}, &u);
        assert_int_equal(u.len, strlen(s[i]));
        assert_memory_equal(u.p, s[i], u.len);
        fp_buf_free(&q);
        fp_buf_free(&u);
    }
    /* every control byte and NUL survive */
    char all[32];
    for (int c = 0; c < 32; c++)
        all[c] = (char)c;
    fp_buf q = FP_BUF_INIT, u = FP_BUF_INIT;
    fp_json_quote(&q, all, sizeof all);
    assert_int_equal(v(q.p, q.len, NULL), FP_OK);
    fp_json_unescape((fp_span){q.p + 1, q.len - 2}, &u);
    assert_int_equal(u.len, 32);
    assert_memory_equal(u.p, all, 32);
    fp_buf_free(&q);
    fp_buf_free(&u);
    /* escapes decode as JSON.parse does */
    const char *esc = "a\\u00e9\\uD83D\\uDE00\\ud800x\\/";
    fp_json_unescape((fp_span){esc, strlen(esc)}, &u);
    assert_string_equal(u.p, "a\xc3\xa9\xf0\x9f\x98\x80\xed\xa0\x80x/");
    fp_buf_free(&u);
}

static void test_quote_raw_any_bytes(void **state)
{
    /* all 256 byte values: the result is always valid, strict JSON */
    char all[256];
    for (int c = 0; c < 256; c++)
        all[c] = (char)c;
    fp_buf q = FP_BUF_INIT;
    fp_json_quote_raw(&q, all, sizeof all);
    fp_err err;
    assert_int_equal(v(q.p, q.len, &err), FP_OK);
    assert_non_null(strstr(q.p, "\\u00ff"));
    fp_buf_reset(&q);
    fp_json_quote_raw(&q, "\xed\xa0\x80", 3);
    assert_string_equal(q.p, "\"\\u00ed\\u00a0\\u0080\"");
    fp_buf_free(&q);
}

static void add_member(void *ctx, fp_span key, bool escaped, fp_span val)
{
    fp_buf *b = ctx;
    fp_buf_printf(b, "%.*s%s=%.*s;", (int)key.n, key.p, escaped ? "(esc)" : "", (int)val.n, val.p);
}

/* One pass reports the top-level members with exact value spans; nested ones are not members. */
static void test_validate_members(void **state)
{
    (void)state;
    const struct {
        const char *in, *want;
    } c[] = {
        {" {\"a\" : 1 , \"b\":{\"x\":[1,{\"y\":2}]},\"c\":\"s\\\"}\" ,\"d\":[] } ",
         "a=1;b={\"x\":[1,{\"y\":2}]};c=\"s\\\"}\";d=[];"},
        {"{\"k\\u0041\":true,\"k\":null,\"k\":-1.5e3}", "k\\u0041(esc)=true;k=null;k=-1.5e3;"},
        {"{}", ""},
        {"[{\"a\":1}]", ""},
        {"\"str\"", ""},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        fp_buf b = FP_BUF_INIT;
        fp_buf_puts(&b, "");
        assert_int_equal(fp_json_validate_members(c[i].in, strlen(c[i].in), add_member, &b, NULL),
                         FP_OK);
        assert_string_equal(b.p, c[i].want);
        fp_buf_free(&b);
    }
    fp_err err = {0};
    fp_buf b = FP_BUF_INIT;
    assert_int_equal(fp_json_validate_members("{\"a\":1,\"b\":", 11, add_member, &b, &err),
                     FP_ERR_INVALID);
    fp_buf_free(&b);
}

/* fp_json_number gives strtod's double, bit for bit, and the int64 of integer literals. */
static void test_number(void **state)
{
    (void)state;
    static const char *const n[] = {"0",
                                    "-0",
                                    "1",
                                    "-17.83",
                                    "0.1",
                                    "1e22",
                                    "1e23",
                                    "123456789012345",
                                    "1234567890123456",
                                    "9007199254740993",
                                    "0.000123",
                                    "1.7976931348623157e308",
                                    "1e999",
                                    "-1e-400",
                                    "4.9e-324",
                                    "2.5E+3",
                                    "1E-22",
                                    "9223372036854775807",
                                    "-9223372036854775808",
                                    "9223372036854775808",
                                    "0.30000000000000004",
                                    "1234.5678901234567890123",
                                    "00.5e0",
                                    "100000000000000000000000000000000.0"};
    for (size_t i = 0; i < sizeof n / sizeof *n; i++) {
        int64_t iv = 0;
        double d, want = strtod(n[i], NULL);
        assert_false(fp_json_number(n[i], strlen(n[i]), NULL, &d));
        if (memcmp(&d, &want, sizeof d))
            fail_msg("%s: %.17g, strtod %.17g", n[i], d, want);
        bool lit = !strpbrk(n[i], ".eE") && strcmp(n[i], "9223372036854775808");
        d = 0.5;
        assert_int_equal(fp_json_number(n[i], strlen(n[i]), &iv, &d), lit);
        if (lit) /* *d untouched: the lake keeps i and d in one union */
            assert_true(iv == strtoll(n[i], NULL, 10) && d == 0.5);
        else if (memcmp(&d, &want, sizeof d))
            fail_msg("%s: %.17g, strtod %.17g", n[i], d, want);
    }
    /* two-decimal values and their running sums, the aggregate's usual input */
    srand(7);
    char b[64];
    double sum = 0;
    for (int i = 0; i < 200000; i++) {
        sum += (rand() % 6000 - 3000) / 100.0;
        int len = snprintf(b, sizeof b, i % 2 ? "%.17g" : "%.2f", i % 2 ? sum : sum / 7);
        double d, want = strtod(b, NULL);
        fp_json_number(b, (size_t)len, NULL, &d);
        if (memcmp(&d, &want, sizeof d))
            fail_msg("%s: %.17g, strtod %.17g", b, d, want);
    }
}

/* fp_buf_put_double prints the shortest of %.15g, %.16g and %.17g that reads back. */
static void test_put_double(void **state)
{
    (void)state;
    srand(11);
    char want[40];
    fp_buf b = FP_BUF_INIT;
    double sum = 0;
    for (int i = 0; i < 300000; i++) {
        double v;
        switch (i % 4) {
        case 0:
            v = (rand() % 100000 - 50000) / 100.0;
            break;
        case 1:
            v = sum += (rand() % 4000 - 2000) / 100.0;
            break;
        case 2:
            v = sum / (i % 97 + 1);
            break;
        default:
            v = ((double)rand() / RAND_MAX - 0.5) * pow(10, i % 40 - 20);
        }
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(want, sizeof want, "%.*g", prec, v);
            if (prec == 17 || strtod(want, NULL) == v)
                break;
        }
        fp_buf_reset(&b);
        fp_buf_put_double(&b, v);
        if (strcmp(b.p, want))
            fail_msg("%.17g: %s, want %s", v, b.p, want);
    }
    fp_buf_free(&b);
}

/* Numbers other systems print (DynamoDB's N, PostgreSQL's float8 and numeric): JSON numbers
 * stay as printed, other readable numbers become their double, the rest null. */
static void test_put_number(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"0", "0"},
        {"-1.5", "-1.5"},
        {"12345678901234567890.123", "12345678901234567890.123"},
        {"9007199254740993", "9007199254740993"},
        {"1e+20", "1e+20"},
        {"5E-7", "5E-7"},
        {"+1", "1"},
        {".5", "0.5"},
        {"1.", "1"},
        {"007", "7"},
        {"NaN", "null"},
        {"Infinity", "null"},
        {"-Infinity", "null"},
        {"1e999", "1e999"}, /* valid JSON text: kept as the digits say */
        {"", "null"},
        {"12abc", "null"},
        {"0x10", "null"}, /* strtod's hex, infinities and NaN are no decimal number */
        {"inf", "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fp_buf b = FP_BUF_INIT;
        fp_json_put_number(&b, cases[i][0], strlen(cases[i][0]));
        assert_string_equal(b.p, cases[i][1]);
        fp_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_put_double),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_obj_get),
        cmocka_unit_test(test_validate_members),
        cmocka_unit_test(test_iter_blocks),
        cmocka_unit_test(test_quote_roundtrip),
        cmocka_unit_test(test_quote_raw_any_bytes),
        cmocka_unit_test(test_put_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
