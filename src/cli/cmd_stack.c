/* cmd_stack.c — `fleetpipe stack up|status|logs|down`: flags and output of the supervised
 * stack (stack/stack.h, docs/stack.md). Every subcommand is one library call.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sig.h"
#include "stack/stack.h"

typedef struct stack_cli_opts {
    char *dir, *bootstrap, *profile, *home, *warehouse_start, *part;
    int64_t vehicles, ready_timeout_ms, timeout_ms, lines;
    bool foreground, json;
} stack_cli_opts;

#define O(f) offsetof(stack_cli_opts, f)
#define FLAG_DIR                                                                                   \
    {                                                                                              \
        "dir", FP_CONF_STRING, FP_STACK_DEFAULT_DIR, O(dir),                                       \
            "the stack's directory: its data, logs, config copies and stack.json", NULL, 0, 0      \
    }
#define FLAG_JSON(what)                                                                            \
    {                                                                                              \
        "json", FP_CONF_BOOL, NULL, O(json), what, NULL, 0, 0                                      \
    }
#define END_FLAGS                                                                                  \
    {                                                                                              \
        NULL, 0, NULL, 0, NULL, NULL, 0, 0                                                         \
    }

static const fp_conf_def up_flags[] = {
    FLAG_DIR,
    {"bootstrap-servers", FP_CONF_STRING, "", O(bootstrap),
     "use this Kafka cluster instead of starting the dev broker", NULL, 0, 0},
    {"profile", FP_CONF_STRING, "", O(profile),
     "full: every part that is installed; lite: no PostgreSQL/warehouse and no S3/DynamoDB "
     "stand-ins. Default: the directory's, else full",
     NULL, 0, 0},
    {"foreground", FP_CONF_BOOL, NULL, O(foreground),
     "supervise in this process until SIGINT/SIGTERM (default: detach and return once up)", NULL, 0,
     0},
    {"vehicles", FP_CONF_INT, "0", O(vehicles),
     "device accounts to provision in mosquitto; 0: the directory's, else 1000", NULL, 0, 10000000},
    {"warehouse-start", FP_CONF_STRING, "", O(warehouse_start),
     "the warehouse DAGs' start_date (a local date); default: the directory's, else today (UTC)",
     NULL, 0, 0},
    {"home", FP_CONF_STRING, "", O(home),
     "where config/ and tests/servers/node_modules are; default $FLEETPIPE_HOME, the source "
     "tree, <prefix>/share/fleetpipe",
     NULL, 0, 0},
    {"ready-timeout", FP_CONF_MS, "90s", O(ready_timeout_ms),
     "how long each part may take to answer its health probe at start-up", NULL, 1000, 3600000},
    END_FLAGS,
};

static const fp_conf_def status_flags[] = {
    FLAG_DIR,
    FLAG_JSON("print the status as one JSON object"),
    END_FLAGS,
};

static const fp_conf_def logs_flags[] = {
    FLAG_DIR,
    {"part", FP_CONF_STRING, NULL, O(part),
     "the part (or the positional argument); stack: the "
     "supervisor's own log",
     NULL, 0, 0},
    {"lines", FP_CONF_INT, "0", O(lines), "only the last N lines; 0: all", NULL, 0, 100000000},
    END_FLAGS,
};

static const fp_conf_def down_flags[] = {
    FLAG_DIR,
    {"timeout", FP_CONF_MS, "180s", O(timeout_ms),
     "how long to wait for the supervisor to stop every part", NULL, 1000, 3600000},
    FLAG_JSON("print the report as one JSON object"),
    END_FLAGS,
};

static int fail(const fp_cmd *cmd, const fp_err *err)
{
    fprintf(stderr, "fleetpipe %s: %s\n", cmd->name, err->msg);
    return err->code == FP_ERR_CONFIG ? 2 : 1;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_off(json_t *info, FILE *f)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(info, "off"), i, o)
        fprintf(f, "off: %-10s %s\n", str(o, "part"), str(o, "reason"));
}

static int run_up(const fp_cmd *cmd, void *opts)
{
    stack_cli_opts *c = opts;
    fp_sig_install();
    fp_stack_opts o = {
        .dir = c->dir,
        .bootstrap = c->bootstrap,
        .profile = c->profile,
        .home = c->home,
        .vehicles = c->vehicles,
        .warehouse_start = c->warehouse_start,
        .foreground = c->foreground,
        .ready_timeout_ms = c->ready_timeout_ms,
        .stop = fp_sig_token(),
    };
    fp_err err = {0};
    json_t *info = NULL;
    fp_code rc = fp_stack_up(&o, &info, &err);
    if (rc) {
        json_decref(info);
        return fail(cmd, &err);
    }
    if (!c->foreground) {
        printf("console    %s\n", info && json_object_get(info, "console")
                                      ? str(info, "console")
                                      : "(none: serve is off)");
        printf("stack.json %s/" FP_STACK_FILE "\n", str(info, "dir"));
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(info, "parts"), i, p)
            printf("%-15s %-8s pid %-7lld log %s\n", str(p, "name"), str(p, "state"),
                   (long long)json_integer_value(json_object_get(p, "pid")), str(p, "log"));
        print_off(info, stdout);
        printf("`fleetpipe stack status --dir %s` for health, `fleetpipe stack down --dir %s` to "
               "stop\n",
               c->dir, c->dir);
    }
    json_decref(info);
    return 0;
}

static int run_status(const fp_cmd *cmd, void *opts)
{
    stack_cli_opts *c = opts;
    fp_err err = {0};
    json_t *st = NULL;
    bool healthy = false;
    if (fp_stack_status(c->dir, &st, &healthy, &err))
        return fail(cmd, &err);
    if (c->json) {
        char *s = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
    } else {
        json_t *sv = json_object_get(st, "supervisor");
        printf("stack %s: %s, supervisor pid %lld %s; console %s\n", str(st, "dir"),
               str(st, "state"), (long long)json_integer_value(json_object_get(sv, "pid")),
               json_is_true(json_object_get(sv, "alive")) ? "alive" : "NOT RUNNING",
               str(st, "console"));
        printf("%-15s %-9s %-8s %-8s %-9s %s\n", "PART", "STATE", "PID", "RESTARTS", "HEALTH",
               "REASON");
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(st, "parts"), i, p)
            printf("%-15s %-9s %-8lld %-8lld %-9s %s\n", str(p, "name"), str(p, "state"),
                   (long long)json_integer_value(json_object_get(p, "pid")),
                   (long long)json_integer_value(json_object_get(p, "restarts")),
                   json_is_true(json_object_get(p, "healthy")) ? "healthy" : "UNHEALTHY",
                   str(p, "reason"));
        print_off(st, stdout);
    }
    json_decref(st);
    return healthy ? 0 : 1;
}

static int run_logs(const fp_cmd *cmd, void *opts)
{
    stack_cli_opts *c = opts;
    fp_err err = {0};
    char *path = fp_stack_log_path(c->dir, c->part, &err);
    if (!path)
        return fail(cmd, &err);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fleetpipe %s: %s: no log yet\n", cmd->name, path);
        free(path);
        return 1;
    }
    long start = 0;
    if (c->lines > 0) { /* where the last N lines begin: count them, then skip the rest */
        long total = 0, pos = 0;
        for (int ch = getc(f); ch != EOF; ch = getc(f))
            total += ch == '\n';
        rewind(f);
        for (long skip = total - c->lines; skip > 0; pos++) {
            int ch = getc(f);
            if (ch == EOF)
                break;
            skip -= ch == '\n';
        }
        start = pos;
    }
    fseek(f, start, SEEK_SET);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
    free(path);
    return 0;
}

static int run_down(const fp_cmd *cmd, void *opts)
{
    stack_cli_opts *c = opts;
    fp_err err = {0};
    json_t *rep = NULL;
    if (fp_stack_down(c->dir, c->timeout_ms, &rep, &err))
        return fail(cmd, &err);
    bool clean = json_array_size(json_object_get(rep, "alive")) == 0;
    if (c->json) {
        char *s = json_dumps(rep, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(rep, "parts"), i, p)
            printf("%-15s pid %-7lld %s (%.1f s)\n", str(p, "name"),
                   (long long)json_integer_value(json_object_get(p, "pid")), str(p, "result"),
                   json_real_value(json_object_get(p, "seconds")));
        printf(clean ? "stopped; the data stays in %s (`fleetpipe stack up --dir %s` resumes)\n"
                     : "NOT every part stopped: see `fleetpipe stack status --dir %s`%s\n",
               c->dir, clean ? c->dir : "");
    }
    json_decref(rep);
    return clean ? 0 : 1;
}

static const char parent_usage[] =
    "usage: fleetpipe stack up     [--dir DIR] [--bootstrap-servers BS] [--profile full|lite]\n"
    "                              [--foreground] [--vehicles N] [--warehouse-start DATE]\n"
    "       fleetpipe stack status [--dir DIR] [--json]\n"
    "       fleetpipe stack logs   PART [--dir DIR] [--lines N]\n"
    "       fleetpipe stack down   [--dir DIR] [--json]\n\n"
    "The whole pipeline on one machine as a supervised process tree: the dev broker (or a\n"
    "given Kafka), mosquitto with provisioned device accounts, redis-server, PostgreSQL,\n"
    "s3rver and dynalite, the bridge, a connect worker with the shipped connectors, lake\n"
    "watch, the warehouse scheduler with the checks, and the Fleet API with the console.\n"
    "DIR/stack.json lists every part's endpoints, pid, log, restarts and state. See\n"
    "docs/stack.md; `fleetpipe help stack <sub>` gives each one's options.";

static int run_parent(const fp_cmd *cmd, void *opts)
{
    (void)cmd, (void)opts;
    fprintf(stderr, "fleetpipe stack: which subcommand?\n\n%s\n", parent_usage);
    return 2;
}

static const fp_conf_def parent_flags[] = {END_FLAGS};

const fp_cmd fp_cmd_stack = {
    "stack",
    "the whole pipeline on one machine, supervised: up, status, logs, down",
    parent_usage,
    parent_flags,
    sizeof(stack_cli_opts),
    run_parent,
};

const fp_cmd fp_cmd_stack_up = {
    "stack up",
    "start every part on free loopback ports, supervised (restarts with backoff)",
    "usage: fleetpipe stack up [--dir DIR] [--bootstrap-servers BS] [--profile full|lite]\n"
    "                          [--foreground] [--vehicles N] [--warehouse-start DATE]\n\n"
    "Starts, in dependency order, each part as a child of one supervisor process: the dev\n"
    "broker (`fleetpipe broker`; not with --bootstrap-servers), mosquitto (config/mosquitto,\n"
    "`sim provision` accounts in DIR/mqtt), redis-server (AOF in DIR/data/redis), PostgreSQL\n"
    "(a cluster made once with initdb in DIR/data/pg, as the `postgres` user when root),\n"
    "s3rver and dynalite (tests/servers/node_modules; absent: the lakes go to DIR/data and the\n"
    "DynamoDB sinks are off), `warehouse init` and `dynamodb create-table`, `connect` with\n"
    "config/connectors (copies with this stack's endpoints in DIR/connectors), `lake watch`,\n"
    "the bridge, `warehouse scheduler` (config/warehouse/pipeline.json and config/checks), and\n"
    "`serve`. Each part logs to DIR/logs/<part>.log; a part that dies is restarted after an\n"
    "exponential backoff (0.5 s doubling to 30 s, with jitter), counted in stack.json. Without\n"
    "--foreground the supervisor detaches (its log DIR/logs/stack.log) and this command returns\n"
    "once every part answers its health probe, printing the console URL. On an existing DIR it\n"
    "resumes: same ports when free, PostgreSQL, Redis, the lakes and DynamoDB as they were;\n"
    "the dev broker starts empty (docs/stack.md, \"What resumes\"). Exit 1 when a part did not\n"
    "start (everything is stopped again), 2 when DIR runs a stack already.",
    up_flags,
    sizeof(stack_cli_opts),
    run_up,
};

const fp_cmd fp_cmd_stack_status = {
    "stack status",
    "each part's health (its /healthz, or a native probe), restarts and pid",
    "usage: fleetpipe stack status [--dir DIR] [--json]\n\n"
    "Probes every part of DIR/stack.json: fleetpipe's commands by /healthz (the reason when it\n"
    "answers 503), the dev broker by a Kafka metadata request, mosquitto by an MQTT CONNECT with\n"
    "the API account, redis-server by PING, PostgreSQL by a connection, s3rver and dynalite by\n"
    "an HTTP request. Exit 0 when every part that should run is healthy, 1 when one is not (or\n"
    "the supervisor is gone), 2 when DIR has no stack.",
    status_flags,
    sizeof(stack_cli_opts),
    run_status,
};

const fp_cmd fp_cmd_stack_logs = {
    "stack logs",
    "print a part's log (DIR/logs/<part>.log)",
    "usage: fleetpipe stack logs PART [--dir DIR] [--lines N]\n\n"
    "PART is a name from `fleetpipe stack status` (broker, mosquitto, redis, postgres, s3rver,\n"
    "dynalite, connect, lake-watch, bridge, scheduler, serve, the jobs warehouse-init and\n"
    "dynamodb-table) or stack for the supervisor. Each start of a part begins with a line\n"
    "`---- fleetpipe stack: <time> start N of <part>: <command>`.",
    logs_flags,
    sizeof(stack_cli_opts),
    run_logs,
};

const fp_cmd fp_cmd_stack_down = {
    "stack down",
    "stop every part in reverse dependency order; the data stays",
    "usage: fleetpipe stack down [--dir DIR] [--timeout 180s] [--json]\n\n"
    "Sends SIGTERM to the supervisor, which stops the parts in reverse dependency order (the\n"
    "Fleet API first, the dev broker last): each gets its stop signal (SIGINT for PostgreSQL's\n"
    "fast shutdown, SIGTERM for the rest, so connectors make their data durable and commit),\n"
    "20 s (PostgreSQL 60 s), then SIGKILL, reported per part. Without a supervisor it stops\n"
    "what stack.json lists itself. Exit 0 when nothing is left running.",
    down_flags,
    sizeof(stack_cli_opts),
    run_down,
};
