#!/usr/bin/env bash
# setup_pair.sh [CASE...]: for each case racoon2-setup supports, the pair of configurations it
# generates (this side's racoon2.conf, the other end's from peer/ or clients/ID/, copied as an
# admin copies it) brings the tunnel up between the two gateways of tests/harness/gateways.sh
# and carries pings, which the ESP SAs of both sides count (doc/setup.md "The cases"):
#
#   site-to-site     the README example: PSK, 192.0.2.0/25 <-> 192.0.2.128/25
#   host-to-host     ESP transport mode between 198.51.100.1 and 203.0.113.1, PSK
#   site-to-site-v6  endpoints 2001:db8:1::1 <-> 2001:db8:2::1, certificates, two IPv4
#                    networks a side (four selector pairs) and one IPv6 network a side
#   vpn-psk          vpn-server on B (pool 198.51.100.100-110), its client bundle for alice as
#                    the racoon2 road warrior on A: the leased address on A's veth, pings from
#                    it to the network behind B
#   vpn-certs        the same with the generated CA's certificates
#   vpn-eap          the same with auth: eap (the server's certificate, EAP-MSCHAPv2 users):
#                    strongSwan (kernel-netlink) on A logs in with alice's bundle
#   l2tp             the generated l2tp-server behind which tests/vm/l2tp.sh runs xl2tpd and
#                    the Windows 10 L2TP/IPsec client (strongSwan IKEv1 behind a NAT)
#
# kink-host is tests/kink/test_setup_kink.py's, which the kink VM boot runs with ESP.  Prints
# "SETUP CASE OK: CASE (N s)" per case and "SETUP PAIR OK" after all of them.  Needs a kernel with ESP
# (the project's VM: tests/vm/demo_session.sh runs it).  Everything lives in a temporary
# directory and two namespaces, removed at the end; it stops only the processes it started,
# by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/.venv/bin
if [ $# -gt 0 ]; then CASES=("$@"); else
    CASES=(site-to-site host-to-host vpn-psk vpn-certs vpn-eap l2tp site-to-site-v6)
fi
D=$(mktemp -d /tmp/racoon2-setup-pair.XXXXXX)
P=r2set$$
SS=r2setss$$
pids=()
# shellcheck source=../harness/gateways.sh
. tests/harness/gateways.sh
cleanup() {
    bash tests/harness/peers/strongswan.sh stop "$SS" >/dev/null 2>&1 || true
    rm -rf "/tmp/r2-ss-$SS"
    gateway_cleanup
}
trap cleanup EXIT
case=topology
fail() {
    echo "FAILED (setup $case): $*"
    tail -n 30 "$C"/*/iked.log "$C"/*/spmd.log 2>/dev/null || true
    ip -n "${P}a" -s xfrm state || true
    exit 1
}

make_gateways "$P"
# What the other cases add: IPv6 endpoints, a second IPv4 network and an IPv6 one a side,
# the pool's route on B.
ip -n "${P}a" addr add 2001:db8:1::1/128 dev "${P}x" nodad
ip -n "${P}b" addr add 2001:db8:2::1/128 dev "${P}y" nodad
ip -n "${P}a" route add 2001:db8:2::1/128 dev "${P}x"
ip -n "${P}b" route add 2001:db8:1::1/128 dev "${P}y"
ip -n "${P}a" addr add 192.0.2.65/32 dev lo
ip -n "${P}b" addr add 192.0.2.193/32 dev lo
ip -n "${P}a" addr add 2001:db8:a::1/128 dev lo
ip -n "${P}b" addr add 2001:db8:b::1/128 dev lo
ip -n "${P}a" route add 2001:db8:b::/64 dev "${P}x" src 2001:db8:a::1
ip -n "${P}b" route add 2001:db8:a::/64 dev "${P}y" src 2001:db8:b::1
ip -n "${P}b" route add 198.51.100.96/28 dev "${P}y" src 192.0.2.129

# answers CASE: the answer file of CASE for $C/a (racoon2-setup's side).
answers() {
    local dirs="confdir: $C/a
run_dir: $C/a/run"
    case "$1" in
    site-to-site) printf 'case: site-to-site\nlocal: 198.51.100.1\npeer: 203.0.113.1\nlocal_nets: [192.0.2.0/25]\npeer_nets: [192.0.2.128/25]\n' ;;
    host-to-host) printf 'case: host-to-host\nlocal: 198.51.100.1\npeer: 203.0.113.1\n' ;;
    site-to-site-v6)
        printf 'case: site-to-site\nlocal: 2001:db8:1::1\npeer: 2001:db8:2::1\nauth: certificates\n'
        printf 'local_nets: [192.0.2.0/26, 192.0.2.64/26, 2001:db8:a::/64]\n'
        printf 'peer_nets: [192.0.2.128/26, 192.0.2.192/26, 2001:db8:b::/64]\n' ;;
    vpn-*)
        printf 'case: vpn-server\nlocal: 203.0.113.1\nserver_id: vpn.example.net\n'
        printf 'nets: [192.0.2.128/25]\npool: {first: 198.51.100.100, last: 198.51.100.110}\n'
        printf 'dns: [192.0.2.53]\nclients: [alice@example.net]\nclient_interface: %s\n' "${P}x"
        printf 'auth: %s\n' "$(case $1 in vpn-psk) echo psk ;; vpn-certs) echo certificates ;;
                               *) echo eap ;; esac)" ;;
    esac
    echo "$dirs"
}
# start SIDE NS [IKED FLAGS]: spmd and iked of $C/SIDE in NS.
start() {
    mkdir -p -m 700 "$C/$1/run"
    start_gateway "$C" "$@"
    grep -q "listening on" "$C/$1/iked.log" || fail "iked of $1 does not listen"
}
# stop_case: the case's daemons (by PID), then whatever SA or policy they left.
stop_case() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
    for s in a b; do ip -n "$P$s" xfrm state flush; ip -n "$P$s" xfrm policy flush; done
}
# pings SRC DST: the first reply (the ACQUIRE's negotiation), then three more through the SAs.
pings() {
    local ok=
    for _ in $(seq 30); do
        if ip netns exec "${P}a" ping -c1 -W1 -I "$1" -q "$2" >/dev/null 2>&1; then
            ok=yes; break
        fi
    done
    [ -n "$ok" ] || fail "no reply from $2 to $1 through the tunnel"
    ip netns exec "${P}a" ping -c3 -i0.3 -I "$1" "$2" | grep transmitted | sed "s/^/$1 -> $2: /"
}
# counted NS SRC MIN: the ESP SAs from SRC in NS counted at least MIN packets in all.
counted() {
    local n
    n=$(ip -n "$1" -s xfrm state list proto esp src "$2" | grep -oE '[0-9]+\(packets\)' |
        awk -F'(' '{s += $1} END {print s + 0}')
    echo "ESP SAs from $2 in ${1: -1}: ${n:-no} packets"
    [ "${n:-0}" -ge "$3" ] || fail "the ESP SAs from $2 counted ${n:-no} packets"
}

for case in "${CASES[@]}"; do
    C=$D/$case started=$SECONDS
    if [ "$case" = l2tp ]; then
        L2TP_SETUP=1 bash tests/vm/l2tp.sh windows10 || fail "tests/vm/l2tp.sh"
        echo "SETUP CASE OK: $case ($((SECONDS - started)) s)"
        continue
    fi
    mkdir -p "$C"
    answers "$case" >"$C/answers.yaml"
    "$BIN/racoon2-setup" "$C/answers.yaml" >"$C/summary.txt" || fail "racoon2-setup"
    # The other end's directory: peer/ goes to B, a VPN client's bundle to A ("client").
    other=peer there=b
    [[ $case != vpn-* ]] || other=clients/alice@example.net there=client
    cp -a "$C/a/$other" "$C/$there"
    [ "$case" = vpn-eap ] || sed -i "s#$C/a#$C/$there#g" "$C/$there/racoon2.conf"
    case $case in
    site-to-site)
        start a "${P}a"; start b "${P}b"
        pings 192.0.2.1 192.0.2.129
        counted "${P}a" 198.51.100.1 4; counted "${P}a" 203.0.113.1 4 ;;
    host-to-host)
        start a "${P}a"; start b "${P}b"
        pings 198.51.100.1 203.0.113.1
        # (read whole: grep -q stopping early would be ip's SIGPIPE, a failure under pipefail)
        grep -q "mode transport" <<<"$(ip -n "${P}a" xfrm state list proto esp)" ||
            fail "the ESP SAs are not in transport mode"
        counted "${P}a" 198.51.100.1 4; counted "${P}a" 203.0.113.1 4 ;;
    site-to-site-v6)
        start a "${P}a"; start b "${P}b"
        for src in 192.0.2.1 192.0.2.65; do
            for dst in 192.0.2.129 192.0.2.193; do pings "$src" "$dst"; done
        done
        pings 2001:db8:a::1 2001:db8:b::1
        grep -E "CHILD_SA of policy" "$C/a/iked.log" | sed 's/^.*\]: //'
        counted "${P}a" 2001:db8:1::1 20; counted "${P}a" 2001:db8:2::1 20 ;;
    vpn-eap)
        # The generated server on B; strongSwan on A with alice's bundle (iked is no EAP
        # client), its CA in x509ca/; charon puts the leased address on its interface.
        [ ! -e "$C/client/racoon2.conf" ] || fail "an EAP client bundle with a racoon2.conf"
        start a "${P}b"
        mkdir -p "/tmp/r2-ss-$SS/x509ca"
        cp "$C/client/certs/ca.pem" "/tmp/r2-ss-$SS/x509ca/"
        sed -i "s/^  vpn {/  $SS {/; s/^      vpn {/      $SS {/" "$C/client/swanctl.conf"
        NS=${P}a SWANCTL_CONF=$C/client/swanctl.conf KERNEL=netlink KEYLOG=0 LOGLEVEL=1 \
            PLUGINS="eap-identity eap-mschapv2" EXTRA_CHARON="install_virtual_ip = yes
  retransmit_timeout = 2.0
  retransmit_tries = 5" bash tests/harness/peers/strongswan.sh start "$SS" >/dev/null ||
            fail "strongSwan with alice's swanctl.conf"
        bash tests/harness/peers/strongswan.sh ctl "$SS" --initiate --child "$SS" --timeout 120 \
            >"$C/initiate.out" 2>&1 || fail "charon's IKE_AUTH: $(tail -5 "$C/initiate.out")"
        grep -q "EAP-MSCHAPv2 user 'alice@example.net' authenticated" "$C/a/iked.log" ||
            fail "no EAP login logged"
        grep -h "authenticated\|leased" "$C/a/iked.log" | sed 's/^.*\]: //'
        grep -q "198.51.100.100/32" <<<"$(ip -n "${P}a" -4 addr show)" ||
            fail "charon did not install the leased address"
        pings 198.51.100.100 192.0.2.129
        counted "${P}b" 198.51.100.1 4; counted "${P}b" 203.0.113.1 4
        bash tests/harness/peers/strongswan.sh stop "$SS" ;;
    vpn-*)
        # The generated server on B, alice's bundle on A, which initiates at once.
        start a "${P}b"
        start client "${P}a" -S vpn_out_1
        for _ in $(seq 100); do
            grep -q "198.51.100.100/32" <<<"$(ip -n "${P}a" -4 addr show dev "${P}x")" && break
            sleep 0.2
        done
        grep -h "leased" "$C/client/iked.log" | sed 's/^.*\]: //'
        grep -q "198.51.100.100/32" <<<"$(ip -n "${P}a" -4 addr show dev "${P}x")" ||
            fail "the leased address is not on A's interface"
        pings 198.51.100.100 192.0.2.129
        counted "${P}a" 198.51.100.1 4; counted "${P}a" 203.0.113.1 4
        ip -n "${P}a" addr del 198.51.100.100/32 dev "${P}x" 2>/dev/null || true ;;
    *) echo "no case '$case'" >&2; exit 2 ;;
    esac
    stop_case
    echo "SETUP CASE OK: $case ($((SECONDS - started)) s)"
done
echo "SETUP PAIR OK"
