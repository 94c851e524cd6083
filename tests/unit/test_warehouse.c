/* test_warehouse.c — the scheduler's templates and pipeline checks, case by case from
 * tests/data/warehouse/templates.jsonl ({"tmpl", "start", "end", "ds", "try", "params", then
 * "out" or "error"}) and bad_pipelines.jsonl ({"pipeline" or "text", "error"}: the pipeline is
 * refused with a message containing "error"; @DATA@ stands for tests/data/warehouse). The
 * shipped config/warehouse/pipeline.json and the test DAGs must load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/time.h"
#include "pg/tmpl.h"
#include "warehouse/sched.h"

static const char *data_dir;

static json_t *load_lines(const char *name, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/warehouse/%s", data_dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t *all = json_array();
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        if (!c)
            fail_msg("%s: %s", path, je.text);
        json_array_append_new(all, c);
    }
    fclose(f);
    *n = json_array_size(all);
    return all;
}

static int64_t ms_of(json_t *c, const char *key)
{
    const char *s = json_string_value(json_object_get(c, key));
    int64_t ms = 0;
    if (s)
        assert_int_equal(fp_time_parse_iso(s, strlen(s), &ms, NULL), FP_OK);
    return ms;
}

static void test_templates(void **state)
{
    (void)state;
    size_t n;
    json_t *cases = load_lines("templates.jsonl", &n);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cases, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        fp_pg_tmpl_ctx ctx = {
            .start_ms = ms_of(c, "start"),
            .end_ms = ms_of(c, "end"),
            .ds = json_string_value(json_object_get(c, "ds")),
            .try_number = (int)json_integer_value(json_object_get(c, "try")),
            .dag = "d",
            .task = "t",
            .params = json_object_get(c, "params"),
        };
        if (!ctx.ds)
            ctx.ds = "1970-01-01";
        fp_buf out = {0};
        fp_err err = {0};
        fp_code rc =
            fp_pg_tmpl_render(json_string_value(json_object_get(c, "tmpl")), &ctx, &out, &err);
        const char *want = json_string_value(json_object_get(c, "out"));
        const char *want_err = json_string_value(json_object_get(c, "error"));
        if (want) {
            if (rc || strcmp(out.p ? out.p : "", want))
                fail_msg("%s: got rc %d '%s' (%s), want '%s'", name, rc, out.p, err.msg, want);
        } else {
            if (rc != FP_ERR_CONFIG || !strstr(err.msg, want_err))
                fail_msg("%s: got rc %d '%s', want an error with '%s'", name, rc, err.msg,
                         want_err);
        }
        fp_buf_free(&out);
    }
    json_decref(cases);
}

/* Writes text to a temporary pipeline.json, @DATA@ replaced. */
static void write_pipeline(const char *path, const char *text)
{
    char data[1024];
    snprintf(data, sizeof data, "%s/warehouse", data_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (const char *p = text; *p;) {
        if (!strncmp(p, "@DATA@", 6)) {
            fputs(data, f);
            p += 6;
        } else {
            fputc(*p++, f);
        }
    }
    fclose(f);
}

static void test_bad_pipelines(void **state)
{
    (void)state;
    size_t n;
    json_t *cases = load_lines("bad_pipelines.jsonl", &n);
    char dir[] = "/tmp/fp-wh-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[1100];
    snprintf(path, sizeof path, "%s/pipeline.json", dir);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cases, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        char *text = json_is_string(json_object_get(c, "text"))
                         ? strdup(json_string_value(json_object_get(c, "text")))
                         : json_dumps(json_object_get(c, "pipeline"), 0);
        write_pipeline(path, text);
        free(text);
        fp_wh_pipeline *p = NULL;
        fp_err err = {0};
        fp_code rc = fp_wh_pipeline_load(path, &p, &err);
        const char *want = json_string_value(json_object_get(c, "error"));
        if (rc != FP_ERR_CONFIG || !strstr(err.msg, want))
            fail_msg("%s: got rc %d '%s', want an error with '%s'", name, rc, err.msg, want);
        assert_null(p);
    }
    unlink(path);
    rmdir(dir);
    json_decref(cases);
}

static void test_shipped_pipelines(void **state)
{
    (void)state;
    const char *files[] = {"/warehouse/sched/pipeline.json",
                           "/../../config/warehouse/pipeline.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[1100];
        snprintf(path, sizeof path, "%s%s", data_dir, files[i]);
        fp_wh_pipeline *p = NULL;
        fp_err err = {0};
        if (fp_wh_pipeline_load(path, &p, &err))
            fail_msg("%s: %s", path, err.msg);
        fp_wh_pipeline_free(p);
    }
}

int main(int argc, char **argv)
{
    static char abs_dir[4096];
    data_dir = realpath(argc > 1 ? argv[1] : "tests/data", abs_dir) ? abs_dir : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_bad_pipelines),
        cmocka_unit_test(test_shipped_pipelines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
