/* test_alert.c — check/alert: the decision rule from tests/data/alert/decisions.txt, the
 * Slack payload within Slack's limits (header 150, section 3000, field 2000, 10 fields) with
 * mrkdwn escaped, the webhook payload's facts, and config errors that name the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "check/alert.h"
#include "check/alert_int.h"

static const char *data_dir = "tests/data";

static void test_decisions(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/alert/decisions.txt", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char told[16], status[16], want[16];
        long long told_at, now, quiet;
        assert_int_equal(sscanf(line, "%15s %lld %15s %lld %lld %15s", told, &told_at, status, &now,
                                &quiet, want),
                         6);
        fp_alert_decision d =
            fp_alert_decide(strcmp(told, "-") ? told : NULL, told_at, status, now, quiet);
        if (strcmp(fp_alert_decision_name(d), want))
            fail_msg("%s:%d: got %s, expected %s", path, lineno, fp_alert_decision_name(d), want);
        n++;
    }
    fclose(f);
    assert_true(n >= 15);
}

static void test_slack_payload_limits(void **state)
{
    (void)state;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    big[10] = '<'; /* "<!channel>" must not reach Slack as markup */
    json_t *fields = json_object();
    for (int i = 0; i < 14; i++) {
        char k[16];
        snprintf(k, sizeof k, "f%d", i);
        json_object_set_new(fields, k, json_string(big));
    }
    fp_alert_msg m = {.key = "check gps_jump lake.x",
                      .status = "fail",
                      .title = big,
                      .text = big,
                      .since = "2026-03-03T00:00:00Z",
                      .at = "2026-03-03T01:00:00Z",
                      .decision = FP_ALERT_FIRE,
                      .fields = fields};
    json_t *p = fp_alert_slack_payload(&m);
    const char *text = json_string_value(json_object_get(p, "text"));
    assert_non_null(text);
    assert_true(!strncmp(text, "[FAIL] check gps_jump lake.x", 28));
    json_t *blocks = json_object_get(p, "blocks");
    size_t i;
    json_t *b;
    int nfields = 0;
    json_array_foreach(blocks, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        const char *t = json_string_value(json_object_get(json_object_get(b, "text"), "text"));
        if (!strcmp(type, "header"))
            assert_true(t && strlen(t) <= 150); /* bytes >= characters */
        if (t && !strcmp(type, "section")) {
            assert_true(strlen(t) <= 3000);
            assert_null(strchr(t, '<'));
            assert_non_null(strstr(t, "&lt;"));
        }
        json_t *fs = json_object_get(b, "fields");
        size_t j;
        json_t *fv;
        json_array_foreach(fs, j, fv)
        {
            assert_true(strlen(json_string_value(json_object_get(fv, "text"))) <= 2000);
            nfields++;
        }
    }
    assert_int_equal(nfields, 10);
    json_decref(p);

    m.decision = FP_ALERT_RESOLVED;
    m.status = "pass";
    m.prev_status = "fail";
    p = fp_alert_webhook_payload(&m);
    assert_string_equal(json_string_value(json_object_get(p, "kind")), "resolved");
    assert_string_equal(json_string_value(json_object_get(p, "previous_status")), "fail");
    assert_string_equal(json_string_value(json_object_get(p, "f3")), big);
    json_decref(p);
    json_decref(fields);
}

static void test_config_errors(void **state)
{
    (void)state;
    fp_alert *a = NULL;
    fp_err err = {0};
    assert_int_equal(fp_alert_open(NULL, NULL, &a, &err), FP_OK);
    assert_null(a);
    /* NULL alerter: every call is a no-op */
    assert_int_equal(fp_alert_report(NULL, NULL, "k", "fail", "t", "x", &err), FP_OK);
    fp_alert_flush(NULL, 10);
    fp_alert_free(NULL);

    json_t *c = json_pack("{s:{s:s}, s:s}", "slack", "url_file", "x", "quiett", "1h");
    assert_int_equal(fp_alert_open(c, "/nonexistent", &a, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "quiett"));
    json_decref(c);
    c = json_pack("{s:s}", "quiet", "1h");
    assert_int_equal(fp_alert_open(c, NULL, &a, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "url_file"));
    json_decref(c);
    c = json_pack("{s:{s:s}}", "slack", "url_file", "/nonexistent/slack.url");
    assert_int_equal(fp_alert_open(c, NULL, &a, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/slack.url"));
    json_decref(c);
}

/* Every family of docs/checks.md, per sink; FP_ALERT_METRICS_OUT=FILE keeps the text for
 * `promtool check metrics`. */
static void test_metrics(void **state)
{
    (void)state;
    char dir[] = "/tmp/fp_alert_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/hook.url", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("http://127.0.0.1:9/hooks/x\n", f);
    fclose(f);
    json_t *c = json_pack("{s:{s:s}, s:{s:s}}", "slack", "url_file", "hook.url", "webhook",
                          "url_file", "hook.url");
    fp_alert *a = NULL;
    fp_err err = {0};
    assert_int_equal(fp_alert_open(c, dir, &a, &err), FP_OK);
    fp_buf out = FP_BUF_INIT;
    fp_alert_metrics(a, &out);
    static const char *const names[] = {
        "fleetpipe_alert_decisions_total{decision=\"fire\"} 0",
        "fleetpipe_alert_sent_total{sink=\"slack\"} 0",
        "fleetpipe_alert_sent_total{sink=\"webhook\"} 0",
        "fleetpipe_alert_attempts_total{sink=\"slack\"} 0",
        "fleetpipe_alert_retries_total{sink=\"slack\",reason=\"429\"} 0",
        "fleetpipe_alert_lost_total{sink=\"webhook\",reason=\"budget\"} 0",
        "fleetpipe_alert_queue_depth{sink=\"slack\"} 0",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strstr(out.p, names[i]))
            fail_msg("metrics lack %s:\n%s", names[i], out.p);
    assert_null(strstr(out.p, "127.0.0.1"));
    const char *keep = getenv("FP_ALERT_METRICS_OUT");
    if (keep && (f = fopen(keep, "w"))) {
        fputs(out.p, f);
        fclose(f);
    }
    fp_buf_free(&out);
    fp_alert_free(a);
    json_decref(c);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_slack_payload_limits),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
