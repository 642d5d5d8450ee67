# Debian 12's real NetworkManager (1.42) inside a lab's namespaces, for tests of roamd's `networkmanager` backend.
# Source it after lib.sh. Functions:
#   nm_fetch           download + unpack the packages once into $NM_CACHE (never installs them); call it BEFORE
#                      lab_init (the lab's network namespace has no route to the Debian mirror); inside the lab it only
#                      checks the cache and skips the test when it is missing. `bash tests/lab/nm_lab.sh --fetch` fills
#                      the cache by hand.
#   nm_up [IFACE...]   after lab_init + lab_private_etc: a private system bus and NetworkManager; with IFACEs, only those
#                      are managed. Returns once `nmcli general` answers. Output in $LAB_DIR/nm.out (and dbus.out).
#   nm_down            SIGTERM to NetworkManager (it leaves addresses and resolv.conf as they are), then the bus if
#                      nm_up started it.
#   nm_conf_set TEXT   replaces the lab's /etc/NetworkManager/conf.d/50-lab-extra.conf (apply: `nmcli general reload`).
#   nm_connection NAME TEXT  writes a keyfile /etc/NetworkManager/system-connections/NAME.nmconnection (mode 0600) and
#                      has NM load it (`nmcli connection load`).
#   nm_device_state IFACE   the device's GENERAL.STATE (e.g. "100 (connected)"), "" if NM does not know it.
#   nm_far NS IFACE LOCAL/LEN FAR/LEN DNS NAME ADDR   a veth IFACE to namespace NS with a dnsmasq answering NAME.
#   nm_fetch_openconnect, nm_openconnect_prepare   NM-openconnect + openconnect + ocserv (see tests/lab/nm_openconnect.sh);
#   nm_ocserv_up, nm_openconnect_profile NAME      ocserv in lan-ns and a keyfile VPN profile connecting to it.
#
# The recipe (all of it inside the lab's mount/network/pid namespaces; nothing here touches the machine):
#  - NEVER `apt-get install network-manager` on this machine: its postinst and service take over the machine's DNS and
#    interfaces. nm_fetch runs `apt-get download` for network-manager and the runtime libraries this machine lacks
#    (dpkg-query decides which) and `dpkg-deb -x` them into $NM_CACHE/root; `ldd` must then find every library.
#  - NM's paths are compiled in (/usr/sbin/NetworkManager, /usr/lib/NetworkManager, its plugin dir
#    /usr/lib/x86_64-linux-gnu/NetworkManager/1.42.4, /usr/share/dbus-1/system.d for its bus policy,
#    /var/lib/NetworkManager for state and secret_key), so nm_up mounts, in the lab's mount namespace only, a read-only
#    overlay on /usr (lowerdir=$NM_CACHE/root/usr:/usr: the unpacked files on top of the machine's) and a writable
#    overlay on /var/lib (upper on the lab tmpfs). /etc/NetworkManager is copied into the lab's private /etc
#    (lab_private_etc's overlay), so NM's config and keyfiles live there and vanish with the lab.
#  - The dispatcher: D-Bus activates nm-dispatcher on every state change, and Debian's
#    /etc/NetworkManager/dispatcher.d/01-ifupdown runs /etc/network/if-up.d/* (on this machine openresolv's
#    000resolvconf and openvpn's hooks). They would write the lab's resolv.conf too and muddy every check: the lab's
#    copy of dispatcher.d is emptied.
#  - "unmanaged" devices: NM's Linux platform uses udev only when it thinks it runs in the initial network namespace
#    (it compares with PID 1's, and in the lab PID 1 is the lab script, so: "initial") AND /sys is writable. With udev
#    in use but no udevd running, every link stays "not-init" and every device "unmanaged" (the log says
#    `platform-linux: create (ignore netns, initial netns, use udev, ...)`), whatever NetworkManager.conf says
#    (unmanaged-devices=none, [device] managed=1 do not help: the flag that holds them is platform-init). nm_up
#    therefore bind-mounts the lab's /sys read-only on itself (a per-mount flag; `ip`, roamd and NM's sysctl writes
#    under /proc/sys are not affected): NM then logs `no udev` and treats links as initialised at once. (Running
#    systemd-udevd would be the other way; the udev package is not installed here and would have to be unpacked too.)
#    With no udev there are no udev rules either: 85-nm-unmanaged.rules, which marks veths not named eth* unmanaged on
#    a real Debian system, does not apply in the lab.
#  - NetworkManager.conf: plugins=keyfile (Debian's default adds ifupdown, which reads the machine's
#    /etc/network/interfaces), dns=default + rc-manager=file (NM writes /etc/resolv.conf itself, atomically by rename:
#    a new inode each time; a copy in /run/NetworkManager/resolv.conf and no-stub-resolv.conf), systemd-resolved=false
#    (no resolve1 on the lab bus), no-auto-default=* (else NM creates "Wired connection N" DHCP profiles for every
#    veth and starts DHCP on them), auth-polkit=false (no polkitd; root's nmcli is allowed anyway), hostname-mode=none;
#    with IFACEs, [keyfile] unmanaged-devices=except:interface-name:IFACE,... so NM leaves the lab's other links alone.
#  - The lab shares the machine's UTS namespace: NM runs under `unshare -u` so that no hostname it might set reaches
#    the machine (hostname-mode=none should already prevent it).
#  - The bus: `dbus-daemon --system --nofork --nopidfile` on the lab's private /run (lab_private_etc mounts a tmpfs
#    there), started after the /usr overlay so that it reads NM's policy from /usr/share/dbus-1/system.d. If some other
#    lab helper already runs a bus there, nm_up reuses it (asking it to ReloadConfig to pick up NM's policy), so that
#    NM and, say, a lab systemd-resolved share one bus.
#  - NM exits on SIGTERM without deconfiguring anything (by design): addresses, routes and resolv.conf stay.
#  - `nmcli -t -f GENERAL.DEVICE,GENERAL.IP-IFACE,IP4.DNS,IP4.SEARCHES,... device show` (what roamd reads): search and
#    ~routing domains are IP4.SEARCHES (IP4.DOMAIN holds only DHCP's), IPv6 addresses come unescaped in this
#    multi-line form, a VPN's own interface is GENERAL.IP-IFACE. With dns=systemd-resolved NM pushes each device's
#    servers and domains to resolved; a full-tunnel VPN gets DefaultRoute=yes on its link (the LAN's is cleared), not
#    a "~." routing domain.
#  - The first nmcli call after start can race NM's D-Bus name acquisition; nm_up waits until `nmcli -t general`
#    answers and NM's startup is "started" (nm-online -s).
# nmcli, nm-online and NetworkManager are on PATH (/usr/bin, /usr/sbin) once nm_up has mounted the overlay, also for
# roamd started afterwards (its networkmanager backend runs `nmcli general reload`).

NM_CACHE=${NM_CACHE:-/var/cache/roamd-lab/nm}
NM_ROOT=$NM_CACHE/root
# network-manager and what it needs at run time; the ones already installed on this machine are not fetched.
NM_PACKAGES=(network-manager libnm0 libndp0 libbluetooth3 libmm-glib0 libnewt0.52 libteamdctl0 libjansson4 libcurl3-gnutls
  libpsl5 libreadline8 libaudit1 libselinux1 libsystemd0 libudev1 libglib2.0-0 libgnutls30)
NM_STAMP=$NM_ROOT/.roamd-lab-complete
NM_EXTRA_ROOTS=${NM_EXTRA_ROOTS:-}
NM_DBUS_STARTED=""

# nm_fetch: fills $NM_CACHE/root once (flock'ed: parallel runs wait for each other). Skips the test (exit 77) when
# the packages cannot be fetched, or when called inside the lab with an empty cache.
nm_fetch() {
  nm_unpack "$NM_ROOT" "${NM_PACKAGES[@]}"
  nm_check_libs "$NM_ROOT/usr/sbin/NetworkManager" "$NM_ROOT/usr/bin/nmcli"
}

# nm_fetch_openconnect: also network-manager-openconnect, openconnect and ocserv (unpacked into $NM_CACHE/oc-root,
# never installed: ocserv's postinst starts the service, nm-openconnect's reloads dbus) and sets NM_EXTRA_ROOTS so
# that nm_up's /usr overlay includes them. Then, inside the lab and before nm_up, call nm_openconnect_prepare.
NM_OC_ROOT=$NM_CACHE/oc-root
NM_OC_PACKAGES=(network-manager-openconnect openconnect libopenconnect5 libproxy1v5 libpskc0 libstoken1
  libtss2-esys-3.0.2-0 libtss2-mu0 libtss2-tctildr0 libtss2-sys1 libtomcrypt1 libtommath1 ocserv libev4
  libhttp-parser2.9 libnl-route-3-200 liboath0 libradcli4 libtalloc2 vpnc-scripts)
nm_fetch_openconnect() {
  nm_unpack "$NM_OC_ROOT" "${NM_OC_PACKAGES[@]}"
  nm_check_libs "$NM_OC_ROOT/usr/sbin/openconnect" "$NM_OC_ROOT/usr/sbin/ocserv" "$NM_OC_ROOT/usr/sbin/ocserv-worker" \
    "$NM_OC_ROOT/usr/lib/NetworkManager/nm-openconnect-service" "$NM_OC_ROOT/usr/bin/ocpasswd"
  NM_EXTRA_ROOTS=$NM_OC_ROOT
}

# nm_openconnect_prepare (inside the lab, before nm_up): what the packages' postinst and a udev-run /dev would give.
#  - /dev/net/tun is 0600 on this machine (no udev); NM-openconnect creates the tun as root but openconnect opens it
#    after dropping to user nm-openconnect ("openconnect exited with error code 1" right after "Configured as ...",
#    its real error going to syslog, which the lab has not). A tmpfs on /dev/net with a fresh 0666 tun node (10,200),
#    in the lab's mount namespace only, fixes that without touching the machine's /dev.
#  - the user nm-openconnect (added to the lab's private /etc/passwd) and the plugin's bus policy in
#    /etc/dbus-1/system.d (read by the bus nm_up starts).
nm_openconnect_prepare() {
  lab_etc_is_private || lab_abort "nm_openconnect_prepare needs lab_private_etc first"
  mount -t tmpfs -o size=64k,mode=0755 lab-devnet /dev/net && mknod -m 0666 /dev/net/tun c 10 200 ||
    lab_abort "cannot make the lab's own /dev/net/tun"
  mkdir -p /etc/dbus-1/system.d && cp "$NM_OC_ROOT"/etc/dbus-1/system.d/*.conf /etc/dbus-1/system.d/ ||
    lab_abort "cannot install NM-openconnect's bus policy in the lab's /etc"
  getent passwd nm-openconnect >/dev/null ||
    useradd --system --no-create-home --home-dir /var/lib/NetworkManager --user-group nm-openconnect ||
    lab_abort "cannot add the user nm-openconnect to the lab's /etc/passwd"
}

# nm_unpack ROOT PACKAGE...: apt-get download of the PACKAGEs not installed here, dpkg-deb -x into ROOT, once.
nm_unpack() {
  local root=$1; shift
  local stamp=$root/.roamd-lab-complete
  [ -f "$stamp" ] && return
  if [ -n "${LAB_INSIDE:-}" ]; then
    lab_skip "$root is not filled (call nm_fetch before lab_init, or run: bash $LAB_HOME/nm_lab.sh --fetch)"
  fi
  [ "$(id -u)" = 0 ] || lab_skip "needs root (nm_fetch writes $NM_CACHE)"
  lab_need apt-get dpkg-deb dpkg-query flock ldd
  mkdir -p "$NM_CACHE" || lab_skip "cannot create $NM_CACHE"
  (
    flock 9
    [ -f "$stamp" ] && exit 0
    local p want=() dl=$root.dl
    for p in "$@"; do
      [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || want+=("$p")
    done
    rm -rf "$dl" "$root.new"
    mkdir -p "$dl" "$root.new"
    # _apt cannot write root's cache dir: apt says so ("unsandboxed") and downloads as root.
    (cd "$dl" && timeout 300 apt-get -q download "${want[@]}") >"$root.fetch.log" 2>&1 || exit 3
    for p in "$dl"/*.deb; do dpkg-deb -x "$p" "$root.new" || exit 4; done
    rm -rf "$root" && mv "$root.new" "$root" || exit 4
    printf '%s\n' "${want[@]}" >"$stamp"
  ) 9>"$NM_CACHE/.lock"
  case $? in
    0) ;;
    3) lab_skip "apt-get download failed (mirror unreachable?): $(tail -1 "$root.fetch.log")" ;;
    *) lab_skip "unpacking packages into $root failed" ;;
  esac
}

# nm_check_libs BINARY...: every shared library they need is on this machine or in the cache.
nm_check_libs() {
  local missing libs=$NM_ROOT/usr/lib/x86_64-linux-gnu
  [ -d "$NM_OC_ROOT" ] && libs+=:$NM_OC_ROOT/usr/lib/x86_64-linux-gnu
  missing=$(LD_LIBRARY_PATH=$libs ldd "$@" 2>&1 | awk '/not found/ {print $1}' | sort -u | paste -sd' ')
  [ -z "$missing" ] || lab_skip "the lab's NetworkManager needs libraries this machine lacks: $missing (add their packages)"
}

# nm_mounts: the /usr, /var/lib and /sys mounts described above (once per lab).
nm_mounts() {
  lab_etc_is_private || lab_abort "nm_up needs lab_private_etc first (NM writes /etc/resolv.conf)"
  [ -f "$NM_STAMP" ] || lab_abort "nm_up: no NetworkManager in $NM_CACHE (nm_fetch first)"
  if ! grep -q ' /usr .* - overlay lab-usr ' /proc/self/mountinfo; then
    local lower=$NM_ROOT/usr r
    for r in ${NM_EXTRA_ROOTS:-}; do lower=$r/usr:$lower; done
    mount -t overlay lab-usr -o "ro,lowerdir=$lower:/usr" /usr || lab_abort "cannot mount the /usr overlay"
  fi
  if ! grep -q ' /var/lib .* - overlay lab-varlib ' /proc/self/mountinfo; then
    mkdir -p "$LAB_DIR/varlib-up" "$LAB_DIR/varlib-work"
    mount -t overlay lab-varlib -o "lowerdir=/var/lib,upperdir=$LAB_DIR/varlib-up,workdir=$LAB_DIR/varlib-work" \
      /var/lib || lab_abort "cannot mount the /var/lib overlay"
    mkdir -p -m 0700 /var/lib/NetworkManager
  fi
  grep -q ' /sys .* - sysfs lab-sys ' /proc/self/mountinfo || lab_abort "nm_up: /sys is not the lab's own sysfs"
  if [ -w /sys ]; then
    mount --bind /sys /sys && mount -o remount,bind,ro /sys || lab_abort "cannot make the lab's /sys read-only"
  fi
}

# nm_write_conf IFACE...: the lab's /etc/NetworkManager, fresh from the package, with the lab's NetworkManager.conf.
nm_write_conf() {
  rm -rf /etc/NetworkManager
  cp -a "$NM_ROOT/etc/NetworkManager" /etc/NetworkManager || lab_abort "cannot copy /etc/NetworkManager"
  find /etc/NetworkManager/dispatcher.d -type f -delete
  local unmanaged="" i
  for i in "$@"; do unmanaged+="${unmanaged:+,}except:interface-name:$i"; done
  cat >/etc/NetworkManager/NetworkManager.conf <<EOF
# roamd lab (tests/lab/nm_lab.sh)
[main]
plugins=keyfile
dns=${NM_DNS:-default}
rc-manager=${NM_RC_MANAGER:-file}
systemd-resolved=${NM_SYSTEMD_RESOLVED:-false}
no-auto-default=*
auth-polkit=false
hostname-mode=none

[keyfile]
${unmanaged:+unmanaged-devices=$unmanaged}

[logging]
level=${NM_LOG_LEVEL:-INFO}
domains=ALL${NM_LOG_DOMAINS:+,$NM_LOG_DOMAINS}
EOF
}

# nm_bus_answers: the lab's system bus is up.
nm_bus_answers() {
  dbus-send --system --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.GetId >/dev/null 2>&1
}
# nm_answers: NM owns its name and has finished starting up.
nm_answers() { nmcli -t -f RUNNING general 2>/dev/null | grep -qx running && nm-online -s -q -t 0; }

nm_up() {
  nm_mounts
  nm_write_conf "$@"
  mkdir -p /run/dbus /run/NetworkManager
  if [ -S /run/dbus/system_bus_socket ] && nm_bus_answers; then
    dbus-send --system --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.ReloadConfig >/dev/null 2>&1
  else
    rm -f /run/dbus/system_bus_socket
    lab_start dbus dbus-daemon --system --nofork --nopidfile --nosyslog
    NM_DBUS_STARTED=1
    wait_until 10000 nm_bus_answers || lab_abort "the lab's system bus did not start" dbus
  fi
  lab_start nm unshare -u /usr/sbin/NetworkManager --debug
  if ! wait_until 20000 nm_answers; then
    alive nm || lab_abort "NetworkManager exited at startup" nm dbus
    lab_abort "NetworkManager did not answer nmcli within 20 s" nm dbus
  fi
}

nm_down() {
  local pid=${LAB_PIDS[nm]:-}
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null
    wait_until 10000 exited nm || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "LAB_PIDS[nm]"
  fi
  if [ -n "$NM_DBUS_STARTED" ]; then
    lab_stop dbus
    NM_DBUS_STARTED=""
  fi
}

nm_conf_set() {
  if [ -z "$1" ]; then
    rm -f /etc/NetworkManager/conf.d/50-lab-extra.conf
  else
    printf '%s\n' "$1" >/etc/NetworkManager/conf.d/50-lab-extra.conf
  fi
}

nm_connection() {
  local f=/etc/NetworkManager/system-connections/$1.nmconnection
  (umask 077 && printf '%s\n' "$2" >"$f") && nmcli connection load "$f" >/dev/null
}

# nm_ethernet NAME IFACE ADDRESS[,GATEWAY] DNS SEARCH: a keyfile connection NAME on IFACE with a static IPv4
# address, one DNS server and one search domain, IPv6 off, not connected automatically (nmcli connection up NAME).
nm_ethernet() {
  nm_connection "$1" "[connection]
id=$1
type=ethernet
interface-name=$2
autoconnect=false

[ipv4]
method=manual
address1=$3
dns=$4;
dns-search=$5;

[ipv6]
method=disabled"
}

nm_device_state() { nmcli -g GENERAL.STATE device show "$1" 2>/dev/null; }

# nm_far NS IFACE LOCAL/LEN FAR/LEN DNS NAME ADDR: namespace NS behind veth IFACE (FAR side there), dnsmasq on DNS
# (its loopback) answering NAME with ADDR, REFUSED for the rest; queries logged to $LAB_DIR/NS.log.
nm_far() {
  local ns=$1 ifc=$2 far=$3 dns=$4 name=$5 addr=$6
  ip netns add "$ns" && ip -n "$ns" link set lo up || lab_abort "cannot create $ns"
  ip link add "$ifc" type veth peer name "$ifc-far" netns "$ns" || lab_abort "cannot create $ifc"
  ip -n "$ns" addr add "$far" dev "$ifc-far" && ip -n "$ns" link set "$ifc-far" up
  ip -n "$ns" addr add "$dns/32" dev lo
  lab_start "dns-$ns" ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address="$dns" --pid-file= --user=root --local-ttl=1 --log-queries \
    --log-facility="$LAB_DIR/$ns.log" --host-record="$name,$addr"
  wait_until 10000 ns_listening "$ns" "$dns" || lab_abort "dnsmasq in $ns did not start" "dns-$ns"
}

# nm_down_forgets NAME DOMAIN: `nmcli connection down NAME` succeeds and roamd's route for DOMAIN goes (8 s at most).
nm_down_forgets() {
  LAST_CMD="nmcli connection down $1" ANS_TEXT=$(nmcli connection down "$1" 2>&1)
  expect "nmcli connection down $1: exit 0" "$?" = 0
  wait_until 8000 eval '[ -z "$(routes_line "$2")" ]'
  expect "roamd's route for $2 went with it" "$(routes_line "$2")" = ""
}

# nm_openconnect_lab_init "$@": a script's start for NM with OpenConnect: both fetched outside the lab, lab_init,
# the tools at hand, a private /etc and /run, nm_openconnect_prepare, /run/netns.
nm_openconnect_lab_init() {
  nm_fetch
  nm_fetch_openconnect
  lab_init "$@"
  lab_need dnsmasq dbus-daemon dbus-send openssl useradd
  lab_private_etc
  nm_openconnect_prepare
  mkdir -p /run/netns
}

# nm_ocserv_up [full]: Debian's ocserv (unpacked by nm_fetch_openconnect) in namespace lan-ns on 192.0.2.254:443:
# a self-signed certificate, user alice (password "secret"), addresses from 10.8.0.0/24, the VPN's DNS 10.9.0.53
# (the caller runs a resolver there) and domain corp.example, routes to 10.8.0.0/24 and 10.9.0.0/24 (with "full":
# none, so that the client routes everything through the tunnel). Sets OC_DIR and OC_PIN (the certificate's pin for
# openconnect --servercert).
nm_ocserv_up() {
  OC_DIR=$LAB_DIR/oc
  mkdir -p "$OC_DIR" && mkdir -p -m 0755 /run/ocserv # the socket dir: ocserv's workers run as nobody
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OC_DIR/key.pem" -out "$OC_DIR/cert.pem" -days 2 \
    -subj /CN=192.0.2.254 2>/dev/null || lab_abort "openssl req failed"
  printf 'secret\nsecret\n' | ocpasswd -c "$OC_DIR/passwd" alice || lab_abort "ocpasswd failed"
  cat >"$OC_DIR/ocserv.conf" <<EOC
auth = "plain[passwd=$OC_DIR/passwd]"
tcp-port = 443
run-as-user = nobody
run-as-group = nogroup
socket-file = /run/ocserv/ocserv.sock
server-cert = $OC_DIR/cert.pem
server-key = $OC_DIR/key.pem
isolate-workers = false
max-clients = 4
device = vpns
ipv4-network = 10.8.0.0
ipv4-netmask = 255.255.255.0
dns = 10.9.0.53
default-domain = corp.example
$([ "${1:-}" = full ] || printf 'route = 10.8.0.0/255.255.255.0\nroute = 10.9.0.0/255.255.255.0')
cookie-timeout = 300
pid-file = $OC_DIR/ocserv.pid
use-occtl = false
try-mtu-discovery = false
predictable-ips = true
EOC
  lab_start ocserv ip netns exec lan-ns ocserv -f -c "$OC_DIR/ocserv.conf"
  wait_until 10000 bash -c "ip netns exec lan-ns ss -Hlnt 'sport = :443' | grep -q LISTEN" ||
    lab_abort "ocserv did not start" ocserv
  OC_PIN=pin-sha256:$(openssl x509 -in "$OC_DIR/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
}

# nm_openconnect_profile NAME [full]: `openconnect --authenticate` against nm_ocserv_up's server (the cookie in
# ANS_TEXT) and a keyfile VPN profile NAME (service org.freedesktop.NetworkManager.openconnect, the cookie, gateway
# and pinned certificate as [vpn-secrets], never-default: a split tunnel; with "full" the default route goes through
# it), loaded into NM: `nmcli connection up NAME` connects.
nm_openconnect_profile() {
  LAST_CMD="openconnect --authenticate" ANS_TEXT=$(echo secret | openconnect --authenticate --user=alice \
    --passwd-on-stdin --servercert "$OC_PIN" https://192.0.2.254 2>"$OC_DIR/auth.err")
  local cookie
  cookie=$(sed -n "s/^COOKIE='\(.*\)'\$/\1/p" <<<"$ANS_TEXT")
  nm_connection "$1" "[connection]
id=$1
uuid=6d1b3c52-8f1e-4c55-9d0a-1f0e7a2b0003
type=vpn
autoconnect=false

[vpn]
service-type=org.freedesktop.NetworkManager.openconnect
gateway=192.0.2.254
protocol=anyconnect

[vpn-secrets]
cookie=$cookie
gateway=192.0.2.254
gwcert=$OC_PIN

[ipv4]
method=auto
never-default=$([ "${2:-}" = full ] && echo false || echo true)

[ipv6]
method=disabled"
}


# `bash tests/lab/nm_lab.sh --fetch`: fill the cache (as root, with network access).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
    --fetch)
      . "$(dirname "$0")/lib.sh"
      nm_fetch && echo "NetworkManager unpacked in $NM_ROOT"
      [ "${2:-}" != --openconnect ] || { nm_fetch_openconnect && echo "OpenConnect, ocserv unpacked in $NM_OC_ROOT"; }
      ;;
    *) echo "usage: $0 --fetch [--openconnect]   (otherwise source it after lib.sh)" >&2; exit 2 ;;
  esac
fi
