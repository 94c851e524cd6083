#!/usr/bin/env bash
# Throughput of `fleetpipe connect` (objstore sink into a file:// raw lake) against
# `kcat -C -o beginning -e` reading the same data from the same in-memory broker.
#
#   bench/connect.sh [MB] [tasks]        (defaults: 100 MB of ~10 KB vehicle/kinematic messages, 1 task)
#
# Prints one line per figure. Connect's time runs from its first partition assignment to its
# final status line, after every object was fsynced, renamed and its offsets committed, minus
# the 1 s idle wait that ends the run (the mock broker's ~3 s group join delay is excluded and
# reported in the wall time line); kcat's is its whole run. The broker keeps only 5 MiB per partition (librdkafka
# mock limit), so the topic gets enough partitions to hold everything.
set -euo pipefail
FP=${FLEETPIPE:-build/fleetpipe}
mb=${1:-100}
tasks=${2:-1}
fleet=(--only vehicle/kinematic --vehicles 2000 --speedup max --seed 1 --start 2026-01-05T00:00:00Z)
avg=$("$FP" sim "${fleet[@]}" --duration 2m 2>/dev/null | awk '{ n++; b += length($0) + 1 } END { print int(b / n) }')
minutes=$((mb * 1000000 / avg / 2000 + 1))
parts=$(( (mb + 1) / 2 ))
((parts < 8)) && parts=8
tmp=$(mktemp -d)
bpid=
cleanup() { [[ -n $bpid ]] && kill "$bpid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

mkfifo "$tmp/b.out"
"$FP" broker --brokers 1 --partitions "$parts" >"$tmp/b.out" 2>/dev/null &
bpid=$!
exec 7<"$tmp/b.out"
read -r -t 30 BS <&7
cat <&7 >/dev/null &

"$FP" sim "${fleet[@]}" --duration "${minutes}m" --target "kafka://$BS" 2>"$tmp/sim.log"
msgs=$(sed -n 's/.*published \([0-9]*\),.*/\1/p' "$tmp/sim.log")
bytes=$(kcat -C -b "$BS" -t fms.vehicle -o beginning -e -q -f '%S\n' 2>/dev/null | awk '{s+=$1} END {print s}')
n=$(kcat -C -b "$BS" -t fms.vehicle -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l)
[[ $n -eq $msgs ]] || { echo "broker holds $n of $msgs messages (5 MiB/partition limit?)" >&2; exit 1; }
echo "data: $msgs messages, $((bytes / 1000000)) MB in $parts partitions of fms.vehicle"

t0=$(date +%s.%N)
kcat -C -b "$BS" -t fms.vehicle -o beginning -e -q >/dev/null 2>&1
t1=$(date +%s.%N)
awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "kcat -C -o beginning -e:               %7.1f MB/s (%.2f s)\n", b / 1e6 / (z - a), z - a }'

cat >"$tmp/c.json" <<JSON
{"name": "bench", "connector.class": "objstore", "topics": "fms.vehicle", "tasks.max": "$tasks",
 "store.url": "file://$tmp/lake", "timestamp.field": "messaged_at", "flush.size": "10000",
 "format.compression": "none"}
JSON
c0=$(date +%s.%N)
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/c.json" --exit-when-idle 1s \
  2>"$tmp/connect.log"
c1=$(date +%s.%N)
start=$(grep -m1 "assigned" "$tmp/connect.log" | cut -d' ' -f1)
stop=$(grep -m1 "final status" "$tmp/connect.log" | cut -d' ' -f1)
secs=$(( $(date -d "$stop" +%s%3N) - $(date -d "$start" +%s%3N) - 1000 ))
lake=$(find "$tmp/lake/raw" -type f -name '*.jsonl' -print0 | xargs -0 cat | wc -l)
[[ $lake -eq $msgs ]] || { echo "lake holds $lake of $msgs records" >&2; exit 1; }
awk -v b="$bytes" -v ms="$secs" -v t="$tasks" 'BEGIN { printf "fleetpipe connect objstore (%d task%s): %7.1f MB/s (%.2f s, JSON validated, time-partitioned, fsync per object)\n", t, (t > 1 ? "s" : ""), b / 1e6 / (ms / 1000), ms / 1000 }'
awk -v a="$c0" -v z="$c1" 'BEGIN { printf "fleetpipe connect wall time:            %7.2f s (includes the mock group join delay of ~3 s and 1 s idle wait)\n", z - a }'
