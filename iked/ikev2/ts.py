"""Traffic selectors and their narrowing (RFC 7296 §2.9, §3.13.1; RFC 4301 §4.4.1.1).

A :class:`Ts` is one TS payload entry: an address range, an IP protocol (0 = any) and a port
range.  For ICMP/ICMPv6 the "ports" carry type and code as RFC 4301 §4.4.1.1 says: the type in
the high byte and the code in the low byte of the 16-bit port value.  The kernel wants prefixes,
so a range converts to the prefixes that cover it exactly.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from racoon2.net import Address, Prefix

ANY_PORTS = (0, 65535)
ICMP_PROTOS = frozenset({1, 58})


@dataclass(frozen=True, slots=True, order=True)
class Ts:
    """One traffic selector: addresses ``start``…``end``, ``proto`` (0 any), ports."""

    start: Address
    end: Address
    proto: int = 0
    start_port: int = 0
    end_port: int = 65535

    def __post_init__(self) -> None:
        if self.start.version != self.end.version:
            raise ValueError(f"traffic selector mixes IPv{self.start.version} and "
                             f"IPv{self.end.version}")
        if int(self.start) > int(self.end) or self.start_port > self.end_port:
            raise ValueError(f"empty traffic selector {self}")

    @property
    def version(self) -> int:
        """4 or 6."""
        return self.start.version

    def __str__(self) -> str:
        return _text(self)

    def prefixes(self) -> list[Prefix]:
        """The prefixes that cover exactly this address range."""
        return list(_prefixes(self.start, self.end))

    def contains(self, other: Ts) -> bool:
        """True when every packet ``other`` matches also matches this selector."""
        return (self.version == other.version
                and int(self.start) <= int(other.start) and int(other.end) <= int(self.end)
                and self.proto in (0, other.proto)
                and self.start_port <= other.start_port and other.end_port <= self.end_port)


@functools.lru_cache(maxsize=4096)
def _text(ts: Ts) -> str:
    # Every CHILD_SA's log line and event name its selectors: the few of the configuration.
    addrs = ", ".join(str(p) for p in ts.prefixes())
    ports = "" if (ts.start_port, ts.end_port) == ANY_PORTS else (
        f"[{ts.start_port}]" if ts.start_port == ts.end_port
        else f"[{ts.start_port}-{ts.end_port}]")
    proto = f" proto {ts.proto}" if ts.proto else ""
    return f"{addrs}{ports}{proto}"


@functools.lru_cache(maxsize=4096)
def _prefixes(start: Address, end: Address) -> tuple[Prefix, ...]:
    # Every CHILD_SA's selectors are logged and reported as prefixes, and most are the few
    # ranges of the configuration: computed once per range, not per SA.
    return tuple(ipaddress.summarize_address_range(start, end))


def from_prefix(prefix: Prefix, proto: int = 0, port: int | None = None,
                icmp: tuple[int, int | None] | None = None) -> Ts:
    """The selector for a prefix, optionally one port, or one ICMP type (and code)."""
    start, end = prefix.network_address, prefix.broadcast_address
    if icmp is not None:
        kind, code = icmp
        low = kind << 8 | (code if code is not None else 0)
        high = kind << 8 | (code if code is not None else 0xFF)
        return Ts(start, end, proto, low, high)
    if port:
        return Ts(start, end, proto, port, port)
    return Ts(start, end, proto)


def intersect(a: Ts, b: Ts) -> Ts | None:
    """What both selectors match, or None."""
    if a.version != b.version:
        return None
    if a.proto and b.proto and a.proto != b.proto:
        return None
    lo = max(int(a.start), int(b.start))
    hi = min(int(a.end), int(b.end))
    plo = max(a.start_port, b.start_port)
    phi = min(a.end_port, b.end_port)
    if lo > hi or plo > phi:
        return None
    make = type(a.start)
    return Ts(make(lo), make(hi), a.proto or b.proto, plo, phi)


def narrow(offered: Sequence[Ts], allowed: Iterable[Ts]) -> list[Ts]:
    """The responder's answer (RFC 7296 §2.9): each offered selector cut down to the policy.

    Results keep the order of ``offered`` and drop duplicates and selectors contained in an
    earlier result.  An empty list means TS_UNACCEPTABLE.
    """
    allowed = list(allowed)
    out: list[Ts] = []
    for ts in offered:
        for pol in allowed:
            cut = intersect(ts, pol)
            if cut is not None and not any(r.contains(cut) for r in out):
                out.append(cut)
    return out


def exact(offered: Sequence[Ts], allowed: Sequence[Ts]) -> bool:
    """``selector_check exact``: the offer must be what the policy says, no more, no less."""
    # Sets, not sorted lists: an IP_RW selector holds both families, whose addresses do not
    # order against each other.  The same selectors in the same order (nearly every offer)
    # are known equal without hashing their addresses.
    if len(offered) == len(allowed) and all(
            a == b for a, b in zip(offered, allowed, strict=True)):
        return True
    return set(offered) == set(allowed)


def address_ts(addr: Address) -> Ts:
    """The selector of one host (the first TS an initiator sends: the triggering packet)."""
    return Ts(addr, addr)


__all__ = ["ANY_PORTS", "ICMP_PROTOS", "Ts", "address_ts", "exact", "from_prefix", "intersect",
           "narrow"]
