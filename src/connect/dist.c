/* dist.c — distributed mode: connector configs and task status through compacted topics
 * (the design is in dist.h).
 *
 * One thread per worker consumes _fleetpipe-configs and _fleetpipe-status from the beginning
 * (assign, never commits) and publishes this worker's task states. On start it first reads the
 * config topic up to the high watermark seen at start, keeping only the newest record per key
 * (what compaction would keep), and applies that state at once: a replayed history never
 * starts and stops connectors that are long deleted. REST writers produce with acks=all, wait
 * for their delivery report (the offset), then for `applied` to pass that offset.
 */
#include "connect/dist.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"

#define APPLY_WAIT_MS 30000
#define STATUS_CHECK_MS 250

struct fp_connect_dist {
    fp_connect *c;
    char *worker_id;
    rd_kafka_t *prod, *cons;
    pthread_t th;
    bool th_started;
    _Atomic bool stop;
    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t cv;      /* applied moved, or a delivery report came */
    int64_t applied;        /* every config record below this offset is applied */
    int64_t start_end;      /* the config topic's high watermark when this worker started */
    _Atomic bool caught_up; /* read by REST threads */
    json_t *history;        /* key -> value (null: tombstone), until caught up */
    json_t *targets;        /* connector name -> "PAUSED" | "STARTED" */
    json_t *status;         /* status key -> {"v": value, "ts": monotonic ms of its time} */
    json_t *published;      /* status key -> what this worker last wrote (compact JSON) */
    int64_t generation;
    int64_t restart_seq;
};

/* ---------------------------------------------------------------- producing */

typedef struct dr_wait {
    bool done, abandoned;
    rd_kafka_resp_err_t err;
    int64_t offset;
} dr_wait;

static void dist_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    fp_connect_dist *d = opaque;
    dr_wait *w = m->_private;
    if (!w) {
        if (m->err)
            fp_log(FP_LOG_WARN, NULL, -1, "status record not delivered: %s",
                   rd_kafka_err2str(m->err));
        return;
    }
    pthread_mutex_lock(&d->mu);
    if (w->abandoned) {
        free(w);
    } else {
        w->done = true;
        w->err = m->err;
        w->offset = m->offset;
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
}

/* Produces one config record (value NULL: tombstone), waits for its delivery and for this
 * worker to apply it. */
static fp_code write_config(fp_connect_dist *d, const char *key, const char *value, fp_err *err)
{
    dr_wait *w = fp_xcalloc(1, sizeof *w);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        d->prod, RD_KAFKA_V_TOPIC(FP_DIST_CONFIG_TOPIC), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
    if (e) {
        free(w);
        return fp_kafka_err(err, e, "writing to " FP_DIST_CONFIG_TOPIC);
    }
    struct timespec ts = fp_time_deadline(APPLY_WAIT_MS);
    fp_code rc = FP_OK;
    pthread_mutex_lock(&d->mu);
    while (!w->done && !rc)
        if (pthread_cond_timedwait(&d->cv, &d->mu, &ts))
            rc = fp_err_set(err, FP_ERR_KAFKA,
                            "no delivery report from " FP_DIST_CONFIG_TOPIC " within 30 s");
    if (rc) {
        w->abandoned = true; /* the delivery report frees it */
    } else {
        if (w->err)
            rc = fp_kafka_err(err, w->err, "writing to " FP_DIST_CONFIG_TOPIC);
        while (!rc && d->applied <= w->offset)
            if (pthread_cond_timedwait(&d->cv, &d->mu, &ts))
                rc = fp_err_set(err, FP_ERR_IO,
                                "the config record was written but this worker did not apply it "
                                "within 30 s");
        free(w);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

fp_code fp_connect_dist_put(fp_connect_dist *d, const char *name, json_t *config, fp_err *err)
{
    char key[300];
    snprintf(key, sizeof key, "connector-%s", name);
    json_t *v = json_pack("{s:O}", "properties", config);
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    fp_code rc = write_config(d, key, text, err);
    free(text);
    return rc;
}

bool fp_connect_dist_caught_up(fp_connect_dist *d)
{
    return atomic_load(&d->caught_up);
}

fp_code fp_connect_dist_delete(fp_connect_dist *d, const char *name, fp_err *err)
{
    /* the target state goes too (as in Kafka Connect): a connector created again later under
     * the same name must not start PAUSED */
    char key[300];
    snprintf(key, sizeof key, "target-state-%s", name);
    fp_code rc = write_config(d, key, NULL, err);
    snprintf(key, sizeof key, "connector-%s", name);
    return rc ? rc : write_config(d, key, NULL, err);
}

fp_code fp_connect_dist_pause(fp_connect_dist *d, const char *name, bool pause, fp_err *err)
{
    char key[300];
    snprintf(key, sizeof key, "target-state-%s", name);
    return write_config(d, key, pause ? "{\"state\":\"PAUSED\"}" : "{\"state\":\"STARTED\"}", err);
}

fp_code fp_connect_dist_restart(fp_connect_dist *d, const char *name, bool only_failed, fp_err *err)
{
    char key[300], val[100];
    snprintf(key, sizeof key, "restart-connector-%s", name);
    pthread_mutex_lock(&d->mu);
    int64_t seq = ++d->restart_seq;
    pthread_mutex_unlock(&d->mu);
    snprintf(val, sizeof val, "{\"seq\":%" PRId64 ",\"only_failed\":%s}", seq,
             only_failed ? "true" : "false");
    return write_config(d, key, val, err);
}

/* ---------------------------------------------------------------- applying configs */

static void apply_target(fp_connect_dist *d, const char *name)
{
    pthread_mutex_lock(&d->mu);
    const char *st = json_string_value(json_object_get(d->targets, name));
    bool paused = st && !strcmp(st, "PAUSED");
    pthread_mutex_unlock(&d->mu);
    fp_connect_pause(d->c, name, paused, NULL);
}

static void apply_connector(fp_connect_dist *d, const char *name, json_t *value)
{
    fp_err err = {0};
    if (!value || json_is_null(value)) {
        if (fp_connect_exists(d->c, name))
            fp_connect_delete(d->c, name, &err);
        return;
    }
    json_t *props = json_object_get(value, "properties");
    if (!json_is_object(props)) {
        fp_log(FP_LOG_WARN, name, -1, FP_DIST_CONFIG_TOPIC ": no \"properties\" object; ignored");
        return;
    }
    char *text = json_dumps(props, JSON_COMPACT);
    fp_props p;
    fp_props_init(&p);
    fp_code rc = fp_props_load_json(&p, text, strlen(text), FP_DIST_CONFIG_TOPIC, &err);
    free(text);
    if (!rc)
        rc = fp_connect_put(d->c, name, &p, false, NULL, &err);
    else
        fp_props_free(&p);
    if (rc)
        fp_log(FP_LOG_ERROR, name, -1, "config from " FP_DIST_CONFIG_TOPIC " not applied: %s",
               err.msg);
    apply_target(d, name);
}

/* One config record; live: written after this worker started (restarts are orders then). */
static void apply_record(fp_connect_dist *d, const char *key, json_t *value, bool live)
{
    if (!strncmp(key, "connector-", 10)) {
        apply_connector(d, key + 10, value);
    } else if (!strncmp(key, "target-state-", 13)) {
        const char *st = json_string_value(json_object_get(value, "state"));
        pthread_mutex_lock(&d->mu);
        if (st)
            json_object_set_new(d->targets, key + 13, json_string(st));
        else
            json_object_del(d->targets, key + 13);
        pthread_mutex_unlock(&d->mu);
        apply_target(d, key + 13);
    } else if (!strncmp(key, "restart-connector-", 18) && live && value) {
        fp_err err = {0};
        fp_connect_restart(d->c, key + 18, json_is_true(json_object_get(value, "only_failed")),
                           &err);
    }
}

/* Applies the compacted history read before catching up: targets first, then connectors. */
static void apply_history(fp_connect_dist *d)
{
    const char *key;
    json_t *v;
    json_object_foreach(d->history, key, v)
    {
        if (!strncmp(key, "target-state-", 13))
            apply_record(d, key, v, false);
    }
    json_object_foreach(d->history, key, v)
    {
        if (!strncmp(key, "connector-", 10) && !json_is_null(v))
            apply_record(d, key, v, false);
    }
    json_decref(d->history);
    d->history = NULL;
    d->caught_up = true;
    fp_log(FP_LOG_INFO, NULL, -1, "distributed: caught up with " FP_DIST_CONFIG_TOPIC);
}

static void handle_config(fp_connect_dist *d, rd_kafka_message_t *m)
{
    char key[400];
    size_t kl = m->key_len < sizeof key - 1 ? m->key_len : sizeof key - 1;
    memcpy(key, m->key ? m->key : "", m->key ? kl : 0);
    key[m->key ? kl : 0] = '\0';
    json_t *v = NULL;
    bool skip = false; /* a value that is not JSON is ignored, never taken for a tombstone */
    if (m->payload) {
        v = json_loadb(m->payload, m->len, JSON_DECODE_ANY, NULL);
        if (!json_is_object(v)) {
            fp_log(FP_LOG_WARN, NULL, -1,
                   FP_DIST_CONFIG_TOPIC " @%" PRId64 ": not a JSON object; ignored", m->offset);
            json_decref(v);
            v = NULL;
            skip = true;
        }
    }
    if (!d->caught_up && m->offset < d->start_end) {
        if (!skip)
            json_object_set_new(d->history, key, v ? v : json_null());
        if (m->offset == d->start_end - 1)
            apply_history(d);
    } else {
        if (!d->caught_up)
            apply_history(d);
        if (!skip)
            apply_record(d, key, v, true);
        json_decref(v);
    }
    pthread_mutex_lock(&d->mu);
    if (m->offset + 1 > d->applied)
        d->applied = m->offset + 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* ---------------------------------------------------------------- status */

static void handle_status(fp_connect_dist *d, rd_kafka_message_t *m)
{
    if (!m->key)
        return;
    char *key = fp_xstrndup(m->key, m->key_len);
    pthread_mutex_lock(&d->mu);
    json_t *v = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    if (!json_is_object(v)) {
        json_object_del(d->status, key);
        json_decref(v);
    } else {
        /* Ages are kept on this host's monotonic clock from the moment of receipt, so another
         * host's clock skew cannot hide a live worker. Only an entry that was already old when
         * it arrived (read back at start-up, from a worker gone long ago) keeps its age. */
        rd_kafka_timestamp_type_t tt;
        int64_t age = fp_time_now_ms() - rd_kafka_message_timestamp(m, &tt);
        if (age < 3 * FP_DIST_STATUS_MS)
            age = 0;
        int64_t ts = fp_time_mono_ms() - age;
        json_object_set_new(d->status, key, json_pack("{s:o, s:I}", "v", v, "ts", (json_int_t)ts));
    }
    pthread_mutex_unlock(&d->mu);
    free(key);
}

static void produce_status(fp_connect_dist *d, const char *key, const char *val)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        d->prod, RD_KAFKA_V_TOPIC(FP_DIST_STATUS_TOPIC), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)val, val ? strlen(val) : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e)
        fp_log(FP_LOG_WARN, NULL, -1, "status record: %s", rd_kafka_err2str(e));
}

/* Writes what changed (or everything, force) and tombstones for tasks no longer run here. */
static void publish_status(fp_connect_dist *d, bool force, bool final)
{
    json_t *now = json_object();
    json_t *names = final ? json_array() : fp_connect_names_json(d->c);
    size_t i;
    json_t *nm;
    json_array_foreach(names, i, nm)
    {
        const char *name = json_string_value(nm);
        json_t *st = fp_connect_status_json(d->c, name);
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(st, "tasks"), j, t)
        {
            int n = (int)json_integer_value(json_object_get(t, "id"));
            char key[600];
            snprintf(key, sizeof key, "status-task-%s-%s-%d", name, d->worker_id, n);
            json_t *trace = json_object_get(t, "trace");
            json_object_set_new(now, key,
                                json_pack("{s:s, s:i, s:O, s:s, s:s, s:I}", "connector", name,
                                          "task", n, "state", json_object_get(t, "state"), "trace",
                                          trace ? json_string_value(trace) : "", "worker_id",
                                          d->worker_id, "generation", (json_int_t)d->generation));
        }
        json_decref(st);
    }
    json_decref(names);
    const char *key;
    json_t *v;
    json_object_foreach(now, key, v)
    {
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        const char *prev = json_string_value(json_object_get(d->published, key));
        if (force || !prev || strcmp(prev, text)) {
            produce_status(d, key, text);
            json_object_set_new(d->published, key, json_string(text));
        }
        free(text);
    }
    void *tmp;
    json_object_foreach_safe(d->published, tmp, key, v)
    {
        if (!json_object_get(now, key)) {
            produce_status(d, key, NULL);
            json_object_del(d->published, key);
        }
    }
    json_decref(now);
}

typedef struct status_ent {
    const char *worker;
    int task;
    json_t *e;
} status_ent;

static int ent_cmp(const void *a, const void *b)
{
    const status_ent *x = a, *y = b;
    int c = strcmp(x->worker, y->worker);
    return c ? c : (x->task > y->task) - (x->task < y->task);
}

json_t *fp_connect_dist_status(fp_connect_dist *d, const char *name)
{
    json_t *local = fp_connect_status_json(d->c, name);
    if (!local)
        return NULL;
    json_t *all = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(local, "tasks"), i, t)
    {
        json_t *e = json_deep_copy(t);
        json_object_set(e, "worker_task", json_object_get(t, "id"));
        json_array_append_new(all, e);
    }
    int64_t now = fp_time_mono_ms();
    pthread_mutex_lock(&d->mu);
    const char *key;
    json_t *v;
    json_object_foreach(d->status, key, v)
    {
        json_t *val = json_object_get(v, "v");
        const char *w = json_string_value(json_object_get(val, "worker_id"));
        const char *cn = json_string_value(json_object_get(val, "connector"));
        int64_t ts = json_integer_value(json_object_get(v, "ts"));
        if (!w || !cn || strcmp(cn, name) || !strcmp(w, d->worker_id) ||
            now - ts > 3 * FP_DIST_STATUS_MS)
            continue;
        json_t *e =
            json_pack("{s:i, s:O, s:s, s:O}", "id", 0, "state", json_object_get(val, "state"),
                      "worker_id", w, "worker_task", json_object_get(val, "task"));
        const char *trace = json_string_value(json_object_get(val, "trace"));
        if (trace && trace[0])
            json_object_set_new(e, "trace", json_string(trace));
        json_array_append_new(all, e);
    }
    pthread_mutex_unlock(&d->mu);
    size_t n = json_array_size(all);
    status_ent *ents = fp_xcalloc(n + 1, sizeof *ents);
    json_array_foreach(all, i, t)
    {
        ents[i] = (status_ent){json_string_value(json_object_get(t, "worker_id")),
                               (int)json_integer_value(json_object_get(t, "worker_task")), t};
    }
    qsort(ents, n, sizeof *ents, ent_cmp);
    json_t *tasks = json_array();
    for (i = 0; i < n; i++) {
        json_object_set_new(ents[i].e, "id", json_integer((json_int_t)i));
        json_array_append(tasks, ents[i].e);
    }
    free(ents);
    json_decref(all);
    json_object_set_new(local, "tasks", tasks);
    return local;
}

/* ---------------------------------------------------------------- the thread */

static bool dist_setup(fp_connect_dist *d);

static void *dist_main(void *arg)
{
    fp_connect_dist *d = arg;
    if (!dist_setup(d))
        return NULL; /* stopped before Kafka answered */
    int64_t last_full = 0, last_check = 0;
    while (!atomic_load(&d->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(d->cons, 100);
        if (m) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* the end of the config topic: its last offsets may be gone (compaction, control
                 * records), so reaching the end also means caught up */
                if (!d->caught_up && !strcmp(rd_kafka_topic_name(m->rkt), FP_DIST_CONFIG_TOPIC))
                    apply_history(d);
            } else if (m->err) {
                fp_log(FP_LOG_WARN, NULL, -1, "distributed: %s", rd_kafka_message_errstr(m));
            } else if (!strcmp(rd_kafka_topic_name(m->rkt), FP_DIST_CONFIG_TOPIC)) {
                handle_config(d, m);
            } else {
                handle_status(d, m);
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(d->prod, 0);
        int64_t now = fp_time_mono_ms();
        if (d->caught_up && now - last_check >= STATUS_CHECK_MS) {
            bool full = now - last_full >= FP_DIST_STATUS_MS;
            publish_status(d, full, false);
            last_check = now;
            if (full)
                last_full = now;
        }
    }
    return NULL;
}

static fp_code create_topics(fp_connect_dist *d, rd_kafka_t *rk, int replication, fp_err *err)
{
    const char *names[] = {FP_DIST_CONFIG_TOPIC, FP_DIST_STATUS_TOPIC};
    rd_kafka_NewTopic_t *nt[2];
    char es[256];
    for (int i = 0; i < 2; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], 1, replication, es, sizeof es);
        rd_kafka_NewTopic_set_config(nt[i], "cleanup.policy", "compact");
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(ao, 10000, es, sizeof es);
    rd_kafka_CreateTopics(rk, nt, 2, ao, q);
    rd_kafka_AdminOptions_destroy(ao);
    /* In steps, so a stop does not wait for the answer. */
    rd_kafka_event_t *ev = NULL;
    for (int64_t until = fp_time_mono_ms() + 15000;
         !ev && !atomic_load(&d->stop) && fp_time_mono_ms() < until;)
        ev = rd_kafka_queue_poll(q, 100);
    fp_code rc = FP_OK;
    const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    if (!res) {
        rc = fp_err_set(err, FP_ERR_KAFKA, "creating %s: %s", FP_DIST_CONFIG_TOPIC,
                        ev ? rd_kafka_event_error_string(ev) : "timed out");
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (size_t i = 0; !rc && i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                rc = fp_err_set(err,
                                e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ? FP_ERR_CONFIG
                                                                                  : FP_ERR_KAFKA,
                                "creating %s: %s", rd_kafka_topic_result_name(tr[i]),
                                rd_kafka_topic_result_error_string(tr[i]));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(nt, 2);
    return rc;
}

/* The thread's start: create the topics (not on the development broker, which has no
 * CreateTopics, leaves the request unanswered until its timeout and auto-creates topics on
 * first use), find the config topic's end, assign both topics. Done here, not in
 * fp_connect_dist_start(), so the REST API answers at once (writes 409 until caught up). Retries
 * until Kafka answers; false when stopped first. */
static bool dist_setup(fp_connect_dist *d)
{
    /* Replication: the cluster's default (-1); brokers that cannot do that get 1. The
     * development broker (librdkafka's mock cluster, cluster id mockCluster*) has no
     * CreateTopics at all: asking would only wait out the request timeout. */
    fp_err e1 = {0};
    bool dev = fp_kafka_is_dev_cluster(d->prod, 2000);
    if (!dev && create_topics(d, d->prod, -1, &e1) == FP_ERR_CONFIG)
        create_topics(d, d->prod, 1, &e1);
    if (atomic_load(&d->stop))
        return false;
    if (e1.code)
        fp_log(FP_LOG_WARN, NULL, -1, "%s; relying on existing or auto-created topics", e1.msg);
    int64_t lo = 0, hi = 0, warn_at = fp_time_mono_ms() + 30000;
    fp_backoff b;
    fp_backoff_init(&b, 200, 5000);
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(d->cons, FP_DIST_CONFIG_TOPIC, 0, &lo, &hi, 2000);
        if (!e)
            break;
        if (atomic_load(&d->stop))
            return false;
        if (fp_time_mono_ms() > warn_at) {
            fp_log(FP_LOG_ERROR, NULL, -1,
                   "distributed: reading the end of " FP_DIST_CONFIG_TOPIC
                   ": %s; REST writes answer 409 until it can (retrying)",
                   rd_kafka_err2str(e));
            warn_at = fp_time_mono_ms() + 30000;
        }
        int64_t ms = fp_backoff_next(&b);
        for (int64_t until = fp_time_mono_ms() + ms;
             !atomic_load(&d->stop) && fp_time_mono_ms() < until;) {
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    d->start_end = hi;
    if (lo >= hi) {
        pthread_mutex_lock(&d->mu);
        json_decref(d->history);
        d->history = NULL;
        pthread_mutex_unlock(&d->mu);
        d->caught_up = true;
        fp_log(FP_LOG_INFO, NULL, -1, "distributed: " FP_DIST_CONFIG_TOPIC " is empty; caught up");
    } else {
        fp_log(FP_LOG_INFO, NULL, -1, "distributed: %" PRId64 " config record(s) to replay",
               hi - lo);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(l, FP_DIST_CONFIG_TOPIC, 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(l, FP_DIST_STATUS_TOPIC, 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(d->cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        /* Local and not transient (the list is well formed): nothing here will ever be read. */
        fp_log(FP_LOG_ERROR, NULL, -1, "distributed: assign " FP_DIST_CONFIG_TOPIC ": %s",
               rd_kafka_err2str(e));
        return false;
    }
    return true;
}

fp_code fp_connect_dist_start(fp_connect *c, const char *bootstrap, const char *group,
                              const char *worker_id, fp_connect_dist **out, fp_err *err)
{
    *out = NULL;
    fp_connect_dist *d = fp_xcalloc(1, sizeof *d);
    d->c = c;
    d->worker_id = fp_xstrdup(worker_id);
    d->generation = fp_time_now_ms();
    d->restart_seq = fp_time_now_ms();
    d->history = json_object();
    d->targets = json_object();
    d->status = json_object();
    d->published = json_object();
    pthread_mutex_init(&d->mu, NULL);
    fp_time_cond_init(&d->cv);
    fp_code rc = FP_OK;
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    if (fp_kafka_conf_set(pc, "acks", "all", err)) {
        rd_kafka_conf_destroy(pc);
        rc = FP_ERR_CONFIG;
        goto fail;
    }
    d->prod = fp_kafka_producer_new(bootstrap, pc, dist_dr, d, err);
    if (!d->prod) {
        rc = FP_ERR_KAFKA;
        goto fail;
    }
    char gid[400];
    snprintf(gid, sizeof gid, "fleetpipe-%s-worker-%s", group, worker_id);
    fp_kafka_consumer_opts co = {.bootstrap = bootstrap,
                                 .group = gid, /* never joined: assign() only */
                                 .partition_eof = true};
    d->cons = fp_kafka_consumer_new(&co, err);
    if (!d->cons) {
        rc = fp_err_prefix(err, "config consumer");
        goto fail;
    }
    if (pthread_create(&d->th, NULL, dist_main, d)) {
        rc = fp_err_set(err, FP_ERR_INTERNAL, "cannot start the distributed-mode thread");
        goto fail;
    }
    d->th_started = true;
    fp_log(FP_LOG_INFO, NULL, -1,
           "distributed: group %s, worker %s; REST writes answer 409 until the config topic is "
           "read",
           group, worker_id);
    *out = d;
    return FP_OK;
fail:
    fp_connect_dist_stop(d);
    return rc;
}

void fp_connect_dist_stop(fp_connect_dist *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, true);
    if (d->th_started)
        pthread_join(d->th, NULL);
    if (d->prod) {
        if (d->th_started)
            publish_status(d, false, true); /* tombstones: this worker runs nothing now */
        rd_kafka_flush(d->prod, 10000);
        rd_kafka_destroy(d->prod);
    }
    if (d->cons) {
        fp_kafka_consumer_close(d->cons, FP_KAFKA_CLOSE_MS, NULL, "connect");
    }
    json_decref(d->history);
    json_decref(d->targets);
    json_decref(d->status);
    json_decref(d->published);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->worker_id);
    free(d);
}
