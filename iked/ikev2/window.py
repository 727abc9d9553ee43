"""Message IDs, retransmission and the response cache of one IKE SA (RFC 7296 §2.1-2.3), pure.

Window size 1 in both directions (we never announce SET_WINDOW_SIZE): one request of ours in
flight, one of the peer's being answered.  The schedule is racoon2.conf's: waits of
``interval_to_send`` × 1, 2, 4, … 64 seconds, ``max_retry_to_send`` retransmissions, each
transmission sent ``times_per_send`` times.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_BACKOFF_EXP = 6  # interval × 2**6 = 64 × interval, the original's longest wait


class Verdict(enum.Enum):
    """What to do with an incoming message, decided from its message ID alone."""

    NEW_REQUEST = "new request"
    RETRANSMITTED_REQUEST = "retransmitted request"  # answer again from the cache
    BUSY = "request being answered"                   # still in work: drop, count
    STALE = "stale message"                           # old or unexpected: drop, count
    RESPONSE = "response"                             # the answer to our request in flight


@dataclass(frozen=True, slots=True)
class Schedule:
    """Retransmission settings of a remote (racoon2.conf, with defaults applied)."""

    interval: float = 1.0
    max_retry: int = 10
    times_per_send: int = 1

    def wait(self, attempt: int) -> float:
        """Seconds to wait after transmission number ``attempt`` (0 = the first)."""
        return self.interval * (1 << min(attempt, MAX_BACKOFF_EXP))


class Window:
    """Message-ID state of one IKE SA."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.next_mid = 0            # our next request's ID
        self.in_flight: tuple[bytes, ...] | None = None  # the datagrams: whole or fragments
        self.in_flight_mid = -1
        self.attempt = 0
        self.deadline: float | None = None
        self.peer_next = 0           # the ID we expect in the peer's next request
        self.answering = False       # the peer's current request is still being worked on
        self.cached_mid = -1
        self.cached: tuple[bytes, ...] = ()

    # -- our requests -----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a request of ours awaits its response."""
        return self.in_flight is not None

    def send(self, packets: tuple[bytes, ...], now: float) -> int:
        """Record ``packets`` (one message, or its RFC 7383 fragments) as our request in
        flight; returns its message ID."""
        if self.in_flight is not None:
            raise RuntimeError("a request is already in flight (window size 1)")
        mid = self.next_mid
        self.next_mid += 1
        self.in_flight, self.in_flight_mid, self.attempt = packets, mid, 0
        self.deadline = now + self.schedule.wait(0)
        return mid

    def timer(self, now: float) -> tuple[bytes, ...] | None | bool:
        """At a deadline: the packets to send again (every fragment, RFC 7383 §2.6.1),
        False when retries are exhausted."""
        if self.in_flight is None or self.deadline is None or now < self.deadline:
            return None
        if self.attempt >= self.schedule.max_retry:
            return False
        self.attempt += 1
        self.deadline = now + self.schedule.wait(self.attempt)
        return self.in_flight

    def answered(self) -> None:
        """Our request in flight got its response."""
        self.in_flight, self.deadline = None, None

    # -- classification and the peer's requests ---------------------------------------------

    def classify(self, mid: int, response: bool) -> Verdict:
        """What a message with ``mid`` means now."""
        if response:
            return Verdict.RESPONSE if self.busy and mid == self.in_flight_mid else \
                Verdict.STALE
        if mid == self.peer_next:
            return Verdict.BUSY if self.answering else Verdict.NEW_REQUEST
        if mid == self.cached_mid and self.cached:
            return Verdict.RETRANSMITTED_REQUEST
        return Verdict.STALE

    def start_answer(self, mid: int) -> None:
        """We began working on the peer's request ``mid``."""
        self.answering = True

    def finish_answer(self, mid: int, packets: tuple[bytes, ...]) -> None:
        """We answered request ``mid`` with ``packets`` (fragments); keep them for resends."""
        self.answering = False
        self.cached_mid, self.cached = mid, packets
        self.peer_next = mid + 1
