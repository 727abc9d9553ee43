"""Traffic selector narrowing (RFC 7296 §2.9)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iked.ikev2.ts import Ts, exact, from_prefix, intersect, narrow

ip = ipaddress.ip_address
net = ipaddress.ip_network


def test_narrowing_to_the_policy() -> None:
    offered = [from_prefix(net("192.0.2.0/24"))]
    policy = [from_prefix(net("192.0.2.0/25"), 6, 80)]
    assert narrow(offered, policy) == [Ts(ip("192.0.2.0"), ip("192.0.2.127"), 6, 80, 80)]


def test_first_selector_is_the_packet_and_duplicates_collapse() -> None:
    packet = Ts(ip("192.0.2.7"), ip("192.0.2.7"), 17, 500, 500)
    offered = [packet, from_prefix(net("192.0.2.0/24"))]
    got = narrow(offered, [from_prefix(net("192.0.2.0/24"))])
    assert got == [packet, from_prefix(net("192.0.2.0/24"))]
    assert narrow([from_prefix(net("192.0.2.0/24")), packet],
                  [from_prefix(net("192.0.2.0/24"))]) == [from_prefix(net("192.0.2.0/24"))]


def test_unacceptable_and_families() -> None:
    assert narrow([from_prefix(net("198.51.100.0/24"))], [from_prefix(net("192.0.2.0/24"))]) == []
    assert intersect(from_prefix(net("::/0")), from_prefix(net("0.0.0.0/0"))) is None
    assert intersect(from_prefix(net("0.0.0.0/0"), 6), from_prefix(net("0.0.0.0/0"), 17)) is None


def test_ipv6_and_prefix_cover() -> None:
    ts = intersect(from_prefix(net("2001:db8::/32")), from_prefix(net("2001:db8:1::/48"), 58))
    assert ts is not None and ts.prefixes() == [net("2001:db8:1::/48")] and ts.proto == 58
    odd = Ts(ip("192.0.2.1"), ip("192.0.2.6"))
    assert odd.prefixes() == [net("192.0.2.1/32"), net("192.0.2.2/31"), net("192.0.2.4/31"),
                              net("192.0.2.6/32")]


def test_icmp_type_code_in_ports() -> None:
    echo = from_prefix(net("192.0.2.0/24"), 1, icmp=(8, 0))
    assert (echo.start_port, echo.end_port) == (0x0800, 0x0800)
    any_code = from_prefix(net("192.0.2.0/24"), 1, icmp=(3, None))
    assert (any_code.start_port, any_code.end_port) == (0x0300, 0x03FF)


def test_exact_and_invalid() -> None:
    a = [from_prefix(net("192.0.2.0/24"))]
    assert exact(a, a) and not exact(a, [from_prefix(net("192.0.2.0/25"))])
    # IP_RW: both families in one selector list; the order of the lists does not count
    rw = [from_prefix(net("::/0"), 17), from_prefix(net("0.0.0.0/0"), 17)]
    assert exact(rw, rw[::-1]) and not exact(a, rw)
    with pytest.raises(ValueError, match="mixes IPv4 and IPv6"):
        Ts(ip("192.0.2.1"), ip("2001:db8::1"))


addrs = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


@st.composite
def selectors(draw: st.DrawFn) -> Ts:
    a, b = sorted([draw(addrs), draw(addrs)])
    p, q = sorted([draw(st.integers(0, 65535)), draw(st.integers(0, 65535))])
    return Ts(a, b, draw(st.sampled_from([0, 6, 17])), p, q)


@given(selectors(), selectors())
def test_intersection_is_contained_in_both(a: Ts, b: Ts) -> None:
    cut = intersect(a, b)
    if cut is not None:
        assert a.contains(cut) and b.contains(cut)
    assert intersect(a, b) == intersect(b, a)
