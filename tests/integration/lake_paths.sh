#!/usr/bin/env bash
# Issue 12's first-hour papercuts of the lake's paths: a source that does not exist (a typo) or
# is a file is an error naming it (exit 2) and nothing is created for it (no directory, no
# .staging); the destination of convert may be created. Every file written (raw objects by the
# objstore sink's store, Parquet files and the catalog by the lake) follows the umask: 0644
# under umask 022, 0640 under 027, never mkstemp's 0600.
source "$(dirname "$0")/lib/connect.bash"

# expect_config NAME CMD...: exit 2 and stderr naming the path
expect_config() {
  local name=$1 path=$2 rc=0
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq 2 ]] || fail "$name: exit $rc, want 2: $(cat "$tmp/err")"
  grep -qF -- "$path" "$tmp/err" || fail "$name: the error does not name $path: $(cat "$tmp/err")"
}

expect_config "convert --from a typo" "$tmp/typo" "$FP" lake convert --from "$tmp/typo" --to "$tmp/lake1"
grep -q 'no such directory' "$tmp/err" || fail "typo: $(cat "$tmp/err")"
[[ ! -e $tmp/typo ]] || fail "convert created the missing --from $tmp/typo"
expect_config "convert --from file:// typo" "$tmp/typo" "$FP" lake convert --from "file://$tmp/typo" --to "$tmp/lake1"
[[ ! -e $tmp/typo ]] || fail "convert created the missing --from file://$tmp/typo"
: >"$tmp/notjson.txt"
expect_config "convert --from a file" "$tmp/notjson.txt" "$FP" lake convert --from "$tmp/notjson.txt" --to "$tmp/lake1"
grep -q 'not a directory' "$tmp/err" && ! grep -q staging "$tmp/err" || fail "file --from: $(cat "$tmp/err")"
expect_config "ddl --to a typo" "$tmp/nolake" "$FP" lake ddl --to "$tmp/nolake"
[[ ! -e $tmp/nolake ]] || fail "lake ddl created $tmp/nolake"
expect_config "retry --to a typo" "$tmp/nolake" "$FP" lake retry --to "$tmp/nolake"
[[ ! -e $tmp/nolake ]] || fail "lake retry created $tmp/nolake"
expect_config "watch --from a typo" "$tmp/typo" "$FP" lake watch --from "$tmp/typo" --to "$tmp/lake1" \
  --bootstrap-servers 127.0.0.1:1
[[ ! -e $tmp/typo && ! -e $tmp/lake1 ]] || fail "lake watch created its paths"
: >"$tmp/lakefile"
expect_config "convert --to a file" "$tmp/lakefile" "$FP" lake convert --from "$tmp" --to "$tmp/lakefile"

# An existing, empty raw store: convert creates the lake (the destination) and says 0 objects.
mkdir "$tmp/empty"
"$FP" lake convert --from "$tmp/empty" --to "$tmp/lake0" --status-format json >"$tmp/sum.json" 2>"$tmp/err" ||
  fail "convert of an empty store: $(cat "$tmp/err")"
jq -e '.objects == 0 and .exit_code == 0' "$tmp/sum.json" >/dev/null || fail "empty store: $(cat "$tmp/sum.json")"
[[ -d $tmp/lake0 ]] || fail "convert did not create its destination"
[[ ! -e $tmp/empty/.staging ]] || fail "convert created .staging in its read-only source"

# ---- modes under two umasks: the Parquet files and the catalog the lake writes ----
"$FP" sim --vehicles 2 --duration 2m --speedup max --seed 1 --start 2026-03-03T10:00:00Z \
  --anomaly-rate 0 --target "file:$tmp/sim.jsonl" 2>/dev/null
mkdir -p "$tmp/raw/fms.vehicle/dt=2026-03-03/hour=10"
cp "$tmp/sim.jsonl" "$tmp/raw/fms.vehicle/dt=2026-03-03/hour=10/fms.vehicle+0+00000000000000000000.jsonl"
for mask in 022 027; do
  want=$(printf '%o' $((0666 & ~8#$mask)))
  (umask $mask && "$FP" lake convert --from "$tmp/raw" --to "$tmp/lake$mask" >/dev/null 2>"$tmp/convert.log") ||
    fail "convert under umask $mask: $(cat "$tmp/convert.log")"
  n=0
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    [[ $(stat -c %a "$f") == "$want" ]] || fail "umask $mask: $f is $(stat -c %a "$f"), want $want"
  done < <(find "$tmp/lake$mask" -path '*/.staging' -prune -o -type f -print0)
  find "$tmp/lake$mask" -name '*.parquet' | grep -q . && find "$tmp/lake$mask/_catalog" -name '*.json' | grep -q . ||
    fail "umask $mask: no Parquet file or catalog written"
  ((n >= 2)) || fail "umask $mask: only $n files"
done
echo "lake_paths: ok"
