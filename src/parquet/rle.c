/* rle.c — the RLE/bit-packing hybrid (see rle.h).
 *
 * The encoder works on the whole array: it keeps a pending bit-packed section that always ends
 * on a multiple of 8 values before an RLE run starts, because only the very last group of a
 * stream may be padded (a decoder would read padding anywhere else as values). So a run that
 * begins inside an unfinished group first tops that group up and becomes an RLE run only if 8
 * or more equal values remain. Bit-packing is LSB-first: value i occupies bits
 * [i*w, (i+1)*w) of the group, counting from bit 0 of the first byte.
 */
#include "parquet/rle.h"

#include "parquet/thrift.h"

#define RUN_MAX ((size_t)INT32_MAX) /* spec: run lengths 1 .. 2^31-1 */
#define GROUPS_MAX ((size_t)INT32_MAX / 8)

unsigned fp_pq_rle_bit_width(uint32_t max_value)
{
    unsigned w = 0;
    while (w < 32 && (max_value >> w) != 0)
        w++;
    return w;
}

static void put_rle_run(fp_buf *out, uint32_t value, size_t run, unsigned w)
{
    while (run > 0) {
        size_t k = run < RUN_MAX ? run : RUN_MAX;
        fp_pq_thrift_put_uvarint(out, (uint64_t)k << 1);
        uint8_t b[4];
        unsigned nb = (w + 7) / 8;
        for (unsigned i = 0; i < nb; i++)
            b[i] = (uint8_t)(value >> (8 * i));
        fp_buf_append(out, b, nb);
        run -= k;
    }
}

/* v[0..n) bit-packed, n rounded up to groups of 8 with zeros. */
static void put_bit_packed(fp_buf *out, const uint32_t *v, size_t n, unsigned w)
{
    while (n > 0) {
        size_t groups = (n + 7) / 8;
        if (groups > GROUPS_MAX)
            groups = GROUPS_MAX;
        size_t k = groups * 8 < n ? groups * 8 : n;
        fp_pq_thrift_put_uvarint(out, (uint64_t)groups << 1 | 1);
        fp_buf_reserve(out, groups * w);
        uint64_t acc = 0;
        unsigned bits = 0;
        for (size_t i = 0; i < groups * 8; i++) {
            acc |= (uint64_t)(i < k ? v[i] : 0) << bits;
            bits += w;
            while (bits >= 8) {
                fp_buf_putc(out, (char)(uint8_t)acc);
                acc >>= 8;
                bits -= 8;
            }
        }
        v += k;
        n -= k;
    }
}

fp_code fp_pq_rle_encode(fp_buf *out, const uint32_t *v, size_t n, unsigned bit_width, fp_err *err)
{
    if (bit_width > 32)
        return fp_err_set(err, FP_ERR_INVALID, "rle: bit width %u above 32", bit_width);
    if (bit_width < 32) {
        for (size_t i = 0; i < n; i++)
            if (v[i] >> bit_width)
                return fp_err_set(err, FP_ERR_INVALID,
                                  "rle: value %u at index %zu does not fit in %u bits", v[i], i,
                                  bit_width);
    }
    if (n == 0)
        return FP_OK; /* no runs at all; v may be NULL */
    if (bit_width == 0) {
        /* Every value is 0: one RLE run of any length costs a header byte or two, never more. */
        put_rle_run(out, 0, n, 0);
        return FP_OK;
    }
    size_t i = 0, lit = 0, nlit = 0; /* pending bit-packed values: v[lit .. lit+nlit) */
    while (i < n) {
        size_t run = 1;
        while (i + run < n && v[i + run] == v[i])
            run++;
        if (nlit % 8 != 0) {
            size_t take = 8 - nlit % 8;
            take = take < run ? take : run;
            nlit += take;
            i += take;
            continue;
        }
        if (run >= 8) {
            put_bit_packed(out, v + lit, nlit, bit_width);
            put_rle_run(out, v[i], run, bit_width);
            i += run;
            lit = i;
            nlit = 0;
        } else {
            nlit += run;
            i += run;
        }
    }
    put_bit_packed(out, v + lit, nlit, bit_width);
    return FP_OK;
}

fp_code fp_pq_rle_encode_len_prefixed(fp_buf *out, const uint32_t *v, size_t n, unsigned bit_width,
                                      fp_err *err)
{
    size_t at = out->len;
    fp_buf_append(out, "\0\0\0\0", 4);
    fp_code rc = fp_pq_rle_encode(out, v, n, bit_width, err);
    if (rc)
        return rc;
    size_t len = out->len - at - 4;
    if (len > UINT32_MAX)
        return fp_err_set(err, FP_ERR_LIMIT, "rle: %zu bytes do not fit the 4-byte length", len);
    for (int i = 0; i < 4; i++)
        out->p[at + (size_t)i] = (char)(uint8_t)(len >> (8 * i));
    return FP_OK;
}

fp_code fp_pq_rle_encode_dict_indices(fp_buf *out, const uint32_t *v, size_t n, unsigned bit_width,
                                      fp_err *err)
{
    if (bit_width > 32)
        return fp_err_set(err, FP_ERR_INVALID, "rle: bit width %u above 32", bit_width);
    fp_buf_putc(out, (char)bit_width);
    return fp_pq_rle_encode(out, v, n, bit_width, err);
}

/* Decodes from p[pos..end); error offsets are offsets in p. */
static fp_code decode(const uint8_t *p, size_t pos, size_t end, unsigned w, uint32_t *out, size_t n,
                      size_t *used, fp_err *err)
{
    if (w > 32)
        return fp_err_set(err, FP_ERR_INVALID, "rle: bit width %u above 32", w);
    size_t got = 0;
    while (got < n) {
        if (pos >= end)
            return fp_err_set(err, FP_ERR_INVALID,
                              "rle: data ends at byte %zu after %zu of %zu values", pos, got, n);
        size_t at = pos;
        uint64_t h;
        fp_code rc = fp_pq_thrift_get_uvarint(p, end, &pos, 5, &h, err);
        if (rc) {
            fp_err_prefix(err, "rle: run header");
            return rc;
        }
        if (h >> 1 == 0)
            return fp_err_set(err, FP_ERR_INVALID, "rle: empty run at byte %zu", at);
        if ((h & 1) ? (h >> 1) > GROUPS_MAX : (h >> 1) > RUN_MAX)
            return fp_err_set(err, FP_ERR_INVALID, "rle: run above 2^31-1 values at byte %zu", at);
        size_t count = (size_t)(h >> 1);
        if (h & 1) {
            /* count groups of 8 values, count * w bytes. */
            size_t bytes = count * w;
            if (bytes > end - pos)
                return fp_err_set(err, FP_ERR_INVALID,
                                  "rle: bit-packed run at byte %zu needs %zu bytes, %zu left", at,
                                  bytes, end - pos);
            size_t k = count * 8 < n - got ? count * 8 : n - got;
            uint64_t mask = w == 32 ? 0xffffffffu : ((uint64_t)1 << w) - 1;
            for (size_t i = 0; i < k; i++) {
                size_t bit = i * w;
                size_t byte = bit / 8;
                unsigned shift = (unsigned)(bit % 8);
                size_t nb = (shift + w + 7) / 8;
                uint64_t x = 0;
                for (size_t j = 0; j < nb; j++)
                    x |= (uint64_t)p[pos + byte + j] << (8 * j);
                out[got + i] = (uint32_t)((x >> shift) & mask);
            }
            got += k;
            pos += bytes;
        } else {
            unsigned nb = (w + 7) / 8;
            if (nb > end - pos)
                return fp_err_set(err, FP_ERR_INVALID, "rle: run value truncated at byte %zu", pos);
            uint32_t value = 0;
            for (unsigned j = 0; j < nb; j++)
                value |= (uint32_t)p[pos + j] << (8 * j);
            if (w < 32 && (value >> w) != 0)
                return fp_err_set(err, FP_ERR_INVALID,
                                  "rle: run value %u at byte %zu does not fit in %u bits", value,
                                  pos, w);
            pos += nb;
            size_t k = count < n - got ? count : n - got;
            for (size_t i = 0; i < k; i++)
                out[got + i] = value;
            got += k;
        }
    }
    if (used)
        *used = pos;
    return FP_OK;
}

fp_code fp_pq_rle_decode(const void *p, size_t len, unsigned bit_width, uint32_t *out, size_t n,
                         size_t *used, fp_err *err)
{
    return decode(p, 0, len, bit_width, out, n, used, err);
}

fp_code fp_pq_rle_decode_len_prefixed(const void *p, size_t len, unsigned bit_width, uint32_t *out,
                                      size_t n, size_t *used, fp_err *err)
{
    const uint8_t *b = p;
    if (len < 4)
        return fp_err_set(err, FP_ERR_INVALID, "rle: length prefix truncated at byte %zu", len);
    uint32_t l = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    if (l > len - 4)
        return fp_err_set(err, FP_ERR_INVALID,
                          "rle: length prefix %u at byte 0 runs past the end (%zu bytes left)", l,
                          len - 4);
    fp_code rc = decode(b, 4, 4 + (size_t)l, bit_width, out, n, NULL, err);
    if (rc)
        return rc;
    if (used)
        *used = 4 + (size_t)l;
    return FP_OK;
}

fp_code fp_pq_rle_decode_dict_indices(const void *p, size_t len, uint32_t *out, size_t n,
                                      unsigned *bit_width, size_t *used, fp_err *err)
{
    const uint8_t *b = p;
    if (len < 1)
        return fp_err_set(err, FP_ERR_INVALID, "rle: bit width byte missing at byte 0");
    if (b[0] > 32)
        return fp_err_set(err, FP_ERR_INVALID, "rle: bit width %u above 32 at byte 0", b[0]);
    if (bit_width)
        *bit_width = b[0];
    return decode(b, 1, len, b[0], out, n, used, err);
}
