#!/usr/bin/env bash
# Conservation through the bridge: a simulated fleet with every kind of anomaly publishes to a
# real mosquitto; the bridge routes it into Kafka. Every published message must be in exactly
# one fms.<object> topic or fms.deadletter, byte for byte, and the dead letters must be exactly
# the injected malformed, missing-field and spoofed messages of the truth file. The broker runs
# the project's config without ACL here ("open"), so the bridge's own spoofing check is the
# only defence; mqtt_security.sh covers the ACL.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"

start_broker 4
start_mosquitto open
start_bridge "$tmp/bridge.log"

sim=(--vehicles 20 --duration 20m --seed 7 --start 2026-03-01T08:00:00Z --anomaly-rate 0.06)
"$FP" sim "${sim[@]}" --speedup max --truth "$tmp/truth.jsonl" \
  --target "mqtt://127.0.0.1:$MQTT_PORT" --status-format json >"$tmp/sim.status" 2>"$tmp/sim.log" || fail "sim: $(tail -5 "$tmp/sim.log")"
published=$(sim_published "$tmp/sim.status")
((published > 1000)) || fail "only $published messages published"

# The same seed and start written to a file: the bytes the devices sent.
"$FP" sim "${sim[@]}" --speedup max --target "file:$tmp/sent.jsonl" --truth "$tmp/truth2.jsonl" \
  2>/dev/null || fail "sim to file failed"
cmp -s "$tmp/truth.jsonl" "$tmp/truth2.jsonl" || fail "truth differs between two runs of one seed"
[[ $(wc -l <"$tmp/sent.jsonl") -eq $published ]] || fail "file run has $(wc -l <"$tmp/sent.jsonl") messages, MQTT run published $published"

all_in() { (($(all_count) >= published)); }
wait_for "all $published messages in Kafka" 60 all_in
kill -TERM "$BRIDGE_PID"
rc=0; wait "$BRIDGE_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "bridge exited $rc on SIGTERM: $(tail -5 "$tmp/bridge.log")"

# Conservation, exactly (no crash, so no redeliveries either).
routed=$(routed_count)
dead=$(topic_count fms.deadletter)
echo "published $published = routed $routed + dead letters $dead"
[[ $((routed + dead)) -eq $published ]] || fail "published $published != routed $routed + dead $dead"

# Byte for byte: the multiset of all record values equals the multiset of bytes sent.
for t in "${routed_topics[@]}" fms.deadletter; do topic_values $t; done |
  sort >"$tmp/kafka.sorted"
sort "$tmp/sent.jsonl" >"$tmp/sent.sorted"
cmp -s "$tmp/kafka.sorted" "$tmp/sent.sorted" || fail "Kafka values differ from the bytes sent: $(diff "$tmp/sent.sorted" "$tmp/kafka.sorted" | head -c 600)"

# Routing: every record in fms.<object> has that object and its key is the device_id.
for o in vehicle cargo blackbox device; do
  bad=$(kc -t "fms.$o" -f '%k\t%s\n' |
    jq -R --arg o "$o" 'split("\t") | (.[1] | fromjson) as $m | select($m.object != $o or $m.device_id != .[0])' | head -3)
  [[ -z $bad ]] || fail "misrouted in fms.$o: $bad"
done

# Dead letters are exactly the injected malformed / missing / spoofed messages.
jq -r 'select(.dead_letter) | "\(.mqtt_topic) " + ({"malformed_json":"invalid_json",
  "missing_field":"missing_field", "spoofed_topic":"spoofed_device"}[.anomaly])' \
  "$tmp/truth.jsonl" | sort >"$tmp/dlq.expected"
kc -t fms.deadletter -f '%h\n' |
  sed -E 's/.*mqtt\.topic=([^,]*).*error\.class=([^,]*).*/\1 \2/' | sort >"$tmp/dlq.actual"
cmp -s "$tmp/dlq.expected" "$tmp/dlq.actual" || fail "dead letters differ from the truth: $(diff "$tmp/dlq.expected" "$tmp/dlq.actual" | head -20)"
for k in invalid_json missing_field spoofed_device; do
  grep -q " $k\$" "$tmp/dlq.actual" || fail "no $k dead letter; raise the anomaly rate"
done
# Every dead letter says why, and where it came from.
missing=$(kc -t fms.deadletter -f '%h\n' | grep -vc 'error.message=.' || true)
[[ $missing -eq 0 ]] || fail "$missing dead letters without error.message"
# Non-dead-letter anomalies were forwarded (the bridge does not judge content).
fwd=$(jq -r 'select(.anomaly and (.dead_letter | not)) | .anomaly' "$tmp/truth.jsonl" | sort -u | wc -l)
((fwd >= 5)) || fail "only $fwd kinds of forwarded anomalies injected"
echo "ok: $published messages, $dead dead letters match the truth file"
