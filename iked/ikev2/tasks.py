"""The exchanges in progress on one IKE SA and its message IDs (RFC 7296 §2.1-2.3), pure.

strongSwan's task manager is the model: an exchange is a :class:`Task` (data, shown in the
status), and the :class:`TaskManager` is the one owner of message IDs, the :class:`Window`,
retransmission and the response cache.  It holds

* ``preparing``: our next exchange while it waits for the kernel (an inbound SPI) before its
  request can be built: it claims the SA, the window stays free;
* ``active``: our request in flight (exactly while the window is busy);
* ``passive``: the peer's request we are working on (while the window answers it);
* ``queued``: exchanges the SA wants that wait for the window (RFC 7296 §2.3: window size 1,
  we never announce SET_WINDOW_SIZE), in :data:`PRIORITY` order, first come first within a
  kind.  :meth:`TaskManager.want` is the one way an SA asks for an exchange of its own, and
  :meth:`TaskManager.drain` starts the next one when the window frees, so no wish is lost.

A request of the peer's that arrives while one of ours holds the SA is first offered to our
task's ``collide`` hook (:data:`iked.ikev2.dispatch.COLLIDE`, RFC 7296 §2.8).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iked.events import DropReason, Now
from iked.ikev2.child import Child
from iked.ikev2.common import State
from iked.ikev2.window import Schedule, Verdict, Window
from racoon2.crypto import dh
from racoon2.crypto.rng import Rng
from racoon2.ikev2.constants import ExchangeType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import Payload
from racoon2.net import Endpoint

if TYPE_CHECKING:
    from iked.ikev2.intauth import FollowUp
    from iked.ikev2.sa import IkeSa


class Kind(enum.Enum):
    """What an exchange does (the status shows the value)."""

    IKE_SA_INIT = "IKE_SA_INIT"
    IKE_INTERMEDIATE = "IKE_INTERMEDIATE"
    IKE_AUTH = "IKE_AUTH"
    NEW_CHILD = "CREATE_CHILD_SA"
    REKEY_CHILD = "CREATE_CHILD_SA rekey"
    REKEY_IKE = "IKE SA rekey"
    DELETE_IKE = "INFORMATIONAL delete IKE SA"
    DELETE_CHILD = "INFORMATIONAL delete CHILD_SA"
    DPD = "INFORMATIONAL liveness check"
    UPDATE_ADDRESSES = "INFORMATIONAL UPDATE_SA_ADDRESSES"
    PEER = "peer's request"


class Step(enum.Enum):
    """Where a task stands."""

    QUEUED = "waiting for the window"
    KERNEL = "waiting for the kernel"
    SENT = "request sent"
    ANSWERING = "answering"


#: Which queued exchange goes first (lower first), strongSwan's order in its IKEv2 task
#: manager: a Delete first (the IKE SA's makes everything after it moot, a CHILD_SA's is
#: already out of our kernel and only the peer still holds it; MOBIKE's move, RFC 4555,
#: right after an IKE SA Delete: every other request would go to a dead address), then new
#: CHILD_SAs (traffic waits on an ACQUIRE), then CHILD_SA rekeys (the old SA still carries
#: traffic until its hard lifetime), the IKE SA rekey (it moves every CHILD_SA, better with
#: none in between), and last the liveness check (any answer before it proves the peer alive
#: as well).
PRIORITY: dict[Kind, int] = {k: i for i, k in enumerate((
    Kind.DELETE_IKE, Kind.UPDATE_ADDRESSES, Kind.DELETE_CHILD, Kind.NEW_CHILD,
    Kind.REKEY_CHILD, Kind.REKEY_IKE, Kind.DPD))}

#: The queued exchanges an IKE SA rekey hands to its successor (RFC 7296 §2.18: the CHILD_SAs
#: move there); the old SA's liveness check and Delete end with it.
CHILD_KINDS = frozenset({Kind.NEW_CHILD, Kind.REKEY_CHILD, Kind.DELETE_CHILD})

#: RFC 7296 §2.25 leaves open how long to wait before retrying an exchange refused with
#: TEMPORARY_FAILURE; strongSwan waits 5 to 15 s.  The wait is random so that two peers
#: refused for the same reason (each rekeying the IKE SA, say) do not collide again.
RETRY_MIN, RETRY_SPREAD = 5.0, 10.0


def retry_at(rng: Rng, now: Now, before: Now | None = None) -> Now:
    """When an exchange refused TEMPORARY_FAILURE now is tried again (RFC 7296 §2.25).
    ``before``: when what it rekeys reaches its hard lifetime.  Should that come before
    twice the wait, the retry falls in the second quarter of the time left instead, still
    random, so that a rekey refused late in its window (the peer was rekeying the IKE SA)
    is tried again before its CHILD_SA is gone."""
    spread = int.from_bytes(rng.random_bytes(2), "big") / 0xFFFF
    wait = RETRY_MIN + RETRY_SPREAD * spread
    if before is not None and 0 < before - now < 2 * wait:
        wait = (before - now) * (0.25 + 0.25 * spread)
    return now + wait


@dataclass
class Task:
    """One exchange in progress: what it negotiates and the secrets it needs for the answer."""

    kind: Kind
    step: Step = Step.KERNEL
    child: Child | None = None       # the CHILD_SA it makes (or deletes)
    old: Child | None = None         # the CHILD_SA a rekey replaces
    reason: str = ""                 # why a CHILD_SA is deleted, or a liveness check asks
    ni: bytes = field(default=b"", repr=False)   # our nonce (CREATE_CHILD_SA)
    nr: bytes = field(default=b"", repr=False)   # the peer's, once it answered
    #: The nonces (Ni, Nr) of the peer's rekey of the same CHILD_SA (RFC 7296 §2.8.1) or IKE
    #: SA (§2.8.2) that we answered while this rekey's CREATE_CHILD_SA was in flight.
    rival: tuple[bytes, ...] = field(default=(), repr=False)
    rival_child: Child | None = None  # the CHILD_SA that rekey made
    #: That rekey's (a CHILD_SA's or the IKE SA's) IKE_FOLLOWUP_KE exchanges we answer, while
    #: they run (RFC 9370 §2.2.4).
    rival_followup: FollowUp | None = field(default=None, repr=False)
    #: The successor IKE SA the peer's colliding IKE SA rekey made (§2.8.2).
    rival_sa: IkeSa | None = field(default=None, repr=False)
    #: Whether the collision made this rekey redundant, once decided
    #: (:func:`iked.ikev2.rekey_collision.redundant`).
    redundant: bool | None = None
    group: int = 0                   # a CHILD_SA's KE group the peer asked for (§1.3)
    spi: bytes = b""                 # our SPI of the new IKE SA (IKE SA rekey)
    key_exchange: dh.Exchange | None = field(default=None, repr=False)
    #: An IKE SA rekey's IKE_FOLLOWUP_KE exchanges (RFC 9370 §2.2.4), ours as initiator.
    followup: FollowUp | None = field(default=None, repr=False)
    exchange: ExchangeType | None = None  # the peer's request (passive)
    mid: int = -1
    not_before: Now = 0.0            # a queued retry waits until then (RFC 7296 §2.25)
    #: MOBIKE: the IKE SA's (local, remote) before our UPDATE_SA_ADDRESSES (RFC 4555 §3.5).
    old_ends: tuple[Endpoint, Endpoint] | None = None

    def show(self) -> dict[str, object]:
        """The task for the status JSON."""
        out: dict[str, object] = {"kind": self.kind.value, "step": self.step.value}
        if self.exchange is not None:
            out["exchange"] = self.exchange.name
        if self.mid >= 0:
            out["message_id"] = self.mid
        if self.not_before:
            out["not_before"] = self.not_before
        if self.child is not None:
            out["policy"] = self.child.settings.policy
        return out

    def same(self, other: Task) -> bool:
        """Whether ``other`` asks for what this task does (one wish is enough)."""
        if self.kind is not other.kind:
            return False
        if self.kind is Kind.NEW_CHILD:
            return self.child is not None and other.child is not None and \
                self.child.settings.policy == other.child.settings.policy
        if self.kind is Kind.REKEY_CHILD:
            return self.old is other.old
        if self.kind is Kind.DELETE_CHILD:
            return self.child is other.child
        return True


class TaskManager:
    """Message IDs, retransmission and the tasks of one IKE SA."""

    def __init__(self, sa: IkeSa, schedule: Schedule, send: Callable[[bytes], None]) -> None:
        self._sa = sa
        self._send = send
        self.window = Window(schedule)
        self.preparing: Task | None = None
        self.active: Task | None = None
        self.passive: Task | None = None
        self.queued: list[Task] = []

    def claimed(self) -> Task | None:
        """Our exchange that holds the SA: the one preparing, else the one in flight."""
        return self.preparing or self.active

    def forget_rekeys(self, c: Child) -> None:
        """Drop the queued rekeys of ``c``, which is gone: else its policy's next ACQUIRE
        would be taken for a negotiation in progress and ignored."""
        self.queued = [t for t in self.queued if t.kind is not Kind.REKEY_CHILD or t.old is not c]

    def policies(self) -> set[str]:
        """The policies whose CHILD_SAs the exchanges in progress or queued negotiate."""
        return {t.child.settings.policy for t in (self.preparing, self.active, self.passive,
                                                  *self.queued)
                if t is not None and t.child is not None and t.kind is not Kind.DELETE_CHILD}

    def show(self) -> dict[str, object]:
        """The tasks for the status JSON."""
        out: dict[str, object] = {name: t.show() for name, t in (
            ("preparing", self.preparing), ("active", self.active),
            ("passive", self.passive)) if t is not None}
        if self.queued:
            out["queued"] = [t.show() for t in self.queued]
        return out

    # -- the queue --------------------------------------------------------------------------

    def want(self, task: Task, now: Now) -> None:
        """The SA wants the exchange ``task``: it starts now if the SA is free, else waits
        in the queue (a wish already queued or under way is not repeated)."""
        if any(t.same(task) for t in (self.preparing, self.active, *self.queued)
               if t is not None):
            return
        task.step = Step.QUEUED
        at = next((i for i, t in enumerate(self.queued)
                   if PRIORITY[t.kind] > PRIORITY[task.kind]), len(self.queued))
        self.queued.insert(at, task)
        self.drain(now)

    def drain(self, now: Now) -> None:
        """Start queued exchanges (those whose ``not_before`` has come) while nothing of ours
        holds the SA; one that cannot run any more (its CHILD_SA gone, the SA no longer up) is
        dropped by its module."""
        sa = self._sa
        while self.claimed() is None and sa.state is not State.DEAD:
            task = next((t for t in self.queued if t.not_before <= now), None)
            if task is None:
                return
            self.queued.remove(task)
            task.step = Step.KERNEL
            sa.host.start(sa, task, now)

    def deadline(self) -> Now | None:
        """When a queued retry may start (the window being free: else its answer drains)."""
        if not self.queued or self.claimed() is not None:  # asked after every SA's turn
            return None
        return min((t.not_before for t in self.queued if t.not_before), default=None)

    def hand_over(self, successor: TaskManager, now: Now) -> None:
        """An IKE SA rekey made ``successor``: the queued CHILD_SA exchanges go there."""
        moved = [t for t in self.queued if t.kind in CHILD_KINDS]
        self.queued = [t for t in self.queued if t.kind not in CHILD_KINDS]
        for t in moved:
            successor.want(t, now)

    # -- our requests -----------------------------------------------------------------------

    def restart(self) -> None:
        """IKE_SA_INIT again (a cookie, another group): message ID 0 once more."""
        self.window = Window(self.window.schedule)

    def send_plain(self, task: Task, data: bytes, now: Now) -> None:
        """Send an unprotected request (IKE_SA_INIT) for ``task``."""
        self._sa.host.counters["initiated IKE_SA_INIT"] += 1
        self._activate(task, (data,), now)

    def request(self, task: Task, exchange: ExchangeType, inner: tuple[Payload, ...],
                now: Now) -> None:
        """Seal and send ``task``'s request; the window retransmits it until answered."""
        self._sa.host.counters[f"initiated {exchange.name}"] += 1
        self._activate(task, self._sa.seal(exchange, self.window.next_mid, False, inner), now)

    def _activate(self, task: Task, packets: tuple[bytes, ...], now: Now) -> None:
        if self.preparing is task:
            self.preparing = None
        task.mid, task.step = self.window.send(packets, now), Step.SENT
        self.active = task
        self.transmit(packets)

    def answered(self) -> Task | None:
        """Our request in flight got its response: its task, done."""
        task, self.active = self.active, None
        self.window.answered()
        return task

    def transmit(self, packets: tuple[bytes, ...]) -> None:
        """Send ``packets`` (a message or all its fragments) times_per_send times (as the
        original: a lossy path then needs fewer retransmission rounds)."""
        for _ in range(max(1, self._sa.peer.schedule.times_per_send)):
            for data in packets:
                self._send(data)

    def timer(self, now: Now) -> bool | None:
        """Retransmit what is due: True when it did, False when the retries are exhausted,
        None when nothing was due."""
        again = self.window.timer(now)
        if isinstance(again, tuple):
            self._sa.host.counters["retransmits"] += 1
            self.transmit(again)
            return True
        return None if again is None else False

    # -- the peer's requests ----------------------------------------------------------------

    def accept(self, msg: Message, resend: bool = True) -> bool:
        """Whether ``msg`` is new work: a retransmitted request is answered again from the
        cache (unless ``resend`` is False), a stale or busy one dropped and counted."""
        verdict = self.window.classify(msg.message_id, msg.response)
        if verdict is Verdict.RETRANSMITTED_REQUEST:
            for packet in self.window.cached if resend else ():
                self._send(packet)
            return False
        if verdict in (Verdict.STALE, Verdict.BUSY):
            self._sa.host.drop(self._sa.remote, DropReason.STALE if verdict is Verdict.STALE
                               else DropReason.BUSY, f"message ID {msg.message_id}")
            return False
        return True

    def start_answer(self, mid: int, exchange: ExchangeType | None) -> None:
        """We began working on the peer's request ``mid``."""
        self.window.start_answer(mid)
        name = exchange.name if exchange is not None else "other"
        self._sa.host.counters[f"answered {name}"] += 1
        self.passive = Task(Kind.PEER, Step.ANSWERING, exchange=exchange, mid=mid)

    def answer(self, mid: int, packets: tuple[bytes, ...]) -> None:
        """Send (and cache) our response to the peer's request ``mid``: one message or its
        fragments."""
        self.window.finish_answer(mid, packets)
        self.passive = None
        self.transmit(packets)

    def respond(self, mid: int, exchange: ExchangeType, inner: tuple[Payload, ...]) -> None:
        """Seal and send our response to the peer's request ``mid``."""
        self.answer(mid, self._sa.seal(exchange, mid, True, inner))

    def unanswered(self, mid: int) -> None:
        """The peer's request ``mid`` gets no answer (not valid now): the next one may come."""
        self.window.finish_answer(mid, ())
        self.passive = None
