"""Addresses, prefixes and endpoints: one set of types shared by every layer."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
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


def local_addresses(macro: str, ifname: str | None) -> Sequence[Address]:
    """This host's addresses for MY_IP, MY_IPV4, MY_IPV6, … (optionally of one interface)."""
    from pyroute2 import IPRoute  # netlink I/O: imported by the daemons that need it only

    out: list[Address] = []
    with IPRoute() as ipr:
        index = None
        if ifname:
            found = ipr.link_lookup(ifname=ifname)
            if not found:
                return []
            index = found[0]
        for msg in ipr.get_addr():
            if index is not None and msg["index"] != index:
                continue
            addr = ipaddress.ip_address(msg.get_attr("IFA_ADDRESS"))
            if _macro_matches(macro, addr):
                out.append(addr)
    return out


def _macro_matches(macro: str, addr: Address) -> bool:
    if macro in ("MY_IP", "MY_HOA"):
        return True
    if macro == "MY_IPV4":
        return addr.version == 4
    if addr.version != 6:
        return False
    if macro == "MY_IPV6_LINKLOCAL":
        return addr.is_link_local
    if macro == "MY_IPV6_GLOBAL":
        return not (addr.is_link_local or addr.is_site_local or addr.is_multicast or
                    addr.is_loopback or addr.is_unspecified or
                    getattr(addr, "ipv4_mapped", None) is not None)
    return macro == "MY_IPV6"
