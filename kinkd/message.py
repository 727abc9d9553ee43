"""KINK messages (RFC 4430 §4), pure: bytes ⇄ typed payloads, byte-exact both ways.

A message is a 16-byte header, a chain of payloads (each padded to 4 octets; the Payload Length
field counts the 4-byte payload header and the value, not the padding) and a trailing Kerberos
checksum of ``CksumLen`` octets.  The Kerberos blobs (AP-REQ, AP-REP, KRB-ERROR, TGT) and the
embedded IKEv1 Quick Mode payloads are kept as bytes; other layers give them meaning.  The
checksum covers the message as :func:`checksum_input` shows (RFC 4430 §4.1.1: Length reduced by
CksumLen, CksumLen zero, checksum removed).  Malformed input raises ParseError naming the payload
and offset.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from racoon2.errors import ParseError

HEADER = struct.Struct("!BBHIIBBH")
PAYLOAD = struct.Struct("!BBH")
VERSION = 0x10          # major 1, minor 0
QM_VERSION = 0x10       # IKEv1 Quick Mode version inside KINK_ISAKMP
IPSEC_DOI = 1
FLAG_ACKREQ = 0x80
KEY_USAGE_ENCRYPT = 39  # RFC 4430 §4.2.8: KINK_ENCRYPT's Kerberos key usage
KEY_USAGE_CKSUM = 40    # RFC 4430 §4.1.1: the checksum's key usage


class MsgType(enum.IntEnum):
    """KINK message types."""

    CREATE = 1
    DELETE = 2
    REPLY = 3
    GETTGT = 4
    ACK = 5
    STATUS = 6


class PayloadType(enum.IntEnum):
    """KINK payload types."""

    AP_REQ = 1
    AP_REP = 2
    KRB_ERROR = 3
    TGT_REQ = 4
    TGT_REP = 5
    ISAKMP = 6
    ENCRYPT = 7
    ERROR = 8


class ErrorCode(enum.IntEnum):
    """KINK_ERROR codes."""

    OK = 0
    PROTOERR = 1
    INVDOI = 2
    INVMAJ = 3
    INVMIN = 4
    INTERR = 5
    BADQMVERS = 6


@dataclass(frozen=True, slots=True)
class ApReq:
    """KINK_AP_REQ: the sender's epoch and a Kerberos AP-REQ."""

    epoch: int
    ap_req: bytes


@dataclass(frozen=True, slots=True)
class ApRep:
    """KINK_AP_REP: the sender's epoch and a Kerberos AP-REP."""

    epoch: int
    ap_rep: bytes


@dataclass(frozen=True, slots=True)
class KrbError:
    """KINK_KRB_ERROR: a Kerberos KRB-ERROR."""

    krb_error: bytes


@dataclass(frozen=True, slots=True)
class TgtReq:
    """KINK_TGT_REQ (kept whole: user-to-user support lives in the Kerberos layer)."""

    body: bytes


@dataclass(frozen=True, slots=True)
class TgtRep:
    """KINK_TGT_REP."""

    body: bytes


@dataclass(frozen=True, slots=True)
class Isakmp:
    """KINK_ISAKMP: IKEv1 Quick Mode payloads, first of type ``inner_next``."""

    inner_next: int
    payloads: bytes
    qm_version: int = QM_VERSION


@dataclass(frozen=True, slots=True)
class Encrypt:
    """KINK_ENCRYPT: everything after the generic header is ciphertext (key usage 39).

    The plaintext starts with InnerNextPload and RESERVED2, then the inner chain: the original
    kinkd encrypts from InnerNextPload on, and the KINK dissector its authors wrote for
    Wireshark decrypts from there.  :func:`encrypt_plaintext` and :func:`decrypted_chain`
    build and read that plaintext.
    """

    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class Error:
    """KINK_ERROR."""

    code: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """A payload type this codec does not know, kept for byte-exact re-encoding."""

    type: int
    body: bytes


Payload = ApReq | ApRep | KrbError | TgtReq | TgtRep | Isakmp | Encrypt | Error | Unknown


@dataclass(frozen=True, slots=True)
class Message:
    """One KINK message."""

    type: int
    xid: int
    payloads: tuple[Payload, ...] = ()
    ack_request: bool = False
    checksum: bytes = b""
    doi: int = IPSEC_DOI
    version: int = VERSION
    flags: int = 0  # bits other than ACKREQ, kept as received


def _type_of(p: Payload) -> int:
    if isinstance(p, Unknown):
        return p.type
    return {ApReq: PayloadType.AP_REQ, ApRep: PayloadType.AP_REP,
            KrbError: PayloadType.KRB_ERROR, TgtReq: PayloadType.TGT_REQ,
            TgtRep: PayloadType.TGT_REP, Isakmp: PayloadType.ISAKMP,
            Encrypt: PayloadType.ENCRYPT, Error: PayloadType.ERROR}[type(p)]


def _value(p: Payload) -> bytes:
    match p:
        case ApReq(epoch, blob) | ApRep(epoch, blob):
            return struct.pack("!I", epoch) + blob
        case KrbError(blob) | TgtReq(blob) | TgtRep(blob) | Unknown(_, blob):
            return blob
        case Isakmp(inner, payloads, qm):
            return struct.pack("!BBH", inner, qm, 0) + payloads
        case Encrypt(ciphertext):
            return ciphertext
        case Error(code):
            return struct.pack("!I", code)
    raise TypeError(f"not a KINK payload: {p!r}")


def encode_chain(payloads: tuple[Payload, ...]) -> tuple[int, bytes]:
    """(first payload type, the padded chain) — also the plaintext inside KINK_ENCRYPT."""
    out = []
    for i, p in enumerate(payloads):
        value = _value(p)
        nxt = _type_of(payloads[i + 1]) if i + 1 < len(payloads) else 0
        length = PAYLOAD.size + len(value)
        if length > 0xFFFF:
            raise ValueError(f"KINK payload of {length} octets is too long")
        out.append(PAYLOAD.pack(nxt, 0, length) + value + bytes(-length % 4))
    return (_type_of(payloads[0]) if payloads else 0), b"".join(out)


def encrypt_plaintext(payloads: tuple[Payload, ...]) -> bytes:
    """What KINK_ENCRYPT encrypts: InnerNextPload, RESERVED2 (3 octets), the chain."""
    first, chain = encode_chain(payloads)
    return struct.pack("!B3x", first) + chain


def decrypted_chain(plain: bytes) -> tuple[Payload, ...]:
    """The payloads of a decrypted KINK_ENCRYPT (ParseError when malformed)."""
    if len(plain) < 4:
        raise ParseError("KINK_ENCRYPT", 0, f"{len(plain)} decrypted octets, expected at least 4")
    if plain[1:4] != bytes(3):
        raise ParseError("KINK_ENCRYPT", 1, "RESERVED2 is not zero")
    return decode_chain(plain[4:], plain[0], base=4)


def encode(msg: Message) -> bytes:
    """The message's bytes, Length and CksumLen filled in."""
    first, chain = encode_chain(msg.payloads)
    length = HEADER.size + len(chain) + len(msg.checksum)
    flags = msg.flags | (FLAG_ACKREQ if msg.ack_request else 0)
    return HEADER.pack(msg.type, msg.version, length, msg.doi, msg.xid, first, flags,
                       len(msg.checksum)) + chain + msg.checksum


def checksum_input(data: bytes) -> bytes:
    """What the Kerberos checksum covers: no checksum, Length less CksumLen, CksumLen 0."""
    if len(data) < HEADER.size:
        raise ParseError("KINK header", 0, f"{len(data)} octets, expected {HEADER.size}")
    mtype, ver, length, doi, xid, nxt, flags, cklen = HEADER.unpack_from(data)
    if cklen > length - HEADER.size or length > len(data):
        raise ParseError("KINK header", 14, f"CksumLen {cklen} does not fit Length {length}")
    return HEADER.pack(mtype, ver, length - cklen, doi, xid, nxt, flags, 0) + \
        data[HEADER.size:length - cklen]


def decode_chain(data: bytes, first: int, base: int = HEADER.size) -> tuple[Payload, ...]:
    """A payload chain starting with type ``first``; ``base`` offsets error positions."""
    payloads: list[Payload] = []
    off, nxt = 0, first
    while nxt:
        where = base + off
        if off + PAYLOAD.size > len(data):
            raise ParseError(_name(nxt), where, "payload header runs past the message")
        following, _reserved, length = PAYLOAD.unpack_from(data, off)
        if length < PAYLOAD.size or off + length > len(data):
            raise ParseError(_name(nxt), where + 2, f"Payload Length {length} is invalid")
        value = data[off + PAYLOAD.size:off + length]
        payloads.append(_payload(nxt, value, where))
        off += length + (-length % 4)
        nxt = following
        if off > len(data):
            raise ParseError(_name(nxt), where, "padding runs past the message")
    if off != len(data):
        raise ParseError("KINK payloads", base + off, f"{len(data) - off} octets after the "
                         "last payload")
    return tuple(payloads)


def _name(t: int) -> str:
    try:
        return "KINK_" + PayloadType(t).name
    except ValueError:
        return f"KINK payload {t}"


def _payload(t: int, value: bytes, where: int) -> Payload:
    if t in (PayloadType.AP_REQ, PayloadType.AP_REP, PayloadType.ERROR):
        if len(value) < 4:
            raise ParseError(_name(t), where + 4, f"{len(value)} octets, expected at least 4")
        (word,) = struct.unpack_from("!I", value)
        if t == PayloadType.AP_REQ:
            return ApReq(word, value[4:])
        if t == PayloadType.AP_REP:
            return ApRep(word, value[4:])
        if len(value) != 4:
            raise ParseError(_name(t), where + 4, f"{len(value)} octets, expected 4")
        return Error(word)
    if t == PayloadType.ENCRYPT:
        return Encrypt(value)
    if t == PayloadType.ISAKMP:
        if len(value) < 4:
            raise ParseError(_name(t), where + 4, f"{len(value)} octets, expected at least 4")
        inner, qm, reserved = struct.unpack_from("!BBH", value)
        if reserved:
            raise ParseError(_name(t), where + 6, "RESERVED is not zero")
        return Isakmp(inner, value[4:], qm)
    if t == PayloadType.KRB_ERROR:
        return KrbError(value)
    if t == PayloadType.TGT_REQ:
        return TgtReq(value)
    if t == PayloadType.TGT_REP:
        return TgtRep(value)
    return Unknown(t, value)


def decode(data: bytes) -> Message:
    """One KINK datagram (trailing octets beyond Length are ignored, as the original did)."""
    if len(data) < HEADER.size:
        raise ParseError("KINK header", 0, f"{len(data)} octets, expected {HEADER.size}")
    mtype, ver, length, doi, xid, first, flags, cklen = HEADER.unpack_from(data)
    if length < HEADER.size or length > len(data):
        raise ParseError("KINK header", 2, f"Length {length} with {len(data)} octets received")
    if cklen > length - HEADER.size:
        raise ParseError("KINK header", 14, f"CksumLen {cklen} exceeds the message")
    body = data[HEADER.size:length - cklen]
    return Message(mtype, xid, decode_chain(body, first), bool(flags & FLAG_ACKREQ),
                   data[length - cklen:length], doi, ver, flags & ~FLAG_ACKREQ)


def tgt_req_body(realm: str) -> bytes:
    """KINK_TGT_REQ's value: RealmNameLength and the realm whose TGT is wanted."""
    name = realm.encode()
    return struct.pack("!H", len(name)) + name


def parse_tgt_req(body: bytes) -> str:
    """The realm a KINK_TGT_REQ asks for (ParseError when malformed)."""
    if len(body) < 2:
        raise ParseError("KINK_TGT_REQ", 4, f"{len(body)} octets, expected at least 2")
    (n,) = struct.unpack_from("!H", body)
    if 2 + n > len(body):
        raise ParseError("KINK_TGT_REQ", 4, f"RealmNameLength {n} runs past the payload")
    return body[2:2 + n].decode(errors="replace")


def tgt_rep_body(principal: str, tgt: bytes) -> bytes:
    """KINK_TGT_REP's value: PrincNameLength, PrincName, padding to 4 octets of the payload,
    TGTlength and the DER Ticket."""
    name = principal.encode()
    head = struct.pack("!H", len(name)) + name
    pad = -(PAYLOAD.size + len(head)) % 4
    return head + bytes(pad) + struct.pack("!H", len(tgt)) + tgt


def parse_tgt_rep(body: bytes) -> tuple[str, bytes]:
    """(the responder's principal, its DER TGT) from a KINK_TGT_REP (ParseError if malformed)."""
    if len(body) < 2:
        raise ParseError("KINK_TGT_REP", 4, f"{len(body)} octets, expected at least 2")
    (n,) = struct.unpack_from("!H", body)
    off = 2 + n + (-(PAYLOAD.size + 2 + n) % 4)
    if off + 2 > len(body):
        raise ParseError("KINK_TGT_REP", 4, f"PrincNameLength {n} runs past the payload")
    (t,) = struct.unpack_from("!H", body, off)
    if off + 2 + t > len(body):
        raise ParseError("KINK_TGT_REP", 4 + off, f"TGTlength {t} runs past the payload")
    return body[2:2 + n].decode(errors="replace"), body[off + 2:off + 2 + t]


def check_header(msg: Message) -> ErrorCode:
    """The KINK_ERROR a responder answers for a bad header (RFC 4430 §4.2.7), or OK."""
    if msg.version >> 4 != VERSION >> 4:
        return ErrorCode.INVMAJ
    if msg.version & 0x0F != VERSION & 0x0F:
        return ErrorCode.INVMIN
    if msg.doi != IPSEC_DOI:
        return ErrorCode.INVDOI
    for p in msg.payloads:
        if isinstance(p, Isakmp) and p.qm_version != QM_VERSION:
            return ErrorCode.BADQMVERS
    return ErrorCode.OK
