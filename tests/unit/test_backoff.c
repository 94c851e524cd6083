/* test_backoff.c — core/backoff: full-jitter range per attempt, the cap, reset, and a sleep
 * that a stop token interrupts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/backoff.h"
#include "core/time.h"

static void test_full_jitter_range(void **state)
{
    (void)state;
    for (int attempt = 0; attempt < 40; attempt++) {
        int64_t cap = 50;
        for (int i = 0; i < attempt && cap < 20000; i++)
            cap *= 2;
        if (cap > 20000)
            cap = 20000;
        int64_t lo = INT64_MAX, hi = -1;
        for (int i = 0; i < 2000; i++) {
            fp_backoff b;
            fp_backoff_init(&b, 50, 20000);
            b.attempt = attempt;
            int64_t d = fp_backoff_next(&b);
            if (d < 0 || d > cap)
                fail_msg("attempt %d: %lld outside [0, %lld]", attempt, (long long)d,
                         (long long)cap);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* Full jitter spreads over the whole range, not around the cap. */
        assert_true(lo <= cap / 4);
        assert_true(hi >= cap * 3 / 4);
    }
}

static void test_grows_then_resets(void **state)
{
    (void)state;
    fp_backoff b;
    fp_backoff_init(&b, 10, 100);
    for (int i = 0; i < 10; i++)
        assert_true(fp_backoff_next(&b) <= 100);
    assert_int_equal(b.attempt, 10);
    fp_backoff_reset(&b);
    assert_int_equal(b.attempt, 0);
    assert_true(fp_backoff_next(&b) <= 10);
    /* Clamped arguments: base >= 1, cap >= base. */
    fp_backoff_init(&b, 0, -5);
    assert_int_equal(b.base_ms, 1);
    assert_int_equal(b.cap_ms, 1);
}

static void *request_later(void *arg)
{
    fp_stop_sleep_ms(NULL, 100);
    fp_stop_request(arg);
    return NULL;
}

static void test_sleep_interrupted(void **state)
{
    (void)state;
    fp_stop s = FP_STOP_INIT;
    assert_true(fp_stop_sleep_ms(&s, 30)); /* the whole time passes */
    assert_true(fp_stop_sleep_ms(NULL, 0));
    pthread_t th;
    pthread_create(&th, NULL, request_later, &s);
    int64_t t0 = fp_time_mono_ms();
    assert_false(fp_stop_sleep_ms(&s, 60000));
    int64_t took = fp_time_mono_ms() - t0;
    pthread_join(th, NULL);
    assert_true(took < 30000);              /* woke on the request, not at the end of a minute */
    assert_false(fp_stop_sleep_ms(&s, 10)); /* already requested: returns at once */
    fp_stop_reset(&s);
    assert_false(fp_stop_requested(&s));
    assert_false(fp_stop_requested(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_jitter_range),
        cmocka_unit_test(test_grows_then_resets),
        cmocka_unit_test(test_sleep_interrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
