#!/usr/bin/env bash
# `fleetpipe warehouse load` (src/warehouse/load.c) against PostgreSQL's own ceiling in the same
# run, on one simulated day of a fleet.
#
#   BENCH_VEHICLES=200 bench/warehouse.sh        (default 1000 vehicles)
#
# Data: `fleetpipe sim --duration 24h` of BENCH_VEHICLES vehicles, cut into raw objects of
# BENCH_LINES lines (default 20000 messages), `lake convert` into a file:// lake (zstd). The
# server is a throwaway PostgreSQL 15 cluster (tests/integration/lib/pg.bash: fsync off,
# synchronous_commit off, shared_buffers 128MB), on the same machine.
# Figures, one line each (rows/s = catalog rows / wall time of the whole command):
#   1. warehouse load, binary COPY (the default), into empty tables with the (dt, hour) BRIN
#      index; peak RSS from /usr/bin/time -v.
#   2. warehouse load --copy-format text, same tables truncated.
#   3. The ceiling: psql \copy of the same rows as CSV (exported by DuckDB from the same Parquet
#      files, in the tables' column order) into tables of the same shape (CREATE TABLE ... (LIKE
#      lake.t INCLUDING ALL)), one COPY per table; and the ratio of figure 1 to it.
#   4. The index's cost: figure 1 again with no index, and with a btree on (dt, hour) instead.
#   5. Re-loading one partition of the largest table (its ops.loads rows deleted) with the BRIN
#      index and with none: the DELETE's plan and the command's wall time.
#   6. The marts of the day as the scheduler runs them: the hourly partials of each hour (time
#      per hour, and the day's total), then the daily marts added up from them.
#   7. The checks of the same day (bench/check.sh runs figures 1, 6 and 7 only), next to
#      figure 6: the raw-data checks hour by hour (checks_hourly) and, as the alternative, over
#      the day in one interval; the day's checks (checks_daily). Wall time, peak RSS, slowest.
# Env: BENCH_LINES, BENCH_MARTS_ONLY=1 (figures 1, 6 and 7 only), BENCH_REPEATS (figure 7), KEEP=1 keeps the data, PERF=FILE records `perf record -g` of figure 1.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLEETPIPE=${FLEETPIPE:-$PWD/build/fleetpipe}
V=${BENCH_VEHICLES:-1000}
LINES=${BENCH_LINES:-20000}
source tests/integration/lib/connect.bash
source tests/integration/lib/pg.bash
VERIFY=$PWD/tests/verify
now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

raw=$tmp/raw/fms.vehicle/dt=2026-03-03/hour=00
lake=$tmp/lake
mkdir -p "$raw"
t0=$(now)
"$FP" sim --vehicles "$V" --duration 24h --speedup max --seed 1 --start 2026-03-03T00:00:00+09:00 \
  --target "file:$tmp/sim.jsonl" 2>"$tmp/sim.log"
split -l "$LINES" -d -a 6 --additional-suffix=.jsonl "$tmp/sim.jsonl" "$raw/fms.vehicle+0+"
rm "$tmp/sim.jsonl"
"$FP" lake convert --from "file://$tmp/raw" --to "file://$lake" >"$tmp/convert.json" 2>"$tmp/convert.log"
rm -rf "$tmp/raw"
rows=$(jq -s '[.[].Partitions[].Parameters.numRows | tonumber] | add' "$lake"/_catalog/*.json)
lake_bytes=$(du -sb "$lake" | cut -f1)
echo "data: $V vehicles, one day: $rows rows in $(jq .files "$tmp/convert.json") Parquet files, $((lake_bytes >> 20)) MiB (prepared in $(printf %.0f "$(echo "$(now) - $t0" | bc)") s)"

start_pg
tables=$(cd "$lake/_catalog" && ls | sed 's/\.json$//' | tr '\n' ' ')
"$FP" warehouse init --pg "$PG_URL" --lake "file://$lake" >/dev/null 2>"$tmp/init.log"
reset() { for t in $tables; do pq -c "TRUNCATE lake.$t"; done; pq -c "TRUNCATE ops.loads"; pq -c "VACUUM ANALYZE" 2>/dev/null; }

# load NAME [flags]: wall seconds in $secs, status in $tmp/NAME.json, time -v in $tmp/NAME.time
load() {
  local name=$1
  shift
  local s
  s=$(now)
  /usr/bin/time -v -o "$tmp/$name.time" "$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" \
    --status-format json "$@" >"$tmp/$name.json" 2>"$tmp/$name.log"
  secs=$(echo "$(now) - $s" | bc)
  jq -e --argjson r "$rows" '.exit_code == 0 and .rows == $r' "$tmp/$name.json" >/dev/null ||
    { echo "FAIL: $name: $(cat "$tmp/$name.json")" >&2; exit 1; }
}
rss() { awk '/Maximum resident/ { printf "%.0f", $6 / 1024 }' "$tmp/$1.time"; }

if [[ -n ${PERF:-} ]]; then
  perf record -g -o "$PERF" -- "$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" >/dev/null 2>&1
  reset
fi
load binary
bin_rate=$(rate "$rows" "$secs")
echo "1. warehouse load (binary COPY, BRIN): $rows rows in $(printf %.2f "$secs") s = $bin_rate rows/s, peak RSS $(rss binary) MiB"
if [[ -z ${BENCH_MARTS_ONLY:-} ]]; then
reset
load text --copy-format text
txt_rate=$(rate "$rows" "$secs")
echo "2. warehouse load --copy-format text:  $rows rows in $(printf %.2f "$secs") s = $txt_rate rows/s, peak RSS $(rss text) MiB"

# 3. The ceiling: DuckDB writes each table as CSV, psql \copy loads it.
mkdir -p "$tmp/csv"
node --input-type=module -e "
import { createRequire } from 'node:module';
import fs from 'node:fs';
const require = createRequire('$VERIFY/package.json');
const { DuckDBInstance } = require('@duckdb/node-api');
const db = await (await DuckDBInstance.create(':memory:')).connect();
await db.run(\"SET TimeZone = 'UTC'\");
for (const t of '$tables'.trim().split(/\s+/)) {
  const cat = JSON.parse(fs.readFileSync('$lake/_catalog/' + t + '.json', 'utf8'));
  const cols = cat.StorageDescriptor.Columns.map((c) => '\"' + c.Name.replace(/\"/g, '\"\"') + '\"').join(', ');
  await db.run(\`COPY (SELECT \${cols}, dt, hour FROM read_parquet('$lake/\${t}/*/*/*.parquet', hive_partitioning = true, hive_types_autocast = false, union_by_name = true)) TO '$tmp/csv/\${t}.csv' (HEADER false)\`);
}" || { echo "FAIL: DuckDB export" >&2; exit 1; }
pq -c "CREATE SCHEMA ceil"
for t in $tables; do pq -c "CREATE TABLE ceil.$t (LIKE lake.$t INCLUDING ALL)"; done
pq -c "VACUUM ANALYZE" 2>/dev/null
s=$(now)
for t in $tables; do pq -c "\\copy ceil.$t FROM '$tmp/csv/$t.csv' WITH (FORMAT csv)"; done
csecs=$(echo "$(now) - $s" | bc)
ceil_rows=$(for t in $tables; do pq -c "SELECT count(*) FROM ceil.$t"; done | paste -sd+ | bc)
[[ $ceil_rows -eq $rows ]] || { echo "FAIL: the ceiling loaded $ceil_rows rows, want $rows" >&2; exit 1; }
ceil_rate=$(rate "$rows" "$csecs")
echo "3. psql \\copy CSV (the ceiling):        $rows rows in $(printf %.2f "$csecs") s = $ceil_rate rows/s; warehouse load = $(awk -v a="$bin_rate" -v b="$ceil_rate" 'BEGIN { printf "%.0f%%", 100 * a / b }') of it (text COPY $(awk -v a="$txt_rate" -v b="$ceil_rate" 'BEGIN { printf "%.0f%%", 100 * a / b }'))"
rm -rf "$tmp/csv"
for t in $tables; do pq -c "DROP TABLE ceil.$t"; done

# 4. The index's cost on load speed.
idx() { pq -c "SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'lake.$1'::regclass"; }
for t in $tables; do pq -c "DROP INDEX $(idx "$t")"; done
reset
load noindex
none_rate=$(rate "$rows" "$secs")
for t in $tables; do pq -c "CREATE INDEX ON lake.$t (dt, hour)"; done
reset
load btree
bt_rate=$(rate "$rows" "$secs")
echo "4. index cost: no index $none_rate rows/s, BRIN $bin_rate rows/s, btree (dt, hour) $bt_rate rows/s"

# 5. Re-loading one partition of the largest table: BRIN against no index (the DELETE's scan).
for t in $tables; do pq -c "DROP INDEX $(idx "$t")"; pq -c "CREATE INDEX ON lake.$t USING brin (dt, hour) WITH (autosummarize = on)"; done
pq -c "VACUUM ANALYZE" 2>/dev/null
big=$(for t in $tables; do echo "$(pq -c "SELECT count(*) FROM lake.$t") $t"; done | sort -n | tail -1 | cut -d' ' -f2)
reload() {
  pq -c "DELETE FROM ops.loads WHERE table_name = '$big' AND hour = 12"
  local s
  s=$(now)
  "$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" --table "$big" --status-format json >"$tmp/reload.json" 2>/dev/null
  jq -e '.partitions_loaded == 1' "$tmp/reload.json" >/dev/null || { echo "FAIL: reload: $(cat "$tmp/reload.json")" >&2; exit 1; }
  printf %.3f "$(echo "$(now) - $s" | bc)"
}
plan_brin=$(pq -c "EXPLAIN DELETE FROM lake.$big WHERE dt = '2026-03-03' AND hour = 12" | grep -oE 'Bitmap Index Scan|Seq Scan|Index Scan' | head -1)
r_brin=$(reload)
for t in $tables; do pq -c "DROP INDEX $(idx "$t")"; done
plan_none=$(pq -c "EXPLAIN DELETE FROM lake.$big WHERE dt = '2026-03-03' AND hour = 12" | grep -oE 'Bitmap Index Scan|Seq Scan|Index Scan' | head -1)
r_none=$(reload)
echo "5. reload one partition of lake.$big ($(pq -c "SELECT count(*) FROM lake.$big WHERE hour = 12") of $(pq -c "SELECT count(*) FROM lake.$big") rows): BRIN $r_brin s ($plan_brin), no index $r_none s ($plan_none)"
fi

# 6. The marts of that day (config/warehouse/sql, as the scheduler runs them): the simulated
# day is the Seoul day 2026-03-03. 6a: the hourly partials of its 24 hours, one `warehouse
# backfill` of marts_hourly (wait_for dropped: the loads above are not in ops.runs), 2 hours at
# once; in production each runs once its hour is loaded, so what matters is the time per hour.
# 6b: the daily marts from those partials, one backfill of marts_daily (it waits for them).
for t in $tables; do
  [[ -n $(pq -c "SELECT 1 FROM pg_index WHERE indrelid = 'lake.$t'::regclass") ]] ||
    pq -c "CREATE INDEX ON lake.$t USING brin (dt, hour) WITH (autosummarize = on)"
done
pq -c "VACUUM ANALYZE" 2>/dev/null
pq -f "$PWD/config/warehouse/sql/schema.sql" >/dev/null 2>&1
mkdir -p "$tmp/pipe" && cp -r "$PWD/config/warehouse/sql" "$tmp/pipe/"
jq '.dags |= map(select(.id == "marts_hourly" or .id == "marts_daily") | if .id == "marts_hourly" then del(.wait_for) else . end)' \
  "$PWD/config/warehouse/pipeline.json" >"$tmp/pipe/pipeline.json"
backfill() { # DAG NAME: wall seconds in $secs
  local s
  s=$(now)
  /usr/bin/time -v -o "$tmp/$2.time" "$FP" warehouse backfill --pg "$PG_URL" --pipeline "$tmp/pipe/pipeline.json" \
    --dag "$1" --from 2026-03-03 --to 2026-03-04 --concurrency 2 --status-format json >"$tmp/$2.json" 2>"$tmp/$2.log" ||
    { echo "FAIL: $1: $(cat "$tmp/$2.json") $(tail -3 "$tmp/$2.log")" >&2; exit 1; }
  secs=$(echo "$(now) - $s" | bc)
}
pertask() { pq -c "SELECT string_agg(task || ' ' || round(sum::numeric, 1) || ' s', ', ') FROM (SELECT task, sum(duration_s) FROM ops.runs WHERE dag = '$1' GROUP BY task ORDER BY task) x"; }
backfill marts_hourly hourly
echo "6a. hourly partials (vehicle_hourly, reefer_hourly) of the 24 hours, $rows rows of $V vehicles: $(printf %.1f "$secs") s wall for the day, 2 hours at once; per hour (both tasks): $(pq -c "SELECT 'mean ' || round(avg(s)::numeric, 2) || ' s, max ' || round(max(s)::numeric, 2) || ' s' FROM (SELECT interval_start, sum(duration_s) s FROM ops.runs WHERE dag = 'marts_hourly' GROUP BY 1) x"); task sums: $(pertask marts_hourly); peak RSS $(rss hourly) MiB"
backfill marts_daily daily
echo "6b. daily marts (vehicle_daily, reefer_daily, fleet_daily) from the partials: $(printf %.1f "$secs") s ($(pq -c "SELECT count(*) FROM mart.vehicle_daily") vehicle-days, $(pq -c "SELECT count(*) FROM mart.reefer_daily") zone-days); per task: $(pertask marts_daily)"

# 7. The data-quality checks of that day, as the scheduler runs them: 7a checks_hourly (the
# raw-data checks of config/checks/raw.json, "every": "hour") over the day's 24 hours, one
# `warehouse backfill`, 2 hours at once like 6a; 7b the day's checks (checks_daily: marts,
# consistency, dead letters) over the day. 7c, the alternative: the same raw-data checks over
# the whole day as one interval (raw.json without "every"), as checks_daily ran them before.
# BENCH_REPEATS (default 1) repeats 7a and 7c interleaved.
cp -r "$PWD/config/checks" "$tmp/checks"
jq '.dags |= map(select(.id == "checks_hourly") | del(.wait_for))' "$PWD/config/warehouse/pipeline.json" \
  >"$tmp/pipe/checks.json"
mkdir -p "$tmp/dayraw" && ln -s "$tmp/checks/sql" "$tmp/dayraw/sql"
jq 'del(.every)' "$PWD/config/checks/raw.json" >"$tmp/dayraw/raw.json"
checkrun() { # NAME ARGS...: wall seconds in $secs
  local name=$1 s
  shift
  s=$(now)
  /usr/bin/time -v -o "$tmp/$name.time" "$FP" check run --pg "$PG_URL" --from 2026-03-03 \
    --status-format json "$@" >"$tmp/$name.json" 2>"$tmp/$name.log" || true
  secs=$(echo "$(now) - $s" | bc)
  jq -e '.checks > 0 and .error == 0' "$tmp/$name.json" >/dev/null ||
    { echo "FAIL: $name: $(head -c 600 "$tmp/$name.json") $(tail -3 "$tmp/$name.log")" >&2; exit 1; }
}
slowest() { pq -c "SELECT string_agg(check_name || ' ' || round(s::numeric, 1) || ' s', ', ') FROM (SELECT check_name, sum(duration_s) s FROM ops.dq_results WHERE $1 GROUP BY 1 ORDER BY 2 DESC LIMIT 4) x"; }
for rep in $(seq "${BENCH_REPEATS:-1}"); do
  pq -c "DELETE FROM ops.runs WHERE dag = 'checks_hourly'" >/dev/null 2>&1 || true
  s=$(now)
  /usr/bin/time -v -o "$tmp/chourly.time" "$FP" warehouse backfill --pg "$PG_URL" --pipeline "$tmp/pipe/checks.json" \
    --dag checks_hourly --from 2026-03-03 --to 2026-03-04 --concurrency 2 --status-format json >"$tmp/chourly.json" 2>"$tmp/chourly.log" ||
    { echo "FAIL: checks_hourly: $(cat "$tmp/chourly.json") $(tail -3 "$tmp/chourly.log")" >&2; exit 1; }
  secs=$(echo "$(now) - $s" | bc)
  echo "7a. [run $rep] checks_hourly ($(jq '.checks | length' "$tmp/dayraw/raw.json") raw-data checks) over the 24 hours: $(printf %.1f "$secs") s wall for the day, 2 hours at once; per hour: $(pq -c "SELECT 'mean ' || round(avg(s)::numeric, 2) || ' s, max ' || round(max(s)::numeric, 2) || ' s, sum ' || round(sum(s)::numeric, 1) || ' s' FROM (SELECT interval_start, sum(duration_s) s FROM ops.runs WHERE dag = 'checks_hourly' GROUP BY 1) x"); $(pq -c "SELECT count(*) FROM ops.dq_results WHERE interval_end - interval_start = interval '1 hour'") results; peak RSS $(rss chourly) MiB; slowest (sum of hours): $(slowest "interval_end - interval_start = interval '1 hour'")"
  checkrun cdayraw --checks "$tmp/dayraw/raw.json"
  echo "7c. [run $rep] alternative: the same raw-data checks over the day as one interval: $(printf %.1f "$secs") s wall, peak RSS $(rss cdayraw) MiB; slowest: $(slowest "interval_end - interval_start > interval '1 hour' AND check_name LIKE 'raw.%' AND check_name NOT LIKE 'raw.deadletter.%'")"
done
checkrun cdaily --checks "$tmp/checks" --every day
echo "7b. checks_daily (config/checks without raw.json: marts, consistency, dead letters) over the day: $(printf %.1f "$secs") s wall for $(jq .checks "$tmp/cdaily.json") checks ($(jq -c '{pass, warn, fail}' "$tmp/cdaily.json")), peak RSS $(rss cdaily) MiB; slowest: $(slowest "interval_end - interval_start > interval '1 hour' AND (check_name NOT LIKE 'raw.%' OR check_name LIKE 'raw.deadletter.%')")"
