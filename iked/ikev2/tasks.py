"""The exchanges in progress on one IKE SA and its message IDs (RFC 7296 §2.1-2.3), pure.

strongSwan's task manager is the model: an exchange is a :class:`Task` (data, shown in the
status), and the :class:`TaskManager` is the one owner of message IDs, the :class:`Window`,
retransmission and the response cache.  It holds

* ``preparing``: our next exchange while it waits for the kernel (an inbound SPI) before its
  request can be built: it claims the SA, the window stays free;
* ``active``: our request in flight (exactly while the window is busy);
* ``passive``: the peer's request we are working on (while the window answers it).

With window size 1 and no collision handling yet (RFC 7296 §2.8.1, the lifecycle issue) an
exchange that finds the SA busy is refused by its module rather than queued; the queue and a
``collide`` hook per exchange belong here when they come.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iked.events import DropReason, Now
from iked.ikev2.child import Child
from iked.ikev2.window import Schedule, Verdict, Window
from racoon2.crypto import dh
from racoon2.ikev2.constants import ExchangeType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import Payload

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa


class Kind(enum.Enum):
    """What an exchange does (the status shows the value)."""

    IKE_SA_INIT = "IKE_SA_INIT"
    IKE_AUTH = "IKE_AUTH"
    NEW_CHILD = "CREATE_CHILD_SA"
    REKEY_CHILD = "CREATE_CHILD_SA rekey"
    REKEY_IKE = "IKE SA rekey"
    DELETE_IKE = "INFORMATIONAL delete IKE SA"
    DELETE_CHILD = "INFORMATIONAL delete CHILD_SA"
    DPD = "INFORMATIONAL liveness check"
    PEER = "peer's request"


class Step(enum.Enum):
    """Where a task stands."""

    KERNEL = "waiting for the kernel"
    SENT = "request sent"
    ANSWERING = "answering"


@dataclass
class Task:
    """One exchange in progress: what it negotiates and the secrets it needs for the answer."""

    kind: Kind
    step: Step = Step.KERNEL
    child: Child | None = None       # the CHILD_SA it makes (or deletes)
    old: Child | None = None         # the CHILD_SA a rekey replaces
    reason: str = ""                 # why a CHILD_SA is deleted
    ni: bytes = field(default=b"", repr=False)   # our nonce (CREATE_CHILD_SA)
    spi: bytes = b""                 # our SPI of the new IKE SA (IKE SA rekey)
    key_exchange: dh.Exchange | None = field(default=None, repr=False)
    exchange: ExchangeType | None = None  # the peer's request (passive)
    mid: int = -1

    def show(self) -> dict[str, object]:
        """The task for the status JSON."""
        out: dict[str, object] = {"kind": self.kind.value, "step": self.step.value}
        if self.exchange is not None:
            out["exchange"] = self.exchange.name
        if self.mid >= 0:
            out["message_id"] = self.mid
        if self.child is not None:
            out["policy"] = self.child.settings.policy
        return out


class TaskManager:
    """Message IDs, retransmission and the tasks of one IKE SA."""

    def __init__(self, sa: IkeSa, schedule: Schedule, send: Callable[[bytes], None]) -> None:
        self._sa = sa
        self._send = send
        self.window = Window(schedule)
        self.preparing: Task | None = None
        self.active: Task | None = None
        self.passive: Task | None = None

    @property
    def busy(self) -> bool:
        """True while a request of ours awaits its response."""
        return self.window.busy

    def claimed(self) -> Task | None:
        """Our exchange that holds the SA: the one preparing, else the one in flight."""
        return self.preparing or self.active

    def rekeying(self) -> bool:
        """A CREATE_CHILD_SA of ours (CHILD_SA or IKE SA) is preparing or in flight."""
        return any(t is not None and t.kind in (Kind.NEW_CHILD, Kind.REKEY_CHILD,
                                                  Kind.REKEY_IKE)
                   for t in (self.preparing, self.active))

    def policies(self) -> set[str]:
        """The policies whose CHILD_SAs the exchanges in progress negotiate."""
        return {t.child.settings.policy for t in (self.preparing, self.active, self.passive)
                if t is not None and t.child is not None and t.kind is not Kind.DELETE_CHILD}

    def show(self) -> dict[str, object]:
        """The tasks for the status JSON."""
        return {name: t.show() for name, t in (("preparing", self.preparing),
                                               ("active", self.active),
                                               ("passive", self.passive)) if t is not None}

    # -- our requests -----------------------------------------------------------------------

    def restart(self) -> None:
        """IKE_SA_INIT again (a cookie, another group): message ID 0 once more."""
        self.window = Window(self.window.schedule)

    def send_plain(self, task: Task, data: bytes, now: Now) -> None:
        """Send an unprotected request (IKE_SA_INIT) for ``task``."""
        self._activate(task, data, now)

    def request(self, task: Task, exchange: ExchangeType, inner: tuple[Payload, ...],
                now: Now) -> None:
        """Seal and send ``task``'s request; the window retransmits it until answered."""
        self._activate(task, self._sa.seal(exchange, self.window.next_mid, False, inner), now)

    def _activate(self, task: Task, data: bytes, now: Now) -> None:
        if self.preparing is task:
            self.preparing = None
        task.mid, task.step = self.window.send(data, now), Step.SENT
        self.active = task
        self.transmit(data)

    def answered(self) -> Task | None:
        """Our request in flight got its response: its task, done."""
        task, self.active = self.active, None
        self.window.answered()
        return task

    def transmit(self, data: bytes) -> None:
        """Send ``data`` times_per_send times (as the original: a lossy path then needs fewer
        retransmission rounds)."""
        for _ in range(max(1, self._sa.peer.schedule.times_per_send)):
            self._send(data)

    def timer(self, now: Now) -> bool | None:
        """Retransmit what is due: True when it did, False when the retries are exhausted,
        None when nothing was due."""
        again = self.window.timer(now)
        if isinstance(again, bytes):
            self.transmit(again)
            return True
        return None if again is None else False

    # -- the peer's requests ----------------------------------------------------------------

    def accept(self, msg: Message) -> bool:
        """Whether ``msg`` is new work: a retransmitted request is answered again from the
        cache, a stale or busy one dropped and counted."""
        verdict = self.window.classify(msg.message_id, msg.response)
        if verdict is Verdict.RETRANSMITTED_REQUEST:
            for packet in self.window.cached:
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
        self.passive = Task(Kind.PEER, Step.ANSWERING, exchange=exchange, mid=mid)

    def answer(self, mid: int, data: bytes) -> None:
        """Send (and cache) our response to the peer's request ``mid``."""
        self.window.finish_answer(mid, (data,))
        self.passive = None
        self.transmit(data)

    def respond(self, mid: int, exchange: ExchangeType, inner: tuple[Payload, ...]) -> None:
        """Seal and send our response to the peer's request ``mid``."""
        self.answer(mid, self._sa.seal(exchange, mid, True, inner))

    def unanswered(self, mid: int) -> None:
        """The peer's request ``mid`` gets no answer (not valid now): the next one may come."""
        self.window.finish_answer(mid, ())
        self.passive = None
