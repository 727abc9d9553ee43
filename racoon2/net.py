"""Addresses, prefixes and endpoints: one set of types shared by every layer."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Prefix = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> Address:
    """Parse an IPv4 or IPv6 address; an IPv6 zone (``%eth0``) is kept by ipaddress."""
    return ipaddress.ip_address(text)


def parse_prefix(text: str) -> Prefix:
    """Parse ``addr/len`` (or a bare address, as a host prefix), host bits allowed."""
    return ipaddress.ip_network(text, strict=False)


def family_of(addr: Address | Prefix) -> int:
    """The socket address family (AF_INET / AF_INET6) of an address or prefix."""
    import socket

    return socket.AF_INET if addr.version == 4 else socket.AF_INET6


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An address and a UDP/TCP port."""

    addr: Address
    port: int

    def __str__(self) -> str:
        return f"{self.addr}[{self.port}]"
