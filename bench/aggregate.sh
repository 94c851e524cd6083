#!/usr/bin/env bash
# The aggregate connector (src/sink/aggregate/): event-time windows from the dev broker, against
# kcat and DuckDB in the same run, and its memory with many open windows.
#
#   bench/aggregate.sh [vehicles] [open-windows]   (defaults: 3000 vehicles, 100000 windows)
#
# Data: `fleetpipe sim --only cargo/temperature`, one simulated hour of [vehicles] vehicles (one
# message a minute per vehicle, a sample every 5 s per zone, 1-2 zones: ~1,000 samples and ~115
# KB per vehicle, so 3000 vehicles = ~3 M samples, ~350 MB), produced by kcat from a file,
# keyed by device_id, into `fleetpipe broker --partitions P` with P chosen so every partition
# stays well under the broker's 5 MiB retention (its log is checked for "dropped=").
# Figures, one line each:
#   1. fleetpipe connect, connector.class aggregate, tasks.max 1: SplitArrayField on
#      measurements, group by id,zone, temperature, 5m windows. Time from the first partition
#      assignment to the first 100 ms status line that counts every input message (the mock's
#      ~3 s group join is excluded); samples/s, samples per CPU-second (user+sys of all of
#      connect's threads until it had consumed everything, from /proc), peak RSS (time -v).
#      aggregate.idle closes the last windows, the run ends with --exit-when-idle, and every
#      window is then compared with DuckDB's.
#   2. kcat -C -o beginning -q reading the same topic: -e (to end of every partition: includes
#      the mock's fetch waits at the end) and -c <messages> (to the last message), in samples/s.
#   3. DuckDB (bench/aggregate-duckdb.mjs, SET threads=1): the same windows, GROUP BY id, zone,
#      time_bucket(5 minutes) with count/sum/min/max/avg over the same NDJSON, unnest in SQL;
#      also per CPU-second (the node process's user+sys over the query), beside connect's per
#      CPU-second of all its threads and of the task thread alone (the busiest thread that is not
#      librdkafka's rdk:*), which a loaded machine skews far less than wall-clock rates.
#   3b. Diagnostic: figure 1 again with a larger consumer prefetch (see the comment there), rate
#      only, to tell the consumer's refill stalls from the task's CPU cost.
#   4. Peak RSS with [open-windows] open windows: [open-windows]/2 vehicles x 2 zones, one
#      message each, all in one 5-minute window, aggregate.idle 1h so none closes; connect runs
#      until it has consumed everything, then SIGTERM. Alternative in the same run: the same
#      input grouped by zone only (2 open windows).
# Env: AGG_IDLE_MS (default 2000; the run waits it out once at the end: the idle rule fires only
# on a partition read to its end, so a backlog does not trip it). PERF=FILE records `perf record
# -g` of figure 1's connect process into FILE (its
# figures then carry perf's overhead). KEEP=1 keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
FP=${FLEETPIPE:-build/fleetpipe}
V=${1:-3000}
OPEN=${2:-100000}
IDLE_MS=${AGG_IDLE_MS:-2000}
out=bench/out
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  if [[ -n ${KEEP:-} ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi; }
trap cleanup EXIT
now() { date +%s.%N; }
ms() { date -d "$1" +%s%3N; } # a log line's ISO timestamp -> epoch ms
# start_broker PARTITIONS: an in-memory broker, its log in $tmp/broker.log; sets BS.
start_broker() {
  rm -f "$tmp/b.out"
  mkfifo "$tmp/b.out"
  "$FP" broker --brokers 1 --partitions "$1" >"$tmp/b.out" 2>"$tmp/broker.log" &
  BROKER_PID=$!
  pids+=($!)
  exec 7<"$tmp/b.out"
  read -r -t 30 BS <&7
  cat <&7 >/dev/null &
  pids+=($!)
}
stop_broker() { kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; exec 7<&-; }
no_drops() { ! grep -q 'dropped=' "$tmp/broker.log" || { grep 'dropped=' "$tmp/broker.log" | head -3 >&2; echo "the broker dropped data" >&2; exit 1; }; }
# produce FILE TOPIC: every line, keyed by its device_id, in big batches (the mock broker serves few
# batches per partition and fetch: with kcat's default 5 ms linger every consumer read 3-5x slower).
produce() {
  awk '{ match($0, /"device_id":"[^"]*"/); print substr($0, RSTART + 13, RLENGTH - 14) "|" $0 }' "$1" |
    kcat -P -b "$BS" -t "$2" -K'|' -X linger.ms=100 -X batch.num.messages=100000 2>"$tmp/kcat-p.log" ||
    { cat "$tmp/kcat-p.log" >&2; exit 1; }
}
count_topic() { kcat -C -b "$BS" -t "$1" -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l; }
# connector NAME GROUP_BY IDLE OUTPUT_TOPIC [EXTRA_JSON]: a connector file in $tmp/NAME.json.
connector() {
  cat >"$tmp/$1.json" <<JSON
{"name": "$1", "config": {
  "connector.class": "aggregate", "topics": "fms.cargo", "tasks.max": "1",
  "transforms": "split", "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements",
  "aggregate.window": "5m", "aggregate.idle": "$3",
  "aggregate.group.by": "$2", "aggregate.fields": "temperature",
  "aggregate.output.topic": "$4",
  "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter",
  "errors.log.enable": "false"${5:+, $5}}}
JSON
}
tv() { sed -n "s/^[[:space:]]*$1: //p" "$2"; } # a field of /usr/bin/time -v's report

# ---- data
in=$out/cargo-$V.jsonl
if [[ ! -s $in || ! -s $in.json ]]; then
  "$FP" sim --only cargo/temperature --vehicles "$V" --duration 60m --speedup max --seed 1 \
    --start 2026-01-05T00:00:00Z --target "file:$in" --status-format json >"$in.json" 2>/dev/null
fi
msgs=$(jq .messages "$in.json")
samples=$(jq .samples "$in.json")
bytes=$(stat -c %s "$in")
parts=$((bytes / 2000000 + 1))
((parts < 8)) && parts=8
start_broker "$parts"
t0=$(now)
produce "$in" fms.cargo
t1=$(now)
n=$(count_topic fms.cargo)
[[ $n -eq $msgs ]] || { echo "broker holds $n of $msgs messages" >&2; exit 1; }
no_drops
awk -v m="$msgs" -v s="$samples" -v b="$bytes" -v p="$parts" -v a="$t0" -v z="$t1" 'BEGIN {
  printf "data: %d cargo/temperature messages, %d samples, %.0f MB in %d partitions of fms.cargo (kcat produced it in %.1f s)\n", m, s, b / 1e6, p, z - a }'

# ---- kcat
kc() { # LABEL ARGS...: time one kcat consume of fms.cargo
  local label=$1 a z
  shift
  a=$(now)
  /usr/bin/time -f %M -o "$tmp/kcat.rss" kcat -C -b "$BS" -t fms.cargo -o beginning -q "$@" >/dev/null 2>&1
  z=$(now)
  awk -v l="$label" -v s="$samples" -v b="$bytes" -v a="$a" -v z="$z" -v r="$(cat "$tmp/kcat.rss")" 'BEGIN {
    printf "%-44s %10.0f samples/s  %6.1f MB/s  %6.2f s  peak RSS %4d MiB\n", l ":", s / (z - a), b / 1e6 / (z - a), z - a, r / 1024 }'
  KCAT[$label]=$(echo "$samples / ($z - $a)" | bc -l)
}
declare -A KCAT
kc "kcat -C -o beginning -e" -e
kc "kcat -C -o beginning -c $msgs" -c "$msgs"

# run_connect NAME EXIT_WHEN_IDLE: connect under /usr/bin/time -v in the background, status every
# 100 ms; sets TPID (time's) and CPID (connect's own, for perf and SIGTERM).
run_connect() {
  /usr/bin/time -v -o "$tmp/$1.time" "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/$1.json" \
    --rest-listen "" --exit-when-idle "$2" --status-interval 100ms --status-format json \
    >"$tmp/$1.status" 2>"$tmp/$1.log" &
  TPID=$!
  pids+=($TPID)
  CPID=
  while [[ -z $CPID ]]; do CPID=$(ps -o pid= --ppid "$TPID" | tr -d ' '); [[ -n $CPID ]] || sleep 0.01; done
  pids+=($CPID)
}
# consumed NAME N: the log line of the first status that counts N input messages (or nothing)
consumed() { grep -m1 "status: .* in=$2 " "$tmp/$1.log" || true; }
# wait_consumed NAME N: until connect's status counts N messages in; sets CPU_AT, the CPU-seconds
# (user+sys, all threads) connect had used by then, read from /proc within ~50 ms of that line.
wait_consumed() {
  local t=0 st
  until [[ -n $(consumed "$1" "$2") ]]; do
    st=$(cat "/proc/$CPID/stat" 2>/dev/null) || { tail -3 "$tmp/$1.log" >&2; exit 1; }
    sleep 0.05
    t=$((t + 1))
    ((t < 6000)) || { echo "$1: not every message consumed after 300 s" >&2; exit 1; }
  done
  st=${st##*) }
  CPU_AT=$(echo "$st" | awk -v hz="$(getconf CLK_TCK)" '{ print ($12 + $13) / hz }')
  # the task thread: the busiest of connect's threads that are not librdkafka's (rdk:*)
  TASK_CPU=$(for f in /proc/"$CPID"/task/*/stat; do cat "$f" 2>/dev/null; echo; done |
    awk -v hz="$(getconf CLK_TCK)" '/\(rdk:/ || !NF { next } {
      sub(/^.*\) /, ""); c = ($12 + $13) / hz; if (c > m) m = c } END { print m + 0 }')
}

# ---- fleetpipe connect, one task
# The output topic: one the broker makes on first use (4 partitions, 4 x 5 MiB), as long as the
# windows fit (one per ~60 samples, ~240 bytes each); else fms.device and fms.blackbox, made with
# $parts. A producer to a topic of many partitions costs CPU in librdkafka's broker thread
# (measured: 1.4 CPU-s over the default run with 175 partitions, 0.26 s with 4), so that is the
# fallback only.
outtopic=fms.agg bigtopic=fms.agg.big
((samples / 60 * 240 < 4 * 4000000)) || { outtopic=fms.device; bigtopic=fms.blackbox; }
connector bench id,zone "${IDLE_MS}ms" "$outtopic"
run_connect bench "$((IDLE_MS + 2000))ms"
if [[ -n ${PERF:-} ]]; then
  perf record -q -g -p "$CPID" -o "$PERF" 2>"$tmp/perf.log" &
  pids+=($!)
fi
wait_consumed bench "$msgs"
wait "$TPID" || { tail -5 "$tmp/bench.log" >&2; exit 1; }
# connect_figures NAME LABEL: the run's samples/s (sets FPR) and CPU; dead letters and windows
connect_figures() {
  local start stop secs cpu rss
  start=$(grep -m1 "assigned" "$tmp/$1.log" | cut -d' ' -f1)
  stop=$(consumed "$1" "$msgs" | cut -d' ' -f1)
  [[ -n $stop ]] || { echo "$1: connect never counted $msgs messages in: $(tail -2 "$tmp/$1.log")" >&2; exit 1; }
  secs=$(echo "($(ms "$stop") - $(ms "$start")) / 1000" | bc -l)
  cpu=$CPU_AT
  rss=$(tv 'Maximum resident set size (kbytes)' "$tmp/$1.time")
  FPR=$(echo "$samples / $secs" | bc -l)
  awk -v l="$2" -v s="$samples" -v t="$secs" -v c="$cpu" -v k="$TASK_CPU" -v r="$rss" -v b="$bytes" 'BEGIN {
    printf "%-44s %10.0f samples/s  %6.1f MB/s  %6.2f s  peak RSS %4d MiB\n", l ":", s / t, b / 1e6 / t, t, r / 1024
    printf "%-44s %10.0f samples per CPU-second (%.2f s user+sys of all its threads until then)\n", "  same run, CPU:", s / c, c
    if (k > 0) printf "%-44s %10.0f samples per CPU-second (%.2f s)\n", "  same run, the task thread alone:", s / k, k }'
  FPC=$(echo "$samples / $cpu" | bc -l)
  FPT=0
  [[ $TASK_CPU == 0 ]] || FPT=$(echo "$samples / $TASK_CPU" | bc -l)
}
connect_figures bench "fleetpipe connect aggregate (1 task)"
FPR_MAIN=$FPR FPC_MAIN=$FPC FPT_MAIN=$FPT
dead=$(jq .dead "$tmp/bench.status")
windows=$(jq .objects "$tmp/bench.status")
kcat -C -b "$BS" -t "$outtopic" -o beginning -e -q -f '%k\t%s\n' >"$tmp/windows.tsv" 2>/dev/null
no_drops

# ---- DuckDB, one thread, the same windows over the same file
/usr/bin/time -f %M -o "$tmp/duck.rss" node bench/aggregate-duckdb.mjs "$in" "$tmp/windows.tsv" >"$tmp/duck.json" || true
[[ -s $tmp/duck.json ]] || { echo "bench/aggregate-duckdb.mjs failed" >&2; exit 1; }
check=$(jq -r .check "$tmp/duck.json")
dsecs=$(jq .seconds "$tmp/duck.json")
dcpu=$(jq .cpu_seconds "$tmp/duck.json")
DKR=$(echo "$samples / $dsecs" | bc -l)
DKC=$(echo "$samples / $dcpu" | bc -l)
awk -v s="$samples" -v t="$dsecs" -v c="$dcpu" -v r="$(tail -1 "$tmp/duck.rss")" -v b="$bytes" 'BEGIN {
  printf "%-44s %10.0f samples/s  %6.1f MB/s  %6.2f s  peak RSS %4d MiB (node process)\n", "DuckDB, 1 thread (unnest + GROUP BY):", s / t, b / 1e6 / t, t, r / 1024
  printf "%-44s %10.0f samples per CPU-second (%.2f s user+sys of the node process over the query)\n", "  same run, CPU:", s / c, c }'
best_kcat=${KCAT["kcat -C -o beginning -c $msgs"]}
awk -v f="$FPR_MAIN" -v d="$DKR" -v k="$best_kcat" -v e="${KCAT["kcat -C -o beginning -e"]}" 'BEGIN {
  printf "fleetpipe/DuckDB %6.2fx   fleetpipe/kcat -c %5.0f%%   fleetpipe/kcat -e %5.0f%%\n", f / d, 100 * f / k, 100 * f / e }'
# per CPU-second: what a loaded machine does not skew (both sides count only their own CPU)
awk -v c="$FPC_MAIN" -v t="$FPT_MAIN" -v d="$DKC" 'BEGIN {
  printf "per CPU-second: fleetpipe (all threads)/DuckDB %5.2fx   the task thread alone/DuckDB %5.2fx\n", c / d, t / d }'
echo "check: fleetpipe emitted $windows windows, $dead dead letters; against DuckDB: $check"

# ---- what the consumer's refill costs: the same run with a prefetch of 100,000 messages and
# 256 MiB instead of connect's defaults (queued.min.messages 10,000, queued.max.messages.kbytes
# 32 MiB, src/kafka/kafka.h). librdkafka 2.0.2 stops fetching when the consumer queue holds
# either many; with ~2 KB messages 10,000 is ~20 MB, ~0.4 s of this task's work, and it refills
# a full queue only when its broker thread wakes, up to 1 s later (docs/connect.md "Memory
# budget"): the task idles for the rest. Windows left open (idle 0): rate only.
connector big id,zone 0 "$bigtopic" '"consumer.override.queued.min.messages": "100000", "consumer.override.queued.max.messages.kbytes": "262144"'
run_connect big 1s
wait_consumed big "$msgs"
wait "$TPID" || { tail -5 "$tmp/big.log" >&2; exit 1; }
connect_figures big "same, prefetch 100k msgs/256 MiB (diagnostic)"
no_drops
stop_broker

# ---- peak RSS with OPEN open windows
nv=$((OPEN / 2))
awk -v n="$nv" 'BEGIN { for (i = 1; i <= n; i++) {
  t = sprintf("2026-01-05T00:%02d:%02dZ", int((i % 240) / 60), i % 60)
  printf "{\"object\":\"cargo\",\"type\":\"temperature\",\"id\":%d,\"device_id\":\"dev-%07d\",\"messaged_at\":\"2026-01-05T00:04:30Z\",\"seq\":1,\"measurements\":[{\"timestamp_iso\":\"%s\",\"zone\":1,\"temperature\":%.2f,\"setpoint\":-18,\"door_open\":false},{\"timestamp_iso\":\"%s\",\"zone\":2,\"temperature\":%.2f,\"setpoint\":4,\"door_open\":false}]}\n", i, i, t, -18 + (i % 100) / 100, t, 4 - (i % 50) / 100 } }' >"$tmp/open.jsonl"
obytes=$(stat -c %s "$tmp/open.jsonl")
oparts=$((obytes / 2000000 + 1))
((oparts < 8)) && oparts=8
start_broker "$oparts"
produce "$tmp/open.jsonl" fms.cargo
n=$(count_topic fms.cargo)
[[ $n -eq $nv ]] || { echo "broker holds $n of $nv messages" >&2; exit 1; }
no_drops
echo "open-windows data: $nv messages of 2 zones, $((obytes / 1000000)) MB in $oparts partitions, one 5-minute window"
# open NAME GROUP_BY LABEL: connect until every message is in, then SIGTERM; prints its peak RSS
open_case() {
  connector "$1" "$2" 1h fms.agg
  run_connect "$1" 0
  wait_consumed "$1" "$nv"
  kill -TERM "$CPID"
  wait "$TPID" || { echo "$1: connect exited $? after SIGTERM" >&2; exit 1; }
  local r w
  r=$(tv 'Maximum resident set size (kbytes)' "$tmp/$1.time")
  w=$(jq .objects "$tmp/$1.status")
  [[ $w -eq 0 ]] || { echo "$1: $w windows closed, expected all open" >&2; exit 1; }
  printf '%-44s peak RSS %4d MiB (%d KB)\n' "$3:" $((r / 1024)) "$r"
}
open_case open "id,zone" "fleetpipe connect, $OPEN open windows"
open_case open2 "zone" "same input grouped by zone: 2 open windows"
stop_broker
[[ $check == ok ]] || { echo "FAIL: fleetpipe's windows differ from DuckDB's ($check)" >&2; exit 1; }
