/* tsconv.c — TimestampConverter: ISO-8601 with offset <-> epoch milliseconds (UTC).
 *
 * Input may be either form: a string is parsed strictly as ISO-8601 with an offset, a number
 * must be an integer of epoch milliseconds. target.type "unix" writes the epoch ms number,
 * "string" writes YYYY-MM-DDTHH:MM:SS.mmmZ in UTC. A missing field is an error; null is left as
 * null (Kafka passes null timestamps through).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "xform/xform_int.h"

typedef struct ts_conf {
    char *field, *target;
} ts_conf;

static const fp_conf_def ts_defs[] = {
    {"field", FP_CONF_STRING, NULL, offsetof(ts_conf, field), "top-level field to convert", NULL, 0,
     0},
    {"target.type", FP_CONF_ENUM, NULL, offsetof(ts_conf, target),
     "unix: epoch ms number; string: ISO-8601 UTC with ms", "unix|string", 0, 0},
    {0},
};

static fp_code parse_epoch(fp_span v, int64_t *ms)
{
    /* integers only: a fraction or exponent has no exact millisecond meaning */
    const char *p = v.p, *e = v.p + v.n;
    bool neg = false;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    if (p == e || e - p > 18)
        return FP_ERR_INVALID;
    int64_t x = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return FP_ERR_INVALID;
        x = x * 10 + (*p - '0');
    }
    *ms = neg ? -x : x;
    return FP_OK;
}

static fp_code ts_apply(fp_xform_inst *t, fp_xform_run *r, size_t idx, fp_rec *rec)
{
    const ts_conf *c = t->conf;
    long i = fp_rec_find(rec, c->field, strlen(c->field));
    if (i < 0)
        return fp_err_set(r->err, FP_ERR_INVALID, "field %s: missing", c->field);
    fp_span v = {rec->m[i].v, rec->m[i].vn};
    fp_json_type ty = fp_json_type_of(v.p);
    int64_t ms;
    if (ty == FP_JSON_NULL)
        return fp_xform_next(r, idx + 1, rec);
    if (ty == FP_JSON_STRING) {
        fp_buf_reset(r->tmp);
        fp_json_unescape((fp_span){v.p + 1, v.n - 2}, r->tmp);
        fp_code rc = fp_time_parse_iso(r->tmp->p, r->tmp->len, &ms, r->err);
        if (rc) {
            fp_err_prefix(r->err, "field %s", c->field);
            return rc;
        }
    } else if (ty == FP_JSON_NUMBER) {
        if (parse_epoch(v, &ms))
            return fp_err_set(r->err, FP_ERR_INVALID,
                              "field %s: %.*s is not an integer of epoch milliseconds", c->field,
                              (int)(v.n > 40 ? 40 : v.n), v.p);
    } else {
        return fp_err_set(r->err, FP_ERR_INVALID,
                          "field %s: is not a timestamp string or epoch ms number", c->field);
    }
    /* years 0000..9999: what YYYY can write and parse back */
    if (ms < -62167219200000 || ms > 253402300799999)
        return fp_err_set(r->err, FP_ERR_INVALID,
                          "field %s: %" PRId64 " ms is outside years 0000-9999", c->field, ms);
    fp_buf_reset(r->tmp);
    if (!strcmp(c->target, "unix")) {
        fp_buf_printf(r->tmp, "%" PRId64, ms);
    } else {
        fp_buf_putc(r->tmp, '"');
        fp_time_format_iso(ms, r->tmp);
        fp_buf_putc(r->tmp, '"');
    }
    rec->m[i].v = fp_arena_dup(r->arena, r->tmp->p, r->tmp->len);
    rec->m[i].vn = r->tmp->len;
    return fp_xform_next(r, idx + 1, rec);
}

const fp_xform_plugin fp_xform_tsconv = {
    .name = "TimestampConverter",
    .aliases = {"org.apache.kafka.connect.transforms.TimestampConverter$Value"},
    .doc = "converts a field between ISO-8601 (any offset) and epoch ms; output is UTC",
    .conf = ts_defs,
    .conf_size = sizeof(ts_conf),
    .apply = ts_apply,
};
