/* pool.c — the Fleet API's bounded backend pool (see pool.h). Opening a connection can take a
 * connect timeout, so a slot is reserved under the lock and the open runs outside it. */
#include "serve/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core/mem.h"
#include "core/time.h"

void fp_serve_pool_init(fp_serve_pool *p)
{
    pthread_mutex_init(&p->mu, NULL);
    fp_time_cond_init(&p->freed);
    if (!p->max)
        p->max = 1;
    p->idle = fp_xcalloc(p->max, sizeof *p->idle);
    p->nidle = p->open_n = 0;
}

void fp_serve_pool_free(fp_serve_pool *p)
{
    if (!p->idle)
        return;
    for (size_t i = 0; i < p->nidle; i++)
        p->close(p->ctx, p->idle[i]);
    free(p->idle);
    p->idle = NULL;
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
}

fp_code fp_serve_pool_get(fp_serve_pool *p, void **conn, fp_err *err)
{
    *conn = NULL;
    struct timespec until = fp_time_deadline(p->wait_ms);
    pthread_mutex_lock(&p->mu);
    while (!p->nidle && p->open_n >= p->max) {
        if (pthread_cond_timedwait(&p->freed, &p->mu, &until) == ETIMEDOUT && !p->nidle &&
            p->open_n >= p->max) {
            size_t n = p->open_n;
            pthread_mutex_unlock(&p->mu);
            return fp_err_set(err, FP_ERR_IO, "all %zu connections busy for %lld ms", n,
                              (long long)p->wait_ms);
        }
    }
    if (p->nidle) {
        *conn = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->mu);
        return FP_OK;
    }
    p->open_n++; /* the slot is ours while we open */
    pthread_mutex_unlock(&p->mu);
    fp_code rc = p->open(p->ctx, conn, err);
    if (rc) {
        pthread_mutex_lock(&p->mu);
        p->open_n--;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->mu);
        *conn = NULL;
    }
    return rc;
}

void fp_serve_pool_put(fp_serve_pool *p, void *conn, bool discard)
{
    if (!conn)
        return;
    if (discard)
        p->close(p->ctx, conn);
    pthread_mutex_lock(&p->mu);
    if (discard)
        p->open_n--;
    else
        p->idle[p->nidle++] = conn;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}
