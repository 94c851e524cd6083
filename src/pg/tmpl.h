/* tmpl.h — the templates of fleetpipe's SQL files (warehouse marts, data-quality checks), as
 * Airflow's Jinja renders these names, textually, once per run.
 *
 * Threads: pure functions; any thread.
 */
#ifndef FP_PG_TMPL_H
#define FP_PG_TMPL_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

/* Renders a template: {{ data_interval_start }}, {{ data_interval_end }} (ISO-8601 UTC,
 * "2026-03-02T15:00:00Z"), {{ ds }} / {{ ds_nodash }} (the interval's start date in the DAG's
 * time zone), {{ try_number }}, {{ dag_id }}, {{ task_id }} and {{ params.NAME }} (the
 * pipeline's params, overridden by the DAG's). Anything else is FP_ERR_CONFIG naming it. */
typedef struct fp_pg_tmpl_ctx {
    int64_t start_ms, end_ms;
    const char *ds; /* YYYY-MM-DD */
    int try_number;
    const char *dag, *task;
    json_t *params; /* object; borrowed */
} fp_pg_tmpl_ctx;
fp_code fp_pg_tmpl_render(const char *tmpl, const fp_pg_tmpl_ctx *c, fp_buf *out, fp_err *err);

/* "2026-03-02T15:00:00Z" (whole seconds, as templates and PostgreSQL parameters use them). */
void fp_pg_tmpl_iso(int64_t ms, fp_buf *out);

#endif
