/* web.h — the web console's files as `fleetpipe serve` serves them at / and /assets/...
 *
 * The one thing to know: the files are a read-only table fixed at start-up, either the one
 * compiled into the binary (web/dist turned into C by cmake/web_assets.cmake at build time) or,
 * with --web-dir DIR, the files of DIR read once when the server starts. A request is a lookup
 * by exact name in that table, never a file system path, so no request can reach another file.
 * An empty table (the console was not built) answers / with a 503 page saying how to build it;
 * the API is unaffected.
 *
 * Threads: the table is written by fp_serve_web_init before the server listens and only read
 * afterwards, from any connection thread.
 */
#ifndef FP_SERVE_WEB_H
#define FP_SERVE_WEB_H

#include <stddef.h>

#include "core/err.h"

/* One file: its name from the site's root ("/index.html", "/assets/app-3KQ2LZ7N.js"), its bytes,
 * and optionally the same bytes gzip-compressed (served to clients that accept gzip). */
typedef struct fp_serve_web_file {
    const char *path;
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* NULL: none */
    size_t gz_len;
} fp_serve_web_file;

/* The table compiled into the binary (generated: build/generated/fp_serve_web_assets.c); empty
 * when web/dist did not exist at build time. */
extern const fp_serve_web_file fp_serve_web_builtin[];
extern const size_t fp_serve_web_builtin_n;

struct fp_serve;
struct fp_serve_call;

/* Chooses the table: --web-dir's files when s->o.web_dir is set (FP_ERR_CONFIG when it cannot
 * be read), else the built-in one. An empty table is not an error (/ answers 503). */
fp_code fp_serve_web_init(struct fp_serve *s, fp_err *err);
void fp_serve_web_free(struct fp_serve *s);

/* The table's size and where it came from ("built-in" or the directory), for the log. */
size_t fp_serve_web_count(const struct fp_serve *s);
const char *fp_serve_web_source(const struct fp_serve *s);

/* Routes: GET / (index.html), GET /assets/{name}; GET /api/v1/whoami: the caller's name and role,
 * the fleet's time zone and clock, the status rules and which backends are configured. */
void fp_serve_web_index(struct fp_serve_call *c);
void fp_serve_web_asset(struct fp_serve_call *c);
void fp_serve_whoami(struct fp_serve_call *c);

#endif
