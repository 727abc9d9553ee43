"""An in-memory kernel with the semantics the daemons rely on — for unit tests of their cores.

SPIs are allocated unique within the requested range; larval SAs (from :meth:`alloc_spi`) expire
after ``acquire_expires`` seconds like the kernel's; soft and hard time limits fire EXPIRE events
when :meth:`advance` moves the clock past them; :meth:`inject_packet` plays a packet against the
policies and raises ACQUIRE when a matching IPsec policy has no SA.  Never the proof of a
feature: real kernels are tested in tests/kernel and tests/vm.
"""

from __future__ import annotations

import asyncio
import errno as errnos
import ipaddress
import itertools
import os
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from racoon2.errors import KernelError
from racoon2.kernel import api
from racoon2.net import Address

ACQUIRE_EXPIRES = 30.0


def _error(op: str, subject: object, code: int) -> KernelError:
    return KernelError(op, str(subject), os.strerror(code), code)


class MemoryBackend:
    """A KernelBackend holding SAs and policies in dictionaries; time is ``now``."""

    def __init__(self, now: float = 0.0, seed: int = 0,
                 acquire_expires: float = ACQUIRE_EXPIRES) -> None:
        self.now = now
        self._random = random.Random(seed)
        self.acquire_expires = acquire_expires
        self.sas: dict[tuple[Address, api.Proto, int], tuple[api.SaSpec, float, bool]] = {}
        self.policies: dict[tuple[object, ...], api.PolicyInfo] = {}
        self._index = itertools.count(8, 8)
        self._seq = itertools.count(1)
        self._events: asyncio.Queue[api.KernelEvent] = asyncio.Queue()
        self._soft_sent: set[tuple[Address, api.Proto, int]] = set()
        #: (bytes, packets) each SA carried (its current lifetime's counters): :meth:`carry`.
        self.carried: dict[tuple[Address, api.Proto, int], tuple[int, int]] = {}

    # -- test controls ------------------------------------------------------------------------

    def carry(self, key: api.SaKey, packets: int, nbytes: int) -> None:
        """Count ``packets`` packets of ``nbytes`` bytes in all on the SA ``key`` (what the
        kernel's counters show)."""
        k = (key.dst, key.proto, key.spi)
        was = self.carried.get(k, (0, 0))
        self.carried[k] = (was[0] + nbytes, was[1] + packets)

    def advance(self, seconds: float) -> None:
        """Move the clock; SAs past a time limit expire (soft: event; hard: event + gone)."""
        self.now += seconds
        for key, (sa, added, larval) in list(self.sas.items()):
            age = self.now - added
            lt = sa.lifetime
            hard = (self.acquire_expires if larval else lt.hard_add_seconds) or 0
            if hard and age >= hard:
                del self.sas[key]
                self._events.put_nowait(api.Expire(sa.key, True, sa.reqid))
            elif lt.soft_add_seconds and age >= lt.soft_add_seconds and key not in \
                    self._soft_sent:
                self._soft_sent.add(key)
                self._events.put_nowait(api.Expire(sa.key, False, sa.reqid))

    def inject_packet(self, src: Address, dst: Address, proto: int = 0, sport: int = 0,
                      dport: int = 0) -> bool:
        """An outbound packet; True when an SA covers it, else ACQUIRE when a policy wants one."""
        for info in sorted(self.policies.values(), key=lambda i: i.kernel_priority):
            sp = info.spec
            sel = sp.selector
            if sp.direction is not api.Direction.OUTBOUND or src not in sel.src or \
                    dst not in sel.dst:
                continue
            if sel.proto and sel.proto != proto or sel.sport and sel.sport != sport or \
                    sel.dport and sel.dport != dport:
                continue
            if sp.action is api.Verdict.BLOCK or not sp.templates:
                return not sp.templates and sp.action is api.Verdict.ALLOW
            t = sp.templates[0]
            want_src, want_dst = (t.src, t.dst) if t.mode is api.Mode.TUNNEL else (src, dst)
            for sa, _added, larval in self.sas.values():
                if not larval and sa.src == want_src and sa.dst == want_dst and \
                        sa.proto is t.proto and (not t.reqid or sa.reqid == t.reqid):
                    return True
            packet = api.Selector(ipaddress.ip_network(src), ipaddress.ip_network(dst), proto,
                                  sport, dport)
            self._events.put_nowait(api.Acquire(
                next(self._seq), info.index, api.Direction.OUTBOUND, packet,
                want_src or src, want_dst or dst, t.proto, t.mode, t.reqid))
            return False
        return True

    # -- KernelBackend ------------------------------------------------------------------------

    async def capabilities(self) -> api.Capabilities:
        """Everything: the in-memory kernel installs any algorithm name."""
        every = frozenset({"*"})
        return api.Capabilities(frozenset(api.Proto), frozenset(api.Mode), every, every, every,
                                every, True, True, "in-memory backend")

    async def alloc_spi(self, proto: api.Proto, src: Address, dst: Address, reqid: int, *,
                        lo: int = 0x100, hi: int = 0xFFFFFFFF, seq: int = 0) -> int:
        """A free SPI in ``lo``..``hi``, held by a larval SA."""
        for _ in range(1000):
            spi = self._random.randint(lo, hi)
            if (dst, proto, spi) not in self.sas:
                larval = api.SaSpec(src, dst, proto, spi, reqid=reqid, acquire_seq=seq)
                self.sas[(dst, proto, spi)] = (larval, self.now, True)
                return spi
        raise _error("ALLOCSPI", f"{proto.name} {src} -> {dst}", errnos.ENOENT)

    async def add_sa(self, sa: api.SaSpec) -> None:
        """Install; EEXIST when present."""
        key = (sa.dst, sa.proto, sa.spi)
        if key in self.sas:
            raise _error("NEWSA", sa.key, errnos.EEXIST)
        self.sas[key] = (sa, self.now, False)

    async def update_sa(self, sa: api.SaSpec) -> None:
        """Fill a larval SA or replace one; ENOENT when absent."""
        key = (sa.dst, sa.proto, sa.spi)
        if key not in self.sas:
            raise _error("UPDSA", sa.key, errnos.ENOENT)
        self.sas[key] = (sa, self.now, False)

    async def del_sa(self, key: api.SaKey) -> None:
        """Delete; ESRCH when absent (as XFRM answers)."""
        if self.sas.pop((key.dst, key.proto, key.spi), None) is None:
            raise _error("DELSA", key, errnos.ESRCH)

    async def get_sa(self, key: api.SaKey) -> api.SaInfo:
        """One SA."""
        found = self.sas.get((key.dst, key.proto, key.spi))
        if found is None:
            raise _error("GETSA", key, errnos.ESRCH)
        nbytes, packets = self.carried.get((key.dst, key.proto, key.spi), (0, 0))
        return api.SaInfo(found[0], api.LifetimeCurrent(nbytes, packets, int(found[1])))

    async def dump_sas(self) -> list[api.SaInfo]:
        """Every SA."""
        return [api.SaInfo(sa, api.LifetimeCurrent(add_time=int(t))) for sa, t, _ in
                self.sas.values()]

    @staticmethod
    def _id(sp: api.PolicySpec | api.PolicyKey) -> tuple[object, ...]:
        return (sp.direction, sp.selector, sp.mark, sp.if_id)

    def _store(self, sp: api.PolicySpec, index: int) -> api.PolicyKey:
        spec = replace(sp, index=index)
        self.policies[self._id(sp)] = api.PolicyInfo(
            spec, index, sp.owner, api.kernel_priority(sp.owner, sp.priority))
        return spec.key

    async def add_policy(self, sp: api.PolicySpec) -> api.PolicyKey:
        """Install; EEXIST when present."""
        if self._id(sp) in self.policies:
            raise _error("NEWPOLICY", sp.key, errnos.EEXIST)
        return self._store(sp, next(self._index) | api.XFRM_DIRECTIONS[sp.direction])

    async def add_policies(self, sps: Sequence[api.PolicySpec]
                           ) -> list[api.PolicyKey | KernelError]:
        """One result per policy."""
        out: list[api.PolicyKey | KernelError] = []
        for sp in sps:
            try:
                out.append(await self.add_policy(sp))
            except KernelError as e:
                out.append(e)
        return out

    async def update_policy(self, sp: api.PolicySpec) -> api.PolicyKey:
        """Install or replace, keeping the index of a replaced policy."""
        old = self.policies.get(self._id(sp))
        index = old.index if old else next(self._index) | api.XFRM_DIRECTIONS[sp.direction]
        return self._store(sp, index)

    async def del_policy(self, key: api.PolicyKey) -> None:
        """By index when given, else by selector and direction; ENOENT when absent."""
        for k, info in list(self.policies.items()):
            if (key.index and info.index == key.index) or (not key.index and k ==
                                                           self._id(key)):
                del self.policies[k]
                return
        raise _error("DELPOLICY", key, errnos.ENOENT)

    async def dump_policies(self, owner: api.Owner | None = None) -> list[api.PolicyInfo]:
        """Every policy, or ``owner``'s."""
        return [i for i in self.policies.values() if owner is None or i.owner is owner]

    async def flush_own(self, owner: api.Owner) -> None:
        """``owner``'s policies and the SAs of their reqids."""
        mine = await self.dump_policies(owner)
        reqids = {t.reqid for i in mine for t in i.spec.templates if t.reqid}
        for info in mine:
            del self.policies[self._id(info.spec)]
        for key, (sa, _t, _l) in list(self.sas.items()):
            if sa.reqid in reqids:
                del self.sas[key]

    async def migrate(self, mig: api.Migration) -> None:
        """Move matching SAs and the policy's templates to the new endpoints."""
        pk = api.PolicyKey(mig.direction, mig.selector)
        info = self.policies.get(self._id(pk))
        if info is None:
            raise _error("MIGRATE", pk, errnos.ENOENT)
        templates = list(info.spec.templates)
        for e in mig.entries:
            templates = [replace(t, src=e.new_src, dst=e.new_dst) if (t.src, t.dst) ==
                         (e.old_src, e.old_dst) else t for t in templates]
            for key, (sa, t, larval) in list(self.sas.items()):
                if (sa.src, sa.dst, sa.reqid) == (e.old_src, e.old_dst, e.reqid):
                    del self.sas[key]
                    moved = replace(sa, src=e.new_src, dst=e.new_dst)
                    self.sas[(moved.dst, moved.proto, moved.spi)] = (moved, t, larval)
        self.policies[self._id(pk)] = replace(info, spec=replace(info.spec,
                                                                 templates=tuple(templates)))

    async def events(self) -> AsyncIterator[api.KernelEvent]:
        """Events as tests cause them."""
        while True:
            yield await self._events.get()

    async def close(self) -> None:
        """Nothing to release."""
