"""Key exchange methods for IKE: MODP (RFC 2409/3526), ECP (RFC 5903), Curve25519/448
(RFC 8031) and ML-KEM (RFC 9370 with draft-ietf-ipsecme-ikev2-mlkem).

``start()`` gives the initiator's side (its KE payload data from ``public_bytes()``, then
``shared_secret(peer_data)``); ``respond()`` gives the responder's KE data and the shared
secret in one step, which is what a KEM needs: the initiator sends the encapsulation key and
the responder answers with the ciphertext.  Shared secrets come out in the encoding IKE's key
derivation uses: MODP left-padded to the prime's length, ECP the x coordinate only.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Protocol, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dh as crypto_dh
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x448, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.utils import CryptographyDeprecationWarning

from racoon2.crypto.rng import Rng
from racoon2.crypto.transforms import Transform, TransformType, by_id
from racoon2.errors import CryptoError

# RFC 2409 §6 / RFC 3526: p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) * pi) + k).
_MODP_SHAPE: dict[int, tuple[int, int]] = {
    1: (768, 149686),
    2: (1024, 129093),
    5: (1536, 741804),
    14: (2048, 124476),
    15: (3072, 1690314),
    16: (4096, 240904),
    17: (6144, 929484),
    18: (8192, 4743158),
}

_ECP: dict[int, ec.EllipticCurve] = {19: ec.SECP256R1(), 20: ec.SECP384R1(), 21: ec.SECP521R1()}
# Private exponents this long are well past twice every group's estimated strength (RFC 3526
# §8 puts MODP-8192 at 200-350 bits), and much cheaper than full-length ones.
_EXPONENT_BITS = 800


def _pi_scaled(bits: int) -> int:
    """floor(pi * 2^bits), by Machin's formula in fixed point with guard bits."""
    guard = 64
    one = 1 << (bits + guard)

    def arctan_inv(x: int) -> int:
        total = term = one // x
        n, sign = 1, -1
        while term:
            term //= x * x
            total += sign * (term // (2 * n + 1))
            sign, n = -sign, n + 1
        return total

    return (16 * arctan_inv(5) - 4 * arctan_inv(239)) >> guard


@functools.cache
def modp_prime(group: int) -> int:
    """The MODP group's prime, built the way RFC 2409 §6 and RFC 3526 define it."""
    if group not in _MODP_SHAPE:
        raise CryptoError(f"DH group {group} is not a MODP group")
    n, k = _MODP_SHAPE[group]
    return (1 << n) - (1 << (n - 64)) - 1 + (((_pi_scaled(n) >> 130) + k) << 64)


class Exchange(Protocol):
    """One side of a key exchange in progress."""

    transform: Transform

    def public_bytes(self) -> bytes:
        """Key Exchange Data to send."""
        ...

    def shared_secret(self, peer: bytes) -> bytes:
        """The shared secret, from the peer's Key Exchange Data."""
        ...


def _pad(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _library_modexp(p: int, base: int, exponent: int) -> int | None:
    """base^exponent mod p through OpenSSL, or None when this cryptography has no FFDH.

    OpenSSL only exposes modexp as a DH exchange, so the exponent is loaded as a private key
    (its public half is never used, 2 stands in) and exchanged with ``base`` as the peer.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            params = crypto_dh.DHParameterNumbers(p, 2)
            key = crypto_dh.DHPrivateNumbers(
                exponent, crypto_dh.DHPublicNumbers(2, params)).private_key()
            return int.from_bytes(
                key.exchange(crypto_dh.DHPublicNumbers(base, params).public_key()), "big")
    except (AttributeError, UnsupportedAlgorithm):
        return None
    except ValueError as err:
        # OpenSSL refusing a value shared_secret() already range-checked: say so, not leak it.
        raise CryptoError(f"OpenSSL refuses this MODP exchange: {err}") from None


# Through OpenSSL, MODP-768/1024 measured 20-30x slower than Python's pow (it appears to
# re-validate primes it does not know as named groups); the larger groups are named to it.
_LIBRARY_GROUPS = {5, 14, 15, 16, 17, 18}


class ModpExchange:
    """Finite-field DH over OpenSSL when available and faster, else Python's ``pow``
    (``use_library`` False forces the fallback; both give identical bytes)."""

    def __init__(self, transform: Transform, rng: Rng, use_library: bool = True) -> None:
        self.transform = transform
        self.p = modp_prime(transform.ident)
        self.size = transform.output_size
        self.use_library = use_library and transform.ident in _LIBRARY_GROUPS
        nbytes = min(_EXPONENT_BITS, self.p.bit_length() - 2) // 8
        self._x = int.from_bytes(rng.random_bytes(nbytes), "big") | (1 << (nbytes * 8 - 1))
        self._y = self._modexp(2)

    def _modexp(self, base: int) -> int:
        if self.use_library:
            value = _library_modexp(self.p, base, self._x)
            if value is not None:
                return value
        return pow(base, self._x, self.p)

    def public_bytes(self) -> bytes:
        """g^x mod p, left-padded to the prime's length (RFC 7296 §3.4)."""
        return _pad(self._y, self.size)

    def shared_secret(self, peer: bytes) -> bytes:
        """g^xy mod p, left-padded; the peer's value must be in 2..p-2 (RFC 6989 §2.1)."""
        if len(peer) != self.size:
            raise CryptoError(f"{self.transform.name} public value is {len(peer)} bytes, "
                              f"expected {self.size}")
        y = int.from_bytes(peer, "big")
        if not 1 < y < self.p - 1:
            raise CryptoError(f"{self.transform.name} peer public value is out of range",
                              hint="the peer is broken or attacking; see RFC 6989")
        return _pad(self._modexp(y), self.size)


class EcpExchange:
    """ECDH on a NIST prime curve; KE data is x || y without the SEC1 0x04 (RFC 5903 §7)."""

    def __init__(self, transform: Transform, rng: Rng) -> None:
        self.transform = transform
        self.curve = _ECP[transform.ident]
        self.size = transform.output_size
        bits = self.curve.key_size
        while True:
            # Rejection sampling: OpenSSL refuses scalars of 0 or >= the group order.
            raw = int.from_bytes(rng.random_bytes(self.size), "big") >> (self.size * 8 - bits)
            try:
                self._key = ec.derive_private_key(raw, self.curve)
                break
            except ValueError:
                continue

    def public_bytes(self) -> bytes:
        """x || y of our public point, each left-padded to the field size."""
        point = self._key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return point[1:]

    def shared_secret(self, peer: bytes) -> bytes:
        """The x coordinate of the shared point (RFC 5903 §7), after checking the peer's point
        is on the curve."""
        if len(peer) != 2 * self.size:
            raise CryptoError(f"{self.transform.name} public value is {len(peer)} bytes, "
                              f"expected {2 * self.size}")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(self.curve, b"\x04" + peer)
        except ValueError:
            raise CryptoError(f"{self.transform.name} peer public value is not on the curve",
                              hint="the peer is broken or attacking") from None
        return self._key.exchange(ec.ECDH(), public)


class MontgomeryExchange:
    """X25519 / X448 (RFC 8031): KE data is the raw u coordinate."""

    def __init__(self, transform: Transform, rng: Rng) -> None:
        self.transform = transform
        raw = rng.random_bytes(transform.output_size)
        self._x25519 = transform.ident == 31
        self._key: x25519.X25519PrivateKey | x448.X448PrivateKey = (
            x25519.X25519PrivateKey.from_private_bytes(raw) if self._x25519
            else x448.X448PrivateKey.from_private_bytes(raw))

    def public_bytes(self) -> bytes:
        """Our public u coordinate."""
        return self._key.public_key().public_bytes_raw()

    def shared_secret(self, peer: bytes) -> bytes:
        """The shared u coordinate; an all-zero result is refused (RFC 8031 §2)."""
        if len(peer) != self.transform.output_size:
            raise CryptoError(f"{self.transform.name} public value is {len(peer)} bytes, "
                              f"expected {self.transform.output_size}")
        try:
            # The flag, not isinstance: the key classes are ABCs, whose check is slow.
            if self._x25519:
                return cast(x25519.X25519PrivateKey, self._key).exchange(
                    x25519.X25519PublicKey.from_public_bytes(peer))
            return cast(x448.X448PrivateKey, self._key).exchange(
                x448.X448PublicKey.from_public_bytes(peer))
        except ValueError:
            raise CryptoError(f"{self.transform.name} shared secret is all zeros",
                              hint="the peer sent a small-order point") from None


_MLKEM: dict[int, str] = {35: "MLKEM512", 36: "MLKEM768", 37: "MLKEM1024"}


def _mlkem_classes(transform: Transform) -> tuple[Any, Any]:
    name = _MLKEM[transform.ident]
    # cryptography has no ML-KEM-512 (yet): the classes are looked up, not imported.
    private = getattr(mlkem, f"{name}PrivateKey", None)
    public = getattr(mlkem, f"{name}PublicKey", None)
    if private is None or public is None:
        raise CryptoError(f"{transform.name} is not available in the installed cryptography "
                          "package", hint="offer ML-KEM-768 or ML-KEM-1024, or upgrade "
                          "cryptography/OpenSSL")
    return private, public


class MlKemInitiator:
    """The initiator's ML-KEM side: sends the encapsulation key, decapsulates the reply."""

    def __init__(self, transform: Transform, rng: Rng) -> None:
        self.transform = transform
        private, _ = _mlkem_classes(transform)
        self._key = private.from_seed_bytes(rng.random_bytes(64))

    def public_bytes(self) -> bytes:
        """The encapsulation key."""
        return bytes(self._key.public_key().public_bytes_raw())

    def shared_secret(self, peer: bytes) -> bytes:
        """Decapsulate the responder's ciphertext."""
        try:
            return bytes(self._key.decapsulate(peer))
        except ValueError:
            raise CryptoError(f"{self.transform.name} ciphertext has the wrong length "
                              f"({len(peer)} bytes)") from None


def available(ident: int) -> bool:
    """Whether the KE transform ``ident`` can be used here: implemented, and for ML-KEM present
    in the installed cryptography (ML-KEM-512 is not, as of cryptography 46-50)."""
    if ident in _MLKEM:
        try:
            _mlkem_classes(by_id(TransformType.KE, ident))
        except CryptoError:
            return False
        return True
    return ident in _MODP_SHAPE or ident in _ECP or ident in (31, 32)


def start(ident: int, rng: Rng, use_library: bool = True) -> Exchange:
    """Begin a key exchange for the KE transform ``ident`` (the initiator's side, or a DH
    responder's)."""
    transform = by_id(TransformType.KE, ident)
    if ident in _MODP_SHAPE:
        return ModpExchange(transform, rng, use_library)
    if ident in _ECP:
        return EcpExchange(transform, rng)
    if ident in (31, 32):
        return MontgomeryExchange(transform, rng)
    if ident in _MLKEM:
        return MlKemInitiator(transform, rng)
    raise CryptoError(f"{transform.name} key exchange is not implemented")


def respond(ident: int, peer: bytes, rng: Rng) -> tuple[bytes, bytes]:
    """The responder's side in one step: (our Key Exchange Data, shared secret).

    For ML-KEM ``peer`` is the encapsulation key and our data is the ciphertext.
    """
    transform = by_id(TransformType.KE, ident)
    if ident in _MLKEM:
        _, public = _mlkem_classes(transform)
        try:
            key = public.from_public_bytes(peer)
        except ValueError:
            raise CryptoError(f"{transform.name} encapsulation key is malformed "
                              f"({len(peer)} bytes)") from None
        # cryptography draws the encapsulation randomness itself; ``rng`` is not used here.
        secret, ciphertext = key.encapsulate()
        return bytes(ciphertext), bytes(secret)
    exchange = start(ident, rng)
    return exchange.public_bytes(), exchange.shared_secret(peer)
