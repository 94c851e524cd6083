/* sim_int.h — what the simulator's files share and the transport must not see: the registry's
 * field definitions, the vehicle signals they name, the fast number/time formatters and the RNG.
 *
 * The one thing to know: fp_sim_protocol is the first member of fp_sim_proto, so the pointers
 * that sim.h hands out can be turned back into the full definition with fp_sim_proto_of().
 */
#ifndef FP_SIM_INT_H
#define FP_SIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "sim/sim.h"

/* Local time of the simulated devices: the seed fleet reports +09:00 (Seoul). */
#define FP_SIM_LOCAL_OFFSET_MS (9 * 3600 * 1000LL)

/* ---- signals: what a vehicle model can report ---- */

typedef enum fp_sim_signal {
    FP_SIG_NONE = 0,
    FP_SIG_LAT,
    FP_SIG_LNG,
    FP_SIG_SPEED_KMH,
    FP_SIG_HEADING,
    FP_SIG_ODOMETER_KM,
    FP_SIG_ENGINE_ON,
    FP_SIG_BATTERY_VOLTAGE,
    FP_SIG_IGNITION,
    FP_SIG_FUEL_LEVEL,
    FP_SIG_ENGINE_RPM,
    FP_SIG_CARGO_ZONE,
    FP_SIG_CARGO_TEMPERATURE,
    FP_SIG_CARGO_SETPOINT,
    FP_SIG_CARGO_DOOR_OPEN,
    FP_SIG_BB_RECORDING,
    FP_SIG_BB_STORAGE_FREE_MB,
    FP_SIG_BB_CAMERA_OK,
    FP_SIG_EVENT_KIND,
    FP_SIG_EVENT_G_FORCE,
    FP_SIG_EVENT_OCCURRED_AT,
    FP_SIG_CMD_ID,
    FP_SIG_CMD_NAME,
    FP_SIG_CMD_STATUS,
    FP_SIG_CMD_REQUESTED_AT,
    FP_SIG_CMD_COMPLETED_AT,
    FP_SIG_CMD_RESULT,
    FP_SIG_COUNT
} fp_sim_signal;

typedef enum fp_sim_vtype { FP_VT_NUM, FP_VT_BOOL, FP_VT_TEXT } fp_sim_vtype;

/* Name as written in protocols.json ("cargo.temperature"), and value type. */
const char *fp_sim_signal_name(fp_sim_signal s);
fp_sim_vtype fp_sim_signal_vtype(fp_sim_signal s);

/* ---- registry internals ---- */

typedef enum fp_sim_fkind {
    FP_FIELD_SIGNAL,
    FP_FIELD_CONST,   /* raw JSON text */
    FP_FIELD_UNIFORM, /* number in [min, max] with decimals */
    FP_FIELD_CHOICE,  /* one of raw JSON texts */
} fp_sim_fkind;

typedef struct fp_sim_field {
    char *name;
    char *key; /* ,"name":  — written before the value, so a sample is pure appends */
    size_t key_len;
    fp_sim_fkind kind;
    fp_sim_signal signal;
    int decimals;
    double min, max;
    char **texts; /* CONST: 1, CHOICE: n raw JSON values */
    size_t *text_len;
    size_t ntexts;
} fp_sim_field;

typedef enum fp_sim_trigger {
    FP_TRIG_PERIODIC,
    FP_TRIG_VEHICLE_EVENT, /* harsh_brake / harsh_accel / impact */
    FP_TRIG_COMMAND,       /* device/command_response */
} fp_sim_trigger;

typedef struct fp_sim_proto {
    fp_sim_protocol pub; /* first: sim.h pointers convert back */
    size_t index;        /* position in the registry (selected or not) */
    fp_sim_trigger trigger;
    bool per_zone; /* one sample per cargo zone per tick */
    int64_t period_ms, interval_ms;
    fp_sim_field *fields;
    size_t nfields;
    /* Which anomaly kinds make sense for this protocol's messages (bit per kind). */
    uint32_t anomalies;
    size_t sample_bytes; /* upper bound of one formatted sample, reserved before writing it */
    int lat_field, lng_field, odo_field, volt_field; /* field index or -1 */
} fp_sim_proto;

static inline const fp_sim_proto *fp_sim_proto_of(const fp_sim_protocol *p)
{
    return (const fp_sim_proto *)p;
}

/* Every protocol, selected or not (vehicles use the selected ones). */
size_t fp_sim_registry_all_count(const fp_sim_registry *r);
const fp_sim_proto *fp_sim_registry_all(const fp_sim_registry *r, size_t i);
bool fp_sim_registry_selected(const fp_sim_registry *r, size_t i);

/* ---- fast formatting ---- */

/* Writes v rounded to `decimals` (0..9) places, trailing fractional zeros trimmed, into out
 * (at least 32 bytes); returns the length. Non-finite values are written as 0. */
size_t fp_sim_fmt_fixed(char *out, double v, int decimals);
/* Writes a signed integer; returns the length (out: at least 21 bytes). */
size_t fp_sim_fmt_i64(char *out, int64_t v);

/* Local-time ISO formatter that reuses the "YYYY-MM-DDTHH:MM:" prefix while the minute stays the
 * same, so consecutive samples cost a few byte stores. */
typedef struct fp_sim_isofmt {
    int64_t minute; /* local epoch minute of prefix, INT64_MIN when empty */
    char prefix[17];
} fp_sim_isofmt;

void fp_sim_isofmt_init(fp_sim_isofmt *f);
/* Writes "YYYY-MM-DDTHH:MM:SS[.mmm]+09:00" (no quotes) for the UTC instant; milliseconds only
 * when with_ms. Returns the length (out: at least 32 bytes). */
size_t fp_sim_isofmt_put(fp_sim_isofmt *f, char *out, int64_t utc_ms, bool with_ms);

/* ---- RNG: xoshiro256** seeded through splitmix64 ---- */

typedef struct fp_sim_rng {
    uint64_t s[4];
} fp_sim_rng;

void fp_sim_rng_seed(fp_sim_rng *r, uint64_t seed);
static inline uint64_t fp_sim_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}
static inline uint64_t fp_sim_rng_next(fp_sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = fp_sim_rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = fp_sim_rng_rotl(s[3], 45);
    return out;
}
/* Uniform in [0, 1). */
static inline double fp_sim_rng_unif(fp_sim_rng *r)
{
    return (double)(fp_sim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}
static inline double fp_sim_rng_range(fp_sim_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * fp_sim_rng_unif(r);
}
/* Uniform in [0, n), n > 0. */
static inline uint32_t fp_sim_rng_below(fp_sim_rng *r, uint32_t n)
{
    return (uint32_t)(((fp_sim_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}
uint64_t fp_sim_mix64(uint64_t x);

/* ---- anomalies ---- */

/* Picks the kind for a message of this protocol from conf (rate and mask), or NONE. */
fp_sim_anomaly fp_sim_anomaly_pick(const fp_sim_conf *conf, const fp_sim_proto *p, uint32_t samples,
                                   fp_sim_rng *rng);

#endif
