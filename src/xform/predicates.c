/* predicates.c — conditions for transforms (Kafka Connect predicates).
 *
 * TopicNameMatches is a full match of the topic (like Java's Matcher.matches()) with a POSIX
 * extended regex; Java's \d and \D are translated to [0-9] and [^0-9] outside brackets, glibc
 * understands \w \s \b itself; lookarounds and other Java-only syntax are config errors. A
 * record without a topic never matches. FieldEquals (ours) compares a top-level field's decoded
 * string, or a number's exact text, or true/false, with a configured string; a missing, null or
 * structured field does not match. HasField (ours) matches records that have a top-level field,
 * whatever its value (null too): the lake splits only the messages that carry `measurements`.
 */
#include <regex.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "xform/xform_int.h"

typedef struct topic_conf {
    char *pattern;
} topic_conf;

static const fp_conf_def topic_defs[] = {
    {"pattern", FP_CONF_STRING, NULL, offsetof(topic_conf, pattern),
     "POSIX extended regex that must match the whole topic name", NULL, 0, 0},
    {0},
};

static fp_code topic_init(fp_xform_inst *t, fp_err *err)
{
    const topic_conf *c = t->conf;
    regex_t *re = fp_xcalloc(1, sizeof *re);
    fp_buf b = FP_BUF_INIT;
    fp_buf_puts(&b, "^(");
    bool in_bracket = false;
    for (const char *p = c->pattern; *p; p++) {
        if (*p == '\\' && p[1]) {
            if (!in_bracket && (p[1] == 'd' || p[1] == 'D'))
                fp_buf_puts(&b, p[1] == 'd' ? "[0-9]" : "[^0-9]");
            else
                fp_buf_append(&b, p, 2);
            p++;
            continue;
        }
        if (*p == '[')
            in_bracket = true;
        else if (*p == ']')
            in_bracket = false;
        fp_buf_putc(&b, *p);
    }
    fp_buf_puts(&b, ")$");
    int rc = regcomp(re, b.p, REG_EXTENDED | REG_NOSUB);
    fp_buf_free(&b);
    if (rc) {
        char msg[256];
        regerror(rc, re, msg, sizeof msg);
        free(re);
        return fp_err_set(err, FP_ERR_CONFIG, "predicates.%s.pattern: '%s': %s", t->alias,
                          c->pattern, msg);
    }
    t->state = re;
    return FP_OK;
}

static void topic_fini(fp_xform_inst *t)
{
    if (t->state)
        regfree(t->state);
    free(t->state);
}

static bool topic_test(const fp_xform_pred *p, fp_xform_run *r, const fp_rec *rec)
{
    if (!r->meta || !r->meta->topic)
        return false;
    return regexec(p->state, r->meta->topic, 0, NULL, 0) == 0;
}

const fp_xform_plugin fp_xform_pred_topic = {
    .name = "TopicNameMatches",
    .aliases = {"org.apache.kafka.connect.transforms.predicates.TopicNameMatches"},
    .doc = "matches records whose topic name matches pattern entirely",
    .conf = topic_defs,
    .conf_size = sizeof(topic_conf),
    .init = topic_init,
    .fini = topic_fini,
    .test = topic_test,
};

typedef struct feq_conf {
    char *field, *value;
} feq_conf;

static const fp_conf_def feq_defs[] = {
    {"field", FP_CONF_STRING, NULL, offsetof(feq_conf, field), "top-level field to compare", NULL,
     0, 0},
    {"value", FP_CONF_STRING, NULL, offsetof(feq_conf, value),
     "decoded string, exact number text, or true/false to compare with", NULL, 0, 0},
    {0},
};

static bool feq_test(const fp_xform_pred *p, fp_xform_run *r, const fp_rec *rec)
{
    const feq_conf *c = p->conf;
    long i = fp_rec_find(rec, c->field, strlen(c->field));
    if (i < 0)
        return false;
    fp_buf_reset(r->tmp);
    fp_json_type ty = fp_xform_scalar_text((fp_span){rec->m[i].v, rec->m[i].vn}, r->tmp);
    if (ty == FP_JSON_NULL || ty == FP_JSON_OBJECT || ty == FP_JSON_ARRAY)
        return false;
    size_t n = strlen(c->value);
    return r->tmp->len == n && memcmp(r->tmp->p, c->value, n) == 0;
}

const fp_xform_plugin fp_xform_pred_field = {
    .name = "FieldEquals",
    .doc = "matches records whose top-level field equals value",
    .conf = feq_defs,
    .conf_size = sizeof(feq_conf),
    .test = feq_test,
};

typedef struct has_conf {
    char *field;
} has_conf;

static const fp_conf_def has_defs[] = {
    {"field", FP_CONF_STRING, NULL, offsetof(has_conf, field), "top-level field that must exist",
     NULL, 0, 0},
    {0},
};

static bool has_test(const fp_xform_pred *p, fp_xform_run *r, const fp_rec *rec)
{
    (void)r;
    const has_conf *c = p->conf;
    return fp_rec_find(rec, c->field, strlen(c->field)) >= 0;
}

const fp_xform_plugin fp_xform_pred_has = {
    .name = "HasField",
    .doc = "matches records that have the top-level field (any value, null too)",
    .conf = has_defs,
    .conf_size = sizeof(has_conf),
    .test = has_test,
};
