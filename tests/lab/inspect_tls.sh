#!/usr/bin/env bash
# The debug port with mutual TLS on a non-loopback address: roamd listens on 192.0.2.1:5380 (TEST-NET, on a veth
# link inside the lab's network namespace) with certificates made by tests/tls/make_certs.sh. roamctl answers with
# the good client certificate (IP SAN and DNS name), exits 4 naming the side that refused for every bad certificate
# (other CA, expired, not in tls_client_names, none at all, a server certificate for another name or CA), plain
# text gets nothing back, and a flood of 200 half-open handshakes stays within the connection cap and bounded
# memory while DNS keeps answering.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need openssl
[ -x "${ROAMCTL:-}" ] || lab_skip "ROAMCTL (the roamctl binary) is not set"

DEBUG_IP=192.0.2.1 TCP=192.0.2.1:5380
ip link add lab-debug type veth peer name lab-debug-peer && ip addr add "$DEBUG_IP/24" dev lab-debug &&
  ip link set lab-debug-peer up && ip link set lab-debug up || lab_abort "cannot add a veth link with $DEBUG_IP"
CERTS=$LAB_DIR/certs
"$LAB_HOME/../tls/make_certs.sh" "$CERTS" || lab_abort "cannot make the test certificates"

lab_private_etc
ROAMD_SYSTEM_TOML=$(printf 'mode = "none"\nstate_dir = "%s"' "$STATE_DIR")
ROAMD_DEBUG_TOML="tcp = \"$TCP\"
tls_cert = \"$CERTS/server.pem\"
tls_key = \"$CERTS/server.key\"
tls_client_ca = \"$CERTS/ca.pem\"
tls_client_names = [\"operator\"]"
start_split_lab
wait_until 5000 sh -c "ss -Hlnt 'src $TCP' | grep -q ." || lab_abort "nothing listens on $TCP" roamd

# ctl ARGS...: roamctl to $TCP; sets OUT (stdout and stderr) and RC.
ctl() {
  LAST_CMD="roamctl --tcp $TCP $*"
  OUT=$("$ROAMCTL" --tcp "$TCP" "$@" 2>&1)
  RC=$?
  ANS_TEXT=$OUT
}
# as NAME CA ARGS...: ctl over mutual TLS with NAME.pem/.key as roamctl's certificate, trusting CA.pem.
as() {
  local name=$1 ca=$2; shift 2
  ctl --tls-cert "$CERTS/$name.pem" --tls-key "$CERTS/$name.key" --tls-ca "$CERTS/$ca.pem" "$@"
}
abuse() { "$LAB_PYTHON" "$LAB_HOME/inspect_abuse.py" "$@"; }

section "the good client"
expect "roamd logs the TLS listener" \
  "$(grep -c "inspection port on .* and $TCP (mutual TLS, clients of $CERTS/ca.pem)" "$LAB_DIR/roamd.out")" = 1
expect "no token file with mutual TLS" "$(test -e "$STATE_DIR/debug.token" && echo written || echo none)" = none
as client ca status
expect "status: exit 0" "$RC" = 0
expect "status: the agent's state" "$OUT" '~' "state: +(starting|not protecting|protected)"
as client ca routes --tls-name roamd.test
expect "routes, the server checked by its DNS name: exit 0" "$RC $OUT" '~' "^0 .*corp.test"

section "refused: exit 4, saying which side refused and why"
as stranger ca status
expect "a client certificate from another CA" "$RC $OUT" '~' "^4 .*agent refused roamctl's certificate.*not signed by"
as expired ca status
expect "an expired client certificate" "$RC $OUT" '~' "^4 .*agent refused roamctl's certificate.*expired"
as intruder ca status
expect "a client name not in tls_client_names" "$RC $OUT" '~' "^4 .*agent refused.*tls_client_names"
out=$(abuse tls_nocert "$TCP" "$CERTS/ca.pem")
LAST_CMD="inspect_abuse.py tls_nocert" ANS_TEXT=$out
expect "no client certificate at all" "$out" '~' "refused: .*(certificate required|CERTIFICATE_REQUIRED)"
as client other-ca status
expect "a server certificate from another CA" "$RC $OUT" '~' "^4 .*roamctl refused the agent's certificate"
as client ca status --tls-name 192.0.2.9
expect "a server certificate without the expected IP" "$RC $OUT" '~' "^4 .*roamctl refused the agent's certificate.*mismatch"
ctl --tls-cert "$CERTS/client.pem" --tls-key "$CERTS/missing.key" --tls-ca "$CERTS/ca.pem" status
expect "a missing key: exit 4 naming the option" "$RC $OUT" '~' "^4 .*--tls-key .*missing.key: cannot read"
ctl --tls-cert "$CERTS/client.pem" --tls-key "$CERTS/intruder.key" --tls-ca "$CERTS/ca.pem" status
expect "a key that is not the certificate's: exit 4" "$RC $OUT" '~' "^4 .*--tls-key .*does not belong"
ctl --tls-cert "$CERTS/client.pem" status
expect "--tls-cert without --tls-key and --tls-ca: usage (2)" "$RC" = 2
out=$(abuse garbage "$TCP" 5)
LAST_CMD="inspect_abuse.py garbage $TCP 5" ANS_TEXT=$out
# Random bytes that happen to look like a TLS record header get a TLS alert back from OpenSSL: that is not clear text.
expect "plain-text garbage: closed, nothing sent back in clear" "$(grep -cE ': (nothing|a TLS alert) \(' <<<"$out")" = 5
as client ca status
expect "the good client is still answered after the refusals" "$RC" = 0
expect "... and its status counts the TLS refusals" "$OUT" '~' \
  "inspection: [0-9]+ connection\(s\), [0-9]+ request\(s\) answered; refused ([0-9]+ [a-z ]+, )*([4-9]|[1-9][0-9]+) failed TLS"

section "200 half-open handshakes at once (nothing, or half a ClientHello), DNS meanwhile"
ask warmup.example A
RSS0=$(roamd_kib VmRSS) HWM0=$(roamd_kib VmHWM)
echo "baseline: VmRSS ${RSS0} KiB, VmHWM ${HWM0} KiB"
LOG0=$(grep -c 'TLS refused' "$LAB_DIR/roamd.out")
abuse flood "$TCP" 200 >"$LAB_DIR/flood.out" 2>&1 &
FLOOD=$!
dns_and_memory_during during-flood  # ~6 s: the flood's whole life
wait "$FLOOD"
LAST_CMD="inspect_abuse.py flood $TCP 200" ANS_TEXT=$(sort -t'(' -k2 -r "$LAB_DIR/flood.out" | head -3)
expect "all 200 closed by roamd" "$(grep -c ': closed (' "$LAB_DIR/flood.out")" = 200
expect "at most 16 held until the 5 s handshake bound" "$(grep -c ': closed ([4-9]\.' "$LAB_DIR/flood.out")" -le 16
expect "none lasted beyond 7 s" "$(grep -c ': closed \(([7-9]\|[1-9][0-9]\)\.' "$LAB_DIR/flood.out")" = 0
expect "DNS answered every query meanwhile" "$DNS_OK/$DNS_N" = "$DNS_N/$DNS_N"
RSS1=$(roamd_kib VmRSS) HWM1=$(roamd_kib VmHWM)
echo "after: VmRSS ${RSS1} KiB, VmHWM ${HWM1} KiB, peak RSS sampled during the flood ${PEAK} KiB"
echo "growth of the high-water mark: $((HWM1 - HWM0)) KiB over 200 half-open handshakes"
expect "VmHWM grew by less than 8 MiB" "$((HWM1 - HWM0))" -lt 8192
LOGS=$(($(grep -c 'TLS refused' "$LAB_DIR/roamd.out") - LOG0))
expect "TLS refusals logged rate-limited (a few lines, not 200)" "$LOGS" -le 3
as client ca status
expect "roamctl status answers after the flood" "$RC" = 0
expect_roamd_serving "after the flood"

lab_finish
