"""Address pools and their lease table (pure): who holds which address, and for how long an
address stays reserved for a client that went away.

A lease belongs to an owner, the client's authenticated identity (IKEv2 IDi; None for a
client known by no identity).  While an IKE SA holds it the lease is *online*; when the SA
ends it goes *offline* and stays reserved for its owner until ``lease_time`` has passed, so
that a client which reconnects (a phone changing networks, a laptop waking up; after
INITIAL_CONTACT its old IKE SA is gone first, RFC 7296 §2.4) gets the same address again and
its open connections survive.  Addresses go out lowest first; when none is free, the offline
lease that has waited longest is taken from its owner, as strongSwan's in-memory pools do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from racoon2.net import Address

Now = float
#: The client a lease is kept for: (IKEv2 ID type, ID data).
Owner = tuple[int, bytes]


@dataclass
class Lease:
    """One address given out."""

    addr: Address
    owner: Owner | None
    online: bool = True
    expires: Now = 0.0  # offline leases: when the reservation ends


class Pool:
    """One ``addresspool``: inclusive address ranges (either family) and their leases."""

    def __init__(self, ranges: Sequence[tuple[Address, Address]]) -> None:
        self.ranges = tuple(ranges)
        self._leases: dict[Address, Lease] = {}
        self._by_owner: dict[tuple[Owner, int], Address] = {}

    @property
    def versions(self) -> frozenset[int]:
        """The address families the pool has addresses of."""
        return frozenset(start.version for start, _ in self.ranges)

    def _addresses(self, version: int) -> Iterator[Address]:
        for start, end in self.ranges:
            if start.version == version:
                for n in range(int(start), int(end) + 1):
                    yield ipaddress.IPv4Address(n) if version == 4 else ipaddress.IPv6Address(n)

    def _drop(self, lease: Lease) -> None:
        del self._leases[lease.addr]
        if lease.owner is not None:
            self._by_owner.pop((lease.owner, lease.addr.version), None)

    def _lapsed(self, lease: Lease, now: Now) -> bool:
        if not lease.online and lease.expires <= now:
            self._drop(lease)
            return True
        return False

    def lease(self, version: int, owner: Owner | None, now: Now) -> Address | None:
        """An address of IP ``version`` for ``owner``, now online: the one it held before if
        that is still reserved for it, else the lowest free one, else the offline lease that
        has waited longest; None when every address is online."""
        if owner is not None and (held := self._by_owner.get((owner, version))) is not None:
            lease = self._leases[held]
            if not lease.online and not self._lapsed(lease, now):
                lease.online = True
                return lease.addr
        for addr in self._addresses(version):
            found = self._leases.get(addr)
            if found is None or self._lapsed(found, now):
                return self._give(addr, owner)
        offline = [lease for lease in self._leases.values()
                   if not lease.online and lease.addr.version == version]
        if not offline:
            return None
        oldest = min(offline, key=lambda lease: lease.expires)
        self._drop(oldest)
        return self._give(oldest.addr, owner)

    def _give(self, addr: Address, owner: Owner | None) -> Address:
        if owner is not None:
            # A second IKE SA of one identity (two devices, no INITIAL_CONTACT) gets its own
            # address; the newest lease is the one kept for a reconnect.
            self._by_owner[(owner, addr.version)] = addr
        self._leases[addr] = Lease(addr, owner)
        return addr

    def release(self, addr: Address, now: Now, keep: float) -> None:
        """``addr``'s IKE SA ended: it stays reserved for its owner ``keep`` seconds (none for
        a lease without owner, or with ``keep`` 0)."""
        lease = self._leases.get(addr)
        if lease is None:
            return
        if lease.owner is None or keep <= 0 or self._by_owner.get(
                (lease.owner, addr.version)) != addr:
            self._drop(lease)
            return
        lease.online, lease.expires = False, now + keep

    def claim(self, addr: Address, owner: Owner | None) -> None:
        """Mark ``addr`` online for ``owner`` (a lease an IKE SA kept across a restart)."""
        self._give(addr, owner)

    def holds(self, addr: Address) -> bool:
        """Whether ``addr`` is leased (online or reserved) from this pool."""
        return addr in self._leases

    def resized(self, ranges: Sequence[tuple[Address, Address]]) -> Pool:
        """This pool with new ranges (a reload): online leases are kept wherever they are
        (their IKE SAs stay up), offline ones only inside the new ranges."""
        new = Pool(ranges)
        for lease in self._leases.values():
            inside = any(start.version == lease.addr.version and
                         int(start) <= int(lease.addr) <= int(end) for start, end in ranges)
            if lease.online or inside:
                new._leases[lease.addr] = lease
                if lease.owner is not None and \
                        self._by_owner.get((lease.owner, lease.addr.version)) == lease.addr:
                    new._by_owner[(lease.owner, lease.addr.version)] = lease.addr
        return new

    def table(self, now: Now) -> list[tuple[Address, Owner | None, bool, float]]:
        """(address, owner, online, seconds left offline) of every lease, for status."""
        return [(lease.addr, lease.owner, lease.online,
                 0.0 if lease.online else max(0.0, lease.expires - now))
                for lease in sorted(self._leases.values(), key=lambda x: (x.addr.version,
                                                                          int(x.addr)))]


class Pools:
    """The ``addresspool``s of a configuration by name, made when first leased from; shared
    by the IKEv2 and IKEv1 cores, so that one address is never given twice."""

    def __init__(self, ranges: Callable[[str], Sequence[tuple[Address, Address]] | None]
                 ) -> None:
        """``ranges(name)``: the configured ranges of pool ``name``, None if there is none."""
        self._ranges = ranges
        self._pools: dict[str, Pool] = {}

    def _get(self, name: str) -> Pool | None:
        if name not in self._pools:
            found = self._ranges(name)
            if found is None:
                return None
            self._pools[name] = Pool(found)
        return self._pools[name]

    def lease(self, names: Sequence[str], version: int, owner: Owner | None, now: Now
              ) -> tuple[str, Address] | None:
        """(pool, address) of IP ``version`` for ``owner`` from the first of the pools
        ``names`` that has one (None when none has)."""
        for name in names:
            pool = self._get(name)
            if pool is not None and version in pool.versions and \
                    (addr := pool.lease(version, owner, now)) is not None:
                return name, addr
        return None

    def versions(self, names: Sequence[str]) -> frozenset[int]:
        """The address families the pools ``names`` hold."""
        return frozenset(v for name in names if (p := self._get(name)) is not None
                         for v in p.versions)

    def release(self, name: str, addr: Address, now: Now, keep: float) -> None:
        """A leased address's IKE SA ended: reserved for its owner ``keep`` seconds."""
        if name in self._pools:
            self._pools[name].release(addr, now, keep)

    def claim(self, name: str, addr: Address, owner: Owner | None) -> None:
        """A lease an IKE SA kept across a restart is online again."""
        if (pool := self._get(name)) is not None:
            pool.claim(addr, owner)

    def reconfigure(self, ranges: Callable[[str], Sequence[tuple[Address, Address]] | None]
                    ) -> None:
        """A reload: a pool whose name stays keeps its leases, with the new ranges; the
        others go (their SAs are deleted with their remotes or keep their addresses)."""
        self._ranges = ranges
        self._pools = {name: pool.resized(found) for name, pool in self._pools.items()
                       if (found := ranges(name)) is not None}

    def tables(self, now: Now) -> dict[str, list[tuple[Address, Owner | None, bool, float]]]:
        """Each pool's :meth:`Pool.table`, for status."""
        return {name: pool.table(now) for name, pool in self._pools.items()}
