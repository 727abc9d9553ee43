#!/usr/bin/env bash
# Installs the Debian packages the test suite and the demo need, and nothing when they are there.
# Run as root on Debian 12.  Each harness adds its packages to PACKAGES below, with the reason.
set -euo pipefail

PACKAGES=(
    python3 python3-venv python3-pip   # the project's own venv
    iproute2 kmod iputils-ping          # namespaces, veth, ip xfrm, modprobe
    qemu-system-x86                     # tests/harness/vm: the Debian-kernel VM (ESP, PF_KEY)
    # tests/harness/peers: strongSwan (charon-systemd runs in the foreground, no systemd needed;
    # standard/extra plugins carry openssl, gcm, curve25519) and tcpdump for the IKE captures.
    strongswan-swanctl charon-systemd libstrongswan-standard-plugins libstrongswan-extra-plugins
    libcharon-extra-plugins             # kernel-libipsec (user-space ESP); eap-identity,
                                        # eap-mschapv2, eap-md5, eap-tls: charon as an EAP client
    libcharon-extauth-plugins           # xauth-generic: charon as an IKEv1 XAuth client
    tcpdump
    nftables                            # tests/interop: a NAT between two namespaces
    xl2tpd ppp                          # tests/vm/l2tp.sh: L2TP (LNS and LAC) and pppd
    debootstrap                         # peers/trixie-root.sh: strongSwan 6 (ML-KEM) in a root
    # libreswan's pluto: its package Conflicts with strongSwan's, so peers/libreswan.sh unpacks it
    # with dpkg -x; these are the libraries it links against.
    libldns3 libevent-pthreads-2.1-7 libevent-core-2.1-7 libnss3 libnss3-tools libunbound8
    libcurl3-nss
    # tests/kdc: a throwaway MIT realm (krb5kdc, kdb5_util, kadmin.local; k5test runs them),
    # libkrb5 for kinkd.krb5, and krb5.h plus gcc to check kinkd.krb5's struct layouts.
    krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc
    mandoc                              # tests/unit/test_man_pages.py: `mandoc -T lint` of doc/man
    freeradius                          # tests/interop/test_radius_interop.py: iked's RADIUS
                                        # client against FreeRADIUS's EAP (MSCHAPv2, TLS)
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup-host: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
