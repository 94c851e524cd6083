/* sched_int.h — the parsed pipeline, shared by dag.c (parsing, templates) and sched.c (the
 * loop). Internal to src/warehouse.
 */
#ifndef FP_WAREHOUSE_SCHED_INT_H
#define FP_WAREHOUSE_SCHED_INT_H

#include "check/check.h"
#include "ops/metrics.h"
#include "warehouse/sched.h"

typedef enum fp_wh_task_kind {
    FP_WH_TASK_LOAD,  /* warehouse load of the interval's partitions */
    FP_WH_TASK_MART,  /* DELETE the interval from `table`, INSERT the SQL file's SELECT */
    FP_WH_TASK_SQL,   /* the SQL file's statements in one transaction */
    FP_WH_TASK_CHECK, /* the data-quality checks of `checks` over the interval (check/check.h) */
} fp_wh_task_kind;

typedef struct fp_wh_task {
    char *id;
    fp_wh_task_kind kind;
    char *sql;            /* the SQL file's text (mart, sql); owned */
    char *table;          /* mart: the table it replaces */
    char *delete_where;   /* mart: the interval's rows (a template) */
    fp_check_set *checks; /* check: loaded with the pipeline; owned */
    char *only;           /* check: comma-separated names, or NULL: all */
    char *every;          /* check: "hour" or "day" (the checks of files saying so), or NULL */
    size_t *upstream;     /* indices into the DAG's tasks */
    size_t nupstream;
    int retries;                /* tries = retries + 1 */
    int64_t retry_delay_ms;     /* first delay */
    int64_t max_retry_delay_ms; /* cap */
    double jitter;              /* 0..1: each delay is scaled by 1 ± jitter */
    int64_t timeout_ms;         /* 0: none */
    /* metrics, written by the loop's thread, read by scrapes */
    fp_metrics_hist duration;
    _Atomic int64_t rows_total;
    _Atomic int64_t freshness_end_ms; /* newest succeeded interval end; 0: none */
} fp_wh_task;

typedef struct fp_wh_dag {
    char *id;
    char *step;     /* PostgreSQL interval: "1 hour", "1 day", "900000 milliseconds" */
    char *timezone; /* IANA name, e.g. "Asia/Seoul" */
    char *start;    /* local wall time "YYYY-MM-DD HH:MM:SS" in timezone */
    char *end;      /* the same, or NULL: open-ended */
    bool catchup;
    int max_active_runs;
    int64_t deadline_ms;     /* 0: none */
    bool wait_watermark;     /* load tasks wait for the lake watermark */
    bool rerun_on_late_data; /* re-queue marts whose input was loaded again */
    size_t *wait_for;        /* indices of DAGs that must have succeeded over the interval */
    size_t nwait_for;
    /* How far before an interval's start and after its end its tasks read input: the wait for
     * wait_for DAGs and the late-data re-runs cover [start - reads_before, end + reads_after). */
    int64_t reads_before_ms, reads_after_ms;
    json_t *params; /* the pipeline's params merged with the DAG's; owned */
    fp_wh_task *tasks;
    size_t ntasks;
    _Atomic int64_t deadline_missed_total;
} fp_wh_dag;

struct fp_wh_pipeline {
    char *path;
    char *lake_url; /* the "lake" key, or NULL */
    fp_wh_dag *dags;
    size_t ndags;
};

/* The task and DAG of a name; NULL when unknown. */
const fp_wh_dag *fp_wh_dag_find(const fp_wh_pipeline *p, const char *id);
long fp_wh_task_index(const fp_wh_dag *d, const char *id);

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]" into "YYYY-MM-DD HH:MM:SS" (*out owned by the
 * caller); FP_ERR_CONFIG naming what otherwise. */
fp_code fp_wh_local_parse(const char *s, char **out, const char *what, fp_err *err);

#endif
