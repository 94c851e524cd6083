/* backoff.h — the one retry delay policy: exponential backoff with full jitter and a cap.
 *
 * The n-th delay (n from 0) is uniform in [0, min(cap, base * 2^n)] ("full jitter", as the AWS
 * SDKs do it): exponential growth spreads a herd of retrying clients, and the jitter keeps them
 * from retrying in step.
 * Every retry loop in fleetpipe — sink retries, AWS calls, Kafka and MQTT reconnects, lake
 * conversions — uses this type with its own base and cap.
 * Threads: an fp_backoff belongs to one thread.
 */
#ifndef FP_CORE_BACKOFF_H
#define FP_CORE_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stop.h"

typedef struct fp_backoff {
    int64_t base_ms, cap_ms;
    int attempt;  /* delays handed out since the last reset */
    uint64_t rng; /* xorshift state, seeded per instance */
} fp_backoff;

/* base_ms >= 1, cap_ms >= base_ms (clamped). */
void fp_backoff_init(fp_backoff *b, int64_t base_ms, int64_t cap_ms);
/* The next delay in ms; each call counts one attempt. */
int64_t fp_backoff_next(fp_backoff *b);
/* After a success: the next delay starts from base again. */
void fp_backoff_reset(fp_backoff *b);
/* fp_backoff_next() and fp_stop_sleep_ms() in one: false when stop was requested. */
bool fp_backoff_sleep(fp_backoff *b, const fp_stop *stop);

#endif
