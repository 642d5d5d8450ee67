# Debian's REAL systemd-resolved inside a lab namespace (tests/lab/resolved_*.sh). Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/resolved_lab.sh"
#   resolved_fetch "$@"  # before lab_init: the lab has no network; downloads + unpacks once (lab_skip if it cannot)
#   lab_init "$@"
#   resolved_fetch       # inside: only finds the unpacked tree again (no network there)
#   lab_private_etc      # resolved_up refuses to run without the lab's private /etc and /run
#   resolved_up          # private system bus + resolved; returns once `resolvectl status` answers and the stub listens
#   resolvectl dns lan0 192.0.2.53; resolvectl domain lan0 '~corp.example'
#   resolved_restart     # = `systemctl restart systemd-resolved`; also resolved_stop, resolved_start
#   resolved_down        # daemon, supervisor, and the bus if resolved_up started it (lab_finish kills all anyway)
#
# THE RECIPE (no systemd as PID 1 here; nothing of this touches the machine outside the lab's namespaces)
# - Never install systemd-resolved on this machine: its postinst enables the unit and symlinks the machine's
#   /etc/resolv.conf to the stub. `apt-get download systemd-resolved=<version>` + `dpkg-deb -x` into
#   $RESOLVED_CACHE/<version>/ (default /var/cache/roamd-lab/systemd-resolved, outside the repo) instead. Its
#   Depends (libc6, libssl3, libsystemd-shared, systemd, dbus) are installed here, so nothing else is fetched.
# - The binaries need no LD_LIBRARY_PATH: they carry RUNPATH /usr/lib/x86_64-linux-gnu/systemd and find the
#   machine's libsystemd-shared-252.so there. That library is systemd's PRIVATE one (no stable ABI), so the version
#   fetched is exactly the installed libsystemd-shared's (dpkg-query); if the archive no longer has it, the
#   candidate is tried and must at least run `resolvectl --version`.
# - A private `dbus-daemon --system` with its own config ($RESOLVED_DIR/bus.conf: the stock system-bus default
#   policy, no <user> so it stays root, no <fork>, and NO service dirs: the stock config would let the setuid
#   launch helper activate this machine's PackageKit/polkit/networkd service files inside the lab). It includes
#   /usr/share/dbus-1/system.d and /etc/dbus-1/system.d; the package's org.freedesktop.resolve1.conf (which lets
#   the systemd-resolve user own the name) is copied into the lab's private /etc/dbus-1/system.d. If a bus already
#   answers in the lab (nm_lab.sh's), it is reused with ReloadConfig. It listens on the standard
#   /run/dbus/system_bus_socket, which is the lab's because lab_private_etc put a tmpfs on /run: resolved,
#   resolvectl, busctl (and roamd) find it with no DBUS_SYSTEM_BUS_ADDRESS. No activation: while resolved is down,
#   calls fail at once with "The name org.freedesktop.resolve1 was not provided by any .service files" (a real
#   system would start the unit through systemd1.Activator instead).
# - The systemd-resolve user: resolved, started as root, looks the user up (getpwnam through nsswitch's
#   "files systemd"; nss-systemd does not synthesize it), creates /run/systemd/resolve and drops to it keeping
#   CAP_NET_BIND_SERVICE/NET_RAW/SETPCAP. So a line is appended to the private /etc/passwd and /etc/group (a free
#   uid/gid below 1000; systemd-sysusers does this on a real install). /run/systemd/resolve is created and chowned
#   up front (systemd's RuntimeDirectory= does that on a real system).
# - Run as `SYSTEMD_LOG_TARGET=console lib/systemd/systemd-resolved` (log in $LAB_DIR/resolved.out). No
#   NOTIFY_SOCKET and no WATCHDOG_USEC: it runs fine without them. Missing /run/systemd/netif (no networkd) and
#   missing login1 (PrepareForSleep match) are harmless. /etc/systemd/resolved.conf is copied from the package into
#   the private /etc (without it resolved logs "Failed to open configuration file" and uses the same defaults).
# - /etc/resolv.conf: resolved_up makes it the package's symlink ../run/systemd/resolve/stub-resolv.conf
#   (RESOLVED_RESOLV_CONF=keep leaves it alone). Pitfall: with a regular foreign file there (the overlay shows the
#   MACHINE's resolv.conf until the lab replaces it) resolved runs in "foreign" mode and takes its nameservers as
#   global DNS servers - unreachable from the lab, so default-route queries would go nowhere.
# - A supervisor ($RESOLVED_DIR/service.sh) plays the unit: Restart=always (an unrequested exit is restarted; more
#   than 5 such exits in 10 s count as a crash loop and stop it, like StartLimitBurst), and a systemctl stand-in
#   ($RESOLVED_DIR/bin/systemctl; resolved_up puts it and the package's usr/bin, i.e. resolvectl, first in PATH,
#   exported, so roamd and VPN scripts started later find them) answers start, stop, restart, try-restart,
#   reload-or-restart, is-active for systemd-resolved(.service) only; restart SIGTERMs the daemon and, without
#   --no-block, waits until the new one is ready. So roamd's resolved backend (execvp "systemctl restart
#   systemd-resolved.service") works unchanged in the lab. Every call is logged in $RESOLVED_DIR/systemctl.log.
# - `reload` fails as it does on Debian 12: the 252 unit has no ExecReload=, and SIGHUP KILLS resolved 252
#   (default action; the supervisor then restarts it). Configuration files are only re-read by a restart.
# - A restart here takes ~150 ms (systemctl restart until ready), but a dig every ~10 ms through the stub saw
#   14 of 150 queries fail over ~0.7 s around it; the cache is gone afterwards.
#
# OTHER FACTS SEEN WITH IT (Debian 12, 252.39)
# - Per-link settings set over D-Bus/resolvectl survive a restart: resolved saves them in
#   /run/systemd/resolve/netif/<ifindex> (DNS, DOMAINS, DEFAULT_ROUTE, ...) and loads them on start; the file goes
#   when the link is deleted.
# - SetLinkDNS on lo: "Link lo is loopback device."; `resolvectl dns lo ...` then falls back to networkd
#   (org.freedesktop.network1, absent). A link only gets a DNS scope when it is UP with carrier AND has an address
#   (any: a /32 from 169.254/16 or 100.64/10 does); without one "Current Scopes: none" and its queries fail.
# - Timing pitfall: a veth brought up just before (or while) resolved starts can show "Current Scopes: none" for up
#   to ~1 s (the kernel's linkwatch delays the carrier/operstate event); names routed to it fail meanwhile. Wait
#   with `wait_until 5000 resolved_link_ready IFACE` after setting a link's DNS, before querying.
# - A link whose networkd state file says it is managed refuses SetLinkDNS ("Link X is managed").
# - A link's DNS server may be 127.x: for a loopback server resolved 252 neither binds to the device nor sets
#   IP_UNICAST_IF (strace), so UDP and the TCP fallback after TC=1 both reached a server on 127.0.2.53 via a veth.
#   A server on the link's own address (100.100.100.53/32 on the veth, dnsmasq in the lab's namespace) works too.
# - A link with only ~routing domains gets DefaultRoute off unless set; "~." on a link (or Domains=~. globally)
#   beats links that merely have DefaultRoute on, even explicitly set (they get no queries), while a longer
#   ~domain still wins - and so does a plain search domain: with lan0 "home.example", glibc's search-list retries
#   (name.home.example) still go to lan0's server.
# - org.freedesktop.resolve1.Manager's DNS (a(iiay)) and Domains (a(isb): ifindex, name, route-only) list every
#   link's servers and domains in one call (roamd's os/link_dns.cpp reads them with busctl); a global server on a
#   loopback address (roamd's drop-in) is listed under ifindex 1, lo's. busctl monitor shows PropertiesChanged on the
#   Manager for DNS changes, none for SetLinkDomains: a poll is needed to see a link's domains change.
# - This machine's kernel has no `dummy` link type ("Unknown device type"); a tun held open works as a link instead.
# - `.test`, `.lan`, `.home`, `.corp`, `.internal`, `.local`, `.private`, `.intranet` are negative trust anchors and
#   single-label names go to LLMNR (on by default): use multi-label names under e.g. corp.example in tests.
#
# Variables after resolved_fetch: RESOLVED_VERSION, RESOLVED_ROOT (the unpacked tree), RESOLVED_BIN, RESOLVECTL.
# After resolved_up: RESOLVED_DIR ($LAB_DIR/resolved), resolved_pid prints the daemon's pid.

RESOLVED_CACHE=${RESOLVED_CACHE:-/var/cache/roamd-lab/systemd-resolved}
RESOLVED_STUB_IP=127.0.0.53
RESOLVED_BUS_SOCKET=/run/dbus/system_bus_socket

# resolved_lab_init "$@": a script's start: the package fetched outside the lab (the lab has no network), lab_init,
# found again inside, dnsmasq and busctl at hand, a private /etc and /run.
resolved_lab_init() {
  resolved_fetch
  lab_init "$@"
  resolved_fetch
  lab_need dnsmasq busctl
  lab_private_etc
}

# resolved_fetch [ARGS...]: finds (inside the lab) or downloads and unpacks (outside, as root, once) Debian's
# systemd-resolved matching the installed libsystemd-shared. Skips the script (77) when that cannot be done.
# Arguments are ignored (so `resolved_fetch "$@"` can sit before lab_init).
resolved_fetch() {
  local want
  want=$(dpkg-query -W -f='${Version}' libsystemd-shared 2>/dev/null)
  [ -n "$want" ] || lab_skip "libsystemd-shared is not installed (systemd-resolved's private library)"
  RESOLVED_VERSION=$want
  RESOLVED_ROOT=$RESOLVED_CACHE/${want//:/_}
  RESOLVED_BIN=$RESOLVED_ROOT/lib/systemd/systemd-resolved
  RESOLVECTL=$RESOLVED_ROOT/usr/bin/resolvectl
  [ -x "$RESOLVED_BIN" ] && [ -x "$RESOLVECTL" ] && return 0
  if [ -n "${LAB_INSIDE:-}" ]; then
    lab_skip "systemd-resolved $want is not unpacked under $RESOLVED_CACHE and the lab has no network" \
      "(call resolved_fetch before lab_init)"
  fi
  [ "$(id -u)" = 0 ] || return 0 # lab_init skips for this reason anyway
  lab_need apt-get dpkg-deb
  mkdir -p "$RESOLVED_CACHE" || lab_skip "cannot create $RESOLVED_CACHE"
  local tmp deb version
  tmp=$(mktemp -d "$RESOLVED_CACHE/.fetch.XXXXXX") || lab_skip "cannot write to $RESOLVED_CACHE"
  chown _apt "$tmp" 2>/dev/null # apt downloads as _apt when it can write there (else it warns)
  deb=$(ls /var/cache/apt/archives/systemd-resolved_"${want#*:}"_*.deb 2>/dev/null | head -1)
  if [ -n "$deb" ]; then
    cp "$deb" "$tmp/"
  else
    for version in "$want" ""; do
      (cd "$tmp" && timeout 180 apt-get download -q "systemd-resolved${version:+=$version}") >"$tmp/apt.log" 2>&1 &&
        break
      if [ -z "$version" ] || ! grep -q "Version '$want' for 'systemd-resolved' was not found" "$tmp/apt.log"; then
        local why; why=$(grep -E '^(E|Err):' "$tmp/apt.log" | tail -1); rm -rf "$tmp"
        lab_skip "cannot download systemd-resolved (archive unreachable?): ${why:-apt-get download failed}"
      fi
      echo "resolved_fetch: systemd-resolved=$want is not in the archive; trying the candidate version" >&2
    done
  fi
  deb=$(ls "$tmp"/systemd-resolved_*.deb | head -1)
  if ! dpkg-deb -x "$deb" "$tmp/root" || ! "$tmp/root/usr/bin/resolvectl" --version >/dev/null 2>&1; then
    rm -rf "$tmp"
    lab_skip "the unpacked $(basename "$deb") does not run against this machine's libsystemd-shared $want"
  fi
  # Publish atomically; a concurrent fetch that got there first wins (same content).
  mv -T "$tmp/root" "$RESOLVED_ROOT" 2>/dev/null
  rm -rf "$tmp"
  [ -x "$RESOLVED_BIN" ] || lab_skip "unpacking systemd-resolved into $RESOLVED_ROOT failed"
  echo "resolved_fetch: $(basename "$deb") unpacked in $RESOLVED_ROOT" >&2
}

resolvectl() { "$RESOLVECTL" "$@"; }

# resolved_pid: the running daemon's pid (empty when none).
resolved_pid() {
  local pid
  pid=$(cat "$RESOLVED_DIR/pid" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# resolved_ready: the daemon runs, owns its bus name, and its stub listens on UDP and TCP.
resolved_ready() {
  [ -n "$(resolved_pid)" ] && "$RESOLVECTL" status >/dev/null 2>&1 &&
    [ -n "$(ss -Hlnu "src $RESOLVED_STUB_IP:53")" ] && [ -n "$(ss -Hlnt "src $RESOLVED_STUB_IP:53")" ]
}

# resolved_bus_answers: the lab's system bus answers.
resolved_bus_answers() { busctl --system list >/dev/null 2>&1; }

# resolved_link_ready IFACE: resolved has a DNS scope on IFACE (it has a server, carrier and an address).
resolved_link_ready() { "$RESOLVECTL" status "$1" 2>/dev/null | grep -q 'Current Scopes:.*DNS'; }

# resolved_log_has REGEX: resolved's output (all its runs) has a line matching REGEX (grep -E).
resolved_log_has() { grep -Eq -- "$1" "$LAB_DIR/resolved.out"; }

# resolved_up: user, runtime dir, config, private system bus, then the supervised daemon; waits until ready.
# RESOLVED_LOG_LEVEL (default info) is its SYSTEMD_LOG_LEVEL; RESOLVED_RESOLV_CONF=keep leaves /etc/resolv.conf.
resolved_up() {
  [ -n "${RESOLVED_BIN:-}" ] && [ -x "$RESOLVED_BIN" ] || lab_abort "resolved_up: call resolved_fetch first"
  lab_etc_is_private || lab_abort "resolved_up needs lab_private_etc first (it writes /etc and /run)"
  grep -q ' /run .* - tmpfs lab-run ' /proc/self/mountinfo || lab_abort "resolved_up: /run is not the lab's tmpfs"
  lab_need dbus-daemon ss
  RESOLVED_DIR=$LAB_DIR/resolved
  mkdir -p "$RESOLVED_DIR/bin" /etc/systemd /run/dbus /run/systemd/resolve

  # The service user, as systemd-sysusers would create it (sysusers.d/systemd-resolve.conf).
  if ! getent passwd systemd-resolve >/dev/null; then
    local id=999
    while getent passwd "$id" >/dev/null || getent group "$id" >/dev/null; do id=$((id - 1)); done
    echo "systemd-resolve:x:$id:$id:systemd Resolver:/:/usr/sbin/nologin" >>/etc/passwd
    getent group systemd-resolve >/dev/null || echo "systemd-resolve:x:$id:" >>/etc/group
  fi
  chown systemd-resolve:systemd-resolve /run/systemd/resolve || lab_abort "cannot chown /run/systemd/resolve"
  [ -e /etc/systemd/resolved.conf ] || cp "$RESOLVED_ROOT/etc/systemd/resolved.conf" /etc/systemd/
  if [ "${RESOLVED_RESOLV_CONF:-stub}" != keep ]; then
    if mountpoint -q /etc/resolv.conf; then umount /etc/resolv.conf || lab_abort "cannot drop the resolv.conf bind"; fi
    ln -sfn ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
  fi

  # The system bus (kept across resolved restarts, as on a real system). resolved's policy goes into the private
  # /etc/dbus-1/system.d, so a bus someone else started in this lab (nm_lab.sh's stock `dbus-daemon --system`) only
  # needs ReloadConfig. The policy names the systemd-resolve user: the bus resolves it when it loads its config, so
  # the user must exist first.
  mkdir -p /etc/dbus-1/system.d
  cp "$RESOLVED_ROOT/usr/share/dbus-1/system.d/org.freedesktop.resolve1.conf" /etc/dbus-1/system.d/ ||
    lab_abort "cannot install resolved's bus policy in the lab's /etc"
  if [ -S "$RESOLVED_BUS_SOCKET" ] && resolved_bus_answers; then
    busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig >/dev/null 2>&1 ||
      lab_abort "the lab's system bus refused ReloadConfig"
  else
    cat >"$RESOLVED_DIR/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- The lab's system bus (tests/lab/resolved_lab.sh): the stock default policy, runs as root, no activation. -->
<busconfig>
  <type>system</type>
  <listen>unix:path=$RESOLVED_BUS_SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
  <includedir>/etc/dbus-1/system.d</includedir>
</busconfig>
EOF
    rm -f "$RESOLVED_BUS_SOCKET"
    lab_start resolved-bus dbus-daemon --config-file="$RESOLVED_DIR/bus.conf" --nofork --nopidfile --nosyslog
    RESOLVED_BUS_STARTED=1
    wait_until 10000 resolved_bus_answers || lab_abort "the lab's system bus did not start" resolved-bus
  fi

  # The unit: Restart=always (a crash loop of >5 unrequested exits in 10 s stops it).
  cat >"$RESOLVED_DIR/service.sh" <<EOF
#!/usr/bin/env bash
D=$RESOLVED_DIR
crashes=()
while [ ! -e "\$D/down" ]; do
  if [ -e "\$D/stopped" ]; then sleep 0.05; continue; fi
  SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=${RESOLVED_LOG_LEVEL:-info} SYSTEMD_LOG_COLOR=0 "$RESOLVED_BIN" &
  pid=\$!
  echo "\$pid" >"\$D/pid.new" && mv "\$D/pid.new" "\$D/pid"
  echo "lab-service: started systemd-resolved, pid \$pid"
  wait "\$pid"
  rc=\$?
  rm -f "\$D/pid"
  echo "lab-service: systemd-resolved (pid \$pid) exited with status \$rc"
  if [ -e "\$D/restart" ]; then rm -f "\$D/restart"; continue; fi
  [ -e "\$D/stopped" ] || [ -e "\$D/down" ] && continue
  now=\$EPOCHSECONDS recent=()
  for t in "\${crashes[@]}" "\$now"; do [ \$((now - t)) -lt 10 ] && recent+=("\$t"); done
  crashes=("\${recent[@]}")
  if [ "\${#crashes[@]}" -gt 5 ]; then
    echo "lab-service: start request repeated too quickly (crash loop): not restarting"
    touch "\$D/failed" "\$D/stopped"
  fi
done
EOF
  cat >"$RESOLVED_DIR/bin/systemctl" <<EOF
#!/usr/bin/env bash
# systemctl for the lab: systemd-resolved(.service) only; see tests/lab/resolved_lab.sh.
D=$RESOLVED_DIR
echo "\$(date +%T.%N) systemctl \$*" >>"\$D/systemctl.log"
block=1 verb= unit=
for a in "\$@"; do
  case \$a in
    --no-block) block=0 ;;
    -*) ;;
    *) if [ -z "\$verb" ]; then verb=\$a; else unit=\$a; fi ;;
  esac
done
case \${unit%.service} in
  systemd-resolved|dbus-org.freedesktop.resolve1) ;;
  *) echo "lab systemctl: only systemd-resolved.service exists in this lab (got '\$unit')" >&2; exit 5 ;;
esac
pid() { local p; p=\$(cat "\$D/pid" 2>/dev/null) && [ -n "\$p" ] && kill -0 "\$p" 2>/dev/null && echo "\$p"; }
ready() {
  local p; p=\$(pid) && [ "\$p" != "\$old" ] && "$RESOLVECTL" status >/dev/null 2>&1 &&
    [ -n "\$(ss -Hlnu "src $RESOLVED_STUB_IP:53")" ] && [ -n "\$(ss -Hlnt "src $RESOLVED_STUB_IP:53")" ]
}
old=\$(pid)
case \$verb in
  is-active) [ -n "\$old" ] && { echo active; exit 0; }; echo inactive; exit 3 ;;
  stop)
    touch "\$D/stopped"; [ -n "\$old" ] && kill -TERM "\$old"
    while [ "\$block" = 1 ] && kill -0 "\$old" 2>/dev/null; do sleep 0.02; done
    exit 0 ;;
  start) [ -n "\$old" ] && exit 0; rm -f "\$D/stopped" "\$D/failed" ;;
  restart|try-restart|reload-or-restart|try-reload-or-restart|force-reload|condrestart)
    [ -z "\$old" ] && [[ \$verb == try-* || \$verb == condrestart || \$verb == force-reload ]] && exit 0
    rm -f "\$D/stopped" "\$D/failed"
    [ -n "\$old" ] && touch "\$D/restart" && kill -TERM "\$old" ;;
  reload) echo "Failed to reload systemd-resolved.service: Job type reload is not applicable for unit systemd-resolved.service." >&2; exit 1 ;;
  *) echo "lab systemctl: '\$verb' is not supported here" >&2; exit 1 ;;
esac
[ "\$block" = 1 ] || exit 0
for i in \$(seq 500); do ready && exit 0; sleep 0.02; done
echo "Job for systemd-resolved.service failed (lab: not ready within 10 s)." >&2
exit 1
EOF
  chmod +x "$RESOLVED_DIR/service.sh" "$RESOLVED_DIR/bin/systemctl"
  rm -f "$RESOLVED_DIR/down" "$RESOLVED_DIR/stopped" "$RESOLVED_DIR/failed" "$RESOLVED_DIR/restart"
  case ":$PATH:" in *":$RESOLVED_DIR/bin:"*) ;; *) PATH=$RESOLVED_DIR/bin:$RESOLVED_ROOT/usr/bin:$PATH ;; esac
  export PATH
  if ! alive resolved; then
    # appends: one log for every run of the daemon and the supervisor's lines between them
    env --default-signal=INT,QUIT "$RESOLVED_DIR/service.sh" >>"$LAB_DIR/resolved.out" 2>&1 &
    LAB_PIDS[resolved]=$!
  fi
  wait_until 10000 resolved_ready || lab_abort "systemd-resolved did not become ready within 10 s" resolved resolved-bus
}

# resolved_restart: `systemctl restart systemd-resolved` (SIGTERM, the supervisor starts a new one; waits until it
# is ready). Returns non-zero when it is not ready within 10 s.
# resolved_lan_up: the LAN: lan0, a veth to namespace lan-ns; dnsmasq on $LAN_DNS there answers host*.corp.example
# and www.lan.example (NODATA for other types, REFUSED outside those zones), queries logged to $LAB_DIR/lan.log.
# Sets LAN0 (lan0's ifindex); lan_queries NAME counts the A queries for NAME the LAN's server got over lan0.
LAN_DNS=192.0.2.53 CORP_HOST_A=198.51.100.9 LAN_HOST_A=198.51.100.10
resolved_lan_up() {
  mkdir -p /run/netns
  ip netns add lan-ns && ip -n lan-ns link set lo up || lab_abort "cannot create lan-ns"
  ip link add lan0 type veth peer name lan0-far netns lan-ns || lab_abort "cannot create lan0"
  ip addr add 192.0.2.1/24 dev lan0 && ip link set lan0 up
  ip -n lan-ns addr add 192.0.2.254/24 dev lan0-far && ip -n lan-ns link set lan0-far up
  ip -n lan-ns addr add "$LAN_DNS/32" dev lo
  lab_start lan-dns ip netns exec lan-ns dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address="$LAN_DNS" --pid-file= --user=root --local-ttl=1 --log-queries \
    --log-facility="$LAB_DIR/lan.log" --local=/corp.example/ --local=/lan.example/ \
    --host-record=host.corp.example,$CORP_HOST_A --host-record=host2.corp.example,$CORP_HOST_A \
    --host-record=host3.corp.example,$CORP_HOST_A --host-record=www.lan.example,$LAN_HOST_A
  wait_until 10000 ns_listening lan-ns "$LAN_DNS" || lab_abort "dnsmasq in lan-ns did not start" lan-dns
  LAN0=$(cat /sys/class/net/lan0/ifindex)
}
lan_queries() { grep -c "query\[A\] $1 from 192.0.2.1" "$LAB_DIR/lan.log"; }

# start_resolved_roamd: roamd in auto mode (per-link settings read every second), checked to have taken over with
# the resolved backend and verified it. stop_resolved_roamd: SIGTERM, checked to stop cleanly and remove its
# drop-in; waits until resolved's global servers no longer name roamd and lan0 has its DNS scope again.
start_resolved_roamd() { start_auto_roamd resolved; }
stop_resolved_roamd() {
  stop_roamd_term
  expect "roamd stopped cleanly" "$ROAMD_RC" = 0
  expect "the drop-in is gone" "$([ -e /run/systemd/resolved.conf.d/zz-roamd.conf ] && echo present || echo gone)" = gone
  wait_until 5000 eval '[[ "$(resolvectl dns 2>/dev/null | sed -n "s/^Global: *//p")" != *"$ROAMD_IP"* ]]'
  wait_until 5000 resolved_link_ready lan0
}

resolved_restart() { "$RESOLVED_DIR/bin/systemctl" restart systemd-resolved.service; }

# resolved_stop / resolved_start: `systemctl stop|start systemd-resolved` (the bus stays up).
resolved_stop() { "$RESOLVED_DIR/bin/systemctl" stop systemd-resolved.service; }
resolved_start() { "$RESOLVED_DIR/bin/systemctl" start systemd-resolved.service; }

# resolved_down: the daemon (SIGTERM, waited for), its supervisor, and the bus if resolved_up started it.
resolved_down() {
  [ -n "${RESOLVED_DIR:-}" ] || return 0
  touch "$RESOLVED_DIR/down"
  resolved_stop >/dev/null 2>&1
  wait_until 5000 exited resolved || lab_stop resolved
  wait "${LAB_PIDS[resolved]}" 2>/dev/null
  unset "LAB_PIDS[resolved]"
  if [ -n "${RESOLVED_BUS_STARTED:-}" ]; then
    lab_stop resolved-bus
    rm -f "$RESOLVED_BUS_SOCKET"
    RESOLVED_BUS_STARTED=""
  fi
}
