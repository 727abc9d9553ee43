"""A small CA and the host certificates of the certificate cases (cryptography's X.509 builder).

What the native clients demand: Apple wants a
subjectAltName that matches the server's ID, Windows the serverAuth EKU (and accepts the IKE
intermediate EKU, RFC 4945 §5.1.3.12), Android the name or address it was given.  So a host
certificate carries its ID as dNSName/rfc822Name/iPAddress SAN plus its address as iPAddress,
and serverAuth+clientAuth EKUs (a gateway is both); a client's carries clientAuth.  Keys are
RSA 2048 (every client can check an RSA signature, Windows machine certificates must be RSA;
2048 bits is NIST's floor until 2030 and keeps issuing quick).  Impure: key generation draws
randomness.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from racoon2.setup.model import Identity

#: RFC 4945 §5.1.3.12: id-kp-ipsecIKE.
IPSEC_IKE = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.17")
CA_YEARS = 10
HOST_YEARS = 2
KEY_BITS = 2048


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, as PEM."""

    cert: bytes
    key: bytes


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "racoon2-setup"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey, years: int,
             now: datetime.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365 * years))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False))


def make_ca(title: str) -> Issued:
    """A self-signed CA named ``title`` (keyCertSign, cRLSign, no path below it)."""
    now = datetime.datetime.now(datetime.UTC)
    key = rsa.generate_private_key(65537, KEY_BITS)
    name = _name(f"{title} CA")
    cert = (_builder(name, name, key, CA_YEARS, now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def _san(ident: Identity, address: str | None) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    if ident.kind == "fqdn":
        names.append(x509.DNSName(ident.value.rstrip(".")))
    elif ident.kind == "email":
        names.append(x509.RFC822Name(ident.value))
    for text in {ident.value if ident.kind == "ipaddr" else None, address} - {None}:
        assert text is not None
        names.append(x509.IPAddress(ipaddress.ip_address(text)))
    return names


def issue(ca: Issued, ident: Identity, address: str | None, server: bool) -> Issued:
    """A host (``server``: gateway or VPN server) or client certificate for ``ident``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = serialization.load_pem_private_key(ca.key, None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = rsa.generate_private_key(65537, KEY_BITS)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH, IPSEC_IKE]
    if server:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    cert = (_builder(_name(ident.value), ca_cert.subject, key, HOST_YEARS, now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(_san(ident, address)), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def pkcs12_bundle(issued: Issued, ca: Issued, name: str, password: bytes) -> bytes:
    """``issued`` with its key and the CA as PKCS#12, what phones and Windows import."""
    key = serialization.load_pem_private_key(issued.key, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    # PBESv1SHA1And3KeyTripleDESCBC is the one encryption every importer (Android, older
    # Windows and macOS) reads; the password protects it in transit only.
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(50000)
                  .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                  .hmac_hash(hashes.SHA1()).build(password))
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, x509.load_pem_x509_certificate(issued.cert),
        [x509.load_pem_x509_certificate(ca.cert)], encryption)
