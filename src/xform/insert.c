/* insert.c — InsertField: adds a static string and record metadata (Kafka Connect InsertField).
 *
 * Metadata field names take Kafka's suffixes: "name!" makes the field required (a record
 * without that metadata is an error), "name?" or no suffix makes it optional (the field is then
 * left out rather than written as null). topic and static values are JSON strings; partition,
 * offset and timestamp (epoch ms) are numbers. An existing field of the same name is replaced.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xform/xform_int.h"

typedef struct ins_conf {
    char *static_field, *static_value, *topic, *partition, *offset, *timestamp;
} ins_conf;

static const fp_conf_def ins_defs[] = {
    {"static.field", FP_CONF_STRING, "", offsetof(ins_conf, static_field), "field for static.value",
     NULL, 0, 0},
    {"static.value", FP_CONF_STRING, "", offsetof(ins_conf, static_value),
     "string inserted as static.field", NULL, 0, 0},
    {"topic.field", FP_CONF_STRING, "", offsetof(ins_conf, topic),
     "field for the record's topic (suffix ! required, ? optional)", NULL, 0, 0},
    {"partition.field", FP_CONF_STRING, "", offsetof(ins_conf, partition),
     "field for the record's partition", NULL, 0, 0},
    {"offset.field", FP_CONF_STRING, "", offsetof(ins_conf, offset),
     "field for the record's offset", NULL, 0, 0},
    {"timestamp.field", FP_CONF_STRING, "", offsetof(ins_conf, timestamp),
     "field for the record's timestamp (epoch ms)", NULL, 0, 0},
    {0},
};

enum { K_STATIC, K_TOPIC, K_PARTITION, K_OFFSET, K_TIMESTAMP, K_N };
static const char *const kind_name[K_N] = {"static", "topic", "partition", "offset", "timestamp"};

typedef struct ins_field {
    char *key; /* canonical raw key; NULL: not configured */
    size_t keyn;
    bool kesc, required;
    char *name; /* as configured, without suffix, for errors */
} ins_field;

typedef struct ins_state {
    ins_field f[K_N];
    char *static_json;
    size_t static_jsonn;
} ins_state;

static void set_field(ins_field *f, const char *spec, bool meta)
{
    size_t n = strlen(spec);
    if (!n)
        return;
    if (meta && (spec[n - 1] == '!' || spec[n - 1] == '?')) {
        f->required = spec[n - 1] == '!';
        n--;
    }
    f->name = fp_xstrndup(spec, n);
    f->key = fp_rec_canon_key(spec, n, &f->keyn, &f->kesc);
}

static fp_code ins_init(fp_xform_inst *t, fp_err *err)
{
    const ins_conf *c = t->conf;
    ins_state *s = fp_xcalloc(1, sizeof *s);
    t->state = s;
    if (*c->static_value && !*c->static_field)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "transforms.%s.static.value is set but static.field is not", t->alias);
    set_field(&s->f[K_STATIC], c->static_field, false);
    set_field(&s->f[K_TOPIC], c->topic, true);
    set_field(&s->f[K_PARTITION], c->partition, true);
    set_field(&s->f[K_OFFSET], c->offset, true);
    set_field(&s->f[K_TIMESTAMP], c->timestamp, true);
    for (int k = 0; k < K_N; k++)
        if (s->f[k].key && !s->f[k].keyn)
            return fp_err_set(err, FP_ERR_CONFIG, "transforms.%s.%s.field: empty field name",
                              t->alias, kind_name[k]);
    fp_buf b = FP_BUF_INIT;
    fp_json_quote(&b, c->static_value, strlen(c->static_value));
    s->static_jsonn = b.len;
    s->static_json = fp_buf_steal(&b);
    bool any = false;
    for (int k = 0; k < K_N; k++)
        any |= s->f[k].key != NULL;
    if (!any)
        return fp_err_set(err, FP_ERR_CONFIG, "transforms.%s: no field to insert configured",
                          t->alias);
    return FP_OK;
}

static void ins_fini(fp_xform_inst *t)
{
    ins_state *s = t->state;
    if (!s)
        return;
    for (int k = 0; k < K_N; k++) {
        free(s->f[k].key);
        free(s->f[k].name);
    }
    free(s->static_json);
    free(s);
}

static fp_code ins_apply(fp_xform_inst *t, fp_xform_run *r, size_t idx, fp_rec *rec)
{
    const ins_state *s = t->state;
    const fp_rec_meta *m = r->meta;
    for (int k = 0; k < K_N; k++) {
        const ins_field *f = &s->f[k];
        if (!f->key)
            continue;
        const char *v = NULL;
        size_t vn = 0;
        char num[32];
        int64_t iv = -1;
        switch (k) {
        case K_STATIC:
            v = s->static_json;
            vn = s->static_jsonn;
            break;
        case K_TOPIC:
            if (m && m->topic) {
                fp_buf_reset(r->tmp);
                fp_json_quote(r->tmp, m->topic, strlen(m->topic));
                v = fp_arena_dup(r->arena, r->tmp->p, r->tmp->len);
                vn = r->tmp->len;
            }
            break;
        case K_PARTITION:
            iv = m ? m->partition : -1;
            break;
        case K_OFFSET:
            iv = m ? m->offset : -1;
            break;
        case K_TIMESTAMP:
            iv = m ? m->timestamp_ms : -1;
            break;
        }
        if (k >= K_PARTITION && iv >= 0) {
            int len = snprintf(num, sizeof num, "%" PRId64, iv);
            v = fp_arena_dup(r->arena, num, (size_t)len);
            vn = (size_t)len;
        }
        if (!v) {
            if (f->required)
                return fp_err_set(r->err, FP_ERR_INVALID,
                                  "field %s: the record has no %s (the field is required)", f->name,
                                  kind_name[k]);
            continue;
        }
        fp_rec_set(rec, f->key, f->keyn, f->kesc, v, vn);
    }
    return fp_xform_next(r, idx + 1, rec);
}

const fp_xform_plugin fp_xform_insert = {
    .name = "InsertField",
    .aliases = {"org.apache.kafka.connect.transforms.InsertField$Value"},
    .doc = "inserts a static string and the record's topic, partition, offset and timestamp",
    .conf = ins_defs,
    .conf_size = sizeof(ins_conf),
    .init = ins_init,
    .fini = ins_fini,
    .apply = ins_apply,
};
