#!/usr/bin/env bash
# End to end: `fleetpipe stack` with 100 vehicles over 30 simulated minutes and every anomaly kind,
# each store reconciled against what the fleet sent (the same seed written to a file) and the
# simulator's truth, computed without fleetpipe's code (tests/integration/lib/e2e.bash):
#  - MQTT: published + resends = raw lake + the bridge's dead letters + what mosquitto's ACL
#    dropped (the spoofed_topic messages); the lake's lines are exactly the sent lines minus
#    those (a multiset: nothing lost, nothing foreign), duplicates only from devices whose
#    connection the ACL closed; the bridge's /metrics agree; dead letters = the truth's;
#  - Parquet = the raw objects (lakecheck.mjs), PostgreSQL's lake = Parquet (whcheck.mjs);
#  - DynamoDB: one item per distinct sample key; Redis: the newest value of every field per
#    vehicle (redis_expect.jq); the 5-minute aggregates = aggcheck.mjs over fms.cargo, and the
#    same windows in DynamoDB;
#  - the warehouse closes a local day (hourly loads from the lake watermark, hourly partials,
#    daily marts, checks: ops.runs) and its marts = martcheck.mjs; `check score` finds every
#    targeted anomaly kind (>= 0.99); the Fleet API lists 100 vehicles, and the console's map
#    (headless chromium) holds and draws exactly Redis' ids;
#  - stack down leaves no pid alive.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/e2e.bash"

e2e_times
e2e_up --vehicles 100 --warehouse-start "$E2E_DAY"
stage up
fleet main --vehicles 100 --duration 30m --speedup max --seed 18 --start "$E2E_START" \
  --anomalies all --anomaly-rate 0.02
fleet close --vehicles 100 --duration 3m --speedup max --seed 19 --start "$E2E_CLOSE"
stage sim
P=$(($(jq .published "$tmp/sim-main.json") + $(jq .published "$tmp/sim-close.json")))
wait_raw "$P"
stage raw_lake
rec_raw exact
rec_exactly_once
rec_bridge
wait_converted
stage parquet
rec_parquet
wait_day
stage warehouse
rec_pg
rec_marts
rec_score
stage checks
rec_redis
rec_aggregates
rec_dynamodb
rec_agg_items
rec_api 100
stage stores
pids_of_stack=$(jq -r '.parts[] | select(.pid > 0) | .pid' "$J")
sup=$(jq .supervisor.pid "$J")
"$FP" stack down --dir "$D" --json >"$tmp/down.json" 2>"$tmp/down.err" || fail "stack down: $(cat "$tmp/down.err")"
jq -e '(.alive | length) == 0' "$tmp/down.json" >/dev/null || fail "down: $(cat "$tmp/down.json")"
for p in $pids_of_stack $sup; do
  if [[ -r /proc/$p/stat ]] && ! awk '{ sub(/.*\) /, ""); exit !($1 == "Z" || $1 == "X") }' "/proc/$p/stat"; then
    fail "pid $p alive after stack down"
  fi
done
stage down
echo "e2e: ok in $((SECONDS - T0)) s: $(tr '\n' ';' <"$FIG")"
