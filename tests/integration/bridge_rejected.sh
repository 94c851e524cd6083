#!/usr/bin/env bash
# Records Kafka refuses for good (here MSG_SIZE_TOO_LARGE, injected into the first produce
# requests of the in-memory broker, which never refuses on its own) must not stall the bridge
# in a redelivery loop: they become dead letters with error.class kafka_rejected, everything
# after them flows, and the counts still reconcile.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"

mkfifo "$tmp/broker.out"
"$FP" broker --brokers 1 --partitions 4 --fail-produce 3 >"$tmp/broker.out" 2>"$tmp/broker.log" &
pids+=($!)
exec 7<"$tmp/broker.out"
read -r -t 30 BS <&7 || fail "broker printed no bootstrap servers"
cat <&7 >/dev/null &
pids+=($!)
start_mosquitto open
start_bridge "$tmp/bridge.log"

"$FP" sim --vehicles 5 --duration 10m --speedup max --seed 2 --start 2026-03-05T00:00:00Z \
  --target "mqtt://127.0.0.1:$MQTT_PORT" --status-format json >"$tmp/sim.status" 2>"$tmp/sim.log" || fail "sim: $(tail -3 "$tmp/sim.log")"
published=$(sim_published "$tmp/sim.status")
arrived() { (($(all_count) >= published)); }
wait_for "all $published messages in Kafka" 30 arrived
kill -TERM "$BRIDGE_PID"
rc=0; wait "$BRIDGE_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "bridge exited $rc: $(tail -5 "$tmp/bridge.log")"
[[ $(all_count) -eq $published ]] || fail "Kafka holds $(all_count) records for $published messages"
rejected=$(kc -t fms.deadletter -f '%h\n' | grep -c 'error.class=kafka_rejected' || true)
((rejected >= 1)) || fail "no kafka_rejected dead letter: $(tail -5 "$tmp/bridge.log")"
kc -t fms.deadletter -f '%h\n' | grep -q 'mqtt.topic=fms/dev-' || fail "rejected dead letters lost the mqtt.topic header"
kc -t fms.deadletter -f '%h\n' | grep -q 'MSG_SIZE_TOO_LARGE\|too large' || fail "no reason in error.message"
# The dead letters carry the original bytes: each is a message a device sent.
"$FP" sim --vehicles 5 --duration 10m --speedup max --seed 2 --start 2026-03-05T00:00:00Z 2>/dev/null | sort >"$tmp/sent"
topic_values fms.deadletter | sort | comm -23 - "$tmp/sent" | grep -q . && fail "a dead letter is not a sent message"
grep -q "reconnecting to MQTT" "$tmp/bridge.log" && fail "the bridge reconnected over a permanent error"
echo "ok: $rejected records refused by Kafka dead-lettered, $published reconciled"
