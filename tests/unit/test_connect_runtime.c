/* test_connect_runtime.c — the connect runtime's task engine run in-process, the way Fluent Bit's
 * runtime tests run its engine: a fake sink plugin (registered with fp_sink_register_test) records
 * every record put() hands it and is scripted per scenario (RETRY or ERROR from put, flush or
 * open at the Nth call; records held non-durable until the test releases them), against the
 * embedded development broker. Each scenario asserts what the sink saw and what the group
 * connect-<name> committed. Only the public API of connect/connect.h and connect/sink.h is used.
 *
 * The fake sink buffers like a real one: put() accepts records as pending (not durable), flush()
 * makes the pending ones durable unless the test holds them, uncommitted_from() is the lowest
 * pending offset, close() discards the pending records and starts a new "epoch" of the
 * partition. So the delivery check (check_puts) can say exactly what a replay is: within an
 * epoch the offsets put are consecutive, and a new epoch starts at or before the highest offset
 * put so far + 1 (nothing skipped) and never before the offset committed when the replay began.
 *
 * Threads: the fake's callbacks run on the runtime's task thread, the assertions on the test's
 * thread; the fake's state is guarded by fk_mu. fp_connect_wait() runs in a thread of its own
 * when the test acts while the connector runs; every run ends by the stop token or by
 * exit_when_idle_ms. Waiting is polling for a state with a generous timeout, never a timing
 * assertion.
 *
 * The open scenarios (test_open_retry, test_open_error) follow the rule "RETRY from open() goes
 * down the put-RETRY path (pause, backoff, close, rewind, open again); ERROR from open() fails
 * the task": they fail while the runtime ignores open()'s result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "connect/connect.h"
#include "connect/sink.h"
#include "core/mem.h"
#include "core/time.h"
#include "kafka/kafka.h"

#define WAIT_MS 30000 /* generous: the machine is shared, sanitizer builds are slow */
#define FK_MAX_PARTS 32

/* ---------------------------------------------------------------- the fake sink */

enum { FK_PENDING, FK_DURABLE, FK_DISCARDED };

typedef struct fk_rec {
    char *topic;
    int32_t partition;
    int64_t offset;
    int epoch; /* the partition's epoch (close() count) when it was put */
    int status;
    char *value;
} fk_rec;

typedef struct fk_part {
    char *topic;
    int32_t partition;
    bool open;
    int epoch;
} fk_part;

/* Fails call number `at` (1-based, counted since the last fk_reset; 0: never) with rc. */
typedef struct fk_hook {
    int at;
    fp_sink_rc rc;
} fk_hook;

static pthread_mutex_t fk_mu = PTHREAD_MUTEX_INITIALIZER; /* guards fk */
static struct {
    fk_rec *recs;
    size_t nrecs, cap;
    fk_part parts[FK_MAX_PARTS];
    size_t nparts;
    int creates, destroys;
    int put_calls, flush_calls, flush_nonempty, open_calls, close_calls, injected;
    size_t put_max_bytes;     /* the most record bytes one put() call was given */
    fk_hook put, flush, open; /* flush counts only flushes with pending records */
    bool hold;                /* flush() keeps pending records pending */
    int violations;
    char violation[512]; /* the first one */
} fk;

typedef struct fk_sink {
    const fp_sink_ctx *ctx;
} fk_sink;

static const fp_conf_def fk_defs[] = {
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static void fk_violation(const char *fmt, ...)
{
    if (!fk.violations++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fk.violation, sizeof fk.violation, fmt, ap);
        va_end(ap);
    }
}

static fk_part *fk_part_get(const char *topic, int32_t partition, bool create)
{
    for (size_t i = 0; i < fk.nparts; i++)
        if (fk.parts[i].partition == partition && !strcmp(fk.parts[i].topic, topic))
            return &fk.parts[i];
    if (!create || fk.nparts == FK_MAX_PARTS)
        return NULL;
    fk_part *p = &fk.parts[fk.nparts++];
    *p = (fk_part){fp_xstrdup(topic), partition, false, 0};
    return p;
}

static const char *rc_name(fp_sink_rc rc)
{
    return rc == FP_SINK_RETRY ? "RETRY" : rc == FP_SINK_ERROR ? "ERROR" : "OK";
}

/* Whether call number n of hook h is to fail; sets err then. fk_mu held. */
static bool fk_inject(const fk_hook *h, int n, const char *what, fp_err *err)
{
    if (!h->at || n != h->at)
        return false;
    fk.injected++;
    fp_err_set(err, FP_ERR_IO, "fake %s %s (call %d)", what, rc_name(h->rc), n);
    return true;
}

static fp_code fk_create(fp_props *props, const fp_sink_ctx *ctx, void **out, fp_err *err)
{
    fp_code rc = fp_conf_apply(fk_defs, props, NULL, NULL, err);
    if (rc)
        return rc;
    fk_sink *s = fp_xcalloc(1, sizeof *s);
    s->ctx = ctx;
    pthread_mutex_lock(&fk_mu);
    fk.creates++;
    pthread_mutex_unlock(&fk_mu);
    *out = s;
    return FP_OK;
}

static fp_sink_rc fk_open(void *sp, const char *topic, int32_t partition, fp_err *err)
{
    (void)sp;
    pthread_mutex_lock(&fk_mu);
    fk_part *p = fk_part_get(topic, partition, true);
    fp_sink_rc rc = FP_SINK_OK;
    if (fk_inject(&fk.open, ++fk.open_calls, "open", err))
        rc = fk.open.rc;
    if (p)
        p->open = rc == FP_SINK_OK;
    pthread_mutex_unlock(&fk_mu);
    return rc;
}

static fp_sink_rc fk_put(void *sp, fp_sink_rec *recs, size_t n, fp_err *err)
{
    (void)sp;
    pthread_mutex_lock(&fk_mu);
    if (fk_inject(&fk.put, ++fk.put_calls, "put", err)) {
        fp_sink_rc rc = fk.put.rc;
        pthread_mutex_unlock(&fk_mu);
        return rc;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += recs[i].len;
    if (bytes > fk.put_max_bytes)
        fk.put_max_bytes = bytes;
    for (size_t i = 0; i < n; i++) {
        fk_part *p = fk_part_get(recs[i].topic, recs[i].partition, false);
        if (!p || !p->open)
            fk_violation("put() of %s/%" PRId32 "@%" PRId64 " while the partition is not open "
                         "(open() did not succeed since the last close())",
                         recs[i].topic, recs[i].partition, recs[i].offset);
        if (fk.nrecs == fk.cap) {
            fk.cap = fk.cap ? fk.cap * 2 : 256;
            fk.recs = fp_xrealloc(fk.recs, fk.cap * sizeof *fk.recs);
        }
        char *v = fp_xmalloc(recs[i].len + 1);
        memcpy(v, recs[i].value, recs[i].len);
        v[recs[i].len] = '\0';
        fk.recs[fk.nrecs++] = (fk_rec){fp_xstrdup(recs[i].topic), recs[i].partition, recs[i].offset,
                                       p ? p->epoch : -1,         FK_PENDING,        v};
    }
    pthread_mutex_unlock(&fk_mu);
    return FP_SINK_OK;
}

static fp_sink_rc fk_flush(void *sp, int64_t now_ms, bool closing, fp_err *err)
{
    (void)now_ms;
    (void)closing;
    fk_sink *s = sp;
    pthread_mutex_lock(&fk_mu);
    fk.flush_calls++;
    bool pending = false;
    for (size_t i = 0; i < fk.nrecs && !pending; i++)
        pending = fk.recs[i].status == FK_PENDING;
    if (pending && fk_inject(&fk.flush, ++fk.flush_nonempty, "flush", err)) {
        fp_sink_rc rc = fk.flush.rc;
        pthread_mutex_unlock(&fk_mu);
        return rc;
    }
    for (size_t i = 0; i < fk.nrecs && !fk.hold; i++)
        if (fk.recs[i].status == FK_PENDING) {
            fk.recs[i].status = FK_DURABLE;
            atomic_fetch_add(&s->ctx->stats->records, 1);
            atomic_fetch_add(&s->ctx->stats->bytes, strlen(fk.recs[i].value));
        }
    pthread_mutex_unlock(&fk_mu);
    return FP_SINK_OK;
}

static int64_t fk_uncommitted_from(void *sp, const char *topic, int32_t partition)
{
    (void)sp;
    int64_t lo = INT64_MAX;
    pthread_mutex_lock(&fk_mu);
    for (size_t i = 0; i < fk.nrecs; i++) {
        const fk_rec *r = &fk.recs[i];
        if (r->status == FK_PENDING && r->partition == partition && r->offset < lo &&
            !strcmp(r->topic, topic))
            lo = r->offset;
    }
    pthread_mutex_unlock(&fk_mu);
    return lo;
}

static void fk_close(void *sp, const char *topic, int32_t partition)
{
    (void)sp;
    pthread_mutex_lock(&fk_mu);
    fk.close_calls++;
    fk_part *p = fk_part_get(topic, partition, true);
    if (p) {
        p->open = false;
        p->epoch++;
    }
    for (size_t i = 0; i < fk.nrecs; i++) {
        fk_rec *r = &fk.recs[i];
        if (r->status == FK_PENDING && r->partition == partition && !strcmp(r->topic, topic))
            r->status = FK_DISCARDED;
    }
    pthread_mutex_unlock(&fk_mu);
}

static void fk_destroy(void *sp)
{
    pthread_mutex_lock(&fk_mu);
    fk.destroys++;
    pthread_mutex_unlock(&fk_mu);
    free(sp);
}

static const fp_sink_plugin fk_plugin = {
    "fake",
    NULL,
    "test sink: records every record, scripted failures",
    fk_defs,
    NULL,
    fk_create,
    fk_open,
    NULL,
    fk_put,
    fk_flush,
    fk_uncommitted_from,
    fk_close,
    fk_destroy,
    NULL,
    NULL,
    NULL,
    NULL,  /* raw */
    false, /* members */
};

/* Forgets every record, partition, counter and script. No task may be running. */
static void fk_reset(void)
{
    pthread_mutex_lock(&fk_mu);
    for (size_t i = 0; i < fk.nrecs; i++) {
        free(fk.recs[i].topic);
        free(fk.recs[i].value);
    }
    free(fk.recs);
    for (size_t i = 0; i < fk.nparts; i++)
        free(fk.parts[i].topic);
    memset(&fk, 0, sizeof fk);
    pthread_mutex_unlock(&fk_mu);
}

enum { FK_PUT, FK_FLUSH, FK_OPEN };

/* The nth call of that callback from now fails with rc (flush: the nth flush with pending
 * records). */
static void fk_arm(int which, int n, fp_sink_rc rc)
{
    pthread_mutex_lock(&fk_mu);
    if (which == FK_PUT)
        fk.put = (fk_hook){fk.put_calls + n, rc};
    else if (which == FK_FLUSH)
        fk.flush = (fk_hook){fk.flush_nonempty + n, rc};
    else
        fk.open = (fk_hook){fk.open_calls + n, rc};
    pthread_mutex_unlock(&fk_mu);
}

static void fk_set_hold(bool hold)
{
    pthread_mutex_lock(&fk_mu);
    fk.hold = hold;
    pthread_mutex_unlock(&fk_mu);
}

static int fk_get(const int *field)
{
    pthread_mutex_lock(&fk_mu);
    int v = *field;
    pthread_mutex_unlock(&fk_mu);
    return v;
}

/* Highest offset of topic/partition put so far + 1 (0: none). */
static int64_t fk_seen_end(const char *topic, int32_t partition)
{
    int64_t hi = -1;
    pthread_mutex_lock(&fk_mu);
    for (size_t i = 0; i < fk.nrecs; i++)
        if (fk.recs[i].partition == partition && fk.recs[i].offset > hi &&
            !strcmp(fk.recs[i].topic, topic))
            hi = fk.recs[i].offset;
    pthread_mutex_unlock(&fk_mu);
    return hi + 1;
}

static bool fk_all_seen(const char *topic, int nparts, int64_t end)
{
    for (int p = 0; p < nparts; p++)
        if (fk_seen_end(topic, p) < end)
            return false;
    return true;
}

/* Records of topic with that status. */
static size_t fk_count(const char *topic, int status)
{
    size_t n = 0;
    pthread_mutex_lock(&fk_mu);
    for (size_t i = 0; i < fk.nrecs; i++)
        n += fk.recs[i].status == status && !strcmp(fk.recs[i].topic, topic);
    pthread_mutex_unlock(&fk_mu);
    return n;
}

/* How many offsets from 0 on are durable without a hole. */
static int64_t fk_durable_end(const char *topic, int32_t partition)
{
    int64_t end = 0;
    pthread_mutex_lock(&fk_mu);
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < fk.nrecs && !more; i++) {
            const fk_rec *r = &fk.recs[i];
            if (r->status == FK_DURABLE && r->offset == end && r->partition == partition &&
                !strcmp(r->topic, topic)) {
                end++;
                more = true;
            }
        }
    }
    pthread_mutex_unlock(&fk_mu);
    return end;
}

/* The delivery check, per partition of topic (see the top of the file): offsets are consecutive
 * within an epoch (skipping `skip`, a dead-lettered offset, -1: none), the first put is the
 * first offset, a new epoch starts at or before the highest offset put so far + 1, an offset put
 * again is >= floor[p] (the replayed range starts at what was committed), the highest offset
 * put is end[p] - 1 and every value is the record produced at that offset. dups[p] gets the
 * number of records put more than once. */
static void check_puts(const char *topic, int nparts, const int64_t *end, const int64_t *floor,
                       int64_t skip, int64_t *dups)
{
    char bad[600] = "";
    pthread_mutex_lock(&fk_mu);
    for (int p = 0; p < nparts && !bad[0]; p++) {
        int64_t hi = -1, prev = -1;
        int epoch = -2;
        dups[p] = 0;
        for (size_t i = 0; i < fk.nrecs && !bad[0]; i++) {
            const fk_rec *r = &fk.recs[i];
            if (r->partition != p || strcmp(r->topic, topic))
                continue;
            int64_t first = skip == 0 ? 1 : 0;
            int64_t after_hi = hi + 1 == skip ? hi + 2 : hi + 1;
            int64_t after_prev = prev + 1 == skip ? prev + 2 : prev + 1;
            char want[64];
            snprintf(want, sizeof want, "\"i\":%" PRId64 ",", r->offset);
            if (r->offset == skip)
                snprintf(bad, sizeof bad, "the dead-lettered offset %" PRId64 " was put", skip);
            else if (hi < 0 && r->offset != first)
                snprintf(bad, sizeof bad, "the first record put is @%" PRId64 ", not @%" PRId64,
                         r->offset, first);
            else if (r->epoch != epoch && r->offset > after_hi)
                snprintf(bad, sizeof bad,
                         "a replay (epoch %d) starts @%" PRId64 ", past %" PRId64
                         ": records skipped",
                         r->epoch, r->offset, after_hi);
            else if (r->epoch == epoch && r->offset != after_prev)
                snprintf(bad, sizeof bad, "@%" PRId64 " follows @%" PRId64 " in epoch %d",
                         r->offset, prev, epoch);
            else if (r->offset <= hi && r->offset < floor[p])
                snprintf(bad, sizeof bad, "@%" PRId64 " put again, below the replay floor %" PRId64,
                         r->offset, floor[p]);
            else if (!strstr(r->value, want))
                snprintf(bad, sizeof bad, "@%" PRId64 " has the value %s", r->offset, r->value);
            if (bad[0]) {
                char where[64];
                snprintf(where, sizeof where, " (%s/%d)", topic, p);
                strncat(bad, where, sizeof bad - strlen(bad) - 1);
                break;
            }
            if (r->offset <= hi)
                dups[p]++;
            if (r->offset > hi)
                hi = r->offset;
            prev = r->offset;
            epoch = r->epoch;
        }
        if (!bad[0] && hi != end[p] - 1)
            snprintf(bad, sizeof bad, "%s/%d: the highest offset put is %" PRId64 ", want %" PRId64,
                     topic, p, hi, end[p] - 1);
    }
    pthread_mutex_unlock(&fk_mu);
    if (bad[0])
        fail_msg("%s", bad);
}

static void assert_no_violation(void)
{
    pthread_mutex_lock(&fk_mu);
    int n = fk.violations;
    char msg[sizeof fk.violation];
    memcpy(msg, fk.violation, sizeof msg);
    pthread_mutex_unlock(&fk_mu);
    if (n)
        fail_msg("%d contract violation(s), the first: %s", n, msg);
}

/* ---------------------------------------------------------------- broker, producer, probes */

static fp_kafka_embedded *E;
static const char *BS;
static rd_kafka_t *P;
static atomic_int produce_failed;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        atomic_fetch_add(&produce_failed, 1);
}

static void make_topic(const char *topic, int partitions)
{
    fp_err err = {0};
    if (fp_kafka_embedded_topic(E, topic, partitions, &err))
        fail_msg("%s", err.msg);
}

/* Produces the records of offsets [from, to) into every partition of topic (a fresh topic: the
 * offsets are exactly those): {"i":<offset>,"p":<partition>}, or "not json {" at bad_at. */
static void produce(const char *topic, int nparts, int64_t from, int64_t to, int64_t bad_at)
{
    for (int p = 0; p < nparts; p++)
        for (int64_t i = from; i < to; i++) {
            char v[64];
            if (i == bad_at)
                snprintf(v, sizeof v, "not json {");
            else
                snprintf(v, sizeof v, "{\"i\":%" PRId64 ",\"p\":%d}", i, p);
            rd_kafka_resp_err_t e = rd_kafka_producev(
                P, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p), RD_KAFKA_V_VALUE(v, strlen(v)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        }
    assert_int_equal(rd_kafka_flush(P, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(atomic_load(&produce_failed), 0);
}

/* Like produce(), every record padded to about len bytes: {"i":<offset>,"p":<p>,"pad":"xx.."}. */
static void produce_padded(const char *topic, int nparts, int64_t n, size_t len)
{
    char *v = fp_xmalloc(len + 64);
    for (int p = 0; p < nparts; p++)
        for (int64_t i = 0; i < n; i++) {
            int h = snprintf(v, len + 64, "{\"i\":%" PRId64 ",\"p\":%d,\"pad\":\"", i, p);
            memset(v + h, 'x', len);
            memcpy(v + h + len, "\"}", 3);
            rd_kafka_resp_err_t e = rd_kafka_producev(
                P, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p), RD_KAFKA_V_VALUE(v, strlen(v)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        }
    free(v);
    assert_int_equal(rd_kafka_flush(P, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(atomic_load(&produce_failed), 0);
}

/* The scenario's probe (probe_new), freed by the per-test teardown when a test failed. */
static rd_kafka_t *probe;

/* A consumer in group connect-<name> that never joins: it only reads the committed offsets.
 * One per scenario. */
static rd_kafka_t *probe_new(const char *name)
{
    assert_null(probe);
    char group[128];
    snprintf(group, sizeof group, "connect-%s", name);
    fp_err err = {0};
    fp_kafka_consumer_opts o = {.bootstrap = BS, .group = group};
    rd_kafka_t *rk = fp_kafka_consumer_new(&o, &err);
    if (!rk)
        fail_msg("probe: %s", err.msg);
    probe = rk;
    return rk;
}

static void probe_free(rd_kafka_t *rk)
{
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (rk == probe)
        probe = NULL;
}

/* The group's committed offset per partition (-1: none); false when the fetch failed. */
static bool committed(rd_kafka_t *rk, const char *topic, int nparts, int64_t *out)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    bool ok = rd_kafka_committed(rk, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int p = 0; ok && p < nparts; p++) {
        ok = !l->elems[p].err;
        out[p] = l->elems[p].offset >= 0 ? l->elems[p].offset : -1;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return ok;
}

static bool committed_are(rd_kafka_t *rk, const char *topic, int nparts, int64_t want)
{
    int64_t got[FK_MAX_PARTS];
    if (!committed(rk, topic, nparts, got))
        return false;
    for (int p = 0; p < nparts; p++)
        if (got[p] != want)
            return false;
    return true;
}

static void assert_committed(rd_kafka_t *rk, const char *topic, int nparts, int64_t want)
{
    int64_t got[FK_MAX_PARTS];
    assert_true(committed(rk, topic, nparts, got));
    for (int p = 0; p < nparts; p++)
        if (got[p] != want)
            fail_msg("%s/%d: committed %" PRId64 ", want %" PRId64, topic, p, got[p], want);
}

#define WAIT_UNTIL(cond)                                                                           \
    do {                                                                                           \
        int64_t until_ = fp_time_mono_ms() + WAIT_MS;                                              \
        while (!(cond) && fp_time_mono_ms() < until_)                                              \
            usleep(20 * 1000);                                                                     \
        if (!(cond))                                                                               \
            fail_msg("timed out after %d ms waiting for: %s", WAIT_MS, #cond);                     \
    } while (0)

/* ---------------------------------------------------------------- runs */

/* The scenario's runtime; the per-test teardown stops and frees what a failed test left. */
static struct {
    fp_connect *c;
    fp_stop stop;
    pthread_t th;
    bool threaded;
    int rc;
} R;

/* The connector's properties: the fake sink, quick commits and retries. */
static void props_base(fp_props *p, const char *name, const char *topic)
{
    fp_props_init(p);
    fp_props_set(p, "name", name);
    fp_props_set(p, "connector.class", "fake");
    fp_props_set(p, "topics", topic);
    fp_props_set(p, "offset.flush.interval.ms", "100");
    fp_props_set(p, "errors.retry.delay.max.ms", "200");
    /* A run that joins the group again after an earlier one (test_hold) waits for the old
     * member's session to time out on the development broker. */
    fp_props_set(p, "consumer.override.session.timeout.ms", "6000");
    fp_props_set(p, "consumer.override.heartbeat.interval.ms", "500");
}

static void *wait_main(void *arg)
{
    (void)arg;
    R.rc = fp_connect_wait(R.c);
    return NULL;
}

/* Starts one connector (takes props). exit_idle_ms > 0: the run ends when idle; threaded:
 * fp_connect_wait runs in a thread (run_stop ends it), else the caller calls run_wait. */
static void run_start(fp_props *props, int64_t exit_idle_ms, bool threaded)
{
    fp_stop_reset(&R.stop);
    fp_connect_opts o = {BS, exit_idle_ms, 0, 1, false, "test", &R.stop, false, 0};
    R.c = fp_connect_new(&o);
    fp_err err = {0};
    if (fp_connect_add(R.c, props, &err))
        fail_msg("add: %s", err.msg);
    if (fp_connect_start(R.c, &err))
        fail_msg("start: %s", err.msg);
    if (threaded) {
        assert_int_equal(pthread_create(&R.th, NULL, wait_main, NULL), 0);
        R.threaded = true;
    }
}

static int run_wait(void)
{
    R.rc = fp_connect_wait(R.c);
    return R.rc;
}

/* Requests the stop and returns fp_connect_wait's result. */
static int run_stop(void)
{
    fp_stop_request(&R.stop);
    if (R.threaded)
        pthread_join(R.th, NULL);
    R.threaded = false;
    return R.rc;
}

static void run_free(void)
{
    if (R.threaded)
        run_stop();
    fp_connect_free(R.c);
    R.c = NULL;
}

/* Task 0's state in the status JSON ("" when there is none); trace (may be NULL) gets its
 * trace. */
static void task_status(const char *name, char *state, size_t n, char *trace, size_t tn)
{
    state[0] = '\0';
    if (trace)
        trace[0] = '\0';
    json_t *st = fp_connect_status_json(R.c, name);
    json_t *t0 = st ? json_array_get(json_object_get(st, "tasks"), 0) : NULL;
    const char *s = t0 ? json_string_value(json_object_get(t0, "state")) : NULL;
    const char *tr = t0 ? json_string_value(json_object_get(t0, "trace")) : NULL;
    snprintf(state, n, "%s", s ? s : "");
    if (trace)
        snprintf(trace, tn, "%s", tr ? tr : "");
    json_decref(st);
}

static bool task_is(const char *name, const char *want)
{
    char st[32];
    task_status(name, st, sizeof st, NULL, 0);
    return !strcmp(st, want);
}

static int setup(void **state)
{
    (void)state;
    fk_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (R.c)
        run_free();
    if (probe)
        probe_free(probe);
    pthread_mutex_lock(&fk_mu);
    int creates = fk.creates, destroys = fk.destroys;
    pthread_mutex_unlock(&fk_mu);
    fk_reset();
    if (creates != destroys) {
        fprintf(stderr, "fake sink: %d instances created, %d destroyed\n", creates, destroys);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- scenarios */

/* Every record put once, all durable, offsets committed to the end; the run ends by going
 * idle. The prefetch queue is made small (queued.min.messages 20), so the 300 records are a
 * backlog that fills it: the task's fetch waker (kafka/wake.h) wakes the fetcher after it
 * drained, and delivery stays exact meanwhile. */
static void test_clean_run(void **state)
{
    (void)state;
    const char *topic = "rt.clean", *name = "clean";
    enum { NP = 3, N = 100 };
    make_topic(topic, NP);
    produce(topic, NP, 0, N, -1);
    fp_props p;
    props_base(&p, name, topic);
    fp_props_set(&p, "consumer.override.queued.min.messages", "20");
    run_start(&p, 500, false);
    assert_int_equal(run_wait(), 0);

    int64_t end[NP], floor[NP], dups[NP];
    for (int i = 0; i < NP; i++)
        end[i] = N, floor[i] = 0;
    check_puts(topic, NP, end, floor, -1, dups);
    for (int i = 0; i < NP; i++)
        assert_int_equal(dups[i], 0);
    assert_no_violation();
    assert_int_equal(fk_count(topic, FK_DURABLE), NP * N);
    assert_int_equal(fk_get(&fk.open_calls), NP);
    assert_int_equal(fk_get(&fk.injected), 0);
    fp_connect_totals t;
    fp_connect_totals_get(R.c, &t);
    assert_int_equal(t.in, NP * N);
    assert_int_equal(t.out, NP * N);
    assert_int_equal(t.dead, 0);
    assert_int_equal(t.tasks, 1);
    assert_int_equal(t.failed, 0);
    assert_true(t.fetch_wakes > 0);
    char st[32];
    task_status(name, st, sizeof st, NULL, 0);
    assert_string_equal(st, "UNASSIGNED"); /* stopped */
    run_free();

    rd_kafka_t *pr = probe_new(name);
    assert_committed(pr, topic, NP, N);
    probe_free(pr);
}

/* The value of series `fleetpipe_connect_task_memory_budget_bytes{connector=..,task=..,part=..}`
 * in the metrics text, -1 when it is not there. */
static int64_t budget_metric(const char *text, const char *connector, int task, const char *part)
{
    char series[256];
    snprintf(
        series, sizeof series,
        "fleetpipe_connect_task_memory_budget_bytes{connector=\"%s\",task=\"%d\",part=\"%s\"} ",
        connector, task, part);
    const char *at = strstr(text, series);
    return at ? strtoll(at + strlen(series), NULL, 10) : -1;
}

/* One memory budget for the worker (fp_connect_opts.memory_budget; `connect --memory-budget-mb`):
 * 12 MiB over the 3 tasks of two connectors is 4 MiB a task, split by the documented rule
 * (docs/connect.md, "Memory budget"): fetch.max.bytes and the put() batch an eighth each (fetch
 * raised to librdkafka's floor of 1000000, and max.partition.fetch.bytes with it, being under
 * 1 MiB), the consumer queue what is left after 2 fetches and 2 batches. The metrics show it as
 * librdkafka has it; a consumer.override.* wins over the split; and no put() is given more than
 * the batch bound plus the one message that crossed it (records of ~4 KB, a 1.6 MB backlog per
 * task, so the byte bound is what ends each batch). */
static void test_memory_budget(void **state)
{
    (void)state;
    const char *topic = "rt.budget", *topic2 = "rt.budget2";
    enum { NP = 2, N = 400, PAD = 4000 };
    make_topic(topic, NP);
    make_topic(topic2, 1);
    produce_padded(topic, NP, N, PAD);
    fp_stop_reset(&R.stop);
    const int64_t budget = 12 * 1024 * 1024;
    fp_connect_opts o = {BS, 500, 0, 1, false, "test", &R.stop, false, budget};
    R.c = fp_connect_new(&o);
    fp_props p, p2;
    props_base(&p, "budget", topic);
    fp_props_set(&p, "tasks.max", "2");
    props_base(&p2, "budgetover", topic2);
    fp_props_set(&p2, "consumer.override.queued.max.messages.kbytes", "2048");
    fp_props_set(&p2, "consumer.override.fetch.max.bytes", "3000000");
    fp_err err = {0};
    if (fp_connect_add(R.c, &p, &err) || fp_connect_add(R.c, &p2, &err) ||
        fp_connect_start(R.c, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(run_wait(), 0);
    assert_int_equal(fk_count(topic, FK_DURABLE), NP * N);
    assert_no_violation();

    /* the rule, computed here on its own */
    const int64_t share = budget / 3, eighth = share / 8;
    const int64_t fetch = eighth < 1000000 ? 1000000 : eighth, batch = eighth;
    const int64_t queue = (share - 2 * fetch - 2 * batch) / 1024 * 1024;
    fp_buf text = FP_BUF_INIT;
    fp_metrics_render(fp_connect_metrics, R.c, &text);
    for (int t = 0; t < 2; t++) {
        assert_int_equal(budget_metric(text.p, "budget", t, "share"), share);
        assert_int_equal(budget_metric(text.p, "budget", t, "queue"), queue);
        assert_int_equal(budget_metric(text.p, "budget", t, "fetch"), fetch);
        assert_int_equal(budget_metric(text.p, "budget", t, "partition_fetch"), fetch);
        assert_int_equal(budget_metric(text.p, "budget", t, "batch"), batch);
    }
    assert_int_equal(budget_metric(text.p, "budgetover", 0, "share"), share);
    assert_int_equal(budget_metric(text.p, "budgetover", 0, "queue"), 2048 * 1024);
    assert_int_equal(budget_metric(text.p, "budgetover", 0, "fetch"), 3000000);
    assert_int_equal(budget_metric(text.p, "budgetover", 0, "batch"), batch);
    fp_buf_free(&text);
    pthread_mutex_lock(&fk_mu);
    size_t most = fk.put_max_bytes;
    pthread_mutex_unlock(&fk_mu);
    assert_true(most > 0);
    assert_true(most < (size_t)batch + PAD + 64);
    run_free();
}

/* put() answers RETRY once: the runtime closes the partitions (the held, non-durable records
 * are discarded), rewinds to the committed offsets and replays; the replay starts exactly at
 * what was committed, nothing is lost, and the commit reaches the end. */
static void test_put_retry(void **state)
{
    (void)state;
    const char *topic = "rt.putretry", *name = "putretry";
    enum { NP = 2, W = 60 };
    make_topic(topic, NP);
    rd_kafka_t *pr = probe_new(name);
    fp_props p;
    props_base(&p, name, topic);
    run_start(&p, 0, true);

    produce(topic, NP, 0, W, -1);
    WAIT_UNTIL(committed_are(pr, topic, NP, W));
    /* Wave 2 is put but held: the commits stay at W. */
    fk_set_hold(true);
    produce(topic, NP, W, 2 * W, -1);
    WAIT_UNTIL(fk_all_seen(topic, NP, 2 * W));
    /* Wave 3's first put fails. */
    fk_arm(FK_PUT, 1, FP_SINK_RETRY);
    produce(topic, NP, 2 * W, 3 * W, -1);
    WAIT_UNTIL(fk_all_seen(topic, NP, 3 * W));
    assert_int_equal(fk_get(&fk.injected), 1);
    assert_committed(pr, topic, NP, W);
    fk_set_hold(false);
    WAIT_UNTIL(committed_are(pr, topic, NP, 3 * W));
    assert_int_equal(run_stop(), 0);

    int64_t end[NP], floor[NP], dups[NP];
    for (int i = 0; i < NP; i++)
        end[i] = 3 * W, floor[i] = W;
    check_puts(topic, NP, end, floor, -1, dups);
    for (int i = 0; i < NP; i++)
        assert_int_equal(dups[i], W); /* exactly wave 2, held when the retry came */
    assert_no_violation();
    assert_int_equal(fk_count(topic, FK_DISCARDED), NP * W);
    assert_true(fk_get(&fk.close_calls) >= NP);
    assert_true(fk_get(&fk.open_calls) >= 2 * NP);
    char st[32];
    task_status(name, st, sizeof st, NULL, 0);
    assert_string_equal(st, "UNASSIGNED");
    run_free();
    assert_committed(pr, topic, NP, 3 * W);
    probe_free(pr);
}

/* flush() answers RETRY once: what was put since the last good flush is replayed from the
 * committed offsets, nothing lost, committed to the end. */
static void test_flush_retry(void **state)
{
    (void)state;
    const char *topic = "rt.flushretry", *name = "flushretry";
    enum { NP = 2, W = 60 };
    make_topic(topic, NP);
    rd_kafka_t *pr = probe_new(name);
    fp_props p;
    props_base(&p, name, topic);
    run_start(&p, 0, true);

    produce(topic, NP, 0, W, -1);
    WAIT_UNTIL(committed_are(pr, topic, NP, W));
    fk_arm(FK_FLUSH, 1, FP_SINK_RETRY);
    produce(topic, NP, W, 2 * W, -1);
    WAIT_UNTIL(committed_are(pr, topic, NP, 2 * W));
    assert_int_equal(fk_get(&fk.injected), 1);
    assert_int_equal(run_stop(), 0);

    int64_t end[NP], floor[NP], dups[NP], total = 0;
    for (int i = 0; i < NP; i++)
        end[i] = 2 * W, floor[i] = W;
    check_puts(topic, NP, end, floor, -1, dups);
    for (int i = 0; i < NP; i++) {
        total += dups[i];
        assert_int_equal(fk_durable_end(topic, i), 2 * W);
    }
    /* The records pending at the failed flush were discarded and put again. */
    assert_true(total >= 1);
    assert_int_equal((int64_t)fk_count(topic, FK_DISCARDED), total);
    assert_no_violation();
    run_free();
    assert_committed(pr, topic, NP, 2 * W);
    probe_free(pr);
}

/* put() answers ERROR: the task goes FAILED with the sink's message as the trace, and nothing
 * past what was durable is committed. */
static void test_put_error(void **state)
{
    (void)state;
    const char *topic = "rt.puterror", *name = "puterror";
    enum { NP = 2, W = 40 };
    make_topic(topic, NP);
    rd_kafka_t *pr = probe_new(name);
    fp_props p;
    props_base(&p, name, topic);
    run_start(&p, 0, true);

    produce(topic, NP, 0, W, -1);
    WAIT_UNTIL(committed_are(pr, topic, NP, W));
    fk_arm(FK_PUT, 1, FP_SINK_ERROR);
    produce(topic, NP, W, 2 * W, -1);
    WAIT_UNTIL(task_is(name, "FAILED"));
    char st[32], trace[FP_ERR_MSG_MAX + 256];
    task_status(name, st, sizeof st, trace, sizeof trace);
    assert_string_equal(st, "FAILED");
    if (!strstr(trace, "fake put ERROR"))
        fail_msg("trace: %s", trace);
    assert_int_equal(run_stop(), 1);

    fp_connect_totals t;
    fp_connect_totals_get(R.c, &t);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.out, NP * W);
    run_free();
    for (int i = 0; i < NP; i++) {
        assert_int_equal(fk_seen_end(topic, i), W); /* wave 2 never reached the sink */
        assert_int_equal(fk_durable_end(topic, i), W);
    }
    assert_committed(pr, topic, NP, W);
    assert_no_violation();
    probe_free(pr);
}

/* Records held non-durable: nothing is committed past the lowest held offset until they are
 * released. A stop while records are held commits only up to them, close() discards them, and
 * the next run replays them. */
static void test_hold(void **state)
{
    (void)state;
    const char *topic = "rt.hold", *name = "hold";
    enum { NP = 2, W = 50 };
    make_topic(topic, NP);
    rd_kafka_t *pr = probe_new(name);
    fp_props p;
    props_base(&p, name, topic);
    run_start(&p, 0, true);

    produce(topic, NP, 0, W, -1);
    WAIT_UNTIL(committed_are(pr, topic, NP, W));
    fk_set_hold(true);
    produce(topic, NP, W, 2 * W, -1);
    WAIT_UNTIL(fk_all_seen(topic, NP, 2 * W));
    /* Many flushes and commit intervals (100 ms each) pass: the commit stays at W. */
    int f = fk_get(&fk.flush_calls);
    WAIT_UNTIL(fk_get(&fk.flush_calls) >= f + 10);
    assert_committed(pr, topic, NP, W);
    fk_set_hold(false);
    WAIT_UNTIL(committed_are(pr, topic, NP, 2 * W));

    /* Held again, then stopped. */
    fk_set_hold(true);
    produce(topic, NP, 2 * W, 3 * W, -1);
    WAIT_UNTIL(fk_all_seen(topic, NP, 3 * W));
    f = fk_get(&fk.flush_calls);
    WAIT_UNTIL(fk_get(&fk.flush_calls) >= f + 3);
    assert_int_equal(run_stop(), 0);
    run_free();
    assert_committed(pr, topic, NP, 2 * W);
    assert_int_equal(fk_count(topic, FK_DISCARDED), NP * W);
    assert_int_equal(fk_count(topic, FK_PENDING), 0);

    /* The next run replays the discarded records. */
    fk_set_hold(false);
    props_base(&p, name, topic);
    run_start(&p, 500, false);
    assert_int_equal(run_wait(), 0);
    run_free();
    assert_committed(pr, topic, NP, 3 * W);
    int64_t end[NP], floor[NP], dups[NP];
    for (int i = 0; i < NP; i++)
        end[i] = 3 * W, floor[i] = 2 * W;
    check_puts(topic, NP, end, floor, -1, dups);
    for (int i = 0; i < NP; i++) {
        assert_int_equal(dups[i], W);
        assert_int_equal(fk_durable_end(topic, i), 3 * W);
    }
    assert_no_violation();
    probe_free(pr);
}

/* What read_all keeps of a message (the consumer is gone by then). */
typedef struct got_msg {
    char value[64];
    char src_topic[64], src_partition[16], src_offset[24], error_class[64];
} got_msg;

static void header_copy(rd_kafka_headers_t *h, const char *name, char *out, size_t n)
{
    const void *v;
    size_t len;
    out[0] = '\0';
    if (h && !rd_kafka_header_get_last(h, name, &v, &len))
        snprintf(out, n, "%.*s", (int)len, (const char *)v);
}

/* Reads topic/0 from the beginning to its end; returns how many messages it holds. */
static int read_all(const char *topic, got_msg *out, int max)
{
    fp_err err = {0};
    fp_kafka_consumer_opts o = {.bootstrap = BS, .group = "rt-reader", .partition_eof = true};
    rd_kafka_t *rk = fp_kafka_consumer_new(&o, &err);
    if (!rk)
        fail_msg("reader: %s", err.msg);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0;
    bool eof = false;
    int64_t until = fp_time_mono_ms() + WAIT_MS;
    while (!eof && fp_time_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eof = true;
        if (!m->err && n++ < max) {
            got_msg *g = &out[n - 1];
            snprintf(g->value, sizeof g->value, "%.*s", (int)m->len, (const char *)m->payload);
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h))
                h = NULL;
            header_copy(h, "source.topic", g->src_topic, sizeof g->src_topic);
            header_copy(h, "source.partition", g->src_partition, sizeof g->src_partition);
            header_copy(h, "source.offset", g->src_offset, sizeof g->src_offset);
            header_copy(h, "error.class", g->error_class, sizeof g->error_class);
        }
        rd_kafka_message_destroy(m); /* before the handle: rd_kafka_destroy waits for it */
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    assert_true(eof);
    return n;
}

/* A record that is not JSON, with errors.tolerance=all: it goes to the dead-letter topic with
 * its original bytes and context headers, never to the sink, and the commit passes it. */
static void test_dead_letter(void **state)
{
    (void)state;
    const char *topic = "rt.dlsrc", *dlq = "rt.dlq", *name = "deadletter";
    enum { N = 30, BAD = 12 };
    make_topic(topic, 1);
    make_topic(dlq, 1);
    produce(topic, 1, 0, N, BAD);
    fp_props p;
    props_base(&p, name, topic);
    fp_props_set(&p, "errors.tolerance", "all");
    fp_props_set(&p, "errors.deadletterqueue.topic.name", dlq);
    run_start(&p, 500, false);
    assert_int_equal(run_wait(), 0);
    fp_connect_totals t;
    fp_connect_totals_get(R.c, &t);
    assert_int_equal(t.in, N);
    assert_int_equal(t.dead, 1);
    assert_int_equal(t.out, N - 1);
    run_free();

    int64_t end[1] = {N}, floor[1] = {0}, dups[1];
    check_puts(topic, 1, end, floor, BAD, dups);
    assert_int_equal(dups[0], 0);
    assert_no_violation();
    rd_kafka_t *pr = probe_new(name);
    assert_committed(pr, topic, 1, N);
    probe_free(pr);

    got_msg ms[4];
    assert_int_equal(read_all(dlq, ms, 4), 1);
    assert_string_equal(ms[0].value, "not json {");
    char off[16];
    snprintf(off, sizeof off, "%d", BAD);
    assert_string_equal(ms[0].src_topic, topic);
    assert_string_equal(ms[0].src_partition, "0");
    assert_string_equal(ms[0].src_offset, off);
    assert_string_equal(ms[0].error_class, fp_code_name(FP_ERR_INVALID));
}

/* The dead-letter topic refuses the record: the commit never passes it (the offsets pass a
 * dead letter only after it was acknowledged) and the task goes FAILED. */
static void test_dead_letter_unacknowledged(void **state)
{
    (void)state;
    const char *topic = "rt.dlfailsrc", *dlq = "rt.dlqfail", *name = "deadletterfail";
    enum { N = 30, BAD = 12 };
    make_topic(topic, 1);
    make_topic(dlq, 1);
    produce(topic, 1, 0, N, BAD);
    /* The next produce request (the dead letter's: nothing else produces now) fails for good. */
    fp_kafka_embedded_fail_produce(E, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    fp_props p;
    props_base(&p, name, topic);
    fp_props_set(&p, "errors.tolerance", "all");
    fp_props_set(&p, "errors.deadletterqueue.topic.name", dlq);
    run_start(&p, 0, true);
    WAIT_UNTIL(task_is(name, "FAILED"));
    char st[32], trace[FP_ERR_MSG_MAX + 256];
    task_status(name, st, sizeof st, trace, sizeof trace);
    if (!strstr(trace, "dead letters or sink records were not acknowledged"))
        fail_msg("trace: %s", trace);
    assert_int_equal(run_stop(), 1);
    run_free();
    rd_kafka_t *pr = probe_new(name);
    int64_t c[1];
    assert_true(committed(pr, topic, 1, c));
    if (c[0] > BAD)
        fail_msg("committed %" PRId64 ", past the unacknowledged dead letter @%d", c[0], BAD);
    probe_free(pr);
    assert_no_violation();
}

/* open() answers RETRY at the assignment: the runtime takes the put-RETRY path (pause,
 * backoff, close, rewind, open again), so no record is put into a partition whose open did not
 * succeed, and everything is delivered and committed. Fails while open()'s result is ignored. */
static void test_open_retry(void **state)
{
    (void)state;
    const char *topic = "rt.openretry", *name = "openretry";
    enum { NP = 2, N = 30 };
    make_topic(topic, NP);
    produce(topic, NP, 0, N, -1);
    rd_kafka_t *pr = probe_new(name);
    fk_arm(FK_OPEN, 1, FP_SINK_RETRY);
    fp_props p;
    props_base(&p, name, topic);
    run_start(&p, 0, true);
    WAIT_UNTIL(fk_get(&fk.violations) > 0 || committed_are(pr, topic, NP, N));
    assert_no_violation();
    assert_int_equal(fk_get(&fk.injected), 1);
    assert_true(fk_get(&fk.open_calls) >= NP + 1);
    assert_true(fk_get(&fk.close_calls) >= 1);
    assert_true(task_is(name, "RUNNING"));
    assert_int_equal(run_stop(), 0);
    /* 60 records never come near the default prefetch bounds: no fetch wake. */
    fp_connect_totals t;
    fp_connect_totals_get(R.c, &t);
    assert_int_equal(t.fetch_wakes, 0);
    run_free();
    int64_t end[NP], floor[NP], dups[NP];
    for (int i = 0; i < NP; i++)
        end[i] = N, floor[i] = 0;
    check_puts(topic, NP, end, floor, -1, dups);
    assert_committed(pr, topic, NP, N);
    probe_free(pr);
}

/* open() answers ERROR: the task goes FAILED with the error as the trace, nothing is put and
 * nothing committed. Fails while open()'s result is ignored. */
static void test_open_error(void **state)
{
    (void)state;
    const char *topic = "rt.openerror", *name = "openerror";
    enum { NP = 2, N = 30 };
    make_topic(topic, NP);
    produce(topic, NP, 0, N, -1);
    rd_kafka_t *pr = probe_new(name);
    fk_arm(FK_OPEN, 1, FP_SINK_ERROR);
    fp_props p;
    props_base(&p, name, topic);
    run_start(&p, 0, true);
    WAIT_UNTIL(task_is(name, "FAILED") || fk_get(&fk.put_calls) > 0);
    assert_int_equal(fk_get(&fk.put_calls), 0);
    char st[32], trace[FP_ERR_MSG_MAX + 256];
    task_status(name, st, sizeof st, trace, sizeof trace);
    assert_string_equal(st, "FAILED");
    if (!strstr(trace, "fake open ERROR"))
        fail_msg("trace: %s", trace);
    assert_int_equal(run_stop(), 1);
    run_free();
    assert_committed(pr, topic, NP, -1);
    probe_free(pr);
    assert_no_violation();
}

static int group_setup(void **state)
{
    (void)state;
    fp_err err = {0};
    E = fp_kafka_embedded_start(1, 1, &err);
    if (!E) {
        fprintf(stderr, "embedded broker: %s\n", err.msg);
        return -1;
    }
    BS = fp_kafka_embedded_bootstraps(E);
    P = fp_kafka_producer_new(BS, NULL, on_dr, NULL, &err);
    if (!P) {
        fprintf(stderr, "producer: %s\n", err.msg);
        return -1;
    }
    fp_sink_register_test(&fk_plugin);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fp_sink_register_test(NULL);
    if (P)
        rd_kafka_destroy(P);
    fp_kafka_embedded_stop(E);
    fk_reset();
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_budget, setup, teardown),
        /* Last: the produce error it arms is cluster-wide. */
        cmocka_unit_test_setup_teardown(test_dead_letter_unacknowledged, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
