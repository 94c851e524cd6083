/* score_hits.c — fp_check_score() from the command line, for scripts that run the raw-data
 * checks' SQL with psql (before and beside `fleetpipe check score`):
 *
 *   score_hits TRUTH.jsonl [FROM TO] < hits.tsv
 *
 * hits.tsv: one failing row per line, "anomaly<TAB>id<TAB>seq" (an empty seq: a dead letter).
 * FROM, TO: ISO-8601 times of the interval. Prints the report (JSON) on stdout; exit 1 on error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/score.h"
#include "core/mem.h"
#include "core/time.h"

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: score_hits TRUTH.jsonl [FROM TO] < hits.tsv\n");
        return 2;
    }
    int64_t from = 0, to = 0;
    fp_err err;
    if (argc == 4 && (fp_time_parse_iso(argv[2], strlen(argv[2]), &from, &err) ||
                      fp_time_parse_iso(argv[3], strlen(argv[3]), &to, &err))) {
        fprintf(stderr, "score_hits: %s\n", err.msg);
        return 2;
    }
    fp_check_hit *hits = NULL;
    size_t n = 0, cap = 0, len = 0;
    char *line = NULL;
    while (getline(&line, &len, stdin) >= 0) {
        char *a = strtok(line, "\t\n"), *id = strtok(NULL, "\t\n"), *seq = strtok(NULL, "\t\n");
        if (!a || !id)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            hits = fp_xrealloc(hits, cap * sizeof *hits);
        }
        hits[n].anomaly = fp_xstrdup(a);
        hits[n].id = strtoll(id, NULL, 10);
        hits[n].seq = seq && *seq ? strtoll(seq, NULL, 10) : FP_CHECK_NO_SEQ;
        n++;
    }
    free(line);
    json_t *report = NULL;
    fp_code rc = fp_check_score(argv[1], hits, n, NULL, 0, from, to, &report, &err);
    for (size_t i = 0; i < n; i++)
        free((char *)hits[i].anomaly);
    free(hits);
    if (rc) {
        fprintf(stderr, "score_hits: %s\n", err.msg);
        return 1;
    }
    json_dumpf(report, stdout, JSON_SORT_KEYS | JSON_COMPACT);
    putchar('\n');
    json_decref(report);
    return 0;
}
