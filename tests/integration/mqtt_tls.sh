#!/usr/bin/env bash
# TLS with client certificates (config/mosquitto/mosquitto-tls.conf), following the openssl
# recipe of docs/ingest.md: a fleet CA, a server certificate for 127.0.0.1, one certificate
# per device (CN = device_id) and one for the bridge. The simulator (libmosquitto) and the
# bridge (fleetpipe's own MQTT client with OpenSSL) both connect over TLS; a client without a
# certificate and a bridge that does not trust the server's CA are refused.
source "$(dirname "$0")/lib/connect.bash"
source "$(dirname "$0")/lib/mqtt.bash"

pki=$tmp/pki
mkdir -p "$pki"
cd "$pki"
ssl() { openssl "$@" 2>>"$tmp/openssl.log" >/dev/null || fail "openssl $1 failed: $(tail -3 "$tmp/openssl.log")"; }
ssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=fleetpipe test CA" -keyout ca.key -out ca.crt
# cert NAME CN [SAN]: a key and a certificate signed by the CA.
cert() {
  ssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
  if [[ -n ${3:-} ]]; then printf 'subjectAltName=%s\n' "$3" >"$1.ext"; else : >"$1.ext"; fi
  ssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt"
}
cert server localhost "DNS:localhost,IP:127.0.0.1"
for d in dev-000001 dev-000002 dev-000003; do cert "$d" "$d"; done
cert bridge fleetpipe-bridge
ssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=other CA" -keyout other.key -out other.crt
chmod 644 ./*.key
cd - >/dev/null

start_broker 4
provision 3 # the password listener of mosquitto.conf stays as it is
start_mosquitto
TLS_PORT=$(free_port)
sed -e "s|^listener 8883|listener $TLS_PORT 127.0.0.1|" -e "s|/etc/mosquitto/fleetpipe/|$pki/|" \
  "$FP_SRC/config/mosquitto/mosquitto-tls.conf" >>"$tmp/mosquitto.conf"
kill -TERM "$MOSQUITTO_PID"; wait "$MOSQUITTO_PID" 2>/dev/null || true
mosquitto -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
pids+=($!)
tls_up() { (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; }
wait_for "mosquitto TLS listener" 10 tls_up
turl=mqtts://127.0.0.1:$TLS_PORT

# Refused: a TLS client without a certificate; a bridge that does not trust the server.
if mosquitto_pub -h 127.0.0.1 -p "$TLS_PORT" --cafile "$pki/ca.crt" -t fms/x/y/z -m x -q 1 2>/dev/null; then
  fail "a client without a certificate was accepted"
fi
rc=0
"$FP" bridge --mqtt "$turl" --bootstrap-servers "$BS" --mqtt-cafile "$pki/other.crt" \
  --mqtt-certfile "$pki/bridge.crt" --mqtt-keyfile "$pki/bridge.key" 2>"$tmp/untrusted.log" || rc=$?
[[ $rc -ne 0 ]] || fail "the bridge accepted a server its CA did not sign"
grep -qi "certificate\|verify" "$tmp/untrusted.log" || fail "no certificate error: $(cat "$tmp/untrusted.log")"

"$FP" bridge --mqtt "$turl" --bootstrap-servers "$BS" --client-id tls-bridge --mqtt-cafile "$pki/ca.crt" \
  --mqtt-certfile "$pki/bridge.crt" --mqtt-keyfile "$pki/bridge.key" --status-interval 1s \
  2>"$tmp/bridge.log" &
bp=$!
pids+=($bp)
up() { grep -q "connected to MQTT" "$tmp/bridge.log"; }
wait_for "TLS bridge" 20 up

"$FP" sim --vehicles 3 --duration 10m --speedup max --seed 9 --start 2026-03-04T00:00:00Z \
  --target "$turl" --cafile "$pki/ca.crt" --certfile "$pki/%s.crt" --keyfile "$pki/%s.key" \
  --status-format json >"$tmp/sim.status" 2>"$tmp/sim.log" || fail "sim over TLS: $(tail -5 "$tmp/sim.log")"
published=$(sim_published "$tmp/sim.status")
all() { (($(routed_count) >= published)); }
wait_for "$published records over TLS" 30 all
[[ $(routed_count) -eq $published ]] || fail "routed $(routed_count), published $published"
kill -TERM $bp
rc=0; wait $bp || rc=$?
[[ $rc -eq 0 ]] || fail "TLS bridge exited $rc"
echo "ok: $published messages over TLS with client certificates"
