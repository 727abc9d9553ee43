#!/bin/bash
# benchmarks/build-strongswan-lt.sh [PREFIX]
#
# Builds Debian bookworm's strongSwan source (5.9.8 + Debian patches) into PREFIX
# [/var/cache/racoon2-strongswan-lt] with the plugins Debian's binary packages leave out:
#   load-tester (load generator + fake_kernel: CHILD_SAs without kernel ESP) and
#   save-keys (writes Wireshark ikev1/ikev2/esp key tables).
# Also kernel-libipsec, charon-systemd (foreground, no pid file), swanctl, openssl.
# Its own piddir/sysconfdir, so it never touches the Debian install. ~75 s on 2 idle cores.
# benchmarks/ike_responder.py runs this once; later runs find the build in PREFIX.
# Needs a deb-src entry: adds a temporary one if apt has none, removes it afterwards. Needs automake:
# Debian's patches touch a Makefile.am, so make re-runs automake-1.16.
set -eu
P=${1:-/var/cache/racoon2-strongswan-lt}
# One build at a time: a second caller waits for the first and then finds it built.
mkdir -p "$(dirname "$P")"; exec 9>"$P.lock"; flock 9
[ -x "$P/sbin/charon-systemd" ] && [ -f "$P/lib/ipsec/plugins/libstrongswan-save-keys.so" ] && { echo "already built: $P"; exit 0; }
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  build-essential pkg-config libgmp-dev libssl-dev libsystemd-dev dpkg-dev bzip2 automake autoconf libtool >/dev/null
src=/etc/apt/sources.list.d/racoon2-tmp-src.sources
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > $src
  apt-get update >/dev/null
fi
w=$(mktemp -d); cd "$w"
# newest version first; the security mirror may lack the .dsc, so fall back to older ones
for v in $(apt-cache showsrc strongswan | sed -n 's/^Version: //p' | sort -Vr); do
  apt-get source --download-only "strongswan=$v" >/dev/null 2>&1 && break
done
rm -f $src
dpkg-source -x strongswan_*.dsc src >/dev/null
cd src
./configure --prefix="$P" --sysconfdir="$P/etc" --with-piddir="$P/run" \
  --with-systemdsystemunitdir="$P/lib/systemd" --enable-systemd --enable-swanctl \
  --enable-openssl --enable-curve25519 --enable-chapoly --enable-kernel-libipsec \
  --enable-load-tester --enable-save-keys --disable-stroke >/dev/null
make -j"$(nproc)" >/dev/null 2>&1 && make install >/dev/null
cd /; rm -rf "$w"
# (swanctl --version asks a running charon's vici socket, and fails here: none runs yet)
echo "built $P:"; ls "$P/lib/ipsec/plugins" | grep -E 'load-tester|save-keys|libipsec'
