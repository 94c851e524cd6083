/* store_int.h — what an object store backend implements (store_file.c, store_s3.c); store.c
 * dispatches by URL scheme. A backend's struct starts with an fp_store. */
#ifndef FP_STORE_INT_H
#define FP_STORE_INT_H

#include "store/store.h"

typedef struct fp_store_ops {
    fp_code (*put_file)(fp_store *s, const char *local_path, const char *name, fp_err *err);
    fp_code (*exists)(fp_store *s, const char *name, bool *exists, fp_err *err);
    fp_code (*list)(fp_store *s, const char *prefix, fp_strv *out, fp_err *err);
    fp_code (*del)(fp_store *s, const char *name, fp_err *err);
    fp_code (*read)(fp_store *s, const char *name,
                    fp_code (*cb)(const void *data, size_t n, void *arg, fp_err *err), void *arg,
                    fp_err *err);
    void (*free)(fp_store *s);
} fp_store_ops;

struct fp_store {
    const fp_store_ops *ops;
    char *staging; /* owned */
};

fp_code fp_store_file_open(const char *path, const fp_store_opts *o, fp_store **out, fp_err *err);
fp_code fp_store_s3_open(const char *url, const fp_store_opts *o, fp_store **out, fp_err *err);
/* mkdir -p, fsyncing the parent of every directory it creates. */
fp_code fp_store_mkdirs(const char *path, fp_err *err);

#endif
