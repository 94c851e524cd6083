#!/usr/bin/env bash
# Raw JSON lines -> hourly-partitioned ZSTD Parquet: `fleetpipe lake convert` against DuckDB
# (@duckdb/node-api from tests/verify), both on one thread, same input, same run.
#
#   bench/lake.sh [vehicles] [objects]   (defaults: 1000 vehicles, 8 raw objects)
#
# Input, two data sets in one run: a simulated hour of a fleet (vehicle/kinematic, one message
# per vehicle per minute, 60 samples each: smooth, repetitive values), and the same messages
# with random speeds, positions and headings (bench/entropy.mjs: values that do not repeat;
# once rounded as devices send them, once with every bit random), each cut into raw objects named as the objstore sink names them. Both sides do
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

"$FP" sim --vehicles "$vehicles" --duration 1h --speedup max --seed 1 --start 2026-03-03T10:00:00Z \
  --only vehicle/kinematic --target "file:$tmp/sim.jsonl" 2>/dev/null
node "$SRC/bench/entropy.mjs" device <"$tmp/sim.jsonl" >"$tmp/entropy.jsonl"
node "$SRC/bench/entropy.mjs" full <"$tmp/sim.jsonl" >"$tmp/entropy-full.jsonl"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run_case NAME FILE: cuts FILE into raw objects, converts them with both, prints the figures.
run_case() {
  local name=$1 all=$2 d=$tmp/$1
  local raw=$d/raw/fms.vehicle/dt=2026-03-03/hour=10
  mkdir -p "$raw"
  local lines per i=0
  lines=$(wc -l <"$all")
  per=$(((lines + objects - 1) / objects))
  split -l "$per" -d -a 3 "$all" "$d/part-"
  for f in "$d"/part-*; do
    mv "$f" "$raw/fms.vehicle+0+$(printf '%020d' $((i * per))).jsonl"
    i=$((i + 1))
  done
  bytes=$(cat "$raw"/*.jsonl | wc -c)
  echo "== $name: $lines messages in $objects raw objects, $bytes bytes"
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$d/fp.rss" taskset -c 0 "$FP" lake convert --from "file://$d/raw" \
    --to "file://$d/lake" >"$d/fp.json" 2>"$d/fp.log"
  t1=$(date +%s.%N)
  rows=$(jq .rows_written "$d/fp.json")
  local fp_s fp_out duck_s duck_rows duck_out
  fp_s=$(echo "$t1 - $t0" | bc -l)
  fp_out=$(find "$d/lake" -name '*.parquet' -printf '%s\n' | awk '{s += $1} END {print s}')
  node "$SRC/bench/lake-duckdb.mjs" "$d/raw" "$d/duck" >"$d/duck.json"
  duck_s=$(jq .seconds "$d/duck.json")
  duck_rows=$(jq .rows "$d/duck.json")
  duck_out=$(find "$d/duck" -name '*.parquet' -printf '%s\n' | awk '{s += $1} END {print s}')
  [[ $duck_rows -eq $rows ]] || { echo "row counts differ: fleetpipe $rows, DuckDB $duck_rows" >&2; exit 1; }
  line fleetpipe "$fp_s" "$fp_out"
  echo "fleetpipe peak RSS: $(($(cat "$d/fp.rss") / 1024)) MiB"
  line duckdb "$duck_s" "$duck_out"
  printf '%s: speed: fleetpipe %.2fx DuckDB; size: fleetpipe %.3fx DuckDB\n' "$name" \
    "$(echo "$duck_s / $fp_s" | bc -l)" "$(echo "$fp_out / $duck_out" | bc -l)"
  rm -rf "$d"
}
line() { printf '%-10s %8.2f s  %10.0f rows/s  %7.1f MB/s  %11d bytes out (%.1fx)\n' "$1" "$2" \
  "$(echo "$rows / $2" | bc -l)" "$(echo "$bytes / $2 / 1000000" | bc -l)" "$3" "$(echo "$bytes / $3" | bc -l)"; }
run_case simulated "$tmp/sim.jsonl"
run_case high-entropy "$tmp/entropy.jsonl"
run_case high-entropy-full "$tmp/entropy-full.jsonl"
