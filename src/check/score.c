/* score.c — precision and recall of the raw-data checks against the simulator's truth file.
 *
 * The truth names each anomalous message by (vehicle_id, seq); the checks name the rows they
 * fail by (id, seq). Both sides are small (a truth line per anomalous message, a hit per failing
 * row), so everything is sorted arrays and binary search: no hash table, no tree of the file.
 * Dead letters have no seq in the lake (the bridge keeps the bytes, which may be the very thing
 * that was broken), so their kinds are scored by count per device. A kind whose checks name the
 * fields they target (stuck_sensor) is scored over the truth lines of those fields only. The
 * rules are the header's
 * and docs/checks.md's "Scoring"; keep the three in step.
 */
#include "check/score.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/time.h"

typedef struct key {
    int kind; /* index into the kind table */
    int64_t id, seq;
    bool in_interval, noop;
    bool untargeted; /* a field no check of its kind targets */
} key;

typedef struct kind_stat {
    char *name;
    bool count_match; /* dead-letter kind */
    json_t *fields;   /* the fields its checks target (array), or NULL: every truth line */
    int64_t truth, noop, untargeted, detected, tp, fp, fn;
} kind_stat;

typedef struct kinds {
    kind_stat *v;
    size_t n, cap;
} kinds;

static int kind_index(kinds *ks, const char *name)
{
    for (size_t i = 0; i < ks->n; i++)
        if (!strcmp(ks->v[i].name, name))
            return (int)i;
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 16;
        ks->v = fp_xrealloc(ks->v, ks->cap * sizeof *ks->v);
    }
    memset(&ks->v[ks->n], 0, sizeof ks->v[ks->n]);
    ks->v[ks->n].name = fp_xstrdup(name);
    return (int)ks->n++;
}

static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return 0;
}

/* The number in a device id ("dev-000007": 7), the device segment of fms/<device>/...; 0 when
 * there is none. */
static int64_t topic_device_number(const char *topic)
{
    const char *p = topic && !strncmp(topic, "fms/", 4) ? topic + 4 : NULL;
    if (!p)
        return 0;
    while (*p && *p != '/' && (*p < '0' || *p > '9'))
        p++;
    int64_t n = 0;
    bool any = false;
    while (*p >= '0' && *p <= '9' && n < INT64_MAX / 10) {
        n = n * 10 + (*p++ - '0');
        any = true;
    }
    return any && (*p == '/' || !*p) ? n : 0;
}

/* Whether a truth line of kind s is outside the fields its checks target: its detail names a
 * field ("field speed") that is not one of them. */
static bool untargeted(const kind_stat *s, const char *detail)
{
    if (!s->fields || !detail || strncmp(detail, "field ", 6))
        return false;
    size_t i;
    json_t *f;
    json_array_foreach(s->fields, i, f)
    {
        if (!strcmp(json_string_value(f), detail + 6))
            return false;
    }
    return true;
}

static fp_code read_truth(const char *path, int64_t from_ms, int64_t to_ms, kinds *ks, key **out,
                          size_t *nout, int64_t *lines, fp_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fp_err_set(err, FP_ERR_IO, "truth file %s: %s", path, strerror(errno));
    key *v = NULL;
    size_t n = 0, cap = 0, len = 0;
    char *line = NULL;
    ssize_t got;
    long lineno = 0;
    fp_code rc = FP_OK;
    bool filter = from_ms < to_ms;
    while (!rc && (got = getline(&line, &len, f)) >= 0) {
        lineno++;
        if (got <= 1 && (got == 0 || line[0] == '\n'))
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)got, JSON_DECODE_ANY, &je);
        if (!json_is_object(o)) {
            rc = fp_err_set(err, FP_ERR_INVALID, "truth file %s line %ld: not a JSON object%s%s",
                            path, lineno, o ? "" : ": ", o ? "" : je.text);
            json_decref(o);
            break;
        }
        if (json_object_get(o, "kind")) { /* a daily summary line */
            json_decref(o);
            continue;
        }
        const char *anomaly = json_string_value(json_object_get(o, "anomaly"));
        json_t *vid = json_object_get(o, "vehicle_id"), *seq = json_object_get(o, "seq");
        const char *at = json_string_value(json_object_get(o, "messaged_at"));
        int64_t at_ms = 0;
        if (!anomaly || !json_is_integer(vid) || !json_is_integer(seq)) {
            rc = fp_err_set(err, FP_ERR_INVALID,
                            "truth file %s line %ld: an anomaly line needs anomaly, vehicle_id "
                            "and seq",
                            path, lineno);
        } else if (filter && (!at || fp_time_parse_iso(at, strlen(at), &at_ms, NULL))) {
            rc =
                fp_err_set(err, FP_ERR_INVALID,
                           "truth file %s line %ld: no messaged_at to place it in the interval "
                           "(a truth file of an older fleetpipe sim: score it without --from/--to)",
                           path, lineno);
        } else {
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                v = fp_xrealloc(v, cap * sizeof *v);
            }
            int k = kind_index(ks, anomaly);
            bool dl = json_is_true(json_object_get(o, "dead_letter"));
            if (dl)
                ks->v[k].count_match = true;
            v[n] = (key){
                .kind = k,
                .id = dl ? topic_device_number(json_string_value(json_object_get(o, "mqtt_topic")))
                         : json_integer_value(vid),
                .seq = dl ? FP_CHECK_NO_SEQ : json_integer_value(seq),
                .in_interval = !filter || (at_ms >= from_ms && at_ms < to_ms),
                .noop = json_is_true(json_object_get(o, "noop")),
                .untargeted =
                    untargeted(&ks->v[k], json_string_value(json_object_get(o, "detail")))};
            n++;
            (*lines)++;
        }
        json_decref(o);
    }
    if (!rc && ferror(f))
        rc = fp_err_set(err, FP_ERR_IO, "truth file %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *nout = n;
    return FP_OK;
}

static json_t *ratio(int64_t num, int64_t den)
{
    return den ? json_real((double)num / (double)den) : json_null();
}

fp_code fp_check_score(const char *truth_path, const fp_check_hit *hits, size_t nhits,
                       const fp_check_scope *scope, size_t nscope, int64_t from_ms, int64_t to_ms,
                       json_t **report, fp_err *err)
{
    kinds ks = {0};
    key *truth = NULL;
    size_t ntruth = 0;
    int64_t lines = 0, ignored = 0;
    for (size_t i = 0; i < nscope; i++) {
        int k = kind_index(&ks, scope[i].anomaly); /* may move ks.v */
        kind_stat *s = &ks.v[k];
        if (!s->fields)
            s->fields = json_array();
        json_array_append_new(s->fields, json_string(scope[i].field));
    }
    fp_code rc = read_truth(truth_path, from_ms, to_ms, &ks, &truth, &ntruth, &lines, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < ntruth; i++) {
        kind_stat *s = &ks.v[truth[i].kind];
        if (truth[i].in_interval && truth[i].noop)
            s->noop++;
        else if (truth[i].in_interval && truth[i].untargeted)
            s->untargeted++;
        else if (truth[i].in_interval)
            s->truth++;
    }
    /* Hits: a kind scored by count when its truth says dead letter or a hit has no seq. */
    key *h = fp_xcalloc(nhits ? nhits : 1, sizeof *h);
    for (size_t i = 0; i < nhits; i++) {
        int k = kind_index(&ks, hits[i].anomaly ? hits[i].anomaly : "");
        if (hits[i].seq < 0)
            ks.v[k].count_match = true;
        h[i] = (key){
            .kind = k, .id = hits[i].id, .seq = hits[i].seq < 0 ? FP_CHECK_NO_SEQ : hits[i].seq};
    }
    for (size_t i = 0; i < nhits; i++)
        if (ks.v[h[i].kind].count_match)
            h[i].seq = FP_CHECK_NO_SEQ;
    for (size_t i = 0; i < ntruth; i++)
        if (ks.v[truth[i].kind].count_match && truth[i].seq >= 0) {
            /* a dead-letter kind named by a message-kind truth line: by its own device */
            truth[i].seq = FP_CHECK_NO_SEQ;
        }
    qsort(h, nhits, sizeof *h, key_cmp);
    qsort(truth, ntruth, sizeof *truth, key_cmp);
    /* Walk hits in groups of one key; a message kind's group counts once. */
    for (size_t i = 0; i < nhits;) {
        size_t j = i;
        while (j < nhits && !key_cmp(&h[i], &h[j]))
            j++;
        kind_stat *s = &ks.v[h[i].kind];
        int64_t nh = s->count_match ? (int64_t)(j - i) : 1;
        /* the truth lines of this key: in the interval and effective, or to be ignored */
        key probe = h[i];
        const key *t = bsearch(&probe, truth, ntruth, sizeof *truth, key_cmp);
        size_t lo = 0, hi = 0;
        if (t) {
            lo = hi = (size_t)(t - truth);
            while (lo > 0 && !key_cmp(&truth[lo - 1], &probe))
                lo--;
            while (hi < ntruth && !key_cmp(&truth[hi], &probe))
                hi++;
        }
        int64_t live = 0, other = 0;
        for (size_t q = lo; q < hi; q++) {
            if (truth[q].in_interval && !truth[q].noop && !truth[q].untargeted)
                live++;
            else
                other++;
        }
        int64_t tp = nh < live ? nh : live, rest = nh - tp;
        int64_t ign = rest < other ? rest : other;
        s->tp += tp;
        s->fp += rest - ign;
        s->detected += tp + rest - ign;
        ignored += ign;
        i = j;
    }
    free(h);
    json_t *kj = json_object();
    for (size_t i = 0; i < ks.n; i++) {
        kind_stat *s = &ks.v[i];
        s->fn = s->truth - s->tp;
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "match",
                              s->count_match ? "count" : "seq", "truth", (json_int_t)s->truth,
                              "noop", (json_int_t)s->noop, "detected", (json_int_t)s->detected,
                              "true_positive", (json_int_t)s->tp, "false_positive",
                              (json_int_t)s->fp, "false_negative", (json_int_t)s->fn, "precision",
                              ratio(s->tp, s->detected), "recall", ratio(s->tp, s->truth));
        if (s->fields) {
            json_object_set(o, "fields", s->fields);
            json_object_set_new(o, "untargeted", json_integer((json_int_t)s->untargeted));
        }
        json_object_set_new(kj, s->name, o);
    }
    json_t *r = json_object();
    if (from_ms < to_ms) {
        fp_buf b = FP_BUF_INIT;
        fp_time_format_iso(from_ms, &b);
        json_object_set_new(r, "from", json_string(b.p));
        fp_buf_reset(&b);
        fp_time_format_iso(to_ms, &b);
        json_object_set_new(r, "to", json_string(b.p));
        fp_buf_free(&b);
    } else {
        json_object_set_new(r, "from", json_null());
        json_object_set_new(r, "to", json_null());
    }
    json_object_set_new(r, "truth_lines", json_integer(lines));
    json_object_set_new(r, "hits", json_integer((json_int_t)nhits));
    json_object_set_new(r, "ignored", json_integer(ignored));
    json_object_set_new(r, "kinds", kj);
    *report = r;
out:
    for (size_t i = 0; i < ks.n; i++) {
        free(ks.v[i].name);
        json_decref(ks.v[i].fields);
    }
    free(ks.v);
    free(truth);
    return rc;
}
