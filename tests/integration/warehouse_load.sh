#!/usr/bin/env bash
# fleetpipe warehouse init / load against a throwaway PostgreSQL 15 (lib/pg.bash), the lake made
# by `fleetpipe sim` + `lake convert`, checked with DuckDB over the Parquet files
# (tests/verify/whcheck.mjs: rows per (dt, hour) and per-column aggregates, no fleetpipe code).
# Proves: every partition's rows equal the catalog's numRows and DuckDB's count, values agree;
# a re-run loads nothing; a rewritten file reloads only its partitions; a new catalog column is
# added and a bigint widened to double precision; a corrupt, a truncated and two schema-
# disagreeing files fail their partitions (named, rolled back, ops.loads untouched) while the
# rest load and the exit status is 1; PostgreSQL restarted mid-COPY is survived by a retry with
# exact rows; two loads of the same partitions at once load each once (the partition lock).
# Every check uses --status-format json numbers.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/pg.bash"
VERIFY=$FP_SRC/tests/verify
wh() { node "$VERIFY/whcheck.mjs" "$@"; }
start_pg

raw=$tmp/raw lake=$tmp/lake
obj() { # obj HOUR NAME: the raw object path for a file of that hour
  mkdir -p "$raw/fms.vehicle/dt=2026-03-03/hour=$1"
  echo "$raw/fms.vehicle/dt=2026-03-03/hour=$1/$2"
}
sim() { # sim START DURATION VEHICLES SEED OUT
  "$FP" sim --vehicles "$3" --duration "$2" --speedup max --seed "$4" --start "$1" --target "file:$5" 2>>"$tmp/sim.log" ||
    fail "sim failed: $(tail -3 "$tmp/sim.log")"
}
A=$(obj 10 fms.vehicle+0+00000000000000000000.jsonl)
B=$(obj 11 fms.vehicle+1+00000000000000000000.jsonl)
sim 2026-03-03T10:00:00Z 3h 4 3 "$A"
sim 2026-03-03T11:30:00Z 2h 3 4 "$B"
convert() { "$FP" lake convert --from "file://$raw" --to "file://$lake" "$@" >/dev/null 2>>"$tmp/convert.log" || fail "lake convert failed"; }
convert
load() { # load NAME [flags]: status JSON in $tmp/NAME.json, exit code in $rc
  local name=$1
  shift
  rc=0
  "$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" --status-format json "$@" >"$tmp/$name.json" 2>>"$tmp/load.log" || rc=$?
  [[ $(wc -l <"$tmp/$name.json") -eq 1 ]] || fail "$name: not one status line: $(cat "$tmp/$name.json")"
}
catalog_rows() { jq -s '[.[].Partitions[].Parameters.numRows | tonumber] | add' "$lake"/_catalog/[!_]*.json; }
# Rows per table and (dt, hour): PostgreSQL against the catalog's numRows.
exact() {
  local t want got
  for t in $(cd "$lake/_catalog" && ls [!_]*.json | sed 's/\.json$//'); do
    want=$(jq -r '.Partitions[] | "\(.Values[0])|\(.Values[1] | tonumber)|\(.Parameters.numRows)"' "$lake/_catalog/$t.json" | sort)
    got=$(pq -c "SELECT dt, hour, count(*) FROM lake.$t GROUP BY 1, 2" | sort)
    [[ $want == "$got" ]] || fail "$1: lake.$t per (dt, hour) differs from the catalog: want $(echo $want) got $(echo $got)"
  done
}
# The whole lake, DuckDB against PostgreSQL: counts per partition and per-column aggregates.
same_as_duckdb() {
  wh duck "$lake" >"$tmp/duck.json" || fail "whcheck duck failed"
  pq -c "$(wh sql "$lake")" >"$tmp/pg.json" || fail "the check query failed"
  out=$(wh compare "$tmp/duck.json" "$tmp/pg.json") || fail "$1: PostgreSQL and DuckDB disagree: $out"
}

"$FP" warehouse init --pg "$PG_URL" --lake "file://$lake" --status-format json >"$tmp/init.json" 2>>"$tmp/load.log" ||
  fail "init failed: $(cat "$tmp/init.json") $(tail -3 "$tmp/load.log")"
# one table per catalog, and lake.deadletter even though this lake has no dead letters yet (and
# lake.vehicle_event when it has no event)
[[ ! -e $lake/_catalog/deadletter.json ]] || fail "this lake should have no dead-letter table"
ev=$([[ -e $lake/_catalog/vehicle_event.json ]] && echo 0 || echo 1)
jq -e --argjson n "$(ls "$lake/_catalog" | grep -vc '^_')" --argjson ev "$ev" '.tables == $n + 1 + $ev and .exit_code == 0' "$tmp/init.json" >/dev/null || fail "init: $(cat "$tmp/init.json")"
[[ $(pq -c "SELECT count(*) FROM lake.deadletter") == 0 ]] || fail "lake.deadletter missing or not empty"
[[ $(pq -c "SELECT count(*) FROM pg_namespace WHERE nspname IN ('lake', 'mart', 'ops')") -eq 3 ]] || fail "schemas missing"

# 1. The first load: every partition, every row.
nparts=$(jq -s '[.[].Partitions | length] | add' "$lake"/_catalog/[!_]*.json)
load first
jq -e --argjson p "$nparts" --argjson r "$(catalog_rows)" --argjson t "$(ls "$lake/_catalog" | grep -vc "^_")" '.exit_code == 0 and
  .partitions == $p and .partitions_loaded == $p and .partitions_failed == 0 and .rows == $r and .tables == $t' "$tmp/first.json" >/dev/null ||
  fail "first load: $(cat "$tmp/first.json") (want $nparts partitions, $(catalog_rows) rows)"
exact "first load"
same_as_duckdb "first load"
[[ $(pq -c "SELECT count(*) FROM ops.loads") -eq $(jq .files "$tmp/first.json") ]] || fail "ops.loads rows != files loaded"
[[ $(pq -c "SELECT count(*) FROM ops.loads WHERE hour_start <> (dt + make_interval(hours => hour))::timestamp AT TIME ZONE 'UTC'") -eq 0 ]] ||
  fail "hour_start is not dt + hour"

# 2. Again: nothing changed, nothing loaded, nothing doubled.
load again
jq -e --argjson p "$nparts" '.exit_code == 0 and .partitions_skipped == $p and .partitions_loaded == 0 and .rows == 0' \
  "$tmp/again.json" >/dev/null || fail "re-run loaded something: $(cat "$tmp/again.json")"
exact "re-run"

# 3. Text COPY loads the same values (one table, its ops.loads rows dropped to force it).
pq -c "DELETE FROM ops.loads WHERE table_name = 'vehicle_status'"
load text --copy-format text --table vehicle_status
jq -e '.exit_code == 0 and .partitions_loaded == .partitions and .partitions > 0' "$tmp/text.json" >/dev/null ||
  fail "text COPY: $(cat "$tmp/text.json")"
exact "text COPY"
same_as_duckdb "text COPY"

# 4. One raw object rewritten (more rows): only the partitions with its files reload.
cp "$tmp/lake/_catalog" -r "$tmp/cat.before"
head -n 20 "$B" >>"$B"
convert
changed=$(for f in "$lake"/_catalog/[!_]*.json; do
  jq -n --slurpfile a "$tmp/cat.before/$(basename "$f")" --slurpfile b "$f" \
    '[$b[0].Partitions[] as $p | select(($a[0].Partitions | map(select(.Values == $p.Values)) | .[0].Files) != $p.Files)] | length'
done | jq -s add)
load rewrite
jq -e --argjson c "$changed" --argjson p "$nparts" '.exit_code == 0 and .partitions_loaded == $c and $c > 0 and
  .partitions_skipped == $p - $c' "$tmp/rewrite.json" >/dev/null || fail "rewrite: $(cat "$tmp/rewrite.json"), want $changed loaded"
exact "rewrite"

# 5. Evolution: a new field (a column added) and heading with fractions (bigint -> double).
[[ $(pq -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'lake.vehicle_kinematic'::regclass AND attname = 'heading'") == bigint ]] ||
  fail "heading is not bigint before the evolution"
C=$(obj 14 fms.vehicle+2+00000000000000000000.jsonl)
sim 2026-03-03T14:00:00Z 20m 2 5 "$tmp/c.jsonl"
jq -c 'if .object == "vehicle" and .type == "kinematic" then .measurements |= map(.tire_pressure = 2.5 | .heading += 0.5) else . end' \
  "$tmp/c.jsonl" >"$C"
convert
load evolve
jq -e '.exit_code == 0 and .columns_added == 1 and .columns_widened == 1 and .partitions_loaded > 0' "$tmp/evolve.json" >/dev/null ||
  fail "evolution: $(cat "$tmp/evolve.json")"
[[ $(pq -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'lake.vehicle_kinematic'::regclass AND attname IN ('heading', 'tire_pressure') ORDER BY attname") == $'double precision\ndouble precision' ]] ||
  fail "heading / tire_pressure not double precision"
[[ $(pq -c "SELECT count(*) FROM lake.vehicle_kinematic WHERE tire_pressure IS NULL AND hour < 14") -gt 0 ]] || fail "old rows do not have NULL tire_pressure"
# An old partition (bigint heading in its file) reloads into the widened column.
pq -c "DELETE FROM ops.loads WHERE table_name = 'vehicle_kinematic' AND hour = 10"
load widened --table vehicle_kinematic
jq -e '.exit_code == 0 and .partitions_loaded == 1' "$tmp/widened.json" >/dev/null || fail "old file into the widened column: $(cat "$tmp/widened.json")"
exact "evolution"
same_as_duckdb "evolution"

# 6. Bad files: corrupt (random bytes, the catalog's size), truncated, an extra column, a type
# that disagrees. Those partitions fail, named; the other tables' partitions of the hours load.
D=$(obj 15 fms.vehicle+3+00000000000000000000.jsonl)
sim 2026-03-03T15:00:00Z 3h 2 6 "$D"
convert --since 2026-03-03T15:00:00Z # only D: the older objects would now convert with a double heading
kin=$lake/vehicle_kinematic/dt=2026-03-03
st=$lake/vehicle_status/dt=2026-03-03
base=fms.vehicle+3+00000000000000000000.parquet
size=$(stat -c %s "$kin/hour=15/$base")
head -c "$size" /dev/urandom >"$kin/hour=15/$base"
truncate -s $(($(stat -c %s "$kin/hour=16/$base") - 100)) "$kin/hour=16/$base"
jq -c 'if .object == "vehicle" and .type == "kinematic" then .measurements |= map(.bogus = 1)
  elif .object == "vehicle" and .type == "status" then .measurements |= map(.fuel_level = "low") else . end' "$D" \
  >"$tmp/d-bad.jsonl"
mkdir -p "$tmp/rawbad/fms.vehicle/dt=2026-03-03/hour=15"
cp "$tmp/d-bad.jsonl" "$tmp/rawbad/fms.vehicle/dt=2026-03-03/hour=15/fms.vehicle+3+00000000000000000000.jsonl"
"$FP" lake convert --from "file://$tmp/rawbad" --to "file://$tmp/lakebad" >/dev/null 2>>"$tmp/convert.log" || fail "scratch convert failed"
cp "$tmp/lakebad/vehicle_kinematic/dt=2026-03-03/hour=17/$base" "$kin/hour=17/$base"
cp "$tmp/lakebad/vehicle_status/dt=2026-03-03/hour=17/$base" "$st/hour=17/$base"
pq -c "SELECT table_name, file, size, loaded_at FROM ops.loads ORDER BY 1, 2" >"$tmp/loads.before"
load bad
jq -e '.exit_code == 1 and .partitions_failed == 4 and .partitions_loaded > 0 and (.failed | length) == 4' "$tmp/bad.json" >/dev/null ||
  fail "bad files: $(cat "$tmp/bad.json")"
for want in "vehicle_kinematic 15 $base parquet:" "vehicle_kinematic 16 $base parquet:" \
  "vehicle_kinematic 17 $base column \"bogus\" (bigint) is not in the catalog of table vehicle_kinematic" \
  "vehicle_status 17 $base column \"fuel_level\" is string in the file but double precision"; do
  read -r t h f msg <<<"$want"
  jq -e --arg t "$t" --arg h "$h" --arg f "$f" --arg m "$msg" \
    '.failed | map(select(.table == $t and .hour == $h and .file == $f and .dt == "2026-03-03" and
      (.error | contains($m)) and (.error | contains("dt=2026-03-03 hour=" + $h)) and (.error | contains($f)))) | length == 1' \
    "$tmp/bad.json" >/dev/null || fail "no failure '$want' in $(jq -c .failed "$tmp/bad.json")"
done
[[ $(pq -c "SELECT count(*) FROM lake.vehicle_kinematic WHERE hour >= 15") -eq 0 ]] || fail "rows of failed partitions were kept"
[[ $(pq -c "SELECT count(*) FROM lake.vehicle_status WHERE hour = 17") -eq 0 ]] || fail "rows of a failed partition were kept"
[[ $(pq -c "SELECT count(*) FROM ops.loads WHERE hour >= 15 AND (table_name = 'vehicle_kinematic' OR (table_name = 'vehicle_status' AND hour = 17))") -eq 0 ]] ||
  fail "ops.loads has rows of failed partitions"
[[ $(pq -c "SELECT count(*) FROM lake.cargo_temperature WHERE hour = 16") -gt 0 ]] || fail "the good partitions of hour 16 did not load"
pq -c "SELECT table_name, file, size, loaded_at FROM ops.loads WHERE hour < 15 ORDER BY 1, 2" >"$tmp/loads.after"
diff <(grep -v '/hour=1[5-7]/' "$tmp/loads.before") "$tmp/loads.after" >&2 || fail "ops.loads of earlier partitions changed"
# Repaired (converted again): the failed partitions load, the rest stay.
convert --since 2026-03-03T15:00:00Z
load repaired
jq -e '.exit_code == 0 and .partitions_loaded == 4 and .partitions_failed == 0' "$tmp/repaired.json" >/dev/null ||
  fail "after repair: $(cat "$tmp/repaired.json")"
exact "repair"

# 7. PostgreSQL restarted mid-COPY (the loader paused at its first COPY by the test hook): the
# partition is retried on a new connection, rows exact, nothing doubled.
pq -c "DELETE FROM ops.loads WHERE table_name = 'vehicle_kinematic'"
kparts=$(jq '.Partitions | length' "$lake/_catalog/vehicle_kinematic.json")
rm -f "$tmp/pause"
FLEETPIPE_TEST_WH_PAUSE=$tmp/pause "$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" --table vehicle_kinematic \
  --status-format json >"$tmp/restart.json" 2>>"$tmp/load.log" &
lpid=$!
pids+=($lpid)
wait_for "the loader's first COPY" 30 test -e "$tmp/pause"
stop_pg immediate
restart_pg
rm -f "$tmp/pause"
rc=0
wait "$lpid" || rc=$?
[[ $rc -eq 0 ]] || fail "load across a restart exited $rc: $(cat "$tmp/restart.json") $(tail -5 "$tmp/load.log")"
jq -e --argjson p "$kparts" '.exit_code == 0 and .retries >= 1 and .partitions_loaded == $p and .partitions_failed == 0' \
  "$tmp/restart.json" >/dev/null || fail "restart: $(cat "$tmp/restart.json")"
exact "restart"

# 8. Two loads of the same partitions at once (the scheduler's tasks and its late-data refresh
# overlap): the first holds the partition's lock while paused at its first COPY, the second
# waits for it (an advisory lock not granted), then finds each partition the other committed
# and skips it. Each partition is loaded exactly once between them, nothing doubled.
pq -c "DELETE FROM ops.loads WHERE table_name = 'vehicle_kinematic'"
rm -f "$tmp/pause"
FLEETPIPE_TEST_WH_PAUSE=$tmp/pause "$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" --table vehicle_kinematic \
  --status-format json >"$tmp/race1.json" 2>>"$tmp/load.log" &
l1=$!
pids+=($l1)
wait_for "the first loader's first COPY" 30 test -e "$tmp/pause"
"$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" --table vehicle_kinematic \
  --status-format json >"$tmp/race2.json" 2>>"$tmp/load.log" &
l2=$!
pids+=($l2)
lock_waits() { [[ $(pq -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") -eq 1 ]]; }
wait_for "the second loader to wait for the partition's lock" 30 lock_waits
rm -f "$tmp/pause"
rc1=0 rc2=0
wait "$l1" || rc1=$?
wait "$l2" || rc2=$?
((rc1 == 0 && rc2 == 0)) || fail "concurrent loads exited $rc1, $rc2: $(cat "$tmp/race1.json" "$tmp/race2.json")"
jq -e -s --argjson p "$kparts" '(map(.partitions_loaded) | add) == $p and (map(.partitions_skipped) | add) == $p
  and all(.[]; .partitions_failed == 0 and .partitions == $p)' "$tmp/race1.json" "$tmp/race2.json" >/dev/null ||
  fail "concurrent loads: $(cat "$tmp/race1.json" "$tmp/race2.json")"
exact "concurrent loads"
same_as_duckdb "the end"

# The connection string never reaches the output.
grep -qF "$PG_URL" "$tmp/load.log" "$tmp"/*.json && fail "the connection string was printed"
echo "ok: $nparts partitions, $(catalog_rows) rows exact and equal to DuckDB; re-run skipped; rewrite reloaded $changed;" \
  "evolution; 4 bad files failed alone; restart retried $(jq .retries "$tmp/restart.json");" \
  "concurrent loads $(jq .partitions_loaded "$tmp/race1.json") + $(jq .partitions_loaded "$tmp/race2.json")"
