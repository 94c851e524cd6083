#!/usr/bin/env bash
# Distributed mode: two `fleetpipe connect --group g` workers share connectors through
# _fleetpipe-configs / _fleetpipe-status. A connector POSTed to worker A runs on both (status
# lists tasks of both workers), a connector created on A shows up on B and a DELETE on B stops
# it on A; pause, resume and restart written on one worker act on both. Then kill -9 worker B
# while a steady producer writes: A takes B's partitions after the group's session timeout, B's
# tasks drop out of the merged status, and the raw lake ends up with every produced record
# exactly once.
source "$(dirname "$0")/lib/connect.bash"

start_broker 6
lake=$tmp/lake
mkdir -p "$lake"
pa=$(free_port)
pb=$(free_port)
while [[ $pb == "$pa" ]]; do pb=$(free_port); done
t0=$(date +%s%3N)
"$FP" connect --bootstrap-servers "$BS" --group g --worker-id A --rest-listen "127.0.0.1:$pa" \
  --status-interval 2s 2>"$tmp/connect.log" &
wa=$!
pids+=($wa)
# The REST API answers within 2 s of the start (issue 12: it took ~10 s, a CreateTopics wait);
# writes answer 409 until the worker has read the config topic. Polled every 50 ms.
until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pa/connectors") == 200 ]]; do
  (($(date +%s%3N) - t0 < 2000)) || fail "worker A: no 200 on GET /connectors within 2 s"
  sleep 0.05
done
echo "connect_distributed: worker A answered GET /connectors $(($(date +%s%3N) - t0)) ms after its start (bound 2000 ms)"
"$FP" connect --bootstrap-servers "$BS" --group g --worker-id B --rest-listen "127.0.0.1:$pb" \
  --status-interval 2s 2>"$tmp/connect.b.log" &
wb=$!
pids+=($wb)
A=http://127.0.0.1:$pa
B=http://127.0.0.1:$pb
up() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/") == 200 ]]; }
wait_for "worker A" 60 up "$A"
wait_for "worker B" 60 up "$B"

# --- a connector created on A appears on B; DELETE on B stops it on A
cat >"$tmp/other.json" <<JSON
{"name": "other", "config": {"connector.class": "objstore", "topics": "fms.none",
 "store.url": "file://$tmp/other"}}
JSON
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary @"$tmp/other.json" "$A/connectors")
[[ $code == 201 ]] || fail "create on A: $code $(cat "$tmp/body")"
on_b() { curl -s "$B/connectors" | jq -e 'index("other") != null' >/dev/null; }
wait_for "connector other on B" 30 on_b
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST "$B/connectors" -H 'Content-Type: application/json' \
  --data-binary @"$tmp/other.json")
[[ $code == 409 ]] || fail "create on B of a connector made on A: $code, expected 409"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$B/connectors/other")
[[ $code == 204 ]] || fail "DELETE on B: $code"
gone_a() { curl -s "$A/connectors" | jq -e 'index("other") == null' >/dev/null && grep -q "other: stopped" "$tmp/connect.log"; }
wait_for "connector other stopped on A" 30 gone_a

# --- the raw connector with 6 tasks on each worker
connector_json raw "$lake" '"flush.size": "40", "rotate.schedule.interval.ms": "500"'
# roundrobin: with range, the same 6 of the 12 members would get every topic's partitions
jq '.config["tasks.max"] = "6" | .config["consumer.override.partition.assignment.strategy"] = "roundrobin"' \
  "$tmp/raw.json" >"$tmp/raw6.json"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary @"$tmp/raw6.json" "$A/connectors")
[[ $code == 201 ]] || fail "create raw on A: $code $(cat "$tmp/body")"
both() {
  curl -s "$A/connectors/raw/status" >"$tmp/status.json"
  jq -e '(.tasks | length == 12) and ([.tasks[].worker_id] | unique == ["A", "B"])
    and ([.tasks[].id] == [range(12)]) and all(.tasks[]; .state == "RUNNING")' "$tmp/status.json" >/dev/null
}
wait_for "12 RUNNING tasks of workers A and B in A's status" 60 both
assigned_b() { grep -q "raw/[0-9]: assigned [1-9]" "$tmp/connect.b.log"; }
wait_for "worker B to own partitions" 60 assigned_b

# --- pause on B pauses the tasks of both workers; resume on A; a restart on A restarts B's too
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$B/connectors/raw/pause")
[[ $code == 202 ]] || fail "pause on B: $code"
all_state() {
  curl -s "$A/connectors/raw/status" >"$tmp/status.json"
  jq -e --arg s "$1" '.connector.state == $s and (.tasks | length == 12) and all(.tasks[]; .state == $s)' \
    "$tmp/status.json" >/dev/null
}
wait_for "every task of both workers PAUSED" 30 all_state PAUSED
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$A/connectors/raw/resume")
[[ $code == 202 ]] || fail "resume on A: $code"
wait_for "every task of both workers RUNNING" 30 all_state RUNNING
before=$(grep -c "raw/[0-9]: assigned [1-9]" "$tmp/connect.b.log" || true)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$A/connectors/raw/restart")
[[ $code == 204 ]] || fail "restart on A: $code"
restarted_b() { grep -q "raw: restarting" "$tmp/connect.b.log"; }
wait_for "the restart to reach worker B" 30 restarted_b
assigned_again() { (($(grep -c "raw/[0-9]: assigned [1-9]" "$tmp/connect.b.log" || true) > before)); }
wait_for "worker B to own partitions again" 60 assigned_again

# --- a steady producer; kill -9 B in the middle of it
fleet=(--vehicles 30 --duration 6m --seed 7 --start 2023-01-01T03:00:00Z --speedup 60 --rate 400)
"$FP" sim "${fleet[@]}" --speedup max --rate 0 2>/dev/null >"$tmp/gen.jsonl"
"$FP" sim "${fleet[@]}" --target "kafka://$BS" 2>"$tmp/sim.log" &
sim=$!
pids+=($sim)
sleep 2
consumed_b() { grep -q "in=[1-9]" "$tmp/connect.b.log"; }
wait_for "worker B consuming" 30 consumed_b
kill -9 "$wb"
wait "$wb" 2>/dev/null || true
killed_at=$SECONDS
wait "$sim" || fail "the producer failed: $(tail -3 "$tmp/sim.log")"
n=$(wc -l <"$tmp/gen.jsonl")

# A takes over B's partitions (session.timeout.ms 6000) and B's entries expire from status.
only_a() {
  curl -s "$A/connectors/raw/status" >"$tmp/status.json"
  jq -e '(.tasks | length == 6) and all(.tasks[]; .worker_id == "A")' "$tmp/status.json" >/dev/null
}
wait_for "B's tasks to leave the merged status" 30 only_a
in_lake() { (($(lake_lines "$lake" | wc -l) >= n)); }
wait_for "every record in the lake after the fail-over" 120 in_lake
echo "connect_distributed: A caught up $((SECONDS - killed_at)) s after the kill" >&2
sleep 2
sort "$tmp/gen.jsonl" >"$tmp/gen.sorted"
lake_lines "$lake" | sort >"$tmp/lake.sorted"
dups=$(uniq -d "$tmp/lake.sorted" | wc -l)
((dups == 0)) || fail "$dups records are in the lake more than once"
cmp -s "$tmp/lake.sorted" "$tmp/gen.sorted" ||
  fail "lake has $(wc -l <"$tmp/lake.sorted") records, expected $n"
kill -TERM "$wa"
rc=0
wait "$wa" || rc=$?
((rc == 0)) || fail "worker A exited $rc after SIGTERM"
echo "connect_distributed: ok ($n records exactly once across a kill -9 of one of two workers)"
