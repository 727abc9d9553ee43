#!/usr/bin/env bash
# demo-kink.sh: two hosts in network namespaces key ESP transport mode with KINK (RFC 4430):
# racoon2's spmd + kinkd on each side (samples/kink-transport.conf), a throwaway MIT realm
# KINK.TEST (tests/harness/kink/realm.sh), then a ping from A to B through ESP.
#
#   host-a.example.com 192.0.2.1 ==[ KINK, ESP transport ]== 192.0.2.2 host-b.example.com
#   KDC: 203.0.113.88 inside A's namespace (routed from B via 192.0.2.1)
#
# Usage, as root where the kernel has ESP, from anywhere in the checkout:
#   bash tests/harness/kink/demo-kink.sh
#   bash tests/harness/vm/racoon2-vm.sh run 'bash tests/harness/kink/demo-kink.sh'  # other kernels
# Needs the project's venv (.venv) and krb5-kdc, krb5-admin-server, krb5-user
# (tests/harness/setup-host.sh).  Prints "KINK DEMO OK" and exits 0 when both hosts' ESP SAs
# carried the ping; exits non-zero otherwise.  Everything lives in $DEMO_DIR (a new temporary
# directory, removed at the end, unless given) and two namespaces, removed at the end; it stops
# only the processes it started, by PID.  WAIT (60) bounds each daemon's start and PING_WAIT
# (30) the first answered ping, in seconds.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
HARNESS=$ROOT/tests/harness
if [ -n "${DEMO_DIR:-}" ]; then
    own_dir=
else
    DEMO_DIR=$(mktemp -d /tmp/racoon2-kink.XXXXXX)
    own_dir=yes
fi
REALM_DIR=$DEMO_DIR/realm
P=r2kd$$
A=${P}A
B=${P}B
# The KDC gets an address of its own: on 192.0.2.1 its traffic would fall under the policies
# between the two hosts, and kinkd, which needs a ticket before it can make any SA, would wait
# for itself.  A real KDC is a third host outside the protected traffic; this address stands
# for it.
KDC_ADDR=203.0.113.88
# The KDC tools live in /usr/sbin, which a non-login PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
# Seconds to wait for each daemon to start and for the first ping's answer: Python under the
# VM's TCG emulation takes about 10 s to start a daemon.
WAIT=${WAIT:-60}
PING_WAIT=${PING_WAIT:-30}
pids=()
declare -A kinkd_pid
realm_up=

say() { printf '\n== %s\n' "$*"; }
cleanup() {
    local i
    # kinkd before spmd (the order they were started in, reversed)
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[$i]}" 2>/dev/null || true
        wait "${pids[$i]}" 2>/dev/null || true
    done
    if [ -n "$realm_up" ]; then bash "$HARNESS/kink/realm.sh" down "$REALM_DIR" || true; fi
    bash "$HARNESS/peers/netns.sh" down "$P" || true
    if [ -n "$own_dir" ]; then rm -rf "$DEMO_DIR"; fi
}
trap cleanup EXIT

fail() {
    say "FAILED: $*"
    for side in a b; do
        for daemon in spmd kinkd; do
            echo "--- $daemon of host $side:"
            cat "$DEMO_DIR/$side/$daemon.log" 2>/dev/null || true
        done
    done
    echo "--- the KDC:"
    tail -n 20 "$REALM_DIR/krb5kdc.log" 2>/dev/null || true
    exit 1
}

for tool in ip krb5kdc kdb5_util kadmin.local kinit ping; do
    command -v "$tool" >/dev/null || { echo "demo-kink: $tool is missing (tests/harness/setup-host.sh)"; exit 1; }
done
[ -x "$BIN/kinkd" ] || { echo "demo-kink: no $BIN/kinkd (bash tests/harness/venv.sh)"; exit 1; }

say "Two namespaces: host A (192.0.2.1) and host B (192.0.2.2) joined by a veth pair"
bash "$HARNESS/peers/netns.sh" up "$P"

say "A Kerberos realm KINK.TEST: its KDC runs in A's namespace on $KDC_ADDR;" \
    "principals kink/host-a.example.com and kink/host-b.example.com, one keytab each"
ip -n "$A" addr add "$KDC_ADDR/32" dev lo
ip -n "$B" route add "$KDC_ADDR/32" via 192.0.2.1
realm_up=yes
bash "$HARNESS/kink/realm.sh" up "$REALM_DIR" "$A" "$KDC_ADDR"
for side in a b; do
    klist -k "$REALM_DIR/host-$side.keytab" | sed -n '4p'
done

say "racoon2.conf for each host from samples/kink-transport.conf (realm KINK.TEST, this" \
    "demo's paths; B's is the mirror image), an spmif password each (pskgen, mode 0600)"
conf() {  # side: the sample with this demo's realm and paths; B swaps addresses and names
    local d=$DEMO_DIR/$1
    mkdir -p "$d"
    chmod 700 "$d"  # spmd refuses a socket directory others can enter
    "$BIN/pskgen" -r -o "$d/spmd.pwd"
    sed -e "s#EXAMPLE.COM#KINK.TEST#g" -e "s#/var/run/racoon2/spmif#$d/spmif#" \
        -e "s#/usr/local/etc/racoon2/spmd.pwd#$d/spmd.pwd#" \
        samples/kink-transport.conf >"$d/racoon2.conf"
    if [ "$1" = b ]; then
        sed -i -e 's#192\.0\.2\.1\b#@1#g; s#192\.0\.2\.2\b#192.0.2.1#g; s#@1#192.0.2.2#g' \
            -e 's#host-a#@2#g; s#host-b#host-a#g; s#@2#host-b#g' \
            -e 's#host_b#host_a#g; s#b_transport#a_transport#g; s#b_out#a_out#g; s#b_in#a_in#g' \
            "$d/racoon2.conf"
    fi
    "$BIN/spmd" -n -f "$d/racoon2.conf"
    "$BIN/kinkd" -n -f "$d/racoon2.conf"
}
conf a
conf b
grep -E "kink \{ |my_principal|peers_ipaddr|peers_principal" "$DEMO_DIR/b/racoon2.conf" |
    sed 's/^\t*/  host B: /'

say "Start spmd (installs the transport-mode policies) and kinkd on both hosts"
for side in a b; do
    d=$DEMO_DIR/$side
    ip netns exec "$P${side^^}" "$BIN/spmd" -F -f "$d/racoon2.conf" </dev/null >>"$d/spmd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq $((WAIT * 10))); do [ -S "$d/spmif" ] && break; sleep 0.1; done
    [ -S "$d/spmif" ] || fail "spmd of host $side made no spmif socket"
    ip netns exec "$P${side^^}" env KRB5_CONFIG="$REALM_DIR/krb5.conf" \
        KRB5_KTNAME="FILE:$REALM_DIR/host-$side.keytab" KRB5CCNAME="FILE:$d/kinkd.ccache" \
        "$BIN/kinkd" -F -f "$d/racoon2.conf" --replay-cache "$d/kinkd.rc" -d \
        </dev/null >>"$d/kinkd.log" 2>&1 &
    pids+=($!)
    kinkd_pid[$side]=$!
done
for side in a b; do
    for _ in $(seq $((WAIT * 10))); do
        grep -q "listening on" "$DEMO_DIR/$side/kinkd.log" && break
        kill -0 "${kinkd_pid[$side]}" 2>/dev/null || fail "kinkd of host $side exited"
        sleep 0.1
    done
    grep -q "listening on" "$DEMO_DIR/$side/kinkd.log" ||
        fail "kinkd of host $side is not listening after $WAIT s"
    grep -m1 "listening on" "$DEMO_DIR/$side/kinkd.log" | sed "s/^/  host $side: /"
done
echo "policies on host A:"
ip -n "$A" xfrm policy | sed -n 's/^src /  src /p'

say "Ping 192.0.2.2 from 192.0.2.1: the first packet meets the policy, the kernel asks kinkd" \
    "for SAs (ACQUIRE), kinkd gets a ticket for host B and runs the KINK CREATE exchange"
ok=
SECONDS=0
while [ "$SECONDS" -lt "$PING_WAIT" ]; do
    if ip netns exec "$A" ping -c1 -W2 -q 192.0.2.2 >/dev/null 2>&1; then
        ok=yes
        break
    fi
    # While the SAs are missing the kernel drops the packet at once: do not spin.
    sleep 0.5
done
echo "--- kinkd on host A:"; grep -E "ACQUIRE|CREATE|ticket|SA|ERROR" "$DEMO_DIR/a/kinkd.log" || true
echo "--- kinkd on host B:"; grep -E "CREATE|SA|ERROR" "$DEMO_DIR/b/kinkd.log" || true
[ -n "$ok" ] || fail "no reply from 192.0.2.2 within $PING_WAIT s"

say "Ping through ESP"
ip netns exec "$A" ping -c 3 -W 2 192.0.2.2 || fail "ping through ESP failed"

# One line per ESP SA of namespace $1 (SPI 0 is the kernel's placeholder for a pending
# ACQUIRE, not an SA): "SPI PACKETS".
esp_sas() {
    ip -n "$1" -s xfrm state | awk '
        /^src / { spi = ""; cur = 0 }
        $1 == "proto" && $2 == "esp" { spi = $4; sub(/\(.*/, "", spi) }
        cur { n = $2; sub(/\(packets\).*/, "", n); if (spi != "" && spi != "0x00000000") print spi, n; cur = 0 }
        /lifetime current:/ { cur = 1 }'
}

for ns in "$A" "$B"; do
    say "ip -n $ns -s xfrm state"
    ip -n "$ns" -s xfrm state
done

say "Each host's ESP SAs and the packets each one counted"
for side in A B; do
    sas=$(esp_sas "$P$side")
    echo "$sas" | sed "s/^/  host $side: SPI /; s/ \([0-9]*\)$/: \1 packets/"
    [ "$(echo "$sas" | grep -c .)" -ge 2 ] || fail "host $side has fewer than two ESP SAs"
    while read -r spi n; do
        [ "${n:-0}" -gt 0 ] || fail "host $side's ESP SA $spi counted no packets"
    done <<<"$sas"
done

for side in a b; do
    say "kinkd of host $side"
    cat "$DEMO_DIR/$side/kinkd.log"
done

say "KINK DEMO OK: kinkd keyed ESP between host A and host B with tickets from the KDC"
