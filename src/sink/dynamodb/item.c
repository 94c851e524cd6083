/* item.c — record JSON -> DynamoDB item JSON; see item.h.
 *
 * One pass over the validated record writes the item and adds up DynamoDB's size of it as it
 * goes: names and S values by their UTF-8 bytes, N by significant digits, BOOL/NULL one byte,
 * M and L three bytes of overhead plus one per element (the AWS sizing rules; dynalite follows
 * the same ones). Strings are copied as their JSON text (escapes and all), so nothing is decoded
 * except to measure escaped strings and to read the key fields. Duplicate names in an object
 * keep the last value, as JSON.parse does, because DynamoDB would reject the item otherwise.
 */
#include "sink/dynamodb/item.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/props.h"
#include "core/time.h"

typedef struct conv {
    const fp_dynamodb_item_opts *o;
    fp_dynamodb_item *it;
    fp_buf path; /* where we are, for messages: "field a.b[2]" */
} conv;

void fp_dynamodb_item_reset(fp_dynamodb_item *it)
{
    fp_buf_reset(&it->json);
    fp_buf_reset(&it->pk);
    fp_buf_reset(&it->sk);
    fp_buf_reset(&it->scratch);
    it->size = 0;
}

void fp_dynamodb_item_free(fp_dynamodb_item *it)
{
    fp_buf_free(&it->json);
    fp_buf_free(&it->pk);
    fp_buf_free(&it->sk);
    fp_buf_free(&it->scratch);
    it->size = 0;
}

static const char *where(conv *c)
{
    return c->path.len ? c->path.p : "record";
}

/* ---- numbers ---------------------------------------------------------------------------- */

fp_code fp_dynamodb_number_check(const char *p, size_t n, size_t *size, fp_err *err)
{
    /* JSON grammar is already validated: -?digits(.digits)?([eE][+-]?digits)? */
    const char *s = p, *e = p + n;
    bool neg = s < e && *s == '-';
    if (neg)
        s++;
    /* Walk the mantissa digits: first and last non-zero digit positions, and the exponent of
     * the first non-zero digit relative to the decimal point. */
    int64_t pos = 0;        /* index of the digit in the mantissa (int and fraction together) */
    int64_t int_digits = 0; /* digits before the point */
    int64_t first = -1, last = -1;
    bool in_frac = false;
    for (; s < e && *s != 'e' && *s != 'E'; s++) {
        if (*s == '.') {
            in_frac = true;
            continue;
        }
        if (*s != '0') {
            if (first < 0)
                first = pos;
            last = pos;
        }
        if (!in_frac)
            int_digits++;
        pos++;
    }
    int64_t exp10 = 0;
    if (s < e) {
        s++;
        bool eneg = s < e && *s == '-';
        if (s < e && (*s == '+' || *s == '-'))
            s++;
        for (; s < e; s++)
            if (exp10 < 100000000)
                exp10 = exp10 * 10 + (*s - '0');
        if (eneg)
            exp10 = -exp10;
    }
    if (first < 0) { /* zero, however written */
        *size = 1;
        return FP_OK;
    }
    int64_t digits = last - first + 1;
    int64_t sci = int_digits - 1 - first + exp10; /* exponent of the first significant digit */
    if (digits > 38)
        return fp_err_set(err, FP_ERR_INVALID,
                          "number %.*s has %" PRId64
                          " significant digits; DynamoDB stores at most 38",
                          (int)(n > 64 ? 64 : n), p, digits);
    if (sci > 125 || sci < -130)
        return fp_err_set(err, FP_ERR_INVALID,
                          "number %.*s is out of DynamoDB's range (magnitude 1E-130 to 1E+126)",
                          (int)(n > 64 ? 64 : n), p);
    /* dynalite's model of DynamoDB's storage: two digits a byte, plus one, a byte more when
     * the digits and the exponent do not pair up, and one for the sign. */
    size_t sz = 1 + (size_t)((digits + 1) / 2);
    if (digits % 2 == 0 && sci % 2 == 0)
        sz++;
    if (neg)
        sz++;
    *size = sz;
    return FP_OK;
}

/* ---- values ----------------------------------------------------------------------------- */

static fp_code value(conv *c, fp_span v, int depth, size_t *size, fp_err *err);

/* Decoded UTF-8 length of a raw JSON string's content; rejects lone surrogates (DynamoDB
 * wants valid UTF-8). The decoded text is left in it->scratch when escaped. */
static fp_code string_len(conv *c, fp_span raw, size_t *len, fp_err *err)
{
    if (!memchr(raw.p, '\\', raw.n)) {
        *len = raw.n;
        return FP_OK;
    }
    fp_buf *b = &c->it->scratch;
    fp_buf_reset(b);
    fp_json_unescape(raw, b);
    for (size_t i = 0; i + 1 < b->len; i++)
        if ((unsigned char)b->p[i] == 0xED && ((unsigned char)b->p[i + 1] & 0xE0) == 0xA0)
            return fp_err_set(err, FP_ERR_INVALID,
                              "%s: string holds a lone UTF-16 surrogate escape, which is not "
                              "valid UTF-8 for DynamoDB",
                              where(c));
    *len = b->len;
    return FP_OK;
}

typedef struct member {
    fp_span key, val;
    bool esc;
    bool overridden;           /* a later member has the same name */
    size_t name_off, name_len; /* decoded name in the names buffer */
} member;

static void mark_overridden(member *m, size_t n, const char *names);

/* Collects an object's members with decoded names; *n members, duplicates marked. */
static member *members_of(fp_span obj, fp_buf *names, size_t *n)
{
    size_t cap = 16, k = 0;
    member *m = fp_xmalloc(cap * sizeof *m);
    fp_json_iter it;
    fp_json_iter_init(&it, obj);
    member x;
    while (fp_json_obj_next(&it, &x.key, &x.esc, &x.val)) {
        if (k == cap) {
            cap *= 2;
            m = fp_xrealloc(m, cap * sizeof *m);
        }
        x.name_off = names->len;
        if (x.esc)
            fp_json_unescape(x.key, names);
        else
            fp_buf_append(names, x.key.p, x.key.n);
        x.name_len = names->len - x.name_off;
        x.overridden = false;
        m[k++] = x;
    }
    mark_overridden(m, k, names->p);
    *n = k;
    return m;
}

typedef struct order_ctx {
    const member *m;
    const char *names;
} order_ctx;

/* By name, then by position. */
static int by_name(const void *a, const void *b, void *arg)
{
    const order_ctx *o = arg;
    const member *x = &o->m[*(const size_t *)a], *y = &o->m[*(const size_t *)b];
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(o->names + x->name_off, o->names + y->name_off, n);
    if (c)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static bool same_name(const member *x, const member *y, const char *names)
{
    return x->name_len == y->name_len &&
           !memcmp(names + x->name_off, names + y->name_off, x->name_len);
}

/* Marks every member that a later one of the same name overrides: pairwise for the usual small
 * object, by sorting for a large one (a record of 50,000 fields must not cost n^2). */
static void mark_overridden(member *m, size_t n, const char *names)
{
    if (n <= 32) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n && !m[i].overridden; j++)
                m[i].overridden = same_name(&m[i], &m[j], names);
        return;
    }
    size_t *idx = fp_xmalloc(n * sizeof *idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    order_ctx o = {m, names};
    qsort_r(idx, n, sizeof *idx, by_name, &o);
    for (size_t i = 0; i + 1 < n; i++)
        if (same_name(&m[idx[i]], &m[idx[i + 1]], names))
            m[idx[i]].overridden = true;
    free(idx);
}

static void path_push_name(conv *c, const char *name, size_t n)
{
    if (!c->path.len)
        fp_buf_puts(&c->path, "field ");
    else
        fp_buf_putc(&c->path, '.');
    fp_buf_append(&c->path, name, n > 200 ? 200 : n);
}

static fp_code map_value(conv *c, fp_span v, int depth, size_t *size, fp_err *err)
{
    fp_buf names = FP_BUF_INIT;
    size_t n;
    member *m = members_of(v, &names, &n);
    fp_buf *j = &c->it->json;
    fp_buf_puts(j, "{\"M\":{");
    size_t sz = 3, keep_len = c->path.len;
    bool first = true;
    fp_code rc = FP_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (m[i].overridden)
            continue;
        path_push_name(c, names.p + m[i].name_off, m[i].name_len);
        if (!m[i].name_len) {
            rc = fp_err_set(err, FP_ERR_INVALID, "%s: empty attribute name", where(c));
            break;
        }
        if (!first)
            fp_buf_putc(j, ',');
        first = false;
        fp_buf_append(j, m[i].key.p - 1, m[i].key.n + 2);
        fp_buf_putc(j, ':');
        size_t vs = 0;
        rc = value(c, m[i].val, depth + 1, &vs, err);
        sz += 1 + m[i].name_len + vs;
        c->path.len = keep_len;
        if (c->path.p)
            c->path.p[keep_len] = 0;
    }
    fp_buf_puts(j, "}}");
    free(m);
    fp_buf_free(&names);
    *size = sz;
    return rc;
}

static fp_code list_value(conv *c, fp_span v, int depth, size_t *size, fp_err *err)
{
    fp_buf *j = &c->it->json;
    fp_buf_puts(j, "{\"L\":[");
    fp_json_iter it;
    fp_json_iter_init(&it, v);
    fp_span e;
    size_t sz = 3, keep_len = c->path.len, i = 0;
    fp_code rc = FP_OK;
    while (!rc && fp_json_arr_next(&it, &e)) {
        if (i)
            fp_buf_putc(j, ',');
        fp_buf_printf(&c->path, "[%zu]", i++);
        size_t vs = 0;
        rc = value(c, e, depth + 1, &vs, err);
        sz += 1 + vs;
        c->path.len = keep_len;
        if (c->path.p)
            c->path.p[keep_len] = 0;
    }
    fp_buf_puts(j, "]}");
    *size = sz;
    return rc;
}

static fp_code value(conv *c, fp_span v, int depth, size_t *size, fp_err *err)
{
    fp_json_type t = fp_json_type_of(v.p);
    if (depth > FP_DYNAMODB_MAX_DEPTH && (t == FP_JSON_OBJECT || t == FP_JSON_ARRAY))
        return fp_err_set(err, FP_ERR_INVALID, "%s: nested deeper than DynamoDB's %d levels",
                          where(c), FP_DYNAMODB_MAX_DEPTH);
    fp_buf *j = &c->it->json;
    fp_code rc;
    switch (t) {
    case FP_JSON_STRING:
        rc = string_len(c, (fp_span){v.p + 1, v.n - 2}, size, err);
        if (rc)
            return rc;
        fp_buf_puts(j, "{\"S\":");
        fp_buf_append(j, v.p, v.n);
        fp_buf_putc(j, '}');
        return FP_OK;
    case FP_JSON_NUMBER:
        rc = fp_dynamodb_number_check(v.p, v.n, size, err);
        if (rc)
            return fp_err_prefix(err, "%s", where(c));
        fp_buf_puts(j, "{\"N\":\"");
        fp_buf_append(j, v.p, v.n);
        fp_buf_puts(j, "\"}");
        return FP_OK;
    case FP_JSON_TRUE:
    case FP_JSON_FALSE:
        fp_buf_puts(j, *v.p == 't' ? "{\"BOOL\":true}" : "{\"BOOL\":false}");
        *size = 1;
        return FP_OK;
    case FP_JSON_NULL:
        fp_buf_puts(j, "{\"NULL\":true}");
        *size = 1;
        return FP_OK;
    case FP_JSON_OBJECT:
        return map_value(c, v, depth, size, err);
    case FP_JSON_ARRAY:
        return list_value(c, v, depth, size, err);
    default:
        return fp_err_set(err, FP_ERR_INTERNAL, "%s: not a JSON value", where(c));
    }
}

/* ---- the item --------------------------------------------------------------------------- */

static const char *type_name(fp_json_type t)
{
    switch (t) {
    case FP_JSON_OBJECT:
        return "an object";
    case FP_JSON_ARRAY:
        return "an array";
    case FP_JSON_STRING:
        return "a string";
    case FP_JSON_NUMBER:
        return "a number";
    case FP_JSON_TRUE:
    case FP_JSON_FALSE:
        return "a boolean";
    case FP_JSON_NULL:
        return "null";
    default:
        return "invalid";
    }
}

/* The key attribute `name` (pk or sk): a non-empty string of at most max bytes, decoded to out. */
static fp_code key_field(const member *m, const char *name, const char *role, size_t max,
                         fp_buf *out, fp_err *err)
{
    if (!m)
        return fp_err_set(err, FP_ERR_INVALID, "field %s (the table's %s key) is missing", name,
                          role);
    fp_json_type t = fp_json_type_of(m->val.p);
    if (t != FP_JSON_STRING)
        return fp_err_set(err, FP_ERR_INVALID,
                          "field %s (the table's %s key) must be a non-empty string, is %s", name,
                          role, type_name(t));
    fp_json_unescape((fp_span){m->val.p + 1, m->val.n - 2}, out);
    if (!out->len)
        return fp_err_set(err, FP_ERR_INVALID, "field %s (the table's %s key) is an empty string",
                          name, role);
    if (out->len > max)
        return fp_err_set(err, FP_ERR_INVALID,
                          "field %s (the table's %s key) is %zu bytes; DynamoDB allows %zu", name,
                          role, out->len, max);
    return FP_OK;
}

/* Epoch ms of a TTL source field: ISO-8601 with an offset, or an integer of epoch ms. */
static fp_code ttl_source(const member *m, const char *name, fp_buf *scratch, int64_t *ms,
                          fp_err *err)
{
    if (!m)
        return fp_err_set(err, FP_ERR_INVALID, "TTL field %s is missing", name);
    fp_json_type t = fp_json_type_of(m->val.p);
    if (t == FP_JSON_STRING) {
        fp_buf_reset(scratch);
        fp_json_unescape((fp_span){m->val.p + 1, m->val.n - 2}, scratch);
        fp_code rc = fp_time_parse_iso(scratch->p ? scratch->p : "", scratch->len, ms, err);
        return rc ? fp_err_prefix(err, "TTL field %s", name) : FP_OK;
    }
    if (t == FP_JSON_NUMBER && m->val.n < 20) {
        char num[24];
        memcpy(num, m->val.p, m->val.n);
        num[m->val.n] = 0;
        if (fp_parse_i64(num, ms) == FP_OK)
            return FP_OK;
    }
    return fp_err_set(err, FP_ERR_INVALID,
                      "TTL field %s is neither ISO-8601 text nor integer epoch ms", name);
}

static const member *find_member(const member *m, size_t n, const char *names, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = n; i-- > 0;) /* last wins */
        if (m[i].name_len == len && !memcmp(names + m[i].name_off, name, len))
            return &m[i];
    return NULL;
}

fp_code fp_dynamodb_item_from_json(const fp_dynamodb_item_opts *o, const char *p, size_t n,
                                   fp_dynamodb_item *it, fp_err *err)
{
    fp_dynamodb_item_reset(it);
    fp_code rc = fp_json_validate(p, n, err);
    if (rc) { /* a depth limit is just as much this record's fault */
        if (err)
            err->code = FP_ERR_INVALID;
        return FP_ERR_INVALID;
    }
    fp_span obj = {fp_json_skip_ws(p, p + n), 0};
    obj.n = (size_t)(p + n - obj.p);
    while (obj.n && (obj.p[obj.n - 1] == ' ' || obj.p[obj.n - 1] == '\n' ||
                     obj.p[obj.n - 1] == '\r' || obj.p[obj.n - 1] == '\t'))
        obj.n--;
    if (fp_json_type_of(obj.p) != FP_JSON_OBJECT)
        return fp_err_set(err, FP_ERR_INVALID, "record is %s, not a JSON object",
                          type_name(fp_json_type_of(obj.p)));

    conv c = {o, it, FP_BUF_INIT};
    fp_buf names = FP_BUF_INIT;
    size_t nm;
    member *m = members_of(obj, &names, &nm);
    bool ttl = o && o->ttl_attr && *o->ttl_attr;
    int64_t ttl_ms = 0;
    rc = key_field(find_member(m, nm, names.p, "pk"), "pk", "partition", FP_DYNAMODB_MAX_PK_BYTES,
                   &it->pk, err);
    if (!rc)
        rc = key_field(find_member(m, nm, names.p, "sk"), "sk", "sort", FP_DYNAMODB_MAX_SK_BYTES,
                       &it->sk, err);
    if (!rc && ttl)
        rc = ttl_source(find_member(m, nm, names.p, o->ttl_field), o->ttl_field, &it->scratch,
                        &ttl_ms, err);

    fp_buf *j = &it->json;
    size_t total = 0;
    bool first = true;
    fp_buf_putc(j, '{');
    for (size_t i = 0; i < nm && !rc; i++) {
        const char *name = names.p + m[i].name_off;
        if (m[i].overridden)
            continue;
        if (ttl && m[i].name_len == strlen(o->ttl_attr) &&
            !memcmp(name, o->ttl_attr, m[i].name_len))
            continue; /* replaced by the computed TTL below */
        c.path.len = 0;
        path_push_name(&c, name, m[i].name_len);
        if (!m[i].name_len) {
            rc = fp_err_set(err, FP_ERR_INVALID, "record has an empty attribute name");
            break;
        }
        if (!first)
            fp_buf_putc(j, ',');
        first = false;
        fp_buf_append(j, m[i].key.p - 1, m[i].key.n + 2);
        fp_buf_putc(j, ':');
        size_t vs = 0;
        rc = value(&c, m[i].val, 1, &vs, err);
        total += m[i].name_len + vs;
    }
    if (!rc && ttl) {
        /* epoch seconds, floored: DynamoDB's TTL wants a Number of seconds */
        int64_t t = ttl_ms + o->ttl_ms;
        int64_t secs = t >= 0 ? t / 1000 : -((-t + 999) / 1000);
        char num[24];
        int len = snprintf(num, sizeof num, "%" PRId64, secs);
        size_t vs = 0;
        rc = fp_dynamodb_number_check(num, (size_t)len, &vs, err);
        if (!first)
            fp_buf_putc(j, ',');
        fp_json_quote(j, o->ttl_attr, strlen(o->ttl_attr));
        fp_buf_printf(j, ":{\"N\":\"%s\"}", num);
        total += strlen(o->ttl_attr) + vs;
    }
    fp_buf_putc(j, '}');
    if (!rc && total > FP_DYNAMODB_MAX_ITEM_BYTES)
        rc = fp_err_set(err, FP_ERR_INVALID,
                        "item is %zu bytes, over DynamoDB's limit of 400 KB (%d bytes)", total,
                        FP_DYNAMODB_MAX_ITEM_BYTES);
    it->size = total;
    free(m);
    fp_buf_free(&names);
    fp_buf_free(&c.path);
    return rc;
}
