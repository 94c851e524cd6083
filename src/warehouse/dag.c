/* dag.c — config/warehouse/pipeline.json into fp_wh_pipeline, and the task templates.
 *
 * The file is checked whole at load time, so a scheduler never starts with a DAG it cannot
 * run: unknown keys, bad durations, unknown upstream tasks or DAGs, cycles, unreadable SQL
 * files and templates naming unknown variables are errors naming the DAG and the task.
 * Templates are rendered textually (as Airflow's Jinja would for these names), once per try.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/props.h"
#include "core/time.h"
#include "pg/tmpl.h"
#include "warehouse/sched_int.h"

/* ---- pipeline.json ---- */

const fp_wh_dag *fp_wh_dag_find(const fp_wh_pipeline *p, const char *id)
{
    for (size_t i = 0; i < p->ndags; i++)
        if (!strcmp(p->dags[i].id, id))
            return &p->dags[i];
    return NULL;
}

long fp_wh_task_index(const fp_wh_dag *d, const char *id)
{
    for (size_t i = 0; i < d->ntasks; i++)
        if (!strcmp(d->tasks[i].id, id))
            return (long)i;
    return -1;
}

/* DAG and task ids go into SQL arrays and metric labels: [A-Za-z0-9_.-]. */
static bool id_ok(const char *s)
{
    if (!*s || strlen(s) > 100)
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            *s != '_' && *s != '.' && *s != '-')
            return false;
    return true;
}

static void task_free(fp_wh_task *t)
{
    free(t->id);
    free(t->sql);
    free(t->table);
    free(t->delete_where);
    fp_check_set_free(t->checks);
    free(t->only);
    free(t->every);
    free(t->upstream);
}

void fp_wh_pipeline_free(fp_wh_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ndags; i++) {
        fp_wh_dag *d = &p->dags[i];
        for (size_t j = 0; j < d->ntasks; j++)
            task_free(&d->tasks[j]);
        free(d->tasks);
        free(d->id);
        free(d->step);
        free(d->timezone);
        free(d->start);
        free(d->end);
        free(d->wait_for);
        json_decref(d->params);
    }
    free(p->dags);
    free(p->path);
    free(p->lake_url);
    free(p);
}

/* Every key of obj must be in the NULL-terminated list. */
static fp_code check_keys(json_t *obj, const char *const *keys, const char *what, fp_err *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (const char *const *q = keys; *q && !ok; q++)
            ok = !strcmp(*q, k);
        if (!ok)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: unknown key \"%s\"", what, k);
    }
    return FP_OK;
}

static const char *str_or(json_t *obj, const char *key, const char *dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

/* A duration key: a JSON number of seconds or a string "30s", "5m", "2h". */
static fp_code get_ms(json_t *obj, const char *key, int64_t dflt, int64_t *out, const char *what,
                      fp_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return FP_OK;
    if (json_is_number(v)) {
        *out = (int64_t)(json_number_value(v) * 1000.0);
    } else if (!json_is_string(v) || fp_parse_ms(json_string_value(v), out) != FP_OK) {
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"%s\" is not a duration (e.g. 30s, 5m, 2h)",
                          what, key);
    }
    if (*out < 0)
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"%s\" is negative", what, key);
    return FP_OK;
}

static fp_code get_int(json_t *obj, const char *key, int dflt, int min, int *out, const char *what,
                       fp_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v)
        return FP_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > 1000000)
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"%s\" must be an integer >= %d", what, key,
                          min);
    *out = (int)json_integer_value(v);
    return FP_OK;
}

static fp_code get_bool(json_t *obj, const char *key, bool dflt, bool *out, const char *what,
                        fp_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v)
        return FP_OK;
    if (!json_is_boolean(v))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"%s\" must be true or false", what, key);
    *out = json_is_true(v);
    return FP_OK;
}

/* start_date / end_date: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]", local to the DAG's zone. */
fp_code fp_wh_local_parse(const char *s, char **out, const char *what, fp_err *err)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    char tail;
    size_t n = strlen(s);
    bool ok =
        (n == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) == 3) ||
        (n == 16 && sscanf(s, "%4d-%2d-%2dT%2d:%2d%c", &y, &mo, &d, &h, &mi, &tail) == 5) ||
        (n == 19 && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &tail) == 6);
    if (!ok || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "%s: \"%s\" is not a local date or time (YYYY-MM-DD[THH:MM[:SS]], in the "
                          "DAG's timezone)",
                          what, s);
    fp_buf b = {0};
    fp_buf_printf(&b, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, sec);
    *out = fp_buf_steal(&b);
    return FP_OK;
}

static fp_code schedule_step(const char *s, char **out, const char *what, fp_err *err)
{
    static const struct {
        const char *preset, *step;
    } presets[] = {{"@hourly", "1 hour"}, {"@daily", "1 day"}, {"@weekly", "7 days"}};
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(s, presets[i].preset)) {
            *out = fp_xstrdup(presets[i].step);
            return FP_OK;
        }
    int64_t ms;
    if (fp_parse_ms(s, &ms) != FP_OK || ms < 60000)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "%s: schedule \"%s\": use @hourly, @daily, @weekly or a duration of at "
                          "least 1m (cron expressions are not supported)",
                          what, s);
    fp_buf b = {0};
    fp_buf_printf(&b, "%lld milliseconds", (long long)ms);
    *out = fp_buf_steal(&b);
    return FP_OK;
}

static fp_code read_sql(const char *base, const char *rel, char **out, const char *what,
                        fp_err *err)
{
    fp_buf path = {0};
    if (rel[0] != '/') {
        const char *slash = strrchr(base, '/');
        if (slash)
            fp_buf_append(&path, base, (size_t)(slash - base + 1));
    }
    fp_buf_puts(&path, rel);
    FILE *f = fopen(path.p, "rb");
    if (!f) {
        fp_code rc =
            fp_err_set(err, FP_ERR_CONFIG, "%s: sql file %s: %s", what, path.p, strerror(errno));
        fp_buf_free(&path);
        return rc;
    }
    fp_buf text = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fp_buf_append(&text, chunk, n);
    fclose(f);
    fp_buf_free(&path);
    /* A trailing semicolon would end the INSERT ... SELECT early: drop it. */
    while (text.len && strchr(" \t\r\n;", text.p[text.len - 1]))
        text.p[--text.len] = 0;
    *out = fp_buf_steal(&text);
    return FP_OK;
}

/* Renders a template once with dummy values to find unknown names at load time. */
static fp_code check_template(const char *tmpl, json_t *params, const char *what, fp_err *err)
{
    fp_pg_tmpl_ctx c = {.start_ms = 0, .end_ms = 0, .ds = "1970-01-01", .params = params};
    fp_buf b = {0};
    fp_code rc = fp_pg_tmpl_render(tmpl, &c, &b, err);
    fp_buf_free(&b);
    return rc ? fp_err_prefix(err, "%s", what) : FP_OK;
}

static fp_code parse_task(fp_wh_dag *d, json_t *jt, json_t *defaults, fp_wh_task *t,
                          const char *path, fp_err *err)
{
    static const char *const keys[] = {"id",           "type",     "sql",         "table",
                                       "delete_where", "upstream", "checks",      "only",
                                       "every",        "retries",  "retry_delay", "max_retry_delay",
                                       "retry_jitter", "timeout",  NULL};
    char what[256];
    const char *id = str_or(jt, "id", NULL);
    if (!id || !id_ok(id))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "dag %s: a task without an \"id\" of "
                          "[A-Za-z0-9_.-]",
                          d->id);
    snprintf(what, sizeof what, "dag %s task %s", d->id, id);
    fp_code rc = check_keys(jt, keys, what, err);
    if (rc)
        return rc;
    t->id = fp_xstrdup(id);
    const char *type = str_or(jt, "type", "mart");
    if (!strcmp(type, "load"))
        t->kind = FP_WH_TASK_LOAD;
    else if (!strcmp(type, "mart"))
        t->kind = FP_WH_TASK_MART;
    else if (!strcmp(type, "sql"))
        t->kind = FP_WH_TASK_SQL;
    else if (!strcmp(type, "check"))
        t->kind = FP_WH_TASK_CHECK;
    else
        return fp_err_set(err, FP_ERR_CONFIG, "%s: type \"%s\" (load, mart, sql or check)", what,
                          type);
    if (t->kind == FP_WH_TASK_CHECK) {
        const char *checks = str_or(jt, "checks", NULL), *only = str_or(jt, "only", NULL);
        if (!checks)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: \"checks\" (a directory or file of checks) is required", what);
        fp_buf cp = {0};
        const char *slash = strrchr(path, '/');
        if (checks[0] != '/' && slash)
            fp_buf_append(&cp, path, (size_t)(slash - path + 1));
        fp_buf_puts(&cp, checks);
        rc = fp_check_set_load(cp.p, &t->checks, err);
        fp_buf_free(&cp);
        if (rc)
            return fp_err_prefix(err, "%s", what);
        t->only = only ? fp_xstrdup(only) : NULL;
        const char *every = str_or(jt, "every", NULL);
        if (every && strcmp(every, "hour") && strcmp(every, "day"))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: \"every\" must be \"hour\" or \"day\"",
                              what);
        t->every = every ? fp_xstrdup(every) : NULL;
    } else if (t->kind != FP_WH_TASK_LOAD) {
        const char *sql = str_or(jt, "sql", NULL);
        if (!sql)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: \"sql\" (a file) is required", what);
        if ((rc = read_sql(path, sql, &t->sql, what, err)) ||
            (rc = check_template(t->sql, d->params, what, err)))
            return rc;
    }
    if (t->kind == FP_WH_TASK_MART) {
        const char *table = str_or(jt, "table", NULL);
        if (!table)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: a mart needs \"table\"", what);
        t->table = fp_xstrdup(table);
        t->delete_where = fp_xstrdup(str_or(jt, "delete_where", "day = '{{ ds }}'"));
        if ((rc = check_template(t->delete_where, d->params, what, err)))
            return rc;
    }
    /* Task keys override the DAG's default_args, which override these defaults. */
    json_t *src[2] = {defaults, jt};
    t->retries = 2;
    t->retry_delay_ms = 30000;
    t->max_retry_delay_ms = 600000;
    t->timeout_ms = 3600000;
    int64_t jitter_pct = 10;
    for (int i = 0; i < 2; i++) {
        json_t *o = src[i];
        if (!o)
            continue;
        int64_t j;
        if ((rc = get_int(o, "retries", t->retries, 0, &t->retries, what, err)) ||
            (rc = get_ms(o, "retry_delay", t->retry_delay_ms, &t->retry_delay_ms, what, err)) ||
            (rc = get_ms(o, "max_retry_delay", t->max_retry_delay_ms, &t->max_retry_delay_ms, what,
                         err)) ||
            (rc = get_ms(o, "timeout", t->timeout_ms, &t->timeout_ms, what, err)))
            return rc;
        json_t *jj = json_object_get(o, "retry_jitter");
        if (jj) {
            if (!json_is_number(jj) || json_number_value(jj) < 0 || json_number_value(jj) > 1)
                return fp_err_set(err, FP_ERR_CONFIG, "%s: retry_jitter must be 0..1", what);
            j = (int64_t)(json_number_value(jj) * 100 + 0.5);
            jitter_pct = j;
        }
    }
    t->jitter = (double)jitter_pct / 100.0;
    if (t->max_retry_delay_ms < t->retry_delay_ms)
        t->max_retry_delay_ms = t->retry_delay_ms;
    fp_metrics_hist_init_seconds(&t->duration);
    return FP_OK;
}

/* Upstream names into indices, then a cycle check (depth-first, colours). */
static fp_code link_tasks(fp_wh_dag *d, json_t *jtasks, fp_err *err)
{
    for (size_t i = 0; i < d->ntasks; i++) {
        json_t *up = json_object_get(json_array_get(jtasks, i), "upstream");
        if (!up)
            continue;
        if (!json_is_array(up))
            return fp_err_set(err, FP_ERR_CONFIG, "dag %s task %s: upstream must be a list", d->id,
                              d->tasks[i].id);
        fp_wh_task *t = &d->tasks[i];
        t->upstream = fp_xcalloc(json_array_size(up) + 1, sizeof *t->upstream);
        size_t k;
        json_t *v;
        json_array_foreach(up, k, v)
        {
            long j = json_is_string(v) ? fp_wh_task_index(d, json_string_value(v)) : -1;
            if (j < 0)
                return fp_err_set(err, FP_ERR_CONFIG, "dag %s task %s: unknown upstream task %s",
                                  d->id, t->id, json_is_string(v) ? json_string_value(v) : "?");
            t->upstream[t->nupstream++] = (size_t)j;
        }
    }
    /* Kahn's algorithm: a cycle leaves tasks with upstream left. */
    size_t n = d->ntasks, done = 0;
    bool *ok = fp_xcalloc(n + 1, 1);
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < n; i++) {
            if (ok[i])
                continue;
            bool ready = true;
            for (size_t u = 0; u < d->tasks[i].nupstream; u++)
                ready = ready && ok[d->tasks[i].upstream[u]];
            if (ready) {
                ok[i] = true;
                done++;
                progress = true;
            }
        }
    }
    free(ok);
    if (done != n)
        return fp_err_set(err, FP_ERR_CONFIG, "dag %s: its tasks' upstream lists form a cycle",
                          d->id);
    return FP_OK;
}

static fp_code parse_dag(fp_wh_pipeline *p, json_t *jd, json_t *params, fp_wh_dag *d, fp_err *err)
{
    static const char *const keys[] = {
        "id",           "schedule",    "timezone",           "start_date",
        "end_date",     "catchup",     "max_active_runs",    "deadline",
        "wait_for",     "readiness",   "rerun_on_late_data", "params",
        "reads_before", "reads_after", "default_args",       "tasks",
        "description",  NULL};
    const char *id = str_or(jd, "id", NULL);
    if (!id || !id_ok(id))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: a DAG without an \"id\" of [A-Za-z0-9_.-]",
                          p->path);
    d->id = fp_xstrdup(id);
    char what[160];
    snprintf(what, sizeof what, "dag %s", id);
    fp_code rc = check_keys(jd, keys, what, err);
    if (rc)
        return rc;
    d->params = params ? json_deep_copy(params) : json_object();
    json_t *own = json_object_get(jd, "params");
    if (own && (!json_is_object(own) || json_object_update(d->params, own)))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: params must be an object", what);
    d->timezone = fp_xstrdup(str_or(jd, "timezone", str_or(d->params, "timezone", "UTC")));
    if (!json_object_get(d->params, "timezone"))
        json_object_set_new(d->params, "timezone", json_string(d->timezone));
    if ((rc = schedule_step(str_or(jd, "schedule", "@daily"), &d->step, what, err)))
        return rc;
    const char *start = str_or(jd, "start_date", NULL);
    if (!start)
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"start_date\" is required", what);
    if ((rc = fp_wh_local_parse(start, &d->start, what, err)))
        return rc;
    const char *end = str_or(jd, "end_date", NULL);
    if (end && (rc = fp_wh_local_parse(end, &d->end, what, err)))
        return rc;
    const char *readiness = str_or(jd, "readiness", "lake_watermark");
    if (strcmp(readiness, "lake_watermark") && strcmp(readiness, "none"))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: readiness \"%s\" (lake_watermark or none)", what,
                          readiness);
    d->wait_watermark = !strcmp(readiness, "lake_watermark");
    if ((rc = get_bool(jd, "catchup", true, &d->catchup, what, err)) ||
        (rc = get_bool(jd, "rerun_on_late_data", true, &d->rerun_on_late_data, what, err)) ||
        (rc = get_int(jd, "max_active_runs", 4, 1, &d->max_active_runs, what, err)) ||
        (rc = get_ms(jd, "deadline", 0, &d->deadline_ms, what, err)) ||
        (rc = get_ms(jd, "reads_before", 0, &d->reads_before_ms, what, err)) ||
        (rc = get_ms(jd, "reads_after", 0, &d->reads_after_ms, what, err)))
        return rc;
    json_t *defaults = json_object_get(jd, "default_args");
    json_t *jtasks = json_object_get(jd, "tasks");
    if (!json_is_array(jtasks) || !json_array_size(jtasks))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"tasks\" must be a non-empty list", what);
    d->tasks = fp_xcalloc(json_array_size(jtasks), sizeof *d->tasks);
    for (size_t i = 0; i < json_array_size(jtasks); i++) {
        json_t *jt = json_array_get(jtasks, i);
        if (!json_is_object(jt))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: task %zu is not an object", what, i);
        rc = parse_task(d, jt, defaults, &d->tasks[d->ntasks], p->path, err);
        d->ntasks++;
        if (rc)
            return rc;
        if (fp_wh_task_index(d, d->tasks[i].id) != (long)i)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: task id %s twice", what, d->tasks[i].id);
    }
    return link_tasks(d, jtasks, err);
}

fp_code fp_wh_pipeline_load(const char *path, fp_wh_pipeline **out, fp_err *err)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return fp_err_set(err, FP_ERR_CONFIG, "%s:%d: %s", path, je.line, je.text);
    fp_wh_pipeline *p = fp_xcalloc(1, sizeof *p);
    p->path = fp_xstrdup(path);
    fp_code rc = FP_OK;
    static const char *const keys[] = {"lake", "params", "dags", "description", NULL};
    json_t *params = json_object_get(root, "params");
    json_t *dags = json_object_get(root, "dags");
    if (!json_is_object(root) || (rc = check_keys(root, keys, path, err)))
        rc = rc ? rc : fp_err_set(err, FP_ERR_CONFIG, "%s: not a JSON object", path);
    else if (params && !json_is_object(params))
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: params must be an object", path);
    else if (!json_is_array(dags) || !json_array_size(dags))
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: \"dags\" must be a non-empty list", path);
    if (!rc && json_is_string(json_object_get(root, "lake")))
        p->lake_url = fp_xstrdup(json_string_value(json_object_get(root, "lake")));
    if (!rc)
        p->dags = fp_xcalloc(json_array_size(dags), sizeof *p->dags);
    for (size_t i = 0; !rc && i < json_array_size(dags); i++) {
        json_t *jd = json_array_get(dags, i);
        if (!json_is_object(jd)) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: dag %zu is not an object", path, i);
            break;
        }
        rc = parse_dag(p, jd, params, &p->dags[p->ndags], err);
        p->ndags++;
        if (!rc && fp_wh_dag_find(p, p->dags[i].id) != &p->dags[i])
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: dag id %s twice", path, p->dags[i].id);
    }
    /* wait_for names DAGs, so it is linked once all are read. */
    for (size_t i = 0; !rc && i < p->ndags; i++) {
        json_t *w = json_object_get(json_array_get(dags, i), "wait_for");
        if (!w)
            continue;
        fp_wh_dag *d = &p->dags[i];
        if (!json_is_array(w)) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "dag %s: wait_for must be a list", d->id);
            break;
        }
        d->wait_for = fp_xcalloc(json_array_size(w) + 1, sizeof *d->wait_for);
        size_t k;
        json_t *v;
        json_array_foreach(w, k, v)
        {
            const fp_wh_dag *o = json_is_string(v) ? fp_wh_dag_find(p, json_string_value(v)) : NULL;
            if (!o || o == d) {
                rc = fp_err_set(err, FP_ERR_CONFIG, "dag %s: wait_for names no other DAG (%s)",
                                d->id, json_is_string(v) ? json_string_value(v) : "?");
                break;
            }
            d->wait_for[d->nwait_for++] = (size_t)(o - p->dags);
        }
    }
    /* wait_for must not loop back (A waits for B waits for A would never run). */
    for (size_t i = 0; !rc && i < p->ndags; i++) {
        size_t *stack = fp_xcalloc(p->ndags * p->ndags + 1, sizeof *stack), n = 0, steps = 0;
        stack[n++] = i;
        while (n && !rc) {
            const fp_wh_dag *d = &p->dags[stack[--n]];
            for (size_t w = 0; w < d->nwait_for && !rc; w++) {
                if (d->wait_for[w] == i)
                    rc = fp_err_set(err, FP_ERR_CONFIG, "dag %s: wait_for leads back to itself",
                                    p->dags[i].id);
                else if (++steps <= p->ndags * p->ndags)
                    stack[n++] = d->wait_for[w];
            }
        }
        free(stack);
    }
    json_decref(root);
    if (rc) {
        fp_wh_pipeline_free(p);
        return rc;
    }
    *out = p;
    return FP_OK;
}

fp_code fp_wh_pipeline_set_dates(fp_wh_pipeline *p, const char *start, const char *end, fp_err *err)
{
    for (size_t i = 0; i < p->ndags; i++) {
        fp_wh_dag *d = &p->dags[i];
        char *v = NULL;
        if (start && *start) {
            fp_code rc = fp_wh_local_parse(start, &v, "--start-date", err);
            if (rc)
                return rc;
            free(d->start);
            d->start = v;
        }
        if (end && *end) {
            fp_code rc = fp_wh_local_parse(end, &v, "--end-date", err);
            if (rc)
                return rc;
            free(d->end);
            d->end = v;
        }
    }
    return FP_OK;
}
