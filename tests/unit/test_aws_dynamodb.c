/* test_aws_dynamodb.c — aws/dynamodb.h against a small in-process DynamoDB stand-in
 * (libmicrohttpd on loopback): the region order and endpoint default, the two headers of every
 * call, errors that name op, status, code and message, CreateTable on a table that exists (with
 * the sink's key and with another), the wait for ACTIVE, TTL on an endpoint without it, and Scan
 * pagination. The stand-in answers by X-Amz-Target and the table name in the body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "aws/dynamodb.h"

/* ---- the stand-in ----------------------------------------------------------------------- */

typedef struct fake {
    struct MHD_Daemon *d;
    int port;
    char last_target[128], last_type[128];
    int describe_calls;
} fake;

static fake F;

typedef struct upload {
    fp_buf body;
} upload;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/x-amz-json-1.0");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static const char *reply(const char *op, json_t *req, unsigned *status)
{
    const char *table = json_string_value(json_object_get(req, "TableName"));
    *status = 200;
    if (!table) {
        *status = 400;
        return "{\"__type\":\"com.amazon.coral.validate#ValidationException\",\"message\":"
               "\"no table\"}";
    }
    if (!strcmp(op, "CreateTable")) {
        if (!strcmp(table, "exists") || !strcmp(table, "otherkey")) {
            *status = 400;
            return "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceInUseException\","
                   "\"message\":\"Table already exists: x\"}";
        }
        return "{\"TableDescription\":{\"TableStatus\":\"CREATING\"}}";
    }
    if (!strcmp(op, "DescribeTable")) {
        if (!strcmp(table, "otherkey"))
            return "{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":[{\"AttributeName\":"
                   "\"id\",\"KeyType\":\"HASH\"}]}}";
        F.describe_calls++;
        if (!strcmp(table, "slow") || F.describe_calls < 3)
            return "{\"Table\":{\"TableStatus\":\"CREATING\",\"KeySchema\":[{\"AttributeName\":"
                   "\"pk\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"sk\",\"KeyType\":"
                   "\"RANGE\"}]}}";
        return "{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":[{\"AttributeName\":\"pk\","
               "\"KeyType\":\"HASH\"},{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}]}}";
    }
    if (!strcmp(op, "UpdateTimeToLive")) {
        *status = 400;
        return "{\"__type\":\"com.amazonaws.dynamodb.v20120810#UnknownOperationException\"}";
    }
    if (!strcmp(op, "Scan")) {
        if (!strcmp(table, "garbled"))
            return "not json";
        if (json_object_get(req, "ExclusiveStartKey"))
            return "{\"Count\":1,\"Items\":[{\"pk\":{\"S\":\"c\"}}]}";
        return "{\"Count\":2,\"Items\":[{\"pk\":{\"S\":\"a\"}},{\"pk\":{\"S\":\"b\"}}],"
               "\"LastEvaluatedKey\":{\"pk\":{\"S\":\"b\"}}}";
    }
    *status = 400;
    return "{\"__type\":\"com.amazonaws.dynamodb.v20120810#UnknownOperationException\"}";
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
    upload *u = *con_cls;
    if (!u) {
        *con_cls = fp_xcalloc(1, sizeof *u);
        return MHD_YES;
    }
    if (*data_size) {
        fp_buf_append(&u->body, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    const char *target = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target");
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    snprintf(F.last_target, sizeof F.last_target, "%s", target ? target : "");
    snprintf(F.last_type, sizeof F.last_type, "%s", type ? type : "");
    const char *dot = target ? strchr(target, '.') : NULL;
    json_t *req = json_loadb(u->body.p ? u->body.p : "", u->body.len, 0, NULL);
    unsigned status;
    const char *body = reply(dot ? dot + 1 : "", req, &status);
    json_decref(req);
    return answer(c, status, body);
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    upload *u = *con_cls;
    if (u) {
        fp_buf_free(&u->body);
        free(u);
    }
    *con_cls = NULL;
}

static int setup(void **state)
{
    F.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, NULL,
                           MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    if (!F.d)
        return -1;
    F.port = MHD_get_daemon_info(F.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    return 0;
}

static int teardown(void **state)
{
    MHD_stop_daemon(F.d);
    return 0;
}

static fp_aws_client *client(void)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", F.port);
    fp_aws_dynamodb_opts o = {.region = "us-east-1", .endpoint = ep, .max_attempts = 1};
    fp_aws_client *c = NULL;
    fp_err err = {0};
    if (fp_aws_dynamodb_client_new(&o, &c, &err))
        fail_msg("client: %s", err.msg);
    return c;
}

/* ---- cases ------------------------------------------------------------------------------ */

static void test_region_and_endpoint(void **state)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    assert_null(fp_aws_region(NULL));
    assert_null(fp_aws_region(""));
    assert_string_equal(fp_aws_region("eu-west-1"), "eu-west-1");
    setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
    assert_string_equal(fp_aws_region(""), "us-west-2");
    setenv("AWS_REGION", "ap-south-1", 1);
    assert_string_equal(fp_aws_region(NULL), "ap-south-1");
    assert_string_equal(fp_aws_region("eu-west-1"), "eu-west-1");
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");

    fp_buf b = FP_BUF_INIT;
    fp_aws_dynamodb_endpoint("", "eu-central-1", &b);
    assert_string_equal(b.p, "https://dynamodb.eu-central-1.amazonaws.com");
    fp_buf_reset(&b);
    fp_aws_dynamodb_endpoint("http://127.0.0.1:4567", "eu-central-1", &b);
    assert_string_equal(b.p, "http://127.0.0.1:4567");
    fp_buf_free(&b);

    /* No region anywhere: FP_ERR_CONFIG with the caller's text, or the default one. */
    fp_aws_dynamodb_opts o = {.no_region_msg = "give --region"};
    fp_aws_client *c = NULL;
    fp_err err = {0};
    assert_int_equal(fp_aws_dynamodb_client_new(&o, &c, &err), FP_ERR_CONFIG);
    assert_null(c);
    assert_string_equal(err.msg, "give --region");
    o.no_region_msg = NULL;
    assert_int_equal(fp_aws_dynamodb_client_new(&o, &c, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_DEFAULT_REGION"));
}

static void test_call(void **state)
{
    fp_aws_client *c = client();
    fp_aws_resp resp = {0};
    json_t *ans = NULL;
    fp_err err = {0};
    static const char scan[] = "{\"TableName\":\"t\"}";
    assert_int_equal(fp_aws_dynamodb_call(c, "Scan", scan, strlen(scan), &resp, &ans, &err), FP_OK);
    assert_string_equal(F.last_target, "DynamoDB_20120810.Scan");
    assert_string_equal(F.last_type, "application/x-amz-json-1.0");
    assert_int_equal(json_integer_value(json_object_get(ans, "Count")), 2);
    json_decref(ans);

    /* A final error names op, status, the code and the server's message. */
    json_t *body = json_object();
    assert_int_equal(fp_aws_dynamodb_call_json(c, "Scan", body, &resp, &ans, &err), FP_ERR_INVALID);
    assert_null(ans);
    assert_string_equal(resp.code, "ValidationException");
    assert_non_null(strstr(err.msg, "Scan"));
    assert_non_null(strstr(err.msg, "HTTP 400"));
    assert_non_null(strstr(err.msg, "ValidationException: no table"));

    /* A 2xx answer that is not JSON: FP_ERR_IO (worth retrying), naming the op. */
    json_object_set_new(body, "TableName", json_string("garbled"));
    assert_int_equal(fp_aws_dynamodb_call_json(c, "Scan", body, &resp, &ans, &err), FP_ERR_IO);
    assert_null(ans);
    assert_non_null(strstr(err.msg, "dynamodb Scan: unreadable answer"));
    json_decref(body);
    fp_aws_resp_free(&resp);
    fp_aws_client_free(c);
}

static void test_create_table(void **state)
{
    fp_aws_client *c = client();
    fp_aws_dynamodb_table_result res;
    fp_err err = {0};

    /* Created, ACTIVE after a few polls; TTL on an endpoint without UpdateTimeToLive. */
    F.describe_calls = 0;
    fp_aws_dynamodb_table_opts o = {.table = "fresh", .ttl_attr = "expires", .wait_ms = 10000};
    assert_int_equal(fp_aws_dynamodb_create_table(c, &o, &res, &err), FP_OK);
    assert_false(res.existed);
    assert_true(res.active);
    assert_int_equal(res.ttl, FP_AWS_DYNAMODB_TTL_UNSUPPORTED);
    assert_int_equal(F.describe_calls, 3);

    /* Already there with the sink's key: fine; no TTL asked for. */
    F.describe_calls = 10;
    o = (fp_aws_dynamodb_table_opts){.table = "exists", .wait_ms = 10000};
    assert_int_equal(fp_aws_dynamodb_create_table(c, &o, &res, &err), FP_OK);
    assert_true(res.existed);
    assert_true(res.active);
    assert_int_equal(res.ttl, FP_AWS_DYNAMODB_TTL_NONE);

    /* Already there with another key: a config error naming the table. */
    o.table = "otherkey";
    assert_int_equal(fp_aws_dynamodb_create_table(c, &o, &res, &err), FP_ERR_CONFIG);
    assert_false(res.active);
    assert_non_null(strstr(err.msg, "table otherkey exists with another key"));

    /* Never ACTIVE: FP_ERR_IO after wait_ms, naming the status. */
    o = (fp_aws_dynamodb_table_opts){.table = "slow", .wait_ms = 250};
    assert_int_equal(fp_aws_dynamodb_create_table(c, &o, &res, &err), FP_ERR_IO);
    assert_false(res.active);
    assert_non_null(strstr(err.msg, "table slow is still CREATING after 250 ms"));

    /* A requested stop ends the wait at once. */
    fp_stop stop = FP_STOP_INIT;
    fp_stop_request(&stop);
    o = (fp_aws_dynamodb_table_opts){.table = "slow", .wait_ms = 60000, .stop = &stop};
    assert_int_equal(fp_aws_dynamodb_create_table(c, &o, &res, &err), FP_ERR_IO);
    assert_non_null(strstr(err.msg, "stopped while waiting for table slow"));
    fp_aws_client_free(c);
}

typedef struct seen {
    fp_buf pks;
    int n, stop_after;
} seen;

static fp_code on_item(const json_t *item, void *arg, fp_err *err)
{
    seen *s = arg;
    json_t *pk = json_object_get(json_object_get(item, "pk"), "S");
    fp_buf_puts(&s->pks, json_string_value(pk));
    if (++s->n == s->stop_after)
        return fp_err_set(err, FP_ERR_IO, "enough");
    return FP_OK;
}

static void test_scan(void **state)
{
    fp_aws_client *c = client();
    fp_err err = {0};
    seen s = {FP_BUF_INIT, 0, 0};
    int64_t count = -1;
    assert_int_equal(fp_aws_dynamodb_scan(c, "t", false, on_item, &s, &count, &err), FP_OK);
    assert_string_equal(s.pks.p, "abc"); /* both pages, in order */
    assert_int_equal(count, 3);

    /* The callback's error ends the scan with its code and message. */
    fp_buf_reset(&s.pks);
    s.n = 0;
    s.stop_after = 2;
    assert_int_equal(fp_aws_dynamodb_scan(c, "t", false, on_item, &s, NULL, &err), FP_ERR_IO);
    assert_string_equal(s.pks.p, "ab");
    assert_string_equal(err.msg, "enough");

    /* Server errors come back as the call's. */
    assert_int_equal(fp_aws_dynamodb_scan(c, "garbled", true, NULL, NULL, &count, &err), FP_ERR_IO);
    assert_non_null(strstr(err.msg, "unreadable answer"));
    fp_buf_free(&s.pks);
    fp_aws_client_free(c);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_and_endpoint),
        cmocka_unit_test(test_call),
        cmocka_unit_test(test_create_table),
        cmocka_unit_test(test_scan),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
