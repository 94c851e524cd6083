/* test_aws_dynamodb.c — aws/dynamodb.h without a server: the region order, the endpoint
 * default and the no-region errors. Calls, CreateTable (new, existing) and Scan run against
 * dynalite in tests/integration/dynamodb_sink.sh and dynamodb_faults.sh (through the fault
 * proxy): a DynamoDB stand-in here would only test our idea of DynamoDB.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/dynamodb.h"

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

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_and_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
