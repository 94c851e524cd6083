/* pq_gen.c — writes Parquet files with fleetpipe's writer plus what they must hold, for
 * tests/integration/parquet_verify.sh to check with independent readers (tests/verify).
 *
 *   pq_gen OUTDIR   ->  OUTDIR/<case>.parquet, <case>.jsonl (one JSON object per row, null
 *                       columns left out; INT64/TIMESTAMP as integers, doubles as %.17g with
 *                       "NaN"/"Infinity"/"-Infinity" as strings), <case>.args (pqcheck options:
 *                       the schema and whether chunks must be dictionary or PLAIN)
 *
 * The cases cover every type with nulls, each codec, dictionary and PLAIN chunks, a one-entry
 * dictionary (index bit width 0), all-null columns, many pages and row groups, zero rows, and
 * extremes: INT64 limits, signed zeros, subnormals, infinities, NaN, non-ASCII strings. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "parquet/parquet.h"

static const fp_pq_column cols[] = {
    {"flag", FP_PQ_BOOL},   {"count", FP_PQ_INT64},  {"temp", FP_PQ_DOUBLE},
    {"name", FP_PQ_STRING}, {"ts", FP_PQ_TIMESTAMP}, {"gone", FP_PQ_STRING},
};
#define NCOLS (sizeof cols / sizeof cols[0])

static const int64_t ints[] = {INT64_MIN, INT64_MAX, 0, -1, 1, 9007199254740993LL, -123456789};
static const double dbls[] = {-0.0, 0.0,      1e308,     -1e308, 5e-324, 1.7976931348623157e308,
                              NAN,  INFINITY, -INFINITY, 0.1,    -2.5,   3.141592653589793};
static const char *const strs[] = {"",
                                   "plain ascii",
                                   "\xc3\xa9t\xc3\xa9",
                                   "\xe2\x82\xac",
                                   "\xf0\x9f\x9a\x9a truck",
                                   "\xe4\xb8\xad\xe6\x96\x87",
                                   "quote \" backslash \\ tab \t nl \n",
                                   "zz\xc3\xbf"};
static const int64_t stamps[] = {0, -86400000, 1700000000123LL, 253402300799999LL, -1};

typedef struct gcase {
    const char *name;
    fp_pq_codec codec;
    size_t rows;
    size_t page_bytes, row_group_bytes, dict_max_bytes;
    int mode; /* 0 mixed, 1 extremes (low cardinality), 2 all null, 3 one distinct value */
    const char *encoding; /* "dict", "plain" or "" (not checked) */
} gcase;

static const gcase cases[] = {
    {"types_zstd", FP_PQ_ZSTD, 3000, 0, 0, 0, 0, "dict"},
    {"types_snappy", FP_PQ_SNAPPY, 3000, 0, 0, 0, 0, "dict"},
    {"types_none", FP_PQ_UNCOMPRESSED, 3000, 0, 0, 0, 0, "dict"},
    {"plain", FP_PQ_ZSTD, 3000, 0, 0, 1, 0, "plain"},
    {"multi", FP_PQ_SNAPPY, 20000, 300, 60000, 0, 0, ""},
    {"extremes", FP_PQ_UNCOMPRESSED, 500, 0, 0, 0, 1, "dict"},
    {"extremes_plain", FP_PQ_ZSTD, 500, 0, 0, 1, 1, "plain"},
    {"all_null", FP_PQ_ZSTD, 100, 0, 0, 0, 2, ""},
    {"one_value", FP_PQ_ZSTD, 1000, 0, 0, 0, 3, "dict"},
    {"empty", FP_PQ_ZSTD, 0, 0, 0, 0, 0, ""},
};

static uint64_t mixu(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    return x * 0xff51afd7ed558ccdULL;
}

static void json_string(fp_buf *b, const char *s)
{
    fp_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fp_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            fp_buf_printf(b, "\\u%04x", c);
        else
            fp_buf_putc(b, (char)c);
    }
    fp_buf_putc(b, '"');
}

static void json_double(fp_buf *b, double d)
{
    if (isnan(d))
        fp_buf_puts(b, "\"NaN\"");
    else if (isinf(d))
        fp_buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else
        fp_buf_printf(b, "%.17g", d);
}

/* Sets the cell (row, col) in w unless it is null, and appends it to the JSON object in b
 * (*n: members so far). */
static void cell(const gcase *gc, fp_pq_writer *w, fp_buf *b, size_t row, size_t col, int *n)
{
    uint64_t h = mixu(row * 131 + col);
    bool null = gc->mode == 2 || col == 5 || (gc->mode == 0 && h % 6 == 0) ||
                (gc->mode == 1 && h % 13 == 0);
    if (null)
        return;
    fp_buf_puts(b, (*n)++ ? "," : "{");
    json_string(b, cols[col].name);
    fp_buf_putc(b, ':');
    uint64_t k = gc->mode == 3 ? 0 : h >> 20;
    switch (cols[col].type) {
    case FP_PQ_BOOL: {
        bool v = gc->mode == 3 || (k & 1);
        fp_pq_set_bool(w, col, v);
        fp_buf_puts(b, v ? "true" : "false");
        break;
    }
    case FP_PQ_INT64: {
        int64_t v = gc->mode == 0 ? (int64_t)(k % 100000) - 5000 : ints[k % 7];
        fp_pq_set_int64(w, col, v);
        fp_buf_printf(b, "%lld", (long long)v);
        break;
    }
    case FP_PQ_DOUBLE: {
        double v = gc->mode == 0 ? (double)(k % 4096) / 16.0 - 100.0 : dbls[k % 12];
        fp_pq_set_double(w, col, v);
        json_double(b, v);
        break;
    }
    case FP_PQ_STRING: {
        const char *v = strs[k % 8];
        fp_pq_set_string(w, col, v, strlen(v));
        json_string(b, v);
        break;
    }
    case FP_PQ_TIMESTAMP: {
        int64_t v = gc->mode == 0 ? 1700000000000LL + (int64_t)row * 250 : stamps[k % 5];
        fp_pq_set_int64(w, col, v);
        fp_buf_printf(b, "%lld", (long long)v);
        break;
    }
    }
}

static int gen(const char *dir, const gcase *gc)
{
    char path[4096];
    fp_pq_writer_opts o = {.codec = gc->codec,
                           .page_bytes = gc->page_bytes,
                           .row_group_bytes = gc->row_group_bytes,
                           .dict_max_bytes = gc->dict_max_bytes};
    fp_pq_writer *w;
    fp_err err;
    snprintf(path, sizeof path, "%s/%s.parquet", dir, gc->name);
    if (fp_pq_writer_open(path, cols, NCOLS, &o, &w, &err))
        goto fail;
    fp_buf b = FP_BUF_INIT;
    for (size_t r = 0; r < gc->rows; r++) {
        int n = 0;
        for (size_t c = 0; c < NCOLS; c++)
            cell(gc, w, &b, r, c, &n);
        fp_buf_puts(&b, n ? "}\n" : "{}\n");
        if (fp_pq_writer_end_row(w, &err))
            goto fail;
    }
    if (fp_pq_writer_close(w, NULL, &err))
        goto fail;
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, gc->name);
    FILE *f = fopen(path, "w");
    if (!f || (b.len && fwrite(b.p, 1, b.len, f) != b.len) || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    fp_buf_free(&b);
    snprintf(path, sizeof path, "%s/%s.args", dir, gc->name);
    f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "--schema ");
    for (size_t c = 0; c < NCOLS; c++)
        fprintf(f, "%s%s:%s", c ? "," : "", cols[c].name, fp_pq_type_name(cols[c].type));
    if (gc->encoding[0])
        fprintf(f, " --encoding %s", gc->encoding);
    fprintf(f, "\n");
    return fclose(f) != 0;
fail:
    fprintf(stderr, "pq_gen: %s\n", err.msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pq_gen OUTDIR\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (gen(argv[1], &cases[i]))
            return 1;
        printf("%s\n", cases[i].name);
    }
    return 0;
}
