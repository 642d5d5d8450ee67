#!/usr/bin/env bash
# The cloud registrar against tools/cloudsim over HTTPS (test CA): roamd registers with the organisation file, its
# cloud queries carry the device id the cloud gave, the policy's resolvers replace the configured (dead) one, the id
# and policy are kept in state_dir (0600) and survive a restart without a new registration, a policy change arrives
# at the sync after a link-set change, a cloud that forgot the device gets a new registration, heartbeats arrive,
# and a cloud that is down, refuses the organisation, sends garbage, or has a certificate of another CA never stops
# DNS (the kept policy stays in force). Registration also works through a real HTTP CONNECT proxy (tinyproxy, with
# Basic credentials) when nftables closes the direct way, and the proxy's 407 is reported.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need curl jq nft tinyproxy
[ -n "${CLOUDSIM:-}" ] && [ -x "$CLOUDSIM" ] || lab_abort "set CLOUDSIM to the cloudsim binary (ctest does)"
[ -n "${ROAMCTL:-}" ] && [ -x "$ROAMCTL" ] || lab_abort "set ROAMCTL to the roamctl binary (ctest does)"

LISTEN=127.0.0.1:8443
URL=https://$LISTEN
CERTS=$LAB_DIR/certs
lab_private_etc   # sets STATE_DIR (on the lab's tmpfs)
ROAMD_SYSTEM_TOML=$(printf 'mode = "none"\nstate_dir = "%s"' "$STATE_DIR")
ORG_ID=2000001 FINGERPRINT=0f1e2d3c4b5a69788796a5b4c3d2e1f0
printf '{\r\n    "organizationId" : "%s",\r\n    "fingerprint" : "%s",\r\n    "userId" : "3000001"\r\n}\r\n' \
  "$ORG_ID" "$FINGERPRINT" >"$LAB_DIR/org.json"

"$CLOUDSIM" --listen "$LISTEN" --make-certs "$CERTS" --name cloud.roamd.test >/dev/null 2>&1 ||
  lab_abort "cloudsim --make-certs failed"
"$CLOUDSIM" --listen "$LISTEN" --make-certs "$LAB_DIR/other" >/dev/null 2>&1

# write_policy REVISION RESOLVER [DOMAIN] [FAIL_MODE]: the policy file (plain resolver at RESOLVER, one internal domain).
write_policy() {
  cat >"$LAB_DIR/policy.json.new" <<EOF
{"revision": "$1", "internalDomains": ["${3:-corp.example}"],
 "resolvers": [{"address": "$2:53", "transport": "PLAIN"}],
 "transportMode": "ENCRYPTED_WITH_FALLBACK", "failMode": "${4:-FAIL_OPEN}", "syncIntervalS": 3600, "syncJitterS": 0}
EOF
  mv "$LAB_DIR/policy.json.new" "$LAB_DIR/policy.json"
}

start_cloud() {
  lab_stop cloud
  rm -f "$LAB_DIR/cloud.out"
  lab_start cloud "$CLOUDSIM" --listen "$LISTEN" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
    --org "$LAB_DIR/org.json" --policy "$LAB_DIR/policy.json" --state "$LAB_DIR/devices.json" "$@"
  wait_until 10000 grep -q "^cloudsim listening on $URL\$" "$LAB_DIR/cloud.out" ||
    lab_abort "cloudsim did not say it listens on $URL" cloud
}

# cloud_roamd [API_CA] [API_URL] [API_TIMEOUT_MS] [API_PROXY]: roamd registering with cloudsim; its configured cloud resolver is dead, so answers mean the
# policy's resolver is in force.
cloud_roamd() {
  lab_stop roamd
  : >"$LAB_DIR/roamd.out"
  start_roamd <<EOF2
[cloud]
resolvers = ["$DEAD_IP:53"]
org_file = "$LAB_DIR/org.json"
api = "${2:-$URL}"
api_ca_file = "${1:-$CERTS/ca.pem}"
heartbeat_interval_s = 5
api_timeout_ms = ${3:-10000}
api_proxy = "${4:-}"
[upstream]
timeout_ms = 300
EOF2
}

ctl() {
  LAST_CMD="roamctl $*"
  OUT=$("$ROAMCTL" --socket "$LAB_DIR/debug.sock" "$@" 2>&1)
  ANS_TEXT=$OUT
}
cloud_field() { ctl status --json; jq -r "(.status // .).cloud.$1 // empty" <<<"$OUT"; }
registered() { [ "$(cloud_field state)" = registered ] && [ -n "$(cloud_field policy_revision)" ]; }
revision_is() { [ "$(cloud_field policy_revision)" = "$1" ]; }
device_count() { jq '.devices | length' "$LAB_DIR/devices.json" 2>/dev/null || echo 0; }
# link_change: a new veth pair (the adapter monitor sees the link set change; the registrar syncs soon after).
LINKS=0
link_change() {
  LINKS=$((LINKS + 1))
  ip link add "lc$LINKS" type veth peer name "lc${LINKS}p" && ip link set "lc$LINKS" up
}

start_upstream cloud_dns "$CLOUD_IP" "$CLOUD_PROFILE"
write_policy r1 "$CLOUD_IP"
start_cloud

section "registration"
cloud_roamd
wait_until 10000 registered
expect "roamd registered and synced the policy" "$(cloud_field state) $(cloud_field policy_revision)" = "registered r1"
ID=$(cloud_field device_id)
expect "the device id is 16 hex digits" "$ID" '~' '^[0-9a-f]{16}$'
expect "cloudsim knows one device, with roamd's host name" "$(device_count) $(jq -r '.devices[0].hostname' "$LAB_DIR/devices.json")" = "1 $(hostname)"
ask echo.registered.example TXT
expect "cloud queries carry the registered id (the policy's resolver answers; the configured one is dead)" \
  "$ANS_STATUS $(echo_field identity)" = "NOERROR 4f70656e444e53$ID"
ask www.example A
expect "an A answer through the policy's resolver, tagged" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
expect "the registration is kept, private" "$(stat -c %a "$STATE_DIR/cloud.pb" 2>&1)" = 600
ctl status
expect "roamctl status shows it" "$OUT" '~' "registration: registered, device $ID"
expect "... and the policy's resolvers and domain count" "$OUT" '~' "policy: +r1, .*1 internal domain\(s\); resolvers $CLOUD_IP:53"

section "heartbeats"
beats() { curl -s --cacert "$CERTS/ca.pem" "$URL/v1/debug/heartbeats" | jq "[.heartbeats[] | select(.deviceId == \"$ID\")] | length"; }
wait_until 12000 sh -c "[ \"\$(curl -s --cacert '$CERTS/ca.pem' '$URL/v1/debug/heartbeats' | jq '.heartbeats | length')\" -ge 1 ]"
expect "a heartbeat arrived within 12 s (interval 5 s)" "$(beats)" -ge 1
HB=$(curl -s --cacert "$CERTS/ca.pem" "$URL/v1/debug/heartbeats" | jq -c '.heartbeats[-1]')
expect "it carries the policy revision and counters" "$(jq -r '.policyRevision' <<<"$HB") $(jq -r '.counters.queries' <<<"$HB")" '~' "^r1 [0-9]+$"
expect "... and the protection state" "$(jq -r '.state' <<<"$HB")" != ""

section "restart keeps the id and the policy"
lab_stop cloud   # the cloud is down while roamd restarts: the kept policy must be in force on its own
cloud_roamd
ask echo.kept.example TXT
expect "the kept policy's resolver answers at once, with the kept id" "$ANS_STATUS $(echo_field identity)" = \
  "NOERROR 4f70656e444e53$ID"
wait_until 5000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'problem:'"
ctl status
expect "the unreachable cloud is reported, DNS unaffected" "$OUT" '~' "problem: +policy sync: connecting to 127.0.0.1:8443"
expect "roamd logs that the policy in force stays" "$(roamd_log_has 'the policy in force stays' && echo yes)" = yes
start_cloud
link_change
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status --json | jq -e '((.status // .).cloud.syncs // \"0\" | tonumber) >= 1' >/dev/null"
expect "after a link change the sync succeeds (304: same revision)" "$(cloud_field syncs) $(cloud_field policy_revision)" = "1 r1"
expect "no second registration at the cloud" "$(device_count)" = 1

section "a policy change arrives at the next sync"
start_upstream cloud2_dns 127.0.10.2 "$CLOUD_PROFILE"
write_policy r2 127.0.10.2 corp2.example
kill -HUP "${LAB_PIDS[cloud]}"
link_change
wait_until 10000 revision_is r2
expect "policy r2 in force after the link change" "$(cloud_field policy_revision)" = r2
ask echo.r2.example TXT
expect "queries go to r2's resolver" "$(queries_for echo.r2.example cloud2_dns) $(queries_for echo.r2.example cloud_dns)" = "1 0"

section "SIGHUP syncs at once"
write_policy r3 127.0.10.2 corp3.example FAIL_CLOSED
kill -HUP "${LAB_PIDS[cloud]}"
kill -HUP "${LAB_PIDS[roamd]}"
wait_until 5000 revision_is r3
expect "policy r3 in force after SIGHUP, no link change" "$(cloud_field policy_revision)" = r3
expect "roamd said why it synced" "$(roamd_log_has 'SIGHUP: syncing the cloud policy now' && echo yes)" = yes
ctl status
expect "the policy's fail mode reached the network-state actor" "$OUT" '~' "network: .*; fail-closed;"

section "the cloud forgot the device"
start_cloud --forget-devices
link_change
wait_until 10000 sh -c "[ \"\$('$ROAMCTL' --socket '$LAB_DIR/debug.sock' status --json | jq -r '(.status // .).cloud.registrations // 0')\" -ge 1 ]"
ID2=$(cloud_field device_id)
expect "roamd registered again (404 unknown_device)" "$(cloud_field registrations)" -ge 1
expect "... and got another id" "$ID2" '~' '^[0-9a-f]{16}$'
expect "... not the old one" "$ID2" != "$ID"
expect "logged with the reason" "$(roamd_log_has 'does not know device .*unknown_device.*registering again' && echo yes)" = yes
start_cloud
link_change
wait_until 15000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'registration: registered'"

section "bad clouds never stop DNS"
start_cloud --garbage
link_change
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -Eq 'problem: +policy refused'"
ctl status
expect "a garbage policy is refused" "$OUT" '~' 'problem: +policy refused: '
expect "... and the last good one stays in force" "$OUT" '~' 'policy: +r3,'
expect_roamd_serving "garbage from the cloud"
start_cloud --oversized
link_change
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'larger than'"
ctl status
expect "a 10 MiB answer is cut off at the cap" "$OUT" '~' "answer is larger than 262144 bytes"
expect_roamd_serving "an oversized answer"
start_cloud --status 503
link_change
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'HTTP 503'"
ctl status
expect "503 is a failure with backoff" "$OUT" '~' "HTTP 503 \(injected"
expect_roamd_serving "503 from the cloud"

section "another CA"
start_cloud
rm -f "$STATE_DIR/cloud.pb"
cloud_roamd "$LAB_DIR/other/ca.pem"
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'certificate refused'"
ctl status
expect "a certificate of another CA is refused with the reason" "$OUT" '~' \
  "certificate refused: unable to get local issuer certificate"
expect "unregistered" "$(cloud_field state)" = unregistered
expect "roamd runs on (its configured resolvers)" "$(alive roamd && echo running)" = running

section "another name"
rm -f "$STATE_DIR/cloud.pb"
cloud_roamd "$CERTS/ca.pem" "https://localhost:8443"
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'certificate refused'"
ctl status
expect "a certificate without the URL's host name is refused" "$OUT" '~' "certificate refused: hostname mismatch"

section "a cloud that hangs"
start_cloud --delay-ms 5000
cloud_roamd "$CERTS/ca.pem" "$URL" 1000
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'timed out'"
ctl status
expect "an exchange is cut at api_timeout_ms" "$OUT" '~' "registration: .*timed out after 1000 ms"
expect "roamd runs on while the cloud hangs" "$(alive roamd && echo running)" = running
start_cloud

section "through an HTTP proxy (CONNECT)"
# Only the proxy (tinyproxy, connecting from 127.0.0.9) may reach cloudsim: roamd's own connections to it are reset.
PROXY=127.0.0.9:3128
nft add table ip cloudproxy && nft add chain ip cloudproxy out '{ type filter hook output priority 0; }' &&
  nft add rule ip cloudproxy out ip daddr 127.0.0.1 tcp dport 8443 ip saddr != 127.0.0.9 reject with tcp reset ||
  lab_abort "cannot install the nftables rule that closes the direct way to cloudsim"
cat >"$LAB_DIR/tinyproxy.conf" <<EOF2
Listen 127.0.0.9
Port 3128
Bind 127.0.0.9
Timeout 30
MaxClients 20
LogFile "$LAB_DIR/proxy.log"
LogLevel Connect
BasicAuth roamd s3cret
EOF2
lab_start proxy tinyproxy -d -c "$LAB_DIR/tinyproxy.conf"
proxy_listening() { [ -n "$(ss -Hlnt "src $PROXY")" ]; }
wait_until 10000 proxy_listening || lab_abort "tinyproxy did not listen on $PROXY" proxy
rm -f "$STATE_DIR/cloud.pb"
cloud_roamd "$CERTS/ca.pem" "$URL" 10000
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'Connection refused'"
ctl status
expect "control: without the proxy the cloud cannot be reached" "$OUT" '~' "connecting to 127.0.0.1:8443: Connection refused"
cloud_roamd "$CERTS/ca.pem" "$URL" 10000 "http://roamd:s3cret@$PROXY"
wait_until 10000 registered
expect "registered through the proxy" "$(cloud_field state)" = registered
chmod o+r "$LAB_DIR/roamd.toml"
expect "a proxy password in a file every user may read is warned about" \
  "$("$ROAMD" --config "$LAB_DIR/roamd.toml" --check-config)" '~' \
  "warning: cloud.api_proxy carries a password and .*roamd.toml is readable by every user \(mode 0[0-7]*[4-7]\)"
chmod o-r "$LAB_DIR/roamd.toml"
expect "... and not once it is not" "$("$ROAMD" --config "$LAB_DIR/roamd.toml" --check-config)" '!~' "warning"
expect "tinyproxy tunnelled it (it lets in only the right credentials)" \
  "$(grep -c 'Established connection to host "127.0.0.1"' "$LAB_DIR/proxy.log")" -ge 1
expect "... asked as CONNECT HOST:PORT" "$(grep -c 'Request (file descriptor [0-9]*): CONNECT 127.0.0.1:8443 HTTP/1.1' "$LAB_DIR/proxy.log")" -ge 1
ask echo.proxied.example TXT
expect "cloud queries carry the id registered through the proxy" "$ANS_STATUS $(echo_field identity)" = \
  "NOERROR 4f70656e444e53$(cloud_field device_id)"
# Restarted with the wrong credentials: the sync is refused by the proxy, the kept policy stays in force.
cloud_roamd "$CERTS/ca.pem" "$URL" 10000 "http://roamd:wrong@$PROXY"
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status | grep -q 'refused the tunnel'"
ctl status
# tinyproxy 1.11 answers 407 without credentials but 401 to wrong ones.
expect "wrong credentials: the proxy's refusal, named" "$OUT" '~' \
  "the proxy 127.0.0.9:3128 refused the tunnel to 127.0.0.1:8443: HTTP (401 Unauthorized|407 Proxy Authentication Required)"
expect_roamd_serving "a proxy that refuses; the kept policy"
nft delete table ip cloudproxy
lab_stop proxy

section "another organisation"
printf '{"organizationId": "2000002", "fingerprint": "%s"}' "$FINGERPRINT" >"$LAB_DIR/org.json"
cloud_roamd
wait_until 10000 sh -c "'$ROAMCTL' --socket '$LAB_DIR/debug.sock' status --json | jq -e '(.status // .).cloud.state == \"refused\"' >/dev/null"
ctl status
expect "403 wrong_organization: refused, with the hint" "$OUT" '~' "wrong_organization.*check the organisation file"

lab_finish
