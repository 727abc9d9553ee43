#!/usr/bin/env bash
# libreswan.sh setup | start NAME | stop NAME | whack NAME ARGS... | initiate NAME
#
# One libreswan pluto (Debian bookworm's 4.10) confined to network namespace $NS, with its
# config, NSS database, control socket and log in $DIR.
#
# Debian's libreswan package Conflicts with strongSwan's, so `setup` does not install it: it
# unpacks the .deb with dpkg -x into $ROOT (its libraries come from setup-host.sh). pluto execs
# the compiled-in /usr/libexec/ipsec/addconn, so pluto runs in a private mount namespace in
# which $ROOT's libexec is bind-mounted over /usr/libexec/ipsec; the host's view is unchanged
# (only an empty mount point directory is created).
#
# Settings (environment, defaults in brackets):
#   NS          network namespace (required for start)
#   DIR         state dir                                            [/tmp/r2-lsw-NAME]
#   ROOT        where setup unpacked libreswan                       [/opt/racoon2-libreswan]
#   LOCAL       local address                                        [192.0.2.2]
#   REMOTE      peer address, %any = responder only                  [%any]
#   LOCAL_ID / REMOTE_ID  identities (IP address or @fqdn)           [LOCAL / %any]
#   LTS / RTS   leftsubnet / rightsubnet, e.g. 198.51.100.0/28       [host-to-host]
#   PSK         pre-shared key                                       [racoon2-capture-psk]
#   CERT / KEY / CACERT  PEM files: with them, authentication is by certificate (RSA or
#               ECDSA, RFC 7427) instead of PSK; CACERT is the trust anchor for the peer
#   VERSION     2 = IKEv2 only, 1 = IKEv1 main mode                  [2]
#   SETUP       raw lines for "config setup" (e.g. ddos-mode=busy: always ask for a cookie)
#   EXTRA       raw lines for the conn (e.g. aggressive=yes)
#   IKE / ESP   libreswan proposal strings        [aes128-sha2_256;modp2048 / aes128-sha2_256]
# The host kernel has no ESP: IKE SAs complete, every IPsec SA install fails afterwards.
set -euo pipefail
cmd=${1:-}
NAME=${2:-peer}
shift $(($# < 2 ? $# : 2))
ROOT=${ROOT:-/opt/racoon2-libreswan}
LIBEXEC=$ROOT/usr/libexec/ipsec
DIR=${DIR:-/tmp/r2-lsw-$NAME}

alive() { [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status"; }
whack() { "$LIBEXEC/whack" --ctlsocket "$DIR/run/pluto.ctl" "$@"; }

case "$cmd" in
setup)
    [ -x "$LIBEXEC/pluto" ] && exit 0
    tmp=$(mktemp -d)
    chown _apt "$tmp" 2>/dev/null || true  # apt downloads as user _apt
    (cd "$tmp" && apt-get download libreswan >/dev/null)
    mkdir -p "$ROOT"
    dpkg -x "$tmp"/libreswan_*.deb "$ROOT"
    dpkg-deb -f "$tmp"/libreswan_*.deb Version >"$ROOT/VERSION"
    rm -rf "$tmp"
    if ldd "$LIBEXEC/pluto" | grep 'not found'; then
        echo "pluto misses libraries: run tests/harness/setup-host.sh" >&2
        exit 1
    fi
    echo "libreswan unpacked in $ROOT"
    ;;
start)
    : "${NS:?set NS to the network namespace}"
    LOCAL=${LOCAL:-192.0.2.2}
    REMOTE=${REMOTE:-%any}
    LOCAL_ID=${LOCAL_ID:-$LOCAL}
    REMOTE_ID=${REMOTE_ID:-%any}
    VERSION=${VERSION:-2}
    "$0" setup
    if alive "$(cat "$DIR/pid" 2>/dev/null)"; then
        echo "libreswan $NAME already runs (pid $(cat "$DIR/pid"))" >&2
        exit 1
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR/run" "$DIR/nss" /usr/libexec/ipsec
    certutil -N -d "sql:$DIR/nss" --empty-password
    auth="authby=secret"
    if [ -n "${CERT:-}" ]; then
        # The host certificate and key go into the NSS database as PKCS#12 (openssl makes it),
        # the CA as a trusted anchor; pluto then signs with the key and checks the peer's chain.
        openssl pkcs12 -export -in "$CERT" -inkey "$KEY" -name host -passout pass: \
            -out "$DIR/host.p12" 2>/dev/null
        pk12util -i "$DIR/host.p12" -d "sql:$DIR/nss" -W "" >/dev/null
        certutil -A -d "sql:$DIR/nss" -n ca -t "CT,," -a -i "$CACERT"
        kind=rsasig
        openssl pkey -in "$KEY" -noout -text 2>/dev/null | grep -q "^ASN1 OID\|NIST CURVE" &&
            kind=ecdsa
        auth="authby=$kind
	leftcert=host
	leftsendcert=always
	rightca=%same"
    fi
    ikev2=insist
    [ "$VERSION" = 1 ] && ikev2=no
    cat >"$DIR/ipsec.conf" <<CONF
config setup
	uniqueids=no
	ikev1-policy=accept
	nssdir=$DIR/nss
	ipsecdir=$DIR
	dumpdir=$DIR/run
	secretsfile=$DIR/ipsec.secrets
${SETUP:+	$SETUP
}
conn $NAME
	ikev2=$ikev2
	$auth
	left=$LOCAL
	leftid=$LOCAL_ID
	right=$REMOTE
	rightid=$REMOTE_ID
${LTS:+	leftsubnet=$LTS
}${RTS:+	rightsubnet=$RTS
}	ike=${IKE:-aes128-sha2_256;modp2048}
	esp=${ESP:-aes128-sha2_256}
	rekey=no
	auto=add
	${EXTRA:-}
CONF
    echo "$LOCAL_ID $REMOTE_ID : PSK \"${PSK:-racoon2-capture-psk}\"" >"$DIR/ipsec.secrets"
    chmod 600 "$DIR/ipsec.secrets"
    # unshare/ip netns exec/sh all exec in turn, so $! ends up being pluto's pid.
    setsid ip netns exec "$NS" unshare -m --propagation private sh -c \
        "mount --bind '$LIBEXEC' /usr/libexec/ipsec && exec '$LIBEXEC/pluto' --nofork \
         --stderrlog --config '$DIR/ipsec.conf' --rundir '$DIR/run' --nssdir '$DIR/nss' \
         --no-dnssec" >"$DIR/pluto.log" 2>&1 </dev/null &
    echo $! >"$DIR/pid"
    for _ in $(seq 100); do
        grep -q "added IKEv$VERSION connection" "$DIR/pluto.log" && break
        alive "$(cat "$DIR/pid")" || break
        sleep 0.1
    done
    if ! grep -q "added IKEv$VERSION connection" "$DIR/pluto.log"; then
        tail "$DIR/pluto.log" >&2
        exit 1
    fi
    echo "libreswan $NAME: netns $NS pid $(cat "$DIR/pid") IKEv$VERSION $LOCAL <-> $REMOTE"
    ;;
whack)
    whack "$@"
    ;;
initiate)
    timeout "${TIMEOUT:-20}" "$LIBEXEC/whack" --ctlsocket "$DIR/run/pluto.ctl" \
        --name "$NAME" --initiate --asynchronous
    ;;
stop)
    pid=$(cat "$DIR/pid" 2>/dev/null || true)
    if alive "$pid"; then
        kill "$pid"
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then kill -9 "$pid"; fi
    fi
    rm -f "$DIR/pid"
    ;;
*)
    sed -n '2,25p' "$0"
    exit 2
    ;;
esac
