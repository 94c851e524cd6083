/* cmd_status.c — `fleetpipe status`: one table of a connect worker's connectors, from its REST
 * API (GET /connectors?expand=status) and two /metrics scrapes a second apart (rates), fetched
 * by connect/status_client.h.
 *
 * Read-only and stateless: it is what an operator types first; anything deeper is the REST API.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "connect/status_client.h"
#include "ops/http.h"

typedef struct status_opts {
    char *rest, *token_file;
    int64_t interval;
} status_opts;

static const fp_conf_def status_flags[] = {
    {"rest", FP_CONF_STRING, "http://127.0.0.1:8083", offsetof(status_opts, rest),
     "base URL of the worker's REST API", NULL, 0, 0},
    {"token-file", FP_CONF_STRING, "", offsetof(status_opts, token_file),
     "file whose first line is the API's bearer token", NULL, 0, 0},
    {"interval", FP_CONF_MS, "1s", offsetof(status_opts, interval),
     "time between the two /metrics scrapes the rates come from", NULL, 100, 60000},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0},
};

static int run(const fp_cmd *cmd, void *opts)
{
    status_opts *o = opts;
    fp_err err = {0};
    char *token = NULL;
    if (o->token_file[0] && fp_http_read_token(o->token_file, &token, &err))
        return fp_cli_fail(cmd, &err);
    fp_connect_status_opts so = {.rest = o->rest, .token = token, .interval_ms = o->interval};
    fp_connect_status_row *rows = NULL;
    size_t n = 0;
    int rc = 0;
    if (fp_connect_status_fetch(&so, &rows, &n, &err)) {
        fprintf(stderr, "fleetpipe status: %s\n", err.msg);
        rc = 1;
    } else {
        printf("%-24s %-10s %7s %10s %10s %10s %10s\n", "CONNECTOR", "STATE", "TASKS", "IN/s",
               "OUT/s", "LAG", "LOST");
        for (size_t i = 0; i < n; i++) {
            char tk[48];
            snprintf(tk, sizeof tk, "%zu/%zu", rows[i].running, rows[i].tasks);
            char lag[32];
            if (rows[i].lag < 0)
                snprintf(lag, sizeof lag, "?"); /* unknown, never 0 */
            else
                snprintf(lag, sizeof lag, "%.0f", rows[i].lag);
            printf("%-24s %-10s %7s %10.1f %10.1f %10s %10" PRIu64 "\n", rows[i].name,
                   rows[i].state, tk, rows[i].in_per_s, rows[i].out_per_s, lag, rows[i].lost);
        }
    }
    fp_connect_status_rows_free(rows, n);
    free(token);
    return rc;
}

const fp_cmd fp_cmd_status = {
    "status",
    "one table of a connect worker's connectors: state, tasks, records in/out per second, lag",
    "usage: fleetpipe status [--rest http://127.0.0.1:8083] [--token-file F] [--interval 1s]\n\n"
    "Reads GET /connectors?expand=status and two /metrics scrapes --interval apart from a\n"
    "`fleetpipe connect` worker. TASKS is running/total (in distributed mode: of every live\n"
    "worker), IN/s and OUT/s are consumed and durably written records per second, LAG is the\n"
    "sum over the connector's partitions of this worker (\"?\" while a task cannot consume or\n"
    "its partitions' watermarks are not known yet, never 0), LOST the records retention deleted\n"
    "before the connector consumed them. Exit status 1 when the worker cannot be reached.",
    status_flags,
    sizeof(status_opts),
    run,
};
