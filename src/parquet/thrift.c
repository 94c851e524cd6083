/* thrift.c — Thrift compact protocol writer and reader (see thrift.h).
 *
 * Every read checks the remaining length first and fails with the byte offset where the bad or
 * missing byte is; skip() recurses at most FP_PQ_THRIFT_MAX_DEPTH levels, and a list, set or map
 * whose size exceeds the bytes left is refused before any element is looked at, so hostile
 * input costs time linear in its length.
 */
#include "parquet/thrift.h"

#include <string.h>

void fp_pq_thrift_put_uvarint(fp_buf *out, uint64_t v)
{
    uint8_t b[10];
    int n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    fp_buf_append(out, b, (size_t)n);
}

fp_code fp_pq_thrift_get_uvarint(const uint8_t *p, size_t len, size_t *pos, int max_bytes,
                                 uint64_t *v, fp_err *err)
{
    size_t start = *pos;
    uint64_t x = 0;
    for (int i = 0; i < max_bytes; i++) {
        size_t at = start + (size_t)i;
        if (at >= len)
            return fp_err_set(err, FP_ERR_INVALID, "varint truncated at byte %zu", at);
        uint8_t c = p[at];
        /* The tenth byte of a 64-bit varint carries bit 63 only. */
        if (i == 9 && c > 1)
            return fp_err_set(err, FP_ERR_INVALID, "varint above 64 bits at byte %zu", at);
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *pos = at + 1;
            *v = x;
            return FP_OK;
        }
    }
    return fp_err_set(err, FP_ERR_INVALID, "varint longer than %d bytes at byte %zu", max_bytes,
                      start);
}

/* ---- writer ---- */

void fp_pq_thrift_writer_init(fp_pq_thrift_writer *w, fp_buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

static fp_code wfail(fp_pq_thrift_writer *w, fp_code code, const char *what, long a)
{
    w->rc = fp_err_set(&w->err, code, "thrift writer: %s (%ld)", what, a);
    return w->rc;
}

static void put8(fp_pq_thrift_writer *w, uint8_t c)
{
    fp_buf_putc(w->out, (char)c);
}

fp_code fp_pq_thrift_write_struct_begin(fp_pq_thrift_writer *w)
{
    if (w->rc)
        return w->rc;
    if (w->depth >= FP_PQ_THRIFT_MAX_DEPTH)
        return wfail(w, FP_ERR_LIMIT, "structs nested deeper than the limit",
                     FP_PQ_THRIFT_MAX_DEPTH);
    w->last[w->depth++] = 0;
    return FP_OK;
}

fp_code fp_pq_thrift_write_struct_end(fp_pq_thrift_writer *w)
{
    if (w->rc)
        return w->rc;
    if (w->depth == 0)
        return wfail(w, FP_ERR_INTERNAL, "struct end without an open struct", 0);
    put8(w, FP_PQ_THRIFT_STOP);
    w->depth--;
    return FP_OK;
}

static fp_code write_header(fp_pq_thrift_writer *w, int16_t id, int type)
{
    if (w->rc)
        return w->rc;
    if (w->depth == 0)
        return wfail(w, FP_ERR_INTERNAL, "field outside a struct, id", id);
    int16_t *last = &w->last[w->depth - 1];
    int32_t delta = (int32_t)id - *last;
    if (delta >= 1 && delta <= 15) {
        put8(w, (uint8_t)(delta << 4 | type));
    } else {
        put8(w, (uint8_t)type);
        fp_pq_thrift_put_uvarint(w->out, fp_pq_thrift_zigzag32(id));
    }
    *last = id;
    return FP_OK;
}

fp_code fp_pq_thrift_write_field(fp_pq_thrift_writer *w, int16_t id, int type)
{
    if (w->rc)
        return w->rc;
    if (type < FP_PQ_THRIFT_I8 || type > FP_PQ_THRIFT_UUID)
        return wfail(w, FP_ERR_INTERNAL, "field type (use write_field_bool for bools)", type);
    return write_header(w, id, type);
}

fp_code fp_pq_thrift_write_field_bool(fp_pq_thrift_writer *w, int16_t id, bool v)
{
    return write_header(w, id, v ? FP_PQ_THRIFT_BOOL : FP_PQ_THRIFT_BOOL_FALSE);
}

fp_code fp_pq_thrift_write_list_begin(fp_pq_thrift_writer *w, int elem_type, uint32_t size)
{
    if (w->rc)
        return w->rc;
    if (elem_type < FP_PQ_THRIFT_BOOL || elem_type > FP_PQ_THRIFT_UUID ||
        elem_type == FP_PQ_THRIFT_BOOL_FALSE)
        return wfail(w, FP_ERR_INTERNAL, "list element type", elem_type);
    if (size > INT32_MAX)
        return wfail(w, FP_ERR_LIMIT, "list size above 2^31-1", (long)size);
    if (size < 15) {
        put8(w, (uint8_t)(size << 4 | (uint32_t)elem_type));
    } else {
        put8(w, (uint8_t)(0xf0 | elem_type));
        fp_pq_thrift_put_uvarint(w->out, size);
    }
    return FP_OK;
}

fp_code fp_pq_thrift_write_bool(fp_pq_thrift_writer *w, bool v)
{
    if (w->rc)
        return w->rc;
    put8(w, v ? 1 : 2);
    return FP_OK;
}

fp_code fp_pq_thrift_write_i8(fp_pq_thrift_writer *w, int8_t v)
{
    if (w->rc)
        return w->rc;
    put8(w, (uint8_t)v);
    return FP_OK;
}

fp_code fp_pq_thrift_write_i16(fp_pq_thrift_writer *w, int16_t v)
{
    return fp_pq_thrift_write_i32(w, v);
}

fp_code fp_pq_thrift_write_i32(fp_pq_thrift_writer *w, int32_t v)
{
    if (w->rc)
        return w->rc;
    fp_pq_thrift_put_uvarint(w->out, fp_pq_thrift_zigzag32(v));
    return FP_OK;
}

fp_code fp_pq_thrift_write_i64(fp_pq_thrift_writer *w, int64_t v)
{
    if (w->rc)
        return w->rc;
    fp_pq_thrift_put_uvarint(w->out, fp_pq_thrift_zigzag64(v));
    return FP_OK;
}

fp_code fp_pq_thrift_write_double(fp_pq_thrift_writer *w, double v)
{
    if (w->rc)
        return w->rc;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(bits >> (8 * i)); /* little-endian, unlike the binary protocol */
    fp_buf_append(w->out, b, 8);
    return FP_OK;
}

fp_code fp_pq_thrift_write_binary(fp_pq_thrift_writer *w, const void *p, size_t n)
{
    if (w->rc)
        return w->rc;
    if (n > INT32_MAX)
        return wfail(w, FP_ERR_LIMIT, "binary longer than 2^31-1", (long)n);
    fp_pq_thrift_put_uvarint(w->out, n);
    fp_buf_append(w->out, p, n);
    return FP_OK;
}

fp_code fp_pq_thrift_write_string(fp_pq_thrift_writer *w, const char *s)
{
    return fp_pq_thrift_write_binary(w, s, strlen(s));
}

fp_code fp_pq_thrift_writer_finish(fp_pq_thrift_writer *w, fp_err *err)
{
    if (!w->rc && w->depth != 0)
        wfail(w, FP_ERR_INTERNAL, "structs left open", w->depth);
    if (w->rc && err)
        *err = w->err;
    return w->rc;
}

/* ---- reader ---- */

void fp_pq_thrift_reader_init(fp_pq_thrift_reader *r, const void *p, size_t len)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->len = len;
    r->bool_field = -1;
}

static fp_code rbad(fp_err *err, size_t at, const char *what)
{
    return fp_err_set(err, FP_ERR_INVALID, "thrift: %s at byte %zu", what, at);
}

static fp_code need(fp_pq_thrift_reader *r, size_t n, const char *what, fp_err *err)
{
    if (r->len - r->pos < n)
        return fp_err_set(err, FP_ERR_INVALID,
                          "thrift: %s truncated at byte %zu (%zu of %zu bytes)", what, r->pos,
                          r->len - r->pos, n);
    return FP_OK;
}

static fp_code uvarint(fp_pq_thrift_reader *r, int max_bytes, uint64_t *v, fp_err *err)
{
    fp_code rc = fp_pq_thrift_get_uvarint(r->p, r->len, &r->pos, max_bytes, v, err);
    if (rc)
        fp_err_prefix(err, "thrift");
    return rc;
}

fp_code fp_pq_thrift_read_struct_begin(fp_pq_thrift_reader *r, fp_err *err)
{
    if (r->depth >= FP_PQ_THRIFT_MAX_DEPTH)
        return fp_err_set(err, FP_ERR_LIMIT, "thrift: structs nested deeper than %d at byte %zu",
                          FP_PQ_THRIFT_MAX_DEPTH, r->pos);
    r->last[r->depth++] = 0;
    r->bool_field = -1;
    return FP_OK;
}

fp_code fp_pq_thrift_read_struct_end(fp_pq_thrift_reader *r, fp_err *err)
{
    if (r->depth == 0)
        return fp_err_set(err, FP_ERR_INTERNAL, "thrift: struct end without an open struct");
    r->depth--;
    r->bool_field = -1;
    return FP_OK;
}

/* Reads a field header without the struct stack: *last is the previous id of this struct. */
static fp_code field_header(fp_pq_thrift_reader *r, int16_t *last, int16_t *id, int *type,
                            fp_err *err)
{
    fp_code rc = need(r, 1, "field header", err);
    if (rc)
        return rc;
    size_t at = r->pos;
    uint8_t c = r->p[r->pos++];
    int t = c & 0x0f, delta = c >> 4;
    if (c == FP_PQ_THRIFT_STOP) {
        *id = 0;
        *type = FP_PQ_THRIFT_STOP;
        return FP_OK;
    }
    if (t == FP_PQ_THRIFT_STOP || t > FP_PQ_THRIFT_UUID)
        return rbad(err, at, "unknown field type");
    int32_t fid;
    if (delta) {
        fid = (int32_t)*last + delta;
        if (fid > INT16_MAX)
            return rbad(err, at, "field id above 32767");
    } else {
        uint64_t z;
        rc = uvarint(r, 5, &z, err);
        if (rc)
            return rc;
        if (z > UINT32_MAX)
            return rbad(err, at + 1, "field id above 32 bits");
        fid = fp_pq_thrift_unzigzag32((uint32_t)z);
        if (fid < INT16_MIN || fid > INT16_MAX)
            return rbad(err, at + 1, "field id outside i16");
    }
    *last = (int16_t)fid;
    *id = (int16_t)fid;
    if (t == FP_PQ_THRIFT_BOOL || t == FP_PQ_THRIFT_BOOL_FALSE) {
        r->bool_field = t == FP_PQ_THRIFT_BOOL;
        t = FP_PQ_THRIFT_BOOL;
    }
    *type = t;
    return FP_OK;
}

fp_code fp_pq_thrift_read_field(fp_pq_thrift_reader *r, int16_t *id, int *type, fp_err *err)
{
    if (r->depth == 0)
        return fp_err_set(err, FP_ERR_INTERNAL, "thrift: field read outside a struct");
    r->bool_field = -1;
    return field_header(r, &r->last[r->depth - 1], id, type, err);
}

fp_code fp_pq_thrift_read_list_begin(fp_pq_thrift_reader *r, int *elem_type, uint32_t *size,
                                     fp_err *err)
{
    r->bool_field = -1;
    fp_code rc = need(r, 1, "list header", err);
    if (rc)
        return rc;
    size_t at = r->pos;
    uint8_t c = r->p[r->pos++];
    int t = c & 0x0f;
    uint64_t n = c >> 4;
    if (t == 0 || t > FP_PQ_THRIFT_UUID)
        return rbad(err, at, "unknown list element type");
    if (n == 15) {
        rc = uvarint(r, 5, &n, err);
        if (rc)
            return rc;
        if (n > INT32_MAX)
            return rbad(err, at + 1, "list size above 2^31-1");
    }
    if (n > r->len - r->pos)
        return rbad(err, at, "list size beyond the end of the data");
    *elem_type = t == FP_PQ_THRIFT_BOOL_FALSE ? FP_PQ_THRIFT_BOOL : t;
    *size = (uint32_t)n;
    return FP_OK;
}

fp_code fp_pq_thrift_read_bool(fp_pq_thrift_reader *r, bool *v, fp_err *err)
{
    if (r->bool_field >= 0) {
        *v = r->bool_field == 1;
        r->bool_field = -1;
        return FP_OK;
    }
    fp_code rc = need(r, 1, "bool", err);
    if (rc)
        return rc;
    uint8_t c = r->p[r->pos];
    if (c > 2)
        return rbad(err, r->pos, "bool element not 0, 1 or 2");
    r->pos++;
    *v = c == 1;
    return FP_OK;
}

fp_code fp_pq_thrift_read_i8(fp_pq_thrift_reader *r, int8_t *v, fp_err *err)
{
    fp_code rc = need(r, 1, "i8", err);
    if (rc)
        return rc;
    *v = (int8_t)r->p[r->pos++];
    return FP_OK;
}

fp_code fp_pq_thrift_read_i32(fp_pq_thrift_reader *r, int32_t *v, fp_err *err)
{
    size_t at = r->pos;
    uint64_t z;
    fp_code rc = uvarint(r, 5, &z, err);
    if (rc)
        return rc;
    if (z > UINT32_MAX)
        return rbad(err, at, "i32 above 32 bits");
    *v = fp_pq_thrift_unzigzag32((uint32_t)z);
    return FP_OK;
}

fp_code fp_pq_thrift_read_i16(fp_pq_thrift_reader *r, int16_t *v, fp_err *err)
{
    size_t at = r->pos;
    int32_t x = 0;
    fp_code rc = fp_pq_thrift_read_i32(r, &x, err);
    if (rc)
        return rc;
    if (x < INT16_MIN || x > INT16_MAX)
        return rbad(err, at, "i16 out of range");
    *v = (int16_t)x;
    return FP_OK;
}

fp_code fp_pq_thrift_read_i64(fp_pq_thrift_reader *r, int64_t *v, fp_err *err)
{
    uint64_t z;
    fp_code rc = uvarint(r, 10, &z, err);
    if (rc)
        return rc;
    *v = fp_pq_thrift_unzigzag64(z);
    return FP_OK;
}

fp_code fp_pq_thrift_read_double(fp_pq_thrift_reader *r, double *v, fp_err *err)
{
    fp_code rc = need(r, 8, "double", err);
    if (rc)
        return rc;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += 8;
    memcpy(v, &bits, 8);
    return FP_OK;
}

fp_code fp_pq_thrift_read_binary(fp_pq_thrift_reader *r, const uint8_t **p, size_t *n, fp_err *err)
{
    size_t at = r->pos;
    uint64_t len;
    fp_code rc = uvarint(r, 5, &len, err);
    if (rc)
        return rc;
    if (len > INT32_MAX)
        return rbad(err, at, "binary length above 2^31-1");
    if (len > r->len - r->pos)
        return fp_err_set(err, FP_ERR_INVALID,
                          "thrift: binary of %llu bytes at byte %zu runs past the end (%zu left)",
                          (unsigned long long)len, at, r->len - r->pos);
    *p = r->p + r->pos;
    *n = (size_t)len;
    r->pos += (size_t)len;
    return FP_OK;
}

static fp_code skip(fp_pq_thrift_reader *r, int type, int depth, fp_err *err);

static fp_code skip_bytes(fp_pq_thrift_reader *r, size_t n, const char *what, fp_err *err)
{
    fp_code rc = need(r, n, what, err);
    if (rc)
        return rc;
    r->pos += n;
    return FP_OK;
}

/* n elements of a list, set or map: unlike fields, a bool element is one byte. */
static fp_code skip_elems(fp_pq_thrift_reader *r, int type, uint64_t n, int depth, fp_err *err)
{
    for (uint64_t i = 0; i < n; i++) {
        fp_code rc =
            type == FP_PQ_THRIFT_BOOL ? skip_bytes(r, 1, "bool", err) : skip(r, type, depth, err);
        if (rc)
            return rc;
    }
    return FP_OK;
}

static fp_code skip(fp_pq_thrift_reader *r, int type, int depth, fp_err *err)
{
    fp_code rc;
    uint64_t v;
    const uint8_t *p;
    size_t n;
    switch (type) {
    case FP_PQ_THRIFT_BOOL:
        /* A field's bool is in its header and nothing follows it; a list element is a byte. */
        if (r->bool_field >= 0) {
            r->bool_field = -1;
            return FP_OK;
        }
        return skip_bytes(r, 1, "bool", err);
    case FP_PQ_THRIFT_I8:
        return skip_bytes(r, 1, "i8", err);
    case FP_PQ_THRIFT_I16:
    case FP_PQ_THRIFT_I32:
        return uvarint(r, 5, &v, err);
    case FP_PQ_THRIFT_I64:
        return uvarint(r, 10, &v, err);
    case FP_PQ_THRIFT_DOUBLE:
        return skip_bytes(r, 8, "double", err);
    case FP_PQ_THRIFT_UUID:
        return skip_bytes(r, 16, "uuid", err);
    case FP_PQ_THRIFT_BINARY:
        return fp_pq_thrift_read_binary(r, &p, &n, err);
    }
    if (depth >= FP_PQ_THRIFT_MAX_DEPTH)
        return fp_err_set(err, FP_ERR_LIMIT, "thrift: nested deeper than %d at byte %zu",
                          FP_PQ_THRIFT_MAX_DEPTH, r->pos);
    switch (type) {
    case FP_PQ_THRIFT_STRUCT: {
        int16_t last = 0, id;
        for (;;) {
            int t;
            rc = field_header(r, &last, &id, &t, err);
            if (rc)
                return rc;
            if (t == FP_PQ_THRIFT_STOP)
                return FP_OK;
            rc = skip(r, t, depth + 1, err);
            if (rc)
                return rc;
        }
    }
    case FP_PQ_THRIFT_LIST:
    case FP_PQ_THRIFT_SET: {
        int et;
        uint32_t size;
        rc = fp_pq_thrift_read_list_begin(r, &et, &size, err);
        if (rc)
            return rc;
        return skip_elems(r, et, size, depth + 1, err);
    }
    case FP_PQ_THRIFT_MAP: {
        size_t at = r->pos;
        rc = uvarint(r, 5, &v, err);
        if (rc || v == 0)
            return rc;
        if (v > INT32_MAX || v > (r->len - r->pos) / 2)
            return rbad(err, at, "map size beyond the end of the data");
        rc = need(r, 1, "map types", err);
        if (rc)
            return rc;
        uint8_t kv = r->p[r->pos];
        int kt = kv >> 4, vt = kv & 0x0f;
        if (kt == 0 || kt > FP_PQ_THRIFT_UUID || vt == 0 || vt > FP_PQ_THRIFT_UUID)
            return rbad(err, r->pos, "unknown map key or value type");
        r->pos++;
        kt = kt == FP_PQ_THRIFT_BOOL_FALSE ? FP_PQ_THRIFT_BOOL : kt;
        vt = vt == FP_PQ_THRIFT_BOOL_FALSE ? FP_PQ_THRIFT_BOOL : vt;
        for (uint64_t i = 0; i < v; i++) {
            rc = skip_elems(r, kt, 1, depth + 1, err);
            if (!rc)
                rc = skip_elems(r, vt, 1, depth + 1, err);
            if (rc)
                return rc;
        }
        return FP_OK;
    }
    }
    return fp_err_set(err, FP_ERR_INVALID, "thrift: cannot skip unknown type %d at byte %zu", type,
                      r->pos);
}

fp_code fp_pq_thrift_skip(fp_pq_thrift_reader *r, int type, fp_err *err)
{
    return skip(r, type, r->depth, err);
}
