#!/usr/bin/env bash
# Records/s of `fleetpipe connect` with the dynamodb sink into dynalite, next to dynalite's own
# ceiling measured in the same run: the very BatchWriteItem bodies fleetpipe sent (captured on a
# warm-up run) replayed by a minimal Node.js client (bench/dynamodb-ceiling.js: keep-alive,
# aws4 signing) with as many requests in flight as connect has tasks.
#
#   bench/dynamodb.sh [vehicles] [tasks]     (defaults: 100 vehicles x 10 min of vehicle/kinematic
#                                              = 54,000 records; 1 task)
#
# Prints one line per figure and the ratio. Connect's time runs from its first partition
# assignment to its final status line minus the 1 s idle wait that ends the run (the mock
# broker's group join delay is outside it), so it includes consuming, the seed example's
# transforms (split, pk, UTC sk, drop), item conversion and every BatchWriteItem answered.
# Each run writes into its own fresh dynalite.
set -euo pipefail
FP=${FLEETPIPE:-build/fleetpipe}
here=$(cd "$(dirname "$0")" && pwd)
servers=$here/../tests/servers
vehicles=${1:-100}
tasks=${2:-1}
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
port_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkfifo "$tmp/b.out"
"$FP" broker --brokers 1 --partitions 8 >"$tmp/b.out" 2>/dev/null &
pids+=($!)
exec 7<"$tmp/b.out"
read -r -t 30 BS <&7
cat <&7 >/dev/null &
pids+=($!)

# One fresh dynalite per run (warm-up capture, fleetpipe, ceiling): it keeps every table in one
# in-memory store that slows down as it fills, so sharing one would favour whoever runs first.
start_dynalite() { # sets EP (not in a subshell, so its pid reaches the cleanup list)
  local port=$((20000 + RANDOM % 40000))
  node "$servers/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$port" --createTableMs 0 \
    >>"$tmp/dynalite.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do port_up "$port" && break; sleep 0.1; done
  EP=http://127.0.0.1:$port
  "$FP" dynamodb create-table --table fms --endpoint "$EP" >/dev/null ||
    { echo "dynalite on port $port did not come up: $(tail -3 "$tmp/dynalite.log")" >&2; exit 1; }
}
start_dynalite
EPW=$EP
start_dynalite
EPF=$EP
start_dynalite
EPC=$EP

"$FP" sim --only vehicle/kinematic --vehicles "$vehicles" --duration 10m --speedup max --seed 1 \
  --start 2026-01-05T00:00:00Z --target "kafka://$BS" 2>"$tmp/sim.log"
msgs=$(sed -n 's/.*published \([0-9]*\),.*/\1/p' "$tmp/sim.log")

connector() { # NAME TABLE ENDPOINT TASKS
  cat >"$tmp/$1.json" <<JSON
{"name": "$1", "connector.class": "dynamodb", "topics": "fms.vehicle", "tasks.max": "$4",
 "aws.dynamodb.table": "$2", "aws.dynamodb.endpoint": "$3",
 "transforms": "split,pk,ts,drop",
 "transforms.split.type": "SplitArrayField", "transforms.split.field": "measurements",
 "transforms.pk.type": "InsertFieldInStringTemplate", "transforms.pk.field": "pk",
 "transforms.pk.value": "\${id}#\${object}#\${type}",
 "transforms.ts.type": "TimestampConverter", "transforms.ts.field": "timestamp_iso",
 "transforms.ts.target.type": "string",
 "transforms.drop.type": "ReplaceField", "transforms.drop.exclude": "engine_on",
 "transforms.drop.renames": "timestamp_iso:sk"}
JSON
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/$1.json" --exit-when-idle 1s \
    --status-interval 1h 2>"$tmp/$1.log"
}

# Warm-up run through the capturing proxy: records the bodies for the ceiling. One task, so no
# rebalance can replay a range into the capture (the bodies are the same 25-item requests).
mkfifo "$tmp/cap.out"
node "$here/dynamodb-ceiling.js" capture --target "$EPW" --out "$tmp/bodies" >"$tmp/cap.out" &
pids+=($!)
read -r -t 20 line <"$tmp/cap.out"
connector warm fms "http://127.0.0.1:${line#listening }" 1

# fleetpipe, straight to dynalite.
connector bench fms "$EPF" "$tasks"
start=$(grep -m1 "assigned" "$tmp/bench.log" | cut -d' ' -f1)
stop=$(grep -m1 "final status" "$tmp/bench.log" | cut -d' ' -f1)
ms=$(($(date -d "$stop" +%s%3N) - $(date -d "$start" +%s%3N) - 1000))
durable=$(grep -m1 "final status" "$tmp/bench.log" | sed -n 's/.*durable=\([0-9]*\).*/\1/p')
records=$("$FP" dynamodb scan --table fms --endpoint "$EPF" --count)
# durable counts work done, so a rebalance replay (possible with several tasks) makes it larger
((durable >= records)) || { echo "table holds $records items, connect put $durable records" >&2; exit 1; }
((durable == records)) || echo "note: connect replayed $((durable - records)) records after a rebalance (inside its time)"

# The ceiling: the same bodies, same concurrency, minimal client.
read -r _ citems _ creqs _ csecs < <(node "$here/dynamodb-ceiling.js" replay --endpoint "$EPC" \
  --bodies "$tmp/bodies" --from fms --to fms --concurrency "$tasks")
[[ $citems -eq $records ]] || { echo "captured bodies hold $citems items, connect wrote $records" >&2; exit 1; }

echo "data: $msgs messages of vehicle/kinematic -> $records records (items), $creqs BatchWriteItem requests"
awk -v n="$citems" -v s="$csecs" -v t="$tasks" 'BEGIN { printf "%-56s %8.0f records/s (%.2f s)\n", "dynalite ceiling (same bodies, node, presigned, " t " in flight):", n / s, s }'
awk -v n="$records" -v ms="$ms" -v t="$tasks" 'BEGIN { printf "%-56s %8.0f records/s (%.2f s)\n", "fleetpipe connect dynamodb (" t " task" (t > 1 ? "s" : "") "):", n / (ms / 1000), ms / 1000 }'
awk -v n="$records" -v ms="$ms" -v cs="$csecs" 'BEGIN { printf "%-56s %8.0f%%\n", "fleetpipe / ceiling:", 100 * (n / (ms / 1000)) / (n / cs) }'
