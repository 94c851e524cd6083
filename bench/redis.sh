#!/usr/bin/env bash
# Throughput of `fleetpipe connect` with the redis sink (simulated vehicle/kinematic messages
# through the embedded broker, SplitArrayField on measurements, one EVALSHA per sample) against
# the server's own ceiling in the same run: redis-benchmark executing the same script on the same
# server, one connection, the same pipeline depth, with arguments shaped like a kinematic sample.
#
#   bench/redis.sh [records] [pipeline depth] [tasks]   (defaults: 240000, 256, 1)
#
# Prints one line per figure and the ratio. Connect's time runs from its first partition
# assignment to its final status line minus the 1 s idle wait that ends the run (as in
# bench/connect.sh). In redis-benchmark every __rand_int__ is its own random number: the values
# that change between real samples (position, speed, heading, odometer, seq, messaged_at) are
# random, so every call wins, writes them, moves the vehicle and publishes, like a newer sample.
# Real samples repeat more values (a parked vehicle), so they cost Redis less per call: the
# script prints Redis' own CPU per EVALSHA (INFO commandstats) for both, and the ratio again
# with the ceiling scaled by that cost.
set -euo pipefail
FP=${FLEETPIPE:-build/fleetpipe}
records=${1:-240000}
depth=${2:-256}
tasks=${3:-1}
vehicles=2000
# one kinematic message per vehicle per minute, 60 samples each
minutes=$((records / vehicles / 60 + 1))
fleet=(--only vehicle/kinematic --vehicles $vehicles --speedup max --seed 1 --start 2026-01-05T00:00:00Z
  --duration "${minutes}m")
tmp=$(mktemp -d)
bpid= rpid=
cleanup() {
  [[ -n $bpid ]] && kill "$bpid" 2>/dev/null
  [[ -n $rpid ]] && kill "$rpid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Redis without persistence, so both figures measure the same server work.
for _ in $(seq 20); do
  port=$((20000 + RANDOM % 40000))
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    --logfile "$tmp/redis.log" &
  rpid=$!
  for _ in $(seq 50); do
    [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break 2
    kill -0 "$rpid" 2>/dev/null || break
    sleep 0.1
  done
  rpid=
done
[[ -n $rpid ]] || { echo "redis-server did not start" >&2; exit 1; }

mkfifo "$tmp/b.out"
"$FP" broker --brokers 1 --partitions 32 >"$tmp/b.out" 2>/dev/null &
bpid=$!
exec 7<"$tmp/b.out"
read -r -t 30 BS <&7
cat <&7 >/dev/null &

"$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>"$tmp/sim.log"
msgs=$(sed -n 's/.*published \([0-9]*\),.*/\1/p' "$tmp/sim.log")
n=$(kcat -C -b "$BS" -t fms.vehicle -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l)
[[ $n -eq $msgs ]] || { echo "broker holds $n of $msgs messages (5 MiB/partition limit?)" >&2; exit 1; }
echo "data: $msgs messages of vehicle/kinematic in 32 partitions; redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on port $port"

cat >"$tmp/c.json" <<JSON
{"name": "bench", "connector.class": "redis", "topics": "fms.vehicle", "tasks.max": "$tasks",
 "redis.url": "redis://127.0.0.1:$port/0", "redis.pipeline.depth": "$depth",
 "transforms": "split", "transforms.split.type": "SplitArrayField",
 "transforms.split.field": "measurements"}
JSON
redis-cli -p "$port" config resetstat >/dev/null
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/c.json" --exit-when-idle 1s \
  2>"$tmp/connect.log"
# Redis CPU per call, from the server's own command statistics.
usec() { redis-cli -p "$port" info commandstats | sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p'; }
usec_connect=$(usec)
start=$(grep -m1 "assigned" "$tmp/connect.log" | cut -d' ' -f1)
stop=$(grep -m1 "final status" "$tmp/connect.log" | cut -d' ' -f1)
ms=$(($(date -d "$stop" +%s%3N) - $(date -d "$start" +%s%3N) - 1000))
st=$(grep -m1 "final status" "$tmp/connect.log")
[[ $st =~ durable=([0-9]+)\ dead=0 ]] || { echo "connect: $st" >&2; exit 1; }
recs=${BASH_REMATCH[1]}
nveh=$(redis-cli -p "$port" zcard fleet:positions)
[[ $nveh -eq $vehicles ]] || { echo "geo set holds $nveh of $vehicles vehicles" >&2; exit 1; }
sha=$(sed -n 's/.*connected, script \([0-9a-f]\{40\}\).*/\1/p' "$tmp/connect.log" | head -1)
[[ -n $sha ]] || { echo "no script sha in the connect log" >&2; exit 1; }
rate=$(awk -v r="$recs" -v ms="$ms" 'BEGIN { printf "%.0f", r / (ms / 1000) }')
printf 'fleetpipe connect redis (%d task%s, depth %d): %8d records/s (%d records in %.2f s, Kafka to Redis, JSON validated and split)\n' \
  "$tasks" "$( ((tasks > 1)) && echo s)" "$depth" "$rate" "$recs" "$(awk -v ms="$ms" 'BEGIN { print ms / 1000 }')"

# The ceiling: same script, same server, same depth, one connection, from a clean database.
redis-cli -p "$port" flushall >/dev/null
redis-cli -p "$port" config resetstat >/dev/null
R=__rand_int__
redis-benchmark -p "$port" -c "$tasks" -P "$depth" -n "$recs" -r "$vehicles" --csv \
  EVALSHA "$sha" 2 "vehicle:$R" fleet:positions 1767571200000 "$R" fleet:updates jssssjjjjjjj 6 7 \
  object vehicle type kinematic device_id "dev-$R" messaged_at "2026-01-05T09:01:38.$R+09:00" \
  seq "$R" lat "37.$R" lng "127.$R" speed "$R" heading "$R" odometer "$R" engine_on true \
  >"$tmp/rb.csv" 2>/dev/null
ceil=$(awk -F'"' 'NR == 2 { printf "%.0f", $4 }' "$tmp/rb.csv")
[[ $ceil =~ ^[0-9]+$ && $ceil -gt 0 ]] || { echo "redis-benchmark: $(cat "$tmp/rb.csv")" >&2; exit 1; }
printf 'redis-benchmark EVALSHA (same script, %d conn, -P %d): %8d calls/s (server ceiling)\n' \
  "$tasks" "$depth" "$ceil"
printf 'Redis CPU per EVALSHA (commandstats):          %5.1f us connect, %5.1f us redis-benchmark\n' \
  "$usec_connect" "$(usec)"
awk -v a="$rate" -v b="$ceil" 'BEGIN { printf "ratio connect / ceiling:                        %7.0f %%\n", 100 * a / b }'
# The real samples cost Redis less per call than the benchmark's (fewer values change, so fewer
# are published): scale the ceiling to the real per-call cost for a like-for-like ratio.
awk -v a="$rate" -v b="$ceil" -v uc="$usec_connect" -v ub="$(usec)" \
  'BEGIN { printf "ratio, ceiling scaled to connect'"'"'s Redis CPU/call: %7.0f %% (ceiling %.0f calls/s)\n", 100 * a / (b * ub / uc), b * ub / uc }'
