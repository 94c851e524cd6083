/* route.h — the bridge's routing rules and envelope validation (the role of AWS IoT rules).
 *
 * A rules file maps MQTT topic filters to a Kafka topic template and a record key template:
 *
 *   {"rules": [{"filter": "fms/+/+/+", "topic": "fms.${object}", "key": "${device_id}",
 *               "device_segment": 1}],
 *    "deadletter_topic": "fms.deadletter", "max_message_bytes": 1048576}
 *
 * Templates take ${object}, ${type}, ${device_id} and ${id} from the validated envelope and
 * ${topic.N} from the MQTT topic's N-th segment (0-based). fp_route_message() decides where one
 * message goes: to the first rule whose filter matches, or to the dead-letter topic with an
 * error class and a message that names the problem. Valid messages are never rewritten; the
 * caller forwards the original bytes.
 */
#ifndef FP_INGEST_ROUTE_H
#define FP_INGEST_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/mem.h"

typedef struct fp_route_table fp_route_table;

/* path NULL: the default rule above. known_objects: NULL-terminated list of allowed `object`
 * values (from the protocol registry); NULL accepts any. Errors name the file and rule. */
fp_route_table *fp_route_load(const char *path, const char *const *known_objects, fp_err *err);
void fp_route_free(fp_route_table *t);

/* The filters to subscribe to, NULL-terminated (owned by the table). */
const char *const *fp_route_filters(const fp_route_table *t);
const char *fp_route_deadletter_topic(const fp_route_table *t);
size_t fp_route_max_bytes(const fp_route_table *t);

/* Where a message goes. Strings in topic/key are owned by the decision's buffers. */
typedef struct fp_route_decision {
    bool dead_letter;
    const char *error_class; /* dead letters: "invalid_json", "missing_field", "bad_field",
                                "unknown_object", "too_large", "spoofed_device", "no_route",
                                "bad_route" */
    fp_buf topic, key, error_message;
} fp_route_decision;

void fp_route_decision_init(fp_route_decision *d);
void fp_route_decision_free(fp_route_decision *d);

/* Routes one message. total_len > len means the payload was truncated on receipt (it is
 * dead-lettered as too_large). The dead-letter key is the topic's device segment when known. */
void fp_route_message(const fp_route_table *t, const char *mqtt_topic, const char *payload,
                      size_t len, size_t total_len, fp_route_decision *d);

/* MQTT topic filter matching with + and # (MQTT 3.1.1 section 4.7); $-topics match only
 * filters that start with the same literal level. */
bool fp_route_topic_matches(const char *filter, const char *topic);

#endif
