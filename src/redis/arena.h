/* arena.h — hiredis replies built in one arena instead of one allocation per element.
 *
 * hiredis' own reply functions allocate an object and a copy of the string for every element
 * and freeReplyObject() frees them one by one: a pipelined page of 101 HGETALLs is ~5,000
 * elements, and their malloc/free was the Fleet API's largest cost. An arena attached to a
 * connection (its redisReader's reply functions) builds the same redisReply shapes (type, str,
 * len, integer, elements, element) by bumping a pointer in a few blocks, and forgets them all
 * at once on reset.
 *
 * The one thing to know: a reply read while an arena is attached belongs to the arena. It is
 * valid until the next fp_redis_arena_reset() or fp_redis_arena_detach() and must never reach
 * freeReplyObject() (which would free() memory the arena owns). Always pass a reply pointer to
 * redisGetReply() (with NULL hiredis frees the reply itself).
 *
 * Threads: an arena, like the connection it is attached to, belongs to one thread at a time.
 */
#ifndef FP_REDIS_ARENA_H
#define FP_REDIS_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct fp_redis_arena fp_redis_arena;

/* An empty arena whose first block holds first_block bytes (kept across resets). */
fp_redis_arena *fp_redis_arena_new(size_t first_block);
/* Frees every block. NULL is fine. Detach it from its connection first. */
void fp_redis_arena_free(fp_redis_arena *a);
/* Forgets everything allocated so far; keeps the first block, frees the others. */
void fp_redis_arena_reset(fp_redis_arena *a);
/* n bytes aligned for any reply field, valid until reset (never NULL: aborts on OOM). */
void *fp_redis_arena_alloc(fp_redis_arena *a, size_t n);
/* Bytes handed out since the last reset (for tests and budgets). */
size_t fp_redis_arena_used(const fp_redis_arena *a);

/* Replies c reads from now on are built in a, until fp_redis_arena_detach(c). c must not have
 * a reply half-read. */
void fp_redis_arena_attach(redisContext *c, fp_redis_arena *a);
/* Gives c its previous reply functions back. When a reply was interrupted half-way (an I/O
 * error or timeout), c is marked broken (err set) so that its pool closes it instead of reusing
 * a reader that points into the arena. NULL c, or c without an arena, is fine. */
void fp_redis_arena_detach(redisContext *c);

/* The same for a bare redisReader (what a redisContext reads with). */
void fp_redis_arena_attach_reader(redisReader *r, fp_redis_arena *a);
/* Returns false when a reply was interrupted half-way (the reader is then reset to idle). */
bool fp_redis_arena_detach_reader(redisReader *r);

#endif
