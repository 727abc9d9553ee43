#!/usr/bin/env bash
# rekey_traffic.sh PEER: a racoon2 gateway A (spmd + iked, samples/ikev2-tunnel.conf) and a
# gateway B, either racoon2 too (PEER=iked) or strongSwan's charon with its kernel-netlink
# plugin (PEER=strongswan), both with a CHILD_SA lifetime of 20 s and an IKE SA lifetime of
# 60 s, so that both sides rekey and their rekeys collide (RFC 7296 §2.8.1, §2.8.2); or two
# racoon2s with samples/ikev1-tunnel.conf (PEER=ikev1), IPsec SAs of 20 s by Quick Mode and
# ISAKMP SAs of 60 s by a new Main Mode, each side rekeying what expires first.  A ping
# every 100 ms runs through the tunnel for $REKEY_SECONDS (default 300) seconds; then each
# kernel must hold exactly one ESP SA pair for the policy, the same SPIs on both sides.
# PEER=iked-pq and strongswan-pq: the same with ML-KEM-768 as ADDKE1 after the sample's MODP
# group, for the IKE SA and (need_pfs) every CHILD_SA, so that each rekey runs an
# IKE_FOLLOWUP_KE (RFC 9370 §2.2.4); strongswan-pq runs strongSwan 6.1 from the Debian 13 root
# (tests/harness/peers/trixie-root.sh, built on the host before the boot).
# PEER=strongswan-ikev1: iked with samples/ikev1-tunnel.conf against strongSwan's IKEv1
# (swanctl version = 1, kernel-netlink), IPsec SAs of 20 s and ISAKMP SAs of 60 s both sides.
# PEER=libreswan-ikev1: the same against libreswan's pluto (IKEv1 Main Mode, the kernel's XFRM;
# tests/harness/peers/libreswan.sh), which as configured there never starts a rekey itself:
# iked makes every Quick Mode and Main Mode rekey, pluto answers them.
#
# Prints "REKEY RESULT PEER: ..." (rekeys done, collisions resolved, pings sent and lost) and
# "REKEY OK: PEER" when at most 1 % of the pings were lost and no SA was left over.
# $REKEY_KEEP: a directory (under the checkout, so it survives the VM) to copy the logs to.
# Needs a kernel with ESP (the project's VM: tests/vm/test_iked_bundles.py boots it once for
# this and the bundles); two namespaces and a temporary directory, removed at the end; it
# stops only the processes it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
PEER=$1
KIND=${PEER%-pq}
# Whether B is strongSwan (charon's log, not a second iked's), and whether A speaks IKEv1.
case $KIND in strongswan*) SWAN=yes ;; *) SWAN= ;; esac
case $KIND in libreswan*) LSW=yes ;; *) LSW= ;; esac
case $PEER in *ikev1) V1=yes ;; *) V1= ;; esac
root=
SECONDS_RUN=${REKEY_SECONDS:-300}
BIN=$PWD/.venv/bin
D=$(mktemp -d /tmp/racoon2-rekey.XXXXXX)
P=rkvm${PEER:0:2}$$
PSK=rekeyvm-$$-$RANDOM$RANDOM
pids=()
cleanup() {
    [ -z "$SWAN" ] || DIR=$D/ss ROOT=$root bash tests/harness/peers/strongswan.sh stop r2 2>/dev/null || true
    [ -z "$LSW" ] || DIR=$D/lsw bash tests/harness/peers/libreswan.sh stop r2 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${REKEY_KEEP:-}" ]; then
        mkdir -p "$REKEY_KEEP/$PEER"
        cp "$D"/a/iked.log "$D"/ping.log "$REKEY_KEEP/$PEER/" 2>/dev/null || true
        cp "$D"/b/iked.log "$REKEY_KEEP/$PEER/iked-b.log" 2>/dev/null || true
        cp "$D"/ss/charon.log "$REKEY_KEEP/$PEER/" 2>/dev/null || true
        cp "$D"/lsw/pluto.log "$REKEY_KEEP/$PEER/" 2>/dev/null || true
    fi
    ip netns del "${P}a" 2>/dev/null || true
    ip netns del "${P}b" 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT
fail() {
    echo "FAILED (rekey $PEER): $*"
    tail -n 60 "$D"/a/iked.log
    ip -n "${P}a" xfrm state | grep -E "^src|proto" || true
    ip -n "${P}b" xfrm state | grep -E "^src|proto" || true
    exit 1
}

# shellcheck source=../harness/gateways.sh
. tests/harness/gateways.sh
make_gateways "$P"

printf '%s' "$PSK" >"$D/gw_b.psk"  # no newline: iked takes the file's bytes, charon the string
lifetimes=(-e 's/ipsec_sa_lifetime_time 1 hour;/ipsec_sa_lifetime_time 20 sec;/'
           -e 's/dpd_delay 60 sec;/dpd_delay 60 sec; kmp_sa_lifetime_time 60 sec;/'
           -e 's/kmp_sa_lifetime_time 8 hours;/kmp_sa_lifetime_time 60 sec;/')
suite=aes256-sha256-modp3072
if [ "$KIND" != "$PEER" ]; then
    lifetimes+=(-e 's/need_pfs on;/need_pfs on; kmp_addke1 mlkem768;/')
    suite=aes256-sha256-modp3072-ke1_mlkem768 root=/var/cache/racoon2-trixie
fi
[ -z "$V1" ] || export SAMPLE=samples/ikev1-tunnel.conf
gateway_conf "$D" a "${lifetimes[@]}"
start_gateway "$D" a "${P}a"
case "$KIND" in
iked|ikev1)
    gateway_conf "$D" b "${lifetimes[@]}"
    start_gateway "$D" b "${P}b" ;;
strongswan)
    # The same suite as the sample (PFS with modp3072); rekey at 17 s, in the middle of
    # iked's 16-18 s soft lifetime, and the IKE SA at 60 s as iked's.
    NS=${P}b DIR=$D/ss LOCAL=203.0.113.1 REMOTE=198.51.100.1 LOCAL_ID=gw-b.example.net \
        REMOTE_ID=gw-a.example.net PSK=$PSK IKE=$suite ROOT=$root \
        ESP=$suite LTS=192.0.2.128/25 RTS=192.0.2.0/25 CHILD_REKEY=17s \
        CHILD_LIFE=20s IKE_REKEY=60s KERNEL=netlink KEYLOG=0 LOGLEVEL=1 \
        bash tests/harness/peers/strongswan.sh start r2 ;;
strongswan-ikev1)
    # The IKEv1 sample's suite (no PFS, its IDs are the addresses); charon rekeys its
    # IPsec SA at 17 s and makes a new Main Mode at 60 s, as iked does.
    NS=${P}b DIR=$D/ss VERSION=1 LOCAL=203.0.113.1 REMOTE=198.51.100.1 LOCAL_ID=203.0.113.1 \
        REMOTE_ID=198.51.100.1 PSK=$PSK IKE=aes128-sha256-modp2048 ESP=aes128-sha1 \
        LTS=192.0.2.128/25 RTS=192.0.2.0/25 CHILD_REKEY=17s CHILD_LIFE=20s IKE_REKEY=60s \
        KERNEL=netlink KEYLOG=0 LOGLEVEL=1 bash tests/harness/peers/strongswan.sh start r2 ;;
libreswan-ikev1)
    # The IKEv1 sample's suite, as for strongswan-ikev1; pluto takes iked's lifetimes.  No
    # updown script: the unpacked tree's `ipsec` is not on PATH, and pluto aborts a Quick
    # Mode whose updown fails (the namespace needs no route it would add).
    NS=${P}b DIR=$D/lsw VERSION=1 LOCAL=203.0.113.1 REMOTE=198.51.100.1 \
        LOCAL_ID=203.0.113.1 REMOTE_ID=198.51.100.1 PSK=$PSK IKE="aes128-sha2_256;modp2048" \
        ESP=aes128-sha1 LTS=192.0.2.128/25 RTS=192.0.2.0/25 \
        EXTRA=$'pfs=no\n\tleftupdown=%disabled' bash tests/harness/peers/libreswan.sh start r2 ;;
*) echo "PEER must be iked, strongswan, iked-pq, strongswan-pq, ikev1, strongswan-ikev1" \
        "or libreswan-ikev1" >&2
   exit 2 ;;
esac

ok=
for _ in $(seq 30); do
    if ip netns exec "${P}a" ping -c1 -W1 -I 192.0.2.1 -q 192.0.2.129 >/dev/null; then
        ok=yes; break
    fi
done
[ -n "$ok" ] || fail "no reply through the tunnel"

# -O reports each unanswered ping as it happens, -D stamps it: the log shows when (which
# rekey) a packet was lost.
ip netns exec "${P}a" ping -O -D -i 0.1 -W 1 -c $((SECONDS_RUN * 10)) -I 192.0.2.1 192.0.2.129 \
    >"$D/ping.log" 2>&1 || true
summary=$(grep -E "packets transmitted" "$D/ping.log" || echo "0 packets transmitted, 0 received")
sent=$(echo "$summary" | grep -oE '^[0-9]+')
received=$(echo "$summary" | grep -oE '[0-9]+ received' | grep -oE '^[0-9]+')
lost=$((sent - received))

esp_spis() {  # ns: the "src dst spi" of each ESP SA, sorted
    ip -n "$1" xfrm state list proto esp |
        awk '/^src/ {src = $2; dst = $4} /proto esp spi/ {print src, dst, $4}' | sort
}
settled=
for _ in $(seq 20); do
    a=$(esp_spis "${P}a"); b=$(esp_spis "${P}b")
    if [ "$(echo "$a" | grep -c .)" = 2 ] && [ "$a" = "$b" ]; then settled=yes; break; fi
    sleep 1
done

logs=("$D/a/iked.log")
[ -n "$SWAN$LSW" ] || logs+=("$D/b/iked.log")
# iked logs each collision it settles by nonces once ("rekey collision", RFC 7296 §2.8).  A
# plain one ends with one redundant CHILD_SA deleted by the side that made it, or two
# successors of one IKE SA on gateway A; with additional key exchanges the redundant rekey
# makes nothing (RFC 9370 §2.2.4).  Rekeys done = new SAs on A - the redundant ones.
child_coll=$(grep -c "CHILD_SA of policy .* rekey collision" "$D/a/iked.log" || true)
ike_coll=$(grep -c "IKE SA rekey collision" "$D/a/iked.log" || true)
child_extra=$(cat "${logs[@]}" | grep -c "redundant rekey" || true)
ike_extra=$(grep -oE "rekey of [0-9a-f:]+" "$D/a/iked.log" | sort | uniq -d | grep -c . || true)
child_rekeys=$(($(grep -c "CHILD_SA of policy .* rekeyed:" "$D/a/iked.log" || true) - child_extra))
ike_rekeys=$(($(grep -c "established .*, rekey of " "$D/a/iked.log" || true) - ike_extra))
# IKEv1's Quick Mode collisions (iked.ikev1.quick_mode) log only the redundant IPsec SA.
[ -z "$V1" ] || child_coll=$child_extra
# IKEv1 has no rekey of an ISAKMP SA as such: a new Main Mode (either side's), the old one
# deleted 10 s later, maybe after the run: the new ones on gateway A after its first.
[ -z "$V1" ] || ike_rekeys=$(($(grep -c "IKE SA .* established with" "$D/a/iked.log" || true) - 1))
tempfail=$(cat "${logs[@]}" | grep -c "failed: TEMPORARY_FAILURE" || true)
peer_coll=
[ -n "$SWAN" ] && peer_coll=" strongswan_collisions=$(grep -ci "collision" \
    "$D/ss/charon.log" || true)"
echo "REKEY RESULT $PEER: seconds=$SECONDS_RUN child_rekeys=$child_rekeys" \
    "ike_rekeys=$ike_rekeys child_collisions=$child_coll ike_collisions=$ike_coll" \
    "temporary_failures=$tempfail$peer_coll pings_sent=$sent lost=$lost" \
    "child_mlkem=$(grep -c "CHILD_SA of policy .* rekeyed: .*, key exchanges MODP_3072 ML_KEM_768)" \
        "$D/a/iked.log" || true)"
grep -E "no answer yet" "$D/ping.log" | head -20 || true
echo "ESP SAs at the end, A:"; esp_spis "${P}a"
echo "ESP SAs at the end, B:"; esp_spis "${P}b"
[ -n "$settled" ] || fail "not exactly one matching ESP SA pair per kernel at the end"
[ "$sent" -gt 0 ] && [ $((lost * 100)) -le "$sent" ] || fail "$lost of $sent pings lost"
[ "$child_rekeys" -gt 0 ] || fail "no CHILD_SA rekey"
echo "REKEY OK: $PEER"
