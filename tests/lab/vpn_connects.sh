#!/usr/bin/env bash
# No false fail-open when a VPN connects (issue 13). The VPN lab (vpn_lab.sh) with the cloud where a real one is:
# behind the LAN link, in lan-ns at $FAR_CLOUD (a benchmarking address, RFC 2544), and, for full tunnels, a copy of it
# at the same address in vpn-ns, reached through the tunnel. The cloud answers all along. Each of $VPN_CONNECTS
# cycles (default 10) brings a real tun device up, runs Debian's vpnc-script connect (split tunnel, and every other
# cycle a full tunnel that moves the default route, and so the cloud's path, into the tunnel), waits for two probe
# rounds of the network-state actor after it, then disconnects and removes the tun and waits for two rounds more.
# A client asks a fresh external name every 100 ms throughout. Checks: roamd never went fail-open (no
# "network_state: open" and the route never left the cloud), and no answer came from anywhere but the cloud with
# the identity; prints the counts, and the answers lost while the routes moved.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need resolvconf
[ -x /usr/share/vpnc-scripts/vpnc-script ] || lab_skip "vpnc-scripts is not installed"
[ -x "${ROAMCTL:-}" ] || lab_skip "ROAMCTL (the roamctl binary) is not set"
. "$LAB_HOME/vpn_lab.sh"
trap 'lab_keep_log; lab_cleanup' EXIT
vpn_lab_up
CONNECTS=${VPN_CONNECTS:-10}
FAR_CLOUD=198.18.0.53
rounds() { roamctl status | sed -n 's/^network: .* \([0-9]*\) round(s).*/\1/p'; }
rounds_past() { local r; r=$(rounds); [ -n "$r" ] && [ "$r" -ge "$1" ]; }
# two_rounds: waits (bounded) until the network-state actor finished two probe rounds after now: the round a link
# change starts and the one that would confirm a failure.
two_rounds() { local r0; r0=$(rounds); wait_until 15000 rounds_past $((r0 + 2)); }

# vpnc-script's generic path, as in arbitration_real_vpn.sh (a): /sbin/resolvconf hidden in this mount namespace.
: >"$LAB_DIR/no-resolvconf"
mount --bind "$LAB_DIR/no-resolvconf" "$(readlink -f /sbin/resolvconf)" || lab_abort "cannot hide resolvconf"
start_upstream cloud-lan "$FAR_CLOUD" "$CLOUD_PROFILE" lan-ns
start_upstream cloud-vpn "$FAR_CLOUD" "$CLOUD_PROFILE" vpn-ns
# Rounds every second (the defaults are 10 s unsettled, 60 s stable): more rounds during the link churn, more chances for a
# false fail-open, and the cycles go faster.
CLOUD_RESOLVERS="\"$FAR_CLOUD:53\"" start_vpn_roamd <<<"$ARB_TOML"$'\n[network]\nprobe_interval_ms = 1000\nstable_probe_interval_ms = 1000'
wait_until 10000 eval '[[ "$(roamctl status)" == *"network:    protected"* ]]' ||
  lab_abort "the network state did not reach protected" cloud-lan
ask www.example.net A
expect "the cloud behind the LAN answers with the identity" "$ANS_DATA" = "$CLOUD_A_TAGGED"

section "$CONNECTS VPN connects and disconnects (vpnc-script; every other one a full tunnel)"
rm -f "$LAB_DIR/tally.stop"
lab_start tally "$LAB_PYTHON" "$LAB_HOME/dnsraw.py" tally "$ROAMD_IP" vpnc "$LAB_DIR/tally.stop"
t0=$(now_ms) cycles=0 full=0 stuck=0
for ((i = 1; i <= CONNECTS; i++)); do
  kind=split
  ((i % 2 == 0)) && kind=full && full=$((full + 1))
  vpn_tun_up || lab_abort "cannot bring the tun up (cycle $i)"
  vpnc_script connect "$kind" || lab_abort "vpnc-script connect failed (cycle $i)"
  two_rounds || stuck=$((stuck + 1))
  vpnc_script disconnect "$kind"
  vpn_tun_down
  two_rounds || stuck=$((stuck + 1))
  cycles=$i
done
elapsed=$(($(now_ms) - t0))
touch "$LAB_DIR/tally.stop"
wait_until 5000 eval '! alive tally'
tally=$(cat "$LAB_DIR/tally.out")
sent=$(sed -n 's/^sent //p' <<<"$tally")
tagged=$(sed -n "s/^NOERROR $CLOUD_A_TAGGED //p" <<<"$tally")
lost=$(sed -n 's/^noanswer //p' <<<"$tally")
others=$(grep -vE "^(sent|noanswer|NOERROR $CLOUD_A_TAGGED) " <<<"$tally" | paste -sd, -)
opens=$(grep -c 'network_state: open' "$LAB_DIR/roamd.out")
# Rounds that failed once and were not taken as the cloud being gone (the guard at work; the issue saw 2 in 10
# connects turn into a fail-open).
unconfirmed=$(grep -c 'not yet taken as the cloud being gone' "$LAB_DIR/roamd.out")
echo "measure vpn_connects $cycles"
echo "measure vpn_connects_full_tunnel $full"
echo "measure vpn_connects_false_fail_open $opens"
echo "measure vpn_connects_unconfirmed_failed_rounds $unconfirmed"
echo "measure vpn_connects_queries $sent"
echo "measure vpn_connects_tagged ${tagged:-0}"
echo "measure vpn_connects_unanswered ${lost:-0}"
echo "measure vpn_connects_seconds $((elapsed / 1000))"
expect "$CONNECTS connect/disconnect cycles ran" "$cycles" = "$CONNECTS"
expect "every cycle saw its two probe rounds" "$stuck" = 0
expect "no false fail-open in $cycles connects ($full full tunnels)" "$opens" = 0
expect "the cloud route never left the cloud" "$(grep -c 'query_router: cloud route FAIL' "$LAB_DIR/roamd.out")" = 0
expect "no answer came from anywhere but the cloud with the identity (${others:-none})" "${others:-}" = ""
expect "most of the $sent queries answered by the cloud, tagged (${tagged:-0}; unanswered ${lost:-0})" \
  "$((${tagged:-0} * 100 / (sent > 0 ? sent : 1)))" -ge 95
expect "the cloud in lan-ns got queries" "$(wc -l <"$LAB_DIR/cloud-lan.queries")" -gt 0
expect "... and the one through the full tunnels too" "$(wc -l <"$LAB_DIR/cloud-vpn.queries")" -gt 0

stop_roamd_term
expect "roamd stops cleanly" "$ROAMD_RC" = 0
expect "resolv.conf is the LAN's after the stop" "$(cat /etc/resolv.conf)" = "$(printf '%s' "$LAN_RESOLV")"
lab_finish
