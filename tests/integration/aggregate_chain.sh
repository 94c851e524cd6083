#!/usr/bin/env bash
# The shipped 5-minute chain (config/connectors/): cargo temperatures -> aggregate -> fms.agg ->
# dynamodb (pk <id>#cargo#temperature#5m, sk <window start>#z<zone>) and redis (the latest
# window per vehicle and zone), against a real broker, dynalite and redis-server:
#  1. every window on fms.agg is one item whose values are the window's, and the Redis hash of
#     every (vehicle, zone) holds its latest window;
#  2. out of order: revisions 2, then 1, then 3 of one item through the same dynamodb connector
#     config: the item holds 2 after the first two (the older never wins), then 3.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"
source "$(dirname "$0")/lib/dynamodb.bash"
source "$(dirname "$0")/lib/redis.bash"
conf=$(cd "$(dirname "$0")/../../config/connectors" && pwd)

start_broker 4
start_dynalite
start_redis
EP=http://127.0.0.1:$DYNALITE_PORT
"$FP" dynamodb create-table --table fms --endpoint "$EP" >/dev/null || fail "create-table"

"$FP" sim --only cargo/temperature --vehicles 8 --seed 9 --speedup max --duration 30m \
  --start 2026-04-01T00:00:00Z --target "kafka://$BS" 2>/dev/null

# The shipped files, pointed at this test's servers (and a short idle: the input ends).
jq '.config["aggregate.idle"] = "2s"' "$conf/agg-cargo-5m.json" >"$tmp/agg.json"
jq --arg ep "$EP" '.config["aws.dynamodb.endpoint"] = $ep' "$conf/dynamodb-agg-5m.json" >"$tmp/ddb.json"
jq --arg url "redis://127.0.0.1:$REDIS_PORT/0" '.config["redis.url"] = $url' \
  "$conf/redis-agg-5m.json" >"$tmp/redis.json"
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/agg.json" --connector "$tmp/ddb.json" \
  --connector "$tmp/redis.json" --rest-listen "" --exit-when-idle 8s --status-interval 1h \
  >"$tmp/connect.out" 2>"$tmp/connect.log" || fail "connect exited $?"

# ---- 1. fms.agg -> items and hashes
# A start-up rebalance replays: the same window may be emitted again, always identical.
kcat -C -b "$BS" -t fms.agg -e -q -f '%s\n' 2>/dev/null | sort -u >"$tmp/agg.jsonl"
nwin=$(wc -l <"$tmp/agg.jsonl")
[[ $(jq -r '"\(.id)#\(.zone)#\(.window_start)"' "$tmp/agg.jsonl" | sort -u | wc -l) -eq $nwin ]] ||
  fail "a window was emitted twice with different values"

((nwin >= 8 * 6)) || fail "only $nwin windows on fms.agg"
jq -c -S '{pk: "\(.id)#cargo#temperature#5m", sk: "\(.window_start)#z\(.zone)"} + .' "$tmp/agg.jsonl" |
  sort >"$tmp/expected"
ddb_dump "$EP" "$tmp/table"
cmp -s "$tmp/table" "$tmp/expected" || {
  diff "$tmp/expected" "$tmp/table" | head -4 | cut -c1-300 >&2
  fail "DynamoDB differs from fms.agg ($(wc -l <"$tmp/table") items, $nwin windows)"
}
jq -r -s 'group_by("\(.id):z\(.zone)")[] | max_by(.window_start) |
  "\(.id):z\(.zone) \(.window_start) \(.temperature.avg)"' "$tmp/agg.jsonl" >"$tmp/latest"
while read -r vz start avg; do
  want_end=$(date -u -d "$start + 5 minutes" +%Y-%m-%dT%H:%M:%S.000Z)
  [[ $(rcli hget "agg5m:$vz" window_end) == "$want_end" ]] ||
    fail "agg5m:$vz: window_end $(rcli hget "agg5m:$vz" window_end), latest window starts $start"
  got=$(rcli hget "agg5m:$vz" temperature | jq .avg)
  [[ $got == "$avg" ]] || fail "agg5m:$vz: avg $got, want $avg"
done <"$tmp/latest"
[[ $(rcli --scan --pattern 'agg5m:*' | wc -l) -eq $(wc -l <"$tmp/latest") ]] || fail "hash count"
# the vehicles' index and change stream are not the windows' (the Fleet API lists and streams them)
[[ $(rcli exists fleet:vehicles fleet:stream) == 0 ]] || fail "windows in fleet:vehicles or fleet:stream"

# ---- 2. out of order: 2, 1, then 3
rec() { printf '{"window_start":"2026-04-01T09:00:00.000Z","window_end":"2026-04-01T09:05:00.000Z","id":77,"zone":1,"temperature":{"count":%s},"samples":%s,"revision":%s,"final":false}\n' "$1" "$1" "$1"; }
item() { "$FP" dynamodb scan --table fms --endpoint "$EP" |
  jq -r 'select(.pk.S == "77#cargo#temperature#5m") | .revision.N'; }
jq '.name = "ddb-ooo" | .config.topics = "fms.agg.ooo"' "$tmp/ddb.json" >"$tmp/ooo.json"
{ rec 2; rec 1; } | kcat -P -b "$BS" -t fms.agg.ooo -k k 2>/dev/null
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/ooo.json" --rest-listen "" \
  --exit-when-idle 2s --status-interval 1h >/dev/null 2>"$tmp/ooo.log" || fail "connect ooo exited $?"
[[ $(item) == 2 ]] || fail "after revisions 2 then 1 the item holds revision '$(item)', want 2"
rec 3 | kcat -P -b "$BS" -t fms.agg.ooo -k k 2>/dev/null
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/ooo.json" --rest-listen "" \
  --exit-when-idle 2s --status-interval 1h >/dev/null 2>>"$tmp/ooo.log" || fail "connect ooo exited $?"
[[ $(item) == 3 ]] || fail "after revision 3 the item holds revision '$(item)', want 3"
echo "aggregate chain: $nwin windows in DynamoDB and $(wc -l <"$tmp/latest") live hashes in Redis"
echo "PASS"
