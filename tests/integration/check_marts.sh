#!/usr/bin/env bash
# fleetpipe check run: the shipped mart-integrity and raw-vs-marts checks (config/checks/
# marts.json, consistency.json) against marts the warehouse built from a simulated day, then
# against crafted bad marts and a lake row removed. Proves, from ops.dq_results and the JSON
# output: a clean day passes every check (exit 0); a NULL, a duplicate key, an out-of-range
# value, an unknown zone, an orphan row, a missing day and a lake/mart mismatch each fail
# exactly their check (exit 1) with the failing rows sampled; a re-run replaces the day's
# results; a bad config exits 2 naming the check.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/pg.bash"
VERIFY=$FP_SRC/tests/verify
PIPE=$FP_SRC/config/warehouse/pipeline.json

"$FP" sim --vehicles 3 --duration 26h --speedup max --seed 11 --start 2026-03-01T00:00:00+09:00 \
  --target "file:$tmp/sim.jsonl" 2>"$tmp/sim.log" || fail "sim: $(tail -3 "$tmp/sim.log")"
node "$VERIFY/rawsplit.mjs" "$tmp/sim.jsonl" "$tmp/raw" 2 >/dev/null || fail "rawsplit"
lake=$tmp/lake
"$FP" lake convert --from "file://$tmp/raw" --to "file://$lake" --status-format json >"$tmp/convert.json" 2>"$tmp/convert.log" ||
  fail "lake convert: $(cat "$tmp/convert.json")"
start_pg
"$FP" warehouse init --pg "$PG_URL" --lake "file://$lake" --mart-schema "$(dirname "$PIPE")/sql/schema.sql" \
  >/dev/null 2>>"$tmp/wh.log" || fail "init: $(tail -3 "$tmp/wh.log")"
"$FP" warehouse scheduler --pg "$PG_URL" --pipeline "$PIPE" --lake "file://$lake" --once --tick 100ms \
  --start-date 2026-03-01 --end-date 2026-03-02T02:00 2>"$tmp/sched.log" || fail "scheduler: $(tail -3 "$tmp/sched.log")"
[[ $(pq -c "SELECT count(*) FROM mart.vehicle_daily WHERE day = '2026-03-01'") == 3 ]] ||
  fail "the marts of 2026-03-01 were not built: $(tail -3 "$tmp/sched.log")"

mkdir -p "$tmp/checks"
cp -r "$FP_SRC/config/checks/marts.json" "$FP_SRC/config/checks/consistency.json" "$FP_SRC/config/checks/sql" "$tmp/checks/"
check() { "$FP" check run --pg "$PG_URL" --checks "$tmp/checks" --from 2026-03-01 --status-format json "$@"; }
n_checks=$(jq -s '[.[].checks | length] | add' "$tmp/checks"/*.json)

# the scheduler's checks_daily already ran every shipped check over the day: start from none
pq -c "DELETE FROM ops.dq_results"
out=$(check 2>"$tmp/check1.log") || fail "a clean day should pass: $out"
jq -e --argjson n "$n_checks" '.checks == $n and .pass == $n and .days == 1' <<<"$out" >/dev/null ||
  fail "clean day: $out"
[[ $(pq -c "SELECT count(*) FROM ops.dq_results WHERE ds = '2026-03-01' AND status = 'pass'") == "$n_checks" ]] ||
  fail "ops.dq_results: $(pq -c "SELECT check_name, status FROM ops.dq_results")"

# ---- crafted bad marts: each breaks exactly one check ----
v1=$(pq -c "SELECT min(vehicle_id) FROM mart.vehicle_daily WHERE day = '2026-03-01'")
pq -c "ALTER TABLE mart.vehicle_daily DROP CONSTRAINT vehicle_daily_pkey; ALTER TABLE mart.reefer_daily DROP CONSTRAINT reefer_daily_pkey"
pq -c "UPDATE mart.vehicle_daily SET trips = NULL WHERE vehicle_id = $v1 AND day = '2026-03-01'"
pq -c "UPDATE mart.vehicle_daily SET utilization = 1.5 WHERE vehicle_id = (SELECT max(vehicle_id) FROM mart.vehicle_daily) AND day = '2026-03-01'"
pq -c "INSERT INTO mart.reefer_daily SELECT * FROM mart.reefer_daily WHERE day = '2026-03-01' LIMIT 1"
pq -c "INSERT INTO mart.reefer_daily (vehicle_id, zone, day, monitored_min, excursion_min, compliance_pct, samples)
  VALUES (999, 7, '2026-03-01', 1, 0, 100, 1)"
# a lake row gone: vehicle $v1 has one kinematic sample fewer in the lake than the mart counted
pq -c "DELETE FROM lake.vehicle_kinematic WHERE ctid = (SELECT ctid FROM lake.vehicle_kinematic WHERE id = $v1
  AND timestamp_iso >= '2026-03-01T03:00:00Z' ORDER BY timestamp_iso LIMIT 1)"
out=$(check 2>"$tmp/check2.log") && fail "bad marts passed: $out"
want='["marts.samples_and_distance","reefer_daily.unique","reefer_daily.vehicle","reefer_daily.zone","vehicle_daily.not_null","vehicle_daily.utilization"]'
jq -e --argjson w "$want" '[.results[] | select(.status == "fail") | .check] | sort == $w' <<<"$out" >/dev/null ||
  fail "failing checks: $(jq -c '[.results[] | select(.status != "pass") | {check, status, observed}]' <<<"$out")"
jq -e '.error == 0 and ([.results[] | select(.status == "fail") | .observed] | all(. >= 1))' <<<"$out" >/dev/null ||
  fail "counts: $out"
# the failing rows are sampled: the orphan zone, the mismatching vehicle with both counts
[[ $(pq -c "SELECT samples->0->>'zone' FROM ops.dq_results WHERE check_name = 'reefer_daily.zone' AND ds = '2026-03-01'") == 7 ]] ||
  fail "reefer_daily.zone samples: $(pq -c "SELECT samples FROM ops.dq_results WHERE check_name = 'reefer_daily.zone'")"
[[ $(pq -c "SELECT (samples->0->>'id') || ':' || ((samples->0->>'mart_samples')::int - (samples->0->>'lake_samples')::int)
  FROM ops.dq_results WHERE check_name = 'marts.samples_and_distance' AND ds = '2026-03-01'") == "$v1:1" ]] ||
  fail "raw vs marts samples: $(pq -c "SELECT samples FROM ops.dq_results WHERE check_name = 'marts.samples_and_distance'")"
# a re-run replaced the day's rows: one per check
[[ $(pq -c "SELECT count(*) FROM ops.dq_results WHERE ds = '2026-03-01'") == "$n_checks" ]] || fail "results doubled"

# freshness: a day with no marts, long over, fails; the row_count follows fleet_daily
pq -c "DELETE FROM mart.vehicle_daily WHERE day = '2026-03-01'"
out=$(check --only vehicle_daily.freshness,vehicle_daily.row_count 2>/dev/null) && fail "missing day passed: $out"
jq -e '[.results[] | .status] == ["fail", "fail"]' <<<"$out" >/dev/null || fail "freshness/row_count: $out"

# ---- configuration errors: exit 2 naming the check ----
jq '.checks[0].error_if = {"count": "~ 3"}' "$tmp/checks/marts.json" >"$tmp/bad.json"
rc=0
"$FP" check run --pg "$PG_URL" --checks "$tmp/bad.json" --from 2026-03-01 2>"$tmp/bad.log" || rc=$?
((rc == 2)) || fail "a bad rule should exit 2, not $rc"
grep -q 'vehicle_daily.not_null' "$tmp/bad.log" || fail "the error does not name the check: $(cat "$tmp/bad.log")"
# a file's "every" is hour or day; --every likewise
jq '.every = "week"' "$tmp/checks/marts.json" >"$tmp/bad.json"
rc=0
"$FP" check run --pg "$PG_URL" --checks "$tmp/bad.json" --from 2026-03-01 2>"$tmp/bad.log" || rc=$?
((rc == 2)) && grep -q '"every" must be' "$tmp/bad.log" || fail "every = week: rc $rc, $(cat "$tmp/bad.log")"
rc=0
"$FP" check run --pg "$PG_URL" --checks "$tmp/checks/marts.json" --every week --from 2026-03-01 2>"$tmp/bad.log" || rc=$?
((rc == 2)) && grep -q -- '--every week' "$tmp/bad.log" || fail "--every week: rc $rc, $(cat "$tmp/bad.log")"
# settings are PostgreSQL parameters of plain words (no SQL gets in), vehicle a column name
for bad in '.settings = {"jit": "off; DROP TABLE mart.vehicle_daily"}|settings.jit' \
  '.settings = ["jit"]|"settings" must be' '.vehicle = "id; x"|"vehicle" must'; do
  jq "${bad%%|*}" "$tmp/checks/marts.json" >"$tmp/bad.json"
  rc=0
  "$FP" check run --pg "$PG_URL" --checks "$tmp/bad.json" --from 2026-03-01 2>"$tmp/bad.log" || rc=$?
  ((rc == 2)) && grep -qF -- "${bad#*|}" "$tmp/bad.log" || fail "${bad%%|*}: rc $rc, $(cat "$tmp/bad.log")"
done
# a file's settings hold around its checks only: a result as without them
jq '.settings = {"jit": "off", "work_mem": "8MB"}' "$tmp/checks/marts.json" >"$tmp/set.json"
statuses() { # FILE: the statuses of its checks (exit 1 when one fails, as some do here)
  { "$FP" check run --pg "$PG_URL" --checks "$1" --from 2026-03-01 --status-format json 2>/dev/null || true; } |
    jq -c '[.results[].status]'
}
with=$(statuses "$tmp/set.json")
without=$(statuses "$tmp/checks/marts.json")
[[ $with == "$without" && $with == *pass* ]] || fail "settings changed the results: $with, without: $without"
# --every hour on a set without hourly checks runs none
out=$("$FP" check run --pg "$PG_URL" --checks "$tmp/checks/marts.json" --every hour --from 2026-03-01 --status-format json 2>/dev/null) ||
  fail "--every hour: $out"
jq -e '.checks == 0' <<<"$out" >/dev/null || fail "--every hour ran day checks: $out"
echo "check_marts: ok ($n_checks checks)"
