#!/usr/bin/env bash
# The debug port under abuse, with roamd's memory measured (/proc/PID/status VmRSS, VmHWM): garbage, a 2 GiB length
# header (CAF's BASP port would allocate it), a truncated frame, 100 slow-loris connections at once, unauthenticated
# and wrongly authenticated TCP requests. Everything is refused with a clear error frame, memory stays bounded, DNS
# keeps answering meanwhile, and roamctl still works afterwards.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
[ -x "${ROAMCTL:-}" ] || lab_skip "ROAMCTL (the roamctl binary) is not set"

lab_private_etc
ROAMD_SYSTEM_TOML=$(printf 'mode = "none"\nstate_dir = "%s"' "$STATE_DIR")
ROAMD_DEBUG_TOML='tcp = "127.0.0.1:5380"'
start_split_lab
SOCK=/run/roamd/debug.sock TCP=127.0.0.1:5380
wait_until 5000 test -S "$SOCK" || lab_abort "no socket at $SOCK" roamd
abuse() { "$LAB_PYTHON" "$LAB_HOME/inspect_abuse.py" "$@"; }
# abuse_refused DESCRIPTION REGEX MODE TARGET: one misbehaving client; what the server sent back matches REGEX.
abuse_refused() {
  local desc=$1 regex=$2 out; shift 2
  out=$(abuse "$@")
  LAST_CMD="inspect_abuse.py $*" ANS_TEXT=$out
  expect "$desc" "$out" '~' "$regex"
}

"$ROAMCTL" status >/dev/null  # the port's first use (thread stacks, buffers) is part of the baseline
ask warmup.example A
RSS0=$(roamd_kib VmRSS) HWM0=$(roamd_kib VmHWM)
echo "baseline: VmRSS ${RSS0} KiB, VmHWM ${HWM0} KiB"

section "garbage, oversized, truncated (Unix socket and TCP)"
for target in "$SOCK" "$TCP"; do
  out=$(abuse garbage "$target" 50)
  LAST_CMD="inspect_abuse.py garbage $target 50" ANS_TEXT=$(head -5 <<<"$out")
  expect "$target: 50 garbage connections all ended by the server" "$(grep -c '(1[0-9]\.[0-9]*s)' <<<"$out")" = 0
  expect "$target: garbage gets a clear error" "$(grep -c 'exceeds the limit\|not a request\|incomplete request' <<<"$out")" -ge 1
  abuse_refused "$target: 0x7fffffff length refused at once" \
    "2147483647 bytes exceeds the limit of 65536 bytes \(0\.[0-9]+s\)" oversized "$target"
  abuse_refused "$target: truncated frame refused after 5 s" \
    "incomplete request: 14 bytes in 5000 ms.*\(5\.[0-9]+s\)" truncated "$target"
done
expect "roamd still runs" "$(alive roamd && echo yes)" = yes

section "unauthenticated TCP"
abuse_refused "a query without authentication: refused" "authenticate first" query "$TCP"
abuse_refused "a wrong HMAC: refused" "authentication failed: wrong token" badauth "$TCP"

section "100 slow connections at once (1 byte per second), DNS meanwhile"
abuse slow "$SOCK" 100 >"$LAB_DIR/slow.out" 2>&1 &
SLOW=$!
dns_and_memory_during during-slow  # ~6 s: the slow clients' whole life
wait "$SLOW"
LAST_CMD="inspect_abuse.py slow $SOCK 100" ANS_TEXT=$(sort "$LAB_DIR/slow.out" | head -3)
busy=$(grep -c 'too many inspection connections (16)' "$LAB_DIR/slow.out")
cut=$(grep -c 'incomplete request: [0-9]* bytes in 5000 ms' "$LAB_DIR/slow.out")
expect "100 slow connections: each refused (busy) or cut after 5 s" "$((busy + cut))" = 100
expect "at most 16 were served at once" "$cut" -le 16
expect "none lasted beyond 7 s" "$(grep -c '([7-9]\.[0-9]*s)\|([1-9][0-9]\.[0-9]*s)' "$LAB_DIR/slow.out")" = 0
expect "DNS answered every query meanwhile" "$DNS_OK/$DNS_N" = "$DNS_N/$DNS_N"

section "memory"
RSS1=$(roamd_kib VmRSS) HWM1=$(roamd_kib VmHWM)
echo "after: VmRSS ${RSS1} KiB, VmHWM ${HWM1} KiB, peak RSS sampled during the slow phase ${PEAK} KiB"
echo "growth of the high-water mark: $((HWM1 - HWM0)) KiB over ~260 abusive connections"
expect "VmHWM grew by less than 16 MiB (< 1 MiB per served connection)" "$((HWM1 - HWM0))" -lt 16384
expect "peak VmHWM well under 100 MiB" "$HWM1" -lt 102400

section "still inspectable"
out=$("$ROAMCTL" status 2>&1); rc=$?
LAST_CMD="roamctl status" ANS_TEXT=$out
expect "roamctl status answers after the abuse" "$rc" = 0
expect "... and counts what the port refused" "$out" '~' \
  "refused .*[0-9]+ failed authentication, .*[0-9]+ busy, .*[0-9]+ too large, .*[0-9]+ timed out"
expect_roamd_serving "after the abuse"
grep -c 'debug_port' "$LAB_DIR/roamd.out" | sed 's/^/debug_port log lines: /'

lab_finish
