/* cmd_demo.c — `fleetpipe demo`: the whole front half of the pipeline on one laptop in seconds.
 *
 * In-process: the in-memory Kafka broker, the simulated fleet (with anomalies), the MQTT bridge
 * and a raw-lake objstore connector with a dead-letter topic writing readable JSON lines into
 * --dir. mosquitto, when installed (Debian's package; scripts/setup.sh installs it), runs as a
 * child process with the built-in copy of config/mosquitto (per-device passwords, ACL), so the
 * devices publish over MQTT exactly as in production; without it the fleet produces straight
 * into Kafka. Last, the batch side converts that raw lake into per-table Parquet with its
 * catalog (src/lake), as `fleetpipe lake convert` does. The directory is owned by the demo (a
 * marker file says so) and cleaned at the start of every run, because the broker's offsets restart
 * at 0 each time.
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

#include "cli/cli.h"
#include "cli/sig.h"
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

#define MARKER ".fleetpipe-demo"

extern const char fp_builtin_mosquitto_conf[], fp_builtin_mosquitto_acl[];

typedef struct demo_opts {
    char *dir, *anomaly_rate;
    int64_t vehicles, minutes, seed, tasks;
    bool no_mqtt;
} demo_opts;

static const fp_conf_def demo_flags[] = {
    {"dir", FP_CONF_STRING, "./fleetpipe-demo", offsetof(demo_opts, dir),
     "output directory (cleaned on every run; must be empty or an earlier demo's)", NULL, 0, 0},
    {"vehicles", FP_CONF_INT, "50", offsetof(demo_opts, vehicles), "vehicles", NULL, 1, 100000},
    {"minutes", FP_CONF_INT, "5", offsetof(demo_opts, minutes), "minutes of fleet time", NULL, 1,
     24 * 60},
    {"anomaly-rate", FP_CONF_STRING, "0.03", offsetof(demo_opts, anomaly_rate),
     "share of messages with an injected anomaly (the broken ones become dead letters)", NULL, 0,
     0},
    {"seed", FP_CONF_INT, "1", offsetof(demo_opts, seed), "simulator seed", NULL, 0, 0},
    {"no-mqtt", FP_CONF_BOOL, NULL, offsetof(demo_opts, no_mqtt),
     "skip mosquitto and the bridge: the fleet produces straight into Kafka", NULL, 0, 0},
    {"tasks", FP_CONF_INT, "2", offsetof(demo_opts, tasks), "connector tasks", NULL, 1, 64},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

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
static fp_code run_fleet(const demo_opts *o, const char *bs, int port, const char *mqdir,
                         fp_sim_summary *sum, fp_err *err)
{
    fp_sim_registry *reg = fp_sim_registry_load(NULL, err);
    if (!reg)
        return err->code;
    fp_sim_conf conf = {.reg = reg, .seed = (uint64_t)o->seed, .fleet_size = (uint32_t)o->vehicles};
    fp_time_parse_iso("2026-01-05T00:00:00Z", 20, &conf.start_ms, NULL); /* 09:00 local, Monday */
    conf.anomaly_rate = strtod(o->anomaly_rate, NULL);
    fp_sim_anomaly_parse("all", &conf.anomaly_mask, NULL);
    fp_sim_run_opts ro = {.conf = &conf,
                          .stop = fp_sig_token(),
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

/* Copies the dead-letter topic into <dir>/deadletters.jsonl so it outlives the broker. */
static long save_dead_letters(const char *bs, const char *dir)
{
    char es[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bs, es, sizeof es);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", es, sizeof es);
    rd_kafka_conf_set(conf, "group.id", "fleetpipe-demo-dlq", es, sizeof es);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!rk)
        return -1;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "fms.deadletter", NULL);
    long n = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1) {
        int np = md->topics[0].partition_cnt;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
        for (int i = 0; i < np; i++)
            rd_kafka_topic_partition_list_add(l, "fms.deadletter", i)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        fp_buf path = FP_BUF_INIT;
        fp_buf_printf(&path, "%s/deadletters.jsonl", dir);
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
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
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

static int run(const fp_cmd *cmd, void *opts)
{
    demo_opts *o = opts;
    fp_err err = {0};
    int rc = 0;
    fp_kafka_embedded *emb = NULL;
    fp_connect *c = NULL;
    int64_t t0 = fp_time_mono_ms();
    fp_sig_install();
    char *end;
    double rate = strtod(o->anomaly_rate, &end);
    if (end == o->anomaly_rate || *end || !(rate >= 0 && rate <= 1)) {
        fp_err_set(&err, FP_ERR_CONFIG, "--anomaly-rate %s: expected a number in 0..1",
                   o->anomaly_rate);
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    if (prepare_dir(o->dir, &err)) {
        rc = fp_cli_fail(cmd, &err);
        goto out;
    }
    char abs_dir[PATH_MAX];
    if (!realpath(o->dir, abs_dir)) {
        fprintf(stderr, "fleetpipe demo: %s: %s\n", o->dir, strerror(errno));
        rc = 1;
        goto out;
    }
    emb = fp_kafka_embedded_start(3, 6, &err);
    if (!emb) {
        fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    const char *bs = fp_kafka_embedded_bootstraps(emb);
    fp_log(FP_LOG_INFO, "demo", -1, "in-memory Kafka broker (3 brokers, 6 partitions) at %s", bs);

    /* The front door: mosquitto + bridge when mosquitto is installed. */
    fp_buf exe = FP_BUF_INIT, mqdir = FP_BUF_INIT;
    fp_buf_printf(&mqdir, "%s/mqtt", abs_dir);
    int port = 0;
    pid_t mq = -1;
    bridge_thread bt = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    fp_route_table *rules = NULL;
    bool bridge_started = false;
    char *bridge_pw = NULL;
    if (!o->no_mqtt && find_mosquitto(&exe)) {
        port = free_port();
        mq = start_mosquitto(exe.p, mqdir.p, (uint32_t)o->vehicles, port, &err);
        if (mq < 0) {
            fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
            rc = 1;
            goto front_done;
        }
        fp_log(FP_LOG_INFO, "demo", -1,
               "mosquitto (pid %d) on 127.0.0.1:%d with %s/mosquitto.conf: %lld device "
               "accounts, ACL",
               (int)mq, port, mqdir.p, (long long)o->vehicles);
        static const char *const objects[] = {"vehicle", "cargo", "blackbox", "device", NULL};
        rules = fp_route_load(NULL, objects, &err);
        fp_buf secret = FP_BUF_INIT;
        fp_buf_printf(&secret, "%s/bridge.secret", mqdir.p);
        bridge_pw = fp_sim_read_secret(secret.p, &err);
        fp_buf_free(&secret);
        if (!bridge_pw) {
            fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
            rc = 1;
            goto front_done;
        }
        bt.o = (fp_bridge_opts){
            .stop = fp_sig_token(),
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
            fprintf(stderr, "fleetpipe demo: bridge: %s\n", bt.err.msg);
            rc = 1;
            goto front_done;
        }
    } else {
        fp_log(FP_LOG_WARN, "demo", -1,
               "%s: the fleet produces straight into Kafka (no MQTT, no bridge)",
               o->no_mqtt ? "--no-mqtt"
                          : "mosquitto is not installed (scripts/setup.sh installs it)");
    }
    fp_sim_summary sum = {0};
    if (run_fleet(o, bs, port, mqdir.p, &sum, &err)) {
        fprintf(stderr, "fleetpipe demo: fleet: %s\n", err.msg);
        rc = 1;
    }
front_done:
    if (bridge_started) {
        pthread_join(bt.th, NULL); /* it stops once idle and everything is acknowledged */
        if (bt.rc && !rc) {
            fprintf(stderr, "fleetpipe demo: bridge: %s\n", bt.err.msg);
            rc = 1;
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
    if (rc) {
        free(sum.messages);
        free(sum.samples);
        goto out;
    }
    uint64_t injected = 0;
    for (int a = 1; a < FP_SIM_ANOM_COUNT; a++)
        injected += sum.anomalies[a];
    free(sum.messages);
    free(sum.samples);
    long produced = (long)sum.published;
    fp_log(FP_LOG_INFO, "demo", -1,
           "%" PRId64 " vehicles published %llu messages (%" PRId64 " minutes of fleet time, "
           "%llu anomalies)",
           o->vehicles, (unsigned long long)sum.published, o->minutes,
           (unsigned long long)injected);

    fp_connect_opts co = {bs, 1500, 1000, 0, false, NULL, fp_sig_token()};
    c = fp_connect_new(&co);
    if (add_connector(c, abs_dir, o->tasks, &err) || fp_connect_start(c, &err)) {
        fprintf(stderr, "fleetpipe demo: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    rc = fp_connect_wait(c);
    bool interrupted = fp_stop_requested(fp_sig_token()) && rc == 0;
    fp_connect_totals tot;
    fp_connect_totals_get(c, &tot);
    fp_stop_reset(fp_sig_token());
    long dl = save_dead_letters(bs, abs_dir);
    long objects = 0;
    fp_buf raw = FP_BUF_INIT;
    fp_buf_printf(&raw, "%s/raw", abs_dir);
    long lake = count_lines(raw.p, &objects);
    fp_buf_free(&raw);
    /* The batch side: the raw lake to per-table Parquet with its catalog (docs/lake.md). */
    fp_lake_counts lc = {0};
    fp_code lrc = interrupted ? FP_OK : demo_lake(abs_dir, &lc, &err);
    if (lrc)
        fprintf(stderr, "fleetpipe demo: lake: %s\n", err.msg);
    double secs = (double)(fp_time_mono_ms() - t0) / 1000.0;
    fprintf(stderr, "\nfleetpipe demo summary\n");
    fprintf(stderr, "  devices published     %llu messages, %llu with injected anomalies%s\n",
            (unsigned long long)sum.published, (unsigned long long)injected,
            port > 0 ? " (over MQTT, QoS 1, each device its own login)" : " (straight to Kafka)");
    if (port > 0)
        fprintf(stderr,
                "  bridge                %llu forwarded to fms.<object>, %llu dead-lettered "
                "(bad JSON, missing fields), %llu acknowledged\n",
                (unsigned long long)bt.st.forwarded, (unsigned long long)bt.st.dead_lettered,
                (unsigned long long)bt.st.acked);
    fprintf(stderr,
            "  connector consumed    %" PRIu64 " records\n"
            "  records in the lake   %ld (in %ld objects, %" PRIu64 " bytes written)\n"
            "  dead letters          %ld (read back from fms.deadletter)\n"
            "  reconciles            %s (published = lake + dead letters)\n"
            "  Parquet lake          %" PRId64 " rows in %" PRId64 " files (%" PRId64
            " bytes), %" PRId64 " rows failed; rows reconcile: %s\n"
            "  time taken            %.1f s\n\n"
            "Look at:\n"
            "  find %s/raw -name '*.jsonl' | sort | head      # raw/<topic>/dt=/hour=/ objects\n"
            "  head -c 600 $(find %s/raw -name '*.jsonl' | sort | head -1)\n"
            "  jq -c '{\"error.class\", \"error.message\", \"mqtt.topic\", \"source.topic\"}' "
            "%s/deadletters.jsonl | head\n"
            "  fleetpipe lake cat $(find %s/lake -name '*.parquet' | sort | head -1) | head -3\n"
            "  fleetpipe lake ddl --to %s/lake   # Athena and DuckDB DDL from the catalog\n",
            tot.in, lake, objects, tot.bytes, dl, lake + dl == produced ? "yes" : "NO",
            lc.rows_written, lc.files, lc.bytes, lc.rows_failed,
            !lrc && lc.rows_in == lc.rows_written + lc.rows_failed ? "yes" : "NO", secs, o->dir,
            o->dir, o->dir, o->dir, o->dir);
    if (port > 0)
        fprintf(stderr, "  %s/mqtt/mosquitto.conf (the broker's config; its log is next to it)\n",
                o->dir);
    if (interrupted)
        fprintf(stderr, "(interrupted: the lake holds what was durable when you stopped it)\n");
    if (!interrupted && (lake + dl != produced || lrc))
        rc = 1;
out:
    fp_connect_free(c);
    fp_kafka_embedded_stop(emb);
    return rc;
}

const fp_cmd fp_cmd_demo = {
    "demo",
    "simulated fleet -> mosquitto -> bridge -> Kafka -> raw lake -> Parquet lake, on a laptop, "
    "in seconds",
    "usage: fleetpipe demo [--dir ./fleetpipe-demo] [--vehicles 50] [--minutes 5] [--no-mqtt]\n\n"
    "Starts the in-memory Kafka broker in this process and mosquitto as a child process (with\n"
    "the built-in config/mosquitto: per-device passwords, ACL), runs the bridge, lets the\n"
    "simulated fleet publish a few minutes of telemetry over MQTT (with injected anomalies),\n"
    "and runs an objstore connector (all fms.* topics, uncompressed JSON lines, dead letters to\n"
    "fms.deadletter) into --dir, converts that raw lake to per-table Parquet with its catalog\n"
    "(fleetpipe lake convert), then prints a summary that reconciles every message and where\n"
    "to look. Without mosquitto installed (or with --no-mqtt) the fleet produces straight into\n"
    "Kafka. Re-runnable: --dir is cleaned on each run.",
    demo_flags,
    sizeof(demo_opts),
    run,
};
