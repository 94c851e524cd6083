/* test_scrape.c — the /metrics reader: what fp_metrics writes (an age histogram with escaped
 * labels, counters, process metrics) parses back to the same names, labels and values; the
 * format's corners (+Inf, NaN, timestamps, trailing comma, CRLF); broken lines fail with their
 * line number; sums over label subsets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "ops/metrics.h"
#include "ops/scrape.h"

static void test_round_trip(void **state)
{
    fp_metrics_hist h;
    fp_metrics_hist_init_age(&h);
    fp_metrics_hist_observe(&h, 0.07); /* le 0.1 */
    fp_metrics_hist_observe(&h, 3);    /* le 5 */
    fp_metrics_hist_observe(&h, 4000); /* +Inf */
    fp_buf b = FP_BUF_INIT;
    fp_metrics_out m = {.buf = &b};
    fp_metrics_family(&m, "fleetpipe_connect_record_age_seconds", FP_METRIC_HISTOGRAM, "age");
    const char *lb[] = {"connector", "a\"b\\c\nd", "task", "0", NULL};
    fp_metrics_sample_hist(&m, lb, &h);
    fp_metrics_family(&m, "fleetpipe_connect_records_in_total", FP_METRIC_COUNTER, "in");
    fp_metrics_sample_u64(&m, (const char *[]){"connector", "x", "task", "0", NULL}, 5);
    fp_metrics_sample_u64(&m, (const char *[]){"connector", "x", "task", "1", NULL}, 7);
    fp_metrics_sample_u64(&m, (const char *[]){"connector", "y", "task", "0", NULL}, 100);
    fp_metrics_process(&m);
    fp_scrape_page pg = {0};
    fp_err err = {0};
    assert_int_equal(fp_scrape_parse(b.p, b.len, &pg, &err), FP_OK);
    int found = 0;
    const char *x[] = {"connector", "x", NULL};
    assert_true(fp_scrape_sum(&pg, "fleetpipe_connect_records_in_total", x, &found) == 12);
    assert_true(found);
    assert_true(fp_scrape_sum(&pg, "fleetpipe_connect_records_in_total", NULL, NULL) == 112);
    fp_scrape_sum(&pg, "nope", NULL, &found);
    assert_false(found);
    const char *odd[] = {"connector", "a\"b\\c\nd", "le", "0.1", NULL};
    assert_true(fp_scrape_sum(&pg, "fleetpipe_connect_record_age_seconds_bucket", odd, &found) ==
                1);
    assert_true(found);
    const char *inf[] = {"le", "+Inf", NULL};
    assert_true(fp_scrape_sum(&pg, "fleetpipe_connect_record_age_seconds_bucket", inf, NULL) == 3);
    const char *le5[] = {"le", "5", NULL};
    assert_true(fp_scrape_sum(&pg, "fleetpipe_connect_record_age_seconds_bucket", le5, NULL) == 2);
    assert_true(fp_scrape_sum(&pg, "fleetpipe_connect_record_age_seconds_count", NULL, NULL) == 3);
    assert_true(fp_scrape_sum(&pg, "process_resident_memory_bytes", NULL, &found) > 0);
    assert_true(found);
    fp_scrape_page_free(&pg);
    fp_buf_free(&b);
}

static void test_format_corners(void **state)
{
    const char *text = "# HELP a_total x\n"
                       "# TYPE a_total counter\n"
                       "\n"
                       "a_total{k=\"v\",} 1.5e3 1700000000000\r\n"
                       "  b +Inf\n"
                       "c{q=\"\"} NaN\n"
                       "d:e -Inf\n"
                       "f { k = \"w\" } -2";
    fp_scrape_page pg = {0};
    fp_err err = {0};
    assert_int_equal(fp_scrape_parse(text, strlen(text), &pg, &err), FP_OK);
    assert_int_equal(pg.n, 5);
    assert_string_equal(pg.v[0].name, "a_total");
    assert_true(pg.v[0].value == 1500);
    assert_string_equal(fp_scrape_label(&pg.v[0], "k"), "v");
    assert_true(isinf(pg.v[1].value) && pg.v[1].value > 0);
    assert_true(isnan(pg.v[2].value));
    assert_string_equal(fp_scrape_label(&pg.v[2], "q"), "");
    assert_null(fp_scrape_label(&pg.v[2], "k"));
    assert_string_equal(pg.v[3].name, "d:e");
    assert_true(pg.v[4].value == -2);
    assert_string_equal(fp_scrape_label(&pg.v[4], "k"), "w");
    fp_scrape_page_free(&pg);
}

static void test_broken_lines(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"a 1\nb{k=\"v\" 2\n", "line 2: expected ',' or '}' after a label"},
        {"a{k=\"v} 1\n", "line 1: unterminated label value"},
        {"ok 1\n# c\n9bad 1\n", "line 3: expected a metric name"},
        {"a 1x\n", "line 1: expected a value"},
        {"a 1 2 3\n", "line 1: trailing bytes after the value"},
        {"a{=\"v\"} 1\n", "line 1: expected a label name"},
        {"a\n", "line 1: expected a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fp_scrape_page pg = {0};
        fp_err err = {0};
        assert_int_equal(fp_scrape_parse(cases[i].text, strlen(cases[i].text), &pg, &err),
                         FP_ERR_INVALID);
        assert_string_equal(err.msg, cases[i].msg);
        assert_int_equal(pg.n, 0); /* a half-read page is no page */
        fp_scrape_page_free(&pg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_format_corners),
        cmocka_unit_test(test_broken_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
