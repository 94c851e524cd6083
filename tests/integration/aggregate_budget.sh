#!/usr/bin/env bash
# aggregate.max.windows: past the budget the task holds consumption (the partitions are paused,
# a WARN says so) instead of growing or dropping; the idle rule closes the open windows, which
# releases the hold. Nothing is lost: every sample is in a window or dead-lettered as late, the
# windows hold exactly the samples jq counts for them from the simulator's file, and no window
# is ever emitted twice with different values.
source "$(dirname "$0")/lib/connect.bash"

start_broker 4
"$FP" sim --only cargo/temperature --vehicles 12 --seed 21 --speedup max --duration 20m \
  --start 2026-05-01T00:00:00Z --target "file:$tmp/in.jsonl" 2>/dev/null
jq -r -c '"\(.device_id)|\(tojson)"' "$tmp/in.jsonl" | kcat -P -b "$BS" -t fms.cargo -K'|' 2>/dev/null ||
  fail "kcat produce"
cat >"$tmp/agg.json" <<JSON
{"name": "budget", "config": {
  "connector.class": "aggregate", "topics": "fms.cargo", "tasks.max": "1",
  "transforms": "split", "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements",
  "aggregate.group.by": "id,zone", "aggregate.fields": "temperature",
  "aggregate.max.windows": "6", "aggregate.idle": "1s",
  "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter",
  "errors.log.enable": "false"}}
JSON
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/agg.json" --rest-listen "" \
  --exit-when-idle 4s --status-interval 1h --status-format json >"$tmp/status" 2>"$tmp/connect.log" ||
  fail "connect exited $?"
grep -q 'sink over its budget: consumption held' "$tmp/connect.log" || fail "the budget never held consumption"
grep -q 'sink drained: consumption resumes' "$tmp/connect.log" || fail "the hold was never released"

kcat -C -b "$BS" -t fms.agg -e -q -f '%k\t%s\n' 2>/dev/null | sort -u >"$tmp/out.tsv"
[[ $(cut -f1 "$tmp/out.tsv" | sort -u | wc -l) -eq $(wc -l <"$tmp/out.tsv") ]] ||
  fail "a window was emitted twice with different values"
late=$(kcat -C -b "$BS" -t fms.deadletter -e -q -f '%h\n' 2>/dev/null | { grep 'error.class=late' || true; } |
  sed 's/.*source.partition=\([0-9]*\),source.offset=\([0-9]*\),source.record=\([0-9]*\).*/\1 \2 \3/' |
  sort -u | wc -l)
samples=$(jq -s '[.[].measurements | length] | add' "$tmp/in.jsonl")
in_windows=$(cut -f2 "$tmp/out.tsv" | jq -s '[.[].samples] | add')
((in_windows + late == samples)) ||
  fail "$in_windows samples in windows + $late late != $samples samples in"
# Each window's samples as jq counts them among the samples that were not late: no window may
# hold more than the input has for it.
utc_s='(.[0:19] + "Z" | fromdateiso8601) - (if .[19:20] == "Z" then 0 else
  ((if .[19:20] == "-" then -1 else 1 end) * ((.[20:22] | tonumber) * 3600 + (.[23:25] | tonumber) * 60)) end)'
jq -r ".id as \$id | .measurements[] | \"\\(\$id)#\\(.zone)#\\(.timestamp_iso | $utc_s | . / 300 | floor * 300 | todate)\"" \
  "$tmp/in.jsonl" | sed 's/Z$/.000Z/' | sort | uniq -c | awk '{ print $2 "\t" $1 }' >"$tmp/input_counts"
cut -f1,2 "$tmp/out.tsv" | while IFS=$'\t' read -r key value; do
  n=$(jq .samples <<<"$value")
  want=$(awk -F'\t' -v k="$key" '$1 == k { print $2 }' "$tmp/input_counts")
  ((n <= want)) || fail "$key holds $n samples, the input has $want"
done
((late > 0)) || [[ $(wc -l <"$tmp/out.tsv") -eq $(wc -l <"$tmp/input_counts") ]] ||
  fail "no late samples, yet $(wc -l <"$tmp/out.tsv") windows for $(wc -l <"$tmp/input_counts") in the input"
echo "budget: $(wc -l <"$tmp/out.tsv") windows, $late late, $samples samples"
echo "PASS"
