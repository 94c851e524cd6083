#!/usr/bin/env bash
# The Fleet API's speed (bench/serve.sh), against Redis' own ceiling for the same reads in the
# same run:
#  - GET /api/v1/vehicles (a page of 100 of 10,000 vehicles) and GET /api/v1/vehicles/{id}
#    (random ids) with wrk, next to redis-benchmark doing the Redis reads each request makes
#    (a page: 101 HGETALL pipelined; one vehicle: HGETALL of the vehicle and of its zone's
#    5-minute window), with the same number of connections;
#  - SSE fan-out: 100 clients on /api/v1/stream while 1,000 changes/s are appended for 10 s
#    (XADD as the redis sink writes them); latency from the change in Redis to each client
#    (p50, p99), and the server's peak RSS.
#   bench/serve.sh [vehicles] [seconds] [connections]   (defaults: 10000, 10, 50)
# Targets (issue 16): >= 50% of the Redis read ceiling; SSE p99 <= 250 ms at 1,000 updates/s.
set -euo pipefail
FP=${FLEETPIPE:-build/fleetpipe}
vehicles=${1:-10000}
secs=${2:-10}
conns=${3:-50}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
rpid= spid=
cleanup() {
  [[ -n $spid ]] && kill "$spid" 2>/dev/null
  [[ -n $rpid ]] && kill "$rpid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 20); do
  port=$((20000 + RANDOM % 40000))
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    --daemonize no --logfile "$tmp/redis.log" &
  rpid=$!
  sleep 0.3
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
done
rc() { redis-cli -p "$port" "$@"; }

# 10,000 vehicles as the redis sink keeps them: each field with its time, the hash's ts, the id
# index, and one cargo zone with its latest 5-minute window.
awk -v n="$vehicles" 'function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
  function cmd(a, k,  i) { printf "*%d\r\n", k; for (i = 1; i <= k; i++) bulk(a[i]) }
  BEGIN { srand(1); t = 1767571200000
    split("lat lng speed heading odometer engine_on battery_voltage fuel_level temperature.z1 setpoint.z1 door_open.z1 device_id", f, " ")
    for (v = 1; v <= n; v++) {
      k = 0; a[++k] = "HSET"; a[++k] = "vehicle:" v
      val["lat"] = 37 + rand(); val["lng"] = 127 + rand(); val["speed"] = int(rand() * 90)
      val["heading"] = int(rand() * 360); val["odometer"] = 10000 + v; val["engine_on"] = "true"
      val["battery_voltage"] = 12.4; val["fuel_level"] = 55; val["temperature.z1"] = -18.2
      val["setpoint.z1"] = -18; val["door_open.z1"] = "false"; val["device_id"] = sprintf("dev-%06d", v)
      for (i = 1; i <= 12; i++) { a[++k] = f[i]; a[++k] = val[f[i]]; a[++k] = f[i] ":ts"; a[++k] = t }
      a[++k] = "ts"; a[++k] = t; cmd(a, k)
      delete a; a[1] = "ZADD"; a[2] = "fleet:vehicles"; a[3] = v; a[4] = v; cmd(a, 4)
      delete a; a[1] = "HSET"; a[2] = "agg5m:" v ":z1"; a[3] = "window_start"; a[4] = "2026-01-05T00:00:00.000Z"
      a[5] = "count"; a[6] = 60; a[7] = "avg"; a[8] = -18.1; a[9] = "final"; a[10] = "true"; cmd(a, 10)
    } }' | redis-cli -p "$port" --pipe >/dev/null

"$FP" serve --listen 127.0.0.1:0 --ready-file "$tmp/ready" --redis "redis://127.0.0.1:$port/0" \
  --clock data 2>"$tmp/serve.log" &
spid=$!
for _ in $(seq 100); do [[ -s $tmp/ready ]] && break; sleep 0.1; done
api=$(cat "$tmp/ready")
curl -sf "$api/api/v1/vehicles?limit=1" >/dev/null
echo "uptime: $(uptime)"

# wrk's rate: the Requests/sec line
wrk_rate() { wrk -t2 -c"$conns" -d"${secs}s" "$@" | awk '/^Requests\/sec/ {print $2}'; }
cat >"$tmp/rand.lua" <<LUA
math.randomseed(7)
request = function() return wrk.format("GET", "/api/v1/vehicles/" .. math.random(1, $vehicles)) end
LUA
list=$(wrk_rate "$api/api/v1/vehicles")
one=$(wrk_rate -s "$tmp/rand.lua" "$api")
# the same reads, by redis-benchmark: ops/s
rb() {
  redis-benchmark -p "$port" -c "$conns" -n "$1" -r "$vehicles" -q "${@:2}" | tr '\r' '\n' |
    sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1
}
page_ops=$(rb 2000000 -P 101 hgetall vehicle:__rand_int__)
one_ops=$(rb 400000 hgetall vehicle:__rand_int__)
awk -v l="$list" -v o="$one" -v po="$page_ops" -v oo="$one_ops" 'BEGIN {
  pc = po / 101; oc = oo / 2
  printf "GET /vehicles (page of 100): %.0f req/s; Redis ceiling for its reads %.0f req/s (HGETALL x101 pipelined: %.0f ops/s): %.0f%%\n", l, pc, po, 100 * l / pc
  printf "GET /vehicles/{id}: %.0f req/s; Redis ceiling for its reads %.0f req/s (2 HGETALL: %.0f ops/s): %.0f%%\n", o, oc, oo, 100 * o / oc }'
echo "serve peak RSS after the HTTP runs: $(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$spid/status") MiB"

# SSE fan-out: 100 clients, 1,000 changes/s for secs seconds
events=$((secs * 1000))
node "$here/sse-latency.mjs" "$api/api/v1/stream" 100 $((secs + 8)) "$events" >"$tmp/sse.json" &
npid=$!
sleep 3
# 50 changes every 50 ms, on a schedule (a late batch does not push the next ones back)
t0=$(date +%s%N)
for ((i = 0; i < secs * 20; i++)); do
  awk -v n=50 -v start=$((i * 50 + 1)) -v pad=60 -v vehicles="$vehicles" -v key=fleet:stream \
    -f "$here/../tests/integration/lib/xadd.awk" | redis-cli -p "$port" --pipe >/dev/null
  wait_ns=$((t0 + (i + 1) * 50000000 - $(date +%s%N)))
  ((wait_ns > 0)) && sleep "$(awk -v n=$wait_ns 'BEGIN { printf "%.3f", n / 1e9 }')"
done
echo "appended $events changes in $((($(date +%s%N) - t0) / 1000000)) ms"
wait "$npid"
jq -r '"SSE fan-out: \(.clients) clients, \(.events) events at ~1000/s: p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, max \(.max_ms) ms; clients that missed events: \(.missed)"' "$tmp/sse.json"
echo "serve peak RSS: $(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$spid/status") MiB"
