/* watch.c — `lake watch`: a consumer group on the objstore sink's object-committed events
 * (docs/connect.md) that converts each object as soon as it exists.
 *
 * The one thing to know: an event's offset is committed only after its object was converted,
 * and an I/O failure is retried with backoff and never skipped, so the lake holds every
 * committed raw object at least once (conversion is idempotent, so exactly once in content).
 * One thread runs the loop; the stats it publishes are read by the metrics thread.
 */
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <string.h>
#include <time.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/time.h"
#include "kafka/kafka.h"
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

/* The loop's own counts (plain, owned by the loop) and where it publishes copies. */
typedef struct watch_state {
    fp_lake_counts c;
    int64_t events, skipped, retries;
    fp_lake_watch_stats *st;
} watch_state;

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
    fp_metrics_family(m, "fleetpipe_lake_consumer_lag", FP_METRIC_GAUGE,
                      "Events not consumed yet in this worker's partitions (absent when unknown).");
    int64_t lg = atomic_load(&st->lag);
    if (lg >= 0)
        fp_metrics_sample_u64(m, NULL, (uint64_t)lg);
}

bool fp_lake_watch_stats_healthy(void *ctx, fp_buf *reason)
{
    fp_lake_watch_stats *st = ctx;
    if (atomic_load(&st->retrying)) {
        fp_buf_puts(reason, "retrying a conversion after a store error (see the log)");
        return false;
    }
    return true;
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

static rd_kafka_t *watch_consumer(const fp_lake_watch_opts *o, fp_err *err)
{
    /* Manual commits after each conversion (fp_kafka_consumer_new never auto-commits); a long
     * backoff may exceed the poll interval, in which case the group moves the partition and the
     * new owner converts again (idempotent). */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (fp_kafka_conf_set(conf, "max.poll.interval.ms", "600000", err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    fp_kafka_consumer_opts co = {
        .bootstrap = o->bootstrap,
        .group = o->group,
        .client_id = "fleetpipe-lake-watch",
        .conf = conf,
    };
    rd_kafka_t *rk = fp_kafka_consumer_new(&co, err);
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
    rd_kafka_t *rk = watch_consumer(o, err);
    if (!rk) {
        fp_lake_free(l);
        return err->code ? err->code : FP_ERR_KAFKA;
    }
    fp_log(FP_LOG_INFO, "lake watch", -1, "started: events from %s (group %s), raw %s -> lake %s",
           o->topic, o->group, o->lake.from_url, o->lake.to_url);
    int64_t interval = o->status_interval_ms > 0 ? o->status_interval_ms : 10000;
    watch_state ws = {.st = stats};
    int64_t next_status = fp_time_mono_ms() + interval;
    int64_t next_lag = 0;
    while (!fp_stop_requested(o->stop) && !rc) {
        if (fp_time_mono_ms() >= next_status) {
            watch_status("status", &ws, fp_kafka_assignment_lag(rk));
            next_status = fp_time_mono_ms() + interval;
        }
        if (fp_time_mono_ms() >= next_lag) { /* cached watermarks: cheap, but 1/s */
            atomic_store(&stats->lag, fp_kafka_assignment_lag(rk));
            next_lag = fp_time_mono_ms() + 1000;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fp_log(FP_LOG_WARN, "lake watch", -1, "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        rc = handle_event(o, l, m, &ws, err);
        if (!rc) {
            /* Synchronous: once this returns the event is done for the group. A failure (the
             * partition moved away) only means the new owner converts the object again. */
            rd_kafka_resp_err_t e = rd_kafka_commit_message(rk, m, 0);
            if (e)
                fp_log(FP_LOG_WARN, "lake watch", -1, "commit %s/%" PRId32 "@%" PRId64 ": %s",
                       rd_kafka_topic_name(m->rkt), m->partition, m->offset, rd_kafka_err2str(e));
            publish(&ws);
        }
        rd_kafka_message_destroy(m);
    }
    if (rc && fp_stop_requested(o->stop))
        rc = FP_OK; /* stopped during a backoff: the event stays uncommitted, nothing lost */
    int64_t lg = fp_kafka_assignment_lag(rk);
    atomic_store(&stats->lag, lg);
    publish(&ws);
    watch_status("final status", &ws, lg);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    fp_lake_free(l);
    return rc;
}
