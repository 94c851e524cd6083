/* props.c — properties, JSON config loading (jansson, cold path) and config tables. */
#include "core/props.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void fp_props_init(fp_props *p)
{
    memset(p, 0, sizeof *p);
}

void fp_props_free(fp_props *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].val);
    }
    free(p->v);
    memset(p, 0, sizeof *p);
}

fp_prop *fp_props_find(const fp_props *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].key, key) == 0)
            return &p->v[i];
    return NULL;
}

void fp_props_set(fp_props *p, const char *key, const char *val)
{
    fp_prop *e = fp_props_find(p, key);
    if (e) {
        free(e->val);
        e->val = fp_xstrdup(val);
        return;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->v = fp_xrealloc(p->v, p->cap * sizeof *p->v);
    }
    p->v[p->n++] = (fp_prop){fp_xstrdup(key), fp_xstrdup(val), false};
}

void fp_props_append(fp_props *p, const char *key, const char *val)
{
    fp_prop *e = fp_props_find(p, key);
    if (!e) {
        fp_props_set(p, key, val);
        return;
    }
    fp_buf b = FP_BUF_INIT;
    fp_buf_printf(&b, "%s,%s", e->val, val);
    free(e->val);
    e->val = fp_buf_steal(&b);
}

const char *fp_props_get(fp_props *p, const char *key)
{
    fp_prop *e = fp_props_find(p, key);
    if (!e)
        return NULL;
    e->used = true;
    return e->val;
}

fp_code fp_props_load_json(fp_props *p, const char *text, size_t len, const char *what, fp_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fp_err_set(err, FP_ERR_CONFIG, "%s: line %d column %d: %s", what, je.line, je.column,
                          je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fp_err_set(err, FP_ERR_CONFIG, "%s: expected a JSON object", what);
    }
    /* Kafka Connect's REST shape {"name": ..., "config": {...}} is accepted too. */
    json_t *cfg = json_object_get(root, "config");
    if (json_is_object(cfg)) {
        json_t *name = json_object_get(root, "name");
        json_incref(cfg);
        if (json_is_string(name) && !json_object_get(cfg, "name"))
            json_object_set(cfg, "name", name);
        json_decref(root);
        root = cfg;
    }
    const char *k;
    json_t *v;
    fp_code rc = FP_OK;
    json_object_foreach(root, k, v)
    {
        char num[64];
        if (json_is_string(v)) {
            fp_props_set(p, k, json_string_value(v));
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            fp_props_set(p, k, num);
        } else if (json_is_real(v)) {
            snprintf(num, sizeof num, "%.17g", json_real_value(v));
            fp_props_set(p, k, num);
        } else if (json_is_boolean(v)) {
            fp_props_set(p, k, json_is_true(v) ? "true" : "false");
        } else if (json_is_array(v)) {
            /* ["a","b"] is accepted for list keys and becomes "a,b". */
            fp_buf b = FP_BUF_INIT;
            size_t i;
            json_t *it;
            json_array_foreach(v, i, it)
            {
                if (!json_is_string(it)) {
                    fp_buf_free(&b);
                    rc = fp_err_set(err, FP_ERR_CONFIG, "%s: key '%s': array items must be strings",
                                    what, k);
                    goto out;
                }
                if (i)
                    fp_buf_putc(&b, ',');
                fp_buf_puts(&b, json_string_value(it));
            }
            fp_props_set(p, k, b.p ? b.p : "");
            fp_buf_free(&b);
        } else {
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "%s: key '%s': value must be a string, number, boolean or list", what,
                            k);
            goto out;
        }
    }
out:
    json_decref(root);
    return rc;
}

fp_code fp_props_load_json_file(fp_props *p, const char *path, fp_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_err_set(err, FP_ERR_CONFIG, "%s: %s", path, strerror(errno));
    fp_buf b = FP_BUF_INIT;
    char chunk[8192];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, f);
        if (n == 0)
            break;
        fp_buf_append(&b, chunk, n);
        if (b.len > (16u << 20)) {
            fclose(f);
            fp_buf_free(&b);
            return fp_err_set(err, FP_ERR_CONFIG, "%s: config file larger than 16 MiB", path);
        }
    }
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno) {
        fp_buf_free(&b);
        return fp_err_set(err, FP_ERR_CONFIG, "%s: %s", path, strerror(read_errno));
    }
    fp_code rc = fp_props_load_json(p, b.p ? b.p : "", b.len, path, err);
    fp_buf_free(&b);
    return rc;
}

fp_code fp_props_check_used(const fp_props *p, const char *what, fp_err *err)
{
    for (size_t i = 0; i < p->n; i++)
        if (!p->v[i].used)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: unknown key '%s'", what, p->v[i].key);
    return FP_OK;
}

fp_code fp_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return FP_ERR_CONFIG;
    *out = v;
    return FP_OK;
}

fp_code fp_parse_ms(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return FP_ERR_CONFIG;
    double mult;
    if (!*end || !strcmp(end, "ms"))
        mult = 1;
    else if (!strcmp(end, "s"))
        mult = 1e3;
    else if (!strcmp(end, "m"))
        mult = 60e3;
    else if (!strcmp(end, "h"))
        mult = 3600e3;
    else if (!strcmp(end, "d"))
        mult = 86400e3;
    else
        return FP_ERR_CONFIG;
    *out = (int64_t)(v * mult + 0.5);
    return FP_OK;
}

void fp_strv_split(fp_strv *sv, const char *s, char sep)
{
    sv->v = NULL;
    sv->n = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, sep);
        if (!e)
            e = p + strlen(p);
        const char *a = p, *z = e;
        while (a < z && isspace((unsigned char)*a))
            a++;
        while (z > a && isspace((unsigned char)z[-1]))
            z--;
        if (z > a) {
            sv->v = fp_xrealloc(sv->v, (sv->n + 1) * sizeof *sv->v);
            sv->v[sv->n++] = fp_xstrndup(a, (size_t)(z - a));
        }
        p = *e ? e + 1 : e;
    }
}

void fp_strv_free(fp_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

static bool enum_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* One def: parses prefix+key from p into out. */
static fp_code conf_apply_one(const fp_conf_def *d, fp_props *p, const char *prefix, void *out,
                              fp_err *err)
{
    char key[256];
    {
        snprintf(key, sizeof key, "%s%s", prefix ? prefix : "", d->key);
        const char *v = fp_props_get(p, key);
        if (!v)
            v = d->dflt;
        if (!v && d->type == FP_CONF_BOOL)
            v = "false";
        if (!v && d->type == FP_CONF_LIST)
            v = "";
        if (!v && d->type == FP_CONF_OPTSTRING)
            return FP_OK;
        if (!v)
            return fp_err_set(err, FP_ERR_CONFIG, "missing required key '%s' (%s)", key, d->doc);
        void *field = (char *)out + d->offset;
        int64_t iv;
        switch (d->type) {
        case FP_CONF_STRING:
        case FP_CONF_OPTSTRING:
            *(char **)field = fp_xstrdup(v);
            break;
        case FP_CONF_ENUM:
            if (!enum_ok(d->choices, v))
                return fp_err_set(err, FP_ERR_CONFIG, "key '%s': '%s' is not one of %s", key, v,
                                  d->choices);
            *(char **)field = fp_xstrdup(v);
            break;
        case FP_CONF_BOOL:
            if (!strcmp(v, "true"))
                *(bool *)field = true;
            else if (!strcmp(v, "false"))
                *(bool *)field = false;
            else
                return fp_err_set(err, FP_ERR_CONFIG, "key '%s': '%s' is not true or false", key,
                                  v);
            break;
        case FP_CONF_INT:
        case FP_CONF_MS:
            if ((d->type == FP_CONF_INT ? fp_parse_i64(v, &iv) : fp_parse_ms(v, &iv)) != FP_OK)
                return fp_err_set(err, FP_ERR_CONFIG, "key '%s': '%s' is not %s", key, v,
                                  d->type == FP_CONF_INT ? "an integer" : "a duration");
            if (d->min < d->max && (iv < d->min || iv > d->max))
                return fp_err_set(err, FP_ERR_CONFIG,
                                  "key '%s': %" PRId64 "%s is outside %" PRId64 "..%" PRId64 "%s%s",
                                  key, iv, d->type == FP_CONF_MS ? " ms" : "", d->min, d->max,
                                  d->type == FP_CONF_MS ? " ms" : "",
                                  d->type == FP_CONF_MS ? " (a number without a unit is "
                                                          "milliseconds: write 10s, 5m, 1h)"
                                                        : "");
            *(int64_t *)field = iv;
            break;
        case FP_CONF_LIST:
            fp_strv_split((fp_strv *)field, v, ',');
            break;
        }
    }
    return FP_OK;
}

fp_code fp_conf_apply(const fp_conf_def *defs, fp_props *p, const char *prefix, void *out,
                      fp_err *err)
{
    for (const fp_conf_def *d = defs; d->key; d++) {
        fp_code rc = conf_apply_one(d, p, prefix, out, err);
        if (rc)
            return rc;
    }
    return FP_OK;
}

int fp_conf_apply_each(const fp_conf_def *defs, fp_props *p, const char *prefix, void *out,
                       fp_conf_error_fn fn, void *ctx)
{
    int bad = 0;
    char key[256];
    for (const fp_conf_def *d = defs; d->key; d++) {
        fp_err err = {0};
        if (conf_apply_one(d, p, prefix, out, &err)) {
            snprintf(key, sizeof key, "%s%s", prefix ? prefix : "", d->key);
            fn(ctx, key, err.msg);
            bad++;
        }
    }
    return bad;
}

void fp_conf_free(const fp_conf_def *defs, void *out)
{
    for (const fp_conf_def *d = defs; d->key; d++) {
        void *field = (char *)out + d->offset;
        if (d->type == FP_CONF_STRING || d->type == FP_CONF_ENUM || d->type == FP_CONF_OPTSTRING) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (d->type == FP_CONF_LIST) {
            fp_strv_free((fp_strv *)field);
        }
    }
}

void fp_conf_print(const fp_conf_def *defs, const char *prefix, FILE *f)
{
    static const char *tn[] = {"string", "int", "bool", "enum", "list", "duration", "string"};
    for (const fp_conf_def *d = defs; d->key; d++) {
        fprintf(f, "  %s%-28s %-8s ", prefix ? prefix : "", d->key, tn[d->type]);
        if (d->dflt)
            fprintf(f, "[default: %s] ", d->dflt[0] ? d->dflt : "\"\"");
        else if (d->type != FP_CONF_BOOL && d->type != FP_CONF_LIST && d->type != FP_CONF_OPTSTRING)
            fprintf(f, "[required] ");
        fprintf(f, "%s", d->doc);
        if (d->type == FP_CONF_ENUM)
            fprintf(f, " (%s)", d->choices);
        fputc('\n', f);
    }
}
