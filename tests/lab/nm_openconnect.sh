#!/usr/bin/env bash
# A NetworkManager-managed OpenConnect VPN in the lab (tests/lab/nm_lab.sh): ocserv (Debian's, unpacked, never
# installed) runs in namespace lan-ns behind lan0; `openconnect --authenticate` gets a cookie, a keyfile VPN profile
# (service org.freedesktop.NetworkManager.openconnect, the cookie, gateway and pinned certificate stored as
# [vpn-secrets]) is brought up with `nmcli connection up`; NM puts the VPN's DNS server and domain first in
# /etc/resolv.conf and takes them out again on `nmcli connection down`. No roamd daemon (--roamd is required by
# lab_init only).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nm_lab.sh"
nm_openconnect_lab_init "$@"
ip netns add lan-ns && ip -n lan-ns link set lo up || lab_abort "cannot create lan-ns"
ip link add lan0 type veth peer name lan0-far netns lan-ns || lab_abort "cannot create lan0"
ip -n lan-ns addr add 192.0.2.254/24 dev lan0-far && ip -n lan-ns link set lan0-far up
ip -n lan-ns addr add 192.0.2.53/32 dev lo && ip -n lan-ns addr add 10.9.0.53/32 dev lo
for d in lan:192.0.2.53:host.home.test,192.0.2.80 vpn:10.9.0.53:host.corp.example,203.0.113.80; do
  IFS=: read -r n a r <<<"$d"
  lab_start "dns-$n" ip netns exec lan-ns dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address="$a" --pid-file= --user=root --log-queries --log-facility=- --host-record="$r"
  wait_until 10000 ns_listening lan-ns "$a" || lab_abort "dnsmasq $n did not start" "dns-$n"
done

nm_up lan0 vpn0
nm_ethernet lan lan0 192.0.2.1/24,192.0.2.254 192.0.2.53 home.test
nmcli connection up lan >/dev/null 2>&1 || lab_abort "nmcli connection up lan failed" nm

nm_ocserv_up

section "openconnect --authenticate, then nmcli connection up of a keyfile VPN profile"
nm_openconnect_profile corp
expect "openconnect --authenticate got a cookie" "$ANS_TEXT" '~' "COOKIE="
LAST_CMD="nmcli connection up corp" ANS_TEXT=$(timeout 40 nmcli --wait 30 connection up corp 2>&1)
expect "nmcli connection up corp: exit 0" "$?" = 0
expect "vpn0 has the address ocserv gave" "$(ip -4 -o addr show dev vpn0 2>/dev/null | awk '{print $4}')" '~' '^10\.8\.0\.'
LAST_CMD="cat /etc/resolv.conf" ANS_TEXT=$(cat /etc/resolv.conf)
expect "resolv.conf: the VPN's server first, then the LAN's" "$(grep '^nameserver' /etc/resolv.conf | paste -sd' ')" = \
  "nameserver 10.9.0.53 nameserver 192.0.2.53"
expect "resolv.conf: the VPN's domain first" "$(grep '^search' /etc/resolv.conf)" = "search corp.example home.test"
resolve host.corp.example
expect "getent hosts host.corp.example (through the tunnel)" "$ANS_DATA" = 203.0.113.80

section "nmcli connection down corp"
LAST_CMD="nmcli connection down corp" ANS_TEXT=$(nmcli connection down corp 2>&1)
expect "nmcli connection down corp: exit 0" "$?" = 0
LAST_CMD="cat /etc/resolv.conf" ANS_TEXT=$(cat /etc/resolv.conf)
expect "resolv.conf: only the LAN's server again" "$(grep '^nameserver' /etc/resolv.conf | paste -sd' ')" = \
  "nameserver 192.0.2.53"
# The tun itself may stay for a while (the plugin deletes it when openconnect has exited): check its address.
wait_until 5000 bash -c '[ -z "$(ip -4 -o addr show dev vpn0 2>/dev/null)" ]'
expect "vpn0 has no address any more" "$(ip -4 -o addr show dev vpn0 2>/dev/null | wc -l)" = 0

nm_down
lab_finish
