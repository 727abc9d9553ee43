"""CREATE_CHILD_SA for CHILD_SAs (RFC 7296 §1.3.1-1.3.3), both roles, pure.

The initiator side rekeys a CHILD_SA whose kernel soft lifetime ran out: a new SA with
N(REKEY_SA) naming the old one, then an INFORMATIONAL Delete of the old one once the new one is
installed.  The responder side answers a peer's new or rekeyed CHILD_SA with the same policy
and proposal choice as IKE_AUTH.  A PFS key exchange is made when ``need_pfs`` is on (the IKE
SA's group) and accepted whenever the peer offers one.  A request that proposes an IKE SA is
an IKE SA rekey (:mod:`iked.ikev2.ike_rekey`).  A request of the peer's that meets one of ours
goes to :func:`collide` first: simultaneous rekeys of one CHILD_SA are both answered and
resolved by their nonces (RFC 7296 §2.8.1), and a rekey of ours refused TEMPORARY_FAILURE is
retried later (§2.25).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from iked.events import KernelFailed, NegotiationFailed, Now
from iked.ikev2 import child as childmod
from iked.ikev2 import child_sa, ike_rekey, ipcomp, proposals
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
from racoon2.ikev2.payloads import KE, SA, Nonce, Notify, Payload, Proposal, TSi, TSr, first
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


def _pfs_group(sa: IkeSa) -> tt.Transform | None:
    if not sa.peer.need_pfs or sa.crypto is None:
        return None
    return sa.crypto.chosen.get(TransformType.KE)


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
            sa.host.request(sa, api.DelSa(api.SaKey(peer, me, new.settings.protocol,
                                                    new.spi_in)), sa.ignore)
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
    if sa.state is not State.ESTABLISHED or (old is not None and (
            old not in sa.children or old.replaced)):
        # The SA or the CHILD_SA to rekey went while the kernel answered (the peer's Delete),
        # or the peer's rekey of it, answered meanwhile, replaced it: no collision to make.
        me, peer = sa.ends(new)
        sa.host.request(sa, api.DelSa(api.SaKey(peer, me, new.settings.protocol, new.spi_in)),
                        sa.ignore)
        sa.tasks.drain(now)
        return
    group = _pfs_group(sa)
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
                                        (group,) if group else ())), Nonce(ni)]
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
    group = _pfs_group(sa)
    mine = new.settings.proposals(bytes(4), (group,) if group else ())
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
        sa.host.emit(NegotiationFailed(sa.name, "CHILD_SA rekey" if old else "CHILD_SA",
                                       problem,
                                       configured=proposals.describe(mine)))
        if old is not None and not old.replaced:
            if errors[:1] == [NotifyType.TEMPORARY_FAILURE]:
                _retry(sa, old, now)
            elif errors[:1] == [NotifyType.CHILD_SA_NOT_FOUND] and old in sa.children:
                # RFC 7296 §3.10.1: the peer has no such CHILD_SA, so ours carries nothing;
                # it goes without a Delete, and the policy's next ACQUIRE makes a new one.
                sa.children.remove(old)
                sa.remove_child(old, "the peer has no such CHILD_SA")
        me, peer = sa.ends(new)
        sa.host.request(sa, api.DelSa(api.SaKey(peer, me, new.settings.protocol, new.spi_in)),
                        sa.ignore)
        if new.cpi_in:
            sa.host.request(sa, api.DelSa(api.SaKey(peer, me, api.Proto.IPCOMP, new.cpi_in)),
                            sa.ignore)
        return
    new.spi_out = int.from_bytes(chosen.spi, "big")
    task.nr = nonce.data
    if old is not None and old in sa.children and not task.rival:
        # The usual rekey: make-before-break (child_sa.rekeyed).
        child_sa.rekeyed(sa, old, new, chosen, (task.ni, nonce.data), shared, now)
        return
    child_sa.install(sa, new, chosen, (task.ni, nonce.data), initiator=True, shared=shared)
    if old is None:
        return
    if old not in sa.children and not old.replaced:
        # Rekey vs Delete: the peer deleted the CHILD_SA meanwhile, so the new one replaces
        # nothing the peer still has; we started it, so we delete it.
        sa.delete_child(new, now, "the CHILD_SA it rekeys was deleted by the peer")
        return
    settle_rekey(sa, task, now)


def settle_rekey(sa: IkeSa, task: Task, now: Now) -> None:
    """Our rekey of ``task.old`` is done: delete the old CHILD_SA, unless the peer's rekey of
    it collided with ours (RFC 7296 §2.8.1).  Then each side made a new CHILD_SA, and the
    exchange holding the lowest of the four nonces is redundant: its initiator deletes the
    CHILD_SA it made, and the winner's initiator deletes the old one.  Called again when the
    peer's colliding rekey is answered after ours completed."""
    new, old = task.child, task.old
    assert new is not None and old is not None
    if not task.nr:
        return  # our request is still in flight: its answer settles it
    if not task.rival:
        _retire(sa, old, now)
        return
    if min(task.ni, task.nr) < min(task.rival):
        # Ours is redundant: the old CHILD_SA is the peer's to delete.  (If the peer's rekey
        # was answered only after ours, we deleted the old one already: Delete vs Delete.)
        new.replaced = True  # the peer's rekey replaces it: the policy stays
        sa.delete_child(new, now, "redundant rekey (RFC 7296 §2.8.1)")
    else:
        if task.rival_child is not None:
            # The peer deletes the CHILD_SA it made: ours replaces it (the policy stays).
            task.rival_child.replaced = True
        _retire(sa, old, now)


def _retire(sa: IkeSa, old: Child, now: Now) -> None:
    """Steps 3 and 4 of child_sa.rekeyed's make-before-break for a rekey settled after a
    collision: the new CHILD_SA's SAs are requested already (the shell performs requests in
    order), so the old outbound SA goes now and its inbound SA when the peer answers the
    Delete."""
    if old in sa.children:
        old.replaced = True
        sa.retire(old, now)
        sa.withdraw_outbound(old)


def _retry(sa: IkeSa, old: Child, now: Now) -> None:
    """Queue the rekey of ``old`` again after a random wait, so that the CHILD_SA does not
    die at its hard lifetime; if the peer's own rekey replaces ``old`` first, the retry is
    dropped when it comes up."""
    task = Task(Kind.REKEY_CHILD, child=Child(old.settings, rekey_of=old), old=old,
                not_before=retry_at(sa.host.rng, now))
    sa.tasks.want(task, now)


def respond(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
            now: Now, made: Made | None = None) -> None:
    """Answer a peer's CREATE_CHILD_SA for a CHILD_SA (new or rekeyed); ``made`` is told the
    exchange's nonces once the CHILD_SA is installed and answered."""
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
    picked = child_sa.pick(sa, sa_p, tsi, tsr, transport, (group,) if group else ())
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
    if old is not None:
        c.rekey_of, old.replaced = old, True
    me, peer = sa.ends(c)

    def cpi(result: object, now: Now) -> None:
        if not isinstance(result, int) or comp is None:
            sa.host.emit(KernelFailed(sa.name, "allocate an IPComp CPI", str(result)))
            sa.host.request(sa, api.DelSa(api.SaKey(peer, me, c.settings.protocol, c.spi_in)),
                            sa.ignore)
            refuse(NotifyType.TEMPORARY_FAILURE)
            return
        c.ipcomp = childmod.Ipcomp(comp[1], result, comp[0])
        answer_with(now)

    def allocated(result: object, now: Now) -> None:
        if not isinstance(result, int):
            sa.host.emit(KernelFailed(sa.name, "allocate an inbound SPI", str(result)))
            refuse(NotifyType.TEMPORARY_FAILURE)
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
                refuse(NotifyType.INVALID_SYNTAX)
                return
        child_sa.install(sa, c, chosen, (nonce.data, nr), initiator=False, shared=shared)
        out: list[Payload] = []
        if not c.settings.tunnel:
            out.append(notify(NotifyType.USE_TRANSPORT_MODE))
        out += ipcomp.answer(c)
        out += [SA((chosen.proposal(struct.pack("!I", c.spi_in)),)), Nonce(nr)]
        if public and group is not None:
            out.append(KE(group.ident, public))
        out += [TSi(childmod.to_wire(answer[0])), TSr(childmod.to_wire(answer[1]))]
        sa.tasks.respond(mid, ExchangeType.CREATE_CHILD_SA, tuple(out))
        if made is not None:
            made(c, nonce.data, nr, now)

    sa.host.request(sa, api.AllocSpi(c.settings.protocol, peer, me, c.settings.reqid), allocated)


def collide(sa: IkeSa, ours: Task, msg: Message, inner: tuple[Payload, ...],
            now: Now) -> bool:
    """The peer's request while our CHILD_SA exchange ``ours`` holds the SA; True when it is
    answered here.  Its IKE SA rekey is refused TEMPORARY_FAILURE (RFC 7296 §2.25).  Its
    rekey of the CHILD_SA we are rekeying (§2.8.1) is answered as usual, and its nonces are
    kept on our task, whose answer (or this one, if ours came first) decides by the nonces
    which new CHILD_SA stays (:func:`settle_rekey`).  A Delete of that CHILD_SA (rekey vs
    Delete) is answered as any Delete: our rekey is then abandoned when its answer comes."""
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

    def made(child: Child, ni: bytes, nr: bytes, now: Now) -> None:
        ours.rival, ours.rival_child = (ni, nr), child
        settle_rekey(sa, ours, now)

    respond(sa, sa.tasks.passive, msg, inner, now, made)
    return True
