#!/usr/bin/env bash
# DNS over TLS to the cloud: a real dnsdist DoT frontend (addTLSLocal on 127.0.10.5:853, certificates from
# tests/tls/make_certs.sh, made here) in front of the cloud upstream. roamd answers through it on one persistent
# connection that carries the socket mark; a pin of the right key is accepted; the wrong CA, the wrong name and a wrong
# pin are refused (SERVFAIL, or the next resolver answers), and a missing ca_file stops the start naming the key.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need openssl ss

DOT_IP=127.0.10.5
CERTS="$LAB_DIR/certs"
"$LAB_HOME/../tls/make_certs.sh" "$CERTS" >/dev/null 2>&1 || lab_abort "make_certs.sh failed"
PIN=$(cat "$CERTS/server.pin")

start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
cat >"$LAB_DIR/dot.lua" <<EOF2
setSecurityPollSuffix("")
addTLSLocal("$DOT_IP:853", "$CERTS/server.pem", "$CERTS/server.key", {maxInFlight = 100})
newServer({address = "$CLOUD_IP:53", checkInterval = 3600})
EOF2
lab_start dot dnsdist --supervised --disable-syslog -C "$LAB_DIR/dot.lua"
dot_listening() { [ -n "$(ss -Hlnt "src $DOT_IP:853")" ]; }
wait_until 10000 dot_listening || lab_abort "dnsdist did not listen on $DOT_IP:853 (DoT)" dot

# dot_roamd RESOLVERS [CA_FILE]: roamd with these cloud resolvers (a TOML array body) and ca_file.
dot_roamd() {
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
established() { ss -Htn state established "dst $DOT_IP:853" | wc -l; }

section "control: the DoT frontend answers with the test CA"
out=$(echo | timeout 5 openssl s_client -connect "$DOT_IP:853" -servername roamd.test -verify_hostname roamd.test \
  -CAfile "$CERTS/ca.pem" -verify_return_error 2>&1)
expect "openssl s_client verifies dnsdist's certificate" "$out" '~' "Verify return code: 0 \(ok\)"

section "roamd through DoT"
dot_roamd "\"tls://$DOT_IP:853#roamd.test\""
ask www.example A
expect "an answer through the DoT frontend, identity kept" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
expect "the cloud saw it (forwarded by dnsdist)" "$(queries_for www.example cloud)" -ge 1
for i in $(seq 1 20); do ask "n$i.example" A; done
expect "20 more answers" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
expect "over one persistent connection" "$(established)" = 1
expect "which carries roamd's socket mark" "$(ss -Htne state established "dst $DOT_IP:853")" '~' "fwmark:0x524f4d44"

section "NSD 4.6's own DoT service (it reads one query per TLS record)"
# NSD answers the first query of a TLS record and leaves the rest unread until more bytes come: queries sealed
# together would time out. roamd seals each query in a record of its own.
NSD_DOT_IP=127.0.10.6
printf '$ORIGIN example.\n$TTL 300\n@ SOA ns hm 1 3600 900 604800 300\n@ NS ns\nns A %s\n* A 192.0.2.66\n' \
  "$NSD_DOT_IP" >"$LAB_DIR/nsd-dot.zone"
nsd_tls="  ip-address: $NSD_DOT_IP@853
  tls-port: 853
  tls-service-key: \"$CERTS/server.key\"
  tls-service-pem: \"$CERTS/server.pem\""
start_nsd nsd-dot "$NSD_DOT_IP" example "$LAB_DIR/nsd-dot.zone" "$nsd_tls"
dot_roamd "\"tls://$NSD_DOT_IP#roamd.test\""
ask nsd0.example A
expect "NSD answers over DoT" "$ANS_STATUS $ANS_DATA" = "NOERROR 192.0.2.66"
# A restart ends roamd's connection: the burst's first query opens a new one, and the others wait for its
# handshake, then leave in one write.
lab_stop nsd-dot
start_nsd nsd-dot "$NSD_DOT_IP" example "$LAB_DIR/nsd-dot.zone" "$nsd_tls"
names=$(printf 'nsd%d.example ' $(seq 1 20))
LAST_CMD="dnsraw.py burst $ROAMD_IP $names"
ANS_TEXT=$(dnsraw burst "$ROAMD_IP" $names)
expect "20 UDP queries at once (forwarded together): all answered by NSD over DoT" \
  "$(grep -c ' NOERROR 192.0.2.66$' <<<"$ANS_TEXT")" = 20
expect "... on one TLS connection" "$(ss -Htn state established "dst $NSD_DOT_IP:853" | wc -l)" = 1

section "a pin"
dot_roamd "\"tls://$DOT_IP#roamd.test;pin-sha256=$PIN\""
ask pinned.example A
expect "the right pin (and the default port 853): answered" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
dot_roamd "\"tls://$DOT_IP#roamd.test;pin-sha256=$(printf x%.0s $(seq 32) | openssl base64 -A)\""
ask badpin.example A
expect "a wrong pin: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... logged with the reason" "$(roamd_log_has 'no key of its chain matches the pin' && echo yes)" = yes

section "refused certificates"
dot_roamd "\"tls://$DOT_IP:853#roamd.test\"" "$CERTS/other-ca.pem"
ask wrongca.example A
expect "another CA: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... logged with the reason" "$(roamd_log_has 'certificate refused: unable to get local issuer' && echo yes)" = yes
expect "... and nothing reached the cloud" "$(queries_for wrongca.example cloud)" = 0
dot_roamd "\"tls://$DOT_IP:853#wrong.test\""
ask wrongname.example A
expect "another name: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... logged with the reason" "$(roamd_log_has 'certificate refused: hostname mismatch' && echo yes)" = yes
dot_roamd "\"tls://$DOT_IP:853#wrong.test\", \"$CLOUD_IP:53\""
ask failover.example A
expect "another name, then a plain resolver: the plain one answers" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"

section "ca_file that cannot be read"
lab_stop roamd
write_roamd_config "$LAB_DIR/bad.toml" <<EOF2
[cloud]
resolvers = ["tls://$DOT_IP#roamd.test"]
ca_file = "$LAB_DIR/missing.pem"
EOF2
out=$(timeout 10 "$ROAMD" --config "$LAB_DIR/bad.toml" 2>&1); rc=$?
expect "roamd refuses to start" "$rc" != 0
expect "... naming the key and the reason" "$out" '~' "cloud.ca_file: cannot read $LAB_DIR/missing.pem: No such file"

lab_finish
