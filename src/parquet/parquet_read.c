/* parquet_read.c — the Parquet reader of parquet.h.
 *
 * The whole file is in memory; the footer is parsed into a small table of columns and chunk
 * metadata (statistics point into the file's bytes). A column chunk is decoded page by page:
 * every size, count, offset and dictionary index is checked against the bytes that are really
 * there before it is used, so hostile input ends in FP_ERR_INVALID, never in a read outside the
 * buffer. Row counts are capped (FP_PQ_MAX_RG_ROWS) and compressed pages must announce their
 * exact size before anything is allocated for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <snappy-c.h>
#include <zstd.h>

#include "parquet/encoding.h"
#include "parquet/parquet_int.h"
#include "parquet/rle.h"
#include "parquet/thrift.h"

#define MAX_PAGE_BYTES ((int64_t)1 << 30)

typedef struct pq_rchunk {
    int codec; /* fp_pq_codec, -1 unsupported */
    int32_t ptype;
    int64_t num_values, data_off, dict_off, csize; /* dict_off -1: none */
    bool has_meta, has_path; /* has_path: ColumnChunk.file_path, data in another file */
    bool has_null_count;
    int64_t null_count;
    const uint8_t *st[4]; /* max, min, max_value, min_value */
    size_t stn[4];
} pq_rchunk;

typedef struct pq_rrg {
    int64_t rows;
    size_t ncols;
    pq_rchunk *chunks;
} pq_rrg;

/* A schema element as parsed. */
typedef struct pq_se {
    int32_t type, rep, nchildren, conv;
    int logical, unit; /* union member ids, 0 when absent */
    const uint8_t *name;
    size_t namelen;
} pq_se;

struct fp_pq_reader {
    uint8_t *buf;
    size_t len, footer; /* footer: offset of FileMetaData */
    char *name;
    char *created_by;
    fp_pq_column *cols;
    bool *required;
    size_t ncols;
    int64_t nrows;
    pq_rrg *rgs;
    size_t nrg;
    pq_se *se; /* while parsing */
    size_t nse;
    fp_pq_codec_ctx codec;
};

/* ---- Thrift helpers ---- */

typedef fp_code (*field_fn)(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err);

static fp_code walk(fp_pq_thrift_reader *t, field_fn fn, void *ctx, fp_err *err)
{
    fp_code rc = fp_pq_thrift_read_struct_begin(t, err);
    while (!rc) {
        int16_t id;
        int type;
        rc = fp_pq_thrift_read_field(t, &id, &type, err);
        if (rc)
            return rc;
        if (type == FP_PQ_THRIFT_STOP)
            return fp_pq_thrift_read_struct_end(t, err);
        rc = fn(t, id, type, ctx, err);
    }
    return rc;
}

static fp_code want(fp_pq_thrift_reader *t, int type, int expected, int16_t id, fp_err *err)
{
    if (type != expected)
        return fp_err_set(err, FP_ERR_INVALID, "thrift: field %d has type %d, not %d at byte %zu",
                          id, type, expected, t->pos);
    return FP_OK;
}

static fp_code rd_i32(fp_pq_thrift_reader *t, int type, int16_t id, int32_t *v, fp_err *err)
{
    fp_code rc = want(t, type, FP_PQ_THRIFT_I32, id, err);
    return rc ? rc : fp_pq_thrift_read_i32(t, v, err);
}

static fp_code rd_i64(fp_pq_thrift_reader *t, int type, int16_t id, int64_t *v, fp_err *err)
{
    fp_code rc = want(t, type, FP_PQ_THRIFT_I64, id, err);
    return rc ? rc : fp_pq_thrift_read_i64(t, v, err);
}

static fp_code rd_bin(fp_pq_thrift_reader *t, int type, int16_t id, const uint8_t **p, size_t *n,
                      fp_err *err)
{
    fp_code rc = want(t, type, FP_PQ_THRIFT_BINARY, id, err);
    return rc ? rc : fp_pq_thrift_read_binary(t, p, n, err);
}

/* A list of structs into *arr (*n elements of size bytes, zeroed, then init(element) when
 * init is not NULL); fn parses the fields of each element. */
static fp_code rd_struct_list(fp_pq_thrift_reader *t, int type, int16_t id, void **arr, size_t *n,
                              size_t size, void (*init)(void *), field_fn fn, fp_err *err)
{
    fp_code rc = want(t, type, FP_PQ_THRIFT_LIST, id, err);
    int et;
    uint32_t cnt;
    if (!rc)
        rc = fp_pq_thrift_read_list_begin(t, &et, &cnt, err);
    if (!rc)
        rc = want(t, et, FP_PQ_THRIFT_STRUCT, id, err);
    if (rc)
        return rc;
    if (*arr)
        return fp_err_set(err, FP_ERR_INVALID, "thrift: field %d twice", id);
    *arr = fp_xcalloc(cnt ? cnt : 1, size);
    *n = cnt;
    for (uint32_t i = 0; i < cnt && !rc; i++) {
        if (init)
            init((char *)*arr + i * size);
        rc = walk(t, fn, (char *)*arr + i * size, err);
    }
    return rc;
}

/* ---- footer ---- */

static fp_code f_unit(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    *(int *)ctx = id;
    return fp_pq_thrift_skip(t, type, err);
}

static fp_code f_timestamp(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    if (id == TS_UNIT && type == FP_PQ_THRIFT_STRUCT)
        return walk(t, f_unit, &((pq_se *)ctx)->unit, err);
    return fp_pq_thrift_skip(t, type, err);
}

static fp_code f_logical(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_se *se = ctx;
    se->logical = id;
    if (id == LT_TIMESTAMP && type == FP_PQ_THRIFT_STRUCT)
        return walk(t, f_timestamp, se, err);
    return fp_pq_thrift_skip(t, type, err);
}

static fp_code f_schema(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_se *se = ctx;
    switch (id) {
    case SE_TYPE:
        return rd_i32(t, type, id, &se->type, err);
    case SE_REPETITION:
        return rd_i32(t, type, id, &se->rep, err);
    case SE_NAME:
        return rd_bin(t, type, id, &se->name, &se->namelen, err);
    case SE_NUM_CHILDREN:
        return rd_i32(t, type, id, &se->nchildren, err);
    case SE_CONVERTED:
        return rd_i32(t, type, id, &se->conv, err);
    case SE_LOGICAL:
        if (type == FP_PQ_THRIFT_STRUCT)
            return walk(t, f_logical, se, err);
        return fp_pq_thrift_skip(t, type, err);
    default:
        return fp_pq_thrift_skip(t, type, err);
    }
}

static fp_code f_stats(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_rchunk *k = ctx;
    static const int16_t ids[4] = {ST_MAX, ST_MIN, ST_MAX_VALUE, ST_MIN_VALUE};
    for (int i = 0; i < 4; i++)
        if (id == ids[i])
            return rd_bin(t, type, id, &k->st[i], &k->stn[i], err);
    if (id == ST_NULL_COUNT) {
        k->has_null_count = true;
        return rd_i64(t, type, id, &k->null_count, err);
    }
    return fp_pq_thrift_skip(t, type, err);
}

static fp_code f_colmeta(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_rchunk *k = ctx;
    int32_t codec;
    fp_code rc;
    switch (id) {
    case CM_TYPE:
        return rd_i32(t, type, id, &k->ptype, err);
    case CM_CODEC:
        rc = rd_i32(t, type, id, &codec, err);
        k->codec = fp_pq_codec_from_thrift(codec);
        return rc;
    case CM_NUM_VALUES:
        return rd_i64(t, type, id, &k->num_values, err);
    case CM_TOTAL_COMPRESSED:
        return rd_i64(t, type, id, &k->csize, err);
    case CM_DATA_PAGE_OFFSET:
        return rd_i64(t, type, id, &k->data_off, err);
    case CM_DICT_PAGE_OFFSET:
        return rd_i64(t, type, id, &k->dict_off, err);
    case CM_STATISTICS:
        rc = want(t, type, FP_PQ_THRIFT_STRUCT, id, err);
        return rc ? rc : walk(t, f_stats, k, err);
    default:
        return fp_pq_thrift_skip(t, type, err);
    }
}

static fp_code f_chunk(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_rchunk *k = ctx;
    if (id == 1) /* file_path */
        k->has_path = true;
    if (id == CC_META) {
        fp_code rc = want(t, type, FP_PQ_THRIFT_STRUCT, id, err);
        k->has_meta = true;
        return rc ? rc : walk(t, f_colmeta, k, err);
    }
    return fp_pq_thrift_skip(t, type, err);
}

static void init_chunk(void *p)
{
    *(pq_rchunk *)p = (pq_rchunk){
        .codec = -1, .ptype = -1, .num_values = -1, .data_off = -1, .dict_off = -1, .csize = -1};
}

static void init_se(void *p)
{
    *(pq_se *)p = (pq_se){.type = -1, .rep = -1, .nchildren = -1, .conv = -1};
}

static fp_code f_rowgroup(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_rrg *g = ctx;
    if (id == RG_COLUMNS)
        return rd_struct_list(t, type, id, (void **)&g->chunks, &g->ncols, sizeof *g->chunks,
                              init_chunk, f_chunk, err);
    if (id == RG_NUM_ROWS)
        return rd_i64(t, type, id, &g->rows, err);
    return fp_pq_thrift_skip(t, type, err);
}

static fp_code f_filemeta(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    fp_pq_reader *r = ctx;
    const uint8_t *p;
    size_t n;
    fp_code rc;
    switch (id) {
    case FMD_SCHEMA:
        return rd_struct_list(t, type, id, (void **)&r->se, &r->nse, sizeof *r->se, init_se,
                              f_schema, err);
    case FMD_NUM_ROWS:
        return rd_i64(t, type, id, &r->nrows, err);
    case FMD_ROW_GROUPS:
        return rd_struct_list(t, type, id, (void **)&r->rgs, &r->nrg, sizeof *r->rgs, NULL,
                              f_rowgroup, err);
    case FMD_CREATED_BY:
        rc = rd_bin(t, type, id, &p, &n, err);
        if (!rc && !r->created_by)
            r->created_by = fp_xstrndup((const char *)p, n);
        return rc;
    default:
        return fp_pq_thrift_skip(t, type, err);
    }
}

/* The column type of a leaf, or -1. */
static int leaf_type(const pq_se *se)
{
    switch (se->type) {
    case PQT_BOOLEAN:
        return FP_PQ_BOOL;
    case PQT_DOUBLE:
        return FP_PQ_DOUBLE;
    case PQT_BYTE_ARRAY:
        return (se->logical == 0 || se->logical == LT_STRING) ? FP_PQ_STRING : -1;
    case PQT_INT64:
        if (se->logical == LT_TIMESTAMP)
            return se->unit == TU_MILLIS ? FP_PQ_TIMESTAMP : -1;
        if (se->conv == PQ_CONV_TIMESTAMP_MILLIS)
            return FP_PQ_TIMESTAMP;
        return (se->logical == 0 || se->logical == LT_INTEGER) &&
                       (se->conv == -1 || se->conv == PQ_CONV_INT_64)
                   ? FP_PQ_INT64
                   : -1;
    default:
        return -1;
    }
}

static fp_code check_schema(fp_pq_reader *r, fp_err *err)
{
    if (r->nse < 2 || r->se[0].nchildren != (int32_t)(r->nse - 1) || r->se[0].type != -1)
        return fp_err_set(err, FP_ERR_INVALID, "schema is not a root with %zu leaf columns",
                          r->nse ? r->nse - 1 : 0);
    r->ncols = r->nse - 1;
    r->cols = fp_xcalloc(r->ncols, sizeof *r->cols);
    r->required = fp_xcalloc(r->ncols, sizeof *r->required);
    for (size_t i = 0; i < r->ncols; i++) {
        const pq_se *se = &r->se[i + 1];
        char *name = fp_xstrndup(se->name ? (const char *)se->name : "", se->namelen);
        r->cols[i].name = name;
        int t = leaf_type(se);
        if (se->nchildren > 0 || t < 0 || se->rep < PQ_REQUIRED || se->rep > PQ_OPTIONAL)
            return fp_err_set(err, FP_ERR_INVALID,
                              "column %zu (%s): nested, repeated or unsupported type %d", i, name,
                              (int)se->type);
        r->cols[i].type = (fp_pq_type)t;
        r->required[i] = se->rep == PQ_REQUIRED;
    }
    return FP_OK;
}

static fp_code check_rowgroups(fp_pq_reader *r, fp_err *err)
{
    static const int phys[] = {PQT_BOOLEAN, PQT_INT64, PQT_DOUBLE, PQT_BYTE_ARRAY, PQT_INT64};
    int64_t rows = 0;
    for (size_t g = 0; g < r->nrg; g++) {
        pq_rrg *rg = &r->rgs[g];
        if (rg->ncols != r->ncols || rg->rows < 0 || rg->rows > FP_PQ_MAX_RG_ROWS)
            return fp_err_set(err, FP_ERR_INVALID, "row group %zu: %zu columns, %lld rows", g,
                              rg->ncols, (long long)rg->rows);
        rows += rg->rows;
        for (size_t c = 0; c < rg->ncols; c++) {
            const pq_rchunk *k = &rg->chunks[c];
            if (!k->has_meta || k->has_path || k->ptype != phys[r->cols[c].type])
                return fp_err_set(err, FP_ERR_INVALID,
                                  "row group %zu column %zu (%s): no metadata, another file or "
                                  "type %d",
                                  g, c, r->cols[c].name, (int)k->ptype);
        }
    }
    if (rows != r->nrows)
        return fp_err_set(err, FP_ERR_INVALID, "%lld rows in row groups, %lld in the footer",
                          (long long)rows, (long long)r->nrows);
    return FP_OK;
}

static fp_code parse_footer(fp_pq_reader *r, fp_err *err)
{
    if (r->len < 12 || memcmp(r->buf, "PAR1", 4) != 0 || memcmp(r->buf + r->len - 4, "PAR1", 4))
        return fp_err_set(err, FP_ERR_INVALID, "not a Parquet file (no PAR1 at both ends)");
    const uint8_t *e = r->buf + r->len - 8;
    uint32_t flen =
        (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
    if (flen > r->len - 12)
        return fp_err_set(err, FP_ERR_INVALID, "footer of %u bytes in a file of %zu", flen, r->len);
    r->footer = r->len - 8 - flen;
    r->nrows = -1;
    fp_pq_thrift_reader t;
    fp_pq_thrift_reader_init(&t, r->buf + r->footer, flen);
    fp_code rc = walk(&t, f_filemeta, r, err);
    for (size_t i = 0; !rc && i < r->nse; i++)
        if (!r->se[i].name)
            rc = fp_err_set(err, FP_ERR_INVALID, "schema element %zu has no name", i);
    if (!rc)
        rc = check_schema(r, err);
    return rc ? rc : check_rowgroups(r, err);
}

/* ---- open ---- */

fp_code fp_pq_reader_open_mem(const void *p, size_t n, const char *name, fp_pq_reader **out,
                              fp_err *err)
{
    fp_pq_reader *r = fp_xcalloc(1, sizeof *r);
    r->buf = fp_xmalloc(n ? n : 1);
    if (n)
        memcpy(r->buf, p, n);
    r->len = n;
    r->name = fp_xstrdup(name);
    fp_code rc = parse_footer(r, err);
    free(r->se);
    r->se = NULL;
    if (rc) {
        fp_err_prefix(err, "parquet: %s", name);
        fp_pq_reader_free(r);
        *out = NULL;
        return rc;
    }
    if (!r->created_by)
        r->created_by = fp_xstrdup("");
    *out = r;
    return FP_OK;
}

fp_code fp_pq_reader_open(const char *path, fp_pq_reader **out, fp_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_err_set(err, FP_ERR_IO, "parquet: %s: %m", path);
    struct stat st;
    fp_code rc = FP_OK;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        rc = fp_err_set(err, FP_ERR_IO, "parquet: %s: stat: %m", path);
    } else {
        size_t n = (size_t)st.st_size;
        buf = fp_xmalloc(n ? n : 1);
        if (fread(buf, 1, n, f) != n)
            rc = fp_err_set(err, FP_ERR_IO, "parquet: %s: read: %m", path);
        if (!rc)
            rc = fp_pq_reader_open_mem(buf, n, path, out, err);
    }
    free(buf);
    fclose(f);
    return rc;
}

void fp_pq_reader_free(fp_pq_reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncols; i++)
        free((char *)r->cols[i].name);
    for (size_t g = 0; g < r->nrg; g++)
        free(r->rgs[g].chunks);
    free(r->rgs);
    free(r->cols);
    free(r->required);
    free(r->se);
    free(r->buf);
    free(r->name);
    free(r->created_by);
    fp_pq_codec_ctx_free(&r->codec);
    free(r);
}

size_t fp_pq_reader_ncols(const fp_pq_reader *r)
{
    return r->ncols;
}

const fp_pq_column *fp_pq_reader_column(const fp_pq_reader *r, size_t col)
{
    return col < r->ncols ? &r->cols[col] : NULL;
}

int64_t fp_pq_reader_nrows(const fp_pq_reader *r)
{
    return r->nrows;
}

size_t fp_pq_reader_nrowgroups(const fp_pq_reader *r)
{
    return r->nrg;
}

const char *fp_pq_reader_created_by(const fp_pq_reader *r)
{
    return r->created_by;
}

/* ---- pages ---- */

/* Memory of decoded pages that values point into (fp_pq_values.priv_). */
typedef struct pq_keep {
    size_t n, cap;
    void **bufs;
} pq_keep;

static void *keep_alloc(pq_keep *k, size_t n)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        k->bufs = fp_xrealloc(k->bufs, k->cap * sizeof *k->bufs);
    }
    return k->bufs[k->n++] = fp_xmalloc(n ? n : 1);
}

/* A dictionary: entries as 8-byte words, bools or strings. */
typedef struct pq_dict {
    size_t n;
    uint64_t *w;
    const char **s;
    size_t *slen;
} pq_dict;

/* State of decoding one chunk. */
typedef struct pq_dec {
    fp_pq_reader *r;
    const pq_rchunk *k;
    fp_pq_values *out;
    pq_keep *keep;
    bool required;
    size_t got; /* rows decoded */
    pq_dict dict;
    bool has_dict;
    uint32_t *scratch;
    size_t scap;
} pq_dec;

static uint32_t *scratch(pq_dec *d, size_t n)
{
    if (d->scap < n) {
        d->scap = n;
        d->scratch = fp_xrealloc(d->scratch, n * sizeof *d->scratch);
    }
    return d->scratch;
}

/* Uncompressed bytes of a page: the file's own when not compressed. */
static fp_code page_data(pq_dec *d, const uint8_t *src, size_t csz, size_t usz, bool compressed,
                         const uint8_t **p, fp_err *err)
{
    fp_pq_codec codec = (fp_pq_codec)d->k->codec;
    if (!compressed || codec == FP_PQ_UNCOMPRESSED) {
        if (csz != usz)
            return fp_err_set(err, FP_ERR_INVALID, "%zu bytes stored, %zu uncompressed", csz, usz);
        *p = src;
        return FP_OK;
    }
    if (codec == FP_PQ_ZSTD) {
        unsigned long long fs = ZSTD_getFrameContentSize(src, csz);
        if (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != usz)
            return fp_err_set(err, FP_ERR_INVALID, "zstd frame of %llu bytes, header says %zu", fs,
                              usz);
    }
    if (codec == FP_PQ_SNAPPY) {
        size_t n;
        if (snappy_uncompressed_length((const char *)src, csz, &n) != SNAPPY_OK || n != usz)
            return fp_err_set(err, FP_ERR_INVALID, "snappy length is not %zu", usz);
    }
    void *b = keep_alloc(d->keep, usz);
    *p = b;
    return fp_pq_decompress(&d->r->codec, codec, src, csz, b, usz, err);
}

/* Reads n PLAIN values from p[0..len): into the dictionary (row NULL) or at the valid rows of
 * def[0..rows) from output row base. */
typedef struct pq_sink {
    fp_pq_values *out; /* or NULL: dictionary */
    pq_dict *dict;
    size_t base;
    const uint32_t *def; /* NULL: every row valid */
} pq_sink;

static fp_code plain_values(fp_pq_type type, const uint8_t *p, size_t len, size_t n,
                            const pq_sink *s, fp_err *err)
{
    size_t pos = 0, v = 0;
    for (size_t row = 0; v < n; row++) {
        if (s->def && !s->def[row])
            continue;
        size_t at = s->out ? s->base + row : v;
        if (type == FP_PQ_BOOL) {
            if (v / 8 >= len)
                return fp_err_set(err, FP_ERR_INVALID, "booleans end after %zu of %zu", v, n);
            s->out->b[at] = (p[v / 8] >> (v % 8)) & 1;
        } else if (type == FP_PQ_STRING) {
            if (len - pos < 4)
                return fp_err_set(err, FP_ERR_INVALID, "strings end after %zu of %zu", v, n);
            size_t sl = (size_t)p[pos] | (size_t)p[pos + 1] << 8 | (size_t)p[pos + 2] << 16 |
                        (size_t)p[pos + 3] << 24;
            pos += 4;
            if (sl > len - pos)
                return fp_err_set(err, FP_ERR_INVALID, "string %zu of %zu bytes passes the page", v,
                                  sl);
            (s->out ? s->out->s : s->dict->s)[at] = (const char *)p + pos;
            (s->out ? s->out->slen : s->dict->slen)[at] = sl;
            pos += sl;
        } else {
            if (len - pos < 8)
                return fp_err_set(err, FP_ERR_INVALID, "values end after %zu of %zu", v, n);
            uint64_t *dst = s->out ? (type == FP_PQ_DOUBLE ? (uint64_t *)(void *)s->out->f64
                                                           : (uint64_t *)(void *)s->out->i64)
                                   : s->dict->w;
            memcpy(&dst[at], p + pos, 8);
            pos += 8;
        }
        v++;
    }
    return FP_OK;
}

static fp_code dict_page(pq_dec *d, const uint8_t *p, size_t len, int32_t nvals, fp_err *err)
{
    fp_pq_type type = d->out->type;
    if (d->has_dict || d->got || type == FP_PQ_BOOL || nvals < 0 || (size_t)nvals > len)
        return fp_err_set(err, FP_ERR_INVALID, "unexpected dictionary page of %d values", nvals);
    d->has_dict = true;
    size_t n = (size_t)nvals;
    d->dict.n = n;
    if (type == FP_PQ_STRING) {
        d->dict.s = fp_xcalloc(n ? n : 1, sizeof *d->dict.s);
        d->dict.slen = fp_xcalloc(n ? n : 1, sizeof *d->dict.slen);
    } else {
        d->dict.w = fp_xcalloc(n ? n : 1, sizeof *d->dict.w);
    }
    pq_sink s = {.dict = &d->dict};
    return plain_values(type, p, len, n, &s, err);
}

/* Values of a data page: nvals rows with levels def (NULL: all valid), nn of them non-null. */
static fp_code page_values(pq_dec *d, int32_t enc, const uint8_t *p, size_t len, size_t nvals,
                           const uint32_t *def, size_t nn, fp_err *err)
{
    fp_pq_values *o = d->out;
    for (size_t i = 0; i < nvals; i++)
        o->valid[d->got + i] = !def || def[i];
    if (enc == PQ_ENC_PLAIN) {
        pq_sink s = {.out = o, .base = d->got, .def = def};
        return plain_values(o->type, p, len, nn, &s, err);
    }
    bool words = o->type == FP_PQ_INT64 || o->type == FP_PQ_TIMESTAMP || o->type == FP_PQ_DOUBLE;
    if (words && (enc == PQ_ENC_BYTE_STREAM_SPLIT ||
                  (enc == PQ_ENC_DELTA_BINARY_PACKED && o->type != FP_PQ_DOUBLE))) {
        /* Decoded into a scratch of nn words, then spread over the valid rows. */
        uint64_t *w = fp_xmalloc((nn ? nn : 1) * sizeof *w);
        fp_code rc = enc == PQ_ENC_BYTE_STREAM_SPLIT ? fp_pq_bss_decode(p, len, w, nn, err)
                                                     : fp_pq_delta_decode(p, len, w, nn, NULL, err);
        uint64_t *dst =
            o->type == FP_PQ_DOUBLE ? (uint64_t *)(void *)o->f64 : (uint64_t *)(void *)o->i64;
        for (size_t i = 0, j = 0; !rc && i < nvals; i++)
            if (!def || def[i])
                dst[d->got + i] = w[j++];
        free(w);
        return rc;
    }
    if (enc != PQ_ENC_PLAIN_DICTIONARY && enc != PQ_ENC_RLE_DICTIONARY)
        return fp_err_set(err, FP_ERR_INVALID, "unsupported encoding %d for a %s column", (int)enc,
                          fp_pq_type_name(o->type));
    if (!d->has_dict)
        return fp_err_set(err, FP_ERR_INVALID, "dictionary encoding without a dictionary page");
    /* def points into the scratch when levels were read; indices go after them. */
    uint32_t *idx = fp_xmalloc((nn ? nn : 1) * sizeof *idx);
    fp_code rc = nn ? fp_pq_rle_decode_dict_indices(p, len, idx, nn, NULL, NULL, err) : FP_OK;
    for (size_t i = 0, j = 0; !rc && i < nvals; i++) {
        if (def && !def[i])
            continue;
        uint32_t e = idx[j++];
        size_t at = d->got + i;
        if (e >= d->dict.n) {
            rc =
                fp_err_set(err, FP_ERR_INVALID, "dictionary index %u of %zu entries", e, d->dict.n);
        } else if (o->type == FP_PQ_STRING) {
            o->s[at] = d->dict.s[e];
            o->slen[at] = d->dict.slen[e];
        } else {
            memcpy(o->type == FP_PQ_DOUBLE ? (void *)&o->f64[at] : (void *)&o->i64[at],
                   &d->dict.w[e], 8);
        }
    }
    free(idx);
    return rc;
}

static size_t count_valid(const uint32_t *def, size_t n)
{
    size_t nn = 0;
    for (size_t i = 0; i < n; i++)
        nn += def[i] != 0;
    return nn;
}

/* Levels of a page (v1: length-prefixed inside the page; v2: len bytes given by the header). */
static fp_code levels(pq_dec *d, const uint8_t *p, size_t len, size_t nvals, bool v2,
                      const uint32_t **def, size_t *nn, size_t *used, fp_err *err)
{
    *def = NULL;
    *nn = nvals;
    *used = 0;
    if (d->required)
        return FP_OK;
    uint32_t *lv = scratch(d, nvals ? nvals : 1);
    fp_code rc = v2 ? fp_pq_rle_decode(p, len, 1, lv, nvals, NULL, err)
                    : fp_pq_rle_decode_len_prefixed(p, len, 1, lv, nvals, used, err);
    if (rc)
        return rc;
    *def = lv;
    *nn = count_valid(lv, nvals);
    return FP_OK;
}

typedef struct pq_ph {
    int32_t type, usz, csz;
    int32_t nvals, enc, nnulls, nrows, def_len, rep_len;
    bool compressed;
} pq_ph;

static fp_code f_dph(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_ph *h = ctx;
    if (id == DP_NUM_VALUES)
        return rd_i32(t, type, id, &h->nvals, err);
    if (id == DP_ENCODING)
        return rd_i32(t, type, id, &h->enc, err);
    return fp_pq_thrift_skip(t, type, err);
}

static fp_code f_dph2(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_ph *h = ctx;
    switch (id) {
    case DP2_NUM_VALUES:
        return rd_i32(t, type, id, &h->nvals, err);
    case DP2_NUM_NULLS:
        return rd_i32(t, type, id, &h->nnulls, err);
    case DP2_NUM_ROWS:
        return rd_i32(t, type, id, &h->nrows, err);
    case DP2_ENCODING:
        return rd_i32(t, type, id, &h->enc, err);
    case DP2_DEF_LEN:
        return rd_i32(t, type, id, &h->def_len, err);
    case DP2_REP_LEN:
        return rd_i32(t, type, id, &h->rep_len, err);
    case DP2_IS_COMPRESSED:
        if (type != FP_PQ_THRIFT_BOOL)
            return fp_pq_thrift_skip(t, type, err);
        return fp_pq_thrift_read_bool(t, &h->compressed, err);
    default:
        return fp_pq_thrift_skip(t, type, err);
    }
}

static fp_code f_ph(fp_pq_thrift_reader *t, int16_t id, int type, void *ctx, fp_err *err)
{
    pq_ph *h = ctx;
    switch (id) {
    case PH_TYPE:
        return rd_i32(t, type, id, &h->type, err);
    case PH_UNCOMPRESSED:
        return rd_i32(t, type, id, &h->usz, err);
    case PH_COMPRESSED:
        return rd_i32(t, type, id, &h->csz, err);
    case PH_DATA:
    case PH_DATA_V2:
        if (type == FP_PQ_THRIFT_STRUCT)
            return walk(t, id == PH_DATA ? f_dph : f_dph2, h, err);
        return fp_pq_thrift_skip(t, type, err);
    case PH_DICT:
        if (type == FP_PQ_THRIFT_STRUCT)
            return walk(t, f_dph, h, err); /* same ids: num_values 1, encoding 2 */
        return fp_pq_thrift_skip(t, type, err);
    default:
        return fp_pq_thrift_skip(t, type, err);
    }
}

/* One data page (v1 or v2) of bytes src[0..h->csz). */
static fp_code data_page(pq_dec *d, const pq_ph *h, const uint8_t *src, fp_err *err)
{
    size_t rows = (size_t)d->k->num_values;
    if (h->nvals < 0 || (size_t)h->nvals > rows - d->got)
        return fp_err_set(err, FP_ERR_INVALID, "%d values where %zu remain", h->nvals,
                          rows - d->got);
    size_t nvals = (size_t)h->nvals, csz = (size_t)h->csz, usz = (size_t)h->usz, nn, used;
    const uint32_t *def;
    const uint8_t *p;
    fp_code rc;
    if (h->type == PQ_PAGE_DATA) {
        rc = page_data(d, src, csz, usz, true, &p, err);
        if (!rc)
            rc = levels(d, p, usz, nvals, false, &def, &nn, &used, err);
        if (!rc)
            rc = page_values(d, h->enc, p + used, usz - used, nvals, def, nn, err);
    } else {
        if (h->rep_len != 0 || h->def_len < 0 || (size_t)h->def_len > csz ||
            (size_t)h->def_len > usz || (d->required && h->def_len))
            return fp_err_set(err, FP_ERR_INVALID, "v2 level lengths %d/%d", h->rep_len,
                              h->def_len);
        size_t dl = (size_t)h->def_len;
        rc = levels(d, src, dl, nvals, true, &def, &nn, &used, err);
        if (!rc && h->nnulls != (int32_t)(nvals - nn))
            rc = fp_err_set(err, FP_ERR_INVALID, "v2 header says %d nulls, levels %zu", h->nnulls,
                            nvals - nn);
        if (!rc)
            rc = page_data(d, src + dl, csz - dl, usz - dl, h->compressed, &p, err);
        if (!rc)
            rc = page_values(d, h->enc, p, usz - dl, nvals, def, nn, err);
    }
    if (!rc)
        d->got += nvals;
    return rc;
}

static fp_code decode_chunk(pq_dec *d, size_t *page, fp_err *err)
{
    const pq_rchunk *k = d->k;
    const fp_pq_reader *r = d->r;
    int64_t start = k->dict_off >= 0 && k->dict_off < k->data_off ? k->dict_off : k->data_off;
    if (start < 4 || k->csize < 0 || k->csize > (int64_t)r->footer - start || k->data_off < start ||
        k->data_off >= start + k->csize)
        return fp_err_set(err, FP_ERR_INVALID, "chunk at %lld of %lld bytes is outside the data",
                          (long long)start, (long long)k->csize);
    size_t pos = (size_t)start, end = (size_t)(start + k->csize);
    size_t rows = (size_t)k->num_values;
    for (*page = 0; d->got < rows; (*page)++) {
        if (pos >= end)
            return fp_err_set(err, FP_ERR_INVALID, "chunk ends after %zu of %zu values", d->got,
                              rows);
        pq_ph h = {.type = -1, .usz = -1, .csz = -1, .nvals = -1, .enc = -1, .compressed = true};
        fp_pq_thrift_reader t;
        fp_pq_thrift_reader_init(&t, r->buf + pos, end - pos);
        fp_code rc = walk(&t, f_ph, &h, err);
        if (rc)
            return rc;
        pos += t.pos;
        if (h.csz < 0 || h.usz < 0 || (size_t)h.csz > end - pos || h.usz > MAX_PAGE_BYTES)
            return fp_err_set(err, FP_ERR_INVALID, "page of %d/%d bytes does not fit", h.csz,
                              h.usz);
        const uint8_t *src = r->buf + pos;
        pos += (size_t)h.csz;
        if (h.type == PQ_PAGE_DICTIONARY) {
            const uint8_t *p;
            rc = page_data(d, src, (size_t)h.csz, (size_t)h.usz, true, &p, err);
            if (!rc && h.enc != PQ_ENC_PLAIN && h.enc != PQ_ENC_PLAIN_DICTIONARY)
                rc = fp_err_set(err, FP_ERR_INVALID, "dictionary encoding %d", (int)h.enc);
            if (!rc)
                rc = dict_page(d, p, (size_t)h.usz, h.nvals, err);
        } else if (h.type == PQ_PAGE_DATA || h.type == PQ_PAGE_DATA_V2) {
            rc = data_page(d, &h, src, err);
        } else if (h.type != PQ_PAGE_INDEX) {
            rc = fp_err_set(err, FP_ERR_INVALID, "page type %d", (int)h.type);
        }
        if (rc)
            return rc;
    }
    return FP_OK;
}

static fp_code chunk_of(const fp_pq_reader *r, size_t rg, size_t col, const pq_rchunk **k,
                        fp_err *err)
{
    if (rg >= r->nrg || col >= r->ncols)
        return fp_err_set(err, FP_ERR_INVALID, "parquet: %s: no row group %zu column %zu", r->name,
                          rg, col);
    *k = &r->rgs[rg].chunks[col];
    return FP_OK;
}

fp_code fp_pq_read_column(fp_pq_reader *r, size_t rg, size_t col, fp_pq_values *out, fp_err *err)
{
    memset(out, 0, sizeof *out);
    const pq_rchunk *k = NULL;
    fp_code rc = chunk_of(r, rg, col, &k, err);
    if (rc)
        return rc;
    out->type = r->cols[col].type;
    pq_keep *keep = fp_xcalloc(1, sizeof *keep);
    out->priv_ = keep;
    pq_dec d = {.r = r, .k = k, .out = out, .keep = keep, .required = r->required[col]};
    size_t page = 0;
    if (k->codec < 0)
        rc = fp_err_set(err, FP_ERR_INVALID, "unsupported codec");
    else if (k->num_values != r->rgs[rg].rows)
        rc = fp_err_set(err, FP_ERR_INVALID, "%lld values in %lld rows", (long long)k->num_values,
                        (long long)r->rgs[rg].rows);
    if (!rc) {
        size_t n = (size_t)k->num_values, a = n ? n : 1;
        out->n = n;
        out->valid = fp_xcalloc(a, sizeof *out->valid);
        if (out->type == FP_PQ_BOOL)
            out->b = fp_xcalloc(a, sizeof *out->b);
        else if (out->type == FP_PQ_DOUBLE)
            out->f64 = fp_xcalloc(a, sizeof *out->f64);
        else if (out->type == FP_PQ_STRING) {
            out->s = fp_xcalloc(a, sizeof *out->s);
            out->slen = fp_xcalloc(a, sizeof *out->slen);
        } else
            out->i64 = fp_xcalloc(a, sizeof *out->i64);
        rc = decode_chunk(&d, &page, err);
    }
    if (!rc && out->type == FP_PQ_STRING)
        for (size_t i = 0; i < out->n; i++)
            if (!out->s[i])
                out->s[i] = "";
    free(d.scratch);
    free(d.dict.w);
    free(d.dict.s);
    free(d.dict.slen);
    if (rc) {
        fp_pq_values_free(out);
        fp_err_prefix(err, "parquet: %s: row group %zu column %zu (%s) page %zu", r->name, rg, col,
                      r->cols[col].name, page);
    }
    return rc;
}

void fp_pq_values_free(fp_pq_values *v)
{
    if (!v)
        return;
    pq_keep *k = v->priv_;
    if (k) {
        for (size_t i = 0; i < k->n; i++)
            free(k->bufs[i]);
        free(k->bufs);
        free(k);
    }
    free(v->valid);
    free(v->b);
    free(v->i64);
    free(v->f64);
    free(v->s);
    free(v->slen);
    memset(v, 0, sizeof *v);
}

/* Decodes a PLAIN statistics value into out->min (or out->max when is_max). */
static fp_code stat_value(fp_pq_type t, const uint8_t *p, size_t n, fp_pq_stats *out, bool is_max,
                          fp_err *err)
{
    if (t != FP_PQ_STRING && n != (t == FP_PQ_BOOL ? 1u : 8u))
        return fp_err_set(err, FP_ERR_INVALID, "statistics value of %zu bytes", n);
    if (t == FP_PQ_STRING) {
        (is_max ? &out->max : &out->min)->s.p = (const char *)p;
        (is_max ? &out->max : &out->min)->s.n = n;
    } else if (t == FP_PQ_BOOL) {
        (is_max ? &out->max : &out->min)->b = p[0] != 0;
    } else {
        memcpy(is_max ? &out->max : &out->min, p, 8);
    }
    return FP_OK;
}

fp_code fp_pq_read_stats(const fp_pq_reader *r, size_t rg, size_t col, fp_pq_stats *out,
                         fp_err *err)
{
    memset(out, 0, sizeof *out);
    const pq_rchunk *k = NULL;
    fp_code rc = chunk_of(r, rg, col, &k, err);
    if (rc)
        return rc;
    fp_pq_type t = r->cols[col].type;
    out->null_count = k->has_null_count ? k->null_count : -1;
    /* min_value/max_value; the legacy pair only where its signed order is the column's. */
    int lo = k->st[3] && k->st[2] ? 3 : 1, hi = lo - 1;
    if (!k->st[lo] || !k->st[hi] || (lo == 1 && t == FP_PQ_STRING))
        return FP_OK;
    rc = stat_value(t, k->st[lo], k->stn[lo], out, false, err);
    if (!rc)
        rc = stat_value(t, k->st[hi], k->stn[hi], out, true, err);
    if (rc)
        return fp_err_prefix(err, "parquet: %s: row group %zu column %zu (%s)", r->name, rg, col,
                             r->cols[col].name);
    out->has_minmax = true;
    return FP_OK;
}
