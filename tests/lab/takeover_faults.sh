#!/usr/bin/env bash
# Takeovers roamd must refuse, on a private /etc (overlay) in the lab's namespaces: an immutable resolv.conf
# (chattr +i, when the file system supports it), a read-only /etc, a full disk for the journal, a damaged journal
# (truncated; a flipped byte), and a resolv.conf carrying roamd's marker with no journal. Each time roamd keeps
# running and answering on its listen address, its log says why, /etc/resolv.conf is byte-identical to before
# (also after SIGTERM), and no journal is left where none was.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need cmp truncate

lab_private_etc
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
ROAMD_SYSTEM_TOML=$(takeover_system_toml auto)
JOURNAL=$STATE_DIR/takeover.journal
ORIG='# the lab'"'"'s original
nameserver 192.0.2.53
search corp.test
options timeout:1 attempts:1
'
set_original() { rm -f /etc/resolv.conf "$JOURNAL"; printf '%s' "${1:-$ORIG}" >/etc/resolv.conf; }
identical() { cmp -s /etc/resolv.conf "$LAB_DIR/before" && echo identical || echo different; }

# refused CASE WHY-REGEX [JOURNAL-AFTER]: roamd starts on the current resolv.conf and must refuse with a log line
# matching WHY-REGEX, keep serving, leave resolv.conf as it is, and stop cleanly. JOURNAL-AFTER: whether the journal
# exists afterwards ("gone" unless the case keeps a damaged one for the user to look at).
refused() {
  local case=$1 why=$2 journal_after=${3:-gone} status
  cp -P /etc/resolv.conf "$LAB_DIR/before.link" 2>/dev/null
  cat /etc/resolv.conf >"$LAB_DIR/before"
  start_cloud_roamd
  wait_until 10000 roamd_log_has 'dns_enforcer: (protecting|verifying|not_taken|failed)'
  sleep 0.2  # a refusal is final; give a wrongly successful takeover time to show
  status=$(grep -E 'dns_enforcer: (protecting|verifying|not_taken|failed|off)' "$LAB_DIR/roamd.out" | head -1 |
    sed 's/.*dns_enforcer: //')
  LAST_CMD="" ANS_TEXT=$status
  expect "$case: refused (not_taken/failed), not taken over" "${status%%:*}" '~' '^(not_taken|failed)$'
  expect "$case: the log says why ($why)" "$status" '~' "$why"
  expect "$case: resolv.conf is byte-identical" "$(identical)" = identical
  expect_roamd_serving "$case"
  stop_roamd_term
  LAST_CMD="" ANS_TEXT=$(tail -n 5 "$LAB_DIR/roamd.out")
  expect "$case: SIGTERM: exit 0" "$ROAMD_RC" = 0
  expect "$case: after the stop resolv.conf is still byte-identical" "$(identical)" = identical
  expect "$case: journal $journal_after" "$([ -e "$JOURNAL" ] && echo present || echo gone)" = "$journal_after"
  [ -z "$(compgen -G '/etc/.resolv.conf.roamd-tmp-*')" ] ||
    expect "$case: no temp files left in /etc" "$(compgen -G '/etc/.resolv.conf.roamd-tmp-*' | paste -sd' ')" = ""
}

section "immutable resolv.conf (chattr +i)"
set_original
if chattr +i /etc/resolv.conf 2>/dev/null && lsattr /etc/resolv.conf 2>/dev/null | awk '{print $1}' | grep -q i; then
  refused immutable 'immutable'
  chattr -i /etc/resolv.conf
else
  echo "     skipped: this file system (overlay on $(stat -f -c %T "$LAB_DIR")) does not take chattr +i"
fi

section "read-only /etc (a read-only bind of the lab's /etc over itself)"
set_original
mount --bind /etc /etc && mount -o remount,bind,ro /etc || lab_abort "cannot make /etc read-only"
lab_etc_is_private || lab_abort "/etc is not the lab's overlay any more"
expect "/etc is read-only now" "$(touch /etc/.probe 2>&1)" '~' 'Read-only file system'
refused read-only 'Read-only file system'
mount -o remount,bind,rw /etc || lab_abort "cannot make /etc writable again"  # never unmounted: see lib.sh
expect "/etc is writable again" "$(touch /etc/.probe 2>&1 && rm -f /etc/.probe && echo writable)" = writable

section "full disk for the journal (a 4 KiB tmpfs as state_dir, filled)"
set_original
TINY=$LAB_DIR/tiny
mkdir -p "$TINY"
mount -t tmpfs -o size=4k,mode=0700 lab-tiny "$TINY" || lab_abort "cannot mount the tiny tmpfs"
dd if=/dev/zero of="$TINY/fill" bs=1k count=64 2>/dev/null
expect "the tiny state dir is full" "$(echo x 2>&1 >"$TINY/probe")" '~' 'No space left on device'
rm -f "$TINY/probe"
saved_system=$ROAMD_SYSTEM_TOML saved_journal=$JOURNAL
ROAMD_SYSTEM_TOML=${ROAMD_SYSTEM_TOML/state_dir = \"$STATE_DIR\"/state_dir = \"$TINY\"}
JOURNAL=$TINY/takeover.journal
refused full-disk 'No space left on device'
ROAMD_SYSTEM_TOML=$saved_system JOURNAL=$saved_journal

# crashed_takeover: a real journal, left by a roamd killed after its takeover; resolv.conf is roamd's.
crashed_takeover() {
  set_original
  start_cloud_roamd
  wait_until 10000 roamd_log_has 'dns_enforcer: protecting' || lab_abort "roamd did not take over" roamd
  kill -KILL "${LAB_PIDS[roamd]}"
  wait "${LAB_PIDS[roamd]}" 2>/dev/null
  unset "LAB_PIDS[roamd]"
  [ -s "$JOURNAL" ] || lab_abort "no journal after the takeover"
}

# restore_refuses CASE: `roamd --restore` exits 1 on the damaged journal and leaves resolv.conf alone.
restore_refuses() {
  local out rc
  out=$("$ROAMD" --restore --config "$LAB_DIR/roamd.toml" 2>&1)
  rc=$?
  LAST_CMD="roamd --restore" ANS_TEXT=$out
  expect "$1: roamd --restore exits 1" "$rc" = 1
  expect "$1: roamd --restore says why" "$out" '~' 'cannot restore: .*takeover.journal: '
  expect "$1: roamd --restore left resolv.conf alone" "$(identical)" = identical
}

section "damaged journal: truncated"
crashed_takeover
size=$(stat -c %s "$JOURNAL")
truncate -s $((size / 2)) "$JOURNAL"
refused truncated-journal 'truncated: .* of [0-9]+ payload bytes' present
restore_refuses truncated-journal

section "damaged journal: one byte flipped"
crashed_takeover
size=$(stat -c %s "$JOURNAL")
printf '\xff' | dd of="$JOURNAL" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
refused flipped-byte 'checksum mismatch' present
restore_refuses flipped-byte

section "roamd's marker in resolv.conf but no journal"
set_original '# Generated by roamd: the system'"'"'s DNS goes through roamd'"'"'s local proxy.
nameserver 127.0.2.53
search corp.test
'
refused marker-no-journal 'marker but no journal'

section "sanity: with a normal resolv.conf the same setup takes over"
set_original
cat /etc/resolv.conf >"$LAB_DIR/before"
start_cloud_roamd
wait_until 10000 roamd_log_has 'dns_enforcer: (protecting|not_taken|failed)'
expect "takeover verified (protecting)" "$(grep -c 'dns_enforcer: protecting' "$LAB_DIR/roamd.out")" -ge 1
stop_roamd_term
expect "SIGTERM: exit 0, original back" "$ROAMD_RC $(identical)" = "0 identical"

lab_finish
