"""The in-memory backend keeps the kernel's semantics the daemons' unit tests rely on."""

from __future__ import annotations

import asyncio
import errno
import ipaddress

import pytest

from racoon2.errors import KernelError
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend

ip = ipaddress.ip_address
net = ipaddress.ip_network
A, B = ip("192.0.2.1"), ip("192.0.2.2")


def out_policy(reqid: int = 5) -> api.PolicySpec:
    return api.PolicySpec(api.Selector(net("192.0.2.1/32"), net("192.0.2.2/32")),
                          api.Direction.OUTBOUND, api.Owner.IKED,
                          templates=(api.Template(api.Proto.ESP, reqid=reqid),))


def test_acquire_then_sa_then_no_acquire() -> None:
    async def go() -> None:
        k = MemoryBackend()
        key = await k.add_policy(out_policy())
        assert not k.inject_packet(A, B, 17, 1000, 53)
        ev = await anext(k.events())
        assert isinstance(ev, api.Acquire) and ev.policy_index == key.index and ev.reqid == 5
        spi = await k.alloc_spi(api.Proto.ESP, B, A, 5)
        await k.add_sa(api.SaSpec(A, B, api.Proto.ESP, 0x99, reqid=5))
        await k.update_sa(api.SaSpec(B, A, api.Proto.ESP, spi, reqid=5))
        assert k.inject_packet(A, B, 17, 1000, 53)

    asyncio.run(go())


def test_larval_and_lifetime_expiry() -> None:
    async def go() -> None:
        k = MemoryBackend(acquire_expires=30)
        events = k.events()
        spi = await k.alloc_spi(api.Proto.ESP, B, A, 1)
        await k.add_sa(api.SaSpec(A, B, api.Proto.ESP, 7, lifetime=api.Lifetime(
            soft_add_seconds=10, hard_add_seconds=20)))
        k.advance(11)
        soft = await anext(events)
        assert isinstance(soft, api.Expire) and not soft.hard and soft.key.spi == 7
        k.advance(10)
        hard = await anext(events)
        assert isinstance(hard, api.Expire) and hard.hard and hard.key.spi == 7
        k.advance(10)
        larval = await anext(events)
        assert isinstance(larval, api.Expire) and larval.key.spi == spi
        assert await k.dump_sas() == []

    asyncio.run(go())


def test_errors_and_ownership() -> None:
    async def go() -> None:
        k = MemoryBackend()
        await k.add_policy(out_policy())
        with pytest.raises(KernelError) as e:
            await k.add_policy(out_policy())
        assert e.value.errno == errno.EEXIST
        with pytest.raises(KernelError) as e:
            await k.del_sa(api.SaKey(A, B, api.Proto.ESP, 1))
        assert e.value.errno == errno.ESRCH
        spis = {await k.alloc_spi(api.Proto.ESP, B, A, 1, lo=0x100, hi=0x1FF) for _ in range(50)}
        assert len(spis) == 50 and all(0x100 <= s <= 0x1FF for s in spis)
        other = api.PolicySpec(api.Selector(net("198.51.100.0/24"), net("203.0.113.0/24")),
                               api.Direction.OUTBOUND, api.Owner.SPMD)
        await k.add_policy(other)
        await k.flush_own(api.Owner.IKED)
        assert [i.owner for i in await k.dump_policies()] == [api.Owner.SPMD]

    asyncio.run(go())
