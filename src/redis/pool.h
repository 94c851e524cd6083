/* pool.h — a small pool of blocking Redis connections for callers on many threads (the Fleet
 * API's request threads): take a connection, use it, give it back. Connections are opened on
 * demand with fp_redis_open(), so a Redis that is down costs each caller one bounded connect
 * attempt and an error naming it, never a hang.
 *
 * Threads: every function may be called from any thread; a connection taken belongs to the
 * taker until it is put back. Ownership: the pool owns idle connections and its parsed URL.
 */
#ifndef FP_REDIS_POOL_H
#define FP_REDIS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "core/err.h"

typedef struct fp_redis_pool fp_redis_pool;

/* A pool for url (parsed now: FP_ERR_CONFIG for a bad one) that keeps at most max_idle idle
 * connections; connect_ms and command_ms bound every connect and every command. */
fp_redis_pool *fp_redis_pool_new(const char *url, int64_t connect_ms, int64_t command_ms,
                                 size_t max_idle, fp_err *err);
/* An idle connection, or a new one; NULL with err (FP_ERR_IO naming "redis host:port/db"). */
redisContext *fp_redis_pool_get(fp_redis_pool *p, fp_err *err);
/* Gives c back. healthy false (an I/O error or timeout happened on it): c is freed instead.
 * NULL c is fine. */
void fp_redis_pool_put(fp_redis_pool *p, redisContext *c, bool healthy);
/* fp_time_mono_ms() of the last connect that failed or connection given back unhealthy; 0 when
 * none has. Lets a caller keep a Redis that stalls off threads that must not block. */
int64_t fp_redis_pool_failed_at(const fp_redis_pool *p);
/* "redis host:port/db", for messages (never the password). */
const char *fp_redis_pool_name(const fp_redis_pool *p);
/* Frees the idle connections and the pool (no connection may be out). NULL is fine. */
void fp_redis_pool_free(fp_redis_pool *p);

#endif
