/* test_redis.c — the redis sink's pure parts: redis:// URLs (tests/data/redis/urls.tsv), one
 * record to the arguments of one EVALSHA (tests/data/redis/map.jsonl: value mapping, field
 * selection, every conversion error), the same inputs mutated at random (valid JSON must map or
 * be refused, never crash: run it under ASan), config checks, and the plugin's create() refusing
 * bad configs without ever echoing a password. The server side is tested by
 * tests/integration/redis_sink.sh against a real redis-server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "connect/sink.h"
#include "core/json.h"
#include "sink/redis/redis.h"

static const char *data_dir;

static void test_url_cases(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/redis/urls.tsv", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *url = strtok(line, "\t"), *host = strtok(NULL, "\t"), *port = strtok(NULL, "\t"),
             *db = strtok(NULL, "\t"), *user = strtok(NULL, "\t"), *pw = strtok(NULL, "\t");
        assert_non_null(port);
        fp_redis_url u;
        fp_err err = {0};
        fp_code rc = fp_redis_url_parse(url, &u, &err);
        if (!strcmp(host, "ERROR")) {
            if (rc != FP_ERR_CONFIG)
                fail_msg("%s: accepted", url);
            if (!strstr(err.msg, port))
                fail_msg("%s: message '%s' lacks '%s'", url, err.msg, port);
            if (strstr(err.msg, "hunter2"))
                fail_msg("%s: message '%s' shows the password", url, err.msg);
        } else {
            if (rc)
                fail_msg("%s: %s", url, err.msg);
            assert_non_null(pw);
            assert_string_equal(u.host, host);
            assert_int_equal(u.port, atoi(port));
            assert_int_equal(u.db, atoi(db));
            if (strcmp(user, "-"))
                assert_string_equal(u.user, user);
            else
                assert_null(u.user);
            if (strcmp(pw, "-"))
                assert_string_equal(u.password, pw);
            else
                assert_null(u.password);
            fp_redis_url_free(&u);
        }
        cases++;
    }
    fclose(f);
    assert_true(cases >= 10);
}

static const char *conf_str(json_t *c, const char *key, const char *dflt)
{
    json_t *v = c ? json_object_get(c, key) : NULL;
    return v ? json_string_value(v) : dflt;
}

static void test_map_cases(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/redis/map.jsonl", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    int cases = 0;
    fp_redis_args a = {0};
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        if (!c)
            fail_msg("map.jsonl line %d: %s", cases + 1, je.text);
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *cf = json_object_get(c, "config");
        fp_strv fields = {0};
        fp_strv_split(&fields, conf_str(cf, "fields", ""), ',');
        fp_redis_map_conf mc = {conf_str(cf, "id_field", "id"),
                                conf_str(cf, "ts_field", "timestamp_iso"),
                                &fields,
                                conf_str(cf, "key_prefix", "vehicle:"),
                                conf_str(cf, "geo_key", "fleet:positions"),
                                "lat",
                                "lng",
                                conf_str(cf, "channel", "fleet:updates"),
                                conf_str(cf, "stream", ""),
                                1000,
                                conf_str(cf, "index", ""),
                                conf_str(cf, "suffix", "")};
        fp_err err = {0};
        assert_int_equal(fp_redis_map_conf_check(&mc, &err), FP_OK);
        const char *in = json_string_value(json_object_get(c, "in"));
        fp_redis_args_reset(&a);
        int64_t ts = -1;
        fp_code rc = fp_redis_map(&mc, in, strlen(in), &a, &ts, &err);
        json_t *want_err = json_object_get(c, "error");
        if (want_err) {
            if (rc != FP_ERR_INVALID && rc != FP_ERR_LIMIT)
                fail_msg("%s: accepted", name);
            if (!strstr(err.msg, json_string_value(want_err)))
                fail_msg("%s: message '%s' lacks '%s'", name, err.msg, json_string_value(want_err));
            /* validation alone (check()) gives the same answer */
            fp_err err2 = {0};
            assert_int_equal(fp_redis_map(&mc, in, strlen(in), NULL, &ts, &err2), rc);
        } else {
            if (rc)
                fail_msg("%s: %s", name, err.msg);
            assert_int_equal(ts, json_integer_value(json_object_get(c, "ts")));
            json_t *want = json_object_get(c, "args");
            fp_redis_args_seal(&a);
            if (json_array_size(want) != a.n)
                fail_msg("%s: %zu arguments, want %zu", name, a.n, json_array_size(want));
            for (size_t i = 0; i < a.n; i++) {
                const char *w = json_string_value(json_array_get(want, i));
                if (strlen(w) != a.argvlen[i] || memcmp(w, a.argv[i], a.argvlen[i]))
                    fail_msg("%s: argument %zu is '%.*s', want '%s'", name, i, (int)a.argvlen[i],
                             a.argv[i], w);
            }
            int64_t ts2 = -1;
            assert_int_equal(fp_redis_map(&mc, in, strlen(in), NULL, &ts2, &err), FP_OK);
            assert_int_equal(ts2, ts);
        }
        fp_strv_free(&fields);
        json_decref(c);
        cases++;
    }
    fp_redis_args_free(&a);
    fclose(f);
    assert_true(cases >= 20);
}

/* Hostile sizes: more fields than the limit is a limit error, never a crash. */
static void test_map_limits(void **state)
{
    (void)state;
    fp_buf b = FP_BUF_INIT;
    fp_buf_puts(&b, "{\"id\":1,\"timestamp_iso\":1");
    for (int i = 0; i <= FP_REDIS_FIELDS_MAX; i++)
        fp_buf_printf(&b, ",\"f%d\":%d", i, i);
    fp_buf_putc(&b, '}');
    fp_strv none = {0};
    fp_redis_map_conf mc = {"id", "timestamp_iso", &none, "v:", "", "lat", "lng", "", "", 0, "",
                            ""};
    fp_err err = {0};
    int64_t ts;
    assert_int_equal(fp_redis_map(&mc, b.p, b.len, NULL, &ts, &err), FP_ERR_LIMIT);
    fp_buf_free(&b);
}

/* Hostile input: every case's record, mutated (bytes replaced by JSON-significant ones,
 * removed, duplicated) thousands of times; whatever is still valid JSON (the runtime only
 * hands over validated records) must map or be refused with INVALID/LIMIT. */
static void test_map_fuzz(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/redis/map.jsonl", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static const char pool[] = "{}[]\":,\\0123456789.eE-+ tfnulra\x01\xc3\xa9\xff";
    unsigned seed = 12345;
    char line[8192];
    int valid = 0, mapped = 0;
    fp_strv none = {0};
    fp_redis_map_conf mc = {"id", "timestamp_iso", &none, "v:", "g", "lat", "lng", "c", "", 0, "",
                            ""};
    fp_redis_args a = {0};
    fp_buf m = FP_BUF_INIT;
    while (fgets(line, sizeof line, f)) {
        json_t *c = json_loads(line, 0, NULL);
        assert_non_null(c);
        const char *in = json_string_value(json_object_get(c, "in"));
        size_t n = strlen(in);
        for (int k = 0; k < 400; k++) {
            fp_buf_reset(&m);
            fp_buf_append(&m, in, n);
            int edits = 1 + (int)(rand_r(&seed) % 3);
            for (int e = 0; e < edits && m.len; e++) {
                size_t at = (size_t)rand_r(&seed) % m.len;
                int op = rand_r(&seed) % 3;
                if (op == 0) {
                    m.p[at] = pool[(size_t)rand_r(&seed) % (sizeof pool - 1)];
                } else if (op == 1) {
                    memmove(m.p + at, m.p + at + 1, m.len - at - 1);
                    m.len--;
                } else {
                    size_t l = 1 + (size_t)rand_r(&seed) % 16;
                    if (at + l > m.len)
                        l = m.len - at;
                    fp_buf_append(&m, m.p + at, l); /* copy a run to the end */
                }
            }
            if (fp_json_validate(m.p, m.len, NULL))
                continue;
            valid++;
            fp_redis_args_reset(&a);
            fp_err err = {0};
            int64_t ts;
            fp_code rc = fp_redis_map(&mc, m.p, m.len, &a, &ts, &err);
            if (rc == FP_OK) {
                mapped++;
                fp_redis_args_seal(&a);
                if (a.n < 12 || (a.n - 12) % 2) /* numkeys, 4 keys, 7 ARGV, pairs */
                    fail_msg("%.*s: %zu arguments", (int)m.len, m.p, a.n);
            } else if (rc != FP_ERR_INVALID && rc != FP_ERR_LIMIT) {
                fail_msg("%.*s: code %d", (int)m.len, m.p, rc);
            }
        }
        json_decref(c);
    }
    fclose(f);
    fp_buf_free(&m);
    fp_redis_args_free(&a);
    assert_true(valid > 500 && mapped > 100);
}

static void test_conf_check(void **state)
{
    (void)state;
    static const struct {
        const char *fields, *geo, *want;
    } cases[] = {
        {"speed,lat,lng", "g", NULL},
        {"speed", "", NULL},
        {"speed", "g", "must include 'lat' and 'lng'"},
        {"speed,id", "", "is the id or timestamp field"},
        {"timestamp_iso", "", "is the id or timestamp field"},
        {"ts", "", "would clash"},
        {"a:ts", "", "would clash"},
        {"a,a", "", "listed twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fp_strv fields = {0};
        fp_strv_split(&fields, cases[i].fields, ',');
        fp_redis_map_conf mc = {
            "id", "timestamp_iso", &fields, "v:", cases[i].geo, "lat", "lng", "", "", 0, "", ""};
        fp_err err = {0};
        fp_code rc = fp_redis_map_conf_check(&mc, &err);
        if (!cases[i].want && rc)
            fail_msg("%s: %s", cases[i].fields, err.msg);
        if (cases[i].want && (rc != FP_ERR_CONFIG || !strstr(err.msg, cases[i].want)))
            fail_msg("%s: got '%s', want '%s'", cases[i].fields, err.msg, cases[i].want);
        fp_strv_free(&fields);
    }
}

/* The plugin: a bad URL is a config error that never shows the password; a good config
 * creates an instance without touching the network (create() runs at validation time too). */
static void test_plugin_create(void **state)
{
    (void)state;
    const fp_sink_plugin *p = fp_sink_find("redis");
    assert_non_null(p);
    assert_ptr_equal(fp_sink_find("io.fleetpipe.connect.RedisSinkConnector"), p);
    fp_sink_stats st = {0};
    fp_sink_ctx ctx = {.connector = "t", .task = 0, .stats = &st};

    fp_props props;
    fp_props_init(&props);
    fp_props_set(&props, "redis.url", "redis://:hunter2@127.0.0.1:notaport/0");
    void *s = NULL;
    fp_err err = {0};
    assert_int_equal(p->create(&props, &ctx, &s, &err), FP_ERR_CONFIG);
    assert_null(strstr(err.msg, "hunter2"));
    fp_props_free(&props);

    fp_props_init(&props);
    fp_props_set(&props, "redis.url", "redis://127.0.0.1:1/0");
    fp_props_set(&props, "redis.fields", "speed");
    assert_int_equal(p->create(&props, &ctx, &s, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "must include"));
    fp_props_free(&props);

    fp_props_init(&props);
    fp_props_set(&props, "redis.url", "redis://127.0.0.1:1/0");
    fp_props_set(&props, "redis.connect.timeout.ms", "200");
    fp_props_set(&props, "redis.reconnect.backoff.max.ms", "10s");
    assert_int_equal(p->create(&props, &ctx, &s, &err), FP_OK);
    assert_int_equal(fp_props_check_used(&props, "test", &err), FP_OK);
    /* Nobody listens on port 1: RETRY, and the second attempt waits for the backoff instead
     * of hammering the server. */
    const char *rec = "{\"id\":1,\"timestamp_iso\":1,\"v\":1}";
    fp_sink_rec r = {"t", 0, 0, -1, NULL, 0, rec, strlen(rec), -1, NULL, 0, NULL, 0};
    assert_int_equal(p->check(s, &r, &err), FP_OK);
    assert_int_equal(r.sink_ts, 1);
    assert_int_equal(p->put(s, &r, 1, &err), FP_SINK_RETRY);
    assert_non_null(strstr(err.msg, "127.0.0.1:1/0"));
    assert_int_equal(p->put(s, &r, 1, &err), FP_SINK_RETRY);
    assert_non_null(strstr(err.msg, "next attempt in"));
    assert_int_equal(p->uncommitted_from(s, "t", 0), INT64_MAX);
    p->destroy(s);
    p->destroy(NULL);
    fp_props_free(&props);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_cases),  cmocka_unit_test(test_map_cases),
        cmocka_unit_test(test_map_limits), cmocka_unit_test(test_map_fuzz),
        cmocka_unit_test(test_conf_check), cmocka_unit_test(test_plugin_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
