#!/usr/bin/env bash
# serve_webhooks.sh — the Fleet API's webhooks against real servers: fleetpipe sim -> dev broker
# -> connect (the shipped redis-live connector) -> redis-server -> two `fleetpipe serve`
# instances -> a Node receiver (tests/verify/hookreceiver.mjs: Node's http and crypto, which
# verifies every signature itself and records what it accepted).
#  1. Registration: bad bodies answer 400 naming the field, a viewer 403, no token 401, the cap
#     400; the secret is generated and shown once; GET shows delivery status; DELETE removes.
#  2. The receiver answers 500, then is down (connection refused), then hangs (the sender's
#     response timeout) while the pipeline writes changes: once it recovers, every change after
#     the registration arrives, in stream order, exactly once, with no gap, every signature valid.
#  3. kill -9 of the instance in the middle of a delivery the receiver accepted: the other
#     instance takes the lease over and resends that batch; duplicates are exactly events of that
#     batch, nothing is lost, and at no time were two requests for one webhook in flight.
#  4. The stream trimmed past a failing webhook's cursor: one webhook.gap event whose count and
#     range are exactly the entries trimmed (computed from XRANGE before the trim).
#  5. Every answer validates against the OpenAPI document; /metrics passes promtool.
#  6. A clean stop (SIGTERM) of the delivering instance hands its lease to a third instance.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/redis.bash"
source "$(dirname "$0")/lib/serve.bash"
lib=$(dirname "$0")/lib
conf=${FP_SRC:?}/config/connectors
recv_js=$FP_SRC/tests/verify/hookreceiver.mjs

start_broker 4
start_redis

cat >"$tmp/tokens" <<EOF
op-token-0123456789abcdef operator ops
viewer-token-0123456789ab viewer dash
EOF
OP=(-H "Authorization: Bearer op-token-0123456789abcdef")
VW=(-H "Authorization: Bearer viewer-token-0123456789ab")

# the receiver (restartable on its port: "down" is a stopped process, connection refused)
RECV_PORT=$(free_port)
echo '{}' >"$tmp/secrets.json"
start_receiver() {
  node "$recv_js" serve "$RECV_PORT" "$tmp/secrets.json" "$tmp/hooks.jsonl" >>"$tmp/receiver.log" 2>&1 &
  RECV_PID=$!
  pids+=($RECV_PID)
  local up
  up() { curl -sf "http://127.0.0.1:$RECV_PORT/control?mode=${1:-ok}" >/dev/null; }
  wait_for "the receiver" 20 up "${1:-ok}"
}
recv_mode() { curl -sf "http://127.0.0.1:$RECV_PORT/control?mode=$1&ms=${2:-0}" >/dev/null || fail "receiver control"; }
start_receiver

# two instances over the same Redis; an attempt takes at most 1 s connect + 3 s answer, the lease
# 5 s
wh_flags=(--webhooks-max 3 --webhook-connect-timeout 1s --webhook-timeout 3s --webhook-lease 5s
  --webhook-backoff 100ms --webhook-backoff-max 1s --webhook-batch-events 50)
start_serve --tokens "$tmp/tokens" --redis "redis://127.0.0.1:$REDIS_PORT/0" "${wh_flags[@]}"
API_A=$API PID_A=$SERVE_PID
start_serve --tokens "$tmp/tokens" --redis "redis://127.0.0.1:$REDIS_PORT/0" "${wh_flags[@]}"
API_B=$API PID_B=$SERVE_PID
API=$API_A

# ---------------------------------------------------------------- 1. registration
hook_url="http://127.0.0.1:$RECV_PORT"
post() { api /api/v1/webhooks -X POST -H 'Content-Type: application/json' --data-binary "$1" "${@:2}"; }
bad() { # BODY WORD: 400 whose message names WORD
  post "$1" "${OP[@]}"
  [[ $CODE == 400 ]] || fail "POST $1: HTTP $CODE, want 400: $BODY"
  jq -e '.error_code == 400' <<<"$BODY" >/dev/null || fail "error body $BODY"
  grep -q -- "$2" <<<"$(jq -r .message <<<"$BODY")" || fail "POST $1: message does not name $2: $BODY"
  save webhook_post 400
}
ok_types='"eventTypes":["vehicle.state_changed"]'
bad '{}' url
bad 'not json' body
bad '[1]' body
bad "{\"url\":\"ftp://127.0.0.1/x\",$ok_types}" url
bad "{\"url\":\"/relative\",$ok_types}" url
bad "{\"url\":\"http://127.0.0.1/a b\",$ok_types}" url
bad "{\"url\":\"http://u:p@127.0.0.1/x\",$ok_types}" url
bad "{\"url\":\"http://127.0.0.1/$(head -c 3000 /dev/zero | tr '\0' x)\",$ok_types}" url
bad "{\"url\":7,$ok_types}" url
bad "{\"url\":\"$hook_url/x\"}" eventTypes
bad "{\"url\":\"$hook_url/x\",\"eventTypes\":[]}" eventTypes
bad "{\"url\":\"$hook_url/x\",\"eventTypes\":[\"vehicle.exploded\"]}" 'eventTypes\[0\]'
bad "{\"url\":\"$hook_url/x\",\"eventTypes\":[\"vehicle.state_changed\",\"vehicle.state_changed\"]}" 'eventTypes\[1\]'
bad "{\"url\":\"$hook_url/x\",$ok_types,\"secret\":\"short\"}" secret
bad "{\"url\":\"$hook_url/x\",$ok_types,\"name\":\"$(head -c 300 /dev/zero | tr '\0' n)\"}" name
bad "{\"url\":\"$hook_url/x\",$ok_types,\"retries\":3}" retries
post "{\"url\":\"$hook_url/x\",$ok_types}" "${VW[@]}"
[[ $CODE == 403 ]] || fail "viewer POST: $CODE"
save webhook_post 403
post "{\"url\":\"$hook_url/x\",$ok_types}"
[[ $CODE == 401 ]] || fail "POST without a token: $CODE"

# W1 with a generated secret, W2 with its own; the secret is shown once
post "{\"url\":\"$hook_url/w1\",$ok_types,\"name\":\"first\"}" "${OP[@]}"
[[ $CODE == 201 ]] || fail "register W1: $CODE $BODY"
save webhook_post
W1=$(jq -r .id <<<"$BODY")
S1=$(jq -r .secret <<<"$BODY")
C1=$(jq -r .delivery.cursor <<<"$BODY")
[[ $S1 == whsec_* && ${#S1} -ge 40 ]] || fail "generated secret $S1"
S2=my-own-secret-$RANDOM-0123456789
post "{\"url\":\"$hook_url/w2\",$ok_types,\"secret\":\"$S2\"}" "${OP[@]}"
[[ $CODE == 201 ]] || fail "register W2: $CODE $BODY"
save webhook_post
W2=$(jq -r .id <<<"$BODY")
C2=$(jq -r .delivery.cursor <<<"$BODY")
[[ $(jq -r .secret <<<"$BODY") == "$S2" ]] || fail "W2's secret not echoed once"
jq -n --arg a "$W1" --arg sa "$S1" --arg b "$W2" --arg sb "$S2" '{($a): $sa, ($b): $sb}' >"$tmp/secrets.json"
post "{\"url\":\"$hook_url/w3\",$ok_types}" "${OP[@]}"
W3=$(jq -r .id <<<"$BODY")
bad "{\"url\":\"$hook_url/w4\",$ok_types}" "at most 3"
api "/api/v1/webhooks" "${VW[@]}"
[[ $CODE == 200 ]] || fail "list: $CODE"
save webhook_list
[[ $(jq -c '[.data[].id] | sort' <<<"$BODY") == "$(jq -nc --arg a "$W1" --arg b "$W2" --arg c "$W3" '[$a,$b,$c] | sort')" ]] ||
  fail "list: $BODY"
jq -e 'all(.data[]; has("secret") | not)' <<<"$BODY" >/dev/null || fail "a listed webhook shows its secret"
api "/api/v1/webhooks/$W3" -X DELETE "${VW[@]}"
[[ $CODE == 403 ]] || fail "viewer DELETE: $CODE"
api "/api/v1/webhooks/$W3" -X DELETE "${OP[@]}"
[[ $CODE == 204 ]] || fail "DELETE: $CODE"
SAVE_ERRORS_AS=webhook_get
expect_status 404 "/api/v1/webhooks/$W3" "${VW[@]}" >/dev/null
expect_status 400 "/api/v1/webhooks/..x" "${VW[@]}" | grep -q "webhook id" || fail "bad id"
expect_status 400 "/api/v1/webhooks/wh_ABCDEF0123456789" "${VW[@]}" >/dev/null
unset SAVE_ERRORS_AS
api "/api/v1/webhooks/$W3" -X DELETE "${OP[@]}"
[[ $CODE == 404 ]] || fail "second DELETE: $CODE"

# ---------------------------------------------------------------- 2. failing, down, hanging
status() { # ID: the webhook's delivery status (from instance A, or B once A is gone)
  curl -sf "${VW[@]}" "$API/api/v1/webhooks/$1" | jq -c .delivery
}
caught_up() { # ID...: cursor = stream head, nothing pending
  local id st
  for id; do
    st=$(status "$id") || return 1
    jq -e '.cursor == .streamHead and .pendingEvents == 0' <<<"$st" >/dev/null || return 1
  done
}
failed_with() { # ID N WORDS: at least N consecutive failures, the last error matching WORDS
  local st
  st=$(status "$1") || return 1
  jq -e --argjson n "$2" --arg w "$3" '.consecutiveFailures >= $n and (.lastError | test($w))' <<<"$st" >/dev/null
}
jq --arg u "redis://127.0.0.1:$REDIS_PORT/0" '.config["redis.url"] = $u' "$conf/redis-live.json" >"$tmp/redis-live.json"
fleet=(--only vehicle/kinematic,vehicle/status --vehicles 20 --seed 9 --speedup max)
pipeline() { # START DURATION: the simulator's messages through Kafka and the redis sink
  "$FP" sim "${fleet[@]}" --duration "$2" --start "$1" --target "kafka://$BS" 2>>"$tmp/sim.log" || fail "sim"
  "$FP" connect --bootstrap-servers "$BS" --connector "$tmp/redis-live.json" --rest-listen "" \
    --exit-when-idle 4s --status-interval 1h >>"$tmp/connect.log" 2>&1 || fail "connect"
}

recv_mode fail
pipeline 2026-01-05T00:00:00Z 3m
wait_for "W1 failing with 500" 30 failed_with "$W1" 3 "HTTP 500"
kill "$RECV_PID"
wait "$RECV_PID" 2>/dev/null || true
wait_for "W1 failing with connection refused" 30 failed_with "$W1" 3 "onnect"
pipeline 2026-01-05T00:03:00Z 2m
start_receiver hang
wait_for "W1 failing with a timeout" 40 failed_with "$W1" 1 "imeout"
recv_mode ok
wait_for "W1 and W2 to catch up" 90 caught_up "$W1" "$W2"
xids() { rcli xrange fleet:stream "($1" + | grep -E '^[0-9]+-[0-9]+$' || true; }
xids "$C1" >"$tmp/want1"
n1=$(wc -l <"$tmp/want1")
((n1 > 300)) || fail "only $n1 changes after W1's registration"
check() { node "$recv_js" check "$tmp/hooks.jsonl" "$1" "$2"; }
r=$(check "$W1" "$tmp/want1")
jq -e '.missing == 0 and .extra == 0 and .duplicates == 0 and .outOfOrder == 0 and .badSignatures == 0
       and .badBodies == 0 and .gaps == [] and .maxInflight == 1' <<<"$r" >/dev/null ||
  fail "W1 after 500s, refusal and hangs: $r"
xids "$C2" >"$tmp/want2"
r2=$(check "$W2" "$tmp/want2")
jq -e '.missing == 0 and .duplicates == 0 and .outOfOrder == 0 and .badSignatures == 0 and .maxInflight == 1' \
  <<<"$r2" >/dev/null || fail "W2: $r2"
phase2=$(jq -r '"\(.distinct) changes in \(.accepted) batches of \(.requests) requests"' <<<"$r")
api "/api/v1/webhooks/$W1" "${VW[@]}"
save webhook_get
jq -e '.delivery.failures >= 7 and .delivery.consecutiveFailures == 0 and .delivery.lastSuccessAt != null
       and .delivery.eventsDelivered == '"$n1" <<<"$BODY" >/dev/null || fail "W1 status: $BODY"
failures=$(jq .delivery.failures <<<"$BODY")

# ---------------------------------------------------------------- 3. kill -9 mid-delivery
recv_mode slow 2000
before=$(grep -c '"kind":"req"' "$tmp/hooks.jsonl")
pipeline 2026-01-05T00:05:00Z 2m &
pipe_pid=$!
in_flight() { # a W1 request after $before that the receiver has not answered yet
  node -e '
    const [f, w, b] = process.argv.slice(1);
    const l = require("fs").readFileSync(f, "utf8").split("\n").filter(Boolean).map(JSON.parse);
    const reqs = l.filter((x) => x.kind === "req").slice(Number(b)).filter((x) => x.webhook === w);
    const answered = new Set(l.filter((x) => x.kind === "answered").map((x) => x.n));
    const r = reqs.find((x) => !answered.has(x.n));
    if (!r) process.exit(1);
    console.log(JSON.stringify({ n: r.n, instance: r.instance, ids: r.ids }));' "$tmp/hooks.jsonl" "$W1" "$before" >"$tmp/inflight.json"
}
wait_for "a W1 delivery in flight" 60 in_flight
victim=$(jq -r '.instance | split(":")[1]' "$tmp/inflight.json")
[[ $victim == "$PID_A" || $victim == "$PID_B" ]] || fail "in-flight delivery from unknown instance $victim"
kill -9 "$victim"
wait "$victim" 2>/dev/null || true
if [[ $victim == "$PID_A" ]]; then API=$API_B survivor=$PID_B; else API=$API_A survivor=$PID_A; fi
wait "$pipe_pid" || fail "pipeline of phase 3"
answered_killed() { grep -q "\"kind\":\"answered\",\"n\":$(jq .n "$tmp/inflight.json")," "$tmp/hooks.jsonl"; }
wait_for "the receiver to accept the killed instance's batch" 10 answered_killed
recv_mode ok
wait_for "the survivor to take over and catch up" 90 caught_up "$W1" "$W2"
xids "$C1" >"$tmp/want1"
r=$(check "$W1" "$tmp/want1")
jq -e --slurpfile k "$tmp/inflight.json" '.missing == 0 and .extra == 0 and .outOfOrder == 0 and .badSignatures == 0
       and .maxInflight == 1 and .duplicates > 0 and (.dupIds - $k[0].ids) == [] and (.instances | length) == 2' \
  <<<"$r" >/dev/null || fail "W1 after kill -9 of $victim: $r (in flight: $(jq -c '.ids | length' "$tmp/inflight.json") ids)"
dups=$(jq .duplicates <<<"$r")
xids "$C2" >"$tmp/want2"
r2=$(check "$W2" "$tmp/want2")
jq -e '.missing == 0 and .extra == 0 and .outOfOrder == 0 and .maxInflight == 1' <<<"$r2" >/dev/null ||
  fail "W2 after kill -9: $r2"
owned=$(curl -s "$API/metrics" | awk '$1 == "fleetpipe_serve_webhooks_owned" {print $2}')
((owned == 2)) || fail "the survivor delivers $owned webhooks, want 2"

# ---------------------------------------------------------------- 4. trimmed past the cursor
recv_mode fail
c1=$(status "$W1" | jq -r .cursor)
awk -v n=300 -v start=1 -v pad=20 -v vehicles=20 -v key=fleet:stream -f "$lib/xadd.awk" |
  rcli --pipe >/dev/null || fail "xadd"
wait_for "W1 failing again" 30 failed_with "$W1" 2 "HTTP 500"
xids "$c1" >"$tmp/after_c1"
rcli xtrim fleet:stream MAXLEN 100 >/dev/null
first=$(rcli xrange fleet:stream - + COUNT 1 | head -1)
# the batch being retried was read before the trim: it is delivered; what follows it up to the
# first entry kept is lost
retry_last=$(node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  const r = l.filter((x) => x.kind === "req" && x.webhook === process.argv[2]).pop();
  console.log(r.ids[r.ids.length - 1]);' "$tmp/hooks.jsonl" "$W1")
lost_want=$(awk -v a="$retry_last" -v b="$first" '$0 == a {on = 1; next} $0 == b {on = 0} on' "$tmp/after_c1" | wc -l)
recv_mode ok
wait_for "W1 past the gap" 60 caught_up "$W1" "$W2"
r=$(check "$W1" "$tmp/want1")
jq -e --arg a "$retry_last" --arg b "$first" --argjson n "$lost_want" \
  '(.gaps | length) == 1 and .gaps[0].after == $a and .gaps[0].before == $b and .gaps[0].lost == $n' \
  <<<"$r" >/dev/null || fail "gap: $(jq -c .gaps <<<"$r"), want after $retry_last before $first lost $lost_want"
# everything else after W1's registration arrived: the entries now kept, and all before the gap
{ cat "$tmp/want1"; awk -v a="$retry_last" '{print} $0 == a {exit}' "$tmp/after_c1"; xids "$c1"; } |
  sort -u >"$tmp/want1b"
r=$(check "$W1" "$tmp/want1b")
jq -e '.missing == 0 and .outOfOrder == 0 and .badSignatures == 0' <<<"$r" >/dev/null || fail "W1 around the gap: $r"
api "/api/v1/webhooks/$W1" "${VW[@]}"
save webhook_get
jq -e '.delivery.gaps == 1' <<<"$BODY" >/dev/null || fail "W1 status does not count the gap: $BODY"

# ---------------------------------------------------------------- 5. documents and metrics
curl -s "$API/metrics" >"$tmp/serve.prom"
promtool check metrics <"$tmp/serve.prom" >"$tmp/promtool.log" 2>&1 || fail "promtool: $(cat "$tmp/promtool.log")"
for n in $(grep -o '^| `fleetpipe_serve_webhook[a-z_]*`' "$FP_SRC/docs/operations.md" | tr -d '|` '); do
  grep -q "^# TYPE $n " "$tmp/serve.prom" || fail "serve does not export $n"
done
grep -q "^fleetpipe_serve_webhook_deliveries_total{webhook=\"$W1\"}" "$tmp/serve.prom" || fail "no per-webhook deliveries"
grep -q "^fleetpipe_serve_webhook_lag_seconds{webhook=\"$W1\"} 0$" "$tmp/serve.prom" || fail "W1 lag not 0 when caught up"
check_answers >/dev/null
api "/api/v1/webhooks/$W1" -X DELETE "${OP[@]}"
[[ $CODE == 204 ]] || fail "DELETE W1: $CODE"
released() { [[ $(curl -s "$API/metrics" | awk '$1 == "fleetpipe_serve_webhooks_owned" {print $2}') == 1 ]]; }
wait_for "the survivor to stop delivering W1" 20 released
# a clean stop hands the lease over: a third instance takes W2 when the survivor is stopped
# (SIGTERM gives its leases back), and delivers what comes next
start_serve --tokens "$tmp/tokens" --redis "redis://127.0.0.1:$REDIS_PORT/0" "${wh_flags[@]}"
API_C=$API
kill -TERM "$survivor"
wait "$survivor" 2>/dev/null || true
API=$API_C
c2=$(status "$W2" | jq -r .cursor)
awk -v n=20 -v start=1 -v pad=20 -v vehicles=20 -v key=fleet:stream -f "$lib/xadd.awk" |
  rcli --pipe >/dev/null || fail "xadd"
wait_for "the third instance to deliver W2" 30 caught_up "$W2"
xids "$c2" >"$tmp/want2c"
r2=$(node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  const want = require("fs").readFileSync(process.argv[3], "utf8").split("\n").filter(Boolean);
  const got = new Map();
  for (const x of l) if (x.kind === "req" && x.webhook === process.argv[2]) for (const id of x.ids) got.set(id, x.instance);
  console.log(JSON.stringify({ missing: want.filter((id) => !got.has(id)).length,
    by: [...new Set(want.map((id) => got.get(id)))] }));' "$tmp/hooks.jsonl" "$W2" "$tmp/want2c")
jq -e --arg p ":$SERVE_PID:" '.missing == 0 and (.by | length) == 1 and (.by[0] | contains($p))' <<<"$r2" >/dev/null ||
  fail "after a clean stop, W2's new changes: $r2 (third instance pid $SERVE_PID)"
echo "serve_webhooks: ok (W1: $phase2 after 500s, refusal and hangs, $failures failed attempts, none lost, duplicated or reordered; kill -9 of $victim mid-delivery: $dups duplicates, all from the killed batch, the other instance took over, never two in flight; trim: one gap of $lost_want changes named exactly; a clean stop handed W2 to a third instance)"
