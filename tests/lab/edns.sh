#!/usr/bin/env bash
# Client EDNS passes through roamd: the DO bit (the cloud answers DO queries differently, and the cache must
# not mix DO and non-DO answers), the client's UDP buffer size, and no OPT in the answer when the client sent none.
. "$(dirname "$0")/lib.sh"
lab_init "$@"

start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
start_cloud_roamd </dev/null

section "DO bit"
ask_at "$CLOUD_IP" +dnssec control.example
expect "control: the cloud answers DO queries with $CLOUD_A_PLAIN_DO" "$ANS_DATA" = "$CLOUD_A_PLAIN_DO"
ask +dnssec secure.example
expect "dig +dnssec through roamd: tagged DO answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED_DO"
ask +dnssec echo.do.example TXT
expect "the cloud saw do=1" "$(echo_field do)" = 1
ask +nodnssec echo.nodo.example TXT
expect "without +dnssec the cloud saw do=0" "$(echo_field do)" = 0
ask mixed.example
expect "mixed.example without DO: non-DO answer" "$ANS_DATA" = "$CLOUD_A_TAGGED"
ask +dnssec mixed.example
expect "mixed.example with DO right after: DO answer (cache keyed on DO)" "$ANS_DATA" = "$CLOUD_A_TAGGED_DO"
ask +tcp +dnssec echo.do-tcp.example TXT
expect "DO over TCP from the client reaches the cloud" "$(echo_field do)" = 1

section "EDNS buffer size"
ask +bufsize=1100 echo.bufsize1100.example TXT
expect "client bufsize 1100 reaches the cloud as 1100" "$(echo_field edns)" = 1100
ask +bufsize=512 echo.bufsize512.example TXT
expect "client bufsize 512 reaches the cloud as 512" "$(echo_field edns)" = 512
ask +bufsize=4096 echo.bufsize4096.example TXT
expect "client bufsize 4096 reaches the cloud as at least 1232" "$(echo_field edns)" -ge 1232
expect "... and at most 4096" "$(echo_field edns)" -le 4096
echo "     (the cloud saw bufsize $(echo_field edns))"
ask +noedns echo.noedns.example TXT
expect "a client without EDNS gets an answer without OPT" "$ANS_EDNS" = none
expect "... while the cloud got an OPT (for the identity)" "$(echo_field edns)" '~' '^[0-9]+$'
ask +bufsize=1232 edns-answer.example
expect "a client with EDNS gets an OPT back" "$ANS_EDNS" '~' '^[0-9]+$'

lab_finish
