/* arena.c — hiredis reply functions that build into an fp_redis_arena (see arena.h). Blocks
 * grow geometrically, so a reply of any size costs a handful of allocations; reset keeps the
 * first block, so a connection that reads small replies allocates nothing in steady state. */
#include "redis/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct block {
    struct block *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
} block;

struct fp_redis_arena {
    block *first, *cur; /* cur: the block being filled; first..cur linked by next */
    size_t used;        /* handed out since the last reset */
    redisReplyObjectFunctions *saved_fn; /* the attached reader's own functions */
    void *saved_privdata;
};

#define ALIGN (alignof(max_align_t))

static block *block_new(size_t cap)
{
    block *b = fp_xmalloc(sizeof *b + cap);
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

fp_redis_arena *fp_redis_arena_new(size_t first_block)
{
    fp_redis_arena *a = fp_xcalloc(1, sizeof *a);
    a->first = a->cur = block_new(first_block ? first_block : 4096);
    return a;
}

void fp_redis_arena_free(fp_redis_arena *a)
{
    if (!a)
        return;
    for (block *b = a->first, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

void fp_redis_arena_reset(fp_redis_arena *a)
{
    for (block *b = a->first->next, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    a->first->next = NULL;
    a->first->used = 0;
    a->cur = a->first;
    a->used = 0;
}

void *fp_redis_arena_alloc(fp_redis_arena *a, size_t n)
{
    n = (n + ALIGN - 1) & ~(ALIGN - 1);
    block *b = a->cur;
    if (b->cap - b->used < n) {
        size_t cap = b->cap * 2;
        while (cap < n)
            cap *= 2;
        b = b->next = block_new(cap);
        a->cur = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used += n;
    return p;
}

size_t fp_redis_arena_used(const fp_redis_arena *a)
{
    return a->used;
}

/* ---------------------------------------------------------------- reply functions */

/* A zeroed reply of type with extra bytes after it, hung into its parent array. */
static redisReply *reply_new(const redisReadTask *t, int type, size_t extra)
{
    redisReply *r = fp_redis_arena_alloc(t->privdata, sizeof *r + extra);
    memset(r, 0, sizeof *r);
    r->type = type;
    if (t->parent) {
        redisReply *parent = t->parent->obj;
        parent->element[t->idx] = r;
    }
    return r;
}

static void *create_string(const redisReadTask *t, char *str, size_t len)
{
    redisReply *r = reply_new(t, t->type, len + 1);
    r->str = (char *)(r + 1);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *t, int elements)
{
    redisReply *r = reply_new(t, REDIS_REPLY_ARRAY, 0);
    if (elements > 0) {
        size_t n = (size_t)elements * sizeof *r->element;
        r->element = fp_redis_arena_alloc(t->privdata, n);
        memset(r->element, 0, n);
        r->elements = (size_t)elements;
    }
    return r;
}

static void *create_integer(const redisReadTask *t, long long v)
{
    redisReply *r = reply_new(t, REDIS_REPLY_INTEGER, 0);
    r->integer = v;
    return r;
}

static void *create_nil(const redisReadTask *t)
{
    return reply_new(t, REDIS_REPLY_NIL, 0);
}

/* The arena frees everything at once: a reply the reader drops (a protocol error half-way) is
 * simply forgotten. */
static void free_object(void *reply)
{
    (void)reply;
}

static redisReplyObjectFunctions arena_fns = {create_string, create_array, create_integer,
                                              create_nil, free_object};

/* The reader copies its privdata into a task when it starts one, and a task may be started
 * before its first byte arrives (after a reply, when its buffer still holds consumed bytes, the
 * next call sets up the root task and finds nothing): such a pending task must see the
 * functions' privdata of now, not of the request before. */
static void set_privdata(redisReader *r, void *p)
{
    r->privdata = p;
    for (int i = 0; i <= r->ridx && i < (int)(sizeof r->rstack / sizeof r->rstack[0]); i++)
        r->rstack[i].privdata = p;
}

void fp_redis_arena_attach_reader(redisReader *r, fp_redis_arena *a)
{
    a->saved_fn = r->fn;
    a->saved_privdata = r->privdata;
    r->fn = &arena_fns;
    set_privdata(r, a);
}

bool fp_redis_arena_detach_reader(redisReader *r)
{
    if (r->fn != &arena_fns)
        return true;
    fp_redis_arena *a = r->privdata;
    /* A reply half-read (its root object exists: r->reply) points into the arena, and the
     * reader must not go on with it. Without a root object nothing refers to the arena, even
     * when the reader has consumed a type byte or a length line of the next reply. */
    bool idle = !r->reply;
    if (!idle) {
        r->reply = NULL;
        r->ridx = -1;
    }
    r->fn = a->saved_fn;
    set_privdata(r, a->saved_privdata);
    return idle;
}

void fp_redis_arena_attach(redisContext *c, fp_redis_arena *a)
{
    fp_redis_arena_attach_reader(c->reader, a);
}

void fp_redis_arena_detach(redisContext *c)
{
    if (!c)
        return;
    if (!fp_redis_arena_detach_reader(c->reader) && !c->err) {
        c->err = REDIS_ERR_PROTOCOL;
        snprintf(c->errstr, sizeof c->errstr, "%s", "reply interrupted half-way");
    }
}
