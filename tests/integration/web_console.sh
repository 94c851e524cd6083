#!/usr/bin/env bash
# web_console.sh — the web console in a real browser (Debian's chromium, headless, driven by
# playwright-core from tests/verify) against a running pipeline: fleetpipe sim -> dev broker ->
# connect (the shipped redis-live connectors, a dynamodb connector and the 5-minute cargo chain)
# -> redis-server and dynalite, mart rows in a throwaway PostgreSQL, and `fleetpipe serve` with
# tokens under a restart loop. tests/verify/webcheck.mjs then checks, in the browser:
#  1. the served page: CSP forbidding inline script, nosniff, content types, hashed assets cached;
#     an inline script injected into the page does not run.
#  2. sign-in: a bad token is refused; a viewer sees no command buttons, an operator does.
#  3. the map holds exactly the vehicles Redis holds (ids from redis-cli), counters per status
#     equal the API's; a vehicle whose position changes (kcat -> connect -> Redis) is drawn at
#     its new place (within 2 s of Redis holding it).
#  4. the detail page's values equal GET /vehicles/{id}, the track the API's samples, the KPIs
#     the API's mart row.
#  5. a device field `<img src=x onerror=alert(1)>` shows as text: no dialog, no element made.
#  6. the pipeline page lists the dead letter the test made (bad JSON -> redis-live's dead-letter
#     queue) with the reason kcat reads in its error.class header; the topic browser shows it.
#  7. serve stopped: the banner shows; changes made meanwhile; serve back: the banner goes and the
#     page received every change id Redis' stream holds after its last one, once, in order.
#  8. without the console's files (--web-dir of an empty directory) / answers 503 saying how to
#     build them, and the API keeps answering.
# Screenshots of each page go to $tmp/shots (kept with KEEP=1).
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"
source "$(dirname "$0")/lib/dynamodb.bash"
source "$(dirname "$0")/lib/redis.bash"
source "$(dirname "$0")/lib/pg.bash"
source "$(dirname "$0")/lib/serve.bash"
conf=$FP_SRC/config/connectors
verify=$FP_SRC/tests/verify

command -v chromium >/dev/null || fail "chromium is not installed (scripts/setup.sh installs it)"
[[ -d $verify/node_modules/playwright-core ]] || fail "npm ci --prefix tests/verify first (playwright-core)"
[[ -s $FP_SRC/web/dist/index.html ]] || fail "the console is not built (npm ci --prefix web && npm run build --prefix web)"

start_broker 2
start_redis
start_dynalite
start_pg
EP=http://127.0.0.1:$DYNALITE_PORT
"$FP" dynamodb create-table --table fms --endpoint "$EP" >/dev/null || fail "create-table"

# The fleet: 12 vehicles, the last 10 minutes up to now (so none is offline), into Kafka.
start=$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ)
"$FP" sim --only vehicle/kinematic,vehicle/status,cargo/temperature --vehicles 12 --seed 17 \
  --speedup max --duration 10m --start "$start" --target "kafka://$BS" 2>"$tmp/sim.log" ||
  fail "sim: $(tail -3 "$tmp/sim.log")"

# The connectors, running for the whole test: live state, the track and the 5-minute windows.
for c in redis-live redis-live-cargo; do
  jq --arg u "redis://127.0.0.1:$REDIS_PORT/0" '.config["redis.url"] = $u | .config["tasks.max"] = "1"' \
    "$conf/$c.json" >"$tmp/$c.json"
done
ddb_connector ddb-vehicle "$EP" "" 1
jq '.config["topics.regex"] = "fms\\.vehicle"' "$tmp/ddb-vehicle.json" >"$tmp/ddb-v.json"
jq '.config["aggregate.idle"] = "2s"' "$conf/agg-cargo-5m.json" >"$tmp/agg.json"
jq --arg ep "$EP" '.config["aws.dynamodb.endpoint"] = $ep' "$conf/dynamodb-agg-5m.json" >"$tmp/ddb-agg.json"
CONNECT_PORT=$(free_port)
"$FP" connect --bootstrap-servers "$BS" --rest-listen "127.0.0.1:$CONNECT_PORT" --status-interval 1h \
  --connector "$tmp/redis-live.json" --connector "$tmp/redis-live-cargo.json" \
  --connector "$tmp/ddb-v.json" --connector "$tmp/agg.json" --connector "$tmp/ddb-agg.json" \
  >"$tmp/connect.out" 2>"$tmp/connect.log" &
pids+=($!)
loaded() { [[ $(rcli zcard fleet:vehicles) == 12 && $(rcli hget vehicle:12 lat) != "" ]]; }
wait_for "12 vehicles in Redis" 60 loaded

# Today's KPIs of vehicle 3 (the fleet's local day, Asia/Seoul).
today=$(TZ=Asia/Seoul date +%F)
"$FP" warehouse init --pg "$PG_URL" --mart-schema "$FP_SRC/config/warehouse/sql/schema.sql" \
  >/dev/null 2>"$tmp/wh.log" || fail "warehouse init: $(tail -3 "$tmp/wh.log")"
pq -c "INSERT INTO mart.vehicle_daily SELECT id, '$today', 123.456 + id - 3, 120.5, 3600, 600.25, 4200,
  0.25, 4, 88.8, 12, 1, 2, 2.43, 12.1, 7.5, 86400 FROM generate_series(1, 12) id" >/dev/null

# The API, restarted by this loop whenever it exits (the browser test stops it once); while
# $tmp/serve.hold exists it stays down.
cat >"$tmp/tokens" <<EOF
viewer-token-0123456789 viewer vera
operator-token-0123456789 operator olga
EOF
SERVE_PORT=$(free_port)
API=http://127.0.0.1:$SERVE_PORT
(
  while [[ ! -e $tmp/serve.stop ]]; do
    while [[ -e $tmp/serve.hold ]]; do sleep 0.1; done
    "$FP" serve --listen "127.0.0.1:$SERVE_PORT" --tokens "$tmp/tokens" --heartbeat 1s \
      --redis "redis://127.0.0.1:$REDIS_PORT/0" --bootstrap-servers "$BS" \
      --connect "http://127.0.0.1:$CONNECT_PORT" --dynamodb-table fms --dynamodb-endpoint "$EP" \
      --pg "$PG_URL" --timezone Asia/Seoul >>"$tmp/serve.log" 2>&1 &
    echo $! >"$tmp/serve.pid"
    wait $! || true
  done
) &
pids+=($!)
stop_serve_loop() {
  touch "$tmp/serve.stop"
  rm -f "$tmp/serve.hold"
  [[ -s $tmp/serve.pid ]] && kill "$(cat "$tmp/serve.pid")" 2>/dev/null
  cleanup
}
trap stop_serve_loop EXIT
up() { curl -sf "$API/healthz" >/dev/null; }
wait_for "serve on $API" 20 up

# HEAD of the console's files: GET's status and headers, no body (a link checker or a proxy's
# probe); not on the API's routes
curl -s -I "$API/" >"$tmp/head.txt"
grep -q '^HTTP/1.1 200' "$tmp/head.txt" && grep -qi '^content-security-policy:.*script-src' "$tmp/head.txt" &&
  [[ $(curl -s -o /dev/null -w '%{size_download}' -I "$API/") == 0 ]] || fail "HEAD /: $(cat "$tmp/head.txt")"
[[ $(curl -s -o /dev/null -w '%{http_code}' -I "$API/api/v1/vehicles") == 405 ]] || fail "HEAD on an API route"

# What Redis holds, for the browser test to compare with.
rcli zrange fleet:vehicles 0 -1 | jq -R 'tonumber' | jq -s -c . >"$tmp/redis_ids.json"

mkdir -p "$tmp/shots"
node "$verify/webcheck.mjs" --url "$API" --viewer viewer-token-0123456789 \
  --operator operator-token-0123456789 --redis-port "$REDIS_PORT" --bootstrap "$BS" \
  --ids "$tmp/redis_ids.json" --shots "$tmp/shots" --serve-pid "$tmp/serve.pid" \
  --hold "$tmp/serve.hold" >"$tmp/webcheck.json" 2>"$tmp/webcheck.log" ||
  fail "webcheck: $(tail -20 "$tmp/webcheck.log")"
ls "$tmp/shots"/*.png >/dev/null || fail "no screenshots"

# 8. a server without the console's files: / is a 503 page that says how to build them, the API
#    answers as ever.
mkdir -p "$tmp/noweb"
start_serve --redis "redis://127.0.0.1:$REDIS_PORT/0" --web-dir "$tmp/noweb"
api /
[[ $CODE == 503 ]] && grep -q "npm run build --prefix web" <<<"$BODY" || fail "without console files: $CODE $BODY"
api "/api/v1/vehicles?limit=1"
[[ $CODE == 200 ]] || fail "the API without console files: $CODE"
echo "web_console: ok ($(jq -r '.summary' "$tmp/webcheck.json"))"
