/* check.c — loading config/checks/ (every .json) and running the checks over an interval (check.h).
 *
 * Every check becomes one template of the SELECT of its failing rows (a `sql` check's file, or
 * SQL generated for a built-in kind), rendered per interval like the warehouse's marts
 * (pg/tmpl.h). The runner wraps it as
 *   WITH f AS (<failing rows>) SELECT count(*), json_agg of the first 20 FROM f
 * so the server counts and samples in one pass, then decides the status from the rules.
 * A file's "every" ("hour" or "day", the default) marks its checks for the scheduler's hourly or
 * daily DAG (fp_check_opts.every picks them); a check's "anomaly_fields" only feed the score.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/reconcile.h"
#include "check/score.h"
#include "core/log.h"
#include "core/props.h"
#include "core/time.h"
#include "pg/pg.h"
#include "pg/tmpl.h"

#define WHO "check"
#define SAMPLES 20

typedef enum {
    K_SQL,
    K_NOT_NULL,
    K_UNIQUE,
    K_RANGE,
    K_VALUES,
    K_RELATIONSHIPS,
    K_ROW_COUNT,
    K_FRESHNESS,
    K_RECONCILE,
} kind;

static const char *const kind_names[] = {
    "sql",           "not_null",  "unique",    "accepted_range", "accepted_values",
    "relationships", "row_count", "freshness", "reconcile",      NULL};

/* "count > 0", "ratio >= 0.01" */
typedef struct rule {
    bool set, ratio;
    char op[3];
    double v;
    char text[48];
} rule;

typedef struct check {
    char *name, *target, *anomaly;
    json_t *anomaly_fields; /* array of strings: the fields it targets (check score), or NULL */
    char *vehicle;     /* the column of its failing rows that names the vehicle (ops.dq_results'
                          vehicles, the Fleet API's alarms), or NULL */
    char *set, *reset; /* its file's "settings": "SET a = 'v'; ..." before it runs and
                          "RESET a; ..." after, or NULL */
    bool hourly;       /* its file says "every": "hour" */
    kind k;
    char *failing;     /* template: the SELECT of the failing rows */
    char *denominator; /* template: SELECT count(*) of the rows checked, or NULL */
    rule warn, error;
    json_t *conf; /* K_RECONCILE: the check's object (its stores), with params merged */
} check;

struct fp_check_set {
    check *v;
    size_t n;
    json_t *alerts;
    char *dir, *tz;
};

/* ------------------------------------------------------------------------------ loading */

static char *read_text(const char *path, fp_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fp_err_set(err, FP_ERR_CONFIG, "%s: cannot read", path);
        return NULL;
    }
    fp_buf b = FP_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fp_buf_append(&b, chunk, n);
    fclose(f);
    return b.p ? b.p : fp_xstrdup("");
}

static const char *str_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool name_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
            return false;
    return true;
}

/* A table name as the checks use it: schema.table of [a-z0-9_]. */
static bool table_ok(const char *s)
{
    const char *dot = s ? strchr(s, '.') : NULL;
    if (!dot || dot == s || !dot[1] || strchr(dot + 1, '.'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
            return false;
    return true;
}

static fp_code parse_rule(const json_t *j, rule *r, const char *what, const char *key, fp_err *err)
{
    *r = (rule){0};
    if (!j)
        return FP_OK;
    const char *which = json_object_get(j, "count") ? "count" : "ratio";
    const char *s = str_of(j, which);
    if (!json_is_object(j) || json_object_size(j) != 1 || !s)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "%s: \"%s\" must be {\"count\": \"> N\"} or {\"ratio\": \"> X\"}", what,
                          key);
    while (*s == ' ')
        s++;
    size_t n = strspn(s, "<>=");
    static const char *const ops[] = {">", ">=", "<", "<=", "=", "<>", NULL};
    bool known = false;
    for (int i = 0; ops[i]; i++)
        known |= n == strlen(ops[i]) && !strncmp(s, ops[i], n);
    char *end = NULL;
    double v = n ? strtod(s + n, &end) : 0;
    if (!known || !end || end == s + n || strspn(end, " ") != strlen(end) || !isfinite(v))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "%s: \"%s\": \"%s\" is not an operator (>, >=, <, <=, =, <>) and a "
                          "number",
                          what, key, s);
    r->set = true;
    r->ratio = !strcmp(which, "ratio");
    memcpy(r->op, s, n);
    r->v = v;
    snprintf(r->text, sizeof r->text, "%s %s %g", which, r->op, v);
    return FP_OK;
}

static bool rule_holds(const rule *r, int64_t count, double ratio)
{
    if (!r->set)
        return false;
    double x = r->ratio ? ratio : (double)count;
    if (r->ratio && isnan(ratio))
        return false;
    if (!strcmp(r->op, ">"))
        return x > r->v;
    if (!strcmp(r->op, ">="))
        return x >= r->v;
    if (!strcmp(r->op, "<"))
        return x < r->v;
    if (!strcmp(r->op, "<="))
        return x <= r->v;
    if (!strcmp(r->op, "="))
        return x == r->v;
    return x != r->v;
}

/* The interval's rows of a table, as a predicate over its unqualified columns. */
static const char *default_where(const char *target)
{
    size_t n = strlen(target);
    if (!strncmp(target, "lake.", 5))
        return "dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE)"
               " AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)"
               " AND timestamp_iso >= CAST('{{ data_interval_start }}' AS TIMESTAMPTZ)"
               " AND timestamp_iso < CAST('{{ data_interval_end }}' AS TIMESTAMPTZ)";
    if (!strncmp(target, "mart.", 5) && n > 7 && !strcmp(target + n - 7, "_hourly"))
        return "hour_start >= CAST('{{ data_interval_start }}' AS TIMESTAMP)"
               " AND hour_start < CAST('{{ data_interval_end }}' AS TIMESTAMP)";
    if (!strncmp(target, "mart.", 5))
        return "day = CAST('{{ ds }}' AS DATE)";
    return NULL;
}

/* Appends the quoted identifiers of a JSON list of column names, joined by sep with a prefix
 * and suffix around each. */
static fp_code put_columns(fp_buf *b, const json_t *cols, const char *pre, const char *post,
                           const char *sep, const char *what, fp_err *err)
{
    if (!json_is_array(cols) || !json_array_size(cols))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"columns\" must be a non-empty list", what);
    for (size_t i = 0; i < json_array_size(cols); i++) {
        const char *c = json_string_value(json_array_get(cols, i));
        if (!name_ok(c) || strchr(c, '.'))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: column %zu is not a name of [a-z0-9_]", what,
                              i);
        fp_buf_printf(b, "%s%s", i ? sep : "", pre);
        fp_pg_put_ident(b, c);
        fp_buf_puts(b, post);
    }
    return FP_OK;
}

static fp_code column_of(const json_t *jc, const char *key, const char **out, const char *what,
                         fp_err *err)
{
    *out = str_of(jc, key);
    if (!name_ok(*out) || strchr(*out, '.'))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"%s\" must be a column name of [a-z0-9_]", what,
                          key);
    return FP_OK;
}

/* The failing rows of a built-in kind. */
static fp_code generate(check *c, const json_t *jc, const char *where, fp_buf *b, const char *what,
                        fp_err *err)
{
    const char *col = NULL;
    fp_code rc = FP_OK;
    switch (c->k) {
    case K_NOT_NULL:
        fp_buf_printf(b, "SELECT * FROM %s WHERE (%s) AND (", c->target, where);
        rc = put_columns(b, json_object_get(jc, "columns"), "", " IS NULL", " OR ", what, err);
        fp_buf_putc(b, ')');
        return rc;
    case K_UNIQUE: {
        fp_buf cols = FP_BUF_INIT;
        rc = put_columns(&cols, json_object_get(jc, "columns"), "", "", ", ", what, err);
        if (!rc)
            fp_buf_printf(b,
                          "SELECT %s, COUNT(*) AS n FROM %s WHERE (%s) GROUP BY %s HAVING "
                          "COUNT(*) > 1",
                          cols.p, c->target, where, cols.p);
        fp_buf_free(&cols);
        return rc;
    }
    case K_RANGE: {
        if ((rc = column_of(jc, "column", &col, what, err)))
            return rc;
        const json_t *lo = json_object_get(jc, "min"), *hi = json_object_get(jc, "max");
        if ((lo && !json_is_number(lo)) || (hi && !json_is_number(hi)) || (!lo && !hi))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: \"min\" and/or \"max\" must be numbers",
                              what);
        fp_buf_printf(b, "SELECT * FROM %s WHERE (%s) AND (", c->target, where);
        if (lo) {
            fp_pg_put_ident(b, col);
            fp_buf_puts(b, " < ");
            fp_buf_put_double(b, json_number_value(lo));
        }
        if (hi) {
            fp_buf_puts(b, lo ? " OR " : "");
            fp_pg_put_ident(b, col);
            fp_buf_puts(b, " > ");
            fp_buf_put_double(b, json_number_value(hi));
        }
        fp_buf_putc(b, ')');
        return FP_OK;
    }
    case K_VALUES: {
        if ((rc = column_of(jc, "column", &col, what, err)))
            return rc;
        const json_t *vals = json_object_get(jc, "values");
        if (!json_is_array(vals) || !json_array_size(vals))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: \"values\" must be a non-empty list", what);
        fp_buf_printf(b, "SELECT * FROM %s WHERE (%s) AND ", c->target, where);
        fp_pg_put_ident(b, col);
        fp_buf_puts(b, " IS NOT NULL AND CAST(");
        fp_pg_put_ident(b, col);
        fp_buf_puts(b, " AS TEXT) NOT IN (");
        for (size_t i = 0; i < json_array_size(vals); i++) {
            const json_t *v = json_array_get(vals, i);
            fp_buf t = FP_BUF_INIT;
            if (json_is_string(v))
                fp_buf_puts(&t, json_string_value(v));
            else if (json_is_integer(v))
                fp_buf_printf(&t, "%lld", (long long)json_integer_value(v));
            else if (json_is_boolean(v))
                fp_buf_puts(&t, json_is_true(v) ? "true" : "false");
            else {
                fp_buf_free(&t);
                return fp_err_set(err, FP_ERR_CONFIG,
                                  "%s: value %zu is not a string, an integer or a boolean", what,
                                  i);
            }
            fp_buf_puts(b, i ? ", " : "");
            fp_pg_put_literal(b, t.p);
            fp_buf_free(&t);
        }
        fp_buf_putc(b, ')');
        return FP_OK;
    }
    case K_RELATIONSHIPS: {
        const char *to = str_of(jc, "to"), *field = str_of(jc, "field");
        if ((rc = column_of(jc, "column", &col, what, err)))
            return rc;
        if (!table_ok(to))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: \"to\" must be a table (schema.table)",
                              what);
        if (!field)
            field = col;
        else if (!name_ok(field) || strchr(field, '.'))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: \"field\" must be a column name", what);
        const char *to_where = str_of(jc, "to_where");
        if (!to_where)
            to_where = default_where(to);
        fp_buf_printf(b, "SELECT * FROM %s t WHERE (%s) AND t.", c->target, where);
        fp_pg_put_ident(b, col);
        fp_buf_printf(b, " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s r WHERE r.", to);
        fp_pg_put_ident(b, field);
        fp_buf_puts(b, " = t.");
        fp_pg_put_ident(b, col);
        if (to_where)
            fp_buf_printf(b, " AND (%s)", to_where);
        fp_buf_putc(b, ')');
        return FP_OK;
    }
    case K_ROW_COUNT: {
        const char *expect = str_of(jc, "expect");
        const json_t *lo = json_object_get(jc, "min"), *hi = json_object_get(jc, "max");
        if (!expect && !lo && !hi)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: row_count needs \"expect\" (a SELECT of one number) or "
                              "\"min\"/\"max\"",
                              what);
        fp_buf_printf(b,
                      "SELECT rows, expected FROM (SELECT (SELECT COUNT(*) FROM %s WHERE %s) "
                      "AS rows, ",
                      c->target, where);
        if (expect)
            fp_buf_printf(b, "(%s)", expect);
        else
            fp_buf_puts(b, "CAST(NULL AS BIGINT)");
        fp_buf_puts(b, " AS expected) x WHERE ");
        const char *sep = "";
        if (expect) {
            fp_buf_puts(b, "rows IS DISTINCT FROM expected");
            sep = " OR ";
        }
        if (lo && json_is_number(lo)) {
            fp_buf_printf(b, "%srows < ", sep);
            fp_buf_put_double(b, json_number_value(lo));
            sep = " OR ";
        }
        if (hi && json_is_number(hi)) {
            fp_buf_printf(b, "%srows > ", sep);
            fp_buf_put_double(b, json_number_value(hi));
        }
        return FP_OK;
    }
    case K_FRESHNESS: {
        int64_t delay = 0;
        const char *d = str_of(jc, "max_delay");
        if (!d || fp_parse_ms(d, &delay) != FP_OK || delay < 0)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: freshness needs \"max_delay\" (a duration, e.g. 3h)", what);
        fp_buf_printf(b,
                      "SELECT 'no rows for the interval ' || '{{ ds }}' || ' in %s' AS problem "
                      "WHERE NOT EXISTS (SELECT 1 FROM %s WHERE %s) AND now() > "
                      "CAST('{{ data_interval_end }}' AS TIMESTAMPTZ) + make_interval(secs => "
                      "%" PRId64 ")",
                      c->target, c->target, where, delay / 1000);
        return FP_OK;
    }
    case K_SQL:
    case K_RECONCILE:
        break;
    }
    return FP_OK;
}

/* Renders the {{ params.NAME }} of *tmpl with params and keeps every other name for the run
 * (an unknown name is an error now, not at run time). */
static fp_code bake_params(char **tmpl, json_t *params, const char *what, fp_err *err)
{
    static const char *const later[] = {"data_interval_start", "data_interval_end", "ds",
                                        "ds_nodash", NULL};
    fp_buf out = FP_BUF_INIT;
    const char *p = *tmpl;
    fp_code rc = FP_OK;
    while (!rc) {
        const char *open = strstr(p, "{{"), *close = open ? strstr(open, "}}") : NULL;
        if (!open || !close) {
            fp_buf_puts(&out, p);
            break;
        }
        fp_buf_append(&out, p, (size_t)(open - p));
        char name[128];
        const char *a = open + 2, *b = close;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        snprintf(name, sizeof name, "%.*s", (int)(b - a), a);
        bool keep = false;
        for (int i = 0; later[i] && !keep; i++)
            keep = !strcmp(name, later[i]);
        if (keep) {
            fp_buf_append(&out, open, (size_t)(close + 2 - open));
        } else {
            fp_pg_tmpl_ctx c = {.ds = "1970-01-01", .params = params};
            fp_buf one = FP_BUF_INIT;
            fp_buf_append(&one, open, (size_t)(close + 2 - open));
            rc = fp_pg_tmpl_render(one.p, &c, &out, err);
            fp_buf_free(&one);
            if (rc)
                fp_err_prefix(err, "%s", what);
        }
        p = close + 2;
    }
    free(*tmpl);
    *tmpl = out.p ? out.p : fp_xstrdup("");
    return rc;
}

static fp_code parse_check(fp_check_set *s, const json_t *jc, json_t *params, const char *vehicle,
                           const char *file, const char *dir, check *c, fp_err *err)
{
    static const char *const keys[] = {
        "name",    "kind",      "target",      "sql",    "anomaly",        "denominator",
        "warn_if", "error_if",  "params",      "where",  "columns",        "column",
        "min",     "max",       "values",      "to",     "field",          "to_where",
        "expect",  "max_delay", "description", "stores", "anomaly_fields", "vehicle",
        NULL};
    const char *name = str_of(jc, "name");
    char what[200];
    snprintf(what, sizeof what, "%s: check %s", file, name ? name : "(no name)");
    if (!json_is_object(jc) || !name_ok(name))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: a check needs a \"name\" of [a-z0-9_.]", what);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)jc, key, v)
    {
        bool known = false;
        for (int i = 0; keys[i] && !known; i++)
            known = !strcmp(keys[i], key);
        if (!known)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: unknown key \"%s\"", what, key);
    }
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: the name is taken by another check", what);
    c->name = fp_xstrdup(name);
    const char *k = str_of(jc, "kind");
    c->k = K_SQL;
    bool found = !k;
    for (int i = 0; k && kind_names[i] && !found; i++)
        if (!strcmp(kind_names[i], k)) {
            c->k = (kind)i;
            found = true;
        }
    if (!found)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "%s: kind \"%s\" (sql, not_null, unique, accepted_range, "
                          "accepted_values, relationships, row_count, freshness, reconcile)",
                          what, k);
    const char *target = str_of(jc, "target");
    if (!table_ok(target))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"target\" must be a table (schema.table)",
                          what);
    c->target = fp_xstrdup(target);
    const char *an = str_of(jc, "anomaly");
    c->anomaly = an ? fp_xstrdup(an) : NULL;
    const json_t *af = json_object_get(jc, "anomaly_fields");
    if (af) {
        bool ok = an && json_is_array(af) && json_array_size(af) > 0;
        for (size_t i = 0; ok && i < json_array_size(af); i++)
            ok = json_is_string(json_array_get(af, i));
        if (!ok)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: \"anomaly_fields\" must be a non-empty array of field names, "
                              "with \"anomaly\"",
                              what);
        c->anomaly_fields = json_deep_copy(af);
    }
    if (json_object_get(jc, "vehicle"))
        vehicle = str_of(jc, "vehicle");
    if (vehicle && (!name_ok(vehicle) || strchr(vehicle, '.') || c->k == K_RECONCILE))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "%s: \"vehicle\" must name a column of the failing rows ([a-z0-9_]; "
                          "not for a reconcile check)",
                          what);
    c->vehicle = vehicle ? fp_xstrdup(vehicle) : NULL;
    fp_code rc;
    if ((rc = parse_rule(json_object_get(jc, "warn_if"), &c->warn, what, "warn_if", err)) ||
        (rc = parse_rule(json_object_get(jc, "error_if"), &c->error, what, "error_if", err)))
        return rc;
    if (!c->warn.set && !c->error.set)
        c->error = (rule){.set = true, .op = ">", .v = 0, .text = "count > 0"};
    json_t *mine = json_deep_copy(params);
    json_t *own = json_object_get(jc, "params");
    if (own && json_is_object(own))
        json_object_update(mine, own);
    fp_buf b = FP_BUF_INIT;
    if (c->k == K_SQL) {
        const char *sql = str_of(jc, "sql");
        if (!sql) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: a sql check needs \"sql\" (a file)", what);
        } else {
            fp_buf path = FP_BUF_INIT;
            fp_buf_printf(&path, "%s%s%s", sql[0] == '/' ? "" : dir, sql[0] == '/' ? "" : "/", sql);
            char *text = read_text(path.p, err);
            fp_buf_free(&path);
            if (!text)
                rc = FP_ERR_CONFIG;
            else
                fp_buf_puts(&b, text);
            free(text);
        }
    } else if (c->k == K_RECONCILE) {
        c->conf = json_deep_copy(jc);
        json_object_set(c->conf, "params", mine);
        rc = fp_check_reconcile_conf(c->conf, dir, what, err);
    } else {
        const char *where = str_of(jc, "where");
        if (!where)
            where = default_where(target);
        if (!where)
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "%s: \"where\" is needed (the interval's rows of %s)", what, target);
        else
            rc = generate(c, jc, where, &b, what, err);
    }
    const char *den = str_of(jc, "denominator");
    if (!rc && den) {
        const char *w = table_ok(den) ? default_where(den) : NULL;
        if (!w)
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "%s: \"denominator\" must be a lake.* or mart.* table", what);
        else {
            fp_buf d = FP_BUF_INIT;
            fp_buf_printf(&d, "SELECT COUNT(*) FROM %s WHERE %s", den, w);
            c->denominator = d.p;
        }
    }
    if (!rc && (c->warn.ratio || c->error.ratio) && !c->denominator)
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: a ratio rule needs a \"denominator\"", what);
    /* {{ params.X }} are the check's own: rendered now, the interval's names per run */
    c->failing = b.p ? b.p : fp_xstrdup("");
    if (!rc)
        rc = bake_params(&c->failing, mine, what, err);
    if (!rc && c->denominator)
        rc = bake_params(&c->denominator, mine, what, err);
    json_decref(mine);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file's "settings" ({"jit": "off", ...}: PostgreSQL parameters for its checks) as the SET
 * statements run before each of its checks and the RESET ones after. Names and values are
 * plain words (letters, digits, '_', '.', '-'), so neither needs quoting beyond the value's
 * literal. */
static fp_code settings_sql(const json_t *o, const char *path, fp_buf *set, fp_buf *reset,
                            fp_err *err)
{
    if (!o)
        return FP_OK;
    if (!json_is_object(o))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"settings\" must be an object", path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        const char *val = json_is_string(v) ? json_string_value(v) : NULL;
        bool ok = name_ok(key) && val && *val;
        for (const char *p = val; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '.' || *p == '-';
        if (!ok)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: settings.%s: a PostgreSQL parameter name ([a-z0-9_.]) and a "
                              "string value of letters, digits, '_', '.', '-'",
                              path, key);
        fp_buf_printf(set, "SET %s = '%s';", key, val);
        fp_buf_printf(reset, "RESET %s;", key);
    }
    return FP_OK;
}

static fp_code load_file(fp_check_set *s, const char *path, fp_err *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return fp_err_set(err, FP_ERR_CONFIG, "%s:%d: %s", path, je.line, je.text);
    fp_code rc = FP_OK;
    fp_buf dir = FP_BUF_INIT;
    const char *slash = strrchr(path, '/');
    if (slash)
        fp_buf_append(&dir, path, (size_t)(slash - path));
    else
        fp_buf_puts(&dir, ".");
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "checks") && strcmp(key, "params") && strcmp(key, "alerts") &&
            strcmp(key, "description") && strcmp(key, "every") && strcmp(key, "vehicle") &&
            strcmp(key, "settings")) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: unknown key \"%s\"", path, key);
            goto out;
        }
    }
    const char *every = str_of(root, "every");
    if ((json_object_get(root, "every") && !every) ||
        (every && strcmp(every, "hour") && strcmp(every, "day"))) {
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: \"every\" must be \"hour\" or \"day\"", path);
        goto out;
    }
    json_t *params = json_object_get(root, "params");
    if (params && !json_is_object(params)) {
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: \"params\" must be an object", path);
        goto out;
    }
    params = params ? json_incref(params) : json_object();
    const char *tz = str_of(params, "timezone");
    if (tz) {
        free(s->tz);
        s->tz = fp_xstrdup(tz);
    }
    json_t *alerts = json_object_get(root, "alerts");
    if (alerts) {
        if (s->alerts) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: \"alerts\" is declared in two files", path);
            json_decref(params);
            goto out;
        }
        s->alerts = json_incref(alerts);
    }
    fp_buf set = FP_BUF_INIT, reset = FP_BUF_INIT;
    if ((rc = settings_sql(json_object_get(root, "settings"), path, &set, &reset, err))) {
        json_decref(params);
        goto out;
    }
    json_t *checks = json_object_get(root, "checks");
    if (checks && !json_is_array(checks))
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: \"checks\" must be a list", path);
    for (size_t i = 0; !rc && checks && i < json_array_size(checks); i++) {
        s->v = fp_xrealloc(s->v, (s->n + 1) * sizeof *s->v);
        check *c = &s->v[s->n];
        *c = (check){0};
        rc = parse_check(s, json_array_get(checks, i), params, str_of(root, "vehicle"), path, dir.p,
                         c, err);
        c->hourly = every && !strcmp(every, "hour");
        c->set = set.p ? fp_xstrdup(set.p) : NULL;
        c->reset = reset.p ? fp_xstrdup(reset.p) : NULL;
        s->n++;
    }
    fp_buf_free(&set);
    fp_buf_free(&reset);
    json_decref(params);
out:
    fp_buf_free(&dir);
    json_decref(root);
    return rc;
}

fp_code fp_check_set_load(const char *path, fp_check_set **out, fp_err *err)
{
    fp_check_set *s = fp_xcalloc(1, sizeof *s);
    s->tz = fp_xstrdup("Asia/Seoul");
    fp_code rc = FP_OK;
    DIR *d = opendir(path);
    if (d) {
        s->dir = fp_xstrdup(path);
        fp_strv files = {0};
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n > 5 && !strcmp(e->d_name + n - 5, ".json") && e->d_name[0] != '.') {
                files.v = fp_xrealloc(files.v, (files.n + 1) * sizeof *files.v);
                fp_buf p = FP_BUF_INIT;
                fp_buf_printf(&p, "%s/%s", path, e->d_name);
                files.v[files.n++] = p.p;
            }
        }
        closedir(d);
        if (files.n)
            qsort(files.v, files.n, sizeof *files.v, cmp_str);
        else
            rc = fp_err_set(err, FP_ERR_CONFIG, "%s: no *.json checks in it", path);
        for (size_t i = 0; i < files.n && !rc; i++)
            rc = load_file(s, files.v[i], err);
        fp_strv_free(&files);
    } else if (errno != ENOTDIR) {
        rc = fp_err_set(err, FP_ERR_CONFIG, "checks %s: %s", path, strerror(errno));
    } else {
        const char *slash = strrchr(path, '/');
        s->dir = slash ? fp_xstrndup(path, (size_t)(slash - path)) : fp_xstrdup(".");
        rc = load_file(s, path, err);
    }
    if (rc) {
        fp_check_set_free(s);
        return rc;
    }
    *out = s;
    return FP_OK;
}

void fp_check_set_free(fp_check_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].target);
        free(s->v[i].anomaly);
        json_decref(s->v[i].anomaly_fields);
        free(s->v[i].vehicle);
        free(s->v[i].set);
        free(s->v[i].reset);
        free(s->v[i].failing);
        free(s->v[i].denominator);
        json_decref(s->v[i].conf);
    }
    free(s->v);
    json_decref(s->alerts);
    free(s->dir);
    free(s->tz);
    free(s);
}

const json_t *fp_check_set_alerts(const fp_check_set *s)
{
    return s->alerts;
}
const char *fp_check_set_dir(const fp_check_set *s)
{
    return s->dir;
}
const char *fp_check_set_timezone(const fp_check_set *s)
{
    return s->tz;
}

/* ------------------------------------------------------------------------------ running */

/* Under a transaction-scoped advisory lock: two check tasks of the scheduler may start at once,
 * and concurrent CREATE ... IF NOT EXISTS of one table can still fail on pg_type. */
static const char results_ddl[] =
    "BEGIN;\n"
    "SELECT pg_advisory_xact_lock(hashtext('fleetpipe ops.dq_results'));\n"
    "CREATE SCHEMA IF NOT EXISTS ops;\n"
    "CREATE TABLE IF NOT EXISTS ops.dq_results (\n"
    "  check_name text NOT NULL,\n"
    "  target text NOT NULL,\n"
    "  interval_start timestamptz NOT NULL,\n"
    "  interval_end timestamptz NOT NULL,\n"
    "  ds date,\n"
    "  status text NOT NULL CHECK (status IN ('pass', 'warn', 'fail', 'error')),\n"
    "  observed bigint,\n"
    "  denominator bigint,\n"
    "  ratio double precision,\n"
    "  threshold text,\n"
    "  samples jsonb,\n"
    "  error text,\n"
    "  duration_s double precision,\n"
    "  ran_at timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (check_name, interval_start)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS dq_results_ran_at ON ops.dq_results (ran_at);\n"
    "ALTER TABLE ops.dq_results ADD COLUMN IF NOT EXISTS vehicles bigint[];\n"
    "COMMIT;\n";

static bool selected_name(const char *only, const char *name)
{
    if (!only || !*only)
        return true;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *c = strchr(p, ',');
        size_t m = c ? (size_t)(c - p) : strlen(p);
        if (m == n && !strncmp(p, name, n))
            return true;
        p += m + (c != NULL);
    }
    return false;
}

/* Whether o runs check c: its name is in o->only and its file's "every" is o->every. */
static bool selected(const fp_check_opts *o, const check *c)
{
    if (o->every && strcmp(o->every, c->hourly ? "hour" : "day"))
        return false;
    return selected_name(o->only, c->name);
}

bool fp_check_set_has(const fp_check_set *s, const char *every)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(every, s->v[i].hourly ? "hour" : "day"))
            return true;
    return false;
}

typedef struct result {
    const char *status;
    int64_t observed, denominator;
    double ratio;
    const char *threshold;
    char *samples;  /* JSON text or NULL */
    char *vehicles; /* bigint[] text of the failing rows' vehicles, or NULL */
    fp_err err;
    double seconds;
} result;

static fp_code render(const char *tmpl, const fp_check_opts *o, fp_buf *out, fp_err *err)
{
    fp_pg_tmpl_ctx c = {.start_ms = o->start_ms, .end_ms = o->end_ms, .ds = o->ds};
    return fp_pg_tmpl_render(tmpl, &c, out, err);
}

static void run_one(fp_pg *pg, const check *c, const fp_check_opts *o, result *r)
{
    double t0 = (double)fp_time_mono_ms();
    fp_buf sql = FP_BUF_INIT, q = FP_BUF_INIT;
    PGresult *res = NULL;
    r->ratio = NAN;
    r->denominator = -1;
    if (c->k == K_RECONCILE) {
        if (fp_check_reconcile(c->conf, o, pg, &r->observed, &r->samples, &r->err))
            goto out;
        goto decide;
    }
    if (render(c->failing, o, &sql, &r->err))
        goto out;
    fp_buf_printf(&q,
                  "WITH f AS (\n%s\n) SELECT (SELECT count(*) FROM f), (SELECT json_agg(s) FROM "
                  "(SELECT * FROM f LIMIT %d) s)",
                  sql.p, SAMPLES);
    if (c->vehicle) /* every failing row's vehicle, not only the samples' */
        fp_buf_printf(&q,
                      ", (SELECT array_agg(DISTINCT v ORDER BY v) FROM (SELECT CAST(%s AS BIGINT) "
                      "AS v FROM f WHERE %s IS NOT NULL) fv)",
                      c->vehicle, c->vehicle);
    if (fp_pg_query(pg, q.p, 0, NULL, &res, &r->err))
        goto out;
    r->observed = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (!PQgetisnull(res, 0, 1))
        r->samples = fp_xstrdup(PQgetvalue(res, 0, 1));
    if (c->vehicle)
        r->vehicles = fp_xstrdup(PQgetisnull(res, 0, 2) ? "{}" : PQgetvalue(res, 0, 2));
    if (c->denominator) {
        fp_buf_reset(&sql);
        if (render(c->denominator, o, &sql, &r->err) ||
            fp_pg_query_int(pg, sql.p, 0, NULL, &r->denominator, &r->err))
            goto out;
        r->ratio = r->denominator > 0 ? (double)r->observed / (double)r->denominator
                   : r->observed > 0  ? INFINITY
                                      : 0;
    }
decide:
    if (rule_holds(&c->error, r->observed, r->ratio)) {
        r->status = "fail";
        r->threshold = c->error.text;
    } else if (rule_holds(&c->warn, r->observed, r->ratio)) {
        r->status = "warn";
        r->threshold = c->warn.text;
    } else {
        r->status = "pass";
        r->threshold = c->error.set ? c->error.text : c->warn.text;
    }
out:
    if (r->err.code) {
        r->status = "error";
        r->threshold = NULL;
    }
    PQclear(res);
    fp_buf_free(&sql);
    fp_buf_free(&q);
    r->seconds = ((double)fp_time_mono_ms() - t0) / 1000.0;
}

static fp_code record(fp_pg *pg, const check *c, const fp_check_opts *o, const result *r,
                      fp_err *err)
{
    fp_buf s = FP_BUF_INIT, e = FP_BUF_INIT;
    fp_pg_tmpl_iso(o->start_ms, &s);
    fp_pg_tmpl_iso(o->end_ms, &e);
    char obs[32], den[32], ratio[40], secs[32];
    snprintf(obs, sizeof obs, "%" PRId64, r->observed);
    snprintf(den, sizeof den, "%" PRId64, r->denominator);
    snprintf(ratio, sizeof ratio, "%.17g", r->ratio);
    snprintf(secs, sizeof secs, "%.3f", r->seconds);
    bool failed = !strcmp(r->status, "error");
    const char *p[] = {c->name,
                       c->target,
                       s.p,
                       e.p,
                       o->ds,
                       r->status,
                       failed ? NULL : obs,
                       r->denominator >= 0 ? den : NULL,
                       isnan(r->ratio) || isinf(r->ratio) ? NULL : ratio,
                       r->threshold,
                       r->samples,
                       failed ? r->err.msg : NULL,
                       secs,
                       r->vehicles};
    fp_code rc = fp_pg_query(
        pg,
        "INSERT INTO ops.dq_results (check_name, target, interval_start, interval_end, ds, "
        "status, observed, denominator, ratio, threshold, samples, error, duration_s, vehicles) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT "
        "(check_name, "
        "interval_start) DO UPDATE SET target = EXCLUDED.target, interval_end = "
        "EXCLUDED.interval_end, ds = EXCLUDED.ds, status = EXCLUDED.status, observed = "
        "EXCLUDED.observed, denominator = EXCLUDED.denominator, ratio = EXCLUDED.ratio, "
        "threshold = EXCLUDED.threshold, samples = EXCLUDED.samples, error = EXCLUDED.error, "
        "duration_s = EXCLUDED.duration_s, vehicles = EXCLUDED.vehicles, ran_at = now()",
        14, p, NULL, err);
    fp_buf_free(&s);
    fp_buf_free(&e);
    return rc;
}

fp_code fp_check_run(const fp_check_set *s, const fp_check_opts *o, fp_check_counts *c, fp_err *err)
{
    fp_pg *pg = NULL;
    fp_code rc = fp_pg_connect(o->pg, "fleetpipe check", &pg, err);
    if (!rc)
        rc = fp_pg_exec(pg, results_ddl, err);
    if (!c->results)
        c->results = json_array();
    for (size_t i = 0; i < s->n && !rc; i++) {
        const check *k = &s->v[i];
        if (!selected(o, k))
            continue;
        if (fp_stop_requested(o->stop))
            break;
        result r = {0};
        if (k->set && (rc = fp_pg_exec(pg, k->set, err)))
            break;
        run_one(pg, k, o, &r);
        if (k->reset && !fp_pg_broken(pg) && (rc = fp_pg_exec(pg, k->reset, err))) {
            free(r.samples);
            free(r.vehicles);
            break;
        }
        if (fp_pg_broken(pg)) {
            rc = fp_err_set(err, FP_ERR_IO, "check %s: %s", k->name, r.err.msg);
            free(r.samples);
            free(r.vehicles);
            break;
        }
        rc = record(pg, k, o, &r, err);
        c->checks++;
        c->pass += !strcmp(r.status, "pass");
        c->warn += !strcmp(r.status, "warn");
        c->fail += !strcmp(r.status, "fail");
        c->error += !strcmp(r.status, "error");
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "check", k->name, "target", k->target,
                              "status", r.status, "ds", o->ds);
        if (strcmp(r.status, "error"))
            json_object_set_new(j, "observed", json_integer(r.observed));
        if (r.denominator >= 0)
            json_object_set_new(j, "denominator", json_integer(r.denominator));
        if (!isnan(r.ratio) && !isinf(r.ratio))
            json_object_set_new(j, "ratio", json_real(r.ratio));
        if (r.threshold)
            json_object_set_new(j, "threshold", json_string(r.threshold));
        if (r.err.code)
            json_object_set_new(j, "error", json_string(r.err.msg));
        json_array_append_new(c->results, j);
        int lvl = !strcmp(r.status, "pass") ? FP_LOG_INFO : FP_LOG_WARN;
        if (r.err.code)
            fp_log(lvl, WHO, -1, "%s on %s %s: error: %s", k->name, k->target, o->ds, r.err.msg);
        else
            fp_log(lvl, WHO, -1, "%s on %s %s: %s (%" PRId64 " failing rows, %s)", k->name,
                   k->target, o->ds, r.status, r.observed, r.threshold ? r.threshold : "-");
        if (!rc && o->alerts) {
            fp_buf key = FP_BUF_INIT, title = FP_BUF_INIT, text = FP_BUF_INIT;
            fp_buf_printf(&key, "check %s %s", k->name, k->target);
            fp_buf_printf(&title, "%s: %s on %s", r.status, k->name, k->target);
            if (r.err.code)
                fp_buf_printf(&text, "interval %s: the check could not run: %s", o->ds, r.err.msg);
            else
                fp_buf_printf(&text, "interval %s: %" PRId64 " failing rows (%s)", o->ds,
                              r.observed, r.threshold ? r.threshold : "no rule");
            fp_err ae = {0};
            if (fp_alert_report_fields(o->alerts, pg, key.p, r.status, title.p, text.p, j, &ae))
                fp_log(FP_LOG_WARN, WHO, -1, "alert for %s: %s", k->name, ae.msg);
            fp_buf_free(&key);
            fp_buf_free(&title);
            fp_buf_free(&text);
        }
        free(r.samples);
        free(r.vehicles);
    }
    fp_pg_free(pg);
    return rc;
}

fp_code fp_check_score_run(const fp_check_set *s, const fp_check_opts *o, const char *truth,
                           json_t **report, fp_err *err)
{
    fp_pg *pg = NULL;
    fp_code rc = fp_pg_connect(o->pg, "fleetpipe check", &pg, err);
    fp_check_hit *hits = NULL;
    fp_check_scope *scope = NULL;
    size_t nhits = 0, nscope = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        const check *k = &s->v[i];
        if (!k->anomaly || k->k != K_SQL || !selected_name(o->only, k->name))
            continue;
        size_t nf = json_array_size(k->anomaly_fields);
        scope = fp_xrealloc(scope, (nscope + nf + 1) * sizeof *scope);
        for (size_t f = 0; f < nf; f++)
            scope[nscope++] =
                (fp_check_scope){.anomaly = k->anomaly,
                                 .field = json_string_value(json_array_get(k->anomaly_fields, f))};
        fp_buf sql = FP_BUF_INIT, q = FP_BUF_INIT;
        PGresult *res = NULL;
        rc = render(k->failing, o, &sql, err);
        if (!rc && k->set)
            rc = fp_pg_exec(pg, k->set, err);
        if (!rc) {
            fp_buf_printf(&q, "SELECT * FROM (\n%s\n) f", sql.p);
            rc = fp_pg_query(pg, q.p, 0, NULL, &res, err);
            if (rc)
                fp_err_prefix(err, "%s", k->name);
        }
        if (!rc && k->reset)
            rc = fp_pg_exec(pg, k->reset, err);
        if (!rc) {
            int ci = PQfnumber(res, "id"), cs = PQfnumber(res, "seq");
            hits = fp_xrealloc(hits, (nhits + (size_t)PQntuples(res) + 1) * sizeof *hits);
            for (int r = 0; r < PQntuples(res); r++) {
                hits[nhits++] = (fp_check_hit){
                    .anomaly = k->anomaly,
                    .id = ci >= 0 && !PQgetisnull(res, r, ci)
                              ? strtoll(PQgetvalue(res, r, ci), NULL, 10)
                              : 0,
                    .seq = cs >= 0 && !PQgetisnull(res, r, cs)
                               ? strtoll(PQgetvalue(res, r, cs), NULL, 10)
                               : FP_CHECK_NO_SEQ,
                };
            }
        }
        PQclear(res);
        fp_buf_free(&sql);
        fp_buf_free(&q);
    }
    if (!rc)
        rc = fp_check_score(truth, hits, nhits, scope, nscope, o->start_ms, o->end_ms, report, err);
    free(hits);
    free(scope);
    fp_pg_free(pg);
    return rc;
}

fp_code fp_check_days(const char *pg, const char *tz, const char *from, const char *to,
                      fp_check_day **days, size_t *n, fp_err *err)
{
    *n = 0;
    *days = NULL;
    fp_pg *c = NULL;
    PGresult *res = NULL;
    const char *p[] = {from, to && *to ? to : NULL, tz};
    fp_code rc = fp_pg_connect(pg, "fleetpipe check", &c, err);
    if (!rc)
        rc = fp_pg_query(
            c,
            "SELECT d::date::text, (extract(epoch FROM d AT TIME ZONE $3) * 1000)::bigint,"
            " (extract(epoch FROM (d + interval '1 day') AT TIME ZONE $3) * 1000)::bigint"
            " FROM generate_series($1::date::timestamp, COALESCE($2::date::timestamp,"
            " $1::date::timestamp + interval '1 day') - interval '1 day',"
            " interval '1 day') d",
            3, p, &res, err);
    if (rc == FP_ERR_INVALID) /* the server refused the dates or the zone: the command line */
        err->code = rc = FP_ERR_CONFIG;
    if (rc)
        fp_err_prefix(err, "days %s..%s in %s", from, to && *to ? to : "", tz);
    int rows = rc ? 0 : PQntuples(res);
    if (!rc && !rows)
        rc = fp_err_set(err, FP_ERR_CONFIG, "--from %s --to %s: no day in between", from, to);
    if (!rc) {
        *days = fp_xcalloc((size_t)rows, sizeof **days);
        for (int r = 0; r < rows; r++) {
            fp_check_day *d = &(*days)[r];
            snprintf(d->ds, sizeof d->ds, "%s", PQgetvalue(res, r, 0));
            d->start_ms = strtoll(PQgetvalue(res, r, 1), NULL, 10);
            d->end_ms = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        }
        *n = (size_t)rows;
    }
    PQclear(res);
    fp_pg_free(c);
    return rc;
}
