/* test_dynamodb.c — the dynamodb sink's record -> item conversion (sink/dynamodb/item.h), run on
 * the data-driven cases in <data>/dynamodb/cases.txt.
 *
 * A case is a block of lines: optional "ttl: ATTR FIELD DURATION_MS", then "record: JSON", then
 * "item: JSON" (the exact item text expected) and/or "size: N" (DynamoDB's item size), or
 * "error: TEXT" (conversion fails with FP_ERR_INVALID and a message containing TEXT). Lines
 * starting with '#' name the next case. {{rep:N:TEXT}} in a record stands for TEXT repeated N
 * times, so a 400 KB item is one line. Every case is printed; one failing case fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem.h"
#include "sink/dynamodb/item.h"

static const char *data_dir;

/* Appends s with {{rep:N:TEXT}} expanded. */
static void expand(const char *s, fp_buf *out)
{
    for (;;) {
        const char *d = strstr(s, "{{rep:");
        if (!d) {
            fp_buf_puts(out, s);
            return;
        }
        fp_buf_append(out, s, (size_t)(d - s));
        char *colon;
        long n = strtol(d + 6, &colon, 10);
        const char *close = strstr(colon, "}}");
        assert_non_null(close);
        assert_int_equal(*colon, ':');
        for (long i = 0; i < n; i++)
            fp_buf_append(out, colon + 1, (size_t)(close - colon - 1));
        s = close + 2;
    }
}

typedef struct tcase {
    char name[256];
    char ttl_attr[64], ttl_field[64];
    long long ttl_ms;
    fp_buf record;
    char *item, *error;
    long long size;
    int line;
} tcase;

static int run_case(tcase *c)
{
    fp_dynamodb_item_opts o = {c->ttl_attr, c->ttl_field, c->ttl_ms};
    fp_dynamodb_item it = {0};
    fp_err err = {0};
    fp_code rc = fp_dynamodb_item_from_json(&o, c->record.p, c->record.len, &it, &err);
    int bad = 0;
    if (c->error) {
        if (rc != FP_ERR_INVALID || !strstr(err.msg, c->error)) {
            printf("  FAIL line %d: want error containing '%s', got code %d '%s'\n", c->line,
                   c->error, rc, rc ? err.msg : it.json.p);
            bad = 1;
        }
    } else if (rc) {
        printf("  FAIL line %d: unexpected error %s\n", c->line, err.msg);
        bad = 1;
    } else {
        if (c->item && strcmp(c->item, it.json.p)) {
            printf("  FAIL line %d:\n    want %s\n    got  %s\n", c->line, c->item, it.json.p);
            bad = 1;
        }
        if (c->size >= 0 && (long long)it.size != c->size) {
            printf("  FAIL line %d: size %zu, want %lld\n", c->line, it.size, c->size);
            bad = 1;
        }
    }
    printf("%s %s\n", bad ? "FAIL" : "ok  ", c->name);
    fp_dynamodb_item_free(&it);
    return bad;
}

static void reset_case(tcase *c)
{
    fp_buf_free(&c->record);
    free(c->item);
    free(c->error);
    memset(c, 0, sizeof *c);
    c->size = -1;
}

static void test_cases(void **state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/dynamodb/cases.txt", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    tcase c = {0};
    reset_case(&c);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, failed = 0, ran = 0;
    char pending_name[256] = "";
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (!n) {
            if (c.record.p) {
                failed += run_case(&c);
                ran++;
            }
            reset_case(&c);
            continue;
        }
        if (line[0] == '#') {
            snprintf(pending_name, sizeof pending_name, "%s", line + 2);
        } else if (!strncmp(line, "ttl: ", 5)) {
            assert_int_equal(sscanf(line + 5, "%63s %63s %lld", c.ttl_attr, c.ttl_field, &c.ttl_ms),
                             3);
        } else if (!strncmp(line, "record: ", 8)) {
            expand(line + 8, &c.record);
            c.line = lineno;
            snprintf(c.name, sizeof c.name, "line %d: %.200s", lineno, pending_name);
        } else if (!strncmp(line, "item: ", 6)) {
            c.item = strdup(line + 6);
        } else if (!strncmp(line, "error: ", 7)) {
            c.error = strdup(line + 7);
        } else if (!strncmp(line, "size: ", 6)) {
            c.size = atoll(line + 6);
        } else {
            fail_msg("%s:%d: unknown line '%s'", path, lineno, line);
        }
    }
    if (c.record.p) {
        failed += run_case(&c);
        ran++;
    }
    reset_case(&c);
    free(line);
    fclose(f);
    printf("%d cases, %d failed\n", ran, failed);
    assert_true(ran >= 20);
    assert_int_equal(failed, 0);
}

/* Numbers on their own: storage size as DynamoDB (and dynalite) count it. */
static void test_number_sizes(void **state)
{
    static const struct {
        const char *n;
        size_t size;
    } ok[] = {
        /* the figures dynalite's itemSize() gives for {"x":{"N":..}} minus the name */
        {"0", 1},   {"-0.000", 1}, {"7", 2},    {"-7", 3},     {"10", 2},
        {"12", 2},  {"1.5", 3},    {"123", 3},  {"1234", 3},   {"30.50", 3},
        {"1e5", 2}, {"100", 2},    {"0.01", 2}, {"1E-130", 2}, {"9.9e125", 2},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        size_t sz = 0;
        fp_err err = {0};
        if (fp_dynamodb_number_check(ok[i].n, strlen(ok[i].n), &sz, &err))
            fail_msg("%s: %s", ok[i].n, err.msg);
        if (sz != ok[i].size)
            fail_msg("%s: size %zu, want %zu", ok[i].n, sz, ok[i].size);
    }
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_number_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
