/* test_kafka.c — the embedded development broker and the librdkafka glue: topics exist with the
 * asked partition count, the producer helper's messages come back through a consumer over
 * loopback, librdkafka errors map to fp_codes with the context in the message, and the fetch
 * waker (kafka/wake.h) wakes the fetcher on a backlog and never while the consumer keeps up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/props.h"
#include "core/time.h"
#include "kafka/kafka.h"
#include "kafka/wake.h"

static void test_error_mapping(void **state)
{
    (void)state;
    const struct {
        rd_kafka_resp_err_t e;
        fp_code want;
    } cases[] = {
        {RD_KAFKA_RESP_ERR_NO_ERROR, FP_OK},
        {RD_KAFKA_RESP_ERR__TRANSPORT, FP_ERR_IO},
        {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, FP_ERR_IO},
        {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, FP_ERR_IO},
        {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, FP_ERR_CONFIG},
        {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, FP_ERR_CONFIG},
        {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, FP_ERR_LIMIT},
        {RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, FP_ERR_KAFKA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fp_err err = {0};
        fp_code got = fp_kafka_err(&err, cases[i].e, "commit fms.vehicle/3");
        if (got != cases[i].want)
            fail_msg("%s: got %s", rd_kafka_err2name(cases[i].e), fp_code_name(got));
        if (got)
            assert_non_null(strstr(err.msg, "commit fms.vehicle/3: "));
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    fp_err err = {0};
    assert_int_equal(fp_kafka_conf_set(conf, "no.such.key", "1", &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "no.such.key"));
    rd_kafka_conf_destroy(conf);
}

static int delivered;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (!m->err)
        delivered++;
}

static void test_embedded_roundtrip(void **state)
{
    (void)state;
    fp_err err = {0};
    fp_kafka_embedded *e = fp_kafka_embedded_start(2, 3, &err);
    assert_non_null(e);
    const char *bs = fp_kafka_embedded_bootstraps(e);
    assert_non_null(strstr(bs, "127.0.0.1:"));
    assert_int_equal(fp_kafka_embedded_topic(e, "test.extra", 2, &err), FP_OK);

    rd_kafka_t *p = fp_kafka_producer_new(bs, NULL, on_dr, NULL, &err);
    assert_non_null(p);
    for (int i = 0; i < 30; i++) {
        char v[32];
        snprintf(v, sizeof v, "{\"i\":%d}", i);
        assert_int_equal(
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC("fms.cargo"), RD_KAFKA_V_PARTITION(i % 3),
                              RD_KAFKA_V_VALUE(v, strlen(v)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(delivered, 30);

    /* Every fms.* topic exists with 3 partitions. */
    const rd_kafka_metadata_t *md = NULL;
    assert_int_equal(rd_kafka_metadata(p, 1, NULL, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (size_t t = 0; fp_kafka_fms_topics[t]; t++) {
        int found = -1;
        for (int i = 0; i < md->topic_cnt; i++)
            if (!strcmp(md->topics[i].topic, fp_kafka_fms_topics[t]))
                found = md->topics[i].partition_cnt;
        if (found != 3)
            fail_msg("%s has %d partitions", fp_kafka_fms_topics[t], found);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(p);

    char es[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bs, es, sizeof es);
    rd_kafka_conf_set(conf, "group.id", "test", es, sizeof es);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", es, sizeof es);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
    for (int i = 0; i < 3; i++)
        rd_kafka_topic_partition_list_add(l, "fms.cargo", i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int got = 0, eofs = 0;
    int64_t until = fp_time_mono_ms() + 20000;
    while (eofs < 3 && fp_time_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!m->err)
            got++;
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, 30);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    fp_kafka_embedded_stop(e);
    fp_kafka_embedded_stop(NULL);
}

/* The dev broker deletes a partition's oldest messages past 5 MiB: a consumer at offset 0 has
 * lost them, and fp_kafka_lost_query says which range. */
static void test_lost_range(void **state)
{
    (void)state;
    fp_err err = {0};
    fp_kafka_embedded *e = fp_kafka_embedded_start(1, 1, &err);
    assert_non_null(e);
    rd_kafka_t *p = fp_kafka_producer_new(fp_kafka_embedded_bootstraps(e), NULL, NULL, NULL, &err);
    assert_non_null(p);
    static char v[64 * 1024];
    memset(v, 'x', sizeof v);
    for (int i = 0; i < 200; i++) /* 12.5 MiB into one partition */
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("fms.cargo"),
                                           RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE(v, sizeof v),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t from, to;
    int64_t lost = fp_kafka_lost_query(p, "fms.cargo", 0, 0, 10000, &from, &to, &err);
    assert_true(lost > 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, lost);
    assert_true(to < 200); /* the newest messages are kept */
    /* a consumer past the log start has lost nothing; an unknown next offset neither */
    assert_int_equal(fp_kafka_lost_query(p, "fms.cargo", 0, to, 10000, &from, &to, &err), 0);
    assert_int_equal(fp_kafka_lost_query(p, "fms.cargo", 0, -1, 10000, &from, &to, &err), 0);
    /* a partition that does not exist is an error naming it */
    assert_int_equal(fp_kafka_lost_query(p, "fms.cargo", 7, 0, 2000, &from, &to, &err), -1);
    assert_non_null(strstr(err.msg, "fms.cargo/7"));
    rd_kafka_destroy(p);
    fp_kafka_embedded_stop(e);
}

static void conf_expect(rd_kafka_t *rk, const char *key, const char *want)
{
    char v[64];
    size_t n = sizeof v;
    assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(rk), key, v, &n), RD_KAFKA_CONF_OK);
    assert_string_equal(v, want);
}

/* Every consumer gets the prefetch budget (not librdkafka's 64 MiB queue and 50 MiB fetch), and
 * an override (consumer.override.* in connect) still wins over it. */
static void test_consumer_budget(void **state)
{
    (void)state;
    fp_err err = {0};
    fp_kafka_consumer_opts o = {.bootstrap = "127.0.0.1:1", .group = "g"};
    rd_kafka_t *rk = fp_kafka_consumer_new(&o, &err);
    assert_non_null(rk);
    conf_expect(rk, "queued.max.messages.kbytes", "32768");
    conf_expect(rk, "fetch.max.bytes", "4194304");
    conf_expect(rk, "queued.min.messages", "10000");
    rd_kafka_destroy(rk);

    fp_props p;
    fp_props_init(&p);
    fp_props_set(&p, "consumer.override.queued.max.messages.kbytes", "65536");
    fp_props_set(&p, "consumer.override.fetch.max.bytes", "52428800");
    o.overrides = &p;
    o.override_prefix = "consumer.override.";
    rk = fp_kafka_consumer_new(&o, &err);
    assert_non_null(rk);
    conf_expect(rk, "queued.max.messages.kbytes", "65536");
    conf_expect(rk, "fetch.max.bytes", "52428800");
    conf_expect(rk, "queued.min.messages", "10000");
    rd_kafka_destroy(rk);
    fp_props_free(&p);
}

/* Reads topic/0 from the beginning to its end through a consumer with queued.min.messages
 * qmin and a waker; returns the waker's stats once `want_wakes` wakes were made (waiting for
 * the waker's thread, whose call follows the request). */
static void consume_with_waker(const char *bs, const char *topic, int n, const char *qmin,
                               uint64_t want_wakes, fp_kafka_waker_stats *st)
{
    fp_err err = {0};
    fp_props p;
    fp_props_init(&p);
    fp_props_set(&p, "consumer.override.queued.min.messages", qmin);
    fp_kafka_consumer_opts o = {.bootstrap = bs,
                                .group = topic,
                                .partition_eof = true,
                                .overrides = &p,
                                .override_prefix = "consumer.override."};
    rd_kafka_t *c = fp_kafka_consumer_new(&o, &err);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    fp_kafka_waker *w = fp_kafka_waker_new(c, "test", &err);
    assert_non_null(w);
    int got = 0;
    bool eof = false;
    int64_t until = fp_time_mono_ms() + 30000;
    while (fp_time_mono_ms() < until) {
        fp_kafka_waker_stats_get(w, st);
        if (eof && st->wakes >= want_wakes)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
        fp_kafka_waker_seen(w, m);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eof = got == n;
        else if (!m->err)
            got++;
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, n);
    assert_true(eof);
    fp_kafka_waker_free(w);
    fp_kafka_consumer_close(c, FP_KAFKA_CLOSE_MS, NULL, "test");
    fp_props_free(&p);
}

/* On a backlog the queue fills (queued.min.messages 1000; the first fetch brings ~10,000 small
 * messages) and drains: the waker asks the leader at least once. A consumer that keeps up (50
 * messages, never near the bound) makes no request at all. Counts, not timings. */
static void test_waker(void **state)
{
    (void)state;
    fp_err err = {0};
    fp_kafka_embedded *e = fp_kafka_embedded_start(1, 1, &err);
    assert_non_null(e);
    const char *bs = fp_kafka_embedded_bootstraps(e);
    assert_int_equal(fp_kafka_embedded_topic(e, "wake.backlog", 1, &err), FP_OK);
    assert_int_equal(fp_kafka_embedded_topic(e, "wake.live", 1, &err), FP_OK);
    rd_kafka_conf_t *pc = rd_kafka_conf_new(); /* big batches: the mock is slow with small ones */
    assert_int_equal(fp_kafka_conf_set(pc, "linger.ms", "50", &err), FP_OK);
    assert_int_equal(fp_kafka_conf_set(pc, "batch.num.messages", "100000", &err), FP_OK);
    rd_kafka_t *p = fp_kafka_producer_new(bs, pc, NULL, NULL, &err);
    assert_non_null(p);
    enum { BACKLOG = 20000, LIVE = 50 };
    char v[100];
    memset(v, 'x', sizeof v);
    for (int i = 0; i < BACKLOG + LIVE; i++) {
        const char *topic = i < BACKLOG ? "wake.backlog" : "wake.live";
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE(v, sizeof v),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(p, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);

    fp_kafka_waker_stats st;
    consume_with_waker(bs, "wake.backlog", BACKLOG, "1000", 1, &st);
    assert_true(st.asked > 0);
    assert_true(st.wakes > 0);
    assert_int_equal(st.failed, 0);
    consume_with_waker(bs, "wake.live", LIVE, "1000", 0, &st);
    assert_int_equal(st.asked, 0); /* decided on this thread: no race with the waker's */
    assert_int_equal(st.wakes, 0);

    fp_kafka_waker_free(NULL);
    fp_kafka_waker_seen(NULL, NULL);
    fp_kafka_waker_stats_get(NULL, &st);
    assert_int_equal(st.wakes, 0);
    fp_kafka_embedded_stop(e);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_mapping), cmocka_unit_test(test_embedded_roundtrip),
        cmocka_unit_test(test_lost_range),    cmocka_unit_test(test_consumer_budget),
        cmocka_unit_test(test_waker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
