/* item.h — the pure part of the dynamodb sink: one record (a JSON object) to one DynamoDB item
 * in the low-level JSON wire format, with the checks DynamoDB would otherwise fail a whole
 * BatchWriteItem for. Kept apart from I/O so tests/unit/test_dynamodb.c pins it down with the
 * data-driven cases in tests/data/dynamodb/.
 *
 * Mapping: string -> S (the JSON text kept as is), number -> N (its exact digits, never through
 * a double), true/false -> BOOL, null -> NULL, object -> M, array -> L. The record's `pk` and
 * `sk` fields are the table's key and must be non-empty strings. Anything DynamoDB refuses per
 * item (item over 400 KB, a number with more than 38 significant digits or out of range, nesting
 * deeper than 32, an empty attribute name, a key over its length limit) is FP_ERR_INVALID with
 * the reason, so the runtime dead-letters that record instead of failing the batch.
 */
#ifndef FP_SINK_DYNAMODB_ITEM_H
#define FP_SINK_DYNAMODB_ITEM_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

#define FP_DYNAMODB_MAX_ITEM_BYTES 409600 /* 400 KB, attribute names included */
#define FP_DYNAMODB_MAX_PK_BYTES 2048
#define FP_DYNAMODB_MAX_SK_BYTES 1024
#define FP_DYNAMODB_MAX_DEPTH 32
#define FP_DYNAMODB_BATCH_MAX 25 /* PutRequests per BatchWriteItem (the API's limit) */

typedef struct fp_dynamodb_item_opts {
    /* TTL: when ttl_attr is non-empty, the item gets ttl_attr = N(epoch seconds of the record's
     * ttl_field + ttl_ms). ttl_field holds ISO-8601 with an offset or integer epoch ms. */
    const char *ttl_attr;
    const char *ttl_field;
    int64_t ttl_ms;
} fp_dynamodb_item_opts;

/* One converted item. Reused between records: fp_dynamodb_item_reset() keeps the memory. */
typedef struct fp_dynamodb_item {
    fp_buf json; /* {"pk":{"S":"..."},...} */
    fp_buf pk;   /* decoded key values, for de-duplication */
    fp_buf sk;
    size_t size;    /* DynamoDB's item size in bytes (names + values) */
    fp_buf scratch; /* decoding space */
} fp_dynamodb_item;

void fp_dynamodb_item_reset(fp_dynamodb_item *it);
void fp_dynamodb_item_free(fp_dynamodb_item *it);

/* Converts the JSON object [p, p+n) into it (reset first). FP_ERR_INVALID names the field and
 * the reason ("field speed: number 1e999 out of DynamoDB's range"). */
fp_code fp_dynamodb_item_from_json(const fp_dynamodb_item_opts *o, const char *p, size_t n,
                                   fp_dynamodb_item *it, fp_err *err);

/* Checks a JSON number text as DynamoDB's N: at most 38 significant digits, magnitude zero or
 * within 1E-130 .. 9.99..E+125. *size gets its storage size. */
fp_code fp_dynamodb_number_check(const char *p, size_t n, size_t *size, fp_err *err);

#endif
