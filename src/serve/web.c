/* web.c — the web console (web/, docs/web.md) as `fleetpipe serve` serves it: / is the single
 * page app's index.html, /assets/<name> its hashed scripts, styles and data, and
 * GET /api/v1/whoami tells the console who the caller is and how the fleet is configured.
 *
 * The one thing to know: the files come from a table fixed at start-up (web.h), looked up by
 * exact name. Their headers differ from the API's: a Content-Security-Policy that allows the
 * console's own scripts, styles and API calls and nothing else (no inline script, no other
 * origin), nosniff, the file's own Content-Type, and caching by name: files under /assets/
 * carry a content hash in their name (the bundler's), so they are immutable for a year, while
 * index.html is revalidated every time (no-cache) so a new build is picked up at once.
 */
#include "serve/web.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/json.h"
#include "serve/serve_int.h"

#define WEB_FILE_MAX (32u << 20) /* a --web-dir file larger than this is refused */
#define WEB_FILES_MAX 256

/* What the console's page may load: its own scripts, styles, images and data from this origin,
 * its API calls to this origin; no inline script or style element, no plugin, no frame. */
#define WEB_CSP                                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "                   \
    "frame-ancestors 'none'"

struct fp_serve_web {
    const fp_serve_web_file *files;
    size_t n;
    fp_serve_web_file *owned; /* --web-dir: read into memory, freed with the table */
    char *source;             /* "built-in" or the directory, for the log */
};

/* ---------------------------------------------------------------- loading --web-dir */

static fp_code read_whole(const char *path, unsigned char **out, size_t *len, fp_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_err_set(err, FP_ERR_CONFIG, "--web-dir: %s: %s", path, strerror(errno));
    fp_buf b = FP_BUF_INIT;
    char chunk[65536];
    size_t n;
    fp_code rc = FP_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > WEB_FILE_MAX) {
            rc = fp_err_set(err, FP_ERR_CONFIG, "--web-dir: %s: larger than %u MiB", path,
                            WEB_FILE_MAX >> 20);
            break;
        }
        fp_buf_append(&b, chunk, n);
    }
    if (!rc && ferror(f))
        rc = fp_err_set(err, FP_ERR_CONFIG, "--web-dir: %s: read error", path);
    fclose(f);
    if (rc) {
        fp_buf_free(&b);
        return rc;
    }
    *len = b.len;
    if (!b.p)
        fp_buf_reserve(&b, 0);
    *out = (unsigned char *)fp_buf_steal(&b);
    return FP_OK;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && !strcmp(s + n - t, tail);
}

/* Adds dir/name as url (and dir/name.gz beside it, when present). */
static fp_code add_file(fp_serve_web *w, size_t *cap, const char *dir, const char *name,
                        const char *url, fp_err *err)
{
    if (w->n == WEB_FILES_MAX)
        return fp_err_set(err, FP_ERR_CONFIG, "--web-dir %s: more than %d files", dir,
                          WEB_FILES_MAX);
    if (w->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        w->owned = fp_xrealloc(w->owned, *cap * sizeof *w->owned);
    }
    fp_buf p = FP_BUF_INIT;
    fp_buf_printf(&p, "%s/%s", dir, name);
    fp_serve_web_file f = {0};
    unsigned char *data = NULL;
    fp_code rc = read_whole(p.p, &data, &f.len, err);
    if (!rc) {
        f.data = data;
        fp_buf_puts(&p, ".gz");
        struct stat st;
        if (!stat(p.p, &st)) {
            unsigned char *gz = NULL;
            rc = read_whole(p.p, &gz, &f.gz_len, err);
            f.gz = gz;
        }
    }
    fp_buf_free(&p);
    if (rc) {
        free(data);
        return rc;
    }
    f.path = fp_xstrdup(url);
    w->owned[w->n++] = f;
    return FP_OK;
}

/* index.html and the files of assets/ (one level, as the bundler writes them). */
static fp_code load_dir(fp_serve_web *w, const char *dir, fp_err *err)
{
    size_t cap = 0;
    fp_buf index = FP_BUF_INIT;
    fp_buf_printf(&index, "%s/index.html", dir);
    struct stat st;
    fp_code rc = FP_OK;
    if (!stat(index.p, &st))
        rc = add_file(w, &cap, dir, "index.html", "/index.html", err);
    fp_buf_free(&index);
    fp_buf sub = FP_BUF_INIT;
    fp_buf_printf(&sub, "%s/assets", dir);
    DIR *d = rc ? NULL : opendir(sub.p);
    for (struct dirent *e = d ? readdir(d) : NULL; e && !rc; e = readdir(d)) {
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".gz"))
            continue;
        fp_buf url = FP_BUF_INIT;
        fp_buf_printf(&url, "/assets/%s", e->d_name);
        rc = add_file(w, &cap, sub.p, e->d_name, url.p, err);
        fp_buf_free(&url);
    }
    if (d)
        closedir(d);
    fp_buf_free(&sub);
    w->files = w->owned;
    return rc;
}

fp_code fp_serve_web_init(fp_serve *s, fp_err *err)
{
    fp_serve_web *w = fp_xcalloc(1, sizeof *w);
    s->web = w;
    if (!s->o.web_dir || !*s->o.web_dir) {
        w->files = fp_serve_web_builtin;
        w->n = fp_serve_web_builtin_n;
        w->source = fp_xstrdup("built-in");
        return FP_OK;
    }
    struct stat st;
    if (stat(s->o.web_dir, &st) || !S_ISDIR(st.st_mode))
        return fp_err_set(err, FP_ERR_CONFIG, "--web-dir %s: not a directory", s->o.web_dir);
    w->source = fp_xstrdup(s->o.web_dir);
    return load_dir(w, s->o.web_dir, err);
}

void fp_serve_web_free(fp_serve *s)
{
    fp_serve_web *w = s->web;
    if (!w)
        return;
    for (size_t i = 0; w->owned && i < w->n; i++) {
        free((char *)w->owned[i].path);
        free((void *)w->owned[i].data);
        free((void *)w->owned[i].gz);
    }
    free(w->owned);
    free(w->source);
    free(w);
    s->web = NULL;
}

size_t fp_serve_web_count(const fp_serve *s)
{
    return s->web ? s->web->n : 0;
}

const char *fp_serve_web_source(const fp_serve *s)
{
    return s->web ? s->web->source : "none";
}

/* ---------------------------------------------------------------- answers */

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (ends_with(path, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* Replaces a header the dispatcher set (its security defaults are the API's), or adds it. */
static void set_header(fp_http_resp *r, const char *name, const char *value)
{
    for (int i = 0; i < r->nhdr; i++)
        if (!strcasecmp(r->hdr_name[i], name)) {
            free(r->hdr_value[i]);
            r->hdr_value[i] = fp_xstrdup(value);
            return;
        }
    fp_http_resp_header(r, name, value);
}

/* Whether the request's Accept-Encoding accepts gzip: "gzip" or "*" listed with no q or q > 0. */
static bool accepts_gzip(const fp_http_req *req)
{
    const char *ae = fp_http_header(req, "Accept-Encoding");
    for (const char *p = ae; p && *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t name = strcspn(p, " \t;,");
        bool hit = (name == 4 && !strncasecmp(p, "gzip", 4)) || (name == 1 && *p == '*');
        if (hit) {
            const char *q = memchr(p, ';', n);
            q = q ? strstr(q, "q=") : NULL;
            return !q || q >= p + n || strtod(q + 2, NULL) > 0;
        }
        p += n;
    }
    return false;
}

static const fp_serve_web_file *lookup(const fp_serve_web *w, const char *path)
{
    for (size_t i = 0; w && i < w->n; i++)
        if (!strcmp(w->files[i].path, path))
            return &w->files[i];
    return NULL;
}

static void send_file(fp_serve_call *c, const fp_serve_web_file *f, bool immutable)
{
    fp_http_resp *r = c->resp;
    r->status = 200;
    r->content_type = content_type(f->path);
    fp_buf_reset(&r->body);
    set_header(r, "Content-Security-Policy", WEB_CSP);
    set_header(r, "X-Content-Type-Options", "nosniff");
    set_header(r, "Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
    set_header(r, "Referrer-Policy", "no-referrer");
    if (f->gz) {
        set_header(r, "Vary", "Accept-Encoding");
        if (accepts_gzip(c->req)) {
            set_header(r, "Content-Encoding", "gzip");
            fp_buf_append(&r->body, f->gz, f->gz_len);
            return;
        }
    }
    fp_buf_append(&r->body, f->data, f->len);
}

/* The console is not built: a page that says so and how to build it (the API keeps working). */
static void not_built(fp_serve_call *c)
{
    fp_http_resp *r = c->resp;
    r->status = 503;
    r->content_type = "text/html; charset=utf-8";
    fp_buf_reset(&r->body);
    set_header(r, "Retry-After", "60");
    fp_buf_puts(&r->body, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                          "<title>fleetpipe: web console not built</title></head><body>\n"
                          "<h1>The web console is not built</h1>\n"
                          "<p>This <code>fleetpipe serve</code> has no console files ");
    if (c->s->o.web_dir && *c->s->o.web_dir) {
        fp_buf_puts(&r->body, "in <code>--web-dir ");
        /* the operator's own flag, but escaped all the same */
        for (const char *p = c->s->o.web_dir; *p; p++) {
            if (*p == '<')
                fp_buf_puts(&r->body, "&lt;");
            else if (*p == '>')
                fp_buf_puts(&r->body, "&gt;");
            else if (*p == '&')
                fp_buf_puts(&r->body, "&amp;");
            else
                fp_buf_putc(&r->body, *p);
        }
        fp_buf_puts(&r->body, "</code> (it needs index.html and assets/).");
    } else {
        fp_buf_puts(&r->body,
                    "compiled in: <code>web/dist</code> did not exist when it was built.");
    }
    fp_buf_puts(&r->body,
                "</p>\n<p>Build them with <code>scripts/setup.sh</code> (which runs "
                "<code>npm ci --prefix web &amp;&amp; npm run build --prefix web</code>, then "
                "cmake), or give <code>--web-dir web/dist</code>.</p>\n"
                "<p>The Fleet API at <a href=\"/api/v1/openapi.json\">/api/v1</a> works without "
                "it.</p>\n</body></html>\n");
}

void fp_serve_web_index(fp_serve_call *c)
{
    const fp_serve_web_file *f = lookup(c->s->web, "/index.html");
    if (!f) {
        not_built(c);
        return;
    }
    send_file(c, f, false);
}

void fp_serve_web_asset(fp_serve_call *c)
{
    fp_buf path = FP_BUF_INIT;
    fp_buf_printf(&path, "/assets/%s", c->arg[0] ? c->arg[0] : "");
    const fp_serve_web_file *f = lookup(c->s->web, path.p);
    fp_buf_free(&path);
    if (!f) {
        if (!lookup(c->s->web, "/index.html"))
            not_built(c);
        else
            fp_serve_fail(c, 404, "no such console file: /assets/%.100s", c->arg[0]);
        return;
    }
    send_file(c, f, true);
}

/* ---------------------------------------------------------------- whoami */

void fp_serve_whoami(fp_serve_call *c)
{
    const fp_serve_opts *o = &c->s->o;
    fp_buf *b = &c->resp->body;
    fp_buf_puts(b, "{\"name\": ");
    fp_json_quote(b, c->who, strlen(c->who));
    fp_buf_printf(b, ", \"role\": \"%s\"", c->role == FP_SERVE_OPERATOR ? "operator" : "viewer");
    fp_buf_printf(b, ", \"tokens\": %s, \"timezone\": ", c->s->ntokens ? "true" : "false");
    fp_json_quote(b, o->timezone, strlen(o->timezone));
    fp_buf_printf(b, ", \"clock\": \"%s\"", o->data_clock ? "data" : "wall");
    fp_buf_printf(b, ", \"status_rules\": {\"offline_after_ms\": %" PRId64 ", \"moving_kmh\": ",
                  o->offline_after_ms);
    fp_buf_put_double(b, o->moving_kmh);
    fp_buf_puts(b, ", \"battery_low_v\": ");
    fp_buf_put_double(b, o->battery_low_v);
    fp_buf_puts(b, ", \"reefer_tolerance_c\": ");
    fp_buf_put_double(b, o->reefer_tolerance_c);
    fp_buf_printf(b,
                  "}, \"backends\": {\"dynamodb\": %s, \"postgresql\": %s, \"kafka\": %s, "
                  "\"commands\": %s, \"connect\": %s}}\n",
                  c->s->ddb ? "true" : "false", c->s->pg ? "true" : "false",
                  o->bootstrap ? "true" : "false", c->s->cmd ? "true" : "false",
                  o->connect_url ? "true" : "false");
}
