"""X.509 loading, chain validation and ID matching, on certificates built here with
cryptography and on certificates from cryptography_vectors."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress

import cryptography_vectors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from racoon2.crypto import auth
from racoon2.crypto import x509 as rx509
from racoon2.crypto.x509 import IdType
from racoon2.errors import CryptoError

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
          issuer_key: ec.EllipticCurvePrivateKey, ca: bool,
          san: list[x509.GeneralName] | None = None) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1))
               .not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki() -> dict[str, object]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    mid_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test CA", ca_key, "Test CA", ca_key, True)
    mid = _cert("Test Sub CA", mid_key, "Test CA", ca_key, True)
    san: list[x509.GeneralName] = [
        x509.DNSName("gw.example.com"), x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")), x509.RFC822Name("ike@example.com")]
    leaf = _cert("gw.example.com", leaf_key, "Test Sub CA", mid_key, False, san)
    return {"ca": ca, "mid": mid, "leaf": leaf, "leaf_key": leaf_key}


def test_chain_validates(pki: dict[str, object]) -> None:
    ca, mid, leaf = pki["ca"], pki["mid"], pki["leaf"]
    assert isinstance(leaf, x509.Certificate)
    chain = rx509.verify_chain(leaf, [mid], [ca], NOW)  # type: ignore[list-item]
    assert chain == [leaf, mid, ca]


def test_chain_rejections(pki: dict[str, object]) -> None:
    ca, mid, leaf = pki["ca"], pki["mid"], pki["leaf"]
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("Other CA", other_key, "Other CA", other_key, True)
    with pytest.raises(CryptoError, match="does not validate"):
        rx509.verify_chain(leaf, [mid], [other], NOW)  # type: ignore[arg-type, list-item]
    with pytest.raises(CryptoError, match="does not validate"):
        rx509.verify_chain(leaf, [], [ca], NOW)  # type: ignore[arg-type, list-item]
    with pytest.raises(CryptoError, match="does not validate"):
        rx509.verify_chain(leaf, [mid], [ca],  # type: ignore[arg-type, list-item]
                           NOW + datetime.timedelta(days=60))
    with pytest.raises(CryptoError, match="no trusted CA"):
        rx509.verify_chain(leaf, [mid], [])  # type: ignore[arg-type, list-item]


def test_id_matching(pki: dict[str, object]) -> None:
    leaf = pki["leaf"]
    assert isinstance(leaf, x509.Certificate)
    assert rx509.cert_matches_id(leaf, IdType.FQDN, b"GW.example.com")
    assert not rx509.cert_matches_id(leaf, IdType.FQDN, b"other.example.com")
    assert rx509.cert_matches_id(leaf, IdType.IPV4_ADDR, bytes([192, 0, 2, 1]))
    assert not rx509.cert_matches_id(leaf, IdType.IPV4_ADDR, bytes([192, 0, 2, 2]))
    assert rx509.cert_matches_id(leaf, IdType.IPV6_ADDR,
                                 ipaddress.ip_address("2001:db8::1").packed)
    assert rx509.cert_matches_id(leaf, IdType.RFC822_ADDR, b"ike@example.com")
    assert rx509.cert_matches_id(leaf, IdType.DER_ASN1_DN, _name("gw.example.com").public_bytes())
    assert not rx509.cert_matches_id(leaf, IdType.KEY_ID, b"gw")
    with pytest.raises(CryptoError, match="IPV4_ADDR ID of 3 octets is not an address"):
        rx509.cert_matches_id(leaf, IdType.IPV4_ADDR, bytes([192, 0, 2]))
    ca = pki["ca"]
    assert isinstance(ca, x509.Certificate)
    assert not rx509.cert_matches_id(ca, IdType.FQDN, b"gw.example.com")


def test_cert_payload_encodings(pki: dict[str, object]) -> None:
    ca, leaf = pki["ca"], pki["leaf"]
    assert isinstance(ca, x509.Certificate) and isinstance(leaf, x509.Certificate)
    der = rx509.cert_encoding(leaf)
    assert rx509.load_certificates(der) == [leaf]
    spki = ca.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    assert rx509.certreq_authority(ca) == hashlib.sha1(spki).digest()
    assert rx509.common_name(leaf) == "gw.example.com"


def test_signing_with_a_loaded_key(pki: dict[str, object]) -> None:
    key = pki["leaf_key"]
    leaf = pki["leaf"]
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(leaf, x509.Certificate)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"pw"))
    loaded = rx509.load_private_key(pem, b"pw")
    data = auth.sign(auth.AuthMethod.ECDSA_SHA256_P256, loaded, b"octets")
    auth.verify(auth.AuthMethod.ECDSA_SHA256_P256, rx509.certificate_public_key(leaf),
                b"octets", data)
    with pytest.raises(CryptoError, match="password"):
        rx509.load_private_key(pem, b"wrong")


def test_vector_files_load() -> None:
    with cryptography_vectors.open_vector_file("x509/custom/ca/ca.pem", "rb") as f:
        certs = rx509.load_certificates(f.read())
    assert len(certs) == 1
    assert isinstance(rx509.certificate_public_key(certs[0]), ec.EllipticCurvePublicKey)
    with cryptography_vectors.open_vector_file("x509/custom/ca/ca_key.pem", "rb") as f:
        key = rx509.load_private_key(f.read())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    with cryptography_vectors.open_vector_file("x509/ed25519/root-ed25519.pem", "rb") as f:
        root = rx509.load_certificates(f.read())[0]
    assert isinstance(rx509.certificate_public_key(root), ed25519.Ed25519PublicKey)
    with cryptography_vectors.open_vector_file(
            "x509/cryptography.io.chain.pem", "rb") as f:
        assert len(rx509.load_certificates(f.read())) >= 2


def test_public_key_files_and_errors() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    assert rx509.load_public_key(pem) == rx509.load_public_key(der) == key
    with pytest.raises(CryptoError, match="cannot load public key"):
        rx509.load_public_key(b"junk")
    with pytest.raises(CryptoError, match="cannot parse certificate"):
        rx509.load_certificates(b"junk")
    with pytest.raises(CryptoError, match="cannot load private key"):
        rx509.load_private_key(b"junk")
