#!/usr/bin/env bash
# A stop is bounded when Kafka is gone: with the broker process killed (kill -9) under a running
# `fleetpipe connect` (objstore into file://) and a running `fleetpipe lake watch`, a SIGTERM
# ends each within the close bound (FP_KAFKA_CLOSE_MS, 10 s: docs/connect.md, docs/lake.md)
# plus a margin. This is a hang detector, not a timing benchmark.
# - connect: the records it consumed are made durable (the final flush) but the final commit
#   cannot reach Kafka: it exits 0 (a stop is not a failure; Kafka Connect's worker does the
#   same), the log has a WARN naming the offsets not committed, the lake has every record;
# - lake watch: exits 0 (its events were committed one by one while Kafka was up).
source "$(dirname "$0")/lib/connect.bash"
BOUND=${STOP_BOUND:-20}

start_broker 2
broker_pid=${pids[-2]}
n=50
for i in $(seq $n); do echo "{\"i\":$i,\"messaged_at\":\"2026-03-03T10:00:00Z\"}"; done |
  kcat -P -b "$BS" -t fms.vehicle -p 0
cat >"$tmp/s.json" <<JSON
{"name": "s", "connector.class": "objstore", "topics": "fms.vehicle",
 "store.url": "file://$tmp/lake", "timestamp.field": "messaged_at", "errors.tolerance": "all",
 "flush.size": "100000", "offset.flush.interval.ms": "600000",
 "consumer.override.session.timeout.ms": "10000"}
JSON
cport=$(free_port)
U=http://127.0.0.1:$cport
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/s.json" --rest-listen "127.0.0.1:$cport" \
  --status-interval 1s --status-format json >"$tmp/connect.status" 2>"$tmp/connect.log" &
cpid=$!
pids+=($cpid)
mkdir -p "$tmp/raw" "$tmp/lakeout"
wport=$(free_port)
"$FP" lake watch --from "file://$tmp/raw" --to "file://$tmp/lakeout" --bootstrap-servers "$BS" \
  --topic fms.cargo --group stop-test --metrics-listen "127.0.0.1:$wport" \
  --status-format json >"$tmp/watch.status" 2>"$tmp/watch.log" &
wpid=$!
pids+=($wpid)
consumed() { grep -q "periodic status: tasks \[0=RUNNING\] in=$n " "$tmp/connect.log"; }
wait_for "connect consumed $n records" 60 consumed
joined() { grep -q "rebalance: assigned" "$tmp/watch.log"; }
wait_for "lake watch joined" 30 joined

kill -9 "$broker_pid"
sleep 0.5 # SIGTERM well inside the session timeout: the group still "has" both members
# SIGTERM to both at once; wait_exit PID NAME: how long until it exited, its status in $rc
t0=$(date +%s.%N)
kill -TERM "$cpid" "$wpid"
end=$((SECONDS + BOUND))
wait_exit() {
  local pid=$1 name=$2
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    [[ -n ${STOP_GDB:-} ]] && gdb -p "$pid" -batch -ex 'thread apply all bt' >"$tmp/$name.bt" 2>&1
    kill -9 "$pid"
    fail "$name did not exit within ${BOUND}s of SIGTERM with Kafka gone: $(tail -5 "$tmp/$name.log")"
  fi
  rc=0
  wait "$pid" || rc=$?
  echo "stop_kafka_gone: $name exited $rc after $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
}
wait_exit "$wpid" watch
wrc=$rc
wait_exit "$cpid" connect
crc=$rc

[[ $crc == 0 ]] || fail "connect exited $crc after a stop with Kafka gone (a stop is not a failure)"
[[ $wrc == 0 ]] || fail "lake watch exited $wrc after a stop with Kafka gone: $(tail -3 "$tmp/watch.log")"
jq -e '.exit_code == 0' "$tmp/connect.status" >/dev/null || fail "connect final status: $(tail -1 "$tmp/connect.status")"
grep -q "WARN  s/0: final commit: .*NOT committed: fms.vehicle/0@$n " "$tmp/connect.log" ||
  fail "no WARN naming the offsets not committed: $(grep -i commit "$tmp/connect.log")"
got=$(lake_lines "$tmp/lake" | wc -l)
[[ $got == "$n" ]] || fail "the lake has $got records, want $n (the final flush makes them durable)"
echo "stop_kafka_gone: ok (connect and lake watch stopped within ${BOUND}s with Kafka gone; the uncommitted offsets were named)"
