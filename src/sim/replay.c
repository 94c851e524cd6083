/* replay.c — replays recorded messages (JSON lines), optionally cloned K times for load.
 *
 * Replay is for large loads, so lines are validated with fp_json_validate() and rewritten by
 * splicing byte ranges from the zero-copy scanner: members that do not change are copied as
 * they are. Clone k (0 = the original, emitted byte for byte) gets id + k * id_stride, the
 * matching device_id, lat/lng shifted by k small steps and every ISO time field shifted by k
 * seconds with its original UTC offset kept (re-timed: by the replay's shift plus k). The one thing
 * to know: a line is read once and its K clones are returned by K consecutive calls, so clones of
 * one message stay together.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/time.h"
#include "sim/sim_int.h"

#define REPLAY_MAX_LINE (1024 * 1024 + 1)
#define CLONE_STEP_DEG 0.0009 /* ~100 m per clone, so clones do not sit on each other */

typedef struct replay_proto {
    fp_sim_proto def; /* only def.pub is filled */
} replay_proto;

struct fp_sim_replay {
    char *path;
    FILE *f;
    char *line;
    size_t cap;
    ssize_t len;
    uint64_t lineno;
    uint32_t multiply, stride, k; /* k: next clone of the current line */
    /* fp_sim_replay_retime: retime_to (epoch ms, 0: off) becomes the first line's messaged_at;
     * shift_s, known once that line is read, is added to every time field (clone k: + k). */
    int64_t retime_to, shift_s;
    bool shift_known;
    bool have; /* current line is valid and has clones left */
    fp_buf out;
    /* protocols seen in the file, so every message has an m->proto (owned here) */
    replay_proto **protos;
    size_t nprotos;
    /* facts of the current line */
    uint32_t id;
    bool dev_digits;
    fp_span dev, object, type, seq, messaged;
    uint32_t samples;
    const fp_sim_protocol *proto;
};

static const char *const time_fields[] = {"messaged_at",  "timestamp_iso", "occurred_at",
                                          "requested_at", "completed_at",  NULL};

fp_sim_replay *fp_sim_replay_open(const char *path, uint32_t multiply, uint32_t id_stride,
                                  fp_err *err)
{
    if (multiply < 1) {
        fp_err_set(err, FP_ERR_CONFIG, "replay %s: multiply must be >= 1", path);
        return NULL;
    }
    if (multiply > 1 && id_stride < 1) {
        fp_err_set(err, FP_ERR_CONFIG, "replay %s: id_stride must be >= 1 to clone", path);
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fp_err_set(err, FP_ERR_IO, "replay %s: cannot open: %m", path);
        return NULL;
    }
    fp_sim_replay *r = fp_xcalloc(1, sizeof *r);
    r->path = fp_xstrdup(path);
    r->f = f;
    r->multiply = multiply;
    r->stride = id_stride;
    return r;
}

void fp_sim_replay_retime(fp_sim_replay *r, int64_t now_ms)
{
    r->retime_to = now_ms > 0 ? now_ms : 1;
}

void fp_sim_replay_free(fp_sim_replay *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    for (size_t i = 0; i < r->nprotos; i++) {
        free((char *)r->protos[i]->def.pub.object);
        free((char *)r->protos[i]->def.pub.type);
        free((char *)r->protos[i]->def.pub.topic);
        free(r->protos[i]);
    }
    free(r->protos);
    free(r->line);
    free(r->path);
    fp_buf_free(&r->out);
    free(r);
}

static bool span_is(fp_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && !memcmp(s.p, lit, n);
}

static const fp_sim_protocol *proto_for(fp_sim_replay *r, fp_span object, fp_span type,
                                        bool periodic)
{
    for (size_t i = 0; i < r->nprotos; i++) {
        const fp_sim_protocol *p = &r->protos[i]->def.pub;
        if (span_is(object, p->object) && span_is(type, p->type))
            return p;
    }
    replay_proto *rp = fp_xcalloc(1, sizeof *rp);
    rp->def.pub.object = fp_xstrndup(object.p, object.n);
    rp->def.pub.type = fp_xstrndup(type.p, type.n);
    fp_buf topic = FP_BUF_INIT;
    fp_buf_puts(&topic, "fms.");
    fp_buf_append(&topic, object.p, object.n);
    rp->def.pub.topic = fp_buf_steal(&topic);
    rp->def.pub.periodic = periodic;
    r->protos = fp_xrealloc(r->protos, (r->nprotos + 1) * sizeof *r->protos);
    r->protos[r->nprotos++] = rp;
    return &rp->def.pub;
}

/* Plain string content (no escapes) of a JSON string value, or false. */
static bool plain_string(fp_span v, fp_span *out)
{
    if (v.n < 2 || v.p[0] != '"' || memchr(v.p + 1, '\\', v.n - 2))
        return false;
    out->p = v.p + 1;
    out->n = v.n - 2;
    return true;
}

static fp_code bad_line(fp_sim_replay *r, fp_err *err, const char *what)
{
    return fp_err_set(err, FP_ERR_INVALID, "%s:%llu: %s", r->path, (unsigned long long)r->lineno,
                      what);
}

/* Checks the current line and records what every clone needs. */
static fp_code inspect(fp_sim_replay *r, fp_err *err)
{
    fp_err verr = {0};
    if (fp_json_validate(r->line, (size_t)r->len, &verr)) {
        fp_buf b = FP_BUF_INIT;
        fp_buf_printf(&b, "not JSON: %s", verr.msg);
        bad_line(r, err, b.p);
        fp_buf_free(&b);
        return FP_ERR_INVALID;
    }
    fp_span obj = {fp_json_skip_ws(r->line, r->line + r->len), 0};
    obj.n = (size_t)(r->line + r->len - obj.p);
    while (obj.n && (obj.p[obj.n - 1] == ' ' || obj.p[obj.n - 1] == '\t' ||
                     obj.p[obj.n - 1] == '\r' || obj.p[obj.n - 1] == '\n'))
        obj.n--;
    if (fp_json_type_of(obj.p) != FP_JSON_OBJECT)
        return bad_line(r, err, "not a JSON object");
    fp_span id, dev, object, type, seq, msg, meas;
    if (!fp_json_obj_get(obj, "id", 2, &id) || fp_json_type_of(id.p) != FP_JSON_NUMBER)
        return bad_line(r, err, "no numeric \"id\"");
    char num[32];
    if (id.n >= sizeof num)
        return bad_line(r, err, "\"id\" is not an integer in 1..4294967295");
    memcpy(num, id.p, id.n);
    num[id.n] = '\0';
    char *end;
    unsigned long long idv = strtoull(num, &end, 10);
    if (*end || idv < 1 || idv > UINT32_MAX || num[0] == '-')
        return bad_line(r, err, "\"id\" is not an integer in 1..4294967295");
    if (!fp_json_obj_get(obj, "device_id", 9, &dev) || !plain_string(dev, &r->dev) || r->dev.n == 0)
        return bad_line(r, err, "no string \"device_id\"");
    if (!fp_json_obj_get(obj, "object", 6, &object) || !plain_string(object, &r->object) ||
        !fp_json_obj_get(obj, "type", 4, &type) || !plain_string(type, &r->type))
        return bad_line(r, err, "no string \"object\"/\"type\" (needed for the MQTT topic)");
    if (r->dev.n + r->object.n + r->type.n + 16 > sizeof(((fp_sim_msg *)0)->mqtt_topic) ||
        r->dev.n + 8 > sizeof(((fp_sim_msg *)0)->device_id))
        return bad_line(r, err, "device_id/object/type too long for a topic");
    r->id = (uint32_t)idv;
    r->dev_digits = r->dev.n > 4 && !memcmp(r->dev.p, "dev-", 4);
    for (size_t i = 4; r->dev_digits && i < r->dev.n; i++)
        if (r->dev.p[i] < '0' || r->dev.p[i] > '9')
            r->dev_digits = false;
    r->seq = fp_json_obj_get(obj, "seq", 3, &seq) ? seq : (fp_span){NULL, 0};
    r->messaged = (fp_span){NULL, 0};
    if (fp_json_obj_get(obj, "messaged_at", 11, &msg))
        plain_string(msg, &r->messaged);
    r->samples = 0;
    bool periodic = fp_json_obj_get(obj, "measurements", 12, &meas);
    if (periodic && fp_json_type_of(meas.p) == FP_JSON_ARRAY) {
        fp_json_iter it;
        fp_span e;
        fp_json_iter_init(&it, meas);
        while (fp_json_arr_next(&it, &e))
            r->samples++;
    }
    r->proto = proto_for(r, r->object, r->type, periodic);
    return FP_OK;
}

static bool is_time_field(fp_span key)
{
    for (int i = 0; time_fields[i]; i++)
        if (span_is(key, time_fields[i]))
            return true;
    return false;
}

/* A time string shifted by secs; the text after HH:MM:SS (fraction, offset) is kept, so the
 * original UTC offset stays. Returns false when the value is not an ISO time. */
static bool put_shifted_time(fp_buf *out, fp_span v, int64_t secs, int64_t *utc_ms)
{
    fp_span s;
    int64_t ms;
    if (!plain_string(v, &s) || s.n < 20 || fp_time_parse_iso(s.p, s.n, &ms, NULL))
        return false;
    /* Parse the local wall time as if it were UTC, shift, and write it back. */
    char wall[24];
    memcpy(wall, s.p, 19);
    memcpy(wall + 19, "Z", 2);
    int64_t wall_ms;
    if (fp_time_parse_iso(wall, 20, &wall_ms, NULL))
        return false;
    int y, mo, d, h, mi, sec;
    fp_time_utc(wall_ms + secs * 1000, &y, &mo, &d, &h, &mi, &sec);
    if (y < 0 || y > 9999)
        return false;
    fp_buf_printf(out, "\"%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, sec);
    fp_buf_append(out, s.p + 19, s.n - 19);
    fp_buf_putc(out, '"');
    if (utc_ms)
        *utc_ms = ms + secs * 1000;
    return true;
}

static bool put_shifted_number(fp_buf *out, fp_span v, double delta)
{
    char num[64];
    if (v.n >= sizeof num || fp_json_type_of(v.p) != FP_JSON_NUMBER)
        return false;
    memcpy(num, v.p, v.n);
    num[v.n] = '\0';
    const char *dot = memchr(num, '.', v.n);
    int dec = 0;
    if (dot)
        for (const char *c = dot + 1; *c >= '0' && *c <= '9'; c++)
            dec++;
    if (dec < 4)
        dec = 4;
    char o[40];
    fp_buf_append(out, o, fp_sim_fmt_fixed(o, strtod(num, NULL) + delta, dec));
    return true;
}

static void put_device_id(fp_sim_replay *r, fp_buf *out, uint32_t k)
{
    if (k == 0) {
        fp_buf_append(out, r->dev.p, r->dev.n);
    } else if (r->dev_digits) {
        fp_buf_printf(out, "dev-%06u", r->id + k * r->stride);
    } else {
        fp_buf_append(out, r->dev.p, r->dev.n);
        fp_buf_printf(out, "-c%u", k);
    }
}

/* Rewrites the members of one object (top level or a sample) for clone k. */
static void rewrite_object(fp_sim_replay *r, fp_buf *out, fp_span obj, uint32_t k, bool top,
                           int64_t *messaged_ms)
{
    fp_json_iter it;
    fp_span key, val;
    bool esc, first = true;
    double dlat = CLONE_STEP_DEG * k, dlng = CLONE_STEP_DEG * k;
    fp_json_iter_init(&it, obj);
    fp_buf_putc(out, '{');
    while (fp_json_obj_next(&it, &key, &esc, &val)) {
        if (!first)
            fp_buf_putc(out, ',');
        first = false;
        fp_buf_putc(out, '"');
        fp_buf_append(out, key.p, key.n);
        fp_buf_puts(out, "\":");
        if (esc)
            goto copy;
        if (top && span_is(key, "id")) {
            fp_buf_printf(out, "%u", r->id + k * r->stride);
            continue;
        }
        if (top && span_is(key, "device_id")) {
            fp_buf_putc(out, '"');
            put_device_id(r, out, k);
            fp_buf_putc(out, '"');
            continue;
        }
        if ((span_is(key, "lat") && put_shifted_number(out, val, dlat)) ||
            (span_is(key, "lng") && put_shifted_number(out, val, dlng)))
            continue;
        if (is_time_field(key) &&
            put_shifted_time(out, val, (int64_t)k + r->shift_s,
                             top && span_is(key, "messaged_at") ? messaged_ms : NULL))
            continue;
        if (top && span_is(key, "measurements") && fp_json_type_of(val.p) == FP_JSON_ARRAY) {
            fp_json_iter ai;
            fp_span e;
            bool f2 = true;
            fp_json_iter_init(&ai, val);
            fp_buf_putc(out, '[');
            while (fp_json_arr_next(&ai, &e)) {
                if (!f2)
                    fp_buf_putc(out, ',');
                f2 = false;
                if (fp_json_type_of(e.p) == FP_JSON_OBJECT)
                    rewrite_object(r, out, e, k, false, NULL);
                else
                    fp_buf_append(out, e.p, e.n);
            }
            fp_buf_putc(out, ']');
            continue;
        }
    copy:
        fp_buf_append(out, val.p, val.n);
    }
    fp_buf_putc(out, '}');
}

static void fill_msg(fp_sim_replay *r, fp_sim_msg *m, uint32_t k)
{
    memset(m, 0, sizeof *m);
    fp_buf dev = FP_BUF_INIT;
    put_device_id(r, &dev, k);
    size_t n = dev.len < sizeof m->device_id ? dev.len : sizeof m->device_id - 1;
    memcpy(m->device_id, dev.p, n);
    snprintf(m->mqtt_topic, sizeof m->mqtt_topic, "fms/%s/%.*s/%.*s", m->device_id,
             (int)r->object.n, r->object.p, (int)r->type.n, r->type.p);
    fp_buf_free(&dev);
    m->proto = r->proto;
    m->vehicle_id = r->id + k * r->stride;
    if (r->seq.p) {
        char num[32];
        size_t sn = r->seq.n < sizeof num - 1 ? r->seq.n : sizeof num - 1;
        memcpy(num, r->seq.p, sn);
        num[sn] = '\0';
        m->seq = strtoll(num, NULL, 10);
    }
    m->samples = r->samples;
}

int fp_sim_replay_next(fp_sim_replay *r, fp_sim_msg *m, fp_err *err)
{
    if (!r->have) {
        for (;;) {
            r->len = getline(&r->line, &r->cap, r->f);
            if (r->len < 0)
                return 0;
            r->lineno++;
            while (r->len && (r->line[r->len - 1] == '\n' || r->line[r->len - 1] == '\r'))
                r->line[--r->len] = '\0';
            if (r->len == 0)
                continue;
            break;
        }
        if (r->len >= REPLAY_MAX_LINE) {
            bad_line(r, err, "line longer than 1 MiB");
            return -1;
        }
        if (inspect(r, err))
            return -1;
        r->have = true;
        r->k = 0;
    }
    uint32_t k = r->k++;
    if (r->k >= r->multiply)
        r->have = false;
    fill_msg(r, m, k);
    int64_t messaged_ms = 0;
    if (r->retime_to && !r->shift_known) {
        int64_t first = 0;
        if (r->messaged.p && !fp_time_parse_iso(r->messaged.p, r->messaged.n, &first, NULL)) {
            r->shift_s = (r->retime_to - first) / 1000;
            r->shift_known = true;
        }
    }
    if (k == 0 && !r->shift_s) {
        /* The original goes out byte for byte. */
        if (r->messaged.p)
            fp_time_parse_iso(r->messaged.p, r->messaged.n, &messaged_ms, NULL);
        m->payload = r->line;
        m->len = (size_t)r->len;
    } else {
        fp_buf_reset(&r->out);
        fp_span obj = {fp_json_skip_ws(r->line, r->line + r->len), 0};
        obj.n = (size_t)(r->line + r->len - obj.p);
        rewrite_object(r, &r->out, obj, k, true, &messaged_ms);
        m->payload = r->out.p;
        m->len = r->out.len;
    }
    m->messaged_ms = messaged_ms;
    return 1;
}
