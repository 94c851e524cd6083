#!/usr/bin/env bash
# fleetpipe warehouse load against a PostgreSQL whose disk fills up mid-load. One table,
# lake.vehicle_kinematic, lives in a tablespace on a small tmpfs (WAL and the other tables stay
# on the normal disk, so the server never PANICs), sized from measuring loads so that the disk
# fills up in the second file of a partition. Proves: the load exits 1; that partition and the
# later ones of the table fail with PostgreSQL's "could not extend file ...: No space left on
# device (SQLSTATE 53100)", naming table, dt, hour and the file; a failed partition has no rows
# and no ops.loads rows (rolled back, the good first file's rows too); the partitions that fit
# are exact (rows = the catalog's numRows); the table after it still loads; the server answers.
# Then the tmpfs is grown (mount -o remount,size=) and a re-run loads exactly the failed
# partitions: exit 0, every file once in ops.loads, total rows = the catalog, nothing doubled.
# Needs root (mount -t tmpfs); without it the test is skipped (exit 77, ctest SKIP_RETURN_CODE).
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/pg.bash"

skip() {
  echo "SKIP: warehouse_diskfull: $*" >&2
  exit 77
}
mnt=$tmp/small
mkdir -p "$mnt"
[[ $(id -u) -eq 0 ]] || skip "needs root to mount a tmpfs for the tablespace (running as uid $(id -u))"
mount -t tmpfs -o size=1m,mode=0700 tmpfs "$mnt" 2>"$tmp/mount.err" ||
  skip "mount -t tmpfs is not permitted here: $(head -1 "$tmp/mount.err")"
mounted=1
# The server goes first (it holds files on the tmpfs), then the tmpfs, then $tmp.
df_cleanup() {
  [[ -n ${pg_started:-} ]] && stop_pg immediate
  if [[ -n ${mounted:-} ]]; then
    umount "$mnt" 2>/dev/null || umount -l "$mnt" || echo "warehouse_diskfull: could not unmount $mnt" >&2
  fi
  cleanup
}
trap df_cleanup EXIT
start_pg

raw=$tmp/raw lake=$tmp/lake
mkdir -p "$raw/fms.vehicle/dt=2026-03-03/hour=10"
# Two raw objects over the same six hours: every partition has two files, so a full disk can
# strike a partition after one of its files was COPYed, and the rollback must take both.
for k in 0 1; do
  "$FP" sim --vehicles $((4 - k)) --duration 6h --speedup max --seed $((3 + k)) --start 2026-03-03T10:00:00Z \
    --target "file:$raw/fms.vehicle/dt=2026-03-03/hour=10/fms.vehicle+$k+00000000000000000000.jsonl" 2>>"$tmp/sim.log" ||
    fail "sim failed: $(tail -3 "$tmp/sim.log")"
done
"$FP" lake convert --from "file://$raw" --to "file://$lake" >/dev/null 2>>"$tmp/convert.log" || fail "lake convert failed"

load() { # load NAME [flags]: status JSON in $tmp/NAME.json, exit code in $rc
  local name=$1
  shift
  rc=0
  timeout 120 "$FP" warehouse load --pg "$PG_URL" --lake "file://$lake" --status-format json "$@" >"$tmp/$name.json" 2>>"$tmp/load.log" || rc=$?
  [[ $rc -ne 124 ]] || fail "$name: the load hung (killed after 120 s): $(tail -5 "$tmp/load.log")"
  [[ $(wc -l <"$tmp/$name.json") -eq 1 ]] || fail "$name: not one status line: $(cat "$tmp/$name.json") $(tail -5 "$tmp/load.log")"
}
catalog_rows() { jq -s '[.[].Partitions[].Parameters.numRows | tonumber] | add' "$lake"/_catalog/[!_]*.json; }
# parts TABLE: "dt|hour|numRows" per catalog partition, sorted.
parts() { jq -r '.Partitions[] | "\(.Values[0])|\(.Values[1] | tonumber)|\(.Parameters.numRows)"' "$lake/_catalog/$1.json" | sort; }
# loaded TABLE: "dt|hour|count" per partition in PostgreSQL, sorted.
loaded() { pq -c "SELECT dt, hour, count(*) FROM lake.$1 GROUP BY 1, 2" | sort; }
exact() { # every table's rows per (dt, hour) equal the catalog's
  local t
  for t in $tables; do
    [[ $(parts "$t") == "$(loaded "$t")" ]] || fail "$1: lake.$t differs from the catalog: want $(parts "$t" | tr '\n' ' ') got $(loaded "$t" | tr '\n' ' ')"
  done
}
tables=$(cd "$lake/_catalog" && ls [!_]*.json | sed 's/\.json$//')
T=vehicle_kinematic
ktotal=$(jq '.Partitions | length' "$lake/_catalog/$T.json")
nparts=$(jq -s '[.[].Partitions | length] | add' "$lake"/_catalog/[!_]*.json)
((ktotal >= 4)) || fail "want at least 4 partitions of $T, the lake has $ktotal"
[[ $(echo "$tables" | tail -1) != "$T" ]] || fail "$T is the last table: nothing would show that the run goes on"

"$FP" warehouse init --pg "$PG_URL" --lake "file://$lake" --status-format json >"$tmp/init.json" 2>>"$tmp/load.log" ||
  fail "init failed: $(cat "$tmp/init.json") $(tail -3 "$tmp/load.log")"

# 1. Loads on the normal disk measure what lake.$T takes (heap, TOAST, free space map): the
# first half of its partitions, then all. The tmpfs is sized to hold that half, the next
# partition's first file and half of its second file: the disk fills up in the middle of a
# partition whose first COPY succeeded, so the rollback has to take back rows of a good file.
# (tmpfs sizes are whole 8 KiB pages: then a page either fits or the write fails with ENOSPC,
# "No space left on device". With half a page left PostgreSQL says "wrote only 4096 of 8192
# bytes" instead, the same SQLSTATE 53100, disk_full.)
half=$((ktotal / 2))
cut=$(jq -r --argjson k "$half" '.Partitions | sort_by(.Values) | .[$k].Values | "\(.[0])T\(.[1]):00:00Z"' "$lake/_catalog/$T.json")
load measure1 --table "$T" --until "$cut"
[[ $rc -eq 0 ]] || fail "measuring load exited $rc: $(cat "$tmp/measure1.json")"
before=$(pq -c "SELECT pg_table_size('lake.$T')")
load measure2 --table "$T"
[[ $rc -eq 0 ]] || fail "measuring load exited $rc: $(cat "$tmp/measure2.json")"
need=$(pq -c "SELECT pg_table_size('lake.$T')")
rest=$(jq --argjson k "$half" '[.Partitions | sort_by(.Values) | .[$k:][].Parameters.numRows | tonumber] | add' "$lake/_catalog/$T.json")
read -r f0 f1 <<<"$(jq -r --argjson k "$half" '.Partitions | sort_by(.Values) | .[$k].Files | "\(.[0].Rows) \(.[1].Rows)"' "$lake/_catalog/$T.json")"
size_k=$(((before + (need - before) * (2 * f0 + f1) / (2 * rest)) / 8192 * 8))
mount -o remount,size=${size_k}k "$mnt" || fail "remount size=${size_k}k failed"
chown "${PG_USER:-postgres}" "$mnt"
pq -c "DELETE FROM ops.loads" -c "TRUNCATE lake.$T" -c "CREATE TABLESPACE small LOCATION '$mnt'" \
  -c "ALTER TABLE lake.$T SET TABLESPACE small"
[[ $(pq -c "SELECT count(*) FROM ops.loads") -eq 0 ]] || fail "ops.loads not emptied"
[[ $(pq -c "SELECT t.spcname FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace WHERE c.oid = 'lake.$T'::regclass") == small ]] ||
  fail "lake.$T is not in tablespace small"

# 2. The disk fills up during lake.$T: those partitions fail, named and rolled back; the rest loads.
load full
[[ $rc -eq 1 ]] || fail "disk-full load exited $rc, want 1: $(cat "$tmp/full.json")"
jq -e --argjson p "$nparts" '.exit_code == 1 and .partitions == $p and .partitions_failed >= 1 and
  .partitions_loaded + .partitions_failed == $p and .tables_failed == 0 and (.failed | length) == .partitions_failed' \
  "$tmp/full.json" >/dev/null || fail "disk-full status: $(cat "$tmp/full.json")"
nfailed=$(jq .partitions_failed "$tmp/full.json")
((nfailed == ktotal - half)) || fail "want $((ktotal - half)) failed partitions of $T: $(jq -c .failed "$tmp/full.json") (tmpfs ${size_k}k of $need bytes)"
# Every failure: the full table, a partition of the catalog, its file, the disk's message.
jq -e --arg t "$T" '.failed | all(. as $f | .table == $t and .dt == "2026-03-03" and .file != "" and .class == "io" and
  (.error | contains("lake." + $t + " dt=" + $f.dt + " hour=" + $f.hour + ": ")) and
  (.error | contains("file " + $t + "/dt=" + $f.dt + "/hour=" + $f.hour + "/" + $f.file + ": ")) and
  (.error | test("could not extend file .*: No space left on device \\(SQLSTATE 53100\\)")))' \
  "$tmp/full.json" >/dev/null || fail "disk-full failures: $(jq -c .failed "$tmp/full.json")"
# The partitions before the cut fit; the one at the cut failed on its second file; every one
# after it failed too (the disk stays full).
jq -e --arg h "${cut:11:2}" --arg f "$(jq -r --argjson k "$half" '.Partitions | sort_by(.Values) | .[$k].Files[1].Name' "$lake/_catalog/$T.json")" \
  '.failed | min_by(.hour) | .hour == $h and .file == $f' "$tmp/full.json" >/dev/null ||
  fail "want the first failure at hour ${cut:11:2} on its second file: $(jq -c .failed "$tmp/full.json") (tmpfs ${size_k}k)"
for line in $(parts "$T"); do
  IFS='|' read -r dt hour want <<<"$line"
  got=$(pq -c "SELECT count(*) FROM lake.$T WHERE dt = '$dt' AND hour = $hour")
  inops=$(pq -c "SELECT count(*) FROM ops.loads WHERE table_name = '$T' AND dt = '$dt' AND hour = $hour")
  isfailed=$(jq --argjson h "$hour" '[.failed[] | select(.hour | tonumber == $h)] | length' "$tmp/full.json")
  ((isfailed <= 1)) || fail "partition $T $dt $hour failed $isfailed times in one run"
  if ((isfailed)); then
    [[ $got -eq 0 && $inops -eq 0 ]] || fail "failed partition $T $dt $hour kept $got rows, $inops ops.loads rows"
  else
    [[ $got -eq $want && $inops -ge 1 ]] || fail "partition $T $dt $hour: $got rows (want $want), $inops ops.loads rows"
  fi
done
for t in $tables; do
  [[ $t == "$T" ]] && continue
  [[ $(parts "$t") == "$(loaded "$t")" ]] || fail "lake.$t (not on the full disk) is not complete after the disk-full run"
done
[[ $(pq -c "SELECT 1") -eq 1 ]] || fail "PostgreSQL does not answer after the disk-full load"
grep -q PANIC "$PGDATA_DIR/server.log" && fail "the server PANICked: $(grep PANIC "$PGDATA_DIR/server.log" | head -3)"

# 3. The operator frees space (here: a bigger tmpfs) and runs the load again.
mount -o remount,size=$((need * 2 / 8192 * 8))k "$mnt" || fail "remount bigger failed"
load again
[[ $rc -eq 0 ]] || fail "load after freeing space exited $rc: $(cat "$tmp/again.json") $(tail -5 "$tmp/load.log")"
jq -e --argjson f "$nfailed" --argjson p "$nparts" '.exit_code == 0 and .partitions_loaded == $f and
  .partitions_skipped == $p - $f and .partitions_failed == 0' "$tmp/again.json" >/dev/null ||
  fail "re-run: $(cat "$tmp/again.json"), want the $nfailed failed partitions loaded"
exact "after freeing space"
total=$(for t in $tables; do pq -c "SELECT count(*) FROM lake.$t"; done | jq -s add)
[[ $total -eq $(catalog_rows) ]] || fail "total rows $total, the catalog has $(catalog_rows)"
[[ $(pq -c "SELECT count(*) FROM ops.loads") -eq $(jq -s '[.[].Partitions[].Files | length] | add' "$lake"/_catalog/[!_]*.json) ]] ||
  fail "ops.loads does not have one row per catalog file"
load third
jq -e --argjson p "$nparts" '.exit_code == 0 and .partitions_skipped == $p and .rows == 0' "$tmp/third.json" >/dev/null ||
  fail "a third run loaded something: $(cat "$tmp/third.json")"
grep -qF "$PG_URL" "$tmp/load.log" "$tmp"/*.json && fail "the connection string was printed"
echo "ok: tmpfs ${size_k}k for lake.$T ($need bytes loaded): $((ktotal - nfailed)) of $ktotal partitions fit," \
  "$nfailed failed with ENOSPC (first: $(jq -r '.failed | min_by(.hour) | "hour \(.hour) file \(.file)"' "$tmp/full.json")), rolled back; the other tables loaded; after growing the tmpfs" \
  "the re-run loaded the $nfailed, $total rows = the catalog"
