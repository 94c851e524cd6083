/* bridge.h — MQTT to Kafka, acknowledging nothing before Kafka has it.
 *
 * One thread, one event loop: the MQTT subscriber (ingest/mqtt.h, shared subscription,
 * persistent session), the routing rules (ingest/route.h) and an idempotent librdkafka
 * producer whose delivery reports wake the loop through a pipe. A QoS 1 message's PUBACK goes
 * out only when its record (or its dead letter) is acknowledged by Kafka, in receive order; a
 * failed delivery drops the MQTT connection so the broker redelivers everything unacknowledged.
 * Guarantee: at-least-once from the broker's queue into Kafka; duplicates happen after crashes
 * and reconnects, losses do not.
 */
#ifndef FP_INGEST_BRIDGE_H
#define FP_INGEST_BRIDGE_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/stop.h"
#include "ingest/mqtt.h"
#include "ingest/route.h"
#include "ops/metrics.h"

/* Default producer queue bound (KiB): 8 MiB is ~100 ms of records at the bridge's ~9,000
 * msg/s of 8.6 KB messages, several Kafka round trips, so it costs no throughput
 * (bench/memory.sh); librdkafka's 1 GiB default, or the 256 MiB used before, let 20,000
 * queued MQTT messages take 120-220 MiB. */
#define FP_BRIDGE_QUEUE_KBYTES 8192

typedef struct fp_bridge_opts {
    fp_mqtt_opts mqtt;           /* client id, credentials, TLS; max_payload is set from rules */
    const char *group;           /* shared subscription group ($share/<group>/<filter>) */
    const char *bootstrap;       /* Kafka bootstrap servers */
    rd_kafka_conf_t *kafka_conf; /* extra producer settings or NULL; the bridge takes ownership */
    const fp_route_table *rules;
    int64_t exit_when_idle_ms; /* > 0: stop once nothing arrived for this long and all is acked */
    /* The bridge's memory budget: KiB of records the producer may hold before Kafka acknowledged
     * them (queue.buffering.max.kbytes). A full queue stops MQTT reads until deliveries make
     * room, so it bounds the messages in flight whatever the broker's window. 0:
     * FP_BRIDGE_QUEUE_KBYTES; raised to twice the rules' largest message if smaller. */
    int64_t queue_kbytes;
    int64_t status_interval_ms;
    /* Called (on the bridge's thread) after every successful subscribe, or NULL: lets an
     * in-process publisher wait until the persistent session exists. */
    void (*on_subscribed)(void *ctx);
    void *ctx;
    const fp_stop *stop; /* the owner's stop token (SIGINT/SIGTERM in the CLI); may be NULL */
} fp_bridge_opts;

/* Records forwarded per Kafka topic: the first FP_BRIDGE_TOPICS_MAX topics get their own slot,
 * later ones share the last ("_other"); routed topics are few (one per object). */
#define FP_BRIDGE_TOPICS_MAX 32
#define FP_BRIDGE_TOPIC_LEN 250
typedef struct fp_bridge_topic_count {
    char topic[FP_BRIDGE_TOPIC_LEN]; /* written once, before ntopics publishes the slot */
    _Atomic uint64_t n;
} fp_bridge_topic_count;

/* Dead letters per error.class (route.h's classes, bad_route, kafka_rejected). Not atomic: the
 * bridge's thread writes them and nobody else reads them before fp_bridge_run() returns. */
#define FP_BRIDGE_CLASSES_MAX 16
typedef struct fp_bridge_class_count {
    const char *cls; /* a string with static storage; NULL: slot unused */
    uint64_t n;
} fp_bridge_class_count;

/* Written by the bridge's thread only; atomics because /metrics reads them from an HTTP thread
 * while the bridge runs (fp_bridge_stats_write). */
typedef struct fp_bridge_stats {
    _Atomic uint64_t received;      /* MQTT messages handed to the bridge (redeliveries included) */
    _Atomic uint64_t forwarded;     /* records Kafka acknowledged on routed topics */
    _Atomic uint64_t dead_lettered; /* records Kafka acknowledged on the dead-letter topic */
    _Atomic uint64_t acked;         /* PUBACKs sent */
    _Atomic uint64_t redelivered;   /* messages with the MQTT DUP flag */
    _Atomic uint64_t delivery_failures;
    _Atomic uint64_t reconnects;
    _Atomic int64_t kafka_inflight; /* records in the producer, not yet acknowledged by Kafka */
    _Atomic int64_t mqtt_unacked;   /* messages received whose PUBACK is not written yet */
    _Atomic bool mqtt_connected;
    _Atomic bool kafka_up; /* false after "all brokers down", true again on the next delivery */
    _Atomic size_t ntopics;
    fp_bridge_topic_count topics[FP_BRIDGE_TOPICS_MAX];
    fp_bridge_class_count dead_classes[FP_BRIDGE_CLASSES_MAX];
} fp_bridge_stats;

/* Runs until o->stop is requested or idle exit; resets stats first (atomically, so a
 * scrape may already read them). Returns FP_OK after a clean stop (Kafka flushed, PUBACKs written,
 * DISCONNECT sent); FP_ERR_CONFIG when the broker refuses the credentials or a subscription at
 * start-up; FP_ERR_KAFKA on a fatal producer error. */
fp_code fp_bridge_run(const fp_bridge_opts *o, fp_bridge_stats *stats, fp_err *err);

/* Zeroes stats with atomic stores. */
void fp_bridge_stats_init(fp_bridge_stats *stats);
/* An fp_metrics_writer (ctx: fp_bridge_stats): fleetpipe_bridge_mqtt_messages_received_total,
 * _mqtt_messages_acked_total, _mqtt_messages_redelivered_total, _mqtt_reconnects_total,
 * _mqtt_connected, _mqtt_unacked_messages, _records_forwarded_total{topic},
 * _records_dead_lettered_total, _kafka_delivery_failures_total, _kafka_inflight, _kafka_up. */
void fp_bridge_stats_write(void *stats, fp_metrics_out *m);
/* An fp_health_fn (ctx: fp_bridge_stats): unhealthy while MQTT is disconnected or every Kafka
 * broker is down. */
bool fp_bridge_stats_healthy(void *stats, fp_buf *reason);

#endif
