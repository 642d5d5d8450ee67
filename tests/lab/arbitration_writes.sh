#!/usr/bin/env bash
# Conflict arbitration against the ways a VPN writes resolv.conf (tools/vpnsim, VPN lab of vpn_lab.sh), each
# scenario with a fresh roamd so its writes are counted from its own take:
#   - connect by in-place write and by `sed -i`: adopted (the VPN's domain to its server through the tunnel) and
#     taken back once: resolv.conf names roamd, internal names reach the VPN's resolver, external ones the cloud
#     with the identity;
#   - a storm (50 rewrites in 500 ms): one decision, one write by roamd;
#   - garbage (binary junk, a 4 MB file, no nameserver line): roamd keeps answering, takes back once, says why;
#   - three connects (the third contest intercepts), then a disconnect that finds its marker intact and restores its
#     backup: protection by settings within 1 s; the tunnel goes: its adopted routes go with it.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
. "$LAB_HOME/vpn_lab.sh"
vpn_lab_with_roamd

# connected_then_taken_back METHOD: one connect by METHOD, adopted and taken back with one write.
connected_then_taken_back() {
  local method=$1 before
  vpn_link_up || lab_abort "cannot create tun0"
  vpn connect --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --method "$method"
  expect "vpnsim connected ($method)" "$VS_RC" = 0
  expect_taken_back_once "$method" ".*"
  expect "one decision ($method)" "$(arbiter_decisions)" = 1
  before=$(vpn_queries host.$VPN_DOMAIN)
  resolve host.$VPN_DOMAIN
  expect "an internal name is answered by the VPN's resolver ($method)" "$ANS_DATA" = "$VPN_A"
  expect "... which saw the query ($method)" "$(vpn_queries host.$VPN_DOMAIN)" -gt "$before"
  resolve "www-$method.example.net"
  expect "an external name goes to the cloud with the identity ($method)" "$ANS_DATA" = "$CLOUD_A_TAGGED"
  # The VPN kept the LAN's search domain in its file (as vpnc-script does); roamd adopts it as the VPN's too.
  resolve host.home.test
  expect "the LAN's domain still reaches the LAN's resolver while the VPN is up ($method)" \
    "$ANS_DATA" = "$LAN_A"
}

section "connect by in-place write (same inode): adopted, taken back once"
connected_then_taken_back inplace

section "connect by sed -i (temp file renamed over): adopted, taken back once"
vpn_link_down
restart_vpn_roamd <<<"$ARB_TOML"
connected_then_taken_back sed

section "a storm: 50 rewrites in 500 ms -> one decision, one write"
vpn_link_down
restart_vpn_roamd <<<"$ARB_TOML"
vpn_link_up || lab_abort "cannot create tun0"
# Contents A and B differ in their search domains; both name the VPN's resolver.
vpn storm --count 50 --within 500 --ns "$VPN_DNS,$VPN_DNS" --domain corp.example,vpn.corp.example
expect "vpnsim stormed" "$VS_RC" = 0
expect "... 50 writes" "$(grep -c ' write .*why=storm' "$LAB_DIR/vpnsim.out")" = 50
expect_one_take_back storm 1500
vpn_link_down

# garbage NAME: /etc/resolv.conf already holds the VPN's garbage; roamd answers, takes back once and says why.
garbage() {
  local name=$1
  wait_until 5000 decisions_at_least 1
  expect "$name: roamd decided" "$(arbiter_decisions)" = 1
  expect "$name: roamd takes back, saying why" "$(grep -o 'conflict_arbiter: take back: .*' "$LAB_DIR/roamd.out" | tail -1)" \
    '~' "removed the nameservers: roamd takes the settings back.*\[protected by settings\]$"
  wait_until 3000 resolv_names_are "$ROAMD_IP"
  expect "$name: resolv.conf names roamd again" "$(resolv_names)" = "$ROAMD_IP"
  expect "$name: one write after the take" "$(roamd_writes)" = 2
  expect "$name: roamd keeps answering" "$(roamd_answers && echo yes)" = yes
  resolve "www-$name.example.net"
  expect "$name: getent through roamd" "$ANS_DATA" = "$CLOUD_A_TAGGED"
}

section "garbage: binary junk written in place"
restart_vpn_roamd <<<"$ARB_TOML"
head -c 8192 /dev/urandom | tr -d '\n' >/etc/resolv.conf
expect "roamd answers right after" "$(roamd_answers && echo yes)" = yes
garbage junk

section "garbage: a 4 MB file (comments, then one nameserver line)"
restart_vpn_roamd <<<"$ARB_TOML"
vpn_link_up || lab_abort "cannot create tun0"
{ yes '# padding padding padding padding padding padding padding padding padding padding padding' | head -c 4000000
  printf '\nnameserver %s\nsearch %s\n' "$VPN_DNS" "$VPN_DOMAIN"; } >"$LAB_DIR/huge"
cat "$LAB_DIR/huge" >/etc/resolv.conf
expect "roamd answers right after" "$(roamd_answers && echo yes)" = yes
wait_until 5000 decisions_at_least 1
expect "huge: one decision" "$(arbiter_decisions)" = 1
expect "huge: says what it saw and does" "$(grep -o 'conflict_arbiter: [a-z ]*: .*' "$LAB_DIR/roamd.out" | grep -v ': take: ' | tail -1)" \
  '~' "(set 10\.8\.0\.1:53|larger than 1 MiB).*\[protected by settings\]$"
# The nameserver line sits at the end (glibc reads it): "removed the nameservers" would be a wrong reason.
expect "huge: the reason tells the VPN's server or the size, not a removal" \
  "$(grep -o 'conflict_arbiter: [a-z ]*: .*' "$LAB_DIR/roamd.out" | grep -v ': take: ' | tail -1)" '~' \
  "set 10\.8\.0\.1:53|larger than 1 MiB"
wait_until 3000 resolv_names_are "$ROAMD_IP"
expect "huge: resolv.conf names roamd again" "$(resolv_names)" = "$ROAMD_IP"
expect "huge: one write after the take" "$(roamd_writes)" = 2
expect "huge: roamd keeps answering" "$(roamd_answers && echo yes)" = yes
vpn_link_down

section "garbage: no nameserver line (search and options only)"
restart_vpn_roamd <<<"$ARB_TOML"
printf '# written by a broken VPN script\nsearch corp.example\noptions ndots:2\n' >/etc/resolv.conf
garbage no-nameserver

section "three connects (intercepted), then a disconnect with its marker intact: settings back within 1 s"
restart_vpn_roamd <<<"$ARB_TOML"
vpn_link_up || lab_abort "cannot create tun0"
# Two connect/disconnect cycles (the disconnect finds roamd's file: it leaves it), each one contest.
for i in 1 2; do
  vpn connect --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --method inplace
  expect "connect #$i" "$VS_RC" = 0
  wait_until 5000 decisions_at_least $i
  wait_until 3000 resolv_names_are "$ROAMD_IP"
  vpn disconnect
done
expect "two connects taken back" "$(resolv_names) $(roamd_writes)" = "$ROAMD_IP 3"
expect "... disconnects left roamd's file" "$(grep -c ' keep reason=marker-gone' "$LAB_DIR/vpnsim.out")" = 2
vpn connect --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --method inplace
wait_until 10000 arbiter_is "protected by interception"
expect "the third contest intercepts" "$(arbiter_state)" = "protected by interception"
expect "at most 3 writes by roamd in all" "$(roamd_writes)" -le 3
expect "the VPN's file and its marker are intact" "$(head -1 /etc/resolv.conf | cut -c1-17) $(resolv_names)" = \
  "#@VPNC_GENERATED@ $VPN_DNS"
before=$(vpn_queries host.$VPN_DOMAIN)
resolve host.$VPN_DOMAIN
expect "an internal name reaches the VPN's resolver while intercepting" "$ANS_DATA" = "$VPN_A"
expect "... which saw it" "$(vpn_queries host.$VPN_DOMAIN)" -gt "$before"
t0=$(now_ms)
vpn disconnect
expect "vpnsim disconnected" "$VS_RC" = 0
expect "... restoring its backup (marker intact)" "$(grep -c ' write .*why=restore' "$LAB_DIR/vpnsim.out")" -ge 1
expect_back_to_settings "the VPN disconnected" "$t0"
expect "still at most 3 writes by roamd" "$(roamd_writes)" -le 3
resolve host.home.test
expect "the LAN's domain works once the VPN disconnected" "$ANS_DATA" = "$LAN_A"
vpn_link_down
expect_vpn_forgotten gone
expect_roamd_serving "after the whole scenario"

lab_finish
