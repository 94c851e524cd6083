/* test_aws_creds.c — where AWS credentials come from: the environment first, then a profile of
 * the shared credentials file (argument, AWS_PROFILE, "default"); errors say where it looked
 * and what was missing, never a secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws/creds.h"

static char path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/fp-aws-creds-XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n"
          "[default]\n"
          "aws_access_key_id = AKIDDEFAULT\n"
          "aws_secret_access_key = s3cr3tDEFAULT\n"
          "\n"
          "[fleet]\n"
          "AWS_ACCESS_KEY_ID=AKIDFLEET\n"
          "  aws_secret_access_key =  s3cr3tFLEET  \n"
          "aws_session_token = t0kenFLEET\n"
          "region = ap-northeast-2\n"
          "[broken]\n"
          "aws_access_key_id = AKIDBROKEN\n",
          f);
    fclose(f);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove(path);
    return 0;
}

static void test_profiles(void **state)
{
    (void)state;
    fp_aws_creds_owned o;
    fp_err err = {0};
    assert_int_equal(fp_aws_creds_load(NULL, &o, &err), FP_OK);
    assert_string_equal(o.c.access_key, "AKIDDEFAULT");
    assert_string_equal(o.c.secret_key, "s3cr3tDEFAULT");
    assert_null(o.c.session_token);
    assert_non_null(strstr(o.source, "profile default"));
    fp_aws_creds_clear(&o);
    assert_int_equal(fp_aws_creds_load("fleet", &o, &err), FP_OK);
    assert_string_equal(o.c.access_key, "AKIDFLEET");
    assert_string_equal(o.c.secret_key, "s3cr3tFLEET");
    assert_string_equal(o.c.session_token, "t0kenFLEET");
    fp_aws_creds_clear(&o);
    setenv("AWS_PROFILE", "fleet", 1);
    assert_int_equal(fp_aws_creds_load(NULL, &o, &err), FP_OK);
    assert_string_equal(o.c.access_key, "AKIDFLEET");
    fp_aws_creds_clear(&o);
    unsetenv("AWS_PROFILE");
    fp_aws_creds_clear(&o); /* twice is fine */
}

static void test_environment_first(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s3cr3tENV", 1);
    setenv("AWS_SESSION_TOKEN", "t0kenENV", 1);
    fp_aws_creds_owned o;
    fp_err err = {0};
    assert_int_equal(fp_aws_creds_load("fleet", &o, &err), FP_OK);
    assert_string_equal(o.c.access_key, "AKIDENV");
    assert_string_equal(o.c.session_token, "t0kenENV");
    assert_string_equal(o.source, "environment");
    fp_aws_creds_clear(&o);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(fp_aws_creds_load(NULL, &o, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
    assert_null(strstr(err.msg, "AKIDENV"));
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SESSION_TOKEN");
}

static void test_errors_name_no_secret(void **state)
{
    (void)state;
    fp_aws_creds_owned o;
    fp_err err = {0};
    assert_int_equal(fp_aws_creds_load("broken", &o, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "aws_secret_access_key"));
    assert_non_null(strstr(err.msg, "[broken]"));
    assert_null(o.c.access_key); /* nothing half-loaded is left behind */
    assert_int_equal(fp_aws_creds_load("nope", &o, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "[nope]"));
    assert_non_null(strstr(err.msg, path));
    assert_null(strstr(err.msg, "s3cr3t"));
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    assert_int_equal(fp_aws_creds_load(NULL, &o, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/credentials"));
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_environment_first),
        cmocka_unit_test(test_errors_name_no_secret),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
