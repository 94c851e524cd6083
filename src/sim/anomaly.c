/* anomaly.c — anomaly names, selection and the ground-truth line.
 *
 * Which kind a message gets is decided here (rate, mask, what applies to the protocol); how it
 * is applied lives in vehicle.c, next to the bytes it changes. The one thing to know: exactly
 * malformed_json, missing_field and spoofed_topic are dead letters for the bridge; every other
 * kind keeps valid JSON with the full envelope and must be caught downstream, by data checks.
 */
#include <string.h>

#include "core/json.h"
#include "core/props.h"
#include "core/time.h"
#include "sim/sim_int.h"

static const char *const names[FP_SIM_ANOM_COUNT] = {
    [FP_SIM_ANOM_NONE] = "none",
    [FP_SIM_ANOM_GPS_JUMP] = "gps_jump",
    [FP_SIM_ANOM_TIME_SKEW] = "time_skew",
    [FP_SIM_ANOM_DUPLICATE] = "duplicate",
    [FP_SIM_ANOM_OUT_OF_ORDER] = "out_of_order",
    [FP_SIM_ANOM_STUCK_SENSOR] = "stuck_sensor",
    [FP_SIM_ANOM_VOLTAGE_RANGE] = "voltage_range",
    [FP_SIM_ANOM_ODOMETER_BACK] = "odometer_back",
    [FP_SIM_ANOM_MALFORMED_JSON] = "malformed_json",
    [FP_SIM_ANOM_MISSING_FIELD] = "missing_field",
    [FP_SIM_ANOM_SPOOFED_TOPIC] = "spoofed_topic",
};

const char *fp_sim_anomaly_name(fp_sim_anomaly a)
{
    return (unsigned)a < FP_SIM_ANOM_COUNT ? names[a] : "unknown";
}

bool fp_sim_anomaly_is_dead_letter(fp_sim_anomaly a)
{
    return a == FP_SIM_ANOM_MALFORMED_JSON || a == FP_SIM_ANOM_MISSING_FIELD ||
           a == FP_SIM_ANOM_SPOOFED_TOPIC;
}

fp_code fp_sim_anomaly_parse(const char *list, uint32_t *mask, fp_err *err)
{
    uint32_t m = 0;
    fp_strv items;
    fp_strv_split(&items, list ? list : "", ',');
    fp_code rc = FP_OK;
    for (size_t i = 0; i < items.n && !rc; i++) {
        const char *it = items.v[i];
        if (!strcmp(it, "all")) {
            m |= ((1u << FP_SIM_ANOM_COUNT) - 1) & ~1u;
            continue;
        }
        if (!strcmp(it, "none"))
            continue;
        int k = 1;
        while (k < FP_SIM_ANOM_COUNT && strcmp(names[k], it))
            k++;
        if (k < FP_SIM_ANOM_COUNT) {
            m |= 1u << k;
            continue;
        }
        fp_buf known = FP_BUF_INIT;
        for (int j = 1; j < FP_SIM_ANOM_COUNT; j++)
            fp_buf_printf(&known, "%s, ", names[j]);
        rc = fp_err_set(err, FP_ERR_CONFIG, "unknown anomaly \"%s\" (known: %sall)", it, known.p);
        fp_buf_free(&known);
    }
    fp_strv_free(&items);
    if (!rc)
        *mask = m;
    return rc;
}

fp_sim_anomaly fp_sim_anomaly_pick(const fp_sim_conf *conf, const fp_sim_proto *p, uint32_t samples,
                                   fp_sim_rng *rng)
{
    if (conf->anomaly_rate <= 0 || !conf->anomaly_mask)
        return FP_SIM_ANOM_NONE;
    /* Always draw, so that whether one message gets an anomaly does not shift the stream. */
    double u = fp_sim_rng_unif(rng);
    uint32_t pick = (uint32_t)(fp_sim_rng_next(rng) >> 32);
    if (u >= conf->anomaly_rate)
        return FP_SIM_ANOM_NONE;
    uint32_t allowed = conf->anomaly_mask & p->anomalies;
    if (conf->fleet_size < 2)
        allowed &= ~(1u << FP_SIM_ANOM_SPOOFED_TOPIC);
    if (samples < 2) /* nothing to repeat or to go back from */
        allowed &= ~(1u << FP_SIM_ANOM_STUCK_SENSOR | 1u << FP_SIM_ANOM_ODOMETER_BACK);
    if (!allowed)
        return FP_SIM_ANOM_NONE;
    uint32_t n = (uint32_t)__builtin_popcount(allowed), k = pick % n;
    for (int a = 1; a < FP_SIM_ANOM_COUNT; a++)
        if (allowed & (1u << a)) {
            if (k == 0)
                return (fp_sim_anomaly)a;
            k--;
        }
    return FP_SIM_ANOM_NONE;
}

void fp_sim_truth_format(const fp_sim_msg *m, fp_buf *out)
{
    fp_buf_puts(out, "{\"device_id\":");
    fp_json_quote(out, m->device_id, strlen(m->device_id));
    fp_buf_printf(out, ",\"vehicle_id\":%u,\"seq\":%lld,\"messaged_at\":\"", m->vehicle_id,
                  (long long)m->seq);
    fp_time_format_iso(m->messaged_ms, out); /* the true send time, never skewed */
    fp_buf_puts(out, "\",\"object\":");
    const char *o = m->proto ? m->proto->object : "", *t = m->proto ? m->proto->type : "";
    fp_json_quote(out, o, strlen(o));
    fp_buf_puts(out, ",\"type\":");
    fp_json_quote(out, t, strlen(t));
    fp_buf_puts(out, ",\"mqtt_topic\":");
    fp_json_quote(out, m->mqtt_topic, strlen(m->mqtt_topic));
    fp_buf_puts(out, ",\"anomaly\":");
    const char *a = fp_sim_anomaly_name(m->anomaly);
    fp_json_quote(out, a, strlen(a));
    fp_buf_puts(out, ",\"detail\":");
    fp_json_quote(out, m->anomaly_detail, strlen(m->anomaly_detail));
    if (m->anomaly_noop)
        fp_buf_puts(out, ",\"noop\":true");
    fp_buf_puts(out, fp_sim_anomaly_is_dead_letter(m->anomaly) ? ",\"dead_letter\":true}"
                                                               : ",\"dead_letter\":false}");
}
