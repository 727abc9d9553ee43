"""The KINK CREATE exchange (RFC 4430 §3.2), sans-I/O: builders and processors of its messages.

Initiator                                      Responder
:func:`build_create` -- CREATE(AP_REQ, ENCRYPT(ISAKMP(SA, Ni[, IDci, IDcr]))) -->
                                               :func:`process_create`
<-- REPLY(AP_REP, ENCRYPT(ISAKMP(SA[, Nr]))) -- :func:`build_reply`
:func:`process_reply`

Both messages carry a checksum with the ticket's session key (key usage 40) and encrypt the
Quick Mode payloads with it (key usage 39).  The responder takes the first acceptable transform,
as IKEv1 Quick Mode does.  Taking the initiator's very first one is the optimistic two-message
exchange: the REPLY carries no nonce, so the initiator could already install its inbound SA.
Otherwise the responder adds its nonce and sets ACKREQ (the three-message exchange; the ACK
itself is the daemon's business), exactly as the original racoon2 kinkd does.  Only ESP is
negotiated.  Sockets, the kernel SAs and spmd are not this module's concern.

The other exchanges share the same shape: :func:`build_request` makes an authenticated DELETE,
STATUS or ACK, :func:`verify_request` checks one, :func:`build_plain_reply` answers it and
:func:`open_reply` reads the answer.  GETTGT (RFC 4430 §3.4) has no Kerberos protection at all:
it fetches the responder's TGT so the initiator can ask the KDC for a user-to-user ticket.

Why one module over 500 lines: the builders and processors of each message pair share the
private Quick Mode, checksum and encryption helpers; the halves of one exchange read best side
by side, and splitting them would make those helpers public.
"""

from __future__ import annotations

import hmac
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from kinkd import message as kink
from kinkd.keymat import EspKeys, esp_keys
from kinkd.krb5.api import AuthContext, Context, Credentials, Keytab
from kinkd.krb5.values import Keyblock, Krb5Error
from kinkd.replay import Authenticator, ReplayCache
from racoon2.config.model import ProposalCheck
from racoon2.crypto.transforms import Transform, TransformType, by_id
from racoon2.errors import CryptoError, ParseError, ProtocolError
from racoon2.ikev1 import message as isakmp
from racoon2.ikev1.constants import (
    Doi,
    EncapsulationMode,
    EspTransformId,
    IpsecAttr,
    LifeType,
    ProtocolId,
    Situation,
)
from racoon2.ikev1.payloads import SA, Attribute, Delete, Identification, Nonce, Proposal
from racoon2.ikev1.payloads import Payload as QmPayload
from racoon2.ikev1.payloads import Transform as IsakmpTransform

# IPsec DOI Authentication Algorithm -> IKEv2 INTEG id of racoon2.crypto.transforms.
_INTEG_OF_AUTH = {1: 1, 2: 2, 5: 12, 6: 13, 7: 14, 9: 5}
_AUTH_OF_INTEG = {v: k for k, v in _INTEG_OF_AUTH.items()}
_ESP_IDS = {int(t) for t in EspTransformId}

T = TypeVar("T")


#: RFC 4120 §7.5.9: the server has no long-term key; use a user-to-user ticket.
KRB_AP_ERR_USER_TO_USER_REQUIRED = 66
KRB_AP_ERR_TKT_EXPIRED = 32
KRB_AP_ERR_SKEW = 37


class KinkError(ProtocolError):
    """A KINK exchange failed; the message names the check or payload that failed."""


class PeerKrbError(KinkError):
    """The peer answered with a KRB_ERROR: ``error`` is its RFC 4120 number, ``stime`` its
    clock (which a KRB_AP_ERR_SKEW lets the initiator adopt, RFC 4430 §3.5)."""

    def __init__(self, error: int, stime: int, text: str) -> None:
        super().__init__(f"peer sent KRB_ERROR {error}" + (f": {text}" if text else ""))
        self.error = error
        self.stime = stime


@dataclass(frozen=True)
class Verified:
    """An authenticated request as the responder sees it: who sent it and with which key."""

    msg: kink.Message
    client: str
    peer_epoch: int
    auth_context: AuthContext
    session_key: Keyblock
    quick_mode: tuple[QmPayload, ...]


@dataclass(frozen=True)
class Outstanding:
    """The initiator's state between an authenticated request and its REPLY."""

    xid: int
    auth_context: AuthContext
    session_key: Keyblock


@dataclass(frozen=True)
class EspOffer:
    """One ESP transform a peer offers or accepts; ``lifetime`` in seconds, 0 for none."""

    encr: Transform
    integ: Transform | None
    mode: EncapsulationMode = EncapsulationMode.TRANSPORT
    lifetime: int = 0

    def matches(self, other: EspOffer) -> bool:
        """Same algorithms and mode (lifetimes are the initiator's to choose)."""
        return (self.encr, self.integ, self.mode) == (other.encr, other.integ, other.mode)


@dataclass(frozen=True)
class ChildSa:
    """One side's result of a CREATE: the ESP SA pair it installs.

    ``inbound_spi`` is the SPI this side chose, ``outbound_spi`` the peer's.  With
    ``ack_required`` the exchange is the three-message one: the responder installs its
    outbound SA only on the ACK, and the initiator has to send it.
    """

    offer: EspOffer
    inbound_spi: int
    outbound_spi: int
    inbound: EspKeys
    outbound: EspKeys
    ack_required: bool
    peer_epoch: int


@dataclass(frozen=True)
class Initiated(Outstanding):
    """The initiator's state between its CREATE and the REPLY."""

    spi: int
    nonce: bytes
    offers: tuple[EspOffer, ...]


@dataclass(frozen=True)
class Request:
    """A verified CREATE as the responder sees it, with the proposal it chose."""

    xid: int
    client: str
    peer_epoch: int
    auth_context: AuthContext
    session_key: Keyblock
    peer_spi: int
    nonce: bytes
    chosen: EspOffer
    optimistic: bool
    ids: tuple[Identification, ...]


def _transform(number: int, offer: EspOffer) -> IsakmpTransform:
    if offer.encr.ident not in _ESP_IDS:
        raise KinkError(f"{offer.encr.name} has no IKEv1 ESP transform id")
    attrs = [Attribute(IpsecAttr.ENCAPSULATION_MODE, int(offer.mode))]
    if offer.integ is not None:
        auth = _AUTH_OF_INTEG.get(offer.integ.ident)
        if auth is None:
            raise KinkError(f"{offer.integ.name} has no IKEv1 authentication algorithm")
        attrs.append(Attribute(IpsecAttr.AUTHENTICATION_ALGORITHM, auth))
    if offer.encr.variable_key:
        attrs.append(Attribute(IpsecAttr.KEY_LENGTH, offer.encr.key_size * 8))
    if offer.lifetime:
        attrs += [Attribute(IpsecAttr.SA_LIFE_TYPE, LifeType.SECONDS),
                  Attribute(IpsecAttr.SA_LIFE_DURATION, offer.lifetime.to_bytes(4, "big"))]
    return IsakmpTransform(number, offer.encr.ident, tuple(attrs))


def _offer(t: IsakmpTransform) -> EspOffer:
    def value(kind: IpsecAttr) -> int | None:
        a = t.attribute(kind)
        return None if a is None else a.as_int

    try:
        encr = by_id(TransformType.ENCR, t.id, value(IpsecAttr.KEY_LENGTH))
        auth = value(IpsecAttr.AUTHENTICATION_ALGORITHM)
        integ = None
        if auth is not None:
            if auth not in _INTEG_OF_AUTH:
                raise CryptoError(f"authentication algorithm {auth} is not supported")
            integ = by_id(TransformType.INTEG, _INTEG_OF_AUTH[auth])
    except CryptoError as e:
        raise KinkError(f"ESP transform {t.number}: {e.message}") from e
    mode = value(IpsecAttr.ENCAPSULATION_MODE) or EncapsulationMode.TRANSPORT
    if mode not in (EncapsulationMode.TRANSPORT, EncapsulationMode.TUNNEL):
        raise KinkError(f"ESP transform {t.number}: encapsulation mode {mode} is not supported")
    seconds = value(IpsecAttr.SA_LIFE_DURATION) \
        if value(IpsecAttr.SA_LIFE_TYPE) == LifeType.SECONDS else None
    return EspOffer(encr, integ, EncapsulationMode(mode), seconds or 0)


def _spi(proposal: Proposal) -> int:
    if len(proposal.spi) != 4:
        raise KinkError(f"proposal {proposal.number} has a {len(proposal.spi)}-octet ESP SPI")
    (spi,) = struct.unpack("!I", proposal.spi)
    return int(spi)


def _sa(spi: int, transforms: tuple[IsakmpTransform, ...]) -> SA:
    return SA(Doi.IPSEC, Situation.IDENTITY_ONLY,
              (Proposal(1, ProtocolId.IPSEC_ESP, struct.pack("!I", spi), transforms),))


def _encrypt(ctx: Context, key: Keyblock, payloads: tuple[QmPayload, ...]) -> kink.Encrypt:
    first, chain = isakmp.encode_chain(payloads)
    plain = kink.encrypt_plaintext((kink.Isakmp(first, chain),))
    return kink.Encrypt(ctx.c_encrypt(key, kink.KEY_USAGE_ENCRYPT, plain))


def _quick_mode(ctx: Context, key: Keyblock, msg: kink.Message) -> tuple[QmPayload, ...]:
    enc = _one(msg, kink.Encrypt, "KINK_ENCRYPT")
    try:
        plain = ctx.c_decrypt(key, kink.KEY_USAGE_ENCRYPT, enc.ciphertext)
    except Krb5Error as e:
        raise KinkError(f"KINK_ENCRYPT does not decrypt with the session key: {e}") from e
    try:
        inner = kink.decrypted_chain(plain)
        qm = [p for p in inner if isinstance(p, kink.Isakmp)]
        if len(qm) != 1:
            raise KinkError(f"KINK_ENCRYPT holds {len(qm)} KINK_ISAKMP payloads, expected 1")
        if qm[0].qm_version != kink.QM_VERSION:
            raise KinkError(f"KINK_ISAKMP Quick Mode version {qm[0].qm_version:#x}, expected "
                            f"{kink.QM_VERSION:#x}")
        return isakmp.decode_chain(qm[0].payloads, qm[0].inner_next)
    except ParseError as e:
        raise KinkError(f"encrypted payloads are malformed: {e}") from e


def _one(msg: kink.Message, kind: type[T], name: str) -> T:
    found = [p for p in msg.payloads if isinstance(p, kind)]
    if len(found) != 1:
        raise KinkError(f"{kink.MsgType(msg.type).name} carries {len(found)} {name} payloads, "
                        "expected 1")
    return found[0]


def _seal(ctx: Context, key: Keyblock, msg: kink.Message) -> bytes:
    # Encoded without a checksum, the message is exactly what checksum_input() describes.
    checksum = ctx.c_make_checksum(key, kink.KEY_USAGE_CKSUM, kink.encode(msg))
    return kink.encode(replace(msg, checksum=checksum.contents))


def _verify(ctx: Context, key: Keyblock, data: bytes, msg: kink.Message) -> None:
    if not msg.checksum:
        raise KinkError(f"{kink.MsgType(msg.type).name} carries no checksum")
    # RFC 3961 keyed checksums are deterministic, and recomputing with the enctype's mandatory
    # type avoids trusting a checksum type the sender does not put on the wire.
    expected = ctx.c_make_checksum(key, kink.KEY_USAGE_CKSUM, kink.checksum_input(data))
    if not hmac.compare_digest(expected.contents, msg.checksum):
        raise KinkError(f"{kink.MsgType(msg.type).name} checksum does not verify with the "
                        "session key")


def _decode(data: bytes, expected: kink.MsgType) -> kink.Message:
    try:
        msg = kink.decode(data)
    except ParseError as e:
        raise KinkError(f"malformed KINK message: {e}") from e
    problem = kink.check_header(msg)
    if problem is not kink.ErrorCode.OK:
        raise KinkError(f"KINK header refused: {problem.name}")
    if msg.type != expected:
        raise KinkError(f"KINK message type {msg.type}, expected {expected.name}")
    return msg


def _ids(payloads: tuple[QmPayload, ...]) -> tuple[Identification, ...]:
    ids = tuple(p for p in payloads if isinstance(p, Identification))
    if len(ids) not in (0, 2):
        raise KinkError(f"{len(ids)} ID payloads, expected none or IDci and IDcr")
    return ids


def build_create(ctx: Context, creds: Credentials, offers: Sequence[EspOffer], spi: int,
                 nonce: bytes, *, xid: int, epoch: int,
                 ids: tuple[Identification, Identification] | None = None,
                 ) -> tuple[bytes, Initiated]:
    """The initiator's CREATE for the ticket ``creds`` (to the responder's principal).

    ``spi`` is the initiator's inbound SPI, ``offers`` its ESP transforms in order of
    preference, ``ids`` the optional Quick Mode client identities (IDci, IDcr).
    """
    if not offers:
        raise KinkError("a CREATE needs at least one ESP offer")
    try:
        # RFC 4430 §5 ignores subkeys: every key is the ticket's session key.
        ap_req, ac = ctx.mk_req_extended(creds, mutual=True)
        key = creds.session_key
        sa = _sa(spi, tuple(_transform(n, o) for n, o in enumerate(offers, 1)))
        enc = _encrypt(ctx, key, (sa, Nonce(nonce), *(ids or ())))
        data = _seal(ctx, key, kink.Message(kink.MsgType.CREATE, xid,
                                            (kink.ApReq(epoch, ap_req), enc)))
    except Krb5Error as e:
        raise KinkError(f"cannot build CREATE: {e}") from e
    return data, Initiated(xid, ac, key, spi, nonce, tuple(offers))


def verify_request(ctx: Context, data: bytes, expected: kink.MsgType, *,
                   keytab: Keytab | str | None, server: str | None, replay: ReplayCache,
                   now: float, user_to_user_key: Keyblock | None = None) -> Verified:
    """Check a request's ticket, checksum, freshness and encryption.

    The ticket is read with ``keytab`` or, for a responder without one, with its own TGT's
    session key (``user_to_user_key``).  ``replay`` remembers the authenticator as of ``now``.
    Raises :class:`KinkError`; ``__cause__`` is the :class:`Krb5Error` when Kerberos refused.
    """
    msg = _decode(data, expected)
    req = _one(msg, kink.ApReq, "KINK_AP_REQ")
    try:
        ac, ticket = ctx.rd_req(req.ap_req, keytab=None if user_to_user_key else keytab,
                                server=server, user_to_user_key=user_to_user_key)
        key = ticket.session_key
        _verify(ctx, key, data, msg)
        ctime, cusec = ac.authenticator_time
        has_encrypt = any(isinstance(p, kink.Encrypt) for p in msg.payloads)
        qm = _quick_mode(ctx, key, msg) if has_encrypt else ()
    except Krb5Error as e:
        raise KinkError(f"KINK_AP_REQ does not verify: {e}") from e
    # Only after the checksum: a forged copy must not make the genuine request look replayed.
    if not replay.check_and_store(Authenticator.of(ticket.client, ctime, cusec, req.ap_req), now):
        raise KinkError(f"{expected.name} from {ticket.client} replays an authenticator or is "
                        "outside the clock skew")
    return Verified(msg, ticket.client, req.epoch, ac, key, qm)


def process_create(ctx: Context, data: bytes, *, keytab: Keytab | str | None,
                   server: str | None, offers: Sequence[EspOffer], replay: ReplayCache,
                   now: float, user_to_user_key: Keyblock | None = None) -> Request:
    """Verify a CREATE (ticket, checksum, replay, encryption) and choose its ESP transform.

    ``offers`` are what this responder accepts; the first of the initiator's transforms that
    matches one of them is chosen.  ``replay`` remembers the authenticator as of ``now``.
    """
    v = verify_request(ctx, data, kink.MsgType.CREATE, keytab=keytab, server=server,
                       replay=replay, now=now, user_to_user_key=user_to_user_key)
    return choose(v, offers)


def lifetime_for(check: ProposalCheck, offered: int, mine: int) -> int | None:
    """The lifetime (seconds, 0 = none) a responder takes for an offered one under
    ``proposal_check``, as racoon: obey takes the offer, strict one no longer than ours, claim
    the shorter of the two (the REPLY carries it), exact only ours; None refuses the offer."""
    longer = (offered or math.inf) > (mine or math.inf)
    if check is ProposalCheck.STRICT:
        return None if longer else offered
    if check is ProposalCheck.CLAIM:
        return mine if longer else offered
    if check is ProposalCheck.EXACT:
        return offered if offered == mine else None
    return offered


def choose(v: Verified, offers: Sequence[EspOffer],
           check: ProposalCheck = ProposalCheck.OBEY) -> Request:
    """The responder's choice for a verified CREATE among ``offers`` (KinkError if none);
    ``check`` is the remote's proposal_check, applied to the lifetimes."""
    qm = v.quick_mode
    sas = [p for p in qm if isinstance(p, SA)]
    nonces = [p for p in qm if isinstance(p, Nonce)]
    if len(sas) != 1 or len(nonces) != 1:
        raise KinkError(f"CREATE's Quick Mode payloads hold {len(sas)} SA and {len(nonces)} "
                        "Nonce payloads, expected 1 each")
    chosen = _choose(sas[0], offers, check)
    if chosen is None:
        raise KinkError(f"no ESP transform offered by {v.client} is acceptable")
    proposal, offer, first = chosen
    return Request(v.msg.xid, v.client, v.peer_epoch, v.auth_context, v.session_key,
                   _spi(proposal), nonces[0].data, offer, first, _ids(qm))


def ids_of(v: Verified) -> tuple[Identification, ...]:
    """The CREATE's IDci and IDcr, or none."""
    return _ids(v.quick_mode)


def _choose(sa: SA, accepted: Sequence[EspOffer], check: ProposalCheck
            ) -> tuple[Proposal, EspOffer, bool] | None:
    if sa.doi != Doi.IPSEC:
        raise KinkError(f"SA payload with DOI {sa.doi}, expected the IPsec DOI")
    numbers = [p.number for p in sa.proposals]
    for i, proposal in enumerate(sa.proposals):
        # A proposal number shared by several proposals is an AND bundle (e.g. AH+ESP).
        if proposal.protocol != ProtocolId.IPSEC_ESP or numbers.count(proposal.number) > 1:
            continue
        for j, t in enumerate(proposal.transforms):
            try:
                offer = _offer(t)
            except KinkError:
                continue
            for a in accepted:
                life = lifetime_for(check, offer.lifetime, a.lifetime) if offer.matches(a) \
                    else None
                if life is not None:
                    return proposal, replace(offer, lifetime=life), i == 0 and j == 0
    return None


def build_reply(ctx: Context, request: Request, spi: int, nonce: bytes, *, epoch: int,
                ) -> tuple[bytes, ChildSa]:
    """The responder's REPLY and the SA pair it installs; ``spi`` is its inbound SPI.

    ``nonce`` is sent (and keyed in) only when the choice was not optimistic.
    """
    nr = b"" if request.optimistic else nonce
    sa = _sa(spi, (_transform(1, request.chosen),))
    qm: tuple[QmPayload, ...] = (sa,) if request.optimistic else (sa, Nonce(nr))
    try:
        ap_rep = ctx.mk_rep(request.auth_context)
        enc = _encrypt(ctx, request.session_key, qm + request.ids)
        data = _seal(ctx, request.session_key, kink.Message(
            kink.MsgType.REPLY, request.xid, (kink.ApRep(epoch, ap_rep), enc),
            ack_request=not request.optimistic))
        child = _child(ctx, request.session_key, request.chosen, spi, request.peer_spi,
                       request.nonce, nr, ack=not request.optimistic,
                       peer_epoch=request.peer_epoch)
    except Krb5Error as e:
        raise KinkError(f"cannot build REPLY: {e}") from e
    return data, child


def open_reply(ctx: Context, xid: int, auth_context: AuthContext, key: Keyblock,
               data: bytes) -> tuple[kink.Message, tuple[QmPayload, ...], int]:
    """Verify a REPLY to request ``xid``: (the message, its Quick Mode payloads, the peer's
    epoch).  A KRB_ERROR in it raises :class:`PeerKrbError`, a KINK_ERROR KinkError."""
    msg = _decode(data, kink.MsgType.REPLY)
    if msg.xid != xid:
        raise KinkError(f"REPLY XID {msg.xid}, expected {xid}")
    refused(ctx, msg)
    rep = _one(msg, kink.ApRep, "KINK_AP_REP")
    try:
        ctx.rd_rep(auth_context, rep.ap_rep)
        _verify(ctx, key, data, msg)
        has_encrypt = any(isinstance(p, kink.Encrypt) for p in msg.payloads)
        qm = _quick_mode(ctx, key, msg) if has_encrypt else ()
    except Krb5Error as e:
        raise KinkError(f"KINK_AP_REP does not verify: {e}") from e
    return msg, qm, rep.epoch


def refused(ctx: Context, msg: kink.Message) -> None:
    """Raise for a REPLY that carries a KRB_ERROR or a KINK_ERROR other than OK."""
    for p in msg.payloads:
        if isinstance(p, kink.KrbError):
            try:
                err = ctx.rd_error(p.krb_error)
            except Krb5Error as e:
                raise KinkError(f"REPLY carries an unreadable KRB_ERROR: {e}") from e
            raise PeerKrbError(err.error, err.stime, err.text)
        if isinstance(p, kink.Error) and p.code != kink.ErrorCode.OK:
            try:
                name = kink.ErrorCode(p.code).name
            except ValueError:
                name = str(p.code)
            raise KinkError(f"peer sent KINK_ERROR {name}")


def process_reply(ctx: Context, initiated: Initiated, data: bytes) -> ChildSa:
    """Verify the REPLY to ``initiated``'s CREATE and return the negotiated SA pair."""
    msg, qm, epoch = open_reply(ctx, initiated.xid, initiated.auth_context,
                                initiated.session_key, data)
    sas = [p for p in qm if isinstance(p, SA)]
    if len(sas) != 1 or len(sas[0].proposals) != 1 or len(sas[0].proposals[0].transforms) != 1:
        raise KinkError("REPLY must answer with one SA of one proposal and one transform")
    proposal = sas[0].proposals[0]
    if proposal.protocol != ProtocolId.IPSEC_ESP:
        raise KinkError(f"REPLY chose protocol {proposal.protocol}, expected ESP")
    chosen = _offer(proposal.transforms[0])
    if not any(chosen.matches(o) for o in initiated.offers):
        raise KinkError("REPLY chose an ESP transform that was not offered")
    nonces = [p.data for p in qm if isinstance(p, Nonce)]
    if len(nonces) > 1:
        raise KinkError(f"REPLY carries {len(nonces)} Nonce payloads")
    return _child(ctx, initiated.session_key, chosen, initiated.spi, _spi(proposal),
                  initiated.nonce, nonces[0] if nonces else b"",
                  ack=msg.ack_request, peer_epoch=epoch)


def build_request(ctx: Context, creds: Credentials, mtype: kink.MsgType, *, xid: int,
                  epoch: int, quick_mode: tuple[QmPayload, ...] = (),
                  ) -> tuple[bytes, Outstanding]:
    """An authenticated DELETE, STATUS or ACK with ``creds``' ticket; ``quick_mode`` (e.g. a
    Delete payload) travels encrypted."""
    try:
        ap_req, ac = ctx.mk_req_extended(creds, mutual=mtype != kink.MsgType.ACK)
        key = creds.session_key
        payloads: tuple[kink.Payload, ...] = (kink.ApReq(epoch, ap_req),)
        if quick_mode:
            payloads += (_encrypt(ctx, key, quick_mode),)
        data = _seal(ctx, key, kink.Message(mtype, xid, payloads))
    except Krb5Error as e:
        raise KinkError(f"cannot build {mtype.name}: {e}") from e
    return data, Outstanding(xid, ac, key)


def build_plain_reply(ctx: Context, v: Verified, *, epoch: int,
                      quick_mode: tuple[QmPayload, ...] = ()) -> bytes:
    """The REPLY to a verified DELETE or STATUS: AP_REP, and ``quick_mode`` encrypted."""
    try:
        payloads: tuple[kink.Payload, ...] = (kink.ApRep(epoch, ctx.mk_rep(v.auth_context)),)
        if quick_mode:
            payloads += (_encrypt(ctx, v.session_key, quick_mode),)
        return _seal(ctx, v.session_key, kink.Message(kink.MsgType.REPLY, v.msg.xid, payloads))
    except Krb5Error as e:
        raise KinkError(f"cannot build REPLY: {e}") from e


def delete_payload(spis: Sequence[int]) -> Delete:
    """The Quick Mode Delete payload naming ESP SPIs (the sender's inbound SAs)."""
    return Delete(Doi.IPSEC, ProtocolId.IPSEC_ESP, 4, tuple(struct.pack("!I", s) for s in spis))


def deleted_spis(quick_mode: tuple[QmPayload, ...]) -> list[int]:
    """The ESP SPIs the Delete payloads of a DELETE name."""
    out = []
    for p in quick_mode:
        if isinstance(p, Delete) and p.protocol == ProtocolId.IPSEC_ESP and p.spi_size == 4:
            out += [struct.unpack("!I", spi)[0] for spi in p.spis]
    return out


def error_reply(xid: int, code: kink.ErrorCode) -> bytes:
    """A REPLY with only a KINK_ERROR: for a request that cannot be authenticated."""
    return kink.encode(kink.Message(kink.MsgType.REPLY, xid, (kink.Error(code),)))


def krb_error_reply(ctx: Context, xid: int, error: int, server: str, text: str) -> bytes:
    """A REPLY with a KRB_ERROR (RFC 4430 §3.5: a ticket the responder cannot accept)."""
    return kink.encode(kink.Message(kink.MsgType.REPLY, xid, (
        kink.KrbError(ctx.mk_error(error, server, text=text)),)))


def build_gettgt(xid: int, realm: str) -> bytes:
    """GETTGT(TGT_REQ): ask the responder for its TGT of ``realm`` (user-to-user)."""
    return kink.encode(kink.Message(kink.MsgType.GETTGT, xid,
                                    (kink.TgtReq(kink.tgt_req_body(realm)),)))


def process_gettgt(data: bytes) -> tuple[int, str]:
    """(XID, realm) of a GETTGT."""
    msg = _decode(data, kink.MsgType.GETTGT)
    try:
        return msg.xid, kink.parse_tgt_req(_one(msg, kink.TgtReq, "KINK_TGT_REQ").body)
    except ParseError as e:
        raise KinkError(f"malformed GETTGT: {e}") from e


def build_tgt_reply(xid: int, principal: str, tgt: bytes) -> bytes:
    """REPLY(TGT_REP) with this host's principal and DER TGT."""
    return kink.encode(kink.Message(kink.MsgType.REPLY, xid,
                                    (kink.TgtRep(kink.tgt_rep_body(principal, tgt)),)))


def process_tgt_reply(ctx: Context, data: bytes, xid: int) -> tuple[str, bytes]:
    """(the responder's principal, its DER TGT) from the REPLY to GETTGT ``xid``."""
    msg = _decode(data, kink.MsgType.REPLY)
    if msg.xid != xid:
        raise KinkError(f"REPLY XID {msg.xid}, expected {xid}")
    refused(ctx, msg)
    try:
        return kink.parse_tgt_rep(_one(msg, kink.TgtRep, "KINK_TGT_REP").body)
    except ParseError as e:
        raise KinkError(f"malformed KINK_TGT_REP: {e}") from e


def _child(ctx: Context, key: Keyblock, offer: EspOffer, inbound_spi: int, outbound_spi: int,
           ni: bytes, nr: bytes, *, ack: bool, peer_epoch: int) -> ChildSa:
    # Both sides key an SA with the SPI its receiver chose and Ni_b | Nr_b in that order.
    try:
        inbound = esp_keys(ctx, key, inbound_spi, ni, nr, offer.encr, offer.integ)
        outbound = esp_keys(ctx, key, outbound_spi, ni, nr, offer.encr, offer.integ)
    except Krb5Error as e:
        raise KinkError(f"cannot derive KEYMAT with the session key: {e}") from e
    return ChildSa(offer, inbound_spi, outbound_spi, inbound, outbound, ack, peer_epoch)
