/* store.c — fp_store_* entry points: pick the backend by URL scheme, then dispatch. */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

fp_code fp_store_open(const char *url, const fp_store_opts *opts, fp_store **out, fp_err *err)
{
    static const fp_store_opts none = {.path_style = -1};
    *out = NULL;
    if (!opts)
        opts = &none;
    if (!url || !url[0])
        return fp_err_set(err, FP_ERR_CONFIG, "store.url is empty");
    if (!strncmp(url, "s3://", 5))
        return fp_store_s3_open(url, opts, out, err);
    const char *path = url;
    if (!strncmp(url, "file://", 7)) {
        path = url + 7;
        if (path[0] != '/')
            return fp_err_set(err, FP_ERR_CONFIG, "store.url '%s': file:// needs an absolute path",
                              url);
    } else if (strstr(url, "://")) {
        return fp_err_set(err, FP_ERR_CONFIG,
                          "store.url '%s': expected file:///path, a directory path or "
                          "s3://bucket/prefix",
                          url);
    }
    if (!path[0])
        return fp_err_set(err, FP_ERR_CONFIG, "store.url '%s' has no path", url);
    fp_code rc = fp_store_file_open(path, opts, out, err);
    return rc ? fp_err_prefix(err, "store %s", url) : FP_OK;
}

void fp_store_free(fp_store *s)
{
    if (s)
        s->ops->free(s);
}

const char *fp_store_staging_dir(const fp_store *s)
{
    return s->staging;
}

fp_code fp_store_put_file(fp_store *s, const char *local_path, const char *name, fp_err *err)
{
    return s->ops->put_file(s, local_path, name, err);
}

fp_code fp_store_exists(fp_store *s, const char *name, bool *exists, fp_err *err)
{
    return s->ops->exists(s, name, exists, err);
}

fp_code fp_store_list(fp_store *s, const char *prefix, fp_strv *out, fp_err *err)
{
    return s->ops->list(s, prefix, out, err);
}

fp_code fp_store_delete(fp_store *s, const char *name, fp_err *err)
{
    return s->ops->del(s, name, err);
}

fp_code fp_store_read(fp_store *s, const char *name,
                      fp_code (*cb)(const void *data, size_t n, void *arg, fp_err *err), void *arg,
                      fp_err *err)
{
    return s->ops->read(s, name, cb, arg, err);
}
