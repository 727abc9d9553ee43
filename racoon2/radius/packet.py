"""RADIUS packets and attributes (RFC 2865 §3, §5), pure.

A packet is Code, Identifier, Length, a 16-octet Authenticator and type-length-value
attributes.  :func:`access_request` and :func:`accounting_request` build what iked sends
(every Access-Request carries a Message-Authenticator, RFC 3579 §3.2); :func:`verify_reply`
checks an answer's Response Authenticator (RFC 2865 §3) and its Message-Authenticator
before anything in it is used.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from racoon2.errors import ParseError, ProtocolError

HEADER = 20
MAX_PACKET = 4096            # RFC 2865 §3: Length at most 4096
MAX_VALUE = 253              # one attribute's value (Length is one octet, 2 for the header)
AUTH_LEN = 16


class Code(enum.IntEnum):
    """RFC 2865 §3, RFC 2866 §3."""

    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCOUNTING_REQUEST = 4
    ACCOUNTING_RESPONSE = 5
    ACCESS_CHALLENGE = 11


class Attr(enum.IntEnum):
    """The attribute types iked sends or reads (IANA "RADIUS Attribute Types")."""

    USER_NAME = 1
    USER_PASSWORD = 2
    NAS_IP_ADDRESS = 4
    SERVICE_TYPE = 6
    FRAMED_IP_ADDRESS = 8
    REPLY_MESSAGE = 18
    STATE = 24
    CLASS = 25
    VENDOR_SPECIFIC = 26
    SESSION_TIMEOUT = 27
    CALLED_STATION_ID = 30
    CALLING_STATION_ID = 31
    NAS_IDENTIFIER = 32
    ACCT_STATUS_TYPE = 40
    ACCT_INPUT_OCTETS = 42
    ACCT_OUTPUT_OCTETS = 43
    ACCT_SESSION_ID = 44
    ACCT_SESSION_TIME = 46
    ACCT_INPUT_PACKETS = 47
    ACCT_OUTPUT_PACKETS = 48
    ACCT_TERMINATE_CAUSE = 49
    NAS_PORT_TYPE = 61
    EAP_MESSAGE = 79
    MESSAGE_AUTHENTICATOR = 80
    NAS_IPV6_ADDRESS = 95
    FRAMED_IPV6_ADDRESS = 168   # RFC 6911 §3.1


SERVICE_FRAMED = 2        # RFC 2865 §5.6
PORT_VIRTUAL = 5          # RFC 2865 §5.41


class AcctStatus(enum.IntEnum):
    """RFC 2866 §5.1."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3


TERMINATE_USER_REQUEST = 1   # RFC 2866 §5.10
TERMINATE_LOST_SERVICE = 3
TERMINATE_SESSION_TIMEOUT = 5
TERMINATE_ADMIN_RESET = 6

Attribute = tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class Packet:
    """One RADIUS packet; ``attributes`` in order, repeated types kept apart."""

    code: int
    identifier: int
    authenticator: bytes
    attributes: tuple[Attribute, ...] = ()

    def get(self, kind: int) -> bytes | None:
        """The first value of attribute ``kind``, None when there is none."""
        return next((v for t, v in self.attributes if t == kind), None)

    def all(self, kind: int) -> list[bytes]:
        """Every value of attribute ``kind`` in order."""
        return [v for t, v in self.attributes if t == kind]

    def eap_message(self) -> bytes | None:
        """The EAP packet, its EAP-Message pieces joined (RFC 3579 §3.1)."""
        pieces = self.all(Attr.EAP_MESSAGE)
        return b"".join(pieces) if pieces else None


def encode_attributes(attributes: Iterable[Attribute]) -> bytes:
    """The attributes' octets (RFC 2865 §5: Type, Length including both, Value)."""
    out = bytearray()
    for kind, value in attributes:
        if not 1 <= len(value) <= MAX_VALUE:
            raise ProtocolError(f"RADIUS attribute {kind}: {len(value)} octets, expected "
                                f"1 to {MAX_VALUE}")
        out += bytes((kind, len(value) + 2)) + value
    return bytes(out)


def encode(packet: Packet) -> bytes:
    """The packet's octets as they stand (the authenticator is the caller's)."""
    body = encode_attributes(packet.attributes)
    length = HEADER + len(body)
    if length > MAX_PACKET:
        raise ProtocolError(f"RADIUS packet of {length} octets, the limit is {MAX_PACKET}")
    return struct.pack("!BBH", packet.code, packet.identifier, length) + \
        packet.authenticator + body


def decode(buf: bytes) -> Packet:
    """A RADIUS packet (raises ParseError); octets past Length are padding (RFC 2865 §3)."""
    if len(buf) < HEADER:
        raise ParseError("RADIUS packet", 0, f"{len(buf)} octets, expected at least {HEADER}")
    code, ident, length = struct.unpack_from("!BBH", buf)
    if length < HEADER or length > len(buf) or length > MAX_PACKET:
        raise ParseError("RADIUS packet", 2, f"Length {length} with {len(buf)} octets")
    attrs: list[Attribute] = []
    pos = HEADER
    while pos < length:
        if pos + 2 > length or buf[pos + 1] < 2 or pos + buf[pos + 1] > length:
            raise ParseError("RADIUS packet", pos, "an attribute runs past Length")
        attrs.append((buf[pos], bytes(buf[pos + 2:pos + buf[pos + 1]])))
        pos += buf[pos + 1]
    return Packet(code, ident, bytes(buf[4:HEADER]), tuple(attrs))


def split_eap(eap: bytes) -> list[Attribute]:
    """An EAP packet as EAP-Message attributes of at most 253 octets each (RFC 3579 §3.1)."""
    return [(Attr.EAP_MESSAGE, eap[i:i + MAX_VALUE]) for i in range(0, len(eap), MAX_VALUE)]


def _md5(*parts: bytes) -> bytes:
    return hashlib.md5(b"".join(parts), usedforsecurity=True).digest()


def _message_authenticator(raw: bytes, authenticator: bytes, secret: bytes) -> bytes:
    """RFC 3579 §3.2: HMAC-MD5 over the packet with ``authenticator`` in its header (the
    Request Authenticator, for an answer) and the Message-Authenticator's value zeroed."""
    zeroed = bytearray(raw[:4] + authenticator + raw[HEADER:])
    pos = HEADER
    while pos < len(zeroed):
        if zeroed[pos] == Attr.MESSAGE_AUTHENTICATOR:
            zeroed[pos + 2:pos + 2 + AUTH_LEN] = bytes(AUTH_LEN)
        pos += zeroed[pos + 1]
    return hmac.new(secret, bytes(zeroed), "md5").digest()


def _with_message_authenticator(packet: Packet, secret: bytes) -> bytes:
    """The packet's octets with a Message-Authenticator filled in (appended when absent)."""
    attrs = [a for a in packet.attributes if a[0] != Attr.MESSAGE_AUTHENTICATOR]
    attrs.append((Attr.MESSAGE_AUTHENTICATOR, bytes(AUTH_LEN)))
    raw = encode(Packet(packet.code, packet.identifier, packet.authenticator, tuple(attrs)))
    mac = _message_authenticator(raw, packet.authenticator, secret)
    return raw[:-AUTH_LEN] + mac


def access_request(identifier: int, authenticator: bytes, attributes: Iterable[Attribute],
                   secret: bytes) -> bytes:
    """An Access-Request with the random Request Authenticator ``authenticator`` and a
    Message-Authenticator (RFC 3579 §3.2: required with EAP-Message)."""
    return _with_message_authenticator(
        Packet(Code.ACCESS_REQUEST, identifier, authenticator, tuple(attributes)), secret)


def accounting_request(identifier: int, attributes: Iterable[Attribute],
                       secret: bytes) -> bytes:
    """An Accounting-Request; its Request Authenticator is MD5 over the packet with 16 zero
    octets in its place, and the secret (RFC 2866 §3)."""
    raw = encode(Packet(Code.ACCOUNTING_REQUEST, identifier, bytes(AUTH_LEN),
                        tuple(attributes)))
    return raw[:4] + _md5(raw, secret) + raw[HEADER:]


def response_authenticator(raw: bytes, request_authenticator: bytes, secret: bytes) -> bytes:
    """RFC 2865 §3: MD5(Code+ID+Length+RequestAuth+Attributes+Secret)."""
    return _md5(raw[:4], request_authenticator, raw[HEADER:], secret)


def verify_reply(raw: bytes, request_authenticator: bytes, secret: bytes) -> Packet:
    """An answer decoded once its Response Authenticator and, when present (required with
    EAP-Message, RFC 3579 §3.2), its Message-Authenticator verify; raises ProtocolError
    otherwise (RFC 2865 §3: the answer is then silently discarded)."""
    packet = decode(raw)
    length = struct.unpack_from("!H", raw, 2)[0]
    raw = raw[:length]
    expected = response_authenticator(raw, request_authenticator, secret)
    if not hmac.compare_digest(packet.authenticator, expected):
        raise ProtocolError(f"RADIUS answer {packet.identifier}: its Response Authenticator "
                            "does not verify (a wrong shared secret?)")
    mac = packet.get(Attr.MESSAGE_AUTHENTICATOR)
    if mac is None:
        # RFC 3579 §3.2: required with EAP-Message (FreeRADIUS rejects without either)
        if packet.get(Attr.EAP_MESSAGE) is not None:
            raise ProtocolError(f"RADIUS answer {packet.identifier} with EAP-Message "
                                "lacks Message-Authenticator (RFC 3579 §3.2)")
        return packet
    if not hmac.compare_digest(mac, _message_authenticator(raw, request_authenticator,
                                                           secret)):
        raise ProtocolError(f"RADIUS answer {packet.identifier}: its Message-Authenticator "
                            "does not verify")
    return packet


def u32(value: int) -> bytes:
    """An integer attribute's value (RFC 2865 §5: 32 bits, network order)."""
    return struct.pack("!I", value)


def as_u32(value: bytes | None) -> int | None:
    """An integer attribute's value, None when absent or not 4 octets."""
    return struct.unpack("!I", value)[0] if value is not None and len(value) == 4 else None
