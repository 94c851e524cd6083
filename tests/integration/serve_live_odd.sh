#!/usr/bin/env bash
# serve_live_odd.sh — the Fleet API's live reads on hashes the redis sink would not write but
# Redis may hold (hand-written, half-deleted, of the wrong type), against a real redis-server:
#  1. /vehicles/{id} whose zone window key holds a string: 503 naming redis, and the server
#     answers the next request (it used to free the reply twice and abort);
#  2. device text comes back as JSON strings, escaped (markup, quotes, control bytes, bytes that
#     are not UTF-8), JSON texts as JSON, a "<field>:ts" written before its field still applies;
#  3. an indexed id whose hash is gone, a key of the wrong type and non-numeric index members are
#     skipped on pages and in the ids filter, and a full page followed by such ids still says
#     hasNextPage (the walk used to end there, missing every vehicle after them);
#  4. pages of 1 walked to the end (each read one reply at a time out of a pipelined batch of 2)
#     give what one page of 1000 gives, and filtered pages walked give jq's selection of it.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/redis.bash"
source "$(dirname "$0")/lib/serve.bash"

start_redis
T=1767571200000
for v in $(seq 1 30); do rcli zadd fleet:vehicles $v $v >/dev/null; done
rcli zadd fleet:vehicles 0 abc 10 10x >/dev/null
rcli hset vehicle:1 lat 37.5 lat:ts $T lng 127.1 lng:ts $T speed 31.5 speed:ts $T \
  battery_voltage 11.2 device_id dev-000001 temperature.z1 -18.2 setpoint.z1 -18 \
  temperature.z2 4 setpoint.z2 -1 ts $T >/dev/null
rcli hset agg5m:1:z2 window_start 2026-01-05T00:00:00.000Z count 3 avg 4 final false >/dev/null
rcli hset vehicle:2 speed:ts $T speed 12 lat 10 lat:ts $((T + 7)) lng 20 ts $T >/dev/null
printf 'HSET vehicle:3 a "<img src=x onerror=alert(1)>" b "{\\"a\\":[1,2]}" c "[1,2" e 01 i "\\"q\\"" l "\\xff\\xfe" o "line\\nbreak\\x01" ts %s\n' $T |
  redis-cli -p "$REDIS_PORT" >/dev/null
rcli set vehicle:4 notahash >/dev/null # wrong type: skipped
# vehicle:5 indexed, no hash: skipped
rcli hset vehicle:6 temperature.z3 2 ts $T >/dev/null
rcli set agg5m:6:z3 notahash >/dev/null
for v in $(seq 7 30); do
  rcli hset vehicle:$v lat $((v % 7)).5 lng 1$v.25 speed $((v % 3)) engine_on true ts $((T + v)) >/dev/null
done

start_serve --redis "redis://127.0.0.1:$REDIS_PORT/0" --clock data

# 1. a zone window of the wrong type: 503, then the server still answers
api /api/v1/vehicles/6
[[ $CODE == 503 && $(jq -r .backend <<<"$BODY") == redis ]] || fail "vehicles/6: $CODE $BODY"
kill -0 "$SERVE_PID" 2>/dev/null || fail "serve died on vehicles/6: $(tail -5 "$tmp/serve.log")"
api /api/v1/vehicles/1
[[ $CODE == 200 ]] || fail "vehicles/1 after the 503: $CODE"
jq -e '[.data.aggregates[].zone] == [2] and .data.status == "alarm"
       and ([.data.alarms[].kind] | sort) == ["battery_low", "reefer_excursion"]' <<<"$BODY" >/dev/null ||
  fail "vehicles/1: $BODY"
# zone 1's window appears: both, in the hash's zone order
rcli hset agg5m:1:z1 window_start 2026-01-05T00:00:00.000Z count 60 avg -18.1 final true >/dev/null
api /api/v1/vehicles/1
jq -e '[.data.aggregates[] | {zone, count}] == [{zone: 1, count: 60}, {zone: 2, count: 3}]' <<<"$BODY" >/dev/null ||
  fail "vehicles/1 aggregates: $BODY"

# 2. device text, escaped; times
api /api/v1/vehicles/3
[[ $CODE == 200 ]] || fail "vehicles/3: $CODE"
jq -e '.data.fields | .a.value == "<img src=x onerror=alert(1)>" and .b.value == {a: [1, 2]}
       and .c.value == "[1,2" and .e.value == "01" and .i.value == "\"q\""
       and .l.value == "\u00ff\u00fe" and .o.value == "line\nbreak\u0001"' <<<"$BODY" >/dev/null ||
  fail "vehicles/3 values: $BODY"
grep -q '<img' <<<"$(jq -r .data.fields.a.value <<<"$BODY")" || fail "vehicles/3: markup lost"
api /api/v1/vehicles/2
jq -e '.data.fields.speed.at == "2026-01-05T00:00:00.000Z" and .data.fields.lat.at == "2026-01-05T00:00:00.007Z"
       and .data.fields.lng.at == null and .data.position.at == "2026-01-05T00:00:00.007Z"' <<<"$BODY" >/dev/null ||
  fail "vehicles/2 times: $BODY"
for id in 4 5; do
  api /api/v1/vehicles/$id
  [[ $CODE == 404 ]] || fail "vehicles/$id: $CODE (expected 404)"
done

# 3 and 4. one page of everything, then pages of 1 walked to the end
api "/api/v1/vehicles?limit=1000"
printf '%s' "$BODY" >"$tmp/all.json"
jq -e '[.data[].id] == ([1, 2, 3] + [range(6; 31)]) and .pagination.hasNextPage == false' "$tmp/all.json" >/dev/null ||
  fail "the whole page: $(jq -c '[.data[].id]' "$tmp/all.json")"
walk() { # walk QUERY: every page's data, one array
  local q=$1 after="" pages=0
  : >"$tmp/walk.jsonl"
  while :; do
    api "/api/v1/vehicles?$q${after:+&after=$after}"
    [[ $CODE == 200 ]] || fail "vehicles?$q: $CODE $BODY"
    jq -c '.data[]' <<<"$BODY" >>"$tmp/walk.jsonl"
    pages=$((pages + 1))
    ((pages < 100)) || fail "vehicles?$q: no end"
    [[ $(jq -r .pagination.hasNextPage <<<"$BODY") == true ]] || break
    after=$(jq -r .pagination.endCursor <<<"$BODY")
  done
  jq -s -c . "$tmp/walk.jsonl"
}
walk limit=1 >"$tmp/walk1.json"
cmp -s "$tmp/walk1.json" <(jq -c .data "$tmp/all.json") || fail "pages of 1 differ from the whole page"
[[ $(walk "limit=2&status=moving,alarm") == "$(jq -c '[.data[] | select(.status == "moving" or .status == "alarm")]' "$tmp/all.json")" ]] ||
  fail "status pages differ from jq's selection"
[[ $(walk "limit=3&bbox=115,0,125,90") == "$(jq -c '[.data[] | select(.position != null and .position.lng >= 115 and .position.lng <= 125)]' "$tmp/all.json")" ]] ||
  fail "bbox pages differ from jq's selection"
api "/api/v1/vehicles?ids=30,5,4,3,1,99"
jq -e '[.data[].id] == [1, 3, 30]' <<<"$BODY" >/dev/null || fail "ids filter: $BODY"
kill -0 "$SERVE_PID" 2>/dev/null || fail "serve exited"
echo "serve_live_odd: ok (a window of the wrong type 503 and the server goes on; device text escaped; $(jq '.data | length' "$tmp/all.json") vehicles alike in one page and in pages of 1, filters as jq selects)"
