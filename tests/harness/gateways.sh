# Sourced by the two-gateway scripts (demo-tunnel.sh, tests/vm/iked_bundles.sh): namespaces
# ${P}a and ${P}b joined by the veth pair ${P}x/${P}y, each gateway with its inner address on lo
# and a route to the other side's network through the veth:
#
#   192.0.2.1 (lo) -- A 198.51.100.1 ==== 203.0.113.1 B -- 192.0.2.129 (lo)
#
# The caller removes the namespaces (ip netns del) in its own cleanup.

gateway_side() {  # ns dev gw peer_gw inner peer_net
    ip -n "$1" link set lo up
    ip -n "$1" link set "$2" up
    ip -n "$1" addr add "$3/32" dev "$2"
    ip -n "$1" route add "$4/32" dev "$2"
    ip -n "$1" addr add "$5/32" dev lo
    ip -n "$1" route add "$6" dev "$2" src "$5"
}

make_gateways() {  # P: the namespace and veth prefix
    ip netns add "$1a"
    ip netns add "$1b"
    ip link add "$1x" netns "$1a" type veth peer name "$1y" netns "$1b"
    gateway_side "$1a" "$1x" 198.51.100.1 203.0.113.1 192.0.2.1 192.0.2.128/25
    gateway_side "$1b" "$1y" 203.0.113.1 198.51.100.1 192.0.2.129 192.0.2.0/25
}
