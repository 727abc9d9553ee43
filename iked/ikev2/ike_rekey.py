"""Rekeying an IKE SA with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18), both roles, pure.

The exchange makes a successor IKE SA with new SPIs, nonces and a fresh key exchange;
SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr).  Its CHILD_SAs move to the successor, whose
original initiator is whoever started the rekey; that side then deletes the old IKE SA.  The
successor is reported as a rekey (phase1_rekey), the old SA's end is not a phase1_down.
Simultaneous rekeys (§2.8.2) are not resolved yet: :func:`collide` answers the peer's request
TEMPORARY_FAILURE while a CREATE_CHILD_SA of ours holds the SA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iked.events import NegotiationFailed, Now
from iked.ikev2 import proposals
from iked.ikev2.common import State, error_notifies, notify_name
from iked.ikev2.tasks import Task
from racoon2.crypto import dh
from racoon2.crypto.transforms import TransformType
from racoon2.errors import CryptoError
from racoon2.ikev2.constants import ExchangeType, NotifyType, ProtocolId
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import KE, SA, Nonce, Notify, Payload, Proposal, first

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa


def _with_spi(props: tuple[Proposal, ...], spi: bytes) -> tuple[Proposal, ...]:
    return tuple(Proposal(p.number, p.protocol, spi, p.transforms) for p in props)


def start(sa: IkeSa, task: Task, now: Now) -> bool:
    """Begin the queued rekey of ``sa`` (its lifetime ran out; the window is free); False
    when the SA is not up any more."""
    if sa.state is not State.ESTABLISHED or sa.crypto is None:
        return False
    group = sa.crypto.chosen.get(TransformType.KE)
    assert group is not None
    exchange = dh.start(group.ident, sa.host.rng)
    task.spi, task.ni = sa.host.rng.random_bytes(8), sa.host.rng.random_bytes(sa.peer.nonce_size)
    task.key_exchange = exchange
    inner: tuple[Payload, ...] = (SA(_with_spi(sa.peer.ike_proposals, task.spi)), Nonce(task.ni),
                                  KE(group.ident, exchange.public_bytes()))
    sa.tasks.request(task, ExchangeType.CREATE_CHILD_SA, inner, now)
    return True


def on_response(sa: IkeSa, task: Task, inner: tuple[Payload, ...], now: Now) -> None:
    """The peer's answer: build the successor, move the CHILD_SAs, delete the old SA."""
    assert task.key_exchange is not None
    errors = error_notifies(inner)
    sa_p = first(inner, SA)
    nonce = first(inner, Nonce)
    ke = first(inner, KE)
    chosen = proposals.accept(sa_p.proposals[0], sa.peer.ike_proposals) if sa_p and len(
        sa_p.proposals) == 1 else None
    problem = notify_name(errors[0]) if errors else ""
    shared = b""
    if not problem:
        try:
            if chosen is None or nonce is None or ke is None or len(chosen.spi) != 8:
                raise CryptoError("the answer lacks SA, Nonce or KE")
            shared = task.key_exchange.shared_secret(ke.data)
        except CryptoError as e:
            problem = str(e)
    if problem or chosen is None or nonce is None:
        sa.host.emit(NegotiationFailed(sa.name, "IKE SA rekey", problem or "bad answer",
                                       configured=proposals.describe(sa.peer.ike_proposals)))
        sa.delete(now)  # a new IKE SA comes with the next ACQUIRE
        return
    sa.successor(True, task.spi, chosen.spi, chosen, shared, task.ni, nonce.data, now)
    sa.delete(now)


def respond(sa: IkeSa, mid: int, sa_p: SA, inner: tuple[Payload, ...], now: Now) -> None:
    """Answer the peer's request to rekey ``sa``."""
    nonce = first(inner, Nonce)
    ke = first(inner, KE)

    def refuse(kind: NotifyType, data: bytes = b"") -> None:
        sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, (Notify(0, kind, b"", data),))

    chosen = proposals.choose(sa_p.proposals, sa.peer.ike_proposals)
    if chosen is None or nonce is None or ke is None or len(chosen.spi) != 8:
        sa.host.emit(NegotiationFailed(sa.name, "IKE SA rekey", "no proposal chosen",
                                       proposals.describe(sa_p.proposals),
                                       proposals.describe(sa.peer.ike_proposals)))
        refuse(NotifyType.NO_PROPOSAL_CHOSEN)
        return
    group = chosen.get(TransformType.KE)
    assert group is not None
    if ke.group != group.ident:
        refuse(NotifyType.INVALID_KE_PAYLOAD, group.ident.to_bytes(2, "big"))
        return
    try:
        public, shared = dh.respond(group.ident, ke.data, sa.host.rng)
    except CryptoError:
        refuse(NotifyType.INVALID_SYNTAX)
        return
    spi_r = sa.host.rng.random_bytes(8)
    nr = sa.host.rng.random_bytes(sa.peer.nonce_size)
    sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA,
                     (SA((chosen.proposal(spi_r),)), Nonce(nr), KE(group.ident, public)))
    sa.successor(False, chosen.spi, spi_r, chosen, shared, nonce.data, nr, now)


def is_ike_rekey(sa_p: SA) -> bool:
    """A CREATE_CHILD_SA whose SA payload proposes an IKE SA."""
    return any(p.protocol == ProtocolId.IKE for p in sa_p.proposals)


def collide(sa: IkeSa, ours: Task, msg: Message, inner: tuple[Payload, ...],
            now: Now) -> bool:
    """The peer's request while our CREATE_CHILD_SA ``ours`` (an IKE SA or CHILD_SA one)
    holds the SA; True when it is answered here: the peer's IKE SA rekey is refused
    TEMPORARY_FAILURE (RFC 7296 §2.25; the §2.8.2 nonce rule is not implemented yet)."""
    sa_p = first(inner, SA)
    if msg.exchange != ExchangeType.CREATE_CHILD_SA or sa_p is None or not is_ike_rekey(sa_p):
        return False
    sa.tasks.respond(msg.message_id, ExchangeType.CREATE_CHILD_SA,
                     (Notify(0, NotifyType.TEMPORARY_FAILURE, b"", b""),))
    return True
