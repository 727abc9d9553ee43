"""Replayed IKEv1 datagrams are dropped and counted, and change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from iked.events import Dropped, DropReason
from iked.ikev1 import informational, quick_mode
from racoon2.ikev1 import message
from racoon2.ikev1.constants import Doi, NotifyType, ProtocolId
from racoon2.ikev1.payloads import Notification
from racoon2.net import Endpoint

from .harness import INFO, MM, QM, pair, pump, timer


@pytest.mark.parametrize("later", [2.0, 2.0 + quick_mode.LINGER], ids=["lingering", "after"])
def test_replays_are_dropped_and_counted(tmp_path: Path, later: float) -> None:
    """Every message A sent B, replayed once phase 1, Quick Mode and an Informational are
    done, while B's Quick Mode task still lingers and after: MM1, MM3, MM5 (RFC 2409 §5),
    QM1, QM3 (§5.5; RFC 2408 §3.1: a message ID is one exchange's) and the Informational
    (§5.7) are each dropped and counted; B sends nothing, reports nothing else, and its
    SAs and kernel stay as they were."""
    a, b = pair(tmp_path)
    seen: list[tuple[bytes, Endpoint, Endpoint]] = []
    receive = b.core.receive_datagram

    def record(data: bytes, local: Endpoint, remote: Endpoint, now: float) -> None:
        seen.append((data, local, remote))
        receive(data, local, remote, now)

    b.core.receive_datagram = record  # type: ignore[method-assign]
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    (sa_a,) = a.core.sas.values()
    # A status notify B acts on by no more than reading it (HDR*, HASH(1), N).
    informational.send(sa_a, (Notification(Doi.IPSEC, ProtocolId.IPSEC_ESP,
                                           NotifyType.CONNECTED, bytes(4)),))
    pump(a, b, now=1.0)
    b.core.receive_datagram = receive  # type: ignore[method-assign]
    assert [message.decode_header(d).exchange for d, _, _ in seen] == \
        [MM, MM, MM, QM, QM, INFO]
    timer(b, later)
    events, kernel = len(b.events), dict(b.kernel.sas)
    status = b.core.status()
    for data, local, remote in seen:
        b.core.receive_datagram(data, local, remote, later)
    b.collect()
    assert not b.outbox and not b.core.requests()
    assert all(isinstance(e, Dropped) for e in b.events[events:])
    assert len(b.events) - events == len(seen) == sum(b.core.dropped.values())
    # Phase 1 in ESTABLISHED: not valid in this state; phase 2: a used message ID.
    assert b.core.dropped == {DropReason.UNEXPECTED: 3, DropReason.STALE: 3}
    assert b.kernel.sas == kernel
    assert b.core.status()["isakmp_sas"] == status["isakmp_sas"]
