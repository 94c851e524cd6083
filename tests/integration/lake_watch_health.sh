#!/usr/bin/env bash
# lake watch never looks healthy while it loses data or cannot consume (issue 12):
# - loss: object-committed events produced into one partition of the events topic past the dev
#   broker's per-partition cap (5 MiB) while no worker runs are gone when it starts; the worker
#   reports exactly the low watermark as lost (fleetpipe_lake_records_lost_total{partition="0"},
#   the final --status-format json line, /healthz 503 naming the loss), converts the rest, and
#   a second round past the cap after a committed offset reports exactly the new gap;
# - Kafka unreachable (--bootstrap-servers 127.0.0.1:1): /healthz 503 "Kafka unreachable";
# - Kafka going away while it runs (the broker process killed): 200 before, 503 after.
source "$(dirname "$0")/lib/connect.bash"

start_broker 4
raw=$tmp/raw lake=$tmp/lake
events=lake.loss.events
obj=raw/fms.vehicle/dt=2026-03-03/hour=10/fms.vehicle+0+00000000000000000000.jsonl
mkdir -p "$raw/$(dirname "$obj")"
"$FP" sim --vehicles 1 --duration 1m --speedup max --seed 5 --start 2026-03-03T10:00:00Z \
  --anomaly-rate 0 --only vehicle/kinematic --target "file:$raw/$obj" 2>/dev/null
pad=$(head -c 100000 /dev/zero | tr '\0' x)
# produce N: N events of ~100 kB naming the object, all into partition 0
produce() {
  for _ in $(seq "$1"); do printf '{"eventName":"ObjectCreated:Put","key":"%s","pad":"%s"}\n' "$obj" "$pad"; done |
    kcat -P -b "$BS" -t "$events" -p 0 -X message.max.bytes=2000000 2>"$tmp/kcat.log" || fail "kcat: $(cat "$tmp/kcat.log")"
}
low() { kcat -C -b "$BS" -t "$events" -p 0 -o beginning -c 1 -f '%o\n' -e 2>/dev/null; }
high() { kcat -C -b "$BS" -t "$events" -p 0 -o -1 -c 1 -f '%o\n' -e 2>/dev/null; }
metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }
port=$(free_port)
worker() {
  "$FP" lake watch --from "$raw" --to "$lake" --bootstrap-servers "$BS" --topic "$events" \
    --group loss-test --worker-id loss1 --status-interval 1s --metrics-listen "127.0.0.1:$port" \
    --status-format json >"$1.json" 2>"$1" &
  wpid=$!
  pids+=($wpid)
}
# run_round LOG WANT_LOST: a worker until it handled every event left, then SIGTERM
run_round() {
  local log=$1 want=$2 h
  h=$(($(high) + 1))
  worker "$log"
  done_() { local n; n=$(metric "$port" fleetpipe_lake_events_total); ((${n:-0} + want >= h - ${base:-0})); }
  wait_for "worker handling the events left" 120 done_
  local got
  got=$(curl -sf "http://127.0.0.1:$port/metrics" | awk -v t="$events" \
    '$1 == "fleetpipe_lake_records_lost_total{topic=\"" t "\",partition=\"0\"}" { print $2 }')
  [[ ${got:-0} -eq $want ]] || fail "$log: fleetpipe_lake_records_lost_total{partition=0} = '${got}', want $want"
  curl -s -o "$tmp/health" -w '%{http_code}' "http://127.0.0.1:$port/healthz" >"$tmp/code" || true
  [[ $(cat "$tmp/code") == 503 ]] && grep -q "lost $want events" "$tmp/health" ||
    fail "$log: /healthz $(cat "$tmp/code") '$(cat "$tmp/health")' after a loss of $want"
  kill -TERM "$wpid"
  wait "$wpid" || fail "$log: lake watch exited non-zero: $(tail -3 "$log")"
  jq -e --argjson n "$want" --arg t "$events" '.exit_code == 0 and .records_lost == $n
    and .lost == [{"topic": $t, "partition": 0, "records": $n}]' "$log.json" >/dev/null ||
    fail "$log: final status $(cat "$log.json"), want records_lost $want"
  grep -q "ERROR lake watch: lost $want events of $events/0: offsets" "$log" || fail "$log: no ERROR naming the range"
  base=$h
}

produce 80 # 8 MB: past the 5 MiB cap of partition 0
lo=$(low)
((lo > 0)) || fail "the broker kept every event (low watermark $lo): the cap was not reached"
run_round "$tmp/watch1.log" "$lo"
echo "lake_watch_health: round 1 lost $lo of 80 events, reported" >&2
# committed offset now at the high watermark; another round past the cap while no worker runs
c=$(($(high) + 1))
produce 80
lo2=$(low)
((lo2 > c)) || fail "round 2: low watermark $lo2 not past the committed offset $c"
run_round "$tmp/watch2.log" $((lo2 - c))
echo "lake_watch_health: round 2 lost $((lo2 - c)) events after committed offset $c, reported" >&2

# ---- Kafka unreachable from the start ----
p2=$(free_port)
"$FP" lake watch --from "$raw" --to "$lake" --bootstrap-servers 127.0.0.1:1 \
  --metrics-listen "127.0.0.1:$p2" >/dev/null 2>"$tmp/unreach.log" &
upid=$!
pids+=($upid)
unhealthy() {
  local code
  code=$(curl -s -o "$tmp/h2" -w '%{http_code}' "http://127.0.0.1:$1/healthz") || true
  [[ $code == 503 ]] && grep -q "$2" "$tmp/h2"
}
wait_for "/healthz 503 against an unreachable Kafka" 15 unhealthy "$p2" "Kafka unreachable"
kill -TERM "$upid"
wait "$upid" || fail "lake watch (unreachable) exited non-zero"

# ---- Kafka goes away while it runs: a fresh worker group (no loss), the broker killed ----
p3=$(free_port)
"$FP" lake watch --from "$raw" --to "$lake" --bootstrap-servers "$BS" --topic fms.vehicle \
  --group away-test --metrics-listen "127.0.0.1:$p3" >/dev/null 2>"$tmp/away.log" &
apid=$!
pids+=($apid)
healthy() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p3/healthz") == 200 ]]; }
assigned() { grep -q "rebalance: assigned" "$tmp/away.log"; }
wait_for "the away-test worker joined" 30 assigned
healthy || fail "/healthz not 200 while Kafka is up: $(curl -s "http://127.0.0.1:$p3/healthz")"
kill -9 "${pids[0]}" # the broker
wait_for "/healthz 503 once Kafka went away" 30 unhealthy "$p3" "Kafka unreachable"
# kill -9: with its broker gone for good, a graceful close could wait on librdkafka's timeouts
kill -9 "$apid"
wait "$apid" 2>/dev/null || true
echo "lake_watch_health: ok (lost $lo and $((lo2 - c)) reported exactly; 503 when Kafka is unreachable or goes away)"
