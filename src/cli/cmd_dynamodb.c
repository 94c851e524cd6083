/* cmd_dynamodb.c — `fleetpipe dynamodb create-table` (the single table the dynamodb sink writes
 * to: pk S HASH, sk S RANGE, on demand) and `fleetpipe dynamodb scan` (count or dump its items,
 * for checking what a connector wrote; tests use it because curl cannot sign requests).
 *
 * Both speak DynamoDB's JSON protocol through the signed AWS client (aws/client.h), so they
 * work against AWS and local stand-ins (dynalite) alike; credentials as the AWS CLI finds them.
 * Single-threaded, short-lived: everything is freed before returning.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/client.h"
#include "cli/cli.h"
#include "cli/sig.h"
#include "core/mem.h"
#include "core/time.h"

typedef struct ddb_cli_opts {
    char *table, *endpoint, *region, *profile, *ttl_attr;
    int64_t wait_ms;
    bool count;
} ddb_cli_opts;

#define COMMON_FLAGS                                                                               \
    {"table", FP_CONF_STRING, NULL, offsetof(ddb_cli_opts, table), "table name", NULL, 0, 0},      \
        {"endpoint",                                                                               \
         FP_CONF_STRING,                                                                           \
         "",                                                                                       \
         offsetof(ddb_cli_opts, endpoint),                                                         \
         "http(s)://host[:port]; default https://dynamodb.<region>.amazonaws.com",                 \
         NULL,                                                                                     \
         0,                                                                                        \
         0},                                                                                       \
        {"region",                                                                                 \
         FP_CONF_STRING,                                                                           \
         "",                                                                                       \
         offsetof(ddb_cli_opts, region),                                                           \
         "AWS region; default AWS_REGION, then AWS_DEFAULT_REGION",                                \
         NULL,                                                                                     \
         0,                                                                                        \
         0},                                                                                       \
    {                                                                                              \
        "profile", FP_CONF_STRING, "", offsetof(ddb_cli_opts, profile),                            \
            "credentials profile when the environment has no keys", NULL, 0, 0                     \
    }

static const fp_conf_def create_flags[] = {
    COMMON_FLAGS,
    {"ttl-attribute", FP_CONF_STRING, "", offsetof(ddb_cli_opts, ttl_attr),
     "enable TTL on this attribute (UpdateTimeToLive)", NULL, 0, 0},
    {"wait", FP_CONF_MS, "60s", offsetof(ddb_cli_opts, wait_ms),
     "how long to wait for the table to become ACTIVE", NULL, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static const fp_conf_def scan_flags[] = {
    COMMON_FLAGS,
    {"count", FP_CONF_BOOL, NULL, offsetof(ddb_cli_opts, count),
     "print only the number of items (Select COUNT)", NULL, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static fp_code client_for(const ddb_cli_opts *o, fp_aws_client **out, fp_err *err)
{
    const char *region = o->region;
    if (!*region)
        region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    if (!region || !*region)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "no region: give --region or set AWS_REGION or AWS_DEFAULT_REGION");
    fp_buf ep = FP_BUF_INIT;
    if (*o->endpoint)
        fp_buf_puts(&ep, o->endpoint);
    else
        fp_buf_printf(&ep, "https://dynamodb.%s.amazonaws.com", region);
    fp_aws_opts ao = {.service = "dynamodb",
                      .region = region,
                      .endpoint = ep.p,
                      .profile = *o->profile ? o->profile : NULL,
                      .max_attempts = 6,
                      .stop = fp_sig_token()};
    fp_code rc = fp_aws_client_new(&ao, out, err);
    fp_buf_free(&ep);
    return rc;
}

/* One DynamoDB JSON call: body in, parsed answer out (*ans, NULL on error; resp keeps the
 * error code). */
static fp_code call(fp_aws_client *cl, const char *op, json_t *body, json_t **ans,
                    fp_aws_resp *resp, fp_err *err)
{
    char target[96];
    snprintf(target, sizeof target, "DynamoDB_20120810.%s", op);
    fp_sigv4_header h[] = {{"Content-Type", "application/x-amz-json-1.0"},
                           {"X-Amz-Target", target}};
    char *txt = json_dumps(body, JSON_COMPACT);
    fp_aws_req r = {.method = "POST",
                    .op = op,
                    .path = "/",
                    .headers = h,
                    .nheaders = 2,
                    .body = txt,
                    .body_fd = -1,
                    .body_len = strlen(txt)};
    *ans = NULL;
    fp_code rc = fp_aws_call(cl, &r, resp, err);
    free(txt);
    if (rc)
        return rc;
    json_error_t je;
    *ans = json_loadb(resp->body.p ? resp->body.p : "", resp->body.len, 0, &je);
    if (!*ans)
        return fp_err_set(err, FP_ERR_IO, "dynamodb %s: unreadable answer: %s", op, je.text);
    return FP_OK;
}

static int fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return 1;
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

static int run_create(const fp_cmd *cmd, void *opts)
{
    ddb_cli_opts *o = opts;
    fp_err err = {0};
    fp_aws_client *cl = NULL;
    if (client_for(o, &cl, &err))
        return fp_cli_fail(cmd, &err);
    fp_aws_resp resp = {0};
    json_t *ans = NULL;
    int exit_code = 1;
    json_t *body = json_pack("{ss s[{ssss}{ssss}] s[{ssss}{ssss}] ss}", "TableName", o->table,
                             "AttributeDefinitions", "AttributeName", "pk", "AttributeType", "S",
                             "AttributeName", "sk", "AttributeType", "S", "KeySchema",
                             "AttributeName", "pk", "KeyType", "HASH", "AttributeName", "sk",
                             "KeyType", "RANGE", "BillingMode", "PAY_PER_REQUEST");
    fp_code rc = call(cl, "CreateTable", body, &ans, &resp, &err);
    json_decref(body);
    bool existed = false;
    if (rc && !strcmp(resp.code, "ResourceInUseException")) {
        existed = true;
        rc = FP_OK;
    }
    if (rc) {
        fail(cmd, &err);
        goto done;
    }
    json_decref(ans);
    ans = NULL;

    /* Wait until ACTIVE (and check an existing table's key). */
    int64_t until = fp_time_mono_ms() + o->wait_ms;
    const char *status = "";
    body = json_pack("{ss}", "TableName", o->table);
    for (int i = 0;; i++) {
        json_decref(ans);
        rc = call(cl, "DescribeTable", body, &ans, &resp, &err);
        if (rc)
            break;
        json_t *t = json_object_get(ans, "Table");
        if (existed && !key_is_pk_sk(t)) {
            rc = fp_err_set(&err, FP_ERR_CONFIG,
                            "table %s exists with another key; the dynamodb sink needs pk (S, "
                            "HASH) and sk (S, RANGE)",
                            o->table);
            break;
        }
        status = json_string_value(json_object_get(t, "TableStatus"));
        if (status && !strcmp(status, "ACTIVE"))
            break;
        if (fp_time_mono_ms() > until) {
            rc = fp_err_set(&err, FP_ERR_IO, "table %s is still %s after %" PRId64 " ms", o->table,
                            status ? status : "?", o->wait_ms);
            break;
        }
        if (!fp_stop_sleep_ms(fp_sig_token(), i < 10 ? 100 : 1000)) {
            rc = fp_err_set(&err, FP_ERR_IO, "stopped while waiting for table %s", o->table);
            break;
        }
    }
    json_decref(body);
    if (rc) {
        fail(cmd, &err);
        goto done;
    }
    printf("table %s %s (pk S HASH, sk S RANGE, on demand), ACTIVE\n", o->table,
           existed ? "already exists" : "created");
    exit_code = 0;

    if (*o->ttl_attr) {
        json_decref(ans);
        ans = NULL;
        body = json_pack("{ss s{sbss}}", "TableName", o->table, "TimeToLiveSpecification",
                         "Enabled", 1, "AttributeName", o->ttl_attr);
        rc = call(cl, "UpdateTimeToLive", body, &ans, &resp, &err);
        json_decref(body);
        if (!rc) {
            printf("TTL enabled on attribute %s\n", o->ttl_attr);
        } else if (!strcmp(resp.code, "UnknownOperationException")) {
            printf("TTL NOT enabled: this endpoint does not implement UpdateTimeToLive (dynalite "
                   "does not); items still carry %s, and DynamoDB proper would expire them\n",
                   o->ttl_attr);
        } else if (strstr(err.msg, "already enabled")) {
            printf("TTL already enabled on attribute %s\n", o->ttl_attr);
        } else {
            fail(cmd, &err);
            exit_code = 1;
        }
    }
done:
    json_decref(ans);
    fp_aws_resp_free(&resp);
    fp_aws_client_free(cl);
    return exit_code;
}

const fp_cmd fp_cmd_dynamodb_create_table = {
    "dynamodb create-table",
    "create the single DynamoDB table (pk, sk) the dynamodb sink writes to",
    "usage: fleetpipe dynamodb create-table --table T [--endpoint URL] [--region R]\n"
    "                                       [--ttl-attribute A]\n\n"
    "CreateTable with pk (S, HASH) and sk (S, RANGE), on-demand billing, then waits until the\n"
    "table is ACTIVE. A table that already exists with that key is fine (exit 0); one with\n"
    "another key is an error. --ttl-attribute turns on TTL (UpdateTimeToLive); an endpoint\n"
    "without it (dynalite) is reported and not an error. Credentials as the AWS CLI finds them.",
    create_flags,
    sizeof(ddb_cli_opts),
    run_create,
};

/* ---- scan ------------------------------------------------------------------------------- */

static int run_scan(const fp_cmd *cmd, void *opts)
{
    ddb_cli_opts *o = opts;
    fp_err err = {0};
    fp_aws_client *cl = NULL;
    if (client_for(o, &cl, &err))
        return fp_cli_fail(cmd, &err);
    fp_aws_resp resp = {0};
    json_t *ans = NULL, *start = NULL;
    int64_t count = 0;
    int exit_code = 0;
    for (;;) {
        json_t *body = json_pack("{ss}", "TableName", o->table);
        if (o->count)
            json_object_set_new(body, "Select", json_string("COUNT"));
        if (start)
            json_object_set(body, "ExclusiveStartKey", start);
        json_decref(start);
        start = NULL;
        json_decref(ans);
        fp_code rc = call(cl, "Scan", body, &ans, &resp, &err);
        json_decref(body);
        if (rc) {
            exit_code = fail(cmd, &err);
            break;
        }
        count += json_integer_value(json_object_get(ans, "Count"));
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(ans, "Items"), i, it)
        {
            char *line = json_dumps(it, JSON_COMPACT | JSON_SORT_KEYS);
            puts(line);
            free(line);
        }
        start = json_object_get(ans, "LastEvaluatedKey");
        if (!start)
            break;
        json_incref(start);
    }
    if (!exit_code && o->count)
        printf("%" PRId64 "\n", count);
    if (fflush(stdout)) {
        fprintf(stderr, "fleetpipe %s: writing stdout failed\n", cmd->name);
        exit_code = 1;
    }
    json_decref(ans);
    fp_aws_resp_free(&resp);
    fp_aws_client_free(cl);
    return exit_code;
}

const fp_cmd fp_cmd_dynamodb_scan = {
    "dynamodb scan",
    "count or dump the items of a DynamoDB table (paginated Scan)",
    "usage: fleetpipe dynamodb scan --table T [--endpoint URL] [--region R] [--count]\n\n"
    "Prints every item as one line of DynamoDB JSON ({\"pk\":{\"S\":..},..}, keys sorted), or "
    "with\n"
    "--count only the number of items. Follows LastEvaluatedKey to the end of the table.",
    scan_flags,
    sizeof(ddb_cli_opts),
    run_scan,
};

/* ---- `fleetpipe dynamodb` alone: the list of its subcommands ------------------------------ */

typedef struct ddb_parent_opts {
    int unused;
} ddb_parent_opts;

static const fp_conf_def parent_flags[] = {
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static const char parent_usage[] =
    "usage: fleetpipe dynamodb create-table --table T [--endpoint URL] [--ttl-attribute A]\n"
    "       fleetpipe dynamodb scan --table T [--endpoint URL] [--count]\n\n"
    "The single table (pk S HASH, sk S RANGE) the dynamodb sink writes to, for local use and\n"
    "checks; `fleetpipe help dynamodb create-table` and `fleetpipe help dynamodb scan` give\n"
    "their options. The sink itself: `fleetpipe help connectors`, docs/connect.md.";

static int run_parent(const fp_cmd *cmd, void *opts)
{
    fprintf(stderr, "fleetpipe dynamodb: which subcommand?\n\n%s\n", parent_usage);
    return 2;
}

const fp_cmd fp_cmd_dynamodb = {
    "dynamodb",
    "DynamoDB helpers for the dynamodb sink: create-table, scan",
    parent_usage,
    parent_flags,
    sizeof(ddb_parent_opts),
    run_parent,
};
