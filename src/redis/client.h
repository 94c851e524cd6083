/* client.h — what every fleetpipe Redis client shares: the redis:// URL and opening a
 * connection with it (hiredis, blocking). The redis sink, the reconcile check and the Fleet API
 * use it; each keeps its own retry policy.
 *
 * Threads: a redisContext belongs to one thread at a time. Secrets: the password lives only in
 * the parsed URL and is never logged or put into an error message.
 */
#ifndef FP_REDIS_CLIENT_H
#define FP_REDIS_CLIENT_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "core/err.h"

/* Parts of redis://[[user]:password@]host[:port][/db]. Strings are owned by the struct. */
typedef struct fp_redis_url {
    char *host;
    int port;
    int db;
    char *user;     /* NULL: none (AUTH password only) */
    char *password; /* NULL: no AUTH */
} fp_redis_url;

/* Parses url into u (fresh strings); errors never contain the password. */
fp_code fp_redis_url_parse(const char *url, fp_redis_url *u, fp_err *err);
void fp_redis_url_free(fp_redis_url *u);

/* Connects to u, then AUTH (when u has a password) and SELECT (db != 0). connect_ms bounds the
 * TCP connect, command_ms every later read and write. *out is the caller's (redisFree). Errors
 * are FP_ERR_IO naming "redis host:port/db" and the reason. */
fp_code fp_redis_open(const fp_redis_url *u, int64_t connect_ms, int64_t command_ms,
                      redisContext **out, fp_err *err);

#endif
