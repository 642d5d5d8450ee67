#!/usr/bin/env bash
# Network-state detection with the real roamd in the VPN lab (vpn_lab.sh): the LAN's resolver (dnsmasq in lan-ns)
# answers every name with $LAN_ANY; the cloud (dnsdist on loopback) is made unreachable with an nftables drop rule
# (on its answers) in the lab's own namespace. Scenarios:
#   open      the cloud goes silent: names still resolve, through the LAN's resolver untagged, the first answer
#             within 2 s (a fresh query every 100 ms); the cloud returns: tagged cloud answers again within 10 s;
#   closed    fail_mode = "closed": names for the cloud get SERVFAIL at once, the LAN's own domain still resolves;
#   protected the probe name answers the expected address through the LAN's resolver: roamd stands down
#             (resolv.conf back to the LAN's, byte for byte; roamctl status says why) and keeps answering on
#             loopback; the probe stops answering it and a link appears: roamd takes over again;
#   trusted   the trusted domain resolves to 10.1.2.3 through the LAN's resolver: roamd stands down;
#   rewriting the LAN's resolver answers names that do not exist (as an ISP's search page does): roamd finds it
#             out with a random name and keeps the cloud's NXDOMAIN instead of falling back to it; on an honest
#             network (after a link change) the fallback for local names works again.
# Timings are printed as "measure NAME MS" lines; with LAB_NETSTATE_ONLY=open the script stops after the open
# scenario (tools/bench's network-state rows repeat it and take the medians).
. "$(dirname "$0")/lib.sh"
lab_init "$@"
. "$LAB_HOME/vpn_lab.sh"
[ -x "${ROAMCTL:-}" ] || lab_skip "ROAMCTL (the roamctl binary) is not set"
vpn_lab_up

LAN_ANY=192.0.2.81
# lan_resolver DNSMASQ-OPTIONS...: the LAN's resolver afresh: host.home.test, every other name $LAN_ANY, plus options.
lan_resolver() {
  lab_stop dns-lan-ns
  far_resolver lan-ns "$LAN_DNS" "$LAB_DIR/lan.log" --host-record=host.home.test,$LAN_A --address=/#/$LAN_ANY "$@"
}
# cloud_silent / cloud_back: the cloud's answers dropped on their way in (timeouts, as on a network that swallows
# them; a drop on the way out would fail roamd's sends at once with EPERM, an easier case) / let through.
cloud_silent() {
  nft add table ip netlab && nft add chain ip netlab in '{ type filter hook input priority 0; }' &&
    nft add rule ip netlab in ip saddr "$CLOUD_IP" drop
}
cloud_back() { nft delete table ip netlab; }
network_line() { roamctl status | sed -n 's/^network: *//p'; }
network_is() { [[ "$(network_line)" == "$1"* ]]; }

# first_answer NAME T0 WANT LIMIT_MS: from T0 (Unix ms) on, a fresh name every 100 ms from one socket, as clients
# keep asking; prints the ms from T0 at which the first answer holding WANT arrived ("none" within LIMIT_MS).
first_answer() { dnsraw stream "$ROAMD_IP" "$1" "$3" "$2" "$4"; }

section "protected: the cloud answers, plain DNS"
lan_resolver
restart_vpn_roamd <<EOF
[network]
probe_interval_ms = 10000
EOF
wait_until 5000 network_is "protected"
expect "roamctl status: network protected over plain DNS" "$(network_line)" '~' '^protected \(plain DNS\)'
expect "roamctl status: the cloud probe" "$(roamctl status)" '~' "probe cloud $CLOUD_IP:53: ok"
resolve www.example.net
expect "an external name goes to the cloud with the identity" "$ANS_DATA" = "$CLOUD_A_TAGGED"

section "rewriting: the LAN's resolver answers names that do not exist, and is no NXDOMAIN fallback"
# lan_resolver answers every name with $LAN_ANY. The cloud says NXDOMAIN for the single-label nosuchhost and
# lanhost, names that can be local: on an honest network the fallback asks the LAN's resolver.
routes_say_rewriting() { roamctl routes | grep -q "rewrite NXDOMAIN"; }
routes_say_honest() { ! routes_say_rewriting; }
wait_until 5000 routes_say_rewriting
expect "roamctl status: the nxdomain probe (a random .com name) resolved" "$(roamctl status)" '~' \
  "NXDOMAIN rewritten by the network's resolvers .*: [a-z]{12}\.com → $LAN_ANY \(asked $LAN_DNS:53\)"
expect "roamctl routes: the LAN's resolver is no NXDOMAIN fallback, and why" "$(roamctl routes)" '~' \
  "no NXDOMAIN fallback: they rewrite NXDOMAIN \([a-z]{12}\.com → $LAN_ANY"
expect "roamd logged it" "$(grep -o 'network_state: the network.s resolvers rewrite NXDOMAIN.*' "$LAB_DIR/roamd.out")" \
  '~' 'no NXDOMAIN fallback on this network'
ask nosuchhost A
expect "a name the cloud says does not exist: the cloud's NXDOMAIN, not the rewriter's address" \
  "$ANS_STATUS $ANS_DATA" = "NXDOMAIN "
lan_resolver_honest() {
  lab_stop dns-lan-ns
  far_resolver lan-ns "$LAN_DNS" "$LAB_DIR/lan.log" --host-record=host.home.test,$LAN_A \
    --host-record=lanhost,$LAN_A --local=/com/
}
lan_resolver_honest
vpn_link_up || lab_abort "cannot create tun0"  # a link change: another network, asked again
wait_until 10000 routes_say_honest
expect "an honest network (NXDOMAIN for the random name): the fallback is back" "$(roamctl routes)" '!~' \
  'rewrite NXDOMAIN'
expect "roamctl status: the probe got NXDOMAIN" "$(roamctl status)" '~' \
  "NXDOMAIN answered honestly by the network's resolvers: NXDOMAIN from $LAN_DNS:53"
ask lanhost A
expect "the cloud's NXDOMAIN for a local name falls back to the honest LAN resolver" "$ANS_STATUS $ANS_DATA" = \
  "NOERROR $LAN_A"
vpn_link_down
lan_resolver

section "open: the cloud goes silent, names resolve through the LAN's resolver"
t0=$(now_ms)
cloud_silent || lab_abort "cannot install the drop rule"
open_ms=$(first_answer open "$t0" "$LAN_ANY" 10000)
echo "measure fail_open_first_answer_ms $open_ms"
expect "first answer through the LAN's resolver within 2 s ($open_ms ms)" "$open_ms" -le 2000
expect "roamd logged the transition with its reason" \
  "$(grep -o 'network_state: open: .*' "$LAB_DIR/roamd.out" | head -1)" '~' 'fail-open'
expect "roamctl status: network open" "$(network_line)" '~' '^open'
expect "roamctl events: the transition" "$(roamctl events)" '~' 'open: .*fail-open'
ask host.home.test A
expect "the LAN's own domain still resolves" "$ANS_DATA" = "$LAN_A"
ask "untagged.example.org" A
expect "names for the cloud: the LAN's answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $LAN_ANY"

section "the cloud returns: protected again within 10 s"
# The return falls anywhere in the probe cycle (rounds every 2 s while open, each waiting up to 1 s for the
# cloud): without this pause the checks above would always end at the same phase of it.
sleep "$(printf '0.%03d' $((RANDOM % 1000)))"; sleep "$((RANDOM % 3))"
t1=$(now_ms)
cloud_back
back_ms=$(first_answer back "$t1" "$CLOUD_A_TAGGED" 15000)
echo "measure protected_again_ms $back_ms"
expect "tagged cloud answers again within 10 s ($back_ms ms)" "$back_ms" -le 10000
wait_until 3000 network_is "protected"
expect "roamctl status: network protected" "$(network_line)" '~' '^protected'

section "open with two cloud resolvers (as Umbrella's two): the first answer within 2 s as well"
# Each resolver would need its own three failed queries, one query timeout apart, to be marked down: instead the
# first one marked down makes roamd ask the other at once, with 500 ms to answer.
CLOUD2_IP=127.0.10.2
start_upstream cloud2 "$CLOUD2_IP" "$CLOUD_PROFILE"
CLOUD_RESOLVERS="\"$CLOUD_IP:53\", \"$CLOUD2_IP:53\"" restart_vpn_roamd <<EOF
[network]
probe_interval_ms = 10000
EOF
wait_until 5000 network_is "protected"
t0=$(now_ms)
{ cloud_silent && nft add rule ip netlab in ip saddr "$CLOUD2_IP" drop; } || lab_abort "cannot install the drop rules"
open2_ms=$(first_answer open2 "$t0" "$LAN_ANY" 10000)
echo "measure fail_open_two_resolvers_ms $open2_ms"
expect "first answer through the LAN's resolver within 2 s with two cloud resolvers ($open2_ms ms)" "$open2_ms" -le 2000
expect "roamctl status: the headline says open, not protected" "$(roamctl status | sed -n 's/^state: *//p')" '~' \
  '^open: unprotected'
cloud_back
wait_until 10000 network_is "protected"
expect "the cloud returns: protected" "$(network_line)" '~' '^protected'
expect "roamctl status: the headline is protected again" "$(roamctl status | sed -n 's/^state: *//p')" '~' \
  '^protected by settings'

if [ "${LAB_NETSTATE_ONLY:-}" = open ]; then  # tools/bench's repetitions: the timed scenario only
  stop_roamd_term
  lab_keep_log
  lab_finish
fi

section "closed: fail_mode = closed answers SERVFAIL at once"
lan_resolver
restart_vpn_roamd <<EOF
[network]
fail_mode = "closed"
EOF
wait_until 5000 network_is "protected"
cloud_silent
lab_start stream bash -c "i=0; while :; do i=\$((i+1)); dig @$ROAMD_IP +time=2 +tries=1 c\$i.example.org >/dev/null 2>&1 & sleep 0.1; done"
wait_until 10000 roamd_log_has 'network_state: closed'
lab_stop stream
expect "roamd went fail-closed" "$(grep -o 'network_state: closed: .*' "$LAB_DIR/roamd.out" | head -1)" '~' 'SERVFAIL'
ask closed.example.org A
expect "a name for the cloud: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... at once ($ANS_MS ms with dig's start)" "$ANS_MS" -le 500
ask host.home.test A
expect "the LAN's own domain still resolves" "$ANS_DATA" = "$LAN_A"
cloud_back
wait_until 10000 network_is "protected"
expect "the cloud returns: protected" "$(network_line)" '~' '^protected'
ask back.example.org A
expect "tagged cloud answers again" "$ANS_DATA" = "$CLOUD_A_TAGGED"

section "behind a protected network: stand down, take over again when it stops"
lan_resolver --host-record=probe.test,203.0.113.7
restart_vpn_roamd <<EOF
[network]
protected_probe_name = "probe.test"
protected_probe_address = "203.0.113.7"
EOF
wait_until 15000 roamd_log_has 'conflict_arbiter: stand down'
expect "the arbiter stood down, saying why" "$(roamctl status | sed -n 's/^state: *//p')" '~' \
  '^stood down: behind a protected network \(probe.test → 203.0.113.7\)'
expect "resolv.conf is the LAN's original, byte for byte" "$(cat /etc/resolv.conf)" = "$(printf '%s' "$LAN_RESOLV")"
expect "roamctl status: network state" "$(network_line)" '~' '^behind a protected network'
ask www.example.com A
expect "roamd keeps answering on loopback" "$ANS_DATA" = "$CLOUD_A_TAGGED"
lan_resolver
t0=$(now_ms)
vpn_link_up || lab_abort "cannot create tun0"
wait_until 10000 resolv_names_are "$ROAMD_IP"
retake_ms=$(($(now_ms) - t0))
expect "the probe fails after a link change: taken again ($retake_ms ms)" "$(resolv_names)" = "$ROAMD_IP"
expect "... at once, not at the next 10 s round" "$retake_ms" -le 5000
expect "the take says why" "$(grep -o 'conflict_arbiter: take: network: .*' "$LAB_DIR/roamd.out" | tail -1)" '~' \
  'the cloud answers'
vpn_link_down

section "trusted network: the trusted domain resolves to a private address"
lan_resolver --host-record=corp.example,10.1.2.3
restart_vpn_roamd <<EOF
[network]
trusted_domain = "corp.example"
EOF
wait_until 15000 roamd_log_has 'conflict_arbiter: stand down'
expect "the arbiter stood down: trusted network" "$(roamctl status | sed -n 's/^state: *//p')" '~' \
  '^stood down: trusted network \(corp.example → 10.1.2.3\), since'
expect "roamctl status: network state" "$(network_line)" "~" "^trusted network"
expect "resolv.conf is the LAN's original" "$(cat /etc/resolv.conf)" = "$(printf '%s' "$LAN_RESOLV")"
resolve host.home.test
expect "the system resolves through the LAN's resolver itself" "$ANS_DATA" = "$LAN_A"
expect "roamctl events: stand down with the reason" "$(roamctl events)" '~' 'stand down.*trusted network'

stop_roamd_term
expect "roamd stops cleanly" "$ROAMD_RC" = 0
expect "resolv.conf is the LAN's after the stop" "$(cat /etc/resolv.conf)" = "$(printf '%s' "$LAN_RESOLV")"
lab_keep_log
lab_finish
