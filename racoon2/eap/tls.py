"""EAP-TLS (RFC 5216 for TLS 1.2, RFC 9190 for TLS 1.3), the server side, with OpenSSL through
pyOpenSSL (an optional extra: ``pip install racoon2[eap-tls]``) over memory BIOs, so no socket
is involved.  Python's ssl module cannot export keying material on 3.11, which the MSK needs.

The EAP-TLS framing (RFC 5216 §3.1): a Flags octet (L: a 4-octet TLS Message Length follows,
M: more fragments, S: Start), then TLS records.  A message longer than :data:`FRAGMENT` goes
out in fragments, each acknowledged by an empty Response; the peer's fragments are each
acknowledged by an empty Request.  The client must present a certificate that a configured CA
issued.  MSK: RFC 5216 §2.3's PRF(master secret, "client EAP encryption", client.random |
server.random), which is the TLS 1.2 exporter without context; for TLS 1.3, RFC 9190 §2.3's
TLS-Exporter("EXPORTER_EAP_TLS_Key_Material", 0x0D, 128).  The first 64 octets are the MSK.
After a TLS 1.3 handshake the server sends one octet 0x00 of application data, the protected
success indication of RFC 9190 §2.5.

OpenSSL draws its own randomness (the TLS randoms and key shares): the one exception to the
pure layer's injected random source, which a TLS engine cannot take.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from OpenSSL import SSL, crypto

from racoon2.eap.packet import Type
from racoon2.eap.server import Failed, Reply, Succeeded
from racoon2.errors import ParseError

FLAG_L, FLAG_M, FLAG_S = 0x80, 0x40, 0x20
#: Octets of TLS data per EAP-TLS fragment: with the IKE and UDP headers an IKE_AUTH message
#: stays under 1280 octets (IPv6's minimum MTU), as no IKE fragmentation is assumed.
FRAGMENT = 1000
#: The largest TLS message accepted from a client (its certificate chain and handshake).
MAX_MESSAGE = 64 * 1024


def context(chain: Sequence[x509.Certificate], key: CertificateIssuerPrivateKeyTypes,
            anchors: Sequence[x509.Certificate]) -> SSL.Context:
    """The server's TLS context: our chain and key, client certificates required, issued by
    one of ``anchors``; TLS 1.2 or 1.3, no session tickets (EAP-TLS resumes nothing here)."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.use_certificate(chain[0])
    for extra in chain[1:]:
        ctx.add_extra_chain_cert(extra)
    ctx.use_privatekey(key)  # type: ignore[arg-type]
    store = ctx.get_cert_store()
    assert store is not None
    for ca in anchors:
        store.add_cert(crypto.X509.from_cryptography(ca))
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _openssl_verdict)
    ctx.set_options(SSL.OP_NO_TICKET)
    return ctx


@dataclass
class Tls:
    """One EAP-TLS authentication of ``user`` (the EAP identity) as the server."""

    user: str
    ctx: SSL.Context = field(repr=False)
    _conn: SSL.Connection | None = field(default=None, repr=False)
    _incoming: bytes = b""
    _expected: int = 0
    _outgoing: bytes = b""
    _total: int = 0
    _first: bool = False
    _done: bool = False

    type: ClassVar[int] = Type.TLS
    mutual: ClassVar[bool] = True  # the client checks our certificate in TLS (RFC 5998 §4)

    def start(self, identifier: int) -> bytes:
        """EAP-TLS Start (§3.2)."""
        self._conn = SSL.Connection(self.ctx, None)
        self._conn.set_accept_state()
        return bytes([FLAG_S])

    def _send(self) -> bytes:
        """The next fragment of what TLS has for the client (§3.1: L and the length on the
        first of several)."""
        chunk, self._outgoing = self._outgoing[:FRAGMENT], self._outgoing[FRAGMENT:]
        more = FLAG_M if self._outgoing else 0
        if self._first:
            self._first = False
            if more:
                return bytes([FLAG_L | more]) + struct.pack("!I", self._total) + chunk
        return bytes([more]) + chunk

    def receive(self, identifier: int, data: bytes) -> Reply:
        """The client's TLS data, a fragment of it, or an acknowledgement of ours."""
        assert self._conn is not None
        if not data:
            raise ParseError("EAP-TLS", 0, "no Flags octet")
        flags, body = data[0], data[1:]
        if flags & FLAG_L:
            if len(body) < 4:
                raise ParseError("EAP-TLS", 1, "L flag without a TLS Message Length")
            (self._expected,) = struct.unpack_from("!I", body)
            body = body[4:]
            if self._expected > MAX_MESSAGE:
                return Failed(self.user, f"EAP-TLS message of {self._expected} octets, over "
                              f"{MAX_MESSAGE}")
        if self._outgoing:
            if body:
                return Failed(self.user, "EAP-TLS data where the ack of our fragment was due")
            return self._send()
        if not body and not flags & FLAG_M:
            # The ack of our last fragment: after the server's last flight, the end.
            if self._done:
                return self._success()
            return Failed(self.user, "EAP-TLS: the client acknowledged but the TLS "
                          "handshake is not finished")
        self._incoming += body
        if len(self._incoming) > MAX_MESSAGE:
            return Failed(self.user, f"EAP-TLS message over {MAX_MESSAGE} octets")
        if flags & FLAG_M:
            return bytes([0])  # §3.1: an empty Request acknowledges the fragment
        self._conn.bio_write(self._incoming)
        self._incoming, self._expected = b"", 0
        try:
            self._conn.do_handshake()
            self._done = True
            if self._conn.get_protocol_version_name() == "TLSv1.3":
                self._conn.write(b"\x00")  # RFC 9190 §2.5
        except SSL.WantReadError:
            pass
        except SSL.Error as e:
            return Failed(self.user, f"EAP-TLS handshake failed: {_reason(e)}")
        self._outgoing = _drain(self._conn)
        self._total, self._first = len(self._outgoing), True
        if not self._outgoing:
            return self._success() if self._done else bytes([0])
        return self._send()

    def _success(self) -> Succeeded | Failed:
        assert self._conn is not None
        cert = self._conn.get_peer_certificate()
        if cert is None:
            return Failed(self.user, "EAP-TLS: the client sent no certificate")
        if self._conn.get_protocol_version_name() == "TLSv1.3":
            keys = self._conn.export_keying_material(b"EXPORTER_EAP_TLS_Key_Material", 128,
                                                     b"\x0d")
        else:
            keys = self._conn.export_keying_material(b"client EAP encryption", 128)
        return Succeeded(self.user, keys[:64])

    def peer_subject(self) -> str:
        """The client certificate's subject, for the log."""
        cert = self._conn.get_peer_certificate() if self._conn is not None else None
        return cert.to_cryptography().subject.rfc4514_string() if cert is not None else ""


def _openssl_verdict(conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int,
                     ok: int) -> bool:
    # OpenSSL's own chain check against the anchors decides.
    return bool(ok)


def _drain(conn: SSL.Connection) -> bytes:
    out = b""
    while True:
        try:
            out += conn.bio_read(65536)
        except SSL.WantReadError:
            return out


def _reason(e: SSL.Error) -> str:
    parts = [p for err in e.args[0] for p in err if p] if e.args and isinstance(
        e.args[0], list) else [str(e)]
    return ": ".join(str(p) for p in parts) or "unknown"
