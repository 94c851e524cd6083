/* json.h — a validating, zero-copy JSON scanner for the hot path.
 *
 * Telemetry messages are never turned into trees. fp_json_validate() checks a whole text
 * against RFC 8259 (including UTF-8 validity and a nesting limit) in one pass; after that the
 * iterators below walk an object's members as byte ranges (fp_span) into the caller's buffer, so
 * transforms splice ranges and numbers keep their exact digits. Nothing here allocates except
 * fp_json_unescape(). Spans point into the input: the input must outlive them.
 *
 * For configs and other cold paths use jansson (core/props.c), not this.
 */
#ifndef FP_JSON_H
#define FP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

typedef struct fp_span {
    const char *p;
    size_t n;
} fp_span;

#define FP_JSON_MAX_DEPTH 64 /* deeper nesting is FP_ERR_LIMIT, never a stack overflow */

typedef enum fp_json_type {
    FP_JSON_INVALID = 0,
    FP_JSON_OBJECT,
    FP_JSON_ARRAY,
    FP_JSON_STRING,
    FP_JSON_NUMBER,
    FP_JSON_TRUE,
    FP_JSON_FALSE,
    FP_JSON_NULL,
} fp_json_type;

/* Validates that [p, p+n) is exactly one JSON value with optional surrounding whitespace.
 * Errors are FP_ERR_INVALID (or FP_ERR_LIMIT for depth) with the byte offset and what was
 * expected ("offset 1812: invalid UTF-8 byte 0xff in string"). */
fp_code fp_json_validate(const char *p, size_t n, fp_err *err);

/* fp_json_validate() that, in the same pass, reports each member of a top-level object in
 * order: raw key (between the quotes), whether it has escapes, raw value. Members reach cb
 * before the text is known to be valid: use what was collected only when FP_OK comes back.
 * A top-level value that is not an object reports nothing. */
typedef void (*fp_json_member_fn)(void *ctx, fp_span key, bool key_escaped, fp_span val);
fp_code fp_json_validate_members(const char *p, size_t n, fp_json_member_fn cb, void *ctx,
                                 fp_err *err);

/* Type of the (validated) value whose first byte is *p. */
fp_json_type fp_json_type_of(const char *p);

/* Object member iteration over a validated object value. key is the raw string content between
 * the quotes (escapes not decoded; key_escaped says whether it contains a backslash); val is
 * the raw value text. */
typedef struct fp_json_iter {
    const char *p, *end;
} fp_json_iter;

void fp_json_iter_init(fp_json_iter *it, fp_span object);
bool fp_json_obj_next(fp_json_iter *it, fp_span *key, bool *key_escaped, fp_span *val);
/* First byte at or after p that is not JSON whitespace (or end). */
const char *fp_json_skip_ws(const char *p, const char *end);
/* Array element iteration over a validated array value. */
bool fp_json_arr_next(fp_json_iter *it, fp_span *elem);

/* Finds a top-level member of a validated object by its decoded name; the last occurrence
 * wins, as in JSON.parse. Returns false when absent. */
bool fp_json_obj_get(fp_span object, const char *name, size_t name_len, fp_span *val);

/* Whether a raw key (as from fp_json_obj_next) decodes to name. Allocates only when escaped. */
bool fp_json_key_eq(fp_span raw, bool escaped, const char *name, size_t name_len);

/* The value of a validated JSON number [p, p+n): true, with *i, when it is an integer literal
 * (no fraction or exponent) that fits int64; else false with *d, correctly rounded as strtod()
 * would (i and d may share storage). With i NULL every number is read into *d. At most 15
 * significant digits and a decimal exponent within +-22 take the exact path m * 10^e or
 * m / 10^e (both factors exact doubles, one rounding); the rest go through strtod. */
bool fp_json_number(const char *p, size_t n, int64_t *i, double *d);

/* Whether [p, p+n) is strict UTF-8 (RFC 3629: no overlong forms, surrogates or code points above
 * U+10FFFF), the rule the validator applies inside strings. NUL bytes are allowed. */
bool fp_utf8_valid(const void *p, size_t n);

/* Decodes the raw content of a JSON string (between the quotes) into out (appended). A lone
 * surrogate escape ("\ud800", accepted like JSON.parse does) decodes to its 3-byte WTF-8 form. */
void fp_json_unescape(fp_span raw, fp_buf *out);
/* Appends s as a JSON string literal (with quotes), escaping as RFC 8259 requires. Always
 * produces valid JSON whatever the bytes: WTF-8 surrogates become "\udxxx" again, and a byte
 * that is not part of valid UTF-8 becomes "\u00XX", its Latin-1 reading (dead letters rely on
 * this to carry invalid input). */
void fp_json_quote(fp_buf *out, const char *s, size_t n);
/* Like fp_json_quote() for bytes that were never decoded (an original message in a dead
 * letter): every byte outside valid UTF-8, WTF-8 surrogates included, becomes "\u00XX". */
void fp_json_quote_raw(fp_buf *out, const char *s, size_t n);
/* Appends "<standard base64 of the bytes>" (with quotes): a JSON string that carries any bytes
 * exactly (the lake's retry queue, the objstore envelope's value). */
void fp_json_quote_base64(fp_buf *out, const char *s, size_t n);
/* Decodes the content of such a string (between the quotes) into out (reset first); what cannot
 * be decoded (a length that is not a multiple of 4, bad characters) gives an empty out. */
void fp_json_unbase64(fp_span s, fp_buf *out);

/* Appends a number another system printed as text (DynamoDB's N, PostgreSQL's float8) as a
 * JSON number: the text itself when it is one (every digit kept), else its value read as a
 * double ("+1", ".5", "007"), and null for what is no finite decimal number (NaN, Infinity,
 * hex, garbage). */
void fp_json_put_number(fp_buf *out, const char *s, size_t n);

#endif
