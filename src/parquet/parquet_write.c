/* parquet_write.c — the Parquet writer of parquet.h.
 *
 * Rows go into flat per-column arrays of the current row group: one definition byte per row,
 * non-null values packed (8-byte words for INT64/TIMESTAMP/DOUBLE, bytes for BOOLEAN, one
 * arena plus offsets for strings), so a value costs a store and no allocation. At flush each
 * chunk picks its encoding by what it saves after compression, measured on a sample: the
 * candidates are a dictionary (built with an open-addressing hash table over the buffered
 * values, given up early when nearly every value is new, or past dict_max_bytes), PLAIN,
 * DELTA_BINARY_PACKED for INT64/TIMESTAMP and BYTE_STREAM_SPLIT for DOUBLE; each encodes the
 * values of the chunk's first page and is compressed with the file's codec, and the smallest,
 * scaled to the chunk (plus the dictionary page for a dictionary), wins. A smaller sample
 * misleads: zstd finds PLAIN doubles' repeated high bytes better in a page than in 128 KiB.
 * Decimal-rounded doubles, for one, compress better PLAIN than split, smooth sensor values the
 * other way round, so no fixed rule is right. Pages are cut by the plain size of their values,
 * encoded into one reused buffer, compressed into another and written with their Thrift header. The
 * footer is built from the chunk metadata kept per row group.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/version.h"
#include "parquet/encoding.h"
#include "parquet/parquet_int.h"
#include "parquet/rle.h"
#include "parquet/thrift.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Parquet writer stores 8-byte values as they lie in memory: little-endian hosts only"
#endif

/* One column of the current row group. */
typedef struct pq_col {
    char *name;
    fp_pq_type type;
    int64_t set_row; /* row of the last fp_pq_set_* (detects a second set) */
    uint8_t *def;    /* per row: 1 value, 0 null */
    size_t nv, vcap; /* non-null values */
    uint64_t *v64;   /* INT64, TIMESTAMP, DOUBLE (bit patterns) */
    uint8_t *vb;     /* BOOL */
    size_t *soff;    /* STRING: value i is sbytes[soff[i] .. soff[i+1]) */
    fp_buf sbytes;
} pq_col;

/* What the footer needs of a written column chunk. */
typedef struct pq_chunk {
    int64_t start, data_off, dict_off; /* dict_off -1 without a dictionary page */
    int enc;                           /* encoding of the data pages */
    int64_t num_values, usize, csize, null_count;
    bool has_minmax;
    fp_buf min, max; /* PLAIN bytes of the statistics values */
} pq_chunk;

typedef struct pq_rowgroup {
    int64_t rows, offset, usize, csize;
    pq_chunk *chunks;
} pq_rowgroup;

struct fp_pq_writer {
    FILE *f;
    char *path;
    pq_col *cols;
    size_t ncols;
    fp_pq_writer_opts o;
    char *created_by;
    int64_t rows;   /* rows of the current row group */
    size_t row_cap; /* capacity of every column's def */
    size_t bytes;   /* buffered bytes of the current row group */
    int64_t total;  /* rows of finished row groups */
    int64_t off;    /* file offset */
    pq_rowgroup *rgs;
    size_t nrg, rgcap;
    fp_err failed; /* sticky: misuse in set/end_row, or a failed flush; code FP_OK when none */
    /* scratch of the flush, reused */
    fp_buf page, comp, hdr;
    uint32_t *lv, *idx; /* levels of a page; dictionary index per value */
    size_t lvcap, idxcap;
    uint32_t *slots; /* hash table: dictionary entry + 1, 0 empty */
    size_t slotcap;
    uint32_t *dict; /* dictionary entries as value positions */
    size_t ndict, dictcap;
    fp_pq_codec_ctx codec;
};

/* ---- buffering ---- */

static void bad(fp_pq_writer *w, const char *what, size_t col)
{
    if (!w->failed.code)
        fp_err_set(&w->failed, FP_ERR_INTERNAL, "parquet: %s: column %zu %s", w->path, col, what);
}

static pq_col *col_for(fp_pq_writer *w, size_t col, fp_pq_type t)
{
    if (col >= w->ncols) {
        bad(w, "does not exist", col);
        return NULL;
    }
    pq_col *c = &w->cols[col];
    if (c->type != t && !(t == FP_PQ_INT64 && c->type == FP_PQ_TIMESTAMP)) {
        bad(w, "set with the wrong type", col);
        return NULL;
    }
    if (c->set_row == w->rows) {
        bad(w, "set twice in one row", col);
        return NULL;
    }
    c->set_row = w->rows;
    c->def[w->rows] = 1;
    if (c->nv == c->vcap) {
        c->vcap = c->vcap ? c->vcap * 2 : 1024;
        if (t == FP_PQ_BOOL)
            c->vb = fp_xrealloc(c->vb, c->vcap);
        else if (t == FP_PQ_STRING)
            c->soff = fp_xrealloc(c->soff, (c->vcap + 1) * sizeof *c->soff);
        else
            c->v64 = fp_xrealloc(c->v64, c->vcap * sizeof *c->v64);
    }
    return c;
}

void fp_pq_set_bool(fp_pq_writer *w, size_t col, bool v)
{
    pq_col *c = col_for(w, col, FP_PQ_BOOL);
    if (c) {
        c->vb[c->nv++] = v;
        w->bytes += 1;
    }
}

static void set_word(fp_pq_writer *w, size_t col, fp_pq_type t, uint64_t v)
{
    pq_col *c = col_for(w, col, t);
    if (c) {
        c->v64[c->nv++] = v;
        w->bytes += 8;
    }
}

void fp_pq_set_int64(fp_pq_writer *w, size_t col, int64_t v)
{
    set_word(w, col, FP_PQ_INT64, (uint64_t)v);
}

void fp_pq_set_double(fp_pq_writer *w, size_t col, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    set_word(w, col, FP_PQ_DOUBLE, u);
}

void fp_pq_set_string(fp_pq_writer *w, size_t col, const char *p, size_t n)
{
    pq_col *c = col_for(w, col, FP_PQ_STRING);
    if (!c)
        return;
    if (n > UINT32_MAX) {
        bad(w, "string longer than 4 GiB", col);
        n = 0;
    }
    fp_buf_append(&c->sbytes, p, n);
    c->soff[++c->nv] = c->sbytes.len;
    w->bytes += 4 + n;
}

static fp_code flush_rowgroup(fp_pq_writer *w, fp_err *err);

/* The sticky error into err, or FP_OK. */
static fp_code failed(const fp_pq_writer *w, fp_err *err)
{
    if (w->failed.code && err)
        *err = w->failed;
    return w->failed.code;
}

/* A flush that fails leaves the file unusable: every later call reports the same error. */
static fp_code flush_sticky(fp_pq_writer *w, fp_err *err)
{
    fp_code rc = flush_rowgroup(w, &w->failed);
    if (!rc)
        return FP_OK;
    w->failed.code = rc;
    return failed(w, err);
}

fp_code fp_pq_writer_end_row(fp_pq_writer *w, fp_err *err)
{
    if (w->failed.code)
        return failed(w, err);
    for (size_t i = 0; i < w->ncols; i++)
        if (w->cols[i].set_row != w->rows)
            w->cols[i].def[w->rows] = 0;
    w->rows++;
    w->bytes += w->ncols;
    if (w->bytes >= w->o.row_group_bytes || w->rows >= FP_PQ_MAX_RG_ROWS)
        return flush_sticky(w, err);
    if ((size_t)w->rows == w->row_cap) {
        w->row_cap *= 2;
        for (size_t i = 0; i < w->ncols; i++)
            w->cols[i].def = fp_xrealloc(w->cols[i].def, w->row_cap);
    }
    return FP_OK;
}

/* ---- values ---- */

static size_t plain_size(const pq_col *c, size_t v)
{
    switch (c->type) {
    case FP_PQ_BOOL:
        return 1;
    case FP_PQ_STRING:
        return 4 + c->soff[v + 1] - c->soff[v];
    default:
        return 8;
    }
}

static void put_u32(fp_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fp_buf_append(b, x, 4);
}

/* PLAIN encoding of values pos[0..n) (or v0..v0+n when pos is NULL). */
static void put_plain(fp_buf *b, const pq_col *c, const uint32_t *pos, size_t v0, size_t n)
{
    if (c->type == FP_PQ_BOOL) {
        fp_buf_reserve(b, (n + 7) / 8);
        uint8_t *o = (uint8_t *)b->p + b->len;
        memset(o, 0, (n + 7) / 8);
        for (size_t i = 0; i < n; i++)
            o[i / 8] |= (uint8_t)(c->vb[v0 + i] << (i % 8));
        b->len += (n + 7) / 8;
    } else if (c->type == FP_PQ_STRING) {
        for (size_t i = 0; i < n; i++) {
            size_t v = pos ? pos[i] : v0 + i;
            size_t len = c->soff[v + 1] - c->soff[v];
            put_u32(b, (uint32_t)len);
            fp_buf_append(b, c->sbytes.p + c->soff[v], len);
        }
    } else if (pos) {
        fp_buf_reserve(b, n * 8);
        for (size_t i = 0; i < n; i++)
            memcpy(b->p + b->len + i * 8, &c->v64[pos[i]], 8);
        b->len += n * 8;
    } else {
        fp_buf_append(b, c->v64 + v0, n * 8);
    }
}

/* ---- dictionary ---- */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = n * 0x9E3779B97F4A7C15ULL, x;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&x, p, 8);
        h = (h ^ x) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
    }
    x = 0;
    memcpy(&x, p, n);
    return mix(h ^ x);
}

static bool same(const pq_col *c, size_t a, size_t b)
{
    if (c->type != FP_PQ_STRING)
        return c->v64[a] == c->v64[b];
    size_t n = c->soff[a + 1] - c->soff[a];
    return n == c->soff[b + 1] - c->soff[b] &&
           memcmp(c->sbytes.p + c->soff[a], c->sbytes.p + c->soff[b], n) == 0;
}

static void grow_u32(uint32_t **p, size_t *cap, size_t n)
{
    if (*cap < n) {
        *cap = n;
        *p = fp_xrealloc(*p, n * sizeof **p);
    }
}

static void rehash(fp_pq_writer *w, const pq_col *c, size_t cap)
{
    if (w->slotcap < cap)
        w->slots = fp_xrealloc(w->slots, cap * sizeof *w->slots);
    w->slotcap = cap;
    memset(w->slots, 0, cap * sizeof *w->slots);
    for (size_t e = 0; e < w->ndict; e++) {
        size_t v = w->dict[e];
        uint64_t h = c->type == FP_PQ_STRING
                         ? hash_bytes(c->sbytes.p + c->soff[v], c->soff[v + 1] - c->soff[v])
                         : mix(c->v64[v]);
        size_t s = h & (cap - 1);
        while (w->slots[s])
            s = (s + 1) & (cap - 1);
        w->slots[s] = (uint32_t)e + 1;
    }
}

/* Values seen before a dictionary may be given up as not paying: when nearly all of the first
 * DICT_PROBE values are distinct, the rest rarely repeat either. */
#define DICT_PROBE 4096

/* Builds w->dict (entries as value positions) and w->idx (entry per value); false when the
 * dictionary's PLAIN size passes dict_max_bytes or the probe finds almost no repeats. */
static bool build_dict(fp_pq_writer *w, const pq_col *c)
{
    size_t dict_bytes = 0, cap = 1024;
    w->ndict = 0;
    grow_u32(&w->idx, &w->idxcap, c->nv);
    rehash(w, c, cap);
    for (size_t v = 0; v < c->nv; v++) {
        uint64_t h = c->type == FP_PQ_STRING
                         ? hash_bytes(c->sbytes.p + c->soff[v], c->soff[v + 1] - c->soff[v])
                         : mix(c->v64[v]);
        size_t s = h & (cap - 1);
        uint32_t e;
        while ((e = w->slots[s]) != 0 && !same(c, w->dict[e - 1], v))
            s = (s + 1) & (cap - 1);
        if (!e) {
            dict_bytes += plain_size(c, v);
            if (dict_bytes > w->o.dict_max_bytes)
                return false;
            if (w->ndict == w->dictcap)
                grow_u32(&w->dict, &w->dictcap, w->dictcap ? w->dictcap * 2 : 1024);
            w->dict[w->ndict++] = (uint32_t)v;
            e = (uint32_t)w->ndict;
            w->slots[s] = e;
            if (w->ndict * 2 > cap) {
                cap *= 2;
                rehash(w, c, cap);
            }
        }
        w->idx[v] = e - 1;
        if (v + 1 == DICT_PROBE && w->ndict > DICT_PROBE / 8 * 7)
            return false;
    }
    return true;
}

/* ---- statistics ---- */

static int cmp_values(const pq_col *c, size_t a, size_t b)
{
    if (c->type == FP_PQ_STRING) {
        size_t na = c->soff[a + 1] - c->soff[a], nb = c->soff[b + 1] - c->soff[b];
        int r = memcmp(c->sbytes.p + c->soff[a], c->sbytes.p + c->soff[b], na < nb ? na : nb);
        return r ? r : (na > nb) - (na < nb);
    }
    if (c->type == FP_PQ_BOOL)
        return c->vb[a] - c->vb[b];
    if (c->type == FP_PQ_DOUBLE) {
        double x, y;
        memcpy(&x, &c->v64[a], 8);
        memcpy(&y, &c->v64[b], 8);
        return (x > y) - (x < y);
    }
    int64_t x = (int64_t)c->v64[a], y = (int64_t)c->v64[b];
    return (x > y) - (x < y);
}

static bool is_nan(const pq_col *c, size_t v)
{
    double d;
    if (c->type != FP_PQ_DOUBLE)
        return false;
    memcpy(&d, &c->v64[v], 8);
    return isnan(d);
}

static void put_stat_value(fp_buf *b, const pq_col *c, size_t v)
{
    if (c->type == FP_PQ_STRING)
        fp_buf_append(b, c->sbytes.p + c->soff[v], c->soff[v + 1] - c->soff[v]);
    else if (c->type == FP_PQ_BOOL)
        fp_buf_putc(b, (char)c->vb[v]);
    else
        fp_buf_append(b, &c->v64[v], 8);
}

/* Min and max over values pos[0..n) (or 0..n), NaN ignored, zeros signed as the spec asks. */
static void chunk_stats(pq_chunk *k, const pq_col *c, const uint32_t *pos, size_t n)
{
    size_t lo = SIZE_MAX, hi = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t v = pos ? pos[i] : i;
        if (is_nan(c, v))
            continue;
        if (lo == SIZE_MAX || cmp_values(c, v, lo) < 0)
            lo = v;
        if (hi == SIZE_MAX || cmp_values(c, v, hi) > 0)
            hi = v;
    }
    k->has_minmax = lo != SIZE_MAX;
    if (!k->has_minmax)
        return;
    put_stat_value(&k->min, c, lo);
    put_stat_value(&k->max, c, hi);
    if (c->type == FP_PQ_DOUBLE) {
        double d;
        memcpy(&d, k->min.p, 8);
        if (d == 0)
            memcpy(k->min.p, &(double){-0.0}, 8);
        memcpy(&d, k->max.p, 8);
        if (d == 0)
            memcpy(k->max.p, &(double){0.0}, 8);
    }
}

/* ---- pages ---- */

static int pq_type_of(fp_pq_type t)
{
    static const int phys[] = {PQT_BOOLEAN, PQT_INT64, PQT_DOUBLE, PQT_BYTE_ARRAY, PQT_INT64};
    return phys[t];
}

static void tfield_i32(fp_pq_thrift_writer *t, int16_t id, int32_t v)
{
    fp_pq_thrift_write_field(t, id, FP_PQ_THRIFT_I32);
    fp_pq_thrift_write_i32(t, v);
}

static void tfield_i64(fp_pq_thrift_writer *t, int16_t id, int64_t v)
{
    fp_pq_thrift_write_field(t, id, FP_PQ_THRIFT_I64);
    fp_pq_thrift_write_i64(t, v);
}

static void tfield_bin(fp_pq_thrift_writer *t, int16_t id, const void *p, size_t n)
{
    fp_pq_thrift_write_field(t, id, FP_PQ_THRIFT_BINARY);
    fp_pq_thrift_write_binary(t, p, n);
}

static void tfield_struct(fp_pq_thrift_writer *t, int16_t id)
{
    fp_pq_thrift_write_field(t, id, FP_PQ_THRIFT_STRUCT);
    fp_pq_thrift_write_struct_begin(t);
}

static fp_code write_bytes(fp_pq_writer *w, const void *p, size_t n, fp_err *err)
{
    if (n && fwrite(p, 1, n, w->f) != n)
        return fp_err_set(err, FP_ERR_IO, "parquet: %s: write: %m", w->path);
    w->off += (int64_t)n;
    return FP_OK;
}

/* Compresses w->page and writes it with its header; count is the page's values (rows). */
static fp_code write_page(fp_pq_writer *w, pq_chunk *k, int ptype, size_t count, int enc,
                          fp_err *err)
{
    if (w->page.len > INT32_MAX)
        return fp_err_set(err, FP_ERR_LIMIT, "parquet: %s: page of %zu bytes", w->path,
                          w->page.len);
    fp_code rc = fp_pq_compress(&w->codec, w->o.codec, w->o.zstd_level, w->page.p, w->page.len,
                                &w->comp, err);
    if (rc)
        return fp_err_prefix(err, "parquet: %s", w->path);
    fp_buf_reset(&w->hdr);
    fp_pq_thrift_writer t;
    fp_pq_thrift_writer_init(&t, &w->hdr);
    fp_pq_thrift_write_struct_begin(&t);
    tfield_i32(&t, PH_TYPE, ptype);
    tfield_i32(&t, PH_UNCOMPRESSED, (int32_t)w->page.len);
    tfield_i32(&t, PH_COMPRESSED, (int32_t)w->comp.len);
    if (ptype == PQ_PAGE_DICTIONARY) {
        tfield_struct(&t, PH_DICT);
        tfield_i32(&t, DICT_NUM_VALUES, (int32_t)count);
        tfield_i32(&t, DICT_ENCODING, PQ_ENC_PLAIN);
    } else {
        tfield_struct(&t, PH_DATA);
        tfield_i32(&t, DP_NUM_VALUES, (int32_t)count);
        tfield_i32(&t, DP_ENCODING, enc);
        tfield_i32(&t, DP_DEF_ENCODING, PQ_ENC_RLE);
        tfield_i32(&t, DP_REP_ENCODING, PQ_ENC_RLE);
    }
    fp_pq_thrift_write_struct_end(&t);
    fp_pq_thrift_write_struct_end(&t);
    rc = fp_pq_thrift_writer_finish(&t, err);
    if (rc)
        return rc;
    k->usize += (int64_t)(w->hdr.len + w->page.len);
    k->csize += (int64_t)(w->hdr.len + w->comp.len);
    rc = write_bytes(w, w->hdr.p, w->hdr.len, err);
    return rc ? rc : write_bytes(w, w->comp.p, w->comp.len, err);
}

/* Data page of rows [r0, r1) holding values [v0, v1). */
static fp_code data_page(fp_pq_writer *w, pq_chunk *k, const pq_col *c, unsigned bw, size_t r0,
                         size_t r1, size_t v0, size_t v1, fp_err *err)
{
    size_t n = r1 - r0;
    fp_buf_reset(&w->page);
    fp_code rc = FP_OK;
    if (n > 0 && v1 - v0 == n && n <= INT32_MAX) {
        /* no nulls: the levels are one RLE run of 1s, as fp_pq_rle_encode would write it */
        put_u32(&w->page, 0);
        fp_pq_thrift_put_uvarint(&w->page, (uint64_t)n << 1);
        fp_buf_putc(&w->page, 1);
        w->page.p[0] = (char)(w->page.len - 4);
    } else {
        grow_u32(&w->lv, &w->lvcap, n);
        for (size_t i = 0; i < n; i++)
            w->lv[i] = c->def[r0 + i];
        rc = fp_pq_rle_encode_len_prefixed(&w->page, w->lv, n, 1, err);
    }
    if (!rc && k->enc == PQ_ENC_PLAIN_DICTIONARY)
        rc = fp_pq_rle_encode_dict_indices(&w->page, w->idx + v0, v1 - v0, bw, err);
    else if (!rc && k->enc == PQ_ENC_DELTA_BINARY_PACKED)
        fp_pq_delta_encode(&w->page, c->v64 + v0, NULL, v1 - v0);
    else if (!rc && k->enc == PQ_ENC_BYTE_STREAM_SPLIT)
        fp_pq_bss_encode(&w->page, c->v64 + v0, NULL, v1 - v0);
    else if (!rc)
        put_plain(&w->page, c, NULL, v0, v1 - v0);
    if (rc)
        return fp_err_prefix(err, "parquet: %s: column %s", w->path, c->name);
    return write_page(w, k, PQ_PAGE_DATA, n, k->enc, err);
}

/* Compressed bytes of w->page. */
static fp_code trial_size(fp_pq_writer *w, size_t *out, fp_err *err)
{
    fp_code rc = fp_pq_compress(&w->codec, w->o.codec, w->o.zstd_level, w->page.p, w->page.len,
                                &w->comp, err);
    *out = w->comp.len;
    return rc ? fp_err_prefix(err, "parquet: %s", w->path) : FP_OK;
}

/* Sets k->enc for column c (see the top of the file); dict says whether w->dict and w->idx hold
 * a dictionary for it. */
static fp_code choose_encoding(fp_pq_writer *w, pq_chunk *k, const pq_col *c, bool dict,
                               unsigned bw, fp_err *err)
{
    k->enc = PQ_ENC_PLAIN;
    int alt = c->type == FP_PQ_DOUBLE                                ? PQ_ENC_BYTE_STREAM_SPLIT
              : c->type == FP_PQ_INT64 || c->type == FP_PQ_TIMESTAMP ? PQ_ENC_DELTA_BINARY_PACKED
                                                                     : -1;
    if (c->nv == 0 || (!dict && alt < 0))
        return FP_OK;
    size_t n = 0;
    for (size_t bytes = 0; n < c->nv && bytes < w->o.page_bytes; n++)
        bytes += plain_size(c, n);
    int cand[3] = {PQ_ENC_PLAIN, alt, dict ? PQ_ENC_PLAIN_DICTIONARY : -1};
    double best = 0;
    for (int i = 0; i < 3; i++) {
        if (cand[i] < 0)
            continue;
        fp_buf_reset(&w->page);
        if (cand[i] == PQ_ENC_PLAIN)
            put_plain(&w->page, c, NULL, 0, n);
        else if (cand[i] == PQ_ENC_DELTA_BINARY_PACKED)
            fp_pq_delta_encode(&w->page, c->v64, NULL, n);
        else if (cand[i] == PQ_ENC_BYTE_STREAM_SPLIT)
            fp_pq_bss_encode(&w->page, c->v64, NULL, n);
        else if (fp_pq_rle_encode_dict_indices(&w->page, w->idx, n, bw, err))
            return fp_err_prefix(err, "parquet: %s: column %s", w->path, c->name);
        size_t sz;
        fp_code rc = trial_size(w, &sz, err);
        if (rc)
            return rc;
        double cost = (double)sz * (double)c->nv / (double)n;
        if (cand[i] == PQ_ENC_PLAIN_DICTIONARY) {
            fp_buf_reset(&w->page);
            put_plain(&w->page, c, w->dict, 0, w->ndict);
            rc = trial_size(w, &sz, err);
            if (rc)
                return rc;
            cost += (double)sz;
        }
        /* Ties go to the dictionary (listed last): readers keep dictionary vectors and filter
         * on entries, so a few bytes are worth it. */
        bool better = cand[i] == PQ_ENC_PLAIN_DICTIONARY ? cost <= best * 1.02 + 64 : cost < best;
        if (i == 0 || better) {
            best = cost;
            k->enc = cand[i];
        }
    }
    return FP_OK;
}

static fp_code write_chunk(fp_pq_writer *w, pq_chunk *k, pq_col *c, fp_err *err)
{
    size_t rows = (size_t)w->rows;
    k->start = w->off;
    k->dict_off = -1;
    k->num_values = (int64_t)rows;
    k->null_count = (int64_t)(rows - c->nv);
    bool dict = c->type != FP_PQ_BOOL && c->nv > 0 && build_dict(w, c);
    unsigned bw = dict ? fp_pq_rle_bit_width((uint32_t)(w->ndict - 1)) : 0;
    fp_code rc = choose_encoding(w, k, c, dict, bw, err);
    if (rc)
        return rc;
    dict = k->enc == PQ_ENC_PLAIN_DICTIONARY;
    if (dict) {
        chunk_stats(k, c, w->dict, w->ndict);
        k->dict_off = w->off;
        fp_buf_reset(&w->page);
        put_plain(&w->page, c, w->dict, 0, w->ndict);
        rc = write_page(w, k, PQ_PAGE_DICTIONARY, w->ndict, PQ_ENC_PLAIN, err);
        if (rc)
            return rc;
    } else {
        chunk_stats(k, c, NULL, c->nv);
    }
    k->data_off = w->off;
    size_t r0 = 0, v0 = 0, v = 0, bytes = 0;
    for (size_t r = 0; r < rows; r++) {
        if (c->def[r])
            bytes += plain_size(c, v++);
        if (bytes >= w->o.page_bytes || r + 1 == rows) {
            rc = data_page(w, k, c, bw, r0, r + 1, v0, v, err);
            if (rc)
                return rc;
            r0 = r + 1;
            v0 = v;
            bytes = 0;
        }
    }
    return FP_OK;
}

static fp_code flush_rowgroup(fp_pq_writer *w, fp_err *err)
{
    if (w->rows == 0)
        return FP_OK;
    if (w->nrg == w->rgcap) {
        w->rgcap = w->rgcap ? w->rgcap * 2 : 8;
        w->rgs = fp_xrealloc(w->rgs, w->rgcap * sizeof *w->rgs);
    }
    pq_rowgroup *g = &w->rgs[w->nrg++];
    *g = (pq_rowgroup){.rows = w->rows, .offset = w->off};
    g->chunks = fp_xcalloc(w->ncols, sizeof *g->chunks);
    for (size_t i = 0; i < w->ncols; i++) {
        fp_code rc = write_chunk(w, &g->chunks[i], &w->cols[i], err);
        if (rc)
            return rc;
        g->usize += g->chunks[i].usize;
        g->csize += g->chunks[i].csize;
        w->cols[i].nv = 0;
        w->cols[i].set_row = -1;
        fp_buf_reset(&w->cols[i].sbytes);
    }
    w->total += w->rows;
    w->rows = 0;
    w->bytes = 0;
    return FP_OK;
}

/* ---- footer ---- */

static void put_schema(fp_pq_thrift_writer *t, const pq_col *c)
{
    fp_pq_thrift_write_struct_begin(t);
    tfield_i32(t, SE_TYPE, pq_type_of(c->type));
    tfield_i32(t, SE_REPETITION, PQ_OPTIONAL);
    fp_pq_thrift_write_field(t, SE_NAME, FP_PQ_THRIFT_BINARY);
    fp_pq_thrift_write_string(t, c->name);
    if (c->type == FP_PQ_STRING || c->type == FP_PQ_TIMESTAMP) {
        bool str = c->type == FP_PQ_STRING;
        tfield_i32(t, SE_CONVERTED, str ? PQ_CONV_UTF8 : PQ_CONV_TIMESTAMP_MILLIS);
        tfield_struct(t, SE_LOGICAL);
        tfield_struct(t, str ? LT_STRING : LT_TIMESTAMP);
        if (!str) {
            fp_pq_thrift_write_field_bool(t, TS_ADJUSTED_UTC, true);
            tfield_struct(t, TS_UNIT);
            tfield_struct(t, TU_MILLIS);
            fp_pq_thrift_write_struct_end(t);
            fp_pq_thrift_write_struct_end(t);
        }
        fp_pq_thrift_write_struct_end(t);
        fp_pq_thrift_write_struct_end(t);
    }
    fp_pq_thrift_write_struct_end(t);
}

static void put_column_meta(fp_pq_thrift_writer *t, const fp_pq_writer *w, const pq_col *c,
                            const pq_chunk *k)
{
    fp_pq_thrift_write_struct_begin(t);
    tfield_i32(t, CM_TYPE, pq_type_of(c->type));
    bool dict = k->dict_off >= 0;
    /* The data pages' encoding, PLAIN when a dictionary page or the pages use it, RLE (levels). */
    bool plain = dict || k->enc == PQ_ENC_PLAIN;
    fp_pq_thrift_write_field(t, CM_ENCODINGS, FP_PQ_THRIFT_LIST);
    fp_pq_thrift_write_list_begin(t, FP_PQ_THRIFT_I32, plain && k->enc != PQ_ENC_PLAIN ? 3 : 2);
    if (k->enc != PQ_ENC_PLAIN)
        fp_pq_thrift_write_i32(t, k->enc);
    if (plain)
        fp_pq_thrift_write_i32(t, PQ_ENC_PLAIN);
    fp_pq_thrift_write_i32(t, PQ_ENC_RLE);
    fp_pq_thrift_write_field(t, CM_PATH, FP_PQ_THRIFT_LIST);
    fp_pq_thrift_write_list_begin(t, FP_PQ_THRIFT_BINARY, 1);
    fp_pq_thrift_write_string(t, c->name);
    tfield_i32(t, CM_CODEC, fp_pq_codec_thrift(w->o.codec));
    tfield_i64(t, CM_NUM_VALUES, k->num_values);
    tfield_i64(t, CM_TOTAL_UNCOMPRESSED, k->usize);
    tfield_i64(t, CM_TOTAL_COMPRESSED, k->csize);
    tfield_i64(t, CM_DATA_PAGE_OFFSET, k->data_off);
    if (dict)
        tfield_i64(t, CM_DICT_PAGE_OFFSET, k->dict_off);
    tfield_struct(t, CM_STATISTICS);
    /* Legacy min/max are signed comparisons: right for numbers and booleans, not for strings. */
    bool legacy = k->has_minmax && c->type != FP_PQ_STRING;
    if (legacy) {
        tfield_bin(t, ST_MAX, k->max.p, k->max.len);
        tfield_bin(t, ST_MIN, k->min.p, k->min.len);
    }
    tfield_i64(t, ST_NULL_COUNT, k->null_count);
    if (k->has_minmax) {
        tfield_bin(t, ST_MAX_VALUE, k->max.p, k->max.len);
        tfield_bin(t, ST_MIN_VALUE, k->min.p, k->min.len);
    }
    fp_pq_thrift_write_struct_end(t);
    fp_pq_thrift_write_struct_end(t);
}

static fp_code write_footer(fp_pq_writer *w, fp_err *err)
{
    fp_buf b = FP_BUF_INIT;
    fp_pq_thrift_writer t;
    fp_pq_thrift_writer_init(&t, &b);
    fp_pq_thrift_write_struct_begin(&t);
    tfield_i32(&t, FMD_VERSION, 1);
    fp_pq_thrift_write_field(&t, FMD_SCHEMA, FP_PQ_THRIFT_LIST);
    fp_pq_thrift_write_list_begin(&t, FP_PQ_THRIFT_STRUCT, (uint32_t)w->ncols + 1);
    fp_pq_thrift_write_struct_begin(&t);
    fp_pq_thrift_write_field(&t, SE_NAME, FP_PQ_THRIFT_BINARY);
    fp_pq_thrift_write_string(&t, "schema");
    tfield_i32(&t, SE_NUM_CHILDREN, (int32_t)w->ncols);
    fp_pq_thrift_write_struct_end(&t);
    for (size_t i = 0; i < w->ncols; i++)
        put_schema(&t, &w->cols[i]);
    tfield_i64(&t, FMD_NUM_ROWS, w->total);
    fp_pq_thrift_write_field(&t, FMD_ROW_GROUPS, FP_PQ_THRIFT_LIST);
    fp_pq_thrift_write_list_begin(&t, FP_PQ_THRIFT_STRUCT, (uint32_t)w->nrg);
    for (size_t g = 0; g < w->nrg; g++) {
        const pq_rowgroup *rg = &w->rgs[g];
        fp_pq_thrift_write_struct_begin(&t);
        fp_pq_thrift_write_field(&t, RG_COLUMNS, FP_PQ_THRIFT_LIST);
        fp_pq_thrift_write_list_begin(&t, FP_PQ_THRIFT_STRUCT, (uint32_t)w->ncols);
        for (size_t i = 0; i < w->ncols; i++) {
            fp_pq_thrift_write_struct_begin(&t);
            tfield_i64(&t, CC_FILE_OFFSET, rg->chunks[i].start);
            fp_pq_thrift_write_field(&t, CC_META, FP_PQ_THRIFT_STRUCT);
            put_column_meta(&t, w, &w->cols[i], &rg->chunks[i]);
            fp_pq_thrift_write_struct_end(&t);
        }
        tfield_i64(&t, RG_TOTAL_BYTE_SIZE, rg->usize);
        tfield_i64(&t, RG_NUM_ROWS, rg->rows);
        tfield_i64(&t, RG_FILE_OFFSET, rg->offset);
        tfield_i64(&t, RG_TOTAL_COMPRESSED, rg->csize);
        fp_pq_thrift_write_struct_end(&t);
    }
    fp_pq_thrift_write_field(&t, FMD_CREATED_BY, FP_PQ_THRIFT_BINARY);
    fp_pq_thrift_write_string(&t, w->created_by);
    fp_pq_thrift_write_field(&t, FMD_COLUMN_ORDERS, FP_PQ_THRIFT_LIST);
    fp_pq_thrift_write_list_begin(&t, FP_PQ_THRIFT_STRUCT, (uint32_t)w->ncols);
    for (size_t i = 0; i < w->ncols; i++) {
        fp_pq_thrift_write_struct_begin(&t);
        tfield_struct(&t, CO_TYPE_ORDER);
        fp_pq_thrift_write_struct_end(&t);
        fp_pq_thrift_write_struct_end(&t);
    }
    fp_pq_thrift_write_struct_end(&t);
    fp_code rc = fp_pq_thrift_writer_finish(&t, err);
    if (!rc) {
        put_u32(&b, (uint32_t)b.len);
        fp_buf_append(&b, "PAR1", 4);
        rc = write_bytes(w, b.p, b.len, err);
    }
    fp_buf_free(&b);
    return rc;
}

/* ---- open / close ---- */

static void writer_free(fp_pq_writer *w)
{
    if (!w)
        return;
    if (w->f)
        fclose(w->f);
    for (size_t i = 0; i < w->ncols; i++) {
        pq_col *c = &w->cols[i];
        free(c->name);
        free(c->def);
        free(c->v64);
        free(c->vb);
        free(c->soff);
        fp_buf_free(&c->sbytes);
    }
    for (size_t g = 0; g < w->nrg; g++) {
        for (size_t i = 0; i < w->ncols; i++) {
            fp_buf_free(&w->rgs[g].chunks[i].min);
            fp_buf_free(&w->rgs[g].chunks[i].max);
        }
        free(w->rgs[g].chunks);
    }
    free(w->rgs);
    free(w->cols);
    free(w->path);
    free(w->created_by);
    fp_buf_free(&w->page);
    fp_buf_free(&w->comp);
    fp_buf_free(&w->hdr);
    free(w->lv);
    free(w->idx);
    free(w->slots);
    free(w->dict);
    fp_pq_codec_ctx_free(&w->codec);
    free(w);
}

static fp_code check_schema(const char *path, const fp_pq_column *cols, size_t ncols, fp_err *err)
{
    if (ncols == 0 || ncols > INT32_MAX - 1)
        return fp_err_set(err, FP_ERR_CONFIG, "parquet: %s: %zu columns", path, ncols);
    for (size_t i = 0; i < ncols; i++) {
        if (!cols[i].name || !cols[i].name[0])
            return fp_err_set(err, FP_ERR_CONFIG, "parquet: %s: column %zu has no name", path, i);
        if ((unsigned)cols[i].type > FP_PQ_TIMESTAMP)
            return fp_err_set(err, FP_ERR_CONFIG, "parquet: %s: column %s: unknown type %d", path,
                              cols[i].name, (int)cols[i].type);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cols[i].name, cols[j].name) == 0)
                return fp_err_set(err, FP_ERR_CONFIG, "parquet: %s: column %s appears twice", path,
                                  cols[i].name);
    }
    return FP_OK;
}

fp_code fp_pq_writer_open(const char *path, const fp_pq_column *cols, size_t ncols,
                          const fp_pq_writer_opts *opts, fp_pq_writer **out, fp_err *err)
{
    *out = NULL;
    fp_code rc = check_schema(path, cols, ncols, err);
    if (rc)
        return rc;
    fp_pq_writer *w = fp_xcalloc(1, sizeof *w);
    if (opts)
        w->o = *opts;
    if ((unsigned)w->o.codec > FP_PQ_UNCOMPRESSED) {
        free(w);
        return fp_err_set(err, FP_ERR_CONFIG, "parquet: %s: unknown codec %d", path,
                          (int)opts->codec);
    }
    w->o.zstd_level = w->o.zstd_level ? w->o.zstd_level : 3;
    w->o.row_group_bytes = w->o.row_group_bytes ? w->o.row_group_bytes : (size_t)64 << 20;
    w->o.page_bytes = w->o.page_bytes ? w->o.page_bytes : (size_t)1 << 20;
    w->o.dict_max_bytes = w->o.dict_max_bytes ? w->o.dict_max_bytes : (size_t)1 << 20;
    w->created_by =
        fp_xstrdup(w->o.created_by ? w->o.created_by : "fleetpipe version " FP_VERSION_STRING);
    w->o.created_by = NULL;
    w->path = fp_xstrdup(path);
    w->ncols = ncols;
    w->row_cap = 1024;
    w->cols = fp_xcalloc(ncols, sizeof *w->cols);
    for (size_t i = 0; i < ncols; i++) {
        w->cols[i].name = fp_xstrdup(cols[i].name);
        w->cols[i].type = cols[i].type;
        w->cols[i].set_row = -1;
        w->cols[i].def = fp_xmalloc(w->row_cap);
        if (cols[i].type == FP_PQ_STRING) {
            w->cols[i].soff = fp_xcalloc(1, sizeof *w->cols[i].soff);
        }
    }
    w->f = fopen(path, "wb");
    if (!w->f) {
        rc = fp_err_set(err, FP_ERR_IO, "parquet: %s: %m", path);
        writer_free(w);
        return rc;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    rc = write_bytes(w, "PAR1", 4, err);
    if (rc) {
        writer_free(w);
        return rc;
    }
    *out = w;
    return FP_OK;
}

fp_code fp_pq_writer_close(fp_pq_writer *w, int64_t *rows, fp_err *err)
{
    fp_code rc = failed(w, err);
    for (size_t i = 0; !rc && i < w->ncols; i++)
        if (w->cols[i].set_row == w->rows)
            rc = fp_err_set(err, FP_ERR_INTERNAL, "parquet: %s: close inside a row", w->path);
    if (!rc)
        rc = flush_sticky(w, err);
    if (!rc)
        rc = write_footer(w, err);
    if (!rc && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
        rc = fp_err_set(err, FP_ERR_IO, "parquet: %s: flush: %m", w->path);
    if (!rc) {
        FILE *f = w->f;
        w->f = NULL;
        if (fclose(f) != 0)
            rc = fp_err_set(err, FP_ERR_IO, "parquet: %s: close: %m", w->path);
    }
    if (rows)
        *rows = w->total;
    writer_free(w);
    return rc;
}

void fp_pq_writer_abort(fp_pq_writer *w)
{
    writer_free(w);
}
