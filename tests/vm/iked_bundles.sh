#!/usr/bin/env bash
# iked_bundles.sh BUNDLE: two racoon2 gateways (spmd + iked, samples/ikev2-tunnel.conf with the
# ipsec's sa_index changed) negotiate an AH ("ah") or ESP+IPComp ("esp+ipcomp") tunnel, or with
# samples/ikev1-tunnel.conf as it is an IKEv1 ESP tunnel ("ikev1"), and ping through it, small
# and large compressible packets; the SAs' counters must show the traffic.
# Needs a kernel with AH/ESP/IPComp (the project's VM: tests/vm/test_iked_bundles.py).
# Everything lives in a temporary directory and two namespaces, removed at the end; it stops
# only the processes it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUNDLE=$1
BIN=$PWD/.venv/bin
D=$(mktemp -d /tmp/racoon2-bundle.XXXXXX)
P=r2bun$$
pids=()
# shellcheck source=../harness/gateways.sh
. tests/harness/gateways.sh
trap gateway_cleanup EXIT
fail() { echo "FAILED ($BUNDLE): $*"; cat "$D"/*/iked.log; ip -n "${P}a" -s xfrm state; exit 1; }

make_gateways "$P"

case "$BUNDLE" in
ah) index="sa_index ah_sha256;"
    extra="sa ah_sha256 { sa_protocol ah; ah_auth_alg { hmac_sha2_256; }; };" ;;
esp+ipcomp) index="sa_index { esp_aes256; comp; };"
    extra="sa comp { sa_protocol ipcomp; ipcomp_alg { deflate; }; };" ;;
ikev1) index="" extra="" SAMPLE=samples/ikev1-tunnel.conf ;;
*) echo "BUNDLE must be ah, esp+ipcomp or ikev1" >&2; exit 2 ;;
esac
for s in a b; do
    gateway_conf "$D" "$s" -e "s#sa_index esp_aes256;#${index:-&}#"
    echo "$extra" >>"$D/$s/racoon2.conf"
done
for s in a b; do start_gateway "$D" "$s" "$P$s"; done

ok=
for _ in $(seq 180); do  # a busy VM (five runs start beside the first bundle) takes a while
    if ip netns exec "${P}a" ping -c1 -W1 -I 192.0.2.1 -q 192.0.2.129 >/dev/null; then
        ok=yes; break
    fi
done
[ -n "$ok" ] || fail "no reply through the tunnel"
grep -E "CHILD_SA of policy" "$D/a/iked.log"
ip netns exec "${P}a" ping -c3 -i0.3 -I 192.0.2.1 192.0.2.129 | grep transmitted
ip netns exec "${P}a" ping -c3 -i0.3 -s 1200 -p 00 -I 192.0.2.1 192.0.2.129 | grep transmitted
packets() {  # proto src: the packets gateway A's SAs from src counted (all of them: a busy
    # host may have negotiated a second pair before the first answer came)
    ip -n "${P}a" -s xfrm state list proto "$1" src "$2" | grep -oE '[0-9]+\(packets\)' |
        grep -oE '^[0-9]+' | awk '{ n += $1 } END { print n + 0 }'
}
main=ah; [ "$BUNDLE" = ah ] || main=esp
for src in 198.51.100.1 203.0.113.1; do
    n=$(packets "$main" "$src"); echo "$main SA from $src: ${n:-none} packets"
    [ "${n:-0}" -ge 6 ] || fail "the $main SA from $src counted ${n:-no} packets"
done
if [ "$BUNDLE" = esp+ipcomp ]; then
    ip -n "${P}a" xfrm state list proto comp | grep -E "^src|proto comp|mode"
    n=$(packets comp 198.51.100.1); echo "outbound IPComp SA: ${n:-none} packets"
    [ "${n:-0}" -ge 3 ] || fail "the outbound IPComp SA counted ${n:-no} packets"
    ip -n "${P}a" xfrm state list proto esp | grep -q "mode transport" ||
        fail "ESP is not in transport mode around the IPComp tunnel"
fi
echo "BUNDLE OK: $BUNDLE ($SECONDS s)"
