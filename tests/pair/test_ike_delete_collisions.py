"""Collisions of an IKE SA's Delete (RFC 7296 §2.25.2, §1.4.1): the peer's Delete crossing
our IKE SA rekey, and both ends deleting the IKE SA at once.

§2.25.2: a request to close an IKE SA that we are rekeying is answered as usual and our rekey
forgotten; a request to rekey an IKE SA that we are closing is refused TEMPORARY_FAILURE.
Whatever the order of delivery, both ends lose the IKE SA and its CHILD_SA exactly once (one
IkeSaDown, one ChildSaDown, each kernel SA deleted once), no successor is made, and nothing is
left to retransmit.  The Deletes come from SIGTERM (``shutdown``) with a stop_wait long enough
that only the exchanges, never its timer, end the SAs.

A (192.0.2.1, the original initiator) and B (192.0.2.2) on samples/ikev2-transport.conf, on a
virtual clock; each test draws the messages in the order they are delivered.
"""

from __future__ import annotations

from collections import Counter

import pytest

from iked.events import ChildSaDown, IkeSaDown, IkeSaUp, NegotiationFailed
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.constants import PayloadType as P
from racoon2.kernel import api

from . import internals
from .harness import Side, exchange, ike_sas, of, pump, settle

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL
REKEY_IKE = [P.SA, P.NONCE, P.KE]
NOW, STOP_WAIT = 10.0, 30.0


def _deletions(monkeypatch: pytest.MonkeyPatch, side: Side) -> Counter[api.SaKey]:
    """How often from now on ``side`` asks its kernel to delete each SA."""
    seen: Counter[api.SaKey] = Counter()
    del_sa = side.kernel.del_sa

    async def counting(key: api.SaKey) -> None:
        seen[key] += 1
        await del_sa(key)

    monkeypatch.setattr(side.kernel, "del_sa", counting)
    return seen


def _up(pair: dict[str, Side], monkeypatch: pytest.MonkeyPatch
        ) -> dict[str, tuple[set[api.SaKey], Counter[api.SaKey]]]:
    """A initiates; IKE_SA_INIT and IKE_AUTH delivered: one IKE SA and one CHILD_SA.  Per
    side: the CHILD_SA's kernel SAs, and the counter of their deletions to come."""
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    out = {}
    for name, side in pair.items():
        keys = {spec.key for (spec, _, _) in side.kernel.sas.values()}
        assert len(keys) == 2, side.kernel.sas  # inbound and outbound
        out[name] = (keys, _deletions(monkeypatch, side))
    return out


def _all_gone(pair: dict[str, Side],
              kernel: dict[str, tuple[set[api.SaKey], Counter[api.SaKey]]],
              reasons: dict[str, str]) -> None:
    """Neither end keeps an IKE SA, a CHILD_SA, a kernel SA or a timer; each reported its
    IKE SA and CHILD_SA down once (``reasons``: why the IKE SA went), made no successor, and
    asked its kernel once to delete each SA.  Much later, nothing is retransmitted."""
    for name, side in pair.items():
        assert ike_sas(side) == [] and side.kernel.sas == {}, name
        keys, deleted = kernel[name]
        assert deleted == Counter(dict.fromkeys(keys, 1)), (name, deleted)
        assert [e.reason for e in of(side, IkeSaDown)] == [reasons[name]], name
        assert len(of(side, ChildSaDown)) == 1, name
        assert [e.rekey_of for e in of(side, IkeSaUp)] == [None], name  # no successor
        assert side.core.next_timer() is None, name
        side.core.handle_timer(NOW + 600.0)
    assert pump(pair, now=NOW + 600.0) == 0


@pytest.mark.parametrize("order", ["delete first", "rekey first", "refusal first"])
def test_the_peers_delete_crossing_our_ike_sa_rekey_ends_the_sa_once(
        pair: dict[str, Side], monkeypatch: pytest.MonkeyPatch, order: str) -> None:
    """A's IKE SA lifetime ends (its rekey is sent) while B is stopped (its Delete is sent):
    A answers the Delete and forgets its rekey, B refuses the rekey TEMPORARY_FAILURE
    (§2.25.2).  ``order``: which request arrives first, or B's refusal overtaking B's Delete
    (A then queues a retry of its rekey, which the Delete ends as well)."""
    a, b = pair["a"], pair["b"]
    kernel = _up(pair, monkeypatch)
    internals.set_life(a, NOW)
    a.core.handle_timer(NOW)
    settle(a, NOW)
    b.core.shutdown(NOW, STOP_WAIT)
    settle(b, NOW)
    if order == "delete first":
        # INFORMATIONAL    i <- r  HDR, SK { D(IKE) }           A answers, its rekey forgotten
        m = exchange(b, a, NOW)
        assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
        assert ike_sas(a) == []
        # CREATE_CHILD_SA  i -> r  HDR, SK { SA, Ni, KEi }      to B, which is closing the SA
        m = exchange(a, b, NOW)
        assert (m.exchange, m.response, m.types) == (CREATE, False, REKEY_IKE), m.draw()
        # INFORMATIONAL    i -> r  HDR, SK { }                  A's answer: B's SA ends
        m = exchange(a, b, NOW)
        assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
        # CREATE_CHILD_SA  i <- r  HDR, SK { N(TEMPORARY_FAILURE) }   to an SA A no longer has
        m = exchange(b, a, NOW)
        assert (m.exchange, m.response, m.notifies) == (
            CREATE, True, [NotifyType.TEMPORARY_FAILURE]), m.draw()
    else:
        # CREATE_CHILD_SA  i -> r  HDR, SK { SA, Ni, KEi }      to B, which is closing the SA
        m = exchange(a, b, NOW)
        assert (m.exchange, m.response, m.types) == (CREATE, False, REKEY_IKE), m.draw()
        if order == "refusal first":
            b.outbox.rotate(-1)  # B's answer overtakes its Delete
            # CREATE_CHILD_SA  i <- r  HDR, SK { N(TEMPORARY_FAILURE) }  A: a retry, later
            m = exchange(b, a, NOW)
            assert (m.exchange, m.response, m.notifies) == (
                CREATE, True, [NotifyType.TEMPORARY_FAILURE]), m.draw()
            (sa,) = ike_sas(a)
            assert [t["kind"] for t in sa["exchanges"]["queued"]] == ["IKE SA rekey"]
        # INFORMATIONAL    i <- r  HDR, SK { D(IKE) }           A answers, its rekey forgotten
        m = exchange(b, a, NOW)
        assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
        assert ike_sas(a) == []
        if order == "rekey first":
            # CREATE_CHILD_SA  i <- r  HDR, SK { N(TEMPORARY_FAILURE) }   to an SA A has not
            m = exchange(b, a, NOW)
            assert (m.exchange, m.response, m.notifies) == (
                CREATE, True, [NotifyType.TEMPORARY_FAILURE]), m.draw()
        # INFORMATIONAL    i -> r  HDR, SK { }                  A's answer: B's SA ends
        m = exchange(a, b, NOW)
        assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
    assert not a.outbox and not b.outbox
    _all_gone(pair, kernel, {"a": "deleted by the peer", "b": "deleted"})
    failed = [(e.stage, e.reason) for e in of(a, NegotiationFailed)]
    assert failed == ([("IKE SA rekey", "TEMPORARY_FAILURE")] if order == "refusal first"
                      else [])
    assert not of(b, NegotiationFailed)


@pytest.mark.parametrize("lost", [False, True])
def test_delete_vs_delete_of_the_ike_sa(pair: dict[str, Side],
                                        monkeypatch: pytest.MonkeyPatch, lost: bool) -> None:
    """Both ends are stopped at once: each sends Delete of the IKE SA, answers the other's
    with an empty INFORMATIONAL (RFC 7296 §1.4.1) and ends the SA on it; the answers come to
    SAs already gone and are dropped, unanswered.  ``lost``: A's Delete never arrives, and A,
    its SA ended by B's Delete, does not retransmit it."""
    a, b = pair["a"], pair["b"]
    kernel = _up(pair, monkeypatch)
    for side in (a, b):
        side.core.shutdown(NOW, STOP_WAIT)
        settle(side, NOW)
    if lost:
        a.outbox.popleft()
        # INFORMATIONAL  i -> r  HDR, SK { D(IKE) }              lost
    else:
        # INFORMATIONAL  i -> r  HDR, SK { D(IKE) }              B answers it, its SA ends
        m = exchange(a, b, NOW)
        assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
        assert ike_sas(b) == []
    # INFORMATIONAL  i <- r  HDR, SK { D(IKE) }                  A answers it, its SA ends
    m = exchange(b, a, NOW)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    assert ike_sas(a) == []
    if not lost:
        # INFORMATIONAL  i <- r  HDR, SK { }                     B's answer, to no SA
        m = exchange(b, a, NOW)
        assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
    # INFORMATIONAL  i -> r  HDR, SK { }                         A's answer, to no SA (or,
    #                                                            A's Delete lost, B's last)
    m = exchange(a, b, NOW)
    assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
    assert not a.outbox and not b.outbox  # in particular no INVALID_IKE_SPI for an answer
    peer = "deleted by the peer"
    _all_gone(pair, kernel, {"a": peer, "b": "deleted" if lost else peer})
