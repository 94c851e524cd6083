/* rle.h — Parquet's RLE/bit-packing hybrid encoding (Encodings.md, "RLE = 3"), used for
 * definition/repetition levels and dictionary indices, plus its two framings: a 4-byte
 * little-endian length in front (data page v1 levels, boolean values) and a 1-byte bit width in
 * front (dictionary indices).
 *
 * The one thing to know: the stream does not say how many values it holds (the last bit-packed
 * group is padded to 8 values), so the decoder is told the count by the caller (from the page
 * header). Values are uint32_t of bit width 0..32; width 0 means every value is 0 and costs no
 * value bytes. Pure functions, any thread; the caller owns every buffer.
 */
#ifndef FP_PARQUET_RLE_H
#define FP_PARQUET_RLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

/* Bits needed for values 0..max_value: 0 for 0, 1 for 1, 2 for 2..3, ... 32. */
unsigned fp_pq_rle_bit_width(uint32_t max_value);

/* Appends the hybrid encoding of v[0..n) to out: runs of 8 or more equal values (that start on
 * a group boundary of the bit-packed run before them) as RLE runs, everything else bit-packed in
 * groups of 8, the last group zero-padded; at width 0 one RLE run. FP_ERR_INVALID for bit_width >
 * 32 or a value that does not fit (out then holds partial data). Runs are split at 2^31-1 values
 * (the spec's cap). */
fp_code fp_pq_rle_encode(fp_buf *out, const uint32_t *v, size_t n, unsigned bit_width, fp_err *err);
/* The same after a 4-byte little-endian byte length of the hybrid data. */
fp_code fp_pq_rle_encode_len_prefixed(fp_buf *out, const uint32_t *v, size_t n, unsigned bit_width,
                                      fp_err *err);
/* The same after one byte holding bit_width (a data page of dictionary indices). */
fp_code fp_pq_rle_encode_dict_indices(fp_buf *out, const uint32_t *v, size_t n, unsigned bit_width,
                                      fp_err *err);

/* Decodes exactly n values from p[0..len) into out[0..n). *used (may be NULL) is set to the
 * bytes of the runs that were read; values beyond n in the last run (padding, or a longer RLE
 * run) are ignored. FP_ERR_INVALID "rle: ... at byte N" when the data ends before n values, a
 * run is empty (the spec's run lengths are 1..2^31-1), a run's bytes pass len, or an RLE value
 * does not fit bit_width. Never reads outside p[0..len). */
fp_code fp_pq_rle_decode(const void *p, size_t len, unsigned bit_width, uint32_t *out, size_t n,
                         size_t *used, fp_err *err);
/* Decodes the 4-byte-length form; the length must fit in len. *used = 4 + that length. */
fp_code fp_pq_rle_decode_len_prefixed(const void *p, size_t len, unsigned bit_width, uint32_t *out,
                                      size_t n, size_t *used, fp_err *err);
/* Decodes the bit-width-byte form (width 0..32); *bit_width (may be NULL) gets the width. */
fp_code fp_pq_rle_decode_dict_indices(const void *p, size_t len, uint32_t *out, size_t n,
                                      unsigned *bit_width, size_t *used, fp_err *err);

#endif
