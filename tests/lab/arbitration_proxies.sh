#!/usr/bin/env bash
# Conflict arbitration against a competing local DNS proxy and a full-tunnel VPN (VPN lab of vpn_lab.sh):
#   - a local proxy swaps resolv.conf for a symlink to a 127.0.0.53 stub (vpnsim stub-proxy; a real dnsmasq on
#     127.0.0.53 forwards to the LAN's resolver): recognised as "a competing local DNS proxy", taken back once without
#     writing through the symlink, the stub's domain still resolves, external names go to the cloud with the identity;
#   - a full-tunnel VPN on a real tun device (tunpair.py; the default route through it, the VPN's resolver reachable
#     only through it): recognised ("full tunnel" in the decision), internal names through the tunnel, external ones
#     to the cloud (on loopback in this lab, so still reachable); after the disconnect its routes go with the link.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
. "$LAB_HOME/vpn_lab.sh"
vpn_lab_with_roamd

section "a competing local DNS proxy (resolv.conf -> symlink to a 127.0.0.53 stub)"
start_dnsmasq stub 127.0.0.53 --server=$LAN_DNS
ask_at 127.0.0.53 host.home.test A
expect "the stub proxy answers (through the LAN's resolver)" "$ANS_STATUS $ANS_DATA" = "NOERROR $LAN_A"
vpn stub-proxy --addr 127.0.0.53 --domain home.test
expect "vpnsim swapped resolv.conf for the stub's symlink" "$VS_RC" = 0
STUB_FILE=$(readlink -f /etc/resolv.conf)
STUB_BYTES=$(cat "$STUB_FILE")
wait_until 5000 decisions_at_least 1
expect "one decision" "$(arbiter_decisions)" = 1
expect "recognised as a competing local DNS proxy" "$(grep -o 'conflict_arbiter: [a-z ]*: .*' "$LAB_DIR/roamd.out" |
  grep -v ': take: ' | tail -1)" '~' "set 127\.0\.0\.53:53 .*\(a competing local DNS proxy\).*\[protected by settings\]$"
wait_until 3000 resolv_names_are "$ROAMD_IP"
expect "resolv.conf names roamd" "$(resolv_names)" = "$ROAMD_IP"
expect "roamd wrote once after its take" "$(roamd_writes)" = 2
expect "the stub's own file was not written through the symlink" "$(cat "$STUB_FILE")" = "$STUB_BYTES"
expect "... and it still names the stub" "$(awk '$1 == "nameserver" {print $2}' "$STUB_FILE")" = 127.0.0.53
resolve host.home.test
expect "the stub's search domain still resolves" "$ANS_DATA" = "$LAN_A"
resolve www.example.net
expect "an external name goes to the cloud with the identity" "$ANS_DATA" = "$CLOUD_A_TAGGED"
expect_roamd_serving "after the local proxy"
# A fixed window in which a second decision (a take-back loop against the stub) would show.
t0=$(now_ms)
while [ $(($(now_ms) - t0)) -lt 1000 ]; do sleep 0.1; done
expect "still one decision" "$(arbiter_decisions)" = 1
expect "still one write after the take" "$(roamd_writes)" = 2
lab_stop stub

section "a full-tunnel VPN on a real tun (the default route through it)"
restart_vpn_roamd <<<"$ARB_TOML"
vpn_tun_up || lab_abort "cannot create the tun pair" tunpair
expect "tun0 is a tun device" "$(ip -d link show tun0 | grep -o 'tun type tun')" = "tun type tun"
vpn full-tunnel --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --method rename
expect "vpnsim connected as a full tunnel" "$VS_RC" = 0
expect "the default route leaves through tun0" "$(ip route show default | awk '{print $NF == "tun0" ? "tun0" : $0}')" '~' "dev tun0|tun0"
ask_at "$VPN_DNS" www.$VPN_DOMAIN A  # a name asked nowhere else: answers are cached for a second
expect "the VPN's resolver answers through the tunnel" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
wait_until 5000 roamd_log_has 'conflict_arbiter: adopt and take back'
expect "adopted, bound to tun0" "$(arbiter_log 'adopt and take back')" '~' \
  "set 10\.8\.0\.1:53 .*bound to tun0.*\[protected by settings\]$"
# vpnsim (like vpnc-script) moves the default route with `ip route replace`: one RTM_NEWROUTE (NLM_F_REPLACE), no
# RTM_DELROUTE for the route it replaced.
expect "recognised as a full tunnel (default route moved by ip route replace)" \
  "$(arbiter_log 'adopt and take back')" '~' "full tunnel"
wait_until 3000 resolv_names_are "$ROAMD_IP"
expect "resolv.conf names roamd again" "$(resolv_names)" = "$ROAMD_IP"
expect "roamd wrote once after its take" "$(roamd_writes)" = 2
expect_split split host.$VPN_DOMAIN www-full.example.net
vpn disconnect
expect "vpnsim disconnected (default route back)" "$VS_RC $(ip route show default | grep -o 'dev [a-z0-9]*')" = "0 dev lan0"

section "full tunnel again, the default route moved by delete + add: recognised"
ip route del default && ip route add default dev tun0 || lab_abort "cannot move the default route to tun0"
vpn connect --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --method rename
expect "vpnsim connected" "$VS_RC" = 0
wait_until 5000 decisions_at_least 2
expect "adopted again, recognised as a full tunnel" "$(arbiter_log 'adopt and take back')" '~' \
  "set 10\.8\.0\.1:53 .*bound to tun0.*full tunnel.*\[protected by settings\]$"
wait_until 3000 resolv_names_are "$ROAMD_IP"
expect "roamd wrote once more (two takes back in all)" "$(roamd_writes)" = 3
expect_split split db.$VPN_DOMAIN www-full2.example.net
vpn disconnect
ip route del default && ip route add default via 192.0.2.254 dev lan0
vpn_tun_down
expect_vpn_forgotten gone
expect "settings are roamd's, protected by settings" "$(resolv_names) / $(arbiter_state)" = "$ROAMD_IP / protected by settings"

lab_finish
