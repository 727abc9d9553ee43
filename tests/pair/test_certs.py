"""IKE_AUTH with certificates between two cores: RSA, ECDSA and Ed25519 keys, CA-validated or
pinned peers, and the failures an admin meets (RFC 7296 §3.6-§3.8, RFC 7427)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pki import make_ca

from iked.events import IkeSaUp, NegotiationFailed
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.constants import PayloadType as P

from .certs import cert_edit, cert_pair, write_pki
from .harness import Msg, exchanges, ike_sas, make_side, pump

INIT, AUTH = ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH
HANDSHAKE = [(INIT, False), (INIT, True), (AUTH, False), (AUTH, True)]


@pytest.mark.parametrize(("kind_a", "kind_b"), [("rsa", "rsa"), ("ecdsa", "ed25519"),
                                                ("ed25519", "ecdsa")])
def test_certificates_validated_by_ca(tmp_path: Path, kind_a: str, kind_b: str) -> None:
    sides = cert_pair(tmp_path, kind_a, kind_b)
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(SIGNATURE_HASH_ALGORITHMS), N(NAT_DETECTION_*)
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(SIGNATURE_HASH_ALGORITHMS), CERTREQ,
    #                      N(NAT_DETECTION_*)
    # IKE_AUTH     i -> r  HDR, SK { IDi, CERT, CERTREQ, AUTH, N(USE_TRANSPORT_MODE), SAi2,
    #                                TSi, TSr }
    # IKE_AUTH     i <- r  HDR, SK { IDr, CERT, AUTH, N(USE_TRANSPORT_MODE), SAr2, TSi, TSr }
    pump(sides, record=wire)
    assert exchanges(wire) == HANDSHAKE
    assert all(NotifyType.SIGNATURE_HASH_ALGORITHMS in m.notifies for m in wire[:2])
    assert P.CERTREQ in wire[1].types, wire[1].draw()
    assert wire[2].types[:4] == [P.IDI, P.CERT, P.CERTREQ, P.AUTH], wire[2].draw()
    assert wire[3].types[:3] == [P.IDR, P.CERT, P.AUTH], wire[3].draw()
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
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r;  IKE_AUTH  i -> r  HDR, SK { IDi, CERT, ... AUTH, ... }
    # IKE_AUTH     i <- r  HDR, SK { IDr, CERT, AUTH, ... }   each CERT the other pinned
    pump(sides, record=wire)
    assert exchanges(wire) == HANDSHAKE
    assert all(any(isinstance(e, IkeSaUp) for e in s.events) for s in sides.values())


def test_untrusted_ca_fails_with_a_reason(tmp_path: Path) -> None:
    sides = cert_pair(tmp_path, "ecdsa", "ecdsa", ca_b=make_ca())
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, CERT (of a CA B does not trust), CERTREQ, AUTH, ... }
    # IKE_AUTH     i <- r  HDR, SK { N(AUTHENTICATION_FAILED) }
    pump(sides, record=wire)
    assert exchanges(wire) == HANDSHAKE
    assert wire[3].notifies == [NotifyType.AUTHENTICATION_FAILED], wire[3].draw()
    fail = next(e for e in sides["b"].events if isinstance(e, NegotiationFailed))
    assert fail.stage == "IKE_AUTH" and "does not validate" in fail.reason
    assert not sides["a"].installed and not sides["b"].installed


def test_certificate_must_vouch_for_the_id(tmp_path: Path) -> None:
    sides = cert_pair(tmp_path, "ecdsa", "ecdsa", ip_a="192.0.2.99")
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi (192.0.2.1), CERT (for 192.0.2.99), CERTREQ, AUTH, ... }
    # IKE_AUTH     i <- r  HDR, SK { N(AUTHENTICATION_FAILED) }
    pump(sides, record=wire)
    assert wire[3].notifies == [NotifyType.AUTHENTICATION_FAILED], wire[3].draw()
    fail = next(e for e in sides["b"].events if isinstance(e, NegotiationFailed))
    assert "does not vouch for the peer's ID" in fail.reason


def test_a_key_that_cannot_sign_ends_only_that_sa(tmp_path: Path) -> None:
    """B's Ed25519 key needs RFC 7427, which A (PSK only) never announces: B's SA fails with
    that reason, no exception escapes the core."""
    ca = make_ca()
    write_pki(tmp_path / "b", "ed25519", "192.0.2.2", ca)
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a"),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                            edit=cert_edit(tmp_path / "b"))}
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)   (no SIGNATURE_HASH_ALGORITHMS)
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(SIGNATURE_HASH_ALGORITHMS), CERTREQ, N(NAT_D*)
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH (PSK), N(USE_TRANSPORT_MODE), SAi2, TSi, TSr }
    #                      B cannot sign its AUTH: its SA ends there, unanswered
    pump(sides, record=wire)
    assert NotifyType.SIGNATURE_HASH_ALGORITHMS not in wire[0].notifies, wire[0].draw()
    fail = next(e for e in sides["b"].events if isinstance(e, NegotiationFailed))
    assert "EdDSA" in fail.reason
    assert not ike_sas(sides["b"])
