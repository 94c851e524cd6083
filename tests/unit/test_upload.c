/* test_upload.c — the objstore sink's background uploader (src/sink/objstore/upload.h) on a
 * file:// store: a failed upload holds the partition's offsets until reaped, and cancels every
 * later job of that partition, including jobs pushed after the failure, until the owner forgets
 * it; other partitions go on. A store path blocked by a regular file makes an upload fail.
 * The after-commit hook (the sink's object-committed event) runs once per stored object, and
 * its failure fails the job like a failed upload: offsets held, later jobs cancelled. */
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
#include "sink/objstore/upload.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static fp_objstore_upload_job *job(fp_store *st, const char *topic, int32_t part, int64_t start,
                                   const char *name)
{
    fp_objstore_upload_job *j = fp_xcalloc(1, sizeof *j);
    fp_buf tmp = FP_BUF_INIT;
    fp_buf_printf(&tmp, "%s/tmp-%s-%d-%lld", fp_store_staging_dir(st), topic, (int)part,
                  (long long)start);
    write_file(tmp.p, name);
    *j = (fp_objstore_upload_job){.topic = fp_xstrdup(topic),
                                  .partition = part,
                                  .start = start,
                                  .records = 1,
                                  .bytes = (int64_t)strlen(name),
                                  .tmp = fp_buf_steal(&tmp),
                                  .name = fp_xstrdup(name)};
    return j;
}

static bool object_exists(const char *root, const char *name)
{
    fp_buf p = FP_BUF_INIT;
    fp_buf_printf(&p, "%s/%s", root, name);
    bool ok = access(p.p, F_OK) == 0;
    fp_buf_free(&p);
    return ok;
}

/* Reaps the job of topic/partition that must be finished; checks its outcome. */
static void expect_reaped(fp_upload *u, const char *topic, int32_t part, fp_code rc)
{
    fp_objstore_upload_job *j = fp_objstore_upload_reap(u, topic, part);
    assert_non_null(j);
    assert_int_equal(j->rc, rc);
    assert_int_equal(access(j->tmp, F_OK), -1); /* staging file gone either way */
    fp_objstore_upload_job_free(j);
}

static void test_failure_poisons_the_partition(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-upload-XXXXXX";
    assert_non_null(mkdtemp(root));
    fp_store *st = NULL;
    fp_err err = {0};
    assert_int_equal(fp_store_open(root, NULL, &st, &err), FP_OK);
    fp_buf block = FP_BUF_INIT;
    fp_buf_printf(&block, "%s/blocked", root);
    write_file(block.p, "a file where a directory must go");

    fp_upload *u = fp_objstore_upload_new(st, 2, NULL, NULL);
    fp_objstore_upload_push(u, job(st, "t", 0, 10, "blocked/dt=1/a.jsonl")); /* fails */
    fp_objstore_upload_wait(u, NULL, 0);
    /* Failed but not reaped: its offsets stay held. */
    assert_int_equal(fp_objstore_upload_oldest(u, "t", 0), 10);
    /* Pushed after the failure: cancelled, never uploaded (no gap in partition 0). */
    fp_objstore_upload_push(u, job(st, "t", 0, 20, "ok/b.jsonl"));
    /* Another partition is not affected. */
    fp_objstore_upload_push(u, job(st, "t", 1, 5, "ok/c.jsonl"));
    fp_objstore_upload_wait(u, NULL, 0);
    assert_false(object_exists(root, "ok/b.jsonl"));
    assert_true(object_exists(root, "ok/c.jsonl"));
    assert_int_equal(fp_objstore_upload_oldest(u, "t", 1), INT64_MAX); /* done: durable */
    expect_reaped(u, "t", 0, FP_ERR_IO);
    expect_reaped(u, "t", 0, FP_ERR_IO);
    expect_reaped(u, "t", 1, FP_OK);
    assert_null(fp_objstore_upload_reap(u, NULL, 0));
    assert_int_equal(fp_objstore_upload_oldest(u, "t", 0), INT64_MAX);

    /* Still poisoned until the owner forgets it (its close, before a replay). */
    fp_objstore_upload_push(u, job(st, "t", 0, 30, "ok/d.jsonl"));
    fp_objstore_upload_wait(u, "t", 0);
    expect_reaped(u, "t", 0, FP_ERR_IO);
    assert_false(object_exists(root, "ok/d.jsonl"));
    fp_objstore_upload_forget(u, "t", 0);
    fp_objstore_upload_push(u, job(st, "t", 0, 10, "ok/e.jsonl"));
    fp_objstore_upload_wait(u, "t", 0);
    expect_reaped(u, "t", 0, FP_OK);
    assert_true(object_exists(root, "ok/e.jsonl"));

    fp_objstore_upload_free(u);
    fp_store_free(st);
    fp_buf_free(&block);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

typedef struct hook_log {
    int calls;
    const char *fail_name; /* the hook fails for this object */
} hook_log;

static fp_code hook(void *arg, const fp_objstore_upload_job *j, fp_err *err)
{
    hook_log *h = arg;
    h->calls++;
    if (h->fail_name && !strcmp(j->name, h->fail_name))
        return fp_err_set(err, FP_ERR_IO, "event for %s not delivered", j->name);
    return FP_OK;
}

static void test_hook_failure_fails_the_job(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-upload-XXXXXX";
    assert_non_null(mkdtemp(root));
    fp_store *st = NULL;
    fp_err err = {0};
    assert_int_equal(fp_store_open(root, NULL, &st, &err), FP_OK);
    hook_log h = {0, "x/b.jsonl"};
    fp_upload *u = fp_objstore_upload_new(st, 1, hook, &h);
    fp_objstore_upload_push(u, job(st, "t", 0, 0, "x/a.jsonl"));
    fp_objstore_upload_wait(u, NULL, 0);
    assert_int_equal(h.calls, 1);
    assert_int_equal(fp_objstore_upload_oldest(u, "t", 0), INT64_MAX);
    expect_reaped(u, "t", 0, FP_OK);

    fp_objstore_upload_push(u, job(st, "t", 0, 10, "x/b.jsonl")); /* stored, but its event fails */
    fp_objstore_upload_wait(u, NULL, 0);
    assert_true(object_exists(root, "x/b.jsonl")); /* a replay rewrites it identically */
    assert_int_equal(fp_objstore_upload_oldest(u, "t", 0), 10);
    fp_objstore_upload_push(u,
                            job(st, "t", 0, 20, "x/c.jsonl")); /* cancelled: no hook, no object */
    fp_objstore_upload_wait(u, NULL, 0);
    assert_int_equal(h.calls, 2);
    assert_false(object_exists(root, "x/c.jsonl"));
    fp_objstore_upload_job *j = fp_objstore_upload_reap(u, "t", 0);
    assert_non_null(j);
    assert_int_equal(j->rc, FP_ERR_IO);
    assert_non_null(strstr(j->err.msg, "not delivered"));
    fp_objstore_upload_job_free(j);
    expect_reaped(u, "t", 0, FP_ERR_IO);

    fp_objstore_upload_free(u);
    fp_store_free(st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failure_poisons_the_partition),
        cmocka_unit_test(test_hook_failure_fails_the_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
