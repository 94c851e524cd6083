/* rec.h — the record model transforms work on (internal to src/xform).
 *
 * A record is an ordered array of top-level members, each a key span and a value span. Spans
 * point either into the validated input message or into the chain's arena (generated values,
 * canonicalised keys); nothing is copied until fp_rec_write() concatenates the spans into an
 * output object. Keys are stored as raw JSON string content in canonical form (what
 * fp_json_quote() would produce for the decoded name), so two keys are the same name exactly
 * when their bytes are equal. A record holds each key once: duplicate keys in the input are
 * collapsed as JSON.parse does (the value of the last occurrence, at the position of the first).
 *
 * Ownership: the arena owns every byte it hands out until fp_arena_reset(); a record owns only
 * its member array.
 */
#ifndef FP_XFORM_REC_H
#define FP_XFORM_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "xform/xform.h"

/* Bump allocator in fixed blocks that never move, so spans into it stay valid until reset. */
typedef struct fp_arena {
    struct fp_arena_blk {
        char *p;
        size_t cap, used;
    } * b;
    size_t nb, cur;
    uint64_t gen; /* +1 per reset: a cache of arena pointers is valid while gen is unchanged */
} fp_arena;

char *fp_arena_alloc(fp_arena *a, size_t n);
const char *fp_arena_dup(fp_arena *a, const char *p, size_t n);
void fp_arena_reset(fp_arena *a);
void fp_arena_free(fp_arena *a);

typedef struct fp_member {
    const char *k; /* canonical raw key, without quotes */
    const char *v; /* JSON value text */
    size_t kn, vn;
    uint64_t sig; /* fp_rec_key_sig(k, kn): equal keys have equal sigs, a cheap first test */
    bool kesc;    /* k contains a backslash: compare names through fp_json_key_eq() */
} fp_member;

/* Length and first bytes of a key folded into one word. */
static inline uint64_t fp_rec_key_sig(const char *k, size_t kn)
{
    uint64_t s = 0;
    size_t n = kn < 8 ? kn : 8;
    for (size_t i = 0; i < n; i++)
        s |= (uint64_t)(unsigned char)k[i] << (8 * i);
    return s ^ ((uint64_t)kn << 56);
}

typedef struct fp_rec {
    fp_member *m;
    size_t n, cap;
} fp_rec;

void fp_rec_free(fp_rec *r);
/* Appends the members of a validated object (keys canonicalised via the arena), then collapses
 * duplicates. tmp is scratch. */
void fp_rec_add_object(fp_rec *r, fp_span object, fp_arena *a, fp_buf *tmp);
/* Appends the members an object iterator yields until it ends (no duplicate check); it->p is
 * then just after the last member, before the closing brace. */
void fp_rec_add_members(fp_rec *r, fp_json_iter *it, fp_arena *a, fp_buf *tmp);
/* Appends one member as read from validated text ending at end (keys canonicalised via the
 * arena; no duplicate check). */
void fp_rec_add_member(fp_rec *r, fp_span key, bool key_escaped, fp_span val, const char *end,
                       fp_arena *a, fp_buf *tmp);
/* Appends one member without checking for duplicates (call fp_rec_dedupe() afterwards). */
void fp_rec_push(fp_rec *r, const char *k, size_t kn, bool kesc, const char *v, size_t vn);
/* Appends a copy of a member (no duplicate check). */
void fp_rec_push_member(fp_rec *r, const fp_member *m);
/* Appends copies of n members (no duplicate check). */
void fp_rec_push_members(fp_rec *r, const fp_member *m, size_t n);
/* Replaces the value of key k or appends it. */
void fp_rec_set(fp_rec *r, const char *k, size_t kn, bool kesc, const char *v, size_t vn);
/* Collapses duplicate keys: last value wins, first position is kept. */
void fp_rec_dedupe(fp_rec *r);
/* Index of the member whose decoded name is name, or -1. */
long fp_rec_find(const fp_rec *r, const char *name, size_t len);
void fp_rec_remove(fp_rec *r, size_t i);
/* Appends the record as one JSON object. [lo, hi) is the validated message the spans may point
 * into (runs of members adjacent there are copied at once); pass NULL, NULL if there is none. */
void fp_rec_write(const fp_rec *r, fp_buf *out, const char *lo, const char *hi);
/* fp_rec_write() that also fills mem[0 .. r->n) with where each member landed, as offsets from
 * the object's '{' (xform.h). */
void fp_rec_write_members(const fp_rec *r, fp_buf *out, const char *lo, const char *hi,
                          fp_xform_member *mem);

/* Canonical raw form of a decoded name (for keys coming from configuration). Caller frees. */
char *fp_rec_canon_key(const char *name, size_t len, size_t *out_len, bool *kesc);

#endif
