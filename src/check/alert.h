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

/* conf: the "alerts" object of the checks' config (NULL: alerts off, *out = NULL, and every
 * function below takes a NULL fp_alert as a no-op); relative url files are read from base_dir.
 * FP_ERR_CONFIG naming the key otherwise (unknown keys included), or naming the url file —
 * never its content. Starts one delivery thread per sink. */
fp_code fp_alert_open(const json_t *conf, const char *base_dir, fp_alert **out, fp_err *err);

/* Reports key's current status ("pass", "warn", "fail", "error") with a title and a text for
 * the message; decides against ops.dq_alert_state (over pg, the caller's connection) whether
 * to send, and queues the message. Returns at once. */
fp_code fp_alert_report(fp_alert *a, fp_pg *pg, const char *key, const char *status,
                        const char *title, const char *text, fp_err *err);

/* fp_alert_report with the facts of the result (a JSON object, may be NULL, not taken): check,
 * target, interval_start, interval_end, observed, threshold, ... Slack shows them as a
 * section's fields, the webhook carries them as top-level keys. The report runs in its own
 * short transaction, or in the caller's when one is open (then its lock on the key is held
 * until the caller commits). FP_ERR_INVALID for a bad key or status; pg errors as pg.h. */
fp_code fp_alert_report_fields(fp_alert *a, fp_pg *pg, const char *key, const char *status,
                               const char *title, const char *text, const json_t *fields,
                               fp_err *err);

/* Writes the outcomes of finished deliveries into ops.dq_alert_state: a message that no sink
 * delivered restores the key's previous "told" state, so its next report fires again rather
 * than being suppressed for the quiet time. fp_alert_report does this first; a CLI calls it
 * after fp_alert_flush. */
fp_code fp_alert_sync(fp_alert *a, fp_pg *pg, fp_err *err);

/* Waits up to timeout_ms for the queue to drain (a CLI before it exits); what is still queued
 * then counts as lost, and a delivery in flight is abandoned (at most one progress tick
 * later). The alerter stays usable. fp_alert_free without a flush loses what is queued. */
void fp_alert_flush(fp_alert *a, int64_t timeout_ms);

/* Prometheus text of the alerter's counters (docs/checks.md, "Alerts"), appended to out;
 * any thread. */
void fp_alert_metrics(const fp_alert *a, fp_buf *out);

/* The same numbers as JSON (new reference): {"decisions": {fire, repeat, suppress, resolved,
 * none}, "sinks": {name: {sent, attempts, retries, retries_by, lost, lost_by,
 * last_http_status}}}. Any thread. */
json_t *fp_alert_stats_json(const fp_alert *a);

void fp_alert_free(fp_alert *a);

#endif
