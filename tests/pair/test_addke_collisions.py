"""Simultaneous rekeys with RFC 9370 additional key exchanges (IKE_FOLLOWUP_KE), two cores in
memory: the IKE SA (RFC 7296 §2.8.2) and one CHILD_SA (§2.8.1), settled by the nonces of the
CREATE_CHILD_SA exchanges (RFC 9370 §2.2.4): the redundant rekey's initiator runs no follow-up,
the winner's runs all of them, one IKE SA and one CHILD_SA pair remain on each side, nothing
in either kernel beside that pair.  iked.ikev2.rekey_collision draws the interleavings.

The nonces are forced (40 octets, a length no key generation draws): the loser draws ``LOW``
for its Ni and ``TOP`` for its Nr of the winner's exchange, the winner ``MID`` and ``HIGH``, so
the loser's exchange holds the lowest nonce.  ``early`` of the winner's follow-ups reach the
loser before the loser's own CREATE_CHILD_SA answer (held back as if lost and retransmitted):
every place the window leaves for that answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iked.events import (
    ChildSaDown,
    ChildSaUp,
    IkeSaDown,
    IkeSaUp,
    NegotiationFailed,
    RekeyCollision,
)
from iked.ikev2 import child_rekey, proposals, rekey_collision
from racoon2.ikev2.constants import ExchangeType, NotifyType, ProtocolId
from racoon2.kernel import api

from . import internals
from .harness import Edit, Msg, Side, exchange, ike_sas, of, pump, settle, two_sides
from .test_child_addke import inbound
from .test_collisions import ike_rekey_both, one_pair_per_policy

CREATE, FOLLOWUP = ExchangeType.CREATE_CHILD_SA, ExchangeType.IKE_FOLLOWUP_KE
N = 40
LOW, MID, HIGH, TOP = b"\x01" * N, b"\x40" * N, b"\x80" * N, b"\xc0" * N
THREE = ("kmp_addke1 mlkem768;", "kmp_addke2 mlkem1024;", "kmp_addke3 ecp256;")
NAMES = {1: ["CURVE25519", "ML_KEM_768"],
         3: ["CURVE25519", "ML_KEM_768", "ML_KEM_1024", "ECP_256"]}
#: (additional exchanges, how many of the winner's follow-ups come before the loser's answer)
ORDERS = [(n, early) for n in (1, 3) for early in range(n + 1)]


def conf(*addke: str) -> Edit:
    """Curve25519 for the IKE SA and every PFS exchange, then ``addke``; RFC 7383 off, so
    that each message is one datagram."""
    return (("kmp_dh_group { modp2048; };", "kmp_dh_group { curve25519; }; need_pfs on; "
             f"nonce_size {N}; fragmentation off; " + " ".join(addke)),)


def up(tmp_path: Path, a_edit: Edit, b_edit: Edit | None = None) -> dict[str, Side]:
    pair = two_sides(tmp_path, a_edit, a_edit if b_edit is None else b_edit)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    return pair


def roles(pair: dict[str, Side], redundant: str) -> tuple[Side, Side]:
    """(loser, winner), their nonces forced."""
    lose, win = (pair["a"], pair["b"]) if redundant == "a" else (pair["b"], pair["a"])
    internals.force_nonces(lose, LOW, TOP)
    internals.force_nonces(win, MID, HIGH)
    return lose, win


def cross(pair: dict[str, Side], lose: Side, win: Side, early: int, now: float) -> list[Msg]:
    """Both CREATE_CHILD_SA requests waiting: deliver them crossed, the winner's answer, then
    ``early`` of the winner's IKE_FOLLOWUP_KE exchanges ahead of the loser's answer, then
    everything else; every message delivered."""
    a, b = pair["a"], pair["b"]
    # CREATE_CHILD_SA  A -> B  {…, Ni, KEi}   B answers it after sending its own:
    # CREATE_CHILD_SA  A <- B  {…, Ni, KEi}   A answers it
    wire = [exchange(a, b, now), exchange(b, a, now)]
    # CREATE_CHILD_SA  win <- lose  {…, Nr, KEr, N(ADDITIONAL_KEY_EXCHANGE)}: decided
    wire.append(exchange(lose, win, now))
    for _ in range(early):
        # IKE_FOLLOWUP_KE  win -> lose  {KEi(n), N(ADDITIONAL_KEY_EXCHANGE)}, ahead of the
        # loser's answer still waiting in the winner's outbox, and its answer
        settle(win, now)
        win.outbox.rotate(-1)
        wire += [exchange(win, lose, now), exchange(lose, win, now)]
    # the loser's CREATE_CHILD_SA answer, the remaining follow-ups, the Deletes
    pump(pair, now=now, record=wire)
    return wire


def followups_by(side: Side) -> int:
    """How many IKE_FOLLOWUP_KE requests ``side`` sent."""
    return side.core.counters["initiated IKE_FOLLOWUP_KE"]


def collisions(side: Side) -> list[tuple[str, bool, bool]]:
    return [(e.what.split(" of ")[0], e.ours_redundant, e.followups_dropped)
            for e in of(side, RekeyCollision)]


def one_ike_sa(pair: dict[str, Side], win: Side) -> dict[str, Any]:
    """Each side holds one established IKE SA, begun by ``win``'s rekey, with the one
    CHILD_SA; the loser's status as a dict."""
    for side in pair.values():
        (sa,) = ike_sas(side)
        assert sa["state"] == "established" and len(sa["children"]) == 1, sa
        assert sa["initiator"] == (side is win)
    (sa_a,), (sa_b,) = ike_sas(pair["a"]), ike_sas(pair["b"])
    assert sa_a["sa"] == sa_b["sa"]
    return sa_a


@pytest.mark.parametrize("n, early", ORDERS)
@pytest.mark.parametrize("redundant", ["a", "b"])
def test_ike_sa_rekeys_with_followups_collide(tmp_path: Path, n: int, early: int,
                                              redundant: str) -> None:
    pair = up(tmp_path, conf(*THREE[:n]))
    lose, win = roles(pair, redundant)
    old_child = one_pair_per_policy(pair)
    now = ike_rekey_both(pair)
    wire = cross(pair, lose, win, early, now)
    assert [m.exchange for m in wire[:3]] == [CREATE] * 3
    assert followups_by(win) == n and followups_by(lose) == 0
    assert [m.notifies for m in wire if m.exchange == FOLLOWUP and m.response].count(
        [NotifyType.STATE_NOT_FOUND]) == 0
    sa = one_ike_sa(pair, win)
    assert sa["key_exchanges"] == NAMES[n]
    assert one_pair_per_policy(pair) == old_child  # the CHILD_SA moved, not rekeyed
    assert collisions(lose) == [("IKE SA", True, True)]
    assert collisions(win) == [("IKE SA", False, False)]
    for side in pair.values():
        # the first IKE SA, and the winner's successor; the old one ended as rekeyed
        assert [e.rekey_of is not None for e in of(side, IkeSaUp)] == [False, True]
        assert [e.replaced for e in of(side, IkeSaDown)] == [True]
        assert not of(side, NegotiationFailed) and not of(side, ChildSaDown)


@pytest.mark.parametrize("redundant", ["a", "b"])
def test_ike_sa_rekey_with_followups_meets_one_without(tmp_path: Path,
                                                       redundant: str) -> None:
    """A's offer puts ML-KEM-768 first, B's NONE: A's rekey runs a follow-up, B's none
    (each responder takes the offer's first choice it allows).  A losing stops before its
    follow-up; B losing deletes the new IKE SA it made at once, the CHILD_SA going back to
    the old one on both sides until A's follow-up makes A's successor."""
    pair = up(tmp_path, conf("kmp_addke1 { mlkem768; none; };"),
              conf("kmp_addke1 { none; mlkem768; };"))
    a, b = pair["a"], pair["b"]
    lose, win = roles(pair, redundant)
    old_child = one_pair_per_policy(pair)
    now = ike_rekey_both(pair)
    cross(pair, lose, win, 0, now)
    assert followups_by(a) == (1 if win is a else 0) and followups_by(b) == 0
    sa = one_ike_sa(pair, win)
    assert sa["key_exchanges"] == (NAMES[1] if win is a else ["CURVE25519"])
    assert one_pair_per_policy(pair) == old_child
    assert collisions(lose) == [("IKE SA", True, lose is a)]
    assert collisions(win) == [("IKE SA", False, False)]
    for side in pair.values():
        # B's redundant successor came up (on both sides) and went, the old one as rekeyed
        ups = 3 if lose is b else 2
        assert len(of(side, IkeSaUp)) == ups, of(side, IkeSaUp)
        assert len(of(side, IkeSaDown)) == ups - 1
        assert not of(side, NegotiationFailed) and not of(side, ChildSaDown)


def refuse_ike_rekey(monkeypatch: pytest.MonkeyPatch, side: Side) -> None:
    """``side`` finds no proposal for its peer's next IKE SA rekey (as after a reload that
    dropped the ADDKE the peer insists on)."""
    mine, real, left = internals._the_sa(side).peer.ike_proposals, proposals.choose, [1]

    def choose(offered: Any, own: Any) -> Any:
        if own is mine and left[0] and offered and offered[0].protocol == ProtocolId.IKE:
            left[0] -= 1
            return None
        return real(offered, own)

    monkeypatch.setattr(proposals, "choose", choose)


def test_ike_sa_rekey_refused_while_the_peers_runs_its_followups(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """B refuses A's rekey NO_PROPOSAL_CHOSEN while A answered B's, whose follow-ups are still
    to run: A's failure does not end the old IKE SA, B's rekey replaces it."""
    pair = up(tmp_path, conf(THREE[0]))
    a, b = pair["a"], pair["b"]
    refuse_ike_rekey(monkeypatch, b)
    now = ike_rekey_both(pair)
    old_child = one_pair_per_policy(pair)
    cross(pair, a, b, 0, now)
    assert followups_by(b) == 1 and followups_by(a) == 0
    one_ike_sa(pair, b)
    assert one_pair_per_policy(pair) == old_child
    assert [(e.stage, e.reason) for e in of(a, NegotiationFailed)] == [
        ("IKE SA rekey", "NO_PROPOSAL_CHOSEN")]
    assert not collisions(a) and not collisions(b)


def test_ike_sa_rekey_after_ours_was_answered_gets_temporary_failure(tmp_path: Path) -> None:
    """B's rekey reaches A only after A's CREATE_CHILD_SA was answered (A's follow-up runs):
    no nonces to compare, RFC 9370 §2.2.4 has it refused TEMPORARY_FAILURE; A's rekey
    replaces the IKE SA, B's retry, queued on the old one, ends with it."""
    pair = up(tmp_path, conf(THREE[0]))
    a, b = pair["a"], pair["b"]
    life, _, _ = internals.deadlines(a)
    assert life is not None
    internals.never_expires(b)
    a.core.handle_timer(life)
    exchange(a, b, life)  # CREATE_CHILD_SA  A -> B
    exchange(b, a, life)  # CREATE_CHILD_SA  A <- B  {…, N(ADDITIONAL_KEY_EXCHANGE)}
    internals.set_life(b, life)
    b.core.handle_timer(life)
    # CREATE_CHILD_SA  A <- B  {SA, Ni, KEi}: B's rekey, while A's IKE_FOLLOWUP_KE is out
    assert exchange(b, a, life).exchange == CREATE
    wire: list[Msg] = []
    pump(pair, now=life, record=wire)
    assert [m.notifies for m in wire if m.exchange == CREATE] == [
        [NotifyType.TEMPORARY_FAILURE]]
    one_ike_sa(pair, a)
    assert [(e.stage, e.reason) for e in of(b, NegotiationFailed)] == [
        ("IKE SA rekey", "TEMPORARY_FAILURE")]
    assert not collisions(a) and not collisions(b)


def child_rekey_both(pair: dict[str, Side], now: float) -> None:
    for side in pair.values():
        assert side.core.kernel_event(api.Expire(inbound(side), hard=False), now)
        settle(side, now)


def one_pair(pair: dict[str, Side], names: list[str]) -> None:
    """Each side: one IKE SA, idle, with one CHILD_SA keyed from ``names``, the same pair on
    both, and nothing else in its kernel (no larval SPI left)."""
    for side in pair.values():
        (sa,) = ike_sas(side)
        (child,) = sa["children"]
        assert child["key_exchanges"] == names and sa["exchanges"] == {}, sa
        assert len(side.kernel.sas) == 2, side.kernel.sas
    (ca,), (cb,) = ike_sas(pair["a"])[0]["children"], ike_sas(pair["b"])[0]["children"]
    assert (ca["spi_in"], ca["spi_out"]) == (cb["spi_out"], cb["spi_in"])


def one_child_pair(pair: dict[str, Side], lose: Side, win: Side, names: list[str]) -> None:
    """One IKE SA and one CHILD_SA pair on each side: the winner's rekey, keyed from
    ``names``; nothing else in either kernel (no larval SPI left)."""
    one_pair(pair, names)
    for side in pair.values():
        assert not of(side, NegotiationFailed)
        assert all(e.replaced for e in of(side, ChildSaDown))
        assert [e.rekey for e in of(side, ChildSaUp)] == [False, True]
    (ca,) = ike_sas(pair["a"])[0]["children"]
    assert int(ca["spi_in" if win is pair["a"] else "spi_out"], 16) == \
        of(win, ChildSaUp)[-1].spi_in
    assert [e.reason for e in of(win, ChildSaDown)] == ["rekeyed"]
    assert [e.reason for e in of(lose, ChildSaDown)] == ["deleted by the peer"]


@pytest.mark.parametrize("n, early", ORDERS)
@pytest.mark.parametrize("redundant", ["a", "b"])
def test_child_sa_rekeys_with_followups_collide(tmp_path: Path, n: int, early: int,
                                                redundant: str) -> None:
    pair = up(tmp_path, conf(*THREE[:n]))
    lose, win = roles(pair, redundant)
    child_rekey_both(pair, 10.0)
    cross(pair, lose, win, early, 10.0)
    assert followups_by(win) == n and followups_by(lose) == 0
    one_child_pair(pair, lose, win, NAMES[n])
    assert collisions(lose) == [("CHILD_SA", True, True)]
    assert collisions(win) == [("CHILD_SA", False, False)]


@pytest.mark.parametrize("redundant", ["a", "b"])
def test_child_sa_rekey_with_followups_meets_one_without(tmp_path: Path,
                                                         redundant: str) -> None:
    """As the IKE SA's case: A's CHILD_SA rekey runs a follow-up, B's none.  B losing deletes
    the CHILD_SA it made (``redundant rekey``); A losing makes none."""
    pair = up(tmp_path, conf("kmp_addke1 { mlkem768; none; };"),
              conf("kmp_addke1 { none; mlkem768; };"))
    a, b = pair["a"], pair["b"]
    lose, win = roles(pair, redundant)
    child_rekey_both(pair, 10.0)
    cross(pair, lose, win, 0, 10.0)
    assert followups_by(a) == (1 if win is a else 0) and followups_by(b) == 0
    assert collisions(lose) == [("CHILD_SA", True, lose is a)]
    assert collisions(win) == [("CHILD_SA", False, False)]
    one_pair(pair, NAMES[1] if win is a else ["CURVE25519"])
    for side in pair.values():
        assert not of(side, NegotiationFailed)
        assert all(e.replaced for e in of(side, ChildSaDown))
    # B's redundant CHILD_SA came up on both sides and was deleted by B.
    downs = sorted(e.reason for e in of(b, ChildSaDown))
    assert downs == sorted(["rekeyed" if win is b else "deleted by the peer"] + (
        ["redundant rekey (RFC 7296 §2.8.1)"] if lose is b else []))


def test_child_sa_rekey_refused_while_the_peers_runs_its_followups(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """B refuses A's CHILD_SA rekey NO_PROPOSAL_CHOSEN while A answered B's, with its
    follow-up to come: A does not retry (B's replaces the CHILD_SA), one pair is left."""
    pair = up(tmp_path, conf(THREE[0]))
    a, b = pair["a"], pair["b"]
    internals.refuse_child_offers(monkeypatch, b, NotifyType.NO_PROPOSAL_CHOSEN)
    child_rekey_both(pair, 10.0)
    cross(pair, a, b, 0, 10.0)
    assert followups_by(b) == 1 and followups_by(a) == 0
    assert [(e.stage, e.reason) for e in of(a, NegotiationFailed)] == [
        ("CHILD_SA rekey", "NO_PROPOSAL_CHOSEN")]
    one_pair(pair, NAMES[1])
    assert not collisions(a) and not collisions(b)


def test_child_sa_rekey_after_ours_was_answered_gets_temporary_failure(
        tmp_path: Path) -> None:
    """Both rekey the CHILD_SA, and B's answer to A's overtakes B's own request: A, its
    follow-up out, refuses B's rekey TEMPORARY_FAILURE (RFC 9370 §2.2.4); B, which answered
    A's rekey (it replaces the CHILD_SA), does not retry."""
    pair = up(tmp_path, conf(THREE[0]))
    a, b = pair["a"], pair["b"]
    child_rekey_both(pair, 10.0)
    exchange(a, b, 10.0)  # CREATE_CHILD_SA  A -> B, answered behind B's own request
    b.outbox.rotate(-1)
    # CREATE_CHILD_SA  A <- B  {…, N(ADDITIONAL_KEY_EXCHANGE)}: A's IKE_FOLLOWUP_KE goes out
    assert exchange(b, a, 10.0).response
    # CREATE_CHILD_SA  A <- B  {N(REKEY_SA), …}: B's rekey, while A's follow-up is out
    assert exchange(b, a, 10.0).exchange == CREATE
    wire: list[Msg] = []
    pump(pair, now=10.0, record=wire)
    assert [m.notifies for m in wire if m.exchange == CREATE] == [
        [NotifyType.TEMPORARY_FAILURE]]
    assert [(e.stage, e.reason) for e in of(b, NegotiationFailed)] == [
        ("CHILD_SA rekey", "TEMPORARY_FAILURE")]
    one_pair(pair, NAMES[1])
    assert not collisions(a) and not collisions(b)


def test_a_loser_that_runs_its_followups_gets_state_not_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that does not settle the collision before its follow-ups (as iked did before)
    runs them all the same, and answers the winner's: the winner dropped what it kept for
    the loser's, so the loser's IKE_FOLLOWUP_KE gets STATE_NOT_FOUND, and the loser drops
    its own new CHILD_SA; one pair is left."""
    pair = up(tmp_path, conf(THREE[0]))
    lose, win = roles(pair, "b")
    redundant, drop = rekey_collision.redundant, child_rekey.drop_rival

    def blind(sa: Any, task: Any, *args: Any) -> bool:
        if sa.host is lose.core:
            task.redundant = False
            return False
        return redundant(sa, task, *args)

    def keep(sa: Any, task: Any, now: float) -> None:
        if sa.host is not lose.core:
            drop(sa, task, now)

    monkeypatch.setattr(rekey_collision, "redundant", blind)
    monkeypatch.setattr(child_rekey, "drop_rival", keep)
    child_rekey_both(pair, 10.0)
    wire = cross(pair, lose, win, 0, 10.0)
    assert followups_by(win) == followups_by(lose) == 1
    assert [m.notifies for m in wire if m.exchange == FOLLOWUP and m.response].count(
        [NotifyType.STATE_NOT_FOUND]) == 1
    assert [e.reason for e in of(lose, NegotiationFailed)] == [
        "ML_KEM_768: peer answered STATE_NOT_FOUND"]
    one_pair(pair, NAMES[1])


@pytest.mark.parametrize("redundant", ["a", "b"])
def test_child_sa_answer_before_our_spi_for_the_peers_rekey(tmp_path: Path,
                                                            redundant: str) -> None:
    """A's own answer comes while A still waits for the kernel's SPI to answer B's colliding
    rekey: A knows only its own nonces then and runs its follow-up.  Settled all the same:
    A losing deletes the CHILD_SA it installed (``redundant rekey``), A winning ends what it
    keeps for B's follow-up, which B, knowing it lost, never sends; one pair is left."""
    pair = up(tmp_path, conf(THREE[0]))
    a, b = pair["a"], pair["b"]
    lose, win = roles(pair, redundant)
    child_rekey_both(pair, 10.0)
    exchange(a, b, 10.0)  # CREATE_CHILD_SA  A -> B: B answers it behind its own request
    for _ in range(2):
        # CREATE_CHILD_SA  A <- B  B's request (A's SPI for its answer not yet there), then
        # B's answer to A's: A's IKE_FOLLOWUP_KE goes out before A answers B
        d = b.outbox.popleft()
        a.core.receive_datagram(d.data, d.remote, d.local, 10.0)
    a.collect()
    pump(pair, now=10.0)
    assert followups_by(a) == 1 and followups_by(b) == (1 if win is b else 0)
    assert collisions(a) == [("CHILD_SA", a is lose, False)]
    assert collisions(b) == [("CHILD_SA", b is lose, b is lose)]
    one_pair(pair, NAMES[1])
    for side in pair.values():
        assert not of(side, NegotiationFailed)
        assert all(e.replaced for e in of(side, ChildSaDown))
    assert ("redundant rekey (RFC 7296 §2.8.1)" in [e.reason for e in of(a, ChildSaDown)]) \
        == (a is lose)
