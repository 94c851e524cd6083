/* log.c — timestamped stderr logging shared by connect, broker and demo. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/mem.h"
#include "core/time.h"

static fp_log_level min_level = FP_LOG_INFO;

__attribute__((constructor)) static void level_from_env(void)
{
    const char *e = getenv("FLEETPIPE_LOG_LEVEL");
    if (e && (e[0] == 'd' || e[0] == 'D'))
        min_level = FP_LOG_DEBUG;
}

void fp_log_set_level(fp_log_level l)
{
    min_level = l;
}

void fp_log(fp_log_level l, const char *who, int task, const char *fmt, ...)
{
    static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (l < min_level)
        return;
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(fp_time_now_ms(), &b);
    fp_buf_printf(&b, " %s ", names[l]);
    if (who && task >= 0)
        fp_buf_printf(&b, "%s/%d: ", who, task);
    else if (who)
        fp_buf_printf(&b, "%s: ", who);
    va_list ap;
    va_start(ap, fmt);
    fp_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    fp_buf_putc(&b, '\n');
    fwrite(b.p, 1, b.len, stderr);
    fp_buf_free(&b);
}
