#!/usr/bin/env bash
# Transform throughput: fleetpipe transform vs jq vs Node.js on the same file of 60-sample
# vehicle/kinematic messages (split measurements + ${id}#${object}#${type} key + drop a field).
# Prints one line per figure: MB/s of input, records out, and fleetpipe's ratio to each.
#   bench/transform.sh [messages]      (default 5000 messages, about 50 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
FP=${FLEETPIPE:-build/fleetpipe}
N=${1:-5000}
out=bench/out
mkdir -p "$out"
in=$out/kinematic-$N.jsonl
if [[ ! -s $in ]]; then
  "$FP" sim --only vehicle/kinematic --vehicles 200 --duration "$((N / 200 + 2))m" --speedup max \
    --seed 1 --start 2026-01-05T00:00:00Z --target "file:$in.all" 2>/dev/null
  head -n "$N" "$in.all" >"$in"
  rm -f "$in.all"
fi
bytes=$(stat -c %s "$in")
avg=$((bytes / N))

now() { date +%s.%N; }
# run NAME CMD...: times CMD (best of 3), prints MB/s and the output's record count.
declare -A MBS
run() {
  local name=$1 best=""
  shift
  for _ in 1 2 3; do
    local t0 t1 dt
    t0=$(now)
    "$@"
    t1=$(now)
    dt=$(echo "$t1 - $t0" | bc -l)
    if [[ -z $best ]] || (($(echo "$dt < $best" | bc -l))); then best=$dt; fi
  done
  local mbs lines=-
  mbs=$(echo "$bytes / 1000000 / $best" | bc -l)
  [[ -f $out/$name.jsonl ]] && lines=$(wc -l <"$out/$name.jsonl")
  MBS[$name]=$mbs
  printf '%-16s %8.1f MB/s  %6.3f s  %s records out\n' "$name" "$mbs" "$best" "$lines"
}

echo "input: $in, $N messages, $bytes bytes, $avg bytes/message"
run fleetpipe "$FP" transform --config bench/transform-connector.json --input "$in" \
  --output "$out/fleetpipe.jsonl"
# The same without the cost of writing 130 MB of output to the file system.
run fleetpipe-null "$FP" transform --config bench/transform-connector.json --input "$in" \
  --output /dev/null
run node node bench/transform.js "$in" "$out/node.jsonl"
# jq is slow: one pass is enough to see the order of magnitude.
t0=$(now)
jq -c '(del(.measurements)) as $p | .measurements[] | ($p + .)
       | .pk = "\(.id)#\(.object)#\(.type)" | del(.engine_on)' "$in" >"$out/jq.jsonl"
t1=$(now)
dt=$(echo "$t1 - $t0" | bc -l)
MBS[jq]=$(echo "$bytes / 1000000 / $dt" | bc -l)
printf '%-16s %8.1f MB/s  %6.3f s  %d records out\n' jq "${MBS[jq]}" "$dt" "$(wc -l <"$out/jq.jsonl")"

for other in jq node; do
  printf 'fleetpipe/%-5s %6.1fx\n' "$other" "$(echo "${MBS[fleetpipe]} / ${MBS[$other]}" | bc -l)"
done
# The three must agree on what they produced, or the comparison means nothing.
node -e '
const fs = require("fs");
const canon = f => fs.readFileSync(f, "utf8").trim().split("\n").map(l => {
  const o = JSON.parse(l); return JSON.stringify(Object.keys(o).sort().map(k => [k, o[k]])); });
const a = canon(process.argv[1]), b = canon(process.argv[2]);
if (a.length !== b.length) { console.error("record counts differ", a.length, b.length); process.exit(1); }
for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) { console.error("record", i, "differs:\n", a[i], "\n", b[i]); process.exit(1); }
console.log("check: fleetpipe and node outputs agree on all " + a.length + " records");
' "$out/fleetpipe.jsonl" "$out/node.jsonl"
