/* cmd_lake.c — `fleetpipe lake`: raw JSON objects to per-type Parquet tables (lake/lake.h).
 *
 * convert: a batch over the raw store (optionally a dt/hour window); retry: the _failed queue;
 * watch: a consumer group on the objstore sink's object-committed events (docs/connect.md) that
 * converts each object as soon as it exists — an event's offset is committed only after its
 * object was converted, an I/O failure is retried with backoff and never skipped, so the lake
 * holds every committed raw object at least once (conversion is idempotent, so exactly once in
 * content); cat/schema: read a Parquet file back; ddl: Athena / DuckDB DDL from the catalog.
 * Single-threaded; everything is freed before a subcommand returns.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "lake/lake.h"
#include "ops/metrics.h"
#include "parquet/parquet.h"
#include "store/store.h"

typedef struct lake_cli_opts {
    char *from, *to, *since, *until, *codec, *s3_endpoint, *s3_region, *aws_profile;
    char *bootstrap, *topic, *group, *table, *database, *file, *metrics_listen;
    int64_t row_group_mb, limit, status_ms;
} lake_cli_opts;

#define O(f) offsetof(lake_cli_opts, f)
#define END_FLAGS                                                                                  \
    {                                                                                              \
        NULL, 0, NULL, 0, NULL, NULL, 0, 0                                                         \
    }
#define FLAG_FROM(req)                                                                             \
    {                                                                                              \
        "from", FP_CONF_STRING, req, O(from),                                                      \
            "raw store the objstore sink writes: file:///abs/path, a directory, or "               \
            "s3://bucket/prefix",                                                                  \
            NULL, 0, 0                                                                             \
    }
#define FLAG_TO                                                                                    \
    {                                                                                              \
        "to", FP_CONF_STRING, NULL, O(to),                                                         \
            "the lake: file:///abs/path, a directory, or s3://bucket/prefix", NULL, 0, 0           \
    }
#define FLAGS_STORE                                                                                \
    {"s3-endpoint",                                                                                \
     FP_CONF_STRING,                                                                               \
     "",                                                                                           \
     O(s3_endpoint),                                                                               \
     "S3 endpoint URL (http://127.0.0.1:4568 for s3rver); default AWS",                            \
     NULL,                                                                                         \
     0,                                                                                            \
     0},                                                                                           \
        {"s3-region",                                                                              \
         FP_CONF_STRING,                                                                           \
         "",                                                                                       \
         O(s3_region),                                                                             \
         "S3 region; default AWS_REGION, then AWS_DEFAULT_REGION",                                 \
         NULL,                                                                                     \
         0,                                                                                        \
         0},                                                                                       \
    {                                                                                              \
        "aws-profile", FP_CONF_STRING, "", O(aws_profile),                                         \
            "credentials profile when the environment has no keys", NULL, 0, 0                     \
    }
#define FLAGS_PARQUET                                                                               \
    {                                                                                               \
        "codec", FP_CONF_ENUM, "zstd", O(codec), "Parquet page compression", "zstd|snappy|none", 0, \
        0},                                                                                         \
        {"row-group-mb",                                                                            \
         FP_CONF_INT,                                                                               \
         "64",                                                                                      \
         O(row_group_mb),                                                                           \
         "buffered MiB of a table that close a Parquet row group",                                  \
         NULL,                                                                                      \
         1,                                                                                         \
         4096},                                                                                     \
    {                                                                                               \
        "database", FP_CONF_STRING, "fleetpipe", O(database), "catalog database name", NULL, 0, 0   \
    }

static const fp_conf_def convert_flags[] = {
    FLAG_FROM(NULL),
    FLAG_TO,
    {"since", FP_CONF_STRING, "", O(since),
     "only objects whose dt/hour partition ends after this ISO-8601 time", NULL, 0, 0},
    {"until", FP_CONF_STRING, "", O(until),
     "only objects whose dt/hour partition starts before this ISO-8601 time", NULL, 0, 0},
    FLAGS_PARQUET,
    FLAGS_STORE,
    END_FLAGS,
};

static const fp_conf_def watch_flags[] = {
    FLAG_FROM(NULL),
    FLAG_TO,
    {"bootstrap-servers", FP_CONF_STRING, NULL, O(bootstrap), "Kafka bootstrap servers", NULL, 0,
     0},
    {"topic", FP_CONF_STRING, "fleetpipe.lake.events", O(topic),
     "the objstore sink's store.events.topic", NULL, 0, 0},
    {"group", FP_CONF_STRING, "fleetpipe-lake", O(group),
     "consumer group; workers of one group share the events", NULL, 0, 0},
    {"status-interval", FP_CONF_MS, "10s", O(status_ms), "period of the status line on stderr",
     NULL, 100, 86400000},
    {"metrics-listen", FP_CONF_STRING, "", O(metrics_listen),
     "serve Prometheus /metrics and /healthz on this address (e.g. 127.0.0.1:9465); empty: off",
     NULL, 0, 0},
    FLAGS_PARQUET,
    FLAGS_STORE,
    END_FLAGS,
};

static const fp_conf_def retry_flags[] = {
    FLAG_FROM(""), FLAG_TO, FLAGS_PARQUET, FLAGS_STORE, END_FLAGS,
};

static const fp_conf_def cat_flags[] = {
    {"file", FP_CONF_STRING, NULL, O(file), "the Parquet file (or the positional argument)", NULL,
     0, 0},
    {"limit", FP_CONF_INT, "0", O(limit), "print at most this many rows; 0: all", NULL, 0,
     INT64_MAX},
    END_FLAGS,
};

static const fp_conf_def schema_flags[] = {
    {"file", FP_CONF_STRING, NULL, O(file), "the Parquet file (or the positional argument)", NULL,
     0, 0},
    END_FLAGS,
};

static const fp_conf_def ddl_flags[] = {
    FLAG_TO,
    {"table", FP_CONF_STRING, "", O(table), "one table; default every table of _catalog/", NULL, 0,
     0},
    {"database", FP_CONF_STRING, "", O(database),
     "database of the DDL; default the catalog's DatabaseName", NULL, 0, 0},
    FLAGS_STORE,
    END_FLAGS,
};

/* Exit code of a failed subcommand: 2 for configuration, 1 for everything else. */
static int fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return err->code == FP_ERR_CONFIG ? 2 : 1;
}

static fp_store_opts store_opts(const lake_cli_opts *o)
{
    return (fp_store_opts){
        .region = o->s3_region,
        .endpoint = o->s3_endpoint,
        .profile = o->aws_profile[0] ? o->aws_profile : NULL,
        .path_style = -1,
        .stop = fp_sig_token(),
    };
}

static fp_code lake_open(const lake_cli_opts *o, fp_lake **out, fp_err *err)
{
    fp_lake_opts lo = {0};
    lo.from_url = o->from && o->from[0] ? o->from : NULL;
    lo.to_url = o->to;
    lo.from_store = lo.to_store = store_opts(o);
    fp_code rc = fp_pq_codec_parse(o->codec, &lo.parquet.codec, err);
    if (rc)
        return rc;
    lo.parquet.row_group_bytes = (size_t)o->row_group_mb << 20;
    lo.database = o->database;
    return fp_lake_open(&lo, out, err);
}

static void print_counts(const fp_cmd *cmd, const fp_lake_counts *c)
{
    fprintf(stderr,
            "fleetpipe %s: %" PRId64 " objects (%" PRId64 " unreadable), %" PRId64
            " messages, rows in %" PRId64 " = written %" PRId64 " + failed %" PRId64 ", %" PRId64
            " files, %" PRId64 " bytes\n",
            cmd->name, c->objects, c->objects_failed, c->messages, c->rows_in, c->rows_written,
            c->rows_failed, c->files, c->bytes);
    printf("{\"objects\":%" PRId64 ",\"objects_failed\":%" PRId64 ",\"messages\":%" PRId64
           ",\"rows_in\":%" PRId64 ",\"rows_written\":%" PRId64 ",\"rows_failed\":%" PRId64
           ",\"files\":%" PRId64 ",\"bytes\":%" PRId64 "}\n",
           c->objects, c->objects_failed, c->messages, c->rows_in, c->rows_written, c->rows_failed,
           c->files, c->bytes);
}

static fp_code parse_time(const char *flag, const char *s, int64_t none, int64_t *out, fp_err *err)
{
    *out = none;
    if (!s[0])
        return FP_OK;
    fp_err e = {0};
    if (fp_time_parse_iso(s, strlen(s), out, &e))
        return fp_err_set(err, FP_ERR_CONFIG, "--%s '%s': %s", flag, s, e.msg);
    return FP_OK;
}

/* ---- convert / retry ---------------------------------------------------------------------- */

static int run_convert(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    int64_t since, until;
    if (parse_time("since", o->since, INT64_MIN, &since, &err) ||
        parse_time("until", o->until, INT64_MAX, &until, &err))
        return fail(cmd, &err);
    fp_lake *l = NULL;
    if (lake_open(o, &l, &err))
        return fail(cmd, &err);
    fp_lake_counts c = {0};
    fp_code rc = fp_lake_convert_all(l, since, until, &c, &err);
    fp_lake_free(l);
    print_counts(cmd, &c);
    return rc ? fail(cmd, &err) : 0;
}

static int run_retry(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    fp_lake *l = NULL;
    if (lake_open(o, &l, &err))
        return fail(cmd, &err);
    fp_lake_counts c = {0};
    fp_code rc = fp_lake_retry(l, &c, &err);
    fp_lake_free(l);
    print_counts(cmd, &c);
    return rc ? fail(cmd, &err) : 0;
}

/* ---- watch -------------------------------------------------------------------------------- */

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

static void logf_(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const char *level, const char *fmt, ...)
{
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(fp_time_now_ms(), &b);
    fp_buf_printf(&b, " %-5s lake watch: ", level);
    va_list ap;
    va_start(ap, fmt);
    fp_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", b.p);
    fp_buf_free(&b);
}

/* Sleeps ms in slices, returning early when a stop was requested. */
static void nap(int64_t ms)
{
    int64_t end = fp_time_mono_ms() + ms;
    while (!fp_stop_requested(fp_sig_token()) && fp_time_mono_ms() < end) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Messages not yet consumed in the current assignment, from librdkafka's cached watermarks
 * (no request to the broker); -1 when unknown. */
static int64_t lag(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(rk, &a) || !a)
        return -1;
    rd_kafka_position(rk, a);
    int64_t sum = 0;
    bool known = a->cnt > 0;
    for (int i = 0; i < a->cnt; i++) {
        int64_t lo, hi;
        rd_kafka_topic_partition_t *p = &a->elems[i];
        if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) || hi < 0) {
            known = false;
            continue;
        }
        int64_t pos = p->offset >= 0 ? p->offset : lo;
        if (hi > pos)
            sum += hi - pos;
    }
    rd_kafka_topic_partition_list_destroy(a);
    return known ? sum : -1;
}

/* What /metrics reads from an HTTP thread: copies of watch_state made by the watch loop (the
 * lake's counters are plain int64 owned by that loop), the conversion-time histogram, and the
 * object being retried (for /healthz). */
typedef struct watch_metrics {
    _Atomic int64_t events, skipped, retries, objects, objects_failed, rows_written, rows_failed,
        files, bytes, lag;
    _Atomic bool retrying;
    fp_metrics_hist conversion;
} watch_metrics;

typedef struct watch_state {
    fp_lake_counts c;
    int64_t events, skipped, retries;
    watch_metrics *wm;
} watch_state;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void watch_metrics_write(void *ctx, fp_metrics_out *m)
{
    watch_metrics *wm = ctx;
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"fleetpipe_lake_events_total",
         "Object-committed events handled (converted or skipped), each committed after.",
         offsetof(watch_metrics, events)},
        {"fleetpipe_lake_events_skipped_total",
         "Events skipped because they were not JSON or named no object.",
         offsetof(watch_metrics, skipped)},
        {"fleetpipe_lake_conversion_retries_total",
         "Conversions retried after an I/O error of a store.", offsetof(watch_metrics, retries)},
        {"fleetpipe_lake_objects_converted_total", "Raw objects converted to Parquet.",
         offsetof(watch_metrics, objects)},
        {"fleetpipe_lake_objects_failed_total",
         "Raw objects recorded as unreadable in the _failed queue.",
         offsetof(watch_metrics, objects_failed)},
        {"fleetpipe_lake_rows_written_total", "Rows written to Parquet tables.",
         offsetof(watch_metrics, rows_written)},
        {"fleetpipe_lake_rows_failed_total", "Rows that went to the _failed queue.",
         offsetof(watch_metrics, rows_failed)},
        {"fleetpipe_lake_files_written_total", "Parquet files written.",
         offsetof(watch_metrics, files)},
        {"fleetpipe_lake_written_bytes_total", "Bytes of the Parquet files written.",
         offsetof(watch_metrics, bytes)},
    };
    for (size_t i = 0; i < sizeof counters / sizeof *counters; i++) {
        fp_metrics_family(m, counters[i].name, FP_METRIC_COUNTER, counters[i].help);
        fp_metrics_sample_u64(
            m, NULL, (uint64_t)atomic_load((_Atomic int64_t *)((char *)wm + counters[i].off)));
    }
    fp_metrics_family(m, "fleetpipe_lake_conversion_seconds", FP_METRIC_HISTOGRAM,
                      "Time to convert one raw object (successful attempts).");
    fp_metrics_sample_hist(m, NULL, &wm->conversion);
    fp_metrics_family(m, "fleetpipe_lake_consumer_lag", FP_METRIC_GAUGE,
                      "Events not consumed yet in this worker's partitions (absent when unknown).");
    int64_t lag = atomic_load(&wm->lag);
    if (lag >= 0)
        fp_metrics_sample_u64(m, NULL, (uint64_t)lag);
}

static bool watch_metrics_healthy(void *ctx, fp_buf *reason)
{
    watch_metrics *wm = ctx;
    if (atomic_load(&wm->retrying)) {
        fp_buf_puts(reason, "retrying a conversion after a store error (see the log)");
        return false;
    }
    return true;
}

static void watch_metrics_publish(watch_metrics *wm, const watch_state *ws)
{
    atomic_store(&wm->events, ws->events + ws->skipped);
    atomic_store(&wm->skipped, ws->skipped);
    atomic_store(&wm->retries, ws->retries);
    atomic_store(&wm->objects, ws->c.objects);
    atomic_store(&wm->objects_failed, ws->c.objects_failed);
    atomic_store(&wm->rows_written, ws->c.rows_written);
    atomic_store(&wm->rows_failed, ws->c.rows_failed);
    atomic_store(&wm->files, ws->c.files);
    atomic_store(&wm->bytes, ws->c.bytes);
}

/* One event: FP_OK when its offset may be committed (converted, or never convertible);
 * otherwise the worker stops (a stop request during a backoff, or a non-retryable error). */
static fp_code handle_event(const lake_cli_opts *o, fp_lake *l, const rd_kafka_message_t *m,
                            watch_state *ws, fp_err *err)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    json_error_t je;
    json_t *ev = json_loadb(m->payload ? m->payload : "", m->len, 0, &je);
    const char *key = json_string_value(json_object_get(ev, "key"));
    if (!ev || !json_is_object(ev) || !key || !key[0]) {
        logf_("WARN", "skipping %s/%" PRId32 "@%" PRId64 ": %s", topic, m->partition, m->offset,
              !ev ? je.text : "not an object-committed event (no \"key\")");
        json_decref(ev);
        ws->skipped++;
        return FP_OK;
    }
    const char *store = json_string_value(json_object_get(ev, "store"));
    if (store && !same_store(store, o->from)) {
        /* Not skipped: committing it would leave the object unconverted for good if the two
         * names are in fact one store (an alias, a relative path). */
        fp_err_set(err, FP_ERR_CONFIG,
                   "%s/%" PRId32 "@%" PRId64 ": object %s is in store %s, not --from %s; run one "
                   "lake watch group per raw store, with --from as the sink's store.url",
                   topic, m->partition, m->offset, key, store, o->from);
        json_decref(ev);
        return FP_ERR_CONFIG;
    }
    int64_t backoff = 500;
    fp_code rc;
    for (;;) {
        fp_err e = {0};
        double t0 = mono_s();
        rc = fp_lake_convert_object(l, key, &ws->c, &e); /* adds to the counts only on FP_OK */
        if (!rc) {
            fp_metrics_hist_observe(&ws->wm->conversion, mono_s() - t0);
            atomic_store(&ws->wm->retrying, false);
            ws->events++;
            break;
        }
        if (rc != FP_ERR_IO) {
            fp_err_set(err, rc, "%s/%" PRId32 "@%" PRId64 ": object %s: %s", topic, m->partition,
                       m->offset, key, e.msg);
            break;
        }
        ws->retries++;
        atomic_store(&ws->wm->retrying, true);
        watch_metrics_publish(ws->wm, ws);
        logf_("WARN", "object %s (%s/%" PRId32 "@%" PRId64 "): %s; retrying in %" PRId64 " ms", key,
              topic, m->partition, m->offset, e.msg, backoff);
        nap(backoff);
        if (fp_stop_requested(fp_sig_token())) {
            rc = fp_err_set(err, FP_ERR_IO, "stopped while retrying object %s", key);
            break;
        }
        backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
    }
    json_decref(ev);
    return rc;
}

static rd_kafka_t *watch_consumer(const lake_cli_opts *o, fp_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char es[512];
    /* Manual commits after each conversion; a long backoff may exceed the poll interval, in
     * which case the group moves the partition and the new owner converts again (idempotent). */
    if (fp_kafka_conf_set(conf, "bootstrap.servers", o->bootstrap, err) ||
        fp_kafka_conf_set(conf, "group.id", o->group, err) ||
        fp_kafka_conf_set(conf, "client.id", "fleetpipe-lake-watch", err) ||
        fp_kafka_conf_set(conf, "enable.auto.commit", "false", err) ||
        fp_kafka_conf_set(conf, "enable.auto.offset.store", "false", err) ||
        fp_kafka_conf_set(conf, "auto.offset.reset", "earliest", err) ||
        fp_kafka_conf_set(conf, "max.poll.interval.ms", "600000", err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fp_err_set(err, FP_ERR_KAFKA, "consumer: %s", es);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
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

static void watch_status(const char *what, const watch_state *ws, rd_kafka_t *rk)
{
    logf_("INFO",
          "%s: events %" PRId64 " (skipped %" PRId64 ", retries %" PRId64 "), objects %" PRId64
          ", rows %" PRId64 " (written %" PRId64 ", failed %" PRId64 "), files %" PRId64
          ", lag %" PRId64,
          what, ws->events, ws->skipped, ws->retries, ws->c.objects, ws->c.rows_in,
          ws->c.rows_written, ws->c.rows_failed, ws->c.files, lag(rk));
}

static int run_watch(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    fp_sig_install();
    fp_lake *l = NULL;
    if (lake_open(o, &l, &err))
        return fail(cmd, &err);
    rd_kafka_t *rk = watch_consumer(o, &err);
    if (!rk) {
        fp_lake_free(l);
        return fail(cmd, &err);
    }
    logf_("INFO", "started: events from %s (group %s), raw %s -> lake %s", o->topic, o->group,
          o->from, o->to);
    static watch_metrics wm; /* outlives nothing: the server stops before run_watch returns */
    memset(&wm, 0, sizeof wm);
    atomic_store(&wm.lag, -1);
    fp_metrics_hist_init_seconds(&wm.conversion);
    watch_state ws = {.wm = &wm};
    fp_metrics_server *metrics = NULL;
    if (fp_metrics_serve(o->metrics_listen, watch_metrics_write, watch_metrics_healthy, &wm,
                         &metrics, &err)) {
        fp_err_prefix(&err, "--metrics-listen");
        rd_kafka_destroy(rk);
        fp_lake_free(l);
        return fail(cmd, &err);
    }
    int64_t next_status = fp_time_mono_ms() + o->status_ms;
    int64_t next_lag = 0;
    fp_code rc = FP_OK;
    while (!fp_stop_requested(fp_sig_token()) && !rc) {
        if (fp_time_mono_ms() >= next_status) {
            watch_status("status", &ws, rk);
            next_status = fp_time_mono_ms() + o->status_ms;
        }
        if (metrics && fp_time_mono_ms() >= next_lag) { /* cached watermarks: cheap, but 1/s */
            atomic_store(&wm.lag, lag(rk));
            next_lag = fp_time_mono_ms() + 1000;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                logf_("WARN", "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        rc = handle_event(o, l, m, &ws, &err);
        if (!rc) {
            /* Synchronous: once this returns the event is done for the group. A failure (the
             * partition moved away) only means the new owner converts the object again. */
            rd_kafka_resp_err_t e = rd_kafka_commit_message(rk, m, 0);
            if (e)
                logf_("WARN", "commit %s/%" PRId32 "@%" PRId64 ": %s", rd_kafka_topic_name(m->rkt),
                      m->partition, m->offset, rd_kafka_err2str(e));
            watch_metrics_publish(&wm, &ws);
        }
        rd_kafka_message_destroy(m);
    }
    if (rc && fp_stop_requested(fp_sig_token()))
        rc = FP_OK; /* stopped during a backoff: the event stays uncommitted, nothing lost */
    watch_status("final status", &ws, rk);
    fp_metrics_server_stop(metrics);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    fp_lake_free(l);
    return rc ? fail(cmd, &err) : 0;
}

/* ---- cat / schema ------------------------------------------------------------------------- */

/* Shortest %.Ng that reads back as the same double. */
static void put_double(fp_buf *b, double v)
{
    if (isnan(v) || isinf(v)) {
        fp_buf_puts(b, isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (prec == 17 || strtod(s, NULL) == v)
            break;
    }
    fp_buf_puts(b, s);
}

static int run_cat(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    fp_pq_reader *r = NULL;
    if (fp_pq_reader_open(o->file, &r, &err))
        return fail(cmd, &err);
    size_t nc = fp_pq_reader_ncols(r), nrg = fp_pq_reader_nrowgroups(r);
    fp_pq_values *cols = fp_xcalloc(nc ? nc : 1, sizeof *cols);
    fp_buf line = FP_BUF_INIT;
    int64_t printed = 0;
    int exit_code = 0;
    for (size_t rg = 0; rg < nrg && !exit_code; rg++) {
        for (size_t c = 0; c < nc && !exit_code; c++)
            if (fp_pq_read_column(r, rg, c, &cols[c], &err))
                exit_code = fail(cmd, &err);
        size_t n = nc && !exit_code ? cols[0].n : 0;
        for (size_t i = 0; i < n && (o->limit == 0 || printed < o->limit); i++) {
            fp_buf_reset(&line);
            fp_buf_putc(&line, '{');
            bool first = true;
            for (size_t c = 0; c < nc; c++) {
                const fp_pq_values *v = &cols[c];
                if (i >= v->n || !v->valid[i])
                    continue;
                const char *name = fp_pq_reader_column(r, c)->name;
                if (!first)
                    fp_buf_putc(&line, ',');
                first = false;
                fp_json_quote(&line, name, strlen(name));
                fp_buf_putc(&line, ':');
                switch (v->type) {
                case FP_PQ_BOOL:
                    fp_buf_puts(&line, v->b[i] ? "true" : "false");
                    break;
                case FP_PQ_INT64:
                    fp_buf_printf(&line, "%" PRId64, v->i64[i]);
                    break;
                case FP_PQ_DOUBLE:
                    put_double(&line, v->f64[i]);
                    break;
                case FP_PQ_STRING:
                    fp_json_quote(&line, v->s[i], v->slen[i]);
                    break;
                case FP_PQ_TIMESTAMP:
                    fp_buf_putc(&line, '"');
                    fp_time_format_iso(v->i64[i], &line);
                    fp_buf_putc(&line, '"');
                    break;
                }
            }
            fp_buf_puts(&line, "}\n");
            fwrite(line.p, 1, line.len, stdout);
            printed++;
        }
        for (size_t c = 0; c < nc; c++) {
            fp_pq_values_free(&cols[c]);
            memset(&cols[c], 0, sizeof cols[c]);
        }
        if (o->limit && printed >= o->limit)
            break;
    }
    if (fflush(stdout) && !exit_code) {
        fprintf(stderr, "fleetpipe %s: writing stdout failed\n", cmd->name);
        exit_code = 1;
    }
    fp_buf_free(&line);
    free(cols);
    fp_pq_reader_free(r);
    return exit_code;
}

static int run_schema(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    fp_pq_reader *r = NULL;
    if (fp_pq_reader_open(o->file, &r, &err))
        return fail(cmd, &err);
    json_t *cols = json_array();
    for (size_t c = 0; c < fp_pq_reader_ncols(r); c++) {
        const fp_pq_column *pc = fp_pq_reader_column(r, c);
        json_array_append_new(
            cols, json_pack("{s:s, s:s}", "name", pc->name, "type", fp_pq_type_name(pc->type)));
    }
    json_t *doc =
        json_pack("{s:s, s:o, s:I, s:I, s:s}", "file", o->file, "columns", cols, "row_groups",
                  (json_int_t)fp_pq_reader_nrowgroups(r), "rows", (json_int_t)fp_pq_reader_nrows(r),
                  "created_by", fp_pq_reader_created_by(r));
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
    json_decref(doc);
    fp_pq_reader_free(r);
    return 0;
}

/* ---- ddl ---------------------------------------------------------------------------------- */

static fp_code collect_cb(const void *data, size_t n, void *arg, fp_err *err)
{
    fp_buf_append(arg, data, n);
    return FP_OK;
}

/* Appends s between q and q, a q inside doubled (backticks for Athena, " for DuckDB, ' for SQL
 * string literals). */
static void quoted(fp_buf *b, char q, const char *s)
{
    fp_buf_putc(b, q);
    for (; *s; s++) {
        if (*s == q)
            fp_buf_putc(b, q);
        fp_buf_putc(b, *s);
    }
    fp_buf_putc(b, q);
}

/* Table names as the lake makes them (<object>_<type>, [a-z0-9_]); anything else in a catalog
 * (or in --table) is refused, so it can reach neither SQL comments nor paths. */
static bool ddl_name_ok(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
    return n > 0 && n <= 129 && s[n] == '\0';
}

static fp_code table_ddl(const lake_cli_opts *o, const char *name, json_t *cat, fp_buf *out,
                         fp_err *err)
{
    const char *table = json_string_value(json_object_get(cat, "Name"));
    json_t *sd = json_object_get(cat, "StorageDescriptor");
    json_t *cols = json_object_get(sd, "Columns");
    const char *loc = json_string_value(json_object_get(sd, "Location"));
    if (!table || !json_is_array(cols) || !loc || !ddl_name_ok(table) || !json_array_size(cols))
        return fp_err_set(err, FP_ERR_INVALID,
                          "%s: not a catalog table (needs a Name of [a-z0-9_], "
                          "StorageDescriptor.Columns and StorageDescriptor.Location)",
                          name);
    const char *db =
        o->database[0] ? o->database : json_string_value(json_object_get(cat, "DatabaseName"));
    if (!db || !db[0])
        db = "fleetpipe";
    fp_buf_printf(out, "-- %s (Athena / Redshift Spectrum)\nCREATE EXTERNAL TABLE IF NOT EXISTS ",
                  table);
    quoted(out, '`', db);
    fp_buf_putc(out, '.');
    quoted(out, '`', table);
    fp_buf_puts(out, " (");
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c)
    {
        const char *cn = json_string_value(json_object_get(c, "Name"));
        const char *ct = json_string_value(json_object_get(c, "Type"));
        bool known = false;
        for (int t = FP_PQ_BOOL; ct && t <= FP_PQ_TIMESTAMP; t++)
            known = known || !strcmp(ct, fp_pq_type_name((fp_pq_type)t));
        if (!cn || !known)
            return fp_err_set(err, FP_ERR_INVALID, "%s: column %zu has no Name or a bad Type", name,
                              i);
        fp_buf_puts(out, i ? ",\n  " : "\n  ");
        quoted(out, '`', cn);
        fp_buf_printf(out, " %s", ct);
    }
    fp_buf_puts(out, "\n)\nPARTITIONED BY (`dt` string, `hour` string)\nSTORED AS PARQUET\n"
                     "LOCATION ");
    quoted(out, '\'', loc);
    fp_buf_puts(out, "\nTBLPROPERTIES ('parquet.compression'='ZSTD');\nMSCK REPAIR TABLE ");
    quoted(out, '`', db);
    fp_buf_putc(out, '.');
    quoted(out, '`', table);
    fp_buf_puts(out, ";\n\n-- DuckDB\nCREATE OR REPLACE VIEW ");
    quoted(out, '"', table);
    /* DuckDB reads local files by path and s3:// itself (httpfs). */
    fp_buf dl = FP_BUF_INIT;
    fp_buf_puts(&dl, strncmp(loc, "file://", 7) ? loc : loc + 7);
    if (dl.len && dl.p[dl.len - 1] != '/')
        fp_buf_putc(&dl, '/');
    fp_buf_puts(&dl, "*/*/*.parquet");
    fp_buf_puts(out, " AS SELECT * FROM read_parquet(");
    quoted(out, '\'', dl.p);
    fp_buf_puts(out, ", hive_partitioning = true, union_by_name = true);\n\n");
    fp_buf_free(&dl);
    return FP_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_ddl(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    if (o->table[0] && !ddl_name_ok(o->table)) {
        fp_err_set(&err, FP_ERR_CONFIG, "--table %s: not a lake table name ([a-z0-9_])", o->table);
        return fail(cmd, &err);
    }
    fp_store_opts so = store_opts(o);
    fp_store *st = NULL;
    if (fp_store_open(o->to, &so, &st, &err))
        return fail(cmd, &err);
    fp_strv names = {0};
    fp_code rc = FP_OK;
    if (o->table[0]) {
        fp_buf n = FP_BUF_INIT;
        fp_buf_printf(&n, "_catalog/%s.json", o->table);
        names.v = fp_xcalloc(1, sizeof *names.v);
        names.v[names.n++] = fp_buf_steal(&n);
    } else {
        rc = fp_store_list(st, "_catalog/", &names, &err);
        if (!rc && !names.n)
            rc = fp_err_set(&err, FP_ERR_NOTFOUND, "%s: no tables in _catalog/", o->to);
        if (!rc) /* listings come in store order; the DDL in table order */
            qsort(names.v, names.n, sizeof *names.v, cmp_str);
    }
    fp_buf out = FP_BUF_INIT, raw = FP_BUF_INIT;
    for (size_t i = 0; i < names.n && !rc; i++) {
        size_t len = strlen(names.v[i]);
        if (len < 5 || strcmp(names.v[i] + len - 5, ".json"))
            continue;
        fp_buf_reset(&raw);
        rc = fp_store_read(st, names.v[i], collect_cb, &raw, &err);
        if (rc) {
            fp_err_prefix(&err, "%s", names.v[i]);
            break;
        }
        json_error_t je;
        json_t *cat = json_loadb(raw.p ? raw.p : "", raw.len, 0, &je);
        if (!cat)
            rc = fp_err_set(&err, FP_ERR_INVALID, "%s: %s (line %d)", names.v[i], je.text, je.line);
        else
            rc = table_ddl(o, names.v[i], cat, &out, &err);
        json_decref(cat);
    }
    if (!rc)
        fwrite(out.p ? out.p : "", 1, out.len, stdout);
    fp_buf_free(&out);
    fp_buf_free(&raw);
    fp_strv_free(&names);
    fp_store_free(st);
    return rc ? fail(cmd, &err) : 0;
}

/* ---- the commands ------------------------------------------------------------------------- */

const fp_cmd fp_cmd_lake_convert = {
    "lake convert",
    "convert raw JSON objects to per-type Parquet tables with a catalog",
    "usage: fleetpipe lake convert --from URL --to URL [--since TIME] [--until TIME]\n"
    "                              [--codec zstd|snappy|none] [--row-group-mb N]\n\n"
    "Converts every raw object (*.jsonl, *.jsonl.zst) of --from whose dt=/hour= partition\n"
    "overlaps [--since, --until) into <to>/<table>/dt=/hour=/<object>.parquet and updates\n"
    "<to>/_catalog/<table>.json; rows that cannot be converted go to <to>/_failed/. Idempotent:\n"
    "converting again rewrites the same files. Prints a summary line on stderr and a JSON\n"
    "summary on stdout. Exit 0 when done (failed rows are an outcome, see `lake retry`), 1 on\n"
    "an I/O error, 2 on a configuration error.",
    convert_flags,
    sizeof(lake_cli_opts),
    run_convert,
};

const fp_cmd fp_cmd_lake_watch = {
    "lake watch",
    "convert each raw object as soon as the objstore sink announces it (consumer group)",
    "usage: fleetpipe lake watch --from URL --to URL --bootstrap-servers BS\n"
    "                            [--topic fleetpipe.lake.events] [--group fleetpipe-lake]\n"
    "                            [--metrics-listen 127.0.0.1:9465]\n\n"
    "Consumes the objstore sink's object-committed events (store.events.topic, docs/connect.md)\n"
    "in a consumer group and converts each named object like `lake convert`. An event's offset\n"
    "is committed only after its object was converted; an I/O failure is retried with\n"
    "exponential backoff (up to 30 s), never skipped. Events that are not JSON or name no key\n"
    "are logged and skipped, as are events of another store than --from; any other error\n"
    "stops the worker (exit 1) with the event uncommitted. Run several workers with the same\n"
    "--group to share the work; SIGINT/SIGTERM stop cleanly. Status every --status-interval.\n"
    "--metrics-listen serves Prometheus /metrics (fleetpipe_lake_*) and /healthz (503 while a\n"
    "conversion is being retried); see docs/operations.md.",
    watch_flags,
    sizeof(lake_cli_opts),
    run_watch,
};

const fp_cmd fp_cmd_lake_retry = {
    "lake retry",
    "convert again what is queued in <lake>/_failed/",
    "usage: fleetpipe lake retry --to URL [--from URL]\n\n"
    "Unreadable objects are converted again from --from; failed rows against the current\n"
    "catalog. What still fails stays queued. Output and exit codes as `lake convert`.",
    retry_flags,
    sizeof(lake_cli_opts),
    run_retry,
};

const fp_cmd fp_cmd_lake_cat = {
    "lake cat",
    "print the rows of a Parquet file as JSON lines",
    "usage: fleetpipe lake cat FILE.parquet [--limit N]\n\n"
    "One JSON object per row, columns in file order, nulls omitted; timestamps as ISO-8601 UTC\n"
    "with milliseconds, integers exact, doubles in the shortest form that reads back the same.",
    cat_flags,
    sizeof(lake_cli_opts),
    run_cat,
};

const fp_cmd fp_cmd_lake_schema = {
    "lake schema",
    "print a Parquet file's columns, types, row groups, rows and writer as JSON",
    "usage: fleetpipe lake schema FILE.parquet",
    schema_flags,
    sizeof(lake_cli_opts),
    run_schema,
};

const fp_cmd fp_cmd_lake_ddl = {
    "lake ddl",
    "Athena / Redshift Spectrum and DuckDB DDL for the lake's tables",
    "usage: fleetpipe lake ddl --to URL [--table T] [--database D]\n\n"
    "Reads <to>/_catalog/<table>.json (every table without --table) and prints per table a\n"
    "CREATE EXTERNAL TABLE ... PARTITIONED BY (dt, hour) STORED AS PARQUET with MSCK REPAIR\n"
    "TABLE, and a DuckDB view over read_parquet(..., hive_partitioning = true).",
    ddl_flags,
    sizeof(lake_cli_opts),
    run_ddl,
};

static const fp_conf_def parent_flags[] = {
    END_FLAGS,
};

static const char parent_usage[] =
    "usage: fleetpipe lake convert --from URL --to URL [--since TIME] [--until TIME]\n"
    "       fleetpipe lake watch --from URL --to URL --bootstrap-servers BS\n"
    "       fleetpipe lake retry --to URL [--from URL]\n"
    "       fleetpipe lake cat FILE.parquet [--limit N]\n"
    "       fleetpipe lake schema FILE.parquet\n"
    "       fleetpipe lake ddl --to URL [--table T] [--database D]\n\n"
    "The Parquet lake: raw JSON objects of the objstore sink become per-type tables\n"
    "(<lake>/<table>/dt=/hour=/*.parquet) with a Glue-shaped catalog and a retry queue.\n"
    "`fleetpipe help lake <subcommand>` gives each one's options.";

static int run_parent(const fp_cmd *cmd, void *opts)
{
    fprintf(stderr, "fleetpipe lake: which subcommand?\n\n%s\n", parent_usage);
    return 2;
}

const fp_cmd fp_cmd_lake = {
    "lake",
    "Parquet lake: convert, watch, retry, cat, schema, ddl",
    parent_usage,
    parent_flags,
    sizeof(lake_cli_opts),
    run_parent,
};
