/* store_file.c — file:// object store: a directory tree, commit by rename.
 *
 * put_file: fsync the staging file, mkdir -p the object's directory (fsyncing the parent of
 * every directory it creates), rename(2) the staging file over the final name (atomic: readers
 * see the old object or the new one, never a mix), then fsync the directory so the rename
 * survives a power cut. Staging lives in <root>/.staging so the rename never crosses file
 * systems; names starting with '.' are not objects. A source store (must_exist, read_only)
 * is never created: a typo in a path is an error naming it, not an empty store. Files are
 * created 0666 less the umask (fp_store_staging_file), like any program's output.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"

typedef struct file_store {
    fp_store base;
    char *root;
} file_store;

static fp_code fsync_path(const char *path, int flags, fp_err *err)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return fp_err_set(err, FP_ERR_IO, "open %s: %s", path, strerror(errno));
    fp_code rc = FP_OK;
    if (fsync(fd) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "fsync %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

/* mkdir, and fsync the parent of a directory it created: the new entry lives in the parent,
 * and without it a power cut could lose the directory and the objects renamed into it after
 * their offsets were committed. */
static fp_code mkdir_durable(char *p, fp_err *err)
{
    if (mkdir(p, 0777) != 0) {
        if (errno == EEXIST)
            return FP_OK;
        return fp_err_set(err, FP_ERR_IO, "mkdir %s: %s", p, strerror(errno));
    }
    char *slash = strrchr(p, '/');
    if (!slash)
        return fsync_path(".", O_RDONLY | O_DIRECTORY, err);
    if (slash == p)
        return fsync_path("/", O_RDONLY | O_DIRECTORY, err);
    *slash = '\0';
    fp_code rc = fsync_path(p, O_RDONLY | O_DIRECTORY, err);
    *slash = '/';
    return rc;
}

fp_code fp_store_mkdirs(const char *path, fp_err *err)
{
    char *p = fp_xstrdup(path);
    fp_code rc = FP_OK;
    for (char *s = p + 1; !rc && *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        rc = mkdir_durable(p, err);
        *s = '/';
    }
    if (!rc)
        rc = mkdir_durable(p, err);
    free(p);
    return rc;
}

int fp_store_staging_file(const fp_store *s, const char *prefix, fp_buf *path, fp_err *err)
{
    if (!s->staging) {
        fp_err_set(err, FP_ERR_IO, "store opened read-only has no staging directory");
        return -1;
    }
    /* mkstemp's names, but created 0666 so the kernel applies the umask (mkstemp uses 0600) */
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static _Atomic unsigned long counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long v = (unsigned long long)ts.tv_nsec ^
                               ((unsigned long long)getpid() << 32) ^
                               (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ULL);
        char suffix[7];
        for (int i = 0; i < 6; i++, v /= 62)
            suffix[i] = chars[v % 62];
        suffix[6] = '\0';
        fp_buf_reset(path);
        fp_buf_printf(path, "%s/%s-%s", s->staging, prefix, suffix);
        int fd = open(path->p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST) {
            fp_err_set(err, FP_ERR_IO, "create %s: %s", path->p, strerror(errno));
            return -1;
        }
    }
    fp_err_set(err, FP_ERR_IO, "create %s: no unused name after 100 tries", path->p);
    return -1;
}

/* A source store's root: an existing directory, or FP_ERR_CONFIG saying what it is instead
 * (store.c prefixes the URL). */
static fp_code check_root(const char *root, fp_err *err)
{
    struct stat st;
    if (stat(root, &st) != 0)
        return fp_err_set(err, errno == ENOENT ? FP_ERR_CONFIG : FP_ERR_IO, "%s",
                          errno == ENOENT ? "no such directory" : strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fp_err_set(err, FP_ERR_CONFIG, "not a directory");
    return FP_OK;
}

static void file_free(fp_store *st)
{
    file_store *s = (file_store *)st;
    free(s->root);
    free(s->base.staging);
    free(s);
}

static const fp_store_ops file_ops;

fp_code fp_store_file_open(const char *path, const fp_store_opts *o, fp_store **out, fp_err *err)
{
    file_store *s = fp_xcalloc(1, sizeof *s);
    s->base.ops = &file_ops;
    s->root = fp_xstrdup(path);
    size_t n = strlen(s->root);
    while (n > 1 && s->root[n - 1] == '/')
        s->root[--n] = '\0';
    fp_code rc = o->must_exist || o->read_only ? check_root(s->root, err) : FP_OK;
    if (!rc && !o->read_only) {
        fp_buf b = FP_BUF_INIT;
        if (o->staging_dir && o->staging_dir[0])
            fp_buf_puts(&b, o->staging_dir);
        else
            fp_buf_printf(&b, "%s/.staging", s->root);
        s->base.staging = fp_buf_steal(&b);
        /* the root first: a root that is a file fails as "not a directory", naming the root */
        if (!o->must_exist)
            rc = fp_store_mkdirs(s->root, err);
        if (!rc && fp_store_mkdirs(s->base.staging, err))
            rc = check_root(s->root, err) ? FP_ERR_CONFIG : err->code;
    }
    struct stat st_root, st_staging;
    if (!rc && s->base.staging && stat(s->root, &st_root) == 0 &&
        stat(s->base.staging, &st_staging) == 0 && st_root.st_dev != st_staging.st_dev)
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "store.staging.dir %s is on another file system than %s: a file:// "
                        "commit is a rename, which cannot cross file systems",
                        s->base.staging, s->root);
    if (rc) {
        file_free(&s->base);
        return rc;
    }
    *out = &s->base;
    return FP_OK;
}

static char *full_path(const fp_store *st, const char *name)
{
    const file_store *s = (const file_store *)st;
    fp_buf b = FP_BUF_INIT;
    fp_buf_printf(&b, "%s/%s", s->root, name);
    return fp_buf_steal(&b);
}

static fp_code file_put_file(fp_store *s, const char *local_path, const char *name, fp_err *err)
{
    char *dst = full_path(s, name);
    char *dir = fp_xstrdup(dst);
    *strrchr(dir, '/') = '\0';
    fp_code rc = fsync_path(local_path, O_RDONLY, err);
    if (!rc)
        rc = fp_store_mkdirs(dir, err);
    if (!rc && rename(local_path, dst) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "rename %s -> %s: %s", local_path, dst, strerror(errno));
    if (!rc)
        rc = fsync_path(dir, O_RDONLY | O_DIRECTORY, err);
    free(dst);
    free(dir);
    return rc;
}

static fp_code file_exists(fp_store *s, const char *name, bool *exists, fp_err *err)
{
    char *p = full_path(s, name);
    struct stat st;
    fp_code rc = FP_OK;
    *exists = false;
    if (stat(p, &st) == 0)
        *exists = S_ISREG(st.st_mode);
    else if (errno != ENOENT && errno != ENOTDIR)
        rc = fp_err_set(err, FP_ERR_IO, "stat %s: %s", p, strerror(errno));
    free(p);
    return rc;
}

static fp_code list_dir(const char *root, fp_buf *rel, fp_strv *out, fp_err *err)
{
    fp_buf path = FP_BUF_INIT;
    fp_buf_printf(&path, "%s/%s", root, rel->p ? rel->p : "");
    DIR *d = opendir(path.p);
    if (!d) {
        fp_code rc = FP_OK;
        if (errno != ENOENT && errno != ENOTDIR)
            rc = fp_err_set(err, FP_ERR_IO, "opendir %s: %s", path.p, strerror(errno));
        fp_buf_free(&path);
        return rc;
    }
    fp_code rc = FP_OK;
    struct dirent *de;
    for (de = readdir(d); rc == FP_OK && de; de = readdir(d)) {
        if (de->d_name[0] == '.')
            continue; /* ".", "..", staging and other hidden files are not objects */
        size_t keep = rel->len;
        if (rel->len)
            fp_buf_putc(rel, '/');
        fp_buf_puts(rel, de->d_name);
        struct stat st;
        fp_buf full = FP_BUF_INIT;
        fp_buf_printf(&full, "%s/%s", root, rel->p);
        if (stat(full.p, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = list_dir(root, rel, out, err);
        } else if (S_ISREG(st.st_mode)) {
            out->v = fp_xrealloc(out->v, (out->n + 1) * sizeof *out->v);
            out->v[out->n++] = fp_xstrdup(rel->p);
        }
        fp_buf_free(&full);
        rel->len = keep;
        rel->p[keep] = '\0';
    }
    closedir(d);
    fp_buf_free(&path);
    return rc;
}

static fp_code file_list(fp_store *s, const char *prefix, fp_strv *out, fp_err *err)
{
    fp_buf rel = FP_BUF_INIT;
    fp_buf_puts(&rel, prefix);
    while (rel.len && rel.p[rel.len - 1] == '/')
        rel.p[--rel.len] = '\0';
    fp_code rc = list_dir(((file_store *)s)->root, &rel, out, err);
    fp_buf_free(&rel);
    return rc;
}

static fp_code file_delete(fp_store *s, const char *name, fp_err *err)
{
    char *p = full_path(s, name);
    fp_code rc = FP_OK;
    if (unlink(p) != 0 && errno != ENOENT)
        rc = fp_err_set(err, FP_ERR_IO, "unlink %s: %s", p, strerror(errno));
    free(p);
    return rc;
}

static fp_code file_read(fp_store *s, const char *name,
                         fp_code (*cb)(const void *data, size_t n, void *arg, fp_err *err),
                         void *arg, fp_err *err)
{
    char *p = full_path(s, name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fp_code rc = fp_err_set(err, errno == ENOENT ? FP_ERR_NOTFOUND : FP_ERR_IO, "open %s: %s",
                                p, strerror(errno));
        free(p);
        return rc;
    }
    char *buf = fp_xmalloc(1 << 16);
    fp_code rc = FP_OK;
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 16);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fp_err_set(err, FP_ERR_IO, "read %s: %s", p, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        rc = cb(buf, (size_t)n, arg, err);
        if (rc)
            break;
    }
    free(buf);
    close(fd);
    free(p);
    return rc;
}

static const fp_store_ops file_ops = {file_put_file, file_exists, file_list,
                                      file_delete,   file_read,   file_free};
