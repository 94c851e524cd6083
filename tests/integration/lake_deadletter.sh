#!/usr/bin/env bash
# Dead letters become the lake table `deadletter`: through the dev broker, a real connector
# dead-letters bad records of fms.vehicle (error.class and source.* headers), kcat adds dead
# letters the way the bridge writes them (mqtt.topic) with hostile values (invalid UTF-8, 1 MiB
# of random bytes, an empty value, a tombstone, quotes and newlines); an objstore connector with
# format.envelope=true stores fms.deadletter in a file:// raw lake next to the telemetry, and
# `lake convert` turns it into Parquet. Proves: every envelope line is JSON and carries the exact
# bytes (base64 for the non-UTF-8 ones), every dead letter is one row (in = out), the rows per
# error_class (read by DuckDB through `lake ddl`'s view) equal the counts kcat reads from the
# topic's headers, value/value_bytes/device_id are what was sent, a second convert rewrites
# identical files, and the dead-letter sources neither feed nor hold the telemetry's watermark.
source "$(dirname "$0")/lib/connect.bash"
VERIFY=$FP_SRC/tests/verify

start_broker 2
raw=$tmp/raw
lake=$tmp/lake
mkdir -p "$raw"

# 1. Telemetry with bad records: the vehicle connector dead-letters what is not JSON or has no
#    parsable messaged_at (error.class "invalid", source.topic/partition/offset headers).
"$FP" sim --vehicles 4 --duration 10m --seed 11 --start 2026-03-03T10:00:00Z --speedup max \
  --target "kafka://$BS" 2>"$tmp/sim.log" || fail "sim"
cat >"$tmp/bad.jsonl" <<'JSONL'
dev-b1|{"object":"vehicle","type":"event","id":1,"device_id":"dev-b1","messaged_at":"yesterday","seq":1}
dev-b2|{"object":"vehicle", "broken":
dev-b3|[1,2,3]
JSONL
printf 'dev-b4|{"object":"vehicle","s":"\xff\xfe"}\n' >>"$tmp/bad.jsonl"
kcat -P -b "$BS" -t fms.vehicle -K'|' <"$tmp/bad.jsonl" 2>/dev/null || fail "kcat produce fms.vehicle"
connector_json vehicle-lake "$raw" '"flush.size": "100000", "rotate.schedule.interval.ms": "1000"'
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/vehicle-lake.json" --exit-when-idle 3s \
  --rest-listen "" >/dev/null 2>"$tmp/connect.log" || fail "vehicle connector"

# 2. Dead letters as the bridge writes them (kcat: one file per message), hostile values.
printf 'bad\xff\xfe bytes \xed\xa0\x80 surrogate' >"$tmp/v-invalid"
head -c 1048576 /dev/urandom >"$tmp/v-huge"
printf 'line1\nline2 "quoted" \\ back\r\n\t{"json":true}' >"$tmp/v-quotes"
printf '{"object":"vehicle","type":"kinematic","id":350,"device_id":"dev-000350","messaged_at":"2026-03-03T10:00:00Z","seq":1,"measurements":[]}' >"$tmp/v-spoofed"
kb() { kcat -P -b "$BS" -t fms.deadletter -X message.max.bytes=3000000 "$@" 2>/dev/null || fail "kcat produce fms.deadletter"; }
kb -k dev-000001 -H error.class=invalid_json -H 'error.message=offset 3: invalid UTF-8 byte 0xff "x"' \
  -H mqtt.topic=fms/dev-000001/vehicle/kinematic -H mqtt.received_at=2026-03-03T10:00:00Z "$tmp/v-invalid"
kb -k dev-000002 -H error.class=too_large -H 'error.message=1048576 bytes' \
  -H mqtt.topic=fms/dev-000002/vehicle/kinematic "$tmp/v-huge"
kb -k dev-000003 -H error.class=bad_field -H 'error.message=field "speed": not a number' \
  -H mqtt.topic=fms/dev-000003/cargo/temperature "$tmp/v-quotes"
kb -k dev-000999 -H error.class=spoofed_device -H 'error.message=device_id dev-000350 is not the topic device' \
  -H mqtt.topic=fms/dev-000999/vehicle/kinematic "$tmp/v-spoofed" "$tmp/v-spoofed"
# an empty value (stdin line "key|") and a tombstone (-Z: empty becomes NULL); no mqtt.topic
printf 'dev-000004|\n' | kb -K'|' -H error.class=invalid_json -H 'error.message=empty message'
printf 'dev-000005|\n' | kb -K'|' -Z -H error.class=unknown_object -H 'error.message=no value' \
  -H mqtt.topic=bogus/topic

# What the topic holds, read independently: per dead letter its class, value length (-1: null)
# and the mqtt.topic header.
kcat -C -b "$BS" -t fms.deadletter -e -q -f '%S\t%h\n' >"$tmp/topic.tsv" 2>/dev/null || fail "kcat consume"
ndl=$(wc -l <"$tmp/topic.tsv")
((ndl == 11)) || fail "expected 4 connector + 7 kcat dead letters on fms.deadletter, got $ndl: $(cut -c1-200 "$tmp/topic.tsv")"
awk -F'\t' '{ c = ""; if (match($2, /(^|,)error\.class=[a-z_]+/)) { c = substr($2, RSTART, RLENGTH); sub(/^,?error\.class=/, "", c) }
  print c "\t" $1 }' "$tmp/topic.tsv" | sort >"$tmp/expect.tsv"
cut -f1 "$tmp/expect.tsv" | sort | uniq -c | awk '{ print $2 "\t" $1 }' >"$tmp/expect.classes"
grep -q "^invalid	4$" "$tmp/expect.classes" || fail "the vehicle connector's dead letters: $(cat "$tmp/expect.classes")"

# 3. The dead-letter topic through its own connector with the envelope.
cat >"$tmp/dl-lake.json" <<JSON
{"name": "deadletter-lake", "config": {"connector.class": "objstore", "topics": "fms.deadletter",
 "store.url": "file://$raw", "format.envelope": "true", "flush.size": "4",
 "rotate.schedule.interval.ms": "1000"}}
JSON
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/dl-lake.json" --exit-when-idle 3s \
  --rest-listen "" --status-format json >"$tmp/dl.status" 2>>"$tmp/connect.log" || fail "dead-letter connector"
jq -e '.exit_code == 0' "$tmp/dl.status" >/dev/null || fail "dead-letter connector status: $(cat "$tmp/dl.status")"
lake_lines "$raw/raw/fms.deadletter" >"$tmp/env.jsonl"
[[ $(wc -l <"$tmp/env.jsonl") -eq $ndl ]] || fail "$(wc -l <"$tmp/env.jsonl") envelope lines for $ndl dead letters"
jq -e -s 'length == '"$ndl"' and all(.[]; (.topic == "fms.deadletter") and (.offset | type == "number")
  and (.timestamp | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")) and (.headers | type == "object"))' \
  "$tmp/env.jsonl" >/dev/null || fail "envelope lines are not what docs/connect.md says: $(head -c 600 "$tmp/env.jsonl")"
# exact bytes: base64 exactly for the values that are not UTF-8; text for the rest
for v in invalid huge; do
  jq -r --arg c "$([[ $v == invalid ]] && echo invalid_json || echo too_large)" \
    'select(.headers["error.class"] == $c and .value_encoding == "base64") | .value' "$tmp/env.jsonl" |
    base64 -d | cmp -s - "$tmp/v-$v" || fail "the $v value did not survive the envelope byte for byte"
done
jq -j 'select(.headers["error.class"] == "bad_field") | .value' "$tmp/env.jsonl" | cmp -s - "$tmp/v-quotes" ||
  fail "the quotes/newlines value did not survive the envelope"
jq -e -s '[.[] | select(.value == null)] | length == 1' "$tmp/env.jsonl" >/dev/null || fail "the tombstone is not value null"
jq -e -s '[.[] | select(.value == "" and .key == "dev-000004")] | length == 1' "$tmp/env.jsonl" >/dev/null ||
  fail "the empty value is not \"\""

# 4. lake convert over the whole raw store (telemetry and dead letters), twice.
"$FP" lake convert --from "file://$raw" --to "file://$lake" --status-format json >"$tmp/sum.json" 2>"$tmp/convert.log" ||
  fail "convert: $(cat "$tmp/convert.log")"
jq -e '.rows_in == .rows_written + .rows_failed and .rows_failed == 0' "$tmp/sum.json" >/dev/null ||
  fail "convert counts: $(cat "$tmp/sum.json")"
dl_rows=$(jq '[.Partitions[].Parameters.numRows | tonumber] | add' "$lake/_catalog/deadletter.json")
[[ $dl_rows -eq $ndl ]] || fail "catalog of deadletter lists $dl_rows rows for $ndl dead letters"
find "$lake/deadletter" -name '*.parquet' | sort | xargs sha256sum >"$tmp/sums1"
"$FP" lake convert --from "file://$raw" --to "file://$lake" >/dev/null 2>>"$tmp/convert.log" || fail "second convert"
find "$lake/deadletter" -name '*.parquet' | sort | xargs sha256sum | cmp -s - "$tmp/sums1" ||
  fail "a second convert changed the deadletter files"
"$FP" lake schema "$(find "$lake/deadletter" -name '*.parquet' | head -1)" |
  jq -e '[.columns[] | "\(.name):\(.type)"] == ["received_at:timestamp", "error_class:string",
    "error_message:string", "source_topic:string", "source_partition:bigint", "source_offset:bigint",
    "mqtt_topic:string", "device_id:string", "value_bytes:bigint", "value:string"]' >/dev/null ||
  fail "deadletter columns: $("$FP" lake schema "$(find "$lake/deadletter" -name '*.parquet' | head -1)")"
[[ ! -e $lake/vehicle_kinematic/dt=2026-03-03/hour=10/fms.deadletter+0+00000000000000000000.parquet ]] ||
  fail "a dead letter was routed into vehicle_kinematic"

# 5. DuckDB reads the table through the view `lake ddl` prints.
"$FP" lake ddl --to "file://$lake" --table deadletter >"$tmp/ddl.sql" 2>>"$tmp/convert.log" || fail "ddl"
duck() {
  node --input-type=module -e "
import { createRequire } from 'node:module';
const require = createRequire('$VERIFY/package.json');
const { DuckDBInstance } = require('@duckdb/node-api');
const fs = require('node:fs');
const db = await (await DuckDBInstance.create(':memory:')).connect();
const view = fs.readFileSync('$tmp/ddl.sql', 'utf8').split(';').map((s) => s.replace(/^--.*\$/gm, '').trim()).find((s) => /^CREATE OR REPLACE VIEW/i.test(s));
await db.run(view);
for (const r of (await db.runAndReadAll(process.argv[1])).getRowObjects()) console.log(Object.values(r).map((v) => v === null ? 'NULL' : String(v)).join('\t'));" "$1"
}
duck "SELECT error_class, count(*) FROM deadletter GROUP BY 1 ORDER BY 1" >"$tmp/got.classes" || fail "DuckDB: $(cat "$tmp/got.classes")"
sort "$tmp/expect.classes" | cmp -s - "$tmp/got.classes" ||
  fail "rows per error_class differ: topic $(tr '\n\t' ' =' <"$tmp/expect.classes") lake $(tr '\n\t' ' =' <"$tmp/got.classes")"
# in = out, row by row: (class, value length) of every dead letter, as a multiset
duck "SELECT error_class, coalesce(value_bytes, -1) FROM deadletter" | sort >"$tmp/got.tsv"
cmp -s "$tmp/expect.tsv" "$tmp/got.tsv" || fail "rows differ from the dead letters: $(diff "$tmp/expect.tsv" "$tmp/got.tsv" | head -5)"
duck "SELECT count(*) FROM deadletter WHERE error_class = 'invalid' AND source_topic = 'fms.vehicle'
      AND source_partition IS NOT NULL AND source_offset IS NOT NULL AND mqtt_topic IS NULL AND device_id IS NULL" |
  grep -qx 4 || fail "the connector's dead letters lack source.* columns"
duck "SELECT value_bytes, strlen(value) <= 4096, value LIKE 'bad' || chr(65533) || '%', device_id
      FROM deadletter WHERE error_class IN ('invalid_json', 'too_large') AND value_bytes > 0 ORDER BY 1" >"$tmp/hostile"
printf '%s\ttrue\ttrue\tdev-000001\n1048576\ttrue\tfalse\tdev-000002\n' "$(stat -c %s "$tmp/v-invalid")" |
  cmp -s - "$tmp/hostile" || fail "invalid UTF-8 / huge rows: $(cat "$tmp/hostile")"
duck "SELECT value = '$(sed "s/'/''/g" "$tmp/v-quotes")', device_id, mqtt_topic FROM deadletter WHERE error_class = 'bad_field'" |
  grep -qxP 'true\tdev-000003\tfms/dev-000003/cargo/temperature' || fail "the quotes/newlines row: $(duck "SELECT value FROM deadletter WHERE error_class = 'bad_field'")"
duck "SELECT value_bytes, value = '', device_id FROM deadletter WHERE error_class = 'invalid_json' AND value_bytes = 0" |
  grep -qxP '0\ttrue\tNULL' || fail "the empty value's row"
duck "SELECT count(*) FROM deadletter WHERE error_class = 'unknown_object' AND value IS NULL AND value_bytes IS NULL
      AND mqtt_topic = 'bogus/topic' AND device_id IS NULL" | grep -qx 1 || fail "the tombstone's row"

# 6. The watermark: fms.deadletter feeds only its table, and not the lake-wide value.
wm=$lake/_catalog/_watermark.json
jq -e '.tables.deadletter.topics == ["fms.deadletter"] and .tables.deadletter.watermark_ms != null
  and ([.tables | to_entries[] | select(.key != "deadletter") | .value.topics[] | select(. == "fms.deadletter")] | length == 0)
  and ([.sources[] | select(.topic == "fms.deadletter") | .deadletter] | length > 0 and all)
  and .watermark_ms == ([.sources[] | select(.deadletter != true) | .newest_ms] | min) - .lateness_ms' "$wm" >/dev/null ||
  fail "watermark: $(jq -c '{watermark_ms, tables, sources: (.sources | map_values({topic, newest_ms, deadletter}))}' "$wm")"
echo "ok: $ndl dead letters = $dl_rows rows, per class $(tr '\n\t' ' =' <"$tmp/got.classes"), envelope bytes exact, idempotent, watermark"

# 7. The loop the old raw-lake example allowed: reading the dead-letter topic while dead-lettering
#    into it is refused at config time (a rejected dead letter would come back forever).
cat >"$tmp/loop.json" <<JSON
{"name": "loop", "connector.class": "objstore", "topics.regex": "fms\\\\..*", "store.url": "file://$tmp/loop",
 "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "fms.deadletter"}
JSON
rc=0
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/loop.json" --exit-when-idle 1s --rest-listen "" \
  >/dev/null 2>"$tmp/loop.log" || rc=$?
[[ $rc -eq 2 ]] && grep -q "one of the connector's own topics" "$tmp/loop.log" ||
  fail "a connector dead-lettering into its own topic was not refused (exit $rc): $(cat "$tmp/loop.log")"
echo "ok: own dead-letter topic refused"
