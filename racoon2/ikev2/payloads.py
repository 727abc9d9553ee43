"""IKEv2 payload bodies (RFC 7296 §3.3-3.16, RFC 7383 §2.5): one frozen dataclass each.

``decode_body(type, body, offset)`` and ``encode_body(payload)`` convert one payload's body (the
octets after the 4-byte generic header); :mod:`racoon2.ikev2.message` handles the chain.
Every payload keeps the generic header's flags octet (``flags``: the critical bit and the
reserved bits as received) so that valid input re-encodes byte for byte.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import Any, TypeVar

from racoon2.errors import ParseError
from racoon2.frozen import frozen
from racoon2.ikev2.constants import PayloadType as P
from racoon2.wire import BodyReader


@frozen
class Attribute:
    """A transform attribute: TV (``value`` int, 16 bits) or TLV (``value`` bytes)."""

    type: int
    value: int | bytes


@frozen
class Transform:
    """Transform substructure: type, id, attributes (Key Length is attribute 14)."""

    type: int
    id: int
    attributes: tuple[Attribute, ...] = ()

    @property
    def key_length(self) -> int | None:
        """The Key Length attribute, when present."""
        for a in self.attributes:
            if a.type == 14 and isinstance(a.value, int):
                return a.value
        return None


@frozen
class Proposal:
    """Proposal substructure."""

    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]


@frozen
class SA:
    """Security Association payload."""

    proposals: tuple[Proposal, ...]
    flags: int = field(default=0, compare=True)


@frozen
class KE:
    """Key Exchange payload."""

    group: int
    data: bytes
    flags: int = 0


@frozen
class IDi:
    """Identification - Initiator."""

    id_type: int
    data: bytes
    flags: int = 0


@frozen
class IDr:
    """Identification - Responder."""

    id_type: int
    data: bytes
    flags: int = 0


@frozen
class Cert:
    """Certificate payload."""

    encoding: int
    data: bytes
    flags: int = 0


@frozen
class CertReq:
    """Certificate Request payload (data: concatenated SHA-1 hashes of CA keys for X.509)."""

    encoding: int
    data: bytes
    flags: int = 0


@frozen
class Auth:
    """Authentication payload (RFC 7427 data: see :func:`split_signature_auth`)."""

    method: int
    data: bytes
    flags: int = 0


@frozen
class Nonce:
    """Nonce payload."""

    data: bytes
    flags: int = 0


@frozen
class Notify:
    """Notify payload."""

    protocol: int
    type: int
    spi: bytes = b""
    data: bytes = b""
    flags: int = 0


@frozen
class Delete:
    """Delete payload: SPIs of ``protocol`` (empty for the IKE SA)."""

    protocol: int
    spi_size: int
    spis: tuple[bytes, ...] = ()
    flags: int = 0


@frozen
class VendorId:
    """Vendor ID payload."""

    data: bytes
    flags: int = 0


@frozen
class TrafficSelector:
    """One traffic selector: type 7 (IPv4) or 8 (IPv6) address range, protocol, ports."""

    ts_type: int
    protocol: int
    start_port: int
    end_port: int
    start: bytes
    end: bytes

    @property
    def start_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The first address."""
        return ipaddress.ip_address(self.start)

    @property
    def end_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The last address."""
        return ipaddress.ip_address(self.end)


@frozen
class TSi:
    """Traffic Selector - Initiator."""

    selectors: tuple[TrafficSelector, ...]
    flags: int = 0


@frozen
class TSr:
    """Traffic Selector - Responder."""

    selectors: tuple[TrafficSelector, ...]
    flags: int = 0


@frozen
class SK:
    """Encrypted and Authenticated payload: IV | ciphertext | ICV, opaque here.

    ``first_inner`` is the generic header's Next Payload: the type of the first inner payload.
    """

    first_inner: int
    data: bytes
    flags: int = 0


@frozen
class SKF:
    """Encrypted fragment (RFC 7383): numbers, then IV | ciphertext | ICV."""

    first_inner: int
    number: int
    total: int
    data: bytes
    flags: int = 0


@frozen
class CP:
    """Configuration payload: (attribute type, value) pairs; the R bit kept in ``type``."""

    cfg_type: int
    attributes: tuple[tuple[int, bytes], ...] = ()
    flags: int = 0


@frozen
class EAP:
    """EAP payload: one EAP message."""

    message: bytes
    flags: int = 0


@frozen
class Unknown:
    """A payload type this codec does not know; ``critical`` tells RFC 7296 §2.5's answer."""

    type: int
    body: bytes
    flags: int = 0

    @property
    def critical(self) -> bool:
        """The critical bit: the receiver must reject the message if it does not know it."""
        return bool(self.flags & 0x80)


Payload = (SA | KE | IDi | IDr | Cert | CertReq | Auth | Nonce | Notify | Delete | VendorId
           | TSi | TSr | SK | SKF | CP | EAP | Unknown)

TYPES: dict[type, int] = {
    SA: P.SA, KE: P.KE, IDi: P.IDI, IDr: P.IDR, Cert: P.CERT, CertReq: P.CERTREQ,
    Auth: P.AUTH, Nonce: P.NONCE, Notify: P.NOTIFY, Delete: P.DELETE, VendorId: P.VENDOR_ID,
    TSi: P.TSI, TSr: P.TSR, SK: P.SK, SKF: P.SKF, CP: P.CP, EAP: P.EAP,
}


PayloadT = TypeVar("PayloadT")


def first(payloads: Sequence[Payload], kind: type[PayloadT]) -> PayloadT | None:
    """The first payload of class ``kind`` in ``payloads``, or None."""
    for p in payloads:
        if isinstance(p, kind):
            return p
    return None


def payload_type(p: Payload) -> int:
    """The Next Payload value that announces ``p``."""
    return p.type if isinstance(p, Unknown) else TYPES[type(p)]


@functools.lru_cache(maxsize=256)  # a payload type is one octet
def _name(t: int) -> str:
    # Every payload body's reader carries its name for errors: looked up once per type.
    try:
        return P(t).name
    except ValueError:
        return f"payload {t}"


def _attributes(r: BodyReader, off: int, end: int) -> tuple[Attribute, ...]:
    out = []
    while off < end:
        kind, value = r.unpack("!HH", off)
        if kind & 0x8000:
            out.append(Attribute(kind & 0x7FFF, value))
            off += 4
        else:
            out.append(Attribute(kind, r.take(off + 4, value)))
            off += 4 + value
    if off != end:
        raise r.fail(off, "attributes run past the transform")
    return tuple(out)


def _sa(r: BodyReader) -> SA:
    proposals = []
    off, last = 0, 2
    while off < len(r.data):
        if last == 0:
            raise r.fail(off, "data after the last proposal")
        last, _res, length, number, proto, spi_size, count = r.unpack("!BBHBBBB", off)
        if last not in (0, 2) or length < 8 or off + length > len(r.data):
            raise r.fail(off, f"proposal length {length} / last-substructure {last} invalid")
        spi = r.take(off + 8, spi_size)
        toff, end = off + 8 + spi_size, off + length
        transforms = _known_transforms(r.data[toff:end], count)
        if transforms is None:
            transforms = _transforms(r, toff, end, number, count)
        proposals.append(Proposal(number, proto, spi, transforms))
        off = end
    if last != 0:
        raise r.fail(off, "the last proposal is not marked last")
    return SA(tuple(proposals))


@functools.lru_cache(maxsize=256)
def _known_transforms(data: bytes, count: int) -> tuple[Transform, ...] | None:
    # A peer offers the same transforms in every SA payload (only a CHILD_SA proposal's SPI
    # changes): decoded once per distinct offer, None when invalid (then decoded again
    # where the error can name its offset in the message).
    try:
        return _transforms(BodyReader(data, "SA", 0), 0, len(data), 0, count)
    except ParseError:
        return None


def _transforms(r: BodyReader, toff: int, end: int, number: int, count: int
                ) -> tuple[Transform, ...]:
    transforms = []
    tlast = 3
    for _ in range(count):
        if tlast == 0 or toff >= end:
            raise r.fail(toff, f"proposal {number} announces {count} transforms")
        tlast, _r1, tlen, ttype, _r2, tid = r.unpack("!BBHBBH", toff)
        if tlast not in (0, 3) or tlen < 8 or toff + tlen > end:
            raise r.fail(toff, f"transform length {tlen} invalid")
        transforms.append(Transform(ttype, tid, _attributes(r, toff + 8, toff + tlen)))
        toff += tlen
    if toff != end or tlast != 0:
        raise r.fail(toff, f"proposal {number}'s transforms do not fill it")
    return tuple(transforms)


def _ts(r: BodyReader) -> tuple[TrafficSelector, ...]:
    (count,) = r.unpack("!B3x", 0)
    off = 4
    out = []
    for _ in range(count):
        ts_type, proto, length, sport, eport = r.unpack("!BBHHH", off)
        size = {7: 4, 8: 16}.get(ts_type)
        if size is None or length != 8 + 2 * size:
            raise r.fail(off, f"traffic selector type {ts_type} length {length} unsupported")
        out.append(TrafficSelector(ts_type, proto, sport, eport, r.take(off + 8, size),
                                   r.take(off + 8 + size, size)))
        off += length
    if off != len(r.data):
        raise r.fail(off, f"{len(r.data) - off} octets after {count} traffic selectors")
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _known_ts(data: bytes) -> tuple[TrafficSelector, ...] | None:
    # A peer proposes the same selectors in every exchange: decoded once per distinct body,
    # None when invalid or empty (then decoded where the error can name its offset).
    try:
        return _ts(BodyReader(data, "TS", 0))
    except ParseError:
        return None


#: A payload body's decoder: its reader, the payload's flags and the first inner payload.
Decoder = Callable[[BodyReader, int, int], Payload]


def _decode_sa(r: BodyReader, flags: int, first_inner: int) -> Payload:
    return SA(_sa(r).proposals, flags)


def _decode_ke(r: BodyReader, flags: int, first_inner: int) -> Payload:
    group, _ = r.unpack("!HH", 0)
    return KE(group, r.data[4:], flags)


def _typed(cls: Callable[[int, bytes, int], Payload], reserved: int) -> Decoder:
    """The decoder of a body that is a one-octet type, ``reserved`` octets and the data
    (ID and AUTH: three, RFC 7296 §3.5 and §3.8; CERT and CERTREQ: none, §3.6 and §3.7)."""
    fmt, start = f"!B{reserved}x" if reserved else "!B", 1 + reserved

    def decode(r: BodyReader, flags: int, first_inner: int) -> Payload:
        (kind,) = r.unpack(fmt, 0)
        return cls(kind, r.data[start:], flags)
    return decode


def _decode_notify(r: BodyReader, flags: int, first_inner: int) -> Payload:
    proto, spi_size, ntype = r.unpack("!BBH", 0)
    return Notify(proto, ntype, r.take(4, spi_size), r.data[4 + spi_size:], flags)


def _decode_delete(r: BodyReader, flags: int, first_inner: int) -> Payload:
    proto, spi_size, count = r.unpack("!BBH", 0)
    spis = tuple(r.take(4 + i * spi_size, spi_size) for i in range(count))
    if 4 + count * spi_size != len(r.data):
        raise r.fail(4, f"{count} SPIs of {spi_size} octets do not fill the payload")
    return Delete(proto, spi_size, spis, flags)


def _decode_skf(r: BodyReader, flags: int, first_inner: int) -> Payload:
    number, total = r.unpack("!HH", 0)
    if number == 0 or number > total:
        raise r.fail(0, f"fragment {number} of {total}")
    return SKF(first_inner, number, total, r.data[4:], flags)


def _decode_cp(r: BodyReader, flags: int, first_inner: int) -> Payload:
    (cfg_type,) = r.unpack("!B3x", 0)
    attrs, off = [], 4
    while off < len(r.data):
        atype, alen = r.unpack("!HH", off)
        attrs.append((atype, r.take(off + 4, alen)))
        off += 4 + alen
    return CP(cfg_type, tuple(attrs), flags)


#: Each known payload type's body decoder (a table, not a chain of tests: a message's many
#: Notify payloads would each be compared with every type before them).
_DECODERS: dict[int, Decoder] = {
    P.SA: _decode_sa, P.KE: _decode_ke, P.IDI: _typed(IDi, 3), P.IDR: _typed(IDr, 3),
    P.AUTH: _typed(Auth, 3), P.CERT: _typed(Cert, 0), P.CERTREQ: _typed(CertReq, 0),
    P.NONCE: lambda r, flags, _: Nonce(r.data, flags),
    P.NOTIFY: _decode_notify, P.DELETE: _decode_delete,
    P.VENDOR_ID: lambda r, flags, _: VendorId(r.data, flags),
    P.TSI: lambda r, flags, _: TSi(_known_ts(r.data) or _ts(r), flags),
    P.TSR: lambda r, flags, _: TSr(_known_ts(r.data) or _ts(r), flags),
    P.SK: lambda r, flags, first_inner: SK(first_inner, r.data, flags),
    P.SKF: _decode_skf, P.CP: _decode_cp,
    P.EAP: lambda r, flags, _: EAP(r.data, flags),
}


def decode_body(kind: int, body: bytes, flags: int, first_inner: int, base: int) -> Payload:
    """One payload from its body; ``base`` is the body's offset in the message."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        return Unknown(kind, body, flags)
    return decoder(BodyReader(body, _name(kind), base), flags, first_inner)


def _encode_attributes(attrs: tuple[Attribute, ...]) -> bytes:
    out = []
    for a in attrs:
        if isinstance(a.value, int):
            out.append(struct.pack("!HH", a.type | 0x8000, a.value))
        else:
            out.append(struct.pack("!HH", a.type, len(a.value)) + a.value)
    return b"".join(out)


def _encode_sa(sa: SA) -> bytes:
    out = []
    for i, p in enumerate(sa.proposals):
        ts = []
        for j, t in enumerate(p.transforms):
            attrs = _encode_attributes(t.attributes)
            ts.append(struct.pack("!BBHBBH", 0 if j == len(p.transforms) - 1 else 3, 0,
                                  8 + len(attrs), t.type, 0, t.id) + attrs)
        body = b"".join(ts)
        out.append(struct.pack("!BBHBBBB", 0 if i == len(sa.proposals) - 1 else 2, 0,
                               8 + len(p.spi) + len(body), p.number, p.protocol, len(p.spi),
                               len(p.transforms)) + p.spi + body)
    return b"".join(out)


def _encode_ts(selectors: tuple[TrafficSelector, ...]) -> bytes:
    return struct.pack("!B3x", len(selectors)) + b"".join(
        struct.pack("!BBHHH", s.ts_type, s.protocol, 8 + len(s.start) + len(s.end),
                    s.start_port, s.end_port) + s.start + s.end for s in selectors)


#: Each payload class's body encoder (a table, as :data:`_DECODERS`).
_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    SA: _encode_sa,
    KE: lambda p: struct.pack("!HH", p.group, 0) + p.data,
    IDi: lambda p: struct.pack("!B3x", p.id_type) + p.data,
    IDr: lambda p: struct.pack("!B3x", p.id_type) + p.data,
    Auth: lambda p: struct.pack("!B3x", p.method) + p.data,
    Cert: lambda p: bytes([p.encoding]) + p.data,
    CertReq: lambda p: bytes([p.encoding]) + p.data,
    Nonce: lambda p: p.data,
    VendorId: lambda p: p.data,
    EAP: lambda p: p.message,
    Notify: lambda p: struct.pack("!BBH", p.protocol, len(p.spi), p.type) + p.spi + p.data,
    Delete: lambda p: struct.pack("!BBH", p.protocol, p.spi_size, len(p.spis)) + b"".join(p.spis),
    TSi: lambda p: _encode_ts(p.selectors),
    TSr: lambda p: _encode_ts(p.selectors),
    SK: lambda p: p.data,
    SKF: lambda p: struct.pack("!HH", p.number, p.total) + p.data,
    CP: lambda p: struct.pack("!B3x", p.cfg_type) + b"".join(
        struct.pack("!HH", t, len(v)) + v for t, v in p.attributes),
    Unknown: lambda p: p.body,
}


def encode_body(p: Payload) -> bytes:
    """The body of ``p`` (without the generic header)."""
    encoder = _ENCODERS.get(type(p))
    if encoder is None:
        raise TypeError(f"not an IKEv2 payload: {p!r}")
    return encoder(p)


def split_signature_auth(data: bytes) -> tuple[bytes, bytes]:
    """RFC 7427 AUTH data → (DER AlgorithmIdentifier, signature)."""
    if not data or data[0] + 1 > len(data):
        raise ParseError("AUTH", 8, "the AlgorithmIdentifier length runs past the payload")
    return data[1:1 + data[0]], data[1 + data[0]:]


def signature_auth(algorithm_identifier: bytes, signature: bytes) -> bytes:
    """RFC 7427 AUTH data from an AlgorithmIdentifier and a signature."""
    if len(algorithm_identifier) > 255:
        raise ValueError("AlgorithmIdentifier longer than 255 octets")
    return bytes([len(algorithm_identifier)]) + algorithm_identifier + signature
