#!/usr/bin/env bash
# roamd's resolved backend against Debian's real systemd-resolved (resolved_lab.sh): /etc/resolv.conf is the stub
# symlink, lan0 has its own server ($LAN_DNS) with the routing domain ~corp.example (as a DHCP network and a VPN
# give resolved per link). roamd in auto mode picks the resolved backend, writes its drop-in
# (/run/systemd/resolved.conf.d/zz-roamd.conf: DNS=roamd, Domains=~.) and restarts resolved through systemctl (the
# lab's stand-in). Checks: the takeover is verified through the stub; names go stub -> roamd -> the cloud with the
# identity, corp.example names still go to lan0's server; resolved crashing and restarting under roamd keeps it;
# SIGTERM removes the drop-in and restarts resolved (names go to lan0's server again); kill -9 leaves the drop-in,
# `roamd --restore` removes it. /etc/resolv.conf stays the package's symlink throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resolved_lab.sh"
resolved_lab_init "$@"
resolved_lan_up
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
resolved_up
resolvectl dns lan0 "$LAN_DNS" && resolvectl domain lan0 '~corp.example' && resolvectl default-route lan0 true ||
  lab_abort "cannot give lan0 its DNS settings"
wait_until 5000 resolved_link_ready lan0
DROPIN=/run/systemd/resolved.conf.d/zz-roamd.conf
LINK=$(readlink /etc/resolv.conf)
global_dns() { resolvectl dns 2>/dev/null | sed -n 's/^Global: *//p'; }

section "before roamd: lan0's server answers everything"
resolve host.corp.example
expect "getent hosts host.corp.example through the stub" "$ANS_DATA" = "$CORP_HOST_A"

section "takeover with the resolved backend"
ROAMD_SYSTEM_TOML=$(takeover_system_toml auto) start_cloud_roamd
wait_until 15000 roamd_log_has 'dns_enforcer: (protecting|not_taken|failed)'
expect "roamd chose the resolved backend" "$(grep -o 'took over with the [a-z]* backend' "$LAB_DIR/roamd.out" | head -1)" = \
  "took over with the resolved backend"
expect "the takeover was verified (canary through the stub)" "$(roamd_log_has 'dns_enforcer: protecting: verified' && echo yes)" = yes
expect "the drop-in names roamd" "$(grep -E '^(DNS|Domains)=' "$DROPIN" 2>/dev/null | paste -sd' ')" = \
  "DNS=$ROAMD_IP Domains=~."
expect "resolved's global server is roamd" "$(global_dns)" '~' "$ROAMD_IP"
expect "/etc/resolv.conf is still the package's symlink" "$(readlink /etc/resolv.conf)" = "$LINK"
resolve www.example.net
expect "an external name: stub -> roamd -> the cloud, with the identity" "$ANS_DATA" = "$CLOUD_A_TAGGED"
before=$(lan_queries host2.corp.example)
resolve host2.corp.example
expect "a ~corp.example name still goes to lan0's server (resolved's per-link routing)" "$ANS_DATA" = "$CORP_HOST_A"
expect "... which got it" "$(lan_queries host2.corp.example)" -gt "$before"

section "resolved crashes and restarts under roamd"
old=$(resolved_pid)
kill -KILL "$old"
wait_until 10000 eval '[ -n "$(resolved_pid)" ] && [ "$(resolved_pid)" != "$old" ] && resolved_ready'
expect "resolved is back" "$(resolved_ready && echo ready)" = ready
resolve www.example.org
expect "names still go through roamd (the drop-in is read at resolved's start)" "$ANS_DATA" = "$CLOUD_A_TAGGED"

section "SIGTERM: the drop-in goes, resolved restarts, lan0's server answers again"
stop_roamd_term
expect "roamd stopped cleanly" "$ROAMD_RC" = 0
expect "the drop-in is gone" "$([ -e "$DROPIN" ] && echo present || echo gone)" = gone
wait_until 5000 eval '[[ "$(global_dns)" != *"$ROAMD_IP"* ]] && resolved_link_ready lan0'
expect "resolved's global servers no longer name roamd" "$(global_dns)" '!~' "$ROAMD_IP"
resolve host3.corp.example
expect "getent through the stub: lan0's server" "$ANS_DATA" = "$CORP_HOST_A"
expect "/etc/resolv.conf is still the package's symlink" "$(readlink /etc/resolv.conf)" = "$LINK"

section "kill -9, then roamd --restore"
ROAMD_SYSTEM_TOML=$(takeover_system_toml auto) start_cloud_roamd
wait_until 15000 eval '[ -e "$DROPIN" ] && roamd_log_has "dns_enforcer: protecting"'
kill9_then_restore "$DROPIN"
wait_until 5000 eval '[[ "$(global_dns)" != *"$ROAMD_IP"* ]] && resolved_link_ready lan0'
resolve host.corp.example
expect "getent through the stub: lan0's server again" "$ANS_DATA" = "$CORP_HOST_A"
expect "resolved logged no failure" "$(grep -ciE 'failed to (start|bind|listen)|assertion' "$LAB_DIR/resolved.out")" = 0
lab_finish
