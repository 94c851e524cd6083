/* dynamodb.c — see dynamodb.h. Every call goes through fp_aws_call(), so signing, retries and
 * the error texts (op, status, code, the server's message) are the client's; this file adds the
 * JSON protocol's two headers, the parse of the answer and the table operations' loops.
 */
#include "aws/dynamodb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"

void fp_aws_dynamodb_endpoint(const char *endpoint, const char *region, fp_buf *out)
{
    if (endpoint && *endpoint)
        fp_buf_puts(out, endpoint);
    else
        fp_buf_printf(out, "https://dynamodb.%s.amazonaws.com", region);
}

fp_code fp_aws_dynamodb_client_new(const fp_aws_dynamodb_opts *o, fp_aws_client **out, fp_err *err)
{
    *out = NULL;
    const char *region = fp_aws_region(o->region);
    if (!region)
        return fp_err_set(err, FP_ERR_CONFIG, "%s",
                          o->no_region_msg ? o->no_region_msg
                                           : "no region: set AWS_REGION or AWS_DEFAULT_REGION");
    fp_buf ep = FP_BUF_INIT;
    fp_aws_dynamodb_endpoint(o->endpoint, region, &ep);
    fp_aws_opts ao = {
        .service = "dynamodb",
        .region = region,
        .endpoint = ep.p,
        .profile = o->profile && *o->profile ? o->profile : NULL,
        .max_attempts = o->max_attempts,
        .base_delay_ms = o->base_delay_ms,
        .max_delay_ms = o->max_delay_ms,
        .timeout_ms = o->timeout_ms,
        .stop = o->stop,
    };
    fp_code rc = fp_aws_client_new(&ao, out, err);
    fp_buf_free(&ep);
    return rc;
}

fp_code fp_aws_dynamodb_call(fp_aws_client *cl, const char *op, const char *body, size_t n,
                             fp_aws_resp *resp, json_t **ans, fp_err *err)
{
    char target[96];
    snprintf(target, sizeof target, "DynamoDB_20120810.%s", op);
    const fp_sigv4_header h[] = {{"Content-Type", "application/x-amz-json-1.0"},
                                 {"X-Amz-Target", target}};
    fp_aws_req r = {.method = "POST",
                    .op = op,
                    .path = "/",
                    .headers = h,
                    .nheaders = 2,
                    .body = body,
                    .body_fd = -1,
                    .body_len = n};
    *ans = NULL;
    fp_code rc = fp_aws_call(cl, &r, resp, err);
    if (rc)
        return rc;
    json_error_t je;
    *ans = json_loadb(resp->body.p ? resp->body.p : "", resp->body.len, 0, &je);
    if (!*ans)
        return fp_err_set(err, FP_ERR_IO, "dynamodb %s: unreadable answer: %s", op, je.text);
    return FP_OK;
}

fp_code fp_aws_dynamodb_call_json(fp_aws_client *cl, const char *op, const json_t *body,
                                  fp_aws_resp *resp, json_t **ans, fp_err *err)
{
    *ans = NULL;
    char *txt = json_dumps(body, JSON_COMPACT);
    if (!txt)
        return fp_err_set(err, FP_ERR_INTERNAL, "dynamodb %s: cannot encode the request", op);
    fp_code rc = fp_aws_dynamodb_call(cl, op, txt, strlen(txt), resp, ans, err);
    free(txt);
    return rc;
}

/* ---- create-table ----------------------------------------------------------------------- */

/* Whether a described table's key is (pk S HASH, sk S RANGE). */
static bool key_is_pk_sk(json_t *table)
{
    json_t *ks = json_object_get(table, "KeySchema");
    bool hash = false, range = false;
    size_t i;
    json_t *k;
    json_array_foreach(ks, i, k)
    {
        const char *n = json_string_value(json_object_get(k, "AttributeName"));
        const char *t = json_string_value(json_object_get(k, "KeyType"));
        if (n && t && !strcmp(n, "pk") && !strcmp(t, "HASH"))
            hash = true;
        else if (n && t && !strcmp(n, "sk") && !strcmp(t, "RANGE"))
            range = true;
    }
    return hash && range && json_array_size(ks) == 2;
}

/* DescribeTable until ACTIVE, checking an existing table's key. */
static fp_code wait_active(fp_aws_client *cl, const fp_aws_dynamodb_table_opts *o, bool existed,
                           fp_aws_resp *resp, fp_err *err)
{
    int64_t until = fp_time_mono_ms() + o->wait_ms;
    json_t *body = json_pack("{ss}", "TableName", o->table);
    json_t *ans = NULL;
    fp_code rc;
    for (int i = 0;; i++) {
        json_decref(ans);
        rc = fp_aws_dynamodb_call_json(cl, "DescribeTable", body, resp, &ans, err);
        if (rc)
            break;
        json_t *t = json_object_get(ans, "Table");
        if (existed && !key_is_pk_sk(t)) {
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "table %s exists with another key; the dynamodb sink needs pk (S, "
                            "HASH) and sk (S, RANGE)",
                            o->table);
            break;
        }
        const char *status = json_string_value(json_object_get(t, "TableStatus"));
        if (status && !strcmp(status, "ACTIVE"))
            break;
        if (fp_time_mono_ms() > until) {
            rc = fp_err_set(err, FP_ERR_IO, "table %s is still %s after %" PRId64 " ms", o->table,
                            status ? status : "?", o->wait_ms);
            break;
        }
        if (!fp_stop_sleep_ms(o->stop, i < 10 ? 100 : 1000)) {
            rc = fp_err_set(err, FP_ERR_IO, "stopped while waiting for table %s", o->table);
            break;
        }
    }
    json_decref(ans);
    json_decref(body);
    return rc;
}

/* UpdateTimeToLive; an endpoint without it, or TTL on already, is not an error. */
static fp_code enable_ttl(fp_aws_client *cl, const fp_aws_dynamodb_table_opts *o, fp_aws_resp *resp,
                          fp_aws_dynamodb_ttl *ttl, fp_err *err)
{
    json_t *body = json_pack("{ss s{sbss}}", "TableName", o->table, "TimeToLiveSpecification",
                             "Enabled", 1, "AttributeName", o->ttl_attr);
    json_t *ans = NULL;
    fp_code rc = fp_aws_dynamodb_call_json(cl, "UpdateTimeToLive", body, resp, &ans, err);
    json_decref(body);
    json_decref(ans);
    if (!rc) {
        *ttl = FP_AWS_DYNAMODB_TTL_ENABLED;
    } else if (!strcmp(resp->code, "UnknownOperationException")) {
        *ttl = FP_AWS_DYNAMODB_TTL_UNSUPPORTED;
        rc = FP_OK;
    } else if (err && strstr(err->msg, "already enabled")) {
        *ttl = FP_AWS_DYNAMODB_TTL_ALREADY;
        rc = FP_OK;
    }
    return rc;
}

fp_code fp_aws_dynamodb_create_table(fp_aws_client *cl, const fp_aws_dynamodb_table_opts *o,
                                     fp_aws_dynamodb_table_result *out, fp_err *err)
{
    *out = (fp_aws_dynamodb_table_result){0};
    fp_aws_resp resp = {0};
    json_t *ans = NULL;
    json_t *body = json_pack("{ss s[{ssss}{ssss}] s[{ssss}{ssss}] ss}", "TableName", o->table,
                             "AttributeDefinitions", "AttributeName", "pk", "AttributeType", "S",
                             "AttributeName", "sk", "AttributeType", "S", "KeySchema",
                             "AttributeName", "pk", "KeyType", "HASH", "AttributeName", "sk",
                             "KeyType", "RANGE", "BillingMode", "PAY_PER_REQUEST");
    fp_code rc = fp_aws_dynamodb_call_json(cl, "CreateTable", body, &resp, &ans, err);
    json_decref(body);
    json_decref(ans);
    if (rc && !strcmp(resp.code, "ResourceInUseException")) {
        out->existed = true;
        rc = FP_OK;
    }
    if (!rc)
        rc = wait_active(cl, o, out->existed, &resp, err);
    if (!rc) {
        out->active = true;
        if (o->ttl_attr && *o->ttl_attr)
            rc = enable_ttl(cl, o, &resp, &out->ttl, err);
    }
    fp_aws_resp_free(&resp);
    return rc;
}

/* ---- scan ------------------------------------------------------------------------------- */

fp_code fp_aws_dynamodb_scan(fp_aws_client *cl, const char *table, bool count_only,
                             fp_aws_dynamodb_item_fn on_item, void *arg, int64_t *count,
                             fp_err *err)
{
    json_t *body = json_pack("{ss}", "TableName", table);
    if (count_only)
        json_object_set_new(body, "Select", json_string("COUNT"));
    fp_code rc =
        fp_aws_dynamodb_pages(cl, "Scan", body, count_only ? NULL : on_item, arg, count, err);
    json_decref(body);
    return rc;
}

fp_code fp_aws_dynamodb_pages(fp_aws_client *cl, const char *op, const json_t *request,
                              fp_aws_dynamodb_item_fn on_item, void *arg, int64_t *count,
                              fp_err *err)
{
    fp_aws_resp resp = {0};
    json_t *ans = NULL, *start = NULL;
    int64_t total = 0;
    fp_code rc = FP_OK;
    for (;;) {
        json_t *body = json_deep_copy(request);
        if (start)
            json_object_set(body, "ExclusiveStartKey", start);
        json_decref(start);
        start = NULL;
        json_decref(ans);
        ans = NULL;
        rc = fp_aws_dynamodb_call_json(cl, op, body, &resp, &ans, err);
        json_decref(body);
        if (rc)
            break;
        total += json_integer_value(json_object_get(ans, "Count"));
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(ans, "Items"), i, it)
        {
            if (on_item)
                rc = on_item(it, arg, err);
            if (rc)
                break;
        }
        if (rc)
            break;
        start = json_object_get(ans, "LastEvaluatedKey");
        if (!start)
            break;
        json_incref(start);
    }
    if (count)
        *count = total;
    json_decref(ans);
    fp_aws_resp_free(&resp);
    return rc;
}
