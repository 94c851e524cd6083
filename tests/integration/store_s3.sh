#!/usr/bin/env bash
# The fp_store contract on s3:// (tests/unit/test_store.c's S3 cases) against s3rver behind the
# verifying proxy: every request's SigV4 signature, Content-MD5 and payload hash checked.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/aws.bash"
start_s3rver contract
start_aws_proxy contract s3 "$S3RVER_PORT" --reset-every 97
FP_TEST_S3_URL=s3://contract/some/prefix FP_TEST_S3_ENDPOINT=$PROXY_URL \
  "$FP_BUILD/test_store" >"$tmp/test_store.log" 2>&1 || { cat "$tmp/test_store.log" >&2; fail "test_store on s3://"; }
grep -q "OK \] test_s3_store_contract" "$tmp/test_store.log" || { cat "$tmp/test_store.log" >&2; fail "the s3 cases did not run"; }
refused=$(jq -c 'select(.status == 403 or .status == 400)' "$tmp/contract.requests" | wc -l)
((refused == 0)) || fail "$refused requests refused by the verifying proxy"
resets=$(jq -c 'select(.fault == "reset")' "$tmp/contract.requests" | wc -l)
((resets > 0)) || fail "no connection was dropped; the retry path was not exercised"
n=$(wc -l <"$tmp/contract.requests")

# Temporary credentials: the session token is sent and signed on every request.
start_aws_proxy token s3 "$S3RVER_PORT"
AWS_SESSION_TOKEN=FwoGZXIvYXdzEXAMPLETOKEN FP_TEST_S3_URL=s3://contract/with-token \
  FP_TEST_S3_ENDPOINT=$PROXY_URL "$FP_BUILD/test_store" >"$tmp/test_store.2.log" 2>&1 ||
  { cat "$tmp/test_store.2.log" >&2; fail "test_store on s3:// with a session token"; }
unsigned=$(jq -c 'select((.signed // "") | test("x-amz-security-token") | not)' "$tmp/token.requests" | wc -l)
refused=$(jq -c 'select(.status == 403 or .status == 400)' "$tmp/token.requests" | wc -l)
((unsigned == 0 && refused == 0)) || fail "session token: $unsigned requests without a signed token, $refused refused"
echo "store_s3: ok ($n requests, all signatures verified, $resets dropped connections retried; session token signed on $(wc -l <"$tmp/token.requests") more)"
