/* cmd_bridge.c — `fleetpipe bridge`: MQTT to Kafka routing with dead letters (ingest/bridge.h).
 *
 * The password comes from --mqtt-password-file or FLEETPIPE_MQTT_PASSWORD, never from the
 * command line, so it does not show in ps(1).
 */
#include <jansson.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "core/log.h"
#include "core/url.h"
#include "ingest/bridge.h"
#include "kafka/kafka.h"
#include "ops/metrics.h"
#include "sim/provision.h"
#include "sim/sim.h"

typedef struct bridge_opts {
    char *mqtt, *bootstrap, *rules, *group, *client_id, *username, *password_file, *cafile,
        *certfile, *keyfile, *protocols, *metrics_listen, *status_format;
    bool insecure;
    int64_t keepalive, exit_when_idle, status_interval, kafka_queue_kb;
} bridge_opts;

static const fp_conf_def bridge_flags[] = {
    {"mqtt", FP_CONF_STRING, "mqtt://127.0.0.1:1883", offsetof(bridge_opts, mqtt),
     "MQTT broker, mqtt://host:port or mqtts://host:port (TLS)", NULL, 0, 0},
    {"bootstrap-servers", FP_CONF_STRING, NULL, offsetof(bridge_opts, bootstrap),
     "Kafka cluster to write to", NULL, 0, 0},
    {"rules", FP_CONF_STRING, "", offsetof(bridge_opts, rules),
     "routing rules (JSON); default: fms/+/+/+ -> fms.${object}, key ${device_id}", NULL, 0, 0},
    {"group", FP_CONF_STRING, "fleetpipe-bridge", offsetof(bridge_opts, group),
     "shared subscription group: bridges of one group split the messages; empty: a plain "
     "subscription for a single bridge (survives broker restarts, see docs/ingest.md)",
     NULL, 0, 0},
    {"client-id", FP_CONF_STRING, "", offsetof(bridge_opts, client_id),
     "MQTT client id, stable across restarts so the session resumes; default "
     "<group>-<hostname> (give each bridge on one host its own)",
     NULL, 0, 0},
    {"mqtt-username", FP_CONF_STRING, "", offsetof(bridge_opts, username), "MQTT user name", NULL,
     0, 0},
    {"mqtt-password-file", FP_CONF_STRING, "", offsetof(bridge_opts, password_file),
     "file whose first line is the MQTT password (or set FLEETPIPE_MQTT_PASSWORD)", NULL, 0, 0},
    {"mqtt-cafile", FP_CONF_STRING, "", offsetof(bridge_opts, cafile),
     "CA certificate (PEM) to verify the broker; default: the system store", NULL, 0, 0},
    {"mqtt-certfile", FP_CONF_STRING, "", offsetof(bridge_opts, certfile),
     "client certificate (PEM) for TLS client authentication", NULL, 0, 0},
    {"mqtt-keyfile", FP_CONF_STRING, "", offsetof(bridge_opts, keyfile),
     "private key (PEM) of --mqtt-certfile", NULL, 0, 0},
    {"mqtt-insecure", FP_CONF_BOOL, NULL, offsetof(bridge_opts, insecure),
     "do not verify the broker's certificate (testing only)", NULL, 0, 0},
    {"keepalive", FP_CONF_MS, "30s", offsetof(bridge_opts, keepalive), "MQTT keepalive", NULL, 1000,
     65535000},
    {"protocols", FP_CONF_STRING, "", offsetof(bridge_opts, protocols),
     "protocol registry (JSON) whose objects are accepted; default: the built-in one", NULL, 0, 0},
    {"exit-when-idle", FP_CONF_MS, "0", offsetof(bridge_opts, exit_when_idle),
     "stop cleanly once nothing arrived for this long and everything is acknowledged; 0: run "
     "until SIGINT/SIGTERM",
     NULL, 0, 0},
    {"kafka-queue-kb", FP_CONF_INT, "8192", offsetof(bridge_opts, kafka_queue_kb),
     "memory budget: KiB of records waiting for Kafka's acknowledgement (the producer's "
     "queue.buffering.max.kbytes); when full, MQTT reads pause",
     NULL, 1024, 2097151},
    {"status-interval", FP_CONF_MS, "10s", offsetof(bridge_opts, status_interval),
     "period of the status line on stderr", NULL, 1, INT64_MAX},
    {"metrics-listen", FP_CONF_STRING, "", offsetof(bridge_opts, metrics_listen),
     "serve Prometheus /metrics and /healthz on this address (e.g. 127.0.0.1:9464); empty: off",
     NULL, 0, 0},
    FP_CLI_STATUS_FLAG(bridge_opts),
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

/* The final status line's numbers: the last status line on stderr, with the per-topic and
 * per-reason counts. */
static json_t *status_json(const fp_bridge_stats *st)
{
    json_t *topics = json_object(), *classes = json_object();
    size_t nt = atomic_load(&st->ntopics);
    for (size_t i = 0; i < nt && i < FP_BRIDGE_TOPICS_MAX; i++)
        json_object_set_new(topics, st->topics[i].topic,
                            json_integer((json_int_t)atomic_load(&st->topics[i].n)));
    for (size_t i = 0; i < FP_BRIDGE_CLASSES_MAX && st->dead_classes[i].cls; i++)
        json_object_set_new(classes, st->dead_classes[i].cls,
                            json_integer((json_int_t)st->dead_classes[i].n));
    return json_pack("{s:I,s:I,s:o,s:I,s:o,s:I,s:I,s:I,s:I}", "received",
                     (json_int_t)atomic_load(&st->received), "forwarded",
                     (json_int_t)atomic_load(&st->forwarded), "forwarded_by_topic", topics,
                     "dead_lettered", (json_int_t)atomic_load(&st->dead_lettered),
                     "dead_letters_by_class", classes, "acked", (json_int_t)atomic_load(&st->acked),
                     "redelivered", (json_int_t)atomic_load(&st->redelivered), "delivery_failures",
                     (json_int_t)atomic_load(&st->delivery_failures), "reconnects",
                     (json_int_t)atomic_load(&st->reconnects));
}

static int run(const fp_cmd *cmd, void *opts)
{
    bridge_opts *o = opts;
    fp_err err = {0};
    int rc = 0;
    fp_buf cid = FP_BUF_INIT;
    char *host = NULL, *password = NULL, **objects = NULL;
    fp_route_table *rules = NULL;
    fp_sim_registry *reg = NULL;
    fp_metrics_server *metrics = NULL;
    int port = 0, tls = 0;
    if (fp_kafka_bootstrap_check("--bootstrap-servers", o->bootstrap, &err)) {
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    if (fp_url_mqtt(o->mqtt, &host, &port, &tls, &err)) {
        fp_err_prefix(&err, "--mqtt");
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    if (o->password_file[0]) {
        password = fp_sim_read_secret(o->password_file, &err);
        if (!password) {
            rc = fp_cli_fail(cmd, &err);
            goto out;
        }
    } else if (getenv("FLEETPIPE_MQTT_PASSWORD")) {
        password = fp_xstrdup(getenv("FLEETPIPE_MQTT_PASSWORD"));
    }
    reg = fp_sim_registry_load(o->protocols[0] ? o->protocols : NULL, &err);
    if (!reg) {
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    objects = fp_sim_registry_objects(reg);
    rules = fp_route_load(o->rules[0] ? o->rules : NULL, (const char *const *)objects, &err);
    if (!rules) {
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    if (o->client_id[0]) {
        fp_buf_puts(&cid, o->client_id);
    } else {
        char hn[HOST_NAME_MAX + 1] = "localhost";
        gethostname(hn, sizeof hn);
        hn[HOST_NAME_MAX] = '\0';
        fp_buf_printf(&cid, "%s-%s", o->group, hn);
    }
    fp_bridge_opts bo = {
        .stop = fp_sig_token(),
        .mqtt =
            {
                .host = host,
                .port = port,
                .client_id = cid.p,
                .username = o->username[0] ? o->username : NULL,
                .password = password,
                .clean_session = 0,
                .keepalive_s = (int)(o->keepalive / 1000),
                .tls = tls,
                .tls_ca_file = o->cafile[0] ? o->cafile : NULL,
                .tls_cert_file = o->certfile[0] ? o->certfile : NULL,
                .tls_key_file = o->keyfile[0] ? o->keyfile : NULL,
                .tls_insecure = o->insecure,
            },
        .group = o->group,
        .bootstrap = o->bootstrap,
        .queue_kbytes = o->kafka_queue_kb,
        .rules = rules,
        .exit_when_idle_ms = o->exit_when_idle,
        .status_interval_ms = o->status_interval,
    };
    fp_sig_install();
    static fp_bridge_stats st; /* ~8 KiB, read by the metrics thread */
    fp_bridge_stats_init(&st);
    if (fp_metrics_serve(o->metrics_listen, fp_bridge_stats_write, fp_bridge_stats_healthy, &st,
                         &metrics, &err)) {
        fp_err_prefix(&err, "--metrics-listen");
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    fp_code brc = fp_bridge_run(&bo, &st, &err);
    if (brc == FP_ERR_CONFIG) {
        rc = fp_cli_fail(cmd, &err);
    } else if (brc) {
        fprintf(stderr, "fleetpipe bridge: %s\n", err.msg);
        rc = 1;
    }
    fp_cli_status_print(cmd, o->status_format, status_json(&st), rc, stdout);
out:
    fp_metrics_server_stop(metrics);
    fp_sim_registry_objects_free(objects);
    fp_sim_registry_free(reg);
    fp_route_free(rules);
    free(host);
    free(password);
    fp_buf_free(&cid);
    return rc;
}

const fp_cmd fp_cmd_bridge = {
    "bridge",
    "MQTT to Kafka: route by object, dead-letter bad or spoofed messages, ack after Kafka",
    "usage: fleetpipe bridge --bootstrap-servers BS [--mqtt mqtt://host:port] [--rules FILE]\n"
    "                        [--group NAME] [--client-id ID] [--mqtt-username U\n"
    "                        --mqtt-password-file F] [--mqtt-cafile CA ...]\n"
    "                        [--metrics-listen 127.0.0.1:9464]\n\n"
    "Subscribes to $share/<group>/<filter> for every rule (QoS 1, persistent session), checks\n"
    "each message against the envelope of PROTOCOLS.md and forwards it byte for byte to the\n"
    "rule's Kafka topic (default fms.<object>, key device_id, headers mqtt.topic and\n"
    "mqtt.received_at). Invalid JSON, a missing or mistyped envelope field, an unknown object,\n"
    "a payload over the size limit, a device_id that differs from the topic's device segment,\n"
    "or a topic no rule matches goes to fms.deadletter with error.class and error.message\n"
    "headers. A message is acknowledged (PUBACK) only after Kafka confirmed its record, so a\n"
    "crash loses nothing: the broker redelivers (at-least-once). Rules file:\n"
    "  "
    "{\"rules\":[{\"filter\":\"fms/+/+/+\",\"topic\":\"fms.${object}\",\"key\":\"${device_id}\",\n"
    "              \"device_segment\":1}],\n"
    "   \"deadletter_topic\":\"fms.deadletter\",\"max_message_bytes\":1048576}\n"
    "Templates: ${object} ${type} ${device_id} ${id} ${topic.N}. See docs/ingest.md.\n"
    "--metrics-listen serves Prometheus /metrics (fleetpipe_bridge_*) and /healthz (503 while\n"
    "MQTT is disconnected or every Kafka broker is down); see docs/operations.md.\n"
    "--status-format json prints the final counts as one JSON line on stdout when it stops:\n"
    "received, forwarded, forwarded_by_topic, dead_lettered, dead_letters_by_class, acked,\n"
    "redelivered, delivery_failures, reconnects (plus command, exit_code).",
    bridge_flags,
    sizeof(bridge_opts),
    run,
};
