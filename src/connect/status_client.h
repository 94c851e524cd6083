/* status_client.h — a connect worker's connectors as seen from outside, for `fleetpipe status`
 * and the Fleet API's /pipeline.
 *
 * A REST client of a running `fleetpipe connect` worker: GET /connectors?expand=status for
 * state and tasks, and two /metrics scrapes interval_ms apart for rates and lag (one scrape and
 * no rates when interval_ms is 0). Read-only and stateless; blocking (libcurl easy interface,
 * timeout_ms per request, no signals), any thread, several at once.
 */
#ifndef FP_CONNECT_STATUS_CLIENT_H
#define FP_CONNECT_STATUS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct fp_connect_status_opts {
    const char *rest;    /* base URL of the REST API, e.g. http://127.0.0.1:8083 */
    const char *token;   /* bearer token or NULL */
    int64_t interval_ms; /* between the two /metrics scrapes; 0: one scrape, rates stay 0 */
    int64_t timeout_ms;  /* per request; 0: 10 s */
} fp_connect_status_opts;

/* One task as GET /connectors?expand=status reports it. */
typedef struct fp_connect_status_task {
    int64_t id;
    char *state;     /* "?" when the worker gave none */
    char *worker_id; /* NULL when the worker gave none */
    char *reason;    /* why a RUNNING task is blocked, or a FAILED one's trace; NULL: none */
    int64_t lag;     /* -1: unknown */
    uint64_t lost;   /* records_lost */
} fp_connect_status_task;

typedef struct fp_connect_status_row {
    char *name, *state;    /* state "?" when the worker gave none */
    size_t running, tasks; /* RUNNING tasks / all tasks */
    double in_per_s;       /* records consumed per second */
    double out_per_s;      /* records durably written per second */
    double lag;            /* sum over the connector's partitions of this worker; -1: unknown
                              (a task cannot consume, or its watermarks are not known yet) */
    uint64_t lost;         /* records_lost of the connector's tasks */
    /* The tasks, `tasks` of them, in the worker's order. */
    fp_connect_status_task *task;
} fp_connect_status_row;

/* Fills *rows (allocated; free with fp_connect_status_rows_free) with one row per connector in
 * the worker's order. FP_ERR_IO with the request and the reason when the worker cannot be
 * reached or answers something else than 200 and a JSON object. */
fp_code fp_connect_status_fetch(const fp_connect_status_opts *o, fp_connect_status_row **rows,
                                size_t *n, fp_err *err);
void fp_connect_status_rows_free(fp_connect_status_row *rows, size_t n);

#endif
