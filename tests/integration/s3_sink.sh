#!/usr/bin/env bash
# The objstore sink into S3 (s3rver from npm, behind tests/servers/aws-proxy.js which checks
# every SigV4 signature, Content-MD5 and X-Amz-Content-Sha256). Checks, reading s3rver's own
# files as the independent view of the bucket:
#  1. every good record exactly once, small objects by PutObject and large ones (above
#     s3.part.size) by multipart upload, while the proxy drops connections and answers 503
#     SlowDown now and then (retried with backoff);
#  2. an answer retrying cannot fix (403 AccessDenied in the middle of a multipart upload)
#     aborts the upload, fails the task with the server's message, leaves no object, and a
#     restart completes the job;
#  3. kill -9 twice mid-run, restart: still every record exactly once;
#  4. a wrong secret key fails the task with SignatureDoesNotMatch and the secret in no log.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"

start_broker 4
start_s3rver lake
bucket_dir=$tmp/s3rver/lake

# bucket_lines PREFIX: every line of every object under PREFIX, read from s3rver's files.
bucket_lines() {
  find "$bucket_dir/$1" -type f -name '*._S3rver_object' -print0 2>/dev/null |
    xargs -0 -r cat
}
bucket_objects() { find "$bucket_dir/$1" -type f -name '*._S3rver_object' 2>/dev/null | wc -l; }

s3_connector() {
  local name=$1 endpoint=$2 extra=${3:-}
  cat >"$tmp/$name.json" <<JSON
{"name": "$name", "config": {
  "connector.class": "objstore", "topics": "fms.vehicle", "tasks.max": "2",
  "store.url": "s3://lake/$name", "s3.endpoint": "$endpoint", "s3.region": "us-east-1",
  "s3.part.size": "5242880", "store.staging.dir": "$tmp/staging-$name",
  "timestamp.field": "messaged_at", "errors.tolerance": "all",
  "errors.deadletterqueue.topic.name": "fms.deadletter", "errors.retry.delay.max.ms": "500",
  "consumer.override.session.timeout.ms": "6000",
  "consumer.override.heartbeat.interval.ms": "500"${extra:+, $extra}}}
JSON
}

run_connect() { # NAME LOG: runs until idle, returns its exit status
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/$1.json" --exit-when-idle 3s \
    --status-interval 2s 2>"$2"
}

# samples FILE: "device_id seq timestamp_iso" of every sample in a sim output file (what the
# split transform makes rows of), sorted. rows: the same from the bucket's JSON lines.
samples() {
  jq -R -r 'try fromjson catch empty | select(.object == "vehicle") | . as $m
    | .measurements[] | "\($m.device_id) \($m.seq) \(.timestamp_iso)"' <"$1" | sort
}
rows() { jq -r '"\(.device_id) \(.seq) \(.timestamp_iso)"' | sort; }

# --- 1. faults the client retries; PutObject and multipart --------------------------------
# 190 vehicles x 10 min of kinematic: about 4 MB per partition (the dev broker keeps 5 MiB),
# which the split transform (each row repeats the envelope) turns into objects of about 8 MB,
# above the 5 MiB part size.
fleet=(--vehicles 190 --duration 10m --seed 7 --start 2026-02-01T10:00:00Z --speedup max --only vehicle/kinematic)
"$FP" sim "${fleet[@]}" 2>/dev/null >"$tmp/one.jsonl"
"$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>/dev/null
# Every second CompleteMultipartUpload is carried out but its answer is lost: the retry meets
# NoSuchUpload, and the sink must find the object complete instead of failing or redoing it.
start_aws_proxy flaky s3 "$S3RVER_PORT" --reset-every 7 --throttle-every 5 --lose-every 2 \
  --lose-match '^POST .*uploadId='
split='"transforms": "split", "transforms.split.type": "SplitArrayField",
  "transforms.split.field": "measurements"'
s3_connector big "$PROXY_URL" "\"flush.size\": \"1000000\", $split"
run_connect big "$tmp/big.log" || fail "connector big exited non-zero: $(tail -5 "$tmp/big.log")"
# Every fault was absorbed where it happened: no upload failed, nothing was left for a replay.
! grep -E "WARN .*(final flush|object raw)|ERROR" "$tmp/big.log" ||
  fail "an upload failed although every fault was one a client must ride out"
samples "$tmp/one.jsonl" >"$tmp/one.sorted"
bucket_lines big | rows >"$tmp/big.sorted"
[[ $(uniq -d "$tmp/big.sorted" | wc -l) -eq 0 ]] || fail "duplicates in s3://lake/big"
cmp -s "$tmp/one.sorted" "$tmp/big.sorted" ||
  fail "s3://lake/big has $(wc -l <"$tmp/big.sorted") records, expected $(wc -l <"$tmp/one.sorted")"
req=$tmp/flaky.requests
parts=$(jq -c 'select(.method == "PUT" and (.path | test("partNumber=")) and .status == 200) | .path' "$req" | wc -l)
completes=$(jq -c 'select(.method == "POST" and (.path | test("uploadId=")) and .status == 200) | .path' "$req" | wc -l)
((parts >= 2 && completes >= 1)) || fail "expected multipart uploads: $parts parts, $completes completes"
faults=$(jq -r 'select(.fault) | .fault' "$req" | sort | uniq -c | tr '\n' ' ')
[[ $faults == *reset* && $faults == *throttle* && $faults == *lost* ]] || fail "proxy injected no faults: $faults"
bad=$(jq -r 'select(.status == 403 or .status == 400) | "\(.status) \(.path)"' "$req" | head -3)
[[ -z $bad ]] || fail "requests refused by the verifying proxy: $bad"
echo "s3_sink: part 1 ok ($(wc -l <"$tmp/big.sorted") records in $(bucket_objects big) objects; $parts parts, $completes multipart uploads; faults: $faults)"

# --- 2. a final error in the middle of a multipart upload ----------------------------------
start_aws_proxy deny s3 "$S3RVER_PORT" --deny-part 2
s3_connector denied "$PROXY_URL" "\"flush.size\": \"1000000\", $split"
rc=0
run_connect denied "$tmp/denied.log" || rc=$?
((rc == 1)) || fail "a 403 during a multipart upload: connector exited $rc, expected 1"
grep -q "AccessDenied" "$tmp/denied.log" || fail "the failure does not name AccessDenied"
aborts=$(jq -c 'select(.op == "AbortMultipartUpload")' "$tmp/deny.requests" | wc -l)
((aborts >= 1)) || fail "the failed multipart upload was not aborted"
# The failed object is not in the bucket; a clean restart completes the job exactly once.
sed -i "s|\"s3.endpoint\": \"[^\"]*\"|\"s3.endpoint\": \"http://127.0.0.1:$S3RVER_PORT\"|" "$tmp/denied.json"
run_connect denied "$tmp/denied.2.log" || fail "restart after the 403 exited non-zero"
bucket_lines denied | rows >"$tmp/denied.sorted"
cmp -s "$tmp/one.sorted" "$tmp/denied.sorted" ||
  fail "s3://lake/denied has $(wc -l <"$tmp/denied.sorted") records after the restart, expected $(wc -l <"$tmp/one.sorted")"
echo "s3_sink: part 2 ok ($aborts aborted multipart upload(s); restart wrote every record once)"

# --- 3. kill -9 mid-run, twice; then every record exactly once -----------------------------
start_aws_proxy clean s3 "$S3RVER_PORT"
wave() {
  local f=(--vehicles 40 --duration 12m --seed "$1" --start 2026-02-01T03:00:00Z --speedup max
    --only cargo/temperature,blackbox/status)
  "$FP" sim "${f[@]}" 2>/dev/null >>"$tmp/two.jsonl"
  "$FP" sim "${f[@]}" --target "kafka://$BS" 2>/dev/null
}
: >"$tmp/two.jsonl"
s3_connector crashy "$PROXY_URL" '"topics": "fms.cargo,fms.blackbox", "flush.size": "29",
  "rotate.schedule.interval.ms": "300", "format.compression": "zstd",
  "consumer.override.max.partition.fetch.bytes": "65536"'
sed -i 's/"topics": "fms.vehicle", //' "$tmp/crashy.json"
wave 21
kills=0
for round in 1 2; do
  log=$tmp/crashy.$round.log
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/crashy.json" --status-interval 1s 2>"$log" &
  cpid=$!
  pids+=($cpid)
  assigned() { grep -q "assigned [1-9]" "$log"; }
  wait_for "assignment in round $round" 60 assigned
  wave $((21 + round))
  sleep "0.$((RANDOM % 9 + 1))"
  if kill -0 "$cpid" 2>/dev/null; then
    kill -9 "$cpid"
    kills=$((kills + 1))
  fi
  wait "$cpid" 2>/dev/null || true
done
((kills >= 1)) || fail "the connector finished before any kill"
run_connect crashy "$tmp/crashy.log" || fail "final crashy run exited non-zero"
# Waves share vehicles and times (different seeds), so whole lines are the identity.
grep -E '"object":"(cargo|blackbox)"' "$tmp/two.jsonl" | sort >"$tmp/two.sorted"
for f in $(find "$bucket_dir/crashy" -type f -name '*._S3rver_object'); do
  zstd -dcq "$f" || echo "CORRUPT $f"
done | sort >"$tmp/crashy.sorted"
! grep -q '^CORRUPT' "$tmp/crashy.sorted" || fail "objects that are not whole zstd: $(grep '^CORRUPT' "$tmp/crashy.sorted")"
[[ $(uniq -d "$tmp/crashy.sorted" | wc -l) -eq 0 ]] || fail "duplicates in s3://lake/crashy after kill -9"
cmp -s "$tmp/two.sorted" "$tmp/crashy.sorted" ||
  fail "s3://lake/crashy has $(wc -l <"$tmp/crashy.sorted") records, expected $(wc -l <"$tmp/two.sorted")"
replays=$(cat "$tmp"/crashy*.log | grep -c "replay: .* exists with" || true)
echo "s3_sink: part 3 ok ($kills kills; $(wc -l <"$tmp/crashy.sorted") records exactly once in $(bucket_objects crashy) objects; $replays replayed objects)"

# --- 4. a wrong secret key -----------------------------------------------------------------
s3_connector wrongkey "$PROXY_URL"
rc=0
AWS_SECRET_ACCESS_KEY=not-the-secret-4711 run_connect wrongkey "$tmp/wrongkey.log" || rc=$?
((rc == 1)) || fail "wrong secret: connector exited $rc, expected 1"
# The first request is a HEAD, whose 403 has no body to name SignatureDoesNotMatch.
grep -q "task FAILED: s3 HeadObject .*HTTP 403 (access denied or a bad signature" "$tmp/wrongkey.log" ||
  fail "wrong secret: the failure does not say 403 / bad signature"
! grep -rq "not-the-secret-4711" "$tmp"/*.log || fail "the secret key appears in a log"
echo "s3_sink: ok"
