/* store.h — an object store: named immutable objects put from local files.
 *
 * The one thing a reader must know: fp_store_put_file() is the commit point. When it returns
 * FP_OK the object is durable under its final name (file://: fsync file, rename, fsync
 * directory), and readers never see a partial object. Objects are written to a local staging
 * file first (fp_store_staging_dir(); for file:// it is inside the store so the commit is a
 * rename on one file system). s3://bucket/prefix (store_s3.c) gives the same contract: an
 * object appears whole under its name when its PUT (or the CompleteMultipartUpload of a large
 * one) succeeds, and S3's read-after-write consistency makes exists/list/read see it at once.
 *
 * Threads: an fp_store may be shared by threads; operations are independent.
 */
#ifndef FP_STORE_H
#define FP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/props.h"
#include "core/stop.h"

typedef struct fp_store fp_store;

/* Options for s3:// stores (all optional; NULL opts means defaults). Strings are copied. */
typedef struct fp_store_opts {
    const char *region; /* s3: default AWS_REGION / AWS_DEFAULT_REGION */
    const char
        *endpoint; /* s3: "http://127.0.0.1:4568"; default https://s3.<region>.amazonaws.com */
    const char *profile;     /* credentials profile (aws/creds.h) */
    const char *staging_dir; /* local staging; default <root>/.staging (file), $TMPDIR (s3) */
    int64_t part_size;       /* s3: objects above it go multipart; default 25 MiB, min 5 MiB */
    int path_style;          /* s3: 1 path-style, 0 virtual-hosted, -1 (default): path-style
                                exactly when an endpoint is given */
    const fp_stop *stop;     /* s3: ends retry waits early; may be NULL; must outlive the store */
    /* file: the root must already be a directory (a missing or non-directory path is
     * FP_ERR_CONFIG naming it) instead of being created: a store that is a source. */
    bool must_exist;
    /* file: only read from, so nothing is created (implies must_exist; no staging dir). */
    bool read_only;
} fp_store_opts;

/* url: file:///abs/path, a plain (relative or absolute) directory path, or
 * s3://bucket[/prefix]. FP_ERR_CONFIG names a bad URL or option. */
fp_code fp_store_open(const char *url, const fp_store_opts *opts, fp_store **out, fp_err *err);
void fp_store_free(fp_store *s);

/* A local directory for staging files (created on open; NULL for a read_only store). */
const char *fp_store_staging_dir(const fp_store *s);
/* Creates a new, empty staging file <staging dir>/<prefix>-XXXXXX (a unique name) for writing,
 * with mode 0666 less the umask, as every object fleetpipe writes (mkstemp's 0600 would hide the
 * lake from a query engine running as another user). Returns the open fd (O_WRONLY, close-on-
 * exec) and sets *path (reset first); -1 with err (FP_ERR_IO) when it cannot. */
int fp_store_staging_file(const fp_store *s, const char *prefix, fp_buf *path, fp_err *err);
/* Moves the local file into the store as object `name` ("raw/fms.vehicle/dt=.../x.jsonl");
 * the local file is gone afterwards on success. FP_ERR_IO errors are worth retrying. */
fp_code fp_store_put_file(fp_store *s, const char *local_path, const char *name, fp_err *err);
fp_code fp_store_exists(fp_store *s, const char *name, bool *exists, fp_err *err);
/* Appends the names of all objects under prefix (recursively) to out. */
fp_code fp_store_list(fp_store *s, const char *prefix, fp_strv *out, fp_err *err);
fp_code fp_store_delete(fp_store *s, const char *name, fp_err *err);
/* Streams an object's bytes to cb, which returns FP_OK to continue. */
fp_code fp_store_read(fp_store *s, const char *name,
                      fp_code (*cb)(const void *data, size_t n, void *arg, fp_err *err), void *arg,
                      fp_err *err);

#endif
