/* dynamodb.c — the `dynamodb` sink: every record becomes one item of a single table (pk, sk),
 * written with BatchWriteItem, synchronously: put() returns OK only when DynamoDB has every item
 * of the batch, so uncommitted_from() is always INT64_MAX.
 *
 * Idempotent by construction: an item is a pure function of its record and PutRequest replaces
 * the whole item, so replaying a Kafka range leaves the same items. With
 * aws.dynamodb.version.attribute each item is instead a conditional PutItem (BatchWriteItem
 * takes no conditions) that applies only when the stored version is not higher, so arrival
 * order does not matter (the aggregate connector's revisions). Within one request the keys
 * (pk, sk) are unique (DynamoDB rejects a request with duplicates): a later record with the key
 * of an earlier one in the same request replaces it, which is what a later PutRequest would have
 * done; requests go out in Kafka order, one after the other. UnprocessedItems are resent with
 * full-jitter backoff until none are left (after 20 rounds put() answers RETRY and the runtime
 * replays, so a long throttle cannot keep the task from polling Kafka); throttling, 5xx and network
 * errors are retried by the AWS client (aws/client.h), and when its attempts run out put() answers
 * RETRY so the runtime replays — nothing is ever dropped. Records DynamoDB would refuse item by
 * item (see item.h) are turned away in check(), so they are dead-lettered instead of failing a
 * batch. Threads: one instance per task thread, with its own AWS client (and connection).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/dynamodb.h"
#include "connect/sink.h"
#include "core/backoff.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "sink/dynamodb/item.h"

typedef struct ddb_conf {
    char *table, *region, *endpoint, *profile, *ttl_attr, *ttl_field, *version_attr;
    int64_t ttl_ms, max_attempts, backoff_ms, backoff_max_ms, timeout_ms;
} ddb_conf;

static const fp_conf_def ddb_defs[] = {
    {"aws.dynamodb.table", FP_CONF_STRING, NULL, offsetof(ddb_conf, table),
     "table name; its key is pk (hash, S) and sk (range, S): `fleetpipe dynamodb create-table`",
     NULL, 0, 0},
    {"aws.dynamodb.region", FP_CONF_STRING, "", offsetof(ddb_conf, region),
     "AWS region; default AWS_REGION, then AWS_DEFAULT_REGION", NULL, 0, 0},
    {"aws.dynamodb.endpoint", FP_CONF_STRING, "", offsetof(ddb_conf, endpoint),
     "http(s)://host[:port]; default https://dynamodb.<region>.amazonaws.com", NULL, 0, 0},
    {"aws.profile", FP_CONF_STRING, "", offsetof(ddb_conf, profile),
     "credentials profile when the environment has no keys; default AWS_PROFILE or default", NULL,
     0, 0},
    {"aws.dynamodb.ttl.attribute", FP_CONF_STRING, "", offsetof(ddb_conf, ttl_attr),
     "TTL attribute to write (epoch seconds of ttl.field + ttl.duration); empty: none", NULL, 0, 0},
    {"aws.dynamodb.ttl.field", FP_CONF_STRING, "", offsetof(ddb_conf, ttl_field),
     "record field with the time the TTL counts from (ISO-8601 with offset or epoch ms)", NULL, 0,
     0},
    {"aws.dynamodb.ttl.duration", FP_CONF_MS, "0", offsetof(ddb_conf, ttl_ms),
     "how long after ttl.field an item expires (e.g. 30d)", NULL, 0, 0},
    {"aws.dynamodb.version.attribute", FP_CONF_STRING, "", offsetof(ddb_conf, version_attr),
     "numeric record field that orders versions of one item (the aggregate's revision): each "
     "item is a PutItem that applies only when the stored version is not higher, so a replayed "
     "or late older version never overwrites a newer one; empty: BatchWriteItem, last write wins",
     NULL, 0, 0},
    {"aws.dynamodb.retry.max.attempts", FP_CONF_INT, "10", offsetof(ddb_conf, max_attempts),
     "attempts per request on throttling, 5xx and network errors before the runtime replays", NULL,
     1, 1000},
    {"aws.dynamodb.retry.backoff.ms", FP_CONF_MS, "50", offsetof(ddb_conf, backoff_ms),
     "base of the full-jitter backoff (retries and UnprocessedItems)", NULL, 1, 3600000},
    {"aws.dynamodb.retry.backoff.max.ms", FP_CONF_MS, "20s", offsetof(ddb_conf, backoff_max_ms),
     "cap of the full-jitter backoff", NULL, 1, 3600000},
    {"aws.dynamodb.request.timeout.ms", FP_CONF_MS, "60s", offsetof(ddb_conf, timeout_ms),
     "time for one HTTP request", NULL, 1000, 3600000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

/* One item of the request being built. */
typedef struct slot {
    fp_buf json, pk, sk;
} slot;

typedef struct ddb {
    ddb_conf c;
    const fp_sink_ctx *ctx;
    fp_aws_client *cl;
    fp_dynamodb_item_opts io;
    fp_dynamodb_item item;
    slot slots[FP_DYNAMODB_BATCH_MAX];
    size_t nslots;
    fp_buf table_json; /* the table name as a JSON string */
    fp_buf body;
    fp_aws_resp resp;
    int64_t unprocessed_rounds; /* for the log: rounds that resent UnprocessedItems */
} ddb;

static void ddb_destroy(void *sp)
{
    ddb *s = sp;
    if (!s)
        return;
    fp_aws_client_free(s->cl);
    fp_dynamodb_item_free(&s->item);
    for (size_t i = 0; i < FP_DYNAMODB_BATCH_MAX; i++) {
        fp_buf_free(&s->slots[i].json);
        fp_buf_free(&s->slots[i].pk);
        fp_buf_free(&s->slots[i].sk);
    }
    fp_buf_free(&s->table_json);
    fp_buf_free(&s->body);
    fp_aws_resp_free(&s->resp);
    fp_conf_free(ddb_defs, &s->c);
    free(s);
}

static const char no_region[] =
    "aws.dynamodb.region is not set and neither is AWS_REGION nor AWS_DEFAULT_REGION";

static fp_code ddb_create(fp_props *props, const fp_sink_ctx *ctx, void **out, fp_err *err)
{
    ddb *s = fp_xcalloc(1, sizeof *s);
    s->ctx = ctx;
    fp_code rc = fp_conf_apply(ddb_defs, props, NULL, &s->c, err);
    if (rc) {
        ddb_destroy(s);
        return rc;
    }
    /* The region first, as before the other checks (the client checks it again). */
    if (!fp_aws_region(s->c.region)) {
        ddb_destroy(s);
        return fp_err_set(err, FP_ERR_CONFIG, "%s", no_region);
    }
    size_t tl = strlen(s->c.table);
    if (tl < 3 || tl > 255 ||
        strspn(s->c.table, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
                           "WXYZ0123456789_-.") != tl) {
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "aws.dynamodb.table '%s': 3 to 255 characters of a-z A-Z 0-9 _ - .",
                        s->c.table);
        ddb_destroy(s);
        return rc;
    }
    bool attr = *s->c.ttl_attr, field = *s->c.ttl_field;
    if (attr != field || (!attr && s->c.ttl_ms)) {
        ddb_destroy(s);
        return fp_err_set(err, FP_ERR_CONFIG,
                          "aws.dynamodb.ttl.attribute and aws.dynamodb.ttl.field go together "
                          "(ttl.duration needs both)");
    }
    if (attr && (!strcmp(s->c.ttl_attr, "pk") || !strcmp(s->c.ttl_attr, "sk"))) {
        ddb_destroy(s);
        return fp_err_set(err, FP_ERR_CONFIG,
                          "aws.dynamodb.ttl.attribute cannot be a key attribute (pk, sk)");
    }
    fp_aws_dynamodb_opts o = {
        .region = s->c.region,
        .endpoint = s->c.endpoint,
        .profile = s->c.profile,
        .no_region_msg = no_region,
        .max_attempts = (int)s->c.max_attempts,
        .base_delay_ms = s->c.backoff_ms,
        .max_delay_ms = s->c.backoff_max_ms,
        .timeout_ms = s->c.timeout_ms,
        .stop = ctx->stop,
    };
    rc = fp_aws_dynamodb_client_new(&o, &s->cl, err);
    if (rc) {
        ddb_destroy(s);
        return rc;
    }
    s->io = (fp_dynamodb_item_opts){s->c.ttl_attr, s->c.ttl_field, s->c.ttl_ms};
    fp_json_quote(&s->table_json, s->c.table, tl);
    *out = s;
    return FP_OK;
}

static fp_sink_rc ddb_open(void *sp, const char *topic, int32_t partition, fp_err *err)
{
    return FP_SINK_OK;
}

/* The record's version (aws.dynamodb.version.attribute) as the JSON number text; FP_ERR_INVALID
 * when it is missing or not a number. */
static fp_code record_version(const ddb *s, const fp_sink_rec *r, fp_span *v, fp_err *err)
{
    const char *a = s->c.version_attr;
    if (!fp_json_obj_get((fp_span){r->value, r->len}, a, strlen(a), v))
        return fp_err_set(err, FP_ERR_INVALID, "version attribute %s: missing", a);
    if (fp_json_type_of(v->p) != FP_JSON_NUMBER)
        return fp_err_set(err, FP_ERR_INVALID, "version attribute %s: %.40s is not a number", a,
                          v->p);
    return FP_OK;
}

static fp_code ddb_check(void *sp, fp_sink_rec *r, fp_err *err)
{
    ddb *s = sp;
    fp_span v;
    if (*s->c.version_attr && record_version(s, r, &v, err))
        return err->code;
    return fp_dynamodb_item_from_json(&s->io, r->value, r->len, &s->item, err);
}

/* Writes one item unless the table holds a higher version of it: PutItem with a condition.
 * A failed condition is the newer item winning, not an error. */
static fp_sink_rc put_versioned(ddb *s, fp_span version, fp_err *err)
{
    fp_buf *b = &s->body;
    fp_buf_reset(b);
    fp_buf_puts(b, "{\"TableName\":");
    fp_buf_append(b, s->table_json.p, s->table_json.len);
    fp_buf_puts(b, ",\"Item\":");
    fp_buf_append(b, s->item.json.p, s->item.json.len);
    fp_buf_puts(b, ",\"ConditionExpression\":\"attribute_not_exists(pk) OR #v <= :v\","
                   "\"ExpressionAttributeNames\":{\"#v\":");
    fp_json_quote(b, s->c.version_attr, strlen(s->c.version_attr));
    fp_buf_puts(b, "},\"ExpressionAttributeValues\":{\":v\":{\"N\":\"");
    fp_buf_append(b, version.p, version.n);
    fp_buf_puts(b, "\"}}}");
    json_t *j = NULL;
    fp_code rc = fp_aws_dynamodb_call(s->cl, "PutItem", b->p, b->len, &s->resp, &j, err);
    json_decref(j);
    if (rc && !strcmp(s->resp.code, "ConditionalCheckFailedException")) {
        return FP_SINK_OK;
    }
    if (rc == FP_ERR_IO)
        return FP_SINK_RETRY;
    if (rc)
        return FP_SINK_ERROR;
    atomic_fetch_add(&s->ctx->stats->objects, 1);
    atomic_fetch_add(&s->ctx->stats->bytes, b->len);
    return FP_SINK_OK;
}

/* The request body for the current slots. */
static void build_body(ddb *s)
{
    fp_buf *b = &s->body;
    fp_buf_reset(b);
    fp_buf_puts(b, "{\"RequestItems\":{");
    fp_buf_append(b, s->table_json.p, s->table_json.len);
    fp_buf_puts(b, ":[");
    for (size_t i = 0; i < s->nslots; i++) {
        fp_buf_puts(b, i ? ",{\"PutRequest\":{\"Item\":" : "{\"PutRequest\":{\"Item\":");
        fp_buf_append(b, s->slots[i].json.p, s->slots[i].json.len);
        fp_buf_puts(b, "}}");
    }
    fp_buf_puts(b, "]}}");
}

#define UNPROCESSED_ROUNDS_MAX 20

/* Sends s->body; FP_SINK_OK when no item is left unprocessed. */
static fp_sink_rc send_batch(ddb *s, fp_err *err)
{
    fp_backoff b;
    fp_backoff_init(&b, s->c.backoff_ms, s->c.backoff_max_ms);
    for (int round = 0;; round++) {
        json_t *j = NULL;
        fp_code rc = fp_aws_dynamodb_call(s->cl, "BatchWriteItem", s->body.p, s->body.len, &s->resp,
                                          &j, err);
        /* The client's attempts ran out, or the answer was unreadable: the runtime replays. */
        if (rc == FP_ERR_IO)
            return FP_SINK_RETRY;
        if (rc)
            return FP_SINK_ERROR; /* validation, auth, missing table: err has the server's words */
        json_t *un = json_object_get(j, "UnprocessedItems");
        size_t left = 0;
        const char *k;
        json_t *v;
        if (json_is_object(un))
            json_object_foreach(un, k, v) left += json_array_size(v);
        if (!left) {
            json_decref(j);
            return FP_SINK_OK;
        }
        /* Resend exactly what came back, after a full-jitter pause that grows per round. */
        json_t *req = json_pack("{sO}", "RequestItems", un);
        char *txt = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        json_decref(j);
        if (!txt) {
            fp_err_set(err, FP_ERR_INTERNAL, "dynamodb: cannot re-encode UnprocessedItems");
            return FP_SINK_ERROR;
        }
        fp_buf_reset(&s->body);
        fp_buf_puts(&s->body, txt);
        free(txt);
        s->unprocessed_rounds++;
        fp_log(FP_LOG_DEBUG, s->ctx->connector, s->ctx->task,
               "BatchWriteItem: %zu items unprocessed, resending (round %d)", left, round + 1);
        /* Bounded, so a table that stays throttled cannot hold the task away from Kafka past
         * max.poll.interval.ms: after that the runtime's own retry replays (nothing dropped). */
        if (round + 1 >= UNPROCESSED_ROUNDS_MAX) {
            fp_err_set(err, FP_ERR_IO,
                       "dynamodb BatchWriteItem: %zu items still unprocessed after %d rounds", left,
                       round + 1);
            return FP_SINK_RETRY;
        }
        if (!fp_backoff_sleep(&b, s->ctx->stop)) {
            fp_err_set(err, FP_ERR_IO,
                       "dynamodb BatchWriteItem: stopping with %zu items unprocessed (replayed "
                       "on the next run)",
                       left);
            return FP_SINK_RETRY;
        }
    }
}

static fp_sink_rc flush_slots(ddb *s, fp_err *err)
{
    if (!s->nslots)
        return FP_SINK_OK;
    build_body(s);
    size_t bytes = s->body.len;
    fp_sink_rc rc = send_batch(s, err);
    if (rc == FP_SINK_OK) {
        atomic_fetch_add(&s->ctx->stats->objects, 1);
        atomic_fetch_add(&s->ctx->stats->bytes, bytes);
    }
    s->nslots = 0;
    return rc;
}

static fp_sink_rc ddb_put(void *sp, fp_sink_rec *recs, size_t n, fp_err *err)
{
    ddb *s = sp;
    s->nslots = 0;
    for (size_t i = 0; i < n; i++) {
        fp_code c = fp_dynamodb_item_from_json(&s->io, recs[i].value, recs[i].len, &s->item, err);
        fp_span version = {0};
        if (!c && *s->c.version_attr)
            c = record_version(s, &recs[i], &version, err);
        if (c) { /* check() passed this very record: conversion is deterministic */
            fp_err_prefix(err, "record at %s/%" PRId32 "@%" PRId64 " changed between check and put",
                          recs[i].topic, recs[i].partition, recs[i].offset);
            return FP_SINK_ERROR;
        }
        if (*s->c.version_attr) {
            fp_sink_rc rc = put_versioned(s, version, err);
            if (rc)
                return rc;
            continue;
        }
        slot *dst = NULL;
        for (size_t k = 0; k < s->nslots && !dst; k++) {
            slot *x = &s->slots[k];
            if (x->pk.len == s->item.pk.len && x->sk.len == s->item.sk.len &&
                !memcmp(x->pk.p, s->item.pk.p, x->pk.len) &&
                !memcmp(x->sk.p, s->item.sk.p, x->sk.len))
                dst = x; /* same key in this request: the newer record wins */
        }
        if (!dst) {
            if (s->nslots == FP_DYNAMODB_BATCH_MAX) {
                fp_sink_rc rc = flush_slots(s, err);
                if (rc)
                    return rc;
            }
            dst = &s->slots[s->nslots++];
            fp_buf_reset(&dst->pk);
            fp_buf_reset(&dst->sk);
            fp_buf_append(&dst->pk, s->item.pk.p, s->item.pk.len);
            fp_buf_append(&dst->sk, s->item.sk.p, s->item.sk.len);
        }
        fp_buf_reset(&dst->json);
        fp_buf_append(&dst->json, s->item.json.p, s->item.json.len);
    }
    fp_sink_rc rc = flush_slots(s, err);
    if (rc == FP_SINK_OK)
        atomic_fetch_add(&s->ctx->stats->records, n);
    return rc;
}

static fp_sink_rc ddb_flush(void *sp, int64_t now_ms, bool closing, fp_err *err)
{
    return FP_SINK_OK; /* put() is synchronous: nothing is ever held */
}

static int64_t ddb_uncommitted_from(void *sp, const char *topic, int32_t partition)
{
    return INT64_MAX;
}

static void ddb_close(void *sp, const char *topic, int32_t partition) {}

static const char *const ddb_aliases[] = {"io.fleetpipe.connect.DynamoDbSinkConnector", NULL};

const fp_sink_plugin fp_sink_dynamodb = {
    "dynamodb",
    ddb_aliases,
    "one item per record into a DynamoDB single table (pk, sk) with BatchWriteItem, idempotent",
    ddb_defs,
    "  Item: the record's fields as attributes; pk and sk (non-empty strings) are the key, made\n"
    "  by transforms (InsertFieldInStringTemplate, ReplaceField renames, TimestampConverter).\n"
    "  JSON -> AttributeValue: string S, number N (exact digits), bool BOOL, null NULL,\n"
    "  object M, array L. Dead letters: missing/non-string/empty pk or sk, item over 400 KB,\n"
    "  numbers DynamoDB cannot store, nesting over 32. Batches of 25, duplicate keys in one\n"
    "  request resolved newest-wins, UnprocessedItems resent with backoff until done.",
    ddb_create,
    ddb_open,
    ddb_check,
    ddb_put,
    ddb_flush,
    ddb_uncommitted_from,
    ddb_close,
    ddb_destroy,
    NULL,  /* commit_metadata */
    NULL,  /* restore */
    NULL,  /* hold */
    NULL,  /* raw */
    false, /* members */
};
