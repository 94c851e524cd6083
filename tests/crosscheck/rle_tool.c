/* rle_tool.c — a stdin/stdout front end of src/parquet/rle.c for cross-checks against other
 * implementations (tests/crosscheck/rle_hyparquet.mjs); not built by CMake.
 *   enc W N v1 .. vN   ->  hex of fp_pq_rle_encode, or "ERR message"
 *   dec W N hex        ->  the N values decoded by fp_pq_rle_decode, or "ERR message"
 * Build: cc -std=c11 -Isrc tests/crosscheck/rle_tool.c build/libfpcore.a -o /tmp/rle_tool */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/rle.h"

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        char *s = line, *end;
        char kind[4] = {0};
        memcpy(kind, s, 3);
        s += 3;
        unsigned w = (unsigned)strtoul(s, &end, 10);
        size_t n = strtoul(end, &end, 10);
        s = end;
        uint32_t *v = calloc(n + 1, sizeof *v);
        fp_err err = {0};
        if (strcmp(kind, "enc") == 0) {
            for (size_t i = 0; i < n; i++)
                v[i] = (uint32_t)strtoul(s, &s, 10);
            fp_buf out = FP_BUF_INIT;
            if (fp_pq_rle_encode(&out, v, n, w, &err)) {
                printf("ERR %s\n", err.msg);
            } else {
                for (size_t i = 0; i < out.len; i++)
                    printf("%02x", (unsigned char)out.p[i]);
                printf("\n");
            }
            fp_buf_free(&out);
        } else {
            while (*s == ' ')
                s++;
            size_t hl = strcspn(s, "\n") / 2;
            unsigned char *b = malloc(hl + 1);
            for (size_t i = 0; i < hl; i++)
                sscanf(s + 2 * i, "%2hhx", &b[i]);
            if (fp_pq_rle_decode(b, hl, w, v, n, NULL, &err)) {
                printf("ERR %s\n", err.msg);
            } else {
                for (size_t i = 0; i < n; i++)
                    printf(i ? " %u" : "%u", v[i]);
                printf("\n");
            }
            free(b);
        }
        free(v);
        fflush(stdout);
    }
    free(line);
    return 0;
}
