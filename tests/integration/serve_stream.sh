#!/usr/bin/env bash
# serve_stream.sh — the Fleet API's event stream under load, against a real redis-server:
#  1. 100 concurrent clients while 5,000 changes arrive: every client gets every change once, in
#     order (ids equal to the stream's own, speeds 1..5000 in sequence).
#  2. One client stops reading and one reads at 200 KB/s while 15,000 big changes (1 KiB each,
#     15 MB: more than the sockets hold) arrive: ten other clients still get all of them; the slow
#     one gets `event: overflow` naming the last id it was sent, the stalled one is closed by the
#     server (idle timeout); each resumes from its last event and gets every later change once.
#     The server's peak RSS stays under its ring's size plus 64 MiB (bounded, not per client).
# Changes are written with XADD (lib/xadd.awk) exactly as the redis sink writes them, so the
# test measures the server, not the connector.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/redis.bash"
source "$(dirname "$0")/lib/serve.bash"
lib=$(dirname "$0")/lib

start_redis
# the default ring and lag bound: a burst of 5000 overflows no client, however slow
start_serve --redis "redis://127.0.0.1:$REDIS_PORT/0" --heartbeat 1s
healthy() { [[ $(curl -s "$API/healthz") == ok ]]; }
wait_for "serve healthy" 20 healthy
xadd() { # N START PAD
  awk -v n="$1" -v start="$2" -v pad="$3" -v vehicles=50 -v key=fleet:stream -f "$lib/xadd.awk" |
    redis-cli -p "$REDIS_PORT" --pipe >/dev/null || fail "redis-cli --pipe"
}
# paced N START PAD: N changes in chunks of 500, 20 chunks a second (10,000 changes/s)
paced() {
  local i
  for ((i = 0; i < $1; i += 500)); do
    xadd 500 $(($2 + i)) "$3"
    sleep 0.05
  done
}
clients() { # N PREFIX: N stream clients, each writing what it receives to PREFIX.<i>
  for i in $(seq 1 "$1"); do
    curl -sN -o "$2.$i" "$API/api/v1/stream" &
    cpids+=($!)
  done
}
speeds() { sed -n 's/^data: .*"speed":\([0-9]*\),.*}}$/\1/p' "$1"; } # whole events only
connected() { [[ $(curl -s "$API/metrics" | awk '$1 == "fleetpipe_serve_stream_clients" {print $2}') -ge $1 ]]; }
events_all() { # N PREFIX COUNT: every client has COUNT events
  local i
  for i in $(seq 1 "$1"); do [[ $(grep -c '^id: ' "$2.$i") -ge $3 ]] || return 1; done
}

# 1. fan-out to 100 clients
cpids=()
clients 100 "$tmp/c"
wait_for "100 clients connected" 30 connected 100
xadd 5000 1 40
wait_for "5000 changes at every client" 90 events_all 100 "$tmp/c" 5000
seq 1 5000 >"$tmp/want"
for i in $(seq 1 100); do
  speeds "$tmp/c.$i" | cmp -s "$tmp/want" - || fail "client $i: not the 5000 changes in order ($(wc -l <"$tmp/c.$i") lines)"
done
kill "${cpids[@]}" 2>/dev/null || true

# 2. a stalled client and a slow one among ten readers, on a server with a smaller ring and lag
# bound
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
start_serve --redis "redis://127.0.0.1:$REDIS_PORT/0" --heartbeat 1s --stream-ring 8192 \
  --stream-client-lag 2048
wait_for "serve healthy" 20 healthy
exec 5<>"/dev/tcp/127.0.0.1/${API##*:}"
printf 'GET /api/v1/stream HTTP/1.0\r\n\r\n' >&5 # no chunked framing to strip
curl -sN --limit-rate 200k -o "$tmp/slow.txt" "$API/api/v1/stream" &
slow=$!
cpids=()
clients 10 "$tmp/r"
wait_for "12 clients connected" 30 connected 12
paced 15000 5001 1024
wait_for "15000 changes at ten clients" 120 events_all 10 "$tmp/r" 15000
seq 5001 20000 >"$tmp/want"
for i in $(seq 1 10); do
  speeds "$tmp/r.$i" | cmp -s "$tmp/want" - || fail "reader $i beside a stalled client: not the 15000 changes in order"
done
kill "${cpids[@]}" 2>/dev/null || true
# the slow reader: an in-order prefix, then `event: overflow` naming the last id it was sent
wait "$slow" || true
grep -q '^event: overflow$' "$tmp/slow.txt" || fail "the slow client got no overflow event"
resume=$(grep -A1 '^event: overflow$' "$tmp/slow.txt" | sed -n 's/^data: //p' | jq -r .resume_from)
[[ $resume == "$(grep '^id: ' "$tmp/slow.txt" | tail -1 | cut -d' ' -f2)" ]] ||
  fail "overflow resume_from $resume is not the last id sent"
slow_got=$(speeds "$tmp/slow.txt" | wc -l)
[[ $(speeds "$tmp/slow.txt") == "$(seq 5001 $((5000 + slow_got)))" ]] || fail "slow client: not an in-order prefix"
# the stalled one: the server closed it (never read: the connection timed out) after a prefix
timeout 60 cat <&5 >"$tmp/stalled.txt" || fail "the stalled client's connection was not closed"
exec 5<&-
stalled_got=$(speeds "$tmp/stalled.txt" | wc -l)
[[ $(speeds "$tmp/stalled.txt") == "$(seq 5001 $((5000 + stalled_got)))" ]] || fail "stalled client: not an in-order prefix"
# both resume from the last whole event they got, and get every later change once
resumes() { # FILE NAME
  local from rname=$2
  from=$(sed -n 's/^data: {"cursor":"\([0-9-]*\)".*}}$/\1/p' "$1" | tail -1)
  curl -sN -H "Last-Event-ID: $from" -o "$tmp/$2.raw" "$API/api/v1/stream" &
  local c=$!
  caught_up() { grep -q '"speed":20000,' "$tmp/$rname.raw"; } # (bash: rname is visible here)
  wait_for "$2 to catch up after resuming" 60 caught_up
  sleep 0.5
  kill "$c"
  [[ $(speeds "$tmp/$2.raw") == "$(seq "$(($(speeds "$1" | tail -1) + 1))" 20000)" ]] ||
    fail "$2 resumed from $from: not every later change once, in order"
}
resumes "$tmp/slow.txt" slow
resumes "$tmp/stalled.txt" stalled
overflows=$(curl -s "$API/metrics" | awk '$1 == "fleetpipe_serve_stream_overflows_total" {print $2}')
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVE_PID/status")
ring_kib=$((8192 * 1200 / 1024))
# (under AddressSanitizer, its shadow memory and quarantine are the RSS: the bound is the release
# build's)
if [[ -z ${ASAN_OPTIONS:-} ]]; then
  ((hwm < ring_kib + 65536)) || fail "peak RSS $hwm KiB over the ring ($ring_kib KiB) + 64 MiB"
fi
echo "serve_stream: ok (100 clients x 5000 changes in order; 10 readers x 15000 beside a stalled and a slow one; slow overflowed after $slow_got, stalled closed after $stalled_got, both resumed exactly; $overflows overflow(s); peak RSS $((hwm / 1024)) MiB)"
