/* test_sim.c — the simulator model as a specification: registry (built-in and data-driven error
 * cases in tests/data/sim/), envelope and seq of every message, a simulated day of realism
 * checks, anomaly rates and masks, chunking-independent determinism, commands, replay, and a
 * formatting micro-benchmark (one line per figure, against snprintf).
 *
 * Messages are checked with fp_json_validate and parsed with jansson: speed of the checks does
 * not matter, their independence from the code under test does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "core/json.h"
#include "core/time.h"
#include "sim/sim.h"
#include "sim/sim_int.h"

static const char *data_dir;

/* 2023-01-01T00:00:00+09:00 */
#define T_START 1672498800000LL
#define HOUR 3600000LL

typedef struct rec {
    fp_sim_msg m;
    char *payload;
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
} recs;

static void collect(void *ctx, const fp_sim_msg *m)
{
    recs *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = fp_xrealloc(r->v, r->cap * sizeof *r->v);
    }
    rec *e = &r->v[r->n++];
    e->m = *m;
    e->payload = fp_xstrndup(m->payload, m->len);
    e->m.payload = e->payload;
}

static void recs_free(recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].payload);
    free(r->v);
    memset(r, 0, sizeof *r);
}

static fp_sim_registry *builtin(void)
{
    fp_err err = {0};
    fp_sim_registry *reg = fp_sim_registry_load(NULL, &err);
    if (!reg)
        fail_msg("built-in registry: %s", err.msg);
    return reg;
}

static int64_t iso_ms(json_t *v)
{
    const char *s = json_string_value(v);
    assert_non_null(s);
    int64_t ms;
    fp_err err = {0};
    if (fp_time_parse_iso(s, strlen(s), &ms, &err))
        fail_msg("%s", err.msg);
    assert_non_null(strstr(s, "+09:00"));
    return ms;
}

/* ---- registry ---- */

static void test_registry_builtin(void **state)
{
    (void)state;
    fp_sim_registry *reg = builtin();
    assert_int_equal(fp_sim_registry_count(reg), 6);
    static const char *const want[][2] = {{"vehicle", "kinematic"}, {"vehicle", "status"},
                                          {"cargo", "temperature"}, {"blackbox", "status"},
                                          {"vehicle", "event"},     {"device", "command_response"}};
    for (size_t i = 0; i < 6; i++) {
        const fp_sim_protocol *p = fp_sim_registry_get(reg, i);
        assert_string_equal(p->object, want[i][0]);
        assert_string_equal(p->type, want[i][1]);
    }
    const fp_sim_protocol *k = fp_sim_registry_get(reg, 0);
    assert_true(k->periodic);
    assert_true(fabs(k->hz - 1) < 1e-9);
    assert_int_equal(k->send_interval_s, 60);
    assert_string_equal(k->topic, "fms.vehicle");
    assert_int_equal(fp_sim_registry_get(reg, 3)->send_interval_s, 300);
    assert_false(fp_sim_registry_get(reg, 4)->periodic);
    assert_true(fp_sim_registry_has_object(reg, "cargo", 5));
    assert_false(fp_sim_registry_has_object(reg, "car", 3));
    assert_true(fp_sim_registry_has_type(reg, "device", 6, "command_response", 16));
    assert_false(fp_sim_registry_has_type(reg, "vehicle", 7, "temperature", 11));
    fp_err err = {0};
    assert_int_equal(fp_sim_registry_select(reg, "vehicle/kinematic, cargo/temperature", &err),
                     FP_OK);
    assert_int_equal(fp_sim_registry_count(reg), 2);
    assert_string_equal(fp_sim_registry_get(reg, 1)->object, "cargo");
    assert_true(fp_sim_registry_has_object(reg, "blackbox", 8)); /* selected or not */
    assert_int_equal(fp_sim_registry_select(reg, "vehicle/kinematic,vehicle/nope", &err),
                     FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "vehicle/nope"));
    fp_sim_registry_free(reg);
    fp_sim_registry_free(NULL);
}

/* tests/data/sim/registry_cases.tsv: a registry file text, TAB, "" (loads) or a substring of
 * the expected error. */
static void test_registry_cases(void **state)
{
    (void)state;
    char path[512], tmp[] = "/tmp/fp-simreg-XXXXXX";
    snprintf(path, sizeof path, "%s/sim/registry_cases.tsv", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    char line[8192];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        const char *want = tab + 1;
        FILE *o = fopen(tmp, "w");
        fputs(line, o);
        fclose(o);
        fp_err err = {0};
        fp_sim_registry *reg = fp_sim_registry_load(tmp, &err);
        if (!want[0] && !reg)
            fail_msg("%s: rejected: %s", line, err.msg);
        if (want[0] && (reg || !strstr(err.msg, want) || !strstr(err.msg, tmp)))
            fail_msg("%s: want an error naming the file and \"%s\", got \"%s\"", line, want,
                     reg ? "(loaded)" : err.msg);
        fp_sim_registry_free(reg);
        cases++;
    }
    fclose(f);
    unlink(tmp);
    assert_true(cases >= 10);
    fp_err err = {0};
    assert_null(fp_sim_registry_load("/nonexistent/protocols.json", &err));
    assert_non_null(strstr(err.msg, "/nonexistent/protocols.json"));
}

/* A registry with a generated-only protocol: adding a protocol is a data change. */
static void test_registry_generators(void **state)
{
    (void)state;
    char tmp[] = "/tmp/fp-simgen-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    const char *text =
        "{\"protocols\":[{\"object\":\"tire\",\"type\":\"pressure\",\"kind\":\"periodic\","
        "\"hz\":0.1,\"send_interval_s\":30,\"fields\":["
        "{\"name\":\"axle\",\"gen\":\"choice\",\"values\":[1,2,\"rear\"]},"
        "{\"name\":\"kpa\",\"gen\":\"uniform\",\"min\":600,\"max\":700,\"decimals\":1},"
        "{\"name\":\"unit\",\"gen\":\"const\",\"value\":{\"si\":true}},"
        "{\"name\":\"speed\",\"signal\":\"speed_kmh\",\"decimals\":1}]}]}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    fp_err err = {0};
    fp_sim_registry *reg = fp_sim_registry_load(tmp, &err);
    unlink(tmp);
    if (!reg)
        fail_msg("%s", err.msg);
    fp_sim_conf conf = {reg, 1, T_START, 1, 0, 0, 0};
    fp_sim_vehicle *v = fp_sim_vehicle_new(&conf, 1);
    recs r = {0};
    fp_sim_vehicle_run(v, T_START + 10 * 60000, collect, &r);
    assert_true(r.n >= 18);
    for (size_t i = 0; i < r.n; i++) {
        json_error_t je;
        json_t *j = json_loads(r.v[i].payload, 0, &je);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "object")), "tire");
        assert_string_equal(r.v[i].m.mqtt_topic, "fms/dev-000001/tire/pressure");
        json_t *ms = json_object_get(j, "measurements");
        assert_int_equal(json_array_size(ms), 3);
        for (size_t k = 0; k < 3; k++) {
            json_t *s = json_array_get(ms, k);
            double kpa = json_number_value(json_object_get(s, "kpa"));
            assert_true(kpa >= 600 && kpa <= 700);
            assert_true(json_is_true(json_object_get(json_object_get(s, "unit"), "si")));
            json_t *ax = json_object_get(s, "axle");
            assert_true(json_is_integer(ax) || json_is_string(ax));
        }
        json_decref(j);
    }
    recs_free(&r);
    fp_sim_vehicle_free(v);
    fp_sim_registry_free(reg);
}

/* ---- formatting ---- */

static void test_fmt(void **state)
{
    (void)state;
    static const struct {
        double v;
        int d;
        const char *want;
    } cases[] = {
        {0, 0, "0"},
        {12.5, 1, "12.5"},
        {12.5, 2, "12.5"},
        {3.0, 2, "3"},
        {-0.04, 1, "0"},
        {-0.06, 1, "-0.1"},
        {37.5665, 6, "37.5665"},
        {126.978123456, 6, "126.978123"},
        {12034.2, 3, "12034.2"},
        {-18, 1, "-18"},
        {0.005, 2, "0.01"},
        {99.999, 2, "100"},
        {1e300, 2, "90000000000000000"},
        {NAN, 3, "0"},
        {123456789.987, 0, "123456790"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[40];
        size_t n = fp_sim_fmt_fixed(out, cases[i].v, cases[i].d);
        out[n] = '\0';
        if (strcmp(out, cases[i].want))
            fail_msg("fmt(%g, %d) = %s, want %s", cases[i].v, cases[i].d, out, cases[i].want);
    }
    char out[40];
    out[fp_sim_fmt_i64(out, INT64_MIN + 1)] = '\0';
    assert_string_equal(out, "-9223372036854775807");
    /* The cached ISO formatter agrees with the parser across minute, day and year edges. */
    fp_sim_isofmt iso;
    fp_sim_isofmt_init(&iso);
    int64_t t = 1704034740000LL - 9 * HOUR; /* 2023-12-31T23:59:00+09:00 */
    for (int i = 0; i < 200; i++, t += 997) {
        size_t n = fp_sim_isofmt_put(&iso, out, t, i % 2);
        out[n] = '\0';
        int64_t back;
        assert_int_equal(fp_time_parse_iso(out, n, &back, NULL), FP_OK);
        assert_int_equal(back, i % 2 ? t : t - t % 1000);
    }
    fp_sim_isofmt_init(&iso);
    out[fp_sim_isofmt_put(&iso, out, T_START + 1234, true)] = '\0';
    assert_string_equal(out, "2023-01-01T00:00:01.234+09:00");
}

/* ---- a simulated day ---- */

typedef struct ksample {
    int64_t t;
    double lat, lng, speed, odo;
    bool engine;
} ksample;

static double dist_km(double la1, double lo1, double la2, double lo2)
{
    double r = 6371.0, p = M_PI / 180;
    double a = sin((la2 - la1) * p / 2) * sin((la2 - la1) * p / 2) +
               cos(la1 * p) * cos(la2 * p) * sin((lo2 - lo1) * p / 2) * sin((lo2 - lo1) * p / 2);
    return 2 * r * asin(sqrt(a));
}

/* Checks the envelope of PROTOCOLS.md; returns the parsed message (caller decrefs). */
static json_t *check_envelope(const rec *e, fp_sim_registry *reg)
{
    fp_err err = {0};
    if (fp_json_validate(e->payload, e->m.len, &err))
        fail_msg("invalid JSON (%s): %s", err.msg, e->payload);
    json_error_t je;
    json_t *j = json_loadb(e->payload, e->m.len, 0, &je);
    assert_non_null(j);
    const char *obj = json_string_value(json_object_get(j, "object"));
    const char *type = json_string_value(json_object_get(j, "type"));
    assert_non_null(obj);
    assert_non_null(type);
    assert_true(fp_sim_registry_has_type(reg, obj, strlen(obj), type, strlen(type)));
    assert_string_equal(obj, e->m.proto->object);
    json_t *id = json_object_get(j, "id");
    assert_true(json_is_integer(id) && json_integer_value(id) > 0);
    assert_int_equal(json_integer_value(id), e->m.vehicle_id);
    char dev[32];
    snprintf(dev, sizeof dev, "dev-%06u", e->m.vehicle_id);
    assert_string_equal(json_string_value(json_object_get(j, "device_id")), dev);
    assert_string_equal(e->m.device_id, dev);
    int64_t at = iso_ms(json_object_get(j, "messaged_at"));
    assert_int_equal(at, e->m.messaged_ms);
    json_t *seq = json_object_get(j, "seq");
    assert_true(json_is_integer(seq));
    assert_int_equal(json_integer_value(seq), e->m.seq);
    char topic[128];
    snprintf(topic, sizeof topic, "fms/%s/%s/%s", dev, obj, type);
    assert_string_equal(e->m.mqtt_topic, topic);
    json_t *ms = json_object_get(j, "measurements");
    if (e->m.proto->periodic) {
        assert_true(json_is_array(ms) && json_array_size(ms) > 0);
        assert_int_equal(json_array_size(ms), e->m.samples);
        size_t i;
        json_t *s;
        json_array_foreach(ms, i, s)
        {
            int64_t ts = iso_ms(json_object_get(s, "timestamp_iso"));
            assert_true(ts < at && ts >= at - 300000 - 1000);
        }
    } else {
        assert_null(ms);
    }
    return j;
}

static void test_day(void **state)
{
    (void)state;
    fp_sim_registry *reg = builtin();
    const uint32_t nv = 6;
    fp_sim_conf conf = {reg, 42, T_START, nv, 0, 0, 0};
    ksample *ks[8] = {0};
    size_t nks[8] = {0};
    struct {
        int64_t t;
        bool brake, impact;
    } evs[4096];
    size_t nev = 0;
    int harsh = 0, harsh_checked = 0, stop_on = 0, stop_off = 0, door = 0;
    int volt_on = 0, volt_off = 0, cargo_n = 0, cargo_near = 0, bb = 0;
    for (uint32_t id = 1; id <= nv; id++) {
        fp_sim_vehicle *v = fp_sim_vehicle_new(&conf, id);
        recs r = {0};
        for (int h = 1; h <= 24; h++)
            fp_sim_vehicle_run(v, T_START + h * HOUR, collect, &r);
        assert_true(r.n > 24 * 60 * 3);
        ks[id] = fp_xcalloc(90000, sizeof *ks[id]);
        bool prev_ign = false;
        int64_t prev_seq = 0, prev_msg = 0, last_fuel_t = 0;
        double last_fuel = -1;
        for (size_t i = 0; i < r.n; i++) {
            const rec *e = &r.v[i];
            assert_int_equal(e->m.anomaly, FP_SIM_ANOM_NONE);
            json_t *j = check_envelope(e, reg);
            assert_int_equal(e->m.seq, prev_seq + 1);
            assert_true(e->m.messaged_ms >= prev_msg);
            prev_seq = e->m.seq;
            prev_msg = e->m.messaged_ms;
            const char *obj = e->m.proto->object, *type = e->m.proto->type;
            json_t *ms = json_object_get(j, "measurements"), *s;
            size_t k;
            if (!strcmp(obj, "vehicle") && !strcmp(type, "kinematic")) {
                json_array_foreach(ms, k, s)
                {
                    ksample *q = &ks[id][nks[id]++];
                    q->t = iso_ms(json_object_get(s, "timestamp_iso"));
                    q->lat = json_number_value(json_object_get(s, "lat"));
                    q->lng = json_number_value(json_object_get(s, "lng"));
                    q->speed = json_number_value(json_object_get(s, "speed"));
                    q->odo = json_number_value(json_object_get(s, "odometer"));
                    q->engine = json_is_true(json_object_get(s, "engine_on"));
                    double hd = json_number_value(json_object_get(s, "heading"));
                    assert_true(hd >= 0 && hd <= 359);
                    assert_true(q->speed >= 0 && q->speed <= 130);
                    assert_true(fabs(q->lat - 37.55) < 0.3 && fabs(q->lng - 127.0) < 0.4);
                    stop_on += q->speed == 0 && q->engine;
                    stop_off += q->speed == 0 && !q->engine;
                }
            } else if (!strcmp(obj, "vehicle") && !strcmp(type, "status")) {
                json_array_foreach(ms, k, s)
                {
                    double volt = json_number_value(json_object_get(s, "battery_voltage"));
                    bool ign = json_is_true(json_object_get(s, "ignition"));
                    double rpm = json_number_value(json_object_get(s, "engine_rpm"));
                    double fuel = json_number_value(json_object_get(s, "fuel_level"));
                    assert_true(fuel > 0 && fuel <= 100);
                    if (!ign) {
                        if (volt < 12.0 || volt > 12.8)
                            fail_msg("engine off, battery %.2f V", volt);
                        assert_true(rpm == 0);
                        volt_off++;
                    } else if (prev_ign) { /* the sample right after cranking may dip */
                        if (volt < 13.6 || volt > 14.6)
                            fail_msg("engine on, battery %.2f V", volt);
                        assert_true(rpm >= 650 && rpm <= 2700);
                        volt_on++;
                    }
                    /* fuel only goes up at a pump, with the engine off */
                    if (last_fuel >= 0 && fuel > last_fuel + 0.05)
                        assert_false(ign);
                    last_fuel = fuel;
                    last_fuel_t = e->m.messaged_ms;
                    prev_ign = ign;
                }
            } else if (!strcmp(obj, "cargo")) {
                json_array_foreach(ms, k, s)
                {
                    double tmp = json_number_value(json_object_get(s, "temperature"));
                    double sp = json_number_value(json_object_get(s, "setpoint"));
                    int zone = (int)json_integer_value(json_object_get(s, "zone"));
                    assert_true(zone == 1 || zone == 2);
                    if (fabs(tmp - sp) > 12)
                        fail_msg("cargo %.2f with setpoint %.1f", tmp, sp);
                    cargo_n++;
                    cargo_near += fabs(tmp - sp) <= 2.5;
                    door += json_is_true(json_object_get(s, "door_open"));
                }
            } else if (!strcmp(obj, "blackbox")) {
                json_array_foreach(ms, k, s)
                {
                    assert_true(json_integer_value(json_object_get(s, "storage_free_mb")) > 0);
                    assert_true(json_is_boolean(json_object_get(s, "camera_ok")));
                    bb++;
                }
            } else if (!strcmp(type, "event")) {
                harsh++;
                assert_true(nev < 4096);
                const char *ev = json_string_value(json_object_get(j, "event"));
                int64_t at = iso_ms(json_object_get(j, "occurred_at"));
                double g = json_number_value(json_object_get(j, "g_force"));
                assert_true(g > 0.25 && g < 6);
                evs[nev].t = at;
                evs[nev].brake = !strcmp(ev, "harsh_brake");
                evs[nev].impact = !strcmp(ev, "impact");
                nev++;
            }
            json_decref(j);
        }
        (void)last_fuel_t;
        /* The kinematic samples at and before each event show it. */
        for (size_t ei = 0; ei < nev; ei++) {
            if (evs[ei].impact)
                continue;
            for (size_t q = 1; q < nks[id]; q++) {
                if (ks[id][q].t != evs[ei].t)
                    continue;
                double dv = ks[id][q].speed - ks[id][q - 1].speed;
                if (evs[ei].brake && dv > -10)
                    fail_msg("harsh_brake at %lld with speed change %.1f km/h",
                             (long long)evs[ei].t, dv);
                if (!evs[ei].brake && dv < 10)
                    fail_msg("harsh_accel at %lld with speed change %.1f km/h",
                             (long long)evs[ei].t, dv);
                harsh_checked++;
            }
        }
        nev = 0;
        /* Odometer never goes back and grows with the distance between positions. */
        double path = 0;
        for (size_t q = 1; q < nks[id]; q++) {
            assert_true(ks[id][q].odo >= ks[id][q - 1].odo - 1e-9);
            assert_int_equal(ks[id][q].t - ks[id][q - 1].t, 1000);
            path += dist_km(ks[id][q - 1].lat, ks[id][q - 1].lng, ks[id][q].lat, ks[id][q].lng);
        }
        double odo = ks[id][nks[id] - 1].odo - ks[id][0].odo;
        assert_true(odo > 20); /* every vehicle worked a shift */
        if (fabs(odo - path) > 0.03 * odo)
            fail_msg("vehicle %u: odometer +%.2f km, positions %.2f km", id, odo, path);
        recs_free(&r);
        fp_sim_vehicle_free(v);
    }
    print_message("day: %d harsh events (%d matched to samples), stops with engine on %d / off "
                  "%d, door-open samples %d, cargo within 2.5 C: %.1f%%\n",
                  harsh, harsh_checked, stop_on, stop_off, door, 100.0 * cargo_near / cargo_n);
    assert_true(harsh >= 1 && harsh_checked >= 1);
    assert_true(stop_on > 100 && stop_off > 1000 && door > 10);
    assert_true(volt_on > 100 && volt_off > 100 && bb > 0);
    assert_true(cargo_near > 0.85 * cargo_n);
    for (int i = 0; i < 8; i++)
        free(ks[i]);
    fp_sim_registry_free(reg);
}

/* ---- anomalies ---- */

static void run_fleet(fp_sim_conf *conf, uint32_t nv, int64_t until, recs *r)
{
    for (uint32_t id = 1; id <= nv; id++) {
        fp_sim_vehicle *v = fp_sim_vehicle_new(conf, id);
        fp_sim_vehicle_run(v, until, collect, r);
        fp_sim_vehicle_free(v);
    }
}

/* The anomaly is really in the bytes, and the rest of the message is intact. */
static void check_content(const rec *e)
{
    json_t *j = json_loadb(e->payload, e->m.len, 0, NULL), *ms = json_object_get(j, "measurements");
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), e->m.seq);
    int64_t at = iso_ms(json_object_get(j, "messaged_at"));
    size_t n = json_array_size(ms), i;
    switch (e->m.anomaly) {
    case FP_SIM_ANOM_TIME_SKEW:
        assert_true(llabs(at - e->m.messaged_ms) > 300 * 24 * HOUR);
        if (n)
            assert_true(llabs(iso_ms(json_object_get(json_array_get(ms, 0), "timestamp_iso")) -
                              e->m.messaged_ms) > 300 * 24 * HOUR);
        break;
    case FP_SIM_ANOM_GPS_JUMP: {
        int far = 0;
        for (i = 0; i < n; i++) {
            json_t *s = json_array_get(ms, i);
            double la = json_number_value(json_object_get(s, "lat"));
            double lo = json_number_value(json_object_get(s, "lng"));
            far += dist_km(la, lo, 37.55, 127.0) > 100;
        }
        assert_int_equal(far, 1);
        break;
    }
    case FP_SIM_ANOM_ODOMETER_BACK: {
        int back = 0;
        for (i = 1; i < n; i++)
            back += json_number_value(json_object_get(json_array_get(ms, i), "odometer")) <
                    json_number_value(json_object_get(json_array_get(ms, i - 1), "odometer"));
        assert_true(back >= 1);
        break;
    }
    case FP_SIM_ANOM_STUCK_SENSOR: {
        const char *field = e->m.anomaly_detail + strlen("field ");
        char *first = json_dumps(json_object_get(json_array_get(ms, 0), field), JSON_ENCODE_ANY);
        assert_non_null(first);
        for (i = 1; i < n; i++) {
            char *x = json_dumps(json_object_get(json_array_get(ms, i), field), JSON_ENCODE_ANY);
            assert_string_equal(x, first);
            free(x);
        }
        free(first);
        break;
    }
    default:
        break;
    }
    json_decref(j);
}

static void test_anomalies(void **state)
{
    (void)state;
    fp_sim_registry *reg = builtin();
    uint32_t all;
    fp_err err = {0};
    assert_int_equal(fp_sim_anomaly_parse("all", &all, &err), FP_OK);
    fp_sim_conf conf = {reg, 7, T_START + 8 * HOUR, 20, 0.1, all, 0};
    recs r = {0};
    run_fleet(&conf, 20, conf.start_ms + 4 * HOUR, &r);
    size_t originals = 0, anomalous = 0, per[FP_SIM_ANOM_COUNT] = {0};
    for (size_t i = 0; i < r.n; i++) {
        const rec *e = &r.v[i];
        fp_sim_anomaly a = e->m.anomaly;
        per[a]++;
        if (a != FP_SIM_ANOM_DUPLICATE)
            originals++;
        if (a != FP_SIM_ANOM_NONE)
            anomalous++;
        assert_true(a == FP_SIM_ANOM_NONE || e->m.anomaly_detail[0]);
        bool valid = !fp_json_validate(e->payload, e->m.len, NULL);
        if (a == FP_SIM_ANOM_MALFORMED_JSON) {
            assert_false(valid);
            continue;
        }
        assert_true(valid);
        json_t *j = json_loadb(e->payload, e->m.len, 0, NULL);
        if (a == FP_SIM_ANOM_MISSING_FIELD) {
            static const char *const env[] = {"object",    "type",        "id",
                                              "device_id", "messaged_at", "seq"};
            int missing = 0;
            for (int k = 0; k < 6; k++)
                missing += json_object_get(j, env[k]) == NULL;
            assert_int_equal(missing, 1);
            json_decref(j);
            continue;
        }
        json_decref(j);
        if (a == FP_SIM_ANOM_SPOOFED_TOPIC) {
            assert_null(strstr(e->m.mqtt_topic, e->m.device_id));
            assert_non_null(strstr(e->payload, e->m.device_id));
            continue;
        }
        if (a == FP_SIM_ANOM_DUPLICATE) {
            assert_true(i > 0);
            assert_string_equal(r.v[i - 1].payload, e->payload);
        }
        if (a == FP_SIM_ANOM_VOLTAGE_RANGE)
            assert_string_equal(e->m.proto->type, "status");
        if (a == FP_SIM_ANOM_GPS_JUMP || a == FP_SIM_ANOM_ODOMETER_BACK)
            assert_string_equal(e->m.proto->type, "kinematic");
        if (a == FP_SIM_ANOM_STUCK_SENSOR)
            assert_true(e->m.proto->periodic);
        if (a == FP_SIM_ANOM_OUT_OF_ORDER) {
            assert_true(i > 0 && r.v[i - 1].m.seq == e->m.seq + 1);
            assert_string_equal(r.v[i - 1].m.device_id, e->m.device_id);
        }
        if (a == FP_SIM_ANOM_NONE || a == FP_SIM_ANOM_DUPLICATE || a == FP_SIM_ANOM_OUT_OF_ORDER)
            json_decref(check_envelope(e, reg));
        else
            check_content(e);
        /* The truth line is JSON and says whether the bridge dead-letters it. */
        if (a != FP_SIM_ANOM_NONE) {
            fp_buf t = FP_BUF_INIT;
            fp_sim_truth_format(&e->m, &t);
            assert_int_equal(fp_json_validate(t.p, t.len, NULL), FP_OK);
            assert_non_null(strstr(t.p, fp_sim_anomaly_name(a)));
            fp_buf_free(&t);
        }
    }
    double rate = (double)(anomalous) / (double)originals;
    print_message("anomalies: %zu of %zu messages = %.4f (want 0.1)\n", anomalous, originals, rate);
    assert_true(rate > 0.085 && rate < 0.115);
    for (int a = 1; a < FP_SIM_ANOM_COUNT; a++)
        if (!per[a])
            fail_msg("anomaly %s never appeared", fp_sim_anomaly_name(a));
    for (int a = 0; a < FP_SIM_ANOM_COUNT; a++)
        assert_int_equal(fp_sim_anomaly_is_dead_letter((fp_sim_anomaly)a),
                         a == FP_SIM_ANOM_MALFORMED_JSON || a == FP_SIM_ANOM_MISSING_FIELD ||
                             a == FP_SIM_ANOM_SPOOFED_TOPIC);
    recs_free(&r);

    /* Masked: only the listed kinds, and only where they apply. */
    uint32_t mask;
    assert_int_equal(fp_sim_anomaly_parse("voltage_range, gps_jump", &mask, &err), FP_OK);
    assert_int_equal(mask, 1u << FP_SIM_ANOM_VOLTAGE_RANGE | 1u << FP_SIM_ANOM_GPS_JUMP);
    assert_int_equal(fp_sim_anomaly_parse("gps_jump,bogus", &mask, &err), FP_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "bogus"));
    conf.anomaly_mask = 1u << FP_SIM_ANOM_VOLTAGE_RANGE | 1u << FP_SIM_ANOM_GPS_JUMP;
    conf.anomaly_rate = 0.5;
    run_fleet(&conf, 5, conf.start_ms + 2 * HOUR, &r);
    size_t volt = 0, jump = 0;
    for (size_t i = 0; i < r.n; i++) {
        fp_sim_anomaly a = r.v[i].m.anomaly;
        assert_true(a == FP_SIM_ANOM_NONE || a == FP_SIM_ANOM_VOLTAGE_RANGE ||
                    a == FP_SIM_ANOM_GPS_JUMP);
        volt += a == FP_SIM_ANOM_VOLTAGE_RANGE;
        jump += a == FP_SIM_ANOM_GPS_JUMP;
        json_decref(check_envelope(&r.v[i], reg));
        if (a == FP_SIM_ANOM_VOLTAGE_RANGE) {
            /* one sample really is impossible */
            json_t *j = json_loads(r.v[i].payload, 0, NULL), *s;
            size_t k;
            int bad = 0;
            json_array_foreach(json_object_get(j, "measurements"), k, s)
            {
                double x = json_number_value(json_object_get(s, "battery_voltage"));
                bad += x < 8 || x > 20;
            }
            assert_int_equal(bad, 1);
            json_decref(j);
        }
    }
    assert_true(volt > 10 && jump > 10);
    recs_free(&r);

    /* A fleet of one has nobody to spoof. */
    conf.anomaly_mask = 1u << FP_SIM_ANOM_SPOOFED_TOPIC;
    conf.fleet_size = 1;
    run_fleet(&conf, 1, conf.start_ms + HOUR, &r);
    for (size_t i = 0; i < r.n; i++)
        assert_int_equal(r.v[i].m.anomaly, FP_SIM_ANOM_NONE);
    recs_free(&r);
    fp_sim_registry_free(reg);
}

/* ---- determinism ---- */

static void concat(const recs *r, fp_buf *out)
{
    for (size_t i = 0; i < r->n; i++) {
        fp_buf_printf(out, "%s|%d|%lld|", r->v[i].m.mqtt_topic, (int)r->v[i].m.anomaly,
                      (long long)r->v[i].m.messaged_ms);
        fp_buf_append(out, r->v[i].payload, r->v[i].m.len);
        fp_buf_putc(out, '\n');
    }
}

static void test_determinism(void **state)
{
    (void)state;
    fp_sim_registry *reg = builtin();
    uint32_t all;
    fp_sim_anomaly_parse("all", &all, NULL);
    fp_sim_conf conf = {reg, 99, T_START + 7 * HOUR, 10, 0.05, all, 0};
    int64_t end = conf.start_ms + 6 * HOUR;
    recs whole = {0}, chunked = {0}, paced = {0};
    fp_sim_vehicle *a = fp_sim_vehicle_new(&conf, 7);
    fp_sim_vehicle_run(a, end, collect, &whole);
    fp_sim_vehicle *b = fp_sim_vehicle_new(&conf, 7);
    uint64_t x = 12345;
    for (int64_t t = conf.start_ms; t < end;) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        t += (int64_t)(x >> 33) % 90000; /* 0..90 s, often mid-second */
        fp_sim_vehicle_run(b, t < end ? t : end, collect, &chunked);
    }
    /* A transport that sleeps until next_ms() and runs to it. */
    fp_sim_vehicle *c = fp_sim_vehicle_new(&conf, 7);
    for (int64_t t = fp_sim_vehicle_next_ms(c); t <= end; t = fp_sim_vehicle_next_ms(c)) {
        size_t before = paced.n;
        fp_sim_vehicle_run(c, t, collect, &paced);
        for (size_t i = before; i < paced.n; i++)
            assert_true(paced.v[i].m.messaged_ms <= t);
    }
    fp_sim_vehicle_run(c, end, collect, &paced);
    fp_buf w = FP_BUF_INIT, ch = FP_BUF_INIT, pc = FP_BUF_INIT;
    concat(&whole, &w);
    concat(&chunked, &ch);
    concat(&paced, &pc);
    assert_true(whole.n > 6 * 60 * 3);
    assert_int_equal(whole.n, chunked.n);
    assert_true(w.len == ch.len && !memcmp(w.p, ch.p, w.len));
    assert_true(w.len == pc.len && !memcmp(w.p, pc.p, w.len));
    /* A different seed gives different bytes. */
    recs other = {0};
    conf.seed = 100;
    fp_sim_vehicle *d = fp_sim_vehicle_new(&conf, 7);
    fp_sim_vehicle_run(d, conf.start_ms + HOUR, collect, &other);
    assert_true(other.n > 0);
    assert_string_not_equal(other.v[0].payload, whole.v[0].payload);
    fp_buf_free(&w);
    fp_buf_free(&ch);
    fp_buf_free(&pc);
    recs_free(&whole);
    recs_free(&chunked);
    recs_free(&paced);
    recs_free(&other);
    fp_sim_vehicle_free(a);
    fp_sim_vehicle_free(b);
    fp_sim_vehicle_free(c);
    fp_sim_vehicle_free(d);
    fp_sim_registry_free(reg);
}

/* ---- commands ---- */

static json_t *response(recs *r, const char *command_id)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].m.proto->type, "command_response"))
            continue;
        json_t *j = json_loads(r->v[i].payload, 0, NULL);
        assert_non_null(j);
        if (!strcmp(json_string_value(json_object_get(j, "command_id")), command_id))
            return j;
        json_decref(j);
    }
    fail_msg("no response to %s", command_id);
    return NULL;
}

/* A command that arrives before the vehicle's first step (its t0 lies up to a minute after
 * the start) or while the model is a step ahead of the simulated now is answered at once, as
 * a transport that runs to next_ms() sees it: no stall, no wait for t0. */
static void test_command_before_first_step(void **state)
{
    (void)state;
    fp_sim_registry *reg = builtin();
    fp_sim_conf conf = {reg, 5, T_START + 9 * HOUR, 3, 0, 0, 0};
    for (uint32_t id = 1; id <= 5; id++) {
        fp_sim_vehicle *v = fp_sim_vehicle_new(&conf, id);
        recs r = {0};
        int64_t now = conf.start_ms + 500; /* mid-step, before any step of the model */
        const char *ping = "{\"command_id\":\"early\",\"command\":\"ping\"}";
        fp_sim_vehicle_command(v, ping, strlen(ping), now);
        /* ping: done 0.1-0.8 s later, at the model's next whole step, sent 50-450 ms after */
        int64_t until = now + 800 + 1000 + 450;
        for (int64_t due = fp_sim_vehicle_next_ms(v); due <= until;) {
            fp_sim_vehicle_run(v, due + 999 < until ? due + 999 : until, collect, &r);
            int64_t next = fp_sim_vehicle_next_ms(v);
            assert_true(next > due); /* progress: the simulator's "model stuck" guard */
            due = next;
        }
        fp_sim_vehicle_run(v, until, collect, &r);
        json_t *j = response(&r, "early");
        assert_string_equal(json_string_value(json_object_get(j, "command")), "ping");
        json_decref(j);
        recs_free(&r);
        fp_sim_vehicle_free(v);
    }
    fp_sim_registry_free(reg);
}

static void test_commands(void **state)
{
    (void)state;
    fp_sim_registry *reg = builtin();
    fp_sim_conf conf = {reg, 5, T_START + 9 * HOUR, 3, 0, 0, 0};
    fp_sim_vehicle *v = fp_sim_vehicle_new(&conf, 2);
    recs r = {0};
    int64_t t = conf.start_ms + 120000;
    fp_sim_vehicle_run(v, t, collect, &r);
    const char *cmds[] = {
        "{\"command_id\":\"c-1\",\"command\":\"ping\",\"requested_at\":\"2023-01-01T09:02:00+09:"
        "00\"}",
        "{\"command_id\":\"c-2\",\"command\":\"upload_video\"}",
        "{\"command_id\":\"c-3\",\"command\":\"set_setpoint\",\"params\":{\"zone\":1,\"setpoint\":-"
        "20}}",
        "{\"command_id\":\"c-4\",\"command\":\"self_destruct\"}",
        "{\"command_id\":\"c-5\",\"command\":\"set_setpoint\",\"zone\":9,\"setpoint\":1}",
        "{\"command\":\"ping\"",
        "{\"command\":\"ping\"}",
        "[1,2]",
        "{\"command_id\":\"c-6\",\"command\":\"reboot\"}",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fp_sim_vehicle_command(v, cmds[i], strlen(cmds[i]), t);
    fp_sim_vehicle_command(v, NULL, 0, t);
    assert_true(fp_sim_vehicle_next_ms(v) < t + 2000);
    fp_sim_vehicle_run(v, t + 10 * 60000, collect, &r);
    int unknown = 0;
    for (size_t i = 0; i < r.n; i++) {
        json_decref(check_envelope(&r.v[i], reg));
        if (!strcmp(r.v[i].m.proto->type, "command_response")) {
            json_t *j = json_loads(r.v[i].payload, 0, NULL);
            const char *id = json_string_value(json_object_get(j, "command_id"));
            if (!strcmp(id, "unknown")) {
                unknown++;
                assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
                assert_non_null(
                    json_string_value(json_object_get(json_object_get(j, "result"), "error")));
            }
            int64_t req = iso_ms(json_object_get(j, "requested_at"));
            int64_t done = iso_ms(json_object_get(j, "completed_at"));
            assert_true(done >= req);
            json_decref(j);
        }
    }
    assert_int_equal(unknown, 4); /* truncated, no id, not an object, empty */
    json_t *j = response(&r, "c-1");
    assert_string_equal(json_string_value(json_object_get(j, "command")), "ping");
    assert_string_equal(json_string_value(json_object_get(j, "requested_at")),
                        "2023-01-01T09:02:00+09:00");
    json_decref(j);
    j = response(&r, "c-2");
    if (!strcmp(json_string_value(json_object_get(j, "status")), "ok")) {
        json_t *res = json_object_get(j, "result");
        assert_true(json_integer_value(json_object_get(res, "bytes")) > 0);
        assert_non_null(
            strstr(json_string_value(json_object_get(res, "object_key")), "dev-000002"));
    }
    json_decref(j);
    j = response(&r, "c-4");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(j, "result"), "error")),
               "self_destruct"));
    json_decref(j);
    j = response(&r, "c-5");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    json_decref(j);
    j = response(&r, "c-6");
    json_decref(j);
    j = response(&r, "c-3");
    bool ok = !strcmp(json_string_value(json_object_get(j, "status")), "ok");
    int64_t done = iso_ms(json_object_get(j, "completed_at"));
    json_decref(j);
    /* After the set_setpoint, cargo zone 1 reports the new setpoint. */
    recs later = {0};
    fp_sim_vehicle_run(v, t + 20 * 60000, collect, &later);
    int seen = 0;
    for (size_t i = 0; i < later.n; i++) {
        if (strcmp(later.v[i].m.proto->object, "cargo"))
            continue;
        json_t *c = json_loads(later.v[i].payload, 0, NULL), *s;
        size_t k;
        json_array_foreach(json_object_get(c, "measurements"), k, s)
        {
            if (json_integer_value(json_object_get(s, "zone")) != 1 ||
                iso_ms(json_object_get(s, "timestamp_iso")) <= done + 1000)
                continue;
            double sp = json_number_value(json_object_get(s, "setpoint"));
            assert_true(ok ? sp == -20 : sp != -20);
            seen++;
        }
        json_decref(c);
    }
    assert_true(seen > 10);
    recs_free(&later);
    recs_free(&r);
    fp_sim_vehicle_free(v);
    fp_sim_registry_free(reg);
}

/* ---- replay ---- */

static void test_replay(void **state)
{
    (void)state;
    fp_sim_registry *reg = builtin();
    fp_sim_conf conf = {reg, 3, T_START + 10 * HOUR, 2, 0, 0, 0};
    recs r = {0};
    run_fleet(&conf, 2, conf.start_ms + 10 * 60000, &r);
    char path[] = "/tmp/fp-replay-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    size_t good = 0;
    for (size_t i = 0; i < r.n; i++) {
        fprintf(f, "%s\n", r.v[i].payload);
        good++;
        if (i == 3)
            fputs("{\"broken\n\n", f); /* line 5 bad, line 6 empty */
    }
    fputs("{\"id\":5,\"device_id\":\"truck-a\",\"object\":\"vehicle\",\"type\":\"event\","
          "\"event\":\"impact\",\"g_force\":3,\"lat\":37.5,\"lng\":127,"
          "\"occurred_at\":\"2023-01-01T10:00:00.250Z\",\"messaged_at\":\"2023-01-01T10:00:01Z\","
          "\"seq\":9}\n",
          f);
    good++;
    fclose(f);
    fp_err err = {0};
    assert_null(fp_sim_replay_open(path, 0, 1, &err));
    fp_sim_replay *rp = fp_sim_replay_open(path, 3, 1000, &err);
    assert_non_null(rp);
    fp_sim_msg m;
    size_t n = 0, bad = 0;
    int rc;
    char prev_dev[3][32];
    int64_t base_ms = 0;
    while ((rc = fp_sim_replay_next(rp, &m, &err)) != 0) {
        if (rc < 0) {
            bad++;
            char want[600];
            snprintf(want, sizeof want, "%s:5: ", path);
            assert_non_null(strstr(err.msg, want));
            continue;
        }
        size_t k = n % 3;
        assert_int_equal(fp_json_validate(m.payload, m.len, &err), FP_OK);
        json_t *j = json_loadb(m.payload, m.len, 0, NULL);
        const char *dev = json_string_value(json_object_get(j, "device_id"));
        assert_string_equal(dev, m.device_id);
        assert_int_equal(json_integer_value(json_object_get(j, "id")), m.vehicle_id);
        char topic[128];
        snprintf(topic, sizeof topic, "fms/%s/%s/%s", dev,
                 json_string_value(json_object_get(j, "object")),
                 json_string_value(json_object_get(j, "type")));
        assert_string_equal(m.mqtt_topic, topic);
        assert_int_equal(m.seq, json_integer_value(json_object_get(j, "seq")));
        snprintf(prev_dev[k], sizeof prev_dev[k], "%s", dev);
        const char *at = json_string_value(json_object_get(j, "messaged_at"));
        int64_t ms;
        assert_int_equal(fp_time_parse_iso(at, strlen(at), &ms, NULL), FP_OK);
        assert_int_equal(ms, m.messaged_ms);
        if (k == 0) {
            base_ms = ms;
        } else {
            assert_int_equal(ms - base_ms, (int64_t)k * 1000);
            /* the original offset is kept */
            assert_true(strstr(at, "+09:00") || at[strlen(at) - 1] == 'Z');
        }
        if (k == 2) {
            assert_string_not_equal(prev_dev[0], prev_dev[1]);
            assert_string_not_equal(prev_dev[1], prev_dev[2]);
            assert_string_not_equal(prev_dev[0], prev_dev[2]);
        }
        if (!strcmp(m.device_id, "truck-a-c2")) {
            assert_int_equal(m.vehicle_id, 2005);
            assert_string_equal(json_string_value(json_object_get(j, "occurred_at")),
                                "2023-01-01T10:00:02.250Z");
            assert_true(fabs(json_number_value(json_object_get(j, "lat")) - 37.5018) < 1e-9);
        }
        if (k && json_object_get(j, "measurements")) {
            json_t *s0 = json_array_get(json_object_get(j, "measurements"), 0);
            assert_non_null(json_object_get(s0, "timestamp_iso"));
        }
        json_decref(j);
        n++;
    }
    assert_int_equal(bad, 1);
    assert_int_equal(n, 3 * good);
    fp_sim_replay_free(rp);
    unlink(path);
    assert_null(fp_sim_replay_open("/nonexistent.jsonl", 1, 1, &err));
    recs_free(&r);
    fp_sim_registry_free(reg);
}

/* ---- micro-benchmark ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bench_sink {
    uint64_t bytes, msgs, samples;
} bench_sink;

static void bench_emit(void *ctx, const fp_sim_msg *m)
{
    bench_sink *s = ctx;
    if (strcmp(m->proto->type, "kinematic")) /* only the selected protocol */
        fail_msg("unselected protocol %s/%s emitted", m->proto->object, m->proto->type);
    s->bytes += m->len;
    s->msgs++;
    s->samples += m->samples;
}

/* Whole-model throughput (physics + formatting) of vehicle/kinematic, and the per-sample
 * formatter against snprintf on the same values. FP_SIM_BENCH_VEHICLES scales the run. */
static void test_bench(void **state)
{
    (void)state;
    fp_sim_registry *reg = builtin();
    assert_int_equal(fp_sim_registry_select(reg, "vehicle/kinematic", NULL), FP_OK);
    fp_sim_conf conf = {reg, 1, T_START + 9 * HOUR, 1000, 0, 0, 0};
    const char *env = getenv("FP_SIM_BENCH_VEHICLES");
    uint32_t nv = env ? (uint32_t)atoi(env) : 100;
    bench_sink s = {0};
    double t0 = now_s();
    for (uint32_t id = 1; id <= nv; id++) {
        fp_sim_vehicle *v = fp_sim_vehicle_new(&conf, id);
        fp_sim_vehicle_run(v, conf.start_ms + HOUR, bench_emit, &s);
        fp_sim_vehicle_free(v);
    }
    double dt = now_s() - t0;
    print_message("bench model: %.0f ns/sample, %.1f MB/s, %.0f kinematic msgs/s (%llu samples, "
                  "%.0f B/msg)\n",
                  dt * 1e9 / (double)s.samples, (double)s.bytes / dt / 1e6, (double)s.msgs / dt,
                  (unsigned long long)s.samples, (double)s.bytes / (double)s.msgs);
    /* Formatting alone: one kinematic sample's values, fixed-point vs snprintf. */
    enum { N = 2000000 };
    char buf[256];
    fp_sim_isofmt iso;
    fp_sim_isofmt_init(&iso);
    size_t sink = 0;
    double lat = 37.5, lng = 127.0, sp = 42.3, odo = 12034.2;
    t0 = now_s();
    for (int i = 0; i < N; i++) {
        char *w = buf;
        w += fp_sim_isofmt_put(&iso, w, T_START + (int64_t)i * 1000, false);
        w += fp_sim_fmt_fixed(w, lat + i * 1e-7, 6);
        w += fp_sim_fmt_fixed(w, lng - i * 1e-7, 6);
        w += fp_sim_fmt_fixed(w, sp + (i & 63), 1);
        w += fp_sim_fmt_fixed(w, (double)(i % 360), 0);
        w += fp_sim_fmt_fixed(w, odo + i * 0.01, 3);
        sink += (size_t)(w - buf);
    }
    double fast = now_s() - t0;
    t0 = now_s();
    for (int i = 0; i < N; i++) {
        int y, mo, d, h, mi, sec;
        fp_time_utc(T_START + (int64_t)i * 1000 + 9 * HOUR, &y, &mo, &d, &h, &mi, &sec);
        sink += (size_t)snprintf(
            buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d+09:00%.6f%.6f%.1f%d%.3f", y, mo, d, h,
            mi, sec, lat + i * 1e-7, lng - i * 1e-7, sp + (i & 63), i % 360, odo + i * 0.01);
    }
    double slow = now_s() - t0;
    print_message("bench format: fixed-point %.1f ns/sample, snprintf %.1f ns/sample (%.1fx)%s\n",
                  fast * 1e9 / N, slow * 1e9 / N, slow / fast, sink ? "" : " ");
    fp_sim_registry_free(reg);
}

int main(int argc, char **argv)
{
    data_dir = argc > 1 ? argv[1] : "tests/data";
    if (argc > 2) /* e.g. test_sim tests/data test_bench */
        cmocka_set_test_filter(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_builtin),
        cmocka_unit_test(test_registry_cases),
        cmocka_unit_test(test_registry_generators),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_day),
        cmocka_unit_test(test_anomalies),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_command_before_first_step),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
