#!/usr/bin/env bash
# The invariant of README "Never without DNS" as a randomized state-machine test (tests/lab/invariant.py) over the
# real roamd on a private /etc: seeded sequences of start, SIGTERM, kill -9 + --restore, --restore, a second
# instance, operator edits, VPN connect/disconnect with backup and restore, a fighting writer and reboots, checked
# against a model of the user's settings after every stop; for the plain-file and the openresolv backends.
# INVARIANT_RUNS (default 200 for the file backend, half as many for openresolv), INVARIANT_STEPS (8) and INVARIANT_SEED (1) set the amount; a failure
# prints the seed to replay.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need resolvconf mountpoint

lab_private_etc
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
ROAMD_SYSTEM_TOML=$(takeover_system_toml auto)
# Decisions 100 ms after a burst instead of 300: the same arbitration, sooner (the sequences wait for it).
write_roamd_config "$LAB_DIR/roamd.toml" <<EOF2
[cloud]
resolvers = ["$CLOUD_IP:53"]
device_id = "$DEVICE_ID"

[arbitration]
quiet_ms = 100
cap_ms = 1000
EOF2
runs=${INVARIANT_RUNS:-200} steps=${INVARIANT_STEPS:-8} seed=${INVARIANT_SEED:-1}
for backend in file resolvconf; do
  section "$backend backend"
  n=$runs
  [ "$backend" = resolvconf ] && n=$(((runs + 1) / 2))
  out=$("$LAB_PYTHON" "$LAB_HOME/invariant.py" --roamd "$ROAMD" --config "$LAB_DIR/roamd.toml" --state "$STATE_DIR" \
    --work "$LAB_DIR" --backend "$backend" --seed "$seed" --runs "$n" --steps "$steps" 2>&1)
  rc=$?
  pkill -KILL -x roamd 2>/dev/null  # nothing of one backend's run may outlive it (this lab's own pid namespace)
  echo "$out"
  LAST_CMD="" ANS_TEXT=""
  expect "$backend: every sequence kept the invariant" "$rc" = 0
done
lab_finish
