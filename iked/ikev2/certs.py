"""Certificate authentication for IKE_AUTH (RFC 7296 §2.15, §3.6-3.8; RFC 7427), pure.

racoon2.conf names our certificate and key (``my_public_key x509pem CERT KEY``) and what we
trust of the peer (``peers_public_key x509pem FILE``).  The original took FILE as the peer's
own certificate and ignored CERT payloads; here FILE may also hold CA certificates, and then
the peer's CERT payloads are validated against them (cryptography's X.509 verifier) and the
peer's ID must be one its certificate vouches for.  An end-entity certificate in FILE keeps
the original's meaning (the peer's key is pinned).

Our AUTH uses RFC 7427 Digital Signature when the peer announced SIGNATURE_HASH_ALGORITHMS,
else the classic method of our key (RSA PKCS#1 v1.5 with SHA-1, or RFC 4754 ECDSA).
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from racoon2.crypto import auth
from racoon2.crypto.auth import AuthMethod, PrivateKey, PublicKey, SignatureHash
from racoon2.errors import CryptoError
from racoon2.ikev2.constants import CertEncoding
from racoon2.ikev2.payloads import Cert, CertReq

if TYPE_CHECKING:
    from cryptography import x509

# cryptography.x509 and racoon2.crypto.x509 are imported in the functions that use them: most
# configurations use no certificate, and their import is 30 ms of every iked start.

#: What we announce in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4; IDENTITY for EdDSA, RFC 8420).
OUR_HASHES = (SignatureHash.SHA2_256, SignatureHash.SHA2_384, SignatureHash.SHA2_512,
              SignatureHash.IDENTITY)
_X509 = CertEncoding.X509_SIGNATURE
_ECDSA = {"secp256r1": (AuthMethod.ECDSA_SHA256_P256, "ecdsa-with-sha256"),
          "secp384r1": (AuthMethod.ECDSA_SHA384_P384, "ecdsa-with-sha384"),
          "secp521r1": (AuthMethod.ECDSA_SHA512_P521, "ecdsa-with-sha512")}


@dataclass(frozen=True)
class Credentials:
    """Our certificate chain (leaf first) and private key."""

    chain: tuple[x509.Certificate, ...]
    key: PrivateKey = field(repr=False)

    @property
    def subject_dn(self) -> bytes:
        """ID_DER_ASN1_DN data of our certificate."""
        return self.chain[0].subject.public_bytes()


@dataclass(frozen=True)
class Trust:
    """What vouches for the peer: CA certificates, or its own pinned certificate."""

    anchors: tuple[x509.Certificate, ...] = ()
    pinned: x509.Certificate | None = None


def trust_from(found: Sequence[x509.Certificate]) -> Trust:
    """CA certificates become anchors; a single end-entity certificate is pinned."""
    cas = tuple(c for c in found if _is_ca(c))
    if cas:
        return Trust(anchors=cas)
    if len(found) == 1:
        return Trust(pinned=found[0])
    raise CryptoError("peers_public_key holds several end-entity certificates",
                      hint="give the peer's certificate or the CA certificates")


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def hash_notify_data() -> bytes:
    """SIGNATURE_HASH_ALGORITHMS notification data."""
    return b"".join(struct.pack("!H", h) for h in OUR_HASHES)


def parse_hashes(data: bytes) -> frozenset[int]:
    """The peer's SIGNATURE_HASH_ALGORITHMS (odd trailing octet ignored)."""
    return frozenset(struct.unpack_from("!H", data, i)[0] for i in range(0, len(data) - 1, 2))


def cert_payloads(creds: Credentials) -> list[Cert]:
    """CERT payloads: our certificate, then its intermediates."""
    from racoon2.crypto import x509 as certs

    return [Cert(_X509, certs.cert_encoding(c)) for c in creds.chain]


def certreq(trust: Trust | None) -> list[CertReq]:
    """A CERTREQ naming our trust anchors (none when we pin the peer's certificate)."""
    if trust is None or not trust.anchors:
        return []
    from racoon2.crypto import x509 as certs

    return [CertReq(_X509, b"".join(certs.certreq_authority(a) for a in trust.anchors))]


def sign(creds: Credentials, octets: bytes, peer_hashes: frozenset[int]) -> tuple[int, bytes]:
    """(AUTH method, AUTH data) over ``octets`` with our key."""
    key = creds.key
    if peer_hashes:
        if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            if SignatureHash.IDENTITY not in peer_hashes:
                raise CryptoError("the peer accepts no EdDSA signatures (no IDENTITY hash)")
            scheme = "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "ed448"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            scheme = _ECDSA[key.curve.name][1]
        else:
            scheme = next((f"sha{b}WithRSAEncryption" for h, b in (
                (SignatureHash.SHA2_256, 256), (SignatureHash.SHA2_384, 384),
                (SignatureHash.SHA2_512, 512)) if h in peer_hashes), "sha256WithRSAEncryption")
        return AuthMethod.DIGITAL_SIGNATURE, auth.sign(AuthMethod.DIGITAL_SIGNATURE, key,
                                                       octets, scheme)
    if isinstance(key, rsa.RSAPrivateKey):
        return AuthMethod.RSA_SIG, auth.sign(AuthMethod.RSA_SIG, key, octets)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _ECDSA:
        method = _ECDSA[key.curve.name][0]
        return method, auth.sign(method, key, octets)
    raise CryptoError("an EdDSA key needs RFC 7427 signatures, which the peer did not announce")


def peer_key(trust: Trust, received: Sequence[Cert], id_type: int, id_data: bytes,
             check_id: bool, now: datetime.datetime | None = None) -> PublicKey:
    """The key the peer's AUTH must verify with: its pinned certificate's, or the key of its
    CERT payload chain validated up to our anchors (and, with ``check_id``, vouching for its
    ID)."""
    from racoon2.crypto import x509 as certs

    if trust.pinned is not None:
        return certs.certificate_public_key(trust.pinned)
    chain = [certs.load_certificates(c.data)[0] for c in received if c.encoding == _X509]
    if not chain:
        raise CryptoError("the peer sent no certificate",
                          hint="the peer must send its certificate (CERT payload)")
    leaf = chain[0]
    certs.verify_chain(leaf, chain[1:], list(trust.anchors), now)
    try:
        kind = certs.IdType(id_type)
    except ValueError:
        raise CryptoError(f"ID type {id_type} cannot be matched against a certificate") from None
    if check_id and not certs.cert_matches_id(leaf, kind, id_data):
        raise CryptoError(f"certificate {leaf.subject.rfc4514_string()} does not vouch for "
                          "the peer's ID", hint="the ID must be in the certificate's "
                          "subjectAltName, or be its subject DN")
    return certs.certificate_public_key(leaf)
