"""Rekeying an IKE SA with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18), both roles, pure.

The exchange makes a successor IKE SA with new SPIs, nonces and a fresh key exchange;
SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr).  Its CHILD_SAs move to the successor, whose
original initiator is whoever started the rekey; that side then deletes the old IKE SA.  The
successor is reported as a rekey (phase1_rekey), the old SA's end is not a phase1_down.
Simultaneous rekeys (§2.8.2) are both answered; the one holding the lowest of the four nonces
is redundant: its initiator deletes the IKE SA it made, the CHILD_SAs go to the other one, whose
initiator deletes the old IKE SA.  With additional key exchanges (RFC 9370 §2.2.4) the redundant
rekey's initiator stops before its IKE_FOLLOWUP_KE exchanges, and the CHILD_SAs wait on the old
IKE SA for the winner's (:mod:`iked.ikev2.rekey_collision` draws the interleavings); a peer's
rekey that comes while ours runs its follow-ups is refused TEMPORARY_FAILURE.  While we rekey
the IKE SA, the peer's CHILD_SA exchanges are
refused TEMPORARY_FAILURE (§2.8.2, §2.25; it retries them on the new IKE SA), and so is its IKE
SA rekey while a CHILD_SA exchange of ours holds the SA.  A rekey of ours refused
TEMPORARY_FAILURE is retried after a random wait.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iked.events import NegotiationFailed, Now
from iked.ikev2 import ike_followup, proposals, rekey_collision
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
    task.spi, task.ni = sa.host.new_spi(), sa.host.rng.random_bytes(sa.peer.nonce_size)
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
        elif _rival_running(sa, task):
            pass  # the peer's rekey, in its follow-ups, replaces the SA; the peer ends it
        elif errors[:1] == [NotifyType.TEMPORARY_FAILURE]:
            sa.tasks.want(Task(Kind.REKEY_IKE, not_before=retry_at(sa.host.rng, now)), now)
        else:
            sa.delete(now)  # a new IKE SA comes with the next ACQUIRE
        return
    additional = chosen.additional()
    if task.rival:
        if not rekey_collision.redundant(sa, task, nonce.data, "IKE SA", bool(additional)):
            _drop_rival(sa, task, now)
        elif additional:
            # RFC 9370 §2.2.4: nothing made, nothing to delete; no IKE_FOLLOWUP_KE.  The peer's
            # rekey (made, or its follow-ups to come) takes the CHILD_SAs and ends the old SA.
            return
    if additional:
        # RFC 9370 §2.2.4: the successor waits for the IKE_FOLLOWUP_KE exchanges.
        ike_followup.begin(sa, task, additional, shared, inner,
                           functools.partial(_made, sa, task, chosen, nonce.data), now)
        return
    _made(sa, task, chosen, nonce.data, (shared,), now)


def _rival_running(sa: IkeSa, task: Task) -> bool:
    """The peer's colliding rekey still runs its follow-ups, answered by us."""
    return task.rival_followup is not None and sa.followup is task.rival_followup


def _drop_rival(sa: IkeSa, task: Task, now: Now) -> None:
    """Our rekey won the collision: what the peer's redundant one made or is making goes.
    Follow-ups still to come get STATE_NOT_FOUND (RFC 9370 §2.2.4); a successor it made
    gives the CHILD_SAs back to the old SA, from which ours takes them when it is made: the
    peer deletes that successor, maybe before our follow-ups are done."""
    if _rival_running(sa, task):
        assert task.rival_followup is not None
        sa.followup = None
        task.rival_followup.abandon("redundant rekey (RFC 7296 §2.8.2)", now)
    if task.rival_sa is not None:
        _move(task.rival_sa, sa, now)
        task.rival_sa.replaced = True  # ours replaces it: its end runs no phase1_down
    task.rival_sa, task.rival_followup = None, None


def _move(src: IkeSa, dst: IkeSa, now: Now) -> None:
    """The CHILD_SAs of ``src`` (their leases, accounting and queued exchanges with them) go
    to ``dst``, which is then no longer replaced by ``src``."""
    dst.children += src.children
    dst.retiring += src.retiring
    src.children, src.retiring = [], []
    if src.leased:
        dst.leased, src.leased = src.leased, []
    if src.accounting is not None:
        dst.accounting, src.accounting = src.accounting, None
    src.tasks.hand_over(dst.tasks, now)
    if dst.name == src.rekey_of:
        dst.replaced = False
    dst.host.adopt(dst)  # again: its CHILD_SAs' index, its deadline


def _made(sa: IkeSa, task: Task, chosen: proposals.Chosen, nr: bytes,
          shares: Sequence[bytes], now: Now) -> None:
    """Our rekey's keys are all there (``shares``: SK(0), SK(1), ...): the successor,
    and the old SA deleted, or a simultaneous rekey's settled (RFC 7296 §2.8.2)."""
    mine = sa.successor(True, task.spi, chosen.spi, chosen, shares, task.ni, nr, now)
    if not task.redundant:
        sa.delete(now)  # no collision, or ours won it (the peer's rekey dropped already)
        return
    # Ours is redundant: we delete the IKE SA we made; the CHILD_SAs go to the peer's new
    # IKE SA, or, while its follow-ups still run, back to the old one, which it replaces.
    _move(mine, task.rival_sa or sa, now)
    mine.replaced = True  # by the peer's: its end runs no phase1_down
    mine.delete(now)


def respond(sa: IkeSa, mid: int, sa_p: SA, inner: tuple[Payload, ...], now: Now,
            ours: Task | None = None) -> IkeSa | None:
    """Answer the peer's request to rekey ``sa``: the successor it made, if any.  ``ours``:
    our own rekey, in flight, which this one collides with (RFC 7296 §2.8.2): it is told
    this rekey's nonces once answered, and its successor once made."""
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
    spi_r = sa.host.new_spi()
    nr, ni = sa.host.rng.random_bytes(sa.peer.nonce_size), nonce.data
    answer: tuple[Payload, ...] = (SA((chosen.proposal(spi_r),)), Nonce(nr),
                                   KE(group.ident, public))
    if ours is not None:
        ours.rival = (ni, nr)

    def made(shares: Sequence[bytes], now: Now) -> IkeSa:
        new = sa.successor(False, chosen.spi, spi_r, chosen, shares, ni, nr, now)
        if ours is not None:
            ours.rival_sa = new
        return new

    if chosen.additional():
        # RFC 9370 §2.2.4: the successor comes with the last IKE_FOLLOWUP_KE.
        answer += (ike_followup.offer(sa, chosen.additional(), shared, made),)
        sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, answer)
        if ours is not None:
            ours.rival_followup = sa.followup
        return None
    sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, answer)
    return made((shared,), now)


def is_ike_rekey(sa_p: SA) -> bool:
    """A CREATE_CHILD_SA whose SA payload proposes an IKE SA."""
    return any(p.protocol == ProtocolId.IKE for p in sa_p.proposals)


def collide(sa: IkeSa, ours: Task, msg: Message, inner: tuple[Payload, ...],
            now: Now) -> bool:
    """The peer's request while our CREATE_CHILD_SA ``ours`` (an IKE SA or CHILD_SA one)
    holds the SA; True when it is answered here.  During our IKE SA rekey's CREATE_CHILD_SA
    its IKE SA rekey is answered and kept on our task (§2.8.2, settled by our answer), during
    our rekey's IKE_FOLLOWUP_KE exchanges refused so (RFC 9370 §2.2.4); its CHILD_SA exchanges
    are refused TEMPORARY_FAILURE (§2.8.2: they would land on an SA on its way out); during
    a CHILD_SA exchange of ours its IKE SA rekey is refused TEMPORARY_FAILURE (§2.25)."""
    if msg.exchange != ExchangeType.CREATE_CHILD_SA:
        return False
    sa_p = first(inner, SA)
    ike = sa_p is not None and is_ike_rekey(sa_p)
    if ours.kind is Kind.REKEY_IKE and ike and sa_p is not None and ours.step is Step.SENT \
            and ours.followup is None:
        respond(sa, msg.message_id, sa_p, inner, now, ours)
        return True
    # Else our IKE SA rekey is past its CREATE_CHILD_SA, in its follow-ups: RFC 9370 §2.2.4
    # has the peer's rekey, which crossed none of ours, refused TEMPORARY_FAILURE.
    if not ike and ours.kind is not Kind.REKEY_IKE:
        return False
    sa.tasks.respond(msg.message_id, ExchangeType.CREATE_CHILD_SA,
                     (Notify(0, NotifyType.TEMPORARY_FAILURE, b"", b""),))
    return True
