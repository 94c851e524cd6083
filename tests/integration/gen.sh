#!/usr/bin/env bash
# fleetpipe gen: deterministic, valid per PROTOCOLS.md, broken messages only when asked.
set -euo pipefail
FP=${FLEETPIPE:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$FP" gen --vehicles 7 --messages 400 --seed 42 --output "$tmp/a.jsonl" 2>/dev/null
"$FP" gen --vehicles 7 --messages 400 --seed 42 >"$tmp/b.jsonl" 2>/dev/null
"$FP" gen --vehicles 7 --messages 400 --seed 43 >"$tmp/c.jsonl" 2>/dev/null
cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl" || fail "same seed gave different bytes"
cmp -s "$tmp/a.jsonl" "$tmp/c.jsonl" && fail "different seeds gave the same bytes"
[[ $(wc -l <"$tmp/a.jsonl") -eq 400 ]] || fail "expected 400 lines"

# Every line is a valid envelope of a known protocol with the right sample count.
jq -e -s '
  def periodic: {"vehicle/kinematic":60, "vehicle/status":6, "cargo/temperature":12,
                 "blackbox/status":5};
  all(.[]; (.object|type)=="string" and (.type|type)=="string" and (.id|type)=="number"
      and .device_id == ("dev-" + ("000000" + (.id|tostring))[-6:])
      and (.messaged_at|test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\+09:00$"))
      and (.seq|type)=="number"
      and ((.object + "/" + .type) as $p |
           if periodic[$p] then (.measurements|length) == periodic[$p]
              and all(.measurements[]; .timestamp_iso|type=="string")
           else $p == "vehicle/event" and (.measurements == null) end))
' "$tmp/a.jsonl" >/dev/null || fail "a line breaks the message contract"

# seq grows by one per device.
jq -r '[.device_id, .seq] | @tsv' "$tmp/a.jsonl" | sort -k1,1 -k2,2n | awk '
  $1 == dev && $2 != prev + 1 { bad = 1 } { dev = $1; prev = $2 } END { exit bad }' ||
  fail "seq is not +1 per device"

# Kinematic-only: 60-sample messages, about 10 KB each.
"$FP" gen --kinematic-only --messages 50 >"$tmp/k.jsonl" 2>/dev/null
[[ $(jq -s 'map(select(.type=="kinematic" and (.measurements|length)==60))|length' "$tmp/k.jsonl") -eq 50 ]] ||
  fail "kinematic-only"

# Broken messages: about the asked share, each either invalid JSON or missing messaged_at.
"$FP" gen --messages 2000 --bad-per-million 100000 >"$tmp/bad.jsonl" 2>"$tmp/bad.err"
grep -q "2000 messages" "$tmp/bad.err" || fail "summary missing"
nbad=$(grep -o '([0-9]* deliberately bad)' "$tmp/bad.err" | tr -dc 0-9)
found=$(jq -R -n '[inputs | (try fromjson catch null)
                    | select(. == null or (has("messaged_at") | not))] | length' "$tmp/bad.jsonl")
[[ $found -eq $nbad ]] || fail "gen said $nbad bad messages, found $found"
((nbad > 100 && nbad < 320)) || fail "bad share $nbad of 2000 far from 10%"

# Unknown flags are errors that name the flag.
if "$FP" gen --vehicels 3 2>"$tmp/err"; then fail "unknown flag accepted"; fi
grep -q "unknown flag '--vehicels'" "$tmp/err" || fail "error does not name the flag"
# Into Kafka: every message acknowledged, routed to fms.<object>, keyed by device_id.
mkfifo "$tmp/broker.out"
"$FP" broker --brokers 1 --partitions 2 >"$tmp/broker.out" 2>/dev/null &
bpid=$!
trap 'kill $bpid 2>/dev/null; wait $bpid 2>/dev/null; rm -rf "$tmp"' EXIT
exec 7<"$tmp/broker.out"
read -r -t 30 BS <&7 || fail "broker printed no bootstrap servers"
"$FP" gen --vehicles 7 --messages 400 --seed 42 --bootstrap-servers "$BS" 2>/dev/null ||
  fail "gen into Kafka exited non-zero"
for t in fms.vehicle fms.cargo fms.blackbox; do
  kcat -C -b "$BS" -t "$t" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null
done >"$tmp/kafka.tsv"
cut -f2- "$tmp/kafka.tsv" | sort >"$tmp/kafka.sorted"
sort "$tmp/a.jsonl" | cmp -s - "$tmp/kafka.sorted" || fail "Kafka does not hold exactly the 400 messages"
awk -F'\t' '{ if (index($2, "\"device_id\":\"" $1 "\"") == 0) bad = 1 } END { exit bad }' \
  "$tmp/kafka.tsv" || fail "a record key is not its device_id"
echo "gen: ok"
