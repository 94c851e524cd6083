/* test_check_score.c — fp_check_score: the matching rules of docs/checks.md "Scoring" on a small
 * hand-made truth file (message kinds by (anomaly, id, seq), dead letters by count per device,
 * noop lines, the interval, summary lines, the fields a kind's checks target, errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "check/score.h"

static const char TRUTH[] =
    "{\"device_id\":\"dev-000001\",\"vehicle_id\":1,\"seq\":10,\"messaged_at\":\"2026-03-03T01:00:"
    "00Z\","
    "\"object\":\"vehicle\",\"type\":\"kinematic\",\"mqtt_topic\":\"fms/dev-000001/vehicle/"
    "kinematic\","
    "\"anomaly\":\"gps_jump\",\"detail\":\"\",\"dead_letter\":false}\n"
    "{\"device_id\":\"dev-000002\",\"vehicle_id\":2,\"seq\":11,\"messaged_at\":\"2026-03-03T02:00:"
    "00Z\","
    "\"mqtt_topic\":\"fms/dev-000002/vehicle/"
    "kinematic\",\"anomaly\":\"gps_jump\",\"dead_letter\":false}\n"
    "{\"vehicle_id\":2,\"seq\":12,\"messaged_at\":\"2026-03-04T02:00:00Z\","
    "\"mqtt_topic\":\"fms/dev-000002/vehicle/"
    "kinematic\",\"anomaly\":\"gps_jump\",\"dead_letter\":false}\n"
    "{\"vehicle_id\":3,\"seq\":5,\"messaged_at\":\"2026-03-03T03:00:00Z\","
    "\"mqtt_topic\":\"fms/dev-000003/vehicle/"
    "status\",\"anomaly\":\"stuck_sensor\",\"noop\":true,\"dead_letter\":false}\n"
    "{\"vehicle_id\":3,\"seq\":6,\"messaged_at\":\"2026-03-03T03:00:00Z\","
    "\"mqtt_topic\":\"fms/dev-000003/vehicle/"
    "status\",\"anomaly\":\"malformed_json\",\"dead_letter\":true}\n"
    "{\"vehicle_id\":3,\"seq\":7,\"messaged_at\":\"2026-03-03T03:00:01Z\","
    "\"mqtt_topic\":\"fms/dev-000003/vehicle/"
    "status\",\"anomaly\":\"malformed_json\",\"dead_letter\":true}\n"
    "{\"vehicle_id\":4,\"seq\":9,\"messaged_at\":\"2026-03-03T04:00:00Z\","
    "\"mqtt_topic\":\"fms/dev-000009/vehicle/"
    "status\",\"anomaly\":\"spoofed_topic\",\"dead_letter\":true}\n"
    "{\"kind\":\"summary\",\"id\":1,\"day\":\"2026-03-03\",\"distance_km\":1.5}\n";

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_check_score.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static json_t *kind(json_t *report, const char *k)
{
    json_t *v = json_object_get(json_object_get(report, "kinds"), k);
    assert_non_null(v);
    return v;
}

static int64_t num(json_t *kind, const char *field)
{
    return json_integer_value(json_object_get(kind, field));
}

static void test_matching(void **state)
{
    (void)state;
    char *path = write_tmp(TRUTH);
    fp_check_hit hits[] = {
        {"gps_jump", 1, 10},
        {"gps_jump", 1, 10},                    /* one message, two rows: once */
        {"gps_jump", 7, 70},                    /* not in the truth: false positive */
        {"gps_jump", 2, 12},                    /* truth outside the interval: ignored */
        {"stuck_sensor", 3, 5},                 /* a noop line: ignored */
        {"malformed_json", 3, FP_CHECK_NO_SEQ}, /* 3 dead letters for 2 of dev 3 */
        {"malformed_json", 3, FP_CHECK_NO_SEQ},
        {"malformed_json", 3, FP_CHECK_NO_SEQ},
        {"spoofed_topic", 9, FP_CHECK_NO_SEQ}, /* by the topic's device */
        {"late", 5, FP_CHECK_NO_SEQ},          /* a kind with no truth */
    };
    json_t *r = NULL;
    fp_err err;
    assert_int_equal(fp_check_score(path, hits, sizeof hits / sizeof *hits, NULL, 0,
                                    1772496000000 /* 03-03 */, 1772582400000 /* 03-04 */, &r, &err),
                     FP_OK);
    json_t *g = kind(r, "gps_jump");
    assert_string_equal(json_string_value(json_object_get(g, "match")), "seq");
    assert_int_equal(num(g, "truth"), 2);
    assert_int_equal(num(g, "detected"), 2);
    assert_int_equal(num(g, "true_positive"), 1);
    assert_int_equal(num(g, "false_positive"), 1);
    assert_int_equal(num(g, "false_negative"), 1);
    assert_true(json_real_value(json_object_get(g, "precision")) == 0.5);
    json_t *s = kind(r, "stuck_sensor");
    assert_int_equal(num(s, "truth"), 0);
    assert_int_equal(num(s, "noop"), 1);
    assert_int_equal(num(s, "detected"), 0);
    assert_true(json_is_null(json_object_get(s, "recall")));
    json_t *m = kind(r, "malformed_json");
    assert_string_equal(json_string_value(json_object_get(m, "match")), "count");
    assert_int_equal(num(m, "truth"), 2);
    assert_int_equal(num(m, "true_positive"), 2);
    assert_int_equal(num(m, "false_positive"), 1);
    json_t *sp = kind(r, "spoofed_topic");
    assert_int_equal(num(sp, "true_positive"), 1);
    assert_true(json_real_value(json_object_get(sp, "recall")) == 1.0);
    json_t *l = kind(r, "late");
    assert_int_equal(num(l, "truth"), 0);
    assert_int_equal(num(l, "false_positive"), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "ignored")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "truth_lines")), 7);
    json_decref(r);

    /* no interval: every line counts, and gps_jump 2/12 is a true positive */
    assert_int_equal(
        fp_check_score(path, hits, sizeof hits / sizeof *hits, NULL, 0, 0, 0, &r, &err), FP_OK);
    assert_int_equal(num(kind(r, "gps_jump"), "truth"), 3);
    assert_int_equal(num(kind(r, "gps_jump"), "true_positive"), 2);
    json_decref(r);
    unlink(path);
    free(path);
}

/* With anomaly_fields for stuck_sensor, a line of another field is "untargeted": neither a miss
 * nor, when hit, a false positive; a line that names no field still counts. */
static void test_scope(void **state)
{
    (void)state;
    char *path = write_tmp(
        "{\"vehicle_id\":1,\"seq\":1,\"anomaly\":\"stuck_sensor\",\"detail\":\"field speed\"}\n"
        "{\"vehicle_id\":1,\"seq\":2,\"anomaly\":\"stuck_sensor\",\"detail\":\"field "
        "fuel_level\"}\n"
        "{\"vehicle_id\":1,\"seq\":3,\"anomaly\":\"stuck_sensor\",\"detail\":\"field "
        "fuel_level\"}\n"
        "{\"vehicle_id\":1,\"seq\":4,\"anomaly\":\"stuck_sensor\",\"detail\":\"\"}\n");
    fp_check_hit hits[] = {{"stuck_sensor", 1, 1}, {"stuck_sensor", 1, 3}};
    fp_check_scope scope[] = {{"stuck_sensor", "speed"}, {"stuck_sensor", "odometer"}};
    json_t *r = NULL;
    fp_err err;
    assert_int_equal(fp_check_score(path, hits, 2, scope, 2, 0, 0, &r, &err), FP_OK);
    json_t *k = kind(r, "stuck_sensor");
    assert_int_equal(num(k, "truth"), 2);
    assert_int_equal(num(k, "untargeted"), 2);
    assert_int_equal(num(k, "true_positive"), 1);
    assert_int_equal(num(k, "false_positive"), 0);
    assert_int_equal(num(k, "false_negative"), 1);
    assert_int_equal(json_array_size(json_object_get(k, "fields")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "ignored")), 1);
    json_decref(r);
    /* no scope: all four count */
    assert_int_equal(fp_check_score(path, hits, 2, NULL, 0, 0, 0, &r, &err), FP_OK);
    assert_int_equal(num(kind(r, "stuck_sensor"), "truth"), 4);
    assert_null(json_object_get(kind(r, "stuck_sensor"), "untargeted"));
    json_decref(r);
    unlink(path);
    free(path);
}

static void test_errors(void **state)
{
    (void)state;
    json_t *r = NULL;
    fp_err err;
    assert_int_equal(fp_check_score("/nonexistent/truth.jsonl", NULL, 0, NULL, 0, 0, 0, &r, &err),
                     FP_ERR_IO);
    char *path = write_tmp("{\"vehicle_id\":1,\"seq\":2,\"anomaly\":\"gps_jump\"}\nnot json\n");
    assert_int_equal(fp_check_score(path, NULL, 0, NULL, 0, 0, 0, &r, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "line 2"));
    unlink(path);
    free(path);
    /* an interval needs messaged_at on every anomaly line */
    path = write_tmp("{\"vehicle_id\":1,\"seq\":2,\"anomaly\":\"gps_jump\"}\n");
    assert_int_equal(fp_check_score(path, NULL, 0, NULL, 0, 1, 2, &r, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "messaged_at"));
    assert_int_equal(fp_check_score(path, NULL, 0, NULL, 0, 0, 0, &r, &err), FP_OK);
    assert_int_equal(num(kind(r, "gps_jump"), "false_negative"), 1);
    json_decref(r);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
