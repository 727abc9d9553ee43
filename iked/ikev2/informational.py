"""INFORMATIONAL (RFC 7296 §1.4, §2.4): Delete of CHILD_SAs and IKE SAs, liveness checks.

Both roles: the peer's Delete is answered with ours for the CHILD_SAs it names (§1.4.1), its
empty request (a liveness check) with an empty answer.  Our Delete and liveness checks are
started by the task manager when the window is free (queued until then); an IKE SA Delete for
an SA no longer up ends it at once, as the original.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from iked.events import Now
from iked.ikev2 import child as childmod
from iked.ikev2.common import State
from iked.ikev2.tasks import Kind, Task
from racoon2.ikev2.constants import ExchangeType, ProtocolId
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import Delete, Payload

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa


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
                sa.remove_child(c, "deleted by the peer")
                sa.children.remove(c)
                gone.append(struct.pack("!I", c.spi_in))
        if gone:
            answer.append(Delete(p.protocol, 4, tuple(gone)))
    sa.tasks.respond(msg.message_id, ExchangeType.INFORMATIONAL, tuple(answer))


def on_response(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                now: Now) -> None:
    """The answer to our INFORMATIONAL request: a deleted IKE SA ends, a rekeyed CHILD_SA's
    inbound SA goes (the peer no longer sends on it); that the peer lives, :func:`alive` has
    noted already."""
    if task is not None and task.kind is Kind.DELETE_CHILD and task.child is not None:
        sa.release_inbound(task.child)
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


def alive(sa: IkeSa, now: Now) -> None:
    """The peer sent an authenticated message: the next liveness check is ``dpd_delay`` away.

    Only IKE messages count: ESP the peer sends would show up in the kernel's current
    lifetime of our inbound SA, but its ``use_time`` is the first use, not the last, and the
    packet counter would cost a kernel round trip per CHILD_SA at every check.
    """
    sa.arm_dpd(now)


def probe(sa: IkeSa, task: Task, now: Now) -> bool:
    """A liveness check (RFC 7296 §2.4: an empty INFORMATIONAL request), unless the peer
    showed life while the check waited in the queue; no answer within the retransmission
    limit declares the peer dead (:func:`iked.ikev2.dispatch.on_timer`)."""
    if sa.state is not State.ESTABLISHED or sa.deadline_dpd is not None:
        return False
    sa.tasks.request(task, ExchangeType.INFORMATIONAL, (), now)
    return True
