"""The configuration payload (RFC 7296 §2.19, §3.15), pure: the responder's CFG_REPLY (the
addresses leased from ``addresspool``s by :mod:`iked.leases`, and the ``provide`` values), the
initiator's ``request { }`` and what the CFG_REPLY gave it."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from iked.hooks import CfgReply
from racoon2.config.model import ConfigRequest
from racoon2.ikev2.constants import CfgAttribute as A
from racoon2.ikev2.constants import CfgType
from racoon2.ikev2.payloads import CP
from racoon2.net import Address, Prefix

#: How long a client's address stays reserved for it after its IKE SA ended, by default.
LEASE_TIME = 86400.0


@dataclass(frozen=True)
class Provide:
    """A remote's ``provide { }`` block, resolved."""

    pools: tuple[str, ...]
    dns: tuple[Address, ...] = ()
    application_version: str | None = None
    #: RFC 8598 split-DNS domains (sent only to a client that asks for them)
    domains: tuple[str, ...] = ()
    #: INTERNAL_IP4/6_SUBNET; None: the policies' local selectors unless they are "any"
    subnets: tuple[Prefix, ...] | None = None
    lease_time: float = LEASE_TIME


def wanted_versions(request: CP) -> tuple[int, ...]:
    """The address families a CFG_REQUEST asks addresses of (IPv4 first)."""
    kinds = {t for t, _ in request.attributes}
    return tuple(v for v, kind in ((4, A.INTERNAL_IP4_ADDRESS), (6, A.INTERNAL_IP6_ADDRESS))
                 if kind in kinds)


#: INTERNAL_IP4_NETMASK with a leased address: the address is a host of its own, reached
#: through the tunnel (RFC 7296 §3.15.1 allows the netmask only with an address).
HOST_NETMASK = ipaddress.IPv4Address("255.255.255.255").packed


def reply(request: CP, leases: Sequence[Address], provide: Provide,
          subnets: Sequence[Prefix] = ()) -> CP:
    """The CFG_REPLY: the leases (and the netmask, when asked, with the IPv4 one), the DNS
    servers the client asked for, the split-tunnel ``subnets`` of each family it was given an
    address of (RFC 7296 §3.15.1 lets a reply carry them unasked), INTERNAL_DNS_DOMAIN when
    asked (RFC 8598 §3.1: only a client that sends it supports split DNS) and
    APPLICATION_VERSION when asked."""
    kinds = {t for t, _ in request.attributes}
    attrs: list[tuple[int, bytes]] = []
    for lease in leases:
        if lease.version == 4:
            attrs.append((A.INTERNAL_IP4_ADDRESS, lease.packed))
            if A.INTERNAL_IP4_NETMASK in kinds:
                attrs.append((A.INTERNAL_IP4_NETMASK, HOST_NETMASK))
        else:
            attrs.append((A.INTERNAL_IP6_ADDRESS, lease.packed + struct.pack("!B", 128)))
    for dns in provide.dns:
        kind = A.INTERNAL_IP4_DNS if dns.version == 4 else A.INTERNAL_IP6_DNS
        if kind in kinds:
            attrs.append((kind, dns.packed))
    families = {a.version for a in leases}
    for net in subnets:
        if net.version not in families:
            continue
        if net.version == 4:
            # Address and netmask, 8 octets (RFC 7296 §3.15.1).
            attrs.append((A.INTERNAL_IP4_SUBNET, net.network_address.packed +
                          net.netmask.packed))
        else:
            attrs.append((A.INTERNAL_IP6_SUBNET, net.network_address.packed +
                          struct.pack("!B", net.prefixlen)))
    if A.INTERNAL_DNS_DOMAIN in kinds:
        # RFC 8598 §4: the name in presentation format, no trailing dot, one per attribute.
        attrs += [(A.INTERNAL_DNS_DOMAIN, d.rstrip(".").encode("ascii"))
                  for d in provide.domains]
    if provide.application_version and A.APPLICATION_VERSION in kinds:
        attrs.append((A.APPLICATION_VERSION, provide.application_version.encode()))
    return CP(CfgType.CFG_REPLY, tuple(attrs))


def split_subnets(provide: Provide, local: Sequence[Prefix]) -> tuple[Prefix, ...]:
    """The INTERNAL_IP4/6_SUBNET values: ``provide subnet`` if written, else the policies'
    local selectors ``local``; a selector covering every address (a full tunnel) is none."""
    if provide.subnets is not None:
        return provide.subnets
    return tuple(dict.fromkeys(n for n in local if n.prefixlen > 0))


#: ``request { }`` items and the attribute each asks for (RFC 7296 §3.15.1).
_ASKS = ((ConfigRequest.IP4, A.INTERNAL_IP4_ADDRESS), (ConfigRequest.IP6, A.INTERNAL_IP6_ADDRESS),
         (ConfigRequest.IP4_DNS, A.INTERNAL_IP4_DNS), (ConfigRequest.IP6_DNS, A.INTERNAL_IP6_DNS),
         (ConfigRequest.IP4_DHCP, A.INTERNAL_IP4_DHCP),
         (ConfigRequest.IP6_DHCP, A.INTERNAL_IP6_DHCP),
         (ConfigRequest.APPLICATION_VERSION, A.APPLICATION_VERSION))


def request(items: ConfigRequest) -> CP | None:
    """The initiator's CFG_REQUEST for ``request { }``: empty attributes ask for a value."""
    attrs = tuple((kind, b"") for flag, kind in _ASKS if flag in items)
    return CP(CfgType.CFG_REQUEST, attrs) if attrs else None


def parse_reply(cp: CP) -> CfgReply:
    """What a CFG_REPLY gives; malformed or unknown attributes are skipped (RFC 7296 §3.15.1
    lets a reply carry what was not asked for)."""
    got: dict[int, list[Address]] = {}
    version = ""
    for kind, value in cp.attributes:
        # The lengths are checked first, so ipaddress cannot refuse the octets.
        if kind in (A.INTERNAL_IP4_ADDRESS, A.INTERNAL_IP4_DNS, A.INTERNAL_IP4_NBNS,
                    A.INTERNAL_IP4_DHCP) and len(value) == 4:
            got.setdefault(kind, []).append(ipaddress.IPv4Address(value))
        elif kind in (A.INTERNAL_IP6_ADDRESS, A.INTERNAL_IP6_DNS, A.INTERNAL_IP6_DHCP) \
                and len(value) in (16, 17):  # an address carries its prefix length
            got.setdefault(kind, []).append(ipaddress.IPv6Address(value[:16]))
        elif kind == A.APPLICATION_VERSION:
            version = value.decode("utf-8", "replace")

    def one(kind: int) -> Address | None:
        return got[kind][0] if got.get(kind) else None

    return CfgReply(one(A.INTERNAL_IP4_ADDRESS), tuple(got.get(A.INTERNAL_IP4_DNS, ())),
                    tuple(got.get(A.INTERNAL_IP4_NBNS, ())),
                    tuple(got.get(A.INTERNAL_IP4_DHCP, ())), one(A.INTERNAL_IP6_ADDRESS),
                    tuple(got.get(A.INTERNAL_IP6_DNS, ())),
                    tuple(got.get(A.INTERNAL_IP6_DHCP, ())), version)


def leases(reply: CfgReply) -> tuple[Address, ...]:
    """The addresses a CFG_REPLY leased us."""
    return tuple(a for a in (reply.addr4, reply.addr6) if a is not None)
