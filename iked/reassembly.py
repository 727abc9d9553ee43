"""Bounded reassembly of IKE fragments, pure: the table IKEv1's Fragment payloads
(:mod:`iked.ikev1.fragment`) and IKEv2's RFC 7383 SKF payloads (:mod:`iked.ikev2.fragments`)
both fill.

Reassembly is where racoon went wrong (CVE-2016-10396: re-scanning the fragment list on every
insert let a peer burn CPU): here every fragment costs O(1), and every limit is explicit and
kept in one place: fragments per message, octets per message, half-assembled messages per
peer (IKEv1: a sender and its cookie; IKEv2: an IKE SA) and per peer address (one host's many
peers cannot take the memory every other host shares), messages and octets held in all, and
a timeout measured with the caller's ``now``.  What a fragment's number means (IKEv1: a flag
on the last; IKEv2: Total Fragments in each) is the protocols' own; they tell the table a
message's ``total`` once they know it.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Drop", "Limits", "Partial", "Table"]

Key = TypeVar("Key", bound=Hashable)
First = TypeVar("First")


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds of reassembly; the defaults carry a certificate chain in 1280-octet
    fragments with room to spare."""

    max_fragments: int = 64
    max_bytes: int = 65535
    per_peer: int = 4
    per_address: int = 16
    messages: int = 1024
    total_bytes: int = 4 << 20
    timeout: float = 30.0


class Drop(enum.Enum):
    """Why a fragment was not kept (counted as a dropped datagram with this detail)."""

    NUMBER = "fragment number or Total Fragments beyond the limit"
    AFTER_LAST = "fragment number beyond the one flagged last"  # IKEv1
    SECOND_LAST = "a second fragment flagged last with another number"  # IKEv1
    FEWER = "Total Fragments below an earlier fragment's"  # IKEv2, RFC 7383 §2.6
    TOO_BIG = "message larger than the limit"
    MEMORY = "reassembly memory exhausted"


@dataclass(slots=True)
class Partial(Generic[First]):
    """One half-assembled message: its fragments' octets by number, and ``total`` (how
    many make it) once known; ``first`` is what the protocol keeps of fragment 1."""

    started: float
    peer: Hashable
    address: Hashable
    total: int | None = None
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0
    first: First | None = None


class Table(Generic[Key, First]):
    """Half-assembled messages by ``key`` (the protocol's name for one message of one
    peer); ``now`` must not go backwards (the shell's monotonic clock)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # insertion order is start order, so expiry pops from the front: O(1) per message
        self._partials: dict[Key, Partial[First]] = {}
        self._per_peer: dict[Hashable, dict[Key, None]] = {}  # oldest first
        self._per_address: dict[Hashable, dict[Key, None]] = {}  # oldest first
        self.held = 0

    def get(self, key: Key) -> Partial[First] | None:
        """The message ``key`` if it is being reassembled."""
        return self._partials.get(key)

    def start(self, key: Key, peer: Hashable, address: Hashable, now: float
              ) -> tuple[Partial[First] | None, int]:
        """Begin the message ``key`` of ``peer`` at ``address``: (it, how many others were
        given up to make room), None instead of it when all messages are taken."""
        evicted = 0
        # the oldest of the peer, or of the address, goes: a new message means the peer
        # gave up on it (a retransmission names the same message)
        for ids, most in ((self._per_peer.get(peer, {}), self.limits.per_peer),
                          (self._per_address.get(address, {}), self.limits.per_address)):
            if len(ids) >= most:
                self.forget(next(iter(ids)))
                evicted += 1
        if len(self._partials) >= self.limits.messages:
            return None, evicted
        partial = self._partials[key] = Partial[First](now, peer, address)
        self._per_peer.setdefault(peer, {})[key] = None
        self._per_address.setdefault(address, {})[key] = None
        return partial, evicted

    def store(self, key: Key, partial: Partial[First], number: int, data: bytes
              ) -> Drop | None:
        """Keep fragment ``number`` of ``key``; a duplicate is ignored (the first copy
        stays).  A message outgrowing ``max_bytes`` is given up."""
        if number in partial.parts:
            return None
        if partial.size + len(data) > self.limits.max_bytes:
            self.forget(key)
            return Drop.TOO_BIG
        if self.held + len(data) > self.limits.total_bytes:
            if not partial.parts:
                self.forget(key)  # nothing of it kept: no empty entry either
            return Drop.MEMORY
        partial.parts[number] = data
        partial.size += len(data)
        self.held += len(data)
        return None

    def complete(self, key: Key, partial: Partial[First]) -> bytes | None:
        """The whole message once all ``total`` fragments are in (then it is forgotten)."""
        if partial.total is None or len(partial.parts) != partial.total:
            return None
        # the protocols keep the numbers within 1..total, and they are distinct: all here
        whole = b"".join(partial.parts[n] for n in range(1, partial.total + 1))
        self.forget(key)
        return whole

    def expire(self, now: float) -> int:
        """Forget messages started ``timeout`` or longer ago; how many went."""
        gone = 0
        while self._partials:
            key, oldest = next(iter(self._partials.items()))
            if now - oldest.started < self.limits.timeout:
                break
            self.forget(key)
            gone += 1
        return gone

    def of_peer(self, peer: Hashable) -> list[Key]:
        """The keys of ``peer``'s half-assembled messages, oldest first."""
        return list(self._per_peer.get(peer, ()))

    def forget_peer(self, peer: Hashable) -> None:
        """Drop what a peer left (its SA is gone)."""
        for key in self.of_peer(peer):
            self.forget(key)

    @property
    def pending(self) -> int:
        """Half-assembled messages held."""
        return len(self._partials)

    def forget(self, key: Key) -> None:
        """Give up the message ``key``."""
        partial = self._partials.pop(key)
        self.held -= partial.size
        for index, at in ((self._per_peer, partial.peer), (self._per_address, partial.address)):
            keys = index[at]
            del keys[key]
            if not keys:
                del index[at]

    def check(self) -> None:
        """Assert the table's own accounting (tests and fuzz targets call it)."""
        lim = self.limits
        assert self.pending <= lim.messages and 0 <= self.held <= lim.total_bytes
        assert self.held == sum(p.size for p in self._partials.values())
        for index, most in ((self._per_peer, lim.per_peer), (self._per_address, lim.per_address)):
            assert all(len(keys) <= most for keys in index.values())
            assert sum(len(keys) for keys in index.values()) == self.pending
