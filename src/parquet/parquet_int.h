/* parquet_int.h — what the Parquet writer and reader share: the parquet.thrift enum values and
 * field ids they use, limits, and per-page compression.
 *
 * The one thing to know: field ids and enum values are those of apache/parquet-format's
 * parquet.thrift and must never change; only the subset fleetpipe writes or reads is named.
 * Codec contexts are owned by their writer or reader (one thread each).
 */
#ifndef FP_PARQUET_INT_H
#define FP_PARQUET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "parquet/parquet.h"

/* Rows of one row group: the writer cuts a row group here whatever its bytes, and the reader
 * refuses more, so that a hostile row count cannot make it allocate without bound. */
#define FP_PQ_MAX_RG_ROWS ((int64_t)1 << 26)

/* parquet.thrift enum Type */
enum {
    PQT_BOOLEAN = 0,
    PQT_INT32 = 1,
    PQT_INT64 = 2,
    PQT_INT96 = 3,
    PQT_FLOAT = 4,
    PQT_DOUBLE = 5,
    PQT_BYTE_ARRAY = 6,
    PQT_FIXED = 7
};
/* enum FieldRepetitionType */
enum { PQ_REQUIRED = 0, PQ_OPTIONAL = 1, PQ_REPEATED = 2 };
/* enum ConvertedType (those used) */
enum { PQ_CONV_UTF8 = 0, PQ_CONV_TIMESTAMP_MILLIS = 9, PQ_CONV_INT_64 = 18 };
/* enum Encoding */
enum {
    PQ_ENC_PLAIN = 0,
    PQ_ENC_PLAIN_DICTIONARY = 2,
    PQ_ENC_RLE = 3,
    PQ_ENC_BIT_PACKED = 4,
    PQ_ENC_DELTA_BINARY_PACKED = 5,
    PQ_ENC_RLE_DICTIONARY = 8,
    PQ_ENC_BYTE_STREAM_SPLIT = 9
};
/* enum CompressionCodec */
enum { PQ_CODEC_UNCOMPRESSED = 0, PQ_CODEC_SNAPPY = 1, PQ_CODEC_ZSTD = 6 };
/* enum PageType */
enum { PQ_PAGE_DATA = 0, PQ_PAGE_INDEX = 1, PQ_PAGE_DICTIONARY = 2, PQ_PAGE_DATA_V2 = 3 };

/* Field ids per struct. */
enum {
    FMD_VERSION = 1,
    FMD_SCHEMA = 2,
    FMD_NUM_ROWS = 3,
    FMD_ROW_GROUPS = 4,
    FMD_CREATED_BY = 6,
    FMD_COLUMN_ORDERS = 7
};
enum {
    SE_TYPE = 1,
    SE_REPETITION = 3,
    SE_NAME = 4,
    SE_NUM_CHILDREN = 5,
    SE_CONVERTED = 6,
    SE_LOGICAL = 10
};
enum { LT_STRING = 1, LT_TIMESTAMP = 8, LT_INTEGER = 10 }; /* union LogicalType */
enum { TS_ADJUSTED_UTC = 1, TS_UNIT = 2 };                 /* struct TimestampType */
enum { TU_MILLIS = 1, TU_MICROS = 2, TU_NANOS = 3 };       /* union TimeUnit */
enum { CO_TYPE_ORDER = 1 };                                /* union ColumnOrder */
enum {
    RG_COLUMNS = 1,
    RG_TOTAL_BYTE_SIZE = 2,
    RG_NUM_ROWS = 3,
    RG_FILE_OFFSET = 5,
    RG_TOTAL_COMPRESSED = 6
};
enum { CC_FILE_OFFSET = 2, CC_META = 3 }; /* struct ColumnChunk */
enum {
    CM_TYPE = 1,
    CM_ENCODINGS = 2,
    CM_PATH = 3,
    CM_CODEC = 4,
    CM_NUM_VALUES = 5,
    CM_TOTAL_UNCOMPRESSED = 6,
    CM_TOTAL_COMPRESSED = 7,
    CM_DATA_PAGE_OFFSET = 9,
    CM_DICT_PAGE_OFFSET = 11,
    CM_STATISTICS = 12
};
enum { ST_MAX = 1, ST_MIN = 2, ST_NULL_COUNT = 3, ST_MAX_VALUE = 5, ST_MIN_VALUE = 6 };
enum {
    PH_TYPE = 1,
    PH_UNCOMPRESSED = 2,
    PH_COMPRESSED = 3,
    PH_DATA = 5,
    PH_DICT = 7,
    PH_DATA_V2 = 8
};
enum { DP_NUM_VALUES = 1, DP_ENCODING = 2, DP_DEF_ENCODING = 3, DP_REP_ENCODING = 4 };
enum { DICT_NUM_VALUES = 1, DICT_ENCODING = 2 };
enum {
    DP2_NUM_VALUES = 1,
    DP2_NUM_NULLS = 2,
    DP2_NUM_ROWS = 3,
    DP2_ENCODING = 4,
    DP2_DEF_LEN = 5,
    DP2_REP_LEN = 6,
    DP2_IS_COMPRESSED = 7
};

/* Thrift CompressionCodec of a codec, and back (-1 for one fleetpipe does not read). */
int fp_pq_codec_thrift(fp_pq_codec c);
int fp_pq_codec_from_thrift(int32_t v);

/* Compression state of one writer or reader; zero-initialise, free with fp_pq_codec_ctx_free. */
typedef struct fp_pq_codec_ctx {
    void *zc; /* ZSTD_CCtx */
    void *zd; /* ZSTD_DCtx */
} fp_pq_codec_ctx;
void fp_pq_codec_ctx_free(fp_pq_codec_ctx *c);

/* Replaces out's contents with p[0..n) compressed. FP_ERR_INTERNAL when the library fails. */
fp_code fp_pq_compress(fp_pq_codec_ctx *c, fp_pq_codec codec, int level, const void *p, size_t n,
                       fp_buf *out, fp_err *err);
/* Decompresses p[0..n) into exactly out[0..outn); FP_ERR_INVALID for corrupt data or any other
 * decompressed size. */
fp_code fp_pq_decompress(fp_pq_codec_ctx *c, fp_pq_codec codec, const void *p, size_t n, void *out,
                         size_t outn, fp_err *err);

#endif
