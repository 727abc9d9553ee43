"""IKE_AUTH with certificates between two cores: RSA, ECDSA and Ed25519 keys, CA-validated or
pinned peers, RFC 7427 and the classic AUTH methods, and the failures an admin meets."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from pki import Key, issue, make_ca, new_key, pem, write_host
from test_ikev2_pair import Side, make_side, pump

from iked.events import IkeSaUp, NegotiationFailed
from iked.ikev2 import certs
from racoon2.crypto import auth
from racoon2.errors import CryptoError


def write_pki(d: Path, kind: str, ip: str, ca: tuple[x509.Certificate, Key]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    write_host(str(d), kind, ip, ca)
    (d / "ca.pem").write_bytes(pem(ca[0]))


def cert_edit(d: Path, trust: str = "ca.pem") -> tuple[tuple[str, str], ...]:
    return (("kmp_auth_method { psk; };",
             f'kmp_auth_method {{ rsasig; }}; my_public_key x509pem "{d}/host.pem" "{d}/host.key";'
             f' peers_public_key x509pem "{d}/{trust}";'),)


def cert_pair(tmp_path: Path, kind_a: str, kind_b: str, ca_b: tuple[x509.Certificate, Key]
              | None = None, ip_a: str = "192.0.2.1") -> dict[str, Side]:
    ca = make_ca()
    write_pki(tmp_path / "a", kind_a, ip_a, ca)
    write_pki(tmp_path / "b", kind_b, "192.0.2.2", ca)
    if ca_b is not None:  # B trusts another CA
        (tmp_path / "b" / "ca.pem").write_bytes(pem(ca_b[0]))
    return {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a",
                           edit=cert_edit(tmp_path / "a")),
            "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                           edit=cert_edit(tmp_path / "b"))}


@pytest.mark.parametrize(("kind_a", "kind_b"), [("rsa", "rsa"), ("ecdsa", "ed25519"),
                                                ("ed25519", "ecdsa")])
def test_certificates_validated_by_ca(tmp_path: Path, kind_a: str, kind_b: str) -> None:
    sides = cert_pair(tmp_path, kind_a, kind_b)
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    for side in sides.values():
        assert any(isinstance(e, IkeSaUp) for e in side.events), side.events
        assert len(side.installed) == 2


def test_pinned_peer_certificate(tmp_path: Path) -> None:
    ca = make_ca()
    for n, ip in (("a", "192.0.2.1"), ("b", "192.0.2.2")):
        write_pki(tmp_path / n, "ecdsa", ip, ca)
    for n, peer in (("a", "b"), ("b", "a")):
        (tmp_path / n / "peer.pem").write_bytes((tmp_path / peer / "host.pem").read_bytes())
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a",
                            edit=cert_edit(tmp_path / "a", "peer.pem")),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                            edit=cert_edit(tmp_path / "b", "peer.pem"))}
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    assert all(any(isinstance(e, IkeSaUp) for e in s.events) for s in sides.values())


def test_untrusted_ca_fails_with_a_reason(tmp_path: Path) -> None:
    sides = cert_pair(tmp_path, "ecdsa", "ecdsa", ca_b=make_ca())
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    fail = next(e for e in sides["b"].events if isinstance(e, NegotiationFailed))
    assert fail.stage == "IKE_AUTH" and "does not validate" in fail.reason
    assert not sides["a"].installed and not sides["b"].installed


def test_certificate_must_vouch_for_the_id(tmp_path: Path) -> None:
    sides = cert_pair(tmp_path, "ecdsa", "ecdsa", ip_a="192.0.2.99")
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    fail = next(e for e in sides["b"].events if isinstance(e, NegotiationFailed))
    assert "does not vouch for the peer's ID" in fail.reason


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_classic_auth_methods_without_rfc7427(kind: str) -> None:
    ca = make_ca()
    key = new_key(kind)
    leaf = issue("host", key, (ca[0].subject, ca[1]), False)
    creds = certs.Credentials((leaf,), key)
    method, data = certs.sign(creds, b"octets", frozenset())
    assert method == (auth.AuthMethod.RSA_SIG if kind == "rsa"
                      else auth.AuthMethod.ECDSA_SHA256_P256)
    auth.verify(method, key.public_key(), b"octets", data)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        auth.verify(method, key.public_key(), b"other", data)  # type: ignore[arg-type]
    with pytest.raises(CryptoError, match="EdDSA"):
        certs.sign(certs.Credentials((leaf,), ed25519.Ed25519PrivateKey.generate()), b"o",
                   frozenset())


def test_a_key_that_cannot_sign_ends_only_that_sa(tmp_path: Path) -> None:
    """B's Ed25519 key needs RFC 7427, which A (PSK only) never announces: B's SA fails with
    that reason, no exception escapes the core."""
    ca = make_ca()
    write_pki(tmp_path / "b", "ed25519", "192.0.2.2", ca)
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a"),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                            edit=cert_edit(tmp_path / "b"))}
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    fail = next(e for e in sides["b"].events if isinstance(e, NegotiationFailed))
    assert "EdDSA" in fail.reason
    assert not sides["b"].core.sas
