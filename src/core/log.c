/* log.c — the process logger (core/log.h). The level is read by every thread, so it is an
 * atomic; formatting happens into a private buffer and the line goes out in one fwrite(). */
#include "core/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "core/mem.h"
#include "core/time.h"

static atomic_int min_level = FP_LOG_INFO;

__attribute__((constructor)) static void level_from_env(void)
{
    fp_log_level l;
    const char *e = getenv("FLEETPIPE_LOG_LEVEL");
    if (e && fp_log_level_parse(e, &l))
        atomic_store(&min_level, (int)l);
}

void fp_log_set_level(fp_log_level l)
{
    atomic_store(&min_level, (int)l);
}

bool fp_log_level_parse(const char *s, fp_log_level *out)
{
    static const struct {
        const char *name;
        fp_log_level l;
    } names[] = {{"debug", FP_LOG_DEBUG},
                 {"info", FP_LOG_INFO},
                 {"warn", FP_LOG_WARN},
                 {"warning", FP_LOG_WARN},
                 {"error", FP_LOG_ERROR}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(s, names[i].name)) {
            *out = names[i].l;
            return true;
        }
    return false;
}

bool fp_log_enabled(fp_log_level l)
{
    return (int)l >= atomic_load(&min_level);
}

void fp_log_v(fp_log_level l, const char *who, int task, const char *fmt, va_list ap)
{
    static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (!fp_log_enabled(l))
        return;
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(fp_time_now_ms(), &b);
    fp_buf_printf(&b, " %s ", names[l]);
    if (who && task >= 0)
        fp_buf_printf(&b, "%s/%d: ", who, task);
    else if (who)
        fp_buf_printf(&b, "%s: ", who);
    fp_buf_vprintf(&b, fmt, ap);
    fp_buf_putc(&b, '\n');
    fwrite(b.p, 1, b.len, stderr);
    fp_buf_free(&b);
}

void fp_log(fp_log_level l, const char *who, int task, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fp_log_v(l, who, task, fmt, ap);
    va_end(ap);
}
