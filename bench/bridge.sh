#!/usr/bin/env bash
# MQTT ingest throughput: sim -> mosquitto -> fleetpipe bridge -> Kafka, against mosquitto's own
# ceiling measured in the same run with the same messages: mosquitto_sub (QoS 1, the plain
# subscriber shipped with mosquitto) reading what the bridge reads.
#
#   bench/bridge.sh [messages] [vehicles]      (defaults: 20000 vehicle/kinematic messages, 200 vehicles)
#
# Two figures per consumer:
#   drain — the messages wait in the consumer's persistent session (published while it was
#           down); the clock runs from the consumer's start until it has them all. This is the
#           consumer's own speed, with no simulator competing for the 2 cores.
#   live  — simulator, broker and consumer run together; the clock runs from the simulator's
#           start until the consumer has every message.
# The bridge counts a message when Kafka acknowledged its record (the in-memory broker of
# `fleetpipe broker` in another process) and only then PUBACKs it; the Kafka-side ceiling is
# the same messages produced straight into that broker by `fleetpipe sim --target kafka://`.
# CPU per 1000 messages is the bridge's user+system time from /proc over the drain run.
# INFLIGHT=N overrides mosquitto's max_inflight_messages (config/mosquitto: 1000).
set -euo pipefail
FP=${FLEETPIPE:-build/fleetpipe}
N=${1:-20000}
V=${2:-200}
minutes=$(( (N + V - 1) / V + 1 ))
INFLIGHT=${INFLIGHT:-}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
now() { date +%s.%N; }
free_port() { local p; while :; do p=$((20000 + RANDOM % 40000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo $p; return; }; done; }

mkfifo "$tmp/b.out"
"$FP" broker --brokers 1 --partitions 12 >"$tmp/b.out" 2>/dev/null &
pids+=($!)
exec 7<"$tmp/b.out"
read -r -t 30 BS <&7
cat <&7 >/dev/null &
pids+=($!)

"$FP" sim provision --vehicles "$V" --out "$tmp/creds" 2>/dev/null
PORT=$(free_port)
src=$(cd "$(dirname "$0")/.." && pwd)
sed -e "s|^listener 1883 |listener $PORT |" -e "s|^password_file .*|password_file $tmp/creds/passwd|" \
  -e "s|^acl_file .*|acl_file $src/config/mosquitto/acl|" -e "s|^max_queued_bytes .*|max_queued_bytes 0|" \
  ${INFLIGHT:+-e "s|^max_inflight_messages .*|max_inflight_messages $INFLIGHT|"} \
  "$src/config/mosquitto/mosquitto.conf" >"$tmp/mosquitto.conf"
chmod 644 "$tmp/mosquitto.conf"
chmod 711 "$tmp" # mosquitto drops root privileges to its own user
mosquitto -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
pids+=($!)
sleep 0.5
BPW=$(cat "$tmp/creds/bridge.secret")
auth=(-u fleetpipe-bridge -P "$BPW")
sub=(mosquitto_sub -h 127.0.0.1 -p "$PORT" "${auth[@]}" -q 1 -t 'fms/+/+/+' -i bench-sub -c)
bridge=("$FP" bridge --mqtt "mqtt://127.0.0.1:$PORT" --bootstrap-servers "$BS" --client-id bench-bridge
  --mqtt-username fleetpipe-bridge --mqtt-password-file "$tmp/creds/bridge.secret" --status-interval 100ms)
simulate() { "$FP" sim --only vehicle/kinematic --vehicles "$V" --duration "${minutes}m" --speedup max \
  --seed 3 --start 2026-04-01T00:00:00Z --threads 2 --credentials "$tmp/creds/devices.secret" \
  --target "mqtt://127.0.0.1:$PORT" 2>"$tmp/sim.log" || { tail -3 "$tmp/sim.log" >&2; exit 1; }; }
"$FP" sim --only vehicle/kinematic --vehicles "$V" --duration "${minutes}m" --speedup max \
  --seed 3 --start 2026-04-01T00:00:00Z --target "file:$tmp/data.jsonl" 2>/dev/null
bytes=$(wc -c <"$tmp/data.jsonl")
N=$(wc -l <"$tmp/data.jsonl") # devices start their first minute at staggered phases
echo "data: $N vehicle/kinematic messages of 60 samples from $V devices, $((bytes / 1000000)) MB ($((bytes / N)) bytes each)"

forwarded() { { grep -o 'forwarded [0-9]*' "$1" || true; } | tail -1 | cut -d' ' -f2; }
# wait_bridge LOG: until the bridge's status line shows N forwarded records.
wait_bridge() {
  local end=$((SECONDS + 300))
  until [[ $(forwarded "$1") -ge $N ]] 2>/dev/null; do
    ((SECONDS < end)) || { echo "bridge forwarded only $(forwarded "$1") of $N: see $1" >&2; exit 1; }
    sleep 0.05
  done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rate() { awk -v n="$N" -v a="$2" -v z="$3" -v s="$V" -v what="$1" 'BEGIN {
  printf "%-44s %8.0f msg/s %10.0f samples/s (%.2f s)\n", what, n / (z - a), n * 60 / (z - a), z - a }'; }

# -- the Kafka side alone: the same messages produced straight into the in-memory broker.
t0=$(now)
"$FP" sim --only vehicle/kinematic --vehicles "$V" --duration "${minutes}m" --speedup max \
  --seed 3 --start 2026-04-01T00:00:00Z --target "kafka://$BS" 2>/dev/null
t1=$(now)
rate "sim -> Kafka, no MQTT (Kafka-side ceiling)" "$t0" "$t1"

# -- mosquitto_sub, drain: create the session, publish while it is away, then time the drain.
"${sub[@]}" -W 1 >/dev/null 2>&1 || true
simulate
t0=$(now); "${sub[@]}" -C "$N" >/dev/null; t1=$(now)
rate "mosquitto_sub -q 1 drain (broker ceiling)" "$t0" "$t1"
sub_drain=$(awk -v a="$t0" -v z="$t1" 'BEGIN{print z - a}')
mosquitto_sub -h 127.0.0.1 -p "$PORT" "${auth[@]}" -t x -i bench-sub -W 1 >/dev/null 2>&1 || true # clean the session

# -- bridge, drain
"${bridge[@]}" 2>"$tmp/bridge.0.log" &
bp=$!
until grep -q "connected to MQTT" "$tmp/bridge.0.log"; do sleep 0.05; done
kill -TERM $bp; wait $bp
simulate
t0=$(now)
"${bridge[@]}" 2>"$tmp/bridge.1.log" &
bp=$!
pids+=($bp)
wait_bridge "$tmp/bridge.1.log"
t1=$(now)
ticks=$(cpu_ticks $bp)
kill -TERM $bp; wait $bp || true
rate "fleetpipe bridge drain (-> Kafka, ack after)" "$t0" "$t1"
hz=$(getconf CLK_TCK)
awk -v t="$ticks" -v hz="$hz" -v n="$N" -v ceil="$sub_drain" -v a="$t0" -v z="$t1" 'BEGIN {
  cpu = t / hz
  printf "fleetpipe bridge CPU:                        %8.1f ms per 1000 messages (%.0f msg/s per core)\n", cpu * 1000 / (n / 1000), n / cpu
  printf "bridge / broker ceiling (drain):             %8.0f %%\n", 100 * ceil / (z - a) }'

# -- live: simulator, broker and consumer together
"${sub[@]}" -W 1 >/dev/null 2>&1 || true
"${sub[@]}" -C "$N" >/dev/null &
sp=$!
t0=$(now); simulate; wait $sp; t1=$(now)
rate "sim -> mosquitto -> mosquitto_sub (live)" "$t0" "$t1"
sub_live=$(awk -v a="$t0" -v z="$t1" 'BEGIN{print z - a}')
mosquitto_sub -h 127.0.0.1 -p "$PORT" "${auth[@]}" -t x -i bench-sub -W 1 >/dev/null 2>&1 || true
"${bridge[@]}" 2>"$tmp/bridge.2.log" &
bp=$!
pids+=($bp)
until grep -q "connected to MQTT" "$tmp/bridge.2.log"; do sleep 0.05; done
base=$(forwarded "$tmp/bridge.2.log"); base=${base:-0}
N0=$N; N=$((N + base))
t0=$(now); simulate; wait_bridge "$tmp/bridge.2.log"; t1=$(now)
N=$N0
kill -TERM $bp; wait $bp || true
rate "sim -> mosquitto -> bridge -> Kafka (live)" "$t0" "$t1"
awk -v ceil="$sub_live" -v a="$t0" -v z="$t1" 'BEGIN { printf "bridge / broker ceiling (live):              %8.0f %%\n", 100 * ceil / (z - a) }'
grep -o 'delivery failures [0-9]*' "$tmp/bridge.2.log" | tail -1 | grep -q ' 0$' || echo "WARNING: Kafka delivery failures, see $tmp/bridge.2.log"
