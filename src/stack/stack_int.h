/* stack_int.h — internals of `fleetpipe stack` shared by its files: the parts (plan.c makes
 * them, super.c runs them), the health probes (probe.c) and the dev broker's offset
 * continuation (offsets.c). Only src/stack includes this.
 */
#ifndef FP_STACK_INT_H
#define FP_STACK_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/backoff.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/props.h"
#include "stack/stack.h"

typedef enum fp_stack_kind {
    FP_STACK_FLEETPIPE, /* a fleetpipe subcommand */
    FP_STACK_SERVER,    /* a server of its own (mosquitto, redis-server, postgres, node) */
    FP_STACK_JOB,       /* runs once to completion at start-up (create-table, warehouse init) */
} fp_stack_kind;

typedef enum fp_stack_probe {
    FP_STACK_PROBE_NONE,
    FP_STACK_PROBE_HEALTHZ, /* GET url: 200 ok, else the body's first line */
    FP_STACK_PROBE_KAFKA,   /* a metadata request to the bootstrap servers in url */
    FP_STACK_PROBE_MQTT,    /* CONNECT as user/password_file, CONNACK 0 */
    FP_STACK_PROBE_REDIS,   /* PING */
    FP_STACK_PROBE_PG,      /* a connection and SELECT 1 */
    FP_STACK_PROBE_HTTP,    /* any HTTP answer (s3rver, dynalite) */
} fp_stack_probe;

const char *fp_stack_probe_name(fp_stack_probe p);
fp_stack_probe fp_stack_probe_parse(const char *s);

/* How a part is probed; strings owned. */
typedef struct fp_stack_probe_spec {
    fp_stack_probe kind;
    char *url;           /* healthz/http URL, bootstrap list, redis:// URL, conninfo, mqtt:// */
    char *user;          /* mqtt */
    char *password_file; /* mqtt */
} fp_stack_probe_spec;

/* Probes once (a few seconds at most). true: healthy; else why (one line) in reason. */
bool fp_stack_probe_run(const fp_stack_probe_spec *p, fp_buf *reason);
fp_stack_probe_spec fp_stack_probe_from_json(json_t *j); /* strings borrowed from j */
json_t *fp_stack_probe_to_json(const fp_stack_probe_spec *p);

typedef struct fp_stack_part {
    char *name;
    fp_stack_kind kind;
    fp_strv argv; /* argv[0] is the program's path */
    fp_strv deps; /* parts that must be running first */
    char *log;    /* DIR/logs/<name>.log */
    json_t *endpoints;
    fp_stack_probe_spec probe;
    bool kafka_client; /* restarted (new bootstrap) when the dev broker is restarted */
    bool as_pg_user;   /* run as the unprivileged PostgreSQL user (when root) */
    int stop_signal;   /* SIGTERM, SIGINT for postgres (its fast shutdown) */
    int64_t stop_timeout_ms;
    /* run time */
    pid_t pid;
    uint64_t starttime; /* /proc/<pid>/stat field 22: tells a reused pid apart */
    const char *state;  /* pending starting running backoff stopping stopped failed done */
    int restarts;
    int64_t started_mono, next_start_mono;
    bool healthy_once; /* answered its probe since its last start */
    char last_exit[96];
    char stop_result[96];
    double stop_seconds;
    pid_t stopped_pid; /* the pid the last stop ended */
    fp_backoff backoff;
} fp_stack_part;

/* Everything plan.c decided: where things are, the ports, the parts in dependency order. */
typedef struct fp_stack_plan {
    char *dir, *home, *exe, *profile, *warehouse_start;
    int64_t vehicles;
    char *bootstrap;      /* given Kafka, or NULL: the dev broker (its address is in run/) */
    char *bootstrap_file; /* DIR/run/bootstrap */
    int epoch;            /* starts of the dev broker in this DIR, this one included */
    json_t *ports;        /* name -> port */
    json_t *off;          /* [{part, reason}] */
    char *console;
    fp_stack_part *parts;
    size_t nparts;
    char *pg_user; /* the user postgres runs as ("" when not root) */
    uid_t pg_uid;
    gid_t pg_gid;
} fp_stack_plan;

/* Finds the tools, picks the ports (DIR's earlier ones when free), writes the config files the
 * parts read (mosquitto, the connectors), makes the PostgreSQL cluster once, and lists the
 * parts. prev: the directory's earlier stack.json, or NULL. */
fp_code fp_stack_plan_make(const fp_stack_opts *o, json_t *prev, fp_stack_plan *plan, fp_err *err);
void fp_stack_plan_free(fp_stack_plan *plan);
/* The Kafka bootstrap servers now: the given ones, or the dev broker's file (NULL: none yet). */
char *fp_stack_plan_bootstrap(const fp_stack_plan *plan);
fp_stack_part *fp_stack_plan_find(fp_stack_plan *plan, const char *name);

/* The part's stack.json object (a new reference). */
json_t *fp_stack_part_json(const fp_stack_part *p);

/* /proc/<pid>/stat's start time, 0 when pid is gone. */
uint64_t fp_stack_pid_starttime(pid_t pid);
/* Whether pid is alive and still the process that had starttime (0: do not compare). */
bool fp_stack_pid_is(pid_t pid, uint64_t starttime);

/* Writes text to path via path.tmp + rename. */
fp_code fp_stack_write_file(const char *path, const char *text, fp_err *err);

/* The dev broker's offsets (offsets.c). A restarted dev broker is empty, its offsets start at
 * 0 again, and the objstore sink names objects by their first offset, so a new object could
 * take an old one's name. fp_stack_offsets_save() records the end offset of every partition of
 * the fms.* topics in DIR/state/kafka-offsets.json (the supervisor does it every few seconds and
 * at the stop); fp_stack_offsets_continue() fills each partition of a fresh broker up to that
 * offset with padding records (no value, header fleetpipe.padding) and commits every connector
 * group there, so names continue where they ended. groups: the consumer groups to commit. */
fp_code fp_stack_offsets_save(const char *bootstrap, const char *path, fp_err *err);
fp_code fp_stack_offsets_continue(const char *bootstrap, const char *path, const fp_strv *groups,
                                  int64_t *padded, fp_err *err);

#endif
