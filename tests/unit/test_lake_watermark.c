/* test_lake_watermark.c — the lake watermark's rules (lake/watermark.c, docs/lake.md
 * "Watermark") as pure functions: which names are sources, min over sources less the lateness,
 * forward only, a re-conversion changes nothing, late rows counted once, idle sources do not hold
 * it back, a known source that converted nothing holds it, tables follow only their topics,
 * dead-letter sources hold only the dead-letter table (never the lake-wide value); and the round
 * trip through a file:// lake to fp_lake_watermark_read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/time.h"
#include "lake/lake_int.h"

#define MIN 60000
#define LATE (10 * MIN)
#define IDLE (60 * MIN)

static int64_t t(const char *iso)
{
    int64_t ms = 0;
    assert_int_equal(fp_time_parse_iso(iso, strlen(iso), &ms, NULL), FP_OK);
    return ms;
}

static void test_source_names(void **state)
{
    (void)state;
    fp_buf s = FP_BUF_INIT, tp = FP_BUF_INIT;
    int32_t p = -1;
    int64_t off = -1;
    assert_true(fp_lake_wm_source_of(
        "raw/fms.vehicle/dt=2026-03-03/hour=10/fms.vehicle+3+00000000000000001000.jsonl.zst", &s,
        &tp, &p, &off));
    assert_string_equal(s.p, "fms.vehicle+3");
    assert_string_equal(tp.p, "fms.vehicle");
    assert_int_equal(p, 3);
    assert_int_equal(off, 1000);
    assert_true(fp_lake_wm_source_of("fms.cargo+12+00000000000000000000.jsonl", &s, &tp, &p, &off));
    assert_string_equal(s.p, "fms.cargo+12");
    /* hand-made names are no source */
    assert_false(fp_lake_wm_source_of("raw/edge.jsonl", NULL, NULL, NULL, NULL));
    assert_false(fp_lake_wm_source_of("fms.vehicle+0+123.jsonl", NULL, NULL, NULL, NULL));
    assert_false(fp_lake_wm_source_of("+0+00000000000000000000.jsonl", NULL, NULL, NULL, NULL));
    assert_false(fp_lake_wm_source_of("a+b+00000000000000000000.jsonl", NULL, NULL, NULL, NULL));
    assert_false(fp_lake_wm_source_of("x+1+0000000000000000000a.jsonl", NULL, NULL, NULL, NULL));
    fp_buf_free(&s);
    fp_buf_free(&tp);
}

/* One conversion of source topic+part at offset whose rows reach newest, into table. */
static void convert(json_t *doc, const char *topic, int part, int64_t offset, int64_t newest,
                    const char *table, int64_t late, int64_t now)
{
    char src[64];
    snprintf(src, sizeof src, "%s+%d", topic, part);
    fp_lake_wm_table_update tu = {table, late};
    fp_lake_wm_update u = {.source = src,
                           .topic = topic,
                           .object = "o",
                           .partition = part,
                           .offset = offset,
                           .newest_ms = newest,
                           .tables = &tu,
                           .ntables = 1};
    fp_lake_wm_apply(doc, &u, now);
    fp_lake_wm_recompute(doc, now, LATE, IDLE);
}

static void test_min_forward_replay(void **state)
{
    (void)state;
    int64_t now = t("2026-03-03T12:00:00Z");
    json_t *d = fp_lake_wm_new_doc();
    assert_true(fp_lake_wm_table(d, NULL) == INT64_MIN);
    convert(d, "fms.vehicle", 0, 0, t("2026-03-03T10:30:00Z"), "vehicle_kinematic", 0, now);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T10:20:00Z"));
    convert(d, "fms.vehicle", 1, 0, t("2026-03-03T10:15:00Z"), "vehicle_kinematic", 0, now);
    /* min over sources, but never back */
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T10:20:00Z"));
    assert_true(fp_lake_wm_table(d, NULL) == t("2026-03-03T10:20:00Z"));
    convert(d, "fms.vehicle", 1, 100, t("2026-03-03T10:50:00Z"), "vehicle_kinematic", 0, now);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T10:20:00Z"));
    convert(d, "fms.vehicle", 0, 100, t("2026-03-03T11:00:00Z"), "vehicle_kinematic", 0, now);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T10:40:00Z"));
    /* converting the first object again: a replay, nothing moves */
    assert_true(fp_lake_wm_is_replay(d, "fms.vehicle+0", 0));
    assert_false(fp_lake_wm_is_replay(d, "fms.vehicle+0", 101));
    assert_false(fp_lake_wm_is_replay(d, "fms.vehicle+9", 0));
    char *before = json_dumps(json_object_get(d, "tables"), JSON_SORT_KEYS);
    convert(d, "fms.vehicle", 0, 0, t("2026-03-03T10:30:00Z"), "vehicle_kinematic", 0, now);
    char *after = json_dumps(json_object_get(d, "tables"), JSON_SORT_KEYS);
    assert_string_equal(before, after);
    free(before);
    free(after);
    json_t *s0 = json_object_get(json_object_get(d, "sources"), "fms.vehicle+0");
    assert_int_equal(json_integer_value(json_object_get(s0, "objects")), 2);
    assert_int_equal(json_integer_value(json_object_get(s0, "last_offset")), 100);
    json_decref(d);
}

static void test_tables_and_topics(void **state)
{
    (void)state;
    int64_t now = t("2026-03-03T12:00:00Z");
    json_t *d = fp_lake_wm_new_doc();
    convert(d, "fms.vehicle", 0, 0, t("2026-03-03T11:00:00Z"), "vehicle_kinematic", 0, now);
    convert(d, "fms.cargo", 0, 0, t("2026-03-03T10:00:00Z"), "cargo_temperature", 0, now);
    /* a lagging topic holds its own tables, not the other topics'; the lake's watermark had
     * moved before fms.cargo was known and does not go back (an unknown source holds nothing) */
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T10:50:00Z"));
    assert_true(fp_lake_wm_table(d, "cargo_temperature") == t("2026-03-03T09:50:00Z"));
    assert_true(fp_lake_wm_table(d, NULL) == t("2026-03-03T10:50:00Z"));
    /* a rare table (one row, long ago) follows its topic's progress, not its own rows */
    convert(d, "fms.vehicle", 0, 10, t("2026-03-03T09:00:00Z"), "vehicle_event", 1, now);
    convert(d, "fms.vehicle", 0, 20, t("2026-03-03T11:30:00Z"), "vehicle_kinematic", 0, now);
    assert_true(fp_lake_wm_table(d, "vehicle_event") == t("2026-03-03T11:20:00Z"));
    /* late rows add up per table and lake-wide */
    json_t *ev = json_object_get(json_object_get(d, "tables"), "vehicle_event");
    assert_int_equal(json_integer_value(json_object_get(ev, "late_rows")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "late_rows")), 1);
    assert_true(fp_lake_wm_table(d, "no_such_table") == INT64_MIN);
    json_decref(d);
}

static void test_idle_and_registered(void **state)
{
    (void)state;
    int64_t now = t("2026-03-03T12:00:00Z");
    json_t *d = fp_lake_wm_new_doc();
    /* a registered source that converted nothing holds the watermark at unknown */
    fp_lake_wm_update reg = {
        .source = "fms.vehicle+1", .topic = "fms.vehicle", .partition = 1, .register_only = true};
    fp_lake_wm_apply(d, &reg, now);
    convert(d, "fms.vehicle", 0, 0, t("2026-03-03T11:00:00Z"), "vehicle_kinematic", 0, now);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == INT64_MIN);
    convert(d, "fms.vehicle", 1, 0, t("2026-03-03T10:00:00Z"), "vehicle_kinematic", 0, now);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T09:50:00Z"));
    /* partition 1 goes quiet: for an hour it holds the watermark, then it is idle */
    int64_t later = now + IDLE;
    convert(d, "fms.vehicle", 0, 10, t("2026-03-03T12:00:00Z"), "vehicle_kinematic", 0, later);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T09:50:00Z"));
    convert(d, "fms.vehicle", 0, 20, t("2026-03-03T12:10:00Z"), "vehicle_kinematic", 0, later + 1);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T12:00:00Z"));
    /* it comes back with old rows: the watermark does not go back */
    convert(d, "fms.vehicle", 1, 10, t("2026-03-03T10:05:00Z"), "vehicle_kinematic", 3, later + 2);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T12:00:00Z"));
    /* every source idle: it holds */
    fp_lake_wm_recompute(d, later + 10 * IDLE, LATE, IDLE);
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T12:00:00Z"));
    json_decref(d);
}

static void test_deadletter_sources(void **state)
{
    (void)state;
    int64_t now = t("2026-03-03T12:00:00Z");
    json_t *d = fp_lake_wm_new_doc();
    /* a dead-letter partition registered before anything converted: it does not hold the lake */
    fp_lake_wm_update reg = {.source = "fms.deadletter+1",
                             .topic = "fms.deadletter",
                             .partition = 1,
                             .register_only = true,
                             .deadletter = true};
    fp_lake_wm_apply(d, &reg, now);
    convert(d, "fms.vehicle", 0, 0, t("2026-03-03T11:00:00Z"), "vehicle_kinematic", 0, now);
    assert_true(fp_lake_wm_table(d, NULL) == t("2026-03-03T10:50:00Z"));
    /* dead letters far behind the telemetry (they are rare): the lake-wide value stays the
     * telemetry's, the dead-letter table gets its own */
    fp_lake_wm_table_update tu = {"deadletter", 0};
    fp_lake_wm_update u = {.source = "fms.deadletter+0",
                           .topic = "fms.deadletter",
                           .object = "o",
                           .partition = 0,
                           .offset = 0,
                           .newest_ms = t("2026-03-03T09:00:00Z"),
                           .tables = &tu,
                           .ntables = 1,
                           .deadletter = true};
    fp_lake_wm_apply(d, &u, now);
    fp_lake_wm_recompute(d, now, LATE, IDLE);
    assert_true(fp_lake_wm_table(d, NULL) == t("2026-03-03T10:50:00Z"));
    assert_true(fp_lake_wm_table(d, "vehicle_kinematic") == t("2026-03-03T10:50:00Z"));
    assert_true(fp_lake_wm_table(d, "deadletter") == INT64_MIN); /* partition 1: nothing yet */
    u.source = "fms.deadletter+1";
    u.partition = 1;
    fp_lake_wm_apply(d, &u, now);
    fp_lake_wm_recompute(d, now, LATE, IDLE);
    assert_true(fp_lake_wm_table(d, "deadletter") == t("2026-03-03T08:50:00Z"));
    convert(d, "fms.vehicle", 0, 10, t("2026-03-03T11:30:00Z"), "vehicle_kinematic", 0, now);
    assert_true(fp_lake_wm_table(d, NULL) == t("2026-03-03T11:20:00Z"));
    assert_true(fp_lake_wm_table(d, "deadletter") == t("2026-03-03T08:50:00Z"));
    json_t *s0 = json_object_get(json_object_get(d, "sources"), "fms.deadletter+0");
    assert_true(json_is_true(json_object_get(s0, "deadletter")));
    json_decref(d);
}

static void test_store_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/fp_wm_XXXXXX";
    assert_non_null(mkdtemp(dir));
    fp_store *st = NULL;
    fp_err err = {0};
    assert_int_equal(fp_store_open(dir, &(fp_store_opts){0}, &st, &err), FP_OK);
    int64_t w = 0;
    assert_int_equal(fp_lake_watermark_read(dir, NULL, NULL, &w, &err), FP_OK);
    assert_true(w == INT64_MIN);
    fp_lake_wm_table_update tu = {"vehicle_kinematic", 0};
    fp_lake_wm_update u = {.source = "fms.vehicle+0",
                           .topic = "fms.vehicle",
                           .object = "fms.vehicle+0+00000000000000000000.jsonl",
                           .offset = 0,
                           .newest_ms = t("2026-03-03T11:00:00Z"),
                           .tables = &tu,
                           .ntables = 1};
    assert_int_equal(
        fp_lake_wm_commit(st, &u, 1, t("2026-03-03T12:00:00Z"), LATE, IDLE, NULL, &err), FP_OK);
    assert_int_equal(fp_lake_watermark_read(dir, NULL, "vehicle_kinematic", &w, &err), FP_OK);
    assert_true(w == t("2026-03-03T10:50:00Z"));
    assert_int_equal(fp_lake_watermark_read(dir, NULL, NULL, &w, &err), FP_OK);
    assert_true(w == t("2026-03-03T10:50:00Z"));
    /* a corrupt document is an error naming it */
    fp_store_free(st);
    char path[256];
    snprintf(path, sizeof path, "%s/_catalog/_watermark.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[1]", f);
    fclose(f);
    assert_int_equal(fp_lake_watermark_read(dir, NULL, NULL, &w, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "_watermark.json"));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_names),       cmocka_unit_test(test_min_forward_replay),
        cmocka_unit_test(test_tables_and_topics),  cmocka_unit_test(test_idle_and_registered),
        cmocka_unit_test(test_deadletter_sources), cmocka_unit_test(test_store_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
