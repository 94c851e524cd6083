/* test_mqtt.c — the MQTT subscriber against a real mosquitto (started per test on a free
 * loopback port from a temporary config) and, where a real broker cannot be made to misbehave,
 * against fake brokers forked here. Scenarios: ordered delivery with PUBACK only after done(),
 * persistent sessions (plain and shared subscriptions) that redeliver exactly the unacknowledged
 * suffix, done() out of order, refused logins and subscriptions, truncated oversized payloads,
 * keepalive, TLS (right CA, wrong CA, wrong host name), and with fakes: malformed packets, a
 * missing PINGRESP, connect failures and partial writes. FP_MQTT_BENCH=<n> adds a throughput
 * run against libmosquitto. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mosquitto.h>

#include "core/mem.h"
#include "core/time.h"
#include "ingest/mqtt.h"

/* ---- a real mosquitto ---- */

typedef struct broker {
    pid_t pid;
    int port;
    char dir[64];
} broker;

/* Brokers still running; a failed assertion skips broker_stop(), so the group teardown kills
 * what is left. */
static pid_t live_brokers[8];

static void track_broker(pid_t pid, pid_t replace)
{
    for (size_t i = 0; i < sizeof live_brokers / sizeof *live_brokers; i++) {
        if (live_brokers[i] == replace) {
            live_brokers[i] = pid;
            return;
        }
    }
}

static int kill_leftover_brokers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof live_brokers / sizeof *live_brokers; i++) {
        if (live_brokers[i] > 0) {
            kill(live_brokers[i], SIGTERM);
            waitpid(live_brokers[i], NULL, 0);
            live_brokers[i] = 0;
        }
    }
    return 0;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

static int port_accepts(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

static void make_dir(broker *b)
{
    snprintf(b->dir, sizeof b->dir, "/tmp/fp-mqtt-XXXXXX");
    assert_non_null(mkdtemp(b->dir));
    chmod(b->dir, 0755); /* mosquitto drops root for user mosquitto */
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0644);
}

static void run(const char *cmd)
{
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

/* Starts mosquitto with a listener on a free port plus the given config lines. */
static void broker_start(broker *b, const char *extra)
{
    if (!b->dir[0])
        make_dir(b);
    b->port = free_port();
    char conf[256], log[256];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", b->dir);
    snprintf(log, sizeof log, "%s/mosquitto.log", b->dir);
    fp_buf text = FP_BUF_INIT;
    fp_buf_printf(&text,
                  "listener %d 127.0.0.1\nmax_inflight_messages 1000\nmax_queued_messages 0\n"
                  "persistence false\nlog_type all\n%s\n",
                  b->port, extra);
    if (!strstr(extra, "allow_anonymous"))
        fp_buf_puts(&text, "allow_anonymous true\n");
    write_file(conf, text.p);
    fp_buf_free(&text);
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    track_broker(b->pid, 0);
    int64_t until = fp_time_mono_ms() + 5000;
    while (!port_accepts(b->port)) {
        if (fp_time_mono_ms() > until)
            fail_msg("mosquitto did not start on port %d (see %s)", b->port, log);
        usleep(10000);
    }
}

static void broker_stop(broker *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
        track_broker(0, b->pid);
        b->pid = 0;
    }
    if (b->dir[0] && !getenv("FP_MQTT_KEEP")) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", b->dir);
        run(cmd);
        b->dir[0] = '\0';
    }
}

/* Publishes n lines "<prefix>-<i>" at QoS qos with mosquitto_pub -l. */
static void publish_lines(const broker *b, const char *topic, const char *prefix, int n, int qos,
                          const char *extra_args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mosquitto_pub -h 127.0.0.1 -p %d -q %d -t '%s' -l %s", b->port, qos,
             topic, extra_args ? extra_args : "");
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    for (int i = 0; i < n; i++)
        fprintf(p, "%s-%d\n", prefix, i);
    assert_int_equal(pclose(p), 0);
}

/* ---- collecting what the client delivers ---- */

typedef struct got_msg {
    char *topic;
    char *payload;
    size_t len, total_len;
    int qos, dup;
    uint64_t token;
} got_msg;

typedef struct got {
    got_msg *m;
    size_t n, cap;
    int keep_payload; /* 0: count only (throughput runs) */
} got;

static void on_message(void *opaque, const fp_mqtt_msg *msg)
{
    got *g = opaque;
    assert_int_equal(strlen(msg->topic), msg->topic_len);
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->m = fp_xrealloc(g->m, g->cap * sizeof *g->m);
    }
    got_msg *x = &g->m[g->n++];
    *x = (got_msg){NULL, NULL, msg->len, msg->total_len, msg->qos, msg->dup, msg->token};
    if (g->keep_payload) {
        x->topic = fp_xstrdup(msg->topic);
        x->payload = fp_xstrndup(msg->payload, msg->len);
    }
}

static void got_free(got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->m[i].topic);
        free(g->m[i].payload);
    }
    free(g->m);
    memset(g, 0, sizeof *g);
    g->keep_payload = 1;
}

/* Drives the client the way the bridge does (poll + service) until g holds want messages or
 * ms pass. Returns the first error. */
static fp_code pump(fp_mqtt *m, got *g, size_t want, int ms, fp_err *err)
{
    int64_t until = fp_time_mono_ms() + ms;
    while (fp_time_mono_ms() < until && (!g || g->n < want)) {
        struct pollfd pfd = {.fd = fp_mqtt_fd(m), .events = fp_mqtt_poll_events(m)};
        int t = fp_mqtt_timeout_ms(m);
        int left = (int)(until - fp_time_mono_ms());
        if (t < 0 || t > left)
            t = left < 0 ? 0 : left;
        int r = poll(&pfd, 1, t);
        if (r < 0 && errno != EINTR)
            fail_msg("poll: %s", strerror(errno));
        fp_code rc = fp_mqtt_service(m, r > 0 ? pfd.revents : 0, err);
        if (rc)
            return rc;
    }
    return FP_OK;
}

static fp_mqtt_opts opts_for(const broker *b, const char *client_id, int clean)
{
    fp_mqtt_opts o = {.host = "127.0.0.1",
                      .port = b->port,
                      .client_id = client_id,
                      .clean_session = clean,
                      .connect_timeout_ms = 3000};
    return o;
}

static fp_mqtt *connect_sub(const fp_mqtt_opts *o, got *g, const char *filter, int *session)
{
    fp_mqtt *m = fp_mqtt_new(o, on_message, g);
    fp_err err = {0};
    if (fp_mqtt_connect(m, session, &err))
        fail_msg("connect: %s", err.msg);
    if (filter && fp_mqtt_subscribe(m, &filter, 1, 1, &err))
        fail_msg("subscribe: %s", err.msg);
    return m;
}

static void expect_payloads(const got *g, size_t from, const char *prefix, int first, int n)
{
    assert_true(g->n >= from + (size_t)n);
    for (int i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s-%d", prefix, first + i);
        if (strcmp(g->m[from + i].payload, want))
            fail_msg("message %zu: got \"%s\", want \"%s\"", from + i, g->m[from + i].payload,
                     want);
    }
}

/* ---- 1: ordered delivery, PUBACK only after done() ---- */

static void test_receive_in_order(void **state)
{
    (void)state;
    broker b = {0};
    broker_start(&b, "");
    got g = {.keep_payload = 1};
    fp_mqtt_opts o = opts_for(&b, "fp-order", 1);
    int session = -1;
    fp_mqtt *m = connect_sub(&o, &g, "fleet/+/pos", &session);
    assert_int_equal(session, 0);
    assert_true(fp_mqtt_fd(m) >= 0);

    publish_lines(&b, "fleet/v1/pos", "pos", 50, 1, NULL);
    fp_err err = {0};
    if (pump(m, &g, 50, 5000, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(g.n, 50);
    expect_payloads(&g, 0, "pos", 0, 50);
    for (size_t i = 0; i < g.n; i++) {
        assert_string_equal(g.m[i].topic, "fleet/v1/pos");
        assert_int_equal(g.m[i].qos, 1);
        assert_int_equal(g.m[i].dup, 0);
        assert_int_equal(g.m[i].len, g.m[i].total_len);
    }
    /* Nothing acknowledged until the application says so. */
    assert_int_equal(pump(m, NULL, 0, 200, &err), FP_OK);
    fp_mqtt_stats st;
    fp_mqtt_get_stats(m, &st);
    assert_int_equal(st.acked, 0);
    assert_int_equal(st.messages, 50);
    assert_int_equal(st.connects, 1);
    assert_int_equal(fp_mqtt_unacked(m), 50);
    for (size_t i = 0; i < g.n; i++)
        fp_mqtt_done(m, g.m[i].token);
    fp_mqtt_done(m, g.m[0].token); /* twice: ignored */
    assert_int_equal(fp_mqtt_unacked(m), 0);
    assert_true(fp_mqtt_poll_events(m) & POLLOUT);
    assert_int_equal(pump(m, NULL, 0, 100, &err), FP_OK);
    fp_mqtt_get_stats(m, &st);
    assert_int_equal(st.acked, 50);

    /* QoS 0 publications arrive as QoS 0; their tokens are no-ops. */
    publish_lines(&b, "fleet/v2/pos", "q0", 3, 0, NULL);
    assert_int_equal(pump(m, &g, 53, 3000, &err), FP_OK);
    assert_int_equal(g.m[52].qos, 0);
    expect_payloads(&g, 50, "q0", 0, 3);
    fp_mqtt_done(m, g.m[52].token);
    assert_int_equal(fp_mqtt_unacked(m), 0);

    fp_mqtt_disconnect(m);
    assert_int_equal(fp_mqtt_fd(m), -1);
    assert_int_equal(fp_mqtt_timeout_ms(m), -1);
    fp_mqtt_disconnect(m); /* safe when not connected */
    fp_mqtt_free(m);
    fp_mqtt_free(NULL);
    got_free(&g);
    broker_stop(&b);
}

/* ---- 2: a crash after acknowledging K of N: the broker redelivers exactly K..N-1 ---- */

static void persistent_session(const char *filter)
{
    broker b = {0};
    broker_start(&b, "");
    got g = {.keep_payload = 1};
    fp_mqtt_opts o = opts_for(&b, "fp-persist", 0);
    int session = -1;
    fp_mqtt *m = connect_sub(&o, &g, filter, &session);
    assert_int_equal(session, 0);
    publish_lines(&b, "fleet/v1/can", "can", 10, 1, NULL);
    fp_err err = {0};
    assert_int_equal(pump(m, &g, 10, 5000, &err), FP_OK);
    assert_int_equal(g.n, 10);
    for (int i = 0; i < 4; i++)
        fp_mqtt_done(m, g.m[i].token);
    assert_int_equal(pump(m, NULL, 0, 100, &err), FP_OK);
    fp_mqtt_stats st;
    fp_mqtt_get_stats(m, &st);
    assert_int_equal(st.acked, 4);
    fp_mqtt_free(m); /* a crash: no DISCONNECT */
    got_free(&g);

    m = connect_sub(&o, &g, NULL, &session); /* the stored session keeps the subscription */
    assert_int_equal(session, 1);
    assert_int_equal(pump(m, &g, 6, 5000, &err), FP_OK);
    assert_int_equal(pump(m, NULL, 0, 300, &err), FP_OK); /* and nothing more */
    assert_int_equal(g.n, 6);
    expect_payloads(&g, 0, "can", 4, 6);
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.m[i].dup, 1);
        fp_mqtt_done(m, g.m[i].token);
    }
    fp_mqtt_disconnect(m);
    fp_mqtt_free(m);
    got_free(&g);

    /* All acknowledged, cleanly disconnected: the session holds nothing. */
    m = connect_sub(&o, &g, NULL, &session);
    assert_int_equal(session, 1);
    assert_int_equal(pump(m, NULL, 0, 300, &err), FP_OK);
    assert_int_equal(g.n, 0);
    fp_mqtt_free(m);
    got_free(&g);
    broker_stop(&b);
}

static void test_persistent_session(void **state)
{
    (void)state;
    persistent_session("fleet/#");
}

/* The bridge's filters are shared subscriptions; to the client they are only filters, and
 * mosquitto 2.0.11 keeps a member's unacknowledged messages in its session the same way. */
static void test_persistent_shared(void **state)
{
    (void)state;
    persistent_session("$share/bridge/fleet/#");
}

/* Two members of one shared group; A dies holding unacknowledged messages. mosquitto 2.0.11
 * neither hands A's in-flight messages to B nor stops choosing A: while A is away, its turn of
 * the round robin is queued in A's session. A bridge instance that never comes back (same client
 * id) strands its share; this test pins that behaviour down. */
static void test_shared_member_crash(void **state)
{
    (void)state;
    broker b = {0};
    broker_start(&b, "");
    got ga = {.keep_payload = 1}, gb = {.keep_payload = 1};
    fp_mqtt_opts oa = opts_for(&b, "fp-member-a", 0), ob = opts_for(&b, "fp-member-b", 0);
    const char *filter = "$share/bridge/fleet/#";
    fp_mqtt *ma = connect_sub(&oa, &ga, filter, NULL);
    fp_mqtt *mb = connect_sub(&ob, &gb, filter, NULL);
    publish_lines(&b, "fleet/v1/can", "s", 10, 1, NULL);
    fp_err err = {0};
    for (int i = 0; i < 40 && ga.n + gb.n < 10; i++) {
        assert_int_equal(pump(ma, NULL, 0, 50, &err), FP_OK);
        assert_int_equal(pump(mb, NULL, 0, 50, &err), FP_OK);
    }
    assert_int_equal(ga.n + gb.n, 10);
    assert_true(ga.n > 0 && gb.n > 0);
    for (size_t i = 0; i < gb.n; i++)
        fp_mqtt_done(mb, gb.m[i].token);
    size_t a_held = ga.n;
    fp_mqtt_free(ma); /* A crashes with all its messages unacknowledged */

    publish_lines(&b, "fleet/v1/can", "t", 10, 1, NULL);
    size_t before = gb.n;
    assert_int_equal(pump(mb, &gb, before + 10, 1000, &err), FP_OK);
    size_t b_new = gb.n - before;
    print_message("shared: A crashed holding %zu; B got %zu of the next 10\n", a_held, b_new);
    assert_true(b_new < 10);

    got_free(&ga);
    int session = -1;
    ma = connect_sub(&oa, &ga, NULL, &session);
    assert_int_equal(session, 1);
    assert_int_equal(pump(ma, &ga, a_held + 10 - b_new, 3000, &err), FP_OK);
    assert_int_equal(pump(ma, NULL, 0, 200, &err), FP_OK);
    assert_int_equal(ga.n, a_held + 10 - b_new);
    size_t dups = 0;
    for (size_t i = 0; i < ga.n; i++)
        dups += ga.m[i].dup;
    assert_int_equal(dups, a_held);
    fp_mqtt_free(ma);
    fp_mqtt_free(mb);
    got_free(&ga);
    got_free(&gb);
    broker_stop(&b);
}

/* ---- 3: done() out of order; tokens of an earlier connection ---- */

static void test_out_of_order_done(void **state)
{
    (void)state;
    broker b = {0};
    broker_start(&b, "");
    got g = {.keep_payload = 1};
    fp_mqtt_opts o = opts_for(&b, "fp-ooo", 0);
    fp_mqtt *m = connect_sub(&o, &g, "ooo", NULL);
    publish_lines(&b, "ooo", "m", 5, 1, NULL);
    fp_err err = {0};
    assert_int_equal(pump(m, &g, 5, 5000, &err), FP_OK);
    assert_int_equal(g.n, 5);
    fp_mqtt_stats st;
    fp_mqtt_done(m, g.m[3].token);
    assert_int_equal(fp_mqtt_unacked(m), 5);
    fp_mqtt_done(m, g.m[1].token);
    assert_int_equal(fp_mqtt_unacked(m), 5);
    assert_int_equal(pump(m, NULL, 0, 100, &err), FP_OK);
    fp_mqtt_get_stats(m, &st);
    assert_int_equal(st.acked, 0);
    fp_mqtt_done(m, g.m[0].token); /* 0 and 1 go */
    assert_int_equal(fp_mqtt_unacked(m), 3);
    fp_mqtt_done(m, g.m[2].token); /* 2 and 3 go; 4 stays */
    assert_int_equal(fp_mqtt_unacked(m), 1);
    assert_int_equal(pump(m, NULL, 0, 100, &err), FP_OK);
    fp_mqtt_get_stats(m, &st);
    assert_int_equal(st.acked, 4);

    /* Reconnect the same object: only m-4 comes back; old tokens are ignored. */
    uint64_t old4 = g.m[4].token;
    int session = -1;
    if (fp_mqtt_connect(m, &session, &err))
        fail_msg("reconnect: %s", err.msg);
    assert_int_equal(session, 1);
    assert_int_equal(pump(m, &g, 6, 5000, &err), FP_OK);
    assert_int_equal(pump(m, NULL, 0, 300, &err), FP_OK);
    assert_int_equal(g.n, 6);
    expect_payloads(&g, 5, "m", 4, 1);
    assert_int_equal(g.m[5].dup, 1);
    fp_mqtt_done(m, old4);
    assert_int_equal(fp_mqtt_unacked(m), 1);
    fp_mqtt_done(m, g.m[5].token);
    assert_int_equal(fp_mqtt_unacked(m), 0);
    fp_mqtt_disconnect(m);
    fp_mqtt_free(m);
    got_free(&g);
    broker_stop(&b);
}

/* ---- 4: a wrong password is a clear FP_ERR_CONFIG without the password ---- */

static void test_bad_password(void **state)
{
    (void)state;
    broker b = {0};
    make_dir(&b);
    char cmd[512], extra[256];
    snprintf(cmd, sizeof cmd,
             "mosquitto_passwd -c -b %s/passwd fleet 's3cret-pw' && chmod 644 %s/passwd", b.dir,
             b.dir);
    run(cmd);
    snprintf(extra, sizeof extra, "allow_anonymous false\npassword_file %s/passwd", b.dir);
    broker_start(&b, extra);

    fp_mqtt_opts o = opts_for(&b, "fp-auth", 1);
    o.username = "fleet";
    o.password = "hunter2-wrong";
    fp_mqtt *m = fp_mqtt_new(&o, on_message, NULL);
    fp_err err = {0};
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_ERR_CONFIG);
    if (!strstr(err.msg, "not authorised") && !strstr(err.msg, "bad user name or password"))
        fail_msg("unclear message: %s", err.msg);
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(fp_mqtt_fd(m), -1);
    fp_mqtt_free(m);

    o.username = NULL;
    o.password = NULL;
    m = fp_mqtt_new(&o, on_message, NULL);
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_ERR_CONFIG);
    fp_mqtt_free(m);

    o.username = "fleet";
    o.password = "s3cret-pw";
    m = fp_mqtt_new(&o, on_message, NULL);
    if (fp_mqtt_connect(m, NULL, &err))
        fail_msg("right password refused: %s", err.msg);
    fp_mqtt_disconnect(m);
    fp_mqtt_free(m);
    broker_stop(&b);
}

/* ---- 5: oversized payloads arrive truncated; the next message is intact ---- */

static void test_oversized_payload(void **state)
{
    (void)state;
    broker b = {0};
    broker_start(&b, "");
    got g = {.keep_payload = 1};
    fp_mqtt_opts o = opts_for(&b, "fp-big", 1);
    o.max_payload = 1024 * 1024;
    fp_mqtt *m = connect_sub(&o, &g, "big/#", NULL);

    /* 3 MiB: longer than the read buffer, so the tail streams past. 1 MiB + 1000: the whole
     * packet fits the buffer and is cut there. */
    const size_t sizes[] = {3 * 1024 * 1024, 1024 * 1024 + 1000};
    char path[256], cmd[512];
    for (size_t k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/big%zu", b.dir, k);
        FILE *f = fopen(path, "w");
        for (size_t i = 0; i < sizes[k]; i++)
            fputc('a' + (int)(i % 26), f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "mosquitto_pub -h 127.0.0.1 -p %d -q 1 -t big/%zu -f %s", b.port,
                 k, path);
        run(cmd);
        publish_lines(&b, "big/after", "after", 1, 1, NULL);
    }
    fp_err err = {0};
    if (pump(m, &g, 4, 10000, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(g.n, 4);
    for (size_t k = 0; k < 2; k++) {
        got_msg *big = &g.m[2 * k], *after = &g.m[2 * k + 1];
        assert_int_equal(big->len, o.max_payload);
        assert_int_equal(big->total_len, sizes[k]);
        for (size_t i = 0; i < big->len; i++)
            if (big->payload[i] != 'a' + (int)(i % 26))
                fail_msg("payload byte %zu differs", i);
        assert_string_equal(after->topic, "big/after");
        assert_string_equal(after->payload, "after-0");
        assert_int_equal(after->total_len, 7);
    }
    for (size_t i = 0; i < g.n; i++)
        fp_mqtt_done(m, g.m[i].token);
    assert_int_equal(pump(m, NULL, 0, 100, &err), FP_OK);
    fp_mqtt_stats st;
    fp_mqtt_get_stats(m, &st);
    assert_int_equal(st.acked, 4);
    fp_mqtt_free(m);
    got_free(&g);
    broker_stop(&b);
}

/* ---- 6: keepalive: PINGREQ/PINGRESP keep an idle connection up ---- */

static void test_keepalive(void **state)
{
    (void)state;
    broker b = {0};
    broker_start(&b, "");
    got g = {.keep_payload = 1};
    fp_mqtt_opts o = opts_for(&b, "fp-ka", 1);
    o.keepalive_s = 1;
    fp_mqtt *m = connect_sub(&o, &g, "ka", NULL);
    int t = fp_mqtt_timeout_ms(m);
    assert_true(t > 0 && t <= 1000);
    fp_err err = {0};
    if (pump(m, NULL, 0, 3200, &err))
        fail_msg("%s", err.msg);
    fp_mqtt_stats st;
    fp_mqtt_get_stats(m, &st);
    assert_true(st.pings >= 2);
    publish_lines(&b, "ka", "alive", 1, 1, NULL);
    assert_int_equal(pump(m, &g, 1, 3000, &err), FP_OK);
    assert_int_equal(g.n, 1);
    fp_mqtt_free(m);
    got_free(&g);
    broker_stop(&b);
}

/* ---- 7: subscriptions the broker refuses end cleanly ---- */

static void test_refused_subscription(void **state)
{
    (void)state;
    broker b = {0};
    make_dir(&b);
    char acl[256], extra[300];
    snprintf(acl, sizeof acl, "%s/acl", b.dir);
    write_file(acl, "topic readwrite public/#\ntopic write secret/#\n");
    snprintf(extra, sizeof extra, "acl_file %s", acl);
    broker_start(&b, extra);
    got g = {.keep_payload = 1};
    fp_mqtt_opts o = opts_for(&b, "fp-acl", 1);
    fp_mqtt *m = connect_sub(&o, &g, NULL, NULL);
    fp_err err = {0};

    /* ACL-denied: mosquitto 2.0.11 grants it (SUBACK 0x00 for MQTT 3.1.1) and then simply
     * delivers nothing; a broker that answers 0x80 must give FP_ERR_CONFIG naming the filter. */
    const char *filters[] = {"public/a", "secret/x"};
    fp_code rc = fp_mqtt_subscribe(m, filters, 2, 1, &err);
    print_message("ACL-denied filter: rc %d %s\n", rc, rc ? err.msg : "(granted)");
    if (rc) {
        assert_int_equal(rc, FP_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "secret/x"));
    } else {
        publish_lines(&b, "secret/x", "hidden", 1, 1, NULL);
        publish_lines(&b, "public/a", "open", 1, 1, NULL);
        assert_int_equal(pump(m, &g, 1, 3000, &err), FP_OK);
        assert_int_equal(pump(m, NULL, 0, 200, &err), FP_OK);
        assert_int_equal(g.n, 1);
        assert_string_equal(g.m[0].payload, "open-0");
    }
    assert_true(fp_mqtt_fd(m) >= 0); /* a refusal does not cost the connection */

    /* An invalid filter: the broker drops the connection. */
    const char *bad = "a/#/b";
    rc = fp_mqtt_subscribe(m, &bad, 1, 1, &err);
    print_message("invalid filter: rc %d %s\n", rc, rc ? err.msg : "(granted)");
    assert_true(rc == FP_ERR_IO || rc == FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "a/#/b"));
    if (rc == FP_ERR_IO)
        assert_int_equal(fp_mqtt_fd(m), -1);
    fp_mqtt_free(m);
    got_free(&g);
    broker_stop(&b);
}

/* ---- 8: TLS with the right CA, a wrong CA, and verification off ---- */

static void make_certs(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && exec >openssl.log 2>&1 && "
             "for ca in ca other; do openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -keyout $ca.key -out $ca.crt -days 2 "
             "-subj /CN=fp-test-$ca || exit 1; done && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout server.key -out server.csr -subj /CN=localhost && "
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf && "
             "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
             "-out server.crt -days 2 -extfile ext.cnf && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout wrong.key -out wrong.csr -subj /CN=wrong.example && "
             "printf 'subjectAltName=DNS:wrong.example\\n' > wrong.cnf && "
             "openssl x509 -req -in wrong.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
             "-out wrong.crt -days 2 -extfile wrong.cnf && chmod 644 *",
             dir);
    run(cmd);
}

static void test_tls(void **state)
{
    (void)state;
    broker b = {0};
    make_dir(&b);
    make_certs(b.dir);
    /* A second listener presents a certificate of the right CA for another name. */
    int wrong_port = free_port();
    char extra[1024];
    snprintf(extra, sizeof extra,
             "cafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n"
             "listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/wrong.crt\n"
             "keyfile %s/wrong.key",
             b.dir, b.dir, b.dir, wrong_port, b.dir, b.dir, b.dir);
    broker_start(&b, extra);
    char ca[256], other[256], args[300];
    snprintf(ca, sizeof ca, "%s/ca.crt", b.dir);
    snprintf(other, sizeof other, "%s/other.crt", b.dir);
    snprintf(args, sizeof args, "--cafile %s", ca);

    got g = {.keep_payload = 1};
    const char *hosts[] = {"127.0.0.1", "localhost"};
    for (int h = 0; h < 2; h++) {
        fp_mqtt_opts o = opts_for(&b, "fp-tls", 1);
        o.host = hosts[h];
        o.tls = 1;
        o.tls_ca_file = ca;
        fp_mqtt *m = connect_sub(&o, &g, "tls/#", NULL);
        /* Many small records: the client must drain what OpenSSL already decrypted. */
        publish_lines(&b, "tls/x", "sec", 300, 1, args);
        fp_err err = {0};
        if (pump(m, &g, 300, 5000, &err))
            fail_msg("%s", err.msg);
        assert_int_equal(g.n, 300);
        expect_payloads(&g, 0, "sec", 0, 300);
        for (size_t i = 0; i < g.n; i++)
            fp_mqtt_done(m, g.m[i].token);
        assert_int_equal(pump(m, NULL, 0, 100, &err), FP_OK);
        fp_mqtt_stats st;
        fp_mqtt_get_stats(m, &st);
        assert_int_equal(st.acked, 300);
        fp_mqtt_disconnect(m);
        fp_mqtt_free(m);
        got_free(&g);
    }

    fp_mqtt_opts o = opts_for(&b, "fp-tls-bad", 1);
    o.tls = 1;
    o.tls_ca_file = other;
    fp_mqtt *m = fp_mqtt_new(&o, on_message, &g);
    fp_err err = {0};
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_ERR_CONFIG);
    if (!strstr(err.msg, "certificate verification failed"))
        fail_msg("unclear message: %s", err.msg);
    assert_int_equal(fp_mqtt_fd(m), -1);
    fp_mqtt_free(m);

    o.tls_ca_file = ca;
    o.port = wrong_port;
    m = fp_mqtt_new(&o, on_message, &g);
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_ERR_CONFIG);
    if (!strstr(err.msg, "certificate verification failed: IP address mismatch"))
        fail_msg("unclear message: %s", err.msg);
    fp_mqtt_free(m);

    o.tls_insecure = 1; /* the wrong name, but verification is off */
    m = fp_mqtt_new(&o, on_message, &g);
    if (fp_mqtt_connect(m, NULL, &err))
        fail_msg("insecure: %s", err.msg);
    fp_mqtt_disconnect(m);
    fp_mqtt_free(m);
    broker_stop(&b);
}

/* ---- 9: a fake broker that sends garbage after CONNACK ---- */

typedef struct bad_case {
    const char *bytes;
    size_t n;
    const char *want; /* in the error message */
} bad_case;

#define BAD(lit, want)                                                                             \
    {                                                                                              \
        lit, sizeof lit - 1, want                                                                  \
    }

static const bad_case bad_cases[] = {
    BAD("\x30\xff\xff\xff\xff\x01", "malformed remaining length"),
    BAD("\x30\x05\x00\x10"
        "abc",
        "topic length 16 beyond the packet"),
    BAD("\xf0\x00", "unexpected packet type 15"),
    BAD("\x00\x00", "unexpected packet type 0"),
    BAD("\x50\x02\x00\x01", "unexpected packet type 5"),
    BAD("\x36\x05\x00\x01"
        "a\x00\x01",
        "QoS 3"),
    BAD("\x34\x05\x00\x01"
        "a\x00\x01",
        "QoS 2"),
    BAD("\x32\x03\x00\x01"
        "a",
        "too short"),
    BAD("\x32\x05\x00\x01"
        "a\x00\x00",
        "packet id 0"),
    BAD("\x30\x03\x00\x00"
        "x",
        "empty topic"),
    BAD("\x30\x05\x00\x03"
        "a\x00"
        "b",
        "topic contains NUL"),
    BAD("\x90\xff\xff\xff\x7f", "packet type 9 with remaining length 268435455"),
    BAD("\x92\x03\x00\x01\x00", "reserved flags"),
    BAD("\x90\x03\x00\x07\x00", "SUBACK for unknown packet id 7"),
    BAD("\x20\x02\x00\x00", "unexpected CONNACK"),
    BAD("\xd0\x01\x00", "packet type 13 with remaining length 1"),
    /* A 256 MB PUBLISH announced, then the connection ends: nothing that size is buffered. */
    BAD("\x30\xff\xff\xff\x7f\x00\x01"
        "a",
        "connection closed by broker"),
    BAD("\x30", "connection closed by broker"),
};

/* Forks a one-connection fake broker: CONNACK plus the given bytes, then end of stream (or,
 * with hold, silence), and reads until the client closes or stays quiet for 3 s. */
static pid_t fake_broker(int lfd, const char *bytes, size_t n, int hold)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid)
        return pid;
    int c = accept(lfd, NULL, NULL);
    char buf[512];
    if (c < 0 || read(c, buf, sizeof buf) <= 0)
        _exit(1);
    fp_buf out = FP_BUF_INIT;
    fp_buf_append(&out, "\x20\x02\x00\x00", 4);
    fp_buf_append(&out, bytes, n);
    if (write(c, out.p, out.len) != (ssize_t)out.len)
        _exit(1);
    if (!hold)
        shutdown(c, SHUT_WR);
    for (;;) {
        struct pollfd pfd = {.fd = c, .events = POLLIN};
        if (poll(&pfd, 1, 3000) <= 0 || read(c, buf, sizeof buf) <= 0)
            _exit(0);
    }
}

/* Runs a client against fake_broker until it fails; what it delivered goes to g (may be NULL). */
static fp_code run_fake(int lfd, int port, const char *bytes, size_t n, size_t max_payload, got *g,
                        fp_err *err)
{
    pid_t pid = fake_broker(lfd, bytes, n, 0);
    fp_mqtt_opts o = {.host = "127.0.0.1",
                      .port = port,
                      .client_id = "fp-fuzz",
                      .connect_timeout_ms = 3000,
                      .keepalive_s = 5,
                      .max_payload = max_payload};
    got mine = {0};
    fp_mqtt *m = fp_mqtt_new(&o, on_message, g ? g : &mine);
    fp_code rc = fp_mqtt_connect(m, NULL, err);
    if (!rc) {
        int64_t until = fp_time_mono_ms() + 5000;
        while (!rc && fp_time_mono_ms() < until)
            rc = pump(m, NULL, 0, 100, err);
        if (!rc)
            fail_msg("no error within 5 s");
        assert_int_equal(fp_mqtt_fd(m), -1);
    }
    fp_mqtt_free(m);
    got_free(&mine);
    waitpid(pid, NULL, 0);
    return rc;
}

/* A listening loopback socket for fake brokers; rcvbuf > 0 shrinks what accepted sockets
 * buffer, so that the client's writes block. */
static int listen_loopback(int *port, int rcvbuf)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return lfd;
}

static void test_malformed_input(void **state)
{
    (void)state;
    int port;
    int lfd = listen_loopback(&port, 0);

    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        fp_err err = {0};
        fp_code rc = run_fake(lfd, port, bad_cases[i].bytes, bad_cases[i].n, 0, NULL, &err);
        if (rc != FP_ERR_IO || !strstr(err.msg, bad_cases[i].want))
            fail_msg("case %zu: want FP_ERR_IO with \"%s\", got %d \"%s\"", i, bad_cases[i].want,
                     rc, err.msg);
    }
    /* A SUBACK refusing the second filter (0x80). */
    pid_t pid = fake_broker(lfd, "\x90\x04\x00\x01\x01\x80", 6, 0);
    fp_mqtt_opts o = {.host = "127.0.0.1", .port = port, .client_id = "fp-fuzz"};
    fp_mqtt *m = fp_mqtt_new(&o, on_message, NULL);
    fp_err err = {0};
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_OK);
    const char *filters[] = {"fleet/#", "$share/g/denied/#"};
    fp_code rc = fp_mqtt_subscribe(m, filters, 2, 1, &err);
    if (rc != FP_ERR_CONFIG || !strstr(err.msg, "subscription to $share/g/denied/# refused"))
        fail_msg("refused SUBACK: got %d %s", rc, err.msg);
    fp_mqtt_free(m);
    waitpid(pid, NULL, 0);

    /* Random bytes: any outcome but a crash or a hang; the close ends every run with an error. */
    srand(42);
    for (int i = 0; i < 40; i++) {
        char junk[256];
        size_t n = 1 + (size_t)rand() % sizeof junk;
        for (size_t k = 0; k < n; k++)
            junk[k] = (char)rand();
        if (i % 2)
            junk[0] = 0x30; /* a PUBLISH, to reach deeper */
        err = (fp_err){0};
        assert_int_equal(run_fake(lfd, port, junk, n, 0, NULL, &err), FP_ERR_IO);
    }
    /* A valid stream with a few bytes flipped, read with max_payload 4 so that truncation and
     * skipping run too. */
    static const char valid[] = "\x30\x0c\x00\x03"
                                "a/b"
                                "payload"
                                "\x32\x0e\x00\x03"
                                "a/c\x00\x07"
                                "payload"
                                "\xd0\x00"
                                "\x3a\x06\x00\x01"
                                "x\x00\x08"
                                "p";
    got g = {.keep_payload = 1};
    err = (fp_err){0};
    assert_int_equal(run_fake(lfd, port, valid, sizeof valid - 1, 4, &g, &err), FP_ERR_IO);
    assert_non_null(strstr(err.msg, "connection closed by broker"));
    assert_int_equal(g.n, 3);
    const struct {
        const char *topic, *payload;
        size_t total;
        int qos, dup;
    } want[] = {{"a/b", "payl", 7, 0, 0}, {"a/c", "payl", 7, 1, 0}, {"x", "p", 1, 1, 1}};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(g.m[i].topic, want[i].topic);
        assert_string_equal(g.m[i].payload, want[i].payload);
        assert_int_equal(g.m[i].total_len, want[i].total);
        assert_int_equal(g.m[i].qos, want[i].qos);
        assert_int_equal(g.m[i].dup, want[i].dup);
    }
    got_free(&g);
    for (int i = 0; i < 100; i++) {
        char mutated[sizeof valid];
        memcpy(mutated, valid, sizeof valid);
        for (int k = 0; k < 1 + i % 3; k++)
            mutated[rand() % (sizeof valid - 1)] ^= (char)(1 << (rand() % 8));
        err = (fp_err){0};
        assert_int_equal(run_fake(lfd, port, mutated, sizeof valid - 1, 4, NULL, &err), FP_ERR_IO);
    }
    close(lfd);
}

/* ---- no PINGRESP: the client gives up after keepalive ---- */

static void test_keepalive_timeout(void **state)
{
    (void)state;
    int port;
    int lfd = listen_loopback(&port, 0);
    pid_t pid = fake_broker(lfd, "", 0, 1);
    fp_mqtt_opts o = {.host = "127.0.0.1", .port = port, .client_id = "fp-ka", .keepalive_s = 1};
    fp_mqtt *m = fp_mqtt_new(&o, on_message, NULL);
    fp_err err = {0};
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_OK);
    int64_t t0 = fp_time_mono_ms();
    fp_code rc = pump(m, NULL, 0, 5000, &err);
    int64_t took = fp_time_mono_ms() - t0;
    if (rc != FP_ERR_IO || !strstr(err.msg, "no PINGRESP within 1 s"))
        fail_msg("want a PINGRESP timeout, got %d %s", rc, err.msg);
    assert_true(took >= 1500 && took < 4000); /* PINGREQ after 1 s, PINGRESP overdue at 2 s */
    assert_int_equal(fp_mqtt_fd(m), -1);
    fp_mqtt_free(m);
    waitpid(pid, NULL, 0);
    close(lfd);
}

/* ---- connect failures are bounded and say what failed ---- */

static void test_connect_errors(void **state)
{
    (void)state;
    int port;
    int lfd = listen_loopback(&port, 0); /* the kernel completes the handshake; nobody answers */
    const struct {
        const char *host;
        int port;
        const char *want;
    } cases[] = {
        {"127.0.0.1", port, "timed out after 300 ms waiting for CONNACK"},
        {"127.0.0.1", free_port(), "Connection refused"},
        {"no-such-host.invalid", 1883, "resolve"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fp_mqtt_opts o = {.host = cases[i].host,
                          .port = cases[i].port,
                          .client_id = "fp-err",
                          .connect_timeout_ms = 300};
        fp_mqtt *m = fp_mqtt_new(&o, on_message, NULL);
        fp_err err = {0};
        int64_t t0 = fp_time_mono_ms();
        fp_code rc = fp_mqtt_connect(m, NULL, &err);
        if (rc != FP_ERR_IO || !strstr(err.msg, cases[i].want))
            fail_msg("%s:%d: want FP_ERR_IO with \"%s\", got %d \"%s\"", cases[i].host,
                     cases[i].port, cases[i].want, rc, err.msg);
        assert_true(fp_time_mono_ms() - t0 < 1000);
        assert_int_equal(fp_mqtt_fd(m), -1);
        fp_mqtt_free(m);
    }
    close(lfd);
}

/* ---- partial writes: a broker that stops reading while a million PUBACKs are due ---- */

enum { FLOOD = 1000000 };

static void done_at_once(void *opaque, const fp_mqtt_msg *msg)
{
    fp_mqtt **mp = opaque;
    fp_mqtt_done(*mp, msg->token); /* as if Kafka confirmed at once */
}

/* Child: floods FLOOD QoS 1 PUBLISHes, reads nothing until go is readable, then checks that the
 * PUBACKs arrive complete and in order; writes how many were right to out. */
static void flood_broker(int lfd, int go, int out)
{
    int c = accept(lfd, NULL, NULL);
    char buf[512];
    if (c < 0 || read(c, buf, sizeof buf) <= 0)
        _exit(1);
    unsigned char *pkts = malloc(4 + (size_t)FLOOD * 7);
    memcpy(pkts, "\x20\x02\x00\x00", 4);
    for (int i = 0; i < FLOOD; i++) {
        unsigned pid = (unsigned)(i % 65535) + 1;
        unsigned char *p = pkts + 4 + (size_t)i * 7;
        memcpy(p, "\x32\x05\x00\x01t", 5);
        p[5] = (unsigned char)(pid >> 8);
        p[6] = (unsigned char)pid;
    }
    size_t len = 4 + (size_t)FLOOD * 7;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(c, pkts + off, len - off);
        if (w <= 0)
            _exit(1);
        off += (size_t)w;
    }
    char token;
    if (read(go, &token, 1) != 1)
        _exit(1);
    long ok = 0;
    unsigned char ack[4];
    size_t have = 0;
    while (ok < FLOOD) {
        struct pollfd pfd = {.fd = c, .events = POLLIN};
        if (poll(&pfd, 1, 3000) <= 0)
            break;
        ssize_t r = read(c, ack + have, sizeof ack - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        if (have < sizeof ack)
            continue;
        unsigned pid = (unsigned)(ok % 65535) + 1;
        if (ack[0] != 0x40 || ack[1] != 2 || ack[2] != (pid >> 8) || ack[3] != (pid & 0xff))
            break;
        ok++;
        have = 0;
    }
    if (write(out, &ok, sizeof ok) != sizeof ok)
        _exit(1);
    _exit(0);
}

static void test_partial_writes(void **state)
{
    (void)state;
    int port, fds[2], go[2];
    int lfd = listen_loopback(&port, 4096);
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        flood_broker(lfd, go[0], fds[1]);
    fp_mqtt_opts o = {.host = "127.0.0.1", .port = port, .client_id = "fp-flood"};
    fp_mqtt *m = NULL;
    fp_mqtt *mq = fp_mqtt_new(&o, done_at_once, &m);
    m = mq;
    fp_err err = {0};
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_OK);
    fp_mqtt_stats st = {0};
    int64_t until = fp_time_mono_ms() + 10000;
    while (st.messages < FLOOD && fp_time_mono_ms() < until) {
        if (pump(m, NULL, 0, 20, &err))
            fail_msg("%s", err.msg);
        fp_mqtt_get_stats(m, &st);
    }
    assert_int_equal(st.messages, FLOOD);
    assert_int_equal(fp_mqtt_unacked(m), 0);
    /* All done, but the broker is not reading: output is queued and polled for. */
    print_message("flood: %llu of %d PUBACKs written while the broker does not read\n",
                  (unsigned long long)st.acked, FLOOD);
    assert_true(st.acked < FLOOD);
    assert_true(fp_mqtt_poll_events(m) & POLLOUT);
    assert_int_equal(write(go[1], "g", 1), 1); /* the broker reads again */
    while (st.acked < FLOOD && fp_time_mono_ms() < until) {
        if (pump(m, NULL, 0, 20, &err))
            fail_msg("%s", err.msg);
        fp_mqtt_get_stats(m, &st);
    }
    assert_int_equal(st.acked, FLOOD);
    long ok = -1;
    assert_int_equal(read(fds[0], &ok, sizeof ok), sizeof ok);
    assert_int_equal(ok, FLOOD); /* every PUBACK intact and in order */
    fp_mqtt_free(m);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    close(go[0]);
    close(go[1]);
    close(lfd);
}

/* ---- throughput, only with FP_MQTT_BENCH=<messages>: drain a queued persistent session ---- */

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void lm_on_message(struct mosquitto *mosq, void *opaque, const struct mosquitto_message *msg)
{
    (void)mosq;
    (void)msg;
    (*(size_t *)opaque)++;
}

static void bench_done_all(void *opaque, const fp_mqtt_msg *msg)
{
    fp_mqtt **mp = opaque;
    fp_mqtt_done(*mp, msg->token); /* as if Kafka confirmed at once */
}

static void test_bench(void **state)
{
    (void)state;
    const char *env = getenv("FP_MQTT_BENCH");
    if (!env)
        skip();
    int n = atoi(env);
    broker b = {0};
    broker_start(&b, "");
    /* Two persistent sessions, then n messages of ~9 KB queued for both while offline. */
    fp_mqtt_opts o = opts_for(&b, "fp-bench", 0);
    fp_mqtt *m = NULL;
    fp_mqtt *mq = fp_mqtt_new(&o, bench_done_all, &m);
    m = mq;
    fp_err err = {0};
    const char *filter = "bench/#";
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_OK);
    assert_int_equal(fp_mqtt_subscribe(m, &filter, 1, 1, &err), FP_OK);
    fp_mqtt_disconnect(m);
    mosquitto_lib_init();
    size_t lm_got = 0;
    struct mosquitto *lm = mosquitto_new("lm-bench", false, &lm_got);
    mosquitto_message_callback_set(lm, lm_on_message);
    assert_int_equal(mosquitto_connect(lm, "127.0.0.1", b.port, 60), MOSQ_ERR_SUCCESS);
    mosquitto_subscribe(lm, NULL, filter, 1);
    for (int i = 0; i < 20; i++)
        mosquitto_loop(lm, 20, 1);
    mosquitto_disconnect(lm);
    mosquitto_loop(lm, 20, 1);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "mosquitto_pub -h 127.0.0.1 -p %d -q 1 -t bench/x -l", b.port);
    FILE *p = popen(cmd, "w");
    char line[9001];
    memset(line, 'v', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    for (int i = 0; i < n; i++)
        fprintf(p, "%08d%s\n", i, line + 8);
    assert_int_equal(pclose(p), 0);

    double c0 = cpu_s();
    int64_t t0 = fp_time_mono_ms();
    assert_int_equal(fp_mqtt_connect(m, NULL, &err), FP_OK);
    fp_mqtt_stats st = {0};
    while (st.messages < (uint64_t)n) {
        if (pump(m, NULL, 0, 50, &err))
            fail_msg("%s", err.msg);
        fp_mqtt_get_stats(m, &st);
        if (fp_time_mono_ms() - t0 > 60000)
            fail_msg("fp_mqtt: %llu of %d", (unsigned long long)st.messages, n);
    }
    double fp_wall = (fp_time_mono_ms() - t0) / 1e3, fp_cpu = cpu_s() - c0;
    fp_mqtt_disconnect(m);
    fp_mqtt_free(m);

    c0 = cpu_s();
    t0 = fp_time_mono_ms();
    assert_int_equal(mosquitto_reconnect(lm), MOSQ_ERR_SUCCESS);
    while (lm_got < (size_t)n && fp_time_mono_ms() - t0 < 60000)
        mosquitto_loop(lm, 50, 100);
    double lm_wall = (fp_time_mono_ms() - t0) / 1e3, lm_cpu = cpu_s() - c0;
    assert_int_equal(lm_got, n);
    mosquitto_disconnect(lm);
    mosquitto_destroy(lm);
    mosquitto_lib_cleanup();
    print_message("mqtt drain %d x 9 KB QoS 1: fp_mqtt %.0f msgs/s (%.0f per client CPU second)\n",
                  n, n / fp_wall, n / fp_cpu);
    print_message("mqtt drain %d x 9 KB QoS 1: libmosquitto %.0f msgs/s (%.0f per client CPU "
                  "second)\n",
                  n, n / lm_wall, n / lm_cpu);
    broker_stop(&b);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        /* clang-format off */
        cmocka_unit_test(test_receive_in_order),
        cmocka_unit_test(test_persistent_session),
        cmocka_unit_test(test_persistent_shared),
        cmocka_unit_test(test_shared_member_crash),
        cmocka_unit_test(test_out_of_order_done),
        cmocka_unit_test(test_bad_password),
        cmocka_unit_test(test_oversized_payload),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_refused_subscription),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_malformed_input),
        cmocka_unit_test(test_keepalive_timeout),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_partial_writes),
        cmocka_unit_test(test_bench),
        /* clang-format on */
    };
    return cmocka_run_group_tests(tests, NULL, kill_leftover_brokers);
}
