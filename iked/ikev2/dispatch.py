"""Which exchange module handles what (pure): the table (exchange type, role, state) -> handler.

An IKE SA's protected messages come here from the core: the :class:`TaskManager` decides from
the message ID whether one is new work (RFC 7296 §2.2), the SA opens it, and the table names
the handler; a response is handed the task of ours it answers, and then the window is free for
the next queued exchange.  A request that meets an exchange of ours goes to that task's
``collide`` hook (:data:`COLLIDE`) before the table.  IKE_SA_INIT comes before the
keys and is routed by :func:`receive` itself.  The SA's timers and the kernel's expiry of a
CHILD_SA start exchanges from here too.  The exchange modules depend on the SA, never the
reverse: the SA reaches this module only through its host (``Host.start``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import replace

from iked.events import DropReason, Now
from iked.ikev2 import (
    child_sa,
    create_child,
    ike_auth,
    ike_followup,
    ike_init,
    ike_intermediate,
    ike_rekey,
    informational,
    mobike,
)
from iked.ikev2.child import Child
from iked.ikev2.common import State, exchange_name
from iked.ikev2.sa import NAT_KEEPALIVE, NAT_KEEPALIVE_PACKET, REKEY_GRACE, IkeSa
from iked.ikev2.tasks import Kind, Task
from iked.ikev2.window import Verdict
from racoon2.errors import CryptoError, ParseError
from racoon2.ikev2.constants import ExchangeType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import SK, SKF, Payload
from racoon2.net import Endpoint


class Role(enum.Enum):
    """Which side of the exchange a message puts us on."""

    REQUEST = "the peer's request"     # we answer
    RESPONSE = "the peer's response"   # to our request in flight


#: ``handler(sa, task, msg, inner, now)``: ``task`` is ours that a response answers, or the
#: passive task of the peer's request; ``inner`` the payloads inside the SK payload.
Handler = Callable[[IkeSa, Task | None, Message, tuple[Payload, ...], Now], None]

TABLE: dict[tuple[ExchangeType, Role, State], Handler] = {
    # RFC 9242: between IKE_SA_INIT and IKE_AUTH, while additional key exchanges remain.
    (ExchangeType.IKE_INTERMEDIATE, Role.REQUEST, State.INIT_DONE): ike_intermediate.respond,
    (ExchangeType.IKE_INTERMEDIATE, Role.RESPONSE, State.INIT_SENT):
        ike_intermediate.on_response,
    (ExchangeType.IKE_AUTH, Role.REQUEST, State.INIT_DONE): ike_auth.process_request,
    (ExchangeType.IKE_AUTH, Role.RESPONSE, State.AUTH_SENT): ike_auth.process_response,
    (ExchangeType.CREATE_CHILD_SA, Role.REQUEST, State.ESTABLISHED): create_child.respond,
    # RFC 7296 §2.25.2: a rekey (or a new CHILD_SA) of an IKE SA we are closing.
    (ExchangeType.CREATE_CHILD_SA, Role.REQUEST, State.DELETING): create_child.refuse_closing,
    # A CHILD_SA or IKE SA rekey answered while the SA is deleting still settles its task.
    **{(ExchangeType.CREATE_CHILD_SA, Role.RESPONSE, s): create_child.on_response
       for s in State},
    # RFC 9370 §2.2.4: an IKE SA rekey's additional key exchanges, over the old SA.
    (ExchangeType.IKE_FOLLOWUP_KE, Role.REQUEST, State.ESTABLISHED): ike_followup.respond,
    **{(ExchangeType.IKE_FOLLOWUP_KE, Role.RESPONSE, s): ike_followup.on_response
       for s in State},
    (ExchangeType.INFORMATIONAL, Role.REQUEST, State.ESTABLISHED): informational.respond,
    (ExchangeType.INFORMATIONAL, Role.REQUEST, State.DELETING): informational.respond,
}

#: Exchanges an SA starts of its own, from its task manager's queue when the window is free
#: (``Host.start``): False when the task has nothing to do any more.
STARTERS: dict[Kind, Callable[[IkeSa, Task, Now], bool]] = {
    Kind.IKE_INTERMEDIATE: ike_intermediate.start,
    Kind.IKE_AUTH: ike_init.begin_auth,
    Kind.DELETE_IKE: informational.delete,
    Kind.DELETE_CHILD: informational.delete_child,
    Kind.NEW_CHILD: create_child.begin,
    Kind.REKEY_CHILD: create_child.begin,
    Kind.REKEY_IKE: ike_rekey.start,
    Kind.DPD: informational.probe,
    Kind.UPDATE_ADDRESSES: mobike.start_update,
}

#: ``collide(sa, ours, msg, inner, now)``: the peer's request met our exchange ``ours``
#: (preparing or in flight) of a kind that can collide with it (RFC 7296 §2.8); True when the
#: hook answered it, False to let the table's handler answer as usual.
Collide = Callable[[IkeSa, Task, Message, tuple[Payload, ...], Now], bool]

COLLIDE: dict[Kind, Collide] = {
    Kind.NEW_CHILD: create_child.collide,
    Kind.REKEY_CHILD: create_child.collide,
    Kind.REKEY_IKE: ike_rekey.collide,
}


def start(sa: IkeSa, task: Task, now: Now) -> bool:
    """Begin ``task`` on ``sa``."""
    return STARTERS[task.kind](sa, task, now)


def receive(sa: IkeSa, msg: Message, data: bytes, now: Now, local: Endpoint | None = None,
            remote: Endpoint | None = None) -> None:
    """A message for ``sa`` (the core routed it by SPI), received on ``local`` from
    ``remote``; an authenticated message moves the SA there (the peer's switch to port
    4500, RFC 7296 §2.23)."""
    if sa.state is State.DEAD:
        return
    if msg.exchange == ExchangeType.INFORMATIONAL and not (
            msg.payloads and isinstance(msg.payloads[-1], SK | SKF)):
        informational.unprotected(sa, msg, remote, now)
        return
    if msg.payloads and isinstance(msg.payloads[-1], SKF):
        whole = _reassemble(sa, msg, data, now)
        if whole is None:
            return
        msg, inner = whole
    else:
        if not sa.tasks.accept(msg):
            return
        if msg.exchange == ExchangeType.IKE_SA_INIT:
            if msg.response and sa.state is State.INIT_SENT:
                task = sa.tasks.answered()
                assert task is not None
                ike_init.on_response(sa, task, msg, data, now)
            else:
                sa.host.drop(sa.remote, DropReason.UNEXPECTED, "IKE_SA_INIT")
            return
        if sa.crypto is None:
            sa.host.drop(sa.remote, DropReason.UNEXPECTED, "encrypted before keys")
            return
        try:
            inner = sa.open(data, msg)
        except CryptoError as e:
            sa.host.drop(sa.remote, DropReason.BAD_ICV, str(e))
            return
        except ParseError as e:
            sa.host.drop(sa.remote, DropReason.MALFORMED, str(e))
            return
        sa.host.fragments.settled(sa.local_spi, msg.response)
    if local is not None and remote is not None:
        sa.arrived = (local, remote)
        if sa.mobike is None:
            sa.local, sa.remote = local, remote
        # else RFC 4555 §3.5: only UPDATE_SA_ADDRESSES moves the SA (iked.ikev2.mobike)
    # RFC 7296 §2.4: any authenticated message, request or response, shows the peer alive.
    informational.alive(sa, now)
    exchange = _exchange(msg.exchange)
    if msg.response:
        task = sa.tasks.answered()
        handler = TABLE.get((exchange, Role.RESPONSE, sa.state)) if exchange else None
        (handler or informational.on_response)(sa, task, msg, inner, now)
        sa.tasks.drain(now)  # the window is free: the next queued exchange
        return
    sa.tasks.start_answer(msg.message_id, exchange)
    handler = TABLE.get((exchange, Role.REQUEST, sa.state)) if exchange else None
    if handler is None:
        sa.tasks.unanswered(msg.message_id)
        sa.host.drop(sa.remote, DropReason.UNEXPECTED,
                     f"{exchange_name(msg.exchange)} in state {sa.state.value}")
        return
    ours = sa.tasks.claimed()
    collide = COLLIDE.get(ours.kind) if ours is not None else None
    if ours is not None and collide is not None and collide(sa, ours, msg, inner, now):
        return
    handler(sa, sa.tasks.passive, msg, inner, now)


def _reassemble(sa: IkeSa, msg: Message, data: bytes, now: Now
                ) -> tuple[Message, tuple[Payload, ...]] | None:
    """One RFC 7383 fragment: kept (its ICV checked first, §2.6) until the message is whole,
    then (the message as fragment 1 has it, without the SKF payload; its inner payloads)."""
    skf = msg.payloads[-1]
    assert isinstance(skf, SKF)
    if sa.crypto is None or not sa.fragmenting:
        sa.host.drop(sa.remote, DropReason.UNEXPECTED, "IKE fragment " + (
            "before keys" if sa.crypto is None else
            "although fragmentation was not agreed (IKEV2_FRAGMENTATION_SUPPORTED)"))
        return None
    verdict = sa.tasks.window.classify(msg.message_id, msg.response)
    new = verdict in (Verdict.NEW_REQUEST, Verdict.RESPONSE)
    if not new and not (verdict is Verdict.RETRANSMITTED_REQUEST and skf.number == 1):
        # Stale or busy: counted.  A retransmitted request's other fragments: our answer
        # goes again once per retransmission, on its fragment 1 (§2.6.2).
        sa.tasks.accept(msg, resend=False)
        return None
    try:
        plain = sa.open_fragment(data, msg)
    except CryptoError as e:
        sa.host.drop(sa.remote, DropReason.BAD_ICV, f"fragment {skf.number}: {e}")
        return None
    except ParseError as e:
        sa.host.drop(sa.remote, DropReason.MALFORMED, str(e))
        return None
    if not new:
        sa.tasks.accept(msg)  # fragment 1 of the request answered last: answer again
        return None
    result = sa.host.fragments.add(sa.local_spi, msg, plain, now, sa.remote.addr)
    if result.drop is not None:
        sa.host.drop(sa.remote, DropReason.FRAGMENT, f"fragment {skf.number} of "
                     f"{skf.total}, message ID {msg.message_id}: {result.drop.value}")
        return None
    if result.whole is None or result.first is None:
        return None
    first = result.first
    try:
        inner = sa.assembled(first, result.whole)
    except ParseError as e:
        sa.host.drop(sa.remote, DropReason.MALFORMED, f"reassembled message: {e}")
        return None
    return replace(first, payloads=first.payloads[:-1]), inner


def _exchange(kind: int) -> ExchangeType | None:
    try:
        return ExchangeType(kind)
    except ValueError:
        return None


def on_timer(sa: IkeSa, now: Now) -> None:
    """Retransmit, give up, probe liveness or expire, whichever is due."""
    if sa.state is State.DEAD:
        return
    child_sa.release_due(sa, now)  # before anything that may return early
    if sa.deadline_nego is not None and now >= sa.deadline_nego:
        sa.fail("negotiation", "kmp_sa_nego_time_limit reached")
        return
    if sa.deadline_gone is not None and now >= sa.deadline_gone:
        sa.die("shut down (no answer to our Delete in time)")
        return
    if sa.deadline_life is not None and now >= sa.deadline_life:
        # As the original: an IKE SA with CHILD_SAs is rekeyed, an idle one deleted.  The
        # rekey waits for the window; if the SA is still ours once a negotiation's time
        # has passed too, it has reached its hard end and is deleted, the peer told.
        sa.deadline_life = None
        sa.deadline_hard = now + (sa.peer.nego_limit or REKEY_GRACE)
        sa.tasks.want(Task(Kind.REKEY_IKE if sa.children else Kind.DELETE_IKE), now)
        return
    if sa.deadline_hard is not None and now >= sa.deadline_hard:
        sa.deadline_hard = None
        if sa.state is State.ESTABLISHED and not sa.replaced:
            sa.tasks.want(Task(Kind.DELETE_IKE), now)
    if sa.deadline_keepalive is not None and now >= sa.deadline_keepalive:
        # RFC 3948 §4: one 0xFF octet keeps the NAT's mapping open.
        sa.deadline_keepalive = now + NAT_KEEPALIVE
        sa.host.send(sa, NAT_KEEPALIVE_PACKET)
    again = sa.tasks.timer(now)
    if again is False:
        if sa.state is State.DELETING:
            sa.die("deleted (no answer)")
        elif sa.state is State.ESTABLISHED:
            # RFC 7296 §2.4: the peer is dead; its SAs go, the down hooks run.
            sa.die(f"peer not responding (dead after {sa.peer.schedule.max_retry} "
                   "retransmissions)")
        else:
            sa.fail(sa.state.value, "no response from the peer",
                    configured=f"{sa.peer.schedule.max_retry} retransmissions")
        return
    if again:
        return
    if sa.deadline_dpd is not None and now >= sa.deadline_dpd:
        sa.deadline_dpd = None
        sa.tasks.want(Task(Kind.DPD), now)
    sa.tasks.drain(now)  # a queued retry whose time has come


def expire_child(sa: IkeSa, c: Child, hard: bool, now: Now) -> None:
    """The kernel's lifetime of one of ``c``'s SAs (inbound or outbound: with byte limits the
    two directions run out apart) ran out: rekey the CHILD_SA (soft: once, whichever
    direction comes first), or delete what is left of it and tell the peer (hard: the
    policy's next ACQUIRE negotiates a new one); either waits in the queue while another
    exchange of ours holds the SA."""
    if c not in sa.children:
        return
    if hard:
        child_sa.release_successor(sa, c)  # a rekey's held outbound SA takes over
        sa.tasks.forget_rekeys(c)  # one waiting for a retry (TEMPORARY_FAILURE) is moot
        c.expired = True  # a rekey of ours in flight takes its place (create_child._complete)
        sa.delete_child(c, now, "hard lifetime expired")
    elif not c.replaced:
        create_child.start_rekey(sa, c, now)
