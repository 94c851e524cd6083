#!/usr/bin/env bash
# The dynamodb sink under the faults real DynamoDB produces and dynalite never does, injected by
# aws-proxy: 400 ThrottlingException, half of a BatchWriteItem handed back as UnprocessedItems,
# dropped connections. The final table must equal the fault-free expectation, and the proxy's
# log must show that each fault happened and cost exactly one more request (nothing skipped,
# nothing replayed). Then the failures that must not be retried: a wrong secret key fails the
# task fast with SignatureDoesNotMatch (and no secret in the log), a missing table with
# ResourceNotFoundException.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"
source "$(dirname "$0")/lib/dynamodb.bash"

start_broker 4
start_dynalite
start_aws_proxy faulty dynamodb "$DYNALITE_PORT" --throttle-every 7 --unprocessed-every 5 --reset-every 11
EP=$PROXY_URL
"$FP" dynamodb create-table --table fms --endpoint "$EP" >"$tmp/create.out" || fail "create-table through faults"

fleet=(--vehicles 6 --duration 15m --seed 9 --start 2023-01-01T03:00:00Z --speedup max
  --only vehicle/kinematic,vehicle/status,cargo/temperature)
"$FP" sim "${fleet[@]}" --target "file:$tmp/gen.jsonl" 2>/dev/null
"$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>/dev/null
ddb_expected "$tmp/gen.jsonl" "$tmp/expected"
nitems=$(wc -l <"$tmp/expected")
nrecords=$(wc -l <"$tmp/expected.records")

# One task: with two, a second task that joins late (seen under the sanitizers) rebalances the
# group, and the replay of what the first had not committed yet would read as a fault bug here.
# Replays after a rebalance are the runtime's documented at-least-once, tested elsewhere.
ddb_connector faults "$EP" '"aws.dynamodb.retry.backoff.ms": "5", "aws.dynamodb.retry.backoff.max.ms": "200"' 1
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/faults.json" --exit-when-idle 2s \
  --status-interval 1h --status-format json >"$tmp/connect.status" 2>"$tmp/connect.log" || fail "connect exited $?"

# A clean proxy in front of the same dynalite to read the table back.
start_aws_proxy clean dynamodb "$DYNALITE_PORT"
ddb_dump "$PROXY_URL" "$tmp/table"
cmp -s "$tmp/table" "$tmp/expected" || {
  diff "$tmp/expected" "$tmp/table" | head -6 | cut -c1-300 >&2
  fail "table under faults differs from the fault-free expectation ($(wc -l <"$tmp/table") items, expected $nitems)"
}

# The faults happened, and each was answered by exactly one more request.
log=$tmp/faulty.requests
bw() { grep '"op":"BatchWriteItem"' "$log" | grep -c "$1" || true; }
throttled=$(bw '"fault":"throttle"') unprocessed=$(bw '"fault":"unprocessed"') resets=$(bw '"fault":"reset"')
requests=$(bw '.')
((throttled > 0 && unprocessed > 0 && resets > 0)) ||
  fail "faults not exercised: throttle=$throttled unprocessed=$unprocessed reset=$resets"
durable=$(jq -e .out "$tmp/connect.status") || fail "no final status: $(cat "$tmp/connect.status")"
dead=$(jq -e .dead "$tmp/connect.status") batches=$(jq -e .objects "$tmp/connect.status")
((dead == 0 && durable == nrecords)) || fail "durable=$durable (want $nrecords) dead=$dead (want 0)"
((requests == batches + throttled + unprocessed + resets)) ||
  fail "BatchWriteItem requests $requests != batches $batches + faults $((throttled + unprocessed + resets)): something was replayed or skipped"
! grep -q '"status":403' "$log" || fail "the proxy refused a signature"

# A wrong secret: final at once (no retries), the task FAILED, the secret nowhere in the output.
ddb_connector badkey "$EP"
sed -i 's/"tasks.max": "2"/"tasks.max": "1"/' "$tmp/badkey.json"
rc=0
AWS_SECRET_ACCESS_KEY=wrongSecret4711 timeout 60 "$FP" connect --bootstrap-servers "$BS" \
  --connector "$tmp/badkey.json" --status-interval 1h >"$tmp/badkey.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "wrong secret: connect exited $rc, want 1 (task FAILED): $(tail -3 "$tmp/badkey.log")"
grep -q "task FAILED.*SignatureDoesNotMatch" "$tmp/badkey.log" ||
  fail "wrong secret: no FAILED with SignatureDoesNotMatch: $(grep -m2 -i fail "$tmp/badkey.log")"
! grep -q "wrongSecret4711" "$tmp/badkey.log" || fail "the secret key appears in the log"
! grep -q "gave up after" "$tmp/badkey.log" || fail "an auth error was retried"

# A table that does not exist.
ddb_connector notable "$EP"
sed -i 's/"tasks.max": "2"/"tasks.max": "1"/; s/"aws.dynamodb.table": "fms"/"aws.dynamodb.table": "no-such-table"/' "$tmp/notable.json"
rc=0
timeout 60 "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/notable.json" \
  --status-interval 1h >"$tmp/notable.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "missing table: connect exited $rc, want 1: $(tail -3 "$tmp/notable.log")"
grep -q "task FAILED.*ResourceNotFoundException" "$tmp/notable.log" ||
  fail "missing table: no FAILED with ResourceNotFoundException: $(grep -m2 -i fail "$tmp/notable.log")"
echo "dynamodb_faults: ok ($nitems items; $throttled throttled, $unprocessed unprocessed, $resets resets, each retried once; bad key and missing table FAILED)"
