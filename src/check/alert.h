/* alert.h — alerts on state changes of data-quality checks (and the scheduler's deadlines) to
 * Slack incoming webhooks and a generic JSON webhook (docs/checks.md, "Alerts").
 *
 * A key (a check and its target, a DAG's deadline) has a status: pass, warn, fail or error. An
 * alert fires when a key leaves pass, repeats while it stays failing only after the quiet time,
 * and a "resolved" message follows when it passes again. The last status and send time of each
 * key live in PostgreSQL (ops.dq_alert_state), so one-shot `check run`s and a long-running
 * scheduler share them. Delivery is queued and retried (429 with Retry-After, 5xx, connection
 * errors) on the alerter's own thread: a webhook outage never blocks or fails the caller;
 * what cannot be delivered is counted as lost. Webhook URLs are secrets read from files and
 * never logged.
 *
 * Ownership and threads: an fp_alert is used by one thread at a time (its delivery thread is
 * internal); fp_alert_free joins it.
 */
#ifndef FP_CHECK_ALERT_H
#define FP_CHECK_ALERT_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "pg/pg.h"

typedef struct fp_alert fp_alert;

/* conf: the "alerts" object of the checks' config (NULL: alerts off, every call a no-op);
 * relative url files are read from base_dir. FP_ERR_CONFIG naming the key otherwise. */
fp_code fp_alert_open(const json_t *conf, const char *base_dir, fp_alert **out, fp_err *err);

/* Reports key's current status ("pass", "warn", "fail", "error") with a title and a text for
 * the message; decides against ops.dq_alert_state (over pg, the caller's connection) whether
 * to send, and queues the message. Returns at once. */
fp_code fp_alert_report(fp_alert *a, fp_pg *pg, const char *key, const char *status,
                        const char *title, const char *text, fp_err *err);

/* Waits up to timeout_ms for the queue to drain (a CLI before it exits); what is still queued
 * then counts as lost. */
void fp_alert_flush(fp_alert *a, int64_t timeout_ms);

/* Prometheus text of the alerter's counters (sent, failed tries, retries, lost, per sink). */
void fp_alert_metrics(const fp_alert *a, fp_buf *out);

void fp_alert_free(fp_alert *a);

#endif
