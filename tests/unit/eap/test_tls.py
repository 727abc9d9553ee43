"""EAP-TLS's server (racoon2/eap/tls.py) against a pyOpenSSL client over memory BIOs, with
the EAP-TLS framing done by hand here: TLS 1.2 and 1.3, fragments both ways, the MSK both
ends derive (RFC 5216 §2.3, RFC 9190 §2.3), and the refusal of a client without a
certificate from the configured CA."""

from __future__ import annotations

import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pki import issue, make_ca, new_key

pytest.importorskip("OpenSSL", reason="pyOpenSSL is not installed (pip install .[eap-tls])")
from OpenSSL import SSL, crypto  # noqa: E402

from racoon2.eap import tls  # noqa: E402
from racoon2.eap.packet import Code, Packet, Type  # noqa: E402
from racoon2.eap.server import Failed, Server, Succeeded  # noqa: E402


def _client(version: int, with_cert: bool, ca: object) -> SSL.Connection:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(version)
    ctx.set_max_proto_version(version)
    ctx.set_verify(SSL.VERIFY_PEER, lambda *a: bool(a[-1]))
    store = ctx.get_cert_store()
    assert store is not None
    store.add_cert(crypto.X509.from_cryptography(ca[0]))
    if with_cert:
        key = new_key("rsa")  # a large certificate: the client's messages fragment too
        cert = issue("alice", key, (ca[0].subject, ca[1]), False)  # type: ignore[index]
        ctx.use_certificate(cert)
        ctx.use_privatekey(key)
    conn = SSL.Connection(ctx, None)
    conn.set_connect_state()
    return conn


def _flush(conn: SSL.Connection) -> bytes:
    out = b""
    while True:
        try:
            out += conn.bio_read(65536)
        except SSL.WantReadError:
            return out


def _run(version: int, with_cert: bool = True) -> tuple[Succeeded | Failed, SSL.Connection]:
    ca = make_ca()
    server_key = new_key("ecdsa")
    server_cert = issue("vpn", server_key, (ca[0].subject, ca[1]), False)
    ctx = tls.context([server_cert], server_key, [ca[0]])  # type: ignore[arg-type]
    server = Server(lambda user: tls.Tls(user, ctx), Type.TLS, 1)
    client = _client(version, with_cert, ca)
    request = server.start()
    step = server.receive(Packet(Code.RESPONSE, request.identifier, Type.IDENTITY, b"alice"))
    assert step.packet.data == bytes([tls.FLAG_S])
    pending, assembled = b"", b""
    for _ in range(100):
        data = step.packet.data
        flags, body = data[0], data[1:]
        if flags & tls.FLAG_L:
            body = body[4:]
        assembled += body
        if flags & tls.FLAG_M:
            reply = b"\x00"  # ack
        else:
            if assembled or flags & tls.FLAG_S:
                if assembled:
                    client.bio_write(assembled)
                assembled = b""
                try:
                    client.do_handshake()
                    client.recv(16)  # TLS 1.3: the 0x00 success indication
                except SSL.Error:  # WantReadError: more to come; others: the server's alert
                    pass
                pending += _flush(client)
            if pending:
                chunk, pending = pending[:700], pending[700:]
                reply = bytes([tls.FLAG_M if pending else 0]) + chunk
            else:
                reply = b"\x00"
        step = server.receive(Packet(Code.RESPONSE, step.packet.identifier, Type.TLS, reply))
        if step.outcome is not None:
            return step.outcome, client
    raise AssertionError("no end")


@pytest.mark.parametrize(("version", "label", "context"), [
    (SSL.TLS1_2_VERSION, b"client EAP encryption", None),
    (SSL.TLS1_3_VERSION, b"EXPORTER_EAP_TLS_Key_Material", b"\x0d"),
])
def test_handshake_and_msk(version: int, label: bytes, context: bytes | None) -> None:
    outcome, client = _run(version)
    assert isinstance(outcome, Succeeded), outcome
    assert outcome.msk is not None and len(outcome.msk) == 64
    assert outcome.msk == client.export_keying_material(label, 128, context)[:64]


def test_a_client_without_a_certificate_is_refused() -> None:
    outcome, _ = _run(SSL.TLS1_2_VERSION, with_cert=False)
    assert isinstance(outcome, Failed) and "handshake failed" in outcome.reason


def test_fragment_header() -> None:
    t = tls.Tls("x", tls.context(*_material()))
    t._outgoing, t._total, t._first = bytes(2500), 2500, True
    first = t._send()
    assert first[0] == tls.FLAG_L | tls.FLAG_M and struct.unpack("!I", first[1:5]) == (2500,)
    assert len(first) == 5 + tls.FRAGMENT
    assert t._send()[0] == tls.FLAG_M and t._send()[0] == 0 and not t._outgoing


def _material() -> tuple[list[x509.Certificate], ec.EllipticCurvePrivateKey,
                        list[x509.Certificate]]:
    ca = make_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    return [issue("vpn", key, (ca[0].subject, ca[1]), False)], key, [ca[0]]


def test_a_certificate_from_another_ca_is_refused() -> None:
    ca, other = make_ca(), make_ca()
    server_key = new_key("ecdsa")
    server_cert = issue("vpn", server_key, (ca[0].subject, ca[1]), False)
    ctx = tls.context([server_cert], server_key, [ca[0]])  # type: ignore[arg-type]
    client_key = new_key("ecdsa")
    client_cert = issue("mallory", client_key, (other[0].subject, other[1]), False)
    t = tls.Tls("mallory", ctx)
    t.start(1)
    c = SSL.Context(SSL.TLS_CLIENT_METHOD)
    c.use_certificate(client_cert)
    c.use_privatekey(client_key)
    conn = SSL.Connection(c, None)
    conn.set_connect_state()
    reply: object = b""
    for _ in range(10):
        try:
            conn.do_handshake()
        except SSL.Error:
            pass
        out = _flush(conn)
        reply = t.receive(1, b"\x00" + out)
        if not isinstance(reply, bytes):
            break
        if reply[1:]:
            conn.bio_write(reply[5:] if reply[0] & tls.FLAG_L else reply[1:])
    assert isinstance(reply, Failed) and "certificate" in reply.reason, reply
