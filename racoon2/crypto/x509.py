"""X.509 for IKE: load certificates and keys, validate a peer's chain, match IDs to
certificates, and the CERT/CERTREQ encodings of RFC 7296 §3.6-3.7."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from enum import IntEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from racoon2.crypto.auth import PrivateKey, PublicKey
from racoon2.errors import CryptoError


class IdType(IntEnum):
    """IKEv2 Identification types (RFC 7296 §3.5)."""

    IPV4_ADDR = 1
    FQDN = 2
    RFC822_ADDR = 3
    IPV6_ADDR = 5
    DER_ASN1_DN = 9
    KEY_ID = 11


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, or the one DER certificate in ``data``."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as err:
        raise CryptoError(f"cannot parse certificate: {err}",
                          hint="expected PEM or DER X.509 data") from None


def _check_key_type(key: object, what: str) -> None:
    allowed = (rsa.RSAPrivateKey, rsa.RSAPublicKey, ec.EllipticCurvePrivateKey,
               ec.EllipticCurvePublicKey, ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey,
               ed448.Ed448PrivateKey, ed448.Ed448PublicKey)
    if not isinstance(key, allowed):
        raise CryptoError(f"{what} is a {type(key).__name__}, which IKE cannot use",
                          hint="use an RSA, ECDSA, Ed25519 or Ed448 key")


def load_private_key(data: bytes, password: bytes | None = None) -> PrivateKey:
    """A PEM or DER private key (PKCS#8 or traditional), optionally encrypted."""
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password)
        else:
            key = serialization.load_der_private_key(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise CryptoError(f"cannot load private key: {err}",
                          hint="check the file format and its password") from None
    _check_key_type(key, "private key")
    return key  # type: ignore[return-value]


def load_public_key(data: bytes) -> PublicKey:
    """A PEM or DER SubjectPublicKeyInfo (racoon2's raw public key files)."""
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as err:
        raise CryptoError(f"cannot load public key: {err}") from None
    _check_key_type(key, "public key")
    return key  # type: ignore[return-value]


def _public_key(cert: x509.Certificate) -> CertificatePublicKeyTypes:
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as err:
        raise CryptoError(f"cannot read the key of certificate "
                          f"{cert.subject.rfc4514_string()}: {err}",
                          hint="use an RSA, ECDSA, Ed25519 or Ed448 key") from None


def certificate_public_key(cert: x509.Certificate) -> PublicKey:
    """The certificate's subject public key, if IKE can verify signatures with it."""
    key = _public_key(cert)
    _check_key_type(key, f"the key of certificate {cert.subject.rfc4514_string()}")
    return key  # type: ignore[return-value]


def verify_chain(leaf: x509.Certificate, intermediates: list[x509.Certificate],
                 roots: list[x509.Certificate],
                 at: datetime.datetime | None = None) -> list[x509.Certificate]:
    """Validate ``leaf`` up to one of ``roots``; return the chain, leaf first.

    RFC 5280 path validation with web PKI rules for CAs, but any end-entity extensions
    (IPsec certificates often lack the serverAuth/clientAuth usages the web requires).
    """
    if not roots:
        raise CryptoError("no trusted CA certificates are configured",
                          hint="set the CA directory/file in racoon2.conf")
    builder = verification.PolicyBuilder().store(verification.Store(roots))
    builder = builder.time(at or datetime.datetime.now(datetime.UTC))
    builder = builder.extension_policies(
        ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
        ee_policy=verification.ExtensionPolicy.permit_all())
    try:
        verified = builder.build_client_verifier().verify(leaf, intermediates)
    except verification.VerificationError as err:
        raise CryptoError(f"certificate {leaf.subject.rfc4514_string()} does not validate: "
                          f"{err}", hint="check the peer's CA, chain and validity dates"
                          ) from None
    return list(verified.chain)


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension) as err:
        # cryptography parses extensions only when asked: a malformed one surfaces here.
        raise CryptoError(f"certificate {cert.subject.rfc4514_string()} has malformed "
                          f"extensions: {err}") from None


def cert_matches_id(cert: x509.Certificate, id_type: IdType, data: bytes) -> bool:
    """Whether the IKE identity (type, data) is one the certificate vouches for: a
    subjectAltName entry of the matching kind, or the subject DN itself."""
    if id_type == IdType.DER_ASN1_DN:
        return cert.subject.public_bytes() == data
    san = _san(cert)
    if san is None:
        return False
    if id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
        try:
            address = ipaddress.ip_address(data)
        except ValueError:
            # The peer's ID payload, not ours: name it instead of leaking ipaddress's error.
            raise CryptoError(f"{id_type.name} ID of {len(data)} octets is not an address",
                              hint="the peer sends a malformed ID payload") from None
        return address in san.get_values_for_type(x509.IPAddress)
    text = data.decode("ascii", errors="replace").lower()
    if id_type == IdType.FQDN:
        return text in (n.lower() for n in san.get_values_for_type(x509.DNSName))
    if id_type == IdType.RFC822_ADDR:
        return text in (n.lower() for n in san.get_values_for_type(x509.RFC822Name))
    return False


def cert_encoding(cert: x509.Certificate) -> bytes:
    """CERT payload data for encoding 4 (X.509 Certificate - Signature): the DER."""
    return cert.public_bytes(serialization.Encoding.DER)


def certreq_authority(ca: x509.Certificate) -> bytes:
    """A CERTREQ Certification Authority entry: SHA-1 of the CA's SubjectPublicKeyInfo
    (RFC 7296 §3.7)."""
    spki = _public_key(ca).public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(spki).digest()


def common_name(cert: x509.Certificate) -> str | None:
    """The subject's CN, for log lines."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None
