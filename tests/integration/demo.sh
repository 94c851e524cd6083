#!/usr/bin/env bash
# `fleetpipe demo`, the README's first command: the simulated fleet over MQTT (mosquitto with
# the built-in project config), the bridge, the raw-lake connector and its Parquet conversion;
# the summary must reconcile and both lakes must hold what it says. Then the same without MQTT (--no-mqtt).
source "$(dirname "$0")/lib/connect.bash"

"$FP" demo --dir "$tmp/d" --vehicles 20 --minutes 5 --anomaly-rate 0.1 2>"$tmp/demo.log" ||
  fail "demo failed: $(tail -20 "$tmp/demo.log")"
grep -q "over MQTT" "$tmp/demo.log" || fail "the demo did not use MQTT: $(grep -i mosquitto "$tmp/demo.log")"
grep -q "reconciles            yes" "$tmp/demo.log" || fail "demo does not reconcile: $(tail -20 "$tmp/demo.log")"
lake=$(find "$tmp/d/raw" -name '*.jsonl' -print0 | xargs -0 cat | wc -l)
grep -q "records in the lake   $lake " "$tmp/demo.log" || fail "summary disagrees with the lake ($lake lines)"
dead=$(wc -l <"$tmp/d/deadletters.jsonl")
grep -q "dead letters          $dead " "$tmp/demo.log" || fail "summary disagrees with deadletters.jsonl ($dead)"
((dead > 0)) || fail "no dead letters at 10% anomalies"
jq -e 'select(."error.class" == null)' "$tmp/d/deadletters.jsonl" >/dev/null && fail "a dead letter without error.class"
[[ -s $tmp/d/mqtt/mosquitto.conf && -s $tmp/d/mqtt/passwd ]] || fail "no broker config in the demo dir"
pgrep -f "$tmp/d/mqtt/mosquitto.conf" >/dev/null && fail "mosquitto still running after the demo"
# The Parquet lake it converted: every split row is there (DuckDB and hyparquet agree with the
# raw JSON), and the summary line says what the files hold.
out=$(node --harmony-json-parse-with-source "$FP_SRC/tests/verify/lakecheck.mjs" "$tmp/d/raw" "$tmp/d/lake") ||
  fail "lakecheck of the demo's Parquet lake: $out"
rows=$(jq .rows_checked <<<"$out")
((rows > 0)) || fail "the demo's Parquet lake is empty: $out"
grep -q "Parquet lake          $rows rows in $(jq .files <<<"$out") files (.*), $(jq .rows_failed <<<"$out") rows failed; rows reconcile: yes" "$tmp/demo.log" ||
  fail "summary disagrees with the Parquet lake ($out): $(grep 'Parquet lake' "$tmp/demo.log")"

"$FP" demo --dir "$tmp/d" --vehicles 10 --minutes 3 --no-mqtt 2>"$tmp/demo2.log" || fail "demo --no-mqtt failed"
grep -q "straight to Kafka" "$tmp/demo2.log" || fail "--no-mqtt still used MQTT"
grep -q "reconciles            yes" "$tmp/demo2.log" || fail "demo --no-mqtt does not reconcile"
rc=0
"$FP" demo --dir "$tmp/d" --anomaly-rate 3 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "--anomaly-rate 3 exited $rc"
echo "ok: demo reconciles over MQTT ($lake in the lake, $dead dead letters) and without"
