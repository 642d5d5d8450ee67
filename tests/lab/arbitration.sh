#!/usr/bin/env bash
# Conflict arbitration with the real roamd against scripted VPN behaviour (tools/vpnsim) in the VPN lab
# (vpn_lab.sh): a VPN that connects by rename is adopted (its domain routed to its server through the tunnel) and
# the settings taken back once; a fighter that restores its file 50 ms after any change makes roamd intercept
# port 53 after the third contest instead of a rewrite war, with internal names still reaching the VPN's server
# through the tunnel and external names the cloud with the identity; when the tunnel goes, protection by settings
# is back within a second; kill -9 while intercepting leaves no black hole (the rules die with roamd) and
# `roamd --restore` cleans up the journals.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
. "$LAB_HOME/vpn_lab.sh"
vpn_lab_up
start_vpn_roamd <<EOF
[arbitration]
quiet_ms = 300
cap_ms = 3000
EOF

section "protected by settings"
expect "resolv.conf names roamd" "$(resolv_names)" = "$ROAMD_IP"
resolve www.example.net
expect "an external name goes to the cloud with the identity" "$ANS_DATA" = "$CLOUD_A_TAGGED"
resolve host.home.test
expect "the LAN's search domain goes to the LAN's resolver" "$ANS_DATA" = "$LAN_A"

section "a VPN connects (resolv.conf replaced by rename): adopted, taken back once"
vpn_link_up || lab_abort "cannot create tun0"
vpn connect --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --method rename
expect "vpnsim connected" "$VS_RC" = 0
wait_until 5000 roamd_log_has 'conflict_arbiter: adopt and take back'
expect "roamd adopted the VPN's settings, bound to the tunnel" \
  "$(grep -m1 -o 'conflict_arbiter: adopt and take back: [^:]*' "$LAB_DIR/roamd.out")" = \
  "conflict_arbiter: adopt and take back: VPN script (tun0) set 10.8.0.1"
wait_until 3000 resolv_names_are "$ROAMD_IP"
expect "resolv.conf names roamd again" "$(resolv_names)" = "$ROAMD_IP"
expect "roamd wrote twice in all (take, take back)" "$(roamd_writes)" = 2
expect_split split host.$VPN_DOMAIN www2.example.net

section "the VPN fights back: intercepted after three contests, no rewrite war"
lab_start fighter "$VPNSIM" --i-am-in-a-lab fight --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --react-ms 50 --marker
wait_until 10000 arbiter_is "protected by interception"
expect "roamd intercepts" "$(arbiter_state)" = "protected by interception"
expect "the nftables table is installed" "$(interception_rules)" = present
expect "the interception journal exists" "$([ -e "$STATE_DIR/interception.journal" ] && echo yes)" = yes
writes_fight=$(roamd_writes)
expect "roamd wrote at most 3 times after its take (here: take + 2 takes back)" "$((writes_fight - 1))" -le 3
t0=$(now_ms)
while [ $(($(now_ms) - t0)) -lt 1500 ]; do sleep 0.1; done  # a window in which a rewrite war would show
expect "no more writes while intercepting" "$(roamd_writes)" = "$writes_fight"
expect "the fighter keeps its file" "$(resolv_names)" = "$VPN_DNS"
expect_split split db.$VPN_DOMAIN www3.example.net
ask_at "$VPN_DNS" www4.example.net A
expect "dig @VPN-server is intercepted too" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
lab_stop fighter

section "the VPN goes away: protection by settings within a second"
t0=$(now_ms)
vpn_link_down
expect_back_to_settings "the link went" "$t0"
resolve host.home.test
expect "the LAN's domain works again" "$ANS_DATA" = "$LAN_A"

section "kill -9 while intercepting: no black hole; --restore cleans up"
vpn_link_up || lab_abort "cannot create tun0 again"
lab_start fighter "$VPNSIM" --i-am-in-a-lab fight --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --react-ms 50 --marker
wait_until 10000 arbiter_is "protected by interception"
expect "intercepting again" "$(arbiter_state)" = "protected by interception"
lab_stop fighter
kill -KILL "${LAB_PIDS[roamd]}"
wait "${LAB_PIDS[roamd]}" 2>/dev/null
unset "LAB_PIDS[roamd]"
wait_until 2000 rules_absent
expect "the rules died with roamd" "$(interception_rules)" = absent
before=$(vpn_queries host.$VPN_DOMAIN)
resolve host.$VPN_DOMAIN
expect "queries reach the VPN's server directly" "$ANS_DATA" = "$VPN_A"
expect "... which saw it" "$(vpn_queries host.$VPN_DOMAIN)" -gt "$before"
"$ROAMD" --restore --config "$LAB_DIR/roamd.toml" >"$LAB_DIR/restore.out" 2>&1
expect "roamd --restore succeeds" "$?" = 0
expect "... removed the interception journal" "$([ -e "$STATE_DIR/interception.journal" ] && echo left || echo gone)" = gone
expect "... and the takeover journal" "$([ -e "$STATE_DIR/takeover.journal" ] && echo left || echo gone)" = gone
expect "... leaving the VPN's own file (someone else's now)" "$(resolv_names)" = "$VPN_DNS"

lab_finish
