/* TEMPORARY: until the loader and the lake watermark land. */
#include "lake/lake.h"
/* TEMP until lake.h declares it */
fp_code fp_lake_watermark_read(const char *lake_url, const fp_store_opts *so, const char *table,
                               int64_t *watermark_ms, fp_err *err);
#include "warehouse/warehouse.h"
__attribute__((weak)) fp_code fp_wh_load(const fp_wh_load_opts *o, fp_wh_load_counts *c,
                                         fp_err *err)
{
    (void)o;
    (void)c;
    return fp_err_set(err, FP_ERR_INTERNAL, "load not linked yet");
}
