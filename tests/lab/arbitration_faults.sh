#!/usr/bin/env bash
# Conflict arbitration when the machine gets in the way (VPN lab of vpn_lab.sh):
#   - interception impossible (roamd started without CAP_NET_ADMIN: no SO_MARK, no nftables): a 50 ms fighter makes
#     it yield after three contests, with no nft table, answering DNS all along, and retry at once when the links
#     change (long before its 20 s backoff), the next backoff doubled;
#   - interception disabled by configuration: the same yield, saying so;
#   - a read-only resolv.conf (read-only bind mount after the VPN wrote it): the take-back fails, roamd says why,
#     keeps answering and still routes the VPN's domain to the VPN's resolver;
#   - netlink churn (30 veths created and deleted) with a VPN connect in the middle: one decision, one write, answers.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need setpriv
. "$LAB_HOME/vpn_lab.sh"
trap 'lab_keep_log; lab_cleanup' EXIT
vpn_lab_up

# roamd without CAP_NET_ADMIN (dropped from the bounding set, so its exec'd root process does not get it back).
REAL_ROAMD=$ROAMD
printf '#!/bin/sh\nexec setpriv --bounding-set -net_admin %q "$@"\n' "$REAL_ROAMD" >"$LAB_DIR/roamd-no-net-admin"
chmod +x "$LAB_DIR/roamd-no-net-admin"
ROAMD=$LAB_DIR/roamd-no-net-admin
# A long first backoff (20 s), so a retry within seconds can only come from a change of the links.
start_vpn_roamd <<<"$ARB_TOML"$'\nyield_backoff_ms = 20000\nyield_backoff_max_ms = 60000'
ROAMD=$REAL_ROAMD

section "interception impossible (no CAP_NET_ADMIN): a fighter makes roamd yield"
expect "roamd runs without CAP_NET_ADMIN" \
  "$(eff=$(awk '$1 == "CapEff:" {print $2}' "/proc/${LAB_PIDS[roamd]}/status"); (((0x$eff >> 12) & 1)) && echo has || echo lacks)" = lacks
expect "roamd says at start why interception is not available" \
  "$(grep -o 'roamd: interception is not available (.*' "$LAB_DIR/roamd.out")" '~' "CAP_NET_ADMIN|Operation not permitted"
vpn_link_up || lab_abort "cannot create tun0"
lab_start fighter "$VPNSIM" --i-am-in-a-lab fight --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --react-ms 50 --marker
wait_until 10000 arbiter_is yielded
expect "roamd yielded" "$(arbiter_state)" = yielded
expect "... saying why and when it retries" "$(arbiter_log yield)" '~' \
  "interception is not available, so roamd yields and tries again in 20 s or when the links change \[yielded\]$"
expect "... naming who contested the settings, and how often" "$(arbiter_log yield)" '~' \
  "VPN script \(tun0\) set 10\.8\.0\.1:53.*contested 3 times"
expect "no interception attempt once roamd knows it is impossible" \
  "$(grep -c 'conflict_arbiter: intercept failed' "$LAB_DIR/roamd.out")" = 0
expect "no nftables table" "$(interception_rules)" = absent
writes_at_yield=$(roamd_writes)
expect "at most 3 writes by roamd (take + 2 takes back)" "$writes_at_yield" -le 3
ask_at "$ROAMD_IP" www.example.net A
expect "roamd keeps answering (dig @roamd)" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
before=$(vpn_queries host.$VPN_DOMAIN)
ask_at "$ROAMD_IP" host.$VPN_DOMAIN A
expect "... the VPN's domain through the VPN's resolver" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
expect "... which saw it" "$(vpn_queries host.$VPN_DOMAIN)" -gt "$before"
resolve host.$VPN_DOMAIN
expect "the fighter's own settings work (getent straight to the VPN's resolver)" "$ANS_DATA" = "$VPN_A"
# A fixed window (1.5 s, well inside the 20 s backoff) in which a rewrite war would show.
t0=$(now_ms)
while [ $(($(now_ms) - t0)) -lt 1500 ]; do sleep 0.1; done
expect "no writes while yielded" "$(roamd_writes)" = "$writes_at_yield"
expect "still yielded" "$(arbiter_state)" = yielded

section "the links change while yielded: roamd retries at once"
t0=$(now_ms)
ip link add extra0 type veth peer name extra0-peer || lab_abort "cannot create extra0"
wait_until 4000 roamd_log_has 'the links changed after yielding'
t1=$(now_ms)
expect "roamd retried because the links changed" "$(grep -c 'the links changed after yielding' "$LAB_DIR/roamd.out")" -ge 1
expect "... at once, not after the 20 s backoff ($((t1 - t0)) ms)" "$((t1 - t0))" -le 3000
yielded_twice() { [ "$(grep -c 'conflict_arbiter: yield: ' "$LAB_DIR/roamd.out")" -ge 2 ]; }
wait_until 10000 yielded_twice
expect "the fighter is still there: roamd yields again, the backoff doubled" "$(arbiter_log yield)" '~' \
  "tries again in 40 s or when the links change \[yielded\]$"
expect "no nftables table" "$(interception_rules)" = absent
lab_stop fighter
ip link del extra0
expect_roamd_serving "after yielding twice"

section "interception disabled by configuration: yields, saying so"
vpn_link_down
restart_vpn_roamd <<<"$ARB_TOML"$'\ninterception = false'
vpn_link_up || lab_abort "cannot create tun0"
lab_start fighter "$VPNSIM" --i-am-in-a-lab fight --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --react-ms 50 --marker
wait_until 10000 arbiter_is yielded
expect "roamd yielded" "$(arbiter_state)" = yielded
expect "... because interception is disabled" "$(arbiter_log yield)" '~' "interception is disabled, so roamd yields"
expect "no nftables table" "$(interception_rules)" = absent
expect "at most 3 writes by roamd" "$(roamd_writes)" -le 3
expect "roamd keeps answering" "$(roamd_answers && echo yes)" = yes
lab_stop fighter
vpn_link_down

section "read-only resolv.conf after a VPN wrote it: the take-back fails, roamd says why and keeps answering"
restart_vpn_roamd <<<$'[arbitration]\nquiet_ms = 500\ncap_ms = 3000'
vpn_link_up || lab_abort "cannot create tun0"
vpn connect --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --method inplace
expect "vpnsim connected" "$VS_RC" = 0
# Within the quiet period: the file (now the VPN's) becomes a read-only bind mount of itself.
mount --bind /etc/resolv.conf /etc/resolv.conf && mount -o remount,ro,bind /etc/resolv.conf
expect "resolv.conf is read-only now" "$(touch /etc/resolv.conf 2>/dev/null && echo writable || echo read-only)" = read-only
wait_until 5000 decisions_at_least 1
expect "the take-back failed, saying why" "$(grep -o 'conflict_arbiter: adopt and take back failed: .*' "$LAB_DIR/roamd.out" | tail -1)" \
  '~' "(Read-only file system|read-only)"
expect "the VPN's file is still there" "$(resolv_names)" = "$VPN_DNS"
expect "roamd is not in a write loop (one take, no more writes)" "$(roamd_writes)" = 1
expect "roamd keeps answering" "$(roamd_answers && echo yes)" = yes
before=$(vpn_queries host.$VPN_DOMAIN)
ask_at "$ROAMD_IP" host.$VPN_DOMAIN A
expect "... and learnt the VPN's domain" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
expect "... through the tunnel" "$(vpn_queries host.$VPN_DOMAIN)" -gt "$before"
umount /etc/resolv.conf
vpn disconnect
vpn_link_down

section "netlink churn: 30 veths created and deleted, a VPN connect in the middle: one decision"
restart_vpn_roamd <<<$'[arbitration]\nquiet_ms = 300\ncap_ms = 5000'
vpn_link_up || lab_abort "cannot create tun0"
wait_until 3000 roamd_log_has 'links: .*tun0/veth$'
t0=$(now_ms)
for i in $(seq 1 30); do ip link add "churn$i" type veth peer name "churn$i-p"; ip link set "churn$i" up; done
vpn connect --ns "$VPN_DNS" --domain "$VPN_DOMAIN" --method rename
for i in $(seq 1 30); do ip link del "churn$i"; done
t1=$(now_ms)
echo "     (churn and connect took $((t1 - t0)) ms)"
expect "roamd answers right after the churn" "$(roamd_answers && echo yes)" = yes
expect_one_take_back churn 1300
expect_roamd_serving "after the churn"

lab_finish
