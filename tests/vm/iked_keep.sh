#!/usr/bin/env bash
# iked_keep.sh: iked's restart that keeps the tunnels (--keep-sas, doc/iked.md "Restart") with
# traffic flowing, and the crash case without it.  Two racoon2 gateways (spmd + iked,
# samples/ikev2-tunnel.conf, ESP tunnel; A's CHILD_SAs live 120 s so that one is rekeyed after
# the restart, however slow the VM is to start an iked):
#
#  1. A pings B's network every 100 ms; A's iked is stopped with SIGTERM in keep mode and
#     started again: the pings lost across the restart are counted (target 0), A's kernel SAs
#     must be the same ones before and after (0 stale, 0 missing);
#  2. the restored iked rekeys the CHILD_SA at its soft lifetime, then a plain SIGTERM deletes
#     everything on both sides (B logs the Delete, neither kernel keeps an SA);
#  3. kill -9 of A's iked and a plain restart: the stale SAs are swept, and once the tunnel
#     is up again each gateway holds exactly the two SAs of its one CHILD_SA (B drops the old
#     ones on INITIAL_CONTACT, which A's remote sends here).
#
# Needs a kernel with ESP (the project's VM: tests/vm/test_iked_bundles.py runs it in the
# bundles' boot).  Everything lives in a temporary directory and two namespaces, removed at the
# end; it stops only the processes it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/.venv/bin
D=$(mktemp -d /tmp/racoon2-keep.XXXXXX)
P=r2keep$$
pids=()
# shellcheck source=../harness/gateways.sh
. tests/harness/gateways.sh
trap gateway_cleanup EXIT
fail() {
    echo "FAILED (keep): $*"
    tail -n 40 "$D"/a/iked*.log "$D"/b/iked.log
    ip -n "${P}a" xfrm state
    exit 1
}

make_gateways "$P"

"$BIN/pskgen" -r -s 32 -o "$D/gw_b.psk"
for s in a b; do
    mkdir -p "$D/$s/psk" "$D/$s/run"
    chmod 700 "$D/$s/run"
    "$BIN/pskgen" -r -o "$D/$s/spmd.pwd"
    install -m 600 "$D/gw_b.psk" "$D/$s/psk/gw_b.psk"
    sed -e "s#\"/usr/local/etc/racoon2\"#\"$D/$s\"#" -e "s#/var/run/racoon2/spmif#$D/$s/run/spmif#" \
        samples/ikev2-tunnel.conf >"$D/$s/racoon2.conf"
done
sed -i -e 's#"198.51.100.1"#"@1"#; s#"203.0.113.1"#"198.51.100.1"#; s#"@1"#"203.0.113.1"#' \
    -e 's#"192.0.2.0/25"#"@2"#; s#"192.0.2.128/25"#"192.0.2.0/25"#; s#"@2"#"192.0.2.128/25"#' \
    -e 's#"gw-a.example.net"#"@3"#; s#"gw-b.example.net"#"gw-a.example.net"#' \
    -e 's#"@3"#"gw-b.example.net"#' "$D/b/racoon2.conf"
# initial_contact: after the crash B drops the dead iked's SAs at A's next IKE_AUTH.
sed -i -e 's#ipsec_sa_lifetime_time 1 hour;#ipsec_sa_lifetime_time 120 sec;#' \
    -e 's#dpd_delay 60 sec;#dpd_delay 60 sec; initial_contact on;#' "$D/a/racoon2.conf"
STATE=$D/a/run/iked.state

start_iked() {  # side log [options...]: start iked, wait until it listens; sets IKED
    local s=$1 log=$2
    shift 2
    ip netns exec "$P$s" "$BIN/iked" -j 1 -F -f "$D/$s/racoon2.conf" --ctl-socket "$D/$s/iked.ctl" "$@" >"$log" 2>&1 &
    IKED=$!
    pids+=("$IKED")
    for _ in $(seq 300); do grep -q "listening on" "$log" && return; sleep 0.1; done
    fail "iked on $s did not start"
}
stop() {  # pid signal: signal it and wait for it to end
    kill "-$2" "$1"
    wait "$1" 2>/dev/null || true
}
tunnel_up() {
    for _ in $(seq 30); do
        ip netns exec "${P}a" ping -c1 -W1 -I 192.0.2.1 -q 192.0.2.129 >/dev/null && return
    done
    fail "no reply through the tunnel"
}
spis() {  # side: its ESP SAs as "src dst spi" lines, sorted
    ip -n "$P$1" xfrm state list proto esp | awk '/^src/ {s=$2; d=$4} /proto esp spi/ {print s, d, $4}' |
        sort
}

for s in a b; do
    ip netns exec "$P$s" "$BIN/spmd" -F -f "$D/$s/racoon2.conf" >"$D/$s/spmd.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 300); do [ -S "$D/$s/run/spmif" ] && break; sleep 0.1; done
done
start_iked b "$D/b/iked.log"
start_iked a "$D/a/iked1.log" --keep-sas --state-file "$STATE"
tunnel_up
before=$(spis a)
[ "$(echo "$before" | wc -l)" = 2 ] || fail "A holds $(echo "$before" | wc -l) ESP SAs, not 2"

# 1. The keeping restart, traffic flowing: a ping every 100 ms until the rekey is done.
ip netns exec "${P}a" ping -D -i 0.1 -W 1 -I 192.0.2.1 192.0.2.129 >"$D/ping.txt" 2>&1 &
ping_pid=$!
pids+=("$ping_pid")
sleep 2
t0=$(date +%s.%N)
stop "$IKED" TERM
[ -f "$STATE" ] || fail "no state file after the keeping stop"
mode=$(stat -c %a "$STATE")
[ "$mode" = 600 ] || fail "the state file has mode $mode"
grep -E "saved to" "$D/a/iked1.log"
start_iked a "$D/a/iked2.log" --state-file "$STATE"  # the next start restores, with or without --keep-sas
for _ in $(seq 300); do grep -qE "restored from|cannot restore|deleting it" "$D/a/iked2.log" && break
    sleep 0.1; done
t1=$(date +%s.%N)
grep -q "restored from" "$D/a/iked2.log" || fail "the IKE SA was not restored"
grep -E "restored from|stale" "$D/a/iked2.log" || true
[ ! -e "$STATE" ] || fail "the state file is still there after the start"
after=$(spis a)
[ "$before" = "$after" ] || fail "A's kernel SAs changed across the restart: $before / $after"
echo "KEEP: iked down and up again in $(awk "BEGIN {printf \"%.1f\", $t1 - $t0}") s; A's ESP SAs before and after:"
echo "$after"

# 2. The restored IKE SA rekeys its CHILD_SA (soft lifetime 96-108 s; at once if that passed
#    while no iked ran), then Delete works.
for _ in $(seq 1800); do grep -q "rekeyed: ESP" "$D/a/iked2.log" && break; sleep 0.1; done
grep -q "rekeyed: ESP" "$D/a/iked2.log" || fail "no CHILD_SA rekey after the restart"
grep -E "rekeyed: ESP" "$D/a/iked2.log"
sleep 2
kill -INT "$ping_pid"
wait "$ping_pid" || true
grep -E "transmitted" "$D/ping.txt"
# Lost: the requests without a reply up to the last one answered (the one in flight when the
# ping was interrupted is not lost), each with the time of the reply before it (ping -D), and
# counted against the restart when that lies within it (a second of margin each side).
lost=$(awk -v t0="$t0" -v t1="$t1" '
    match($0, /icmp_seq=[0-9]+/) {
        seq = substr($0, RSTART + 9, RLENGTH - 9) + 0; at[seq] = substr($1, 2) + 0
        if (seq > last) last = seq }
    END { restart = 0; other = 0; prev = 0
        for (s = 1; s <= last; s++) {
            if (s in at) { prev = at[s]; continue }
            if (prev >= t0 - 1 && prev <= t1 + 1) restart++; else other++
            printf "lost icmp_seq=%d, %.1f s after the stop\n", s, prev - t0 }
        print "summary", restart, other, last }' "$D/ping.txt")
grep "^lost" <<<"$lost" || true
read -r _ lost_restart lost_other sent <<<"$(grep "^summary" <<<"$lost")"
echo "KEEP: pings lost across the keeping restart: $lost_restart of $sent (100 ms apart)"
echo "KEEP: pings lost at other times (the CHILD_SA rekey): $lost_other"
[ "$lost_restart" = 0 ] || fail "$lost_restart pings lost across the restart"
stop "$IKED" TERM
grep -q "deleted by the peer" "$D/b/iked.log" || fail "B did not see the Delete"
grep -E "IKE SA .* deleted" "$D/b/iked.log" | tail -1
[ -z "$(spis a)" ] && [ -z "$(spis b)" ] || fail "SAs left after the Delete: $(spis a) / $(spis b)"
echo "KEEP: the Delete after the restart removed every SA on both gateways"

# 3. kill -9 and a plain restart: the stale SAs are swept, the new ones are all there.
start_iked a "$D/a/iked3.log" --state-file "$STATE"
tunnel_up
stop "$IKED" KILL
start_iked a "$D/a/iked4.log" --state-file "$STATE"
grep -E "stale" "$D/a/iked4.log" || fail "no stale SA removed after kill -9"
tunnel_up
for s in a b; do
    n=$(spis $s | wc -l)
    [ "$n" = 2 ] || fail "gateway $s holds $n ESP SAs after the crash and restart, not 2"
done
last=$(grep -E "CHILD_SA of policy .* up: ESP" "$D/a/iked4.log" | tail -1)
spi_in=$(echo "$last" | sed -E 's/.*spi in 0x([0-9a-f]+).*/\1/')
spi_out=$(echo "$last" | sed -E 's/.* out 0x([0-9a-f]+).*/\1/')
spis a | grep -q "0x$spi_in" && spis a | grep -q "0x$spi_out" ||
    fail "A's kernel SAs are not its CHILD_SA's ($spi_in/$spi_out): $(spis a)"
echo "KEEP: after kill -9 and a restart: 0 stale, 0 missing kernel SAs (spi in 0x$spi_in out 0x$spi_out)"
echo "KEEP OK"
