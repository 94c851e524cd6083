#!/usr/bin/env bash
# fleetpipe connect + redis sink against a real broker and a real redis-server over loopback:
#  1. sim -> broker -> connect (split transform) -> Redis: every vehicle's hash holds the newest
#     value and time of each field, as computed independently with jq from the simulator's
#     file output; positions in the geo set; bad records dead-lettered with a reason naming
#     the field; counts reconcile; an older sample arriving after a newer one does not win;
#     published changes end at the hash's values.
#  2. a second connector over the same range (a replay): state byte-identical, nothing published.
#  3. redis-server (AOF, fsync always) killed while the connector runs and new data arrives,
#     restarted on the same port: the connector reconnects, reloads its script, and the final
#     state equals the expectation (what was acknowledged before the kill survived).
#  4. SCRIPT FLUSH under a running connector: NOSCRIPT, reload, the record still applied.
#  5. a key of another type (WRONGTYPE): the task fails with Redis' message, nothing skipped.
#  6. AUTH: a wrong password fails the task (WRONGPASS), the right one works, neither is logged.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/redis.bash"
lib=$(dirname "$0")/lib

start_broker 4
start_redis --appendonly yes --appendfsync always

fleet=(--only vehicle/kinematic,vehicle/status --vehicles 12 --seed 11 --speedup max)
"$FP" sim "${fleet[@]}" --duration 12m --start 2026-01-05T00:00:00Z --target "file:$tmp/a.jsonl" 2>/dev/null
"$FP" sim "${fleet[@]}" --duration 12m --start 2026-01-05T00:00:00Z --target "kafka://$BS" 2>/dev/null

# Hand-made messages: an out-of-order pair (newer first), two vehicles each given two samples of
# one time with different values in opposite orders (the greater value wins both times), every
# value type, an epoch-ms time;
# then records the sink must refuse (each a whole message: one bad element kills its message).
T='"timestamp_iso"'
cat >"$tmp/extra-good.jsonl" <<JSONL
v9001|{"object":"vehicle","type":"kinematic","id":9001,"device_id":"v9001","measurements":[{$T:"2026-01-05T09:30:00+09:00","lat":37.51,"lng":127.01,"speed":50}]}
v9001|{"object":"vehicle","type":"kinematic","id":9001,"device_id":"v9001","measurements":[{$T:"2026-01-05T00:20:00Z","lat":37.40,"lng":126.90,"speed":10,"driver":"kim"}]}
v9010|{"object":"vehicle","type":"kinematic","id":9010,"device_id":"v9010","measurements":[{$T:"2026-01-05T00:30:00Z","driver":"alpha","speed":3}]}
v9010|{"object":"vehicle","type":"status","id":9010,"device_id":"v9010","measurements":[{$T:"2026-01-05T00:30:00Z","driver":"beta","speed":2}]}
v9011|{"object":"vehicle","type":"status","id":9011,"device_id":"v9011","measurements":[{$T:"2026-01-05T00:30:00Z","driver":"beta","speed":2}]}
v9011|{"object":"vehicle","type":"kinematic","id":9011,"device_id":"v9011","measurements":[{$T:"2026-01-05T00:30:00Z","driver":"alpha","speed":3}]}
v9008|{"object":"vehicle","type":"misc","id":"9008","device_id":"v9008","measurements":[{$T:1767571200000,"note":"a\"b\\\\c\u00e9 /x","obj":{ "a" : [1, 2] },"gone":null,"on":true,"n":-0.50}]}
JSONL
cat >"$tmp/extra-bad.jsonl" <<JSONL
b1|{"object":"vehicle","device_id":"b1","measurements":[{$T:"2026-01-05T09:00:00+09:00","speed":1}]}
b2|{"object":"vehicle","id":9002,"measurements":[{"speed":1}]}
b3|{"object":"vehicle","id":9003,"measurements":[{$T:"yesterday","speed":1}]}
b4|{"object":"vehicle","id":9004,"measurements":[{$T:"2026-01-05T09:00:00+09:00","lat":95.0,"lng":127.0}]}
b5|{"object":"vehicle","id":9005,"measurements":[{$T:"2026-01-05T09:00:00+09:00","lng":127.0}]}
b6|{"object":"vehicle","id":9006,"measurements":[{$T:"2026-01-05T09:00:00+09:00","speed":1},{$T:"2026-02-30T00:00:00Z","speed":2}]}
b7|{"object":"vehicle","id":9007,"measurements":[{$T:"2026-01-05T09:00:00+09:00","ts":5}]}
b8|{"object":"vehicle","id":{"a":1},"measurements":[{$T:"2026-01-05T09:00:00+09:00","speed":1}]}
b9|{"object":"vehicle", "broken":
JSONL
cat "$tmp/extra-good.jsonl" "$tmp/extra-bad.jsonl" |
  kcat -P -b "$BS" -t fms.vehicle -K'|' 2>/dev/null || fail "kcat produce"
cut -d'|' -f2- "$tmp/extra-good.jsonl" >"$tmp/extra-good.values"
nbad=$(wc -l <"$tmp/extra-bad.jsonl")

cat "$tmp/a.jsonl" "$tmp/extra-good.values" >"$tmp/phase1.jsonl"
jq -n -c -f "$lib/redis_expect.jq" "$tmp/phase1.jsonl" >"$tmp/expect1.json" || fail "jq expectation"
nveh=$(jq 'length' "$tmp/expect1.json")
nrecs=$(jq -s '[.[].measurements | length] | add' "$tmp/phase1.jsonl")
nmsgs=$(($(wc -l <"$tmp/phase1.jsonl") + nbad))
((nveh == 16)) || fail "expected 12 simulated + 4 hand-made vehicles, jq says $nveh"

# redis_state: every vehicle hash as {"<id>": {"<field>": "<text>"}} (values have no newlines,
# except vehicle 9008's, checked on its own).
redis_state() {
  rcli --scan --pattern 'vehicle:*' | sort | while read -r k; do
    [[ $k == vehicle:9008 ]] && continue
    rcli hgetall "$k" | jq -R -s -c --arg id "${k#vehicle:}" \
      'split("\n")[:-1] | {($id): ([range(0; length; 2) as $i | {key: .[$i], value: .[$i + 1]}] | from_entries)}'
  done | jq -s -c 'add // {}'
}
state_is() {
  local d
  d=$(redis_state | jq -r --argjson exp "$(jq -c 'del(.["9008"])' "$1")" -f "$lib/redis_compare.jq")
  [[ -z $d ]] || { echo "$d" | head -5 >"$tmp/last.diff"; return 1; }
}
# wait_state EXPECT_FILE SECONDS: until Redis equals the expectation; on timeout the failure
# names the first differences.
wait_state() {
  local end=$((SECONDS + $2))
  until state_is "$1"; do
    ((SECONDS < end)) || fail "Redis differs from $(basename "$1") after $2 s: $(cat "$tmp/last.diff")"
    sleep 0.2
  done
}
# positions_ok EXPECT_FILE: GEOPOS of every vehicle within 1e-5 degrees of its newest lat/lng,
# and the geo set holds exactly the vehicles that have a position.
positions_ok() {
  local want got
  want=$(jq -r 'to_entries[] | select(.value.lat) | "\(.key) \(.value.lat.v) \(.value.lng.v)"' "$1" | sort)
  [[ $(rcli zcard fleet:positions) -eq $(echo "$want" | wc -l) ]] || fail "geo set size"
  while read -r id lat lng; do
    got=$(rcli geopos fleet:positions "$id" | paste -sd' ')
    awk -v g="$got" -v la="$lat" -v lo="$lng" 'BEGIN { split(g, p, " ");
      d1 = p[1] - lo; d2 = p[2] - la; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2;
      exit !(p[1] != "" && d1 < 1e-5 && d2 < 1e-5) }' ||
      fail "vehicle $id: GEOPOS '$got', want lng $lng lat $lat"
  done <<<"$want"
}
# published: the channel's messages so far (a sentinel published last proves all have arrived).
sentinel=0
published() {
  sentinel=$((sentinel + 1))
  rcli publish fleet:updates "sentinel-$sentinel" >/dev/null
  got_sentinel() { grep -q "^sentinel-$sentinel\$" "$tmp/sub.txt"; }
  wait_for "sentinel on fleet:updates" 20 got_sentinel
  grep -c '^{"id":' "$tmp/sub.txt" || true
}

redis-cli -p "$REDIS_PORT" subscribe fleet:updates >"$tmp/sub.txt" 2>&1 &
pids+=($!)
connector() { # connector NAME TASKS: $tmp/NAME.json
  cat >"$tmp/$1.json" <<JSON
{"name": "$1", "config": {
  "connector.class": "redis", "topics": "fms.vehicle", "tasks.max": "$2",
  "redis.url": "redis://127.0.0.1:$REDIS_PORT/0",
  "transforms": "split", "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements",
  "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter.$1",
  "errors.log.enable": "false", "errors.retry.delay.max.ms": "1000",
  "redis.reconnect.backoff.max.ms": "500",
  "consumer.override.session.timeout.ms": "6000",
  "consumer.override.heartbeat.interval.ms": "500"}}
JSON
}
# One task first: with two, the group's first rebalance may hand a partition over before its
# offsets were committed, and the replay makes the work counters exceed the input (the state
# is the same, which the later phases show with two tasks).
connector live 1
connector replay 2

# ---- 1. the whole range, from an empty Redis
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/live.json" --status-interval 1s \
  --status-format json >"$tmp/connect.status" 2>"$tmp/connect.log" &
cpid=$!
pids+=($cpid)
wait_state "$tmp/expect1.json" 90
kill -TERM "$cpid"
rc=0; wait "$cpid" || rc=$?
[[ $rc -eq 0 ]] || fail "connect exited $rc after SIGTERM"
positions_ok "$tmp/expect1.json"
[[ $(rcli --scan --pattern 'vehicle:*' | wc -l) -eq $nveh ]] || fail "vehicle count"

# Out of order: the newer sample (09:30+09 = 00:30Z) came first; the older (00:20Z) lost every
# field it shared, and only added what was new (driver).
[[ $(rcli hget vehicle:9001 speed) == 50 ]] || fail "older sample overwrote speed: $(rcli hget vehicle:9001 speed)"
[[ $(rcli hget vehicle:9001 speed:ts) == 1767573000000 ]] || fail "speed:ts"
[[ $(rcli hget vehicle:9001 driver) == kim && $(rcli hget vehicle:9001 driver:ts) == 1767572400000 ]] ||
  fail "a field only the older sample has must be kept"
[[ $(rcli hget vehicle:9001 ts) == 1767573000000 ]] || fail "ts of 9001"
# Value mapping: strings unescaped, numbers as their text, objects compact, null skipped.
[[ $(rcli hget vehicle:9008 note) == $'a"b\\c\u00e9 /x' ]] || fail "string not stored unescaped: $(rcli hget vehicle:9008 note)"
[[ $(rcli hget vehicle:9008 obj) == '{"a":[1,2]}' ]] || fail "object not compact: $(rcli hget vehicle:9008 obj)"
[[ $(rcli hget vehicle:9008 n) == -0.50 && $(rcli hget vehicle:9008 on) == true ]] || fail "number/bool text"
[[ $(rcli hexists vehicle:9008 gone) == 0 ]] || fail "null field stored"
[[ $(rcli hget vehicle:9008 ts) == 1767571200000 ]] || fail "epoch-ms time of 9008"
[[ $(rcli zscore fleet:positions 9008) == "" ]] || fail "9008 has no position"

# Dead letters: each bad message, with a reason naming what was wrong.
kcat -C -b "$BS" -t fms.deadletter.live -e -o beginning -q -f '%k\t%h\n' >"$tmp/dlq.tsv" 2>/dev/null ||
  fail "kcat consume dlq"
[[ $(wc -l <"$tmp/dlq.tsv") -eq $nbad ]] || fail "dead letters: $(wc -l <"$tmp/dlq.tsv"), expected $nbad"
reason() { grep -q "^$1"$'\t'".*$2" "$tmp/dlq.tsv" || fail "dead letter $1 without reason '$2': $(grep "^$1" "$tmp/dlq.tsv")"; }
reason b1 "id field 'id' missing"
reason b2 "timestamp field 'timestamp_iso' missing"
reason b3 "timestamp field 'timestamp_iso'"
reason b4 "position field 'lat'"
reason b5 "position field 'lng' without 'lat'"
reason b6 "timestamp field 'timestamp_iso'"
reason b7 "field 'ts' clashes"
reason b8 "id field 'id' must be a string or a number"
for id in 9002 9003 9004 9005 9006 9007; do
  [[ $(rcli exists "vehicle:$id") == 0 ]] || fail "vehicle $id from a dead-lettered message is in Redis"
done

# Equal times: the same winner whatever the arrival order.
for id in 9010 9011; do
  got="$(rcli hget "vehicle:$id" driver) $(rcli hget "vehicle:$id" speed) $(rcli hget "vehicle:$id" type)"
  [[ $got == "beta 3 status" ]] || fail "vehicle $id: equal-time tie gave '$got', want 'beta 3 status'"
done

# Conservation: messages in = good + dead; records applied = the split count of good messages.
st=$(cat "$tmp/connect.status")
jq -e --argjson i "$nmsgs" --argjson o "$nrecs" --argjson d "$nbad" '.in == $i and .out == $o and .dead == $d' \
  <<<"$st" >/dev/null || fail "counts: want in=$nmsgs out=$nrecs dead=$nbad, got $st"

# Changes: some published, and the last published value of each field is the hash's value.
npub1=$(published)
((npub1 > 0 && npub1 <= nrecs)) || fail "published $npub1 changes for $nrecs records"
grep '^{"id":' "$tmp/sub.txt" |
  jq -c -s 'reduce .[] as $m ({}; .[$m.id | tostring] += $m.fields)' >"$tmp/lastpub.json"
d=$(jq -r -n --slurpfile e "$tmp/expect1.json" --slurpfile p "$tmp/lastpub.json" '
  $e[0] | to_entries[] | .key as $id | .value | to_entries[]
  | select($p[0][$id] == null or $p[0][$id][.key] != .value.v)
  | "vehicle \($id) field \(.key): last published \($p[0][$id][.key] | tojson), hash \(.value.v | tojson)"' | head -3)
[[ -z $d ]] || fail "published changes do not end at the hash: $d"

# ---- 2. replay the same range with a second connector: nothing changes, nothing is published
rcli --scan | sort | while read -r k; do echo "$k"; rcli dump "$k" | od -An -tx1; done >"$tmp/before.dump"
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/replay.json" --exit-when-idle 2s \
  --status-format json >"$tmp/replay.status" 2>"$tmp/replay.log" || fail "replay connector failed: $(tail -3 "$tmp/replay.log")"
st=$(cat "$tmp/replay.status")
jq -e --argjson o "$nrecs" --argjson d "$nbad" '.out >= $o and .dead >= $d' <<<"$st" >/dev/null ||
  fail "replay did not go through the whole range: $st"
rcli --scan | sort | while read -r k; do echo "$k"; rcli dump "$k" | od -An -tx1; done >"$tmp/after.dump"
cmp -s "$tmp/before.dump" "$tmp/after.dump" || fail "a replay changed Redis"
npub2=$(published)
[[ $npub2 -eq $npub1 ]] || fail "a replay published $((npub2 - npub1)) changes"

# ---- 3. Redis dies while the connector runs and data keeps coming; it restarts on the same port
connector live 2
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/live.json" --status-interval 1s \
  2>"$tmp/connect2.log" &
cpid=$!
pids+=($cpid)
assigned() { grep -q "assigned" "$tmp/connect2.log"; }
wait_for "the connector's partitions" 30 assigned
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
# Later samples of the same vehicles (status only: the kinematic fields written before the kill
# must come back from the AOF, since their offsets are committed and never replayed).
fleet2=(--only vehicle/status --vehicles 12 --seed 12 --speedup max --duration 12m --start 2026-01-05T00:30:00Z)
"$FP" sim "${fleet2[@]}" --target "file:$tmp/b.jsonl" 2>/dev/null
"$FP" sim "${fleet2[@]}" --target "kafka://$BS" 2>/dev/null
retrying() { grep -q "replaying from the committed" "$tmp/connect2.log"; }
wait_for "the connector to notice Redis is gone" 60 retrying
restart_redis
cat "$tmp/phase1.jsonl" "$tmp/b.jsonl" >"$tmp/phase2.jsonl"
jq -n -c -f "$lib/redis_expect.jq" "$tmp/phase2.jsonl" >"$tmp/expect2.json" || fail "jq expectation 2"
cmp -s "$tmp/expect1.json" "$tmp/expect2.json" && fail "the second fleet changed nothing: no test"
wait_state "$tmp/expect2.json" 120
positions_ok "$tmp/expect2.json"
grep -q "connected again" "$tmp/connect2.log" || fail "no reconnect logged"

# ---- 4. the script vanishes from the server (SCRIPT FLUSH): reloaded, and the record applied
rcli script flush >/dev/null
echo "v9001|{\"id\":9001,\"measurements\":[{$T:\"2026-01-05T01:00:00Z\",\"speed\":77}]}" |
  kcat -P -b "$BS" -t fms.vehicle -K'|' 2>/dev/null || fail "kcat produce"
speed77() { [[ $(rcli hget vehicle:9001 speed) == 77 ]]; }
wait_for "the record sent after SCRIPT FLUSH" 30 speed77
grep -q "NOSCRIPT, loading the script" "$tmp/connect2.log" || fail "no NOSCRIPT reload logged"

# ---- 4b. every client slot taken when the sink reconnects: "max number of clients reached" is
# a wait, not a failure. One redis-cli connection lowers maxclients to 1, drops the sink's
# connections, holds the only slot for 6 s, then raises the limit again.
printf 'CONFIG SET maxclients 1\nCLIENT KILL TYPE normal SKIPME yes\nBLPOP fp-test-hold 6\nCONFIG SET maxclients 10000\n' |
  rcli >/dev/null 2>&1 &
holder=$!
sleep 0.5
echo "v9002|{\"id\":9002,\"measurements\":[{$T:\"2026-01-05T01:00:00Z\",\"speed\":42}]}" |
  kcat -P -b "$BS" -t fms.vehicle -K'|' 2>/dev/null || fail "kcat produce"
refused() { grep -q "max number of clients reached" "$tmp/connect2.log"; }
wait_for "a reconnect refused for lack of client slots" 30 refused
wait "$holder" || true
speed42() { [[ $(rcli hget vehicle:9002 speed 2>/dev/null) == 42 ]]; }
wait_for "the record sent while the slots were taken" 60 speed42
! grep -q "task FAILED" "$tmp/connect2.log" || fail "a full server failed the task: $(grep 'task FAILED' "$tmp/connect2.log")"

# ---- 5. a key of the wrong type is a permanent error: the task fails with Redis' message
rcli set vehicle:7777 not-a-hash >/dev/null
echo "v7777|{\"id\":7777,\"measurements\":[{$T:\"2026-01-05T01:00:00Z\",\"speed\":1}]}" |
  kcat -P -b "$BS" -t fms.vehicle -K'|' 2>/dev/null || fail "kcat produce"
wrongtype() { grep -q "FAILED.*WRONGTYPE\|WRONGTYPE.*FAILED" "$tmp/connect2.log"; }
wait_for "the task to fail on WRONGTYPE" 30 wrongtype
kill -TERM "$cpid"
rc=0; wait "$cpid" || rc=$?
[[ $rc -eq 1 ]] || fail "connect exited $rc after a FAILED task, want 1"
[[ $(rcli get vehicle:7777) == not-a-hash ]] || fail "the foreign key was touched"

# ---- 6. a password: the wrong one fails the task with Redis' answer, the right one works;
# neither ever appears in the log
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
REDIS_PASSWORD=pw-Right-1
restart_redis
rcli del vehicle:7777 >/dev/null # (phase 5's trap, which the replays below go through again)
for pw in pw-Wrong-2 pw-Right-1; do
  name=auth-${pw:3:5} # the connector's name must not carry the password either
  sed -e "s|redis://127.0.0.1|redis://:$pw@127.0.0.1|" -e "s|\"name\": \"replay\"|\"name\": \"$name\"|" \
    "$tmp/replay.json" >"$tmp/auth-$pw.json"
  rc=0
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/auth-$pw.json" --exit-when-idle 2s \
    2>"$tmp/auth-$name.log" || rc=$?
  ! grep -q "$pw" "$tmp/auth-$name.log" || fail "the password is in the log: $(grep "$pw" "$tmp/auth-$name.log" | head -1)"
  if [[ $pw == pw-Wrong-2 ]]; then
    [[ $rc -eq 1 ]] || fail "a wrong password: connect exited $rc, want 1"
    grep -q "task FAILED.*AUTH.*WRONGPASS" "$tmp/auth-$name.log" || fail "no WRONGPASS failure: $(tail -2 "$tmp/auth-$name.log")"
  else
    [[ $rc -eq 0 ]] || fail "the right password: connect exited $rc: $(tail -2 "$tmp/auth-$name.log")"
  fi
done
echo "redis_sink: ok ($nveh vehicles, $nrecs records, $nbad dead letters, $npub1 changes published, replay and restart clean)"
