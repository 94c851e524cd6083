/* alert_int.h — the pure parts of the alerter (check/alert.h), visible to its unit tests: the
 * decision rule and the two payloads. Nothing outside src/check and tests/unit includes it.
 * Threads: pure functions; any thread.
 */
#ifndef FP_CHECK_ALERT_INT_H
#define FP_CHECK_ALERT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum fp_alert_decision {
    FP_ALERT_NONE,     /* passing, and nobody was told otherwise: nothing to say */
    FP_ALERT_FIRE,     /* entered a failing status (from pass, or a different failing status) */
    FP_ALERT_REPEAT,   /* still the same failing status, and the quiet time has passed */
    FP_ALERT_SUPPRESS, /* still the same failing status within the quiet time */
    FP_ALERT_RESOLVED, /* passing again after receivers were told it failed */
} fp_alert_decision;

const char *fp_alert_decision_name(fp_alert_decision d);

/* True for "warn", "fail", "error"; false for "pass". */
bool fp_alert_status_failing(const char *status);

/* The rule. told: the status the receivers were last told (a failing status, "pass" after a
 * resolved message, NULL when never told); told_at_ms: when; now_ms: the database's clock. */
fp_alert_decision fp_alert_decide(const char *told, int64_t told_at_ms, const char *status,
                                  int64_t now_ms, int64_t quiet_ms);

/* The facts of one message. fields: extra facts (check, target, interval, observed,
 * threshold, ...) as a JSON object, or NULL. since: when the key entered status (ISO-8601). */
typedef struct fp_alert_msg {
    const char *key, *status, *prev_status, *title, *text, *since, *at;
    fp_alert_decision decision;
    const json_t *fields;
} fp_alert_msg;

/* Slack incoming-webhook body: "text" (the plain fallback of notifications) and "blocks"
 * (header, section text, section fields, context), within Slack's block limits. New
 * reference. */
json_t *fp_alert_slack_payload(const fp_alert_msg *m);
/* Generic webhook body: one flat object with the same facts (fields merged at top level,
 * the reserved names win). New reference. */
json_t *fp_alert_webhook_payload(const fp_alert_msg *m);

#endif
