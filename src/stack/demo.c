/* demo.c — `fleetpipe demo`'s run: the whole front half of the pipeline on one laptop in seconds.
 *
 * stack/ is the orchestration stage above every other stage: it may include connect, ingest,
 * sim, lake, kafka, ops and core, and only the CLI includes it. In-process: the in-memory Kafka
 * broker, the simulated fleet (with anomalies), the MQTT bridge (a thread) and a raw-lake
 * objstore connector with a dead-letter topic writing readable JSON lines into the directory, and
 * the shipped 5-minute cargo aggregate (config/connectors/agg-cargo-5m.json) into fms.agg.
 * mosquitto, when installed (Debian's package; scripts/setup.sh installs it), runs as a child
 * process with the built-in copy of config/mosquitto (per-device passwords, ACL), so the
 * devices publish over MQTT exactly as in production; without it the fleet produces straight
 * into Kafka. Last, the batch side converts that raw lake into per-table Parquet with its
 * catalog (src/lake), as `fleetpipe lake convert` does. The directory is owned by the demo (a
 * marker file says so) and cleaned at the start of every run, because the broker's offsets
 * restart at 0 each time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connect/connect.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "ingest/bridge.h"
#include "kafka/kafka.h"
#include "lake/lake.h"
#include "sim/provision.h"
#include "sim/run.h"
#include "sim/sim.h"
#include "stack/demo.h"

#define MARKER ".fleetpipe-demo"

extern const char fp_builtin_mosquitto_conf[], fp_builtin_mosquitto_acl[];
extern const char fp_builtin_agg_connector[]; /* config/connectors/agg-cargo-5m.json */
extern const size_t fp_builtin_agg_connector_len;

static int rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -1;
        struct dirent *de;
        int rc = 0;
        for (de = readdir(d); rc == 0 && de; de = readdir(d)) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            fp_buf b = FP_BUF_INIT;
            fp_buf_printf(&b, "%s/%s", path, de->d_name);
            rc = rm_tree(b.p);
            fp_buf_free(&b);
        }
        closedir(d);
        return rc ? rc : rmdir(path);
    }
    return unlink(path);
}

/* Lines in every object under dir (the demo writes uncompressed JSON lines). */
static long count_lines(const char *dir, long *objects)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    long n = 0;
    struct dirent *de;
    for (de = readdir(d); de; de = readdir(d)) {
        if (de->d_name[0] == '.')
            continue;
        fp_buf p = FP_BUF_INIT;
        fp_buf_printf(&p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p.p, &st) == 0 && S_ISDIR(st.st_mode)) {
            n += count_lines(p.p, objects);
        } else {
            FILE *f = fopen(p.p, "r");
            for (int c = f ? getc(f) : EOF; c != EOF; c = getc(f))
                n += c == '\n';
            if (f)
                fclose(f);
            ++*objects;
        }
        fp_buf_free(&p);
    }
    closedir(d);
    return n;
}

/* Makes dir an empty demo directory; refuses to clean a directory the demo did not make. */
static fp_code prepare_dir(const char *dir, fp_err *err)
{
    DIR *d = opendir(dir);
    if (d) {
        bool ours = false, empty = true;
        struct dirent *de;
        for (de = readdir(d); de; de = readdir(d)) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            empty = false;
            ours = ours || !strcmp(de->d_name, MARKER);
        }
        closedir(d);
        if (!empty && !ours)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "%s exists and is not a fleetpipe demo directory; give --dir", dir);
        if (rm_tree(dir) != 0)
            return fp_err_set(err, FP_ERR_IO, "cleaning %s: %s", dir, strerror(errno));
    }
    if (mkdir(dir, 0777) != 0)
        return fp_err_set(err, FP_ERR_IO, "mkdir %s: %s", dir, strerror(errno));
    fp_buf m = FP_BUF_INIT;
    fp_buf_printf(&m, "%s/" MARKER, dir);
    FILE *f = fopen(m.p, "w");
    fp_buf_free(&m);
    if (!f)
        return fp_err_set(err, FP_ERR_IO, "%s: cannot write the marker file", dir);
    fputs("made by fleetpipe demo; the next run deletes this directory's contents\n", f);
    fclose(f);
    return FP_OK;
}

/* ---- the front door: mosquitto (child process), the bridge (a thread), the fleet ---- */

/* Debian installs mosquitto in /usr/sbin, which is often not on a user's PATH. */
static bool find_mosquitto(fp_buf *out)
{
    const char *path = getenv("PATH");
    fp_buf dirs = FP_BUF_INIT;
    fp_buf_printf(&dirs, "%s:/usr/sbin:/usr/local/sbin", path ? path : "/usr/bin");
    bool found = false;
    for (char *save = NULL, *d = strtok_r(dirs.p, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        fp_buf_reset(out);
        fp_buf_printf(out, "%s/mosquitto", d);
        found = access(out->p, X_OK) == 0;
    }
    fp_buf_free(&dirs);
    return found;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static fp_code write_text(const char *path, const char *text, fp_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        return fp_err_set(err, FP_ERR_IO, "%s: %s", path, strerror(errno));
    return FP_OK;
}

/* The built-in config/mosquitto/mosquitto.conf with the same edits the tests make: the
 * listener port and the paths of the password and ACL files. */
static void mosquitto_conf(const char *mqdir, int port, fp_buf *out)
{
    const char *p = fp_builtin_mosquitto_conf;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (!strncmp(p, "listener ", 9))
            fp_buf_printf(out, "listener %d 127.0.0.1\n", port);
        else if (!strncmp(p, "password_file ", 14))
            fp_buf_printf(out, "password_file %s/passwd\n", mqdir);
        else if (!strncmp(p, "acl_file ", 9))
            fp_buf_printf(out, "acl_file %s/acl\n", mqdir);
        else {
            fp_buf_append(out, p, n);
            fp_buf_putc(out, '\n');
        }
        p += n + (p[n] == '\n');
    }
    /* Started as root, mosquitto switches to its own user, which may not reach the demo's
     * directory (a home directory is often 0700): the demo's broker keeps the demo's user. */
    if (geteuid() == 0)
        fp_buf_puts(out, "user root\n");
}

/* Provisions the fleet's credentials into <dir>/mqtt and starts mosquitto there (its log in
 * mosquitto.log). Returns the child's pid, or -1 with err set. */
static pid_t start_mosquitto(const char *exe, const char *mqdir, uint32_t vehicles, int port,
                             fp_err *err)
{
    if (fp_sim_provision(mqdir, 1, vehicles, err))
        return -1;
    fp_buf path = FP_BUF_INIT, conf = FP_BUF_INIT;
    fp_buf_printf(&path, "%s/acl", mqdir);
    fp_code rc = write_text(path.p, fp_builtin_mosquitto_acl, err);
    mosquitto_conf(mqdir, port, &conf);
    fp_buf_reset(&path);
    fp_buf_printf(&path, "%s/mosquitto.conf", mqdir);
    if (!rc)
        rc = write_text(path.p, conf.p, err);
    fp_buf_free(&conf);
    pid_t pid = -1;
    if (!rc) {
        fp_buf log = FP_BUF_INIT;
        fp_buf_printf(&log, "%s/mosquitto.log", mqdir);
        pid = fork();
        if (pid == 0) {
            int fd = open(log.p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(exe, "mosquitto", "-c", path.p, (char *)NULL);
            _exit(127);
        }
        fp_buf_free(&log);
        int64_t deadline = fp_time_mono_ms() + 5000;
        while (pid > 0 && !port_open(port)) {
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid || fp_time_mono_ms() > deadline) {
                kill(pid, SIGTERM);
                waitpid(pid, &status, 0);
                fp_err_set(err, FP_ERR_IO, "mosquitto did not start: see %s/mosquitto.log", mqdir);
                pid = -1;
                break;
            }
            usleep(20 * 1000);
        }
        if (pid < 0 && !err->code)
            fp_err_set(err, FP_ERR_IO, "fork: %s", strerror(errno));
    }
    fp_buf_free(&path);
    return pid;
}

typedef struct bridge_thread {
    fp_bridge_opts o;
    fp_bridge_stats st;
    fp_code rc;
    fp_err err;
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool subscribed, finished;
} bridge_thread;

static void bridge_subscribed(void *ctx)
{
    bridge_thread *b = ctx;
    pthread_mutex_lock(&b->lock);
    b->subscribed = true;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

static void *bridge_main(void *arg)
{
    bridge_thread *b = arg;
    b->rc = fp_bridge_run(&b->o, &b->st, &b->err);
    pthread_mutex_lock(&b->lock);
    b->finished = true;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* Runs the fleet: over MQTT when port > 0 (credentials in mqdir), else straight into Kafka. */
static fp_code run_fleet(const fp_stack_demo_opts *o, const char *bs, int port, const char *mqdir,
                         fp_sim_summary *sum, fp_err *err)
{
    fp_sim_registry *reg = fp_sim_registry_load(NULL, err);
    if (!reg)
        return err->code;
    fp_sim_conf conf = {.reg = reg, .seed = (uint64_t)o->seed, .fleet_size = o->vehicles};
    fp_time_parse_iso("2026-01-05T00:00:00Z", 20, &conf.start_ms, NULL); /* 09:00 local, Monday */
    conf.anomaly_rate = o->anomaly_rate;
    fp_sim_anomaly_parse("all", &conf.anomaly_mask, NULL);
    fp_sim_run_opts ro = {.conf = &conf,
                          .stop = o->stop,
                          .vehicles = (uint32_t)o->vehicles,
                          .end_ms = conf.start_ms + o->minutes * 60000,
                          .threads = 1,
                          .target = port > 0 ? FP_SIM_TO_MQTT : FP_SIM_TO_KAFKA,
                          .bootstrap = bs};
    fp_sim_credentials *creds = NULL;
    fp_code rc = FP_OK;
    if (port > 0) {
        fp_buf path = FP_BUF_INIT;
        fp_buf_printf(&path, "%s/devices.secret", mqdir);
        creds = fp_sim_credentials_load(path.p, err);
        fp_buf_free(&path);
        ro.mqtt = (fp_sim_mqtt_conf){
            .host = "127.0.0.1", .port = port, .credentials = creds, .max_inflight = 100};
        if (!creds)
            rc = err->code;
    }
    /* No spoofing here: mosquitto answers it by dropping the device's connection, and the
     * resends after the reconnect would add duplicates that blur the summary's exact count.
     * tests/integration/mqtt_security.sh covers it. */
    conf.anomaly_mask &= ~(1u << FP_SIM_ANOM_SPOOFED_TOPIC);
    if (!rc)
        rc = fp_sim_run(&ro, sum, err);
    if (!rc && sum->failed)
        rc = fp_err_set(err, FP_ERR_IO, "%llu messages were not acknowledged",
                        (unsigned long long)sum->failed);
    fp_sim_credentials_free(creds);
    fp_sim_registry_free(reg);
    return rc;
}

/* Copies topic into <dir>/<file> so it outlives the broker: one JSON line per record, its
 * headers as members and "value" its value as a string (raw_value: the value itself, a JSON
 * object). Returns the record count, -1 when the consumer cannot be made (its error logged). */
static long save_topic(const char *bs, const char *dir, const char *topic, const char *file,
                       bool raw_value)
{
    fp_err err = {0};
    fp_kafka_consumer_opts co = {
        .bootstrap = bs, .group = "fleetpipe-demo-dlq", .partition_eof = true};
    rd_kafka_t *rk = fp_kafka_consumer_new(&co, &err);
    if (!rk) {
        fp_log(FP_LOG_ERROR, "demo", -1, "%s: %s", topic, err.msg);
        return -1;
    }
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    long n = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1) {
        int np = md->topics[0].partition_cnt;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
        for (int i = 0; i < np; i++)
            rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        fp_buf path = FP_BUF_INIT;
        fp_buf_printf(&path, "%s/%s", dir, file);
        FILE *f = fopen(path.p, "w");
        fp_buf_free(&path);
        int eofs = 0;
        int64_t deadline = fp_time_mono_ms() + 10000;
        while (f && eofs < np && fp_time_mono_ms() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
            if (!m)
                continue;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                eofs++;
            } else if (!m->err) {
                fp_buf line = FP_BUF_INIT;
                fp_buf_puts(&line, "{");
                rd_kafka_headers_t *h = NULL;
                if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    const char *name;
                    const void *val;
                    size_t vlen;
                    for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &vlen); i++) {
                        fp_json_quote(&line, name, strlen(name));
                        fp_buf_putc(&line, ':');
                        fp_json_quote(&line, val, vlen);
                        fp_buf_putc(&line, ',');
                    }
                }
                fp_buf_puts(&line, "\"value\":");
                if (raw_value && m->payload)
                    fp_buf_append(&line, m->payload, m->len);
                else
                    fp_json_quote(&line, m->payload ? m->payload : "", m->len);
                fp_buf_puts(&line, "}\n");
                fwrite(line.p, 1, line.len, f);
                fp_buf_free(&line);
                n++;
            }
            rd_kafka_message_destroy(m);
        }
        if (f)
            fclose(f);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    fp_kafka_consumer_close(rk, FP_KAFKA_CLOSE_MS, NULL, "demo");
    return n;
}

static fp_code demo_lake(const char *abs_dir, fp_lake_counts *c, fp_err *err)
{
    fp_buf from = FP_BUF_INIT, to = FP_BUF_INIT;
    fp_buf_printf(&from, "file://%s/raw", abs_dir);
    fp_buf_printf(&to, "file://%s/lake", abs_dir);
    fp_lake_opts lo = {.from_url = from.p, .to_url = to.p};
    fp_lake *l = NULL;
    fp_code rc = fp_lake_open(&lo, &l, err);
    if (!rc)
        rc = fp_lake_convert_all(l, INT64_MIN, INT64_MAX, c, err);
    fp_lake_free(l);
    fp_buf_free(&from);
    fp_buf_free(&to);
    return rc;
}

static fp_code add_connector(fp_connect *c, const char *abs_dir, int64_t tasks, fp_err *err)
{
    fp_props p;
    fp_props_init(&p);
    char tm[32];
    snprintf(tm, sizeof tm, "%" PRId64, tasks);
    fp_buf url = FP_BUF_INIT;
    fp_buf_printf(&url, "file://%s", abs_dir);
    const char *kv[][2] = {
        {"name", "raw-lake"},
        {"connector.class", "objstore"},
        {"topics", "fms.vehicle,fms.cargo,fms.blackbox,fms.device"},
        {"tasks.max", tm},
        {"errors.tolerance", "all"},
        {"errors.deadletterqueue.topic.name", "fms.deadletter"},
        {"errors.log.enable", "false"},
        {"store.url", url.p},
        {"topics.dir", "raw"},
        {"format.compression", "none"},
        {"flush.size", "2000"},
        {"rotate.schedule.interval.ms", "5000"},
        {"timestamp.field", "messaged_at"},
        {"consumer.override.session.timeout.ms", "6000"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        fp_props_set(&p, kv[i][0], kv[i][1]);
    fp_buf_free(&url);
    fp_code rc = fp_connect_add(c, &p, err);
    fp_props_free(&p);
    return rc;
}

/* The shipped cargo aggregate (config/connectors/agg-cargo-5m.json), with its own dead-letter
 * topic (the raw lake's reconciliation counts fms.deadletter) and an idle timeout below the
 * runtime's exit-when-idle, so its last windows close before the demo ends. */
static fp_code add_agg_connector(fp_connect *c, int64_t tasks, fp_err *err)
{
    fp_props p;
    fp_props_init(&p);
    fp_code rc = fp_props_load_json(&p, fp_builtin_agg_connector, fp_builtin_agg_connector_len,
                                    "config/connectors/agg-cargo-5m.json", err);
    char tm[32];
    snprintf(tm, sizeof tm, "%" PRId64, tasks);
    fp_props_set(&p, "tasks.max", tm);
    fp_props_set(&p, "aggregate.idle", "1s");
    fp_props_set(&p, "errors.deadletterqueue.topic.name", FP_STACK_DEMO_AGG_DLQ);
    fp_props_set(&p, "consumer.override.session.timeout.ms", "6000");
    if (!rc)
        rc = fp_connect_add(c, &p, err);
    fp_props_free(&p);
    return rc;
}

/* A component's refusal (a broker refusing credentials, say) is the demo failing, not the
 * caller's configuration being wrong: only the directory is the caller's to fix. */
static fp_code component_failed(fp_err *err, const char *what)
{
    if (err->code == FP_ERR_CONFIG)
        err->code = FP_ERR_IO;
    if (what)
        fp_err_prefix(err, "%s", what);
    return err->code;
}

fp_code fp_stack_demo_run(const fp_stack_demo_opts *o, fp_stack_demo_result *res, fp_err *err)
{
    memset(res, 0, sizeof *res);
    fp_kafka_embedded *emb = NULL;
    fp_connect *c = NULL, *agg = NULL;
    int64_t t0 = fp_time_mono_ms();
    fp_code rc = prepare_dir(o->dir, err);
    if (rc)
        return rc;
    char abs_dir[PATH_MAX];
    if (!realpath(o->dir, abs_dir))
        return fp_err_set(err, FP_ERR_IO, "%s: %s", o->dir, strerror(errno));
    emb = fp_kafka_embedded_start(3, FP_KAFKA_EMBEDDED_PARTITIONS, err);
    if (!emb)
        return component_failed(err, NULL);
    if (fp_kafka_embedded_watch_drops(emb, 1000, err)) {
        fp_kafka_embedded_stop(emb);
        return component_failed(err, NULL);
    }
    const char *bs = fp_kafka_embedded_bootstraps(emb);
    fp_log(FP_LOG_INFO, "demo", -1, "in-memory Kafka broker (3 brokers, %d partitions) at %s",
           FP_KAFKA_EMBEDDED_PARTITIONS, bs);

    /* The front door: mosquitto + bridge when mosquitto is installed. */
    fp_buf exe = FP_BUF_INIT, mqdir = FP_BUF_INIT;
    fp_buf_printf(&mqdir, "%s/mqtt", abs_dir);
    int port = 0;
    pid_t mq = -1;
    bridge_thread bt = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    fp_route_table *rules = NULL;
    bool bridge_started = false;
    char *bridge_pw = NULL;
    fp_sim_summary sum = {0};
    if (!o->no_mqtt && find_mosquitto(&exe)) {
        port = free_port();
        mq = start_mosquitto(exe.p, mqdir.p, o->vehicles, port, err);
        if (mq < 0) {
            rc = component_failed(err, NULL);
            goto front_done;
        }
        fp_log(FP_LOG_INFO, "demo", -1,
               "mosquitto (pid %d) on 127.0.0.1:%d with %s/mosquitto.conf: %lld device "
               "accounts, ACL",
               (int)mq, port, mqdir.p, (long long)o->vehicles);
        static const char *const objects[] = {"vehicle", "cargo", "blackbox", "device", NULL};
        rules = fp_route_load(NULL, objects, err);
        fp_buf secret = FP_BUF_INIT;
        fp_buf_printf(&secret, "%s/bridge.secret", mqdir.p);
        bridge_pw = rules ? fp_sim_read_secret(secret.p, err) : NULL;
        fp_buf_free(&secret);
        if (!bridge_pw) {
            rc = component_failed(err, NULL);
            goto front_done;
        }
        bt.o = (fp_bridge_opts){
            .stop = o->stop,
            .mqtt = {.host = "127.0.0.1",
                     .port = port,
                     .client_id = "fleetpipe-demo-bridge",
                     .username = FP_SIM_BRIDGE_USER,
                     .password = bridge_pw},
            .group = "fleetpipe-bridge",
            .bootstrap = bs,
            .rules = rules,
            .exit_when_idle_ms = 1500,
            .status_interval_ms = 60000,
            .on_subscribed = bridge_subscribed,
            .ctx = &bt,
        };
        pthread_create(&bt.th, NULL, bridge_main, &bt);
        bridge_started = true;
        pthread_mutex_lock(&bt.lock);
        while (!bt.subscribed && !bt.finished)
            pthread_cond_wait(&bt.cond, &bt.lock);
        pthread_mutex_unlock(&bt.lock);
        if (!bt.subscribed) {
            *err = bt.err;
            rc = component_failed(err, "bridge");
            goto front_done;
        }
    } else {
        fp_log(FP_LOG_WARN, "demo", -1,
               "%s: the fleet produces straight into Kafka (no MQTT, no bridge)",
               o->no_mqtt ? "--no-mqtt"
                          : "mosquitto is not installed (scripts/setup.sh installs it)");
    }
    if (run_fleet(o, bs, port, mqdir.p, &sum, err))
        rc = component_failed(err, "fleet");
front_done:
    if (bridge_started) {
        pthread_join(bt.th, NULL); /* it stops once idle and everything is acknowledged */
        if (bt.rc && !rc) {
            *err = bt.err;
            rc = component_failed(err, "bridge");
        }
    }
    if (mq > 0) {
        kill(mq, SIGTERM);
        waitpid(mq, NULL, 0);
    }
    fp_route_free(rules);
    free(bridge_pw);
    fp_buf_free(&exe);
    fp_buf_free(&mqdir);
    free(sum.messages);
    free(sum.samples);
    if (rc)
        goto out;
    res->over_mqtt = port > 0;
    res->published = sum.published;
    for (int a = 1; a < FP_SIM_ANOM_COUNT; a++)
        res->injected += sum.anomalies[a];
    if (res->over_mqtt) {
        res->bridge_forwarded = bt.st.forwarded;
        res->bridge_dead_lettered = bt.st.dead_lettered;
        res->bridge_acked = bt.st.acked;
    }
    fp_log(FP_LOG_INFO, "demo", -1,
           "%lld vehicles published %llu messages (%" PRId64 " minutes of fleet time, "
           "%llu anomalies)",
           (long long)o->vehicles, (unsigned long long)sum.published, o->minutes,
           (unsigned long long)res->injected);

    fp_connect_opts co = {bs, 1500, 1000, 0, false, NULL, o->stop, false, 0};
    c = fp_connect_new(&co);
    /* The aggregate in a runtime of its own, so each one's totals are its connector's. */
    agg = fp_connect_new(&co);
    if (add_connector(c, abs_dir, o->tasks, err) || add_agg_connector(agg, o->tasks, err) ||
        fp_connect_start(c, err) || fp_connect_start(agg, err)) {
        rc = component_failed(err, NULL);
        goto out;
    }
    res->connector_failed = fp_connect_wait(c) != 0;
    res->connector_failed = (fp_connect_wait(agg) != 0) || res->connector_failed;
    fp_connect_totals at;
    fp_connect_totals_get(agg, &at);
    res->agg_samples = at.out;
    res->agg_windows = at.objects;
    res->agg_dead_lettered = at.dead;
    res->interrupted = fp_stop_requested(o->stop) && !res->connector_failed;
    fp_connect_totals tot;
    fp_connect_totals_get(c, &tot);
    res->consumed = tot.in;
    res->connector_bytes = tot.bytes;
    fp_stop_reset(o->stop);
    res->dead_letters = save_topic(bs, abs_dir, "fms.deadletter", "deadletters.jsonl", false);
    save_topic(bs, abs_dir, "fms.agg", "aggregates.jsonl", true);
    save_topic(bs, abs_dir, FP_STACK_DEMO_AGG_DLQ, "deadletters-agg.jsonl", false);
    fp_buf raw = FP_BUF_INIT;
    fp_buf_printf(&raw, "%s/raw", abs_dir);
    res->lake_records = count_lines(raw.p, &res->lake_objects);
    fp_buf_free(&raw);
    res->reconciles = res->lake_records + res->dead_letters == (long)res->published;
    /* The batch side: the raw lake to per-table Parquet with its catalog (docs/lake.md). */
    if (!res->interrupted)
        demo_lake(abs_dir, &res->parquet, &res->parquet_err);
    res->parquet_ok = !res->parquet_err.code &&
                      res->parquet.rows_in == res->parquet.rows_written + res->parquet.rows_failed;
    res->seconds = (double)(fp_time_mono_ms() - t0) / 1000.0;
out:
    fp_connect_free(c);
    fp_connect_free(agg);
    fp_kafka_embedded_stop(emb);
    return rc;
}
