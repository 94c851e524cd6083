/* test_parquet.c — the Parquet writer and reader (src/parquet/parquet.h): round trips of every
 * type with nulls under each codec, all-null columns, the empty file, dictionary and PLAIN
 * chunks, many pages and row groups, statistics (NaN, signed zeros, bytes >= 0x80), writer
 * misuse and a full disk, files written by DuckDB (tests/data/parquet: RLE_DICTIONARY, data
 * pages v2, encodings and types it must refuse), and a hostile-input loop that truncates and
 * corrupts a valid file at every position.
 * Files go to a fresh directory under /tmp. That other readers (DuckDB, hyparquet) agree is
 * tests/integration/parquet_verify.sh's job. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "parquet/parquet.h"

static char dir[64];
static const char *data_dir;

/* One cell of a generated table. */
typedef struct cell {
    bool valid;
    bool b;
    int64_t i;
    double d;
    char s[40];
    size_t slen;
} cell;

/* A table: columns and a function giving the cell at (row, col). */
typedef struct table {
    const fp_pq_column *cols;
    size_t ncols;
    size_t nrows;
    void (*cell_at)(size_t row, size_t col, fp_pq_type t, cell *c);
} table;

static const fp_pq_column all_types[] = {
    {"flag", FP_PQ_BOOL},   {"count", FP_PQ_INT64},  {"temp", FP_PQ_DOUBLE},
    {"name", FP_PQ_STRING}, {"ts", FP_PQ_TIMESTAMP}, {"nothing", FP_PQ_STRING},
};

static uint64_t mixu(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    return x;
}

/* Every type, nulls at pseudo-random rows, low-cardinality strings with UTF-8 and high bytes,
 * extreme integers, the last column always null. */
static void mixed_cell(size_t row, size_t col, fp_pq_type t, cell *c)
{
    static const char *const names[] = {"alpha", "\xc3\xa9t\xc3\xa9", "", "\xe2\x82\xac uro",
                                        "zz\xff"};
    uint64_t h = mixu(row * 31 + col);
    memset(c, 0, sizeof *c);
    c->valid = h % 5 != 0 && col != 5;
    if (!c->valid)
        return;
    switch (t) {
    case FP_PQ_BOOL:
        c->b = (h >> 8) & 1;
        break;
    case FP_PQ_INT64:
        c->i = row == 1 ? INT64_MIN : row == 2 ? INT64_MAX : (int64_t)(h >> 40) - 100000;
        break;
    case FP_PQ_DOUBLE:
        c->d = row % 7 == 3 ? -0.0 : (double)(int64_t)(h >> 44) / 8.0 - 1000.0;
        break;
    case FP_PQ_STRING:
        c->slen = (size_t)snprintf(c->s, sizeof c->s, "%s", names[(h >> 12) % 5]);
        break;
    case FP_PQ_TIMESTAMP:
        c->i = 1700000000000LL + (int64_t)row * 1000;
        break;
    }
}

/* Unique values everywhere (dictionary grows with the row count). */
static void unique_cell(size_t row, size_t col, fp_pq_type t, cell *c)
{
    memset(c, 0, sizeof *c);
    c->valid = row % 11 != 4;
    c->b = row & 1;
    c->i = (int64_t)(row * 7919);
    c->d = (double)row * 1.5;
    c->slen = (size_t)snprintf(c->s, sizeof c->s, "value-%zu-%zu", row, col);
}

static void set_cell(fp_pq_writer *w, size_t col, fp_pq_type t, const cell *c)
{
    if (!c->valid)
        return;
    switch (t) {
    case FP_PQ_BOOL:
        fp_pq_set_bool(w, col, c->b);
        break;
    case FP_PQ_DOUBLE:
        fp_pq_set_double(w, col, c->d);
        break;
    case FP_PQ_STRING:
        fp_pq_set_string(w, col, c->s, c->slen);
        break;
    default:
        fp_pq_set_int64(w, col, c->i);
    }
}

static void write_table(const char *path, const table *tb, const fp_pq_writer_opts *o)
{
    fp_pq_writer *w;
    fp_err err = {0};
    assert_int_equal(fp_pq_writer_open(path, tb->cols, tb->ncols, o, &w, &err), FP_OK);
    for (size_t r = 0; r < tb->nrows; r++) {
        for (size_t c = 0; c < tb->ncols; c++) {
            cell x;
            tb->cell_at(r, c, tb->cols[c].type, &x);
            set_cell(w, c, tb->cols[c].type, &x);
        }
        assert_int_equal(fp_pq_writer_end_row(w, &err), FP_OK);
    }
    int64_t rows = -1;
    if (fp_pq_writer_close(w, &rows, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(rows, (int64_t)tb->nrows);
}

static void check_value(const fp_pq_values *v, size_t i, const cell *want)
{
    assert_int_equal(v->valid[i], want->valid);
    if (!want->valid)
        return;
    switch (v->type) {
    case FP_PQ_BOOL:
        assert_int_equal(v->b[i], want->b);
        break;
    case FP_PQ_DOUBLE:
        assert_memory_equal(&v->f64[i], &want->d, 8); /* bit-exact, -0.0 included */
        break;
    case FP_PQ_STRING:
        assert_int_equal(v->slen[i], want->slen);
        assert_memory_equal(v->s[i], want->s, want->slen);
        break;
    default:
        assert_int_equal(v->i64[i], want->i);
    }
}

/* Reads path back and compares every cell; returns the reader for more checks. */
static fp_pq_reader *check_table(const char *path, const table *tb)
{
    fp_pq_reader *r;
    fp_err err = {0};
    if (fp_pq_reader_open(path, &r, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(fp_pq_reader_ncols(r), tb->ncols);
    assert_int_equal(fp_pq_reader_nrows(r), (int64_t)tb->nrows);
    assert_string_equal(fp_pq_reader_created_by(r), "fleetpipe version 0.1.0");
    for (size_t c = 0; c < tb->ncols; c++) {
        assert_string_equal(fp_pq_reader_column(r, c)->name, tb->cols[c].name);
        assert_int_equal(fp_pq_reader_column(r, c)->type, tb->cols[c].type);
    }
    size_t base = 0;
    for (size_t g = 0; g < fp_pq_reader_nrowgroups(r); g++) {
        size_t n = 0;
        for (size_t c = 0; c < tb->ncols; c++) {
            fp_pq_values v;
            if (fp_pq_read_column(r, g, c, &v, &err))
                fail_msg("%s", err.msg);
            assert_int_equal(v.type, tb->cols[c].type);
            n = v.n;
            for (size_t i = 0; i < v.n; i++) {
                cell want;
                tb->cell_at(base + i, c, tb->cols[c].type, &want);
                check_value(&v, i, &want);
            }
            fp_pq_values_free(&v);
        }
        base += n;
    }
    assert_int_equal(base, tb->nrows);
    return r;
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s.parquet", dir, name);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_round_trip_codecs(void **state)
{
    table tb = {all_types, 6, 5000, mixed_cell};
    for (int codec = FP_PQ_ZSTD; codec <= FP_PQ_UNCOMPRESSED; codec++) {
        char path[128];
        path_of(path, sizeof path,
                codec == FP_PQ_ZSTD     ? "zstd"
                : codec == FP_PQ_SNAPPY ? "snappy"
                                        : "none");
        fp_pq_writer_opts o = {.codec = (fp_pq_codec)codec};
        write_table(path, &tb, &o);
        fp_pq_reader *r = check_table(path, &tb);
        assert_int_equal(fp_pq_reader_nrowgroups(r), 1);
        fp_pq_reader_free(r);
    }
}

static void test_empty_file(void **state)
{
    char path[128];
    path_of(path, sizeof path, "empty");
    table tb = {all_types, 6, 0, mixed_cell};
    write_table(path, &tb, NULL);
    fp_pq_reader *r = check_table(path, &tb);
    assert_int_equal(fp_pq_reader_nrowgroups(r), 0);
    fp_pq_values v;
    fp_err err = {0};
    assert_int_equal(fp_pq_read_column(r, 0, 0, &v, &err), FP_ERR_INVALID);
    fp_pq_reader_free(r);
}

static void test_pages_and_row_groups(void **state)
{
    char path[128];
    path_of(path, sizeof path, "many");
    table tb = {all_types, 6, 20000, mixed_cell};
    fp_pq_writer_opts o = {.page_bytes = 500, .row_group_bytes = 100000};
    write_table(path, &tb, &o);
    fp_pq_reader *r = check_table(path, &tb);
    assert_true(fp_pq_reader_nrowgroups(r) > 3);
    fp_pq_reader_free(r);
}

/* A dictionary makes repeated strings small; past dict_max_bytes the chunk is PLAIN and
 * still reads back the same. */
static void test_dictionary_fallback(void **state)
{
    char dict[128], plain[128];
    path_of(dict, sizeof dict, "dict");
    path_of(plain, sizeof plain, "plain");
    table tb = {all_types, 6, 20000, mixed_cell};
    fp_pq_writer_opts o = {.codec = FP_PQ_UNCOMPRESSED};
    write_table(dict, &tb, &o);
    o.dict_max_bytes = 8;
    write_table(plain, &tb, &o);
    fp_pq_reader_free(check_table(dict, &tb));
    fp_pq_reader_free(check_table(plain, &tb));
    assert_true(file_size(dict) < file_size(plain));
    table names = {all_types + 3, 1, 20000, mixed_cell}; /* strings only */
    o.dict_max_bytes = 0;
    write_table(dict, &names, &o);
    o.dict_max_bytes = 8;
    write_table(plain, &names, &o);
    assert_true(file_size(dict) * 3 < file_size(plain));
    /* unique values: the dictionary passes the limit part-way through the chunk */
    table uq = {all_types, 5, 30000, unique_cell};
    o.dict_max_bytes = 40000;
    o.page_bytes = 4096;
    write_table(plain, &uq, &o);
    fp_pq_reader_free(check_table(plain, &uq));
}

static void stats_cell(size_t row, size_t col, fp_pq_type t, cell *c)
{
    static const double d[] = {NAN, 3.5, 0.0, -2.25, NAN};
    static const char *const s[] = {"b", "\xc3\xa9", "a", "\x7f", "ab"};
    memset(c, 0, sizeof *c);
    c->valid = row != 2;
    c->b = row == 1;
    c->i = row == 3 ? INT64_MIN : (int64_t)row * 10;
    c->d = col == 5 ? NAN : col == 6 ? (row == 0 ? 0.0 : -0.0) : d[row];
    c->slen = strlen(s[row]);
    memcpy(c->s, s[row], c->slen);
    (void)t;
}

static void test_statistics(void **state)
{
    static const fp_pq_column cols[] = {
        {"b", FP_PQ_BOOL},      {"i", FP_PQ_INT64},    {"d", FP_PQ_DOUBLE},    {"s", FP_PQ_STRING},
        {"t", FP_PQ_TIMESTAMP}, {"nan", FP_PQ_DOUBLE}, {"zero", FP_PQ_DOUBLE},
    };
    table tb = {cols, 7, 5, stats_cell};
    char path[128];
    path_of(path, sizeof path, "stats");
    write_table(path, &tb, NULL);
    fp_pq_reader *r = check_table(path, &tb);
    fp_pq_stats st[7];
    fp_err err = {0};
    for (size_t c = 0; c < 7; c++) {
        assert_int_equal(fp_pq_read_stats(r, 0, c, &st[c], &err), FP_OK);
        if (st[c].null_count != 1)
            fail_msg("column %zu: %lld nulls", c, (long long)st[c].null_count);
    }
    assert_true(st[0].has_minmax && !st[0].min.b && st[0].max.b);
    assert_int_equal(st[1].min.i64, INT64_MIN);
    assert_int_equal(st[1].max.i64, 40);
    /* -2.25 .. 3.5: NaN ignored */
    assert_true(st[2].min.f64 == -2.25 && st[2].max.f64 == 3.5);
    /* unsigned bytes: "ab" < "b" < "\x7f" < "\xc3\xa9" (the null row would be "a") */
    assert_int_equal(st[3].min.s.n, 2);
    assert_memory_equal(st[3].min.s.p, "ab", 2);
    assert_int_equal(st[3].max.s.n, 2);
    assert_memory_equal(st[3].max.s.p, "\xc3\xa9", 2);
    assert_false(st[5].has_minmax); /* only NaN */
    assert_true(st[6].has_minmax);
    assert_true(st[6].min.f64 == 0 && signbit(st[6].min.f64));
    assert_true(st[6].max.f64 == 0 && !signbit(st[6].max.f64));
    fp_pq_reader_free(r);
}

static void test_writer_misuse(void **state)
{
    char path[128];
    path_of(path, sizeof path, "misuse");
    fp_pq_writer *w;
    fp_err err = {0};
    static const fp_pq_column dup[] = {{"a", FP_PQ_INT64}, {"a", FP_PQ_BOOL}};
    assert_int_equal(fp_pq_writer_open(path, dup, 2, NULL, &w, &err), FP_ERR_CONFIG);
    assert_int_equal(fp_pq_writer_open(path, dup, 0, NULL, &w, &err), FP_ERR_CONFIG);
    assert_int_equal(fp_pq_writer_open("/nonexistent/x.parquet", dup, 1, NULL, &w, &err),
                     FP_ERR_IO);
    assert_int_equal(fp_pq_writer_open(path, dup, 1, NULL, &w, &err), FP_OK);
    fp_pq_set_bool(w, 0, true);
    assert_int_equal(fp_pq_writer_end_row(w, &err), FP_ERR_INTERNAL);
    fp_pq_writer_abort(w);
    assert_int_equal(fp_pq_writer_open(path, dup, 1, NULL, &w, &err), FP_OK);
    fp_pq_set_int64(w, 0, 1);
    fp_pq_set_int64(w, 0, 2);
    assert_int_equal(fp_pq_writer_end_row(w, &err), FP_ERR_INTERNAL);
    assert_int_equal(fp_pq_writer_close(w, NULL, &err), FP_ERR_INTERNAL);
    fp_pq_writer_abort(NULL);
    /* a full disk: the error surfaces at a row-group flush or at close, and sticks */
    static const fp_pq_column one[] = {{"s", FP_PQ_STRING}};
    fp_pq_writer_opts o = {.row_group_bytes = 1 << 16};
    assert_int_equal(fp_pq_writer_open("/dev/full", one, 1, &o, &w, &err), FP_OK);
    fp_code rc = FP_OK;
    for (int i = 0; i < 200000 && !rc; i++) {
        fp_pq_set_string(w, 0, "0123456789abcdef", 16 - (size_t)(i % 16));
        rc = fp_pq_writer_end_row(w, &err);
    }
    fp_code rc2 = fp_pq_writer_close(w, NULL, &err);
    assert_int_equal(rc ? rc : rc2, FP_ERR_IO);
    assert_int_equal(rc2, FP_ERR_IO);
    assert_non_null(strstr(err.msg, "/dev/full"));
    fp_pq_codec c;
    assert_int_equal(fp_pq_codec_parse("snappy", &c, &err), FP_OK);
    assert_int_equal(c, FP_PQ_SNAPPY);
    assert_int_equal(fp_pq_codec_parse("none", &c, &err), FP_OK);
    assert_int_equal(c, FP_PQ_UNCOMPRESSED);
    assert_int_equal(fp_pq_codec_parse("lz4", &c, &err), FP_ERR_CONFIG);
    assert_string_equal(fp_pq_type_name(FP_PQ_TIMESTAMP), "timestamp");
}

/* The rows of tests/data/parquet/make_foreign.mjs. */
static void foreign_cell(size_t row, size_t col, fp_pq_type t, cell *c)
{
    memset(c, 0, sizeof *c);
    c->valid = row % 10 != 9;
    c->b = row % 3 == 0;
    c->i = (int64_t)(row * row) - 1000;
    c->d = (double)row / 4;
    c->slen = (size_t)snprintf(c->s, sizeof c->s, "k%zu%s", row % 7, row % 2 ? "\xc3\xa9" : "");
    (void)col;
    (void)t;
}

static const fp_pq_column foreign_cols[] = {
    {"flag", FP_PQ_BOOL}, {"n", FP_PQ_INT64}, {"d", FP_PQ_DOUBLE}, {"s", FP_PQ_STRING}};

static fp_pq_reader *open_foreign(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/parquet/%s.parquet", data_dir, name);
    fp_pq_reader *r;
    fp_err err = {0};
    if (fp_pq_reader_open(path, &r, &err))
        fail_msg("%s", err.msg);
    return r;
}

/* Column col of every row group of r against foreign_cell. */
static void check_foreign_column(fp_pq_reader *r, size_t col)
{
    size_t base = 0;
    for (size_t g = 0; g < fp_pq_reader_nrowgroups(r); g++) {
        fp_pq_values v;
        fp_err err = {0};
        if (fp_pq_read_column(r, g, col, &v, &err))
            fail_msg("%s", err.msg);
        for (size_t i = 0; i < v.n; i++) {
            cell want;
            foreign_cell(base + i, col, v.type, &want);
            check_value(&v, i, &want);
        }
        base += v.n;
        fp_pq_values_free(&v);
    }
    assert_int_equal(base, 300);
}

static void test_foreign_files(void **state)
{
    static const char *const v1[] = {"duckdb_v1_snappy", "duckdb_v1_none"};
    for (size_t f = 0; f < 2; f++) {
        fp_pq_reader *r = open_foreign(v1[f]);
        assert_int_equal(fp_pq_reader_ncols(r), 4);
        for (size_t c = 0; c < 4; c++) {
            assert_string_equal(fp_pq_reader_column(r, c)->name, foreign_cols[c].name);
            assert_int_equal(fp_pq_reader_column(r, c)->type, foreign_cols[c].type);
            check_foreign_column(r, c);
        }
        fp_pq_stats st;
        assert_int_equal(fp_pq_read_stats(r, 0, 1, &st, NULL), FP_OK);
        assert_true(st.has_minmax && st.min.i64 == -1000);
        fp_pq_reader_free(r);
    }
    /* v2 pages as DuckDB writes them: booleans, dictionary strings, DELTA_BINARY_PACKED
     * integers and BYTE_STREAM_SPLIT doubles, read by another writer's hand */
    fp_pq_reader *r = open_foreign("duckdb_v2_zstd");
    for (size_t c = 0; c < 4; c++)
        check_foreign_column(r, c);
    fp_pq_reader_free(r);
    fp_err err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/parquet/duckdb_micros.parquet", data_dir);
    assert_int_equal(fp_pq_reader_open(path, &r, &err), FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "column 0 (ts)"));
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *n = (size_t)file_size(path);
    uint8_t *p = malloc(*n);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* Opens p[0..n) and reads every chunk and statistic: errors are fine, crashes are not. */
static int read_all(const uint8_t *p, size_t n)
{
    fp_pq_reader *r;
    fp_err err = {0};
    if (fp_pq_reader_open_mem(p, n, "fuzz", &r, &err)) {
        assert_int_equal(err.code, FP_ERR_INVALID);
        assert_true(strncmp(err.msg, "parquet: fuzz: ", 15) == 0);
        return 0;
    }
    int ok = 1;
    for (size_t g = 0; g < fp_pq_reader_nrowgroups(r); g++)
        for (size_t c = 0; c < fp_pq_reader_ncols(r); c++) {
            fp_pq_values v;
            fp_pq_stats st;
            fp_code rc = fp_pq_read_column(r, g, c, &v, &err);
            assert_true(rc == FP_OK || rc == FP_ERR_INVALID);
            if (rc == FP_OK) {
                for (size_t i = 0; i < v.n; i++)
                    if (v.type == FP_PQ_STRING && v.slen[i])
                        ok += v.s[i][v.slen[i] - 1] != 1; /* touch the bytes */
                fp_pq_values_free(&v);
            }
            rc = fp_pq_read_stats(r, g, c, &st, &err);
            assert_true(rc == FP_OK || rc == FP_ERR_INVALID);
        }
    fp_pq_reader_free(r);
    return ok;
}

/* Every truncation (also with the real footer moved to the cut), every byte flipped four ways,
 * and random multi-byte damage of orig[0..n): the reader errs or returns values, never more. */
static void corrupt_everywhere(const uint8_t *orig, size_t n)
{
    static const uint8_t flips[] = {0x01, 0x80, 0xff, 0x10};
    assert_true(read_all(orig, n) > 0);
    for (size_t len = 0; len < n; len++) {
        uint8_t *q = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
        memcpy(q, orig, len);
        read_all(q, len);
        if (len >= 8 && len < n - 8) {
            memcpy(q + len - 8, orig + n - 8, 8);
            read_all(q, len);
        }
        free(q);
    }
    uint8_t *q = malloc(n);
    for (size_t pos = 0; pos < n; pos++)
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(q, orig, n);
            q[pos] ^= flips[f];
            read_all(q, n);
        }
    srand(7);
    for (int it = 0; it < 3000; it++) {
        memcpy(q, orig, n);
        for (int k = 0; k < 1 + rand() % 4; k++)
            q[(size_t)rand() % n] = (uint8_t)rand();
        read_all(q, n);
    }
    free(q);
}

static void test_hostile_input(void **state)
{
    char path[512];
    size_t n;
    for (int codec = FP_PQ_ZSTD; codec <= FP_PQ_UNCOMPRESSED; codec++) {
        path_of(path, sizeof path, "fuzz");
        table tb = {all_types, 6, 60, mixed_cell};
        fp_pq_writer_opts o = {
            .codec = (fp_pq_codec)codec, .page_bytes = 64, .row_group_bytes = 600};
        write_table(path, &tb, &o);
        uint8_t *orig = slurp(path, &n);
        corrupt_everywhere(orig, n);
        free(orig);
    }
    /* DuckDB's data pages v2 and RLE_DICTIONARY */
    snprintf(path, sizeof path, "%s/parquet/duckdb_v2_zstd.parquet", data_dir);
    uint8_t *orig = slurp(path, &n);
    corrupt_everywhere(orig, n);
    free(orig);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    snprintf(dir, sizeof dir, "/tmp/test_parquet.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_codecs),    cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_pages_and_row_groups), cmocka_unit_test(test_dictionary_fallback),
        cmocka_unit_test(test_statistics),           cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_foreign_files),        cmocka_unit_test(test_hostile_input),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!getenv("FP_KEEP") && system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
