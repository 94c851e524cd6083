#!/usr/bin/env bash
# fleetpipe connect + dynamodb sink into dynalite (through aws-proxy, so every request's SigV4
# signature is verified by an independent signer) with the seed design's example connector:
# the table holds exactly one item per distinct (pk, sk) of the simulated samples, the newest
# record's values, numbers with their exact digits; records DynamoDB would refuse are dead-lettered
# with the reason; counts reconcile; replaying the topics from the start changes nothing.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"
source "$(dirname "$0")/lib/dynamodb.bash"

start_broker 4
start_dynalite
start_aws_proxy ddb dynamodb "$DYNALITE_PORT"
EP=$PROXY_URL
"$FP" dynamodb create-table --table fms --endpoint "$EP" >"$tmp/create.out" || fail "create-table"
grep -q "table fms created" "$tmp/create.out" || fail "create-table said: $(cat "$tmp/create.out")"

# Generated fleet: cargo/temperature reports two zones per timestamp, so (pk, sk) repeats.
fleet=(--vehicles 6 --duration 15m --seed 5 --start 2023-01-01T03:00:00Z --speedup max
  --only vehicle/kinematic,vehicle/status,cargo/temperature)
"$FP" sim "${fleet[@]}" --target "file:$tmp/gen.jsonl" 2>/dev/null
"$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>/dev/null

# Hand-made records: exact digits and unicode (x1), a repeated key inside one message where the
# later sample wins (x2), an item just under 400 KB (x3); then bad ones: an item over 400 KB (x4),
# a number of 39 significant digits (x5), a sample without timestamp (x6), no id for the pk (x7),
# broken JSON (x8).
blob() { head -c "$1" /dev/zero | tr '\0' 'b'; }
{
  echo 'dev-x1|{"object":"vehicle","type":"kinematic","id":9001,"device_id":"dev-x1","messaged_at":"2023-01-01T12:00:00+09:00","seq":1,"driver":"김철수 café","measurements":[{"timestamp_iso":"2023-01-01T11:59:00.5+09:00","speed":30.50,"odometer":12345678901234567890.123,"tiny":1.0E-130,"engine_on":true,"tags":["a",{"b":null}]}]}'
  echo 'dev-x2|{"object":"vehicle","type":"kinematic","id":9002,"device_id":"dev-x2","messaged_at":"2023-01-01T03:00:00Z","seq":1,"measurements":[{"timestamp_iso":"2023-01-01T03:00:00Z","speed":1.0},{"timestamp_iso":"2023-01-01T04:00:00+01:00","speed":2.00}]}'
  echo "dev-x3|{\"object\":\"vehicle\",\"type\":\"kinematic\",\"id\":9003,\"device_id\":\"dev-x3\",\"messaged_at\":\"2023-01-01T03:00:00Z\",\"seq\":1,\"measurements\":[{\"timestamp_iso\":\"2023-01-01T03:00:00Z\",\"blob\":\"$(blob 409000)\"}]}"
  echo "dev-x4|{\"object\":\"vehicle\",\"type\":\"kinematic\",\"id\":9004,\"device_id\":\"dev-x4\",\"messaged_at\":\"2023-01-01T03:00:00Z\",\"seq\":1,\"measurements\":[{\"timestamp_iso\":\"2023-01-01T03:00:00Z\",\"blob\":\"$(blob 409600)\"}]}"
  echo 'dev-x5|{"object":"vehicle","type":"kinematic","id":9005,"device_id":"dev-x5","messaged_at":"2023-01-01T03:00:00Z","seq":1,"measurements":[{"timestamp_iso":"2023-01-01T03:00:00Z","speed":123456789012345678901234567890123456789}]}'
  echo 'dev-x6|{"object":"vehicle","type":"kinematic","id":9006,"device_id":"dev-x6","messaged_at":"2023-01-01T03:00:00Z","seq":1,"measurements":[{"speed":3}]}'
  echo 'dev-x7|{"object":"vehicle","type":"kinematic","device_id":"dev-x7","messaged_at":"2023-01-01T03:00:00Z","seq":1,"measurements":[{"timestamp_iso":"2023-01-01T03:00:00Z","speed":3}]}'
  echo 'dev-x8|{"object":"vehicle", "broken":'
} >"$tmp/extra.kv"
kcat -P -b "$BS" -t fms.vehicle -K'|' -X message.max.bytes=2000000 <"$tmp/extra.kv" 2>/dev/null ||
  fail "kcat produce"
head -3 "$tmp/extra.kv" | cut -d'|' -f2- >"$tmp/extra.good"
nbad=5

# Expected table, from the input alone.
cat "$tmp/gen.jsonl" "$tmp/extra.good" >"$tmp/good.jsonl"
ddb_expected "$tmp/good.jsonl" "$tmp/expected"
nrecords=$(wc -l <"$tmp/expected.records")
nitems=$(wc -l <"$tmp/expected")
nmsgs=$(($(wc -l <"$tmp/good.jsonl") + nbad))
((nrecords > nitems)) || fail "the input should repeat some (pk, sk): $nrecords records, $nitems keys"

run_connector() { # NAME: runs it until idle; its log in $tmp/NAME.log, its final status in NAME.status
  ddb_connector "$1" "$EP"
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/$1.json" --exit-when-idle 2s \
    --status-interval 1h --status-format json >"$tmp/$1.status" 2>"$tmp/$1.log" || { cp "$tmp/$1.log" "$tmp/connect.log"; fail "connect $1 exited $?"; }
}
run_connector ddb-first
cp "$tmp/ddb-first.log" "$tmp/connect.log"

# The table is the expected one: same items, same values.
ddb_dump "$EP" "$tmp/table"
got=$(wc -l <"$tmp/table")
count=$("$FP" dynamodb scan --table fms --endpoint "$EP" --count)
[[ $count -eq $got ]] || fail "Scan COUNT says $count, the dump holds $got"
cmp -s "$tmp/table" "$tmp/expected" || {
  diff "$tmp/expected" "$tmp/table" | head -6 | cut -c1-300 >&2
  fail "table differs from the expected items ($got items, expected $nitems)"
}

# Exact values as DynamoDB holds them: numbers keep every digit (no trip through a double;
# DynamoDB, like dynalite, normalises 30.50 to 30.5 and 1.0E-130 to plain decimal), strings
# their characters.
tiny="0.$(printf '%0129d' 0)1"
x1=$(grep '"9001#vehicle#kinematic"' "$tmp/table.raw")
for want in '"speed":{"N":"30.5"}' '"odometer":{"N":"12345678901234567890.123"}' \
  "\"tiny\":{\"N\":\"$tiny\"}" '"driver":{"S":"김철수 café"}' '"sk":{"S":"2023-01-01T02:59:00.500Z"}' \
  '"tags":{"L":[{"S":"a"},{"M":{"b":{"NULL":true}}}]}' '"id":{"N":"9001"}'; do
  [[ $x1 == *"$want"* ]] || fail "item 9001 lacks $want: $x1"
done
[[ $x1 != *engine_on* && $x1 != *timestamp_iso* && $x1 != *measurements* ]] || fail "dropped fields in $x1"
x2=$(grep '"9002#vehicle#kinematic"' "$tmp/table.raw")
[[ $(wc -l <<<"$x2") -eq 1 && $x2 == *'"speed":{"N":"2"}'* ]] || fail "repeated key: want the later sample, got $x2"
[[ $(grep -c '"9003#vehicle#kinematic"' "$tmp/table.raw") -eq 1 ]] || fail "item just under 400 KB missing"
# Every odometer in the table is written in the input exactly as DynamoDB holds it.
jq -r 'select(.odometer) | .odometer.N' "$tmp/table.raw" | sort -u >"$tmp/odo"
(($(wc -l <"$tmp/odo") > 10)) || fail "too few odometer values"
while read -r v; do
  grep -qF "\"odometer\":$v" "$tmp/good.jsonl" || fail "odometer $v is not in the input as written"
done <"$tmp/odo"

# Dead letters: the original message, its key, and the reason.
kcat -C -b "$BS" -t fms.deadletter -e -o beginning -q -X fetch.message.max.bytes=2000000 \
  -f '%k\t%h\n' >"$tmp/dlq.tsv" 2>/dev/null || fail "kcat consume dlq"
ndlq=$(wc -l <"$tmp/dlq.tsv")
[[ $ndlq -eq $nbad ]] || fail "dead letters: $ndlq, expected $nbad: $(cut -c1-300 "$tmp/dlq.tsv")"
reason() { grep "^$1"$'\t' "$tmp/dlq.tsv" | grep -q "$2" || fail "dead letter $1 without '$2': $(grep "^$1" "$tmp/dlq.tsv" | cut -c1-400)"; }
reason dev-x4 "item is 409.* bytes, over DynamoDB's limit of 400 KB"
reason dev-x5 "39 significant digits"
reason dev-x6 "timestamp_iso"
reason dev-x7 'id'
reason dev-x8 'error.class=invalid'
grep -q "source.topic=fms.vehicle" "$tmp/dlq.tsv" || fail "dead letters lack source headers"

# Conservation: messages in = good + dead; records put = items + overwritten repeats.
in=$(jq -e .in "$tmp/ddb-first.status") || fail "no final status: $(cat "$tmp/ddb-first.status")"
durable=$(jq -e .out "$tmp/ddb-first.status") dead=$(jq -e .dead "$tmp/ddb-first.status")
((in == nmsgs && dead == nbad && durable == nrecords)) ||
  fail "counts: in=$in (want $nmsgs) durable=$durable (want $nrecords records) dead=$dead (want $nbad)"
((got + (nrecords - nitems) == durable)) || fail "items $got + repeats $((nrecords - nitems)) != records $durable"

# Idempotent: a second connector (new group) replays everything from the start; same table.
run_connector ddb-replay
ddb_dump "$EP" "$tmp/table2"
sort "$tmp/table.raw" >"$tmp/t1" && sort "$tmp/table2.raw" >"$tmp/t2"
cmp -s "$tmp/t1" "$tmp/t2" || fail "replay changed the table"
(($(jq -e .out "$tmp/ddb-replay.status") > 0)) || fail "the replay wrote nothing: not a replay"
# Every request went through the verifying proxy and none was refused.
grep -q '"op":"BatchWriteItem"' "$tmp/ddb.requests" || fail "no BatchWriteItem seen by the proxy"
! grep -q '"status":403' "$tmp/ddb.requests" || fail "the proxy refused a signature"
echo "dynamodb_sink: ok ($nitems items from $nrecords records of $nmsgs messages, $ndlq dead letters; replay identical)"
