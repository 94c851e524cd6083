#!/usr/bin/env bash
# serve_commands.sh — device commands through the Fleet API against real servers: mosquitto with
# the project's ACL, the dev broker, `fleetpipe bridge`, a redis sink connector (so each
# vehicle's hash, with its device_id, comes from the devices' own telemetry) and `fleetpipe sim`:
#  1. auth: no token 401, an unknown one 401, a viewer 403; every bad body (tests/data/
#     serve_commands/bad_bodies.tsv) 400 naming what is wrong; bad ids 400, unknown ones 404.
#  2. round trips: ping, set_setpoint and upload_video to online devices end "answered" (or
#     "failed" as the device said) with the device's own message, equal to the record the bridge
#     put into fms.device; the simulator counts exactly the commands the API accepted for it.
#  3. an offline device's commands are delivered to the broker (PUBACK; its persistent session
#     queues them) and end in "timeout" after --command-timeout.
#  4. rate limits: a vehicle's and a token's buckets answer 429 with Retry-After, and a refused
#     command uses neither allowance.
#  5. the fleetpipe-api MQTT account may write fms/+/cmd and nothing else (mosquitto clients).
#  6. a webhook for command.state_changed (tests/verify/hookreceiver.mjs, signatures verified)
#     gets each command's transitions in order: pending, delivered, then its final status.
#  7. mosquitto down: POST answers 503 naming mqtt, GET /commands and /healthz keep answering;
#     an instance started meanwhile keeps trying; back up: commands flow again, through every
#     instance. Redis down: 503 naming redis; back, the pool reconnects.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"
source "$(dirname "$0")/lib/redis.bash"
data=$FP_SRC/tests/data/serve_commands

start_broker 2
provision 6
start_mosquitto
start_redis
use_bridge_account
start_bridge "$tmp/bridge.log" "${bridge_auth[@]}"
url=mqtt://127.0.0.1:$MQTT_PORT
sim=("$FP" sim --seed 7 --credentials "$tmp/creds/devices.secret" --target "$url")

# ---- vehicle hashes from the devices' telemetry: sim -> mosquitto -> bridge -> Kafka -> redis sink
cat >"$tmp/live.json" <<JSON
{"name": "live", "config": {
  "connector.class": "redis", "topics": "fms.vehicle", "tasks.max": "1",
  "redis.url": "redis://127.0.0.1:$REDIS_PORT/0",
  "transforms": "split", "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements",
  "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter",
  "errors.log.enable": "false",
  "consumer.override.session.timeout.ms": "6000",
  "consumer.override.heartbeat.interval.ms": "500"}}
JSON
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/live.json" --rest-listen 127.0.0.1:0 2>"$tmp/connect.log" &
pids+=($!)
# Three devices report once (their sessions persist: each keeps its command subscription) ...
"${sim[@]}" --vehicles 3 --only vehicle/status --duration 2m --speedup max 2>"$tmp/sim1.log" ||
  fail "first sim run: $(tail -3 "$tmp/sim1.log")"
hashes_ok() {
  local i
  for i in 1 2 3; do [[ $(rcli hget vehicle:$i device_id) == "dev-00000$i" ]] || return 1; done
}
wait_for "vehicle:1..3 with their device_id in Redis" 40 hashes_ok
# ... then vehicles 1 and 2 stay online; vehicle 3's device is gone.
"${sim[@]}" --vehicles 2 --duration 1h --speedup 1 --status-format json >"$tmp/sim2.status" 2>"$tmp/sim2.log" &
simpid=$!
pids+=($simpid)

# ---- the API
cat >"$tmp/tokens" <<EOF
viewer-token-0123456789 viewer vera
operator-a-0123456789 operator alice
operator-b-0123456789 operator bob
operator-c-0123456789 operator carol
EOF
V=viewer-token-0123456789 A=operator-a-0123456789 B=operator-b-0123456789 C=operator-c-0123456789
# Two instances over the same Redis: what one sends, the other can follow (and rate-limit).
for n in 1 2; do
  "$FP" serve --listen 127.0.0.1:0 --ready-file "$tmp/serve$n.url" --tokens "$tmp/tokens" \
    --redis "redis://127.0.0.1:$REDIS_PORT/0" --bootstrap-servers "$BS" --mqtt "$url" \
    --mqtt-password-file "$tmp/creds/api.secret" --command-timeout 20s \
    --command-token-burst 4 --command-token-rate 1 --command-vehicle-burst 3 --command-vehicle-rate 1 \
    2>"$tmp/serve$n.log" &
  pids+=($!)
done
wait_for "serve's ready files" 20 test -s "$tmp/serve1.url" -a -s "$tmp/serve2.url"
API=$(cat "$tmp/serve1.url") API2=$(cat "$tmp/serve2.url")
on2() { local API=$API2; "$@"; } # on2 CMD...: CMD against the second instance
metric() { curl -s "$API/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
cmd_ready() { [[ $(metric fleetpipe_serve_commands_mqtt_connected) == 1 && $(metric fleetpipe_serve_commands_answers_ready) == 1 ]]; }
wait_for "serve 1 connected to mqtt and reading answers" 20 cmd_ready
wait_for "serve 2 connected to mqtt and reading answers" 20 on2 cmd_ready
# a webhook receiver for the commands' state changes (serve-webhooks.md)
RECV_PORT=$(free_port)
hook_secret=command-hooks-secret-0123456789
node "$FP_SRC/tests/verify/hookreceiver.mjs" serve "$RECV_PORT" "$tmp/hook_secrets.json" "$tmp/hooks.jsonl" \
  >"$tmp/receiver.log" 2>&1 &
pids+=($!)
recv_up() { curl -sf "http://127.0.0.1:$RECV_PORT/control?mode=ok" >/dev/null; }
wait_for "the webhook receiver" 20 recv_up
hook=$(curl -sf -X POST -H "Authorization: Bearer $A" -H 'Content-Type: application/json' \
  --data-binary "{\"url\":\"http://127.0.0.1:$RECV_PORT/cmd\",\"eventTypes\":[\"command.state_changed\"],\"secret\":\"$hook_secret\"}" \
  "$API/api/v1/webhooks" | jq -r .id) || fail "register the command webhook"
jq -n --arg h "$hook" --arg s "$hook_secret" '{($h): $s}' >"$tmp/hook_secrets.json"

# api METHOD PATH TOKEN [BODY]: prints the status; the body is in $tmp/body, headers in $tmp/hdr.
# Every 2xx body is kept as $tmp/answers/<route>.<n>.json (for the schema checks; n from the
# clock, since api often runs in a subshell).
mkdir -p "$tmp/answers"
api() {
  local m=$1 p=$2 t=$3 code route
  shift 3
  local args=(-s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -X "$m")
  [[ -n $t ]] && args+=(-H "Authorization: Bearer $t")
  (($#)) && args+=(-H 'Content-Type: application/json' --data-binary "$1")
  code=$(curl "${args[@]}" "$API$p")
  if [[ $code == 2* ]]; then
    route=command
    [[ $m == POST ]] && route=command_post
    cp "$tmp/body" "$tmp/answers/$route.$(date +%s%N).json"
  fi
  echo "$code"
}
# expect CODE METHOD PATH TOKEN [BODY]
expect() {
  local want=$1 got
  shift
  got=$(api "$@")
  [[ $got == "$want" ]] || fail "$1 $2 answered $got, want $want: $(cat "$tmp/body")"
}
msg_has() { jq -e --arg s "$1" '.message | contains($s)' "$tmp/body" >/dev/null || fail "message lacks '$1': $(cat "$tmp/body")"; }
header() { tr -d '\r' <"$tmp/hdr" | awk -v h="$1" 'tolower($1) == tolower(h) ":" { print $2 }'; }
post() { expect "$1" POST "/api/v1/vehicles/$2/commands" "$3" "$4"; }
PING='{"command":"ping"}'

# ---- 1. who may send, and what
post 401 1 "" "$PING"
post 401 1 not-a-known-token-at-all "$PING"
post 403 1 "$V" "$PING"
msg_has "needs the operator role"
nbad=0
while IFS=$'\t' read -r want body; do
  post 400 1 "$A" "$body"
  msg_has "$want"
  nbad=$((nbad + 1))
done <"$data/bad_bodies.tsv"
post 400 1 "$A" "{\"command\":\"ping\",\"args\":{},\"pad\":\"$(printf '%05000d' 0)\"}"
msg_has "a command takes at most 4096"
post 400 abc "$A" "$PING"
msg_has 'vehicle id "abc"'
post 404 99 "$A" "$PING"
msg_has "vehicle 99: unknown"
expect 400 GET /api/v1/commands/12345 "$V"
msg_has "expected cmd- and 32 hex digits"
expect 404 GET "/api/v1/commands/cmd-$(printf '%032d' 0)" "$V"
expect 405 GET /api/v1/vehicles/1/commands "$A"
[[ $(header Allow) == POST ]] || fail "405 Allow: $(header Allow)"

# ---- 2-4. commands: alice to vehicles 1 and 3, bob to 2 and 3
post 202 1 "$A" '{"command":"upload_video","args":{"from":"2026-01-01T09:00:00+09:00","until":"2026-01-01T09:05:00+09:00"}}'
jq -e '.status == "pending" and .vehicle_id == 1 and .device_id == "dev-000001" and (.command_id | test("^cmd-[0-9a-f]{32}$"))' "$tmp/body" >/dev/null ||
  fail "202 body: $(cat "$tmp/body")"
[[ $(header Location) == "/api/v1/commands/$(jq -r .command_id "$tmp/body")" ]] || fail "Location: $(header Location)"
c_video=$(jq -r .command_id "$tmp/body")
post 202 1 "$A" '{"command":"set_setpoint","args":{"zone":1,"setpoint":-15.5}}'
c_set=$(jq -r .command_id "$tmp/body")
post 202 1 "$A" "$PING"
c_ping1=$(jq -r .command_id "$tmp/body")
post 202 3 "$A" "$PING"
c_off1=$(jq -r .command_id "$tmp/body")
c_ping2=()
for _ in 1 2 3; do
  post 202 2 "$B" "$PING"
  c_ping2+=("$(jq -r .command_id "$tmp/body")")
done
post 429 2 "$B" "$PING"
msg_has "vehicle 2 has no commands left"
ra=$(header Retry-After)
[[ $ra =~ ^[0-9]+$ ]] && ((ra >= 1 && ra <= 60)) || fail "Retry-After '$ra' (a bucket refills 1/min)"
post 202 3 "$B" "$PING" # bob's 4th allowance was not used by the refused command
c_off2=$(jq -r .command_id "$tmp/body")
post 429 3 "$B" "$PING"
msg_has "token bob has no commands left"
[[ -n $(header Retry-After) ]] || fail "429 without Retry-After"
post 403 3 "$V" "$PING"
on2 post 429 2 "$C" "$PING" # the other instance sees the same vehicle bucket
msg_has "vehicle 2 has no commands left"
grep -q "command $c_set set_setpoint to vehicle 1 (dev-000001) by alice" "$tmp/serve1.log" ||
  fail "the command log does not say who sent it: $(grep command "$tmp/serve1.log" | head -3)"

# status ID: the command's status, its body in $tmp/body
status() { api GET "/api/v1/commands/$1" "$V" >/dev/null; jq -r .status "$tmp/body"; }
final() { [[ $(status "$1") =~ ^(answered|failed|timeout)$ ]]; }
# answered_as_device ID: final, "answered" or "failed" as the device said, with the device's
# message exactly as the bridge put it into fms.device.
answered_as_device() {
  local id=$1 st rec
  wait_for "command $id to end" 45 final "$id"
  st=$(jq -r .status "$tmp/body")
  rec=$(topic_values fms.device | jq -c --arg id "$id" 'select(.type == "command_response" and .command_id == $id)')
  [[ $(grep -c . <<<"$rec") -ge 1 ]] || fail "$id: no command_response in fms.device ($st)"
  rec=$(head -1 <<<"$rec")
  jq -e --argjson rec "$rec" '.response == $rec and .response.command_id == .command_id' "$tmp/body" >/dev/null ||
    fail "$id: response differs from fms.device's $rec: $(cat "$tmp/body")"
  [[ $st == answered && $(jq -r .status <<<"$rec") == ok || $st == failed && $(jq -r .status <<<"$rec") == failed ]] ||
    fail "$id: status $st for a device status $(jq -r .status <<<"$rec")"
  jq -e '.delivered_at and .answered_at and .requested_by and .device_id == .response.device_id' "$tmp/body" >/dev/null ||
    fail "$id: $(cat "$tmp/body")"
}
# A ping is answered ok with the device's latency, or (the simulator's 3 % "device busy") failed
# saying so; of the four pings at least one must be ok.
pings_ok=0
ping_ok() {
  answered_as_device "$1"
  if [[ $(jq -r .status "$tmp/body") == answered ]]; then
    jq -e '.command == "ping" and (.response.result.latency_ms | type) == "number"' "$tmp/body" >/dev/null ||
      fail "ping: $(cat "$tmp/body")"
    pings_ok=$((pings_ok + 1))
  else
    jq -e '.response.result.error | contains("device busy")' "$tmp/body" >/dev/null || fail "ping failed: $(cat "$tmp/body")"
  fi
}
ping_ok "$c_ping1"
jq -e '.requested_by == "alice" and .vehicle_id == 1' "$tmp/body" >/dev/null || fail "ping: $(cat "$tmp/body")"
answered_as_device "$c_set"
if [[ $(status "$c_set") == answered ]]; then
  jq -e '.response.result == {"zone": 1, "setpoint": -15.5} and .args == {"zone": 1, "setpoint": -15.5}' "$tmp/body" >/dev/null ||
    fail "set_setpoint: $(cat "$tmp/body")"
fi
for id in "${c_ping2[@]}"; do ping_ok "$id"; done
((pings_ok >= 1)) || fail "no ping answered ok"
# The webhook: each command's transitions, in order, ending in the status GET gives.
transitions() { # ID: its statuses as delivered to the webhook, repeats (retries) folded
  jq -r --arg id "$1" 'select(.kind == "req") | .commands[] | select(.[0] == $id) | .[1]' "$tmp/hooks.jsonl" | uniq | paste -sd' '
}
ends_with() { [[ $(transitions "$1") == *" $2" ]]; }
# The offline device: delivered to the broker (its session queues it), never answered. c_off1 is
# asked about until it ends; nobody asks about c_off2: the sweep turns it to timeout at its
# deadline by itself, and the webhook hears of it.
wait_for "command $c_off1 to end" 45 final "$c_off1"
offline_timeout() {
  jq -e '.status == "timeout" and .delivered_at and .timed_out_at and (.response == null) and .device_id == "dev-000003"
    and .timed_out_at >= .deadline' "$tmp/body" >/dev/null || fail "offline device's command: $(cat "$tmp/body")"
}
offline_timeout
wait_for "the webhook to get $c_off2's timeout, unasked" 45 ends_with "$c_off2" timeout
[[ $(status "$c_off2") == timeout ]] || fail "the swept command: $(cat "$tmp/body")"
offline_timeout
[[ $(transitions "$c_off2") == "pending delivered timeout" ]] || fail "swept command's transitions: $(transitions "$c_off2")"
[[ $(status "$c_video") =~ ^(delivered|answered|failed|timeout)$ ]] || fail "upload_video: $(cat "$tmp/body")"
for id in "$c_set" "$c_off1" "$c_off2" "${c_ping2[@]}"; do
  st=$(status "$id")
  wait_for "the webhook to get $id's $st" 30 ends_with "$id" "$st"
  [[ $(transitions "$id") =~ ^pending( delivered)?\ $st$ ]] || fail "webhook transitions of $id ($st): $(transitions "$id")"
done
[[ $(transitions "$c_off1") == "pending delivered timeout" ]] || fail "offline command's transitions: $(transitions "$c_off1")"
hookcheck=$(node "$FP_SRC/tests/verify/hookreceiver.mjs" check "$tmp/hooks.jsonl" "$hook" /dev/null)
jq -e '.badSignatures == 0 and .badBodies == 0 and .duplicates == 0 and .outOfOrder == 0 and .maxInflight == 1 and .accepted > 0' \
  <<<"$hookcheck" >/dev/null || fail "command webhook: $hookcheck"
# The second instance answers the same for every command the first one sent.
for id in "$c_ping1" "$c_set" "${c_ping2[@]}" "$c_off1" "$c_off2"; do
  status "$id" >/dev/null
  jq -S . "$tmp/body" >"$tmp/one.json"
  on2 status "$id" >/dev/null
  jq -S . "$tmp/body" | cmp -s - "$tmp/one.json" || fail "$id: the instances differ: $(cat "$tmp/body") vs $(cat "$tmp/one.json")"
done
[[ $(metric 'fleetpipe_serve_commands_total{outcome="sent"}') == 8 ]] || fail "sent: $(metric 'fleetpipe_serve_commands_total{outcome="sent"}')"
[[ $(metric 'fleetpipe_serve_commands_total{outcome="rate_limited"}') == 2 ]] || fail "rate_limited"

# ---- 5. the API's MQTT account: fms/+/cmd, write only
apw=$(cat "$tmp/creds/api.secret")
mpub() { mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -V mqttv5 "$@" 2>&1; }
[[ -z $(mpub -u fleetpipe-api -P "$apw" -t fms/dev-000005/cmd -m '{}') ]] || fail "fleetpipe-api may not send a command"
for t in fms/dev-000005/vehicle/kinematic fms/fleetpipe-api/vehicle/kinematic fms/fleetpipe-api/cmd other/topic '$SYS/x'; do
  grep -q "Not authorized" <<<"$(mpub -u fleetpipe-api -P "$apw" -t "$t" -m '{}')" || fail "fleetpipe-api may publish to $t"
done
# The bridge's account may send commands but not telemetry as if it were a device.
bpw=$(cat "$tmp/creds/bridge.secret")
[[ -z $(mpub -u fleetpipe-bridge -P "$bpw" -t fms/dev-000005/cmd -m '{}') ]] || fail "fleetpipe-bridge may not send a command"
for t in fms/fleetpipe-bridge/vehicle/kinematic fms/dev-000005/vehicle/kinematic; do
  grep -q "Not authorized" <<<"$(mpub -u fleetpipe-bridge -P "$bpw" -t "$t" -m '{}')" || fail "fleetpipe-bridge may publish to $t"
done
# Reading: a subscription is granted but delivers nothing. The bridge account's subscriber is the
# control: once it has the device's second message, the first went out to every subscriber.
stdbuf -oL mosquitto_sub -d -h 127.0.0.1 -p "$MQTT_PORT" -u fleetpipe-api -P "$apw" -q 1 -v \
  -t 'fms/#' -t '#' >"$tmp/api-sub.out" 2>&1 &
apisub=$!
pids+=($apisub)
stdbuf -oL mosquitto_sub -d -h 127.0.0.1 -p "$MQTT_PORT" -u fleetpipe-bridge -P "$(cat "$tmp/creds/bridge.secret")" \
  -q 1 -v -t fms/dev-000005/# >"$tmp/control-sub.out" 2>&1 &
pids+=($!)
subscribed() { grep -qs "received SUBACK" "$tmp/api-sub.out" && grep -qs "received SUBACK" "$tmp/control-sub.out"; }
wait_for "both subscriptions acknowledged" 10 subscribed
d5=$(sed -n 's/^dev-000005://p' "$tmp/creds/devices.secret")
for n in 1 2; do
  mpub -u dev-000005 -P "$d5" -t fms/dev-000005/vehicle/kinematic -m "probe-$n" >/dev/null
  got() { grep -q "probe-$n" "$tmp/control-sub.out"; }
  wait_for "the control subscriber's probe-$n" 10 got
done
kill "$apisub"
grep -q "received PUBLISH" "$tmp/api-sub.out" && fail "fleetpipe-api read: $(cat "$tmp/api-sub.out")"

# ---- 6. mosquitto down, then back
kill "$MOSQUITTO_PID"
wait "$MOSQUITTO_PID" 2>/dev/null || true
mqtt_down() { [[ $(api POST /api/v1/vehicles/3/commands "$C" "$PING") == 503 ]]; }
wait_for "POST to answer 503 with mosquitto down" 20 mqtt_down
jq -e '.backend == "mqtt" and (.message | startswith("mqtt: "))' "$tmp/body" >/dev/null || fail "503: $(cat "$tmp/body")"
expect 200 GET "/api/v1/commands/$c_ping1" "$V"
jq -e '.status == "answered" or .status == "failed"' "$tmp/body" >/dev/null || fail "GET with mosquitto down: $(cat "$tmp/body")"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$API/healthz") == 200 ]] || fail "/healthz with mosquitto down"
post 400 3 "$C" '{"command":"nope"}' # validation still answers
# An instance that starts while mosquitto is down keeps trying (libmosquitto's own loop thread
# would not retry a first connect).
"$FP" serve --listen 127.0.0.1:0 --ready-file "$tmp/serve3.url" --tokens "$tmp/tokens" \
  --redis "redis://127.0.0.1:$REDIS_PORT/0" --bootstrap-servers "$BS" --mqtt "$url" \
  --mqtt-password-file "$tmp/creds/api.secret" 2>"$tmp/serve3.log" &
pids+=($!)
wait_for "serve 3's ready file" 20 test -s "$tmp/serve3.url"
API3=$(cat "$tmp/serve3.url")
on3() { local API=$API3; "$@"; }
on3 post 503 1 "$C" "$PING"
jq -e '.backend == "mqtt" and (.message | contains("Connection refused"))' "$tmp/body" >/dev/null || fail "serve 3: $(cat "$tmp/body")"
mosquitto -c "$tmp/mosquitto.conf" 2>>"$tmp/mosquitto.log" &
MOSQUITTO_PID=$!
pids+=($MOSQUITTO_PID)
mqtt_back() { [[ $(metric fleetpipe_serve_commands_mqtt_connected) == 1 ]]; }
wait_for "serve 1 to reconnect to mosquitto" 30 mqtt_back
wait_for "serve 2 to reconnect to mosquitto" 30 on2 mqtt_back
wait_for "serve 3 to connect to mosquitto at last" 30 on3 mqtt_back
on2 post 202 3 "$C" "$PING"
c_late=$(jq -r .command_id "$tmp/body")
[[ $(status "$c_late") =~ ^(pending|delivered|timeout)$ ]] || fail "instance 1 on instance 2's command: $(cat "$tmp/body")"

# ---- the simulator received exactly what the API accepted for its devices (3 to vehicle 1,
# 3 to vehicle 2), each once.
kill -TERM "$simpid"
rc=0; wait "$simpid" || rc=$?
[[ $(jq -r .commands "$tmp/sim2.status") == 6 ]] || fail "the devices received $(jq -r .commands "$tmp/sim2.status") commands, want 6 (sim exit $rc)"

# ---- Redis down: GET and POST answer 503 naming redis
kill "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
expect 503 GET "/api/v1/commands/$c_ping1" "$V"
jq -e '.backend == "redis"' "$tmp/body" >/dev/null || fail "503: $(cat "$tmp/body")"
post 503 1 "$C" "$PING"
jq -e '.backend == "redis"' "$tmp/body" >/dev/null || fail "503: $(cat "$tmp/body")"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$API/healthz") == 503 ]] || fail "/healthz with redis down is not 503"
curl -s "$API/healthz" | grep -q redis || fail "/healthz with redis down does not name it"
# Back (empty: this Redis keeps nothing on disk): the pool reconnects, the command is unknown.
restart_redis
expect 404 GET "/api/v1/commands/$c_ping1" "$V"
grep -q -- "$A\|$B\|$C\|$V\|$(cat "$tmp/creds/api.secret")" "$tmp"/serve*.log && fail "serve logged a token or the MQTT password"

# every kept answer against the served OpenAPI document
curl -sf "$API/api/v1/openapi.json" >"$tmp/openapi.json" || fail "GET /api/v1/openapi.json"
node "$FP_SRC/tests/verify/apicheck.mjs" "$tmp/openapi.json" "$tmp/answers" >"$tmp/apicheck.json" ||
  fail "answers against the OpenAPI document: $(cat "$tmp/apicheck.json")"
echo "ok: auth (401/403), $((nbad + 1)) bad bodies 400, round trips answered as the devices said, offline -> timeout, each transition delivered to a webhook in order, 429 per vehicle and per token (shared by two instances, which answer alike), the API's MQTT account write-only on fms/+/cmd, mqtt down 503 (GET still answers; an instance started meanwhile connects once it is back), redis down 503"
