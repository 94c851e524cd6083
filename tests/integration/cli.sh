#!/usr/bin/env bash
# The command line: help for every command and plugin family, errors that name what is wrong.
set -euo pipefail
FP=${FLEETPIPE:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$FP" help >"$tmp/help"
cmds=$(awk '/^commands:/{on=1; next} on && NF==0 {exit} on {print $1}' "$tmp/help")
[[ $(wc -w <<<"$cmds") -ge 5 ]] || fail "help lists too few commands: $cmds"
for c in $cmds; do
  "$FP" "$c" --help >"$tmp/a" || fail "$c --help exited non-zero"
  "$FP" help "$c" >"$tmp/b" || fail "help $c exited non-zero"
  cmp -s "$tmp/a" "$tmp/b" || fail "$c --help and help $c differ"
  grep -q "^fleetpipe $c — " "$tmp/a" || fail "$c help has no title"
  grep -q -- "--help" "$tmp/a" || fail "$c help lists no options"
  set +e
  "$FP" "$c" --no-such-flag 2>"$tmp/err" >/dev/null
  rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "$c: unknown flag exited $rc, not 2"
  grep -q "unknown flag '--no-such-flag'" "$tmp/err" || fail "$c: error does not name the flag"
done
# Into files, not `| grep -q`: grep quits at the first match, and under pipefail the writer's
# SIGPIPE then fails the check whenever the help is longer than what grep had read.
"$FP" help transforms >"$tmp/ht" && grep -q "SplitArrayField" "$tmp/ht" || fail "help transforms"
"$FP" help connectors >"$tmp/hc" && grep -q "store.url" "$tmp/hc" || fail "help connectors"
grep -q "aws.dynamodb.table" "$tmp/hc" || fail "help connectors lacks the dynamodb sink"
set +e
"$FP" frobnicate 2>"$tmp/err"; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "unknown command"
# A --config file carries the same keys as the flags; unknown keys are named.
echo '{"vehicles": 2, "duration": "3m", "speedup": "max", "start": "2026-01-05T00:00:00Z"}' >"$tmp/sim.json"
flags=(--vehicles 2 --duration 3m --speedup max --start 2026-01-05T00:00:00Z)
"$FP" sim --config "$tmp/sim.json" >"$tmp/c1" 2>/dev/null
"$FP" sim "${flags[@]}" >"$tmp/f1" 2>/dev/null
[[ -s $tmp/c1 ]] && cmp -s "$tmp/c1" "$tmp/f1" || fail "--config keys must act like the flags"
"$FP" sim --config "$tmp/sim.json" --vehicles 3 >"$tmp/c2" 2>/dev/null
"$FP" sim "${flags[@]}" --vehicles 3 >"$tmp/f2" 2>/dev/null
[[ $(wc -l <"$tmp/c2") -gt $(wc -l <"$tmp/c1") ]] && cmp -s "$tmp/c2" "$tmp/f2" ||
  fail "flags must override --config"
echo '{"vehicels": 2}' >"$tmp/bad.json"
set +e
"$FP" sim --config "$tmp/bad.json" 2>"$tmp/err"; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "unknown key 'vehicels'" "$tmp/err" || fail "unknown config key not named"
# Help texts say what the commands do (issue 12 papercuts).
"$FP" help lake watch >"$tmp/hw"
grep -q "worker stops with exit 2" "$tmp/hw" || fail "help lake watch: another store is not exit 2"
for c in lake dynamodb; do
  "$FP" help $c >"$tmp/hp"
  grep -q "options above" "$tmp/hp" && fail "help $c: --config 'options above' with no options"
done
"$FP" help status >"$tmp/hs" && grep -q "^usage:.*--interval" "$tmp/hs" || fail "status usage omits --interval"
"$FP" help transform >"$tmp/htr" && grep -q -- "--timestamp MS\] \[--stats\]" "$tmp/htr" ||
  fail "transform usage omits --timestamp/--stats"
"$FP" help broker >"$tmp/hb" && grep -q "320 MiB per fms.\* topic" "$tmp/hb" && grep -q -- "--bootstrap-file" "$tmp/hb" ||
  fail "broker help does not say how much it holds"
expect2() { # expect2 'text' cmd...: exit 2 and stderr has text
  local want=$1 rc
  shift
  set +e
  "$FP" "$@" >/dev/null 2>"$tmp/e2"
  rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "$*: exit $rc, not 2"
  grep -qF -- "$want" "$tmp/e2" || fail "$*: stderr lacks '$want': $(cat "$tmp/e2")"
}
expect2 "500 ms is outside 1000.." sim --duration 500
expect2 "unknown subcommand 'lake foo'" help lake foo
# Only an absent --bootstrap-servers means "embedded": empty or malformed is a config error.
echo '{"name":"c","connector.class":"objstore","topics":"fms.vehicle","store.url":"file:///nonexistent"}' >"$tmp/c.json"
for v in "" "localhost" "a:1,b:x" "host:0"; do
  expect2 "--bootstrap-servers" connect --bootstrap-servers "$v" --connector "$tmp/c.json" --rest-listen ""
  expect2 "--bootstrap-servers" bridge --bootstrap-servers "$v"
  expect2 "--bootstrap-servers" lake watch --from "$tmp/raw" --to "$tmp/lake" --bootstrap-servers "$v"
  expect2 "--target kafka://" sim --target "kafka://$v" --duration 10s
done
grep -q "is not host:port" "$tmp/e2" || fail "malformed value not explained: $(cat "$tmp/e2")"
[[ ! -e $tmp/raw && ! -e $tmp/lake ]] || fail "a rejected lake watch created its paths"
echo "cli: ok"
