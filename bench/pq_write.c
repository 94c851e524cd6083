/* pq_write.c — throughput of the Parquet writer (src/parquet/parquet.h) on an 11-column telemetry
 * row: buffering + encoding with codec none, then with zstd and snappy; one line per figure.
 *   cc -O2 -Isrc bench/pq_write.c build/libfpcore.a $(pkg-config --libs libzstd snappy) -lm
 *   ./a.out [rows] [out.parquet] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "parquet/parquet.h"

static const fp_pq_column cols[] = {
    {"device_id", FP_PQ_STRING}, {"ts", FP_PQ_TIMESTAMP},  {"seq", FP_PQ_INT64},
    {"lat", FP_PQ_DOUBLE},       {"lon", FP_PQ_DOUBLE},    {"speed", FP_PQ_DOUBLE},
    {"fuel", FP_PQ_DOUBLE},      {"ignition", FP_PQ_BOOL}, {"status", FP_PQ_STRING},
    {"odometer", FP_PQ_INT64},   {"model", FP_PQ_STRING},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double run(long rows, fp_pq_codec codec, const char *path)
{
    static const char *const status[] = {"ok", "idle", "moving", "charging"};
    static const char *const model[] = {"truck-a", "van-b", "car-c"};
    fp_pq_writer_opts o = {.codec = codec};
    fp_pq_writer *w;
    fp_err err;
    if (fp_pq_writer_open(path, cols, 11, &o, &w, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    static char dev[5000][16];
    static int devlen[5000];
    for (int d = 0; d < 5000; d++)
        devlen[d] = snprintf(dev[d], sizeof dev[d], "dev-%05d", d);
    double t0 = now();
    for (long r = 0; r < rows; r++) {
        long d = r % 5000;
        fp_pq_set_string(w, 0, dev[d], (size_t)devlen[d]);
        fp_pq_set_int64(w, 1, 1700000000000LL + r * 10);
        fp_pq_set_int64(w, 2, r / 5000);
        fp_pq_set_double(w, 3, 48.0 + (double)(r % 1000) * 1e-4);
        fp_pq_set_double(w, 4, 11.0 + (double)(r % 777) * 1e-4);
        fp_pq_set_double(w, 5, (double)(r % 130));
        if (r % 10)
            fp_pq_set_double(w, 6, (double)(r % 1000) / 10.0);
        fp_pq_set_bool(w, 7, r % 3 != 0);
        fp_pq_set_string(w, 8, status[r % 4], 2 + (size_t)(r % 4));
        fp_pq_set_int64(w, 9, 100000 + r);
        fp_pq_set_string(w, 10, model[d % 3], 5 + (size_t)(d % 3 == 0 ? 2 : 0));
        if (fp_pq_writer_end_row(w, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
    }
    if (fp_pq_writer_close(w, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return (double)rows / (now() - t0);
}

int main(int argc, char **argv)
{
    long rows = argc > 1 ? atol(argv[1]) : 3000000;
    const char *path = argc > 2 ? argv[2] : "/tmp/pq_write.parquet";
    static const char *const names[] = {"zstd", "snappy", "none"};
    for (int c = FP_PQ_UNCOMPRESSED; c >= FP_PQ_ZSTD; c--)
        printf("parquet writer, 11 columns, codec %-6s: %.2f M rows/s\n", names[c],
               run(rows, (fp_pq_codec)c, path) / 1e6);
    return 0;
}
