/* metrics.c — the runtime's Prometheus families (fleetpipe_connect_*) and its health check.
 *
 * Both read task counters (atomics), histograms and the lag each task thread publishes under
 * its task mutex, holding fp_connect.mu so connectors do not come and go meanwhile.
 * Threads: any (the metrics server's scrape thread, health probes).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "connect/connect_int.h"
#include "core/time.h"
#include "ops/metrics.h"

/* ---------------------------------------------------------------- metrics */

static const char *const task_states[] = {"RUNNING", "PAUSED", "FAILED", "UNASSIGNED"};

void fp_connect_metrics(void *ctx, fp_metrics_out *m)
{
    fp_connect *c = ctx;
    static const struct {
        const char *name, *help;
        int which;
    } counters[] = {
        {"fleetpipe_connect_records_in_total", "records consumed from Kafka", 0},
        {"fleetpipe_connect_records_out_total", "records the sink made durable", 1},
        {"fleetpipe_connect_records_dead_lettered_total", "records sent to the dead-letter path",
         2},
        {"fleetpipe_connect_retries_total", "sink retries (pause, back off, replay)", 3},
        {"fleetpipe_connect_records_dropped_total",
         "bad records dropped (errors.tolerance=all without a dead-letter topic)", 4},
        {"fleetpipe_connect_sink_objects_total",
         "what the sink made durable, in its unit: objects (objstore), batches (dynamodb), "
         "windows emitted (aggregate)",
         5},
        {"fleetpipe_connect_fetch_wakes_total",
         "wake calls to librdkafka's fetcher after the task's prefetch queue was full and "
         "drained (a backlog); 0 while the task keeps up",
         6},
    };
    char tid[16];
    pthread_mutex_lock(&c->mu);
    for (size_t f = 0; f < sizeof counters / sizeof counters[0]; f++) {
        fp_metrics_family(m, counters[f].name, FP_METRIC_COUNTER, counters[f].help);
        for (size_t i = 0; i < c->nconns; i++) {
            connector *k = c->conns[i];
            for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
                task *t = &k->tasks[j];
                snprintf(tid, sizeof tid, "%d", j);
                const char *lb[] = {"connector", k->cf.name, "task", tid, NULL};
                uint64_t v = counters[f].which == 0   ? atomic_load(&t->in)
                             : counters[f].which == 1 ? atomic_load(&t->stats.records)
                             : counters[f].which == 2 ? atomic_load(&t->dead)
                             : counters[f].which == 3 ? atomic_load(&t->retries)
                             : counters[f].which == 4 ? atomic_load(&t->dropped)
                             : counters[f].which == 5 ? atomic_load(&t->stats.objects)
                                                      : atomic_load(&t->fetch_wakes);
                fp_metrics_sample_u64(m, lb, v);
            }
        }
    }
    for (int h = 0; h < 2; h++) {
        fp_metrics_family(
            m, h ? "fleetpipe_connect_batch_records" : "fleetpipe_connect_sink_latency_seconds",
            FP_METRIC_HISTOGRAM,
            h ? "records per put() batch" : "time of the sink's put and flush calls");
        for (size_t i = 0; i < c->nconns; i++) {
            connector *k = c->conns[i];
            for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
                snprintf(tid, sizeof tid, "%d", j);
                const char *lb[] = {"connector", k->cf.name, "task", tid, NULL};
                fp_metrics_sample_hist(m, lb, h ? &k->tasks[j].batch : &k->tasks[j].latency);
            }
        }
    }
    fp_metrics_family(m, "fleetpipe_connect_record_age_seconds", FP_METRIC_HISTOGRAM,
                      "wall time when the sink made a record durable minus its event time "
                      "(record.age.field, default messaged_at): end-to-end latency to this sink");
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            snprintf(tid, sizeof tid, "%d", j);
            const char *lb[] = {"connector", k->cf.name, "task", tid, NULL};
            fp_metrics_sample_hist(m, lb, &k->tasks[j].age);
        }
    }
    fp_metrics_family(m, "fleetpipe_connect_task_memory_budget_bytes", FP_METRIC_GAUGE,
                      "the task's share of the worker's memory budget (part=share) and what it "
                      "is in effect after consumer.override.*: the consumer queue "
                      "(queued.max.messages.kbytes), one fetch (fetch.max.bytes), one "
                      "partition's fetch (max.partition.fetch.bytes), the put() batch");
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            const task_budget *b = &k->tasks[j].mem;
            const struct {
                const char *part;
                int64_t v;
            } parts[] = {{"share", b->share},
                         {"queue", b->eff_queue_kbytes * 1024},
                         {"fetch", b->eff_fetch_max_bytes},
                         {"partition_fetch", b->eff_partition_fetch_bytes},
                         {"batch", b->batch_bytes}};
            snprintf(tid, sizeof tid, "%d", j);
            for (size_t q = 0; b->share && q < sizeof parts / sizeof parts[0]; q++) {
                const char *lb[] = {"connector", k->cf.name,    "task", tid,
                                    "part",      parts[q].part, NULL};
                fp_metrics_sample_u64(m, lb, parts[q].v > 0 ? (uint64_t)parts[q].v : 0);
            }
        }
    }
    fp_metrics_family(m, "fleetpipe_connect_consumer_lag", FP_METRIC_GAUGE,
                      "records behind the high watermark, per assigned partition");
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            snprintf(tid, sizeof tid, "%d", j);
            pthread_mutex_lock(&t->mu);
            for (size_t l = 0; l < t->nlags; l++) {
                if (t->lags[l].lag < 0)
                    continue; /* unknown is no sample, never 0 */
                char part[16];
                snprintf(part, sizeof part, "%" PRId32, t->lags[l].partition);
                const char *lb[] = {"connector",      k->cf.name,  "task", tid, "topic",
                                    t->lags[l].topic, "partition", part,   NULL};
                fp_metrics_sample(m, lb, (double)t->lags[l].lag);
            }
            pthread_mutex_unlock(&t->mu);
        }
    }
    fp_metrics_family(m, "fleetpipe_connect_records_lost_total", FP_METRIC_COUNTER,
                      "records retention deleted before they were consumed, per partition");
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            snprintf(tid, sizeof tid, "%d", j);
            pthread_mutex_lock(&t->mu);
            for (size_t l = 0; l < t->nlosts; l++) {
                char part[16];
                snprintf(part, sizeof part, "%" PRId32, t->losts[l].partition);
                const char *lb[] = {"connector",       k->cf.name,  "task", tid, "topic",
                                    t->losts[l].topic, "partition", part,   NULL};
                fp_metrics_sample_u64(m, lb, t->losts[l].n);
            }
            pthread_mutex_unlock(&t->mu);
        }
    }
    fp_metrics_family(m, "fleetpipe_connect_task_state", FP_METRIC_GAUGE,
                      "1 for the task's current state");
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            const char *cur = fp_connect_task_state(k, &k->tasks[j]);
            snprintf(tid, sizeof tid, "%d", j);
            for (size_t s = 0; s < 4; s++) {
                const char *lb[] = {"connector", k->cf.name,     "task", tid,
                                    "state",     task_states[s], NULL};
                fp_metrics_sample(m, lb, strcmp(cur, task_states[s]) ? 0 : 1);
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
}

bool fp_connect_task_blocked(task *t, char *why, size_t n)
{
    int64_t down = atomic_load(&t->kafka_down_since), unjoined = atomic_load(&t->unjoined_since);
    int st = atomic_load(&t->state);
    if (st != T_RUNNING && st != T_STARTING)
        return false;
    if (down) {
        pthread_mutex_lock(&t->mu);
        snprintf(why, n, "Kafka unreachable for %" PRId64 " s: %s",
                 (fp_time_mono_ms() - down) / 1000, t->kafka_error);
        pthread_mutex_unlock(&t->mu);
        return true;
    }
    if (unjoined) {
        snprintf(why, n,
                 "consumer group connect-%s not joined (no partitions assigned) for %" PRId64 " s",
                 t->c->cf.name, (fp_time_mono_ms() - unjoined) / 1000);
        return true;
    }
    return false;
}

bool fp_connect_healthy(void *ctx, fp_buf *reason)
{
    fp_connect *c = ctx;
    bool ok = true;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nconns; i++) {
        connector *k = c->conns[i];
        for (int j = 0; k->tasks && j < k->cf.tasks_max; j++) {
            task *t = &k->tasks[j];
            char why[400];
            int64_t now = fp_time_mono_ms(), since = atomic_load(&t->retrying_since);
            if (atomic_load(&t->kafka_down_since) ||
                (atomic_load(&t->unjoined_since) &&
                 now - atomic_load(&t->unjoined_since) > FP_CONNECT_UNASSIGNED_BOUND_MS)) {
                if (fp_connect_task_blocked(t, why, sizeof why)) {
                    ok = false;
                    fp_buf_printf(reason, "connector %s task %d: %s\n", k->cf.name, j, why);
                }
                continue;
            }
            if (since && atomic_load(&t->state) == T_RUNNING &&
                now - since > FP_CONNECT_RETRY_BOUND_MS) {
                ok = false;
                fp_buf_printf(
                    reason,
                    "connector %s task %d: the sink has been failing (retrying) for %" PRId64
                    " s\n",
                    k->cf.name, j, (now - since) / 1000);
                continue;
            }
            if (atomic_load(&t->state) != T_FAILED)
                continue;
            ok = false;
            pthread_mutex_lock(&t->mu);
            fp_buf_printf(reason, "connector %s task %d FAILED: %s\n", k->cf.name, j, t->trace);
            pthread_mutex_unlock(&t->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}
