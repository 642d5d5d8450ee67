#!/usr/bin/env bash
# The systemd units as installed, checked by systemd's own `systemd-analyze verify` (syntax, directives, the
# commands they run): the unit templates are filled with the built roamd's path, and any complaint fails the test.
# Usage: verify_units.sh ROAMD-BINARY SOURCE-DIR. Exits 77 (skipped) without systemd-analyze.
set -uo pipefail
roamd=$1 src=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
# The sanitizer build (tools/test) builds the unit tests only: no roamd binary for the units to name there.
[ -x "$roamd" ] || { echo "SKIP: $roamd is not built in this tree"; exit 77; }
dir=$(mktemp -d /tmp/roamd-units.XXXXXX)
trap 'rm -rf "$dir"' EXIT
bindir=$(dirname "$(readlink -f "$roamd")")
for t in roamd.service roamd-repair.service; do
  sed -e "s|@ROAMD_BINDIR@|$bindir|g" -e "s|@ROAMD_DOCDIR@|$src|g" "$src/tools/systemd/$t.in" >"$dir/$t"
done
cp "$src/tools/systemd/roamd-repair.path" "$dir/"
out=$(cd "$dir" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no ./roamd.service ./roamd-repair.service \
  ./roamd-repair.path 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
  echo "FAIL: systemd-analyze verify (exit $rc):"
  echo "$out"
  exit 1
fi
grep -q '^Also=roamd-repair.path$' "$dir/roamd.service" || { echo "FAIL: roamd.service does not enable the repair path"; exit 1; }
echo "PASS: systemd-analyze verify accepts roamd.service, roamd-repair.service and roamd-repair.path"
