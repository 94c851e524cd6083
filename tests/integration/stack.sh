#!/usr/bin/env bash
# `fleetpipe stack`: the whole pipeline as a supervised process tree, against its own contract
# (DIR/stack.json) and the data it moves.
#  1. stack up in a fresh directory; stack status --json says every part is healthy;
#  2. a small fleet published over the stack's mosquitto with the provisioned passwords reaches
#     the raw lake (in s3rver) and Redis: published = lake records + dead letters, the dead
#     letters = the simulator's truth file, the bridge's /metrics agree, Redis holds every
#     vehicle the fleet sent;
#  3. kill -9 of the bridge, then of redis-server: the supervisor restarts each (its restart
#     count in stack.json and status), it is healthy again, and Redis still has every vehicle;
#  4. stack down stops every pid (none alive afterwards), each with a clean exit;
#  5. stack up again on the same directory resumes: the PostgreSQL row and the Redis keys are
#     there, the fresh dev broker's partitions continue at the old offsets (padding = what the
#     first run stored), and a second fleet adds to the lake without replacing any object.
source "$(dirname "$0")/lib/connect.bash"
[[ -d $FP_SRC/tests/servers/node_modules/s3rver && -d $FP_SRC/tests/servers/node_modules/dynalite ]] ||
  fail "tests/servers/node_modules is missing: run scripts/setup.sh"
chmod 711 "$tmp" # as root PostgreSQL runs as the postgres user, which must reach the directory
D=$tmp/stack
stack_cleanup() {
  "$FP" stack down --dir "$D" >/dev/null 2>&1 || true
  cleanup
}
trap stack_cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  [[ -f $D/logs/stack.log ]] && tail -20 "$D/logs/stack.log" >&2
  exit 1
}

J=$D/stack.json
part() { jq -r --arg n "$1" ".parts[] | select(.name == \$n) | $2" "$J"; }
status_json() { "$FP" stack status --dir "$D" --json >"$tmp/status.json" || true; }
healthy() { status_json; jq -e --arg n "$1" '.parts[] | select(.name == $n) | .healthy' "$tmp/status.json" >/dev/null; }
all_healthy() { "$FP" stack status --dir "$D" --json >"$tmp/status.json"; }

"$FP" stack up --dir "$D" --vehicles 20 >"$tmp/up1.out" 2>"$tmp/up1.err" ||
  fail "stack up: $(cat "$tmp/up1.err")"
grep -q "^console    http://127.0.0.1:[0-9]*/$" "$tmp/up1.out" || fail "no console URL: $(cat "$tmp/up1.out")"
jq -e '.state == "up" and .kafka.dev_broker and .kafka.epoch == 1' "$J" >/dev/null || fail "stack.json: $(jq -c '{state,kafka}' "$J")"
want='["broker","mosquitto","redis","postgres","warehouse-init","s3rver","dynalite","dynamodb-table","connect","lake-watch","bridge","scheduler","serve"]'
jq -e --argjson w "$want" '[.parts[].name] == $w and (.off | length) == 0' "$J" >/dev/null ||
  fail "parts: $(jq -c '[.parts[].name], .off' "$J")"
wait_for "every part healthy" 60 all_healthy
jq -e '.healthy and .supervisor.alive and (.parts | all(.healthy)) and (.parts | map(select(.kind != "job")) | all(.alive and .pid > 0))' \
  "$tmp/status.json" >/dev/null || fail "status: $(cat "$tmp/status.json")"
[[ $(jq -r .console "$tmp/status.json") == $(jq -r .console "$J") ]] || fail "status and stack.json disagree on the console"
curl -sf "$(jq -r .api "$J")/vehicles" >/dev/null || fail "the Fleet API does not answer at $(jq -r .api "$J")"

# ---- 2. a fleet over MQTT: the raw lake and Redis ----
MQ=$(part mosquitto .endpoints.mqtt)
CREDS=$(part mosquitto .endpoints.device_credentials)
S3DATA=$(part s3rver .endpoints.data)
REDIS_PORT=$(jq .ports.redis "$J")
fleet() { # SEED START: the fleet to MQTT, its bytes to $tmp/sent-SEED.jsonl, truth to $tmp/truth-SEED.jsonl
  local args=(--vehicles 20 --duration 10m --speedup max --seed "$1" --start "$2" --anomaly-rate 0.05
    --anomalies malformed_json,missing_field)
  "$FP" sim "${args[@]}" --target "file:$tmp/sent-$1.jsonl" 2>/dev/null || fail "sim to a file"
  "$FP" sim "${args[@]}" --target "$MQ" --credentials "$CREDS" --truth "$tmp/truth-$1.jsonl" \
    --status-format json >"$tmp/sim-$1.json" 2>"$tmp/sim-$1.log" || fail "sim over MQTT: $(tail -3 "$tmp/sim-$1.log")"
  jq -e '.failed == 0' "$tmp/sim-$1.json" >/dev/null || fail "sim: $(cat "$tmp/sim-$1.json")"
}
# raw_lines TOPIC...: record lines in the raw lake's objects of those topics (s3rver's files)
raw_lines() {
  local t
  for t in "$@"; do
    find "$S3DATA/fleet-raw/raw/$t" -name '*.jsonl.zst._S3rver_object' -print0 2>/dev/null | sort -z |
      xargs -0 -r zstd -dcq || true # a topic without objects yet has no directory
  done
}
telemetry=(fms.vehicle fms.cargo fms.blackbox fms.device)
metric() { curl -sf "$(part bridge .endpoints.metrics)" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'; }
redis_vehicles() { redis-cli -p "$REDIS_PORT" --raw keys 'vehicle:*' | grep -c . || true; }

now=$(date -u +%Y-%m-%dT%H:00:00Z)
fleet 7 "$now"
P1=$(jq .published "$tmp/sim-7.json")
[[ $P1 -eq $(wc -l <"$tmp/sent-7.jsonl") ]] || fail "published $P1 != $(wc -l <"$tmp/sent-7.jsonl") lines the same fleet wrote to a file"
truth_dl=$(jq -s '[.[] | select(.dead_letter == true)] | length' "$tmp/truth-7.jsonl")
((truth_dl > 0)) || fail "no dead-letter anomaly injected"
landed() { (($(raw_lines "${telemetry[@]}" | wc -l) + $(raw_lines fms.deadletter | wc -l) >= P1)); }
wait_for "$P1 records in the raw lake" 120 landed
sleep 2 # nothing more may come: a duplicate would show now
L1=$(raw_lines "${telemetry[@]}" | wc -l)
DL1=$(raw_lines fms.deadletter | wc -l)
((L1 + DL1 == P1)) || fail "published $P1 != lake $L1 + dead letters $DL1"
((DL1 == truth_dl)) || fail "$DL1 dead letters, the truth file says $truth_dl"
bridge_dl=$(raw_lines fms.deadletter | jq -s '[.[] | select(.headers["source.topic"] == null and .headers["mqtt.topic"] != null)] | length')
((bridge_dl == DL1)) || fail "$((DL1 - bridge_dl)) dead letters from connectors"
[[ $(metric fleetpipe_bridge_records_forwarded_total) -eq $L1 && $(metric fleetpipe_bridge_records_dead_lettered_total) -eq $DL1 ]] ||
  fail "bridge metrics: forwarded $(metric fleetpipe_bridge_records_forwarded_total), dead-lettered $(metric fleetpipe_bridge_records_dead_lettered_total)"
vehicles=$(jq -R 'fromjson? | select(.object == "vehicle" and (.measurements | type) == "array") | .id' "$tmp/sent-7.jsonl" | sort -u | wc -l)
((vehicles == 20)) || fail "the fleet sent vehicle samples of $vehicles vehicles"
has_vehicles() { (($(redis_vehicles) == vehicles)); }
wait_for "$vehicles vehicles in Redis" 60 has_vehicles

# ---- 3. kill -9 a part: the supervisor restarts it ----
for victim in bridge redis; do
  old=$(part $victim .pid)
  r0=$(part $victim .restarts)
  kill -9 "$old"
  restarted() { [[ $(part $victim .pid) != "$old" && $(part $victim .pid) -gt 0 && $(part $victim .restarts) -eq $((r0 + 1)) ]]; }
  wait_for "the supervisor to restart $victim" 60 restarted
  victim_ok() { healthy $victim; }
  wait_for "$victim healthy again" 60 victim_ok
  jq -e --arg n $victim '.parts[] | select(.name == $n) | .restarts == 1 and (.last_exit | test("signal 9"))' "$J" >/dev/null ||
    fail "$victim in stack.json: $(jq -c --arg n $victim '.parts[] | select(.name == $n)' "$J")"
  jq -e --arg n $victim '.parts[] | select(.name == $n) | .restarts == 1' "$tmp/status.json" >/dev/null ||
    fail "status does not count $victim's restart"
  grep -q "start 2 of $victim" "$D/logs/$victim.log" || fail "no second start in $victim's log"
done
((($(redis_vehicles)) == vehicles)) || fail "Redis lost vehicles over its kill -9 (AOF): $(redis_vehicles)"
wait_for "every part healthy after the kills" 60 all_healthy

# a row in PostgreSQL, to find again after the restart
PG=$(part postgres .endpoints.pg)
psql "$PG" -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE stack_test (x int); INSERT INTO stack_test VALUES (42)" ||
  fail "psql $PG"
psql "$PG" -X -At -c "SELECT count(*) FROM information_schema.schemata WHERE schema_name IN ('lake', 'mart', 'ops')" |
  grep -qx 3 || fail "warehouse init made no schemas"

# ---- 4. stack down stops every pid ----
# alive PID: running, not a zombie (the detached supervisor's parent is init, which reaps it when
# it gets to it)
alive() { [[ -r /proc/$1/stat ]] && ! awk '{ sub(/.*\) /, ""); exit !($1 == "Z" || $1 == "X") }' "/proc/$1/stat" 2>/dev/null; }
stop_down() { # checks that every pid stack.json named is gone after stack down
  local pids sup
  pids=$(jq -r '.parts[] | select(.pid > 0) | .pid' "$J")
  sup=$(jq .supervisor.pid "$J")
  "$FP" stack down --dir "$D" --json >"$tmp/down.json" 2>"$tmp/down.err" || fail "stack down: $(cat "$tmp/down.err") $(cat "$tmp/down.json")"
  jq -e '.by_supervisor and (.alive | length) == 0' "$tmp/down.json" >/dev/null || fail "down: $(cat "$tmp/down.json")"
  jq -e '[.parts[] | select(.result | test("killed"))] | length == 0' "$tmp/down.json" >/dev/null ||
    fail "a part had to be killed: $(cat "$tmp/down.json")"
  # reverse dependency order: serve first, the broker last
  jq -e '[.parts[].name] | .[0] == "serve" and .[-1] == "broker"' "$tmp/down.json" >/dev/null || fail "stop order: $(jq -c '[.parts[].name]' "$tmp/down.json")"
  local p n=0
  for p in $pids $sup; do
    alive "$p" && fail "pid $p still alive after stack down: $(cat /proc/$p/cmdline | tr '\0' ' ')"
    n=$((n + 1))
  done
  ((n >= 12)) || fail "only $n pids checked"
  jq -e '.state == "down" and (.parts | all(.pid == 0))' "$J" >/dev/null || fail "stack.json after down: $(jq -c '{state}' "$J")"
  echo "$n"
}
cp "$J" "$tmp/stack1.json"
n1=$(stop_down)
"$FP" stack status --dir "$D" >/dev/null && fail "status says healthy with the stack down"

# ---- 5. stack up again resumes ----
"$FP" stack up --dir "$D" >"$tmp/up2.out" 2>"$tmp/up2.err" || fail "stack up again: $(cat "$tmp/up2.err")"
wait_for "every part healthy after the resume" 60 all_healthy
jq -e '.kafka.epoch == 2 and .vehicles == 20' "$J" >/dev/null || fail "resume: $(jq -c '{kafka,vehicles}' "$J")"
[[ $(part broker .endpoints.padding_records) -eq $P1 ]] ||
  fail "the fresh broker was padded with $(part broker .endpoints.padding_records) records, the first run stored $P1"
ports1=$(jq -c .ports "$tmp/stack1.json")
same_ports=$([[ $(jq -c .ports "$J") == "$ports1" ]] && echo "the same ports" || echo "other ports")
PG=$(part postgres .endpoints.pg)
REDIS_PORT=$(jq .ports.redis "$J")
MQ=$(part mosquitto .endpoints.mqtt)
[[ $(psql "$PG" -X -At -c "SELECT x FROM stack_test") == 42 ]] || fail "the PostgreSQL row is gone after the resume"
((($(redis_vehicles)) == vehicles)) || fail "Redis has $(redis_vehicles) vehicles after the resume"
objects1=$(find "$S3DATA/fleet-raw/raw" -name '*._S3rver_object' | sort | xargs sha256sum)
fleet 8 "$now"
P2=$(jq .published "$tmp/sim-8.json")
landed2() { (($(raw_lines "${telemetry[@]}" fms.deadletter | wc -l) >= P1 + P2)); }
wait_for "$((P1 + P2)) records in the raw lake" 120 landed2
sleep 2
total=$(raw_lines "${telemetry[@]}" fms.deadletter | wc -l)
((total == P1 + P2)) || fail "the lake holds $total records after the resume, $P1 + $P2 were published"
# every object of the first run is still there, byte for byte
diff <(echo "$objects1") <(find "$S3DATA/fleet-raw/raw" -name '*._S3rver_object' | sort | xargs sha256sum | grep -Ff <(echo "$objects1" | awk '{print $2}')) >&2 ||
  fail "an object of the first run changed after the resume"
n2=$(stop_down)
echo "ok: stack of 13 parts; $P1 published = $L1 in the raw lake + $DL1 dead letters; bridge and redis-server restarted after kill -9; down stopped $n1 and $n2 pids; resumed (epoch 2, $P1 padding records) with PostgreSQL and Redis data on $same_ports, then $((P1 + P2)) records in the lake"
