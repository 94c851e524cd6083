/* cmd_gen.c — `fleetpipe gen`: deterministic telemetry as JSON lines or straight into Kafka.
 *
 * The stand-in load source until `fleetpipe sim` (issue 3). Into Kafka it uses an idempotent
 * producer keyed by device_id and exits non-zero unless every message was acknowledged.
 */
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "sim/gen.h"

typedef struct gen_opts {
    int64_t vehicles, messages, seed, bad_ppm;
    char *start, *output, *bootstrap, *topic;
    bool kinematic_only;
} gen_opts;

static const fp_conf_def gen_flags[] = {
    {"vehicles", FP_CONF_INT, "10", offsetof(gen_opts, vehicles), "number of vehicles", NULL, 1,
     1000000},
    {"messages", FP_CONF_INT, "1000", offsetof(gen_opts, messages), "messages to generate", NULL, 0,
     INT64_MAX},
    {"seed", FP_CONF_INT, "1", offsetof(gen_opts, seed), "random seed (same seed, same bytes)",
     NULL, 0, 0},
    {"start", FP_CONF_STRING, "2023-01-01T03:00:00Z", offsetof(gen_opts, start),
     "fleet time of the first sample (ISO-8601)", NULL, 0, 0},
    {"kinematic-only", FP_CONF_BOOL, NULL, offsetof(gen_opts, kinematic_only),
     "only vehicle/kinematic messages of 60 samples (the benchmark message)", NULL, 0, 0},
    {"bad-per-million", FP_CONF_INT, "0", offsetof(gen_opts, bad_ppm),
     "deliberately broken messages (truncated, missing messaged_at) per million", NULL, 0, 1000000},
    {"output", FP_CONF_STRING, "-", offsetof(gen_opts, output),
     "JSON lines file, - for stdout (ignored with --bootstrap-servers)", NULL, 0, 0},
    {"bootstrap-servers", FP_CONF_STRING, "", offsetof(gen_opts, bootstrap),
     "produce to this Kafka cluster instead of writing JSON lines", NULL, 0, 0},
    {"topic", FP_CONF_STRING, "", offsetof(gen_opts, topic),
     "Kafka topic for every message (default: fms.<object>)", NULL, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    long *failed = opaque;
    if (m->err) {
        if (++*failed <= 5)
            fprintf(stderr, "fleetpipe gen: delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
}

static int produce(rd_kafka_t *rk, const char *topic, const fp_gen_msg *m, const fp_buf *b)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->device_id, strlen(m->device_id)),
            RD_KAFKA_V_VALUE(b->p, b->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "fleetpipe gen: produce to %s: %s\n", topic, rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(rk, 50);
    }
}

static int run(const fp_cmd *cmd, void *opts)
{
    gen_opts *o = opts;
    fp_err err = {0};
    int rc = 0;
    int64_t start_ms;
    FILE *out = NULL;
    rd_kafka_t *rk = NULL;
    long failed = 0;
    fp_gen *g = NULL;
    if (fp_time_parse_iso(o->start, strlen(o->start), &start_ms, &err) != FP_OK) {
        rc = fp_cli_fail(cmd, &err);
        goto done;
    }
    if (o->bootstrap[0]) {
        rk = fp_kafka_producer_new(o->bootstrap, NULL, on_delivery, &failed, &err);
        if (!rk) {
            rc = fp_cli_fail(cmd, &err);
            goto done;
        }
    } else {
        out = strcmp(o->output, "-") ? fopen(o->output, "wb") : stdout;
        if (!out) {
            fprintf(stderr, "fleetpipe gen: %s: cannot open for writing\n", o->output);
            rc = 1;
            goto done;
        }
    }
    g = fp_gen_new((uint32_t)o->vehicles, (uint64_t)o->seed, start_ms, (uint32_t)o->bad_ppm);
    fp_buf b = FP_BUF_INIT;
    long bad = 0;
    for (int64_t i = 0; i < o->messages && rc == 0; i++) {
        fp_gen_msg m;
        fp_buf_reset(&b);
        if (o->kinematic_only)
            fp_gen_kinematic(g, &b, &m);
        else
            fp_gen_next(g, &b, &m);
        bad += m.bad;
        if (rk) {
            if (produce(rk, o->topic[0] ? o->topic : m.topic, &m, &b))
                rc = 1;
            rd_kafka_poll(rk, 0);
        } else {
            fp_buf_putc(&b, '\n');
            if (fwrite(b.p, 1, b.len, out) != b.len) {
                fprintf(stderr, "fleetpipe gen: %s: write failed\n", o->output);
                rc = 1;
            }
        }
    }
    fp_buf_free(&b);
    if (rk) {
        if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "fleetpipe gen: %d messages not delivered within 60 s\n",
                    rd_kafka_outq_len(rk));
            rc = 1;
        }
        if (failed)
            rc = 1;
    }
    if (out && fflush(out) != 0)
        rc = 1;
    fprintf(stderr, "fleetpipe gen: %lld messages (%ld deliberately bad)%s\n",
            (long long)o->messages, bad, failed ? ", some deliveries FAILED" : "");
done:
    fp_gen_free(g);
    if (rk)
        rd_kafka_destroy(rk);
    if (out && out != stdout)
        fclose(out);
    return rc;
}

const fp_cmd fp_cmd_gen = {
    "gen",
    "small deterministic telemetry generator (demo, benchmarks); the full simulator is `sim`",
    "usage: fleetpipe gen [--vehicles N] [--messages N] [--seed S] [--kinematic-only]\n"
    "                     [--bad-per-million K] [--output FILE | --bootstrap-servers BS]\n\n"
    "Writes messages of ../shared/PROTOCOLS.md (vehicle/kinematic, vehicle/status,\n"
    "cargo/temperature, blackbox/status, vehicle/event) one per line, or produces them to\n"
    "fms.<object> keyed by device_id with an idempotent producer. Same seed, same bytes.",
    gen_flags,
    sizeof(gen_opts),
    run,
};
