"""The netlink XFRM backend against this machine's kernel, in a namespace made per test.

This kernel has XFRM but no ESP module: SA installation fails with a clean error, while
policies, SPI allocation (larval SAs), ACQUIRE and EXPIRE all work and are tested here.  ESP
traffic through both backends is tested in the VM (tests/vm).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable

import pyroute2.netns
import pytest
from netns import Netns

from racoon2.errors import KernelError
from racoon2.kernel import api
from racoon2.kernel.xfrm.backend import XfrmBackend

net = ipaddress.ip_network
ip = ipaddress.ip_address
A, B = ip("192.0.2.1"), ip("192.0.2.2")


def in_netns(ns: Netns, body: Callable[[XfrmBackend], Awaitable[None]]) -> None:
    """Run ``body`` with a backend opened inside ``ns`` (this thread enters it, then leaves)."""

    async def run() -> None:
        backend = await XfrmBackend.open()
        try:
            await body(backend)
        finally:
            await backend.close()

    pyroute2.netns.pushns(ns.name)
    try:
        asyncio.run(run())
    finally:
        pyroute2.netns.popns()


def policy(i: int, direction: api.Direction = api.Direction.OUTBOUND) -> api.PolicySpec:
    return api.PolicySpec(
        api.Selector(net(f"10.{i >> 8 & 255}.{i & 255}.0/24"), net("192.0.2.0/24"), 6, 0, 443),
        direction, api.Owner.TESTS,
        templates=(api.Template(api.Proto.ESP, api.Mode.TUNNEL, ip("198.51.100.1"),
                                ip("203.0.113.1"), 5, api.Level.UNIQUE),),
        priority=i & 0xFFFF)


def test_ten_thousand_policies(netns: Netns) -> None:
    async def body(b: XfrmBackend) -> None:
        specs = [policy(i) for i in range(10_000)]
        start = time.perf_counter()
        results = await b.add_policies(specs)
        took = time.perf_counter() - start
        assert all(isinstance(r, api.PolicyKey) and r.index for r in results), took
        dumped = await b.dump_policies(api.Owner.TESTS)
        assert len(dumped) == 10_000
        by_selector = {d.spec.selector: d.spec for d in dumped}
        for spec in specs[::997]:  # what the kernel holds is what we asked for
            got = by_selector[spec.selector]
            assert (got.direction, got.action, got.templates, got.priority) == (
                spec.direction, spec.action, spec.templates, spec.priority)
        await b.flush_own(api.Owner.TESTS)
        assert await b.dump_policies() == []

    in_netns(netns, body)
    assert netns.policies() == []


def test_foreign_policies_survive_flush_and_are_not_ours(netns: Netns) -> None:
    netns.ip("xfrm", "policy", "add", "src", "198.51.100.0/24", "dst", "203.0.113.0/24",
             "dir", "out", "priority", "100")

    async def body(b: XfrmBackend) -> None:
        await b.add_policy(policy(1))
        everything = await b.dump_policies()
        assert {p.owner for p in everything} == {api.Owner.TESTS, None}
        await b.flush_own(api.Owner.TESTS)
        left = await b.dump_policies()
        assert len(left) == 1 and left[0].owner is None and left[0].kernel_priority == 100

    in_netns(netns, body)


def test_update_keeps_index_and_errors_name_the_policy(netns: Netns) -> None:
    async def body(b: XfrmBackend) -> None:
        key = await b.add_policy(policy(7))
        with pytest.raises(KernelError) as e:
            await b.add_policy(policy(7))
        assert e.value.errno == errno.EEXIST and "10.0.7.0/24" in str(e.value)
        changed = api.PolicySpec(policy(7).selector, api.Direction.OUTBOUND, api.Owner.TESTS,
                                 api.Verdict.BLOCK)
        again = await b.update_policy(changed)
        assert again.index == key.index
        [info] = await b.dump_policies(api.Owner.TESTS)
        assert info.spec.action is api.Verdict.BLOCK and info.spec.templates == ()
        await b.del_policy(again)
        with pytest.raises(KernelError) as e:
            await b.del_policy(again)
        assert e.value.errno == errno.ENOENT and e.value.op == "DELPOLICY"

    in_netns(netns, body)


def test_alloc_spi_and_expire_event(netns: Netns) -> None:
    netns.run(["sh", "-c", "echo 1 > /proc/sys/net/core/xfrm_acq_expires"])

    async def body(b: XfrmBackend) -> None:
        events = b.events()
        spis = {await b.alloc_spi(api.Proto.ESP, B, A, 3) for _ in range(20)}
        assert len(spis) == 20 and all(0x100 <= s <= 0xFFFFFFFF for s in spis)
        fixed = await b.alloc_spi(api.Proto.ESP, B, A, 4, lo=0x4242, hi=0x4242)
        assert fixed == 0x4242
        larval = await b.get_sa(api.SaKey(B, A, api.Proto.ESP, fixed))
        assert larval.spec.reqid == 4
        seen: set[int] = set()
        deadline = time.monotonic() + 15
        while len(seen) < 21 and time.monotonic() < deadline:
            ev = await asyncio.wait_for(events.__anext__(), 15)
            if isinstance(ev, api.Expire):
                assert ev.hard and ev.key.dst == A
                seen.add(ev.key.spi)
        assert seen == spis | {fixed}

    in_netns(netns, body)


def test_acquire_on_traffic_without_sa(netns: Netns) -> None:
    netns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
    netns.ip("addr", "add", "192.0.2.1/24", "dev", "v0")
    netns.ip("link", "set", "v0", "up")
    netns.ip("link", "set", "v1", "up")

    async def body(b: XfrmBackend) -> None:
        key = await b.add_policy(api.PolicySpec(
            api.Selector(net("192.0.2.1/32"), net("192.0.2.2/32")), api.Direction.OUTBOUND,
            api.Owner.TESTS, templates=(api.Template(api.Proto.ESP, reqid=9),)))
        events = b.events()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            s.sendto(b"hello", ("192.0.2.2", 4242))
        ev = await asyncio.wait_for(events.__anext__(), 10)
        assert isinstance(ev, api.Acquire)
        assert (ev.src, ev.dst, ev.proto, ev.reqid, ev.policy_index) == (A, B, api.Proto.ESP, 9,
                                                                         key.index)
        assert ev.selector.proto == 17 and ev.selector.dport == 4242

    in_netns(netns, body)


def test_sa_errors_are_clean(netns: Netns) -> None:
    async def body(b: XfrmBackend) -> None:
        caps = await b.capabilities()
        sa = api.SaSpec(A, B, api.Proto.ESP, 0x1234, cipher=api.Cipher("cbc(aes)", bytes(16)),
                        integrity=api.Integrity("hmac(sha256)", bytes(32), 128))
        if api.Proto.ESP in caps.protos:
            pytest.skip("this kernel has ESP; SA installation is covered by the VM tests")
        with pytest.raises(KernelError) as e:
            await b.add_sa(sa)
        assert e.value.errno == errno.EPROTONOSUPPORT
        assert str(e.value) == ("NEWSA SA ESP spi 0x00001234 192.0.2.1 -> 192.0.2.2: "
                                "Protocol not supported")
        with pytest.raises(KernelError) as e:
            await b.del_sa(sa.key)
        assert e.value.errno == errno.ESRCH or e.value.errno == errno.ENOENT
        with pytest.raises(KernelError) as e:
            await b.add_sa(api.SaSpec(A, B, api.Proto.ESP, 1, cipher=api.Cipher("x" * 70, b"")))
        assert "longer than 63 bytes" in str(e.value)

    in_netns(netns, body)


def test_einval_and_enoent_name_their_subject(netns: Netns) -> None:
    async def body(b: XfrmBackend) -> None:
        with pytest.raises(KernelError) as e:
            await b.alloc_spi(api.Proto.ESP, B, A, 1, lo=0x500, hi=0x400)
        assert e.value.errno == errno.EINVAL
        assert str(e.value) == "ALLOCSPI SA ESP 192.0.2.2 -> 192.0.2.1 reqid 1: Invalid argument"
        with pytest.raises(KernelError) as e:
            await b.get_sa(api.SaKey(A, B, api.Proto.ESP, 0xDEAD))
        assert e.value.errno in (errno.ESRCH, errno.ENOENT)
        assert "spi 0x0000dead" in str(e.value)

    in_netns(netns, body)


def test_policy_expire_event(netns: Netns) -> None:
    async def body(b: XfrmBackend) -> None:
        events = b.events()
        sp = api.PolicySpec(policy(3).selector, api.Direction.OUTBOUND, api.Owner.TESTS,
                            lifetime=api.Lifetime(hard_add_seconds=1))
        await b.add_policy(sp)
        ev = await asyncio.wait_for(events.__anext__(), 15)
        assert isinstance(ev, api.PolicyExpire) and ev.hard
        assert ev.key.selector == sp.selector and ev.key.direction is api.Direction.OUTBOUND
        assert await b.dump_policies(api.Owner.TESTS) == []

    in_netns(netns, body)


def test_migrate_moves_template_endpoints(netns: Netns) -> None:
    async def body(b: XfrmBackend) -> None:
        sp = policy(4)
        await b.add_policy(sp)
        move = api.MigrateEntry(api.Proto.ESP, api.Mode.TUNNEL, 5, ip("198.51.100.1"),
                                ip("203.0.113.1"), ip("198.51.100.7"), ip("203.0.113.1"))
        try:
            await b.migrate(api.Migration(sp.selector, sp.direction, (move,)))
        except KernelError as e:
            if e.errno == errno.ENOPROTOOPT:
                pytest.skip("this kernel is built without CONFIG_XFRM_MIGRATE")
            raise
        [info] = await b.dump_policies(api.Owner.TESTS)
        assert info.spec.templates[0].src == ip("198.51.100.7")

    in_netns(netns, body)
