/* mqtt.h — a small MQTT 3.1.1 subscriber client that acknowledges on the application's signal.
 *
 * Why our own client: the bridge may PUBACK a QoS 1 message only after Kafka has it, and
 * libmosquitto (Debian's 2.0.11) acknowledges before the application sees the message. This
 * client hands every PUBLISH to a callback with a token; the application calls fp_mqtt_done()
 * when the message is safe, in any order, and the client sends PUBACKs in receive order (MQTT
 * 3.1.1 section 4.6) for the prefix of messages that are done. With a persistent session
 * (clean_session = 0, stable client id) the broker redelivers whatever was not acknowledged when
 * the connection dies, so a crash loses nothing (duplicates are possible: at-least-once).
 *
 * Scope: CONNECT (user/password), SUBSCRIBE, PUBLISH in (QoS 0/1), PUBACK out, PINGREQ, clean
 * DISCONNECT, TLS via OpenSSL. Not a publisher. The caller drives I/O: put fp_mqtt_fd() into
 * poll() with fp_mqtt_poll_events(), call fp_mqtt_service() when it is ready or after
 * fp_mqtt_timeout_ms(). Memory is bounded: a payload longer than max_payload is delivered
 * truncated (total_len says how long it was), never buffered whole.
 *
 * Threads: one fp_mqtt belongs to one thread. With TLS, OpenSSL writes to the socket itself, so
 * the process must ignore SIGPIPE (fleetpipe does, cli/sig.c); plain TCP uses MSG_NOSIGNAL.
 */
#ifndef FP_INGEST_MQTT_H
#define FP_INGEST_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct fp_mqtt fp_mqtt;

typedef struct fp_mqtt_opts {
    const char *host;
    int port; /* 0: 1883, or 8883 with tls */
    const char *client_id;
    const char *username;      /* NULL: none */
    const char *password;      /* NULL: none; never logged or put into an error message */
    int clean_session;         /* 0 for the bridge: the broker keeps unacknowledged messages */
    int keepalive_s;           /* 0: 60 */
    int connect_timeout_ms;    /* 0: 10000; covers TCP, TLS handshake and CONNACK/SUBACK waits */
    size_t max_payload;        /* 0: 1 MiB; longer payloads are delivered truncated; the read
                                  buffer is max_payload + 64 KiB (at least 256 KiB) */
    int tls;                   /* 1: TLS (OpenSSL); server certificate and host name verified */
    const char *tls_ca_file;   /* NULL: system trust store */
    const char *tls_cert_file; /* client certificate (PEM), NULL: none */
    const char *tls_key_file;  /* its private key (PEM) */
    int tls_insecure;          /* 1: skip verification (tests only) */
} fp_mqtt_opts;

typedef struct fp_mqtt_msg {
    const char *topic; /* NUL-terminated; valid during the callback only */
    size_t topic_len;
    const char *payload; /* valid during the callback only; not NUL-terminated */
    size_t len;          /* bytes in payload, <= max_payload */
    size_t total_len;    /* the payload's real length; > len when truncated */
    int qos;             /* 0 or 1 (subscriptions are made with QoS <= 1) */
    int dup;             /* the broker's DUP flag: a redelivery */
    uint64_t token;      /* pass to fp_mqtt_done() once the message is safe */
} fp_mqtt_msg;

/* Called from fp_mqtt_service()/fp_mqtt_subscribe() for every PUBLISH received, in order. It may
 * call fp_mqtt_done(), not fp_mqtt_connect/disconnect/free. fp_mqtt_connect() never calls it:
 * messages of a resumed session that arrive with the CONNACK wait for fp_mqtt_service(), and
 * fp_mqtt_timeout_ms() is 0 meanwhile. */
typedef void (*fp_mqtt_on_message)(void *opaque, const fp_mqtt_msg *m);

/* Copies every string of o. Does not connect. */
fp_mqtt *fp_mqtt_new(const fp_mqtt_opts *o, fp_mqtt_on_message cb, void *opaque);

/* Connects (TCP, TLS when asked, CONNECT, waits for CONNACK); blocking, bounded by
 * connect_timeout_ms. A refused CONNACK is FP_ERR_CONFIG naming the reason ("not authorised",
 * "bad user name or password", ...), except 3 "server unavailable", which is FP_ERR_IO (worth a
 * retry); a server certificate that fails verification is FP_ERR_CONFIG; network trouble is
 * FP_ERR_IO. *session_present (may be NULL) tells whether the broker resumed a stored
 * session. Calling it while connected first drops the old connection. Name resolution
 * (getaddrinfo) is not bounded by the timeout. */
fp_code fp_mqtt_connect(fp_mqtt *m, int *session_present, fp_err *err);

/* Subscribes to n filters at the given maximum QoS (0 or 1) and waits for the SUBACK. A filter
 * the broker refuses (return code 0x80) is FP_ERR_CONFIG naming it. PUBLISH packets that
 * arrive meanwhile go to the callback as usual. */
fp_code fp_mqtt_subscribe(fp_mqtt *m, const char *const *filters, size_t n, int qos, fp_err *err);

/* The socket to poll, -1 when not connected. */
int fp_mqtt_fd(const fp_mqtt *m);
/* POLLIN, plus POLLOUT while output is queued. */
short fp_mqtt_poll_events(const fp_mqtt *m);
/* Milliseconds until keepalive work is due (PINGREQ to send, PINGRESP overdue), 0 while input
 * is already buffered (after CONNACK, or decrypted inside OpenSSL); -1 when not
 * connected. */
int fp_mqtt_timeout_ms(const fp_mqtt *m);

/* Does all I/O that is possible without blocking: reads and dispatches complete packets
 * (including data already buffered inside TLS), writes queued PUBACKs, sends PINGREQ when due.
 * revents is what poll() returned for the fd (0 after a timeout). A lost connection, protocol
 * violation or missing PINGRESP is FP_ERR_IO; the client is then disconnected (fp_mqtt_fd() is
 * -1) and fp_mqtt_connect() starts over. */
fp_code fp_mqtt_service(fp_mqtt *m, short revents, fp_err *err);

/* Marks the message of token as handled. PUBACKs are queued in receive order for every QoS 1
 * message up to the first one not yet done. Tokens of an earlier connection, and QoS 0 tokens,
 * are ignored. */
void fp_mqtt_done(fp_mqtt *m, uint64_t token);

/* Whether token belongs to the current connection (its PUBACK can still be sent). */
bool fp_mqtt_token_current(const fp_mqtt *m, uint64_t token);

/* QoS 1 messages received on this connection whose PUBACK is not queued yet (not done, or
 * behind one that is not). */
size_t fp_mqtt_unacked(const fp_mqtt *m);

typedef struct fp_mqtt_stats {
    uint64_t messages; /* PUBLISH packets received, all connections */
    uint64_t bytes;    /* payload bytes received (real lengths, truncated parts included) */
    uint64_t acked;    /* PUBACKs wholly written to the socket */
    uint64_t connects; /* successful CONNACKs */
    uint64_t pings;    /* PINGRESPs received */
} fp_mqtt_stats;
void fp_mqtt_get_stats(const fp_mqtt *m, fp_mqtt_stats *s);

/* Sends DISCONNECT (so the broker discards no will) and closes; queued PUBACKs are written
 * first. Then waits, bounded by connect_timeout_ms, for the broker to close the connection, so
 * that it has processed those PUBACKs: mosquitto interleaves packets of different connections,
 * and an immediate reconnect with the same client id could otherwise take the session over
 * before the old connection's last PUBACKs were read (they would be redelivered). Safe when not
 * connected. */
void fp_mqtt_disconnect(fp_mqtt *m);
/* NULL is fine. Closes without DISCONNECT if still connected. */
void fp_mqtt_free(fp_mqtt *m);

#endif
