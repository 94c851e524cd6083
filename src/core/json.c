/* json.c — the validating, zero-copy JSON scanner (see json.h).
 *
 * fp_json_validate() is one iterative pass with an explicit container stack of at most
 * FP_JSON_MAX_DEPTH bytes, so hostile nesting ends in FP_ERR_LIMIT, never a stack overflow.
 * Its speed comes from string bodies: runs of plain ASCII are skipped 16 bytes at a time with
 * SSE2 (a scalar table loop elsewhere); only quotes, backslashes, control bytes and non-ASCII
 * bytes leave the fast path. The iterators trust that the text was validated and do no checks.
 *
 * Decisions a caller must know:
 * - A lone UTF-16 surrogate in a \u escape ("\ud800") is accepted, as JSON.parse does.
 *   fp_json_unescape() decodes it to its 3-byte generalised UTF-8 form (WTF-8, ED A0..BF xx) and
 *   fp_json_quote() turns those bytes back into "\udxxx", so such strings round-trip exactly.
 * - Surrogates encoded directly in UTF-8, overlong forms, code points above U+10FFFF and stray
 *   continuation bytes are rejected by the validator.
 */
#include "core/json.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* 1 for bytes that may appear unescaped in a string and need no further check. */
static const uint8_t plain_tab[256] = {
    ['\x20'] = 1,
    [0x21] = 1,
    [0x23 ... 0x5b] = 1,
    [0x5d ... 0x7f] = 1,
};
/* JSON insignificant whitespace. */
static const uint8_t ws_tab[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static inline const char *skip_ws(const char *s, const char *e)
{
    while (s < e && ws_tab[(uint8_t)*s])
        s++;
    return s;
}

static inline int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static inline unsigned ctz32(unsigned m)
{
    return (unsigned)__builtin_ctz(m);
}

/* Validates one UTF-8 sequence starting at s (a byte >= 0x80). Returns its length, or 0. */
static size_t utf8_seq(const uint8_t *s, const uint8_t *e)
{
    uint8_t c = s[0];
    size_t avail = (size_t)(e - s);
    if (c >= 0xc2 && c <= 0xdf)
        return (avail >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (s[2] & 0xc0) != 0x80)
            return 0;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* UTF-16 surrogates */
        return (s[1] >= lo && s[1] <= hi) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
        return (s[1] >= lo && s[1] <= hi) ? 4 : 0;
    }
    return 0;
}

bool fp_utf8_valid(const void *p, size_t n)
{
    const uint8_t *s = p, *e = s + n;
    while (s < e) {
        size_t k = *s < 0x80 ? 1 : utf8_seq(s, e);
        if (!k)
            return false;
        s += k;
    }
    return true;
}

typedef struct vstate {
    const char *base;
    fp_err *err;
} vstate;

static fp_code verr(vstate *v, const char *at, const char *what)
{
    return fp_err_set(v->err, FP_ERR_INVALID, "offset %zu: %s", (size_t)(at - v->base), what);
}

/* s points just after the opening quote; on success *out points after the closing quote. */
static fp_code scan_string(vstate *v, const char *s, const char *e, const char **out)
{
    for (;;) {
#ifdef __SSE2__
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
        while (e - s >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
            /* signed compare: catches control bytes and every byte >= 0x80 at once */
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)),
                                     _mm_cmplt_epi8(x, sp));
            unsigned mask = (unsigned)_mm_movemask_epi8(m);
            if (mask) {
                s += ctz32(mask);
                goto special;
            }
            s += 16;
        }
#endif
        while (s < e && plain_tab[(uint8_t)*s])
            s++;
        if (s >= e)
            return verr(v, s, "unterminated string");
#ifdef __SSE2__
    special :
#endif
    {
        uint8_t c = (uint8_t)*s;
        if (c == '"') {
            *out = s + 1;
            return FP_OK;
        }
        if (c == '\\') {
            if (e - s < 2)
                return verr(v, s, "unterminated escape in string");
            switch (s[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                s += 2;
                break;
            case 'u':
                if (e - s < 6)
                    return verr(v, s, "truncated \\u escape in string");
                for (int i = 2; i < 6; i++)
                    if (hexval((uint8_t)s[i]) < 0)
                        return verr(v, s + i, "invalid hex digit in \\u escape");
                s += 6;
                break;
            default:
                return verr(v, s, "invalid escape in string");
            }
        } else if (c < 0x20) {
            char msg[64];
            snprintf(msg, sizeof msg, "unescaped control character 0x%02x in string", c);
            return verr(v, s, msg);
        } else if (c >= 0x80) {
            size_t k = utf8_seq((const uint8_t *)s, (const uint8_t *)e);
            if (!k) {
                char msg[64];
                snprintf(msg, sizeof msg, "invalid UTF-8 byte 0x%02x in string", c);
                return verr(v, s, msg);
            }
            s += k;
        } else {
            s++; /* unreachable with the tables above, kept for safety */
        }
    }
    }
}

static inline int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* End of a run of ASCII digits starting at s. Telemetry is mostly numbers of 5-15 digits, so
 * one 16-byte compare usually finds the end. */
static inline const char *skip_digits(const char *s, const char *e)
{
#ifdef __SSE2__
    if (e - s >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i d = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
        unsigned nd = ~(unsigned)_mm_movemask_epi8(d) & 0xffff;
        if (nd)
            return s + ctz32(nd);
        s += 16;
    }
#endif
    while (s < e && is_digit((uint8_t)*s))
        s++;
    return s;
}

static fp_code scan_number(vstate *v, const char *s, const char *e, const char **out)
{
    const char *start = s;
    if (*s == '-')
        s++;
    if (s >= e || !is_digit((uint8_t)*s))
        return verr(v, start, "invalid number: expected a digit");
    if (*s == '0') {
        s++;
        if (s < e && is_digit((uint8_t)*s))
            return verr(v, start, "invalid number: leading zero");
    } else {
        s = skip_digits(s, e);
    }
    if (s < e && *s == '.') {
        s++;
        if (s >= e || !is_digit((uint8_t)*s))
            return verr(v, s, "invalid number: expected a digit after '.'");
        s = skip_digits(s, e);
    }
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < e && (*s == '+' || *s == '-'))
            s++;
        if (s >= e || !is_digit((uint8_t)*s))
            return verr(v, s, "invalid number: expected a digit in exponent");
        while (s < e && is_digit((uint8_t)*s))
            s++;
    }
    *out = s;
    return FP_OK;
}

/* The validator; with cb, every member of a top-level object is reported as it completes
 * (members at depth 1 are tracked with two pointers, so the cost is a few compares). */
static fp_code validate(const char *p, size_t n, fp_json_member_fn cb, void *ctx, fp_err *err)
{
    vstate v = {p, err};
    const char *s = p, *e = p + n;
    char stack[FP_JSON_MAX_DEPTH];
    int depth = 0;
    fp_code rc;
    const char *key = NULL, *key_end = NULL, *val = NULL;

value:
    s = skip_ws(s, e);
    if (cb && depth == 1 && stack[0] == '{')
        val = s;
    if (s >= e)
        return verr(&v, s,
                    depth ? "unexpected end of input, expected a value"
                          : "empty input, expected a JSON value");
    switch (*s) {
    case '{':
    case '[':
        if (depth >= FP_JSON_MAX_DEPTH)
            return fp_err_set(err, FP_ERR_LIMIT, "offset %zu: nesting deeper than %d levels",
                              (size_t)(s - p), FP_JSON_MAX_DEPTH);
        stack[depth++] = *s;
        s = skip_ws(s + 1, e);
        if (stack[depth - 1] == '{') {
            if (s < e && *s == '}') {
                s++;
                depth--;
                goto after_value;
            }
            goto member;
        }
        if (s < e && *s == ']') {
            s++;
            depth--;
            goto after_value;
        }
        goto value;
    case '"':
        rc = scan_string(&v, s + 1, e, &s);
        if (rc)
            return rc;
        goto after_value;
    case 't':
        if (e - s < 4 || memcmp(s, "true", 4))
            return verr(&v, s, "invalid literal, expected true");
        s += 4;
        goto after_value;
    case 'f':
        if (e - s < 5 || memcmp(s, "false", 5))
            return verr(&v, s, "invalid literal, expected false");
        s += 5;
        goto after_value;
    case 'n':
        if (e - s < 4 || memcmp(s, "null", 4))
            return verr(&v, s, "invalid literal, expected null");
        s += 4;
        goto after_value;
    default:
        if (*s == '-' || is_digit((uint8_t)*s)) {
            rc = scan_number(&v, s, e, &s);
            if (rc)
                return rc;
            goto after_value;
        }
        return verr(&v, s, "unexpected character, expected a value");
    }

member:
    /* s is at the first non-space byte where an object key must start */
    if (s >= e)
        return verr(&v, s, "unexpected end of input, expected an object key");
    if (*s != '"')
        return verr(&v, s, "expected '\"' to start an object key");
    if (depth == 1)
        key = s + 1;
    rc = scan_string(&v, s + 1, e, &s);
    if (rc)
        return rc;
    if (depth == 1)
        key_end = s - 1;
    s = skip_ws(s, e);
    if (s >= e || *s != ':')
        return verr(&v, s, "expected ':' after object key");
    s++;
    goto value;

after_value:
    if (cb && depth == 1 && stack[0] == '{') {
        fp_span k = {key, (size_t)(key_end - key)};
        cb(ctx, k, memchr(key, '\\', k.n) != NULL, (fp_span){val, (size_t)(s - val)});
    }
    s = skip_ws(s, e);
    if (depth == 0) {
        if (s != e)
            return verr(&v, s, "trailing characters after the JSON value");
        return FP_OK;
    }
    if (s >= e)
        return verr(&v, s,
                    stack[depth - 1] == '{' ? "unexpected end of input, expected ',' or '}'"
                                            : "unexpected end of input, expected ',' or ']'");
    if (*s == ',') {
        s = skip_ws(s + 1, e);
        if (stack[depth - 1] == '{')
            goto member;
        goto value;
    }
    if (stack[depth - 1] == '{') {
        if (*s != '}')
            return verr(&v, s, "expected ',' or '}' in object");
    } else if (*s != ']') {
        return verr(&v, s, "expected ',' or ']' in array");
    }
    s++;
    depth--;
    goto after_value;
}

fp_code fp_json_validate(const char *p, size_t n, fp_err *err)
{
    return validate(p, n, NULL, NULL, err);
}

fp_code fp_json_validate_members(const char *p, size_t n, fp_json_member_fn cb, void *ctx,
                                 fp_err *err)
{
    return validate(p, n, cb, ctx, err);
}

fp_json_type fp_json_type_of(const char *p)
{
    switch (*p) {
    case '{':
        return FP_JSON_OBJECT;
    case '[':
        return FP_JSON_ARRAY;
    case '"':
        return FP_JSON_STRING;
    case 't':
        return FP_JSON_TRUE;
    case 'f':
        return FP_JSON_FALSE;
    case 'n':
        return FP_JSON_NULL;
    default:
        return (*p == '-' || is_digit((uint8_t)*p)) ? FP_JSON_NUMBER : FP_JSON_INVALID;
    }
}

/* ---- unchecked iteration over validated text ---- */

/* s is just after an opening quote; returns the position of the closing quote. */
static inline const char *skip_string_body(const char *s, const char *e, bool *escaped)
{
    for (;;) {
#ifdef __SSE2__
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
        while (e - s >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
            unsigned mask = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)));
            if (mask) {
                s += ctz32(mask);
                goto found;
            }
            s += 16;
        }
#endif
        while (s < e && *s != '"' && *s != '\\')
            s++;
        if (s >= e)
            return e;
#ifdef __SSE2__
    found:
#endif
        if (*s == '"')
            return s;
        *escaped = true;
        s += 2; /* validated: the escape is complete; \uXXXX's hex digits are plain */
    }
}

/* Byte-at-a-time container skipping; *in_str and *depth carry the state between calls.
 * Returns the end of the container, or NULL when it has not ended before stop (the scan may
 * run one byte past stop to finish an escape). */
static const char *skip_container_scalar(const char *s, const char *stop, const char *e,
                                         bool *in_str, int *depth, const char **resume)
{
    while (s < stop) {
        char c = *s;
        if (*in_str) {
            if (c == '\\') {
                s += 2;
                continue;
            }
            if (c == '"')
                *in_str = false;
        } else if (c == '"') {
            *in_str = true;
        } else if (c == '{' || c == '[') {
            ++*depth;
        } else if (c == '}' || c == ']') {
            if (--*depth == 0)
                return s + 1;
        }
        s++;
    }
    *resume = s < e ? s : e;
    return NULL;
}

#ifdef __SSE2__
static inline uint64_t mask64(__m128i a, __m128i b, __m128i c, __m128i d, __m128i v)
{
    return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, v)) |
           (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, v)) << 16 |
           (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(c, v)) << 32 |
           (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(d, v)) << 48;
}
#endif

/* Skips the object or array at s (validated), 64 bytes per step: a prefix XOR of the quote
 * mask marks the bytes inside strings, so brackets in strings are ignored without visiting
 * them. A block with a backslash goes through the scalar loop, which knows escapes. */
static const char *skip_container(const char *s, const char *e)
{
    bool in_str = false;
    int depth = 0;
#ifdef __SSE2__
    const __m128i vq = _mm_set1_epi8('"'), vb = _mm_set1_epi8('\\'), vo1 = _mm_set1_epi8('{'),
                  vo2 = _mm_set1_epi8('['), vc1 = _mm_set1_epi8('}'), vc2 = _mm_set1_epi8(']');
    while (e - s >= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));
        if (mask64(a, b, c, d, vb)) {
            const char *resume, *end;
            end = skip_container_scalar(s, s + 64, e, &in_str, &depth, &resume);
            if (end)
                return end;
            s = resume;
            continue;
        }
        uint64_t q = mask64(a, b, c, d, vq);
        uint64_t x = q;
        x ^= x << 1;
        x ^= x << 2;
        x ^= x << 4;
        x ^= x << 8;
        x ^= x << 16;
        x ^= x << 32;
        if (in_str)
            x = ~x;
        /* x: 1 from an opening quote up to (not including) its closing quote */
        uint64_t open = (mask64(a, b, c, d, vo1) | mask64(a, b, c, d, vo2)) & ~x;
        uint64_t close = (mask64(a, b, c, d, vc1) | mask64(a, b, c, d, vc2)) & ~x;
        in_str = (x >> 63) != 0;
        uint64_t all = open | close;
        while (all) {
            unsigned i = (unsigned)__builtin_ctzll(all);
            if (open >> i & 1) {
                depth++;
            } else if (--depth == 0) {
                return s + i + 1;
            }
            all &= all - 1;
        }
        s += 64;
    }
#endif
    const char *resume, *end = skip_container_scalar(s, e, e, &in_str, &depth, &resume);
    return end ? end : e;
}

/* End of a number or literal: the next delimiter. */
static const uint8_t delim_tab[256] = {
    [','] = 1, ['}'] = 1, [']'] = 1, [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [':'] = 1,
};

/* Returns the end of the value starting at s. */
static inline const char *skip_value(const char *s, const char *e)
{
    bool esc = false;
    if (*s == '"')
        return skip_string_body(s + 1, e, &esc) + 1;
    if (*s == '{' || *s == '[')
        return skip_container(s, e);
#ifdef __SSE2__
    if (e - s >= 16) {
        /* a number or literal ends at , } ] or whitespace (all below 0x21 or those three) */
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(',')),
                                              _mm_cmpeq_epi8(x, _mm_set1_epi8('}'))),
                                 _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(']')),
                                              _mm_cmplt_epi8(x, _mm_set1_epi8(0x21))));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return s + ctz32(mask);
    }
#endif
    while (s < e && !delim_tab[(uint8_t)*s])
        s++;
    return s;
}

const char *fp_json_skip_ws(const char *p, const char *end)
{
    return skip_ws(p, end);
}

void fp_json_iter_init(fp_json_iter *it, fp_span v)
{
    /* step inside the container; the iterator stops at its closing bracket */
    it->p = v.p + 1;
    it->end = v.p + v.n;
}

bool fp_json_obj_next(fp_json_iter *it, fp_span *key, bool *key_escaped, fp_span *val)
{
    const char *s = skip_ws(it->p, it->end);
    if (s < it->end && *s == ',')
        s = skip_ws(s + 1, it->end);
    if (s >= it->end || *s != '"')
        return false;
    bool esc = false;
    const char *q = skip_string_body(s + 1, it->end, &esc);
    key->p = s + 1;
    key->n = (size_t)(q - s - 1);
    if (key_escaped)
        *key_escaped = esc;
    s = skip_ws(q + 1, it->end);
    s = skip_ws(s + 1, it->end); /* the ':' */
    const char *ve = skip_value(s, it->end);
    val->p = s;
    val->n = (size_t)(ve - s);
    it->p = ve;
    return true;
}

bool fp_json_arr_next(fp_json_iter *it, fp_span *elem)
{
    const char *s = skip_ws(it->p, it->end);
    if (s < it->end && *s == ',')
        s = skip_ws(s + 1, it->end);
    if (s >= it->end || *s == ']')
        return false;
    const char *ve = skip_value(s, it->end);
    elem->p = s;
    elem->n = (size_t)(ve - s);
    it->p = ve;
    return true;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool fp_json_number(const char *p, size_t n, int64_t *i, double *d)
{
    size_t k = 0;
    bool neg = n && p[0] == '-';
    k += neg;
    uint64_t m = 0;
    int digits = 0, exp10 = 0;
    bool is_int = true;
    for (; k < n && p[k] >= '0' && p[k] <= '9'; k++) {
        if (digits < 19) {
            m = m * 10 + (uint64_t)(p[k] - '0');
            digits += m != 0;
        } else {
            exp10++;
        }
    }
    if (k < n && p[k] == '.') {
        is_int = false;
        for (k++; k < n && p[k] >= '0' && p[k] <= '9'; k++)
            if (digits < 19) {
                m = m * 10 + (uint64_t)(p[k] - '0');
                digits += m != 0;
                exp10--;
            }
    }
    if (k < n) { /* exponent */
        is_int = false;
        k++;
        bool eneg = k < n && p[k] == '-';
        k += k < n && (p[k] == '-' || p[k] == '+');
        int e = 0;
        for (; k < n && e < 100000; k++)
            e = e * 10 + (p[k] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i && is_int && exp10 == 0 &&
        (m <= (uint64_t)INT64_MAX || (neg && m == (uint64_t)INT64_MAX + 1))) {
        *i = neg ? (int64_t)(0 - m) : (int64_t)m;
        return true;
    }
    if (digits <= 15 && exp10 >= -22 && exp10 <= 22) {
        double v = (double)m;
        v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
        *d = neg ? -v : v;
        return false;
    }
    char buf[64];
    if (n < sizeof buf) {
        memcpy(buf, p, n);
        buf[n] = '\0';
        *d = strtod(buf, NULL);
    } else {
        char *t = fp_xstrndup(p, n);
        *d = strtod(t, NULL);
        free(t);
    }
    return false;
}

bool fp_json_key_eq(fp_span raw, bool escaped, const char *name, size_t name_len)
{
    if (!escaped)
        return raw.n == name_len && memcmp(raw.p, name, name_len) == 0;
    if (raw.n < name_len)
        return false; /* an escape never makes the decoded form longer */
    fp_buf b = FP_BUF_INIT;
    fp_json_unescape(raw, &b);
    bool eq = b.len == name_len && memcmp(b.p, name, name_len) == 0;
    fp_buf_free(&b);
    return eq;
}

bool fp_json_obj_get(fp_span object, const char *name, size_t name_len, fp_span *val)
{
    fp_json_iter it;
    fp_span k, v;
    bool esc, found = false;
    fp_json_iter_init(&it, object);
    while (fp_json_obj_next(&it, &k, &esc, &v)) {
        if (fp_json_key_eq(k, esc, name, name_len)) {
            *val = v;
            found = true; /* keep going: the last occurrence wins */
        }
    }
    return found;
}

static void put_utf8(fp_buf *out, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    fp_buf_append(out, b, n);
}

static uint32_t hex4(const char *s)
{
    return (uint32_t)(hexval((uint8_t)s[0]) << 12 | hexval((uint8_t)s[1]) << 8 |
                      hexval((uint8_t)s[2]) << 4 | hexval((uint8_t)s[3]));
}

void fp_json_unescape(fp_span raw, fp_buf *out)
{
    const char *s = raw.p, *e = raw.p + raw.n;
    fp_buf_reserve(out, raw.n);
    while (s < e) {
        const char *bsl = memchr(s, '\\', (size_t)(e - s));
        if (!bsl) {
            fp_buf_append(out, s, (size_t)(e - s));
            return;
        }
        fp_buf_append(out, s, (size_t)(bsl - s));
        s = bsl;
        if (e - s < 2)
            return; /* not validated text; drop the dangling backslash */
        char c = s[1];
        s += 2;
        switch (c) {
        case 'b':
            fp_buf_putc(out, '\b');
            break;
        case 'f':
            fp_buf_putc(out, '\f');
            break;
        case 'n':
            fp_buf_putc(out, '\n');
            break;
        case 'r':
            fp_buf_putc(out, '\r');
            break;
        case 't':
            fp_buf_putc(out, '\t');
            break;
        case 'u': {
            if (e - s < 4)
                return;
            uint32_t cp = hex4(s);
            s += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && e - s >= 6 && s[0] == '\\' && s[1] == 'u') {
                uint32_t lo = hex4(s + 2);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    s += 6;
                }
            }
            put_utf8(out, cp); /* a lone surrogate becomes WTF-8, see the file comment */
            break;
        }
        default:
            fp_buf_putc(out, c);
            break; /* '"', '\\', '/' */
        }
    }
}

/* Bytes that fp_json_quote() copies as they are. */
static const uint8_t quote_plain[256] = {
    [0x20 ... 0x21] = 1,
    [0x23 ... 0x5b] = 1,
    [0x5d ... 0x7f] = 1,
};

static void quote(fp_buf *out, const char *s, size_t n, bool wtf8)
{
    static const char hex[] = "0123456789abcdef";
    const char *e = s + n;
    fp_buf_reserve(out, n + 2);
    fp_buf_putc(out, '"');
    while (s < e) {
        const char *run = s;
        while (s < e && quote_plain[(uint8_t)*s])
            s++;
        if (s > run)
            fp_buf_append(out, run, (size_t)(s - run));
        if (s >= e)
            break;
        uint8_t c = (uint8_t)*s;
        if (c >= 0x80) {
            size_t k = utf8_seq((const uint8_t *)s, (const uint8_t *)e);
            if (k) {
                fp_buf_append(out, s, k);
                s += k;
                continue;
            }
            /* WTF-8 surrogate (from a lone \u escape): give the escape back */
            if (wtf8 && c == 0xed && e - s >= 3 && (uint8_t)s[1] >= 0xa0 && (uint8_t)s[1] <= 0xbf &&
                ((uint8_t)s[2] & 0xc0) == 0x80) {
                uint32_t cp = (uint32_t)((c & 0x0f) << 12 | ((uint8_t)s[1] & 0x3f) << 6 |
                                         ((uint8_t)s[2] & 0x3f));
                char u[6] = {
                    '\\',        'u', hex[cp >> 12], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                    hex[cp & 15]};
                fp_buf_append(out, u, 6);
                s += 3;
                continue;
            }
            /* invalid UTF-8: keep the byte as the Latin-1 code point of the same value */
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            fp_buf_append(out, u, 6);
            s++;
            continue;
        }
        switch (c) {
        case '"':
            fp_buf_append(out, "\\\"", 2);
            break;
        case '\\':
            fp_buf_append(out, "\\\\", 2);
            break;
        case '\b':
            fp_buf_append(out, "\\b", 2);
            break;
        case '\f':
            fp_buf_append(out, "\\f", 2);
            break;
        case '\n':
            fp_buf_append(out, "\\n", 2);
            break;
        case '\r':
            fp_buf_append(out, "\\r", 2);
            break;
        case '\t':
            fp_buf_append(out, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            fp_buf_append(out, u, 6);
        }
        }
        s++;
    }
    fp_buf_putc(out, '"');
}

void fp_json_quote(fp_buf *out, const char *s, size_t n)
{
    quote(out, s, n, true);
}

void fp_json_quote_raw(fp_buf *out, const char *s, size_t n)
{
    quote(out, s, n, false);
}

void fp_json_quote_base64(fp_buf *out, const char *p, size_t n)
{
    fp_buf_reserve(out, 4 * ((n + 2) / 3) + 3);
    out->p[out->len++] = '"';
    out->len += (size_t)EVP_EncodeBlock((unsigned char *)out->p + out->len,
                                        (const unsigned char *)p, (int)n);
    out->p[out->len++] = '"';
    out->p[out->len] = '\0';
}

void fp_json_unbase64(fp_span s, fp_buf *out)
{
    fp_buf_reset(out);
    fp_buf_reserve(out, s.n);
    int r = s.n % 4
                ? -1
                : EVP_DecodeBlock((unsigned char *)out->p, (const unsigned char *)s.p, (int)s.n);
    out->len =
        r < 0 ? 0 : (size_t)r - (s.n && s.p[s.n - 1] == '=') - (s.n > 1 && s.p[s.n - 2] == '=');
    out->p[out->len] = '\0';
}

void fp_json_put_number(fp_buf *out, const char *s, size_t n)
{
    if (n && n < 512 && !fp_json_validate(s, n, NULL) &&
        fp_json_type_of(fp_json_skip_ws(s, s + n)) == FP_JSON_NUMBER) {
        fp_buf_append(out, s, n);
        return;
    }
    char tmp[512];
    double v = NAN;
    if (n && n < sizeof tmp) {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        char *end = NULL;
        if (strspn(tmp, "0123456789+-.eE") == n)
            v = strtod(tmp, &end);
        if (end != tmp + n)
            v = NAN;
    }
    if (isfinite(v))
        fp_buf_put_double(out, v);
    else
        fp_buf_puts(out, "null");
}
