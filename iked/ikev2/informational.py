"""INFORMATIONAL (RFC 7296 §1.4, §2.4): Delete of CHILD_SAs and IKE SAs, liveness checks.

Both roles: the peer's Delete is answered with ours for the CHILD_SAs it names (§1.4.1), its
empty request (a liveness check) with an empty answer.  Our Delete and liveness checks are
started by the task manager when the window is free (queued until then); an IKE SA Delete for
an SA no longer up ends it at once, as the original.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from iked.events import DropReason, InvalidSpiHint, Now
from iked.ikev2 import child as childmod
from iked.ikev2 import child_sa, mobike
from iked.ikev2.common import State
from iked.ikev2.tasks import Kind, Task
from racoon2.ikev2 import message
from racoon2.ikev2.constants import (
    FLAG_INITIATOR,
    FLAG_RESPONSE,
    ExchangeType,
    NotifyType,
    ProtocolId,
)
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import Delete, Notify, Payload
from racoon2.kernel import api
from racoon2.net import Endpoint

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa
    from iked.queues import Continue


def respond(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
            now: Now) -> None:
    """Answer the peer's INFORMATIONAL request."""
    answer: list[Payload] = []
    for p in inner:
        if not isinstance(p, Delete):
            continue
        if p.protocol == ProtocolId.IKE:
            sa.tasks.respond(msg.message_id, ExchangeType.INFORMATIONAL, ())
            sa.die("deleted by the peer")
            return
        gone = []
        for spi in p.spis:
            out = int.from_bytes(spi, "big")
            for c in [c for c in sa.children if c.spi_out == out]:
                child_sa.release_successor(sa, c)  # the rekey's initiator has its SAs
                sa.remove_child(c, "deleted by the peer")
                sa.children.remove(c)
                gone.append(struct.pack("!I", c.spi_in))
                old = c.rekey_of
                if old is not None and old in sa.children and not c.replaced:
                    # The peer refused our answer to its rekey of ``old``: that CHILD_SA is
                    # the one in use again, for either side to rekey (RFC 7296 §2.8).
                    old.replaced = False
        if gone:
            answer.append(Delete(p.protocol, 4, tuple(gone)))
    answer += mobike.informational(sa, msg, inner, now)
    sa.tasks.respond(msg.message_id, ExchangeType.INFORMATIONAL, tuple(answer))


def on_response(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                now: Now) -> None:
    """The answer to our INFORMATIONAL request: a deleted IKE SA ends, a rekeyed CHILD_SA's
    inbound SA goes (the peer no longer sends on it); that the peer lives, :func:`alive` has
    noted already."""
    if task is not None and task.kind is Kind.DELETE_CHILD and task.child is not None:
        sa.release_inbound(task.child)
    if task is not None and task.kind is Kind.UPDATE_ADDRESSES:
        mobike.on_update_response(sa, task, inner, now)
    if sa.state is State.DELETING:
        sa.die("deleted")


def delete_child(sa: IkeSa, task: Task, now: Now) -> bool:
    """Tell the peer (INFORMATIONAL Delete) that ``task.child`` is gone: the SA took it out
    of the kernel when it queued the task (:meth:`~iked.ikev2.sa.IkeSa.delete_child`)."""
    c = task.child
    if c is None or sa.state is not State.ESTABLISHED:
        return False
    sa.tasks.request(task, ExchangeType.INFORMATIONAL, (Delete(
        childmod.PROTOCOL_ID[c.settings.protocol], 4, (struct.pack("!I", c.spi_in),)),), now)
    return True


def delete(sa: IkeSa, task: Task, now: Now) -> bool:
    """Send INFORMATIONAL Delete for the whole IKE SA (its CHILD_SAs go with it); an SA that
    is not up any more just ends (one already deleting waits for its answer)."""
    if sa.state is State.DELETING:
        return False
    if sa.state is not State.ESTABLISHED:
        sa.die("shut down")
        return False
    sa.move(State.DELETING)
    sa.tasks.request(task, ExchangeType.INFORMATIONAL, (Delete(ProtocolId.IKE, 0),), now)
    return True


def invalid_spi(msg: Message) -> bytes:
    """RFC 7296 §2.21.4: the answer to a request for an IKE SA we do not know (its peer's
    Delete answer was lost, or we restarted), unprotected and from no state: INFORMATIONAL
    with N(INVALID_IKE_SPI), the request's SPIs and message ID, sent back where it came from."""
    flags = FLAG_RESPONSE | (0 if msg.initiator else FLAG_INITIATOR)
    return message.encode(Message(msg.spi_i, msg.spi_r, ExchangeType.INFORMATIONAL,
                                  msg.message_id,
                                  (Notify(0, NotifyType.INVALID_IKE_SPI, b"", b""),), flags))


def unprotected(sa: IkeSa, msg: Message, remote: Endpoint | None, now: Now) -> None:
    """An INFORMATIONAL without SK for ``sa``: only INVALID_IKE_SPI from the peer's address
    means anything (the peer does not know the SA: it restarted, or our Delete's answer was
    lost).  It is not authenticated, so it changes no state and is never answered (RFC 7296
    §2.21.4): it is a hint, and a liveness check follows, which ends the SA only if the peer
    does not answer it."""
    hint = any(isinstance(p, Notify) and p.type == NotifyType.INVALID_IKE_SPI
               for p in msg.payloads)
    sender = remote or sa.remote
    if not hint or sender.addr != sa.remote.addr:
        sa.host.drop(sender, DropReason.UNEXPECTED, "unprotected INFORMATIONAL")
        return
    sa.host.emit(InvalidSpiHint(sa.name, sender, sa.state is State.ESTABLISHED))
    if sa.state is State.ESTABLISHED:
        sa.deadline_dpd = None  # the check is due now, whatever dpd_delay says
        sa.tasks.want(Task(Kind.DPD, reason=HINTED), now)


def alive(sa: IkeSa, now: Now) -> None:
    """The peer sent an authenticated message: the next liveness check is ``dpd_delay`` away."""
    sa.arm_dpd(now)


#: Why a liveness check asks the peer even while its ESP arrives (Task.reason).
HINTED = "INVALID_IKE_SPI"


def probe(sa: IkeSa, task: Task, now: Now) -> bool:
    """A liveness check (RFC 7296 §2.4: an empty INFORMATIONAL request), unless the peer
    showed life while the check waited in the queue; no answer within the retransmission
    limit declares the peer dead (:func:`iked.ikev2.dispatch.on_timer`).

    §2.4 lets ESP count as life too, as strongSwan does: first the kernel is asked for the
    packet counters of the CHILD_SAs' inbound SAs, and if any grew since the last check the
    peer is alive and no request is sent.  Only the counters tell: the current lifetime's
    ``use_time`` is the first use, not the last.  An INVALID_IKE_SPI hint asks the peer in
    any case (the peer's kernel may still send what its IKE SA forgot)."""
    if sa.state is not State.ESTABLISHED or sa.deadline_dpd is not None:
        return False
    keys = [spec.key for c in sa.children if c.negotiated is not None
            for spec in c.negotiated.inbound_specs]
    if not keys or task.reason == HINTED:
        sa.tasks.request(task, ExchangeType.INFORMATIONAL, (), now)
        return True
    sa.tasks.preparing = task  # claims the SA until the kernel answered
    counts: dict[api.SaKey, int] = {}
    answers: list[api.SaKey] = []

    def counted(key: api.SaKey) -> Continue:
        def then(result: object, now: Now) -> None:
            answers.append(key)
            if isinstance(result, api.SaInfo):
                counts[key] = result.current.packets
            if len(answers) < len(keys):
                return
            sa.tasks.preparing = None
            moved = any(n > sa.esp_seen.get(k, 0) for k, n in counts.items())
            sa.esp_seen = counts
            if sa.state is State.ESTABLISHED and sa.deadline_dpd is None:
                if not moved:
                    sa.tasks.request(task, ExchangeType.INFORMATIONAL, (), now)
                    return
                sa.arm_dpd(now)
            sa.tasks.drain(now)
        return then

    for key in keys:
        sa.host.request(sa, api.GetSa(key), counted(key))
    return True
