"""This host's addresses: the macro filter (racoon2.net), the netlink decoding and the watch
(racoon2.addrwatch), and the endpoints iked and kinkd bind (racoon2.udp)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from racoon2 import udp
from racoon2.addrwatch import (
    IFA_ADDRESS,
    IFA_F_TENTATIVE,
    IFA_FLAGS,
    IFA_LOCAL,
    IFADDRMSG,
    RTM_DELADDR,
    RTM_NEWADDR,
    AddressWatch,
    decode,
)
from racoon2.config.model import AddrKind, AddrSpec
from racoon2.kernel.xfrm.messages import Message, attr
from racoon2.net import Endpoint, HostAddress, HostAddresses

ip = ipaddress.ip_address
LO = HostAddress(ip("127.0.0.1"), 1, "lo")
LO6 = HostAddress(ip("::1"), 1, "lo")
V4 = HostAddress(ip("192.0.2.1"), 2, "eth0")
V6 = HostAddress(ip("2001:db8::1"), 2, "eth0")
LL = HostAddress(ip("fe80::1"), 2, "eth0")
LL1 = HostAddress(ip("fe80::1"), 3, "eth1")
SITE = HostAddress(ip("fec0::1"), 3, "eth1")
HOSTS = HostAddresses(frozenset({LO, LO6, V4, V6, LL, LL1, SITE}))


@pytest.mark.parametrize(("macro", "ifname", "expected"), [
    ("MY_IP", None, [LO, LO6, V4, V6, LL, LL1, SITE]),
    ("MY_HOA", None, [LO, LO6, V4, V6, LL, LL1, SITE]),
    ("MY_IPV4", None, [LO, V4]),
    ("MY_IPV6", None, [LO6, V6, LL, LL1, SITE]),
    ("MY_IPV6_GLOBAL", None, [V6]),
    ("MY_IPV6_LINKLOCAL", None, [LL, LL1]),
    ("MY_IP", "eth0", [V4, V6, LL]),
    ("MY_IPV4", "eth1", []),
    ("MY_IPV6_LINKLOCAL", "eth1", [LL1]),
    ("MY_IP", "nonesuch", []),
])
def test_macros_select_addresses(macro: str, ifname: str | None,
                                 expected: list[HostAddress]) -> None:
    assert HOSTS.matching(macro, ifname) == expected


def test_expand_drops_zones_and_duplicates() -> None:
    # Kernel selectors carry no zone: the same link-local address on two links is one prefix.
    assert HOSTS.expand("MY_IPV6_LINKLOCAL") == [ip("fe80::1")]


def test_link_local_addresses_bind_with_their_zone() -> None:
    assert str(LL.scoped) == "fe80::1%eth0"
    assert V6.scoped == V6.addr and V4.scoped == V4.addr
    ep = Endpoint(LL.scoped, 500)
    assert str(ep) == "fe80::1%eth0[500]"
    assert ep.unscoped == Endpoint(ip("fe80::1"), 500) and ep.unscoped != ep


def test_changes() -> None:
    old = HostAddresses(frozenset({V4, V6}))
    assert old.changes(HostAddresses(frozenset({V4, LL}))) == ([LL], [V6])


def spec(text: str, port: int = 0, ifname: str | None = None) -> AddrSpec:
    address = None if text.startswith("MY_") else ip(text)
    kind = AddrKind.MACRO if address is None else AddrKind.INET
    return AddrSpec(kind, text, "test:1", address=address, port=port or None, ifname=ifname)


def test_endpoints_of_an_interface_line() -> None:
    specs = [spec("MY_IP", 500, "eth0"), spec("MY_IP", 4500, "eth0"), spec("198.51.100.1")]
    eps = udp.endpoints(specs, 500, HOSTS)
    assert [str(e) for e in eps] == [
        "192.0.2.1[500]", "2001:db8::1[500]", "fe80::1%eth0[500]", "192.0.2.1[4500]",
        "2001:db8::1[4500]", "fe80::1%eth0[4500]", "198.51.100.1[500]"]
    assert [str(e) for e in udp.endpoints(specs[:1], 500, HOSTS, family=4)] == ["192.0.2.1[500]"]


def test_the_scope_id_goes_into_the_socket_address() -> None:
    lo = socket.if_nametoindex("lo")
    assert udp.sockaddr(Endpoint(ip("fe80::1%lo"), 500)) == ("fe80::1", 500, 0, lo)
    assert udp.sockaddr(Endpoint(ip(f"fe80::1%{lo}"), 500)) == ("fe80::1", 500, 0, lo)
    assert udp.sockaddr(Endpoint(ip("2001:db8::1"), 500)) == ("2001:db8::1", 500)


def ifaddr(kind: int, family: int, addr: str, *, local: str | None = None, flags: int = 0,
           index: int = 1) -> Message:
    body = IFADDRMSG.pack(family, 64, flags & 0xFF, 0, index) + attr(IFA_ADDRESS, ip(addr).packed)
    if local:
        body += attr(IFA_LOCAL, ip(local).packed)
    body += attr(IFA_FLAGS, flags.to_bytes(4, "little"))
    return Message(kind, 0, 0, body)


def test_decode_newaddr_deladdr_and_dad() -> None:
    lo = socket.if_indextoname(1)
    assert decode(ifaddr(RTM_NEWADDR, socket.AF_INET6, "2001:db8::1")) == (
        True, HostAddress(ip("2001:db8::1"), 1, lo))
    assert decode(ifaddr(RTM_DELADDR, socket.AF_INET6, "2001:db8::1")) == (
        False, HostAddress(ip("2001:db8::1"), 1, lo))
    # Tentative (RFC 4862 section 5.4): not bindable yet, as good as absent.
    assert decode(ifaddr(RTM_NEWADDR, socket.AF_INET6, "2001:db8::1",
                         flags=IFA_F_TENTATIVE))[0] is False  # type: ignore[index]
    # Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
    assert decode(ifaddr(RTM_NEWADDR, socket.AF_INET, "192.0.2.2", local="192.0.2.1")) == (
        True, HostAddress(ip("192.0.2.1"), 1, lo))
    assert decode(Message(RTM_NEWADDR, 0, 0, b"\x00")) is None


def test_the_watch_works_inside_a_running_loop() -> None:
    """What killed iked and kinkd at start (pyroute2 0.9's IPRoute in a running loop)."""
    async def main() -> HostAddresses:
        watch = await AddressWatch.open()
        watch.close()
        return watch.current

    hosts = asyncio.run(main())
    assert ip("127.0.0.1") in hosts.expand("MY_IPV4", "lo")
