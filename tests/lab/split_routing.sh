#!/usr/bin/env bash
# Split routing: corp.test goes to the corp resolver, vpn.corp.test (a longer suffix) to dnsmasq, everything
# else to the cloud; suffixes match whole labels, case-insensitively. Each upstream REFUSES names that are not
# its own, so a misrouted query shows up as an error instead of a silent success.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need dnsmasq

start_dnsmasq vpn "$VPN_IP" --local=/vpn.corp.test/ --host-record=db.vpn.corp.test,"$VPN_A"
start_split_lab <<EOF2
[[internal]]
domain = "vpn.corp.test"
resolvers = ["$VPN_IP:53"]
EOF2

section "each upstream refuses what is not its own (a misrouted name would be REFUSED)"
ask_at "$CORP_IP" control.example;      expect "corp refuses control.example" "$ANS_STATUS" = REFUSED
ask_at "$VPN_IP" control.corp.test;     expect "dnsmasq refuses control.corp.test" "$ANS_STATUS" = REFUSED
ask_at "$CLOUD_IP" control.corp.test;   expect "cloud refuses control.corp.test" "$ANS_STATUS" = REFUSED
ask_at "$CLOUD_IP" db.vpn.corp.test;    expect "cloud refuses db.vpn.corp.test" "$ANS_STATUS" = REFUSED

section "roamd routes by longest matching suffix"
ask www.example
expect "www.example answered by the cloud" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
expect "the cloud received www.example" "$(queries_for www.example cloud)" -ge 1
expect "corp never saw www.example" "$(queries_for www.example corp)" = 0
ask intranet.corp.test
expect "intranet.corp.test answered by corp" "$ANS_STATUS $ANS_DATA" = "NOERROR $CORP_A"
expect "the cloud never saw intranet.corp.test" "$(queries_for intranet.corp.test cloud)" = 0
ask corp.test
expect "the domain apex corp.test goes to corp" "$ANS_STATUS $ANS_DATA" = "NOERROR $CORP_A"
ask MiXeD.Corp.TEST
expect "suffix match ignores case" "$ANS_STATUS $ANS_DATA" = "NOERROR $CORP_A"
ask intranet.corp.test AAAA
expect "AAAA for a corp name goes to corp (NODATA)" "$ANS_STATUS ${ANS_DATA:-nodata}" = "NOERROR nodata"
ask db.vpn.corp.test
expect "db.vpn.corp.test goes to dnsmasq (longer suffix wins)" "$ANS_STATUS $ANS_DATA" = "NOERROR $VPN_A"
ask xcorp.test
expect "xcorp.test goes to the cloud (labels, not characters)" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
ask corp.test.example
expect "corp.test.example goes to the cloud" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"

section "the system resolver (getent hosts through /etc/resolv.conf) sees the same"
use_roamd_as_system_resolver
resolve www.example;        expect "getent hosts www.example" "$ANS_DATA" = "$CLOUD_A_TAGGED"
resolve intranet.corp.test; expect "getent hosts intranet.corp.test" "$ANS_DATA" = "$CORP_A"
resolve db.vpn.corp.test;   expect "getent hosts db.vpn.corp.test" "$ANS_DATA" = "$VPN_A"

lab_finish
