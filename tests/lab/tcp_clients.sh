#!/usr/bin/env bash
# TCP from the client: single queries (dig +tcp), several queries reusing one connection (kdig +keepopen),
# several queries pipelined in one write on one connection (answered by ID, possibly out of order), and a
# client that sends its query a byte at a time.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need kdig

start_split_lab </dev/null

section "one query per connection"
ask +tcp www.example
expect "dig +tcp www.example" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
ask +tcp intranet.corp.test
expect "dig +tcp intranet.corp.test" "$ANS_STATUS $ANS_DATA" = "NOERROR $CORP_A"
ask +tcp +dnssec secure.example
expect "dig +tcp +dnssec secure.example" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED_DO"

section "several queries on one connection, one after the other (kdig +keepopen)"
LAST_CMD="kdig @$ROAMD_IP +tcp +keepopen +short +timeout=3 k1.example A k2.corp.test A k3.example A"
ANS_TEXT=$($LAST_CMD 2>&1)
expect "kdig got all three answers, in order" "$(paste -sd' ' <<<"$ANS_TEXT")" = \
  "$CLOUD_A_TAGGED $CORP_A $CLOUD_A_TAGGED"

section "several queries pipelined in one write on one connection"
LAST_CMD="dnsraw.py pipeline $ROAMD_IP p1.example p2.corp.test p3.example p4.corp.test p5.example"
ANS_TEXT=$(dnsraw pipeline "$ROAMD_IP" p1.example p2.corp.test p3.example p4.corp.test p5.example)
for n in 1 3 5; do
  expect "pipelined p$n.example" "$(grep "^p$n\." <<<"$ANS_TEXT")" = "p$n.example NOERROR $CLOUD_A_TAGGED"
done
for n in 2 4; do
  expect "pipelined p$n.corp.test" "$(grep "^p$n\." <<<"$ANS_TEXT")" = "p$n.corp.test NOERROR $CORP_A"
done

section "a slow client (one byte every 10 ms)"
LAST_CMD="dnsraw.py slow $ROAMD_IP slow.example 10"
ANS_TEXT=$(dnsraw slow "$ROAMD_IP" slow.example 10)
expect "byte-by-byte TCP query answered" "$ANS_TEXT" = "slow.example NOERROR $CLOUD_A_TAGGED"

lab_finish
