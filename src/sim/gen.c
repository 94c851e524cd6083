/* gen.c — deterministic fleet telemetry for the demo, benchmarks and tests.
 *
 * One "minute" of fleet time at a time: for every vehicle a vehicle/kinematic batch (1 Hz, 60
 * samples), a vehicle/status batch (0.1 Hz), a cargo/temperature batch (0.2 Hz), every fifth
 * minute a blackbox/status batch (1/60 Hz over 300 s), and now and then a vehicle/event.
 * Devices report local time at +09:00, as the seed fleet does. This is a stand-in for the full
 * simulator (issue 3): vehicles drive straight-ish lines at plausible speeds, nothing more.
 */
#include "sim/gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"

#define LOCAL_OFFSET_MS (9 * 3600 * 1000LL)

typedef struct vehicle {
    uint32_t id;
    double lat, lng, heading, speed, odometer, voltage, temp;
    uint64_t seq;
} vehicle;

struct fp_gen {
    vehicle *v;
    uint32_t nv;
    uint64_t rng;
    int64_t start_ms;
    uint32_t bad_ppm;
    uint64_t minute; /* fleet minute being emitted */
    uint32_t vi;     /* vehicle index within the minute */
    int step;        /* message kind within the vehicle's minute */
};

static uint64_t rnd(fp_gen *g)
{
    /* splitmix64: tiny, fast, good enough for telemetry shapes, and deterministic. */
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unif(fp_gen *g)
{
    return (double)(rnd(g) >> 11) / 9007199254740992.0;
}

fp_gen *fp_gen_new(uint32_t vehicles, uint64_t seed, int64_t start_ms, uint32_t bad_per_million)
{
    fp_gen *g = fp_xcalloc(1, sizeof *g);
    g->nv = vehicles ? vehicles : 1;
    g->rng = seed;
    g->start_ms = start_ms;
    g->bad_ppm = bad_per_million;
    g->v = fp_xcalloc(g->nv, sizeof *g->v);
    for (uint32_t i = 0; i < g->nv; i++) {
        vehicle *v = &g->v[i];
        v->id = 100 + i;
        v->lat = 37.40 + unif(g) * 0.30; /* around Seoul */
        v->lng = 126.80 + unif(g) * 0.40;
        v->heading = floor(unif(g) * 360);
        v->speed = 20 + unif(g) * 60;
        v->odometer = 1000 + floor(unif(g) * 90000);
        v->voltage = 13.9;
        v->temp = 4.0;
        v->seq = 1 + (rnd(g) % 1000);
    }
    return g;
}

void fp_gen_free(fp_gen *g)
{
    if (!g)
        return;
    free(g->v);
    free(g);
}

static void put_local_time(fp_buf *b, int64_t utc_ms)
{
    int y, mo, d, h, mi, s;
    fp_time_utc(utc_ms + LOCAL_OFFSET_MS, &y, &mo, &d, &h, &mi, &s);
    fp_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d+09:00\"", y, mo, d, h, mi, s);
}

static void envelope(vehicle *v, fp_buf *b, const char *object, const char *type,
                     int64_t messaged_ms, fp_gen_msg *m)
{
    fp_buf_printf(b,
                  "{\"object\":\"%s\",\"type\":\"%s\",\"id\":%u,\"device_id\":\"dev-%06u\","
                  "\"messaged_at\":",
                  object, type, v->id, v->id);
    put_local_time(b, messaged_ms);
    fp_buf_printf(b, ",\"seq\":%llu", (unsigned long long)v->seq++);
    snprintf(m->device_id, sizeof m->device_id, "dev-%06u", v->id);
    m->messaged_ms = messaged_ms;
    m->topic = !strcmp(object, "cargo")      ? "fms.cargo"
               : !strcmp(object, "blackbox") ? "fms.blackbox"
                                             : "fms.vehicle";
}

/* Opens sample i of a measurements array with its timestamp. */
static void sample(fp_buf *b, int i, int64_t utc_ms)
{
    fp_buf_puts(b, i ? ",{\"timestamp_iso\":" : "{\"timestamp_iso\":");
    put_local_time(b, utc_ms);
}

static void kinematic(fp_gen *g, vehicle *v, int64_t t0, fp_buf *b, fp_gen_msg *m)
{
    envelope(v, b, "vehicle", "kinematic", t0 + 60000, m);
    fp_buf_puts(b, ",\"measurements\":[");
    for (int i = 0; i < 60; i++) {
        /* Speed wanders, with an occasional stop at a light. */
        v->speed += (unif(g) - 0.5) * 6;
        if (unif(g) < 0.01)
            v->speed = 0;
        v->speed = v->speed < 0 ? 0 : v->speed > 110 ? 110 : v->speed;
        v->heading = fmod(v->heading + (unif(g) - 0.5) * 8 + 360, 360);
        double km = v->speed / 3600.0;
        v->odometer += km;
        v->lat += km / 111.0 * cos(v->heading * M_PI / 180);
        v->lng += km / 88.0 * sin(v->heading * M_PI / 180);
        sample(b, i, t0 + i * 1000);
        fp_buf_printf(b,
                      ",\"speed\":%.1f,\"lat\":%.7f,\"lng\":%.7f,\"heading\":%d,"
                      "\"odometer\":%.3f,\"engine_on\":true}",
                      v->speed, v->lat, v->lng, (int)v->heading, v->odometer);
    }
    fp_buf_puts(b, "]}");
}

static void status(fp_gen *g, vehicle *v, int64_t t0, fp_buf *b, fp_gen_msg *m)
{
    envelope(v, b, "vehicle", "status", t0 + 60000, m);
    fp_buf_puts(b, ",\"measurements\":[");
    for (int i = 0; i < 6; i++) {
        v->voltage = 13.8 + unif(g) * 0.6;
        sample(b, i, t0 + i * 10000);
        fp_buf_printf(b,
                      ",\"battery_voltage\":%.2f,\"ignition\":true,\"fuel_level\":%.1f,"
                      "\"engine_rpm\":%d}",
                      v->voltage, 20 + unif(g) * 70, 800 + (int)(v->speed * 25));
    }
    fp_buf_puts(b, "]}");
}

static void cargo(fp_gen *g, vehicle *v, int64_t t0, fp_buf *b, fp_gen_msg *m)
{
    envelope(v, b, "cargo", "temperature", t0 + 60000, m);
    fp_buf_puts(b, ",\"measurements\":[");
    for (int i = 0; i < 12; i++) {
        v->temp += (4.0 - v->temp) * 0.2 + (unif(g) - 0.5) * 0.4;
        sample(b, i, t0 + i * 5000);
        fp_buf_printf(b, ",\"zone\":1,\"temperature\":%.2f,\"setpoint\":4.0,\"door_open\":false}",
                      v->temp);
    }
    fp_buf_puts(b, "]}");
}

static void blackbox(fp_gen *g, vehicle *v, int64_t t0, fp_buf *b, fp_gen_msg *m)
{
    envelope(v, b, "blackbox", "status", t0 + 60000, m);
    fp_buf_puts(b, ",\"measurements\":[");
    for (int i = 0; i < 5; i++) {
        sample(b, i, t0 - (4 - i) * 60000);
        fp_buf_printf(b, ",\"recording\":true,\"storage_free_mb\":%d,\"camera_ok\":true}",
                      20000 + (int)(rnd(g) % 10000));
    }
    fp_buf_puts(b, "]}");
}

static void event(fp_gen *g, vehicle *v, int64_t t0, fp_buf *b, fp_gen_msg *m)
{
    int64_t at = t0 + (int64_t)(unif(g) * 60000);
    envelope(v, b, "vehicle", "event", at + 500, m);
    static const char *kinds[] = {"harsh_brake", "harsh_accel", "impact"};
    fp_buf_printf(b,
                  ",\"event\":\"%s\",\"g_force\":%.2f,\"lat\":%.7f,\"lng\":%.7f,\"occurred_at\":",
                  kinds[rnd(g) % 3], 0.4 + unif(g) * 1.2, v->lat, v->lng);
    put_local_time(b, at);
    fp_buf_putc(b, '}');
}

/* Breaks a finished message on purpose: cut it in half, or drop messaged_at. */
static void spoil(fp_gen *g, fp_buf *b, size_t start)
{
    if (rnd(g) & 1) {
        size_t n = b->len - start;
        b->len = start + n / 2;
        b->p[b->len] = '\0';
        return;
    }
    char *at = strstr(b->p + start, "\"messaged_at\":");
    char *comma = at ? strchr(at, ',') : NULL;
    if (!at || !comma)
        return;
    size_t cut = (size_t)(comma + 1 - at);
    memmove(at, comma + 1, (size_t)(b->p + b->len - comma)); /* includes the NUL */
    b->len -= cut;
}

void fp_gen_next(fp_gen *g, fp_buf *out, fp_gen_msg *m)
{
    size_t start = out->len;
    memset(m, 0, sizeof *m);
    for (;;) {
        vehicle *v = &g->v[g->vi];
        int64_t t0 = g->start_ms + (int64_t)g->minute * 60000;
        int step = g->step++;
        int done = 1;
        switch (step) {
        case 0:
            kinematic(g, v, t0, out, m);
            break;
        case 1:
            status(g, v, t0, out, m);
            break;
        case 2:
            cargo(g, v, t0, out, m);
            break;
        case 3:
            if (g->minute % 5 == 4)
                blackbox(g, v, t0, out, m);
            else
                done = 0;
            break;
        case 4:
            if (unif(g) < 0.02)
                event(g, v, t0, out, m);
            else
                done = 0;
            break;
        default:
            done = 0;
            g->step = 0;
            if (++g->vi == g->nv) {
                g->vi = 0;
                g->minute++;
            }
        }
        if (done)
            break;
    }
    if (g->bad_ppm && rnd(g) % 1000000 < g->bad_ppm) {
        spoil(g, out, start);
        m->bad = 1;
    }
}

void fp_gen_kinematic(fp_gen *g, fp_buf *out, fp_gen_msg *m)
{
    memset(m, 0, sizeof *m);
    vehicle *v = &g->v[g->vi];
    kinematic(g, v, g->start_ms + (int64_t)g->minute * 60000, out, m);
    if (++g->vi == g->nv) {
        g->vi = 0;
        g->minute++;
    }
}
