"""Random byte sources: the system CSPRNG for daemons, a seeded one for reproducible tests."""

from __future__ import annotations

import hashlib
import os
from typing import Protocol


class Rng(Protocol):
    """Anything that hands out random bytes (nonces, SPIs, IVs, private keys)."""

    def random_bytes(self, n: int) -> bytes:
        """Return ``n`` random bytes."""
        ...


class SystemRng:
    """The operating system's CSPRNG: ``os.urandom`` itself (``secrets.token_bytes`` adds
    two Python frames to each of the few draws an IKE SA makes)."""

    def random_bytes(self, n: int) -> bytes:
        """Return ``n`` bytes from the kernel's CSPRNG."""
        return os.urandom(n)


class DeterministicRng:
    """SHA-256 in counter mode over a seed: the same seed gives the same stream (tests only)."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self._buffer = b""

    def random_bytes(self, n: int) -> bytes:
        """Return the next ``n`` bytes of the stream."""
        while len(self._buffer) < n:
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._buffer += block
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out
