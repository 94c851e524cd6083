/* mqtt.c — MQTT 3.1.1 subscriber written from the OASIS spec; PUBACK only on fp_mqtt_done().
 *
 * Input: one linear read buffer, sized so that a PUBLISH up to max_payload (plus the largest
 * topic) always fits; complete packets are dispatched straight from it (zero copy), and a longer
 * PUBLISH is delivered truncated once its first max_payload bytes are in, the rest skipped as it
 * streams. Acks: every QoS 1 PUBLISH takes the next slot of a growable ring indexed by receive
 * number; the token is (connection generation << 40 | receive number), so done() is O(1) and
 * PUBACKs leave strictly in receive order for the done prefix (section 4.6). Output (PUBACK,
 * PINGREQ, ...) is appended to one buffer and written in batches by fp_mqtt_service().
 */
#include "ingest/mqtt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/mem.h"
#include "core/time.h"

enum {
    PKT_CONNECT = 1,
    PKT_CONNACK = 2,
    PKT_PUBLISH = 3,
    PKT_PUBACK = 4,
    PKT_SUBSCRIBE = 8,
    PKT_SUBACK = 9,
    PKT_PINGREQ = 12,
    PKT_PINGRESP = 13,
    PKT_DISCONNECT = 14,
};

#define READ_BUF_MIN (256u * 1024u)
#define MAX_FIXED_HEADER 5
#define MAX_TOPIC 65535u
#define TOKEN_SEQ_BITS 40
#define TOKEN_SEQ_MASK ((UINT64_C(1) << TOKEN_SEQ_BITS) - 1)
#define TOKEN_GEN_MASK 0xffffffu  /* the 24 bits above the receive number */
#define TOKEN_QOS0 TOKEN_SEQ_MASK /* a receive number that never exists: done() ignores it */
/* Bytes read per fp_mqtt_service() call before returning to the caller's loop; the kernel
 * still holds the rest, so poll() wakes up again at once. */
#define READ_BUDGET (8u * 1024u * 1024u)
#define MAX_REM_LEN 268435455u /* 4 varint bytes */

/* A stretch of consecutive PUBACKs in wbuf, ending at byte offset end; it lets stats.acked
 * count exactly the PUBACKs written, even when a PINGREQ sits between two stretches. */
typedef struct ack_run {
    size_t end;
    size_t count;
} ack_run;

typedef struct slot {
    uint16_t pid;
    uint8_t done;
} slot;

enum wait_for { WAIT_NONE, WAIT_CONNACK, WAIT_SUBACK };

struct fp_mqtt {
    fp_mqtt_opts o; /* strings point to the copies below */
    char *host, *client_id, *username, *password, *ca_file, *cert_file, *key_file;
    fp_mqtt_on_message cb;
    void *opaque;

    int fd;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    int ssl_read_wants_write; /* SSL_read said WANT_WRITE: poll for POLLOUT too */
    uint32_t gen;             /* connection generation (24 bits), part of every token */

    unsigned char *rbuf; /* data in [rstart, rend) */
    size_t rcap, rstart, rend;
    uint64_t skip;      /* bytes of a truncated PUBLISH still to discard */
    char *topic;        /* NUL-terminated copy of the current topic (MAX_TOPIC + 1) */
    int stop_after_ack; /* leave packets after CONNACK buffered for fp_mqtt_service() */
    int input_pending;  /* complete packets wait in rbuf (see stop_after_ack) */

    fp_buf wbuf; /* queued output, written from woff */
    size_t woff;
    ack_run *runs; /* [run_head, nruns) not yet fully written */
    size_t nruns, run_cap, run_head, run_credited;

    slot *ring; /* QoS 1 messages [head, tail) by receive number; cap is a power of two */
    size_t ring_cap;
    uint64_t head, tail;

    enum wait_for waiting;
    int session_present;
    int connack_rc;
    uint16_t next_pid, suback_pid;
    fp_buf suback; /* return codes of the awaited SUBACK */

    int64_t last_send_ms, last_recv_ms, ping_sent_ms; /* ping_sent_ms 0: none outstanding */
    fp_mqtt_stats st;
};

static int64_t keepalive_ms(const fp_mqtt *m)
{
    return (int64_t)m->o.keepalive_s * 1000;
}

static char *dup_or_null(const char *s)
{
    return s ? fp_xstrdup(s) : NULL;
}

fp_mqtt *fp_mqtt_new(const fp_mqtt_opts *o, fp_mqtt_on_message cb, void *opaque)
{
    fp_mqtt *m = fp_xcalloc(1, sizeof *m);
    m->o = *o;
    m->host = dup_or_null(o->host ? o->host : "localhost");
    m->client_id = dup_or_null(o->client_id ? o->client_id : "");
    m->username = dup_or_null(o->username);
    m->password = dup_or_null(o->password);
    m->ca_file = dup_or_null(o->tls_ca_file);
    m->cert_file = dup_or_null(o->tls_cert_file);
    m->key_file = dup_or_null(o->tls_key_file);
    m->o.host = m->host;
    m->o.client_id = m->client_id;
    m->o.username = m->username;
    m->o.password = m->password;
    m->o.tls_ca_file = m->ca_file;
    m->o.tls_cert_file = m->cert_file;
    m->o.tls_key_file = m->key_file;
    if (!m->o.port)
        m->o.port = m->o.tls ? 8883 : 1883;
    if (m->o.keepalive_s <= 0)
        m->o.keepalive_s = 60;
    if (m->o.keepalive_s > 65535)
        m->o.keepalive_s = 65535;
    if (m->o.connect_timeout_ms <= 0)
        m->o.connect_timeout_ms = 10000;
    if (!m->o.max_payload)
        m->o.max_payload = 1024 * 1024;
    m->cb = cb;
    m->opaque = opaque;
    m->fd = -1;
    /* Room for the largest PUBLISH prefix we ever need whole: header, topic, id, max_payload. */
    m->rcap = MAX_FIXED_HEADER + 2 + MAX_TOPIC + 2 + m->o.max_payload;
    if (m->rcap < READ_BUF_MIN)
        m->rcap = READ_BUF_MIN;
    m->rbuf = fp_xmalloc(m->rcap);
    m->topic = fp_xmalloc(MAX_TOPIC + 1);
    m->ring_cap = 1024;
    m->ring = fp_xcalloc(m->ring_cap, sizeof *m->ring);
    return m;
}

/* ---- connection teardown ---- */

static void drop_connection(fp_mqtt *m)
{
    if (m->ssl) {
        SSL_free(m->ssl);
        m->ssl = NULL;
    }
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    m->ssl_read_wants_write = 0;
    m->input_pending = 0;
    m->rstart = m->rend = 0;
    m->skip = 0;
    fp_buf_reset(&m->wbuf);
    m->woff = 0;
    m->nruns = m->run_head = m->run_credited = 0;
    /* Unacknowledged messages stay with the broker (persistent session); their tokens die with
     * this generation. */
    m->head = m->tail = 0;
    m->waiting = WAIT_NONE;
    m->ping_sent_ms = 0;
}

/* A protocol or I/O failure: the connection is unusable from here on. */
static fp_code fail_io(fp_mqtt *m, fp_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fp_code fail_io(fp_mqtt *m, fp_err *err, const char *fmt, ...)
{
    char msg[FP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    drop_connection(m);
    return fp_err_set(err, FP_ERR_IO, "mqtt %s:%d: %s", m->host, m->o.port, msg);
}

/* The first queued OpenSSL error as text; clears the queue. */
static const char *ssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e)
        return "unknown TLS error";
    ERR_error_string_n(e, buf, n);
    return buf;
}

/* ---- output ---- */

static void put_u16(fp_buf *b, unsigned v)
{
    char two[2] = {(char)(v >> 8), (char)(v & 0xff)};
    fp_buf_append(b, two, 2);
}

static void put_str(fp_buf *b, const char *s, size_t n)
{
    put_u16(b, (unsigned)n);
    fp_buf_append(b, s, n);
}

static void put_fixed_header(fp_buf *b, unsigned char type_flags, size_t rem)
{
    fp_buf_putc(b, (char)type_flags);
    do {
        unsigned char byte = rem % 128;
        rem /= 128;
        if (rem)
            byte |= 0x80;
        fp_buf_putc(b, (char)byte);
    } while (rem);
}

/* Records a PUBACK about to be appended to wbuf. */
static void note_ack(fp_mqtt *m)
{
    if (m->nruns > m->run_head && m->runs[m->nruns - 1].end == m->wbuf.len) {
        m->runs[m->nruns - 1].end += 4;
        m->runs[m->nruns - 1].count++;
        return;
    }
    if (m->nruns == m->run_cap) {
        m->run_cap = m->run_cap ? m->run_cap * 2 : 16;
        m->runs = fp_xrealloc(m->runs, m->run_cap * sizeof *m->runs);
    }
    m->runs[m->nruns++] = (ack_run){m->wbuf.len + 4, 1};
}

/* Adds the PUBACKs now wholly written (everything before woff) to stats.acked. */
static void credit_acks(fp_mqtt *m)
{
    while (m->run_head < m->nruns) {
        ack_run *r = &m->runs[m->run_head];
        size_t start = r->end - 4 * r->count;
        size_t written = m->woff <= start ? 0 : (m->woff - start) / 4;
        if (written > r->count)
            written = r->count;
        m->st.acked += written - m->run_credited;
        m->run_credited = written;
        if (written < r->count)
            return;
        m->run_head++;
        m->run_credited = 0;
    }
}

/* Writes as much of wbuf as the socket takes now. *blocked tells whether it stopped early. */
static fp_code flush(fp_mqtt *m, int *blocked, fp_err *err)
{
    *blocked = 0;
    while (m->woff < m->wbuf.len) {
        const char *p = m->wbuf.p + m->woff;
        size_t n = m->wbuf.len - m->woff;
        ssize_t w;
        if (m->ssl) {
            int r = SSL_write(m->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            if (r <= 0) {
                int e = SSL_get_error(m->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    *blocked = 1;
                    return FP_OK;
                }
                char why[256];
                return fail_io(m, err, "TLS write: %s", ssl_reason(why, sizeof why));
            }
            w = r;
        } else {
            w = send(m->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                *blocked = 1;
                return FP_OK;
            }
            if (w < 0)
                return fail_io(m, err, "write: %s", strerror(errno));
        }
        m->woff += (size_t)w;
        m->last_send_ms = fp_time_mono_ms();
        credit_acks(m);
    }
    m->nruns = m->run_head = m->run_credited = 0;
    fp_buf_reset(&m->wbuf);
    m->woff = 0;
    return FP_OK;
}

/* Moves receive-ordered done messages out of the ring into PUBACKs (section 4.6). */
static void queue_done_prefix(fp_mqtt *m)
{
    size_t mask = m->ring_cap - 1;
    while (m->head < m->tail && m->ring[m->head & mask].done) {
        unsigned char ack[4] = {PKT_PUBACK << 4, 2};
        uint16_t pid = m->ring[m->head & mask].pid;
        ack[2] = (unsigned char)(pid >> 8);
        ack[3] = (unsigned char)(pid & 0xff);
        note_ack(m);
        fp_buf_append(&m->wbuf, ack, sizeof ack);
        m->head++;
    }
}

/* ---- input ---- */

/* Reads once into the free end of rbuf; *got tells whether anything came. */
static fp_code read_some(fp_mqtt *m, int *got, fp_err *err)
{
    *got = 0;
    if (m->rstart == m->rend) {
        m->rstart = m->rend = 0;
    } else if (m->rcap - m->rend < m->rcap / 4) {
        /* Only a partial packet is left here, so the move is short. */
        memmove(m->rbuf, m->rbuf + m->rstart, m->rend - m->rstart);
        m->rend -= m->rstart;
        m->rstart = 0;
    }
    size_t room = m->rcap - m->rend;
    if (room == 0)
        return fail_io(m, err, "internal: read buffer full");
    if (m->ssl) {
        m->ssl_read_wants_write = 0;
        int r = SSL_read(m->ssl, m->rbuf + m->rend, room > INT32_MAX ? INT32_MAX : (int)room);
        if (r <= 0) {
            int e = SSL_get_error(m->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                return FP_OK;
            if (e == SSL_ERROR_WANT_WRITE) {
                m->ssl_read_wants_write = 1;
                return FP_OK;
            }
            if (e == SSL_ERROR_ZERO_RETURN)
                return fail_io(m, err, "connection closed by broker (TLS close)");
            if (e == SSL_ERROR_SYSCALL && errno == 0)
                return fail_io(m, err, "connection closed by broker");
            char why[256];
            return fail_io(m, err, "TLS read: %s", ssl_reason(why, sizeof why));
        }
        m->rend += (size_t)r;
        m->last_recv_ms = fp_time_mono_ms();
        *got = 1;
        return FP_OK;
    }
    ssize_t r = recv(m->fd, m->rbuf + m->rend, room, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return FP_OK;
    if (r < 0)
        return fail_io(m, err, "read: %s", strerror(errno));
    if (r == 0)
        return fail_io(m, err, "connection closed by broker");
    m->rend += (size_t)r;
    m->last_recv_ms = fp_time_mono_ms();
    *got = 1;
    return FP_OK;
}

/* Decodes the fixed header at p[0..n). Returns 1 when complete, 0 when more bytes are needed,
 * -1 when the remaining length is malformed (a fifth length byte). */
static int parse_fixed_header(const unsigned char *p, size_t n, size_t *hdr_len, size_t *rem)
{
    size_t v = 0, mult = 1;
    for (size_t i = 1; i < MAX_FIXED_HEADER; i++) {
        if (i >= n)
            return 0;
        v += (size_t)(p[i] & 0x7f) * mult;
        if (!(p[i] & 0x80)) {
            *hdr_len = i + 1;
            *rem = v;
            return 1;
        }
        mult *= 128;
    }
    return -1;
}

static void ring_grow(fp_mqtt *m)
{
    size_t ncap = m->ring_cap * 2;
    slot *n = fp_xcalloc(ncap, sizeof *n);
    for (uint64_t s = m->head; s < m->tail; s++)
        n[s & (ncap - 1)] = m->ring[s & (m->ring_cap - 1)];
    free(m->ring);
    m->ring = n;
    m->ring_cap = ncap;
}

static uint64_t ring_push(fp_mqtt *m, uint16_t pid)
{
    if (m->tail - m->head == m->ring_cap)
        ring_grow(m);
    uint64_t seq = m->tail++;
    m->ring[seq & (m->ring_cap - 1)] = (slot){pid, 0};
    return seq;
}

/* Checks what the PUBLISH at p says about itself before its body is here. p holds at least the
 * fixed header; *need is set to the bytes required to deliver it. */
static fp_code publish_header(fp_mqtt *m, const unsigned char *p, size_t avail, size_t hdr,
                              size_t rem, size_t *need, fp_err *err)
{
    int qos = (p[0] >> 1) & 3;
    if (qos == 3)
        return fail_io(m, err, "protocol error: PUBLISH with QoS 3");
    if (qos == 2)
        return fail_io(m, err, "protocol error: PUBLISH with QoS 2 (subscribed with QoS <= 1)");
    size_t id_len = qos ? 2 : 0;
    if (rem < 2 + id_len)
        return fail_io(m, err, "protocol error: PUBLISH of %zu bytes is too short", rem);
    if (avail < hdr + 2) {
        *need = hdr + 2;
        return FP_OK;
    }
    size_t tlen = (size_t)p[hdr] << 8 | p[hdr + 1];
    if (2 + tlen + id_len > rem)
        return fail_io(m, err, "protocol error: PUBLISH topic length %zu beyond the packet (%zu)",
                       tlen, rem);
    size_t payload = rem - 2 - tlen - id_len;
    size_t keep = payload < m->o.max_payload ? payload : m->o.max_payload;
    *need = hdr + 2 + tlen + id_len + keep;
    return FP_OK;
}

/* Delivers the PUBLISH at p (fixed header hdr bytes, rem remaining, of which only what fits
 * max_payload is required to be in the buffer). */
static fp_code deliver_publish(fp_mqtt *m, const unsigned char *p, size_t hdr, size_t rem,
                               fp_err *err)
{
    int qos = (p[0] >> 1) & 3;
    const unsigned char *v = p + hdr;
    size_t tlen = (size_t)v[0] << 8 | v[1];
    if (tlen == 0)
        return fail_io(m, err, "protocol error: PUBLISH with an empty topic");
    if (memchr(v + 2, 0, tlen))
        return fail_io(m, err, "protocol error: PUBLISH topic contains NUL");
    size_t id_len = qos ? 2 : 0;
    uint16_t pid = 0;
    if (qos) {
        pid = (uint16_t)(v[2 + tlen] << 8 | v[3 + tlen]);
        if (pid == 0)
            return fail_io(m, err, "protocol error: QoS 1 PUBLISH with packet id 0");
    }
    /* A copy, because the topic must be NUL-terminated and the byte after it is payload. */
    memcpy(m->topic, v + 2, tlen);
    m->topic[tlen] = '\0';
    size_t payload = rem - 2 - tlen - id_len;
    fp_mqtt_msg msg = {
        .topic = m->topic,
        .topic_len = tlen,
        .payload = (const char *)v + 2 + tlen + id_len,
        .len = payload < m->o.max_payload ? payload : m->o.max_payload,
        .total_len = payload,
        .qos = qos,
        .dup = (p[0] >> 3) & 1,
    };
    uint64_t seq = qos ? ring_push(m, pid) : TOKEN_QOS0;
    msg.token = (uint64_t)m->gen << TOKEN_SEQ_BITS | seq;
    m->st.messages++;
    m->st.bytes += payload;
    if (m->cb)
        m->cb(m->opaque, &msg);
    return FP_OK;
}

static const char *connack_reason(int rc)
{
    switch (rc) {
    case 1:
        return "unacceptable protocol version";
    case 2:
        return "identifier rejected";
    case 3:
        return "server unavailable";
    case 4:
        return "bad user name or password";
    case 5:
        return "not authorised";
    default:
        return "unknown reason";
    }
}

/* A complete non-PUBLISH packet: CONNACK, SUBACK or PINGRESP; everything else is an error. */
static fp_code handle_control(fp_mqtt *m, const unsigned char *p, size_t hdr, size_t rem,
                              fp_err *err)
{
    int type = p[0] >> 4;
    const unsigned char *v = p + hdr;
    if (type != PKT_CONNACK && m->waiting == WAIT_CONNACK)
        return fail_io(m, err, "protocol error: packet type %d before CONNACK", type);
    switch (type) {
    case PKT_CONNACK:
        if (m->waiting != WAIT_CONNACK)
            return fail_io(m, err, "protocol error: unexpected CONNACK");
        m->session_present = v[0] & 1;
        m->connack_rc = v[1];
        m->waiting = WAIT_NONE;
        return FP_OK;
    case PKT_SUBACK: {
        uint16_t pid = (uint16_t)(v[0] << 8 | v[1]);
        if (m->waiting != WAIT_SUBACK || pid != m->suback_pid)
            return fail_io(m, err, "protocol error: SUBACK for unknown packet id %u", pid);
        fp_buf_reset(&m->suback);
        fp_buf_append(&m->suback, v + 2, rem - 2);
        m->waiting = WAIT_NONE;
        return FP_OK;
    }
    case PKT_PINGRESP:
        m->ping_sent_ms = 0;
        m->st.pings++;
        return FP_OK;
    default:
        return fail_io(m, err, "protocol error: unexpected packet type %d", type);
    }
}

/* Rejects a packet on its fixed header alone, before waiting for (or allocating) a body. */
static fp_code check_fixed_header(fp_mqtt *m, unsigned char b0, size_t rem, fp_err *err)
{
    int type = b0 >> 4;
    int flags = b0 & 0x0f;
    size_t want_min = 0, want_max = 0;
    switch (type) {
    case PKT_PUBLISH:
        return FP_OK; /* flags and size checked in publish_header() */
    case PKT_CONNACK:
        want_min = want_max = 2;
        break;
    case PKT_SUBACK:
        want_min = 3;
        want_max = 2 + 65535;
        break;
    case PKT_PINGRESP:
        want_min = want_max = 0;
        break;
    default:
        return fail_io(m, err, "protocol error: unexpected packet type %d", type);
    }
    if (flags)
        return fail_io(m, err, "protocol error: packet type %d with reserved flags 0x%x", type,
                       flags);
    if (rem < want_min || rem > want_max)
        return fail_io(m, err, "protocol error: packet type %d with remaining length %zu", type,
                       rem);
    return FP_OK;
}

/* Dispatches every complete packet in rbuf. */
static fp_code process_input(fp_mqtt *m, fp_err *err)
{
    while (m->rstart < m->rend) {
        size_t avail = m->rend - m->rstart;
        if (m->skip) {
            size_t n = avail < m->skip ? avail : (size_t)m->skip;
            m->rstart += n;
            m->skip -= n;
            continue;
        }
        if (m->stop_after_ack && m->waiting == WAIT_NONE) {
            m->input_pending = 1;
            return FP_OK;
        }
        const unsigned char *p = m->rbuf + m->rstart;
        size_t hdr, rem;
        int h = parse_fixed_header(p, avail, &hdr, &rem);
        if (h < 0)
            return fail_io(m, err, "protocol error: malformed remaining length (over 4 bytes)");
        if (h == 0)
            return FP_OK;
        fp_code rc = check_fixed_header(m, p[0], rem, err);
        if (rc)
            return rc;
        if ((p[0] >> 4) != PKT_PUBLISH) {
            if (avail < hdr + rem)
                return FP_OK;
            rc = handle_control(m, p, hdr, rem, err);
            if (rc)
                return rc;
            m->rstart += hdr + rem;
            continue;
        }
        if (m->waiting == WAIT_CONNACK)
            return fail_io(m, err, "protocol error: PUBLISH before CONNACK");
        size_t need = 0;
        rc = publish_header(m, p, avail, hdr, rem, &need, err);
        if (rc)
            return rc;
        if (avail < need)
            return FP_OK;
        rc = deliver_publish(m, p, hdr, rem, err);
        if (rc)
            return rc;
        /* A truncated payload may still be streaming in: skip what is not buffered yet. */
        size_t have = avail < hdr + rem ? avail : hdr + rem;
        m->rstart += have;
        m->skip = hdr + rem - have;
    }
    return FP_OK;
}

/* Reads and dispatches until the socket (and OpenSSL's buffer) is empty or the budget is
 * spent; with until_answer, also as soon as the awaited CONNACK or SUBACK is in, so that a
 * connection the broker drops right after answering still yields the answer. */
static fp_code pump_input(fp_mqtt *m, int until_answer, fp_err *err)
{
    size_t budget = READ_BUDGET;
    m->input_pending = 0;
    fp_code rc = process_input(m, err); /* packets left buffered after CONNACK */
    if (rc)
        return rc;
    if (until_answer && m->waiting == WAIT_NONE)
        return FP_OK;
    for (;;) {
        size_t before = m->rend;
        int got;
        rc = read_some(m, &got, err);
        if (rc)
            return rc;
        if (!got)
            return FP_OK;
        size_t n = m->rend - before;
        rc = process_input(m, err);
        if (rc)
            return rc;
        budget = n < budget ? budget - n : 0;
        /* Stopping with bytes decrypted inside OpenSSL would stall poll(); drain those. */
        if (budget == 0 && !(m->ssl && SSL_has_pending(m->ssl)))
            return FP_OK;
        if (until_answer && m->waiting == WAIT_NONE)
            return FP_OK;
    }
}

/* ---- keepalive ---- */

static fp_code keepalive(fp_mqtt *m, fp_err *err)
{
    int64_t now = fp_time_mono_ms(), ka = keepalive_ms(m);
    if (m->ping_sent_ms) {
        if (now - m->ping_sent_ms >= ka)
            return fail_io(m, err, "no PINGRESP within %d s (keepalive)", m->o.keepalive_s);
        return FP_OK;
    }
    /* Ping when we have been quiet (the broker's rule) or the broker has (a dead link). */
    if (now - m->last_send_ms >= ka || now - m->last_recv_ms >= ka) {
        unsigned char ping[2] = {PKT_PINGREQ << 4, 0};
        fp_buf_append(&m->wbuf, ping, sizeof ping);
        m->ping_sent_ms = now;
    }
    return FP_OK;
}

/* ---- public I/O ---- */

int fp_mqtt_fd(const fp_mqtt *m)
{
    return m->fd;
}

short fp_mqtt_poll_events(const fp_mqtt *m)
{
    if (m->fd < 0)
        return 0;
    short ev = POLLIN;
    if (m->woff < m->wbuf.len || m->ssl_read_wants_write)
        ev |= POLLOUT;
    return ev;
}

int fp_mqtt_timeout_ms(const fp_mqtt *m)
{
    if (m->fd < 0)
        return -1;
    /* Bytes already here (after CONNACK, or inside OpenSSL) will not wake poll(). */
    if (m->input_pending || (m->ssl && SSL_has_pending(m->ssl)))
        return 0;
    int64_t now = fp_time_mono_ms(), ka = keepalive_ms(m), due;
    if (m->ping_sent_ms) {
        due = m->ping_sent_ms + ka;
    } else {
        int64_t last = m->last_send_ms < m->last_recv_ms ? m->last_send_ms : m->last_recv_ms;
        due = last + ka;
    }
    if (due <= now)
        return 0;
    return due - now > INT32_MAX ? INT32_MAX : (int)(due - now);
}

fp_code fp_mqtt_service(fp_mqtt *m, short revents, fp_err *err)
{
    if (m->fd < 0)
        return fp_err_set(err, FP_ERR_IO, "mqtt %s:%d: not connected", m->host, m->o.port);
    m->stop_after_ack = 0;
    /* revents is not needed: reading and writing are simply tried (the socket is non-blocking)
     * and report errors and hang-ups themselves, which also covers data inside OpenSSL. */
    fp_code rc = pump_input(m, 0, err);
    if (rc)
        return rc;
    rc = keepalive(m, err);
    if (rc)
        return rc;
    int blocked;
    return flush(m, &blocked, err);
}

bool fp_mqtt_token_current(const fp_mqtt *m, uint64_t token)
{
    return token >> TOKEN_SEQ_BITS == m->gen && m->fd >= 0;
}

void fp_mqtt_done(fp_mqtt *m, uint64_t token)
{
    if (token >> TOKEN_SEQ_BITS != m->gen || m->fd < 0)
        return;
    uint64_t seq = token & TOKEN_SEQ_MASK;
    if (seq < m->head || seq >= m->tail)
        return; /* QoS 0, already acknowledged, or not ours */
    m->ring[seq & (m->ring_cap - 1)].done = 1;
    queue_done_prefix(m);
}

size_t fp_mqtt_unacked(const fp_mqtt *m)
{
    return (size_t)(m->tail - m->head);
}

void fp_mqtt_get_stats(const fp_mqtt *m, fp_mqtt_stats *s)
{
    *s = m->st;
}

/* ---- blocking phases: connect, TLS handshake, CONNACK and SUBACK waits ---- */

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - fp_time_mono_ms();
    return left < 0 ? 0 : (int)left;
}

/* Waits for the fd to become ready for events; FP_ERR_IO on timeout. */
static fp_code wait_fd(fp_mqtt *m, short events, int64_t deadline, const char *what, fp_err *err)
{
    for (;;) {
        struct pollfd pfd = {.fd = m->fd, .events = events};
        int left = remaining_ms(deadline);
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fail_io(m, err, "poll: %s", strerror(errno));
        if (r == 0)
            return fail_io(m, err, "timed out after %d ms %s", m->o.connect_timeout_ms, what);
        return FP_OK;
    }
}

/* Services the connection until m->waiting clears, bounded by deadline. */
static fp_code wait_reply(fp_mqtt *m, int64_t deadline, const char *what, fp_err *err)
{
    while (m->waiting != WAIT_NONE) {
        int blocked;
        fp_code rc = flush(m, &blocked, err);
        if (rc)
            return rc;
        rc = pump_input(m, 1, err);
        if (rc)
            return rc;
        if (m->waiting == WAIT_NONE)
            break;
        rc = wait_fd(m, fp_mqtt_poll_events(m), deadline, what, err);
        if (rc)
            return rc;
    }
    return FP_OK;
}

static fp_code tcp_connect_one(fp_mqtt *m, const struct addrinfo *ai, int64_t deadline, fp_err *err)
{
    m->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (m->fd < 0)
        return fail_io(m, err, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(m->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(m->fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return FP_OK;
    if (errno != EINPROGRESS)
        return fail_io(m, err, "connect: %s", strerror(errno));
    fp_code rc = wait_fd(m, POLLOUT, deadline, "connecting", err);
    if (rc)
        return rc;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr)
        return fail_io(m, err, "connect: %s", strerror(soerr));
    return FP_OK;
}

static fp_code tcp_connect(fp_mqtt *m, int64_t deadline, fp_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", m->o.port);
    int g = getaddrinfo(m->host, port, &hints, &res);
    if (g)
        return fp_err_set(err, FP_ERR_IO, "mqtt %s:%d: resolve: %s", m->host, m->o.port,
                          gai_strerror(g));
    fp_code rc = FP_ERR_IO;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = tcp_connect_one(m, ai, deadline, err);
        if (!rc)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

static fp_code tls_setup_ctx(fp_mqtt *m, fp_err *err)
{
    if (m->ssl_ctx)
        return FP_OK;
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return fp_err_set(err, FP_ERR_IO, "mqtt TLS: %s", ssl_reason(why, sizeof why));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* fp_buf may move between SSL_write retries, and partial writes keep the loop simple. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (!m->o.tls_insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = m->ca_file ? SSL_CTX_load_verify_locations(ctx, m->ca_file, NULL)
                            : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            SSL_CTX_free(ctx);
            return fp_err_set(err, FP_ERR_CONFIG, "mqtt TLS CA %s: %s",
                              m->ca_file ? m->ca_file : "(system store)",
                              ssl_reason(why, sizeof why));
        }
    }
    if (m->cert_file) {
        const char *key = m->key_file ? m->key_file : m->cert_file;
        if (SSL_CTX_use_certificate_chain_file(ctx, m->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            SSL_CTX_free(ctx);
            return fp_err_set(err, FP_ERR_CONFIG, "mqtt TLS client certificate %s / key %s: %s",
                              m->cert_file, key, ssl_reason(why, sizeof why));
        }
    }
    m->ssl_ctx = ctx;
    return FP_OK;
}

static int is_ip_literal(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static fp_code tls_handshake(fp_mqtt *m, int64_t deadline, fp_err *err)
{
    char why[256];
    ERR_clear_error();
    m->ssl = SSL_new(m->ssl_ctx);
    if (!m->ssl)
        return fail_io(m, err, "TLS: %s", ssl_reason(why, sizeof why));
    SSL_set_fd(m->ssl, m->fd);
    if (is_ip_literal(m->host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(m->ssl), m->host);
    } else {
        SSL_set_tlsext_host_name(m->ssl, m->host);
        SSL_set1_host(m->ssl, m->host);
    }
    for (;;) {
        int r = SSL_connect(m->ssl);
        if (r == 1)
            return FP_OK;
        int e = SSL_get_error(m->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            short ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
            fp_code rc = wait_fd(m, ev, deadline, "in the TLS handshake", err);
            if (rc)
                return rc;
            continue;
        }
        long v = SSL_get_verify_result(m->ssl);
        if (!m->o.tls_insecure && v != X509_V_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "TLS certificate verification failed: %s",
                     X509_verify_cert_error_string(v));
            ERR_clear_error();
            drop_connection(m);
            return fp_err_set(err, FP_ERR_CONFIG, "mqtt %s:%d: %s", m->host, m->o.port, msg);
        }
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
            return fail_io(m, err, "TLS handshake: connection closed (%s)",
                           errno ? strerror(errno) : "EOF");
        return fail_io(m, err, "TLS handshake: %s", ssl_reason(why, sizeof why));
    }
}

static fp_code queue_connect_packet(fp_mqtt *m, fp_err *err)
{
    size_t id_len = strlen(m->client_id);
    size_t user_len = m->username ? strlen(m->username) : 0;
    size_t pass_len = m->password ? strlen(m->password) : 0;
    if (id_len > 65535 || user_len > 65535 || pass_len > 65535)
        return fp_err_set(err, FP_ERR_CONFIG, "mqtt: client id, user name or password too long");
    if (m->password && !m->username)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "mqtt: a password needs a user name (MQTT 3.1.1 section 3.1.2.9)");
    unsigned char flags = m->o.clean_session ? 0x02 : 0;
    size_t rem = 10 + 2 + id_len;
    if (m->username) {
        flags |= 0x80;
        rem += 2 + user_len;
    }
    if (m->password) {
        flags |= 0x40;
        rem += 2 + pass_len;
    }
    put_fixed_header(&m->wbuf, PKT_CONNECT << 4, rem);
    put_str(&m->wbuf, "MQTT", 4);
    fp_buf_putc(&m->wbuf, 4); /* protocol level 3.1.1 */
    fp_buf_putc(&m->wbuf, (char)flags);
    put_u16(&m->wbuf, (unsigned)m->o.keepalive_s);
    put_str(&m->wbuf, m->client_id, id_len);
    if (m->username)
        put_str(&m->wbuf, m->username, user_len);
    if (m->password)
        put_str(&m->wbuf, m->password, pass_len);
    return FP_OK;
}

fp_code fp_mqtt_connect(fp_mqtt *m, int *session_present, fp_err *err)
{
    if (m->fd >= 0)
        drop_connection(m);
    int64_t deadline = fp_time_mono_ms() + m->o.connect_timeout_ms;
    fp_code rc = FP_OK;
    if (m->o.tls)
        rc = tls_setup_ctx(m, err);
    if (rc)
        return rc;
    rc = tcp_connect(m, deadline, err);
    if (!rc && m->o.tls)
        rc = tls_handshake(m, deadline, err);
    if (!rc)
        rc = queue_connect_packet(m, err);
    if (rc) {
        drop_connection(m);
        return rc;
    }
    m->gen = (m->gen + 1) & TOKEN_GEN_MASK;
    if (m->gen == 0)
        m->gen = 1; /* token 0 stays invalid */
    m->last_send_ms = m->last_recv_ms = fp_time_mono_ms();
    m->waiting = WAIT_CONNACK;
    m->stop_after_ack = 1; /* session messages wait for fp_mqtt_service() */
    rc = wait_reply(m, deadline, "waiting for CONNACK", err);
    if (rc)
        return rc;
    if (m->connack_rc) {
        int r = m->connack_rc;
        drop_connection(m);
        return fp_err_set(err, r == 3 ? FP_ERR_IO : FP_ERR_CONFIG,
                          "mqtt %s:%d: connection refused: %s (CONNACK %d)", m->host, m->o.port,
                          connack_reason(r), r);
    }
    m->st.connects++;
    if (session_present)
        *session_present = m->session_present;
    return FP_OK;
}

fp_code fp_mqtt_subscribe(fp_mqtt *m, const char *const *filters, size_t n, int qos, fp_err *err)
{
    if (m->fd < 0)
        return fp_err_set(err, FP_ERR_IO, "mqtt %s:%d: subscribe: not connected", m->host,
                          m->o.port);
    if (qos < 0 || qos > 1)
        return fp_err_set(err, FP_ERR_CONFIG, "mqtt subscribe: QoS %d not supported (0 or 1)", qos);
    if (n == 0)
        return FP_OK;
    size_t rem = 2;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(filters[i]);
        if (len == 0 || len > 65535)
            return fp_err_set(err, FP_ERR_CONFIG, "mqtt subscribe: bad filter length %zu", len);
        rem += 2 + len + 1;
    }
    if (rem > MAX_REM_LEN)
        return fp_err_set(err, FP_ERR_CONFIG, "mqtt subscribe: too many filters");
    m->next_pid = m->next_pid == 65535 ? 1 : m->next_pid + 1;
    m->suback_pid = m->next_pid;
    put_fixed_header(&m->wbuf, PKT_SUBSCRIBE << 4 | 0x2, rem);
    put_u16(&m->wbuf, m->suback_pid);
    for (size_t i = 0; i < n; i++) {
        put_str(&m->wbuf, filters[i], strlen(filters[i]));
        fp_buf_putc(&m->wbuf, (char)qos);
    }
    m->stop_after_ack = 0;
    m->waiting = WAIT_SUBACK;
    int64_t deadline = fp_time_mono_ms() + m->o.connect_timeout_ms;
    fp_code rc = wait_reply(m, deadline, "waiting for SUBACK", err);
    if (rc)
        return fp_err_prefix(err, "subscribe %s%s", filters[0], n > 1 ? ", ..." : "");
    if (m->suback.len != n)
        return fail_io(m, err, "protocol error: SUBACK has %zu codes for %zu filters",
                       m->suback.len, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char code = (unsigned char)m->suback.p[i];
        if (code == 0x80)
            return fp_err_set(err, FP_ERR_CONFIG, "mqtt %s:%d: subscription to %s refused", m->host,
                              m->o.port, filters[i]);
        if (code > 2)
            return fail_io(m, err, "protocol error: SUBACK return code 0x%02x for %s", code,
                           filters[i]);
    }
    return FP_OK;
}

void fp_mqtt_disconnect(fp_mqtt *m)
{
    if (m->fd < 0)
        return;
    unsigned char bye[2] = {PKT_DISCONNECT << 4, 0};
    fp_buf_append(&m->wbuf, bye, sizeof bye);
    int64_t deadline = fp_time_mono_ms() + m->o.connect_timeout_ms;
    while (m->fd >= 0 && m->woff < m->wbuf.len) {
        int blocked;
        if (flush(m, &blocked, NULL))
            break;
        if (!blocked)
            break;
        if (wait_fd(m, POLLOUT, deadline, "sending DISCONNECT", NULL))
            break;
    }
    /* The broker closes the connection once it has read DISCONNECT, so everything before it
     * (the PUBACKs) has been processed. Closing first is not enough with mosquitto: it handles
     * one packet per connection per loop, and a reconnect with the same client id can take the
     * session over before it has read the old connection's last PUBACKs. */
    while (m->fd >= 0 && m->woff == m->wbuf.len) {
        int got;
        if (wait_fd(m, POLLIN, deadline, "waiting for the broker to close", NULL))
            break;
        if (read_some(m, &got, NULL))
            break;
        m->rstart = m->rend = 0; /* after DISCONNECT, nothing is delivered */
    }
    drop_connection(m);
}

void fp_mqtt_free(fp_mqtt *m)
{
    if (!m)
        return;
    drop_connection(m);
    SSL_CTX_free(m->ssl_ctx);
    fp_buf_free(&m->wbuf);
    fp_buf_free(&m->suback);
    free(m->runs);
    free(m->rbuf);
    free(m->topic);
    free(m->ring);
    free(m->host);
    free(m->client_id);
    free(m->username);
    if (m->password)
        explicit_bzero(m->password, strlen(m->password));
    free(m->password);
    free(m->ca_file);
    free(m->cert_file);
    free(m->key_file);
    free(m);
}
