#!/usr/bin/env bash
# Configuration errors: `roamd --config FILE` exits with status 2, names the offending key and its line, and
# binds no socket (checked with strace). A valid file of the same shape starts normally (the control).
. "$(dirname "$0")/lib.sh"
lab_init "$@"
lab_need strace timeout

# config_case CLOUD-LINES [UPSTREAM-LINES]: a configuration file with these [cloud] and [upstream] tables.
config_case() {
  write_roamd_config "$LAB_DIR/case.toml" <<EOF2
[cloud]
$1

[upstream]
${2:-timeout_ms = 1000}
EOF2
}
RESOLVERS="resolvers = [\"$CLOUD_IP:53\"]"

# bad_config DESCRIPTION KEY PATTERN: roamd on case.toml must exit 2 and name KEY (a regex; "-" for none) and
# the number of the first line matching PATTERN, without binding any socket.
bad_config() {
  local desc=$1 key=$2 line rc out
  line=$(grep -n -m1 -e "$3" "$LAB_DIR/case.toml" | cut -d: -f1)
  LAST_CMD="roamd --config case.toml  # $desc, line $line"
  ANS_TEXT=$(sed -n "${line}p" "$LAB_DIR/case.toml")
  timeout 10 strace -f -qq -e trace=bind -o "$LAB_DIR/strace.out" "$ROAMD" --config "$LAB_DIR/case.toml" \
    >"$LAB_DIR/case.out" 2>&1
  rc=$?
  out=$(cat "$LAB_DIR/case.out")
  expect "$desc: exit status 2" "$rc" = 2
  [ "$key" = - ] || expect "$desc: the message names '$key'" "$out" '~' "$key"
  expect "$desc: the message names line $line" "$out" '~' "(line[ :]*$line([^0-9]|$)|:$line([^0-9]|$))"
  expect "$desc: no socket was bound" "$(grep -c 'bind(.*AF_INET' "$LAB_DIR/strace.out")" = 0
  echo "     roamd said: $(head -c 300 <<<"$out" | paste -sd' ')"
}

section "control: a valid configuration starts (and strace sees its bind calls)"
config_case "$RESOLVERS"$'\n'"device_id = \"$DEVICE_ID\""
lab_start traced strace -f -qq -e trace=bind -o "$LAB_DIR/strace.out" "$ROAMD" --config "$LAB_DIR/case.toml"
wait_until 10000 listening "$ROAMD_IP"
expect "roamd listens with the valid file" "$(listening "$ROAMD_IP" && echo listening)" = listening
expect "strace saw it bind" "$(grep -c 'bind(.*AF_INET' "$LAB_DIR/strace.out")" -ge 1
kill -TERM $(cat /proc/"${LAB_PIDS[traced]}"/task/*/children) 2>/dev/null
wait_until 5000 exited traced
lab_stop traced

section "bad values"
config_case "$RESOLVERS"$'\n''device_id = "0123456789abcdeZ"'
bad_config "device_id with a non-hex digit" device_id '^device_id'
config_case "$RESOLVERS"$'\n''device_id = "0123"'
bad_config "device_id too short" device_id '^device_id'
config_case "$RESOLVERS"$'\n''device_id = 42'
bad_config "device_id not a string" device_id '^device_id'
config_case 'resolvers = ["not-an-address"]'
bad_config "cloud resolver not an address" resolvers 'not-an-address'
config_case "$RESOLVERS" 'timeout_ms = "fast"'
bad_config "timeout_ms not a number" timeout_ms '^timeout_ms'

section "broken TOML and a missing file"
config_case "$RESOLVERS"$'\n''device_id = "0123456789abcdef'
bad_config "unterminated string" - '^device_id'
LAST_CMD="roamd --config /nonexistent/roamd.toml"
ANS_TEXT=$("$ROAMD" --config /nonexistent/roamd.toml 2>&1)
rc=$?
expect "missing file: exit status 2" "$rc" = 2
expect "missing file: the message names the path" "$ANS_TEXT" '~' "/nonexistent/roamd.toml"

lab_finish
