"""The configuration payload (RFC 7296 §2.19, §3.15), pure: the responder's addresses leased
from an ``addresspool`` and ``provide`` values, the initiator's ``request { }`` and what the
CFG_REPLY gave it."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from iked.hooks import CfgReply
from racoon2.config.model import ConfigRequest
from racoon2.ikev2.constants import CfgAttribute as A
from racoon2.ikev2.constants import CfgType
from racoon2.ikev2.payloads import CP
from racoon2.net import Address


@dataclass(frozen=True)
class Provide:
    """A remote's ``provide { }`` block, resolved."""

    pool: str | None
    dns: tuple[Address, ...] = ()
    application_version: str | None = None


class Pool:
    """One ``addresspool``: leases the lowest free address of the wanted family."""

    def __init__(self, ranges: Sequence[tuple[Address, Address]]) -> None:
        self._ranges = tuple(ranges)
        self._leased: set[Address] = set()

    def lease(self, version: int) -> Address | None:
        """A free address of IP ``version``, now leased; None when the pool is exhausted."""
        for start, end in self._ranges:
            if start.version != version:
                continue
            for n in range(int(start), int(end) + 1):
                addr = ipaddress.ip_address(n) if version == 4 else ipaddress.IPv6Address(n)
                if addr not in self._leased:
                    self._leased.add(addr)
                    return addr
        return None

    def release(self, addr: Address) -> None:
        """Give ``addr`` back."""
        self._leased.discard(addr)


def wanted_version(request: CP) -> int | None:
    """The address family a CFG_REQUEST asks for (4 first, as most clients ask both)."""
    kinds = {t for t, _ in request.attributes}
    if A.INTERNAL_IP4_ADDRESS in kinds:
        return 4
    if A.INTERNAL_IP6_ADDRESS in kinds:
        return 6
    return None


def reply(request: CP, lease: Address | None, provide: Provide) -> CP:
    """The CFG_REPLY: the lease and the ``provide`` values the client asked for."""
    kinds = {t for t, _ in request.attributes}
    attrs: list[tuple[int, bytes]] = []
    if lease is not None and lease.version == 4:
        attrs.append((A.INTERNAL_IP4_ADDRESS, lease.packed))
    elif lease is not None:
        attrs.append((A.INTERNAL_IP6_ADDRESS, lease.packed + struct.pack("!B", 128)))
    for dns in provide.dns:
        kind = A.INTERNAL_IP4_DNS if dns.version == 4 else A.INTERNAL_IP6_DNS
        if kind in kinds:
            attrs.append((kind, dns.packed))
    if provide.application_version and A.APPLICATION_VERSION in kinds:
        attrs.append((A.APPLICATION_VERSION, provide.application_version.encode()))
    return CP(CfgType.CFG_REPLY, tuple(attrs))


#: ``request { }`` items and the attribute each asks for (RFC 7296 §3.15.1).
_ASKS = ((ConfigRequest.IP4, A.INTERNAL_IP4_ADDRESS), (ConfigRequest.IP6, A.INTERNAL_IP6_ADDRESS),
         (ConfigRequest.IP4_DNS, A.INTERNAL_IP4_DNS), (ConfigRequest.IP6_DNS, A.INTERNAL_IP6_DNS),
         (ConfigRequest.IP4_DHCP, A.INTERNAL_IP4_DHCP),
         (ConfigRequest.IP6_DHCP, A.INTERNAL_IP6_DHCP),
         (ConfigRequest.APPLICATION_VERSION, A.APPLICATION_VERSION))


def request(items: ConfigRequest) -> CP | None:
    """The initiator's CFG_REQUEST for ``request { }``: empty attributes ask for a value."""
    attrs = tuple((kind, b"") for flag, kind in _ASKS if flag in items)
    return CP(CfgType.CFG_REQUEST, attrs) if attrs else None


def parse_reply(cp: CP) -> CfgReply:
    """What a CFG_REPLY gives; malformed or unknown attributes are skipped (RFC 7296 §3.15.1
    lets a reply carry what was not asked for)."""
    got: dict[int, list[Address]] = {}
    version = ""
    for kind, value in cp.attributes:
        # The lengths are checked first, so ipaddress cannot refuse the octets.
        if kind in (A.INTERNAL_IP4_ADDRESS, A.INTERNAL_IP4_DNS, A.INTERNAL_IP4_NBNS,
                    A.INTERNAL_IP4_DHCP) and len(value) == 4:
            got.setdefault(kind, []).append(ipaddress.IPv4Address(value))
        elif kind in (A.INTERNAL_IP6_ADDRESS, A.INTERNAL_IP6_DNS, A.INTERNAL_IP6_DHCP) \
                and len(value) in (16, 17):  # an address carries its prefix length
            got.setdefault(kind, []).append(ipaddress.IPv6Address(value[:16]))
        elif kind == A.APPLICATION_VERSION:
            version = value.decode("utf-8", "replace")

    def one(kind: int) -> Address | None:
        return got[kind][0] if got.get(kind) else None

    return CfgReply(one(A.INTERNAL_IP4_ADDRESS), tuple(got.get(A.INTERNAL_IP4_DNS, ())),
                    tuple(got.get(A.INTERNAL_IP4_NBNS, ())),
                    tuple(got.get(A.INTERNAL_IP4_DHCP, ())), one(A.INTERNAL_IP6_ADDRESS),
                    tuple(got.get(A.INTERNAL_IP6_DNS, ())),
                    tuple(got.get(A.INTERNAL_IP6_DHCP, ())), version)


def leases(reply: CfgReply) -> tuple[Address, ...]:
    """The addresses a CFG_REPLY leased us."""
    return tuple(a for a in (reply.addr4, reply.addr6) if a is not None)
