/* score.c — placeholder until the scorer lands. */
#include "check/score.h"

fp_code fp_check_score(const char *truth_path, const fp_check_hit *hits, size_t nhits,
                       int64_t from_ms, int64_t to_ms, json_t **report, fp_err *err)
{
    (void)truth_path, (void)hits, (void)nhits, (void)from_ms, (void)to_ms;
    *report = NULL;
    return fp_err_set(err, FP_ERR_INTERNAL, "check score: not built yet");
}
