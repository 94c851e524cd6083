/* test_sigv4.c — the AWS Signature Version 4 signer: the published AWS test-suite and S3
 * documentation cases in tests/data/sigv4/cases.jsonl (request -> Authorization header and, where
 * published, canonical request), the SHA-256 and X-Amz-Date helpers, the error cases, and that no
 * error message ever carries the secret key or the session token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "aws/sigv4.h"

static const char *data_dir;

#define SUITE_KEY "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char *str_or(json_t *c, const char *key, const char *dflt)
{
    json_t *v = json_object_get(c, key);
    return v ? json_string_value(v) : dflt;
}

static void test_cases(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/sigv4/cases.jsonl", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, lineno = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        if (!c)
            fail_msg("%s:%d: %s", path, lineno, je.text);
        const char *name = str_or(c, "name", "?");
        json_t *hs = json_object_get(c, "headers");
        size_t nh = json_array_size(hs);
        fp_sigv4_header *h = calloc(nh + 1, sizeof *h);
        for (size_t i = 0; i < nh; i++) {
            h[i].name = json_string_value(json_array_get(json_array_get(hs, i), 0));
            h[i].value = json_string_value(json_array_get(json_array_get(hs, i), 1));
        }
        char payload_hash[65];
        const char *ph = str_or(c, "payload_sha256", NULL);
        if (!ph) {
            json_t *p = json_object_get(c, "payload");
            fp_sigv4_sha256_hex(json_string_value(p), json_string_length(p), payload_hash);
            ph = payload_hash;
        }
        fp_sigv4_request r = {
            .method = str_or(c, "method", NULL),
            .path = str_or(c, "path", NULL),
            .query = str_or(c, "query", NULL),
            .headers = h,
            .nheaders = nh,
            .payload_sha256_hex = ph,
        };
        fp_aws_creds cr = {
            .access_key = str_or(c, "access_key", SUITE_KEY),
            .secret_key = str_or(c, "secret_key", SUITE_SECRET),
            .session_token = str_or(c, "session_token", NULL),
        };
        fp_buf authz = FP_BUF_INIT, creq = FP_BUF_INIT;
        fp_err err = {0};
        fp_code rc =
            fp_sigv4_sign(&r, &cr, str_or(c, "region", "us-east-1"),
                          str_or(c, "service", "service"), str_or(c, "date", "20150830T123600Z"),
                          json_is_true(json_object_get(c, "s3")), &authz, &creq, &err);
        if (rc)
            fail_msg("%s: %s", name, err.msg);
        const char *want_creq = str_or(c, "canonical_request", NULL);
        if (want_creq && strcmp(creq.p, want_creq) != 0)
            fail_msg("%s: canonical request\n--- got\n%s\n--- want\n%s", name, creq.p, want_creq);
        if (strcmp(authz.p, str_or(c, "authorization", "")) != 0)
            fail_msg("%s: Authorization\n got %s\nwant %s\ncanonical request:\n%s", name, authz.p,
                     str_or(c, "authorization", ""), creq.p);
        fp_buf_free(&authz);
        fp_buf_free(&creq);
        free(h);
        json_decref(c);
        n++;
    }
    free(line);
    fclose(f);
    assert_true(n >= 13);
}

static void test_sha256(void **state)
{
    (void)state;
    char out[65];
    fp_sigv4_sha256_hex("", 0, out);
    assert_string_equal(out, EMPTY_SHA256);
    /* S3 documentation, PUT Object example. */
    fp_sigv4_sha256_hex("Welcome to Amazon S3.", 21, out);
    assert_string_equal(out, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

static void test_amz_date(void **state)
{
    (void)state;
    char out[17];
    assert_int_equal(fp_sigv4_amz_date(1440938160000LL, out), FP_OK);
    assert_string_equal(out, "20150830T123600Z");
    assert_int_equal(fp_sigv4_amz_date(1440938160999LL, out), FP_OK); /* ms are dropped */
    assert_string_equal(out, "20150830T123600Z");
    assert_int_equal(fp_sigv4_amz_date(0, out), FP_OK);
    assert_string_equal(out, "19700101T000000Z");
    assert_int_equal(fp_sigv4_amz_date(951782400000LL, out), FP_OK); /* leap day */
    assert_string_equal(out, "20000229T000000Z");
    assert_int_equal(fp_sigv4_amz_date(-1, out), FP_OK); /* floors, not truncates */
    assert_string_equal(out, "19691231T235959Z");
    assert_int_equal(fp_sigv4_amz_date(INT64_MAX, out), FP_ERR_INVALID);
    assert_string_equal(out, "");
}

/* Every refusal names its cause and never a secret. */
static void test_errors(void **state)
{
    (void)state;
    const char *secret = "SeCrEtKeYdOnOtLeAk0123456789abcdefghijkl";
    const char *token = "ToKeNdOnOtLeAk";
    fp_sigv4_header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
    fp_sigv4_request ok = {"GET", "/", NULL, h, 2, EMPTY_SHA256};
    fp_aws_creds cr = {"AKIDEXAMPLE", secret, token};
    fp_sigv4_header bad[] = {{"Host", "example.amazonaws.com"},
                             {"X-Amz-Date", "20150830T123600Z"},
                             {"X-Amz-Security-Token", "ToKeNdOnOtLeAk\r\nX-Evil: 1"}};
    struct {
        fp_sigv4_request r;
        const char *date, *region, *want;
        bool s3;
    } cases[] = {
        {ok, "20150830T123600Z", "us-east-1", "X-Amz-Security-Token", false},
        {{"GET", "/", NULL, h, 1, EMPTY_SHA256},
         "20150830T123600Z",
         "us-east-1",
         "X-Amz-Security",
         false},
        {{"GET", "/", NULL, h + 1, 1, EMPTY_SHA256},
         "20150830T123600Z",
         "us-east-1",
         "Host",
         false},
        {ok, "2015-08-30T12:36:00Z", "us-east-1", "YYYYMMDDTHHMMSSZ", false},
        {ok, "20150830T123600Z", "us east", "region", false},
        {{"GET", "/", NULL, h, 2, "abc"}, "20150830T123600Z", "us-east-1", "payload hash", false},
        {{"GET", "a", NULL, h, 2, EMPTY_SHA256}, "20150830T123600Z", "us-east-1", "'/'", false},
        {{"GET", "/a b", NULL, h, 2, EMPTY_SHA256}, "20150830T123600Z", "us-east-1", "0x20", true},
        {{"GET", "/", NULL, bad, 3, EMPTY_SHA256},
         "20150830T123600Z",
         "us-east-1",
         "x-amz-security-token: control byte 0x0d",
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fp_buf authz = FP_BUF_INIT;
        fp_err err = {0};
        fp_code rc = fp_sigv4_sign(&cases[i].r, &cr, cases[i].region, "service", cases[i].date,
                                   cases[i].s3, &authz, NULL, &err);
        assert_int_equal(rc, FP_ERR_INVALID);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: \"%s\" does not name %s", i, err.msg, cases[i].want);
        assert_null(strstr(err.msg, secret));
        assert_null(strstr(err.msg, token));
        fp_buf_free(&authz);
    }
    /* A missing secret is named as missing. */
    fp_aws_creds none = {"AKIDEXAMPLE", NULL, NULL};
    fp_buf authz = FP_BUF_INIT;
    fp_err err = {0};
    assert_int_equal(fp_sigv4_sign(&ok, &none, "us-east-1", "service", "20150830T123600Z", false,
                                   &authz, NULL, &err),
                     FP_ERR_INVALID);
    assert_non_null(strstr(err.msg, "secret key"));
    /* And a successful signature carries neither secret. */
    fp_aws_creds plain = {"AKIDEXAMPLE", secret, NULL};
    assert_int_equal(fp_sigv4_sign(&ok, &plain, "us-east-1", "service", "20150830T123600Z", false,
                                   &authz, NULL, &err),
                     FP_OK);
    assert_null(strstr(authz.p, secret));
    fp_buf_free(&authz);
}

/* Canonical URI and query rules beyond the suite: encoded paths get their second encoding
 * (non-S3) or none (S3); queries are decoded before encoding, sorted by name then value. */
static void test_canonical_forms(void **state)
{
    (void)state;
    fp_sigv4_header h[] = {{"Host", "h"}};
    struct {
        const char *path, *query;
        bool s3;
        const char *want; /* second and third line of the canonical request */
    } cases[] = {
        {"/%20/foo", NULL, false, "/%2520/foo\n"},
        {"/a/./b/../c/", NULL, false, "/a/c/\n"},
        {"/a/../../b", NULL, false, "/b\n"},
        {"", NULL, false, "/\n"},
        {"/test%24file.text", NULL, true, "/test%24file.text\n"},
        {"//a/./b", NULL, true, "//a/./b\n"},
        {"/", "b=2&a=2&a=1&c", false, "/\na=1&a=2&b=2&c="},
        {"/", "x=%7e&y=a b&z=a%2Bb+c", false, "/\nx=~&y=a%20b&z=a%2Bb%2Bc"},
        {"/", "&&k=&", false, "/\nk="},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fp_sigv4_request r = {"GET", cases[i].path, cases[i].query, h, 1, "UNSIGNED-PAYLOAD"};
        fp_aws_creds cr = {SUITE_KEY, SUITE_SECRET, NULL};
        fp_buf authz = FP_BUF_INIT, creq = FP_BUF_INIT;
        fp_err err = {0};
        fp_code rc = fp_sigv4_sign(&r, &cr, "us-east-1", "service", "20150830T123600Z", cases[i].s3,
                                   &authz, &creq, &err);
        if (rc)
            fail_msg("case %zu: %s", i, err.msg);
        if (strncmp(creq.p, "GET\n", 4) != 0 ||
            strncmp(creq.p + 4, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: canonical request\n%s\nwant after GET:\n%s", i, creq.p,
                     cases[i].want);
        fp_buf_free(&authz);
        fp_buf_free(&creq);
    }
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),           cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_amz_date),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_canonical_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
