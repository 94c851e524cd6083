/* xform.h — Kafka Connect style single-message transforms, one record in, zero or more out.
 *
 * A connector's properties name a chain ("transforms": "split,pk", then
 * "transforms.split.type": "SplitArrayField", "transforms.split.field": "measurements", ...).
 * fp_xform_chain_apply() runs one JSON message through the chain without building a tree: the
 * record is a list of top-level members as byte ranges (core/json.h), transforms splice ranges,
 * and outputs are serialised JSON objects whose numbers keep the input's exact digits.
 *
 * All or nothing: if any transform rejects the message (missing template field, not an object,
 * invalid JSON, ...) apply() appends no output and returns FP_ERR_INVALID / FP_ERR_LIMIT with a
 * message naming the transform and the record's place (topic/partition@offset); the caller
 * sends the original bytes to the dead-letter path.
 *
 * Errors read "transform <alias> (<Type>): <reason> in record at <place>", where place is
 * topic/partition@offset, or meta->where when there is no topic.
 *
 * Duplicate keys: the last occurrence wins (JSON.parse semantics) at the position of the first,
 * and every output object has each key once. Keys written with escapes are re-escaped in
 * canonical form ("\u0061" is output as "a"); values are copied byte for byte, so numbers keep
 * their exact digits and strings their escapes.
 *
 * Threads: a chain is read-only after fp_xform_chain_new() except for the scratch space it
 * keeps for apply(), so each task thread builds its own chain.
 */
#ifndef FP_XFORM_H
#define FP_XFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/props.h"

typedef struct fp_rec_meta {
    const char *topic;    /* may be NULL (fleetpipe transform with no topic) */
    int32_t partition;    /* -1 when unknown */
    int64_t offset;       /* -1 when unknown */
    int64_t timestamp_ms; /* record timestamp, -1 when unknown */
    const char *where;    /* place for errors when topic is NULL ("line 12"); may be NULL */
} fp_rec_meta;

/* PROTOCOLS.md: a message is at most 1 MiB; longer ones are FP_ERR_LIMIT before parsing. */
#define FP_XFORM_MAX_MSG (1u << 20)
/* A split can multiply a message (every element copies the parent); the outputs of one message
 * are held until it is known to be good (all or nothing), so they have a budget too. */
#define FP_XFORM_MAX_OUT (64u << 20)

/* One top-level member of an output record, as offsets from the record's first byte: the key
 * between its quotes (canonical raw form, see the top of this file; kesc: it has a backslash)
 * and the value's text. Lets a consumer of the records find fields without scanning the JSON
 * that the chain has just written. */
typedef struct fp_xform_member {
    uint32_t k, kn, v, vn;
    bool kesc;
} fp_xform_member;

/* Output records of one or more apply() calls, concatenated in data; record i is
 * data.p[off[i] .. off[i]+len[i]). The caller owns it; reset between batches. */
typedef struct fp_xform_out {
    fp_buf data;
    size_t *off, *len;
    size_t n, cap;
    char sep; /* when not 0, written after each record in data (not counted in len[i]) */
    /* Set by the caller: also keep every record's top-level members, record i's being
     * mem[moff[i] .. moff[i] + mcnt[i]) (records from fp_xform_out_add() have none). */
    bool members;
    fp_xform_member *mem;
    size_t *moff, *mcnt;
    size_t mn, mcap;
} fp_xform_out;

void fp_xform_out_reset(fp_xform_out *o);
void fp_xform_out_free(fp_xform_out *o);
/* Appends [p, p+n) to o as one record (untransformed: raw sinks, connect/sink.h). */
void fp_xform_out_add(fp_xform_out *o, const void *p, size_t n);
/* Drops the records from n on, and the bytes from data_len on (both values read from o before
 * the records were added): all or nothing for one message. */
void fp_xform_out_truncate(fp_xform_out *o, size_t n, size_t data_len);

typedef struct fp_xform_chain fp_xform_chain;

/* Builds a chain from props: "transforms", "transforms.<alias>.*", "predicates",
 * "predicates.<alias>.*" and the converter form "converter.split.list.key". Every key it reads
 * is marked used, so the caller's fp_props_check_used() reports unknown transform keys. An empty
 * chain passes valid JSON objects through unchanged (still validated). */
fp_code fp_xform_chain_new(fp_props *props, fp_xform_chain **out, fp_err *err);
void fp_xform_chain_free(fp_xform_chain *c);
/* Number of transforms in the chain (0: it only validates). */
size_t fp_xform_chain_len(const fp_xform_chain *c);

fp_code fp_xform_chain_apply(fp_xform_chain *c, const fp_rec_meta *meta, const char *json,
                             size_t len, fp_xform_out *out, fp_err *err);

/* Prints every transform and predicate type with its config keys (for `fleetpipe help`). */
void fp_xform_print_help(FILE *f);

#endif
