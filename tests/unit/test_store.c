/* test_store.c — the fp_store contract, on file:// and on s3:// (the same cases): put moves a
 * staging file to its final name atomically, exists/list/read/delete see objects only, URLs
 * are validated, and a blocked directory is an FP_ERR_IO (the connect runtime retries those).
 * The s3:// cases run when FP_TEST_S3_URL and FP_TEST_S3_ENDPOINT name a live S3 server
 * (tests/integration/store_s3.sh starts s3rver behind the verifying proxy); they add keys that
 * need encoding, a multipart object and a listing longer than one page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/mem.h"
#include "store/store.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static fp_code collect(const void *data, size_t n, void *arg, fp_err *err)
{
    (void)err;
    fp_buf_append(arg, data, n);
    return FP_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The cases every backend passes; s is empty. */
static void contract(fp_store *s)
{
    fp_err err = {0};
    fp_buf tmp = FP_BUF_INIT;
    fp_buf_printf(&tmp, "%s/a.tmp", fp_store_staging_dir(s));
    write_file(tmp.p, "{\"x\":1}\n");
    bool ex = true;
    assert_int_equal(fp_store_exists(s, "raw/t/dt=1/a.jsonl", &ex, &err), FP_OK);
    assert_false(ex);
    assert_int_equal(fp_store_put_file(s, tmp.p, "raw/t/dt=1/a.jsonl", &err), FP_OK);
    assert_int_equal(access(tmp.p, F_OK), -1); /* moved, not copied */
    assert_int_equal(fp_store_exists(s, "raw/t/dt=1/a.jsonl", &ex, &err), FP_OK);
    assert_true(ex);

    /* Replacing an object is atomic and complete. */
    write_file(tmp.p, "{\"x\":2}\n");
    assert_int_equal(fp_store_put_file(s, tmp.p, "raw/t/dt=1/a.jsonl", &err), FP_OK);
    fp_buf got = FP_BUF_INIT;
    assert_int_equal(fp_store_read(s, "raw/t/dt=1/a.jsonl", collect, &got, &err), FP_OK);
    assert_string_equal(got.p, "{\"x\":2}\n");

    write_file(tmp.p, "b");
    assert_int_equal(fp_store_put_file(s, tmp.p, "raw/u/b.jsonl", &err), FP_OK);
    fp_strv names = {0};
    assert_int_equal(fp_store_list(s, "raw", &names, &err), FP_OK);
    qsort(names.v, names.n, sizeof *names.v, cmp_str);
    assert_int_equal(names.n, 2); /* the staging directory is not listed */
    assert_string_equal(names.v[0], "raw/t/dt=1/a.jsonl");
    assert_string_equal(names.v[1], "raw/u/b.jsonl");
    fp_strv_free(&names);
    assert_int_equal(fp_store_list(s, "nothing/here", &names, &err), FP_OK);
    assert_int_equal(names.n, 0);

    assert_int_equal(fp_store_delete(s, "raw/u/b.jsonl", &err), FP_OK);
    assert_int_equal(fp_store_delete(s, "raw/u/b.jsonl", &err), FP_OK); /* idempotent */
    assert_int_equal(fp_store_exists(s, "raw/u/b.jsonl", &ex, &err), FP_OK);
    assert_false(ex);
    assert_int_equal(fp_store_read(s, "raw/u/b.jsonl", collect, &got, &err), FP_ERR_NOTFOUND);
    fp_buf_free(&got);
    fp_buf_free(&tmp);
}

static void test_file_store_contract(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-store-XXXXXX";
    assert_non_null(mkdtemp(root));
    fp_buf url = FP_BUF_INIT;
    fp_buf_printf(&url, "file://%s", root);
    fp_store *s = NULL;
    fp_err err = {0};
    assert_int_equal(fp_store_open(url.p, NULL, &s, &err), FP_OK);
    contract(s);
    fp_buf tmp = FP_BUF_INIT;
    fp_buf_printf(&tmp, "%s/a.tmp", fp_store_staging_dir(s));

    /* A regular file where a directory must go: an I/O error naming the path, retryable. */
    fp_buf block = FP_BUF_INIT;
    fp_buf_printf(&block, "%s/raw/blocked", root);
    write_file(block.p, "in the way");
    write_file(tmp.p, "c");
    assert_int_equal(fp_store_put_file(s, tmp.p, "raw/blocked/dt=1/c.jsonl", &err), FP_ERR_IO);
    assert_non_null(strstr(err.msg, "raw/blocked"));
    unlink(block.p);
    assert_int_equal(fp_store_put_file(s, tmp.p, "raw/blocked/dt=1/c.jsonl", &err), FP_OK);

    fp_store_free(s);
    fp_buf_free(&block);
    fp_buf_free(&tmp);
    fp_buf_free(&url);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void put_text(fp_store *s, const char *name, const char *text)
{
    fp_err err = {0};
    fp_buf tmp = FP_BUF_INIT;
    fp_buf_printf(&tmp, "%s/t-%d.tmp", fp_store_staging_dir(s), (int)getpid());
    write_file(tmp.p, text);
    if (fp_store_put_file(s, tmp.p, name, &err))
        fail_msg("put %s: %s", name, err.msg);
    fp_buf_free(&tmp);
}

static void test_s3_store_contract(void **state)
{
    (void)state;
    const char *url = getenv("FP_TEST_S3_URL"), *endpoint = getenv("FP_TEST_S3_ENDPOINT");
    if (!url || !endpoint)
        skip();
    fp_store_opts o = {.endpoint = endpoint,
                       .region = "us-east-1",
                       .path_style = -1,
                       .part_size = 5 * 1024 * 1024};
    fp_store *s = NULL;
    fp_err err = {0};
    if (fp_store_open(url, &o, &s, &err))
        fail_msg("open %s: %s", url, err.msg);
    contract(s);

    /* Keys that need percent-encoding in the path and entity-decoding in listings. */
    const char *odd[] = {"odd/a b+c=d&e.jsonl", "odd/\xc3\xa9t\xc3\xa9/<x>'\"q\".jsonl",
                         "odd/semi;colon,comma@at$dollar.jsonl"};
    for (size_t i = 0; i < 3; i++)
        put_text(s, odd[i], odd[i]);
    fp_strv names = {0};
    assert_int_equal(fp_store_list(s, "odd", &names, &err), FP_OK);
    assert_int_equal(names.n, 3);
    for (size_t i = 0; i < 3; i++) {
        bool found = false;
        for (size_t j = 0; j < names.n; j++)
            found = found || !strcmp(names.v[j], odd[i]);
        if (!found)
            fail_msg("'%s' not listed", odd[i]);
        fp_buf got = FP_BUF_INIT;
        assert_int_equal(fp_store_read(s, odd[i], collect, &got, &err), FP_OK);
        assert_string_equal(got.p, odd[i]);
        fp_buf_free(&got);
    }
    fp_strv_free(&names);

    /* 12 MiB + 3 bytes with a 5 MiB part size: three parts, read back byte for byte. */
    size_t big = 12 * 1024 * 1024 + 3;
    char *data = fp_xmalloc(big + 1);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + (i * 7919 % 26));
    data[big] = 0;
    put_text(s, "big/object.jsonl", data);
    fp_buf got = FP_BUF_INIT;
    assert_int_equal(fp_store_read(s, "big/object.jsonl", collect, &got, &err), FP_OK);
    assert_int_equal(got.len, big);
    assert_memory_equal(got.p, data, big);
    fp_buf_free(&got);
    free(data);

    /* A listing longer than one page (S3 answers at most 1000 keys per request). */
    for (int i = 0; i < 1003; i++) {
        char name[64];
        snprintf(name, sizeof name, "many/%04d.jsonl", i);
        put_text(s, name, "x");
    }
    assert_int_equal(fp_store_list(s, "many/", &names, &err), FP_OK);
    assert_int_equal(names.n, 1003);
    fp_strv_free(&names);
    fp_store_free(s);
}

static void test_staging_on_another_file_system(void **state)
{
    (void)state;
    struct stat a, b;
    if (stat("/tmp", &a) != 0 || stat("/dev/shm", &b) != 0 || a.st_dev == b.st_dev)
        skip(); /* needs two file systems */
    char root[] = "/tmp/fp-store-XXXXXX", staging[] = "/dev/shm/fp-staging-XXXXXX";
    assert_non_null(mkdtemp(root));
    assert_non_null(mkdtemp(staging));
    fp_store_opts o = {.staging_dir = staging, .path_style = -1};
    fp_store *s = NULL;
    fp_err err = {0};
    assert_int_equal(fp_store_open(root, &o, &s, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "another file system"));
    assert_null(s);
    rmdir(root);
    rmdir(staging);
}

static void test_store_urls(void **state)
{
    (void)state;
    const char *bad[] = {"file://relative/path",
                         "s3://Bad_Bucket/prefix",
                         "s3://ab",
                         "s3://bucket//x",
                         "ftp://x",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_store *s = NULL;
        fp_err err = {0};
        if (fp_store_open(bad[i], NULL, &s, &err) != FP_ERR_CONFIG)
            fail_msg("accepted store.url '%s'", bad[i]);
        assert_null(s);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_store_contract),
        cmocka_unit_test(test_store_urls),
        cmocka_unit_test(test_staging_on_another_file_system),
        cmocka_unit_test(test_s3_store_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
