#!/usr/bin/env bash
# roamd's resolved backend against Debian's real systemd-resolved with VPN software that talks to resolved itself:
#   - per-link settings learned over D-Bus: lan0's server and routing domain (~lan.example) show in `roamctl adapters`
#     and become a route bound to lan0 in `roamctl routes`;
#   - a split-tunnel VPN by Debian's vpnc-script (OpenConnect's; with resolved running it calls `resolvectl dns tun0`
#     and `resolvectl domain tun0 corp.example`, and `resolvectl revert tun0` on disconnect): learned within the poll
#     (arbitration.link_settings_poll_ms), corp.example names reach the VPN's server (resolved routes them), others
#     the cloud with the identity; gone again after the disconnect;
#   - a full tunnel claiming every name: wg-quick's `resolvconf -a tun0 -m 0 -x` (systemd's resolvconf, i.e.
#     resolvectl, sets DNS and "~." on tun0). resolved would then ask the VPN's server as well as roamd for every name
#     and take the first answer (here the VPN's server answers every example.net name with $VPN_OTHER): roamd
#     intercepts port 53, so every answer is the cloud's, tagged; `resolvconf -d tun0` ends the claim and roamd
#     returns to protection by settings (rules gone, nothing written). A name only the VPN knows still resolves: the
#     cloud says NXDOMAIN and roamd asks the VPN's server (its learned fallback), exempt from the interception;
#   - SIGTERM: the drop-in goes, resolved is restarted, lan0's and the stub's settings are as before.
# vpnc-script looks for /usr/bin/resolvectl: the package's usr/ is overlaid on /usr in the lab's mount namespace.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resolved_lab.sh"
resolved_lab_init "$@"
. "$(dirname "$0")/vpn_lab.sh"
[ -x "${ROAMCTL:-}" ] || lab_skip "ROAMCTL (the roamctl binary) is not set"
LAN_DNS=192.0.2.53 VPN_OTHER=203.0.113.99

mount -t overlay lab-usr -o "lowerdir=$RESOLVED_ROOT/usr:/usr" /usr || lab_abort "cannot overlay the package on /usr"
sed -i 's/^hosts:.*/hosts:          files resolve [!UNAVAIL=return] dns/' /etc/nsswitch.conf  # as on a resolved system
mkdir -p "$LAB_DIR/wg" && ln -s "$RESOLVECTL" "$LAB_DIR/wg/resolvconf"  # what wg-quick runs as `resolvconf`

resolved_lan_up
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
far_ns vpn-ns || lab_abort "cannot create vpn-ns"
far_resolver vpn-ns "$VPN_DNS" "$LAB_DIR/vpn.log" --host-record=host.$VPN_DOMAIN,$VPN_A \
  --host-record=wiki.nosuchhost,$VPN_A --address=/example.net/$VPN_OTHER
resolved_up
resolvectl dns lan0 "$LAN_DNS" && resolvectl domain lan0 '~lan.example' && resolvectl default-route lan0 true ||
  lab_abort "cannot give lan0 its DNS settings"
wait_until 5000 resolved_link_ready lan0

start_resolved_roamd

vpn_queries_for() { grep -c "query\[A\] $1 " "$LAB_DIR/vpn.log"; }

section "per-link settings learned over D-Bus (resolve1.Manager DNS/Domains)"
expect_learned_route lan.example resolved lan0 "$LAN_DNS" "roamctl routes: lan.example -> lan0's server, bound to lan0, source resolved"
LAST_CMD="roamctl adapters" ANS_TEXT=$(roamctl adapters 2>&1)
expect "roamctl adapters: lan0's server and routing domain" "$(adapters_dns lan0)" '~' \
  "dns: nameservers $LAN_DNS; search -; routing ~lan.example"
resolve www.lan.example
expect "www.lan.example through the stub: lan0's server (resolved's own routing)" "$ANS_DATA" = "$LAN_HOST_A"

section "split-tunnel VPN: Debian's vpnc-script sets tun0's DNS and domain through resolvectl"
vpn_tun_up || lab_abort "cannot bring the tun up"
vpnc_script connect || lab_abort "vpnc-script connect failed"
expect "vpnc-script used resolved (tun0's DNS as resolvectl shows it)" "$(resolvectl dns tun0 2>&1)" '~' "$VPN_DNS"
wait_until 5000 resolved_link_ready tun0
expect_learned_route corp.example resolved tun0 "$VPN_DNS" "learned within the poll: corp.example -> the VPN's server, bound to tun0"
resolve host.corp.example
expect "host.corp.example through the stub: the VPN's server" "$ANS_DATA" = "$VPN_A"
resolve www.example.net
expect "www.example.net: stub -> roamd -> the cloud, with the identity" "$ANS_DATA" = "$CLOUD_A_TAGGED"
expect "... the VPN's server never saw it" "$(vpn_queries_for www.example.net)" = 0
expect "no interception for a split tunnel" "$(interception_rules)" = absent
vpnc_script disconnect
wait_until 5000 eval '! route_has corp.example tun0'
expect "after the disconnect (resolvectl revert) the route is gone" "$(routes_line corp.example)" = ""
vpn_tun_down

section "full tunnel claiming every name: wg-quick's resolvconf -a tun0 -m 0 -x (~. on tun0)"
vpn_tun_up || lab_abort "cannot bring the tun up"
printf 'nameserver %s\n' "$VPN_DNS" | "$LAB_DIR/wg/resolvconf" -a tun0 -m 0 -x ||
  lab_abort "resolvconf -x (resolvectl's compat mode) failed"
expect "resolved: tun0 has ~." "$(resolvectl domain tun0 2>&1)" '~' '~\.'
wait_until 5000 resolved_link_ready tun0
wait_until 8000 eval '[ "$(arbiter_state)" = "protected by interception" ]'
expect "roamd intercepts" "$(arbiter_state)" = "protected by interception"
expect "... and says why" "$(arbiter_log intercept)" '~' "tun0 claims every name in systemd-resolved \(~\.\) for $VPN_DNS:53"
expect "the interception rules are in" "$(interception_rules)" = present
tagged=0 other=0
for i in $(seq 1 12); do
  resolve "www$i.example.net"
  [ "$ANS_DATA" = "$CLOUD_A_TAGGED" ] && tagged=$((tagged + 1))
  [ "$ANS_DATA" = "$VPN_OTHER" ] && other=$((other + 1))
done
expect "12 names through the stub: all the cloud's, with the identity" "$tagged" = 12
expect "... none the VPN server's answer" "$other" = 0
expect "... which got none of them (resolved's queries to it were redirected to roamd)" \
  "$(grep -c 'query\[A\] www[0-9]*\.example\.net ' "$LAB_DIR/vpn.log")" = 0
resolve wiki.nosuchhost
expect "a name only the VPN knows (the cloud: NXDOMAIN): its server answers (the fallback; roamd's queries are exempt)" \
  "$ANS_DATA" = "$VPN_A"
writes=$(roamd_writes)
"$LAB_DIR/wg/resolvconf" -d tun0 -f
wait_until 8000 eval '[ "$(arbiter_state)" = "protected by settings" ]'
expect "resolvconf -d tun0: back to protection by settings" "$(arbiter_state)" = "protected by settings"
expect "... because the claim went" "$(arbiter_log 'return to settings')" '~' "no link claims every name any more"
expect "the interception rules are gone" "$(interception_rules)" = absent
expect "roamd wrote nothing for it (its drop-in was never contested)" "$(roamd_writes)" = "$writes"
vpn_tun_down

section "SIGTERM"
stop_resolved_roamd
resolve www.lan.example
expect "lan0's server answers through the stub again" "$ANS_DATA" = "$LAN_HOST_A"
expect "resolved logged no failure" "$(grep -ciE 'failed to (start|bind|listen)|assertion' "$LAB_DIR/resolved.out")" = 0
lab_finish
