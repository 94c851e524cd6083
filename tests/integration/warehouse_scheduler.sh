#!/usr/bin/env bash
# The warehouse scheduler against a real PostgreSQL (a throwaway initdb cluster), with the DAGs
# of tests/data/warehouse/sched/: plain SQL tasks over a table src whose rows awk generates, so
# every expected number comes from awk, not from the SQL under test. Proves:
#  - catchup over 3 days in the DAG's time zone (Asia/Seoul: days start at 15:00 UTC), each
#    mart interval replaced exactly (no primary keys: a doubled run would show);
#  - a task failing twice then succeeding: tries and the exponential backoff in ops.task_tries;
#  - kill -9 of the scheduler mid-task, then a restart: the interrupted try is recorded, the
#    task re-runs, the mart holds each day once with the right numbers;
#  - max_active_runs 1: no two intervals of that DAG overlap in time;
#  - wait_for: the daily DAG over the hourly one starts only after all 24 hours succeeded;
#  - backfill with --reprocess none, failed and all (which intervals run, upstream_failed);
#  - a deadline missed is recorded; a second scheduler is refused (the lock);
#  - /metrics and /healthz of a running scheduler.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/pg.bash"
DATA=$FP_SRC/tests/data/warehouse/sched
PIPE=$DATA/pipeline.json

start_pg
pq -f "$DATA/schema.sql" >/dev/null
# src: one row every 417 s from 2026-02-28T12:00Z to 2026-03-04T00:00Z, v = i % 97.
awk 'BEGIN { for (i = 0; 1772280000 + 417 * i < 1772582400; i++) print 1772280000 + 417 * i "," i % 97 }' \
  >"$tmp/src.csv"
pq -c "CREATE TEMP TABLE raw (e bigint, v bigint)" -c "\\copy raw FROM '$tmp/src.csv' CSV" \
  -c "INSERT INTO src SELECT to_timestamp(e), v FROM raw" >/dev/null
# expected per Seoul day (UTC+9, no daylight saving): count and sum
awk -F, '{ d = int(($1 + 9 * 3600) / 86400); n[d]++; s[d] += $2 }
  END { for (d in n) { cmd = "date -u -d @" d * 86400 " +%F"; cmd | getline day; close(cmd); print day "|" n[d] "|" s[d] } }' \
  "$tmp/src.csv" | sort >"$tmp/expected_days"
expect_days() { # DAY...: the expected_days lines of these days
  for d in "$@"; do grep "^$d|" "$tmp/expected_days"; done
}

SCHED=("$FP" warehouse scheduler --pg "$PG_URL" --pipeline "$PIPE" --tick 200ms)
sched() { "${SCHED[@]}" "$@"; } # in the foreground; background runs use "${SCHED[@]}" (its pid)

# ---- a second scheduler is refused while one runs; /metrics and /healthz ----
mport=$(free_port)
"${SCHED[@]}" --metrics-listen "127.0.0.1:$mport" 2>"$tmp/sched1.log" &
spid=$!
pids+=($spid)
wait_for "the first scheduler's /healthz" 20 curl -sf "http://127.0.0.1:$mport/healthz" -o /dev/null
if sched --once 2>"$tmp/second.log"; then fail "a second scheduler ran next to the first"; fi
grep -q 'another warehouse scheduler' "$tmp/second.log" || fail "second scheduler: $(cat "$tmp/second.log")"

# ---- catchup, retries with backoff, wait_for, max_active_runs (all in the first scheduler) ----
done_all() { # every run of the scheduled DAGs finished
  [[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag <> 'manual' AND state NOT IN ('success')") == 0 &&
    $(pq -c "SELECT count(*) FROM ops.runs WHERE dag <> 'manual'") -ge $((3 * 2 + 2 + 24 + 1)) ]]
}
wait_for "the scheduled DAGs to finish" 120 done_all
metrics=$(curl -sf "http://127.0.0.1:$mport/metrics")
grep -q '^fleetpipe_warehouse_runs{dag="hourly",state="success"} 24$' <<<"$metrics" ||
  fail "metrics: no 24 hourly successes: $(grep warehouse_runs <<<"$metrics")"
grep -q '^fleetpipe_warehouse_task_duration_seconds_count{dag="catchup",task="flaky"} 9$' <<<"$metrics" ||
  fail "metrics: flaky should have 9 tries: $(grep 'duration_seconds_count' <<<"$metrics")"
grep -q '^fleetpipe_warehouse_freshness_seconds{dag="catchup",task="daily_count"} ' <<<"$metrics" ||
  fail "metrics: no freshness of the daily_count mart"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/healthz") == 200 ]] || fail "healthz not 200"

# catchup: three Seoul days, each [D-1 15:00Z, D 15:00Z), marts equal awk's numbers, once each
got=$(pq -c "SELECT day || '|' || n || '|' || total FROM mart.daily_count ORDER BY day")
[[ $got == "$(expect_days 2026-03-01 2026-03-02 2026-03-03)" ]] ||
  fail "daily_count: got $got, expected $(expect_days 2026-03-01 2026-03-02 2026-03-03)"
[[ $(pq -c "SELECT string_agg(to_char(interval_start AT TIME ZONE 'UTC', 'MM-DD HH24'), ',' ORDER BY interval_start)
             FROM ops.runs WHERE dag = 'catchup' AND task = 'daily_count'") == "02-28 15,03-01 15,03-02 15" ]] ||
  fail "catchup intervals are not the Seoul days"
# flaky: tries 1 and 2 failed, try 3 succeeded, in every interval; delays 1 s then 2 s (jitter 0)
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'catchup' AND task = 'flaky' AND state = 'success' AND try = 3") == 3 ]] ||
  fail "flaky: $(pq -c "SELECT interval_start, state, try FROM ops.runs WHERE task = 'flaky'")"
delays=$(pq -c "SELECT string_agg(DISTINCT try || ':' || round(extract(epoch FROM next_try_at - ended_at)::numeric, 1), ','
                ORDER BY try || ':' || round(extract(epoch FROM next_try_at - ended_at)::numeric, 1))
                FROM ops.task_tries WHERE task = 'flaky' AND state = 'up_for_retry'")
[[ $delays == "1:1.0,2:2.0" ]] || fail "flaky: retry delays $delays, expected 1:1.0,2:2.0"
[[ $(pq -c "SELECT count(*) FROM ops.task_tries WHERE task = 'flaky' AND error LIKE '%division by zero%'") == 6 ]] ||
  fail "flaky: the failed tries do not carry the server's error"
# max_active_runs 1: the slow DAG's tries never overlap
[[ $(pq -c "SELECT count(*) FROM ops.task_tries a JOIN ops.task_tries b ON a.dag = 'slow' AND b.dag = 'slow'
             AND a.interval_start < b.interval_start AND a.started_at < b.ended_at AND b.started_at < a.ended_at") == 0 ]] ||
  fail "slow: two intervals ran at once despite max_active_runs 1"
# wait_for: the day over the hours ran after the 24 hours, and saw all of them
got=$(pq -c "SELECT day || '|' || n || '|' || hours || '|' || (built_at > newest_hour_built) FROM mart.sum_hours")
want="2026-03-01|$(expect_days 2026-03-01 | cut -d'|' -f2)|24|true"
[[ $got == "$want" ]] || fail "sum_hours: got $got, expected $want"
kill -TERM $spid
wait $spid || fail "the scheduler did not stop cleanly on SIGTERM: $(tail -5 "$tmp/sched1.log")"

# ---- kill -9 mid-task, restart ----
pq -c "DELETE FROM mart.slow_count; UPDATE ops.runs SET state = 'scheduled', try = 0 WHERE dag = 'slow'" >/dev/null
"${SCHED[@]}" 2>"$tmp/sched2.log" &
spid=$!
pids+=($spid)
running() { [[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'slow' AND state = 'running'") == 1 ]]; }
wait_for "a slow task to run" 30 running
sleep 0.5 # inside pg_sleep: the DELETE ran, the INSERT has not finished
kill -9 $spid
wait $spid 2>/dev/null || true
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'slow' AND state = 'running'") == 1 ]] ||
  fail "after kill -9 the task should still look running"
sched --once 2>"$tmp/sched3.log" || fail "the restarted scheduler failed: $(tail -5 "$tmp/sched3.log")"
got=$(pq -c "SELECT day || '|' || n FROM mart.slow_count ORDER BY day")
[[ $got == "$(expect_days 2026-03-01 2026-03-02 | cut -d'|' -f1,2)" ]] || fail "slow_count after kill -9: $got"
[[ $(pq -c "SELECT count(*) FROM ops.task_tries WHERE dag = 'slow' AND state = 'interrupted'") == 1 ]] ||
  fail "the interrupted try is not in ops.task_tries"
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'slow' AND state = 'success'") == 2 ]] || fail "slow runs not all success"
grep -q 'which is gone: queued again' "$tmp/sched3.log" || fail "the restart did not say what it re-queued"

# ---- backfill: none, failed, all; upstream_failed; a deadline ----
bf() { "$FP" warehouse backfill --pg "$PG_URL" --pipeline "$PIPE" --dag manual --from 2026-03-01 --to 2026-03-04 \
  --status-format json "$@" 2>>"$tmp/backfill.log"; }
pq -c "UPDATE ctl SET bad_day = '2026-03-02'" >/dev/null
out=$(bf) && fail "a backfill with a failing task exited 0"
jq -e '.intervals == 3 and .tasks_run == 5 and .success == 4 and .failed == 1 and .exit_code == 1' <<<"$out" >/dev/null ||
  fail "backfill none (1st): $out"
[[ $(pq -c "SELECT state FROM ops.runs WHERE dag = 'manual' AND task = 'after_picky' AND ds = '2026-03-02'") == upstream_failed ]] ||
  fail "after_picky of the failed day is not upstream_failed"
pq -c "UPDATE ctl SET bad_day = NULL" >/dev/null
out=$(bf) || fail "backfill none (2nd): $out"
jq -e '.tasks_run == 0' <<<"$out" >/dev/null || fail "backfill none re-ran something: $out"
out=$(bf --reprocess failed) || fail "backfill failed: $out"
jq -e '.tasks_run == 2 and .success == 2' <<<"$out" >/dev/null || fail "backfill --reprocess failed: $out"
out=$(bf --reprocess all --concurrency 2) || fail "backfill all: $out"
jq -e '.tasks_run == 6 and .success == 6' <<<"$out" >/dev/null || fail "backfill --reprocess all: $out"
got=$(pq -c "SELECT day || '|' || n || '|' || total FROM mart.manual_count ORDER BY day")
[[ $got == "$(expect_days 2026-03-01 2026-03-02 2026-03-03)" ]] || fail "manual_count after the backfills: $got"
[[ $(pq -c "SELECT string_agg(n::text, ',' ORDER BY ds) FROM (SELECT ds, count(*) n FROM ops.task_tries t JOIN ops.runs r
             USING (dag, task, interval_start) WHERE dag = 'manual' AND task = 'picky' GROUP BY ds) x") == "2,3,2" ]] ||
  fail "picky tries per day should be 2,3,2"
"$FP" warehouse run --pg "$PG_URL" --pipeline "$PIPE" --dag manual --ds 2026-03-02 2>"$tmp/run.log" ||
  fail "warehouse run: $(cat "$tmp/run.log")"
[[ $(pq -c "SELECT try FROM ops.runs WHERE dag = 'manual' AND task = 'picky' AND ds = '2026-03-02'") == 1 ]] ||
  fail "warehouse run did not run the interval again"

# a backfill before the DAG's start_date runs the grid's earlier intervals
out=$("$FP" warehouse backfill --pg "$PG_URL" --pipeline "$PIPE" --dag manual --from 2026-02-27 --to 2026-03-01 \
  --status-format json 2>>"$tmp/backfill.log") || fail "backfill before start_date: $out"
jq -e '.intervals == 2 and .success == 4' <<<"$out" >/dev/null || fail "backfill before start_date: $out"

# a deadline: a manual interval that failed and stays failed, seen by the scheduler, which
# alerts through the checks' path: the pipeline copied with a check task whose set holds only
# "alerts" (a Slack-like receiver, tests/servers/slack-receiver.js)
mkfifo "$tmp/receiver.out"
node "$FP_SRC/tests/servers/slack-receiver.js" --paths /services/T0/B0/SECRET >"$tmp/receiver.out" 2>"$tmp/receiver.log" &
pids+=($!)
read -r -t 20 _ HOOK_PORT CTL_PORT <"$tmp/receiver.out" || fail "receiver did not start: $(cat "$tmp/receiver.log")"
mkdir -p "$tmp/pipe/dq" && cp "$DATA"/*.sql "$tmp/pipe/"
echo "http://127.0.0.1:$HOOK_PORT/services/T0/B0/SECRET" >"$tmp/pipe/dq/slack.url"
echo '{"alerts": {"slack": {"url_file": "slack.url"}, "retry_budget": "10s", "timeout": "2s"}}' >"$tmp/pipe/dq/alerts.json"
jq '.dags += [{"id": "dq", "schedule": "@daily", "start_date": "2030-01-01", "readiness": "none",
  "tasks": [{"id": "checks", "type": "check", "checks": "dq"}]}]' "$PIPE" >"$tmp/pipe/pipeline.json"
pq -c "UPDATE ctl SET bad_day = '2026-03-03'" >/dev/null
bf --reprocess all >/dev/null || true
"$FP" warehouse scheduler --pg "$PG_URL" --pipeline "$tmp/pipe/pipeline.json" --tick 200ms --once 2>"$tmp/sched4.log" ||
  fail "scheduler --once: $(tail -3 "$tmp/sched4.log")"
deadline_alerts=$(curl -sf "http://127.0.0.1:$CTL_PORT/_requests" | jq '[.[] | select((.json.text // "") | test("deadline of manual/(picky|after_picky)"))] | length')
((deadline_alerts == 2)) || fail "want one deadline alert per task that missed it, got $deadline_alerts: $(curl -sf "http://127.0.0.1:$CTL_PORT/_requests" | head -c 800)"
! grep -q SECRET "$tmp/sched4.log" || fail "the webhook URL was logged"
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'manual' AND deadline_missed_at IS NOT NULL") == 2 ]] ||
  fail "the failed manual interval's two tasks should have missed their deadline"
grep -q 'deadline missed: manual/picky' "$tmp/sched4.log" || fail "no deadline log line"
st=$("$FP" warehouse status --pg "$PG_URL" --status-format json)
jq -e '.dags.manual.picky.failed == 1 and .deadline_missed >= 2 and .dags.hourly.hour_count.success == 24' <<<"$st" >/dev/null ||
  fail "warehouse status: $st"
echo "warehouse_scheduler: ok"
