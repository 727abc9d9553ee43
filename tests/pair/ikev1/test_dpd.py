"""IKEv1 Dead Peer Detection between two cores in memory (RFC 3706)."""

from __future__ import annotations

from pathlib import Path

from iked.events import ChildSaDown, Dropped, IkeSaDown, IkeSaUp
from iked.ikev1 import dpd, informational
from racoon2.kernel import api

from .harness import INFO, Side, pair, pump, timer

DPD = "\t\tdpd on; dpd_delay 10 sec; dpd_retry 2 sec; dpd_maxfail 3;"


def up(tmp: Path, a_extra: str = DPD, b_extra: str = DPD) -> tuple[Side, Side]:
    """A and B with an ISAKMP SA and an IPsec SA, A's DPD armed at 0 s."""
    a, b = pair(tmp, a={"extra": a_extra}, b={"extra": b_extra})
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    assert len(a.of(IkeSaUp)) == len(b.of(IkeSaUp)) == 1
    return a, b


def test_probe_answered_keeps_the_sa(tmp_path: Path) -> None:
    a, b = up(tmp_path)
    for now in (10.0, 20.0, 30.0):
        timer(a, now)
        timer(b, now)
        wire: list[tuple[str, int, bool]] = []
        # HDR*, HASH(1), N(R-U-THERE) both ways, each answered by N(R-U-THERE-ACK)
        pump(a, b, now=now, wire=wire)
        assert wire.count(("a", INFO, True)) == 2 and wire.count(("b", INFO, True)) == 2
    for s in (a, b):
        (sa,) = s.core.sas.values()
        assert sa.prober is not None and sa.prober.active and sa.prober.failures == 0
        assert not s.of(IkeSaDown)


def test_vanished_peer_declared_dead(tmp_path: Path) -> None:
    a, b = up(tmp_path)
    # dpd_delay 10, then dpd_retry 2 apart: probes at 10, 12, 14; dead at 16.
    for now in (10.0, 12.0, 14.0, 15.9):
        timer(a, now)
    probes = [d for d in a.outbox if d.data[18] == INFO]
    assert len(probes) == 3 and not a.of(IkeSaDown)
    timer(a, 16.0)
    (down,) = a.of(IkeSaDown)
    assert isinstance(down, IkeSaDown) and "the peer is dead: 3 R-U-THERE" in down.reason
    assert len(a.of(ChildSaDown)) == 1 and not a.core.sas
    deletes = [r.op for r in a.core.requests() if isinstance(r.op, api.DelSa)]
    assert len(deletes) == 2  # both IPsec SAs out of the kernel
    # The next ACQUIRE negotiates anew.
    a.core.initiate("sel_out", 20.0)
    pump(a, b, now=20.0)
    assert len(a.of(IkeSaUp)) == 2


def test_no_probes_unless_both_announce(tmp_path: Path) -> None:
    a, b = up(tmp_path, b_extra="\t\tdpd off;")
    (sa,) = a.core.sas.values()
    assert sa.prober is not None and not sa.prober.active
    assert dpd.VENDOR_ID in next(iter(b.core.sas.values())).peer_vendor_ids


def test_replayed_probe_not_answered(tmp_path: Path) -> None:
    a, b = up(tmp_path, b_extra="\t\tdpd on; dpd_delay 0 sec;")
    timer(a, 10.0)
    a.collect()
    (probe,) = list(a.outbox)
    pump(a, b, now=10.0)
    b.outbox.clear()
    b.core.receive_datagram(probe.data, probe.remote, probe.local, 10.5)
    b.collect()
    assert not b.outbox  # the same datagram: its message ID is used (RFC 2408 §3.1)
    assert any(isinstance(e, Dropped) and "replayed" in e.detail for e in b.events)
    # The same sequence number under a new message ID: RFC 3706 §7, not newer than the
    # last answered.
    (sa,) = a.core.sas.values()
    assert sa.prober is not None
    informational.send(sa, (dpd.r_u_there(sa.cookies, sa.prober.next_seq - 1),))
    a.collect()
    (again,) = list(a.outbox)
    b.core.receive_datagram(again.data, again.remote, again.local, 10.6)
    b.collect()
    assert not b.outbox
    assert any(isinstance(e, Dropped) and "not newer" in e.detail for e in b.events)
