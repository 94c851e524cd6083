/* vehicle.c — one simulated delivery truck: physics in 1 s steps, sampling into the registry's
 * protocols, anomaly injection and the send queue.
 *
 * A vehicle leaves its depot at its shift start, drives L-shaped legs between delivery points
 * (urban/arterial/highway speeds, traffic lights, turns), stops for deliveries with the engine
 * off and the cargo door open, and returns to the depot. Battery, fuel, rpm, reefer zones and
 * the blackbox follow that state.
 *
 * Determinism (the one thing to know): all randomness comes from four per-vehicle streams
 * seeded from (seed, id) — physics, sample generators, anomalies, commands — and each is only
 * consumed while processing a step, never while emitting. Messages are queued by send time and
 * run() emits those due, so the bytes do not depend on how run() calls are chunked.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/time.h"
#include "sim/sim_int.h"

#define STEP_MS 1000
#define DEG2RAD (M_PI / 180.0)
#define M_PER_DEG 111320.0
#define HARSH_BRAKE_MS2 4.0 /* deceleration that the device reports as harsh_brake */
#define HARSH_ACCEL_MS2 3.0
#define MAX_PENDING_CMDS 64

enum { M_PARKED, M_DRIVE, M_LIGHT, M_DELIVERY };
enum { END_TURN, END_DELIVERY, END_DEPOT };
enum { ROAD_URBAN, ROAD_ARTERIAL, ROAD_HIGHWAY };

typedef struct leg {
    double alat, alng, blat, blng, len, heading, vmax; /* vmax in m/s */
    int road, end;
} leg;

/* Random choices made when a message is created, applied when its bytes are written. */
typedef struct anom_plan {
    fp_sim_anomaly kind;
    uint32_t target; /* sample index (gps_jump, voltage_range, odometer_back) */
    int field;       /* stuck_sensor field */
    double a, b;     /* gps_jump offsets (deg); voltage value; odometer step back (km) */
    int64_t skew_ms; /* time_skew */
    uint32_t victim; /* spoofed_topic */
    int missing;     /* missing_field: index into envelope names */
    double cut;      /* malformed_json: where, as a fraction of the length */
    int how;         /* malformed_json: 0 truncate, 1 stray byte */
    char stuck[40];
    size_t stuck_len;
    bool stuck_set;
    bool stuck_changed; /* a repeated value differed from the true one: the bytes changed */
    char detail[96];
} anom_plan;

typedef struct batch {
    fp_buf body;
    uint32_t samples, expect;
    anom_plan an;
} batch;

typedef struct qmsg {
    const fp_sim_proto *p;
    int64_t messaged_ms;
    uint64_t order;
    uint32_t samples;
    fp_buf body;
    anom_plan an;
} qmsg;

typedef struct cmd {
    char id[64], name[32], requested[40];
    int64_t done_ms;
    bool ok;
    char *result; /* raw JSON object */
    int zone;
    double setpoint;
    uint64_t order;
} cmd;

/* Ground truth of one local day, from the model itself (never from the emitted JSON): what
 * --truth writes as a "summary" line (fp_sim_vehicle_truth_days). */
typedef struct day_stat {
    int64_t day;         /* local epoch day (FP_SIM_LOCAL_OFFSET_MS) */
    int64_t from, until; /* simulated UTC span of the day this run covered, [from, until) */
    double km;
    double drive_ms, engine_ms; /* fractional: a step that crosses midnight is split */
    int64_t stops, deliveries, doors, harsh_brake, harsh_accel, impact;
} day_stat;

struct fp_sim_vehicle {
    const fp_sim_conf *conf;
    uint32_t id;
    char device_id[16];
    uint64_t vseed;
    fp_sim_rng rng, grng, arng, crng;
    int64_t t0, t; /* first step; last processed step */

    /* motion */
    int mode;
    int64_t mode_until;
    double lat, lng, heading, speed, accel, odo_km, coslat;
    double depot_lat, depot_lng;
    leg legs[2];
    int nlegs, li;
    double pos, light_at;
    bool light_red;
    int stops_left;
    int shift_sod; /* local second of day the shift starts */
    double acc, brake, slow_factor;
    int64_t slow_until;
    bool aggressive, emergency;
    double em_decel;
    bool brake_flag, accel_flag;

    /* engine, battery, fuel */
    bool engine_on;
    int64_t crank_ms;
    double batt, charge_v, rest_base, surface, fuel, tank_l, l_per_km, idle_rpm;
    bool refueling;

    /* cargo */
    int nzones;
    double sp[2], temp[2], ambient_base;
    bool comp[2], door;
    int64_t door_open_ms, door_close_ms, defrost_until, next_defrost;

    /* blackbox */
    double storage_mb, storage_cap;
    bool camera_ok;
    int64_t camera_fix_ms;

    /* event / command being formatted */
    const char *ev_kind;
    double ev_g;
    int64_t ev_ms;
    const cmd *cur;

    /* protocols */
    const fp_sim_proto **periodic;
    batch *batches;
    size_t nperiodic;
    const fp_sim_proto *event_proto, *cmd_proto;

    cmd cmds[MAX_PENDING_CMDS];
    size_t ncmds;

    qmsg *q;
    size_t nq, capq;
    fp_buf *spare;
    size_t nspare, capspare;
    uint64_t order;
    int64_t seq;

    fp_buf out;
    fp_buf held;
    fp_sim_msg held_msg;
    bool held_active;
    fp_sim_isofmt iso;

    day_stat *days; /* in time order; the last one is the current day */
    size_t ndays, capdays;
};

/* ---- helpers ---- */

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static int64_t local_sod(int64_t utc_ms)
{
    int64_t s = (utc_ms + FP_SIM_LOCAL_OFFSET_MS) / 1000;
    return ((s % 86400) + 86400) % 86400;
}

/* Next instant (> t) whose local second of day is sod. */
static int64_t next_at_sod(int64_t t, int sod)
{
    int64_t local_s = (t + FP_SIM_LOCAL_OFFSET_MS) / 1000;
    int64_t day = local_s / 86400 - (local_s % 86400 < 0);
    int64_t cand = day * 86400 + sod;
    if (cand * 1000 - FP_SIM_LOCAL_OFFSET_MS <= t)
        cand += 86400;
    return cand * 1000 - FP_SIM_LOCAL_OFFSET_MS;
}

static void buf_take(fp_sim_vehicle *v, fp_buf *b)
{
    if (v->nspare) {
        *b = v->spare[--v->nspare];
        fp_buf_reset(b);
    } else {
        *b = (fp_buf)FP_BUF_INIT;
    }
}

#define MAX_SPARE_BUFS 16 /* enough for every protocol's batch plus a few events */

static void buf_give(fp_sim_vehicle *v, fp_buf *b)
{
    if (v->nspare == MAX_SPARE_BUFS) {
        fp_buf_free(b);
        return;
    }
    if (v->nspare == v->capspare) {
        v->capspare = v->capspare ? v->capspare * 2 : 8;
        v->spare = fp_xrealloc(v->spare, v->capspare * sizeof *v->spare);
    }
    v->spare[v->nspare++] = *b;
    *b = (fp_buf)FP_BUF_INIT;
}

/* ---- routes ---- */

static void make_leg(fp_sim_vehicle *v, leg *l, double alat, double alng, double blat, double blng,
                     int end)
{
    l->alat = alat;
    l->alng = alng;
    l->blat = blat;
    l->blng = blng;
    double dy = (blat - alat) * M_PER_DEG, dx = (blng - alng) * M_PER_DEG * v->coslat;
    l->len = sqrt(dx * dx + dy * dy);
    double h = atan2(dx, dy) / DEG2RAD;
    l->heading = h < 0 ? h + 360 : h;
    l->end = end;
    double u = fp_sim_rng_unif(&v->rng);
    if (l->len > 4000 && u < 0.5)
        l->road = ROAD_HIGHWAY;
    else
        l->road = u < 0.75 ? ROAD_URBAN : ROAD_ARTERIAL;
    static const double lo[] = {30, 50, 80}, hi[] = {60, 80, 100};
    l->vmax = fp_sim_rng_range(&v->rng, lo[l->road], hi[l->road]) / 3.6;
}

static void next_light(fp_sim_vehicle *v)
{
    const leg *l = &v->legs[v->li];
    if (l->road == ROAD_HIGHWAY) {
        v->light_at = 1e12;
        v->light_red = false;
        return;
    }
    v->light_at = v->pos + fp_sim_rng_range(&v->rng, 250, 900);
    v->light_red = fp_sim_rng_unif(&v->rng) < 0.45;
}

/* Plans the next two legs: an L-shaped path to the next delivery point, or back to the depot. */
static void plan_route(fp_sim_vehicle *v)
{
    double tlat, tlng;
    int end;
    if (v->stops_left > 0) {
        double r = fp_sim_rng_range(&v->rng, 1500, 12000);
        double a = fp_sim_rng_range(&v->rng, 0, 2 * M_PI);
        tlat = v->depot_lat + r * cos(a) / M_PER_DEG;
        tlng = v->depot_lng + r * sin(a) / (M_PER_DEG * v->coslat);
        end = END_DELIVERY;
    } else {
        tlat = v->depot_lat;
        tlng = v->depot_lng;
        end = END_DEPOT;
    }
    bool lat_first = fp_sim_rng_unif(&v->rng) < 0.5;
    double clat = lat_first ? tlat : v->lat, clng = lat_first ? v->lng : tlng;
    make_leg(v, &v->legs[0], v->lat, v->lng, clat, clng, END_TURN);
    make_leg(v, &v->legs[1], clat, clng, tlat, tlng, end);
    v->nlegs = 2;
    v->li = v->legs[0].len < 30 ? 1 : 0; /* too short to drive: start at the corner */
    v->pos = 0;
    next_light(v);
}

/* ---- engine ---- */

static void engine_start(fp_sim_vehicle *v, int64_t t)
{
    v->engine_on = true;
    v->crank_ms = t;
    /* The starter motor pulls the battery down for a moment. */
    v->batt = fp_sim_rng_range(&v->rng, 10.2, 11.0);
}

static void engine_stop(fp_sim_vehicle *v)
{
    v->engine_on = false;
    v->surface = 0.2; /* surface charge right after charging, bleeds off over ~30 min */
}

static void start_driving(fp_sim_vehicle *v, int64_t t)
{
    if (!v->engine_on)
        engine_start(v, t);
    v->mode = M_DRIVE;
    v->aggressive = fp_sim_rng_unif(&v->rng) < 0.04;
}

/* ---- daily ground truth ---- */

#define DAY_MS 86400000LL

static int64_t local_day(int64_t utc_ms)
{
    int64_t l = utc_ms + FP_SIM_LOCAL_OFFSET_MS;
    return l >= 0 ? l / DAY_MS : (l - DAY_MS + 1) / DAY_MS;
}

/* The stats of the local day holding instant t (days only ever move forward). */
static day_stat *day_of(fp_sim_vehicle *v, int64_t t)
{
    int64_t d = local_day(t);
    if (v->ndays && v->days[v->ndays - 1].day == d)
        return &v->days[v->ndays - 1];
    if (v->ndays == v->capdays) {
        v->capdays = v->capdays ? 2 * v->capdays : 4;
        v->days = fp_xrealloc(v->days, v->capdays * sizeof *v->days);
    }
    day_stat *ds = &v->days[v->ndays++];
    *ds = (day_stat){.day = d, .from = t, .until = t};
    return ds;
}

/* Adds a step's span [a, t) to the days it covers, split at local midnight in proportion. */
static void account_span(fp_sim_vehicle *v, int64_t a, int64_t t, double km, bool engine,
                         bool moving)
{
    int64_t mid = local_day(t - 1) * DAY_MS - FP_SIM_LOCAL_OFFSET_MS; /* t-1's day start, UTC */
    int64_t cut = a < mid ? mid : a;
    double f = (double)(cut - a) / (double)(t - a); /* share of the earlier day */
    if (cut > a) {
        day_stat *p = day_of(v, a);
        p->km += km * f;
        p->drive_ms += moving ? (double)(cut - a) : 0;
        p->engine_ms += engine ? (double)(cut - a) : 0;
        p->until = cut;
    }
    day_stat *c = day_of(v, cut);
    c->km += km * (1 - f);
    c->drive_ms += moving ? (double)(t - cut) : 0;
    c->engine_ms += engine ? (double)(t - cut) : 0;
    c->until = t;
}

/* A point event during the step ending at t (it happened in [t - STEP_MS, t)). */
static day_stat *day_event(fp_sim_vehicle *v, int64_t t)
{
    return day_of(v, t - 1);
}

void fp_sim_vehicle_truth_days(const fp_sim_vehicle *v, fp_buf *out)
{
    fp_sim_isofmt iso;
    char tb[32];
    for (size_t i = 0; i < v->ndays; i++) {
        const day_stat *d = &v->days[i];
        int y, mo, dd, h, mi, se;
        fp_time_utc(d->day * DAY_MS, &y, &mo, &dd, &h, &mi, &se);
        fp_buf_printf(out,
                      "{\"kind\":\"summary\",\"id\":%u,\"device_id\":\"%s\",\"day\":"
                      "\"%04d-%02d-%02d\",\"from\":\"",
                      v->id, v->device_id, y, mo, dd);
        fp_sim_isofmt_init(&iso);
        fp_buf_append(out, tb, fp_sim_isofmt_put(&iso, tb, d->from, false));
        fp_buf_puts(out, "\",\"until\":\"");
        fp_sim_isofmt_init(&iso);
        fp_buf_append(out, tb, fp_sim_isofmt_put(&iso, tb, d->until, false));
        int64_t start = d->day * DAY_MS - FP_SIM_LOCAL_OFFSET_MS;
        bool whole = d->from <= start && d->until >= start + DAY_MS;
        fp_buf_printf(out,
                      "\",\"whole_day\":%s,\"distance_km\":%.3f,\"drive_s\":%.0f,"
                      "\"engine_on_s\":%.0f,\"stops\":%lld,\"deliveries\":%lld,"
                      "\"door_openings\":%lld,\"harsh_brake\":%lld,\"harsh_accel\":%lld,"
                      "\"impact\":%lld}\n",
                      whole ? "true" : "false", d->km, d->drive_ms / 1000, d->engine_ms / 1000,
                      (long long)d->stops, (long long)d->deliveries, (long long)d->doors,
                      (long long)d->harsh_brake, (long long)d->harsh_accel, (long long)d->impact);
    }
}

/* ---- the step ---- */

static void arrive(fp_sim_vehicle *v, int64_t t, int what)
{
    v->speed = 0;
    if (what == END_TURN)
        return;
    day_stat *ds = day_event(v, t);
    ds->stops++; /* a red light, a delivery or the depot: the vehicle stands */
    ds->deliveries += what == END_DELIVERY;
    if (what < 0) { /* red light */
        v->mode = M_LIGHT;
        v->mode_until = t + (int64_t)fp_sim_rng_range(&v->rng, 15, 75) * 1000;
        v->light_red = false;
        return;
    }
    engine_stop(v);
    if (what == END_DELIVERY) {
        v->stops_left--;
        v->mode = M_DELIVERY;
        int64_t dur = (int64_t)fp_sim_rng_range(&v->rng, 240, 900) * 1000;
        v->mode_until = t + dur;
        v->door_open_ms = t + (int64_t)fp_sim_rng_range(&v->rng, 20, 90) * 1000;
        v->door_close_ms = v->door_open_ms + (int64_t)fp_sim_rng_range(&v->rng, 60, 240) * 1000;
        if (v->door_close_ms > v->mode_until - 10000)
            v->door_close_ms = v->mode_until - 10000;
    } else {
        v->mode = M_PARKED;
        v->mode_until = next_at_sod(t, v->shift_sod);
    }
}

static void drive(fp_sim_vehicle *v, int64_t t)
{
    const leg *l = &v->legs[v->li];
    double sp = v->speed;
    /* Where the vehicle must be at which speed: a red light, the leg's end (a turn or a stop). */
    double stop_at = l->len, v_end = l->end == END_TURN ? 6.0 : 0.0;
    int what = l->end;
    if (v->light_red && v->light_at < l->len - 20) {
        stop_at = v->light_at;
        v_end = 0;
        what = -1;
    } else if (v->light_at < v->pos) {
        next_light(v);
    }
    double d = stop_at - v->pos;
    if (t >= v->slow_until) {
        v->slow_factor = 1;
        if (fp_sim_rng_unif(&v->rng) < 1.0 / 600) { /* traffic */
            v->slow_factor = fp_sim_rng_range(&v->rng, 0.4, 0.8);
            v->slow_until = t + (int64_t)fp_sim_rng_range(&v->rng, 30, 150) * 1000;
        }
    }
    double vtarget = l->vmax * v->slow_factor;
    double a;
    if (!v->emergency && sp > 11 && fp_sim_rng_unif(&v->rng) < 1.0 / 15000) {
        v->emergency = true;
        v->em_decel = fp_sim_rng_range(&v->rng, 5.5, 7.5);
    }
    if (v->emergency) {
        a = -v->em_decel;
    } else {
        /* Brake at the constant deceleration that ends exactly at the next point's speed once
         * that reaches the vehicle's habit (2.0-2.6 m/s²): with trapezoidal steps the needed
         * deceleration then stays constant, so stops are smooth and end on the spot.
         * Otherwise accelerate, but never so much that the next step would need > 3 m/s². */
        double need = (sp * sp - v_end * v_end) / (2 * (d > 0.1 ? d : 0.1));
        double acc = v->aggressive && sp < 12 ? 3.5 : v->acc;
        if (sp > v_end && need >= v->brake) {
            a = -(need < 3.0 ? need : 3.0);
        } else {
            a = vtarget - sp;
            if (a > acc)
                a = acc;
            if (a < -1.5)
                a = -1.5;
            if (fabs(a) < 0.3 && vtarget > 3)
                a += fp_sim_rng_range(&v->rng, -0.25, 0.25);
            double nv = sp + a, rest = d - (sp + nv) / 2;
            if (nv > v_end && (rest <= 0.1 || (nv * nv - v_end * v_end) / (2 * rest) > 2.8))
                a = sp > v_end ? -(need < 3.0 ? need : 3.0) : 0;
        }
    }
    double nv = sp + a;
    if (nv < 0)
        nv = 0;
    if (v->emergency && nv == 0) {
        day_event(v, t)->stops++; /* an emergency stop */
        v->emergency = false;
        v->speed = 0;
        v->accel = -sp;
        v->mode = M_LIGHT; /* collects itself for a few seconds */
        v->mode_until = t + (int64_t)fp_sim_rng_range(&v->rng, 3, 10) * 1000;
        return;
    }
    double s = (sp + nv) / 2;
    v->accel = nv - sp;
    v->speed = nv;
    if (v->pos + s >= stop_at - 0.5 || (nv < 0.3 && d < 3)) {
        double moved = stop_at - v->pos;
        if (moved < 0)
            moved = 0;
        v->odo_km += moved / 1000;
        v->pos = stop_at;
        double f = l->len > 0 ? v->pos / l->len : 1;
        v->lat = l->alat + (l->blat - l->alat) * f;
        v->lng = l->alng + (l->blng - l->alng) * f;
        if (what == END_TURN) {
            double rest = s - moved;
            v->li++;
            v->pos = 0;
            next_light(v);
            l = &v->legs[v->li];
            v->heading = l->heading;
            if (rest > 0 && rest < l->len) {
                v->pos = rest;
                v->odo_km += rest / 1000;
                v->lat = l->alat + (l->blat - l->alat) * rest / l->len;
                v->lng = l->alng + (l->blng - l->alng) * rest / l->len;
            }
            v->speed = nv < 6.5 ? nv : 6.5;
            return;
        }
        v->accel = -sp; /* stopped within this second */
        arrive(v, t, what);
        return;
    }
    v->pos += s;
    v->odo_km += s / 1000;
    double f = v->pos / l->len;
    v->lat = l->alat + (l->blat - l->alat) * f;
    v->lng = l->alng + (l->blng - l->alng) * f;
    v->heading = l->heading;
}

static void enqueue_event(fp_sim_vehicle *v, int64_t t, const char *kind, double g);

static void motion(fp_sim_vehicle *v, int64_t t)
{
    v->accel = 0;
    switch (v->mode) {
    case M_PARKED:
        if (t >= v->mode_until) {
            v->stops_left = 10 + (int)fp_sim_rng_below(&v->rng, 11);
            plan_route(v);
            start_driving(v, t);
        }
        break;
    case M_LIGHT:
        if (t >= v->mode_until) {
            v->mode = M_DRIVE;
            v->aggressive = fp_sim_rng_unif(&v->rng) < 0.04;
        }
        break;
    case M_DELIVERY:
        if (t >= v->mode_until) {
            plan_route(v);
            start_driving(v, t);
        }
        break;
    case M_DRIVE:
        if (v->li >= v->nlegs)
            plan_route(v);
        drive(v, t);
        break;
    }
    if (v->speed > 12)
        v->aggressive = false;
    /* Harsh events fire once per episode, when the model's acceleration crosses the line. */
    bool brake = -v->accel >= HARSH_BRAKE_MS2, acc = v->accel >= HARSH_ACCEL_MS2;
    if (brake && !v->brake_flag)
        enqueue_event(v, t, "harsh_brake", -v->accel / 9.81 + fp_sim_rng_range(&v->rng, 0, 0.03));
    if (acc && !v->accel_flag)
        enqueue_event(v, t, "harsh_accel", v->accel / 9.81 + fp_sim_rng_range(&v->rng, 0, 0.03));
    v->brake_flag = brake;
    v->accel_flag = acc;
    if (v->mode == M_DRIVE && v->speed > 5 && fp_sim_rng_unif(&v->rng) < 1.0 / 2e6) {
        enqueue_event(v, t, "impact", fp_sim_rng_range(&v->rng, 2.5, 5.0));
        v->emergency = true;
        v->em_decel = 8.0;
    }
}

static void systems(fp_sim_vehicle *v, int64_t t, double moved_km)
{
    /* Battery: charging with the engine on, resting (surface charge bleeding off, slow sag)
     * with it off. */
    if (v->engine_on) {
        if (t != v->crank_ms)
            v->batt += (v->charge_v - v->batt) * 0.5;
        v->charge_v = clampd(v->charge_v + fp_sim_rng_range(&v->rng, -0.004, 0.004), 13.85, 14.35);
        v->rest_base = v->rest_base < 12.55 ? v->rest_base + 1e-4 : 12.55;
        double idle_l = 2.2 / 3600;
        v->fuel -= (idle_l + moved_km * v->l_per_km) / v->tank_l * 100;
    } else {
        v->surface *= 0.99944;
        v->rest_base = v->rest_base > 12.15 ? v->rest_base - 2e-6 : 12.15;
        v->batt = v->rest_base + v->surface + fp_sim_rng_range(&v->rng, -0.005, 0.005);
    }
    /* Low on fuel: the next stop is at a pump and the tank fills at 0.5 %/s. */
    bool stopped = v->mode == M_DELIVERY || v->mode == M_PARKED;
    if (stopped && v->fuel < 25)
        v->refueling = true;
    if (v->refueling && stopped) {
        v->fuel += 0.5;
        if (v->fuel >= 98)
            v->refueling = false;
    }
    if (v->fuel < 1)
        v->fuel = 1;

    /* Cargo: reefer with hysteresis, heat leak toward ambient (much more with the door open),
     * defrost heating every few hours. */
    bool was_open = v->door;
    v->door = v->mode == M_DELIVERY && t >= v->door_open_ms && t < v->door_close_ms;
    if (v->door && !was_open)
        day_event(v, t)->doors++;
    if (t >= v->next_defrost) {
        v->defrost_until = t + 20 * 60000;
        v->next_defrost = t + (int64_t)fp_sim_rng_range(&v->rng, 4, 6) * 3600000;
    }
    bool defrost = t < v->defrost_until;
    double hour = (double)local_sod(t) / 3600;
    double ambient = v->ambient_base + 5 * sin((hour - 9) / 24 * 2 * M_PI);
    for (int z = 0; z < v->nzones; z++) {
        double T = v->temp[z];
        if (defrost) {
            v->comp[z] = false;
            T += 0.004;
        } else if (T > v->sp[z] + 1.0) {
            v->comp[z] = true;
        } else if (T < v->sp[z] - 1.0) {
            v->comp[z] = false;
        }
        T += (ambient - T) * (v->door ? 5e-4 : 5e-5);
        if (v->comp[z])
            T -= 0.012;
        v->temp[z] = T;
    }

    /* Blackbox: records while the engine runs; loop recording frees space when nearly full. */
    if (v->engine_on) {
        v->storage_mb -= 0.1;
        if (v->storage_mb < 2048)
            v->storage_mb += v->storage_cap * 0.3;
    }
    if (v->camera_ok && fp_sim_rng_unif(&v->rng) < 3e-6) {
        v->camera_ok = false;
        v->camera_fix_ms = t + (int64_t)fp_sim_rng_range(&v->rng, 300, 1800) * 1000;
    } else if (!v->camera_ok && t >= v->camera_fix_ms) {
        v->camera_ok = true;
    }
}

/* ---- signals ---- */

static double rpm(fp_sim_vehicle *v)
{
    if (!v->engine_on)
        return 0;
    double kmh = v->speed * 3.6;
    double r = v->idle_rpm + fp_sim_rng_range(&v->grng, -15, 15);
    if (kmh < 3)
        return r;
    /* Six gears of ~18 km/h each, shifting up at ~2100 rpm; top gear just climbs. */
    int gear = (int)(kmh / 18) + 1;
    if (gear > 6)
        gear = 6;
    double in_gear = kmh - (gear - 1) * 18;
    r = 1000 + in_gear * (gear == 6 ? 14 : 60) + (v->accel > 0.5 ? 150 : 0);
    return r > 2600 ? 2600 : r;
}

static double sig_num(fp_sim_vehicle *v, fp_sim_signal s, int zone)
{
    switch (s) {
    case FP_SIG_LAT:
        return v->lat;
    case FP_SIG_LNG:
        return v->lng;
    case FP_SIG_SPEED_KMH:
        return v->speed * 3.6;
    case FP_SIG_HEADING: {
        double h = floor(v->heading + 0.5);
        return h >= 360 ? h - 360 : h;
    }
    case FP_SIG_ODOMETER_KM:
        return v->odo_km;
    case FP_SIG_BATTERY_VOLTAGE:
        return v->batt;
    case FP_SIG_FUEL_LEVEL:
        return v->fuel;
    case FP_SIG_ENGINE_RPM:
        return rpm(v);
    case FP_SIG_CARGO_ZONE:
        return zone + 1;
    case FP_SIG_CARGO_TEMPERATURE:
        return v->temp[zone] + fp_sim_rng_range(&v->grng, -0.05, 0.05);
    case FP_SIG_CARGO_SETPOINT:
        return v->sp[zone];
    case FP_SIG_BB_STORAGE_FREE_MB:
        return floor(v->storage_mb);
    case FP_SIG_EVENT_G_FORCE:
        return v->ev_g;
    default:
        return 0;
    }
}

static bool sig_bool(fp_sim_vehicle *v, fp_sim_signal s)
{
    switch (s) {
    case FP_SIG_ENGINE_ON:
        return v->engine_on;
    case FP_SIG_IGNITION:
        return v->engine_on;
    case FP_SIG_CARGO_DOOR_OPEN:
        return v->door;
    case FP_SIG_BB_RECORDING:
        return v->engine_on;
    case FP_SIG_BB_CAMERA_OK:
        return v->camera_ok;
    default:
        return false;
    }
}

/* Writes one field's value at w (room was reserved); returns the new end. */
static char *put_value(fp_sim_vehicle *v, char *w, const fp_sim_proto *p, int fi, int zone,
                       anom_plan *an, uint32_t si)
{
    const fp_sim_field *f = &p->fields[fi];
    char *start = w;
    if (an->kind == FP_SIM_ANOM_STUCK_SENSOR && an->field == fi && an->stuck_set) {
        /* Whether the stuck value hides a change, for the truth's "noop": a field that would
         * have repeated anyway (a parked vehicle's speed, a constant setpoint) leaves the bytes
         * as they were, and no check can see it. Only signals read without a random draw are
         * compared (drawing would shift the stream); the others count as changed. */
        if (!an->stuck_changed) {
            bool exact = f->kind == FP_FIELD_SIGNAL && f->signal != FP_SIG_CARGO_TEMPERATURE &&
                         !(f->signal == FP_SIG_ENGINE_RPM && v->engine_on) &&
                         fp_sim_signal_vtype(f->signal) == FP_VT_NUM;
            char real[48];
            size_t n = exact ? fp_sim_fmt_fixed(real, sig_num(v, f->signal, zone), f->decimals) : 0;
            if (!exact || n != an->stuck_len || memcmp(real, an->stuck, n))
                an->stuck_changed = true;
        }
        memcpy(w, an->stuck, an->stuck_len);
        return w + an->stuck_len;
    }
    switch (f->kind) {
    case FP_FIELD_SIGNAL:
        if (fp_sim_signal_vtype(f->signal) == FP_VT_BOOL) {
            bool b = sig_bool(v, f->signal);
            memcpy(w, b ? "true" : "false", b ? 4 : 5);
            w += b ? 4 : 5;
        } else {
            double x = sig_num(v, f->signal, zone);
            if (an->target == si) {
                if (an->kind == FP_SIM_ANOM_GPS_JUMP && fi == p->lat_field)
                    x += an->a;
                else if (an->kind == FP_SIM_ANOM_GPS_JUMP && fi == p->lng_field)
                    x += an->b;
                else if (an->kind == FP_SIM_ANOM_VOLTAGE_RANGE && fi == p->volt_field)
                    x = an->a;
                else if (an->kind == FP_SIM_ANOM_ODOMETER_BACK && fi == p->odo_field)
                    x -= an->a;
            }
            w += fp_sim_fmt_fixed(w, x, f->decimals);
        }
        break;
    case FP_FIELD_UNIFORM:
        w += fp_sim_fmt_fixed(w, fp_sim_rng_range(&v->grng, f->min, f->max), f->decimals);
        break;
    case FP_FIELD_CONST:
        memcpy(w, f->texts[0], f->text_len[0]);
        w += f->text_len[0];
        break;
    case FP_FIELD_CHOICE: {
        uint32_t k = fp_sim_rng_below(&v->grng, (uint32_t)f->ntexts);
        memcpy(w, f->texts[k], f->text_len[k]);
        w += f->text_len[k];
        break;
    }
    }
    if (an->kind == FP_SIM_ANOM_STUCK_SENSOR && an->field == fi && !an->stuck_set &&
        (size_t)(w - start) <= sizeof an->stuck) {
        memcpy(an->stuck, start, (size_t)(w - start));
        an->stuck_len = (size_t)(w - start);
        an->stuck_set = true;
    }
    return w;
}

/* ---- anomalies: decided when a message is created ---- */

static const char *const env_names[] = {"object", "type", "id", "device_id", "messaged_at", "seq"};

static void plan_anomaly(fp_sim_vehicle *v, const fp_sim_proto *p, uint32_t samples, anom_plan *an)
{
    memset(an, 0, sizeof *an);
    an->target = UINT32_MAX;
    an->field = -1;
    an->kind = fp_sim_anomaly_pick(v->conf, p, samples, &v->arng);
    fp_sim_rng *r = &v->arng;
    switch (an->kind) {
    case FP_SIM_ANOM_GPS_JUMP: {
        an->target = fp_sim_rng_below(r, samples);
        double km = fp_sim_rng_range(r, 150, 900), ang = fp_sim_rng_range(r, 0, 2 * M_PI);
        an->a = km * 1000 * cos(ang) / M_PER_DEG;
        an->b = km * 1000 * sin(ang) / (M_PER_DEG * v->coslat);
        snprintf(an->detail, sizeof an->detail, "sample %u jumped %.0f km", an->target, km);
        break;
    }
    case FP_SIM_ANOM_TIME_SKEW: {
        int64_t day = 86400000;
        an->skew_ms = (fp_sim_rng_unif(r) < 0.5 ? -365 : 365) * day +
                      (int64_t)fp_sim_rng_range(r, -6, 6) * 3600000;
        snprintf(an->detail, sizeof an->detail, "times shifted %+.1f days",
                 (double)an->skew_ms / (double)day);
        break;
    }
    case FP_SIM_ANOM_STUCK_SENSOR: {
        /* A field whose value varies: numeric signals other than the zone, or uniform/choice. */
        int cand[64], n = 0;
        for (size_t i = 0; i < p->nfields && n < 64; i++) {
            const fp_sim_field *f = &p->fields[i];
            bool varies = f->kind == FP_FIELD_UNIFORM || f->kind == FP_FIELD_CHOICE ||
                          (f->kind == FP_FIELD_SIGNAL && f->signal != FP_SIG_CARGO_ZONE &&
                           fp_sim_signal_vtype(f->signal) == FP_VT_NUM);
            if (varies)
                cand[n++] = (int)i;
        }
        if (!n) {
            an->kind = FP_SIM_ANOM_NONE;
            break;
        }
        an->field = cand[fp_sim_rng_below(r, (uint32_t)n)];
        snprintf(an->detail, sizeof an->detail, "field %s", p->fields[an->field].name);
        break;
    }
    case FP_SIM_ANOM_VOLTAGE_RANGE:
        an->target = p->pub.periodic ? fp_sim_rng_below(r, samples) : 0;
        an->a = fp_sim_rng_unif(r) < 0.5 ? fp_sim_rng_range(r, 2.0, 6.0)
                                         : fp_sim_rng_range(r, 28.0, 40.0);
        snprintf(an->detail, sizeof an->detail, "sample %u battery_voltage %.1f V", an->target,
                 an->a);
        break;
    case FP_SIM_ANOM_ODOMETER_BACK:
        an->target = 1 + fp_sim_rng_below(r, samples - 1);
        an->a = fp_sim_rng_range(r, 0.5, 5.0);
        snprintf(an->detail, sizeof an->detail, "sample %u odometer -%.1f km", an->target, an->a);
        break;
    case FP_SIM_ANOM_DUPLICATE:
        snprintf(an->detail, sizeof an->detail, "sent twice");
        break;
    case FP_SIM_ANOM_OUT_OF_ORDER:
        snprintf(an->detail, sizeof an->detail, "sent after the next message");
        break;
    case FP_SIM_ANOM_MALFORMED_JSON:
        an->how = (int)fp_sim_rng_below(r, 2);
        an->cut = fp_sim_rng_range(r, 0.1, 0.9);
        snprintf(an->detail, sizeof an->detail, "%s", an->how ? "stray byte 0xff" : "truncated");
        break;
    case FP_SIM_ANOM_MISSING_FIELD:
        an->missing = (int)fp_sim_rng_below(r, 6);
        snprintf(an->detail, sizeof an->detail, "field %s", env_names[an->missing]);
        break;
    case FP_SIM_ANOM_SPOOFED_TOPIC: {
        uint32_t victim = 1 + fp_sim_rng_below(r, v->conf->fleet_size - 1);
        if (victim >= v->id)
            victim++;
        an->victim = victim;
        snprintf(an->detail, sizeof an->detail, "topic of dev-%06u", victim);
        break;
    }
    default:
        break;
    }
}

/* ---- the send queue ---- */

static void enqueue(fp_sim_vehicle *v, const fp_sim_proto *p, int64_t messaged_ms, fp_buf *body,
                    uint32_t samples, const anom_plan *an)
{
    if (v->nq == v->capq) {
        v->capq = v->capq ? v->capq * 2 : 8;
        v->q = fp_xrealloc(v->q, v->capq * sizeof *v->q);
    }
    size_t i = v->nq;
    while (i > 0 && v->q[i - 1].messaged_ms > messaged_ms)
        i--;
    memmove(&v->q[i + 1], &v->q[i], (v->nq - i) * sizeof *v->q);
    qmsg *q = &v->q[i];
    q->p = p;
    q->messaged_ms = messaged_ms;
    q->order = v->order++;
    q->samples = samples;
    q->body = *body;
    *body = (fp_buf)FP_BUF_INIT;
    q->an = *an;
    v->nq++;
}

static size_t put_time(fp_sim_vehicle *v, fp_buf *b, int64_t utc_ms, bool with_ms)
{
    fp_buf_reserve(b, 40);
    char *w = b->p + b->len;
    *w++ = '"';
    w += fp_sim_isofmt_put(&v->iso, w, utc_ms, with_ms);
    *w++ = '"';
    size_t n = (size_t)(w - (b->p + b->len));
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* Formats an event-type message's fields (vehicle/event or device/command_response). */
static void event_body(fp_sim_vehicle *v, const fp_sim_proto *p, fp_buf *b, anom_plan *an)
{
    for (size_t i = 0; i < p->nfields; i++) {
        const fp_sim_field *f = &p->fields[i];
        fp_buf_append(b, f->key, f->key_len);
        const char *s = NULL;
        switch (f->kind == FP_FIELD_SIGNAL ? f->signal : FP_SIG_NONE) {
        case FP_SIG_EVENT_KIND:
            s = v->ev_kind;
            break;
        case FP_SIG_EVENT_OCCURRED_AT:
            put_time(v, b, v->ev_ms + an->skew_ms, true);
            continue;
        case FP_SIG_CMD_ID:
            s = v->cur->id;
            break;
        case FP_SIG_CMD_NAME:
            s = v->cur->name;
            break;
        case FP_SIG_CMD_STATUS:
            s = v->cur->ok ? "ok" : "failed";
            break;
        case FP_SIG_CMD_REQUESTED_AT:
            s = v->cur->requested;
            if (an->skew_ms) {
                int64_t ms;
                if (!fp_time_parse_iso(s, strlen(s), &ms, NULL)) {
                    put_time(v, b, ms + an->skew_ms, true);
                    continue;
                }
            }
            break;
        case FP_SIG_CMD_COMPLETED_AT:
            put_time(v, b, v->cur->done_ms + an->skew_ms, true);
            continue;
        case FP_SIG_CMD_RESULT:
            fp_buf_puts(b, v->cur->result);
            continue;
        default:
            break;
        }
        if (s) {
            fp_json_quote(b, s, strlen(s));
            continue;
        }
        fp_buf_reserve(b, 64 + (f->ntexts ? f->text_len[0] : 0));
        for (size_t k = 0; k < f->ntexts; k++)
            fp_buf_reserve(b, f->text_len[k] + 8);
        char *w = put_value(v, b->p + b->len, p, (int)i, 0, an, 0);
        b->len = (size_t)(w - b->p);
        b->p[b->len] = '\0';
    }
    fp_buf_putc(b, '}');
}

static void enqueue_event(fp_sim_vehicle *v, int64_t t, const char *kind, double g)
{
    day_stat *ds = day_event(v, t);
    ds->harsh_brake += !strcmp(kind, "harsh_brake");
    ds->harsh_accel += !strcmp(kind, "harsh_accel");
    ds->impact += !strcmp(kind, "impact");
    if (!v->event_proto)
        return;
    v->ev_kind = kind;
    v->ev_g = g;
    v->ev_ms = t;
    anom_plan an;
    plan_anomaly(v, v->event_proto, 0, &an);
    fp_buf b;
    buf_take(v, &b);
    event_body(v, v->event_proto, &b, &an);
    int64_t delay = 200 + fp_sim_rng_below(&v->grng, 1300);
    enqueue(v, v->event_proto, t + delay, &b, 0, &an);
}

/* ---- periodic sampling ---- */

static void sample(fp_sim_vehicle *v, const fp_sim_proto *p, batch *bt, int64_t t)
{
    int zones = p->per_zone ? v->nzones : 1;
    fp_buf *b = &bt->body;
    if (bt->samples == 0) {
        if (!b->p)
            buf_take(v, b);
        plan_anomaly(v, p, bt->expect * (uint32_t)(p->per_zone ? v->nzones : 1), &bt->an);
        fp_buf_puts(b, ",\"measurements\":[");
    }
    for (int z = 0; z < zones; z++) {
        fp_buf_reserve(b, p->sample_bytes);
        char *w = b->p + b->len;
        if (bt->samples) {
            memcpy(w, ",{\"timestamp_iso\":\"", 19);
            w += 19;
        } else {
            memcpy(w, "{\"timestamp_iso\":\"", 18);
            w += 18;
        }
        w += fp_sim_isofmt_put(&v->iso, w, t + bt->an.skew_ms, false);
        *w++ = '"';
        for (size_t i = 0; i < p->nfields; i++) {
            const fp_sim_field *f = &p->fields[i];
            memcpy(w, f->key, f->key_len);
            w += f->key_len;
            w = put_value(v, w, p, (int)i, z, &bt->an, bt->samples);
        }
        *w++ = '}';
        b->len = (size_t)(w - b->p);
        b->p[b->len] = '\0';
        bt->samples++;
    }
}

static int64_t send_delay(const fp_sim_vehicle *v, const fp_sim_proto *p, int64_t boundary)
{
    /* A device needs a moment to send; a hash rather than a stream so next_ms() can know it. */
    uint64_t h = fp_sim_mix64(v->vseed ^ (uint64_t)boundary * 0x9e3779b97f4a7c15ULL ^
                              (uint64_t)(p->index + 1) * 0xd6e8feb86659fd93ULL);
    return 20 + (int64_t)(h % 900);
}

static void close_batch(fp_sim_vehicle *v, const fp_sim_proto *p, batch *bt, int64_t t)
{
    if (!bt->samples)
        return;
    fp_buf_puts(&bt->body, "]}");
    /* A batch the end of the run cut short has fewer samples than planned: an anomaly aimed at
     * a sample it never reached did not happen, and the truth must not list it (the E2E test's
     * check score missed a voltage_range "at sample 5" of a 5-sample message). */
    if (bt->an.target != UINT32_MAX && bt->an.target >= bt->samples &&
        (bt->an.kind == FP_SIM_ANOM_GPS_JUMP || bt->an.kind == FP_SIM_ANOM_VOLTAGE_RANGE ||
         bt->an.kind == FP_SIM_ANOM_ODOMETER_BACK)) {
        bt->an.kind = FP_SIM_ANOM_NONE;
        bt->an.detail[0] = '\0';
    }
    enqueue(v, p, t + send_delay(v, p, t), &bt->body, bt->samples, &bt->an);
    bt->samples = 0;
}

/* ---- commands ---- */

static void complete_commands(fp_sim_vehicle *v, int64_t t)
{
    while (v->ncmds && v->cmds[0].done_ms <= t) {
        cmd c = v->cmds[0];
        memmove(&v->cmds[0], &v->cmds[1], (v->ncmds - 1) * sizeof *v->cmds);
        v->ncmds--;
        if (c.ok && !strcmp(c.name, "set_setpoint"))
            v->sp[c.zone - 1] = c.setpoint;
        if (c.ok && !strcmp(c.name, "upload_video"))
            v->storage_mb = v->storage_cap - fp_sim_rng_range(&v->crng, 50, 400);
        if (v->cmd_proto) {
            if (c.done_ms < t)
                c.done_ms = t;
            v->cur = &c;
            anom_plan an;
            plan_anomaly(v, v->cmd_proto, 0, &an);
            fp_buf b;
            buf_take(v, &b);
            event_body(v, v->cmd_proto, &b, &an);
            v->cur = NULL;
            enqueue(v, v->cmd_proto, c.done_ms + 50 + fp_sim_rng_below(&v->crng, 400), &b, 0, &an);
        }
        free(c.result);
    }
}

static void step(fp_sim_vehicle *v, int64_t t)
{
    double odo = v->odo_km;
    motion(v, t);
    systems(v, t, v->odo_km - odo);
    /* the first step only sets the state the run starts from: its movement lies before it */
    if (t > v->t0)
        account_span(v, t - STEP_MS, t, v->odo_km - odo, v->engine_on, v->odo_km > odo);
    complete_commands(v, t);
    for (size_t i = 0; i < v->nperiodic; i++) {
        const fp_sim_proto *p = v->periodic[i];
        batch *bt = &v->batches[i];
        int64_t k = t - v->t0;
        if (k > 0 && k % p->interval_ms == 0)
            close_batch(v, p, bt, t);
        if (k % p->period_ms == 0)
            sample(v, p, bt, t);
    }
}

/* ---- emission ---- */

static void put_envelope(fp_sim_vehicle *v, fp_buf *b, const qmsg *q, int64_t seq)
{
    const fp_sim_proto *p = q->p;
    int skip = q->an.kind == FP_SIM_ANOM_MISSING_FIELD ? q->an.missing : -1;
    bool first = true;
    fp_buf_reserve(b, 256 + q->body.len);
    for (int i = 0; i < 6; i++) {
        if (i == skip)
            continue;
        fp_buf_puts(b, first ? "{\"" : ",\"");
        first = false;
        fp_buf_puts(b, env_names[i]);
        fp_buf_puts(b, "\":");
        char num[24];
        switch (i) {
        case 0:
        case 1:
            fp_buf_putc(b, '"');
            fp_buf_puts(b, i == 0 ? p->pub.object : p->pub.type);
            fp_buf_putc(b, '"');
            break;
        case 2:
            fp_buf_append(b, num, fp_sim_fmt_i64(num, v->id));
            break;
        case 3:
            fp_buf_putc(b, '"');
            fp_buf_puts(b, v->device_id);
            fp_buf_putc(b, '"');
            break;
        case 4:
            put_time(v, b, q->messaged_ms + q->an.skew_ms, true);
            break;
        case 5:
            fp_buf_append(b, num, fp_sim_fmt_i64(num, seq));
            break;
        }
    }
    fp_buf_append(b, q->body.p, q->body.len);
}

static void spoil(fp_buf *b, const anom_plan *an)
{
    size_t at = (size_t)(an->cut * (double)b->len);
    if (at < 1)
        at = 1;
    if (an->how == 0) {
        b->len = at; /* a strict prefix of an object is never a JSON text */
        b->p[b->len] = '\0';
        return;
    }
    fp_buf_putc(b, ' ');
    memmove(b->p + at + 1, b->p + at, b->len - 1 - at);
    b->p[at] = (char)0xff; /* invalid UTF-8 inside a string, a stray byte outside one */
}

/* Sends the message held back for reordering, if any; returns how many were sent. */
static size_t release_held(fp_sim_vehicle *v, fp_sim_emit_fn emit, void *ctx)
{
    if (!v->held_active)
        return 0;
    v->held_active = false;
    v->held_msg.payload = v->held.p;
    v->held_msg.len = v->held.len;
    emit(ctx, &v->held_msg);
    return 1;
}

static size_t emit_one(fp_sim_vehicle *v, qmsg *q, fp_sim_emit_fn emit, void *ctx)
{
    int64_t seq = ++v->seq;
    fp_buf_reset(&v->out);
    put_envelope(v, &v->out, q, seq);
    fp_sim_msg m;
    memset(&m, 0, sizeof m);
    const fp_sim_proto *p = q->p;
    uint32_t topic_id = q->an.kind == FP_SIM_ANOM_SPOOFED_TOPIC ? q->an.victim : v->id;
    snprintf(m.mqtt_topic, sizeof m.mqtt_topic, "fms/dev-%06u/%s/%s", topic_id, p->pub.object,
             p->pub.type);
    memcpy(m.device_id, v->device_id, sizeof v->device_id);
    m.proto = &p->pub;
    m.vehicle_id = v->id;
    m.seq = seq;
    m.messaged_ms = q->messaged_ms;
    m.samples = q->samples;
    m.anomaly = q->an.kind;
    memcpy(m.anomaly_detail, q->an.detail, sizeof m.anomaly_detail);
    m.anomaly_noop = q->an.kind == FP_SIM_ANOM_STUCK_SENSOR && !q->an.stuck_changed;
    if (q->an.kind == FP_SIM_ANOM_MALFORMED_JSON)
        spoil(&v->out, &q->an);
    m.payload = v->out.p;
    m.len = v->out.len;
    size_t n = 0;
    if (m.anomaly == FP_SIM_ANOM_OUT_OF_ORDER) {
        if (!v->held_active) {
            fp_buf_reset(&v->held);
            fp_buf_append(&v->held, v->out.p, v->out.len);
            v->held_msg = m;
            v->held_active = true;
            return 0;
        }
        /* Already holding one: this one goes out in order. */
        m.anomaly = FP_SIM_ANOM_NONE;
        m.anomaly_detail[0] = '\0';
    }
    if (m.anomaly == FP_SIM_ANOM_DUPLICATE) {
        m.anomaly = FP_SIM_ANOM_NONE;
        m.anomaly_detail[0] = '\0';
        emit(ctx, &m);
        m.anomaly = FP_SIM_ANOM_DUPLICATE;
        memcpy(m.anomaly_detail, q->an.detail, sizeof m.anomaly_detail);
        n++;
    }
    emit(ctx, &m);
    n++;
    n += release_held(v, emit, ctx);
    return n;
}

/* Emits the queued messages due at `upto`. Safe to call after every step: a message created by
 * a later step is sent no earlier than that step, so the order is the same however run() is
 * chunked, and the queue stays a few messages long even when run() covers a day. */
static size_t emit_due(fp_sim_vehicle *v, int64_t upto, fp_sim_emit_fn emit, void *ctx)
{
    size_t n = 0, i = 0;
    while (i < v->nq && v->q[i].messaged_ms <= upto) {
        n += emit_one(v, &v->q[i], emit, ctx);
        buf_give(v, &v->q[i].body);
        i++;
    }
    if (i) {
        memmove(v->q, v->q + i, (v->nq - i) * sizeof *v->q);
        v->nq -= i;
    }
    return n;
}

size_t fp_sim_vehicle_run(fp_sim_vehicle *v, int64_t until_ms, fp_sim_emit_fn emit, void *ctx)
{
    size_t n = 0;
    /* A command can be due at a time the model has already passed: it arrived while the model
     * ran up to a step ahead of the simulated now, or before the vehicle's first step (t0 lies
     * up to a minute after the start). No later step would see it: complete it now. */
    int64_t passed = v->t < until_ms ? v->t : until_ms;
    if (v->ncmds && v->cmds[0].done_ms <= passed)
        complete_commands(v, passed);
    while (v->t + STEP_MS <= until_ms) {
        v->t += STEP_MS;
        step(v, v->t);
        if (v->nq && v->q[0].messaged_ms <= v->t)
            n += emit_due(v, v->t, emit, ctx);
    }
    return n + emit_due(v, until_ms, emit, ctx);
}

size_t fp_sim_vehicle_finish(fp_sim_vehicle *v, int64_t end_ms, fp_sim_emit_fn emit, void *ctx)
{
    size_t n = fp_sim_vehicle_run(v, end_ms - 1, emit, ctx); /* [start, end) */
    for (size_t i = 0; i < v->nperiodic; i++)
        close_batch(v, v->periodic[i], &v->batches[i], v->t);
    n += emit_due(v, INT64_MAX, emit, ctx);
    n += release_held(v, emit, ctx);
    return n;
}

int64_t fp_sim_vehicle_next_ms(const fp_sim_vehicle *v)
{
    int64_t best = INT64_MAX;
    if (v->nq)
        best = v->q[0].messaged_ms;
    for (size_t i = 0; i < v->nperiodic; i++) {
        const fp_sim_proto *p = v->periodic[i];
        int64_t k = (v->t - v->t0) / p->interval_ms + 1;
        if (v->t < v->t0)
            k = 1;
        int64_t b = v->t0 + k * p->interval_ms;
        int64_t at = b + send_delay(v, p, b);
        if (at < best)
            best = at;
    }
    if (v->ncmds && v->cmds[0].done_ms < best)
        best = v->cmds[0].done_ms;
    return best;
}

/* ---- lifecycle ---- */

fp_sim_vehicle *fp_sim_vehicle_new(const fp_sim_conf *conf, uint32_t id)
{
    fp_sim_vehicle *v = fp_xcalloc(1, sizeof *v);
    v->conf = conf;
    v->id = id ? id : 1;
    snprintf(v->device_id, sizeof v->device_id, "dev-%06u", v->id);
    v->vseed = fp_sim_mix64(conf->seed ^ fp_sim_mix64((uint64_t)v->id * 0x9e3779b97f4a7c15ULL));
    fp_sim_rng_seed(&v->rng, v->vseed ^ 0x1);
    fp_sim_rng_seed(&v->grng, v->vseed ^ 0x2);
    fp_sim_rng_seed(&v->arng, v->vseed ^ 0x3);
    fp_sim_rng_seed(&v->crng, v->vseed ^ 0x4);
    fp_sim_isofmt_init(&v->iso);
    fp_sim_rng *r = &v->rng;

    /* Send phase spread over a minute so the fleet does not publish in lock-step. */
    v->t0 = conf->warm_ms > 0
                ? conf->start_ms - conf->warm_ms +
                      (int64_t)fp_sim_rng_below(r, (uint32_t)(conf->warm_ms / 1000)) * 1000
                : conf->start_ms + (int64_t)fp_sim_rng_below(r, 60) * 1000;
    v->t = v->t0 - STEP_MS;

    v->depot_lat = fp_sim_rng_range(r, 37.45, 37.65); /* Seoul */
    v->depot_lng = fp_sim_rng_range(r, 126.85, 127.15);
    v->coslat = cos(v->depot_lat * DEG2RAD);
    v->lat = v->depot_lat;
    v->lng = v->depot_lng;
    v->heading = fp_sim_rng_below(r, 360);
    v->odo_km = fp_sim_rng_range(r, 10000, 200000);
    v->acc = fp_sim_rng_range(r, 1.0, 2.0);
    v->brake = fp_sim_rng_range(r, 2.0, 2.6);
    v->slow_factor = 1;
    v->shift_sod = fp_sim_rng_unif(r) < 0.7 ? (int)fp_sim_rng_range(r, 5 * 3600, 10 * 3600)
                                            : (int)fp_sim_rng_below(r, 86400);
    v->mode = M_PARKED;
    /* Mid-shift at start: leave soon; otherwise wait for the shift. */
    int64_t since = (local_sod(v->t0) - v->shift_sod + 86400) % 86400;
    v->mode_until = since < 8 * 3600 ? v->t0 + (int64_t)fp_sim_rng_below(r, 900) * 1000
                                     : next_at_sod(v->t0, v->shift_sod);

    v->charge_v = fp_sim_rng_range(r, 13.9, 14.3);
    v->rest_base = fp_sim_rng_range(r, 12.4, 12.5);
    v->surface = 0.05;
    v->batt = v->rest_base + v->surface;
    v->tank_l = fp_sim_rng_range(r, 150, 300);
    v->fuel = fp_sim_rng_range(r, 35, 95);
    v->l_per_km = fp_sim_rng_range(r, 0.2, 0.32);
    v->idle_rpm = fp_sim_rng_range(r, 720, 780);

    v->nzones = fp_sim_rng_unif(r) < 0.4 ? 2 : 1;
    v->sp[0] = fp_sim_rng_unif(r) < 0.5 ? -18 : 4;
    v->sp[1] = v->sp[0] < 0 ? 4 : 2;
    for (int z = 0; z < 2; z++)
        v->temp[z] = v->sp[z] + fp_sim_rng_range(r, -0.8, 0.8);
    v->ambient_base = fp_sim_rng_range(r, 12, 24);
    v->next_defrost = v->t0 + (int64_t)fp_sim_rng_range(r, 1, 5) * 3600000;

    v->storage_cap = fp_sim_rng_unif(r) < 0.5 ? 32768 : 65536;
    v->storage_mb = v->storage_cap * fp_sim_rng_range(r, 0.3, 0.9);
    v->camera_ok = true;

    const fp_sim_registry *reg = conf->reg;
    size_t n = fp_sim_registry_all_count(reg);
    v->periodic = fp_xcalloc(n, sizeof *v->periodic);
    v->batches = fp_xcalloc(n, sizeof *v->batches);
    for (size_t i = 0; i < n; i++) {
        if (!fp_sim_registry_selected(reg, i))
            continue;
        const fp_sim_proto *p = fp_sim_registry_all(reg, i);
        if (p->trigger == FP_TRIG_PERIODIC) {
            v->batches[v->nperiodic].expect = (uint32_t)(p->interval_ms / p->period_ms);
            v->periodic[v->nperiodic++] = p;
        } else if (p->trigger == FP_TRIG_VEHICLE_EVENT && !v->event_proto) {
            v->event_proto = p;
        } else if (p->trigger == FP_TRIG_COMMAND && !v->cmd_proto) {
            v->cmd_proto = p;
        }
    }
    return v;
}

const char *fp_sim_vehicle_device_id(const fp_sim_vehicle *v)
{
    return v->device_id;
}

void fp_sim_vehicle_free(fp_sim_vehicle *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nperiodic; i++)
        fp_buf_free(&v->batches[i].body);
    for (size_t i = 0; i < v->nq; i++)
        fp_buf_free(&v->q[i].body);
    for (size_t i = 0; i < v->nspare; i++)
        fp_buf_free(&v->spare[i]);
    for (size_t i = 0; i < v->ncmds; i++)
        free(v->cmds[i].result);
    free(v->spare);
    free(v->q);
    free(v->periodic);
    free(v->batches);
    fp_buf_free(&v->out);
    fp_buf_free(&v->held);
    free(v->days);
    free(v);
}

/* ---- commands in ---- */

static void copy_str(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static char *result_error(const char *fmt, const char *arg)
{
    fp_buf msg = FP_BUF_INIT, out = FP_BUF_INIT;
    fp_buf_printf(&msg, fmt, arg);
    fp_buf_puts(&out, "{\"error\":");
    fp_json_quote(&out, msg.p, msg.len);
    fp_buf_putc(&out, '}');
    fp_buf_free(&msg);
    return fp_buf_steal(&out);
}

void fp_sim_vehicle_command(fp_sim_vehicle *v, const char *payload, size_t len, int64_t now_ms)
{
    cmd c;
    memset(&c, 0, sizeof c);
    copy_str(c.id, sizeof c.id, "unknown");
    copy_str(c.name, sizeof c.name, "unknown");
    fp_buf req = FP_BUF_INIT;
    put_time(v, &req, now_ms, true);
    /* put_time quotes; keep the bare text. */
    copy_str(c.requested, sizeof c.requested, req.p + 1);
    c.requested[strlen(c.requested) - 1] = '\0';
    fp_buf_free(&req);
    fp_sim_rng *r = &v->crng;
    double delay_s = fp_sim_rng_range(r, 0.3, 2.0);
    json_error_t je;
    json_t *root = json_loadb(payload ? payload : "", len, 0, &je);
    const char *id = root ? json_string_value(json_object_get(root, "command_id")) : NULL;
    const char *name = root ? json_string_value(json_object_get(root, "command")) : NULL;
    const char *ra = root ? json_string_value(json_object_get(root, "requested_at")) : NULL;
    int64_t ra_ms;
    if (id)
        copy_str(c.id, sizeof c.id, id);
    if (name)
        copy_str(c.name, sizeof c.name, name);
    if (ra && strlen(ra) < sizeof c.requested && !fp_time_parse_iso(ra, strlen(ra), &ra_ms, NULL))
        copy_str(c.requested, sizeof c.requested, ra);
    if (!root) {
        c.result = result_error("command is not valid JSON: %s", je.text);
    } else if (!json_is_object(root)) {
        c.result = result_error("command is not a JSON object%s", "");
    } else if (!id) {
        c.result = result_error("command has no string \"%s\"", "command_id");
    } else if (!name) {
        c.result = result_error("command has no string \"%s\"", "command");
    } else if (!strcmp(name, "ping")) {
        c.ok = true;
        delay_s = fp_sim_rng_range(r, 0.1, 0.8);
        fp_buf b = FP_BUF_INIT;
        fp_buf_printf(&b, "{\"latency_ms\":%u}", 40 + fp_sim_rng_below(r, 300));
        c.result = fp_buf_steal(&b);
    } else if (!strcmp(name, "reboot")) {
        c.ok = true;
        delay_s = fp_sim_rng_range(r, 30, 90);
        fp_buf b = FP_BUF_INIT;
        fp_buf_printf(&b, "{\"boot_s\":%.0f}", delay_s);
        c.result = fp_buf_steal(&b);
    } else if (!strcmp(name, "upload_video")) {
        c.ok = true;
        delay_s = fp_sim_rng_range(r, 20, 120);
        fp_buf b = FP_BUF_INIT;
        char ts[40];
        int y, mo, d, h, mi, s;
        fp_time_utc(now_ms + FP_SIM_LOCAL_OFFSET_MS, &y, &mo, &d, &h, &mi, &s);
        snprintf(ts, sizeof ts, "%04d%02d%02dT%02d%02d%02d", y, mo, d, h, mi, s);
        fp_buf_printf(&b, "{\"bytes\":%llu,\"object_key\":\"blackbox/%s/%s.mp4\"}",
                      (unsigned long long)(5000000 + fp_sim_rng_below(r, 195000000)), v->device_id,
                      ts);
        c.result = fp_buf_steal(&b);
    } else if (!strcmp(name, "set_setpoint")) {
        json_t *params = json_object_get(root, "params");
        json_t *src = json_is_object(params) ? params : root;
        json_t *zone = json_object_get(src, "zone"), *spt = json_object_get(src, "setpoint");
        if (!json_is_integer(zone) || json_integer_value(zone) < 1 ||
            json_integer_value(zone) > v->nzones) {
            c.result = v->nzones == 2 ? result_error("set_setpoint: \"zone\" must be %s", "1 or 2")
                                      : result_error("set_setpoint: \"zone\" must be %s", "1");
        } else if (!json_is_number(spt) || json_number_value(spt) < -30 ||
                   json_number_value(spt) > 25) {
            c.result = result_error("set_setpoint: \"setpoint\" must be a number in %s", "-30..25");
        } else {
            c.ok = true;
            c.zone = (int)json_integer_value(zone);
            c.setpoint = json_number_value(spt);
            fp_buf b = FP_BUF_INIT;
            char num[32];
            num[fp_sim_fmt_fixed(num, c.setpoint, 1)] = '\0';
            fp_buf_printf(&b, "{\"zone\":%d,\"setpoint\":%s}", c.zone, num);
            c.result = fp_buf_steal(&b);
        }
    } else {
        c.result = result_error("unknown command \"%s\" (known: ping, reboot, upload_video, "
                                "set_setpoint)",
                                name);
    }
    if (c.ok && fp_sim_rng_unif(r) < 0.03) { /* the device sometimes just fails */
        c.ok = false;
        free(c.result);
        c.result = result_error("%s: device busy, try again", c.name);
    }
    json_decref(root);
    c.done_ms = now_ms + (int64_t)(delay_s * 1000);
    if (v->ncmds == MAX_PENDING_CMDS) { /* bounded: the oldest answer is dropped */
        free(v->cmds[0].result);
        memmove(&v->cmds[0], &v->cmds[1], (v->ncmds - 1) * sizeof *v->cmds);
        v->ncmds--;
    }
    size_t i = v->ncmds;
    while (i > 0 && v->cmds[i - 1].done_ms > c.done_ms)
        i--;
    memmove(&v->cmds[i + 1], &v->cmds[i], (v->ncmds - i) * sizeof *v->cmds);
    v->cmds[i] = c;
    v->ncmds++;
}
