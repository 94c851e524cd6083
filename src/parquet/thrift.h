/* thrift.h — the Thrift compact protocol, enough for parquet.thrift (FileMetaData, PageHeader,
 * ColumnMetaData), written from Apache Thrift's doc/specs/thrift-compact-protocol.md.
 *
 * The one thing to know: field headers are delta-encoded against the previous field id of the
 * same struct, so writer and reader keep a stack of "last field id" per open struct; every
 * struct (the outermost one too) needs a matching _struct_begin/_struct_end. The writer appends
 * to an fp_buf it does not own; the reader is a bounds-checked cursor over bytes it does not own
 * (binary values point into them). Both are plain values on the caller's stack; one thread each.
 */
#ifndef FP_PARQUET_THRIFT_H
#define FP_PARQUET_THRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

/* Nesting limit for structs and, in fp_pq_thrift_skip(), lists/sets/maps too. parquet.thrift
 * nests about 6 deep (FileMetaData > RowGroup > ColumnChunk > ColumnMetaData > Statistics). */
#define FP_PQ_THRIFT_MAX_DEPTH 32

/* Compact type ids as they appear in field headers. A bool field's value is its type (TRUE or
 * FALSE); the reader reports both as FP_PQ_THRIFT_BOOL and keeps the value for
 * fp_pq_thrift_read_bool. In list headers FP_PQ_THRIFT_BOOL (1) is written and both 1 and 2 are
 * accepted. */
enum {
    FP_PQ_THRIFT_STOP = 0,
    FP_PQ_THRIFT_BOOL = 1, /* BOOLEAN_TRUE in a field header */
    FP_PQ_THRIFT_BOOL_FALSE = 2,
    FP_PQ_THRIFT_I8 = 3,
    FP_PQ_THRIFT_I16 = 4,
    FP_PQ_THRIFT_I32 = 5,
    FP_PQ_THRIFT_I64 = 6,
    FP_PQ_THRIFT_DOUBLE = 7,
    FP_PQ_THRIFT_BINARY = 8, /* binary and string */
    FP_PQ_THRIFT_LIST = 9,
    FP_PQ_THRIFT_SET = 10,
    FP_PQ_THRIFT_MAP = 11,
    FP_PQ_THRIFT_STRUCT = 12,
    FP_PQ_THRIFT_UUID = 13, /* 16 bytes; only skipped, parquet.thrift does not use it */
};

/* ---- primitives (also used by the RLE encoding) ---- */

void fp_pq_thrift_put_uvarint(fp_buf *out, uint64_t v); /* ULEB128, 1..10 bytes */
static inline uint32_t fp_pq_thrift_zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}
static inline uint64_t fp_pq_thrift_zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int32_t fp_pq_thrift_unzigzag32(uint32_t v)
{
    return (int32_t)((v >> 1) ^ (~(v & 1) + 1));
}
static inline int64_t fp_pq_thrift_unzigzag64(uint64_t v)
{
    return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}
/* Reads a ULEB128 of at most max_bytes (5 for 32-bit, 10 for 64-bit) from p[*pos..len) and
 * advances *pos; FP_ERR_INVALID naming the offset when truncated, too long or above 2^64-1. */
fp_code fp_pq_thrift_get_uvarint(const uint8_t *p, size_t len, size_t *pos, int max_bytes,
                                 uint64_t *v, fp_err *err);

/* ---- writer ---- */

/* The first error sticks: later calls write nothing and return it, so a sequence of writes can
 * be checked once with fp_pq_thrift_writer_finish(). */
typedef struct fp_pq_thrift_writer {
    fp_buf *out; /* not owned */
    int depth;   /* open structs */
    int16_t last[FP_PQ_THRIFT_MAX_DEPTH];
    fp_code rc;
    fp_err err;
} fp_pq_thrift_writer;

void fp_pq_thrift_writer_init(fp_pq_thrift_writer *w, fp_buf *out);
/* Opens a struct: the outermost one, a struct field's value (after fp_pq_thrift_write_field with
 * FP_PQ_THRIFT_STRUCT) or a list element. FP_ERR_LIMIT beyond FP_PQ_THRIFT_MAX_DEPTH. */
fp_code fp_pq_thrift_write_struct_begin(fp_pq_thrift_writer *w);
/* Writes STOP and closes the struct; FP_ERR_INTERNAL when none is open. */
fp_code fp_pq_thrift_write_struct_end(fp_pq_thrift_writer *w);
/* Field header, short form when id - previous id is 1..15, long form otherwise. type is any
 * FP_THRIFT_* but BOOL/BOOL_FALSE/STOP (use fp_pq_thrift_write_field_bool). */
fp_code fp_pq_thrift_write_field(fp_pq_thrift_writer *w, int16_t id, int type);
fp_code fp_pq_thrift_write_field_bool(fp_pq_thrift_writer *w, int16_t id, bool v);
/* List (or set) header; the caller then writes exactly size elements of elem_type. */
fp_code fp_pq_thrift_write_list_begin(fp_pq_thrift_writer *w, int elem_type, uint32_t size);
/* Values: after a field header or as list elements. A bool list element is one byte, 1 (true)
 * or 2 (false) as the Java, C++ and Rust libraries write it (the spec text says 0 for false;
 * the reader accepts 0, 1 and 2). */
fp_code fp_pq_thrift_write_bool(fp_pq_thrift_writer *w, bool v);
fp_code fp_pq_thrift_write_i8(fp_pq_thrift_writer *w, int8_t v);
fp_code fp_pq_thrift_write_i16(fp_pq_thrift_writer *w, int16_t v);
fp_code fp_pq_thrift_write_i32(fp_pq_thrift_writer *w, int32_t v);
fp_code fp_pq_thrift_write_i64(fp_pq_thrift_writer *w, int64_t v);
fp_code fp_pq_thrift_write_double(fp_pq_thrift_writer *w, double v);
fp_code fp_pq_thrift_write_binary(fp_pq_thrift_writer *w, const void *p, size_t n);
fp_code fp_pq_thrift_write_string(fp_pq_thrift_writer *w, const char *s);
/* The sticky error (copied to err), or FP_ERR_INTERNAL when structs are still open. */
fp_code fp_pq_thrift_writer_finish(fp_pq_thrift_writer *w, fp_err *err);

/* ---- reader ---- */

typedef struct fp_pq_thrift_reader {
    const uint8_t *p; /* not owned; must outlive the reader and every binary read from it */
    size_t len, pos;
    int depth; /* open structs */
    int16_t last[FP_PQ_THRIFT_MAX_DEPTH];
    int bool_field; /* value of the last bool field header: 0, 1, or -1 when none pending */
} fp_pq_thrift_reader;

/* Errors of every read: FP_ERR_INVALID "thrift: ... at byte N" for malformed or truncated input
 * (N is the offset in the reader's bytes), FP_ERR_LIMIT for nesting beyond FP_PQ_THRIFT_MAX_DEPTH.
 * After an error the reader's position is unspecified. Nothing is ever read past len. */
void fp_pq_thrift_reader_init(fp_pq_thrift_reader *r, const void *p, size_t len);
fp_code fp_pq_thrift_read_struct_begin(fp_pq_thrift_reader *r, fp_err *err);
/* Call after fp_pq_thrift_read_field returned FP_PQ_THRIFT_STOP. */
fp_code fp_pq_thrift_read_struct_end(fp_pq_thrift_reader *r, fp_err *err);
/* Next field header of the open struct: *type is FP_PQ_THRIFT_STOP at its end (*id then 0), or a
 * type id with bool fields reported as FP_PQ_THRIFT_BOOL (read the value with
 * fp_pq_thrift_read_bool). Unknown type ids are FP_ERR_INVALID. */
fp_code fp_pq_thrift_read_field(fp_pq_thrift_reader *r, int16_t *id, int *type, fp_err *err);
/* List or set header; *elem_type is normalised (bool = FP_PQ_THRIFT_BOOL). A size that cannot fit
 * in the remaining bytes (every element takes at least one) is FP_ERR_INVALID. */
fp_code fp_pq_thrift_read_list_begin(fp_pq_thrift_reader *r, int *elem_type, uint32_t *size,
                                     fp_err *err);
/* The value of a bool field just read, else one byte of a bool list element. */
fp_code fp_pq_thrift_read_bool(fp_pq_thrift_reader *r, bool *v, fp_err *err);
fp_code fp_pq_thrift_read_i8(fp_pq_thrift_reader *r, int8_t *v, fp_err *err);
fp_code fp_pq_thrift_read_i16(fp_pq_thrift_reader *r, int16_t *v, fp_err *err);
fp_code fp_pq_thrift_read_i32(fp_pq_thrift_reader *r, int32_t *v, fp_err *err);
fp_code fp_pq_thrift_read_i64(fp_pq_thrift_reader *r, int64_t *v, fp_err *err);
fp_code fp_pq_thrift_read_double(fp_pq_thrift_reader *r, double *v, fp_err *err);
/* *p points into the reader's bytes (not copied, not NUL-terminated). */
fp_code fp_pq_thrift_read_binary(fp_pq_thrift_reader *r, const uint8_t **p, size_t *n, fp_err *err);
/* Skips one value of the given type: a field's value after fp_pq_thrift_read_field, or a list
 * element (a bool element is its byte, a bool field's value is in the header just read); whole
 * structs, lists, sets and maps included, within FP_PQ_THRIFT_MAX_DEPTH levels of nesting. */
fp_code fp_pq_thrift_skip(fp_pq_thrift_reader *r, int type, fp_err *err);

#endif
