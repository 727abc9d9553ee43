"""Addresses, prefixes and endpoints: one set of types shared by every layer."""

from __future__ import annotations

import ipaddress
from dataclasses import field

from racoon2.frozen import frozen

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Prefix = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> Address:
    """Parse an IPv4 or IPv6 address; an IPv6 zone (``%eth0``) is kept by ipaddress."""
    return ipaddress.ip_address(text)


def parse_prefix(text: str) -> Prefix:
    """Parse ``addr/len`` (or a bare address, as a host prefix), host bits allowed."""
    return ipaddress.ip_network(text, strict=False)


def scope(addr: Address) -> int:
    """The address's scope for source selection (RFC 6724 §3.1): 0 loopback, 1 link-local,
    2 anything wider (private IPv4 addresses count as global there too)."""
    if addr.is_loopback:
        return 0
    return 1 if addr.is_link_local else 2


@frozen
class Endpoint:
    """An address and a UDP/TCP port."""

    addr: Address
    port: int
    # The cores key their tables by endpoint, and an ipaddress object hashes in Python
    # (hash(hex(int))): the hash is taken once.  Not pickled (str hashes differ between
    # processes): __reduce__ rebuilds it.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.addr, self.port)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[Endpoint], tuple[Address, int]]:
        return Endpoint, (self.addr, self.port)

    def __str__(self) -> str:
        return f"{self.addr}[{self.port}]"

    @property
    def unscoped(self) -> Endpoint:
        """The endpoint without an IPv6 zone: what the IKE/KINK cores compare."""
        if self.addr.version == 6 and self.addr.scope_id:
            return Endpoint(ipaddress.IPv6Address(self.addr.packed), self.port)
        return self


#: The macros that stand for this host's own addresses (racoon2.conf ``MY_IP`` & co).
HOST_MACROS = frozenset(("MY_IP", "MY_IPV4", "MY_IPV6", "MY_IPV6_GLOBAL", "MY_IPV6_LINKLOCAL",
                         "MY_HOA"))


@frozen
class HostAddress:
    """One address configured on one of this host's interfaces (without a zone); the name
    is informational: a renamed interface keeps its index."""

    addr: Address
    ifindex: int
    ifname: str = field(compare=False)

    @property
    def scoped(self) -> Address:
        """The address a socket binds: an IPv6 link-local one with its zone (``fe80::1%eth0``),
        which names the link it is unique on (RFC 4007 section 6)."""
        if self.addr.version == 6 and self.addr.is_link_local:
            return ipaddress.IPv6Address(f"{self.addr}%{self.ifname}")
        return self.addr

    def __str__(self) -> str:
        return f"{self.addr} on {self.ifname}"


def _order(h: HostAddress) -> tuple[int, int, int]:
    return h.ifindex, h.addr.version, int(h.addr)


@frozen
class HostAddresses:
    """A snapshot of this host's addresses: what MY_IP… expand to at one moment."""

    entries: frozenset[HostAddress] = frozenset()

    def matching(self, macro: str, ifname: str | None = None) -> list[HostAddress]:
        """The addresses ``macro`` (``MY_IPV6``…, ``%ifname`` given apart) stands for, in
        interface order."""
        return sorted((h for h in self.entries if (ifname is None or h.ifname == ifname)
                       and _macro_matches(macro, h.addr)), key=_order)

    def expand(self, macro: str, ifname: str | None = None) -> list[Address]:
        """The addresses ``macro`` stands for, without zones (as kernel selectors hold them),
        each once."""
        return list(dict.fromkeys(h.addr for h in self.matching(macro, ifname)))

    def changes(self, newer: HostAddresses) -> tuple[list[HostAddress], list[HostAddress]]:
        """(added, removed) from this snapshot to ``newer``."""
        return (sorted(newer.entries - self.entries, key=_order),
                sorted(self.entries - newer.entries, key=_order))


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
