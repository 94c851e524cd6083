/* test_aggregate.c — the aggregate connector's window rules, case by case from
 * tests/data/aggregate/cases.jsonl, through the plugin's own callbacks with a recording
 * producer and dead-letter hook in place of the runtime.
 *
 * A case: {"name", "config": {connector keys}, "steps": [...], "emit": [[key, value]...],
 * "late": n, "invalid": n, "future": n}. Steps: {"p": partition, "o": offset, "v": sample} or
 * "raw": text instead of "v" (consecutive steps with one offset are one message, put together),
 * {"flush": ms} (a flush after sleeping ms, 20 when true: past a 1 ms idle timeout), {"commit":
 * partition} (remember the commit the runtime would make),
 * {"crash": true} (drop the instance, make a new one, restore every partition from its last
 * commit and replay every record from the committed offset on; with "upto": o only the records
 * below o, and a "commit" right after it commits in the middle of the replay). "emit" lists the
 * distinct (key, value) records in order of first emission; every re-emission must equal an earlier
 * record of its key exactly (no partial window ever), checked for every case.
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

#include "connect/sink.h"
#include "core/props.h"
#include "xform/xform.h"

static const char *data_dir;

typedef struct rec_out {
    char *key, *value;
} rec_out;

typedef struct harness {
    rec_out *out; /* every produce, in order */
    size_t nout;
    size_t late, invalid, future;
    char *dlq_reason_last;
} harness;

static fp_code h_produce(void *arg, const char *topic, const void *key, size_t key_len,
                         const void *value, size_t len, fp_err *err)
{
    (void)topic;
    (void)err;
    harness *h = arg;
    h->out = realloc(h->out, (h->nout + 1) * sizeof *h->out);
    h->out[h->nout].key = strndup(key, key_len);
    h->out[h->nout].value = strndup(value, len);
    h->nout++;
    return FP_OK;
}

static fp_code h_dead_letter(void *arg, const fp_sink_rec *rec, int index, const char *reason,
                             const char *msg, fp_err *err)
{
    (void)rec;
    (void)index;
    (void)err;
    harness *h = arg;
    if (!strcmp(reason, "late"))
        h->late++;
    else if (!strcmp(reason, "invalid"))
        h->invalid++;
    else if (!strcmp(reason, "future"))
        h->future++;
    else
        fail_msg("dead-letter reason %s", reason);
    if (!*msg)
        fail_msg("dead letter without a message");
    return FP_OK;
}

typedef struct step_rec {
    int32_t p;
    int64_t o;
    char *v;
} step_rec;

static void *make(const fp_sink_plugin *pl, json_t *config, fp_sink_ctx *ctx)
{
    fp_props props;
    fp_props_init(&props);
    const char *k;
    json_t *v;
    json_object_foreach(config, k, v) fp_props_set(&props, k, json_string_value(v));
    void *s = NULL;
    fp_err err = {0};
    if (pl->create(&props, ctx, &s, &err))
        fail_msg("create: %s", err.msg);
    fp_props_free(&props);
    return s;
}

/* The second pass of every case: each record goes through an empty transforms chain first and
 * reaches put() with the chain's member table, as the connect runtime passes it. */
static fp_xform_chain *chain;
static fp_xform_out chain_out = {.members = true};

/* Puts the records of seen[from..to) with offset >= min_off[p], message by message. */
static void put_range(const fp_sink_plugin *pl, void *s, step_rec *seen, size_t from, size_t to,
                      const int64_t *min_off)
{
    for (size_t i = from; i < to;) {
        size_t j = i + 1;
        while (j < to && seen[j].o == seen[i].o && seen[j].p == seen[i].p)
            j++;
        if (seen[i].o >= min_off[seen[i].p]) {
            fp_sink_rec recs[64];
            assert_true(j - i <= 64);
            fp_err err = {0};
            fp_xform_out_reset(&chain_out);
            for (size_t r = i; r < j; r++) {
                recs[r - i] = (fp_sink_rec){
                    "t", seen[r].p, seen[r].o, -1,   "k", 1, seen[r].v, strlen(seen[r].v),
                    -1,  NULL,      0,         NULL, 0};
                if (chain && fp_xform_chain_apply(chain, NULL, seen[r].v, strlen(seen[r].v),
                                                  &chain_out, &err))
                    fail_msg("chain: %s", err.msg);
            }
            for (size_t r = 0; chain && r < j - i; r++) {
                /* as the runtime passes them: the chain's output and its member table */
                recs[r].value = chain_out.data.p + chain_out.off[r];
                recs[r].len = chain_out.len[r];
                recs[r].members = chain_out.mem + chain_out.moff[r];
                recs[r].nmembers = chain_out.mcnt[r];
            }
            if (pl->put(s, recs, j - i, &err) != FP_SINK_OK)
                fail_msg("put: %s", err.msg);
        }
        i = j;
    }
}

static void run_case(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const fp_sink_plugin *pl = fp_sink_find("aggregate");
    assert_non_null(pl);
    harness h = {0};
    fp_sink_stats stats = {0};
    fp_sink_ctx ctx = {.connector = name,
                       .stats = &stats,
                       .produce = h_produce,
                       .dead_letter = h_dead_letter,
                       .task_arg = &h};
    json_t *config = json_object_get(c, "config");
    void *s = make(pl, config, &ctx);
    int64_t commit_off[8], min_off[8];
    char *commit_meta[8] = {0};
    bool opened[8] = {false};
    for (int i = 0; i < 8; i++) {
        commit_off[i] = -1;
        min_off[i] = 0;
    }
    step_rec *seen = calloc(json_array_size(json_object_get(c, "steps")) + 1, sizeof *seen);
    size_t nseen = 0, done = 0;
    bool holding = false;
    size_t idx;
    json_t *st;
    json_array_foreach(json_object_get(c, "steps"), idx, st)
    {
        json_t *raw = json_object_get(st, "raw");
        if (json_object_get(st, "v") || raw) {
            int32_t p = (int32_t)json_integer_value(json_object_get(st, "p"));
            assert_true(p >= 0 && p < 8);
            if (!opened[p]) {
                pl->restore(s, "t", p, -1, "");
                fp_err err = {0};
                assert_int_equal(pl->open(s, "t", p, &err), FP_SINK_OK);
                opened[p] = true;
            }
            seen[nseen++] = (step_rec){p, json_integer_value(json_object_get(st, "o")),
                                       raw ? strdup(json_string_value(raw))
                                           : json_dumps(json_object_get(st, "v"), JSON_COMPACT)};
            continue;
        }
        /* After a crash "upto", the next commit comes before the rest of the replay. */
        bool mid_replay = holding && json_object_get(st, "commit");
        holding = false;
        if (!mid_replay) {
            put_range(pl, s, seen, done, nseen, min_off);
            done = nseen;
        }
        fp_err err = {0};
        if (json_object_get(st, "flush")) {
            json_int_t ms = json_integer_value(json_object_get(st, "flush"));
            usleep((useconds_t)(ms > 0 ? ms : 20) * 1000);
            assert_int_equal(pl->flush(s, 0, false, &err), FP_SINK_OK);
        } else if (json_object_get(st, "commit")) {
            int32_t p = (int32_t)json_integer_value(json_object_get(st, "commit"));
            int64_t u = pl->uncommitted_from(s, "t", p), next = -1;
            for (size_t i = 0; i < done; i++) /* the runtime's position: what was put */
                if (seen[i].p == p && seen[i].o + 1 > next)
                    next = seen[i].o + 1;
            commit_off[p] = u < next ? u : next;
            free(commit_meta[p]);
            const char *m = pl->commit_metadata(s, "t", p, commit_off[p]);
            commit_meta[p] = strdup(m ? m : "");
        } else if (json_object_get(st, "crash")) {
            pl->destroy(s);
            s = make(pl, config, &ctx);
            for (int p = 0; p < 8; p++) {
                if (!opened[p])
                    continue;
                pl->restore(s, "t", p, commit_off[p], commit_meta[p] ? commit_meta[p] : "");
                assert_int_equal(pl->open(s, "t", p, &err), FP_SINK_OK);
                min_off[p] = commit_off[p] < 0 ? 0 : commit_off[p];
            }
            /* "upto": the replay stops before that offset for now (a crash in the middle of
             * a replay comes next); the rest is put by the following steps. */
            json_t *up = json_object_get(st, "upto");
            size_t stop = nseen;
            while (up && stop > 0 && seen[stop - 1].o >= json_integer_value(up))
                stop--;
            put_range(pl, s, seen, 0, stop, min_off);
            done = stop;
            holding = up != NULL;
            for (int p = 0; p < 8; p++)
                min_off[p] = 0;
        } else {
            fail_msg("%s: unknown step %s", name, json_dumps(st, JSON_COMPACT));
        }
    }
    put_range(pl, s, seen, done, nseen, min_off);
    /* Distinct records in order of first emission; a re-emission must be identical. */
    json_t *got = json_array();
    for (size_t i = 0; i < h.nout; i++) {
        json_error_t je;
        json_t *v = json_loads(h.out[i].value, 0, &je);
        if (!v)
            fail_msg("%s: output %s is not JSON: %s", name, h.out[i].value, je.text);
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) {
            if (strcmp(h.out[j].key, h.out[i].key))
                continue;
            json_t *w = json_loads(h.out[j].value, 0, &je);
            json_t *rv = json_object_get(v, "revision"), *rw = json_object_get(w, "revision");
            if (json_equal(v, w))
                dup = true;
            else if (json_integer_value(rv) <= json_integer_value(rw))
                fail_msg("%s: %s re-emitted with different content:\n  %s\n  %s", name,
                         h.out[i].key, h.out[j].value, h.out[i].value);
            json_decref(w);
        }
        if (!dup)
            json_array_append_new(got, json_pack("[s,O]", h.out[i].key, v));
        json_decref(v);
    }
    json_t *want = json_object_get(c, "emit");
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
        fail_msg("%s: emitted\n  %s\nwant\n  %s", name, g, w);
    }
    if (h.late != (size_t)json_integer_value(json_object_get(c, "late")))
        fail_msg("%s: %zu late, want %lld", name, h.late,
                 (long long)json_integer_value(json_object_get(c, "late")));
    if (h.future != (size_t)json_integer_value(json_object_get(c, "future")))
        fail_msg("%s: %zu future, want %lld", name, h.future,
                 (long long)json_integer_value(json_object_get(c, "future")));
    if (h.invalid != (size_t)json_integer_value(json_object_get(c, "invalid")))
        fail_msg("%s: %zu invalid, want %lld", name, h.invalid,
                 (long long)json_integer_value(json_object_get(c, "invalid")));
    json_decref(got);
    pl->destroy(s);
    for (size_t i = 0; i < h.nout; i++) {
        free(h.out[i].key);
        free(h.out[i].value);
    }
    free(h.out);
    for (size_t i = 0; i < nseen; i++)
        free(seen[i].v);
    free(seen);
    for (int p = 0; p < 8; p++)
        free(commit_meta[p]);
}

static void test_cases(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/aggregate/cases.jsonl", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    fp_props none;
    fp_props_init(&none);
    fp_err err = {0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && fp_xform_chain_new(&none, &chain, &err))
            fail_msg("chain: %s", err.msg);
        rewind(f);
        while (getline(&line, &cap, f) > 0) {
            if (line[0] == '#' || line[0] == '\n')
                continue;
            json_error_t je;
            json_t *c = json_loads(line, 0, &je);
            if (!c)
                fail_msg("cases.jsonl: %s", je.text);
            run_case(c);
            json_decref(c);
            n++;
        }
    }
    fp_xform_chain_free(chain);
    chain = NULL;
    fp_xform_out_free(&chain_out);
    fp_props_free(&none);
    free(line);
    fclose(f);
    assert_true(n >= 10);
}

/* Bad configurations are refused with the key's name. */
static void test_config(void **state)
{
    (void)state;
    const fp_sink_plugin *pl = fp_sink_find("aggregate");
    static const char *bad[][3] = {
        {"aggregate.functions", "count,median", "median"},
        {"aggregate.window", "10", "aggregate.window"},
        {"aggregate.emit", "sometimes", "aggregate.emit"},
        {"aggregate.output.topic", "", "aggregate.output.topic"},
        {"aggregate.max.windows", "0", "aggregate.max.windows"},
        {"aggregate.group.by", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "at most 16"},
    };
    harness h = {0};
    fp_sink_stats stats = {0};
    fp_sink_ctx ctx = {.connector = "c",
                       .stats = &stats,
                       .produce = h_produce,
                       .dead_letter = h_dead_letter,
                       .task_arg = &h};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_props props;
        fp_props_init(&props);
        fp_props_set(&props, bad[i][0], bad[i][1]);
        void *s = NULL;
        fp_err err = {0};
        if (!pl->create(&props, &ctx, &s, &err))
            fail_msg("%s=%s accepted", bad[i][0], bad[i][1]);
        if (!strstr(err.msg, bad[i][2]))
            fail_msg("%s=%s: message '%s' lacks '%s'", bad[i][0], bad[i][1], err.msg, bad[i][2]);
        fp_props_free(&props);
    }
    fp_sink_ctx noprod = {.connector = "c", .stats = &stats};
    fp_props props;
    fp_props_init(&props);
    void *s = NULL;
    fp_err err = {0};
    assert_int_equal(pl->create(&props, &noprod, &s, &err), FP_ERR_CONFIG);
    fp_props_free(&props);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
