/* serve_probe.c — the Fleet API's backend calls that no route of its own answers, from the
 * command line, for tests/integration/serve_data.sh (found as $FP_BUILD/serve_probe): what
 * GET /vehicles/{id} (live.c) gets from track.c and reports.c.
 *
 *   serve_probe latest-aggregates TABLE ENDPOINT ID   fp_serve_ddb_latest_aggregates()
 *   serve_probe kpis CONNINFO ID DAY                  fp_serve_pg_kpis() at DAY noon, Seoul
 *
 * Prints the JSON on stdout; exit 1 with the error on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "serve/serve_int.h"

/* DAY's local noon in Asia/Seoul (the test's fleet zone), as epoch ms: "today" for the KPIs. */
static int64_t noon_seoul(const char *day)
{
    char iso[64];
    snprintf(iso, sizeof iso, "%.10sT12:00:00+09:00", day);
    int64_t ms = 0;
    fp_err err = {0};
    fp_time_parse_iso(iso, strlen(iso), &ms, &err);
    return ms;
}

int main(int argc, char **argv)
{
    bool ddb = argc == 5 && !strcmp(argv[1], "latest-aggregates");
    bool pg = argc == 5 && !strcmp(argv[1], "kpis");
    if (!ddb && !pg) {
        fprintf(stderr, "usage: serve_probe latest-aggregates TABLE ENDPOINT ID\n"
                        "       serve_probe kpis CONNINFO ID DAY\n");
        return 2;
    }
    fp_serve s = {0};
    s.o.region = "us-east-1";
    s.o.backend_timeout_ms = 5000;
    s.o.timezone = "Asia/Seoul";
    if (ddb) {
        s.o.dynamodb_table = argv[2];
        s.o.dynamodb_endpoint = argv[3];
    } else {
        s.o.pg = argv[2];
    }
    fp_err err = {0};
    fp_buf out = FP_BUF_INIT;
    int64_t id = strtoll(ddb ? argv[4] : argv[3], NULL, 10);
    fp_code rc = ddb ? fp_serve_ddb_init(&s, &err) : fp_serve_pg_init(&s, &err);
    if (!rc)
        rc = ddb ? fp_serve_ddb_latest_aggregates(&s, id, &out, &err)
                 : fp_serve_pg_kpis(&s, id, noon_seoul(argv[4]), &out, &err);
    if (rc)
        fprintf(stderr, "serve_probe: %s\n", err.msg);
    else
        printf("%s\n", out.p);
    fp_buf_free(&out);
    fp_serve_ddb_free(&s);
    fp_serve_pg_free(&s);
    return rc ? 1 : 0;
}
