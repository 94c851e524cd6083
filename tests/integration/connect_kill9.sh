#!/usr/bin/env bash
# Crash safety of the objstore sink: kill -9 a worker at random moments while it consumes (a
# second worker of the same connector keeps running and rebalances each time), restart it, let
# it finish; every input record must be in the lake exactly once, and
# no staging file may ever show up as an object. Small flush.size plus a wall-clock
# rotate.schedule.interval.ms make many objects, so restarts replay into objects that already
# exist and the replay reconciliation (rotate after the existing object's record count) runs.
source "$(dirname "$0")/lib/connect.bash"

start_broker 16
lake=$tmp/lake
mkdir -p "$lake"
# Data arrives in waves: one before the workers start and one per crash round, produced right
# after the doomed worker got its partitions, so each kill lands in the middle of real work.
wave() {
  local fleet=(--vehicles 40 --duration 12m --seed "$1" --start 2023-01-01T03:00:00Z --speedup max
    --anomaly-rate 0.005 --anomalies malformed_json,missing_field)
  "$FP" sim "${fleet[@]}" 2>/dev/null >>"$tmp/gen.jsonl"
  "$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>/dev/null
}
wave 10

connector_json crashy "$lake" '"flush.size": "37", "rotate.schedule.interval.ms": "300",
  "format.compression": "zstd", "consumer.override.max.partition.fetch.bytes": "65536"'

# A second worker with the same connector stays up through the crashes: every restart of the
# first one rebalances the group, so it also loses and regains partitions (revoke: discard the
# open files, the next owner replays from the committed offset).
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/crashy.json" --status-interval 5s \
  2>"$tmp/connect.steady.log" &
steady=$!
pids+=($steady)

kills=0
for round in 1 2 3 4; do
  log=$tmp/connect.$round.log
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/crashy.json" --status-interval 1s \
    2>"$log" &
  cpid=$!
  pids+=($cpid)
  assigned() { grep -q "assigned [1-9]" "$log"; }
  wait_for "assignment in round $round" 60 assigned
  wave $((10 + round))
  # A random moment while both workers consume the new wave.
  sleep "$(printf '0.%d' $((RANDOM % 9 + 1)))"
  if kill -0 "$cpid" 2>/dev/null; then
    kill -9 "$cpid"
    kills=$((kills + 1))
  fi
  wait "$cpid" 2>/dev/null || true
  # A crash never leaves a partial object under a final name.
  bad=$(find "$lake" -path '*/.staging' -prune -o -type f ! -name '.fleetpipe*' -print |
    grep -Ev '/raw/fms\.[a-z]+/dt=[0-9-]{10}/hour=[0-9]{2}/fms\.[a-z]+\+[0-9]+\+[0-9]{20}\.jsonl\.zst$' || true)
  [[ -z $bad ]] || fail "non-object files in the lake after kill $round: $bad"
  for f in $(find "$lake/raw" -name '*.zst' 2>/dev/null); do
    zstd -tq "$f" 2>/dev/null || fail "corrupt object $f after kill $round"
  done
done
((kills >= 1)) || fail "the connector finished before any kill; produce more data"
kill -TERM "$steady"
rc=0; wait "$steady" || rc=$?
[[ $rc -eq 0 ]] || fail "the steady worker exited $rc after SIGTERM"
grep -q "revoked" "$tmp/connect.steady.log" || fail "the steady worker never saw a rebalance"

# Last run: no kill; stops by itself once caught up.
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/crashy.json" --exit-when-idle 3s \
  --status-interval 2s 2>"$tmp/connect.log" &
cpid=$!
pids+=($cpid)
end=$((SECONDS + 240))
while kill -0 "$cpid" 2>/dev/null; do
  ((SECONDS < end)) || fail "final run did not finish within 240 s"
  sleep 0.5
done
wait "$cpid" || fail "final run exited non-zero"

jq -R -r 'try (fromjson | if (.messaged_at|type) == "string" then "G" else "B" end) catch "B"' \
  <"$tmp/gen.jsonl" >"$tmp/class"
not_utf8 "$tmp/class" "$tmp/gen.jsonl"
paste -d'\t' "$tmp/class" "$tmp/gen.jsonl" | awk -F'\t' '$1 == "G" { print substr($0, 3) }' |
  sort >"$tmp/good.sorted"
ngood=$(wc -l <"$tmp/good.sorted")
lake_lines "$lake" | sort >"$tmp/lake.sorted"
got=$(wc -l <"$tmp/lake.sorted")
dups=$(uniq -d "$tmp/lake.sorted" | wc -l)
((dups == 0)) || fail "$dups records are in the lake more than once"
cmp -s "$tmp/lake.sorted" "$tmp/good.sorted" || fail "lake has $got records, expected $ngood (losses)"
left=$(find "$lake/.staging" -type f | wc -l)
((left == 0)) || fail "$left staging files left behind"
replays=$(cat "$tmp"/connect.*.log "$tmp/connect.log" "$tmp/connect.steady.log" | grep -c "replay: .* exists with" || true)
((replays >= 1)) || fail "no restart replayed into an existing object; reconciliation not exercised"
objects=$(find "$lake/raw" -name '*.zst' | wc -l)
echo "connect_kill9: ok ($kills kills, $ngood records exactly once in $objects objects, $replays replayed objects)"
