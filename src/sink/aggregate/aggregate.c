/* aggregate.c — the `aggregate` connector: event-time tumbling windows over the transformed
 * records (a SplitArrayField first makes a batch message into samples), results to a Kafka
 * topic, one record per (group key, window).
 *
 * Delivery. Window results go out on the runtime's producer (fp_sink_ctx.produce) and the
 * runtime waits for their delivery before it commits; a partition's commit is the first offset
 * an open window still needs, with the partition's watermark and next unput offset as the
 * commit's metadata ("fpagg1 w=<ms> p=<offset>"). After a crash, a rebalance or a retry the
 * replay restores both and rebuilds exactly the open windows (window.h), so no output record
 * ever holds a partial window, and a replay re-emits only records identical to earlier ones.
 * A sample for a closed window is dead-lettered one by one (fp_sink_ctx.dead_letter, reason
 * `late`), as is a bad sample (reason `invalid`) and one dated more than aggregate.max.future
 * ahead of the wall clock (reason `future`: a device clock set wrong would otherwise carry its
 * partition's watermark ahead and close every window there); the rest of its message is
 * aggregated. The clock makes `future` the one verdict a replay may not repeat: a sample within
 * max.future of the clock's time at the replay would be aggregated then.
 *
 * Idle. A partition with nothing to read (the task is at its end) and no input for
 * aggregate.idle raises its watermark to the end of its latest open window, so a quiet partition's
 * windows close too (then committed within offset.flush.interval.ms). Budget: past
 * aggregate.max.windows open windows the sink holds the task's consumption (fp_sink_plugin.hold)
 * until windows close; nothing is dropped.
 *
 * Threads and ownership: one instance per task thread, every callback on that thread.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/sink.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sink/aggregate/window.h"

#define META_TAG "fpagg1"
#define GROUP_MAX 16 /* aggregate.group.by fields */

typedef struct ag_conf {
    char *out_topic, *time_field, *emit;
    fp_strv group_by, fields, funcs;
    int64_t window, lateness, idle, emit_interval, max_windows, max_future;
} ag_conf;

static const fp_conf_def ag_defs[] = {
    {"aggregate.output.topic", FP_CONF_STRING, "fms.agg", offsetof(ag_conf, out_topic),
     "Kafka topic of the window results (key <group key>#<window start>)", NULL, 0, 0},
    {"aggregate.window", FP_CONF_MS, "5m", offsetof(ag_conf, window),
     "tumbling window size (UTC-aligned: 5m windows start at :00, :05, ...)", NULL, 1000,
     7LL * 86400000},
    {"aggregate.time.field", FP_CONF_STRING, "timestamp_iso", offsetof(ag_conf, time_field),
     "event time: ISO-8601 with offset, or integer epoch ms; missing or bad: dead letter", NULL, 0,
     0},
    {"aggregate.group.by", FP_CONF_LIST, "id", offsetof(ag_conf, group_by),
     "fields that make the group key (string, number or boolean; missing: dead letter)", NULL, 0,
     0},
    {"aggregate.fields", FP_CONF_LIST, "", offsetof(ag_conf, fields),
     "numeric fields to aggregate (absent or null in a sample: not counted for that field; "
     "another type, NaN or Infinity: dead letter)",
     NULL, 0, 0},
    {"aggregate.functions", FP_CONF_LIST, "count,sum,min,max,avg", offsetof(ag_conf, funcs),
     "per field, of count,sum,min,max,avg,first,last (avg brings sum and count; count is always "
     "written)",
     NULL, 0, 0},
    {"aggregate.lateness", FP_CONF_MS, "2m", offsetof(ag_conf, lateness),
     "watermark = newest event time - lateness; a window closes when the watermark passes its "
     "end, a sample for a closed window is dead-lettered (reason late)",
     NULL, 0, 7LL * 86400000},
    {"aggregate.max.future", FP_CONF_MS, "1h", offsetof(ag_conf, max_future),
     "a sample whose event time is more than this ahead of the wall clock (a device clock set "
     "wrong) is dead-lettered (reason future) and does not move the watermark, which would "
     "otherwise close every window of its partition and make its other vehicles' samples late; "
     "0: no limit",
     NULL, 0, 3650LL * 86400000},
    {"aggregate.idle", FP_CONF_MS, "30s", offsetof(ag_conf, idle),
     "a partition read to its end and without input this long closes its open windows (0: "
     "never); set it above the devices' send interval, or their next batch is late",
     NULL, 0, 7LL * 86400000},
    {"aggregate.emit", FP_CONF_ENUM, "final", offsetof(ag_conf, emit),
     "final: one record per window when it closes; update: also the changed open windows every "
     "aggregate.emit.interval (final:false)",
     "final|update", 0, 0},
    {"aggregate.emit.interval", FP_CONF_MS, "10s", offsetof(ag_conf, emit_interval),
     "update mode: how often changed open windows are emitted", NULL, 100, 3600000},
    {"aggregate.max.windows", FP_CONF_INT, "1000000", offsetof(ag_conf, max_windows),
     "open windows per task before consumption is held until windows close", NULL, 1, 100000000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static const char *const ag_funcs[] = {"count", "sum", "min", "max", "avg", "first", "last"};

typedef struct ag_part {
    char *topic;
    int32_t partition;
    fp_agg_part *st;
    int64_t next;       /* offset after the last record put; -1: none */
    int64_t upto;       /* the replay bound restored from the commit (-1: none) */
    int64_t input_mono; /* last record put (mono ms) */
    char meta[96];      /* scratch for commit_metadata */
} ag_part;

enum { ROLE_TIME, ROLE_GROUP, ROLE_FIELD };

/* A member name a sample is searched for, with its length and what it is for. */
typedef struct ag_name {
    const char *name; /* borrowed from the config */
    size_t len;
    int role, idx; /* ROLE_*, index into group.by or fields */
    int next;      /* the next name in the same by_len list, -1: none */
} ag_name;

#define NAME_LENS 64 /* by_len[]: one list per key length, the last for every longer one */

typedef struct agg {
    ag_conf cf;
    ag_name *names; /* time field, group fields, aggregated fields */
    size_t nnames;
    int by_len[NAME_LENS]; /* first name of each length (a raw key's length first: most keys
                              match none), -1: none */
    fp_buf *gprefix;       /* per group field: ,"<name>": (no comma for the first) */
    fp_agg_spec spec;
    const fp_sink_ctx *ctx;
    bool update;
    ag_part *parts;
    size_t nparts;
    size_t open; /* open windows over all parts */
    int64_t last_emit_mono;
    double *vals;
    bool *has;
    fp_buf key, val, gkey, gjson, num;
    fp_time_iso_cache tcache; /* the last sample's time */
    fp_code emit_rc;          /* the first failed produce since the last put/flush */
    fp_err emit_err;
} agg;

static void ag_destroy(void *sp)
{
    agg *s = sp;
    if (!s)
        return;
    for (size_t i = 0; i < s->nparts; i++) {
        free(s->parts[i].topic);
        fp_agg_part_free(s->parts[i].st);
    }
    free(s->parts);
    free(s->vals);
    free(s->has);
    free(s->names);
    for (size_t i = 0; s->gprefix && i < s->cf.group_by.n; i++)
        fp_buf_free(&s->gprefix[i]);
    free(s->gprefix);
    fp_buf_free(&s->key);
    fp_buf_free(&s->val);
    fp_buf_free(&s->gkey);
    fp_buf_free(&s->gjson);
    fp_buf_free(&s->num);
    fp_conf_free(ag_defs, &s->cf);
    free(s);
}

static fp_code ag_create(fp_props *props, const fp_sink_ctx *ctx, void **out, fp_err *err)
{
    agg *s = fp_xcalloc(1, sizeof *s);
    fp_code rc = fp_conf_apply(ag_defs, props, "", &s->cf, err);
    for (size_t i = 0; !rc && i < s->cf.funcs.n; i++) {
        size_t j = 0;
        while (j < sizeof ag_funcs / sizeof ag_funcs[0] && strcmp(ag_funcs[j], s->cf.funcs.v[i]))
            j++;
        if (j == sizeof ag_funcs / sizeof ag_funcs[0])
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "aggregate.functions \"%s\": unknown function (one of count, sum, "
                            "min, max, avg, first, last)",
                            s->cf.funcs.v[i]);
        else
            s->spec.funcs |= 1u << j;
    }
    if (!rc && s->cf.group_by.n > GROUP_MAX)
        rc = fp_err_set(err, FP_ERR_CONFIG, "aggregate.group.by: at most %d fields", GROUP_MAX);
    if (!rc && !s->cf.out_topic[0])
        rc = fp_err_set(err, FP_ERR_CONFIG, "aggregate.output.topic: must not be empty");
    if (!rc && !s->cf.time_field[0])
        rc = fp_err_set(err, FP_ERR_CONFIG, "aggregate.time.field: must not be empty");
    if (!rc && (!ctx->produce || !ctx->dead_letter))
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "the aggregate connector needs the connect runtime's producer");
    if (rc) {
        ag_destroy(s);
        return rc;
    }
    s->ctx = ctx;
    s->update = !strcmp(s->cf.emit, "update");
    s->spec.size_ms = s->cf.window;
    s->spec.lateness_ms = s->cf.lateness;
    s->spec.nfields = s->cf.fields.n;
    s->spec.fields = s->cf.fields.v;
    s->names = fp_xcalloc(1 + s->cf.group_by.n + s->cf.fields.n, sizeof *s->names);
    s->names[s->nnames++] = (ag_name){s->cf.time_field, strlen(s->cf.time_field), ROLE_TIME, 0, -1};
    s->gprefix = fp_xcalloc(s->cf.group_by.n + 1, sizeof *s->gprefix);
    for (size_t i = 0; i < s->cf.group_by.n; i++) {
        const char *g = s->cf.group_by.v[i];
        s->names[s->nnames++] = (ag_name){g, strlen(g), ROLE_GROUP, (int)i, -1};
        if (i)
            fp_buf_putc(&s->gprefix[i], ',');
        fp_json_quote(&s->gprefix[i], g, strlen(g));
        fp_buf_putc(&s->gprefix[i], ':');
    }
    for (size_t i = 0; i < s->cf.fields.n; i++)
        s->names[s->nnames++] =
            (ag_name){s->cf.fields.v[i], strlen(s->cf.fields.v[i]), ROLE_FIELD, (int)i, -1};
    /* Escaped keys are compared by their decoded name, which may be shorter than the raw key:
     * those go through every name (take_member). Lists keep the names' order. */
    for (size_t i = 0; i < NAME_LENS; i++)
        s->by_len[i] = -1;
    for (size_t i = s->nnames; i-- > 0;) {
        size_t l = s->names[i].len < NAME_LENS ? s->names[i].len : NAME_LENS - 1;
        s->names[i].next = s->by_len[l];
        s->by_len[l] = (int)i;
    }
    s->vals = fp_xcalloc(s->cf.fields.n + 1, sizeof *s->vals);
    s->has = fp_xcalloc(s->cf.fields.n + 1, sizeof *s->has);
    s->last_emit_mono = fp_time_mono_ms();
    *out = s;
    return FP_OK;
}

static ag_part *find_part(agg *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == partition && !strcmp(s->parts[i].topic, topic))
            return &s->parts[i];
    return NULL;
}

static ag_part *get_part(agg *s, const char *topic, int32_t partition)
{
    ag_part *p = find_part(s, topic, partition);
    if (p)
        return p;
    s->parts = fp_xrealloc(s->parts, (s->nparts + 1) * sizeof *s->parts);
    p = &s->parts[s->nparts++];
    *p = (ag_part){fp_xstrdup(topic), partition, fp_agg_part_new(&s->spec, &s->open), -1, -1,
                   fp_time_mono_ms(), ""};
    return p;
}

/* Parses "fpagg1 w=<ms|none> p=<offset>"; anything else: no state (logged). */
static void ag_restore(void *sp, const char *topic, int32_t partition, int64_t committed,
                       const char *meta)
{
    agg *s = sp;
    ag_part *p = get_part(s, topic, partition);
    int64_t w = FP_AGG_NONE, upto = -1;
    if (committed >= 0 && *meta) {
        char wbuf[24];
        long long pv;
        if (sscanf(meta, META_TAG " w=%23s p=%lld", wbuf, &pv) == 2) {
            upto = pv;
            w = strcmp(wbuf, "none") ? strtoll(wbuf, NULL, 10) : FP_AGG_NONE;
        } else {
            fp_log(FP_LOG_WARN, s->ctx->connector, s->ctx->task,
                   "%s/%" PRId32 ": commit metadata \"%.60s\" is not the aggregate's; starting "
                   "with no watermark (windows around offset %" PRId64 " may be partial)",
                   topic, partition, meta, committed);
        }
    } else if (committed >= 0) {
        fp_log(FP_LOG_WARN, s->ctx->connector, s->ctx->task,
               "%s/%" PRId32 ": the commit at offset %" PRId64
               " carries no watermark (another connector class, or a broker that drops commit "
               "metadata); windows around it may be partial",
               topic, partition, committed);
    }
    fp_agg_part_restore(p->st, w, upto);
    p->next = committed;
    p->upto = upto;
    p->input_mono = fp_time_mono_ms();
}

static fp_sink_rc ag_open(void *sp, const char *topic, int32_t partition, fp_err *err)
{
    (void)err;
    get_part(sp, topic, partition);
    return FP_SINK_OK;
}

static void ag_close(void *sp, const char *topic, int32_t partition)
{
    agg *s = sp;
    ag_part *p = find_part(s, topic, partition);
    if (!p)
        return;
    free(p->topic);
    fp_agg_part_free(p->st);
    *p = s->parts[--s->nparts];
}

/* fp_agg_emit_fn: one result record onto the runtime's producer. */
static void emit_window(void *ctx, fp_agg_win *w, bool final)
{
    agg *s = ctx;
    if (s->emit_rc)
        return; /* the put/flush answers RETRY: everything is replayed */
    fp_buf_reset(&s->key);
    fp_buf_reset(&s->val);
    fp_agg_win_key(w, &s->key);
    fp_agg_win_value(&s->spec, w, final, &s->val);
    s->emit_rc = s->ctx->produce(s->ctx->task_arg, s->cf.out_topic, s->key.p, s->key.len, s->val.p,
                                 s->val.len, &s->emit_err);
    if (!s->emit_rc) {
        atomic_fetch_add(&s->ctx->stats->objects, 1);
        atomic_fetch_add(&s->ctx->stats->bytes, s->val.len);
    }
}

/* Whether a raw member key is the name (length first: most keys are not wanted). */
static bool name_is(fp_span key, bool esc, const ag_name *nm)
{
    if (!esc) { /* short names: a byte loop beats a call to memcmp */
        if (key.n != nm->len)
            return false;
        for (size_t i = 0; i < key.n; i++)
            if (key.p[i] != nm->name[i])
                return false;
        return true;
    }
    return fp_json_key_eq(key, esc, nm->name, nm->len);
}

/* What one walk over a sample's members collects. */
typedef struct ag_walk {
    fp_span tv, gv[GROUP_MAX];
    bool have_t, gh[GROUP_MAX];
    size_t found; /* names matched so far */
} ag_walk;

/* One member of a sample: noted if it is the time or a group field, parsed into s->vals/has if
 * it is an aggregated field (FP_ERR_INVALID: not a finite number). */
static fp_code take_member(agg *s, ag_walk *w, fp_span k, bool esc, fp_span v, fp_err *err)
{
    int n = esc ? 0 : s->by_len[k.n < NAME_LENS ? k.n : NAME_LENS - 1];
    for (; n >= 0 && (size_t)n < s->nnames; n = esc ? n + 1 : s->names[n].next) {
        const ag_name *nm = &s->names[n];
        if (!name_is(k, esc, nm))
            continue;
        w->found++;
        if (nm->role == ROLE_TIME) {
            w->tv = v;
            w->have_t = true;
        } else if (nm->role == ROLE_GROUP) {
            w->gv[nm->idx] = v;
            w->gh[nm->idx] = true;
        } else {
            size_t i = nm->idx;
            fp_json_type t = fp_json_type_of(v.p);
            s->has[i] = false;
            if (t == FP_JSON_NULL)
                continue;
            if (t != FP_JSON_NUMBER)
                return fp_err_set(err, FP_ERR_INVALID, "field %s: %.40s is not a number", nm->name,
                                  v.p);
            double d;
            fp_json_number(v.p, v.n, NULL, &d);
            if (!isfinite(d))
                return fp_err_set(err, FP_ERR_INVALID, "field %s: %.*s is not a finite double",
                                  nm->name, (int)(v.n < 40 ? v.n : 40), v.p);
            s->vals[i] = d;
            s->has[i] = true;
        }
    }
    return FP_OK;
}

/* Reads one sample into s->vals/has, the group key and JSON in one walk over its members (the
 * chain's member table when the runtime passes it, else the JSON); FP_ERR_INVALID says why. */
static fp_code parse_sample(agg *s, const fp_sink_rec *r, int64_t *ts, fp_err *err)
{
    const ag_conf *cf = &s->cf;
    ag_walk w; /* not zeroed whole: a memset per sample showed in the profile */
    w.have_t = false;
    w.found = 0;
    for (size_t i = 0; i < cf->group_by.n; i++)
        w.gh[i] = false;
    for (size_t i = 0; i < cf->fields.n; i++)
        s->has[i] = false;
    fp_code rc = FP_OK;
    if (r->members) {
        /* each key once: done when every name has been seen */
        for (size_t i = 0; !rc && i < r->nmembers && w.found < s->nnames; i++) {
            const fp_xform_member *m = &r->members[i];
            rc = take_member(s, &w, (fp_span){r->value + m->k, m->kn}, m->kesc,
                             (fp_span){r->value + m->v, m->vn}, err);
        }
    } else {
        fp_span k, v;
        bool esc;
        fp_json_iter it;
        fp_json_iter_init(&it, (fp_span){r->value, r->len});
        while (!rc && fp_json_obj_next(&it, &k, &esc, &v))
            rc = take_member(s, &w, k, esc, v, err);
    }
    if (rc)
        return rc;
    fp_span tv = w.tv, *gv = w.gv;
    bool have_t = w.have_t, *gh = w.gh;
    if (!have_t)
        return fp_err_set(err, FP_ERR_INVALID, "time field %s: missing", cf->time_field);
    fp_json_type tt = fp_json_type_of(tv.p);
    if (tt == FP_JSON_STRING) {
        if (fp_time_parse_iso_cached(&s->tcache, tv.p + 1, tv.n - 2, ts, err))
            return fp_err_prefix(err, "time field %s", cf->time_field);
    } else if (tt == FP_JSON_NUMBER) {
        fp_buf_reset(&s->num);
        fp_buf_append(&s->num, tv.p, tv.n);
        char *end;
        long long ms = strtoll(s->num.p, &end, 10);
        if (*end || ms < -62135596800000LL || ms > 253402300799999LL)
            return fp_err_set(err, FP_ERR_INVALID,
                              "time field %s: %.40s is not integer epoch ms in years 1..9999",
                              cf->time_field, s->num.p);
        *ts = ms;
    } else {
        return fp_err_set(err, FP_ERR_INVALID,
                          "time field %s: %.40s is neither a string nor a number", cf->time_field,
                          tv.p);
    }
    fp_buf_reset(&s->gkey);
    fp_buf_reset(&s->gjson);
    for (size_t i = 0; i < cf->group_by.n; i++) {
        const char *g = cf->group_by.v[i];
        fp_json_type t = gh[i] ? fp_json_type_of(gv[i].p) : FP_JSON_NULL;
        if (t == FP_JSON_NULL)
            return fp_err_set(err, FP_ERR_INVALID, "group field %s: missing", g);
        if (t == FP_JSON_OBJECT || t == FP_JSON_ARRAY)
            return fp_err_set(err, FP_ERR_INVALID,
                              "group field %s: an object or array cannot be a group key", g);
        if (i)
            fp_buf_putc(&s->gkey, '#');
        fp_span inner = {gv[i].p + 1, gv[i].n - 2};
        if (t != FP_JSON_STRING)
            fp_buf_append(&s->gkey, gv[i].p, gv[i].n);
        else if (memchr(inner.p, '\\', inner.n))
            fp_json_unescape(inner, &s->gkey);
        else
            fp_buf_append(&s->gkey, inner.p, inner.n);
        /* "<name>": (with the comma after the first) precomputed at create */
        fp_buf_append(&s->gjson, s->gprefix[i].p, s->gprefix[i].len);
        fp_buf_append(&s->gjson, gv[i].p, gv[i].n);
    }
    return FP_OK;
}

/* The dead-letter hook's answer as a put() answer. */
static fp_sink_rc dead_letter(agg *s, const fp_sink_rec *r, int idx, const char *reason,
                              const char *msg, fp_err *err)
{
    fp_code rc = s->ctx->dead_letter(s->ctx->task_arg, r, idx, reason, msg, err);
    if (!rc)
        return FP_SINK_OK;
    return rc == FP_ERR_INVALID ? FP_SINK_ERROR : FP_SINK_RETRY;
}

static fp_sink_rc emit_answer(agg *s, fp_err *err)
{
    if (!s->emit_rc)
        return FP_SINK_OK;
    *err = s->emit_err;
    s->emit_rc = FP_OK;
    fp_err_prefix(err, "window result");
    return FP_SINK_RETRY;
}

static fp_sink_rc ag_put(void *sp, fp_sink_rec *recs, size_t n, fp_err *err)
{
    agg *s = sp;
    int64_t now = fp_time_mono_ms();
    int64_t future = s->cf.max_future > 0 ? fp_time_now_ms() + s->cf.max_future : INT64_MAX;
    ag_part *p = NULL;
    const char *topic = NULL; /* p's topic as the records point to it */
    int idx = 0;
    uint64_t added = 0;
    for (size_t i = 0; i < n; i++) {
        fp_sink_rec *r = &recs[i];
        if (!p || p->partition != r->partition || (r->topic != topic && strcmp(p->topic, r->topic)))
            p = get_part(s, r->topic, r->partition);
        topic = r->topic; /* the records of a batch share few topic pointers */
        idx = (i && recs[i - 1].offset == r->offset && recs[i - 1].partition == r->partition)
                  ? idx + 1
                  : 0;
        p->next = r->offset + 1;
        p->input_mono = now;
        fp_err why; /* set by parse_sample when it fails (not zeroed: ~300 bytes a sample) */
        why.code = FP_OK;
        why.msg[0] = '\0';
        int64_t ts;
        fp_sink_rc src = FP_SINK_OK;
        if (parse_sample(s, r, &ts, &why)) {
            if (!fp_agg_part_replayed(p->st, r->offset))
                src = dead_letter(s, r, idx, "invalid", why.msg, err);
        } else if (ts > future) {
            if (!fp_agg_part_replayed(p->st, r->offset)) {
                char msg[200];
                fp_buf tsb = FP_BUF_INIT;
                fp_time_format_iso(ts, &tsb);
                snprintf(msg, sizeof msg,
                         "future: event time %s is more than aggregate.max.future ahead of the "
                         "clock",
                         tsb.p);
                fp_buf_free(&tsb);
                src = dead_letter(s, r, idx, "future", msg, err);
            }
        } else {
            fp_agg_sample smp = {ts,          r->offset,    s->gkey.p, s->gjson.p,
                                 s->gkey.len, s->gjson.len, s->vals,   s->has};
            fp_agg_verdict v = fp_agg_part_add(p->st, &smp, emit_window, s);
            if (v == FP_AGG_ADDED) {
                added++;
            } else if (v == FP_AGG_LATE) {
                char msg[200];
                fp_buf tsb = FP_BUF_INIT, wmb = FP_BUF_INIT;
                fp_time_format_iso(ts, &tsb);
                fp_time_format_iso(fp_agg_part_watermark(p->st), &wmb);
                snprintf(msg, sizeof msg,
                         "late: event time %s is in a window that closed (watermark %s)", tsb.p,
                         wmb.p);
                fp_buf_free(&tsb);
                fp_buf_free(&wmb);
                src = dead_letter(s, r, idx, "late", msg, err);
            }
        }
        if (src != FP_SINK_OK)
            return src;
        if (s->emit_rc)
            return emit_answer(s, err);
    }
    atomic_fetch_add(&s->ctx->stats->records, added);
    return FP_SINK_OK;
}

static bool ag_hold(void *sp);

static fp_sink_rc ag_flush(void *sp, int64_t now_ms, bool closing, fp_err *err)
{
    (void)now_ms;
    agg *s = sp;
    int64_t now = fp_time_mono_ms();
    /* Idle means nothing to read: a partition the task is behind on, or that is paused or being
     * rebalanced, is not idle (its next records would be late) — unless the budget holds
     * consumption, which only closing windows can release. */
    bool held = ag_hold(s);
    for (size_t i = 0; !closing && s->cf.idle > 0 && i < s->nparts; i++) {
        ag_part *p = &s->parts[i];
        int64_t end = fp_agg_part_last_end(p->st);
        bool caught_up = held || !s->ctx->caught_up ||
                         s->ctx->caught_up(s->ctx->task_arg, p->topic, p->partition);
        if (end != FP_AGG_NONE && caught_up && now - p->input_mono >= s->cf.idle) {
            fp_log(FP_LOG_DEBUG, s->ctx->connector, s->ctx->task,
                   "%s/%" PRId32 ": idle for %" PRId64 " ms, closing %zu open window(s)", p->topic,
                   p->partition, now - p->input_mono, fp_agg_part_open(p->st));
            fp_agg_part_advance(p->st, end, emit_window, s);
        }
    }
    if (s->update && !closing && now - s->last_emit_mono >= s->cf.emit_interval) {
        s->last_emit_mono = now;
        for (size_t i = 0; i < s->nparts; i++)
            fp_agg_part_emit_dirty(s->parts[i].st, emit_window, s);
    }
    /* At a stop open windows stay open: the commit keeps the offsets they need, and the next
     * owner rebuilds them from Kafka. */
    return emit_answer(s, err);
}

static int64_t ag_uncommitted_from(void *sp, const char *topic, int32_t partition)
{
    ag_part *p = find_part(sp, topic, partition);
    return p ? fp_agg_part_min_offset(p->st) : INT64_MAX;
}

static const char *ag_commit_metadata(void *sp, const char *topic, int32_t partition,
                                      int64_t offset)
{
    (void)offset;
    ag_part *p = find_part(sp, topic, partition);
    if (!p)
        return NULL;
    /* A commit in the middle of a replay keeps the restored bound: what lies below it was
     * handled before the first commit, whatever this run has re-read so far. */
    int64_t upto = p->upto > p->next ? p->upto : p->next;
    if (upto < 0)
        return NULL;
    int64_t w = fp_agg_part_watermark(p->st);
    if (w == FP_AGG_NONE)
        snprintf(p->meta, sizeof p->meta, META_TAG " w=none p=%" PRId64, upto);
    else
        snprintf(p->meta, sizeof p->meta, META_TAG " w=%" PRId64 " p=%" PRId64, w, upto);
    return p->meta;
}

static bool ag_hold(void *sp)
{
    agg *s = sp;
    return s->open >= (size_t)s->cf.max_windows;
}

static const char *const ag_aliases[] = {"io.fleetpipe.connect.AggregateConnector", NULL};

const fp_sink_plugin fp_sink_aggregate = {
    "aggregate",
    ag_aliases,
    "event-time tumbling windows (count/sum/min/max/avg/first/last per group) to a Kafka topic",
    ag_defs,
    "  Output: aggregate.output.topic, key <group values joined by #>#<window start>, value\n"
    "  {window_start, window_end, <group fields>, <field>:{count,sum,min,max,avg,...}, samples,\n"
    "  revision, final}. Watermark per input partition = newest event time - lateness; a\n"
    "  window closes when it passes the window's end. Late, bad and future-dated samples are\n"
    "  dead-lettered one by one (error.class late / invalid / future, header source.record =\n"
    "  index in the message).\n"
    "  Exactly once for closed windows: offsets are committed only up to what open windows\n"
    "  need, with the watermark as commit metadata; a replay rebuilds exactly the open ones.",
    ag_create,
    ag_open,
    NULL,
    ag_put,
    ag_flush,
    ag_uncommitted_from,
    ag_close,
    ag_destroy,
    ag_commit_metadata,
    ag_restore,
    ag_hold,
    NULL, /* raw */
    true, /* members: samples are read from the chain's member table */
};
