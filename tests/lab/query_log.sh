#!/usr/bin/env bash
# What roamd answered, afterwards: `roamctl queries` (the opt-in recent-queries ring: its capacity, limits, JSON)
# and the dnstap query log, to a file read back with Debian's own dnstap-read, and to a Frame Streams reader's
# socket (fstrm_capture) that is absent at start (DNS unaffected, roamd connects when it appears).
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need jq dnstap-read fstrm_capture ss
[ -x "${ROAMCTL:-}" ] || lab_skip "ROAMCTL (the roamctl binary) is not set"

SOCK=$LAB_DIR/debug.sock
ROAMD_DEBUG_TOML=$(printf 'socket = "%s"\nrecent_queries = 5' "$SOCK")
ctl() {
  LAST_CMD="roamctl $*"
  OUT=$("$ROAMCTL" --socket "$SOCK" "$@" 2>&1)
  RC=$?
  ANS_TEXT=$OUT
}

start_split_lab <<TOML
[dnstap]
file = "$LAB_DIR/roamd.dnstap"
identity = "lab-host"
TOML

section "roamctl queries: the recent-queries ring"
wait_until 5000 test -S "$SOCK" || lab_abort "no debug socket" roamd
ask www.corp.test A
ask cloud-name.example A
ask cloud-name.example A
ask www.corp.test A +tcp
ctl queries
expect "queries: exit 0" "$RC" = 0
expect "the header says how many are kept" "$OUT" '~' "^4 recent queries \(the agent keeps 5 per worker\)"
expect "an internal name: relayed from corp over its route" "$OUT" '~' \
  "127\.0\.0\.1:[0-9]+ udp +www\.corp\.test A +NOERROR +upstream via corp\.test -> $CORP_IP:53"
expect "a cloud name: relayed from the cloud on the default route" "$OUT" '~' \
  "cloud-name\.example A +NOERROR +upstream via \. -> $CLOUD_IP:53"
expect "the same name again: from the cache" "$OUT" '~' "cloud-name\.example A +NOERROR +cache"
expect "over TCP" "$OUT" '~' "tcp +www\.corp\.test A +NOERROR +cache"
ctl queries --json
expect "--json: 4 entries, oldest first" "$(jq -r '[.queries[].name] | join(",")' <<<"$OUT")" = \
  "www.corp.test,cloud-name.example,cloud-name.example,www.corp.test"
expect "--json: route, resolver, source, transport" \
  "$(jq -r '.queries[0] | "\(.route) \(.resolver) \(.source) \(.transport)"' <<<"$OUT")" = "corp.test $CORP_IP:53 upstream udp"
expect "--json: a latency" "$(jq -r '.queries[0].latency_us > 0' <<<"$OUT")" = true
for i in 1 2 3 4 5 6; do ask "n$i.example" A; done
ctl queries --json -n 0
expect "the ring keeps its capacity, the newest" "$(jq -r '[.queries[].name] | join(",")' <<<"$OUT")" = \
  "n2.example,n3.example,n4.example,n5.example,n6.example"
ctl queries -n 2 --json
expect "-n 2: the two newest" "$(jq -r '[.queries[].name] | join(",")' <<<"$OUT")" = "n5.example,n6.example"
ask x.example A +opcode=notify
ctl queries -n 1
expect "an error roamd made itself (NOTIMP)" "$OUT" '~' "x\.example A +NOTIMP +error"
wait_until 3000 sh -c "'$ROAMCTL' --socket '$SOCK' stats | grep -q 'queries: *11 '"
ctl stats
expect "stats: latency percentiles" "$OUT" '~' "latency: +mean [0-9]+ us, p50 <= [0-9.]+ (us|ms)"
expect "stats: upstream answers by route" "$OUT" '~' "corp\.test: 1"
expect "stats: the NOTIMP" "$OUT" '~' "notimp 1"

ctl status
expect "status: the dnstap log's counters" "$OUT" '~' "dnstap: +$LAB_DIR/roamd\.dnstap: 22 message\(s\) written, 0 dropped"
expect "the dnstap file is private (0640)" "$(stat -c %a "$LAB_DIR/roamd.dnstap")" = 640
wait_until 3000 sh -c "dnstap-read '$LAB_DIR/roamd.dnstap' 2>/dev/null | grep -q 'x\.example/IN/A'"
expect "the file is written while roamd runs (the last query is there within a bound)" "$?" = 0

section "dnstap to a file, read back by dnstap-read"
stop_roamd_term
expect "roamd stopped cleanly" "$ROAMD_RC" = 0
DT=$(dnstap-read "$LAB_DIR/roamd.dnstap" 2>&1)
expect "dnstap-read reads the file" "$?" = 0
ANS_TEXT=$DT
expect "11 client queries (CQ)" "$(grep -c ' CQ ' <<<"$DT")" = 11
expect "11 client responses (CR)" "$(grep -c ' CR ' <<<"$DT")" = 11
expect "the query's name, class and type" "$DT" '~' " CQ .* UDP [0-9]+b www\.corp\.test/IN/A"
expect "over TCP too" "$DT" '~' " CR .* TCP [0-9]+b www\.corp\.test/IN/A"
DTY=$(dnstap-read -y "$LAB_DIR/roamd.dnstap" 2>&1)
ANS_TEXT=$DTY
expect "identity" "$DTY" '~' "identity: lab-host"
expect "version" "$DTY" '~' "version: roamd [0-9.]+"
expect "the answer's data, decoded" "$DTY" '~' "www\.corp\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+"
expect "the NOTIMP roamd made" "$DTY" '~' "NOTIMP"

section "a dnstap file that cannot be created: logged, DNS served without it"
start_roamd <<TOML
[cloud]
resolvers = ["$CLOUD_IP:53"]
[dnstap]
file = "$LAB_DIR/no-such-dir/roamd.dnstap"
TOML
ask unlogged.example A
expect "answered anyway" "$ANS_STATUS" = NOERROR
expect "the reason is logged" "$(grep -c "no dnstap log: cannot create the dnstap file $LAB_DIR/no-such-dir/roamd.dnstap" "$LAB_DIR/roamd.out")" = 1
stop_roamd_term
expect "and roamd stops cleanly" "$ROAMD_RC" = 0

section "dnstap to a reader's socket: absent at start, then there"
DTSOCK=$LAB_DIR/dnstap.sock
start_roamd <<TOML
[cloud]
resolvers = ["$CLOUD_IP:53"]
[dnstap]
socket = "$DTSOCK"
client_queries = false
TOML
ask before-reader.example A
expect "no reader: DNS answers anyway" "$ANS_STATUS" = NOERROR
lab_start capture fstrm_capture -t protobuf:dnstap.Dnstap -u "$DTSOCK" -w "$LAB_DIR/captured.fstrm"
# libfstrm retries the connection every second: wait until roamd's end of it exists.
connected() { ss -xp | grep -q "users:((\"roamd\""; }
wait_until 5000 connected
expect "roamd connects to the reader that appeared" "$?" = 0
ask with-reader.example A
expect "with the reader: answered" "$ANS_STATUS" = NOERROR
stop_roamd_term
expect "roamd stopped cleanly (the log flushed)" "$ROAMD_RC" = 0
kill -TERM "${LAB_PIDS[capture]}" && wait "${LAB_PIDS[capture]}" 2>/dev/null
unset "LAB_PIDS[capture]"
DT=$(dnstap-read "$LAB_DIR/captured.fstrm" 2>&1)
ANS_TEXT=$DT
expect "the reader got the answer" "$DT" '~' " CR .* with-reader\.example/IN/A"
expect "client_queries = false: no CQ" "$(grep -c ' CQ ' <<<"$DT")" = 0

lab_finish
