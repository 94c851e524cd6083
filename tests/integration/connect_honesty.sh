#!/usr/bin/env bash
# Connect never looks healthy while it cannot consume or loses data (issue 12):
#  - Kafka unreachable from the start: /healthz 503 naming Kafka, task UNASSIGNED (not RUNNING),
#    `fleetpipe status` LAG "?" (never 0);
#  - Kafka going away while running (the `fleetpipe broker` process killed): the same;
#  - records retention deleted before the connector read them (the dev broker's 5 MiB cap):
#    fleetpipe_connect_records_lost_total, the REST status and the --status-format json line
#    report exactly the lost count;
#  - papercuts: validate reports every bad key, topics.regex is checked at config time, the
#    periodic status line shows PAUSED, dropped bad records are counted.
source "$(dirname "$0")/lib/connect.bash"

code_of() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }
task_state() { curl -s "$1/connectors/$2/status" | jq -r '.tasks[0].state'; }

# --- Kafka unreachable from the start
echo "[$SECONDS s] Kafka unreachable from the start" >&2
cat >"$tmp/c.json" <<JSON
{"name": "c", "connector.class": "objstore", "topics": "fms.vehicle",
 "store.url": "file://$tmp/lake0"}
JSON
port=$(free_port)
U=http://127.0.0.1:$port
"$FP" connect --bootstrap-servers 127.0.0.1:1 --connector "$tmp/c.json" \
  --rest-listen "127.0.0.1:$port" 2>"$tmp/connect.log" &
pid=$!
pids+=($pid)
answers() { [[ $(code_of "$U/healthz") != 000 ]]; }
wait_for "the REST API" 30 answers
unhealthy() { [[ $(code_of "$U/healthz") == 503 ]] && grep -q "Kafka unreachable" "$tmp/body"; }
wait_for "/healthz 503 naming Kafka" 10 unhealthy
[[ $(task_state "$U" c) == UNASSIGNED ]] || fail "task state with Kafka unreachable: $(curl -s "$U/connectors/c/status")"
curl -s "$U/connectors/c/status" | jq -e '.tasks[0].lag == null and (.tasks[0].reason | test("Kafka"))' >/dev/null ||
  fail "REST status: $(curl -s "$U/connectors/c/status")"
"$FP" status --rest "$U" --interval 200ms >"$tmp/status.txt" || fail "fleetpipe status failed"
awk '$1 == "c" { exit !($3 == "0/1" && $6 == "?") }' "$tmp/status.txt" ||
  fail "fleetpipe status with Kafka unreachable: $(cat "$tmp/status.txt")"
kill -TERM $pid
wait $pid || true

# --- topics.regex is checked at config time, naming key and value
echo "[$SECONDS s] topics.regex is checked at config time, naming key and value" >&2
cat >"$tmp/re.json" <<JSON
{"name": "re", "connector.class": "objstore", "topics.regex": "([", "store.url": "file://$tmp/lake0"}
JSON
rc=0
"$FP" connect --bootstrap-servers 127.0.0.1:1 --connector "$tmp/re.json" 2>"$tmp/re.log" || rc=$?
[[ $rc == 2 ]] || fail "a bad topics.regex: exit $rc, expected 2"
grep -qF 'topics.regex "(["' "$tmp/re.log" || fail "a bad topics.regex is not named: $(cat "$tmp/re.log")"

# --- a running worker: Kafka goes away
echo "[$SECONDS s] a running worker: Kafka goes away" >&2
start_broker 2
broker_pid=${pids[-2]}
cat >"$tmp/g.json" <<JSON
{"name": "g", "connector.class": "objstore", "topics": "fms.cargo",
 "store.url": "file://$tmp/lake1", "errors.tolerance": "all"}
JSON
port=$(free_port)
U=http://127.0.0.1:$port
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/g.json" --rest-listen "127.0.0.1:$port" \
  --status-interval 1s --status-format json >"$tmp/g.status" 2>"$tmp/connect.log" &
gpid=$!
pids+=($gpid)
healthy() { [[ $(code_of "$U/healthz") == 200 ]]; }
running() { [[ $(task_state "$U" g) == RUNNING ]]; }
wait_for "connector g RUNNING" 30 running
wait_for "/healthz 200" 10 healthy

# errors.tolerance=all without a dead-letter topic: a bad record is dropped, and counted
printf 'not json\n{"ok":1}\n' | kcat -P -b "$BS" -t fms.cargo -p 0
dropped() { [[ $(curl -s "$U/connectors/g/status" | jq '.tasks[0].records_dropped') == 1 ]]; }
wait_for "records_dropped 1" 20 dropped
curl -s "$U/metrics" >"$tmp/m.txt"
grep -q '^fleetpipe_connect_records_dropped_total{connector="g",task="0"} 1$' "$tmp/m.txt" ||
  fail "dropped metric: $(grep dropped "$tmp/m.txt")"

# pause: the periodic status line shows the real state
curl -s -X PUT "$U/connectors/g/pause" >/dev/null
paused_line() { grep -q 'periodic status: tasks \[0=PAUSED\]' "$tmp/connect.log"; }
wait_for "a periodic status line with 0=PAUSED" 10 paused_line
curl -s -X PUT "$U/connectors/g/resume" >/dev/null
wait_for "connector g RUNNING again" 10 running

# validate: every bad key, the sink's checks too
curl -s -X PUT -H 'Content-Type: application/json' "$U/connector-plugins/objstore/config/validate" \
  -d '{"name":"v","topics":"a","tasks.max":"0","store.url":"ftp://x","transforms":"a,b","transforms.a.type":"Nope","transforms.b.type":"AlsoNope","topics.regex":"(["}' \
  >"$tmp/v.json"
for k in tasks.max store.url transforms.a.type transforms.b.type topics.regex; do
  jq -e --arg k "$k" '.configs[] | select(.value.name == $k) | .value.errors | length > 0' \
    "$tmp/v.json" >/dev/null || fail "validate does not report $k: $(cat "$tmp/v.json")"
done
curl -s -X PUT -H 'Content-Type: application/json' "$U/connector-plugins/objstore/config/validate" \
  -d '{"name":"v","topics.regex":"([","store.url":"file:///tmp/x"}' >"$tmp/v.json"
jq -e '.configs[] | select(.value.name == "topics.regex") | .value.errors[0] | startswith("topics.regex \"([\": ")' \
  "$tmp/v.json" >/dev/null || fail "validate of topics.regex: $(cat "$tmp/v.json")"

# Kafka goes away
kill -KILL "$broker_pid"
down() { [[ $(code_of "$U/healthz") == 503 ]] && grep -q "Kafka unreachable" "$tmp/body"; }
wait_for "/healthz 503 after the broker died" 30 down
[[ $(task_state "$U" g) == UNASSIGNED ]] || fail "task state after the broker died: $(curl -s "$U/connectors/g/status")"
"$FP" status --rest "$U" --interval 200ms >"$tmp/status.txt" || fail "fleetpipe status failed"
awk '$1 == "g" { exit !($6 == "?") }' "$tmp/status.txt" ||
  fail "fleetpipe status after the broker died: $(cat "$tmp/status.txt")"
# (a SIGTERM now waits for librdkafka to give up on the dead broker: not this test's subject)
kill -KILL $gpid
wait $gpid || true

# --- records lost: committed offset below the log start offset
echo "[$SECONDS s] records lost: committed offset below the log start offset" >&2
rm -f "$tmp/broker.out"
start_broker 1
cat >"$tmp/l.json" <<JSON
{"name": "l", "connector.class": "objstore", "topics": "fms.vehicle",
 "store.url": "file://$tmp/lake2", "flush.size": "5", "errors.tolerance": "all"}
JSON
for i in $(seq 9); do echo "{\"i\":$i}"; done | sed '5a not json' | kcat -P -b "$BS" -t fms.vehicle -p 0
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/l.json" --exit-when-idle 2s \
  --status-format json >"$tmp/l1.status" 2>"$tmp/connect.log" || fail "first run failed"
jq -e '.in == 10 and .lost == 0 and .dropped == 1' "$tmp/l1.status" >/dev/null || fail "first run: $(cat "$tmp/l1.status")"
# past the dev broker's cap (5 MiB per partition) while the connector is not running
pad=$(head -c 1000 /dev/zero | tr '\0' x)
for i in $(seq 7000); do echo "{\"i\":$i,\"pad\":\"$pad\"}"; done >"$tmp/big.jsonl"
kcat -P -b "$BS" -t fms.vehicle -p 0 -l "$tmp/big.jsonl"
start=$(kcat -C -b "$BS" -t fms.vehicle -p 0 -o beginning -c 1 -f '%o\n' -q)
((start > 10)) || fail "the broker kept everything (log start $start): no loss to detect"
want=$((start - 10))
port=$(free_port)
U=http://127.0.0.1:$port
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/l.json" --rest-listen "127.0.0.1:$port" \
  --status-format json >"$tmp/l2.status" 2>"$tmp/connect.log" &
lpid=$!
pids+=($lpid)
reported() { [[ $(curl -s "$U/connectors/l/status" | jq '.tasks[0].records_lost') == "$want" ]]; }
# (up to the session timeout: the first run's member may still be in the group)
wait_for "records_lost $want in the REST status" 90 reported
curl -s "$U/connectors/l/status" |
  jq -e --argjson s "$start" '.tasks[0].last_lost == {"topic": "fms.vehicle", "partition": 0, "from": 10, "to": $s}' \
    >/dev/null || fail "last_lost: $(curl -s "$U/connectors/l/status")"
curl -s "$U/metrics" >"$tmp/m.txt"
got=$(awk '$1 ~ /^fleetpipe_connect_records_lost_total\{connector="l",task="0",topic="fms.vehicle",partition="0"\}$/ { print $2 }' "$tmp/m.txt")
[[ $got == "$want" ]] || fail "records_lost_total $got, expected $want: $(grep lost "$tmp/m.txt")"
"$FP" status --rest "$U" --interval 200ms >"$tmp/status.txt" || fail "fleetpipe status failed"
awk -v w="$want" '$1 == "l" { exit !($7 == w) }' "$tmp/status.txt" ||
  fail "fleetpipe status LOST: $(cat "$tmp/status.txt")"
grep -q "ERROR.*fms.vehicle/0 offsets 10\.\.$((start - 1))" "$tmp/connect.log" || fail "no ERROR naming the lost range"
kill -TERM $lpid
wait $lpid || true
jq -e --argjson w "$want" '.lost == $w' "$tmp/l2.status" >/dev/null || fail "status json: $(cat "$tmp/l2.status")"
echo "connect_honesty: ok (lost $want)"
