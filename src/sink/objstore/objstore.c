/* objstore.c — the `objstore` sink: raw JSON lines into time-partitioned objects, exactly once.
 *
 * Records stream into a staging file as they arrive (64 KiB write buffer, streaming zstd when
 * compressing), so memory per partition is bounded whatever flush.size is. A file is committed
 * by fp_store_put_file() (fsync, rename to the final name, fsync the directory); only then do
 * its offsets become committable. Staging names carry pid, thread id and 64 random bits, so two
 * owners of a partition during a rebalance never write the same staging file, and a revoked
 * partition's staging file is simply deleted: the new owner replays from the committed offset.
 * Rotation and replay reconciliation follow objstore.h; read it before changing anything here.
 * Events: with store.events.topic set, every committed object is announced on that topic from the
 * upload thread through the runtime's producer (fp_sink_ctx.emit, which returns once the
 * event's delivery report said delivered), and the object's offsets become committable only
 * then (at least once per object; a replay re-announces it with "replay":true).
 * format.envelope: the sink is raw (connect/sink.h): it gets every message as it is, with its
 * headers, and writes each as a JSON envelope line (envelope_line()); rotation, names and
 * replay reconciliation are the same, since one record is still one line.
 * Timestamps: Wallclock extraction is not deterministic, so a replay may cut differently and
 * the reconciliation logs "replay diverged" — use Record or RecordField for exactly-once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <zstd.h>

#include "connect/sink.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "sink/objstore/objstore.h"
#include "sink/objstore/upload.h"
#include "store/store.h"

#define WBUF_SIZE (64 * 1024)
/* Finished files waiting for (or in) their upload, per task: one uploading while the next
 * fills is what overlaps the store's latency; more only costs staging disk. */
#define UPLOAD_DEPTH 2

typedef struct os_conf {
    char *store_url, *topics_dir, *compression, *path_format, *extractor, *ts_field;
    char *s3_region, *s3_endpoint, *s3_path_style, *aws_profile, *staging_dir;
    char *events_topic;
    int64_t events_timeout_ms;
    int64_t s3_part_size;
    int64_t flush_size, rotate_interval_ms, rotate_schedule_ms, partition_duration_ms;
    int64_t zstd_level;
    bool envelope;
} os_conf;

static const fp_conf_def os_defs[] = {
    {"store.url", FP_CONF_STRING, NULL, offsetof(os_conf, store_url),
     "where objects go: file:///abs/path, a directory path, or s3://bucket/prefix", NULL, 0, 0},
    {"s3.region", FP_CONF_STRING, "", offsetof(os_conf, s3_region),
     "S3 region; default AWS_REGION, then AWS_DEFAULT_REGION", NULL, 0, 0},
    {"s3.endpoint", FP_CONF_STRING, "", offsetof(os_conf, s3_endpoint),
     "S3 endpoint URL (http://127.0.0.1:4568 for s3rver); default "
     "https://s3.<region>.amazonaws.com",
     NULL, 0, 0},
    {"s3.path.style.access", FP_CONF_ENUM, "auto", offsetof(os_conf, s3_path_style),
     "path-style URLs (endpoint/bucket/key) or virtual-hosted (bucket.endpoint/key); auto: "
     "path-style exactly when s3.endpoint is set",
     "auto|true|false", 0, 0},
    {"s3.part.size", FP_CONF_INT, "26214400", offsetof(os_conf, s3_part_size),
     "objects above this many bytes go up as multipart uploads of parts this size", NULL,
     5 * 1024 * 1024, 5LL * 1024 * 1024 * 1024},
    {"aws.profile", FP_CONF_STRING, "", offsetof(os_conf, aws_profile),
     "credentials profile in the shared credentials file; default AWS_PROFILE, then default "
     "(environment variables come first)",
     NULL, 0, 0},
    {"store.staging.dir", FP_CONF_STRING, "", offsetof(os_conf, staging_dir),
     "local directory for files being written; default <store>/.staging (file://), "
     "$TMPDIR/fleetpipe-staging-<uid> (s3://)",
     NULL, 0, 0},
    {"topics.dir", FP_CONF_STRING, "raw", offsetof(os_conf, topics_dir),
     "top-level prefix of every object", NULL, 0, 0},
    {"format.compression", FP_CONF_ENUM, "none", offsetof(os_conf, compression),
     "compression of the JSON lines; zstd adds .zst", "none|zstd", 0, 0},
    {"format.compression.level", FP_CONF_INT, "3", offsetof(os_conf, zstd_level),
     "zstd level (changing it between runs changes replayed bytes)", NULL, 1, 19},
    {"format.envelope", FP_CONF_BOOL, "false", offsetof(os_conf, envelope),
     "write each Kafka message as it is, wrapped: one JSON line {topic, partition, offset, "
     "timestamp (record time, ISO UTC), key, headers, value (a string: the bytes when they are "
     "UTF-8, else base64 with \"value_encoding\":\"base64\"; null for a tombstone)}; any "
     "value, JSON or not, no transforms (for fms.deadletter: keeps the reasons in the headers)",
     NULL, 0, 0},
    {"flush.size", FP_CONF_INT, "10000", offsetof(os_conf, flush_size),
     "records per object (rotation happens between Kafka messages)", NULL, 1, INT64_MAX},
    {"rotate.interval.ms", FP_CONF_MS, "0", offsetof(os_conf, rotate_interval_ms),
     "rotate when a file's record times span this much; 0: off", NULL, 0, 0},
    {"rotate.schedule.interval.ms", FP_CONF_MS, "0", offsetof(os_conf, rotate_schedule_ms),
     "rotate files open this long by the wall clock, so idle partitions flush; 0: off. "
     "Keeps exactly-once (replays reproduce earlier cuts)",
     NULL, 0, 0},
    {"partition.duration.ms", FP_CONF_MS, "3600000", offsetof(os_conf, partition_duration_ms),
     "time bucket of a path", NULL, 1, INT64_MAX},
    {"path.format", FP_CONF_STRING, "'dt'=YYYY-MM-dd/'hour'=HH", offsetof(os_conf, path_format),
     "bucket path, DateTimeFormatter style: YYYY MM dd HH mm, 'quoted' literals; UTC", NULL, 0, 0},
    {"timestamp.extractor", FP_CONF_ENUM, "", offsetof(os_conf, extractor),
     "record time: Kafka record time, a JSON field, or now (not replay-safe); default "
     "RecordField when timestamp.field is set, else Record",
     "|Record|RecordField|Wallclock", 0, 0},
    {"timestamp.field", FP_CONF_STRING, "", offsetof(os_conf, ts_field),
     "JSON field (dotted path) with ISO-8601 (+offset) or epoch ms; missing or bad: dead letter",
     NULL, 0, 0},
    {"store.events.topic", FP_CONF_STRING, "", offsetof(os_conf, events_topic),
     "Kafka topic for object-committed events (JSON, key = <topic>+<partition> of the "
     "object), e.g. "
     "fleetpipe.lake.events for `fleetpipe lake watch`; empty: no events",
     NULL, 0, 0},
    {"store.events.timeout.ms", FP_CONF_MS, "30000", offsetof(os_conf, events_timeout_ms),
     "how long an object's event may take to be delivered before the object counts as failed "
     "(retried by a replay)",
     NULL, 1000, 3600000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

enum { EX_RECORD, EX_FIELD, EX_WALL };

typedef struct os_file {
    char *name, *path, *tmp;
    int fd;
    ZSTD_CCtx *zc;
    fp_buf wbuf;
    int64_t last_offset, bytes;
    fp_objstore_filestate st;
} os_file;

typedef struct os_part {
    char *topic;
    int32_t partition;
    os_file *f;
    int64_t hold; /* start of a file lost to a failed commit: never commit past it */
    /* Look for an existing object before each new file, until one is missing. A partition's
     * objects are made in offset order, each starting where the previous ended, so after
     * the first missing name no later one can exist: one HEAD per new file saved on S3. */
    bool probe;
} os_part;

typedef struct objstore {
    os_conf c;
    const fp_sink_ctx *ctx;
    fp_store *store;
    fp_upload *up; /* background uploads of finished files (upload.h) */
    fp_objstore_rules rules;
    int extractor;
    bool zstd;
    os_part *parts;
    size_t nparts;
    char *zout;
    size_t zout_cap;
    /* cache of the last bucket's path */
    int64_t path_bucket;
    fp_buf path;
} objstore;

/* The upload hook (upload thread): announce job's object and wait for the delivery report. */
static fp_code ev_publish(void *arg, const fp_objstore_upload_job *j, fp_err *err)
{
    objstore *s = arg;
    if (!s->c.events_topic[0])
        return FP_OK;
    fp_buf v = FP_BUF_INIT;
    fp_buf_puts(&v, "{\"eventName\":\"ObjectCreated:Put\",\"store\":");
    fp_json_quote(&v, s->c.store_url, strlen(s->c.store_url));
    fp_buf_puts(&v, ",\"key\":");
    fp_json_quote(&v, j->name, strlen(j->name));
    fp_buf_printf(&v, ",\"size\":%" PRId64 ",\"records\":%" PRId64 ",\"topic\":", j->bytes,
                  j->records);
    fp_json_quote(&v, j->topic, strlen(j->topic));
    fp_buf_printf(&v, ",\"partition\":%" PRId32 ",\"startOffset\":%" PRId64 ",\"eventTime\":\"",
                  j->partition, j->start);
    fp_time_format_iso(fp_time_now_ms(), &v);
    fp_buf_printf(&v, "\",\"replay\":%s}", j->replay ? "true" : "false");
    /* Key = the source "<topic>+<partition>": one event partition per source, so a lake watch
     * worker converts a source's objects in commit order (its watermark relies on that).
     * Blocks until the event's delivery report (store.events.timeout.ms at most). */
    fp_buf key = FP_BUF_INIT;
    fp_buf_printf(&key, "%s+%" PRId32, j->topic, j->partition);
    fp_code rc = s->ctx->emit(s->ctx->emit_arg, s->c.events_topic, key.p, key.len, v.p, v.len,
                              s->c.events_timeout_ms, err);
    fp_buf_free(&key);
    fp_buf_free(&v);
    return rc ? fp_err_prefix(err, "event") : FP_OK;
}

static fp_code ev_open(objstore *s, fp_err *err)
{
    if (s->c.events_topic[0] && !s->ctx->emit)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "store.events.topic needs the runtime's Kafka producer (none here)");
    return FP_OK;
}

/* Staging files of processes that died (kill -9) on this host are garbage: delete them. */
static void clean_stale_staging(objstore *s)
{
    DIR *d = opendir(fp_store_staging_dir(s->store));
    if (!d)
        return;
    struct dirent *de;
    for (de = readdir(d); de; de = readdir(d)) {
        int pid;
        if (sscanf(de->d_name, "tmp-%d-", &pid) != 1 || pid <= 0)
            continue;
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        fp_buf p = FP_BUF_INIT;
        fp_buf_printf(&p, "%s/%s", fp_store_staging_dir(s->store), de->d_name);
        unlink(p.p);
        fp_buf_free(&p);
    }
    closedir(d);
}

static void os_destroy(void *sp);
static fp_sink_rc reap(struct objstore *s, const char *topic, int32_t partition, fp_err *err);

static fp_code os_create(fp_props *props, const fp_sink_ctx *ctx, void **out, fp_err *err)
{
    objstore *s = fp_xcalloc(1, sizeof *s);
    s->ctx = ctx;
    s->path_bucket = INT64_MIN;
    fp_code rc = fp_conf_apply(os_defs, props, NULL, &s->c, err);
    if (!rc)
        rc = fp_objstore_path_check(s->c.path_format, err);
    if (rc) {
        os_destroy(s);
        return rc;
    }
    if (!strcmp(s->c.extractor, "Record"))
        s->extractor = EX_RECORD;
    else if (!strcmp(s->c.extractor, "Wallclock"))
        s->extractor = EX_WALL;
    else if (!strcmp(s->c.extractor, "RecordField") || s->c.ts_field[0])
        s->extractor = EX_FIELD;
    else
        s->extractor = EX_RECORD;
    if (s->extractor == EX_FIELD && !s->c.ts_field[0]) {
        os_destroy(s);
        return fp_err_set(err, FP_ERR_CONFIG,
                          "timestamp.extractor RecordField needs timestamp.field");
    }
    if (s->c.envelope && s->extractor == EX_FIELD) {
        os_destroy(s);
        return fp_err_set(err, FP_ERR_CONFIG,
                          "format.envelope takes values that may not be JSON: use "
                          "timestamp.extractor Record (the default) or Wallclock, not "
                          "timestamp.field");
    }
    s->zstd = !strcmp(s->c.compression, "zstd");
    s->rules =
        (fp_objstore_rules){s->c.flush_size, s->c.rotate_interval_ms, s->c.rotate_schedule_ms};
    fp_store_opts so = {
        .region = s->c.s3_region,
        .endpoint = s->c.s3_endpoint,
        .profile = s->c.aws_profile[0] ? s->c.aws_profile : NULL,
        .staging_dir = s->c.staging_dir,
        .part_size = s->c.s3_part_size,
        .path_style =
            !strcmp(s->c.s3_path_style, "auto") ? -1 : !strcmp(s->c.s3_path_style, "true"),
        .stop = ctx->stop,
    };
    rc = fp_store_open(s->c.store_url, &so, &s->store, err);
    if (rc) {
        os_destroy(s);
        return rc;
    }
    rc = ev_open(s, err);
    if (rc) {
        os_destroy(s);
        return rc;
    }
    clean_stale_staging(s);
    s->up = fp_objstore_upload_new(s->store, UPLOAD_DEPTH, ev_publish, s);
    *out = s;
    return FP_OK;
}

static os_part *find_part(objstore *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == partition && !strcmp(s->parts[i].topic, topic))
            return &s->parts[i];
    return NULL;
}

static void file_discard(os_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0) {
        close(f->fd);
        unlink(f->tmp);
    }
    ZSTD_freeCCtx(f->zc);
    fp_buf_free(&f->wbuf);
    free(f->name);
    free(f->path);
    free(f->tmp);
    free(f);
}

static fp_sink_rc os_open(void *sp, const char *topic, int32_t partition, fp_err *err)
{
    objstore *s = sp;
    if (find_part(s, topic, partition))
        return FP_SINK_OK;
    s->parts = fp_xrealloc(s->parts, (s->nparts + 1) * sizeof *s->parts);
    s->parts[s->nparts++] = (os_part){fp_xstrdup(topic), partition, NULL, INT64_MAX, true};
    return FP_SINK_OK;
}

static void os_close(void *sp, const char *topic, int32_t partition)
{
    objstore *s = sp;
    os_part *p = find_part(s, topic, partition);
    if (!p)
        return;
    /* An upload still running for this partition must end before a new owner (or our own
     * replay) looks for its object; its outcome no longer matters to this owner. */
    fp_objstore_upload_wait(s->up, topic, partition);
    fp_err ignore = {0};
    reap(s, topic, partition, &ignore);
    fp_objstore_upload_forget(s->up, topic, partition);
    file_discard(p->f);
    free(p->topic);
    *p = s->parts[--s->nparts];
}

/* Dotted path lookup in a JSON object. */
static bool get_field(fp_span obj, const char *path, fp_span *val)
{
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (fp_json_type_of(obj.p) != FP_JSON_OBJECT || !fp_json_obj_get(obj, p, n, val))
            return false;
        if (!dot)
            return true;
        obj = *val;
        p = dot + 1;
    }
}

static fp_code os_check(void *sp, fp_sink_rec *r, fp_err *err)
{
    objstore *s = sp;
    if (s->extractor == EX_WALL) {
        r->sink_ts = fp_time_now_ms();
        return FP_OK;
    }
    if (s->extractor == EX_RECORD) {
        if (r->timestamp_ms < 0)
            return fp_err_set(err, FP_ERR_INVALID, "record has no Kafka timestamp");
        r->sink_ts = r->timestamp_ms;
        return FP_OK;
    }
    fp_span obj = {r->value, r->len}, v;
    while (obj.n && (*obj.p == ' ' || *obj.p == '\t' || *obj.p == '\n' || *obj.p == '\r'))
        obj.p++, obj.n--;
    if (!obj.n || !get_field(obj, s->c.ts_field, &v))
        return fp_err_set(err, FP_ERR_INVALID, "timestamp field '%s' missing", s->c.ts_field);
    fp_json_type t = fp_json_type_of(v.p);
    if (t == FP_JSON_STRING) {
        fp_buf b = FP_BUF_INIT;
        fp_json_unescape((fp_span){v.p + 1, v.n - 2}, &b);
        fp_code rc = fp_time_parse_iso(b.p ? b.p : "", b.len, &r->sink_ts, err);
        fp_buf_free(&b);
        if (rc)
            return fp_err_prefix(err, "timestamp field '%s'", s->c.ts_field);
        return FP_OK;
    }
    if (t == FP_JSON_NUMBER) {
        char num[32];
        if (v.n < sizeof num) {
            memcpy(num, v.p, v.n);
            num[v.n] = '\0';
            if (fp_parse_i64(num, &r->sink_ts) == FP_OK)
                return FP_OK;
        }
    }
    return fp_err_set(err, FP_ERR_INVALID,
                      "timestamp field '%s' is neither ISO-8601 text nor integer epoch ms",
                      s->c.ts_field);
}

static fp_code write_all(os_file *f, const char *p, size_t n, fp_err *err)
{
    while (n) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return fp_err_set(err, FP_ERR_IO, "write %s: %s", f->tmp, strerror(errno));
        p += w;
        n -= (size_t)w;
        f->bytes += w;
    }
    return FP_OK;
}

/* Moves the write buffer to the file (through zstd when compressing). end: finish the frame. */
static fp_code drain(objstore *s, os_file *f, bool end, fp_err *err)
{
    if (!f->zc) {
        fp_code rc = write_all(f, f->wbuf.p, f->wbuf.len, err);
        fp_buf_reset(&f->wbuf);
        return rc;
    }
    ZSTD_inBuffer in = {f->wbuf.p, f->wbuf.len, 0};
    for (;;) {
        ZSTD_outBuffer o = {s->zout, s->zout_cap, 0};
        size_t left = ZSTD_compressStream2(f->zc, &o, &in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            return fp_err_set(err, FP_ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(left));
        fp_code rc = write_all(f, s->zout, o.pos, err);
        if (rc)
            return rc;
        if (end ? left == 0 : in.pos == in.size)
            break;
    }
    fp_buf_reset(&f->wbuf);
    return FP_OK;
}

typedef struct count_ctx {
    ZSTD_DCtx *dc;
    char *out;
    int64_t lines;
} count_ctx;

static fp_code count_cb(const void *data, size_t n, void *arg, fp_err *err)
{
    count_ctx *c = arg;
    if (!c->dc) {
        for (size_t i = 0; i < n; i++)
            c->lines += ((const char *)data)[i] == '\n';
        return FP_OK;
    }
    ZSTD_inBuffer in = {data, n, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer o = {c->out, 1 << 17, 0};
        size_t r = ZSTD_decompressStream(c->dc, &o, &in);
        if (ZSTD_isError(r))
            return fp_err_set(err, FP_ERR_INVALID, "zstd: %s", ZSTD_getErrorName(r));
        for (size_t i = 0; i < o.pos; i++)
            c->lines += c->out[i] == '\n';
    }
    return FP_OK;
}

/* Records (lines) in an existing object: the replay reconciliation's reference. */
static fp_code count_records(objstore *s, const char *name, int64_t *lines, fp_err *err)
{
    count_ctx c = {0};
    if (s->zstd) {
        c.dc = ZSTD_createDCtx();
        c.out = fp_xmalloc(1 << 17);
    }
    fp_code rc = fp_store_read(s->store, name, count_cb, &c, err);
    ZSTD_freeDCtx(c.dc);
    free(c.out);
    *lines = c.lines;
    return rc;
}

static fp_code file_new(objstore *s, os_part *p, const fp_sink_rec *r, const char *path,
                        os_file **out, fp_err *err)
{
    os_file *f = fp_xcalloc(1, sizeof *f);
    f->fd = -1;
    fp_buf b = FP_BUF_INIT;
    fp_objstore_object_name(&b, s->c.topics_dir, p->topic, path, p->partition, r->offset, s->zstd);
    f->name = fp_buf_steal(&b);
    f->path = fp_xstrdup(path);
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint64_t)fp_time_mono_ms() ^ ((uint64_t)(uintptr_t)f << 16);
    fp_buf_printf(&b, "%s/tmp-%d-%d-%016" PRIx64 "-%s+%" PRId32 "+%020" PRId64,
                  fp_store_staging_dir(s->store), (int)getpid(), (int)gettid(), rnd, p->topic,
                  p->partition, r->offset);
    f->tmp = fp_buf_steal(&b);
    f->st = (fp_objstore_filestate){f->path, r->offset, r->sink_ts, 0, fp_time_mono_ms(), -1};
    f->last_offset = -1;
    bool exists = false;
    fp_code rc = p->probe ? fp_store_exists(s->store, f->name, &exists, err) : FP_OK;
    if (!rc && !exists)
        p->probe = false;
    if (!rc && exists) {
        rc = count_records(s, f->name, &f->st.forced, err);
        if (!rc)
            fp_log(FP_LOG_INFO, s->ctx->connector, s->ctx->task,
                   "replay: %s exists with %" PRId64 " records; the new file rotates after exactly "
                   "as many",
                   f->name, f->st.forced);
    }
    if (!rc) {
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (f->fd < 0)
            rc = fp_err_set(err, FP_ERR_IO, "create %s: %s", f->tmp, strerror(errno));
    }
    if (!rc && s->zstd) {
        f->zc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(f->zc, ZSTD_c_compressionLevel, (int)s->c.zstd_level);
        ZSTD_CCtx_setParameter(f->zc, ZSTD_c_checksumFlag, 1);
    }
    if (rc) {
        file_discard(f);
        return rc;
    }
    fp_buf_reserve(&f->wbuf, WBUF_SIZE - 1); /* a capacity of WBUF_SIZE with the NUL */
    *out = f;
    return FP_OK;
}

/* Makes the open file of p durable under its final name. On failure the file stays open and
 * the runtime's retry will close() (discard) and replay. */
static fp_sink_rc file_commit(objstore *s, os_part *p, fp_objstore_rotate why, fp_err *err)
{
    os_file *f = p->f;
    if (why == FP_OBJSTORE_ROT_DIVERGED)
        fp_log(FP_LOG_WARN, s->ctx->connector, s->ctx->task,
               "replay diverged: %s holds %" PRId64 " records, replay has %" PRId64
               " before another time bucket (Wallclock extractor or changed config?)",
               f->name, f->st.forced, f->st.records);
    fp_code rc = drain(s, f, true, err);
    /* Close even when drain() failed: the fd is released here or never (fd is -1 below). */
    if (close(f->fd) != 0 && !rc)
        rc = fp_err_set(err, FP_ERR_IO, "close %s: %s", f->tmp, strerror(errno));
    f->fd = -1;
    if (rc) {
        unlink(f->tmp);
        fp_err_prefix(err, "object %s", f->name);
        if (f->st.start_offset < p->hold)
            p->hold = f->st.start_offset;
        file_discard(f);
        p->f = NULL;
        return FP_SINK_RETRY; /* the records are gone from this process: replay them */
    }
    fp_log(FP_LOG_DEBUG, s->ctx->connector, s->ctx->task, "object %s: %" PRId64 " records (%s)",
           f->name, f->st.records, fp_objstore_rotate_name(why));
    fp_objstore_upload_job *j = fp_xcalloc(1, sizeof *j);
    *j = (fp_objstore_upload_job){.topic = fp_xstrdup(p->topic),
                                  .partition = p->partition,
                                  .start = f->st.start_offset,
                                  .records = f->st.records,
                                  .bytes = f->bytes,
                                  .replay = f->st.forced >= 0,
                                  .tmp = f->tmp,
                                  .name = f->name};
    f->tmp = f->name = NULL; /* the job owns them now */
    file_discard(f);
    p->f = NULL;
    fp_objstore_upload_push(s->up, j);
    return FP_SINK_OK;
}

/* Takes the finished uploads of topic/partition (all when topic is NULL) off the queue:
 * counts the objects made durable; a failure holds the partition's commits at the lost file's
 * start and answers RETRY (replay), or ERROR for a broken invariant or a store answer that
 * retrying cannot fix (S3 access denied, bad signature, no such bucket). */
static fp_sink_rc reap(objstore *s, const char *topic, int32_t partition, fp_err *err)
{
    fp_sink_rc worst = FP_SINK_OK;
    fp_objstore_upload_job *j;
    while ((j = fp_objstore_upload_reap(s->up, topic, partition))) {
        os_part *p = find_part(s, j->topic, j->partition);
        if (!j->rc) {
            atomic_fetch_add(&s->ctx->stats->objects, 1);
            atomic_fetch_add(&s->ctx->stats->bytes, (uint64_t)j->bytes);
            atomic_fetch_add(&s->ctx->stats->records, (uint64_t)j->records);
        } else {
            fp_sink_rc src =
                j->rc == FP_ERR_INTERNAL || j->rc == FP_ERR_CONFIG ? FP_SINK_ERROR : FP_SINK_RETRY;
            if (p && j->start < p->hold)
                p->hold = j->start;
            if (src > worst) {
                worst = src;
                fp_err_set(err, j->rc, "object %s: %s", j->name, j->err.msg);
            }
            if (!p)
                fp_log(FP_LOG_WARN, s->ctx->connector, s->ctx->task,
                       "object %s of a closed partition: %s (the new owner replays it)", j->name,
                       j->err.msg);
        }
        fp_objstore_upload_job_free(j);
    }
    return worst;
}

static const char *bucket_path(objstore *s, int64_t ts)
{
    int64_t d = s->c.partition_duration_ms;
    int64_t q = ts / d - (ts % d < 0);
    if (q != s->path_bucket || !s->path.p) {
        fp_buf_reset(&s->path);
        fp_objstore_path_format(s->c.path_format, ts, d, &s->path);
        s->path_bucket = q;
    }
    return s->path.p;
}

/* format.envelope: one record as one JSON line (with its newline), whatever its bytes. Every
 * string goes through the JSON quoting helpers, which escape newlines, so the line count that
 * replays rely on stays one per record. Key and header values are quoted as text (bytes outside
 * UTF-8 become \u00XX, their Latin-1 reading); the value is kept exactly: as text when it is
 * strict UTF-8, else in base64 with "value_encoding":"base64". Headers keep their order (a
 * repeated name is written twice; JSON readers take the last). */
static void envelope_line(fp_buf *b, const fp_sink_rec *r)
{
    fp_buf_puts(b, "{\"topic\":");
    fp_json_quote_raw(b, r->topic, strlen(r->topic));
    fp_buf_printf(b,
                  ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"timestamp\":", r->partition,
                  r->offset);
    if (r->timestamp_ms >= 0) {
        fp_buf_putc(b, '"');
        fp_time_format_iso(r->timestamp_ms, b);
        fp_buf_putc(b, '"');
    } else {
        fp_buf_puts(b, "null");
    }
    fp_buf_puts(b, ",\"key\":");
    if (r->key)
        fp_json_quote_raw(b, r->key, r->key_len);
    else
        fp_buf_puts(b, "null");
    fp_buf_puts(b, ",\"headers\":{");
    for (size_t i = 0; i < r->nheaders; i++) {
        const fp_sink_header *h = &r->headers[i];
        if (i)
            fp_buf_putc(b, ',');
        fp_json_quote_raw(b, h->name, strlen(h->name));
        fp_buf_putc(b, ':');
        if (h->value)
            fp_json_quote_raw(b, h->value, h->len);
        else
            fp_buf_puts(b, "null");
    }
    fp_buf_puts(b, "},\"value\":");
    if (!r->value)
        fp_buf_puts(b, "null");
    else if (fp_utf8_valid(r->value, r->len))
        fp_json_quote_raw(b, r->value, r->len);
    else {
        fp_json_quote_base64(b, r->value, r->len);
        fp_buf_puts(b, ",\"value_encoding\":\"base64\"");
    }
    fp_buf_puts(b, "}\n");
}

static bool os_raw(void *sp)
{
    return ((objstore *)sp)->c.envelope;
}

static fp_sink_rc os_put(void *sp, fp_sink_rec *recs, size_t n, fp_err *err)
{
    objstore *s = sp;
    fp_sink_rc src = reap(s, NULL, 0, err);
    if (src)
        return src;
    for (size_t i = 0; i < n; i++) {
        fp_sink_rec *r = &recs[i];
        os_part *p = find_part(s, r->topic, r->partition);
        if (!p) {
            os_open(s, r->topic, r->partition, err);
            p = find_part(s, r->topic, r->partition);
        }
        const char *path = bucket_path(s, r->sink_ts);
        if (p->f && r->offset != p->f->last_offset) {
            fp_objstore_rotate why =
                fp_objstore_before_message(&p->f->st, &s->rules, path, r->sink_ts);
            if (why) {
                src = file_commit(s, p, why, err);
                if (src)
                    return src;
            }
        }
        if (!p->f) {
            fp_code rc = file_new(s, p, r, path, &p->f, err);
            if (rc)
                return rc == FP_ERR_IO || rc == FP_ERR_NOTFOUND ? FP_SINK_RETRY : FP_SINK_ERROR;
        }
        os_file *f = p->f;
        /* Drain before a record that would not fit: appending past WBUF_SIZE would double the
         * buffer (128 KiB per open file; one per partition and time bucket). An envelope line
         * is longer than the value, so it may still grow past it, and is drained below. */
        if (f->wbuf.len && f->wbuf.len + r->len + 2 > WBUF_SIZE && drain(s, f, false, err))
            return FP_SINK_RETRY;
        if (s->c.envelope) {
            envelope_line(&f->wbuf, r);
            goto written;
        }
        /* One record, one line: count_records() counts lines, so a pretty-printed value would
         * over-count and make a replay cut late (duplicates). The value is validated JSON, where
         * a raw CR or LF can only be insignificant whitespace (in strings they are escaped), so
         * writing a space instead keeps the record's meaning. */
        size_t at = f->wbuf.len;
        fp_buf_append(&f->wbuf, r->value, r->len);
        char *end = f->wbuf.p + f->wbuf.len; /* memchr: most records have none (SIMD scan) */
        for (char *c = f->wbuf.p + at; (c = memchr(c, '\n', (size_t)(end - c))); c++)
            *c = ' ';
        for (char *c = f->wbuf.p + at; (c = memchr(c, '\r', (size_t)(end - c))); c++)
            *c = ' ';
        fp_buf_putc(&f->wbuf, '\n');
    written:
        f->st.records++;
        f->last_offset = r->offset;
        if (f->wbuf.len >= WBUF_SIZE) {
            fp_code rc = drain(s, f, false, err);
            if (rc)
                return FP_SINK_RETRY;
        }
    }
    for (size_t i = 0; i < s->nparts; i++) {
        os_part *p = &s->parts[i];
        if (!p->f)
            continue;
        fp_objstore_rotate why = fp_objstore_after_batch(&p->f->st, &s->rules);
        if (why) {
            src = file_commit(s, p, why, err);
            if (src)
                return src;
        }
    }
    return FP_SINK_OK;
}

static fp_sink_rc os_flush(void *sp, int64_t now_ms, bool closing, fp_err *err)
{
    objstore *s = sp;
    fp_sink_rc src = reap(s, NULL, 0, err);
    if (src)
        return src;
    int64_t now = fp_time_mono_ms();
    for (size_t i = 0; i < s->nparts; i++) {
        os_part *p = &s->parts[i];
        if (!p->f)
            continue;
        fp_objstore_rotate why = fp_objstore_on_tick(&p->f->st, &s->rules, now);
        /* Closing: commit what we have, except a replayed file that has not reached the
         * existing object's count — cutting it short would break the next replay. */
        if (!why && closing && p->f->st.forced < 0)
            why = FP_OBJSTORE_ROT_SIZE;
        if (why) {
            src = file_commit(s, p, why, err);
            if (src)
                return src;
        }
    }
    if (!closing)
        return FP_SINK_OK;
    fp_objstore_upload_wait(s->up, NULL, 0);
    return reap(s, NULL, 0, err);
}

static int64_t os_uncommitted_from(void *sp, const char *topic, int32_t partition)
{
    objstore *s = sp;
    os_part *p = find_part(s, topic, partition);
    if (!p)
        return INT64_MAX;
    int64_t c = fp_objstore_committable(p->f ? &p->f->st : NULL, INT64_MAX);
    int64_t u = fp_objstore_upload_oldest(s->up, topic, partition);
    if (u < c)
        c = u;
    return c < p->hold ? c : p->hold;
}

static void os_destroy(void *sp)
{
    objstore *s = sp;
    if (!s)
        return;
    while (s->nparts)
        os_close(s, s->parts[0].topic, s->parts[0].partition);
    free(s->parts);
    fp_objstore_upload_free(s->up); /* its thread emits events until it ends */
    fp_store_free(s->store);
    fp_conf_free(os_defs, &s->c);
    fp_buf_free(&s->path);
    free(s->zout);
    free(s);
}

static fp_code os_create_wrap(fp_props *props, const fp_sink_ctx *ctx, void **out, fp_err *err)
{
    fp_code rc = os_create(props, ctx, out, err);
    if (rc)
        return rc;
    objstore *s = *out;
    s->zout_cap = ZSTD_CStreamOutSize();
    s->zout = fp_xmalloc(s->zout_cap);
    return FP_OK;
}

static const char *const os_aliases[] = {"io.fleetpipe.connect.ObjstoreSinkConnector", NULL};

const fp_sink_plugin fp_sink_objstore = {
    "objstore",
    os_aliases,
    "raw JSON lines into time-partitioned objects (file:// or s3://), exactly once",
    os_defs,
    "  Objects: <topics.dir>/<topic>/<path.format>/<topic>+<partition>+<start offset>.jsonl[.zst]\n"
    "  Exactly once: offsets are committed only after the objects holding them are durable;\n"
    "  a replay rewrites byte-identical objects, because a replayed file whose object already\n"
    "  exists rotates after exactly that object's record count, whatever the rotation keys say.\n"
    "  format.envelope=true: any message (not only JSON) as one line with its topic, partition,\n"
    "  offset, timestamp, key and headers; the way to store fms.deadletter (docs/connect.md).",
    os_create_wrap,
    os_open,
    os_check,
    os_put,
    os_flush,
    os_uncommitted_from,
    os_close,
    os_destroy,
    NULL, /* commit_metadata */
    NULL, /* restore */
    NULL, /* hold */
    os_raw,
    false, /* members */
};
