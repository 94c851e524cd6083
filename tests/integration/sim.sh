#!/usr/bin/env bash
# fleetpipe sim without a broker: determinism (same seed and start, same bytes; threads change
# only the interleaving), the summary, replay with --multiply, the Kafka target (topic by
# object, key = device_id, every message acknowledged), provision files, and flag errors.
source "$(dirname "$0")/lib/connect.bash"

run=(--vehicles 8 --duration 30m --seed 3 --start 2026-05-01T22:30:00Z --anomaly-rate 0.05)
"$FP" sim "${run[@]}" --speedup max --target "file:$tmp/a.jsonl" --truth "$tmp/a.truth" \
  --status-format json >"$tmp/a.status" 2>"$tmp/a.log"
"$FP" sim "${run[@]}" --speedup max --threads 3 --target - --truth "$tmp/b.truth" >"$tmp/b.jsonl" 2>/dev/null
cmp -s <(sort "$tmp/a.jsonl") <(sort "$tmp/b.jsonl") || fail "threads changed the messages"
cmp -s <(sort "$tmp/a.truth") <(sort "$tmp/b.truth") || fail "threads changed the truth"
"$FP" sim "${run[@]}" --speedup max --threads 2 --target "file:$tmp/c.jsonl" 2>/dev/null
cmp -s "$tmp/a.jsonl" <("$FP" sim "${run[@]}" --speedup max 2>/dev/null) || fail "two runs differ"
"$FP" sim "${run[@]/--seed 3/}" --seed 4 --speedup max --target "file:$tmp/d.jsonl" 2>/dev/null
cmp -s "$tmp/a.jsonl" "$tmp/d.jsonl" && fail "seed 4 gave the bytes of seed 3"

# The final status (--status-format json) names every protocol and reconciles with the output.
n=$(wc -l <"$tmp/a.jsonl")
jq -e --argjson n "$n" '.command == "sim" and .exit_code == 0 and .messages == $n and .published == $n and .failed == 0' \
  "$tmp/a.status" >/dev/null || fail "status: $(cat "$tmp/a.status")"
for p in vehicle/kinematic vehicle/status cargo/temperature blackbox/status; do
  jq -e --arg p "$p" '.protocols[$p].messages > 0 and .protocols[$p].samples > 0' "$tmp/a.status" >/dev/null ||
    fail "status lacks $p: $(cat "$tmp/a.status")"
done
jq -e '[.protocols[].messages] | add == input.messages' "$tmp/a.status" "$tmp/a.status" >/dev/null ||
  fail "protocol messages do not add up: $(cat "$tmp/a.status")"
truth=$(grep -vc '"kind":"summary"' "$tmp/a.truth" || true) # anomaly lines; summaries follow
jq -e --argjson t "$truth" '.anomalies == $t and ([.anomalies_by_kind[]] | add) == $t' "$tmp/a.status" >/dev/null ||
  fail "status anomalies != $truth truth lines: $(cat "$tmp/a.status")"
# The daily ground truth: one summary line per vehicle per local day, after the anomaly lines.
jq -e -s '[.[] | select(.kind == "summary")] | length == 8 and all(.day == "2026-05-02" and .whole_day == false)' \
  "$tmp/a.truth" >/dev/null || fail "summary lines: $(grep summary "$tmp/a.truth" | head -2)"
# The summary text is still there for people.
grep -q "messages $n, published $n, failed 0" "$tmp/a.log" || fail "summary: $(cat "$tmp/a.log")"
# With --target - stdout carries the messages, so the status goes to stderr.
"$FP" sim "${run[@]}" --speedup max --status-format json 2>"$tmp/s.err" | cmp -s - "$tmp/a.jsonl" ||
  fail "--status-format json changed stdout"
tail -1 "$tmp/s.err" | jq -e --argjson n "$n" '.published == $n' >/dev/null || fail "no status on stderr: $(tail -2 "$tmp/s.err")"
# Per device, seq runs 1.. without gaps over all protocols (a run without anomalies).
"$FP" sim --vehicles 8 --duration 30m --seed 3 --start 2026-05-01T22:30:00Z --speedup max >"$tmp/clean.jsonl" 2>/dev/null
gaps=$(jq -c '[.device_id, .seq]' "$tmp/clean.jsonl" | jq -s -r '
  group_by(.[0]) | map((map(.[1]) | unique) as $s | select($s != [range(1; ($s | max) + 1)])) | length')
[[ $gaps -eq 0 ]] || fail "$gaps devices with seq gaps"
# Times are local (+09:00) and UTC partitions follow from them; the run crosses midnight UTC+9.
jq -R 'fromjson? | .messaged_at' -r "$tmp/a.jsonl" | grep -v '+09:00$' | grep -v '^null$' | head -1 |
  grep -q . && fail "messaged_at without the +09:00 offset"

# Real time: --speedup 600 runs 30 simulated minutes in about 3 s.
start=$SECONDS
"$FP" sim --vehicles 2 --duration 30m --speedup 600 --seed 1 --start 2026-05-01T00:00:00Z >/dev/null 2>&1
((SECONDS - start >= 2)) || fail "speedup 600 finished 30 minutes in under 2 s"

# Replay with cloning: 3x the messages, new device ids, shifted times, valid JSON.
jq -c 'select(.type == "kinematic")' "$tmp/clean.jsonl" | awk 'NR <= 20' >"$tmp/capture.jsonl"
printf 'not json\n' >>"$tmp/capture.jsonl"
"$FP" sim --replay "$tmp/capture.jsonl" --multiply 3 --speedup max --target "file:$tmp/r.jsonl" 2>"$tmp/r.log"
[[ $(wc -l <"$tmp/r.jsonl") -eq 60 ]] || fail "replay x3 of 20 gave $(wc -l <"$tmp/r.jsonl")"
grep -q "capture.jsonl:21" "$tmp/r.log" || fail "the bad replay line was not reported with its place"
[[ $(jq -r .device_id "$tmp/r.jsonl" | sort -u | wc -l) -eq $((3 * $(jq -r .device_id "$tmp/capture.jsonl" 2>/dev/null | sort -u | wc -l))) ]] ||
  fail "clones do not have their own device ids"
head -20 "$tmp/capture.jsonl" | sort >"$tmp/orig"
jq -c 'select(.id < 1000000)' "$tmp/r.jsonl" | sort | cmp -s - "$tmp/orig" || fail "clone 0 is not the original, byte for byte"

# Kafka: fms.<object>, key = device_id, all acknowledged.
start_broker 4
"$FP" sim --vehicles 4 --duration 20m --speedup max --seed 9 --start 2026-05-02T00:00:00Z \
  --target "kafka://$BS" 2>"$tmp/k.log" || fail "sim to Kafka: $(cat "$tmp/k.log")"
sent=$(sed -n 's/.*published \([0-9]*\),.*/\1/p' "$tmp/k.log")
got=0
for o in vehicle cargo blackbox device; do
  bad=$(kcat -C -b "$BS" -t "fms.$o" -e -q -X fetch.wait.max.ms=10 -f '%k\t%s\n' 2>/dev/null |
    jq -R --arg o "$o" 'split("\t") | (.[1] | fromjson) as $m | select($m.object != $o or $m.device_id != .[0])' | head -2)
  [[ -z $bad ]] || fail "fms.$o: $bad"
  got=$((got + $(kcat -C -b "$BS" -t "fms.$o" -e -q -X fetch.wait.max.ms=10 -f 'x\n' 2>/dev/null | wc -l)))
done
[[ $got -eq $sent ]] || fail "Kafka holds $got of $sent"

# provision: mosquitto's $7$ format (mosquitto accepting it is tested in mqtt_security.sh).
"$FP" sim provision --vehicles 3 --first-id 41 --out "$tmp/p" 2>/dev/null
grep -Eq '^dev-000041:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$' "$tmp/p/passwd" || fail "passwd format: $(head -1 "$tmp/p/passwd")"
[[ $(cut -d: -f1 "$tmp/p/passwd" | tr '\n' ' ') == "dev-000041 dev-000042 dev-000043 fleetpipe-bridge fleetpipe-api " ]] ||
  fail "passwd should hold 3 devices, the bridge and the API: $(cut -d: -f1 "$tmp/p/passwd" | tr '\n' ' ')"
for f in devices bridge api; do
  [[ $(stat -c %a "$tmp/p/$f.secret") == 600 ]] || fail "$f.secret is not 0600"
done
[[ $(wc -l <"$tmp/p/api.secret") -eq 1 && $(wc -c <"$tmp/p/api.secret") -eq 23 ]] || fail "api.secret: one 22-character password"
[[ $(cut -d: -f1 "$tmp/p/devices.secret" | tr '\n' ' ') == "dev-000041 dev-000042 dev-000043 " ]] || fail "devices.secret ids"

# Flag errors name the flag and exit 2.
for bad in "--speedup fast" "--anomaly-rate 2" "--anomalies gps_jmp" "--target ftp://x" "--only vehicle/nope" "--start yesterday"; do
  rc=0
  # shellcheck disable=SC2086
  "$FP" sim $bad --duration 1m >/dev/null 2>"$tmp/err" || rc=$?
  [[ $rc -eq 2 ]] || fail "sim $bad exited $rc"
  grep -q "fleetpipe sim: " "$tmp/err" || fail "sim $bad: no message"
done
# A --duration shorter than every send interval (60 s+) still sends what was sampled.
"$FP" sim --vehicles 3 --duration 60s --speedup max --status-format json 2>"$tmp/short.json" >"$tmp/short.jsonl"
jq -e '.published > 0 and .published == .messages and .exit_code == 0' <(tail -1 "$tmp/short.json") >/dev/null ||
  fail "60 s run published nothing: $(tail -1 "$tmp/short.json")"
[[ $(wc -l <"$tmp/short.jsonl") -eq $(tail -1 "$tmp/short.json" | jq .published) ]] || fail "short run: lines != published"

# Daily ground truth across local midnight (+09:00): 21:00 on May 1 to 03:00 on May 3, so May 2
# is whole and the two ends are partial days. The model's own distance and door openings agree
# with what the emitted samples show (odometer deltas between the days' first samples; door_open
# false -> true in cargo samples), deterministically, whatever the threads.
day=(--vehicles 4 --duration 30h --seed 9 --start 2026-05-01T12:00:00Z --anomaly-rate 0 --speedup max)
"$FP" sim "${day[@]}" --target "file:$tmp/day.jsonl" --truth "$tmp/day.truth" 2>/dev/null
"$FP" sim "${day[@]}" --threads 3 --target "file:$tmp/day2.jsonl" --truth "$tmp/day2.truth" 2>/dev/null
cmp -s "$tmp/day.truth" "$tmp/day2.truth" || fail "the daily truth differs between runs of one seed"
jq -e -s 'length == 12 and (group_by(.id) | all(map(.day) == ["2026-05-01", "2026-05-02", "2026-05-03"]
  and map(.whole_day) == [false, true, false])) and ([.[] | select(.day == "2026-05-02") | .distance_km] | add > 50)' \
  "$tmp/day.truth" >/dev/null || fail "daily truth: $(cat "$tmp/day.truth")"
# odometer: per device and local day, the first sample's odometer; a day drove up to the next
# day's first sample (the last day: to the last sample)
jq -c 'select(.type == "kinematic") | .device_id as $d | .measurements[] | [$d, .timestamp_iso, .odometer]' \
  "$tmp/day.jsonl" | jq -s -c 'group_by(.[0]) | map(sort_by(.[1]) as $s | ($s | group_by(.[1][0:10])) as $g
  | [range(0; $g | length) as $i | {device_id: $s[0][0], day: $g[$i][0][1][0:10],
     km: ((if $i + 1 < ($g | length) then $g[$i + 1][0][2] else $g[$i][-1][2] end) - $g[$i][0][2])}]) | add' >"$tmp/odo.json"
jq -e -s --slurpfile o "$tmp/odo.json" '($o[0] | map({key: "\(.device_id) \(.day)", value: .km}) | from_entries) as $km
  | all(.[]; (($km["\(.device_id) \(.day)"] // -1) - .distance_km | fabs) < 0.01)' "$tmp/day.truth" >/dev/null ||
  fail "distance_km differs from the odometer: $(jq -c . "$tmp/odo.json") vs $(jq -c '[.device_id, .day, .distance_km]' "$tmp/day.truth")"
# door openings: false -> true in zone 1's cargo samples (every zone reports the one door)
jq -c 'select(.type == "temperature") | .device_id as $d | .measurements[] | select(.zone == 1) | [$d, .timestamp_iso, .door_open]' \
  "$tmp/day.jsonl" | jq -s -c 'group_by(.[0]) | map(sort_by(.[1]) | . as $s
  | [range(0; length) | select($s[.][2] and (. == 0 or ($s[. - 1][2] | not))) | $s[.]]
  | map({key: "\(.[0]) \(.[1][0:10])", value: 1})) | add | group_by(.key) | map({key: .[0].key, value: length}) | from_entries' >"$tmp/doors.json"
jq -e -s --slurpfile d "$tmp/doors.json" 'all(.[]; ($d[0]["\(.device_id) \(.day)"] // 0) == .door_openings)
  and ([.[].door_openings] | add) > 0' "$tmp/day.truth" >/dev/null ||
  fail "door_openings differ from the cargo samples: $(cat "$tmp/doors.json") vs $(jq -c '[.device_id, .day, .door_openings]' "$tmp/day.truth")"
echo "ok: determinism, summary, replay, Kafka, provision, flag errors"
