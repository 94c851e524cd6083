/* sigv4.c — AWS Signature Version 4 (header form), following the AWS documentation
 * "Create a signed AWS API request" and S3's "Signature Calculations for the Authorization
 * Header".
 *
 * Four steps: canonical request (method, canonical URI, canonical query, canonical headers,
 * signed header list, payload hash, joined by '\n'); string to sign ("AWS4-HMAC-SHA256", date,
 * scope, hex SHA-256 of the canonical request); signing key (HMAC-SHA256 chain over
 * "AWS4"+secret, date, region, service, "aws4_request"); signature (hex HMAC of the string to
 * sign). Everything is built in fp_buf; the derived key lives on the stack and is wiped.
 */
#include "aws/sigv4.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "core/time.h"

static const char hexdig[] = "0123456789abcdef";
static const char hexdig_up[] = "0123456789ABCDEF";

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[d[i] >> 4];
        out[2 * i + 1] = hexdig[d[i] & 15];
    }
    out[2 * n] = 0;
}

void fp_sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(p, n, d);
    to_hex(d, sizeof d, out);
}

fp_code fp_sigv4_amz_date(int64_t epoch_ms, char out[17])
{
    int y, mo, d, h, mi, s;
    out[0] = 0;
    /* Keeps the civil-date arithmetic far from overflow; years 0..9999 fit well inside. */
    if (epoch_ms < -62167219200000LL || epoch_ms > 253402300799999LL)
        return FP_ERR_INVALID;
    fp_time_utc(epoch_ms, &y, &mo, &d, &h, &mi, &s);
    if (y < 0 || y > 9999)
        return FP_ERR_INVALID;
    fp_buf b = FP_BUF_INIT;
    fp_buf_printf(&b, "%04d%02d%02dT%02d%02d%02dZ", y, mo, d, h, mi, s);
    memcpy(out, b.p, 17);
    fp_buf_free(&b);
    return FP_OK;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void uri_encode(fp_buf *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (unreserved(c)) {
            fp_buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hexdig_up[c >> 4], hexdig_up[c & 15]};
            fp_buf_append(out, e, 3);
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [p, p+n) and re-encodes it: "%7e" and "~" both become "~", "a b" and "a%20b"
 * both "a%20b". A '%' not followed by two hex digits is taken literally (encoded as %25); '+' is
 * a literal plus (%2B), not a space, as AWS's query rules have it. */
static void query_component(fp_buf *out, const char *p, size_t n)
{
    fp_buf raw = FP_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            fp_buf_putc(&raw, (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2])));
            i += 2;
        } else {
            fp_buf_putc(&raw, p[i]);
        }
    }
    uri_encode(out, raw.p ? raw.p : "", raw.len);
    fp_buf_free(&raw);
}

static fp_code canonical_uri(fp_buf *out, const char *path, bool s3, fp_err *err)
{
    if (!path || !*path) {
        fp_buf_putc(out, '/');
        return FP_OK;
    }
    if (path[0] != '/')
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: path does not start with '/'");
    if (s3) {
        for (const char *q = path; *q; q++)
            if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
                return fp_err_set(err, FP_ERR_INVALID,
                                  "sigv4: S3 path has byte 0x%02x at offset %zu; it must be "
                                  "percent-encoded as sent",
                                  (unsigned char)*q, (size_t)(q - path));
        fp_buf_puts(out, path);
        return FP_OK;
    }
    /* Segments as (start, length) pairs; ".." pops, "." and "" vanish. */
    size_t n = strlen(path), nseg = 0;
    size_t(*seg)[2] = fp_xcalloc(n + 1, sizeof *seg);
    bool trailing = false;
    for (size_t i = 1; i <= n;) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        size_t len = j - i;
        bool dot = len == 1 && path[i] == '.';
        bool dotdot = len == 2 && path[i] == '.' && path[i + 1] == '.';
        if (j == n) /* "/a/", "/a/." and "/a/b/.." all name a directory: keep its slash */
            trailing = len == 0 || dot || dotdot;
        if (dotdot) {
            if (nseg)
                nseg--;
        } else if (len && !dot) {
            seg[nseg][0] = i;
            seg[nseg][1] = len;
            nseg++;
        }
        i = j + 1;
    }
    fp_buf_putc(out, '/');
    for (size_t k = 0; k < nseg; k++) {
        if (k)
            fp_buf_putc(out, '/');
        uri_encode(out, path + seg[k][0], seg[k][1]);
    }
    if (nseg && trailing)
        fp_buf_putc(out, '/');
    free(seg);
    return FP_OK;
}

typedef struct param {
    char *name, *value; /* encoded */
} param;

static int param_cmp(const void *a, const void *b)
{
    const param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static void canonical_query(fp_buf *out, const char *q)
{
    if (!q || !*q)
        return;
    size_t cap = 1;
    for (const char *s = q; *s; s++)
        cap += *s == '&';
    param *ps = fp_xcalloc(cap, sizeof *ps);
    size_t np = 0;
    for (const char *s = q; *s;) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len) {
            const char *eq = memchr(s, '=', len);
            size_t nlen = eq ? (size_t)(eq - s) : len;
            fp_buf name = FP_BUF_INIT, value = FP_BUF_INIT;
            query_component(&name, s, nlen);
            if (eq)
                query_component(&value, eq + 1, len - nlen - 1);
            fp_buf_append(&name, "", 0); /* allocated and NUL-terminated even when empty */
            fp_buf_append(&value, "", 0);
            ps[np].name = fp_buf_steal(&name);
            ps[np].value = fp_buf_steal(&value);
            np++;
        }
        s += len + (amp ? 1 : 0);
    }
    qsort(ps, np, sizeof *ps, param_cmp);
    for (size_t i = 0; i < np; i++) {
        if (i)
            fp_buf_putc(out, '&');
        fp_buf_puts(out, ps[i].name);
        fp_buf_putc(out, '=');
        fp_buf_puts(out, ps[i].value);
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
}

typedef struct hdr {
    char *name; /* lower-case */
    const char *value;
    size_t index; /* keeps duplicates in the order given */
} hdr;

static int hdr_cmp(const void *a, const void *b)
{
    const hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Appends v without leading/trailing blanks and with each run of blanks as one space. */
static void trimmed_value(fp_buf *out, const char *v)
{
    bool pending = false, any = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            pending = any;
            continue;
        }
        if (pending)
            fp_buf_putc(out, ' ');
        pending = false;
        any = true;
        fp_buf_putc(out, *v);
    }
}

/* Appends the canonical headers block (each "name:value\n") to out and the signed header list to
 * signed_list. */
static fp_code canonical_headers(fp_buf *out, fp_buf *signed_list, const fp_sigv4_request *r,
                                 const fp_aws_creds *c, fp_err *err)
{
    if (r->nheaders && !r->headers)
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: %zu headers but no array", r->nheaders);
    hdr *hs = fp_xcalloc(r->nheaders + 1, sizeof *hs);
    fp_code rc = FP_OK;
    bool host = false, token = false;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[i].name, *value = r->headers[i].value;
        if (!name || !*name || !value) {
            rc = fp_err_set(err, FP_ERR_INVALID, "sigv4: header %zu has no name or no value", i);
            goto out;
        }
        hs[i].name = fp_xstrdup(name);
        for (char *p = hs[i].name; *p; p++) {
            if ((unsigned char)*p <= 0x20 || *p == ':' || (unsigned char)*p >= 0x7f) {
                rc = fp_err_set(err, FP_ERR_INVALID, "sigv4: header %zu: invalid name byte 0x%02x",
                                i, (unsigned char)*p);
                goto out;
            }
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        }
        for (const char *v = value; *v; v++)
            if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f) {
                /* The value may be the session token: name the header, not the value. */
                rc = fp_err_set(err, FP_ERR_INVALID,
                                "sigv4: header %s: control byte 0x%02x in the value", hs[i].name,
                                (unsigned char)*v);
                goto out;
            }
        hs[i].value = value;
        hs[i].index = i;
        host |= strcmp(hs[i].name, "host") == 0;
        token |= strcmp(hs[i].name, "x-amz-security-token") == 0;
    }
    if (!host) {
        rc = fp_err_set(err, FP_ERR_INVALID, "sigv4: no Host header among the signed headers");
        goto out;
    }
    if (c->session_token && *c->session_token && !token) {
        /* Names the header, never the token. */
        rc = fp_err_set(err, FP_ERR_INVALID,
                        "sigv4: credentials have a session token but the request has no "
                        "X-Amz-Security-Token header");
        goto out;
    }
    qsort(hs, r->nheaders, sizeof *hs, hdr_cmp);
    for (size_t i = 0; i < r->nheaders; i++) {
        bool same = i && strcmp(hs[i].name, hs[i - 1].name) == 0;
        if (same) {
            fp_buf_putc(out, ',');
        } else {
            if (i) {
                fp_buf_putc(out, '\n');
                fp_buf_putc(signed_list, ';');
            }
            fp_buf_puts(out, hs[i].name);
            fp_buf_putc(out, ':');
            fp_buf_puts(signed_list, hs[i].name);
        }
        trimmed_value(out, hs[i].value);
    }
    fp_buf_putc(out, '\n');
out:
    for (size_t i = 0; i < r->nheaders; i++)
        free(hs[i].name);
    free(hs);
    return rc;
}

static bool valid_amz_date(const char *d)
{
    if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return false;
    return true;
}

static bool valid_payload_hash(const char *h)
{
    if (!h)
        return false;
    if (strcmp(h, "UNSIGNED-PAYLOAD") == 0)
        return true;
    if (strlen(h) != 64)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Scope parts end up in the Authorization header: no separators or control bytes. */
static bool valid_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '/' || *s == ',' ||
            *s == '=')
            return false;
    return true;
}

/* out may alias key: the result goes through a local first. */
static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = sizeof md;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), md, &len);
    memcpy(out, md, 32);
    OPENSSL_cleanse(md, sizeof md);
}

fp_code fp_sigv4_sign(const fp_sigv4_request *r, const fp_aws_creds *c, const char *region,
                      const char *service, const char *amz_date, bool s3, fp_buf *authorization,
                      fp_buf *canonical_request, fp_err *err)
{
    if (!r || !c || !authorization)
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: no request, credentials or output");
    if (!valid_token(c->access_key))
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: access key is missing or malformed");
    if (!c->secret_key || !*c->secret_key)
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: secret key is missing");
    if (!valid_token(region))
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: region is missing or malformed");
    if (!valid_token(service))
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: service is missing or malformed");
    if (!valid_amz_date(amz_date))
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: date \"%.32s\" is not YYYYMMDDTHHMMSSZ",
                          amz_date ? amz_date : "");
    if (!valid_token(r->method))
        return fp_err_set(err, FP_ERR_INVALID, "sigv4: method is missing or malformed");
    if (!valid_payload_hash(r->payload_sha256_hex))
        return fp_err_set(err, FP_ERR_INVALID,
                          "sigv4: payload hash is neither 64 lower-case hex digits nor "
                          "UNSIGNED-PAYLOAD");

    fp_buf creq = FP_BUF_INIT, hdrs = FP_BUF_INIT, signed_list = FP_BUF_INIT;
    fp_buf_puts(&creq, r->method);
    fp_buf_putc(&creq, '\n');
    fp_code rc = canonical_uri(&creq, r->path, s3, err);
    if (rc)
        goto out;
    fp_buf_putc(&creq, '\n');
    canonical_query(&creq, r->query);
    fp_buf_putc(&creq, '\n');
    rc = canonical_headers(&hdrs, &signed_list, r, c, err);
    if (rc)
        goto out;
    fp_buf_append(&creq, hdrs.p, hdrs.len);
    fp_buf_putc(&creq, '\n');
    fp_buf_append(&creq, signed_list.p, signed_list.len);
    fp_buf_putc(&creq, '\n');
    fp_buf_puts(&creq, r->payload_sha256_hex);

    char date[9], creq_hash[65];
    memcpy(date, amz_date, 8);
    date[8] = 0;
    fp_sigv4_sha256_hex(creq.p, creq.len, creq_hash);
    fp_buf scope = FP_BUF_INIT, sts = FP_BUF_INIT, k = FP_BUF_INIT;
    fp_buf_printf(&scope, "%s/%s/%s/aws4_request", date, region, service);
    fp_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope.p, creq_hash);

    unsigned char key[32], sig[32];
    fp_buf_puts(&k, "AWS4");
    fp_buf_puts(&k, c->secret_key);
    hmac(k.p, k.len, date, key);
    OPENSSL_cleanse(k.p, k.len);
    fp_buf_free(&k);
    hmac(key, sizeof key, region, key);
    hmac(key, sizeof key, service, key);
    hmac(key, sizeof key, "aws4_request", key);
    hmac(key, sizeof key, sts.p, sig);
    OPENSSL_cleanse(key, sizeof key);
    char sig_hex[65];
    to_hex(sig, sizeof sig, sig_hex);

    fp_buf_printf(authorization,
                  "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                  c->access_key, scope.p, signed_list.p, sig_hex);
    if (canonical_request)
        fp_buf_append(canonical_request, creq.p, creq.len);
    fp_buf_free(&scope);
    fp_buf_free(&sts);
out:
    fp_buf_free(&creq);
    fp_buf_free(&hdrs);
    fp_buf_free(&signed_list);
    return rc;
}
