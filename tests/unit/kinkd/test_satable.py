"""kinkd.sas.SaTable: rekeys, DELETE, EXPIRE and ACK lookups, the status rows."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from kinkd.sas import SaPair, SaTable
from racoon2.kernel import api

B = "kink/host-b.example.com@EXAMPLE.COM"
C = "kink/host-c.example.com@EXAMPLE.COM"
ip = ipaddress.ip_address


def test_a_new_pair_marks_the_older_one_of_its_policy_and_peer(
        make_pair: Callable[..., SaPair]) -> None:
    table = SaTable()
    old, other = make_pair(), make_pair(principal=C)
    table.add(old)
    table.add(other)
    new = make_pair(spi_in=0x300, spi_out=0x400)
    table.add(new)
    assert old.rekeyed and not other.rekeyed and not new.rekeyed
    assert list(table) == [old, other, new] and len(table) == 3
    assert table.of_peer(B) == [old, new]
    assert {p.principal: p for p in table.first_of_each_peer()} == {B: old, C: other}
    assert table.remove(old) and not table.remove(old) and old not in table


def test_a_delete_names_our_outbound_spis_of_that_peer_only(
        make_pair: Callable[..., SaPair]) -> None:
    table = SaTable()
    mine, theirs = make_pair(spi_out=0x200), make_pair(principal=C, spi_out=0x200)
    table.add(mine)
    table.add(theirs)
    assert table.deleted_by(B, [0x200, 0x999]) == [mine]
    assert table.deleted_by(B, [0x100]) == []  # our inbound SPI is not the peer's to name


def test_an_expire_finds_its_pair_by_spi_and_address(make_pair: Callable[..., SaPair]) -> None:
    table = SaTable()
    pair = make_pair()
    table.add(pair)
    assert table.expired(pair.inbound) is pair and table.expired(pair.outbound) is pair
    assert table.expired(api.SaKey(ip("192.0.2.2"), ip("203.0.113.1"), api.Proto.ESP,
                                   0x100)) is None
    assert table.expired(api.SaKey(ip("192.0.2.2"), ip("192.0.2.1"), api.Proto.ESP,
                                   0x101)) is None


def test_an_ack_completes_only_its_own_peers_pair_once(make_pair: Callable[..., SaPair]) -> None:
    table = SaTable()
    pair = make_pair(initiator=False)
    table.expect_ack(ip("192.0.2.2"), 77, pair)
    assert table.acked(ip("192.0.2.2"), 78, B) is None
    assert table.acked(ip("192.0.2.2"), 77, B) is pair
    assert table.acked(ip("192.0.2.2"), 77, B) is None
    table.expect_ack(ip("192.0.2.2"), 79, pair)
    assert table.acked(ip("192.0.2.2"), 79, C) is None  # and that one is used up


def test_status_rows(make_pair: Callable[..., SaPair]) -> None:
    table = SaTable()
    table.add(make_pair())
    assert table.rows() == [{"policy": "b_transport", "peer": B, "remote": "192.0.2.2",
                             "spi_in": 0x100, "spi_out": 0x200, "initiator": True,
                             "outbound": False}]


def test_kinkdctl_names_a_pair_by_spi_or_its_pairs_by_policy_remote_or_peer(
        make_pair: Callable[..., SaPair]) -> None:
    table = SaTable()
    one, two = make_pair(), make_pair(principal=C, spi_in=0x0a0b0c0d, spi_out=0x300)
    table.add(one)
    table.add(two)
    assert table.named("0a0b0c0d") == [two] and table.named("0x300") == [two]
    assert table.named("0x100") == [one]
    assert table.named(C) == [two]
    assert table.named(one.policy.policy) == [one, two] == table.named(one.policy.remote)
    assert table.named("192.0.2.2") == [one, two]
    assert table.named("0x999") == [] and table.named("nothing") == []


def test_kinkdctl_sa_show_names_one_pair_by_an_spi_only(make_pair: Callable[..., SaPair]) -> None:
    table = SaTable()
    one, two = make_pair(), make_pair(principal=C, spi_in=0x0a0b0c0d, spi_out=0x300)
    table.add(one)
    table.add(two)
    assert table.by_spi("0x0A0B0C0D") is two and table.by_spi("300") is two
    assert table.by_spi("0x100") is one and table.by_spi("0x00000200") is one
    assert table.by_spi("0x999") is None and table.by_spi(one.policy.policy) is None
    assert table.by_spi("192.0.2.2") is None and table.by_spi("") is None
