#!/usr/bin/env bash
# fleetpipe loadtest against a small real pipeline given as an --endpoints file: the dev broker,
# mosquitto with provisioned device accounts and the project ACL, the bridge (its own account,
# --metrics-listen), redis-server, and one connect worker with a Redis live-state connector
# (fms.vehicle, split) and a raw-lake objstore connector into a directory. Two small steps
# (5 then 20 vehicles, 15 s each), then checks:
#   - report.json agrees with the parts' own counters, scraped here after the run: the fleet's
#     published = bridge received = forwarded + dead letters; each connector's records as the
#     worker counts them; and with what the sinks hold, counted independently: raw lake lines =
#     records the objstore connector wrote = bridge forwarded; fms.vehicle lines in the lake =
#     messages the Redis connector consumed; their measurements = records it wrote; vehicle
#     hashes in Redis = vehicles in those lines;
#   - the report's structure: both steps, a latency entry per sink, CPU and RSS per process;
#   - report.html: valid (html-validate), self-contained, one <svg> per chart report.json lists;
#   - rendered by headless Chromium to a PNG artifact ($FP_ARTIFACTS, default
#     $FP_BUILD/artifacts/loadtest-report.png).
# LOADTEST_VEHICLES, LOADTEST_STEP and LOADTEST_PROVISION override the plan (docs/performance.md
# runs the same pipeline with a bigger one); the count checks hold for any plan. LOADTEST_FULL=1
# adds a DynamoDB connector (the seed's table design, into dynalite) and lake watch (Parquet),
# so the report has all four sinks; LOADTEST_OUT=DIR keeps the report there.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"
source "$(dirname "$0")/lib/redis.bash"
VERIFY=$FP_SRC/tests/verify
[[ -d $VERIFY/node_modules/html-validate ]] || fail "tests/verify/node_modules is missing: run scripts/setup.sh"
command -v chromium >/dev/null || fail "chromium missing (Debian package chromium; scripts/setup.sh)"
vehicles=${LOADTEST_VEHICLES:-5,20}
step=${LOADTEST_STEP:-15s}
max_vehicles=${vehicles##*,}

start_broker 4
provision "${LOADTEST_PROVISION:-$max_vehicles}"
start_mosquitto
use_bridge_account
bport=$(free_port)
start_bridge "$tmp/bridge.log" "${bridge_auth[@]}" --metrics-listen "127.0.0.1:$bport"
start_redis
full=${LOADTEST_FULL:-}
extra_connectors=() extra_parts=""
events=fleetpipe.lake.events
raw=$tmp/raw
mkdir -p "$raw"
connector_json raw "$raw" '"flush.size": "500", "rotate.schedule.interval.ms": "1000"'"${full:+, \"store.events.topic\": \"$events\"}"
if [[ -n $full ]]; then
  source "$(dirname "$0")/lib/aws.bash"
  source "$(dirname "$0")/lib/dynamodb.bash"
  start_dynalite
  "$FP" dynamodb create-table --table fms --endpoint "http://127.0.0.1:$DYNALITE_PORT" >"$tmp/create.out" ||
    fail "create-table: $(cat "$tmp/create.out")"
  ddb_connector ddb "http://127.0.0.1:$DYNALITE_PORT"
  extra_connectors=(--connector "$tmp/ddb.json")
  lport=$(free_port)
  mkdir -p "$tmp/lake"
  "$FP" lake watch --from "file://$raw" --to "file://$tmp/lake" --bootstrap-servers "$BS" \
    --topic "$events" --group loadtest --status-interval 10s \
    --metrics-listen "127.0.0.1:$lport" 2>"$tmp/watch.log" &
  wpid=$!
  pids+=($wpid)
  extra_parts=",
  {\"name\": \"lake-watch\", \"role\": \"lake\", \"metrics\": \"http://127.0.0.1:$lport/metrics\", \"pid\": $wpid},
  {\"name\": \"dynalite\", \"role\": \"dynamodb\", \"pid\": $DYNALITE_PID}"
fi
cat >"$tmp/live.json" <<JSON
{"name": "live", "config": {
  "connector.class": "redis", "topics": "fms.vehicle", "tasks.max": "1",
  "redis.url": "redis://127.0.0.1:$REDIS_PORT/0",
  "transforms": "split", "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements",
  "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter.live",
  "consumer.override.session.timeout.ms": "6000",
  "consumer.override.heartbeat.interval.ms": "500"}}
JSON
cport=$(free_port)
"$FP" connect --bootstrap-servers "$BS" --rest-listen "127.0.0.1:$cport" \
  --connector "$tmp/raw.json" --connector "$tmp/live.json" "${extra_connectors[@]}" \
  --status-interval 5s 2>"$tmp/connect.log" &
cpid=$!
pids+=($cpid)
# Both connectors consuming: every task RUNNING with a known lag.
connect_ready() {
  curl -sf -o "$tmp/c0.prom" "http://127.0.0.1:$cport/metrics" &&
    grep -q '^fleetpipe_connect_consumer_lag{connector="raw"' "$tmp/c0.prom" &&
    grep -q '^fleetpipe_connect_consumer_lag{connector="live"' "$tmp/c0.prom"
}
wait_for "connect: both connectors assigned" 60 connect_ready

broker_pid=${pids[0]}
cat >"$tmp/endpoints.json" <<JSON
{"mqtt": {"url": "mqtt://127.0.0.1:$MQTT_PORT", "credentials": "creds/devices.secret"},
 "parts": [
  {"name": "kafka", "role": "kafka", "pid": $broker_pid},
  {"name": "mosquitto", "role": "mosquitto", "pid": $MOSQUITTO_PID},
  {"name": "bridge", "role": "bridge", "metrics": "http://127.0.0.1:$bport/metrics", "pid": $BRIDGE_PID},
  {"name": "connect", "role": "connect", "metrics": "http://127.0.0.1:$cport/metrics", "pid": $cpid},
  {"name": "redis", "role": "redis", "pid": $REDIS_PID}$extra_parts
 ]}
JSON
out=${LOADTEST_OUT:-$tmp/report}
"$FP" loadtest --endpoints "$tmp/endpoints.json" --vehicles "$vehicles" --step "$step" \
  --drain 60s --out "$out" --latency-target-ms 10000 --status-format json \
  >"$tmp/loadtest.status" 2>"$tmp/loadtest.log" || fail "loadtest failed: $(tail -5 "$tmp/loadtest.log")"
rep=$out/report.json
jq -e . "$rep" >/dev/null || fail "report.json is not JSON"
jq -e '.result.drained' "$rep" >/dev/null || fail "the pipeline did not drain within 60 s: $(jq -c .totals "$rep")"

# ---- the parts' own counters, scraped now that everything is idle ----
curl -sf -o "$tmp/bridge.prom" "http://127.0.0.1:$bport/metrics" || fail "bridge /metrics"
curl -sf -o "$tmp/connect.prom" "http://127.0.0.1:$cport/metrics" || fail "connect /metrics"
value() { awk -v s="$2" '$1 == s { v = $2 } END { printf "%d\n", v }' "$tmp/$1.prom"; }
sum() { awk -v f="$2" -v m="$3" '($1 == f || index($1, f "{") == 1) && index($1, m) { v += $2 } END { printf "%d\n", v }' "$tmp/$1.prom"; }
received=$(value bridge fleetpipe_bridge_mqtt_messages_received_total)
acked=$(value bridge fleetpipe_bridge_mqtt_messages_acked_total)
forwarded=$(sum bridge fleetpipe_bridge_records_forwarded_total "")
dead=$(value bridge fleetpipe_bridge_records_dead_lettered_total)
t() { jq -r "$1" "$rep"; }
published=$(t .totals.sim_published)
echo "fleet published $published (status lines: $(t .totals.sim_published_by_status)); bridge received $received, forwarded $forwarded, dead $dead"
((published > 0)) || fail "the fleet published nothing"
[[ $(t .totals.sim_published_by_status) == "$published" ]] || fail "report: sim counters $published != the sims' final status"
[[ $received == "$published" && $acked == "$published" ]] || fail "bridge received $received, acked $acked; fleet published $published"
[[ $((forwarded + dead)) == "$received" ]] || fail "bridge forwarded $forwarded + dead $dead != received $received"
for k in received:"$received" acked:"$acked" forwarded:"$forwarded" dead_lettered:"$dead"; do
  [[ $(t ".totals.bridge.${k%%:*}") == "${k#*:}" ]] || fail "report totals.bridge.${k%%:*} = $(t ".totals.bridge.${k%%:*}"), bridge says ${k#*:}"
done
for c in raw live; do
  for f in in:records_in_total out:records_out_total dead_lettered:records_dead_lettered_total; do
    want=$(sum connect "fleetpipe_connect_${f#*:}" "connector=\"$c\"")
    got=$(t ".totals.connectors.$c.records_${f%%:*}" | sed 's/null/x/')
    [[ ${f%%:*} == dead_lettered ]] && got=$(t ".totals.connectors.$c.dead_lettered")
    [[ $got == "$want" ]] || fail "report: connector $c ${f%%:*} $got, the worker says $want"
  done
done

# ---- what the sinks hold, counted here ----
lake_lines "$raw" >"$tmp/lake.jsonl"
nlake=$(wc -l <"$tmp/lake.jsonl")
raw_out=$(t .totals.connectors.raw.records_out)
[[ $nlake == "$raw_out" && $nlake == "$forwarded" ]] || fail "raw lake holds $nlake lines; connector raw wrote $raw_out; bridge forwarded $forwarded"
jq -c 'select(.object == "vehicle")' "$tmp/lake.jsonl" >"$tmp/vehicle.jsonl"
nveh_msgs=$(wc -l <"$tmp/vehicle.jsonl")
nveh_samples=$(jq -s '[.[].measurements | length] | add // 0' "$tmp/vehicle.jsonl")
nveh_ids=$(jq -r .id "$tmp/vehicle.jsonl" | sort -u | wc -l)
[[ $(t .totals.connectors.live.records_in) == "$nveh_msgs" ]] || fail "connector live consumed $(t .totals.connectors.live.records_in), fms.vehicle has $nveh_msgs messages"
[[ $(t .totals.connectors.live.records_out) == "$nveh_samples" ]] || fail "connector live wrote $(t .totals.connectors.live.records_out) records, fms.vehicle has $nveh_samples samples"
[[ $(rcli --scan --pattern 'vehicle:*' | wc -l) == "$nveh_ids" ]] || fail "Redis holds $(rcli --scan --pattern 'vehicle:*' | wc -l) vehicles, fms.vehicle names $nveh_ids"
echo "sinks: raw lake $nlake lines = forwarded; Redis $nveh_ids vehicles from $nveh_msgs messages / $nveh_samples samples"

# ---- the report's structure ----
nsteps=$(awk -F, '{print NF}' <<<"$vehicles")
[[ $(t '.steps | length') == "$nsteps" ]] || fail "report has $(t '.steps | length') steps, not $nsteps"
for ((s = 0; s < nsteps; s++)); do
  jq -e --argjson s $s '.steps[$s] | (.stages | map(.stage) | index("bridge")) != null
    and ([.latency[].sink] | map(startswith("raw")) | any) and ([.latency[].sink] | map(startswith("live")) | any)
    and ([.processes[].name] | sort | map(select(. != "lake-watch" and . != "dynalite")) == ["bridge","connect","kafka","mosquitto","redis","sim"])
    and ([.processes[] | .cpu_percent | select(. != null)] | length) == (.processes | length)
    and (.processes | map(.rss_peak_bytes > 0) | all)' "$rep" >/dev/null ||
    fail "step $((s + 1)) lacks a stage, a sink or a process: $(jq -c --argjson s $s '.steps[$s] | {stages: [.stages[].stage], latency: [.latency[].sink], processes: [.processes[] | {name, cpu_percent, rss_peak_bytes}]}' "$rep")"
done
# Latency was observed: the counts of both sinks' histograms over the steps add up to records
# made durable (one observation per Kafka message of the step, dead letters aside).
obs=$(jq '[.steps[].latency[] | select(.sink | startswith("live")) | .count] | add' "$rep")
((obs > 0)) || fail "no latency observed for the Redis sink"
if [[ -n $full ]]; then
  pq=$(jq '[.steps[].latency[] | select(.sink | startswith("parquet")) | .count] | add' "$rep")
  ((pq > 0)) || fail "no latency observed for the Parquet lake"
fi
jq -e '.result | has("sustainable_step") and has("first_saturated")' "$rep" >/dev/null || fail "no result"
echo "report: $(jq -c '.result | del(.definition)' "$rep")"
jq -r '.steps[] | "  step \(.step): \(.vehicles) vehicles, offered \(.offered_msgs_per_s * 100 | round / 100)/s, fleet \(.stages[0].achieved_per_s * 100 | round / 100)/s, " +
  ([.latency[] | "\(.sink) p99 \(.p99_s)"] | join(", ")) + "; \(.verdict)"' "$rep"

# ---- report.html ----
html=$out/report.html
node "$VERIFY/htmlcheck.mjs" "$html" >"$tmp/html.json" 2>&1 || fail "report.html: $(cat "$tmp/html.json")"
charts=$(jq -c '[.charts[].id]' "$rep")
[[ $(jq '.svg' "$tmp/html.json") == $(jq 'length' <<<"$charts") ]] ||
  fail "report.html has $(jq .svg "$tmp/html.json") <svg>, report.json lists $(jq length <<<"$charts") charts"
[[ $(jq -c '.figures' "$tmp/html.json") == "$charts" ]] || fail "charts in report.html $(jq -c .figures "$tmp/html.json"), report.json $charts"
artifacts=${FP_ARTIFACTS:-${FP_BUILD:-$tmp}/artifacts}
mkdir -p "$artifacts"
png=$artifacts/loadtest-report.png
rm -f "$png"
# --no-sandbox: the suite may run as root, where Chromium's sandbox refuses to start.
timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$tmp/chromium" --window-size=900,2600 --screenshot="$png" "file://$html" \
  >"$tmp/chromium.log" 2>&1 || fail "chromium: $(tail -3 "$tmp/chromium.log")"
[[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$png is not a PNG"
cp "$html" "$rep" "$artifacts/"
echo "report rendered to $png ($(wc -c <"$png") bytes)"
echo "loadtest: ok"
