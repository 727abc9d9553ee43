"""MD4 (RFC 1320), which MS-CHAPv2's NT password hash needs (RFC 2759 §8.3).  OpenSSL 3 keeps
MD4 in its legacy provider, which Python's hashlib does not load, and ``cryptography`` has no
MD4: this small implementation, checked against RFC 1320 §A.5's test suite, stands in.  MD4 is
broken as a general hash; here it only recomputes what the protocol fixes."""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def _f(x: int, y: int, z: int) -> int:
    return (x & y) | (~x & z)


def _g(x: int, y: int, z: int) -> int:
    return (x & y) | (x & z) | (y & z)


def _h(x: int, y: int, z: int) -> int:
    return x ^ y ^ z


# RFC 1320 §3.4: the word order and shifts of rounds 1-3, and each round's constant.
_ROUNDS = (
    (_f, 0, tuple(range(16)), (3, 7, 11, 19)),
    (_g, 0x5A827999, (0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), (3, 5, 9, 13)),
    (_h, 0x6ED9EBA1, (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15), (3, 9, 11, 15)),
)


def md4(data: bytes) -> bytes:
    """The 16-octet MD4 digest of ``data``."""
    # §3.1-3.2: pad with 0x80, zeros to 56 mod 64, then the bit length, little-endian.
    message = data + b"\x80" + bytes((55 - len(data)) % 64) + struct.pack(
        "<Q", (len(data) * 8) & 0xFFFFFFFFFFFFFFFF)
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    for block in range(0, len(message), 64):
        x = struct.unpack_from("<16I", message, block)
        a, b, c, d = state
        for func, const, order, shifts in _ROUNDS:
            for i, k in enumerate(order):
                a = _rotl((a + func(b, c, d) + x[k] + const) & _MASK, shifts[i % 4])
                a, b, c, d = d, a, b, c
        state = [(s + v) & _MASK for s, v in zip(state, (a, b, c, d), strict=True)]
    return struct.pack("<4I", *state)
