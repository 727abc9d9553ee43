"""ISAKMP messages (RFC 2408 §3.1-3.2): the 28-octet header and the payload chain, pure.

``decode(bytes) -> Message`` and ``encode(Message) -> bytes`` are exact inverses on valid input;
malformed input (non-zero RESERVED octets included) raises one :class:`ParseError` naming the
payload and the byte offset.  With the E flag set, everything after the header is ciphertext
and stays opaque (``Message.encrypted``); once the caller has decrypted it (SKEYID_e, RFC 2409
Appendix B), :func:`decode_plaintext` parses the plaintext, a chain followed by the cipher's
padding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from racoon2.errors import ParseError
from racoon2.ikev1.constants import (
    FLAG_AUTHENTICATION_ONLY,
    FLAG_COMMIT,
    FLAG_ENCRYPTION,
    FRAGMENT_LAST,
    ISAKMP_VERSION,
)
from racoon2.ikev1.payloads import (
    Fragment,
    Payload,
    decode_body,
    encode_body,
    payload_name,
    payload_type,
)

HEADER = struct.Struct("!8s8sBBBBII")
GENERIC = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class Header:
    """The ISAKMP header as received, Next Payload and Length included."""

    cookie_i: bytes
    cookie_r: bytes
    next_payload: int
    version: int
    exchange: int
    flags: int
    message_id: int
    length: int

    @property
    def encrypted(self) -> bool:
        """The E flag: the payloads after the header are encrypted."""
        return bool(self.flags & FLAG_ENCRYPTION)

    @property
    def commit(self) -> bool:
        """The C flag (RFC 2408 §3.1)."""
        return bool(self.flags & FLAG_COMMIT)

    @property
    def authentication_only(self) -> bool:
        """The A flag (RFC 2408 §3.1)."""
        return bool(self.flags & FLAG_AUTHENTICATION_ONLY)


@dataclass(frozen=True, slots=True)
class Message:
    """One ISAKMP message: either ``payloads`` in the clear, or (E flag) ``encrypted``, the
    ciphertext, with ``first_payload`` the header's Next Payload naming its first payload."""

    cookie_i: bytes
    cookie_r: bytes
    exchange: int
    message_id: int
    payloads: tuple[Payload, ...] = ()
    flags: int = 0
    version: int = ISAKMP_VERSION
    encrypted: bytes | None = None
    first_payload: int = 0
    #: Zero octets after a clear message's last payload, counted in its Length: libreswan
    #: (pluto 4.x) pads its IKEv1 messages to a multiple of 4 octets (a Main Mode message
    #: with a CERTREQ of odd length).  Kept so that the message encodes to the same bytes.
    padding: bytes = b""

    def __post_init__(self) -> None:
        if len(self.cookie_i) != 8 or len(self.cookie_r) != 8:
            raise ValueError("ISAKMP cookies are 8 octets each")
        if bool(self.flags & FLAG_ENCRYPTION) != (self.encrypted is not None):
            raise ValueError("the E flag is set exactly when the message carries ciphertext")
        if self.encrypted is not None and self.payloads:
            raise ValueError("an encrypted message has ciphertext instead of payloads")
        if self.encrypted is None and self.first_payload:
            raise ValueError("first_payload is only for encrypted messages")
        if self.padding and (self.encrypted is not None or len(self.padding) > 3 or
                             any(self.padding)):
            raise ValueError("padding is up to 3 zero octets after a clear message's payloads")

    def find(self, kind: type[Payload]) -> list[Payload]:
        """The payloads of one class, in order."""
        return [p for p in self.payloads if isinstance(p, kind)]


def decode_header(data: bytes) -> Header:
    """The header at the start of ``data`` (no check of Length against the datagram)."""
    if len(data) < HEADER.size:
        raise ParseError("ISAKMP header", 0, f"{len(data)} octets, expected at least {HEADER.size}")
    header = Header(*HEADER.unpack_from(data))
    if header.version >> 4 != 1:
        raise ParseError("ISAKMP header", 17, f"major version {header.version >> 4}, expected 1")
    return header


def encode_header(header: Header) -> bytes:
    """The 28 octets of ``header``, as given."""
    return HEADER.pack(header.cookie_i, header.cookie_r, header.next_payload, header.version,
                       header.exchange, header.flags, header.message_id, header.length)


def _walk(data: bytes, first: int, base: int) -> tuple[tuple[Payload, ...], int]:
    out: list[Payload] = []
    off, kind = 0, first
    while kind:
        if off + GENERIC.size > len(data):
            raise ParseError(payload_name(kind), base + off,
                             "generic payload header runs past the end")
        nxt, reserved, length = GENERIC.unpack_from(data, off)
        if reserved:
            raise ParseError(payload_name(kind), base + off + 1,
                             f"RESERVED is {reserved:#x}, must be zero")
        if length < GENERIC.size or off + length > len(data):
            raise ParseError(payload_name(kind), base + off + 2,
                             f"Payload Length {length} with {len(data) - off} octets left")
        body = data[off + GENERIC.size:off + length]
        out.append(decode_body(kind, body, base + off + GENERIC.size))
        off += length
        kind = nxt
    return tuple(out), off


def decode_chain(data: bytes, first: int, base: int = 0) -> tuple[Payload, ...]:
    """A payload chain starting with type ``first`` that fills ``data`` exactly; ``base``
    offsets error positions."""
    payloads, end = _walk(data, first, base)
    if end != len(data):
        raise ParseError("payload chain", base + end,
                         f"{len(data) - end} octets after the last payload")
    return payloads


def decode_plaintext(data: bytes, first: int,
                     base: int = HEADER.size) -> tuple[tuple[Payload, ...], bytes]:
    """A decrypted body: (payloads, padding), the padding being whatever follows the payload
    whose Next Payload is 0 (RFC 2409 leaves its content to the sender).  ``first`` is the
    encrypted message's ``first_payload``."""
    payloads, end = _walk(data, first, base)
    return payloads, data[end:]


def encode_chain(payloads: tuple[Payload, ...]) -> tuple[int, bytes]:
    """(first payload type, chain bytes); to encrypt, pad the bytes and send the type as
    ``first_payload``."""
    out = []
    for i, p in enumerate(payloads):
        body = encode_body(p)
        nxt = payload_type(payloads[i + 1]) if i + 1 < len(payloads) else 0
        length = GENERIC.size + len(body)
        if length > 0xFFFF:
            raise ValueError(f"{payload_name(payload_type(p))} payload of {length} octets "
                             "is too long")
        out.append(GENERIC.pack(nxt, 0, length) + body)
    return (payload_type(payloads[0]) if payloads else 0), b"".join(out)


def decode(data: bytes) -> Message:
    """One ISAKMP message (the non-ESP marker, if any, already removed)."""
    h = decode_header(data)
    if h.length != len(data):
        raise ParseError("ISAKMP header", 24, f"Length {h.length} with {len(data)} octets "
                         "received")
    if h.encrypted:
        return Message(h.cookie_i, h.cookie_r, h.exchange, h.message_id, (), h.flags, h.version,
                       data[HEADER.size:], h.next_payload)
    payloads, end = _walk(data[HEADER.size:], h.next_payload, HEADER.size)
    rest = data[HEADER.size + end:]
    if rest and (len(rest) > 3 or any(rest)):
        raise ParseError("payload chain", HEADER.size + end,
                         f"{len(rest)} octets after the last payload")
    return Message(h.cookie_i, h.cookie_r, h.exchange, h.message_id, payloads, h.flags,
                   h.version, padding=rest)


def encode(msg: Message) -> bytes:
    """The message's bytes, Length and Next Payload fields filled in."""
    if msg.encrypted is not None:
        first, body = msg.first_payload, msg.encrypted
    else:
        first, body = encode_chain(msg.payloads)
        body += msg.padding
    return encode_header(Header(msg.cookie_i, msg.cookie_r, first, msg.version, msg.exchange,
                                msg.flags, msg.message_id, HEADER.size + len(body))) + body


def fragments(data: bytes, fragment_id: int, size: int) -> tuple[Fragment, ...]:
    """A whole encoded message cut into fragment payloads of at most ``size`` data octets,
    numbered from 1, the last one flagged."""
    if size <= 0:
        raise ValueError("fragment size must be positive")
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    return tuple(Fragment(fragment_id, n, piece, FRAGMENT_LAST if n == len(pieces) else 0)
                 for n, piece in enumerate(pieces, 1))


def reassemble(received: list[Fragment]) -> bytes | None:
    """The message the fragments of one Fragment ID carry, or None while some are missing.

    Duplicates (retransmissions) are harmless; fragments with another ID than the first's
    are a caller error.
    """
    if not received:
        return None
    if any(f.fragment_id != received[0].fragment_id for f in received):
        raise ValueError("fragments of different Fragment IDs")
    by_number = {f.number: f for f in received}
    last = [f.number for f in by_number.values() if f.last]
    if not last or any(n not in by_number for n in range(1, last[0] + 1)):
        return None
    return b"".join(by_number[n].data for n in range(1, last[0] + 1))
