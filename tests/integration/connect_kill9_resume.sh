#!/usr/bin/env bash
# kill -9 of a connect worker while records flow, and a restart with the same --worker-id: the
# restarted worker must be consuming again within 10 s (issue 12: not after the 45 s session
# timeout), measured from its start to its first counted record (metrics polled every 100 ms),
# and the raw lake (objstore into file://, exactly-once) must hold every produced record once:
# line count equal to what the producer published, no line twice, no offset range twice.
source "$(dirname "$0")/lib/connect.bash"

BOUND_MS=${RESUME_BOUND_MS:-10000}
start_broker 16
lake=$tmp/lake
mkdir -p "$lake"
port=$(free_port)
U=http://127.0.0.1:$port
cat >"$tmp/r.json" <<JSON
{"name": "r", "config": {"connector.class": "objstore", "topics": "fms.vehicle", "tasks.max": "2",
 "store.url": "file://$lake", "timestamp.field": "messaged_at", "flush.size": "200",
 "rotate.schedule.interval.ms": "500"}}
JSON
run_worker() { # run_worker LOG: starts the worker, sets cpid
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/r.json" --worker-id w1 \
    --rest-listen "127.0.0.1:$port" --status-interval 1s 2>"$1" &
  cpid=$!
  pids+=($cpid)
}
records_in() {
  curl -s "$U/metrics" 2>/dev/null |
    awk '$1 ~ /^fleetpipe_connect_records_in_total\{connector="r"/ { s += $2 } END { print s + 0 }'
}
now_ms() { date +%s%3N; }

"$FP" sim --vehicles 20 --duration 6h --speedup max --rate 300 --seed 11 \
  --start 2023-01-01T00:00:00Z --only vehicle/kinematic --target "kafka://$BS" \
  --status-format json >"$tmp/sim.json" 2>"$tmp/sim.log" &
sim=$!
pids+=($sim)

run_worker "$tmp/connect.1.log"
started() { (($(records_in) > 0)); }
wait_for "the first worker to consume" 30 started
sleep 3
kill -9 "$cpid"
wait "$cpid" 2>/dev/null || true

t0=$(now_ms)
run_worker "$tmp/connect.log"
while :; do
  t=$(($(now_ms) - t0))
  (($(records_in) > 0)) && break
  ((t < BOUND_MS)) || fail "the restarted worker consumed nothing within ${BOUND_MS} ms"
  sleep 0.1
done
echo "connect_kill9_resume: consuming again ${t} ms after the restart (bound ${BOUND_MS} ms)"
sleep 3

kill -INT "$sim"
wait "$sim" 2>/dev/null || true
produced=$(jq -r '.published' "$tmp/sim.json" | tail -1)
[[ $produced =~ ^[0-9]+$ ]] || fail "no published count from the producer"
lag() { curl -s "$U/metrics" | awk '$1 ~ /^fleetpipe_connect_consumer_lag\{connector="r"/ { s += $2 } END { print s + 0 }'; }
all_in() { (($(lake_lines "$lake" | wc -l) >= produced)) && (($(lag) == 0)); }
wait_for "every record in the lake" 60 all_in
sleep 1.5 # anything past the count would show up now
kill -TERM "$cpid"
wait "$cpid" || fail "the restarted worker exited non-zero after SIGTERM"

got=$(lake_lines "$lake" | wc -l)
dups=$(lake_lines "$lake" | sort | uniq -d | wc -l)
((dups == 0)) || fail "$dups records are in the lake more than once"
((got == produced)) || fail "the lake has $got records, the producer published $produced"
# Object names carry topic+partition+first offset: one object per start offset.
ndupoff=$(find "$lake/raw" -type f -name '*.jsonl*' -printf '%f\n' | sed 's/\.jsonl.*//' | sort | uniq -d | wc -l)
((ndupoff == 0)) || fail "$ndupoff offset ranges were written twice"
echo "connect_kill9_resume: ok ($got records exactly once after a kill -9 and restart)"
