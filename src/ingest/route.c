/* route.c — routing rules and envelope validation for the bridge.
 *
 * Validation is fail-safe: anything that is not a well-formed envelope of
 * ../shared/PROTOCOLS.md from the device the topic names goes to the dead-letter topic, with an
 * error class a dashboard can count and a message a person can act on. The checks run on the
 * zero-copy scanner (core/json.h); nothing is allocated for a valid message except the rendered
 * topic and key, which reuse the decision's buffers.
 */
#include "ingest/route.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/time.h"

#define DEFAULT_MAX_BYTES (1024 * 1024)

typedef struct rule {
    char *filter, *topic, *key;
    int device_segment; /* -1: no spoofing check */
} rule;

struct fp_route_table {
    rule *rules;
    size_t n;
    char **filters; /* NULL-terminated, for SUBSCRIBE */
    char *dlq_topic;
    size_t max_bytes;
    char **objects; /* NULL-terminated copy, or NULL: any */
};

/* The envelope fields a template or a check needs, decoded. */
typedef struct envelope {
    fp_buf object, type, device_id, id;
} envelope;

static const char *const required[] = {"object",      "type", "id", "device_id",
                                       "messaged_at", "seq",  NULL};

void fp_route_decision_init(fp_route_decision *d)
{
    memset(d, 0, sizeof *d);
}

void fp_route_decision_free(fp_route_decision *d)
{
    fp_buf_free(&d->topic);
    fp_buf_free(&d->key);
    fp_buf_free(&d->error_message);
}

bool fp_route_topic_matches(const char *filter, const char *topic)
{
    /* Wildcards never match a topic level starting with '$' at the first level (4.7.2). */
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    const char *f = filter, *t = topic;
    for (;;) {
        if (f[0] == '#' && f[1] == '\0')
            return true;
        const char *fe = strchr(f, '/'), *te = strchr(t, '/');
        size_t fl = fe ? (size_t)(fe - f) : strlen(f), tl = te ? (size_t)(te - t) : strlen(t);
        if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, t, fl) != 0))
            return false;
        if (!fe && !te)
            return true;
        if (!te) /* "a/#" also matches "a" */
            return fe && fe[1] == '#' && fe[2] == '\0';
        if (!fe)
            return false;
        f = fe + 1;
        t = te + 1;
    }
}

/* Copies segment n (0-based) of topic into out; false when the topic is shorter. */
static bool topic_segment(const char *topic, int n, fp_buf *out)
{
    const char *s = topic;
    for (int i = 0; i < n; i++) {
        s = strchr(s, '/');
        if (!s)
            return false;
        s++;
    }
    const char *e = strchr(s, '/');
    fp_buf_append(out, s, e ? (size_t)(e - s) : strlen(s));
    return true;
}

#define TOPIC_SEGMENT_MAX 99

/* The N of "topic.N" in the n bytes at v: one or two decimal digits, 0..TOPIC_SEGMENT_MAX; false
 * for anything else (sign, spaces, other characters, out of range). */
static bool topic_index(const char *v, size_t n, int *out)
{
    if (n < 7 || n > 8 || memcmp(v, "topic.", 6) != 0)
        return false;
    const char *d = v + 6;
    size_t dn = n - 6;
    if (strspn(d, "0123456789") < dn)
        return false;
    char buf[3] = {0};
    memcpy(buf, d, dn);
    char *end;
    errno = 0;
    long x = strtol(buf, &end, 10);
    if (errno || *end || x < 0 || x > TOPIC_SEGMENT_MAX)
        return false;
    *out = (int)x;
    return true;
}

static bool template_ok(const char *tpl, fp_err *err)
{
    static const char *const vars[] = {"object", "type", "device_id", "id", NULL};
    for (const char *p = strstr(tpl, "${"); p; p = strstr(p + 2, "${")) {
        const char *e = strchr(p, '}');
        if (!e)
            return fp_err_set(err, FP_ERR_CONFIG, "template \"%s\": unclosed ${", tpl), false;
        size_t n = (size_t)(e - p - 2);
        int seg;
        if (n >= 6 && memcmp(p + 2, "topic.", 6) == 0) {
            if (!topic_index(p + 2, n, &seg))
                return fp_err_set(err, FP_ERR_CONFIG,
                                  "template \"%s\": ${%.*s}: the topic segment must be a number "
                                  "0..%d",
                                  tpl, (int)n, p + 2, TOPIC_SEGMENT_MAX),
                       false;
            continue;
        }
        bool known = false;
        for (int i = 0; vars[i] && !known; i++)
            known = strlen(vars[i]) == n && memcmp(vars[i], p + 2, n) == 0;
        if (!known)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "template \"%s\": unknown variable ${%.*s} (use object, type, "
                              "device_id, id or topic.N, N = 0..99)",
                              tpl, (int)n, p + 2),
                   false;
    }
    return true;
}

/* Fills tpl; false when it names a topic segment the topic does not have. */
static bool render(const char *tpl, const envelope *env, const char *topic, fp_buf *out)
{
    const char *p = tpl;
    for (const char *v = strstr(p, "${"); v; v = strstr(p, "${")) {
        fp_buf_append(out, p, (size_t)(v - p));
        const char *e = strchr(v, '}');
        size_t n = (size_t)(e - v - 2);
        const fp_buf *src = NULL;
        if (n == 6 && !memcmp(v + 2, "object", 6))
            src = &env->object;
        else if (n == 4 && !memcmp(v + 2, "type", 4))
            src = &env->type;
        else if (n == 9 && !memcmp(v + 2, "device_id", 9))
            src = &env->device_id;
        else if (n == 2 && !memcmp(v + 2, "id", 2))
            src = &env->id;
        int seg;
        if (src)
            fp_buf_append(out, src->p, src->len);
        else if (!topic_index(v + 2, n, &seg) || !topic_segment(topic, seg, out))
            return false; /* topic_index cannot fail: template_ok() checked it at load */
        p = e + 1;
    }
    fp_buf_puts(out, p);
    return true;
}

/* Kafka's rule for topic names: 1..249 of [A-Za-z0-9._-], not "." or "..". */
static bool kafka_topic_ok(const fp_buf *t)
{
    if (!t->len || t->len > 249 || !strcmp(t->p, ".") || !strcmp(t->p, ".."))
        return false;
    return strspn(t->p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
           t->len;
}

static void table_free_strings(fp_route_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->rules[i].filter);
        free(t->rules[i].topic);
        free(t->rules[i].key);
    }
    free(t->rules);
    free(t->filters);
    free(t->dlq_topic);
    if (t->objects)
        for (char **o = t->objects; *o; o++)
            free(*o);
    free(t->objects);
}

void fp_route_free(fp_route_table *t)
{
    if (!t)
        return;
    table_free_strings(t);
    free(t);
}

static bool filter_ok(const char *f, fp_err *err)
{
    size_t n = strlen(f);
    if (!n)
        return fp_err_set(err, FP_ERR_CONFIG, "empty filter"), false;
    for (size_t i = 0; i < n; i++) {
        bool level_start = i == 0 || f[i - 1] == '/';
        bool level_end = i + 1 == n || f[i + 1] == '/';
        if ((f[i] == '+' && !(level_start && level_end)) ||
            (f[i] == '#' && !(level_start && i + 1 == n)))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "filter \"%s\": a wildcard must fill a whole level (# only last)", f),
                   false;
    }
    return true;
}

static fp_code load_rules(fp_route_table *t, json_t *root, const char *what, fp_err *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "rules") && strcmp(key, "deadletter_topic") &&
            strcmp(key, "max_message_bytes"))
            return fp_err_set(err, FP_ERR_CONFIG, "%s: unknown key \"%s\"", what, key);
    }
    json_t *dlq = json_object_get(root, "deadletter_topic");
    if (dlq && (!json_is_string(dlq) || !json_string_length(dlq)))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: deadletter_topic must be a topic name", what);
    t->dlq_topic = fp_xstrdup(dlq ? json_string_value(dlq) : "fms.deadletter");
    json_t *mx = json_object_get(root, "max_message_bytes");
    if (mx && (!json_is_integer(mx) || json_integer_value(mx) < 64 ||
               json_integer_value(mx) > 64 * 1024 * 1024))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: max_message_bytes must be 64..67108864", what);
    t->max_bytes = mx ? (size_t)json_integer_value(mx) : DEFAULT_MAX_BYTES;
    json_t *rules = json_object_get(root, "rules");
    if (!json_is_array(rules) || !json_array_size(rules))
        return fp_err_set(err, FP_ERR_CONFIG, "%s: \"rules\" must be a non-empty array", what);
    t->n = json_array_size(rules);
    t->rules = fp_xcalloc(t->n, sizeof *t->rules);
    t->filters = fp_xcalloc(t->n + 1, sizeof *t->filters);
    for (size_t i = 0; i < t->n; i++) {
        json_t *r = json_array_get(rules, i);
        json_t *f = json_object_get(r, "filter"), *tp = json_object_get(r, "topic"),
               *k = json_object_get(r, "key"), *ds = json_object_get(r, "device_segment");
        if (!json_is_object(r) || !json_is_string(f) || !json_is_string(tp) ||
            (k && !json_is_string(k)) || (ds && !json_is_integer(ds)))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: rule %zu needs string \"filter\" and \"topic\", optional "
                              "string \"key\" and integer \"device_segment\"",
                              what, i);
        json_object_foreach(r, key, val)
        {
            if (strcmp(key, "filter") && strcmp(key, "topic") && strcmp(key, "key") &&
                strcmp(key, "device_segment"))
                return fp_err_set(err, FP_ERR_CONFIG, "%s: rule %zu: unknown key \"%s\"", what, i,
                                  key);
        }
        rule *ru = &t->rules[i];
        ru->filter = fp_xstrdup(json_string_value(f));
        ru->topic = fp_xstrdup(json_string_value(tp));
        ru->key = fp_xstrdup(k ? json_string_value(k) : "${device_id}");
        if (ds && (json_integer_value(ds) < -1 || json_integer_value(ds) > 99))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s: rule %zu: device_segment must be -1 (no check) or 0..99", what,
                              i);
        ru->device_segment = ds ? (int)json_integer_value(ds) : 1;
        t->filters[i] = ru->filter;
        if (!filter_ok(ru->filter, err) || !template_ok(ru->topic, err) ||
            !template_ok(ru->key, err))
            return fp_err_prefix(err, "%s: rule %zu", what, i);
    }
    return FP_OK;
}

fp_route_table *fp_route_load(const char *path, const char *const *known_objects, fp_err *err)
{
    static const char dflt[] = "{\"rules\":[{\"filter\":\"fms/+/+/+\",\"topic\":\"fms.${object}\","
                               "\"key\":\"${device_id}\",\"device_segment\":1}]}";
    json_error_t je;
    json_t *root = path ? json_load_file(path, 0, &je) : json_loads(dflt, 0, &je);
    if (!root) {
        fp_err_set(err, FP_ERR_CONFIG, "%s: line %d: %s", path ? path : "default rules", je.line,
                   je.text);
        return NULL;
    }
    fp_route_table *t = fp_xcalloc(1, sizeof *t);
    fp_code rc = json_is_object(root)
                     ? load_rules(t, root, path ? path : "default rules", err)
                     : fp_err_set(err, FP_ERR_CONFIG, "%s: not a JSON object", path);
    json_decref(root);
    if (rc) {
        fp_route_free(t);
        return NULL;
    }
    if (known_objects) {
        size_t n = 0;
        while (known_objects[n])
            n++;
        t->objects = fp_xcalloc(n + 1, sizeof *t->objects);
        for (size_t i = 0; i < n; i++)
            t->objects[i] = fp_xstrdup(known_objects[i]);
    }
    return t;
}

const char *const *fp_route_filters(const fp_route_table *t)
{
    return (const char *const *)t->filters;
}

const char *fp_route_deadletter_topic(const fp_route_table *t)
{
    return t->dlq_topic;
}

size_t fp_route_max_bytes(const fp_route_table *t)
{
    return t->max_bytes;
}

static void dead(fp_route_decision *d, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dead(fp_route_decision *d, const char *cls, const char *fmt, ...)
{
    d->dead_letter = true;
    d->error_class = cls;
    va_list ap;
    va_start(ap, fmt);
    fp_buf_vprintf(&d->error_message, fmt, ap);
    va_end(ap);
}

static bool is_uint(fp_span v)
{
    if (!v.n || v.n > 19 || v.p[0] == '-')
        return false;
    for (size_t i = 0; i < v.n; i++)
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
    return true;
}

/* The required envelope members, found while validating (the last occurrence of a duplicated
 * key wins, as in JSON.parse). One pass: a message is mostly its measurements array. */
typedef struct members {
    fp_span v[6];
} members;

static void collect(void *ctx, fp_span key, bool escaped, fp_span val)
{
    members *m = ctx;
    for (int i = 0; required[i]; i++)
        if (fp_json_key_eq(key, escaped, required[i], strlen(required[i])))
            m->v[i] = val;
}

/* Checks the envelope's required fields and decodes the ones templates use. */
static bool check_envelope(const members *m, envelope *env, fp_route_decision *d)
{
    const fp_span *v = m->v;
    for (int i = 0; required[i]; i++) {
        if (!v[i].p) {
            dead(d, "missing_field", "missing required field \"%s\"", required[i]);
            return false;
        }
    }
    /* object, type, device_id, messaged_at are strings; id is an integer > 0; seq >= 0. */
    static const int strings[] = {0, 1, 3, 4};
    for (size_t i = 0; i < 4; i++) {
        fp_span s = v[strings[i]];
        if (fp_json_type_of(s.p) != FP_JSON_STRING || s.n < 3) {
            dead(d, "bad_field", "field \"%s\" must be a non-empty string", required[strings[i]]);
            return false;
        }
    }
    if (!is_uint(v[2]) || (v[2].n == 1 && v[2].p[0] == '0')) {
        dead(d, "bad_field", "field \"id\" must be an integer > 0, got %.*s",
             (int)(v[2].n > 40 ? 40 : v[2].n), v[2].p);
        return false;
    }
    if (!is_uint(v[5])) {
        dead(d, "bad_field", "field \"seq\" must be an integer >= 0, got %.*s",
             (int)(v[5].n > 40 ? 40 : v[5].n), v[5].p);
        return false;
    }
    fp_json_unescape((fp_span){v[0].p + 1, v[0].n - 2}, &env->object);
    fp_json_unescape((fp_span){v[1].p + 1, v[1].n - 2}, &env->type);
    fp_json_unescape((fp_span){v[3].p + 1, v[3].n - 2}, &env->device_id);
    fp_buf_append(&env->id, v[2].p, v[2].n);
    fp_buf at = FP_BUF_INIT;
    fp_json_unescape((fp_span){v[4].p + 1, v[4].n - 2}, &at);
    int64_t ms;
    bool time_ok = fp_time_parse_iso(at.p, at.len, &ms, NULL) == FP_OK;
    if (!time_ok)
        dead(d, "bad_field", "field \"messaged_at\": not an ISO-8601 time: \"%.*s\"",
             (int)(at.len > 64 ? 64 : at.len), at.p);
    fp_buf_free(&at);
    return time_ok;
}

static bool known_object(const fp_route_table *t, const fp_buf *object)
{
    if (!t->objects)
        return true;
    for (char **o = t->objects; *o; o++)
        if (strlen(*o) == object->len && !memcmp(*o, object->p, object->len))
            return true;
    return false;
}

void fp_route_message(const fp_route_table *t, const char *mqtt_topic, const char *payload,
                      size_t len, size_t total_len, fp_route_decision *d)
{
    d->dead_letter = false;
    d->error_class = NULL;
    fp_buf_reset(&d->topic);
    fp_buf_reset(&d->key);
    fp_buf_reset(&d->error_message);
    const rule *r = NULL;
    for (size_t i = 0; i < t->n && !r; i++)
        if (fp_route_topic_matches(t->rules[i].filter, mqtt_topic))
            r = &t->rules[i];
    if (r && r->device_segment >= 0)
        topic_segment(mqtt_topic, r->device_segment, &d->key); /* dead-letter key */
    envelope env = {FP_BUF_INIT, FP_BUF_INIT, FP_BUF_INIT, FP_BUF_INIT};
    members mem = {{{NULL, 0}}};
    fp_err err = {0};
    if (total_len > t->max_bytes || len > t->max_bytes) {
        dead(d, "too_large", "payload of %zu bytes exceeds the limit of %zu bytes", total_len,
             t->max_bytes);
    } else if (fp_json_validate_members(payload, len, collect, &mem, &err) != FP_OK) {
        dead(d, "invalid_json", "%s", err.msg);
    } else {
        if (fp_json_type_of(fp_json_skip_ws(payload, payload + len)) != FP_JSON_OBJECT)
            dead(d, "invalid_json", "payload is not a JSON object");
        else if (!check_envelope(&mem, &env, d))
            ; /* dead() was called */
        else if (!known_object(t, &env.object))
            dead(d, "unknown_object", "unknown object \"%.*s\"", (int)env.object.len, env.object.p);
        else if (!r)
            dead(d, "no_route", "no rule matches MQTT topic %s", mqtt_topic);
        else if (r->device_segment >= 0 && (d->key.len != env.device_id.len ||
                                            memcmp(d->key.p, env.device_id.p, d->key.len) != 0))
            dead(d, "spoofed_device", "device_id \"%.*s\" differs from the topic's device \"%s\"",
                 (int)env.device_id.len, env.device_id.p, d->key.p ? d->key.p : "");
    }
    if (!d->dead_letter) {
        fp_buf_reset(&d->key);
        if (!render(r->topic, &env, mqtt_topic, &d->topic) ||
            !render(r->key, &env, mqtt_topic, &d->key))
            dead(d, "bad_route", "rule %s: a ${topic.N} template names a segment %s lacks",
                 r->filter, mqtt_topic);
        else if (!kafka_topic_ok(&d->topic))
            dead(d, "bad_route", "rule %s made \"%.*s\", not a valid Kafka topic name", r->filter,
                 (int)(d->topic.len > 300 ? 300 : d->topic.len), d->topic.p);
        if (d->dead_letter) { /* back to the dead-letter shape below */
            fp_buf_reset(&d->topic);
            fp_buf_reset(&d->key);
            if (r->device_segment >= 0)
                topic_segment(mqtt_topic, r->device_segment, &d->key);
        }
    }
    if (d->dead_letter) {
        fp_buf_puts(&d->topic, t->dlq_topic);
        fp_buf_putc(&d->key, '\0'); /* make key.p valid even when empty */
        d->key.len--;
    }
    fp_buf_free(&env.object);
    fp_buf_free(&env.type);
    fp_buf_free(&env.device_id);
    fp_buf_free(&env.id);
}
