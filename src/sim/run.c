/* run.c — the simulator's clock, threads and publishers (see run.h).
 *
 * Each worker thread owns a slice of the devices (vehicle i goes to thread i % threads) and
 * loops: advance every device that is due up to the simulated "now", then service the MQTT
 * sockets with poll(). Simulated now is start + wall time x speedup, or, as fast as possible, a
 * horizon that moves 10 simulated seconds once every device of the thread has reached it, so
 * devices stay roughly in step and the broker sees an interleaved fleet. libmosquitto runs in
 * its non-threaded mode (mosquitto_loop_read/write/misc on our poll), one client per device.
 */
#include "sim/run.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/time.h"
#include "kafka/kafka.h"

#define HORIZON_STEP_MS 10000
#define STEP_MS 1000 /* the vehicle model's time step (sim/vehicle.c) */
#define CONNECT_WAIT_MS 15000
#define ACK_WAIT_MS 60000

typedef struct run run;
typedef struct worker worker;

/* One worker's live counters, alone on its cache lines. */
typedef struct live_row {
    _Alignas(64) _Atomic uint64_t acked;
    _Atomic uint64_t anomalies[FP_SIM_ANOM_COUNT];
    _Atomic uint64_t *published; /* nproto + 1 ("other") */
} live_row;

struct fp_sim_live {
    size_t nproto;
    char **names; /* "object/type", then "other" */
    int nrows;
    live_row *rows;
    _Atomic uint64_t kafka_acked; /* delivery reports run on whichever thread polls */
};

static live_row no_row; /* target of a worker without a live row: counts nowhere visible */

fp_sim_live *fp_sim_live_new(const fp_sim_registry *reg, int threads)
{
    fp_sim_live *l = fp_xcalloc(1, sizeof *l);
    l->nproto = fp_sim_registry_count(reg);
    l->names = fp_xcalloc(l->nproto + 1, sizeof *l->names);
    for (size_t i = 0; i < l->nproto; i++) {
        const fp_sim_protocol *p = fp_sim_registry_get(reg, i);
        fp_buf b = FP_BUF_INIT;
        fp_buf_printf(&b, "%s/%s", p->object, p->type);
        l->names[i] = fp_buf_steal(&b);
    }
    l->names[l->nproto] = fp_xstrdup("other");
    l->nrows = threads > 0 ? threads : 1;
    l->rows = aligned_alloc(64, sizeof *l->rows * (size_t)l->nrows);
    if (!l->rows)
        abort();
    for (int i = 0; i < l->nrows; i++) {
        live_row *r = &l->rows[i];
        atomic_init(&r->acked, 0);
        for (int a = 0; a < FP_SIM_ANOM_COUNT; a++)
            atomic_init(&r->anomalies[a], 0);
        r->published = fp_xcalloc(l->nproto + 1, sizeof *r->published);
        for (size_t p = 0; p <= l->nproto; p++)
            atomic_init(&r->published[p], 0);
    }
    atomic_init(&l->kafka_acked, 0);
    return l;
}

void fp_sim_live_free(fp_sim_live *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->nrows; i++)
        free(l->rows[i].published);
    free(l->rows);
    for (size_t i = 0; i <= l->nproto; i++)
        free(l->names[i]);
    free(l->names);
    free(l);
}

void fp_sim_live_write(void *ctx, fp_metrics_out *m)
{
    fp_sim_live *l = ctx;
    fp_metrics_family(m, "fleetpipe_sim_messages_published_total", FP_METRIC_COUNTER,
                      "Messages the simulator handed to its target, by protocol (object/type).");
    for (size_t p = 0; p <= l->nproto; p++) {
        uint64_t n = 0;
        for (int i = 0; i < l->nrows; i++)
            n += atomic_load_explicit(&l->rows[i].published[p], memory_order_relaxed);
        if (n || p < l->nproto)
            fp_metrics_sample_u64(m, (const char *[]){"protocol", l->names[p], NULL}, n);
    }
    uint64_t acked = atomic_load(&l->kafka_acked);
    for (int i = 0; i < l->nrows; i++)
        acked += atomic_load_explicit(&l->rows[i].acked, memory_order_relaxed);
    fp_metrics_family(m, "fleetpipe_sim_messages_acked_total", FP_METRIC_COUNTER,
                      "Messages the target acknowledged: MQTT PUBACK, Kafka confirmation, or "
                      "written to the file.");
    fp_metrics_sample_u64(m, NULL, acked);
    fp_metrics_family(m, "fleetpipe_sim_anomalies_total", FP_METRIC_COUNTER,
                      "Anomalies injected into published messages, by kind.");
    for (int a = 1; a < FP_SIM_ANOM_COUNT; a++) {
        uint64_t n = 0;
        for (int i = 0; i < l->nrows; i++)
            n += atomic_load_explicit(&l->rows[i].anomalies[a], memory_order_relaxed);
        fp_metrics_sample_u64(
            m, (const char *[]){"kind", fp_sim_anomaly_name((fp_sim_anomaly)a), NULL}, n);
    }
}

typedef struct dev {
    fp_sim_vehicle *v; /* NULL when replaying */
    char device_id[32];
    struct mosquitto *mq;
    worker *w;
    uint64_t sent, acked;
    bool connected, ever_connected, stuck;
    int64_t retry_at_ms;
    fp_backoff backoff; /* reconnects: 100 ms doubling to 5 s, jittered (zero until first use) */
} dev;

struct worker {
    run *r;
    pthread_t th;
    dev *devs;
    size_t ndev, capdev;
    int64_t now_sim; /* simulated time commands arrive at */
    double tokens;
    int64_t refill_ms;
    uint64_t *messages, *samples, anomalies[FP_SIM_ANOM_COUNT];
    uint64_t emitted, written, failed, bad_lines, commands;
    fp_buf line;
    struct pollfd *pfd;
    size_t cappfd;
    live_row *live; /* never NULL (no_row without --metrics-listen) */
};

struct run {
    const fp_sim_run_opts *o;
    size_t nproto;
    worker *w;
    rd_kafka_t *rk;
    pthread_mutex_t out_lock; /* guards o->out and o->truth */
    atomic_uint_fast64_t kafka_ok, kafka_failed;
    /* kafka_waiting(): when Kafka last confirmed a message (or the run began) and when the
     * last "waiting for Kafka" warning went out; monotonic ms. */
    _Atomic int64_t kafka_ack_ms, kafka_warn_ms;
    atomic_bool abort; /* a fatal error in one worker stops all */
    pthread_mutex_t err_lock;
    fp_err err;
};

/* Keeps the first fatal error and stops every worker. */
static void fail(run *r, const fp_err *e)
{
    pthread_mutex_lock(&r->err_lock);
    if (!r->err.code)
        r->err = *e;
    pthread_mutex_unlock(&r->err_lock);
    atomic_store(&r->abort, true);
}

static bool stopping(const run *r)
{
    return atomic_load(&r->abort) || fp_stop_requested(r->o->stop);
}

/* ---- MQTT, one libmosquitto client per device ---- */

static void mqtt_lost(dev *d, int rc);

static void on_connect(struct mosquitto *mq, void *obj, int rc)
{
    dev *d = obj;
    if (rc != 0 && d->ever_connected) {
        /* Accepted before, refused now (a broker restarting, say): retry like a lost link. */
        fp_log(FP_LOG_WARN, "sim", -1, "%s: broker refused the reconnect: %s; retrying",
               d->device_id, mosquitto_connack_string(rc));
        mosquitto_disconnect(mq);
        mqtt_lost(d, MOSQ_ERR_CONN_REFUSED);
        return;
    }
    if (rc != 0) {
        /* Refused at the first attempt (bad credentials, not authorised): a configuration
         * error, not a blip. */
        fp_err e;
        fp_err_set(&e, FP_ERR_CONFIG, "%s: broker refused the connection: %s", d->device_id,
                   mosquitto_connack_string(rc));
        fail(d->w->r, &e);
        return;
    }
    d->connected = true;
    d->ever_connected = true;
    fp_backoff_reset(&d->backoff);
    if (d->v) {
        char topic[64];
        snprintf(topic, sizeof topic, "fms/%s/cmd", d->device_id);
        mosquitto_subscribe(mq, NULL, topic, 1);
    }
}

static void on_publish(struct mosquitto *mq, void *obj, int mid)
{
    (void)mq;
    (void)mid;
    dev *d = obj;
    d->acked++;
    atomic_fetch_add_explicit(&d->w->live->acked, 1, memory_order_relaxed);
}

static void on_command(struct mosquitto *mq, void *obj, const struct mosquitto_message *m)
{
    (void)mq;
    dev *d = obj;
    if (!d->v)
        return;
    d->w->commands++;
    fp_sim_vehicle_command(d->v, m->payload, (size_t)m->payloadlen, d->w->now_sim);
}

/* path with its first "%s" replaced by the device id (never used as a printf format). */
static void device_path(char *out, size_t cap, const char *path, const char *device_id)
{
    if (!path)
        return;
    const char *p = strstr(path, "%s");
    if (p)
        snprintf(out, cap, "%.*s%s%s", (int)(p - path), path, device_id, p + 2);
    else
        snprintf(out, cap, "%s", path);
}

static fp_code mqtt_open(run *r, dev *d, fp_err *err)
{
    const fp_sim_mqtt_conf *c = &r->o->mqtt;
    /* A persistent session (clean session off) under the device id, as telematics units use:
     * the broker keeps the command subscription and queues commands while the device
     * reconnects, so a command is not lost to a dropped link. */
    d->mq = mosquitto_new(d->device_id, false, d);
    if (!d->mq)
        return fp_err_set(err, FP_ERR_IO, "%s: mosquitto_new failed", d->device_id);
    mosquitto_int_option(d->mq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(d->mq, MOSQ_OPT_SEND_MAXIMUM, c->max_inflight);
    mosquitto_connect_callback_set(d->mq, on_connect);
    mosquitto_publish_callback_set(d->mq, on_publish);
    mosquitto_message_callback_set(d->mq, on_command);
    const char *user = c->username, *pw = c->password;
    if (c->credentials) {
        user = d->device_id;
        pw = fp_sim_credentials_get(c->credentials, d->device_id);
        if (!pw)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: no password in the credentials file",
                              d->device_id);
    }
    if (user)
        mosquitto_username_pw_set(d->mq, user, pw);
    if (c->tls) {
        /* "%s" in the certificate and key paths stands for the device id: one pair per device. */
        char cert[512], key[512];
        device_path(cert, sizeof cert, c->certfile, d->device_id);
        device_path(key, sizeof key, c->keyfile, d->device_id);
        int rc = mosquitto_tls_set(d->mq, c->cafile, c->cafile ? NULL : "/etc/ssl/certs",
                                   c->certfile ? cert : NULL, c->keyfile ? key : NULL, NULL);
        if (rc == MOSQ_ERR_SUCCESS && c->insecure)
            rc = mosquitto_tls_insecure_set(d->mq, true);
        if (rc != MOSQ_ERR_SUCCESS)
            return fp_err_set(err, FP_ERR_CONFIG, "%s: TLS setup: %s", d->device_id,
                              mosquitto_strerror(rc));
    }
    int rc = mosquitto_connect(d->mq, c->host, c->port, 30);
    if (rc != MOSQ_ERR_SUCCESS)
        return fp_err_set(err, FP_ERR_IO, "%s: connect to %s: %s", d->device_id, c->host,
                          rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    return FP_OK;
}

static void mqtt_lost(dev *d, int rc)
{
    if (d->connected)
        fp_log(FP_LOG_WARN, "sim", -1, "%s: connection lost (%s); reconnecting", d->device_id,
               rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    d->connected = false;
    if (!d->backoff.base_ms)
        fp_backoff_init(&d->backoff, 100, 5000);
    d->retry_at_ms = fp_time_mono_ms() + 1 + fp_backoff_next(&d->backoff);
}

/* One round of socket work for every device of w; waits at most timeout_ms. */
static void mqtt_service(worker *w, int timeout_ms)
{
    if (w->cappfd < w->ndev) {
        w->cappfd = w->ndev;
        w->pfd = fp_xrealloc(w->pfd, w->cappfd * sizeof *w->pfd);
    }
    int64_t now = fp_time_mono_ms();
    for (size_t i = 0; i < w->ndev; i++) {
        dev *d = &w->devs[i];
        int fd = d->mq ? mosquitto_socket(d->mq) : -1;
        if (fd < 0 && d->mq && now >= d->retry_at_ms) {
            int rc = mosquitto_reconnect(d->mq);
            if (rc != MOSQ_ERR_SUCCESS)
                mqtt_lost(d, rc);
            fd = mosquitto_socket(d->mq);
        }
        w->pfd[i].fd = fd;
        w->pfd[i].events = (short)(POLLIN | (fd >= 0 && mosquitto_want_write(d->mq) ? POLLOUT : 0));
        w->pfd[i].revents = 0;
    }
    if (poll(w->pfd, w->ndev, timeout_ms) < 0 && errno != EINTR)
        return;
    for (size_t i = 0; i < w->ndev; i++) {
        dev *d = &w->devs[i];
        if (w->pfd[i].fd < 0)
            continue;
        int rc = MOSQ_ERR_SUCCESS;
        if (w->pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
            rc = mosquitto_loop_read(d->mq, 1);
        if (rc == MOSQ_ERR_SUCCESS && (w->pfd[i].revents & POLLOUT))
            rc = mosquitto_loop_write(d->mq, 1);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_loop_misc(d->mq);
        if (rc != MOSQ_ERR_SUCCESS)
            mqtt_lost(d, rc);
    }
}

/* ---- emitting one message ---- */

static size_t proto_index(const run *r, const fp_sim_protocol *p)
{
    for (size_t i = 0; p && i < r->nproto; i++)
        if (fp_sim_registry_get(r->o->conf->reg, i) == p)
            return i;
    return r->nproto; /* "other" (replayed protocols the registry does not know) */
}

static bool write_line(run *r, FILE *f, const char *p, size_t n)
{
    pthread_mutex_lock(&r->out_lock);
    bool ok = fwrite(p, 1, n, f) == n && fputc('\n', f) != EOF;
    pthread_mutex_unlock(&r->out_lock);
    return ok;
}

static void kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    run *r = opaque;
    if (m->err) {
        if (atomic_fetch_add(&r->kafka_failed, 1) < 5)
            fp_log(FP_LOG_ERROR, "sim", -1, "delivery to %s failed: %s",
                   rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    } else {
        atomic_fetch_add(&r->kafka_ok, 1);
        atomic_store(&r->kafka_ack_ms, fp_time_mono_ms());
        if (r->o->live)
            atomic_fetch_add_explicit(&r->o->live->kafka_acked, 1, memory_order_relaxed);
    }
}

/* A Kafka that does not answer (wrong address, broker down) leaves the run looking hung: say
 * what it waits for, every KAFKA_WAIT_WARN_MS while messages are outstanding and none was
 * confirmed for that long. Any thread that polls the producer. */
#define KAFKA_WAIT_WARN_MS 5000
static void kafka_waiting(run *r)
{
    int64_t now = fp_time_mono_ms(), warned = atomic_load(&r->kafka_warn_ms);
    if (now - atomic_load(&r->kafka_ack_ms) < KAFKA_WAIT_WARN_MS ||
        now - warned < KAFKA_WAIT_WARN_MS)
        return;
    int n = rd_kafka_outq_len(r->rk);
    if (n > 0 && atomic_compare_exchange_strong(&r->kafka_warn_ms, &warned, now))
        fp_log(FP_LOG_WARN, "sim", -1,
               "waiting for Kafka at %s: %d messages not yet acknowledged (none for %lld s)",
               r->o->bootstrap, n, (long long)((now - atomic_load(&r->kafka_ack_ms)) / 1000));
}

/* Kafka topic: the protocol's, or fms.<object> from a replayed message's MQTT topic. */
static void kafka_topic(const fp_sim_msg *m, char *out, size_t cap)
{
    if (m->proto) {
        snprintf(out, cap, "%s", m->proto->topic);
        return;
    }
    const char *s = strchr(m->mqtt_topic, '/');
    s = s ? strchr(s + 1, '/') : NULL;
    size_t n = s ? strcspn(s + 1, "/") : 0;
    snprintf(out, cap, "fms.%.*s", (int)n, s ? s + 1 : "");
}

static void emit(void *ctx, const fp_sim_msg *m)
{
    dev *d = ctx;
    worker *w = d->w;
    run *r = w->r;
    if (r->o->conf->warm_ms > 0 && m->messaged_ms < r->o->conf->start_ms)
        return; /* a warm fleet's past: sent before the run began */
    size_t pi = proto_index(r, m->proto);
    w->messages[pi]++;
    w->samples[pi] += m->samples;
    w->emitted++;
    if (w->live->published)
        atomic_fetch_add_explicit(&w->live->published[pi], 1, memory_order_relaxed);
    if (m->anomaly != FP_SIM_ANOM_NONE) {
        w->anomalies[m->anomaly]++;
        atomic_fetch_add_explicit(&w->live->anomalies[m->anomaly], 1, memory_order_relaxed);
        if (r->o->truth) {
            fp_buf_reset(&w->line);
            fp_sim_truth_format(m, &w->line);
            if (!write_line(r, r->o->truth, w->line.p, w->line.len)) {
                fp_err e;
                fp_err_set(&e, FP_ERR_IO, "writing the truth file: %s", strerror(errno));
                fail(r, &e);
            }
        }
    }
    w->tokens -= 1;
    switch (r->o->target) {
    case FP_SIM_TO_FILE:
        if (write_line(r, r->o->out, m->payload, m->len)) {
            w->written++;
            atomic_fetch_add_explicit(&w->live->acked, 1, memory_order_relaxed);
        } else {
            w->failed++;
        }
        break;
    case FP_SIM_TO_KAFKA: {
        char topic[160];
        kafka_topic(m, topic, sizeof topic);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                r->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->device_id, strlen(m->device_id)),
                RD_KAFKA_V_VALUE((void *)m->payload, m->len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) { /* counted as not delivered */
                fp_err fe;
                fp_kafka_err(&fe, e, topic);
                fail(r, &fe);
                break;
            }
            rd_kafka_poll(r->rk, 10);
            kafka_waiting(r);
        }
        break;
    }
    case FP_SIM_TO_MQTT: {
        int rc = mosquitto_publish(d->mq, NULL, m->mqtt_topic, (int)m->len, m->payload, 1, false);
        /* Without a working socket libmosquitto keeps a QoS 1 message queued and resends it
         * after the reconnect, so only outright refusals count as failures. */
        if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO ||
            rc == MOSQ_ERR_NO_CONN) {
            d->sent++;
        } else {
            w->failed++;
            fp_log(FP_LOG_ERROR, "sim", -1, "%s: publish to %s: %s", d->device_id, m->mqtt_topic,
                   mosquitto_strerror(rc));
        }
        break;
    }
    }
}

/* ---- pacing ---- */

static void refill(worker *w)
{
    double per_s = w->r->o->rate / w->r->o->threads;
    if (per_s <= 0)
        return;
    int64_t now = fp_time_mono_ms();
    w->tokens += (double)(now - w->refill_ms) * per_s / 1000.0;
    double cap = per_s / 20 > 1 ? per_s / 20 : 1; /* at most a 50 ms burst */
    if (w->tokens > cap)
        w->tokens = cap;
    w->refill_ms = now;
}

static uint64_t outstanding(const dev *d)
{
    return d->sent > d->acked ? d->sent - d->acked : 0;
}

static bool may_send(const worker *w, const dev *d)
{
    const run *r = w->r;
    if (r->o->rate > 0 && w->tokens < 1)
        return false;
    if (r->o->target == FP_SIM_TO_MQTT &&
        (!d->connected || outstanding(d) >= (uint64_t)r->o->mqtt.max_inflight))
        return false;
    return true;
}

static uint64_t unacked(const worker *w)
{
    uint64_t n = 0;
    for (size_t i = 0; i < w->ndev; i++)
        n += outstanding(&w->devs[i]);
    return n;
}

/* Services I/O until every device has its CONNACK (or time runs out). */
static void wait_connected(worker *w)
{
    int64_t deadline = fp_time_mono_ms() + CONNECT_WAIT_MS;
    for (;;) {
        size_t up = 0;
        for (size_t i = 0; i < w->ndev; i++)
            up += w->devs[i].connected;
        if (up == w->ndev || stopping(w->r) || fp_time_mono_ms() > deadline)
            return;
        mqtt_service(w, 50);
    }
}

/* After the last message: wait for the outstanding PUBACKs, then disconnect cleanly. */
static void mqtt_finish(worker *w)
{
    int64_t deadline = fp_time_mono_ms() + ACK_WAIT_MS;
    while (unacked(w) && fp_time_mono_ms() < deadline && !atomic_load(&w->r->abort))
        mqtt_service(w, 50);
    for (size_t i = 0; i < w->ndev; i++)
        if (w->devs[i].mq && w->devs[i].connected)
            mosquitto_disconnect(w->devs[i].mq);
    for (size_t i = 0; i < w->ndev; i++) {
        w->written += w->devs[i].acked;
        w->failed += w->devs[i].sent - w->devs[i].acked;
    }
}

static void *simulate(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    const fp_sim_run_opts *o = r->o;
    bool mqtt = o->target == FP_SIM_TO_MQTT;
    if (mqtt)
        wait_connected(w);
    int64_t start = o->conf->start_ms, wall0 = fp_time_mono_ms();
    int64_t horizon = start;
    w->refill_ms = wall0;
    while (!stopping(r)) {
        int64_t now_sim = o->speedup <= 0 ? horizon
                          : o->wall_clock
                              ? start + (int64_t)((double)(fp_time_now_ms() - start) * o->speedup)
                              : start + (int64_t)((double)(fp_time_mono_ms() - wall0) * o->speedup);
        if (now_sim > o->end_ms)
            now_sim = o->end_ms;
        w->now_sim = now_sim;
        refill(w);
        bool progressed = false, all_done = true, all_reached = true;
        int64_t next_due = INT64_MAX;
        for (size_t i = 0; i < w->ndev; i++) {
            dev *d = &w->devs[i];
            int64_t due = fp_sim_vehicle_next_ms(d->v);
            if (due > o->end_ms || d->stuck)
                continue;
            all_done = false;
            if (due > now_sim) {
                next_due = due < next_due ? due : next_due;
                continue;
            }
            all_reached = false;
            /* One due message at a time, so --max-inflight and --rate hold even when a device
             * has fallen behind (after a reconnect, say). */
            while (due <= now_sim && may_send(w, d)) {
                /* The model moves in whole 1 s steps, so run to the step that reaches `due`.
                 * The sequence of these calls depends only on the vehicle, never on the wall
                 * clock: that keeps the bytes of a run independent of pacing and target. */
                int64_t until = due + STEP_MS - 1;
                if (until >= o->end_ms) /* the run is [start, end): no sample at end itself */
                    until = o->end_ms - 1;
                progressed |= fp_sim_vehicle_run(d->v, until, emit, d) > 0;
                int64_t next = fp_sim_vehicle_next_ms(d->v);
                if (next <= due) { /* a model bug; never spin on it */
                    fp_log(FP_LOG_ERROR, "sim", -1, "%s: model stuck at %lld; vehicle stopped",
                           d->device_id, (long long)due);
                    d->stuck = true;
                    break;
                }
                due = next;
            }
        }
        if (all_done) {
            /* Batches still open at the end (a --duration shorter than a send interval leaves
             * every one open) are sent, so every sample of the duration goes out. */
            for (size_t i = 0; i < w->ndev; i++)
                if (!w->devs[i].stuck)
                    fp_sim_vehicle_finish(w->devs[i].v, o->end_ms, emit, &w->devs[i]);
            break;
        }
        bool advanced = false;
        if (o->speedup <= 0 && all_reached) { /* skip stretches where nobody is due */
            horizon = horizon + HORIZON_STEP_MS > next_due ? horizon + HORIZON_STEP_MS : next_due;
            advanced = true;
        }
        int wait = 0;
        if (!progressed && !advanced) {
            wait = 20;
            if (o->speedup > 0 && next_due != INT64_MAX && all_reached) {
                double ms = (double)(next_due - now_sim) / o->speedup;
                wait = ms < 1 ? 1 : ms > 100 ? 100 : (int)ms;
            }
        }
        if (mqtt)
            mqtt_service(w, wait);
        else if (o->target == FP_SIM_TO_KAFKA) {
            rd_kafka_poll(r->rk, wait);
            kafka_waiting(r);
        } else if (wait)
            usleep((useconds_t)wait * 1000);
    }
    if (mqtt)
        mqtt_finish(w);
    return NULL;
}

/* ---- replay: one thread, devices created as they appear ---- */

static dev *replay_dev(worker *w, const char *device_id, fp_err *err)
{
    for (size_t i = w->ndev; i-- > 0;) /* recent devices are likelier */
        if (!strcmp(w->devs[i].device_id, device_id))
            return &w->devs[i];
    if (w->ndev == w->capdev) {
        w->capdev = w->capdev ? 2 * w->capdev : 64;
        w->devs = fp_xrealloc(w->devs, w->capdev * sizeof *w->devs);
        for (size_t i = 0; i < w->ndev; i++) /* libmosquitto holds a pointer to each dev */
            if (w->devs[i].mq)
                mosquitto_user_data_set(w->devs[i].mq, &w->devs[i]);
    }
    dev *d = &w->devs[w->ndev++];
    memset(d, 0, sizeof *d);
    d->w = w;
    snprintf(d->device_id, sizeof d->device_id, "%s", device_id);
    if (w->r->o->target == FP_SIM_TO_MQTT) {
        if (mqtt_open(w->r, d, err))
            return NULL;
        int64_t deadline = fp_time_mono_ms() + CONNECT_WAIT_MS;
        while (!d->connected && !stopping(w->r) && fp_time_mono_ms() < deadline)
            mqtt_service(w, 20);
    }
    return d;
}

static void *replay(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    const fp_sim_run_opts *o = r->o;
    fp_err err = {0};
    fp_sim_replay *rp =
        fp_sim_replay_open(o->replay, o->multiply ? o->multiply : 1, o->id_stride, &err);
    if (!rp) {
        fail(r, &err);
        return NULL;
    }
    if (o->retime)
        fp_sim_replay_retime(rp, fp_time_now_ms());
    int64_t wall0 = fp_time_mono_ms(), t0 = INT64_MIN;
    w->refill_ms = wall0;
    fp_sim_msg m;
    int got;
    while (!stopping(r) && (got = fp_sim_replay_next(rp, &m, &err)) != 0) {
        if (got < 0) {
            if (w->bad_lines++ < 5)
                fp_log(FP_LOG_WARN, "sim", -1, "replay: %s (skipped)", err.msg);
            continue;
        }
        if (t0 == INT64_MIN)
            t0 = m.messaged_ms;
        dev *d = replay_dev(w, m.device_id, &err);
        if (!d) {
            fail(r, &err);
            break;
        }
        for (;;) { /* pace by the recorded send times, keep sockets serviced meanwhile */
            refill(w);
            int64_t due =
                o->speedup > 0 ? wall0 + (int64_t)((double)(m.messaged_ms - t0) / o->speedup) : 0;
            if ((fp_time_mono_ms() >= due && may_send(w, d)) || stopping(r))
                break;
            if (o->target == FP_SIM_TO_MQTT)
                mqtt_service(w, 5);
            else
                usleep(1000);
        }
        emit(d, &m);
        if (o->target == FP_SIM_TO_MQTT)
            mqtt_service(w, 0);
        else if (o->target == FP_SIM_TO_KAFKA)
            rd_kafka_poll(r->rk, 0);
    }
    fp_sim_replay_free(rp);
    if (o->target == FP_SIM_TO_MQTT)
        mqtt_finish(w);
    return NULL;
}

/* ---- set-up and summary ---- */

static fp_code add_devices(run *r, fp_err *err)
{
    const fp_sim_run_opts *o = r->o;
    uint32_t first = o->first_id ? o->first_id : 1;
    for (uint32_t id = first; id < first + o->vehicles; id++) {
        worker *w = &r->w[(id - first) % (uint32_t)o->threads];
        dev *d = &w->devs[w->ndev++];
        d->w = w;
        d->v = fp_sim_vehicle_new(o->conf, id);
        snprintf(d->device_id, sizeof d->device_id, "%s", fp_sim_vehicle_device_id(d->v));
        if (o->target == FP_SIM_TO_MQTT && mqtt_open(r, d, err))
            return err->code;
    }
    return FP_OK;
}

fp_code fp_sim_run(const fp_sim_run_opts *o, fp_sim_summary *s, fp_err *err)
{
    run r = {.o = o};
    r.nproto = fp_sim_registry_count(o->conf->reg);
    pthread_mutex_init(&r.out_lock, NULL);
    pthread_mutex_init(&r.err_lock, NULL);
    int nthreads = o->replay ? 1 : o->threads;
    r.w = fp_xcalloc((size_t)nthreads, sizeof *r.w);
    for (int i = 0; i < nthreads; i++) {
        worker *w = &r.w[i];
        w->r = &r;
        w->live = o->live && i < o->live->nrows && o->live->nproto == r.nproto ? &o->live->rows[i]
                                                                               : &no_row;
        w->messages = fp_xcalloc(r.nproto + 1, sizeof *w->messages);
        w->samples = fp_xcalloc(r.nproto + 1, sizeof *w->samples);
        if (!o->replay) {
            w->capdev = o->vehicles / (uint32_t)nthreads + 1;
            w->devs = fp_xcalloc(w->capdev, sizeof *w->devs);
        }
    }
    fp_code rc = FP_OK;
    if (o->target == FP_SIM_TO_MQTT)
        mosquitto_lib_init();
    if (o->target == FP_SIM_TO_KAFKA) {
        atomic_store(&r.kafka_ack_ms, fp_time_mono_ms());
        r.rk = fp_kafka_producer_new(o->bootstrap, NULL, kafka_dr, &r, err);
        if (!r.rk)
            rc = err->code;
    }
    if (!rc && !o->replay)
        rc = add_devices(&r, err);
    int64_t t0 = fp_time_mono_ms();
    for (int i = 0; i < nthreads && !rc; i++)
        pthread_create(&r.w[i].th, NULL, o->replay ? replay : simulate, &r.w[i]);
    for (int i = 0; i < nthreads && !rc; i++)
        pthread_join(r.w[i].th, NULL);
    /* The final flush, in slices so that a silent Kafka is named while we wait for it. */
    for (int64_t end = fp_time_mono_ms() + ACK_WAIT_MS;
         r.rk && rd_kafka_outq_len(r.rk) > 0 && fp_time_mono_ms() < end;) {
        rd_kafka_flush(r.rk, 500);
        kafka_waiting(&r);
    }
    if (r.rk && rd_kafka_outq_len(r.rk) > 0)
        fp_log(FP_LOG_ERROR, "sim", -1, "%d messages not confirmed by Kafka",
               rd_kafka_outq_len(r.rk));
    /* The per-vehicle daily ground truth, after every anomaly line, in id order: the same
     * bytes for one seed whatever the threads or the target. */
    if (o->truth && !o->replay) {
        fp_buf days = FP_BUF_INIT;
        for (uint32_t id = 1; id <= o->vehicles && !rc; id++) {
            worker *w = &r.w[(id - 1) % (uint32_t)nthreads];
            size_t k = (id - 1) / (uint32_t)nthreads;
            if (k >= w->ndev)
                continue;
            fp_buf_reset(&days);
            fp_sim_vehicle_truth_days(w->devs[k].v, &days);
            if (days.len && fwrite(days.p, 1, days.len, o->truth) != days.len)
                rc = fp_err_set(err, FP_ERR_IO, "writing the truth file: %s", strerror(errno));
        }
        fp_buf_free(&days);
    }
    memset(s, 0, sizeof *s);
    s->wall_ms = fp_time_mono_ms() - t0;
    s->messages = fp_xcalloc(r.nproto + 1, sizeof *s->messages);
    s->samples = fp_xcalloc(r.nproto + 1, sizeof *s->samples);
    for (int i = 0; i < nthreads; i++) {
        worker *w = &r.w[i];
        for (size_t p = 0; p <= r.nproto; p++) {
            s->messages[p] += w->messages[p];
            s->samples[p] += w->samples[p];
        }
        for (int a = 0; a < FP_SIM_ANOM_COUNT; a++)
            s->anomalies[a] += w->anomalies[a];
        s->emitted += w->emitted;
        s->published += w->written;
        s->failed += w->failed;
        s->bad_replay_lines += w->bad_lines;
        s->commands += w->commands;
        for (size_t k = 0; k < w->ndev; k++) {
            fp_sim_vehicle_free(w->devs[k].v);
            if (w->devs[k].mq)
                mosquitto_destroy(w->devs[k].mq);
        }
        free(w->devs);
        free(w->messages);
        free(w->samples);
        free(w->pfd);
        fp_buf_free(&w->line);
    }
    if (r.rk) {
        s->published += atomic_load(&r.kafka_ok);
        s->failed += s->emitted - atomic_load(&r.kafka_ok);
        rd_kafka_destroy(r.rk);
    }
    if (o->target == FP_SIM_TO_MQTT)
        mosquitto_lib_cleanup();
    if (!rc && r.err.code) {
        *err = r.err;
        rc = r.err.code;
    }
    free(r.w);
    pthread_mutex_destroy(&r.out_lock);
    pthread_mutex_destroy(&r.err_lock);
    return rc;
}
