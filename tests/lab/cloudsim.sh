#!/usr/bin/env bash
# tools/cloudsim, the reference cloud, with curl as the client (no roamd): --make-certs, registration, the policy
# with ETags (200, then 304 with If-None-Match; a changed file and SIGHUP give a new ETag), heartbeats, 403 for
# another organisation, 401 for a bad token, 404 for unknown devices, 413/431 for oversized requests, plain HTTP,
# another CA and another name refused by curl, the connection cap, registered devices kept across a restart, and
# every injected fault (--forget-devices, --status, --garbage, --oversized, --delay-ms).
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need curl openssl
[ -n "${CLOUDSIM:-}" ] && [ -x "$CLOUDSIM" ] || lab_abort "set CLOUDSIM to the cloudsim binary (ctest does)"

LISTEN=127.0.0.1:8443
URL=https://$LISTEN
CERTS=$LAB_DIR/certs
STATE=$LAB_DIR/devices.json
ORG_ID=2000001 FINGERPRINT=0f1e2d3c4b5a69788796a5b4c3d2e1f0

# Umbrella's OrgInfo.json as its deployment tool writes it (indented, CRLF).
printf '{\r\n    "organizationId" : "%s",\r\n    "fingerprint" : "%s",\r\n    "userId" : "3000001"\r\n}\r\n' \
  "$ORG_ID" "$FINGERPRINT" >"$LAB_DIR/org.json"

# write_policy REVISION: the policy file, written in place.
write_policy() {
  cat >"$LAB_DIR/policy.json" <<EOF
{"revision": "$1", "internalDomains": ["corp.example"],
 "resolvers": [{"address": "127.0.10.1:853", "transport": "DOT", "tlsName": "dns.cloud.test"},
               {"address": "127.0.10.1:53", "transport": "PLAIN"}],
 "transportMode": "ENCRYPTED_WITH_FALLBACK", "failMode": "FAIL_OPEN",
 "protectedProbe": {"name": "probe.cloud.test", "expectAddress": "192.0.2.53"},
 "syncIntervalS": 300, "syncJitterS": 30}
EOF
}

# start_cloud [OPTIONS...]: (re)starts cloudsim with the lab's files and waits for its "listening" line.
start_cloud() {
  lab_stop cloud
  rm -f "$LAB_DIR/cloud.out"  # lab_start truncates it only once the new process is on its way
  lab_start cloud "$CLOUDSIM" --listen "$LISTEN" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
    --org "$LAB_DIR/org.json" --policy "$LAB_DIR/policy.json" --state "$STATE" "$@"
  wait_until 10000 grep -q "^cloudsim listening on $URL\$" "$LAB_DIR/cloud.out" ||
    lab_abort "cloudsim did not say it listens on $URL" cloud
}

# api METHOD PATH [CURL-ARGS...]: one request, trusting only the lab's CA. Sets CODE (HTTP status, 000 for none),
# RC (curl's exit status), HEADERS, BODY, SIZE (bytes of body) and TIME_MS.
api() {
  local method=$1 path=$2
  shift 2
  api_at "$URL$path" -X "$method" --cacert "$CERTS/ca.pem" "$@"
}
api_at() {
  local url=$1 out
  shift
  LAST_CMD="curl $* $url"
  out=$(curl -sS --max-time 10 -D "$LAB_DIR/headers" -o "$LAB_DIR/body" \
    -w '%{http_code} %{size_download} %{time_total}' "$@" "$url" 2>"$LAB_DIR/curl.err")
  RC=$?
  read -r CODE SIZE TIME_MS <<<"$out"
  TIME_MS=$(awk -v t="${TIME_MS:-0}" 'BEGIN { printf "%d", t * 1000 }')
  HEADERS=$(tr -d '\r' <"$LAB_DIR/headers" 2>/dev/null)
  BODY=$(head -c 4000 "$LAB_DIR/body" 2>/dev/null)
  ANS_TEXT="$HEADERS
$BODY
$(cat "$LAB_DIR/curl.err")"
}
# header NAME: that header of the last answer (case-insensitive name).
header() { awk -v h="$(tr 'A-Z' 'a-z' <<<"$1")" -F': ' 'tolower($1) == h { print $2 }' <<<"$HEADERS"; }
# field PYTHON-EXPR: evaluated on the last body parsed as JSON (as `j`); "<not json>" when it is not JSON,
# "<missing>" when the expression fails on it.
field() { "$LAB_PYTHON" -c "import json, sys
try: j = json.load(open(sys.argv[1]))
except Exception: print('<not json>'); sys.exit()
try: print($1)
except Exception: print('<missing>')" "$LAB_DIR/body"; }

register_json() {
  printf '{"organizationId": "%s", "fingerprint": "%s", "userId": "3000001", "hostname": "laptop-%s",
           "os": "Debian GNU/Linux 12", "agentVersion": "0.1.0"}' "${2:-$ORG_ID}" "${3:-$FINGERPRINT}" "$1"
}
register() { api POST /v1/devices -H 'Content-Type: application/json' -d "$(register_json "$@")"; }
policy() { api GET "/v1/devices/$1/policy" -H "Authorization: Bearer $2" "${@:3}"; }

section "test certificates"
"$CLOUDSIM" --listen "$LISTEN" --make-certs "$CERTS" --name cloud.roamd.test >"$LAB_DIR/make-certs.out" 2>&1
expect "--make-certs exits 0" "$?" = 0
expect "ca.pem, server.pem and server.key are written" "$(cd "$CERTS" && ls | paste -sd' ')" = \
  "ca.pem server.key server.pem"
expect "the server key is private" "$(stat -c %a "$CERTS/server.key")" = 600
expect "openssl verifies the server certificate against the CA" \
  "$(openssl verify -purpose sslserver -CAfile "$CERTS/ca.pem" "$CERTS/server.pem" 2>&1)" = "$CERTS/server.pem: OK"
expect "for the listen IP and the name" "$(openssl x509 -in "$CERTS/server.pem" -noout -ext subjectAltName)" \
  '~' "IP Address:127.0.0.1, DNS:cloud.roamd.test"
"$CLOUDSIM" --listen "$LISTEN" --make-certs "$LAB_DIR/other" >/dev/null 2>&1  # another CA, for the refusals

section "started"
write_policy r1
start_cloud
expect "listening only where asked" "$(ss -Hlnt | awk '{print $4}' | paste -sd' ')" = "$LISTEN"

section "registration"
register one
expect "POST /v1/devices: 201" "$RC $CODE" = "0 201"
expect "JSON answer" "$(header Content-Type)" = application/json
ID=$(field "j['deviceId']") TOKEN=$(field "j['deviceToken']")
expect "deviceId: 16 lower-case hex digits (the 8-byte EDNS identity)" "$ID" '~' '^[0-9a-f]{16}$'
expect "deviceToken: a bearer secret" "${#TOKEN}" -ge 32
expect "Location names the device" "$(header Location)" = "/v1/devices/$ID"
expect "registered devices are kept in the state file, private" \
  "$(stat -c %a "$STATE") $(grep -c "$ID" "$STATE")" = "600 1"
register two
ID2=$(field "j['deviceId']")
expect "a second device gets another id" "$CODE $ID2" '~' "^201 [0-9a-f]{16}$"
expect "... not the first one's" "$ID2" != "$ID"
register three 2000002
expect "another organisation: 403" "$CODE $(field "j['code']")" = "403 wrong_organization"
register three "$ORG_ID" 00000000000000000000000000000000
expect "a wrong fingerprint: 403" "$CODE $(field "j['code']")" = "403 wrong_organization"
api POST /v1/devices -d 'organizationId=2000001'
expect "not JSON: 400" "$CODE $(field "j['code']")" = "400 bad_request"
api GET /v1/devices
expect "GET /v1/devices: 405, Allow: POST" "$CODE $(header Allow)" = "405 POST"

section "policy, ETag and If-None-Match"
policy "$ID" "$TOKEN"
expect "GET policy: 200" "$RC $CODE" = "0 200"
expect "ETag is the revision, quoted" "$(header ETag)" = '"r1"'
expect "the policy's fields in lowerCamelCase" \
  "$(field "j['revision'], j['resolvers'][0]['transport'], j['resolvers'][0]['tlsName'], j['transportMode'],
            j['syncJitterS']")" \
  = "r1 DOT dns.cloud.test ENCRYPTED_WITH_FALLBACK 30"
policy "$ID" "$TOKEN" -H 'If-None-Match: "r1"'
expect "If-None-Match with that ETag: 304" "$RC $CODE" = "0 304"
expect "... without a body" "$SIZE" = 0
expect "... and with the ETag" "$(header ETag)" = '"r1"'
write_policy r2
policy "$ID" "$TOKEN" -H 'If-None-Match: "r1"'
expect "the policy file changed: 200 with the new ETag" "$CODE $(header ETag) $(field "j['revision']")" = '200 "r2" r2'
policy "$ID" "$TOKEN" -H 'If-None-Match: "r2"'
expect "... and 304 for it" "$CODE" = 304
touch -r "$LAB_DIR/policy.json" "$LAB_DIR/stamp"
write_policy r3  # same size, and the old modification time put back: only SIGHUP makes cloudsim read it
touch -r "$LAB_DIR/stamp" "$LAB_DIR/policy.json"
policy "$ID" "$TOKEN"
expect "an unchanged file (same inode, size and mtime) is not re-read" "$(header ETag)" = '"r2"'
kill -HUP "${LAB_PIDS[cloud]}"
wait_until 5000 grep -q 'policy revision r3' "$LAB_DIR/cloud.out"
policy "$ID" "$TOKEN" -H 'If-None-Match: "r2"'
expect "SIGHUP re-reads it: 200 with the new ETag" "$CODE $(header ETag)" = '200 "r3"'
echo '{"revision": ""}' >"$LAB_DIR/policy.json"
policy "$ID" "$TOKEN"
expect "a policy without a revision is not taken: the last good one is served" "$CODE $(header ETag)" = '200 "r3"'
expect "... and cloudsim says why" "$(grep -c 'still serving policy revision r3' "$LAB_DIR/cloud.out")" -ge 1
write_policy r4

section "bearer tokens and unknown devices"
policy "$ID" "$TOKEN" --http1.0
expect "HTTP/1.0 works too" "$CODE" = 200
policy "$ID" "wrong$TOKEN"
expect "a wrong token: 401" "$CODE $(field "j['code']")" = "401 unauthorized"
expect "... with WWW-Authenticate" "$(header WWW-Authenticate)" = 'Bearer realm="roamd"'
api GET "/v1/devices/$ID/policy"
expect "no token: 401" "$CODE" = 401
policy "$ID2" "$TOKEN"
expect "another device's token: 401" "$CODE" = 401
policy 0000000000000000 "$TOKEN"
expect "an unknown device: 404 unknown_device" "$CODE $(field "j['code']")" = "404 unknown_device"

section "heartbeats"
HB='{"deviceId": "'$ID'", "state": "protected by settings", "reason": "lab", "agentVersion": "0.1.0",
     "uptimeS": "42", "counters": {"queries": "7", "servfail_sent": 0}, "policyRevision": "r4"}'
api POST "/v1/devices/$ID/heartbeat" -H "Authorization: Bearer $TOKEN" -d "$HB"
expect "POST heartbeat: 204" "$RC $CODE $SIZE" = "0 204 0"
api POST "/v1/devices/$ID/heartbeat" -H "Authorization: Bearer $TOKEN" -d '{"deviceId": "'$ID2'"}'
expect "a heartbeat naming another device: 400" "$CODE" = 400
api GET /v1/debug/heartbeats
expect "GET /v1/debug/heartbeats: the heartbeat as sent" \
  "$CODE $(field "len(j['heartbeats']), j['heartbeats'][0]['state'], j['heartbeats'][0]['counters']['queries'],
                  j['heartbeats'][0]['uptimeS']")" \
  = "200 1 protected by settings 7 42"

section "bounds"
head -c 100000 /dev/zero | tr '\0' a >"$LAB_DIR/big"
api POST /v1/devices --data-binary @"$LAB_DIR/big"
expect "a 100 KB request body: 413" "$CODE $(field "j['code']")" = "413 too_large"
api GET "/v1/devices/$ID/policy" -H "X-Big: $(head -c 10000 /dev/zero | tr '\0' a)"
expect "a 10 KB header: 431" "$CODE" = 431
policy "$ID" "$TOKEN"
expect "served afterwards" "$RC $CODE" = "0 200"

section "TLS: plain HTTP, another CA, another name"
api_at "http://$LISTEN/v1/debug/heartbeats"
expect "plain HTTP gets no answer" "$CODE" = 000
expect "... curl fails" "$RC" != 0
expect "... and cloudsim logs the failed handshake" \
  "$(grep -c 'TLS handshake with .* failed' "$LAB_DIR/cloud.out")" -ge 1
api GET /v1/debug/heartbeats --cacert "$LAB_DIR/other/ca.pem"
expect "a CA that did not sign the certificate: curl refuses it (60)" "$RC $CODE" = "60 000"
api_at "https://cloud.roamd.test:8443/v1/debug/heartbeats" --cacert "$CERTS/ca.pem" \
  --resolve cloud.roamd.test:8443:127.0.0.1
expect "by the name in the certificate: 200" "$RC $CODE" = "0 200"
api_at "https://other.test:8443/v1/debug/heartbeats" --cacert "$CERTS/ca.pem" --resolve other.test:8443:127.0.0.1
expect "by a name not in it: curl refuses it (60)" "$RC $CODE" = "60 000"

section "the connection cap"
start_cloud --max-connections 2
"$LAB_PYTHON" - "$LAB_DIR/held" <<'EOF' &
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", 8443)) for _ in range(2)]  # no TLS handshake: they just sit
open(sys.argv[1], "w").close()
time.sleep(30)
EOF
HOLDER=$!
wait_until 5000 test -e "$LAB_DIR/held"
api GET /v1/debug/heartbeats
expect "two idle connections open: a third is closed at once" "$CODE" = 000
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
wait_until 5000 curl -sf --cacert "$CERTS/ca.pem" "$URL/v1/debug/heartbeats"
api GET /v1/debug/heartbeats
expect "once they are gone: served" "$CODE" = 200

section "a restart keeps registered devices"
start_cloud
expect "cloudsim says how many it read" "$(grep -c '2 registered devices from' "$LAB_DIR/cloud.out")" = 1
policy "$ID" "$TOKEN" -H 'If-None-Match: "r4"'
expect "the first device's token still works (304)" "$CODE" = 304
policy "$ID2" "$TOKEN"
expect "... and only for that device" "$CODE" = 401
api GET /v1/debug/heartbeats
expect "heartbeats are not kept across a restart" "$(field "len(j['heartbeats'])")" = 0

section "faults: --forget-devices"
start_cloud --forget-devices
policy "$ID" "$TOKEN"
expect "a registered device: 404 unknown_device" "$CODE $(field "j['code']")" = "404 unknown_device"
api POST "/v1/devices/$ID/heartbeat" -H "Authorization: Bearer $TOKEN" -d "$HB"
expect "its heartbeat too" "$CODE" = 404
register four
expect "registering again still works" "$CODE" = 201

section "faults: --status, --garbage, --oversized, --delay-ms"
start_cloud --status 503
policy "$ID" "$TOKEN"
expect "--status 503: every API request gets 503" "$CODE $(field "j['code']")" = "503 injected"
register five
expect "... registration too" "$CODE" = 503
api GET /v1/debug/heartbeats
expect "... but not the test endpoint" "$CODE" = 200
start_cloud --garbage
policy "$ID" "$TOKEN"
expect "--garbage: 200 with a body that is not JSON" "$CODE $(field j)" = "200 <not json>"
start_cloud --oversized
policy "$ID" "$TOKEN"
expect "--oversized: 200 with a 10 MiB body" "$CODE $SIZE" = "200 10485760"
start_cloud --delay-ms 600
policy "$ID" "$TOKEN"
expect "--delay-ms 600: answered" "$CODE" = 200
expect "... after 600 ms or more" "$TIME_MS" -ge 600

section "bad options"
"$CLOUDSIM" --listen "$LISTEN" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --org "$LAB_DIR/policy.json" \
  --policy "$LAB_DIR/policy.json" >"$LAB_DIR/bad.out" 2>&1
expect "an org file without organizationId: exit 2" "$?" = 2
expect "... naming the file" "$(cat "$LAB_DIR/bad.out")" '~' "policy.json: organizationId and fingerprint"
"$CLOUDSIM" --listen "$LISTEN" --cert "$CERTS/server.pem" --key "$LAB_DIR/other/server.key" --org "$LAB_DIR/org.json" \
  --policy "$LAB_DIR/policy.json" >"$LAB_DIR/bad.out" 2>&1
expect "a key that is not the certificate's: exit 2" "$?" = 2

section "SIGTERM"
kill -TERM "${LAB_PIDS[cloud]}"
wait_until 5000 exited cloud
wait "${LAB_PIDS[cloud]}"
expect "exit 0 on SIGTERM" "$?" = 0
unset "LAB_PIDS[cloud]"

lab_finish
