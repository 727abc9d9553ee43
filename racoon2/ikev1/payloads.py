"""ISAKMP payload bodies (RFC 2408 §3.4-3.16, RFC 2407 §4.5-4.6, RFC 3947 §3-4, the mode-config
draft, the Cisco/strongSwan fragment): one frozen dataclass each.

``decode_body(type, body, base)`` and ``encode_body(payload)`` convert one payload's body (the
octets after the 4-byte generic header); :mod:`racoon2.ikev1.message` handles the chain.
RESERVED fields must be zero (RFC 2408 §3) and are refused otherwise, so whatever decodes
re-encodes byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from racoon2.ikev1.constants import FRAGMENT_LAST, IdType, Situation
from racoon2.ikev1.constants import PayloadType as P
from racoon2.wire import BodyReader


@dataclass(frozen=True, slots=True)
class Attribute:
    """A data attribute: TV (``value`` int, 16 bits, the AF bit set) or TLV (``value`` bytes)."""

    type: int
    value: int | bytes

    @property
    def as_int(self) -> int:
        """The value as an unsigned integer, whichever form carried it (e.g. Life Duration)."""
        if isinstance(self.value, int):
            return self.value
        return int.from_bytes(self.value, "big")


@dataclass(frozen=True, slots=True)
class Transform:
    """Transform payload (RFC 2408 §3.6): number, transform ID, SA attributes."""

    number: int
    id: int
    attributes: tuple[Attribute, ...] = ()

    def attribute(self, kind: int) -> Attribute | None:
        """The first attribute of class ``kind``, when present."""
        return next((a for a in self.attributes if a.type == kind), None)


@dataclass(frozen=True, slots=True)
class Proposal:
    """Proposal payload (RFC 2408 §3.5); proposals sharing a number are one AND-ed offer."""

    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]


@dataclass(frozen=True, slots=True)
class SA:
    """Security Association payload with a 4-octet situation (the ISAKMP and IPsec DOIs)."""

    doi: int
    situation: int
    proposals: tuple[Proposal, ...]


@dataclass(frozen=True, slots=True)
class KE:
    """Key Exchange payload: the DH public value."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Identification:
    """Identification payload in the IPsec DOI's layout (RFC 2407 §4.6.2), Phase 1 and 2."""

    id_type: int
    data: bytes
    protocol: int = 0
    port: int = 0


@dataclass(frozen=True, slots=True)
class Cert:
    """Certificate payload."""

    encoding: int
    data: bytes


@dataclass(frozen=True, slots=True)
class CertReq:
    """Certificate Request payload: a certificate type and a CA's DER DN (or nothing)."""

    encoding: int
    authority: bytes = b""


@dataclass(frozen=True, slots=True)
class Hash:
    """Hash payload."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Signature:
    """Signature payload."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Nonce:
    """Nonce payload."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Notification:
    """Notification payload (RFC 2408 §3.14); a DPD R-U-THERE carries the cookies as SPI and a
    4-octet sequence number as data (RFC 3706 §5)."""

    doi: int
    protocol: int
    type: int
    spi: bytes = b""
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete payload: SPIs of ``spi_size`` octets (16, the cookies, for the ISAKMP SA)."""

    doi: int
    protocol: int
    spi_size: int
    spis: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class VendorId:
    """Vendor ID payload."""

    data: bytes


@dataclass(frozen=True, slots=True)
class NatD:
    """NAT-Discovery payload (RFC 3947 §3.2): a hash; ``draft`` means type 130, not 20."""

    data: bytes
    draft: bool = False


@dataclass(frozen=True, slots=True)
class NatOA:
    """NAT Original Address payload (RFC 3947 §5.1): ID_IPV4_ADDR or ID_IPV6_ADDR and the
    address; ``draft`` means type 131, not 21."""

    id_type: int
    address: bytes
    draft: bool = False


@dataclass(frozen=True, slots=True)
class ModeCfg:
    """Attribute payload (type 14: mode-config and XAUTH) with data attributes."""

    cfg_type: int
    identifier: int
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True, slots=True)
class Fragment:
    """IKEv1 fragment (type 132): one slice of a whole ISAKMP message, header included."""

    fragment_id: int
    number: int
    data: bytes
    flags: int = 0

    @property
    def last(self) -> bool:
        """The LAST_FRAGMENT flag."""
        return bool(self.flags & FRAGMENT_LAST)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A payload type this codec does not know (RFC 2408 §5.2: INVALID-PAYLOAD-TYPE)."""

    type: int
    body: bytes


Payload = (SA | KE | Identification | Cert | CertReq | Hash | Signature | Nonce | Notification
           | Delete | VendorId | NatD | NatOA | ModeCfg | Fragment | Unknown)

TYPES: dict[type, int] = {
    SA: P.SA, KE: P.KE, Identification: P.ID, Cert: P.CERT, CertReq: P.CR, Hash: P.HASH,
    Signature: P.SIG, Nonce: P.NONCE, Notification: P.NOTIFICATION, Delete: P.DELETE,
    VendorId: P.VENDOR_ID, ModeCfg: P.ATTRIBUTE, Fragment: P.FRAGMENT,
}

_NAT_OA_SIZE: dict[int, int] = {IdType.IPV4_ADDR: 4, IdType.IPV6_ADDR: 16}


def payload_type(p: Payload) -> int:
    """The Next Payload value that announces ``p``."""
    match p:
        case Unknown():
            return p.type
        case NatD():
            return P.NAT_D_DRAFT if p.draft else P.NAT_D
        case NatOA():
            return P.NAT_OA_DRAFT if p.draft else P.NAT_OA
    return TYPES[type(p)]


def payload_name(t: int) -> str:
    """The payload type's registry name, or its number."""
    try:
        return P(t).name
    except ValueError:
        return f"payload {t}"


def _attributes(r: BodyReader, off: int, end: int) -> tuple[Attribute, ...]:
    out = []
    while off < end:
        if off + 4 > end:
            raise r.fail(off, f"attribute header needs 4 octets, {end - off} left")
        kind, value = r.unpack("!HH", off)
        if kind & 0x8000:
            out.append(Attribute(kind & 0x7FFF, value))
            off += 4
        else:
            if off + 4 + value > end:
                raise r.fail(off + 2, f"attribute {kind}'s length {value} runs past its container")
            out.append(Attribute(kind, r.take(off + 4, value)))
            off += 4 + value
    return tuple(out)


def decode_attributes(data: bytes, what: str = "attributes") -> tuple[Attribute, ...]:
    """Data attributes outside an SA payload (a RESPONDER-LIFETIME notify's data)."""
    return _attributes(BodyReader(data, what, 0), 0, len(data))


def _substructure(r: BodyReader, off: int, end: int, kind: int, what: str) -> tuple[int, int]:
    """(Next Payload, Payload Length) of a proposal or transform at ``off``, checked."""
    nxt, reserved, length = r.unpack("!BBH", off)
    if nxt not in (0, kind):
        raise r.fail(off, f"{what} followed by payload type {nxt}")
    r.zero(off + 1, reserved, "RESERVED")
    if length < 8 or off + length > end:
        raise r.fail(off + 2, f"{what} length {length} with {end - off} octets left")
    return nxt, length


def _sa(r: BodyReader) -> SA:
    doi, situation = r.unpack("!II", 0)
    if situation & (Situation.SECRECY | Situation.INTEGRITY):
        # labelled situations carry variable fields no peer uses; racoon refuses them too
        raise r.fail(4, f"situation {situation:#x}: labelled domains are not supported")
    proposals = []
    off, end = 8, len(r.data)
    nxt: int = P.PROPOSAL
    while off < end:
        if nxt == 0:
            raise r.fail(off, "data after the last proposal")
        nxt, length = _substructure(r, off, end, P.PROPOSAL, "proposal")
        number, proto, spi_size, count = r.unpack("!BBBB", off + 4)
        spi = r.take(off + 8, spi_size)
        toff, pend = off + 8 + spi_size, off + length
        if toff > pend:
            raise r.fail(off + 6, f"SPI size {spi_size} runs past the proposal")
        transforms = []
        tnxt: int = P.TRANSFORM
        for _ in range(count):
            if tnxt == 0 or toff >= pend:
                raise r.fail(toff, f"proposal {number} announces {count} transforms")
            tnxt, tlen = _substructure(r, toff, pend, P.TRANSFORM, "transform")
            tnum, tid, reserved = r.unpack("!BBH", toff + 4)
            r.zero(toff + 6, reserved, "transform RESERVED2")
            transforms.append(Transform(tnum, tid, _attributes(r, toff + 8, toff + tlen)))
            toff += tlen
        if toff != pend or tnxt != 0:
            raise r.fail(toff, f"proposal {number}'s {count} transforms do not end it")
        proposals.append(Proposal(number, proto, spi, tuple(transforms)))
        off = pend
    if nxt != 0:
        raise r.fail(off, "the last proposal is not marked last")
    return SA(doi, situation, tuple(proposals))


def _nat_oa(r: BodyReader, draft: bool) -> NatOA:
    id_type, reserved, reserved2 = r.unpack("!BBH", 0)
    r.zero(1, reserved << 16 | reserved2, "RESERVED")
    size = _NAT_OA_SIZE.get(id_type)
    if size is None or len(r.data) != 4 + size:
        raise r.fail(0, f"ID type {id_type} with {len(r.data) - 4} address octets")
    return NatOA(id_type, r.data[4:], draft)


def decode_body(kind: int, body: bytes, base: int) -> Payload:
    """One payload from its body; ``base`` is the body's offset in the message."""
    r = BodyReader(body, payload_name(kind), base)
    if kind == P.SA:
        return _sa(r)
    if kind == P.KE:
        return KE(body)
    if kind == P.HASH:
        return Hash(body)
    if kind == P.SIG:
        return Signature(body)
    if kind == P.NONCE:
        return Nonce(body)
    if kind == P.VENDOR_ID:
        return VendorId(body)
    if kind == P.ID:
        id_type, proto, port = r.unpack("!BBH", 0)
        return Identification(id_type, body[4:], proto, port)
    if kind in (P.CERT, P.CR):
        (first,) = r.unpack("!B", 0)
        return (Cert if kind == P.CERT else CertReq)(first, body[1:])
    if kind == P.NOTIFICATION:
        doi, proto, spi_size, ntype = r.unpack("!IBBH", 0)
        return Notification(doi, proto, ntype, r.take(8, spi_size), body[8 + spi_size:])
    if kind == P.DELETE:
        doi, proto, spi_size, count = r.unpack("!IBBH", 0)
        if 8 + count * spi_size != len(body):
            raise r.fail(6, f"{count} SPIs of {spi_size} octets in a {len(body)}-octet body")
        spis = tuple(body[8 + i * spi_size:8 + (i + 1) * spi_size] for i in range(count))
        return Delete(doi, proto, spi_size, spis)
    if kind in (P.NAT_D, P.NAT_D_DRAFT):
        return NatD(body, kind == P.NAT_D_DRAFT)
    if kind in (P.NAT_OA, P.NAT_OA_DRAFT):
        return _nat_oa(r, kind == P.NAT_OA_DRAFT)
    if kind == P.ATTRIBUTE:
        cfg_type, reserved, identifier = r.unpack("!BBH", 0)
        r.zero(1, reserved, "RESERVED")
        return ModeCfg(cfg_type, identifier, _attributes(r, 4, len(body)))
    if kind == P.FRAGMENT:
        fid, number, flags = r.unpack("!HBB", 0)
        if number == 0:
            raise r.fail(2, "fragment number 0 (they count from 1)")
        return Fragment(fid, number, body[4:], flags)
    if kind in (P.PROPOSAL, P.TRANSFORM):
        raise r.fail(-4, "a proposal or transform outside an SA payload")
    return Unknown(kind, body)


def _u16(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} {value} does not fit 16 bits")
    return value


def encode_attributes(attrs: tuple[Attribute, ...]) -> bytes:
    """Data attributes in their TV (int value) or TLV (bytes value) form."""
    out = []
    for a in attrs:
        if a.type >> 15:
            raise ValueError(f"attribute type {a.type} does not fit 15 bits")
        if isinstance(a.value, int):
            out.append(struct.pack("!HH", a.type | 0x8000, _u16(a.value, "TV value")))
        else:
            out.append(struct.pack("!HH", a.type, _u16(len(a.value), "TLV length")) + a.value)
    return b"".join(out)


def _encode_sa(sa: SA) -> bytes:
    # an SA offers at least one proposal of at least one transform; decode() refuses less
    if not sa.proposals or not all(p.transforms for p in sa.proposals):
        raise ValueError("an SA needs proposals and each proposal transforms")
    out = [struct.pack("!II", sa.doi, sa.situation)]
    for i, p in enumerate(sa.proposals):
        ts = []
        for j, t in enumerate(p.transforms):
            attrs = encode_attributes(t.attributes)
            nxt = P.TRANSFORM if j + 1 < len(p.transforms) else 0
            ts.append(struct.pack("!BBHBBH", nxt, 0, _u16(8 + len(attrs), "transform length"),
                                  t.number, t.id, 0) + attrs)
        body = b"".join(ts)
        nxt = P.PROPOSAL if i + 1 < len(sa.proposals) else 0
        out.append(struct.pack("!BBHBBBB", nxt, 0,
                               _u16(8 + len(p.spi) + len(body), "proposal length"), p.number,
                               p.protocol, len(p.spi), len(p.transforms)) + p.spi + body)
    return b"".join(out)


def encode_body(p: Payload) -> bytes:
    """The body of ``p`` (without the generic header)."""
    match p:
        case SA():
            return _encode_sa(p)
        case KE(data) | Hash(data) | Signature(data) | Nonce(data) | VendorId(data) | NatD(data):
            return data
        case Identification(id_type, data, proto, port):
            return struct.pack("!BBH", id_type, proto, port) + data
        case Cert(enc, data) | CertReq(enc, data):
            return bytes([enc]) + data
        case Notification(doi, proto, ntype, spi, data):
            return struct.pack("!IBBH", doi, proto, len(spi), ntype) + spi + data
        case Delete(doi, proto, size, spis):
            if any(len(s) != size for s in spis):
                raise ValueError(f"Delete SPIs must all be {size} octets")
            return struct.pack("!IBBH", doi, proto, size, len(spis)) + b"".join(spis)
        case NatOA(id_type, address):
            if _NAT_OA_SIZE.get(id_type) != len(address):
                raise ValueError(f"NAT-OA ID type {id_type} with a {len(address)}-octet address")
            return struct.pack("!B3x", id_type) + address
        case ModeCfg(cfg_type, identifier, attrs):
            return struct.pack("!BxH", cfg_type, identifier) + encode_attributes(attrs)
        case Fragment(fid, number, data, flags):
            return struct.pack("!HBB", fid, number, flags) + data
        case Unknown(_t, body):
            return body
    raise TypeError(f"not an ISAKMP payload: {p!r}")
