/* test_props.c — properties, config tables and the command-line parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "core/props.h"

typedef struct opts {
    char *name, *mode;
    int64_t size, wait;
    bool verbose;
    fp_strv files;
} opts;

static const fp_conf_def defs[] = {
    {"name", FP_CONF_STRING, NULL, offsetof(opts, name), "a name", NULL, 0, 0},
    {"mode", FP_CONF_ENUM, "fast", offsetof(opts, mode), "mode", "fast|safe", 0, 0},
    {"size", FP_CONF_INT, "10", offsetof(opts, size), "size", NULL, 1, 100},
    {"wait", FP_CONF_MS, "1s", offsetof(opts, wait), "wait", NULL, 0, 0},
    {"verbose", FP_CONF_BOOL, NULL, offsetof(opts, verbose), "verbose", NULL, 0, 0},
    {"file", FP_CONF_LIST, NULL, offsetof(opts, files), "files", NULL, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static const fp_cmd cmd = {"t", "test", "usage", defs, sizeof(opts), NULL};

static fp_code load(fp_props *p, const char *json, fp_err *err)
{
    fp_props_init(p);
    return fp_props_load_json(p, json, strlen(json), "test.json", err);
}

static void test_json_types(void **state)
{
    (void)state;
    fp_props p;
    fp_err err = {0};
    assert_int_equal(
        load(&p, "{\"a\":\"x\",\"b\":5,\"c\":true,\"d\":1.5,\"e\":[\"p\",\"q\"]}", &err), FP_OK);
    assert_string_equal(fp_props_get(&p, "a"), "x");
    assert_string_equal(fp_props_get(&p, "b"), "5");
    assert_string_equal(fp_props_get(&p, "c"), "true");
    assert_string_equal(fp_props_get(&p, "d"), "1.5");
    assert_string_equal(fp_props_get(&p, "e"), "p,q");
    assert_null(fp_props_get(&p, "zzz"));
    fp_props_free(&p);
}

static void test_json_errors_name_place(void **state)
{
    (void)state;
    fp_props p;
    fp_err err = {0};
    assert_int_equal(load(&p, "{\"a\": {\"nested\": 1}}", &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "'a'"));
    fp_props_free(&p);
    assert_int_equal(load(&p, "{\"a\": 1,}", &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "test.json: line 1"));
    fp_props_free(&p);
    assert_int_equal(load(&p, "{\"a\":1,\"a\":2}", &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "duplicate"));
    fp_props_free(&p);
}

static void test_connect_rest_shape(void **state)
{
    (void)state;
    fp_props p;
    fp_err err = {0};
    assert_int_equal(load(&p, "{\"name\":\"raw\",\"config\":{\"topics\":\"fms.vehicle\"}}", &err),
                     FP_OK);
    assert_string_equal(fp_props_get(&p, "name"), "raw");
    assert_string_equal(fp_props_get(&p, "topics"), "fms.vehicle");
    fp_props_free(&p);
}

static void test_conf_apply_and_unknown_key(void **state)
{
    (void)state;
    fp_props p;
    fp_err err = {0};
    opts o = {0};
    assert_int_equal(load(&p,
                          "{\"name\":\"n\",\"size\":\"42\",\"wait\":\"5m\",\"file\":\" a, ,b \","
                          "\"typo\":1}",
                          &err),
                     FP_OK);
    assert_int_equal(fp_conf_apply(defs, &p, NULL, &o, &err), FP_OK);
    assert_string_equal(o.name, "n");
    assert_string_equal(o.mode, "fast");
    assert_int_equal(o.size, 42);
    assert_int_equal(o.wait, 300000);
    assert_false(o.verbose);
    assert_int_equal(o.files.n, 2);
    assert_string_equal(o.files.v[1], "b");
    assert_int_equal(fp_props_check_used(&p, "connector x", &err), FP_ERR_CONFIG);
    assert_string_equal(err.msg, "connector x: unknown key 'typo'");
    fp_conf_free(defs, &o);
    fp_props_free(&p);
}

static void test_conf_bad_values(void **state)
{
    (void)state;
    static const char *bad[][2] = {
        {"{\"name\":\"n\",\"size\":\"0\"}", "outside 1..100"},
        {"{\"name\":\"n\",\"size\":\"12x\"}", "not an integer"},
        {"{\"name\":\"n\",\"mode\":\"slow\"}", "not one of fast|safe"},
        {"{\"name\":\"n\",\"wait\":\"3 weeks\"}", "not a duration"},
        {"{\"name\":\"n\",\"verbose\":\"yes\"}", "not true or false"},
        {"{}", "missing required key 'name'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_props p;
        fp_err err = {0};
        opts o = {0};
        assert_int_equal(load(&p, bad[i][0], &err), FP_OK);
        assert_int_equal(fp_conf_apply(defs, &p, NULL, &o, &err), FP_ERR_CONFIG);
        if (!strstr(err.msg, bad[i][1]))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err.msg, bad[i][1]);
        fp_conf_free(defs, &o);
        fp_props_free(&p);
    }
}

static void collect(void *ctx, const char *key, const char *msg)
{
    char *out = ctx;
    strcat(out, key);
    strcat(out, "=");
    strcat(out, strstr(msg, "not") ? "bad" : "missing");
    strcat(out, ";");
}

/* The validate endpoint needs every bad key, not the first. */
static void test_conf_apply_each(void **state)
{
    (void)state;
    fp_props p;
    fp_err err = {0};
    opts o = {0};
    char got[512] = "";
    assert_int_equal(load(&p, "{\"size\":\"x\",\"mode\":\"slow\",\"verbose\":\"yes\"}", &err),
                     FP_OK);
    assert_int_equal(fp_conf_apply_each(defs, &p, NULL, &o, collect, got), 4);
    assert_string_equal(got, "name=missing;mode=bad;size=bad;verbose=bad;");
    fp_conf_free(defs, &o);
    fp_props_free(&p);
}

static void test_cli_parse(void **state)
{
    (void)state;
    char *argv[] = {"t",      "--name", "x",      "--verbose", "--size=7",
                    "--file", "a",      "--file", "b",         NULL};
    opts o = {0};
    fp_err err = {0};
    int help;
    assert_int_equal(fp_cli_parse(&cmd, 9, argv, &o, NULL, &help, &err), FP_OK);
    assert_false(help);
    assert_string_equal(o.name, "x");
    assert_true(o.verbose);
    assert_int_equal(o.size, 7);
    assert_int_equal(o.files.n, 2);
    fp_conf_free(defs, &o);

    char *argv2[] = {"t", "--name", "x", "--colour", "red", NULL};
    memset(&o, 0, sizeof o);
    assert_int_equal(fp_cli_parse(&cmd, 5, argv2, &o, NULL, &help, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "unknown flag '--colour'"));
    fp_conf_free(defs, &o);

    char *argv3[] = {"t", "--name", NULL};
    memset(&o, 0, sizeof o);
    assert_int_equal(fp_cli_parse(&cmd, 2, argv3, &o, NULL, &help, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "needs a value"));
    fp_conf_free(defs, &o);
}

static void test_parse_ms(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(fp_parse_ms("250", &v), FP_OK);
    assert_int_equal(v, 250);
    assert_int_equal(fp_parse_ms("1.5s", &v), FP_OK);
    assert_int_equal(v, 1500);
    assert_int_equal(fp_parse_ms("1h", &v), FP_OK);
    assert_int_equal(v, 3600000);
    assert_int_equal(fp_parse_ms("-1", &v), FP_ERR_CONFIG);
    assert_int_equal(fp_parse_ms("5x", &v), FP_ERR_CONFIG);
}

static void test_err_prefix(void **state)
{
    (void)state;
    fp_err err;
    fp_err_set(&err, FP_ERR_INVALID, "field ${id}: missing");
    fp_err_prefix(&err, "transform %s", "pk");
    assert_string_equal(err.msg, "transform pk: field ${id}: missing");
    assert_int_equal(err.code, FP_ERR_INVALID);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    fp_err_prefix(&err, "%s", big); /* truncated, never overflowed */
    assert_int_equal(strlen(err.msg), FP_ERR_MSG_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_types),
        cmocka_unit_test(test_json_errors_name_place),
        cmocka_unit_test(test_connect_rest_shape),
        cmocka_unit_test(test_conf_apply_and_unknown_key),
        cmocka_unit_test(test_conf_bad_values),
        cmocka_unit_test(test_conf_apply_each),
        cmocka_unit_test(test_cli_parse),
        cmocka_unit_test(test_parse_ms),
        cmocka_unit_test(test_err_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
