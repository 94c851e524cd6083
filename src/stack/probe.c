/* probe.c — one health probe per part of the stack: fleetpipe's own commands by their /healthz
 * (200 ok, else the reason they give), the servers without one natively — a Kafka metadata
 * request, an MQTT CONNECT with a provisioned account (CONNACK 0), a Redis PING, a PostgreSQL
 * connection with SELECT 1, any HTTP answer from s3rver and dynalite. Each probe is bounded
 * (about 3 s) and says why in one line when it fails. Any thread; nothing shared.
 */
#include <curl/curl.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/url.h"
#include "pg/pg.h"
#include "redis/client.h"
#include "sim/provision.h"
#include "stack/stack_int.h"

#define PROBE_MS 3000

static const char *const names[] = {"none", "healthz", "kafka", "mqtt", "redis", "pg", "http"};

const char *fp_stack_probe_name(fp_stack_probe p)
{
    return names[p];
}

fp_stack_probe fp_stack_probe_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i]))
            return (fp_stack_probe)i;
    return FP_STACK_PROBE_NONE;
}

fp_stack_probe_spec fp_stack_probe_from_json(json_t *j)
{
    fp_stack_probe_spec p = {0};
    p.kind = fp_stack_probe_parse(json_string_value(json_object_get(j, "probe")));
    p.url = (char *)json_string_value(json_object_get(j, "target"));
    p.user = (char *)json_string_value(json_object_get(j, "user"));
    p.password_file = (char *)json_string_value(json_object_get(j, "password_file"));
    return p;
}

json_t *fp_stack_probe_to_json(const fp_stack_probe_spec *p)
{
    json_t *j = json_pack("{s:s}", "probe", fp_stack_probe_name(p->kind));
    if (p->url)
        json_object_set_new(j, "target", json_string(p->url));
    if (p->user)
        json_object_set_new(j, "user", json_string(p->user));
    if (p->password_file)
        json_object_set_new(j, "password_file", json_string(p->password_file));
    return j;
}

/* ---- HTTP ---- */

static size_t body_cb(char *p, size_t size, size_t n, void *arg)
{
    fp_buf *b = arg;
    if (b->len < 4096)
        fp_buf_append(b, p, size * n);
    return size * n;
}

static bool probe_http(const char *url, bool need_200, fp_buf *reason)
{
    CURL *c = curl_easy_init();
    if (!c) {
        fp_buf_puts(reason, "curl_easy_init failed");
        return false;
    }
    fp_buf body = FP_BUF_INIT;
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)PROBE_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    bool ok = false;
    if (rc != CURLE_OK) {
        fp_buf_printf(reason, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
    } else if (need_200 && status != 200) {
        size_t n = body.p ? strcspn(body.p, "\r\n") : 0;
        fp_buf_printf(reason, "HTTP %ld: %.*s", status, (int)(n > 300 ? 300 : n),
                      body.p ? body.p : "");
    } else {
        ok = true;
    }
    fp_buf_free(&body);
    return ok;
}

/* ---- Kafka ---- */

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}

static bool probe_kafka(const char *bootstrap, fp_buf *reason)
{
    char es[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, es, sizeof es) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        fp_buf_printf(reason, "bootstrap.servers %s: %s", bootstrap, es);
        return false;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!rk) {
        fp_buf_printf(reason, "rd_kafka_new: %s", es);
        return false;
    }
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, PROBE_MS);
    bool ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0;
    if (!ok)
        fp_buf_printf(reason, "metadata request to %s: %s", bootstrap, rd_kafka_err2str(e));
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return ok;
}

/* ---- MQTT 3.1.1 CONNECT / CONNACK by hand: a probe needs nothing more ---- */

static int tcp_connect(const char *host, int port, fp_buf *reason)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(host, ps, &hints, &ai);
    if (g) {
        fp_buf_printf(reason, "%s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fp_buf_printf(reason, "%s:%d: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        struct timeval tv = {PROBE_MS / 1000, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
}

static void put_str(fp_buf *b, const char *s)
{
    size_t n = strlen(s);
    fp_buf_putc(b, (char)(n >> 8));
    fp_buf_putc(b, (char)(n & 0xff));
    fp_buf_append(b, s, n);
}

static bool probe_mqtt(const fp_stack_probe_spec *p, fp_buf *reason)
{
    char *host = NULL, *password = NULL;
    int port = 0, tls = 0;
    fp_err err = {0};
    bool ok = false;
    int fd = -1;
    if (fp_url_mqtt(p->url, &host, &port, &tls, &err)) {
        fp_buf_printf(reason, "%s", err.msg);
        goto out;
    }
    if (p->password_file && !(password = fp_sim_read_secret(p->password_file, &err))) {
        fp_buf_printf(reason, "%s", err.msg);
        goto out;
    }
    fd = tcp_connect(host, port, reason);
    if (fd < 0)
        goto out;
    fp_buf var = FP_BUF_INIT, pkt = FP_BUF_INIT;
    char cid[48];
    snprintf(cid, sizeof cid, "fleetpipe-stack-probe-%d", (int)getpid());
    put_str(&var, "MQTT");
    fp_buf_putc(&var, 4); /* 3.1.1 */
    fp_buf_putc(&var, (char)(0x02 | (p->user ? 0x80 : 0) | (password ? 0x40 : 0)));
    fp_buf_putc(&var, 0);
    fp_buf_putc(&var, 10); /* keepalive */
    put_str(&var, cid);
    if (p->user)
        put_str(&var, p->user);
    if (password)
        put_str(&var, password);
    fp_buf_putc(&pkt, 0x10);
    for (size_t n = var.len;;) { /* remaining length, 7 bits a byte */
        char d = (char)(n & 0x7f);
        n >>= 7;
        fp_buf_putc(&pkt, (char)(d | (n ? 0x80 : 0)));
        if (!n)
            break;
    }
    fp_buf_append(&pkt, var.p, var.len);
    ssize_t w = write(fd, pkt.p, pkt.len);
    fp_buf_free(&var);
    fp_buf_free(&pkt);
    unsigned char ack[4];
    size_t got = 0;
    while (w > 0 && got < sizeof ack) {
        ssize_t r = read(fd, ack + got, sizeof ack - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < 4 || ack[0] != 0x20) {
        fp_buf_printf(reason, "%s: no CONNACK (%s)", p->url,
                      got ? "unexpected packet" : "connection closed or timed out");
    } else if (ack[3] != 0) {
        static const char *const why[] = {"",
                                          "unacceptable protocol version",
                                          "identifier rejected",
                                          "server unavailable",
                                          "bad user name or password",
                                          "not authorized"};
        fp_buf_printf(reason, "%s: CONNACK %d (%s)", p->url, ack[3],
                      ack[3] < 6 ? why[ack[3]] : "?");
    } else {
        static const unsigned char disc[2] = {0xe0, 0};
        if (write(fd, disc, sizeof disc) < 0) {
            /* the probe already has its answer */
        }
        ok = true;
    }
out:
    if (fd >= 0)
        close(fd);
    if (password)
        memset(password, 0, strlen(password));
    free(password);
    free(host);
    return ok;
}

/* ---- Redis, PostgreSQL ---- */

static bool probe_redis(const char *url, fp_buf *reason)
{
    fp_redis_url u = {0};
    fp_err err = {0};
    redisContext *c = NULL;
    bool ok = false;
    if (fp_redis_url_parse(url, &u, &err) || fp_redis_open(&u, PROBE_MS, PROBE_MS, &c, &err)) {
        fp_buf_printf(reason, "%s", err.msg);
    } else {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
        if (!ok)
            fp_buf_printf(reason, "PING: %s",
                          r ? (r->str ? r->str : "unexpected reply") : c->errstr);
        freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    fp_redis_url_free(&u);
    return ok;
}

static bool probe_pg(const char *conninfo, fp_buf *reason)
{
    fp_pg_opts po = {.conninfo = conninfo,
                     .app = "fleetpipe stack status",
                     .connect_timeout_s = PROBE_MS / 1000,
                     .statement_timeout_ms = PROBE_MS};
    fp_pg *pg = NULL;
    fp_err err = {0};
    int64_t one = 0;
    bool ok = !fp_pg_connect_opts(&po, &pg, &err) &&
              !fp_pg_query_int(pg, "SELECT 1", 0, NULL, &one, &err) && one == 1;
    if (!ok)
        fp_buf_printf(reason, "%s", err.msg[0] ? err.msg : "SELECT 1 did not answer 1");
    fp_pg_free(pg);
    return ok;
}

bool fp_stack_probe_run(const fp_stack_probe_spec *p, fp_buf *reason)
{
    switch (p->kind) {
    case FP_STACK_PROBE_HEALTHZ:
        return probe_http(p->url, true, reason);
    case FP_STACK_PROBE_HTTP:
        return probe_http(p->url, false, reason);
    case FP_STACK_PROBE_KAFKA:
        return probe_kafka(p->url, reason);
    case FP_STACK_PROBE_MQTT:
        return probe_mqtt(p, reason);
    case FP_STACK_PROBE_REDIS:
        return probe_redis(p->url, reason);
    case FP_STACK_PROBE_PG:
        return probe_pg(p->url, reason);
    case FP_STACK_PROBE_NONE:
        break;
    }
    return true;
}
