"""Integrity transforms: truncated HMACs (RFC 2404, RFC 4868), AES-XCBC-96 (RFC 3566),
AES-CMAC-96 (RFC 4494)."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from racoon2.crypto.prf import aes_cmac, aes_xcbc_mac
from racoon2.crypto.transforms import Transform, TransformType, by_id
from racoon2.errors import CryptoError
from racoon2.frozen import frozen


def _hmac(name: str) -> Callable[[bytes, bytes], bytes]:
    def compute(key: bytes, data: bytes) -> bytes:
        # One-shot: OpenSSL's HMAC in one call, no hmac.HMAC object per PRF block.
        return hmac.digest(key, data, name)

    return compute


_FUNCS: dict[int, Callable[[bytes, bytes], bytes]] = {
    1: _hmac("md5"),
    2: _hmac("sha1"),
    5: aes_xcbc_mac,
    8: aes_cmac,
    12: _hmac("sha256"),
    13: _hmac("sha384"),
    14: _hmac("sha512"),
}


@frozen
class Integ:
    """A negotiated integrity algorithm producing a truncated ICV."""

    transform: Transform
    func: Callable[[bytes, bytes], bytes]

    @property
    def key_size(self) -> int:
        """Key bytes (SK_ai/SK_ar, or the ESP/AH authentication key)."""
        return self.transform.key_size

    @property
    def icv_size(self) -> int:
        """Bytes of the truncated checksum."""
        return self.transform.icv_size

    def compute(self, key: bytes, data: bytes) -> bytes:
        """The truncated ICV over ``data``."""
        if len(key) != self.key_size:
            raise CryptoError(f"{self.transform.name} needs a {self.key_size}-byte key, "
                              f"got {len(key)} bytes")
        return self.func(key, data)[: self.icv_size]

    def verify(self, key: bytes, data: bytes, icv: bytes) -> None:
        """Raise :class:`CryptoError` unless ``icv`` is the checksum of ``data``."""
        if not hmac.compare_digest(self.compute(key, data), icv):
            raise CryptoError(f"{self.transform.name} integrity check failed",
                              hint="the peer's keys differ from ours or the packet was altered")


def integ_for(ident: int) -> Integ:
    """The integrity algorithm for an IKEv2 INTEG transform id."""
    return Integ(by_id(TransformType.INTEG, ident), _FUNCS[ident])
