"""spmd's FQDN cache (pure): names selectors use, their addresses, and the reverse map.

Names are kept with a trailing dot, as spmif writes them.  The shell fills the cache from
/etc/hosts and the resolver; kinkd asks ``FQDN QUERY <addr>`` to learn a peer's host name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from racoon2.net import Address


def canonical(name: str) -> str:
    """``name`` with exactly one trailing dot, lower case (DNS names are case-insensitive)."""
    return name.rstrip(".").lower() + "."


class FqdnCache:
    """Registered names and what they resolved to."""

    def __init__(self) -> None:
        self._registered: list[str] = []
        self._addresses: dict[str, tuple[Address, ...]] = {}

    def register(self, name: str) -> bool:
        """Add ``name``; False when it was registered already."""
        name = canonical(name)
        if name in self._registered:
            return False
        self._registered.append(name)
        return True

    def deregister(self, name: str) -> bool:
        """Remove ``name`` and its addresses; False when it was not registered."""
        name = canonical(name)
        if name not in self._registered:
            return False
        self._registered.remove(name)
        self._addresses.pop(name, None)
        return True

    def registered(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._registered)

    def update(self, name: str, addresses: Iterable[Address]) -> None:
        """Record what ``name`` resolves to now."""
        self._addresses[canonical(name)] = tuple(addresses)

    def learn(self, answers: dict[str, list[Address]]) -> list[str]:
        """Add what a DNS answer says about registered names (cache.c cache_update: addresses
        accumulate, unregistered names are ignored); the names whose addresses changed."""
        changed = []
        for name, addrs in answers.items():
            name = canonical(name)
            if name not in self._registered:
                continue
            have = self._addresses.get(name, ())
            new = tuple(a for a in addrs if a not in have)
            if new:
                self._addresses[name] = have + new
                changed.append(name)
        return changed

    def resolve(self, name: str) -> tuple[Address, ...] | None:
        """The cached addresses of ``name``, None when never resolved."""
        return self._addresses.get(canonical(name))

    def names_of(self, addr: Address) -> list[str]:
        """Every cached name that resolves to ``addr``."""
        return [n for n, addrs in self._addresses.items() if addr in addrs]

    @property
    def address_count(self) -> int:
        """Distinct cached addresses (STAT's CACHE IP ADDRESS)."""
        return len({a for addrs in self._addresses.values() for a in addrs})

    @property
    def name_count(self) -> int:
        """Cached names (STAT's CACHE FQDN)."""
        return len(self._addresses)


def parse_hosts(text: str) -> dict[str, list[Address]]:
    """/etc/hosts lines → name (canonical) → addresses, in file order."""
    out: dict[str, list[Address]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            addr = ipaddress.ip_address(fields[0])
        except ValueError:
            continue
        for name in fields[1:]:
            out.setdefault(canonical(name), []).append(addr)
    return out
