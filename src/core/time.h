/* time.h — ISO-8601 timestamps <-> epoch milliseconds, always normalised to UTC.
 *
 * Devices report local time with an offset ("2023-01-01T12:00:00+09:00"); every partition and
 * comparison in fleetpipe uses UTC epoch milliseconds. Parsing is strict: a date that does not
 * exist, a missing offset or trailing bytes are errors.
 */
#ifndef FP_TIME_H
#define FP_TIME_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/err.h"
#include "core/mem.h"

/* Accepts YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM|+HHMM); 't' and ' ' as separator. */
fp_code fp_time_parse_iso(const char *s, size_t n, int64_t *epoch_ms, fp_err *err);
/* fp_time_parse_iso() that remembers the last string it parsed: one that differs from it only in
 * the seconds (the samples of one message) costs two compares instead of the date math. Same
 * answers and errors. Zero-initialise; one cache per thread. */
typedef struct fp_time_iso_cache {
    char s[48];
    size_t n; /* 0: empty */
    int64_t ms;
    int sec;
} fp_time_iso_cache;
fp_code fp_time_parse_iso_cached(fp_time_iso_cache *c, const char *s, size_t n, int64_t *epoch_ms,
                                 fp_err *err);
/* Appends YYYY-MM-DDTHH:MM:SS.mmmZ. */
void fp_time_format_iso(int64_t epoch_ms, fp_buf *out);
/* Civil UTC fields of an epoch-ms instant. */
void fp_time_utc(int64_t epoch_ms, int *year, int *month, int *day, int *hour, int *min, int *sec);
/* Wall clock now, epoch ms, and a monotonic clock in ms. */
int64_t fp_time_now_ms(void);
int64_t fp_time_mono_ms(void);
/* Waiting with a timeout on a condition variable, by the monotonic clock (a wall-clock step
 * neither shortens nor stretches it): fp_time_cond_init() makes the variable use that clock,
 * fp_time_deadline(ms) is the pthread_cond_timedwait() deadline ms from now. */
void fp_time_cond_init(pthread_cond_t *cv);
struct timespec fp_time_deadline(int64_t ms);

#endif
