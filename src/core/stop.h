/* stop.h — a stop token: how a long-running loop learns that it should finish.
 *
 * The owner of a loop (the CLI, a test, the demo, a supervisor) creates an fp_stop and passes
 * a pointer in the module's options; the loop polls fp_stop_requested() and sleeps with
 * fp_stop_sleep_ms(), which returns early. Requesting is async-signal-safe (one atomic store),
 * so the CLI's SIGINT/SIGTERM handler only sets the token. A NULL token is never requested.
 * Threads: any thread may request or poll.
 */
#ifndef FP_CORE_STOP_H
#define FP_CORE_STOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct fp_stop {
    atomic_int requested;
} fp_stop;

#define FP_STOP_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

static inline bool fp_stop_requested(const fp_stop *s)
{
    return s && atomic_load(&((fp_stop *)s)->requested) != 0;
}

static inline void fp_stop_request(fp_stop *s)
{
    if (s)
        atomic_store(&s->requested, 1);
}

/* Clears the token (a command that runs several phases with one token). */
static inline void fp_stop_reset(fp_stop *s)
{
    if (s)
        atomic_store(&s->requested, 0);
}

/* Sleeps ms (<= 0: not at all), waking every 20 ms to look at s. Returns false when s was
 * requested (before or during the sleep), true when the whole time passed. */
bool fp_stop_sleep_ms(const fp_stop *s, int64_t ms);

#endif
