#!/usr/bin/env bash
# The connect REST API against a standalone REST-managed worker: every route with its status code
# and JSON shape, the connector lifecycle (create -> data flows -> pause stops consumption ->
# resume -> config update -> restart -> delete -> re-create resumes from the committed offsets),
# the validate endpoint naming every bad key, hostile requests, bearer-token auth, and
# Prometheus metrics that promtool accepts. At the end the worker still answers and the lake
# holds every produced record exactly once.
source "$(dirname "$0")/lib/connect.bash"

start_broker 4
lake=$tmp/lake
mkdir -p "$lake"
port=$(free_port)
echo "s3cret-token" >"$tmp/token"
"$FP" connect --bootstrap-servers "$BS" --rest-listen "127.0.0.1:$port" \
  --rest-token-file "$tmp/token" --status-interval 1s 2>"$tmp/connect.log" &
worker=$!
pids+=($worker)
U=http://127.0.0.1:$port
AUTH=(-H "Authorization: Bearer s3cret-token")

# api METHOD PATH [curl args]: sets code; the body is in $tmp/body.
api() {
  local m=$1 p=$2
  shift 2
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" "${AUTH[@]}" \
    -H 'Content-Type: application/json' "$@" "$U$p")
}
expect() { [[ $code == "$1" ]] || fail "$2: HTTP $code, expected $1: $(head -c 400 "$tmp/body")"; }
jqt() { jq -e "$1" "$tmp/body" >/dev/null 2>&1 || fail "$2: $(head -c 600 "$tmp/body")"; }
metric() { # metric NAME: sum of a family's samples for connector raw
  curl -s "$U/metrics" | awk -v n="$1" '$1 ~ "^"n"\\{connector=\"raw\"" { s += $2 } END { print s + 0 }'
}
# metrics_has FIXED-STRING (no `curl | grep -q`: with pipefail, grep's early exit fails curl)
metrics_has() {
  curl -s "$U/metrics" >"$tmp/m.txt"
  grep -qF "$1" "$tmp/m.txt"
}
healthy() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$U/healthz") == 200 ]]; }
wait_for "the REST API" 30 healthy

# --- the worker and its plugins
api GET /
expect 200 "GET /"
jqt '.version == "0.1.0" and .commit == "" and (.kafka_cluster_id | type == "string" and length > 0)' "GET / shape"
api GET /connectors
expect 200 "GET /connectors"
jqt '. == []' "no connectors yet"
api GET /connector-plugins
expect 200 "GET /connector-plugins"
jqt 'map(.class) | index("objstore") != null' "objstore plugin listed"
jqt 'all(.[]; .type == "sink" and (.version | type == "string"))' "plugin shape"

# --- authentication: the API needs the token, /metrics and /healthz do not
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$U/connectors")
expect 401 "no token"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer wrong" "$U/connectors")
expect 401 "wrong token"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/metrics")
expect 200 "/metrics stays open"

# --- validate: every bad key with a reason, unknown keys too
api PUT /connector-plugins/objstore/config/validate \
  -d '{"name":"v","topics":"a","tasks.max":"x","flush.sise":"3","errors.tolerance":"some"}'
expect 200 "validate"
jqt '.name == "objstore" and (.groups | type == "array")' "validate shape"
for k in tasks.max flush.sise errors.tolerance store.url; do
  jq -e --arg k "$k" '.configs[] | select(.value.name == $k) | .value.errors | length > 0' \
    "$tmp/body" >/dev/null || fail "validate does not report $k: $(cat "$tmp/body")"
done
jqt '.error_count == 4' "validate error_count"
jqt '.configs[] | select(.definition.name == "tasks.max") | .definition | has("type") and has("required") and has("default_value") and has("documentation")' "definition shape"
api PUT /connector-plugins/objstore/config/validate \
  -d "{\"name\":\"v\",\"topics\":\"a\",\"store.url\":\"file://$lake\"}"
jqt '.error_count == 0' "a good config validates"
api PUT /connector-plugins/nope/config/validate -d '{}'
expect 404 "validate of an unknown plugin"

# --- create
connector_json raw "$lake" '"flush.size": "50", "rotate.schedule.interval.ms": "500"'
api POST /connectors --data-binary @"$tmp/raw.json"
expect 201 "create"
jqt '.name == "raw" and .type == "sink" and .config["connector.class"] == "objstore" and (.tasks | length == 2) and .tasks[0] == {"connector":"raw","task":0}' "create shape"
api POST /connectors --data-binary @"$tmp/raw.json"
expect 409 "create twice"
jqt '.error_code == 409 and .message == "Connector raw already exists"' "409 shape"
api POST /connectors -d "{\"name\":\"bad\",\"config\":{\"connector.class\":\"objstore\",\"topics\":\"a\",\"store.url\":\"file://$lake\",\"flush.size\":\"abc\"}}"
expect 400 "invalid config"
jqt '.error_code == 400 and (.message | contains("flush.size"))' "400 names the key"
api POST /connectors -d '{"config":{}}'
expect 400 "missing name"

# --- hostile requests
api POST /connectors -d '{"name": "x", "config": {'
expect 400 "malformed JSON"
printf '{"name":"x\xff\xfe","config":{}}' >"$tmp/bad-utf8"
api POST /connectors --data-binary @"$tmp/bad-utf8"
expect 400 "invalid UTF-8 body"
api POST /connectors -d "{\"name\":\"../etc\",\"config\":{\"connector.class\":\"objstore\",\"topics\":\"a\",\"store.url\":\"file://$lake\"}}"
expect 400 "name with ../"
api POST /connectors -d "{\"name\":\"a/b\",\"config\":{}}"
expect 400 "name with /"
api POST /connectors -d "{\"name\":\"$(printf 'n%.0s' $(seq 300))\",\"config\":{}}"
expect 400 "name of 300 characters"
api GET "/connectors/..%2F..%2Fetc%2Fpasswd"
expect 404 "lookup with %2F"
api GET "/connectors/..%2Fraw/status"
expect 404 "lookup with ../"
api GET /connectors/nope
expect 404 "unknown connector"
jqt '.error_code == 404 and .message == "Connector nope not found"' "404 shape"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$tmp/big"
api POST /connectors --data-binary @"$tmp/big"
expect 413 "2 MB body"
api GET /no/such/route
expect 404 "unknown route"
api DELETE /connectors
expect 405 "DELETE /connectors"
api PATCH /connectors/raw
expect 405 "PATCH /connectors/raw"
api GET /connectors/raw/pause
expect 405 "GET pause"

# --- data flows
wave() {
  local fleet=(--vehicles 20 --duration 4m --seed "$1" --start 2023-01-01T03:00:00Z --speedup max)
  "$FP" sim "${fleet[@]}" 2>/dev/null >>"$tmp/gen.jsonl"
  "$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>/dev/null
}
wave 1
n1=$(wc -l <"$tmp/gen.jsonl")
in_is() { (($(metric fleetpipe_connect_records_in_total) >= $1)); }
wait_for "wave 1 consumed" 60 in_is "$n1"
api GET /connectors/raw/status
expect 200 "status"
jqt '.name == "raw" and .type == "sink" and .connector.state == "RUNNING" and (.connector.worker_id | length > 0) and (.tasks | length == 2) and all(.tasks[]; .state == "RUNNING" and (.id | type == "number") and (.worker_id | length > 0))' "status shape"
api GET /connectors/raw
expect 200 "info"
jqt '.name == "raw" and (.tasks | length == 2)' "info shape"
api GET /connectors/raw/config
expect 200 "config"
jqt '.["flush.size"] == "50" and .name == "raw"' "config shape"
api GET /connectors/raw/tasks
expect 200 "tasks"
jqt 'length == 2 and .[1].id == {"connector":"raw","task":1} and .[0].config["connector.class"] == "objstore"' "tasks shape"
api GET "/connectors?expand=status"
jqt '.raw.status.connector.state == "RUNNING"' "expand=status"
api GET "/connectors?expand=status&expand=info"
jqt '.raw.status.name == "raw" and .raw.info.name == "raw"' "expand=status&expand=info"

# --- pause: records stop although data keeps coming; resume: they flow again
api PUT /connectors/raw/pause
expect 202 "pause"
api GET /connectors/raw/status
jqt '.connector.state == "PAUSED" and all(.tasks[]; .state == "PAUSED")' "paused status"
sleep 1
before=$(metric fleetpipe_connect_records_in_total)
wave 2
n2=$(wc -l <"$tmp/gen.jsonl")
sleep 3
after=$(metric fleetpipe_connect_records_in_total)
((after == before)) || fail "records consumed while PAUSED ($before -> $after)"
metrics_has 'fleetpipe_connect_task_state{connector="raw",task="0",state="PAUSED"} 1' ||
  fail "task_state gauge does not say PAUSED"
api PUT /connectors/raw/resume
expect 202 "resume"
wait_for "wave 2 consumed after resume" 60 in_is "$n2"
api GET /connectors/raw/status
jqt '.connector.state == "RUNNING"' "resumed status"

# --- update (config change restarts the tasks), restart, create by PUT
sed 's/"flush.size": "50"/"flush.size": "80"/' "$tmp/raw.json" | jq '.config' >"$tmp/raw.flat.json"
api PUT /connectors/raw/config --data-binary @"$tmp/raw.flat.json"
expect 200 "update"
api GET /connectors/raw/config
jqt '.["flush.size"] == "80"' "updated config"
grep -q "raw: config changed" "$tmp/connect.log" || fail "update did not restart the tasks"
api PUT /connectors/raw/config --data-binary @"$tmp/raw.flat.json"
expect 200 "same config again"
# After the update the new tasks are UNASSIGNED until the group assigns them partitions.
task1_running() {
  api GET /connectors/raw/tasks/1/status
  jq -e '.state == "RUNNING"' "$tmp/body" >/dev/null 2>&1
}
wait_for "task 1 RUNNING after the update" 60 task1_running
expect 200 "task status"
jqt '.id == 1 and .state == "RUNNING" and (.worker_id | length > 0)' "task status shape"
api GET /connectors/raw/tasks/7/status
expect 404 "status of a task that does not exist"
api POST /connectors/raw/tasks/0/restart
expect 204 "task restart"
api POST /connectors/raw/restart
expect 204 "restart"
api POST "/connectors/raw/restart?includeTasks=true&onlyFailed=true"
expect 202 "restart includeTasks onlyFailed"
jqt '.name == "raw" and (.tasks | length == 2)' "restart 202 body"
api PUT /connectors/other/config -d "{\"connector.class\":\"objstore\",\"topics\":\"fms.none\",\"store.url\":\"file://$tmp/other\"}"
expect 201 "create by PUT"
api DELETE /connectors/other
expect 204 "delete other"

# --- a FAILED task: status trace, /healthz 503, task_state gauge, restart of failed tasks
api POST /connectors -d "{\"name\":\"strict\",\"config\":{\"connector.class\":\"objstore\",\"topics\":\"bad.input\",\"store.url\":\"file://$tmp/strict\",\"errors.tolerance\":\"none\"}}"
expect 201 "create strict"
echo 'this is not JSON' | kcat -P -b "$BS" -t bad.input 2>/dev/null || fail "kcat could not produce"
failed() {
  api GET /connectors/strict/status
  jq -e '.tasks[0].state == "FAILED" and (.tasks[0].trace | contains("bad.input"))' "$tmp/body" >/dev/null
}
wait_for "task of strict FAILED with a trace" 60 failed
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$U/healthz")
expect 503 "/healthz with a FAILED task"
grep -q strict "$tmp/body" || fail "/healthz does not name the failed connector"
metrics_has 'fleetpipe_connect_task_state{connector="strict",task="0",state="FAILED"} 1' ||
  fail "task_state gauge does not say FAILED"
api POST "/connectors/strict/restart?includeTasks=true&onlyFailed=true"
expect 202 "restart of the failed task"
grep -q "strict: restarting" "$tmp/connect.log" || fail "onlyFailed did not restart the FAILED task"
wait_for "the restarted task to meet the bad record again" 60 failed
api DELETE /connectors/strict
expect 204 "delete strict"
wait_for "/healthz 200 again" 10 healthy

# --- metrics: promtool accepts them; the connect families are there (lag once the restarted
# tasks have their partitions again)
has_lag() {
  curl -s "$U/metrics" >"$tmp/metrics.txt"
  grep -q '^fleetpipe_connect_consumer_lag{connector="raw",task="[01]",topic="fms\.[a-z]*",partition="[0-9]*"}' \
    "$tmp/metrics.txt"
}
wait_for "consumer_lag with topic/partition labels" 30 has_lag
if command -v promtool >/dev/null; then
  promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(cat "$tmp/promtool.out")"
else
  echo "connect_rest: promtool not installed, skipping the lint" >&2
fi
for f in records_in_total records_out_total records_dead_lettered_total retries_total \
  sink_latency_seconds_bucket batch_records_bucket consumer_lag task_state; do
  grep -q "^fleetpipe_connect_$f{connector=\"raw\"" "$tmp/metrics.txt" || fail "no fleetpipe_connect_$f"
done

# --- fleetpipe status: the operator's table
# (a rebalance after the strict connector's restarts may leave raw's tasks UNASSIGNED a moment:
# the table says so honestly, so wait for both tasks to hold partitions again)
status_running() {
  "$FP" status --rest "$U" --token-file "$tmp/token" >"$tmp/status.txt" || fail "fleetpipe status failed"
  grep -Eq '^raw +RUNNING +2/2 ' "$tmp/status.txt"
}
wait_for "fleetpipe status: raw RUNNING 2/2" 30 status_running
"$FP" status --rest "$U" >/dev/null 2>&1 && fail "fleetpipe status without the token succeeded"

# --- delete: tasks stop (the group is left after the final commit); 404 afterwards
api DELETE /connectors/raw
expect 204 "delete"
grep -q "raw: stopped" "$tmp/connect.log" || fail "delete did not stop the tasks"
api GET /connectors/raw
expect 404 "deleted connector"
api DELETE /connectors/raw
expect 404 "delete twice"
metrics_has 'connector="raw"' && fail "metrics of a deleted connector remain"
wave 3
n3=$(wc -l <"$tmp/gen.jsonl")

# --- re-create: the group resumes from its commits; the lake ends with every record once
api POST /connectors --data-binary @"$tmp/raw.json"
expect 201 "re-create"
out_is() { (($(lake_lines "$lake" | wc -l) >= $1)); }
wait_for "all three waves in the lake" 90 out_is "$n3"
sleep 2
api GET /
expect 200 "the worker still answers"
kill -TERM "$worker"
rc=0
wait "$worker" || rc=$?
((rc == 0)) || fail "worker exited $rc after SIGTERM"
sort "$tmp/gen.jsonl" >"$tmp/gen.sorted"
lake_lines "$lake" | sort >"$tmp/lake.sorted"
dups=$(uniq -d "$tmp/lake.sorted" | wc -l)
((dups == 0)) || fail "$dups records are in the lake more than once"
cmp -s "$tmp/lake.sorted" "$tmp/gen.sorted" ||
  fail "lake has $(wc -l <"$tmp/lake.sorted") records, expected $n3"
echo "connect_rest: ok ($n3 records exactly once through create, pause, resume, update, restart, delete, re-create)"
