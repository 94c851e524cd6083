/* test_store.c — the fp_store contract on file:// (s3:// must pass the same cases): put moves a
 * staging file to its final name atomically, exists/list/read/delete see objects only, URLs
 * are validated, and a blocked directory is an FP_ERR_IO (the connect runtime retries those). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void test_file_store_contract(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-store-XXXXXX";
    assert_non_null(mkdtemp(root));
    fp_buf url = FP_BUF_INIT;
    fp_buf_printf(&url, "file://%s", root);
    fp_store *s = NULL;
    fp_err err = {0};
    assert_int_equal(fp_store_open(url.p, &s, &err), FP_OK);

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
    fp_buf_free(&got);
    fp_buf_free(&tmp);
    fp_buf_free(&url);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_store_urls(void **state)
{
    (void)state;
    const char *bad[] = {"file://relative/path", "s3://bucket/prefix", "ftp://x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_store *s = NULL;
        fp_err err = {0};
        if (fp_store_open(bad[i], &s, &err) != FP_ERR_CONFIG)
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
