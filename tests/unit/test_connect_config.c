/* test_connect_config.c — connector validation before anything starts: data-driven cases
 * (tests/data/connect/config_errors.tsv) of valid connectors and of errors that must name the
 * offending key or value. No broker needed: fp_connect_add() only validates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connect/connect.h"
#include "core/mem.h"

static const char *data_dir;

static void test_config_cases(void **state)
{
    (void)state;
    char dir[] = "/tmp/fp-connect-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/connect/config_errors.tsv", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fp_connect_opts o = {"127.0.0.1:9", 0, 0, 1, false, NULL, NULL, false, 0};
    fp_connect *c = fp_connect_new(&o);
    char line[4096];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        const char *want = tab + 1;
        fp_buf json = FP_BUF_INIT;
        for (const char *p = line; *p; p++) {
            if (!strncmp(p, "@DIR@", 5)) {
                fp_buf_puts(&json, dir);
                p += 4;
            } else {
                fp_buf_putc(&json, *p);
            }
        }
        fp_props props;
        fp_props_init(&props);
        fp_err err = {0};
        fp_code rc = fp_props_load_json(&props, json.p, json.len, "case", &err);
        if (!rc)
            rc = fp_connect_add(c, &props, &err);
        fp_props_free(&props);
        if (!want[0] && rc)
            fail_msg("%s: rejected: %s", json.p, err.msg);
        if (want[0] && (rc != FP_ERR_CONFIG || !strstr(err.msg, want)))
            fail_msg("%s: want an error with \"%s\", got %d \"%s\"", json.p, want, rc,
                     rc ? err.msg : "");
        fp_buf_free(&json);
        cases++;
    }
    fclose(f);
    assert_true(cases >= 15);
    fp_connect_free(c);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
