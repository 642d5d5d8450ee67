#!/usr/bin/env bash
# Debian's real systemd-resolved in the lab (resolved_lab.sh), without roamd: it comes up on a private system bus,
# takes a per-link DNS server and routing domain for the veth "lan0" from resolvectl and over D-Bus (busctl), and
# `getent hosts` through /etc/resolv.conf -> stub-resolv.conf (127.0.0.53) resolves names served by a dnsmasq behind
# lan0 (in namespace lan-ns). After `systemctl restart systemd-resolved` (the lab's stand-in), and after a crash
# (Restart=always), the per-link settings are still there and names still resolve. (--roamd is required by lab_init
# but roamd is not started.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resolved_lab.sh"
resolved_lab_init "$@"

RESOLVE1=(org.freedesktop.resolve1 /org/freedesktop/resolve1 org.freedesktop.resolve1.Manager)
resolved_lan_up
# run CMD...: runs it, sets OUT (stdout+stderr), RC and LAST_CMD/ANS_TEXT for expect's failure report.
run() { OUT=$("$@" 2>&1); RC=$?; LAST_CMD="$*" ANS_TEXT=$OUT; }

section "systemd-resolved $RESOLVED_VERSION on a private system bus"
resolved_up
run resolvectl status
expect "resolvectl status answers" "$RC" = 0
expect "resolv.conf mode is stub" "$OUT" '~' 'resolv.conf mode: stub'
expect "/etc/resolv.conf is the package's symlink to the stub file" "$(readlink /etc/resolv.conf)" = \
  ../run/systemd/resolve/stub-resolv.conf
expect "stub-resolv.conf names 127.0.0.53" "$(grep '^nameserver' /etc/resolv.conf)" = "nameserver 127.0.0.53"
expect "the daemon runs as systemd-resolve" "$(ps -o user= -p "$(resolved_pid)")" = systemd-resolve
expect "it owns org.freedesktop.resolve1 on the lab's bus" \
  "$(busctl --system list --no-legend 2>/dev/null | awk '$1 == "org.freedesktop.resolve1"' | wc -l)" = 1
expect "its varlink socket exists (what roamd's auto mode looks for)" \
  "$([ -S /run/systemd/resolve/io.systemd.Resolve ] && echo yes)" = yes

section "per-link DNS with resolvectl"
run resolvectl dns lan0 "$LAN_DNS"
expect "resolvectl dns lan0 $LAN_DNS" "$RC" = 0
run resolvectl domain lan0 '~corp.example'
expect "resolvectl domain lan0 ~corp.example" "$RC" = 0
wait_until 5000 resolved_link_ready lan0
run resolvectl status lan0
expect "lan0 has a DNS scope" "$OUT" '~' 'Current Scopes: DNS'
expect "lan0 shows the server" "$OUT" '~' "DNS Servers: $LAN_DNS"
expect "lan0 shows the routing domain" "$OUT" '~' 'DNS Domain: ~corp\.example'
resolve host.corp.example
expect "getent hosts host.corp.example (glibc -> 127.0.0.53 -> lan0's server)" "$ANS_DATA" = "$CORP_HOST_A"
expect "the LAN's dnsmasq got the query over lan0" "$(lan_queries host.corp.example)" -ge 1
ask_at "$RESOLVED_STUB_IP" host2.corp.example A
expect "dig @127.0.0.53 host2.corp.example" "$ANS_STATUS $ANS_DATA" = "NOERROR $CORP_HOST_A"
resolve www.lan.example
expect "a name outside lan0's routing domains is not sent there (lan0 is no default route)" "$ANS_DATA" = ""
expect "... the LAN's server did not see it" "$(lan_queries www.lan.example)" = 0

section "the same over D-Bus (busctl on the private bus)"
run busctl call "${RESOLVE1[@]}" SetLinkDomains 'ia(sb)' "$LAN0" 2 corp.example true lan.example true
expect "SetLinkDomains(lan0, ~corp.example ~lan.example)" "$RC" = 0
run busctl call "${RESOLVE1[@]}" SetLinkDNS 'ia(iay)' "$LAN0" 1 2 4 192 0 2 53
expect "SetLinkDNS(lan0, $LAN_DNS)" "$RC" = 0
run busctl get-property org.freedesktop.resolve1 "/org/freedesktop/resolve1/link/_3$LAN0" \
  org.freedesktop.resolve1.Link Domains
expect "the Link object's Domains property" "$OUT" = 'a(sb) 2 "corp.example" true "lan.example" true'
resolve www.lan.example
expect "getent hosts www.lan.example now resolves through lan0" "$ANS_DATA" = "$LAN_HOST_A"

section "systemctl restart systemd-resolved (the lab's stand-in)"
old=$(resolved_pid)
run systemctl restart systemd-resolved.service
expect "systemctl restart: exit 0" "$RC" = 0
expect "a new daemon runs" "$(resolved_pid)" '~' "^[0-9]+$"
wait_until 5000 resolved_link_ready lan0
expect "... with a new pid" "$(resolved_pid)" != "$old"
run resolvectl status lan0
expect "lan0's server survived the restart (/run/systemd/resolve/netif)" "$OUT" '~' "DNS Servers: $LAN_DNS"
expect "lan0's domains survived the restart" "$OUT" '~' 'DNS Domain: ~corp\.example ~lan\.example'
resolve host3.corp.example
expect "getent hosts host3.corp.example after the restart" "$ANS_DATA" = "$CORP_HOST_A"
run systemctl reload systemd-resolved.service
expect "systemctl reload fails, as with Debian 12's unit (no ExecReload=)" "$RC" = 1

section "a crash: Restart=always"
old=$(resolved_pid)
kill -KILL "$old"
wait_until 10000 eval '[ -n "$(resolved_pid)" ] && [ "$(resolved_pid)" != "$old" ] && resolved_ready'
expect "the supervisor restarted it and it is ready" "$(resolved_ready && echo ready)" = ready
expect "... as a new process" "$(resolved_pid)" != "$old"
wait_until 5000 resolved_link_ready lan0
resolve host.corp.example
expect "getent hosts host.corp.example after the crash" "$ANS_DATA" = "$CORP_HOST_A"
LAST_CMD="" ANS_TEXT=$(grep lab-service "$LAB_DIR/resolved.out")
expect "resolved logged no failure to the console" \
  "$(grep -ciE 'failed to (start|bind|listen|open .*socket)|assertion' "$LAB_DIR/resolved.out")" = 0

section "systemctl stop, then resolved_down"
run systemctl stop systemd-resolved.service
expect "systemctl stop: exit 0" "$RC" = 0
expect "the stub no longer listens" "$(listening "$RESOLVED_STUB_IP" && echo listening || echo gone)" = gone
run busctl call "${RESOLVE1[@]}" FlushCaches
expect "org.freedesktop.resolve1 is gone from the bus (no activation in the lab)" "$OUT" '~' \
  'not provided by any .service files'
run systemctl start systemd-resolved.service
expect "systemctl start: exit 0" "$RC" = 0
wait_until 5000 resolved_link_ready lan0
resolve host2.corp.example
expect "getent hosts host2.corp.example after stop + start" "$ANS_DATA" = "$CORP_HOST_A"
resolved_down
expect "resolved_down: nothing listens on 127.0.0.53" "$(listening "$RESOLVED_STUB_IP" && echo listening || echo gone)" = gone
expect "resolved_down: the bus is gone" "$(busctl --system list >/dev/null 2>&1 && echo up || echo gone)" = gone

lab_finish
