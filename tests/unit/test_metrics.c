/* test_metrics.c — the exposition text byte for byte (HELP/TYPE lines, label escaping, number
 * spelling), histogram buckets made cumulative at scrape time, the process metrics from
 * /proc/self, and the /metrics + /healthz endpoint over a real socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <math.h>

#include "ingest/bridge.h"
#include "ops/metrics.h"
#include "sim/run.h"

static void test_escaping(void **state)
{
    fp_buf b = FP_BUF_INIT;
    fp_metrics_out m = {.buf = &b};
    fp_metrics_family(&m, "fleetpipe_x_total", FP_METRIC_COUNTER, "Back\\slash and\nnewline.");
    fp_metrics_sample_u64(&m, (const char *[]){"topic", "a\"b\\c\nd", "task", "0", NULL}, 42);
    fp_metrics_sample_u64(&m, NULL, 18446744073709551615ull);
    assert_string_equal(b.p, "# HELP fleetpipe_x_total Back\\\\slash and\\nnewline.\n"
                             "# TYPE fleetpipe_x_total counter\n"
                             "fleetpipe_x_total{topic=\"a\\\"b\\\\c\\nd\",task=\"0\"} 42\n"
                             "fleetpipe_x_total 18446744073709551615\n");
    fp_buf_free(&b);
}

static void test_numbers(void **state)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {-17, "-17"},
        {9007199254740991.0, "9007199254740991"},
        {0.1, "0.1"},
        {1.5, "1.5"},
        {1.0 / 3, "0.3333333333333333"},
        {1e300, "1e+300"},
        {0.1 + 0.2, "0.30000000000000004"},
        {2.5e-7, "2.5e-07"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fp_buf b = FP_BUF_INIT;
        fp_metrics_out m = {.buf = &b, .family = "g"};
        fp_metrics_sample(&m, NULL, cases[i].v);
        char want[128];
        snprintf(want, sizeof want, "g %s\n", cases[i].want);
        assert_string_equal(b.p, want);
        if (isfinite(cases[i].v))
            assert_true(strtod(b.p + 2, NULL) == cases[i].v); /* reads back exactly */
        fp_buf_free(&b);
    }
}

static void test_histogram(void **state)
{
    fp_metrics_hist h;
    fp_metrics_hist_init_seconds(&h);
    fp_metrics_hist_observe(&h, 0.0005); /* <= 0.001 */
    fp_metrics_hist_observe(&h, 0.001);  /* le is inclusive */
    fp_metrics_hist_observe(&h, 0.2);    /* <= 0.25 */
    fp_metrics_hist_observe(&h, 100);    /* +Inf only */
    fp_buf b = FP_BUF_INIT;
    fp_metrics_out m = {.buf = &b};
    fp_metrics_family(&m, "fleetpipe_lat_seconds", FP_METRIC_HISTOGRAM, "Latency.");
    fp_metrics_sample_hist(&m, (const char *[]){"connector", "c", NULL}, &h);
    const char *want = "# HELP fleetpipe_lat_seconds Latency.\n"
                       "# TYPE fleetpipe_lat_seconds histogram\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.001\"} 2\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.0025\"} 2\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.005\"} 2\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.01\"} 2\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.025\"} 2\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.05\"} 2\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.1\"} 2\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.25\"} 3\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"0.5\"} 3\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"1\"} 3\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"5\"} 3\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"30\"} 3\n"
                       "fleetpipe_lat_seconds_bucket{connector=\"c\",le=\"+Inf\"} 4\n"
                       "fleetpipe_lat_seconds_sum{connector=\"c\"} 100.2015\n"
                       "fleetpipe_lat_seconds_count{connector=\"c\"} 4\n";
    assert_string_equal(b.p, want);

    fp_metrics_hist s;
    fp_metrics_hist_init_sizes(&s);
    fp_metrics_hist_observe(&s, 1);
    fp_metrics_hist_observe(&s, 10000);
    fp_metrics_hist_observe(&s, 10001);
    fp_buf_reset(&b);
    m.family = "fleetpipe_batch_records";
    fp_metrics_sample_hist(&m, NULL, &s);
    assert_non_null(strstr(b.p, "fleetpipe_batch_records_bucket{le=\"1\"} 1\n"));
    assert_non_null(strstr(b.p, "fleetpipe_batch_records_bucket{le=\"5000\"} 1\n"));
    assert_non_null(strstr(b.p, "fleetpipe_batch_records_bucket{le=\"10000\"} 2\n"));
    assert_non_null(strstr(b.p, "fleetpipe_batch_records_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(b.p, "fleetpipe_batch_records_sum 20002\n"));
    assert_non_null(strstr(b.p, "fleetpipe_batch_records_count 3\n"));
    fp_buf_free(&b);
}

static void test_process(void **state)
{
    fp_buf b = FP_BUF_INIT;
    fp_metrics_render(NULL, NULL, &b);
    static const char *const names[] = {
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ",
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ",
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ",
        "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes ",
        "# TYPE process_open_fds gauge\nprocess_open_fds ",
        "# TYPE process_max_fds gauge\nprocess_max_fds ",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *p = strstr(b.p, names[i]);
        assert_non_null(p);
        double v = strtod(p + strlen(names[i]), NULL);
        assert_true(v >= 0);
    }
    char *rss = strstr(b.p, "\nprocess_resident_memory_bytes ");
    assert_true(strtod(rss + 31, NULL) > 100000);
    char *start = strstr(b.p, "\nprocess_start_time_seconds ");
    assert_true(strtod(start + 28, NULL) > 1.6e9); /* after 2020: boot time was added */
    fp_buf_free(&b);
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    fp_buf_append(ud, p, sz * n);
    return sz * n;
}

static long get(int port, const char *path, fp_buf *body, char *ctype, size_t ctype_cap)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(ctype, ctype_cap, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    if (!body->p)
        fp_buf_reserve(body, 0);
    return status;
}

typedef struct fake_cmd {
    _Atomic uint64_t n;
    bool healthy;
} fake_cmd;

static void write_fake(void *ctx, fp_metrics_out *m)
{
    fake_cmd *f = ctx;
    fp_metrics_family(m, "fleetpipe_fake_things_total", FP_METRIC_COUNTER, "Things.");
    fp_metrics_sample_u64(m, NULL, atomic_load(&f->n));
}

static bool fake_health(void *ctx, fp_buf *reason)
{
    fake_cmd *f = ctx;
    if (!f->healthy)
        fp_buf_puts(reason, "mqtt: disconnected");
    return f->healthy;
}

static void test_serve(void **state)
{
    fake_cmd f = {.healthy = true};
    atomic_store(&f.n, 7);
    fp_metrics_server *s = NULL;
    fp_err err = {0};
    assert_int_equal(fp_metrics_serve("", write_fake, fake_health, &f, &s, &err), FP_OK);
    assert_null(s);
    assert_int_equal(fp_metrics_serve("127.0.0.1:0", write_fake, fake_health, &f, &s, &err), FP_OK);
    int port = fp_metrics_server_port(s);
    assert_true(port > 0);
    fp_buf b = FP_BUF_INIT;
    char ct[128];
    assert_int_equal(get(port, "/metrics", &b, ct, sizeof ct), 200);
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(b.p, "\nfleetpipe_fake_things_total 7\n"));
    assert_non_null(strstr(b.p, "\nprocess_open_fds "));
    fp_buf_reset(&b);
    assert_int_equal(get(port, "/healthz", &b, ct, sizeof ct), 200);
    assert_string_equal(b.p, "ok\n");
    fp_buf_reset(&b);
    f.healthy = false;
    assert_int_equal(get(port, "/healthz", &b, ct, sizeof ct), 503);
    assert_string_equal(b.p, "mqtt: disconnected\n");
    fp_buf_reset(&b);
    assert_int_equal(get(port, "/other", &b, ct, sizeof ct), 404);
    fp_buf_reset(&b);
    assert_int_equal(get(port, "/metrics?x=1", &b, ct, sizeof ct), 200); /* query ignored */
    fp_buf_free(&b);

    fp_metrics_server *t = NULL;
    char busy[64];
    snprintf(busy, sizeof busy, "127.0.0.1:%d", port);
    assert_int_equal(fp_metrics_serve(busy, write_fake, NULL, &f, &t, &err), FP_ERR_IO);
    assert_null(t);
    assert_non_null(strstr(err.msg, "metrics"));
    fp_metrics_server_stop(s);
    fp_metrics_server_stop(NULL);
}

/* The commands' writers: names, labels, and the bridge's health reasons. */
static void test_command_writers(void **state)
{
    static fp_bridge_stats st;
    fp_bridge_stats_init(&st);
    st.received = 5;
    st.acked = 4;
    st.dead_lettered = 1;
    st.kafka_inflight = 2;
    atomic_store(&st.topics[0].n, 3);
    snprintf(st.topics[0].topic, sizeof st.topics[0].topic, "fms.\"odd\\topic");
    atomic_store(&st.ntopics, 1);
    fp_buf b = FP_BUF_INIT;
    fp_metrics_out m = {.buf = &b};
    fp_bridge_stats_write(&st, &m);
    assert_non_null(strstr(b.p, "\nfleetpipe_bridge_mqtt_messages_received_total 5\n"));
    assert_non_null(strstr(b.p, "\nfleetpipe_bridge_mqtt_messages_acked_total 4\n"));
    assert_non_null(strstr(
        b.p, "\nfleetpipe_bridge_records_forwarded_total{topic=\"fms.\\\"odd\\\\topic\"} 3\n"));
    assert_non_null(strstr(b.p, "\nfleetpipe_bridge_records_dead_lettered_total 1\n"));
    assert_non_null(strstr(b.p, "\nfleetpipe_bridge_kafka_inflight 2\n"));
    assert_non_null(strstr(b.p, "# TYPE fleetpipe_bridge_kafka_inflight gauge\n"));

    fp_buf why = FP_BUF_INIT;
    assert_false(fp_bridge_stats_healthy(&st, &why)); /* not connected yet */
    assert_string_equal(why.p, "mqtt: not connected");
    atomic_store(&st.mqtt_connected, true);
    fp_buf_reset(&why);
    assert_true(fp_bridge_stats_healthy(&st, &why));
    atomic_store(&st.kafka_up, false);
    assert_false(fp_bridge_stats_healthy(&st, &why));
    assert_string_equal(why.p, "kafka: all brokers down");
    fp_buf_free(&why);

    fp_err err = {0};
    fp_sim_registry *reg = fp_sim_registry_load(NULL, &err);
    assert_non_null(reg);
    fp_sim_live *live = fp_sim_live_new(reg, 3);
    fp_buf_reset(&b);
    fp_sim_live_write(live, &m);
    assert_non_null(strstr(
        b.p, "\nfleetpipe_sim_messages_published_total{protocol=\"vehicle/kinematic\"} 0\n"));
    assert_null(strstr(b.p, "protocol=\"other\"")); /* only when replay met one */
    assert_non_null(strstr(b.p, "\nfleetpipe_sim_messages_acked_total 0\n"));
    assert_non_null(strstr(b.p, "\nfleetpipe_sim_anomalies_total{kind=\"gps_jump\"} 0\n"));
    assert_null(strstr(b.p, "kind=\"none\""));
    fp_sim_live_free(live);
    fp_sim_live_free(NULL);
    fp_sim_registry_free(reg);
    fp_buf_free(&b);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),  cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_histogram), cmocka_unit_test(test_process),
        cmocka_unit_test(test_serve),     cmocka_unit_test(test_command_writers),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
