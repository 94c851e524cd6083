#!/usr/bin/env bash
# The shipped warehouse pipeline (config/warehouse/pipeline.json and its SQL) end to end on
# three simulated days: sim -> raw objects laid out as the raw-lake connector names them
# (tests/verify/rawsplit.mjs) -> lake convert (watermark) -> warehouse init -> the scheduler
# (hourly loads and hourly partials, then the daily marts in Asia/Seoul). Proves:
#  - catchup over 3 days: 73 hourly loads, 72 hours of each hourly partial and 3 days of each
#    mart, all on the Seoul grid; loads only once the lake watermark passed them (the 74th hour
#    is past the watermark), partials only once the hours they read are loaded (the 73rd waits);
#  - the marts equal an independent computation from the raw JSON (tests/verify/martcheck.mjs,
#    its own logic) and the simulator's ground truth (distance, door openings);
#  - the same mart SQL run by DuckDB over the Parquet lake (`lake ddl` views,
#    tests/verify/martduck.mjs) gives the same rows as PostgreSQL;
#  - late data: a device's hour held back and converted after the marts were built is loaded
#    again by the scheduler, which re-runs that day's marts by itself; they change and equal
#    the independent computation over all the data.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/pg.bash"
VERIFY=$FP_SRC/tests/verify
PIPE=$FP_SRC/config/warehouse/pipeline.json

"$FP" sim --vehicles 3 --duration 74h --speedup max --seed 7 --start 2026-03-01T00:00:00+09:00 \
  --truth "$tmp/truth.jsonl" --target "file:$tmp/sim.jsonl" 2>"$tmp/sim.log" || fail "sim: $(tail -3 "$tmp/sim.log")"
# vehicle 1's messages sent in 2026-03-02T03Z (12:00 Seoul) arrive late, as one object
split=$(node "$VERIFY/rawsplit.mjs" "$tmp/sim.jsonl" "$tmp/raw1" 2 1 2026-03-02T03 "$tmp/late") ||
  fail "rawsplit: $split"
jq -e '.held > 100' <<<"$split" >/dev/null || fail "rawsplit held back too little: $split"
# dead letters as the raw-lake connector stores them (format.envelope=true), counted by reason
# in fleet_daily: five on 03-02 (Seoul), one on 03-03 (16:00Z is 01:00 Seoul the next day)
dlobj() { # HOUR-DIR FIRST-OFFSET, then "time class" lines on stdin
  local d=$tmp/raw1/fms.deadletter/$1 off=$2
  mkdir -p "$d"
  while read -r ts cls; do
    jq -nc --arg ts "$ts" --arg c "$cls" --argjson o "$off" '{topic: "fms.deadletter", partition: 0, offset: $o,
      timestamp: $ts, key: "1", headers: {"error.class": $c, "error.message": "test", "source.topic": "fms.vehicle",
      "mqtt.topic": "fms/1/vehicle/kinematic"}, value: "{not json"}'
    off=$((off + 1))
  done >"$d/fms.deadletter+0+$(printf %020d "$2").jsonl"
}
dlobj dt=2026-03-02/hour=03 0 <<DL
2026-03-02T03:10:00.000Z invalid_json
2026-03-02T03:10:01.000Z invalid_json
2026-03-02T03:20:00.000Z missing_field
2026-03-02T04:00:00.000Z late
2026-03-02T05:00:00.000Z bad_field
DL
dlobj dt=2026-03-02/hour=16 5 <<<"2026-03-02T16:00:00.000Z spoofed_device"
lake=$tmp/lake
conv() { "$FP" lake convert --from "file://$1" --to "file://$lake" --status-format json 2>>"$tmp/convert.log"; }
out=$(conv "$tmp/raw1") || fail "lake convert: $out"
jq -e '.rows_failed == 0 and .late_rows == 0 and .watermark > "2026-03-03T16:00:00"' <<<"$out" >/dev/null ||
  fail "first conversion: $out"

start_pg
"$FP" warehouse init --pg "$PG_URL" --lake "file://$lake" --mart-schema "$(dirname "$PIPE")/sql/schema.sql" \
  --status-format json >"$tmp/init.json" 2>>"$tmp/wh.log" || fail "init: $(cat "$tmp/init.json")"
sched() {
  "$FP" warehouse scheduler --pg "$PG_URL" --pipeline "$PIPE" --lake "file://$lake" --once --tick 100ms \
    --parallelism 2 --start-date 2026-03-01 --end-date 2026-03-04T02:00 "$@"
}
sched 2>"$tmp/sched1.log" || fail "scheduler: $(tail -5 "$tmp/sched1.log")"
runs() { pq -c "SELECT dag || '/' || task || ':' || state || ':' || count(*) FROM ops.runs GROUP BY dag, task, state ORDER BY 1" | tr '\n' ' '; }
# 74 hours are due (to 02:00 on the 4th); the last one ends past the watermark and waits, and
# with it the partials of the hour before (they read 30 s into it)
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'lake_load' AND state = 'success'") == 73 ]] ||
  fail "loads: $(runs)"
[[ $(pq -c "SELECT count(*) FROM ops.task_tries WHERE dag = 'lake_load'") == 73 ]] ||
  fail "every hour should be loaded once, by its run: $(runs)"
[[ $(pq -c "SELECT state FROM ops.runs WHERE dag = 'lake_load' AND interval_start = '2026-03-03T16:00:00Z'") == scheduled ]] ||
  fail "the hour past the watermark should wait: $(runs)"
grep -q 'lake watermark .* has not passed 2026-03-03T17:00:00Z' "$tmp/sched1.log" ||
  fail "the scheduler did not say why the last hour waits"
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'marts_hourly' AND state = 'success' GROUP BY task" | sort -u) == 72 ]] ||
  fail "hourly partials: $(runs)"
[[ $(pq -c "SELECT string_agg(DISTINCT state, ',') FROM ops.runs WHERE dag = 'marts_hourly' AND interval_start = '2026-03-03T15:00:00Z'") == scheduled ]] ||
  fail "the partials of the hour before the waiting one should wait: $(runs)"
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'marts_daily' AND state = 'success'") == 9 ]] || fail "marts: $(runs)"
[[ $(pq -c "SELECT string_agg(day || ':' || deadletters || '/' || deadletters_invalid_json || '/' || deadletters_missing_field
  || '/' || deadletters_spoofed_device || '/' || deadletters_late || '/' || deadletters_other, ' ' ORDER BY day) FROM mart.fleet_daily") == \
  "2026-03-01:0/0/0/0/0/0 2026-03-02:5/2/1/0/1/1 2026-03-03:1/0/0/1/0/0" ]] ||
  fail "dead letters by reason: $(pq -c "SELECT day, deadletters, deadletters_other FROM mart.fleet_daily")"
[[ $(pq -c "SELECT string_agg(DISTINCT ds::text, ',' ORDER BY ds::text) FROM ops.runs WHERE dag = 'marts_daily'") == \
  "2026-03-01,2026-03-02,2026-03-03" ]] || fail "mart days: $(runs)"
# the data-quality checks ran after each day's marts (task type check): every one passes except
# the dead-letter checks, which find exactly the dead letters planted above
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'checks_daily' AND state = 'success'") == 3 ]] ||
  fail "checks_daily: $(runs)"
# the raw-data checks ran hour by hour after the partials (checks_hourly): every hour whose
# partials and the next hour's are done (reads_after), 16 checks each, all passing on this
# anomaly-free fleet
[[ $(pq -c "SELECT count(*) FROM ops.runs WHERE dag = 'checks_hourly' AND state = 'success'") == 71 ]] ||
  fail "checks_hourly: $(runs)"
[[ $(pq -c "SELECT count(*) FROM ops.dq_results WHERE interval_end - interval_start = interval '1 hour'") == $((71 * 16)) ]] ||
  fail "hourly check results: $(pq -c "SELECT count(*) FROM ops.dq_results WHERE interval_end - interval_start = interval '1 hour'")"
[[ $(pq -c "SELECT count(DISTINCT ds) FROM ops.dq_results") == 3 ]] || fail "check results: not 3 days"
[[ $(pq -c "SELECT string_agg(ds || ':' || check_name || ':' || observed, ' ' ORDER BY ds, check_name)
  FROM ops.dq_results WHERE status <> 'pass'") == \
  "2026-03-02:raw.deadletter.invalid_json:2 2026-03-02:raw.deadletter.late:1 2026-03-02:raw.deadletter.missing_field:1 2026-03-03:raw.deadletter.spoofed_device:1" ]] ||
  fail "check results: $(pq -c "SELECT ds, check_name, status, observed FROM ops.dq_results WHERE status <> 'pass'")"
# every lake row of the loaded hours is in PostgreSQL: the catalogs' numRows before 03-03T16Z
want=$(jq -s '[.[].Partitions[] | select(.Values[0] + "T" + .Values[1] < "2026-03-03T16")
  | .Parameters.numRows | tonumber] | add' "$lake"/_catalog/[!_]*.json)
got=$(pq -c "SELECT (SELECT count(*) FROM lake.vehicle_kinematic) + (SELECT count(*) FROM lake.vehicle_status)
  + (SELECT count(*) FROM lake.cargo_temperature) + (SELECT count(*) FROM lake.blackbox_status) + (SELECT count(*) FROM lake.deadletter)
  + (SELECT count(*) FROM lake.vehicle_event)")
[[ $got == "$want" ]] || fail "PostgreSQL holds $got lake rows, the catalogs list $want"

# ---- the marts against the independent computation, the truth, and DuckDB ----
pq -c "SELECT json_build_object('vehicle_daily', (SELECT json_agg(v) FROM mart.vehicle_daily v),
  'reefer_daily', (SELECT json_agg(r) FROM mart.reefer_daily r))" >"$tmp/marts1.json"
DAYS=2026-03-01,2026-03-02,2026-03-03
mcheck() { node "$VERIFY/martcheck.mjs" "$PIPE" "$1" "$tmp/truth.jsonl" $DAYS "$tmp/sim.jsonl"; }
# Before the late hour arrives, the marts equal the independent computation everywhere except
# vehicle 1 on 03-02, which misses the held-back hour (martcheck reads every raw message).
out=$(mcheck "$tmp/marts1.json") && fail "martcheck passed with an hour of vehicle 1 missing: $out"
jq -e '.nbad > 0 and ([.bad[] | select(test("^((vehicle|reefer)_daily|truth) 1(#[0-9]+)?@2026-03-02[ :]") | not)] | length) == 0
  and .truth.days == 6' <<<"$out" >/dev/null || fail "martcheck before the late data: $out"

# The same SQL in DuckDB over the Parquet lake gives PostgreSQL's rows.
"$FP" lake ddl --to "file://$lake" >"$tmp/ddl.sql" || fail "lake ddl"
pq -c "SELECT (jsonb_build_object('mart', 'vehicle_hourly') || to_jsonb(v))::text FROM mart.vehicle_hourly v
  UNION ALL SELECT (jsonb_build_object('mart', 'reefer_hourly') || to_jsonb(r))::text FROM mart.reefer_hourly r
  UNION ALL SELECT (jsonb_build_object('mart', 'vehicle_daily') || to_jsonb(v))::text FROM mart.vehicle_daily v
  UNION ALL SELECT (jsonb_build_object('mart', 'reefer_daily') || to_jsonb(r))::text FROM mart.reefer_daily r
  UNION ALL SELECT (jsonb_build_object('mart', 'fleet_daily') || to_jsonb(f))::text FROM mart.fleet_daily f" >"$tmp/pg_rows.jsonl"
out=$(node "$VERIFY/martduck.mjs" --ddl "$tmp/ddl.sql" --ds 2026-03-01 --ds 2026-03-02 --ds 2026-03-03 \
  --params "$PIPE" --sql-dir "$(dirname "$PIPE")/sql" --compare "$tmp/pg_rows.jsonl") ||
  fail "DuckDB and PostgreSQL disagree: $out"

# ---- late data: the held-back hour arrives, the scheduler loads it and rebuilds that day ----
out=$(conv "$tmp/late") || fail "lake convert of the late objects: $out"
jq -e '.late_rows > 0' <<<"$out" >/dev/null || fail "the late objects' rows were not counted late: $out"
before=$(pq -c "SELECT samples FROM mart.vehicle_daily WHERE vehicle_id = 1 AND day = '2026-03-02'")
sched 2>"$tmp/sched2.log" || fail "scheduler (late data): $(tail -5 "$tmp/sched2.log")"
grep -q 'late data: .* partition(s) of already loaded hours loaded again' "$tmp/sched2.log" ||
  fail "the scheduler did not load the late partitions: $(tail -5 "$tmp/sched2.log")"
[[ $(pq -c "SELECT string_agg(DISTINCT ds::text, ',') FROM ops.task_tries t JOIN ops.runs r USING (dag, task, interval_start)
             WHERE t.dag = 'marts_daily' AND t.reason = 'late_data'") == 2026-03-02 ]] ||
  fail "only 2026-03-02's marts should have re-run for late data: $(runs)"
after=$(pq -c "SELECT samples FROM mart.vehicle_daily WHERE vehicle_id = 1 AND day = '2026-03-02'")
((after > before)) || fail "vehicle 1's 2026-03-02 did not change with the late hour ($before -> $after)"
pq -c "SELECT json_build_object('vehicle_daily', (SELECT json_agg(v) FROM mart.vehicle_daily v),
  'reefer_daily', (SELECT json_agg(r) FROM mart.reefer_daily r))" >"$tmp/marts2.json"
out=$(mcheck "$tmp/marts2.json") || fail "martcheck after the late data: $out"
jq -e '.nbad == 0 and .rows > 0 and .truth.days == 6' <<<"$out" >/dev/null || fail "martcheck: $out"
[[ $(pq -c "SELECT count(*) FROM mart.vehicle_daily") == 9 ]] || fail "vehicle_daily rows doubled or missing"
echo "warehouse_pipeline: ok ($(jq -c '{rows, truth}' <<<"$out"))"
