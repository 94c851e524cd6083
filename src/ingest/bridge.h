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
#include <stdint.h>

#include "core/err.h"
#include "ingest/mqtt.h"
#include "ingest/route.h"

typedef struct fp_bridge_opts {
    fp_mqtt_opts mqtt;           /* client id, credentials, TLS; max_payload is set from rules */
    const char *group;           /* shared subscription group ($share/<group>/<filter>) */
    const char *bootstrap;       /* Kafka bootstrap servers */
    rd_kafka_conf_t *kafka_conf; /* extra producer settings or NULL; the bridge takes ownership */
    const fp_route_table *rules;
    int64_t exit_when_idle_ms; /* > 0: stop once nothing arrived for this long and all is acked */
    int64_t status_interval_ms;
    /* Called (on the bridge's thread) after every successful subscribe, or NULL: lets an
     * in-process publisher wait until the persistent session exists. */
    void (*on_subscribed)(void *ctx);
    void *ctx;
} fp_bridge_opts;

typedef struct fp_bridge_stats {
    uint64_t received;      /* MQTT messages handed to the bridge (redeliveries included) */
    uint64_t forwarded;     /* records Kafka acknowledged on routed topics */
    uint64_t dead_lettered; /* records Kafka acknowledged on the dead-letter topic */
    uint64_t acked;         /* PUBACKs sent */
    uint64_t redelivered;   /* messages with the MQTT DUP flag */
    uint64_t delivery_failures;
    uint64_t reconnects;
} fp_bridge_stats;

/* Runs until SIGINT/SIGTERM (cli/sig.h) or idle exit. Returns FP_OK after a clean stop (Kafka
 * flushed, PUBACKs written, DISCONNECT sent); FP_ERR_CONFIG when the broker refuses the
 * credentials or a subscription at start-up; FP_ERR_KAFKA on a fatal producer error. */
fp_code fp_bridge_run(const fp_bridge_opts *o, fp_bridge_stats *stats, fp_err *err);

#endif
