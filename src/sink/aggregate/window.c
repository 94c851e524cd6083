/* window.c — open windows of one input partition, grouped by window start.
 *
 * Tumbling windows are aligned, so a partition has only a few distinct open starts at a time
 * (about lateness / size + 1): a short array of buckets sorted by start, each holding its
 * windows in insertion order plus an open-addressing hash of group key -> window. Closing pops
 * buckets from the front; the first window of a bucket has the bucket's lowest input offset
 * (samples arrive in offset order), so the commit point is a minimum over buckets, not windows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/time.h"
#include "sink/aggregate/window.h"

typedef struct bucket {
    int64_t start;
    fp_agg_win **wins; /* insertion order */
    size_t n, cap;
    uint32_t *slots; /* index + 1 into wins; 0 empty */
    size_t nslots;   /* power of two, at least 2n */
} bucket;

struct fp_agg_part {
    const fp_agg_spec *spec;
    size_t *open; /* the instance's open window count */
    bucket *b;    /* sorted by start */
    size_t nb, capb;
    int64_t stream, wm;  /* S and W (FP_AGG_NONE: none) */
    int64_t replay_upto; /* P of the restored commit (-1: none) */
};

/* FNV-1a over 8-byte words (the last one zero-padded), then a final mix: group keys are short
 * ("350#1"), and a byte at a time showed in the profile. Only slot positions depend on it. */
static uint64_t key_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ n;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, k + i, n - i < 8 ? n - i : 8);
        h = (h ^ w) * 1099511628211ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

fp_agg_part *fp_agg_part_new(const fp_agg_spec *spec, size_t *open_windows)
{
    fp_agg_part *p = fp_xcalloc(1, sizeof *p);
    p->spec = spec;
    p->open = open_windows;
    p->stream = p->wm = FP_AGG_NONE;
    p->replay_upto = -1;
    return p;
}

static void bucket_free(fp_agg_part *p, bucket *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->wins[i]->key);
        free(b->wins[i]->group);
        free(b->wins[i]);
    }
    *p->open -= b->n;
    free(b->wins);
    free(b->slots);
}

static void forget_all(fp_agg_part *p)
{
    for (size_t i = 0; i < p->nb; i++)
        bucket_free(p, &p->b[i]);
    p->nb = 0;
}

void fp_agg_part_free(fp_agg_part *p)
{
    if (!p)
        return;
    forget_all(p);
    free(p->b);
    free(p);
}

void fp_agg_part_restore(fp_agg_part *p, int64_t watermark, int64_t replay_upto)
{
    forget_all(p);
    p->stream = FP_AGG_NONE;
    p->wm = watermark;
    p->replay_upto = replay_upto;
}

bool fp_agg_part_replayed(const fp_agg_part *p, int64_t offset)
{
    return offset < p->replay_upto;
}

/* The bucket of start, created (in order) when missing. */
static bucket *bucket_get(fp_agg_part *p, int64_t start)
{
    size_t i = 0;
    while (i < p->nb && p->b[i].start < start)
        i++;
    if (i < p->nb && p->b[i].start == start)
        return &p->b[i];
    if (p->nb == p->capb) {
        p->capb = p->capb ? p->capb * 2 : 4;
        p->b = fp_xrealloc(p->b, p->capb * sizeof *p->b);
    }
    memmove(&p->b[i + 1], &p->b[i], (p->nb - i) * sizeof *p->b);
    p->nb++;
    p->b[i] = (bucket){.start = start};
    return &p->b[i];
}

static void slots_grow(bucket *b)
{
    size_t ns = b->nslots ? b->nslots * 2 : 16;
    uint32_t *s = fp_xcalloc(ns, sizeof *s);
    for (size_t i = 0; i < b->n; i++) {
        size_t j = b->wins[i]->hash & (ns - 1);
        while (s[j])
            j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)(i + 1);
    }
    free(b->slots);
    b->slots = s;
    b->nslots = ns;
}

static fp_agg_win *win_get(fp_agg_part *p, bucket *b, const fp_agg_sample *s)
{
    uint64_t h = key_hash(s->key, s->klen);
    if (b->nslots) {
        for (size_t j = h & (b->nslots - 1); b->slots[j]; j = (j + 1) & (b->nslots - 1)) {
            fp_agg_win *w = b->wins[b->slots[j] - 1];
            if (w->hash == h && w->klen == s->klen && !memcmp(w->key, s->key, s->klen))
                return w;
        }
    }
    size_t nf = p->spec->nfields;
    fp_agg_win *w = fp_xcalloc(1, sizeof *w + nf * sizeof w->stat[0]);
    w->start = b->start;
    w->first_offset = s->offset;
    w->hash = h;
    w->key = fp_xstrndup(s->key, s->klen);
    w->klen = s->klen;
    w->group = fp_xstrndup(s->group, s->glen);
    w->glen = s->glen;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->wins = fp_xrealloc(b->wins, b->cap * sizeof *b->wins);
    }
    b->wins[b->n++] = w;
    ++*p->open;
    if (2 * b->n > b->nslots) {
        slots_grow(b); /* re-inserts every window, the new one too */
    } else {
        size_t j = h & (b->nslots - 1);
        while (b->slots[j])
            j = (j + 1) & (b->nslots - 1);
        b->slots[j] = (uint32_t)b->n;
    }
    return w;
}

static void stat_add(fp_agg_stat *st, double v, int64_t ts)
{
    if (!st->count) {
        st->min = st->max = st->first = st->last = v;
        st->first_ts = st->last_ts = ts;
    } else {
        if (v < st->min)
            st->min = v;
        if (v > st->max)
            st->max = v;
        if (ts < st->first_ts) { /* equal times: the earlier offset stays first */
            st->first = v;
            st->first_ts = ts;
        }
        if (ts >= st->last_ts) { /* equal times: the later offset is last */
            st->last = v;
            st->last_ts = ts;
        }
    }
    st->count++;
    st->sum += v;
}

static void close_upto(fp_agg_part *p, fp_agg_emit_fn emit, void *ctx)
{
    size_t k = 0;
    while (k < p->nb && p->wm != FP_AGG_NONE && p->b[k].start + p->spec->size_ms <= p->wm) {
        bucket *b = &p->b[k];
        for (size_t i = 0; i < b->n; i++) {
            b->wins[i]->revision++;
            emit(ctx, b->wins[i], true);
        }
        bucket_free(p, b);
        k++;
    }
    if (k) {
        memmove(p->b, p->b + k, (p->nb - k) * sizeof *p->b);
        p->nb -= k;
    }
}

fp_agg_verdict fp_agg_part_add(fp_agg_part *p, const fp_agg_sample *s, fp_agg_emit_fn emit,
                               void *ctx)
{
    const fp_agg_spec *sp = p->spec;
    int64_t start = floor_div(s->ts, sp->size_ms) * sp->size_ms;
    fp_agg_verdict v = FP_AGG_ADDED;
    if (p->wm != FP_AGG_NONE && start + sp->size_ms <= p->wm) {
        v = s->offset < p->replay_upto ? FP_AGG_REPLAYED : FP_AGG_LATE;
    } else {
        fp_agg_win *w = win_get(p, bucket_get(p, start), s);
        for (size_t i = 0; i < sp->nfields; i++)
            if (s->has[i])
                stat_add(&w->stat[i], s->vals[i], s->ts);
        w->samples++;
        w->dirty = true;
    }
    if (p->stream == FP_AGG_NONE || s->ts > p->stream) {
        p->stream = s->ts;
        int64_t w = p->stream - sp->lateness_ms;
        if (p->wm == FP_AGG_NONE || w > p->wm) {
            p->wm = w;
            close_upto(p, emit, ctx);
        }
    }
    return v;
}

void fp_agg_part_advance(fp_agg_part *p, int64_t w, fp_agg_emit_fn emit, void *ctx)
{
    if (p->wm != FP_AGG_NONE && w <= p->wm)
        return;
    p->wm = w;
    close_upto(p, emit, ctx);
}

void fp_agg_part_emit_dirty(fp_agg_part *p, fp_agg_emit_fn emit, void *ctx)
{
    for (size_t k = 0; k < p->nb; k++)
        for (size_t i = 0; i < p->b[k].n; i++) {
            fp_agg_win *w = p->b[k].wins[i];
            if (!w->dirty)
                continue;
            w->revision++;
            w->dirty = false;
            emit(ctx, w, false);
        }
}

int64_t fp_agg_part_last_end(const fp_agg_part *p)
{
    return p->nb ? p->b[p->nb - 1].start + p->spec->size_ms : FP_AGG_NONE;
}

int64_t fp_agg_part_min_offset(const fp_agg_part *p)
{
    int64_t m = INT64_MAX;
    for (size_t k = 0; k < p->nb; k++)
        if (p->b[k].n && p->b[k].wins[0]->first_offset < m)
            m = p->b[k].wins[0]->first_offset;
    return m;
}

int64_t fp_agg_part_watermark(const fp_agg_part *p)
{
    return p->wm;
}

size_t fp_agg_part_open(const fp_agg_part *p)
{
    size_t n = 0;
    for (size_t k = 0; k < p->nb; k++)
        n += p->b[k].n;
    return n;
}

/* ---------------------------------------------------------------- output */

/* A double as JSON; null for a non-finite one (a sum that overflowed). */
static void put_double(fp_buf *out, double v)
{
    if (!isfinite(v)) { /* a sum past DBL_MAX: JSON has no Infinity */
        fp_buf_puts(out, "null");
        return;
    }
    fp_buf_put_double(out, v);
}

static void put_opt(fp_buf *out, const char *name, bool have, double v)
{
    fp_buf_puts(out, ",\"");
    fp_buf_puts(out, name);
    fp_buf_puts(out, "\":");
    if (have)
        put_double(out, v);
    else
        fp_buf_puts(out, "null");
}

void fp_agg_win_value(const fp_agg_spec *sp, const fp_agg_win *w, bool final, fp_buf *out)
{
    fp_buf_puts(out, "{\"window_start\":\"");
    fp_time_format_iso(w->start, out);
    fp_buf_puts(out, "\",\"window_end\":\"");
    fp_time_format_iso(w->start + sp->size_ms, out);
    fp_buf_putc(out, '"');
    if (w->glen) {
        fp_buf_putc(out, ',');
        fp_buf_append(out, w->group, w->glen);
    }
    unsigned f = sp->funcs;
    if (f & FP_AGG_AVG)
        f |= FP_AGG_COUNT | FP_AGG_SUM;
    for (size_t i = 0; i < sp->nfields; i++) {
        const fp_agg_stat *st = &w->stat[i];
        bool have = st->count > 0;
        fp_buf_putc(out, ',');
        fp_json_quote(out, sp->fields[i], strlen(sp->fields[i]));
        fp_buf_puts(out, ":{\"count\":");
        fp_buf_put_u64(out, st->count);
        if (f & FP_AGG_SUM) {
            fp_buf_puts(out, ",\"sum\":");
            put_double(out, st->sum);
        }
        if (f & FP_AGG_MIN)
            put_opt(out, "min", have, st->min);
        if (f & FP_AGG_MAX)
            put_opt(out, "max", have, st->max);
        if (f & FP_AGG_AVG)
            put_opt(out, "avg", have, have ? st->sum / (double)st->count : 0);
        if (f & FP_AGG_FIRST)
            put_opt(out, "first", have, st->first);
        if (f & FP_AGG_LAST)
            put_opt(out, "last", have, st->last);
        fp_buf_putc(out, '}');
    }
    fp_buf_puts(out, ",\"samples\":");
    fp_buf_put_u64(out, w->samples);
    fp_buf_puts(out, ",\"revision\":");
    fp_buf_put_u64(out, w->revision);
    fp_buf_puts(out, final ? ",\"final\":true}" : ",\"final\":false}");
}

void fp_agg_win_key(const fp_agg_win *w, fp_buf *out)
{
    fp_buf_append(out, w->key, w->klen);
    fp_buf_putc(out, '#');
    fp_time_format_iso(w->start, out);
}
