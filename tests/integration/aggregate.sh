#!/usr/bin/env bash
# The aggregate connector against a real broker, checked window by window against DuckDB SQL over
# the same input (tests/verify/aggcheck.mjs: its own parsing, lateness rule and GROUP BY):
#  1. the simulator's cargo temperatures (with its out_of_order, duplicate and missing_field
#     anomalies) plus crafted messages: out of order within the lateness, late, bad samples, a
#     message that is not JSON; each vehicle's messages on partition id % 4, in file order;
#  2. connect (2 tasks) killed with -9 three times at random moments and restarted, then run to
#     the end: the windows equal DuckDB's, and every re-emitted record equals the first one (no
#     partial window);
#  3. a second hour of data while a second worker joins the group and the first one leaves
#     (a rebalance mid-stream): still every window;
#  4. a quiet partition: one vehicle sends one message and stops; only the idle rule closes its
#     window, which must come after aggregate.idle;
#  5. counts reconcile: samples in = samples in windows + late + invalid (dead letters
#     deduplicated by partition, offset and record: a replay may send one again).
source "$(dirname "$0")/lib/connect.bash"
verify=$(cd "$(dirname "$0")/../verify" && pwd)
[[ -d $verify/node_modules/@duckdb ]] || fail "tests/verify/node_modules missing: run scripts/setup.sh"

start_broker 4
T0=2026-03-02T00:00:00Z
fleet=(--only cargo/temperature --vehicles 60 --seed 5 --speedup max --anomaly-rate 0.03
  --anomalies out_of_order,duplicate,missing_field)
"$FP" sim "${fleet[@]}" --start "$T0" --duration 60m --target "file:$tmp/h1.jsonl" 2>/dev/null
"$FP" sim "${fleet[@]}" --start 2026-03-02T01:00:00Z --duration 60m --target "file:$tmp/h2.jsonl" 2>/dev/null

# Crafted, at the end of hour 1 (stream time about 00:59): within the lateness (00:58), late
# (00:40: its window closed long ago), bad samples next to good ones in one message.
m() { printf '{"object":"cargo","type":"temperature","id":%s,"device_id":"dev-%06d","messaged_at":"2026-03-02T00:59:30Z","seq":1,"measurements":[%s]}\n' "$1" "$1" "$2"; }
s() { printf '{"timestamp_iso":"%s","zone":%s,"temperature":%s}' "$@"; }
{
  m 4 "$(s 2026-03-02T00:58:10Z 1 -17.25)"
  m 8 "$(s 2026-03-02T00:40:00Z 1 -30.5),$(s 2026-03-02T00:58:20Z 1 -18.5)"
  m 12 "$(s 2026-03-02T00:58:30Z 1 '"warm"'),{\"zone\":1,\"temperature\":3},$(s 2026-03-02T00:58:31Z 1 -18.75),{\"timestamp_iso\":\"2026-03-02T00:58:32Z\",\"temperature\":2}"
  m 16 "$(s not-a-time 1 1),$(s 2026-03-02T00:58:40Z 2 null)"
} >>"$tmp/h1.jsonl"
# model.ndjson: {p, line, m} per message that is JSON (the model's input); p = id % 4 (0 without an id).
model_input() { # FILE FIRST_LINE
  jq -R -c --argjson first "$2" 'fromjson? // null' "$1" |
    jq -c -n --argjson first "$2" '[inputs] | to_entries[] | select(.value != null)
      | {p: (((.value.id | numbers) // 0) % 4), line: (.key + $first), m: .value}'
}
produce() { # FILE: each message to partition id % 4, key device_id, in file order
  for p in 0 1 2 3; do
    jq -r -c --argjson p "$p" 'select(((.id | numbers) // 0) % 4 == $p) | "\(.device_id)|\(tojson)"' "$1" |
      kcat -P -b "$BS" -t fms.cargo -p "$p" -K'|' 2>/dev/null || fail "kcat produce to partition $p"
  done
}
model_input "$tmp/h1.jsonl" 0 >"$tmp/model1.ndjson"
n1=$(wc -l <"$tmp/h1.jsonl")
model_input "$tmp/h2.jsonl" "$n1" >"$tmp/model2.ndjson"
cat "$tmp/model1.ndjson" "$tmp/model2.ndjson" >"$tmp/model.ndjson"
produce "$tmp/h1.jsonl"
echo 'dev-000004|{"object":"cargo","broken":' | kcat -P -b "$BS" -t fms.cargo -p 0 -K'|' 2>/dev/null

IDLE_MS=4000
cat >"$tmp/agg.json" <<JSON
{"name": "agg", "config": {
  "connector.class": "aggregate", "topics": "fms.cargo", "tasks.max": "2",
  "transforms": "split", "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements",
  "aggregate.window": "5m", "aggregate.lateness": "2m", "aggregate.idle": "${IDLE_MS}ms",
  "aggregate.group.by": "id,zone", "aggregate.fields": "temperature",
  "aggregate.output.topic": "fms.agg",
  "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter",
  "errors.log.enable": "false",
  "consumer.override.session.timeout.ms": "3000", "consumer.override.heartbeat.interval.ms": "300"}}
JSON
export WINDOW_MS=300000 LATENESS_MS=120000 GROUP=id,zone FIELD=temperature
# kread OUT ARGS...: kcat ARGS into OUT, up to three tries (a read that a loaded machine's broker
# answered late is not what this test checks); fails naming kcat's error after the third.
kread() {
  local out=$1 try
  shift
  for try in 1 2 3; do
    timeout 60 kcat "$@" >"$out" 2>"$out.err" && return 0
    sleep 1
  done
  fail "kcat $*: $(tail -2 "$out.err")"
}
check() { # MODEL: consumes the result and dead-letter topics, runs the model; prints its summary
  kread "$tmp/out.tsv" -C -b "$BS" -t fms.agg -e -q -f '%k\t%s\n'
  kread "$tmp/dlq.headers" -C -b "$BS" -t fms.deadletter -e -q -f '%h\n'
  awk '{ n = split($0, kv, ","); delete h
           for (i = 1; i <= n; i++) { j = index(kv[i], "="); h[substr(kv[i], 1, j - 1)] = substr(kv[i], j + 1) }
           print h["error.class"] "\t" h["source.partition"] "\t" h["source.offset"] "\t" h["source.record"] }' \
    "$tmp/dlq.headers" >"$tmp/dlq.tsv"
  node "$verify/aggcheck.mjs" "$1" "$tmp/out.tsv" "$tmp/dlq.tsv" >"$tmp/check.json" || true
  cat "$tmp/check.json"
}
windows_expected() { check "$1" | jq .windows_expected; }
distinct_keys() { timeout 30 kcat -C -b "$BS" -t fms.agg -e -q -f '%k\n' 2>/dev/null | sort -u | wc -l; }
run_connect() { # LOG: one worker in the background; sets cpid
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/agg.json" --rest-listen 127.0.0.1:0 \
    --status-interval 1s --status-format json >"$1.status" 2>"$1" &
  cpid=$!
  pids+=($cpid)
}
want1=$(windows_expected "$tmp/model1.ndjson")
((want1 > 200)) || fail "the model expects only $want1 windows for hour 1"

# ---- 2. three kill -9 at random moments, then to the end of hour 1
# Kill 1 and 3 at a random moment after the assignment, kill 2 once windows flow; at least one
# of them must land mid-stream (some windows out, not all), or the test proves nothing.
midstream=0
for i in 1 2 3; do
  run_connect "$tmp/kill$i.log"
  wait_for "kill run $i: an assignment" 30 grep -q 'assigned' "$tmp/kill$i.log"
  if ((i == 2)); then
    before_kill=$(distinct_keys)
    more_keys() { (($(distinct_keys) > before_kill)); }
    wait_for "kill run 2: windows" 30 more_keys
  else
    sleep "0.$((RANDOM % 9))"
  fi
  kill -9 "$cpid"
  wait "$cpid" 2>/dev/null || true
  got=$(distinct_keys)
  ((got > 0 && got < want1)) && midstream=$((midstream + 1))
  echo "kill -9 #$i: $got of $want1 windows emitted so far" >&2
done
((midstream > 0)) || fail "no kill -9 landed mid-stream (make hour 1 larger)"
run_connect "$tmp/connect.log"
a=$cpid
keys_reach() { (($(distinct_keys) >= $1)); }
wait_for "the $want1 windows of hour 1" 90 keys_reach "$want1"
check "$tmp/model1.ndjson" >/dev/null
jq -e '.problems == 0 and .windows_got == .windows_expected' "$tmp/check.json" >/dev/null ||
  fail "hour 1 after three kill -9: $(cat "$tmp/check.json")"

# ---- 3. hour 2 while a second worker joins and the first leaves
produce "$tmp/h2.jsonl"
cp "$tmp/connect.log" "$tmp/a.log"
run_connect "$tmp/b.log"
b=$cpid
wait_for "worker b's assignment" 30 grep -q 'assigned' "$tmp/b.log"
kill -TERM "$a"
wait "$a" || fail "worker a exited $? after SIGTERM"
want=$(windows_expected "$tmp/model.ndjson")
wait_for "all $want windows" 90 keys_reach "$want"

# ---- 4. a quiet partition: its only window closes by the idle rule alone
before=$(distinct_keys)
m 99001 "$(s 2026-03-02T03:00:00Z 1 -20)" | jq -c '.device_id + "|" + tojson' -r |
  kcat -P -b "$BS" -t fms.cargo -p 1 -K'|' 2>/dev/null
wait_for "the quiet vehicle's window" 30 keys_reach $((before + 1))
# From the Kafka timestamps (producer create time) of the message and of its window's record.
t_in=$(kcat -C -b "$BS" -t fms.cargo -p 1 -o -1 -e -q -f '%T\n' 2>/dev/null | tail -1)
t_out=$(kcat -C -b "$BS" -t fms.agg -e -q -f '%k %T\n' 2>/dev/null | awk '$1 ~ /^99001#/ { print $2; exit }')
idle_took_ms=$((t_out - t_in))
echo "quiet partition: window emitted ${idle_took_ms} ms after its only message (aggregate.idle ${IDLE_MS} ms)" >&2
((idle_took_ms >= IDLE_MS)) || fail "the quiet window came after ${idle_took_ms} ms, before the idle timeout"
((idle_took_ms < IDLE_MS + 10000)) || fail "the quiet window took ${idle_took_ms} ms"
{ cat "$tmp/model.ndjson"; m 99001 "$(s 2026-03-02T03:00:00Z 1 -20)" |
  jq -c --argjson l "$(($(wc -l <"$tmp/model.ndjson") + 100000))" '{p: 1, line: $l, m: .}'; } >"$tmp/model3.ndjson"
# Worker b's /metrics count its windows (fleetpipe_connect_sink_objects_total, the aggregate's
# unit) and agree with its status line.
port=$(grep -o 'REST API on .*(port [0-9]*)' "$tmp/b.log" | head -1 | sed 's/.*port \([0-9]*\))/\1/')
metric=$(curl -sf "http://127.0.0.1:$port/metrics" |
  awk '/^fleetpipe_connect_sink_objects_total\{connector="agg"/ { n += $NF } END { print n + 0 }')
((metric > 0)) || fail "worker b's metrics count no windows"
kill -TERM "$b"
wait "$b" || fail "worker b exited $? after SIGTERM"
status_objects=$(tail -1 "$tmp/b.log.status" | jq .objects)
((status_objects >= metric)) || fail "status says $status_objects windows, metrics said $metric"

# ---- 5. everything, against the model; counts reconcile
check "$tmp/model3.ndjson" >/dev/null
jq -e '.problems == 0 and .windows_got == .windows_expected and .late_got == .late_expected
       and .invalid_got == .invalid_expected and .late_expected >= 1 and .invalid_expected >= 4
       and .samples == .aggregated_got + .late_got + .invalid_got' "$tmp/check.json" >/dev/null ||
  fail "final check: $(cat "$tmp/check.json")"
# A whole message dead-lettered (no source.record header): only the one that is not JSON.
nonjson=$(awk -F'\t' '$4 == ""' "$tmp/dlq.tsv" | sort -u | wc -l)
((nonjson == 1)) || fail "expected the one message that is not JSON dead-lettered, got $nonjson"
echo "aggregate: $(cat "$tmp/check.json")"
echo "PASS"
