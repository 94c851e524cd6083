/* plan.c — what `fleetpipe stack up` runs, decided once per start: where fleetpipe's config/
 * and the npm test servers are, which servers are installed, the ports (the directory's earlier
 * ones while they are free, so clients and files stay valid across restarts), the config files
 * the parts read (DIR/mqtt/mosquitto.conf and DIR/connectors/<name>.json: copies of config/ with
 * only the endpoints changed), the PostgreSQL cluster (made once with initdb), and the parts in
 * dependency order. A part whose program is missing is off, with the reason, and so is what
 * depends on it (docs/stack.md, "Parts").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"
#include "sim/provision.h"
#include "stack/stack.h"
#include "stack/stack_int.h"

#ifndef FP_SOURCE_DIR
#define FP_SOURCE_DIR ""
#endif

/* The connectors the stack's connect worker runs, each config/connectors/<name>.json. */
static const struct {
    const char *name;
    bool needs_redis, needs_dynamodb;
} connectors[] = {
    {"raw-lake", false, false},        {"raw-deadletter", false, false},
    {"dynamodb-samples", false, true}, {"dynamodb-samples-cargo", false, true},
    {"redis-live", true, false},       {"redis-live-cargo", true, false},
    {"agg-cargo-5m", false, false},    {"dynamodb-agg-5m", false, true},
    {"redis-agg-5m", true, false},
};

/* ---- small helpers ---- */

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *path_join(const char *a, const char *b)
{
    fp_buf x = FP_BUF_INIT;
    fp_buf_printf(&x, "%s/%s", a, b);
    return fp_buf_steal(&x);
}

static fp_code mkdirs(const char *path, mode_t mode, fp_err *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return fp_err_set(err, FP_ERR_IO, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return fp_err_set(err, FP_ERR_IO, "mkdir %s: %s", tmp, strerror(errno));
    return FP_OK;
}

fp_code fp_stack_write_file(const char *path, const char *text, fp_err *err)
{
    fp_buf tmp = FP_BUF_INIT;
    fp_buf_printf(&tmp, "%s.tmp", path);
    FILE *f = fopen(tmp.p, "w");
    fp_code rc = FP_OK;
    if (!f || fputs(text, f) == EOF || fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "%s: %s", tmp.p, strerror(errno));
    if (f && fclose(f) != 0 && !rc)
        rc = fp_err_set(err, FP_ERR_IO, "%s: %s", tmp.p, strerror(errno));
    if (!rc && rename(tmp.p, path) != 0)
        rc = fp_err_set(err, FP_ERR_IO, "rename %s: %s", path, strerror(errno));
    if (rc)
        unlink(tmp.p);
    fp_buf_free(&tmp);
    return rc;
}

static fp_code read_file(const char *path, fp_buf *out, fp_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_err_set(err, FP_ERR_CONFIG, "%s: %s", path, strerror(errno));
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fp_buf_append(out, chunk, n);
    fclose(f);
    fp_buf_reserve(out, 0);
    return FP_OK;
}

/* The program name in PATH, then the sbin directories Debian puts servers in. */
static char *find_program(const char *name)
{
    const char *path = getenv("PATH");
    fp_buf dirs = FP_BUF_INIT;
    fp_buf_printf(&dirs, "%s:/usr/sbin:/usr/local/sbin:/usr/bin:/sbin", path ? path : "");
    char *found = NULL;
    for (char *save = NULL, *d = strtok_r(dirs.p, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        char *p = path_join(d, name);
        if (access(p, X_OK) == 0 && is_file(p))
            found = p;
        else
            free(p);
    }
    fp_buf_free(&dirs);
    return found;
}

/* The newest /usr/lib/postgresql/<version>/bin that has initdb and postgres. */
static char *find_pg_bin(void)
{
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d)
        return NULL;
    long best = -1;
    char *found = NULL;
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        if (*end || end == de->d_name || v <= best)
            continue;
        fp_buf b = FP_BUF_INIT;
        fp_buf_printf(&b, "/usr/lib/postgresql/%s/bin/initdb", de->d_name);
        if (access(b.p, X_OK) == 0) {
            free(found);
            fp_buf_reset(&b);
            fp_buf_printf(&b, "/usr/lib/postgresql/%s/bin", de->d_name);
            found = fp_buf_steal(&b);
            best = v;
        }
        fp_buf_free(&b);
    }
    closedir(d);
    return found;
}

static bool home_ok(const char *h)
{
    if (!h || !h[0])
        return false;
    char *p = path_join(h, "config/connectors/raw-lake.json");
    bool ok = is_file(p);
    free(p);
    return ok;
}

/* --home, $FLEETPIPE_HOME, the source tree this binary was built from, <exe>/../share/fleetpipe */
static char *find_home(const char *given, const char *exe, fp_err *err)
{
    if (given && given[0]) {
        if (!home_ok(given)) {
            fp_err_set(err, FP_ERR_CONFIG, "--home %s: no config/connectors/raw-lake.json there",
                       given);
            return NULL;
        }
        return realpath(given, NULL);
    }
    const char *env = getenv("FLEETPIPE_HOME");
    if (home_ok(env))
        return realpath(env, NULL);
    if (home_ok(FP_SOURCE_DIR))
        return fp_xstrdup(FP_SOURCE_DIR);
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", exe);
    char *slash = strrchr(buf, '/');
    if (slash) {
        *slash = '\0';
        fp_buf b = FP_BUF_INIT;
        fp_buf_printf(&b, "%s/../share/fleetpipe", buf);
        if (home_ok(b.p)) {
            char *r = realpath(b.p, NULL);
            fp_buf_free(&b);
            return r;
        }
        fp_buf_free(&b);
    }
    fp_err_set(err, FP_ERR_CONFIG,
               "cannot find fleetpipe's config/ directory (the source tree or "
               "<prefix>/share/fleetpipe): give --home DIR or set FLEETPIPE_HOME");
    return NULL;
}

/* ---- ports ---- */

static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* as the servers bind: a port whose old connections linger in TIME_WAIT is free for them */
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* The directory's earlier port for name when it is free, else a free one below the ephemeral
 * range (32768-), so that a client's outgoing connection never holds a part's port when the part
 * restarts. */
static int port_for(fp_stack_plan *pl, json_t *prev_ports, const char *name)
{
    int port = (int)json_integer_value(json_object_get(prev_ports, name));
    if (port <= 0 || !port_free(port)) {
        unsigned seed = (unsigned)(fp_time_now_ms() ^ (getpid() << 8));
        for (int i = 0; i < 200; i++) {
            port = 20000 + (int)(rand_r(&seed) % 12000);
            bool taken = false;
            const char *k;
            json_t *v;
            json_object_foreach(pl->ports, k, v) taken = taken || json_integer_value(v) == port;
            if (!taken && port_free(port))
                break;
        }
    }
    json_object_set_new(pl->ports, name, json_integer(port));
    return port;
}

/* ---- parts ---- */

static fp_stack_part *add_part(fp_stack_plan *pl, const char *name, fp_stack_kind kind)
{
    pl->parts = fp_xrealloc(pl->parts, (pl->nparts + 1) * sizeof *pl->parts);
    fp_stack_part *p = &pl->parts[pl->nparts++];
    memset(p, 0, sizeof *p);
    p->name = fp_xstrdup(name);
    p->kind = kind;
    p->log = NULL;
    fp_buf b = FP_BUF_INIT;
    fp_buf_printf(&b, "%s/logs/%s.log", pl->dir, name);
    p->log = fp_buf_steal(&b);
    p->endpoints = json_object();
    p->stop_signal = SIGTERM;
    p->stop_timeout_ms = 20000;
    p->state = "pending";
    fp_backoff_init(&p->backoff, 500, 30000);
    return p;
}

static void arg(fp_stack_part *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(fp_stack_part *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fp_buf b = FP_BUF_INIT;
    fp_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    p->argv.v = fp_xrealloc(p->argv.v, (p->argv.n + 1) * sizeof *p->argv.v);
    p->argv.v[p->argv.n++] = fp_buf_steal(&b);
}

static void dep(fp_stack_part *p, const char *name)
{
    p->deps.v = fp_xrealloc(p->deps.v, (p->deps.n + 1) * sizeof *p->deps.v);
    p->deps.v[p->deps.n++] = fp_xstrdup(name);
}

static void probe(fp_stack_part *p, fp_stack_probe kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void probe(fp_stack_part *p, fp_stack_probe kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fp_buf b = FP_BUF_INIT;
    fp_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    p->probe.kind = kind;
    free(p->probe.url);
    p->probe.url = fp_buf_steal(&b);
}

static void endpoint(fp_stack_part *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void endpoint(fp_stack_part *p, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fp_buf b = FP_BUF_INIT;
    fp_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    json_object_set_new(p->endpoints, key, json_string(b.p));
    fp_buf_free(&b);
}

static void off(fp_stack_plan *pl, const char *part, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void off(fp_stack_plan *pl, const char *part, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fp_buf b = FP_BUF_INIT;
    fp_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    json_array_append_new(pl->off, json_pack("{s:s,s:s}", "part", part, "reason", b.p));
    fp_log(FP_LOG_WARN, "stack", -1, "%s is off: %s", part, b.p);
    fp_buf_free(&b);
}

fp_stack_part *fp_stack_plan_find(fp_stack_plan *pl, const char *name)
{
    for (size_t i = 0; i < pl->nparts; i++)
        if (!strcmp(pl->parts[i].name, name))
            return &pl->parts[i];
    return NULL;
}

/* ---- config files ---- */

/* config/mosquitto/mosquitto.conf with the edits the tests make: the listener, the password
 * and ACL files; as root it keeps root (mosquitto would switch to a user that may not reach
 * DIR). */
static fp_code write_mosquitto(fp_stack_plan *pl, const char *mqdir, int port, fp_err *err)
{
    fp_buf src = FP_BUF_INIT, out = FP_BUF_INIT;
    char *cpath = path_join(pl->home, "config/mosquitto/mosquitto.conf");
    char *apath = path_join(pl->home, "config/mosquitto/acl");
    fp_code rc = read_file(cpath, &src, err);
    for (const char *p = src.p; !rc && *p;) {
        size_t n = strcspn(p, "\n");
        if (!strncmp(p, "listener ", 9))
            fp_buf_printf(&out, "listener %d 127.0.0.1\n", port);
        else if (!strncmp(p, "password_file ", 14))
            fp_buf_printf(&out, "password_file %s/passwd\n", mqdir);
        else if (!strncmp(p, "acl_file ", 9))
            fp_buf_printf(&out, "acl_file %s/acl\n", mqdir);
        else {
            fp_buf_append(&out, p, n);
            fp_buf_putc(&out, '\n');
        }
        p += n + (p[n] == '\n');
    }
    if (!rc && geteuid() == 0)
        fp_buf_puts(&out, "user root\n");
    char *conf = path_join(mqdir, "mosquitto.conf"), *acl = path_join(mqdir, "acl");
    if (!rc)
        rc = fp_stack_write_file(conf, out.p, err);
    fp_buf_reset(&src);
    if (!rc)
        rc = read_file(apath, &src, err);
    if (!rc)
        rc = fp_stack_write_file(acl, src.p, err);
    if (!rc)
        chmod(conf, 0644), chmod(acl, 0644);
    free(conf);
    free(acl);
    free(cpath);
    free(apath);
    fp_buf_free(&src);
    fp_buf_free(&out);
    return rc;
}

/* DIR/connectors/<name>.json: config/connectors/<name>.json with the endpoint keys set. */
static fp_code write_connector(fp_stack_plan *pl, const char *name, json_t *set,
                               const char *const *drop, fp_err *err)
{
    fp_buf src = FP_BUF_INIT;
    fp_buf_printf(&src, "%s/config/connectors/%s.json", pl->home, name);
    json_error_t je;
    json_t *doc = json_load_file(src.p, 0, &je);
    if (!doc) {
        fp_code rc = fp_err_set(err, FP_ERR_CONFIG, "%s:%d: %s", src.p, je.line, je.text);
        fp_buf_free(&src);
        return rc;
    }
    json_t *cfg = json_object_get(doc, "config");
    if (!json_is_object(cfg))
        cfg = doc;
    json_object_update(cfg, set);
    for (size_t i = 0; drop && drop[i]; i++)
        json_object_del(cfg, drop[i]);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fp_buf dst = FP_BUF_INIT;
    fp_buf_printf(&dst, "%s/connectors/%s.json", pl->dir, name);
    fp_buf_reset(&src);
    fp_buf_printf(&src, "%s\n", text);
    fp_code rc = fp_stack_write_file(dst.p, src.p, err);
    free(text);
    json_decref(doc);
    fp_buf_free(&src);
    fp_buf_free(&dst);
    return rc;
}

static void remove_connector_files(const char *dir)
{
    char *cdir = path_join(dir, "connectors");
    DIR *d = opendir(cdir);
    for (struct dirent *de = d ? readdir(d) : NULL; de; de = readdir(d)) {
        size_t n = strlen(de->d_name);
        if (n > 5 && !strcmp(de->d_name + n - 5, ".json")) {
            char *f = path_join(cdir, de->d_name);
            unlink(f);
            free(f);
        }
    }
    if (d)
        closedir(d);
    free(cdir);
}

/* ---- PostgreSQL: made once with initdb, as an unprivileged user ---- */

/* As root, the server runs as the Debian `postgres` user (initdb refuses root), which must be
 * able to enter every directory above DIR/pg. */
static fp_code pg_user(fp_stack_plan *pl, fp_err *err)
{
    if (geteuid() != 0) {
        pl->pg_user = fp_xstrdup("");
        return FP_OK;
    }
    const char *name = getenv("FLEETPIPE_PG_USER") ? getenv("FLEETPIPE_PG_USER") : "postgres";
    struct passwd *pw = getpwnam(name);
    if (!pw)
        return fp_err_set(err, FP_ERR_CONFIG,
                          "running as root, PostgreSQL needs an unprivileged user (initdb refuses "
                          "root): no user %s (set FLEETPIPE_PG_USER)",
                          name);
    pl->pg_user = fp_xstrdup(name);
    pl->pg_uid = pw->pw_uid;
    pl->pg_gid = pw->pw_gid;
    /* DIR is the stack's own: let the server's user through; the directories above must be. */
    chmod(pl->dir, 0711);
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", pl->dir);
    for (char *s = strrchr(buf, '/'); s && s != buf; s = strrchr(buf, '/')) {
        *s = '\0';
        struct stat st;
        if (stat(buf, &st) == 0 && !(st.st_mode & S_IXOTH) && st.st_uid != pw->pw_uid)
            return fp_err_set(err, FP_ERR_CONFIG,
                              "PostgreSQL runs as user %s, which cannot enter %s (mode %04o): "
                              "choose a --dir it can reach, or chmod o+x %s",
                              name, buf, (unsigned)(st.st_mode & 07777), buf);
    }
    return FP_OK;
}

/* Runs argv (as the PostgreSQL user when pl says so) with its output appended to log; returns
 * its exit status, -1 when it could not run. */
static int run_as_pg(const fp_stack_plan *pl, char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (pl->pg_user[0] &&
            (setgroups(0, NULL) != 0 || setgid(pl->pg_gid) != 0 || setuid(pl->pg_uid) != 0)) {
            perror("dropping root for PostgreSQL");
            _exit(126);
        }
        execv(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static fp_code pg_cluster(fp_stack_plan *pl, const char *bin, const char *pgdir, fp_err *err)
{
    char *version = path_join(pgdir, "PG_VERSION");
    bool made = is_file(version);
    free(version);
    if (made)
        return FP_OK;
    fp_code rc = mkdirs(pgdir, 0700, err);
    if (rc)
        return rc;
    if (pl->pg_user[0] && chown(pgdir, pl->pg_uid, pl->pg_gid) != 0)
        return fp_err_set(err, FP_ERR_IO, "chown %s: %s", pgdir, strerror(errno));
    char *initdb = path_join(bin, "initdb");
    char *log = path_join(pl->dir, "logs/initdb.log");
    char *const argv[] = {initdb, "-D",   (char *)pgdir,      "-U", "fleet", "--auth=trust",
                          "-E",   "UTF8", "--locale=C.UTF-8", NULL};
    fp_log(FP_LOG_INFO, "stack", -1, "making the PostgreSQL cluster in %s (initdb%s%s)", pgdir,
           pl->pg_user[0] ? " as " : "", pl->pg_user);
    int st = run_as_pg(pl, argv, log);
    if (st != 0)
        rc = fp_err_set(err, FP_ERR_IO, "initdb exited %d: see %s", st, log);
    if (!rc) {
        char *conf = path_join(pgdir, "postgresql.conf");
        FILE *f = fopen(conf, "a");
        if (!f)
            rc = fp_err_set(err, FP_ERR_IO, "%s: %s", conf, strerror(errno));
        else {
            fputs("\n# fleetpipe stack: loopback TCP only, the port comes from the command line\n"
                  "listen_addresses = '127.0.0.1'\n"
                  "unix_socket_directories = ''\n"
                  "synchronous_commit = off\n"
                  "shared_buffers = 128MB\n"
                  "max_connections = 60\n"
                  "log_min_messages = warning\n",
                  f);
            fclose(f);
        }
        free(conf);
    }
    free(initdb);
    free(log);
    return rc;
}

/* ---- the plan ---- */

char *fp_stack_plan_bootstrap(const fp_stack_plan *pl)
{
    if (pl->bootstrap)
        return fp_xstrdup(pl->bootstrap);
    fp_buf b = FP_BUF_INIT;
    fp_err err = {0};
    if (read_file(pl->bootstrap_file, &b, &err) || !b.len) {
        fp_buf_free(&b);
        return NULL;
    }
    b.p[strcspn(b.p, "\r\n")] = '\0';
    return fp_buf_steal(&b);
}

static const char *prev_str(json_t *prev, const char *key)
{
    return json_string_value(json_object_get(prev, key));
}

fp_code fp_stack_plan_make(const fp_stack_opts *o, json_t *prev, fp_stack_plan *pl, fp_err *err)
{
    memset(pl, 0, sizeof *pl);
    pl->ports = json_object();
    pl->off = json_array();
    fp_code rc = mkdirs(o->dir, 0755, err);
    if (rc)
        return rc;
    pl->dir = realpath(o->dir, NULL);
    if (!pl->dir)
        return fp_err_set(err, FP_ERR_IO, "%s: %s", o->dir, strerror(errno));
    char exe[PATH_MAX];
    if (o->exe && o->exe[0]) {
        snprintf(exe, sizeof exe, "%s", o->exe);
    } else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return fp_err_set(err, FP_ERR_IO, "/proc/self/exe: %s", strerror(errno));
        exe[n] = '\0';
    }
    pl->exe = fp_xstrdup(exe);
    pl->home = find_home(o->home, exe, err);
    if (!pl->home)
        return err->code;
    const char *profile = o->profile && o->profile[0] ? o->profile : prev_str(prev, "profile");
    pl->profile = fp_xstrdup(profile ? profile : "full");
    if (strcmp(pl->profile, "full") && strcmp(pl->profile, "lite"))
        return fp_err_set(err, FP_ERR_CONFIG, "--profile %s: full or lite", pl->profile);
    bool lite = !strcmp(pl->profile, "lite");
    pl->vehicles =
        o->vehicles > 0 ? o->vehicles : json_integer_value(json_object_get(prev, "vehicles"));
    if (pl->vehicles <= 0)
        pl->vehicles = 1000;
    const char *ws = o->warehouse_start && o->warehouse_start[0]
                         ? o->warehouse_start
                         : prev_str(prev, "warehouse_start_date");
    if (ws) {
        pl->warehouse_start = fp_xstrdup(ws);
    } else {
        int y, m, d, h, mi, s;
        fp_time_utc(fp_time_now_ms(), &y, &m, &d, &h, &mi, &s);
        fp_buf b = FP_BUF_INIT;
        fp_buf_printf(&b, "%04d-%02d-%02d", y, m, d);
        pl->warehouse_start = fp_buf_steal(&b);
    }
    json_t *pp = json_object_get(prev, "ports");
    pl->epoch = (int)json_integer_value(json_object_get(json_object_get(prev, "kafka"), "epoch"));
    static const char *const subdirs[] = {"logs", "run", "state", "connectors", "data", NULL};
    for (int i = 0; subdirs[i]; i++) {
        char *d = path_join(pl->dir, subdirs[i]);
        rc = mkdirs(d, 0755, err);
        free(d);
        if (rc)
            return rc;
    }
    pl->bootstrap_file = path_join(pl->dir, "run/bootstrap");
    unlink(pl->bootstrap_file);

    /* What is installed. */
    char *mosquitto = find_program("mosquitto"), *redis = find_program("redis-server");
    char *pgbin = lite ? NULL : find_pg_bin(), *node = lite ? NULL : find_program("node");
    char *nm = NULL;
    if (node) {
        static const char *const where[] = {"tests/servers/node_modules", "servers/node_modules",
                                            NULL};
        for (int i = 0; where[i] && !nm; i++) {
            char *d = path_join(pl->home, where[i]), *s3 = path_join(d, "s3rver/bin/s3rver.js"),
                 *dl = path_join(d, "dynalite/cli.js");
            if (is_file(s3) && is_file(dl))
                nm = fp_xstrdup(d);
            free(d);
            free(s3);
            free(dl);
        }
    }
    const char *aws_why =
        lite    ? "profile lite"
        : !node ? "node is not installed (Debian package nodejs; scripts/setup.sh)"
        : !nm   ? "s3rver and dynalite are not installed (npm ci --prefix tests/servers in the "
                  "source tree)"
                : NULL;

    /* The parts, in dependency order. */
    fp_stack_part *p;
    char *mqdir = path_join(pl->dir, "mqtt");
    int mqtt_port = 0, redis_port = 0, pg_port = 0, s3_port = 0, ddb_port = 0;
    if (o->bootstrap && o->bootstrap[0]) {
        pl->bootstrap = fp_xstrdup(o->bootstrap);
    } else {
        p = add_part(pl, "broker", FP_STACK_FLEETPIPE);
        arg(p, "%s", pl->exe);
        arg(p, "broker");
        arg(p, "--brokers");
        arg(p, "1");
        arg(p, "--bootstrap-file");
        arg(p, "%s", pl->bootstrap_file);
        p->probe.kind = FP_STACK_PROBE_KAFKA; /* the target once its address is known */
    }
    if (mosquitto) {
        mqtt_port = port_for(pl, pp, "mqtt");
        char *secret = path_join(mqdir, "devices.secret");
        bool have = is_file(secret) &&
                    json_integer_value(json_object_get(prev, "vehicles")) == pl->vehicles;
        free(secret);
        if (!have)
            rc = fp_sim_provision(mqdir, 1, (uint32_t)pl->vehicles, err);
        if (!rc)
            rc = write_mosquitto(pl, mqdir, mqtt_port, err);
        if (rc)
            goto out;
        p = add_part(pl, "mosquitto", FP_STACK_SERVER);
        arg(p, "%s", mosquitto);
        arg(p, "-c");
        arg(p, "%s/mosquitto.conf", mqdir);
        endpoint(p, "mqtt", "mqtt://127.0.0.1:%d", mqtt_port);
        endpoint(p, "device_credentials", "%s/devices.secret", mqdir);
        endpoint(p, "bridge_password_file", "%s/bridge.secret", mqdir);
        endpoint(p, "api_password_file", "%s/api.secret", mqdir);
        probe(p, FP_STACK_PROBE_MQTT, "mqtt://127.0.0.1:%d", mqtt_port);
        p->probe.user = fp_xstrdup(FP_SIM_API_USER);
        p->probe.password_file = path_join(mqdir, "api.secret");
    } else {
        off(pl, "mosquitto",
            "mosquitto is not installed (Debian package mosquitto; scripts/setup.sh): no MQTT, "
            "no bridge, no device commands");
    }
    if (redis) {
        redis_port = port_for(pl, pp, "redis");
        char *rdir = path_join(pl->dir, "data/redis");
        rc = mkdirs(rdir, 0755, err);
        if (rc) {
            free(rdir);
            goto out;
        }
        p = add_part(pl, "redis", FP_STACK_SERVER);
        arg(p, "%s", redis);
        arg(p, "--port");
        arg(p, "%d", redis_port);
        arg(p, "--bind");
        arg(p, "127.0.0.1");
        arg(p, "--dir");
        arg(p, "%s", rdir);
        arg(p, "--appendonly");
        arg(p, "yes");
        arg(p, "--save");
        arg(p, "%s", "");
        arg(p, "--daemonize");
        arg(p, "no");
        endpoint(p, "redis", "redis://127.0.0.1:%d/0", redis_port);
        probe(p, FP_STACK_PROBE_REDIS, "redis://127.0.0.1:%d/0", redis_port);
        free(rdir);
    } else {
        off(pl, "redis",
            "redis-server is not installed (Debian package redis-server): no live state, no "
            "redis sinks, no Fleet API");
    }
    fp_buf pgurl = FP_BUF_INIT;
    if (pgbin) {
        rc = pg_user(pl, err);
        char *pgdir = path_join(pl->dir, "data/pg");
        if (!rc)
            rc = pg_cluster(pl, pgbin, pgdir, err);
        if (rc) {
            free(pgdir);
            goto out;
        }
        pg_port = port_for(pl, pp, "pg");
        p = add_part(pl, "postgres", FP_STACK_SERVER);
        arg(p, "%s/postgres", pgbin);
        arg(p, "-D");
        arg(p, "%s", pgdir);
        arg(p, "-p");
        arg(p, "%d", pg_port);
        p->as_pg_user = pl->pg_user[0] != '\0';
        p->stop_signal = SIGINT; /* fast shutdown: SIGTERM waits for every client to leave */
        p->stop_timeout_ms = 60000;
        fp_buf_printf(&pgurl, "postgresql://fleet@127.0.0.1:%d/fleet", pg_port);
        endpoint(p, "pg", "%s", pgurl.p);
        probe(p, FP_STACK_PROBE_PG, "postgresql://fleet@127.0.0.1:%d/postgres?connect_timeout=3",
              pg_port);
        free(pgdir);
        p = add_part(pl, "warehouse-init", FP_STACK_JOB);
        arg(p, "%s", pl->exe);
        arg(p, "warehouse");
        arg(p, "init");
        arg(p, "--pg");
        arg(p, "%s", pgurl.p);
        arg(p, "--mart-schema");
        arg(p, "%s/config/warehouse/sql/schema.sql", pl->home);
        dep(p, "postgres");
    } else {
        off(pl, "postgres",
            lite ? "profile lite: no warehouse, no marts, no checks"
                 : "PostgreSQL is not installed (Debian package postgresql; scripts/setup.sh): no "
                   "warehouse, no marts, no checks");
    }
    const char *s3ep = NULL;
    fp_buf s3url = FP_BUF_INIT, ddburl = FP_BUF_INIT;
    if (!aws_why) {
        s3_port = port_for(pl, pp, "s3");
        ddb_port = port_for(pl, pp, "dynamodb");
        char *s3dir = path_join(pl->dir, "data/s3"), *ddir = path_join(pl->dir, "data/dynalite");
        rc = mkdirs(s3dir, 0755, err);
        if (!rc)
            rc = mkdirs(ddir, 0755, err);
        p = add_part(pl, "s3rver", FP_STACK_SERVER);
        arg(p, "%s", node);
        /* s3rver makes ListObjectsV2 continuation tokens with DES, which Node's OpenSSL 3 only
         * has in its legacy provider (tests/integration/lib/aws.bash) */
        arg(p, "--openssl-legacy-provider");
        arg(p, "%s/s3rver/bin/s3rver.js", nm);
        arg(p, "-d");
        arg(p, "%s", s3dir);
        arg(p, "-a");
        arg(p, "127.0.0.1");
        arg(p, "-p");
        arg(p, "%d", s3_port);
        arg(p, "--silent");
        arg(p, "--configure-bucket");
        arg(p, "fleet-raw");
        arg(p, "--configure-bucket");
        arg(p, "fleet-lake");
        fp_buf_printf(&s3url, "http://127.0.0.1:%d", s3_port);
        s3ep = s3url.p;
        endpoint(p, "s3", "%s", s3url.p);
        endpoint(p, "data", "%s", s3dir);
        probe(p, FP_STACK_PROBE_HTTP, "%s/", s3url.p);
        p = add_part(pl, "dynalite", FP_STACK_SERVER);
        arg(p, "%s", node);
        arg(p, "%s/dynalite/cli.js", nm);
        arg(p, "--host");
        arg(p, "127.0.0.1");
        arg(p, "--port");
        arg(p, "%d", ddb_port);
        arg(p, "--path");
        arg(p, "%s", ddir);
        arg(p, "--createTableMs");
        arg(p, "0");
        fp_buf_printf(&ddburl, "http://127.0.0.1:%d", ddb_port);
        endpoint(p, "dynamodb", "%s", ddburl.p);
        probe(p, FP_STACK_PROBE_HTTP, "%s/", ddburl.p);
        p = add_part(pl, "dynamodb-table", FP_STACK_JOB);
        arg(p, "%s", pl->exe);
        arg(p, "dynamodb");
        arg(p, "create-table");
        arg(p, "--table");
        arg(p, "fms");
        arg(p, "--endpoint");
        arg(p, "%s", ddburl.p);
        dep(p, "dynalite");
        free(s3dir);
        free(ddir);
        if (rc)
            goto out;
        /* The local stand-ins take any key; real credentials must never go to them. */
        setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
        setenv("AWS_REGION", "us-east-1", 1);
        unsetenv("AWS_SESSION_TOKEN");
        unsetenv("AWS_PROFILE");
    } else {
        off(pl, "s3rver",
            "%s: the raw and Parquet lakes go to directories under DIR/data instead of S3",
            aws_why);
        off(pl, "dynalite",
            "%s: the DynamoDB sinks (dynamodb-samples, dynamodb-agg-5m) are off, the Fleet API's "
            "tracks and aggregates answer 503",
            aws_why);
    }
    fp_buf raw = FP_BUF_INIT, lake = FP_BUF_INIT;
    if (s3ep) {
        fp_buf_puts(&raw, "s3://fleet-raw");
        fp_buf_puts(&lake, "s3://fleet-lake/lake");
    } else {
        fp_buf_printf(&raw, "file://%s/data/raw", pl->dir);
        fp_buf_printf(&lake, "file://%s/data/lake", pl->dir);
    }

    /* The connectors: copies of config/connectors with this stack's endpoints. */
    int connect_port = port_for(pl, pp, "connect");
    p = add_part(pl, "connect", FP_STACK_FLEETPIPE);
    arg(p, "%s", pl->exe);
    arg(p, "connect");
    arg(p, "--bootstrap-servers");
    arg(p, "{bootstrap}");
    arg(p, "--rest-listen");
    arg(p, "127.0.0.1:%d", connect_port);
    arg(p, "--worker-id");
    arg(p, "stack-connect");
    arg(p, "--status-interval");
    arg(p, "60s");
    p->kafka_client = true;
    if (!pl->bootstrap)
        dep(p, "broker");
    json_t *files = json_array();
    remove_connector_files(pl->dir); /* an earlier start's set may have been another profile's */
    for (size_t i = 0; i < sizeof connectors / sizeof connectors[0]; i++) {
        const char *name = connectors[i].name;
        if (connectors[i].needs_redis && !redis_port)
            continue;
        if (connectors[i].needs_dynamodb && !ddb_port)
            continue;
        json_t *set = json_object();
        static const char *const drop_s3[] = {"s3.region", "s3.endpoint", NULL};
        const char *const *drop = NULL;
        if (!strncmp(name, "raw-", 4)) {
            json_object_set_new(set, "store.url", json_string(raw.p));
            if (s3ep)
                json_object_set_new(set, "s3.endpoint", json_string(s3ep));
            else
                drop = drop_s3;
        }
        if (connectors[i].needs_redis) {
            fp_buf u = FP_BUF_INIT;
            fp_buf_printf(&u, "redis://127.0.0.1:%d/0", redis_port);
            json_object_set_new(set, "redis.url", json_string(u.p));
            fp_buf_free(&u);
        }
        if (connectors[i].needs_dynamodb)
            json_object_set_new(set, "aws.dynamodb.endpoint", json_string(ddburl.p));
        rc = write_connector(pl, name, set, drop, err);
        json_decref(set);
        if (rc) {
            json_decref(files);
            goto out_bufs;
        }
        arg(p, "--connector");
        arg(p, "%s/connectors/%s.json", pl->dir, name);
        fp_buf f = FP_BUF_INIT;
        fp_buf_printf(&f, "%s/connectors/%s.json", pl->dir, name);
        json_array_append_new(files, json_pack("{s:s,s:s}", "name", name, "file", f.p));
        fp_buf_free(&f);
    }
    if (redis_port)
        dep(p, "redis");
    if (s3ep) {
        dep(p, "s3rver");
        dep(p, "dynamodb-table");
    }
    endpoint(p, "rest", "http://127.0.0.1:%d", connect_port);
    json_object_set_new(p->endpoints, "connectors", files);
    endpoint(p, "raw_lake", "%s", raw.p);
    probe(p, FP_STACK_PROBE_HEALTHZ, "http://127.0.0.1:%d/healthz", connect_port);

    int lake_port = port_for(pl, pp, "lake-watch");
    p = add_part(pl, "lake-watch", FP_STACK_FLEETPIPE);
    arg(p, "%s", pl->exe);
    arg(p, "lake");
    arg(p, "watch");
    arg(p, "--from");
    arg(p, "%s", raw.p);
    arg(p, "--to");
    arg(p, "%s", lake.p);
    arg(p, "--bootstrap-servers");
    arg(p, "{bootstrap}");
    arg(p, "--topic");
    arg(p, "fleetpipe.lake.events");
    arg(p, "--group");
    arg(p, "fleetpipe-lake");
    arg(p, "--worker-id");
    arg(p, "stack-lake");
    arg(p, "--status-interval");
    arg(p, "60s");
    arg(p, "--metrics-listen");
    arg(p, "127.0.0.1:%d", lake_port);
    if (s3ep) {
        arg(p, "--s3-endpoint");
        arg(p, "%s", s3ep);
        arg(p, "--s3-region");
        arg(p, "us-east-1");
        dep(p, "s3rver");
    }
    p->kafka_client = true;
    if (!pl->bootstrap)
        dep(p, "broker");
    endpoint(p, "metrics", "http://127.0.0.1:%d/metrics", lake_port);
    endpoint(p, "lake", "%s", lake.p);
    probe(p, FP_STACK_PROBE_HEALTHZ, "http://127.0.0.1:%d/healthz", lake_port);

    int bridge_port = 0;
    if (mqtt_port) {
        bridge_port = port_for(pl, pp, "bridge");
        p = add_part(pl, "bridge", FP_STACK_FLEETPIPE);
        arg(p, "%s", pl->exe);
        arg(p, "bridge");
        arg(p, "--mqtt");
        arg(p, "mqtt://127.0.0.1:%d", mqtt_port);
        arg(p, "--bootstrap-servers");
        arg(p, "{bootstrap}");
        arg(p, "--mqtt-username");
        arg(p, FP_SIM_BRIDGE_USER);
        arg(p, "--mqtt-password-file");
        arg(p, "%s/bridge.secret", mqdir);
        /* one bridge: a plain persistent subscription, which survives a mosquitto restart */
        arg(p, "--group");
        arg(p, "%s", "");
        arg(p, "--client-id");
        arg(p, "fleetpipe-stack-bridge");
        arg(p, "--status-interval");
        arg(p, "60s");
        arg(p, "--metrics-listen");
        arg(p, "127.0.0.1:%d", bridge_port);
        p->kafka_client = true;
        if (!pl->bootstrap)
            dep(p, "broker");
        dep(p, "mosquitto");
        dep(p, "connect");
        endpoint(p, "metrics", "http://127.0.0.1:%d/metrics", bridge_port);
        probe(p, FP_STACK_PROBE_HEALTHZ, "http://127.0.0.1:%d/healthz", bridge_port);
    }

    if (pg_port) {
        int wport = port_for(pl, pp, "scheduler");
        p = add_part(pl, "scheduler", FP_STACK_FLEETPIPE);
        arg(p, "%s", pl->exe);
        arg(p, "warehouse");
        arg(p, "scheduler");
        arg(p, "--pg");
        arg(p, "%s", pgurl.p);
        arg(p, "--pipeline");
        arg(p, "%s/config/warehouse/pipeline.json", pl->home);
        arg(p, "--lake");
        arg(p, "%s", lake.p);
        if (s3ep) {
            arg(p, "--s3-endpoint");
            arg(p, "%s", s3ep);
            arg(p, "--s3-region");
            arg(p, "us-east-1");
        }
        arg(p, "--start-date");
        arg(p, "%s", pl->warehouse_start);
        arg(p, "--metrics-listen");
        arg(p, "127.0.0.1:%d", wport);
        dep(p, "warehouse-init");
        endpoint(p, "metrics", "http://127.0.0.1:%d/metrics", wport);
        endpoint(p, "pipeline", "%s/config/warehouse/pipeline.json", pl->home);
        endpoint(p, "checks", "%s/config/checks", pl->home);
        probe(p, FP_STACK_PROBE_HEALTHZ, "http://127.0.0.1:%d/healthz", wport);
    }

    if (redis_port) {
        int sport = port_for(pl, pp, "serve");
        p = add_part(pl, "serve", FP_STACK_FLEETPIPE);
        arg(p, "%s", pl->exe);
        arg(p, "serve");
        arg(p, "--listen");
        arg(p, "127.0.0.1:%d", sport);
        arg(p, "--ready-file");
        arg(p, "%s/run/serve.ready", pl->dir);
        arg(p, "--redis");
        arg(p, "redis://127.0.0.1:%d/0", redis_port);
        arg(p, "--bootstrap-servers");
        arg(p, "{bootstrap}");
        arg(p, "--connect");
        arg(p, "http://127.0.0.1:%d", connect_port);
        /* the other parts' counters, for the console's pipeline page */
        fp_buf sm = FP_BUF_INIT;
        fp_buf_printf(&sm, "lake-watch=http://127.0.0.1:%d/metrics", lake_port);
        if (bridge_port)
            fp_buf_printf(&sm, ",bridge=http://127.0.0.1:%d/metrics", bridge_port);
        if (json_object_get(pl->ports, "scheduler"))
            fp_buf_printf(&sm, ",scheduler=http://127.0.0.1:%d/metrics",
                          (int)json_integer_value(json_object_get(pl->ports, "scheduler")));
        arg(p, "--stage-metrics");
        arg(p, "%s", sm.p);
        fp_buf_free(&sm);
        dep(p, "redis");
        dep(p, "connect");
        if (ddb_port) {
            arg(p, "--dynamodb-endpoint");
            arg(p, "%s", ddburl.p);
            arg(p, "--dynamodb-table");
            arg(p, "fms");
            dep(p, "dynamodb-table");
        }
        if (pg_port) {
            arg(p, "--pg");
            arg(p, "%s", pgurl.p);
            dep(p, "warehouse-init");
        }
        if (mqtt_port) {
            arg(p, "--mqtt");
            arg(p, "mqtt://127.0.0.1:%d", mqtt_port);
            arg(p, "--mqtt-password-file");
            arg(p, "%s/api.secret", mqdir);
            dep(p, "mosquitto");
        }
        p->kafka_client = true;
        if (!pl->bootstrap)
            dep(p, "broker");
        fp_buf c = FP_BUF_INIT;
        fp_buf_printf(&c, "http://127.0.0.1:%d/", sport);
        pl->console = fp_buf_steal(&c);
        endpoint(p, "console", "%s", pl->console);
        endpoint(p, "api", "http://127.0.0.1:%d/api/v1", sport);
        endpoint(p, "metrics", "http://127.0.0.1:%d/metrics", sport);
        probe(p, FP_STACK_PROBE_HEALTHZ, "http://127.0.0.1:%d/healthz", sport);
    } else {
        off(pl, "serve", "needs redis-server (the live state it serves)");
    }
out_bufs:
    fp_buf_free(&raw);
    fp_buf_free(&lake);
    fp_buf_free(&s3url);
    fp_buf_free(&ddburl);
    fp_buf_free(&pgurl);
out:
    free(mqdir);
    free(mosquitto);
    free(redis);
    free(pgbin);
    free(node);
    free(nm);
    return rc;
}

void fp_stack_plan_free(fp_stack_plan *pl)
{
    for (size_t i = 0; i < pl->nparts; i++) {
        fp_stack_part *p = &pl->parts[i];
        free(p->name);
        fp_strv_free(&p->argv);
        fp_strv_free(&p->deps);
        free(p->log);
        json_decref(p->endpoints);
        free(p->probe.url);
        free(p->probe.user);
        free(p->probe.password_file);
    }
    free(pl->parts);
    free(pl->dir);
    free(pl->home);
    free(pl->exe);
    free(pl->profile);
    free(pl->warehouse_start);
    free(pl->bootstrap);
    free(pl->bootstrap_file);
    free(pl->console);
    free(pl->pg_user);
    json_decref(pl->ports);
    json_decref(pl->off);
    memset(pl, 0, sizeof *pl);
}
