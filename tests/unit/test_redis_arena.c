/* test_redis_arena.c — replies built in an fp_redis_arena (redis/arena.h) have exactly the shape
 * hiredis' own reply objects have, for the same bytes: the cases in
 * tests/data/redis/replies.resp (one RESP text per line, escapes \r \n \0 \\ spelled out), the
 * same texts fed one byte at a time, and random reply trees encoded and read by both readers.
 * Then the arena's own rules: reset forgets everything and keeps the first block, a reply cut
 * off by a protocol error leaves the reader flagged (detach reports it), and a detached reader
 * builds hiredis' objects again (freeReplyObject on them is clean under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem.h"
#include "redis/arena.h"

static const char *data_dir;

/* Whether two replies are the same tree (type, integer, len, bytes, elements). */
static bool same(const redisReply *a, const redisReply *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case REDIS_REPLY_INTEGER:
        return a->integer == b->integer;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        return a->len == b->len && !memcmp(a->str, b->str, a->len) && a->str[a->len] == '\0';
    case REDIS_REPLY_ARRAY:
        if (a->elements != b->elements)
            return false;
        for (size_t i = 0; i < a->elements; i++)
            if (!same(a->element[i], b->element[i]))
                return false;
        return true;
    default:
        return true;
    }
}

/* Reads every reply of text (fed in chunks of step bytes) with hiredis' reader and with an
 * arena reader and compares them; returns the number of replies. */
static int compare_readers(const char *text, size_t n, size_t step)
{
    redisReader *plain = redisReaderCreate(), *ar = redisReaderCreate();
    fp_redis_arena *a = fp_redis_arena_new(64); /* small: replies span blocks */
    fp_redis_arena_attach_reader(ar, a);
    int replies = 0;
    size_t fed = 0;
    for (;;) {
        void *x = NULL, *y = NULL;
        assert_int_equal(redisReaderGetReply(plain, &x), REDIS_OK);
        assert_int_equal(redisReaderGetReply(ar, &y), REDIS_OK);
        if (!x) {
            assert_null(y);
            if (fed == n)
                break;
            size_t k = n - fed < step ? n - fed : step;
            assert_int_equal(redisReaderFeed(plain, text + fed, k), REDIS_OK);
            assert_int_equal(redisReaderFeed(ar, text + fed, k), REDIS_OK);
            fed += k;
            continue;
        }
        assert_non_null(y);
        if (!same(x, y))
            fail_msg("reply %d of '%.60s' differs", replies, text);
        freeReplyObject(x);
        replies++;
    }
    assert_true(fp_redis_arena_detach_reader(ar));
    redisReaderFree(plain);
    redisReaderFree(ar);
    fp_redis_arena_free(a);
    return replies;
}

/* "\r", "\n", "\0", "\\" spelled out in the case file, decoded into out. */
static size_t unescape(const char *s, char *out)
{
    size_t n = 0;
    for (; *s && *s != '\n'; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            out[n++] = *s == 'r' ? '\r' : *s == 'n' ? '\n' : *s == '0' ? '\0' : *s;
        } else {
            out[n++] = *s;
        }
    }
    return n;
}

static void test_cases(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/redis/replies.resp", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192], text[8192];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        size_t n = unescape(line, text);
        int whole = compare_readers(text, n, n);
        assert_true(whole > 0);
        assert_int_equal(compare_readers(text, n, 1), whole);
        assert_int_equal(compare_readers(text, n, 7), whole);
        cases++;
    }
    fclose(f);
    assert_true(cases >= 10);
}

/* A random reply tree of depth at most d, RESP-encoded onto b. */
static void random_reply(fp_buf *b, int d, unsigned *seed)
{
    int kind = rand_r(seed) % (d > 0 ? 6 : 5);
    switch (kind) {
    case 0: {
        char s[64];
        size_t n = (size_t)(rand_r(seed) % 40);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(rand_r(seed) % 256); /* any byte, NUL and CR LF included */
        fp_buf_printf(b, "$%zu\r\n", n);
        fp_buf_append(b, s, n);
        fp_buf_puts(b, "\r\n");
        break;
    }
    case 1:
        fp_buf_printf(b, ":%d\r\n", rand_r(seed) - RAND_MAX / 2);
        break;
    case 2:
        fp_buf_puts(b, rand_r(seed) % 2 ? "$-1\r\n" : "*-1\r\n");
        break;
    case 3:
        fp_buf_printf(b, "+OK %d\r\n", rand_r(seed) % 1000);
        break;
    case 4:
        fp_buf_printf(b, "-ERR number %d\r\n", rand_r(seed) % 1000);
        break;
    default: {
        int n = rand_r(seed) % 12;
        fp_buf_printf(b, "*%d\r\n", n);
        for (int i = 0; i < n; i++)
            random_reply(b, d - 1, seed);
    }
    }
}

static void test_random_trees(void **state)
{
    (void)state;
    unsigned seed = 42;
    for (int round = 0; round < 300; round++) {
        fp_buf b = FP_BUF_INIT;
        int n = 1 + rand_r(&seed) % 8;
        for (int i = 0; i < n; i++)
            random_reply(&b, 5, &seed); /* hiredis 0.14 reads at most 7 levels */
        assert_int_equal(compare_readers(b.p, b.len, b.len), n);
        assert_int_equal(compare_readers(b.p, b.len, 1 + (size_t)(rand_r(&seed) % 50)), n);
        fp_buf_free(&b);
    }
}

static void test_reset_and_blocks(void **state)
{
    (void)state;
    fp_redis_arena *a = fp_redis_arena_new(128);
    assert_int_equal(fp_redis_arena_used(a), 0);
    void *first = fp_redis_arena_alloc(a, 8);
    assert_non_null(first);
    assert_int_equal((uintptr_t)first % _Alignof(max_align_t), 0);
    /* far more than the first block: more blocks, every piece aligned and writable */
    for (int i = 1; i < 2000; i++) {
        char *p = fp_redis_arena_alloc(a, (size_t)(i % 300) + 1);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, 0xab, (size_t)(i % 300) + 1);
    }
    assert_true(fp_redis_arena_used(a) > 128 * 100);
    fp_redis_arena_reset(a);
    assert_int_equal(fp_redis_arena_used(a), 0);
    /* the first block is the one kept */
    assert_ptr_equal(fp_redis_arena_alloc(a, 8), first);
    /* one piece larger than any block so far */
    char *big = fp_redis_arena_alloc(a, 1 << 20);
    memset(big, 1, 1 << 20);
    fp_redis_arena_reset(a);
    fp_redis_arena_free(a);
    fp_redis_arena_free(NULL);
}

static void test_interrupted_and_detached(void **state)
{
    (void)state;
    redisReader *r = redisReaderCreate();
    fp_redis_arena *a = fp_redis_arena_new(0);
    fp_redis_arena_attach_reader(r, a);
    /* half a reply: detaching now would leave the reader pointing into the arena */
    const char *half = "*3\r\n$1\r\na\r\n";
    void *x = NULL;
    assert_int_equal(redisReaderFeed(r, half, strlen(half)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_OK);
    assert_null(x);
    assert_false(fp_redis_arena_detach_reader(r));
    redisReaderFree(r);

    /* a protocol error half-way: the reader reports it, the arena frees nothing by itself */
    r = redisReaderCreate();
    fp_redis_arena_attach_reader(r, a);
    const char *bad = "*2\r\n$1\r\na\r\n?oops\r\n";
    assert_int_equal(redisReaderFeed(r, bad, strlen(bad)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_ERR);
    fp_redis_arena_detach_reader(r);
    redisReaderFree(r);

    /* attach, read, detach: the next reply is hiredis' own again */
    r = redisReaderCreate();
    fp_redis_arena_attach_reader(r, a);
    const char *two = "*1\r\n$2\r\nhi\r\n$3\r\nbye\r\n";
    assert_int_equal(redisReaderFeed(r, two, strlen(two)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_OK);
    redisReply *ar = x;
    assert_int_equal(ar->type, REDIS_REPLY_ARRAY);
    assert_string_equal(ar->element[0]->str, "hi");
    assert_true(fp_redis_arena_detach_reader(r));
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_OK);
    assert_string_equal(((redisReply *)x)->str, "bye");
    freeReplyObject(x);
    redisReaderFree(r);
    /* a root task started before its first byte (the buffer still holds what was read), then
     * another arena: the next reply is built in that one, not in the first */
    r = redisReaderCreate();
    fp_redis_arena *b = fp_redis_arena_new(0);
    fp_redis_arena_attach_reader(r, a);
    const char *one = "$2\r\nok\r\n";
    assert_int_equal(redisReaderFeed(r, one, strlen(one)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_OK);
    assert_non_null(x);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_OK);
    assert_null(x); /* nothing more, but the root task is set up */
    assert_true(fp_redis_arena_detach_reader(r));
    fp_redis_arena_reset(a);
    fp_redis_arena_attach_reader(r, b);
    assert_int_equal(redisReaderFeed(r, one, strlen(one)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &x), REDIS_OK);
    assert_string_equal(((redisReply *)x)->str, "ok");
    assert_int_equal(fp_redis_arena_used(a), 0);
    assert_true(fp_redis_arena_used(b) > 0);
    assert_true(fp_redis_arena_detach_reader(r));
    redisReaderFree(r);
    fp_redis_arena_free(b);
    /* detaching a reader that has no arena is fine */
    r = redisReaderCreate();
    assert_true(fp_redis_arena_detach_reader(r));
    redisReaderFree(r);
    fp_redis_arena_free(a);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_random_trees),
        cmocka_unit_test(test_reset_and_blocks),
        cmocka_unit_test(test_interrupted_and_detached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
