#!/usr/bin/env bash
# lifecycle_traffic.sh: iked's reload, stop and crash with traffic flowing, on a kernel with
# ESP (the project's VM; tests/vm/iked_session.sh runs it beside the rekey runs).
#
# Gateway A (spmd + iked) has three remotes r1-r3, each a gateway Bn of its own (spmd + iked
# in namespace ${P}bn) behind a bridge in A's namespace, each with a tunnel between A's
# 192.0.2.1 and Bn's 192.0.2.(128+n):
#
#   192.0.2.1 (lo) -- A 198.51.100.1 (br) ==== 203.0.113.n Bn -- 192.0.2.(128+n) (lo)
#
# 1. SIGHUP while A pings all three every 100 ms: r1 unchanged (same SPIs, no ping lost), r2
#    changed (its cipher: deleted and renegotiated by the next ACQUIRE), r3 removed (Delete
#    sent: no ESP SA with B3 left in either kernel).
# 2. SIGTERM: Deletes sent, no ESP SA left in any kernel.
# 3. kill -9, restart, the next ACQUIRE: the restarted iked removes the stale SAs, and after
#    the ACQUIREs A and each B hold exactly one ESP SA pair per tunnel (INITIAL_CONTACT makes
#    the Bs drop their old SAs).
# Prints one "LIFECYCLE ..." line per check and "LIFECYCLE OK" at the end; $REKEY_KEEP as in
# rekey_traffic.sh.  Namespaces and a temporary directory, removed at the end; it stops only
# the processes it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/.venv/bin
D=$(mktemp -d /tmp/racoon2-life.XXXXXX)
P=rkvmlc$$
PSK=lifecycle-$$-$RANDOM$RANDOM
pids=()
ping_pids=()
cleanup() {
    for pid in "${ping_pids[@]}" "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${ping_pids[@]}" "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${REKEY_KEEP:-}" ]; then
        mkdir -p "$REKEY_KEEP/lifecycle"
        for s in a b1 b2 b3; do cp "$D/$s/iked.log" "$REKEY_KEEP/lifecycle/iked-$s.log" 2>/dev/null || true; done
    fi
    for s in a b1 b2 b3; do ip netns del "$P$s" 2>/dev/null || true; done
    rm -rf "$D"
}
trap cleanup EXIT
fail() {
    echo "LIFECYCLE FAILED: $*"
    tail -n 40 "$D/a/iked.log"
    for s in a b1 b2 b3; do echo "== $s"; esp "$P$s"; done
    exit 1
}
esp() {  # ns [peer]: "src dst spi" of each ESP SA (with the peer's address at one end)
    ip -n "$1" xfrm state list proto esp |
        awk '/^src/ {src = $2; dst = $4} /proto esp spi/ {print src, dst, $4}' |
        grep -E "${2:-.}" | sort || true
}
count() { esp "$@" | grep -c . || true; }  # ns [peer]: how many

# -- the namespaces ------------------------------------------------------------------------
ip netns add "${P}a"
ip -n "${P}a" link add "${P}br" type bridge
ip -n "${P}a" link set lo up
ip -n "${P}a" link set "${P}br" up
ip -n "${P}a" addr add 198.51.100.1/32 dev "${P}br"
ip -n "${P}a" addr add 192.0.2.1/32 dev lo
for n in 1 2 3; do
    ns=${P}b$n
    ip netns add "$ns"
    ip link add "${P}x$n" netns "${P}a" type veth peer name "${P}y$n" netns "$ns"
    ip -n "${P}a" link set "${P}x$n" master "${P}br" up
    ip -n "${P}a" route add "203.0.113.$n/32" dev "${P}br"
    ip -n "${P}a" route add "192.0.2.$((128 + n))/32" dev "${P}br" src 192.0.2.1
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "${P}y$n" up
    ip -n "$ns" addr add "203.0.113.$n/32" dev "${P}y$n"
    ip -n "$ns" route add 198.51.100.1/32 dev "${P}y$n"
    ip -n "$ns" addr add "192.0.2.$((128 + n))/32" dev lo
    ip -n "$ns" route add 192.0.2.0/28 dev "${P}y$n" src "192.0.2.$((128 + n))"
done

# -- the configurations --------------------------------------------------------------------
common() {  # dir
    cat <<EOF
interface { ike { "$2" port 500; }; spmd { unix "$1/spmif"; }; spmd_password "$1/spmd.pwd"; };
resolver { resolver off; };
ipsec esp_tunnel { ipsec_sa_lifetime_time 1 hour; sa_index esp_sa; };
sa esp_sa { sa_protocol esp; esp_enc_alg { aes256_cbc; }; esp_auth_alg { hmac_sha2_256; }; };
EOF
}
tunnel() {  # name me peer my_net peer_net enc
    cat <<EOF
remote $1 {
    acceptable_kmp { ikev2; };
    ikev2 {
        my_id ipaddr "$2"; peers_id ipaddr "$3"; peers_ipaddr "$3" port 500;
        kmp_enc_alg { $6; }; kmp_prf_alg { hmac_sha2_256; }; kmp_hash_alg { hmac_sha2_256; };
        kmp_dh_group { modp2048; }; kmp_auth_method { psk; }; pre_shared_key "$D/psk";
        interval_to_send 1 sec; max_retry_to_send 3; initial_contact on;
    };
};
selector ${1}_out { direction outbound; src "$4"; dst "$5"; upper_layer_protocol any;
    policy_index ${1}_pol; };
selector ${1}_in { direction inbound; src "$5"; dst "$4"; upper_layer_protocol any;
    policy_index ${1}_pol; };
policy ${1}_pol { action auto_ipsec; remote_index $1; ipsec_mode tunnel;
    ipsec_index { esp_tunnel; }; ipsec_level require; my_sa_ipaddr "$2"; peers_sa_ipaddr "$3"; };
EOF
}
conf_a() {  # the remotes A has: "n:cipher" ...
    common "$D/a" 198.51.100.1
    for r in "$@"; do
        tunnel "r${r%%:*}" 198.51.100.1 "203.0.113.${r%%:*}" 192.0.2.1/32 \
            "192.0.2.$((128 + ${r%%:*}))/32" "${r#*:}"
    done
}
printf '%s' "$PSK" >"$D/psk"
chmod 600 "$D/psk"
for s in a b1 b2 b3; do
    mkdir -p "$D/$s"
    chmod 700 "$D/$s"
    "$BIN/pskgen" -r -o "$D/$s/spmd.pwd"
done
conf_a 1:aes256_cbc 2:aes256_cbc 3:aes256_cbc >"$D/a/racoon2.conf"
for n in 1 2 3; do
    { common "$D/b$n" "203.0.113.$n"
      tunnel a "203.0.113.$n" 198.51.100.1 "192.0.2.$((128 + n))/32" 192.0.2.1/32 \
          "aes256_cbc; aes128_cbc"; } >"$D/b$n/racoon2.conf"
done

start() {  # side: spmd and iked of $D/side in ${P}side
    local d=$D/$1
    ip netns exec "$P$1" "$BIN/spmd" -F -f "$d/racoon2.conf" >"$d/spmd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 300); do [ -S "$d/spmif" ] && break; sleep 0.1; done
    start_iked "$1"
}
start_iked() {  # side: iked alone (spmd runs); its PID in $iked_pid
    local d=$D/$1 n
    n=$(grep -c "listening on" "$d/iked.log" 2>/dev/null || true)
    ip netns exec "$P$1" "$BIN/iked" -j 1 -F -f "$d/racoon2.conf" --ctl-socket "$d/iked.ctl" \
        >>"$d/iked.log" 2>&1 &
    iked_pid=$!
    pids+=($!)
    for _ in $(seq 300); do
        [ "$(grep -c "listening on" "$d/iked.log" || true)" -gt "${n:-0}" ] && break
        sleep 0.1
    done
}
for s in b1 b2 b3 a; do start "$s"; done
a_iked=$iked_pid
up() {  # n...: ping each tunnel until it answers
    for n in "$@"; do
        local ok=
        for _ in $(seq 30); do
            if ip netns exec "${P}a" ping -c1 -W1 -I 192.0.2.1 -q "192.0.2.$((128 + n))" \
                >/dev/null; then ok=yes; break; fi
        done
        [ -n "$ok" ] || fail "no reply through tunnel $n"
    done
}
pairs_ok() {  # n...: A and each Bn hold exactly one matching ESP SA pair with each other
    for n in "$@"; do
        local a b
        a=$(esp "${P}a" "203\.0\.113\.$n "); b=$(esp "${P}b$n")
        [ "$(echo "$a" | grep -c .)" = 2 ] && [ "$a" = "$b" ] || return 1
    done
}
up 1 2 3

# -- 0. ikedctl sa list: every CHILD_SA with the kernel's bytes and packets ------------------
"$BIN/ikedctl" -s "$D/a/iked.ctl" --json sa list >"$D/sas.json" || fail "ikedctl sa list failed"
ip -n "${P}a" -s xfrm state list proto esp >"$D/xfrm.txt"
"$BIN/python" - "$D/sas.json" "$D/xfrm.txt" <<'PY' || fail "ikedctl's counters are not the kernel's"
import json, re, sys
sas = json.load(open(sys.argv[1]))["sas"]
kernel = {int(spi, 16): (int(b), int(p)) for spi, b, p in re.findall(
    r"proto esp spi (0x[0-9a-f]+).*?lifetime current:\s+(\d+)\(bytes\), (\d+)\(packets\)",
    open(sys.argv[2]).read(), re.S)}
children = [c for sa in sas for c in sa["children"] if c["state"] == "installed"]
assert len(children) == 3 and all(c["kernel"] == "installed" for c in children), sas
for c in children:
    for way, spi in (("in", c["spi_in"]), ("out", c["spi_out"])):
        got, want = (c[way]["bytes"], c[way]["packets"]), kernel[int(spi, 16)]
        assert got == want and want[1] > 0, (c, way, want)
print("LIFECYCLE ikedctl sa list: 3 CHILD_SAs, bytes/packets as ip -s xfrm state's:",
      ", ".join(f"in {c['in']['packets']} out {c['out']['packets']} pkts" for c in children))
PY

# -- 1. SIGHUP: r1 unchanged, r2 changed, r3 removed, while pings flow ----------------------
before1=$(esp "${P}a" "203\.0\.113\.1 "); before2=$(esp "${P}a" "203\.0\.113\.2 ")
for n in 1 2; do
    ip netns exec "${P}a" ping -i 0.1 -W 1 -I 192.0.2.1 "192.0.2.$((128 + n))" \
        >"$D/ping$n.log" 2>&1 &
    ping_pids+=($!)
done
sleep 2
conf_a 1:aes256_cbc 2:aes128_cbc >"$D/a/racoon2.conf"
kill -HUP "$a_iked"
for _ in $(seq 50); do grep -q "reloaded " "$D/a/iked.log" && break; sleep 0.1; done
grep "reloaded \|reload refused" "$D/a/iked.log" || fail "no reload in the log"
sleep 6
for pid in "${ping_pids[@]}"; do kill -INT "$pid"; wait "$pid" || true; done
ping_pids=()
lost() { awk '/packets transmitted/ {print $1 - $4 " of " $1}' "$D/ping$1.log"; }
after1=$(esp "${P}a" "203\.0\.113\.1 "); after2=$(esp "${P}a" "203\.0\.113\.2 ")
echo "LIFECYCLE SIGHUP unchanged r1: SPIs $( [ "$before1" = "$after1" ] && echo same ||
    echo changed), pings lost $(lost 1)"
echo "LIFECYCLE SIGHUP changed r2: SPIs $( [ "$before2" != "$after2" ] && echo new ||
    echo same), pings lost $(lost 2)"
echo "LIFECYCLE SIGHUP removed r3: ESP SAs left A $(count "${P}a" "203\.0\.113\.3 ")" \
    "B3 $(count "${P}b3"), B3 log: $(grep -c "deleted by the peer" "$D/b3/iked.log" || true)" \
    "deletion(s) by the peer"
[ "$before1" = "$after1" ] || fail "the unchanged remote's SAs changed"
[ "$(lost 1 | cut -d' ' -f1)" = 0 ] || fail "pings lost through the unchanged remote"
[ "$before2" != "$after2" ] && pairs_ok 1 2 || fail "the changed remote was not renegotiated"
[ -z "$(esp "${P}a" "203\.0\.113\.3 ")" ] && [ -z "$(esp "${P}b3")" ] ||
    fail "SAs of the removed remote left"

# -- 2. SIGTERM: Deletes sent, the kernel SAs gone on both sides ---------------------------
kill -TERM "$a_iked"
wait "$a_iked" || fail "iked exited with status $? on SIGTERM"
sleep 1
left="A $(count "${P}a") B1 $(count "${P}b1") B2 $(count "${P}b2")"
echo "LIFECYCLE SIGTERM: ESP SAs left $left; the Bs' logs: $(cat "$D"/b[12]/iked.log |
    grep -c "IKE SA .* deleted: deleted by the peer" || true) IKE SA(s) deleted by the peer"
[ "$left" = "A 0 B1 0 B2 0" ] || fail "ESP SAs left after SIGTERM"

# -- 3. kill -9, restart, the next ACQUIRE --------------------------------------------------
start_iked a
a_iked=$iked_pid
up 1 2
pairs_ok 1 2 || fail "not one SA pair per tunnel before kill -9"
kill -9 "$a_iked"
wait "$a_iked" 2>/dev/null || true
stale=$(count "${P}a")
start_iked a
a_iked=$iked_pid
removed=$(grep -oE "removed [0-9]+ stale kernel SA\(s\)" "$D/a/iked.log" | tail -1 || true)
left=$(count "${P}a")
up 1 2
sleep 2
echo "LIFECYCLE kill -9: $stale ESP SAs in A's kernel after the kill; restart: ${removed:-none" \
    "removed}, $left left; after the ACQUIREs A $(count "${P}a")" \
    "B1 $(count "${P}b1") B2 $(count "${P}b2") ESP SAs (2 per tunnel)"
[ "$left" = 0 ] || fail "stale SAs left after the restart"
pairs_ok 1 2 || fail "not exactly one SA pair per tunnel after the restart"
echo "LIFECYCLE OK"
