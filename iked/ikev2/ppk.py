"""RFC 8784 post-quantum preshared keys (PPKs) in IKE_SA_INIT and IKE_AUTH, both roles, pure.

    IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(USE_PPK)
                 i <- r  HDR, SAr1, KEr, Nr, N(USE_PPK)
    IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(PPK_IDENTITY)(PPK_ID)
                                   [, N(NO_PPK_AUTH)(AUTH data with SK_pi')], SAi2, TSi, TSr }
                 i <- r  HDR, SK { IDr, AUTH, N(PPK_IDENTITY), SAr2, TSi, TSr }

When both peers sent USE_PPK, the initiator computes AUTH with SK_pi updated by its first PPK
(:func:`racoon2.crypto.keymat.ppk_keys`: SK_d, SK_pi, SK_pr = prf+(PPK, SK_x'), §3) and names
it in PPK_IDENTITY.  Unless ``ppk_required`` is on it adds NO_PPK_AUTH, the AUTH data computed
with the un-updated SK_pi', for a responder without that PPK.  A responder that has the PPK
uses the updated keys and answers N(PPK_IDENTITY); one that has not, and does not require a
PPK, checks NO_PPK_AUTH and goes on with the keys of IKE_SA_INIT (and IKE_INTERMEDIATE).  A
side with ``ppk_required`` on refuses an IKE SA without a PPK (AUTHENTICATION_FAILED from the
responder, RFC 8784 §3).  The updated SK_d then makes every CHILD_SA's KEYMAT and the next
IKE SA's SKEYSEED.

A PPK_ID is PPK_ID_FIXED followed by the configured identity (§5.1): the one type strongSwan
and libreswan send and accept.  The responder offers USE_PPK when the remote chosen for the
initiator's address has a PPK.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iked.ikev2.common import notify
from racoon2.crypto import keymat
from racoon2.ikev2.constants import NotifyType
from racoon2.ikev2.payloads import Auth, Notify, Payload

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa

#: RFC 8784 §5.1: the PPK_ID is a fixed value both sides were configured with.
PPK_ID_FIXED = 2


def _notes(payloads: Sequence[Payload]) -> dict[int, bytes]:
    return {p.type: p.data for p in payloads if isinstance(p, Notify)}


def show(ident: bytes) -> str:
    """A PPK_ID as the configuration writes it."""
    return ident.decode(errors="replace")


def offer(sa: IkeSa) -> list[Payload]:
    """Initiator: N(USE_PPK) for IKE_SA_INIT when the remote has a PPK."""
    return [notify(NotifyType.USE_PPK)] if sa.peer.ppks else []


def answer(sa: IkeSa, request: Sequence[Payload]) -> list[Payload]:
    """Responder: N(USE_PPK) for our IKE_SA_INIT answer when the initiator sent it and we
    have a PPK (noted on the SA)."""
    sa.ppk_agreed = bool(sa.peer.ppks) and NotifyType.USE_PPK in _notes(request)
    return [notify(NotifyType.USE_PPK)] if sa.ppk_agreed else []


def agreed(sa: IkeSa, response: Sequence[Payload]) -> None:
    """Initiator: whether the responder's IKE_SA_INIT answer has N(USE_PPK) too."""
    sa.ppk_agreed = bool(sa.peer.ppks) and NotifyType.USE_PPK in _notes(response)


def initiator_problem(sa: IkeSa) -> str | None:
    """Initiator, before IKE_AUTH: why the IKE SA cannot go on (a PPK required, none
    agreed); else the PPK keys to try are noted on the SA."""
    if not sa.ppk_agreed:
        if sa.peer.ppk_required:
            return "ppk_required is on, but the responder sent no USE_PPK (RFC 8784 §3)"
        return None
    assert sa.crypto is not None
    sa.ppk_keys = keymat.ppk_keys(sa.crypto.prf, sa.peer.ppks[0][1], sa.crypto.keys)
    return None


def initiator_notifies(sa: IkeSa, no_ppk: Auth) -> list[Payload]:
    """Initiator: N(PPK_IDENTITY) and, unless a PPK is required, N(NO_PPK_AUTH) with
    ``no_ppk`` (our AUTH computed with the un-updated SK_pi')."""
    if sa.ppk_keys is None:
        return []
    out: list[Payload] = [notify(NotifyType.PPK_IDENTITY,
                                 bytes([PPK_ID_FIXED]) + sa.peer.ppks[0][0])]
    if not sa.peer.ppk_required:
        out.append(notify(NotifyType.NO_PPK_AUTH, no_ppk.data))
    return out


def settle_initiator(sa: IkeSa, response: Sequence[Payload]) -> str | None:
    """Initiator: the responder's IKE_AUTH answer says whether it used our PPK
    (N(PPK_IDENTITY)); then the SA takes the updated keys and the responder's AUTH is checked
    with them.  Why the answer is refused, or None."""
    keys, sa.ppk_keys = sa.ppk_keys, None
    if keys is None:
        return None
    if NotifyType.PPK_IDENTITY in _notes(response):
        _adopt(sa, keys, sa.peer.ppks[0][0])
        return None
    if sa.peer.ppk_required:
        return (f"the responder did not use PPK_ID {show(sa.peer.ppks[0][0])} "
                "(no PPK_IDENTITY) and ppk_required is on")
    return None


def responder_auth(sa: IkeSa, request: Sequence[Payload], au: Auth) -> Auth | str:
    """Responder: which AUTH to check, the request's with the keys updated by the PPK it
    names, or NO_PPK_AUTH's with the keys as they are; or why the request is refused."""
    notes = _notes(request)
    wanted = notes.get(NotifyType.PPK_IDENTITY) if sa.ppk_agreed else None
    if wanted is None:
        if sa.peer.ppk_required:
            return "ppk_required is on, but the initiator used no PPK (RFC 8784 §3)"
        return au
    ident = wanted[1:] if wanted[:1] == bytes([PPK_ID_FIXED]) else None
    key = dict(sa.peer.ppks).get(ident) if ident is not None else None
    shown = show(ident) if ident is not None else f"of type {wanted[:1].hex() or 'none'}"
    if key is not None and ident is not None:
        assert sa.crypto is not None
        _adopt(sa, keymat.ppk_keys(sa.crypto.prf, key, sa.crypto.keys), ident)
        return au
    if sa.peer.ppk_required:
        return f"no PPK with PPK_ID {shown} is configured, and ppk_required is on"
    fallback = notes.get(NotifyType.NO_PPK_AUTH)
    if fallback is None:
        return f"no PPK with PPK_ID {shown} is configured, and the initiator sent no NO_PPK_AUTH"
    return Auth(au.method, fallback)


def responder_notifies(sa: IkeSa) -> list[Payload]:
    """Responder: N(PPK_IDENTITY) in our IKE_AUTH answer when we used the PPK."""
    return [notify(NotifyType.PPK_IDENTITY)] if sa.ppk_id is not None else []


def _adopt(sa: IkeSa, keys: keymat.IkeKeys, ident: bytes) -> None:
    crypto = sa.crypto
    assert crypto is not None
    sa.set_crypto(crypto.chosen, crypto.prf, crypto.sk, keys)
    sa.ppk_id = ident
