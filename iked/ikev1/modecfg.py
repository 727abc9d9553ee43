"""Mode-config as the gateway (draft-dukes-ike-mode-cfg-02), pure: the client's address,
netmask, DNS servers and application version, from the remote's ``provide { }`` and its
``addresspool``, in either of the draft's two flows:

* pull (§3.2): the client sends REQUEST(id) naming what it wants; :meth:`ModeCfgServer.reply`
  answers REPLY(id) with what we have of it (iOS/macOS "Cisco IPsec", strongSwan clients);
* push: the gateway sends SET(id) (:meth:`ModeCfgServer.push`), the client answers ACK(id)
  listing what it took (:meth:`ModeCfgServer.acked`): clients that never ask (Shrew, old
  Cisco) need it.

The address comes from ``lease(version)`` (the core's :class:`iked.ikev2.config_payload.Pool`,
shared with IKEv2), called once per client; :attr:`ModeCfgServer.leased` is what to give back
with the ISAKMP SA.  Values are sent in the draft's layouts (§3.3): addresses 4 or 16 octets,
IPv4 netmask 255.255.255.255 (the leased address is a host address).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable

from iked.ikev1.transaction import cfg_name
from iked.ikev2.config_payload import Provide
from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import CfgAttr, CfgType
from racoon2.ikev1.payloads import Attribute, ModeCfg
from racoon2.net import Address

#: Leases an address of IP version 4 or 6 (None: the pool is exhausted or there is none).
Lease = Callable[[int], Address | None]

_HOST_MASK = ipaddress.IPv4Address("255.255.255.255").packed
#: What iked can answer, for SUPPORTED_ATTRIBUTES (§3.3).
SUPPORTED = (CfgAttr.INTERNAL_IP4_ADDRESS, CfgAttr.INTERNAL_IP4_NETMASK,
             CfgAttr.INTERNAL_IP4_DNS, CfgAttr.INTERNAL_IP6_ADDRESS, CfgAttr.INTERNAL_IP6_DNS,
             CfgAttr.APPLICATION_VERSION, CfgAttr.SUPPORTED_ATTRIBUTES)


class ModeCfgServer:
    """One client's mode-config."""

    def __init__(self, provide: Provide, lease: Lease) -> None:
        self.provide = provide
        self._lease = lease
        self.leased: Address | None = None
        self._pushed: ModeCfg | None = None

    def _address(self, version: int) -> Address | None:
        if self.leased is None and self.provide.pools:
            self.leased = self._lease(version)  # once granted, kept for every later ask
        return self.leased if self.leased is not None and self.leased.version == version \
            else None

    def _values(self, wanted: frozenset[int]) -> tuple[Attribute, ...]:
        out: list[Attribute] = []
        v4 = CfgAttr.INTERNAL_IP4_ADDRESS in wanted
        addr = self._address(4 if v4 else 6) \
            if v4 or CfgAttr.INTERNAL_IP6_ADDRESS in wanted else None
        if addr is not None and addr.version == 4:
            out.append(Attribute(CfgAttr.INTERNAL_IP4_ADDRESS, addr.packed))
            if CfgAttr.INTERNAL_IP4_NETMASK in wanted:
                out.append(Attribute(CfgAttr.INTERNAL_IP4_NETMASK, _HOST_MASK))
        elif addr is not None:
            out.append(Attribute(CfgAttr.INTERNAL_IP6_ADDRESS, addr.packed))
        for dns in self.provide.dns:
            kind = CfgAttr.INTERNAL_IP4_DNS if dns.version == 4 else CfgAttr.INTERNAL_IP6_DNS
            if kind in wanted:
                out.append(Attribute(kind, dns.packed))
        if self.provide.application_version and CfgAttr.APPLICATION_VERSION in wanted:
            out.append(Attribute(CfgAttr.APPLICATION_VERSION,
                                 self.provide.application_version.encode()))
        if CfgAttr.SUPPORTED_ATTRIBUTES in wanted:
            out.append(Attribute(CfgAttr.SUPPORTED_ATTRIBUTES,
                                 b"".join(struct.pack("!H", k) for k in SUPPORTED)))
        return tuple(out)

    def reply(self, request: ModeCfg) -> ModeCfg:
        """The REPLY to a client's REQUEST (same identifier): each asked-for attribute iked
        has a value for; the rest are left out, as the draft allows (§3.2)."""
        if request.cfg_type != CfgType.REQUEST:
            raise ProtocolError(f"mode-config {cfg_name(request.cfg_type)} from the client, "
                                "expected REQUEST")
        wanted = frozenset(a.type for a in request.attributes)
        return ModeCfg(CfgType.REPLY, request.identifier, self._values(wanted))

    def push(self, identifier: int) -> ModeCfg:
        """The SET of the push flow: a leased IPv4 address (else IPv6) with its netmask,
        the DNS servers and the application version."""
        wanted = frozenset({CfgAttr.INTERNAL_IP4_ADDRESS, CfgAttr.INTERNAL_IP4_NETMASK,
                            CfgAttr.INTERNAL_IP4_DNS, CfgAttr.INTERNAL_IP6_DNS,
                            CfgAttr.APPLICATION_VERSION})
        values = self._values(wanted)
        if self.leased is None and self.provide.pools:
            values = self._values((wanted - {CfgAttr.INTERNAL_IP4_ADDRESS})
                                  | {CfgAttr.INTERNAL_IP6_ADDRESS})
        self._pushed = ModeCfg(CfgType.SET, identifier, values)
        return self._pushed

    def acked(self, ack: ModeCfg) -> frozenset[int]:
        """The client's ACK to our SET: the attribute types it accepted (§3.2: an ACK lists
        them without values)."""
        pushed = self._pushed
        if pushed is None or ack.cfg_type != CfgType.ACK or ack.identifier != pushed.identifier:
            raise ProtocolError(f"mode-config {cfg_name(ack.cfg_type)} with identifier "
                                f"{ack.identifier}: answers no SET iked sent")
        self._pushed = None
        return frozenset(a.type for a in ack.attributes)
