/* test_aws_client.c — the parts of the AWS HTTP client that need no server: full-jitter backoff
 * bounds, which error codes count as throttling, percent-encoding of S3 keys, and endpoint
 * validation (the request paths run against s3rver and dynalite in the integration tests,
 * behind a proxy that verifies every signature and injects faults). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws/client.h"

static void test_throttle_codes(void **state)
{
    (void)state;
    const char *yes[] = {"ThrottlingException", "ProvisionedThroughputExceededException",
                         "RequestLimitExceeded", "SlowDown", "TooManyRequestsException"};
    const char *no[] = {"ValidationException",       "AccessDenied", "SignatureDoesNotMatch",
                        "ResourceNotFoundException", "NoSuchKey",    ""};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!fp_aws_code_is_throttle(yes[i]))
            fail_msg("%s not throttling", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (fp_aws_code_is_throttle(no[i]))
            fail_msg("%s taken for throttling", no[i]);
}

static void test_uri_encode(void **state)
{
    (void)state;
    fp_buf b = FP_BUF_INIT;
    const char key[] = "raw/fms.vehicle/dt=2026-01-01/a b+c~_-.jsonl\xc3\xa9";
    fp_aws_uri_encode(&b, key, strlen(key), 1);
    assert_string_equal(b.p, "raw/fms.vehicle/dt%3D2026-01-01/a%20b%2Bc~_-.jsonl%C3%A9");
    fp_buf_reset(&b);
    fp_aws_uri_encode(&b, "a/b", 3, 0);
    assert_string_equal(b.p, "a%2Fb");
    fp_buf_free(&b);
}

static void test_endpoints(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-that-must-not-leak", 1);
    const char *bad[] = {"127.0.0.1:4567", "ftp://x",          "http://",
                         "http://h/path",  "http://user:pw@h", "https://h?x=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_aws_opts o = {.service = "dynamodb", .region = "us-east-1", .endpoint = bad[i]};
        fp_aws_client *c = NULL;
        fp_err err = {0};
        if (fp_aws_client_new(&o, &c, &err) != FP_ERR_CONFIG)
            fail_msg("endpoint '%s' accepted", bad[i]);
        assert_null(strstr(err.msg, "secret-that-must-not-leak"));
    }
    fp_aws_opts o = {.service = "s3", .region = "", .endpoint = "http://127.0.0.1:1"};
    fp_aws_client *c = NULL;
    assert_int_equal(fp_aws_client_new(&o, &c, NULL), FP_ERR_CONFIG);
    o.region = "eu-west-1";
    o.endpoint = "http://127.0.0.1:9/";
    assert_int_equal(fp_aws_client_new(&o, &c, NULL), FP_OK);
    assert_string_equal(fp_aws_client_host(c), "127.0.0.1:9");
    /* Nobody listens on port 9: a network error, retried, then FP_ERR_IO. */
    o.max_attempts = 2;
    fp_aws_client_free(c);
    assert_int_equal(fp_aws_client_new(&o, &c, NULL), FP_OK);
    fp_aws_req r = {.method = "GET", .op = "GetObject", .path = "/b/k", .body_fd = -1};
    fp_aws_resp resp = {0};
    fp_err err = {0};
    assert_int_equal(fp_aws_call(c, &r, &resp, &err), FP_ERR_IO);
    assert_non_null(strstr(err.msg, "gave up after 2 attempts"));
    assert_null(strstr(err.msg, "secret-that-must-not-leak"));
    assert_int_equal(fp_aws_client_stats(c)->retries, 1);
    fp_aws_resp_free(&resp);
    fp_aws_client_free(c);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttle_codes),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
