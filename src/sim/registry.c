/* registry.c — the simulator's protocol registry, loaded from config/protocols.json.
 *
 * A protocol is data: object/type, kind (periodic with hz and send_interval_s, or event with a
 * trigger), and fields that each name a vehicle signal or a generator (const, uniform, choice).
 * The built-in copy of config/protocols.json is compiled in by CMake (fp_sim_builtin_protocols).
 * Loading is a cold path, so it uses jansson; every error names the file and the entry
 * ("protocols.json: protocols[2] cargo/temperature: field temperature: unknown signal ...").
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/props.h"
#include "sim/sim_int.h"

/* Generated at build time from config/protocols.json (see CMakeLists.txt). */
extern const char fp_sim_builtin_protocols[];
extern const size_t fp_sim_builtin_protocols_len;

struct fp_sim_registry {
    fp_sim_proto *all;
    size_t nall;
    size_t *sel; /* indexes into all */
    size_t nsel;
};

static const struct {
    const char *name;
    fp_sim_vtype vt;
} signals[FP_SIG_COUNT] = {
    [FP_SIG_NONE] = {"none", FP_VT_NUM},
    [FP_SIG_LAT] = {"lat", FP_VT_NUM},
    [FP_SIG_LNG] = {"lng", FP_VT_NUM},
    [FP_SIG_SPEED_KMH] = {"speed_kmh", FP_VT_NUM},
    [FP_SIG_HEADING] = {"heading", FP_VT_NUM},
    [FP_SIG_ODOMETER_KM] = {"odometer_km", FP_VT_NUM},
    [FP_SIG_ENGINE_ON] = {"engine_on", FP_VT_BOOL},
    [FP_SIG_BATTERY_VOLTAGE] = {"battery_voltage", FP_VT_NUM},
    [FP_SIG_IGNITION] = {"ignition", FP_VT_BOOL},
    [FP_SIG_FUEL_LEVEL] = {"fuel_level", FP_VT_NUM},
    [FP_SIG_ENGINE_RPM] = {"engine_rpm", FP_VT_NUM},
    [FP_SIG_CARGO_ZONE] = {"cargo.zone", FP_VT_NUM},
    [FP_SIG_CARGO_TEMPERATURE] = {"cargo.temperature", FP_VT_NUM},
    [FP_SIG_CARGO_SETPOINT] = {"cargo.setpoint", FP_VT_NUM},
    [FP_SIG_CARGO_DOOR_OPEN] = {"cargo.door_open", FP_VT_BOOL},
    [FP_SIG_BB_RECORDING] = {"blackbox.recording", FP_VT_BOOL},
    [FP_SIG_BB_STORAGE_FREE_MB] = {"blackbox.storage_free_mb", FP_VT_NUM},
    [FP_SIG_BB_CAMERA_OK] = {"blackbox.camera_ok", FP_VT_BOOL},
    [FP_SIG_EVENT_KIND] = {"event.kind", FP_VT_TEXT},
    [FP_SIG_EVENT_G_FORCE] = {"event.g_force", FP_VT_NUM},
    [FP_SIG_EVENT_OCCURRED_AT] = {"event.occurred_at", FP_VT_TEXT},
    [FP_SIG_CMD_ID] = {"command.command_id", FP_VT_TEXT},
    [FP_SIG_CMD_NAME] = {"command.command", FP_VT_TEXT},
    [FP_SIG_CMD_STATUS] = {"command.status", FP_VT_TEXT},
    [FP_SIG_CMD_REQUESTED_AT] = {"command.requested_at", FP_VT_TEXT},
    [FP_SIG_CMD_COMPLETED_AT] = {"command.completed_at", FP_VT_TEXT},
    [FP_SIG_CMD_RESULT] = {"command.result", FP_VT_TEXT},
};

const char *fp_sim_signal_name(fp_sim_signal s)
{
    return s < FP_SIG_COUNT ? signals[s].name : "?";
}

fp_sim_vtype fp_sim_signal_vtype(fp_sim_signal s)
{
    return s < FP_SIG_COUNT ? signals[s].vt : FP_VT_NUM;
}

static void field_free(fp_sim_field *f)
{
    free(f->name);
    free(f->key);
    for (size_t i = 0; i < f->ntexts; i++)
        free(f->texts[i]);
    free(f->texts);
    free(f->text_len);
}

static void proto_free(fp_sim_proto *p)
{
    free((char *)p->pub.object);
    free((char *)p->pub.type);
    free((char *)p->pub.topic);
    for (size_t i = 0; i < p->nfields; i++)
        field_free(&p->fields[i]);
    free(p->fields);
}

void fp_sim_registry_free(fp_sim_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nall; i++)
        proto_free(&r->all[i]);
    free(r->all);
    free(r->sel);
    free(r);
}

/* Names of the keys an entry / a field may have; anything else is an error naming the key. */
static const char *const proto_keys[] = {"object",   "type",    "kind",   "hz",   "send_interval_s",
                                         "per_zone", "trigger", "fields", "_doc", NULL};
static const char *const field_keys[] = {"name",   "signal", "decimals", "gen",  "value",
                                         "values", "min",    "max",      "_doc", NULL};

static const char *unknown_key(json_t *obj, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], k))
            i++;
        if (!allowed[i])
            return k;
    }
    return NULL;
}

static char *dump_value(json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char *d = fp_xstrdup(s ? s : "null");
    free(s);
    *len = strlen(d);
    return d;
}

static fp_code load_field(fp_sim_proto *p, json_t *jf, fp_sim_field *f, fp_err *err)
{
    if (!json_is_object(jf))
        return fp_err_set(err, FP_ERR_CONFIG, "not an object");
    const char *bad = unknown_key(jf, field_keys);
    if (bad)
        return fp_err_set(err, FP_ERR_CONFIG, "unknown key \"%s\"", bad);
    const char *name = json_string_value(json_object_get(jf, "name"));
    if (!name || !name[0])
        return fp_err_set(err, FP_ERR_CONFIG, "\"name\" must be a non-empty string");
    for (const char *c = name; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            return fp_err_set(err, FP_ERR_CONFIG, "name \"%s\": no quotes or control bytes", name);
    f->name = fp_xstrdup(name);
    fp_buf key = FP_BUF_INIT;
    fp_buf_printf(&key, ",\"%s\":", name);
    f->key_len = key.len;
    f->key = fp_buf_steal(&key);
    json_t *dec = json_object_get(jf, "decimals");
    if (dec &&
        (!json_is_integer(dec) || json_integer_value(dec) < 0 || json_integer_value(dec) > 9))
        return fp_err_set(err, FP_ERR_CONFIG, "field %s: \"decimals\" must be an integer 0..9",
                          name);
    f->decimals = dec ? (int)json_integer_value(dec) : 0;
    const char *sig = json_string_value(json_object_get(jf, "signal"));
    const char *gen = json_string_value(json_object_get(jf, "gen"));
    if (!!sig == !!gen)
        return fp_err_set(err, FP_ERR_CONFIG, "field %s: needs exactly one of \"signal\", \"gen\"",
                          name);
    if (sig) {
        f->kind = FP_FIELD_SIGNAL;
        for (int s = 1; s < FP_SIG_COUNT; s++)
            if (!strcmp(signals[s].name, sig))
                f->signal = (fp_sim_signal)s;
        if (f->signal == FP_SIG_NONE) {
            fp_buf names = FP_BUF_INIT;
            for (int s = 1; s < FP_SIG_COUNT; s++)
                fp_buf_printf(&names, "%s%s", s > 1 ? ", " : "", signals[s].name);
            fp_err_set(err, FP_ERR_CONFIG, "field %s: unknown signal \"%s\" (known: %s)", name, sig,
                       names.p);
            fp_buf_free(&names);
            return FP_ERR_CONFIG;
        }
        bool cmd = f->signal >= FP_SIG_CMD_ID && f->signal <= FP_SIG_CMD_RESULT;
        bool ev = f->signal >= FP_SIG_EVENT_KIND && f->signal <= FP_SIG_EVENT_OCCURRED_AT;
        if ((cmd && p->trigger != FP_TRIG_COMMAND) || (ev && p->trigger != FP_TRIG_VEHICLE_EVENT))
            return fp_err_set(err, FP_ERR_CONFIG, "field %s: signal %s only exists in %s protocols",
                              name, sig,
                              cmd ? "\"trigger\":\"command\"" : "\"trigger\":\"vehicle_event\"");
        return FP_OK;
    }
    if (!strcmp(gen, "const")) {
        json_t *v = json_object_get(jf, "value");
        if (!v)
            return fp_err_set(err, FP_ERR_CONFIG, "field %s: gen const needs \"value\"", name);
        f->kind = FP_FIELD_CONST;
        f->texts = fp_xcalloc(1, sizeof *f->texts);
        f->text_len = fp_xcalloc(1, sizeof *f->text_len);
        f->ntexts = 1;
        f->texts[0] = dump_value(v, &f->text_len[0]);
        return FP_OK;
    }
    if (!strcmp(gen, "uniform")) {
        json_t *mn = json_object_get(jf, "min"), *mx = json_object_get(jf, "max");
        if (!json_is_number(mn) || !json_is_number(mx) ||
            json_number_value(mn) > json_number_value(mx))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "field %s: gen uniform needs numbers \"min\" <= \"max\"", name);
        f->kind = FP_FIELD_UNIFORM;
        f->min = json_number_value(mn);
        f->max = json_number_value(mx);
        return FP_OK;
    }
    if (!strcmp(gen, "choice")) {
        json_t *vals = json_object_get(jf, "values");
        if (!json_is_array(vals) || json_array_size(vals) == 0)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "field %s: gen choice needs a non-empty array \"values\"", name);
        f->kind = FP_FIELD_CHOICE;
        f->ntexts = json_array_size(vals);
        f->texts = fp_xcalloc(f->ntexts, sizeof *f->texts);
        f->text_len = fp_xcalloc(f->ntexts, sizeof *f->text_len);
        for (size_t i = 0; i < f->ntexts; i++)
            f->texts[i] = dump_value(json_array_get(vals, i), &f->text_len[i]);
        return FP_OK;
    }
    return fp_err_set(err, FP_ERR_CONFIG,
                      "field %s: unknown gen \"%s\" (known: const, uniform, choice)", name, gen);
}

static bool is_name(const char *s)
{
    if (!s || !s[0] || strlen(s) > 40)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static fp_code load_proto(json_t *jp, fp_sim_proto *p, fp_err *err)
{
    if (!json_is_object(jp))
        return fp_err_set(err, FP_ERR_CONFIG, "not an object");
    const char *bad = unknown_key(jp, proto_keys);
    if (bad)
        return fp_err_set(err, FP_ERR_CONFIG, "unknown key \"%s\"", bad);
    const char *object = json_string_value(json_object_get(jp, "object"));
    const char *type = json_string_value(json_object_get(jp, "type"));
    if (!is_name(object) || !is_name(type))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "\"object\" and \"type\" must be lower-case names [a-z0-9_]");
    p->pub.object = fp_xstrdup(object);
    p->pub.type = fp_xstrdup(type);
    fp_buf topic = FP_BUF_INIT;
    fp_buf_printf(&topic, "fms.%s", object);
    p->pub.topic = fp_buf_steal(&topic);
    const char *kind = json_string_value(json_object_get(jp, "kind"));
    if (!kind || (strcmp(kind, "periodic") && strcmp(kind, "event")))
        return fp_err_set(err, FP_ERR_CONFIG, "\"kind\" must be \"periodic\" or \"event\"");
    p->pub.periodic = !strcmp(kind, "periodic");
    json_t *pz = json_object_get(jp, "per_zone");
    if (pz && !json_is_boolean(pz))
        return fp_err_set(err, FP_ERR_CONFIG, "\"per_zone\" must be true or false");
    p->per_zone = pz && json_is_true(pz);
    if (p->pub.periodic) {
        json_t *hz = json_object_get(jp, "hz"), *iv = json_object_get(jp, "send_interval_s");
        if (json_object_get(jp, "trigger"))
            return fp_err_set(err, FP_ERR_CONFIG, "\"trigger\" is for event protocols");
        if (!json_is_number(hz) || json_number_value(hz) <= 0 || json_number_value(hz) > 1)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "\"hz\" must be a number in (0, 1] (the model steps once a second)");
        if (!json_is_integer(iv) || json_integer_value(iv) < 1 || json_integer_value(iv) > 86400)
            return fp_err_set(err, FP_ERR_CONFIG, "\"send_interval_s\" must be 1..86400");
        p->pub.hz = json_number_value(hz);
        p->pub.send_interval_s = (int)json_integer_value(iv);
        p->period_ms = llround(1000.0 / p->pub.hz);
        p->interval_ms = (int64_t)p->pub.send_interval_s * 1000;
        if (p->period_ms % 1000 || p->interval_ms % p->period_ms)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "1/hz (%lld ms) must be whole seconds dividing send_interval_s",
                              (long long)p->period_ms);
        p->trigger = FP_TRIG_PERIODIC;
    } else {
        const char *trig = json_string_value(json_object_get(jp, "trigger"));
        if (!trig || (strcmp(trig, "vehicle_event") && strcmp(trig, "command")))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "event protocols need \"trigger\": \"vehicle_event\" or \"command\"");
        if (json_object_get(jp, "hz") || json_object_get(jp, "send_interval_s") || p->per_zone)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "hz, send_interval_s and per_zone are for periodic protocols");
        p->trigger = !strcmp(trig, "command") ? FP_TRIG_COMMAND : FP_TRIG_VEHICLE_EVENT;
    }
    json_t *fields = json_object_get(jp, "fields");
    if (!json_is_array(fields) || json_array_size(fields) == 0)
        return fp_err_set(err, FP_ERR_CONFIG, "\"fields\" must be a non-empty array");
    p->nfields = json_array_size(fields);
    p->fields = fp_xcalloc(p->nfields, sizeof *p->fields);
    p->lat_field = p->lng_field = p->odo_field = p->volt_field = -1;
    for (size_t i = 0; i < p->nfields; i++) {
        fp_code rc = load_field(p, json_array_get(fields, i), &p->fields[i], err);
        if (rc)
            return fp_err_prefix(err, "fields[%zu]", i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->fields[j].name, p->fields[i].name))
                return fp_err_set(err, FP_ERR_CONFIG, "fields[%zu]: duplicate field name %s", i,
                                  p->fields[i].name);
        fp_sim_field *f = &p->fields[i];
        if (f->kind != FP_FIELD_SIGNAL)
            continue;
        if (f->signal == FP_SIG_LAT)
            p->lat_field = (int)i;
        if (f->signal == FP_SIG_LNG)
            p->lng_field = (int)i;
        if (f->signal == FP_SIG_ODOMETER_KM)
            p->odo_field = (int)i;
        if (f->signal == FP_SIG_BATTERY_VOLTAGE)
            p->volt_field = (int)i;
        static const char *const envelope[] = {"object",      "type", "id",           "device_id",
                                               "messaged_at", "seq",  "measurements", NULL};
        for (int e = 0; envelope[e]; e++)
            if (!strcmp(f->name, envelope[e]))
                return fp_err_set(err, FP_ERR_CONFIG,
                                  "fields[%zu]: %s is an envelope field, not a protocol field", i,
                                  f->name);
    }
    /* Anomalies that make sense for this protocol (see anomaly.c for what each one does). */
    uint32_t a = 1u << FP_SIM_ANOM_TIME_SKEW | 1u << FP_SIM_ANOM_DUPLICATE |
                 1u << FP_SIM_ANOM_OUT_OF_ORDER | 1u << FP_SIM_ANOM_MALFORMED_JSON |
                 1u << FP_SIM_ANOM_MISSING_FIELD | 1u << FP_SIM_ANOM_SPOOFED_TOPIC;
    if (p->pub.periodic) {
        a |= 1u << FP_SIM_ANOM_STUCK_SENSOR;
        if (p->lat_field >= 0 && p->lng_field >= 0)
            a |= 1u << FP_SIM_ANOM_GPS_JUMP;
        if (p->odo_field >= 0)
            a |= 1u << FP_SIM_ANOM_ODOMETER_BACK;
    }
    if (p->volt_field >= 0)
        a |= 1u << FP_SIM_ANOM_VOLTAGE_RANGE;
    p->anomalies = a;
    /* 18 + 32 for the timestamp and braces; a number is at most 21 bytes, a bool 5. */
    p->sample_bytes = 64;
    for (size_t i = 0; i < p->nfields; i++) {
        size_t longest = 32;
        for (size_t k = 0; k < p->fields[i].ntexts; k++)
            if (p->fields[i].text_len[k] > longest)
                longest = p->fields[i].text_len[k];
        p->sample_bytes += p->fields[i].key_len + longest;
    }
    return FP_OK;
}

static fp_sim_registry *load_text(const char *text, size_t len, const char *what, fp_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fp_err_set(err, FP_ERR_CONFIG, "%s: line %d column %d: %s", what, je.line, je.column,
                   je.text);
        return NULL;
    }
    json_t *protos = json_object_get(root, "protocols");
    if (!json_is_object(root) || !json_is_array(protos) || json_array_size(protos) == 0) {
        json_decref(root);
        fp_err_set(err, FP_ERR_CONFIG, "%s: expected {\"protocols\": [ ... ]} with entries", what);
        return NULL;
    }
    fp_sim_registry *r = fp_xcalloc(1, sizeof *r);
    r->nall = json_array_size(protos);
    r->all = fp_xcalloc(r->nall, sizeof *r->all);
    r->sel = fp_xcalloc(r->nall, sizeof *r->sel);
    for (size_t i = 0; i < r->nall; i++) {
        fp_sim_proto *p = &r->all[i];
        p->index = i;
        json_t *jp = json_array_get(protos, i);
        fp_code rc = load_proto(jp, p, err);
        if (!rc)
            for (size_t j = 0; j < i; j++)
                if (!strcmp(r->all[j].pub.object, p->pub.object) &&
                    !strcmp(r->all[j].pub.type, p->pub.type))
                    rc = fp_err_set(err, FP_ERR_CONFIG, "duplicate of protocols[%zu]", j);
        if (rc) {
            const char *o = json_string_value(json_object_get(jp, "object"));
            const char *t = json_string_value(json_object_get(jp, "type"));
            fp_err_prefix(err, "%s: protocols[%zu] %s/%s", what, i, o ? o : "?", t ? t : "?");
            json_decref(root);
            r->nall = i + 1;
            fp_sim_registry_free(r);
            return NULL;
        }
        r->sel[r->nsel++] = i;
    }
    json_decref(root);
    return r;
}

fp_sim_registry *fp_sim_registry_load(const char *path, fp_err *err)
{
    if (!path)
        return load_text(fp_sim_builtin_protocols, fp_sim_builtin_protocols_len,
                         "built-in protocols.json", err);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fp_err_set(err, FP_ERR_CONFIG, "%s: cannot open: %m", path);
        return NULL;
    }
    fp_buf b = FP_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fp_buf_append(&b, chunk, n);
    bool ioerr = ferror(f);
    fclose(f);
    fp_sim_registry *r = NULL;
    if (ioerr)
        fp_err_set(err, FP_ERR_CONFIG, "%s: read error", path);
    else
        r = load_text(b.p ? b.p : "", b.len, path, err);
    fp_buf_free(&b);
    return r;
}

size_t fp_sim_registry_count(const fp_sim_registry *r)
{
    return r->nsel;
}

const fp_sim_protocol *fp_sim_registry_get(const fp_sim_registry *r, size_t i)
{
    return i < r->nsel ? &r->all[r->sel[i]].pub : NULL;
}

size_t fp_sim_registry_all_count(const fp_sim_registry *r)
{
    return r->nall;
}

const fp_sim_proto *fp_sim_registry_all(const fp_sim_registry *r, size_t i)
{
    return &r->all[i];
}

bool fp_sim_registry_selected(const fp_sim_registry *r, size_t i)
{
    for (size_t k = 0; k < r->nsel; k++)
        if (r->sel[k] == i)
            return true;
    return false;
}

fp_code fp_sim_registry_select(fp_sim_registry *r, const char *list, fp_err *err)
{
    bool *want = fp_xcalloc(r->nall, sizeof *want);
    fp_strv items;
    fp_strv_split(&items, list ? list : "", ',');
    fp_code rc = FP_OK;
    for (size_t i = 0; i < items.n && !rc; i++) {
        const char *it = items.v[i];
        size_t k = 0;
        for (; k < r->nall; k++) {
            size_t on = strlen(r->all[k].pub.object);
            if (!strncmp(it, r->all[k].pub.object, on) && it[on] == '/' &&
                !strcmp(it + on + 1, r->all[k].pub.type))
                break;
        }
        if (k == r->nall)
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "unknown protocol \"%s\" (expected object/type, e.g. "
                            "vehicle/kinematic)",
                            it);
        else
            want[k] = true;
    }
    fp_strv_free(&items);
    if (!rc) {
        r->nsel = 0;
        for (size_t k = 0; k < r->nall; k++)
            if (want[k])
                r->sel[r->nsel++] = k;
    }
    free(want);
    return rc;
}

bool fp_sim_registry_has_object(const fp_sim_registry *r, const char *object, size_t n)
{
    for (size_t k = 0; k < r->nall; k++)
        if (strlen(r->all[k].pub.object) == n && !memcmp(r->all[k].pub.object, object, n))
            return true;
    return false;
}

bool fp_sim_registry_has_type(const fp_sim_registry *r, const char *object, size_t on,
                              const char *type, size_t tn)
{
    for (size_t k = 0; k < r->nall; k++)
        if (strlen(r->all[k].pub.object) == on && !memcmp(r->all[k].pub.object, object, on) &&
            strlen(r->all[k].pub.type) == tn && !memcmp(r->all[k].pub.type, type, tn))
            return true;
    return false;
}

char **fp_sim_registry_objects(const fp_sim_registry *r)
{
    size_t n = fp_sim_registry_count(r), k = 0;
    char **v = fp_xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const char *o = fp_sim_registry_get(r, i)->object;
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++)
            seen = !strcmp(v[j], o);
        if (!seen)
            v[k++] = fp_xstrdup(o);
    }
    return v;
}

void fp_sim_registry_objects_free(char **objects)
{
    for (char **p = objects; p && *p; p++)
        free(*p);
    free(objects);
}
