#!/usr/bin/env bash
# NetworkManager with dns=systemd-resolved (the Ubuntu default) and roamd, all real (nm_lab.sh and resolved_lab.sh on
# one private system bus): NM pushes each connection's DNS to resolved over D-Bus and leaves /etc/resolv.conf the
# stub symlink (rc-manager=unmanaged), so roamd in auto mode picks the resolved backend.
#   - the LAN connection's server and search domain, pushed by NM, are learned from resolved (routes bound to lan0);
#   - a full-tunnel NetworkManager-managed OpenConnect VPN (ocserv pushes no routes, never-default=false): NM gives
#     vpn0 DefaultRoute=yes (and takes it from lan0) but no "~." routing domain, so roamd's global ~. still wins:
#     roamd stays protecting by settings with no interception, 12 external names through the stub are all the
#     cloud's, tagged, and the VPN's server (which answers every example.net name with $VPN_OTHER) sees none of them;
#     the VPN's domain is learned (bound to vpn0) and resolves through the tunnel; its route goes on disconnect;
#   - SIGTERM: the drop-in goes, resolved restarts, names go to the LAN's server again through the stub.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nm_lab.sh"
. "$(dirname "$0")/resolved_lab.sh"
resolved_fetch
nm_openconnect_lab_init "$@"
resolved_fetch
[ -x "${ROAMCTL:-}" ] || lab_skip "ROAMCTL (the roamctl binary) is not set"
NM_EXTRA_ROOTS="$NM_EXTRA_ROOTS $RESOLVED_ROOT" # resolvectl as /usr/bin/resolvectl, as on a real system

LAN_DNS=192.0.2.53 LAN_A=192.0.2.80 VPN_DNS=10.9.0.53 VPN_A=203.0.113.80 VPN_OTHER=203.0.113.99
nm_far lan-ns lan0 192.0.2.254/24 "$LAN_DNS" host.home.test "$LAN_A"
ip -n lan-ns addr add "$VPN_DNS/32" dev lo
lab_start dns-vpn ip netns exec lan-ns dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --bind-interfaces --listen-address="$VPN_DNS" --pid-file= --user=root --local-ttl=1 --log-queries \
  --log-facility="$LAB_DIR/vpn.log" --host-record="host.corp.example,$VPN_A" --address=/example.net/$VPN_OTHER
wait_until 10000 ns_listening lan-ns "$VPN_DNS" || lab_abort "the VPN's dnsmasq did not start" dns-vpn
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"

resolved_up
NM_DNS=systemd-resolved NM_RC_MANAGER=unmanaged NM_SYSTEMD_RESOLVED=true nm_up lan0 vpn0
nm_ethernet lan lan0 192.0.2.1/24,192.0.2.254 "$LAN_DNS" home.test
nmcli connection up lan >/dev/null 2>&1 || lab_abort "nmcli connection up lan failed" nm
wait_until 5000 resolved_link_ready lan0
nm_ocserv_up full
LINK=$(readlink /etc/resolv.conf)

section "NetworkManager pushes its connection's DNS to resolved"
expect "resolvectl dns lan0: the connection's server (set by NM over D-Bus)" "$(resolvectl dns lan0 2>&1)" '~' "$LAN_DNS"
expect "/etc/resolv.conf is the stub symlink (NM leaves it alone)" "$LINK" = ../run/systemd/resolve/stub-resolv.conf

section "roamd takes over through resolved"
start_resolved_roamd
wait_until 5000 eval '[ -n "$(adapters_dns lan0)" ]'
LAST_CMD="roamctl adapters" ANS_TEXT=$(roamctl adapters 2>&1)
expect "roamctl adapters: lan0's DNS as NM pushed it to resolved" "$(adapters_dns lan0)" '~' \
  "dns: nameservers $LAN_DNS; search home.test"
expect "home.test -> the LAN's server, bound to lan0 (the original settings' route comes first)" \
  "$(routes_line home.test)" '~' "^home.test +system +- +lan0 .*$LAN_DNS:53"
resolve www.example.net
expect "an external name: stub -> roamd -> the cloud, with the identity" "$ANS_DATA" = "$CLOUD_A_TAGGED"
resolve host.home.test
expect "host.home.test: the LAN's server" "$ANS_DATA" = "$LAN_A"

section "a full-tunnel NetworkManager-managed OpenConnect VPN"
nm_openconnect_profile corp full
LAST_CMD="nmcli connection up corp" ANS_TEXT=$(timeout 40 nmcli --wait 30 connection up corp 2>&1)
expect "nmcli connection up corp: exit 0" "$?" = 0
expect "the default route goes through vpn0" "$(ip route show default | head -1)" '~' "dev vpn0"
wait_until 5000 resolved_link_ready vpn0
LAST_CMD="resolvectl status vpn0" ANS_TEXT=$(resolvectl status vpn0 2>&1)
expect "NM gave vpn0 the default DNS route ..." "$ANS_TEXT" '~' "\+DefaultRoute"
expect "... and no ~. routing domain" "$(resolvectl domain vpn0 2>&1)" '!~' '~\.'
expect_learned_route corp.example resolved vpn0 "$VPN_DNS" "corp.example (NM's push) -> the VPN's server, bound to vpn0"
tagged=0
for i in $(seq 1 12); do
  resolve "www$i.example.net"
  [ "$ANS_DATA" = "$CLOUD_A_TAGGED" ] && tagged=$((tagged + 1))
done
expect "12 names through the stub: all the cloud's, with the identity (roamd's global ~. beats DefaultRoute)" \
  "$tagged" = 12
expect "... the VPN's server saw none of them" "$(grep -c 'query\[A\] www[0-9]*\.example\.net ' "$LAB_DIR/vpn.log")" = 0
expect "roamd still protects by settings (nothing claims every name)" "$(arbiter_state)" = "protected by settings"
expect "no interception rules" "$(nft list tables 2>/dev/null | grep -c 'inet roamd$')" = 0
resolve host.corp.example
expect "host.corp.example: resolved sends it through the tunnel" "$ANS_DATA" = "$VPN_A"
nm_down_forgets corp corp.example

section "SIGTERM"
stop_resolved_roamd
resolve host.home.test
expect "host.home.test through the stub: the LAN's server (NM's settings survived resolved's restart)" \
  "$ANS_DATA" = "$LAN_A"
expect "/etc/resolv.conf is still the stub symlink" "$(readlink /etc/resolv.conf)" = "$LINK"
nm_down
lab_finish
