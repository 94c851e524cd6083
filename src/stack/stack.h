/* stack.h — `fleetpipe stack`: every part of the pipeline on one machine, as a supervised
 * process tree (docs/stack.md).
 *
 * One supervisor process (`stack up --foreground`, or its detached copy that `stack up` starts)
 * forks and execs each part — fleetpipe's own subcommands through /proc/self/exe, and the
 * servers (mosquitto, redis-server, postgres, s3rver, dynalite) — with its log in
 * DIR/logs/<part>.log, starts them in dependency order (each waits until the ones before it
 * answer their health probe), restarts a part that dies with exponential backoff (counted), and
 * on a stop stops them in reverse order (SIGTERM, a bounded wait, then SIGKILL, reported).
 * DIR/stack.json is the contract for every other tool (stack status/logs/down, the demo, the
 * E2E and chaos tests): every part's endpoints, pid, log path, restarts and state, and the
 * console URL. Rewritten atomically (tmp + rename) by the supervisor only.
 * Threads: the supervisor is one thread; every call here is for the caller's thread.
 */
#ifndef FP_STACK_H
#define FP_STACK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/stop.h"

#define FP_STACK_DEFAULT_DIR "fleetpipe-stack"
#define FP_STACK_FILE "stack.json"

typedef struct fp_stack_opts {
    const char *dir;       /* made if missing; an existing stack's directory is resumed */
    const char *bootstrap; /* a Kafka cluster to use; NULL or "": start the dev broker */
    const char *profile;   /* "full" (everything installed) or "lite"; NULL: DIR's, else full */
    const char *home;      /* where config/ (and tests/servers/node_modules) are; NULL: found */
    const char *exe;       /* the fleetpipe binary the parts run; NULL: /proc/self/exe */
    int64_t vehicles;      /* device accounts to provision; 0: DIR's, else 1000 */
    const char *warehouse_start; /* the DAGs' start_date; NULL: DIR's, else today (UTC) */
    bool foreground;             /* supervise in this process until stop (else detach) */
    int64_t ready_timeout_ms;    /* per part, to answer its probe; 0: 90 s */
    fp_stop *stop;               /* foreground: the owner's stop token (SIGINT/SIGTERM) */
} fp_stack_opts;

/* Starts the stack in o->dir. Foreground: supervises until o->stop is requested, then stops
 * every part and returns FP_OK (an error when start-up failed: everything started is stopped
 * again, the message names the part and its log). Background: starts a detached supervisor
 * (`<exe> stack up --foreground ...`, its own log DIR/logs/stack.log) and returns once
 * stack.json says it is up (FP_OK) or failed (FP_ERR_IO with its reason). *info (may be NULL)
 * gets stack.json's content (a new reference). FP_ERR_CONFIG: the directory runs a stack
 * already, or an option is wrong. */
fp_code fp_stack_up(const fp_stack_opts *o, json_t **info, fp_err *err);

/* Reads DIR/stack.json (a new reference). FP_ERR_CONFIG when DIR has no stack. */
fp_code fp_stack_load(const char *dir, json_t **info, fp_err *err);

/* Probes every part of DIR's stack (its /healthz, or natively: Kafka metadata, MQTT CONNECT,
 * Redis PING, a PostgreSQL connection, an HTTP answer). *status: {"dir", "console",
 * "supervisor": {pid, alive}, "healthy": bool, "parts": [{name, kind, state, pid, alive,
 * restarts, healthy, reason, probe, endpoints, log}], "off": [...]} (a new reference).
 * *healthy: every part that should run answers its probe. */
fp_code fp_stack_status(const char *dir, json_t **status, bool *healthy, fp_err *err);

/* Stops DIR's stack: SIGTERM to the supervisor, which stops the parts in reverse dependency
 * order, then waits for it (up to timeout_ms; 0: 120 s). Without a live supervisor it stops
 * the parts stack.json lists itself (the same order and bounds). *report: {"parts": [{name,
 * pid, result: "exit 0"/"signal 15"/"killed after 20 s"/"not running", seconds}], "alive":
 * [pids still alive]} (a new reference). The directory's data stays. */
fp_code fp_stack_down(const char *dir, int64_t timeout_ms, json_t **report, fp_err *err);

/* The log file of part (a fresh string), or NULL with err naming the parts there are. */
char *fp_stack_log_path(const char *dir, const char *part, fp_err *err);

#endif
