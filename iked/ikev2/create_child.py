"""CREATE_CHILD_SA for CHILD_SAs (RFC 7296 §1.3.1-1.3.3), both roles, pure.

The initiator side rekeys a CHILD_SA whose kernel soft lifetime ran out: a new SA with
N(REKEY_SA) naming the old one, then an INFORMATIONAL Delete of the old one once the new one is
installed.  The responder side answers a peer's new or rekeyed CHILD_SA with the same policy
and proposal choice as IKE_AUTH.  A PFS key exchange is made when ``need_pfs`` is on (the IKE
SA's group) and accepted whenever the peer offers one.  With it go the remote's
``kmp_addkeN`` lists as ADDKE transforms (RFC 9370 §2.2.4): the additional key exchanges agreed
run as IKE_FOLLOWUP_KE exchanges (:mod:`iked.ikev2.ike_followup`) after the CREATE_CHILD_SA,
and the CHILD_SA, keyed from all their shared secrets, is installed once the last is done, on
both sides.  A request that proposes an IKE SA is an IKE SA rekey
(:mod:`iked.ikev2.ike_rekey`).  A request of the peer's that meets one of ours goes to
:func:`collide` first: simultaneous rekeys of one CHILD_SA are both answered and resolved by
the nonces of their CREATE_CHILD_SA exchanges (RFC 7296 §2.8.1, RFC 9370 §2.2.4) when ours is
answered, so that the redundant one runs no follow-up exchanges
(:mod:`iked.ikev2.rekey_collision`), and a rekey of ours refused TEMPORARY_FAILURE is retried
later (§2.25).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from iked.events import KernelFailed, NegotiationFailed, Now
from iked.ikev2 import child as childmod
from iked.ikev2 import (
    child_rekey,
    child_sa,
    ike_followup,
    ike_rekey,
    ipcomp,
    proposals,
    rekey_collision,
)
from iked.ikev2.child import Child
from iked.ikev2.common import State, error_notifies, notify, notify_name
from iked.ikev2.settings import ChildSettings
from iked.ikev2.tasks import Kind, Task, retry_at
from racoon2.crypto import dh
from racoon2.crypto import transforms as tt
from racoon2.crypto.transforms import TransformType
from racoon2.errors import CryptoError
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import (
    KE,
    SA,
    Nonce,
    Notify,
    Payload,
    Proposal,
    Transform,
    TSi,
    TSr,
    first,
)
from racoon2.kernel import api

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa


#: ``made(child, ni, nr, now)``: the peer's CREATE_CHILD_SA that :func:`respond` answered
#: made ``child`` with these nonces.
Made = Callable[[Child, bytes, bytes, Now], None]


def _groups(props: Sequence[Proposal]) -> list[int]:
    """The KE groups of ``props``, in order of preference."""
    return list(dict.fromkeys(t.id for p in props for t in p.transforms
                              if t.type == TransformType.KE))


def _pfs_group(sa: IkeSa, task: Task) -> tt.Transform | None:
    """The KE group of ``task``'s request: the one the peer asked for in INVALID_KE_PAYLOAD,
    else the IKE SA's when need_pfs is on."""
    if task.group:
        return tt.by_id(TransformType.KE, task.group)
    if not sa.peer.need_pfs or sa.crypto is None:
        return None
    return sa.crypto.chosen.get(TransformType.KE)


def _addke(sa: IkeSa, group: tt.Transform | None) -> tuple[Transform, ...]:
    """The ADDKE transforms a PFS exchange with ``group`` offers and accepts: the remote's
    ``kmp_addkeN`` lists, as its IKE proposal has them (RFC 9370 §2.2.4); none without PFS."""
    if group is None or not sa.peer.ike_proposals:
        return ()
    return tuple(t for t in sa.peer.ike_proposals[0].transforms
                 if t.type in proposals.ADDKE_TYPES)


def _stage(task: Task | None) -> str:
    return "CHILD_SA rekey" if task is not None and task.old is not None else "CHILD_SA"


def start_rekey(sa: IkeSa, old: Child, now: Now) -> bool:
    """Queue the rekey of ``old`` (it runs when the window frees); False when ``old`` is not
    this SA's."""
    if old not in sa.children:
        return False
    sa.tasks.want(Task(Kind.REKEY_CHILD, child=Child(old.settings, rekey_of=old), old=old),
                  now)
    return True


def start_new(sa: IkeSa, settings: ChildSettings, now: Now) -> bool:
    """Queue an additional CHILD_SA for another policy of this peer (an ACQUIRE's); False
    when the SA is not up to carry it."""
    if sa.state is not State.ESTABLISHED:
        return False
    sa.tasks.want(Task(Kind.NEW_CHILD, child=Child(settings)), now)
    return True


def begin(sa: IkeSa, task: Task, now: Now) -> bool:
    """Start a queued CHILD_SA exchange (the window is free): the inbound SPI first; False
    when it has nothing to do any more (the SA not up, the CHILD_SA to rekey gone)."""
    old = task.old
    if sa.state is not State.ESTABLISHED or (old is not None and (
            old not in sa.children or old.replaced)):
        return False
    sa.tasks.preparing = task  # claims the SA until the request is sent
    new = task.child
    assert new is not None
    me, peer = sa.ends(new)

    def allocated(result: object, now: Now) -> None:
        if not isinstance(result, int):
            sa.tasks.preparing = None
            sa.host.emit(KernelFailed(sa.name, "allocate an inbound SPI", str(result)))
            sa.tasks.drain(now)
            return
        new.spi_in = result
        if new.settings.ipcomp:
            sa.host.request(sa, ipcomp.alloc(new, me, peer), cpi)
            return
        _send(sa, task, now)

    def cpi(result: object, now: Now) -> None:
        if not isinstance(result, int):
            sa.tasks.preparing = None
            sa.host.emit(KernelFailed(sa.name, "allocate an IPComp CPI", str(result)))
            sa.drop_larval(new)
            sa.tasks.drain(now)
            return
        new.cpi_in = result
        _send(sa, task, now)

    sa.host.request(sa, api.AllocSpi(new.settings.protocol, peer, me, new.settings.reqid),
                    allocated)
    return True


def _send(sa: IkeSa, task: Task, now: Now) -> None:
    sa.tasks.preparing = None
    new, old = task.child, task.old
    assert new is not None
    if sa.state is not State.ESTABLISHED or sa.deadline_gone is not None or (
            old is not None and (old not in sa.children or old.replaced)):
        # The SA or the CHILD_SA to rekey went while the kernel answered (the peer's Delete),
        # or the peer's rekey of it, answered meanwhile, replaced it: no collision to make.
        # An SA being shut down sends its Delete instead.
        sa.drop_larval(new)
        sa.tasks.drain(now)
        return
    group = _pfs_group(sa, task)
    exchange = dh.start(group.ident, sa.host.rng) if group else None
    ni = sa.host.rng.random_bytes(sa.peer.nonce_size)
    inner: list[Payload] = []
    if old is not None:
        inner.append(notify(NotifyType.REKEY_SA, spi=struct.pack("!I", old.spi_in),
                             protocol=childmod.PROTOCOL_ID[old.settings.protocol]))
    if not new.settings.tunnel:
        inner.append(notify(NotifyType.USE_TRANSPORT_MODE))
    inner += ipcomp.offer(new)
    inner += [SA(new.settings.proposals(struct.pack("!I", new.spi_in),
                                        (group,) if group else (), _addke(sa, group))),
              Nonce(ni)]
    if exchange is not None and group is not None:
        inner.append(KE(group.ident, exchange.public_bytes()))
    inner += [TSi(childmod.to_wire(new.settings.local_ts)),
              TSr(childmod.to_wire(new.settings.remote_ts))]
    task.ni, task.key_exchange = ni, exchange
    sa.tasks.request(task, ExchangeType.CREATE_CHILD_SA, tuple(inner), now)


def on_response(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                now: Now) -> None:
    """The answer to our CREATE_CHILD_SA: install the new CHILD_SA, then delete the old one
    it rekeys; the answer to an IKE SA rekey goes to :mod:`~iked.ikev2.ike_rekey`."""
    if task is not None and task.kind is Kind.REKEY_IKE:
        ike_rekey.on_response(sa, task, inner, now)
        return
    if task is None or task.kind not in (Kind.NEW_CHILD, Kind.REKEY_CHILD) or \
            task.child is None:
        return
    new, old = task.child, task.old
    errors = error_notifies(inner)
    sa_p = first(inner, SA)
    nonce = first(inner, Nonce)
    ke = first(inner, KE)
    tsi = first(inner, TSi)
    tsr = first(inner, TSr)
    group = _pfs_group(sa, task)
    mine = new.settings.proposals(bytes(4), (group,) if group else (), _addke(sa, group))
    chosen = proposals.accept(sa_p.proposals[0], mine) if sa_p and len(
        sa_p.proposals) == 1 else None
    shared = b""
    problem = notify_name(errors[0]) if errors else ""
    if not problem and (chosen is None or nonce is None or tsi is None or tsr is None):
        problem = "the answer lacks what we asked for"
    if not problem and task.key_exchange is not None:
        try:
            shared = task.key_exchange.shared_secret(ke.data) if ke else b""
        except CryptoError as e:
            problem = f"bad KE payload: {e}"
        if not shared and not problem:
            problem = "no KE payload for our PFS group"
    if not problem and tsi is not None and tsr is not None and not childmod.initiator_accepts(
            new.settings, childmod.from_wire(tsi.selectors), childmod.from_wire(tsr.selectors)):
        problem = "traffic selectors outside our policy"
    if not problem and new.settings.ipcomp:
        new.ipcomp = ipcomp.agreed(new, inner)
        problem = "" if new.ipcomp else "the responder did not agree to IPComp"
    if problem or chosen is None or nonce is None:
        sa.host.emit(NegotiationFailed(sa.name, _stage(task), problem,
                                       configured=proposals.describe(mine)))
        if not errors and sa_p is not None:
            # The peer installed the CHILD_SA it answered with and we refuse it: it is told,
            # so that it does not keep a half nobody uses (RFC 7296 §1.4.1).
            sa.tasks.want(Task(Kind.DELETE_CHILD, child=new, reason=problem), now)
        if old is not None and not old.replaced:
            _refused(sa, task, old, errors, inner, now)
        sa.drop_larval(new)
        return
    additional = chosen.additional()
    if additional and task.rival:
        # Simultaneous rekeys of ``old``, settled now by the CREATE_CHILD_SA nonces (RFC 9370
        # §2.2.4, iked.ikev2.rekey_collision): a redundant rekey of ours stops before its
        # follow-ups (nothing installed, nothing to delete; the peer's replaces ``old``),
        # a winning one ends what we keep for the peer's.
        if rekey_collision.redundant(sa, task, nonce.data, f"CHILD_SA of policy "
                                     f"{new.settings.policy}", True):
            sa.drop_larval(new)
            return
        child_rekey.drop_rival(sa, task, now)
    if additional:
        # RFC 9370 §2.2.4: the CHILD_SA waits for the IKE_FOLLOWUP_KE exchanges.
        ike_followup.begin(sa, task, additional, shared, inner,
                           functools.partial(_complete, sa, task, chosen, nonce.data), now,
                           functools.partial(_abandon, sa, task), _stage(task))
        return
    _complete(sa, task, chosen, nonce.data, (shared,), now)


def _abandon(sa: IkeSa, task: Task, reason: str, now: Now) -> None:
    """Initiator: our exchange's follow-ups failed; the peer installed nothing (it waits for
    the last one), so only our SPI goes, and a rekey is tried again later."""
    assert task.child is not None
    sa.host.emit(NegotiationFailed(sa.name, _stage(task), reason))
    sa.drop_larval(task.child)
    if task.old is not None and not task.old.replaced:
        _refused(sa, task, task.old, [], (), now)


def _complete(sa: IkeSa, task: Task, chosen: proposals.Chosen, nr: bytes,
              shares: Sequence[bytes], now: Now) -> None:
    """Initiator: every key exchange of our CREATE_CHILD_SA is done (``shares``: g^ir, SK(1),
    ..., SK(n)): install the new CHILD_SA, then retire the old one it rekeys."""
    new, old = task.child, task.old
    assert new is not None
    new.spi_out = int.from_bytes(chosen.spi, "big")
    task.nr = nr
    if old is not None and old in sa.children and not task.rival:
        # The usual rekey: make-before-break (child_sa.rekeyed).
        child_sa.rekeyed(sa, old, new, chosen, (task.ni, nr), shares, now)
        return
    gone = old is not None and old not in sa.children and not old.replaced
    if gone and old is not None and old.expired:
        # ``old``'s hard lifetime ended before the answer (a slow exchange, a collision's
        # follow-ups): it is gone on both sides (we sent its Delete), and the new CHILD_SA,
        # which the peer installed too, is no rekey any more but the policy's CHILD_SA, up
        # (its phase2_up hook after old's phase2_down).  Deleting it would leave the policy
        # without an SA until its next ACQUIRE's exchange is done.
        new.rekey_of = None
    child_sa.install(sa, new, chosen, (task.ni, nr), initiator=True, shares=shares)
    if old is None:
        return
    if gone and new.rekey_of is not None:
        # Rekey vs Delete: the peer deleted the CHILD_SA meanwhile, so the new one replaces
        # nothing the peer still has; we started it, so we delete it.
        sa.delete_child(new, now, "the CHILD_SA it rekeys was deleted by the peer")
        return
    child_rekey.settle(sa, task, now)


def _refused(sa: IkeSa, task: Task, old: Child, errors: list[int],
             inner: tuple[Payload, ...], now: Now) -> None:
    """Our rekey of ``old`` failed: the peer installed nothing (or is told to delete what it
    did), so ``old`` carries traffic on both sides as before (RFC 7296 §1.3.3, §2.8).

    CHILD_SA_NOT_FOUND (§3.10.1): the peer has no such CHILD_SA, so ours carries nothing;
    it goes without a Delete, and the policy's next ACQUIRE makes a new one.
    INVALID_KE_PAYLOAD naming a group we allow (§1.3): at once with that group.  Anything
    else (TEMPORARY_FAILURE §2.25, NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, an answer we
    refuse): again after a random wait, as strongSwan does, until ``old``'s hard lifetime
    deletes it with a Delete (:func:`iked.ikev2.dispatch.expire_child`)."""
    kind = errors[0] if errors else None
    if kind == NotifyType.CHILD_SA_NOT_FOUND:
        if old in sa.children:
            sa.children.remove(old)
            sa.remove_child(old, "the peer has no such CHILD_SA")
        return
    wanted = next((int.from_bytes(p.data[:2], "big") for p in inner if isinstance(p, Notify)
                   and p.type == NotifyType.INVALID_KE_PAYLOAD and len(p.data) >= 2), 0)
    if kind == NotifyType.INVALID_KE_PAYLOAD and wanted != task.group and \
            wanted in _groups(sa.peer.ike_proposals):
        sa.tasks.want(Task(Kind.REKEY_CHILD, child=Child(old.settings, rekey_of=old), old=old,
                           group=wanted), now)
        return
    task = Task(Kind.REKEY_CHILD, child=Child(old.settings, rekey_of=old), old=old,
                group=task.group, not_before=retry_at(sa.host.rng, now, child_sa.hard_end(old)))
    sa.tasks.want(task, now)


def respond(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
            now: Now, made: Made | None = None,
            answered: Callable[[bytes, bytes], None] | None = None) -> None:
    """Answer a peer's CREATE_CHILD_SA for a CHILD_SA (new or rekeyed); ``made`` is told the
    exchange's nonces once the CHILD_SA is installed and answered, ``answered`` as soon as
    the CREATE_CHILD_SA is answered when IKE_FOLLOWUP_KE exchanges are to follow."""
    mid = msg.message_id
    notes = {p.type: p for p in inner if isinstance(p, Notify)}
    sa_p = first(inner, SA)
    nonce = first(inner, Nonce)
    ke = first(inner, KE)
    tsi = first(inner, TSi)
    tsr = first(inner, TSr)

    def refuse(kind: NotifyType) -> None:
        sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, (notify(kind),))

    if sa_p is not None and ike_rekey.is_ike_rekey(sa_p):
        ike_rekey.respond(sa, mid, sa_p, inner, now)
        return
    if sa_p is None or nonce is None or tsi is None or tsr is None:
        refuse(NotifyType.INVALID_SYNTAX)
        return
    rekey = notes.get(NotifyType.REKEY_SA)
    old = None
    if rekey is not None:
        # The initiator of a rekey deletes the old CHILD_SA once the new one is up; the
        # responder only checks that it exists.
        spi = int.from_bytes(rekey.spi, "big")
        old = next((c for c in sa.children if spi in (c.spi_out, c.spi_in)), None)
        if old is None:
            refuse(NotifyType.CHILD_SA_NOT_FOUND)
            return
    group = None
    if ke is not None:
        # Only the configured groups (kmp_dh_group) may make the PFS exchange; for another
        # one the peer is told our preferred group it offers (RFC 7296 §1.3, §3.10.1).
        allowed = _groups(sa.peer.ike_proposals)
        offered = _groups(sa_p.proposals)
        if ke.group not in allowed or ke.group not in offered:
            preferred = next((g for g in allowed if g in offered), None)
            sa.host.emit(NegotiationFailed(
                sa.name, "CHILD_SA", f"KE payload of group {ke.group}",
                proposals.describe(sa_p.proposals), proposals.describe(sa.peer.ike_proposals)))
            if preferred is None:
                refuse(NotifyType.NO_PROPOSAL_CHOSEN)
            else:
                sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, (notify(
                    NotifyType.INVALID_KE_PAYLOAD, preferred.to_bytes(2, "big")),))
            return
        try:
            group = tt.by_id(TransformType.KE, ke.group)
        except CryptoError:
            refuse(NotifyType.NO_PROPOSAL_CHOSEN)
            return
    transport = NotifyType.USE_TRANSPORT_MODE in notes
    picked = child_sa.pick(sa, sa_p, tsi, tsr, transport, (group,) if group else (),
                           addke=_addke(sa, group))
    if isinstance(picked, Notify):
        sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, (picked,))
        return
    c, chosen, answer = picked
    comp = ipcomp.pick(c, inner) if c.settings.ipcomp else None
    if c.settings.ipcomp and comp is None:
        # Our templates require IPComp; a CHILD_SA without it would carry nothing.
        refuse(NotifyType.NO_PROPOSAL_CHOSEN)
        return
    c.spi_out = int.from_bytes(chosen.spi, "big")
    # The peer's rekey replaces ``old`` from here on (a rekey of ours that waits for its SPI
    # is abandoned, :func:`_send`) unless we refuse it after all: then ``old`` stays as it
    # was, to be rekeyed again (RFC 7296 §2.8).
    was_replaced = old.replaced if old is not None else False
    if old is not None:
        c.rekey_of, old.replaced = old, True
    me, peer = sa.ends(c)

    def give_up(kind: NotifyType) -> None:
        if old is not None:
            old.replaced = was_replaced
        refuse(kind)

    def cpi(result: object, now: Now) -> None:
        if not isinstance(result, int) or comp is None:
            sa.host.emit(KernelFailed(sa.name, "allocate an IPComp CPI", str(result)))
            sa.drop_larval(c)
            give_up(NotifyType.TEMPORARY_FAILURE)
            return
        c.ipcomp = childmod.Ipcomp(comp[1], result, comp[0])
        answer_with(now)

    def allocated(result: object, now: Now) -> None:
        if not isinstance(result, int):
            sa.host.emit(KernelFailed(sa.name, "allocate an inbound SPI", str(result)))
            give_up(NotifyType.TEMPORARY_FAILURE)
            return
        c.spi_in = result
        if comp is not None:
            sa.host.request(sa, ipcomp.alloc(c, me, peer), cpi)
            return
        answer_with(now)

    def answer_with(now: Now) -> None:
        nr = sa.host.rng.random_bytes(sa.peer.nonce_size)
        shared, public = b"", b""
        if ke is not None and group is not None:
            try:
                public, shared = dh.respond(group.ident, ke.data, sa.host.rng)
            except CryptoError:
                sa.drop_larval(c)
                give_up(NotifyType.INVALID_SYNTAX)
                return
        out: list[Payload] = []
        if not c.settings.tunnel:
            out.append(notify(NotifyType.USE_TRANSPORT_MODE))
        out += ipcomp.answer(c)
        out += [SA((chosen.proposal(struct.pack("!I", c.spi_in)),)), Nonce(nr)]
        if public and group is not None:
            out.append(KE(group.ident, public))
        out += [TSi(childmod.to_wire(answer[0])), TSr(childmod.to_wire(answer[1]))]
        additional = chosen.additional()
        if not additional:
            finish(nr, (shared,), now, tuple(out))
            return
        # RFC 9370 §2.2.4: the CHILD_SA is installed when the initiator's last
        # IKE_FOLLOWUP_KE comes (before that answer, as here before this one).
        out.append(ike_followup.offer(sa, additional, shared, functools.partial(finish, nr),
                                      abandon, "CHILD_SA rekey" if old else "CHILD_SA",
                                      install_first=True))
        sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, tuple(out))
        if answered is not None:
            answered(nonce.data, nr)

    def finish(nr: bytes, shares: Sequence[bytes], now: Now,
               out: tuple[Payload, ...] = ()) -> None:
        # A rekey's new outbound SAs wait until the initiator has its inbound ones
        # (make-before-break, child_sa.rekeyed).  The kernel requests queue before the
        # answer: the shell performs them first.
        child_sa.install(sa, c, chosen, (nonce.data, nr), initiator=False, shares=shares,
                         hold_until=child_sa.hold_until(old, now) if old is not None
                         else None)
        if out:
            sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, out)
        if made is not None:
            made(c, nonce.data, nr, now)

    def abandon(reason: str, now: Now) -> None:
        # The follow-ups failed: nothing was installed; ``old`` stays as it was.
        sa.drop_larval(c)
        if old is not None:
            old.replaced = was_replaced

    sa.host.request(sa, api.AllocSpi(c.settings.protocol, peer, me, c.settings.reqid), allocated)


def collide(sa: IkeSa, ours: Task, msg: Message, inner: tuple[Payload, ...],
            now: Now) -> bool:
    """The peer's request while our CHILD_SA exchange ``ours`` holds the SA; True when it is
    answered here.  Its IKE SA rekey is refused TEMPORARY_FAILURE (RFC 7296 §2.25).  Its
    rekey of the CHILD_SA we are rekeying (§2.8.1) is answered as usual while our
    CREATE_CHILD_SA is in flight, and its nonces are kept on our task, whose answer decides
    by the nonces which new CHILD_SA stays (:mod:`iked.ikev2.rekey_collision`); while our
    follow-ups run it is refused TEMPORARY_FAILURE (RFC 9370 §2.2.4).  A Delete of that
    CHILD_SA (rekey vs Delete) is answered as any Delete: our rekey is then abandoned when its
    answer comes."""
    if msg.exchange != ExchangeType.CREATE_CHILD_SA:
        return False
    if ike_rekey.collide(sa, ours, msg, inner, now):
        return True
    rekey = next((p for p in inner if isinstance(p, Notify) and p.type == NotifyType.REKEY_SA),
                 None)
    if ours.kind is not Kind.REKEY_CHILD or ours.old is None or rekey is None:
        return False
    if int.from_bytes(rekey.spi, "big") not in (ours.old.spi_out, ours.old.spi_in):
        return False
    if ours.followup is not None:
        # RFC 9370 §2.2.4: our CREATE_CHILD_SA was answered before this came, our follow-ups
        # run; the peer, which answered ours, gets TEMPORARY_FAILURE and keeps ours.
        sa.tasks.respond(msg.message_id, ExchangeType.CREATE_CHILD_SA,
                         (notify(NotifyType.TEMPORARY_FAILURE),))
        return True

    def answered(ni: bytes, nr: bytes) -> None:
        # RFC 9370 §2.2.4: its nonces settle the collision even while its follow-ups run.
        ours.rival, ours.rival_followup = (ni, nr), sa.followup

    def made(child: Child, ni: bytes, nr: bytes, now: Now) -> None:
        ours.rival, ours.rival_child = (ni, nr), child
        child_rekey.settle(sa, ours, now)

    respond(sa, sa.tasks.passive, msg, inner, now, made, answered)
    return True


def refuse_closing(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                   now: Now) -> None:
    """The peer's CREATE_CHILD_SA (an IKE SA or CHILD_SA rekey, a new CHILD_SA) while our
    Delete of the IKE SA is in flight: refused TEMPORARY_FAILURE (RFC 7296 §2.25.2), not
    left unanswered.  Our Delete ends the SA; the peer, told to wait, forgets its request
    when the Delete reaches it."""
    sa.tasks.respond(msg.message_id, ExchangeType.CREATE_CHILD_SA,
                     (notify(NotifyType.TEMPORARY_FAILURE),))
