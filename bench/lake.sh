#!/usr/bin/env bash
# Raw JSON lines -> hourly-partitioned ZSTD Parquet: `fleetpipe lake convert` against DuckDB
# (@duckdb/node-api from tests/verify), both on one thread, same input, same run.
#
#   bench/lake.sh [vehicles] [objects]   (defaults: 1000 vehicles, 8 raw objects)
#
# Input: a simulated hour of a fleet (vehicle/kinematic, one message per vehicle per minute,
# 60 samples each), cut into raw objects named as the objstore sink names them. Both sides do
# the same job: split `measurements` into rows, parse timestamp_iso and messaged_at to UTC
# timestamps, sort by (id, timestamp), write ZSTD Parquet partitioned by dt/hour. fleetpipe also
# writes its catalog (and runs pinned to one CPU with taskset); DuckDB runs with SET threads=1.
# Prints rows/s, MB/s of NDJSON and output bytes for each, and the ratios.
set -euo pipefail
FP=${FLEETPIPE:-build/fleetpipe}
SRC=$(cd "$(dirname "$0")/.." && pwd)
vehicles=${1:-1000}
objects=${2:-8}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

raw=$tmp/raw/fms.vehicle/dt=2026-03-03/hour=10
mkdir -p "$raw"
"$FP" sim --vehicles "$vehicles" --duration 1h --speedup max --seed 1 --start 2026-03-03T10:00:00Z \
  --only vehicle/kinematic --target "file:$tmp/all.jsonl" 2>/dev/null
lines=$(wc -l <"$tmp/all.jsonl")
per=$(((lines + objects - 1) / objects))
split -l "$per" -d -a 3 "$tmp/all.jsonl" "$tmp/part-"
i=0
for f in "$tmp"/part-*; do
  mv "$f" "$raw/fms.vehicle+0+$(printf '%020d' $((i * per))).jsonl"
  i=$((i + 1))
done
rm "$tmp/all.jsonl"
bytes=$(cat "$raw"/*.jsonl | wc -c)
echo "input: $lines messages in $objects raw objects, $bytes bytes"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=$(date +%s.%N)
taskset -c 0 "$FP" lake convert --from "file://$tmp/raw" --to "file://$tmp/lake" >"$tmp/fp.json" 2>"$tmp/fp.log" &
wait $!
t1=$(date +%s.%N)
rows=$(jq .rows_written "$tmp/fp.json")
fp_s=$(echo "$t1 - $t0" | bc -l)
fp_out=$(find "$tmp/lake" -name '*.parquet' -printf '%s\n' | awk '{s += $1} END {print s}')

node "$SRC/bench/lake-duckdb.mjs" "$tmp/raw" "$tmp/duck" >"$tmp/duck.json"
duck_s=$(jq .seconds "$tmp/duck.json")
duck_rows=$(jq .rows "$tmp/duck.json")
duck_out=$(find "$tmp/duck" -name '*.parquet' -printf '%s\n' | awk '{s += $1} END {print s}')
[[ $duck_rows -eq $rows ]] || { echo "row counts differ: fleetpipe $rows, DuckDB $duck_rows" >&2; exit 1; }

line() { printf '%-10s %8.2f s  %10.0f rows/s  %7.1f MB/s  %11d bytes out (%.1fx)\n' "$1" "$2" \
  "$(echo "$rows / $2" | bc -l)" "$(echo "$bytes / $2 / 1000000" | bc -l)" "$3" "$(echo "$bytes / $3" | bc -l)"; }
line fleetpipe "$fp_s" "$fp_out"
line duckdb "$duck_s" "$duck_out"
printf 'speed: fleetpipe %.2fx DuckDB; size: fleetpipe %.3fx DuckDB\n' \
  "$(echo "$duck_s / $fp_s" | bc -l)" "$(echo "$fp_out / $duck_out" | bc -l)"
