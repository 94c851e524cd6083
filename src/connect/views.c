/* views.c — what the runtime shows of itself: the JSON views of the REST API (names, config,
 * info, tasks, status, plugins), validation of a connector config without starting it (Kafka
 * Connect's ConfigInfos), and `fleetpipe help connectors`.
 *
 * Threads: management callers (REST handlers, distributed mode); every view of the connector
 * list takes fp_connect.mu. Validation and help touch no runtime state.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "connect/connect_int.h"
#include "connect/sink.h"
#include "core/mem.h"
#include "core/version.h"
#include "kafka/kafka.h"
#include "xform/xform.h"

/* ---------------------------------------------------------------- JSON views */

static json_t *config_of(const connector *k)
{
    json_t *o = json_object();
    for (size_t i = 0; i < k->props.n; i++)
        json_object_set_new(o, k->props.v[i].key, json_string(k->props.v[i].val));
    return o;
}

json_t *fp_connect_names_json(fp_connect *c)
{
    json_t *a = json_array();
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++)
        json_array_append_new(a, json_string(c->conns[i]->cf.name));
    pthread_mutex_unlock(&c->mu);
    return a;
}

json_t *fp_connect_config_json(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = fp_connect_find(c, name, NULL);
    json_t *o = k ? config_of(k) : NULL;
    pthread_mutex_unlock(&c->mu);
    return o;
}

json_t *fp_connect_info_json(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = fp_connect_find(c, name, NULL);
    json_t *o = NULL;
    if (k) {
        json_t *tasks = json_array();
        for (int j = 0; j < k->cf.tasks_max; j++)
            json_array_append_new(tasks, json_pack("{s:s, s:i}", "connector", name, "task", j));
        o = json_pack("{s:s, s:o, s:o, s:s}", "name", name, "config", config_of(k), "tasks", tasks,
                      "type", "sink");
    }
    pthread_mutex_unlock(&c->mu);
    return o;
}

json_t *fp_connect_tasks_json(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = fp_connect_find(c, name, NULL);
    json_t *a = NULL;
    if (k) {
        a = json_array();
        for (int j = 0; j < k->cf.tasks_max; j++)
            json_array_append_new(a, json_pack("{s:{s:s, s:i}, s:o}", "id", "connector", name,
                                               "task", j, "config", config_of(k)));
    }
    pthread_mutex_unlock(&c->mu);
    return a;
}

const char *fp_connect_task_state(const connector *k, task *t)
{
    int st = atomic_load(&t->state);
    if (st == T_FAILED)
        return "FAILED";
    if (st == T_STOPPED)
        return "UNASSIGNED";
    if (atomic_load(&k->paused))
        return "PAUSED";
    char why[8];
    return fp_connect_task_blocked(t, why, sizeof why) ? "UNASSIGNED" : "RUNNING";
}

static const char *connector_state(const connector *k)
{
    if (!k->running)
        return "UNASSIGNED";
    return atomic_load(&k->paused) ? "PAUSED" : "RUNNING";
}

json_t *fp_connect_status_json(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = fp_connect_find(c, name, NULL);
    json_t *o = NULL;
    if (k) {
        json_t *tasks = json_array();
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            const char *st = fp_connect_task_state(k, t);
            json_t *e =
                json_pack("{s:i, s:s, s:s}", "id", j, "state", st, "worker_id", c->worker_id);
            char why[400];
            if (!strcmp(st, "FAILED")) {
                pthread_mutex_lock(&t->mu);
                json_object_set_new(e, "trace", json_string(t->trace));
                pthread_mutex_unlock(&t->mu);
            } else if (fp_connect_task_blocked(t, why, sizeof why)) {
                json_object_set_new(e, "reason", json_string(why));
            }
            json_object_set_new(e, "records_lost", json_integer((json_int_t)atomic_load(&t->lost)));
            json_object_set_new(e, "records_dropped",
                                json_integer((json_int_t)atomic_load(&t->dropped)));
            pthread_mutex_lock(&t->mu);
            if (t->last_lost.to > t->last_lost.from)
                json_object_set_new(e, "last_lost",
                                    json_pack("{s:s, s:i, s:I, s:I}", "topic", t->last_lost.topic,
                                              "partition", (int)t->last_lost.partition, "from",
                                              (json_int_t)t->last_lost.from, "to",
                                              (json_int_t)t->last_lost.to));
            int64_t lag = 0;
            bool known =
                atomic_load(&t->lag_known) && (!strcmp(st, "RUNNING") || !strcmp(st, "PAUSED"));
            for (size_t l = 0; l < t->nlags; l++)
                lag += t->lags[l].lag;
            pthread_mutex_unlock(&t->mu);
            json_object_set_new(e, "lag", known ? json_integer((json_int_t)lag) : json_null());
            json_array_append_new(tasks, e);
        }
        o = json_pack("{s:s, s:{s:s, s:s}, s:o, s:s}", "name", name, "connector", "state",
                      connector_state(k), "worker_id", c->worker_id, "tasks", tasks, "type",
                      "sink");
    }
    pthread_mutex_unlock(&c->mu);
    return o;
}

json_t *fp_connect_plugins_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; fp_sink_plugins[i]; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "class", fp_sink_plugins[i]->name,
                                           "type", "sink", "version", FP_VERSION_STRING));
    return a;
}

/* ---------------------------------------------------------------- validation */

static void add_error(void *ctx, const char *key, const char *msg)
{
    json_t *errs = ctx;
    json_t *a = json_object_get(errs, key);
    if (!a) {
        a = json_array();
        json_object_set_new(errs, key, a);
    }
    json_array_append_new(a, json_string(msg));
}

/* Files msg under the longest key of props (with prefix) that the message names
 * ("transforms.a.type" rather than "transforms"), else fallback. */
static void add_error_mention(json_t *errs, const fp_props *p, const char *prefix,
                              const char *fallback, const char *msg)
{
    const char *best = NULL;
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->v[i].key;
        if ((!prefix || !strncmp(k, prefix, strlen(prefix))) && strstr(msg, k) &&
            (!best || strlen(k) > strlen(best)))
            best = k;
    }
    add_error(errs, best ? best : fallback, msg);
}

static const char *kafka_type(fp_conf_type t)
{
    switch (t) {
    case FP_CONF_INT:
        return "LONG";
    case FP_CONF_BOOL:
        return "BOOLEAN";
    case FP_CONF_LIST:
        return "LIST";
    default:
        return "STRING";
    }
}

static json_t *config_entry(const char *key, const char *type, bool required, const char *dflt,
                            const char *doc, const char *choices, const fp_props *p, json_t *errs)
{
    const fp_prop *v = fp_props_find(p, key);
    json_t *rec = json_array();
    fp_strv ch = {0};
    if (choices) {
        fp_strv_split(&ch, choices, '|');
        for (size_t i = 0; i < ch.n; i++)
            json_array_append_new(rec, json_string(ch.v[i]));
        fp_strv_free(&ch);
    }
    json_t *e = json_object_get(errs, key);
    return json_pack("{s:{s:s, s:s, s:b, s:o, s:s}, s:{s:s, s:o, s:o, s:o, s:b}}", "definition",
                     "name", key, "type", type, "required", required, "default_value",
                     dflt ? json_string(dflt) : json_null(), "documentation", doc ? doc : "",
                     "value", "name", key, "value", v ? json_string(v->val) : json_null(),
                     "recommended_values", rec, "errors", e ? json_incref(e) : json_array(),
                     "visible", 1);
}

static size_t defs_scratch(const fp_conf_def *defs)
{
    size_t m = 0;
    for (const fp_conf_def *d = defs; d && d->key; d++)
        if (d->offset > m)
            m = d->offset;
    return m + 64;
}

/* Copies into dst the keys of src that start with prefix (or equal exact). */
static void props_copy_matching(fp_props *dst, const fp_props *src, const char *prefix,
                                const char *exact)
{
    for (size_t i = 0; i < src->n; i++)
        if ((prefix && !strncmp(src->v[i].key, prefix, strlen(prefix))) ||
            (exact && !strcmp(src->v[i].key, exact)))
            fp_props_set(dst, src->v[i].key, src->v[i].val);
}

/* Marks used in p every key that cp marked used. */
static void props_mark_used(fp_props *p, const fp_props *cp)
{
    for (size_t i = 0; i < cp->n; i++) {
        fp_prop *o = cp->v[i].used ? fp_props_find(p, cp->v[i].key) : NULL;
        if (o)
            o->used = true;
    }
}

/* Builds the chain of the keys of p that cp holds; an error is filed under the key it names. */
static bool try_chain(json_t *errs, fp_props *p, fp_props *cp)
{
    fp_err err = {0};
    fp_xform_chain *ch = NULL;
    fp_code rc = fp_xform_chain_new(cp, &ch, &err);
    fp_xform_chain_free(ch);
    props_mark_used(p, cp);
    if (rc)
        add_error_mention(errs, p, "transforms", "transforms", err.msg);
    return !rc;
}

/* The transform chain, one transform at a time (fp_xform_chain_new stops at the first error):
 * the predicates and the converter form first, then each listed transform with them, so one
 * bad transform hides neither another's error nor the rest of the config. */
static void validate_transforms(json_t *errs, fp_props *p)
{
    fp_props base;
    fp_props_init(&base);
    props_copy_matching(&base, p, "predicates", "converter.split.list.key");
    bool base_ok = try_chain(errs, p, &base);
    fp_strv names = {0};
    const char *list = fp_props_get(p, "transforms");
    if (list)
        fp_strv_split(&names, list, ',');
    for (size_t i = 0; i < names.n; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || !strcmp(names.v[j], names.v[i]);
        if (dup) {
            char msg[300];
            snprintf(msg, sizeof msg, "transform '%s' is listed twice", names.v[i]);
            add_error(errs, "transforms", msg);
            continue;
        }
        fp_props cp;
        fp_props_init(&cp);
        if (base_ok) /* else a transform naming a predicate would fail for the predicate */
            props_copy_matching(&cp, &base, "", NULL);
        else
            props_copy_matching(&cp, p, "predicates", NULL);
        fp_props_set(&cp, "transforms", names.v[i]);
        char pfx[300];
        snprintf(pfx, sizeof pfx, "transforms.%s.", names.v[i]);
        props_copy_matching(&cp, p, pfx, NULL);
        if (base_ok)
            try_chain(errs, p, &cp);
        else /* the predicates' error is reported; still claim the transform's keys */
            for (size_t k = 0; k < cp.n; k++) {
                fp_prop *o = fp_props_find(p, cp.v[k].key);
                if (o)
                    o->used = true;
            }
        fp_props_free(&cp);
    }
    fp_strv_free(&names);
    fp_props_free(&base);
}

/* The emit of a validation: there is a Kafka cluster (bootstrap), but no connector to own a
 * producer. */
static fp_code emit_unavailable(void *arg, const char *topic, const void *key, size_t key_len,
                                const void *value, size_t len, int64_t timeout_ms, fp_err *err)
{
    (void)arg, (void)key, (void)key_len, (void)value, (void)len, (void)timeout_ms;
    return fp_err_set(err, FP_ERR_INTERNAL, "produce to %s: validation has no producer", topic);
}

static fp_code produce_unavailable(void *arg, const char *topic, const void *key, size_t key_len,
                                   const void *value, size_t len, fp_err *err)
{
    (void)arg, (void)key, (void)key_len, (void)value, (void)len;
    return fp_err_set(err, FP_ERR_INTERNAL, "produce to %s: validation has no producer", topic);
}

static fp_code dead_letter_unavailable(void *arg, const fp_sink_rec *rec, int index,
                                       const char *reason, const char *msg, fp_err *err)
{
    (void)arg, (void)rec, (void)index, (void)reason, (void)msg;
    return fp_err_set(err, FP_ERR_INTERNAL, "dead letter: validation has no producer");
}

json_t *fp_connect_validate_json(const char *plugin, fp_props *p, const char *bootstrap)
{
    const fp_sink_plugin *pl = fp_sink_find(plugin);
    if (!pl)
        return NULL;
    if (!fp_props_find(p, "connector.class"))
        fp_props_set(p, "connector.class", pl->name);
    json_t *errs = json_object();
    conn_conf cf;
    memset(&cf, 0, sizeof cf);
    fp_conf_apply_each(fp_connect_conn_defs, p, NULL, &cf, add_error, errs);
    if (cf.name && !fp_connect_name_ok(cf.name))
        add_error(errs, "name",
                  "a connector name is 1 to 249 characters without '/', '..', '\\' or control "
                  "characters");
    if (cf.cls && fp_sink_find(cf.cls) != pl)
        add_error(errs, "connector.class", "does not name the plugin being validated");
    fp_err rerr = {0};
    if (!json_object_get(errs, "topics") && !json_object_get(errs, "topics.regex")) {
        if (!cf.topics.n && !(cf.topics_regex && cf.topics_regex[0]))
            add_error(errs, "topics", "set topics or topics.regex");
        else if (cf.topics.n && cf.topics_regex && cf.topics_regex[0])
            add_error(errs, "topics.regex", "set topics or topics.regex, not both");
        else if (cf.topics_regex && cf.topics_regex[0] &&
                 fp_connect_regex_check(cf.topics_regex, &rerr))
            add_error(errs, "topics.regex", rerr.msg);
    }
    fp_conf_free(fp_connect_conn_defs, &cf);
    void *scratch = fp_xcalloc(1, defs_scratch(pl->config));
    size_t before = json_object_size(errs);
    fp_conf_apply_each(pl->config, p, NULL, scratch, add_error, errs);
    bool sink_errors = json_object_size(errs) != before;
    fp_conf_free(pl->config, scratch);
    free(scratch);
    fp_err err = {0};
    const char *pfx[] = {"consumer.override.", "producer.override."};
    for (int i = 0; i < 2; i++) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        if (fp_kafka_conf_passthrough(kc, p, pfx[i], &err))
            add_error_mention(errs, p, pfx[i], pfx[i], err.msg);
        rd_kafka_conf_destroy(kc);
    }
    validate_transforms(errs, p);
    if (!sink_errors) {
        /* The sink's keys are fine one by one: let the sink check how they go together (even
         * when a runtime or transform key is bad: every bad key is reported at once). */
        fp_sink_stats st;
        memset(&st, 0, sizeof st);
        const fp_prop *nm = fp_props_find(p, "name");
        /* create() only validates: it may check that emit exists, never call it. */
        fp_sink_ctx ctx = {.connector = nm ? nm->val : "validate",
                           .task = -1,
                           .stats = &st,
                           .emit = bootstrap ? emit_unavailable : NULL,
                           .produce = produce_unavailable,
                           .dead_letter = dead_letter_unavailable};
        void *s = NULL;
        if (pl->create(p, &ctx, &s, &err))
            add_error_mention(errs, p, NULL, "connector.class", err.msg);
        if (s)
            pl->destroy(s);
    }
    for (size_t i = 0; i < p->n; i++)
        if (!p->v[i].used && !json_object_get(errs, p->v[i].key))
            add_error(errs, p->v[i].key,
                      "unknown key (no runtime, transform or sink key of this "
                      "name; see GET /connector-plugins)");
    json_t *configs = json_array();
    const fp_conf_def *tables[] = {fp_connect_conn_defs, pl->config};
    for (int t = 0; t < 2; t++)
        for (const fp_conf_def *d = tables[t]; d->key; d++)
            json_array_append_new(
                configs,
                config_entry(d->key, kafka_type(d->type),
                             !d->dflt && d->type != FP_CONF_BOOL && d->type != FP_CONF_LIST,
                             d->dflt, d->doc, d->type == FP_CONF_ENUM ? d->choices : NULL, p,
                             errs));
    /* Keys outside the tables (overrides, transforms, unknown) that have errors. */
    const char *key;
    json_t *v;
    json_object_foreach(errs, key, v)
    {
        bool in_table = false;
        for (int t = 0; t < 2 && !in_table; t++)
            for (const fp_conf_def *d = tables[t]; d->key && !in_table; d++)
                in_table = !strcmp(d->key, key);
        if (!in_table)
            json_array_append_new(configs,
                                  config_entry(key, "STRING", false, NULL, "", NULL, p, errs));
    }
    json_t *out = json_pack("{s:s, s:I, s:[s, s], s:o}", "name", pl->name, "error_count",
                            (json_int_t)json_object_size(errs), "groups", "Common", pl->name,
                            "configs", configs);
    json_decref(errs);
    return out;
}

void fp_connect_print_help(FILE *f)
{
    fprintf(f, "Connector keys (every connector file; a flat JSON object or Kafka Connect's\n"
               "{\"name\": ..., \"config\": {...}}):\n");
    fp_conf_print(fp_connect_conn_defs, "", f);
    fprintf(f, "  %-28s %-8s %s\n", "consumer.override.*", "string",
            "librdkafka consumer properties (enable.auto.commit stays false)");
    fprintf(f, "  %-28s %-8s %s\n", "producer.override.*", "string",
            "librdkafka properties of the connector's producer (dead letters, sink events)");
    fprintf(f, "  %-28s %-8s %s\n", "transforms, transforms.*", "",
            "transform chain (fleetpipe help transforms)");
    for (size_t i = 0; fp_sink_plugins[i]; i++) {
        const fp_sink_plugin *p = fp_sink_plugins[i];
        fprintf(f, "\nconnector.class %s", p->name);
        for (size_t j = 0; p->aliases && p->aliases[j]; j++)
            fprintf(f, " (or %s)", p->aliases[j]);
        fprintf(f, " — %s\n", p->summary);
        fp_conf_print(p->config, "", f);
        if (p->help)
            fprintf(f, "%s\n", p->help);
    }
}
