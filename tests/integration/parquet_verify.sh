#!/usr/bin/env bash
# parquet_verify.sh — every Parquet file fleetpipe's writer produces is read back by two
# independent implementations, DuckDB (@duckdb/node-api) and hyparquet, through
# tests/verify/pqcheck.mjs: values, nulls, logical types, statistics and encodings against the
# rows tests/tools/pq_gen says it wrote (each type, each codec, dictionary and PLAIN, many pages
# and row groups, all nulls, zero rows, INT64 limits, signed zeros, non-ASCII strings).
set -euo pipefail
SRC=${FP_SRC:?set FP_SRC to the source tree}
BUILD=${FP_BUILD:?set FP_BUILD to the build directory}
VERIFY=$SRC/tests/verify
[[ -d $VERIFY/node_modules/@duckdb/node-api && -d $VERIFY/node_modules/hyparquet ]] || {
  echo "FAIL tests/verify/node_modules is missing: run scripts/setup.sh"
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
"$BUILD/pq_gen" "$tmp" >"$tmp/cases"
while read -r c; do
  read -ra args <"$tmp/$c.args"
  if out=$(node "$VERIFY/pqcheck.mjs" "$tmp/$c.parquet" "$tmp/$c.jsonl" "${args[@]}" 2>&1); then
    echo "ok   $c: $out"
  else
    echo "FAIL $c: $out"
    fails=$((fails + 1))
  fi
done <"$tmp/cases"
[[ -s $tmp/cases ]] || { echo "FAIL pq_gen wrote no cases"; fails=1; }
exit $((fails > 0))
