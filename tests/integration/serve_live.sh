#!/usr/bin/env bash
# serve_live.sh — the Fleet API's live state against real servers: fleetpipe sim -> dev broker ->
# connect (the shipped config/connectors/redis-live*.json) -> redis-server -> fleetpipe serve.
#  1. GET /vehicles walked page by page: every simulated vehicle once, in id order, each with the
#     fields, cargo zones, times and status that jq computes from the simulator's own file output
#     (lib/serve_expect.jq); /vehicles/{id} says the same; the ids, status and bbox filters select
#     what jq selects.
#  2. Bad input answers 400 naming the parameter; an unknown vehicle 404; a viewer/unknown token
#     401 when tokens are configured.
#  3. /feed: the first calls page the snapshot (every vehicle); after new samples the feed from
#     the snapshot's endCursor holds exactly the change they make.
#  4. /stream: a connected client gets the change; a client that disconnects while changes are
#     made and resumes with Last-Event-ID gets each of them once, in the stream's order; an id
#     older than the history Redis keeps gets `event: gap`, then what is kept.
#  5. Redis stopped: /vehicles 503 naming redis, /healthz 503 with the reason; restarted: 200.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/redis.bash"
source "$(dirname "$0")/lib/serve.bash"
lib=$(dirname "$0")/lib
conf=${FP_SRC:?}/config/connectors

start_broker 4
start_redis --appendonly yes

fleet=(--only vehicle/kinematic,vehicle/status,cargo/temperature --vehicles 20 --seed 5 --speedup max)
"$FP" sim "${fleet[@]}" --duration 8m --start 2026-01-05T00:00:00Z --target "file:$tmp/sim.jsonl" 2>/dev/null
"$FP" sim "${fleet[@]}" --duration 8m --start 2026-01-05T00:00:00Z --target "kafka://$BS" 2>/dev/null

for c in redis-live redis-live-cargo; do
  jq --arg u "redis://127.0.0.1:$REDIS_PORT/0" '.config["redis.url"] = $u' "$conf/$c.json" >"$tmp/$c.json"
done
run_connect() {
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/redis-live.json" \
    --connector "$tmp/redis-live-cargo.json" --rest-listen "" --exit-when-idle 4s \
    --status-interval 1h >>"$tmp/connect.log" 2>&1 || fail "connect"
}
run_connect

# The expectation, from the simulator's messages only: vehicle fields as the sink keeps them,
# cargo fields renamed "<field>.z<zone>" (redis.fields + redis.field.suffix of redis-live-cargo).
jq -c 'select(.object == "vehicle")' "$tmp/sim.jsonl" >"$tmp/veh.jsonl"
jq -c 'select(.object == "cargo") | {id, measurements: [.measurements[] | . as $m
        | {timestamp_iso} + ([$m | to_entries[] | select(.key == "temperature" or .key == "setpoint" or .key == "door_open")
                              | {key: "\(.key).z\($m.zone)", value}] | from_entries)]}' "$tmp/sim.jsonl" >"$tmp/cargo.jsonl"
cat "$tmp/veh.jsonl" "$tmp/cargo.jsonl" | jq -n -c -f "$lib/redis_expect.jq" >"$tmp/fields.json"
jq -n -c --slurpfile v "$tmp/fields.json" -f "$lib/serve_expect.jq" >"$tmp/expect.json"
nveh=$(jq length "$tmp/expect.json")
((nveh == 20)) || fail "jq expects $nveh vehicles"

start_serve --redis "redis://127.0.0.1:$REDIS_PORT/0" --clock data --heartbeat 1s
# the hub has read the whole change history (so the data clock is the fleet's newest sample)
xlen=$(rcli xlen fleet:stream)
((xlen > 1000)) || fail "change stream holds $xlen entries"
hub_read() { [[ $(curl -s "$API/metrics" | awk '$1 == "fleetpipe_serve_stream_changes_total" {print $2}') -ge $xlen ]]; }
wait_for "the hub to read the stream" 20 hub_read
[[ $(curl -s "$API/healthz") == ok ]] || fail "healthz: $(curl -s "$API/healthz")"
# /metrics passes the reference linter and exports every name docs/operations.md lists for serve
curl -s "$API/metrics" >"$tmp/serve.prom"
promtool check metrics <"$tmp/serve.prom" >"$tmp/promtool.log" 2>&1 || fail "promtool: $(cat "$tmp/promtool.log")"
for n in $(grep -o '^| `fleetpipe_serve_[a-z_]*`' "$FP_SRC/docs/operations.md" | tr -d '|` ' | grep -v _command); do
  grep -q "^# TYPE $n " "$tmp/serve.prom" || fail "serve does not export $n"
done

# api_shape: the API's vehicles ([...]) in the expectation's shape.
api_shape='def ms: sub("Z$"; "") | capture("^(?<s>[^.]*)\\.(?<f>[0-9]{3})$") as $c
             | ((($c.s + "Z") | fromdateiso8601) * 1000 + ($c.f | tonumber));
  map({key: (.id | tostring), value: {status, ts: (.updated_at | ms),
       fields: (.fields | map_values({v: .value, ts: (.at | ms)})),
       cargo: (.cargo | map({key: (.zone | tostring), value: (del(.zone) | map_values({v: .value, ts: (.at | ms)}))}) | from_entries)}})
  | from_entries'

# 1. the whole list, 7 at a time
: >"$tmp/list.jsonl"
after="" pages=0
while :; do
  api "/api/v1/vehicles?limit=7${after:+&after=$after}"
  body=$BODY
  [[ $CODE == 200 ]] || fail "vehicles page: $CODE $body"
  save vehicles
  jq -c '.data[]' <<<"$body" >>"$tmp/list.jsonl"
  pages=$((pages + 1))
  [[ $(jq -r .pagination.hasNextPage <<<"$body") == true ]] || break
  after=$(jq -r .pagination.endCursor <<<"$body")
  ((pages < 10)) || fail "more pages than vehicles"
done
((pages == 3)) || fail "20 vehicles in pages of 7: $pages pages"
jq -s -e 'map(.id) == (map(.id) | sort) and (map(.id) | unique | length) == length' "$tmp/list.jsonl" >/dev/null ||
  fail "list not in id order or repeats an id"
jq -s -c "$api_shape" "$tmp/list.jsonl" >"$tmp/got.json"
diff <(jq -S . "$tmp/expect.json") <(jq -S . "$tmp/got.json") >"$tmp/list.diff" ||
  fail "GET /vehicles differs from the simulator's newest samples: $(head -20 "$tmp/list.diff")"
jq -s -e 'all(.[]; .position == null or (.position.lat == .fields.lat.value and .position.lng == .fields.lng.value))' \
  "$tmp/list.jsonl" >/dev/null || fail "position differs from the lat/lng fields"
statuses=$(jq -r '[.[].status] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' "$tmp/expect.json")

# one vehicle: the same as its list entry, plus its aggregates (none here) and KPIs (none)
id=$(jq -r 'keys[3]' "$tmp/expect.json")
api "/api/v1/vehicles/$id"
one=$BODY
[[ $CODE == 200 ]] || fail "vehicle $id: $CODE"
save vehicle
jq -e --argjson l "$(jq -c --argjson i "$id" 'select(.id == $i)' "$tmp/list.jsonl")" \
  '.data | del(.aggregates, .kpis) == $l' <<<"$one" >/dev/null || fail "vehicle $id differs from the list"

# filters
want=$(jq -c '[keys[] | tonumber] | sort | [.[2], .[5], .[11]]' "$tmp/expect.json")
api "/api/v1/vehicles?ids=$(jq -r 'map(tostring) | join(",")' <<<"$want"),999999"
got=$(jq -c '[.data[].id]' <<<"$BODY")
[[ $got == "$want" ]] || fail "ids filter: $got, want $want"
for st in moving idle parked alarm offline; do
  want=$(jq -c --arg s "$st" '[to_entries[] | select(.value.status == $s) | .key | tonumber] | sort' "$tmp/expect.json")
  api "/api/v1/vehicles?status=$st&limit=1000"
  got=$(jq -c '[.data[].id]' <<<"$BODY")
  save vehicles
  [[ $got == "$want" ]] || fail "status=$st: $got, want $want"
done
read -r lo hi <<<"$(jq -r '[.[].fields.lat.v] | sort | "\(.[0]) \(.[length / 2 | floor])"' "$tmp/expect.json")"
want=$(jq -c --argjson lo "$lo" --argjson hi "$hi" \
  '[to_entries[] | select(.value.fields.lat.v >= $lo and .value.fields.lat.v <= $hi) | .key | tonumber] | sort' "$tmp/expect.json")
api "/api/v1/vehicles?bbox=-180,$lo,180,$hi&limit=1000"
got=$(jq -c '[.data[].id]' <<<"$BODY")
[[ $got == "$want" ]] || fail "bbox: $got, want $want"

# 2. bad input
SAVE_ERRORS_AS=vehicles
expect_status 400 "/api/v1/vehicles?limit=0" | grep -q limit || fail "limit=0"
expect_status 400 "/api/v1/vehicles?limit=1001" | grep -q limit || fail "limit=1001"
expect_status 400 "/api/v1/vehicles?after=${after}00" | grep -q after || fail "edited cursor"
expect_status 400 "/api/v1/vehicles?after=${after/a/b}" | grep -q after || fail "edited cursor"
expect_status 400 "/api/v1/vehicles?status=flying" | grep -q status || fail "status"
expect_status 400 "/api/v1/vehicles?bbox=1,2,3" | grep -q bbox || fail "bbox"
expect_status 400 "/api/v1/vehicles?ids=1,x" | grep -q ids || fail "ids"
expect_status 400 "/api/v1/vehicles?ids=$(seq -s, 1 1001)" | grep -q "more than 1000" || fail "1001 ids"
expect_status 400 "/api/v1/vehicles/..%2Fx" | grep -q "'..' segment" || fail "../x"
expect_status 400 "/api/v1/vehicles/%2e%2e" >/dev/null
expect_status 400 "/api/v1/vehicles/7abc" | grep -q "vehicle id" || fail "7abc"
expect_status 400 "/api/v1/vehicles/-1" >/dev/null
SAVE_ERRORS_AS=vehicle
expect_status 404 "/api/v1/vehicles/999999" | grep -q 999999 || fail "unknown vehicle"
expect_status 400 "/api/v1/vehicles?limit=%ff" >/dev/null
SAVE_ERRORS_AS=
expect_status 405 "/api/v1/vehicles" -X DELETE >/dev/null
# hostile requests: a 100 KiB header, a path that is not UTF-8, a 10,000-id filter; each refused
# (4xx), the server still answers afterwards
hostile() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[[ $(hostile -H "X-Big: $(head -c 102400 /dev/zero | tr '\0' a)" "$API/api/v1/vehicles") == 4* ]] || fail "huge header accepted"
[[ $(hostile "$API/api/v1/vehicles/%ff%fe") == 400 ]] || fail "a path that is not UTF-8"
[[ $(hostile "$API/api/v1/vehicles?ids=$(seq -s, 1 10000)") == 4* ]] || fail "10,000 ids accepted"
[[ $(curl -s "$API/healthz") == ok ]] || fail "healthz after hostile requests"

# 3. the feed: snapshot pages, then the changes after it
: >"$tmp/feed.jsonl"
after=""
while :; do
  api "/api/v1/feed?limit=6${after:+&after=$after}"
  body=$BODY
  [[ $CODE == 200 && $(jq -r .snapshot <<<"$body") == true ]] || fail "feed snapshot: $CODE $body"
  save feed
  jq -c '.data[]' <<<"$body" >>"$tmp/feed.jsonl"
  after=$(jq -r .pagination.endCursor <<<"$body")
  [[ $(jq -r .pagination.hasNextPage <<<"$body") == true ]] || break
done
[[ $(jq -s -c 'map(.id)' "$tmp/feed.jsonl") == "$(jq -c '[keys[] | tonumber] | sort' "$tmp/expect.json")" ]] ||
  fail "feed snapshot ids"
feed_cursor=$after
api "/api/v1/feed?after=$feed_cursor"
body=$BODY
[[ $CODE == 200 && $(jq '.data | length' <<<"$body") == 0 ]] || fail "feed with no change: $body"

: >"$tmp/s1.txt"
curl -sN "$API/api/v1/stream" >"$tmp/s1.txt" &
s1=$!
pids+=($s1)
wait_for "stream preamble" 10 grep -q '^retry:' "$tmp/s1.txt"

# one new sample of one vehicle: the change the feed and the stream must carry
vid=$(jq -r 'keys[0]' "$tmp/expect.json")
dev=$(printf 'dev-%06d' "$vid")
msg() { # TIME SPEED LAT
  printf '%s|{"object":"vehicle","type":"kinematic","id":%s,"device_id":"%s","messaged_at":"%s","seq":1000%s,"measurements":[{"timestamp_iso":"%s","lat":%s,"lng":127.0,"speed":%s,"heading":123,"odometer":1,"engine_on":true}]}\n' \
    "$dev" "$vid" "$dev" "$1" "$2" "$1" "$3" "$2"
}
msg 2026-01-05T01:00:00Z 77.5 37.25 | kcat -P -b "$BS" -t fms.vehicle -K'|' 2>/dev/null || fail "kcat"
run_connect
api "/api/v1/feed?after=$feed_cursor"
body=$BODY
jq -e --argjson v "$vid" '.data | length == 1 and .[0].vehicle_id == $v and .[0].fields.speed == 77.5
  and .[0].fields.lat == 37.25 and .[0].at == "2026-01-05T01:00:00.000Z"' <<<"$body" >/dev/null ||
  fail "feed after the change: $body"
save feed
wait_for "the change on the stream" 10 grep -q '"speed":77.5' "$tmp/s1.txt"
kill "$s1"
last=$(grep '^id: ' "$tmp/s1.txt" | tail -1 | cut -d' ' -f2)
[[ -n $last ]] || fail "no id on the stream"

# 4. disconnected for 5 s while changes are made, then resumed
for i in $(seq 1 30); do msg "2026-01-05T01:00:$(printf %02d "$i")Z" "$((i + 10))" "37.$((30 + i))"; done |
  kcat -P -b "$BS" -t fms.vehicle -K'|' 2>/dev/null || fail "kcat"
run_connect
sleep 5
want=$(rcli xrange fleet:stream "($last" + | grep -E '^[0-9]+-[0-9]+$' | paste -sd' ')
[[ $(wc -w <<<"$want") -ge 30 ]] || fail "the changes made while disconnected: $(wc -w <<<"$want")"
curl -sN -H "Last-Event-ID: $last" "$API/api/v1/stream" >"$tmp/s2.txt" &
s2=$!
pids+=($s2)
endid=${want##* }
wait_for "the resumed stream to catch up" 15 grep -q "^id: $endid\$" "$tmp/s2.txt"
kill "$s2"
got=$(grep '^id: ' "$tmp/s2.txt" | cut -d' ' -f2 | paste -sd' ')
[[ $got == "$want" ]] || fail "resumed stream: ids '$got', want '$want'"
# the values arrive as the sink published them, in order
speeds=$(grep '^data: ' "$tmp/s2.txt" | cut -c7- | jq -r 'select(.fields.speed) | .fields.speed' | paste -sd' ')
[[ $speeds == "$(seq -s' ' 11 40)" ]] || fail "speeds on the resumed stream: $speeds"

# an id older than what Redis keeps (and a restarted server, so not in memory either): event gap,
# then everything kept
first=$(rcli xrange fleet:stream - + count 1 | head -1)
rcli xtrim fleet:stream maxlen 5 >/dev/null
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
start_serve --redis "redis://127.0.0.1:$REDIS_PORT/0" --clock data --heartbeat 1s
curl -sN -H "Last-Event-ID: $first" "$API/api/v1/stream" >"$tmp/s3.txt" &
s3=$!
pids+=($s3)
wait_for "gap and the 5 kept changes" 10 bash -c "[[ \$(grep -c '^id: ' '$tmp/s3.txt') -ge 5 ]]"
kill "$s3"
grep -q '^event: gap$' "$tmp/s3.txt" || fail "no gap event: $(head -5 "$tmp/s3.txt")"
[[ $(grep '^id: ' "$tmp/s3.txt" | cut -d' ' -f2 | paste -sd' ') == "$(rcli xrange fleet:stream - + | grep -E '^[0-9]+-[0-9]+$' | paste -sd' ')" ]] ||
  fail "after the gap: not the kept changes"
expect_status 400 "/api/v1/stream" -H "Last-Event-ID: yesterday" >/dev/null

# tokens: a server with a tokens file refuses missing and unknown tokens
printf 'viewer-token-0123456789 viewer ops-screen\n' >"$tmp/tokens"
saved=$API
start_serve --redis "redis://127.0.0.1:$REDIS_PORT/0" --tokens "$tmp/tokens"
expect_status 401 "/api/v1/vehicles" >/dev/null
expect_status 401 "/api/v1/vehicles" -H "Authorization: Bearer viewer-token-0123456780" >/dev/null
api "/api/v1/vehicles?limit=1" -H "Authorization: Bearer viewer-token-0123456789"
[[ $CODE == 200 ]] || fail "viewer token: $CODE"
! grep -q viewer-token "$tmp/serve.log" || fail "a token reached the log"
API=$saved

# 5. Redis stopped, then back
kill "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
SAVE_ERRORS_AS=vehicles
expect_status 503 "/api/v1/vehicles" | grep -q redis || fail "503 without naming redis"
SAVE_ERRORS_AS=
[[ $(curl -s -o /dev/null -w '%{http_code}' "$API/healthz") == 503 ]] || fail "healthz with redis down"
restart_redis
healthy() { [[ $(curl -s "$API/healthz") == ok ]]; }
wait_for "healthz after redis restarted" 20 healthy
api "/api/v1/vehicles?limit=1"
[[ $CODE == 200 ]] || fail "vehicles after redis restarted: $CODE"

answers=$(check_answers | jq -r '"\(.answers) answers of \(.operations | join(","))"')
echo "serve_live: ok ($nveh vehicles in $pages pages, $statuses; feed and stream resumed exactly; $answers match the OpenAPI document)"
