/* encoding.c — DELTA_BINARY_PACKED and BYTE_STREAM_SPLIT (parquet/encoding.h). Bit-packing is
 * Parquet's: values least significant bit first, packed from the low bit of each byte. */
#include "parquet/encoding.h"

#include <string.h>

#include "parquet/thrift.h" /* ULEB128 */

enum { BLOCK = 128, MINIBLOCKS = 4, MINI = BLOCK / MINIBLOCKS };

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static unsigned width_of(uint64_t v)
{
    return v ? 64 - (unsigned)__builtin_clzll(v) : 0;
}

static size_t uleb_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint64_t at(const uint64_t *v, const uint32_t *pos, size_t i)
{
    return pos ? v[pos[i]] : v[i];
}

/* Packs m values of width w (m a multiple of 8) into out. */
static void pack(fp_buf *out, const uint64_t *d, size_t m, unsigned w)
{
    size_t bytes = m * w / 8;
    fp_buf_reserve(out, bytes);
    uint8_t *o = (uint8_t *)out->p + out->len;
    memset(o, 0, bytes);
    size_t bit = 0;
    for (size_t i = 0; i < m; i++, bit += w)
        for (unsigned b = 0; b < w; b += 8) {
            /* bits [b, b+8) of d[i] go to bit position bit + b */
            uint64_t chunk = d[i] >> b;
            size_t p = (bit + b) / 8, s = (bit + b) % 8;
            unsigned take = w - b < 8 ? w - b : 8;
            uint64_t mask = (1ULL << take) - 1;
            uint16_t val = (uint16_t)((chunk & mask) << s);
            o[p] |= (uint8_t)val;
            if (s + take > 8)
                o[p + 1] |= (uint8_t)(val >> 8);
        }
    out->len += bytes;
}

/* Encodes (or, with out NULL, measures) the stream. */
static size_t delta(fp_buf *out, const uint64_t *v, const uint32_t *pos, size_t n)
{
    size_t size = uleb_size(BLOCK) + uleb_size(MINIBLOCKS) + uleb_size(n) +
                  uleb_size(n ? zigzag((int64_t)at(v, pos, 0)) : 0);
    if (out) {
        fp_pq_thrift_put_uvarint(out, BLOCK);
        fp_pq_thrift_put_uvarint(out, MINIBLOCKS);
        fp_pq_thrift_put_uvarint(out, n);
        fp_pq_thrift_put_uvarint(out, n ? zigzag((int64_t)at(v, pos, 0)) : 0);
    }
    uint64_t d[BLOCK];
    for (size_t i = 1; i < n; i += BLOCK) {
        size_t m = n - i < BLOCK ? n - i : BLOCK;
        int64_t min = INT64_MAX;
        for (size_t j = 0; j < m; j++) {
            int64_t dj = (int64_t)(at(v, pos, i + j) - at(v, pos, i + j - 1));
            d[j] = (uint64_t)dj;
            min = dj < min ? dj : min;
        }
        unsigned w[MINIBLOCKS] = {0};
        for (size_t j = 0; j < m; j++) {
            d[j] -= (uint64_t)min;
            unsigned wj = width_of(d[j]);
            if (wj > w[j / MINI])
                w[j / MINI] = wj;
        }
        size_t used = (m + MINI - 1) / MINI;
        for (size_t j = m; j < used * MINI; j++)
            d[j] = 0; /* padding of the last miniblock */
        size += uleb_size(zigzag(min)) + MINIBLOCKS;
        for (size_t b = 0; b < used; b++)
            size += (size_t)MINI * w[b] / 8;
        if (!out)
            continue;
        fp_pq_thrift_put_uvarint(out, zigzag(min));
        for (size_t b = 0; b < MINIBLOCKS; b++)
            fp_buf_putc(out, (char)(b < used ? w[b] : 0));
        for (size_t b = 0; b < used; b++)
            pack(out, d + b * MINI, MINI, w[b]);
    }
    return size;
}

void fp_pq_delta_encode(fp_buf *out, const uint64_t *v, const uint32_t *pos, size_t n)
{
    delta(out, v, pos, n);
}

size_t fp_pq_delta_size(const uint64_t *v, size_t n)
{
    return delta(NULL, v, NULL, n);
}

static fp_code get_uleb(const uint8_t *p, size_t len, size_t *off, uint64_t *v, fp_err *err)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*off >= len)
            return fp_err_set(err, FP_ERR_INVALID, "DELTA_BINARY_PACKED: ends inside a varint");
        uint8_t b = p[(*off)++];
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return FP_OK;
        }
    }
    return fp_err_set(err, FP_ERR_INVALID, "DELTA_BINARY_PACKED: varint longer than 64 bits");
}

/* The w-bit value at bit offset bit of q[0..len). */
static uint64_t unpack(const uint8_t *q, size_t len, size_t bit, unsigned w)
{
    if (!w)
        return 0;
    size_t b = bit / 8;
    unsigned s = bit % 8;
    uint8_t win[9] = {0};
    size_t take = len - b < 9 ? len - b : 9;
    memcpy(win, q + b, take);
    uint64_t lo;
    memcpy(&lo, win, 8); /* little-endian hosts (the writer requires it too) */
    uint64_t x = lo >> s;
    if (s && w + s > 64)
        x |= (uint64_t)win[8] << (64 - s);
    return w == 64 ? x : x & ((1ULL << w) - 1);
}

fp_code fp_pq_delta_decode(const uint8_t *p, size_t len, uint64_t *out, size_t n, size_t *used,
                           fp_err *err)
{
    size_t off = 0;
    uint64_t block = 0, minis = 0, total = 0, first = 0; /* gcc -O3 cannot see get_uleb set them */
    fp_code rc = get_uleb(p, len, &off, &block, err);
    if (!rc)
        rc = get_uleb(p, len, &off, &minis, err);
    if (!rc)
        rc = get_uleb(p, len, &off, &total, err);
    if (!rc)
        rc = get_uleb(p, len, &off, &first, err);
    if (rc)
        return rc;
    if (!block || block % 128 || !minis || block % minis || (block / minis) % 32 ||
        block > 1u << 20)
        return fp_err_set(err, FP_ERR_INVALID,
                          "DELTA_BINARY_PACKED: block of %llu values in %llu miniblocks",
                          (unsigned long long)block, (unsigned long long)minis);
    if (total != n)
        return fp_err_set(err, FP_ERR_INVALID, "DELTA_BINARY_PACKED: %llu values, page has %zu",
                          (unsigned long long)total, n);
    size_t mini = (size_t)(block / minis);
    if (n)
        out[0] = (uint64_t)unzigzag(first);
    size_t got = n ? 1 : 0;
    while (got < n) {
        uint64_t zmin = 0;
        rc = get_uleb(p, len, &off, &zmin, err);
        if (rc)
            return rc;
        uint64_t min = (uint64_t)unzigzag(zmin);
        if (len - off < minis)
            return fp_err_set(err, FP_ERR_INVALID, "DELTA_BINARY_PACKED: bit widths cut off");
        const uint8_t *widths = p + off;
        off += (size_t)minis;
        for (size_t b = 0; b < minis && got < n; b++) {
            unsigned w = widths[b];
            if (w > 64)
                return fp_err_set(err, FP_ERR_INVALID, "DELTA_BINARY_PACKED: bit width %u", w);
            size_t bytes = mini * w / 8;
            if (len - off < bytes)
                return fp_err_set(err, FP_ERR_INVALID,
                                  "DELTA_BINARY_PACKED: miniblock ends after %zu of %zu bytes",
                                  len - off, bytes);
            const uint8_t *q = p + off;
            for (size_t j = 0; j < mini && got < n; j++) {
                out[got] = out[got - 1] + min + unpack(q, bytes, j * w, w);
                got++;
            }
            off += bytes;
        }
    }
    if (used)
        *used = off;
    return FP_OK;
}

void fp_pq_bss_encode(fp_buf *out, const uint64_t *v, const uint32_t *pos, size_t n)
{
    fp_buf_reserve(out, n * 8);
    uint8_t *o = (uint8_t *)out->p + out->len;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = at(v, pos, i);
        for (size_t k = 0; k < 8; k++)
            o[k * n + i] = (uint8_t)(x >> (8 * k));
    }
    out->len += n * 8;
}

fp_code fp_pq_bss_decode(const uint8_t *p, size_t len, uint64_t *out, size_t n, fp_err *err)
{
    if (n > SIZE_MAX / 8 || len != n * 8)
        return fp_err_set(err, FP_ERR_INVALID, "BYTE_STREAM_SPLIT: %zu bytes for %zu values", len,
                          n);
    for (size_t i = 0; i < n; i++) {
        uint64_t x = 0;
        for (size_t k = 0; k < 8; k++)
            x |= (uint64_t)p[k * n + i] << (8 * k);
        out[i] = x;
    }
    return FP_OK;
}
