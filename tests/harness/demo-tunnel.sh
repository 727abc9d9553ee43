#!/usr/bin/env bash
# demo-tunnel.sh: two security gateways in network namespaces bring up an IKEv2 tunnel with
# racoon2 (spmd + iked on each side, samples/ikev2-tunnel.conf) and ping through it.
# Needs a kernel with ESP (tests/harness/demo.sh runs it in the project's VM otherwise) and the
# project's venv (.venv).  Everything it makes lives in $DEMO_DIR and two namespaces, removed at
# the end; it stops only the processes it started, by PID.
#
#   192.0.2.1 (lo) -- gw-a 198.51.100.1 ==[ IKEv2, ESP tunnel ]== 203.0.113.1 gw-b -- 192.0.2.129 (lo)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/racoon2-demo.XXXXXX)}
P=r2demo$$
pids=()

say() { printf '\n== %s\n' "$*"; }
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "${P}a" 2>/dev/null || true
    ip netns del "${P}b" 2>/dev/null || true
}
trap cleanup EXIT

say "Two namespaces: gateway A (198.51.100.1, network 192.0.2.0/25) and gateway B" \
    "(203.0.113.1, network 192.0.2.128/25), joined by a veth pair"
# shellcheck source=gateways.sh
. tests/harness/gateways.sh
make_gateways "$P"
ip netns exec "${P}a" ping -c1 -W2 -q 203.0.113.1 >/dev/null
echo "gateway A reaches gateway B in the clear"

say "Secrets: one pre-shared key for both gateways, an spmif password for each (pskgen, mode 0600)"
for side in a b; do
    mkdir -p "$DEMO_DIR/$side/psk" "$DEMO_DIR/$side/run"
    chmod 700 "$DEMO_DIR/$side/run"
    "$BIN/pskgen" -r -o "$DEMO_DIR/$side/spmd.pwd"
done
"$BIN/pskgen" -r -s 32 -o "$DEMO_DIR/a/psk/gw_b.psk"
cp "$DEMO_DIR/a/psk/gw_b.psk" "$DEMO_DIR/b/psk/gw_b.psk"
chmod 600 "$DEMO_DIR/b/psk/gw_b.psk"

say "racoon2.conf for each gateway from samples/ikev2-tunnel.conf (B's is the mirror image;" \
    "A's CHILD_SA lifetime is cut to 24 s to show a rekey)"
conf() {  # side: the sample with this demo's directory; B swaps addresses, networks and IDs
    local d=$DEMO_DIR/$1
    sed -e "s#\"/usr/local/etc/racoon2\"#\"$d\"#" -e "s#/var/run/racoon2/spmif#$d/run/spmif#" \
        samples/ikev2-tunnel.conf >"$d/racoon2.conf"
    if [ "$1" = a ]; then
        # A short CHILD_SA lifetime on A only, so the demo can show A rekeying it.
        sed -i 's/ipsec_sa_lifetime_time 1 hour;/ipsec_sa_lifetime_time 24 sec;/' "$d/racoon2.conf"
    fi
    if [ "$1" = b ]; then
        sed -i -e 's#"198.51.100.1"#"@1"#; s#"203.0.113.1"#"198.51.100.1"#; s#"@1"#"203.0.113.1"#' \
            -e 's#"192.0.2.0/25"#"@2"#; s#"192.0.2.128/25"#"192.0.2.0/25"#; s#"@2"#"192.0.2.128/25"#' \
            -e 's#"gw-a.example.net"#"@3"#; s#"gw-b.example.net"#"gw-a.example.net"#' \
            -e 's#"@3"#"gw-b.example.net"#' "$d/racoon2.conf"
    fi
    "$BIN/iked" -n -f "$d/racoon2.conf"
}
conf a
conf b

say "Start spmd (installs the tunnel policies) and iked on both gateways"
for side in a b; do
    d=$DEMO_DIR/$side
    ip netns exec "$P$side" "$BIN/spmd" -F -f "$d/racoon2.conf" >"$d/spmd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 300); do [ -S "$d/run/spmif" ] && break; sleep 0.1; done
    [ -S "$d/run/spmif" ] || { cat "$d/spmd.log"; exit 1; }
    ip netns exec "$P$side" "$BIN/iked" -j 1 -F -f "$d/racoon2.conf" --ctl-socket "$d/iked.ctl" >"$d/iked.log" 2>&1 &
    pids+=($!)
done
for side in a b; do
    for _ in $(seq 300); do grep -q "listening on" "$DEMO_DIR/$side/iked.log" && break; sleep 0.1; done
done
echo "policies on gateway A:"
ip -n "${P}a" xfrm policy | sed -n 's/^src /  src /p'

say "Ping 192.0.2.129 from 192.0.2.1: the first packet meets the policy, the kernel asks iked" \
    "for SAs (ACQUIRE) and iked negotiates IKE_SA_INIT and IKE_AUTH with gateway B"
ok=
for _ in $(seq 30); do
    if ip netns exec "${P}a" ping -c1 -W1 -I 192.0.2.1 -q 192.0.2.129 >/dev/null; then
        ok=yes; break
    fi
done
echo "--- iked on gateway A:"; grep -E "ACQUIRE|established|CHILD_SA|ERROR" "$DEMO_DIR/a/iked.log" || true
echo "--- iked on gateway B:"; grep -E "established|CHILD_SA|ERROR" "$DEMO_DIR/b/iked.log" || true
[ -n "$ok" ] || { say "FAILED: no reply through the tunnel"; cat "$DEMO_DIR"/*/iked.log; exit 1; }

say "Ping through the tunnel"
ip netns exec "${P}a" ping -c3 -i0.3 -I 192.0.2.1 192.0.2.129

say "The ESP SAs in gateway A's kernel, with their packet counters"
ip -n "${P}a" -s xfrm state | grep -E "^src|proto esp|enc |aead |auth-trunc |lifetime current|bytes"
counts=$(ip -n "${P}a" -s xfrm state | grep -oE '[0-9]+\(packets\)' | grep -oE '^[0-9]+' | paste -sd' ')
echo "packets counted by each ESP SA: $counts"
[ "$(echo "$counts" | wc -w)" -ge 2 ] || { say "FAILED: expected two ESP SAs"; exit 1; }
for n in $counts; do [ "$n" -gt 0 ] || { say "FAILED: an SA counted no packets"; exit 1; }; done

say "Wait for the CHILD_SA's soft lifetime on A (80-90 % of 24 s): the kernel reports it" \
    "(EXPIRE) and iked rekeys the CHILD_SA (CREATE_CHILD_SA), then deletes the old one"
for _ in $(seq 60); do grep -q "deleted: rekeyed" "$DEMO_DIR/a/iked.log" && break; sleep 1; done
grep -E "soft lifetime|rekeyed" "$DEMO_DIR/a/iked.log" | tail -3
grep -q "deleted: rekeyed" "$DEMO_DIR/a/iked.log" || { say "FAILED: no rekey"; exit 1; }
ip netns exec "${P}a" ping -c2 -i0.3 -I 192.0.2.1 192.0.2.129 | grep -E "transmitted"
new_spi=$(grep -E "CHILD_SA of policy gw_b_tunnel (up|rekeyed):" "$DEMO_DIR/a/iked.log" | tail -1 |
    grep -oE "out 0x[0-9a-f]{8}" | cut -d' ' -f2)
echo "the new outbound SA $new_spi in the kernel:"
ip -n "${P}a" -s xfrm state get src 198.51.100.1 dst 203.0.113.1 proto esp spi "$new_spi" |
    grep -A1 "lifetime current" | tail -1
after=$(ip -n "${P}a" -s xfrm state get src 198.51.100.1 dst 203.0.113.1 proto esp \
    spi "$new_spi" | grep -oE '[0-9]+\(packets\)' | grep -oE '^[0-9]+')
[ "${after:-0}" -gt 0 ] || { say "FAILED: the rekeyed SA carried no packets"; exit 1; }

say "Stop iked on gateway A: it deletes the IKE SA (INFORMATIONAL Delete), B removes its SAs"
kill "${pids[1]}"; wait "${pids[1]}" || true
sleep 1
grep -E "deleted" "$DEMO_DIR/b/iked.log" || true
say "DEMO OK: an IKEv2 tunnel between two racoon2 gateways carried ESP traffic"
