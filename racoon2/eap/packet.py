"""EAP packets (RFC 3748 §4): Code, Identifier, Length, and for Request/Response a Type and
its data.  Success and Failure carry no Type (§4.2)."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from racoon2.errors import ParseError


class Code(enum.IntEnum):
    """RFC 3748 §4."""

    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class Type(enum.IntEnum):
    """The method types iked knows (IANA "Method Types")."""

    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3          # Legacy Nak, RFC 3748 §5.3.1: the peer's list of methods it would take
    MD5 = 4
    TLS = 13
    MSCHAPV2 = 26


@dataclass(frozen=True, slots=True)
class Packet:
    """One EAP packet; ``type`` and ``data`` are 0 and empty for Success and Failure."""

    code: Code
    identifier: int
    type: int = 0
    data: bytes = b""

    def encode(self) -> bytes:
        """The packet's octets."""
        if self.code in (Code.SUCCESS, Code.FAILURE):
            return struct.pack("!BBH", self.code, self.identifier, 4)
        return struct.pack("!BBHB", self.code, self.identifier, 5 + len(self.data),
                           self.type) + self.data


def decode(buf: bytes) -> Packet:
    """An EAP packet (raises ParseError); octets past Length are padding (§4) and ignored."""
    if len(buf) < 4:
        raise ParseError("EAP packet", 0, f"{len(buf)} octets, expected at least 4")
    code, ident, length = struct.unpack_from("!BBH", buf)
    if code not in Code._value2member_map_:
        raise ParseError("EAP packet", 0, f"code {code}, expected 1 to 4")
    if length < 4 or length > len(buf):
        raise ParseError("EAP packet", 2, f"Length {length} with {len(buf)} octets")
    if code in (Code.SUCCESS, Code.FAILURE):
        return Packet(Code(code), ident)
    if length < 5:
        raise ParseError("EAP packet", 4, "a Request or Response without a Type")
    return Packet(Code(code), ident, buf[4], bytes(buf[5:length]))
