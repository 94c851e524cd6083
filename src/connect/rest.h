/* rest.h — Kafka Connect's REST API for `fleetpipe connect`, on the fp_http server, plus the
 * worker's GET /metrics and GET /healthz (503 while a task is FAILED).
 *
 * Routes, JSON shapes and status codes follow Kafka Connect 3.x (docs/connect.md lists them).
 * Standalone (dist NULL) writes go straight to the runtime; in distributed mode they are
 * written to the config topic and answered once this worker applied them (connect/dist.h).
 * Threads: handlers run on the server's threads; everything they call is thread-safe.
 */
#ifndef FP_CONNECT_REST_H
#define FP_CONNECT_REST_H

#include "connect/connect.h"
#include "connect/dist.h"
#include "core/err.h"

typedef struct fp_connect_rest fp_connect_rest;

typedef struct fp_connect_rest_opts {
    const char *listen;    /* "127.0.0.1:8083" */
    const char *token;     /* bearer token for the API (not /metrics, /healthz); NULL: none */
    const char *bootstrap; /* for GET / (cluster id) and validation */
    fp_connect *c;
    fp_connect_dist *dist; /* NULL: standalone */
} fp_connect_rest_opts;

fp_code fp_connect_rest_start(const fp_connect_rest_opts *o, fp_connect_rest **out, fp_err *err);
int fp_connect_rest_port(const fp_connect_rest *r);
/* Stops the server (waits for running handlers) and frees. NULL is fine. */
void fp_connect_rest_stop(fp_connect_rest *r);

#endif
