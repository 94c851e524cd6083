# Helpers for the Fleet API tests (sourced after connect.bash): `fleetpipe serve` on a free
# loopback port. start_serve ARGS... sets API (http://127.0.0.1:PORT) and SERVE_PID.
start_serve() {
  rm -f "$tmp/serve.ready"
  "$FP" serve --listen 127.0.0.1:0 --ready-file "$tmp/serve.ready" "$@" >>"$tmp/serve.log" 2>&1 &
  SERVE_PID=$!
  pids+=($SERVE_PID)
  local end=$((SECONDS + 20))
  until [[ -s $tmp/serve.ready ]]; do
    kill -0 "$SERVE_PID" 2>/dev/null || fail "serve exited: $(tail -5 "$tmp/serve.log")"
    ((SECONDS < end)) || fail "serve not ready after 20 s"
    sleep 0.1
  done
  API=$(cat "$tmp/serve.ready")
}

# api PATH [curl args...]: GET $API$PATH; sets BODY and CODE (the HTTP status).
api() {
  local path=$1 out
  shift
  out=$(curl -sS -w '\n%{http_code}' "$@" "$API$path") || fail "curl $path"
  CODE=${out##*$'\n'}
  BODY=${out%$'\n'*}
}

# save OPERATION [STATUS]: keeps $BODY as $tmp/answers/OPERATION[.STATUS].<n>.json for
# check_answers (tests/verify/apicheck.mjs: each against its operation's schema).
save() {
  mkdir -p "$tmp/answers"
  SAVED=$((${SAVED:-0} + 1))
  printf '%s' "$BODY" >"$tmp/answers/$1${2:+.$2}.$SAVED.json"
}

# check_answers: the served OpenAPI document is valid and every saved answer matches it.
check_answers() {
  curl -sf "$API/api/v1/openapi.json" >"$tmp/openapi.json" || fail "GET /api/v1/openapi.json"
  node "${FP_SRC:?}/tests/verify/apicheck.mjs" "$tmp/openapi.json" "$tmp/answers" >"$tmp/apicheck.json" ||
    fail "answers against the OpenAPI document: $(cat "$tmp/apicheck.json")"
  cat "$tmp/apicheck.json"
}

# expect_status CODE PATH [curl args...]: the request answers CODE with a JSON error naming
# what was wrong (the message is printed for the caller's own checks).
expect_status() {
  local want=$1
  shift
  api "$@"
  [[ $CODE == "$want" ]] || fail "$1: HTTP $CODE, want $want: $BODY"
  jq -e --argjson c "$want" '.error_code == $c and (.message | length > 0)' <<<"$BODY" >/dev/null ||
    fail "$1: error body $BODY"
  [[ -n ${SAVE_ERRORS_AS:-} ]] && save "$SAVE_ERRORS_AS" "$want"
  jq -r .message <<<"$BODY"
}
