/* cmd_lake.c — `fleetpipe lake`: flags and output of the lake's subcommands (lake/lake.h).
 *
 * convert: a batch over the raw store (optionally a dt/hour window); retry: the _failed queue;
 * watch: conversion driven by the objstore sink's object-committed events (lake/watch.c);
 * cat/schema: read a Parquet file back; ddl: Athena / DuckDB DDL from the catalog (lake/ddl.c).
 * Each subcommand is one library call; everything is freed before it returns.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    char *deadletter_topic;
    char *bootstrap, *topic, *group, *worker_id, *table, *database, *file, *metrics_listen,
        *status_format;
    int64_t row_group_mb, limit, status_ms, lateness_ms, idle_ms;
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
#define FLAGS_PARQUET                                                                                \
    {                                                                                                \
        "codec", FP_CONF_ENUM, "zstd", O(codec), "Parquet page compression", "zstd|snappy|none", 0,  \
        0},                                                                                          \
        {"row-group-mb",                                                                             \
         FP_CONF_INT,                                                                                \
         "64",                                                                                       \
         O(row_group_mb),                                                                            \
         "buffered MiB of a table that close a Parquet row group",                                   \
         NULL,                                                                                       \
         1,                                                                                          \
         4096},                                                                                      \
        {"database", FP_CONF_STRING, "fleetpipe", O(database), "catalog database name", NULL, 0, 0}, \
        {"lateness",                                                                                 \
         FP_CONF_MS,                                                                                 \
         "10m",                                                                                      \
         O(lateness_ms),                                                                             \
         "watermark: allowed lateness below the sources' newest event time (docs/lake.md)",          \
         NULL,                                                                                       \
         0,                                                                                          \
         0},                                                                                         \
        {"deadletter-topic",                                                                         \
         FP_CONF_STRING,                                                                             \
         "fms.deadletter",                                                                           \
         O(deadletter_topic),                                                                        \
         "topic whose raw objects are objstore envelopes (format.envelope) of dead letters: "        \
         "table deadletter; empty: none",                                                            \
         NULL,                                                                                       \
         0,                                                                                          \
         0},                                                                                         \
    {                                                                                                \
        "idle", FP_CONF_MS, "1h", O(idle_ms),                                                        \
            "watermark: a source without a new object for this long does not hold it back; 0: "      \
            "never idle",                                                                            \
            NULL, 0, 0                                                                               \
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
    FP_CLI_STATUS_FLAG(lake_cli_opts),
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
    {"worker-id", FP_CONF_STRING, "", O(worker_id),
     "stable id of this worker in the group (static membership: a restart resumes at once); "
     "default: none (a dynamic member)",
     NULL, 0, 0},
    {"status-interval", FP_CONF_MS, "10s", O(status_ms), "period of the status line on stderr",
     NULL, 100, 86400000},
    {"metrics-listen", FP_CONF_STRING, "", O(metrics_listen),
     "serve Prometheus /metrics and /healthz on this address (e.g. 127.0.0.1:9465); empty: off",
     NULL, 0, 0},
    FLAGS_PARQUET,
    FLAGS_STORE,
    FP_CLI_STATUS_FLAG(lake_cli_opts),
    END_FLAGS,
};

static const fp_conf_def retry_flags[] = {
    FLAG_FROM(""), FLAG_TO, FLAGS_PARQUET, FLAGS_STORE, FP_CLI_STATUS_FLAG(lake_cli_opts),
    END_FLAGS,
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

static fp_code lake_opts(const lake_cli_opts *o, fp_lake_opts *lo, fp_err *err)
{
    *lo = (fp_lake_opts){0};
    lo->from_url = o->from && o->from[0] ? o->from : NULL;
    lo->to_url = o->to;
    lo->from_store = lo->to_store = store_opts(o);
    fp_code rc = fp_pq_codec_parse(o->codec, &lo->parquet.codec, err);
    if (rc)
        return rc;
    lo->parquet.row_group_bytes = (size_t)o->row_group_mb << 20;
    lo->database = o->database;
    lo->lateness_ms = o->lateness_ms;
    lo->idle_ms = o->idle_ms;
    lo->deadletter_topic = o->deadletter_topic;
    return FP_OK;
}

static fp_code lake_open(const lake_cli_opts *o, fp_lake **out, fp_err *err)
{
    fp_lake_opts lo;
    fp_code rc = lake_opts(o, &lo, err);
    return rc ? rc : fp_lake_open(&lo, out, err);
}

static bool json_status(const lake_cli_opts *o)
{
    return o->status_format && !strcmp(o->status_format, "json");
}

/* The lake's watermark for the final status: ISO-8601 UTC, or null when unknown (or unreadable:
 * the status is still printed, the watermark is not what failed). */
static json_t *watermark_json(const lake_cli_opts *o)
{
    fp_store_opts so = store_opts(o);
    fp_err e = {0};
    int64_t w = INT64_MIN;
    if (fp_lake_watermark_read(o->to, &so, NULL, &w, &e) || w == INT64_MIN)
        return json_null();
    fp_buf b = FP_BUF_INIT;
    fp_time_format_iso(w, &b);
    json_t *j = json_string(b.p);
    fp_buf_free(&b);
    return j;
}

/* The end of convert and retry: the summary line on stderr, then on stdout the counts as JSON
 * (text), or the final status line with the same counts (--status-format json). */
static int finish_counts(const fp_cmd *cmd, const lake_cli_opts *o, const fp_lake_counts *c,
                         fp_code rc, const fp_err *err)
{
    fprintf(stderr,
            "fleetpipe %s: %" PRId64 " objects (%" PRId64 " unreadable), %" PRId64
            " messages, rows in %" PRId64 " = written %" PRId64 " + failed %" PRId64 ", %" PRId64
            " files, %" PRId64 " bytes\n",
            cmd->name, c->objects, c->objects_failed, c->messages, c->rows_in, c->rows_written,
            c->rows_failed, c->files, c->bytes);
    int code = rc ? fail(cmd, err) : 0;
    if (!json_status(o)) {
        printf("{\"objects\":%" PRId64 ",\"objects_failed\":%" PRId64 ",\"messages\":%" PRId64
               ",\"rows_in\":%" PRId64 ",\"rows_written\":%" PRId64 ",\"rows_failed\":%" PRId64
               ",\"files\":%" PRId64 ",\"bytes\":%" PRId64 "}\n",
               c->objects, c->objects_failed, c->messages, c->rows_in, c->rows_written,
               c->rows_failed, c->files, c->bytes);
        return code;
    }
    json_t *j =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "objects", (json_int_t)c->objects,
                  "objects_failed", (json_int_t)c->objects_failed, "messages",
                  (json_int_t)c->messages, "rows_in", (json_int_t)c->rows_in, "rows_written",
                  (json_int_t)c->rows_written, "rows_failed", (json_int_t)c->rows_failed, "files",
                  (json_int_t)c->files, "bytes", (json_int_t)c->bytes);
    json_object_set_new(j, "late_rows", json_integer((json_int_t)c->late_rows));
    json_object_set_new(j, "watermark", watermark_json(o));
    if (rc)
        json_object_set_new(j, "error", json_string(err->msg));
    return fp_cli_status_print(cmd, o->status_format, j, code, stdout);
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
    return finish_counts(cmd, o, &c, rc, &err);
}

static int run_retry(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    fp_lake *l = NULL;
    fp_lake_opts lo;
    if (lake_opts(o, &lo, &err))
        return fail(cmd, &err);
    lo.lake_must_exist = true; /* the lake is retry's source (_failed/): never created */
    if (fp_lake_open(&lo, &l, &err))
        return fail(cmd, &err);
    fp_lake_counts c = {0};
    fp_code rc = fp_lake_retry(l, &c, &err);
    fp_lake_free(l);
    return finish_counts(cmd, o, &c, rc, &err);
}

/* ---- watch -------------------------------------------------------------------------------- */

static int run_watch(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    fp_lake_watch_opts wo = {
        .bootstrap = o->bootstrap,
        .topic = o->topic,
        .group = o->group,
        .worker_id = o->worker_id,
        .status_interval_ms = o->status_ms,
        .stop = fp_sig_token(),
    };
    if (fp_kafka_bootstrap_check("--bootstrap-servers", o->bootstrap, &err))
        return fail(cmd, &err);
    if (lake_opts(o, &wo.lake, &err))
        return fail(cmd, &err);
    fp_sig_install();
    static fp_lake_watch_stats st; /* read by the metrics thread */
    fp_lake_watch_stats_init(&st);
    fp_metrics_server *metrics = NULL;
    if (fp_metrics_serve(o->metrics_listen, fp_lake_watch_stats_write, fp_lake_watch_stats_healthy,
                         &st, &metrics, &err)) {
        fp_err_prefix(&err, "--metrics-listen");
        return fail(cmd, &err);
    }
    fp_code rc = fp_lake_watch_run(&wo, &st, &err);
    fp_metrics_server_stop(metrics);
    int code = rc ? fail(cmd, &err) : 0;
    if (!json_status(o))
        return code;
    int64_t lag = atomic_load(&st.lag);
    json_t *j = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "events",
        (json_int_t)atomic_load(&st.events), "skipped", (json_int_t)atomic_load(&st.skipped),
        "retries", (json_int_t)atomic_load(&st.retries), "objects",
        (json_int_t)atomic_load(&st.objects), "objects_failed",
        (json_int_t)atomic_load(&st.objects_failed), "messages",
        (json_int_t)atomic_load(&st.messages), "rows_in", (json_int_t)atomic_load(&st.rows_in),
        "rows_written", (json_int_t)atomic_load(&st.rows_written), "rows_failed",
        (json_int_t)atomic_load(&st.rows_failed), "files", (json_int_t)atomic_load(&st.files),
        "bytes", (json_int_t)atomic_load(&st.bytes), "lag",
        lag >= 0 ? json_integer((json_int_t)lag) : json_null());
    json_t *lost = json_array(); /* [{topic, partition, records}] per partition that lost any */
    for (int i = 0; i <= FP_LAKE_WATCH_PARTITIONS; i++) {
        int64_t n = atomic_load(i < FP_LAKE_WATCH_PARTITIONS ? &st.lost[i] : &st.lost_other);
        if (n > 0)
            json_array_append_new(
                lost,
                json_pack("{s:s, s:o, s:I}", "topic", o->topic, "partition",
                          i < FP_LAKE_WATCH_PARTITIONS ? json_integer(i) : json_string("other"),
                          "records", (json_int_t)n));
    }
    json_object_set_new(j, "watermark", watermark_json(o));
    json_object_set_new(j, "records_lost", json_integer((json_int_t)atomic_load(&st.lost_total)));
    json_object_set_new(j, "lost", lost);
    if (rc)
        json_object_set_new(j, "error", json_string(err.msg));
    return fp_cli_status_print(cmd, o->status_format, j, code, stdout);
}

/* ---- cat / schema ------------------------------------------------------------------------- */

/* Shortest %.Ng that reads back as the same double. */
static void put_double(fp_buf *b, double v)
{
    if (isnan(v) || isinf(v)) {
        fp_buf_puts(b, isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    fp_buf_put_double(b, v);
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

static int run_ddl(const fp_cmd *cmd, void *opts)
{
    lake_cli_opts *o = opts;
    fp_err err = {0};
    fp_store_opts so = store_opts(o);
    fp_buf out = FP_BUF_INIT;
    fp_code rc = fp_lake_ddl(o->to, &so, o->table, o->database, &out, &err);
    if (!rc)
        fwrite(out.p ? out.p : "", 1, out.len, stdout);
    fp_buf_free(&out);
    return rc ? fail(cmd, &err) : 0;
}

/* ---- the commands ------------------------------------------------------------------------- */

const fp_cmd fp_cmd_lake_convert = {
    "lake convert",
    "convert raw JSON objects to per-type Parquet tables with a catalog",
    "usage: fleetpipe lake convert --from URL --to URL [--since TIME] [--until TIME]\n"
    "                              [--codec zstd|snappy|none] [--row-group-mb N]\n"
    "                              [--deadletter-topic fms.deadletter]\n\n"
    "Converts every raw object (*.jsonl, *.jsonl.zst) of --from whose dt=/hour= partition\n"
    "overlaps [--since, --until) into <to>/<table>/dt=/hour=/<object>.parquet and updates\n"
    "<to>/_catalog/<table>.json; rows that cannot be converted go to <to>/_failed/. Objects of\n"
    "--deadletter-topic hold the objstore sink's envelopes (format.envelope=true): one row of\n"
    "the table deadletter per dead letter, with its reason (docs/lake.md). Idempotent:\n"
    "converting again rewrites the same files. Prints a summary line on stderr and a JSON\n"
    "summary on stdout (with --status-format json: the final status line, the same counts plus\n"
    "command, exit_code and error). Exit 0 when done (failed rows are an outcome, see `lake "
    "retry`), 1 on\n"
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
    "are logged and skipped. An event of another store than --from is a misconfiguration\n"
    "(the sink writes somewhere else): the worker stops with exit 2, the event uncommitted;\n"
    "any other error stops the worker (exit 1) with the event uncommitted. Run several workers "
    "with the same\n"
    "--group to share the work; SIGINT/SIGTERM stop cleanly. Status every --status-interval;\n"
    "--status-format json prints the final counts as one JSON line on stdout.\n"
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
    "(<lake>/<table>/dt=/hour=/*.parquet) with a Glue-shaped catalog and a retry queue;\n"
    "dead letters (fms.deadletter, stored with format.envelope=true) become the table\n"
    "deadletter.\n"
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
