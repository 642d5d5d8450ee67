#!/usr/bin/env bash
# Failover: with a dead (port closed) or wedged (never answers) first cloud resolver, answers keep coming from
# the live one, and once the bad one is marked down they come without waiting for its timeout. With every
# resolver of a route dead or wedged the client gets SERVFAIL within a few seconds, not a timeout.
. "$(dirname "$0")/lib.sh"
lab_init "$@"

start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
start_upstream wedged "$WEDGED_IP" "$WEDGED_PROFILE"
ask_at "$WEDGED_IP" +time=1 control.example
expect "control: the wedged resolver never answers" "$ANS_STATUS" = NOREPLY
expect "control: ... but receives the query" "$(queries_for control.example wedged)" = 1

# restart_roamd FIRST-RESOLVER...: roamd with the given cloud resolvers and short upstream timeouts.
restart_roamd() {
  lab_stop roamd
  local list; list=$(printf '"%s:53", ' "$@")
  start_roamd <<EOF2
[cloud]
resolvers = [${list%, }]
device_id = "$DEVICE_ID"

[[internal]]
domain = "corp.test"
resolvers = ["$DEAD_IP:53"]

[upstream]
timeout_ms = 800
attempts = 2
down_after = 3
probe_interval_ms = 10000
EOF2
}

# ask_series PREFIX N: N fresh names; every answer must come from the live cloud; once down_after (3) queries
# have failed on the bad resolver it is down, so the last 3 must not wait for its timeout.
ask_series() {
  local i answered=0 slow_tail=0
  for i in $(seq 1 "$2"); do
    ask +time=5 "$1-$i.example"
    [ "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED" ] && answered=$((answered + 1))
    [ "$i" -gt $(($2 - 3)) ] && [ "${ANS_QMS:-9999}" -ge 400 ] && slow_tail=$((slow_tail + 1))
    echo "     $1-$i.example: $ANS_STATUS $ANS_DATA in ${ANS_QMS:-?} ms"
  done
  expect "$2 of $2 queries answered by the live resolver" "$answered" = "$2"
  expect "the last 3 answered in < 400 ms, half the upstream timeout (the bad one is skipped)" "$slow_tail" = 0
}

section "cloud = [dead $DEAD_IP, live $CLOUD_IP]"
restart_roamd "$DEAD_IP" "$CLOUD_IP"
ask_series dead-first 8

section "cloud = [wedged $WEDGED_IP, live $CLOUD_IP]"
restart_roamd "$WEDGED_IP" "$CLOUD_IP"
ask_series wedged-first 8
expect "the wedged resolver was tried" "$(grep -c 'wedged-first' "$LAB_DIR/wedged.queries")" -ge 1

section "every resolver of a route dead: SERVFAIL, quickly"
restart_roamd "$DEAD_IP" 127.0.0.67
ask +time=10 all-dead.example
expect "cloud = [two dead]: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... within 3 s" "$ANS_MS" -lt 3000
ask +time=10 intranet.corp.test
expect "internal route to a dead resolver: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... within 3 s" "$ANS_MS" -lt 3000

section "every resolver wedged: SERVFAIL after the upstream timeouts, not a client timeout"
restart_roamd "$WEDGED_IP"
ask +time=10 all-wedged.example
expect "cloud = [wedged]: SERVFAIL" "$ANS_STATUS" = SERVFAIL
expect "... within 4 s (timeout_ms=800, attempts=2)" "$ANS_MS" -lt 4000
ask +time=10 +tcp all-wedged-tcp.example
expect "same for a TCP client: SERVFAIL" "$ANS_STATUS" = SERVFAIL

lab_finish
