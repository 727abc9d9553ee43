"""Make-before-break as the responder of a CHILD_SA rekey (iked.ikev2.child_sa.rekeyed):
its new outbound SA waits until the initiator has its new inbound SA, so that nothing it
sends meets a kernel without the SA.  The initiator's side of the order is
tests/pair/test_expiry.py's test_a_rekey_installs_before_it_removes."""

from __future__ import annotations

from pathlib import Path

from iked.events import ChildSaDown
from iked.ikev2.child_sa import HARD_MARGIN, OUTBOUND_GRACE
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.kernel import api

from .harness import Side, exchange, ike_sas, of, settle, spi_in
from .test_expiry import in_kernel, kernel_log, outbound, up

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL


def rekey_answered(tmp_path: Path, at: float = 5.0, seconds: str = "1 hour"
                   ) -> tuple[Side, Side, list[tuple[str, int]], int, int, api.SaKey]:
    """With CHILD_SAs living ``seconds``, A rekeys its CHILD_SA at ``at`` and B answers: (A, B,
    B's kernel log from the rekey on, B's new inbound and outbound SPIs, the key of B's old
    outbound SA)."""
    sides = up(tmp_path, seconds)
    a, b = sides["a"], sides["b"]
    (old_b,) = ike_sas(b)[0]["children"]
    old_out = outbound(b)
    log = kernel_log(b)
    assert a.core.kernel_event(api.Expire(outbound(a), hard=False), at)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, at)
    assert (m.exchange, m.notifies[0]) == (CREATE, NotifyType.REKEY_SA), m.draw()
    (new_b,) = [c for c in ike_sas(b)[0]["children"] if c["spi_in"] != old_b["spi_in"]]
    new_in, new_out = spi_in(new_b), int(new_b["spi_out"], 16)
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    m = exchange(b, a, at)
    assert (m.exchange, m.response) == (CREATE, True), m.draw()
    # B answered with only its new inbound SA in: A installs its own inbound SA only now,
    # so a packet B sent on the new outbound SA before this would have been dropped.
    assert log == [("update", new_in)]
    assert in_kernel(b, old_out)  # B's traffic goes on the old SA meanwhile
    return a, b, log, new_in, new_out, old_out


def test_the_responder_sends_on_the_new_sa_once_the_initiator_deletes_the_old(
        tmp_path: Path) -> None:
    a, b, log, new_in, new_out, old_out = rekey_answered(tmp_path)
    old_in = next(spi_in(c) for c in ike_sas(b)[0]["children"] if spi_in(c) != new_in)
    # INFORMATIONAL  i -> r  HDR, SK { D(ESP, A's old inbound SPI) }: A's new SAs are in.
    m = exchange(a, b, 5.0)
    assert (m.exchange, m.response) == (INFO, False), m.draw()
    # B's new outbound SA goes in before the old CHILD_SA's two SAs leave.
    assert log == [("update", new_in), ("add", new_out), ("del", old_in), ("del", old_out.spi)]
    assert [e.reason for e in of(b, ChildSaDown)] == ["deleted by the peer"]
    # Nothing is left held: the grace's timer has nothing to do.
    b.core.handle_timer(5.0 + OUTBOUND_GRACE)
    settle(b, 5.0 + OUTBOUND_GRACE)
    assert log.count(("add", new_out)) == 1


def test_the_responder_sends_on_the_new_sa_after_the_grace(tmp_path: Path) -> None:
    """The initiator's Delete does not come (lost, or a peer that sends it late): the new
    outbound SA goes in when OUTBOUND_GRACE has passed; the old SA stays till the Delete."""
    a, b, log, new_in, new_out, old_out = rekey_answered(tmp_path)
    a.take()  # A's Delete of the old CHILD_SA is lost
    b.core.handle_timer(5.0 + OUTBOUND_GRACE / 2)
    settle(b, 5.0 + OUTBOUND_GRACE / 2)
    assert log == [("update", new_in)]
    b.core.handle_timer(5.0 + OUTBOUND_GRACE)
    settle(b, 5.0 + OUTBOUND_GRACE)
    assert log == [("update", new_in), ("add", new_out)]
    assert in_kernel(b, old_out)  # until the peer's Delete
    assert len(ike_sas(b)[0]["children"]) == 2


def test_the_old_sa_hard_lifetime_releases_the_new_outbound_sa(tmp_path: Path) -> None:
    """The old outbound SA reaches its hard lifetime before the Delete and the grace: the new
    outbound SA takes over before the rest of the old CHILD_SA is removed."""
    a, b, log, new_in, new_out, old_out = rekey_answered(tmp_path)
    assert b.core.kernel_event(api.Expire(old_out, hard=True), 6.0)
    settle(b, 6.0)
    assert log[:2] == [("update", new_in), ("add", new_out)]
    assert ("del", old_out.spi) in log[2:]
    assert [e.reason for e in of(b, ChildSaDown)] == ["hard lifetime expired"]


def test_the_new_outbound_sa_goes_in_before_the_old_sas_hard_lifetime(tmp_path: Path) -> None:
    """The old CHILD_SA (10 s) reaches its hard lifetime before the grace is over and the
    Delete has not come: the new outbound SA goes in HARD_MARGIN before that, not when the
    kernel's EXPIRE arrives, by which time the kernel has removed the old outbound SA and
    our packets have found none (seen on the loaded VM of tests/vm/rekey_traffic.sh)."""
    a, b, log, new_in, new_out, old_out = rekey_answered(tmp_path, at=8.5, seconds="10 sec")
    assert 8.5 + OUTBOUND_GRACE > 10.0 - HARD_MARGIN
    a.take()  # A's Delete of the old CHILD_SA is late
    b.core.handle_timer(8.9)
    settle(b, 8.9)
    assert log == [("update", new_in)]
    b.core.handle_timer(10.0 - HARD_MARGIN)
    settle(b, 10.0 - HARD_MARGIN)
    assert log == [("update", new_in), ("add", new_out)]
    assert in_kernel(b, old_out)  # until the kernel's hard expiry or the peer's Delete
