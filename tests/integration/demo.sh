#!/usr/bin/env bash
# `fleetpipe demo`, the README's first command: the stack, a fleet over MQTT across a local
# midnight, every stage waited for, one reconciled summary. Checked here against what the fleet
# sent (DIR/sent.jsonl, the same bytes as over MQTT) and its truth file, computed with jq and
# read from the stores the demo leaves running (--keep):
#  - the status line's numbers: published = sent.jsonl's lines = forwarded + dead letters, and
#    the dead letters = the truth's dead-letter anomalies;
#  - PostgreSQL's lake rows of the closed day = the samples sent that day (dead letters left
#    out), per table; mart.vehicle_daily has a row per vehicle for it;
#  - Redis holds every vehicle, each with the newest sample time it sent;
#  - the cross-store checks passed, and the raw checks found the injected anomalies of the run
#    (precision and recall ≥ 0.99 for every kind a check targets, time_skew and the dead letters
#    included: the scheduler loaded their partitions as strays, docs/warehouse.md), and the
#    scheduler's own checks_hourly found the day's skewed messages (ops.dq_results vs the truth);
#  - `stack down` leaves no part running; a bad flag exits 2.
source "$(dirname "$0")/lib/connect.bash"

D=$tmp/d
chmod 755 "$tmp" # the stack's PostgreSQL runs as the postgres user, which must reach its data
"$FP" demo --dir "$D" --vehicles 12 --anomaly-rate 0.03 --keep --status-format json \
  >"$tmp/demo.status" 2>"$tmp/demo.log" || fail "demo failed: $(tail -20 "$tmp/demo.log")"
stack_pids=($(jq -r '.supervisor.pid // empty, (.parts[].pid | select(. > 0))' "$D/stack.json"))
cleanup_stack() { "$FP" stack down --dir "$D" >/dev/null 2>&1 || true; }
trap 'cleanup_stack; cleanup' EXIT
st() { jq -e "$1" "$tmp/demo.status" >/dev/null || fail "$2: $(head -c 1500 "$tmp/demo.status")"; }
st '.command == "demo" and .exit_code == 0 and .reconciles' "status line"

# the front door
sent=$(wc -l <"$D/sent.jsonl")
truth_dl=$(jq -s '[.[] | select(.dead_letter)] | length' "$D/truth.jsonl")
st ".published == $sent and .forwarded + .dead_lettered == $sent" "published ($sent lines sent)"
st ".dead_lettered == $truth_dl" "dead letters (the truth has $truth_dl)"
((truth_dl > 0)) || fail "no dead-letter anomaly at 3%"

# PostgreSQL's lake rows of the day against the samples sent that day
day=$(jq -r .day "$tmp/demo.status")
PG=$(jq -r '.parts[] | select(.name == "postgres") | .endpoints.pg' "$D/stack.json")
jq -c 'select(.dead_letter) | [.vehicle_id, .seq, .object, .type]' "$D/truth.jsonl" | sort -u >"$tmp/dl.keys"
# every sample of every message that parses: [id, seq, object, type, table, time]
jq -R -c 'fromjson? // empty | select(type == "object" and (.measurements | type) == "array" and (.id | type) == "number"
    and (.object | type) == "string" and (.type | type) == "string" and (.device_id | type) == "string"
    and (.messaged_at | type) == "string" and (.seq | type) == "number")
  | . as $m | .measurements[] | select(.timestamp_iso)
  | [$m.id, $m.seq, $m.object, $m.type, ($m.object + "_" + $m.type), .timestamp_iso]' "$D/sent.jsonl" >"$tmp/samples.json"
# the sample's local day in +09:00 (the fleet's zone), dead letters dropped
node -e '
  const fs = require("fs");
  const dead = new Set(fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean));
  const day = process.argv[3], counts = {};
  for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n")) {
    if (!line) continue;
    const [id, seq, object, type, table, ts] = JSON.parse(line);
    if (dead.has(JSON.stringify([id, seq, object, type]))) continue;
    const local = new Date(Date.parse(ts) + 9 * 3600e3).toISOString().slice(0, 10);
    if (local === day) counts[table] = (counts[table] || 0) + 1;
  }
  for (const t of Object.keys(counts).sort()) console.log(t + " " + counts[t]);
' "$tmp/dl.keys" "$tmp/samples.json" "$day" >"$tmp/sent.counts"
[[ -s $tmp/sent.counts ]] || fail "no samples sent on $day"
while read -r table want; do
  got=$(psql "$PG" -Atc "SELECT count(*) FROM lake.$table WHERE coalesce(timestamp_iso, messaged_at)
        >= '$day 00:00:00+09' AND coalesce(timestamp_iso, messaged_at) < '$day 00:00:00+09'::timestamptz + interval '1 day'" 2>&1 || true)
  [[ $got == "$want" ]] || fail "lake.$table on $day: $got rows, the fleet sent $want samples"
done <"$tmp/sent.counts"
marts=$(psql "$PG" -Atc "SELECT count(*) FROM mart.vehicle_daily WHERE day = '$day'")
[[ $marts == 12 ]] || fail "mart.vehicle_daily on $day: $marts rows for 12 vehicles"
st ".mart_rows == 12" "mart rows"

# Redis: every vehicle, with the newest sample time it sent
RP=$(jq -r '.parts[] | select(.name == "redis") | .endpoints.redis' "$D/stack.json" | sed 's|redis://127.0.0.1:||; s|/.*||')
[[ $(redis-cli -p "$RP" zcard fleet:vehicles) == 12 ]] || fail "fleet:vehicles: $(redis-cli -p "$RP" zcard fleet:vehicles)"
node -e '
  const fs = require("fs");
  const dead = new Set(fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean));
  const newest = {};
  for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n")) {
    if (!line) continue;
    const [id, seq, object, type, table, ts] = JSON.parse(line);
    if (dead.has(JSON.stringify([id, seq, object, type])) || !["vehicle", "cargo"].includes(object)) continue;
    newest[id] = Math.max(newest[id] || 0, Date.parse(ts));
  }
  for (const id of Object.keys(newest).sort((a, b) => a - b)) console.log(id + " " + newest[id]);
' "$tmp/dl.keys" "$tmp/samples.json" >"$tmp/newest"
(($(wc -l <"$tmp/newest") == 12)) || fail "the fleet's newest samples: $(cat "$tmp/newest")"
while read -r id want; do
  got=$(redis-cli -p "$RP" hget "vehicle:$id" ts)
  [[ $got == "$want" ]] || fail "vehicle:$id ts $got, the newest sample sent $want"
done <"$tmp/newest"
st '.redis_vehicles == 12 and .redis_latest_ok == 12' "redis in the status line"

# the cross-store checks and the score
st '.stores_ok and (.stores | length) >= 1 and all(.stores[]; .status == "pass")' "cross-store checks"
# The demo scores the whole run up to now (the dead letters count by arrival, the wall clock):
# every kind a check targets, time_skew and the bridge's dead letters included, which the
# scheduler's loads bring in as strays (docs/warehouse.md, "Strays").
for k in gps_jump duplicate odometer_back stuck_sensor voltage_range time_skew malformed_json missing_field; do
  n=$(jq -s --arg k "$k" '[.[] | select(.anomaly == $k and (.noop | not))] | length' "$D/truth.jsonl")
  ((n > 0)) || fail "no $k injected at 3%"
  st ".score[\"$k\"] | .truth + (.untargeted // 0) == $n and .precision >= 0.99 and .recall >= 0.99" "score of $k ($n injected)"
done

# The scheduler's own hourly checks (checks_hourly, ops.dq_results) found every skewed message
# sent on the day (the truth's vehicle_id and seq), each once, and nothing else: their rows,
# dated a year away, were loaded as strays before the check of the hour they were sent in ran,
# and consecutive hours split a device's seqs without a gap or an overlap
# (config/checks/sql/time_skew.sql). (The hours after midnight are checked once the scheduler
# gets there, after the demo has summed up: the tail moves the watermark past 02:10 only.)
psql "$PG" -Atc "SELECT s->>'id', s->>'seq' FROM ops.dq_results r, jsonb_array_elements(r.samples) s
  WHERE r.check_name LIKE 'raw.time_skew.%' AND r.interval_end - r.interval_start = interval '1 hour'" |
  tr '|' ' ' | sort >"$tmp/skew.found"
obs=$(psql "$PG" -Atc "SELECT coalesce(sum(observed), 0) || ' ' || coalesce(max(observed), 0) FROM ops.dq_results
  WHERE check_name LIKE 'raw.time_skew.%' AND interval_end - interval_start = interval '1 hour'")
jq -r 'select(.anomaly == "time_skew") | "\(.vehicle_id) \(.seq)"' "$D/truth.jsonl" | sort >"$tmp/skew.all"
jq -r --arg day "$day" 'select(.anomaly == "time_skew" and ((.messaged_at | sub("\\.[0-9]+"; "") | fromdateiso8601) + 32400 | todate | .[0:10]) == $day)
  | "\(.vehicle_id) \(.seq)"' "$D/truth.jsonl" | sort >"$tmp/skew.day"
[[ -s $tmp/skew.day ]] || fail "no time_skew sent on $day"
# (every failing row is in samples while a result has at most 20)
[[ $obs == "$(wc -l <"$tmp/skew.found") "* && ${obs#* } -le 20 ]] ||
  fail "checks_hourly time_skew: observed (sum, max) $obs, $(wc -l <"$tmp/skew.found") sample rows"
[[ -z $(comm -23 "$tmp/skew.found" "$tmp/skew.all") && -z $(comm -23 "$tmp/skew.day" "$tmp/skew.found") ]] ||
  fail "checks_hourly time_skew found $(tr '\n' ',' <"$tmp/skew.found"); the truth's of $day: $(tr '\n' ',' <"$tmp/skew.day")"

# the Fleet API's /pipeline on the stack: the scheduler's runs as ops.runs counts them, the
# bridge's counters as the status line says
API=$(jq -r .api "$D/stack.json")
curl -sf "$API/pipeline" >"$tmp/pipeline.json" || fail "GET /pipeline"
want_runs=$(psql "$PG" -Atc "SELECT json_object_agg(dag, n) FROM (SELECT dag, count(*) AS n FROM ops.runs
  WHERE state = 'success' GROUP BY dag) t" | jq -c -S .)
# (the scheduler goes on running hours after the day; compare what both saw: at most as many)
jq -e --argjson want "$want_runs" '.warehouse.available and .warehouse.exists
  and (.warehouse.dags | length) == ($want | length)
  and all(.warehouse.dags[]; .success <= $want[.dag] and .success > 0 and .failed == 0)' "$tmp/pipeline.json" >/dev/null ||
  fail "/pipeline warehouse: $(jq -c .warehouse "$tmp/pipeline.json"), ops.runs: $want_runs"
fw=$(jq .forwarded "$tmp/demo.status") dl=$(jq .dead_lettered "$tmp/demo.status")
jq -e --argjson fw "$fw" --argjson dl "$dl" '[.stages[] | .name] == ["lake-watch", "bridge", "scheduler"]
  and (.stages[] | select(.name == "bridge") | .available
       and .metrics.fleetpipe_bridge_records_forwarded_total == $fw
       and .metrics.fleetpipe_bridge_records_dead_lettered_total == $dl)' "$tmp/pipeline.json" >/dev/null ||
  fail "/pipeline stages: $(jq -c '[.stages[] | {name, available, error, fw: .metrics.fleetpipe_bridge_records_forwarded_total}]' "$tmp/pipeline.json")"

# down: no part left
"$FP" stack down --dir "$D" --json >"$tmp/down.json" 2>/dev/null || fail "stack down"
jq -e '.alive == [] or .alive == null' "$tmp/down.json" >/dev/null || fail "parts alive after stack down: $(cat "$tmp/down.json")"
# (the supervisor exits right after its parts; a zombie not yet reaped counts as gone)
gone() { ! kill -0 "$1" 2>/dev/null || [[ $(ps -o stat= -p "$1" 2>/dev/null) == Z* ]]; }
for p in "${stack_pids[@]}"; do
  wait_for "pid $p to exit after stack down" 10 gone "$p"
done
rc=0
"$FP" demo --dir "$D" --anomaly-rate 3 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "--anomaly-rate 3 exited $rc"
echo "ok: demo reconciles ($sent sent, $truth_dl dead letters, day $day: $(tr '\n' ' ' <"$tmp/sent.counts")rows as sent, 12 vehicles in Redis and the marts)"
