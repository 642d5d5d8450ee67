# The VPN lab for arbitration scenarios (tests/lab/arbitration*.sh, tools/conflict-bench). Source it after lib.sh
# and lab_init. `vpn_lab_up` builds, inside the lab's namespaces:
#   - a private /etc (overlay) and /run (lab_private_etc); /etc/resolv.conf holds the LAN's settings ($LAN_RESOLV);
#   - "lan0": a veth to namespace lan-ns, the default route; the LAN's resolver $LAN_DNS (dnsmasq) behind it
#     answers host.home.test with $LAN_A (and REFUSES the rest);
#   - the cloud resolver (dnsdist on $CLOUD_IP, loopback) answering by whether the query carried the device identity
#     ($CLOUD_A_TAGGED with it, $CLOUD_A_PLAIN without);
#   - `vpn_link_up` (later, by the scenario): "tun0", a point-to-point veth to namespace vpn-ns whose resolver
#     $VPN_DNS (dnsmasq) answers host.corp.example with $VPN_A, REFUSED for the rest, and logs every query to
#     $LAB_DIR/vpn.log: it is reachable only through tun0. `vpn_link_down` deletes the link (a disconnect).
# and starts the real roamd taking over the settings (`start_vpn_roamd`, extra TOML on stdin).
lab_need dnsmasq nft

LAN_DNS=192.0.2.53 LAN_A=192.0.2.80
VPN_DNS=10.8.0.1 VPN_A=203.0.113.80 VPN_DOMAIN=corp.example
LAN_RESOLV=$'# the LAN\'s resolver (from DHCP)\nnameserver 192.0.2.53\nsearch home.test\noptions timeout:1 attempts:2\n'
VPNSIM=$(cd "$LAB_HOME/../.." && pwd)/tools/vpnsim

# far_ns NAME: a namespace with loopback up.
far_ns() {
  ip netns add "$1" && ip -n "$1" link set lo up
}

# far_resolver NS ADDR LOG DNSMASQ-OPTIONS...: dnsmasq on ADDR inside NS, queries logged to LOG.
far_resolver() {
  local ns=$1 addr=$2 log=$3; shift 3
  ip -n "$ns" addr add "$addr/32" dev lo 2>/dev/null
  lab_start "dns-$ns" ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address="$addr" --pid-file= --user=root --local-ttl=1 --log-queries \
    --log-facility="$log" "$@"
  wait_until 10000 ns_listening "$ns" "$addr" || lab_abort "dnsmasq in $ns did not start" "dns-$ns"
}

vpn_lab_up() {
  lab_private_etc
  mkdir -p /run/netns
  resolv_conf_shape plain "$LAN_RESOLV"
  far_ns lan-ns || lab_abort "cannot create lan-ns"
  ip link add lan0 type veth peer name lan0-far netns lan-ns || lab_abort "cannot create lan0"
  ip addr add 192.0.2.1/24 dev lan0 && ip link set lan0 up
  ip -n lan-ns addr add 192.0.2.254/24 dev lan0-far && ip -n lan-ns link set lan0-far up
  ip route add default via 192.0.2.254 dev lan0 || lab_abort "cannot add the default route"
  far_resolver lan-ns "$LAN_DNS" "$LAB_DIR/lan.log" --host-record=host.home.test,$LAN_A
  start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
  far_ns vpn-ns || lab_abort "cannot create vpn-ns"
  far_resolver vpn-ns "$VPN_DNS" "$LAB_DIR/vpn.log" --host-record=host.$VPN_DOMAIN,$VPN_A \
    --host-record=db.$VPN_DOMAIN,$VPN_A --host-record=www.$VPN_DOMAIN,$VPN_A
  : >"$LAB_DIR/vpn.log"
}

# vpn_link_up: the tunnel appears (a new ifindex each time).
vpn_link_up() {
  ip link add tun0 type veth peer name tun0-far netns vpn-ns || return 1
  ip addr add 10.8.0.2/24 dev tun0 && ip link set tun0 up || return 1
  ip -n vpn-ns addr add 10.8.0.254/24 dev tun0-far 2>/dev/null
  ip -n vpn-ns link set tun0-far up
}

# vpnc_script REASON [full]: /usr/share/vpnc-scripts/vpnc-script as OpenConnect runs it for a split-tunnel
# connection (10.8.0.0/24 through tun0), or with "full" a full tunnel (the default route through tun0, a host route
# to the gateway 192.0.2.254 through the LAN).
vpnc_script() {
  local split=(CISCO_SPLIT_INC=1 CISCO_SPLIT_INC_0_ADDR=10.8.0.0 CISCO_SPLIT_INC_0_MASK=255.255.255.0
    CISCO_SPLIT_INC_0_MASKLEN=24 CISCO_SPLIT_INC_0_PROTOCOL=0 CISCO_SPLIT_INC_0_SPORT=0 CISCO_SPLIT_INC_0_DPORT=0)
  [ "${2:-}" = full ] && split=()
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin reason="$1" TUNDEV=tun0 VPNGATEWAY=192.0.2.254 VPNPID=$$ \
    INTERNAL_IP4_ADDRESS=10.8.0.2 INTERNAL_IP4_NETMASK=255.255.255.0 INTERNAL_IP4_MTU=1400 \
    INTERNAL_IP4_DNS="$VPN_DNS" CISCO_DEF_DOMAIN="$VPN_DOMAIN" "${split[@]}" \
    /usr/share/vpnc-scripts/vpnc-script >>"$LAB_DIR/vpnc-script.out" 2>&1
}

# vpn_link_down: the tunnel goes (a disconnect, or a crashed VPN client).
vpn_link_down() { ip link del tun0 2>/dev/null; }

# vpn ARGS...: tools/vpnsim in this lab (resolv.conf writes only; the link is vpn_link_up's). Output in
# $LAB_DIR/vpnsim.out (appended), status in VS_RC.
vpn() {
  LAST_CMD="vpnsim $*"
  "$VPNSIM" --i-am-in-a-lab "$@" >>"$LAB_DIR/vpnsim.out" 2>&1
  VS_RC=$?
}

# start_vpn_roamd < TOML: roamd on $ROAMD_IP taking over /etc/resolv.conf, the cloud as default route with the
# identity; waits until it has verified its takeover. Extra TOML (e.g. [arbitration]) on stdin.
start_vpn_roamd() {
  local extra=""
  [ -t 0 ] || extra=$(cat)
  ROAMD_SYSTEM_TOML=$(takeover_system_toml auto)
  start_cloud_roamd <<<"$extra"
  wait_until 15000 roamd_log_has 'dns_enforcer: (protecting|not_taken|failed)' ||
    lab_abort "roamd did not finish its takeover" roamd
  roamd_log_has 'dns_enforcer: protecting' || lab_abort "roamd did not take over" roamd
}

# arbiter_is STATE: arbiter_state (lib.sh) is STATE.
arbiter_is() { [ "$(arbiter_state)" = "$1" ]; }
# roamd_writes: settings writes roamd made since start (the take counts one).
roamd_writes() { grep -cE 'dns_enforcer: (verifying: took over|protecting: took the settings back: wrote)' "$LAB_DIR/roamd.out"; }
# vpn_queries NAME: queries for NAME the VPN's resolver received.
vpn_queries() { grep -c "query\[A\] $1 " "$LAB_DIR/vpn.log"; }
# resolv_names: the nameservers /etc/resolv.conf names now.
resolv_names() { awk '$1 == "nameserver" {print $2}' /etc/resolv.conf | paste -sd' '; }
# interception_rules: "present" while roamd's nftables table exists.
interception_rules() { nft list tables 2>/dev/null | grep -q 'inet roamd$' && echo present || echo absent; }

# --- more helpers for the arbitration_* scripts ------------------------------------------------------------------

# vpn_tun_up: like vpn_link_up, but "tun0" is a real tun device (kind tun, point-to-point, carrier while held) joined
# by tunpair.py to "tun0-far" in vpn-ns: what roamd recognises as a VPN tunnel (a veth is not one).
vpn_tun_up() {
  lab_start tunpair "$LAB_PYTHON" "$LAB_HOME/tunpair.py" tun0 tun0-far
  wait_until 5000 grep -q ready "$LAB_DIR/tunpair.out" || return 1
  ip link set tun0-far netns vpn-ns || return 1
  ip addr add 10.8.0.2/24 dev tun0 && ip link set tun0 up || return 1
  ip -n vpn-ns addr add 10.8.0.254/24 dev tun0-far && ip -n vpn-ns link set tun0-far up
}
# vpn_tun_down: the tun goes (its holder is killed: both devices disappear).
vpn_tun_down() { lab_stop tunpair; }

# restart_vpn_roamd < TOML: a fresh roamd for the next scenario: the running one stopped with SIGTERM (it restores
# the settings), its output kept as roamd-N.out, vpnsim's state dropped, resolv.conf the LAN's again; then
# start_vpn_roamd with the TOML on stdin.
LAB_ROAMD_RUN=0
restart_vpn_roamd() {
  local extra=""
  [ -t 0 ] || extra=$(cat)
  if [ -n "${LAB_PIDS[roamd]:-}" ]; then
    stop_roamd_term
    LAB_ROAMD_RUN=$((LAB_ROAMD_RUN + 1))
    mv "$LAB_DIR/roamd.out" "$LAB_DIR/roamd-$LAB_ROAMD_RUN.out"
  fi
  rm -rf /run/vpnsim "$STATE_DIR"/*
  resolv_conf_shape plain "$LAN_RESOLV"
  start_vpn_roamd <<<"$extra"
}

# arbiter_decisions: the arbiter's decision lines so far (every `conflict_arbiter:` line but take, restore and the
# network-state events).
arbiter_decisions() { grep 'conflict_arbiter: ' "$LAB_DIR/roamd.out" | grep -cvE 'conflict_arbiter: (take|restore|network): '; }
# arbiter_log ACTION: the last decision line for ACTION ("adopt and take back", "yield", ...), from the action on.
arbiter_log() { grep -o "conflict_arbiter: $1: .*" "$LAB_DIR/roamd.out" | tail -1; }
# roamd_answers: roamd answers an external name (a fresh one each time) with the cloud's tagged answer.
LAB_PROBE=0
roamd_answers() {
  LAB_PROBE=$((LAB_PROBE + 1))
  ask "probe$LAB_PROBE.example.org" A
  [ "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED" ]
}
# lab_keep_log: with ROAMD_LAB_LOGS=DIR set, roamd's outputs of this run are copied there (for reports).
lab_keep_log() {
  [ -n "${ROAMD_LAB_LOGS:-}" ] || return 0
  mkdir -p "$ROAMD_LAB_LOGS" && cp "$LAB_DIR"/roamd*.out "$LAB_DIR"/vpnsim.out "$ROAMD_LAB_LOGS"/ 2>/dev/null
  return 0
}

# known_bug ID DESCRIPTION ACTUAL OP EXPECTED: an `expect` for a reported roamd bug that is not fixed yet. Checked
# (and failing until fixed) with ROAMD_LAB_KNOWN_BUGS=1; otherwise one "skip [known bug ID]" line, not counted.
known_bug() {
  local id=$1 desc=$2; shift 2
  if [ "${ROAMD_LAB_KNOWN_BUGS:-}" = 1 ]; then
    expect "[known bug $id] $desc" "$@"
  else
    echo "skip [known bug $id] $desc (got '$1'; ROAMD_LAB_KNOWN_BUGS=1 checks it)"
  fi
}

# Predicates for wait_until (which runs its command again at each poll: `wait_until T test "$(f)" = x` would
# evaluate f once, before waiting):
decisions_at_least() { [ "$(arbiter_decisions)" -ge "$1" ]; }
resolv_names_are() { [ "$(resolv_names)" = "$1" ]; }
# rules_absent: roamd's nftables table is gone (a predicate for wait_until).
rules_absent() { [ "$(interception_rules)" = absent ]; }

# expect_split WHAT INTERNAL EXTERNAL: INTERNAL (a name in the VPN's domain) is answered by the VPN's resolver, which
# saw the query (it is reachable only through the tunnel), and EXTERNAL by the cloud with the identity.
expect_split() {
  local what=$1 internal=$2 external=$3 before
  before=$(vpn_queries "$internal")
  resolve "$internal"
  expect "$what: an internal name is answered by the VPN's resolver" "$ANS_DATA" = "$VPN_A"
  expect "$what: ... which saw the query (through the tunnel)" "$(vpn_queries "$internal")" -gt "$before"
  resolve "$external"
  expect "$what: an external name goes to the cloud with the identity" "$ANS_DATA" = "$CLOUD_A_TAGGED"
}

# expect_vpn_forgotten WHAT: the tunnel went and its adopted routes with it: internal names go to the cloud (the VPN's
# resolver sees nothing), the LAN's domain to the LAN's resolver.
expect_vpn_forgotten() {
  local what=$1 before
  wait_until 3000 roamd_log_has 'conflict_arbiter: forget: the link tun0 is gone'
  expect "$what: the adopted routes are withdrawn" "$(arbiter_log forget)" '~' "the link tun0 is gone"
  before=$(vpn_queries host.$VPN_DOMAIN)
  resolve host.$VPN_DOMAIN
  expect "$what: an internal name no longer goes to the VPN's resolver" "$ANS_DATA" = "$CLOUD_A_TAGGED"
  expect "$what: ... which saw nothing" "$(vpn_queries host.$VPN_DOMAIN)" = "$before"
  resolve host.home.test
  expect "$what: the LAN's domain reaches the LAN's resolver" "$ANS_DATA" = "$LAN_A"
}

# vpn_lab_with_roamd: the VPN lab with roamd taking over (quiet 300 ms, cap 3 s); roamd's logs are kept on failure
# (lab_keep_log). Most arbitration scripts start with this.
ARB_TOML=$'[arbitration]\nquiet_ms = 300\ncap_ms = 3000'
vpn_lab_with_roamd() {
  trap 'lab_keep_log; lab_cleanup' EXIT
  vpn_lab_up
  start_vpn_roamd <<<"$ARB_TOML"
}

# expect_one_take_back WHAT WINDOW_MS: after waiting out WINDOW_MS (a fixed window in which a second decision or a
# second write would show), one decision adopted the VPN and took the settings back with one write, and an internal
# name reaches the VPN's resolver.
expect_one_take_back() {
  local what=$1 window=$2 t0 before
  wait_until 6000 decisions_at_least 1
  t0=$(now_ms)
  while [ $(($(now_ms) - t0)) -lt "$window" ]; do sleep 0.1; done
  expect "$what: one decision" "$(arbiter_decisions)" = 1
  expect "$what: adopt and take back" "$(arbiter_log 'adopt and take back')" '~' "set 10\.8\.0\.1:53 .*bound to tun0"
  expect "$what: one write by roamd after its take" "$(roamd_writes)" = 2
  expect "$what: resolv.conf names roamd" "$(resolv_names)" = "$ROAMD_IP"
  before=$(vpn_queries db.$VPN_DOMAIN)
  resolve db.$VPN_DOMAIN
  expect "$what: an internal name reaches the VPN's resolver" "$ANS_DATA" = "$VPN_A"
  expect "$what: ... which saw it" "$(vpn_queries db.$VPN_DOMAIN)" -gt "$before"
}

# expect_back_to_settings WHAT T0: within 1 s of T0 (now_ms when the VPN went) roamd protects by settings again: the
# interception rules are gone and resolv.conf names roamd.
expect_back_to_settings() {
  local what=$1 t0=$2 t1
  wait_until 3000 arbiter_is "protected by settings"
  t1=$(now_ms)
  expect "$what: back to protection by settings" "$(arbiter_state)" = "protected by settings"
  expect "$what: ... within 1 s ($((t1 - t0)) ms)" "$((t1 - t0))" -le 1000
  expect "$what: the rules are gone" "$(interception_rules)" = absent
  expect "$what: resolv.conf names roamd" "$(resolv_names)" = "$ROAMD_IP"
}

# expect_taken_back_once WHAT OWNER: a decision adopted the VPN's server for corp.example, bound to tun0, naming OWNER
# (a regex) as the writer, and took the settings back: resolv.conf names roamd, 2 writes in all (take, take back).
expect_taken_back_once() {
  local what=$1 owner=$2
  wait_until 5000 roamd_log_has 'conflict_arbiter: adopt and take back'
  expect "$what: adopted, bound to the tunnel" "$(arbiter_log 'adopt and take back')" '~' \
    "^conflict_arbiter: adopt and take back: $owner \(tun0\) set 10\.8\.0\.1:53 for .*corp\.example: .*bound to tun0 .*\[protected by settings\]$"
  wait_until 3000 resolv_names_are "$ROAMD_IP"
  expect "$what: resolv.conf names roamd again" "$(resolv_names)" = "$ROAMD_IP"
  expect "$what: roamd wrote twice in all: take, take back" "$(roamd_writes)" = 2
}
