"""IKEv2 cookies (RFC 7296 §2.6)."""

from __future__ import annotations

import ipaddress
import itertools

from iked.ikev2.cookies import Cookies, cookie_needed, shared_secrets

A = ipaddress.ip_address("192.0.2.1")
B = ipaddress.ip_address("2001:db8::2")


def counter_random() -> Cookies:
    n = itertools.count()
    return Cookies(lambda k: bytes([next(n)]) * k, now=0.0, lifetime=300.0)


def test_cookie_round_trip_and_binding() -> None:
    c = counter_random()
    cookie = c.make(b"ni", A, b"spi-i-01", 1.0)
    assert len(cookie) == 33 and c.check(cookie, b"ni", A, b"spi-i-01", 2.0)
    assert not c.check(cookie, b"nj", A, b"spi-i-01", 2.0)
    assert not c.check(cookie, b"ni", B, b"spi-i-01", 2.0)
    assert not c.check(cookie, b"ni", A, b"spi-i-02", 2.0)
    assert not c.check(b"", b"ni", A, b"spi-i-01", 2.0)
    assert not c.check(cookie[:-1] + bytes([cookie[-1] ^ 1]), b"ni", A, b"spi-i-01", 2.0)


def test_previous_secret_accepted_older_refused() -> None:
    c = counter_random()
    old = c.make(b"ni", A, b"spi", 0.0)
    assert c.check(old, b"ni", A, b"spi", 301.0)  # one rotation: still good
    newer = c.make(b"ni", A, b"spi", 302.0)
    assert newer[0] == (old[0] + 1) & 0xFF
    assert not c.check(old, b"ni", A, b"spi", 700.0)  # two rotations: refused


def test_when_cookies_are_needed() -> None:
    assert cookie_needed(True, 0)
    assert not cookie_needed(False, 19)
    assert cookie_needed(False, 20)


def test_workers_sharing_a_seed_accept_each_others_cookies() -> None:
    # iked -j: the coordinator's seed and start time, the same secrets in every worker, even
    # across a change of secret (RFC 7296 §2.6: the previous one is still accepted).
    seed, ip = b"s" * 32, A
    a, b = Cookies(shared_secrets(seed), 100.0), Cookies(shared_secrets(seed), 100.0)
    other = Cookies(shared_secrets(b"t" * 32), 100.0)
    for now in (100.0, 350.0, 401.0, 1000.0):
        cookie = a.make(b"ni", ip, b"spi_i", now)
        assert b.check(cookie, b"ni", ip, b"spi_i", now)
        assert not other.check(cookie, b"ni", ip, b"spi_i", now)
    assert b.check(a.make(b"ni", ip, b"spi_i", 1000.0), b"ni", ip, b"spi_i", 1001.0)
