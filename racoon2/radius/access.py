"""What iked asks its RADIUS servers and what it makes of their answers, pure: the
attributes of an EAP Access-Request (RFC 3579 §3, RFC 2865 §5) and of an Accounting-Request
(RFC 2866 §5), and an :class:`Answer` from a verified Access-Accept, -Reject or -Challenge.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from racoon2.radius import mppe
from racoon2.radius.packet import (
    PORT_VIRTUAL,
    SERVICE_FRAMED,
    AcctStatus,
    Attr,
    Attribute,
    Code,
    Packet,
    as_u32,
    split_eap,
    u32,
)


@dataclass(frozen=True, slots=True)
class Server:
    """One RADIUS server: its address, Access port (accounting: port + 1), shared secret."""

    address: str
    port: int
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Radius:
    """``eap { method radius; }``: the servers in failover order, the NAS-Identifier, and
    whether sessions are accounted (RFC 2866)."""

    servers: tuple[Server, ...]
    nas_identifier: str
    accounting: bool = True


@dataclass(frozen=True, slots=True)
class Station:
    """Who is asking: the user's EAP Identity and the two ends of its IKE SA."""

    user: bytes    # User-Name: the EAP Identity's octets (RFC 3579 §2.1)
    client: str    # Calling-Station-Id: the client's address (RFC 3580 §3.21 style)
    nas: str       # Called-Station-Id and NAS-IP-Address: ours


def _nas_address(nas: str) -> Attribute:
    addr = ipaddress.ip_address(nas)
    return (Attr.NAS_IP_ADDRESS if addr.version == 4 else Attr.NAS_IPV6_ADDRESS, addr.packed)


def _common(radius: Radius, station: Station) -> list[Attribute]:
    return [(Attr.USER_NAME, station.user[:253] or b"?"), _nas_address(station.nas),
            (Attr.NAS_IDENTIFIER, radius.nas_identifier.encode()),
            (Attr.CALLING_STATION_ID, station.client.encode()),
            (Attr.CALLED_STATION_ID, station.nas.encode()),
            (Attr.NAS_PORT_TYPE, u32(PORT_VIRTUAL)), (Attr.SERVICE_TYPE, u32(SERVICE_FRAMED))]


def access_attributes(radius: Radius, station: Station, eap: bytes, state: bytes | None
                      ) -> list[Attribute]:
    """An Access-Request's attributes (the Message-Authenticator is the codec's): the EAP
    Response in pieces, and the server's State echoed (RFC 2865 §5.24)."""
    attrs = _common(radius, station) + split_eap(eap)
    if state is not None:
        attrs.append((Attr.STATE, state))
    return attrs


@dataclass(frozen=True, slots=True)
class Usage:
    """An accounted session's traffic, when known (RFC 2866 §5.3-5.8)."""

    seconds: int | None = None   # None: not known
    in_octets: int | None = None
    out_octets: int | None = None
    in_packets: int | None = None
    out_packets: int | None = None


def accounting_attributes(radius: Radius, station: Station, status: AcctStatus,
                          session_id: str, framed: str | None, class_: bytes | None,
                          usage: Usage | None = None, cause: int | None = None
                          ) -> list[Attribute]:
    """An Accounting-Request's attributes: Start, Interim-Update or Stop of ``session_id``."""
    attrs = [(Attr.ACCT_STATUS_TYPE, u32(status)), (Attr.ACCT_SESSION_ID, session_id.encode()),
             *_common(radius, station)]
    if framed is not None:
        addr = ipaddress.ip_address(framed)
        attrs.append((Attr.FRAMED_IP_ADDRESS, addr.packed) if addr.version == 4 else
                     (Attr.FRAMED_IPV6_ADDRESS, addr.packed))
    if class_ is not None:
        attrs.append((Attr.CLASS, class_))  # RFC 2865 §5.25: echoed as the server gave it
    if usage is not None and status is not AcctStatus.START:
        for kind, value in ((Attr.ACCT_SESSION_TIME, usage.seconds),
                            (Attr.ACCT_INPUT_OCTETS, usage.in_octets),
                            (Attr.ACCT_OUTPUT_OCTETS, usage.out_octets),
                            (Attr.ACCT_INPUT_PACKETS, usage.in_packets),
                            (Attr.ACCT_OUTPUT_PACKETS, usage.out_packets)):
            if value is not None:
                attrs.append((kind, u32(value & 0xFFFFFFFF)))
    if cause is not None and status is AcctStatus.STOP:
        attrs.append((Attr.ACCT_TERMINATE_CAUSE, u32(cause)))
    return attrs


@dataclass(frozen=True, slots=True)
class Answer:
    """A verified Access answer as iked uses it."""

    code: Code
    eap: bytes | None
    state: bytes | None = None
    msk: bytes | None = field(default=None, repr=False)
    framed_ip: str | None = None
    class_: bytes | None = None
    session_timeout: int | None = None
    message: str = ""    # Reply-Message, for the log


def answer(packet: Packet, secret: bytes, request_authenticator: bytes) -> Answer:
    """What a verified Access-Accept, -Reject or -Challenge says (the MSK decrypted)."""
    code = Code(packet.code)
    framed = packet.get(Attr.FRAMED_IP_ADDRESS) or packet.get(Attr.FRAMED_IPV6_ADDRESS)
    framed_ip = str(ipaddress.ip_address(framed)) if framed is not None and \
        len(framed) in (4, 16) else None
    message = b" ".join(packet.all(Attr.REPLY_MESSAGE)).decode(errors="replace")
    return Answer(code, packet.eap_message(), packet.get(Attr.STATE),
                  mppe.msk(packet, secret, request_authenticator)
                  if code is Code.ACCESS_ACCEPT else None,
                  framed_ip, packet.get(Attr.CLASS), as_u32(packet.get(Attr.SESSION_TIMEOUT)),
                  message)
