"""Certificates for a pair: a CA, each host's key and certificate, and the config edit."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from pki import Key, make_ca, pem, write_host

from .harness import Edit, Side, make_side


def write_pki(d: Path, kind: str, ip: str, ca: tuple[x509.Certificate, Key]) -> None:
    """``d``/host.pem and host.key (a ``kind`` key for ``ip``), and ca.pem."""
    d.mkdir(parents=True, exist_ok=True)
    write_host(str(d), kind, ip, ca)
    (d / "ca.pem").write_bytes(pem(ca[0]))


def cert_edit(d: Path, trust: str = "ca.pem") -> Edit:
    """The sample's PSK authentication replaced by ``d``'s certificate, trusting ``trust``."""
    return (("kmp_auth_method { psk; };",
             f'kmp_auth_method {{ rsasig; }}; my_public_key x509pem "{d}/host.pem" "{d}/host.key";'
             f' peers_public_key x509pem "{d}/{trust}";'),)


def cert_pair(tmp_path: Path, kind_a: str, kind_b: str, ca_b: tuple[x509.Certificate, Key]
              | None = None, ip_a: str = "192.0.2.1") -> dict[str, Side]:
    """A and B with certificates of one CA (B trusting ``ca_b`` instead when given)."""
    ca = make_ca()
    write_pki(tmp_path / "a", kind_a, ip_a, ca)
    write_pki(tmp_path / "b", kind_b, "192.0.2.2", ca)
    if ca_b is not None:  # B trusts another CA
        (tmp_path / "b" / "ca.pem").write_bytes(pem(ca_b[0]))
    return {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a",
                           edit=cert_edit(tmp_path / "a")),
            "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                           edit=cert_edit(tmp_path / "b"))}
