/* bridge.c — the MQTT to Kafka event loop (see bridge.h for the guarantee).
 *
 * Delivery reports run inside rd_kafka_poll(), which may be called from within the MQTT
 * message callback when the producer queue is full; they only append tokens to `done`, and the
 * loop hands those to fp_mqtt_done() between MQTT service calls, so the MQTT client is never
 * re-entered. Backpressure: a full producer queue (opts.queue_kbytes, the bridge's memory
 * budget) blocks the loop (no more MQTT reads), and the broker's in-flight window
 * (max_inflight_messages) stops the stream.
 */
#include "ingest/bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"

typedef struct bridge {
    const fp_bridge_opts *o;
    fp_mqtt *mqtt;
    rd_kafka_t *rk;
    const char *dlq_topic;
    fp_route_decision d;
    uint64_t *done; /* tokens delivered, not yet given to the MQTT client */
    size_t ndone, capdone;
    bool delivery_failed;
    int64_t last_msg_ms;
    fp_bridge_stats *st;
    fp_buf ts;
} bridge;

static void count_class(bridge *b, const char *cls)
{
    fp_bridge_class_count *c = b->st->dead_classes;
    for (size_t i = 0; i < FP_BRIDGE_CLASSES_MAX; i++) {
        if (!c[i].cls)
            c[i].cls = cls;
        if (c[i].cls == cls || !strcmp(c[i].cls, cls)) {
            c[i].n++;
            return;
        }
    }
}

#define REJECTED_VALUE_MAX (64 * 1024) /* a dead letter for a record Kafka refused */

/* Errors Kafka gives again for the same record. Redelivering it from MQTT would loop forever,
 * so such a record goes to the dead-letter topic instead (error.class kafka_rejected). */
static bool permanent(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return true;
    default:
        return false;
    }
}

/* Queues one record; waits while the producer queue is full (backpressure) unless wait is
 * false or the process is stopping. Takes h on success only. */
static rd_kafka_resp_err_t produce(bridge *b, const char *topic, const void *key, size_t klen,
                                   const void *val, size_t len, rd_kafka_headers_t *h,
                                   uint64_t token, bool wait)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            b->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)token), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || !wait || fp_stop_requested(b->o->stop))
            return e;
        rd_kafka_poll(b->rk, 20); /* deliveries make room */
    }
}

/* A record for `topic` that Kafka refused for good becomes a dead letter carrying the original
 * headers (mqtt.topic, ...), the reason, and at most REJECTED_VALUE_MAX bytes of the value (the
 * refusal may be its size). False when even that could not be queued. */
static bool dead_letter_rejected(bridge *b, const char *topic, const void *key, size_t klen,
                                 const void *val, size_t len, const rd_kafka_headers_t *orig,
                                 rd_kafka_resp_err_t why, uint64_t token, bool wait)
{
    rd_kafka_headers_t *h = orig ? rd_kafka_headers_copy(orig) : rd_kafka_headers_new(2);
    size_t keep = len > REJECTED_VALUE_MAX ? REJECTED_VALUE_MAX : len;
    fp_buf msg = FP_BUF_INIT;
    fp_buf_printf(&msg, "Kafka refused the record for %s: %s", topic, rd_kafka_err2str(why));
    if (keep < len)
        fp_buf_printf(&msg, " (value cut to its first %zu of %zu bytes)", keep, len);
    rd_kafka_header_remove(h, "error.class");
    rd_kafka_header_remove(h, "error.message");
    rd_kafka_header_add(h, "error.class", -1, "kafka_rejected", -1);
    rd_kafka_header_add(h, "error.message", -1, msg.p, (ssize_t)msg.len);
    fp_log(FP_LOG_WARN, "bridge", -1, "%s; dead-lettered", msg.p);
    fp_buf_free(&msg);
    rd_kafka_resp_err_t e = produce(b, b->dlq_topic, key, klen, val, keep, h, token, wait);
    if (e) {
        rd_kafka_headers_destroy(h);
        return false;
    }
    count_class(b, "kafka_rejected");
    return true;
}

/* Something failed that redelivery can fix: drop the MQTT connection so the broker resends
 * every unacknowledged message. Failures of an earlier connection's records change nothing:
 * the broker already resent them. */
static void need_redelivery(bridge *b, uint64_t token, const char *topic, rd_kafka_resp_err_t e)
{
    b->st->delivery_failures++;
    if (!fp_mqtt_token_current(b->mqtt, token) || b->delivery_failed)
        return;
    fp_log(FP_LOG_ERROR, "bridge", -1,
           "Kafka did not take a record for %s: %s; reconnecting to MQTT so the broker "
           "redelivers every unacknowledged message",
           topic, rd_kafka_err2str(e));
    b->delivery_failed = true;
}

static void mark_done(bridge *b, uint64_t token)
{
    if (b->ndone == b->capdone) {
        b->capdone = b->capdone ? 2 * b->capdone : 1024;
        b->done = fp_xrealloc(b->done, b->capdone * sizeof *b->done);
    }
    b->done[b->ndone++] = token;
}

/* Counts one forwarded record under its topic. Only this thread appends slots; a slot's name is
 * complete before the release store of ntopics makes it visible to a scrape. */
static void count_topic(fp_bridge_stats *st, const char *topic)
{
    size_t n = atomic_load_explicit(&st->ntopics, memory_order_relaxed);
    /* The last slot is kept for "_other", so that it always exists when needed. */
    const char *name =
        n >= FP_BRIDGE_TOPICS_MAX - 1 || strlen(topic) >= FP_BRIDGE_TOPIC_LEN ? "_other" : topic;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(st->topics[i].topic, name)) {
            atomic_fetch_add_explicit(&st->topics[i].n, 1, memory_order_relaxed);
            return;
        }
    }
    snprintf(st->topics[n].topic, sizeof st->topics[n].topic, "%s", name);
    atomic_store_explicit(&st->topics[n].n, 1, memory_order_relaxed);
    atomic_store_explicit(&st->ntopics, n + 1, memory_order_release);
}

/* Runs inside rd_kafka_poll() on the bridge's thread; keeps the state /healthz reports. A
 * broker connection failure reaches us twice: librdkafka logs it (its FAIL line, routed
 * through core/log by fp_kafka_producer_new) and also raises it here as an error event. So the
 * connection-level errors are logged there only; the rest (all brokers down, fatal errors)
 * have no log line of their own and are logged here. */
static void on_kafka_error(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    (void)rk;
    bridge *b = opaque;
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&b->st->kafka_up, false);
    switch (e) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        return; /* librdkafka's own log line said it */
    default:
        fp_log(FP_LOG_WARN, "bridge", -1, "kafka: %s: %s", rd_kafka_err2name(e), reason);
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    bridge *b = opaque;
    uint64_t token = (uint64_t)(uintptr_t)m->_private;
    const char *topic = rd_kafka_topic_name(m->rkt);
    bool dlq = !strcmp(topic, b->dlq_topic);
    if (m->err) {
        rd_kafka_headers_t *h = NULL;
        rd_kafka_message_headers(m, &h);
        /* Not waiting for queue space here: this runs inside rd_kafka_poll(). */
        if (dlq || !permanent(m->err) ||
            !dead_letter_rejected(b, topic, m->key, m->key_len, m->payload, m->len, h, m->err,
                                  token, false))
            need_redelivery(b, token, topic, m->err);
        return;
    }
    atomic_store(&b->st->kafka_up, true);
    if (dlq) {
        b->st->dead_lettered++;
    } else {
        b->st->forwarded++;
        count_topic(b->st, topic);
    }
    mark_done(b, token);
}

static void apply_done(bridge *b)
{
    for (size_t i = 0; i < b->ndone; i++)
        fp_mqtt_done(b->mqtt, b->done[i]);
    b->ndone = 0;
}

static void on_message(void *opaque, const fp_mqtt_msg *m)
{
    bridge *b = opaque;
    b->st->received++;
    b->st->redelivered += m->dup ? 1 : 0;
    b->last_msg_ms = fp_time_mono_ms();
    fp_route_message(b->o->rules, m->topic, m->payload, m->len, m->total_len, &b->d);
    const fp_route_decision *d = &b->d;
    fp_buf_reset(&b->ts);
    fp_time_format_iso(fp_time_now_ms(), &b->ts);
    rd_kafka_headers_t *h = rd_kafka_headers_new(d->dead_letter ? 4 : 2);
    rd_kafka_header_add(h, "mqtt.topic", -1, m->topic, (ssize_t)m->topic_len);
    rd_kafka_header_add(h, "mqtt.received_at", -1, b->ts.p, (ssize_t)b->ts.len);
    if (d->dead_letter) {
        count_class(b, d->error_class);
        rd_kafka_header_add(h, "error.class", -1, d->error_class, -1);
        rd_kafka_header_add(h, "error.message", -1, d->error_message.p,
                            (ssize_t)d->error_message.len);
        fp_log(FP_LOG_DEBUG, "bridge", -1, "dead letter from %s: %s: %s", m->topic, d->error_class,
               d->error_message.p);
    }
    rd_kafka_resp_err_t e =
        produce(b, d->topic.p, d->key.p, d->key.len, m->payload, m->len, h, m->token, true);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return; /* the producer owns h now */
    /* Not queued: the message stays unacknowledged, so the broker redelivers it unless it
     * becomes a dead letter now. */
    bool rejected = e != RD_KAFKA_RESP_ERR__QUEUE_FULL && !d->dead_letter && permanent(e) &&
                    dead_letter_rejected(b, d->topic.p, d->key.p, d->key.len, m->payload, m->len, h,
                                         e, m->token, true);
    rd_kafka_headers_destroy(h);
    if (!rejected && e != RD_KAFKA_RESP_ERR__QUEUE_FULL) /* QUEUE_FULL here means stopping */
        need_redelivery(b, m->token, d->topic.p, e);
}

static void drain_pipe(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

/* Connects and subscribes; on failure waits a jittered backoff (bounded by stop). */
static fp_code connect_mqtt(bridge *b, fp_backoff *backoff, bool first, fp_err *err)
{
    const char *const *filters = fp_route_filters(b->o->rules);
    size_t n = 0;
    while (filters[n])
        n++;
    char **shared = fp_xcalloc(n, sizeof *shared);
    for (size_t i = 0; i < n; i++) {
        fp_buf s = FP_BUF_INIT;
        if (b->o->group[0])
            fp_buf_printf(&s, "$share/%s/%s", b->o->group, filters[i]);
        else /* no group: a plain subscription, for a single bridge */
            fp_buf_puts(&s, filters[i]);
        shared[i] = fp_buf_steal(&s);
    }
    fp_code rc;
    for (;;) {
        int present = 0;
        rc = fp_mqtt_connect(b->mqtt, &present, err);
        if (!rc)
            rc = fp_mqtt_subscribe(b->mqtt, (const char *const *)shared, n, 1, err);
        if (!rc) {
            fp_log(FP_LOG_INFO, "bridge", -1, "connected to MQTT %s:%d as %s (session %s)",
                   b->o->mqtt.host, b->o->mqtt.port, b->o->mqtt.client_id,
                   present ? "resumed" : "new");
            fp_backoff_reset(backoff);
            if (b->o->on_subscribed)
                b->o->on_subscribed(b->o->ctx);
            break;
        }
        if ((first && rc == FP_ERR_CONFIG) || fp_stop_requested(b->o->stop))
            break;
        fp_log(FP_LOG_WARN, "bridge", -1, "MQTT: %s; retrying", err->msg);
        if (!fp_backoff_sleep(backoff, b->o->stop))
            break;
    }
    for (size_t i = 0; i < n; i++)
        free(shared[i]);
    free(shared);
    return rc;
}

static void print_status(bridge *b, const char *what)
{
    fp_mqtt_stats ms;
    fp_mqtt_get_stats(b->mqtt, &ms);
    b->st->acked = ms.acked;
    fp_buf cls = FP_BUF_INIT;
    const fp_bridge_class_count *c = b->st->dead_classes;
    for (size_t i = 0; i < FP_BRIDGE_CLASSES_MAX && c[i].cls; i++)
        fp_buf_printf(&cls, "%s%s=%llu", cls.len ? " " : "", c[i].cls, (unsigned long long)c[i].n);
    fp_log(FP_LOG_INFO, "bridge", -1,
           "%s: received %llu, forwarded %llu, dead-lettered %llu%s%s%s, acked %llu, "
           "redelivered %llu, delivery failures %llu, reconnects %llu",
           what, (unsigned long long)b->st->received, (unsigned long long)b->st->forwarded,
           (unsigned long long)b->st->dead_lettered, cls.len ? " (" : "", cls.len ? cls.p : "",
           cls.len ? ")" : "", (unsigned long long)ms.acked, (unsigned long long)b->st->redelivered,
           (unsigned long long)b->st->delivery_failures, (unsigned long long)b->st->reconnects);
    fp_buf_free(&cls);
}

/* What a scrape reads but only this thread may ask the MQTT client and producer. */
static void publish_gauges(bridge *b)
{
    fp_mqtt_stats ms;
    fp_mqtt_get_stats(b->mqtt, &ms);
    atomic_store_explicit(&b->st->acked, ms.acked, memory_order_relaxed);
    atomic_store_explicit(&b->st->mqtt_unacked, (int64_t)fp_mqtt_unacked(b->mqtt),
                          memory_order_relaxed);
    atomic_store_explicit(&b->st->kafka_inflight, (int64_t)rd_kafka_outq_len(b->rk),
                          memory_order_relaxed);
}

void fp_bridge_stats_init(fp_bridge_stats *st)
{
    atomic_store(&st->received, 0);
    atomic_store(&st->forwarded, 0);
    atomic_store(&st->dead_lettered, 0);
    atomic_store(&st->acked, 0);
    atomic_store(&st->redelivered, 0);
    atomic_store(&st->delivery_failures, 0);
    atomic_store(&st->reconnects, 0);
    atomic_store(&st->kafka_inflight, 0);
    atomic_store(&st->mqtt_unacked, 0);
    atomic_store(&st->mqtt_connected, false);
    atomic_store(&st->kafka_up, true);
    atomic_store(&st->ntopics, 0);
    for (size_t i = 0; i < FP_BRIDGE_TOPICS_MAX; i++) {
        st->topics[i].topic[0] = '\0';
        atomic_store(&st->topics[i].n, 0);
    }
    for (size_t i = 0; i < FP_BRIDGE_CLASSES_MAX; i++)
        st->dead_classes[i] = (fp_bridge_class_count){NULL, 0};
}

void fp_bridge_stats_write(void *ctx, fp_metrics_out *m)
{
    fp_bridge_stats *st = ctx;
    fp_metrics_family(m, "fleetpipe_bridge_mqtt_messages_received_total", FP_METRIC_COUNTER,
                      "MQTT messages the bridge received, redeliveries included.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&st->received));
    fp_metrics_family(m, "fleetpipe_bridge_mqtt_messages_acked_total", FP_METRIC_COUNTER,
                      "MQTT PUBACKs sent, each after Kafka acknowledged the message's record.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&st->acked));
    fp_metrics_family(m, "fleetpipe_bridge_mqtt_messages_redelivered_total", FP_METRIC_COUNTER,
                      "MQTT messages received with the DUP flag (redelivered by the broker).");
    fp_metrics_sample_u64(m, NULL, atomic_load(&st->redelivered));
    fp_metrics_family(m, "fleetpipe_bridge_mqtt_reconnects_total", FP_METRIC_COUNTER,
                      "MQTT connections lost and made again.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&st->reconnects));
    fp_metrics_family(m, "fleetpipe_bridge_mqtt_connected", FP_METRIC_GAUGE,
                      "1 while the bridge is connected and subscribed to the MQTT broker.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&st->mqtt_connected) ? 1 : 0);
    fp_metrics_family(m, "fleetpipe_bridge_mqtt_unacked_messages", FP_METRIC_GAUGE,
                      "MQTT messages received and not acknowledged yet.");
    fp_metrics_sample(m, NULL, (double)atomic_load(&st->mqtt_unacked));
    fp_metrics_family(m, "fleetpipe_bridge_records_forwarded_total", FP_METRIC_COUNTER,
                      "Records Kafka acknowledged on routed topics, by topic.");
    size_t n = atomic_load_explicit(&st->ntopics, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        fp_metrics_sample_u64(m, (const char *[]){"topic", st->topics[i].topic, NULL},
                              atomic_load(&st->topics[i].n));
    fp_metrics_family(m, "fleetpipe_bridge_records_dead_lettered_total", FP_METRIC_COUNTER,
                      "Records Kafka acknowledged on the dead-letter topic.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&st->dead_lettered));
    fp_metrics_family(m, "fleetpipe_bridge_kafka_delivery_failures_total", FP_METRIC_COUNTER,
                      "Kafka deliveries that failed (the messages are redelivered over MQTT).");
    fp_metrics_sample_u64(m, NULL, atomic_load(&st->delivery_failures));
    fp_metrics_family(m, "fleetpipe_bridge_kafka_inflight", FP_METRIC_GAUGE,
                      "Records in the Kafka producer not acknowledged yet.");
    fp_metrics_sample(m, NULL, (double)atomic_load(&st->kafka_inflight));
    fp_metrics_family(m, "fleetpipe_bridge_kafka_up", FP_METRIC_GAUGE,
                      "0 after the producer reported all Kafka brokers down, until the next "
                      "acknowledged record.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&st->kafka_up) ? 1 : 0);
}

bool fp_bridge_stats_healthy(void *ctx, fp_buf *reason)
{
    fp_bridge_stats *st = ctx;
    bool mq = atomic_load(&st->mqtt_connected), ka = atomic_load(&st->kafka_up);
    if (!mq)
        fp_buf_puts(reason, "mqtt: not connected");
    if (!ka)
        fp_buf_printf(reason, "%skafka: all brokers down", mq ? "" : "; ");
    return mq && ka;
}

fp_code fp_bridge_run(const fp_bridge_opts *o, fp_bridge_stats *stats, fp_err *err)
{
    bridge b = {0};
    b.o = o;
    b.st = stats;
    fp_bridge_stats_init(stats);
    b.dlq_topic = fp_route_deadletter_topic(o->rules);
    fp_route_decision_init(&b.d);
    fp_mqtt_opts mo = o->mqtt;
    mo.max_payload = fp_route_max_bytes(o->rules);
    b.mqtt = fp_mqtt_new(&mo, on_message, &b);
    int pipefd[2] = {-1, -1};
    fp_code rc = FP_OK;
    rd_kafka_conf_t *conf = o->kafka_conf ? o->kafka_conf : rd_kafka_conf_new();
    /* A record larger than the queue could never be queued: produce() would wait forever. */
    int64_t qkb = o->queue_kbytes > 0 ? o->queue_kbytes : FP_BRIDGE_QUEUE_KBYTES;
    int64_t need = (int64_t)(2 * mo.max_payload / 1024) + 64;
    if (qkb < need) {
        fp_log(FP_LOG_INFO, "bridge", -1,
               "producer queue raised from %" PRId64 " to %" PRId64
               " KiB: twice the largest message the rules accept",
               qkb, need);
        qkb = need;
    }
    char qv[32];
    snprintf(qv, sizeof qv, "%" PRId64, qkb);
    if (fp_kafka_conf_set(conf, "queue.buffering.max.kbytes", qv, err) ||
        fp_kafka_conf_set(conf, "message.max.bytes", "67108864", err)) {
        rd_kafka_conf_destroy(conf);
        rc = err->code;
        goto out;
    }
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    b.rk = fp_kafka_producer_new(o->bootstrap, conf, on_delivery, &b, err);
    if (!b.rk) {
        rc = err->code;
        goto out;
    }
    if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
        rc = fp_err_set(err, FP_ERR_IO, "pipe: %s", strerror(errno));
        goto out;
    }
    rd_kafka_queue_t *mainq = rd_kafka_queue_get_main(b.rk);
    rd_kafka_queue_io_event_enable(mainq, pipefd[1], "1", 1);
    rd_kafka_queue_destroy(mainq);

    fp_backoff backoff;
    fp_backoff_init(&backoff, 100, 5000);
    rc = connect_mqtt(&b, &backoff, true, err);
    if (rc)
        goto out;
    atomic_store(&stats->mqtt_connected, true);
    b.last_msg_ms = fp_time_mono_ms();
    int64_t next_status = fp_time_mono_ms() + o->status_interval_ms;
    while (!fp_stop_requested(b.o->stop)) {
        struct pollfd p[2] = {{fp_mqtt_fd(b.mqtt), fp_mqtt_poll_events(b.mqtt), 0},
                              {pipefd[0], POLLIN, 0}};
        int timeout = fp_mqtt_timeout_ms(b.mqtt);
        if (timeout < 0 || timeout > 200)
            timeout = 200;
        if (poll(p, 2, timeout) < 0 && errno != EINTR) {
            rc = fp_err_set(err, FP_ERR_IO, "poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents) {
            drain_pipe(pipefd[0]);
            rd_kafka_poll(b.rk, 0);
        }
        apply_done(&b);
        fp_err serr = {0};
        fp_code src = p[0].fd >= 0 ? fp_mqtt_service(b.mqtt, p[0].revents, &serr) : FP_ERR_IO;
        apply_done(&b);
        if (!src && b.delivery_failed) /* PUBACKs stop at the failed message; start over */
            src = fp_err_set(&serr, FP_ERR_IO, "a Kafka delivery failed");
        if (src) {
            fp_log(FP_LOG_WARN, "bridge", -1, "MQTT connection lost: %s", serr.msg);
            b.delivery_failed = false;
            b.ndone = 0; /* tokens of the old connection mean nothing now */
            stats->reconnects++;
            atomic_store(&stats->mqtt_connected, false);
            if (connect_mqtt(&b, &backoff, false, err))
                break;
            atomic_store(&stats->mqtt_connected, true);
        }
        publish_gauges(&b);
        char kerr[256];
        rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(b.rk, kerr, sizeof kerr);
        if (fatal) {
            rc = fp_err_set(err, FP_ERR_KAFKA, "fatal producer error: %s", kerr);
            break;
        }
        int64_t now = fp_time_mono_ms();
        if (now >= next_status) {
            print_status(&b, "status");
            next_status = now + o->status_interval_ms;
        }
        if (o->exit_when_idle_ms > 0 && now - b.last_msg_ms >= o->exit_when_idle_ms &&
            rd_kafka_outq_len(b.rk) == 0 && fp_mqtt_unacked(b.mqtt) == 0)
            break;
    }
    /* Clean stop: whatever Kafka confirms in time gets its PUBACK; the rest is redelivered. */
    if (rd_kafka_flush(b.rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fp_log(FP_LOG_WARN, "bridge", -1,
               "%d records not confirmed by Kafka at exit; the broker will redeliver them",
               rd_kafka_outq_len(b.rk));
    rd_kafka_poll(b.rk, 0);
    apply_done(&b);
    fp_mqtt_disconnect(b.mqtt);
    atomic_store(&stats->mqtt_connected, false);
    publish_gauges(&b);
    print_status(&b, "stopped");
out:
    if (b.rk)
        rd_kafka_destroy(b.rk);
    if (pipefd[0] >= 0) {
        close(pipefd[0]);
        close(pipefd[1]);
    }
    fp_mqtt_free(b.mqtt);
    fp_route_decision_free(&b.d);
    fp_buf_free(&b.ts);
    free(b.done);
    return rc;
}
