# Helpers for the MQTT tests (sourced after connect.bash): a real mosquitto started from the
# project's config/mosquitto files, device credentials, and Kafka read-back.

# provision N: device credentials in $tmp/creds (passwd, devices.secret, bridge.secret).
provision() {
  "$FP" sim provision --vehicles "$1" --out "$tmp/creds" 2>"$tmp/provision.log" ||
    fail "sim provision: $(cat "$tmp/provision.log")"
}

# start_mosquitto [open]: runs mosquitto with config/mosquitto/mosquitto.conf, changing only
# the listener port and the password/ACL file paths; sets MQTT_PORT. "open" also allows
# anonymous clients without ACL, for tests of the bridge's own checks.
start_mosquitto() {
  MQTT_PORT=$(free_port)
  local conf=$tmp/mosquitto.conf
  sed -e "s|^listener 1883 |listener $MQTT_PORT |" \
      -e "s|^password_file .*|password_file $tmp/creds/passwd|" \
      -e "s|^acl_file .*|acl_file $FP_SRC/config/mosquitto/acl|" \
      "$FP_SRC/config/mosquitto/mosquitto.conf" >"$conf"
  if [[ ${1:-} == open ]]; then
    sed -i -e 's|^allow_anonymous false|allow_anonymous true|' -e '/^password_file /d' \
      -e '/^acl_file /d' "$conf"
  fi
  grep -q "^listener $MQTT_PORT " "$conf" || fail "config/mosquitto/mosquitto.conf has no listener line"
  chmod 644 "$conf"
  # mosquitto drops root privileges to its own user: it must be able to reach the files.
  chmod 711 "$tmp"
  mosquitto -c "$conf" 2>"$tmp/mosquitto.log" &
  MOSQUITTO_PID=$!
  pids+=($MOSQUITTO_PID)
  mqtt_up() { (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; }
  wait_for "mosquitto on port $MQTT_PORT" 10 mqtt_up
}

# start_bridge LOG [extra flags...]: a bridge with the provisioned bridge account.
start_bridge() {
  local log=$1
  shift
  "$FP" bridge --mqtt "mqtt://127.0.0.1:$MQTT_PORT" --bootstrap-servers "$BS" \
    --client-id test-bridge --status-interval 1s --status-format json "$@" >"${log%.log}.status" 2>"$log" &
  BRIDGE_PID=$!
  pids+=($BRIDGE_PID)
  bridge_up() { grep -q "connected to MQTT" "$log"; }
  wait_for "bridge connection ($log)" 20 bridge_up
}

bridge_auth=()
use_bridge_account() {
  bridge_auth=(--mqtt-username fleetpipe-bridge --mqtt-password-file "$tmp/creds/bridge.secret")
}

# kc ARGS...: kcat reading whole topics to their end. A short fetch wait makes it return at
# once on empty partitions (the default wait costs a second per call).
kc() {
  kcat -C -b "$BS" -e -q -X fetch.wait.max.ms=10 "$@" 2>/dev/null
}

# topic_values TOPIC: every record value of TOPIC, one per line.
topic_values() {
  kc -t "$1" -f '%s\n'
}

# topic_count TOPIC
topic_count() {
  kc -t "$1" -f 'x\n' | wc -l
}

# The topics the bridge routes to (fms.deadletter aside).
routed_topics=(fms.vehicle fms.cargo fms.blackbox fms.device)

# routed_count: records in the routed topics; all_count: the same plus the dead letters.
routed_count() {
  local n=0 t
  for t in "${routed_topics[@]}"; do n=$((n + $(topic_count $t))); done
  echo $n
}
all_count() { echo $(($(routed_count) + $(topic_count fms.deadletter))); }

# routed_pairs: "device_id seq" of every routed record (duplicates kept).
routed_pairs() {
  local t
  for t in "${routed_topics[@]}"; do topic_values $t; done | jq -r '"\(.device_id) \(.seq)"'
}

# sent_pairs FILE: the distinct "device_id seq" of a JSON-lines file the simulator wrote.
sent_pairs() { jq -r '"\(.device_id) \(.seq)"' "$1" | sort -u; }

# sim_published STATUS: the "published" figure of a sim's final status (--status-format json).
sim_published() {
  jq -e .published "$1" || fail "no sim status in $1"
}
