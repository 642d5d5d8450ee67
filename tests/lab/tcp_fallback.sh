#!/usr/bin/env bash
# TCP fallback: nsd serves a TXT RRset of ~3 KB and never sends more than 1232 bytes over UDP (TC=1 instead).
# roamd must retry over TCP and give clients the whole RRset: over TCP, or over UDP when the client's buffer is
# big enough; a client with a smaller buffer gets TC=1 and retries over TCP itself.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need nsd

TXT_COUNT=12
{
  printf '$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A %s\nwww A 192.0.2.50\n' "$BIG_IP"
  for i in $(seq -w 1 $TXT_COUNT); do printf 'big TXT "record-%s-%0240d"\n' "$i" 0; done
} >"$LAB_DIR/example.zone"
start_nsd big "$BIG_IP" example "$LAB_DIR/example.zone"
start_roamd <<EOF2
[cloud]
resolvers = ["$BIG_IP:53"]
device_id = "$DEVICE_ID"
EOF2

txt_records() { grep -c 'IN[[:space:]]*TXT[[:space:]]*"record-' <<<"$ANS_TEXT"; }

section "control: nsd truncates the RRset over UDP even for a 4096-byte buffer"
ask_at "$BIG_IP" +bufsize=4096 +ignore big.example TXT
expect "nsd over UDP: TC=1" "$(has_flag tc)" = yes
ask_at "$BIG_IP" +tcp big.example TXT
expect "nsd over TCP: all $TXT_COUNT records" "$(txt_records)" = $TXT_COUNT

section "through roamd"
ask +tcp big.example TXT
expect "dig +tcp: all $TXT_COUNT records" "$ANS_STATUS $(txt_records)" = "NOERROR $TXT_COUNT"
ask +bufsize=4096 +ignore big.example TXT
expect "dig +bufsize=4096 over UDP: not truncated" "$(has_flag tc)" = no
expect "... all $TXT_COUNT records (roamd fetched them over TCP)" "$ANS_STATUS $(txt_records)" = "NOERROR $TXT_COUNT"
ask +bufsize=1232 +ignore big.example TXT
expect "dig +bufsize=1232 over UDP: TC=1" "$(has_flag tc)" = yes
expect "... and the datagram fits in 1232 bytes" "${ANS_SIZE:-0}" -le 1232
ask +noedns +ignore big.example TXT
expect "dig +noedns over UDP: TC=1" "$(has_flag tc)" = yes
expect "... and the datagram fits in 512 bytes" "${ANS_SIZE:-0}" -le 512
ask big.example TXT
expect "plain dig (retries over TCP on TC): all $TXT_COUNT records" "$ANS_STATUS $(txt_records)" = "NOERROR $TXT_COUNT"
ask www.example
expect "small answers still come over UDP" "$ANS_STATUS $ANS_DATA" = "NOERROR 192.0.2.50"

lab_finish
