/* chain.c — builds a transform chain from connector properties and runs records through it.
 *
 * apply() validates the whole message once, turns its top level into a record (spans into the
 * message) and hands it to the first transform; each transform continues the chain itself
 * (see xform_int.h), and the end of the chain serialises into the caller's fp_xform_out. One
 * arena and one scratch buffer per chain are reset per message, so the steady state does not
 * allocate. On any error the outputs of this message are rolled back (all or nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xform/xform_int.h"

static const fp_xform_plugin *const transforms[] = {
    &fp_xform_split,
    &fp_xform_template,
    &fp_xform_replace,
    &fp_xform_insert,
    &fp_xform_filter,
    &fp_xform_tsconv,
    NULL,
};
static const fp_xform_plugin *const predicates[] = {&fp_xform_pred_topic, &fp_xform_pred_field,
                                                    &fp_xform_pred_has, NULL};

struct fp_xform_chain {
    fp_xform_inst *t;
    size_t n;
    fp_xform_pred *p;
    size_t np;
    fp_arena arena;
    fp_buf tmp, tmp2;
    fp_rec top;
};

void fp_xform_out_reset(fp_xform_out *o)
{
    fp_buf_reset(&o->data);
    o->n = 0;
    o->mn = 0;
}

void fp_xform_out_free(fp_xform_out *o)
{
    fp_buf_free(&o->data);
    free(o->off);
    free(o->len);
    free(o->mem);
    free(o->moff);
    free(o->mcnt);
    memset(o, 0, sizeof *o);
}

/* Room for one more record (moff and mcnt always grow too, so members may be set any time). */
static void out_grow(fp_xform_out *o)
{
    if (o->n < o->cap)
        return;
    o->cap = o->cap ? o->cap * 2 : 64;
    o->off = fp_xrealloc(o->off, o->cap * sizeof *o->off);
    o->len = fp_xrealloc(o->len, o->cap * sizeof *o->len);
    o->moff = fp_xrealloc(o->moff, o->cap * sizeof *o->moff);
    o->mcnt = fp_xrealloc(o->mcnt, o->cap * sizeof *o->mcnt);
}

void fp_xform_out_add(fp_xform_out *o, const void *p, size_t n)
{
    out_grow(o);
    o->off[o->n] = o->data.len;
    o->len[o->n] = n;
    o->moff[o->n] = o->mn;
    o->mcnt[o->n] = 0;
    o->n++;
    fp_buf_append(&o->data, p, n);
    if (o->sep)
        fp_buf_putc(&o->data, o->sep);
}

void fp_xform_out_truncate(fp_xform_out *o, size_t n, size_t data_len)
{
    if (n < o->n)
        o->mn = o->moff[n];
    o->n = n;
    o->data.len = data_len;
    if (o->data.p)
        o->data.p[data_len] = '\0';
}

size_t fp_xform_chain_len(const fp_xform_chain *c)
{
    return c ? c->n : 0;
}

static const fp_xform_plugin *find_plugin(const fp_xform_plugin *const *reg, const char *name)
{
    for (size_t i = 0; reg[i]; i++) {
        if (!strcmp(reg[i]->name, name))
            return reg[i];
        for (size_t j = 0; j < 3 && reg[i]->aliases[j]; j++)
            if (!strcmp(reg[i]->aliases[j], name))
                return reg[i];
    }
    return NULL;
}

static fp_code plugin_setup(const fp_xform_plugin *pl, fp_props *props, const char *prefix,
                            void **conf, fp_xform_inst *t, fp_err *err)
{
    /* owned by t (or the predicate) from here on, so a failing apply or init leaks nothing */
    *conf = fp_xcalloc(1, pl->conf_size ? pl->conf_size : 1);
    t->conf = *conf;
    fp_code rc = fp_conf_apply(pl->conf, props, prefix, *conf, err);
    if (rc)
        return rc;
    return pl->init ? pl->init(t, err) : FP_OK;
}

static void inst_fini(fp_xform_inst *t)
{
    if (t->plugin && t->conf && t->plugin->fini)
        t->plugin->fini(t);
    if (t->plugin && t->conf)
        fp_conf_free(t->plugin->conf, t->conf);
    free(t->conf);
    free(t->alias);
    fp_rec_free(&t->child);
}

static fp_code add_predicates(fp_xform_chain *c, fp_props *props, fp_err *err)
{
    const char *list = fp_props_get(props, "predicates");
    if (!list)
        return FP_OK;
    fp_strv names;
    fp_strv_split(&names, list, ',');
    c->p = fp_xcalloc(names.n ? names.n : 1, sizeof *c->p);
    fp_code rc = FP_OK;
    char key[256];
    for (size_t i = 0; i < names.n && !rc; i++) {
        for (size_t j = 0; j < i; j++)
            if (!strcmp(names.v[j], names.v[i]))
                rc = fp_err_set(err, FP_ERR_CONFIG, "predicate '%s' is listed twice", names.v[i]);
        if (rc)
            break;
        fp_xform_pred *p = &c->p[c->np++];
        p->alias = fp_xstrdup(names.v[i]);
        snprintf(key, sizeof key, "predicates.%s.type", names.v[i]);
        const char *type = fp_props_get(props, key);
        if (!type) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "missing required key '%s'", key);
            break;
        }
        p->plugin = find_plugin(predicates, type);
        if (!p->plugin) {
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "key '%s': unknown predicate type '%s' (see fleetpipe help transforms)",
                            key, type);
            break;
        }
        /* predicates share the instance shape so that init/fini have one signature */
        fp_xform_inst tmp = {0};
        tmp.alias = p->alias;
        snprintf(key, sizeof key, "predicates.%s.", names.v[i]);
        rc = plugin_setup(p->plugin, props, key, &p->conf, &tmp, err);
        p->state = tmp.state;
    }
    fp_strv_free(&names);
    return rc;
}

static fp_code add_transform(fp_xform_chain *c, fp_props *props, const char *alias, fp_err *err)
{
    char key[256];
    fp_xform_inst *t = &c->t[c->n++];
    t->alias = fp_xstrdup(alias);
    snprintf(key, sizeof key, "transforms.%s.type", alias);
    const char *type = fp_props_get(props, key);
    if (!type)
        return fp_err_set(err, FP_ERR_CONFIG, "missing required key '%s'", key);
    t->plugin = find_plugin(transforms, type);
    size_t tl = strlen(type);
    if (!t->plugin && tl > 4 && !strcmp(type + tl - 4, "$Key"))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "key '%s': '%s': only record values are transformed (use the $Value "
                          "form)",
                          key, type);
    if (!t->plugin)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "key '%s': unknown transform type '%s' (see fleetpipe help transforms)",
                          key, type);
    snprintf(key, sizeof key, "transforms.%s.predicate", alias);
    const char *pred = fp_props_get(props, key);
    if (pred && *pred) {
        for (size_t i = 0; i < c->np; i++)
            if (!strcmp(c->p[i].alias, pred))
                t->pred = &c->p[i];
        if (!t->pred)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "key '%s': predicate '%s' is not listed in 'predicates'", key, pred);
    }
    snprintf(key, sizeof key, "transforms.%s.negate", alias);
    const char *neg = fp_props_get(props, key);
    if (neg) {
        if (strcmp(neg, "true") && strcmp(neg, "false"))
            return fp_err_set(err, FP_ERR_CONFIG, "key '%s': '%s' is not true or false", key, neg);
        t->negate = !strcmp(neg, "true");
    }
    snprintf(key, sizeof key, "transforms.%s.", alias);
    void *conf;
    return plugin_setup(t->plugin, props, key, &conf, t, err);
}

fp_code fp_xform_chain_new(fp_props *props, fp_xform_chain **out, fp_err *err)
{
    fp_xform_chain *c = fp_xcalloc(1, sizeof *c);
    fp_code rc = add_predicates(c, props, err);
    fp_strv names = {0};
    const char *list = fp_props_get(props, "transforms");
    if (list)
        fp_strv_split(&names, list, ',');
    const char *conv = fp_props_get(props, "converter.split.list.key");
    c->t = fp_xcalloc(names.n + 1, sizeof *c->t);
    if (!rc && conv) {
        /* the converter form is a SplitArrayField that runs before the transforms */
        fp_props cp;
        fp_props_init(&cp);
        fp_props_set(&cp, "field", conv);
        fp_xform_inst *t = &c->t[c->n++];
        t->alias = fp_xstrdup("converter.split.list.key");
        t->plugin = &fp_xform_split;
        void *conf;
        rc = plugin_setup(t->plugin, &cp, NULL, &conf, t, err);
        fp_props_free(&cp);
    }
    for (size_t i = 0; i < names.n && !rc; i++) {
        for (size_t j = 0; j < i; j++)
            if (!strcmp(names.v[j], names.v[i]))
                rc = fp_err_set(err, FP_ERR_CONFIG, "transform '%s' is listed twice", names.v[i]);
        if (!rc)
            rc = add_transform(c, props, names.v[i], err);
    }
    fp_strv_free(&names);
    if (rc) {
        fp_xform_chain_free(c);
        return rc;
    }
    *out = c;
    return FP_OK;
}

void fp_xform_chain_free(fp_xform_chain *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        inst_fini(&c->t[i]);
    free(c->t);
    for (size_t i = 0; i < c->np; i++) {
        fp_xform_pred *p = &c->p[i];
        if (p->plugin && p->conf) {
            fp_xform_inst tmp = {.alias = p->alias, .conf = p->conf, .state = p->state};
            if (p->plugin->fini)
                p->plugin->fini(&tmp);
            fp_conf_free(p->plugin->conf, p->conf);
        }
        free(p->conf);
        free(p->alias);
    }
    free(c->p);
    fp_arena_free(&c->arena);
    fp_buf_free(&c->tmp);
    fp_buf_free(&c->tmp2);
    fp_rec_free(&c->top);
    free(c);
}

fp_json_type fp_xform_scalar_text(fp_span v, fp_buf *out)
{
    fp_json_type t = fp_json_type_of(v.p);
    if (t == FP_JSON_STRING)
        fp_json_unescape((fp_span){v.p + 1, v.n - 2}, out);
    else if (t == FP_JSON_NUMBER || t == FP_JSON_TRUE || t == FP_JSON_FALSE)
        fp_buf_append(out, v.p, v.n);
    return t;
}

static void place(const fp_rec_meta *m, char *buf, size_t n)
{
    if (m && m->topic) {
        char part[24], off[24];
        snprintf(part, sizeof part, "%d", (int)m->partition);
        snprintf(off, sizeof off, "%lld", (long long)m->offset);
        snprintf(buf, n, "%s/%s@%s", m->topic, m->partition < 0 ? "?" : part,
                 m->offset < 0 ? "?" : off);
    } else if (m && m->where) {
        snprintf(buf, n, "%s", m->where);
    } else {
        snprintf(buf, n, "(unknown place)");
    }
}

static void emit(fp_xform_run *r, const fp_rec *rec)
{
    fp_xform_out *o = r->out;
    out_grow(o);
    size_t start = o->data.len;
    if (o->members) {
        if (o->mn + rec->n > o->mcap) {
            o->mcap = (o->mn + rec->n) * 2;
            o->mem = fp_xrealloc(o->mem, o->mcap * sizeof *o->mem);
        }
        fp_rec_write_members(rec, &o->data, r->msg_lo, r->msg_hi, o->mem + o->mn);
        o->moff[o->n] = o->mn;
        o->mcnt[o->n] = rec->n;
        o->mn += rec->n;
    } else {
        fp_rec_write(rec, &o->data, r->msg_lo, r->msg_hi);
        o->moff[o->n] = o->mn;
        o->mcnt[o->n] = 0;
    }
    o->off[o->n] = start;
    o->len[o->n] = o->data.len - start;
    o->n++;
    if (o->sep)
        fp_buf_putc(&o->data, o->sep);
}

fp_code fp_xform_next(fp_xform_run *r, size_t idx, fp_rec *rec)
{
    fp_xform_chain *c = r->chain;
    while (idx < c->n) {
        fp_xform_inst *t = &c->t[idx];
        bool run = true;
        if (t->pred)
            run = t->pred->plugin->test(t->pred, r, rec) != t->negate;
        if (run)
            break;
        idx++;
    }
    if (idx == c->n) {
        emit(r, rec);
        if (r->out->data.len - r->out_len0 <= FP_XFORM_MAX_OUT)
            return FP_OK;
        /* no single transform is to blame (a split multiplied what others grew) */
        char where[256];
        place(r->meta, where, sizeof where);
        r->wrapped = true;
        return fp_err_set(r->err, FP_ERR_LIMIT,
                          "record at %s: outputs of one message exceed %u MiB after %zu records",
                          where, (unsigned)(FP_XFORM_MAX_OUT >> 20), r->out->n - r->out_n0);
    }
    fp_xform_inst *t = &c->t[idx];
    fp_code rc = t->plugin->apply(t, r, idx, rec);
    if (rc && !r->wrapped) {
        char where[256];
        place(r->meta, where, sizeof where);
        char msg[FP_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", r->err ? r->err->msg : "");
        if (!strcmp(t->alias, "converter.split.list.key"))
            fp_err_set(r->err, rc, "converter.split.list.key: %s in record at %s", msg, where);
        else
            fp_err_set(r->err, rc, "transform %s (%s): %s in record at %s", t->alias,
                       t->plugin->name, msg, where);
        r->wrapped = true;
    }
    return rc;
}

typedef struct top_ctx {
    fp_xform_chain *c;
    const char *end;
} top_ctx;

/* fp_json_member_fn: one top-level member of the message into the chain's record. */
static void top_member(void *ctx, fp_span key, bool key_escaped, fp_span val)
{
    top_ctx *t = ctx;
    fp_rec_add_member(&t->c->top, key, key_escaped, val, t->end, &t->c->arena, &t->c->tmp);
}

fp_code fp_xform_chain_apply(fp_xform_chain *c, const fp_rec_meta *meta, const char *json,
                             size_t len, fp_xform_out *out, fp_err *err)
{
    char where[256];
    if (!json)
        json = ""; /* a Kafka tombstone has no payload: an empty message, not a NULL + 0 */
    if (len > FP_XFORM_MAX_MSG) {
        place(meta, where, sizeof where);
        return fp_err_set(err, FP_ERR_LIMIT,
                          "record at %s: message of %zu bytes exceeds the %u-byte limit", where,
                          len, (unsigned)FP_XFORM_MAX_MSG);
    }
    /* One pass validates the message and collects its top-level members (used only if it is
     * valid and an object), so the record is not read a second time. */
    fp_arena_reset(&c->arena);
    c->top.n = 0;
    top_ctx tc = {c, json + len};
    fp_code rc = fp_json_validate_members(json, len, top_member, &tc, err);
    if (rc) {
        place(meta, where, sizeof where);
        fp_err_prefix(err, "record at %s: invalid JSON", where);
        return rc; /* not prefix()'s result: that is FP_OK when err is NULL */
    }
    const char *s = json, *e = json + len;
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    if (*s != '{') {
        place(meta, where, sizeof where);
        static const char *const tn[] = {"invalid", "object", "array", "string",
                                         "number",  "true",   "false", "null"};
        return fp_err_set(err, FP_ERR_INVALID, "record at %s: message is %s, not a JSON object",
                          where, tn[fp_json_type_of(s)]);
    }
    fp_rec_dedupe(&c->top);
    size_t n0 = out->n, len0 = out->data.len;
    fp_xform_run r = {c,        meta,  out,  err, &c->arena, &c->tmp,
                      &c->tmp2, false, len0, n0,  json,      json + len};
    rc = fp_xform_next(&r, 0, &c->top);
    if (rc)
        fp_xform_out_truncate(out, n0, len0);
    return rc;
}

static void print_plugin(const fp_xform_plugin *p, const char *kind, FILE *f)
{
    fprintf(f, "\n%s %s", kind, p->name);
    for (size_t j = 0; j < 3 && p->aliases[j]; j++)
        fprintf(f, "%s%s", j ? ", " : " (also ", p->aliases[j]);
    fprintf(f, "%s\n  %s\n", p->aliases[0] ? ")" : "", p->doc);
    fp_conf_print(p->conf,
                  !strcmp(kind, "predicate") ? "predicates.<alias>." : "transforms.<alias>.", f);
}

void fp_xform_print_help(FILE *f)
{
    fprintf(f,
            "Transforms (Kafka Connect style): \"transforms\": \"a,b\" names the chain in order;\n"
            "each transform has these keys besides its own:\n"
            "  transforms.<alias>.type        string   [required] transform type (below)\n"
            "  transforms.<alias>.predicate   string   apply only when this predicate matches\n"
            "  transforms.<alias>.negate      bool     [default: false] invert the predicate\n"
            "\"predicates\": \"p,q\" names predicates; predicates.<alias>.type selects one.\n"
            "\"converter.split.list.key\": \"F\" splits array field F before the transforms.\n");
    for (size_t i = 0; transforms[i]; i++)
        print_plugin(transforms[i], "transform", f);
    for (size_t i = 0; predicates[i]; i++)
        print_plugin(predicates[i], "predicate", f);
}
