"""The environment of IKEv1's phase1_up, phase2_up and phase2_rekey hooks (daemons.md §7)."""

from __future__ import annotations

from pathlib import Path

from iked.events import ChildSaUp, IkeSaUp
from iked.hooks import phase1_env, phase2_env
from racoon2.kernel import api

from .harness import A, B, pair, pump


def test_hook_environments(tmp_path: Path) -> None:
    """daemons.md §7: phase1_* get LOCAL_ADDR, LOCAL_PORT, REMOTE_ADDR, REMOTE_PORT and
    nothing else; phase2_* (IKEv1's run them as IKEv2's do) the SA ends, the selector, the
    mode, the first traffic selectors and the upper layer protocol, in that order.  A Quick
    Mode rekey on soft EXPIRE (RFC 2409 §5.5) is a phase2_rekey with the same environment;
    IKEv1 has no phase1_rekey (each ISAKMP SA is a phase1_up)."""
    a, b = pair(tmp_path, a={"src": "198.51.100.0/24", "dst": "203.0.113.0/24"},
                b={"src": "203.0.113.0/24", "dst": "198.51.100.0/24"}, tunnel=True)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    for s, me, peer in ((a, A, B), (b, B, A)):
        (up,) = s.of(IkeSaUp)
        assert isinstance(up, IkeSaUp) and up.rekey_of is None  # phase1_up
        assert phase1_env(up.local.addr, up.local.port, up.remote.addr, up.remote.port,
                          up.key_exchanges, up.leases, up.ppk) == [
            ("LOCAL_ADDR", me), ("LOCAL_PORT", "500"), ("REMOTE_ADDR", peer),
            ("REMOTE_PORT", "500")]
    old = next(x for x in a.installed if str(x.dst) == B)
    assert a.core.kernel_event(api.Expire(old.key, hard=False), 5.0)
    pump(a, b, now=5.0)
    # SELECTOR_INDEX: each end's outbound selector, as IKEv2's.
    for s, me, peer, mine, theirs in ((a, A, B, "198.51.100.0", "203.0.113.0"),
                                      (b, B, A, "203.0.113.0", "198.51.100.0")):
        first, again = (e for e in s.events if isinstance(e, ChildSaUp))
        assert not first.rekey and again.rekey       # phase2_up, then phase2_rekey
        for e in (first, again):
            assert phase2_env(e.hook) == [
                ("LOCAL_ADDR", me), ("REMOTE_ADDR", peer), ("SELECTOR_INDEX", "sel_out"),
                ("IPSEC_MODE", "tunnel"), ("LOCAL_NET_ADDR", mine),
                ("LOCAL_NET_PREFIXLEN", "24"), ("LOCAL_NET_PORT", "0"),
                ("REMOTE_NET_ADDR", theirs), ("REMOTE_NET_PREFIXLEN", "24"),
                ("REMOTE_NET_PORT", "0"), ("UPPER_LAYER_PROTOCOL", "any")], (s, e.hook)
