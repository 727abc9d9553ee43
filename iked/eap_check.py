"""``iked -n`` for an EAP server's certificate: the rules Windows and Apple clients apply to
the server certificate before any EAP round (doc/iked.md, VPN server for phones and laptops).

- Windows (RasMan): the certificate must have the serverAuth extended key usage
  (1.3.6.1.5.5.7.3.1), and a subjectAltName DNS name (or IP address) equal to the server
  name the user typed.
- iOS and macOS: a subjectAltName must equal the Remote ID the profile names, which is
  our ``my_id``; serverAuth is required too.

A certificate that breaks them is only a warning: strongSwan and Android accept it.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from typing import TYPE_CHECKING

from racoon2.config.check_common import kmp_blocks
from racoon2.config.effective import ikev2
from racoon2.config.files import exists
from racoon2.config.model import Config, ConfigWarning, EapMethod, IdType, Kmp
from racoon2.errors import ConfigError, CryptoError

if TYPE_CHECKING:
    from cryptography import x509

# cryptography.x509 is imported where a certificate is read: iked -n runs this check on every
# configuration, and few have an EAP server's certificate (the import is 30 ms).


def certificate_problems(cert: x509.Certificate, ids: list[tuple[IdType, str]]) -> list[str]:
    """What breaks the Windows and Apple rules in ``cert`` for our IDs ``ids``."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    problems = []
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.SERVER_AUTH not in eku:
            problems.append("its extendedKeyUsage lacks serverAuth (Windows and Apple "
                            "refuse it)")
    except x509.ExtensionNotFound:
        problems.append("it has no extendedKeyUsage serverAuth (Windows and Apple refuse it)")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
        addrs = set(san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        names, addrs = set(), set()
    if not names and not addrs:
        problems.append("it has no subjectAltName DNS name or IP address (Windows and Apple "
                        "match the server name against it)")
    for kind, value in ids:
        if kind is IdType.FQDN and value.lower() not in names:
            problems.append(f"my_id fqdn {value} is not among its subjectAltName DNS names "
                            "(iOS and macOS refuse it)")
        if kind is IdType.IPADDR and ipaddress.ip_address(value) not in addrs:
            problems.append(f"my_id ipaddr {value} is not among its subjectAltName IP "
                            "addresses (iOS and macOS refuse it)")
    return problems


def check_server_certificates(config: Config, warnings: list[ConfigWarning]) -> None:
    """Warn, per remote with ``eap { }``, where its certificate breaks the clients' rules;
    refuse ``method tls`` without pyOpenSSL."""
    for remote, kmp, block in kmp_blocks(config):
        if kmp is not Kmp.IKEV2 or block.eap is None:
            continue
        if block.eap.method is EapMethod.TLS and importlib.util.find_spec("OpenSSL") is None:
            raise ConfigError("eap { method tls; } needs pyOpenSSL, which is not installed",
                              block.eap.where_of("method") or block.eap.where,
                              "pip install racoon2[eap-tls] (Debian: python3-openssl)")
        eff = ikev2(config, remote)
        spec = eff.my_public_key
        if spec is None or not exists(spec.file):
            continue
        from racoon2.crypto.x509 import load_certificates

        try:
            with open(spec.file, "rb") as f:
                cert = load_certificates(f.read())[0]
        except (OSError, CryptoError, ValueError) as e:
            warnings.append(ConfigWarning(spec.where, f"{spec.file}: {e}"))
            continue
        ids = [(i.type, i.value) for i in eff.my_id]
        for problem in certificate_problems(cert, ids):
            warnings.append(ConfigWarning(spec.where, f"remote {remote.name!r}: the server "
                                          f"certificate {spec.file}: {problem}"))
