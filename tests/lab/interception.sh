#!/usr/bin/env bash
# Interception on the real kernel: with the nftables table engaged (tests/lab/lab_firewall: the real
# os::interception_guard over libnftables), a query for a far resolver (198.51.100.53, behind a veth pair in its own
# namespace) is answered by roamd's listener on 127.0.2.53 instead (a "roamd stand-in" dnsmasq with a different
# address), over UDP and TCP, while a socket carrying the exempt mark still reaches the far resolver. When the
# guard releases, and when its process is killed with SIGKILL (the table is owned by its netlink socket), the far
# resolver answers again at once: no black hole. The journal a SIGKILL leaves is removed by --recover. Then, with
# tests/lab/lab_conntrack as the redirect target (IPv4 and IPv6): conntrack names the server each redirected query was
# meant for (os::original_destination, by the reply tuple in the intercepted flows' zone), over UDP and TCP, and says
# "not redirected" for a query sent to the listener itself.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need dnsmasq nft
LAB_FIREWALL=${LAB_FIREWALL:-}
[ -n "$LAB_FIREWALL" ] && [ -x "$LAB_FIREWALL" ] || lab_skip "LAB_FIREWALL (tests/lab_firewall) is not built"
LAB_DATAPLANE=${LAB_DATAPLANE:-}  # optional: the data plane's own upstream traffic under interception

RESOLVER=198.51.100.53
FAR_A=192.0.2.80 STANDIN_A=203.0.113.80
MARK=0x524f4d44
STATE_DIR=$LAB_DIR/state
JOURNAL=$STATE_DIR/interception.journal

# `ip netns` keeps its handles under /run/netns: a private /run for this lab.
mount -t tmpfs -o size=1m,mode=0755 lab-run /run
mkdir -p /run/netns
ip netns add far-ns
ip -n far-ns link set lo up
ip -n far-ns addr add "$RESOLVER/32" dev lo
ip link add lan0 type veth peer name lan0-far netns far-ns || lab_abort "cannot create the lan0 veth pair"
ip addr add 192.0.2.1/24 dev lan0 && ip link set lan0 up
ip -n far-ns addr add 192.0.2.254/24 dev lan0-far && ip -n far-ns link set lan0-far up
ip route add default via 192.0.2.254 dev lan0

# A TXT RRset of ~1.6 KB: over UDP the far dnsmasq answers TC=1, and a data plane retries over TCP.
mapfile -t big_txt < <(for i in 1 2 3 4 5 6 7 8; do printf -- '--txt-record=big.test,far-%s-%0180d\n' "$i" 0; done)
lab_start far ip netns exec far-ns dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --bind-interfaces --listen-address="$RESOLVER" --pid-file= --user=root --local-ttl=300 --log-queries \
  --log-facility="$LAB_DIR/far.log" --host-record=name.test,$FAR_A --edns-packet-max=1232 "${big_txt[@]}"
wait_until 10000 ns_listening far-ns "$RESOLVER" || lab_abort "dnsmasq in far-ns did not start" far
start_dnsmasq standin "$ROAMD_IP" --host-record=name.test,$STANDIN_A

# marked_ask PROTO MARK: asks $RESOLVER for name.test A from python with SO_MARK MARK (0: none); prints the address.
marked_ask() {
  "$LAB_PYTHON" - "$1" "$2" "$RESOLVER" <<'EOF'
import socket, struct, sys
proto, mark, server = sys.argv[1], int(sys.argv[2], 0), sys.argv[3]
q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x04name\x04test\x00" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
s.settimeout(3)
if mark:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
try:
    if proto == "udp":
        s.sendto(q, (server, 53))
        r = s.recv(4096)
    else:
        s.connect((server, 53))
        s.sendall(struct.pack("!H", len(q)) + q)
        r = b""
        while len(r) < 2 or len(r) < 2 + struct.unpack("!H", r[:2])[0]:
            chunk = s.recv(4096)
            if not chunk:
                break
            r += chunk
        r = r[2:]
except OSError as e:
    print("error:", e)
    sys.exit(0)
an = struct.unpack("!H", r[6:8])[0]
print(socket.inet_ntoa(r[-4:]) if an == 1 else "answers=%d" % an)
EOF
}

# yn COMMAND...: "yes" when COMMAND succeeds, else "no" (for expect).
yn() { "$@" >/dev/null 2>&1 && echo yes || echo no; }
has_table() { nft list tables | grep -qx "table inet roamd"; }
no_table() { ! has_table; }
engaged() { grep -qx engaged "$LAB_DIR/$1.out"; }
far_queries() { grep -c 'query\[A\] name.test' "$LAB_DIR/far.log"; }

# expect_far WHEN / expect_standin WHEN: dig @$RESOLVER over UDP and TCP gets the far / the stand-in's answer.
expect_answers() {
  local who=$1 want=$2 when=$3 tcp
  for tcp in "" +tcp; do
    ask_at "$RESOLVER" name.test A $tcp
    expect "$when: dig @$RESOLVER ${tcp:-+notcp} name.test: the $who answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $want"
  done
}

section "before interception"
expect_answers far "$FAR_A" "not engaged"
expect "an unmarked python socket reaches the far resolver too" "$(marked_ask udp 0)" = "$FAR_A"

section "without CAP_NET_ADMIN: the probe says why, nothing is installed or journaled"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$LAB_FIREWALL" --state-dir "$STATE_DIR" 2>&1)
expect "lab_firewall as nobody: the probe names nftables' reason" "$out" '~' \
  "probe: nftables: cannot add a table: Operation not permitted"
expect "no table" "$(yn has_table)" = no
expect "no journal" "$(yn test -e "$JOURNAL")" = no

section "engaged: port 53 of $RESOLVER goes to $ROAMD_IP"
lab_start fw "$LAB_FIREWALL" --state-dir "$STATE_DIR" --to-v4 "$ROAMD_IP:53" --mark "$MARK"
wait_until 10000 engaged fw || lab_abort "lab_firewall did not engage" fw
expect "nft lists table inet roamd" "$(yn has_table)" = yes
expect "the table is owned by lab_firewall's netlink socket" "$(nft list table inet roamd | grep -c 'flags owner')" = 1
expect "the journal is on disk" "$(yn test -s "$JOURNAL")" = yes
before=$(far_queries)
expect_answers stand-in "$STANDIN_A" "engaged"
expect "unmarked UDP from python: the stand-in's answer" "$(marked_ask udp 0)" = "$STANDIN_A"
expect "the far resolver saw none of the intercepted queries" "$(far_queries)" = "$before"
expect "UDP with the exempt mark reaches the far resolver" "$(marked_ask udp "$MARK")" = "$FAR_A"
expect "TCP with the exempt mark reaches the far resolver" "$(marked_ask tcp "$MARK")" = "$FAR_A"
expect "another mark is intercepted" "$(marked_ask udp 0x1)" = "$STANDIN_A"
ask_at "$ROAMD_IP" name.test A
expect "queries to $ROAMD_IP itself are untouched" "$ANS_STATUS $ANS_DATA" = "NOERROR $STANDIN_A"

section "SIGTERM: released"
kill -TERM "${LAB_PIDS[fw]}"
wait_until 5000 exited fw
expect "lab_firewall exited" "$(yn exited fw)" = yes
expect "it said released" "$(grep -cx released "$LAB_DIR/fw.out")" = 1
expect "the table is gone" "$(yn has_table)" = no
expect "the journal is gone" "$(yn test -e "$JOURNAL")" = no
expect_answers far "$FAR_A" "released"

section "the original destination of each redirected query, from conntrack (os::original_destination)"
if [ -n "${LAB_CONNTRACK:-}" ] && [ -x "$LAB_CONNTRACK" ]; then
  CT4=127.0.2.54 CT6=::1
  ip -6 addr add 2001:db8:53::1/64 dev lan0 nodad && ip -6 route add default via 2001:db8:53::fe dev lan0 ||
    lab_abort "cannot give lan0 an IPv6 default route"
  lab_start ct4 "$LAB_CONNTRACK" "$CT4" 53
  lab_start ct6 "$LAB_CONNTRACK" "$CT6" 53
  wait_until 5000 eval 'grep -qx ready "$LAB_DIR/ct4.out" && grep -qx ready "$LAB_DIR/ct6.out"' ||
    lab_abort "lab_conntrack did not start" ct4 ct6
  lab_start fw3 "$LAB_FIREWALL" --state-dir "$STATE_DIR" --to-v4 "$CT4:53" --to-v6 "[$CT6]:53" --mark "$MARK"
  wait_until 10000 engaged fw3 || lab_abort "lab_firewall did not engage for lab_conntrack" fw3
  seen() { grep -E "^$1 \S+ -> " "$LAB_DIR/$2.out" | tail -1 | sed 's/.* -> //'; }
  ask_at "$RESOLVER" name.test A
  expect "UDP to $RESOLVER, redirected: conntrack names $RESOLVER:53" "$(seen udp ct4)" = "$RESOLVER:53"
  ask_at "$RESOLVER" name.test A +tcp
  expect "TCP to $RESOLVER, redirected: conntrack names $RESOLVER:53" "$(seen tcp ct4)" = "$RESOLVER:53"
  ask_at 203.0.113.9 name.test A
  expect "UDP to another server (203.0.113.9): conntrack names it" "$(seen udp ct4)" = "203.0.113.9:53"
  ask_at "$CT4" name.test A
  expect "a query sent to the listener itself: not redirected" "$(seen udp ct4)" = "none (not redirected (sent to roamd itself))"
  ask_at 2001:db8:53::53 name.test A
  expect "IPv6: UDP to 2001:db8:53::53, redirected to [::1]: conntrack names it" "$(seen udp ct6)" = \
    "[2001:db8:53::53]:53"
  ask_at 2001:db8:53::53 name.test A +tcp
  expect "IPv6 over TCP too" "$(seen tcp ct6)" = "[2001:db8:53::53]:53"
  lab_stop fw3
  lab_stop ct4
  lab_stop ct6
else
  echo "skipped: LAB_CONNTRACK (tests/lab_conntrack) is not built"
fi

# unowned_table TARGET: table inet roamd without `flags owner` (as a crashed run on an old kernel leaves it).
unowned_table() {
  nft -f - <<EOF
table inet roamd {
  chain out {
    type nat hook output priority -100; policy accept;
    udp dport 53 dnat ip to $1
  }
}
EOF
}

section "SIGKILL while engaged: the kernel drops the owned table, the journal stays for --recover"
unowned_table 127.0.2.99:53  # a leftover: engage replaces it in one transaction
lab_start fw2 "$LAB_FIREWALL" --state-dir "$STATE_DIR" --to-v4 "$ROAMD_IP:53" --mark "$MARK"
wait_until 10000 engaged fw2 || lab_abort "lab_firewall did not engage a second time" fw2
ask_at "$RESOLVER" name.test A
expect "engaged over a leftover table: the stand-in's answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $STANDIN_A"
expect "one table inet roamd, now owned" \
  "$(nft list tables | grep -cx 'table inet roamd') $(nft list table inet roamd | grep -c 'flags owner')" = "1 1"
lab_stop fw2  # SIGKILL and reap
wait_until 5000 no_table
expect "after kill -9 the table is gone" "$(yn has_table)" = no
expect_answers far "$FAR_A" "after kill -9"
expect "the journal outlived kill -9" "$(yn test -s "$JOURNAL")" = yes
recovered=$("$LAB_FIREWALL" --state-dir "$STATE_DIR" --recover 2>&1)
expect "--recover says what it removed" "$recovered" '~' "^removed table inet roamd named by the interception journal"
expect "--recover removed the journal" "$(yn test -e "$JOURNAL")" = no
expect "a second --recover finds nothing" "$("$LAB_FIREWALL" --state-dir "$STATE_DIR" --recover 2>&1)" = \
  "nothing to recover"
expect_answers far "$FAR_A" "after --recover"

section "a damaged journal: --recover still removes table inet roamd (here an unowned one, as an old kernel makes)"
unowned_table "$ROAMD_IP:53"
mkdir -p "$STATE_DIR" && printf 'ROAMDI1\n\0\0\0' >"$JOURNAL"
expect "the unowned table is there" "$(yn has_table)" = yes
recovered=$("$LAB_FIREWALL" --state-dir "$STATE_DIR" --recover 2>&1)
expect "--recover names the damaged journal" "$recovered" '~' "damaged interception journal"
expect "the table is gone" "$(yn has_table)" = no
expect "the journal is gone" "$(yn test -e "$JOURNAL")" = no

if [ -n "$LAB_DATAPLANE" ] && [ -x "$LAB_DATAPLANE" ]; then
  section "the data plane's upstream sockets carry the mark: interception to it does not loop (UDP and TCP)"
  MARKED_IP=127.0.2.54 UNMARKED_IP=127.0.2.55
  lab_start dpm "$LAB_DATAPLANE" --listen "$MARKED_IP:53" --default "$RESOLVER:53" --mark "$MARK" --cache 0 \
    --timeout-ms 800 --attempts 1
  lab_start dpu "$LAB_DATAPLANE" --listen "$UNMARKED_IP:53" --default "$RESOLVER:53" --cache 0 --timeout-ms 300 \
    --attempts 1
  wait_until 10000 listening "$MARKED_IP" || lab_abort "lab_dataplane did not listen on $MARKED_IP" dpm
  wait_until 10000 listening "$UNMARKED_IP" || lab_abort "lab_dataplane did not listen on $UNMARKED_IP" dpu
  expect "the marked data plane could set SO_MARK" "$(grep -x 'socket mark: .*' "$LAB_DIR/dpm.out")" = \
    "socket mark: ok"
  lab_start fw3 "$LAB_FIREWALL" --state-dir "$STATE_DIR" --to-v4 "$MARKED_IP:53" --mark "$MARK"
  wait_until 10000 engaged fw3 || lab_abort "lab_firewall did not engage for $MARKED_IP" fw3
  before=$(far_queries)
  ask_at "$RESOLVER" name.test A
  expect "intercepted to the marked data plane: the far answer, through it" "$ANS_STATUS $ANS_DATA" = "NOERROR $FAR_A"
  expect "the far resolver got exactly one query (no loop)" "$(far_queries)" = $((before + 1))
  ask_at "$RESOLVER" big.test TXT
  txt=$(grep -o 'far-[0-9]' <<<"$ANS_DATA" | sort -u | wc -l)
  expect "big.test TXT (TC over UDP, marked TCP retry): all 8 far records" "$ANS_STATUS $txt" = "NOERROR 8"
  expect "the far resolver saw the TCP retry" "$(grep -c 'query\[TXT\] big.test' "$LAB_DIR/far.log")" -ge 2
  kill -TERM "${LAB_PIDS[fw3]}"
  wait_until 5000 no_table || lab_abort "lab_firewall did not release" fw3
  # Control: the same interception to a data plane without the mark catches its own upstream query.
  lab_start fw4 "$LAB_FIREWALL" --state-dir "$STATE_DIR" --to-v4 "$UNMARKED_IP:53" --mark "$MARK"
  wait_until 10000 engaged fw4 || lab_abort "lab_firewall did not engage for $UNMARKED_IP" fw4
  ask_at "$RESOLVER" name.test A
  expect "control: an unmarked data plane loops into itself (no far answer)" "$ANS_STATUS $ANS_DATA" != \
    "NOERROR $FAR_A"
  lab_stop dpu  # it is still chasing its own tail
fi

lab_finish
