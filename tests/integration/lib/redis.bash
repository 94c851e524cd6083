# Helpers for the Redis tests (sourced after connect.bash): a real redis-server on a free
# loopback port, restartable on the same port with the same data directory.

# start_redis [redis-server options...]: starts redis-server on 127.0.0.1, data in $tmp/redis;
# sets REDIS_PORT and REDIS_PID. The options are kept for restart_redis. With REDIS_PASSWORD
# set, the server requires it and redis-cli (rcli) sends it.
start_redis() {
  REDIS_DIR=$tmp/redis
  REDIS_OPTS=("$@")
  mkdir -p "$REDIS_DIR"
  for _ in $(seq 20); do
    REDIS_PORT=$((20000 + RANDOM % 40000))
    if run_redis; then
      return
    fi
  done
  fail "redis-server did not start (see $REDIS_DIR/redis.log)"
}

# restart_redis: starts redis-server again on the same port with the same options and data.
restart_redis() {
  run_redis || fail "redis-server did not restart on port $REDIS_PORT"
}

# run_redis: one attempt on REDIS_PORT; false when it exited (port taken) or never answered.
run_redis() {
  local auth=()
  [[ -n ${REDIS_PASSWORD:-} ]] && auth=(--requirepass "$REDIS_PASSWORD")
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" --save '' \
    --daemonize no --logfile "$REDIS_DIR/redis.log" "${REDIS_OPTS[@]}" "${auth[@]}" &
  REDIS_PID=$!
  pids+=($REDIS_PID)
  local end=$((SECONDS + 20))
  while ((SECONDS < end)); do
    kill -0 "$REDIS_PID" 2>/dev/null || return 1
    [[ $(rcli ping 2>/dev/null) == PONG ]] && return 0
    sleep 0.1
  done
  return 1
}

# rcli ARGS...: redis-cli against the test server, raw replies.
rcli() {
  if [[ -n ${REDIS_PASSWORD:-} ]]; then
    REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -p "$REDIS_PORT" --raw "$@"
  else
    redis-cli -p "$REDIS_PORT" --raw "$@"
  fi
}
