#!/usr/bin/env bash
# The lake watermark (docs/lake.md, "Watermark"): raw objects of two sources (fms.vehicle
# partitions 0 and 1, named as the objstore sink names them) are converted and the watermark in
# _catalog/_watermark.json, in every table's Parameters["fleetpipe.watermark"], in the final
# status and through the library reader equals the value jq computes from the raw rows alone:
# min over sources of (newest row time) - lateness. More objects move it forward; converting the
# same objects again changes nothing (late counts included); an object of old rows above its
# source's last offset counts them late; a hand-made object moves nothing; a source without a
# new object for --idle stops holding it back; and `lake watch` moves it the same way.
source "$(dirname "$0")/lib/connect.bash"

raw=$tmp/raw lake=$tmp/lake
dir=$raw/raw/fms.vehicle/dt=2026-03-03/hour=10
mkdir -p "$dir"
"$FP" sim --vehicles 6 --duration 40m --speedup max --seed 7 --start 2026-03-03T10:00:00Z \
  --anomaly-rate 0 --only vehicle/kinematic,vehicle/status,cargo/temperature \
  --target "file:$tmp/sim.jsonl" 2>/dev/null
# Per partition (even ids -> 0, odd -> 1), in order, cut into 4 objects of equal line counts;
# the object's start offset is its first line's index in the partition.
for p in 0 1; do
  jq -c --argjson p $p 'select(.id % 2 == $p)' "$tmp/sim.jsonl" >"$tmp/p$p.jsonl"
  n=$(wc -l <"$tmp/p$p.jsonl")
  q=$((n / 4))
  for k in 0 1 2 3; do
    from=$((k * q)) count=$q
    if ((k == 3)); then count=$((n - from)); fi
    sed -n "$((from + 1)),$((from + count))p" "$tmp/p$p.jsonl" >"$tmp/p$p.$k"
    printf -v "off_${p}_$k" '%020d' $from
  done
done
place() { cp "$tmp/p$1.$2" "$dir/fms.vehicle+$1+$(eval echo "\$off_$1_$2").jsonl"; }

# Independent: epoch ms of a row's partitioning time (timestamp_iso, else messaged_at).
JQ_T='def ms: capture("^(?<d>[^.+Z-]*-[^.+Z-]*-[^.+Z]*)(?<f>\\.[0-9]+)?(?<z>Z|[+-][0-9]{2}:[0-9]{2})$") as $c
  | (($c.d + "Z") | fromdateiso8601) * 1000 + (($c.f // ".0") | ("0" + .) | tonumber * 1000 | floor)
  - (if $c.z == "Z" then 0 else ($c.z[0:1] + "1" | tonumber) * (($c.z[1:3] | tonumber) * 3600 + ($c.z[4:6] | tonumber) * 60) * 1000 end);
  def rows: . as $m | if has("measurements") then .measurements[] | ($m + .) else . end;'
# newest_ms FILES...: the newest row time of these raw objects
newest_ms() { cat "$@" | jq -n "$JQ_T"' [inputs | rows | (.timestamp_iso // .messaged_at) | ms] | max'; }
late=600000
want() { echo $(($(printf '%s\n' "$@" | sort -n | head -1) - late)); }
iso() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%S.000Z; }
convert() {
  "$FP" lake convert --from "file://$raw" --to "file://$lake" --status-format json "$@" \
    >"$tmp/sum.json" 2>"$tmp/convert.log" || fail "convert: $(cat "$tmp/convert.log")"
}
# check WANT_MS: the document, every table's catalog parameter and the status agree with it
check() {
  local w=$1 i
  i=$(iso "$w")
  jq -e --argjson w "$w" '.watermark_ms == $w and ([.tables[].watermark_ms] | all(. == $w))' \
    "$lake/_catalog/_watermark.json" >/dev/null ||
    fail "watermark $(jq -c '[.watermark, (.tables | map_values(.watermark))]' "$lake/_catalog/_watermark.json"), want $i"
  for c in "$lake"/_catalog/[!_]*.json; do
    jq -e --arg i "$i" '.Parameters["fleetpipe.watermark"] == $i' "$c" >/dev/null ||
      fail "$(basename "$c"): Parameters say $(jq -c .Parameters "$c"), want $i"
  done
  jq -e --arg i "$i" '.watermark == $i' "$tmp/sum.json" >/dev/null || fail "status: $(cat "$tmp/sum.json"), want $i"
}

# 1. Two objects per source.
for k in 0 1; do place 0 $k; place 1 $k; done
convert
w1=$(want "$(newest_ms "$tmp"/p0.{0,1})" "$(newest_ms "$tmp"/p1.{0,1})")
check "$w1"
jq -e '.late_rows == 0' "$tmp/sum.json" >/dev/null || fail "late rows in an in-order conversion: $(cat "$tmp/sum.json")"

# 2. One more object per source: it moves forward.
place 0 2
place 1 2
convert
w2=$(want "$(newest_ms "$tmp"/p0.{0,1,2})" "$(newest_ms "$tmp"/p1.{0,1,2})")
((w2 > w1)) || fail "the expected watermark did not move ($w1 -> $w2): bad test data"
check "$w2"
# 3. Converting the same objects again: unchanged, nothing counted late.
cp "$lake/_catalog/_watermark.json" "$tmp/wm.before"
convert
check "$w2"
jq -e '.late_rows == 0' "$tmp/sum.json" >/dev/null || fail "a re-conversion counted late rows: $(cat "$tmp/sum.json")"
diff <(jq -S 'del(.UpdateTime)' "$tmp/wm.before") <(jq -S 'del(.UpdateTime)' "$lake/_catalog/_watermark.json") >&2 ||
  fail "a re-conversion changed the watermark document"

# 4. Late rows: an object above partition 0's last offset (180) holding its first message again.
sed -n 1p "$tmp/p0.0" >"$dir/fms.vehicle+0+00000000000000000250.jsonl"
nlate=$(sed -n 1p "$tmp/p0.0" | jq -n "$JQ_T"' [inputs | rows | select((.timestamp_iso // .messaged_at) | ms < '"$w2"')] | length')
((nlate > 0)) || fail "test data: the copied message has no row below the watermark"
convert
check "$w2"
jq -e --argjson n "$nlate" '.late_rows == $n' "$tmp/sum.json" >/dev/null || fail "late rows: $(cat "$tmp/sum.json"), want $nlate"
jq -e --argjson n "$nlate" '.late_rows == $n' "$lake/_catalog/_watermark.json" >/dev/null ||
  fail "_watermark.json late_rows $(jq .late_rows "$lake/_catalog/_watermark.json"), want $nlate"
convert # again: counted once
jq -e --argjson n "$nlate" '.late_rows == $n' "$lake/_catalog/_watermark.json" >/dev/null || fail "late rows counted twice"

# 5. A hand-made object (no <topic>+<partition>+<offset> name) with rows in the far future:
# converted, but it neither moves nor holds the watermark.
jq -c '.messaged_at = "2026-03-09T00:00:00Z" | del(.measurements) | .object = "vehicle" | .type = "status"' "$tmp/p0.0" |
  sed -n 1p >"$dir/hand-made.jsonl"
convert
check "$w2"
jq -e '.sources | keys == ["fms.vehicle+0", "fms.vehicle+1"]' "$lake/_catalog/_watermark.json" >/dev/null ||
  fail "sources: $(jq -c '.sources | keys' "$lake/_catalog/_watermark.json")"
rm "$dir/hand-made.jsonl"

# 6. Idle: partition 1 commits nothing new for longer than --idle; partition 0 goes on alone.
sleep 3
place 0 3
convert --idle 2s
w3=$(want "$(newest_ms "$tmp"/p0.*)")
check "$w3"
# and the library reader (the warehouse's entry point) through `lake convert`'s status agrees;
# a lake that has no watermark yet reads as null
"$FP" lake convert --from "file://$raw" --to "file://$tmp/empty" --until 2000-01-01T00:00:00Z \
  --status-format json 2>/dev/null | jq -e '.watermark == null' >/dev/null || fail "an empty lake has a watermark"
"$FP" lake ddl --to "file://$lake" | grep -q "_watermark" && fail "lake ddl made a table of _watermark.json"

# 7. lake watch moves it the same way: one new object of each source, announced as the objstore
# sink announces them.
start_broker 2
events=fleetpipe.lake.events
for p in 0 1; do
  key=raw/fms.vehicle/dt=2026-03-03/hour=11/fms.vehicle+$p+00000000000000200000.jsonl
  mkdir -p "$raw/${key%/*}"
  # the next object: the last quarter of the partition again, one hour later (local 19h -> 20h)
  sed 's/T19:/T20:/g' "$tmp/p$p.3" >"$raw/$key"
  printf '%s\n' "{\"eventName\":\"ObjectCreated:Put\",\"store\":\"file://$raw\",\"key\":\"$key\",\"topic\":\"fms.vehicle\",\"partition\":$p}" |
    kcat -P -b "$BS" -t "$events" 2>/dev/null || fail "kcat produce"
done
port=$(free_port)
"$FP" lake watch --from "file://$raw" --to "file://$lake" --bootstrap-servers "$BS" --topic "$events" \
  --group wm-test --metrics-listen "127.0.0.1:$port" --status-interval 1s --status-format json \
  >"$tmp/watch.json" 2>"$tmp/watch.log" &
wpid=$!
pids+=($wpid)
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
two() { [[ $(metric fleetpipe_lake_objects_converted_total) == 2 ]]; }
wait_for "lake watch converting 2 objects" 60 two
kill -TERM "$wpid"
wait "$wpid" || fail "lake watch: $(tail -3 "$tmp/watch.log")"
w4=$(want "$(newest_ms "$tmp"/p0.* "$raw"/raw/fms.vehicle/*/*/fms.vehicle+0+00000000000000200000.jsonl)" \
  "$(newest_ms "$tmp"/p1.* "$raw"/raw/fms.vehicle/*/*/fms.vehicle+1+00000000000000200000.jsonl)")
((w4 > w3)) || fail "test data: watch objects do not move the watermark ($w3 -> $w4)"
cp "$tmp/watch.json" "$tmp/sum.json"
check "$w4"
echo "lake_watermark: ok ($(iso "$w1") -> $(iso "$w2") -> idle $(iso "$w3") -> watch $(iso "$w4"), $nlate late rows)"
