/* commands.c — device commands: POST /api/v1/vehicles/{id}/commands publishes a command to
 * fms/<device_id>/cmd (MQTT, QoS 1) and GET /api/v1/commands/{id} tells how it went: pending,
 * delivered (the broker's PUBACK), answered or failed (the device's device/command_response,
 * read from Kafka fms.device where the bridge routes it), or timeout.
 *
 * The one thing to know: a command's state lives in Redis (hash fleet:cmd:<id>, with a TTL),
 * never in this process, so any instance answers GET for a command another one sent, and every
 * instance's answer reader writes the same answer idempotently. Every transition is one Lua
 * script that also reads Redis' clock, so "timeout" means the same at every instance and an
 * answer and a timeout cannot both win. Rate limits are token buckets in Redis as well.
 *
 * Threads: routes run on request threads (Redis through a pool); one network thread drives
 * libmosquitto (mosquitto_loop, reconnects with backoff; its callbacks only touch the state
 * under c->lock); one answer thread polls Kafka and writes answers and PUBACKs into Redis, and
 * every 500 ms turns the commands past their deadline to timeout (sweep_due).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/backoff.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "core/url.h"
#include "kafka/kafka.h"
#include "redis/pool.h"
#include "serve/serve_int.h"

#define ANSWER_TOPIC "fms.device"
#define CMD_PREFIX "fleet:cmd:"
#define RL_PREFIX "fleet:rl:"
#define DEADLINES "fleet:cmd:deadlines" /* zset: command key -> deadline ms, for the sweep */
#define SWEEP_MS 500                    /* how often an instance turns due commands to timeout */
#define SWEEP_MAX 100                   /* commands per sweep step */
#define BODY_MAX 4096
#define CMD_TTL_S (24 * 3600) /* after the deadline: how long GET still knows a command */
#define MIDS_MAX 65536        /* commands waiting for their PUBACK */
#define REDIS_CONNECT_MS 1000
#define REDIS_COMMAND_MS 2000

/* ---------------------------------------------------------------- commands and their args */

typedef enum arg_kind { ARG_INT, ARG_NUM, ARG_TIME } arg_kind;

typedef struct arg_def {
    const char *name;
    arg_kind kind;
    bool required;
    double min, max; /* ARG_INT, ARG_NUM */
} arg_def;

typedef struct cmd_def {
    const char *name;
    arg_def args[4]; /* name NULL ends */
} cmd_def;

/* What the simulator's devices (sim/vehicle.c) and the real units understand. */
static const cmd_def commands[] = {
    {"ping", {{NULL}}},
    {"reboot", {{NULL}}},
    {"upload_video", {{"from", ARG_TIME, false, 0, 0}, {"until", ARG_TIME, false, 0, 0}, {NULL}}},
    {"set_setpoint", {{"zone", ARG_INT, true, 1, 2}, {"setpoint", ARG_NUM, true, -30, 25}, {NULL}}},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* ---------------------------------------------------------------- state */

typedef struct mid_entry {
    int mid;
    char id[40];
    int64_t at_ms; /* mono, for the sweep */
} mid_entry;

struct fp_serve_cmd {
    fp_serve *s;
    fp_redis_pool *redis;
    struct mosquitto *mq;
    char client_id[48];
    char *host;
    int port;
    /* c->lock guards everything down to the counters (libmosquitto's thread, request threads
     * and the answer thread all touch it). */
    pthread_mutex_t lock;
    bool connected;
    char mqtt_why[256]; /* why not connected */
    mid_entry *mids;    /* published, PUBACK not yet seen */
    size_t nmids, capmids;
    char (*acked)[40]; /* PUBACK seen, not yet written to Redis */
    size_t nacked, capacked;
    bool answers_ready;  /* the answer consumer has its partitions */
    char kafka_why[256]; /* why not */
    /* the answer thread's */
    rd_kafka_t *rk;
    pthread_t th, net;
    bool th_started, net_started;
    fp_stop halt;        /* both threads stop on it (fp_serve_cmd_free) */
    bool net_connecting; /* the network thread's: a socket exists (connect_async went out) */
    /* metrics */
    _Atomic uint64_t sent, delivered, answered, rate_limited, publish_failed, answers_seen;
    int64_t warned_ms; /* the answer thread's last Redis warning (one per WARN_EVERY_MS) */
};

#define WARN_EVERY_MS 5000

/* Whether the answer thread may log a Redis failure now: a Redis outage retries every 200 ms
 * and would otherwise flood the log. Answer thread only. */
static bool may_warn(fp_serve_cmd *c)
{
    int64_t now = fp_time_mono_ms();
    if (c->warned_ms && now - c->warned_ms < WARN_EVERY_MS)
        return false;
    c->warned_ms = now;
    return true;
}

/* ---------------------------------------------------------------- Lua: every transition */

/* Redis' clock in ms; every script that decides by time uses it, so instances agree. */
#define LUA_NOW                                                                                    \
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + "                            \
    "math.floor(tonumber(t[2]) / 1000) "

/* Every state change of a command is also an entry of the change stream (KEYS[2], the redis
 * sink's): field 'c' (not the vehicles' 'd', so /stream and /feed pass over it), for the webhooks'
 * command.state_changed events, in one order with the vehicles' changes. */
#define LUA_EVENT                                                                                  \
    "local function event(st) "                                                                    \
    "  local h = redis.call('HMGET', KEYS[1], 'command_id', 'command', 'vehicle_id', "             \
    "'device_id') "                                                                                \
    "  redis.call('XADD', KEYS[2], '*', 'c', cjson.encode({command_id = h[1], command = h[2], "    \
    "    vehicle_id = tonumber(h[3]), device_id = h[4], status = st, at_ms = now})) end "

/* KEYS[1] command, KEYS[2] change stream, KEYS[3] the deadlines; ARGV[1] timeout ms, ARGV[2] TTL
 * s, then field/value pairs. */
static const char lua_create[] = LUA_NOW LUA_EVENT
    "redis.call('HSET', KEYS[1], 'status', 'pending', 'created_ms', now, 'deadline_ms', "
    "now + tonumber(ARGV[1]), unpack(ARGV, 3)) "
    "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[1]), KEYS[1]) "
    "redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]) * 1000) "
    "event('pending') return now";

/* KEYS[1] command, KEYS[2] change stream: pending -> delivered (a PUBACK); later states keep
 * theirs. */
static const char lua_delivered[] =
    LUA_NOW LUA_EVENT "local st = redis.call('HGET', KEYS[1], 'status') "
                      "if not st then return 0 end "
                      "if redis.call('HEXISTS', KEYS[1], 'delivered_ms') == 0 then "
                      "redis.call('HSET', KEYS[1], 'delivered_ms', now) end "
                      "if st == 'pending' then redis.call('HSET', KEYS[1], 'status', 'delivered') "
                      "event('delivered') end "
                      "return 1";

/* KEYS[1] command, KEYS[2] change stream; ARGV[1] the error: the publish failed. */
static const char lua_publish_failed[] =
    LUA_NOW LUA_EVENT "redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[1]) "
                      "event('failed') return 1";

/* KEYS[1] command, KEYS[2] change stream; ARGV[1] device id, ARGV[2] the device's status, ARGV[3]
 * its message. 0: no such command (another deployment's, or expired); -1: from another device
 * (ignored); 1: answered/failed; 2: already final (a duplicate); 3: too late (kept as
 * late_response). */
static const char lua_answer[] = LUA_NOW LUA_EVENT
    "local h = redis.call('HMGET', KEYS[1], 'status', 'device_id', 'deadline_ms') "
    "if not h[1] then return 0 end "
    "if h[2] ~= ARGV[1] then return -1 end "
    "if h[1] == 'pending' or h[1] == 'delivered' then "
    "  if now > tonumber(h[3]) then "
    "    redis.call('HSET', KEYS[1], 'status', 'timeout', 'timeout_ms', now, "
    "                'late_response', ARGV[3], 'late_ms', now) event('timeout') return 3 end "
    "  local st = 'answered' if ARGV[2] ~= 'ok' then st = 'failed' end "
    "  redis.call('HSET', KEYS[1], 'status', st, 'response', ARGV[3], 'answered_ms', now) "
    "  event(st) return 1 end "
    "if h[1] == 'timeout' and redis.call('HEXISTS', KEYS[1], 'late_response') == 0 then "
    "  redis.call('HSET', KEYS[1], 'late_response', ARGV[3], 'late_ms', now) return 3 end "
    "return 2";

/* KEYS[1] command, KEYS[2] change stream: its fields, after turning pending/delivered past the
 * deadline into timeout; nil when unknown. */
static const char lua_status[] =
    LUA_NOW LUA_EVENT "local h = redis.call('HMGET', KEYS[1], 'status', 'deadline_ms') "
                      "if not h[1] then return false end "
                      "if (h[1] == 'pending' or h[1] == 'delivered') and now > tonumber(h[2]) then "
                      "  redis.call('HSET', KEYS[1], 'status', 'timeout', 'timeout_ms', now) "
                      "  event('timeout') end "
                      "return redis.call('HGETALL', KEYS[1])";

/* KEYS[1] the deadlines; ARGV[1] at most this many: the command keys whose deadline passed by
 * Redis' clock (the same clock lua_status judges by). */
static const char lua_due[] = LUA_NOW
    "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))";

/* Token buckets KEYS[1] (the token) and KEYS[2] (the vehicle); ARGV: burst and refill per ms of
 * each. Takes one from both or from neither: {0} when taken, else {1, wait s token, wait s
 * vehicle} (0 for a bucket that had room). */
static const char lua_rate[] =
    LUA_NOW "local function level(k, burst, rate) "
            "  local v = redis.call('HMGET', k, 'tokens', 'ts') "
            "  local tok = tonumber(v[1]) or burst local ts = tonumber(v[2]) or now "
            "  return math.min(burst, tok + math.max(0, now - ts) * rate) end "
            "local ba, ra = tonumber(ARGV[1]), tonumber(ARGV[2]) "
            "local bb, rb = tonumber(ARGV[3]), tonumber(ARGV[4]) "
            "local a, b = level(KEYS[1], ba, ra), level(KEYS[2], bb, rb) "
            "if a >= 1 and b >= 1 then "
            "  redis.call('HSET', KEYS[1], 'tokens', a - 1, 'ts', now) "
            "  redis.call('PEXPIRE', KEYS[1], math.ceil(ba / ra) + 1000) "
            "  redis.call('HSET', KEYS[2], 'tokens', b - 1, 'ts', now) "
            "  redis.call('PEXPIRE', KEYS[2], math.ceil(bb / rb) + 1000) "
            "  return {0} end "
            "local wa, wb = 0, 0 "
            "if a < 1 then wa = math.ceil((1 - a) / ra / 1000) end "
            "if b < 1 then wb = math.ceil((1 - b) / rb / 1000) end "
            "return {1, wa, wb}";

/* ---------------------------------------------------------------- Redis helpers */

/* Runs script with keys and args (argv[0..n)); the reply, or NULL with err (FP_ERR_IO naming
 * Redis, which then answers 503). The connection goes back to the pool either way. */
static redisReply *eval(fp_serve_cmd *c, const char *script, int nkeys, int argc, const char **argv,
                        fp_err *err)
{
    redisContext *rc = fp_redis_pool_get(c->redis, err);
    if (!rc)
        return NULL;
    const char *av[24];
    size_t al[24];
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    int n = 0;
    av[n] = "EVAL", al[n++] = 4;
    av[n] = script, al[n++] = strlen(script);
    av[n] = nk, al[n++] = strlen(nk);
    for (int i = 0; i < argc && n < 24; i++)
        av[n] = argv[i], al[n++] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(rc, n, av, al);
    bool ok = r != NULL;
    if (!r) {
        fp_err_set(err, FP_ERR_IO, "%s: %s", fp_redis_pool_name(c->redis),
                   rc->errstr[0] ? rc->errstr : "no reply");
    } else if (r->type == REDIS_REPLY_ERROR) {
        fp_err_set(err, FP_ERR_IO, "%s: %s", fp_redis_pool_name(c->redis), r->str);
        freeReplyObject(r);
        r = NULL;
    }
    fp_redis_pool_put(c->redis, rc, ok);
    return r;
}

/* ---------------------------------------------------------------- MQTT (libmosquitto's thread) */

static void on_connect(struct mosquitto *mq, void *obj, int rc)
{
    (void)mq;
    fp_serve_cmd *c = obj;
    pthread_mutex_lock(&c->lock);
    c->connected = rc == 0;
    if (rc)
        snprintf(c->mqtt_why, sizeof c->mqtt_why, "%s:%d refused the connection: %s", c->host,
                 c->port, mosquitto_connack_string(rc));
    pthread_mutex_unlock(&c->lock);
    if (rc)
        fp_log(FP_LOG_WARN, "serve", -1, "mqtt %s:%d refused %s: %s", c->host, c->port,
               c->client_id, mosquitto_connack_string(rc));
    else
        fp_log(FP_LOG_INFO, "serve", -1, "commands: connected to mqtt %s:%d as %s", c->host,
               c->port, c->client_id);
}

static void on_disconnect(struct mosquitto *mq, void *obj, int rc)
{
    (void)mq;
    fp_serve_cmd *c = obj;
    pthread_mutex_lock(&c->lock);
    bool was = c->connected;
    c->connected = false;
    snprintf(c->mqtt_why, sizeof c->mqtt_why, "%s:%d: connection lost (%s); reconnecting", c->host,
             c->port, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    pthread_mutex_unlock(&c->lock);
    if (was && rc != 0) /* 0: our own mosquitto_disconnect() at the stop */
        fp_log(FP_LOG_WARN, "serve", -1, "commands: mqtt %s:%d: connection lost; reconnecting",
               c->host, c->port);
}

static void on_publish(struct mosquitto *mq, void *obj, int mid)
{
    (void)mq;
    fp_serve_cmd *c = obj;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nmids; i++) {
        if (c->mids[i].mid != mid)
            continue;
        if (c->nacked == c->capacked) {
            c->capacked = c->capacked ? 2 * c->capacked : 64;
            c->acked = fp_xrealloc(c->acked, c->capacked * sizeof *c->acked);
        }
        memcpy(c->acked[c->nacked++], c->mids[i].id, sizeof c->acked[0]);
        c->mids[i] = c->mids[--c->nmids];
        break;
    }
    pthread_mutex_unlock(&c->lock);
}

/* Remembers (mid, id) for on_publish; entries older than the command timeout are dropped
 * (their command is "timeout" by then whatever the broker does). Under c->lock. */
static void remember_mid(fp_serve_cmd *c, int mid, const char *id)
{
    int64_t now = fp_time_mono_ms();
    for (size_t i = 0; i < c->nmids;) {
        if (now - c->mids[i].at_ms > c->s->o.command_timeout_ms || c->nmids >= MIDS_MAX)
            c->mids[i] = c->mids[--c->nmids];
        else
            i++;
    }
    if (c->nmids == c->capmids) {
        c->capmids = c->capmids ? 2 * c->capmids : 64;
        c->mids = fp_xrealloc(c->mids, c->capmids * sizeof *c->mids);
    }
    mid_entry *e = &c->mids[c->nmids++];
    e->mid = mid;
    e->at_ms = now;
    snprintf(e->id, sizeof e->id, "%s", id);
}

/* ---------------------------------------------------------------- answers (the answer thread) */

/* Assigns every partition of fms.device at its current end (answers to commands sent before
 * this instance started are another instance's to write; all instances write the same); a
 * topic that does not exist yet is read from its beginning once it does. */
static bool assign_answers(fp_serve_cmd *c, bool *from_start)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(c->rk, ANSWER_TOPIC, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(c->rk, 0, t, &md, 2000);
    char why[256] = "";
    bool ok = false;
    if (e) {
        snprintf(why, sizeof why, "kafka %s: metadata: %s", c->s->o.bootstrap, rd_kafka_err2str(e));
    } else if (md->topic_cnt < 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
        snprintf(why, sizeof why, "kafka %s: topic %s: %s", c->s->o.bootstrap, ANSWER_TOPIC,
                 md->topic_cnt < 1 ? "unknown" : rd_kafka_err2str(md->topics[0].err));
        *from_start = true;
    } else {
        int np = md->topics[0].partition_cnt;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
        ok = true;
        for (int i = 0; ok && i < np; i++) {
            int32_t p = md->topics[0].partitions[i].id;
            int64_t lo = 0, hi = RD_KAFKA_OFFSET_BEGINNING;
            if (!*from_start) {
                e = rd_kafka_query_watermark_offsets(c->rk, ANSWER_TOPIC, p, &lo, &hi, 2000);
                if (e) {
                    snprintf(why, sizeof why, "kafka %s: %s[%d] offsets: %s", c->s->o.bootstrap,
                             ANSWER_TOPIC, p, rd_kafka_err2str(e));
                    ok = false;
                }
            }
            rd_kafka_topic_partition_list_add(l, ANSWER_TOPIC, p)->offset = hi;
        }
        if (ok && (e = rd_kafka_assign(c->rk, l))) {
            snprintf(why, sizeof why, "kafka %s: assign: %s", c->s->o.bootstrap,
                     rd_kafka_err2str(e));
            ok = false;
        }
        if (ok)
            fp_log(FP_LOG_INFO, "serve", -1,
                   "commands: reading answers from %s (%d partitions, %s)", ANSWER_TOPIC, np,
                   *from_start ? "from the beginning" : "from the end");
        rd_kafka_topic_partition_list_destroy(l);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    pthread_mutex_lock(&c->lock);
    c->answers_ready = ok;
    if (!ok)
        snprintf(c->kafka_why, sizeof c->kafka_why, "%s", why);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* Writes the PUBACKs seen into Redis; false (kept for the next round) when Redis fails. */
static bool flush_acked(fp_serve_cmd *c)
{
    for (;;) {
        char id[40];
        pthread_mutex_lock(&c->lock);
        bool any = c->nacked > 0;
        if (any)
            memcpy(id, c->acked[c->nacked - 1], sizeof id);
        pthread_mutex_unlock(&c->lock);
        if (!any)
            return true;
        char key[64];
        snprintf(key, sizeof key, CMD_PREFIX "%s", id);
        fp_err err = {0};
        const char *argv[] = {key, c->s->o.stream_key};
        redisReply *r = eval(c, lua_delivered, 2, 2, argv, &err);
        if (!r) {
            if (may_warn(c))
                fp_log(FP_LOG_WARN, "serve", -1,
                       "commands: PUBACK of %s not recorded: %s; retrying", id, err.msg);
            return false;
        }
        freeReplyObject(r);
        atomic_fetch_add(&c->delivered, 1);
        pthread_mutex_lock(&c->lock);
        c->nacked--;
        pthread_mutex_unlock(&c->lock);
    }
}

/* One record of fms.device: a command_response is written to its command; anything else is
 * not ours. false when Redis failed (the caller retries the same record). */
static bool handle_answer(fp_serve_cmd *c, const rd_kafka_message_t *m)
{
    json_t *root = json_loadb(m->payload ? m->payload : "", m->len, 0, NULL);
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *id = json_string_value(json_object_get(root, "command_id"));
    const char *dev = json_string_value(json_object_get(root, "device_id"));
    const char *st = json_string_value(json_object_get(root, "status"));
    bool ok = true;
    if (type && !strcmp(type, "command_response") && id && dev && st && strlen(id) < 40) {
        atomic_fetch_add(&c->answers_seen, 1);
        char key[64];
        snprintf(key, sizeof key, CMD_PREFIX "%s", id);
        fp_buf msg = FP_BUF_INIT;
        fp_buf_append(&msg, m->payload, m->len);
        const char *argv[] = {key, c->s->o.stream_key, dev, st, msg.p};
        fp_err err = {0};
        redisReply *r = eval(c, lua_answer, 2, 5, argv, &err);
        if (!r) {
            if (may_warn(c))
                fp_log(FP_LOG_WARN, "serve", -1,
                       "commands: answer to %s not recorded: %s; retrying", id, err.msg);
            ok = false;
        } else {
            if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
                atomic_fetch_add(&c->answered, 1);
                fp_log(FP_LOG_INFO, "serve", -1, "command %s answered by %s: %s", id, dev, st);
            } else if (r->type == REDIS_REPLY_INTEGER && r->integer == -1) {
                fp_log(FP_LOG_WARN, "serve", -1,
                       "command %s: answer from %s, which is not the command's device: ignored", id,
                       dev);
            }
            freeReplyObject(r);
        }
        fp_buf_free(&msg);
    }
    json_decref(root);
    return ok;
}

/* A command nobody asks about still reaches timeout (and its state_changed event goes out) at
 * its deadline: the due ones are judged by lua_status, as a GET would, and leave the deadlines.
 * Every instance sweeps; a command turns to timeout once whoever sweeps it (the script decides).
 * False when Redis could not be asked. */
static bool sweep_due(fp_serve_cmd *c)
{
    char max[16];
    snprintf(max, sizeof max, "%d", SWEEP_MAX);
    const char *dargv[] = {DEADLINES, max};
    fp_err err = {0};
    redisReply *due = eval(c, lua_due, 1, 2, dargv, &err);
    if (!due)
        return false;
    for (size_t i = 0; due->type == REDIS_REPLY_ARRAY && i < due->elements; i++) {
        const redisReply *k = due->element[i];
        if (k->type != REDIS_REPLY_STRING)
            continue;
        const char *argv[] = {k->str, c->s->o.stream_key};
        redisReply *r = eval(c, lua_status, 2, 2, argv, &err);
        if (!r)
            break; /* stays due: the next sweep */
        freeReplyObject(r);
        const char *zargv[] = {"ZREM", DEADLINES, k->str};
        redisContext *rc = fp_redis_pool_get(c->redis, &err);
        if (!rc)
            break;
        redisReply *z = redisCommandArgv(rc, 3, zargv, NULL);
        fp_redis_pool_put(c->redis, rc, z != NULL);
        freeReplyObject(z);
    }
    freeReplyObject(due);
    return true;
}

static void *answer_thread(void *arg)
{
    fp_serve_cmd *c = arg;
    bool assigned = false, from_start = false;
    rd_kafka_message_t *held = NULL; /* a record whose write failed, retried first */
    int64_t swept = 0;
    while (!fp_stop_requested(&c->halt)) {
        if (fp_time_mono_ms() - swept >= SWEEP_MS) {
            sweep_due(c);
            swept = fp_time_mono_ms();
        }
        if (!assigned) {
            assigned = assign_answers(c, &from_start);
            if (!assigned) {
                fp_stop_sleep_ms(&c->halt, 500);
                continue;
            }
        }
        if (!flush_acked(c) || (held && !handle_answer(c, held))) {
            fp_stop_sleep_ms(&c->halt, 200);
            continue;
        }
        if (held)
            rd_kafka_message_destroy(held);
        held = rd_kafka_consumer_poll(c->rk, 50);
        if (!held)
            continue;
        if (held->err) {
            if (held->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fp_log(FP_LOG_WARN, "serve", -1, "commands: %s: %s", ANSWER_TOPIC,
                       rd_kafka_message_errstr(held));
            rd_kafka_message_destroy(held);
            held = NULL;
            continue;
        }
        if (handle_answer(c, held)) {
            rd_kafka_message_destroy(held);
            held = NULL;
        }
    }
    if (held)
        rd_kafka_message_destroy(held);
    return NULL;
}

/* ---------------------------------------------------------------- the network thread */

/* Drives the MQTT connection: mosquitto_loop() while there is a socket, reconnects with a
 * jittered backoff (200 ms doubling to 5 s) when there is none. Our own loop rather than
 * mosquitto_loop_start(): libmosquitto 2.0.11's loop thread never retries a first connect that
 * failed, so a broker that is down when serve starts would stay "down" forever. */
static void *net_thread(void *arg)
{
    fp_serve_cmd *c = arg;
    fp_backoff b;
    fp_backoff_init(&b, 200, 5000);
    while (!fp_stop_requested(&c->halt)) {
        if (!c->net_connecting) {
            if (!fp_backoff_sleep(&b, &c->halt))
                break;
            int rc = mosquitto_reconnect(c->mq);
            if (rc != MOSQ_ERR_SUCCESS) {
                pthread_mutex_lock(&c->lock);
                snprintf(c->mqtt_why, sizeof c->mqtt_why, "%s:%d: %s", c->host, c->port,
                         rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
                pthread_mutex_unlock(&c->lock);
                continue;
            }
            c->net_connecting = true;
        }
        int rc = mosquitto_loop(c->mq, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            c->net_connecting = false;
            pthread_mutex_lock(&c->lock);
            bool was = c->connected;
            c->connected = false;
            if (was) /* on_disconnect said why; keep a refusal's reason otherwise */
                snprintf(c->mqtt_why, sizeof c->mqtt_why, "%s:%d: connection lost (%s)", c->host,
                         c->port, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            pthread_mutex_unlock(&c->lock);
        } else {
            pthread_mutex_lock(&c->lock);
            bool up = c->connected;
            pthread_mutex_unlock(&c->lock);
            if (up)
                fp_backoff_reset(&b);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- init / free */

fp_code fp_serve_cmd_init(fp_serve *s, fp_err *err)
{
    const fp_serve_opts *o = &s->o;
    if (!o->mqtt_url || !*o->mqtt_url)
        return FP_OK;
    if (!o->bootstrap || !*o->bootstrap)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "serve: --mqtt needs --bootstrap-servers: command answers come from "
                          "Kafka topic " ANSWER_TOPIC);
    fp_serve_cmd *c = fp_xcalloc(1, sizeof *c);
    c->s = s;
    pthread_mutex_init(&c->lock, NULL);
    snprintf(c->mqtt_why, sizeof c->mqtt_why, "not connected yet");
    snprintf(c->kafka_why, sizeof c->kafka_why, "answer reader starting");
    s->cmd = c; /* from here on fp_serve_cmd_free() undoes whatever was done */
    int tls = 0;
    fp_code rc = fp_url_mqtt(o->mqtt_url, &c->host, &c->port, &tls, err);
    if (rc)
        return rc;
    c->redis = fp_redis_pool_new(o->redis_url, REDIS_CONNECT_MS, REDIS_COMMAND_MS, 8, err);
    if (!c->redis)
        return err->code;
    char *password = NULL;
    if (o->mqtt_password_file && *o->mqtt_password_file &&
        (rc = fp_http_read_token(o->mqtt_password_file, &password, err)))
        return rc;
    unsigned char r[4];
    if (getrandom(r, sizeof r, 0) != sizeof r)
        memset(r, 0, sizeof r);
    /* One client id per instance: two instances under one id would keep disconnecting each
     * other. A clean session: a command nobody waits for any more is not worth keeping. */
    snprintf(c->client_id, sizeof c->client_id, "fleetpipe-api-%02x%02x%02x%02x", r[0], r[1], r[2],
             r[3]);
    mosquitto_lib_init();
    c->mq = mosquitto_new(c->client_id, true, c);
    if (!c->mq) {
        free(password);
        return fp_err_set(err, FP_ERR_IO, "serve: mosquitto_new failed");
    }
    mosquitto_int_option(c->mq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(c->mq, on_connect);
    mosquitto_disconnect_callback_set(c->mq, on_disconnect);
    mosquitto_publish_callback_set(c->mq, on_publish);
    mosquitto_threaded_set(c->mq, true); /* publish() from request threads, loop() on ours */
    if (o->mqtt_user && *o->mqtt_user)
        mosquitto_username_pw_set(c->mq, o->mqtt_user, password);
    if (password) {
        memset(password, 0, strlen(password));
        free(password);
    }
    if (tls && (rc = mosquitto_tls_set(c->mq, NULL, "/etc/ssl/certs", NULL, NULL, NULL)))
        return fp_err_set(err, FP_ERR_CONFIG, "serve: --mqtt %s: TLS setup: %s", o->mqtt_url,
                          mosquitto_strerror((int)rc));
    /* Not connecting is not fatal: the network thread keeps retrying, and POST answers 503
     * naming mqtt meanwhile. */
    int mrc = mosquitto_connect_async(c->mq, c->host, c->port, 10);
    c->net_connecting = mrc == MOSQ_ERR_SUCCESS;
    if (mrc != MOSQ_ERR_SUCCESS)
        snprintf(c->mqtt_why, sizeof c->mqtt_why, "%s:%d: %s", c->host, c->port,
                 mrc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(mrc));
    if (pthread_create(&c->net, NULL, net_thread, c))
        return fp_err_set(err, FP_ERR_IO, "serve: mqtt network thread: %s", strerror(errno));
    c->net_started = true;
    char group[64];
    snprintf(group, sizeof group, "%s-answers", c->client_id);
    fp_kafka_consumer_opts ko = {.bootstrap = o->bootstrap, .group = group, .client_id = group};
    c->rk = fp_kafka_consumer_new(&ko, err);
    if (!c->rk)
        return err->code;
    if (pthread_create(&c->th, NULL, answer_thread, c))
        return fp_err_set(err, FP_ERR_IO, "serve: answer thread: %s", strerror(errno));
    c->th_started = true;
    fp_log(FP_LOG_INFO, "serve", -1,
           "commands: mqtt %s:%d as %s (user %s), answers from %s, timeout %lld ms", c->host,
           c->port, c->client_id, o->mqtt_user && *o->mqtt_user ? o->mqtt_user : "-", ANSWER_TOPIC,
           (long long)o->command_timeout_ms);
    return FP_OK;
}

void fp_serve_cmd_free(fp_serve *s)
{
    fp_serve_cmd *c = s->cmd;
    if (!c)
        return;
    fp_stop_request(&c->halt);
    if (c->th_started)
        pthread_join(c->th, NULL);
    if (c->net_started)
        pthread_join(c->net, NULL);
    if (c->rk)
        fp_kafka_consumer_close(c->rk, FP_KAFKA_CLOSE_MS, NULL, "serve commands");
    if (c->mq) {
        mosquitto_disconnect(c->mq);
        mosquitto_destroy(c->mq);
        mosquitto_lib_cleanup();
    }
    fp_redis_pool_free(c->redis);
    free(c->host);
    free(c->mids);
    free(c->acked);
    pthread_mutex_destroy(&c->lock);
    free(c);
    s->cmd = NULL;
}

void fp_serve_cmd_metrics(fp_serve *s, fp_metrics_out *m)
{
    fp_serve_cmd *c = s->cmd;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    bool connected = c->connected, ready = c->answers_ready;
    pthread_mutex_unlock(&c->lock);
    fp_metrics_family(m, "fleetpipe_serve_commands_mqtt_connected", FP_METRIC_GAUGE,
                      "1 while the command publisher is connected to the MQTT broker.");
    fp_metrics_sample_u64(m, NULL, connected);
    fp_metrics_family(m, "fleetpipe_serve_commands_answers_ready", FP_METRIC_GAUGE,
                      "1 once the answer reader has the partitions of fms.device.");
    fp_metrics_sample_u64(m, NULL, ready);
    fp_metrics_family(m, "fleetpipe_serve_commands_total", FP_METRIC_COUNTER,
                      "Device commands by what happened: sent (published), delivered (PUBACK "
                      "recorded), answered (a device's answer recorded), rate_limited (429), "
                      "publish_failed.");
    const char *names[] = {"sent", "delivered", "answered", "rate_limited", "publish_failed"};
    uint64_t v[] = {atomic_load(&c->sent), atomic_load(&c->delivered), atomic_load(&c->answered),
                    atomic_load(&c->rate_limited), atomic_load(&c->publish_failed)};
    for (int i = 0; i < 5; i++)
        fp_metrics_sample_u64(m, (const char *[]){"outcome", names[i], NULL}, v[i]);
    fp_metrics_family(m, "fleetpipe_serve_command_answers_read_total", FP_METRIC_COUNTER,
                      "device/command_response records read from fms.device (any command's).");
    fp_metrics_sample_u64(m, NULL, atomic_load(&c->answers_seen));
}

/* ---------------------------------------------------------------- POST validation */

/* Checks the body; on success *def is the command and *args a new object (possibly empty).
 * Answers 400 itself and returns false otherwise. */
static bool parse_body(fp_serve_call *call, const cmd_def **def, json_t **args)
{
    const fp_http_req *q = call->req;
    if (q->body_len > BODY_MAX) {
        fp_serve_fail(call, 400, "body: %zu bytes; a command takes at most %d", q->body_len,
                      BODY_MAX);
        return false;
    }
    json_error_t je;
    json_t *root = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root) {
        fp_serve_fail(call, 400, "body: not valid JSON: %s (line %d, column %d)", je.text, je.line,
                      je.column);
        return false;
    }
    bool ok = false;
    const char *key;
    json_t *val;
    if (!json_is_object(root)) {
        fp_serve_fail(call, 400,
                      "body: expected a JSON object {\"command\": ..., \"args\": {...}}");
        goto out;
    }
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "command") && strcmp(key, "args")) {
            fp_serve_fail(call, 400, "body: unknown member \"%.40s\" (known: command, args)", key);
            goto out;
        }
    }
    json_t *name = json_object_get(root, "command");
    if (!json_is_string(name)) {
        fp_serve_fail(call, 400,
                      "command: %s; expected one of ping, reboot, upload_video, "
                      "set_setpoint",
                      name ? "not a string" : "missing");
        goto out;
    }
    *def = NULL;
    for (size_t i = 0; i < NCOMMANDS && !*def; i++)
        if (!strcmp(commands[i].name, json_string_value(name)))
            *def = &commands[i];
    if (!*def) {
        fp_buf shown = FP_BUF_INIT;
        const char *n = json_string_value(name);
        fp_json_quote(&shown, n, strlen(n) > 40 ? 40 : strlen(n));
        fp_serve_fail(call, 400,
                      "command %s: unknown (known: ping, reboot, upload_video, set_setpoint)",
                      shown.p);
        fp_buf_free(&shown);
        goto out;
    }
    json_t *a = json_object_get(root, "args");
    if (a && !json_is_object(a)) {
        fp_serve_fail(call, 400, "args: expected an object");
        goto out;
    }
    json_object_foreach(a, key, val)
    {
        const arg_def *d = NULL;
        for (const arg_def *x = (*def)->args; x->name && !d; x++)
            if (!strcmp(x->name, key))
                d = x;
        if (!d) {
            fp_serve_fail(call, 400, "args.%.40s: %s takes no such argument", key, (*def)->name);
            goto out;
        }
        int64_t ms;
        if (d->kind == ARG_INT && (!json_is_integer(val) || json_integer_value(val) < d->min ||
                                   json_integer_value(val) > d->max)) {
            fp_serve_fail(call, 400, "args.%s: expected an integer in %g..%g", key, d->min, d->max);
            goto out;
        }
        if (d->kind == ARG_NUM && (!json_is_number(val) || json_number_value(val) < d->min ||
                                   json_number_value(val) > d->max)) {
            fp_serve_fail(call, 400, "args.%s: expected a number in %g..%g", key, d->min, d->max);
            goto out;
        }
        if (d->kind == ARG_TIME &&
            (!json_is_string(val) ||
             fp_time_parse_iso(json_string_value(val), json_string_length(val), &ms, NULL))) {
            fp_serve_fail(call, 400, "args.%s: expected an ISO-8601 time with an offset", key);
            goto out;
        }
    }
    for (const arg_def *x = (*def)->args; x->name; x++)
        if (x->required && !json_object_get(a, x->name)) {
            fp_serve_fail(call, 400, "args.%s: required by %s", x->name, (*def)->name);
            goto out;
        }
    if (!strcmp((*def)->name, "upload_video")) {
        json_t *f = json_object_get(a, "from"), *u = json_object_get(a, "until");
        int64_t fm, um;
        if (f && u && !fp_time_parse_iso(json_string_value(f), json_string_length(f), &fm, NULL) &&
            !fp_time_parse_iso(json_string_value(u), json_string_length(u), &um, NULL) &&
            fm >= um) {
            fp_serve_fail(call, 400, "args.until: must be after args.from");
            goto out;
        }
    }
    *args = a ? json_deep_copy(a) : json_object();
    ok = true;
out:
    json_decref(root);
    return ok;
}

static bool valid_device_id(const char *d, size_t n)
{
    if (!n || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)d[i]) && d[i] != '-' && d[i] != '_' && d[i] != '.')
            return false;
    return true;
}

/* ---------------------------------------------------------------- POST /vehicles/{id}/commands */

void fp_serve_command_post(fp_serve_call *call)
{
    fp_serve_cmd *c = call->s->cmd;
    const fp_serve_opts *o = &call->s->o;
    int64_t vid;
    const cmd_def *def = NULL;
    json_t *args = NULL;
    if (!fp_serve_vehicle_id(call, &vid) || !parse_body(call, &def, &args))
        return;
    redisReply *r = NULL;
    json_t *payload = NULL;
    char *device = NULL;
    fp_err err = {0};
    if (!c) {
        fp_serve_unavailable(call, "mqtt", NULL);
        goto out;
    }
    pthread_mutex_lock(&c->lock);
    bool connected = c->connected, ready = c->answers_ready;
    if (!connected)
        fp_err_set(&err, FP_ERR_IO, "%s", c->mqtt_why);
    else if (!ready)
        fp_err_set(&err, FP_ERR_IO, "answers not readable yet: %s", c->kafka_why);
    pthread_mutex_unlock(&c->lock);
    if (!connected || !ready) {
        fp_serve_unavailable(call, connected ? "kafka" : "mqtt", &err);
        goto out;
    }
    /* The vehicle's device, as the redis sink keeps it. */
    redisContext *rc = fp_redis_pool_get(c->redis, &err);
    if (rc) {
        r = redisCommand(rc, "HGET %s%" PRId64 " device_id", o->key_prefix, vid);
        if (!r)
            fp_err_set(&err, FP_ERR_IO, "%s: %s", fp_redis_pool_name(c->redis),
                       rc->errstr[0] ? rc->errstr : "no reply");
        else if (r->type == REDIS_REPLY_ERROR)
            fp_err_set(&err, FP_ERR_IO, "%s: %s", fp_redis_pool_name(c->redis), r->str);
        fp_redis_pool_put(c->redis, rc, r != NULL);
    }
    if (!rc || !r || r->type == REDIS_REPLY_ERROR) {
        fp_serve_unavailable(call, "redis", &err);
        goto out;
    }
    if (r->type != REDIS_REPLY_STRING) {
        fp_serve_fail(call, 404, "vehicle %" PRId64 ": unknown (no device_id in %s%" PRId64 ")",
                      vid, o->key_prefix, vid);
        goto out;
    }
    if (!valid_device_id(r->str, r->len)) {
        fp_serve_fail(call, 409,
                      "vehicle %" PRId64 ": its device_id is not a usable MQTT topic segment", vid);
        goto out;
    }
    device = fp_xstrndup(r->str, r->len);
    freeReplyObject(r);
    r = NULL;

    /* Rate limits: one from the token's bucket and one from the vehicle's, or neither. */
    char kt[200], kv[64], ba[32], ra[32], bb[32], rb[32];
    snprintf(kt, sizeof kt, RL_PREFIX "token:%.160s", call->who);
    snprintf(kv, sizeof kv, RL_PREFIX "vehicle:%" PRId64, vid);
    snprintf(ba, sizeof ba, "%" PRId64, o->command_token_burst);
    snprintf(ra, sizeof ra, "%.17g", (double)o->command_token_per_min / 60000.0);
    snprintf(bb, sizeof bb, "%" PRId64, o->command_vehicle_burst);
    snprintf(rb, sizeof rb, "%.17g", (double)o->command_vehicle_per_min / 60000.0);
    const char *rl_argv[] = {kt, kv, ba, ra, bb, rb};
    r = eval(c, lua_rate, 2, 6, rl_argv, &err);
    if (!r) {
        fp_serve_unavailable(call, "redis", &err);
        goto out;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->integer == 1) {
        long long wt = r->element[1]->integer, wv = r->element[2]->integer;
        long long wait = wt > wv ? wt : wv;
        char ws[24];
        snprintf(ws, sizeof ws, "%lld", wait < 1 ? 1 : wait);
        fp_http_resp_header(call->resp, "Retry-After", ws);
        atomic_fetch_add(&c->rate_limited, 1);
        if (wv > 0 && wt > 0)
            fp_serve_fail(call, 429,
                          "rate limit: token %s and vehicle %" PRId64
                          " have no commands left; retry in %s s",
                          call->who, vid, ws);
        else if (wv > 0)
            fp_serve_fail(call, 429,
                          "rate limit: vehicle %" PRId64 " has no commands left; retry in %s s",
                          vid, ws);
        else
            fp_serve_fail(call, 429, "rate limit: token %s has no commands left; retry in %s s",
                          call->who, ws);
        fp_log(FP_LOG_INFO, "serve", -1, "command %s to vehicle %" PRId64 " by %s: rate limited",
               def->name, vid, call->who);
        goto out;
    }
    freeReplyObject(r);
    r = NULL;

    /* The command: its id, its state in Redis, then the MQTT message. */
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
        fp_serve_fail(call, 500, "no randomness for a command id");
        goto out;
    }
    char id[40] = "cmd-";
    for (int i = 0; i < 16; i++)
        snprintf(id + 4 + 2 * i, 3, "%02x", rnd[i]);
    int64_t now = fp_time_now_ms();
    fp_buf req_at = FP_BUF_INIT, argtext = FP_BUF_INIT, body = FP_BUF_INIT, deadline = FP_BUF_INIT;
    fp_time_format_iso(now, &req_at);
    char *a = json_dumps(args, JSON_COMPACT);
    fp_buf_puts(&argtext, a);
    free(a);
    payload = json_deep_copy(args);
    json_object_set_new(payload, "command_id", json_string(id));
    json_object_set_new(payload, "command", json_string(def->name));
    json_object_set_new(payload, "requested_at", json_string(req_at.p));
    char *ptext = json_dumps(payload, JSON_COMPACT);
    char key[64], tmo[32], ttl[32], vtext[32];
    snprintf(key, sizeof key, CMD_PREFIX "%s", id);
    snprintf(tmo, sizeof tmo, "%" PRId64, o->command_timeout_ms);
    snprintf(ttl, sizeof ttl, "%d", CMD_TTL_S);
    snprintf(vtext, sizeof vtext, "%" PRId64, vid);
    const char *cr_argv[] = {key,       o->stream_key,  DEADLINES, tmo,
                             ttl,       "command_id",   id,        "command",
                             def->name, "args",         argtext.p, "vehicle_id",
                             vtext,     "device_id",    device,    "requested_at",
                             req_at.p,  "requested_by", call->who};
    r = eval(c, lua_create, 3, (int)(sizeof cr_argv / sizeof cr_argv[0]), cr_argv, &err);
    int64_t created = r && r->type == REDIS_REPLY_INTEGER ? r->integer : now;
    if (!r) {
        fp_serve_unavailable(call, "redis", &err);
        goto done;
    }
    char topic[96];
    snprintf(topic, sizeof topic, "fms/%s/cmd", device);
    pthread_mutex_lock(&c->lock);
    /* Under the lock: the PUBACK (on_publish, libmosquitto's thread) cannot look for this mid
     * before it is remembered. */
    int mid = 0;
    int prc = mosquitto_publish(c->mq, &mid, topic, (int)strlen(ptext), ptext, 1, false);
    if (prc == MOSQ_ERR_SUCCESS)
        remember_mid(c, mid, id);
    pthread_mutex_unlock(&c->lock);
    if (prc != MOSQ_ERR_SUCCESS) {
        atomic_fetch_add(&c->publish_failed, 1);
        fp_err_set(&err, FP_ERR_IO, "%s:%d: publish to %s: %s", c->host, c->port, topic,
                   prc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(prc));
        freeReplyObject(r);
        const char *fa[] = {key, o->stream_key, err.msg};
        r = eval(c, lua_publish_failed, 2, 3, fa, &(fp_err){0});
        fp_log(FP_LOG_WARN, "serve", -1, "command %s %s to vehicle %" PRId64 " by %s: %s", id,
               def->name, vid, call->who, err.msg);
        fp_serve_unavailable(call, "mqtt", &err);
        goto done;
    }
    atomic_fetch_add(&c->sent, 1);
    fp_log(FP_LOG_INFO, "serve", -1, "command %s %s to vehicle %" PRId64 " (%s) by %s", id,
           def->name, vid, device, call->who);
    fp_time_format_iso(created + o->command_timeout_ms, &deadline);
    fp_buf_printf(&body, "/api/v1/commands/%s", id);
    fp_http_resp_header(call->resp, "Location", body.p);
    fp_http_resp *resp = call->resp;
    resp->status = 202;
    fp_buf_printf(&resp->body,
                  "{\"command_id\": \"%s\", \"status\": \"pending\", \"command\": \"%s\", "
                  "\"vehicle_id\": %" PRId64 ", \"device_id\": ",
                  id, def->name, vid);
    fp_json_quote(&resp->body, device, strlen(device));
    fp_buf_printf(&resp->body,
                  ", \"args\": %s, \"requested_at\": \"%s\", \"deadline\": \"%s\", "
                  "\"href\": \"%s\"}\n",
                  argtext.p, req_at.p, deadline.p, body.p);
done:
    free(ptext);
    fp_buf_free(&req_at);
    fp_buf_free(&argtext);
    fp_buf_free(&body);
    fp_buf_free(&deadline);
out:
    if (r)
        freeReplyObject(r);
    json_decref(payload);
    json_decref(args);
    free(device);
}

/* ---------------------------------------------------------------- GET /commands/{id} */

static const char *field(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && !strcmp(r->element[i]->str, name) &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return r->element[i + 1]->str;
    return NULL;
}

static void put_str(fp_buf *b, const char *name, const char *v)
{
    if (!v)
        return;
    fp_buf_printf(b, ", \"%s\": ", name);
    fp_json_quote(b, v, strlen(v));
}

static void put_time_ms(fp_buf *b, const char *name, const char *ms)
{
    if (!ms)
        return;
    fp_buf_printf(b, ", \"%s\": \"", name);
    fp_time_format_iso(strtoll(ms, NULL, 10), b);
    fp_buf_putc(b, '"');
}

/* A JSON text kept in the hash (the device's message, the args): as it is when it is JSON. */
static void put_json(fp_buf *b, const char *name, const char *v)
{
    if (!v)
        return;
    fp_buf_printf(b, ", \"%s\": ", name);
    if (!fp_json_validate(v, strlen(v), NULL))
        fp_buf_puts(b, v);
    else
        fp_json_quote(b, v, strlen(v));
}

void fp_serve_command_get(fp_serve_call *call)
{
    fp_serve_cmd *c = call->s->cmd;
    const char *id = call->arg[0] ? call->arg[0] : "";
    bool ok = strlen(id) == 36 && !strncmp(id, "cmd-", 4);
    for (size_t i = 4; ok && i < 36; i++)
        ok = isdigit((unsigned char)id[i]) || (id[i] >= 'a' && id[i] <= 'f');
    if (!ok) {
        fp_buf shown = FP_BUF_INIT;
        fp_json_quote(&shown, id, strlen(id) > 40 ? 40 : strlen(id));
        fp_serve_fail(call, 400, "command id %s: expected cmd- and 32 hex digits", shown.p);
        fp_buf_free(&shown);
        return;
    }
    if (!c) {
        fp_serve_unavailable(call, "mqtt", NULL);
        return;
    }
    char key[64];
    snprintf(key, sizeof key, CMD_PREFIX "%s", id);
    fp_err err = {0};
    const char *argv[] = {key, call->s->o.stream_key};
    redisReply *r = eval(c, lua_status, 2, 2, argv, &err);
    if (!r) {
        fp_serve_unavailable(call, "redis", &err);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || !r->elements) {
        fp_serve_fail(call, 404, "command %s: unknown (or older than its TTL)", id);
        freeReplyObject(r);
        return;
    }
    fp_buf *b = &call->resp->body;
    fp_buf_puts(b, "{\"command_id\": ");
    fp_json_quote(b, id, strlen(id));
    put_str(b, "status", field(r, "status"));
    put_str(b, "command", field(r, "command"));
    put_json(b, "args", field(r, "args"));
    const char *v = field(r, "vehicle_id");
    if (v)
        fp_buf_printf(b, ", \"vehicle_id\": %lld", strtoll(v, NULL, 10));
    put_str(b, "device_id", field(r, "device_id"));
    put_str(b, "requested_by", field(r, "requested_by"));
    put_str(b, "requested_at", field(r, "requested_at"));
    put_time_ms(b, "deadline", field(r, "deadline_ms"));
    put_time_ms(b, "delivered_at", field(r, "delivered_ms"));
    put_time_ms(b, "answered_at", field(r, "answered_ms"));
    put_time_ms(b, "timed_out_at", field(r, "timeout_ms"));
    put_json(b, "response", field(r, "response"));
    put_json(b, "late_response", field(r, "late_response"));
    put_str(b, "error", field(r, "error"));
    fp_buf_puts(b, "}\n");
    freeReplyObject(r);
}
