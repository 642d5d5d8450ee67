#!/usr/bin/env bash
# The invariant of README "Never without DNS", tried as an operator would, with the real roamd on a private /etc:
# - a second roamd with the same configuration exits 1 naming the running pid and the lock file and touches nothing
#   (the first keeps serving and restores on stop); `roamd --restore` refuses while roamd runs;
# - no other process, root included, can bind roamd's listen address beside it with SO_REUSEPORT (UDP or TCP);
# - `sed -i` on the search line of roamd's file, then a stop: the original comes back with the new search line;
# - the nameserver line of roamd's file changed by hand: roamd takes the file back, and on stop the edited settings
#   (without roamd's comments) are in force;
# - a VPN that backed up roamd's file at connect and puts it back after roamd stopped: the unit that watches
#   resolv.conf (roamd --restore --if-stopped) repairs it to the user's settings, byte for byte; so does the next
#   start.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need cmp

lab_private_etc
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
ROAMD_SYSTEM_TOML=$(takeover_system_toml auto)
JOURNAL=$STATE_DIR/takeover.journal
ORIG='# the lab'"'"'s resolv.conf
nameserver 192.0.2.53
search corp.test
options timeout:1 attempts:1
'

start_taken() {
  start_cloud_roamd </dev/null
  wait_until 10000 roamd_log_has 'dns_enforcer: (protecting|not_taken|failed)'
  LAST_CMD="" expect "$1: roamd verified its takeover" "$(grep -Eo 'dns_enforcer: (protecting|not_taken|failed)' \
    "$LAB_DIR/roamd.out" | head -1)" = "dns_enforcer: protecting"
}
roamd_named() { grep -q "^nameserver $ROAMD_IP" /etc/resolv.conf; }
names_roamd() { roamd_named && echo yes || echo no; }

section "a second roamd"
resolv_conf_shape plain "$ORIG"
start_taken "first"
first=${LAB_PIDS[roamd]}
cp /etc/resolv.conf "$LAB_DIR/taken"
cp "$JOURNAL" "$LAB_DIR/journal.first"
LAST_CMD="$ROAMD --config roamd.toml (second)"
ANS_TEXT=$(timeout 10 "$ROAMD" --config "$LAB_DIR/roamd.toml" 2>&1)
rc=$?
expect "second: exits 1" "$rc" = 1
expect "second: names the running pid and the lock file" "$ANS_TEXT" '~' "pid $first.*$STATE_DIR/roamd.lock"
expect "second: resolv.conf untouched" "$(cmp -s /etc/resolv.conf "$LAB_DIR/taken" && echo same || echo changed)" = same
expect "second: the journal untouched" "$(cmp -s "$JOURNAL" "$LAB_DIR/journal.first" && echo same || echo changed)" = same
LAST_CMD="roamd --restore while roamd runs"
ANS_TEXT=$("$ROAMD" --restore --config "$LAB_DIR/roamd.toml" 2>&1)
expect "--restore while running: exits 1" "$?" = 1
expect "--restore while running: says why" "$ANS_TEXT" '~' "not restoring: another roamd \\(pid $first\\)"
ANS_TEXT=$("$ROAMD" --restore --if-stopped --config "$LAB_DIR/roamd.toml" 2>&1)
expect "--restore --if-stopped while running: exits 0" "$?" = 0
expect "--restore --if-stopped: nothing changed" "$(cmp -s /etc/resolv.conf "$LAB_DIR/taken" && echo same || echo changed)" = same
for proto in udp tcp; do
  LAST_CMD="python: SO_REUSEPORT bind $ROAMD_IP:53/$proto as root"
  ANS_TEXT=$("$LAB_PYTHON" - "$proto" "$ROAMD_IP" <<'PY' 2>&1
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[2], 53))
    print("joined")
except OSError as e:
    print("refused:", e.strerror)
PY
)
  expect "another root process cannot join roamd's $proto listener" "$ANS_TEXT" = "refused: Address already in use"
done
ask A fresh-1.example
expect "the first roamd still answers" "$ANS_STATUS" = NOERROR
stop_roamd_term
expect "first: clean stop" "$ROAMD_RC" = 0
expect "the original is back byte for byte" "$(printf '%s' "$ORIG" | cmp -s - /etc/resolv.conf && echo same || echo different)" = same

section "sed -i on roamd's search line"
resolv_conf_shape plain "$ORIG"
start_taken "search edit"
sed -i 's/^search .*/search corp.test added.test/' /etc/resolv.conf
wait_until 3000 roamd_log_has 'kept the edits to /etc/resolv.conf'
LAST_CMD="" expect "roamd says it keeps the edit" "$(roamd_log_has 'kept the edits to /etc/resolv.conf' && echo yes)" = yes
expect "the edited file stays (no rewrite war)" "$(grep -c '^search corp.test added.test$' /etc/resolv.conf)" = 1
stop_roamd_term
WANT=${ORIG/search corp.test/search corp.test added.test}
expect "stop: the original with the new search line" \
  "$(printf '%s' "$WANT" | cmp -s - /etc/resolv.conf && echo same || { cat /etc/resolv.conf; echo different; })" = same
expect "stop: resolv.conf names no roamd" "$(names_roamd)" = no

section "the nameserver line of roamd's file changed by hand"
resolv_conf_shape plain "$ORIG"
start_taken "nameserver edit"
sed -i "s/^nameserver $ROAMD_IP\$/nameserver 198.51.100.53/" /etc/resolv.conf
wait_until 5000 roamd_named
expect "roamd took the file back" "$(names_roamd)" = yes
expect "...recording the edit as the settings to put back" \
  "$(roamd_log_has 'recorded /etc/resolv.conf \(nameservers 198.51.100.53\)' && echo yes)" = yes
expect "roamd's file notes the new original" "$(grep -c '^# original nameserver 198.51.100.53$' /etc/resolv.conf)" = 1
stop_roamd_term
WANT='nameserver 198.51.100.53
search corp.test
options timeout:1 attempts:1
'
expect "stop: the edited settings, without roamd's comments" \
  "$(printf '%s' "$WANT" | cmp -s - /etc/resolv.conf && echo same || { cat /etc/resolv.conf; echo different; })" = same

section "a VPN puts its backup of roamd's file back after roamd stopped"
resolv_conf_shape plain "$ORIG"
start_taken "vpn backup"
cp /etc/resolv.conf "$LAB_DIR/vpn-backup"               # connect: the VPN backs up what is there (roamd's file)
stop_roamd_term
expect "stop: the original is back" "$(printf '%s' "$ORIG" | cmp -s - /etc/resolv.conf && echo same || echo different)" = same
cp "$LAB_DIR/vpn-backup" /etc/resolv.conf.tmp && mv /etc/resolv.conf.tmp /etc/resolv.conf  # disconnect: backup back
expect "the VPN's backup names the stopped roamd" "$(names_roamd)" = yes
LAST_CMD="roamd --restore --if-stopped (the unit that watches resolv.conf)"
ANS_TEXT=$("$ROAMD" --restore --if-stopped --config "$LAB_DIR/roamd.toml" 2>&1)
expect "repair: exit 0" "$?" = 0
expect "repair: says what it did" "$ANS_TEXT" '~' "repaired: /etc/resolv.conf was a copy of roamd's file"
expect "repair: the user's settings, byte for byte" \
  "$(printf '%s' "$ORIG" | cmp -s - /etc/resolv.conf && echo same || echo different)" = same
cp "$LAB_DIR/vpn-backup" /etc/resolv.conf                # the same again, now repaired by the next start
start_taken "start over a stale copy"
expect "the start repaired the copy first" "$(roamd_log_has "dns_enforcer: /etc/resolv.conf was a copy of roamd's file" && echo yes)" = yes
stop_roamd_term
expect "stop: the user's settings, byte for byte" \
  "$(printf '%s' "$ORIG" | cmp -s - /etc/resolv.conf && echo same || echo different)" = same

lab_finish
