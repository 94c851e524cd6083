#!/usr/bin/env bash
# Failure paths of fleetpipe connect:
#  1. errors.tolerance=none: the task goes FAILED at the first bad record, the process exits 1,
#     what came before is in the lake, nothing past the bad record is committed — a restart
#     stops at the very same record and writes nothing new.
#  2. An unknown connector key is an error that names the key.
#  3. A store that cannot be written: the sink is retried with backoff (consumption paused),
#     nothing is skipped, a second worker joining mid-retry (rebalance) leaves nothing paused,
#     and once the fault is gone every record lands exactly once.
source "$(dirname "$0")/lib/connect.bash"

start_broker 4

# ---- 1. errors.tolerance=none
lake=$tmp/strict
mkdir -p "$lake"
{
  for i in $(seq 0 9); do
    echo "k$i|{\"id\":$i,\"messaged_at\":\"2023-01-01T12:00:0$((i % 10))+09:00\"}"
  done
  echo 'kbad|{"id":10,"messaged_at":"not a time"}'
  for i in $(seq 11 15); do
    echo "k$i|{\"id\":$i,\"messaged_at\":\"2023-01-01T12:00:00+09:00\"}"
  done
} >"$tmp/strict.in"
kcat -P -b "$BS" -t test.strict -p 0 -K'|' <"$tmp/strict.in" 2>/dev/null || fail "kcat produce"
cat >"$tmp/strict.json" <<JSON
{"name": "strict", "connector.class": "objstore", "topics": "test.strict",
 "store.url": "$lake", "timestamp.field": "messaged_at", "flush.size": "3",
 "errors.tolerance": "none", "consumer.override.session.timeout.ms": "6000"}
JSON
for run in 1 2; do
  rc=0
  timeout 120 "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/strict.json" \
    --status-format json >"$tmp/strict.$run.status" 2>"$tmp/strict.$run.log" || rc=$?
  [[ $rc -eq 1 ]] || { cat "$tmp/strict.$run.log" >&2; fail "run $run: exit $rc, expected 1 (task FAILED)"; }
  grep -q "task FAILED: bad record at test.strict/0@10 " "$tmp/strict.$run.log" ||
    { cat "$tmp/strict.$run.log" >&2; fail "run $run: no FAILED line naming test.strict/0@10"; }
  jq -e '.exit_code == 1 and .tasks == 1 and .failed == 1' "$tmp/strict.$run.status" >/dev/null ||
    fail "run $run: status is not FAILED: $(cat "$tmp/strict.$run.status")"
  # Exactly the ten records before the bad one, whatever the run.
  got=$(lake_lines "$lake" | jq -r .id | sort -n | tr '\n' ' ')
  [[ $got == "0 1 2 3 4 5 6 7 8 9 " ]] || fail "run $run: lake holds ids '$got'"
done
# The restart consumed nothing but the bad record: it started exactly there.
jq -e '.in == 1 and .out == 0 and .dead == 0' "$tmp/strict.2.status" >/dev/null ||
  fail "restart did not resume at the bad record ($(cat "$tmp/strict.2.status"))"

# ---- 2. unknown keys name the key
cat >"$tmp/typo.json" <<JSON
{"name": "typo", "connector.class": "objstore", "topics": "test.strict",
 "store.url": "$tmp/typo", "flush.sise": "3"}
JSON
rc=0
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/typo.json" 2>"$tmp/typo.log" || rc=$?
[[ $rc -eq 2 ]] || fail "unknown key: exit $rc, expected 2"
grep -q "unknown key 'flush.sise'" "$tmp/typo.log" || fail "error does not name the key: $(cat "$tmp/typo.log")"
sed -i 's/"flush.sise": "3"/"consumer.override.no.such.property": "1"/' "$tmp/typo.json"
rc=0
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/typo.json" 2>"$tmp/typo.log" || rc=$?
[[ $rc -eq 2 ]] && grep -q "no.such.property" "$tmp/typo.log" ||
  fail "bad consumer.override not reported: $(cat "$tmp/typo.log")"

# ---- 3. store write failure: retried, not skipped; lands once the fault is gone
lake=$tmp/retry
mkdir -p "$lake/raw"
# The topic's directory is a regular file: every commit of an object fails (works as root too).
echo "in the way" >"$lake/raw/test.retry"
for i in $(seq 1 200); do
  echo "k$((i % 7))|{\"id\":$i,\"messaged_at\":\"2023-01-01T12:00:00+09:00\"}"
done >"$tmp/retry.in"
kcat -P -b "$BS" -t test.retry -K'|' <"$tmp/retry.in" 2>/dev/null || fail "kcat produce"
cat >"$tmp/retry.json" <<JSON
{"name": "retry", "connector.class": "objstore", "topics": "test.retry", "tasks.max": "2",
 "store.url": "file://$lake", "timestamp.field": "messaged_at", "flush.size": "20",
 "rotate.schedule.interval.ms": "500", "errors.retry.delay.max.ms": "400",
 "consumer.override.session.timeout.ms": "6000"}
JSON
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/retry.json" --status-interval 1s \
  2>"$tmp/connect.log" &
cpid=$!
pids+=($cpid)
# Three retries, and the backoff growing while the store keeps failing (a task that made some
# progress between two failures starts again at attempt 1, so wait for a second attempt rather
# than expect it among the first three lines).
retried() {
  [[ $(grep -c "consumption paused, replaying" "$tmp/connect.log") -ge 3 ]] &&
    grep -q "attempt [2-9]" "$tmp/connect.log"
}
wait_for "three retries and a second backoff attempt" 60 retried
kill -0 "$cpid" || fail "connect died while the store was failing"
[[ $(lake_lines "$lake" | wc -l) -eq 0 ]] || fail "records landed while the store was broken"
# A second worker joins while the first is backing off: the group rebalances in the middle of
# the retry, and partitions the first worker paused must not stay paused when it gets them back.
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/retry.json" --status-interval 1s \
  2>"$tmp/connect2.log" &
cpid2=$!
pids+=($cpid2)
rebalanced() {
  grep -q "assigned [1-9]" "$tmp/connect2.log" &&
    [[ $(grep -c "assigned [1-9]" "$tmp/connect.log") -ge 3 ]]
}
wait_for "a rebalance that gives both workers partitions" 60 rebalanced
[[ $(lake_lines "$lake" | wc -l) -eq 0 ]] || fail "records landed while the store was broken"
rm "$lake/raw/test.retry"
landed() { [[ $(lake_lines "$lake" | wc -l) -ge 200 ]]; }
wait_for "all 200 records after the fault" 60 landed
kill -TERM "$cpid" "$cpid2"
rc=0; wait "$cpid" || rc=$?
[[ $rc -eq 0 ]] || fail "connect exited $rc after SIGTERM"
rc=0; wait "$cpid2" || rc=$?
[[ $rc -eq 0 ]] || fail "second worker exited $rc after SIGTERM"
lake_lines "$lake" | jq -r .id | sort -n >"$tmp/retry.ids"
seq 1 200 | cmp -s - "$tmp/retry.ids" || fail "after recovery the lake is not ids 1..200 exactly once"
echo "connect_errors: ok"
