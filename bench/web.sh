#!/usr/bin/env bash
# The web console under a large live fleet (bench/web.sh; not part of the test suite):
# 10,000 vehicles, each one kinematic sample per second (kcat -> dev broker -> connect's
# redis-live connector -> Redis -> fleetpipe serve's event stream -> the page), for a minute,
# with the fleet map open in headless chromium. Measured in the browser through the Performance
# API (requestAnimationFrame deltas: frame time p50/p95/p99) and CDP (JS heap after a forced GC at
# the start and the end of the minute and once the load ended, with the backing stores outside
# V8's heap; and each second without a GC); the same page at rest (the fleet loaded, no updates) in
# the same run is the baseline. Target (issue 17): frame time p95 <= 50 ms, heap flat.
#   bench/web.sh [vehicles] [seconds] [rest seconds]   (defaults: 10000, 60, 15)
# Needs the built console (scripts/setup.sh) and tests/verify's node_modules (playwright-core).
# HEAP_SNAPSHOTS=DIR also writes heap snapshots at the start of the load and once quiet after it
# (DIR/start.heapsnapshot, DIR/end.heapsnapshot): node bench/heapdiff.mjs DIR/start.heapsnapshot
# DIR/end.heapsnapshot lists what grew. WEB_DIR=DIR serves the console built into DIR (serve
# --web-dir) instead of the binary's own: two builds of web/ compared in interleaved runs.
FLEETPIPE=${FLEETPIPE:-$PWD/build/fleetpipe}
export FP_SRC=${FP_SRC:-$PWD}
source "$FP_SRC/tests/integration/lib/connect.bash"
source "$FP_SRC/tests/integration/lib/redis.bash"
vehicles=${1:-10000}
secs=${2:-60}
rest=${3:-15}
here=$FP_SRC/bench

start_broker 4
start_redis
jq --arg u "redis://127.0.0.1:$REDIS_PORT/0" '.config["redis.url"] = $u' \
  "$FP_SRC/config/connectors/redis-live.json" >"$tmp/redis-live.json"
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/redis-live.json" --rest-listen "" \
  --status-interval 1h >"$tmp/connect.out" 2>"$tmp/connect.log" &
pids+=($!)
"$FP" serve --listen 127.0.0.1:0 --ready-file "$tmp/serve.ready" --redis "redis://127.0.0.1:$REDIS_PORT/0" \
  ${WEB_DIR:+--web-dir "$WEB_DIR"} >"$tmp/serve.log" 2>&1 &
spid=$!
pids+=($spid)
wait_for "serve" 20 test -s "$tmp/serve.ready"
url=$(cat "$tmp/serve.ready")

# every vehicle once, then the page
node "$here/web-load.mjs" "$vehicles" 1 | kcat -P -b "$BS" -t fms.vehicle -K'|' 2>/dev/null
all() { [[ $(rcli zcard fleet:vehicles) -ge $vehicles ]]; }
wait_for "$vehicles vehicles in Redis" 120 all
SHOT=${SHOT:-$tmp/map.png} node "$here/web-measure.mjs" "$url/" "$vehicles" "$rest" "$secs" "$tmp/load.on" "$tmp/rest.done" "$tmp/load.done" \
  >"$tmp/measure.json" 2>"$tmp/measure.log" &
mpid=$!
pids+=($mpid)
wait_for "the page's rest phase" 300 test -e "$tmp/rest.done"
x0=$(rcli xinfo stream fleet:stream | awk '/^entries-added$/ {getline; print}')
node "$here/web-load.mjs" "$vehicles" $((secs + 8)) | kcat -P -b "$BS" -t fms.vehicle -K'|' 2>/dev/null &
lpid=$!
pids+=($lpid)
sleep 3 # the stream at full rate before the minute starts
t0=$(date +%s.%N)
touch "$tmp/load.on"
measured() { test -e "$tmp/load.done" || ! kill -0 "$mpid" 2>/dev/null; }
wait_for "the load phase" $((secs + 120)) measured
t1=$(date +%s.%N)
x1=$(rcli xinfo stream fleet:stream | awk '/^entries-added$/ {getline; print}')
wait "$mpid" || { cat "$tmp/measure.log" >&2; exit 1; }
wait "$lpid" 2>/dev/null || true
m=$(cat "$tmp/measure.json")
echo "web: $vehicles vehicles, $(jq -r .load.updates_per_s <<<"$m") updates/s reached the page (Redis' change stream: $(echo "($x1 - $x0) / ($t1 - $t0 + 3)" | bc) entries/s)"
echo "web: frame time at rest:  p50 $(jq -r .rest.p50_ms <<<"$m") ms, p95 $(jq -r .rest.p95_ms <<<"$m") ms, p99 $(jq -r .rest.p99_ms <<<"$m") ms ($(jq -r .rest.frames <<<"$m") frames)"
echo "web: frame time under load: p50 $(jq -r .load.p50_ms <<<"$m") ms, p95 $(jq -r .load.p95_ms <<<"$m") ms, p99 $(jq -r .load.p99_ms <<<"$m") ms, max $(jq -r .load.max_ms <<<"$m") ms ($(jq -r .load.frames <<<"$m") frames in $secs s)"
echo "web: main thread under load: $(jq -r .load.stream_pct <<<"$m")% parsing and applying the stream, $(jq -r .load.draw_pct <<<"$m")% drawing the map ($(jq -r .load.draw_ms_each <<<"$m") ms a frame)"
echo "web: JS heap after a forced GC: $(jq -r .heap_start_mb <<<"$m") MB at the start, $(jq -r .heap_end_mb <<<"$m") MB after $secs s; outside V8's heap (array buffers, external strings) $(jq -r .backing_start_mb <<<"$m") -> $(jq -r .backing_end_mb <<<"$m") MB"
echo "web: JS heap after a forced GC once the load ended and the page applied the rest: $(jq -r .heap_quiet_mb <<<"$m") MB; outside V8's heap $(jq -r .backing_quiet_mb <<<"$m") MB (compare with the start: both at rest)"
echo "web: JS heap without a forced GC under load, lowest-highest per 10 s: $(jq -r '[.load.heap_nogc_mb[] | "\(.[0])-\(.[1])"] | join(", ")' <<<"$m") MB"
