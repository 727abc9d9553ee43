"""The ikev1 block's directives as the engine obeys them, and phase 1 IDs other than
addresses (RFC 2407 §4.6.2.1, RFC 2409 §5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from iked.events import ChildSaUp, IkeSaUp, NegotiationFailed
from iked.ikev1.keys import Phase1Keys
from racoon2.ikev1 import message
from racoon2.ikev1.constants import IdType
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import Cert, CertReq, Identification, Nonce, Payload
from racoon2.net import Endpoint

from .harness import AM, MM, QM, Side, pair, pump
from .test_main_mode import pki

Sealed = list[tuple[int, tuple[Payload, ...]]]
Receive = Callable[[bytes, Endpoint, Endpoint, float], None]


@pytest.fixture
def sealed(monkeypatch: pytest.MonkeyPatch) -> Sealed:
    """(exchange, payloads) of every message either core encrypts, in order."""
    out: Sealed = []
    seal = Phase1Keys.seal

    def spy(self: Phase1Keys, msg: Message, payloads: tuple[Payload, ...]) -> bytes:
        out.append((msg.exchange, payloads))
        return seal(self, msg, payloads)

    monkeypatch.setattr(Phase1Keys, "seal", spy)
    return out


def _clear(wire: list[bytes], exchange: int) -> list[tuple[Payload, ...]]:
    return [m.payloads for m in map(message.decode, wire)
            if m.exchange == exchange and m.encrypted is None]


def _run(a: Side, b: Side) -> list[bytes]:
    """Initiate from A and pump; every datagram delivered, either way."""
    sent: list[bytes] = []
    for s in (a, b):
        receive = s.core.receive_datagram

        def record(data: bytes, local: Endpoint, remote: Endpoint, now: float,
                   receive: Receive = receive) -> None:
            sent.append(data)
            receive(data, local, remote, now)

        s.core.receive_datagram = record  # type: ignore[method-assign]
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    return sent


def _up(*sides: Side) -> bool:
    return all(len(s.of(ChildSaUp)) == 1 and not s.of(NegotiationFailed) for s in sides)


@pytest.mark.parametrize("verify_id", [True, False], ids=["on", "off"])
def test_verify_id(tmp_path: Path, verify_id: bool) -> None:
    """RFC 2409 §5 leaves the ID check to policy: with verify_id on, B refuses an IDii that
    is none of its peers_id; off, it takes it."""
    a, b = pair(tmp_path, a={"my_id": 'fqdn "a.example.net"'},
                b={"peers_id": 'fqdn "someone-else.example.net"',
                   "extra": f"\t\tverify_id {'on' if verify_id else 'off'};"})
    _run(a, b)
    if verify_id:
        (failed,) = b.of(NegotiationFailed)
        assert isinstance(failed, NegotiationFailed) and "none of peers_id" in failed.reason
        assert not b.of(IkeSaUp) and not b.installed
    else:
        assert _up(a, b)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
def test_send_cert(tmp_path: Path, sealed: Sealed, on: bool) -> None:
    """RFC 2409 §5.1: MM5 carries A's CERT with send_cert on, none with it off (B has A's
    certificate pinned, so it verifies SIG_I either way)."""
    files = pki(tmp_path)
    pinned = (files["b"][0], files["b"][1], files["a"][0])
    a, b = pair(tmp_path, b={"cert": pinned},
                a={"cert": files["a"], "extra": f"\t\tsend_cert {'on' if on else 'off'};"})
    _run(a, b)
    mm5 = next(p for x, p in sealed if x == MM)
    assert any(isinstance(p, Cert) for p in mm5) is on
    assert _up(a, b)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
def test_send_cert_req(tmp_path: Path, on: bool) -> None:
    """RFC 2408 §3.10: MM3 carries a CR naming A's CA with send_cert_req on, none off."""
    files = pki(tmp_path)
    a, b = pair(tmp_path, b={"cert": files["b"]},
                a={"cert": files["a"], "extra": f"\t\tsend_cert_req {'on' if on else 'off'};"})
    mm3 = _clear(_run(a, b), MM)[2]  # MM1, MM2, MM3, MM4 in the clear
    assert any(isinstance(p, CertReq) for p in mm3) is on
    assert _up(a, b)


def test_nonce_size(tmp_path: Path, sealed: Sealed) -> None:
    """nonce_size: A's Ni in MM3 (RFC 2409 §5) and in QM1 (§5.5) has that many octets."""
    a, b = pair(tmp_path, a={"extra": "\t\tnonce_size 40;"})
    mm3 = _clear(_run(a, b), MM)[2]
    qm1 = next(p for x, p in sealed if x == QM)
    assert [len(p.data) for p in (*mm3, *qm1) if isinstance(p, Nonce)] == [40, 40]
    assert _up(a, b)


IDS = {"fqdn": ('fqdn "{}.example.net"', IdType.FQDN, b"{}.example.net"),
       "user_fqdn": ('email "ike@{}.example.net"', IdType.USER_FQDN, b"ike@{}.example.net"),
       "keyid": ('keyid tag "key-{}"', IdType.KEY_ID, b"key-{}"),
       # No qualifier: the value names a file whose octets are the key ID (config.md).
       "keyid_file": ('keyid "{}"', IdType.KEY_ID, b"\x00key-{}\xff")}


@pytest.mark.parametrize("mode", ["main", "aggressive"])
@pytest.mark.parametrize("kind", IDS)
def test_id_types(tmp_path: Path, sealed: Sealed, kind: str, mode: str) -> None:
    """RFC 2407 §4.6.2.1 ID_FQDN, ID_USER_FQDN (racoon2.conf's email) and ID_KEY_ID as each
    end's my_id and the other's peers_id, verify_id on: IDii (MM5, or AM1 in the clear) and
    IDir (MM6, AM2) carry them, and phase 1 and Quick Mode complete."""
    spec, wire_type, data = IDS[kind]
    ids = {n: (spec.format(n), data.replace(b"{}", n.encode())) for n in ("a", "b")}
    if kind == "keyid_file":
        for n, (_, octets) in ids.items():
            (tmp_path / f"key-{n}.bin").write_bytes(octets)
            (tmp_path / f"key-{n}.bin").chmod(0o600)  # read as the secrets are
            ids[n] = (spec.format(tmp_path / f"key-{n}.bin"), octets)
    check = "\t\tverify_id on;"
    a, b = pair(tmp_path, aggressive=mode == "aggressive",
                a={"my_id": ids["a"][0], "peers_id": ids["b"][0], "extra": check},
                b={"my_id": ids["b"][0], "peers_id": ids["a"][0], "extra": check})
    sent = _run(a, b)
    assert _up(a, b)
    messages = [ps for x, ps in sealed if x == MM] if mode == "main" else _clear(sent, AM)
    idii, idir = (next(p for p in ps if isinstance(p, Identification)) for ps in messages)
    assert (idii.id_type, idii.data) == (wire_type, ids["a"][1])
    assert (idir.id_type, idir.data) == (wire_type, ids["b"][1])
    (sa_a,), (sa_b,) = a.core.sas.values(), b.core.sas.values()
    assert sa_b.peer_id == (wire_type, ids["a"][1]) and sa_a.peer_id == (wire_type, ids["b"][1])
