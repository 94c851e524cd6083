/* dynamodb.h — DynamoDB's JSON protocol over the signed AWS client (aws/client.h): the client for
 * a region and endpoint, one call (POST /, X-Amz-Target: DynamoDB_20120810.<Op>, Content-Type
 * application/x-amz-json-1.0, JSON in and out), and the two table operations behind `fleetpipe
 * dynamodb`: create the dynamodb sink's single table (pk S HASH, sk S RANGE) and wait until it is
 * ACTIVE, and a paginated Scan. The dynamodb sink (sink/dynamodb) and the CLI both use it, so
 * endpoints, headers and error texts exist once.
 *
 * Prefix fp_aws_dynamodb_: the protocol client is part of aws/ (like fp_aws_client_,
 * fp_aws_creds_); fp_dynamodb_ belongs to the sink (fp_dynamodb_item_*).
 * Threads: as the client's, one thread at a time per client. Retries (throttling, 5xx, network)
 * are the client's; nothing here retries a call.
 */
#ifndef FP_AWS_DYNAMODB_H
#define FP_AWS_DYNAMODB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/client.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/stop.h"

typedef struct fp_aws_dynamodb_opts {
    const char *region;   /* NULL or "": fp_aws_region() (AWS_REGION, then AWS_DEFAULT_REGION) */
    const char *endpoint; /* NULL or "": fp_aws_dynamodb_endpoint() */
    const char *profile;  /* NULL or "": AWS_PROFILE or "default" (aws/creds.h) */
    /* The FP_ERR_CONFIG text when no region is found, naming the caller's own setting; NULL: "no
     * region: set AWS_REGION or AWS_DEFAULT_REGION". */
    const char *no_region_msg;
    int max_attempts; /* as fp_aws_opts; 0: the client's defaults */
    int64_t base_delay_ms;
    int64_t max_delay_ms;
    int64_t timeout_ms;
    const fp_stop *stop; /* ends the client's retry waits; may be NULL; must outlive the client */
} fp_aws_dynamodb_opts;

/* Appends the endpoint to out: endpoint when non-empty, else
 * https://dynamodb.<region>.amazonaws.com. */
void fp_aws_dynamodb_endpoint(const char *endpoint, const char *region, fp_buf *out);

/* A client for the "dynamodb" service (fp_aws_client_new: credentials, endpoint check). Errors
 * are FP_ERR_CONFIG. The options' strings are copied. */
fp_code fp_aws_dynamodb_client_new(const fp_aws_dynamodb_opts *o, fp_aws_client **out, fp_err *err);

/* One call of operation op ("BatchWriteItem") with body (n bytes of JSON). FP_OK: *ans is the
 * parsed answer, owned by the caller (json_decref). Otherwise *ans is NULL and the code is
 * fp_aws_call()'s (FP_ERR_IO: worth retrying later; FP_ERR_INVALID: final; ...) with err naming
 * op, status, the server's code and message; an answer that is not JSON is FP_ERR_IO. resp is
 * reset by the call and keeps the last answer (.code: "ResourceInUseException"); the caller
 * frees it with fp_aws_resp_free(). */
fp_code fp_aws_dynamodb_call(fp_aws_client *cl, const char *op, const char *body, size_t n,
                             fp_aws_resp *resp, json_t **ans, fp_err *err);
/* The same with a JSON body (not taken). */
fp_code fp_aws_dynamodb_call_json(fp_aws_client *cl, const char *op, const json_t *body,
                                  fp_aws_resp *resp, json_t **ans, fp_err *err);

/* ---- the dynamodb sink's table --------------------------------------------------------- */

typedef enum fp_aws_dynamodb_ttl {
    FP_AWS_DYNAMODB_TTL_NONE,        /* not asked for */
    FP_AWS_DYNAMODB_TTL_ENABLED,     /* UpdateTimeToLive turned it on */
    FP_AWS_DYNAMODB_TTL_ALREADY,     /* it was on already */
    FP_AWS_DYNAMODB_TTL_UNSUPPORTED, /* the endpoint lacks UpdateTimeToLive (dynalite) */
} fp_aws_dynamodb_ttl;

typedef struct fp_aws_dynamodb_table_opts {
    const char *table;
    const char *ttl_attr; /* NULL or "": leave TTL alone */
    int64_t wait_ms;      /* how long to wait for ACTIVE */
    const fp_stop *stop;  /* ends the wait (FP_ERR_IO); may be NULL */
} fp_aws_dynamodb_table_opts;

typedef struct fp_aws_dynamodb_table_result {
    bool existed; /* the table was there already, with the sink's key */
    bool active;  /* it reached ACTIVE; true with an error means only the TTL step failed */
    fp_aws_dynamodb_ttl ttl;
} fp_aws_dynamodb_table_result;

/* CreateTable with pk (S, HASH), sk (S, RANGE) and on-demand billing; a table that exists
 * already is fine if it has that key (FP_ERR_CONFIG if not). Then DescribeTable until ACTIVE
 * (every 100 ms, after ten polls every second) for at most o->wait_ms (then FP_ERR_IO naming the
 * status), and with a ttl_attr UpdateTimeToLive. *out (zeroed first) says what happened. */
fp_code fp_aws_dynamodb_create_table(fp_aws_client *cl, const fp_aws_dynamodb_table_opts *o,
                                     fp_aws_dynamodb_table_result *out, fp_err *err);

/* Called for each item of a Scan, in the order the pages arrive; item is borrowed for the call.
 * A code other than FP_OK ends the scan with it (err set by the callback). */
typedef fp_code (*fp_aws_dynamodb_item_fn)(const json_t *item, void *arg, fp_err *err);

/* Scans table to its end, following LastEvaluatedKey. count_only: Select COUNT, and on_item
 * (may be NULL) is never called. *count (may be NULL) gets the number of items DynamoDB counted
 * on the pages that arrived. */
fp_code fp_aws_dynamodb_scan(fp_aws_client *cl, const char *table, bool count_only,
                             fp_aws_dynamodb_item_fn on_item, void *arg, int64_t *count,
                             fp_err *err);

/* One Query or Scan (op) to its end: request (not taken) is its body (TableName,
 * KeyConditionExpression or FilterExpression, ExpressionAttributeValues, ProjectionExpression,
 * Select, ...), sent
 * again with ExclusiveStartKey while the answer has a LastEvaluatedKey. on_item (may be NULL) is
 * called for each item of the pages in order; *count (may be NULL) gets DynamoDB's Count summed
 * over the pages (with Select COUNT the only result). */
fp_code fp_aws_dynamodb_pages(fp_aws_client *cl, const char *op, const json_t *request,
                              fp_aws_dynamodb_item_fn on_item, void *arg, int64_t *count,
                              fp_err *err);

#endif
