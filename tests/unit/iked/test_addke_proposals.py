"""RFC 9370 §2.2.1-2.2.2 proposal matching with Additional Key Exchange transforms (pure)."""

from __future__ import annotations

import pytest

from iked.ikev2 import proposals
from iked.ikev2.proposals import NONE, accept, choose, ike_proposals
from racoon2.config.model import AlgSpec
from racoon2.crypto import dh
from racoon2.crypto.transforms import TransformType as T
from racoon2.ikev2.payloads import Proposal, Transform

A1, A2 = T.ADDKE1, T.ADDKE2
MLKEM512, MLKEM768, MLKEM1024 = 35, 36, 37


def offer(*addke: tuple[str, ...]) -> tuple[Proposal, ...]:
    """AES-128-CBC, HMAC-SHA2-256, Curve25519 and ``addke[i]`` as ADDKE(i+1)."""
    def algs(*names: str) -> tuple[AlgSpec, ...]:
        return tuple(AlgSpec(n, None) for n in names)
    return ike_proposals(algs("aes128_cbc"), algs("hmac_sha2_256"), algs("hmac_sha2_256"),
                         algs("curve25519"), [algs(*a) for a in addke])


def addke(chosen: proposals.Chosen) -> list[tuple[int, int]]:
    return [(t.type, t.id) for t in chosen.transforms if t.type in proposals.ADDKE_TYPES]


def test_offer_lists_each_position_after_the_classic_transforms() -> None:
    (p,) = offer(("mlkem768", "none"), ("mlkem1024",))
    assert [(t.type, t.id) for t in p.transforms][-3:] == [
        (A1, MLKEM768), (A1, NONE), (A2, MLKEM1024)]
    assert "ADDKE1 ML_KEM_768, ADDKE1 NONE, ADDKE2 ML_KEM_1024" in proposals.describe((p,))


def test_responder_picks_the_initiators_first_acceptable_method() -> None:
    chosen = choose(offer(("mlkem1024", "mlkem768")), offer(("mlkem768", "mlkem1024")))
    assert chosen is not None and addke(chosen) == [(A1, MLKEM1024)]
    assert chosen.additional() == (MLKEM1024,)


@pytest.mark.parametrize(("initiator", "responder", "agreed"), [
    # A position the responder does not configure counts as NONE: accepted when offered.
    ((("mlkem768", "none"),), (), []),
    # A position the initiator leaves out is NONE: a responder that allows NONE agrees.
    ((), (("mlkem768", "none"),), []),
    ((("mlkem768",), ("mlkem1024", "none")), (("mlkem768",),), [MLKEM768]),
])
def test_none_matches_an_absent_position(initiator: tuple[tuple[str, ...], ...],
                                         responder: tuple[tuple[str, ...], ...],
                                         agreed: list[int]) -> None:
    chosen = choose(offer(*initiator), offer(*responder))
    assert chosen is not None and list(chosen.additional()) == agreed
    # The initiator accepts the answer (NONE sent back, or the type left out).
    answer = chosen.proposal()
    assert accept(answer, offer(*initiator)) is not None


@pytest.mark.parametrize(("initiator", "responder"), [
    ((("mlkem768",),), ()),                 # required by the initiator, unknown to us
    ((), (("mlkem768",),)),                 # required by us, not offered
    ((("mlkem1024",),), (("mlkem768",),)),  # no method in common
])
def test_a_required_position_without_agreement_is_refused(
        initiator: tuple[tuple[str, ...], ...], responder: tuple[tuple[str, ...], ...]) -> None:
    assert choose(offer(*initiator), offer(*responder)) is None


def test_initiator_refuses_an_answer_dropping_a_required_position() -> None:
    (mine,) = offer(("mlkem768",))
    answer = Proposal(1, mine.protocol, b"", tuple(
        t for t in mine.transforms if t.type != A1))
    assert accept(answer, (mine,)) is None
    answer = Proposal(1, mine.protocol, b"", (*answer.transforms, Transform(A1, MLKEM1024)))
    assert accept(answer, (mine,)) is None


@pytest.mark.skipif(dh.available(MLKEM512), reason="this cryptography has ML-KEM-512")
def test_responder_never_picks_a_method_it_cannot_compute() -> None:
    (theirs,) = offer(("mlkem768",))
    theirs = Proposal(1, theirs.protocol, b"", (
        *[t for t in theirs.transforms if t.type != A1], Transform(A1, MLKEM512),
        Transform(A1, MLKEM768)))
    chosen = choose((theirs,), offer(("mlkem768",)))
    assert chosen is not None and chosen.additional() == (MLKEM768,)
    # Even when configured, ML-KEM-512 is not chosen while cryptography lacks it.
    mine = (Proposal(1, theirs.protocol, b"", theirs.transforms),)
    assert choose((Proposal(1, theirs.protocol, b"", tuple(
        t for t in theirs.transforms if (t.type, t.id) != (A1, MLKEM768))),), mine) is None
