#!/usr/bin/env bash
# systemd readiness and the watchdog, with systemd's side played by tests/lab/minisystemd.py (the notify socket,
# WatchdogSec=5, SIGABRT then SIGKILL after TimeoutAbortSec=1, ExecStopPost=roamd --restore, Restart=always):
# READY=1 only once the takeover is verified, WATCHDOG=1 at the self-check's cadence, SIGHUP keeps it serving,
# STOPPING=1 on SIGTERM; a frozen data-plane thread (ptrace) makes roamd give the settings back and exit 1 within the
# issue's bounds (detected <= 5 s, DNS back <= 2 s later), and the restart re-takes; a hung process (SIGSTOP) is
# killed by the watchdog and the unit's restore gives DNS back.
. "$(dirname "$0")/lib.sh"
lab_init "$@"

lab_private_etc
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
ROAMD_SYSTEM_TOML=$(takeover_system_toml auto)
write_roamd_config "$LAB_DIR/roamd.toml" <<EOF2
[cloud]
resolvers = ["$CLOUD_IP:53"]
device_id = "$DEVICE_ID"
EOF2
ORIG='nameserver 192.0.2.53
search corp.test
'
field() { "$LAB_PYTHON" -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print(json.dumps(v) if isinstance(v,(list,dict)) else v)' "$1" "$2"; }
scenario() {
  resolv_conf_shape plain "$ORIG"
  OUT=$("$LAB_PYTHON" "$LAB_HOME/minisystemd.py" "$1" --roamd "$ROAMD" --config "$LAB_DIR/roamd.toml" --work "$LAB_DIR" 2>&1)
  echo "     $OUT"
  LAST_CMD="minisystemd.py $1" ANS_TEXT=$OUT
}

section "READY=1, WATCHDOG=1, SIGHUP, STOPPING=1"
scenario ready
expect "READY=1 sent" "$(field "$OUT" ready)" = True
expect "resolv.conf named roamd when READY=1 came (the takeover first)" "$(field "$OUT" resolv_conf_named_roamd_at_ready)" = True
expect "STATUS= says what the system DNS is" "$(field "$OUT" status)" '~' 'system DNS: protecting'
expect "WATCHDOG=1 at least 4 times in 3 s" "$(field "$OUT" pings_in_3s)" -ge 4
expect "no gap between pings over 1500 ms" "$(field "$OUT" max_ping_gap_ms)" -le 1500
expect "SIGHUP (ExecReload=): still running" "$(field "$OUT" alive_after_sighup)" = True
expect "SIGHUP: still pinging" "$(field "$OUT" pings_after_sighup)" -ge 1
expect "SIGTERM: exit 0" "$(field "$OUT" exit)" = 0
expect "SIGTERM: STOPPING=1 sent" "$(field "$OUT" stopping_sent)" = True
expect "SIGTERM: the settings are back" "$(field "$OUT" resolv_conf_names_roamd_after)" = False

section "a data-plane thread stops running (frozen with ptrace)"
scenario wedge-worker
expect "no fault-injection error" "$(field "$OUT" error)" = None
expect "detected within 5 s" "$(field "$OUT" detected_ms)" -le 5000
expect "STATUS= names the wedged worker" "$(field "$OUT" stopping_status)" '~' 'worker 0 did not run a posted task'
expect "the system's DNS is roamd's no longer" "$(field "$OUT" dns_back)" = True
expect "DNS back within 2 s of the detection" "$(( $(field "$OUT" dns_back_ms) - $(field "$OUT" detected_ms) ))" -le 2000
expect "roamd exits 1 (for Restart=always)" "$(field "$OUT" exit)" = 1
expect "no watchdog ping after the wedge was seen" "$(field "$OUT" last_ping_before_detection)" = True
expect "ExecStopPost's --restore: exit 0" "$(field "$OUT" exec_stop_post)" = 0
expect "the restart is ready again" "$(field "$OUT" restarted_ready)" = True
expect "the restart took the settings again" "$(field "$OUT" retaken)" = True
expect "the restart stops cleanly" "$(field "$OUT" restarted_exit)" = 0
expect "after it all: the original, byte for byte" "$(printf '%s' "$ORIG" | cmp -s - /etc/resolv.conf && echo same || echo different)" = same

section "the whole process hangs (SIGSTOP): systemd's watchdog"
scenario hang
expect "the watchdog fired within 5.5 s" "$(field "$OUT" watchdog_fired_ms)" -le 5500
expect "ExecStopPost's --restore: exit 0" "$(field "$OUT" exec_stop_post)" = 0
expect "DNS back" "$(field "$OUT" dns_back)" = True
expect "DNS back within 2 s of the watchdog" "$(( $(field "$OUT" dns_back_ms) - $(field "$OUT" watchdog_fired_ms) ))" -le 2000
expect "after it all: the original, byte for byte" "$(printf '%s' "$ORIG" | cmp -s - /etc/resolv.conf && echo same || echo different)" = same

lab_finish
