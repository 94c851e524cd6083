/* log.h — the process logger: one line per event on stderr,
 * "2026-11-24T17:50:00.123Z INFO  raw-lake/0: message".
 *
 * Thread-safe: the level is an atomic and each line is written by one fwrite(), so lines from
 * task threads, librdkafka's threads and the HTTP server never interleave. FLEETPIPE_LOG_LEVEL
 * (debug, info, warn, error) sets the starting level.
 */
#ifndef FP_CORE_LOG_H
#define FP_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum fp_log_level { FP_LOG_DEBUG, FP_LOG_INFO, FP_LOG_WARN, FP_LOG_ERROR } fp_log_level;

/* Lines below this level are dropped (default INFO). Any thread. */
void fp_log_set_level(fp_log_level l);
/* "debug", "info", "warn"/"warning", "error" (any case); false for anything else. */
bool fp_log_level_parse(const char *s, fp_log_level *out);
/* Whether a line at l would be written (to skip building an expensive message). */
bool fp_log_enabled(fp_log_level l);
/* who: component or connector name, or NULL; task: task number or -1. Any thread. */
void fp_log(fp_log_level l, const char *who, int task, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fp_log_v(fp_log_level l, const char *who, int task, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
