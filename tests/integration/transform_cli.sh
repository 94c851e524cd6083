#!/usr/bin/env bash
# transform_cli.sh — `fleetpipe transform` as users run it: real binary, files and pipes, exit
# codes (0 done, 1 I/O, 2 config), errors that name the bad key or flag, stdout that is pure JSON
# lines, and conservation: every input line is either output or a dead letter.
set -euo pipefail
FP=${FLEETPIPE:?set FLEETPIPE to the fleetpipe binary}
SRC=${FP_SRC:?set FP_SRC to the source tree}
CASES=$SRC/tests/data/transforms
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
# expect_rc WANT NAME CMD...: runs CMD, checks its exit status
expect_rc() {
  local want=$1 name=$2 rc=0
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [[ $rc == "$want" ]]; then ok "$name (exit $rc)"; else bad "$name: exit $rc, want $want: $(head -c 300 "$tmp/err")"; fi
}
contains() { # contains FILE TEXT NAME
  if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3: '$2' not in $(head -c 300 "$1")"; fi
}

# 1. cases through the binary give the same bytes as the in-process runner expects
for c in seed-split-pk-drop connector-rest-shape unicode-values-and-template numbers-exact-digits \
  escaped-strings duplicate-keys timestamp-to-string; do
  expect_rc 0 "case $c" "$FP" transform --config "$CASES/$c/config.json" --input "$CASES/$c/input.jsonl" \
    --output "$tmp/$c.out" --dead-letter "$tmp/$c.dead"
  if cmp -s "$tmp/$c.out" "$CASES/$c/expected.jsonl"; then ok "case $c output"; else bad "case $c output differs"; fi
done
# --connector is the same flag; stdin and stdout are the defaults
c=seed-split-pk-drop
if "$FP" transform --connector "$CASES/$c/config.json" <"$CASES/$c/input.jsonl" | cmp -s - "$CASES/$c/expected.jsonl"; then
  ok "stdin to stdout"
else
  bad "stdin to stdout"
fi
# meta flags: topic predicates and error places
c=filter-topic-matches-drops
expect_rc 0 "topic flag" "$FP" transform --config "$CASES/$c/config.json" --topic fms.cargo --input "$CASES/$c/input.jsonl"
[[ ! -s $tmp/out ]] && ok "Filter with --topic dropped all" || bad "Filter with --topic kept records"
c=template-place-topic
expect_rc 0 "dead letter place" "$FP" transform --config "$CASES/$c/config.json" --topic fms.vehicle \
  --partition 3 --offset-start 1812 --input "$CASES/$c/input.jsonl"
contains "$tmp/err" 'missing in record at fms.vehicle/3@1812' "place is topic/partition@offset"

# 2. conservation on a mixed file: in = out + dead, stdout is pure JSON lines
cfg=$CASES/template-errors/config.json
{
  for i in $(seq 1 200); do
    case $((i % 7)) in
    0) echo '{"id":'"$i"',"object":"o"' ;;            # truncated
    1) printf '{"id":%d,"object":"\xff","type":"t"}\n' "$i" ;; # invalid UTF-8
    2) echo '{"object":"o","type":"t"}' ;;            # missing template field
    3) echo '[1,2]' ;;                               # not an object
    *) echo '{"id":'"$i"',"object":"vehicle","type":"kinematic","v":1.50}' ;;
    esac
  done
} >"$tmp/mixed.jsonl"
expect_rc 0 "mixed file" "$FP" transform --config "$cfg" --input "$tmp/mixed.jsonl" --output "$tmp/mixed.out" \
  --dead-letter "$tmp/mixed.dead" --stats
in=$(wc -l <"$tmp/mixed.jsonl")
out=$(wc -l <"$tmp/mixed.out")
dead=$(wc -l <"$tmp/mixed.dead")
if ((in == out + dead)) && ((out == 85)) && ((dead == 115)); then ok "conservation in=$in out=$out dead=$dead"; else bad "conservation in=$in out=$out dead=$dead"; fi
contains "$tmp/err" "in=$in out=$out dead=$dead" "--stats summary"
expect_rc 0 "status line" "$FP" transform --config "$cfg" --input "$tmp/mixed.jsonl" --output "$tmp/mixed.out" \
  --dead-letter "$tmp/mixed.dead" --status-format json
if jq -e --argjson i "$in" --argjson o "$out" --argjson d "$dead" \
  '.command == "transform" and .exit_code == 0 and .in == $i and .out == $o and .dead == $d' "$tmp/out" >/dev/null; then
  ok "--status-format json on stdout"
else
  bad "--status-format json: $(cat "$tmp/out")"
fi
if jq -e . "$tmp/mixed.out" >/dev/null && jq -e 'select(.error.class and .error.message and .line and (.input|type=="string"))' "$tmp/mixed.dead" >/dev/null; then
  ok "outputs and dead letters are valid JSON"
else
  bad "invalid JSON in outputs or dead letters"
fi
njq=$(jq -s 'length' "$tmp/mixed.dead")
((njq == dead)) && ok "jq counts $njq dead letters" || bad "jq counts $njq dead letters, wc $dead"
# dead letters without --dead-letter go to stderr, never stdout
expect_rc 0 "dead letters to stderr" "$FP" transform --config "$cfg" --input "$tmp/mixed.jsonl"
[[ $(wc -l <"$tmp/out") == "$out" && $(grep -c '"error"' "$tmp/err") == "$dead" ]] && ok "stdout pure, stderr dead" || bad "stdout/stderr split"

# 3. configuration errors: exit 2, message names the key or flag
c=config-unknown-transform-key
expect_rc 2 "unknown transform key" "$FP" transform --config "$CASES/$c/config.json" --input /dev/null
contains "$tmp/err" "unknown key 'transforms.pk.valeu'" "error names the key"
expect_rc 2 "unknown flag" "$FP" transform --config "$CASES/seed-split-pk-drop/config.json" --bogus 1
contains "$tmp/err" "unknown flag '--bogus'" "error names the flag"
expect_rc 2 "no connector" "$FP" transform --input /dev/null
expect_rc 2 "missing connector file" "$FP" transform --config "$tmp/nope.json"
echo '{"transforms":"a","transforms.a.type":"Nope"}' >"$tmp/c.json"
expect_rc 2 "unknown type" "$FP" transform --config "$tmp/c.json"
contains "$tmp/err" "unknown transform type 'Nope'" "error names the type"

# 4. I/O errors: exit 1
expect_rc 1 "missing input" "$FP" transform --config "$CASES/seed-split-pk-drop/config.json" --input "$tmp/none.jsonl"
if [[ -w /dev/full ]]; then
  expect_rc 1 "output write error" "$FP" transform --config "$CASES/seed-split-pk-drop/config.json" \
    --input "$CASES/seed-split-pk-drop/input.jsonl" --output /dev/full
fi

# 5. help lists every transform and its keys
expect_rc 0 "help transforms" "$FP" help transforms
for k in SplitArrayField InsertFieldInStringTemplate ReplaceField InsertField Filter TimestampConverter \
  TopicNameMatches FieldEquals 'transforms.<alias>.renames' 'predicates.<alias>.pattern'; do
  contains "$tmp/out" "$k" "help mentions $k"
done

if ((fails)); then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all transform CLI checks passed"
