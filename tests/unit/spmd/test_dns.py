"""spmd's DNS proxy core: id tracking, bounds, timeouts, drops, and answer snooping."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from dnswire import AAAA, CNAME, A, answer, query

from racoon2.errors import ParseError
from spmd.dns import Malformed, Proxy, Resolver, answer_addresses, configure, nsswitch_has_dns
from spmd.fqdn import FqdnCache

ip = ipaddress.ip_address
NS1, NS2 = ip("192.0.2.53"), ip("198.51.100.53")
CLIENT = ("127.0.0.1", 40000)


def proxy(**kw: float) -> tuple[Proxy, Resolver]:
    res = Resolver(enabled=True, servers=[NS1, NS2], ports={NS1: 53, NS2: 5353})
    return Proxy(res, **kw), res  # type: ignore[arg-type]


def ids(start: int = 0x1000) -> itertools.count[int]:
    return itertools.count(start)


def test_query_goes_to_the_current_server_with_a_fresh_id_and_the_answer_comes_back() -> None:
    p, res = proxy()
    out = p.query(query(0x4242, "peer.example.net"), CLIENT, 0, 0.0, ids().__next__)
    assert out is not None and out.server == (NS1, 53)
    assert out.data[:2] == b"\x10\x00" and out.data[2:] == query(0x4242, "peer.example.net")[2:]
    p.sent()
    reply = answer(0x1000, "peer.example.net", [("peer.example.net", A, "203.0.113.5")])
    found = p.response(reply, (NS1, 53))
    assert found is not None
    relay, packet = found
    assert relay.client == CLIENT and relay.listener == 0
    assert relay.data == answer(0x4242, "peer.example.net",
                                [("peer.example.net", A, "203.0.113.5")])
    p.relayed()
    assert res.counters == [1, 1, 1, 1, 0, 0] and res.dropped == 0 and p.pending == 0


@pytest.mark.parametrize("packet", [b"", b"\x00" * 11, answer(1, "x.example", [])])
def test_short_packets_and_answers_posing_as_queries_are_dropped(packet: bytes) -> None:
    p, res = proxy()
    assert p.query(packet, CLIENT, 0, 0.0, ids().__next__) is None
    assert res.dropped == 1 and res.counters[0] == 0


def test_answers_from_elsewhere_with_unknown_ids_or_as_queries_are_dropped() -> None:
    p, res = proxy()
    assert p.query(query(7, "a.example"), CLIENT, 0, 0.0, ids().__next__) is not None
    good = answer(0x1000, "a.example", [])
    assert p.response(good, (NS2, 5353)) is None  # not the server the query went to
    assert p.response(good, (NS1, 5353)) is None  # right address, wrong port
    assert p.response(answer(0x1001, "a.example", []), (NS1, 53)) is None
    assert p.response(query(0x1000, "a.example"), (NS1, 53)) is None
    assert p.response(b"\x10", (NS1, 53)) is None
    assert res.dropped == 5 and p.pending == 1
    assert p.response(good, (NS1, 53)) is not None
    assert p.response(good, (NS1, 53)) is None  # answered once only


def test_retransmission_reuses_its_upstream_id_and_counts_as_dup() -> None:
    p, res = proxy()
    first = p.query(query(9, "a.example"), CLIENT, 0, 0.0, ids().__next__)
    again = p.query(query(9, "a.example"), CLIENT, 0, 1.0, ids(0x2000).__next__)
    other = p.query(query(9, "a.example"), ("127.0.0.1", 40001), 0, 1.0, ids(0x1000).__next__)
    assert first is not None and again is not None and other is not None
    assert first.data == again.data and other.data[:2] == b"\x10\x01"  # id collision avoided
    assert res.counters[5] == 1 and p.pending == 2


def test_the_table_is_bounded_and_queries_expire() -> None:
    p, res = proxy(timeout=5.0, max_pending=2)
    new = ids().__next__
    for n in range(3):
        p.query(query(n, "a.example"), CLIENT, 0, 0.0, new)
    assert p.pending == 2 and res.dropped == 1
    assert p.expire(4.0) == 0 and p.expire(5.5) == 2
    assert res.counters[4] == 2 and p.pending == 0
    assert p.response(answer(0x1000, "a.example", []), (NS1, 53)) is None  # too late


def test_no_server_drops_and_rotate_moves_to_the_next() -> None:
    p, res = proxy()
    res.rotate()
    assert res.current() == (NS2, 5353)
    res.servers.clear()
    assert p.query(query(1, "a.example"), CLIENT, 0, 0.0, ids().__next__) is None


def test_answer_addresses_follow_cnames_and_compression() -> None:
    packet = answer(1, "www.example.net", [
        ("www.example.net", CNAME, "host.example.net"),
        ("host.example.net", A, "203.0.113.7"),
        ("host.example.net", AAAA, "2001:db8::7"),
    ])
    assert answer_addresses(packet) == {
        "host.example.net.": [ip("203.0.113.7"), ip("2001:db8::7")],
        "www.example.net.": [ip("203.0.113.7"), ip("2001:db8::7")],
    }


@pytest.mark.parametrize("cut", [13, 30, 40, -2])
def test_truncated_answers_are_malformed(cut: int) -> None:
    packet = answer(1, "www.example.net", [("www.example.net", A, "203.0.113.7")])
    with pytest.raises(Malformed):
        answer_addresses(packet[:cut])


def test_a_compression_loop_is_malformed() -> None:
    loop = b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"
    with pytest.raises(Malformed) as e:
        answer_addresses(loop)
    # One of the project's ParseErrors: the structure and the offset where it broke.
    assert isinstance(e.value, ParseError) and not isinstance(e.value, ValueError)
    assert str(e.value) == "DNS message at byte 12: bad compression pointer"


def test_fqdn_cache_learns_only_registered_names_and_accumulates() -> None:
    cache = FqdnCache()
    cache.register("peer.example.net")
    assert cache.learn({"other.example.": [ip("192.0.2.9")]}) == []
    assert cache.learn({"peer.example.net.": [ip("203.0.113.5")]}) == ["peer.example.net."]
    assert cache.learn({"peer.example.net.": [ip("203.0.113.5")]}) == []
    cache.learn({"PEER.example.net.": [ip("203.0.113.6")]})
    assert cache.resolve("peer.example.net") == (ip("203.0.113.5"), ip("203.0.113.6"))
    assert cache.names_of(ip("203.0.113.6")) == ["peer.example.net."]


def test_nsswitch_and_configure() -> None:
    from racoon2.config import loads
    assert nsswitch_has_dns("passwd: files\nhosts: files dns # x\n")
    assert not nsswitch_has_dns("hosts: files mdns4_minimal\n")
    assert nsswitch_has_dns(None) and nsswitch_has_dns("passwd: files\n")
    cfg = loads("resolver { resolver on; nameserver { 192.0.2.53; 198.51.100.53 port 5353; "
                "ns.example; }; dns_query 127.0.0.1 port 5300; };")
    res = Resolver()
    configure(res, cfg.resolver, True)
    assert res.enabled and res.current() == (NS1, 53)
    assert res.servers == [NS1, NS2] and res.ports[NS2] == 5353
    configure(res, cfg.resolver, False)
    assert not res.enabled
    configure(res, None, True)
    assert not res.enabled and res.servers == []
