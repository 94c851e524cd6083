/* backoff.c — exponential backoff with jitter (core/backoff.h) and the interruptible sleep of
 * core/stop.h, which every retry loop shares. */
#include "core/backoff.h"

#include <time.h>
#include <unistd.h>

#include "core/time.h"

bool fp_stop_sleep_ms(const fp_stop *s, int64_t ms)
{
    int64_t end = fp_time_mono_ms() + ms;
    for (;;) {
        if (fp_stop_requested(s))
            return false;
        int64_t left = end - fp_time_mono_ms();
        if (left <= 0)
            return true;
        int64_t slice = left < 20 ? left : 20;
        struct timespec ts = {0, (long)slice * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void fp_backoff_init(fp_backoff *b, int64_t base_ms, int64_t cap_ms)
{
    if (base_ms < 1)
        base_ms = 1;
    if (cap_ms < base_ms)
        cap_ms = base_ms;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)b ^
                    ((uint64_t)getpid() << 16);
    *b = (fp_backoff){base_ms, cap_ms, 0, seed ? seed : 0x9e3779b97f4a7c15ULL};
}

static uint64_t next_rand(fp_backoff *b)
{
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

int64_t fp_backoff_next(fp_backoff *b)
{
    int64_t hi = b->base_ms;
    for (int i = 0; i < b->attempt && hi < b->cap_ms; i++)
        hi *= 2;
    if (hi > b->cap_ms)
        hi = b->cap_ms;
    if (b->attempt < 62)
        b->attempt++;
    return (int64_t)(next_rand(b) % (uint64_t)(hi + 1));
}

void fp_backoff_reset(fp_backoff *b)
{
    b->attempt = 0;
}

bool fp_backoff_sleep(fp_backoff *b, const fp_stop *stop)
{
    return fp_stop_sleep_ms(stop, fp_backoff_next(b));
}
