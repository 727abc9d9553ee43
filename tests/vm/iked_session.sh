#!/usr/bin/env bash
# iked_session.sh: everything of tests/vm/test_iked_bundles.py in one VM boot.  The three
# rekey runs under traffic (rekey_traffic.sh iked, strongSwan 6.1 with ML-KEM-768 additional
# key exchanges, strongswan-pq, and IKEv1, ikev1; $REKEY_SECONDS each, test_iked_bundles.py
# gives 300; the boot has two vCPUs under TCG: the plain strongswan and iked-pq modes are left to a
# developer's run, tests/interop and tests/pair cover their exchanges), the restart
# keeping the tunnels (iked_keep.sh) start in the background, each in its own namespaces;
# meanwhile the AH, ESP+IPComp and IKEv1 tunnels (iked_bundles.sh) run in the foreground,
# then L2TP/IPsec behind a NAT with the Windows 10 and iOS proposals (l2tp.sh) and MOBIKE
# moves under traffic (mobike_traffic.sh) join the background while reload, stop and crash
# under traffic (lifecycle_traffic.sh) run in the foreground; the background runs' output
# follows.  (racoon2-setup's pairs are tests/vm/demo_session.sh's, a boot of its own.)  The
# exit status is non-zero when any of them failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=$(mktemp -d /tmp/racoon2-session.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
background=()
for peer in iked strongswan-pq ikev1; do
    bash tests/vm/rekey_traffic.sh "$peer" >"$OUT/rekey-$peer.log" 2>&1 &
    background+=($!)
done
bash tests/vm/iked_keep.sh >"$OUT/keep.log" 2>&1 &
background+=($!)
rc=0
# The boot's timeline, to see which part is its critical path.
mark() { echo "== session: $1 at $SECONDS s"; }
for bundle in ah esp+ipcomp ikev1; do bash tests/vm/iked_bundles.sh "$bundle" || rc=1; done
mark "bundles done"
# L2TP/IPsec and MOBIKE (their own namespaces) beside the rest, so that the boot lasts no
# longer for them; MOBIKE's pings lost per move measure how fast both ikeds react, so it
# waits for the start's crowd of daemons to be gone.
bash tests/vm/l2tp.sh >"$OUT/l2tp.log" 2>&1 &
background+=($!)
bash tests/vm/mobike_traffic.sh >"$OUT/mobike.log" 2>&1 &
background+=($!)
bash tests/vm/lifecycle_traffic.sh || rc=1
mark "lifecycle done"
for pid in "${background[@]}"; do wait "$pid" || rc=1; mark "background $pid done"; done
cat "$OUT"/rekey-*.log "$OUT/keep.log" "$OUT/l2tp.log" "$OUT/mobike.log"
exit $rc
