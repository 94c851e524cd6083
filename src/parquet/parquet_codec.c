/* parquet_codec.c — per-page compression of the Parquet writer and reader (zstd through a
 * reused context, snappy through its C API), and the small name tables of parquet.h. */
#include <string.h>
#include <strings.h>

#include <snappy-c.h>
#include <zstd.h>

#include "parquet/parquet_int.h"

const char *fp_pq_type_name(fp_pq_type t)
{
    static const char *const names[] = {"boolean", "bigint", "double", "string", "timestamp"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

fp_code fp_pq_codec_parse(const char *s, fp_pq_codec *out, fp_err *err)
{
    if (strcasecmp(s, "zstd") == 0)
        *out = FP_PQ_ZSTD;
    else if (strcasecmp(s, "snappy") == 0)
        *out = FP_PQ_SNAPPY;
    else if (strcasecmp(s, "none") == 0 || strcasecmp(s, "uncompressed") == 0)
        *out = FP_PQ_UNCOMPRESSED;
    else
        return fp_err_set(err, FP_ERR_CONFIG,
                          "parquet: unknown compression \"%s\" (zstd, snappy or none)", s);
    return FP_OK;
}

int fp_pq_codec_thrift(fp_pq_codec c)
{
    return c == FP_PQ_ZSTD     ? PQ_CODEC_ZSTD
           : c == FP_PQ_SNAPPY ? PQ_CODEC_SNAPPY
                               : PQ_CODEC_UNCOMPRESSED;
}

int fp_pq_codec_from_thrift(int32_t v)
{
    switch (v) {
    case PQ_CODEC_ZSTD:
        return FP_PQ_ZSTD;
    case PQ_CODEC_SNAPPY:
        return FP_PQ_SNAPPY;
    case PQ_CODEC_UNCOMPRESSED:
        return FP_PQ_UNCOMPRESSED;
    default:
        return -1;
    }
}

void fp_pq_codec_ctx_free(fp_pq_codec_ctx *c)
{
    ZSTD_freeCCtx(c->zc);
    ZSTD_freeDCtx(c->zd);
    c->zc = c->zd = NULL;
}

fp_code fp_pq_compress(fp_pq_codec_ctx *c, fp_pq_codec codec, int level, const void *p, size_t n,
                       fp_buf *out, fp_err *err)
{
    fp_buf_reset(out);
    if (codec == FP_PQ_ZSTD) {
        if (!c->zc)
            c->zc = ZSTD_createCCtx();
        size_t cap = ZSTD_compressBound(n);
        fp_buf_reserve(out, cap);
        size_t r = ZSTD_compressCCtx(c->zc, out->p, cap, p, n, level);
        if (ZSTD_isError(r))
            return fp_err_set(err, FP_ERR_INTERNAL, "parquet: zstd: %s", ZSTD_getErrorName(r));
        out->len = r;
    } else if (codec == FP_PQ_SNAPPY) {
        size_t cap = snappy_max_compressed_length(n);
        fp_buf_reserve(out, cap);
        if (snappy_compress(p, n, out->p, &cap) != SNAPPY_OK)
            return fp_err_set(err, FP_ERR_INTERNAL, "parquet: snappy compression failed");
        out->len = cap;
    } else {
        fp_buf_append(out, p, n);
    }
    return FP_OK;
}

fp_code fp_pq_decompress(fp_pq_codec_ctx *c, fp_pq_codec codec, const void *p, size_t n, void *out,
                         size_t outn, fp_err *err)
{
    if (codec == FP_PQ_ZSTD) {
        if (!c->zd)
            c->zd = ZSTD_createDCtx();
        size_t r = ZSTD_decompressDCtx(c->zd, out, outn, p, n);
        if (ZSTD_isError(r))
            return fp_err_set(err, FP_ERR_INVALID, "zstd: %s", ZSTD_getErrorName(r));
        if (r != outn)
            return fp_err_set(err, FP_ERR_INVALID, "zstd: %zu bytes where the header says %zu", r,
                              outn);
    } else if (codec == FP_PQ_SNAPPY) {
        size_t len;
        if (snappy_uncompressed_length(p, n, &len) != SNAPPY_OK || len != outn)
            return fp_err_set(err, FP_ERR_INVALID, "snappy: bad length (header says %zu)", outn);
        if (snappy_uncompress(p, n, out, &len) != SNAPPY_OK || len != outn)
            return fp_err_set(err, FP_ERR_INVALID, "snappy: corrupt data");
    } else {
        if (n != outn)
            return fp_err_set(err, FP_ERR_INVALID,
                              "uncompressed page of %zu bytes where the header says %zu", n, outn);
        if (n)
            memcpy(out, p, n);
    }
    return FP_OK;
}
