/* cmd_broker.c — `fleetpipe broker`: the in-memory Kafka-protocol development broker.
 *
 * Prints the bootstrap servers as the first line of stdout (scripts read it), then runs until
 * SIGINT/SIGTERM. Data lives in this process's memory only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "kafka/kafka.h"

typedef struct broker_opts {
    int64_t brokers, partitions, fail_produce;
    char *listen_host;
} broker_opts;

static const fp_conf_def broker_flags[] = {
    {"brokers", FP_CONF_INT, "3", offsetof(broker_opts, brokers), "number of brokers", NULL, 1, 16},
    {"partitions", FP_CONF_INT, "6", offsetof(broker_opts, partitions),
     "partitions of each fms.* topic", NULL, 1, 1000},
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
    printf("%s\n", fp_kafka_embedded_bootstraps(e));
    fflush(stdout);
    fprintf(stderr,
            "fleetpipe broker: %lld in-memory brokers at %s; topics fms.vehicle fms.cargo "
            "fms.blackbox fms.device fms.deadletter (%lld partitions each). Data is lost on "
            "exit. Ctrl-C to stop.\n",
            (long long)o->brokers, fp_kafka_embedded_bootstraps(e), (long long)o->partitions);
    while (!fp_stop_requested(fp_sig_token()))
        usleep(100 * 1000);
    fp_kafka_embedded_stop(e);
    fprintf(stderr, "fleetpipe broker: stopped\n");
out:
    return rc;
}

const fp_cmd fp_cmd_broker = {
    "broker",
    "in-memory Kafka-protocol broker for development and tests (data gone when it stops)",
    "usage: fleetpipe broker [--brokers 3] [--partitions 6] [--listen-host 127.0.0.1]\n\n"
    "Runs librdkafka's Kafka-protocol mock cluster: real Kafka wire protocol on loopback,\n"
    "consumer groups and offset commits, idempotent producers. It is IN MEMORY ONLY — every\n"
    "message is gone when it stops — and meant for development, tests and the demo, not\n"
    "production. Creates fms.vehicle, fms.cargo, fms.blackbox, fms.device and fms.deadletter;\n"
    "other topics are created on first use with 4 partitions. Each partition keeps only its\n"
    "newest 5 MiB (librdkafka 2.0.2 mock limit): older messages are silently dropped, so use\n"
    "more --partitions for more data (about 32 for 100 MB).\n\n"
    "The first line on stdout is the bootstrap servers list (host:port,...); it runs until\n"
    "SIGINT/SIGTERM. Commands given no --bootstrap-servers start one of these in-process.",
    broker_flags,
    sizeof(broker_opts),
    run,
};
