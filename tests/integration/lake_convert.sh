#!/usr/bin/env bash
# fleetpipe lake convert / retry / ddl on file:// stores, checked by tests/verify/lakecheck.mjs
# (DuckDB and hyparquet, no fleetpipe code): raw objects of simulated telemetry with anomalies,
# the hand-written edge cases of tests/data/lake/edge.jsonl, a zstd object and a corrupt one.
# Proves: every row is in the lake exactly once or in _failed with its reason (counts reconcile),
# every value and null is what the raw JSON said, a second run rewrites identical files, --since/
# --until select objects by their dt=/hour= partition, `lake retry` converts an object that was
# unreadable, and the DuckDB DDL from `lake ddl` reads the whole lake.
source "$(dirname "$0")/lib/connect.bash"
VERIFY=$FP_SRC/tests/verify
check() { node --harmony-json-parse-with-source "$VERIFY/lakecheck.mjs" "$@"; }

raw=$tmp/raw
d10=$raw/fms.vehicle/dt=2026-03-03/hour=10
d11=$raw/fms.vehicle/dt=2026-03-03/hour=11
mkdir -p "$d10" "$d11"
"$FP" sim --vehicles 5 --duration 20m --speedup max --seed 3 --start 2026-03-03T10:40:00Z \
  --anomaly-rate 0.05 --anomalies malformed_json,missing_field,time_skew,duplicate \
  --target "file:$tmp/sim.jsonl" 2>"$tmp/sim.log"
n=$(wc -l <"$tmp/sim.jsonl")
head -n $((n / 2)) "$tmp/sim.jsonl" >"$d10/fms.vehicle+0+00000000000000000000.jsonl"
tail -n +$((n / 2 + 1)) "$tmp/sim.jsonl" | zstd -q -o "$d11/fms.vehicle+0+00000000000000001000.jsonl.zst"
cp "$FP_SRC/tests/data/lake/edge.jsonl" "$d11/fms.vehicle+1+00000000000000000000.jsonl"
printf '{"object":"vehicle","type":"edge","id":1,"s":"\xff\xfe"}\n' >>"$d11/fms.vehicle+1+00000000000000000000.jsonl"
head -c 5000 /dev/urandom >"$d11/fms.vehicle+2+00000000000000000000.jsonl.zst"
# a zstd object cut in half: refused whole, never half-converted
cut=$d11/fms.vehicle+3+00000000000000000000.jsonl.zst
head -n 40 "$tmp/sim.jsonl" | zstd -q -o "$cut"
truncate -s $(($(stat -c %s "$cut") / 2)) "$cut"

lake=$tmp/lake
"$FP" lake convert --from "file://$raw" --to "file://$lake" --status-format json >"$tmp/sum.json" 2>"$tmp/convert.log" ||
  fail "convert failed: $(cat "$tmp/convert.log")"
[[ $(wc -l <"$tmp/sum.json") -eq 1 ]] || fail "--status-format json printed more than one line: $(cat "$tmp/sum.json")"
jq -e '.command == "lake convert" and .exit_code == 0 and .objects == 3 and .objects_failed == 2
  and .rows_in == .rows_written + .rows_failed and .rows_failed > 0 and .rows_written > 1000
  and .files > 0 and .bytes > 0' \
  "$tmp/sum.json" >/dev/null || fail "counts do not reconcile: $(cat "$tmp/sum.json")"
[[ -f $lake/_failed/fms.vehicle+2+00000000000000000000.jsonl ]] || fail "the corrupt object was not queued"
jq -e 'select(.object == true) | .reason | test("zstd")' "$lake/_failed/fms.vehicle+2+00000000000000000000.jsonl" >/dev/null ||
  fail "the corrupt object's entry has no zstd reason"
jq -e 'select(.object == true) | .reason | test("truncated")' "$lake/_failed/fms.vehicle+3+00000000000000000000.jsonl" >/dev/null ||
  fail "the truncated object was not queued whole: $(cat "$lake/_failed/fms.vehicle+3+00000000000000000000.jsonl")"
mv "$d11/fms.vehicle+2+00000000000000000000.jsonl.zst" "$tmp/corrupt.zst" # lakecheck reads raw/
mv "$d11/fms.vehicle+3+00000000000000000000.jsonl.zst" "$tmp/cut.zst"
out=$(check "$raw" "$lake") || fail "lakecheck: $out"
jq -e --argjson s "$(cat "$tmp/sum.json")" '.rows_in == $s.rows_in and .rows_failed == $s.rows_failed' <<<"$out" >/dev/null ||
  fail "lakecheck $out disagrees with the summary $(cat "$tmp/sum.json")"

# The edge cases fail for the reasons they were written for.
edge=$lake/_failed/fms.vehicle+1+00000000000000000000.jsonl
jq -r .reason "$edge" >"$tmp/reasons"
for why in 'field "speed": string value in a double column' 'field "flag": bigint value in a boolean column' \
  'timestamp_iso: timestamp "not a time"' 'no string "timestamp_iso" or "messaged_at" to partition by' 'do not make a table name' \
  'is an object, not an array' 'element 1 is a number' 'field "requested_at": timestamp "yesterday"' 'invalid JSON' \
  'field "dt": field name is a partition key' 'field "Speed": field name differs only in case' \
  'empty or NUL in the field name' 'field "note": lone surrogate in the string' 'lone surrogate in the field name' \
  'invalid UTF-8 byte 0xff'; do
  grep -qF "$why" "$tmp/reasons" || fail "no failed row says '$why': $(cat "$tmp/reasons")"
done
[[ $(jq -s length "$edge") -eq 18 ]] || fail "edge.jsonl: $(jq -s length "$edge") failed rows, want 18"
jq -s -e 'map(select(.message_b64) | .message_b64 | @base64d | test("\"s\":")) == [true]' "$edge" >/dev/null ||
  fail "the non-UTF-8 message is not kept as message_b64"
grep -c '"deep"' "$edge" >/dev/null || fail "the deeply nested row is not queued"
jq -e '.StorageDescriptor.Columns | map({(.Name): .Type}) | add |
  .speed == "double" and .big == "bigint" and .nested == "string" and .timestamp_iso == "timestamp"
  and .messaged_at == "timestamp" and .flag == "boolean" and .["k\u00e9y"] == "string"' \
  "$lake/_catalog/vehicle_edge.json" >/dev/null || fail "vehicle_edge catalog: $(cat "$lake/_catalog/vehicle_edge.json")"

# Idempotent: a second run writes byte-identical files, and no new ones.
(cd "$lake" && find . -name '*.parquet' | sort | xargs sha256sum) >"$tmp/run1.sha"
"$FP" lake convert --from "file://$raw" --to "file://$lake" >/dev/null 2>>"$tmp/convert.log" || fail "second run failed"
(cd "$lake" && find . -name '*.parquet' | sort | xargs sha256sum) >"$tmp/run2.sha"
diff "$tmp/run1.sha" "$tmp/run2.sha" >&2 || fail "a second run changed the lake"
out=$(check "$raw" "$lake") || fail "lakecheck after the second run: $out"

# Retry: the unreadable object, now repaired, converts; its queue entry goes away.
tail -n 3 "$tmp/sim.jsonl" >"$d11/fms.vehicle+2+00000000000000000000.jsonl"
mv "$lake/_failed/fms.vehicle+2+00000000000000000000.jsonl" "$tmp/q.jsonl"
jq -c '.source = "fms.vehicle/dt=2026-03-03/hour=11/fms.vehicle+2+00000000000000000000.jsonl"' "$tmp/q.jsonl" \
  >"$lake/_failed/fms.vehicle+2+00000000000000000000.jsonl"
"$FP" lake retry --from "file://$raw" --to "file://$lake" --status-format json >"$tmp/retry.json" 2>>"$tmp/convert.log" || fail "retry failed"
jq -e '.command == "lake retry" and .exit_code == 0 and .objects == 1 and .objects_failed == 1
  and .rows_failed >= 18 and .rows_in == .rows_written + .rows_failed' "$tmp/retry.json" >/dev/null ||
  fail "retry status: $(cat "$tmp/retry.json")"
[[ ! -e $lake/_failed/fms.vehicle+2+00000000000000000000.jsonl ]] || fail "the repaired object is still queued"
out=$(check "$raw" "$lake") || fail "lakecheck after retry: $out"
# The edge rows failed again, one attempt later, and wrote no retry file; the row nested too deep
# to re-run once wrapped is kept as it was (attempt 1), never dropped.
[[ $(jq -s length "$edge") -eq 18 ]] || fail "retry changed the queue to $(jq -s length "$edge") rows"
[[ $(jq -s 'map(select(.attempt == 2)) | length' "$edge") -eq 17 ]] || fail "edge rows not at attempt 2: $(jq -c .attempt "$edge" | tr '\n' ' ')"
jq -s -e 'map(select(.attempt == 1)) | length == 1 and (.[0].row.deep | type == "array")' "$edge" >/dev/null ||
  fail "the deep row was not carried over"
find "$lake" -name '*.retry-*' | grep -q . && fail "a retry file was written for rows that fail again"

# A queue entry whose attempt or line is not a whole number is an error naming the file, the
# entry and the field (not read as 0); the file stays queued as it was, the others still run.
bad=$tmp/badq
mkdir -p "$bad/_failed"
printf '%s\n' '{"source":"fms.vehicle/x.jsonl","line":4,"attempt":1,"reason":"r","message":"{}"}' \
  '{"source":"fms.vehicle/x.jsonl","line":"7","attempt":1,"reason":"r","message":"{}"}' >"$bad/_failed/a.jsonl"
printf '%s\n' '{"source":"fms.vehicle/y.jsonl","line":1,"attempt":1.5,"reason":"r","message":"{}"}' >"$bad/_failed/b.jsonl"
cp -r "$bad/_failed" "$tmp/badq.before"
"$FP" lake retry --from "file://$raw" --to "file://$bad" --status-format json >"$tmp/badq.json" 2>"$tmp/badq.log" ||
  fail "retry of bad entries exited non-zero: $(cat "$tmp/badq.log")"
jq -e '.exit_code == 0 and .rows_in == 0 and .objects == 0' "$tmp/badq.json" >/dev/null || fail "bad entries were re-run: $(cat "$tmp/badq.json")"
grep -qF '_failed/a.jsonl, entry 2: "line" is "7", not a whole number' "$tmp/badq.log" || fail "bad line not reported: $(cat "$tmp/badq.log")"
grep -qF '_failed/b.jsonl, entry 1: "attempt" is 1.5, not a whole number' "$tmp/badq.log" || fail "bad attempt not reported: $(cat "$tmp/badq.log")"
diff -r "$tmp/badq.before" "$bad/_failed" >&2 || fail "a queue file with a bad entry was changed"

# --since/--until pick objects by partition: only hour 10 here.
"$FP" lake convert --from "file://$raw" --to "file://$tmp/lake10" --since 2026-03-03T10:00:00Z \
  --until 2026-03-03T11:00:00Z --status-format json >"$tmp/sum10.json" 2>>"$tmp/convert.log" || fail "convert --since failed"
[[ $(jq .objects "$tmp/sum10.json") -eq 1 ]] || fail "--since/--until converted $(jq .objects "$tmp/sum10.json") objects, want 1"

# The catalog records the codec the files were written with (Parameters.compressionType) and
# the Athena DDL says the same: ZSTD by default, SNAPPY for --codec snappy, no property for none.
jq -e -s 'map(.Parameters.compressionType == "zstd") | all' "$lake"/_catalog/[!_]*.json >/dev/null ||
  fail "the default lake's catalog does not record zstd"
for codec in snappy none; do
  "$FP" lake convert --from "file://$raw" --to "file://$tmp/lake-$codec" --codec $codec \
    --since 2026-03-03T10:00:00Z --until 2026-03-03T11:00:00Z >/dev/null 2>>"$tmp/convert.log" ||
    fail "convert --codec $codec failed"
  jq -e -s --arg c $codec 'length > 0 and (map(.Parameters.compressionType == $c) | all)' \
    "$tmp/lake-$codec"/_catalog/[!_]*.json >/dev/null || fail "--codec $codec: the catalog does not record it"
  "$FP" lake ddl --to "file://$tmp/lake-$codec" >"$tmp/ddl-$codec.sql" 2>>"$tmp/convert.log" ||
    fail "ddl of the $codec lake failed"
  grep -q "ZSTD" "$tmp/ddl-$codec.sql" && fail "--codec $codec: the DDL claims ZSTD: $(grep TBLPROPERTIES "$tmp/ddl-$codec.sql")"
done
grep -q "^TBLPROPERTIES ('parquet.compression'='SNAPPY');" "$tmp/ddl-snappy.sql" ||
  fail "--codec snappy: no SNAPPY property in the DDL"
grep -q "parquet.compression" "$tmp/ddl-none.sql" && fail "--codec none: a compression property in the DDL"

# The DuckDB DDL of `lake ddl` reads every written row.
"$FP" lake ddl --to "file://$lake" >"$tmp/ddl.sql" 2>>"$tmp/convert.log" || fail "ddl failed"
grep -q "CREATE EXTERNAL TABLE IF NOT EXISTS" "$tmp/ddl.sql" || fail "no Athena DDL: $(cat "$tmp/ddl.sql")"
grep -q "^TBLPROPERTIES ('parquet.compression'='ZSTD');" "$tmp/ddl.sql" || fail "no ZSTD property in the DDL of a zstd lake"
written=$(jq '[.Partitions[].Parameters.numRows | tonumber] | add' "$lake"/_catalog/[!_]*.json | jq -s add)
got=$(node --input-type=module -e "
import { createRequire } from 'node:module';
const require = createRequire('$VERIFY/package.json');
const { DuckDBInstance } = require('@duckdb/node-api');
const fs = require('node:fs');
const db = await (await DuckDBInstance.create(':memory:')).connect();
const sql = fs.readFileSync('$tmp/ddl.sql', 'utf8').split(';').map((s) => s.replace(/^--.*$/gm, '').trim()).filter((s) => /^CREATE OR REPLACE VIEW/i.test(s));
let n = 0n;
for (const s of sql) { await db.run(s); const v = s.match(/VIEW\s+\"?([a-z0-9_]+)/i)[1]; n += (await db.runAndReadAll('SELECT count(*) AS n FROM ' + v)).getRowObjects()[0].n; }
console.log(String(n));") || fail "DuckDB could not run the DDL: $got"
[[ $got -eq $written && $got -gt 0 ]] || fail "DuckDB views read $got rows, the catalog says $written"
echo "ok: $(jq -c . "$tmp/sum.json"), lakecheck $out, idempotent, retry, since/until, ddl ($got rows)"
