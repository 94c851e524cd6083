#!/usr/bin/env bash
# The Fleet API's topic browser and pipeline view against a dev broker, a connect worker and
# PostgreSQL. Every message is produced here with kcat (keys, headers, text, binary, a value
# over 64 KiB, dead letters with their headers), and every answer is compared with what was
# produced and with what kcat reads back on its own: offsets, keys, headers, values, base64 for
# binary, paging by next_offset walks each partition to its end with no gap or repeat, the key
# filter, the default window (the newest `limit`), an offset below the log start (retention)
# answered from the log start, every bad parameter 400 naming it (tests/data/serve_topics).
# /pipeline: connectors, tasks and lag equal the worker's own REST API, dead letters by reason
# equal kcat's count of the error.class headers, the newest data-quality result per check equals
# what `fleetpipe check run` wrote. Kafka stopped: the topic routes answer 503 naming kafka,
# /pipeline still answers with the other parts, /healthz answers; then PostgreSQL and the
# worker stopped: each part says it is unavailable, the answer is still 200.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/pg.bash"
source "$(dirname "$0")/lib/redis.bash"
source "$(dirname "$0")/lib/serve.bash"
DATA=${FP_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/data/serve_topics
mkdir -p "$tmp/answers"

start_broker 4
start_pg
start_redis # the live state /healthz watches: up all along

# --- messages, produced here
kc() { kcat -b "$BS" -q "$@" 2>>"$tmp/kcat.log" || fail "kcat $*: $(tail -3 "$tmp/kcat.log")"; }
# browse.text/0: 120 keyed UTF-8 messages with two headers; /1: three with their own headers.
for i in $(seq 0 119); do printf 'k%d\tvalue %d · ünïcödé "quoted" \\ \n' $((i % 5)) "$i"; done >"$tmp/p0.txt"
kc -P -t browse.text -p 0 -K '\t' -H origin=serve_topics -H 'multi=a b' -l "$tmp/p0.txt"
kc -P -t browse.text -p 1 -k one -H h=1 <<<'first'
kc -P -t browse.text -p 1 -k two -H h=2 -H extra=x <<<'{"json":true}'
kc -P -t browse.text -p 1 <<<'no key, no header'
# browse.text/2: binary values (never valid UTF-8: each has a 0xff byte), no key.
for i in 0 1 2; do
  { printf '\xff\x00\x01'; head -c $((100 + i * 50)) /dev/urandom; } >"$tmp/bin$i"
done
kc -P -t browse.text -p 2 "$tmp/bin0" "$tmp/bin1" "$tmp/bin2"
# browse.text/3: a 100,000-byte text value and a 70,000-byte binary one (cut at 64 KiB).
head -c 100000 /dev/zero | tr '\0' 'x' >"$tmp/big.txt"
{ printf '\xfe'; head -c 69999 /dev/urandom; } >"$tmp/big.bin"
kc -P -t browse.text -p 3 -k big "$tmp/big.txt" "$tmp/big.bin"
# browse.big/0: 8 x 900 kB, over the dev broker's 5 MiB per partition: the oldest are deleted.
head -c 900000 /dev/zero | tr '\0' 'b' >"$tmp/900k"
for i in $(seq 8); do kc -P -t browse.big -p 0 -k "b$i" "$tmp/900k"; done
# fms.deadletter: dead letters as the bridge writes them (reasons in headers), spread over
# partitions; one without error.class.
dl() { # dl PARTITION CLASS COUNT
  for i in $(seq "$3"); do
    kc -P -t fms.deadletter -p "$1" -k "dev-00000$i" -H "error.class=$2" \
      -H "error.message=test $2 $i" -H "mqtt.topic=fms/dev-00000$i/vehicle/kinematic" \
      -H source.topic=mqtt <<<"{bad $2 $i"
  done
}
dl 0 invalid_json 4
dl 1 missing_field 3
dl 2 spoofed_device 2
kc -P -t fms.deadletter -p 3 <<<'a dead letter without a reason'

# --- a connect worker with one connector; its dead letters go to fms.deadletter too
rport=$(free_port)
"$FP" connect --bootstrap-servers "$BS" --rest-listen "127.0.0.1:$rport" --status-interval 1s \
  2>"$tmp/connect.log" &
connect_pid=$!
pids+=($connect_pid)
R=http://127.0.0.1:$rport
wait_for "the connect REST API" 30 curl -sf -o /dev/null "$R/connectors"
connector_json raw "$tmp/lake" '"flush.size": "5", "rotate.schedule.interval.ms": "300",
  "errors.deadletterqueue.context.headers.enable": "true"'
curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' --data @"$tmp/raw.json" \
  "$R/connectors" || fail "POST /connectors"

# --- the warehouse's check results: two days of three checks, the newest differs per check
pq -c "CREATE TABLE public.t (day date, a int);
  INSERT INTO public.t VALUES ('2026-03-01', 1), ('2026-03-02', NULL), ('2026-03-02', 500);"
mkdir -p "$tmp/checks"
cat >"$tmp/checks/t.json" <<'JSON'
{"checks": [
  {"name": "t.not_null", "kind": "not_null", "target": "public.t", "columns": ["a"],
   "where": "day = '{{ ds }}'"},
  {"name": "t.range", "kind": "accepted_range", "target": "public.t", "column": "a", "max": 100,
   "where": "day = '{{ ds }}'", "warn_if": {"count": "> 0"}, "error_if": {"count": "> 5"}},
  {"name": "t.missing", "kind": "not_null", "target": "public.nope", "columns": ["a"],
   "where": "true"}
]}
JSON
for d in 2026-03-01 2026-03-02; do
  "$FP" check run --pg "$PG_URL" --checks "$tmp/checks" --from "$d" >>"$tmp/check.log" 2>&1 || true
done
[[ $(pq -c "SELECT count(*) FROM ops.dq_results") == 6 ]] || fail "check run wrote $(pq -c 'SELECT count(*) FROM ops.dq_results') results: $(tail -5 "$tmp/check.log")"

# --- the API
dead_port=$(free_port) # a stage whose /metrics nobody serves
start_serve --redis "redis://127.0.0.1:$REDIS_PORT/0" --bootstrap-servers "$BS" --connect "$R" \
  --pg "$PG_URL" --stage-metrics "worker=$R/metrics,gone=http://127.0.0.1:$dead_port/metrics"
serve_pid=$SERVE_PID
U=$API/api/v1
n=0
# get PATH: the answer into $tmp/body, its status in code; every answer is kept in answers/ as
# <operation>[.<status>].<n>.json for check_answers (the operations are named as the routes).
get() {
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$U/$1")
  local route=${1%%\?*}
  case $route in topics/*/messages) route=messages ;; esac
  [[ $code == 200 ]] || route=$route.$code
  n=$((n + 1))
  cp "$tmp/body" "$tmp/answers/$route.$n.json"
}
want() { [[ $code == "$1" ]] || fail "$2: HTTP $code, expected $1: $(head -c 400 "$tmp/body")"; }
jqt() { jq -e "$1" "$tmp/body" >/dev/null || fail "$2: $(head -c 800 "$tmp/body")"; }

# GET /topics: every partition's watermarks and counts, as produced
get topics
want 200 "GET /topics"
jqt '[.topics[].name] | index("browse.text") and index("fms.deadletter") and . == sort' "topic list"
jqt '.topics[] | select(.name == "browse.text") | [.partitions[] | [.partition, .low, .high, .messages]]
  == [[0,0,120,120],[1,0,3,3],[2,0,3,3],[3,0,2,2]] and .messages == 128' "browse.text watermarks"
jqt '.topics[] | select(.name == "fms.deadletter") | [.partitions[].high] == [4,3,2,1]' \
  "fms.deadletter watermarks"
jqt '.topics[] | select(.name == "browse.big") | .partitions[0] | .high == 8 and .low > 0
  and .messages == .high - .low' "browse.big lost its oldest messages"
big_low=$(jq '.topics[] | select(.name == "browse.big") | .partitions[0].low' "$tmp/body")

# kcat's own reading of a partition, as [offset, ts, key, value, headers] lines
kcat_rows() { # TOPIC PARTITION
  kcat -b "$BS" -q -C -t "$1" -p "$2" -o beginning -e -J 2>>"$tmp/kcat.log" |
    jq -c '[.offset, .ts, .key, .payload, (.headers // [] | [range(0; length; 2) as $i | [.[$i], .[$i + 1]]])]'
}
api_rows() { jq -c '.messages[] | [.offset, .timestamp_ms, .key, .value,
  [.headers[] | [.key, .value]]]' "$@"; }

# Paging walks partition 0 to its end: 17 at a time from offset 0, by next_offset.
off=0 pages=0
: >"$tmp/walk"
while :; do
  get "topics/browse.text/messages?partition=0&offset=$off&limit=17"
  want 200 "page at $off"
  jqt ".start_offset == $off and .count == (.messages | length) and .scanned == .count" "page $off"
  api_rows "$tmp/body" >>"$tmp/walk"
  pages=$((pages + 1))
  off=$(jq .next_offset "$tmp/body")
  jq -e .end_of_partition "$tmp/body" >/dev/null && break
  ((pages < 20)) || fail "paging does not end"
done
((pages == 8)) || fail "120 messages in pages of 17 took $pages pages"
kcat_rows browse.text 0 >"$tmp/kcat0"
[[ $(wc -l <"$tmp/kcat0") == 120 ]] || fail "kcat read $(wc -l <"$tmp/kcat0") of 120"
diff "$tmp/kcat0" "$tmp/walk" >"$tmp/diff" || fail "the walk differs from kcat: $(head -5 "$tmp/diff")"
jq -r '.[0]' "$tmp/walk" | awk '$1 != NR - 1 { exit 1 }' || fail "offsets with gaps"
# ... and from what was produced: key k<i mod 5>, the value line, both headers
jq -r '[.[2], .[3]] | @tsv' "$tmp/walk" | sed 's/\\\\/\\/g' >"$tmp/walk.kv"
jq -n -r --rawfile f "$tmp/p0.txt" '$f | rtrimstr("\n") | split("\n")[] | split("\t") | @tsv' |
  sed 's/\\\\/\\/g' >"$tmp/p0.kv"
diff "$tmp/p0.kv" "$tmp/walk.kv" >/dev/null || fail "keys or values differ from what was produced"
jq -e -s 'all(.[]; .[4] == [["origin","serve_topics"],["multi","a b"]])' "$tmp/walk" >/dev/null ||
  fail "headers differ from what was produced"

# Default window: the newest `limit`; and the other text partition, headers per message
get "topics/browse.text/messages?partition=0"
want 200 "default window"
jqt '.limit == 50 and .requested_offset == null and .start_offset == 70 and .count == 50
  and [.messages[].offset] == [range(70; 120)] and .end_of_partition and .stopped == "end"' "newest 50"
get "topics/browse.text/messages?partition=0&limit=7"
jqt '[.messages[].offset] == [range(113; 120)]' "newest 7"
get "topics/browse.text/messages?partition=1&offset=0"
want 200 "partition 1"
api_rows "$tmp/body" >"$tmp/api1"
kcat_rows browse.text 1 >"$tmp/kcat1"
diff "$tmp/kcat1" "$tmp/api1" >/dev/null || fail "partition 1 differs from kcat: $(cat "$tmp/api1")"
jqt '[.messages[] | [.key, .value, [.headers[] | .key + "=" + .value]]] ==
  [["one","first",["h=1"]], ["two","{\"json\":true}",["h=2","extra=x"]], [null,"no key, no header",[]]]' \
  "partition 1 as produced"
jqt 'all(.messages[]; .timestamp_type == "create_time" and (.timestamp | test("^20[0-9-]+T[0-9:.]+Z$")))' \
  "timestamps"

# Binary values come back as base64 of exactly the bytes produced
get "topics/browse.text/messages?partition=2&offset=0"
want 200 "binary"
for i in 0 1 2; do
  jq -r ".messages[$i] | select(.value_encoding == \"base64\" and .key == null
    and .value_bytes == $(stat -c %s "$tmp/bin$i")) | .value" "$tmp/body" | base64 -d >"$tmp/got$i" ||
    fail "message $i of partition 2 is not base64"
  cmp -s "$tmp/bin$i" "$tmp/got$i" || fail "binary message $i differs"
done
# Values over 64 KiB: the first 65536 bytes, flagged
get "topics/browse.text/messages?partition=3&offset=0"
jqt '.messages[0] | .value_encoding == "text" and .value_truncated and .value_bytes == 100000
  and (.value | length) == 65536 and (.value | test("^x+$"))' "big text cut"
jq -r '.messages[1].value' "$tmp/body" | base64 -d >"$tmp/got.big"
cmp -s <(head -c 65536 "$tmp/big.bin") "$tmp/got.big" || fail "big binary: not its first 64 KiB"
jqt '.messages[1] | .value_encoding == "base64" and .value_truncated and .value_bytes == 70000' \
  "big binary flagged"

# The key filter, within the scanned range
get "topics/browse.text/messages?partition=0&offset=0&limit=500&key=k3"
want 200 "key filter"
jqt '[.messages[].offset] == [range(3; 120; 5)] and all(.messages[]; .key == "k3")
  and .scanned == 120 and .key == "k3" and .end_of_partition' "key k3 over the whole partition"
get "topics/browse.text/messages?partition=0&offset=10&limit=3&key=k1"
jqt '[.messages[].offset] == [11, 16, 21] and .next_offset == 22 and .scanned == 12
  and .stopped == "limit"' "key filter stops at limit"
get "topics/browse.text/messages?partition=0&key=nobody"
jqt '.count == 0 and .scanned == 120 and .next_offset == 120' "no key matches"
get "topics/browse.text/messages?partition=0&offset=120"
jqt '.count == 0 and .end_of_partition and .next_offset == 120' "at the end"

# Below the log start: answered from the log start, and said so
get "topics/browse.big/messages?partition=0&offset=0&limit=2"
want 200 "below the log start"
jqt ".below_log_start and .start_offset == $big_low and .messages[0].offset == $big_low
  and .messages[0].key == \"b$((big_low + 1))\" and (.note | test(\"log start\"))" "from the log start"

# 24 pages at once: at most 8 readers, so each answer is the whole page or 429 with Retry-After
par=()
for i in $(seq 24); do
  curl -s -m 30 -D "$tmp/par$i.h" -o "$tmp/par$i.json" -w '%{http_code}' \
    "$U/topics/browse.text/messages?partition=0&offset=0&limit=120" >"$tmp/par$i.code" &
  par+=($!)
done
for p in "${par[@]}"; do wait "$p" || true; done
ok200=0
for i in $(seq 24); do
  case $(cat "$tmp/par$i.code") in
  200) ok200=$((ok200 + 1))
    jq -c '.messages[] | [.offset, .timestamp_ms, .key, .value, [.headers[] | [.key, .value]]]' \
      "$tmp/par$i.json" | diff -q - "$tmp/kcat0" >/dev/null || fail "parallel page $i is not whole" ;;
  429) grep -qi '^Retry-After: 1' "$tmp/par$i.h" && jq -e '.error_code == 429' "$tmp/par$i.json" \
      >/dev/null || fail "429 without Retry-After: $(cat "$tmp/par$i.json")" ;;
  *) fail "parallel page $i: HTTP $(cat "$tmp/par$i.code"): $(cat "$tmp/par$i.json")" ;;
  esac
done
((ok200 > 0)) || fail "no parallel page was answered"

# Bad requests, each naming what is wrong
while IFS=$'\t' read -r path status says; do
  [[ -z $path || $path == \#* ]] && continue
  get "$path"
  want "$status" "GET $path"
  jq -e --arg s "$says" '.message | contains($s)' "$tmp/body" >/dev/null ||
    fail "GET $path: message does not say '$says': $(cat "$tmp/body")"
done <"$DATA/bad_requests.tsv"

# --- /pipeline against the worker's own REST API, kcat and ops.dq_results; the connector gets
# six good records and two it dead-letters (after the watermark checks above)
good='{"object":"vehicle","type":"kinematic","id":1,"device_id":"dev-000001","messaged_at":"2026-03-03T10:00:00+09:00","seq":1,"measurements":[]}'
for i in 1 2 3 4 5 6; do echo "$good"; done | kc -P -t fms.vehicle -p 0 -k dev-000001
printf 'not json\n{"object":"vehicle"}\n' | kc -P -t fms.vehicle -p 1 -k dev-000002
lag0() { curl -s "$R/connectors?expand=status" | jq -e '.raw.status.tasks | length == 2
  and all(.[]; .state == "RUNNING" and .lag == 0)' >/dev/null; }
wait_for "the connector to catch up" 30 lag0
connect_dl() { [[ $(curl -s "$R/metrics" | awk '$1 ~ /^fleetpipe_connect_records_dead_lettered_total\{connector="raw"/ { s += $2 } END { print s + 0 }') == 2 ]]; }
wait_for "connect's two dead letters" 30 connect_dl
# counted when handed to its producer: wait until the broker has them
dl12() { curl -s "$U/topics" | jq -e '.topics[] | select(.name == "fms.deadletter") | .messages == 12' >/dev/null; }
wait_for "12 dead letters in fms.deadletter" 30 dl12
for p in 0 1 2 3; do kcat_rows fms.deadletter $p; done >"$tmp/dl.rows"
# the browser shows every dead letter as kcat reads it: reasons, messages, sources, MQTT topics
for p in 0 1 2 3; do
  get "topics/fms.deadletter/messages?partition=$p&offset=0"
  want 200 "dead letters of partition $p"
  api_rows "$tmp/body"
done >"$tmp/dl.api"
diff "$tmp/dl.rows" "$tmp/dl.api" >"$tmp/diff" || fail "dead letters differ from kcat: $(head -4 "$tmp/diff")"
jq -e -s '[.[] | select(.[4][0] == ["error.class", "invalid_json"])] | length == 4 and
  all(.[]; (.[4] | map(.[0])) == ["error.class","error.message","mqtt.topic","source.topic"])' \
  "$tmp/dl.api" >/dev/null || fail "the bridge-style dead letters lost headers: $(head -2 "$tmp/dl.api")"
jq -e -s '[.[] | select(.[4] | map(.[0]) | index("source.offset"))] | length == 2' "$tmp/dl.api" \
  >/dev/null || fail "connect's two dead letters without source.* headers"
curl -s "$R/connectors?expand=status" >"$tmp/rest.json"
get pipeline
want 200 "GET /pipeline"
jqt '.connect.available and .dead_letters.available and .data_quality.available' "all parts there"
jq -e --slurpfile r "$tmp/rest.json" '.connect.connectors == [$r[0] | to_entries[] | {
    name: .key, state: .value.status.connector.state,
    tasks_running: ([.value.status.tasks[] | select(.state == "RUNNING")] | length),
    tasks_total: (.value.status.tasks | length),
    lag: ([.value.status.tasks[].lag] | add), records_lost: ([.value.status.tasks[].records_lost] | add),
    tasks: [.value.status.tasks[] | {id, state, worker_id, lag, records_lost, reason: (.reason // .trace)}]}]' \
  "$tmp/body" >/dev/null || fail "connectors differ from the REST API: $(jq -c .connect "$tmp/body") vs $(cat "$tmp/rest.json")"
jq -s -c 'map(.[4] | map(select(.[0] == "error.class")) | .[0][1] // "(none)")
  | group_by(.) | map({key: .[0], value: length}) | from_entries' "$tmp/dl.rows" >"$tmp/dl.want"
jq -e --slurpfile w "$tmp/dl.want" '.dead_letters | .by_reason == $w[0] and .scanned == 12
  and .retained == 12 and .complete' "$tmp/body" >/dev/null ||
  fail "dead letters $(jq -c .dead_letters "$tmp/body"), kcat counts $(cat "$tmp/dl.want")"
jqt '.dead_letters.by_reason | .invalid_json == 4 and .missing_field == 3 and .spoofed_device == 2
  and ."(none)" == 1 and ([.[]] | add) == 12' "the dead letters produced here, plus connect's two"
pq -c "SELECT json_agg(json_build_object('check_name', check_name, 'status', status,
    'observed', observed, 'interval_start', to_char(interval_start, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))
    ORDER BY check_name) FROM ops.dq_results WHERE interval_start = (SELECT max(interval_start) FROM ops.dq_results)" >"$tmp/dq.want"
jq -e --slurpfile w "$tmp/dq.want" '.data_quality | .checks == 3 and
  ([.results[] | {check_name, status, observed, interval_start}] == $w[0])
  and .by_status == {"pass": 0, "warn": 1, "fail": 1, "error": 1}' "$tmp/body" >/dev/null ||
  fail "data quality $(jq -c .data_quality "$tmp/body"), want $(cat "$tmp/dq.want")"
jqt '[.data_quality.results[] | [.check_name, .status]] ==
  [["t.missing","error"],["t.not_null","fail"],["t.range","warn"]]' "the newest day's results"
# the trend: results per status of each local day, as PostgreSQL counts them
pq -c "SELECT json_agg(json_build_object('day', to_char(ds, 'YYYY-MM-DD'), 'pass', p, 'warn', w, 'fail', f, 'error', e) ORDER BY ds)
  FROM (SELECT ds, count(*) FILTER (WHERE status = 'pass') p, count(*) FILTER (WHERE status = 'warn') w,
        count(*) FILTER (WHERE status = 'fail') f, count(*) FILTER (WHERE status = 'error') e
        FROM ops.dq_results GROUP BY ds) t" >"$tmp/trend.want"
jq -e --slurpfile w "$tmp/trend.want" '.data_quality.trend == $w[0] and (.data_quality.trend | length) == 2' "$tmp/body" >/dev/null ||
  fail "trend $(jq -c .data_quality.trend "$tmp/body"), want $(cat "$tmp/trend.want")"
# the scheduler never ran here; the stages' counters are their pages' (summed per name, read
# with curl and awk: the memory budget and the connectors' state gauges do not move)
jqt '.warehouse == {"available": true, "table": "ops.runs", "exists": false, "dags": []}' "no ops.runs"
curl -s "$R/metrics" | awk '/^fleetpipe_connect_task_memory_budget_bytes[{ ]/ {s += $NF} END {printf "%d\n", s}' >"$tmp/budget.want"
jq -e --argjson w "$(cat "$tmp/budget.want")" --arg dead "$dead_port" '[.stages[].name] == ["worker", "gone"]
  and .stages[0].available and .stages[0].metrics.fleetpipe_connect_task_memory_budget_bytes == $w and $w > 0
  and (.stages[0].metrics | keys | all(startswith("fleetpipe_") and (endswith("_bucket") or endswith("_count")) == false))
  and (.stages[1].available | not) and (.stages[1].error | contains($dead))' "$tmp/body" >/dev/null ||
  fail "stages: $(jq -c '.stages | map({name, available, error, budget: .metrics.fleetpipe_connect_task_memory_budget_bytes})' "$tmp/body"), budget $(cat "$tmp/budget.want")"

# --- Kafka stopped: 503 naming kafka; /pipeline and /healthz still answer
kill -TERM "${pids[0]}" && wait "${pids[0]}" 2>/dev/null || true
get topics
want 503 "GET /topics with Kafka stopped"
jqt '.backend == "kafka" and (.message | startswith("kafka: "))' "503 names kafka"
get "topics/browse.text/messages?partition=0"
want 503 "messages with Kafka stopped"
jqt '.backend == "kafka"' "messages 503 names kafka"
get "topics/browse.text/messages?partition=0&limit=0"
want 400 "a bad parameter is 400 even with Kafka stopped"
get pipeline
want 200 "/pipeline with Kafka stopped"
jqt '.dead_letters.available == false and (.dead_letters.error | startswith("kafka: "))
  and .connect.available and .data_quality.available' "/pipeline shows what it can"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$API/healthz")
want 200 "/healthz with Kafka stopped"
stop_pg
get pipeline
jqt '.data_quality.available == false and (.data_quality.error | startswith("postgresql "))' \
  "PostgreSQL stopped"
kill -TERM "$connect_pid" && wait "$connect_pid" 2>/dev/null || true
get pipeline
want 200 "/pipeline with nothing reachable"
jqt '[.connect, .dead_letters, .data_quality] | all(.available == false)
  and (.[0].error | startswith("connect: "))' "connect stopped"
kill -0 "$serve_pid" || fail "serve died"
# every answer kept above against the served OpenAPI document
answers=$(check_answers | jq -r '"\(.answers) answers of \(.operations | join(","))"')
echo "serve_topics: OK ($pages pages; $answers match the OpenAPI document)"
