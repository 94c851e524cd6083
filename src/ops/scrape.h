/* scrape.h — the reading side of /metrics: an HTTP GET of a Prometheus text page (format 0.0.4)
 * and a parser into samples, for `fleetpipe loadtest`, which scrapes every part of a pipeline
 * once a second.
 *
 * The one thing to know: a page is parsed into flat samples (name with its _bucket/_sum/_count
 * suffix, label pairs, value); comments (# HELP, # TYPE) and timestamps are skipped, and a line
 * that does not parse fails the whole page with its line number, so a half-read page never
 * looks like a counter reset. Sums over label subsets answer most questions (fp_scrape_sum).
 *
 * Threads: an fp_scrape_conn is used by one thread at a time; pages are plain data.
 */
#ifndef FP_OPS_SCRAPE_H
#define FP_OPS_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"

typedef struct fp_scrape_sample {
    char *name;     /* "fleetpipe_connect_record_age_seconds_bucket" */
    char **labels;  /* name, value, name, value, ... (values unescaped) */
    size_t nlabels; /* pairs */
    double value;
} fp_scrape_sample;

typedef struct fp_scrape_page {
    fp_scrape_sample *v;
    size_t n, cap;
} fp_scrape_page;

/* Parses text (len bytes) into *page (reset first). FP_ERR_INVALID "line N: ..." on a line that
 * is not a sample of the text format. */
fp_code fp_scrape_parse(const char *text, size_t len, fp_scrape_page *page, fp_err *err);
void fp_scrape_page_free(fp_scrape_page *page);

/* The value of label name in s, NULL when it has none. */
const char *fp_scrape_label(const fp_scrape_sample *s, const char *name);
/* Sum of the samples called name whose labels include every pair of match (NULL-terminated
 * name, value list; NULL: any). *found (may be NULL) says whether any sample matched. */
double fp_scrape_sum(const fp_scrape_page *page, const char *name, const char *const *match,
                     int *found);

/* One keep-alive HTTP connection to a metrics endpoint (libcurl easy handle). */
typedef struct fp_scrape_conn fp_scrape_conn;
fp_scrape_conn *fp_scrape_conn_new(void);
void fp_scrape_conn_free(fp_scrape_conn *c);
/* GETs url into body (reset first). FP_ERR_IO naming the URL when it cannot be reached or does
 * not answer 200 within timeout_ms. */
fp_code fp_scrape_get(fp_scrape_conn *c, const char *url, int64_t timeout_ms, fp_buf *body,
                      fp_err *err);

#endif
