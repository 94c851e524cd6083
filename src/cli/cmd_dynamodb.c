/* cmd_dynamodb.c — `fleetpipe dynamodb create-table` (the single table the dynamodb sink writes
 * to: pk S HASH, sk S RANGE, on demand) and `fleetpipe dynamodb scan` (count or dump its items,
 * for checking what a connector wrote; tests use it because curl cannot sign requests).
 *
 * Flags and printing only: the protocol, the wait for ACTIVE and the pagination are
 * aws/dynamodb.h's, so they work against AWS and local stand-ins (dynalite) alike; credentials
 * as the AWS CLI finds them. Single-threaded, short-lived: everything is freed before returning.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/dynamodb.h"
#include "cli/cli.h"
#include "cli/sig.h"

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
    fp_aws_dynamodb_opts ao = {
        .region = o->region,
        .endpoint = o->endpoint,
        .profile = o->profile,
        .no_region_msg = "no region: give --region or set AWS_REGION or AWS_DEFAULT_REGION",
        .max_attempts = 6,
        .stop = fp_sig_token(),
    };
    return fp_aws_dynamodb_client_new(&ao, out, err);
}

static int fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return 1;
}

/* ---- create-table ----------------------------------------------------------------------- */

static int run_create(const fp_cmd *cmd, void *opts)
{
    ddb_cli_opts *o = opts;
    fp_err err = {0};
    fp_aws_client *cl = NULL;
    if (client_for(o, &cl, &err))
        return fp_cli_fail(cmd, &err);
    fp_aws_dynamodb_table_opts to = {
        .table = o->table, .ttl_attr = o->ttl_attr, .wait_ms = o->wait_ms, .stop = fp_sig_token()};
    fp_aws_dynamodb_table_result res;
    fp_code rc = fp_aws_dynamodb_create_table(cl, &to, &res, &err);
    fp_aws_client_free(cl);
    if (res.active)
        printf("table %s %s (pk S HASH, sk S RANGE, on demand), ACTIVE\n", o->table,
               res.existed ? "already exists" : "created");
    switch (res.ttl) {
    case FP_AWS_DYNAMODB_TTL_ENABLED:
        printf("TTL enabled on attribute %s\n", o->ttl_attr);
        break;
    case FP_AWS_DYNAMODB_TTL_UNSUPPORTED:
        printf("TTL NOT enabled: this endpoint does not implement UpdateTimeToLive (dynalite "
               "does not); items still carry %s, and DynamoDB proper would expire them\n",
               o->ttl_attr);
        break;
    case FP_AWS_DYNAMODB_TTL_ALREADY:
        printf("TTL already enabled on attribute %s\n", o->ttl_attr);
        break;
    case FP_AWS_DYNAMODB_TTL_NONE:
        break;
    }
    return rc ? fail(cmd, &err) : 0;
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

/* One item as one line of DynamoDB JSON, keys sorted; stdout errors show at the final fflush. */
static fp_code print_item(const json_t *item, void *arg, fp_err *err)
{
    char *line = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
    puts(line);
    free(line);
    return FP_OK;
}

static int run_scan(const fp_cmd *cmd, void *opts)
{
    ddb_cli_opts *o = opts;
    fp_err err = {0};
    fp_aws_client *cl = NULL;
    if (client_for(o, &cl, &err))
        return fp_cli_fail(cmd, &err);
    int64_t count = 0;
    int exit_code = 0;
    if (fp_aws_dynamodb_scan(cl, o->table, o->count, print_item, NULL, &count, &err))
        exit_code = fail(cmd, &err);
    fp_aws_client_free(cl);
    if (!exit_code && o->count)
        printf("%" PRId64 "\n", count);
    if (fflush(stdout)) {
        fprintf(stderr, "fleetpipe %s: writing stdout failed\n", cmd->name);
        exit_code = 1;
    }
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
