/* test_thrift.c — the Thrift compact protocol: hand-written vectors from the spec in
 * tests/data/thrift/cases.txt (writer output, reader walk, skip), every truncation of every
 * vector, malformed input with the offset in the message, nesting limits, and a fuzz loop over
 * random and mutated bytes (fixed seed) that must only ever return errors. Inputs under test
 * are copied to exactly-sized heap blocks so that the ASan build catches any over-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hexdata.h"

#include "parquet/thrift.h"

static const char *data_dir;

static int type_of(const char *name)
{
    static const char *names[] = {"stop",   "bool",   "bool_false", "i8",  "i16", "i32",    "i64",
                                  "double", "binary", "list",       "set", "map", "struct", "uuid"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    fail_msg("unknown type name %s", name);
    return -1;
}

/* Splits "a; b c; d" into ops, each an array of up to 4 tokens. */
typedef struct op {
    char tok[4][64];
    int n;
} op;

static int parse_ops(const char *s, op *ops, int cap)
{
    int n = 0;
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *part = strtok_r(buf, ";", &save); part;
         part = strtok_r(NULL, ";", &save)) {
        assert_true(n < cap);
        op *o = &ops[n++];
        o->n = 0;
        for (char *s2 = NULL, *t = strtok_r(part, " \t", &s2); t; t = strtok_r(NULL, " \t", &s2)) {
            assert_true(o->n < 4);
            snprintf(o->tok[o->n++], sizeof o->tok[0], "%.63s", t);
        }
    }
    return n;
}

static void write_ops(const op *ops, int n, fp_buf *out)
{
    fp_pq_thrift_writer w;
    fp_pq_thrift_writer_init(&w, out);
    for (int i = 0; i < n; i++) {
        const op *o = &ops[i];
        const char *k = o->tok[0], *a = o->n > 1 ? o->tok[1] : "";
        if (strcmp(k, "uvarint") == 0)
            fp_pq_thrift_put_uvarint(out, strtoull(a, NULL, 10));
        else if (strcmp(k, "i8") == 0)
            fp_pq_thrift_write_i8(&w, (int8_t)atoi(a));
        else if (strcmp(k, "i16") == 0)
            fp_pq_thrift_write_i16(&w, (int16_t)atoi(a));
        else if (strcmp(k, "i32") == 0)
            fp_pq_thrift_write_i32(&w, (int32_t)strtol(a, NULL, 10));
        else if (strcmp(k, "i64") == 0)
            fp_pq_thrift_write_i64(&w, strtoll(a, NULL, 10));
        else if (strcmp(k, "double") == 0)
            fp_pq_thrift_write_double(&w, strtod(a, NULL));
        else if (strcmp(k, "string") == 0)
            fp_pq_thrift_write_string(&w, strcmp(a, "-") == 0 ? "" : a);
        else if (strcmp(k, "bool") == 0)
            fp_pq_thrift_write_bool(&w, strcmp(a, "true") == 0);
        else if (strcmp(k, "begin") == 0)
            fp_pq_thrift_write_struct_begin(&w);
        else if (strcmp(k, "end") == 0)
            fp_pq_thrift_write_struct_end(&w);
        else if (strcmp(k, "field") == 0)
            fp_pq_thrift_write_field(&w, (int16_t)atoi(a), type_of(o->tok[2]));
        else if (strcmp(k, "fbool") == 0)
            fp_pq_thrift_write_field_bool(&w, (int16_t)atoi(a), strcmp(o->tok[2], "true") == 0);
        else if (strcmp(k, "list") == 0)
            fp_pq_thrift_write_list_begin(&w, type_of(a), (uint32_t)atoi(o->tok[2]));
        else
            fail_msg("unknown op %s", k);
    }
    fp_err err = {0};
    if (fp_pq_thrift_writer_finish(&w, &err))
        fail_msg("writer: %s", err.msg);
}

/* Reads p[0..len) along ops; returns the first error (FP_OK when all matched and the input is
 * used up). A mismatch of a value that was read fine is a test failure, not an error code. */
static fp_code read_ops(const op *ops, int n, const uint8_t *p, size_t len, fp_err *err)
{
    fp_pq_thrift_reader r;
    fp_pq_thrift_reader_init(&r, p, len);
    fp_code rc = FP_OK;
    for (int i = 0; i < n && !rc; i++) {
        const op *o = &ops[i];
        const char *k = o->tok[0], *a = o->n > 1 ? o->tok[1] : "";
        if (strcmp(k, "uvarint") == 0) {
            uint64_t v;
            rc = fp_pq_thrift_get_uvarint(r.p, r.len, &r.pos, 10, &v, err);
            if (!rc)
                assert_true(v == strtoull(a, NULL, 10));
        } else if (strcmp(k, "i8") == 0) {
            int8_t v;
            rc = fp_pq_thrift_read_i8(&r, &v, err);
            if (!rc)
                assert_int_equal(v, atoi(a));
        } else if (strcmp(k, "i16") == 0) {
            int16_t v;
            rc = fp_pq_thrift_read_i16(&r, &v, err);
            if (!rc)
                assert_int_equal(v, atoi(a));
        } else if (strcmp(k, "i32") == 0) {
            int32_t v;
            rc = fp_pq_thrift_read_i32(&r, &v, err);
            if (!rc)
                assert_int_equal(v, strtol(a, NULL, 10));
        } else if (strcmp(k, "i64") == 0) {
            int64_t v;
            rc = fp_pq_thrift_read_i64(&r, &v, err);
            if (!rc)
                assert_true(v == strtoll(a, NULL, 10));
        } else if (strcmp(k, "double") == 0) {
            double v;
            rc = fp_pq_thrift_read_double(&r, &v, err);
            if (!rc)
                assert_true(v == strtod(a, NULL));
        } else if (strcmp(k, "string") == 0) {
            const uint8_t *s;
            size_t sn;
            rc = fp_pq_thrift_read_binary(&r, &s, &sn, err);
            const char *want = strcmp(a, "-") == 0 ? "" : a;
            if (!rc) {
                assert_int_equal(sn, strlen(want));
                assert_memory_equal(s, want, sn);
            }
        } else if (strcmp(k, "bool") == 0) {
            bool v;
            rc = fp_pq_thrift_read_bool(&r, &v, err);
            if (!rc)
                assert_int_equal(v, strcmp(a, "true") == 0);
        } else if (strcmp(k, "begin") == 0) {
            rc = fp_pq_thrift_read_struct_begin(&r, err);
        } else if (strcmp(k, "end") == 0) {
            int16_t id;
            int t;
            rc = fp_pq_thrift_read_field(&r, &id, &t, err);
            if (!rc) {
                assert_int_equal(t, FP_PQ_THRIFT_STOP);
                rc = fp_pq_thrift_read_struct_end(&r, err);
            }
        } else if (strcmp(k, "field") == 0 || strcmp(k, "fbool") == 0) {
            int16_t id;
            int t;
            rc = fp_pq_thrift_read_field(&r, &id, &t, err);
            if (!rc) {
                assert_int_equal(id, atoi(a));
                if (k[0] == 'f' && k[1] == 'b') {
                    assert_int_equal(t, FP_PQ_THRIFT_BOOL);
                    bool v;
                    rc = fp_pq_thrift_read_bool(&r, &v, err);
                    assert_int_equal(rc, FP_OK);
                    assert_int_equal(v, strcmp(o->tok[2], "true") == 0);
                } else {
                    assert_int_equal(t, type_of(o->tok[2]));
                }
            }
        } else if (strcmp(k, "list") == 0) {
            int et;
            uint32_t size;
            rc = fp_pq_thrift_read_list_begin(&r, &et, &size, err);
            if (!rc) {
                assert_int_equal(et, type_of(a));
                assert_int_equal(size, atoi(o->tok[2]));
            }
        }
    }
    if (!rc)
        assert_int_equal(r.pos, len);
    return rc;
}

static fp_code skip_struct(const uint8_t *p, size_t len, size_t *pos, fp_err *err)
{
    fp_pq_thrift_reader r;
    fp_pq_thrift_reader_init(&r, p, len);
    fp_code rc = fp_pq_thrift_skip(&r, FP_PQ_THRIFT_STRUCT, err);
    *pos = r.pos;
    return rc;
}

static void check_prefixes(const char *line, const op *ops, int nops, bool as_struct,
                           const uint8_t *want, size_t wn)
{
    for (size_t k = 0; k < wn; k++) {
        uint8_t *q = dup_exact(want, k);
        fp_err err = {0};
        size_t pos;
        if (ops) {
            fp_code rc = read_ops(ops, nops, q, k, &err);
            if (rc != FP_ERR_INVALID || !strstr(err.msg, "byte "))
                fail_msg("%s: prefix %zu: rc %d \"%s\"", line, k, rc, err.msg);
        }
        if (as_struct) {
            fp_code rc = skip_struct(q, k, &pos, &err);
            if (rc != FP_ERR_INVALID || !strstr(err.msg, "byte "))
                fail_msg("%s: skip prefix %zu: rc %d \"%s\"", line, k, rc, err.msg);
        }
        free(q);
    }
}

static void test_cases(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/thrift/cases.txt", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    int n = 0, nbad = 0, nskip = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        uint8_t want[1024];
        char *arrow = strstr(line, " => ");
        if (strncmp(line, "skip ", 5) == 0) {
            size_t wn = parse_hex(line + 5, want, sizeof want);
            uint8_t *q = dup_exact(want, wn);
            fp_err err = {0};
            size_t pos;
            if (skip_struct(q, wn, &pos, &err))
                fail_msg("%s: %s", line, err.msg);
            assert_int_equal(pos, wn);
            free(q);
            check_prefixes(line, NULL, 0, true, want, wn);
            nskip++;
            continue;
        }
        assert_non_null(arrow);
        *arrow = 0;
        const char *rhs = arrow + 4;
        if (strncmp(line, "bad ", 4) == 0) {
            size_t wn = parse_hex(line + 4, want, sizeof want);
            uint8_t *q = dup_exact(want, wn);
            fp_err err = {0};
            size_t pos;
            fp_code rc = skip_struct(q, wn, &pos, &err);
            if ((rc != FP_ERR_INVALID && rc != FP_ERR_LIMIT) || !strstr(err.msg, rhs))
                fail_msg("%s: rc %d \"%s\", want \"%s\"", line, rc, err.msg, rhs);
            free(q);
            nbad++;
            continue;
        }
        op ops[64];
        int nops = parse_ops(line, ops, 64);
        size_t wn = parse_hex(rhs, want, sizeof want);
        fp_buf out = FP_BUF_INIT;
        write_ops(ops, nops, &out);
        if (out.len != wn || memcmp(out.p, want, wn) != 0) {
            fp_buf got = FP_BUF_INIT;
            for (size_t i = 0; i < out.len; i++)
                fp_buf_printf(&got, "%02x ", (uint8_t)out.p[i]);
            fail_msg("%s\n got %s\nwant %s", line, got.p ? got.p : "-", rhs);
        }
        fp_buf_free(&out);
        uint8_t *q = dup_exact(want, wn);
        fp_err err = {0};
        if (read_ops(ops, nops, q, wn, &err))
            fail_msg("%s: read: %s", line, err.msg);
        bool as_struct = strcmp(ops[0].tok[0], "begin") == 0;
        if (as_struct) {
            size_t pos;
            if (skip_struct(q, wn, &pos, &err))
                fail_msg("%s: skip: %s", line, err.msg);
            assert_int_equal(pos, wn);
        }
        free(q);
        check_prefixes(line, ops, nops, as_struct, want, wn);
        n++;
    }
    fclose(f);
    assert_true(n >= 50);
    assert_true(nbad >= 20);
    assert_true(nskip >= 10);
}

/* Reader API edges the vectors do not reach. */
static void test_reader_edges(void **state)
{
    (void)state;
    fp_err err = {0};
    fp_pq_thrift_reader r;
    /* Nesting: 32 struct levels are fine, the 33rd is FP_ERR_LIMIT. */
    fp_pq_thrift_reader_init(&r, "", 0);
    for (int i = 0; i < FP_PQ_THRIFT_MAX_DEPTH; i++)
        assert_int_equal(fp_pq_thrift_read_struct_begin(&r, &err), FP_OK);
    assert_int_equal(fp_pq_thrift_read_struct_begin(&r, &err), FP_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "deeper than 32"));
    /* Reading a field outside a struct is a caller bug. */
    fp_pq_thrift_reader_init(&r, "\x15\x00", 2);
    int16_t id;
    int t;
    assert_int_equal(fp_pq_thrift_read_field(&r, &id, &t, &err), FP_ERR_INTERNAL);
    assert_int_equal(fp_pq_thrift_read_struct_end(&r, &err), FP_ERR_INTERNAL);
    /* i16 out of range; i32 above 32 bits; bool elements 0 (spec), 1, 2 (libraries), not 3. */
    fp_pq_thrift_reader_init(&r, "\x80\x80\x04", 3);
    int16_t v16;
    assert_int_equal(fp_pq_thrift_read_i16(&r, &v16, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "i16 out of range at byte 0"));
    fp_pq_thrift_reader_init(&r, "\xff\xff\xff\xff\x1f", 5);
    int32_t v32;
    assert_int_equal(fp_pq_thrift_read_i32(&r, &v32, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "above 32 bits at byte 0"));
    fp_pq_thrift_reader_init(&r, "\x00\x01\x02\x03", 4);
    bool b;
    assert_int_equal(fp_pq_thrift_read_bool(&r, &b, &err), FP_OK);
    assert_false(b);
    assert_int_equal(fp_pq_thrift_read_bool(&r, &b, &err), FP_OK);
    assert_true(b);
    assert_int_equal(fp_pq_thrift_read_bool(&r, &b, &err), FP_OK);
    assert_false(b);
    assert_int_equal(fp_pq_thrift_read_bool(&r, &b, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "at byte 3"));
    /* An unknown field of every type is skipped and the known one after it still read. */
    const uint8_t msg[] = {0x15, 0x02, 0x3c, 0x19, 0x1c, 0x18, 0x01, 0x61, 0x00, 0x00,
                           0x1b, 0x01, 0x88, 0x00, 0x00, 0x11, 0x15, 0x08, 0x00};
    /* {1: i32 1, 4: struct{1: list<struct>[{1: "a"}]}, 5: map{"":""}, 6: true, 7: i32 4} */
    fp_pq_thrift_reader_init(&r, msg, sizeof msg);
    assert_int_equal(fp_pq_thrift_read_struct_begin(&r, &err), FP_OK);
    int32_t got1 = 0, got7 = 0;
    for (;;) {
        if (fp_pq_thrift_read_field(&r, &id, &t, &err))
            fail_msg("%s", err.msg);
        if (t == FP_PQ_THRIFT_STOP)
            break;
        if (id == 1 && t == FP_PQ_THRIFT_I32)
            assert_int_equal(fp_pq_thrift_read_i32(&r, &got1, &err), FP_OK);
        else if (id == 7 && t == FP_PQ_THRIFT_I32)
            assert_int_equal(fp_pq_thrift_read_i32(&r, &got7, &err), FP_OK);
        else if (fp_pq_thrift_skip(&r, t, &err))
            fail_msg("skip field %d: %s", id, err.msg);
    }
    assert_int_equal(fp_pq_thrift_read_struct_end(&r, &err), FP_OK);
    assert_int_equal(got1, 1);
    assert_int_equal(got7, 4);
    assert_int_equal(r.pos, sizeof msg);
    /* Skipping list elements one by one: a bool element is one byte, a bool field none. */
    const uint8_t bools[] = {0x19, 0x31, 0x01, 0x02, 0x00, 0x22, 0x00};
    /* {1: list<bool>[true, false, false(0)], 3: false} */
    fp_pq_thrift_reader_init(&r, bools, sizeof bools);
    assert_int_equal(fp_pq_thrift_read_struct_begin(&r, &err), FP_OK);
    assert_int_equal(fp_pq_thrift_read_field(&r, &id, &t, &err), FP_OK);
    int et;
    uint32_t size;
    assert_int_equal(fp_pq_thrift_read_list_begin(&r, &et, &size, &err), FP_OK);
    assert_int_equal(et, FP_PQ_THRIFT_BOOL);
    assert_int_equal(size, 3);
    for (uint32_t i = 0; i < size; i++)
        assert_int_equal(fp_pq_thrift_skip(&r, et, &err), FP_OK);
    assert_int_equal(r.pos, 5);
    assert_int_equal(fp_pq_thrift_read_field(&r, &id, &t, &err), FP_OK);
    assert_int_equal(id, 3);
    assert_int_equal(t, FP_PQ_THRIFT_BOOL);
    assert_int_equal(fp_pq_thrift_skip(&r, t, &err), FP_OK);
    assert_int_equal(r.pos, 6);
    assert_int_equal(fp_pq_thrift_read_field(&r, &id, &t, &err), FP_OK);
    assert_int_equal(t, FP_PQ_THRIFT_STOP);
}

static void test_writer_errors(void **state)
{
    (void)state;
    fp_buf out = FP_BUF_INIT;
    fp_pq_thrift_writer w;
    fp_err err = {0};
    /* Too deep: the error sticks and later writes add nothing. */
    fp_pq_thrift_writer_init(&w, &out);
    for (int i = 0; i < FP_PQ_THRIFT_MAX_DEPTH; i++)
        assert_int_equal(fp_pq_thrift_write_struct_begin(&w), FP_OK);
    assert_int_equal(fp_pq_thrift_write_struct_begin(&w), FP_ERR_LIMIT);
    size_t len = out.len;
    assert_int_equal(fp_pq_thrift_write_i32(&w, 5), FP_ERR_LIMIT);
    assert_int_equal(out.len, len);
    assert_int_equal(fp_pq_thrift_writer_finish(&w, &err), FP_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "nested deeper"));
    /* Unbalanced, field outside a struct, bool as a plain field type. */
    fp_pq_thrift_writer_init(&w, &out);
    assert_int_equal(fp_pq_thrift_write_struct_end(&w), FP_ERR_INTERNAL);
    fp_pq_thrift_writer_init(&w, &out);
    assert_int_equal(fp_pq_thrift_write_field(&w, 1, FP_PQ_THRIFT_I32), FP_ERR_INTERNAL);
    fp_pq_thrift_writer_init(&w, &out);
    fp_pq_thrift_write_struct_begin(&w);
    assert_int_equal(fp_pq_thrift_write_field(&w, 1, FP_PQ_THRIFT_BOOL), FP_ERR_INTERNAL);
    fp_pq_thrift_writer_init(&w, &out);
    fp_pq_thrift_write_struct_begin(&w);
    assert_int_equal(fp_pq_thrift_writer_finish(&w, &err), FP_ERR_INTERNAL);
    assert_non_null(strstr(err.msg, "left open"));
    fp_buf_free(&out);
}

/* Walks a struct the way the Parquet reader will: typed reads for some types, skip for the
 * rest, recursing into structs and lists. Any error ends the walk. */
static fp_code walk(fp_pq_thrift_reader *r, int depth, fp_err *err)
{
    fp_code rc = fp_pq_thrift_read_struct_begin(r, err);
    while (!rc) {
        int16_t id;
        int t;
        rc = fp_pq_thrift_read_field(r, &id, &t, err);
        if (rc)
            break;
        if (t == FP_PQ_THRIFT_STOP)
            return fp_pq_thrift_read_struct_end(r, err);
        if (t == FP_PQ_THRIFT_STRUCT && (id & 1)) {
            rc = walk(r, depth + 1, err);
        } else if (t == FP_PQ_THRIFT_LIST && (id & 1)) {
            int et;
            uint32_t n;
            rc = fp_pq_thrift_read_list_begin(r, &et, &n, err);
            for (uint32_t i = 0; i < n && !rc; i++)
                rc = et == FP_PQ_THRIFT_STRUCT ? walk(r, depth + 1, err)
                                               : fp_pq_thrift_skip(r, et, err);
        } else if (t == FP_PQ_THRIFT_BINARY) {
            const uint8_t *p;
            size_t n;
            rc = fp_pq_thrift_read_binary(r, &p, &n, err);
        } else if (t == FP_PQ_THRIFT_BOOL) {
            bool b;
            rc = fp_pq_thrift_read_bool(r, &b, err);
        } else {
            rc = fp_pq_thrift_skip(r, t, err);
        }
    }
    return rc;
}

static void fuzz_one(const uint8_t *p, size_t n)
{
    uint8_t *q = dup_exact(p, n);
    fp_err err = {0};
    size_t pos;
    fp_code rc = skip_struct(q, n, &pos, &err);
    assert_true(rc == FP_OK || rc == FP_ERR_INVALID || rc == FP_ERR_LIMIT);
    assert_true(pos <= n);
    fp_pq_thrift_reader r;
    fp_pq_thrift_reader_init(&r, q, n);
    rc = walk(&r, 0, &err);
    assert_true(rc == FP_OK || rc == FP_ERR_INVALID || rc == FP_ERR_LIMIT);
    assert_true(r.pos <= n);
    free(q);
}

static void test_fuzz(void **state)
{
    (void)state;
    srand(20261125);
    uint8_t buf[256];
    /* Random bytes, biased towards valid type nibbles. */
    for (int it = 0; it < 100000; it++) {
        size_t n = (size_t)(rand() % 64);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(rand() % 3 == 0 ? (rand() % 16) << 4 | (rand() % 14) : rand());
        fuzz_one(buf, n);
    }
    /* A valid message with nested structs, lists and maps, mutated byte by byte. */
    const uint8_t seed[] = {0x15, 0x02, 0x1c, 0x18, 0x01, 0x78, 0x26, 0x01, 0x00, 0x19,
                            0x2c, 0x15, 0x0e, 0x00, 0x11, 0x00, 0x1b, 0x02, 0x85, 0x01,
                            0x61, 0x02, 0x01, 0x62, 0x04, 0x17, 0,    0,    0,    0,
                            0,    0,    0xf0, 0x3f, 0x01, 0x28, 0x00};
    size_t sn = sizeof seed;
    fuzz_one(seed, sn);
    for (int it = 0; it < 100000; it++) {
        memcpy(buf, seed, sn);
        int flips = 1 + rand() % 3;
        for (int k = 0; k < flips; k++)
            buf[rand() % sn] = (uint8_t)rand();
        fuzz_one(buf, (size_t)(rand() % 4 == 0 ? rand() % (int)(sn + 1) : (int)sn));
    }
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_reader_edges),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
