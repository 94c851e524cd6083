#!/usr/bin/env bash
# No loss through a crashing bridge: the simulator publishes a fleet over MQTT (project config:
# per-device credentials and ACL) while the bridge is killed with kill -9 twice and restarted.
# The bridge acknowledges a message only after Kafka has it and keeps a persistent session, so
# the broker redelivers whatever was in flight: every published (device_id, seq) must be in
# Kafka. Duplicates are allowed (at-least-once) and reported.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"

start_broker 64 # the mock keeps only 5 MiB per partition; redeliveries add volume
provision 60
start_mosquitto
use_bridge_account
start_bridge "$tmp/bridge.0.log" "${bridge_auth[@]}"

sim=(--vehicles 60 --duration 90m --seed 11 --start 2026-03-02T06:00:00Z)
"$FP" sim "${sim[@]}" --speedup 1000 --credentials "$tmp/creds/devices.secret" \
  --target "mqtt://127.0.0.1:$MQTT_PORT" --status-format json >"$tmp/sim.status" 2>"$tmp/sim.log" &
simpid=$!
pids+=($simpid)

for round in 1 2; do
  sleep 1.5
  kill -0 "$simpid" 2>/dev/null || fail "the simulator finished before kill $round; simulate longer"
  kill -9 "$BRIDGE_PID"
  wait "$BRIDGE_PID" 2>/dev/null || true
  sleep 0.5 # the broker queues for the dead bridge's session meanwhile
  start_bridge "$tmp/bridge.$round.log" "${bridge_auth[@]}"
  grep -q "session resumed" "$tmp/bridge.$round.log" || fail "bridge $round did not resume its MQTT session"
done
rc=0; wait "$simpid" || rc=$?
[[ $rc -eq 0 ]] || fail "sim exited $rc: $(tail -5 "$tmp/sim.log")"
published=$(sim_published "$tmp/sim.status")

# What the devices sent: the same seed and start, written to a file.
"$FP" sim "${sim[@]}" --speedup max --target "file:$tmp/sent.jsonl" 2>/dev/null
[[ $(wc -l <"$tmp/sent.jsonl") -eq $published ]] || fail "file run: $(wc -l <"$tmp/sent.jsonl") messages, MQTT run: $published"
sent_pairs "$tmp/sent.jsonl" >"$tmp/expected"

complete() {
  routed_pairs | sort -u >"$tmp/actual"
  [[ -z $(comm -23 "$tmp/expected" "$tmp/actual") ]]
}
end=$((SECONDS + 120))
until complete; do
  ((SECONDS < end)) || fail "after 120 s, $(comm -23 "$tmp/expected" "$tmp/actual" | wc -l) published messages are not in Kafka, e.g. $(comm -23 "$tmp/expected" "$tmp/actual" | head -3 | tr '\n' ' '); last bridge: $(tail -2 "$tmp/bridge.2.log")"
  sleep 1
done
lost=$(comm -23 "$tmp/expected" "$tmp/actual" | wc -l)
total=$(routed_pairs | wc -l)
dups=$((total - $(wc -l <"$tmp/actual")))
echo "published $published, in Kafka $total records, distinct $(wc -l <"$tmp/actual"), duplicates $dups, lost $lost"
[[ $lost -eq 0 ]] || fail "$lost messages lost: $(comm -23 "$tmp/expected" "$tmp/actual" | head -5)"
[[ $(topic_count fms.deadletter) -eq 0 ]] || fail "dead letters from a clean fleet"
kill -TERM "$BRIDGE_PID"
rc=0; wait "$BRIDGE_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "bridge exited $rc on SIGTERM"
# The kills hit messages in flight: the restarted bridges got redeliveries (the DUP flag).
# Bridge 1 died by kill -9, so only its last periodic status line tells; bridge 2 stopped
# cleanly and printed its final status.
r1=$({ grep -o 'redelivered [0-9]*' "$tmp/bridge.1.log" || true; } | tail -1 | cut -d' ' -f2)
r2=$(jq -e .redelivered "$tmp/bridge.2.status") || fail "no final status from bridge 2: $(cat "$tmp/bridge.2.status")"
redelivered=$((${r1:-0} + r2))
((redelivered > 0)) || fail "no redelivered message after the kills: nothing was in flight"
echo "ok: no loss across 2 kill -9 of the bridge ($redelivered redelivered, $dups duplicates)"
