#!/usr/bin/env bash
# native_eap.sh [PROFILE...]: the VPN server of doc/iked.md ("VPN server for phones and
# laptops", samples/roadwarrior-eap.conf as it stands: certificate, EAP-MSCHAPv2 against the
# users file, a pool) with strongSwan 5.9 (kernel-netlink, eap-mschapv2) proposing as the
# native clients do (PROFILE windows, ios, android; all three by default; the lists are
# tests/interop/test_eap_interop.py's PROFILES).  Each client logs in as alice, gets its
# virtual address from the pool, installs it, and pings a host behind the gateway through
# the ESP tunnel from it; the gateway's ESP SAs of that client count the pings both ways.
#
#   client 203.0.113.2 ==[ IKEv2 EAP, ESP ]== 203.0.113.1 gateway 192.0.2.1 -- 192.0.2.10 host
#   virtual address 198.51.100.1x  ---------------- ping ---------------->  192.0.2.10
#
# Prints "NATIVE RESULT PROFILE: vip=A proposal=P packets_out=N packets_in=M" and
# "NATIVE OK: PROFILE" per profile.  Needs a kernel with ESP (the project's VM:
# tests/vm/demo_session.sh runs it).  Three namespaces and a temporary directory, removed at
# the end; it stops only the processes it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/.venv/bin
if [ $# -gt 0 ]; then PROFILES=("$@"); else PROFILES=(windows ios android); fi
D=$(mktemp -d /tmp/racoon2-native.XXXXXX)
P=r2nat$$
SS=native$$
pids=()
cleanup() {
    bash tests/harness/peers/strongswan.sh stop "$SS" >/dev/null 2>&1 || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for n in c g h; do ip netns del "$P$n" 2>/dev/null || true; done
    rm -rf "$D" "/tmp/r2-ss-$SS"
}
trap cleanup EXIT
profile=setup
fail() {
    echo "FAILED (native $profile): $*"
    tail -n 40 "$D"/g/iked.log "$D"/g/spmd.log "/tmp/r2-ss-$SS/charon.log" 2>/dev/null || true
    ip -n "${P}g" -s xfrm state || true
    ip -n "${P}c" xfrm policy || true
    exit 1
}

for n in c g h; do ip netns add "$P$n"; ip -n "$P$n" link set lo up; done
ip link add "${P}c0" netns "${P}c" type veth peer name "${P}g0" netns "${P}g"
ip link add "${P}g1" netns "${P}g" type veth peer name "${P}h0" netns "${P}h"
ip -n "${P}c" addr add 203.0.113.2/24 dev "${P}c0"; ip -n "${P}c" link set "${P}c0" up
ip -n "${P}c" route add default via 203.0.113.1
ip -n "${P}g" addr add 203.0.113.1/24 dev "${P}g0"; ip -n "${P}g" link set "${P}g0" up
ip -n "${P}g" addr add 192.0.2.1/24 dev "${P}g1"; ip -n "${P}g" link set "${P}g1" up
# The pool's route, as the gateway's default route would be; the policies pick the tunnel.
ip -n "${P}g" route add 198.51.100.0/24 dev "${P}g0"
ip netns exec "${P}g" sysctl -qw net.ipv4.ip_forward=1
ip -n "${P}h" addr add 192.0.2.10/24 dev "${P}h0"; ip -n "${P}h" link set "${P}h0" up
ip -n "${P}h" route add default via 192.0.2.1

# The server's certificate (vpn.example.net, the sample's my_id) from a CA the client trusts.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.pem" -days 2 \
    -subj "/CN=racoon2 test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$D/vpn.key" -out "$D/vpn.csr" \
    -subj "/CN=vpn.example.net" 2>/dev/null
printf 'subjectAltName=DNS:vpn.example.net\nextendedKeyUsage=serverAuth,1.3.6.1.5.5.7.3.17\n' \
    >"$D/vpn.ext"
openssl x509 -req -in "$D/vpn.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial \
    -out "$D/vpn.pem" -days 2 -extfile "$D/vpn.ext" 2>/dev/null

# shellcheck source=../harness/gateways.sh
. tests/harness/gateways.sh
# (the sample names two files on one line: the second one's directory too)
SAMPLE=samples/roadwarrior-eap.conf gateway_conf "$D" g -e "s#/usr/local/etc/racoon2/#$D/g/#g"
install -m 600 "$D/vpn.key" "$D/g/vpn.key"
cp "$D/vpn.pem" "$D/g/vpn.pem"
printf 'alice plain:alice-password\n' >"$D/g/vpn.users"
chmod 600 "$D/g/vpn.users"
start_gateway "$D" g "${P}g"
grep -q "listening on" "$D/g/iked.log" || fail "iked does not listen"

# The client: one connection per profile, each alice with EAP-MSCHAPv2 and a virtual IPv4.
mkdir -p "/tmp/r2-ss-$SS/x509ca"
cp "$D/ca.pem" "/tmp/r2-ss-$SS/x509ca/ca.pem"
proposals() {  # PROFILE: its IKE and ESP proposals in strongSwan's notation
    case "$1" in
    windows) echo "aes256-aes128-3des-sha1-sha256-sha384-modp1024 aes256-aes128-3des-sha1" ;;
    ios) echo "aes256-sha256-modp2048,aes256-sha256-ecp256,aes128-sha1-modp1024,3des-sha1-modp1024" \
              "aes256-sha256,aes128-sha1,3des-sha1" ;;
    android) echo "aes256-aes192-aes128-sha512-sha384-sha256-prfsha512-prfsha384-prfsha256-modp4096-curve25519-modp3072-modp2048" \
                  "aes256-aes192-aes128-sha512-sha384-sha256" ;;
    *) echo "PROFILE must be windows, ios or android" >&2; exit 2 ;;
    esac
}
{
    echo "connections {"
    for p in "${PROFILES[@]}"; do
        read -r ike esp <<<"$(proposals "$p")"
        cat <<CONN
  $p {
    version = 2
    local_addrs = 203.0.113.2
    remote_addrs = 203.0.113.1
    proposals = $ike
    vips = 0.0.0.0
    rekey_time = 0
    local { auth = eap-mschapv2
            eap_id = alice
            id = 203.0.113.2 }
    remote { auth = pubkey
             id = vpn.example.net }
    children {
      $p { remote_ts = 192.0.2.0/24
           esp_proposals = $esp
           rekey_time = 0
           start_action = none }
    }
  }
CONN
    done
    printf '}\nsecrets {\n  eap-alice {\n    id = alice\n    secret = "alice-password"\n  }\n}\n'
} >"$D/swanctl.conf"
# charon puts the virtual address on its interface (strongswan.sh's default is not to) and
# waits longer than strongswan.sh's 1 s before retransmitting: iked's RSA signature and
# MSCHAPv2 take seconds in the VM under TCG on a busy host (later settings override).
extra="install_virtual_ip = yes
  retransmit_timeout = 2.0
  retransmit_tries = 5"
NS=${P}c SWANCTL_CONF=$D/swanctl.conf KERNEL=netlink KEYLOG=0 LOGLEVEL=1 PLUGINS="eap-identity eap-mschapv2" \
    EXTRA_CHARON=$extra bash tests/harness/peers/strongswan.sh start "$SS" >/dev/null

# packets NS SRC: the packet counter of NS's ESP SA from SRC.
packets() {
    ip -n "$1" -s xfrm state list proto esp src "$2" | grep -oE '[0-9]+\(packets\)' |
        grep -oE '^[0-9]+' | head -1
}
for profile in "${PROFILES[@]}"; do
    seen=$(wc -l <"/tmp/r2-ss-$SS/charon.log")
    bash tests/harness/peers/strongswan.sh ctl "$SS" --initiate --child "$profile" --timeout 120 \
        >"$D/initiate.out" 2>&1 || fail "charon's IKE_AUTH: $(tail -5 "$D/initiate.out")"
    log=$(tail -n +"$((seen + 1))" "/tmp/r2-ss-$SS/charon.log")
    vip=$(echo "$log" | grep -oE "installing new virtual IP 198\.51\.100\.[0-9]+" |
          grep -oE '[0-9.]+$' | head -1)
    [ -n "$vip" ] || fail "no virtual address installed"
    grep -q " $vip/" <<<"$(ip -n "${P}c" -o addr show)" ||
        fail "$vip is on none of the client's interfaces"
    proposal=$(echo "$log" | grep -oE "selected proposal: IKE:[^ ]+" | head -1 | cut -d: -f3-)
    ip netns exec "${P}c" ping -c3 -i0.3 -W2 -I "$vip" 192.0.2.10 | grep transmitted ||
        fail "no reply from 192.0.2.10 through the tunnel"
    out=$(packets "${P}g" 203.0.113.1)
    in=$(packets "${P}g" 203.0.113.2)
    echo "NATIVE RESULT $profile: vip=$vip proposal=$proposal packets_out=${out:-0} packets_in=${in:-0}"
    [ "${out:-0}" -ge 3 ] && [ "${in:-0}" -ge 3 ] || fail "the gateway's ESP SAs counted ${out:-no}/${in:-no} packets"
    grep -q "EAP-MSCHAPv2 user 'alice' authenticated" "$D/g/iked.log" || fail "no EAP login logged"
    bash tests/harness/peers/strongswan.sh ctl "$SS" --terminate --ike "$profile" >/dev/null 2>&1 ||
        true
    for _ in $(seq 50); do
        [ -z "$(ip -n "${P}g" xfrm state list proto esp)" ] && break
        sleep 0.2
    done
    [ -z "$(ip -n "${P}g" xfrm state list proto esp)" ] || fail "the gateway kept ESP SAs"
    echo "NATIVE OK: $profile"
done
