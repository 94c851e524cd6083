/* pool.h — a bounded pool of backend connections for the Fleet API's request threads: libpq
 * connections (reports.c) and DynamoDB clients (track.c) are one-thread-at-a-time objects, and
 * a thread per HTTP connection must neither share one unguarded nor open one per request.
 *
 * A request takes a connection (an idle one, or a new one opened outside the lock while fewer
 * than max exist), uses it alone and gives it back; when all max are busy it waits at most
 * wait_ms, then fails with FP_ERR_IO naming the backend, so a slow backend costs its own
 * endpoints a bounded wait and never the others. A connection found broken is given back with
 * discard and closed.
 *
 * Threads: every function but _init/_free may be called from any thread.
 */
#ifndef FP_SERVE_POOL_H
#define FP_SERVE_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct fp_serve_pool {
    const char *backend; /* for messages: "postgresql" */
    size_t max;          /* connections open at most */
    int64_t wait_ms;     /* for a free one when max are busy */
    /* Opens one connection (called without the lock). */
    fp_code (*open)(void *ctx, void **conn, fp_err *err);
    void (*close)(void *ctx, void *conn);
    void *ctx;
    /* state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t freed;
    void **idle; /* max slots */
    size_t nidle, open_n;
} fp_serve_pool;

/* Sets up p after the caller filled backend, max, wait_ms, open, close and ctx. */
void fp_serve_pool_init(fp_serve_pool *p);
/* Closes the idle connections; none may be taken any more. */
void fp_serve_pool_free(fp_serve_pool *p);

/* A connection for this thread alone until fp_serve_pool_put. */
fp_code fp_serve_pool_get(fp_serve_pool *p, void **conn, fp_err *err);
/* Gives conn back; discard closes it (broken, or in an unknown state). */
void fp_serve_pool_put(fp_serve_pool *p, void *conn, bool discard);

#endif
