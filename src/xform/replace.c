/* replace.c — ReplaceField: drop, keep and rename top-level fields (Kafka Connect ReplaceField).
 *
 * As in Kafka, a field survives when it is not excluded and the include list is empty or names
 * it; renames apply to the survivors. Kafka's older key names whitelist/blacklist are accepted
 * and mean include/exclude. If a rename makes two fields share a name, the later one wins, as
 * with duplicate keys in the input.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "xform/xform_int.h"

typedef struct repl_conf {
    fp_strv exclude, include, renames, whitelist, blacklist;
} repl_conf;

static const fp_conf_def repl_defs[] = {
    {"exclude", FP_CONF_LIST, "", offsetof(repl_conf, exclude), "fields to drop", NULL, 0, 0},
    {"include", FP_CONF_LIST, "", offsetof(repl_conf, include),
     "fields to keep (empty: keep all not excluded)", NULL, 0, 0},
    {"renames", FP_CONF_LIST, "", offsetof(repl_conf, renames), "renames as old:new,old2:new2",
     NULL, 0, 0},
    {"whitelist", FP_CONF_LIST, "", offsetof(repl_conf, whitelist), "older name of include", NULL,
     0, 0},
    {"blacklist", FP_CONF_LIST, "", offsetof(repl_conf, blacklist), "older name of exclude", NULL,
     0, 0},
    {0},
};

typedef struct rename {
    char *from, *to; /* to: canonical raw key */
    size_t fromn, ton;
    bool tesc;
} rename_t;

typedef struct name_list {
    char **v; /* borrowed from conf */
    size_t *len, n;
    uint64_t *sig;
} name_list;

typedef struct repl_state {
    name_list include, exclude;
    rename_t *ren;
    size_t nren;
} repl_state;

static void merge(fp_strv *dst, fp_strv *src)
{
    for (size_t i = 0; i < src->n; i++) {
        dst->v = fp_xrealloc(dst->v, (dst->n + 1) * sizeof *dst->v);
        dst->v[dst->n++] = src->v[i];
    }
    free(src->v);
    src->v = NULL;
    src->n = 0;
}

static fp_code repl_init(fp_xform_inst *t, fp_err *err)
{
    repl_conf *c = t->conf;
    repl_state *s = fp_xcalloc(1, sizeof *s);
    t->state = s;
    merge(&c->include, &c->whitelist);
    merge(&c->exclude, &c->blacklist);
    s->include =
        (name_list){c->include.v, fp_xcalloc(c->include.n + 1, sizeof(size_t)), c->include.n, NULL};
    s->exclude =
        (name_list){c->exclude.v, fp_xcalloc(c->exclude.n + 1, sizeof(size_t)), c->exclude.n, NULL};
    s->include.sig = fp_xcalloc(c->include.n + 1, sizeof(uint64_t));
    s->exclude.sig = fp_xcalloc(c->exclude.n + 1, sizeof(uint64_t));
    for (size_t i = 0; i < c->include.n; i++) {
        s->include.len[i] = strlen(c->include.v[i]);
        s->include.sig[i] = fp_rec_key_sig(c->include.v[i], s->include.len[i]);
    }
    for (size_t i = 0; i < c->exclude.n; i++) {
        s->exclude.len[i] = strlen(c->exclude.v[i]);
        s->exclude.sig[i] = fp_rec_key_sig(c->exclude.v[i], s->exclude.len[i]);
    }
    s->ren = fp_xcalloc(c->renames.n + 1, sizeof *s->ren);
    for (size_t i = 0; i < c->renames.n; i++) {
        const char *r = c->renames.v[i];
        const char *colon = strchr(r, ':');
        if (!colon || colon == r || !colon[1])
            return fp_err_set(err, FP_ERR_CONFIG, "transforms.%s.renames: '%s' is not old:new",
                              t->alias, r);
        rename_t *rn = &s->ren[s->nren++];
        rn->fromn = (size_t)(colon - r);
        rn->from = fp_xstrndup(r, rn->fromn);
        rn->to = fp_rec_canon_key(colon + 1, strlen(colon + 1), &rn->ton, &rn->tesc);
    }
    return FP_OK;
}

static void repl_fini(fp_xform_inst *t)
{
    repl_state *s = t->state;
    if (!s)
        return;
    for (size_t i = 0; i < s->nren; i++) {
        free(s->ren[i].from);
        free(s->ren[i].to);
    }
    free(s->ren);
    free(s->include.len);
    free(s->exclude.len);
    free(s->include.sig);
    free(s->exclude.sig);
    free(s);
}

static inline bool name_is(const fp_member *m, const char *name, size_t len)
{
    if (!m->kesc)
        return m->kn == len && memcmp(m->k, name, len) == 0;
    return fp_json_key_eq((fp_span){m->k, m->kn}, true, name, len);
}

static bool in_list(const fp_member *m, const name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if ((m->kesc || m->sig == l->sig[i]) && name_is(m, l->v[i], l->len[i]))
            return true;
    return false;
}

static fp_code repl_apply(fp_xform_inst *t, fp_xform_run *r, size_t idx, fp_rec *rec)
{
    const repl_state *s = t->state;
    if (!s->include.n && !s->nren) {
        /* exclude only (the usual case): look the few names up instead of copying every member */
        for (size_t k = 0; k < s->exclude.n; k++) {
            for (size_t i = 0; i < rec->n; i++) {
                const fp_member *m = &rec->m[i];
                if ((m->kesc || m->sig == s->exclude.sig[k]) &&
                    name_is(m, s->exclude.v[k], s->exclude.len[k])) {
                    fp_rec_remove(rec, i);
                    break; /* keys are unique in a record */
                }
            }
        }
        return fp_xform_next(r, idx + 1, rec);
    }
    size_t w = 0;
    bool renamed = false;
    for (size_t i = 0; i < rec->n; i++) {
        fp_member m = rec->m[i];
        if (in_list(&m, &s->exclude))
            continue;
        if (s->include.n && !in_list(&m, &s->include))
            continue;
        for (size_t k = 0; k < s->nren; k++) {
            if (name_is(&m, s->ren[k].from, s->ren[k].fromn)) {
                m.k = s->ren[k].to;
                m.kn = s->ren[k].ton;
                m.kesc = s->ren[k].tesc;
                m.sig = fp_rec_key_sig(m.k, m.kn);
                renamed = true;
                break;
            }
        }
        rec->m[w++] = m;
    }
    rec->n = w;
    if (renamed)
        fp_rec_dedupe(rec);
    return fp_xform_next(r, idx + 1, rec);
}

const fp_xform_plugin fp_xform_replace = {
    .name = "ReplaceField",
    .aliases = {"org.apache.kafka.connect.transforms.ReplaceField$Value"},
    .doc = "drops (exclude), keeps (include) and renames (old:new) top-level fields",
    .conf = repl_defs,
    .conf_size = sizeof(repl_conf),
    .init = repl_init,
    .fini = repl_fini,
    .apply = repl_apply,
};
