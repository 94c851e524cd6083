/* test_objstore.c — the objstore sink's paths, names, rotation, committable offsets and replay
 * reconciliation, and a whole sink instance over a file:// store replaying byte-identical
 * objects after a simulated crash with different wall-clock timing. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "connect/connect.h"
#include "connect/sink.h"
#include "core/time.h"
#include "sink/objstore/objstore.h"
#include "store/store.h"

static const char *data_dir;

static int64_t iso(const char *s)
{
    int64_t ms = 0;
    fp_err err = {0};
    assert_int_equal(fp_time_parse_iso(s, strlen(s), &ms, &err), FP_OK);
    return ms;
}

static void test_path_format_cases(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/objstore/paths.tsv", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *fmt = strtok(line, "\t"), *when = strtok(NULL, "\t"), *dur = strtok(NULL, "\t"),
             *want = strtok(NULL, "\t");
        assert_non_null(want);
        fp_err err = {0};
        assert_int_equal(fp_objstore_path_check(fmt, &err), FP_OK);
        fp_buf b = FP_BUF_INIT;
        fp_objstore_path_format(fmt, iso(when), atoll(dur), &b);
        if (strcmp(b.p, want) != 0)
            fail_msg("%s @ %s: got %s, want %s", fmt, when, b.p, want);
        fp_buf_free(&b);
        cases++;
    }
    fclose(f);
    assert_true(cases >= 10);
}

static void test_path_check_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "'dt'=YYYY-MM-dd/'hour=HH", "dt=YYYY", "'x'=YY", "/abs/'x'", "'a'/../'b'", "", "'d'=DD"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_err err = {0};
        if (fp_objstore_path_check(bad[i], &err) != FP_ERR_CONFIG)
            fail_msg("accepted bad path.format '%s'", bad[i]);
        assert_non_null(strstr(err.msg, "path.format"));
    }
}

static void test_object_name(void **state)
{
    (void)state;
    fp_buf b = FP_BUF_INIT;
    fp_objstore_object_name(&b, "raw", "fms.vehicle", "dt=2023-01-01/hour=03", 3, 1812, false);
    assert_string_equal(
        b.p, "raw/fms.vehicle/dt=2023-01-01/hour=03/fms.vehicle+3+00000000000000001812.jsonl");
    fp_buf_reset(&b);
    fp_objstore_object_name(&b, "raw", "fms.cargo", "dt=2023-01-01/hour=03", 0, INT64_MAX, true);
    assert_string_equal(
        b.p, "raw/fms.cargo/dt=2023-01-01/hour=03/fms.cargo+0+09223372036854775807.jsonl.zst");
    fp_buf_free(&b);
}

static void test_committable(void **state)
{
    (void)state;
    fp_objstore_filestate f = {"p", 120, 0, 7, 0, -1};
    assert_int_equal(fp_objstore_committable(&f, 127), 120);   /* open file holds 120..126 */
    assert_int_equal(fp_objstore_committable(NULL, 127), 127); /* nothing open: all durable */
    f.start_offset = 0;
    assert_int_equal(fp_objstore_committable(&f, 1), 0);
}

typedef struct rot_case {
    const char *name;
    fp_objstore_filestate f;
    fp_objstore_rules r;
    const char *next_path;
    int64_t next_ts, now;
    fp_objstore_rotate before, after, tick;
} rot_case;

static void test_rotation_rules(void **state)
{
    (void)state;
    const rot_case cases[] = {
        {"fresh file keeps",
         {"a", 0, 1000, 1, 0, -1},
         {10, 0, 0},
         "a",
         2000,
         5,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP},
        {"time bucket change",
         {"a", 0, 1000, 1, 0, -1},
         {10, 0, 0},
         "b",
         2000,
         5,
         FP_OBJSTORE_ROT_PATH,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP},
        {"flush.size",
         {"a", 0, 1000, 10, 0, -1},
         {10, 0, 0},
         "a",
         2000,
         5,
         FP_OBJSTORE_ROT_SIZE,
         FP_OBJSTORE_ROT_SIZE,
         FP_OBJSTORE_KEEP},
        {"record-time interval",
         {"a", 0, 1000, 3, 0, -1},
         {10, 500, 0},
         "a",
         1500,
         5,
         FP_OBJSTORE_ROT_INTERVAL,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP},
        {"wall-clock schedule",
         {"a", 0, 1000, 3, 100, -1},
         {10, 0, 50},
         "a",
         1001,
         150,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_ROT_SCHEDULE},
        /* Replays: the existing object's count beats every rule. */
        {"replay ignores flush.size",
         {"a", 0, 1000, 10, 0, 25},
         {10, 0, 0},
         "a",
         2000,
         5,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP},
        {"replay ignores schedule and interval",
         {"a", 0, 1000, 3, 0, 25},
         {10, 1, 1},
         "a",
         999999,
         999999,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP},
        {"replay rotates at the count",
         {"a", 0, 1000, 25, 0, 25},
         {1000, 0, 0},
         "a",
         2000,
         5,
         FP_OBJSTORE_ROT_REPLAY,
         FP_OBJSTORE_ROT_REPLAY,
         FP_OBJSTORE_ROT_REPLAY},
        {"replay that diverges",
         {"a", 0, 1000, 3, 0, 25},
         {10, 0, 0},
         "b",
         2000,
         5,
         FP_OBJSTORE_ROT_DIVERGED,
         FP_OBJSTORE_KEEP,
         FP_OBJSTORE_KEEP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const rot_case *c = &cases[i];
        fp_objstore_rotate b = fp_objstore_before_message(&c->f, &c->r, c->next_path, c->next_ts);
        fp_objstore_rotate a = fp_objstore_after_batch(&c->f, &c->r);
        fp_objstore_rotate t = fp_objstore_on_tick(&c->f, &c->r, c->now);
        if (b != c->before || a != c->after || t != c->tick)
            fail_msg("%s: before=%s after=%s tick=%s", c->name, fp_objstore_rotate_name(b),
                     fp_objstore_rotate_name(a), fp_objstore_rotate_name(t));
    }
}

/* Drives the policy over a message sequence like the sink does; returns the cut points (start
 * offsets and counts). tick_every: a wall-clock tick after every n messages (0: never). */
typedef struct cut {
    int64_t start, count;
} cut;

static size_t simulate(const fp_objstore_rules *r, int64_t nmsg, int64_t tick_every,
                       const cut *existing, size_t nexisting, cut *out)
{
    size_t ncut = 0;
    bool open = false;
    fp_objstore_filestate f;
    int64_t mono = 0;
    for (int64_t off = 0; off < nmsg; off++) {
        const char *path = off < nmsg / 2 ? "h03" : "h04";
        if (open && fp_objstore_before_message(&f, r, path, off)) {
            out[ncut++] = (cut){f.start_offset, f.records};
            open = false;
        }
        if (!open) {
            f = (fp_objstore_filestate){path, off, off, 0, mono, -1};
            for (size_t i = 0; i < nexisting; i++)
                if (existing[i].start == off)
                    f.forced = existing[i].count;
            open = true;
        }
        f.records += 1 + off % 3; /* a message may give several records (split) */
        if (fp_objstore_after_batch(&f, r)) {
            out[ncut++] = (cut){f.start_offset, f.records};
            open = false;
        }
        mono += 10;
        if (open && tick_every && off % tick_every == 0 && fp_objstore_on_tick(&f, r, mono)) {
            out[ncut++] = (cut){f.start_offset, f.records};
            open = false;
        }
    }
    if (open && f.forced < 0)
        out[ncut++] = (cut){f.start_offset, f.records};
    return ncut;
}

static void test_replay_reconciliation(void **state)
{
    (void)state;
    cut first[512], replay[512];
    /* First run: small files, cut by size, bucket and an erratic wall clock. */
    fp_objstore_rules r1 = {7, 0, 35};
    size_t n1 = simulate(&r1, 300, 3, NULL, 0, first);
    assert_true(n1 > 20);
    /* Replay with entirely different rotation settings and clock: same cuts. */
    fp_objstore_rules r2 = {1000, 0, 1};
    size_t n2 = simulate(&r2, 300, 1, first, n1, replay);
    assert_int_equal(n2, n1);
    for (size_t i = 0; i < n1; i++) {
        assert_int_equal(replay[i].start, first[i].start);
        assert_int_equal(replay[i].count, first[i].count);
    }
    /* Without the existing objects the new settings would have cut differently. */
    size_t n3 = simulate(&r2, 300, 1, NULL, 0, replay);
    assert_true(n3 != n1 || replay[1].start != first[1].start);
}

/* ---- a real sink instance over a file:// store */

static int64_t now_fake;

static void put_range(const fp_sink_plugin *pl, void *s, int64_t from, int64_t to)
{
    for (int64_t off = from; off < to; off++) {
        char v[160];
        /* hour 03 for the first 60 messages, then hour 04 */
        snprintf(v, sizeof v, "{\"id\":%lld,\"messaged_at\":\"2023-01-01T%02d:%02d:00+09:00\"}",
                 (long long)off, off < 60 ? 12 : 13, (int)(off % 60));
        fp_sink_rec r = {"fms.vehicle", 2, off, -1, "k", 1, v, strlen(v), -1, NULL, 0, NULL, 0};
        fp_err err = {0};
        assert_int_equal(pl->check(s, &r, &err), FP_OK);
        assert_int_equal(pl->put(s, &r, 1, &err), FP_SINK_OK);
        if (off % 4 == 0)
            assert_int_equal(pl->flush(s, now_fake, false, &err), FP_SINK_OK);
    }
}

static char *slurp_dir(const char *root)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && find raw -type f | sort | while read f; do echo \"== $f\"; "
             "zstd -dcq \"$f\"; done",
             root);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    fp_buf b = FP_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        fp_buf_append(&b, chunk, n);
    pclose(p);
    return fp_buf_steal(&b);
}

/* Uploads run in the background (upload.h): waits until uncommitted_from() is `want` (5 s at
 * most), or with want < 0 until it has not moved for 200 ms; returns it. */
static int64_t settled(const fp_sink_plugin *pl, void *s, const char *topic, int32_t part,
                       int64_t want)
{
    int64_t v = pl->uncommitted_from(s, topic, part), same_since = fp_time_mono_ms();
    for (int64_t end = fp_time_mono_ms() + 5000; fp_time_mono_ms() < end;) {
        if (want >= 0 ? v == want : fp_time_mono_ms() - same_since >= 200)
            break;
        usleep(2000);
        int64_t n = pl->uncommitted_from(s, topic, part);
        if (n != v)
            same_since = fp_time_mono_ms();
        v = n;
    }
    return v;
}

static void test_sink_replays_identical_objects(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-objstore-XXXXXX";
    assert_non_null(mkdtemp(root));
    const fp_sink_plugin *pl = fp_sink_find("objstore");
    assert_non_null(pl);
    assert_ptr_equal(fp_sink_find("io.fleetpipe.connect.ObjstoreSinkConnector"), pl);

    fp_sink_stats st;
    memset(&st, 0, sizeof st);
    fp_sink_ctx ctx = {.connector = "unit", .task = 0, .stats = &st};
    fp_err err = {0};

    /* Run 1: flush.size 5 and a 1 ms wall-clock schedule (cuts wherever the clock says). */
    fp_props p;
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "timestamp.field", "messaged_at");
    fp_props_set(&p, "format.compression", "zstd");
    fp_props_set(&p, "flush.size", "5");
    fp_props_set(&p, "rotate.schedule.interval.ms", "1");
    void *s = NULL;
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    assert_int_equal(fp_props_check_used(&p, "unit", &err), FP_OK);
    assert_int_equal(pl->open(s, "fms.vehicle", 2, &err), FP_SINK_OK);
    put_range(pl, s, 0, 100);
    int64_t committable = settled(pl, s, "fms.vehicle", 2, -1);
    if (committable == INT64_MAX)
        committable = 100; /* the clock cut a file right at the end: nothing was open */
    assert_true(committable <= 100);
    /* Crash: the open file is lost; the group has `committable`. */
    pl->close(s, "fms.vehicle", 2);
    pl->destroy(s);
    char *before = slurp_dir(root);
    assert_true(strlen(before) > 100);
    fp_props_free(&p);

    /* Run 2 replays from offset 0 with very different settings: objects must be identical,
     * and records past the first run's objects go into new objects. */
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "timestamp.field", "messaged_at");
    fp_props_set(&p, "format.compression", "zstd");
    fp_props_set(&p, "flush.size", "1000");
    s = NULL;
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    assert_int_equal(pl->open(s, "fms.vehicle", 2, &err), FP_SINK_OK);
    put_range(pl, s, 0, committable);
    /* Every object up to the first run's committable offset is rewritten exactly: nothing is
     * left open, because each replayed file reached its count. */
    assert_int_equal(settled(pl, s, "fms.vehicle", 2, INT64_MAX), INT64_MAX);
    char *after = slurp_dir(root);
    assert_string_equal(after, before);
    /* Going on past the old objects: normal rules again. */
    put_range(pl, s, committable, 130);
    assert_int_equal(pl->flush(s, now_fake, true, &err), FP_SINK_OK);
    assert_int_equal(settled(pl, s, "fms.vehicle", 2, INT64_MAX), INT64_MAX);
    pl->destroy(s);
    fp_props_free(&p);
    char *final = slurp_dir(root);
    /* 130 distinct ids, each once. */
    for (int i = 0; i < 130; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "{\"id\":%d,", i);
        const char *a = strstr(final, needle);
        if (!a || strstr(a + 1, needle))
            fail_msg("id %d not exactly once", i);
    }
    free(before);
    free(after);
    free(final);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* Pretty-printed messages: raw CR/LF between JSON tokens become spaces, so each record is one
 * line and a replay counts the existing object's records right (no late cut, no duplicates). */
static void put_pretty(const fp_sink_plugin *pl, void *s, int64_t from, int64_t to)
{
    for (int64_t off = from; off < to; off++) {
        char v[160];
        snprintf(v, sizeof v, "{\"id\":%lld,\r\n \"m\":[\n{\"t\":\"a\\nb\"}\n]}", (long long)off);
        fp_sink_rec r = {"fms.vehicle", 1, off, 1672531200000LL, NULL, 0, v, strlen(v), -1, NULL, 0,
                         NULL,          0};
        fp_err err = {0};
        assert_int_equal(pl->check(s, &r, &err), FP_OK);
        assert_int_equal(pl->put(s, &r, 1, &err), FP_SINK_OK);
    }
}

static void test_sink_multiline_records_are_one_line(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-objstore-XXXXXX";
    assert_non_null(mkdtemp(root));
    const fp_sink_plugin *pl = fp_sink_find("objstore");
    fp_sink_stats st;
    memset(&st, 0, sizeof st);
    fp_sink_ctx ctx = {.connector = "unit", .task = 0, .stats = &st};
    fp_err err = {0};
    fp_props p;
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "format.compression", "zstd");
    fp_props_set(&p, "flush.size", "2");
    void *s = NULL;
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    assert_int_equal(pl->open(s, "fms.vehicle", 1, &err), FP_SINK_OK);
    put_pretty(pl, s, 0, 3); /* object 0 holds 0..1, offset 2 stays open */
    assert_int_equal(settled(pl, s, "fms.vehicle", 1, 2), 2);
    pl->close(s, "fms.vehicle", 1); /* crash: the open file is lost */
    pl->destroy(s);
    fp_props_free(&p);
    char *before = slurp_dir(root);
    const char *want = "{\"id\":0,   \"m\":[ {\"t\":\"a\\nb\"} ]}\n"
                       "{\"id\":1,   \"m\":[ {\"t\":\"a\\nb\"} ]}\n";
    if (!strstr(before, want))
        fail_msg("object is not one line per record:\n%s", before);

    /* Replay from 0 with a big flush.size: the existing object's 2 records force the cut. */
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "format.compression", "zstd");
    fp_props_set(&p, "flush.size", "1000");
    s = NULL;
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    assert_int_equal(pl->open(s, "fms.vehicle", 1, &err), FP_SINK_OK);
    put_pretty(pl, s, 0, 2);
    assert_int_equal(settled(pl, s, "fms.vehicle", 1, INT64_MAX), INT64_MAX);
    char *after = slurp_dir(root);
    assert_string_equal(after, before);
    pl->destroy(s);
    fp_props_free(&p);
    free(before);
    free(after);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* format.envelope: any bytes, one line each, exact (base64 when not UTF-8), headers kept. */
static void test_sink_envelope(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-objstore-XXXXXX";
    assert_non_null(mkdtemp(root));
    const fp_sink_plugin *pl = fp_sink_find("objstore");
    fp_sink_stats st;
    memset(&st, 0, sizeof st);
    fp_sink_ctx ctx = {.connector = "unit", .task = 0, .stats = &st};
    fp_props p;
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "format.envelope", "true");
    fp_props_set(&p, "timestamp.field", "messaged_at");
    fp_err err = {0};
    void *s = NULL;
    /* the value may not be JSON: no timestamp.field */
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "format.envelope"));
    fp_props_free(&p);
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "format.envelope", "true");
    fp_props_set(&p, "flush.size", "5");
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    assert_true(pl->raw && pl->raw(s));
    size_t huge_n = 1 << 20;
    char *huge = malloc(huge_n);
    for (size_t i = 0; i < huge_n; i++)
        huge[i] = (char)(i * 7919 % 251); /* every byte value but a few, not UTF-8 */
    struct {
        const char *v;
        size_t n;
    } vals[] = {{"line1\nline2 \"q\" \\ \x01", 19},
                {"\xff\xfe\xed\xa0\x80", 5},
                {"", 0},
                {NULL, 0},
                {huge, huge_n}};
    fp_sink_header h[] = {
        {"error.class", "invalid_json", 12}, {"error.message", "a\nb\xff", 4}, {"empty", NULL, 0}};
    for (int64_t i = 0; i < 5; i++) {
        fp_sink_rec r = {"fms.deadletter",
                         0,
                         i,
                         1672531200123LL,
                         i == 1 ? NULL : "dev-1",
                         5,
                         vals[i].v,
                         vals[i].n,
                         -1,
                         h,
                         3,
                         NULL,
                         0};
        assert_int_equal(pl->check(s, &r, &err), FP_OK);
        assert_int_equal(pl->put(s, &r, 1, &err), FP_SINK_OK);
    }
    assert_int_equal(pl->flush(s, 0, true, &err), FP_SINK_OK);
    pl->destroy(s);
    fp_props_free(&p);
    char cmd[1024];
    snprintf(
        cmd, sizeof cmd,
        "cd '%s' && f=raw/fms.deadletter/dt=2023-01-01/hour=00/"
        "fms.deadletter+0+00000000000000000000.jsonl && test $(wc -l <$f) -eq 5 && "
        "jq -e -s '.[0].value == \"line1\\nline2 \\\"q\\\" \\\\ \\u0001\" and "
        ".[0].timestamp == \"2023-01-01T00:00:00.123Z\" and .[0].key == \"dev-1\" and "
        ".[0].headers == {\"error.class\":\"invalid_json\",\"error.message\":\"a\\nb\\u00ff\","
        "\"empty\":null} and .[1].value == \"//7toIA=\" and .[1].value_encoding == \"base64\" and "
        ".[1].key == null and .[2].value == \"\" and .[3].value == null and "
        "(.[0,2,3] | has(\"value_encoding\") | not) and .[4].value_encoding == \"base64\"' $f "
        ">/dev/null && sed -n 5p $f | jq -r .value | base64 -d | wc -c | grep -qx %zu",
        root, huge_n);
    assert_int_equal(system(cmd), 0);
    free(huge);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_sink_bad_timestamps_are_invalid(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-objstore-XXXXXX";
    assert_non_null(mkdtemp(root));
    const fp_sink_plugin *pl = fp_sink_find("objstore");
    fp_sink_stats st;
    memset(&st, 0, sizeof st);
    fp_sink_ctx ctx = {.connector = "unit", .task = 0, .stats = &st};
    fp_props p;
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "timestamp.field", "meta.at");
    fp_err err = {0};
    void *s = NULL;
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    const char *bad[] = {"{\"id\":1}", "{\"meta\":{\"at\":\"soon\"}}", "{\"meta\":{\"at\":true}}",
                         "{\"meta\":5}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_sink_rec r = {"t", 0, 1, -1, NULL, 0, bad[i], strlen(bad[i]), -1, NULL, 0, NULL, 0};
        if (pl->check(s, &r, &err) != FP_ERR_INVALID)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err.msg, "meta.at"));
    }
    const char *good = "{\"meta\":{\"at\":1672531200000}}";
    fp_sink_rec r = {"t", 0, 1, -1, NULL, 0, good, strlen(good), -1, NULL, 0, NULL, 0};
    assert_int_equal(pl->check(s, &r, &err), FP_OK);
    assert_int_equal(r.sink_ts, 1672531200000LL);
    pl->destroy(s);
    fp_props_free(&p);
    /* Unknown keys are left unclaimed for the runtime to report. */
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "flush.sise", "3");
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    assert_int_equal(fp_props_check_used(&p, "c", &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "flush.sise"));
    pl->destroy(s);
    fp_props_free(&p);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* Object-committed events go through the runtime's producer (fp_sink_ctx.emit): one per object,
 * keyed by the object's source (<topic>+<partition>) and naming the object, and an object's offsets
 * become committable only once its event was acknowledged. */
typedef struct fake_emit {
    int calls;
    bool fail;
    char topic[64];
    char key[256];
    char value[1024];
} fake_emit;

static fp_code fake_emit_fn(void *arg, const char *topic, const void *key, size_t key_len,
                            const void *value, size_t len, int64_t timeout_ms, fp_err *err)
{
    fake_emit *f = arg;
    f->calls++;
    snprintf(f->topic, sizeof f->topic, "%s", topic);
    snprintf(f->key, sizeof f->key, "%.*s", (int)key_len, (const char *)key);
    snprintf(f->value, sizeof f->value, "%.*s", (int)len, (const char *)value);
    assert_non_null(strstr((const char *)value, "\"eventName\":\"ObjectCreated:Put\""));
    assert_true(timeout_ms > 0);
    if (f->fail)
        return fp_err_set(err, FP_ERR_IO, "produce to %s: broker down", topic);
    return FP_OK;
}

static void put_batch(const fp_sink_plugin *pl, void *s, int64_t from, int64_t to, fp_sink_rc want)
{
    for (int64_t off = from; off < to; off++) {
        char v[160];
        snprintf(v, sizeof v, "{\"id\":%lld,\"messaged_at\":\"2023-01-01T12:00:00Z\"}",
                 (long long)off);
        fp_sink_rec r = {"fms.vehicle", 3, off, -1, NULL, 0, v, strlen(v), -1, NULL, 0, NULL, 0};
        fp_err err = {0};
        assert_int_equal(pl->check(s, &r, &err), FP_OK);
        assert_int_equal(pl->put(s, &r, 1, &err), want);
    }
}

static void test_sink_events_through_emit(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-objstore-XXXXXX";
    assert_non_null(mkdtemp(root));
    const fp_sink_plugin *pl = fp_sink_find("objstore");
    fp_sink_stats st;
    memset(&st, 0, sizeof st);
    fake_emit fe = {0};
    fp_err err = {0};
    fp_props p;

    /* No producer offered: store.events.topic is a config error at create. */
    fp_sink_ctx bare = {.connector = "unit", .task = 0, .stats = &st};
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "store.events.topic", "ev");
    void *s = NULL;
    assert_int_equal(pl->create(&p, &bare, &s, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "store.events.topic"));
    assert_null(s);
    fp_props_free(&p);

    /* Acknowledged events: one per object, then the offsets are committable. */
    fp_sink_ctx ctx = {
        .connector = "unit", .task = 0, .stats = &st, .emit = fake_emit_fn, .emit_arg = &fe};
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "store.events.topic", "ev");
    fp_props_set(&p, "timestamp.field", "messaged_at");
    fp_props_set(&p, "flush.size", "5");
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    assert_int_equal(pl->open(s, "fms.vehicle", 3, &err), FP_SINK_OK);
    put_batch(pl, s, 0, 10, FP_SINK_OK);
    assert_int_equal(pl->flush(s, now_fake, true, &err), FP_SINK_OK);
    assert_int_equal(fe.calls, 2);
    assert_string_equal(fe.topic, "ev");
    assert_string_equal(fe.key, "fms.vehicle+3");
    assert_non_null(strstr(fe.value, "fms.vehicle+3+00000000000000000005.jsonl\""));
    assert_int_equal(pl->uncommitted_from(s, "fms.vehicle", 3), INT64_MAX);
    pl->destroy(s);
    fp_props_free(&p);

    /* An event that was not acknowledged holds the object's offsets and answers RETRY. */
    fe.fail = true;
    fe.calls = 0;
    fp_props_init(&p);
    fp_props_set(&p, "store.url", root);
    fp_props_set(&p, "store.events.topic", "ev");
    fp_props_set(&p, "timestamp.field", "messaged_at");
    fp_props_set(&p, "flush.size", "5");
    assert_int_equal(pl->create(&p, &ctx, &s, &err), FP_OK);
    assert_int_equal(pl->open(s, "fms.vehicle", 3, &err), FP_SINK_OK);
    put_batch(pl, s, 10, 15, FP_SINK_OK);
    assert_int_equal(settled(pl, s, "fms.vehicle", 3, -1), 10);
    assert_int_equal(pl->flush(s, now_fake, true, &err), FP_SINK_RETRY);
    assert_non_null(strstr(err.msg, "broker down"));
    assert_int_equal(fe.calls, 1);
    assert_int_equal(pl->uncommitted_from(s, "fms.vehicle", 3), 10);
    pl->destroy(s);
    fp_props_free(&p);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_help_lists_keys(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fp_connect_print_help(f);
    fclose(f);
    const char *want[] = {"errors.tolerance",
                          "errors.deadletterqueue.topic.name",
                          "tasks.max",
                          "consumer.override.*",
                          "connector.class objstore",
                          "store.url",
                          "rotate.schedule.interval.ms",
                          "timestamp.field",
                          "Exactly once"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(text, want[i]))
            fail_msg("help lacks %s", want[i]);
    free(text);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_format_cases),
        cmocka_unit_test(test_path_check_errors),
        cmocka_unit_test(test_object_name),
        cmocka_unit_test(test_committable),
        cmocka_unit_test(test_rotation_rules),
        cmocka_unit_test(test_replay_reconciliation),
        cmocka_unit_test(test_sink_replays_identical_objects),
        cmocka_unit_test(test_sink_multiline_records_are_one_line),
        cmocka_unit_test(test_sink_bad_timestamps_are_invalid),
        cmocka_unit_test(test_sink_envelope),
        cmocka_unit_test(test_sink_events_through_emit),
        cmocka_unit_test(test_help_lists_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
