/* watch.c — `lake watch`: a consumer group on the objstore sink's object-committed events
 * (docs/connect.md) that converts each object as soon as it exists.
 *
 * The one thing to know: an event's offset is committed only after its object was converted,
 * and an I/O failure is retried with backoff and never skipped, so the lake holds every
 * committed raw object at least once (conversion is idempotent, so exactly once in content).
 * What the worker cannot convert because retention deleted the event first is reported, never
 * skipped silently (report_lost). Static membership (group.instance.id) with a 10 s session
 * timeout lets a restarted worker resume at once. /healthz says what is wrong: Kafka
 * unreachable, no partitions held, a conversion retrying, records lost recently.
 * One thread runs the loop (librdkafka's callbacks run inside its poll); the stats it publishes
 * are read by the metrics thread.
 */
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "kafka/wake.h"
#include "lake/lake.h"

/* "file:///x/" and "/x" name the same store: compare without scheme and trailing slashes. */
static bool same_store(const char *a, const char *b)
{
    if (!strncmp(a, "file://", 7))
        a += 7;
    if (!strncmp(b, "file://", 7))
        b += 7;
    size_t na = strlen(a), nb = strlen(b);
    while (na > 1 && a[na - 1] == '/')
        na--;
    while (nb > 1 && b[nb - 1] == '/')
        nb--;
    return na == nb && !memcmp(a, b, na);
}

/* Per partition of o->topic: the next offset the worker expects (-1 unknown) and the end of
 * the lost ranges already reported (so a range seen twice is counted once). */
typedef struct part_track {
    int64_t next, lost_to;
} part_track;

/* The loop's own counts (plain, owned by the loop) and where it publishes copies. */
typedef struct watch_state {
    fp_lake_counts c;
    int64_t events, skipped, retries;
    fp_lake_watch_stats *st;
    const fp_lake_watch_opts *o;
    part_track *parts; /* indexed by partition; nparts entries */
    int32_t nparts;
    char fatal[512]; /* librdkafka's fatal error (a fenced instance id); "" none */
    int64_t held;    /* partitions assigned, counted in on_rebalance */
} watch_state;

static part_track *track(watch_state *ws, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= ws->nparts) {
        int32_t n = p + 1 > ws->nparts * 2 ? p + 1 : ws->nparts * 2;
        ws->parts = fp_xrealloc(ws->parts, (size_t)n * sizeof *ws->parts);
        for (int32_t i = ws->nparts; i < n; i++)
            ws->parts[i] = (part_track){-1, -1};
        ws->nparts = n;
    }
    return &ws->parts[p];
}

/* Records [from, to) of partition p as lost (only what was not reported before): an ERROR, the
 * counters, the range for /healthz. */
static void report_lost(watch_state *ws, int32_t p, int64_t from, int64_t to, const char *how)
{
    part_track *t = track(ws, p);
    if (!t)
        return;
    if (from < t->lost_to)
        from = t->lost_to;
    if (to <= from)
        return;
    t->lost_to = to;
    if (t->next < to)
        t->next = to;
    int64_t n = to - from;
    fp_lake_watch_stats *st = ws->st;
    if (p < FP_LAKE_WATCH_PARTITIONS)
        atomic_fetch_add(&st->lost[p], n);
    else
        atomic_fetch_add(&st->lost_other, n);
    atomic_store(&st->lost_last_partition, p);
    atomic_store(&st->lost_last_from, from);
    atomic_store(&st->lost_last_to, to);
    atomic_fetch_add(&st->lost_total, n);
    atomic_store(&st->lost_at_ms, fp_time_mono_ms());
    fp_log(FP_LOG_ERROR, "lake watch", -1,
           "lost %" PRId64 " events of %s/%" PRId32 ": offsets %" PRId64 "-%" PRId64
           " (%s) are below the log start offset: retention deleted them before group %s "
           "consumed them. Their raw objects were not converted by this worker; `fleetpipe lake "
           "convert` over the raw store converts them (idempotent)",
           n, ws->o->topic, p, from, to - 1, how, ws->o->group);
}

/* At assignment: the committed offsets of parts (no commit: 0) against the log start. */
static void check_assigned(rd_kafka_t *rk, watch_state *ws,
                           const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, c, 10000);
    if (e)
        fp_log(FP_LOG_WARN, "lake watch", -1,
               "committed offsets at assignment: %s; checking for lost events from the "
               "position instead",
               rd_kafka_err2str(e));
    for (int i = 0; i < c->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &c->elems[i];
        if (strcmp(tp->topic, ws->o->topic))
            continue;
        part_track *t = track(ws, tp->partition);
        int64_t next = !e && !tp->err && tp->offset >= 0 ? tp->offset : 0;
        t->next = e ? -1 : next;
        if (e || tp->err)
            continue;
        int64_t from, to;
        fp_err err = {0};
        int64_t n =
            fp_kafka_lost_query(rk, tp->topic, tp->partition, next, 10000, &from, &to, &err);
        if (n < 0)
            fp_log(FP_LOG_WARN, "lake watch", -1, "%s; the next lag update checks again", err.msg);
        else if (n > 0)
            report_lost(ws, tp->partition, from, to,
                        tp->offset >= 0 ? "committed offset" : "no committed offset");
    }
    rd_kafka_topic_partition_list_destroy(c);
}

/* Every lag update: each assigned partition's fetch position against the cached log start. */
static void check_positions(rd_kafka_t *rk, watch_state *ws)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(rk, &a) || !a)
        return;
    rd_kafka_position(rk, a);
    for (int i = 0; i < a->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &a->elems[i];
        part_track *t = track(ws, tp->partition);
        int64_t pos = tp->offset >= 0 ? tp->offset : t->next;
        int64_t from, to;
        if (!strcmp(tp->topic, ws->o->topic) && pos >= 0 &&
            fp_kafka_lost_cached(rk, tp->topic, tp->partition, pos, &from, &to) > 0)
            report_lost(ws, tp->partition, from, to, "position");
    }
    rd_kafka_topic_partition_list_destroy(a);
}

/* A message past the next expected offset: the gap is lost when it is below the log start
 * (librdkafka's auto.offset.reset jumped over it). */
static void check_gap(rd_kafka_t *rk, watch_state *ws, const rd_kafka_message_t *m)
{
    part_track *t = track(ws, m->partition);
    if (!t)
        return;
    int64_t from, to;
    if (t->next >= 0 && m->offset > t->next &&
        fp_kafka_lost_cached(rk, ws->o->topic, m->partition, t->next, &from, &to) > 0)
        report_lost(ws, m->partition, from, to < m->offset ? to : m->offset, "offset gap");
    t->next = m->offset + 1;
}

static void set_assigned(fp_lake_watch_stats *st, int64_t n)
{
    int64_t was = atomic_exchange(&st->assigned, n);
    if (n <= 0 && was > 0)
        atomic_store(&st->unassigned_since_ms, fp_time_mono_ms());
    if (n > 0 || n != was)
        atomic_store(&st->kafka_down, false); /* the group answered */
}

/* Rebalances (inside rd_kafka_consumer_poll, on the loop's thread). */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    watch_state *ws = opaque;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    /* The count is kept here, not asked of rd_kafka_assignment(): during the close
     * (fp_kafka_consumer_close serves this callback) that call waits on the consumer group
     * thread, which waits for us — a deadlock seen with the broker gone. */
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        check_assigned(rk, ws, parts);
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        ws->held = coop ? ws->held + parts->cnt : parts->cnt;
    } else {
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
        ws->held = coop && ws->held > parts->cnt ? ws->held - parts->cnt : 0;
    }
    int64_t n = ws->held;
    fp_log(FP_LOG_INFO, "lake watch", -1, "rebalance: %s %d partitions, holding %" PRId64,
           e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked", parts->cnt, n);
    set_assigned(ws->st, n);
}

/* librdkafka's errors (inside rd_kafka_consumer_poll): brokers down for /healthz; a fatal
 * error (another worker with the same group.instance.id fenced this one) stops the loop. */
static void on_error(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    watch_state *ws = opaque;
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__TRANSPORT ||
        e == RD_KAFKA_RESP_ERR__RESOLVE) {
        /* before the group is joined, a refused connection is "unreachable" too */
        if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || atomic_load(&ws->st->assigned) < 0) {
            if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || !atomic_load(&ws->st->kafka_down))
                atomic_store(&ws->st->kafka_err, e);
            atomic_store(&ws->st->kafka_down, true);
        }
    }
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        char fe[400];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fe, sizeof fe);
        snprintf(ws->fatal, sizeof ws->fatal, "%s: %s%s", rd_kafka_err2name(orig), fe,
                 orig == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID
                     ? " (another lake watch worker of this group runs with the same --worker-id)"
                     : "");
    }
    fp_log(FP_LOG_WARN, "lake watch", -1, "kafka: %s: %s", rd_kafka_err2name(e), reason);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fp_lake_watch_stats_init(fp_lake_watch_stats *st)
{
    atomic_store(&st->events, 0);
    atomic_store(&st->skipped, 0);
    atomic_store(&st->retries, 0);
    atomic_store(&st->objects, 0);
    atomic_store(&st->objects_failed, 0);
    atomic_store(&st->messages, 0);
    atomic_store(&st->rows_in, 0);
    atomic_store(&st->rows_written, 0);
    atomic_store(&st->rows_failed, 0);
    atomic_store(&st->files, 0);
    atomic_store(&st->bytes, 0);
    atomic_store(&st->lag, -1);
    atomic_store(&st->retrying, false);
    fp_metrics_hist_init_seconds(&st->conversion);
    fp_metrics_hist_init_age(&st->age);
    atomic_store(&st->topic, NULL);
    atomic_store(&st->group, NULL);
    for (int i = 0; i < FP_LAKE_WATCH_PARTITIONS; i++)
        atomic_store(&st->lost[i], 0);
    atomic_store(&st->lost_other, 0);
    atomic_store(&st->lost_total, 0);
    atomic_store(&st->lost_at_ms, 0);
    atomic_store(&st->lost_last_partition, -1);
    atomic_store(&st->lost_last_from, 0);
    atomic_store(&st->lost_last_to, 0);
    atomic_store(&st->kafka_down, false);
    atomic_store(&st->kafka_err, 0);
    atomic_store(&st->assigned, -1);
    atomic_store(&st->unassigned_since_ms, fp_time_mono_ms());
}

void fp_lake_watch_stats_write(void *ctx, fp_metrics_out *m)
{
    fp_lake_watch_stats *st = ctx;
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"fleetpipe_lake_events_skipped_total",
         "Events skipped because they were not JSON or named no object.",
         offsetof(fp_lake_watch_stats, skipped)},
        {"fleetpipe_lake_conversion_retries_total",
         "Conversions retried after an I/O error of a store.",
         offsetof(fp_lake_watch_stats, retries)},
        {"fleetpipe_lake_objects_converted_total", "Raw objects converted to Parquet.",
         offsetof(fp_lake_watch_stats, objects)},
        {"fleetpipe_lake_objects_failed_total",
         "Raw objects recorded as unreadable in the _failed queue.",
         offsetof(fp_lake_watch_stats, objects_failed)},
        {"fleetpipe_lake_rows_written_total", "Rows written to Parquet tables.",
         offsetof(fp_lake_watch_stats, rows_written)},
        {"fleetpipe_lake_rows_failed_total", "Rows that went to the _failed queue.",
         offsetof(fp_lake_watch_stats, rows_failed)},
        {"fleetpipe_lake_files_written_total", "Parquet files written.",
         offsetof(fp_lake_watch_stats, files)},
        {"fleetpipe_lake_written_bytes_total", "Bytes of the Parquet files written.",
         offsetof(fp_lake_watch_stats, bytes)},
    };
    /* handled = converted + skipped: every one of them was committed after */
    fp_metrics_family(m, "fleetpipe_lake_events_total", FP_METRIC_COUNTER,
                      "Object-committed events handled (converted or skipped), each committed "
                      "after.");
    fp_metrics_sample_u64(m, NULL,
                          (uint64_t)(atomic_load(&st->events) + atomic_load(&st->skipped)));
    for (size_t i = 0; i < sizeof counters / sizeof *counters; i++) {
        fp_metrics_family(m, counters[i].name, FP_METRIC_COUNTER, counters[i].help);
        fp_metrics_sample_u64(
            m, NULL, (uint64_t)atomic_load((_Atomic int64_t *)((char *)st + counters[i].off)));
    }
    fp_metrics_family(m, "fleetpipe_lake_conversion_seconds", FP_METRIC_HISTOGRAM,
                      "Time to convert one raw object (successful attempts).");
    fp_metrics_sample_hist(m, NULL, &st->conversion);
    fp_metrics_family(
        m, "fleetpipe_lake_record_age_seconds", FP_METRIC_HISTOGRAM,
        "Wall time when an object's Parquet files and catalog were committed minus "
        "the newest messaged_at of its lines (end-to-end latency to the Parquet lake).");
    fp_metrics_sample_hist(m, NULL, &st->age);
    fp_metrics_family(m, "fleetpipe_lake_consumer_lag", FP_METRIC_GAUGE,
                      "Events not consumed yet in this worker's partitions (absent when unknown).");
    int64_t lg = atomic_load(&st->lag);
    if (lg >= 0)
        fp_metrics_sample_u64(m, NULL, (uint64_t)lg);
    /* one sample per partition that lost events (a series appears with its first loss; the
     * alert rule counts that as an increase) */
    fp_metrics_family(m, "fleetpipe_lake_records_lost_total", FP_METRIC_COUNTER,
                      "Object-committed events retention deleted before this worker's group "
                      "consumed them (their objects were not converted by lake watch).");
    const char *topic = atomic_load(&st->topic);
    for (int i = 0; topic && i <= FP_LAKE_WATCH_PARTITIONS; i++) {
        int64_t n = atomic_load(i < FP_LAKE_WATCH_PARTITIONS ? &st->lost[i] : &st->lost_other);
        if (n <= 0)
            continue;
        char p[16];
        if (i < FP_LAKE_WATCH_PARTITIONS)
            snprintf(p, sizeof p, "%d", i);
        else
            snprintf(p, sizeof p, "other");
        fp_metrics_sample_u64(m, (const char *[]){"topic", topic, "partition", p, NULL},
                              (uint64_t)n);
    }
}

bool fp_lake_watch_stats_healthy(void *ctx, fp_buf *reason)
{
    fp_lake_watch_stats *st = ctx;
    size_t len0 = reason->len;
    const char *sep = "";
    const char *group = atomic_load(&st->group), *topic = atomic_load(&st->topic);
    int64_t now = fp_time_mono_ms();
    if (atomic_load(&st->kafka_down)) {
        fp_buf_printf(reason, "Kafka unreachable (%s)",
                      rd_kafka_err2str((rd_kafka_resp_err_t)atomic_load(&st->kafka_err)));
        sep = "; ";
    }
    int64_t assigned = atomic_load(&st->assigned), since = atomic_load(&st->unassigned_since_ms);
    if (assigned <= 0 && since > 0 && now - since > FP_LAKE_WATCH_UNASSIGNED_MS) {
        if (assigned < 0)
            fp_buf_printf(reason, "%sconsumer group %s not joined for %" PRId64 " s", sep,
                          group ? group : "?", (now - since) / 1000);
        else
            fp_buf_printf(reason,
                          "%sno partition of %s assigned for %" PRId64
                          " s (more workers than partitions?)",
                          sep, topic ? topic : "?", (now - since) / 1000);
        sep = "; ";
    }
    if (atomic_load(&st->retrying)) {
        fp_buf_printf(reason, "%sretrying a conversion after a store error (see the log)", sep);
        sep = "; ";
    }
    int64_t at = atomic_load(&st->lost_at_ms);
    if (at > 0 && now - at < FP_LAKE_WATCH_LOST_RECENT_MS)
        fp_buf_printf(reason,
                      "%slost %" PRId64 " events (last: %s/%" PRId64 " offsets %" PRId64 "-%" PRId64
                      ", %" PRId64 " s ago; see the log)",
                      sep, atomic_load(&st->lost_total), topic ? topic : "?",
                      atomic_load(&st->lost_last_partition), atomic_load(&st->lost_last_from),
                      atomic_load(&st->lost_last_to) - 1, (now - at) / 1000);
    return reason->len == len0;
}

static void publish(const watch_state *ws)
{
    fp_lake_watch_stats *st = ws->st;
    atomic_store(&st->events, ws->events);
    atomic_store(&st->skipped, ws->skipped);
    atomic_store(&st->retries, ws->retries);
    atomic_store(&st->objects, ws->c.objects);
    atomic_store(&st->objects_failed, ws->c.objects_failed);
    atomic_store(&st->messages, ws->c.messages);
    atomic_store(&st->rows_in, ws->c.rows_in);
    atomic_store(&st->rows_written, ws->c.rows_written);
    atomic_store(&st->rows_failed, ws->c.rows_failed);
    atomic_store(&st->files, ws->c.files);
    atomic_store(&st->bytes, ws->c.bytes);
}

/* One event: FP_OK when its offset may be committed (converted, or never convertible);
 * otherwise the worker stops (a stop request during a backoff, or a non-retryable error). */
static fp_code handle_event(const fp_lake_watch_opts *o, fp_lake *l, const rd_kafka_message_t *m,
                            watch_state *ws, fp_err *err)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    json_error_t je;
    json_t *ev = json_loadb(m->payload ? m->payload : "", m->len, 0, &je);
    const char *key = json_string_value(json_object_get(ev, "key"));
    if (!ev || !json_is_object(ev) || !key || !key[0]) {
        fp_log(FP_LOG_WARN, "lake watch", -1, "skipping %s/%" PRId32 "@%" PRId64 ": %s", topic,
               m->partition, m->offset,
               !ev ? je.text : "not an object-committed event (no \"key\")");
        json_decref(ev);
        ws->skipped++;
        return FP_OK;
    }
    const char *store = json_string_value(json_object_get(ev, "store"));
    const char *from = o->lake.from_url;
    if (store && !same_store(store, from)) {
        /* Not skipped: committing it would leave the object unconverted for good if the two
         * names are in fact one store (an alias, a relative path). */
        fp_err_set(err, FP_ERR_CONFIG,
                   "%s/%" PRId32 "@%" PRId64 ": object %s is in store %s, not --from %s; run one "
                   "lake watch group per raw store, with --from as the sink's store.url",
                   topic, m->partition, m->offset, key, store, from);
        json_decref(ev);
        return FP_ERR_CONFIG;
    }
    /* 0.5 s doubling to 30 s, jittered: workers retrying one store do not hit it in step */
    fp_backoff b;
    fp_backoff_init(&b, 500, 30000);
    fp_code rc;
    for (;;) {
        fp_err e = {0};
        double t0 = mono_s();
        rc = fp_lake_convert_object(l, key, &ws->c, &e); /* adds to the counts only on FP_OK */
        if (!rc) {
            fp_metrics_hist_observe(&ws->st->conversion, mono_s() - t0);
            int64_t newest = fp_lake_last_newest_ms(l);
            if (newest != INT64_MIN) { /* Parquet and catalog committed: the rows are there */
                int64_t age = fp_time_now_ms() - newest;
                fp_metrics_hist_observe(&ws->st->age, age > 0 ? (double)age / 1000.0 : 0);
            }
            atomic_store(&ws->st->retrying, false);
            ws->events++;
            break;
        }
        if (rc != FP_ERR_IO) {
            fp_err_set(err, rc, "%s/%" PRId32 "@%" PRId64 ": object %s: %s", topic, m->partition,
                       m->offset, key, e.msg);
            break;
        }
        ws->retries++;
        atomic_store(&ws->st->retrying, true);
        publish(ws);
        int64_t delay = fp_backoff_next(&b);
        fp_log(FP_LOG_WARN, "lake watch", -1,
               "object %s (%s/%" PRId32 "@%" PRId64 "): %s; retrying in %" PRId64 " ms", key, topic,
               m->partition, m->offset, e.msg, delay);
        if (!fp_stop_sleep_ms(o->stop, delay)) {
            rc = fp_err_set(err, FP_ERR_IO, "stopped while retrying object %s", key);
            break;
        }
    }
    json_decref(ev);
    return rc;
}

static rd_kafka_t *watch_consumer(const fp_lake_watch_opts *o, watch_state *ws, fp_err *err)
{
    /* Manual commits after each conversion (fp_kafka_consumer_new never auto-commits); a long
     * backoff may exceed the poll interval, in which case the group moves the partition and the
     * new owner converts again (idempotent). */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (fp_kafka_conf_set(conf, "max.poll.interval.ms", "600000", err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, ws);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_error_cb(conf, on_error);
    /* Static membership ("lake-watch-<worker id>") only with --worker-id: a default id would
     * be shared by two workers of one group on one host, and the broker fences one of them.
     * On the development broker, dynamic members with a short session (kafka/kafka.h). */
    fp_buf id = FP_BUF_INIT;
    if (o->worker_id && o->worker_id[0])
        fp_buf_printf(&id, "lake-watch-%s", o->worker_id);
    bool dev = fp_kafka_is_dev_broker(o->bootstrap, 2000);
    fp_kafka_consumer_opts co = {
        .bootstrap = o->bootstrap,
        .group = o->group,
        .client_id = "fleetpipe-lake-watch",
        .instance_id = id.p,
        .dev_broker = dev,
        .conf = conf,
    };
    rd_kafka_t *rk = fp_kafka_consumer_new(&co, err);
    if (rk)
        fp_log(FP_LOG_INFO, "lake watch", -1, "%s",
               dev    ? "development broker: dynamic member, session.timeout.ms 3000"
               : id.p ? "static member (group.instance.id from --worker-id), session.timeout.ms "
                        "10000"
                      : "dynamic member (give --worker-id for static membership), "
                        "session.timeout.ms 10000");
    fp_buf_free(&id);
    if (!rk)
        return NULL;
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, o->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    if (e) {
        fp_kafka_err(err, e, o->topic);
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

static void watch_status(const char *what, const watch_state *ws, int64_t lg)
{
    fp_log(FP_LOG_INFO, "lake watch", -1,
           "%s: events %" PRId64 " (skipped %" PRId64 ", retries %" PRId64 "), objects %" PRId64
           ", rows %" PRId64 " (written %" PRId64 ", failed %" PRId64 "), files %" PRId64
           ", lag %" PRId64,
           what, ws->events, ws->skipped, ws->retries, ws->c.objects, ws->c.rows_in,
           ws->c.rows_written, ws->c.rows_failed, ws->c.files, lg);
}

fp_code fp_lake_watch_run(const fp_lake_watch_opts *o, fp_lake_watch_stats *stats, fp_err *err)
{
    if (!o->lake.from_url || !o->lake.from_url[0] || !o->bootstrap || !o->topic || !o->group)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "lake watch: needs the raw store, bootstrap servers, topic and group");
    fp_lake *l = NULL;
    fp_code rc = fp_lake_open(&o->lake, &l, err);
    if (rc)
        return rc;
    watch_state ws = {.st = stats, .o = o};
    atomic_store(&stats->topic, o->topic);
    atomic_store(&stats->group, o->group);
    atomic_store(&stats->assigned, -1);
    atomic_store(&stats->unassigned_since_ms, fp_time_mono_ms());
    rd_kafka_t *rk = watch_consumer(o, &ws, err);
    if (!rk) {
        fp_lake_free(l);
        return err->code ? err->code : FP_ERR_KAFKA;
    }
    fp_log(FP_LOG_INFO, "lake watch", -1, "started: events from %s (group %s), raw %s -> lake %s",
           o->topic, o->group, o->lake.from_url, o->lake.to_url);
    /* A backlog of events beyond the prefetch bounds refills without librdkafka 2.0's 1 s
     * stall (kafka/wake.h); without the waker's thread the loop works as before. */
    fp_err werr = {0};
    fp_kafka_waker *wk = fp_kafka_waker_new(rk, "lake watch", &werr);
    if (!wk)
        fp_log(FP_LOG_WARN, "lake watch", -1, "%s", werr.msg);
    int64_t interval = o->status_interval_ms > 0 ? o->status_interval_ms : 10000;
    int64_t next_status = fp_time_mono_ms() + interval;
    int64_t next_lag = 0, next_probe = 0;
    while (!fp_stop_requested(o->stop) && !rc) {
        if (ws.fatal[0]) {
            rc = fp_err_set(err, FP_ERR_KAFKA, "lake watch: consumer: %s", ws.fatal);
            break;
        }
        if (atomic_load(&stats->kafka_down) && fp_time_mono_ms() >= next_probe) {
            /* Kafka said all brokers are down: find out when one answers again */
            const struct rd_kafka_metadata *md = NULL;
            if (!rd_kafka_metadata(rk, 0, NULL, &md, 1000)) {
                rd_kafka_metadata_destroy(md);
                atomic_store(&stats->kafka_down, false);
                fp_log(FP_LOG_INFO, "lake watch", -1, "kafka: a broker answers again");
            }
            next_probe = fp_time_mono_ms() + 2000;
        }
        if (fp_time_mono_ms() >= next_status) {
            watch_status("status", &ws, fp_kafka_assignment_lag(rk));
            next_status = fp_time_mono_ms() + interval;
        }
        if (fp_time_mono_ms() >= next_lag) { /* cached watermarks: cheap, but 1/s */
            atomic_store(&stats->lag, fp_kafka_assignment_lag(rk));
            check_positions(rk, &ws);
            next_lag = fp_time_mono_ms() + 1000;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        fp_kafka_waker_seen(wk, m);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fp_log(FP_LOG_WARN, "lake watch", -1, "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        atomic_store(&stats->kafka_down, false); /* a fetch answered */
        if (!strcmp(rd_kafka_topic_name(m->rkt), o->topic))
            check_gap(rk, &ws, m);
        rc = handle_event(o, l, m, &ws, err);
        if (!rc) {
            /* Once this returns OK the event is done for the group. A failure (the partition
             * moved away, or Kafka did not answer within FP_KAFKA_COMMIT_MS) only means the
             * event is handled again (conversion is idempotent). */
            rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(c, rd_kafka_topic_name(m->rkt), m->partition)
                ->offset = m->offset + 1;
            rd_kafka_resp_err_t e = fp_kafka_commit_bounded(rk, c, FP_KAFKA_COMMIT_MS);
            if (!e)
                e = c->elems[0].err;
            rd_kafka_topic_partition_list_destroy(c);
            if (e)
                fp_log(FP_LOG_WARN, "lake watch", -1,
                       "commit %s/%" PRId32 "@%" PRId64 ": %s; NOT committed (converted; handled "
                       "again by the next owner)",
                       rd_kafka_topic_name(m->rkt), m->partition, m->offset + 1,
                       rd_kafka_err2str(e));
            publish(&ws);
        }
        rd_kafka_message_destroy(m);
    }
    fp_kafka_waker_stop(wk);
    if (rc && fp_stop_requested(o->stop))
        rc = FP_OK; /* stopped during a backoff: the event stays uncommitted, nothing lost */
    int64_t lg = fp_kafka_assignment_lag(rk);
    atomic_store(&stats->lag, lg);
    publish(&ws);
    watch_status("final status", &ws, lg);
    fp_kafka_waker_free(wk); /* borrows rk: before the close */
    /* Bounded (kafka.h): with Kafka gone a plain close waited for the coordinator (once 600 s). */
    fp_kafka_consumer_close(rk, FP_KAFKA_CLOSE_MS, on_rebalance, "lake watch");
    fp_lake_free(l);
    free(ws.parts);
    return rc;
}
