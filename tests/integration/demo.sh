#!/usr/bin/env bash
# `fleetpipe demo`, the README's first command: the simulated fleet over MQTT (mosquitto with
# the built-in project config), the bridge, the raw-lake connector and its Parquet conversion,
# the 5-minute cargo aggregate; the summary must reconcile and both lakes and the aggregates
# must hold what it says. Then the same without MQTT (--no-mqtt).
source "$(dirname "$0")/lib/connect.bash"

"$FP" demo --dir "$tmp/d" --vehicles 20 --minutes 5 --anomaly-rate 0.1 --status-format json \
  >"$tmp/demo.status" 2>"$tmp/demo.log" || fail "demo failed: $(tail -20 "$tmp/demo.log")"
st() { jq -e "$1" "$tmp/demo.status" >/dev/null || fail "$2: $(cat "$tmp/demo.status")"; }
st '.command == "demo" and .exit_code == 0' "status line"
st '.over_mqtt' "the demo did not use MQTT"
st '.reconciles and .published == .lake_records + .dead_letters' "demo does not reconcile"
st '.bridge.forwarded + .bridge.dead_lettered == .published and .bridge.acked >= .published' "the bridge does not reconcile"
grep -q "reconciles            yes" "$tmp/demo.log" || fail "the summary does not say it reconciles: $(tail -20 "$tmp/demo.log")"
lake=$(find "$tmp/d/raw" -name '*.jsonl' -print0 | xargs -0 cat | wc -l)
st ".lake_records == $lake" "status disagrees with the lake ($lake lines)"
dead=$(wc -l <"$tmp/d/deadletters.jsonl")
st ".dead_letters == $dead" "status disagrees with deadletters.jsonl ($dead)"
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
st ".parquet.reconciles and .parquet.rows_written == $rows and .parquet.files == $(jq .files <<<"$out") and .parquet.rows_failed == $(jq .rows_failed <<<"$out")" \
  "status disagrees with the Parquet lake ($out)"
# The 5-minute cargo aggregate: every cargo sample in the raw lake is in exactly one distinct
# window or dead-lettered one by one (a replay may emit a window twice, always identical).
cargo=$(find "$tmp/d/raw/fms.cargo" -name '*.jsonl' -print0 | xargs -0 cat |
  jq -s '[.[] | .measurements | arrays | length] | add // 0')
jq -e -s 'group_by(.value | [.id, .zone, .window_start]) | all(unique | length == 1)' \
  "$tmp/d/aggregates.jsonl" >/dev/null || fail "a window was emitted twice with different values"
in_windows=$(jq -s 'unique | [.[].value.samples] | add // 0' "$tmp/d/aggregates.jsonl")
windows=$(jq -s 'unique | length' "$tmp/d/aggregates.jsonl")
sample_dlq=$(jq -s '[.[] | select(."source.record") | [."source.partition", ."source.offset", ."source.record"]] | unique | length' \
  "$tmp/d/deadletters-agg.jsonl")
((cargo > 0 && windows > 0)) || fail "no cargo samples ($cargo) or no windows ($windows)"
((in_windows + sample_dlq == cargo)) ||
  fail "aggregate: $in_windows samples in windows + $sample_dlq dead-lettered != $cargo cargo samples"
st ".aggregate.windows >= $windows and .aggregate.samples >= $in_windows" "status disagrees with aggregates.jsonl"

"$FP" demo --dir "$tmp/d" --vehicles 10 --minutes 3 --no-mqtt --status-format json >"$tmp/demo.status" \
  2>"$tmp/demo2.log" || fail "demo --no-mqtt failed"
st '(.over_mqtt | not) and has("bridge") == false' "--no-mqtt still used MQTT"
grep -q "straight to Kafka" "$tmp/demo2.log" || fail "the summary does not say the fleet went straight to Kafka"
st '.reconciles and .published > 0' "demo --no-mqtt does not reconcile"
rc=0
"$FP" demo --dir "$tmp/d" --anomaly-rate 3 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "--anomaly-rate 3 exited $rc"
echo "ok: demo reconciles over MQTT ($lake in the lake, $dead dead letters) and without"
