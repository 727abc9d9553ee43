"""IKEv1 fragmentation, Cisco's scheme that Windows, iOS, strongSwan and libreswan speak
(payload type 132 = 0x84, no RFC; Microsoft's [MS-IKEE] "Fragment Payload" and §3.3 "IKE
Fragmentation Details", strongSwan's fragment_payload.c and message.c, ipsec-tools'
isakmp_frag.c describe it), pure: the Vendor ID, cutting a whole
encoded message into fragment messages, and bounded reassembly.

Each fragment is an ISAKMP message of its own: the whole message's header (cookies, exchange
type, Message ID), flags clear, one Fragment payload (Fragment ID 2 octets, number from 1,
flag LAST on the last) carrying a slice of the whole message's bytes, encrypted or not.

Reassembly keeps its bounds in :mod:`iked.reassembly`, the table IKEv2's shares (the racoon
CVE-2016-10396 lesson is told there); this module checks what is IKEv1's own, the LAST flag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from iked.reassembly import Drop, Limits, Table
from racoon2.ikev1.message import HEADER, Message, decode_header, encode, fragments

__all__ = ["DEFAULT_LIMITS", "FRAGMENT_SIZE", "VENDOR_ID", "Drop", "Limits", "Reassembly",
           "Result", "split", "supported"]

#: MD5("FRAGMENTATION"); strongSwan appends capability flags 0x80000000, Windows nothing.
VENDOR_ID = hashlib.md5(b"FRAGMENTATION", usedforsecurity=False).digest()
#: strongSwan's ``charon.fragment_size`` default: the fragment datagram's ISAKMP octets.
FRAGMENT_SIZE = 1280
_OVERHEAD = HEADER.size + 8  # the fragment message's header, generic header and 4 fields


def supported(peer_vendor_ids: Iterable[bytes]) -> bool:
    """The peer announced IKEv1 fragmentation (the first 16 octets are the ID)."""
    return any(v[:16] == VENDOR_ID for v in peer_vendor_ids)


def split(whole: bytes, fragment_id: int, size: int = FRAGMENT_SIZE) -> tuple[bytes, ...]:
    """The fragment messages for one encoded message (``whole``), each at most ``size``
    octets; a message that fits is returned alone, unfragmented."""
    if len(whole) <= size:
        return (whole,)
    room = size - _OVERHEAD
    if room <= 0:
        raise ValueError(f"fragment size {size} leaves no room for data")
    h = decode_header(whole)
    pieces = fragments(whole, fragment_id, room)
    if len(pieces) > 255:
        raise ValueError(f"{len(whole)} octets need {len(pieces)} fragments of {size}, "
                         "more than 255 (the number is one octet)")
    return tuple(encode(Message(h.cookie_i, h.cookie_r, h.exchange, h.message_id, (p,)))
                 for p in pieces)


#: A peer (a sender and its cookie) may have four messages half-assembled: a retransmission
#: reuses its Fragment ID, so more are messages it gave up on.
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Result:
    """``whole``: the reassembled message (then decode it); ``drop``: why the fragment was
    refused; both None: kept, more to come (or a harmless duplicate).  ``evicted`` counts
    half-assembled messages given up on meanwhile (timeout, or a peer's oldest)."""

    whole: bytes | None = None
    drop: Drop | None = None
    evicted: int = 0


class Reassembly(Table[tuple[Hashable, int], None]):
    """Half-assembled messages, by (peer, Fragment ID), in the bounded table IKEv2's shares;
    ``peer`` is whatever names the sender for the engine (address and port, with the cookies
    once known), ``address`` the host it is on (None: ``peer`` itself).  A message's total is
    the number of its fragment flagged last."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)

    def add(self, peer: Hashable, fragment_id: int, number: int, last: bool, data: bytes,
            now: float, address: Hashable = None) -> Result:
        """One received fragment payload."""
        evicted = self.expire(now)
        if not 1 <= number <= self.limits.max_fragments:
            return Result(drop=Drop.NUMBER, evicted=evicted)
        key = (peer, fragment_id)
        partial = self.get(key)
        if partial is None:
            # strongSwan keeps only the newest Fragment ID of a peer; here its oldest goes
            partial, gone = self.start(key, peer, peer if address is None else address, now)
            evicted += gone
            if partial is None:
                return Result(drop=Drop.MEMORY, evicted=evicted)
        if partial.total is not None and number > partial.total:
            return Result(drop=Drop.AFTER_LAST, evicted=evicted)
        if last and partial.total not in (None, number):
            return Result(drop=Drop.SECOND_LAST, evicted=evicted)
        if last and partial.total is None and any(n > number for n in partial.parts):
            self.forget(key)
            return Result(drop=Drop.AFTER_LAST, evicted=evicted)
        drop = self.store(key, partial, number, data)
        if drop is not None:
            return Result(drop=drop, evicted=evicted)
        if last:
            partial.total = number
        return Result(whole=self.complete(key, partial), evicted=evicted)
