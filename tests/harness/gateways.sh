# Sourced by the two-gateway scripts (demo-tunnel.sh, tests/vm/iked_bundles.sh): namespaces
# ${P}a and ${P}b joined by the veth pair ${P}x/${P}y, each gateway with its inner address on lo
# and a route to the other side's network through the veth:
#
#   192.0.2.1 (lo) -- A 198.51.100.1 ==== 203.0.113.1 B -- 192.0.2.129 (lo)
#
# gateway_cleanup is the EXIT trap for a caller with nothing else to undo; others remove the
# namespaces (ip netns del) in their own cleanup.

gateway_side() {  # ns dev gw peer_gw inner peer_net
    ip -n "$1" link set lo up
    ip -n "$1" link set "$2" up
    ip -n "$1" addr add "$3/32" dev "$2"
    ip -n "$1" route add "$4/32" dev "$2"
    ip -n "$1" addr add "$5/32" dev lo
    ip -n "$1" route add "$6" dev "$2" src "$5"
}

gateway_cleanup() {  # stop the caller's pids, remove ${P}a, ${P}b and $D
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "${P}a" 2>/dev/null || true
    ip netns del "${P}b" 2>/dev/null || true
    rm -rf "$D"
}

make_gateways() {  # P: the namespace and veth prefix
    ip netns add "$1a"
    ip netns add "$1b"
    ip link add "$1x" netns "$1a" type veth peer name "$1y" netns "$1b"
    gateway_side "$1a" "$1x" 198.51.100.1 203.0.113.1 192.0.2.1 192.0.2.128/25
    gateway_side "$1b" "$1y" 203.0.113.1 198.51.100.1 192.0.2.129 192.0.2.0/25
}

# gateway_conf D s [SED ARGS...]: $D/$s/racoon2.conf from $SAMPLE (samples/ikev2-tunnel.conf;
# samples/ikev1-tunnel.conf works too) for side a or b (b's addresses, networks and IDs
# swapped), its files under $D/$s, the shared key $D/gw_b.psk (made once); the SED ARGS edit
# it further.  Needs $BIN (the venv's bin).
gateway_conf() {
    local d=$1/$2 s=$2
    shift 2
    [ -e "$(dirname "$d")/gw_b.psk" ] || "$BIN/pskgen" -r -s 32 -o "$(dirname "$d")/gw_b.psk"
    mkdir -p "$d/psk" "$d/run"
    chmod 700 "$d/run"
    "$BIN/pskgen" -r -o "$d/spmd.pwd"
    install -m 600 "$(dirname "$d")/gw_b.psk" "$d/psk/gw_b.psk"
    # The IKEv2 sample quotes its directory and addresses, the IKEv1 sample writes them bare.
    sed -e "s#\"/usr/local/etc/racoon2\"#\"$d\"#" -e "s#/usr/local/etc/racoon2/#$d/#" \
        -e "s#/var/run/racoon2/spmif#$d/run/spmif#" \
        "$@" "${SAMPLE:-samples/ikev2-tunnel.conf}" >"$d/racoon2.conf"
    if [ "$s" = b ]; then
        sed -i -e 's#198\.51\.100\.1\b#@1#g; s#203\.0\.113\.1\b#198.51.100.1#g; s#@1#203.0.113.1#g' \
            -e 's#192\.0\.2\.0/25#@2#g; s#192\.0\.2\.128/25#192.0.2.0/25#g; s#@2#192.0.2.128/25#g' \
            -e 's#gw-a\.example\.net#@3#g; s#gw-b\.example\.net#gw-a.example.net#g' \
            -e 's#@3#gw-b.example.net#g' "$d/racoon2.conf"
    fi
}

# start_gateway D s NS [IKED FLAGS]: spmd and iked (with IKED FLAGS) of $D/$s in namespace NS,
# logs in $D/$s/{spmd,iked}.log, iked's control socket $D/$s/run/iked.ctl (the default one
# belongs to whichever iked of the machine comes first: tests/vm/systemd_units.sh's
# iked.service), their PIDs appended to the caller's array pids; returns once iked listens.
# No `iked -n` first: the daemons refuse a broken file themselves (tests/daemons proves it),
# and under TCG each Python start costs the VM seconds.
start_gateway() {
    local d=$1/$2
    ip netns exec "$3" "$BIN/spmd" -F -f "$d/racoon2.conf" >"$d/spmd.log" 2>&1 &
    pids+=($!)
    # Up to a minute each: a VM under TCG on a loaded host starts Python slowly.
    for _ in $(seq 600); do [ -S "$d/run/spmif" ] && break; sleep 0.1; done
    ip netns exec "$3" "$BIN/iked" -j 1 -F -f "$d/racoon2.conf" --ctl-socket "$d/run/iked.ctl" \
        "${@:4}" >"$d/iked.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 600); do grep -q "listening on" "$d/iked.log" && break; sleep 0.1; done
}
