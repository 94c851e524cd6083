/* reconcile.c — placeholder until cross-store reconciliation lands. */
#include "check/reconcile.h"

fp_code fp_check_reconcile_conf(const json_t *conf, const char *dir, const char *what, fp_err *err)
{
    (void)conf, (void)dir;
    return fp_err_set(err, FP_ERR_CONFIG, "%s: kind reconcile is not built yet", what);
}

fp_code fp_check_reconcile(const json_t *conf, const fp_check_opts *o, fp_pg *pg, int64_t *observed,
                           char **samples, fp_err *err)
{
    (void)conf, (void)o, (void)pg, (void)observed, (void)samples;
    return fp_err_set(err, FP_ERR_INTERNAL, "kind reconcile is not built yet");
}
