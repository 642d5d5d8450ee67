#!/usr/bin/env bash
# DNS over HTTPS to the cloud: a real dnsdist DoH frontend (addDOHLocal on 127.0.10.6:443, HTTP/2 by h2o,
# certificates from tests/tls/make_certs.sh, made here) in front of the cloud upstream. roamd answers through it with
# the identity option kept, many queries on one persistent connection that carries the socket mark; a pin of the
# right key is accepted; the wrong CA, the wrong name and a wrong pin are refused with the reason logged (SERVFAIL,
# or the next resolver answers); a path the frontend does not serve (HTTP 404) fails over with its reason.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need openssl ss curl

DOH_IP=127.0.10.6
CERTS="$LAB_DIR/certs"
"$LAB_HOME/../tls/make_certs.sh" "$CERTS" >/dev/null 2>&1 || lab_abort "make_certs.sh failed"
PIN=$(cat "$CERTS/server.pin")

start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
cat >"$LAB_DIR/doh.lua" <<EOF2
setSecurityPollSuffix("")
addDOHLocal("$DOH_IP:443", "$CERTS/server.pem", "$CERTS/server.key", "/dns-query")
newServer({address = "$CLOUD_IP:53", checkInterval = 3600})
EOF2
lab_start doh dnsdist --supervised --disable-syslog -C "$LAB_DIR/doh.lua"
doh_listening() { [ -n "$(ss -Hlnt "src $DOH_IP:443")" ]; }
wait_until 10000 doh_listening || lab_abort "dnsdist did not listen on $DOH_IP:443 (DoH)" doh

# doh_roamd RESOLVERS [CA_FILE]: roamd with these cloud resolvers (a TOML array body) and ca_file.
doh_roamd() {
  lab_stop roamd
  : >"$LAB_DIR/roamd.out"
  start_roamd <<EOF2
[cloud]
resolvers = [$1]
device_id = "$DEVICE_ID"
ca_file = "${2:-$CERTS/ca.pem}"
[upstream]
timeout_ms = 500
EOF2
}
established() { ss -Htn state established "dst $DOH_IP:443" | wc -l; }

section "control: the DoH frontend speaks HTTP/2 with the test CA"
out=$(echo | timeout 5 openssl s_client -connect "$DOH_IP:443" -servername roamd.test -verify_hostname roamd.test \
  -alpn h2 -CAfile "$CERTS/ca.pem" -verify_return_error 2>&1)
expect "openssl s_client verifies dnsdist's certificate" "$out" '~' "Verify return code: 0 \(ok\)"
expect "... and dnsdist selects ALPN h2" "$out" '~' "ALPN protocol: h2"

section "roamd through DoH"
doh_roamd "\"https://$DOH_IP:443/dns-query#roamd.test\""
ask www.example A
expect "an answer through the DoH frontend, identity kept" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
expect "the cloud saw it (forwarded by dnsdist)" "$(queries_for www.example cloud)" -ge 1
for i in $(seq 1 20); do ask "n$i.example" A; done
expect "20 more answers, identity kept" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
expect "the cloud saw the last of them" "$(queries_for n20.example cloud)" -ge 1
expect "over one persistent connection" "$(established)" = 1
expect "which carries roamd's socket mark" "$(ss -Htne state established "dst $DOH_IP:443")" '~' "fwmark:0x524f4d44"
# Many at once: 30 queries in flight together still share the one connection (HTTP/2 streams).
burst=()
for i in $(seq 1 30); do ask "burst$i.example" A & burst+=($!); done
wait "${burst[@]}"
expect "30 concurrent queries reached the cloud" "$(grep -ciF ' burst' "$LAB_DIR/cloud.queries")" -ge 30
expect "... still over one connection" "$(established)" = 1

section "a pin, the default port and path"
doh_roamd "\"https://$DOH_IP#roamd.test;pin-sha256=$PIN\""
ask pinned.example A
expect "the right pin (port 443, /dns-query by default): answered" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
doh_roamd "\"https://$DOH_IP#roamd.test;pin-sha256=$(printf x%.0s $(seq 32) | openssl base64 -A)\""
ask badpin.example A
expect "a wrong pin: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... logged with the reason" "$(roamd_log_has 'DoH .*no key of its chain matches the pin' && echo yes)" = yes

section "refused certificates"
doh_roamd "\"https://$DOH_IP#roamd.test\"" "$CERTS/other-ca.pem"
ask wrongca.example A
expect "another CA: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... logged with the reason" "$(roamd_log_has 'DoH .*certificate refused: unable to get local issuer' && echo yes)" = yes
expect "... and nothing reached the cloud" "$(queries_for wrongca.example cloud)" = 0
doh_roamd "\"https://$DOH_IP#wrong.test\""
ask wrongname.example A
expect "another name: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... logged with the reason" "$(roamd_log_has 'DoH .*certificate refused: hostname mismatch' && echo yes)" = yes
doh_roamd "\"https://$DOH_IP#wrong.test\", \"$CLOUD_IP:53\""
ask failover.example A
expect "another name, then a plain resolver: the plain one answers" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"

section "an HTTP answer that is not a DNS message"
doh_roamd "\"https://$DOH_IP/no-such-path#roamd.test\", \"$CLOUD_IP:53\""
ask wrongpath.example A
expect "a path dnsdist does not serve, then a plain resolver: the plain one answers" \
  "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
expect "... the DoH attempt failed with the status logged" "$(roamd_log_has 'DoH .*HTTP status [0-9]+ \(not 200\)' && echo yes)" = yes

lab_finish
