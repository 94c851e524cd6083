/* cmd_demo.c — `fleetpipe demo`: the whole connect path on one laptop in seconds.
 *
 * In-process: the in-memory broker, a few minutes of generated fleet telemetry (some of it
 * deliberately broken), and a raw-lake objstore connector with a dead-letter topic writing
 * readable JSON lines into --dir. The directory is owned by the demo (a marker file says so) and
 * cleaned at the start of every run, because the broker's offsets restart at 0 each time.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "connect/connect.h"
#include "connect/log.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "sim/gen.h"

#define MARKER ".fleetpipe-demo"

typedef struct demo_opts {
    char *dir;
    int64_t vehicles, minutes, bad_ppm, seed, tasks;
} demo_opts;

static const fp_conf_def demo_flags[] = {
    {"dir", FP_CONF_STRING, "./fleetpipe-demo", offsetof(demo_opts, dir),
     "output directory (cleaned on every run; must be empty or an earlier demo's)", NULL, 0, 0},
    {"vehicles", FP_CONF_INT, "50", offsetof(demo_opts, vehicles), "vehicles", NULL, 1, 100000},
    {"minutes", FP_CONF_INT, "5", offsetof(demo_opts, minutes), "minutes of fleet time", NULL, 1,
     24 * 60},
    {"bad-per-million", FP_CONF_INT, "20000", offsetof(demo_opts, bad_ppm),
     "deliberately broken messages per million (they become dead letters)", NULL, 0, 1000000},
    {"seed", FP_CONF_INT, "1", offsetof(demo_opts, seed), "generator seed", NULL, 0, 0},
    {"tasks", FP_CONF_INT, "2", offsetof(demo_opts, tasks), "connector tasks", NULL, 1, 64},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static int rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -1;
        struct dirent *de;
        int rc = 0;
        for (de = readdir(d); rc == 0 && de; de = readdir(d)) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            fp_buf b = FP_BUF_INIT;
            fp_buf_printf(&b, "%s/%s", path, de->d_name);
            rc = rm_tree(b.p);
            fp_buf_free(&b);
        }
        closedir(d);
        return rc ? rc : rmdir(path);
    }
    return unlink(path);
}

/* Lines in every object under dir (the demo writes uncompressed JSON lines). */
static long count_lines(const char *dir, long *objects)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    long n = 0;
    struct dirent *de;
    for (de = readdir(d); de; de = readdir(d)) {
        if (de->d_name[0] == '.')
            continue;
        fp_buf p = FP_BUF_INIT;
        fp_buf_printf(&p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p.p, &st) == 0 && S_ISDIR(st.st_mode)) {
            n += count_lines(p.p, objects);
        } else {
            FILE *f = fopen(p.p, "r");
            for (int c = f ? getc(f) : EOF; c != EOF; c = getc(f))
                n += c == '\n';
            if (f)
                fclose(f);
            ++*objects;
        }
        fp_buf_free(&p);
    }
    closedir(d);
    return n;
}

/* Makes dir an empty demo directory; refuses to clean a directory the demo did not make. */
static fp_code prepare_dir(const char *dir, fp_err *err)
{
    DIR *d = opendir(dir);
    if (d) {
        bool ours = false, empty = true;
        struct dirent *de;
        for (de = readdir(d); de; de = readdir(d)) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            empty = false;
            ours = ours || !strcmp(de->d_name, MARKER);
        }
        closedir(d);
        if (!empty && !ours)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s exists and is not a fleetpipe demo directory; give --dir", dir);
        if (rm_tree(dir) != 0)
            return fp_err_set(err, FP_ERR_IO, "cleaning %s: %s", dir, strerror(errno));
    }
    if (mkdir(dir, 0777) != 0)
        return fp_err_set(err, FP_ERR_IO, "mkdir %s: %s", dir, strerror(errno));
    fp_buf m = FP_BUF_INIT;
    fp_buf_printf(&m, "%s/" MARKER, dir);
    FILE *f = fopen(m.p, "w");
    fp_buf_free(&m);
    if (!f)
        return fp_err_set(err, FP_ERR_IO, "%s: cannot write the marker file", dir);
    fputs("made by fleetpipe demo; the next run deletes this directory's contents\n", f);
    fclose(f);
    return FP_OK;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (m->err)
        ++*(long *)opaque;
}

/* Produces the generated fleet; returns messages produced or -1. */
static long produce_fleet(const char *bs, const demo_opts *o, long *bad, fp_err *err)
{
    long failed = 0, n = 0;
    rd_kafka_t *rk = fp_kafka_producer_new(bs, NULL, on_delivery, &failed, err);
    if (!rk)
        return -1;
    int64_t start;
    fp_time_parse_iso("2023-01-01T03:00:00Z", 20, &start, NULL);
    fp_gen *g = fp_gen_new((uint32_t)o->vehicles, (uint64_t)o->seed, start, (uint32_t)o->bad_ppm);
    fp_buf b = FP_BUF_INIT;
    int64_t end = start + o->minutes * 60000;
    for (;;) {
        fp_gen_msg m;
        fp_buf_reset(&b);
        fp_gen_next(g, &b, &m);
        if (m.messaged_ms >= end)
            break;
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(m.topic), RD_KAFKA_V_KEY(m.device_id, strlen(m.device_id)),
                RD_KAFKA_V_VALUE(b.p, b.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (!e)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fp_kafka_err(err, e, "produce");
                n = -1;
                goto done;
            }
            rd_kafka_poll(rk, 20);
        }
        rd_kafka_poll(rk, 0);
        n++;
        *bad += m.bad;
    }
    if (rd_kafka_flush(rk, 30000) || failed) {
        fp_err_set(err, FP_ERR_KAFKA, "%ld messages not acknowledged by the broker",
                   failed + rd_kafka_outq_len(rk));
        n = -1;
    }
done:
    fp_buf_free(&b);
    fp_gen_free(g);
    rd_kafka_destroy(rk);
    return n;
}

/* Copies the dead-letter topic into <dir>/deadletters.jsonl so it outlives the broker. */
static long save_dead_letters(const char *bs, const char *dir)
{
    char es[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bs, es, sizeof es);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", es, sizeof es);
    rd_kafka_conf_set(conf, "group.id", "fleetpipe-demo-dlq", es, sizeof es);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!rk)
        return -1;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "fms.deadletter", NULL);
    long n = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1) {
        int np = md->topics[0].partition_cnt;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
        for (int i = 0; i < np; i++)
            rd_kafka_topic_partition_list_add(l, "fms.deadletter", i)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        fp_buf path = FP_BUF_INIT;
        fp_buf_printf(&path, "%s/deadletters.jsonl", dir);
        FILE *f = fopen(path.p, "w");
        fp_buf_free(&path);
        int eofs = 0;
        int64_t deadline = fp_time_mono_ms() + 10000;
        while (f && eofs < np && fp_time_mono_ms() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
            if (!m)
                continue;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                eofs++;
            } else if (!m->err) {
                fp_buf line = FP_BUF_INIT;
                fp_buf_puts(&line, "{");
                rd_kafka_headers_t *h = NULL;
                if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    const char *name;
                    const void *val;
                    size_t vlen;
                    for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &vlen); i++) {
                        fp_json_quote(&line, name, strlen(name));
                        fp_buf_putc(&line, ':');
                        fp_json_quote(&line, val, vlen);
                        fp_buf_putc(&line, ',');
                    }
                }
                fp_buf_puts(&line, "\"value\":");
                fp_json_quote(&line, m->payload ? m->payload : "", m->len);
                fp_buf_puts(&line, "}\n");
                fwrite(line.p, 1, line.len, f);
                fp_buf_free(&line);
                n++;
            }
            rd_kafka_message_destroy(m);
        }
        if (f)
            fclose(f);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static fp_code add_connector(fp_connect *c, const char *abs_dir, int64_t tasks, fp_err *err)
{
    fp_props p;
    fp_props_init(&p);
    char tm[32];
    snprintf(tm, sizeof tm, "%" PRId64, tasks);
    fp_buf url = FP_BUF_INIT;
    fp_buf_printf(&url, "file://%s", abs_dir);
    const char *kv[][2] = {
        {"name", "raw-lake"},
        {"connector.class", "objstore"},
        {"topics", "fms.vehicle,fms.cargo,fms.blackbox,fms.device"},
        {"tasks.max", tm},
        {"errors.tolerance", "all"},
        {"errors.deadletterqueue.topic.name", "fms.deadletter"},
        {"errors.log.enable", "false"},
        {"store.url", url.p},
        {"topics.dir", "raw"},
        {"format.compression", "none"},
        {"flush.size", "2000"},
        {"rotate.schedule.interval.ms", "5000"},
        {"timestamp.field", "messaged_at"},
        {"consumer.override.session.timeout.ms", "6000"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        fp_props_set(&p, kv[i][0], kv[i][1]);
    fp_buf_free(&url);
    fp_code rc = fp_connect_add(c, &p, err);
    fp_props_free(&p);
    return rc;
}

static int run(const fp_cmd *cmd, void *opts)
{
    demo_opts *o = opts;
    fp_err err = {0};
    int rc = 0;
    fp_kafka_embedded *emb = NULL;
    fp_connect *c = NULL;
    int64_t t0 = fp_time_mono_ms();
    fp_sig_install();
    if (prepare_dir(o->dir, &err)) {
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    char abs_dir[PATH_MAX];
    if (!realpath(o->dir, abs_dir)) {
        fprintf(stderr, "fleetpipe demo: %s: %s\n", o->dir, strerror(errno));
        rc = 1;
        goto out;
    }
    emb = fp_kafka_embedded_start(3, 6, &err);
    if (!emb) {
        fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    const char *bs = fp_kafka_embedded_bootstraps(emb);
    fp_log(FP_LOG_INFO, "demo", -1, "in-memory Kafka broker (3 brokers, 6 partitions) at %s", bs);
    long bad = 0;
    long produced = produce_fleet(bs, o, &bad, &err);
    if (produced < 0) {
        fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    fp_log(FP_LOG_INFO, "demo", -1,
           "produced %ld messages (%" PRId64 " vehicles, %" PRId64
           " minutes of fleet time, %ld deliberately broken) into fms.*",
           produced, o->vehicles, o->minutes, bad);
    fp_connect_opts co = {bs, 1500, 1000, 0};
    c = fp_connect_new(&co);
    if (add_connector(c, abs_dir, o->tasks, &err) || fp_connect_start(c, &err)) {
        fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    rc = fp_connect_wait(c);
    bool interrupted = fp_sig_stopping() && rc == 0;
    fp_connect_totals tot;
    fp_connect_totals_get(c, &tot);
    fp_sig_reset();
    long dl = save_dead_letters(bs, abs_dir);
    long objects = 0;
    fp_buf raw = FP_BUF_INIT;
    fp_buf_printf(&raw, "%s/raw", abs_dir);
    long lake = count_lines(raw.p, &objects);
    fp_buf_free(&raw);
    double secs = (double)(fp_time_mono_ms() - t0) / 1000.0;
    fprintf(stderr,
            "\nfleetpipe demo summary\n"
            "  messages produced     %ld (%ld deliberately broken)\n"
            "  records consumed      %" PRIu64 "\n"
            "  records in the lake   %ld (in %ld objects, %" PRIu64 " bytes written)\n"
            "  dead letters          %ld (read back from fms.deadletter)\n"
            "  reconciles            %s (produced = lake + dead letters)\n"
            "  time taken            %.1f s\n\n"
            "Look at:\n"
            "  find %s/raw -name '*.jsonl' | sort | head      # raw/<topic>/dt=/hour=/ objects\n"
            "  head -c 600 $(find %s/raw -name '*.jsonl' | sort | head -1)\n"
            "  jq -c '{\"error.class\", \"error.message\", \"source.topic\", \"source.offset\"}' "
            "%s/deadletters.jsonl | head\n",
            produced, bad, tot.in, lake, objects, tot.bytes, dl,
            lake + dl == produced ? "yes" : "NO", secs, o->dir, o->dir, o->dir);
    if (interrupted)
        fprintf(stderr, "(interrupted: the lake holds what was durable when you stopped it)\n");
out:
    fp_connect_free(c);
    fp_kafka_embedded_stop(emb);
    return rc;
}

const fp_cmd fp_cmd_demo = {
    "demo",
    "in-memory broker + generated fleet + raw-lake connector into ./fleetpipe-demo, in seconds",
    "usage: fleetpipe demo [--dir ./fleetpipe-demo] [--vehicles 50] [--minutes 5]\n\n"
    "Starts the in-memory Kafka broker in this process, produces a few minutes of generated\n"
    "fleet telemetry (with some deliberately broken messages), and runs an objstore connector\n"
    "(all fms.* topics, uncompressed JSON lines, dead letters to fms.deadletter) into --dir,\n"
    "then prints a summary and where to look. Re-runnable: --dir is cleaned on each run.",
    demo_flags,
    sizeof(demo_opts),
    run,
};
