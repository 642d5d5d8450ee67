#!/usr/bin/env bash
# The Prometheus endpoint ([debug] metrics) on the real roamd, with the inspection port switched off (the two are
# independent): counters match the queries sent, `promtool check metrics` accepts the text, HEAD, 404 and 405, an
# oversized header refused (431) with service after it, slow-loris connections cut at the 5 s read bound, more
# connections than the cap (8) answered 503, DNS answering throughout, and the port closed on SIGTERM.
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need curl promtool

METRICS=127.0.0.1:9153
URL=http://$METRICS/metrics
ROAMD_DEBUG_TOML=$(printf 'enabled = false\nsocket = "%s"\nmetrics = "%s"' "$LAB_DIR/debug.sock" "$METRICS")
# Network-state detection off: its probes of the cloud (". NS", rounds every 10 s) would add to the exact upstream
# counts checked below. Its gauge then reads "off".
start_split_lab <<'EOF2'
[network]
detection = false
EOF2

# scrape [CURL-ARGS...] URL: sets OUT (the body), HEADERS, CODE (HTTP status) and RC (curl's exit status).
scrape() {
  LAST_CMD="curl $*"
  CODE=$(curl -sS --max-time 10 -D "$LAB_DIR/headers" -o "$LAB_DIR/body" -w '%{http_code}' "$@" 2>"$LAB_DIR/curl.err")
  RC=$?
  HEADERS=$(cat "$LAB_DIR/headers" 2>/dev/null)
  OUT=$(cat "$LAB_DIR/body" "$LAB_DIR/curl.err" 2>/dev/null)
  ANS_TEXT=$(head -c 2000 <<<"$OUT")
}
# raw_http REQUEST: sends REQUEST (with \r\n written as such) on a fresh connection; prints all that comes back.
raw_http() {
  "$LAB_PYTHON" - "$METRICS" "$1" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.settimeout(10)
s.sendall(sys.argv[2].replace("\\r\\n", "\r\n").encode())
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode(errors="replace"))
EOF
}
# metric 'NAME{LABELS}': its value in the last scrape ("" when absent).
metric() { awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "" }' <<<"$OUT"; }
# counted 'NAME{LABELS}' VALUE: a fresh scrape shows VALUE (for wait_until: stats reach the actors in batches).
counted() { scrape "$URL" && [ "$(metric "$1")" = "$2" ]; }

section "started"
wait_until 5000 sh -c "ss -Hlnt 'src $METRICS' | grep -q ." || lab_abort "nothing listens on $METRICS" roamd
expect "roamd logs where the metrics are" "$(grep -c "metrics on $METRICS" "$LAB_DIR/roamd.out")" = 1
expect "no inspection port (debug.enabled = false)" "$(grep -c 'inspection port on' "$LAB_DIR/roamd.out")" = 0
expect "no debug socket" "$(test -e "$LAB_DIR/debug.sock" && echo present || echo absent)" = absent
expect "only on loopback" "$(ss -Hlnt | awk '{print $4}' | grep -c ':9153$')" = 1

section "counters match the queries sent"
scrape "$URL"
expect "GET /metrics: 200" "$RC $CODE" = "0 200"
expect "nothing counted before any query" "$(metric 'roamd_queries_total{transport="udp"}')" = 0
ask first.example A
ask first.example A
ask www.corp.test A
ask +tcp second.example A
expect "the last query answered" "$ANS_STATUS" = NOERROR
wait_until 3000 counted 'roamd_queries_total{transport="tcp"}' 1
wait_until 3000 counted 'roamd_upstream_answers_total{upstream="'$CLOUD_IP':53",interface=""}' 2
scrape "$URL"
expect "3 UDP queries" "$(metric 'roamd_queries_total{transport="udp"}')" = 3
expect "1 TCP query" "$(metric 'roamd_queries_total{transport="tcp"}')" = 1
expect "4 answers" "$(metric roamd_answers_total)" = 4
expect "1 cache hit" "$(metric roamd_cache_hits_total)" = 1
expect "3 cache misses" "$(metric roamd_cache_misses_total)" = 3
expect "no SERVFAIL" "$(metric 'roamd_responses_total{rcode="servfail"}')" = 0
expect "the cloud was asked twice" "$(metric 'roamd_upstream_queries_total{upstream="'$CLOUD_IP':53",interface=""}')" = 2
expect "... and answered twice" "$(metric 'roamd_upstream_answers_total{upstream="'$CLOUD_IP':53",interface=""}')" = 2
expect "corp was asked once" "$(metric 'roamd_upstream_queries_total{upstream="'$CORP_IP':53",interface=""}')" = 1
expect "corp is up" "$(metric 'roamd_upstream_up{upstream="'$CORP_IP':53",interface=""}')" = 1
expect "the cloud's RTT in seconds" "$(metric 'roamd_upstream_rtt_seconds{upstream="'$CLOUD_IP':53",interface=""}')" '~' '^(0\.[0-9]+(e-[0-9]+)?|[0-9.]+e-[0-9]+)$'
expect "every drop reason, also at zero" "$(grep -c '^roamd_drops_total{reason="[a-z_]*"} 0$' <<<"$OUT")" -ge 14
# Every role of the peers directory but the arbiter, the supervisor (also cloud_registrar and network_state).
expect "restarts of every supervised actor (none)" "$(grep -c '^roamd_actor_restarts_total{actor="[a-z_]*"} 0$' <<<"$OUT")" = 6
expect "the network state: off, and every other state at 0" \
  "$(grep -c '^roamd_network_state{state="off"} 1$' <<<"$OUT") $(grep -c '^roamd_network_state{state="[a-z ]*"} 0$' <<<"$OUT")" = "1 6"
expect "the protection state" "$(grep -c '^roamd_protection_state{state="[^"]*"} 1$' <<<"$OUT")" = 1
expect "build info" "$(grep -c '^roamd_build_info{version="[0-9.]*"} 1$' <<<"$OUT")" = 1
expect "uptime" "$(metric roamd_uptime_seconds)" '~' '^[0-9.]+$'
expect "every source answered" "$(metric roamd_up)" = 1
expect "no scrape errors" "$(grep -c '^roamd_scrape_errors_total{source="[a-z]*"} 0$' <<<"$OUT")" = 4

section "promtool check metrics"
LAST_CMD="promtool check metrics" ANS_TEXT=$(promtool check metrics <"$LAB_DIR/body" 2>&1)
promtool check metrics <"$LAB_DIR/body" >/dev/null 2>&1
expect "promtool accepts the exposition (lint included)" "$?" = 0
printf '# TYPE roamd_bad counter\nroamd_bad 1\n' | promtool check metrics >/dev/null 2>&1
expect "... and promtool does fail on a bad one" "$?" != 0

section "HEAD, other paths and methods"
scrape --head "$URL"
expect "HEAD /metrics: 200" "$RC $CODE" = "0 200"
expect "HEAD: Content-Length of the GET answer" "$HEADERS" '~' "Content-Length: [1-9][0-9]{3,}"
expect "HEAD: the exposition's content type" "$HEADERS" '~' "Content-Type: text/plain; version=0.0.4"
LAST_CMD="raw HEAD" ANS_TEXT=$(raw_http 'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n'; echo "<closed>")
expect "HEAD: nothing after the header" "${ANS_TEXT#*$'\r\n\r\n'}" = "<closed>"
scrape "http://$METRICS/"
expect "GET /: 404" "$CODE" = 404
scrape "http://$METRICS/metrics/x"
expect "GET /metrics/x: 404" "$CODE" = 404
scrape -X POST -d x=1 "$URL"
expect "POST /metrics: 405" "$CODE" = 405
scrape -X DELETE "$URL"
expect "DELETE /metrics: 405" "$CODE" = 405
scrape -X PUT "$URL"
expect "405 names what is allowed" "$CODE $HEADERS" '~' "^405 .*Allow: GET, HEAD"

section "an oversized header"
scrape -H "X-Big: $(head -c 10000 /dev/zero | tr '\0' a)" "$URL"
expect "a 10 KB header: 431" "$CODE" = 431
scrape "$URL"
expect "served afterwards" "$RC $CODE" = "0 200"
expect "the refusal is counted" "$(metric 'roamd_metrics_refused_total{reason="too_large"}')" = 1

section "slow-loris and the connection cap (8), DNS meanwhile"
"$LAB_PYTHON" - "$METRICS" >"$LAB_DIR/slow.out" 2>&1 <<'EOF' &
import select, socket, sys, threading, time
host, port = sys.argv[1].rsplit(":", 1)
def slow(i, out):
    s = socket.create_connection((host, int(port)))
    t0 = time.monotonic()
    data = b"never cut"
    for b in b"GET /metrics HTTP/1.1\r\n":  # one byte a second, never finished
        try:
            s.sendall(bytes([b]))
        except OSError:
            data = b""
            break
        if select.select([s], [], [], 1)[0]:  # the server answered or closed
            try:
                data = s.recv(100)
            except OSError:
                data = b""
            break
    first = data.decode(errors="replace").splitlines()[0] if data else "closed"
    out[i] = "slow %d: %s after %.1fs" % (i, first, time.monotonic() - t0)
out = [None] * 8
threads = [threading.Thread(target=slow, args=(i, out)) for i in range(8)]
for t in threads:
    t.start()
time.sleep(0.5)
s = socket.create_connection((host, int(port)))
s.settimeout(5)
s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
print("ninth: %s" % s.recv(200).decode(errors="replace").splitlines()[0])
for t in threads:
    t.join()
print("\n".join(out))
EOF
SLOW=$!
DNS_OK=0 DNS_N=0
for i in $(seq 1 10); do
  ask "during-slow-$i.example" A
  DNS_N=$((DNS_N + 1)); [ "$ANS_STATUS" = NOERROR ] && DNS_OK=$((DNS_OK + 1))
  sleep 0.5
done
wait "$SLOW"
LAST_CMD="slow-loris clients" ANS_TEXT=$(cat "$LAB_DIR/slow.out")
expect "a ninth connection is answered 503" "$(grep -c '^ninth: HTTP/1.1 503' "$LAB_DIR/slow.out")" = 1
expect "all 8 slow connections closed" "$(grep -c '^slow [0-9]: closed after' "$LAB_DIR/slow.out")" = 8
expect "... within 5-7 s" "$(grep -c '^slow [0-9]: closed after [56]\.[0-9]s' "$LAB_DIR/slow.out")" = 8
expect "DNS answered every query meanwhile" "$DNS_OK/$DNS_N" = "$DNS_N/$DNS_N"
scrape "$URL"
expect "served after the slow connections" "$RC $CODE" = "0 200"
expect "8 timeouts counted" "$(metric 'roamd_metrics_refused_total{reason="timeout"}')" = 8
expect "the busy refusal counted" "$(metric 'roamd_metrics_refused_total{reason="busy"}')" -ge 1

section "stop"
expect_roamd_serving "after all of the above"
stop_roamd_term
expect "roamd stopped cleanly" "$ROAMD_RC" = 0
expect "the metrics port is closed" "$(ss -Hlnt "src $METRICS" | wc -l)" = 0

lab_finish
