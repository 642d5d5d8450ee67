#!/usr/bin/env bash
# SIGTERM and SIGINT stop roamd within 1 s with exit status 0, even with a query in flight to a wedged upstream
# and an idle TCP client connected; afterwards nothing listens on its address.
. "$(dirname "$0")/lib.sh"
lab_init "$@"

start_upstream wedged "$WEDGED_IP" "$WEDGED_PROFILE"

for sig in TERM INT; do
  section "SIG$sig"
  start_roamd <<EOF2
[cloud]
resolvers = ["$WEDGED_IP:53"]
device_id = "$DEVICE_ID"

[upstream]
timeout_ms = 5000
attempts = 3

[tcp]
idle_timeout_ms = 30000
EOF2
  lab_start "idle-$sig" "$LAB_PYTHON" "$LAB_HOME/dnsraw.py" idle "$ROAMD_IP" 30
  lab_start "inflight-$sig" dig @"$ROAMD_IP" +time=20 +tries=1 "inflight-$sig.example"
  wait_until 5000 grep -q "inflight-$sig" "$LAB_DIR/wedged.queries" ||
    lab_abort "the in-flight query never reached the wedged upstream" roamd
  pid=${LAB_PIDS[roamd]}
  t0=$(now_ms)
  kill -"$sig" "$pid"
  wait_until 5000 exited roamd   # beyond 1 s only to report how long it did take
  ms=$(($(now_ms) - t0))
  LAST_CMD="kill -$sig <roamd>" ANS_TEXT=$(tail -n 5 "$LAB_DIR/roamd.out")
  if alive roamd; then
    expect "SIG$sig: roamd exited" "still running after $ms ms" = exited
    lab_stop roamd
    continue
  fi
  wait "$pid"
  rc=$?
  unset "LAB_PIDS[roamd]"
  expect "SIG$sig: roamd exited within 1000 ms" "$ms" -le 1000
  expect "SIG$sig: exit status 0" "$rc" = 0
  expect "SIG$sig: nothing listens on $ROAMD_IP:53 any more" \
    "$(ss -Hlnu "src $ROAMD_IP:53"; ss -Hlnt "src $ROAMD_IP:53")" = ""
  lab_stop "idle-$sig"
  lab_stop "inflight-$sig"
done

lab_finish
