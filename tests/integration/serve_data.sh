#!/usr/bin/env bash
# fleetpipe serve's DynamoDB and PostgreSQL endpoints against real servers: sim -> dev broker ->
# connect (the seed's dynamodb connector for fms.vehicle, the shipped 5-minute cargo chain) ->
# dynalite, and mart rows inserted by hand after `fleetpipe warehouse init` into a throwaway
# PostgreSQL. Asserts:
#  1. /vehicles/{id}/track walked page by page (small limit) to its end is exactly the
#     simulator's kinematic samples of that vehicle and interval, in time order, computed with jq
#     from the simulator's file alone; one big page gives the same;
#  2. /aggregates is exactly the windows dynalite holds for that vehicle and interval (scanned
#     with `fleetpipe dynamodb scan`), and their counts/min/max are the samples' (jq);
#  3. /reports/* are the inserted rows as PostgreSQL itself renders them (row_to_json), NULL as
#     null; ids filters; a day without rows is available: false; what GET /vehicles/{id} gets
#     (the newest window per zone, a day's KPIs) through $FP_BUILD/serve_probe; 40 concurrent
#     requests per backend answer alike;
#  4. every bad request of tests/data/serve/data_bad.tsv is 400 naming the parameter, unknown
#     paths 404;
#  5. a locked mart: the report 503 at the statement timeout while others answer; PostgreSQL
#     stopped: reports 503 naming postgresql while /healthz and track answer; started again:
#     reports answer again (the pooled connection is reset); dynalite killed: track and
#     aggregates 503 naming dynamodb while reports answer; no backends configured: 503 naming
#     each; every kept answer matches the OpenAPI document (tests/verify/apicheck.mjs);
#  6. check alarms: a real `fleetpipe check run` whose failing rows name vehicle 3 makes its
#     status alarm with the check named (vehicle 1 has none); once the check passes, it is gone.
# Successful answers are kept as $tmp/answers/<route>.<n>.json (for schema validation).
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"
source "$(dirname "$0")/lib/dynamodb.bash"
source "$(dirname "$0")/lib/redis.bash"
source "$(dirname "$0")/lib/pg.bash"
conf=$FP_SRC/config/connectors
DAY=2026-04-01

start_broker 4
start_dynalite
start_redis
start_pg
EP=http://127.0.0.1:$DYNALITE_PORT
"$FP" dynamodb create-table --table fms --endpoint "$EP" >/dev/null || fail "create-table"

# The same seed and start give the same bytes: once to a file (the truth), once to Kafka.
fleet=(--only vehicle/kinematic,cargo/temperature --vehicles 3 --seed 11 --speedup max
  --duration 40m --start ${DAY}T10:00:00+09:00)
"$FP" sim "${fleet[@]}" --target "file:$tmp/gen.jsonl" 2>/dev/null || fail "sim to file"
"$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>"$tmp/sim.log" || fail "sim: $(tail -3 "$tmp/sim.log")"

ddb_connector ddb-vehicle "$EP"
jq --arg u "redis://127.0.0.1:$REDIS_PORT/0" '.config["redis.url"] = $u' "$conf/redis-live.json" >"$tmp/redis.json"
jq '.config["topics.regex"] = "fms\\.vehicle"' "$tmp/ddb-vehicle.json" >"$tmp/ddb-v.json"
jq '.config["aggregate.idle"] = "2s"' "$conf/agg-cargo-5m.json" >"$tmp/agg.json"
jq --arg ep "$EP" '.config["aws.dynamodb.endpoint"] = $ep' "$conf/dynamodb-agg-5m.json" >"$tmp/ddb-agg.json"
t0=$SECONDS
"$FP" connect --bootstrap-servers "$BS" --connector "$tmp/ddb-v.json" --connector "$tmp/agg.json" \
  --connector "$tmp/ddb-agg.json" --connector "$tmp/redis.json" --rest-listen "" --exit-when-idle 6s --status-interval 1h \
  >"$tmp/connect.out" 2>"$tmp/connect.log" || fail "connect exited $?"
echo "pipeline: sim -> broker -> connect -> dynalite in $((SECONDS - t0)) s"

"$FP" warehouse init --pg "$PG_URL" --mart-schema "$FP_SRC/config/warehouse/sql/schema.sql" \
  >/dev/null 2>"$tmp/wh.log" || fail "warehouse init: $(tail -3 "$tmp/wh.log")"
pq <<SQL
INSERT INTO mart.vehicle_daily VALUES
  (1, '$DAY', 123.456, 120.5, 3600, 600.25, 4200, 0.30000000000000004, 4, 88.8, 12, 1, 2, 2.43,
   12.1, 7.5, 86400),
  (2, '$DAY', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, 17),
  (3, '$DAY', 1e-7, 5e20, 1, 2, 3, 1, 1, 130.25, 0, 0, 0, 0, 11.25, -1.5, 9007199254740993),
  (1, '2026-04-02', 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
INSERT INTO mart.reefer_daily VALUES
  (1, 1, '$DAY', 1440, 12.5, 7.25, 3, 2, 99.13194444444444, -20.5, -18.2, -15, 17280),
  (1, 2, '$DAY', 1440, 0, 0, 0, 0, 100, 2.5, 4.125, 6, 17280),
  (2, 1, '$DAY', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0);
SQL

# ---- the server
"$FP" serve --listen 127.0.0.1:0 --ready-file "$tmp/ready" --redis "redis://127.0.0.1:$REDIS_PORT/0" \
  --dynamodb-table fms --dynamodb-endpoint "$EP" --pg "$PG_URL" --backend-timeout 3s \
  --clock data --check-alarms-every 1s >"$tmp/serve.out" 2>"$tmp/serve.log" &
pids+=($!)
wait_for "fleetpipe serve" 20 test -s "$tmp/ready"
API=$(cat "$tmp/ready")
mkdir -p "$tmp/answers"

# get ROUTE PATH: GET into $tmp/body, the status in $code; a 200's body kept in answers/.
n_answer=0
get() {
  code=$(curl -s --path-as-is -o "$tmp/body" -w '%{http_code}' "$API$2") || fail "curl $2"
  if [[ $code == 200 ]]; then
    n_answer=$((n_answer + 1))
    jq -e . "$tmp/body" >/dev/null || fail "$2: not JSON: $(head -c 300 "$tmp/body")"
    cp "$tmp/body" "$tmp/answers/$1.$n_answer.json"
  fi
}
want() { # STATUS ROUTE PATH [MESSAGE_WORD]: the status, and a message containing the word
  get "$2" "$3"
  [[ $code == "$1" ]] || fail "GET $3: status $code, want $1: $(head -c 300 "$tmp/body")"
  if [[ $code != 200 ]]; then
    n_answer=$((n_answer + 1))
    cp "$tmp/body" "$tmp/answers/$2.$code.$n_answer.json"
  fi
  if [[ -n ${4:-} ]]; then
    jq -e --arg w "$4" '(.message | contains($w)) and .error_code == '"$1" "$tmp/body" >/dev/null ||
      fail "GET $3: message should name '$4': $(head -c 300 "$tmp/body")"
  fi
}

# ---- 1. track: every kinematic sample of vehicle 2 in [10:05, 10:30] +09:00, in order
ddb_expected "$tmp/gen.jsonl" "$tmp/expected"
from=2026-04-01T01:05:00.000Z to=2026-04-01T01:30:00.000Z
jq -c -s -S --arg pk "2#vehicle#kinematic" --arg a "$from" --arg b "$to" '
  map(select(.pk == $pk and .sk >= $a and .sk <= $b)) | sort_by(.sk)[]
  | {time: .sk} + del(.pk, .sk, .id, .object, .type)' "$tmp/expected" >"$tmp/track.want"
nwant=$(wc -l <"$tmp/track.want")
((nwant > 1000)) || fail "only $nwant expected samples"
: >"$tmp/track.got"
after="" pages=0
while :; do
  # from as +09:00 local time (the plus sign escaped), to as epoch ms
  get track "/api/v1/vehicles/2/track?from=2026-04-01T10:05:00%2B09:00&to=$(date -u -d "$to" +%s)000&limit=97${after:+&after=$after}"
  [[ $code == 200 ]] || fail "track page $pages: $code $(head -c 300 "$tmp/body")"
  jq -c -S '.data[]' "$tmp/body" >>"$tmp/track.got"
  pages=$((pages + 1))
  ((pages < 100)) || fail "track pages never end"
  jq -e '.data | length <= 97' "$tmp/body" >/dev/null || fail "a page holds more than limit"
  [[ $(jq -r .pagination.hasNextPage "$tmp/body") == true ]] || break
  jq -e '.data | length == 97' "$tmp/body" >/dev/null || fail "a short page before the end"
  after=$(jq -r .pagination.endCursor "$tmp/body")
done
jq -e '.pagination.endCursor == null and .vehicle_id == 2 and .from == "'$from'" and .to == "'$to'"' \
  "$tmp/body" >/dev/null || fail "last page: $(jq -c '{vehicle_id, from, to, pagination}' "$tmp/body")"
cmp -s "$tmp/track.want" "$tmp/track.got" || {
  diff "$tmp/track.want" "$tmp/track.got" | head -4 | cut -c1-300 >&2
  fail "track: $(wc -l <"$tmp/track.got") samples in $pages pages, want $nwant"
}
((pages == (nwant + 96) / 97)) || fail "$pages pages for $nwant samples of 97"
get track "/api/v1/vehicles/2/track?from=$from&to=$to&limit=5000"
[[ $code == 200 ]] || fail "one-page track: $code"
jq -c -S '.data[]' "$tmp/body" | cmp -s - "$tmp/track.want" || fail "one-page track differs"
jq -e '.pagination.hasNextPage == false' "$tmp/body" >/dev/null || fail "one page should be all"
# a vehicle without samples: an empty track
get track "/api/v1/vehicles/999/track?from=$from&to=$to"
jq -e '.data == [] and .pagination.hasNextPage == false' "$tmp/body" >/dev/null ||
  fail "vehicle 999: $(head -c 300 "$tmp/body")"
echo "track: $nwant samples of vehicle 2 in $pages pages, as the simulator sent them"

# ---- 2. aggregates: the windows overlapping [10:07, 10:31] +09:00 of vehicle 2 (two zones)
ddb_dump "$EP" "$tmp/table"
afrom=2026-04-01T01:07:00.000Z ato=2026-04-01T01:31:00.000Z
jq -c -s --arg a "$afrom" --arg b "$ato" '
  map(select(.pk == "2#cargo#temperature#5m" and .window_start <= $b and .window_end > $a))
  | sort_by(.window_start, .zone)[]
  | {window_start, window_end, zone} + (.temperature | {count, sum, min, max, avg})
    + {samples, revision, final}' "$tmp/table" >"$tmp/agg.want"
nagg=$(wc -l <"$tmp/agg.want")
((nagg >= 10)) || fail "only $nagg windows expected"
get aggregates "/api/v1/vehicles/2/aggregates?field=temperature&from=$afrom&to=$ato"
[[ $code == 200 ]] || fail "aggregates: $code $(head -c 300 "$tmp/body")"
jq -c '.data[]' "$tmp/body" >"$tmp/agg.got"
cmp -s "$tmp/agg.want" "$tmp/agg.got" || {
  diff "$tmp/agg.want" "$tmp/agg.got" | head -4 | cut -c1-300 >&2
  fail "aggregates differ from dynalite's items ($(wc -l <"$tmp/agg.got") windows, want $nagg)"
}
# The counts, minima and maxima of the simulator's own samples, window by window.
jq -c "$ddb_records_jq" "$tmp/gen.jsonl" | jq -c -s --arg a "$afrom" --arg b "$ato" '
  map(select(.pk == "2#cargo#temperature")
      | . + {w: ((.sk[0:19] + "Z" | fromdateiso8601) / 300 | floor * 300 | todate
                | sub("Z$"; ".000Z"))})
  | map(select(.w <= $b and (.w[0:19] + "Z" | fromdateiso8601) + 300 > ($a[0:19] + "Z" | fromdateiso8601)))
  | group_by(.w, .zone)[]
  | {window_start: .[0].w, zone: .[0].zone, count: length,
     min: (map(.temperature) | min), max: (map(.temperature) | max)}' >"$tmp/agg.sim"
jq -c '{window_start, zone, count, min, max}' "$tmp/agg.got" | cmp -s - "$tmp/agg.sim" || {
  diff "$tmp/agg.sim" <(jq -c '{window_start, zone, count, min, max}' "$tmp/agg.got") | head -4 >&2
  fail "aggregates differ from the simulator's samples"
}
echo "aggregates: $nagg windows of vehicle 2, as dynalite holds them and as the samples say"
# What GET /vehicles/{id} gets (fp_serve_ddb_latest_aggregates): the newest window per zone.
jq -c -s 'map(select(.pk == "2#cargo#temperature#5m")) | group_by(.zone) | map(max_by(.window_start)
  | {window_start, window_end, zone} + (.temperature | {count, sum, min, max, avg})
    + {samples, revision, final})' "$tmp/table" >"$tmp/latest.want"
"$FP_BUILD/serve_probe" latest-aggregates fms "$EP" 2 | jq -c . >"$tmp/latest.got" || fail "serve_probe"
cmp -s "$tmp/latest.want" "$tmp/latest.got" || fail "latest windows $(cat "$tmp/latest.got"), want $(cat "$tmp/latest.want")"
[[ $("$FP_BUILD/serve_probe" latest-aggregates fms "$EP" 999) == "[]" ]] || fail "latest windows of no vehicle"
echo "latest windows for /vehicles/{id}: one per zone, the newest dynalite holds"

# ---- 3. reports
marts() { # MART DAY [IDS]: the rows as PostgreSQL renders them
  pq -c "SELECT coalesce(json_agg(row_to_json(t)), '[]') FROM (SELECT * FROM mart.$1
         WHERE day = '$2' ${3:+AND vehicle_id IN ($3)} ORDER BY 1, 2) t" | jq -c -S .
}
report() { # MART DAY [IDS]
  local route=report_${1} path=${1//_/-}
  get "$route" "/api/v1/reports/$path?day=$2${3:+&ids=$3}"
  [[ $code == 200 ]] || fail "report $1 $2: $code $(head -c 300 "$tmp/body")"
  jq -e --arg d "$2" '.day == $d and .available == (.data | length > 0)' "$tmp/body" >/dev/null ||
    fail "report $1 $2: $(head -c 300 "$tmp/body")"
  [[ $(jq -c -S .data "$tmp/body") == "$(marts "$@")" ]] ||
    fail "report $1 $2 ${3:-}: $(jq -c -S .data "$tmp/body") want $(marts "$@")"
}
report vehicle_daily $DAY
report vehicle_daily $DAY 1,3
report reefer_daily $DAY
report reefer_daily $DAY 2
jq -e '.data[0].battery_min_v == null and .data[0].samples == 17' \
  <(curl -s "$API/api/v1/reports/vehicle-daily?day=$DAY&ids=2") >/dev/null || fail "NULL should be null"
grep -q '"samples": 9007199254740993' "$tmp/answers/report_vehicle_daily.$((n_answer - 3)).json" ||
  fail "a bigint should keep every digit"
# What GET /vehicles/{id} gets (fp_serve_pg_kpis): the vehicle's row of the day, or null.
[[ $("$FP_BUILD/serve_probe" kpis "$PG_URL" 3 $DAY | jq -c -S .) == "$(marts vehicle_daily $DAY 3 | jq -c '.[0]')" ]] ||
  fail "kpis of vehicle 3: $("$FP_BUILD/serve_probe" kpis "$PG_URL" 3 $DAY)"
[[ $("$FP_BUILD/serve_probe" kpis "$PG_URL" 9 $DAY) == null ]] || fail "kpis of vehicle 9 should be null"
echo "kpis for /vehicles/{id}: the vehicle's row, or null"
get report_vehicle_daily "/api/v1/reports/vehicle-daily?day=2026-03-31"
jq -e '.available == false and .data == []' "$tmp/body" >/dev/null || fail "empty day: $(cat "$tmp/body")"
echo "reports: the inserted rows, filters and an empty day"

# ---- 6. alarms from the data-quality checks (before section 5 stops PostgreSQL)
checks=$FP_SRC/tests/data/serve/checks/alarm.json
check_alarms() { # ID: the vehicle's check alarms, as "check status" lines
  get vehicle "/api/v1/vehicles/$1"
  [[ $code == 200 ]] || fail "GET /vehicles/$1: $code $(head -c 300 "$tmp/body")"
  jq -r '.data.alarms[] | select(.kind == "check") | "\(.check) \(.status)"' "$tmp/body"
}
has_check_alarm() { [[ $(check_alarms "$1") == "$2" ]]; } # ID "CHECK STATUS": that one alone
yesterday=$(date -u -d yesterday +%F) today=$(date -u +%F)
rc=0
"$FP" check run --pg "$PG_URL" --checks "$checks" --from "$yesterday" --to "$today" \
  --status-format json >"$tmp/check1.json" 2>"$tmp/check1.log" || rc=$?
[[ $rc == 1 ]] || fail "check run should fail (vehicle 3 is fast): $(tail -3 "$tmp/check1.log")"
[[ $(pq -c "SELECT vehicles FROM ops.dq_results WHERE check_name = 'serve_alarm.fast'") == "{3}" ]] ||
  fail "ops.dq_results.vehicles: $(pq -c "SELECT check_name, vehicles FROM ops.dq_results")"
[[ $(pq -c "SELECT vehicles FROM ops.dq_results WHERE check_name = 'serve_alarm.never'") == "{}" ]] ||
  fail "a passing check names no vehicle"
wait_for "the check alarm of vehicle 3" 15 has_check_alarm 3 "serve_alarm.fast fail"
get vehicle /api/v1/vehicles/3
jq -e '.data.status == "alarm"' "$tmp/body" >/dev/null || fail "vehicle 3: $(jq -c .data "$tmp/body")"
[[ -z $(check_alarms 1) ]] || fail "vehicle 1 has check alarms: $(check_alarms 1)"
pq -c "UPDATE mart.vehicle_daily SET max_speed = 99 WHERE vehicle_id = 3 AND day = '$DAY'" >/dev/null
"$FP" check run --pg "$PG_URL" --checks "$checks" --from "$yesterday" --to "$today" \
  >/dev/null 2>"$tmp/check2.log" || fail "check run should pass now: $(tail -3 "$tmp/check2.log")"
pq -c "UPDATE mart.vehicle_daily SET max_speed = 130.25 WHERE vehicle_id = 3 AND day = '$DAY'" >/dev/null
wait_for "no check alarm of vehicle 3" 15 has_check_alarm 3 ""
echo "check alarms: vehicle 3 while serve_alarm.fast fails, none once it passes; none for vehicle 1"

# 40 requests at once each (the pools hold 16 DynamoDB clients, 8 PostgreSQL connections): every
# one answers, the same as alone.
burst() { # NAME PATH: 40 parallel GETs; each body must equal the first
  local i cp=()
  for i in $(seq 40); do
    curl -s -o "$tmp/$1.$i" -w '%{http_code}' "$API$2" >"$tmp/$1.$i.code" &
    cp+=($!)
  done
  wait "${cp[@]}"
  for i in $(seq 40); do
    [[ $(cat "$tmp/$1.$i.code") == 200 ]] || fail "burst $1 #$i: $(cat "$tmp/$1.$i.code") $(head -c 200 "$tmp/$1.$i")"
    cmp -s "$tmp/$1.1" "$tmp/$1.$i" || fail "burst $1 #$i differs from #1"
  done
}
burst track "/api/v1/vehicles/2/track?from=$from&to=$to&limit=300"
jq -c -S '.data[]' "$tmp/track.1" | cmp -s - <(head -300 "$tmp/track.want") || fail "burst: wrong samples"
burst report "/api/v1/reports/reefer-daily?day=$DAY"
echo "40 concurrent requests per backend: all answered alike"

# ---- 4. bad parameters
q="from=$from&to=$to"
cursor=$(jq -r .pagination.endCursor "$tmp/answers/track.1.json")
tampered=$(sed 's/^\(.\{6\}\)\(.\)/\1X/' <<<"$cursor")
[[ $tampered != "$cursor" ]] || fail "could not tamper"
nbad=0
while IFS=$'\t' read -r st route word path; do
  [[ -z $st || $st == \#* ]] && continue
  path=${path//\{q\}/"$q"} path=${path//\{from\}/"$from"} path=${path//\{to\}/"$to"}
  path=${path//\{local_from\}/"2026-04-01T10:05:00%2B09:00"} path=${path//\{cursor\}/"$cursor"}
  path=${path//\{cursor20\}/"${cursor:0:20}"} path=${path//\{tampered\}/"$tampered"}
  path=${path//\{day\}/"$DAY"} path=${path//\{ids1001\}/$(seq -s, 1 1001)}
  [[ $word == - ]] && word=""
  want "$st" "$route" "$path" "$word"
  nbad=$((nbad + 1))
done <"$FP_SRC/tests/data/serve/data_bad.tsv"
echo "bad parameters: $nbad cases of tests/data/serve/data_bad.tsv, 400 naming each, unknown paths 404"

# ---- 5. backends slow, down, not configured
# A table locked by another session: the report gives up at the statement timeout (503), and
# other endpoints answer meanwhile.
PGAPPNAME=locker psql "$PG_URL" -X -q -c "BEGIN; LOCK TABLE mart.reefer_daily; SELECT pg_sleep(60)" \
  >/dev/null 2>&1 &
pids+=($!)
locked() { [[ $(pq -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
  WHERE c.relname = 'reefer_daily' AND l.mode = 'AccessExclusiveLock' AND l.granted") == 1 ]]; }
wait_for "the lock" 10 locked
curl -s -o "$tmp/slow.json" -w '%{http_code}' "$API/api/v1/reports/reefer-daily?day=$DAY" >"$tmp/slow.code" &
slow=$!
report vehicle_daily $DAY
want 200 track "/api/v1/vehicles/2/track?$q"
wait $slow
[[ $(cat "$tmp/slow.code") == 503 ]] || fail "a locked mart: $(cat "$tmp/slow.code") $(cat "$tmp/slow.json")"
jq -e '.backend == "postgresql" and (.message | contains("statement timeout"))' "$tmp/slow.json" \
  >/dev/null || fail "a locked mart: $(cat "$tmp/slow.json")"
echo "  $(jq -r .message "$tmp/slow.json")"
pq -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'locker'" >/dev/null
report reefer_daily $DAY
echo "postgresql slow: the report 503 at the statement timeout, the rest answer"

stop_pg
want 503 report_vehicle_daily "/api/v1/reports/vehicle-daily?day=$DAY" postgresql
jq -e '.backend == "postgresql"' "$tmp/body" >/dev/null || fail "503 should name postgresql"
echo "  $(jq -r .message "$tmp/body")"
want 503 report_reefer_daily "/api/v1/reports/reefer-daily?day=$DAY" postgresql
[[ $(curl -s -o /dev/null -w '%{http_code}' "$API/healthz") == 200 ]] || fail "/healthz with PostgreSQL down"
want 200 track "/api/v1/vehicles/2/track?$q"
restart_pg
report vehicle_daily $DAY
echo "postgresql stopped: reports 503 naming it, the rest answer; restarted: reports answer"

kill "$DYNALITE_PID"
wait "$DYNALITE_PID" 2>/dev/null || true
want 503 track "/api/v1/vehicles/2/track?$q" dynamodb
jq -e '.backend == "dynamodb"' "$tmp/body" >/dev/null || fail "503 should name dynamodb"
echo "  $(jq -r .message "$tmp/body")"
want 503 aggregates "/api/v1/vehicles/1/aggregates?field=temperature&$q" dynamodb
report reefer_daily $DAY
[[ $(curl -s -o /dev/null -w '%{http_code}' "$API/healthz") == 200 ]] || fail "/healthz with DynamoDB down"
echo "dynamodb down: track and aggregates 503 naming it, reports answer"

"$FP" serve --listen 127.0.0.1:0 --ready-file "$tmp/ready2" --redis "redis://127.0.0.1:$REDIS_PORT/0" \
  >"$tmp/serve2.out" 2>"$tmp/serve2.log" &
pids+=($!)
wait_for "fleetpipe serve without backends" 20 test -s "$tmp/ready2"
API=$(cat "$tmp/ready2")
want 503 track "/api/v1/vehicles/2/track?$q" "dynamodb: not configured"
want 503 aggregates "/api/v1/vehicles/2/aggregates?field=temperature&$q" "dynamodb: not configured"
want 503 report_vehicle_daily "/api/v1/reports/vehicle-daily?day=$DAY" "postgresql: not configured"
echo "not configured: 503 naming the backend"

# Every kept answer against the served OpenAPI document, by independent validators.
curl -sf "$API/api/v1/openapi.json" >"$tmp/openapi.json" || fail "GET /api/v1/openapi.json"
node "$FP_SRC/tests/verify/apicheck.mjs" "$tmp/openapi.json" "$tmp/answers" >"$tmp/apicheck.json" ||
  fail "answers against the OpenAPI document: $(cat "$tmp/apicheck.json")"
jq -e '.operations == ["aggregates", "report_reefer_daily", "report_vehicle_daily", "track", "vehicle"]' \
  "$tmp/apicheck.json" >/dev/null || fail "apicheck: $(cat "$tmp/apicheck.json")"
echo "openapi: $(jq .answers "$tmp/apicheck.json") answers match the document"
echo "PASS"
