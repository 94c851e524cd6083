#!/usr/bin/env bash
# fleetpipe check run, kind reconcile (config/checks/stores.json.example) over a small clean
# stack: sim -> dev broker -> one connect worker with the raw lake (objstore, file://), the seed's
# dynamodb connector (fms.vehicle; fms.cargo with the zone in sk), the redis live state and the
# 5-minute aggregate with its dynamodb sink -> dynalite and redis-server; then lake convert and
# warehouse init/load into a throwaway PostgreSQL. Proves, from the JSON output and
# ops.dq_results: the clean day passes all three checks (exit 0); removing one DynamoDB item,
# one PostgreSQL row, one Parquet file (listed in the catalog, gone from the lake) or one Redis
# field fails exactly the check that covers it (exit 1), naming the interval and that store in
# its samples; each passes again once restored.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"
source "$(dirname "$0")/lib/dynamodb.bash"
source "$(dirname "$0")/lib/redis.bash"
source "$(dirname "$0")/lib/pg.bash"
conf=$FP_SRC/config/connectors
DAY=2026-04-01

start_broker 4
start_dynalite
start_redis
start_pg
EP=http://127.0.0.1:$DYNALITE_PORT
"$FP" dynamodb create-table --table fms --endpoint "$EP" >/dev/null || fail "create-table"

"$FP" sim --only vehicle/kinematic,vehicle/status,cargo/temperature --vehicles 3 --seed 5 \
  --speedup max --duration 20m --start ${DAY}T10:00:00+09:00 --target "kafka://$BS" \
  --status-format json >"$tmp/sim.json" 2>"$tmp/sim.log" || fail "sim: $(tail -3 "$tmp/sim.log")"
msgs=$(jq .messages "$tmp/sim.json")

# The connectors: raw lake, the seed's dynamodb (vehicle; cargo with the zone in sk), redis,
# and the shipped 5-minute chain (short idle: the input ends).
raw=$tmp/raw lake=$tmp/lake
connector_json raw-lake "$raw" '"flush.size": "100000", "rotate.schedule.interval.ms": "1000"'
ddb_connector ddb-vehicle "$EP"
jq '.config["topics.regex"] = "fms\\.vehicle"' "$tmp/ddb-vehicle.json" >"$tmp/ddb-v.json"
jq '.name = "ddb-cargo" | .config["topics.regex"] = "fms\\.cargo"
  | .config.transforms = "split,pk,ts,sk,drop"
  | .config["transforms.sk.type"] = "InsertFieldInStringTemplate"
  | .config["transforms.sk.field"] = "sk"
  | .config["transforms.sk.value"] = "${timestamp_iso}#z${zone}"
  | .config["transforms.drop.exclude"] = "timestamp_iso" | del(.config["transforms.drop.renames"])' \
  "$tmp/ddb-vehicle.json" >"$tmp/ddb-c.json"
cat >"$tmp/live.json" <<JSON
{"name": "live-state", "config": {"connector.class": "redis", "topics": "fms.vehicle", "tasks.max": "2",
 "redis.url": "redis://127.0.0.1:$REDIS_PORT/0",
 "transforms": "split", "transforms.split.type": "SplitArrayField", "transforms.split.field": "measurements",
 "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter", "errors.log.enable": "false"}}
JSON
jq '.config["aggregate.idle"] = "2s"' "$conf/agg-cargo-5m.json" >"$tmp/agg.json"
jq --arg ep "$EP" '.config["aws.dynamodb.endpoint"] = $ep' "$conf/dynamodb-agg-5m.json" >"$tmp/ddb-agg.json"
t0=$SECONDS
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/raw-lake.json" --connector "$tmp/ddb-v.json" \
  --connector "$tmp/ddb-c.json" --connector "$tmp/live.json" --connector "$tmp/agg.json" \
  --connector "$tmp/ddb-agg.json" --rest-listen "" --exit-when-idle 8s --status-interval 1h \
  >"$tmp/connect.out" 2>"$tmp/connect.log" || fail "connect exited $?"
[[ $(lake_lines "$raw" | wc -l) -eq $msgs ]] || fail "raw lake: $(lake_lines "$raw" | wc -l) lines, sim sent $msgs"
"$FP" lake convert --from "file://$raw" --to "file://$lake" --status-format json >"$tmp/convert.json" \
  2>"$tmp/convert.log" || fail "lake convert: $(cat "$tmp/convert.json")"
"$FP" warehouse init --pg "$PG_URL" --lake "file://$lake" >/dev/null 2>>"$tmp/wh.log" || fail "init: $(tail -3 "$tmp/wh.log")"
"$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" >/dev/null 2>>"$tmp/wh.log" || fail "load: $(tail -3 "$tmp/wh.log")"
echo "stack: $msgs messages through connect, lake and warehouse in $((SECONDS - t0)) s"

# The shipped config, pointed at this stack through its environment variables.
mkdir -p "$tmp/checks"
cp "$FP_SRC/config/checks/stores.json.example" "$tmp/checks/stores.json"
export FLEETPIPE_RAW_URL=file://$raw FLEETPIPE_LAKE_URL=file://$lake FLEETPIPE_DYNAMODB_ENDPOINT=$EP \
  FLEETPIPE_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
check() { "$FP" check run --pg "$PG_URL" --checks "$tmp/checks" --from $DAY --status-format json "$@"; }
status() { jq -c '[.results[] | {check, status, observed, error}]' <<<"$1"; }

t1=$SECONDS
out=$(check 2>"$tmp/check0.log") || fail "the clean stack should pass: $(status "$out") $(tail -3 "$tmp/check0.log")"
jq -e '.checks == 3 and .pass == 3' <<<"$out" >/dev/null || fail "clean: $(status "$out")"
echo "clean stack: 3 checks pass in $((SECONDS - t1)) s"

# broken NAME STORE: exactly check NAME fails, its samples in ops.dq_results name the interval
# and STORE, and the JSON output names the day.
broken() {
  local name=$1 store=$2 out
  out=$(check 2>"$tmp/check.$store.log") && fail "$store: a removal passed: $(status "$out")"
  jq -e --arg n "$name" --arg d $DAY '[.results[] | select(.status != "pass") | .check] == [$n]
    and ([.results[] | select(.check == $n)][0] | .status == "fail" and .observed >= 1 and .ds == $d)' \
    <<<"$out" >/dev/null || fail "$store: $(status "$out")"
  local s
  s=$(pq -c "SELECT samples FROM ops.dq_results WHERE check_name = '$name' AND ds = '$DAY'")
  jq -e --arg st "$store" --arg d $DAY 'length >= 1 and all(.[]; .store == $st and .interval == $d
    and (.interval_start | length) > 0)' <<<"$s" >/dev/null || fail "$store: samples $s"
  echo "$store removed: $name fails: $(jq -c '.[0]' <<<"$s")"
}
passes() {
  local out
  out=$(check 2>"$tmp/check.again.log") || fail "$1 restored: $(status "$out")"
}

# ---- one DynamoDB item
"$FP" dynamodb scan --table fms --endpoint "$EP" >"$tmp/items" || fail "scan"
item=$(jq -n -c 'first(inputs | select(.pk.S | endswith("#vehicle#kinematic")))' "$tmp/items")
key=$(jq -c '{pk, sk}' <<<"$item")
# fleetpipe has no delete command; dynalite checks no signature, only that one is there
ddb_call() { # OP JSON
  curl -sf -X POST "$EP" -H 'Content-Type: application/x-amz-json-1.0' -H "X-Amz-Target: DynamoDB_20120810.$1" \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -H 'X-Amz-Date: 20260101T000000Z' -d "$2"
}
ddb_call DeleteItem "{\"TableName\":\"fms\",\"Key\":$key}" >/dev/null || fail "DeleteItem"
broken stores.samples dynamodb
ddb_call PutItem "{\"TableName\":\"fms\",\"Item\":$item}" >/dev/null || fail "PutItem"
passes dynamodb

# ---- one PostgreSQL row
pq -c "CREATE TABLE saved AS SELECT * FROM lake.vehicle_status WHERE ctid = (SELECT min(ctid) FROM lake.vehicle_status)"
pq -c "DELETE FROM lake.vehicle_status WHERE ctid = (SELECT min(ctid) FROM lake.vehicle_status)"
broken stores.samples postgresql
pq -c "INSERT INTO lake.vehicle_status SELECT * FROM saved"
passes postgresql

# ---- one Parquet file: gone from the lake while the catalog lists it
pf=$(find "$lake/cargo_temperature" -name '*.parquet' | sort | sed -n 1p)
mv "$pf" "$tmp/saved.parquet"
broken stores.samples lake
mv "$tmp/saved.parquet" "$pf"
passes lake

# ---- one Redis field
rkey=$(rcli --scan --pattern 'vehicle:*' | sort | sed -n 1p)
speed=$(rcli hget "$rkey" speed)
rcli hdel "$rkey" speed >/dev/null
broken stores.latest redis
rcli hset "$rkey" speed "$speed" >/dev/null
passes redis

# ---- one 5-minute aggregate item
agg=$(jq -n -c 'first(inputs | select(.pk.S | endswith("#cargo#temperature#5m")))' "$tmp/items")
ddb_call DeleteItem "{\"TableName\":\"fms\",\"Key\":$(jq -c '{pk, sk}' <<<"$agg")}" >/dev/null || fail "DeleteItem agg"
broken stores.agg5m dynamodb
ddb_call PutItem "{\"TableName\":\"fms\",\"Item\":$agg}" >/dev/null || fail "PutItem agg"
passes aggregates

# ---- DynamoDB read by one filtered Scan instead of a Query per (vehicle, protocol): the same
# answer, clean and with an item gone; both timed
jq '.checks[0].stores.dynamodb.read = "scan"' "$tmp/checks/stores.json" >"$tmp/scan.json"
# timed with PostgreSQL as the reference and DynamoDB the only other store
jq '.checks[0].stores |= del(.raw, .lake)' "$tmp/checks/stores.json" >"$tmp/ddb-query.json"
jq '.checks[0].stores |= del(.raw, .lake)' "$tmp/scan.json" >"$tmp/ddb-scan.json"
ms() { date +%s%3N; }
timed() { "$FP" check run --pg "$PG_URL" --checks "$1" --from $DAY --only stores.samples >/dev/null 2>&1 || fail "$1"; }
a=$(ms); timed "$tmp/ddb-query.json"; b=$(ms); timed "$tmp/ddb-scan.json"; c=$(ms)
echo "dynamodb read at $(jq -s length "$tmp/items") items, 9 pks: query $((b - a)) ms, scan $((c - b)) ms (whole check)"
out=$("$FP" check run --pg "$PG_URL" --checks "$tmp/scan.json" --from $DAY --only stores.samples \
  --status-format json 2>/dev/null) || fail "scan read: $(status "$out")"
ddb_call DeleteItem "{\"TableName\":\"fms\",\"Key\":$key}" >/dev/null || fail "DeleteItem"
out=$("$FP" check run --pg "$PG_URL" --checks "$tmp/scan.json" --from $DAY --only stores.samples \
  --status-format json 2>/dev/null) && fail "scan read missed the gone item: $(status "$out")"
[[ $(pq -c "SELECT samples->0->>'store' FROM ops.dq_results WHERE check_name = 'stores.samples'") == dynamodb ]] ||
  fail "scan read: $(pq -c "SELECT samples FROM ops.dq_results WHERE check_name = 'stores.samples'")"
ddb_call PutItem "{\"TableName\":\"fms\",\"Item\":$item}" >/dev/null || fail "PutItem"

# ---- a store that cannot be reached is an error of the check, not a pass; a bad key exits 2
out=$(FLEETPIPE_REDIS_URL=redis://127.0.0.1:$(free_port)/0 check --only stores.latest 2>/dev/null) &&
  fail "an unreachable Redis passed: $(status "$out")"
jq -e '.results[0].status == "error" and (.results[0].error | test("redis"))' <<<"$out" >/dev/null ||
  fail "unreachable Redis: $(status "$out")"
jq '.checks[0].stores.dynamo = {}' "$tmp/checks/stores.json" >"$tmp/bad.json"
rc=0
"$FP" check run --pg "$PG_URL" --checks "$tmp/bad.json" --from $DAY 2>"$tmp/bad.log" >/dev/null || rc=$?
((rc == 2)) && grep -q 'stores.samples.*"dynamo"' "$tmp/bad.log" || fail "bad key: exit $rc, $(cat "$tmp/bad.log")"

echo "check_stores: ok ($((SECONDS)) s)"
