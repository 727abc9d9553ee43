#!/usr/bin/env bash
# trixie-root.sh [ROOT]: a Debian 13 (trixie) root whose strongSwan does ML-KEM, for
# strongswan.sh ROOT=... and tests/interop/test_pq_interop.py.  Debian 12's strongSwan 5.9
# has no ML-KEM, and neither has Debian 13's 6.0.1: Debian builds no ml plugin, and strongSwan's
# openssl plugin offers ML-KEM (with OpenSSL >= 3.5, which trixie has) only from 6.0.2 on.  So
# the strongSwan packages come from Debian unstable (6.1 at the time of writing) over the trixie
# base.  Built once with debootstrap from deb.debian.org and kept (default
# /var/cache/racoon2-trixie, about 270 MB); later calls return at once.  The build is bounded
# by TIMEOUT seconds per step [600] and goes to a scratch directory first, so an interrupted one
# leaves no half root behind.  MIRROR overrides the Debian mirror.  Run as root.
set -euo pipefail
ROOT=${1:-/var/cache/racoon2-trixie}
READY=$ROOT/.racoon2-ready
[ -e "$READY" ] && exit 0
MIRROR=${MIRROR:-http://deb.debian.org/debian}
T=${TIMEOUT:-600}
PACKAGES=(strongswan-swanctl charon-systemd libstrongswan-standard-plugins
          libstrongswan-extra-plugins libcharon-extra-plugins)
command -v debootstrap >/dev/null || { echo "trixie-root: debootstrap is missing:" \
    "tests/harness/setup-host.sh installs it" >&2; exit 1; }
build=$ROOT.build
log=$ROOT.build.log
rm -rf "$build"
trap 'rm -rf "$build"' EXIT
fail() { echo "trixie-root: $1; see $log" >&2; exit 1; }
timeout "$T" debootstrap --variant=minbase trixie "$build" "$MIRROR" >"$log" 2>&1 ||
    fail "debootstrap failed or took over $T s"
echo "deb $MIRROR sid main" >"$build/etc/apt/sources.list.d/sid.list"
# A mirror snapshot older than this host's clock would be refused as expired.
apt=(chroot "$build" apt-get -o Acquire::Check-Valid-Until=false)
timeout "$T" "${apt[@]}" update >>"$log" 2>&1 || fail "apt-get update failed"
timeout "$T" "${apt[@]}" install -y --no-install-recommends -t sid "${PACKAGES[@]}" \
    >>"$log" 2>&1 || fail "installing strongSwan from unstable failed"
chroot "$build" sh -c \
    'dpkg --compare-versions "$(dpkg-query -W -f="\${Version}" strongswan-swanctl)" ge 6.0.2' ||
    fail "strongSwan in $build is older than 6.0.2: no ML-KEM"
# kernel-libipsec's TUN device (debootstrap makes only the basic nodes)
mkdir -p "$build/dev/net"
[ -e "$build/dev/net/tun" ] || mknod "$build/dev/net/tun" c 10 200
"${apt[@]}" clean
chroot "$build" dpkg-query -W strongswan-swanctl libssl3t64 >"$build/.racoon2-ready"
rm -rf "$ROOT"
mv "$build" "$ROOT"
rm -f "$log"
trap - EXIT
echo "trixie-root: $ROOT ready: $(tr '\n\t' '  ' <"$READY")"
