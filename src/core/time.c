/* time.c — strict ISO-8601 parsing and UTC formatting with hand-written civil-date math.
 *
 * days_from_civil()/civil_from_days() are Howard Hinnant's proleptic Gregorian algorithms: exact
 * for every year, no dependence on the process time zone (timegm/mktime would consult TZ or be
 * non-portable). Fractions of a second beyond milliseconds are truncated toward the past.
 */
#include "core/time.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int digits(const char *s, size_t n, size_t at, size_t count, int *out)
{
    if (at + count > n)
        return -1;
    int v = 0;
    for (size_t i = 0; i < count; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

static fp_code bad(fp_err *err, const char *s, size_t n, const char *what)
{
    return fp_err_set(err, FP_ERR_INVALID, "timestamp \"%.*s\": %s", (int)(n > 64 ? 64 : n), s,
                      what);
}

fp_code fp_time_parse_iso(const char *s, size_t n, int64_t *epoch_ms, fp_err *err)
{
    int Y, M, D, h, mi, sec;
    if (digits(s, n, 0, 4, &Y) || n < 5 || s[4] != '-' || digits(s, n, 5, 2, &M) || n < 8 ||
        s[7] != '-' || digits(s, n, 8, 2, &D))
        return bad(err, s, n, "expected YYYY-MM-DD");
    if (n < 11 || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return bad(err, s, n, "expected 'T' after the date");
    if (digits(s, n, 11, 2, &h) || n < 14 || s[13] != ':' || digits(s, n, 14, 2, &mi) || n < 17 ||
        s[16] != ':' || digits(s, n, 17, 2, &sec))
        return bad(err, s, n, "expected HH:MM:SS");
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12)
        return bad(err, s, n, "month out of range");
    int dim = mdays[M - 1] + (M == 2 && leap(Y));
    if (D < 1 || D > dim)
        return bad(err, s, n, "day does not exist in that month");
    if (h > 23 || mi > 59 || sec > 59)
        return bad(err, s, n, "time of day out of range");
    size_t i = 19;
    int ms = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t start = i;
        int scale = 100;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return bad(err, s, n, "expected digits after '.'");
    }
    int off_min = 0;
    if (i >= n)
        return bad(err, s, n, "missing UTC offset (Z or +HH:MM)");
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int sign = s[i] == '-' ? -1 : 1, oh, om;
        i++;
        if (digits(s, n, i, 2, &oh))
            return bad(err, s, n, "bad UTC offset");
        i += 2;
        if (i < n && s[i] == ':')
            i++;
        if (digits(s, n, i, 2, &om))
            return bad(err, s, n, "bad UTC offset");
        i += 2;
        if (oh > 23 || om > 59)
            return bad(err, s, n, "UTC offset out of range");
        off_min = sign * (oh * 60 + om);
    } else {
        return bad(err, s, n, "expected Z or +HH:MM offset");
    }
    if (i != n)
        return bad(err, s, n, "trailing characters");
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off_min * 60;
    *epoch_ms = secs * 1000 + ms;
    return FP_OK;
}

fp_code fp_time_parse_iso_cached(fp_time_iso_cache *c, const char *s, size_t n, int64_t *epoch_ms,
                                 fp_err *err)
{
    /* positions 17-18 are the seconds in every accepted form; the rest must be byte-equal */
    if (c->n && n == c->n && !memcmp(s, c->s, 17) && !memcmp(s + 19, c->s + 19, n - 19) &&
        s[17] >= '0' && s[17] <= '5' && s[18] >= '0' && s[18] <= '9') {
        int sec = (s[17] - '0') * 10 + (s[18] - '0');
        *epoch_ms = c->ms + (int64_t)(sec - c->sec) * 1000;
        return FP_OK;
    }
    fp_code rc = fp_time_parse_iso(s, n, epoch_ms, err);
    if (rc || n > sizeof c->s) {
        c->n = 0;
        return rc;
    }
    memcpy(c->s, s, n);
    c->n = n;
    c->ms = *epoch_ms;
    c->sec = (s[17] - '0') * 10 + (s[18] - '0');
    return FP_OK;
}

void fp_time_utc(int64_t epoch_ms, int *year, int *month, int *day, int *hour, int *min, int *sec)
{
    int64_t secs = epoch_ms / 1000 - (epoch_ms % 1000 < 0);
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    *year = (int)y;
    *month = (int)m;
    *day = (int)d;
    *hour = (int)(rem / 3600);
    *min = (int)(rem / 60 % 60);
    *sec = (int)(rem % 60);
}

void fp_time_format_iso(int64_t epoch_ms, fp_buf *out)
{
    int y, mo, d, h, mi, s;
    fp_time_utc(epoch_ms, &y, &mo, &d, &h, &mi, &s);
    int ms = (int)(epoch_ms % 1000);
    if (ms < 0)
        ms += 1000;
    if (y < 0 || y > 9999) { /* outside what the fixed layout below holds */
        fp_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, s, ms);
        return;
    }
    /* the same bytes as that printf, without it (the aggregate formats three per window) */
    char t[25] = "0000-00-00T00:00:00.000Z";
    const int f[][3] = {{0, 4, y},   {5, 2, mo}, {8, 2, d},  {11, 2, h},
                        {14, 2, mi}, {17, 2, s}, {20, 3, ms}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        for (int k = f[i][1], v = f[i][2]; k-- > 0; v /= 10)
            t[f[i][0] + k] = (char)('0' + v % 10);
    fp_buf_append(out, t, 24);
}

int64_t fp_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fp_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fp_time_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec fp_time_deadline(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000L;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000L);
    ts.tv_nsec = (long)(ns % 1000000000L);
    return ts;
}
