#!/usr/bin/env bash
# A NetworkManager-managed OpenConnect VPN in the lab (tests/lab/nm_lab.sh): ocserv (Debian's, unpacked, never
# installed) runs in namespace lan-ns behind lan0; `openconnect --authenticate` gets a cookie, a keyfile VPN profile
# (service org.freedesktop.NetworkManager.openconnect, the cookie, gateway and pinned certificate stored as
# [vpn-secrets]) is brought up with `nmcli connection up`; NM puts the VPN's DNS server and domain first in
# /etc/resolv.conf and takes them out again on `nmcli connection down`. No roamd daemon (--roamd is required by
# lab_init only).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nm_lab.sh"
nm_fetch
nm_fetch_openconnect
lab_init "$@"
lab_need dnsmasq dbus-daemon dbus-send openssl useradd

lab_private_etc
nm_openconnect_prepare
mkdir -p /run/netns
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

# ocserv: self-signed certificate, plain password file, the VPN's DNS 10.9.0.53 and domain corp.example.
D=$LAB_DIR/oc
mkdir -p "$D" && mkdir -p -m 0755 /run/ocserv # the socket dir: ocserv's workers run as nobody
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/key.pem" -out "$D/cert.pem" -days 2 -subj /CN=192.0.2.254 \
  2>/dev/null || lab_abort "openssl req failed"
printf 'secret\nsecret\n' | ocpasswd -c "$D/passwd" alice || lab_abort "ocpasswd failed"
cat >"$D/ocserv.conf" <<EOC
auth = "plain[passwd=$D/passwd]"
tcp-port = 443
run-as-user = nobody
run-as-group = nogroup
socket-file = /run/ocserv/ocserv.sock
server-cert = $D/cert.pem
server-key = $D/key.pem
isolate-workers = false
max-clients = 4
device = vpns
ipv4-network = 10.8.0.0
ipv4-netmask = 255.255.255.0
dns = 10.9.0.53
default-domain = corp.example
route = 10.8.0.0/255.255.255.0
route = 10.9.0.0/255.255.255.0
cookie-timeout = 300
pid-file = $D/ocserv.pid
use-occtl = false
try-mtu-discovery = false
predictable-ips = true
EOC
lab_start ocserv ip netns exec lan-ns ocserv -f -c "$D/ocserv.conf"
wait_until 10000 bash -c "ip netns exec lan-ns ss -Hlnt 'sport = :443' | grep -q LISTEN" || lab_abort "ocserv did not start" ocserv
PIN=pin-sha256:$(openssl x509 -in "$D/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64)

section "openconnect --authenticate, then nmcli connection up of a keyfile VPN profile"
LAST_CMD="openconnect --authenticate" ANS_TEXT=$(echo secret | openconnect --authenticate --user=alice --passwd-on-stdin \
  --servercert "$PIN" https://192.0.2.254 2>"$D/auth.err")
expect "openconnect --authenticate got a cookie" "$ANS_TEXT" '~' "COOKIE="
COOKIE=$(sed -n "s/^COOKIE='\(.*\)'\$/\1/p" <<<"$ANS_TEXT")
nm_connection corp "[connection]
id=corp
uuid=6d1b3c52-8f1e-4c55-9d0a-1f0e7a2b0003
type=vpn
autoconnect=false

[vpn]
service-type=org.freedesktop.NetworkManager.openconnect
gateway=192.0.2.254
protocol=anyconnect

[vpn-secrets]
cookie=$COOKIE
gateway=192.0.2.254
gwcert=$PIN

[ipv4]
method=auto
never-default=true

[ipv6]
method=disabled"
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
