#!/usr/bin/env bash
# Alerts of `fleetpipe check` (docs/checks.md, "Alerts") through `fleetpipe check notify`, against
# a real PostgreSQL (ops.dq_alert_state) and tests/servers/slack-receiver.js, which answers as
# Slack's incoming webhooks do and records every request. Every assertion reads numbers from
# notify's JSON status line, the receiver's record or the state table — never log wording.
# Proves:
#  - transitions: pass (nothing), fail fires (Slack and the generic webhook, valid payloads),
#    fail again suppressed, fail after the quiet time repeats, pass sends "resolved", pass again
#    nothing; warn -> fail fires at once (a different failing status);
#  - 429 with Retry-After: retried after at least Retry-After, then delivered;
#  - 500: retried with backoff, then delivered;
#  - 400 invalid_payload and 404 channel_not_found: one attempt, counted lost (rejected), and
#    the key fires again at its next report (nobody was told);
#  - receiver down: the report returns at once; with a budget longer than the outage the alert
#    is delivered after the receiver is back; with a shorter one it is counted lost (budget) and
#    fires again next time; --wait 0 returns at once and counts it lost (flush);
#  - the webhook URLs' secret never appears in any output or log, PostgreSQL's included.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/pg.bash"

start_pg

# ---- the receiver ----
mkfifo "$tmp/receiver.out"
node "$FP_SRC/tests/servers/slack-receiver.js" \
  --paths /services/T0FLEET/B0PIPE/SECRETslack1234,/hooks/SECREThook5678 \
  >"$tmp/receiver.out" 2>"$tmp/receiver.log" &
pids+=($!)
read -r -t 20 _ HOOK_PORT CTL_PORT <"$tmp/receiver.out" || fail "receiver did not start: $(cat "$tmp/receiver.log")"
CTL=http://127.0.0.1:$CTL_PORT
mode() { curl -sf -X POST "$CTL/_mode" -d "$1" >/dev/null || fail "receiver /_mode $1"; }
reqs() { curl -sf "$CTL/_requests"; }
nreq() { reqs | jq "${1:-.} | length"; } # nreq [FILTER]: how many recorded requests match

echo "http://127.0.0.1:$HOOK_PORT/services/T0FLEET/B0PIPE/SECRETslack1234" >"$tmp/slack.url"
printf '  http://127.0.0.1:%s/hooks/SECREThook5678  \n' "$HOOK_PORT" >"$tmp/hook.url"
# both sinks (url files relative to the config's folder), and Slack alone for the retry cases
cat >"$tmp/alerts.json" <<EOF
{"alerts": {"slack": {"url_file": "slack.url"}, "webhook": {"url_file": "hook.url"},
            "quiet": "3s", "retry_budget": "20s", "retry_base": "200ms", "retry_cap": "1s",
            "timeout": "2s"}}
EOF
cat >"$tmp/slack.json" <<EOF
{"slack": {"url_file": "slack.url"}, "quiet": "1h", "retry_budget": "20s", "retry_base": "200ms",
 "retry_cap": "1s", "timeout": "2s"}
EOF
cat >"$tmp/short.json" <<EOF
{"slack": {"url_file": "slack.url"}, "quiet": "1h", "retry_budget": "3s", "retry_base": "200ms",
 "retry_cap": "500ms", "timeout": "1s"}
EOF

n=0
# notify CONFIG KEY STATUS [FLAGS...]: runs check notify, leaves its JSON status in $out/last.json
notify() {
  local cfg=$1 key=$2 status=$3
  shift 3
  n=$((n + 1))
  "$FP" check notify --alerts "$tmp/$cfg" --pg "$PG_URL" --key "$key" --status "$status" \
    --title "$status: $key" --text "interval 2026-03-03: 3 failing rows (count > 0)" \
    --fields '{"check": "gps_jump", "target": "lake.vehicle_kinematic", "interval_start": "2026-03-03", "observed": 3, "threshold": "count > 0"}' \
    --status-format json "$@" >"$tmp/notify$n.json" 2>"$tmp/notify$n.log"
  local rc=$?
  ((rc == 0)) || fail "notify $key $status exited $rc: $(cat "$tmp/notify$n.log")"
  cp "$tmp/notify$n.json" "$tmp/last.json"
}
j() { jq -r "$1" "$tmp/last.json"; } # j FILTER: from the last notify's status
expect() { # expect FILTER VALUE
  local got
  got=$(j "$1")
  [[ $got == "$2" ]] || fail "notify #$n: $1 = $got, expected $2 ($(cat "$tmp/last.json"))"
}
key_reqs() { reqs | jq --arg k "$1" '[.[] | select(.body | contains($k))]'; }

# ---- transitions ----
K="check gps_jump lake.vehicle_kinematic"
notify alerts.json "$K" pass
expect .decisions.none 1
expect .sinks.slack.attempts 0
[[ $(nreq) == 0 ]] || fail "a first pass sent something"

notify alerts.json "$K" fail
expect .decisions.fire 1
expect .sinks.slack.sent 1
expect .sinks.webhook.sent 1
expect .sinks.slack.lost 0
got=$(key_reqs "$K")
[[ $(jq length <<<"$got") == 2 ]] || fail "fire: expected 2 requests, got $got"
jq -e 'all(.[]; .valid and .status == 200 and (.content_type | startswith("application/json")))' <<<"$got" >/dev/null ||
  fail "fire: a request was not a valid payload: $got"
slack=$(jq '[.[] | select(.path | startswith("/services/"))][0].json' <<<"$got")
jq -e '(.text | startswith("[FAIL]")) and .blocks[0].type == "header" and
  ([.blocks[] | select(.type == "section") | .fields // [] | .[] | .text] | map(select(test("observed"))) | length) == 1' \
  <<<"$slack" >/dev/null || fail "slack payload lacks text, header or the observed field: $slack"
hook=$(jq '[.[] | select(.path | startswith("/hooks/"))][0].json' <<<"$got")
jq -e --arg k "$K" '.key == $k and .kind == "firing" and .status == "fail" and .observed == 3 and
  .target == "lake.vehicle_kinematic" and .threshold == "count > 0" and .previous_status == "pass"' \
  <<<"$hook" >/dev/null || fail "webhook payload: $hook"

notify alerts.json "$K" fail
expect .decisions.suppress 1
expect .sinks.slack.attempts 0
[[ $(key_reqs "$K" | jq length) == 2 ]] || fail "a repeated fail within the quiet time was sent"

sleep 3.2 # the quiet time
notify alerts.json "$K" fail
expect .decisions.repeat 1
expect .sinks.webhook.sent 1
[[ $(key_reqs "$K" | jq '[.[] | select(.json.kind == "repeat")] | length') == 1 ]] ||
  fail "no repeat after the quiet time"

notify alerts.json "$K" pass
expect .decisions.resolved 1
expect .sinks.slack.sent 1
got=$(key_reqs "$K")
jq -e '[.[] | select(.json.kind == "resolved" and .json.previous_status == "fail")] | length == 1' \
  <<<"$got" >/dev/null || fail "no resolved message: $got"
jq -e '[.[] | select(.path | startswith("/services/")) | .json.text] | last | startswith("[RESOLVED]")' \
  <<<"$got" >/dev/null || fail "slack resolved text: $got"
notify alerts.json "$K" pass
expect .decisions.none 1
[[ $(key_reqs "$K" | jq length) == 6 ]] || fail "expected 6 requests for $K (fire, repeat, resolved x 2)"
[[ $(pq -c "SELECT status || ' ' || sent_status || ' ' || sends || ' ' || lost FROM ops.dq_alert_state WHERE key = '$K'") == "pass pass 3 0" ]] ||
  fail "state of $K: $(pq -c "SELECT * FROM ops.dq_alert_state")"

# warn, then fail: a different failing status fires at once
notify alerts.json "k.escalate" warn
expect .decisions.fire 1
notify alerts.json "k.escalate" fail
expect .decisions.fire 1
expect .sinks.slack.sent 1
echo "ok   transitions: fire, suppress, repeat after quiet, resolved, escalation"

# ---- 429 with Retry-After ----
mode '{"mode": "429", "count": 1, "retry_after": 2}'
notify slack.json "k.429" fail
expect .sinks.slack.sent 1
expect .sinks.slack.attempts 2
expect '.sinks.slack.retries_by["429"]' 1
got=$(key_reqs "k.429")
jq -e 'length == 2 and .[0].status == 429 and .[1].status == 200 and .[1].at - .[0].at >= 1900' \
  <<<"$got" >/dev/null || fail "429: expected a retry >= 2 s later: $(jq -c 'map({status, at})' <<<"$got")"
echo "ok   429 with Retry-After: retried after $(jq '.[1].at - .[0].at' <<<"$got") ms, delivered"

# ---- 500 ----
mode '{"mode": "500", "count": 2}'
notify slack.json "k.500" fail
expect .sinks.slack.sent 1
expect .sinks.slack.attempts 3
expect '.sinks.slack.retries_by["5xx"]' 2
[[ $(key_reqs "k.500" | jq -c 'map(.status)') == "[500,500,200]" ]] || fail "500: $(key_reqs k.500)"
echo "ok   500: retried twice with backoff, delivered"

# ---- 400 and 404: permanent ----
for m in invalid_payload:400 channel_not_found:404; do
  name=${m%:*} code=${m#*:}
  mode "{\"mode\": \"$name\"}"
  notify slack.json "k.$name" fail
  expect .decisions.fire 1
  expect .sinks.slack.sent 0
  expect .sinks.slack.attempts 1
  expect .sinks.slack.lost 1
  expect .sinks.slack.lost_by.rejected 1
  expect .sinks.slack.last_http_status "$code"
  [[ $(key_reqs "k.$name" | jq -c 'map(.status)') == "[$code]" ]] || fail "$name was retried"
  mode '{"mode": "ok"}'
  # nobody was told: the next report fires again (not suppressed for the quiet time of 1h)
  notify slack.json "k.$name" fail
  expect .decisions.fire 1
  expect .sinks.slack.sent 1
  [[ $(pq -c "SELECT lost FROM ops.dq_alert_state WHERE key = 'k.$name'") == 1 ]] || fail "$name: lost not recorded"
done
echo "ok   400 invalid_payload and 404 channel_not_found: not retried, counted lost, fire again"

# ---- receiver down, then up within the budget ----
mode '{"mode": "down"}'
start=$(date +%s%3N)
"$FP" check notify --alerts "$tmp/slack.json" --pg "$PG_URL" --key k.outage --status fail \
  --text "during an outage" --status-format json >"$tmp/outage.json" 2>"$tmp/outage.log" &
npid=$!
pids+=($npid)
sleep 4
[[ $(key_reqs k.outage | jq length) == 0 ]] || fail "a request reached a receiver that was down"
kill -0 "$npid" 2>/dev/null || fail "notify gave up while the receiver was down: $(cat "$tmp/outage.json")"
up=$(date +%s%3N)
mode '{"mode": "ok"}'
wait "$npid" || fail "notify during the outage exited $?"
cp "$tmp/outage.json" "$tmp/last.json"
expect .sinks.slack.sent 1
expect .sinks.slack.lost 0
(($(j .report_ms) < 1000)) || fail "the report blocked for $(j .report_ms) ms during the outage"
(($(j .sinks.slack.retries_by.network) >= 1)) || fail "no network retries counted"
got=$(key_reqs k.outage)
jq -e --argjson up "$up" 'length == 1 and .[0].status == 200 and .[0].at >= $up' <<<"$got" >/dev/null ||
  fail "outage: expected one delivery after the receiver came back: $got"
echo "ok   receiver down $(((up - start) / 1000)) s: report took $(j .report_ms) ms, delivered after it came back ($(j .sinks.slack.retries_by.network) retries)"

# ---- receiver down longer than the budget: lost, then fires again ----
mode '{"mode": "down"}'
t0=$(date +%s%3N)
notify short.json "k.budget" fail
t1=$(date +%s%3N)
expect .sinks.slack.sent 0
expect .sinks.slack.lost 1
expect .sinks.slack.lost_by.budget 1
(((t1 - t0) < 8000)) || fail "notify with a 3 s budget took $((t1 - t0)) ms"
# --wait 0: returns at once, what is queued counts lost
t0=$(date +%s%3N)
notify short.json "k.nowait" fail --wait 0
t1=$(date +%s%3N)
expect .sinks.slack.lost_by.flush 1
(((t1 - t0) < 3000)) || fail "notify --wait 0 took $((t1 - t0)) ms"
mode '{"mode": "ok"}'
notify short.json "k.budget" fail
expect .decisions.fire 1
expect .sinks.slack.sent 1
[[ $(key_reqs k.budget | jq -c 'map(.status)') == "[200]" ]] || fail "k.budget after the outage"
echo "ok   budget exceeded: counted lost (budget, flush), fired again once the receiver was back"

# ---- metrics names and a bad config ----
echo '{"slack": {"url_file": "slack.url"}, "quiett": "1h"}' >"$tmp/bad.json"
set +e
"$FP" check notify --alerts "$tmp/bad.json" --pg "$PG_URL" --key k --status fail >/dev/null 2>"$tmp/bad.log"
rc=$?
set -e
((rc == 2)) || fail "an unknown alerts key exited $rc, expected 2"

# ---- the secret never shows ----
if grep -rl -e SECRETslack1234 -e SECREThook5678 "$tmp"/*.log "$tmp"/*.json "$PGDATA_DIR/server.log" 2>/dev/null |
  grep -v -e '/slack\.url$' -e '/hook\.url$'; then
  fail "a webhook URL's secret appears in the files above"
fi
echo "ok   the webhook URLs never appear in outputs or logs"
echo "PASS check_alerts"
