#!/usr/bin/env bash
# Records/s of `fleetpipe connect` (objstore sink, s3://) into s3rver, next to s3rver's own
# ceiling measured in the same run: one curl process (connection reuse, curl's own SigV4)
# uploading the very objects fleetpipe wrote, to another bucket of the same server.
#
#   bench/s3.sh [MB] [tasks]      (defaults: 60 MB of ~9 KB vehicle/kinematic messages, 1 task)
#
# fleetpipe's time runs from its first partition assignment to its final status line (every
# object uploaded and its offsets committed) minus the 1 s idle wait that ends the run; it also
# consumes from Kafka, validates every record, partitions by time and hashes each body twice
# (Content-MD5, SigV4 payload hash), which the curl loop does not. Needs scripts/setup.sh.
set -euo pipefail
FP=${FLEETPIPE:-build/fleetpipe}
SRV=$(cd "$(dirname "$0")/../tests/servers" && pwd)
mb=${1:-60}
tasks=${2:-1}
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
fleet=(--only vehicle/kinematic --vehicles 1000 --speedup max --seed 1 --start 2026-01-05T00:00:00Z)
avg=$("$FP" sim "${fleet[@]}" --duration 2m 2>/dev/null | awk '{ n++; b += length($0) + 1 } END { print int(b / n) }')
minutes=$((mb * 1000000 / avg / 1000 + 1))
parts=$(((mb + 1) / 2))
((parts < 8)) && parts=8
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

mkfifo "$tmp/b.out"
"$FP" broker --brokers 1 --partitions "$parts" >"$tmp/b.out" 2>/dev/null &
pids+=($!)
exec 7<"$tmp/b.out"
read -r -t 30 BS <&7
cat <&7 >/dev/null &
pids+=($!)

port=$((20000 + RANDOM % 12000))
mkdir -p "$tmp/s3"
node --openssl-legacy-provider "$SRV/node_modules/s3rver/bin/s3rver.js" -d "$tmp/s3" -a 127.0.0.1 \
  -p "$port" --silent --configure-bucket bench --configure-bucket ceiling >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

"$FP" sim "${fleet[@]}" --duration "${minutes}m" --target "kafka://$BS" 2>"$tmp/sim.log"
msgs=$(sed -n 's/.*published \([0-9]*\),.*/\1/p' "$tmp/sim.log")
echo "data: $msgs messages of ~$avg bytes in $parts partitions of fms.vehicle; s3rver 3.7.1 on 127.0.0.1:$port"

cat >"$tmp/c.json" <<JSON
{"name": "bench", "connector.class": "objstore", "topics": "fms.vehicle", "tasks.max": "$tasks",
 "store.url": "s3://bench/lake", "s3.endpoint": "http://127.0.0.1:$port", "s3.region": "us-east-1",
 "store.staging.dir": "$tmp/staging", "timestamp.field": "messaged_at", "flush.size": "100"}
JSON
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/c.json" --exit-when-idle 1s 2>"$tmp/connect.log" ||
  { tail -5 "$tmp/connect.log" >&2; exit 1; }
start=$(grep -m1 "assigned" "$tmp/connect.log" | cut -d' ' -f1)
stop=$(grep -m1 "final status" "$tmp/connect.log" | cut -d' ' -f1)
ms=$(($(date -d "$stop" +%s%3N) - $(date -d "$start" +%s%3N) - 1000))
mapfile -t objs < <(find "$tmp/s3/bench" -type f -name '*._S3rver_object' | sort)
got=$(cat "${objs[@]}" | wc -l)
[[ $got -eq $msgs ]] || { echo "bucket holds $got of $msgs records" >&2; tail -3 "$tmp/connect.log" >&2; exit 1; }
bytes=$(cat "${objs[@]}" | wc -c)

# The ceiling: the same objects, same sizes, one connection, curl signing with SigV4.
mkdir -p "$tmp/copy"
args=()
for i in "${!objs[@]}"; do
  cp "${objs[$i]}" "$tmp/copy/$i"
  args+=(-T "$tmp/copy/$i" "http://127.0.0.1:$port/ceiling/obj-$i.jsonl")
done
c0=$(date +%s%3N)
curl -sS -f --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H 'Expect:' \
  -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o /dev/null "${args[@]}"
c1=$(date +%s%3N)
cms=$((c1 - c0))
n=$(find "$tmp/s3/ceiling" -type f -name '*._S3rver_object' | wc -l)
[[ $n -eq ${#objs[@]} ]] || { echo "ceiling bucket holds $n of ${#objs[@]} objects" >&2; exit 1; }

awk -v r="$msgs" -v b="$bytes" -v ms="$ms" -v o="${#objs[@]}" -v t="$tasks" 'BEGIN {
  printf "fleetpipe connect -> s3rver (%d task%s):  %8.0f records/s %6.1f MB/s (%d objects, %.2f s)\n", t, (t > 1 ? "s" : ""), r / (ms / 1000), b / 1e6 / (ms / 1000), o, ms / 1000 }'
awk -v r="$msgs" -v b="$bytes" -v ms="$cms" -v o="${#objs[@]}" 'BEGIN {
  printf "curl --aws-sigv4 PUT, same objects:   %8.0f records/s %6.1f MB/s (%d objects, %.2f s)\n", r / (ms / 1000), b / 1e6 / (ms / 1000), o, ms / 1000 }'
awk -v a="$ms" -v c="$cms" 'BEGIN { printf "fleetpipe / ceiling:                  %8.0f %%\n", 100 * c / a }'
