/* filter.c — Filter: drops every record it runs on (Kafka Connect's Filter).
 *
 * Kafka Connect semantics: a transform with "predicate": "p" runs only on records where p
 * matches ("negate": "true" inverts that), so Filter + predicate drops exactly the matching
 * records and Filter alone drops everything. Predicates live in predicates.c.
 */
#include <stddef.h>

#include "xform/xform_int.h"

static const fp_conf_def filter_defs[] = {{0}};

static fp_code filter_apply(fp_xform_inst *t, fp_xform_run *r, size_t idx, fp_rec *rec)
{
    return FP_OK; /* dropped: the chain does not continue */
}

const fp_xform_plugin fp_xform_filter = {
    .name = "Filter",
    .aliases = {"org.apache.kafka.connect.transforms.Filter"},
    .doc = "drops the record; use with a predicate to drop only matching records",
    .conf = filter_defs,
    .conf_size = 1,
    .apply = filter_apply,
};
