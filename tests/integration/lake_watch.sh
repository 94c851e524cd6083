#!/usr/bin/env bash
# `fleetpipe lake watch` behind the objstore sink's object-committed events: every raw object the
# sink commits is converted, every simulated row is in the Parquet lake exactly once (read back
# with `fleetpipe lake cat`, counted per table against the raw input with jq), and a kill -9 of
# the watch worker in the middle of the stream loses nothing and duplicates nothing: the lake
# has the same files and the same rows as a batch `fleetpipe lake convert` of the same raw store.
# The restarted worker (same --worker-id) is converting again within 10 s of its start, not after
# librdkafka's 45 s default session timeout. The dev broker (librdkafka 2.0.2's mock cluster)
# ignores group.instance.id (its JoinGroup drops it), so there workers are dynamic members with a
# 3 s session (kafka/kafka.h): the rebalance waits out the dead member's 3 s; against a real
# broker static membership returns the partitions at once.
source "$(dirname "$0")/lib/connect.bash"

start_broker 8
raw=$tmp/raw lake=$tmp/lake ref=$tmp/ref
mkdir -p "$raw" "$lake"
events=fleetpipe.lake.events
# Periodic protocols only: every row has a timestamp_iso, so none may fail conversion.
fleet=(--vehicles 25 --duration 20m --seed 31 --start 2023-01-01T03:40:00Z --speedup max
  --anomaly-rate 0 --only vehicle/kinematic,vehicle/status,cargo/temperature,blackbox/status)
"$FP" sim "${fleet[@]}" --target "file:$tmp/gen.jsonl" 2>/dev/null

connector_json rawlake "$raw" '"flush.size": "30", "rotate.schedule.interval.ms": "500",
  "store.events.topic": "'$events'"'
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/rawlake.json" --exit-when-idle 5s \
  --status-interval 2s 2>"$tmp/connect.log" &
cpid=$!
pids+=($cpid)

# watch_worker LOG PORT: a worker with its metrics on PORT and its final status in LOG.json.
watch_worker() {
  "$FP" lake watch --from "file://$raw" --to "file://$lake" --bootstrap-servers "$BS" \
    --topic "$events" --group lake-test --worker-id w1 --status-interval 1s \
    --metrics-listen "127.0.0.1:$2" --status-format json >"$1.json" 2>"$1" &
  wpid=$!
  pids+=($wpid)
}
# metric PORT NAME: the value of an unlabelled sample, empty when absent.
metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }
port1=$(free_port)
port2=$(free_port)
# Events that can never be converted are logged and skipped (committed), never retried; a key
# that climbs out of the store is queued in _failed as an object with the reason.
printf '%s\n' 'not json' '{"eventName":"ObjectCreated:Put"}' \
  '{"eventName":"ObjectCreated:Put","key":"raw/../../outside.jsonl"}' |
  kcat -P -b "$BS" -t "$events" 2>/dev/null || fail "kcat produce junk events"
watch_worker "$tmp/watch1.log" "$port1"
# A capped rate makes the stream last ~10 s, so the kill lands while objects keep coming.
"$FP" sim "${fleet[@]}" --rate 150 --target "kafka://$BS" 2>/dev/null &
spid=$!
pids+=($spid)

# Kill the first worker once it has converted a few objects, in the middle of the stream.
converted_some() { local n; n=$(metric "$port1" fleetpipe_lake_objects_converted_total); ((${n:-0} >= 5)); }
wait_for "first conversions" 90 converted_some
sleep "0.$((RANDOM % 5 + 1))"
kill -0 "$wpid" 2>/dev/null || fail "watch worker 1 ended early: $(tail -5 "$tmp/watch1.log")"
skips1=$(metric "$port1" fleetpipe_lake_events_skipped_total)
kill -9 "$wpid"
wait "$wpid" 2>/dev/null || true
t0=$(date +%s.%N)
watch_worker "$tmp/watch2.log" "$port2"
handled() { local n; n=$(metric "$port2" fleetpipe_lake_events_total); ((${n:-0} > 0)); }
wait_for "the restarted worker handling events" 10 handled
echo "lake_watch: restarted worker consuming after $(echo "$(date +%s.%N) - $t0" | bc) s" >&2

wait "$spid" || fail "sim failed"
wait "$cpid" || fail "connect exited non-zero"
# Caught up: lag 0 in two scrapes a second apart after the sink is done.
lag0() { [[ $(metric "$port2" fleetpipe_lake_consumer_lag) == 0 ]]; }
caught_up() { lag0 && sleep 1 && lag0; }
wait_for "watch worker 2 caught up" 120 caught_up
kill -TERM "$wpid"
rc=0; wait "$wpid" || rc=$?
[[ $rc -eq 0 ]] || fail "lake watch exited $rc after SIGTERM: $(tail -5 "$tmp/watch2.log")"
[[ $(wc -l <"$tmp/watch2.log.json") -eq 1 ]] || fail "no final status line: $(cat "$tmp/watch2.log.json")"
# The kill was in the middle: the second worker had work left.
jq -e '.command == "lake watch" and .exit_code == 0 and .events > 0
  and .objects + .objects_failed == .events and .rows_failed == 0 and .rows_in == .rows_written
  and .lag == 0' "$tmp/watch2.log.json" >/dev/null ||
  fail "worker 2's final status (the kill came after the stream ended?): $(cat "$tmp/watch2.log.json")"
# The junk events were skipped (and committed) by one worker or the other.
skips=$((${skips1:-0} + $(jq .skipped "$tmp/watch2.log.json")))
((skips >= 2)) || fail "junk events not skipped ($skips skipped)"
grep -q "not a raw object name" "$lake/_failed/outside.jsonl" || fail "the climbing key was not queued"
[[ -e $raw/../outside.jsonl || -e $tmp/outside.jsonl ]] && fail "something was written outside the store"

# Expected rows per table from the raw input.
jq -r '.object + "_" + .type + " " + (.measurements | length | tostring)' "$tmp/gen.jsonl" |
  awk '{ n[$1] += $2 } END { for (t in n) print t, n[t] }' | sort >"$tmp/expected"
[[ -s $tmp/expected ]] || fail "no input"

# rows_per_table LAKE OUT: every row of every Parquet file, per table, and duplicate rows.
rows_per_table() {
  : >"$2"
  for d in "$1"/*/; do
    local t
    t=$(basename "$d")
    [[ $t == _* ]] && continue
    find "$d" -name '*.parquet' | sort | while read -r f; do
      "$FP" lake cat "$f" || fail "lake cat $f"
    done >"$tmp/rows.$t"
    dups=$(sort "$tmp/rows.$t" | uniq -d | wc -l)
    ((dups == 0)) || fail "$t: $dups rows more than once in $1"
    echo "$t $(wc -l <"$tmp/rows.$t")" >>"$2"
  done
  sort -o "$2" "$2"
}
rows_per_table "$lake" "$tmp/got"
diff "$tmp/expected" "$tmp/got" >&2 || fail "rows per table differ from the raw input (expected < > lake)"

# Values, not only counts: lake cat gives back what the devices sent (integers exact, doubles
# round-trip, booleans), compared as jq reads both sides.
jq -c 'select(.object == "vehicle" and .type == "kinematic") | . as $e | .measurements[]
  | [$e.id, $e.seq, .speed, .odometer, .lat, .lng, .engine_on]' "$tmp/gen.jsonl" | sort >"$tmp/kin.want"
jq -c '[.id, .seq, .speed, .odometer, .lat, .lng, .engine_on]' "$tmp/rows.vehicle_kinematic" | sort >"$tmp/kin.got"
cmp -s "$tmp/kin.want" "$tmp/kin.got" || {
  diff "$tmp/kin.want" "$tmp/kin.got" | head -4 >&2
  fail "vehicle_kinematic values differ from the raw input"
}

# Same files as a batch conversion of the same raw store.
"$FP" lake convert --from "file://$raw" --to "file://$ref" --status-format json >"$tmp/convert.json" 2>"$tmp/convert.log" ||
  fail "lake convert exited non-zero: $(cat "$tmp/convert.log")"
jq -e '.exit_code == 0 and .rows_failed == 0 and .rows_in == .rows_written' "$tmp/convert.json" >/dev/null ||
  fail "batch conversion failed rows: $(cat "$tmp/convert.json")"
(cd "$lake" && find . -name '*.parquet' | sort) >"$tmp/lake.files"
(cd "$ref" && find . -name '*.parquet' | sort) >"$tmp/ref.files"
cmp -s "$tmp/lake.files" "$tmp/ref.files" || {
  diff "$tmp/ref.files" "$tmp/lake.files" | head -5 >&2
  fail "watch made other files than lake convert"
}
rows_per_table "$ref" "$tmp/got.ref"
cmp -s "$tmp/got" "$tmp/got.ref" || fail "watch and convert have different row counts"

# Every raw object was announced and converted: one Parquet file at least per raw object.
nraw=$(find "$raw/raw" -name '*.jsonl' | wc -l)
nconv=$(find "$lake" -name '*.parquet' -exec basename {} .parquet \; | sort -u | wc -l)
[[ $nconv -eq $nraw ]] || fail "$nraw raw objects, $nconv converted"

# The catalog's tables give DDL for every table.
"$FP" lake ddl --to "file://$lake" >"$tmp/ddl.sql" || fail "lake ddl"
while read -r t _; do
  grep -q "CREATE EXTERNAL TABLE IF NOT EXISTS \`fleetpipe\`.\`$t\`" "$tmp/ddl.sql" || fail "no DDL for $t"
done <"$tmp/expected"
f=$(head -1 "$tmp/lake.files")
"$FP" lake schema "$lake/$f" | jq -e '.rows > 0 and (.columns | length) > 1' >/dev/null || fail "lake schema $f"

# An event of another store stops the worker (exit 1) instead of committing it unconverted.
printf '%s\n' '{"eventName":"ObjectCreated:Put","store":"s3://elsewhere/raw","key":"raw/x.jsonl"}' |
  kcat -P -b "$BS" -t "$events" 2>/dev/null || fail "kcat produce the foreign event"
rc=0
timeout 60 "$FP" lake watch --from "file://$raw" --to "file://$lake" --bootstrap-servers "$BS" \
  --topic "$events" --group lake-test --status-format json >"$tmp/watch3.json" 2>"$tmp/watch3.log" || rc=$?
[[ $rc -eq 1 || $rc -eq 2 ]] || fail "lake watch exited $rc on another store's event: $(tail -3 "$tmp/watch3.log")"
jq -e --argjson rc $rc '.exit_code == $rc and .events == 0 and (.error | test("is in store s3://elsewhere/raw"))' \
  "$tmp/watch3.json" >/dev/null || fail "no reason given: $(cat "$tmp/watch3.json") $(tail -3 "$tmp/watch3.log")"

rows=$(awk '{ s += $2 } END { print s }' "$tmp/got")
echo "lake_watch: ok ($nraw raw objects, $rows rows in $(wc -l <"$tmp/got") tables, exactly once after kill -9)"
