#!/usr/bin/env bash
# demo_session.sh: everything of tests/vm/test_demo.py in one VM boot.  The README's demo
# (tests/harness/demo-tunnel.sh), then the native clients' EAP-MSCHAPv2 logins with a ping
# from their virtual addresses (native_eap.sh) and racoon2-setup's cases, each pair bringing
# its tunnel up (setup_pair.sh); MOBIKE's move behind a NAT under traffic (mobike_traffic.sh
# nat) runs beside the demo, and IKEv1 rekeys against strongSwan under traffic
# (rekey_traffic.sh strongswan-ikev1, 120 s, its logs kept in .vm/rekey/), then the same
# against libreswan (libreswan-ikev1), beside the rest, in namespaces of their own.  Each
# part's output follows a line "== part NAME (rc N, S s)", the background ones' when they are
# done; the exit status is non-zero when any part failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=$(mktemp -d /tmp/racoon2-demo-session.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
rc=0
# part NAME COMMAND...: COMMAND's output under its header, its status and duration.
part() {
    local name=$1 start=$SECONDS status=0
    shift
    "$@" >"$OUT/$name.log" 2>&1 || status=$?
    echo "== part $name (rc $status, $((SECONDS - start)) s)"
    cat "$OUT/$name.log"
    return $status
}
part mobike-nat bash tests/vm/mobike_traffic.sh nat >"$OUT/background" 2>&1 &
background=$!
# One rekey run after the other: as many daemons at once as with one.
(status=0
 for peer in strongswan-ikev1 libreswan-ikev1; do
     part "rekey-$peer" env REKEY_SECONDS=120 REKEY_KEEP=.vm/rekey \
         bash tests/vm/rekey_traffic.sh "$peer" || status=1
 done
 exit $status) >"$OUT/background-rekey" 2>&1 &
rekey=$!
part demo bash tests/harness/demo-tunnel.sh || rc=1
part native bash tests/vm/native_eap.sh || rc=1
part setup bash tests/vm/setup_pair.sh || rc=1
wait "$background" || rc=1
wait "$rekey" || rc=1
cat "$OUT/background" "$OUT/background-rekey"
exit $rc
