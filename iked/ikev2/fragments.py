"""RFC 7383 IKEv2 fragmentation, pure: how large a fragment may be on a path, and bounded
reassembly of the peer's fragments.

Cutting and sealing is :meth:`racoon2.ikev2.sk.SkCipher.seal_fragments` (each fragment is
encrypted and integrity-protected on its own); an IKE SA fragments a protected message once
both sides announced IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (§2.3) and the message
outgrows :func:`message_size`.

Reassembly takes only fragments whose ICV was checked (§2.6: a forged fragment must not evict
a genuine one), so only a peer holding the IKE SA's keys can fill it; still every limit of
:mod:`iked.reassembly` (the table IKEv1's shares) holds: fragments and octets per message,
half-assembled messages per IKE SA, per peer address and in all, octets held in all, and a
timeout.  This module checks what is IKEv2's own: Total Fragments, fragment 1 kept for its
clear payloads, one message a direction per IKE SA.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace

from iked.reassembly import Drop, Limits, Table
from racoon2.ikev2 import message
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import SK, SKF

__all__ = ["DEFAULT_LIMITS", "Drop", "Limits", "Reassembly", "Result", "message_size",
           "unfragmented"]

#: The IKE octets a fragment's datagram carries beyond them (RFC 7383 §2.5.1 sizes a
#: fragment by its IP datagram): the IP header, UDP's, and on port 4500 the non-ESP marker
#: (RFC 3948 §2.2).
IPV4_HEADER, IPV6_HEADER, UDP_HEADER, NON_ESP_MARKER = 20, 40, 8, 4


#: An IKE SA has at most one request of the peer's and one response to ours in reassembly
#: (window size 1, RFC 7296 §2.3); a new Message ID in a direction ends the older one.
DEFAULT_LIMITS = Limits(per_peer=2)


def message_size(fragment_size: int, ipv6: bool, natt: bool) -> int:
    """The largest IKE message (header to last ICV octet) a fragment may be so that its IP
    datagram stays within ``fragment_size`` octets."""
    return fragment_size - (IPV6_HEADER if ipv6 else IPV4_HEADER) - UDP_HEADER - (
        NON_ESP_MARKER if natt else 0)


def unfragmented(first: Message, first_inner: int) -> bytes:
    """The octets before the inner payloads that the message ``first`` is fragment 1 of
    would have had whole (header, clear payloads, an Encrypted payload's generic header):
    RFC 9242 §3.3.2 computes IntAuth over a fragmented IKE_INTERMEDIATE message as if it
    had not been fragmented (:func:`iked.ikev2.intauth.octets` sets its lengths)."""
    clear = first.payloads[:-1] if first.payloads and isinstance(
        first.payloads[-1], SK | SKF) else first.payloads
    return message.encode(replace(first, payloads=(*clear, SK(first_inner, b""))))


@dataclass(frozen=True, slots=True)
class Result:
    """``whole``: the reassembled inner payloads' octets, then ``first`` is fragment 1 (its
    SKF's Next Payload is the first inner payload's type); ``drop``: why the fragment was
    refused; neither: kept, more to come, or a harmless duplicate.  ``evicted`` counts
    half-assembled messages given up on meanwhile (timeout, restart, a newer message)."""

    whole: bytes | None = None
    first: Message | None = None
    drop: Drop | None = None
    evicted: int = 0


_Key = tuple[Hashable, bool, int]  # (IKE SA, a response, Message ID)


class Reassembly(Table[_Key, Message]):
    """Half-assembled messages of all IKE SAs of one core, by (IKE SA, direction, Message
    ID), each from a peer ``address``, in one bounded :class:`~iked.reassembly.Table`
    (``per_peer`` counts an IKE SA's); ``now`` must not go backwards (the shell's monotonic
    clock)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)

    def add(self, sa: Hashable, msg: Message, plain: bytes, now: float,
            address: Hashable = None) -> Result:
        """One received fragment ``msg`` of IKE SA ``sa`` (its ICV checked) from the peer
        at ``address``, carrying ``plain`` of the whole message's inner payloads."""
        skf = msg.payloads[-1]
        assert isinstance(skf, SKF)
        evicted = self.expire(now)
        if skf.total > self.limits.max_fragments:
            return Result(drop=Drop.NUMBER, evicted=evicted)
        key: _Key = (sa, msg.response, msg.message_id)
        partial = self.get(key)
        if partial is not None and skf.total != partial.total:
            if skf.total < (partial.total or 0):
                return Result(drop=Drop.FEWER, evicted=evicted)
            # §2.6: more fragments than before: the sender cut smaller (PMTU discovery,
            # §2.5.2); what was kept belongs to the old cut, start over.
            self.forget(key)
            partial = None
            evicted += 1
        if partial is None:
            # a newer Message ID in the same direction: the older message is abandoned
            evicted += self.settled(sa, msg.response)
            partial, gone = self.start(key, sa, address, now)
            evicted += gone
            if partial is None:
                return Result(drop=Drop.MEMORY, evicted=evicted)
            partial.total = skf.total
        drop = self.store(key, partial, skf.number, plain)
        if drop is not None:
            return Result(drop=drop, evicted=evicted)
        if skf.number == 1 and partial.first is None:
            partial.first = msg
        first = partial.first
        whole = self.complete(key, partial)
        return Result(whole=whole, first=first if whole is not None else None,
                      evicted=evicted)

    def settled(self, sa: Hashable, response: bool) -> int:
        """A message of ``sa``'s peer in this direction came whole (or a newer one began):
        what was half-assembled in it is moot; how many went."""
        gone = [k for k in self.of_peer(sa) if k[1] == response]
        for key in gone:
            self.forget(key)
        return len(gone)
