/* fmt.c — number and timestamp formatting for the per-sample hot path (no printf).
 *
 * A kinematic message has 60 samples of 7 values; at the load target that is ~8 M values/s, so
 * numbers are written as scaled integers with a two-digit table and timestamps reuse the
 * formatted minute. What a reader must know: values are rounded half away from zero to the
 * requested decimals and trailing fractional zeros are trimmed ("12.50" -> "12.5", "3.0" -> "3"),
 * which JSON readers treat as the same number.
 */
#include <math.h>
#include <string.h>

#include "core/time.h"
#include "sim/sim_int.h"

static const char digits2[201] = "00010203040506070809"
                                 "10111213141516171819"
                                 "20212223242526272829"
                                 "30313233343536373839"
                                 "40414243444546474849"
                                 "50515253545556575859"
                                 "60616263646566676869"
                                 "70717273747576777879"
                                 "80818283848586878889"
                                 "90919293949596979899";

static const double pow10d[10] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* Writes u's decimal digits (at least min_digits, zero-padded) ending just before end; returns
 * the first written byte. */
static char *put_u64_rev(char *end, uint64_t u, int min_digits)
{
    char *p = end;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = digits2[d + 1];
        *--p = digits2[d];
    }
    if (u >= 10) {
        unsigned d = (unsigned)u * 2;
        *--p = digits2[d + 1];
        *--p = digits2[d];
    } else {
        *--p = (char)('0' + u);
    }
    while (end - p < min_digits)
        *--p = '0';
    return p;
}

size_t fp_sim_fmt_i64(char *out, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = put_u64_rev(end, u, 1);
    size_t n = 0;
    if (v < 0)
        out[n++] = '-';
    memcpy(out + n, p, (size_t)(end - p));
    return n + (size_t)(end - p);
}

size_t fp_sim_fmt_fixed(char *out, double v, int decimals)
{
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    /* Beyond ~9e18 the scaled value no longer fits: such values never occur in telemetry, and
     * clamping keeps the output a valid number. */
    double scaled = v * pow10d[decimals];
    if (!isfinite(scaled))
        scaled = 0;
    if (scaled > 9.0e18)
        scaled = 9.0e18;
    if (scaled < -9.0e18)
        scaled = -9.0e18;
    int64_t q = (int64_t)(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
    size_t n = 0;
    if (q < 0) {
        out[n++] = '-';
        q = -q;
    }
    uint64_t u = (uint64_t)q;
    if (decimals == 0) {
        char tmp[24], *end = tmp + sizeof tmp, *p = put_u64_rev(end, u, 1);
        memcpy(out + n, p, (size_t)(end - p));
        return n + (size_t)(end - p);
    }
    /* Trim trailing zeros of the fraction before writing digits. */
    while (decimals > 0 && u % 10 == 0) {
        u /= 10;
        decimals--;
    }
    char tmp[32], *end = tmp + sizeof tmp;
    char *p = put_u64_rev(end, u, decimals + 1);
    size_t len = (size_t)(end - p);
    if (decimals == 0) {
        memcpy(out + n, p, len);
        return n + len;
    }
    size_t ip = len - (size_t)decimals;
    memcpy(out + n, p, ip);
    n += ip;
    out[n++] = '.';
    memcpy(out + n, p + ip, (size_t)decimals);
    return n + (size_t)decimals;
}

void fp_sim_isofmt_init(fp_sim_isofmt *f)
{
    f->minute = INT64_MIN;
}

size_t fp_sim_isofmt_put(fp_sim_isofmt *f, char *out, int64_t utc_ms, bool with_ms)
{
    int64_t local = utc_ms + FP_SIM_LOCAL_OFFSET_MS;
    int64_t secs = local / 1000 - (local % 1000 < 0);
    int ms = (int)(local - secs * 1000);
    int64_t minute = secs / 60 - (secs % 60 < 0);
    int sec = (int)(secs - minute * 60);
    if (minute != f->minute) {
        int y, mo, d, h, mi, s;
        fp_time_utc(minute * 60000, &y, &mo, &d, &h, &mi, &s);
        char *p = f->prefix;
        if (y < 0 || y > 9999)
            y = y < 0 ? 0 : 9999;
        memcpy(p, digits2 + (y / 100) * 2, 2);
        memcpy(p + 2, digits2 + (y % 100) * 2, 2);
        p[4] = '-';
        memcpy(p + 5, digits2 + mo * 2, 2);
        p[7] = '-';
        memcpy(p + 8, digits2 + d * 2, 2);
        p[10] = 'T';
        memcpy(p + 11, digits2 + h * 2, 2);
        p[13] = ':';
        memcpy(p + 14, digits2 + mi * 2, 2);
        p[16] = ':';
        f->minute = minute;
    }
    memcpy(out, f->prefix, 17);
    memcpy(out + 17, digits2 + sec * 2, 2);
    size_t n = 19;
    if (with_ms) {
        out[n++] = '.';
        out[n++] = (char)('0' + ms / 100);
        memcpy(out + n, digits2 + (ms % 100) * 2, 2);
        n += 2;
    }
    memcpy(out + n, "+09:00", 6);
    return n + 6;
}

void fp_sim_rng_seed(fp_sim_rng *r, uint64_t seed)
{
    /* splitmix64 expands one word into the four of xoshiro's state (never all zero). */
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        r->s[i] = fp_sim_mix64(seed);
    }
}

uint64_t fp_sim_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
