# Shared helpers for the connect integration tests (sourced, not run).
# Needs FLEETPIPE; sets tmp, BS; cleans up every process it started on EXIT.
set -euo pipefail
FP=${FLEETPIPE:?FLEETPIPE must point at the fleetpipe binary}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n ${KEEP:-} ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $tmp/connect.log ]] && tail -30 "$tmp/connect.log" >&2; exit 1; }

# start_broker: runs `fleetpipe broker` in the background, sets BS from its first stdout line.
start_broker() {
  mkfifo "$tmp/broker.out"
  "$FP" broker --brokers 1 --partitions "${1:-4}" >"$tmp/broker.out" 2>"$tmp/broker.log" &
  pids+=($!)
  exec 7<"$tmp/broker.out"
  BS=""
  read -r -t 30 BS <&7 || fail "broker printed no bootstrap servers"
  [[ $BS == 127.0.0.1:* ]] || fail "unexpected bootstrap line '$BS'"
  # Keep draining its stdout so it never blocks.
  cat <&7 >/dev/null &
  pids+=($!)
}

# free_port: prints a loopback TCP port nobody listens on.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-)
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  fail "no free port found"
}

# wait_for DESC SECONDS CMD...: polls CMD every 0.2 s; fails after SECONDS.
wait_for() {
  local desc=$1 secs=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < end)) || fail "timed out after ${secs}s waiting for $desc"
    sleep 0.2
  done
}

# lake_lines DIR: every record line in final objects (never staging files).
lake_lines() {
  find "$1" -path '*/.staging' -prune -o -type f \( -name '*.jsonl' -o -name '*.jsonl.zst' \) -print0 |
    sort -z | while IFS= read -r -d '' f; do
      case $f in *.zst) zstd -dcq "$f" ;; *) cat "$f" ;; esac
    done
}

# UTC partition path of a messaged_at value, per line of JSON on stdin.
utc_path_jq='(.messaged_at | sub("\\.[0-9]+"; "")) as $t
  | ($t[0:19] + "Z" | fromdateiso8601)
    - (if $t[19:20] == "Z" then 0
       else ((if $t[19:20] == "-" then -1 else 1 end)
             * (($t[20:22] | tonumber) * 3600 + ($t[23:25] | tonumber) * 60)) end)
  | strftime("dt=%Y-%m-%d/hour=%H")'

# connector_json NAME STORE_DIR EXTRA_JSON_MEMBERS: writes $tmp/NAME.json
connector_json() {
  local name=$1 store=$2 extra=${3:-}
  cat >"$tmp/$name.json" <<JSON
{"name": "$name", "config": {
  "connector.class": "objstore",
  "topics.regex": "fms\\\\.(vehicle|cargo|blackbox|device)",
  "tasks.max": "2",
  "store.url": "file://$store",
  "timestamp.field": "messaged_at",
  "errors.tolerance": "all",
  "errors.deadletterqueue.topic.name": "fms.deadletter",
  "errors.log.enable": "false",
  "consumer.override.session.timeout.ms": "6000",
  "consumer.override.heartbeat.interval.ms": "500"${extra:+,
  $extra}
}}
JSON
}

# not_utf8 CLASSFILE INPUT: marks "B" in CLASSFILE (one class per input line) every line of
# INPUT that is not valid UTF-8 (the simulator's malformed_json anomaly may insert a stray
# byte, which jq silently replaces but fleetpipe's validator rejects, as RFC 8259 requires).
not_utf8() {
  LC_ALL=C.UTF-8 grep -naxv '.*' "$2" | cut -d: -f1 >"$1.invalid" || true
  awk 'NR == FNR { bad[$1] = 1; next } { print (FNR in bad) ? "B" : $0 }' "$1.invalid" "$1" >"$1.tmp"
  mv "$1.tmp" "$1"
}
