"""Throwaway X.509 material for tests: a CA and host certificates with IP subjectAltNames."""

from __future__ import annotations

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC)
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def new_key(kind: str) -> Key:
    if kind in ("rsa", "rsa4096"):  # rsa4096: IKEv1 messages that need fragmenting
        return rsa.generate_private_key(65537, 4096 if kind == "rsa4096" else 2048)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def issue(subject: str, key: Key, issuer: tuple[x509.Name, Key] | None, ca: bool,
          ip: str | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer or (name, key)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(days=1))
         .not_valid_after(NOW + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
    else:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address(ip or "192.0.2.1"))]), critical=False)
    if issuer is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            signer.public_key()), critical=False)  # type: ignore[arg-type]
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return b.sign(signer, algorithm)  # type: ignore[arg-type]


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca() -> tuple[x509.Certificate, Key]:
    key = ec.generate_private_key(ec.SECP256R1())
    return issue("racoon2 test CA", key, None, True), key



def write_host(d: str, kind: str, ip: str, ca: tuple[x509.Certificate, Key]) -> tuple[str, str]:
    """A host key and certificate for ``ip`` signed by ``ca``, as PEM files in ``d``:
    (certificate path, key path); the key file is mode 0600."""
    key = new_key(kind)
    leaf = issue(f"host {ip}", key, (ca[0].subject, ca[1]), False, ip)
    cert_path, key_path = os.path.join(d, "host.pem"), os.path.join(d, "host.key")
    with open(cert_path, "wb") as f:
        f.write(pem(leaf))
    fd = os.open(key_path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.write(fd, key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    os.close(fd)
    return cert_path, key_path
