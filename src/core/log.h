/* log.h — stderr log lines for long-running commands:
 * "2026-11-24T17:50:00.123Z INFO  raw-lake/0: message". Thread-safe (one fprintf per line). */
#ifndef FP_CORE_LOG_H
#define FP_CORE_LOG_H

typedef enum fp_log_level { FP_LOG_DEBUG, FP_LOG_INFO, FP_LOG_WARN, FP_LOG_ERROR } fp_log_level;

/* Lines below this level are dropped (default INFO). */
void fp_log_set_level(fp_log_level l);
/* who: connector name or NULL; task: task number or -1. */
void fp_log(fp_log_level l, const char *who, int task, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
