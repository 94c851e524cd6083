/* xform_int.h — how transforms and predicates plug into the chain (internal to src/xform).
 *
 * Each transform type is one file with one `const fp_xform_plugin`: its name and Kafka Connect
 * class-name aliases, a declarative config table for its own keys (the chain handles `type`,
 * `predicate` and `negate`), and callbacks. apply() receives one record and continues the chain
 * with fp_xform_next() zero times (drop), once (the usual case) or many times (split), so no
 * transform ever materialises a list of records. A transform reports a bad record by setting
 * r->err with the bare reason ("template field ${id}: missing"); the chain adds the transform
 * alias, its type and the record's place.
 */
#ifndef FP_XFORM_INT_H
#define FP_XFORM_INT_H

#include <regex.h>
#include <stdbool.h>

#include "xform/rec.h"
#include "xform/xform.h"

typedef struct fp_xform_inst fp_xform_inst;
typedef struct fp_xform_run fp_xform_run;
typedef struct fp_xform_pred fp_xform_pred;

typedef struct fp_xform_plugin {
    const char *name;
    const char *aliases[3]; /* Kafka Connect class names; unused slots NULL */
    const char *doc;
    const fp_conf_def *conf; /* keys under transforms.<alias>. (or predicates.<alias>.) */
    size_t conf_size;        /* sizeof the struct conf fills in */
    /* checks and compiles the parsed config; errors are FP_ERR_CONFIG */
    fp_code (*init)(fp_xform_inst *t, fp_err *err);
    void (*fini)(fp_xform_inst *t);
    /* transforms: continue with fp_xform_next(r, idx + 1, rec) for each output */
    fp_code (*apply)(fp_xform_inst *t, fp_xform_run *r, size_t idx, fp_rec *rec);
    /* predicates: whether rec matches */
    bool (*test)(const fp_xform_pred *p, fp_xform_run *r, const fp_rec *rec);
} fp_xform_plugin;

struct fp_xform_pred {
    char *alias;
    const fp_xform_plugin *plugin;
    void *conf;
    void *state;
};

struct fp_xform_inst {
    char *alias;
    const fp_xform_plugin *plugin;
    void *conf;                /* filled by fp_conf_apply from plugin->conf */
    void *state;               /* owned by the plugin: init allocates, fini frees */
    const fp_xform_pred *pred; /* run only when pred matches (xor negate); NULL: always */
    bool negate;
    fp_rec child; /* scratch record for transforms that make new records */
};

/* One apply() call: what transforms may use. */
struct fp_xform_run {
    fp_xform_chain *chain;
    const fp_rec_meta *meta;
    fp_xform_out *out;
    fp_err *err;
    fp_arena *arena;
    fp_buf *tmp, *tmp2;          /* scratch, valid only until the next call that uses them */
    bool wrapped;                /* err already carries transform and place context */
    size_t out_len0, out_n0;     /* out->data.len and out->n before this message (budget) */
    const char *msg_lo, *msg_hi; /* the validated message */
};

fp_code fp_xform_next(fp_xform_run *r, size_t idx, fp_rec *rec);

/* Decodes a top-level string or number member for comparisons and templates: strings are
 * unescaped, numbers, true and false are their text. Returns the JSON type of the value. */
fp_json_type fp_xform_scalar_text(fp_span v, fp_buf *out);

extern const fp_xform_plugin fp_xform_split, fp_xform_template, fp_xform_replace, fp_xform_insert,
    fp_xform_filter, fp_xform_tsconv;
extern const fp_xform_plugin fp_xform_pred_topic, fp_xform_pred_field, fp_xform_pred_has;

#endif
