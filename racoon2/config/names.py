"""Service and protocol names (doc/config.md, "Values").

A built-in table keeps results independent of the host's /etc/services and /etc/protocols (the
C code depended on them: Debian lacks ``icmp6``); other names fall back to the system database,
which :mod:`racoon2.config.files`, the layer's edge to the host, reads.
"""

from __future__ import annotations

from typing import Final

from racoon2.config.files import system_protocol_number, system_service_port

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
    return system_service_port(name)


def protocol_number(name: str) -> int | None:
    """The IP protocol number called ``name``, or None when unknown."""
    number = PROTOCOLS.get(name.lower())
    if number is not None:
        return number
    return system_protocol_number(name)
