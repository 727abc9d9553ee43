"""RFC 7296 §2.8 collisions: simultaneous CHILD_SA rekeys (§2.8.1) and IKE SA rekeys (§2.8.2),
rekey vs Delete, Delete vs Delete, CHILD_SA_NOT_FOUND (§3.10.1) and TEMPORARY_FAILURE (§2.25).

Each test draws the messages in the order they are delivered.  Where the outcome depends on the
nonces (the exchange holding the lowest of the four is redundant) they are forced: ``LOW`` <
``MID`` < ``HIGH`` < ``TOP``.
"""

from __future__ import annotations

from typing import Any

import pytest

from iked.events import ChildSaDown, ChildSaUp, IkeSaDown, NegotiationFailed
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.constants import PayloadType as P
from racoon2.kernel import api

from . import internals
from .harness import A, B, Side, exchange, ike_sas, of, pump, settle

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL
REKEY_REQ = [NotifyType.REKEY_SA, NotifyType.USE_TRANSPORT_MODE]


def nonces(side: Side) -> tuple[bytes, bytes, bytes, bytes]:
    """LOW, MID, HIGH, TOP of the side's nonce size."""
    n = internals.nonce_size(side)
    return b"\x01" * n, b"\x40" * n, b"\x80" * n, b"\xc0" * n


def up(pair: dict[str, Side]) -> None:
    """A initiates; IKE_SA_INIT and IKE_AUTH delivered."""
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)


def inbound(side: Side) -> api.SaKey:
    """The key of the side's only CHILD_SA's inbound SA."""
    (sa,) = ike_sas(side)
    (child,) = sa["children"]
    me, peer = _ends(side)
    return api.SaKey(peer, me, api.Proto.ESP, int(child["spi_in"], 16))


def _ends(side: Side) -> tuple[Any, Any]:
    iface = side.core.config.interface
    assert iface is not None
    me = iface.ike[0].address
    return me, (B if me == A else A)


def kernel_spis(side: Side) -> set[int]:
    """The SPIs of every SA in the side's in-memory kernel."""
    return {spi for (_, _, spi) in side.kernel.sas}


def one_pair_per_policy(pair: dict[str, Side]) -> tuple[int, int]:
    """Both sides hold exactly one CHILD_SA, the same pair, and their kernels exactly its two
    SAs; its (A's inbound, B's inbound) SPIs."""
    (sa_a,), (sa_b,) = ike_sas(pair["a"]), ike_sas(pair["b"])
    (ca,), (cb,) = sa_a["children"], sa_b["children"]
    a_in, a_out = int(ca["spi_in"], 16), int(ca["spi_out"], 16)
    b_in, b_out = int(cb["spi_in"], 16), int(cb["spi_out"], 16)
    assert (a_in, a_out) == (b_out, b_in)
    assert kernel_spis(pair["a"]) == kernel_spis(pair["b"]) == {a_in, b_in}
    return a_in, b_in


def rekey_both(pair: dict[str, Side], now: float) -> None:
    """Both sides' soft expiry of the one CHILD_SA at ``now``; each request is on its way."""
    for side in pair.values():
        assert side.core.kernel_event(api.Expire(inbound(side), hard=False), now)
        settle(side, now)


@pytest.mark.parametrize("redundant", ["a", "b"])
def test_simultaneous_child_sa_rekeys_keep_one_pair(
        pair: dict[str, Side], redundant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both sides rekey the same CHILD_SA at once (RFC 7296 §2.8.1): both requests are
    answered, each side has made two new CHILD_SAs; the rekey holding the lowest nonce is
    redundant, its initiator deletes the CHILD_SA it made, the other's initiator the old one."""
    a, b = pair["a"], pair["b"]
    up(pair)
    old_a, old_b = one_pair_per_policy(pair)
    low, mid, high, top = nonces(a)
    # Each side draws its Ni, then its Nr for the other's request.
    lose, win = (a, b) if redundant == "a" else (b, a)
    internals.force_nonces(lose, low, top)   # its rekey: (LOW, HIGH)
    internals.force_nonces(win, mid, high)   # its rekey: (MID, TOP)
    rekey_both(pair, 10.0)
    calls = internals.record_collisions(monkeypatch)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.notifies) == (CREATE, False, REKEY_REQ), m.draw()
    assert calls == [("CREATE_CHILD_SA rekey", "CREATE_CHILD_SA", True)]  # B's task's hook
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.notifies) == (CREATE, False, REKEY_REQ), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }  B answers A
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, True, [NotifyType.USE_TRANSPORT_MODE]), m.draw()
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }  A answers B
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, True, [NotifyType.USE_TRANSPORT_MODE]), m.draw()
    # Each side made two new CHILD_SAs (and at once took out the one it deletes).
    for side in pair.values():
        assert [e.rekey for e in of(side, ChildSaUp)] == [False, True, True]
    # Then the loser's Delete of its redundant CHILD_SA and the winner's of the old one:
    # INFORMATIONAL  -->  HDR, SK { D(ESP, the redundant CHILD_SA's SPI) }   and its answer
    # INFORMATIONAL  <--  HDR, SK { D(ESP, the old CHILD_SA's SPI) }         and its answer
    wire: list[Any] = []
    pump(pair, now=10.0, record=wire)
    deletes = [(m.exchange, m.response, m.types) for m in wire]
    assert deletes.count((INFO, False, [P.DELETE])) == 2
    assert deletes.count((INFO, True, [P.DELETE])) == 2
    new_a, new_b = one_pair_per_policy(pair)
    assert {new_a, new_b}.isdisjoint({old_a, old_b})
    # The survivor is the winner's rekey: on the winner the CHILD_SA it installed on its
    # answer (its last ChildSaUp), on the loser the one it made answering (its first rekey).
    assert {new_a, new_b} == {of(win, ChildSaUp)[-1].spi_in, of(lose, ChildSaUp)[1].spi_in}
    # The winner answered the redundant rekey holding back its outbound SA (make-before-
    # break, child_sa.rekeyed), and never installed it: that CHILD_SA was to carry nothing.
    redundant_out = of(win, ChildSaUp)[1].spi_out
    assert redundant_out not in {s.spi for s in win.installed}
    for side in pair.values():
        downs = [e.reason for e in of(side, ChildSaDown)]
        assert sorted(downs) == sorted(
            ["redundant rekey (RFC 7296 §2.8.1)" if side is lose else "deleted by the peer",
             "rekeyed" if side is win else "deleted by the peer"]), downs
        assert all(e.replaced for e in of(side, ChildSaDown))  # no phase2_down, policy stays
        assert not of(side, NegotiationFailed)


def test_peer_rekey_while_ours_waits_for_its_spi_replaces_ours(pair: dict[str, Side]) -> None:
    """B's rekey of the CHILD_SA arrives while A's own rekey still waits for its inbound SPI:
    A answers it, and its own rekey, the CHILD_SA replaced meanwhile, is never sent (its SPI
    is given back), so no collision is made."""
    a, b = pair["a"], pair["b"]
    up(pair)
    assert a.core.kernel_event(api.Expire(inbound(a), hard=False), 10.0)  # SPI not yet
    assert b.core.kernel_event(api.Expire(inbound(b), hard=False), 10.0)
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.notifies) == (CREATE, False, REKEY_REQ), m.draw()
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    # INFORMATIONAL    i <- r  HDR, SK { D(ESP, old SPI) }    and its answer
    wire: list[Any] = []
    pump(pair, now=10.0, record=wire)
    assert [(m.exchange, m.response) for m in wire] == [
        (CREATE, True), (INFO, False), (INFO, True)], [m.draw() for m in wire]
    one_pair_per_policy(pair)
    assert [e.rekey for e in of(a, ChildSaUp)] == [False, True]


def test_rekey_vs_delete_abandons_the_rekey(pair: dict[str, Side]) -> None:
    """A rekeys the CHILD_SA while B deletes it (hard expiry): B, its CHILD_SA gone, refuses
    the rekey CHILD_SA_NOT_FOUND, A answers the Delete and its rekey ends; none is left."""
    a, b = pair["a"], pair["b"]
    up(pair)
    assert a.core.kernel_event(api.Expire(inbound(a), hard=False), 10.0)
    settle(a, 10.0)
    assert b.core.kernel_event(api.Expire(inbound(b), hard=True), 10.0)
    settle(b, 10.0)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.notifies) == (CREATE, False, REKEY_REQ), m.draw()
    # INFORMATIONAL    i <- r  HDR, SK { D(ESP, B's inbound SPI) }        B's Delete
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(CHILD_SA_NOT_FOUND) }   (RFC 7296 §3.10.1)
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, True, [NotifyType.CHILD_SA_NOT_FOUND]), m.draw()
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, A's inbound SPI) }        A's answer
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, [P.DELETE]), m.draw()
    assert pump(pair, now=10.0) == 0
    for side in pair.values():
        assert ike_sas(side)[0]["children"] == [] and kernel_spis(side) == set()
    assert [e.reason for e in of(a, ChildSaDown)] == ["deleted by the peer"]


def test_rekey_vs_delete_overtaking_the_answer_abandons_the_rekey(
        pair: dict[str, Side]) -> None:
    """B answers A's rekey, then deletes the old CHILD_SA (its hard expiry), and the Delete
    overtakes the answer: A, its old CHILD_SA gone, abandons the rekey and deletes the new
    CHILD_SA it made; no half pair is left."""
    a, b = pair["a"], pair["b"]
    up(pair)
    assert a.core.kernel_event(api.Expire(inbound(a), hard=False), 10.0)
    old_b = inbound(b)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.notifies) == (CREATE, False, REKEY_REQ), m.draw()
    assert b.core.kernel_event(api.Expire(old_b, hard=True), 10.0)
    settle(b, 10.0)
    b.outbox.rotate(1)  # the Delete overtakes the answer
    # INFORMATIONAL    i <- r  HDR, SK { D(ESP, B's old inbound SPI) }
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, True, [NotifyType.USE_TRANSPORT_MODE]), m.draw()
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, A's old inbound SPI) }  A's answer
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, [P.DELETE]), m.draw()
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, A's new inbound SPI) }
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    # INFORMATIONAL    i <- r  HDR, SK { D(ESP, B's new inbound SPI) }
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, [P.DELETE]), m.draw()
    assert pump(pair, now=10.0) == 0
    for side in pair.values():
        assert ike_sas(side)[0]["children"] == [] and kernel_spis(side) == set()
    assert [e.reason for e in of(a, ChildSaDown)] == [
        "deleted by the peer", "the CHILD_SA it rekeys was deleted by the peer"]


def test_delete_vs_delete_of_one_child_sa(pair: dict[str, Side]) -> None:
    """Both sides delete the same CHILD_SA at once (RFC 7296 §1.4.1): each answers the other's
    Delete with an empty INFORMATIONAL (the SA is already gone), both remove it."""
    a, b = pair["a"], pair["b"]
    up(pair)
    for side in pair.values():
        assert side.core.kernel_event(api.Expire(inbound(side), hard=True), 10.0)
        settle(side, 10.0)
    # INFORMATIONAL  i -> r  HDR, SK { D(ESP, A's inbound SPI) }
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    # INFORMATIONAL  i <- r  HDR, SK { D(ESP, B's inbound SPI) }
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    # INFORMATIONAL  i <- r  HDR, SK { }         B's answer: nothing left to delete
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
    # INFORMATIONAL  i -> r  HDR, SK { }         A's answer
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
    assert pump(pair, now=10.0) == 0
    for side in pair.values():
        assert ike_sas(side)[0]["children"] == [] and kernel_spis(side) == set()
        assert [e.reason for e in of(side, ChildSaDown)] == ["hard lifetime expired"]


def test_child_sa_not_found_removes_our_child_sa(pair: dict[str, Side]) -> None:
    """A rekeys a CHILD_SA that B no longer has (B lost it silently): B answers
    CHILD_SA_NOT_FOUND (RFC 7296 §3.10.1), A removes its CHILD_SA without a Delete; the next
    ACQUIRE makes a new one."""
    a, b = pair["a"], pair["b"]
    up(pair)
    (old_a,) = ike_sas(a)[0]["children"]
    internals.forget_children(b)
    assert a.core.kernel_event(api.Expire(inbound(a), hard=False), 10.0)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, 10.0)
    assert (m.exchange, m.response, m.notifies) == (CREATE, False, REKEY_REQ), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(CHILD_SA_NOT_FOUND) }
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, True, [NotifyType.CHILD_SA_NOT_FOUND]), m.draw()
    assert pump(pair, now=10.0) == 0
    assert ike_sas(a)[0]["children"] == [] and kernel_spis(a) == set()
    assert [e.reason for e in of(a, ChildSaDown)] == ["the peer has no such CHILD_SA"]
    assert int(old_a["spi_in"], 16) not in kernel_spis(a)
    # The ACQUIRE: a new CHILD_SA on the same IKE SA.
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }  and answer
    a.core.initiate("peer_out", 11.0)
    pump(pair, now=11.0)
    one_pair_per_policy(pair)


def ike_rekey_both(pair: dict[str, Side]) -> float:
    """Both sides' IKE SA lifetime ends at the same moment; the moment (each side's rekey
    request waits in its outbox)."""
    life, _, _ = internals.deadlines(pair["a"])
    assert life is not None
    internals.set_life(pair["b"], life)
    for side in pair.values():
        side.core.handle_timer(life)
        side.collect()
    return life


@pytest.mark.parametrize("redundant", ["a", "b"])
def test_simultaneous_ike_sa_rekeys_keep_one_ike_sa(pair: dict[str, Side],
                                                    redundant: str) -> None:
    """Both sides rekey the IKE SA at once (RFC 7296 §2.8.2): both answered; the rekey with
    the lowest nonce is redundant, its initiator deletes the IKE SA it made, the CHILD_SA
    moves to the other new IKE SA, whose initiator deletes the old one."""
    a, b = pair["a"], pair["b"]
    up(pair)
    lose, win = (a, b) if redundant == "a" else (b, a)
    low, mid, high, top = nonces(a)
    internals.force_nonces(lose, low, top)
    internals.force_nonces(win, mid, high)
    now = ike_rekey_both(pair)
    old_child = one_pair_per_policy(pair)
    # CREATE_CHILD_SA  i -> r  HDR, SK { SA, Ni, KEi }     A's rekey
    m = exchange(a, b, now)
    assert (m.exchange, m.response, m.types) == (CREATE, False, [P.SA, P.NONCE, P.KE]), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { SA, Ni, KEi }     B's rekey
    m = exchange(b, a, now)
    assert (m.exchange, m.response, m.types) == (CREATE, False, [P.SA, P.NONCE, P.KE]), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { SA, Nr, KEr }     B answers A
    m = exchange(b, a, now)
    assert (m.exchange, m.response, m.types) == (CREATE, True, [P.SA, P.NONCE, P.KE]), m.draw()
    # CREATE_CHILD_SA  i -> r  HDR, SK { SA, Nr, KEr }     A answers B
    m = exchange(a, b, now)
    assert (m.exchange, m.response, m.types) == (CREATE, True, [P.SA, P.NONCE, P.KE]), m.draw()
    # INFORMATIONAL  the loser: HDR, SK { D(IKE) } on its redundant new IKE SA; the winner:
    # HDR, SK { D(IKE) } on the old IKE SA; each answered HDR, SK { }
    wire: list[Any] = []
    pump(pair, now=now, record=wire)
    assert [(m.exchange, m.response, m.types) for m in wire].count(
        (INFO, False, [P.DELETE])) == 2, [m.draw() for m in wire]
    for side in pair.values():
        (sa,) = ike_sas(side)
        assert sa["state"] == "established" and len(sa["children"]) == 1
        assert sa["initiator"] == (side is win)
        assert not of(side, ChildSaDown)
        assert len(of(side, IkeSaDown)) == 2
    assert one_pair_per_policy(pair) == old_child


def test_child_sa_rekey_vs_ike_sa_rekey_both_refused_and_retried(
        pair: dict[str, Side]) -> None:
    """A rekeys the IKE SA while B rekeys the CHILD_SA: each refuses the other's
    TEMPORARY_FAILURE (RFC 7296 §2.8.2's end, §2.25) and retries after a random 5 to 15 s
    (the IKE SA rekey no longer ends the IKE SA); the CHILD_SA rekey, queued on the old IKE
    SA, moves to the new one if the IKE SA rekey goes first.  One IKE SA and one CHILD_SA pair
    remain."""
    a, b = pair["a"], pair["b"]
    up(pair)
    (old_ike,) = ike_sas(a)
    life, _, _ = internals.deadlines(a)
    assert life is not None
    internals.never_expires(b)
    assert b.core.kernel_event(api.Expire(inbound(b), hard=False), life)
    settle(b, life)
    a.core.handle_timer(life)
    # CREATE_CHILD_SA  i -> r  HDR, SK { SA, Ni, KEi }                       A's IKE SA rekey
    m = exchange(a, b, life)
    assert (m.exchange, m.response, m.types) == (CREATE, False, [P.SA, P.NONCE, P.KE]), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(b, a, life)
    assert (m.exchange, m.response, m.notifies) == (CREATE, False, REKEY_REQ), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(TEMPORARY_FAILURE) }              B refuses A's
    m = exchange(b, a, life)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, True, [NotifyType.TEMPORARY_FAILURE]), m.draw()
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(TEMPORARY_FAILURE) }              A refuses B's
    m = exchange(a, b, life)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, True, [NotifyType.TEMPORARY_FAILURE]), m.draw()
    # INFORMATIONAL  i -> r  HDR, SK { }  and its answer: A's liveness check, due at 8 h too
    extra: list[Any] = []
    pump(pair, now=life, record=extra)
    assert all(m.exchange is INFO and not m.types for m in extra), [m.draw() for m in extra]
    retries = {}
    for n, kind in (("a", "IKE SA rekey"), ("b", "CREATE_CHILD_SA rekey")):
        (sa,) = ike_sas(pair[n])
        assert sa["state"] == "established"
        (retry,) = sa["exchanges"]["queued"]
        assert retry["kind"] == kind
        assert life + 5.0 <= retry["not_before"] <= life + 15.0
        retries[n] = retry["not_before"]
    assert [(e.stage, e.reason) for e in of(a, NegotiationFailed)] == [
        ("IKE SA rekey", "TEMPORARY_FAILURE")]
    assert [(e.stage, e.reason) for e in of(b, NegotiationFailed)] == [
        ("CHILD_SA rekey", "TEMPORARY_FAILURE")]
    wire: list[Any] = []
    for n in sorted(retries, key=lambda n: retries[n]):
        # Each retry: CREATE_CHILD_SA and its answer, then INFORMATIONAL Delete (the old IKE
        # SA's, or the old CHILD_SA's) and its answer.
        pair[n].core.handle_timer(retries[n])
        pump(pair, now=retries[n], record=wire)
    wire = [m for m in wire if m.types]  # not the liveness checks nor empty answers
    ike = [(CREATE, False), (CREATE, True), (INFO, False)]  # the Delete's answer is empty
    child = [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    order = sorted(retries, key=lambda n: retries[n])
    assert [(m.exchange, m.response) for m in wire] == (
        ike + child if order[0] == "a" else child + ike), [m.draw() for m in wire]
    for side in pair.values():
        (sa,) = ike_sas(side)
        assert sa["sa"] != old_ike["sa"] and sa["exchanges"] == {}
        assert [e.rekey for e in of(side, ChildSaUp)] == [False, True]
    one_pair_per_policy(pair)


def test_two_new_child_sas_at_once_leave_one(pair: dict[str, Side]) -> None:
    """Both ends lose the CHILD_SA (its hard lifetime, both at once) and both re-create it
    at once, as their ACQUIREs ask: two CHILD_SAs of one policy.  The one whose exchange had
    the lowest nonce is deleted (by both ends here; a peer that keeps duplicates finds it
    deleted by us), and one pair stays.

    INFORMATIONAL    a -> b  D(ESP)          b -> a  D(ESP)       (hard lifetimes)
    CREATE_CHILD_SA  a -> b  SA, Ni, TSi, TSr     b -> a  SA, Ni, TSi, TSr
    INFORMATIONAL    D(ESP) of the duplicate with the lowest nonce
    """
    up(pair)
    for side in pair.values():
        assert side.core.kernel_event(api.Expire(inbound(side), hard=True), 2.0)
        settle(side, 2.0)
    for side in pair.values():
        side.core.initiate("peer_out", 2.0)
        settle(side, 2.0)
    pump(pair, now=2.0)
    ups = {n: of(pair[n], ChildSaUp) for n in "ab"}
    assert all(len(u) == 3 for u in ups.values()), ups  # IKE_AUTH's, then the two new ones
    downs = [d.reason for d in of(pair["a"], ChildSaDown) + of(pair["b"], ChildSaDown)]
    assert any(r.startswith("duplicate of another CHILD_SA") for r in downs), downs
    one_pair_per_policy(pair)


def test_a_hard_lifetime_drops_the_rekey_waiting_for_its_retry(pair: dict[str, Side]) -> None:
    """A CHILD_SA rekey refused TEMPORARY_FAILURE waits for its retry; the CHILD_SA's hard
    lifetime comes first.  The waiting rekey goes with it, so the policy's next ACQUIRE makes
    a new CHILD_SA at once instead of being taken for a negotiation in progress.

    INFORMATIONAL    a -> b  D(ESP)                        (the hard lifetime)
    CREATE_CHILD_SA  a -> b  SA, Ni, TSi, TSr              (the ACQUIRE's)
    """
    a = pair["a"]
    up(pair)
    internals.queue_rekey_retry(a, 10.0)
    assert a.core.kernel_event(api.Expire(inbound(a), hard=True), 3.0)
    (sa,) = ike_sas(a)
    assert "queued" not in sa["exchanges"], sa["exchanges"]
    a.core.initiate("peer_out", 3.5)
    pump(pair, now=3.5)
    assert [e.rekey for e in of(a, ChildSaUp)] == [False, False]
    one_pair_per_policy(pair)
