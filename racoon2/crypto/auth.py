"""IKE authentication: the octets each side signs or MACs, and the AUTH payload data.

IKEv2 (RFC 7296 §2.15): shared key MIC (method 2), RSA PKCS#1 v1.5 with SHA-1 (method 1),
ECDSA with RFC 4754 r||s signatures (methods 9-11) and the RFC 7427 Digital Signature
method (14), whose AUTH data starts with a length-prefixed ASN.1 AlgorithmIdentifier.
IKEv1 (RFC 2409 §5): HASH_I/HASH_R and the raw PKCS#1 RSA signature of a hash.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from racoon2.crypto.prf import Prf
from racoon2.errors import CryptoError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | (
    ed448.Ed448PrivateKey)
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | (
    ed448.Ed448PublicKey)

_KEY_PAD = b"Key Pad for IKEv2"


class AuthMethod(IntEnum):
    """IKEv2 Authentication Method numbers (IANA)."""

    RSA_SIG = 1
    SHARED_KEY_MIC = 2
    DSS_SIG = 3
    ECDSA_SHA256_P256 = 9
    ECDSA_SHA384_P384 = 10
    ECDSA_SHA512_P521 = 11
    DIGITAL_SIGNATURE = 14


class SignatureHash(IntEnum):
    """RFC 7427 SIGNATURE_HASH_ALGORITHMS notify values."""

    SHA1 = 1
    SHA2_256 = 2
    SHA2_384 = 3
    SHA2_512 = 4
    IDENTITY = 5


def signed_octets(message: bytes, peer_nonce: bytes, prf: Prf, sk_p: bytes,
                  id_body: bytes) -> bytes:
    """<Initiator|Responder>SignedOctets = RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload)
    where ``id_body`` is the ID payload after its generic header (RFC 7296 §2.15)."""
    return message + peer_nonce + prf.compute(sk_p, id_body)


def psk_auth(prf: Prf, psk: bytes, octets: bytes) -> bytes:
    """AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)."""
    return prf.compute(prf.compute(psk, _KEY_PAD), octets)


def verify_psk_auth(prf: Prf, psk: bytes, octets: bytes, auth: bytes) -> None:
    """Raise :class:`CryptoError` unless ``auth`` is the shared-key MIC of ``octets``."""
    if not hmac.compare_digest(psk_auth(prf, psk, octets), auth):
        raise CryptoError("AUTH payload does not match the pre-shared key",
                          hint="check that both peers use the same pre_shared_key file")


def _der_len(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + (
        n.to_bytes(2, "big"))


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


_OID = {
    "sha256": bytes.fromhex("608648016503040201"),
    "sha384": bytes.fromhex("608648016503040202"),
    "sha512": bytes.fromhex("608648016503040203"),
}
_NULL = b"\x05\x00"


def _pss_identifier(hash_name: str, salt: int) -> bytes:
    # RFC 4055 RSASSA-PSS-params with MGF1 over the same hash and trailerField left default.
    hash_alg = _tlv(0x30, _tlv(0x06, _OID[hash_name]) + _NULL)
    mgf = _tlv(0x30, _tlv(0x06, bytes.fromhex("2a864886f70d010108")) + hash_alg)
    params = _tlv(0xA0, hash_alg) + _tlv(0xA1, mgf) + _tlv(0xA2, _tlv(0x02, bytes([salt])))
    return _tlv(0x30, _tlv(0x06, bytes.fromhex("2a864886f70d01010a")) + _tlv(0x30, params))


@dataclass(frozen=True)
class SignatureScheme:
    """One RFC 7427 signature algorithm: its AlgorithmIdentifier and how to apply it."""

    name: str
    identifier: bytes
    key: str
    hash_name: str | None
    pss: bool = False


def _hash(name: str | None) -> hashes.HashAlgorithm:
    table: dict[str, hashes.HashAlgorithm] = {
        "sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
    }
    if name not in table:
        raise CryptoError(f"no hash named {name!r}")
    return table[name]


SCHEMES: tuple[SignatureScheme, ...] = (
    SignatureScheme("sha1WithRSAEncryption",
                    bytes.fromhex("300d06092a864886f70d0101050500"), "rsa", "sha1"),
    SignatureScheme("sha256WithRSAEncryption",
                    bytes.fromhex("300d06092a864886f70d01010b0500"), "rsa", "sha256"),
    SignatureScheme("sha384WithRSAEncryption",
                    bytes.fromhex("300d06092a864886f70d01010c0500"), "rsa", "sha384"),
    SignatureScheme("sha512WithRSAEncryption",
                    bytes.fromhex("300d06092a864886f70d01010d0500"), "rsa", "sha512"),
    SignatureScheme("rsassa-pss-sha256", _pss_identifier("sha256", 32), "rsa", "sha256", True),
    SignatureScheme("rsassa-pss-sha384", _pss_identifier("sha384", 48), "rsa", "sha384", True),
    SignatureScheme("rsassa-pss-sha512", _pss_identifier("sha512", 64), "rsa", "sha512", True),
    SignatureScheme("ecdsa-with-sha256", bytes.fromhex("300a06082a8648ce3d040302"), "ec",
                    "sha256"),
    SignatureScheme("ecdsa-with-sha384", bytes.fromhex("300a06082a8648ce3d040303"), "ec",
                    "sha384"),
    SignatureScheme("ecdsa-with-sha512", bytes.fromhex("300a06082a8648ce3d040304"), "ec",
                    "sha512"),
    SignatureScheme("ed25519", bytes.fromhex("300506032b6570"), "ed25519", None),
    SignatureScheme("ed448", bytes.fromhex("300506032b6571"), "ed448", None),
)

_BY_NAME = {s.name: s for s in SCHEMES}
_BY_IDENTIFIER = {s.identifier: s for s in SCHEMES}

# RFC 4754 methods: fixed curve and hash, signature is r || s.
_ECDSA_METHODS = {
    AuthMethod.ECDSA_SHA256_P256: ("secp256r1", "sha256", 32),
    AuthMethod.ECDSA_SHA384_P384: ("secp384r1", "sha384", 48),
    AuthMethod.ECDSA_SHA512_P521: ("secp521r1", "sha512", 66),
}


def _key_kind(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    return "ed448"


def _sign_raw(key: PrivateKey, scheme: SignatureScheme, data: bytes,
              deterministic: bool) -> bytes:
    if _key_kind(key) != scheme.key:
        raise CryptoError(f"a {_key_kind(key)} key cannot make {scheme.name} signatures",
                          hint="pick a signature scheme that matches the certificate's key")
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            h = _hash(scheme.hash_name)
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(h), h.digest_size) if scheme.pss
                else padding.PKCS1v15())
            return key.sign(data, pad, h)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_hash(scheme.hash_name),
                                           deterministic_signing=deterministic))
        return key.sign(data)
    except (ValueError, UnsupportedAlgorithm) as err:
        # cryptography refuses e.g. a PSS salt that does not fit a small RSA modulus.
        size = f"{key.key_size}-bit " if isinstance(key, rsa.RSAPrivateKey) else ""
        raise CryptoError(f"cannot make a {scheme.name} signature with this {size}"
                          f"{_key_kind(key)} key: {err}",
                          hint="use a larger key or another signature scheme") from None


def _verify_raw(key: PublicKey, scheme: SignatureScheme, data: bytes, signature: bytes) -> None:
    if _key_kind(key) != scheme.key:
        raise CryptoError(f"peer signed with {scheme.name} but its key is {_key_kind(key)}")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            h = _hash(scheme.hash_name)
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(h), h.digest_size) if scheme.pss
                else padding.PKCS1v15())
            key.verify(signature, data, pad, h)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_hash(scheme.hash_name)))
        else:
            key.verify(signature, data)
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        raise CryptoError(f"{scheme.name} signature in the AUTH payload does not verify",
                          hint="the peer's certificate or private key is not the expected "
                          "one") from None


def sign(method: AuthMethod, key: PrivateKey, octets: bytes, scheme: str | None = None,
         deterministic: bool = False) -> bytes:
    """AUTH payload data for a signature method.

    Method 14 needs ``scheme`` (a name from :data:`SCHEMES`); ``deterministic`` asks for
    RFC 6979 ECDSA nonces (tests, reproducible output).
    """
    if method == AuthMethod.RSA_SIG:
        return _sign_raw(key, _BY_NAME["sha1WithRSAEncryption"], octets, deterministic)
    if method in _ECDSA_METHODS:
        curve, hash_name, size = _ECDSA_METHODS[method]
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != curve:
            raise CryptoError(f"AUTH method {method.name} needs a {curve} key")
        der = _sign_raw(key, _BY_NAME[f"ecdsa-with-{hash_name}"], octets, deterministic)
        r, s = decode_dss_signature(der)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if method == AuthMethod.DIGITAL_SIGNATURE:
        if scheme not in _BY_NAME:
            raise CryptoError(f"unknown RFC 7427 signature scheme {scheme!r}")
        chosen = _BY_NAME[scheme]
        body = _sign_raw(key, chosen, octets, deterministic)
        return bytes([len(chosen.identifier)]) + chosen.identifier + body
    raise CryptoError(f"AUTH method {method.name} is not a signature method we can make")


def verify(method: AuthMethod | int, key: PublicKey, octets: bytes, auth: bytes) -> None:
    """Raise :class:`CryptoError` unless ``auth`` is a valid signature over ``octets``;
    ``method`` may be the AUTH payload's number as received."""
    try:
        method = AuthMethod(method)
    except ValueError:
        raise CryptoError(f"AUTH method {method} is not a signature method we can check",
                          hint="the peer authenticates in a way we do not implement") from None
    if method == AuthMethod.RSA_SIG:
        _verify_raw(key, _BY_NAME["sha1WithRSAEncryption"], octets, auth)
        return
    if method in _ECDSA_METHODS:
        curve, hash_name, size = _ECDSA_METHODS[method]
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve:
            raise CryptoError(f"AUTH method {method.name} needs a {curve} key")
        if len(auth) != 2 * size:
            raise CryptoError(f"{method.name} signature is {len(auth)} bytes, "
                              f"expected {2 * size}")
        der = encode_dss_signature(int.from_bytes(auth[:size], "big"),
                                   int.from_bytes(auth[size:], "big"))
        _verify_raw(key, _BY_NAME[f"ecdsa-with-{hash_name}"], octets, der)
        return
    if method == AuthMethod.DIGITAL_SIGNATURE:
        if not auth or len(auth) < 1 + auth[0]:
            raise CryptoError("RFC 7427 AUTH data is shorter than its AlgorithmIdentifier")
        identifier = auth[1 : 1 + auth[0]]
        chosen = _BY_IDENTIFIER.get(identifier)
        if chosen is None:
            raise CryptoError(f"unsupported RFC 7427 AlgorithmIdentifier {identifier.hex()}",
                              hint="the peer signs with an algorithm we do not implement")
        _verify_raw(key, chosen, octets, auth[1 + auth[0] :])
        return
    raise CryptoError(f"AUTH method {method.name} is not a signature method we can check")


# ---- IKEv1 (RFC 2409 §5) ----


def ikev1_hash_i(prf: Prf, skeyid: bytes, g_xi: bytes, g_xr: bytes, cky_i: bytes,
                 cky_r: bytes, sai_b: bytes, idii_b: bytes) -> bytes:
    """HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)."""
    return prf.compute(skeyid, g_xi + g_xr + cky_i + cky_r + sai_b + idii_b)


def ikev1_hash_r(prf: Prf, skeyid: bytes, g_xi: bytes, g_xr: bytes, cky_i: bytes,
                 cky_r: bytes, sai_b: bytes, idir_b: bytes) -> bytes:
    """HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)."""
    return prf.compute(skeyid, g_xr + g_xi + cky_r + cky_i + sai_b + idir_b)


def ikev1_rsa_sign(key: rsa.RSAPrivateKey, digest: bytes) -> bytes:
    """IKEv1 RSA signature: PKCS#1 v1.5 type 1 padding of the bare hash, no DigestInfo
    (what racoon's RSA_private_encrypt produces).  cryptography offers no raw PKCS#1 signing,
    hence the modular exponentiation here."""
    numbers = key.private_numbers()
    size = (numbers.public_numbers.n.bit_length() + 7) // 8
    if len(digest) > size - 11:
        raise CryptoError("hash is too long for this RSA key")
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(digest)) + b"\x00" + digest
    value = pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n)
    return value.to_bytes(size, "big")


def ikev1_rsa_verify(key: rsa.RSAPublicKey, digest: bytes, signature: bytes) -> None:
    """Raise :class:`CryptoError` unless ``signature`` is :func:`ikev1_rsa_sign` of ``digest``."""
    numbers = key.public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    value = int.from_bytes(signature, "big")
    if len(signature) != size or value >= numbers.n:
        raise CryptoError("IKEv1 RSA signature has the wrong size for the peer's key")
    block = pow(value, numbers.e, numbers.n).to_bytes(size, "big")
    expected = b"\x00\x01" + b"\xff" * (size - 3 - len(digest)) + b"\x00" + digest
    if not hmac.compare_digest(block, expected):
        raise CryptoError("IKEv1 RSA signature does not verify",
                          hint="the peer's certificate or private key is not the expected one")
