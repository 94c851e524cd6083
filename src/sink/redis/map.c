/* map.c — the redis sink's pure parts: its Lua script and one record turned into the
 * arguments of one EVALSHA (see redis.h). No I/O here; nothing depends on a server.
 *
 * The script is the whole state model. Per field it keeps the newest value under <field> and
 * its sample time under <field>:ts; a sample older than the stored time loses, and of two with
 * an equal time the greater value (byte order) wins, as Cassandra breaks last-write-wins ties:
 * the outcome then depends on no arrival order, so a replay — which meets the stored winner
 * again — changes nothing. (Letting the later arrival win instead made a replay of two
 * equal-time samples flip the field twice, publishing both.) It writes only what differs, so a
 * replay costs reads only, and it publishes only fields whose value changed, so a replay publishes
 * nothing. Numbers compare as Lua doubles: check() bounds sample times to years 1..9999, well
 * inside 2^53 ms, so the comparison is exact.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/time.h"
#include "core/url.h"
#include "sink/redis/redis.h"

const char fp_redis_script[] =
    "local ts = tonumber(ARGV[1])\n"
    "local n = (#ARGV - 7) / 2\n"
    "if n < 1 then return 0 end\n"
    "local q = {}\n"
    "for i = 1, n do\n"
    "  local f = ARGV[6 + 2 * i]\n"
    "  q[2 * i - 1] = f\n"
    "  q[2 * i] = f .. ':ts'\n"
    "end\n"
    "q[2 * n + 1] = 'ts'\n"
    "local cur = redis.call('HMGET', KEYS[1], unpack(q))\n"
    "local set, won, out = {}, {}, {}\n"
    "local any = false\n"
    "for i = 1, n do\n"
    "  local f, v = ARGV[6 + 2 * i], ARGV[7 + 2 * i]\n"
    "  local old, ots = cur[2 * i - 1], tonumber(cur[2 * i])\n"
    "  if not ots or ts > ots or (ts == ots and (not old or v >= old)) then\n"
    "    won[i] = true\n"
    "    any = true\n"
    "    if old ~= v or ots ~= ts then\n"
    "      set[#set + 1] = f\n"
    "      set[#set + 1] = v\n"
    "      set[#set + 1] = f .. ':ts'\n"
    "      set[#set + 1] = ARGV[1]\n"
    "    end\n"
    "    if old ~= v then\n"
    "      local t = string.sub(ARGV[4], i + 1, i + 1)\n"
    "      out[#out + 1] = cjson.encode(f) .. ':' .. (t == 's' and cjson.encode(v) or v)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local hts = tonumber(cur[2 * n + 1])\n"
    "if any and (not hts or ts > hts) then\n"
    "  set[#set + 1] = 'ts'\n"
    "  set[#set + 1] = ARGV[1]\n"
    "end\n"
    "if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end\n"
    "if any and not hts and KEYS[4] ~= '' then\n"
    "  redis.call('ZADD', KEYS[4], tonumber(ARGV[2]) or 0, ARGV[2])\n"
    "end\n"
    "local la, lo = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "if KEYS[2] ~= '' and la > 0 and won[la] and won[lo] then\n"
    "  redis.call('GEOADD', KEYS[2], ARGV[7 + 2 * lo], ARGV[7 + 2 * la], ARGV[2])\n"
    "end\n"
    "if #out > 0 and (ARGV[3] ~= '' or KEYS[3] ~= '') then\n"
    "  local id = ARGV[2]\n"
    "  if string.sub(ARGV[4], 1, 1) == 's' then id = cjson.encode(id) end\n"
    "  local msg = '{\"id\":' .. id .. ',\"ts\":' .. ARGV[1] ..\n"
    "              ',\"fields\":{' .. table.concat(out, ',') .. '}}'\n"
    "  if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], msg) end\n"
    "  if KEYS[3] ~= '' then\n"
    "    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'd', msg)\n"
    "  end\n"
    "end\n"
    "return #out\n";

/* ---------------------------------------------------------------- arguments */

void fp_redis_args_reset(fp_redis_args *a)
{
    fp_buf_reset(&a->buf);
    a->n = 0;
}

void fp_redis_args_add(fp_redis_args *a, const char *p, size_t n)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->off = fp_xrealloc(a->off, a->cap * sizeof *a->off);
        a->len = fp_xrealloc(a->len, a->cap * sizeof *a->len);
    }
    a->off[a->n] = a->buf.len;
    a->len[a->n] = n;
    a->n++;
    fp_buf_append(&a->buf, p, n);
}

/* Starts an argument whose bytes the caller appends to a->buf; arg_end() closes it. */
static void arg_begin(fp_redis_args *a)
{
    fp_redis_args_add(a, "", 0);
}

static void arg_end(fp_redis_args *a)
{
    a->len[a->n - 1] = a->buf.len - a->off[a->n - 1];
}

void fp_redis_args_seal(fp_redis_args *a)
{
    if (a->argv_cap < a->n) {
        a->argv_cap = a->cap;
        a->argv = fp_xrealloc(a->argv, a->argv_cap * sizeof *a->argv);
        a->argvlen = fp_xrealloc(a->argvlen, a->argv_cap * sizeof *a->argvlen);
    }
    for (size_t i = 0; i < a->n; i++) {
        a->argv[i] = a->buf.p + a->off[i];
        a->argvlen[i] = a->len[i];
    }
}

void fp_redis_args_free(fp_redis_args *a)
{
    if (!a)
        return;
    fp_buf_free(&a->buf);
    free(a->off);
    free(a->len);
    free(a->argv);
    free(a->argvlen);
    *a = (fp_redis_args){0};
}

/* ---------------------------------------------------------------- mapping */

static bool hash_name_reserved(const char *p, size_t n)
{
    return (n == 2 && !memcmp(p, "ts", 2)) || (n >= 3 && !memcmp(p + n - 3, ":ts", 3));
}

fp_code fp_redis_map_conf_check(const fp_redis_map_conf *mc, fp_err *err)
{
    if (!mc->id_field[0] || !mc->ts_field[0])
        return fp_err_set(err, FP_ERR_CONFIG,
                          "redis.id.field and redis.timestamp.field are "
                          "required");
    if (mc->suffix && *mc->suffix) {
        const char *b = strstr(mc->suffix, "${"), *e = b ? strchr(b, '}') : NULL;
        if (!b || !e || e == b + 2 || strstr(e, "${") || strchr(mc->suffix, ':'))
            return fp_err_set(
                err, FP_ERR_CONFIG,
                "redis.field.suffix '%s': expected text with one ${field} and no ':', "
                "e.g. \".z${zone}\"",
                mc->suffix);
    }
    bool geo = mc->geo_key[0] != '\0';
    if (geo && (!mc->lat_field[0] || !mc->lng_field[0] || !strcmp(mc->lat_field, mc->lng_field)))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "redis.geo.lat.field and redis.geo.lng.field must be two names");
    bool lat = false, lng = false;
    for (size_t i = 0; i < mc->fields->n; i++) {
        const char *f = mc->fields->v[i];
        if (!strcmp(f, mc->id_field) || !strcmp(f, mc->ts_field))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "redis.fields: '%s' is the id or timestamp field, which the hash "
                              "holds as its key and as <field>:ts",
                              f);
        if (hash_name_reserved(f, strlen(f)))
            return fp_err_set(err, FP_ERR_CONFIG,
                              "redis.fields: '%s' would clash with the hash's own 'ts' / "
                              "'<field>:ts' names",
                              f);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(f, mc->fields->v[j]))
                return fp_err_set(err, FP_ERR_CONFIG, "redis.fields: '%s' listed twice", f);
        lat |= !strcmp(f, mc->lat_field);
        lng |= !strcmp(f, mc->lng_field);
    }
    if (geo && mc->fields->n && (!lat || !lng))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "redis.fields must include '%s' and '%s' while redis.geo.key is set "
                          "(the position moves when they win)",
                          mc->lat_field, mc->lng_field);
    return FP_OK;
}

/* One field found in the record: its decoded name and raw value. */
typedef struct field {
    fp_span name; /* decoded (points into the scratch buffer or the record) */
    size_t name_off;
    bool name_in_scratch;
    fp_span val;
} field;

typedef struct mapper {
    const fp_redis_map_conf *mc;
    fp_buf names; /* decoded names of escaped keys */
    field *f;
    size_t n, cap;
} mapper;

static fp_span field_name(const mapper *m, const field *f)
{
    if (f->name_in_scratch)
        return (fp_span){m->names.p + f->name_off, f->name.n};
    return f->name;
}

/* Adds a member; a later duplicate replaces an earlier one (JSON.parse: the last one wins). */
static fp_code add_field(mapper *m, fp_span key, bool esc, fp_span val, fp_err *err)
{
    field nf = {key, 0, false, val};
    if (esc) {
        nf.name_off = m->names.len;
        fp_json_unescape(key, &m->names);
        nf.name.n = m->names.len - nf.name_off;
        nf.name_in_scratch = true;
    }
    fp_span nm = field_name(m, &nf);
    for (size_t i = 0; i < m->n; i++) {
        fp_span o = field_name(m, &m->f[i]);
        if (o.n == nm.n && !memcmp(o.p, nm.p, nm.n)) {
            m->f[i].val = val;
            return FP_OK;
        }
    }
    if (m->n >= FP_REDIS_FIELDS_MAX)
        return fp_err_set(err, FP_ERR_LIMIT, "more than %d fields", FP_REDIS_FIELDS_MAX);
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->f = fp_xrealloc(m->f, m->cap * sizeof *m->f);
    }
    m->f[m->n++] = nf;
    return FP_OK;
}

static bool span_eq(fp_span s, const char *z)
{
    size_t n = strlen(z);
    return s.n == n && !memcmp(s.p, z, n);
}

/* Strings unescaped, everything else as compact JSON text. */
static void append_value(fp_buf *b, fp_span v)
{
    if (fp_json_type_of(v.p) == FP_JSON_STRING)
        fp_json_unescape((fp_span){v.p + 1, v.n - 2}, b);
    else
        fp_redis_json_compact(v.p, v.n, b);
}

static void put_value(fp_redis_args *a, fp_span v)
{
    arg_begin(a);
    append_value(&a->buf, v);
    arg_end(a);
}

static fp_code parse_ts(const mapper *m, fp_span v, int64_t *ts, fp_err *err)
{
    const char *tf = m->mc->ts_field;
    fp_json_type t = fp_json_type_of(v.p);
    if (t == FP_JSON_STRING) {
        fp_buf b = FP_BUF_INIT;
        fp_json_unescape((fp_span){v.p + 1, v.n - 2}, &b);
        fp_code rc = fp_time_parse_iso(b.p ? b.p : "", b.len, ts, err);
        fp_buf_free(&b);
        if (rc)
            return fp_err_prefix(err, "timestamp field '%s'", tf);
    } else if (t == FP_JSON_NUMBER) {
        char num[32];
        if (v.n >= sizeof num)
            return fp_err_set(err, FP_ERR_INVALID, "timestamp field '%s': number too long", tf);
        memcpy(num, v.p, v.n);
        num[v.n] = '\0';
        if (fp_parse_i64(num, ts))
            return fp_err_set(err, FP_ERR_INVALID,
                              "timestamp field '%s': %s is not integer epoch ms", tf, num);
    } else {
        return fp_err_set(err, FP_ERR_INVALID,
                          "timestamp field '%s' is neither ISO-8601 text nor integer epoch ms", tf);
    }
    /* years 1..9999: exact as a Lua double, and what ISO-8601 text can say */
    if (*ts < -62135596800000LL || *ts > 253402300799999LL)
        return fp_err_set(err, FP_ERR_INVALID, "timestamp field '%s': out of range (years 1-9999)",
                          tf);
    return FP_OK;
}

static fp_code check_coord(const char *name, fp_span v, double lim, fp_err *err)
{
    if (fp_json_type_of(v.p) != FP_JSON_NUMBER)
        return fp_err_set(err, FP_ERR_INVALID, "position field '%s' is not a number", name);
    char num[64];
    if (v.n >= sizeof num)
        return fp_err_set(err, FP_ERR_INVALID, "position field '%s': number too long", name);
    memcpy(num, v.p, v.n);
    num[v.n] = '\0';
    double d = strtod(num, NULL);
    if (!isfinite(d) || d < -lim || d > lim)
        return fp_err_set(err, FP_ERR_INVALID, "position field '%s': %s is outside -%g..%g", name,
                          num, lim, lim);
    return FP_OK;
}

static fp_code map_fields(mapper *m, fp_span obj, fp_span *id, fp_span *tsv, fp_err *err)
{
    const fp_redis_map_conf *mc = m->mc;
    fp_json_iter it;
    fp_json_iter_init(&it, obj);
    fp_span k, v;
    bool esc;
    bool all = mc->fields->n == 0;
    size_t idn = strlen(mc->id_field), tsn = strlen(mc->ts_field);
    while (fp_json_obj_next(&it, &k, &esc, &v)) {
        if (fp_json_key_eq(k, esc, mc->id_field, idn)) {
            *id = v;
            continue;
        }
        if (fp_json_key_eq(k, esc, mc->ts_field, tsn)) {
            *tsv = v;
            continue;
        }
        if (!all)
            continue;
        fp_code rc = add_field(m, k, esc, v, err);
        if (rc)
            return rc;
    }
    if (!all) {
        for (size_t i = 0; i < mc->fields->n; i++) {
            const char *f = mc->fields->v[i];
            if (!fp_json_obj_get(obj, f, strlen(f), &v))
                continue;
            fp_code rc = add_field(m, (fp_span){f, strlen(f)}, false, v, err);
            if (rc)
                return rc;
        }
    }
    return FP_OK;
}

/* The field-name suffix of redis.field.suffix ("<text>${field}<text>") for this record, and
 * the named field taken out of m: it is part of every name instead of a value of its own. */
static fp_code render_suffix(mapper *m, fp_span obj, fp_buf *out, fp_err *err)
{
    const char *t = m->mc->suffix;
    if (!t || !*t)
        return FP_OK;
    const char *b = strstr(t, "${"), *e = b ? strchr(b, '}') : NULL;
    fp_span want = {b + 2, (size_t)(e - b - 2)}, v = {NULL, 0};
    for (size_t i = 0; i < m->n && !v.p; i++) {
        fp_span nm = field_name(m, &m->f[i]);
        if (nm.n != want.n || memcmp(nm.p, want.p, nm.n))
            continue;
        v = m->f[i].val;
        memmove(&m->f[i], &m->f[i + 1], (m->n - i - 1) * sizeof *m->f);
        m->n--;
    }
    /* not among the fields kept (redis.fields names others): the record has it */
    if (!v.p && !fp_json_obj_get(obj, want.p, want.n, &v))
        return fp_err_set(err, FP_ERR_INVALID, "redis.field.suffix: field '%.*s' missing",
                          (int)want.n, want.p);
    fp_json_type vt = fp_json_type_of(v.p);
    if (vt != FP_JSON_STRING && vt != FP_JSON_NUMBER)
        return fp_err_set(err, FP_ERR_INVALID,
                          "redis.field.suffix: field '%.*s' must be a string or a number",
                          (int)want.n, want.p);
    fp_buf_append(out, t, (size_t)(b - t));
    append_value(out, v);
    fp_buf_puts(out, e + 1);
    return FP_OK;
}

fp_code fp_redis_map(const fp_redis_map_conf *mc, const char *json, size_t len, fp_redis_args *out,
                     int64_t *ts, fp_err *err)
{
    fp_span obj = {json, len};
    while (obj.n && (*obj.p == ' ' || *obj.p == '\t' || *obj.p == '\n' || *obj.p == '\r'))
        obj.p++, obj.n--;
    if (!obj.n || fp_json_type_of(obj.p) != FP_JSON_OBJECT)
        return fp_err_set(err, FP_ERR_INVALID, "record is not a JSON object");
    mapper m = {mc, FP_BUF_INIT, NULL, 0, 0};
    fp_buf suffix = FP_BUF_INIT;
    fp_span id = {NULL, 0}, tsv = {NULL, 0};
    fp_code rc = map_fields(&m, obj, &id, &tsv, err);
    if (rc)
        goto done;
    fp_json_type idt = id.p ? fp_json_type_of(id.p) : FP_JSON_INVALID;
    if (!id.p || idt == FP_JSON_NULL) {
        rc = fp_err_set(err, FP_ERR_INVALID, "id field '%s' missing", mc->id_field);
        goto done;
    }
    if (idt != FP_JSON_STRING && idt != FP_JSON_NUMBER) {
        rc = fp_err_set(err, FP_ERR_INVALID, "id field '%s' must be a string or a number",
                        mc->id_field);
        goto done;
    }
    if (idt == FP_JSON_STRING && id.n == 2) {
        rc = fp_err_set(err, FP_ERR_INVALID, "id field '%s' is empty", mc->id_field);
        goto done;
    }
    if (!tsv.p || fp_json_type_of(tsv.p) == FP_JSON_NULL) {
        rc = fp_err_set(err, FP_ERR_INVALID, "timestamp field '%s' missing", mc->ts_field);
        goto done;
    }
    rc = parse_ts(&m, tsv, ts, err);
    if (rc)
        goto done;
    rc = render_suffix(&m, obj, &suffix, err);
    if (rc)
        goto done;
    /* null fields are skipped; names the hash uses itself are refused, never overwritten */
    size_t kept = 0;
    int lat = 0, lng = 0;
    bool geo = mc->geo_key[0] != '\0';
    for (size_t i = 0; i < m.n; i++) {
        field *f = &m.f[i];
        fp_span nm = field_name(&m, f);
        if (fp_json_type_of(f->val.p) == FP_JSON_NULL)
            continue;
        if (hash_name_reserved(nm.p, nm.n)) {
            rc = fp_err_set(err, FP_ERR_INVALID,
                            "field '%.*s' clashes with the hash's own 'ts' / '<field>:ts' names "
                            "(list the fields to keep in redis.fields)",
                            (int)(nm.n > 100 ? 100 : nm.n), nm.p);
            goto done;
        }
        m.f[kept++] = *f;
        if (geo && span_eq(nm, mc->lat_field))
            lat = (int)kept;
        if (geo && span_eq(nm, mc->lng_field))
            lng = (int)kept;
    }
    m.n = kept;
    if (lat || lng) {
        if (!lat || !lng) {
            rc = fp_err_set(err, FP_ERR_INVALID, "position field '%s' without '%s'",
                            lat ? mc->lat_field : mc->lng_field,
                            lat ? mc->lng_field : mc->lat_field);
            goto done;
        }
        rc = check_coord(mc->lat_field, m.f[lat - 1].val, FP_REDIS_LAT_MAX, err);
        if (!rc)
            rc = check_coord(mc->lng_field, m.f[lng - 1].val, 180.0, err);
        if (rc)
            goto done;
    }
    if (!out)
        goto done;
    fp_redis_args_add(out, "4", 1);
    arg_begin(out);
    fp_buf_puts(&out->buf, mc->key_prefix);
    append_value(&out->buf, id);
    arg_end(out);
    fp_redis_args_add(out, mc->geo_key, strlen(mc->geo_key));
    fp_redis_args_add(out, mc->stream_key, strlen(mc->stream_key));
    fp_redis_args_add(out, mc->index_key, strlen(mc->index_key));
    char num[32];
    int nn = snprintf(num, sizeof num, "%lld", (long long)*ts);
    fp_redis_args_add(out, num, (size_t)nn);
    put_value(out, id);
    fp_redis_args_add(out, mc->channel, strlen(mc->channel));
    arg_begin(out);
    fp_buf_putc(&out->buf, idt == FP_JSON_STRING ? 's' : 'j');
    for (size_t i = 0; i < m.n; i++)
        fp_buf_putc(&out->buf, fp_json_type_of(m.f[i].val.p) == FP_JSON_STRING ? 's' : 'j');
    arg_end(out);
    nn = snprintf(num, sizeof num, "%d", lat);
    fp_redis_args_add(out, num, (size_t)nn);
    nn = snprintf(num, sizeof num, "%d", lng);
    fp_redis_args_add(out, num, (size_t)nn);
    nn = snprintf(num, sizeof num, "%lld", (long long)mc->stream_maxlen);
    fp_redis_args_add(out, num, (size_t)nn);
    for (size_t i = 0; i < m.n; i++) {
        fp_span nm = field_name(&m, &m.f[i]);
        arg_begin(out);
        fp_buf_append(&out->buf, nm.p, nm.n);
        fp_buf_append(&out->buf, suffix.p ? suffix.p : "", suffix.len);
        arg_end(out);
        put_value(out, m.f[i].val);
    }
done:
    fp_buf_free(&suffix);
    fp_buf_free(&m.names);
    free(m.f);
    return rc;
}

void fp_redis_json_compact(const char *p, size_t n, fp_buf *out)
{
    fp_buf_reserve(out, n);
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            out->p[out->len++] = c;
            if (c == '\\' && i + 1 < n)
                out->p[out->len++] = p[++i];
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == '"')
            in_str = true;
        out->p[out->len++] = c;
    }
    out->p[out->len] = '\0';
}
