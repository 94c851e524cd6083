/* connect.c — the connect runtime: connectors' configuration, lifecycle and management calls.
 *
 * A connector is validated once into a `connector` (runtime keys, transforms, the sink's keys,
 * overrides), then started: one dead-letter producer shared by its tasks and tasks.max task
 * threads (task.c). Runs on the controlling thread (new/add/start/wait/free) and on management
 * callers (REST, distributed mode).
 *
 * Management (REST, distributed mode). The connector list is guarded by fp_connect.mu; every
 * management call and every reader takes it (connect.h). Stopping a connector sets its own stop
 * flag and joins its tasks, which end exactly as on SIGTERM (final flush, commit, leave the
 * group). Pausing is a flag each task applies to its own consumer on its next loop turn
 * (rd_kafka_pause_partitions on its assignment), because the assignment belongs to the task
 * thread.
 */
#include "connect/connect.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connect/connect_int.h"
#include "connect/sink.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "xform/xform.h"

const fp_conf_def fp_connect_conn_defs[] = {
    {"name", FP_CONF_STRING, NULL, offsetof(conn_conf, name),
     "connector name; its consumer group is connect-<name>", NULL, 0, 0},
    {"connector.class", FP_CONF_STRING, NULL, offsetof(conn_conf, cls), "sink plugin (see below)",
     NULL, 0, 0},
    {"topics", FP_CONF_LIST, "", offsetof(conn_conf, topics), "topics to consume (comma list)",
     NULL, 0, 0},
    {"topics.regex", FP_CONF_STRING, "", offsetof(conn_conf, topics_regex),
     "regular expression of topics to consume (instead of topics)", NULL, 0, 0},
    {"tasks.max", FP_CONF_INT, "1", offsetof(conn_conf, tasks_max),
     "task threads, each its own consumer in the group", NULL, 1, 256},
    {"errors.tolerance", FP_CONF_ENUM, "none", offsetof(conn_conf, tolerance),
     "bad records: none = task FAILED at the first; all = dead-letter and go on", "none|all", 0, 0},
    {"errors.deadletterqueue.topic.name", FP_CONF_STRING, "", offsetof(conn_conf, dlq_topic),
     "dead-letter topic (original bytes and key); empty: bad records are only logged", NULL, 0, 0},
    {"errors.deadletterqueue.context.headers.enable", FP_CONF_BOOL, "true",
     offsetof(conn_conf, dlq_headers),
     "add error.class, error.message, source.topic, source.partition, source.offset headers", NULL,
     0, 0},
    {"errors.retry.timeout", FP_CONF_INT, "-1", offsetof(conn_conf, retry_timeout),
     "ms to keep retrying a failing sink before the task goes FAILED; -1: forever", NULL, -1,
     INT64_MAX},
    {"errors.retry.delay.max.ms", FP_CONF_MS, "60000", offsetof(conn_conf, retry_delay_max),
     "longest wait between retries (backoff: a bound from 100 ms, doubling, full jitter)", NULL, 1,
     INT64_MAX},
    {"errors.log.enable", FP_CONF_BOOL, "true", offsetof(conn_conf, log_errors),
     "log every bad record", NULL, 0, 0},
    {"errors.log.include.messages", FP_CONF_BOOL, "false", offsetof(conn_conf, log_messages),
     "include the record's first bytes in that log line", NULL, 0, 0},
    {"record.age.field", FP_CONF_STRING, "messaged_at", offsetof(conn_conf, age_field),
     "top-level field of a message holding its event time (ISO-8601, or epoch ms as a number) "
     "for fleetpipe_connect_record_age_seconds (durable minus event time); empty: not measured",
     NULL, 0, 0},
    {"offset.flush.interval.ms", FP_CONF_MS, "1000", offsetof(conn_conf, commit_interval),
     "how often durable offsets are committed", NULL, 1, INT64_MAX},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static const char *const state_names[] = {"STARTING", "RUNNING", "STOPPED", "FAILED"};

/* ---------------------------------------------------------------- configuration */

fp_connect *fp_connect_new(const fp_connect_opts *o)
{
    fp_connect *c = fp_xcalloc(1, sizeof *c);
    c->o = *o;
    c->bootstrap = fp_xstrdup(o->bootstrap);
    c->o.bootstrap = c->bootstrap;
    c->worker_id = fp_xstrdup(o->worker_id && o->worker_id[0] ? o->worker_id : "local");
    c->o.worker_id = c->worker_id;
    pthread_mutex_init(&c->mu, NULL);
    if (c->o.status_interval_ms <= 0)
        c->o.status_interval_ms = 10000;
    if (c->o.memory_budget <= 0)
        c->o.memory_budget = FP_CONNECT_MEMORY_BUDGET;
    return c;
}

/* The split (docs/connect.md, "Memory budget"). What a task holds on a backlog, by how
 * librdkafka 2.0 and the task engine work: the consumer queue up to queued.max.messages.kbytes
 * plus the fetch response that lands on it (fetch.max.bytes; messages point into their response
 * buffer), a response the task is still taking messages out of, and the put() batch twice: the
 * transformed copy (grown by doubling) and the fetch buffers its messages keep alive. So the
 * share is queue + 2 fetch + 2 batch, with fetch and batch an eighth each and the queue the half
 * that is left; librdkafka's fetch floor (1000000) and a 1 MiB queue floor win over a share too
 * small for them. */
#define BUDGET_QUEUE_MIN_KB 1024
#define BUDGET_BATCH_MIN (64 * 1024)
void fp_connect_budget_split(int64_t budget, int64_t ntasks, task_budget *out)
{
    memset(out, 0, sizeof *out);
    out->share = budget / (ntasks > 0 ? ntasks : 1);
    out->fetch_max_bytes = out->share / 8;
    if (out->fetch_max_bytes < FP_KAFKA_FETCH_MIN_BYTES)
        out->fetch_max_bytes = FP_KAFKA_FETCH_MIN_BYTES;
    out->batch_bytes = out->share / 8;
    if (out->batch_bytes < BUDGET_BATCH_MIN)
        out->batch_bytes = BUDGET_BATCH_MIN;
    out->queue_kbytes = (out->share - 2 * out->fetch_max_bytes - 2 * out->batch_bytes) / 1024;
    if (out->queue_kbytes < BUDGET_QUEUE_MIN_KB)
        out->queue_kbytes = BUDGET_QUEUE_MIN_KB;
}

/* Frees the tasks (threads already joined) and the dead-letter producer, so the connector can
 * be started again. */
static void connector_tasks_free(connector *k)
{
    if (k->tasks) {
        for (int i = 0; i < k->cf.tasks_max; i++) {
            task *t = &k->tasks[i];
            for (size_t j = 0; j < t->nlags; j++)
                free(t->lags[j].topic);
            free(t->lags);
            for (size_t j = 0; j < t->nlosts; j++)
                free(t->losts[j].topic);
            free(t->losts);
            pthread_mutex_destroy(&t->mu);
            if (t->sink)
                k->plugin->destroy(t->sink);
            fp_xform_chain_free(t->chain);
            if (t->rk)
                rd_kafka_destroy(t->rk);
            fp_xform_out_free(&t->xout);
            free(t->msgs);
            free(t->msgev);
            free(t->outmsg);
            free(t->outts);
            free(t->recs);
            free(t->hdrs);
            for (size_t j = 0; j < t->nparts; j++) {
                free(t->parts[j].topic);
                free(t->parts[j].meta);
                free(t->parts[j].agev);
            }
            free(t->parts);
        }
        free(k->tasks);
        k->tasks = NULL;
    }
    fp_connect_producer_free(k); /* after the sinks: their helper threads may emit */
    atomic_store(&k->final_done, 0);
    atomic_store(&k->dlq_failed, 0);
    /* The marks only say what this producer was given: a restart replays from the committed
     * offsets, and a dead letter whose delivery failed must be produced again (at least once). */
    for (size_t i = 0; i < k->nmarks; i++)
        free(k->marks[i].topic);
    free(k->marks);
    k->marks = NULL;
    k->nmarks = 0;
}

static void connector_free(connector *k)
{
    if (!k)
        return;
    connector_tasks_free(k);
    pthread_mutex_destroy(&k->dlq_lock);
    pthread_mutex_destroy(&k->prod_lock);
    fp_conf_free(fp_connect_conn_defs, &k->cf);
    fp_props_free(&k->props);
    free(k);
}

fp_code fp_connect_regex_check(const char *re, fp_err *err)
{
    /* librdkafka (as built here: HAVE_REGCOMP) compiles a subscription regex with
     * regcomp(REG_EXTENDED | REG_NOSUB), anchored with '^' by the task (task.c). */
    regex_t rx;
    fp_buf b = FP_BUF_INIT;
    fp_buf_printf(&b, "%s%s", re[0] == '^' ? "" : "^", re);
    int e = regcomp(&rx, b.p, REG_EXTENDED | REG_NOSUB);
    fp_buf_free(&b);
    if (!e) {
        regfree(&rx);
        return FP_OK;
    }
    char why[200];
    regerror(e, &rx, why, sizeof why);
    return fp_err_set(err, FP_ERR_CONFIG, "topics.regex \"%s\": %s (POSIX extended syntax)", re,
                      why);
}

/* Whether the connector subscribes to topic (its topics list, or its topics.regex as the task
 * subscribes it: anchored with '^'). */
static bool subscribes(const conn_conf *cf, const char *topic)
{
    for (size_t i = 0; i < cf->topics.n; i++)
        if (!strcmp(cf->topics.v[i], topic))
            return true;
    if (!cf->topics_regex[0])
        return false;
    regex_t rx;
    fp_buf b = FP_BUF_INIT;
    fp_buf_printf(&b, "%s%s", cf->topics_regex[0] == '^' ? "" : "^", cf->topics_regex);
    bool match = false;
    if (!regcomp(&rx, b.p, REG_EXTENDED | REG_NOSUB)) {
        match = !regexec(&rx, topic, 0, NULL, 0);
        regfree(&rx);
    }
    fp_buf_free(&b);
    return match;
}

bool fp_connect_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > 249 || strchr(name, '/') || strstr(name, "..") || strchr(name, '\\'))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return fp_utf8_valid(name, n); /* JSON and metric labels need it */
}

/* Validates props into a new connector (takes ownership of props); not in c's list. */
static fp_code connector_new(fp_connect *c, fp_props *props, connector **out, fp_err *err)
{
    *out = NULL;
    connector *k = fp_xcalloc(1, sizeof *k);
    k->rt = c;
    pthread_mutex_init(&k->dlq_lock, NULL);
    pthread_mutex_init(&k->prod_lock, NULL);
    k->props = *props;
    fp_props_init(props);
    fp_code rc = fp_conf_apply(fp_connect_conn_defs, &k->props, NULL, &k->cf, err);
    const char *what = k->cf.name ? k->cf.name : "?";
    if (!rc && !fp_connect_name_ok(k->cf.name))
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "key 'name': a connector name is 1 to 249 characters without '/', '..', "
                        "'\\\\' or control characters");
    if (!rc && !k->cf.topics.n && !k->cf.topics_regex[0])
        rc = fp_err_set(err, FP_ERR_CONFIG, "set topics or topics.regex");
    if (!rc && k->cf.topics.n && k->cf.topics_regex[0])
        rc = fp_err_set(err, FP_ERR_CONFIG, "set topics or topics.regex, not both");
    if (!rc && k->cf.topics_regex[0])
        rc = fp_connect_regex_check(k->cf.topics_regex, err);
    if (!rc && k->cf.dlq_topic[0] && subscribes(&k->cf, k->cf.dlq_topic))
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "errors.deadletterqueue.topic.name \"%s\" is one of the connector's own "
                        "topics: a record it rejects would come back as input, forever. Leave "
                        "the dead-letter topic out of topics/topics.regex and store it with a "
                        "connector of its own (objstore format.envelope=true, docs/connect.md)",
                        k->cf.dlq_topic);
    if (!rc) {
        k->plugin = fp_sink_find(k->cf.cls);
        if (!k->plugin)
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "connector.class '%s' is unknown (see fleetpipe help connectors)",
                            k->cf.cls);
    }
    /* Validate every claimant once, so unknown keys are reported before anything starts. */
    if (!rc) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rc = fp_kafka_conf_passthrough(kc, &k->props, "consumer.override.", err);
        rd_kafka_conf_destroy(kc);
    }
    if (!rc) {
        /* on_rebalance speaks the eager protocol (rd_kafka_assign of the whole set). */
        const fp_prop *st =
            fp_props_find(&k->props, "consumer.override.partition.assignment.strategy");
        if (st && strstr(st->val, "cooperative"))
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "consumer.override.partition.assignment.strategy '%s': cooperative "
                            "rebalancing is not supported (the runtime uses the eager protocol); "
                            "use range or roundrobin",
                            st->val);
    }
    if (!rc) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rc = fp_kafka_conf_passthrough(kc, &k->props, "producer.override.", err);
        rd_kafka_conf_destroy(kc);
    }
    size_t ntransforms = 0;
    if (!rc) {
        fp_xform_chain *ch = NULL;
        rc = fp_xform_chain_new(&k->props, &ch, err);
        ntransforms = fp_xform_chain_len(ch);
        fp_xform_chain_free(ch);
    }
    if (!rc) {
        fp_sink_stats st;
        memset(&st, 0, sizeof st);
        fp_sink_ctx ctx = {.connector = k->cf.name,
                           .task = -1,
                           .stats = &st,
                           .emit = fp_connect_emit,
                           .emit_arg = k,
                           /* create() only validates: the hooks are never called here */
                           .produce = fp_connect_sink_produce,
                           .dead_letter = fp_connect_sink_dead_letter};
        void *s = NULL;
        rc = k->plugin->create(&k->props, &ctx, &s, err);
        if (!rc && ntransforms && k->plugin->raw && k->plugin->raw(s))
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "its sink takes messages as they are (format.envelope): transforms "
                            "cannot apply");
        if (s)
            k->plugin->destroy(s);
    }
    if (!rc) {
        char what_buf[300];
        snprintf(what_buf, sizeof what_buf, "connector %s", k->cf.name);
        rc = fp_props_check_used(&k->props, what_buf, err);
        if (rc)
            what = NULL; /* the message already names the connector */
    }
    if (rc) {
        if (what)
            fp_err_prefix(err, "connector %s", what);
        connector_free(k);
        return rc;
    }
    *out = k;
    return FP_OK;
}

connector *fp_connect_find(fp_connect *c, const char *name, size_t *idx)
{
    for (size_t i = 0; i < c->nconns; i++)
        if (!strcmp(c->conns[i]->cf.name, name)) {
            if (idx)
                *idx = i;
            return c->conns[i];
        }
    return NULL;
}

fp_code fp_connect_add(fp_connect *c, fp_props *props, fp_err *err)
{
    connector *k;
    fp_code rc = connector_new(c, props, &k, err);
    if (rc)
        return rc;
    if (fp_connect_find(c, k->cf.name, NULL)) {
        rc = fp_err_set(err, FP_ERR_CONFIG, "connector %s: two connectors are named '%s'",
                        k->cf.name, k->cf.name);
        connector_free(k);
        return rc;
    }
    c->conns = fp_xrealloc(c->conns, (c->nconns + 1) * sizeof *c->conns);
    c->conns[c->nconns++] = k;
    return FP_OK;
}

/* ---------------------------------------------------------------- start / wait */

/* Stops the connector's tasks (final flush + commit, close) and frees them. Tasks numbered keep
 * and above go away for good (delete: keep 0; tasks.max decrease: the new tasks.max) and leave
 * the group explicitly; the others are taken back by their successors under the same
 * group.instance.id. c->mu held (or single-threaded). */
static void connector_stop(connector *k, int64_t keep)
{
    for (int j = 0; k->tasks && j < k->cf.tasks_max; j++)
        atomic_store(&k->tasks[j].leave, j >= keep);
    fp_stop_request(&k->stop);
    for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
        if (k->tasks[j].started)
            pthread_join(k->tasks[j].th, NULL);
        k->tasks[j].started = false;
    }
    fp_connect_producer_flush(k, 30000);
    if (k->running)
        fp_log(FP_LOG_INFO, k->cf.name, -1, "stopped");
    connector_tasks_free(k);
    k->running = false;
    fp_stop_reset(&k->stop);
}

/* Decides once per worker how task consumers join their groups (FP_MEMBERS_*): the development
 * broker (`fleetpipe broker` or the in-process one, librdkafka's mock cluster, whose cluster id
 * starts with "mockCluster") ignores group.instance.id, so it gets dynamic members and a short
 * session timeout; a real cluster gets static members when the worker id is stable. A cluster
 * that does not answer within MEMBERS_PROBE_MS counts as real. c->mu held. */
#define MEMBERS_PROBE_MS 2000
static void decide_membership(fp_connect *c)
{
    if (c->members != FP_MEMBERS_UNKNOWN)
        return;
    bool dev = fp_kafka_is_dev_broker(c->bootstrap, MEMBERS_PROBE_MS);
    c->members = dev                     ? FP_MEMBERS_DEV
                 : c->o.stable_worker_id ? FP_MEMBERS_STATIC
                                         : FP_MEMBERS_DYNAMIC;
    fp_log(FP_LOG_INFO, NULL, -1, "consumer groups: %s",
           dev ? "development broker: dynamic members, session.timeout.ms 3000"
           : c->o.stable_worker_id
               ? "static members (group.instance.id <worker-id>-<connector>-<task>), "
                 "session.timeout.ms 10000"
               : "dynamic members (the worker id changes with each run; give --worker-id for "
                 "static membership), session.timeout.ms 10000");
}

/* Creates the tasks and starts their threads; on failure everything started is stopped. */
static fp_code connector_start(connector *k, fp_err *err)
{
    fp_code rc = FP_OK;
    decide_membership(k->rt);
    fp_stop_reset(&k->stop);
    atomic_store(&k->final_done, 0);
    k->tasks = fp_xcalloc((size_t)k->cf.tasks_max, sizeof *k->tasks);
    for (int j = 0; j < k->cf.tasks_max; j++)
        pthread_mutex_init(&k->tasks[j].mu, NULL); /* connector_tasks_free() destroys */
    /* With dead letters the producer is needed at once; its errors belong to the start. */
    if (k->cf.dlq_topic[0] && !fp_connect_producer(k, err)) {
        rc = fp_err_prefix(err, "connector %s: dead-letter producer", k->cf.name);
        goto fail;
    }
    /* The worker's budget over every task it runs now, this connector's included (tasks of
     * connectors started earlier keep their share until they restart). */
    int64_t ntasks = 0;
    for (size_t i = 0; i < k->rt->nconns; i++)
        ntasks += k->rt->conns[i]->cf.tasks_max;
    if (ntasks < k->cf.tasks_max)
        ntasks = k->cf.tasks_max;
    for (int j = 0; j < k->cf.tasks_max; j++) {
        fp_connect_budget_split(k->rt->o.memory_budget, ntasks, &k->tasks[j].mem);
        rc = fp_connect_task_init(k, &k->tasks[j], j, err);
        if (rc) {
            fp_err_prefix(err, "connector %s task %d", k->cf.name, j);
            goto fail;
        }
    }
    const task_budget *mb = &k->tasks[0].mem;
    fp_log(FP_LOG_INFO, k->cf.name, -1,
           "memory budget %" PRId64 " KiB over %" PRId64
           " task(s) of this worker: per task %" PRId64 " KiB = fetch queue %" PRId64
           " KiB + 2 x fetch %" PRId64 " B + 2 x put() batch %" PRId64
           " B; in effect after consumer.override.*: queued.max.messages.kbytes=%" PRId64
           " fetch.max.bytes=%" PRId64 " max.partition.fetch.bytes=%" PRId64,
           k->rt->o.memory_budget / 1024, ntasks, mb->share / 1024, mb->queue_kbytes,
           mb->fetch_max_bytes, mb->batch_bytes, mb->eff_queue_kbytes, mb->eff_fetch_max_bytes,
           mb->eff_partition_fetch_bytes);
    int64_t floor = mb->queue_kbytes * 1024 + 2 * mb->fetch_max_bytes + 2 * mb->batch_bytes;
    if (floor > mb->share)
        fp_log(FP_LOG_WARN, k->cf.name, -1,
               "memory budget: a share of %" PRId64 " KiB is below the floors (a 1 MiB queue, "
               "librdkafka's 1000000-byte fetch): each task takes %" PRId64
               " KiB, so the worker's tasks may hold up to %" PRId64
               " KiB; raise --memory-budget-mb",
               mb->share / 1024, floor / 1024, floor * ntasks / 1024);
    fp_log(FP_LOG_INFO, k->cf.name, -1,
           "started: class %s, %" PRId64 " task(s), group connect-%s, errors.tolerance=%s%s%s%s",
           k->plugin->name, k->cf.tasks_max, k->cf.name, k->cf.tolerance,
           k->cf.dlq_topic[0] ? ", dead letters to " : "", k->cf.dlq_topic,
           atomic_load(&k->paused) ? ", PAUSED" : "");
    if (!strcmp(k->cf.tolerance, "all") && !k->cf.dlq_topic[0])
        fp_log(FP_LOG_WARN, k->cf.name, -1,
               "connector %s: errors.tolerance=all without errors.deadletterqueue.topic.name: bad "
               "records are DROPPED (logged, counted in fleetpipe_connect_records_dropped_total), "
               "kept nowhere",
               k->cf.name);
    k->running = true;
    for (int j = 0; j < k->cf.tasks_max; j++) {
        task *t = &k->tasks[j];
        atomic_store(&t->state, T_STARTING);
        atomic_store(&t->unjoined_since, fp_time_mono_ms());
        if (pthread_create(&t->th, NULL, fp_connect_task_main, t) != 0) {
            rc = fp_err_set(err, FP_ERR_INTERNAL, "cannot start a task thread");
            goto fail;
        }
        t->started = true;
    }
    return FP_OK;
fail:
    connector_stop(k, 0);
    return rc;
}

fp_code fp_connect_start(fp_connect *c, fp_err *err)
{
    pthread_mutex_lock(&c->mu);
    fp_code rc = FP_OK;
    for (size_t i = 0; !rc && i < c->nconns; i++)
        rc = connector_start(c->conns[i], err);
    c->started = true;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void fp_connect_totals_get(fp_connect *c, fp_connect_totals *tot)
{
    memset(tot, 0, sizeof *tot);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            tot->in += atomic_load(&t->in);
            tot->dead += atomic_load(&t->dead);
            tot->lost += atomic_load(&t->lost);
            tot->dropped += atomic_load(&t->dropped);
            tot->out += atomic_load(&t->stats.records);
            tot->objects += atomic_load(&t->stats.objects);
            tot->bytes += atomic_load(&t->stats.bytes);
            tot->fetch_wakes += atomic_load(&t->fetch_wakes);
            tot->tasks++;
            int st = atomic_load(&t->state);
            tot->running += st == T_RUNNING || st == T_STARTING;
            tot->failed += st == T_FAILED;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

static void print_status(fp_connect *c, const char *when)
{
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        fp_buf b = FP_BUF_INIT;
        uint64_t in = 0, dead = 0, out = 0, obj = 0, bytes = 0, wakes = 0;
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            in += atomic_load(&t->in);
            dead += atomic_load(&t->dead);
            out += atomic_load(&t->stats.records);
            obj += atomic_load(&t->stats.objects);
            bytes += atomic_load(&t->stats.bytes);
            wakes += atomic_load(&t->fetch_wakes);
            /* The state REST shows (PAUSED, UNASSIGNED while it cannot consume), STOPPED once
             * the task ended. */
            int st = atomic_load(&t->state);
            fp_buf_printf(&b, "%s%d=%s", j ? " " : "", j,
                          st == T_STOPPED ? state_names[st] : fp_connect_task_state(k, t));
        }
        fp_log(FP_LOG_INFO, k->cf.name, -1,
               "%s status: tasks [%s] in=%" PRIu64 " durable=%" PRIu64 " dead=%" PRIu64
               " objects=%" PRIu64 " bytes=%" PRIu64 " fetch_wakes=%" PRIu64,
               when, b.p ? b.p : "", in, out, dead, obj, bytes, wakes);
        fp_buf_free(&b);
    }
}

int fp_connect_wait(fp_connect *c)
{
    int64_t last_status = fp_time_mono_ms();
    for (;;) {
        bool all_done = true, all_idle = true;
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < c->nconns; i++) {
            connector *k = c->conns[i];
            for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
                int st = atomic_load(&k->tasks[j].state);
                all_done = all_done && (st == T_STOPPED || st == T_FAILED);
                all_idle = all_idle && atomic_load(&k->tasks[j].idle);
            }
        }
        pthread_mutex_unlock(&c->mu);
        if (all_done &&
            (!c->o.keep_running || fp_stop_requested(c->o.stop) || atomic_load(&c->stop)))
            break;
        if (c->o.exit_when_idle_ms > 0 && all_idle && !atomic_load(&c->stop)) {
            fp_log(FP_LOG_INFO, NULL, -1, "every task is caught up and idle: stopping");
            /* A run that ends by itself is not restarted at once: leave the groups. */
            pthread_mutex_lock(&c->mu);
            for (size_t i = 0; i < c->nconns; i++)
                for (int j = 0; c->conns[i]->tasks && j < c->conns[i]->cf.tasks_max; j++)
                    atomic_store(&c->conns[i]->tasks[j].leave, true);
            pthread_mutex_unlock(&c->mu);
            atomic_store(&c->stop, true);
        }
        usleep(50 * 1000);
        int64_t now = fp_time_mono_ms();
        if (!c->o.quiet && now - last_status >= c->o.status_interval_ms) {
            last_status = now;
            pthread_mutex_lock(&c->mu);
            print_status(c, "periodic");
            pthread_mutex_unlock(&c->mu);
        }
    }
    int failed = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            if (k->tasks[j].started)
                pthread_join(k->tasks[j].th, NULL);
            k->tasks[j].started = false;
            failed += atomic_load(&k->tasks[j].state) == T_FAILED;
        }
        fp_connect_producer_flush(k, 30000);
    }
    print_status(c, "final");
    pthread_mutex_unlock(&c->mu);
    return failed ? 1 : 0;
}

void fp_connect_free(fp_connect *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++)
            if (k->tasks[j].started)
                pthread_join(k->tasks[j].th, NULL);
        connector_free(k);
    }
    free(c->conns);
    free(c->bootstrap);
    free(c->worker_id);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---------------------------------------------------------------- management */

static bool props_equal(const fp_props *a, const fp_props *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const fp_prop *o = fp_props_find(b, a->v[i].key);
        if (!o || strcmp(o->val, a->v[i].val))
            return false;
    }
    return true;
}

fp_code fp_connect_put(fp_connect *c, const char *name, fp_props *props, bool create_only,
                       bool *created, fp_err *err)
{
    if (created)
        *created = false;
    const fp_prop *pn = fp_props_find(props, "name");
    if (pn && strcmp(pn->val, name)) {
        fp_err_set(err, FP_ERR_CONFIG, "key 'name': '%s' differs from the connector name '%s'",
                   pn->val, name);
        fp_props_free(props);
        return FP_ERR_CONFIG;
    }
    if (!pn)
        fp_props_set(props, "name", name);
    pthread_mutex_lock(&c->mu);
    size_t idx = 0;
    connector *old = fp_connect_find(c, name, &idx);
    fp_code rc = FP_OK;
    if (old && create_only) {
        rc = fp_err_set(err, FP_ERR_EXISTS, "Connector %s already exists", name);
    } else if (old && props_equal(&old->props, props)) {
        rc = FP_OK; /* nothing changed: keep the tasks running */
    } else {
        connector *k;
        rc = connector_new(c, props, &k, err);
        if (!rc) {
            if (old) {
                atomic_store(&k->paused, atomic_load(&old->paused));
                fp_log(FP_LOG_INFO, name, -1, "config changed: restarting the tasks");
                connector_stop(old, k->cf.tasks_max);
                connector_free(old);
                c->conns[idx] = k;
            } else {
                c->conns = fp_xrealloc(c->conns, (c->nconns + 1) * sizeof *c->conns);
                c->conns[c->nconns++] = k;
                if (created)
                    *created = true;
            }
            /* A start failure leaves the connector in place without tasks (UNASSIGNED). */
            if (c->started && connector_start(k, err))
                fp_log(FP_LOG_ERROR, name, -1, "start: %s", err->msg);
            rc = FP_OK;
        }
    }
    pthread_mutex_unlock(&c->mu);
    fp_props_free(props);
    return rc;
}

fp_code fp_connect_delete(fp_connect *c, const char *name, fp_err *err)
{
    pthread_mutex_lock(&c->mu);
    size_t idx;
    connector *k = fp_connect_find(c, name, &idx);
    if (!k) {
        pthread_mutex_unlock(&c->mu);
        return fp_err_set(err, FP_ERR_NOTFOUND, "Connector %s not found", name);
    }
    connector_stop(k, 0);
    memmove(&c->conns[idx], &c->conns[idx + 1], (c->nconns - idx - 1) * sizeof *c->conns);
    c->nconns--;
    pthread_mutex_unlock(&c->mu);
    fp_log(FP_LOG_INFO, name, -1, "deleted");
    connector_free(k);
    return FP_OK;
}

fp_code fp_connect_pause(fp_connect *c, const char *name, bool pause, fp_err *err)
{
    pthread_mutex_lock(&c->mu);
    connector *k = fp_connect_find(c, name, NULL);
    if (k)
        atomic_store(&k->paused, pause);
    pthread_mutex_unlock(&c->mu);
    if (!k)
        return fp_err_set(err, FP_ERR_NOTFOUND, "Connector %s not found", name);
    return FP_OK;
}

fp_code fp_connect_restart(fp_connect *c, const char *name, bool only_failed, fp_err *err)
{
    pthread_mutex_lock(&c->mu);
    connector *k = fp_connect_find(c, name, NULL);
    fp_code rc = FP_OK;
    if (!k) {
        rc = fp_err_set(err, FP_ERR_NOTFOUND, "Connector %s not found", name);
    } else {
        bool any_failed = !k->running;
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++)
            any_failed = any_failed || atomic_load(&k->tasks[j].state) == T_FAILED;
        if (!only_failed || any_failed) {
            fp_log(FP_LOG_INFO, name, -1, "restarting");
            connector_stop(k, k->cf.tasks_max);
            if (c->started && connector_start(k, err))
                fp_log(FP_LOG_ERROR, name, -1, "start: %s", err->msg);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

bool fp_connect_exists(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    bool r = fp_connect_find(c, name, NULL) != NULL;
    pthread_mutex_unlock(&c->mu);
    return r;
}

fp_code fp_connect_check(fp_connect *c, const fp_props *props, fp_err *err)
{
    fp_props copy;
    fp_props_init(&copy);
    for (size_t i = 0; i < props->n; i++)
        fp_props_set(&copy, props->v[i].key, props->v[i].val);
    connector *k;
    fp_code rc = connector_new(c, &copy, &k, err);
    if (!rc)
        connector_free(k);
    return rc;
}

bool fp_connect_paused(fp_connect *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    connector *k = fp_connect_find(c, name, NULL);
    bool r = k && atomic_load(&k->paused);
    pthread_mutex_unlock(&c->mu);
    return r;
}
