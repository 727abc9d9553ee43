"""The responder's configuration payload (RFC 7296 §2.19, §3.15): addresses leased from an
``addresspool`` and the ``provide`` values, pure."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

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
