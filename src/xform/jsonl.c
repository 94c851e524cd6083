/* jsonl.c — JSON lines through a transform chain, in big blocks (see jsonl.h).
 *
 * Memory is bounded: one input block of FP_JSONL_MAX_LINE + 1 MiB, output and dead-letter
 * buffers flushed at 1 MiB (plus the outputs of the message in hand, at most FP_XFORM_MAX_OUT),
 * and the chain's own scratch. The only memmove is of the one partial line left at the end of
 * a block.
 */
#include "xform/jsonl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#define CHUNK (1u << 20)
#define FLUSH_AT (1u << 20)
#define DEAD_PREFIX 1024 /* bytes of an over-long line kept for its dead letter */

fp_code fp_xform_chain_load(const char *path, fp_xform_chain **out, fp_err *err)
{
    fp_props props;
    fp_props_init(&props);
    fp_code rc = fp_props_load_json_file(&props, path, err);
    if (rc) {
        fp_props_free(&props);
        return rc;
    }
    rc = fp_xform_chain_new(&props, out, err);
    if (rc) {
        fp_props_free(&props);
        fp_err_prefix(err, "connector %s", path);
        return rc;
    }
    for (size_t i = 0; i < props.n; i++) {
        const fp_prop *p = &props.v[i];
        if (p->used)
            continue;
        if (!strncmp(p->key, "transforms.", 11) || !strncmp(p->key, "predicates.", 11)) {
            rc = fp_err_set(err, FP_ERR_CONFIG,
                            "connector %s: unknown key '%s' (not a key of that transform or "
                            "predicate, or its alias is not listed; see fleetpipe help "
                            "transforms)",
                            path, p->key);
            fp_xform_chain_free(*out);
            *out = NULL;
            break;
        }
    }
    fp_props_free(&props);
    return rc;
}

typedef struct runner {
    fp_xform_chain *c;
    const fp_jsonl_opts *o;
    FILE *out, *dead;
    fp_jsonl_stats *st;
    fp_err *err;
    fp_buf dbuf;
    fp_xform_out xo;
    uint64_t lineno;
    bool io_failed;
} runner;

static void flush(runner *r, fp_buf *b, FILE *f)
{
    if (b->len && f && fwrite(b->p, 1, b->len, f) != b->len && !r->io_failed) {
        r->io_failed = true;
        fp_err_set(r->err, FP_ERR_IO, "write failed: %s", strerror(errno));
    }
    fp_buf_reset(b);
}

static void dead_letter(runner *r, fp_code code, const char *msg, uint64_t line, const char *p,
                        size_t n, size_t full)
{
    r->st->dead++;
    if (!r->dead)
        return;
    fp_buf *b = &r->dbuf;
    fp_buf_printf(b, "{\"error\":{\"class\":\"%s\",\"message\":", fp_code_name(code));
    fp_json_quote(b, msg, strlen(msg));
    fp_buf_printf(b, "},\"line\":%" PRIu64 ",\"input\":", line);
    fp_json_quote_raw(b, p, n);
    if (full > n)
        fp_buf_printf(b, ",\"input_truncated\":true,\"input_bytes\":%zu", full);
    fp_buf_puts(b, "}\n");
    if (b->len >= FLUSH_AT)
        flush(r, b, r->dead);
}

static void handle_line(runner *r, const char *p, size_t n)
{
    r->lineno++;
    if (n && p[n - 1] == '\r')
        n--;
    if (!n)
        return;
    r->st->in++;
    char where[40];
    snprintf(where, sizeof where, "line %" PRIu64, r->lineno);
    const fp_jsonl_opts *o = r->o;
    fp_rec_meta meta = {
        o->topic,
        o->partition,
        o->offset_start >= 0 ? o->offset_start + (int64_t)r->lineno - 1 : -1,
        o->timestamp_ms,
        where,
    };
    fp_err e = {0};
    size_t n0 = r->xo.n;
    fp_code rc = fp_xform_chain_apply(r->c, &meta, p, n, &r->xo, &e);
    if (rc) {
        dead_letter(r, rc, e.msg, r->lineno, p, n, n);
        return;
    }
    /* records went straight into the output block, newline-separated (xo.sep) */
    r->st->out += r->xo.n - n0;
    if (r->xo.data.len >= FLUSH_AT) {
        flush(r, &r->xo.data, r->out);
        fp_xform_out_reset(&r->xo);
    }
}

/* A line longer than any message: a dead letter keeping only its first bytes. */
static void too_long(runner *r, uint64_t line, size_t bytes, const char *prefix, size_t prefix_n)
{
    char msg[200];
    snprintf(msg, sizeof msg,
             "record at line %" PRIu64 ": line of %zu bytes exceeds the %u-byte message limit",
             line, bytes, (unsigned)FP_XFORM_MAX_MSG);
    r->st->in++;
    dead_letter(r, FP_ERR_LIMIT, msg, line, prefix, prefix_n, bytes);
}

fp_code fp_xform_jsonl_run(fp_xform_chain *c, const fp_jsonl_opts *o, FILE *in, FILE *out,
                           FILE *dead, fp_jsonl_stats *st, fp_err *err)
{
    runner r = {.c = c, .o = o, .out = out, .dead = dead, .st = st, .err = err};
    r.xo.sep = '\n';
    memset(st, 0, sizeof *st);
    const size_t cap = FP_JSONL_MAX_LINE + CHUNK;
    char *buf = fp_xmalloc(cap);
    size_t beg = 0, end = 0;
    bool eof = false, skipping = false;
    char prefix[DEAD_PREFIX];
    size_t prefix_n = 0, skip_bytes = 0;
    uint64_t skip_line = 0;
    fp_code rc = FP_OK;

    for (;;) {
        while (beg < end) {
            char *nl = memchr(buf + beg, '\n', end - beg);
            if (!nl)
                break;
            size_t len = (size_t)(nl - (buf + beg));
            if (skipping) {
                skipping = false;
                too_long(&r, skip_line, skip_bytes + len, prefix, prefix_n);
            } else {
                handle_line(&r, buf + beg, len);
            }
            beg = (size_t)(nl - buf) + 1;
        }
        if (eof) {
            if (skipping)
                too_long(&r, skip_line, skip_bytes, prefix, prefix_n);
            else if (beg < end) {
                handle_line(&r, buf + beg, end - beg);
            }
            break;
        }
        if (skipping) {
            skip_bytes += end - beg;
            beg = end = 0;
        } else if (end - beg > FP_JSONL_MAX_LINE) {
            /* too long to ever be a message: keep its start for the dead letter, drop the rest */
            skipping = true;
            skip_line = ++r.lineno;
            prefix_n = end - beg < DEAD_PREFIX ? end - beg : DEAD_PREFIX;
            memcpy(prefix, buf + beg, prefix_n);
            skip_bytes = end - beg;
            beg = end = 0;
        } else if (beg > 0) {
            memmove(buf, buf + beg, end - beg);
            end -= beg;
            beg = 0;
        }
        size_t n = fread(buf + end, 1, cap - end, in);
        if (n == 0) {
            if (ferror(in)) {
                rc = fp_err_set(err, FP_ERR_IO, "read failed: %s", strerror(errno));
                break;
            }
            eof = true;
        }
        end += n;
        if (r.io_failed)
            break;
    }
    flush(&r, &r.xo.data, out);
    flush(&r, &r.dbuf, dead);
    if (!rc && r.io_failed)
        rc = FP_ERR_IO;
    if (!rc && out && fflush(out) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "write failed: %s", strerror(errno));
    if (!rc && dead && fflush(dead) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "dead-letter write failed: %s", strerror(errno));
    free(buf);
    fp_buf_free(&r.dbuf);
    fp_xform_out_free(&r.xo);
    return rc;
}
