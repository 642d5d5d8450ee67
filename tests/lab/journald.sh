#!/usr/bin/env bash
# Logs to the systemd journal: roamd's real sd_journal_sendv against a stand-in journald (journal_receiver.py) on
# /run/systemd/journal/socket, in the lab's private /run only. log_target "auto" picks the journal when
# JOURNAL_STREAM names roamd's stderr, and stderr when it is unset or names another file; "journald" without the
# socket falls back to stderr with one warning. Entries carry MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and
# ROAMD_COMPONENT, and come from roamd's own pid (SCM_CREDENTIALS).
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need jq

lab_private_etc   # a private tmpfs on /run: the journal directory below exists in this lab only
JOURNAL_DIR=/run/systemd/journal SOCK=/run/systemd/journal/socket JSONL=$LAB_DIR/journal.jsonl
mkdir -p "$LAB_DIR/journal" "$JOURNAL_DIR"
mount --bind "$LAB_DIR/journal" "$JOURNAL_DIR" || lab_abort "cannot bind-mount over $JOURNAL_DIR"
: >"$JSONL"
lab_start journal "$LAB_PYTHON" "$LAB_HOME/journal_receiver.py" "$SOCK" "$JSONL"
wait_until 5000 test -S "$SOCK" || lab_abort "the stand-in journal did not bind $SOCK" journal

# Every cloud query fails fast (nothing listens there) and one failure marks the resolver down: a warning from
# the upstream_io actor.
ROAMD_CLOUD_TOML="[cloud]
resolvers = [\"$DEAD_IP:53\"]

[upstream]
timeout_ms = 200
attempts = 1
down_after = 1"

# entries JQ-FILTER: the entries so far that JQ-FILTER selects, one JSON object per line.
entries() { jq -c "select($1)" "$JSONL"; }
# field PID REGEX NAME: field NAME of the first entry from PID whose MESSAGE matches REGEX.
field() {
  jq -rs --argjson pid "$1" --arg re "$2" \
    "[.[] | select(._PID == \$pid and (.MESSAGE | test(\$re)))] | first | select(. != null) | .$3" "$JSONL"
}
# has_entry PID REGEX: an entry from PID has a MESSAGE matching REGEX (for wait_until).
has_entry() { [ -n "$(field "$1" "$2" MESSAGE)" ]; }
# count_from PID: how many entries came from PID.
count_from() { jq -c --argjson pid "$1" 'select(._PID == $pid)' "$JSONL" | wc -l; }

# journal_barrier: an entry of our own, waited for: whatever was sent to the socket before it has been written.
BARRIERS=0
journal_barrier() {
  BARRIERS=$((BARRIERS + 1))
  "$LAB_PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"MESSAGE=lab barrier " + sys.argv[2].encode() + b"\n", sys.argv[1])' "$SOCK" "$BARRIERS"
  wait_until 5000 grep -q "\"MESSAGE\": \"lab barrier $BARRIERS\"" "$JSONL" || lab_abort "barrier $BARRIERS not received" journal
}

# run_roamd JOURNAL_STREAM [DAEMON-TOML]: starts roamd (JOURNAL_STREAM exported when not empty; "stderr" stands for
# the dev:ino of roamd's own stderr) and sets PID.
run_roamd() {
  local stream=$1
  : >"$LAB_DIR/roamd.out"   # lab_start truncates it in place: same inode
  [ "$stream" = stderr ] && stream=$(stat -c %d:%i "$LAB_DIR/roamd.out")
  if [ -n "$stream" ]; then export JOURNAL_STREAM=$stream; else unset JOURNAL_STREAM; fi
  ROAMD_DAEMON_TOML=${2:-} start_roamd <<<"$ROAMD_CLOUD_TOML"
  unset JOURNAL_STREAM
  PID=${LAB_PIDS[roamd]}
}

# expect_stderr_logs JOURNAL_STREAM [DAEMON-TOML]: roamd, run as run_roamd does, writes plain lines to stderr (the
# startup line, no colour codes, its last line) and sends nothing to the journal.
expect_stderr_logs() {
  run_roamd "$@"
  wait_until 5000 roamd_log_has 'roamd: answering on'
  expect "the startup line on stderr" \
    "$(grep -c "^[0-9T:.-]* info  roamd: answering on $ROAMD_IP:53 " "$LAB_DIR/roamd.out")" = 1
  expect "no colour codes (stderr is not a terminal)" "$(grep -c $'\e' "$LAB_DIR/roamd.out")" = 0
  stop_roamd_term
  expect "the last line on stderr" "$(tail -1 "$LAB_DIR/roamd.out")" '~' "info  roamd: stopped$"
  journal_barrier
  expect "no entry in the journal" "$(count_from "$PID")" = 0
}

section "the stand-in journal itself, fed by libsystemd (binary fields; a memfd for a 9 MiB entry)"
"$LAB_PYTHON" - "$SOCK" <<'PY' || lab_abort "sd_journal_sendv through ctypes failed"
import ctypes, sys
lib = ctypes.CDLL("libsystemd.so.0")
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_char_p), ("len", ctypes.c_size_t)]
def send(*fields):
    iov = (iovec * len(fields))(*[iovec(f, len(f)) for f in fields])
    rc = lib.sd_journal_sendv(iov, len(fields))
    if rc < 0:
        sys.exit("sd_journal_sendv: %d" % rc)
send(b"MESSAGE=lab: two\nlines", b"SYSLOG_IDENTIFIER=lab-self-check", b"LAB_CASE=binary")
send(b"MESSAGE=lab: big", b"SYSLOG_IDENTIFIER=lab-self-check", b"LAB_CASE=memfd", b"BIG=" + b"x" * (9 << 20))
PY
journal_barrier
expect "a value with a newline (binary form) arrives whole" \
  "$(entries '.LAB_CASE == "binary"' | jq -r '.MESSAGE')" = $'lab: two\nlines'
expect "a 9 MiB entry arrives through a memfd, whole" \
  "$(entries '.LAB_CASE == "memfd"' | jq -r '"\(._LAB_TRANSPORT) \(.BIG | length)"')" = "memfd $((9 << 20))"
expect "no entry failed to parse" "$(entries 'has("_LAB_ERROR")' | wc -l)" = 0

section "auto, JOURNAL_STREAM names roamd's stderr: structured entries in the journal"
run_roamd stderr
wait_until 5000 has_entry "$PID" '^roamd: answering on'
expect "the startup line is an entry" "$(field "$PID" '^roamd: answering on' MESSAGE)" '~' "^roamd: answering on $ROAMD_IP:53 "
expect "  PRIORITY 6 (info)" "$(field "$PID" '^roamd: answering on' PRIORITY)" = 6
expect "  SYSLOG_IDENTIFIER roamd" "$(field "$PID" '^roamd: answering on' SYSLOG_IDENTIFIER)" = roamd
expect "  no CODE_FILE (roamd's log calls carry no source location; never the sink's own)" \
  "$(field "$PID" '^roamd: answering on' CODE_FILE)" = null
expect "no entry names the journal sink's source" "$(entries '(.CODE_FILE // "") | test("journal_sink")' | wc -l)" = 0
expect "  ROAMD_COMPONENT roamd" "$(field "$PID" '^roamd: answering on' ROAMD_COMPONENT)" = roamd
wait_until 5000 has_entry "$PID" '^query_router: '
expect "an actor's line carries its component" "$(field "$PID" '^query_router: routing generation' ROAMD_COMPONENT)" = query_router
expect "  a line with a newline arrives whole (binary form)" \
  "$(field "$PID" '^query_router: routing generation' MESSAGE)" '~' $'^query_router: routing generation [0-9:]+\n +\\. -> '"$DEAD_IP:53 "
wait_until 5000 has_entry "$PID" '^conflict_arbiter: '
expect "the arbiter's lines: ROAMD_COMPONENT conflict_arbiter" \
  "$(field "$PID" '^conflict_arbiter: ' ROAMD_COMPONENT)" = conflict_arbiter
ask down.example A
expect "a query to the dead cloud resolver fails" "$ANS_STATUS" = SERVFAIL
wait_until 5000 has_entry "$PID" '^upstream_io: .* is down'
expect "an actor's warning: PRIORITY 4, ROAMD_COMPONENT upstream_io" \
  "$(field "$PID" "^upstream_io: $DEAD_IP:53 is down" 'PRIORITY + " " + .ROAMD_COMPONENT')" = "4 upstream_io"
stop_roamd_term
expect "roamd stopped cleanly" "$ROAMD_RC" = 0
journal_barrier
expect "its last line is an entry too" "$(field "$PID" '^roamd: stopped$' SYSLOG_IDENTIFIER)" = roamd
expect "every entry has MESSAGE, PRIORITY and SYSLOG_IDENTIFIER roamd" "$(entries "._PID == $PID and
  (has(\"MESSAGE\") and has(\"PRIORITY\") and .SYSLOG_IDENTIFIER == \"roamd\" | not)" | wc -l)" = 0
expect "more than a handful of entries" "$(count_from "$PID")" -ge 4
expect "every entry came in one datagram, and parsed" \
  "$(entries "._PID == $PID and (._LAB_TRANSPORT != \"datagram\" or has(\"_LAB_ERROR\"))" | wc -l)" = 0
expect "nothing logged to stderr" "$(wc -c <"$LAB_DIR/roamd.out")" = 0

section "auto, JOURNAL_STREAM unset: plain lines on stderr"
expect_stderr_logs ""

section "auto, JOURNAL_STREAM names another file (a redirected stderr): stderr"
: >"$LAB_DIR/other"
expect_stderr_logs "$(stat -c %d:%i "$LAB_DIR/other")"

section "log_target = \"stderr\" even when JOURNAL_STREAM names stderr"
expect_stderr_logs stderr 'log_target = "stderr"'

section "log_target = \"journald\" without JOURNAL_STREAM: the journal"
run_roamd "" 'log_target = "journald"'
wait_until 5000 has_entry "$PID" '^roamd: answering on'
expect "the startup line is an entry" "$(field "$PID" '^roamd: answering on' PRIORITY)" = 6
stop_roamd_term
expect "nothing logged to stderr" "$(wc -c <"$LAB_DIR/roamd.out")" = 0

section "log_target = \"journald\" with no journal socket: stderr and one warning"
lab_stop journal
rm -f "$SOCK"
run_roamd stderr 'log_target = "journald"'
wait_until 5000 roamd_log_has 'roamd: answering on'
expect "one warning naming the missing socket" \
  "$(grep -c "warning roamd: log_target is \"journald\" but there is no journal socket at $SOCK: logging to stderr" "$LAB_DIR/roamd.out")" = 1
expect "  before any other line" "$(head -1 "$LAB_DIR/roamd.out")" '~' ' warning roamd: log_target is "journald"'
expect "the startup line on stderr" "$(grep -c 'info  roamd: answering on' "$LAB_DIR/roamd.out")" = 1
expect "roamd runs on" "$(alive roamd && echo running)" = running
stop_roamd_term
expect "roamd stopped cleanly" "$ROAMD_RC" = 0

lab_finish
