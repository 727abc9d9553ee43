"""IKE pseudo-random functions and prf+ (RFC 7296 §2.13).

HMAC PRFs (RFC 2104, RFC 4868 §2.1), AES128-XCBC-PRF with variable key length (RFC 4434) and
AES-CMAC-PRF-128 (RFC 4615).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from racoon2.crypto.transforms import Transform, TransformType, by_id
from racoon2.errors import CryptoError
from racoon2.frozen import frozen

_BLOCK = 16


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def aes_xcbc_mac(key: bytes, data: bytes) -> bytes:
    """AES-XCBC-MAC (RFC 3566 §4): full 128-bit tag with a 128-bit key."""
    if len(key) != _BLOCK:
        raise CryptoError(f"AES-XCBC-MAC needs a 16-byte key, got {len(key)} bytes")
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    k1, k2, k3 = (ecb.update(bytes([c]) * _BLOCK) for c in (1, 2, 3))
    if data and len(data) % _BLOCK == 0:
        body, last, tail_key = data[:-_BLOCK], data[-_BLOCK:], k2
    else:
        cut = len(data) - len(data) % _BLOCK
        body = data[:cut]
        last = data[cut:] + b"\x80" + bytes(_BLOCK - 1 - (len(data) - cut))
        tail_key = k3
    # XCBC is a CBC-MAC under K1 whose last block is first XORed with K2 or K3, so one CBC
    # encryption with a zero IV does all the blocks at once.
    cbc = Cipher(algorithms.AES(k1), modes.CBC(bytes(_BLOCK))).encryptor()
    return (cbc.update(body + _xor(last, tail_key)) + cbc.finalize())[-_BLOCK:]


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (RFC 4493 / NIST SP 800-38B): full 128-bit tag with a 128-bit key."""
    if len(key) != _BLOCK:
        raise CryptoError(f"AES-CMAC needs a 16-byte key, got {len(key)} bytes")
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def _xcbc_prf(key: bytes, data: bytes) -> bytes:
    # RFC 4434 §2: short keys are zero-padded, long keys are first MACed under a zero key.
    if len(key) < _BLOCK:
        key = key + bytes(_BLOCK - len(key))
    elif len(key) > _BLOCK:
        key = aes_xcbc_mac(bytes(_BLOCK), key)
    return aes_xcbc_mac(key, data)


def _cmac_prf(key: bytes, data: bytes) -> bytes:
    # RFC 4615 §3: any key that is not exactly 128 bits is first CMACed under a zero key.
    if len(key) != _BLOCK:
        key = aes_cmac(bytes(_BLOCK), key)
    return aes_cmac(key, data)


def _hmac(name: str) -> Callable[[bytes, bytes], bytes]:
    def compute(key: bytes, data: bytes) -> bytes:
        # One-shot: OpenSSL's HMAC in one call, no hmac.HMAC object per PRF block.
        return hmac.digest(key, data, name)

    return compute


_FUNCS: dict[int, Callable[[bytes, bytes], bytes]] = {
    1: _hmac("md5"),
    2: _hmac("sha1"),
    4: _xcbc_prf,
    5: _hmac("sha256"),
    6: _hmac("sha384"),
    7: _hmac("sha512"),
    8: _cmac_prf,
}


@frozen
class Prf:
    """A negotiated PRF: ``compute(key, data)`` and the sizes key derivation needs."""

    transform: Transform
    func: Callable[[bytes, bytes], bytes]

    @property
    def key_size(self) -> int:
        """Preferred key size (RFC 7296: SK_d, SK_pi, SK_pr are this long)."""
        return self.transform.key_size

    @property
    def output_size(self) -> int:
        """Bytes one PRF call yields."""
        return self.transform.output_size

    def compute(self, key: bytes, data: bytes) -> bytes:
        """prf(key, data)."""
        return self.func(key, data)

    def plus(self, key: bytes, seed: bytes, length: int) -> bytes:
        """prf+ (RFC 7296 §2.13): T1 | T2 | ... truncated to ``length`` bytes."""
        if length > 255 * self.output_size:
            raise CryptoError(f"prf+ cannot produce {length} bytes with {self.transform.name}")
        out = b""
        t = b""
        counter = 1
        while len(out) < length:
            t = self.func(key, t + seed + bytes([counter]))
            out += t
            counter += 1
        return out[:length]


def prf_for(ident: int) -> Prf:
    """The PRF for an IKEv2 PRF transform id."""
    return Prf(by_id(TransformType.PRF, ident), _FUNCS[ident])


def prf_for_hash(hash_name: str) -> Prf:
    """IKEv1's PRF when none is negotiated: HMAC of the Phase 1 hash (RFC 2409 §5)."""
    ids = {"md5": 1, "sha1": 2, "sha2_256": 5, "sha2_384": 6, "sha2_512": 7}
    if hash_name not in ids:
        raise CryptoError(f"unsupported IKEv1 hash {hash_name!r}",
                          hint="use md5, sha1, sha2_256, sha2_384 or sha2_512")
    return prf_for(ids[hash_name])
