#!/usr/bin/env bash
# roamctl against the real roamd (mode "none"): every command answers over the default Unix socket (on the lab's
# private /run) and over loopback TCP with the token, as text and as JSON, with --watch; the documented exit codes
# (2 usage, 3 no agent, 4 wrong/missing token or a peer outside the socket's group); files and modes.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need jq setpriv
[ -x "${ROAMCTL:-}" ] || lab_skip "ROAMCTL (the roamctl binary) is not set"

lab_private_etc
ROAMD_SYSTEM_TOML=$(printf 'mode = "none"\nstate_dir = "%s"' "$STATE_DIR")
ROAMD_DEBUG_TOML='tcp = "127.0.0.1:5380"'
start_split_lab
SOCK=/run/roamd/debug.sock TOKEN=$STATE_DIR/debug.token

# ctl ARGS...: runs roamctl, sets OUT (stdout and stderr) and RC.
ctl() {
  LAST_CMD="roamctl $*"
  OUT=$("$ROAMCTL" "$@" 2>&1)
  RC=$?
  ANS_TEXT=$OUT
}

section "files"
wait_until 5000 test -S "$SOCK" || lab_abort "no socket at $SOCK" roamd
expect "socket mode 0660" "$(stat -c %a "$SOCK")" = 660
expect "socket directory mode 0750" "$(stat -c %a /run/roamd)" = 750
expect "token file mode 0600" "$(stat -c %a "$TOKEN")" = 600
expect "token is 64 hex digits" "$(tr -d '\n' <"$TOKEN" | grep -Ec '^[0-9a-f]{64}$')" = 1
expect "roamd logs where it inspects" "$(grep -c 'inspection port on /run/roamd/debug.sock and 127.0.0.1:5380' "$LAB_DIR/roamd.out")" = 1

section "every command over the Unix socket"
ask cloud-name.example A
ask www.corp.test A
ask www.corp.test A
ctl status
expect "status: exit 0" "$RC" = 0
expect "status: version and uptime" "$OUT" '~' "roamd [0-9.]+, up [0-9]+s"
expect "status: the arbiter's state" "$OUT" '~' "state: +(starting|not protecting|protected)"
expect "status: the configuration" "$OUT" '~' "listen: +$ROAMD_IP:53"
expect "status: internal domains" "$OUT" '~' "internal: +corp.test"
ctl routes
expect "routes: exit 0" "$RC" = 0
expect "routes: corp.test -> corp" "$OUT" '~' "corp.test +config .* $CORP_IP:53"
expect "routes: default -> cloud with identity" "$OUT" '~' "\. +config .* yes +$CLOUD_IP:53"
ctl upstreams
expect "upstreams: exit 0" "$RC" = 0
wait_until 3000 sh -c "'$ROAMCTL' upstreams | grep -q '$CORP_IP:53'"
ctl upstreams
expect "upstreams: the cloud resolver, up" "$OUT" '~' "$CLOUD_IP:53 +- +up"
wait_until 3000 sh -c "'$ROAMCTL' stats | grep -q 'cache: *[1-9]'"
ctl stats
expect "stats: exit 0" "$RC" = 0
expect "stats: 3 queries counted" "$OUT" '~' "queries: +3 \(udp 3, tcp 0\)"
expect "stats: one cache hit" "$OUT" '~' "cache: +1 hit"
ctl adapters
expect "adapters: exit 0 and the loopback link" "$RC $OUT" '~' "^0 .*[0-9]+: lo "
ctl events
expect "events: exit 0 and the state" "$RC $OUT" '~' "^0 state "
ctl settings
expect "settings: exit 0 and the current settings" "$RC $OUT" '~' "^0 enforcer: .*current: +nameservers"

section "JSON"
for cmd in status adapters settings routes upstreams events stats; do
  ctl "$cmd" --json
  expect "$cmd --json: exit 0 and valid JSON" "$RC $(jq -e . <<<"$OUT" >/dev/null 2>&1 && echo json)" = "0 json"
done
ctl routes --json
expect "routes --json: protobuf field names" "$(jq -r '.routes[] | select(.domain=="corp.test") | .resolvers[0]' <<<"$OUT")" = "$CORP_IP:53"
ctl status --json
expect "status --json: config.listen" "$(jq -r '.config.listen[0]' <<<"$OUT")" = "$ROAMD_IP:53"

section "--watch"
ctl stats --watch 0.2 --count 3
expect "--watch 0.2 --count 3: three answers" "$RC $(grep -c '^queries:' <<<"$OUT")" = "0 3"
ctl stats --watch 0.2 --count 2 --json
expect "--watch --json: one compact object per line" "$RC $(jq -c -e '.queries_udp' <<<"$OUT" | wc -l) $(wc -l <<<"$OUT")" = "0 2 2"

section "loopback TCP with the token"
ctl --tcp 127.0.0.1:5380 --token-file "$TOKEN" status
expect "tcp status: exit 0" "$RC $OUT" '~' "^0 roamd "
ctl routes --tcp 127.0.0.1:5380 --token-file "$TOKEN" --json
expect "tcp routes --json" "$RC $(jq -r '.routes | length' <<<"$OUT")" '~' "^0 [1-9]"
printf '%064d\n' 0 >"$LAB_DIR/wrong.token"
ctl --tcp 127.0.0.1:5380 --token-file "$LAB_DIR/wrong.token" status
expect "wrong token: exit 4, authentication failed" "$RC $OUT" '~' "^4 .*authentication failed"
ctl --tcp 127.0.0.1:5380 --token-file "$LAB_DIR/missing.token" status
expect "missing token file: exit 4" "$RC $OUT" '~' "^4 .*cannot read the token"

section "who may use the Unix socket"
ctl_as_nobody() {
  LAST_CMD="roamctl $* (as nobody)"
  OUT=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$ROAMCTL" "$@" 2>&1)
  RC=$?
  ANS_TEXT=$OUT
}
ctl_as_nobody status
expect "nobody, directory 0750: exit 4" "$RC $OUT" '~' "^4 .*Permission denied"
chmod 0755 /run/roamd && chmod 0666 "$SOCK"   # open the file modes: the peer check still says no
ctl_as_nobody status
expect "nobody, modes opened: refused by the peer check (exit 4)" "$RC $OUT" '~' "^4 .*only root and members of the socket's group"
chmod 0750 /run/roamd && chmod 0660 "$SOCK"

section "usage"
ctl
expect "no command: exit 2" "$RC" = 2
ctl frobnicate
expect "unknown command: exit 2" "$RC" = 2
expect "... naming it and the known ones" "$OUT" '~' "unknown command 'frobnicate' \(commands: adapters, .*status, upstreams\)"
ctl status --watch zero
expect "bad --watch: exit 2" "$RC" = 2

section "agent stopped"
expect_roamd_serving "after all of the above"
stop_roamd_term
expect "roamd stopped cleanly" "$ROAMD_RC" = 0
expect "socket removed" "$(test -e "$SOCK" && echo present || echo gone)" = gone
expect "token removed" "$(test -e "$TOKEN" && echo present || echo gone)" = gone
ctl status
expect "no agent: exit 3, says so" "$RC $OUT" '~' "^3 .*is roamd running"
ctl --tcp 127.0.0.1:5380 --token-file "$LAB_DIR/wrong.token" status
expect "no agent over TCP: exit 3" "$RC" = 3

lab_finish
