#!/usr/bin/env bash
# netns.sh up|down|status [PREFIX]
#
# Two network namespaces ${PREFIX}A and ${PREFIX}B joined by one veth pair, documentation
# addresses only, so nothing the peers send can leave the machine:
#   ${PREFIX}A  dev ${PREFIX}a  192.0.2.1/24  2001:db8::1/64
#   ${PREFIX}B  dev ${PREFIX}b  192.0.2.2/24  2001:db8::2/64
# and one "inner" address on each lo for tunnel-mode traffic selectors (a host-to-host tunnel
# would capture the IKE traffic itself): A 198.51.100.1/32 (in 198.51.100.0/28),
# B 198.51.100.17/32 (in 198.51.100.16/28).
# PREFIX defaults to "r2p". "down" removes only the two namespaces of that prefix (the veth
# pair goes with them). Run as root.
set -euo pipefail
cmd=${1:-}
P=${2:-r2p}
A=${P}A
B=${P}B

case "$cmd" in
up)
    ip netns add "$A"
    ip netns add "$B"
    ip link add "${P}a" netns "$A" type veth peer name "${P}b" netns "$B"
    for side in A:a:1:1 B:b:2:17; do
        IFS=: read -r ns dev host inner <<<"$side"
        ip -n "$P$ns" link set lo up
        ip -n "$P$ns" link set "$P$dev" up
        ip -n "$P$ns" addr add "192.0.2.$host/24" dev "$P$dev"
        # nodad: the address is usable at once instead of after duplicate detection
        ip -n "$P$ns" addr add "2001:db8::$host/64" dev "$P$dev" nodad
        ip -n "$P$ns" addr add "198.51.100.$inner/32" dev lo
    done
    ip netns exec "$A" ping -c1 -W2 -q 192.0.2.2 >/dev/null
    echo "netns: $A (192.0.2.1, 2001:db8::1) <-> $B (192.0.2.2, 2001:db8::2)"
    ;;
down)
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    ;;
status)
    for ns in "$A" "$B"; do
        echo "== $ns"
        ip -n "$ns" -br addr 2>/dev/null || echo "(absent)"
    done
    ;;
*)
    sed -n '2,12p' "$0"
    exit 2
    ;;
esac
