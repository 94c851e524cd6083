/* upload.c — see upload.h. A singly linked FIFO under one mutex; the worker takes the first
 * queued job, runs the store call without the lock, and marks it done. */
#include "sink/objstore/upload.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

enum { J_QUEUED, J_RUNNING, J_DONE };

struct fp_upload {
    fp_store *store; /* borrowed */
    int depth;
    fp_objstore_upload_done_fn done_fn; /* may be NULL */
    void *done_arg;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    fp_objstore_upload_job *head, *tail;
    int unfinished;
    /* Partitions with a failed upload: their later jobs are cancelled, even jobs pushed after
     * the failure, until fp_objstore_upload_forget() (the owner's close, before any replay). */
    fp_strv poisoned;
    int32_t *poisoned_part;
    bool stop;
    pthread_t thread;
};

static bool same(const fp_objstore_upload_job *j, const char *topic, int32_t partition)
{
    return !topic || (j->partition == partition && !strcmp(j->topic, topic));
}

static int poisoned_at(const fp_upload *u, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < u->poisoned.n; i++)
        if (u->poisoned_part[i] == partition && !strcmp(u->poisoned.v[i], topic))
            return (int)i;
    return -1;
}

static void cancel(fp_upload *u, fp_objstore_upload_job *k)
{
    unlink(k->tmp);
    k->rc = FP_ERR_IO;
    fp_err_set(&k->err, FP_ERR_IO, "not uploaded: an earlier object of %s/%d failed", k->topic,
               (int)k->partition);
    k->state = J_DONE;
    u->unfinished--;
}

static void *worker(void *arg)
{
    fp_upload *u = arg;
    pthread_setname_np(pthread_self(), "fp-upload");
    pthread_mutex_lock(&u->mu);
    for (;;) {
        fp_objstore_upload_job *j = u->head;
        while (j && j->state != J_QUEUED)
            j = j->next;
        if (!j) {
            if (u->stop)
                break;
            pthread_cond_wait(&u->work, &u->mu);
            continue;
        }
        j->state = J_RUNNING;
        pthread_mutex_unlock(&u->mu);
        fp_err err = {0};
        fp_code rc = fp_store_put_file(u->store, j->tmp, j->name, &err);
        if (rc)
            unlink(j->tmp);
        else if (u->done_fn)
            rc = u->done_fn(u->done_arg, j, &err);
        pthread_mutex_lock(&u->mu);
        j->rc = rc;
        j->err = err;
        j->state = J_DONE;
        u->unfinished--;
        if (rc) {
            /* Later objects of this partition must not exist without this one. */
            for (fp_objstore_upload_job *k = j->next; k; k = k->next)
                if (k->state == J_QUEUED && same(k, j->topic, j->partition))
                    cancel(u, k);
            if (poisoned_at(u, j->topic, j->partition) < 0) {
                u->poisoned.v = fp_xrealloc(u->poisoned.v, (u->poisoned.n + 1) * sizeof(char *));
                u->poisoned_part =
                    fp_xrealloc(u->poisoned_part, (u->poisoned.n + 1) * sizeof(int32_t));
                u->poisoned_part[u->poisoned.n] = j->partition;
                u->poisoned.v[u->poisoned.n++] = fp_xstrdup(j->topic);
            }
        }
        pthread_cond_broadcast(&u->done);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

fp_upload *fp_objstore_upload_new(fp_store *store, int depth, fp_objstore_upload_done_fn done,
                                  void *arg)
{
    fp_upload *u = fp_xcalloc(1, sizeof *u);
    u->store = store;
    u->done_fn = done;
    u->done_arg = arg;
    u->depth = depth > 0 ? depth : 1;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->work, NULL);
    pthread_cond_init(&u->done, NULL);
    if (pthread_create(&u->thread, NULL, worker, u) != 0)
        abort(); /* like out of memory: no thread, no sink */
    return u;
}

void fp_objstore_upload_job_free(fp_objstore_upload_job *job)
{
    if (!job)
        return;
    free(job->topic);
    free(job->tmp);
    free(job->name);
    free(job);
}

void fp_objstore_upload_free(fp_upload *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    u->stop = true;
    pthread_cond_broadcast(&u->work);
    pthread_mutex_unlock(&u->mu);
    pthread_join(u->thread, NULL);
    while (u->head) {
        fp_objstore_upload_job *j = u->head;
        u->head = j->next;
        fp_objstore_upload_job_free(j);
    }
    fp_strv_free(&u->poisoned);
    free(u->poisoned_part);
    pthread_cond_destroy(&u->work);
    pthread_cond_destroy(&u->done);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

void fp_objstore_upload_push(fp_upload *u, fp_objstore_upload_job *job)
{
    job->state = J_QUEUED;
    job->next = NULL;
    pthread_mutex_lock(&u->mu);
    while (u->unfinished >= u->depth)
        pthread_cond_wait(&u->done, &u->mu);
    if (u->tail)
        u->tail->next = job;
    else
        u->head = job;
    u->tail = job;
    u->unfinished++;
    if (poisoned_at(u, job->topic, job->partition) >= 0)
        cancel(u, job);
    else
        pthread_cond_signal(&u->work);
    pthread_cond_broadcast(&u->done);
    pthread_mutex_unlock(&u->mu);
}

fp_objstore_upload_job *fp_objstore_upload_reap(fp_upload *u, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&u->mu);
    fp_objstore_upload_job *prev = NULL, *j = u->head;
    while (j && !(j->state == J_DONE && same(j, topic, partition))) {
        prev = j;
        j = j->next;
    }
    if (j) {
        if (prev)
            prev->next = j->next;
        else
            u->head = j->next;
        if (u->tail == j)
            u->tail = prev;
        j->next = NULL;
    }
    pthread_mutex_unlock(&u->mu);
    return j;
}

void fp_objstore_upload_wait(fp_upload *u, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&u->mu);
    for (;;) {
        bool busy = false;
        for (fp_objstore_upload_job *j = u->head; j && !busy; j = j->next)
            busy = j->state != J_DONE && same(j, topic, partition);
        if (!busy)
            break;
        pthread_cond_wait(&u->done, &u->mu);
    }
    pthread_mutex_unlock(&u->mu);
}

int64_t fp_objstore_upload_oldest(fp_upload *u, const char *topic, int32_t partition)
{
    int64_t min = INT64_MAX;
    pthread_mutex_lock(&u->mu);
    for (fp_objstore_upload_job *j = u->head; j; j = j->next)
        if (same(j, topic, partition) && j->start < min && !(j->state == J_DONE && !j->rc))
            min = j->start;
    pthread_mutex_unlock(&u->mu);
    return min;
}

void fp_objstore_upload_forget(fp_upload *u, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&u->mu);
    int i = poisoned_at(u, topic, partition);
    if (i >= 0) {
        free(u->poisoned.v[i]);
        size_t last = --u->poisoned.n;
        u->poisoned.v[i] = u->poisoned.v[last];
        u->poisoned_part[i] = u->poisoned_part[last];
    }
    pthread_mutex_unlock(&u->mu);
}
