"""Quick Mode identities (RFC 2409 §5.5, RFC 2407 §4.6.2): IDci/IDcr from a policy's
selectors and back (pure)."""

from __future__ import annotations

import ipaddress

from iked.ikev2.ts import Ts
from racoon2.ikev1.constants import IdType
from racoon2.ikev1.payloads import Identification
from racoon2.net import Address


def to_id(ts: Ts) -> Identification:
    """The ID of one selector: an address, a subnet when it is one prefix, else a range."""
    v4 = ts.version == 4
    port = ts.start_port if ts.start_port == ts.end_port else 0
    if ts.start == ts.end:
        return Identification(IdType.IPV4_ADDR if v4 else IdType.IPV6_ADDR, ts.start.packed,
                              ts.proto, port)
    prefixes = ts.prefixes()
    if len(prefixes) == 1:
        net = prefixes[0]
        return Identification(IdType.IPV4_ADDR_SUBNET if v4 else IdType.IPV6_ADDR_SUBNET,
                              net.network_address.packed + net.netmask.packed, ts.proto, port)
    return Identification(IdType.IPV4_ADDR_RANGE if v4 else IdType.IPV6_ADDR_RANGE,
                          ts.start.packed + ts.end.packed, ts.proto, port)


_SIZES: dict[int, int] = {IdType.IPV4_ADDR: 4, IdType.IPV4_ADDR_SUBNET: 4,
                          IdType.IPV4_ADDR_RANGE: 4, IdType.IPV6_ADDR: 16,
                          IdType.IPV6_ADDR_SUBNET: 16, IdType.IPV6_ADDR_RANGE: 16}


def to_ts(ident: Identification) -> Ts | None:
    """The selector an ID names; None for a type that names no addresses or a bad length."""
    size = _SIZES.get(ident.id_type)
    data = ident.data
    single = ident.id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR)
    if size is None or len(data) != (size if single else 2 * size):
        return None
    ports = (ident.port, ident.port) if ident.port else (0, 65535)
    first = ipaddress.ip_address(data[:size])
    if single:
        return Ts(first, first, ident.protocol, *ports)
    second = ipaddress.ip_address(data[size:])
    if ident.id_type in (IdType.IPV4_ADDR_RANGE, IdType.IPV6_ADDR_RANGE):
        return Ts(first, second, ident.protocol, *ports) if int(first) <= int(second) else None
    mask = int.from_bytes(data[size:], "big")
    bits = size * 8
    if mask != (~((1 << (bits - bin(mask).count("1"))) - 1)) & ((1 << bits) - 1):
        return None  # not a contiguous netmask
    net = ipaddress.ip_network((int(first) & mask, bin(mask).count("1")))
    return Ts(net.network_address, net.broadcast_address, ident.protocol, *ports)


def host_ts(addr: Address) -> Ts:
    """The selector of a host known only by its IKE address (Quick Mode without IDs)."""
    return Ts(addr, addr)

