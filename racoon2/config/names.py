"""Service and protocol names (spec config.md §1.5, §3.5).

A built-in table keeps results independent of the host's /etc/services and /etc/protocols (the
C code depended on them: Debian lacks ``icmp6``); other names fall back to the system database.
"""

from __future__ import annotations

import socket
from typing import Final

SERVICES: Final[dict[str, int]] = {
    "isakmp": 500, "ipsec-nat-t": 4500, "kink": 910, "domain": 53, "bootps": 67, "bootpc": 68,
    "l2tp": 1701, "http": 80, "https": 443, "ssh": 22, "telnet": 23, "smtp": 25, "ntp": 123,
}

PROTOCOLS: Final[dict[str, int]] = {
    "ip": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47,
    "esp": 50, "ah": 51, "ipv6-icmp": 58, "icmp6": 58, "icmpv6": 58, "ipcomp": 108,
    "sctp": 132, "mh": 135, "ipv6-mh": 135, "udplite": 136,
}


def service_port(name: str) -> int | None:
    """The port of service ``name`` (any protocol), or None when unknown."""
    port = SERVICES.get(name)
    if port is not None:
        return port
    for proto in ("udp", "tcp"):
        try:
            return socket.getservbyname(name, proto)
        except (OSError, ValueError, UnicodeError):
            continue
    return None


def protocol_number(name: str) -> int | None:
    """The IP protocol number called ``name``, or None when unknown."""
    number = PROTOCOLS.get(name.lower())
    if number is not None:
        return number
    try:
        return socket.getprotobyname(name)
    except (OSError, ValueError, UnicodeError):
        return None
