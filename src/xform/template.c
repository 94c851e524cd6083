/* template.c — InsertFieldInStringTemplate: sets a string field from a template such as
 * "${id}#${object}#${type}", the DynamoDB pk of PROTOCOLS.md.
 *
 * Placeholders name a top-level field or a dotted path into nested objects ("${a.b}"). Strings
 * are inserted decoded and the result is re-escaped as one JSON string; numbers contribute
 * their exact digits, booleans true/false. A missing field, null, an object or an array is an
 * error naming the placeholder, and so is an empty result: a key is never silently "" or "null".
 * The template is parsed once at start-up.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "xform/xform_int.h"

typedef struct tpl_conf {
    char *field;
    char *value;
} tpl_conf;

static const fp_conf_def tpl_defs[] = {
    {"field", FP_CONF_STRING, NULL, offsetof(tpl_conf, field), "field to set (replaced if present)",
     NULL, 0, 0},
    {"value", FP_CONF_STRING, NULL, offsetof(tpl_conf, value),
     "template; ${name} or ${a.b} inserts a field's value, everything else is literal", NULL, 0, 0},
    {0},
};

typedef struct tpl_part {
    const char *lit; /* literal text (into the template copy), or NULL for a placeholder */
    size_t litn;
    char *raw; /* the placeholder as written, e.g. "${a.b}" */
    fp_strv path;
    size_t len0; /* strlen(path.v[0]) */
} tpl_part;

typedef struct tpl_state {
    tpl_part *parts;
    size_t n;
    char *key; /* canonical raw key of field */
    size_t keyn;
    bool kesc;
    /* The records a split makes from one message usually share the template's fields (the
     * parent's id/object/type), so the last result is kept and reused while the looked-up
     * value spans are the same bytes of the same message (arena generation). */
    fp_span *spans, *cached;
    uint64_t cached_gen;
    const char *cached_val;
    size_t cached_vn;
    bool cache_ok;
} tpl_state;

static fp_code tpl_init(fp_xform_inst *t, fp_err *err)
{
    const tpl_conf *c = t->conf;
    tpl_state *s = fp_xcalloc(1, sizeof *s);
    t->state = s;
    if (!*c->field)
        return fp_err_set(err, FP_ERR_CONFIG, "transforms.%s.field: must not be empty", t->alias);
    s->key = fp_rec_canon_key(c->field, strlen(c->field), &s->keyn, &s->kesc);
    const char *p = c->value;
    while (*p) {
        s->parts = fp_xrealloc(s->parts, (s->n + 1) * sizeof *s->parts);
        tpl_part *pt = &s->parts[s->n];
        memset(pt, 0, sizeof *pt);
        const char *d = strstr(p, "${");
        if (d != p) {
            pt->lit = p;
            pt->litn = d ? (size_t)(d - p) : strlen(p);
            p += pt->litn;
            s->n++;
            continue;
        }
        const char *close = strchr(p, '}');
        if (!close)
            return fp_err_set(err, FP_ERR_CONFIG, "transforms.%s.value: unterminated '${' in '%s'",
                              t->alias, c->value);
        pt->raw = fp_xstrndup(p, (size_t)(close - p + 1));
        char *name = fp_xstrndup(p + 2, (size_t)(close - p - 2));
        s->n++;
        /* keep empty path components so that "${a..b}" is reported, not silently fixed */
        const char *q = name;
        for (;;) {
            const char *dot = strchr(q, '.');
            size_t len = dot ? (size_t)(dot - q) : strlen(q);
            if (!len) {
                free(name);
                return fp_err_set(err, FP_ERR_CONFIG,
                                  "transforms.%s.value: empty field name in placeholder %s",
                                  t->alias, pt->raw);
            }
            pt->path.v = fp_xrealloc(pt->path.v, (pt->path.n + 1) * sizeof *pt->path.v);
            pt->path.v[pt->path.n++] = fp_xstrndup(q, len);
            if (!dot)
                break;
            q = dot + 1;
        }
        free(name);
        pt->len0 = strlen(pt->path.v[0]);
        p = close + 1;
    }
    if (!s->n)
        return fp_err_set(err, FP_ERR_CONFIG, "transforms.%s.value: empty template", t->alias);
    s->spans = fp_xcalloc(s->n, sizeof *s->spans);
    s->cached = fp_xcalloc(s->n, sizeof *s->cached);
    return FP_OK;
}

static void tpl_fini(fp_xform_inst *t)
{
    tpl_state *s = t->state;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->parts[i].raw);
        fp_strv_free(&s->parts[i].path);
    }
    free(s->parts);
    free(s->key);
    free(s->spans);
    free(s->cached);
    free(s);
}

static fp_code lookup(const tpl_part *pt, const fp_rec *rec, fp_span *out, fp_err *err)
{
    const char *f0 = pt->path.v[0];
    long i = fp_rec_find(rec, f0, pt->len0);
    if (i < 0)
        return fp_err_set(err, FP_ERR_INVALID, "template field %s: missing", pt->raw);
    fp_span v = {rec->m[i].v, rec->m[i].vn};
    for (size_t k = 1; k < pt->path.n; k++) {
        if (fp_json_type_of(v.p) != FP_JSON_OBJECT)
            return fp_err_set(err, FP_ERR_INVALID, "template field %s: '%s' is not an object",
                              pt->raw, pt->path.v[k - 1]);
        if (!fp_json_obj_get(v, pt->path.v[k], strlen(pt->path.v[k]), &v))
            return fp_err_set(err, FP_ERR_INVALID, "template field %s: missing", pt->raw);
    }
    *out = v;
    return FP_OK;
}

static fp_code tpl_apply(fp_xform_inst *t, fp_xform_run *r, size_t idx, fp_rec *rec)
{
    tpl_state *s = t->state;
    bool same = s->cache_ok && s->cached_gen == r->arena->gen;
    for (size_t i = 0; i < s->n; i++) {
        const tpl_part *pt = &s->parts[i];
        if (pt->lit)
            continue;
        fp_code rc = lookup(pt, rec, &s->spans[i], r->err);
        if (rc)
            return rc;
        same = same && s->spans[i].p == s->cached[i].p && s->spans[i].n == s->cached[i].n;
    }
    if (same) {
        fp_rec_set(rec, s->key, s->keyn, s->kesc, s->cached_val, s->cached_vn);
        return fp_xform_next(r, idx + 1, rec);
    }
    fp_buf *b = r->tmp;
    fp_buf_reset(b);
    for (size_t i = 0; i < s->n; i++) {
        const tpl_part *pt = &s->parts[i];
        if (pt->lit) {
            fp_buf_append(b, pt->lit, pt->litn);
            continue;
        }
        fp_json_type ty = fp_xform_scalar_text(s->spans[i], b);
        if (ty == FP_JSON_NULL)
            return fp_err_set(r->err, FP_ERR_INVALID, "template field %s: is null", pt->raw);
        if (ty == FP_JSON_OBJECT || ty == FP_JSON_ARRAY)
            return fp_err_set(r->err, FP_ERR_INVALID, "template field %s: is an %s, not a scalar",
                              pt->raw, ty == FP_JSON_OBJECT ? "object" : "array");
    }
    if (!b->len)
        return fp_err_set(r->err, FP_ERR_INVALID, "template result is an empty string");
    fp_buf *q = r->tmp2;
    fp_buf_reset(q);
    fp_json_quote(q, b->p, b->len);
    const char *val = fp_arena_dup(r->arena, q->p, q->len);
    size_t vn = q->len;
    memcpy(s->cached, s->spans, s->n * sizeof *s->spans);
    s->cached_gen = r->arena->gen;
    s->cached_val = val;
    s->cached_vn = vn;
    s->cache_ok = true;
    fp_rec_set(rec, s->key, s->keyn, s->kesc, val, vn);
    return fp_xform_next(r, idx + 1, rec);
}

const fp_xform_plugin fp_xform_template = {
    .name = "InsertFieldInStringTemplate",
    .doc = "sets field to a string built from a template of ${field} placeholders",
    .conf = tpl_defs,
    .conf_size = sizeof(tpl_conf),
    .init = tpl_init,
    .fini = tpl_fini,
    .apply = tpl_apply,
};
