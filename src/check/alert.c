/* alert.c — placeholder until the alerter lands: alerts are off. */
#include "check/alert.h"

fp_code fp_alert_open(const json_t *conf, const char *base_dir, fp_alert **out, fp_err *err)
{
    (void)conf, (void)base_dir, (void)err;
    *out = NULL;
    return FP_OK;
}

fp_code fp_alert_report(fp_alert *a, fp_pg *pg, const char *key, const char *status,
                        const char *title, const char *text, fp_err *err)
{
    (void)a, (void)pg, (void)key, (void)status, (void)title, (void)text, (void)err;
    return FP_OK;
}

void fp_alert_flush(fp_alert *a, int64_t timeout_ms)
{
    (void)a, (void)timeout_ms;
}
void fp_alert_metrics(const fp_alert *a, fp_buf *out)
{
    (void)a, (void)out;
}
void fp_alert_free(fp_alert *a)
{
    (void)a;
}
