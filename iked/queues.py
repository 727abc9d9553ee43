"""What each of iked's pure cores (IKEv2's and IKEv1's) queues for the shell, and how the shell
drains it: datagrams to send, clear copies for ``-P``, kernel requests awaiting their results,
events and the drop counters.  One class, so that the two cores hand the shell the same
things the same way (pure)."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

from iked.events import Datagram, Dropped, DropReason, Event, Now, Op, Request
from racoon2.net import Endpoint

#: What a kernel request's result is handed to: (the result or its Racoon2Error, now).
Continue = Callable[[object, Now], None]

S = TypeVar("S")


class Queues(Generic[S]):
    """The outputs of a core whose SAs are of type ``S``; the core gives :meth:`_guard` and
    :meth:`_after`, which :meth:`reply` runs around a kernel result's continuation."""

    def __init__(self) -> None:
        self._out: list[Datagram] = []
        self._requests: list[Request] = []
        self._events: collections.deque[Event] = collections.deque()
        self._waiting: dict[int, tuple[S, Op, Continue]] = {}
        self._next_request = 1
        self.dropped: collections.Counter[DropReason] = collections.Counter()
        #: Exchanges begun and answered (``initiated IKE_AUTH``, ``answered INFORMATIONAL``) and
        #: ``retransmits``, for ikedctl stats.
        self.counters: collections.Counter[str] = collections.Counter()
        #: iked -P: keep every message in the clear for :meth:`traces`.
        self.tracing = False
        self._traces: list[Datagram] = []

    def request(self, sa: S, op: Op, then: Continue) -> None:
        """Queue a kernel request; ``then`` runs when the core's ``reply`` brings its
        result."""
        rid = self._next_request
        self._next_request += 1
        self._waiting[rid] = (sa, op, then)
        self._requests.append(Request(rid, op))

    def reply(self, request_id: int, result: object, now: Now) -> None:
        """The result of a kernel request: a value, or the Racoon2Error it raised."""
        waiting = self._waiting.pop(request_id, None)
        if waiting is None:
            return
        sa, _, then = waiting
        with self._guard(sa):
            then(result, now)
        self._after(sa)

    def _guard(self, sa: S) -> contextlib.AbstractContextManager[None]:
        """Where a problem met while ``sa`` runs ends that SA, not the daemon."""
        raise NotImplementedError

    def _after(self, sa: S) -> None:
        """The core's bookkeeping after ``sa`` ran."""
        raise NotImplementedError

    def emit(self, event: Event) -> None:
        """Queue an event for the shell."""
        self._events.append(event)

    def drop(self, remote: Endpoint, reason: DropReason, detail: str = "") -> None:
        """Count a dropped datagram and report it."""
        self.dropped[reason] += 1
        self._events.append(Dropped(remote, reason, detail))

    def traces(self) -> list[Datagram]:
        """Messages in the clear since the last call, as (data, from, to)."""
        out, self._traces = self._traces, []
        return out

    def datagrams_to_send(self) -> list[Datagram]:
        """Everything queued for sending, in order."""
        out, self._out = self._out, []
        return out

    def requests(self) -> list[Request]:
        """Kernel requests queued since the last call."""
        out, self._requests = self._requests, []
        return out

    def next_event(self) -> Event | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None
