#!/usr/bin/env bash
# Canary names: <label>.canary.roamd.arpa is answered by roamd itself with 127.a.b.c (a, b, c: the low bytes of
# FNV-1a-64 of the lower-cased label), so a lookup through the system resolver proves roamd is the one answering.
# Nothing under canary.roamd.arpa reaches an upstream; other types get NODATA, deeper names NXDOMAIN.
. "$(dirname "$0")/lib.sh"
lab_init "$@"

start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
start_cloud_roamd

# expected_address LABEL: what roamd must answer for LABEL.canary.roamd.arpa.
expected_address() {
  "$LAB_PYTHON" - "$1" <<'PY'
import sys
h = 0xcbf29ce484222325
for b in sys.argv[1].lower().encode():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("127.%d.%d.%d" % ((h >> 16) & 255, (h >> 8) & 255, h & 255))
PY
}

nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')
name=$nonce.canary.roamd.arpa
want=$(expected_address "$nonce")

section "the system resolver (getent hosts through /etc/resolv.conf) reaches roamd"
use_roamd_as_system_resolver
resolve "$name"
expect "getent hosts $name" "$ANS_DATA" = "$want"
resolve "$(tr a-f A-F <<<"$nonce").CANARY.roamd.arpa"
expect "the same name in upper case: the same address" "$ANS_DATA" = "$want"

section "dig"
ask "$name" A
expect "A: one record, TTL 0" "$ANS_STATUS $ANS_DATA $ANS_TTL" = "NOERROR $want 0"
expect "... authoritative" "$(has_flag aa)" = yes
ask +tcp "$name" A
expect "A over TCP" "$ANS_STATUS $ANS_DATA" = "NOERROR $want"
ask "$name" AAAA
expect "AAAA: NODATA" "$ANS_STATUS ${ANS_DATA:-nodata}" = "NOERROR nodata"
ask "x.$name" A
expect "a deeper name: NXDOMAIN" "$ANS_STATUS" = NXDOMAIN
ask +noedns "$name" A
expect "a client without EDNS gets no OPT back" "$ANS_STATUS $ANS_EDNS" = "NOERROR none"
expect "the cloud never saw a canary name" "$(grep -ci 'canary\.roamd\.arpa' "$LAB_DIR/cloud.queries")" = 0
expect_roamd_serving "after the canary queries"

lab_finish
