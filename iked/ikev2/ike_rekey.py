"""Rekeying an IKE SA with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18), both roles, pure.

The exchange makes a successor IKE SA with new SPIs, nonces and a fresh key exchange;
SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr).  Its CHILD_SAs move to the successor, whose
original initiator is whoever started the rekey; that side then deletes the old IKE SA.  The
successor is reported as a rekey (phase1_rekey), the old SA's end is not a phase1_down.
Simultaneous rekeys (§2.8.2) are both answered; the one holding the lowest of the four nonces
is redundant: its initiator deletes the IKE SA it made, the CHILD_SAs go to the other one, whose
initiator deletes the old IKE SA.  While we rekey the IKE SA, the peer's CHILD_SA exchanges are
refused TEMPORARY_FAILURE (§2.8.2, §2.25; it retries them on the new IKE SA), and so is its IKE
SA rekey while a CHILD_SA exchange of ours holds the SA.  A rekey of ours refused
TEMPORARY_FAILURE is retried after a random wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iked.events import NegotiationFailed, Now
from iked.ikev2 import proposals
from iked.ikev2.common import State, error_notifies, notify_name
from iked.ikev2.tasks import Kind, Step, Task, retry_at
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
        if task.rival_sa is not None:
            sa.delete(now)  # the peer's rekey made the successor; the old SA is ours to end
        elif errors[:1] == [NotifyType.TEMPORARY_FAILURE]:
            sa.tasks.want(Task(Kind.REKEY_IKE, not_before=retry_at(sa.host.rng, now)), now)
        else:
            sa.delete(now)  # a new IKE SA comes with the next ACQUIRE
        return
    mine = sa.successor(True, task.spi, chosen.spi, chosen, shared, task.ni, nonce.data, now)
    rival = task.rival_sa
    if rival is None:
        sa.delete(now)
        return
    # RFC 7296 §2.8.2: the rekey holding the lowest nonce is redundant.
    ours_redundant = min(task.ni, nonce.data) < min(task.rival)
    winner, loser = (rival, mine) if ours_redundant else (mine, rival)
    winner.children += loser.children
    loser.children = []
    if loser.leased is not None:
        winner.leased, loser.leased = loser.leased, None
    loser.tasks.hand_over(winner.tasks, now)
    sa.host.adopt(winner)  # again: its CHILD_SAs' index, its deadline
    if ours_redundant:
        mine.delete(now)  # we made it; the peer deletes the old IKE SA
    else:
        sa.delete(now)


def respond(sa: IkeSa, mid: int, sa_p: SA, inner: tuple[Payload, ...],
            now: Now) -> IkeSa | None:
    """Answer the peer's request to rekey ``sa``: the successor it made, if any."""
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
        return None
    group = chosen.get(TransformType.KE)
    assert group is not None
    if ke.group != group.ident:
        refuse(NotifyType.INVALID_KE_PAYLOAD, group.ident.to_bytes(2, "big"))
        return None
    try:
        public, shared = dh.respond(group.ident, ke.data, sa.host.rng)
    except CryptoError:
        refuse(NotifyType.INVALID_SYNTAX)
        return None
    spi_r = sa.host.rng.random_bytes(8)
    nr = sa.host.rng.random_bytes(sa.peer.nonce_size)
    sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA,
                     (SA((chosen.proposal(spi_r),)), Nonce(nr), KE(group.ident, public)))
    return sa.successor(False, chosen.spi, spi_r, chosen, shared, nonce.data, nr, now)


def is_ike_rekey(sa_p: SA) -> bool:
    """A CREATE_CHILD_SA whose SA payload proposes an IKE SA."""
    return any(p.protocol == ProtocolId.IKE for p in sa_p.proposals)


def collide(sa: IkeSa, ours: Task, msg: Message, inner: tuple[Payload, ...],
            now: Now) -> bool:
    """The peer's request while our CREATE_CHILD_SA ``ours`` (an IKE SA or CHILD_SA one)
    holds the SA; True when it is answered here.  During our IKE SA rekey its IKE SA rekey
    is answered and kept on our task (§2.8.2, settled by our answer), its CHILD_SA exchanges
    are refused TEMPORARY_FAILURE (§2.8.2: they would land on an SA on its way out); during
    a CHILD_SA exchange of ours its IKE SA rekey is refused TEMPORARY_FAILURE (§2.25)."""
    if msg.exchange != ExchangeType.CREATE_CHILD_SA:
        return False
    sa_p = first(inner, SA)
    ike = sa_p is not None and is_ike_rekey(sa_p)
    if ours.kind is Kind.REKEY_IKE and ike and sa_p is not None and ours.step is Step.SENT:
        nonce = first(inner, Nonce)
        ours.rival_sa = respond(sa, msg.message_id, sa_p, inner, now)
        if ours.rival_sa is not None and nonce is not None:
            ours.rival = (nonce.data, ours.rival_sa.nr)
        return True
    if not ike and ours.kind is not Kind.REKEY_IKE:
        return False
    sa.tasks.respond(msg.message_id, ExchangeType.CREATE_CHILD_SA,
                     (Notify(0, NotifyType.TEMPORARY_FAILURE, b"", b""),))
    return True
