/* pool.c — see pool.h. A mutex-guarded stack of idle connections: the last one given back is
 * the next one taken (warm). A connection that saw an error is never reused, so a Redis
 * restart costs each pooled connection one failed command and nothing more. */
#include "redis/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/mem.h"
#include "core/time.h"
#include "redis/client.h"

struct fp_redis_pool {
    fp_redis_url url;
    int64_t connect_ms, command_ms;
    char name[160];
    pthread_mutex_t lock; /* guards idle and nidle */
    redisContext **idle;
    size_t nidle, max_idle;
    _Atomic int64_t failed_at; /* fp_redis_pool_failed_at() */
};

fp_redis_pool *fp_redis_pool_new(const char *url, int64_t connect_ms, int64_t command_ms,
                                 size_t max_idle, fp_err *err)
{
    fp_redis_pool *p = fp_xcalloc(1, sizeof *p);
    if (fp_redis_url_parse(url, &p->url, err)) {
        free(p);
        return NULL;
    }
    p->connect_ms = connect_ms;
    p->command_ms = command_ms;
    p->max_idle = max_idle ? max_idle : 1;
    p->idle = fp_xcalloc(p->max_idle, sizeof *p->idle);
    snprintf(p->name, sizeof p->name, "redis %s:%d/%d", p->url.host, p->url.port, p->url.db);
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

redisContext *fp_redis_pool_get(fp_redis_pool *p, fp_err *err)
{
    redisContext *c = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->nidle)
        c = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->lock);
    if (c)
        return c;
    if (fp_redis_open(&p->url, p->connect_ms, p->command_ms, &c, err)) {
        atomic_store(&p->failed_at, fp_time_mono_ms());
        return NULL;
    }
    return c;
}

void fp_redis_pool_put(fp_redis_pool *p, redisContext *c, bool healthy)
{
    if (!c)
        return;
    if (!healthy || c->err)
        atomic_store(&p->failed_at, fp_time_mono_ms());
    if (healthy && !c->err) {
        pthread_mutex_lock(&p->lock);
        if (p->nidle < p->max_idle) {
            p->idle[p->nidle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&p->lock);
    }
    redisFree(c);
}

int64_t fp_redis_pool_failed_at(const fp_redis_pool *p)
{
    return atomic_load(&p->failed_at);
}

const char *fp_redis_pool_name(const fp_redis_pool *p)
{
    return p->name;
}

void fp_redis_pool_free(fp_redis_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nidle; i++)
        redisFree(p->idle[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->lock);
    fp_redis_url_free(&p->url);
    free(p);
}
