/* tmpl.c — the {{ name }} templates of SQL files (see tmpl.h). */
#include <stdio.h>
#include <string.h>

#include "core/time.h"
#include "pg/tmpl.h"

void fp_pg_tmpl_iso(int64_t ms, fp_buf *out)
{
    int y, mo, d, h, mi, s;
    fp_time_utc(ms, &y, &mo, &d, &h, &mi, &s);
    fp_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
}

static fp_code put_param(const json_t *v, const char *name, fp_buf *out, fp_err *err)
{
    if (json_is_string(v))
        fp_buf_puts(out, json_string_value(v));
    else if (json_is_integer(v))
        fp_buf_printf(out, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        fp_buf_put_double(out, json_real_value(v));
    else if (json_is_boolean(v))
        fp_buf_puts(out, json_is_true(v) ? "true" : "false");
    else
        return fp_err_set(err, FP_ERR_CONFIG,
                          "template: {{ params.%s }} is not a string, number "
                          "or boolean",
                          name);
    return FP_OK;
}

fp_code fp_pg_tmpl_render(const char *tmpl, const fp_pg_tmpl_ctx *c, fp_buf *out, fp_err *err)
{
    const char *p = tmpl;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (!open) {
            fp_buf_puts(out, p);
            return FP_OK;
        }
        fp_buf_append(out, p, (size_t)(open - p));
        const char *close = strstr(open + 2, "}}");
        if (!close)
            return fp_err_set(err, FP_ERR_CONFIG, "template: \"{{\" without \"}}\"");
        const char *a = open + 2, *b = close;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        char name[128];
        size_t n = (size_t)(b - a);
        if (n == 0 || n >= sizeof name)
            return fp_err_set(err, FP_ERR_CONFIG, "template: bad name between {{ }}");
        memcpy(name, a, n);
        name[n] = 0;
        if (!strcmp(name, "data_interval_start"))
            fp_pg_tmpl_iso(c->start_ms, out);
        else if (!strcmp(name, "data_interval_end"))
            fp_pg_tmpl_iso(c->end_ms, out);
        else if (!strcmp(name, "ds"))
            fp_buf_puts(out, c->ds);
        else if (!strcmp(name, "ds_nodash")) {
            for (const char *d = c->ds; *d; d++)
                if (*d != '-')
                    fp_buf_putc(out, *d);
        } else if (!strcmp(name, "try_number"))
            fp_buf_printf(out, "%d", c->try_number);
        else if (!strcmp(name, "dag_id"))
            fp_buf_puts(out, c->dag ? c->dag : "");
        else if (!strcmp(name, "task_id"))
            fp_buf_puts(out, c->task ? c->task : "");
        else if (!strncmp(name, "params.", 7)) {
            const json_t *v = c->params ? json_object_get(c->params, name + 7) : NULL;
            if (!v)
                return fp_err_set(err, FP_ERR_CONFIG, "template: {{ %s }}: no such param", name);
            fp_code rc = put_param(v, name + 7, out, err);
            if (rc)
                return rc;
        } else
            return fp_err_set(err, FP_ERR_CONFIG, "template: unknown name {{ %s }}", name);
        p = close + 2;
    }
}
