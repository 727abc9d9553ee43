"""The lease table (iked/leases.py): lowest free first, the same address for a client that
comes back while its lease lives, the longest-waiting offline lease taken when full."""

from __future__ import annotations

import ipaddress

from iked.leases import Pool, Pools

ip = ipaddress.ip_address
ALICE, BOB, CAROL = (2, b"alice.example"), (2, b"bob.example"), (2, b"carol.example")


def pool() -> Pool:
    return Pool([(ip("198.51.100.10"), ip("198.51.100.11")),
                 (ip("2001:db8:1::10"), ip("2001:db8:1::10"))])


def test_each_family_lowest_free_first() -> None:
    p = pool()
    assert p.versions == {4, 6}
    assert p.lease(4, ALICE, 0) == ip("198.51.100.10")
    assert p.lease(6, ALICE, 0) == ip("2001:db8:1::10")
    assert p.lease(4, BOB, 0) == ip("198.51.100.11")
    assert p.lease(4, CAROL, 0) is None and p.lease(6, BOB, 0) is None


def test_reconnect_gets_the_same_address_while_the_lease_lives() -> None:
    p = pool()
    first = p.lease(4, BOB, 0)
    p.lease(4, ALICE, 0)
    p.release(ip("198.51.100.10"), 10, keep=100)  # Bob's IKE SA ends at t=10
    assert p.holds(ip("198.51.100.10"))
    # Bob is back before 110: his address; a second SA of his meanwhile gets none of it.
    assert p.lease(4, BOB, 50) == first
    p.release(first, 60, keep=100)
    assert p.lease(4, BOB, 161) == first  # lapsed, but still the lowest free one
    p.release(first, 170, keep=100)
    # Carol finds every address held: she takes the offline one, Bob then has none.
    assert p.lease(4, CAROL, 171) == first
    assert p.lease(4, BOB, 172) is None


def test_without_owner_or_keep_the_address_is_free_at_once() -> None:
    p = pool()
    a = p.lease(4, None, 0)
    assert a is not None
    p.release(a, 1, keep=100)
    assert not p.holds(a)
    b = p.lease(4, ALICE, 0)
    assert b is not None
    p.release(b, 1, keep=0)
    assert not p.holds(b)


def test_oldest_offline_lease_is_reclaimed_first() -> None:
    p = Pool([(ip("198.51.100.10"), ip("198.51.100.11"))])
    a, b = p.lease(4, ALICE, 0), p.lease(4, BOB, 0)
    assert a is not None and b is not None
    p.release(b, 5, keep=100)
    p.release(a, 9, keep=100)
    assert p.lease(4, CAROL, 10) == b
    assert p.table(10) == [(a, ALICE, False, 99.0), (b, CAROL, True, 0.0)]


def test_a_reload_keeps_online_leases_and_drops_offline_ones_outside() -> None:
    p = Pool([(ip("198.51.100.10"), ip("198.51.100.12"))])
    a, b = p.lease(4, ALICE, 0), p.lease(4, BOB, 0)
    assert a is not None and b is not None
    p.release(b, 1, keep=100)
    new = p.resized([(ip("198.51.100.12"), ip("198.51.100.12"))])
    assert new.holds(a) and not new.holds(b)  # Alice's SA is up: kept though outside
    assert new.lease(4, CAROL, 2) == ip("198.51.100.12")


def test_named_pools_first_with_a_free_address_wins() -> None:
    ranges = {"rw4": [(ip("198.51.100.10"), ip("198.51.100.10"))],
              "rw6": [(ip("2001:db8:1::10"), ip("2001:db8:1::10"))],
              "more4": [(ip("203.0.113.10"), ip("203.0.113.10"))]}
    pools = Pools(ranges.get)
    names = ("rw4", "rw6", "more4", "missing")
    assert pools.versions(names) == {4, 6}
    assert pools.lease(names, 4, ALICE, 0) == ("rw4", ip("198.51.100.10"))
    assert pools.lease(names, 4, BOB, 0) == ("more4", ip("203.0.113.10"))
    assert pools.lease(names, 6, BOB, 0) == ("rw6", ip("2001:db8:1::10"))
    assert pools.lease(names, 4, CAROL, 0) is None
    pools.release("rw4", ip("198.51.100.10"), 1, keep=10)
    # A reload drops the pool "more4" (Bob's SA goes with its remote); rw4 keeps Alice's.
    del ranges["more4"]
    pools.reconfigure(ranges.get)
    assert set(pools.tables(2)) == {"rw4", "rw6"}
    assert pools.lease(names, 4, ALICE, 3) == ("rw4", ip("198.51.100.10"))
    pools.claim("rw6", ip("2001:db8:1::11"), CAROL)  # restored from a saved state
    assert [row[:3] for row in pools.tables(3)["rw6"]] == [
        (ip("2001:db8:1::10"), BOB, True), (ip("2001:db8:1::11"), CAROL, True)]
