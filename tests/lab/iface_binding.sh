#!/usr/bin/env bash
# Binding upstream queries to a route's link. The same resolver address, 198.51.100.53, answers behind two links
# with different data: "lan0" (the default route) and "vpn0" (no route to the resolver at all), each a veth pair
# whose far end is in its own network namespace with its own dnsmasq. The data plane (tests/lab/lab_dataplane: the
# real net::dataplane, since roamd's configuration cannot name a route's link yet) sends corp.test to
# 198.51.100.53%vpn0: the answer must come from the VPN side, over UDP and over TCP, also after the link is
# recreated with a new ifindex. A link that does not exist fails over at once and is logged once; a loopback
# resolver is never bound.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need dnsmasq
LAB_DATAPLANE=${LAB_DATAPLANE:-}
[ -n "$LAB_DATAPLANE" ] && [ -x "$LAB_DATAPLANE" ] || lab_skip "LAB_DATAPLANE (tests/lab_dataplane) is not built"

RESOLVER=198.51.100.53
LAN_A=192.0.2.80 VPN_A=203.0.113.80 LOOP_A=192.0.2.81
LOOP_IP=127.0.30.53
DP_IP=$ROAMD_IP DP2_IP=127.0.2.54

# `ip netns` keeps its handles under /run/netns: a private /run for this lab.
mount -t tmpfs -o size=1m,mode=0755 lab-run /run
mkdir -p /run/netns

# far_link NAME NS ADDR/24 FAR_ADDR/24: veth NAME here, NAME-far in namespace NS (which holds the resolver).
far_link() {
  local name=$1 ns=$2 near=$3 far=$4
  ip link add "$name" type veth peer name "$name-far" netns "$ns" || return 1
  ip addr add "$near" dev "$name" && ip link set "$name" up || return 1
  ip -n "$ns" addr add "$far" dev "$name-far" && ip -n "$ns" link set "$name-far" up
}

# far_dnsmasq NAME OPTIONS...: dnsmasq for $RESOLVER inside NAME-ns, queries logged to $LAB_DIR/NAME.log.
far_dnsmasq() {
  local name=$1; shift
  lab_start "$name" ip netns exec "$name-ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
    --no-hosts --bind-interfaces --listen-address="$RESOLVER" --pid-file= --user=root --local-ttl=300 \
    --edns-packet-max=1232 --log-queries --log-facility="$LAB_DIR/$name.log" "$@"
  wait_until 10000 ns_listening "$name-ns" "$RESOLVER" || lab_abort "dnsmasq in $name-ns did not start" "$name"
}

big_txt() {  # a TXT RRset of ~1.6 KB: over UDP, dnsmasq answers TC=1 (edns-packet-max 1232)
  local i
  for i in 1 2 3 4 5 6 7 8; do printf -- '--txt-record=big.corp.test,%s-%s-%0180d\n' "$1" "$i" 0; done
}

for side in lan vpn; do
  ip netns add "$side-ns"
  ip -n "$side-ns" link set lo up
  ip -n "$side-ns" addr add "$RESOLVER/32" dev lo   # the far end answers ARP for it (arp_ignore 0)
done
far_link lan0 lan-ns 192.0.2.1/24 192.0.2.254/24 || lab_abort "cannot create the lan0 veth pair"
far_link vpn0 vpn-ns 203.0.113.1/24 203.0.113.254/24 || lab_abort "cannot create the vpn0 veth pair"
ip route add default via 192.0.2.254 dev lan0
mapfile -t lan_txt < <(big_txt lan)
mapfile -t vpn_txt < <(big_txt vpn)
far_dnsmasq lan --host-record=host.corp.test,$LAN_A --host-record=db.corp.test,$LAN_A --host-record=www.example,$LAN_A \
  --host-record=host2.corp.test,$LAN_A --host-record=host3.corp.test,$LAN_A "${lan_txt[@]}"
far_dnsmasq vpn --host-record=host.corp.test,$VPN_A --host-record=db.corp.test,$VPN_A --host-record=host2.corp.test,$VPN_A \
  --host-record=host3.corp.test,$VPN_A --host-record=other.nosuch.test,$VPN_A "${vpn_txt[@]}"
start_dnsmasq loop "$LOOP_IP" --host-record=lo.test,$LOOP_A

lab_start dp "$LAB_DATAPLANE" --listen "$DP_IP:53" --default "$RESOLVER:53" \
  --route "corp.test=$RESOLVER:53%vpn0" \
  --route "nosuch.test=$RESOLVER:53%nosuch0,$RESOLVER:53%vpn0" \
  --route "lo.test=$LOOP_IP:53%vpn0" \
  --timeout-ms 800 --attempts 2 --rotation-ms 2000 --cache 0
wait_until 10000 listening "$DP_IP" || lab_abort "lab_dataplane did not listen on $DP_IP:53" dp
# A second one that never rotates its ports: after a reconnect only the failed send (ENODEV) can make it rebuild.
lab_start dp2 "$LAB_DATAPLANE" --listen "$DP2_IP:53" --default "$RESOLVER:53" --route "corp.test=$RESOLVER:53%vpn0" \
  --timeout-ms 800 --attempts 2 --rotation-ms 0 --cache 0
wait_until 10000 listening "$DP2_IP" || lab_abort "lab_dataplane did not listen on $DP2_IP:53" dp2

# dp_sockets LINK: how many UDP sockets of the data plane are bound to LINK (ss shows them as ADDR%LINK:PORT).
dp_sockets() { ss -Hunap | grep "pid=${LAB_PIDS[dp]}," | grep -c "%$1:"; }
# counter UPSTREAM FIELD [NAME]: data plane NAME's (default dp) latest cumulative counter for UPSTREAM
# ("198.51.100.53:53%vpn0").
counter() {
  local v
  v=$(grep "^upstream $1 " "$LAB_DIR/${3:-dp}.out" | tail -1 | sed -n "s/.* $2=\([0-9]*\).*/\1/p")
  echo "${v:-0}"
}
counter_at_least() { [ "$(counter "$1" "$2" "${4:-dp}")" -ge "$3" ]; }
no_bound_sockets() { [ "$(dp_sockets "$1")" = 0 ]; }

section "control: without binding, $RESOLVER is reached through the default route (lan0)"
ask_at "$RESOLVER" host.corp.test
expect "dig @$RESOLVER host.corp.test: the LAN's answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $LAN_A"
ask www.example
expect "default route through the data plane (unbound): the LAN's answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $LAN_A"

section "corp.test goes to $RESOLVER%vpn0"
ask db.corp.test
bound=$(dp_sockets vpn0)
expect "db.corp.test: the VPN's answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
expect "the data plane has UDP sockets bound to vpn0" "$bound" -ge 1
expect "the VPN resolver saw it, from the vpn0 address" "$(grep -c 'query\[A\] db.corp.test from 203.0.113.1' "$LAB_DIR/vpn.log")" = 1
expect "the LAN resolver never saw it" "$(grep -c 'query\[A\] db.corp.test' "$LAB_DIR/lan.log")" = 0
ask +bufsize=4096 +ignore big.corp.test TXT
txt=$(grep -c 'TXT.*"vpn-' <<<"$ANS_TEXT")
expect "big.corp.test TXT (TC over UDP -> TCP over vpn0): all 8 VPN records" "$ANS_STATUS $txt $(has_flag tc)" = "NOERROR 8 no"
expect "the VPN resolver got the TCP retry" "$(grep -c 'query\[TXT\] big.corp.test from 203.0.113.1' "$LAB_DIR/vpn.log")" -ge 2
# The counters reach lab_dataplane's output in batches (every 100 ms): waited for, bounded.
wait_until 2000 counter_at_least "$RESOLVER:53%vpn0" tcp_fallbacks 1
expect "the data plane counted one TCP fallback to $RESOLVER:53%vpn0" "$(counter "$RESOLVER:53%vpn0" tcp_fallbacks)" -ge 1

section "idle bound sockets are closed after a rotation period and reopened on use"
expect "no socket bound to vpn0 once idle" "$(wait_until 8000 no_bound_sockets vpn0 && echo closed || echo open)" = closed
ask host3.corp.test
expect "host3.corp.test after the idle close: the VPN's answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"

section "the VPN link is recreated (new ifindex)"
old_index=$(ip -o link show vpn0 | cut -d: -f1)
ask host.corp.test  # sockets bound to the old link, in use
ask_at "$DP2_IP" host.corp.test
expect "the non-rotating data plane: the VPN's answer before the reconnect" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
ip link del vpn0
far_link vpn0 vpn-ns 203.0.113.1/24 203.0.113.254/24 || lab_abort "cannot recreate the vpn0 veth pair"
new_index=$(ip -o link show vpn0 | cut -d: -f1)
expect "vpn0 has a new ifindex" "$new_index" != "$old_index"
ask host2.corp.test
expect "host2.corp.test right after the reconnect: the VPN's answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
expect "... without waiting for a timeout" "$ANS_QMS" -lt 800
ask_at "$DP2_IP" host3.corp.test
expect "the non-rotating data plane: the VPN's answer after the reconnect (rebuilt on ENODEV)" \
  "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
expect "... without waiting for a timeout" "$ANS_QMS" -lt 800
wait_until 3000 counter_at_least "$RESOLVER:53%vpn0" send_errors 1 dp2
expect "... after one send on the old link failed" "$(counter "$RESOLVER:53%vpn0" send_errors dp2)" = 1
expect "the LAN resolver never saw host2.corp.test or host3.corp.test" \
  "$(grep -c 'query\[A\] host[23].corp.test' "$LAB_DIR/lan.log")" = 0

section "a link that does not exist: a send error, fail-over at once, logged once"
for i in 1 2 3 4 5; do
  ask other.nosuch.test
  expect "other.nosuch.test #$i: answered by the next resolver ($RESOLVER%vpn0)" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
done
expect "... without waiting for a timeout" "$ANS_QMS" -lt 800
wait_until 3000 counter_at_least "$RESOLVER:53%nosuch0" send_errors 5
expect "send errors counted for $RESOLVER:53%nosuch0" "$(counter "$RESOLVER:53%nosuch0" send_errors)" -ge 5
expect "nothing was sent to $RESOLVER:53%nosuch0" "$(counter "$RESOLVER:53%nosuch0" sent)" = 0
expect "the missing link is logged once, not per query" "$(grep -c 'bound to link nosuch0' "$LAB_DIR/dp.out")" = 1

section "a loopback resolver is never bound"
ask lo.test
expect "lo.test ($LOOP_IP%vpn0): answered" "$ANS_STATUS $ANS_DATA" = "NOERROR $LOOP_A"

[ "$LAB_FAILS" = 0 ] || show_logs dp dp2
lab_finish
