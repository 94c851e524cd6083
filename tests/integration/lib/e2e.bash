# Shared helpers of the end-to-end and chaos tests (tests/integration/e2e.sh, chaos.sh), sourced
# after connect.bash: the stack up in $tmp/stack, a fleet over its mosquitto with the same seed's
# bytes in a file, waits on machine-readable state (stack status --json, connect's REST status,
# lake watch's and the bridge's /metrics, ops.runs), and one reconciliation per store, each
# computed from the sent files and the simulator's truth without fleetpipe's code.
# Every figure a reconciliation finds is appended to $FIG ("name value" lines) for the summary.
[[ -d $FP_SRC/tests/servers/node_modules/s3rver && -d $FP_SRC/tests/servers/node_modules/dynalite ]] ||
  fail "tests/servers/node_modules is missing: run scripts/setup.sh"
[[ -d $FP_SRC/tests/verify/node_modules ]] || fail "tests/verify/node_modules is missing: npm ci --prefix tests/verify"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE
chmod 711 "$tmp" # as root PostgreSQL runs as the postgres user, which must reach the directory
VERIFY=$FP_SRC/tests/verify
LIB=$FP_SRC/tests/integration/lib
D=$tmp/stack
J=$D/stack.json
FIG=$tmp/figures
: >"$FIG"
T0=$SECONDS
e2e_cleanup() {
  [[ -f $J ]] && "$FP" stack down --dir "$D" >/dev/null 2>&1 || true
  cleanup
}
trap e2e_cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  [[ -f $D/logs/stack.log ]] && tail -20 "$D/logs/stack.log" >&2
  exit 1
}
fig() { echo "$1 $2" >>"$FIG"; }
# stage NAME: records how long since the previous stage (wall seconds) as a figure
_stage_t=$SECONDS
stage() {
  fig "seconds.$1" $((SECONDS - _stage_t))
  _stage_t=$SECONDS
  echo "e2e: $1 done after $((SECONDS - T0)) s" >&2
}

part() { jq -r --arg n "$1" ".parts[] | select(.name == \$n) | $2" "$J"; }
all_healthy() { "$FP" stack status --dir "$D" --json >"$tmp/status.json" 2>/dev/null; }
pgq() { psql "$PG" -X -At -v ON_ERROR_STOP=1 -c "$1"; }

# e2e_up ARGS...: stack up in $D with ARGS; every part healthy; sets the endpoint variables
e2e_up() {
  "$FP" stack up --dir "$D" "$@" >"$tmp/up.out" 2>"$tmp/up.err" || fail "stack up: $(cat "$tmp/up.err")"
  wait_for "every part healthy" 90 all_healthy
  jq -e '.state == "up" and (.off | length) == 0' "$J" >/dev/null || fail "stack.json: $(jq -c '{state, off}' "$J")"
  e2e_endpoints
}
e2e_endpoints() {
  MQ=$(part mosquitto .endpoints.mqtt)
  CREDS=$(part mosquitto .endpoints.device_credentials)
  S3DATA=$(part s3rver .endpoints.data)
  REDIS_PORT=$(jq .ports.redis "$J")
  PG=$(part postgres .endpoints.pg)
  DDB=$(part dynalite .endpoints.dynamodb)
  REST=$(part connect .endpoints.rest)
  BS=$(jq -r .kafka.bootstrap "$J")
  API=$(jq -r .api "$J")
}

# The simulated time: the fleet's 30 minutes end at a local midnight of the pipeline's zone
# (Asia/Seoul: 15:00 UTC) at least 90 minutes ago, so that the day it closes can be complete:
# the scheduler runs an interval only after its end (wall clock) and once the lake's watermark
# (newest converted event time - 10 min lateness, docs/lake.md) has passed it. The daily marts
# wait for all 24 hourly partials, and the partials of the day's last hour read 30 s into the
# next day (reads_after), so the lake load of the first hour after midnight must run too: a
# short closing fleet (every vehicle, 3 minutes) at MIDNIGHT+1h12m moves the watermark to
# MIDNIGHT+1h05m. E2E_DAY is the local day that closes, E2E_MIDNIGHT its end (epoch s).
e2e_times() {
  local now m
  now=$(date -u +%s)
  m=$(((now / 86400) * 86400 + 15 * 3600))
  while ((m + 90 * 60 > now)); do m=$((m - 86400)); done
  E2E_MIDNIGHT=$m
  E2E_DAY=$(TZ=Asia/Seoul date -d "@$((m - 1))" +%F)
  E2E_START=$(date -u -d "@$((m - 1800))" +%FT%TZ)
  E2E_CLOSE=$(date -u -d "@$((m + 3600 + 720))" +%FT%TZ)
}

# fleet NAME SIMARGS...: the same fleet to a file ($tmp/sent-NAME.jsonl, the truth of what was
# sent: one seed gives the same bytes) and over MQTT with the provisioned device passwords
# (truth file $tmp/truth-NAME.jsonl, status $tmp/sim-NAME.json). Extra MQTT-only options in
# SIM_MQTT_ARGS (e.g. --speedup 60).
fleet() {
  local n=$1
  shift
  "$FP" sim "$@" --target "file:$tmp/sent-$n.jsonl" --truth "$tmp/truthfile-$n.jsonl" 2>/dev/null || fail "sim to a file"
  "$FP" sim "$@" ${SIM_MQTT_ARGS[@]+"${SIM_MQTT_ARGS[@]}"} --target "$MQ" --credentials "$CREDS" \
    --truth "$tmp/truth-$n.jsonl" --status-format json >"$tmp/sim-$n.json" 2>"$tmp/sim-$n.log" ||
    fail "sim over MQTT: $(tail -3 "$tmp/sim-$n.log")"
  jq -e '.failed == 0' "$tmp/sim-$n.json" >/dev/null || fail "sim: $(cat "$tmp/sim-$n.json")"
  # (in its own order: the devices interleave over MQTT)
  cmp -s <(sort "$tmp/truth-$n.jsonl") <(sort "$tmp/truthfile-$n.jsonl") ||
    fail "the truth of fleet $n differs between the file and MQTT runs"
  [[ $(jq .published "$tmp/sim-$n.json") -eq $(wc -l <"$tmp/sent-$n.jsonl") ]] ||
    fail "fleet $n: published $(jq .published "$tmp/sim-$n.json") != $(wc -l <"$tmp/sent-$n.jsonl") lines the same fleet wrote to a file"
}

# ---- reading the stores ----
TELEMETRY=(fms.vehicle fms.cargo fms.blackbox fms.device)
# raw_lines TOPIC...: record lines of the raw lake's final objects of those topics (s3rver's files)
raw_lines() {
  local t
  for t in "$@"; do
    find "$S3DATA/fleet-raw/raw/$t" -name '*.jsonl.zst._S3rver_object' -print0 2>/dev/null | sort -z |
      xargs -0 -r zstd -dcq || true
  done
}
# mirror BUCKET/PREFIX DIR [SKIP]: s3rver's object files as a file tree named by their keys,
# without the keys that match the regex SKIP
mirror() {
  local src=$S3DATA/$1 f rel
  rm -rf "$2"
  mkdir -p "$2"
  find "$src" -name '*._S3rver_object' | while read -r f; do
    [[ -n ${3:-} && ${f#"$src"/} =~ $3 ]] && continue
    rel=${f#"$src"/}
    rel=${rel%._S3rver_object}
    mkdir -p "$2/$(dirname "$rel")"
    ln "$f" "$2/$rel" 2>/dev/null || cp "$f" "$2/$rel" # hard links: zstd ignores symlinks
  done
}
metric() { # URL NAME: the sum of a counter's samples
  curl -sf "$1" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}
connect_lag() { curl -sf "$REST/connectors?expand=status" | jq '[.[].status.tasks[] | .lag] | add // 0'; }
connect_running() {
  curl -sf "$REST/connectors?expand=status" |
    jq -e '[.[].status | .connector.state, .tasks[].state] | all(. == "RUNNING") and length > 0' >/dev/null
}

# ---- waits ----
# wait_raw WANT [settle]: every published message is in the raw lake (telemetry or dead letter),
# connect's lag is 0, then 2 s of quiet (a duplicate would show). With settle (chaos: a part may
# have lost messages) it waits instead for lag 0 and the lake unchanged for 25 s (the raw-lake
# connector rotates every 10 s)
wait_raw() {
  local want=$1
  settled() { [[ $(connect_lag) -eq 0 ]]; }
  if [[ ${2:-} == settle ]]; then
    local last=-1 since=$SECONDS n
    quiet() {
      n=$(raw_lines "${TELEMETRY[@]}" fms.deadletter | wc -l)
      if ((n != last)) || [[ $(connect_lag) -ne 0 ]]; then last=$n since=$SECONDS; fi
      ((n >= want || SECONDS - since >= 25))
    }
    wait_for "the raw lake to settle" 240 quiet
  else
    landed() { (($(raw_lines "${TELEMETRY[@]}" fms.deadletter | wc -l) >= want)); }
    wait_for "$want records in the raw lake" 180 landed
  fi
  wait_for "connect's consumer lag 0" 120 settled
  sleep 2
}
# wait_converted: lake watch converted every raw object: per source (<topic>+<partition>) the
# lake's watermark file names the newest raw object as its last (lake watch's own counters
# restart with it, so they are no proof), and its consumer lag is 0
wait_converted() {
  local url wm
  url=$(part lake-watch .endpoints.metrics)
  wm=$S3DATA/fleet-lake/lake/_catalog/_watermark.json._S3rver_object
  conv() {
    [[ -s $wm && $(metric "$url" fleetpipe_lake_consumer_lag) -eq 0 ]] || return 1
    find "$S3DATA/fleet-raw/raw" -name '*.jsonl.zst._S3rver_object' -printf '%f\n' |
      sed 's/[.]jsonl[.]zst[.]_S3rver_object$//' | awk -F+ '{ o = $3 + 0; k = $1 "+" $2; if (!(k in m) || o > m[k]) m[k] = o }
        END { for (k in m) print k "\t" m[k] }' | sort >"$tmp/raw_last.tsv"
    jq -r '.sources | to_entries[] | "\(.key)\t\(.value.last_offset)"' "$wm" 2>/dev/null | sort >"$tmp/wm_last.tsv"
    cmp -s "$tmp/raw_last.tsv" "$tmp/wm_last.tsv"
  }
  wait_for "lake watch to convert every raw object" 180 conv
}
# wait_day: the scheduler ran the closed day: every lake load up to MIDNIGHT+1h, the day's
# hourly partials, its daily marts and checks succeeded (ops.runs)
wait_day() {
  local m
  m=$(date -u -d "@$E2E_MIDNIGHT" '+%F %T+00')
  day_done() {
    [[ $(pgq "SELECT count(*) FROM ops.runs WHERE dag = 'marts_daily' AND ds = '$E2E_DAY' AND state = 'success'") -eq 3 &&
      $(pgq "SELECT count(*) FROM ops.runs WHERE dag = 'checks_daily' AND ds = '$E2E_DAY' AND state = 'success'") -ge 1 &&
      $(pgq "SELECT count(*) FROM ops.runs WHERE dag = 'lake_load' AND interval_start = '$m' AND state = 'success'") -eq 1 ]] 2>/dev/null
  }
  wait_for "the scheduler to close $E2E_DAY" 300 day_done
  bad=$(pgq "SELECT count(*) FROM ops.runs WHERE state IN ('failed', 'upstream_failed')")
  ((bad == 0)) || fail "failed runs: $(pgq "SELECT dag, task, interval_start, error FROM ops.runs WHERE state IN ('failed', 'upstream_failed') LIMIT 5")"
}

# ---- reconciliations (each fails the test, or appends its figures) ----
# The sent messages ($tmp/sent.jsonl: every fleet's file) minus exactly the dead letters' bytes
# (a multiset) are what Kafka must hold: $tmp/forwarded.jsonl. Also: $tmp/lake.jsonl (the
# telemetry objects' lines), $tmp/dl.jsonl (the dead-letter objects).
# rec_raw MODE: exact (every sent line once) or atleast (duplicates allowed, counted)
rec_raw() {
  local mode=$1
  cat "$tmp"/sent-*.jsonl >"$tmp/sent.jsonl"
  cat "$tmp"/truth-*.jsonl >"$tmp/truth.jsonl"
  raw_lines "${TELEMETRY[@]}" >"$tmp/lake.jsonl"
  raw_lines fms.deadletter >"$tmp/dl.jsonl"
  local P L DL truth_dl bridge_dl
  P=$(wc -l <"$tmp/sent.jsonl")
  L=$(wc -l <"$tmp/lake.jsonl")
  DL=$(wc -l <"$tmp/dl.jsonl")
  truth_dl=$(jq -s '[.[] | select(.dead_letter == true and .anomaly != "spoofed_topic")] | length' "$tmp/truth.jsonl")
  bridge_dl=$(jq -s '[.[] | select(.headers["source.topic"] == null and .headers["mqtt.topic"] != null)] | length' "$tmp/dl.jsonl")
  fig published "$P"
  fig raw_lake_lines "$L"
  fig dead_letters "$DL"
  fig dead_letters_bridge "$bridge_dl"
  fig truth_dead_letters "$truth_dl"
  # the dead letters' values, one base64 line each (the bridge's only: connectors' dead
  # letters are of records that are in the lake too)
  jq -r 'select(.headers["source.topic"] == null) | if .value_encoding == "base64" then .value else (.value | @base64) end' \
    "$tmp/dl.jsonl" >"$tmp/dl.b64"
  python3 - "$tmp/sent.jsonl" "$tmp/dl.b64" "$tmp/lake.jsonl" "$tmp/forwarded.jsonl" "$mode" "$tmp/truth.jsonl" \
    >"$tmp/raw.json" <<'PY' ||
import base64, collections, datetime, json, sys
sent, dlf, lakef, outf, mode, truthf = sys.argv[1:]
dead = collections.Counter(base64.b64decode(l.strip()) for l in open(dlf) if l.strip())
# mosquitto's ACL drops a spoofed message (another device's topic) and closes the device's
# connection (docs/ingest.md): it never reaches the bridge, and the device resends what else
# was in flight (at-least-once: duplicates of that device only)
truth = [json.loads(l) for l in open(truthf)]
ms = lambda s: round(datetime.datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp() * 1000)
spoofed = {(t['device_id'], t['seq'], t['object'], t['type'], ms(t['messaged_at'])) for t in truth if t.get('anomaly') == 'spoofed_topic'}
spoofers = {t['device_id'] for t in truth if t.get('anomaly') == 'spoofed_topic'}
sent_c = collections.Counter()
acl = 0
with open(sent, 'rb') as f, open(outf, 'wb') as out:
    for line in f:
        body = line.rstrip(b'\n')
        sent_c[body] += 1
        if dead[body] > 0:
            dead[body] -= 1
            continue
        try:
            m = json.loads(body)
            k = (m.get('device_id'), m.get('seq'), m.get('object'), m.get('type'), ms(m['messaged_at']))
        except Exception:
            k = None
        if k in spoofed:
            spoofed.discard(k)
            acl += 1
            continue
        out.write(line)
foreign_dl = sum(dead.values())
want = collections.Counter(l.rstrip(b'\n') for l in open(outf, 'rb'))
# chaos.sh: kill -9 of mosquitto loses what it had acknowledged to devices but not delivered to
# the bridge (no persistence: docs/stack.md). $tmp/loss-windows.json gives the fleet's wall-clock
# start, its simulated start and speedup, and a window around each mosquitto kill; a missing
# message whose send time (simulated, mapped to the wall clock) lies in one is counted as lost
# there, any other is a failure
lw = None
try:
    lw = json.load(open(outf.replace('forwarded.jsonl', 'loss-windows.json')))
except FileNotFoundError:
    pass
def in_window(b):
    if not lw:
        return False
    w = lw['w0'] + (ms(json.loads(b)['messaged_at']) - lw['start_ms']) / 1000 / lw['speedup']
    return any(a <= w <= z for a, z in lw['windows'])
lake = collections.Counter(l.rstrip(b'\n') for l in open(lakef, 'rb'))  # the lines are the records' values
missing = want - lake
lost = sum(n for b, n in missing.items() if in_window(b))
missing_unexplained = sum(missing.values()) - lost
if lost:  # what was lost is in no store: the other reconciliations start from what remains
    lost_c = collections.Counter({b: n for b, n in missing.items() if in_window(b)})
    with open(outf, 'wb') as out:
        for b, n in (want - lost_c).items():
            out.write((b + b'\n') * n)
    with open(outf.replace('forwarded.jsonl', 'lost.jsonl'), 'w') as lf:
        for b in lost_c:
            m = json.loads(b)
            lf.write(json.dumps({"device_id": m['device_id'], "seq": m['seq']}) + "\n")
    want = want - lost_c
extra = lake - want
foreign = sum(n for b, n in extra.items() if b not in sent_c)
dups = sum(extra.values()) - foreign
dup_devices = collections.Counter()
for b, n in extra.items():
    if b in sent_c:
        dup_devices[json.loads(b).get('device_id')] += n
not_spoofers = sum(n for d, n in dup_devices.items() if d not in spoofers)
# the stages' own duplicates as truth lines of the simulator's kind `duplicate`, for check score
# (its raw duplicate check must find them too): $tmp/resent.jsonl
# (one line per message, however many extra copies it has: the score counts a (vehicle, seq)
# once, so a message resent three times is one duplicate found, not three)
with open(outf.replace('forwarded.jsonl', 'resent.jsonl'), 'w') as r:
    for b in extra:
        if b in sent_c:
            m = json.loads(b)
            r.write(json.dumps({"device_id": m.get('device_id'), "vehicle_id": m.get('id'), "seq": m.get('seq'),
                                "messaged_at": m.get('messaged_at'), "object": m.get('object'), "type": m.get('type'),
                                "anomaly": "duplicate", "detail": "resent by the pipeline (at-least-once)",
                                "dead_letter": False}) + "\n")
print(json.dumps({"want": sum(want.values()), "lake": sum(lake.values()), "missing": missing_unexplained,
                  "lost_at_mosquitto_kill": lost,
                  "acl_dropped": acl, "acl_unmatched": len(spoofed), "duplicates": dups,
                  "duplicates_not_after_acl": not_spoofers, "foreign": foreign,
                  "foreign_dead_letters": foreign_dl}))
bad = missing_unexplained or foreign or foreign_dl or spoofed or (mode == 'exact' and not_spoofers)
sys.exit(1 if bad else 0)
PY
    fail "raw lake vs sent minus dead letters: $(cat "$tmp/raw.json")"
  fig raw_lake_duplicates "$(jq .duplicates "$tmp/raw.json")"
  fig acl_dropped "$(jq .acl_dropped "$tmp/raw.json")"
  fig lost_at_mosquitto_kill "$(jq .lost_at_mosquitto_kill "$tmp/raw.json")"
  ((bridge_dl == truth_dl)) || fail "$bridge_dl dead letters from the bridge, the truth file says $truth_dl"
  local acl dups
  acl=$(jq .acl_dropped "$tmp/raw.json") dups=$(jq .duplicates "$tmp/raw.json")
  local lost
  lost=$(jq .lost_at_mosquitto_kill "$tmp/raw.json")
  ((L + bridge_dl + acl + lost == P + dups)) ||
    fail "published $P + $dups duplicates != lake $L + dead letters $bridge_dl + $acl dropped by the ACL + $lost lost"
}

# rec_bridge: the bridge's counters (one process lifetime: E2E only) = lake lines and dead letters
rec_bridge() {
  local url f d
  url=$(part bridge .endpoints.metrics)
  f=$(metric "$url" fleetpipe_bridge_records_forwarded_total)
  d=$(metric "$url" fleetpipe_bridge_records_dead_lettered_total)
  fig bridge_forwarded "$f"
  fig bridge_dead_lettered "$d"
  [[ $f -eq $(wc -l <"$tmp/lake.jsonl") && $d -eq $(grep -c . "$tmp/dl.b64" || true) ]] ||
    fail "bridge metrics: forwarded $f, dead-lettered $d; the lake has $(wc -l <"$tmp/lake.jsonl") and $(grep -c . "$tmp/dl.b64") dead letters"
}

# rec_parquet: lake watch's Parquet against the raw objects (tests/verify/lakecheck.mjs: its own
# split and partitioning, two Parquet readers); figures: rows per table
rec_parquet() {
  # lakecheck models the telemetry tables; the dead letters are reconciled in rec_raw and rec_pg
  mirror fleet-raw "$tmp/m-raw" '^raw/fms[.]deadletter/'
  mirror fleet-lake/lake "$tmp/m-lake"
  mirror fleet-lake/lake "$tmp/m-lake-tel" '^(deadletter/|_catalog/deadletter[.])'
  node --harmony-json-parse-with-source "$VERIFY/lakecheck.mjs" "$tmp/m-raw" "$tmp/m-lake-tel" >"$tmp/lakecheck.json" 2>&1 ||
    fail "lakecheck: $(tail -c 2000 "$tmp/lakecheck.json")"
  fig parquet "$(tail -1 "$tmp/lakecheck.json" | jq -c . 2>/dev/null || tail -1 "$tmp/lakecheck.json")"
}

# rec_pg: PostgreSQL's lake schema = the Parquet files, per table, partition and column
# (tests/verify/whcheck.mjs: DuckDB's reading against one PostgreSQL query). The scheduler
# loads only hours the watermark passed; the rest (the closing fleet's last hour, and the dead
# letters, partitioned by their wall-clock arrival) is loaded here with `warehouse load`, which
# replaces whole partitions, as the scheduler's loads do.
rec_pg() {
  "$FP" warehouse load --pg "$PG" --lake s3://fleet-lake/lake --s3-endpoint "$(part s3rver .endpoints.s3)" \
    --s3-region us-east-1 --status-format json >"$tmp/load.json" 2>"$tmp/load.log" || fail "warehouse load: $(tail -5 "$tmp/load.log")"
  node "$VERIFY/whcheck.mjs" duck "$tmp/m-lake" >"$tmp/wh-duck.json" || fail "whcheck duck"
  psql "$PG" -X -At -v ON_ERROR_STOP=1 -c "$(node "$VERIFY/whcheck.mjs" sql "$tmp/m-lake")" >"$tmp/wh-pg.json" || fail "whcheck's query"
  local out
  out=$(node "$VERIFY/whcheck.mjs" compare "$tmp/wh-duck.json" "$tmp/wh-pg.json") || fail "PostgreSQL and the Parquet lake disagree: $out"
  fig pg_lake_rows "$(jq -c 'map_values([.parts[]] | add)' "$tmp/wh-pg.json")"
}

# rec_dynamodb: the sample table holds one item per distinct (id, object, type, sample time[,
# zone]) of the forwarded vehicle and cargo samples (the sinks' key: pk ${id}#${object}#${type},
# sk the time in UTC, and for cargo #z<zone> after it, as PROTOCOLS.md names it; a duplicate or
# a resend writes the same item again), plus the 5-minute aggregate items (pk ...#5m), which
# rec_aggregates checks
rec_dynamodb() {
  "$FP" dynamodb scan --table fms --endpoint "$DDB" >"$tmp/items.jsonl" || fail "dynamodb scan"
  jq -r 'select(.pk.S | endswith("#5m") | not) | "\(.pk.S)\t\(.sk.S)"' "$tmp/items.jsonl" | sort >"$tmp/items.keys"
  jq -r -R 'fromjson? | select((.object == "vehicle" or .object == "cargo") and (.measurements | type) == "array")
    | . as $m | .measurements[] | select(type == "object" and (.timestamp_iso | type) == "string")
    | (.timestamp_iso | sub("(?<f>\\.[0-9]+)?(?<z>Z|[+-][0-9:]+)$"; "") | strptime("%Y-%m-%dT%H:%M:%S") | mktime) as $s
    | ((.timestamp_iso | capture("\\.(?<f>[0-9]+)") | .f + "000")[0:3] // "000") as $ms
    | (.timestamp_iso | capture("(?<z>Z|[+-][0-9]{2}):?(?<m>[0-9]{2})?$")) as $z
    | ($s - (if $z.z == "Z" then 0 else ($z.z | tonumber) * 3600 + (if $z.z[0:1] == "-" then -1 else 1 end) * (($z.m // "0") | tonumber) * 60 end)) as $u
    | "\($m.id)#\($m.object)#\($m.type)\t\($u | todate | sub("Z$"; "")).\($ms)Z\(if $m.object == "cargo" then "#z\(.zone)" else "" end)"' "$tmp/forwarded.jsonl" |
    sort -u >"$tmp/want.keys"
  local got want
  got=$(wc -l <"$tmp/items.keys") want=$(wc -l <"$tmp/want.keys")
  fig dynamodb_items "$got"
  fig dynamodb_distinct_samples "$want"
  if ! cmp -s "$tmp/items.keys" "$tmp/want.keys"; then
    fail "DynamoDB has $got sample items, the forwarded samples have $want distinct keys: $(diff "$tmp/want.keys" "$tmp/items.keys" | head -5)"
  fi
  [[ $(sort -u "$tmp/items.keys" | wc -l) -eq $got ]] || fail "DynamoDB items with the same key"
}

# rec_redis: every vehicle's hash is the newest value of each field over the forwarded vehicle
# samples (redis_expect.jq) and the cargo fields per zone (temperature, setpoint, door_open with
# the suffix .z<zone>, as redis-live-cargo.json writes them)
rec_redis() {
  jq -c -R 'fromjson? | select((.measurements | type) == "array" and (.object == "vehicle" or .object == "cargo"))
    | .measurements |= map(select(type == "object" and (.timestamp_iso | type) == "string"))
    | if .object == "vehicle" then .
      else {id, measurements: [.measurements[] | . as $s | {timestamp_iso}
        + ([("temperature", "setpoint", "door_open") as $f | select($s[$f] != null)
            | {key: "\($f).z\($s.zone)", value: $s[$f]}] | from_entries)]} end' "$tmp/forwarded.jsonl" |
    jq -n -c -f "$LIB/redis_expect.jq" >"$tmp/redis_expect.json" || fail "jq: the Redis expectation"
  redis-cli -p "$REDIS_PORT" --scan --pattern 'vehicle:*' | sort | while read -r k; do
    redis-cli -p "$REDIS_PORT" --raw hgetall "$k" | jq -R -s -c --arg id "${k#vehicle:}" \
      'split("\n")[:-1] | {($id): ([range(0; length; 2) as $i | {key: .[$i], value: .[$i + 1]}] | from_entries)}'
  done | jq -s -c 'add // {}' >"$tmp/redis_state.json"
  local d n
  d=$(jq -r --argjson exp "$(cat "$tmp/redis_expect.json")" -f "$LIB/redis_compare.jq" "$tmp/redis_state.json")
  n=$(jq 'length' "$tmp/redis_state.json")
  fig redis_vehicles "$n"
  [[ -z $d ]] || fail "Redis differs from the newest samples ($(wc -l <<<"$d") differences): $(head -5 <<<"$d")"
  ((n == $(jq 'length' "$tmp/redis_expect.json"))) || fail "Redis has $n vehicles"
}

# rec_aggregates: the 5-minute cargo windows in fms.agg against tests/verify/aggcheck.mjs (DuckDB
# SQL over the same input: fms.cargo as the dev broker holds it, each partition in offset order,
# its own lateness rule), the connector's late and invalid dead letters (from the dead-letter
# lake); then every window is in DynamoDB (dynamodb-agg-5m) with the same count and sum
rec_aggregates() {
  timeout 120 kcat -C -b "$BS" -t fms.cargo -e -q -f '%p\t%o\t%S\t%s\n' 2>/dev/null >"$tmp/cargo.tsv" || fail "kcat fms.cargo"
  # padding records (no value: docs/stack.md) are not messages
  awk -F'\t' '$3 > 0' "$tmp/cargo.tsv" | sort -t$'\t' -k1,1n -k2,2n | cut -f1,4- |
    jq -R -c -n '[inputs | (index("\t")) as $i | {p: (.[:$i] | tonumber), s: .[$i + 1:]}] | to_entries[]
      | (.value.s | fromjson? // null) as $m | select($m != null) | {p: .value.p, line: .key, m: $m}' >"$tmp/model.ndjson"
  # the last windows close when the connector's partitions have been idle for aggregate.idle
  # (90 s, wall clock): poll until every window the model expects is out
  aggs_out() {
    timeout 120 kcat -C -b "$BS" -t fms.agg -e -q -f '%k\t%s\n' >"$tmp/agg.tsv" 2>/dev/null || fail "kcat fms.agg"
    raw_lines fms.deadletter | jq -r 'select(.headers["source.topic"] == "fms.cargo" and (.headers["error.class"] == "late" or .headers["error.class"] == "invalid" or .headers["error.class"] == "future"))
      | [.headers["error.class"], .headers["source.partition"], .headers["source.offset"], .headers["source.record"]] | @tsv' >"$tmp/dlq.tsv"
    WINDOW_MS=300000 LATENESS_MS=120000 GROUP=id,zone FIELD=temperature \
      node "$VERIFY/aggcheck.mjs" "$tmp/model.ndjson" "$tmp/agg.tsv" "$tmp/dlq.tsv" >"$tmp/aggcheck.json" 2>&1 || true
    jq -e '.windows_got >= .windows_expected and .late_got >= .late_expected' "$tmp/aggcheck.json" >/dev/null 2>&1 || { sleep 3; return 1; }
  }
  wait_for "every 5-minute window" 240 aggs_out
  jq -e '.problems == 0 and .windows_got == .windows_expected and .windows_expected > 0' "$tmp/aggcheck.json" >/dev/null ||
    fail "aggregates: $(head -c 2000 "$tmp/aggcheck.json")"
  fig aggregates "$(jq -c '{windows_expected, windows_got, late: .late_expected, invalid: .invalid_expected}' "$tmp/aggcheck.json")"
  settled() { [[ $(connect_lag) -eq 0 ]]; }
  wait_for "connect's consumer lag 0 (the windows' sinks)" 120 settled
}

# rec_agg_items (after rec_dynamodb's scan): every window of fms.agg is in DynamoDB
# (dynamodb-agg-5m) with the same sample count and temperature sum
rec_agg_items() {
  # the same windows in DynamoDB: pk <id>#cargo#temperature#5m, sk <window_start>#z<zone>
  jq -r 'select(.pk.S | endswith("#5m")) | "\(.pk.S | split("#")[0])\t\(.sk.S | split("#z")[1])\t\(.sk.S | split("#z")[0])\t\(.samples.N)\t\(.temperature.M.sum.N)"' \
    "$tmp/items.jsonl" | sort >"$tmp/agg_items.tsv"
  cut -f2 "$tmp/agg.tsv" | jq -r '"\(.id)\t\(.zone)\t\(.window_start)\t\(.samples)\t\(.temperature.sum)"' | sort -u >"$tmp/agg_want.tsv"
  cmp -s "$tmp/agg_items.tsv" "$tmp/agg_want.tsv" ||
    fail "DynamoDB's 5-minute items differ from fms.agg: $(diff "$tmp/agg_want.tsv" "$tmp/agg_items.tsv" | head -5)"
  fig dynamodb_agg_items "$(wc -l <"$tmp/agg_items.tsv")"
}

# rec_marts: the closed day's daily marts against tests/verify/martcheck.mjs, computed again with
# its own code from the raw lake's lines (what Kafka held: the marts count every row, so a
# message a device resent after mosquitto closed its connection counts twice, as the
# simulator's `duplicate` does; the raw-data checks flag them) and against the ground truth
rec_marts() {
  pgq "SELECT json_build_object('vehicle_daily', (SELECT coalesce(json_agg(v), '[]') FROM mart.vehicle_daily v WHERE day = '$E2E_DAY'),
    'reefer_daily', (SELECT coalesce(json_agg(r), '[]') FROM mart.reefer_daily r WHERE day = '$E2E_DAY'))" >"$tmp/marts.json"
  local out
  out=$(node "$VERIFY/martcheck.mjs" "$FP_SRC/config/warehouse/pipeline.json" "$tmp/marts.json" "$tmp/truth.jsonl" "$E2E_DAY" \
    "$tmp/lake.jsonl" 2>&1) || fail "martcheck of $E2E_DAY: $(head -c 3000 <<<"$out")"
  jq -e '.nbad == 0 and .rows > 0' <<<"$out" >/dev/null || fail "martcheck: $(head -c 3000 <<<"$out")"
  fig marts "$(jq -c '{rows, truth}' <<<"$out")"
  fig vehicle_daily_rows "$(pgq "SELECT count(*) FROM mart.vehicle_daily WHERE day = '$E2E_DAY'")"
}

# rec_score: `fleetpipe check score` over PostgreSQL's lake finds the injected anomalies:
# precision and recall >= 0.99 for every kind a raw-data or dead-letter check targets
# (check_score.sh's bar), but spoofed_topic, which the stack's mosquitto ACL drops before any
# store (rec_raw counts those), and late, which the simulator does not make. The truth is the
# simulator's plus the duplicates the pipeline made itself (rec_raw's resent.jsonl: devices
# resending after mosquitto closed their connection, the bridge's redeliveries), which the
# duplicate check must find as well.
rec_score() {
  local k targeted dlkinds today
  # less the truth of messages a mosquitto kill lost (chaos.sh: rec_raw's lost.jsonl)
  touch "$tmp/lost.jsonl"
  cat "$tmp/truth.jsonl" "$tmp/resent.jsonl" | jq -c --slurpfile lost "$tmp/lost.jsonl" \
    '($lost | map("\(.device_id) \(.seq)")) as $l | select(.kind == "summary" or ("\(.device_id) \(.seq)" as $k | $l | index($k) | not))' \
    >"$tmp/truth-score.jsonl"
  fig resent_duplicates "$(wc -l <"$tmp/resent.jsonl")"
  # the raw-data kinds over the fleet's day; the dead letters are partitioned by their arrival
  # (wall clock) and counted per day: their kinds from the fleet's day to today
  today=$(TZ=Asia/Seoul date +%F)
  score_days() { # FROM TO OUT
    "$FP" check score --pg "$PG" --truth "$tmp/truth-score.jsonl" --checks "$FP_SRC/config/checks" --from "$1" \
      --to "$2" --status-format json >"$3" 2>"$tmp/score.log" || fail "check score: $(tail -5 "$tmp/score.log")"
  }
  score_days "$E2E_DAY" "$(date -u -d "$E2E_DAY +1 day" +%F)" "$tmp/score.json"
  score_days "$E2E_DAY" "$(date -u -d "$today +1 day" +%F)" "$tmp/score-dl.json"
  targeted=$(jq -r '[.checks[].anomaly // empty | select(. != "late" and . != "spoofed_topic")] | unique | .[]' "$FP_SRC/config/checks/raw.json")
  dlkinds=$(jq -r '[.checks[].anomaly // empty | select(. != "late" and . != "spoofed_topic")] | unique | .[]' "$FP_SRC/config/checks/deadletter.json")
  (($(wc -w <<<"$targeted $dlkinds") >= 8)) || fail "the checks target only: $targeted $dlkinds"
  # time_skew's rule across the lake matches a skewed row by its seq lying within the seqs its
  # device sent in the interval (docs/checks.md): a skewed message among a device's first or
  # last of a table in a 30-minute run has no neighbour on one side and is missed — an edge of
  # the run, not of the data (check_score.sh's whole day has the bar): recall >= 0.85 here
  # (a kind the fleet happened not to inject — chaos.sh's small fleet — has nothing to score)
  local rbar
  for k in $targeted; do
    jq -e -n --arg k "$k" --slurpfile t "$tmp/truth-score.jsonl" '$t | any(.anomaly == $k)' >/dev/null ||
      { fig score_not_injected "$k"; continue; }
    rbar=0.99
    [[ $k == time_skew ]] && rbar=0.85
    jq -e --arg k "$k" --argjson r "$rbar" '.kinds[$k] | .truth > 0 and .precision >= 0.99 and .recall >= $r' "$tmp/score.json" >/dev/null ||
      fail "check score, $k: $(jq -c --arg k "$k" '.kinds[$k]' "$tmp/score.json")"
  done
  for k in $dlkinds; do
    jq -e -n --arg k "$k" --slurpfile t "$tmp/truth-score.jsonl" '$t | any(.anomaly == $k)' >/dev/null ||
      { fig score_not_injected "$k"; continue; }
    jq -e --arg k "$k" '.kinds[$k] | .truth > 0 and .precision >= 0.99 and .recall >= 0.99' "$tmp/score-dl.json" >/dev/null ||
      fail "check score (dead letters, $E2E_DAY to $today), $k: $(jq -c --arg k "$k" '.kinds[$k]' "$tmp/score-dl.json")"
  done
  fig score "$(jq -c --arg t "$targeted" '.kinds | with_entries(select(.key as $k | $t | split("\n") | index($k))) | map_values("\(.truth)/\(.precision)/\(.recall)")' "$tmp/score.json")"
  fig score_dl "$(jq -c --arg t "$dlkinds" '.kinds | with_entries(select(.key as $k | $t | split("\n") | index($k))) | map_values("\(.truth)/\(.precision)/\(.recall)")' "$tmp/score-dl.json")"
}

# rec_api N: the stack's Fleet API lists every vehicle, and the web console's map (headless
# chromium, tests/verify/mapcount.mjs) holds and draws exactly the ids of Redis' index
rec_api() {
  local n
  n=$(curl -sf "$API/vehicles?limit=1000" | jq '(.vehicles // .items // .data // .) | length') || fail "GET $API/vehicles"
  fig api_vehicles "$n"
  ((n == $1)) || fail "GET /api/v1/vehicles lists $n vehicles, want $1"
  redis-cli -p "$REDIS_PORT" zrange fleet:vehicles 0 -1 | sort -n | jq -R -s -c 'split("\n") | map(select(. != "") | tonumber)' >"$tmp/index.ids"
  node "$VERIFY/mapcount.mjs" "$(jq -r .console "$J")" >"$tmp/map.json" 2>"$tmp/map.err" || fail "mapcount: $(tail -3 "$tmp/map.err")"
  jq -e --slurpfile want "$tmp/index.ids" '.ids == $want[0] and .drawn == (.ids | length)' "$tmp/map.json" >/dev/null ||
    fail "the console's map: $(head -c 400 "$tmp/map.json"), Redis' index: $(head -c 400 "$tmp/index.ids")"
  fig console_markers "$(jq .drawn "$tmp/map.json")"
}

# rec_exactly_once: the raw lake's objects of each Kafka partition cover contiguous,
# non-overlapping offset ranges from 0 (names <topic>+<partition>+<start offset>, docs/connect.md:
# exactly-once names): no record twice, none skipped, whatever restarted
rec_exactly_once() {
  local f
  find "$S3DATA/fleet-raw/raw" -name '*.jsonl.zst._S3rver_object' | while read -r f; do
    printf '%s\t%s\n' "$(basename "${f%.jsonl.zst._S3rver_object}")" "$(zstd -dcq "$f" | wc -l)"
  done | awk -F'\t' '{ n = split($1, a, "+"); print a[1] "+" a[2] "\t" a[3] + 0 "\t" $2 }' | sort -t$'\t' -k1,1 -k2,2n |
    awk -F'\t' '$1 != src { src = $1; next_off = 0 }
      { if ($2 != next_off) { printf "%s: object at offset %d, expected %d\n", $1, $2, next_off; bad++ } next_off = $2 + $3; objs++ }
      END { printf "objects %d bad %d\n", objs, bad + 0 }' >"$tmp/eo.txt"
  grep -q '^objects [1-9][0-9]* bad 0$' "$tmp/eo.txt" || fail "raw lake not exactly-once: $(head -5 "$tmp/eo.txt")"
  fig raw_objects "$(awk '/^objects/ {print $2}' "$tmp/eo.txt")"
}
