/* super.c — the stack's supervisor, and the calls other processes make on a running stack.
 *
 * The supervisor is one thread in one process (`fleetpipe stack up --foreground`): it forks and
 * execs every part of the plan (plan.c) in its own process group with its output appended to
 * DIR/logs/<part>.log, starts them in dependency order (a part starts once the parts it depends
 * on answered their probe; a job must exit 0), then polls: a part that exited is restarted after
 * an exponential backoff with jitter (core/backoff.h: 0.5 s doubling to 30 s, back to 0.5 s
 * after a minute of running), counted in its "restarts". The dev broker comes back empty on new
 * ports, so its Kafka clients are restarted with it, after its offsets were continued
 * (offsets.c). On a stop it stops the parts in reverse order: the part's stop signal, a bounded
 * wait, then SIGKILL of its process group, each result recorded. Every change is written to
 * DIR/stack.json atomically; DIR/run/lock (flock) keeps a second supervisor out. Children get
 * PR_SET_PDEATHSIG, so a supervisor that is killed takes its parts with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"
#include "pg/pg.h"
#include "stack/stack.h"
#include "stack/stack_int.h"

#define POLL_MS 100
#define RESET_AFTER_MS 60000 /* a part that ran this long starts its backoff again from 0.5 s */
#define OFFSETS_EVERY_MS 2000

typedef struct sup {
    const fp_stack_opts *o;
    fp_stack_plan pl;
    char *json_path, *offsets_path, *log_path;
    const char *state;
    char error[1024];
    int64_t ready_timeout_ms, last_offsets_ms;
} sup;

/* ---- processes ---- */

uint64_t fp_stack_pid_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
    if (!p)
        return 0;
    /* after ") ": field 3 (state) ... field 22 (starttime) */
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (p[-1] == ' ' && (p[0] == 'Z' || p[0] == 'X'))
        return 0;
    return strtoull(p, NULL, 10);
}

bool fp_stack_pid_is(pid_t pid, uint64_t starttime)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return false;
    char path[64], st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) { /* a zombie is not alive */
        char buf[512];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        st = p && p[1] ? p[2] : 0;
        fclose(f);
    }
    if (st == 'Z' || st == 'X')
        return false;
    return !starttime || fp_stack_pid_starttime(pid) == starttime;
}

static void describe_status(int status, char *out, size_t n)
{
    if (WIFEXITED(status))
        snprintf(out, n, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, n, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, n, "status %d", status);
}

static void iso_now(fp_buf *b)
{
    fp_time_format_iso(fp_time_now_ms(), b);
}

/* ---- stack.json ---- */

json_t *fp_stack_part_json(const fp_stack_part *p)
{
    static const char *const kinds[] = {"fleetpipe", "server", "job"};
    json_t *deps = json_array(), *cmd = json_array();
    for (size_t i = 0; i < p->deps.n; i++)
        json_array_append_new(deps, json_string(p->deps.v[i]));
    for (size_t i = 0; i < p->argv.n; i++)
        json_array_append_new(cmd, json_string(p->argv.v[i]));
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:i,s:O,s:o,s:o,s:o}", "name", p->name, "kind",
                          kinds[p->kind], "state", p->state, "pid", (json_int_t)p->pid, "starttime",
                          (json_int_t)p->starttime, "log", p->log, "restarts", p->restarts,
                          "endpoints", p->endpoints, "probe", fp_stack_probe_to_json(&p->probe),
                          "depends_on", deps, "command", cmd);
    if (p->last_exit[0])
        json_object_set_new(j, "last_exit", json_string(p->last_exit));
    if (p->stop_result[0])
        json_object_set_new(j, "stop",
                            json_pack("{s:s,s:f,s:I}", "result", p->stop_result, "seconds",
                                      p->stop_seconds, "pid", (json_int_t)p->stopped_pid));
    return j;
}

static void save_json(sup *s)
{
    fp_stack_plan *pl = &s->pl;
    json_t *parts = json_array();
    for (size_t i = 0; i < pl->nparts; i++)
        json_array_append_new(parts, fp_stack_part_json(&pl->parts[i]));
    char *bs = fp_stack_plan_bootstrap(pl);
    fp_buf now = FP_BUF_INIT;
    iso_now(&now);
    json_t *j =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:{s:I,s:I,s:s},s:{s:s?,s:b,s:i},s:O,s:O,s:o}",
                  "format", 1, "dir", pl->dir, "state", s->state, "updated_at", now.p, "profile",
                  pl->profile, "home", pl->home, "vehicles", (json_int_t)pl->vehicles,
                  "warehouse_start_date", pl->warehouse_start, "supervisor", "pid",
                  (json_int_t)getpid(), "starttime", (json_int_t)fp_stack_pid_starttime(getpid()),
                  "log", s->log_path, "kafka", "bootstrap", bs, "dev_broker", pl->bootstrap == NULL,
                  "epoch", pl->epoch, "ports", pl->ports, "off", pl->off, "parts", parts);
    if (pl->console) {
        json_object_set_new(j, "console", json_string(pl->console));
        fp_stack_part *sv = fp_stack_plan_find(pl, "serve");
        if (sv)
            json_object_set(j, "api", json_object_get(sv->endpoints, "api"));
    }
    if (s->error[0])
        json_object_set_new(j, "error", json_string(s->error));
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fp_buf t = FP_BUF_INIT;
    fp_buf_printf(&t, "%s\n", text);
    fp_err err = {0};
    if (fp_stack_write_file(s->json_path, t.p, &err))
        fp_log(FP_LOG_ERROR, "stack", -1, "%s", err.msg);
    fp_buf_free(&t);
    free(text);
    json_decref(j);
    free(bs);
    fp_buf_free(&now);
}

/* ---- starting a part ---- */

static fp_code spawn(sup *s, fp_stack_part *p, fp_err *err)
{
    char *bs = fp_stack_plan_bootstrap(&s->pl);
    char **argv = fp_xcalloc(p->argv.n + 1, sizeof *argv);
    for (size_t i = 0; i < p->argv.n; i++) {
        if (!strcmp(p->argv.v[i], "{bootstrap}")) {
            if (!bs) {
                free(argv);
                return fp_err_set(err, FP_ERR_KAFKA, "%s: the dev broker has no address yet",
                                  p->name);
            }
            argv[i] = bs;
        } else {
            argv[i] = p->argv.v[i];
        }
    }
    int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(argv);
        free(bs);
        return fp_err_set(err, FP_ERR_IO, "%s: %s", p->log, strerror(errno));
    }
    fp_buf head = FP_BUF_INIT;
    fp_buf_puts(&head, "---- fleetpipe stack: ");
    iso_now(&head);
    fp_buf_printf(&head, " start %d of %s:", p->restarts + 1, p->name);
    for (size_t i = 0; argv[i]; i++)
        fp_buf_printf(&head, " %s", argv[i][0] ? argv[i] : "''");
    fp_buf_putc(&head, '\n');
    if (write(fd, head.p, head.len) < 0) {
        /* the log is best effort; the part still starts */
    }
    fp_buf_free(&head);
    if (p->as_pg_user && s->pl.pg_user[0]) /* the server's user must write its log */
        if (fchown(fd, s->pl.pg_uid, s->pl.pg_gid) != 0) {
            /* it keeps writing through the inherited descriptor anyway */
        }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* a terminal's Ctrl-C reaches the supervisor only; it stops the parts */
        dup2(fd, 1);
        dup2(fd, 2);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0 && null != 0) {
            dup2(null, 0);
            close(null);
        }
        if (p->as_pg_user && s->pl.pg_user[0] &&
            (setgroups(0, NULL) != 0 || setgid(s->pl.pg_gid) != 0 || setuid(s->pl.pg_uid) != 0)) {
            perror("fleetpipe stack: dropping root for PostgreSQL");
            _exit(126);
        }
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* after setuid, which clears it */
        if (getppid() != parent)
            _exit(125);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        closefrom(3);
        execv(argv[0], argv);
        fprintf(stderr, "fleetpipe stack: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    free(argv);
    free(bs);
    if (pid < 0)
        return fp_err_set(err, FP_ERR_IO, "fork for %s: %s", p->name, strerror(errno));
    p->pid = pid;
    p->starttime = fp_stack_pid_starttime(pid);
    p->state = "starting";
    p->healthy_once = false;
    p->started_mono = fp_time_mono_ms();
    fp_log(FP_LOG_INFO, "stack", -1, "%s started (pid %d), log %s", p->name, (int)pid, p->log);
    return FP_OK;
}

static bool deps_ready(sup *s, const fp_stack_part *p)
{
    for (size_t i = 0; i < p->deps.n; i++) {
        fp_stack_part *d = fp_stack_plan_find(&s->pl, p->deps.v[i]);
        if (d && strcmp(d->state, "running") && strcmp(d->state, "done"))
            return false;
    }
    return true;
}

static fp_stack_part *find_pid(sup *s, pid_t pid)
{
    for (size_t i = 0; i < s->pl.nparts; i++)
        if (s->pl.parts[i].pid == pid)
            return &s->pl.parts[i];
    return NULL;
}

/* The connector groups to continue on a fresh dev broker: connect-<name> of each connector. */
static void connector_groups(sup *s, fp_strv *groups)
{
    fp_stack_part *c = fp_stack_plan_find(&s->pl, "connect");
    json_t *files = c ? json_object_get(c->endpoints, "connectors") : NULL;
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        fp_buf g = FP_BUF_INIT;
        fp_buf_printf(&g, "connect-%s", json_string_value(json_object_get(f, "name")));
        groups->v = fp_xrealloc(groups->v, (groups->n + 1) * sizeof *groups->v);
        groups->v[groups->n++] = fp_buf_steal(&g);
    }
}

/* The part answered its probe: running. The dev broker: its address, and its offsets. */
static fp_code became_healthy(sup *s, fp_stack_part *p, fp_err *err)
{
    if (!strcmp(p->name, "broker")) {
        char *bs = fp_stack_plan_bootstrap(&s->pl);
        json_object_set_new(p->endpoints, "kafka", json_string(bs ? bs : ""));
        s->pl.epoch++;
        fp_strv groups = {0};
        connector_groups(s, &groups);
        int64_t padded = 0;
        fp_code rc = fp_stack_offsets_continue(bs, s->offsets_path, &groups, &padded, err);
        fp_strv_free(&groups);
        free(bs);
        if (rc)
            return fp_err_prefix(err, "continuing the dev broker's offsets");
        json_object_set_new(p->endpoints, "padding_records", json_integer(padded));
    }
    p->healthy_once = true;
    p->state = "running";
    fp_log(FP_LOG_INFO, "stack", -1, "%s is up (pid %d)", p->name, (int)p->pid);
    return FP_OK;
}

/* Whether p answers now; fills the broker's probe target from its bootstrap file first. */
static bool probe_now(sup *s, fp_stack_part *p, fp_buf *reason)
{
    if (!strcmp(p->name, "broker")) {
        free(p->probe.url);
        p->probe.url = fp_stack_plan_bootstrap(&s->pl);
        if (!p->probe.url) {
            fp_buf_puts(reason, "no bootstrap file yet");
            return false;
        }
    }
    return fp_stack_probe_run(&p->probe, reason);
}

/* PostgreSQL's database "fleet", made once (the cluster's own database is postgres). */
static fp_code create_database(sup *s, fp_err *err)
{
    fp_stack_part *pg = fp_stack_plan_find(&s->pl, "postgres");
    fp_pg *c = NULL;
    fp_code rc = fp_pg_connect(pg->probe.url, "fleetpipe stack", &c, err);
    int64_t n = 0;
    if (!rc)
        rc = fp_pg_query_int(c, "SELECT count(*) FROM pg_database WHERE datname = 'fleet'", 0, NULL,
                             &n, err);
    if (!rc && n == 0)
        rc = fp_pg_exec(c, "CREATE DATABASE fleet", err);
    fp_pg_free(c);
    return rc ? fp_err_prefix(err, "creating database fleet") : FP_OK;
}

static void reap(sup *s, pid_t pid, int status)
{
    fp_stack_part *p = find_pid(s, pid);
    if (!p)
        return;
    describe_status(status, p->last_exit, sizeof p->last_exit);
    p->pid = 0;
    p->starttime = 0;
    int64_t now = fp_time_mono_ms();
    if (p->kind == FP_STACK_JOB) {
        p->state = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "done" : "failed";
        return;
    }
    if (!strcmp(p->state, "stopping")) {
        p->state = "stopped";
        return;
    }
    if (now - p->started_mono > RESET_AFTER_MS)
        fp_backoff_reset(&p->backoff);
    int64_t delay = fp_backoff_next(&p->backoff);
    p->next_start_mono = now + delay;
    p->state = "backoff";
    fp_log(FP_LOG_WARN, "stack", -1, "%s (pid %d) ended: %s; restarting in %.1f s", p->name,
           (int)pid, p->last_exit, (double)delay / 1000.0);
    if (!strcmp(p->name, "broker")) {
        /* Its clients hold the old address: restart them once it is back. */
        for (size_t i = 0; i < s->pl.nparts; i++) {
            fp_stack_part *c = &s->pl.parts[i];
            if (c->kafka_client && c->pid > 0) {
                fp_log(FP_LOG_INFO, "stack", -1, "restarting %s with the new dev broker", c->name);
                kill(c->pid, SIGTERM);
            }
        }
    }
}

static void reap_all(sup *s)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        reap(s, pid, status);
}

/* Starts p and waits until it answers its probe (a job: until it exits 0). A part that dies
 * meanwhile is started again with backoff until the deadline. */
static fp_code start_one(sup *s, fp_stack_part *p, fp_err *err)
{
    int64_t deadline = fp_time_mono_ms() + s->ready_timeout_ms;
    fp_buf why = FP_BUF_INIT;
    fp_code rc = FP_OK;
    if (!strcmp(p->name, "warehouse-init"))
        for (int i = 0; (rc = create_database(s, err)) && i < 20; i++) /* a fresh cluster */
            fp_stop_sleep_ms(s->o->stop, 500);
    if (!rc)
        rc = spawn(s, p, err);
    while (!rc) {
        if (fp_stop_requested(s->o->stop)) {
            rc = fp_err_set(err, FP_ERR_IO, "stopped while %s was starting", p->name);
            break;
        }
        reap_all(s);
        if (p->kind == FP_STACK_JOB && !strcmp(p->state, "done"))
            break;
        if (!strcmp(p->state, "backoff") || !strcmp(p->state, "failed")) {
            if (fp_time_mono_ms() > deadline) {
                rc = fp_err_set(err, FP_ERR_IO, "%s did not start (%s): see %s", p->name,
                                p->last_exit, p->log);
                break;
            }
            fp_stop_sleep_ms(s->o->stop, p->kind == FP_STACK_JOB ? 1000 : 500);
            p->restarts++;
            rc = spawn(s, p, err);
            continue;
        }
        if (p->kind != FP_STACK_JOB) {
            fp_buf_reset(&why);
            if (probe_now(s, p, &why)) {
                rc = became_healthy(s, p, err);
                break;
            }
        }
        if (fp_time_mono_ms() > deadline) {
            rc = fp_err_set(err, FP_ERR_IO,
                            "%s did not become healthy in %" PRId64 " s (%s): see %s", p->name,
                            s->ready_timeout_ms / 1000, why.len ? why.p : p->state, p->log);
            break;
        }
        fp_stop_sleep_ms(NULL, 200);
    }
    fp_buf_free(&why);
    save_json(s);
    return rc;
}

/* ---- stopping ---- */

static void stop_part(fp_stack_part *p)
{
    if (p->pid <= 0) {
        if (strcmp(p->state, "done") && strcmp(p->state, "failed"))
            p->state = "stopped";
        return;
    }
    int64_t t0 = fp_time_mono_ms();
    p->state = "stopping";
    p->stopped_pid = p->pid;
    kill(p->pid, p->stop_signal);
    int status = 0;
    bool gone = false;
    while (fp_time_mono_ms() - t0 < p->stop_timeout_ms) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid || (r < 0 && errno == ECHILD)) {
            gone = true;
            break;
        }
        fp_stop_sleep_ms(NULL, 50);
    }
    p->stop_seconds = (double)(fp_time_mono_ms() - t0) / 1000.0;
    if (gone) {
        describe_status(status, p->stop_result, sizeof p->stop_result);
    } else {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        snprintf(p->stop_result, sizeof p->stop_result, "killed (SIGKILL) after %.0f s",
                 p->stop_seconds);
    }
    kill(-p->pid, SIGKILL); /* anything it left in its group */
    snprintf(p->last_exit, sizeof p->last_exit, "%s", p->stop_result);
    fp_log(gone ? FP_LOG_INFO : FP_LOG_WARN, "stack", -1, "%s (pid %d) stopped: %s in %.1f s",
           p->name, (int)p->pid, p->stop_result, p->stop_seconds);
    p->pid = 0;
    p->starttime = 0;
    p->state = "stopped";
}

static void save_offsets(sup *s)
{
    fp_stack_part *b = fp_stack_plan_find(&s->pl, "broker");
    if (!b || strcmp(b->state, "running"))
        return;
    char *bs = fp_stack_plan_bootstrap(&s->pl);
    fp_err err = {0};
    if (bs && fp_stack_offsets_save(bs, s->offsets_path, &err))
        fp_log(FP_LOG_WARN, "stack", -1, "recording the dev broker's offsets: %s", err.msg);
    free(bs);
    s->last_offsets_ms = fp_time_mono_ms();
}

static void stop_all(sup *s)
{
    s->state = "stopping";
    save_json(s);
    for (size_t i = s->pl.nparts; i-- > 0;) {
        fp_stack_part *p = &s->pl.parts[i];
        if (!strcmp(p->name, "broker"))
            save_offsets(s); /* its clients are stopped: the final offsets */
        stop_part(p);
        save_json(s);
    }
}

/* ---- the supervisor ---- */

static void supervise(sup *s)
{
    while (!fp_stop_requested(s->o->stop)) {
        bool dirty = false;
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            reap(s, pid, status);
            dirty = true;
        }
        int64_t now = fp_time_mono_ms();
        for (size_t i = 0; i < s->pl.nparts; i++) {
            fp_stack_part *p = &s->pl.parts[i];
            fp_err err = {0};
            if (!strcmp(p->state, "backoff") && now >= p->next_start_mono && deps_ready(s, p)) {
                p->restarts++;
                if (spawn(s, p, &err)) {
                    fp_log(FP_LOG_ERROR, "stack", -1, "%s", err.msg);
                    p->next_start_mono = now + fp_backoff_next(&p->backoff);
                }
                dirty = true;
            } else if (!strcmp(p->state, "starting") && p->pid > 0) {
                fp_buf why = FP_BUF_INIT;
                if (probe_now(s, p, &why)) {
                    if (became_healthy(s, p, &err)) {
                        fp_log(FP_LOG_ERROR, "stack", -1, "%s: %s; restarting it", p->name,
                               err.msg);
                        kill(p->pid, SIGTERM);
                    }
                    dirty = true;
                }
                fp_buf_free(&why);
            }
        }
        if (!s->pl.bootstrap && now - s->last_offsets_ms >= OFFSETS_EVERY_MS)
            save_offsets(s);
        if (dirty)
            save_json(s);
        fp_stop_sleep_ms(s->o->stop, POLL_MS);
    }
}

/* Takes DIR/run/lock for this process's life (the descriptor is never closed). */
static fp_code take_lock(const char *dir, bool keep, fp_err *err)
{
    fp_buf p = FP_BUF_INIT;
    fp_buf_printf(&p, "%s/run", dir);
    mkdir(dir, 0755);
    mkdir(p.p, 0755);
    fp_buf_puts(&p, "/lock");
    int fd = open(p.p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    fp_code rc = FP_OK;
    if (fd < 0)
        rc = fp_err_set(err, FP_ERR_IO, "%s: %s", p.p, strerror(errno));
    else if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        rc = fp_err_set(err, FP_ERR_CONFIG,
                        "a stack is running in %s already (`fleetpipe stack status --dir %s`; "
                        "`fleetpipe stack down --dir %s` stops it)",
                        dir, dir, dir);
    if (fd >= 0 && (rc || !keep))
        close(fd);
    fp_buf_free(&p);
    return rc;
}

static fp_code up_foreground(const fp_stack_opts *o, json_t **info, fp_err *err)
{
    sup s = {.o = o, .state = "starting"};
    s.ready_timeout_ms = o->ready_timeout_ms > 0 ? o->ready_timeout_ms : 90000;
    fp_code rc = take_lock(o->dir, true, err);
    if (rc)
        return rc;
    json_t *prev = NULL;
    fp_stack_load(o->dir, &prev, NULL);
    rc = fp_stack_plan_make(o, prev, &s.pl, err);
    json_decref(prev);
    if (rc) {
        fp_stack_plan_free(&s.pl);
        return rc;
    }
    fp_buf b = FP_BUF_INIT;
    fp_buf_printf(&b, "%s/" FP_STACK_FILE, s.pl.dir);
    s.json_path = fp_buf_steal(&b);
    fp_buf_printf(&b, "%s/state/kafka-offsets.json", s.pl.dir);
    s.offsets_path = fp_buf_steal(&b);
    fp_buf_printf(&b, "%s/logs/stack.log", s.pl.dir);
    s.log_path = fp_buf_steal(&b);
    if (s.pl.bootstrap)
        unlink(s.offsets_path); /* only the dev broker's offsets need continuing */
    save_json(&s);
    for (size_t i = 0; i < s.pl.nparts && !rc; i++)
        rc = start_one(&s, &s.pl.parts[i], err);
    if (rc) {
        snprintf(s.error, sizeof s.error, "%s", err->msg);
        fp_log(FP_LOG_ERROR, "stack", -1, "start-up failed: %s", err->msg);
        fp_stop_reset(o->stop);
        stop_all(&s);
        s.state = "failed";
        save_json(&s);
    } else {
        s.state = "up";
        save_json(&s);
        fp_log(FP_LOG_INFO, "stack", -1, "up: %zu parts, console %s, %s", s.pl.nparts,
               s.pl.console ? s.pl.console : "(none: no serve)", s.json_path);
        supervise(&s);
        fp_log(FP_LOG_INFO, "stack", -1, "stopping");
        stop_all(&s);
        s.state = "down";
        save_json(&s);
    }
    if (info)
        fp_stack_load(s.pl.dir, info, NULL);
    free(s.json_path);
    free(s.offsets_path);
    free(s.log_path);
    fp_stack_plan_free(&s.pl);
    return rc;
}

/* A detached supervisor: `<exe> stack up --foreground ...` in a session of its own, its log
 * in DIR/logs/stack.log; returns when stack.json says up or failed, or it exited. */
static fp_code up_background(const fp_stack_opts *o, json_t **info, fp_err *err)
{
    fp_code rc = take_lock(o->dir, false, err);
    if (rc)
        return rc;
    char *dir = realpath(o->dir, NULL);
    char exe[PATH_MAX];
    ssize_t n = o->exe ? (ssize_t)snprintf(exe, sizeof exe, "%s", o->exe)
                       : readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (!dir || n <= 0) {
        free(dir);
        return fp_err_set(err, FP_ERR_IO, "%s: %s", o->dir, strerror(errno));
    }
    if (!o->exe)
        exe[n] = '\0';
    fp_strv a = {0};
#define ARG(...)                                                                                   \
    do {                                                                                           \
        fp_buf x_ = FP_BUF_INIT;                                                                   \
        fp_buf_printf(&x_, __VA_ARGS__);                                                           \
        a.v = fp_xrealloc(a.v, (a.n + 2) * sizeof *a.v);                                           \
        a.v[a.n++] = fp_buf_steal(&x_);                                                            \
        a.v[a.n] = NULL;                                                                           \
    } while (0)
    ARG("%s", exe);
    ARG("stack");
    ARG("up");
    ARG("--foreground");
    ARG("--dir");
    ARG("%s", dir);
    if (o->bootstrap && o->bootstrap[0]) {
        ARG("--bootstrap-servers");
        ARG("%s", o->bootstrap);
    }
    if (o->profile && o->profile[0]) {
        ARG("--profile");
        ARG("%s", o->profile);
    }
    if (o->home && o->home[0]) {
        ARG("--home");
        ARG("%s", o->home);
    }
    if (o->vehicles > 0) {
        ARG("--vehicles");
        ARG("%" PRId64, o->vehicles);
    }
    if (o->warehouse_start && o->warehouse_start[0]) {
        ARG("--warehouse-start");
        ARG("%s", o->warehouse_start);
    }
    if (o->ready_timeout_ms > 0) {
        ARG("--ready-timeout");
        ARG("%" PRId64 "ms", o->ready_timeout_ms);
    }
#undef ARG
    fp_buf logp = FP_BUF_INIT, jp = FP_BUF_INIT;
    fp_buf_printf(&logp, "%s/logs", dir);
    mkdir(logp.p, 0755);
    fp_buf_puts(&logp, "/stack.log");
    fp_buf_printf(&jp, "%s/" FP_STACK_FILE, dir);
    int fd = open(logp.p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid = fd < 0 ? -1 : fork();
    if (pid == 0) {
        setsid();
        dup2(fd, 1);
        dup2(fd, 2);
        int null = open("/dev/null", O_RDONLY);
        if (null > 0) {
            dup2(null, 0);
            close(null);
        }
        signal(SIGPIPE, SIG_DFL);
        closefrom(3);
        execv(a.v[0], a.v);
        _exit(127);
    }
    if (fd >= 0)
        close(fd);
    if (pid < 0) {
        rc = fp_err_set(err, FP_ERR_IO, "starting the supervisor: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        int status;
        json_t *j = NULL;
        fp_err le = {0};
        if (!fp_stack_load(dir, &j, &le) &&
            json_integer_value(json_object_get(json_object_get(j, "supervisor"), "pid")) == pid) {
            const char *st = json_string_value(json_object_get(j, "state"));
            if (st && !strcmp(st, "up")) {
                if (info)
                    *info = j;
                else
                    json_decref(j);
                break;
            }
            if (st && !strcmp(st, "failed")) {
                rc = fp_err_set(err, FP_ERR_IO, "%s",
                                json_string_value(json_object_get(j, "error")));
                json_decref(j);
                waitpid(pid, &status, 0);
                break;
            }
        }
        json_decref(j);
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rc = fp_err_set(err, FP_ERR_IO, "the supervisor ended during start-up: see %s", logp.p);
            break;
        }
        if (fp_stop_requested(o->stop)) {
            kill(pid, SIGTERM);
            rc = fp_err_set(err, FP_ERR_IO, "interrupted; the supervisor (pid %d) stops the parts",
                            (int)pid);
            break;
        }
        fp_stop_sleep_ms(NULL, 200);
    }
out:
    fp_strv_free(&a);
    fp_buf_free(&logp);
    fp_buf_free(&jp);
    free(dir);
    return rc;
}

fp_code fp_stack_up(const fp_stack_opts *o, json_t **info, fp_err *err)
{
    if (info)
        *info = NULL;
    return o->foreground ? up_foreground(o, info, err) : up_background(o, info, err);
}

/* ---- calls on a stack ---- */

fp_code fp_stack_load(const char *dir, json_t **info, fp_err *err)
{
    fp_buf p = FP_BUF_INIT;
    fp_buf_printf(&p, "%s/" FP_STACK_FILE, dir);
    json_error_t je;
    *info = json_load_file(p.p, 0, &je);
    fp_code rc = FP_OK;
    if (!*info && err)
        rc = fp_err_set(err, FP_ERR_CONFIG, "%s: no stack here (%s)", p.p, je.text);
    else if (!*info)
        rc = FP_ERR_CONFIG;
    fp_buf_free(&p);
    return rc;
}

static bool supervisor_alive(json_t *info)
{
    json_t *sv = json_object_get(info, "supervisor");
    return fp_stack_pid_is((pid_t)json_integer_value(json_object_get(sv, "pid")),
                           (uint64_t)json_integer_value(json_object_get(sv, "starttime")));
}

fp_code fp_stack_status(const char *dir, json_t **status, bool *healthy, fp_err *err)
{
    json_t *info = NULL;
    fp_code rc = fp_stack_load(dir, &info, err);
    if (rc)
        return rc;
    bool all = true, sup_alive = supervisor_alive(info);
    json_t *parts = json_array();
    size_t i;
    json_t *pj;
    json_array_foreach(json_object_get(info, "parts"), i, pj)
    {
        const char *kind = json_string_value(json_object_get(pj, "kind"));
        const char *state = json_string_value(json_object_get(pj, "state"));
        pid_t pid = (pid_t)json_integer_value(json_object_get(pj, "pid"));
        bool alive =
            fp_stack_pid_is(pid, (uint64_t)json_integer_value(json_object_get(pj, "starttime")));
        bool ok;
        fp_buf why = FP_BUF_INIT;
        if (kind && !strcmp(kind, "job")) {
            ok = state && !strcmp(state, "done");
            if (!ok)
                fp_buf_printf(&why, "job %s", state ? state : "?");
        } else if (!alive) {
            ok = false;
            const char *le = json_string_value(json_object_get(pj, "last_exit"));
            fp_buf_printf(&why, "not running (%s%s%s)", state ? state : "?",
                          le ? ", last exit " : "", le ? le : "");
        } else {
            fp_stack_probe_spec ps = fp_stack_probe_from_json(json_object_get(pj, "probe"));
            ok = fp_stack_probe_run(&ps, &why);
        }
        all = all && ok;
        json_t *o = json_pack("{s:O,s:O,s:O,s:I,s:b,s:O,s:b,s:O,s:O,s:O}", "name",
                              json_object_get(pj, "name"), "kind", json_object_get(pj, "kind"),
                              "state", json_object_get(pj, "state"), "pid", (json_int_t)pid,
                              "alive", alive, "restarts", json_object_get(pj, "restarts"),
                              "healthy", ok, "probe", json_object_get(pj, "probe"), "endpoints",
                              json_object_get(pj, "endpoints"), "log", json_object_get(pj, "log"));
        if (!ok)
            json_object_set_new(o, "reason", json_string(why.p ? why.p : ""));
        if (json_object_get(pj, "last_exit"))
            json_object_set(o, "last_exit", json_object_get(pj, "last_exit"));
        json_array_append_new(parts, o);
        fp_buf_free(&why);
    }
    all = all && sup_alive;
    json_t *sv = json_object_get(info, "supervisor");
    *status = json_pack(
        "{s:O,s:O,s:O?,s:{s:O,s:b,s:O},s:b,s:o,s:O}", "dir", json_object_get(info, "dir"), "state",
        json_object_get(info, "state"), "console", json_object_get(info, "console"), "supervisor",
        "pid", json_object_get(sv, "pid"), "alive", sup_alive, "log", json_object_get(sv, "log"),
        "healthy", all, "parts", parts, "off", json_object_get(info, "off"));
    *healthy = all;
    json_decref(info);
    return FP_OK;
}

fp_code fp_stack_down(const char *dir, int64_t timeout_ms, json_t **report, fp_err *err)
{
    json_t *info = NULL;
    fp_code rc = fp_stack_load(dir, &info, err);
    if (rc)
        return rc;
    if (timeout_ms <= 0)
        timeout_ms = 120000;
    json_t *sv = json_object_get(info, "supervisor");
    pid_t spid = (pid_t)json_integer_value(json_object_get(sv, "pid"));
    uint64_t sst = (uint64_t)json_integer_value(json_object_get(sv, "starttime"));
    bool by_supervisor = fp_stack_pid_is(spid, sst);
    if (by_supervisor) {
        kill(spid, SIGTERM);
        int64_t t0 = fp_time_mono_ms();
        while (fp_stack_pid_is(spid, sst) && fp_time_mono_ms() - t0 < timeout_ms)
            fp_stop_sleep_ms(NULL, 100);
        if (fp_stack_pid_is(spid, sst)) {
            json_decref(info);
            return fp_err_set(
                err, FP_ERR_IO,
                "the supervisor (pid %d) is still stopping after %" PRId64 " s: see %s", (int)spid,
                timeout_ms / 1000, json_string_value(json_object_get(sv, "log")));
        }
        json_decref(info);
        rc = fp_stack_load(dir, &info, err);
        if (rc)
            return rc;
    }
    json_t *parts = json_array(), *alive = json_array();
    json_t *list = json_object_get(info, "parts");
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *pj = json_array_get(list, i);
        pid_t pid = (pid_t)json_integer_value(json_object_get(pj, "pid"));
        uint64_t st = (uint64_t)json_integer_value(json_object_get(pj, "starttime"));
        const char *result = "not running";
        char buf[96];
        double secs = 0;
        json_t *stop = json_object_get(pj, "stop");
        if (by_supervisor && stop) {
            result = json_string_value(json_object_get(stop, "result"));
            pid = (pid_t)json_integer_value(json_object_get(stop, "pid"));
            secs = json_real_value(json_object_get(stop, "seconds"));
        } else if (fp_stack_pid_is(pid, st)) {
            /* no supervisor: stop what it left, in the same order and bounds */
            const char *name = json_string_value(json_object_get(pj, "name"));
            int sig = name && !strcmp(name, "postgres") ? SIGINT : SIGTERM;
            int64_t t0 = fp_time_mono_ms(), bound = sig == SIGINT ? 60000 : 20000;
            kill(pid, sig);
            while (fp_stack_pid_is(pid, st) && fp_time_mono_ms() - t0 < bound)
                fp_stop_sleep_ms(NULL, 50);
            secs = (double)(fp_time_mono_ms() - t0) / 1000.0;
            if (fp_stack_pid_is(pid, st)) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                snprintf(buf, sizeof buf, "killed (SIGKILL) after %.0f s", secs);
            } else {
                snprintf(buf, sizeof buf, "stopped by signal %d", sig);
            }
            result = buf;
        }
        json_array_append_new(parts, /* in the order they stopped */
                              json_pack("{s:O,s:I,s:s,s:f}", "name", json_object_get(pj, "name"),
                                        "pid", (json_int_t)pid, "result", result ? result : "?",
                                        "seconds", secs));
    }
    /* whatever still runs of the pids stack.json ever named for this start */
    size_t i;
    json_t *pj;
    json_array_foreach(list, i, pj)
    {
        pid_t pid = (pid_t)json_integer_value(json_object_get(pj, "pid"));
        if (fp_stack_pid_is(pid, (uint64_t)json_integer_value(json_object_get(pj, "starttime"))))
            json_array_append_new(alive, json_integer(pid));
    }
    *report =
        json_pack("{s:b,s:o,s:o}", "by_supervisor", by_supervisor, "parts", parts, "alive", alive);
    json_decref(info);
    return FP_OK;
}

char *fp_stack_log_path(const char *dir, const char *part, fp_err *err)
{
    json_t *info = NULL;
    if (fp_stack_load(dir, &info, err))
        return NULL;
    char *out = NULL;
    fp_buf names = FP_BUF_INIT;
    if (!strcmp(part, "stack"))
        out = fp_xstrdup(
            json_string_value(json_object_get(json_object_get(info, "supervisor"), "log")));
    size_t i;
    json_t *pj;
    json_array_foreach(json_object_get(info, "parts"), i, pj)
    {
        const char *n = json_string_value(json_object_get(pj, "name"));
        fp_buf_printf(&names, "%s%s", names.len ? ", " : "", n);
        if (!out && n && !strcmp(n, part))
            out = fp_xstrdup(json_string_value(json_object_get(pj, "log")));
    }
    if (!out)
        fp_err_set(err, FP_ERR_CONFIG, "no part %s in %s (parts: stack, %s)", part, dir,
                   names.p ? names.p : "");
    fp_buf_free(&names);
    json_decref(info);
    return out;
}
