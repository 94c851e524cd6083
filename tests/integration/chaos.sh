#!/usr/bin/env bash
# Chaos: while a fleet publishes (20 vehicles at 10x real time, a modest rate), kill -9 a random
# part of the stack six times, 15-30 s apart (bridge, connect, lake watch, scheduler, serve,
# redis-server, PostgreSQL, mosquitto; a seeded shuffle, logged). Asserts:
#  - the supervisor restarted each victim (its restart count in stack.json, last exit signal 9)
#    and the stack is healthy again (stack status --json);
#  - afterwards every reconciliation of e2e.sh holds (tests/integration/lib/e2e.bash) with
#    nothing lost: the raw lake holds every sent line but the dead letters and the ACL's drops;
#  - duplicates only where the docs say a stage is at-least-once: the bridge under MQTT
#    redelivery and device resends (docs/ingest.md) — counted and printed; the raw lake itself
#    is exactly-once (docs/connect.md): per Kafka partition its objects cover contiguous,
#    non-overlapping offset ranges; Redis and DynamoDB are idempotent (their reconciliations are
#    exact whatever the duplicates); the aggregate's re-emitted windows are identical.
# CHAOS_SEED picks the victims and the intervals (default 6: bridge, redis, mosquitto, connect,
# lake-watch, postgres — every part on the data path; 18: serve, bridge, connect, scheduler,
# mosquitto, redis).
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/e2e.bash"
SEED=${CHAOS_SEED:-6}

e2e_times
e2e_up --vehicles 20 --warehouse-start "$E2E_DAY"
stage up
# 25 simulated minutes ending at the local midnight, at 10x: 150 s of publishing
FLEET_START=$(date -u -d "@$((E2E_MIDNIGHT - 1500))" +%FT%TZ)
SIM_MQTT_ARGS=(--speedup 10)
W0=$(date +%s.%N)
fleet main --vehicles 20 --duration 25m --speedup max --seed "$SEED" --start "$FLEET_START" \
  --anomalies all --anomaly-rate 0.02 &
fleet_pid=$!
pids+=($fleet_pid)

victims=(bridge connect lake-watch scheduler serve redis postgres mosquitto)
RANDOM=$SEED
for ((i = ${#victims[@]} - 1; i > 0; i--)); do # Fisher-Yates, seeded
  j=$((RANDOM % (i + 1)))
  t=${victims[i]} victims[i]=${victims[j]} victims[j]=$t
done
victims=("${victims[@]:0:6}")
: >"$tmp/kills"
for v in "${victims[@]}"; do
  pause=$((15 + RANDOM % 16))
  sleep "$pause"
  old=$(part "$v" .pid) r0=$(part "$v" .restarts)
  ((old > 0)) || fail "$v has no pid to kill: $(jq -c --arg n "$v" '.parts[] | select(.name == $n)' "$J")"
  kill -9 "$old"
  echo "chaos: after ${pause}s kill -9 $v (pid $old) at $(date +%s.%N)" | tee -a "$tmp/kills" >&2
  restarted() { [[ $(part "$v" .pid) != "$old" && $(part "$v" .pid) -gt 0 && $(part "$v" .restarts) -eq $((r0 + 1)) ]]; }
  wait_for "the supervisor to restart $v" 90 restarted
  jq -e --arg n "$v" '.parts[] | select(.name == $n) | .last_exit | test("signal 9")' "$J" >/dev/null ||
    fail "$v's last exit: $(part "$v" .last_exit)"
done
wait "$fleet_pid" || fail "the fleet did not finish: $(tail -5 "$tmp/sim-main.log")"
wait_for "every part healthy after the kills" 120 all_healthy
for v in "${victims[@]}"; do
  n=$(grep -c "kill -9 $v " "$tmp/kills")
  [[ $(part "$v" .restarts) -eq $n ]] || fail "$v was killed $n times, restarted $(part "$v" .restarts)"
  jq -e --arg n "$v" --argjson r "$n" '.parts[] | select(.name == $n) | .healthy and .restarts == $r' "$tmp/status.json" >/dev/null ||
    fail "status of $v: $(jq -c --arg n "$v" '.parts[] | select(.name == $n)' "$tmp/status.json")"
done
e2e_endpoints # ports stay; re-read anyway
stage kills
# a mosquitto killed with messages it acknowledged to devices but had not delivered to the bridge
# loses them (persistence false: docs/stack.md): rec_raw counts a missing message as lost there
# only when the fleet sent it within 10 s of a mosquitto kill (simulated time mapped to the
# wall clock from the fleet's start); any other missing message fails the test
jq -n --argjson w0 "$W0" --arg start "$FLEET_START" --argjson w "$(awk '$6 == "mosquitto" { print $NF }' "$tmp/kills" | jq -s -c 'map([. - 10, . + 10])')" \
  '{w0: $w0, start_ms: (($start | fromdateiso8601) * 1000), speedup: 10, windows: $w}' >"$tmp/loss-windows.json"
SIM_MQTT_ARGS=()
fleet close --vehicles 20 --duration 3m --speedup max --seed $((SEED + 1)) --start "$E2E_CLOSE"
P=$(($(jq .published "$tmp/sim-main.json") + $(jq .published "$tmp/sim-close.json")))
wait_raw "$P" settle
stage raw_lake
rec_raw atleast
rec_exactly_once
wait_converted
rec_parquet
wait_day
rec_pg
rec_marts
rec_score
rec_redis
rec_aggregates
rec_dynamodb
rec_agg_items
rec_api 20
stage stores
"$FP" stack down --dir "$D" --json >"$tmp/down.json" 2>"$tmp/down.err" || fail "stack down: $(cat "$tmp/down.err")"
jq -e '(.alive | length) == 0' "$tmp/down.json" >/dev/null || fail "down: $(cat "$tmp/down.json")"
echo "chaos: ok in $((SECONDS - T0)) s (seed $SEED: $(awk '{print $6}' "$tmp/kills" | tr '\n' ' ')); $(tr '\n' ';' <"$FIG")"
