#!/usr/bin/env bash
# Links and routes as roamd sees them (rtnetlink), in the lab's network namespace: a veth pair as the LAN adapter
# and a tun device held open by a small process (so it has carrier) as the VPN. roamd takes over a resolv.conf
# naming 198.51.100.53 with search corp.test, so corp.test is routed to that server ("system"), and the routing log
# says which link the kernel would use to reach it ("via"): the LAN, then the tun once it brings a more specific
# route to 198.51.100.0/24, then the LAN again when the tun is gone (its routes vanish without DELROUTE events).
# A tun nobody holds has no carrier and is never the way out. Link changes show in `adapter_monitor: links:`.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
[ -c /dev/net/tun ] || lab_skip "/dev/net/tun is missing"

lab_private_etc
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
ROAMD_SYSTEM_TOML=$(takeover_system_toml file)
NS=198.51.100.53

# The LAN: v0 (ours) <-> v0peer, both ends here, so both have carrier; default route through it.
ip link add v0 type veth peer name v0peer || lab_abort "cannot create a veth pair"
ip addr add 192.0.2.10/24 dev v0
ip link set v0 up
ip link set v0peer up
ip route add default via 192.0.2.1 dev v0 || lab_abort "cannot add the default route"

cat >"$LAB_DIR/tunhold.py" <<'PY'
# Creates (or attaches to) tun device argv[1] and holds it open, so it has carrier; the device goes with the process.
import fcntl, os, signal, struct, sys
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", sys.argv[1].encode(), IFF_TUN | IFF_NO_PI))
print("holding", sys.argv[1], flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    signal.pause()
PY

printf '# the LAN'"'"'s resolver\nnameserver %s\nsearch corp.test\noptions timeout:1 attempts:1\n' "$NS" \
  >/etc/resolv.conf
cp /etc/resolv.conf "$LAB_DIR/resolv.before"

# last_generation: the number of the last routing generation roamd logged.
last_generation() {
  grep -o 'query_router: routing generation [0-9]*' "$LAB_DIR/roamd.out" | tail -1 | awk '{print $4}'
}
# corp_route: the corp.test line of the last routing generation.
corp_route() {
  awk '/query_router: routing generation/ {block = ""; next} /^  / {block = block $0 "\n"} END {printf "%s", block}' \
    "$LAB_DIR/roamd.out" | grep -m1 '^  corp.test -> ' | sed 's/^ *//'
}
corp_route_is() { [ "$(corp_route)" = "$1" ]; }
last_links() { grep 'adapter_monitor: links:' "$LAB_DIR/roamd.out" | tail -1 | sed 's/.*adapter_monitor: links: //'; }
last_links_match() { [[ $(last_links) =~ $1 ]]; }
kernel_dev() { ip -o route get "$NS" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p'; }

start_cloud_roamd
wait_until 10000 roamd_log_has 'dns_enforcer: (protecting|not_taken|failed)'
LAST_CMD="" ANS_TEXT=$(grep -e dns_enforcer -e 'adapter_monitor: links' "$LAB_DIR/roamd.out")
expect "roamd took over resolv.conf (protecting)" "$(grep -c 'dns_enforcer: protecting' "$LAB_DIR/roamd.out")" -ge 1

section "the LAN: corp.test goes to the recorded resolver, via v0"
want_lan="corp.test -> $NS:53 via v0 (system)"
wait_until 5000 corp_route_is "$want_lan"
ANS_TEXT=$(tail -n 30 "$LAB_DIR/roamd.out")
expect "routing log: $want_lan" "$(corp_route)" = "$want_lan"
expect "the kernel agrees (ip route get $NS)" "$(kernel_dev)" = v0
expect "links line lists lo and v0 as veth" "$(last_links)" '~' '(^|, )lo/loopback(,|$).*(^|, )v0/veth(,|$)'
gen_lan=$(last_generation)

section "a tun nobody holds: no carrier, never the way out"
ip tuntap add dev tun1 mode tun || lab_abort "cannot create tun1"
ip link set tun1 up
ip route add 198.51.100.0/25 dev tun1 2>/dev/null || ip route add 198.51.100.0/25 dev tun1 linkdown 2>/dev/null
expect "the route through tun1 exists (linkdown)" "$(ip route show 198.51.100.0/25)" '~' 'dev tun1'
wait_until 5000 last_links_match 'tun1/tun \(no carrier\)'
ANS_TEXT=$(grep 'adapter_monitor: links' "$LAB_DIR/roamd.out")
expect "links line shows tun1 without carrier" "$(last_links)" '~' 'tun1/tun \(no carrier\)'
sleep 0.3
ANS_TEXT=$(tail -n 30 "$LAB_DIR/roamd.out")
expect "corp.test still via v0 (tun1 has no carrier)" "$(corp_route)" = "$want_lan"
echo "     (note: the kernel itself would use $(kernel_dev) for $NS now;" \
  "net.ipv4.conf.all.ignore_routes_with_linkdown = $(cat /proc/sys/net/ipv4/conf/all/ignore_routes_with_linkdown))"
ip tuntap del dev tun1 mode tun
wait_until 5000 eval '! last_links_match tun1'
expect "tun1 left the links line" "$(last_links)" '!~' 'tun1'

section "the VPN: a held tun0 with a more specific route to 198.51.100.0/24"
lab_start tunhold "$LAB_PYTHON" "$LAB_DIR/tunhold.py" tun0
wait_until 5000 grep -q holding "$LAB_DIR/tunhold.out" || lab_abort "the tun holder did not start" tunhold
ip addr add 10.8.0.2/24 dev tun0
ip link set tun0 up
ip route add 198.51.100.0/24 dev tun0 || lab_abort "cannot add the route through tun0"
want_tun="corp.test -> $NS:53 via tun0 (system)"
t0=$(now_ms)
wait_until 5000 corp_route_is "$want_tun"
ms=$(($(now_ms) - t0))
ANS_TEXT=$(tail -n 30 "$LAB_DIR/roamd.out")
expect "routing log: $want_tun (within 5 s; took $ms ms)" "$(corp_route)" = "$want_tun"
expect "in a new routing generation" "$(last_generation)" -gt "$gen_lan"
expect "the kernel agrees (ip route get $NS)" "$(kernel_dev)" = tun0
expect "links line lists tun0 as a tun with carrier" "$(last_links)" '~' '(^|, )tun0/tun(,|$)'
gen_tun=$(last_generation)
expect_roamd_serving "with the tun up"

section "the VPN goes away (the holder exits, tun0 and its routes vanish)"
lab_stop tunhold
t0=$(now_ms)
wait_until 5000 corp_route_is "$want_lan"
ms=$(($(now_ms) - t0))
ANS_TEXT=$(tail -n 30 "$LAB_DIR/roamd.out")
expect "routing log: back to $want_lan (within 5 s; took $ms ms)" "$(corp_route)" = "$want_lan"
expect "in a new routing generation" "$(last_generation)" -gt "$gen_tun"
expect "the kernel agrees (ip route get $NS)" "$(kernel_dev)" = v0
wait_until 5000 eval '! last_links_match tun0'
expect "tun0 left the links line" "$(last_links)" '!~' 'tun0'
expect "v0 is still listed" "$(last_links)" '~' 'v0/veth'

section "the LAN loses carrier (peer down): no link to reach $NS"
ip link set v0peer down
wait_until 5000 last_links_match 'v0/veth \(no carrier\)'
ANS_TEXT=$(grep 'adapter_monitor: links' "$LAB_DIR/roamd.out")
expect "links line shows v0 without carrier" "$(last_links)" '~' 'v0/veth \(no carrier\)'
want_none="corp.test -> $NS:53 (system)"
wait_until 5000 corp_route_is "$want_none"
ANS_TEXT=$(tail -n 30 "$LAB_DIR/roamd.out")
expect "routing log: corp.test has no way out ($want_none)" "$(corp_route)" = "$want_none"
ip link set v0peer up
wait_until 5000 corp_route_is "$want_lan"
expect "carrier back: $want_lan again" "$(corp_route)" = "$want_lan"

section "stop"
stop_roamd_term
LAST_CMD="" ANS_TEXT=""
expect "SIGTERM: exit 0" "$ROAMD_RC" = 0
expect "resolv.conf is byte-identical to the original" \
  "$(cmp /etc/resolv.conf "$LAB_DIR/resolv.before" 2>&1 && echo identical)" = identical

lab_finish
