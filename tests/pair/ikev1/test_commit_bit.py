"""The commit bit in Quick Mode (RFC 2408 §3.1 C flag, RFC 2409 §5.5) is tolerated."""

from __future__ import annotations

from pathlib import Path

import pytest

from iked.events import ChildSaUp, Dropped, NegotiationFailed
from iked.ikev1 import informational
from racoon2.ikev1 import message
from racoon2.ikev1.constants import FLAG_COMMIT, Doi, NotifyType, ProtocolId
from racoon2.ikev1.payloads import Notification

from .harness import QM, Side, flush, pair


def _pump_committing(a: Side, b: Side, who: Side) -> list[bool]:
    """Deliver until quiet, setting the C flag on ``who``'s Quick Mode messages (the header
    is not covered by HASH(1..3), RFC 2409 §5.5); the C flag of each QM delivered."""
    seen: list[bool] = []
    busy = True
    while busy:
        busy = False
        for sender, receiver in ((a, b), (b, a)):
            flush(sender, 0.0)
            while sender.outbox:
                busy = True
                d = sender.outbox.popleft()
                data = d.data
                if message.decode_header(data).exchange == QM:
                    if sender is who:
                        data = data[:19] + bytes([data[19] | FLAG_COMMIT]) + data[20:]
                    seen.append(message.decode_header(data).commit)
                receiver.core.receive_datagram(data, d.remote, d.local, 0.0)
    return seen


@pytest.mark.parametrize("committer", ["initiator", "responder"])
def test_a_commit_bit_is_tolerated(tmp_path: Path, committer: str) -> None:
    """RFC 2408 §3.1: the end that did not set C "MUST wait for" the setter's CONNECTED
    notify.  iked does not: it installs its SAs as without the flag (the responder's
    outbound SA on HASH(3), the initiator's on QM2) and sends no CONNECTED itself; a
    CONNECTED that does come (racoon's, RFC 2409 §5.5 HASH(4)) is taken without effect."""
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    who = a if committer == "initiator" else b
    flags = _pump_committing(a, b, who)
    # QM1 (a), QM2 (b), QM3 (a): the committer's ones carry C.
    assert flags == ([True, False, True] if who is a else [False, True, False])
    for s in (a, b):
        assert not s.of(NegotiationFailed) and not s.of(Dropped)
        assert len(s.of(ChildSaUp)) == 1
        assert len([k for k, (_, _, larval) in s.kernel.sas.items() if not larval]) == 2
    # The committer's CONNECTED (a status notify, RFC 2408 §3.14.1): no drop, no change.
    (sa,) = who.core.sas.values()
    informational.send(sa, (Notification(Doi.IPSEC, ProtocolId.IPSEC_ESP, NotifyType.CONNECTED,
                                         sa.children[0].spi_in.to_bytes(4, "big")),))
    other = b if who is a else a
    before = dict(other.kernel.sas)
    _pump_committing(a, b, who)
    assert not other.of(Dropped) and other.kernel.sas == before
    (left,) = other.core.sas.values()
    assert len(left.children) == 1
