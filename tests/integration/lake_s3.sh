#!/usr/bin/env bash
# fleetpipe lake convert with s3:// on both sides (s3rver behind the verifying proxy, which
# checks every signature and drops connections now and then): the lake in the bucket must be
# byte-identical to the lake the same input makes on file://, which lakecheck.mjs verifies
# against the raw JSON with DuckDB and hyparquet. Then the same from s3:// raw to a file:// lake.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"
start_s3rver rawb lakeb
start_aws_proxy s3 s3 "$S3RVER_PORT" --reset-every 41
check() { node --harmony-json-parse-with-source "$FP_SRC/tests/verify/lakecheck.mjs" "$@"; }

raw=$tmp/raw
d=fms.vehicle/dt=2026-03-03/hour=10
mkdir -p "$raw/$d"
"$FP" sim --vehicles 4 --duration 15m --speedup max --seed 8 --start 2026-03-03T10:30:00Z \
  --anomaly-rate 0.05 --anomalies malformed_json,missing_field --target "file:$tmp/sim.jsonl" 2>"$tmp/sim.log"
n=$(wc -l <"$tmp/sim.jsonl")
head -n $((n / 2)) "$tmp/sim.jsonl" >"$raw/$d/fms.vehicle+0+00000000000000000000.jsonl"
tail -n +$((n / 2 + 1)) "$tmp/sim.jsonl" | zstd -q -o "$raw/$d/fms.vehicle+0+00000000000000000500.jsonl.zst"
for f in "$raw/$d"/*; do
  curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$f" \
    "http://127.0.0.1:$S3RVER_PORT/rawb/raw/$d/$(basename "$f" | sed "s/+/%2B/g")" || fail "upload of $f"
done

s3=(--s3-endpoint "$PROXY_URL" --s3-region us-east-1)
"$FP" lake convert --from "s3://rawb/raw" --to "s3://lakeb/lake" "${s3[@]}" --status-format json >"$tmp/s3.json" 2>"$tmp/s3.log" ||
  fail "s3 -> s3 convert: $(cat "$tmp/s3.log")"
"$FP" lake convert --from "file://$raw" --to "file://$tmp/lake" --status-format json >"$tmp/file.json" 2>"$tmp/file.log" ||
  fail "file -> file convert: $(cat "$tmp/file.log")"
out=$(check "$raw" "$tmp/lake") || fail "lakecheck: $out"
jq -e '.exit_code == 0 and .objects == 2 and .rows_written > 0 and .files > 0' "$tmp/s3.json" >/dev/null ||
  fail "s3 -> s3 status: $(cat "$tmp/s3.json")"
diff <(jq -S . "$tmp/s3.json") <(jq -S . "$tmp/file.json") >&2 || fail "s3 and file summaries differ"

# Every Parquet file and queue entry in the bucket equals its file:// twin, byte for byte.
bucket=$tmp/s3rver/lakeb/lake
files=0
while IFS= read -r f; do
  obj=$bucket/$f._S3rver_object
  [[ -f $obj ]] || fail "$f is not in the bucket"
  cmp -s "$tmp/lake/$f" "$obj" || fail "$f differs between s3:// and file://"
  files=$((files + 1))
done < <(cd "$tmp/lake" && find . \( -name '*.parquet' -o -path './_failed/*' \) -type f | sed 's|^\./||')
((files > 3)) || fail "only $files files compared"
inbucket=$(find "$bucket" -name '*.parquet._S3rver_object' | wc -l)
[[ $inbucket -eq $(find "$tmp/lake" -name '*.parquet' | wc -l) ]] || fail "the bucket holds $inbucket Parquet objects"
for c in "$tmp"/lake/_catalog/[!_]*.json; do
  t=$(basename "$c")
  diff <(jq -S 'del(.UpdateTime) | .StorageDescriptor.Columns, [.Partitions[] | .Values, .Files]' "$c") \
    <(jq -S 'del(.UpdateTime) | .StorageDescriptor.Columns, [.Partitions[] | .Values, .Files]' "$bucket/_catalog/$t._S3rver_object") >&2 ||
    fail "catalog $t differs"
  jq -e --arg t "${t%.json}" '.StorageDescriptor.Location == "s3://lakeb/lake/\($t)/"' "$bucket/_catalog/$t._S3rver_object" >/dev/null ||
    fail "catalog $t has the wrong Location"
done

# s3:// raw to a file:// lake gives the same files again.
"$FP" lake convert --from "s3://rawb/raw" --to "file://$tmp/lake2" "${s3[@]}" >/dev/null 2>"$tmp/s3f.log" ||
  fail "s3 -> file convert: $(cat "$tmp/s3f.log")"
diff <(cd "$tmp/lake" && find . -name '*.parquet' | sort | xargs sha256sum) \
  <(cd "$tmp/lake2" && find . -name '*.parquet' | sort | xargs sha256sum) >&2 || fail "s3 -> file lake differs"

refused=$(jq -c 'select(.status == 403 or .status == 400)' "$tmp/s3.requests" | wc -l)
((refused == 0)) || fail "$refused requests refused by the verifying proxy"
resets=$(jq -c 'select(.fault == "reset")' "$tmp/s3.requests" | wc -l)
((resets > 0)) || fail "no connection was dropped; the retry path was not exercised"
echo "ok: $files files byte-identical on s3:// and file://, lakecheck $out, $resets dropped connections retried"
