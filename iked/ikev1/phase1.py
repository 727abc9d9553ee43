"""What Main Mode and Aggressive Mode share (RFC 2409 §5): the SA offer and choice, the key
exchange and nonces, the keys, the identities, HASH_I/HASH_R or, with RSA signatures (§5.1),
CERT/CR and SIG_I/SIG_R with the certificate checks of IKEv2's :mod:`iked.ikev2.certs`, and
INITIAL-CONTACT (pure)."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

from iked.events import NegotiationFailed, Now
from iked.ikev1 import keys, proposals
from iked.ikev1.sa import IsakmpSa
from iked.ikev2 import certs
from racoon2.crypto import auth, dh, x509
from racoon2.errors import CryptoError
from racoon2.ikev1 import message
from racoon2.ikev1.constants import (
    AuthMethod,
    CertEncoding,
    Doi,
    NotifyType,
    Phase1Attr,
    ProtocolId,
    Situation,
)
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import (
    KE,
    SA,
    Cert,
    CertReq,
    Hash,
    Identification,
    Nonce,
    Notification,
    Payload,
    Proposal,
    Signature,
    Transform,
    encode_body,
)
from racoon2.ikev2.payloads import Cert as Cert2

P = TypeVar("P")


def find(payloads: Sequence[Payload], kind: type[P]) -> P | None:
    """The first payload of class ``kind``."""
    return next((p for p in payloads if isinstance(p, kind)), None)


def clear(sa: IsakmpSa, exchange: int, payloads: tuple[Payload, ...]) -> bytes:
    """A phase 1 message in the clear."""
    return message.encode(Message(sa.cookie_i, sa.cookie_r, exchange, 0, payloads))


def offer(sa: IsakmpSa, transforms: Sequence[Transform] | None = None) -> SA:
    """Our phase 1 SA payload; its body is SAi_b."""
    ts = tuple(transforms if transforms is not None else sa.settings.transforms)
    payload = SA(Doi.IPSEC, Situation.IDENTITY_ONLY,
                 (Proposal(1, ProtocolId.ISAKMP, b"", ts),))
    sa.sai_b = encode_body(payload)
    return payload


def respond_sa(sa: IsakmpSa, offered: SA | None) -> SA | None:
    """The responder's choice of the initiator's phase 1 SA payload (None: refused, said)."""
    if offered is None or len(offered.proposals) != 1 or \
            offered.proposals[0].protocol != ProtocolId.ISAKMP:
        sa.fail("phase 1", "the initiator's SA payload is not one ISAKMP proposal")
        return None
    sa.sai_b = encode_body(offered)
    got = offered.proposals[0].transforms
    choice = proposals.choose(got, sa.settings.transforms, Phase1Attr.LIFE_TYPE,
                              sa.settings.proposal_check)
    if choice is None:
        sa.host.emit(NegotiationFailed(sa.name, "phase 1", "no proposal chosen",
                                       proposals.describe(got),
                                       proposals.describe(sa.settings.transforms)))
        sa.die("no proposal chosen")
        return None
    try:
        sa.algs = proposals.phase1_algorithms(choice.transform)
    except CryptoError as e:
        sa.fail("phase 1", str(e))
        return None
    sa.lifetime = choice.lifetime
    p = offered.proposals[0]
    return SA(offered.doi, offered.situation,
              (Proposal(p.number, p.protocol, p.spi, (choice.transform,)),))


def accept_sa(sa: IsakmpSa, answered: SA | None) -> bool:
    """The initiator's check of the responder's choice: one transform we offered."""
    chosen = answered.proposals[0].transforms if answered and answered.proposals else ()
    mine = {proposals.essence(t, Phase1Attr.LIFE_TYPE) for t in sa.settings.transforms}
    if len(chosen) != 1 or proposals.essence(chosen[0], Phase1Attr.LIFE_TYPE) not in mine:
        sa.fail("phase 1", f"the responder chose {proposals.describe(chosen)}, which we "
                "did not offer")
        return False
    try:
        sa.algs = proposals.phase1_algorithms(chosen[0])
    except CryptoError as e:
        sa.fail("phase 1", str(e))
        return False
    sa.lifetime = proposals.lifetimes(chosen[0], Phase1Attr.LIFE_TYPE)[0] or \
        proposals.DEFAULT_LIFETIME
    return True


def ke_nonce(sa: IsakmpSa, group: int | None = None) -> tuple[KE, Nonce]:
    """Our KE (of the agreed group, or ``group`` before there is one) and nonce."""
    if group is None:
        assert sa.algs is not None
        group = sa.algs.group
    sa.dh = dh.start(group, sa.host.rng)
    nonce = sa.host.rng.random_bytes(sa.settings.nonce_size)
    public = sa.dh.public_bytes()
    if sa.initiator:
        sa.g_xi, sa.ni = public, nonce
    else:
        sa.g_xr, sa.nr = public, nonce
    return KE(public), Nonce(nonce)


def take_ke_nonce(sa: IsakmpSa, payloads: Sequence[Payload]) -> bool:
    """The peer's KE and nonce; the keys once both sides' are known."""
    ke, nonce = find(payloads, KE), find(payloads, Nonce)
    if ke is None or nonce is None or not 8 <= len(nonce.data) <= 256:
        sa.fail("phase 1", "KE or nonce missing (or a nonce outside 8-256 octets)")
        return False
    if sa.initiator:
        sa.g_xr, sa.nr = ke.data, nonce.data
    else:
        sa.g_xi, sa.ni = ke.data, nonce.data
    return True


def derive(sa: IsakmpSa) -> bool:
    """SKEYID and the rest, once KEs and nonces are both in."""
    assert sa.algs is not None and sa.dh is not None
    peer = sa.g_xr if sa.initiator else sa.g_xi
    try:
        g_xy = sa.dh.shared_secret(peer)
    except CryptoError as e:
        sa.fail("phase 1", f"the peer's KE: {e}")
        return False
    sa.keys = keys.derive(sa.algs, None if signatures(sa) else sa.settings.psk, sa.ni, sa.nr,
                          g_xy, sa.g_xi, sa.g_xr, sa.cookie_i, sa.cookie_r)
    return True


def signatures(sa: IsakmpSa) -> bool:
    """Whether the agreed phase 1 authenticates with RSA signatures (RFC 2409 §5.1)."""
    return sa.algs is not None and sa.algs.auth in (AuthMethod.RSA_SIGNATURES,
                                                    AuthMethod.XAUTH_INIT_RSA)


def cert_requests(sa: IsakmpSa) -> tuple[CertReq, ...]:
    """CR payloads for MM3/MM4 (``send_cert_req``): one per CA we trust, naming its DN
    (RFC 2408 §3.10); none when we pin the peer's certificate."""
    trust = sa.settings.trust
    if not signatures(sa) or not sa.settings.send_cert_req or trust is None:
        return ()
    return tuple(CertReq(CertEncoding.X509_SIGNATURE, a.subject.public_bytes())
                 for a in trust.anchors)


def proof(sa: IsakmpSa, ident: Identification) -> tuple[Payload, ...]:
    """What follows our ID in MM5/MM6/AM2/AM3: HASH_I/HASH_R, or with signatures our
    certificates (``send_cert``) and SIG_I/SIG_R, the hash signed (RFC 2409 §5.1)."""
    h = auth_hash(sa, encode_body(ident), sa.initiator)
    if not signatures(sa):
        return (Hash(h),)
    creds = sa.settings.credentials
    if creds is None or not isinstance(creds.key, rsa.RSAPrivateKey):
        raise CryptoError("rsasig in IKEv1 needs an RSA key in my_public_key")
    out: tuple[Payload, ...] = tuple(
        Cert(CertEncoding.X509_SIGNATURE, x509.cert_encoding(c)) for c in creds.chain
    ) if sa.settings.send_cert else ()
    return (*out, Signature(auth.ikev1_rsa_sign(creds.key, h)))


def _verify_signature(sa: IsakmpSa, payloads: Sequence[Payload], ident: Identification,
                      want: bytes) -> str | None:
    sig = find(payloads, Signature)
    if sig is None or sa.settings.trust is None:
        return "no SIG payload" if sig is None else "no peers_public_key to check SIG with"
    received = [Cert2(c.encoding, c.data) for c in payloads if isinstance(c, Cert)]
    try:
        key = certs.peer_key(sa.settings.trust, received, ident.id_type, ident.data,
                             sa.settings.verify_id)
        if not isinstance(key, rsa.RSAPublicKey):
            return "the peer's certificate has no RSA key"
        auth.ikev1_rsa_verify(key, want, sig.data)
    except CryptoError as e:
        return str(e)
    return None


def my_id(sa: IsakmpSa) -> Identification:
    """Our phase 1 ID: the first ``my_id``, else our address (protocol and port zero, as
    RFC 2407 §4.6.2 allows)."""
    if sa.settings.my_ids:
        kind, data = sa.settings.my_ids[0]
        return Identification(kind, data)
    addr = sa.local.addr
    return Identification(1 if addr.version == 4 else 5, addr.packed)


def auth_hash(sa: IsakmpSa, id_b: bytes, of_initiator: bool) -> bytes:
    """HASH_I or HASH_R over an ID payload body (RFC 2409 §5)."""
    assert sa.keys is not None
    f = auth.ikev1_hash_i if of_initiator else auth.ikev1_hash_r
    return f(sa.keys.algs.prf, sa.keys.skeyid, sa.g_xi, sa.g_xr, sa.cookie_i, sa.cookie_r,
             sa.sai_b, id_b)


def authenticate(sa: IsakmpSa, payloads: Sequence[Payload],
                 ident: Identification | None = None) -> bool:
    """Check the peer's ID (in ``payloads``, or ``ident`` from an earlier message) and HASH
    (``verify_id``: the ID must be one of ``peers_id``)."""
    ident = ident or find(payloads, Identification)
    if ident is None:
        sa.fail("phase 1", "no ID payload")
        return False
    want = auth_hash(sa, encode_body(ident), not sa.initiator)
    if signatures(sa):
        problem = _verify_signature(sa, payloads, ident, want)
        if problem is not None:
            sa.fail("phase 1", f"the peer's signature: {problem}")
            return False
    else:
        h = find(payloads, Hash)
        if h is None or not hmac.compare_digest(want, h.data):
            sa.fail("phase 1", "the peer's HASH does not verify: the pre-shared keys differ")
            return False
    sa.peer_id = (ident.id_type, ident.data)
    if sa.settings.verify_id and sa.settings.peers_ids and \
            sa.peer_id not in sa.settings.peers_ids:
        sa.fail("phase 1", f"the peer's ID {show_id(*sa.peer_id)} is none of peers_id")
        return False
    return True


def show_id(kind: int, data: bytes) -> str:
    """An ID for logs."""
    if kind in (1, 5) and len(data) in (4, 16):
        return str(ipaddress.ip_address(data))
    return f"type {kind} {data.decode('utf-8', 'replace')}"


def initial_contact(sa: IsakmpSa) -> tuple[Notification, ...]:
    """INITIAL-CONTACT (RFC 2407 §4.6.3.3) when configured and we have no other ISAKMP SA
    with this peer."""
    if not sa.settings.initial_contact or not sa.host.first_contact(sa):
        return ()
    return (Notification(Doi.IPSEC, ProtocolId.ISAKMP, NotifyType.INITIAL_CONTACT,
                         sa.cookies),)


def established(sa: IsakmpSa, payloads: Sequence[Payload], now: Now) -> None:
    """Phase 1 is up: report it, honour the peer's INITIAL-CONTACT, start what waited."""
    sa.move(sa.state.ESTABLISHED)
    sa.born = now
    sa.resend = None
    sa.dh = None
    if any(isinstance(p, Notification) and p.type == NotifyType.INITIAL_CONTACT
           for p in payloads):
        sa.host.initial_contact(sa, now)
    sa.host.established(sa, now)

