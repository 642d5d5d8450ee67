#!/usr/bin/env bash
# Bad input: malformed datagrams and misbehaving TCP clients. roamd keeps running and keeps answering; for
# parsable-but-wrong queries the client gets the right rcode with its own ID; unanswerable garbage is dropped.
. "$(dirname "$0")/lib.sh"
lab_init "$@"

start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
start_cloud_roamd <<EOF2

[tcp]
max_connections = 8
idle_timeout_ms = 1000
EOF2

# udp_case KIND EXPECTED: one crafted datagram (see dnsraw.py), then roamd must still serve.
udp_case() {
  LAST_CMD="dnsraw.py udp $ROAMD_IP $1" ANS_TEXT=$(dnsraw udp "$ROAMD_IP" "$1")
  [ "$2" = any ] || expect "UDP $1 -> $2" "$ANS_TEXT" = "$2"
  expect_roamd_serving "after UDP $1"
}

section "malformed UDP datagrams"
FORMERR="rcode=FORMERR id=ok qr=1" NOTIMP="rcode=NOTIMP id=ok qr=1"
udp_case random any
udp_case 1byte noreply
udp_case 11byte noreply
udp_case response noreply
udp_case header-only "$FORMERR"
udp_case qdcount0 "$FORMERR"
udp_case qdcount2 "$FORMERR"
udp_case loop "$FORMERR"
udp_case badlabel "$FORMERR"
udp_case cut-question "$FORMERR"
udp_case update "$NOTIMP"
udp_case opcode15 "$NOTIMP"

section "a burst of 500 random datagrams"
"$LAB_PYTHON" -c "
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(500): s.sendto(os.urandom(n % 97 + 1), ('$ROAMD_IP', 53))"
expect_roamd_serving "after the burst"

section "misbehaving TCP clients (idle_timeout_ms = 1000)"
for kind in random zero-length short-message huge-length; do
  LAST_CMD="dnsraw.py tcpjunk $ROAMD_IP $kind" ANS_TEXT=$(dnsraw tcpjunk "$ROAMD_IP" "$kind")
  expect "TCP $kind: roamd closes the connection" "$ANS_TEXT" '~' '^closed'
  expect_roamd_serving "after TCP $kind"
done
LAST_CMD="dnsraw.py idle $ROAMD_IP 5" ANS_TEXT=$(dnsraw idle "$ROAMD_IP" 5)
expect "an idle connection is closed after about 1 s" "$ANS_TEXT" '~' '^closed ms=(9[0-9][0-9]|1[0-9][0-9][0-9]|2[0-9][0-9][0-9])$'

section "all 8 TCP slots held by idle clients"
lab_start holder "$LAB_PYTHON" "$LAB_HOME/dnsraw.py" hold "$ROAMD_IP" 8 10
wait_until 5000 grep -q '^held 8' "$LAB_DIR/holder.out" || lab_abort "could not open 8 TCP connections" holder
expect_roamd_serving "UDP while TCP is full"
# Idle holders should not lock TCP clients out: a newcomer is queued until a slot frees, or an idle one evicted.
ask +tcp +time=5 tcp-when-full.example
expect "a new TCP client while all slots are held is answered within 3 s" \
  "$ANS_STATUS $ANS_DATA $([ "$ANS_MS" -lt 3000 ] && echo in-time || echo "after $ANS_MS ms")" = \
  "NOERROR $CLOUD_A_TAGGED in-time"
no_tcp_clients() { [ -z "$(ss -Htn state established "src $ROAMD_IP:53")" ]; }
wait_until 5000 no_tcp_clients
expect "roamd closed the idle holders' connections" "$(ss -Htn state established "src $ROAMD_IP:53" | wc -l)" = 0
ask +tcp after-full.example
expect "TCP is served again afterwards" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"

lab_finish
