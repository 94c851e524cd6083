#!/usr/bin/env bash
# /metrics and /healthz of the long-running commands, on the whole pipeline: sim -> mosquitto ->
# bridge -> Kafka -> connect (objstore, object-committed events) -> lake watch, each with
# --metrics-listen on a free port. Every page must pass `promtool check metrics` (the reference
# parser and linter), export every name docs/operations.md documents for it, and agree with what
# the simulator published (bridge: received == acked == forwarded + dead letters == published).
# Also: the Prometheus config and alert rules pass promtool, and every fleetpipe_ name the
# Grafana dashboard and the rules use is documented.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus; scripts/setup.sh)"
doc=$FP_SRC/docs/operations.md

# ---- static: config, rules, names used by the dashboard and the rules ----
promtool check config "$FP_SRC/config/prometheus/prometheus.yml" >"$tmp/promtool.log" 2>&1 ||
  fail "promtool check config: $(cat "$tmp/promtool.log")"
promtool check rules "$FP_SRC/config/prometheus/rules/fleetpipe.rules.yml" >"$tmp/promtool.log" 2>&1 ||
  fail "promtool check rules: $(cat "$tmp/promtool.log")"
for d in "$FP_SRC"/config/grafana/*.json; do jq empty "$d" || fail "$d is not JSON"; done
# Documented names: the first column of the metric tables.
grep -o '^| `[a-z_]*`' "$doc" | tr -d '|` ' | sort -u >"$tmp/documented"
grep -q '^fleetpipe_connect_task_state$' "$tmp/documented" || fail "no metric table in $doc"
{
  jq -r '.. | objects | (.expr?, .definition?) // empty' "$FP_SRC"/config/grafana/*.json
  cat "$FP_SRC/config/prometheus/rules/fleetpipe.rules.yml"
} | grep -o 'fleetpipe_[a-z0-9_]*' | sed -E 's/_(bucket|sum|count)$//' | sort -u >"$tmp/used"
[[ $(wc -l <"$tmp/used") -ge 10 ]] || fail "found only $(wc -l <"$tmp/used") names in dashboard and rules"
undocumented=$(comm -23 "$tmp/used" "$tmp/documented")
[[ -z $undocumented ]] || fail "used in the dashboard or rules but not in docs/operations.md: $undocumented"

# ---- live ----
# scrape PORT NAME: /metrics into $tmp/NAME.prom, linted by promtool, /healthz must be 200.
scrape() {
  local port=$1 name=$2
  curl -sf -o "$tmp/$name.prom" -D "$tmp/$name.hdr" "http://127.0.0.1:$port/metrics" ||
    fail "$name: GET /metrics failed"
  grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$tmp/$name.hdr" ||
    fail "$name: content type $(grep -i content-type "$tmp/$name.hdr")"
  promtool check metrics <"$tmp/$name.prom" >"$tmp/$name.lint" 2>&1 ||
    fail "$name: promtool check metrics: $(cat "$tmp/$name.lint")"
  [[ ! -s $tmp/$name.lint ]] || fail "$name: promtool reports problems: $(cat "$tmp/$name.lint")"
  local code
  code=$(curl -s -o "$tmp/$name.health" -w '%{http_code}' "http://127.0.0.1:$port/healthz")
  [[ $code == 200 && $(cat "$tmp/$name.health") == ok ]] ||
    fail "$name: /healthz $code $(cat "$tmp/$name.health")"
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")
  [[ $code == 404 ]] || fail "$name: /nope answered $code"
}
# value NAME SERIES: the value of one series (exact name with labels) in $tmp/NAME.prom; 0 when
# absent. sum NAME FAMILY: the sum over all series of a family.
value() { awk -v s="$2" '$1 == s { v = $2 } END { print v + 0 }' "$tmp/$1.prom"; }
sum() { awk -v f="$2" '$1 == f || index($1, f "{") == 1 { v += $2 } END { printf "%d\n", v }' "$tmp/$1.prom"; }
# exports NAME PREFIX: every documented PREFIX* name has a TYPE line in $tmp/NAME.prom.
exports() {
  local n
  for n in $(grep "^$2" "$tmp/documented"); do
    grep -q "^# TYPE $n " "$tmp/$1.prom" || fail "$1 does not export $n (documented in docs/operations.md)"
  done
}

start_broker 4
start_mosquitto open
bport=$(free_port) lport=$(free_port) sport=$(free_port)
start_bridge "$tmp/bridge.log" --metrics-listen "127.0.0.1:$bport"
scrape "$bport" bridge0
[[ $(value bridge0 fleetpipe_bridge_mqtt_connected) == 1 ]] || fail "bridge not reported connected"
exports bridge0 fleetpipe_bridge_

raw=$tmp/raw lake=$tmp/lake events=fleetpipe.lake.events
mkdir -p "$raw" "$lake"
connector_json rawlake "$raw" '"flush.size": "20", "rotate.schedule.interval.ms": "500",
  "store.events.topic": "'$events'"'
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/rawlake.json" \
  --status-interval 2s 2>"$tmp/connect.log" &
pids+=($!)
"$FP" lake watch --from "file://$raw" --to "file://$lake" --bootstrap-servers "$BS" \
  --topic "$events" --group metrics-test --status-interval 1s \
  --metrics-listen "127.0.0.1:$lport" 2>"$tmp/watch.log" &
wpid=$!
pids+=($wpid)
lake_up() { curl -sf -o /dev/null "http://127.0.0.1:$lport/healthz"; }
wait_for "lake watch /healthz" 20 lake_up

# A capped rate keeps the simulator running for a few seconds so that it can be scraped.
"$FP" sim --vehicles 10 --duration 10m --seed 5 --start 2026-03-01T08:00:00Z --speedup max \
  --rate 80 --anomaly-rate 0.05 --target "mqtt://127.0.0.1:$MQTT_PORT" \
  --metrics-listen "127.0.0.1:$sport" --status-format json >"$tmp/sim.status" 2>"$tmp/sim.log" &
spid=$!
pids+=($spid)
sim_acked() {
  curl -sf -o "$tmp/sim.prom" "http://127.0.0.1:$sport/metrics" &&
    (($(value sim fleetpipe_sim_messages_acked_total) > 20))
}
wait_for "sim acknowledgements" 30 sim_acked
scrape "$sport" sim
exports sim fleetpipe_sim_
published_live=$(sum sim fleetpipe_sim_messages_published_total)
acked_live=$(value sim fleetpipe_sim_messages_acked_total)
((published_live >= acked_live && acked_live > 20)) ||
  fail "sim: published $published_live, acked $acked_live"
grep -q 'fleetpipe_sim_messages_published_total{protocol="vehicle/kinematic"} [1-9]' "$tmp/sim.prom" ||
  fail "sim: no vehicle/kinematic count"
wait "$spid" || fail "sim failed: $(tail -5 "$tmp/sim.log")"
published=$(sim_published "$tmp/sim.status")
((published > acked_live)) || fail "sim published only $published"

# The bridge saw and acknowledged exactly what the simulator published (no reconnects here).
bridge_done() {
  curl -sf -o "$tmp/bridge.prom" "http://127.0.0.1:$bport/metrics" &&
    (($(value bridge fleetpipe_bridge_mqtt_messages_acked_total) >= published))
}
wait_for "bridge acknowledged $published messages" 60 bridge_done
scrape "$bport" bridge
received=$(value bridge fleetpipe_bridge_mqtt_messages_received_total)
acked=$(value bridge fleetpipe_bridge_mqtt_messages_acked_total)
forwarded=$(sum bridge fleetpipe_bridge_records_forwarded_total)
dead=$(value bridge fleetpipe_bridge_records_dead_lettered_total)
echo "sim published $published; bridge received $received, acked $acked, forwarded $forwarded + dead $dead"
[[ $received == "$published" && $acked == "$published" ]] ||
  fail "bridge received $received, acked $acked, sim published $published"
[[ $((forwarded + dead)) == "$published" ]] || fail "forwarded $forwarded + dead $dead != $published"
((dead > 0)) || fail "no dead letters counted (anomaly rate too low?)"
grep -q '^fleetpipe_bridge_records_forwarded_total{topic="fms.vehicle"} [1-9]' "$tmp/bridge.prom" ||
  fail "no per-topic count for fms.vehicle"
[[ $(value bridge fleetpipe_bridge_kafka_inflight) == 0 ]] || fail "records still in flight"
[[ $(value bridge fleetpipe_bridge_mqtt_unacked_messages) == 0 ]] || fail "messages still unacked"
[[ $(all_count) == "$published" ]] || fail "Kafka holds $(all_count) records, not $published"

# Lake watch converted what the sink committed.
lake_done() {
  curl -sf -o "$tmp/lake.prom" "http://127.0.0.1:$lport/metrics" &&
    (($(value lake fleetpipe_lake_objects_converted_total) > 0)) &&
    [[ $(value lake fleetpipe_lake_consumer_lag) == 0 ]] &&
    grep -q '^fleetpipe_lake_consumer_lag ' "$tmp/lake.prom"
}
wait_for "lake watch conversions and lag 0" 90 lake_done
sleep 3 # the sink rotates every 0.5 s: let the last objects arrive
wait_for "lake watch lag 0" 60 lake_done
scrape "$lport" lake
exports lake fleetpipe_lake_
objects=$(value lake fleetpipe_lake_objects_converted_total)
rows=$(value lake fleetpipe_lake_rows_written_total)
convs=$(value lake fleetpipe_lake_conversion_seconds_count)
events_n=$(value lake fleetpipe_lake_events_total)
echo "lake: events $events_n, objects $objects, rows $rows, conversions timed $convs"
((rows > 0)) || fail "lake wrote no rows"
[[ $convs == "$objects" ]] || fail "conversion_seconds_count $convs != objects $objects"
[[ $(value lake 'fleetpipe_lake_conversion_seconds_bucket{le="+Inf"}') == "$convs" ]] ||
  fail "+Inf bucket differs from _count"
((events_n >= objects)) || fail "events $events_n < objects $objects"
# Raw objects on disk == objects converted (one event per committed object).
nraw=$(find "$raw" -path '*/.staging' -prune -o -type f -name '*.jsonl*' -print | wc -l)
[[ $nraw == "$objects" ]] || fail "$nraw raw objects, $objects converted"

# Health follows the Kafka producer (with the broker gone librdkafka reports all brokers down)
# and the MQTT connection. Kafka first: while the bridge is reconnecting to MQTT its loop does
# not serve the producer's events.
kill -TERM "${pids[0]}" # the Kafka broker (start_broker's process)
kafka_down() {
  local code
  code=$(curl -s -o "$tmp/bridge.health" -w '%{http_code}' "http://127.0.0.1:$bport/healthz")
  [[ $code == 503 ]] && grep -q 'kafka: all brokers down' "$tmp/bridge.health"
}
wait_for "bridge /healthz 503 naming Kafka without the broker" 60 kafka_down
curl -sf -o "$tmp/bridge2.prom" "http://127.0.0.1:$bport/metrics" || fail "no metrics while unhealthy"
[[ $(value bridge2 fleetpipe_bridge_kafka_up) == 0 ]] || fail "bridge still reports Kafka up"
kill -TERM "$MOSQUITTO_PID"
wait "$MOSQUITTO_PID" 2>/dev/null || true
mqtt_down() {
  curl -s -o "$tmp/bridge.health" "http://127.0.0.1:$bport/healthz" &&
    grep -q 'mqtt: not connected' "$tmp/bridge.health"
}
wait_for "bridge /healthz naming MQTT without mosquitto" 30 mqtt_down
curl -sf -o "$tmp/bridge3.prom" "http://127.0.0.1:$bport/metrics" || fail "no metrics while unhealthy"
[[ $(value bridge3 fleetpipe_bridge_mqtt_connected) == 0 ]] || fail "bridge still reported connected"
echo "metrics: ok"
