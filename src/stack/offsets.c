/* offsets.c — the dev broker's offsets across its restarts (stack_int.h, "The dev broker's
 * offsets").
 *
 * `fleetpipe broker` keeps everything in memory: a restarted one has every topic again, empty,
 * with offsets from 0. The objstore sink names an object <topic>+<partition>+<first offset>, so
 * a raw object made after the restart could take the name of one made before it in the same
 * hour and replace it (and its Parquet twin). The supervisor therefore records every
 * partition's end offset while the broker runs, and before the Kafka clients start on a fresh
 * broker it fills each partition up to that offset with padding records (no key, no value,
 * header fleetpipe.padding=1) and commits every connector's group at the end of the padding:
 * the connectors never read it, and the next object starts where the last one ended.
 * Records that were in the old broker but in no sink yet are gone (docs/stack.md).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kafka/kafka.h"
#include "stack/stack_int.h"

#define PAD_HEADER "fleetpipe.padding"

static bool padded_topic(const char *t)
{
    return !strncmp(t, "fms.", 4);
}

/* {"topic": [end offset per partition]} of the fms.* topics, or NULL with err. */
static json_t *end_offsets(rd_kafka_t *rk, fp_err *err)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 5000);
    if (e) {
        fp_kafka_err(err, e, "metadata");
        return NULL;
    }
    json_t *out = json_object();
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (!padded_topic(t->topic) || t->err)
            continue;
        json_t *arr = json_array();
        for (int p = 0; p < t->partition_cnt; p++) {
            int64_t lo = 0, hi = 0;
            e = rd_kafka_query_watermark_offsets(rk, t->topic, p, &lo, &hi, 5000);
            if (e) {
                fp_kafka_err(err, e, t->topic);
                json_decref(arr);
                json_decref(out);
                rd_kafka_metadata_destroy(md);
                return NULL;
            }
            json_array_append_new(arr, json_integer(hi));
        }
        json_object_set_new(out, t->topic, arr);
    }
    rd_kafka_metadata_destroy(md);
    return out;
}

static rd_kafka_t *consumer(const char *bootstrap, const char *group, fp_err *err)
{
    fp_kafka_consumer_opts co = {.bootstrap = bootstrap, .group = group, .dev_broker = true};
    return fp_kafka_consumer_new(&co, err);
}

fp_code fp_stack_offsets_save(const char *bootstrap, const char *path, fp_err *err)
{
    rd_kafka_t *rk = consumer(bootstrap, "fleetpipe-stack", err);
    if (!rk)
        return err->code;
    json_t *now = end_offsets(rk, err);
    fp_kafka_consumer_close(rk, 2000, NULL, "stack");
    if (!now)
        return err->code;
    /* Never lower a recorded offset: a fresh broker reads 0 until it is padded. */
    json_t *old = json_load_file(path, 0, NULL);
    json_t *ot = json_object_get(old, "topics");
    const char *topic;
    json_t *arr;
    json_object_foreach(ot, topic, arr)
    {
        json_t *na = json_object_get(now, topic);
        if (!na) {
            json_object_set(now, topic, arr);
            continue;
        }
        for (size_t i = 0; i < json_array_size(arr) && i < json_array_size(na); i++)
            if (json_integer_value(json_array_get(arr, i)) >
                json_integer_value(json_array_get(na, i)))
                json_array_set(na, i, json_array_get(arr, i));
    }
    json_decref(old);
    json_t *doc = json_pack("{s:o}", "topics", now);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    fp_code rc = fp_stack_write_file(path, text, err);
    free(text);
    return rc;
}

typedef struct pad_ctx {
    int64_t delivered, failed;
    char first_error[200];
} pad_ctx;

static void pad_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    pad_ctx *c = opaque;
    if (m->err) {
        if (!c->failed++)
            snprintf(c->first_error, sizeof c->first_error, "%s", rd_kafka_err2str(m->err));
    } else {
        c->delivered++;
    }
}

fp_code fp_stack_offsets_continue(const char *bootstrap, const char *path, const fp_strv *groups,
                                  int64_t *padded, fp_err *err)
{
    *padded = 0;
    json_t *doc = json_load_file(path, 0, NULL);
    json_t *want = json_object_get(doc, "topics");
    if (!json_object_size(want)) {
        json_decref(doc);
        return FP_OK;
    }
    fp_code rc = FP_OK;
    pad_ctx pc = {0};
    rd_kafka_t *prod = fp_kafka_producer_new(bootstrap, NULL, pad_dr, &pc, err);
    rd_kafka_t *rk = prod ? consumer(bootstrap, "fleetpipe-stack", err) : NULL;
    json_t *have = rk ? end_offsets(rk, err) : NULL;
    if (rk)
        fp_kafka_consumer_close(rk, 2000, NULL, "stack");
    if (!have) {
        rc = err->code ? err->code : FP_ERR_KAFKA;
        goto out;
    }
    rd_kafka_topic_partition_list_t *commit = rd_kafka_topic_partition_list_new(64);
    const char *topic;
    json_t *arr;
    json_object_foreach(want, topic, arr)
    {
        json_t *cur = json_object_get(have, topic);
        for (size_t p = 0; p < json_array_size(arr) && p < json_array_size(cur); p++) {
            int64_t target = json_integer_value(json_array_get(arr, p));
            int64_t at = json_integer_value(json_array_get(cur, p));
            for (; at < target; at++) {
                rd_kafka_resp_err_t e;
                while ((e = rd_kafka_producev(
                            prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)p),
                            RD_KAFKA_V_VALUE(NULL, 0), RD_KAFKA_V_HEADER(PAD_HEADER, "1", 1),
                            RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    rd_kafka_poll(prod, 10);
                if (e) {
                    rc = fp_kafka_err(err, e, topic);
                    break;
                }
                (*padded)++;
            }
            if (target > 0)
                rd_kafka_topic_partition_list_add(commit, topic, (int32_t)p)->offset = target;
            if (rc)
                break;
        }
        if (rc)
            break;
    }
    rd_kafka_flush(prod, 60000);
    if (!rc && (pc.failed || pc.delivered != *padded))
        rc = fp_err_set(err, FP_ERR_KAFKA, "padding: %" PRId64 " of %" PRId64 " delivered (%s)",
                        pc.delivered, *padded, pc.first_error[0] ? pc.first_error : "timed out");
    for (size_t g = 0; !rc && g < groups->n && commit->cnt; g++) {
        rd_kafka_t *gc = consumer(bootstrap, groups->v[g], err);
        if (!gc) {
            rc = err->code;
            break;
        }
        rd_kafka_resp_err_t e = fp_kafka_commit_bounded(gc, commit, 10000);
        for (int i = 0; !e && i < commit->cnt; i++)
            e = commit->elems[i].err;
        if (e)
            rc = fp_kafka_err(err, e, groups->v[g]);
        fp_kafka_consumer_close(gc, 2000, NULL, "stack");
    }
    if (!rc)
        fp_log(FP_LOG_INFO, "stack", -1,
               "the dev broker's partitions continue at their earlier offsets: %" PRId64
               " padding records, %zu groups committed there",
               *padded, groups->n);
    rd_kafka_topic_partition_list_destroy(commit);
out:
    json_decref(have);
    if (prod)
        rd_kafka_destroy(prod);
    json_decref(doc);
    return rc;
}
