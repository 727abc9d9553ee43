#!/usr/bin/env bash
# systemd_units.sh: systemd/'s units under a real systemd (PID 1 of the VM booted with
# R2VM_INIT=systemd: tests/vm/test_systemd.py).  Gateway A is spmd.service + iked.service +
# kinkd.service (installed by systemd/install-units.sh, samples/ikev2-tunnel.conf at the default
# paths, run in A's namespace by a drop-in; kinkd with its own file, a throwaway MIT realm
# KINK.TEST from tests/harness/kink/realm.sh and its keytab), gateway B spmd + iked by hand
# (tests/harness/gateways.sh):
#
#  1. systemd-analyze verify of the three units; `systemctl start iked` and, at the same time,
#     `systemctl start kinkd` start spmd first (Requires=, After=) and return at READY=1
#     (kinkd's after its TGT);
#  2. a ping brings the tunnel up: `systemctl status iked` shows the SA counts (STATUS=), and
#     `systemctl status kinkd` its principal; `ikedctl status`, `ikedctl sa list --json` and
#     `kinkdctl status` reach the daemons' sockets in /run/racoon2 through the sandbox;
#  3. `systemctl reload iked` (RELOADING=1 ... READY=1) keeps the kernel SAs; a broken file's
#     reload is refused, and `journalctl -u iked -p warning` shows that line and no info line;
#     `journalctl -u iked IKE_SA=...` finds the IKE SA's lines; `systemctl reload kinkd`, then
#     `systemctl stop kinkd` (STOPPING=1: its shutdown line, the unit inactive, spmd active);
#     `spmdctl reload` signals spmd.service's main PID (no pid file under systemd);
#  4. kill -STOP of iked's main PID: the watchdog (WatchdogSec=10 by drop-in) restarts it;
#  5. `systemctl stop iked` sends the Deletes: B logs them, A's kernel keeps no SA;
#  6. systemd-analyze security's exposure levels (doc/systemd.md records them).
# Each step prints "SYSTEMD <step>: ..." lines; "SYSTEMD OK" at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$PWD/.venv/bin
D=$(mktemp -d /tmp/racoon2-sd.XXXXXX)
P=r2sd$$
C=/usr/local/etc/racoon2  # racoon2.paths' local layout: the virtualenv's
# The realm's files where the sandbox lets kinkd read them: PrivateTmp=yes hides /tmp, and
# ProtectHome=yes /root.
REALM=/var/lib/r2sd-realm
KDC_ADDR=203.0.113.88
# The KDC tools live in /usr/sbin, which a non-login PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
pids=()
# shellcheck source=../harness/gateways.sh
. tests/harness/gateways.sh
cleanup() {
    systemctl stop kinkd.service iked.service spmd.service 2>/dev/null || true
    bash tests/harness/kink/realm.sh down "$REALM" 2>/dev/null || true
    # B's daemons, started in a background subshell: the processes of B's namespace.
    for pid in $(ip netns pids "${P}b" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    gateway_cleanup
}
trap cleanup EXIT
fail() {
    echo "FAILED (systemd): $*"
    systemctl status --no-pager spmd iked kinkd || true
    journalctl --no-pager -o short-monotonic -u spmd -u iked -u kinkd | tail -n 60
    tail -n 10 "$REALM/krb5kdc.log" 2>/dev/null || true
    tail -n 20 "$D/b/iked.log"
    exit 1
}
spis() {  # side: its ESP SAs' SPIs, sorted
    ip -n "$P$1" xfrm state list proto esp | awk '/proto esp spi/ {print $4}' | sort
}
tunnel_up() {
    for _ in $(seq 30); do
        ip netns exec "${P}a" ping -c1 -W1 -I 192.0.2.1 -q 192.0.2.129 >/dev/null && return
    done
    fail "no reply through the tunnel"
}
prop() { systemctl show -P "$2" "$1"; }
wait_for() {  # seconds command...: until the command succeeds
    local n=$(($1 * 10))
    shift
    for _ in $(seq "$n"); do "$@" && return; sleep 0.1; done
    return 1
}
journal_has() { journalctl --no-pager -o cat -u "${2:-iked}" | grep -q "$1"; }
first_line() {  # unit pattern: the journal's monotonic time (us) of the unit's first such line
    journalctl --no-pager -o export "_SYSTEMD_UNIT=$1.service" |
        awk -v pat="$2" '/^__MONOTONIC_TIMESTAMP=/ {t = substr($0, 23)}
                         /^MESSAGE=/ && index($0, pat) {print t; exit}'
}

make_gateways "$P"
gateway_conf "$D" b
t0=$(date +%s.%N)
# The KDC (a third host's address on A's loopback, outside the tunnel's selectors) is made
# while B's daemons start.
ip -n "${P}a" addr add "$KDC_ADDR/32" dev lo
rm -rf "$REALM"
(bash tests/harness/kink/realm.sh up "$REALM" "${P}a" "$KDC_ADDR" >"$D/realm.out" 2>&1 &&
 echo "SYSTEMD kinkd realm: KINK.TEST's KDC up after $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}") s") &
realm_pid=$!
# B starts meanwhile A's units do: each Python daemon takes 20 s or more to start under TCG.
(start_gateway "$D" b "${P}b"
 echo "SYSTEMD start by hand: B's spmd and iked after $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}") s") &
b_start=$!

mkdir -p "$C/psk"
"$BIN/pskgen" -r -o "$C/spmd.pwd"
install -m 600 "$D/gw_b.psk" "$C/psk/gw_b.psk"
cp samples/ikev2-tunnel.conf "$C/racoon2.conf"
for d in spmd iked kinkd; do ln -sf "$BIN/$d" "/usr/local/sbin/$d"; done
systemd/install-units.sh
# kinkd's own file (the interface and principal of samples/kink-transport.conf; no SA is
# negotiated here: tests/kink does that), A's spmif and password.
cat >"$C/kinkd.conf" <<EOF
interface {
	kink { 198.51.100.1; };
	spmd { unix "/var/run/racoon2/spmif"; };
	spmd_password "$C/spmd.pwd";
};
default {
	remote {
		acceptable_kmp { kink; };
		kink { my_principal "kink/host-a.example.com@KINK.TEST"; };
	};
};
EOF
"$BIN/kinkd" -n -f "$C/kinkd.conf" >/dev/null || fail "kinkd -n: $C/kinkd.conf"
mkdir -p /etc/systemd/system/kinkd.service.d
printf '[Service]\nExecStart=\nExecStart=kinkd -f %s\nEnvironment=KRB5_CONFIG=%s KRB5_KTNAME=FILE:%s\n' \
    "$C/kinkd.conf" "$REALM/krb5.conf" "$REALM/host-a.keytab" \
    >/etc/systemd/system/kinkd.service.d/realm.conf
for u in spmd iked kinkd; do
    mkdir -p "/etc/systemd/system/$u.service.d"
    printf '[Service]\nNetworkNamespacePath=/run/netns/%s\n' "${P}a" \
        >"/etc/systemd/system/$u.service.d/netns.conf"
    # The test host's Python (pyenv under /root) or the checkout with the venv's daemons (a CI
    # clone under /tmp) may live where the sandbox hides it: ProtectHome=yes hides /root and
    # /home, PrivateTmp=yes /tmp.  A test-only drop-in lets it through.
    for path in "$(readlink -f "$BIN/python3")" "$PWD"; do
        case $path in
            /root/* | /home/*) printf '[Service]\nProtectHome=read-only\n' ;;
            /tmp/*) printf '[Service]\nPrivateTmp=no\n' ;;
        esac
    done >"/etc/systemd/system/$u.service.d/paths.conf"
done
printf '[Service]\nWatchdogSec=10\n' >/etc/systemd/system/iked.service.d/watchdog.conf
systemctl daemon-reload

# 1. verify, start in order
systemd-analyze verify --man=no /etc/systemd/system/{spmd,iked,kinkd}.service 2>"$D/verify" ||
    fail "systemd-analyze verify: $(cat "$D/verify")"
# verify loads the units the host's targets pull in too: the packages' own (freeradius's
# MemoryLimit= under systemd 252) are not ours to judge, only the lines about the rest.
others=$(grep -Ec '^/(usr/)?lib/systemd/system/' "$D/verify" || true)
ours=$(grep -Ev '^/(usr/)?lib/systemd/system/' "$D/verify" || true)
[ -z "$ours" ] || fail "systemd-analyze verify: $ours"
echo "SYSTEMD verify: clean ($others line(s) about the host's packaged units left aside)"
wait "$realm_pid" || fail "the realm: $(cat "$D/realm.out")"
t0=$(date +%s.%N)
# kinkd starts alongside iked: both wait for spmd's READY=1 (one start job).
(systemctl start kinkd.service &&
 echo "SYSTEMD kinkd start: systemctl start kinkd took $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}") s") &
kinkd_start=$!
systemctl start iked.service || fail "systemctl start iked"
t1=$(date +%s.%N)
[ "$(prop spmd ActiveState)/$(prop iked ActiveState)" = active/active ] || fail "not active"
spmd_ready=$(prop spmd ActiveEnterTimestampMonotonic)
iked_exec=$(prop iked ExecMainStartTimestampMonotonic)
[ "$spmd_ready" -le "$iked_exec" ] || fail "iked started before spmd was ready"
echo "SYSTEMD start: spmd ready $(((iked_exec - spmd_ready) / 1000)) ms before iked started;" \
    "systemctl start iked took $(awk "BEGIN {printf \"%.1f\", $t1 - $t0}") s"
for u in spmd iked; do  # exec to READY=1, and to the daemon's first log line
    first=$(journalctl --no-pager -o export "_SYSTEMD_UNIT=$u.service" |
        sed -n 's/^__MONOTONIC_TIMESTAMP=//p' | head -1)
    echo "SYSTEMD start $u: first line $(((first - $(prop $u ExecMainStartTimestampMonotonic)) / 1000)) ms," \
        "READY=1 $((($(prop $u ActiveEnterTimestampMonotonic) - $(prop $u ExecMainStartTimestampMonotonic)) / 1000)) ms after exec"
done
journalctl --no-pager -o cat -u iked | grep -q "listening on 198.51.100.1" ||
    fail "iked's log is not in the journal"
wait "$kinkd_start" || fail "systemctl start kinkd"
[ "$(prop kinkd ActiveState)" = active ] || fail "kinkd not active"
kinkd_exec=$(prop kinkd ExecMainStartTimestampMonotonic)
kinkd_ready=$(prop kinkd ActiveEnterTimestampMonotonic)
[ "$spmd_ready" -le "$kinkd_exec" ] || fail "kinkd started before spmd was ready"
tgt=$(first_line kinkd "got a TGT for kink/host-a.example.com@KINK.TEST")
[ -n "$tgt" ] || fail "kinkd logged no TGT"
[ "$tgt" -le "$kinkd_ready" ] || fail "kinkd's READY=1 came before its TGT"
echo "SYSTEMD kinkd start: spmd ready $(((kinkd_exec - spmd_ready) / 1000)) ms before kinkd" \
    "started; TGT $(((tgt - kinkd_exec) / 1000)) ms, READY=1 $(((kinkd_ready - kinkd_exec) / 1000)) ms after exec"

# 2. STATUS=
wait "$b_start"
wait_for 180 grep -q "listening on" "$D/b/iked.log" || fail "B's iked does not listen"
tunnel_up
wait_for 10 sh -c "systemctl show -P StatusText iked | grep -q '^1 IKE SA(s), 1 CHILD_SA(s)'" ||
    fail "status: $(prop iked StatusText)"
echo "SYSTEMD status: $(systemctl status --no-pager iked | grep 'Status:' | sed 's/^ *//')"
echo "SYSTEMD status spmd: $(prop spmd StatusText)"
kstatus=$(systemctl status --no-pager kinkd | grep 'Status:' | sed 's/^ *//')
grep -q '0 SA pair(s), principal kink/host-a.example.com@KINK.TEST' <<<"$kstatus" ||
    fail "kinkd status: $kstatus"
echo "SYSTEMD kinkd status: $kstatus"

# The control sockets in RuntimeDirectory=racoon2, through the sandbox.
[ "$(stat -c %a /run/racoon2)" = 700 ] || fail "/run/racoon2 is $(stat -c %a /run/racoon2)"
"$BIN/ikedctl" status >"$D/ikedctl.status" || fail "ikedctl status: $(cat "$D/ikedctl.status")"
# The unit's iked answers (its PID), not B's by hand (its own socket: start_gateway).
grep -Eq "^pid +$(prop iked MainPID)$" "$D/ikedctl.status" && grep -Eq "^ike_sas +1$" "$D/ikedctl.status" ||
    fail "ikedctl status: $(cat "$D/ikedctl.status")"
"$BIN/ikedctl" sa list --json >"$D/sa.json" || fail "ikedctl sa list --json: $(cat "$D/sa.json")"
sa_summary=$("$BIN/python3" -c '
import json, sys
sas = json.load(open(sys.argv[1]))["sas"]
assert len(sas) == 1 and sas[0]["state"] == "established", sas
assert sas[0]["peer"].startswith("203.0.113.1["), sas[0]["peer"]
child = sas[0]["children"][0]
assert child["kernel"] == "installed", child
print(sas[0]["name"], sas[0]["peer"], child["spi_in"], child["spi_out"])' "$D/sa.json") ||
    fail "ikedctl sa list --json: $(cat "$D/sa.json")"
for spi in $(awk '{print $3, $4}' <<<"$sa_summary"); do
    spis a | grep -qx "0x$spi" || fail "SPI $spi not in A's kernel: $(spis a)"
done
echo "SYSTEMD ikedctl: $(stat -c '%A %U' /run/racoon2/iked.ctl) /run/racoon2/iked.ctl;" \
    "status $(grep -c . "$D/ikedctl.status") line(s); sa list --json: $sa_summary (SPIs in the kernel)"
"$BIN/kinkdctl" status >"$D/kinkdctl.status" || fail "kinkdctl status: $(cat "$D/kinkdctl.status")"
grep -q "kink/host-a.example.com@KINK.TEST" "$D/kinkdctl.status" ||
    fail "kinkdctl status: $(cat "$D/kinkdctl.status")"
echo "SYSTEMD kinkdctl: $(stat -c '%A %U' /run/racoon2/kinkd.ctl) /run/racoon2/kinkd.ctl;" \
    "status: $(tr -s ' \n' ' ' <"$D/kinkdctl.status")"

# 3. reload keeps the SAs; a refused one is a warning the journal filters by priority
before=$(spis a)
systemctl reload iked.service || fail "systemctl reload iked"
wait_for 20 journal_has "reloaded $C/racoon2.conf: 1 IKE SA(s) kept" || fail "no reload line"
wait_for 10 sh -c '[ "$(systemctl show -P ActiveState iked)" = active ]' || fail "still reloading"
tunnel_up
[ "$(spis a)" = "$before" ] || fail "the reload changed A's SAs: $before / $(spis a)"
echo "SYSTEMD reload: 1 IKE SA kept, ESP SAs unchanged ($(echo $before))"
cp "$C/racoon2.conf" "$D/good.conf"
echo "bogus {" >>"$C/racoon2.conf"
systemctl reload iked.service
wait_for 20 journal_has "reload refused" || fail "no refused reload"
cp "$D/good.conf" "$C/racoon2.conf"
warnings=$(journalctl --no-pager -o cat -u iked -p warning)
grep -q "reload refused: $C/racoon2.conf:" <<<"$warnings" || fail "-p warning: $warnings"
! grep -q "established" <<<"$warnings" || fail "-p warning shows info lines: $warnings"
echo "SYSTEMD journal -p warning: $(wc -l <<<"$warnings") line(s): $(head -1 <<<"$warnings")"
sa=$(journalctl --no-pager -u iked -o export | sed -n 's/^IKE_SA=//p' | head -1)
[ -n "$sa" ] || fail "no IKE_SA field in the journal"
by_sa=$(journalctl --no-pager -o cat -u iked "IKE_SA=$sa")
grep -q "IKE SA $sa established" <<<"$by_sa" || fail "IKE_SA=$sa: $by_sa"
echo "SYSTEMD journal IKE_SA=$sa: $(wc -l <<<"$by_sa") line(s): $(head -1 <<<"$by_sa")"
peer=$(journalctl --no-pager -o cat -u iked PEER=203.0.113.1 | wc -l)
[ "$peer" -ge 1 ] || fail "no line with PEER=203.0.113.1"
echo "SYSTEMD journal PEER=203.0.113.1: $peer line(s)"
kpid=$(prop kinkd MainPID)
systemctl reload kinkd.service || fail "systemctl reload kinkd"
wait_for 20 journal_has "reloaded $C/kinkd.conf; 0 SA pair(s) kept" kinkd || fail "no kinkd reload line"
[ "$(prop kinkd ActiveState)/$(prop kinkd MainPID)" = "active/$kpid" ] || fail "kinkd after the reload"
echo "SYSTEMD kinkd reload: $(journalctl --no-pager -o cat -u kinkd | grep reloaded | tail -1); same PID $kpid"
systemctl stop kinkd.service || fail "systemctl stop kinkd"
journal_has "shutting down: deleting 0 SA pair(s)" kinkd || fail "no kinkd shutdown line"
[ "$(prop kinkd ActiveState)/$(prop kinkd Result)/$(prop spmd ActiveState)" = inactive/success/active ] ||
    fail "after stop: kinkd $(prop kinkd ActiveState)/$(prop kinkd Result), spmd $(prop spmd ActiveState)"
[ ! -e /run/racoon2/kinkd.ctl ] || fail "kinkd left its control socket"
echo "SYSTEMD kinkd stop: inactive (success), its socket gone, spmd active"

# spmdctl reload finds spmd.service's main PID: under systemd there is no pid file.
[ ! -e /var/run/spmd.pid ] || fail "spmd wrote a pid file under systemd"
spid=$(prop spmd MainPID)
"$BIN/spmdctl" --json reload >"$D/spmdctl.reload" || fail "spmdctl reload: $(cat "$D/spmdctl.reload")"
grep -q "\"pid\": $spid" "$D/spmdctl.reload" || fail "spmdctl reload: $(cat "$D/spmdctl.reload")"
wait_for 20 journal_has "reloaded $C/racoon2.conf" spmd || fail "no spmd reload line"
[ "$(prop spmd ActiveState)/$(prop spmd MainPID)" = "active/$spid" ] || fail "spmd after the reload"
echo "SYSTEMD spmdctl reload: SIGHUP to spmd.service's PID $spid: $(journalctl --no-pager -o cat -u spmd | grep reloaded | tail -1)"

# 4. the watchdog restarts a wedged iked
pid=$(prop iked MainPID)
restarts=$(prop iked NRestarts)
t0=$(date +%s.%N)
kill -STOP "$pid"
wait_for 60 sh -c "[ \"\$(systemctl show -P NRestarts iked)\" -gt $restarts ] &&
    [ \"\$(systemctl show -P ActiveState iked)\" = active ]" || fail "no restart after SIGSTOP"
t1=$(date +%s.%N)
journalctl --no-pager -u iked | grep -qi "watchdog timeout" || fail "no watchdog timeout logged"
echo "SYSTEMD watchdog: iked $pid stopped, restarted as $(prop iked MainPID) after" \
    "$(awk "BEGIN {printf \"%.1f\", $t1 - $t0}") s (WatchdogSec=10)"

# 5. stop sends the Deletes
tunnel_up
deletes=$(grep -c "deleted by the peer" "$D/b/iked.log" || true)
systemctl stop iked.service
wait_for 10 sh -c "[ \$(grep -c 'deleted by the peer' $D/b/iked.log) -gt $deletes ]" ||
    fail "B saw no Delete"
[ -z "$(spis a)" ] || fail "A keeps SAs after the stop: $(spis a)"
echo "SYSTEMD stop: B logged the Delete; A's kernel holds no ESP SA;" \
    "spmd $(prop spmd ActiveState)"
journal_has "shutting down: deleting 1 IKE SA(s)" || fail "no shutdown line"

# 6. exposure levels
for u in spmd iked kinkd; do
    echo "SYSTEMD security: $(systemd-analyze security --no-pager "$u.service" | tail -n 1)"
done
echo "SYSTEMD OK"
