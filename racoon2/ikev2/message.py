"""IKEv2 messages (RFC 7296 §3.1-3.2): the 28-byte header and the payload chain, pure.

``decode(bytes) -> Message`` and ``encode(Message) -> bytes`` are exact inverses on valid input;
malformed input raises one :class:`ParseError` naming the payload and the byte offset.  An SK or
SKF payload ends the outer chain (its body is ciphertext); once decrypted, its plaintext is a
chain of its own: :func:`decode_chain` / :func:`encode_chain` with ``first_inner``.
"""

from __future__ import annotations

import struct

from racoon2.errors import ParseError
from racoon2.frozen import frozen
from racoon2.ikev2.constants import (
    FLAG_INITIATOR,
    FLAG_RESPONSE,
    IKEV2_VERSION,
    PayloadType,
)
from racoon2.ikev2.payloads import (
    SK,
    SKF,
    Payload,
    Unknown,
    decode_body,
    encode_body,
    payload_type,
)

HEADER = struct.Struct("!8s8sBBBBII")
GENERIC = struct.Struct("!BBH")


@frozen
class Message:
    """One IKEv2 message."""

    spi_i: bytes
    spi_r: bytes
    exchange: int
    message_id: int
    payloads: tuple[Payload, ...] = ()
    flags: int = 0
    version: int = IKEV2_VERSION

    @property
    def initiator(self) -> bool:
        """Sent by the original initiator of the IKE SA."""
        return bool(self.flags & FLAG_INITIATOR)

    @property
    def response(self) -> bool:
        """A response (the R flag)."""
        return bool(self.flags & FLAG_RESPONSE)

    def find(self, kind: type[Payload]) -> list[Payload]:
        """The payloads of one class, in order."""
        return [p for p in self.payloads if isinstance(p, kind)]


def decode_chain(data: bytes, first: int, base: int = 0) -> tuple[Payload, ...]:
    """A payload chain starting with type ``first``; ``base`` offsets error positions."""
    out: list[Payload] = []
    off, kind = 0, first
    while kind:
        if off + GENERIC.size > len(data):
            raise ParseError(_name(kind), base + off, "generic payload header runs past the end")
        nxt, flags, length = GENERIC.unpack_from(data, off)
        if length < GENERIC.size or off + length > len(data):
            raise ParseError(_name(kind), base + off + 2,
                             f"Payload Length {length} with {len(data) - off} octets left")
        body = data[off + GENERIC.size:off + length]
        out.append(decode_body(kind, body, flags, nxt, base + off + GENERIC.size))
        off += length
        if kind in (PayloadType.SK, PayloadType.SKF):
            break  # its Next Payload names the first inner payload, not a following one
        kind = nxt
    if off != len(data):
        raise ParseError("payload chain", base + off, f"{len(data) - off} octets after the last "
                         "payload")
    return tuple(out)


def _name(kind: int) -> str:
    try:
        return PayloadType(kind).name
    except ValueError:
        return f"payload {kind}"


def encode_chain(payloads: tuple[Payload, ...]) -> tuple[int, bytes]:
    """(first payload type, chain bytes)."""
    kinds = [payload_type(p) for p in payloads]
    out = []
    for i, p in enumerate(payloads):
        body = encode_body(p)
        if isinstance(p, SK | SKF):
            nxt = p.first_inner
        else:
            nxt = kinds[i + 1] if i + 1 < len(payloads) else 0
        length = GENERIC.size + len(body)
        if length > 0xFFFF:
            raise ValueError(f"{_name(kinds[i])} payload of {length} octets is too long")
        out.append(GENERIC.pack(nxt, p.flags, length) + body)
    return (kinds[0] if payloads else 0), b"".join(out)


def decode(data: bytes) -> Message:
    """One IKEv2 message (the non-ESP marker, if any, already removed)."""
    if len(data) < HEADER.size:
        raise ParseError("IKE header", 0, f"{len(data)} octets, expected at least {HEADER.size}")
    spi_i, spi_r, first, version, exchange, flags, mid, length = HEADER.unpack_from(data)
    if version >> 4 != 2:
        raise ParseError("IKE header", 17, f"major version {version >> 4}, expected 2")
    if length != len(data):
        raise ParseError("IKE header", 24, f"Length {length} with {len(data)} octets received")
    payloads = decode_chain(data[HEADER.size:], first, HEADER.size)
    return Message(spi_i, spi_r, exchange, mid, payloads, flags, version)


def encode(msg: Message) -> bytes:
    """The message's bytes, Length and Next Payload fields filled in."""
    first, chain = encode_chain(msg.payloads)
    return HEADER.pack(msg.spi_i, msg.spi_r, first, msg.version, msg.exchange, msg.flags,
                       msg.message_id, HEADER.size + len(chain)) + chain


def sk_aad(data: bytes) -> bytes:
    """The associated data of an SK/SKF payload (RFC 5282 §5.1): everything before its IV.

    ``data`` is the whole message; the encrypted payload is the last one.
    """
    msg = decode(data)
    last = msg.payloads[-1] if msg.payloads else None
    if not isinstance(last, SK | SKF):
        raise ParseError("IKE message", HEADER.size, "no SK or SKF payload")
    # SKF's Fragment Number and Total Fragments are part of the AAD too (RFC 7383 §2.5).
    cut = len(data) - len(last.data)
    return data[:cut]


def unsupported_critical(msg: Message) -> int | None:
    """The type of the first unknown payload with the critical bit (RFC 7296 §2.5), or None."""
    for p in msg.payloads:
        if isinstance(p, Unknown) and p.critical:
            return p.type
    return None
