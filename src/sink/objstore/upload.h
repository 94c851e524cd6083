/* upload.h — the objstore sink's background uploader: one thread per task moves finished
 * staging files into the store (fp_store_put_file: an S3 PUT or multipart upload, or fsync +
 * rename) while the task keeps consuming, so store latency overlaps Kafka reads.
 *
 * Delivery: a job's offsets stay uncommitted until its upload succeeded
 * (fp_objstore_upload_oldest() is part of the sink's uncommitted_from); failures surface when the
 * task reaps them. Order: jobs run one at a time in FIFO order, and a failed job cancels the queued
 * jobs of the same partition, so a partition's objects never exist with a gap (the replay
 * reconciliation's probe relies on it). Budget: at most `depth` staging files wait;
 * fp_objstore_upload_push() blocks when the queue is full. After-commit hook:
 * fp_objstore_upload_new()'s `done` runs on the worker thread right after a job's object is in the
 * store (the objstore sink publishes its object-committed event there); its failure fails the job
 * exactly like a failed upload, so the job's offsets stay uncommitted until the hook succeeded too.
 * Threads: every function but the worker and the hook is called from the task thread.
 */
#ifndef FP_SINK_OBJSTORE_UPLOAD_H
#define FP_SINK_OBJSTORE_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

typedef struct fp_upload fp_upload;

typedef struct fp_objstore_upload_job {
    char *topic; /* owned */
    int32_t partition;
    int64_t start, records, bytes;
    bool replay;      /* the object existed when its file was opened: a replay rewrote it */
    char *tmp, *name; /* owned: staging path (gone after success or failure), object name */
    fp_code rc;       /* when done */
    fp_err err;
    struct fp_objstore_upload_job *next;
    int state; /* internal */
} fp_objstore_upload_job;

/* Runs on the worker thread after job's object was stored; non-OK fails the job (the object
 * stays: the replay rewrites it identically and the hook runs again). */
typedef fp_code (*fp_objstore_upload_done_fn)(void *arg, const fp_objstore_upload_job *job,
                                              fp_err *err);

/* done may be NULL (no hook); arg is passed to it. */
fp_upload *fp_objstore_upload_new(fp_store *store, int depth, fp_objstore_upload_done_fn done,
                                  void *arg);
/* Waits for every job, then stops the thread; unreaped jobs are freed. */
void fp_objstore_upload_free(fp_upload *u);
/* Queues a job (ownership passes); blocks while `depth` jobs are unfinished. */
void fp_objstore_upload_push(fp_upload *u, fp_objstore_upload_job *job);
/* A finished job of topic/partition (or of any partition when topic is NULL), removed from the
 * queue; NULL when none is finished. The caller frees it with fp_objstore_upload_job_free(). */
fp_objstore_upload_job *fp_objstore_upload_reap(fp_upload *u, const char *topic, int32_t partition);
/* Blocks until no job of topic/partition (every job when topic is NULL) is queued or running. */
void fp_objstore_upload_wait(fp_upload *u, const char *topic, int32_t partition);
/* Lowest start offset of the partition's jobs not yet done successfully (queued, running or
 * failed and unreaped), INT64_MAX when none. */
int64_t fp_objstore_upload_oldest(fp_upload *u, const char *topic, int32_t partition);
void fp_objstore_upload_job_free(fp_objstore_upload_job *job);
/* Ends the cancelling after a failure of topic/partition: call it once the partition's jobs
 * are reaped and before it is replayed (the sink's close()). */
void fp_objstore_upload_forget(fp_upload *u, const char *topic, int32_t partition);

#endif
