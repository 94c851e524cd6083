#!/usr/bin/env bash
# Scored detection of the raw-data checks (config/checks/raw.json) against the simulator's truth.
# One simulated day, 8 vehicles, every anomaly kind at rate 0.01:
#  - dead letters the honest way: the sim publishes to a real mosquitto (no ACL, so the bridge's
#    own spoofing check decides), the real bridge dead-letters into fms.deadletter, and an
#    objstore connector with format.envelope=true stores it for `lake convert` (lake.deadletter);
#  - telemetry: the same seed written to a file (the same bytes: bridge_conservation.sh proves
#    it) minus exactly the lines the bridge dead-lettered, laid out as the raw-lake connector
#    names objects (rawsplit.mjs). The dev broker keeps 5 MiB per partition, far less than a
#    day of kinematics, so the telemetry is not read back from Kafka.
#  - `fleetpipe check score` must reach precision >= 0.99 and recall >= 0.99 for every kind a
#    check of config/checks/raw.json targets ("anomaly"; for stuck_sensor over the fields its
#    checks name in "anomaly_fields": docs/checks.md, "Scoring"), each with truth lines in this
#    day (all but `late`, which the aggregate connector makes, not the simulator), and a clean
#    day (rate 0) must fail no raw-data row at all.
# The simulated day is today (UTC) so that the dead letters' received_at (wall clock) falls in
# the same interval as the simulated samples.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"
source "$(dirname "$0")/lib/pg.bash"
VERIFY=$FP_SRC/tests/verify
CHECKS=$FP_SRC/config/checks
day=$(date -u +%F)
from=$(date -u -d "$day -1 day" +%F) to=$(date -u -d "$day +2 day" +%F)

start_broker 4
start_mosquitto open
start_pg

# run NAME RATE: one simulated day into $tmp/NAME: lake, PostgreSQL database NAME
run_day() {
  local n=$1 rate=$2 d=$tmp/$1
  mkdir -p "$d"
  local sim=(--vehicles 8 --duration 24h --seed 7 --start "${day}T00:00:00Z" --anomaly-rate "$rate")
  start_bridge "$d/bridge.log"
  "$FP" sim "${sim[@]}" --speedup max --truth "$d/truth.jsonl" --target "mqtt://127.0.0.1:$MQTT_PORT" \
    --status-format json >"$d/sim.status" 2>"$d/sim.log" || fail "sim: $(tail -5 "$d/sim.log")"
  "$FP" sim "${sim[@]}" --speedup max --target "file:$d/sent.jsonl" --truth "$d/truth2.jsonl" 2>/dev/null ||
    fail "sim to file"
  cmp -s "$d/truth.jsonl" "$d/truth2.jsonl" || fail "truth differs between two runs of one seed"
  local want
  want=$(jq -r 'select(.dead_letter == true)' "$d/truth.jsonl" | jq -s length)
  dl_in() { (($(kc -t fms.deadletter -f 'x\n' | wc -l) >= dl_base + want)); }
  wait_for "$want dead letters" 120 dl_in
  kill -TERM "$BRIDGE_PID"; wait "$BRIDGE_PID" || true
  dl_base=$((dl_base + want))
  # the dead-letter topic through its own connector, with the envelope (a day without dead
  # letters has none to store: the topic still holds the earlier day's)
  : >"$d/dl.b64"
  if ((want > 0)); then
  cat >"$d/dl-lake.json" <<JSON
{"name": "deadletter-lake-$n", "config": {"connector.class": "objstore", "topics": "fms.deadletter",
 "store.url": "file://$d/raw", "format.envelope": "true", "flush.size": "1000",
 "rotate.schedule.interval.ms": "1000"}}
JSON
  "$FP" connect --bootstrap-servers "$BS" --connector "$d/dl-lake.json" --exit-when-idle 3s \
    --rest-listen "" >/dev/null 2>>"$tmp/connect.log" || fail "dead-letter connector"
  # telemetry: the sent bytes minus exactly the dead letters' bytes (a multiset)
  lake_lines "$d/raw/raw/fms.deadletter" | jq -r 'if .value_encoding == "base64" then .value else (.value | @base64) end' >"$d/dl.b64"
  fi
  python3 - "$d/sent.jsonl" "$d/dl.b64" "$d/telemetry.jsonl" <<'PY'
import base64, collections, sys
dead = collections.Counter(base64.b64decode(l.strip()) for l in open(sys.argv[2]) if l.strip())
with open(sys.argv[1], 'rb') as f, open(sys.argv[3], 'wb') as out:
    for line in f:
        body = line.rstrip(b'\n')
        if dead[body] > 0:
            dead[body] -= 1
            continue
        out.write(line)
left = sum(dead.values())
if left: sys.exit(f"{left} dead letters are not lines of the sent file")
PY
  node "$VERIFY/rawsplit.mjs" "$d/telemetry.jsonl" "$d/raw" 2 >/dev/null || fail "rawsplit"
  "$FP" lake convert --from "file://$d/raw" --to "file://$d/lake" --status-format json >"$d/convert.json" \
    2>>"$tmp/convert.log" || fail "lake convert: $(cat "$d/convert.json")"
  pq -c "CREATE DATABASE $n" >/dev/null
  local url=${PG_URL%/fleet}/$n
  "$FP" warehouse init --pg "$url" --lake "file://$d/lake" >/dev/null 2>>"$tmp/wh.log" || fail "init $n"
  "$FP" warehouse load --pg "$url" --lake "file://$d/lake" --status-format json >"$d/load.json" 2>>"$tmp/wh.log" ||
    fail "load $n: $(cat "$d/load.json")"
}
dl_base=0
run_day scored 0.01
run_day clean 0

score=$("$FP" check score --pg "${PG_URL%/fleet}/scored" --truth "$tmp/scored/truth.jsonl" --checks "$CHECKS" \
  --from "$from" --to "$to" --status-format json 2>"$tmp/score.log") || fail "check score: $(tail -5 "$tmp/score.log")"
echo "$score" | jq -c '.kinds // .score.kinds' >"$tmp/kinds.json"
targeted=$(jq -rs '[.[].checks[].anomaly // empty | select(. != "late")] | unique | .[]' "$CHECKS/raw.json" "$CHECKS/deadletter.json")
(($(wc -w <<<"$targeted") >= 9)) || fail "raw.json targets only: $targeted"
for k in $targeted; do
  jq -e --arg k "$k" '.[$k] | .truth > 0 and .precision >= 0.99 and .recall >= 0.99' "$tmp/kinds.json" >/dev/null ||
    fail "$k: $(jq -c --arg k "$k" '.[$k]' "$tmp/kinds.json")"
done

# hour by hour (checks_hourly's intervals, each reading only its (dt, hour) partitions) the raw
# checks find exactly what one interval of the whole day finds
mkdir -p "$tmp/dayraw" && ln -s "$CHECKS/sql" "$tmp/dayraw/sql"
jq 'del(.every)' "$CHECKS/raw.json" >"$tmp/dayraw/raw.json"
per_check() { jq -c '[.results | group_by(.check)[] | {(.[0].check): (map(.observed) | add)}] | add'; }
# (exit 1: the scored day's anomalies fail the checks)
hourly=$("$FP" check run --pg "${PG_URL%/fleet}/scored" --checks "$CHECKS/raw.json" --from "$day" --status-format json \
  2>>"$tmp/run.log") || true
daily=$("$FP" check run --pg "${PG_URL%/fleet}/scored" --checks "$tmp/dayraw/raw.json" --from "$day" --status-format json \
  2>>"$tmp/run.log") || true
hourly=$(per_check <<<"$hourly") daily=$(per_check <<<"$daily")
[[ -n $hourly && $hourly == "$daily" && $(jq '[.[]] | add' <<<"$daily") -gt 0 ]] ||
  fail "hourly runs found $hourly, the day found $daily"

# the raw-data checks only (this database has the lake, not the marts): raw.json hour by hour,
# as checks_hourly runs them (3 days x 24 hours x its checks), and the dead letters per day
for f in raw deadletter; do
  out=$("$FP" check run --pg "${PG_URL%/fleet}/clean" --checks "$CHECKS/$f.json" --from "$from" --to "$to" \
    --status-format json 2>"$tmp/run.log") || fail "check run of $f.json on a clean day failed: $out $(tail -5 "$tmp/run.log")"
  n=$(jq '.checks' "$CHECKS/$f.json" | jq length)
  want=$((n * 3 * $([[ $f == raw ]] && echo 24 || echo 1)))
  jq -e --argjson w "$want" '.checks == $w and .pass == .checks and ([.results[].observed] | add) == 0' <<<"$out" >/dev/null ||
    fail "a clean day raised raw-data failures ($f.json, $want results wanted): $(jq -c '{checks, pass, bad: [.results[] | select(.status != "pass")][:5]}' <<<"$out")"
done
echo "check_score: ok ($(jq -c 'map_values({p: .precision, r: .recall})' "$tmp/kinds.json"))"
