#!/usr/bin/env bash
# Identity tagging: every query roamd sends to the cloud carries option 0x6942 = "OpenDNS" + device id, exactly
# once and with roamd's own value; queries to internal resolvers never carry it. The upstreams' answers depend
# on the option (dnsdist rules), and echo.* TXT queries return exactly what arrived upstream.
. "$(dirname "$0")/lib.sh"
lab_init "$@"

start_split_lab </dev/null

section "controls: the upstreams tell tagged from untagged queries"
ask_at "$CLOUD_IP" control.example
expect "cloud answers an untagged query with $CLOUD_A_PLAIN" "$ANS_DATA" = "$CLOUD_A_PLAIN"
ask_at "$CLOUD_IP" +ednsopt=26946:"$IDENTITY_HEX" control.example
expect "cloud answers a tagged query with $CLOUD_A_TAGGED" "$ANS_DATA" = "$CLOUD_A_TAGGED"
ask_at "$CORP_IP" +ednsopt=26946:"$IDENTITY_HEX" control.corp.test
expect "corp answers a leaked tag with $CORP_A_LEAKED" "$ANS_DATA" = "$CORP_A_LEAKED"

section "cloud queries carry the identity"
ask www.example
expect "www.example through roamd gets the tagged answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
ask +tcp www-tcp.example
expect "same over TCP from the client" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
ask echo.udp.example TXT
expect "the cloud received identity $IDENTITY_HEX" "$(echo_field identity)" = "$IDENTITY_HEX"
expect "the identity option appears once" "$(echo_field opts | tr ',' '\n' | grep -c '^26946$')" = 1
ask +noedns echo.noedns.example TXT
expect "a client without EDNS: roamd adds an OPT with the identity" "$(echo_field identity)" = "$IDENTITY_HEX"
ask +ednsopt=26946:4f70656e444e53ffffffffffffffff echo.spoofed.example TXT
expect "a client's own 0x6942 option is replaced by roamd's" "$(echo_field identity)" = "$IDENTITY_HEX"
expect "... and not sent twice" "$(echo_field opts | tr ',' '\n' | grep -c '^26946$')" = 1

section "internal queries never carry it"
ask intranet.corp.test
expect "intranet.corp.test gets the untagged corp answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $CORP_A"
ask +tcp intranet-tcp.corp.test
expect "same over TCP from the client" "$ANS_STATUS $ANS_DATA" = "NOERROR $CORP_A"
ask echo.corp.test TXT
expect "corp received no identity option" "$(echo_field identity)" = "-"
ask +ednsopt=26946:"$IDENTITY_HEX" client-tagged.corp.test
expect "a client-supplied 0x6942 option is not forwarded to corp" "$ANS_STATUS $ANS_DATA" = "NOERROR $CORP_A"
expect "no query roamd sent to corp carried option 0x6942" \
  "$(grep -v ' control.corp.test. ' "$LAB_DIR/corp.queries" | grep -vc 'identity=-$')" = 0

lab_finish
