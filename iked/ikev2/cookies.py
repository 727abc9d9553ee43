"""Stateless cookies against IKE_SA_INIT floods (RFC 7296 §2.6), pure.

``Cookie = VersionIDofSecret | SHA-256(Ni | IPi | SPIi | secret)``.  The secret changes every
``lifetime`` seconds; a cookie made with the previous secret is still accepted, so a client that
was told to retry just before a change is not refused.  The responder asks for cookies when
``cookie_required`` is on or when too many IKE SAs are half-open (the original's threshold, 20).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from racoon2.net import Address

HALF_OPEN_LIMIT = 20
SECRET_LIFETIME = 300.0
SECRET_LEN = 32


class Cookies:
    """Makes and checks cookies; ``random(n)`` gives n secret bytes, times are in seconds."""

    def __init__(self, random: Callable[[int], bytes], now: float,
                 lifetime: float = SECRET_LIFETIME) -> None:
        self._random = random
        self._lifetime = lifetime
        self._version = 0
        self._secret = random(SECRET_LEN)
        self._previous: bytes | None = None
        self._changed = now

    def _rotate(self, now: float) -> None:
        if now - self._changed >= self._lifetime:
            self._previous = self._secret
            self._secret = self._random(SECRET_LEN)
            self._version = (self._version + 1) & 0xFF
            self._changed = now

    @staticmethod
    def _digest(version: int, secret: bytes, ni: bytes, ip: Address, spi_i: bytes) -> bytes:
        return bytes([version]) + hashlib.sha256(ni + ip.packed + spi_i + secret).digest()

    def make(self, ni: bytes, ip: Address, spi_i: bytes, now: float) -> bytes:
        """The cookie to send in a COOKIE notify to the initiator at ``ip``."""
        self._rotate(now)
        return self._digest(self._version, self._secret, ni, ip, spi_i)

    def check(self, cookie: bytes, ni: bytes, ip: Address, spi_i: bytes, now: float) -> bool:
        """True when ``cookie`` is one this responder made (current or previous secret)."""
        self._rotate(now)
        if not cookie:
            return False
        if cookie[0] == self._version:
            want = self._digest(self._version, self._secret, ni, ip, spi_i)
        elif self._previous is not None and cookie[0] == (self._version - 1) & 0xFF:
            want = self._digest(cookie[0], self._previous, ni, ip, spi_i)
        else:
            return False
        return hmac.compare_digest(cookie, want)


def shared_secrets(seed: bytes) -> Callable[[int], bytes]:
    """A source of secrets that yields the same sequence in every process given ``seed``:
    the k-th secret is HMAC-SHA-256(seed, k), cut to the length asked for."""
    count = 0

    def secret(n: int) -> bytes:
        nonlocal count
        count += 1
        return hmac.digest(seed, count.to_bytes(8, "big"), "sha256")[:n]
    return secret


def cookie_needed(cookie_required: bool, half_open: int) -> bool:
    """Whether an IKE_SA_INIT without a valid cookie gets a COOKIE notify instead of an SA."""
    return cookie_required or half_open >= HALF_OPEN_LIMIT
