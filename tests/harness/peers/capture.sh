#!/usr/bin/env bash
# capture.sh [OUTDIR] [SCENARIO...]
#
# Regenerates the IKE captures in tests/vectors/captures/ (or OUTDIR). In each scenario an
# initiator in netns ${P}A (192.0.2.1 or 2001:db8::1) and a responder in ${P}B (.2 / ::2), one
# of them strongSwan, the other libreswan or strongSwan, exchange IKE_SA_INIT and IKE_AUTH and,
# when strongSwan initiates, CREATE_CHILD_SA (IKE SA rekey, and CHILD_SA rekey where the peer
# could install the CHILD_SA) and INFORMATIONAL deletes, while tcpdump records the veth.
# Each scenario directory gets:
#   capture.pcap    what tcpdump saw
#   messages.json   every IKE message (UDP payload, non-ESP marker stripped on port 4500)
#   keys.json       the strongSwan peer's secrets per IKE SA (DH secret, SKEYSEED/SKEYID, SK_*)
#   sas.txt         its swanctl --list-sas after each step (SPIs and algorithms of each IKE SA)
#   wireshark/      the keys as Wireshark's ikev2/ikev1 decryption tables
#   config/         the peers' configuration files ($DIR stands for the peer's state dir)
#   README.md       how it was made
# The bytes differ on every run (nonces, DH values, SPIs); the structure does not.
# Needs root and tests/harness/setup-host.sh; takes about 3 s per scenario. Scenarios (all by
# default): see the list "all" at the end. CAPTURE_NETNS sets the namespace prefix [r2cap].
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../../vectors/captures}
shift $(($# < 1 ? $# : 1))
P=${CAPTURE_NETNS:-r2cap}
WORK=$(mktemp -d /tmp/r2cap.XXXXXX)
PSK=racoon2-capture-psk
TCPDUMP_PID=

cleanup() {
    DIR=$WORK/ss "$HERE/strongswan.sh" stop cap || true
    DIR=$WORK/ss2 "$HERE/strongswan.sh" stop cap || true
    DIR=$WORK/lsw "$HERE/libreswan.sh" stop cap || true
    if [ -n "$TCPDUMP_PID" ]; then kill "$TCPDUMP_PID" 2>/dev/null || true; fi
    "$HERE/netns.sh" down "$P"
}
trap 'cleanup; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

# swanctl of the strongSwan peer in state dir $WORK/ss
ss() { DIR=$WORK/ss "$HERE/strongswan.sh" ctl cap "$@"; }

# the strongSwan-initiated steps: each is logged with its result; a failed CHILD_SA (libreswan
# cannot install it on this kernel) is expected and still leaves the IKE SA up.
strongswan_steps() {
    local version=$1
    echo "\$ swanctl --initiate --child cap"
    ss --initiate --child cap --timeout 15 2>&1 | grep -E '^\[IKE\]|completed|failed' || true
    ss --list-sas >"$WORK/sas.txt"
    if grep -q 'INSTALLED' "$WORK/sas.txt"; then
        echo "\$ swanctl --rekey --child cap"
        ss --rekey --child cap 2>&1 || true
        sleep 1
    fi
    if [ "$version" = 2 ]; then
        echo "\$ swanctl --rekey --ike cap"
        ss --rekey --ike cap 2>&1 || true
        sleep 1
        ss --list-sas >>"$WORK/sas.txt"
    fi
    echo "\$ swanctl --terminate --ike cap"
    ss --terminate --ike cap --timeout 10 2>&1 | grep -E 'completed|failed' || true
    sleep 1
}

# libreswan initiates; its CHILD_SA install fails, it deletes the IKE SA and, after a pause,
# starts again: one round is recorded, then pluto is stopped.
libreswan_steps() {
    echo "\$ whack --name cap --initiate --asynchronous"
    DIR=$WORK/lsw "$HERE/libreswan.sh" initiate cap
    sleep 2
    ss --list-sas >"$WORK/sas.txt"
    echo "\$ libreswan.sh stop cap"
    DIR=$WORK/lsw "$HERE/libreswan.sh" stop cap
    sleep 1
}

# a throwaway ECDSA P-256 PKI in $WORK/pki: ca.pem, and a.pem/a.key (subject CN and
# subjectAltName 192.0.2.1), b.pem/b.key (192.0.2.2); test-only keys, committed with the capture
make_pki() {
    local pki=$WORK/pki subj="/C=JP/O=racoon2-python test"
    mkdir -p "$pki"
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key"
    openssl req -x509 -new -key "$pki/ca.key" -subj "$subj/CN=racoon2 capture CA" -days 3650 \
        -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign \
        -out "$pki/ca.pem"
    for peer in a:192.0.2.1 b:192.0.2.2; do
        local n=${peer%%:*} ip=${peer#*:}
        openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$n.key"
        openssl req -new -key "$pki/$n.key" -subj "$subj/CN=$ip" -out "$pki/$n.csr"
        openssl x509 -req -in "$pki/$n.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
            -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 3650 \
            -extfile <(printf 'subjectAltName=IP:%s\nkeyUsage=digitalSignature\n' "$ip") \
            -out "$pki/$n.pem" 2>/dev/null
        rm "$pki/$n.csr"
    done
}

# run NAME VERSION INITIATOR RESPONDER FAMILY SS_IKE SS_ESP LSW_IKE LSW_ESP
# (extras from the environment: RESP_IKE, a strongSwan responder's IKE proposals when they
# differ; INI_CHARON / RESP_CHARON and INI_CONN / RESP_CONN, raw strongswan.conf / swanctl.conf
# lines, see strongswan.sh; LSW_SETUP / LSW_CONN, raw "config setup" / conn lines for libreswan;
# PKI=1: strongSwan peers authenticate with make_pki's certificates instead of the PSK)
# The initiator runs in ${P}A (192.0.2.1 or 2001:db8::1), the responder in ${P}B (.2 / ::2);
# one of them is strongSwan, whose log gives the keys. When strongSwan responds, and so must be
# able to install the CHILD_SA, the tunnel is 198.51.100.0/28 <-> 198.51.100.16/28 (a host-to-host
# tunnel would swallow the IKE traffic in user-space ESP); libreswan cannot install any
# CHILD_SA, so with a strongSwan initiator its scenarios stay host-to-host.
run() {
    local name=$1 version=$2 initiator=$3 responder=$4 family=$5
    local ss_ike=$6 ss_esp=$7 lsw_ike=$8 lsw_esp=$9
    local dest=$OUT/$name a=192.0.2.1 b=192.0.2.2 ts_a=dynamic ts_b=dynamic
    if [ "$family" = 6 ]; then a=2001:db8::1 b=2001:db8::2; fi
    if [ "$responder" = strongswan ]; then ts_a=198.51.100.0/28 ts_b=198.51.100.16/28; fi
    echo "== $name"
    rm -rf "$WORK"/ss "$WORK"/ss2 "$WORK"/lsw "$WORK"/steps
    "$HERE/netns.sh" up "$P" >/dev/null
    ip netns exec "${P}A" tcpdump -i "${P}a" --immediate-mode -U -w "$WORK/capture.pcap" \
        'udp port 500 or udp port 4500' 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 50); do grep -q listening "$WORK/tcpdump.err" && break; sleep 0.1; done

    # responder first, so that the initiator's first message finds it listening
    local common=(VERSION="$version" PSK="$PSK") certs_a=() certs_b=()
    if [ -n "${PKI:-}" ]; then
        make_pki
        certs_a=(CERT="$WORK/pki/a.pem" KEY="$WORK/pki/a.key" CACERT="$WORK/pki/ca.pem")
        certs_b=(CERT="$WORK/pki/b.pem" KEY="$WORK/pki/b.key" CACERT="$WORK/pki/ca.pem")
    fi
    case "$responder" in
    libreswan)
        env "${common[@]}" NS="${P}B" LOCAL=$b IKE="$lsw_ike" ESP="$lsw_esp" \
            SETUP="${LSW_SETUP:-}" DIR="$WORK/lsw" "$HERE/libreswan.sh" start cap ;;
    strongswan)
        # a second strongSwan when both sides are strongSwan: its state dir is ss2
        local rdir=$WORK/ss
        [ "$initiator" = strongswan ] && rdir=$WORK/ss2
        env "${common[@]}" "${certs_b[@]}" NS="${P}B" LOCAL=$b IKE="${RESP_IKE:-$ss_ike}" \
            ESP="$ss_esp" LTS=$ts_b \
            RTS=$ts_a EXTRA_CHARON="${RESP_CHARON:-}" EXTRA_CONN="${RESP_CONN:-}" DIR="$rdir" \
            "$HERE/strongswan.sh" start cap ;;
    esac
    case "$initiator" in
    libreswan)
        env "${common[@]}" NS="${P}A" LOCAL=$a REMOTE=$b REMOTE_ID=$b IKE="$lsw_ike" \
            ESP="$lsw_esp" LTS=$ts_a RTS=$ts_b EXTRA="${LSW_CONN:-}" DIR="$WORK/lsw" \
            "$HERE/libreswan.sh" start cap
        libreswan_steps | tee "$WORK/steps" ;;
    strongswan)
        env "${common[@]}" "${certs_a[@]}" NS="${P}A" LOCAL=$a REMOTE=$b REMOTE_ID=$b \
            IKE="$ss_ike" ESP="$ss_esp" LTS=$ts_a RTS=$ts_b EXTRA_CHARON="${INI_CHARON:-}" EXTRA_CONN="${INI_CONN:-}" \
            DIR="$WORK/ss" "$HERE/strongswan.sh" start cap
        strongswan_steps "$version" | tee "$WORK/steps" ;;
    esac

    cleanup
    TCPDUMP_PID=
    rm -rf "$dest"
    mkdir -p "$dest/config"
    cp "$WORK/capture.pcap" "$WORK/sas.txt" "$dest/"
    python3 "$HERE/extract.py" messages "$dest/capture.pcap" "$dest/messages.json" \
        --name "$a=$initiator" --name "$b=$responder"
    python3 "$HERE/extract.py" keys "$WORK/ss/charon.log" "$dest/sas.txt" "$dest/keys.json" \
        --proposal "$ss_ike" --wireshark "$dest/wireshark"
    local role
    for peer in ss ss2 lsw; do
        role=responder
        case "$peer:$initiator" in ss:strongswan | lsw:libreswan) role=initiator ;; esac
        for f in "$WORK/$peer"/{strongswan.conf,swanctl.conf,ipsec.conf}; do
            if [ -f "$f" ]; then
                sed "s|$WORK/$peer|\$DIR|g" "$f" >"$dest/config/$role-$(basename "$f")"
            fi
        done
    done
    if [ -d "$WORK/pki" ]; then
        cp -r "$WORK/pki" "$dest/config/"
        rm -rf "$WORK/pki"
    fi
    write_readme "$dest" "$@"
}

# the peer's description for README.md: peer ss-ike ss-esp lsw-ike lsw-esp
describe() {
    case "$1" in
    strongswan) echo "strongSwan $(dpkg-query -W -f='${Version}' charon-systemd) (Debian 12" \
        "charon-systemd, kernel-libipsec), proposals ike=$2 esp=$3" ;;
    libreswan) echo "libreswan $(cat "${ROOT:-/opt/racoon2-libreswan}/VERSION") (Debian 12" \
        "pluto), proposals ike=$4 esp=$5" ;;
    esac
}

write_readme() {
    local dest=$1 name=$2 version=$3 initiator=$4 responder=$5 family=$6
    local ss_ike=$7 ss_esp=$8 lsw_ike=$9 lsw_esp=${10}
    local a=192.0.2.1 b=192.0.2.2 auth="pre-shared key \`$PSK\`"
    if [ "$family" = 6 ]; then a=2001:db8::1 b=2001:db8::2; fi
    if [ -n "${PKI:-}" ]; then auth="ECDSA P-256 certificates (test-only PKI in \`config/pki/\`)"; fi
    cat >"$dest/README.md" <<EOF
# $name

IKEv$version, $auth, identities are the addresses. Captured on $(date -u +%F)
by \`tests/harness/peers/capture.sh\`; to make it again (as root, from the repository root):
\`tests/harness/peers/capture.sh tests/vectors/captures $name\`.

- initiator: $(describe "$initiator" "$ss_ike" "$ss_esp" "$lsw_ike" "$lsw_esp"),
  netns \`${P}A\`, $a
- responder: $(describe "$responder" "$ss_ike" "$ss_esp" "$lsw_ike" "$lsw_esp"),
  netns \`${P}B\`, $b
- host kernel $(uname -r): netlink XFRM without ESP, so libreswan cannot install a CHILD_SA
  (it answers with an error notify for the child or deletes the SA; the IKE exchanges are
  complete all the same); strongSwan uses its user-space ESP (kernel-libipsec) and installs its
  CHILD_SAs when it is the responder or its peer is strongSwan (then the tunnel is
  198.51.100.0/28 <-> 198.51.100.16/28).

Steps (with their output):

\`\`\`
$(cat "$WORK/steps")
\`\`\`

Files: \`capture.pcap\` (tcpdump --immediate-mode -U -w on the initiator's veth, filter
\`udp port 500 or udp port 4500\`); \`messages.json\` (\`extract.py messages\`: one record per IKE
message, in capture order: from/to peer, src/dst address:port, and \`hex\`, the IKE message; on
port 4500 the 4-byte non-ESP marker was stripped and \`non_esp_marker_stripped\` is true);
\`keys.json\` (\`extract.py keys\`: the strongSwan peer's own dump of each IKE SA's secrets at
log level ike=4, with SPIs and algorithms from \`sas.txt\`, its \`swanctl --list-sas\` output;
the same keys as Wireshark's decryption tables in \`wireshark/\`);
\`config/\` (the generated configuration files, \`\$DIR\` being the peer's state directory).
EOF
}

all=(ikev2-psk-aescbc-sha256-modp2048 ikev2-psk-aesgcm16-ecp256 ikev2-psk-aesgcm16-curve25519
     ikev2-psk-strongswan-pair ikev2-psk-ipv6-aescbc-sha256-modp2048
     ikev2-psk-libreswan-initiator ikev2-psk-cookie-invalid-ke ikev2-psk-fragmented
     ikev2-cert-ecdsa-strongswan-pair ikev1-main-psk ikev1-aggressive-psk)
for s in "${@:-${all[@]}}"; do
    case "$s" in
    ikev2-psk-aescbc-sha256-modp2048)
        run "$s" 2 strongswan libreswan 4 aes128-sha256-modp2048 aes128-sha256 \
            'aes128-sha2_256;modp2048' aes128-sha2_256 ;;
    ikev2-psk-aesgcm16-ecp256)
        run "$s" 2 strongswan libreswan 4 aes256gcm16-prfsha256-ecp256 aes256gcm16 \
            'aes_gcm256-sha2_256;dh19' aes_gcm256 ;;
    ikev2-psk-aesgcm16-curve25519)
        run "$s" 2 strongswan libreswan 4 aes128gcm16-prfsha256-curve25519 aes128gcm16 \
            'aes_gcm128-sha2_256;dh31' aes_gcm128 ;;
    ikev2-psk-strongswan-pair)
        run "$s" 2 strongswan strongswan 4 aes128-sha256-curve25519 aes128gcm16 - - ;;
    ikev2-psk-ipv6-aescbc-sha256-modp2048)
        run "$s" 2 strongswan libreswan 6 aes128-sha256-modp2048 aes128-sha256 \
            'aes128-sha2_256;modp2048' aes128-sha2_256 ;;
    ikev2-psk-libreswan-initiator)
        run "$s" 2 libreswan strongswan 4 aes128-sha256-modp2048 aes128-sha256 \
            'aes128-sha2_256;modp2048' aes128-sha2_256 ;;
    ikev2-psk-cookie-invalid-ke)
        # strongSwan's first key share is ECP-256, libreswan accepts only MODP-2048:
        # INVALID_KE_PAYLOAD; and libreswan in ddos-mode=busy asks every initiator for a cookie.
        LSW_SETUP=ddos-mode=busy run "$s" 2 strongswan libreswan 4 \
            aes128-sha256-ecp256-modp2048 aes128-sha256 \
            'aes128-sha2_256;modp2048' aes128-sha2_256 ;;
    ikev2-psk-fragmented)
        # RFC 7383 fragments: IKE messages above 200 bytes go out as SKF fragments
        INI_CHARON="fragment_size = 200" RESP_CHARON="fragment_size = 200" \
            INI_CONN="fragmentation = force" RESP_CONN="fragmentation = force" \
            run "$s" 2 strongswan strongswan 4 aes128gcm16-prfsha256-modp2048 aes128gcm16 - - ;;
    ikev1-main-psk)
        # libreswan's IKEv1 Quick Mode offers PFS with the IKE group
        run "$s" 1 libreswan strongswan 4 aes128-sha256-modp2048 aes128-sha256-modp2048 \
            'aes128-sha2_256;modp2048' aes128-sha2_256 ;;
    ikev2-cert-ecdsa-strongswan-pair)
        # ECDSA P-256 certificates (CERT, CERTREQ, AUTH by RFC 7427 digital signature)
        PKI=1 run "$s" 2 strongswan strongswan 4 aes128-sha256-ecp256 aes128gcm16 - - ;;
    ikev1-aggressive-psk)
        # Aggressive Mode with a PSK exposes the PSK to offline guessing: strongSwan needs
        # its explicit "I don't care" setting to answer it.
        LSW_CONN=aggressive=yes RESP_CONN="aggressive = yes" \
            RESP_CHARON="i_dont_care_about_security_and_use_aggressive_mode_psk = yes" \
            run "$s" 1 libreswan strongswan 4 aes128-sha256-modp2048 aes128-sha256-modp2048 \
            'aes128-sha2_256;modp2048' aes128-sha2_256 ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
