# Shared helpers for roamd's lab tests (tests/lab/*.sh) and tools/sandbox. Source it, then call `lab_init "$@"`.
#
# lab_init re-runs the calling script inside private mount, network and pid namespaces
# (`unshare -m -n -p -f --kill-child --mount-proc`): every process it starts dies with it, port 53 and
# /etc/resolv.conf are the namespace's own, and only 127.0.0.0/8 exists. Work files live on a private tmpfs.
# Checks print "ok"/"FAIL" lines; lab_finish prints the verdict and exits 0 (all held), 1 (some failed) or
# 77 (skipped: not root or a tool missing; ctest's SKIP_RETURN_CODE).

set -uo pipefail

LAB_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Who listens where, inside the namespace. TEST-NET addresses appear only as answer data.
ROAMD_IP=127.0.2.53
CLOUD_IP=127.0.10.1    # "cloud" resolver: dnsdist, answers by whether the identity option is present
CORP_IP=127.0.20.1     # "corp" resolver: dnsdist, serves corp.test only, flags leaked identity
VPN_IP=127.0.20.2      # dnsmasq: vpn.corp.test (split_routing), corp.test data behind corp (tools/sandbox)
BIG_IP=127.0.30.1      # nsd with a zone whose TXT RRset does not fit in a 1232-byte UDP answer
WEDGED_IP=127.0.0.77   # dnsdist that receives and never answers
DEAD_IP=127.0.0.66     # nothing listens here
DEVICE_ID=0123456789abcdef
IDENTITY_HEX=4f70656e444e53$DEVICE_ID   # payload of option 0x6942: "OpenDNS" + the 8-byte device id

# The A answer of each dnsdist upstream tells what the query carried (see upstream.lua).
CLOUD_A_TAGGED=192.0.2.1 CLOUD_A_TAGGED_DO=192.0.2.2 CLOUD_A_PLAIN=192.0.2.99 CLOUD_A_PLAIN_DO=192.0.2.98
CORP_A=198.51.100.7 CORP_A_DO=198.51.100.8 CORP_A_LEAKED=198.51.100.66
VPN_A=198.51.100.9
CLOUD_PROFILE="serve = {'.'}, refuse = {'corp.test.'}, nxdomain = {'nosuchhost.', 'lanhost.'},
  a = {tagged = '$CLOUD_A_TAGGED', tagged_do = '$CLOUD_A_TAGGED_DO', plain = '$CLOUD_A_PLAIN', plain_do = '$CLOUD_A_PLAIN_DO'}"
CORP_PROFILE="serve = {'corp.test.'},
  a = {tagged = '$CORP_A_LEAKED', tagged_do = '198.51.100.67', plain = '$CORP_A', plain_do = '$CORP_A_DO'}"
WEDGED_PROFILE="drop = true"

declare -A LAB_PIDS=()
LAB_CHECKS=0 LAB_FAILS=0
LAST_CMD="" ANS_TEXT=""

# --- namespace and lifecycle -----------------------------------------------------------------------------------

# lab_init "$@": parses --roamd PATH (default: $ROAMD if the caller set it) and enters the namespaces.
lab_init() {
  if [ -n "${LAB_INSIDE:-}" ]; then
    lab_enter
    return
  fi
  local args=("$@")
  ROAMD=${ROAMD:-}
  while [ $# -gt 0 ]; do
    case $1 in
      --roamd) ROAMD=${2:-}; shift 2 || shift ;;
      --roamd=*) ROAMD=${1#--roamd=}; shift ;;
      -h|--help) echo "usage: $0 [--roamd PATH]"; exit 0 ;;
      *) echo "$0: unknown argument '$1' (usage: $0 [--roamd PATH])" >&2; exit 2 ;;
    esac
  done
  [ "$(id -u)" = 0 ] || lab_skip "needs root (namespaces, port 53)"
  local t
  lab_need unshare ip ss dig dnsdist python3 getent
  [ -n "$ROAMD" ] && [ -x "$ROAMD" ] || { echo "$0: roamd binary not found or not executable: '$ROAMD'" >&2; exit 2; }
  ROAMD=$(readlink -f "$ROAMD")
  exec unshare -m -n -p -f --kill-child --mount-proc env LAB_INSIDE=1 ROAMD="$ROAMD" "$0" "${args[@]}"
}

# Inside the namespaces: loopback up, private work dir, cleanup on exit.
lab_enter() {
  mount --make-rprivate /
  ip link set lo up
  LAB_DIR=$(mktemp -d /tmp/roamd-lab.XXXXXX)
  mount -t tmpfs -o size=64m,mode=0700 roamd-lab "$LAB_DIR"
  trap lab_cleanup EXIT
}

lab_skip() { echo "SKIP: $*"; exit 77; }

# lab_need TOOL...: skip the script when a tool is not installed.
lab_need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || lab_skip "$t is not installed (tools/install-deps)"
  done
}

# Kills what we started, then drops the work dir. /etc/resolv.conf's bind mount is never unmounted here:
# it disappears with the mount namespace, after the last process in it is gone.
lab_cleanup() {
  local name
  exec 2>/dev/null # no "Killed" job notices
  for name in "${!LAB_PIDS[@]}"; do kill -KILL "${LAB_PIDS[$name]}"; done
  wait
  cd /
  umount -l "$LAB_DIR" 2>/dev/null && rmdir "$LAB_DIR"
}

# lab_start NAME COMMAND...: runs COMMAND in the background, output in $LAB_DIR/NAME.out.
# SIGINT/SIGQUIT are reset to default: a non-interactive shell would otherwise start it with them ignored.
lab_start() {
  local name=$1; shift
  env --default-signal=INT,QUIT "$@" >"$LAB_DIR/$name.out" 2>&1 &
  LAB_PIDS[$name]=$!
}

# lab_stop NAME: SIGKILL and reap (for peers; roamd's own shutdown is tested with real signals).
lab_stop() {
  local pid=${LAB_PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null
  unset "LAB_PIDS[$1]"
}

# alive NAME: the process is running (not exited, not a zombie).
alive() {
  local pid=${LAB_PIDS[$1]:-}
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat"
}

exited() { ! alive "$1"; }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# wait_until MILLISECONDS COMMAND...: polls COMMAND every 20 ms until it succeeds; fails after the deadline.
wait_until() {
  local deadline=$(($(now_ms) + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.02
  done
}

# listening ADDR [PORT]: something is bound there on both UDP and TCP.
listening() {
  local ep="$1:${2:-53}"
  [ -n "$(ss -Hlnu "src $ep")" ] && [ -n "$(ss -Hlnt "src $ep")" ]
}

# --- peers ------------------------------------------------------------------------------------------------------

# start_upstream NAME ADDR PROFILE [NETNS]: dnsdist running upstream.lua with PROFILE (Lua table fields, see
# upstream.lua); with NETNS inside that namespace, ADDR added to its loopback. Every query it receives is logged as
# one line in $LAB_DIR/NAME.queries.
start_upstream() {
  local name=$1 addr=$2 profile=$3 ns=${4:-}
  cat >"$LAB_DIR/$name.lua" <<EOF
lab = { listen = "$addr:53", log = "$LAB_DIR/$name.queries", $profile }
dofile("$LAB_HOME/upstream.lua")
EOF
  : >"$LAB_DIR/$name.queries"
  if [ -z "$ns" ]; then
    lab_start "$name" dnsdist --supervised --disable-syslog -C "$LAB_DIR/$name.lua"
    wait_until 10000 listening "$addr" || lab_abort "$name (dnsdist) did not start" "$name"
    return
  fi
  ip -n "$ns" addr add "$addr/32" dev lo 2>/dev/null
  lab_start "$name" ip netns exec "$ns" dnsdist --supervised --disable-syslog -C "$LAB_DIR/$name.lua"
  wait_until 10000 ns_listening "$ns" "$addr" || lab_abort "$name (dnsdist in $ns) did not start" "$name"
}
# ns_listening NS ADDR: something in namespace NS listens on ADDR:53/udp.
ns_listening() { [ -n "$(ip netns exec "$1" ss -Hlnu "src $2:53")" ]; }

# start_dnsmasq NAME ADDR DNSMASQ-OPTIONS...: answers only what the options define, REFUSED for the rest.
start_dnsmasq() {
  local name=$1 addr=$2; shift 2
  lab_start "$name" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$addr" --pid-file= --user=root --local-ttl=300 --log-queries --log-facility=- "$@"
  wait_until 10000 listening "$addr" || lab_abort "$name (dnsmasq) did not start" "$name"
}

# start_nsd NAME ADDR ZONE ZONEFILE [SERVER_LINES]: authoritative; UDP answers are capped at 1232 bytes (larger:
# TC=1). SERVER_LINES go into its server: clause as they are (DNS over TLS, say).
start_nsd() {
  local name=$1 addr=$2 zone=$3 zonefile=$4 extra=${5:-} d="$LAB_DIR/$1"
  mkdir -p "$d"
  cat >"$d/nsd.conf" <<EOF
server:
  ip-address: $addr
  port: 53
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$d"
  database: ""
  zonelistfile: "$d/zone.list"
  xfrdfile: "$d/xfrd.state"
  pidfile: "$d/nsd.pid"
  ipv4-edns-size: 1232
  rrl-ratelimit: 0
$extra
remote-control:
  control-enable: no
zone:
  name: "$zone"
  zonefile: "$zonefile"
EOF
  lab_start "$name" nsd -d -c "$d/nsd.conf"
  wait_until 10000 listening "$addr" || lab_abort "$name (nsd) did not start" "$name"
}

# --- roamd ------------------------------------------------------------------------------------------------------

# write_roamd_config FILE: [listen], [system], [debug] and [daemon] sections, then the caller's TOML from stdin.
# [system] holds `mode = "none"` unless ROAMD_SYSTEM_TOML is set: then its lines are the [system] section's body
# (takeover tests; see takeover_system_toml). start_roamd refuses a takeover config without lab_private_etc.
# [debug] puts the inspection socket on the lab's tmpfs (never the machine's /run) unless ROAMD_DEBUG_TOML is set.
# [daemon] holds one worker and log_level "info", then the lines of ROAMD_DAEMON_TOML if set.
write_roamd_config() {
  {
    printf '[listen]\naddresses = ["%s:53"]\n\n[system]\n%s\n\n[debug]\n%s\n\n[daemon]\nworkers = 1\nlog_level = "info"\n%s\n\n' \
      "$ROAMD_IP" "${ROAMD_SYSTEM_TOML:-mode = \"none\"}" "${ROAMD_DEBUG_TOML:-socket = \"$LAB_DIR/debug.sock\"}" \
      "${ROAMD_DAEMON_TOML:-}"
    cat
  } >"$1"
}

# start_roamd < TOML: starts roamd with write_roamd_config's file and waits until it listens on UDP and TCP.
start_roamd() {
  if [ -n "${ROAMD_SYSTEM_TOML:-}" ]; then
    lab_etc_is_private ||
      lab_abort "ROAMD_SYSTEM_TOML is set but /etc is not the lab's private overlay (call lab_private_etc first)"
    [[ $ROAMD_SYSTEM_TOML == *"state_dir = \"$LAB_DIR/"* ]] ||
      lab_abort "ROAMD_SYSTEM_TOML must put state_dir under \$LAB_DIR (see takeover_system_toml)"
  fi
  write_roamd_config "$LAB_DIR/roamd.toml"
  lab_start roamd "$ROAMD" --config "$LAB_DIR/roamd.toml"
  if ! wait_until 10000 listening "$ROAMD_IP"; then
    alive roamd && lab_abort "roamd did not listen on $ROAMD_IP:53 (UDP and TCP) within 10 s" roamd
    wait "${LAB_PIDS[roamd]}"
    lab_abort "roamd exited with status $? at startup" roamd
  fi
}

# start_cloud_roamd: roamd sending everything to the cloud upstream with the device identity. Extra TOML on stdin
# ([[internal]] entries, other sections) is appended.
start_cloud_roamd() {
  local extra=""
  [ -t 0 ] || extra=$(cat)
  start_roamd <<EOF2
[cloud]
resolvers = [${CLOUD_RESOLVERS:-"\"$CLOUD_IP:53\""}]
device_id = "$DEVICE_ID"
$extra
EOF2
}

# start_split_lab: the cloud and corp upstreams, then roamd sending corp.test to corp and everything else to the
# cloud (start_cloud_roamd). Extra TOML on stdin is appended.
start_split_lab() {
  local extra=""
  [ -t 0 ] || extra=$(cat)
  start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
  start_upstream corp "$CORP_IP" "$CORP_PROFILE"
  start_cloud_roamd <<EOF2
[[internal]]
domain = "corp.test"
resolvers = ["$CORP_IP:53"]
$extra
EOF2
}

# use_roamd_as_system_resolver: /etc/resolv.conf (in this mount namespace only) points at roamd.
use_roamd_as_system_resolver() {
  printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$ROAMD_IP" >"$LAB_DIR/resolv.conf"
  mount --bind "$LAB_DIR/resolv.conf" /etc/resolv.conf
}

# --- takeover of the system's resolver settings (on a private /etc only) ----------------------------------------

# lab_private_etc: makes everything roamd's takeover may write private to this lab: an overlay over /etc (upper and
# work dirs on the lab tmpfs), a tmpfs over /run and a fresh sysfs (so /sys/class/net shows the lab's links).
# Sets STATE_DIR (roamd's journal dir, on the lab tmpfs). The overlay is never unmounted: it goes with the mount
# namespace, after the last process in it (a straggler must never see, let alone write, the host's /etc).
lab_private_etc() {
  mkdir -p "$LAB_DIR/etc-up" "$LAB_DIR/etc-work" "$LAB_DIR/state"
  mount -t overlay lab-etc -o "lowerdir=/etc,upperdir=$LAB_DIR/etc-up,workdir=$LAB_DIR/etc-work" /etc ||
    lab_abort "cannot mount an overlay over /etc"
  lab_etc_is_private || lab_abort "/etc is not the lab's overlay after mounting it"
  mount -t tmpfs -o size=16m,mode=0755 lab-run /run || lab_abort "cannot mount a tmpfs over /run"
  mount -t sysfs lab-sys /sys 2>/dev/null || true
  STATE_DIR=$LAB_DIR/state
  BIND_SRC=$LAB_DIR/bind-resolv.conf  # what resolv_conf_shape bind-mounts
}

# resolv_conf_shape SHAPE TEXT: makes /etc/resolv.conf (on the private /etc) hold TEXT as SHAPE: "plain" (a regular
# file), "symlink" (a relative symlink to $STUB, holding TEXT) or "bind" (a bind mount of $BIND_SRC, holding TEXT,
# on the file). A bind mount left by an earlier call is removed first (from the file only; /etc stays).
STUB=/run/systemd/resolve/stub-resolv.conf
resolv_conf_shape() {
  lab_etc_is_private || lab_abort "resolv_conf_shape needs lab_private_etc first"
  if mountpoint -q /etc/resolv.conf; then umount /etc/resolv.conf || lab_abort "cannot drop the resolv.conf bind"; fi
  rm -f /etc/resolv.conf
  case $1 in
    plain) printf '%s' "$2" >/etc/resolv.conf ;;
    symlink)
      mkdir -p "$(dirname "$STUB")"
      printf '%s' "$2" >"$STUB"
      ln -sfn "../${STUB#/}" /etc/resolv.conf
      ;;
    bind)
      : >/etc/resolv.conf
      printf '%s' "$2" >"$BIND_SRC"
      mount --bind "$BIND_SRC" /etc/resolv.conf || lab_abort "cannot bind-mount a file on /etc/resolv.conf"
      ;;
    *) lab_abort "resolv_conf_shape: unknown shape '$1'" ;;
  esac
}

# lab_etc_is_private: /etc (the topmost mount on it, or the one below a bind of itself) is the lab's overlay.
lab_etc_is_private() {
  [ -n "${LAB_DIR:-}" ] && grep -q " /etc .* - overlay lab-etc .*upperdir=$LAB_DIR/etc-up" /proc/self/mountinfo
}

# takeover_system_toml [MODE [RESOLV_CONF]]: [system] lines for a takeover run (state_dir on the lab tmpfs).
takeover_system_toml() {
  printf 'mode = "%s"\nresolv_conf = "%s"\nstate_dir = "%s"\ncanary_timeout_ms = 3000' \
    "${1:-auto}" "${2:-/etc/resolv.conf}" "${STATE_DIR:?lab_private_etc first}"
}

# The running roamd through roamctl ($ROAMCTL, the lab's inspection socket):
#   routes_line DOMAIN    the line of `roamctl routes` for DOMAIN ("" when none); route_has DOMAIN TEXT
#   adapters_dns LINK     the "dns:" lines `roamctl adapters` shows under LINK
#   expect_learned_route DOMAIN SOURCE LINK SERVER WHAT   waits (5 s) for DOMAIN -> SERVER:53 from SOURCE bound to
#                         LINK in `roamctl routes`, and checks it
roamctl() { "$ROAMCTL" --socket "$LAB_DIR/debug.sock" "$@"; }
routes_line() { roamctl routes 2>&1 | awk -v d="$1" '$1 == d' | head -1; }
route_has() { [[ "$(routes_line "$1")" == *"$2"* ]]; }
adapters_dns() { roamctl adapters 2>&1 | awk -v l="$1" '/^[0-9]+: / {on = $2 == l; next} on && /dns:/'; }
expect_learned_route() {
  wait_until 5000 route_has "$1" "$3"
  LAST_CMD="roamctl routes" ANS_TEXT=$(roamctl routes 2>&1)
  expect "$5" "$(routes_line "$1")" '~' "^$1 +$2 +$3 .*$4:53"
}

# start_auto_roamd BACKEND: roamd in auto mode taking over the lab's /etc/resolv.conf, the per-link settings of the
# backend's manager read every second; checked to have picked BACKEND and verified the takeover with its canary.
start_auto_roamd() {
  ROAMD_SYSTEM_TOML=$(takeover_system_toml auto) start_cloud_roamd <<'EOF'
[arbitration]
link_settings_poll_ms = 1000
EOF
  wait_until 15000 roamd_log_has 'dns_enforcer: (protecting|not_taken|failed)'
  expect "roamd took over with the $1 backend" \
    "$(grep -o 'took over with the [a-z]* backend' "$LAB_DIR/roamd.out" | tail -1)" = "took over with the $1 backend"
  expect "... verified by its canary" "$(roamd_log_has 'dns_enforcer: protecting: verified' && echo yes)" = yes
}

# kill9_then_restore FILE: kill -9 roamd (the takeover's FILE outlives it: the journal says so), then
# `roamd --restore`: exit 0 and FILE gone (its output in RESTORE_OUT).
kill9_then_restore() {
  kill -KILL "${LAB_PIDS[roamd]}"
  wait "${LAB_PIDS[roamd]}" 2>/dev/null
  unset 'LAB_PIDS[roamd]'
  expect "after kill -9 $1 is still there" "$([ -e "$1" ] && echo present)" = present
  RESTORE_OUT=$("$ROAMD" --config "$LAB_DIR/roamd.toml" --restore 2>&1)
  expect "roamd --restore: exit 0" "$?" = 0
  expect "... and $1 is gone" "$([ -e "$1" ] && echo present || echo gone)" = gone
}

# arbiter_state: the conflict arbiter's protection state as its last log line says ("protected by settings", ...).
arbiter_state() { sed -n 's/.*conflict_arbiter: .*\[\([a-z ]*\)\]$/\1/p' "$LAB_DIR/roamd.out" | tail -1; }

# roamd_log_has REGEX: roamd's output so far has a line matching REGEX (grep -E).
roamd_log_has() { grep -Eq -- "$1" "$LAB_DIR/roamd.out"; }

# stop_roamd_term: SIGTERM, waits (10 s at most) and sets ROAMD_RC (exit status, or "hung" after SIGKILL).
stop_roamd_term() {
  local pid=${LAB_PIDS[roamd]:-}
  ROAMD_RC=none
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  if wait_until 10000 exited roamd; then
    wait "$pid" 2>/dev/null
    ROAMD_RC=$?
  else
    ROAMD_RC=hung
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  unset "LAB_PIDS[roamd]"
}

# --- queries ----------------------------------------------------------------------------------------------------

# ask_at SERVER DIG-ARGS...: one dig query. Sets ANS_STATUS (rcode, or NOREPLY), ANS_FLAGS, ANS_DATA (answer
# rdata, space separated), ANS_TTL (first answer's TTL), ANS_EDNS (OPT udp size or "none"), ANS_SIZE,
# ANS_MS (wall time, with dig's start-up), ANS_QMS (dig's own "Query time"), ANS_TEXT (dig's output), LAST_CMD.
ask_at() {
  local server=$1; shift
  LAST_CMD="dig @$server +time=3 +tries=1 $*"
  local t0; t0=$(now_ms)
  ANS_TEXT=$(dig @"$server" +time=3 +tries=1 "$@" 2>&1)
  ANS_MS=$(($(now_ms) - t0))
  ANS_STATUS=$(sed -n 's/.*status: \([A-Z0-9]*\),.*/\1/p' <<<"$ANS_TEXT" | tail -1)
  ANS_STATUS=${ANS_STATUS:-NOREPLY}
  ANS_FLAGS=$(sed -n 's/^;; flags: \([^;]*\);.*/\1/p' <<<"$ANS_TEXT" | tail -1)
  ANS_DATA=$(awk '/^;; ANSWER SECTION:/ {a = 1; next} /^$/ {a = 0}
                  a && !/^;/ {$1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print}' <<<"$ANS_TEXT" | paste -sd' ')
  ANS_TTL=$(awk '/^;; ANSWER SECTION:/ {getline; print $2; exit}' <<<"$ANS_TEXT")
  ANS_EDNS=$(sed -n 's/^; EDNS: .*udp: \([0-9]*\).*/\1/p' <<<"$ANS_TEXT" | tail -1)
  ANS_EDNS=${ANS_EDNS:-none}
  ANS_SIZE=$(sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\).*/\1/p' <<<"$ANS_TEXT" | tail -1)
  ANS_QMS=$(sed -n 's/^;; Query time: \([0-9]*\) msec.*/\1/p' <<<"$ANS_TEXT" | tail -1)
}
ask() { ask_at "$ROAMD_IP" "$@"; }

# resolve NAME: asks the system resolver (glibc through /etc/resolv.conf, as `getent hosts`); sets ANS_DATA to
# the addresses it returned, ANS_TEXT and LAST_CMD.
resolve() {
  LAST_CMD="getent hosts $1"
  ANS_TEXT=$(getent hosts "$1" 2>&1)
  ANS_DATA=$(awk '{print $1}' <<<"$ANS_TEXT" | paste -sd' ')
}

# has_flag FLAG: the last answer's header has FLAG (tc, aa, ra, ...).
has_flag() { [[ " $ANS_FLAGS " == *" $1 "* ]] && echo yes || echo no; }

# queries_for NAME UPSTREAM: how many queries for NAME (any type) UPSTREAM received.
queries_for() { grep -ciF " ${1%.}. " "$LAB_DIR/$2.queries"; }

# echo_field KEY: a field of the upstream's description in the last echo.* TXT answer (e.g. edns, do, identity).
echo_field() { sed -n "s/.*[\" ]$1=\([^ \"]*\).*/\1/p" <<<"$ANS_DATA" | head -1; }

# Debian's python3 first: a pyenv shim earlier in PATH costs ~0.7 s per start.
LAB_PYTHON=/usr/bin/python3
[ -x "$LAB_PYTHON" ] || LAB_PYTHON=$(command -v python3)
dnsraw() { "$LAB_PYTHON" "$LAB_HOME/dnsraw.py" "$@"; }

# roamd_kib KEY: a memory figure of roamd's from /proc/PID/status, in KiB (VmRSS, VmHWM).
roamd_kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/${LAB_PIDS[roamd]}/status"; }

# dns_and_memory_during PREFIX: for about 6 s (12 rounds of 0.5 s, while something abuses roamd in the background)
# samples roamd's VmRSS and asks a fresh name PREFIX-N.example each round; sets PEAK (KiB), DNS_OK and DNS_N.
dns_and_memory_during() {
  local i r
  PEAK=0 DNS_OK=0 DNS_N=0
  for i in $(seq 1 12); do
    r=$(roamd_kib VmRSS); [ "$r" -gt "$PEAK" ] && PEAK=$r
    ask "$1-$i.example" A
    DNS_N=$((DNS_N + 1)); [ "$ANS_STATUS" = NOERROR ] && DNS_OK=$((DNS_OK + 1))
    sleep 0.5
  done
}

# --- checks -----------------------------------------------------------------------------------------------------

# expect DESCRIPTION ACTUAL OP EXPECTED: OP is = != ~ (regex) !~ -lt -le -gt -ge. A failure shows the last query.
expect() {
  local desc=$1 actual=$2 op=$3 want=$4 ok
  case $op in
    =) [ "$actual" = "$want" ] ;;
    !=) [ "$actual" != "$want" ] ;;
    '~') [[ $actual =~ $want ]] ;;
    '!~') ! [[ $actual =~ $want ]] ;;
    -lt|-le|-gt|-ge) [[ $actual =~ ^-?[0-9]+$ ]] && [ "$actual" "$op" "$want" ] ;;
    *) echo "expect: bad operator $op" >&2; false ;;
  esac
  ok=$?
  LAB_CHECKS=$((LAB_CHECKS + 1))
  if [ $ok = 0 ]; then
    echo "ok   $desc"
  else
    LAB_FAILS=$((LAB_FAILS + 1))
    echo "FAIL $desc"
    echo "     got: '$actual', expected: $op '$want'"
    if [ -n "$LAST_CMD" ]; then
      echo "     last command: $LAST_CMD"
      grep -v -e '^$' -e '^; <<>>' -e '^;; global options' -e '^; (1 server' -e '^;; WHEN' <<<"$ANS_TEXT" |
        sed 's/^/     | /'
    fi
  fi
  return $ok
}

# expect_roamd_serving: roamd is still running and answers a normal query (a fresh name, so not from cache).
LAB_SERIAL=0
expect_roamd_serving() {
  LAB_SERIAL=$((LAB_SERIAL + 1))
  expect "roamd is still running ($1)" "$(alive roamd && echo running || echo gone)" = running || return 1
  ask "alive$LAB_SERIAL.example" A
  expect "roamd still answers normal queries ($1)" "$ANS_STATUS $ANS_DATA" '~' "^NOERROR [0-9.]+$"
}

# section TITLE: a heading in the test's output.
section() { printf '\n== %s\n' "$*"; }

# show_logs NAME...: the last lines of each process's output, for failure reports.
show_logs() {
  local name
  for name in "$@"; do
    [ -s "$LAB_DIR/$name.out" ] || continue
    echo "--- last lines of $name's output:"
    tail -n 25 "$LAB_DIR/$name.out" | sed 's/^/    /'
  done
}

# lab_abort MESSAGE [NAME...]: the lab itself could not be set up.
lab_abort() {
  echo "ABORT: $1"
  shift
  show_logs "$@"
  exit 1
}

lab_finish() {
  echo
  if [ "$LAB_FAILS" = 0 ]; then
    echo "PASS: all $LAB_CHECKS checks held"
    exit 0
  fi
  show_logs roamd
  echo "FAILED: $LAB_FAILS of $LAB_CHECKS checks"
  exit 1
}
