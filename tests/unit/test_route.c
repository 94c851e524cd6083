/* test_route.c — the bridge's routing and validation: the data-driven cases in
 * tests/data/route/cases.jsonl (topic + payload -> Kafka topic and key, or a dead letter with
 * its class and a message naming the problem), MQTT filter matching, templates and rules-file
 * errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ingest/route.h"

static const char *data_dir;
static const char *const objects[] = {"vehicle", "cargo", "blackbox", "device", NULL};

static void unhex(const char *hex, fp_buf *out)
{
    for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
        char byte[3] = {hex[i], hex[i + 1], 0};
        fp_buf_putc(out, (char)strtol(byte, NULL, 16));
    }
}

static void test_cases(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/route/cases.jsonl", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fp_err err = {0};
    fp_route_table *t = fp_route_load(NULL, objects, &err);
    assert_non_null(t);
    fp_route_decision d;
    fp_route_decision_init(&d);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        if (!c)
            fail_msg("%s: line %d: %s", path, n + 1, je.text);
        const char *name = json_string_value(json_object_get(c, "name"));
        fp_buf payload = FP_BUF_INIT;
        json_t *p = json_object_get(c, "payload"), *rep = json_object_get(c, "payload_repeat");
        if (p)
            fp_buf_append(&payload, json_string_value(p), json_string_length(p));
        else if (rep)
            for (json_int_t i = 0; i < json_integer_value(json_array_get(rep, 1)); i++)
                fp_buf_puts(&payload, json_string_value(json_array_get(rep, 0)));
        else
            unhex(json_string_value(json_object_get(c, "payload_hex")), &payload);
        json_t *tl = json_object_get(c, "total_len");
        size_t total = tl ? (size_t)json_integer_value(tl) : payload.len;
        fp_route_message(t, json_string_value(json_object_get(c, "topic")),
                         payload.p ? payload.p : "", payload.len, total, &d);
        const char *want_dl = json_string_value(json_object_get(c, "dead_letter"));
        const char *want_key = json_string_value(json_object_get(c, "key"));
        if (want_dl) {
            if (!d.dead_letter)
                fail_msg("%s: forwarded to %s, want dead letter %s", name, d.topic.p, want_dl);
            if (strcmp(d.error_class, want_dl))
                fail_msg("%s: class %s (%s), want %s", name, d.error_class, d.error_message.p,
                         want_dl);
            assert_string_equal(d.topic.p, "fms.deadletter");
            const char *msg = json_string_value(json_object_get(c, "message"));
            assert_true(d.error_message.len > 0);
            if (msg && !strstr(d.error_message.p, msg))
                fail_msg("%s: message \"%s\" does not mention %s", name, d.error_message.p, msg);
        } else {
            if (d.dead_letter)
                fail_msg("%s: dead-lettered as %s: %s", name, d.error_class, d.error_message.p);
            assert_string_equal(d.topic.p, json_string_value(json_object_get(c, "topic_out")));
        }
        if (want_key && strcmp(d.key.p ? d.key.p : "", want_key))
            fail_msg("%s: key \"%s\", want \"%s\"", name, d.key.p ? d.key.p : "", want_key);
        fp_buf_free(&payload);
        json_decref(c);
        n++;
    }
    assert_true(n >= 20);
    free(line);
    fclose(f);
    fp_route_decision_free(&d);
    fp_route_free(t);
}

static void test_filter_matching(void **state)
{
    (void)state;
    const struct {
        const char *filter, *topic;
        bool match;
    } c[] = {
        {"fms/+/+/+", "fms/dev-1/vehicle/kinematic", true},
        {"fms/+/+/+", "fms/dev-1/cmd", false},
        {"fms/+/+/+", "fms/dev-1/a/b/c", false},
        {"fms/#", "fms/dev-1/a/b/c", true},
        {"fms/#", "fms", true},
        {"#", "fms/x", true},
        {"+/x", "/x", true},
        {"#", "$SYS/broker/uptime", false},
        {"+/broker/uptime", "$SYS/broker/uptime", false},
        {"$SYS/#", "$SYS/broker/uptime", true},
        {"fms/dev-1/vehicle/kinematic", "fms/dev-1/vehicle/kinematic", true},
        {"fms/dev-1/vehicle/kinematic", "fms/dev-1/vehicle/kinematics", false},
        {"fms/+", "fms/", true},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        if (fp_route_topic_matches(c[i].filter, c[i].topic) != c[i].match)
            fail_msg("%s vs %s: want %d", c[i].filter, c[i].topic, c[i].match);
}

static fp_route_table *load_text(const char *text, fp_err *err)
{
    char path[] = "/tmp/fp-route-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    fp_route_table *t = fp_route_load(path, objects, err);
    remove(path);
    return t;
}

static void test_templates(void **state)
{
    (void)state;
    fp_err err = {0};
    fp_route_table *t = load_text(
        "{\"rules\":[{\"filter\":\"fleet/+/+/+/+\",\"topic\":\"raw.${topic.1}.${object}_${type}\","
        "\"key\":\"${id}/${device_id}\",\"device_segment\":2}],\"deadletter_topic\":\"dlq\","
        "\"max_message_bytes\":200}",
        &err);
    if (!t)
        fail_msg("%s", err.msg);
    assert_int_equal(fp_route_max_bytes(t), 200);
    assert_string_equal(fp_route_filters(t)[0], "fleet/+/+/+/+");
    assert_null(fp_route_filters(t)[1]);
    fp_route_decision d;
    fp_route_decision_init(&d);
    const char *msg = "{\"object\":\"cargo\",\"type\":\"temperature\",\"id\":42,\"device_id\":"
                      "\"dev-42\",\"messaged_at\":\"2023-01-01T00:00:00Z\",\"seq\":1}";
    fp_route_message(t, "fleet/kr/dev-42/cargo/temperature", msg, strlen(msg), strlen(msg), &d);
    assert_false(d.dead_letter);
    assert_string_equal(d.topic.p, "raw.kr.cargo_temperature");
    assert_string_equal(d.key.p, "42/dev-42");
    fp_route_message(t, "fleet/kr/dev-43/cargo/temperature", msg, strlen(msg), strlen(msg), &d);
    assert_true(d.dead_letter);
    assert_string_equal(d.topic.p, "dlq");
    assert_string_equal(d.key.p, "dev-43");
    fp_route_free(t);

    /* Rendered names Kafka would refuse, and segments the topic lacks, are dead letters. */
    t = load_text("{\"rules\":[{\"filter\":\"fms/#\",\"topic\":\"fms.${type}.${topic.4}\"}]}",
                  &err);
    if (!t)
        fail_msg("%s", err.msg);
    const char *bad = "{\"object\":\"cargo\",\"type\":\"a b\",\"id\":42,\"device_id\":"
                      "\"dev-42\",\"messaged_at\":\"2023-01-01T00:00:00Z\",\"seq\":1}";
    fp_route_message(t, "fms/dev-42/cargo/a/x", bad, strlen(bad), strlen(bad), &d);
    assert_true(d.dead_letter);
    assert_string_equal(d.error_class, "bad_route");
    assert_non_null(strstr(d.error_message.p, "not a valid Kafka topic"));
    assert_string_equal(d.key.p, "dev-42");
    fp_route_message(t, "fms/dev-42/cargo/temperature", msg, strlen(msg), strlen(msg), &d);
    assert_true(d.dead_letter);
    assert_string_equal(d.error_class, "bad_route");
    assert_non_null(strstr(d.error_message.p, "${topic.N}"));
    fp_route_message(t, "fms/dev-42/cargo/temperature/x", msg, strlen(msg), strlen(msg), &d);
    assert_false(d.dead_letter);
    assert_string_equal(d.topic.p, "fms.temperature.x");
    fp_route_decision_free(&d);
    fp_route_free(t);
}

static void test_rules_errors(void **state)
{
    (void)state;
    const struct {
        const char *text, *want;
    } c[] = {
        {"{\"rules\":[]}", "non-empty array"},
        {"{\"rules\":[{\"filter\":\"a/#/b\",\"topic\":\"t\"}]}", "wildcard"},
        {"{\"rules\":[{\"filter\":\"a/b+\",\"topic\":\"t\"}]}", "wildcard"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t.${nope}\"}]}", "${nope}"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t.${object\"}]}", "unclosed"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t\",\"extra\":1}]}", "\"extra\""},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t\"}],\"max_message_bytes\":1}",
         "max_message_bytes"},
        {"{\"rulez\":[]}", "\"rulez\""},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t.${topic.abc}\"}]}", "${topic.abc}"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t.${topic.-1}\"}]}", "${topic.-1}"},
        /* ${topic.N}: N is checked, and the error names the rule and the value. */
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t.${topic.100}\"}]}",
         "rule 0: template \"t.${topic.100}\": ${topic.100}: the topic segment must be a number "
         "0..99"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t.${topic.}\"}]}", "${topic.}: the topic"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t.${topic.+1}\"}]}", "${topic.+1}: the"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t.${topic. 1}\"}]}", "${topic. 1}: the"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t\"},{\"filter\":\"b\",\"topic\":\"t\","
         "\"key\":\"${topic.1x}\"}]}",
         "rule 1: template \"${topic.1x}\": ${topic.1x}"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t\",\"device_segment\":4294967297}]}",
         "device_segment"},
        {"{\"rules\":[{\"filter\":\"a\",\"topic\":\"t\",\"device_segment\":-2}]}",
         "device_segment"},
        {"[1]", "not a JSON object"},
        {"{\"rules\":", "line"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        fp_err err = {0};
        fp_route_table *t = load_text(c[i].text, &err);
        if (t)
            fail_msg("%s: accepted", c[i].text);
        if (err.code != FP_ERR_CONFIG || !strstr(err.msg, c[i].want))
            fail_msg("%s: \"%s\" does not mention %s", c[i].text, err.msg, c[i].want);
    }
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_filter_matching),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_rules_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
