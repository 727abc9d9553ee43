"""Hand-built DNS messages (RFC 1035 §4.1) for the proxy's tests: no DNS library needed."""

from __future__ import annotations

import ipaddress
import struct

A, CNAME, AAAA = 1, 5, 28


def name(text: str) -> bytes:
    """A name as labels, uncompressed."""
    out = b""
    for label in text.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(ident: int, qname: str, qtype: int = A) -> bytes:
    """A standard query with RD set."""
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + name(qname) + \
        struct.pack("!HH", qtype, 1)


def answer(ident: int, qname: str, records: list[tuple[str, int, str]],
           qtype: int = A) -> bytes:
    """A response to ``query(ident, qname)``; records (owner, type, value).  Owners equal to
    qname are written as a compression pointer to the question (offset 12)."""
    out = struct.pack("!HHHHHH", ident, 0x8180, 1, len(records), 0, 0) + name(qname) + \
        struct.pack("!HH", qtype, 1)
    for owner, rtype, value in records:
        owner_bytes = b"\xc0\x0c" if owner == qname else name(owner)
        if rtype == CNAME:
            rdata = name(value)
        else:
            rdata = ipaddress.ip_address(value).packed
        out += owner_bytes + struct.pack("!HHIH", rtype, 1, 300, len(rdata)) + rdata
    return out
