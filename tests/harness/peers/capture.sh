#!/usr/bin/env bash
# capture.sh [OUTDIR] [SCENARIO...]
#
# Regenerates the IKE captures in tests/vectors/captures/: for each scenario, a strongSwan
# initiator (netns ${P}A, 192.0.2.1) and a libreswan or strongSwan responder (netns ${P}B,
# 192.0.2.2) exchange IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA (IKE SA rekey, and CHILD_SA rekey
# where the responder could install the CHILD_SA) and INFORMATIONAL deletes while tcpdump
# records the veth. Each scenario directory gets:
#   capture.pcap    what tcpdump saw
#   messages.json   every IKE message (UDP payload, non-ESP marker stripped on port 4500)
#   keys.json       the initiator's secrets per IKE SA (DH secret, SKEYSEED/SKEYID, SK_*)
#   sas.txt         swanctl --list-sas after each step (SPIs and algorithms of each IKE SA)
#   config/         the peers' configuration files ($DIR stands for the peer's state dir)
#   README.md       how it was made
# The bytes differ on every run (nonces, DH values, SPIs); the structure does not.
# Needs root, tests/harness/setup-host.sh, and about 10 s per scenario.
# Scenarios: ikev2-psk-aescbc-sha256-modp2048 ikev2-psk-aesgcm16-ecp256
#            ikev2-psk-aesgcm16-curve25519 ikev2-psk-strongswan-pair ikev1-main-psk
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../vectors/captures}
shift $(($# < 1 ? $# : 1))
P=r2cap
WORK=$(mktemp -d /tmp/r2cap.XXXXXX)
PSK=racoon2-capture-psk
TCPDUMP_PID=

cleanup() {
    DIR=$WORK/ini "$HERE/strongswan.sh" stop cap || true
    DIR=$WORK/resp "$HERE/strongswan.sh" stop cap || true
    DIR=$WORK/resp "$HERE/libreswan.sh" stop cap || true
    if [ -n "$TCPDUMP_PID" ]; then kill "$TCPDUMP_PID" 2>/dev/null || true; fi
    "$HERE/netns.sh" down $P
}
trap 'cleanup; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

# the initiator's swanctl, with the environment of its state dir
ini() { DIR=$WORK/ini "$HERE/strongswan.sh" ctl cap "$@"; }

# run NAME VERSION RESPONDER SS_IKE SS_ESP LSW_IKE LSW_ESP
# A strongSwan pair tunnels 198.51.100.0/28 <-> 198.51.100.16/28 (a host-to-host tunnel would
# swallow the IKE traffic in user-space ESP); libreswan cannot install any CHILD_SA, so its
# scenarios stay host-to-host.
run() {
    local name=$1 version=$2 responder=$3 ss_ike=$4 ss_esp=$5 lsw_ike=$6 lsw_esp=$7
    local lts=dynamic rts=dynamic
    if [ "$responder" = strongswan ]; then lts=198.51.100.16/28 rts=198.51.100.0/28; fi
    local dest=$OUT/$name
    echo "== $name"
    rm -rf "$WORK"/ini "$WORK"/resp "$WORK"/steps
    "$HERE/netns.sh" up $P >/dev/null
    ip netns exec ${P}A tcpdump -i ${P}a --immediate-mode -U -w "$WORK/capture.pcap" 'udp port 500 or udp port 4500' \
        2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 50); do grep -q listening "$WORK/tcpdump.err" && break; sleep 0.1; done

    if [ "$responder" = libreswan ]; then
        NS=${P}B LOCAL=192.0.2.2 VERSION=$version IKE=$lsw_ike ESP=$lsw_esp PSK=$PSK \
            DIR=$WORK/resp "$HERE/libreswan.sh" start cap
    else
        NS=${P}B LOCAL=192.0.2.2 VERSION=$version IKE=$ss_ike ESP=$ss_esp PSK=$PSK \
            LTS=$lts RTS=$rts DIR=$WORK/resp "$HERE/strongswan.sh" start cap
    fi
    NS=${P}A LOCAL=192.0.2.1 REMOTE=192.0.2.2 REMOTE_ID=192.0.2.2 VERSION=$version \
        IKE=$ss_ike ESP=$ss_esp PSK=$PSK LTS=$rts RTS=$lts DIR=$WORK/ini "$HERE/strongswan.sh" start cap

    # Each step is logged with its result; a failed CHILD_SA (libreswan cannot install it on
    # this kernel) is expected and still leaves the IKE SA up.
    {
        echo "\$ swanctl --initiate --child cap"
        ini --initiate --child cap --timeout 15 2>&1 | grep -E '^\[IKE\]|completed|failed' || true
        ini --list-sas >"$WORK/sas.txt"
        if grep -q 'INSTALLED' "$WORK/sas.txt"; then
            echo "\$ swanctl --rekey --child cap"
            ini --rekey --child cap 2>&1 || true
            sleep 1
        fi
        if [ "$version" = 2 ]; then
            echo "\$ swanctl --rekey --ike cap"
            ini --rekey --ike cap 2>&1 || true
            sleep 1
            ini --list-sas >>"$WORK/sas.txt"
        fi
        echo "\$ swanctl --terminate --ike cap"
        ini --terminate --ike cap --timeout 10 2>&1 | grep -E 'completed|failed' || true
        sleep 1
    } | tee "$WORK/steps"

    cleanup
    TCPDUMP_PID=
    rm -rf "$dest"
    mkdir -p "$dest/config"
    cp "$WORK/capture.pcap" "$WORK/sas.txt" "$dest/"
    python3 "$HERE/extract.py" messages "$dest/capture.pcap" "$dest/messages.json" \
        --name 192.0.2.1=strongswan --name "192.0.2.2=$responder"
    python3 "$HERE/extract.py" keys "$WORK/ini/charon.log" "$dest/sas.txt" "$dest/messages.json" \
        "$dest/keys.json" --proposal "$ss_ike"
    for f in "$WORK"/ini/strongswan.conf "$WORK"/ini/swanctl.conf; do
        sed "s|$WORK/ini|\$DIR|g" "$f" >"$dest/config/initiator-$(basename "$f")"
    done
    for f in "$WORK"/resp/strongswan.conf "$WORK"/resp/swanctl.conf "$WORK"/resp/ipsec.conf; do
        [ -f "$f" ] && sed "s|$WORK/resp|\$DIR|g" "$f" >"$dest/config/responder-$(basename "$f")"
    done
    write_readme "$dest" "$name" "$version" "$responder" "$ss_ike" "$ss_esp" "$lsw_ike" "$lsw_esp"
}

write_readme() {
    local dest=$1 name=$2 version=$3 responder=$4 ss_ike=$5 ss_esp=$6 lsw_ike=$7 lsw_esp=$8
    local resp_ver proposals
    if [ "$responder" = libreswan ]; then
        resp_ver="libreswan $(cat "${ROOT:-/opt/racoon2-libreswan}/VERSION") (Debian 12, pluto)"
        proposals="libreswan ike=$lsw_ike esp=$lsw_esp"
    else
        resp_ver="strongSwan $(dpkg-query -W -f='${Version}' charon-systemd)"
        proposals="same as the initiator"
    fi
    cat >"$dest/README.md" <<EOF
# $name

IKEv$version, pre-shared key \`$PSK\`, captured on $(date -u +%F) by
\`tests/harness/peers/capture.sh\`; to make it again (as root, from the repository root):
\`tests/harness/peers/capture.sh tests/vectors/captures $name\`.

- initiator: strongSwan $(dpkg-query -W -f='${Version}' charon-systemd) (Debian 12
  charon-systemd), netns \`${P}A\`, 192.0.2.1, ID 192.0.2.1, proposals ike=$ss_ike esp=$ss_esp
- responder: $resp_ver, netns \`${P}B\`, 192.0.2.2, ID 192.0.2.2, proposals: $proposals
- host kernel $(uname -r): netlink XFRM without ESP, so libreswan cannot install a CHILD_SA
  (it answers with an error notify for the child or deletes the SA; the IKE exchanges are
  complete all the same); strongSwan uses its user-space ESP (kernel-libipsec), installs its
  CHILD_SAs, and then tunnels 198.51.100.0/28 <-> 198.51.100.16/28.

Steps run on the initiator (swanctl, with their output):

\`\`\`
$(cat "$WORK/steps")
\`\`\`

Files: \`capture.pcap\` (tcpdump --immediate-mode -U -w on the initiator's veth, filter
\`udp port 500 or udp port 4500\`); \`messages.json\` (\`extract.py messages\`: one record per IKE
message, in capture order: from/to peer, src/dst address:port, and \`hex\`, the IKE message; on
port 4500 the 4-byte non-ESP marker was stripped and \`non_esp_marker_stripped\` is true);
\`keys.json\` (\`extract.py keys\`: the initiator charon's own dump of each IKE SA's secrets at
log level ike=4, with the SPIs and algorithms from \`sas.txt\`, the \`swanctl --list-sas\` output
after the initial exchange and after the rekey); \`config/\` (the generated configuration files).
EOF
}

all=(ikev2-psk-aescbc-sha256-modp2048 ikev2-psk-aesgcm16-ecp256 ikev2-psk-aesgcm16-curve25519
     ikev2-psk-strongswan-pair ikev1-main-psk)
for s in "${@:-${all[@]}}"; do
    case "$s" in
    ikev2-psk-aescbc-sha256-modp2048)
        run "$s" 2 libreswan aes128-sha256-modp2048 aes128-sha256 \
            'aes128-sha2_256;modp2048' aes128-sha2_256 ;;
    ikev2-psk-aesgcm16-ecp256)
        run "$s" 2 libreswan aes256gcm16-prfsha256-ecp256 aes256gcm16 \
            'aes_gcm256-sha2_256;dh19' aes_gcm256 ;;
    ikev2-psk-aesgcm16-curve25519)
        run "$s" 2 libreswan aes128gcm16-prfsha256-curve25519 aes128gcm16 \
            'aes_gcm128-sha2_256;dh31' aes_gcm128 ;;
    ikev2-psk-strongswan-pair)
        run "$s" 2 strongswan aes128-sha256-curve25519 aes128gcm16 - - ;;
    ikev1-main-psk)
        run "$s" 1 libreswan aes128-sha256-modp2048 aes128-sha256 \
            'aes128-sha2_256;modp2048' aes128-sha2_256 ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
