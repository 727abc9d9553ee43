"""A CHILD_SA rekey that fails leaves both sides consistent (RFC 7296 §1.3.3, §2.8): the old
CHILD_SA carries traffic on both sides as before, the rekey is tried again after a random
wait, and the old CHILD_SA's hard lifetime deletes it with a Delete if no rekey succeeds.

Before, a refusal other than TEMPORARY_FAILURE was never retried (the CHILD_SA died at its
hard lifetime), a responder that refused after choosing the CHILD_SA kept it marked as
replaced (its own soft expiry then never rekeyed it), and an answer the initiator refused left
the responder holding the new CHILD_SA.  A and B on samples/ikev2-transport.conf, virtual
clock; A's soft expiry at t = 10.
"""

from __future__ import annotations

import pytest

from iked.events import ChildSaDown, NegotiationFailed
from racoon2.errors import KernelError
from racoon2.ikev2.constants import ExchangeType, NotifyType, ProtocolId
from racoon2.ikev2.payloads import Delete
from racoon2.kernel import api

from . import internals
from .harness import Msg, Side, exchanges, ike_sas, of, pump
from .test_collisions import inbound, kernel_spis, one_pair_per_policy, up

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL


def _soft_expiry(pair: dict[str, Side], side: str, now: float) -> list[Msg]:
    wire: list[Msg] = []
    assert pair[side].core.kernel_event(api.Expire(inbound(pair[side]), hard=False), now)
    pump(pair, now, record=wire)
    return wire


@pytest.mark.parametrize("kind", [NotifyType.NO_PROPOSAL_CHOSEN, NotifyType.TS_UNACCEPTABLE])
def test_a_refused_rekey_keeps_the_old_child_sa_and_is_retried(
        pair: dict[str, Side], monkeypatch: pytest.MonkeyPatch, kind: NotifyType) -> None:
    up(pair)
    a = pair["a"]
    before = one_pair_per_policy(pair)
    internals.refuse_child_offers(monkeypatch, pair["b"], kind)
    #   A                                             B
    #   HDR, SK { N(REKEY_SA), SA, Ni, TSi, TSr } -->
    #                                             <-- HDR, SK { N(kind) }
    wire = _soft_expiry(pair, "a", 10.0)
    assert exchanges(wire) == [(CREATE, False), (CREATE, True)]
    assert wire[1].notifies == [kind], wire[1].draw()
    assert of(a, NegotiationFailed)[-1].reason == kind.name
    # Both sides keep the old pair, nothing else in either kernel (A's offered SPI is gone).
    assert one_pair_per_policy(pair) == before
    # RFC 7296 §2.25's wait (5 to 15 s, as strongSwan), then the rekey again: it succeeds.
    (when,) = internals.retry_times(a)
    assert 15.0 <= when <= 25.0
    a.core.handle_timer(when - 0.1)
    assert pump(pair, when - 0.1) == 0
    a.core.handle_timer(when)
    wire.clear()
    pump(pair, when, record=wire)
    assert exchanges(wire) == [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    after = one_pair_per_policy(pair)
    assert after[0] != before[0] and after[1] != before[1]


def test_a_rekey_refused_until_the_hard_lifetime_ends_with_a_delete(
        pair: dict[str, Side], monkeypatch: pytest.MonkeyPatch) -> None:
    up(pair)
    a, b = pair["a"], pair["b"]
    internals.refuse_child_offers(monkeypatch, b, NotifyType.NO_PROPOSAL_CHOSEN, times=1000)
    _soft_expiry(pair, "a", 10.0)
    now = 10.0
    for _ in range(3):  # each retry refused, the next one queued
        (now,) = internals.retry_times(a)
        a.core.handle_timer(now)
        pump(pair, now)
    assert len(of(a, NegotiationFailed)) == 4
    # The hard lifetime: A deletes the CHILD_SA and tells B; the queued retry is dropped.
    #   HDR, SK { D(ESP) } -->   <-- HDR, SK { D(ESP) }
    wire: list[Msg] = []
    assert a.core.kernel_event(api.Expire(inbound(a), hard=True), now + 1)
    pump(pair, now + 1, record=wire)
    assert [(p.protocol, m.response) for m in wire for p in m.payloads
            if isinstance(p, Delete)] == [(ProtocolId.ESP, False), (ProtocolId.ESP, True)]
    a.core.handle_timer(now + 30)
    assert pump(pair, now + 30) == 0
    assert [s["children"] for s in ike_sas(a) + ike_sas(b)] == [[], []]
    assert a.kernel.sas == {} and b.kernel.sas == {}


def test_a_responder_that_could_not_answer_still_rekeys_the_child_sa(
        pair: dict[str, Side], monkeypatch: pytest.MonkeyPatch) -> None:
    up(pair)
    b = pair["b"]
    alloc = b.kernel.alloc_spi

    async def failing(*args: object, **kw: object) -> int:
        monkeypatch.setattr(b.kernel, "alloc_spi", alloc)
        raise KernelError("ALLOCSPI", "ESP", "No space left on device", 28)

    monkeypatch.setattr(b.kernel, "alloc_spi", failing)
    #   HDR, SK { N(REKEY_SA), SA, Ni, TSi, TSr } -->   <-- HDR, SK { N(TEMPORARY_FAILURE) }
    wire = _soft_expiry(pair, "a", 10.0)
    assert wire[1].notifies == [NotifyType.TEMPORARY_FAILURE], wire[1].draw()
    before = one_pair_per_policy(pair)
    # B's own soft expiry rekeys the CHILD_SA: B had not kept it marked as replaced.
    wire = _soft_expiry(pair, "b", 11.0)
    assert exchanges(wire)[:2] == [(CREATE, False), (CREATE, True)]
    after = one_pair_per_policy(pair)
    assert after[0] != before[0] and after[1] != before[1]
    # A's queued retry finds its CHILD_SA rekeyed by B and is dropped.
    (when,) = internals.retry_times(pair["a"])
    pair["a"].core.handle_timer(when)
    assert pump(pair, when) == 0


def test_an_answer_the_initiator_refuses_is_deleted_at_the_responder(
        pair: dict[str, Side], monkeypatch: pytest.MonkeyPatch) -> None:
    up(pair)
    a, b = pair["a"], pair["b"]
    before = one_pair_per_policy(pair)
    internals.refuse_answers(monkeypatch)
    #   HDR, SK { N(REKEY_SA), SA, Ni, TSi, TSr } -->
    #                                             <-- HDR, SK { SA, Nr, TSi, TSr } (B installs)
    #   HDR, SK { D(ESP: B's new SA) }            -->      (A refuses the answer: B is told)
    #                                             <-- HDR, SK { D(ESP) }
    wire = _soft_expiry(pair, "a", 10.0)
    assert exchanges(wire) == [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    assert of(a, NegotiationFailed)[-1].reason == "traffic selectors outside our policy"
    assert [e.reason for e in of(b, ChildSaDown)] == ["deleted by the peer"]
    assert one_pair_per_policy(pair) == before
    assert kernel_spis(b) == set(before)
    assert len(internals.retry_times(a)) == 1
    # B's old CHILD_SA is the one in use again: B's own soft expiry rekeys it.
    wire = _soft_expiry(pair, "b", 11.0)
    assert exchanges(wire)[:2] == [(CREATE, False), (CREATE, True)]
    after = one_pair_per_policy(pair)
    assert after[0] != before[0] and after[1] != before[1]
