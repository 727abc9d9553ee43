#!/usr/bin/env bash
# iked_bundles.sh BUNDLE: two racoon2 gateways (spmd + iked, samples/ikev2-tunnel.conf with the
# ipsec's sa_index changed) negotiate an AH ("ah") or ESP+IPComp ("esp+ipcomp") tunnel and ping
# through it, small and large compressible packets; the SAs' counters must show the traffic.
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
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "${P}a" 2>/dev/null || true
    ip netns del "${P}b" 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT
fail() { echo "FAILED ($BUNDLE): $*"; cat "$D"/*/iked.log; ip -n "${P}a" -s xfrm state; exit 1; }

# shellcheck source=../harness/gateways.sh
. tests/harness/gateways.sh
make_gateways "$P"

case "$BUNDLE" in
ah) index="sa_index ah_sha256;"
    extra="sa ah_sha256 { sa_protocol ah; ah_auth_alg { hmac_sha2_256; }; };" ;;
esp+ipcomp) index="sa_index { esp_aes256; comp; };"
    extra="sa comp { sa_protocol ipcomp; ipcomp_alg { deflate; }; };" ;;
*) echo "BUNDLE must be ah or esp+ipcomp" >&2; exit 2 ;;
esac
"$BIN/pskgen" -r -s 32 -o "$D/gw_b.psk"
for s in a b; do
    mkdir -p "$D/$s/psk" "$D/$s/run"
    chmod 700 "$D/$s/run"
    "$BIN/pskgen" -r -o "$D/$s/spmd.pwd"
    install -m 600 "$D/gw_b.psk" "$D/$s/psk/gw_b.psk"
    sed -e "s#\"/usr/local/etc/racoon2\"#\"$D/$s\"#" -e "s#/var/run/racoon2/spmif#$D/$s/run/spmif#" \
        -e "s#sa_index esp_aes256;#$index#" samples/ikev2-tunnel.conf >"$D/$s/racoon2.conf"
    echo "$extra" >>"$D/$s/racoon2.conf"
done
sed -i -e 's#"198.51.100.1"#"@1"#; s#"203.0.113.1"#"198.51.100.1"#; s#"@1"#"203.0.113.1"#' \
    -e 's#"192.0.2.0/25"#"@2"#; s#"192.0.2.128/25"#"192.0.2.0/25"#; s#"@2"#"192.0.2.128/25"#' \
    -e 's#"gw-a.example.net"#"@3"#; s#"gw-b.example.net"#"gw-a.example.net"#' \
    -e 's#"@3"#"gw-b.example.net"#' "$D/b/racoon2.conf"
for s in a b; do
    "$BIN/iked" -n -f "$D/$s/racoon2.conf"
    ip netns exec "$P$s" "$BIN/spmd" -F -f "$D/$s/racoon2.conf" >"$D/$s/spmd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 300); do [ -S "$D/$s/run/spmif" ] && break; sleep 0.1; done
    ip netns exec "$P$s" "$BIN/iked" -F -f "$D/$s/racoon2.conf" >"$D/$s/iked.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 300); do grep -q "listening on" "$D/$s/iked.log" && break; sleep 0.1; done
done

ok=
for _ in $(seq 30); do
    if ip netns exec "${P}a" ping -c1 -W1 -I 192.0.2.1 -q 192.0.2.129 >/dev/null; then
        ok=yes; break
    fi
done
[ -n "$ok" ] || fail "no reply through the tunnel"
grep -E "CHILD_SA of policy" "$D/a/iked.log"
ip netns exec "${P}a" ping -c3 -i0.3 -I 192.0.2.1 192.0.2.129 | grep transmitted
ip netns exec "${P}a" ping -c3 -i0.3 -s 1200 -p 00 -I 192.0.2.1 192.0.2.129 | grep transmitted
packets() {  # proto src: the packet counter of gateway A's SA
    ip -n "${P}a" -s xfrm state list proto "$1" src "$2" | grep -oE '[0-9]+\(packets\)' |
        grep -oE '^[0-9]+' | head -1
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
echo "BUNDLE OK: $BUNDLE"
