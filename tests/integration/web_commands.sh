#!/usr/bin/env bash
# web_commands.sh — the console's command round trip in a real browser (Debian's chromium,
# headless, driven by playwright-core from tests/verify), against the servers serve_commands.sh
# uses: mosquitto with the project's ACL and per-device accounts, the dev broker, `fleetpipe
# bridge`, a redis sink connector (each vehicle's hash, with its device_id, from the devices' own
# telemetry), `fleetpipe sim` devices that answer commands, and `fleetpipe serve` with --mqtt.
# tests/verify/webcommands.mjs signs in (a viewer sees no buttons), clicks Ping, Upload video and
# Set setpoint on vehicle 1's page (its device online) and Ping on vehicle 3's (its device gone),
# and reports what each row shows. This script then checks, for every row:
#  1. it showed "pending" first and ends in the API's final status (GET /api/v1/commands/{id});
#  2. the times of its steps are the API's requested_at, delivered_at, answered_at/timed_out_at;
#  3. online: the device's answer shown (status, result, completed_at) equals the API's response
#     and the command_response record kcat reads from fms.device; "answered" exactly when the
#     device said ok;
#  4. offline: "timeout" after --command-timeout, no answer shown, none in fms.device.
# The online devices run at --speedup 30 so that an upload (20-120 simulated seconds on the
# device) is answered within seconds. Screenshots go to $tmp/shots (kept with KEEP=1).
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"
source "$(dirname "$0")/lib/redis.bash"
verify=$FP_SRC/tests/verify

command -v chromium >/dev/null || fail "chromium is not installed (scripts/setup.sh installs it)"
[[ -d $verify/node_modules/playwright-core ]] || fail "npm ci --prefix tests/verify first (playwright-core)"
[[ -s $FP_SRC/web/dist/index.html ]] || fail "the console is not built (npm ci --prefix web && npm run build --prefix web)"

start_broker 2
provision 3
start_mosquitto
start_redis
use_bridge_account
start_bridge "$tmp/bridge.log" "${bridge_auth[@]}"
url=mqtt://127.0.0.1:$MQTT_PORT
sim=("$FP" sim --seed 17 --credentials "$tmp/creds/devices.secret" --target "$url")

cat >"$tmp/live.json" <<JSON
{"name": "live", "config": {
  "connector.class": "redis", "topics": "fms.vehicle", "tasks.max": "1",
  "redis.url": "redis://127.0.0.1:$REDIS_PORT/0",
  "transforms": "split", "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements",
  "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter",
  "errors.log.enable": "false"}}
JSON
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/live.json" --rest-listen 127.0.0.1:0 2>"$tmp/connect.log" &
pids+=($!)
# Three devices report once (their persistent sessions keep the command subscription) ...
"${sim[@]}" --vehicles 3 --only vehicle/status --duration 2m --speedup max 2>"$tmp/sim1.log" ||
  fail "first sim run: $(tail -3 "$tmp/sim1.log")"
hashes_ok() {
  local i
  for i in 1 2 3; do [[ $(rcli hget vehicle:$i device_id) == "dev-00000$i" ]] || return 1; done
}
wait_for "vehicle:1..3 with their device_id in Redis" 40 hashes_ok
# ... then vehicles 1 and 2 stay online; vehicle 3's device is gone.
"${sim[@]}" --vehicles 2 --only vehicle/status,device/command_response --duration 8h --speedup 30 --status-format json \
  >"$tmp/sim2.status" 2>"$tmp/sim2.log" &
pids+=($!)

cat >"$tmp/tokens" <<EOF
viewer-token-0123456789 viewer vera
operator-token-0123456789 operator olga
EOF
"$FP" serve --listen 127.0.0.1:0 --ready-file "$tmp/serve.url" --tokens "$tmp/tokens" \
  --redis "redis://127.0.0.1:$REDIS_PORT/0" --bootstrap-servers "$BS" --mqtt "$url" \
  --mqtt-password-file "$tmp/creds/api.secret" --command-timeout 12s 2>"$tmp/serve.log" &
pids+=($!)
wait_for "serve's ready file" 20 test -s "$tmp/serve.url"
API=$(cat "$tmp/serve.url")
metric() { curl -s "$API/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
cmd_ready() { [[ $(metric fleetpipe_serve_commands_mqtt_connected) == 1 && $(metric fleetpipe_serve_commands_answers_ready) == 1 ]]; }
wait_for "serve connected to mqtt and reading answers" 20 cmd_ready

mkdir -p "$tmp/shots"
node "$verify/webcommands.mjs" --url "$API" --operator operator-token-0123456789 \
  --viewer viewer-token-0123456789 --online 1:ping,upload_video,set_setpoint --offline 3:ping \
  --shots "$tmp/shots" >"$tmp/page.json" 2>"$tmp/webcommands.log" ||
  fail "webcommands: $(tail -20 "$tmp/webcommands.log")"
[[ $(jq '.commands | length' "$tmp/page.json") == 4 ]] || fail "rows: $(cat "$tmp/page.json")"

# Every row against the API and against fms.device (read once more after the last answer).
topic_values fms.device | jq -c 'select(.type == "command_response")' >"$tmp/responses.jsonl"
answered=0 failed=0 timeouts=0
while read -r row; do
  id=$(jq -r .command_id <<<"$row")
  cmd=$(jq -r .command <<<"$row")
  curl -sf -H "Authorization: Bearer viewer-token-0123456789" "$API/api/v1/commands/$id" >"$tmp/api.json" ||
    fail "GET /commands/$id"
  st=$(jq -r .status "$tmp/api.json")
  [[ $(jq -r .status <<<"$row") == "$st" ]] || fail "$id ($cmd): the page shows $(jq -r .status <<<"$row"), the API $st"
  jq -e '.seen[0] == "pending" and .seen[-1] == .status and (.seen | length == (unique | length))' <<<"$row" >/dev/null ||
    fail "$id: statuses shown $(jq -c .seen <<<"$row")"
  # the steps' times are the API's
  jq -e --slurpfile a "$tmp/api.json" '$a[0] as $a | .steps == ({pending: $a.requested_at, delivered: $a.delivered_at}
      + (if $a.status == "timeout" then {timeout: $a.timed_out_at} else {($a.status): $a.answered_at} end)
      | with_entries(select(.value != null)))' <<<"$row" >/dev/null ||
    fail "$id: steps $(jq -c .steps <<<"$row") vs the API's $(jq -c '{requested_at, delivered_at, answered_at, timed_out_at}' "$tmp/api.json")"
  rec=$(jq -c --arg id "$id" 'select(.command_id == $id)' "$tmp/responses.jsonl")
  case $(jq -r .vehicle <<<"$row") in
  1)
    [[ -n $rec ]] || fail "$id ($cmd): no command_response in fms.device, the page shows $st"
    rec=$(head -1 <<<"$rec")
    jq -e --argjson rec "$rec" --slurpfile a "$tmp/api.json" '.answer == ($rec | {status, result, completed_at})
        and .answer == ($a[0].response | {status, result, completed_at}) and $a[0].response == $rec' <<<"$row" >/dev/null ||
      fail "$id ($cmd): page $(jq -c .answer <<<"$row"), fms.device $rec, API $(jq -c .response "$tmp/api.json")"
    [[ $st == answered && $(jq -r .status <<<"$rec") == ok || $st == failed && $(jq -r .status <<<"$rec") == failed ]] ||
      fail "$id ($cmd): status $st for a device status $(jq -r .status <<<"$rec")"
    if [[ $st == answered ]]; then
      answered=$((answered + 1))
      case $cmd in
      ping) jq -e '(.answer.result.latency_ms | type) == "number"' <<<"$row" >/dev/null || fail "ping: $row" ;;
      upload_video) jq -e '.answer.result.bytes > 0 and (.answer.result.object_key | test("^blackbox/dev-000001/.*\\.mp4$"))' <<<"$row" >/dev/null ||
        fail "upload_video: $row" ;;
      set_setpoint) jq -e '.answer.result == {"zone": 1, "setpoint": -18}' <<<"$row" >/dev/null || fail "set_setpoint: $row" ;;
      esac
    else
      failed=$((failed + 1)) # the simulator's 3 % "device busy"
      jq -e '.answer.result.error | contains("device busy")' <<<"$row" >/dev/null || fail "$cmd failed: $row"
    fi
    ;;
  3)
    [[ $st == timeout && -z $rec ]] || fail "$id to the offline device: $st, fms.device: $rec"
    jq -e '.answer == null and (.note | contains("No answer"))' <<<"$row" >/dev/null || fail "offline row: $row"
    timeouts=$((timeouts + 1))
    ;;
  esac
done < <(jq -c '.commands[]' "$tmp/page.json")
((answered >= 1)) || fail "no command answered ok"
((timeouts == 1)) || fail "timeouts: $timeouts"
ls "$tmp/shots"/commands*.png >/dev/null || fail "no screenshots"
echo "web_commands: ok (4 commands clicked: $answered answered, $failed failed as the device said, $timeouts timeout; page = GET /commands/{id} = fms.device)"
