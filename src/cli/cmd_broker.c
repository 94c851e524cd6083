/* cmd_broker.c — `fleetpipe broker`: the in-memory Kafka-protocol development broker.
 *
 * Prints the bootstrap servers as the first line of stdout, and with --bootstrap-file writes them
 * to that file once the broker is ready (F.tmp renamed to F, so a reader never sees a partial
 * address; removed again on a clean stop), then runs until SIGINT/SIGTERM, logging every message
 * the broker drops (fp_kafka_embedded_watch_drops). Data lives in this process's memory only.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "kafka/kafka.h"

typedef struct broker_opts {
    int64_t brokers, partitions, fail_produce;
    char *listen_host, *bootstrap_file;
} broker_opts;

#define STR_(x) #x
#define STR(x) STR_(x)

static const fp_conf_def broker_flags[] = {
    {"brokers", FP_CONF_INT, "3", offsetof(broker_opts, brokers), "number of brokers", NULL, 1, 16},
    {"partitions", FP_CONF_INT, STR(FP_KAFKA_EMBEDDED_PARTITIONS),
     offsetof(broker_opts, partitions),
     "partitions of each fms.* topic (each holds the newest 5 MiB)", NULL, 1, 1000},
    {"bootstrap-file", FP_CONF_STRING, "", offsetof(broker_opts, bootstrap_file),
     "write the bootstrap servers to this file once the broker is ready (via FILE.tmp and "
     "rename; removed on a clean stop)",
     NULL, 0, 0},
    {"listen-host", FP_CONF_STRING, "127.0.0.1", offsetof(broker_opts, listen_host),
     "listen address; librdkafka 2.0.2's mock cluster only binds loopback", NULL, 0, 0},
    {"fail-produce", FP_CONF_INT, "0", offsetof(broker_opts, fail_produce),
     "test hook: the first N produce requests fail with MSG_SIZE_TOO_LARGE (a permanent error)",
     NULL, 0, 1000000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static int run(const fp_cmd *cmd, void *opts)
{
    broker_opts *o = opts;
    fp_err err = {0};
    int rc = 0;
    if (strcmp(o->listen_host, "127.0.0.1") != 0 && strcmp(o->listen_host, "localhost") != 0) {
        fp_err_set(&err, FP_ERR_CONFIG,
                   "--listen-host %s: the librdkafka mock cluster binds 127.0.0.1 only",
                   o->listen_host);
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    fp_sig_install();
    fp_kafka_embedded *e = fp_kafka_embedded_start((int)o->brokers, (int)o->partitions, &err);
    if (!e) {
        fprintf(stderr, "fleetpipe broker: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    fp_kafka_embedded_fail_produce(e, (int)o->fail_produce, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    if (fp_kafka_embedded_watch_drops(e, 1000, &err)) {
        fprintf(stderr, "fleetpipe broker: %s\n", err.msg);
        fp_kafka_embedded_stop(e);
        rc = 1;
        goto out;
    }
    const char *bs = fp_kafka_embedded_bootstraps(e);
    if (o->bootstrap_file[0] &&
        fp_cli_ready_file("--bootstrap-file", o->bootstrap_file, bs, &err)) {
        fprintf(stderr, "fleetpipe broker: %s\n", err.msg);
        fp_kafka_embedded_stop(e);
        rc = 1;
        goto out;
    }
    printf("%s\n", bs);
    fflush(stdout);
    fprintf(stderr,
            "fleetpipe broker: %lld in-memory brokers at %s; topics fms.vehicle fms.cargo "
            "fms.blackbox fms.device fms.deadletter (%lld partitions each, up to %lld MiB per "
            "topic in memory; older messages are dropped, with a warning). Data is lost on "
            "exit. Ctrl-C to stop.\n",
            (long long)o->brokers, bs, (long long)o->partitions, (long long)o->partitions * 5);
    while (!fp_stop_requested(fp_sig_token()))
        usleep(100 * 1000);
    if (o->bootstrap_file[0])
        unlink(o->bootstrap_file);
    fp_kafka_embedded_stop(e);
    fprintf(stderr, "fleetpipe broker: stopped\n");
out:
    return rc;
}

const fp_cmd fp_cmd_broker = {
    "broker",
    "in-memory Kafka-protocol broker for development and tests (data gone when it stops)",
    "usage: fleetpipe broker [--brokers 3] [--partitions " STR(
        FP_KAFKA_EMBEDDED_PARTITIONS) "] "
                                      "[--bootstrap-file FILE] [--listen-host 127.0.0.1]\n\n"
                                      "Runs librdkafka's Kafka-protocol mock cluster: real Kafka "
                                      "wire protocol on loopback,\n"
                                      "consumer groups and offset commits, idempotent producers. "
                                      "It is IN MEMORY ONLY — every\n"
                                      "message is gone when it stops — and meant for development, "
                                      "tests and the demo, not\n"
                                      "production. Creates fms.vehicle, fms.cargo, fms.blackbox, "
                                      "fms.device and fms.deadletter;\n"
                                      "other topics are created on first use with 4 partitions.\n\n"
                                      "How much it holds: each partition keeps only its newest 5 "
                                      "MiB of record batches (and at\n"
                                      "most 100,000 batches; librdkafka 2.0.2 mock limits), so a "
                                      "topic holds --partitions x 5 MiB,\n"
                                      "in memory: " STR(
                                          FP_KAFKA_EMBEDDED_PARTITIONS) " x 5 MiB = 320 MiB per "
                                                                        "fms.* topic by default. "
                                                                        "Older messages are\n"
                                                                        "dropped; every second the "
                                                                        "broker checks each "
                                                                        "partition's log start "
                                                                        "offset and logs a WARN\n"
                                                                        "per partition naming the "
                                                                        "topic, the partition and "
                                                                        "how many messages it "
                                                                        "dropped\n"
                                                                        "(\"topic=T partition=P "
                                                                        "dropped=N dropped_total=M "
                                                                        "log_start=S\"). A "
                                                                        "consumer that had not\n"
                                                                        "read them has lost them: "
                                                                        "use more --partitions for "
                                                                        "more data, and keys that "
                                                                        "spread.\n\n"
                                                                        "Handing over the address: "
                                                                        "the first line on stdout "
                                                                        "is the bootstrap servers "
                                                                        "list\n"
                                                                        "(host:port,...); "
                                                                        "--bootstrap-file FILE "
                                                                        "also writes it to FILE "
                                                                        "once the broker is ready\n"
                                                                        "(atomically: FILE.tmp, "
                                                                        "then rename; FILE is "
                                                                        "removed on a clean stop), "
                                                                        "so a script can wait\n"
                                                                        "for it: `fleetpipe broker "
                                                                        "--bootstrap-file bs.txt & "
                                                                        "while [ ! -s bs.txt ]; do "
                                                                        "sleep 0.1;\n"
                                                                        "done`. It runs until "
                                                                        "SIGINT/SIGTERM. Commands "
                                                                        "given no "
                                                                        "--bootstrap-servers "
                                                                        "(connect, the\n"
                                                                        "demo) start one of these "
                                                                        "in-process.",
    broker_flags,
    sizeof(broker_opts),
    run,
};
