#!/usr/bin/env bash
# fleetpipe connect + objstore sink against a real (in-memory) broker over loopback: every
# record lands exactly once under the UTC partition of its messaged_at, bad records go to the
# dead-letter topic with the original bytes and the error headers, and counts reconcile.
source "$(dirname "$0")/lib/connect.bash"

start_broker 4
lake=$tmp/lake
mkdir -p "$lake"

# Known input: generated fleet (some deliberately broken) plus hand-made edge cases.
fleet=(--vehicles 20 --duration 45m --seed 7 --start 2023-01-01T03:00:00Z --speedup max
  --anomaly-rate 0.02 --anomalies malformed_json,missing_field)
"$FP" sim "${fleet[@]}" --target "file:$tmp/gen.jsonl" 2>/dev/null
"$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>/dev/null
cat >"$tmp/extra.jsonl" <<'JSONL'
dev-x1|{"object":"vehicle","type":"event","id":1,"device_id":"dev-x1","messaged_at":"2023-01-01T23:30:00-05:00","seq":1,"event":"impact"}
dev-x2|{"object":"vehicle","type":"event","id":2,"device_id":"dev-x2","messaged_at":"2023-01-02T00:10:00Z","seq":1,"event":"impact"}
dev-x3|{"object":"vehicle","type":"event","id":3,"device_id":"dev-x3","messaged_at":1672617600000,"seq":1,"event":"impact"}
dev-x4|{"object":"vehicle","type":"event","id":4,"device_id":"dev-x4","messaged_at":"yesterday","seq":1}
dev-x5|{"object":"vehicle","type":"event","id":5,"device_id":"dev-x5","messaged_at":"2023-02-30T00:00:00Z","seq":1}
dev-x6|[1,2,3]
dev-x7|{"object":"vehicle", "broken":
JSONL
kcat -P -b "$BS" -t fms.vehicle -K'|' <"$tmp/extra.jsonl" 2>/dev/null || fail "kcat produce"

# Expected: valid JSON objects whose messaged_at parses go to the lake; the rest are dead.
cut -d'|' -f2- "$tmp/extra.jsonl" >"$tmp/extra.values"
cat "$tmp/gen.jsonl" "$tmp/extra.values" >"$tmp/all.jsonl"
jq -R -r 'try (fromjson | if type == "object" and ((.messaged_at | type == "string" and test("^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])T[0-9:]{8}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"))
            or (.messaged_at | type == "number")) then "G" else "B" end) catch "B"' <"$tmp/all.jsonl" >"$tmp/class"
not_utf8 "$tmp/class" "$tmp/all.jsonl"
paste -d'\t' "$tmp/class" "$tmp/all.jsonl" | awk -F'\t' -v g="$tmp/good" -v b="$tmp/bad" '
  { line = substr($0, 3); if ($1 == "G") print line > g; else print line > b }'
ngood=$(wc -l <"$tmp/good"); nbad=$(wc -l <"$tmp/bad"); total=$(wc -l <"$tmp/all.jsonl")
((nbad >= 5)) || fail "expected some bad input, got $nbad"

# A small memory budget (6 MiB over the connector's 2 tasks): the whole run goes through it, and
# /metrics shows the split as librdkafka has it (docs/connect.md "Memory budget": fetch and batch
# an eighth of a task's share each, fetch at least 1000000 and max.partition.fetch.bytes with it
# under 1 MiB, the queue what is left after 2 fetches and 2 batches in whole KiB, at least 1 MiB:
# here the floors win).
connector_json raw-lake "$lake" '"flush.size": "150", "rotate.schedule.interval.ms": "1000"'
port=$(free_port)
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/raw-lake.json" --status-interval 2s \
  --memory-budget-mb 6 --rest-listen "127.0.0.1:$port" \
  --status-format json >"$tmp/connect.status" 2>"$tmp/connect.log" &
cpid=$!
pids+=($cpid)
have_all() { [[ $(lake_lines "$lake" | wc -l) -ge $ngood ]]; }
wait_for "$ngood records in the lake" 90 have_all
curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt" || fail "no /metrics"
share=$((6 * 1024 * 1024 / 2)) eighth=$((6 * 1024 * 1024 / 2 / 8))
fetch=$((eighth < 1000000 ? 1000000 : eighth)) batch=$eighth
queue=$(((share - 2 * fetch - 2 * batch) / 1024 * 1024))
((queue >= 1024 * 1024)) || queue=$((1024 * 1024))
for task in 0 1; do
  for want in "share $share" "queue $queue" "fetch $fetch" "partition_fetch $fetch" "batch $batch"; do
    set -- $want
    got=$(sed -n 's/^fleetpipe_connect_task_memory_budget_bytes{connector="raw-lake",task="'$task'",part="'"$1"'"} //p' "$tmp/metrics.txt")
    [[ $got == "$2" ]] || fail "memory budget of task $task, $1: /metrics says '$got', the split $2"
  done
done
kill -TERM "$cpid"
rc=0; wait "$cpid" || rc=$?
[[ $rc -eq 0 ]] || fail "connect exited $rc after SIGTERM"
jq -e '.command == "connect" and .exit_code == 0' "$tmp/connect.status" >/dev/null || fail "no final status: $(cat "$tmp/connect.status")"

# Exactly once: the lake's lines are the good input lines, byte for byte, no more, no less.
lake_lines "$lake" | sort >"$tmp/lake.sorted"
sort "$tmp/good" >"$tmp/good.sorted"
cmp -s "$tmp/lake.sorted" "$tmp/good.sorted" || {
  diff "$tmp/good.sorted" "$tmp/lake.sorted" | head -5 >&2
  fail "lake differs from the good input ($(wc -l <"$tmp/lake.sorted") vs $ngood lines)"
}

# Object names and partitions: raw/<topic>/dt=/hour=/<topic>+<p>+<20 digits>.jsonl, and every
# record's UTC messaged_at falls in its object's hour.
find "$lake" -path '*/.staging' -prune -o -type f -print | grep -v '/\.fleetpipe' | while read -r f; do
  rel=${f#"$lake"/}
  [[ $rel =~ ^raw/(fms\.[a-z]+)/(dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/hour=[0-9]{2})/(fms\.[a-z]+)\+[0-9]+\+[0-9]{20}\.jsonl$ ]] ||
    fail "bad object name $rel"
  [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[3]}" ]] || fail "topic mismatch in $rel"
  want=${BASH_REMATCH[2]}
  jq -r 'if (.messaged_at|type) == "number" then (.messaged_at/1000|floor|strftime("dt=%Y-%m-%d/hour=%H")) else ('"$utc_path_jq"') end' "$f" |
    sort -u | while read -r got; do
      [[ $got == "$want" ]] || fail "$rel holds a record of $got"
    done
done
# The -05:00 edge case lands on the next UTC day.
ls "$lake"/raw/fms.vehicle/dt=2023-01-02/hour=04/ >/dev/null 2>&1 || fail "-05:00 record not under dt=2023-01-02/hour=04"

# Dead letters: original bytes as value, original key, headers naming the error and source.
kcat -C -b "$BS" -t fms.deadletter -e -o beginning -q \
  -f '%k\t%h\t%s\n' >"$tmp/dlq.tsv" 2>/dev/null || fail "kcat consume dlq"
ndlq=$(wc -l <"$tmp/dlq.tsv")
[[ $ndlq -eq $nbad ]] || fail "dead letters: $ndlq, expected $nbad"
cut -f3- "$tmp/dlq.tsv" | sort >"$tmp/dlq.values"
sort "$tmp/bad" >"$tmp/bad.sorted"
cmp -s "$tmp/dlq.values" "$tmp/bad.sorted" || fail "dead-letter values are not the original bytes"
while IFS=$'\t' read -r key hdrs _; do
  for h in error.class= error.message= source.topic=fms. source.partition= source.offset=; do
    [[ $hdrs == *"$h"* ]] || fail "dead letter without header $h: $hdrs"
  done
  [[ -n $key ]] || fail "dead letter lost its key"
done <"$tmp/dlq.tsv"
grep -q $'dev-x6\t' "$tmp/dlq.tsv" || fail "key dev-x6 not kept"

# Conservation: in = out + dead.
[[ $((ngood + ndlq)) -eq $total ]] || fail "counts: $ngood + $ndlq != $total"
# The status counters count work, replays after a rebalance included, so they can only exceed.
jq -e --argjson t "$total" --argjson g "$ngood" --argjson b "$nbad" '.in >= $t and .out >= $g and .dead >= $b' \
  "$tmp/connect.status" >/dev/null || fail "final status counts less than went through: $(cat "$tmp/connect.status")"
echo "connect_objstore: ok ($ngood records in the lake, $ndlq dead letters)"
