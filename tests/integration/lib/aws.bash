# Helpers for the S3 and DynamoDB tests (sourced after connect.bash): s3rver and dynalite from
# tests/servers (npm, pinned by its lock file), each reached through tests/servers/aws-proxy.js,
# which verifies every SigV4 signature and Content-MD5 (neither server does) and can inject
# the faults real AWS produces (throttling, UnprocessedItems, dropped connections).
AWS_SERVERS=$FP_SRC/tests/servers
[[ -d $AWS_SERVERS/node_modules/s3rver && -d $AWS_SERVERS/node_modules/dynalite ]] ||
  fail "tests/servers/node_modules is missing: run scripts/setup.sh"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE

port_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_s3rver BUCKET...: s3rver with its data in $tmp/s3rver (objects are files there named
# <bucket>/<key>._S3rver_object, which tests read as an independent view of the bucket); sets
# S3RVER_PORT, S3RVER_PID.
start_s3rver() {
  S3RVER_PORT=${S3RVER_PORT:-$(free_port)}
  mkdir -p "$tmp/s3rver"
  local b conf=()
  for b in "$@"; do conf+=(--configure-bucket "$b"); done
  # s3rver makes ListObjectsV2 continuation tokens with DES, which Node's OpenSSL 3 only has
  # in its legacy provider: without it every listing longer than a page answers 500.
  node --openssl-legacy-provider "$AWS_SERVERS/node_modules/s3rver/bin/s3rver.js" -d "$tmp/s3rver" -a 127.0.0.1 \
    -p "$S3RVER_PORT" --silent "${conf[@]}" >>"$tmp/s3rver.log" 2>&1 &
  S3RVER_PID=$!
  pids+=($S3RVER_PID)
  wait_for "s3rver on port $S3RVER_PORT" 20 port_up "$S3RVER_PORT"
}

# start_dynalite: in-memory dynalite; sets DYNALITE_PORT, DYNALITE_PID.
start_dynalite() {
  DYNALITE_PORT=$(free_port)
  node "$AWS_SERVERS/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$DYNALITE_PORT" \
    --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 >>"$tmp/dynalite.log" 2>&1 &
  DYNALITE_PID=$!
  pids+=($DYNALITE_PID)
  wait_for "dynalite on port $DYNALITE_PORT" 20 port_up "$DYNALITE_PORT"
}

# start_aws_proxy NAME SERVICE TARGET_PORT [--throttle-every N] [--unprocessed-every N]
#   [--reset-every N]: sets PROXY_URL (http://127.0.0.1:PORT); one JSON line per request in
#   $tmp/NAME.requests.
start_aws_proxy() {
  local name=$1 service=$2 port=$3
  shift 3
  mkfifo "$tmp/$name.out"
  node "$AWS_SERVERS/aws-proxy.js" --target "http://127.0.0.1:$port" --service "$service" \
    --log "$tmp/$name.requests" "$@" >"$tmp/$name.out" 2>>"$tmp/$name.log" &
  pids+=($!)
  local line
  read -r -t 20 line <"$tmp/$name.out" || fail "aws-proxy $name did not start: $(cat "$tmp/$name.log")"
  PROXY_URL=http://127.0.0.1:${line#listening }
}
