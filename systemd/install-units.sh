#!/bin/sh
# install-units.sh [UNITDIR]: install spmd.service, iked.service and kinkd.service (this
# directory) into UNITDIR (default /etc/systemd/system) and make systemd read them.
#   systemd/install-units.sh && systemctl enable --now iked
# The units start the daemons by bare name, which systemd looks up in /usr/local/sbin,
# /usr/local/bin, /usr/sbin and /usr/bin: install racoon2 there first (README, "Installation";
# a virtualenv's scripts can be linked into /usr/local/sbin).
set -eu
here=$(dirname "$0")
dest=${1:-/etc/systemd/system}
missing=
for d in spmd iked kinkd; do
    found=
    for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin; do
        [ -x "$dir/$d" ] && found=$dir/$d && break
    done
    [ -n "$found" ] || missing="$missing $d"
done
mkdir -p "$dest"
for unit in spmd.service iked.service kinkd.service; do
    install -m 644 "$here/$unit" "$dest/$unit"
    echo "installed $dest/$unit"
done
[ -z "$missing" ] ||
    echo "warning:$missing not in /usr/local/sbin, /usr/local/bin, /usr/sbin or /usr/bin:" \
        "the units cannot start them" >&2
if [ "$dest" = /etc/systemd/system ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
