/* store_s3.c — s3://bucket/prefix object store over the S3 REST API (aws/client.h).
 *
 * put_file is the commit point, as for file://: a staging file up to s3.part.size goes up in one
 * PutObject; a larger one as a multipart upload (CreateMultipartUpload, UploadPart per
 * part_size slice, CompleteMultipartUpload), and the object appears whole only when the upload
 * completes. A failed multipart upload is aborted so no parts linger (and bill). Every body is
 * streamed from the staging file with pread and never buffered: memory per store is one curl
 * transfer buffer, whatever the part size or the number of open files, and the "single memory
 * budget per task" is this constant. Each body is read once beforehand to compute its
 * Content-MD5 (S3 rejects a corrupted body) and the SHA-256 that SigV4 signs.
 *
 * Errors: FP_ERR_IO after the client's retries ran out (network, 5xx, throttling: worth
 * retrying later); FP_ERR_CONFIG for answers that retrying cannot fix (access denied, bad
 * signature, no such bucket); FP_ERR_NOTFOUND from read() of a missing object.
 * Threads: one mutex serialises the store's single HTTP connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/client.h"
#include "core/mem.h"
#include "store/store_int.h"

#define MIN_PART (5 * 1024 * 1024)
#define MAX_PARTS 10000

typedef struct s3_store {
    fp_store base;
    fp_aws_client *aws;
    char *bucket, *prefix; /* prefix "" or "a/b/" */
    char *base_path;       /* "/bucket/" (path style) or "/" */
    int64_t part_size;
    pthread_mutex_t mu;
} s3_store;

static const fp_store_ops s3_ops;

static void s3_free(fp_store *st)
{
    s3_store *s = (s3_store *)st;
    fp_aws_client_free(s->aws);
    free(s->bucket);
    free(s->prefix);
    free(s->base_path);
    free(s->base.staging);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Bucket naming rules (general purpose buckets): 3-63 of a-z 0-9 . -, starting and ending
 * with a letter or digit. */
static int bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-')
            return 0;
        if ((i == 0 || i == n - 1) && !alnum)
            return 0;
    }
    return 1;
}

fp_code fp_store_s3_open(const char *url, const fp_store_opts *o, fp_store **out, fp_err *err)
{
    const char *b = url + 5;
    size_t bn = strcspn(b, "/");
    if (!bucket_ok(b, bn))
        return fp_err_set(err, FP_ERR_CONFIG,
                          "store.url '%s': bucket name must be 3-63 of a-z 0-9 . - (S3 rules)",
                          url);
    const char *prefix = b[bn] ? b + bn + 1 : "";
    if (strstr(prefix, "//") || prefix[0] == '/')
        return fp_err_set(err, FP_ERR_CONFIG, "store.url '%s': empty segment in the prefix", url);
    const char *region = fp_aws_region(o->region);
    if (!region)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "store.url '%s': no region (set s3.region, or AWS_REGION)", url);
    if (o->part_size && o->part_size < MIN_PART)
        return fp_err_set(err, FP_ERR_CONFIG, "s3.part.size %lld: S3's minimum part is 5 MiB",
                          (long long)o->part_size);
    int path_style = o->path_style < 0 ? (o->endpoint && o->endpoint[0]) : o->path_style;

    fp_buf ep = FP_BUF_INIT;
    if (o->endpoint && o->endpoint[0]) {
        const char *host = strstr(o->endpoint, "://");
        if (!path_style && host) /* virtual-hosted on a custom endpoint: bucket.host */
            fp_buf_printf(&ep, "%.*s%.*s.%s", (int)(host + 3 - o->endpoint), o->endpoint, (int)bn,
                          b, host + 3);
        else
            fp_buf_puts(&ep, o->endpoint);
    } else if (path_style) {
        fp_buf_printf(&ep, "https://s3.%s.amazonaws.com", region);
    } else {
        fp_buf_printf(&ep, "https://%.*s.s3.%s.amazonaws.com", (int)bn, b, region);
    }
    while (ep.len && ep.p[ep.len - 1] == '/')
        ep.p[--ep.len] = '\0';

    s3_store *s = fp_xcalloc(1, sizeof *s);
    s->base.ops = &s3_ops;
    pthread_mutex_init(&s->mu, NULL);
    s->bucket = fp_xstrndup(b, bn);
    fp_buf t = FP_BUF_INIT;
    fp_buf_puts(&t, prefix);
    if (t.len && t.p[t.len - 1] != '/')
        fp_buf_putc(&t, '/');
    if (!t.p)
        fp_buf_puts(&t, "");
    s->prefix = fp_buf_steal(&t);
    fp_buf_printf(&t, "/");
    if (path_style)
        fp_buf_printf(&t, "%s/", s->bucket);
    s->base_path = fp_buf_steal(&t);
    s->part_size = o->part_size ? o->part_size : 25 * 1024 * 1024;
    if (o->staging_dir && o->staging_dir[0]) {
        fp_buf_puts(&t, o->staging_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        fp_buf_printf(&t, "%s/fleetpipe-staging-%d", tmp && tmp[0] ? tmp : "/tmp", (int)getuid());
    }
    s->base.staging = fp_buf_steal(&t);

    fp_aws_opts ao = {.service = "s3",
                      .region = region,
                      .endpoint = ep.p,
                      .profile = o->profile,
                      .stop = o->stop};
    fp_code rc = fp_aws_client_new(&ao, &s->aws, err);
    fp_buf_free(&ep);
    if (!rc)
        rc = fp_store_mkdirs(s->base.staging, err);
    if (rc) {
        s3_free(&s->base);
        return fp_err_prefix(err, "store %s", url);
    }
    *out = &s->base;
    return FP_OK;
}

/* "/bucket/prefix/name" percent-encoded ('/' kept), as S3 signs and receives it. */
static void object_path(const s3_store *s, const char *name, fp_buf *out)
{
    fp_buf_reset(out);
    fp_buf_puts(out, s->base_path);
    fp_aws_uri_encode(out, s->prefix, strlen(s->prefix), 1);
    fp_aws_uri_encode(out, name, strlen(name), 1);
}

/* Final answers that retrying cannot fix become configuration errors (the task fails with
 * the server's message); IO stays IO. */
static fp_code final(fp_code rc, fp_err *err)
{
    if (rc == FP_ERR_INVALID || rc == FP_ERR_NOTFOUND) {
        if (err)
            err->code = FP_ERR_CONFIG;
        return FP_ERR_CONFIG;
    }
    return rc;
}

/* MD5 (base64, for Content-MD5) and SHA-256 (hex, for SigV4) of [off, off+len) of fd. */
static fp_code hash_range(int fd, off_t off, size_t len, const char *what, char md5_b64[32],
                          char sha_hex[65], fp_err *err)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new(), *h = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m, EVP_md5(), NULL);
    EVP_DigestInit_ex(h, EVP_sha256(), NULL);
    char *buf = fp_xmalloc(1 << 16);
    fp_code rc = FP_OK;
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < (1u << 16) ? len - done : (1u << 16);
        ssize_t n = pread(fd, buf, want, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = fp_err_set(err, FP_ERR_IO, "read %s: %s", what, n ? strerror(errno) : "short");
            break;
        }
        EVP_DigestUpdate(m, buf, (size_t)n);
        EVP_DigestUpdate(h, buf, (size_t)n);
        done += (size_t)n;
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    EVP_DigestFinal_ex(m, d, &dn);
    EVP_EncodeBlock((unsigned char *)md5_b64, d, (int)dn);
    EVP_DigestFinal_ex(h, d, &dn);
    for (unsigned i = 0; i < dn; i++)
        snprintf(sha_hex + 2 * i, 3, "%02x", d[i]);
    free(buf);
    EVP_MD_CTX_free(m);
    EVP_MD_CTX_free(h);
    return rc;
}

/* Uploads [off, off+len) of fd as the body of method path?query. */
static fp_code send_range(s3_store *s, const char *method, const char *op, const char *path,
                          const char *query, int fd, off_t off, size_t len, const char *what,
                          fp_aws_resp *resp, fp_err *err)
{
    char md5[32], sha[65];
    fp_code rc = hash_range(fd, off, len, what, md5, sha, err);
    if (rc)
        return rc;
    fp_sigv4_header h[] = {{"Content-MD5", md5}};
    fp_aws_req r = {.method = method,
                    .op = op,
                    .path = path,
                    .query = query,
                    .headers = h,
                    .nheaders = 1,
                    .body_fd = fd,
                    .body_off = off,
                    .body_len = len,
                    .body_sha256 = sha};
    return fp_aws_call(s->aws, &r, resp, err);
}

/* The text of the first <tag>..</tag> in xml, or NULL. */
static char *xml_text(const char *xml, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = xml ? strstr(xml, open) : NULL;
    const char *b = a ? strstr(a, close) : NULL;
    if (!b)
        return NULL;
    a += strlen(open);
    return fp_xstrndup(a, (size_t)(b - a));
}

static void abort_upload(s3_store *s, const char *path, const char *upload_query)
{
    fp_aws_resp resp = {0};
    fp_err ignore = {0};
    fp_aws_req r = {.method = "DELETE",
                    .op = "AbortMultipartUpload",
                    .path = path,
                    .query = upload_query,
                    .body_fd = -1};
    fp_aws_call(s->aws, &r, &resp, &ignore);
    fp_aws_resp_free(&resp);
}

/* True when the object at path exists with exactly size bytes. */
static bool completed_before(s3_store *s, const char *path, size_t size)
{
    fp_aws_resp resp = {0};
    fp_err ignore = {0};
    fp_aws_req r = {.method = "HEAD", .op = "HeadObject", .path = path, .body_fd = -1};
    bool ok = !fp_aws_call(s->aws, &r, &resp, &ignore) && resp.content_length == (int64_t)size;
    fp_aws_resp_free(&resp);
    return ok;
}

static fp_code put_multipart(s3_store *s, int fd, size_t size, const char *path, const char *what,
                             fp_err *err)
{
    int64_t part = s->part_size;
    if ((size + (size_t)part - 1) / (size_t)part > MAX_PARTS)
        part = (int64_t)((size + MAX_PARTS - 1) / MAX_PARTS);
    fp_aws_resp resp = {0};
    fp_aws_req cr = {.method = "POST",
                     .op = "CreateMultipartUpload",
                     .path = path,
                     .query = "uploads=",
                     .body_fd = -1};
    fp_code rc = fp_aws_call(s->aws, &cr, &resp, err);
    if (rc) {
        fp_aws_resp_free(&resp);
        return final(rc, err);
    }
    char *id = xml_text(resp.body.p, "UploadId");
    if (!id) {
        fp_aws_resp_free(&resp);
        return fp_err_set(err, FP_ERR_IO, "s3 CreateMultipartUpload %s: no UploadId in the answer",
                          path);
    }
    fp_buf upload_q = FP_BUF_INIT, q = FP_BUF_INIT, done = FP_BUF_INIT;
    fp_buf_puts(&upload_q, "uploadId=");
    fp_aws_uri_encode(&upload_q, id, strlen(id), 0);
    fp_buf_puts(&done,
                "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    int n = 0;
    for (size_t off = 0; !rc && off < size; off += (size_t)part) {
        size_t len = size - off < (size_t)part ? size - off : (size_t)part;
        n++;
        fp_buf_reset(&q);
        fp_buf_printf(&q, "partNumber=%d&%s", n, upload_q.p);
        rc = send_range(s, "PUT", "UploadPart", path, q.p, fd, (off_t)off, len, what, &resp, err);
        if (!rc && !resp.etag[0])
            rc = fp_err_set(err, FP_ERR_IO, "s3 UploadPart %d of %s: no ETag in the answer", n,
                            path);
        if (!rc)
            fp_buf_printf(&done, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", n,
                          resp.etag);
    }
    fp_buf_puts(&done, "</CompleteMultipartUpload>");
    if (!rc) {
        fp_sigv4_header h[] = {{"Content-Type", "application/xml"}};
        fp_aws_req r = {.method = "POST",
                        .op = "CompleteMultipartUpload",
                        .path = path,
                        .query = upload_q.p,
                        .headers = h,
                        .nheaders = 1,
                        .body = done.p,
                        .body_len = done.len,
                        .body_fd = -1};
        rc = fp_aws_call(s->aws, &r, &resp, err);
        /* S3 may answer 200 and put the error in the body (the request ran long). */
        if (!rc && resp.body.p && strstr(resp.body.p, "<Error>")) {
            char *code = xml_text(resp.body.p, "Code");
            rc = fp_err_set(err, FP_ERR_IO, "s3 CompleteMultipartUpload %s: %s", path,
                            code ? code : "error in a 200 answer");
            free(code);
        }
        /* A Complete that S3 carried out but whose answer was lost is retried by the client and
         * then answered NoSuchUpload (s3rver: 500s until the attempts run out): the object is
         * there if it has our size. Same name and size is enough, because a replay writes the
         * same bytes under the same name (objstore's reconciliation). */
        if ((rc == FP_ERR_IO || !strcmp(resp.code, "NoSuchUpload")) &&
            completed_before(s, path, size)) {
            fp_err_clear(err);
            rc = FP_OK;
        }
    }
    if (rc) {
        abort_upload(s, path, upload_q.p);
        rc = final(rc, err);
    }
    free(id);
    fp_buf_free(&upload_q);
    fp_buf_free(&q);
    fp_buf_free(&done);
    fp_aws_resp_free(&resp);
    return rc;
}

static fp_code s3_put_file(fp_store *st, const char *local, const char *name, fp_err *err)
{
    s3_store *s = (s3_store *)st;
    int fd = open(local, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fp_err_set(err, FP_ERR_IO, "open %s: %s", local, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return fp_err_set(err, FP_ERR_IO, "stat %s: %s", local, strerror(e));
    }
    fp_buf path = FP_BUF_INIT;
    object_path(s, name, &path);
    size_t size = (size_t)sb.st_size;
    pthread_mutex_lock(&s->mu);
    fp_code rc;
    if ((int64_t)size > s->part_size) {
        rc = put_multipart(s, fd, size, path.p, local, err);
    } else {
        fp_aws_resp resp = {0};
        rc = final(send_range(s, "PUT", "PutObject", path.p, NULL, fd, 0, size, local, &resp, err),
                   err);
        fp_aws_resp_free(&resp);
    }
    pthread_mutex_unlock(&s->mu);
    close(fd);
    if (!rc && unlink(local) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "unlink %s: %s", local, strerror(errno));
    fp_buf_free(&path);
    return rc;
}

/* A body-less request on one object (HEAD, DELETE); FP_ERR_NOTFOUND passes through. */
static fp_code object_call(s3_store *s, const char *method, const char *op, const char *name,
                           fp_err *err)
{
    fp_buf path = FP_BUF_INIT;
    object_path(s, name, &path);
    fp_aws_resp resp = {0};
    fp_aws_req r = {.method = method, .op = op, .path = path.p, .body_fd = -1};
    pthread_mutex_lock(&s->mu);
    fp_code rc = fp_aws_call(s->aws, &r, &resp, err);
    pthread_mutex_unlock(&s->mu);
    fp_aws_resp_free(&resp);
    fp_buf_free(&path);
    return rc;
}

static fp_code s3_exists(fp_store *st, const char *name, bool *exists, fp_err *err)
{
    fp_code rc = object_call((s3_store *)st, "HEAD", "HeadObject", name, err);
    *exists = rc == FP_OK;
    if (rc == FP_ERR_NOTFOUND) {
        fp_err_clear(err);
        rc = FP_OK;
    }
    return final(rc, err);
}

/* XML entities S3 uses in keys: &amp; &lt; &gt; &quot; &apos; and numeric ones. */
static char *xml_unescape(const char *a, size_t n)
{
    fp_buf o = FP_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != '&') {
            fp_buf_putc(&o, a[i]);
            continue;
        }
        static const char *const ent[][2] = {
            {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
        size_t k;
        for (k = 0; k < 5; k++) {
            size_t l = strlen(ent[k][0]);
            if (i + l <= n && !strncmp(a + i, ent[k][0], l)) {
                fp_buf_puts(&o, ent[k][1]);
                i += l - 1;
                break;
            }
        }
        if (k < 5)
            continue;
        unsigned long cp;
        char *end;
        if (i + 2 < n && a[i + 1] == '#' &&
            (cp = a[i + 2] == 'x' ? strtoul(a + i + 3, &end, 16) : strtoul(a + i + 2, &end, 10),
             end < a + n && *end == ';' && cp > 0 && cp < 0x80)) {
            fp_buf_putc(&o, (char)cp);
            i = (size_t)(end - a);
        } else {
            fp_buf_putc(&o, '&');
        }
    }
    if (!o.p)
        fp_buf_puts(&o, "");
    return fp_buf_steal(&o);
}

static fp_code s3_list(fp_store *st, const char *prefix, fp_strv *out, fp_err *err)
{
    s3_store *s = (s3_store *)st;
    fp_buf full = FP_BUF_INIT, q = FP_BUF_INIT, lpath = FP_BUF_INIT;
    fp_buf_printf(&full, "%s%s", s->prefix, prefix);
    while (full.len && full.p[full.len - 1] == '/')
        full.p[--full.len] = '\0';
    if (full.len)
        fp_buf_putc(&full, '/'); /* "raw" lists raw/..., not rawfoo */
    fp_buf_puts(&lpath, s->base_path);
    size_t plen = strlen(s->prefix);
    char *token = NULL;
    fp_aws_resp resp = {0};
    fp_code rc = FP_OK;
    pthread_mutex_lock(&s->mu);
    do {
        fp_buf_reset(&q);
        if (token) {
            fp_buf_puts(&q, "continuation-token=");
            fp_aws_uri_encode(&q, token, strlen(token), 0);
            fp_buf_putc(&q, '&');
        }
        fp_buf_puts(&q, "list-type=2&prefix=");
        fp_aws_uri_encode(&q, full.p ? full.p : "", full.len, 0);
        fp_aws_req r = {
            .method = "GET", .op = "ListObjectsV2", .path = lpath.p, .query = q.p, .body_fd = -1};
        rc = final(fp_aws_call(s->aws, &r, &resp, err), err);
        free(token);
        token = NULL;
        if (rc)
            break;
        for (const char *p = resp.body.p; p && (p = strstr(p, "<Key>"));) {
            p += 5;
            const char *e = strstr(p, "</Key>");
            if (!e)
                break;
            char *key = xml_unescape(p, (size_t)(e - p));
            if (strlen(key) > plen && !strncmp(key, s->prefix, plen)) {
                out->v = fp_xrealloc(out->v, (out->n + 1) * sizeof *out->v);
                out->v[out->n++] = fp_xstrdup(key + plen);
            }
            free(key);
            p = e;
        }
        char *trunc = xml_text(resp.body.p, "IsTruncated");
        if (trunc && !strcmp(trunc, "true")) {
            char *t = xml_text(resp.body.p, "NextContinuationToken");
            token = t ? xml_unescape(t, strlen(t)) : NULL;
            free(t);
            if (!token)
                rc = fp_err_set(
                    err, FP_ERR_IO,
                    "s3 ListObjectsV2 %s: truncated answer without a continuation token", lpath.p);
        }
        free(trunc);
    } while (!rc && token);
    pthread_mutex_unlock(&s->mu);
    free(token);
    fp_aws_resp_free(&resp);
    fp_buf_free(&full);
    fp_buf_free(&q);
    fp_buf_free(&lpath);
    return rc;
}

static fp_code s3_delete(fp_store *st, const char *name, fp_err *err)
{
    fp_code rc = object_call((s3_store *)st, "DELETE", "DeleteObject", name, err);
    if (rc == FP_ERR_NOTFOUND) { /* S3 answers 204 anyway; other stores may not */
        fp_err_clear(err);
        rc = FP_OK;
    }
    return final(rc, err);
}

static fp_code s3_read(fp_store *st, const char *name,
                       fp_code (*cb)(const void *data, size_t n, void *arg, fp_err *err), void *arg,
                       fp_err *err)
{
    s3_store *s = (s3_store *)st;
    fp_buf path = FP_BUF_INIT;
    object_path(s, name, &path);
    fp_aws_resp resp = {0};
    fp_aws_req r = {.method = "GET",
                    .op = "GetObject",
                    .path = path.p,
                    .body_fd = -1,
                    .on_data = cb,
                    .on_data_arg = arg};
    pthread_mutex_lock(&s->mu);
    fp_code rc = fp_aws_call(s->aws, &r, &resp, err);
    pthread_mutex_unlock(&s->mu);
    fp_aws_resp_free(&resp);
    fp_buf_free(&path);
    return rc == FP_ERR_NOTFOUND ? rc : final(rc, err);
}

static const fp_store_ops s3_ops = {s3_put_file, s3_exists, s3_list, s3_delete, s3_read, s3_free};
