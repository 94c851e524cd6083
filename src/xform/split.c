/* split.c — SplitArrayField: one output record per element of an array field.
 *
 * Each output is the parent's members minus the array field, with the element's members merged
 * in; on a name clash the element wins (it is the more specific value), at the parent's
 * position. An empty array yields zero records, which is not an error: the message simply had
 * nothing to report. A non-object element makes the whole message a dead letter (all or nothing),
 * naming the element's index. The converter form "converter.split.list.key" uses this plugin too.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "xform/xform_int.h"

typedef struct split_conf {
    char *field;
} split_conf;

static const fp_conf_def split_defs[] = {
    {"field", FP_CONF_STRING, NULL, offsetof(split_conf, field),
     "top-level array field whose object elements become one record each", NULL, 0, 0},
    {0},
};

static const char *type_name(fp_json_type t)
{
    static const char *const n[] = {"invalid",  "an object", "an array", "a string",
                                    "a number", "true",      "false",    "null"};
    return n[t];
}

static fp_code split_apply(fp_xform_inst *t, fp_xform_run *r, size_t idx, fp_rec *rec)
{
    const split_conf *c = t->conf;
    size_t flen = strlen(c->field);
    long fi = fp_rec_find(rec, c->field, flen);
    if (fi < 0)
        return fp_err_set(r->err, FP_ERR_INVALID, "field %s: missing", c->field);
    fp_span arr = {rec->m[fi].v, rec->m[fi].vn};
    fp_json_type at = fp_json_type_of(arr.p);
    if (at != FP_JSON_ARRAY)
        return fp_err_set(r->err, FP_ERR_INVALID, "field %s: is %s, not an array", c->field,
                          type_name(at));
    /* One walk: each element's members are read straight from the array, so elements are
     * never skipped first and then read again. A bad element fails the whole message; the chain
     * rolls back what earlier elements already produced. */
    const char *p = arr.p + 1, *end = arr.p + arr.n;
    fp_rec *ch = &t->child;
    for (size_t i = 0;; i++) {
        p = fp_json_skip_ws(p, end);
        if (*p == ',')
            p = fp_json_skip_ws(p + 1, end);
        if (*p == ']')
            break;
        if (*p != '{')
            return fp_err_set(r->err, FP_ERR_INVALID, "field %s: element %zu is %s, not an object",
                              c->field, i, type_name(fp_json_type_of(p)));
        ch->n = 0;
        fp_rec_push_members(ch, rec->m, (size_t)fi);
        fp_rec_push_members(ch, rec->m + fi + 1, rec->n - (size_t)fi - 1);
        fp_json_iter it = {p + 1, end};
        fp_rec_add_members(ch, &it, r->arena, r->tmp);
        fp_rec_dedupe(ch);
        p = fp_json_skip_ws(it.p, end) + 1; /* past the element's '}' */
        fp_code rc = fp_xform_next(r, idx + 1, ch);
        if (rc)
            return rc;
    }
    return FP_OK;
}

const fp_xform_plugin fp_xform_split = {
    .name = "SplitArrayField",
    .doc = "one record per element of an array of objects; parent fields are copied, element "
           "fields win on a clash; an empty array gives no records",
    .conf = split_defs,
    .conf_size = sizeof(split_conf),
    .apply = split_apply,
};
