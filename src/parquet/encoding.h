/* encoding.h — Parquet's DELTA_BINARY_PACKED and BYTE_STREAM_SPLIT encodings for 8-byte values.
 *
 * DELTA_BINARY_PACKED (parquet-format Encodings.md) stores a first value and the deltas between
 * neighbours, per block of 128 values the smallest delta and, per miniblock of 32, the deltas
 * minus that minimum bit-packed at the width the miniblock needs: timestamps one second apart
 * cost a few bits a row, counters that grow slowly likewise. Arithmetic wraps (two's complement),
 * as the spec requires, so any int64 sequence round-trips.
 * BYTE_STREAM_SPLIT writes byte k of every value into stream k: the exponent and high mantissa
 * bytes of doubles that lie close together end up side by side, where zstd finds them.
 * Both are pure functions over caller buffers; any thread.
 */
#ifndef FP_PARQUET_ENCODING_H
#define FP_PARQUET_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

/* Appends the DELTA_BINARY_PACKED encoding of v[0..n) (block 128, 4 miniblocks). When pos is not
 * NULL, the values are v[pos[0]], v[pos[1]], ... */
void fp_pq_delta_encode(fp_buf *out, const uint64_t *v, const uint32_t *pos, size_t n);
/* Bytes fp_pq_delta_encode would append, without writing them. */
size_t fp_pq_delta_size(const uint64_t *v, size_t n);
/* Decodes exactly n values from p[0..len) into out; *used (may be NULL) gets the bytes read.
 * FP_ERR_INVALID with the reason for a header that disagrees with n, a bit width over 64, or
 * data that ends early. */
fp_code fp_pq_delta_decode(const uint8_t *p, size_t len, uint64_t *out, size_t n, size_t *used,
                           fp_err *err);

/* Appends the BYTE_STREAM_SPLIT encoding of n 8-byte values (pos as above). */
void fp_pq_bss_encode(fp_buf *out, const uint64_t *v, const uint32_t *pos, size_t n);
/* Decodes n 8-byte values; FP_ERR_INVALID unless len is exactly 8 * n. */
fp_code fp_pq_bss_decode(const uint8_t *p, size_t len, uint64_t *out, size_t n, fp_err *err);

#endif
