#!/usr/bin/env bash
# Device security with the project's mosquitto config (config/mosquitto): no anonymous access,
# per-device passwords from `fleetpipe sim provision`, and an ACL that confines each device to
# its own topics. Proves: wrong or missing credentials are refused (for mosquitto clients, the
# simulator and the bridge), a device cannot publish on another device's topic or read another
# device's commands, the bridge receives every device, and commands reach the device and come
# back as device/command_response.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"

start_broker 4
provision 6
start_mosquitto
pw() { sed -n "s/^$1://p" "$tmp/creds/devices.secret"; }
url=mqtt://127.0.0.1:$MQTT_PORT
pub=(mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1)

# Refused: wrong password, unknown user, no user at all.
for args in "-u dev-000001 -P wrong" "-u dev-999999 -P $(pw dev-000001)" ""; do
  # shellcheck disable=SC2086
  if out=$("${pub[@]}" $args -t fms/dev-000001/vehicle/kinematic -m x 2>&1); then
    fail "mosquitto_pub with '$args' was accepted"
  fi
  grep -qi "not authori[sz]ed\|refused" <<<"$out" || fail "unexpected refusal text: $out"
done
printf 'dev-000001:wrong\n' >"$tmp/bad.secret"
rc=0
"$FP" sim --vehicles 1 --duration 1m --speedup max --credentials "$tmp/bad.secret" --target "$url" \
  2>"$tmp/badsim.log" || rc=$?
[[ $rc -eq 2 ]] || fail "sim with a wrong password exited $rc, want 2"
grep -q "dev-000001: broker refused the connection" "$tmp/badsim.log" || fail "sim did not say why: $(cat "$tmp/badsim.log")"
printf 'wrong\n' >"$tmp/bad.bridge"
rc=0
"$FP" bridge --mqtt "$url" --bootstrap-servers "$BS" --mqtt-username fleetpipe-bridge \
  --mqtt-password-file "$tmp/bad.bridge" 2>"$tmp/badbridge.log" || rc=$?
[[ $rc -eq 2 ]] || fail "bridge with a wrong password exited $rc, want 2"
grep -qi "not authori[sz]ed\|bad user name or password" "$tmp/badbridge.log" || fail "bridge did not say why: $(cat "$tmp/badbridge.log")"
grep -q "wrong" "$tmp/badbridge.log" && fail "the bridge printed the password"

use_bridge_account
start_bridge "$tmp/bridge.log" "${bridge_auth[@]}"

# A device eavesdropping on another device's commands gets nothing.
stdbuf -oL mosquitto_sub -d -h 127.0.0.1 -p "$MQTT_PORT" -u dev-000001 -P "$(pw dev-000001)" -q 1 \
  -t fms/dev-000002/cmd -W 20 >"$tmp/eavesdrop.out" 2>&1 &
pids+=($!)

# The fleet, with the spoofing anomaly switched on: every spoofed publish must die at the ACL.
"$FP" sim --vehicles 6 --duration 10m --speedup 60 --seed 5 --start 2026-03-03T10:00:00Z \
  --anomalies spoofed_topic --anomaly-rate 0.2 --truth "$tmp/truth.jsonl" \
  --credentials "$tmp/creds/devices.secret" --target "$url" --status-format json >"$tmp/sim.status" 2>"$tmp/sim.log" &
simpid=$!
pids+=($simpid)
# dev-000002 is connected and subscribed (its persistent session then keeps the subscription
# through the ACL-forced reconnects).
dev2_up() { grep -q "as dev-000002 " "$tmp/mosquitto.log"; }
wait_for "dev-000002 connected" 20 dev2_up
sleep 1
# Commands from the operator side (the bridge account may write fms/+/cmd). Several, because
# the spoofing anomaly can hit a command response too, which the ACL then rightly drops.
ncmd=6
for ((i = 1; i <= ncmd; i++)); do
  "${pub[@]}" -u fleetpipe-bridge -P "$(cat "$tmp/creds/bridge.secret")" -t fms/dev-000002/cmd \
    -m "{\"command_id\":\"c-4$i\",\"command\":\"ping\",\"requested_at\":\"2026-03-03T10:01:00+09:00\"}" ||
    fail "operator command c-4$i refused"
  sleep 0.3
done
# ... and dev-000001 trying to publish as dev-000002 (the broker accepts the PUBACK but drops it).
"${pub[@]}" -u dev-000001 -P "$(pw dev-000001)" -t fms/dev-000002/vehicle/status \
  -m '{"object":"vehicle","type":"status","id":1,"device_id":"dev-000001","messaged_at":"2026-03-03T10:01:00+09:00","seq":999999,"measurements":[]}' ||
  fail "mosquitto_pub failed outright"
rc=0; wait "$simpid" || rc=$?
[[ $rc -eq 0 ]] || fail "sim exited $rc: $(tail -5 "$tmp/sim.log")"
published=$(sim_published "$tmp/sim.status")
spoofed=$(grep -c '"spoofed_topic"' "$tmp/truth.jsonl" || true)
((spoofed > 0)) || fail "no spoofed messages injected"

# Dropped by the ACL: only the honest messages reach Kafka. mosquitto 2.0.11 also closes the
# connection of a device that publishes on a denied topic; its client reconnects and resends
# what was in flight, so duplicates are possible (at-least-once) and messages are counted by
# (device_id, seq).
want=$((published - spoofed)) # published includes the command response
routed() { routed_pairs | sort -u | wc -l; }
arrived() { (($(routed) >= want)); }
wait_for "$want distinct messages" 30 arrived
sleep 1
[[ $(routed) -eq $want ]] || fail "routed $(routed) distinct messages, want $want (published $published, spoofed $spoofed)"
[[ $(topic_count fms.deadletter) -eq 0 ]] || fail "a spoofed message got past the ACL into the dead letters"
grep -q '"seq":999999' <(topic_values fms.vehicle) && fail "dev-000001 published on dev-000002's topic"

# The bridge received every device.
keys=$(for t in fms.vehicle fms.cargo fms.blackbox; do kc -t $t -f '%k\n'; done | sort -u | wc -l)
[[ $keys -eq 6 ]] || fail "records from $keys devices, want 6"

# Every command came back from dev-000002 as a command_response, or its response was spoofed
# (truth) and dropped by the ACL; at least one made the round trip.
resps=$(topic_values fms.device | jq -c 'select(.type == "command_response" and (.command_id | startswith("c-4")))')
nresp=$(jq -r .command_id <<<"$resps" | grep -c . || true)
[[ $(jq -r .command_id <<<"$resps" | sort -u | grep -c . || true) -eq $nresp ]] || fail "a command was answered twice: $resps"
nspoofed=$(jq -c 'select(.device_id == "dev-000002" and .type == "command_response" and .anomaly == "spoofed_topic")' "$tmp/truth.jsonl" | grep -c . || true)
((nresp >= 1)) || fail "no command_response from dev-000002 in fms.device ($nspoofed spoofed)"
((nresp + nspoofed == ncmd)) || fail "$nresp responses + $nspoofed spoofed, want $ncmd commands: $resps"
jq -e -s 'all(.device_id == "dev-000002" and .command == "ping" and (.status == "ok" or .status == "failed"))' <<<"$resps" >/dev/null ||
  fail "bad command_response: $resps"
grep -q "received CONNACK (0)" "$tmp/eavesdrop.out" || fail "the eavesdropper did not even log in: $(cat "$tmp/eavesdrop.out")"
grep -q "received PUBLISH" "$tmp/eavesdrop.out" && fail "dev-000001 read dev-000002's commands: $(cat "$tmp/eavesdrop.out")"
echo "ok: refusals, ACL ($spoofed spoofed publishes dropped), all 6 devices, $nresp/$ncmd command round trips"
