#!/usr/bin/env bash
# Peak memory (RSS, /usr/bin/time -f %M) of the three long-running or bulk processes, each next
# to its throughput in the same run, so a memory budget that costs speed shows (the bridge, which
# runs until stopped, reads its VmHWM from /proc before it is stopped: the same figure):
#
#   connect — `fleetpipe connect`, objstore sink into a file:// raw lake, 2 tasks, 50
#             partitions, a backlog of ~87 MB asked (112 MB with the simulator of 2026-12) of vehicle/kinematic messages waiting in the
#             in-memory broker of `fleetpipe broker`. Alternative: kcat -C -o beginning -e
#             reading the same backlog (librdkafka's default fetch queues, no sink).
#   bridge  — `fleetpipe bridge` draining 20,000 messages that mosquitto queued for its
#             persistent session while it was away (sim published them at full speed), into
#             the same kind of broker. Alternative: mosquitto_sub -q 1 draining the same.
#   convert — `fleetpipe lake convert` of one hour of 1000 vehicles (~510 MB of raw JSON lines
#             in 8 objects), pinned to one CPU. Alternative: DuckDB (bench/lake-duckdb.mjs,
#             SET threads=1) doing the same job, measured as its node process.
#
#   bench/memory.sh [runs] [cases]     (defaults: 3 runs; cases "connect bridge convert")
#
# CONNECT_BUDGET_MB=N runs connect with --memory-budget-mb N (the worker's memory budget,
# docs/connect.md); CONNECT_QUEUE_KB=N adds consumer.override.queued.max.messages.kbytes=N;
# CONNECT_BEFORE=BINARY also runs that fleetpipe binary (e.g. main's) on the same backlog in
# every run, as "connect before" (no budget flag: its own defaults; the two take turns going
# first), so a budget that costs speed shows against the same minute of the machine.
# BRIDGE_QUEUE_KB=N runs the bridge with --kafka-queue-kb N.
#
# Prints one line per run and figure, then per process the highest RSS of the runs and the
# median throughput. Connect's time runs from its first partition assignment to its final
# status line minus the 1 s idle wait (as bench/connect.sh); the bridge's from its start until
# its status line shows every message forwarded (as bench/bridge.sh, drain); convert's is its
# whole run.
set -euo pipefail
FP=${FLEETPIPE:-build/fleetpipe}
SRC=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
CASES=${2:-connect bridge convert}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
now() { date +%s.%N; }
mib() { echo $(($1 / 1024)); }
free_port() { local p; while :; do p=$((20000 + RANDOM % 40000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo $p; return; }; done; }
# start_broker PARTITIONS: an in-memory broker; sets BS.
start_broker() {
  rm -f "$tmp/b.out"
  mkfifo "$tmp/b.out"
  "$FP" broker --brokers 1 --partitions "$1" >"$tmp/b.out" 2>/dev/null &
  pids+=($!)
  BROKER_PID=$!
  exec 7<"$tmp/b.out"
  read -r -t 30 BS <&7
  cat <&7 >/dev/null &
  pids+=($!)
}
stop_broker() { kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; exec 7<&-; }
# summary NAME UNIT: highest RSS and median rate over the runs in $tmp/NAME.runs ("rss rate").
summary() {
  sort -n -k2 "$tmp/$1.runs" | awk -v n="$1" -v u="$2" '{ r[NR] = $2; if ($1 > m) m = $1 }
    END { printf "%-30s peak RSS %4d MiB (highest of %d)   %9.1f %s (median)\n", n ":", m / 1024, NR, r[int((NR + 1) / 2)], u }'
}

# -- connect: 87 MB in 50 partitions (the broker keeps 5 MiB per partition: ~1.7 MB each here)
case_connect() {
  local fleet=(--only vehicle/kinematic --vehicles 2000 --speedup max --seed 1 --start 2026-01-05T00:00:00Z)
  local avg minutes msgs bytes n
  avg=$("$FP" sim "${fleet[@]}" --duration 2m 2>/dev/null | awk '{ n++; b += length($0) + 1 } END { print int(b / n) }')
  minutes=$((87 * 1000000 / avg / 2000 + 1))
  start_broker 50
  "$FP" sim "${fleet[@]}" --duration "${minutes}m" --target "kafka://$BS" 2>"$tmp/sim.log"
  msgs=$(sed -n 's/.*published \([0-9]*\),.*/\1/p' "$tmp/sim.log")
  bytes=$(kcat -C -b "$BS" -t fms.vehicle -o beginning -e -q -f '%S\n' 2>/dev/null | awk '{s+=$1} END {print s}')
  n=$(kcat -C -b "$BS" -t fms.vehicle -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l)
  [[ $n -eq $msgs ]] || { echo "broker holds $n of $msgs messages (5 MiB/partition limit?)" >&2; exit 1; }
  echo "connect data: $msgs messages, $((bytes / 1000000)) MB in 50 partitions of fms.vehicle"
  : >"$tmp/connect.runs"
  : >"$tmp/before.runs"
  : >"$tmp/kcat.runs"
  local i t0 t1 rss queue=
  [[ -n ${CONNECT_QUEUE_KB:-} ]] && queue=", \"consumer.override.queued.max.messages.kbytes\": \"$CONNECT_QUEUE_KB\""
  # connect_run NAME RUNS-FILE BINARY [FLAGS...]: one connect over the backlog into a fresh lake
  connect_run() {
    local name=$1 runs=$2 bin=$3 start stop secs lake
    shift 3
    rm -rf "$tmp/lake"
    cat >"$tmp/c.json" <<JSON
{"name": "mem$i$RANDOM", "connector.class": "objstore", "topics": "fms.vehicle", "tasks.max": "2",
 "store.url": "file://$tmp/lake", "timestamp.field": "messaged_at", "flush.size": "10000",
 "format.compression": "none"$queue}
JSON
    /usr/bin/time -f %M -o "$tmp/connect.rss" "$bin" connect --bootstrap-servers "$BS" \
      --connector "$tmp/c.json" --exit-when-idle 1s "$@" 2>"$tmp/connect.log"
    rss=$(cat "$tmp/connect.rss")
    start=$(grep -m1 "assigned" "$tmp/connect.log" | cut -d' ' -f1)
    stop=$(grep -m1 "final status" "$tmp/connect.log" | cut -d' ' -f1)
    secs=$(($(date -d "$stop" +%s%3N) - $(date -d "$start" +%s%3N) - 1000))
    lake=$(find "$tmp/lake/raw" -type f -name '*.jsonl' -print0 | xargs -0 cat | wc -l)
    [[ $lake -eq $msgs ]] || { echo "lake holds $lake of $msgs records, see $tmp/connect.log" >&2; exit 1; }
    awk -v r="$rss" -v b="$bytes" -v ms="$secs" -v i="$i" -v n="$name" 'BEGIN {
      printf "run %d %-34s peak RSS %4d MiB  %7.1f MB/s (%.2f s)\n", i, n ":", r / 1024, b / 1e6 / (ms / 1000), ms / 1000
      print r, b / 1e6 / (ms / 1000) >>"'"$runs"'" }'
  }
  for ((i = 1; i <= RUNS; i++)); do
    t0=$(now)
    /usr/bin/time -f %M -o "$tmp/kcat.rss" kcat -C -b "$BS" -t fms.vehicle -o beginning -e -q >/dev/null 2>&1
    t1=$(now)
    rss=$(cat "$tmp/kcat.rss")
    awk -v r="$rss" -v b="$bytes" -v a="$t0" -v z="$t1" -v i="$i" 'BEGIN {
      printf "run %d kcat -C -o beginning -e:          peak RSS %4d MiB  %7.1f MB/s (%.2f s)\n", i, r / 1024, b / 1e6 / (z - a), z - a
      print r, b / 1e6 / (z - a) >>"'"$tmp/kcat.runs"'" }'
    # with CONNECT_BEFORE the two take turns going first, so neither always gets the warmer broker
    if [[ -n ${CONNECT_BEFORE:-} ]] && ((i % 2 == 0)); then
      connect_run "connect before ($(basename "$CONNECT_BEFORE"))" "$tmp/before.runs" "$CONNECT_BEFORE"
    fi
    connect_run "fleetpipe connect (2 tasks)" "$tmp/connect.runs" "$FP" \
      ${CONNECT_BUDGET_MB:+--memory-budget-mb "$CONNECT_BUDGET_MB"}
    if [[ -n ${CONNECT_BEFORE:-} ]] && ((i % 2 == 1)); then
      connect_run "connect before ($(basename "$CONNECT_BEFORE"))" "$tmp/before.runs" "$CONNECT_BEFORE"
    fi
  done
  mv "$tmp/connect.runs" "$tmp/fleetpipe connect (2 tasks).runs"
  mv "$tmp/kcat.runs" "$tmp/kcat -C -o beginning -e.runs"
  summary "fleetpipe connect (2 tasks)" "MB/s"
  if [[ -n ${CONNECT_BEFORE:-} ]]; then
    mv "$tmp/before.runs" "$tmp/connect before.runs"
    summary "connect before" "MB/s"
  fi
  summary "kcat -C -o beginning -e" "MB/s"
  stop_broker
}

# -- bridge: 20,000 messages queued by mosquitto for the bridge's session, then drained
case_bridge() {
  local N=20000 V=200 minutes=$(((20000 + 200 - 1) / 200 + 1))
  start_broker 12
  "$FP" sim provision --vehicles "$V" --out "$tmp/creds" 2>/dev/null
  local PORT
  PORT=$(free_port)
  sed -e "s|^listener 1883 |listener $PORT |" -e "s|^password_file .*|password_file $tmp/creds/passwd|" \
    -e "s|^acl_file .*|acl_file $SRC/config/mosquitto/acl|" -e "s|^max_queued_bytes .*|max_queued_bytes 0|" \
    "$SRC/config/mosquitto/mosquitto.conf" >"$tmp/mosquitto.conf"
  chmod 644 "$tmp/mosquitto.conf"
  chmod 711 "$tmp"
  mosquitto -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
  local mp=$!
  pids+=($mp)
  sleep 0.5
  local BPW auth sub bridge
  BPW=$(cat "$tmp/creds/bridge.secret")
  auth=(-u fleetpipe-bridge -P "$BPW")
  sub=(mosquitto_sub -h 127.0.0.1 -p "$PORT" "${auth[@]}" -q 1 -t 'fms/+/+/+' -i mem-sub -c)
  bridge=("$FP" bridge --mqtt "mqtt://127.0.0.1:$PORT" --bootstrap-servers "$BS" --client-id mem-bridge
    --mqtt-username fleetpipe-bridge --mqtt-password-file "$tmp/creds/bridge.secret" --status-interval 100ms ${BRIDGE_QUEUE_KB:+--kafka-queue-kb "$BRIDGE_QUEUE_KB"})
  simulate() { "$FP" sim --only vehicle/kinematic --vehicles "$V" --duration "${minutes}m" --speedup max \
    --seed 3 --start 2026-04-01T00:00:00Z --threads 2 --credentials "$tmp/creds/devices.secret" \
    --target "mqtt://127.0.0.1:$PORT" 2>"$tmp/sim.log" || { tail -3 "$tmp/sim.log" >&2; exit 1; }; }
  "$FP" sim --only vehicle/kinematic --vehicles "$V" --duration "${minutes}m" --speedup max \
    --seed 3 --start 2026-04-01T00:00:00Z --target "file:$tmp/data.jsonl" 2>/dev/null
  local bytes
  bytes=$(wc -c <"$tmp/data.jsonl")
  N=$(wc -l <"$tmp/data.jsonl")
  rm -f "$tmp/data.jsonl"
  echo "bridge data: $N vehicle/kinematic messages from $V devices, $((bytes / 1000000)) MB, queued in mosquitto"
  forwarded() { { grep -o 'forwarded [0-9]*' "$1" || true; } | tail -1 | cut -d' ' -f2; }
  : >"$tmp/sub.runs"
  : >"$tmp/bridge.runs"
  local i t0 t1 rss bp base
  # the bridge's session: created once, then messages are queued for it while it is away
  "${bridge[@]}" 2>"$tmp/bridge.0.log" &
  bp=$!
  until grep -q "connected to MQTT" "$tmp/bridge.0.log" 2>/dev/null; do sleep 0.05; done
  kill -TERM $bp
  wait $bp || true
  base=0
  for ((i = 1; i <= RUNS; i++)); do
    "${sub[@]}" -W 1 >/dev/null 2>&1 || true
    simulate
    t0=$(now)
    /usr/bin/time -f %M -o "$tmp/sub.rss" "${sub[@]}" -C "$N" >/dev/null
    t1=$(now)
    mosquitto_sub -h 127.0.0.1 -p "$PORT" "${auth[@]}" -t x -i mem-sub -W 1 >/dev/null 2>&1 || true
    rss=$(cat "$tmp/sub.rss")
    awk -v r="$rss" -v n="$N" -v a="$t0" -v z="$t1" -v i="$i" 'BEGIN {
      printf "run %d mosquitto_sub -q 1 drain:         peak RSS %4d MiB  %7.0f msg/s (%.2f s)\n", i, r / 1024, n / (z - a), z - a
      print r, n / (z - a) >>"'"$tmp/sub.runs"'" }'

    simulate
    t0=$(now)
    "${bridge[@]}" 2>"$tmp/bridge.$i.log" &
    bp=$!
    pids+=($bp)
    local end=$((SECONDS + 300))
    until [[ $(forwarded "$tmp/bridge.$i.log") -ge $N ]] 2>/dev/null; do
      ((SECONDS < end)) || { echo "bridge forwarded only $(forwarded "$tmp/bridge.$i.log") of $N" >&2; exit 1; }
      sleep 0.05
    done
    t1=$(now)
    rss=$(awk '/^VmHWM/ {print $2}' "/proc/$bp/status") # the bridge runs until stopped: its peak RSS so far
    kill -TERM $bp
    wait $bp || true
    awk -v r="$rss" -v n="$N" -v a="$t0" -v z="$t1" -v i="$i" 'BEGIN {
      printf "run %d fleetpipe bridge drain:           peak RSS %4d MiB  %7.0f msg/s (%.2f s)\n", i, r / 1024, n / (z - a), z - a
      print r, n / (z - a) >>"'"$tmp/bridge.runs"'" }'
  done
  mv "$tmp/bridge.runs" "$tmp/fleetpipe bridge drain.runs"
  mv "$tmp/sub.runs" "$tmp/mosquitto_sub -q 1 drain.runs"
  summary "fleetpipe bridge drain" "msg/s"
  summary "mosquitto_sub -q 1 drain" "msg/s"
  kill $mp 2>/dev/null || true
  wait $mp 2>/dev/null || true
  stop_broker
}

# -- lake convert: one hour of 1000 vehicles in 8 raw objects, as the objstore sink names them
case_convert() {
  local raw=$tmp/conv/raw/fms.vehicle/dt=2026-03-03/hour=10 lines per j=0 bytes rows
  mkdir -p "$raw"
  "$FP" sim --vehicles 1000 --duration 1h --speedup max --seed 1 --start 2026-03-03T10:00:00Z \
    --only vehicle/kinematic --target "file:$tmp/conv/all.jsonl" 2>/dev/null
  lines=$(wc -l <"$tmp/conv/all.jsonl")
  per=$(((lines + 7) / 8))
  split -l "$per" -d -a 3 "$tmp/conv/all.jsonl" "$tmp/conv/part-"
  rm "$tmp/conv/all.jsonl"
  for f in "$tmp"/conv/part-*; do
    mv "$f" "$raw/fms.vehicle+0+$(printf '%020d' $((j * per))).jsonl"
    j=$((j + 1))
  done
  bytes=$(cat "$raw"/*.jsonl | wc -c)
  echo "convert data: $lines messages in 8 raw objects of one hour, $((bytes / 1000000)) MB"
  : >"$tmp/fp.runs"
  : >"$tmp/duck.runs"
  local i t0 t1 rss s
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$tmp/conv/lake" "$tmp/conv/duck"
    t0=$(now)
    /usr/bin/time -f %M -o "$tmp/fp.rss" taskset -c 0 "$FP" lake convert --from "file://$tmp/conv/raw" \
      --to "file://$tmp/conv/lake" >"$tmp/fp.json" 2>"$tmp/fp.log"
    t1=$(now)
    rows=$(jq .rows_written "$tmp/fp.json")
    rss=$(cat "$tmp/fp.rss")
    awk -v r="$rss" -v b="$bytes" -v n="$rows" -v a="$t0" -v z="$t1" -v i="$i" 'BEGIN {
      printf "run %d fleetpipe lake convert:           peak RSS %4d MiB  %7.1f MB/s (%.0f rows/s, %.2f s)\n", i, r / 1024, b / 1e6 / (z - a), n / (z - a), z - a
      print r, b / 1e6 / (z - a) >>"'"$tmp/fp.runs"'" }'
    /usr/bin/time -f %M -o "$tmp/duck.rss" node "$SRC/bench/lake-duckdb.mjs" "$tmp/conv/raw" "$tmp/conv/duck" >"$tmp/duck.json"
    s=$(jq .seconds "$tmp/duck.json")
    rss=$(cat "$tmp/duck.rss")
    awk -v r="$rss" -v b="$bytes" -v s="$s" -v i="$i" 'BEGIN {
      printf "run %d DuckDB (threads=1, node):         peak RSS %4d MiB  %7.1f MB/s (%.2f s)\n", i, r / 1024, b / 1e6 / s, s
      print r, b / 1e6 / s >>"'"$tmp/duck.runs"'" }'
  done
  mv "$tmp/fp.runs" "$tmp/fleetpipe lake convert.runs"
  mv "$tmp/duck.runs" "$tmp/DuckDB (threads=1, node).runs"
  summary "fleetpipe lake convert" "MB/s"
  summary "DuckDB (threads=1, node)" "MB/s"
  rm -rf "$tmp/conv"
}

for c in $CASES; do "case_$c"; done
