/* jsonl.h — runs JSON lines through a transform chain: the engine of `fleetpipe transform`,
 * shared with the data-driven tests so that both exercise the same code path.
 *
 * Input is read in 1 MiB blocks and split with memchr; a line longer than FP_JSONL_MAX_LINE is
 * skipped in bounded memory and reported as a dead letter with only its first bytes. Empty lines
 * are skipped and not counted. Every other line ends up in exactly one place: one or more output
 * lines (zero when a Filter or an empty split drops it) or one dead-letter line:
 *
 *   {"error":{"class":"invalid","message":"..."},"line":N,"input":"<original line>"}
 *
 * The original line is quoted with fp_json_quote(), so invalid UTF-8 still gives valid JSON
 * (fp_json_quote_raw: each byte outside valid UTF-8 as "\u00XX", its Latin-1 reading). A truncated
 * input adds "input_truncated":true,"input_bytes":<full length>.
 */
#ifndef FP_XFORM_JSONL_H
#define FP_XFORM_JSONL_H

#include <stdint.h>
#include <stdio.h>

#include "xform/xform.h"

#define FP_JSONL_MAX_LINE (FP_XFORM_MAX_MSG + 64 * 1024)

typedef struct fp_jsonl_opts {
    const char *topic;    /* NULL: places are "line N" */
    int32_t partition;    /* -1 when unknown */
    int64_t offset_start; /* offset of line 1; -1 when unknown (then offsets are -1) */
    int64_t timestamp_ms; /* -1 when unknown */
} fp_jsonl_opts;

typedef struct fp_jsonl_stats {
    uint64_t in, out, dead;
} fp_jsonl_stats;

/* Loads a connector-style JSON properties file and builds its chain. Keys under
 * "transforms.<alias>." and "predicates.<alias>." that nothing claimed are errors naming the
 * key; every other connector key (name, connector.class, topics, errors.*, ...) is ignored so a
 * real connector file can be used as is. Returns FP_ERR_CONFIG on any problem. On success the
 * caller owns *out and frees it with fp_xform_chain_free(). */
fp_code fp_xform_chain_load(const char *path, fp_xform_chain **out, fp_err *err);

/* Transforms every line of in. dead may be NULL (dead letters are then only counted). Returns
 * FP_ERR_IO (with err) on a read or write error; bad records are never an error of the run. */
fp_code fp_xform_jsonl_run(fp_xform_chain *c, const fp_jsonl_opts *o, FILE *in, FILE *out,
                           FILE *dead, fp_jsonl_stats *st, fp_err *err);

#endif
