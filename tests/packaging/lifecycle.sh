#!/usr/bin/env bash
# The Debian package's life cycle in a fresh Debian 12 root (issue 14): debootstrap minbase (cached in
# /var/cache/roamd-lab, with the runtime libraries the package depends on, fetched from Debian's archive before the
# lab starts), mounted as an overlay inside the lab's namespaces and entered with chroot. No systemd runs there:
# dpkg runs the maintainer scripts as it always does, /run/systemd/system exists so that they take their systemd path,
# and tests/packaging/fake-systemctl plays systemd's part for roamd.service from the unit file itself (ExecStart=,
# ExecStopPost=, Restart=, StateDirectory=). The cloud is dnsdist on loopback (upstream.lua).
#
#   install   a fresh install starts roamd and changes nothing (mode "none"); it answers on 127.0.2.53
#   configure identity and mode "auto" in the conffile, restart: roamd takes over, getent through it is tagged
#   upgrade   to a second build: the conffile edit is kept, resolv.conf never names a roamd that does not answer for
#             longer than the restart (sampled every 10 ms; the window is measured), roamd protects again after it
#   killed    dpkg killed with SIGKILL between the upgrade's stop and start: resolv.conf is the original, not a dead
#             roamd's; `dpkg --configure -a` finishes and roamd protects again
#   remove    roamd stopped, resolv.conf byte for byte the pre-install file, the configuration kept
#   purge     /etc/roamd and /var/lib/roamd gone, resolv.conf still the pre-install file
#
# Usage: ROAMD_DEB=build/package/roamd_<v>_amd64.deb lifecycle.sh --roamd build/bin/roamd
# (--roamd only satisfies lab_init; the roamd under test is the package's). Skips (77) without the .deb, without
# debootstrap, or when the root cannot be fetched.
. "$(dirname "$(readlink -f "$0")")/../lab/lib.sh"
[ -n "${ROAMD_DEB:-}" ] || lab_skip "ROAMD_DEB (the package to test) is not set"
DEB=$(readlink -f "$ROAMD_DEB" 2>/dev/null || true)
[ -n "$DEB" ] && [ -f "$DEB" ] || { echo "FAIL: ROAMD_DEB names no package: '$ROAMD_DEB'"; exit 1; }
CACHE=/var/cache/roamd-lab
# The package's dependencies as real package names (debootstrap cannot take a virtual one, such as
# libspdlog1.10-fmt9: the installed package that provides it is taken instead).
real_package() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ] && { echo "$1"; return; }
  dpkg-query -W -f='${Package} ${Provides}\n' | awk -v p="$1" '{ for (i = 2; i <= NF; i++) { x = $i; sub(/,$/, "", x)
    if (x == p) { print $1; exit } } }'
}
DEPS=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/ //g' | grep -v '^$' |
  while read -r d; do real_package "$d"; done | sort -u | paste -sd, -)
ROOT_CACHE=$CACHE/bookworm-minbase-$(echo "$DEPS,init-system-helpers" | sha256sum | cut -c1-12)

# --- outside the lab: the fresh root, fetched once ---------------------------------------------------------------
if [ -z "${LAB_INSIDE:-}" ]; then
  command -v debootstrap >/dev/null || lab_skip "debootstrap is not installed (tools/install-deps)"
  mkdir -p "$CACHE"
  (
    flock 9
    if [ ! -e "$ROOT_CACHE/.complete" ]; then
      rm -rf "$ROOT_CACHE"
      echo "lifecycle: debootstrap --variant=minbase bookworm with $DEPS (once, into $ROOT_CACHE)"
      debootstrap --variant=minbase --include="$DEPS,init-system-helpers" bookworm "$ROOT_CACHE" \
        http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 || { tail -5 "$CACHE/debootstrap.log"; exit 1; }
      touch "$ROOT_CACHE/.complete"
    fi
  ) 9>"$CACHE/.debootstrap.lock" || lab_skip "the fresh root could not be made (log: $CACHE/debootstrap.log)"
fi
lab_init "$@"

# --- inside the lab: the root as an overlay, entered with chroot -------------------------------------------------
R=$LAB_DIR/root
# The overlay's upper layer is not on the lab's small tmpfs: a disk-backed scratch directory.
SCRATCH=$(mktemp -d /var/tmp/roamd-lifecycle.XXXXXX)
mkdir -p "$R" "$SCRATCH/upper" "$SCRATCH/work"
mount -t overlay overlay -o "lowerdir=$ROOT_CACHE,upperdir=$SCRATCH/upper,workdir=$SCRATCH/work" "$R" ||
  lab_abort "cannot mount the root's overlay"
lab_cleanup_root() {
  # Everything in the root first (its processes run in the lab's pid namespace, which --kill-child ends), then the
  # mounts, then the scratch directory.
  pkill -KILL -f "^/usr/bin/roamd" 2>/dev/null
  umount -l "$R/proc" "$R/dev" "$R/run" "$R/tmp" "$R" 2>/dev/null
  rm -rf "$SCRATCH"
}
trap 'lab_cleanup_root; lab_cleanup' EXIT
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=0755 run "$R/run"
mount -t tmpfs -o mode=1777 tmp "$R/tmp"
mkdir -p "$R/run/systemd/system"
install -m 0755 "$LAB_HOME/../packaging/fake-systemctl" "$R/usr/bin/systemctl"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
ORIGINAL=$'# the home router (from DHCP)\nnameserver 192.0.2.53\nsearch home.test\noptions edns0\n'
rm -f "$R/etc/resolv.conf"
printf '%s' "$ORIGINAL" >"$R/etc/resolv.conf"
resolv_is_original() { [ "$(cat "$R/etc/resolv.conf")" = "$(printf '%s' "$ORIGINAL")" ]; }
resolv_names_roamd() { grep -q '^nameserver 127.0.2.53$' "$R/etc/resolv.conf"; }
start_upstream cloud "$CLOUD_IP" "$CLOUD_PROFILE"
cp "$DEB" "$R/tmp/roamd_a.deb"
# The second build: the same package with a higher version (what changes between builds is not what is tested).
version=$(dpkg-deb -f "$DEB" Version)
dpkg-deb -R "$DEB" "$LAB_DIR/b" && sed -i "s/^Version: .*/Version: $version+lab2/" "$LAB_DIR/b/DEBIAN/control" &&
  dpkg-deb -b "$LAB_DIR/b" "$R/tmp/roamd_b.deb" >/dev/null || lab_abort "cannot make the second build"
# The third: its preinst waits, after the stop, while /tmp/hold-upgrade exists, so that dpkg is killed between the
# upgrade's stop and start for certain (not only when the kill happens to land there).
dpkg-deb -R "$DEB" "$LAB_DIR/c" && sed -i "s/^Version: .*/Version: $version+lab3/" "$LAB_DIR/c/DEBIAN/control" &&
  sed -i 's|^exit 0$|touch /tmp/upgrade-held; while [ -e /tmp/hold-upgrade ]; do sleep 0.1; done\nexit 0|' \
    "$LAB_DIR/c/DEBIAN/preinst" &&
  grep -q hold-upgrade "$LAB_DIR/c/DEBIAN/preinst" &&
  dpkg-deb -b "$LAB_DIR/c" "$R/tmp/roamd_c.deb" >/dev/null || lab_abort "cannot make the third build"
roamd_pid() { cat "$R/run/fake-systemd/roamd.main" 2>/dev/null; }
# roamd answers names under canary.roamd.arpa itself (whether or not a cloud is reachable, as in a fresh install).
roamd_answers() { dig @127.0.2.53 +time=1 +tries=1 +short lifecycle.canary.roamd.arpa A 2>/dev/null | grep -q '^127\.'; }
protecting() { resolv_names_roamd && roamd_answers; }

section "install: a fresh install starts roamd and changes nothing"
out=$(in_root dpkg -i /tmp/roamd_a.deb 2>&1)
expect "dpkg -i succeeds" "$?" = 0
expect "the unit is enabled (deb-systemd-helper)" \
  "$(ls "$R"/etc/systemd/system/multi-user.target.wants/ 2>/dev/null | paste -sd' ')" '~' 'roamd.service'
wait_until 5000 roamd_answers
expect "roamd runs and answers on 127.0.2.53" "$(roamd_answers && echo yes)" = yes
expect "resolv.conf untouched (mode \"none\" as shipped)" "$(resolv_is_original && echo yes)" = yes
expect "/etc/roamd/roamd.toml is a conffile" "$(in_root dpkg-query -W -f='${Conffiles}' roamd)" '~' '/etc/roamd/roamd.toml'
expect "the man pages and the completion are installed" \
  "$(cd "$R" && ls usr/share/man/man8/roamd.8.gz usr/share/man/man8/roamctl.8.gz usr/share/man/man5/roamd.toml.5.gz \
      usr/share/bash-completion/completions/roamctl 2>&1 | wc -l)" = 4

section "configure: an identity and mode \"auto\": roamd takes over"
sed -i -e 's/^# device_id = .*/device_id = "'"$DEVICE_ID"'"/' -e 's/^mode = "none".*/mode = "auto"/' \
  -e 's/^resolvers = \["208.*/resolvers = ["'"$CLOUD_IP"':53"]/' "$R/etc/roamd/roamd.toml"
CONF_EDITED=$(cat "$R/etc/roamd/roamd.toml")
expect "the edited file passes --check-config" "$(in_root roamd --check-config 2>&1)" '~' 'is valid'
in_root systemctl restart roamd.service
wait_until 10000 protecting
expect "roamd took over resolv.conf" "$(resolv_names_roamd && echo yes)" = yes
expect "a name through the system resolver in the root: the cloud's answer with the identity" \
  "$(in_root getent hosts www.example.net | awk '{print $1}')" = "$CLOUD_A_TAGGED"

section "upgrade to a second build: never a dead roamd for longer than the restart"
"$LAB_PYTHON" - "$R/etc/resolv.conf" "$LAB_DIR/upgrade.samples" <<'EOF' &
import socket, struct, sys, time, os
path, out = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x09lifecycle\x06canary\x05roamd\x04arpa\x00" + struct.pack(">HH", 1, 1)
with open(out, "w") as f:
    while not os.path.exists(out + ".stop"):
        t = time.monotonic()
        try:
            names = "nameserver 127.0.2.53" in open(path).read()
        except OSError:
            names = False
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.05)
        try:
            s.sendto(q, ("127.0.2.53", 53)); s.recv(512); answers = True
        except OSError:
            answers = False
        s.close()
        f.write(f"{t:.3f} {int(names)} {int(answers)}\n")
        time.sleep(max(0, 0.01 - (time.monotonic() - t)))
EOF
sampler=$!
wait_until 2000 test -s "$LAB_DIR/upgrade.samples"
out=$(in_root dpkg -i /tmp/roamd_b.deb 2>&1)
rc=$?
wait_until 10000 protecting
touch "$LAB_DIR/upgrade.samples.stop"
wait "$sampler"
expect "dpkg -i of the second build succeeds" "$rc" = 0
expect "the installed version is the second build" "$(in_root dpkg-query -W -f='${Version}' roamd)" = "$version+lab2"
expect "the conffile edit is kept" "$(cat "$R/etc/roamd/roamd.toml")" = "$CONF_EDITED"
expect "roamd protects again after the upgrade" "$(protecting && echo yes)" = yes
# Windows from the samples: the longest run naming roamd while it does not answer (a dead roamd), and the longest
# run not naming roamd (unprotected: the original in force during the restart).
read -r dead unprotected <<<"$(awk '
  { if ($2 == 1 && $3 == 0) { if (!d0) d0 = $1; d = $1 - d0; if (d > dmax) dmax = d } else d0 = 0
    if ($2 == 0) { if (!u0) u0 = $1; u = $1 - u0; if (u > umax) umax = u } else u0 = 0 }
  END { printf "%d %d\n", dmax * 1000, umax * 1000 }' "$LAB_DIR/upgrade.samples")"
echo "measure upgrade_dead_roamd_ms $dead"
echo "measure upgrade_unprotected_ms $unprotected"
echo "measure upgrade_samples $(wc -l <"$LAB_DIR/upgrade.samples")"
expect "resolv.conf never named a roamd that did not answer for more than 100 ms ($dead ms)" "$dead" -le 100
expect "the original was in force during the restart only (unprotected $unprotected ms)" "$unprotected" -le 5000

section "dpkg killed between the upgrade's stop and start"
touch "$R/tmp/hold-upgrade"
in_root dpkg -i /tmp/roamd_c.deb >"$LAB_DIR/killed-dpkg.out" 2>&1 &
dpkg_pid=$!
held() { [ -e "$R/tmp/upgrade-held" ] && [ -z "$(roamd_pid)" ]; }
wait_until 15000 held || lab_abort "the upgrade did not reach its held preinst" killed-dpkg
pkill -KILL -x dpkg                  # the lab's pid namespace: only the dpkg under test
wait "$dpkg_pid" 2>/dev/null
rm -f "$R/tmp/hold-upgrade"          # the orphaned preinst ends by itself
wait_until 2000 eval '! pgrep -x dpkg >/dev/null'
expect "dpkg is gone, roamd is not running" "$(pgrep -x dpkg)$(roamd_pid)" = ""
expect "resolv.conf is the original, not naming a dead roamd" "$(resolv_is_original && echo yes)" = yes
echo "     (dpkg left roamd as: $(in_root dpkg-query -W -f='${Status} ${Version}' roamd))"
in_root dpkg --configure -a >"$LAB_DIR/configure.out" 2>&1
in_root dpkg -i /tmp/roamd_c.deb >>"$LAB_DIR/configure.out" 2>&1
wait_until 10000 protecting
expect "dpkg finishes the upgrade" "$(in_root dpkg-query -W -f='${Status} ${Version}' roamd)" = \
  "install ok installed $version+lab3"
expect "roamd protects again" "$(protecting && echo yes)" = yes

section "remove: roamd stops, the pre-install resolv.conf is back byte for byte"
in_root dpkg -r roamd >"$LAB_DIR/remove.out" 2>&1
expect "dpkg -r succeeds" "$?" = 0
expect "roamd is not running" "$(roamd_pid)" = ""
expect "resolv.conf is the pre-install file, byte for byte" "$(cmp "$R/etc/resolv.conf" <(printf '%s' "$ORIGINAL") && echo same)" = same
expect "the configuration stays" "$(cat "$R/etc/roamd/roamd.toml" 2>&1)" = "$CONF_EDITED"
expect "no journal is left" "$(ls "$R/var/lib/roamd" 2>/dev/null | grep -c journal)" = 0

section "purge: the configuration and the state directory go"
in_root dpkg -P roamd >"$LAB_DIR/purge.out" 2>&1
expect "dpkg -P succeeds" "$?" = 0
expect "/etc/roamd is gone" "$([ -e "$R/etc/roamd" ] && echo present || echo gone)" = gone
expect "/var/lib/roamd is gone" "$([ -e "$R/var/lib/roamd" ] && echo present || echo gone)" = gone
expect "the units' enablement is gone" "$(ls "$R"/etc/systemd/system/multi-user.target.wants/ 2>/dev/null | grep -c roamd)" = 0
expect "resolv.conf is the pre-install file, byte for byte" "$(cmp "$R/etc/resolv.conf" <(printf '%s' "$ORIGINAL") && echo same)" = same
lab_finish
