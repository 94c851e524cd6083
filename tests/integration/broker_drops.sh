#!/usr/bin/env bash
# `fleetpipe broker` never drops data silently: produce past the dev broker's 5 MiB per partition
# cap into one partition and the broker's log names the topic, the partition and the exact number
# of messages dropped, which equals the partition's log start offset as kcat reports it. Also the
# address hand-over: --bootstrap-file appears only complete, and is removed on a clean stop.
set -euo pipefail
FP=${FLEETPIPE:?}
tmp=$(mktemp -d)
bpid=""
cleanup() {
  [[ -n $bpid ]] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -20 "$tmp/broker.log" >&2 || true; exit 1; }
command -v kcat >/dev/null || { echo "kcat not installed: skipped"; exit 0; }

"$FP" broker --brokers 1 --partitions 2 --bootstrap-file "$tmp/bs.txt" >/dev/null 2>"$tmp/broker.log" &
bpid=$!
for _ in $(seq 100); do [[ -s $tmp/bs.txt ]] && break; sleep 0.1; done
[[ -s $tmp/bs.txt ]] || fail "no --bootstrap-file after 10 s"
BS=$(head -1 "$tmp/bs.txt")
[[ $BS =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "bootstrap file holds '$BS'"
[[ ! -e $tmp/bs.txt.tmp ]] || fail "bs.txt.tmp left behind"

# 8,000 messages of 1,000 bytes (8 MB) into partition 1 only; partition 0 stays empty.
awk 'BEGIN { s = sprintf("%01000d", 7); for (i = 0; i < 8000; i++) print s }' >"$tmp/msgs"
kcat -P -b "$BS" -t fms.vehicle -p 1 -l "$tmp/msgs" || fail "kcat produce"
low() { kcat -Q -b "$BS" -t "fms.vehicle:$1:-2" -J 2>/dev/null | jq -r --arg p "$1" '."fms.vehicle"[$p].offset'; }
high() { kcat -Q -b "$BS" -t "fms.vehicle:$1:-1" -J 2>/dev/null | jq -r --arg p "$1" '."fms.vehicle"[$p].offset'; }
lo=$(low 1)
[[ $(high 1) -eq 8000 ]] || fail "high watermark $(high 1), not 8000"
[[ $lo -gt 0 && $lo -lt 8000 ]] || fail "low watermark $lo: the cap did not bite"
# The broker checks once a second; the fields of its WARN lines are machine-readable.
for _ in $(seq 50); do
  got=$(grep -o 'topic=fms.vehicle partition=1 dropped=[0-9]* dropped_total=[0-9]*' "$tmp/broker.log" |
    tail -1 | sed 's/.*dropped_total=//' || true)
  [[ ${got:-0} -eq $lo ]] && break
  sleep 0.1
done
[[ ${got:-0} -eq $lo ]] || fail "broker logged dropped_total=${got:-none}, kcat's low watermark is $lo"
sum=$(grep -o 'topic=fms.vehicle partition=1 dropped=[0-9]*' "$tmp/broker.log" | sed 's/.*dropped=//' | paste -sd+ | bc)
[[ $sum -eq $lo ]] || fail "per-line drops add up to $sum, not $lo"
grep 'partition=1 dropped=' "$tmp/broker.log" | grep -q ' WARN  broker: fms.vehicle \[1\]: dropped ' ||
  fail "drop line is not a WARN of the broker naming fms.vehicle [1]"
grep -q 'partition=0 dropped' "$tmp/broker.log" && fail "partition 0 dropped nothing but was reported"

# A clean stop removes the address file (a stale address would hand over a dead broker).
kill -TERM "$bpid"
wait "$bpid" || fail "broker exit status $?"
bpid=""
[[ ! -e $tmp/bs.txt ]] || fail "bootstrap file left after a clean stop"
echo "broker_drops: ok (dropped $lo of 8000, as kcat's low watermark says)"
