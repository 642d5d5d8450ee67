#!/usr/bin/env bash
# Cache: a repeated query is answered from the cache (the upstream sees it once, the TTL does not grow) and
# still answered after the upstream is gone; max_ttl caps how long an answer is cached; size = 0 turns it off.
. "$(dirname "$0")/lib.sh"
lab_init "$@"

start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"

# cache_roamd SIZE MAX_TTL: (re)start roamd with that cache.
cache_roamd() {
  lab_stop roamd
  start_cloud_roamd <<EOF2

[upstream]
timeout_ms = 300
attempts = 1

[cache]
size = $1
max_ttl = $2
negative_max_ttl = 60
EOF2
}

section "cache on"
cache_roamd 1000 86400
ask cached.example
expect "first answer" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
ttl1=$ANS_TTL
expect "first TTL is the upstream's (60)" "$ttl1" -le 60
ask cached.example
expect "second answer is the same" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"
expect "second TTL <= first ($ttl1)" "$ANS_TTL" -le "$ttl1"
expect "... and > 0" "$ANS_TTL" -gt 0
expect "the cloud received cached.example once" "$(queries_for cached.example cloud)" = 1
ask +tcp cached.example
expect "a TCP client gets the cached answer too" "$(queries_for cached.example cloud) $ANS_DATA" = "1 $CLOUD_A_TAGGED"

section "the cloud is stopped"
lab_stop cloud
ask_at "$CLOUD_IP" +time=1 control.example
expect "control: the cloud no longer answers" "$ANS_STATUS" = NOREPLY
ask uncached.example
expect "control: an uncached name fails" "$ANS_STATUS" != NOERROR
ask cached.example
expect "the cached name is still answered" "$ANS_STATUS $ANS_DATA" = "NOERROR $CLOUD_A_TAGGED"

start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"

section "max_ttl = 2: cached copies live at most 2 s"
cache_roamd 1000 2
ask capped.example
echo "     first answer (forwarded): TTL $ANS_TTL"
ask capped.example
expect "the cached copy's TTL is capped to 2 (upstream says 60)" "$ANS_TTL" -le 2
expect "... and it came from the cache" "$(queries_for capped.example cloud)" = 1
refetched() { ask capped.example && [ "$(queries_for capped.example cloud)" -ge 2 ]; }
wait_until 5000 refetched
expect "the entry expires and capped.example is fetched again" "$(queries_for capped.example cloud)" -ge 2

section "cache off (size = 0)"
cache_roamd 0 86400
ask nocache.example
ask nocache.example
expect "both queries reached the cloud" "$(queries_for nocache.example cloud)" = 2

lab_finish
