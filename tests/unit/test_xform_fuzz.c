/* test_xform_fuzz.c — hostile input never crashes, hangs or yields invalid output.
 *
 * A deterministic mutator (fixed seed) damages real messages — flipped and inserted bytes,
 * truncation, structural characters, invalid UTF-8, spliced halves — and runs each through a
 * chain that uses every transform. Every result must be either valid JSON objects or an error
 * with a message; run under ASan+UBSan this covers the scanner's and transforms' bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "xform/rec.h"
#include "xform/xform.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const seeds[] = {
    "{\"object\":\"vehicle\",\"type\":\"kinematic\",\"id\":350,\"device_id\":\"dev-000350\","
    "\"messaged_at\":\"2023-01-01T12:00:00+09:00\",\"seq\":1812,\"measurements\":[{\"timestamp_"
    "iso\":"
    "\"2023-01-01T11:59:00+09:00\",\"speed\":30,\"lat\":37.5665,\"lng\":126.978,\"heading\":90,"
    "\"odometer\":12034.2,\"engine_on\":true},{\"timestamp_iso\":1672541940000,\"speed\":-0.0e-1,"
    "\"note\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \xe6\xbc\xa2\",\"id\":1e400}]}",
    "{\"id\":1,\"object\":\"o\",\"type\":\"t\",\"measurements\":[],\"a\":{\"b\":[1,{\"c\":null}]},"
    "\"id\":2,\"k\\u0041\":\"\\u0000\",\"measurements\":[{\"a\":{\"b\":\"x\"}},{}]}",
};

static const char *const props_kv[][2] = {
    {"transforms", "split,ts,pk,drop,meta,f"},
    {"transforms.split.type", "SplitArrayField"},
    {"transforms.split.field", "measurements"},
    {"transforms.ts.type", "TimestampConverter"},
    {"transforms.ts.field", "timestamp_iso"},
    {"transforms.ts.target.type", "unix"},
    {"transforms.pk.type", "InsertFieldInStringTemplate"},
    {"transforms.pk.field", "pk"},
    {"transforms.pk.value", "${id}#${object}#${type}"},
    {"transforms.pk.predicate", "hasA"},
    {"transforms.pk.negate", "true"},
    {"transforms.drop.type", "ReplaceField"},
    {"transforms.drop.exclude", "engine_on"},
    {"transforms.drop.renames", "lat:latitude,kA:ka"},
    {"transforms.meta.type", "InsertField"},
    {"transforms.meta.topic.field", "topic"},
    {"transforms.meta.offset.field", "offset"},
    {"transforms.f.type", "Filter"},
    {"transforms.f.predicate", "slow"},
    {"predicates", "hasA,slow"},
    {"predicates.hasA.type", "FieldEquals"},
    {"predicates.hasA.field", "object"},
    {"predicates.hasA.value", "o"},
    {"predicates.slow.type", "FieldEquals"},
    {"predicates.slow.field", "speed"},
    {"predicates.slow.value", "0"},
};

static void mutate(fp_buf *b)
{
    static const char special[] = "{}[]\":,\\ \t\n0-.eE+uU\x80\xbf\xc0\xc3\xed\xf0\xf4\xff\x01";
    int rounds = 1 + (int)(next() % 4);
    for (int r = 0; r < rounds && b->len; r++) {
        size_t at = next() % b->len;
        switch (next() % 6) {
        case 0:
            b->p[at] = (char)next();
            break;
        case 1:
            b->p[at] = special[next() % (sizeof special - 1)];
            break;
        case 2:
            b->len = at;
            break;
        case 3: {
            char c = special[next() % (sizeof special - 1)];
            fp_buf_putc(b, ' ');
            memmove(b->p + at + 1, b->p + at, b->len - at - 1);
            b->p[at] = c;
            break;
        }
        case 4:
            memmove(b->p + at, b->p + at + 1, b->len - at - 1);
            b->len--;
            break;
        default: {
            /* repeat a slice: deep nesting and duplicate keys */
            size_t n = next() % 64;
            if (at + n > b->len)
                n = b->len - at;
            char tmp[64];
            memcpy(tmp, b->p + at, n);
            for (int k = 0; k < 1 + (int)(next() % 80); k++)
                fp_buf_append(b, tmp, n);
        }
        }
    }
}

static void test_fuzz(void **state)
{
    fp_props props;
    fp_props_init(&props);
    for (size_t i = 0; i < sizeof props_kv / sizeof *props_kv; i++)
        fp_props_set(&props, props_kv[i][0], props_kv[i][1]);
    fp_xform_chain *c = NULL;
    fp_err err;
    assert_int_equal(fp_xform_chain_new(&props, &c, &err), FP_OK);
    fp_xform_out out = {0};
    fp_buf b = FP_BUF_INIT;
    /* a tombstone (no payload) is an invalid message, not a crash */
    assert_int_equal(fp_xform_chain_apply(c, NULL, NULL, 0, &out, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "empty input"));
    size_t ok = 0, bad = 0;
    for (int i = 0; i < 100000; i++) {
        fp_buf_reset(&b);
        fp_buf_puts(&b, seeds[i % 2]);
        if (i % 10)
            mutate(&b);
        fp_rec_meta meta = {i % 3 ? "fms.vehicle" : NULL, 0, i, -1, "line 1"};
        fp_xform_out_reset(&out);
        fp_err_clear(&err);
        /* an exact-size copy, not NUL-terminated (like a Kafka payload), so that ASan sees
         * any read past the message */
        char *msg = malloc(b.len ? b.len : 1);
        memcpy(msg, b.p, b.len);
        fp_code rc = fp_xform_chain_apply(c, &meta, msg, b.len, &out, &err);
        /* the verdict must not depend on whether the caller wants the message */
        fp_xform_out out2 = {0};
        fp_code rc2 = fp_xform_chain_apply(c, &meta, msg, b.len, &out2, NULL);
        assert_int_equal(rc, rc2);
        assert_int_equal(out.n, out2.n);
        fp_xform_out_free(&out2);
        /* writing runs of adjacent members at once must give the member-by-member bytes */
        if (fp_json_validate(msg, b.len, NULL) == FP_OK) {
            const char *o = fp_json_skip_ws(msg, msg + b.len);
            if (*o == '{') {
                const char *oe = msg + b.len;
                while (oe[-1] != '}')
                    oe--;
                fp_rec rec = {0};
                fp_arena arena = {0};
                fp_buf tmp = FP_BUF_INIT, w1 = FP_BUF_INIT, w2 = FP_BUF_INIT;
                fp_rec_add_object(&rec, (fp_span){o, (size_t)(oe - o)}, &arena, &tmp);
                if (rec.n > 2)
                    fp_rec_remove(&rec, 1);
                fp_rec_write(&rec, &w1, msg, msg + b.len);
                fp_rec_write(&rec, &w2, NULL, NULL);
                assert_int_equal(w1.len, w2.len);
                assert_memory_equal(w1.p, w2.p, w1.len);
                fp_buf_free(&tmp);
                fp_buf_free(&w1);
                fp_buf_free(&w2);
                fp_arena_free(&arena);
                fp_rec_free(&rec);
            }
        }
        free(msg);
        if (rc) {
            assert_true(rc == FP_ERR_INVALID || rc == FP_ERR_LIMIT);
            assert_true(strlen(err.msg) > 10);
            assert_int_equal(out.n, 0);
            bad++;
            continue;
        }
        ok++;
        for (size_t k = 0; k < out.n; k++) {
            fp_err e2;
            fp_code vrc = fp_json_validate(out.data.p + out.off[k], out.len[k], &e2);
            if (vrc)
                print_error("output not valid (%s): %.*s\n", e2.msg, (int)out.len[k],
                            out.data.p + out.off[k]);
            assert_int_equal(vrc, FP_OK);
            assert_int_equal(out.data.p[out.off[k]], '{');
        }
    }
    printf("fuzz: %zu accepted, %zu rejected\n", ok, bad);
    assert_true(ok > 100 && bad > 100);
    fp_buf_free(&b);
    fp_xform_out_free(&out);
    fp_xform_chain_free(c);
    fp_props_free(&props);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fuzz)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
