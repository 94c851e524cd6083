/* policy.c — object paths, names and the rotation rules of the objstore sink (see objstore.h
 * for the exactly-once argument these rules serve). No I/O here. */
#include <inttypes.h>
#include <string.h>

#include "core/time.h"
#include "sink/objstore/objstore.h"

static size_t run_len(const char *p)
{
    size_t n = 1;
    while (p[n] == p[0])
        n++;
    return n;
}

static int token(const char *p, size_t n)
{
    if ((p[0] == 'Y' || p[0] == 'y') && n == 4)
        return 'Y';
    if (p[0] == 'M' && n == 2)
        return 'M';
    if (p[0] == 'd' && n == 2)
        return 'd';
    if (p[0] == 'H' && n == 2)
        return 'H';
    if (p[0] == 'm' && n == 2)
        return 'm';
    return 0;
}

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* One pass used by both check and format: out may be NULL (check only). */
static fp_code walk(const char *fmt, const int *civil, fp_buf *out, fp_err *err)
{
    const char *p = fmt;
    while (*p) {
        if (*p == '\'') {
            if (p[1] == '\'') {
                if (out)
                    fp_buf_putc(out, '\'');
                p += 2;
                continue;
            }
            const char *e = p + 1;
            while (*e && !(*e == '\'' && e[1] != '\''))
                e += (*e == '\'' ? 2 : 1);
            if (!*e)
                return fp_err_set(err, FP_ERR_CONFIG, "path.format '%s': unterminated quote", fmt);
            for (const char *q = p + 1; q < e; q++) {
                if (out)
                    fp_buf_putc(out, *q);
                if (*q == '\'')
                    q++;
            }
            p = e + 1;
            continue;
        }
        if (is_letter(*p)) {
            size_t n = run_len(p);
            int t = token(p, n);
            if (!t)
                return fp_err_set(err, FP_ERR_CONFIG,
                                  "path.format '%s': unknown pattern '%.*s' (use YYYY, MM, dd, HH, "
                                  "mm, or quote literal text)",
                                  fmt, (int)n, p);
            if (out) {
                switch (t) {
                case 'Y':
                    fp_buf_printf(out, "%04d", civil[0]);
                    break;
                case 'M':
                    fp_buf_printf(out, "%02d", civil[1]);
                    break;
                case 'd':
                    fp_buf_printf(out, "%02d", civil[2]);
                    break;
                case 'H':
                    fp_buf_printf(out, "%02d", civil[3]);
                    break;
                case 'm':
                    fp_buf_printf(out, "%02d", civil[4]);
                    break;
                }
            }
            p += n;
            continue;
        }
        if (out)
            fp_buf_putc(out, *p);
        p++;
    }
    return FP_OK;
}

fp_code fp_objstore_path_check(const char *fmt, fp_err *err)
{
    if (!fmt[0])
        return fp_err_set(err, FP_ERR_CONFIG, "path.format is empty");
    if (fmt[0] == '/' || strstr(fmt, ".."))
        return fp_err_set(err, FP_ERR_CONFIG, "path.format '%s': must be relative and without '..'",
                          fmt);
    return walk(fmt, NULL, NULL, err);
}

void fp_objstore_path_format(const char *fmt, int64_t epoch_ms, int64_t duration_ms, fp_buf *out)
{
    int64_t b = epoch_ms;
    if (duration_ms > 0) {
        int64_t q = epoch_ms / duration_ms;
        if (epoch_ms % duration_ms < 0)
            q--; /* floor for instants before 1970 */
        b = q * duration_ms;
    }
    int c[6];
    fp_time_utc(b, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5]);
    (void)walk(fmt, c, out, NULL);
}

void fp_objstore_object_name(fp_buf *out, const char *topics_dir, const char *topic,
                             const char *path, int32_t partition, int64_t start_offset, bool zstd)
{
    fp_buf_printf(out, "%s/%s/%s/%s+%" PRId32 "+%020" PRId64 ".jsonl%s", topics_dir, topic, path,
                  topic, partition, start_offset, zstd ? ".zst" : "");
}

const char *fp_objstore_rotate_name(fp_objstore_rotate r)
{
    static const char *const names[] = {"keep",     "time bucket",  "flush.size",     "interval",
                                        "schedule", "replay count", "replay diverged"};
    return names[r];
}

fp_objstore_rotate fp_objstore_before_message(const fp_objstore_filestate *f,
                                              const fp_objstore_rules *r, const char *path,
                                              int64_t ts)
{
    if (f->forced >= 0) {
        if (f->records >= f->forced)
            return FP_OBJSTORE_ROT_REPLAY;
        if (strcmp(path, f->path) != 0)
            return FP_OBJSTORE_ROT_DIVERGED;
        return FP_OBJSTORE_KEEP; /* the earlier run's cut points win over every rule */
    }
    if (strcmp(path, f->path) != 0)
        return FP_OBJSTORE_ROT_PATH;
    if (f->records >= r->flush_size)
        return FP_OBJSTORE_ROT_SIZE;
    if (r->rotate_interval_ms > 0 && ts - f->first_ts >= r->rotate_interval_ms)
        return FP_OBJSTORE_ROT_INTERVAL;
    return FP_OBJSTORE_KEEP;
}

fp_objstore_rotate fp_objstore_after_batch(const fp_objstore_filestate *f,
                                           const fp_objstore_rules *r)
{
    if (f->forced >= 0)
        return f->records >= f->forced ? FP_OBJSTORE_ROT_REPLAY : FP_OBJSTORE_KEEP;
    return f->records >= r->flush_size ? FP_OBJSTORE_ROT_SIZE : FP_OBJSTORE_KEEP;
}

fp_objstore_rotate fp_objstore_on_tick(const fp_objstore_filestate *f, const fp_objstore_rules *r,
                                       int64_t now_mono)
{
    if (f->forced >= 0)
        return f->records >= f->forced ? FP_OBJSTORE_ROT_REPLAY : FP_OBJSTORE_KEEP;
    if (r->rotate_schedule_ms > 0 && now_mono - f->opened_mono >= r->rotate_schedule_ms)
        return FP_OBJSTORE_ROT_SCHEDULE;
    return FP_OBJSTORE_KEEP;
}

int64_t fp_objstore_committable(const fp_objstore_filestate *open_file, int64_t next_offset)
{
    return open_file ? open_file->start_offset : next_offset;
}
