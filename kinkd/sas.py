"""kinkd's SA table and what its entries mean to the kernel and the wire (pure).

A :class:`SaPair` is the two ESP SAs one CREATE made and :class:`SaTable` the pairs kinkd
keeps; :func:`sa_specs` turns a pair into kernel SAs with their lifetimes;
:func:`quick_mode_ids` and :func:`ids_match` carry a tunnel-mode policy's networks in
IDci/IDcr and find the policy again on the responder.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kinkd.exchange import ChildSa
from kinkd.krb5.api import Credentials
from kinkd.settings import PolicySettings
from racoon2.crypto.rng import Rng
from racoon2.ikev1.constants import EncapsulationMode, IdType
from racoon2.ikev1.payloads import Identification
from racoon2.kernel import api
from racoon2.net import Address, Endpoint


@dataclass(eq=False)
class SaPair:
    """The two ESP SAs one CREATE made, and what they belong to."""

    policy: PolicySettings
    principal: str
    peer: Endpoint
    local: Address
    remote: Address
    child: ChildSa
    initiator: bool
    created: float
    outbound_installed: bool = False
    rekeyed: bool = False  # a newer pair replaces this one

    @property
    def inbound(self) -> api.SaKey:
        """The kernel key of the SA the peer sends on."""
        me, peer = self.ends
        return api.SaKey(peer, me, api.Proto.ESP, self.child.inbound_spi)

    @property
    def outbound(self) -> api.SaKey:
        """The kernel key of the SA this host sends on."""
        me, peer = self.ends
        return api.SaKey(me, peer, api.Proto.ESP, self.child.outbound_spi)

    @property
    def ends(self) -> tuple[Address, Address]:
        """(this host's, the peer's) SA addresses: the tunnel ends in tunnel mode."""
        p = self.policy
        if p.mode is EncapsulationMode.TUNNEL:
            return p.my_sa_addr or self.local, p.peers_sa_addr or self.remote
        return self.local, self.remote

    def describe(self) -> str:
        """``spi in 0x… out 0x…`` for the log."""
        return f"spi in 0x{self.child.inbound_spi:08x} out 0x{self.child.outbound_spi:08x}"


@dataclass(eq=False)
class Peer:
    """What kinkd keeps per peer principal: its last epoch and a ticket to it."""

    principal: str
    epoch: int | None = None
    creds: Credentials | None = None
    tgt: bytes | None = None  # the peer's TGT, once it asked for user-to-user


class SaTable:
    """The SA pairs kinkd made, and the responder's pairs whose ACK is still to come."""

    def __init__(self) -> None:
        self._pairs: list[SaPair] = []
        self._awaiting_ack: dict[tuple[Address, int], SaPair] = {}

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[SaPair]:
        return iter(list(self._pairs))  # a copy: callers remove pairs as they go

    def __contains__(self, pair: SaPair) -> bool:
        return pair in self._pairs

    def add(self, pair: SaPair) -> None:
        """Add a new pair; an older one of the same policy and peer is now being replaced."""
        for old in self._pairs:
            if old.policy.policy == pair.policy.policy and old.principal == pair.principal:
                old.rekeyed = True
        self._pairs.append(pair)

    def remove(self, pair: SaPair) -> bool:
        """Take ``pair`` out of the table; False when it was not there (any more)."""
        if pair not in self._pairs:
            return False
        self._pairs.remove(pair)
        return True

    def of_peer(self, principal: str) -> list[SaPair]:
        """The pairs with ``principal``."""
        return [p for p in self._pairs if p.principal == principal]

    def first_of_each_peer(self) -> list[SaPair]:
        """One pair per peer principal (SIGUSR1's STATUS goes once to each)."""
        return list({p.principal: p for p in reversed(self._pairs)}.values())

    def by_spi(self, ident: str) -> SaPair | None:
        """The pair kinkdctl's ``sa show ID`` names: ID is the SPI of either of its SAs in hex
        (``0x`` optional, as ``ip xfrm state`` shows it); None when no pair has it."""
        try:
            spi = int(ident, 16)
        except ValueError:
            return None
        return next((p for p in self._pairs
                     if spi in (p.child.inbound_spi, p.child.outbound_spi)), None)

    def named(self, ident: str) -> list[SaPair]:
        """The pairs kinkdctl's ``terminate``/``rekey ID`` name: one by an SPI of either
        direction (``0x`` optional, as ``ip xfrm state`` shows it), or every pair of a policy,
        a remote, a peer principal or a peer address."""
        try:
            spi = int(ident, 16)
        except ValueError:
            spi = None
        if spi is not None:
            by_spi = [p for p in self._pairs if spi in (p.child.inbound_spi,
                                                        p.child.outbound_spi)]
            if by_spi:
                return by_spi
        return [p for p in self._pairs if ident in (p.policy.policy, p.policy.remote,
                                                    p.principal, str(p.remote))]

    def deleted_by(self, principal: str, spis: Iterable[int]) -> list[SaPair]:
        """The pairs a DELETE from ``principal`` names: its inbound SPIs are our outbound."""
        wanted = set(spis)
        return [p for p in self._pairs if p.principal == principal
                and p.child.outbound_spi in wanted]

    def expired(self, key: api.SaKey) -> SaPair | None:
        """The pair one of whose SAs is ``key`` (a kernel EXPIRE names it)."""
        for pair in self._pairs:
            if key.spi in (pair.child.inbound_spi, pair.child.outbound_spi) and \
                    key.dst in pair.ends:
                return pair
        return None

    def expect_ack(self, peer: Address, xid: int, pair: SaPair) -> None:
        """``pair``'s outbound SA waits for the ACK of the CREATE ``xid`` from ``peer``."""
        self._awaiting_ack[(peer, xid)] = pair

    def acked(self, peer: Address, xid: int, principal: str) -> SaPair | None:
        """The pair an ACK from ``principal`` at ``peer`` completes (None: it waits for none)."""
        pair = self._awaiting_ack.pop((peer, xid), None)
        return pair if pair is not None and pair.principal == principal else None

    def rows(self) -> list[dict[str, object]]:
        """The table for SIGUSR1's status line."""
        return [{"policy": p.policy.policy, "peer": p.principal, "remote": str(p.remote),
                 "spi_in": p.child.inbound_spi, "spi_out": p.child.outbound_spi,
                 "initiator": p.initiator, "outbound": p.outbound_installed}
                for p in self._pairs]


def sa_ends(policy: PolicySettings, local: Address, remote: Address
            ) -> tuple[Address, Address]:
    """(this host's, the peer's) SA addresses: the tunnel ends in tunnel mode."""
    if policy.mode is EncapsulationMode.TUNNEL:
        return policy.my_sa_addr or local, policy.peers_sa_addr or remote
    return local, remote


def sa_specs(pair: SaPair, rng: Rng) -> tuple[api.SaSpec, api.SaSpec]:
    """The kernel's inbound and outbound SA of ``pair``, with their lifetimes (the soft one
    drawn from ``rng``)."""
    child, policy = pair.child, pair.policy
    me, peer = pair.ends
    mode = api.Mode.TUNNEL if policy.mode is EncapsulationMode.TUNNEL else api.Mode.TRANSPORT
    hard = child.offer.lifetime or policy.lifetime_seconds
    # The soft limit drawn at random (as iked does) so that peers do not rekey at once, and
    # later on the responder, which rekeys only when the initiator did not.
    low, span = (0.8, 0.1) if pair.initiator else (0.92, 0.05)
    soft = int(hard * (low + span * rng.random_bytes(1)[0] / 255)) if hard else 0
    life = api.Lifetime(soft_add_seconds=soft, hard_add_seconds=hard,
                        hard_bytes=policy.lifetime_bytes,
                        soft_bytes=int(policy.lifetime_bytes * 0.8))

    def spec(src: Address, dst: Address, spi: int, encr_key: bytes, integ_key: bytes
             ) -> api.SaSpec:
        encr, integ = child.offer.encr, child.offer.integ
        if encr.aead:
            return api.SaSpec(src, dst, api.Proto.ESP, spi, mode, policy.reqid, aead=api.Aead(
                encr.xfrm_name or "", encr_key, encr.icv_size * 8), lifetime=life)
        integrity = api.Integrity(integ.xfrm_name or "", integ_key,
                                  integ.xfrm_trunc_bits or integ.icv_size * 8) if integ else None
        return api.SaSpec(src, dst, api.Proto.ESP, spi, mode, policy.reqid,
                          cipher=api.Cipher(encr.xfrm_name or "", encr_key),
                          integrity=integrity, lifetime=life)

    return (spec(peer, me, child.inbound_spi, child.inbound.encr, child.inbound.integ),
            spec(me, peer, child.outbound_spi, child.outbound.encr, child.outbound.integ))


def algorithms(child: ChildSa) -> str:
    """``ENCR_AES_CBC-128/AUTH_HMAC_SHA1_96`` for the log."""
    encr, integ = child.offer.encr, child.offer.integ
    return encr.name + (f"-{encr.key_size * 8}" if encr.variable_key else "") + \
        (f"/{integ.name}" if integ else "")


def quick_mode_id(net: ipaddress.IPv4Network | ipaddress.IPv6Network, proto: int
                  ) -> Identification:
    """The Quick Mode ID payload of one network (an address when it is a host)."""
    if net.prefixlen == net.max_prefixlen:
        kind = IdType.IPV4_ADDR if net.version == 4 else IdType.IPV6_ADDR
        return Identification(kind, net.network_address.packed, proto)
    kind = IdType.IPV4_ADDR_SUBNET if net.version == 4 else IdType.IPV6_ADDR_SUBNET
    return Identification(kind, net.network_address.packed + net.netmask.packed, proto)


def quick_mode_ids(policy: PolicySettings, local: Address, remote: Address
         ) -> tuple[Identification, Identification] | None:
    """IDci/IDcr: the policy's networks in tunnel mode; transport mode sends none."""
    if policy.mode is not EncapsulationMode.TUNNEL or not policy.local or \
            not policy.remote_nets:
        return None
    return (quick_mode_id(policy.local[0], policy.proto),
            quick_mode_id(policy.remote_nets[0], policy.proto))


def net_of(ident: Identification) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network an address or subnet ID names (None for other ID types)."""
    try:
        if ident.id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
            return ipaddress.ip_network(ipaddress.ip_address(ident.data))
        if ident.id_type in (IdType.IPV4_ADDR_SUBNET, IdType.IPV6_ADDR_SUBNET):
            half = len(ident.data) // 2
            mask = int.from_bytes(ident.data[half:], "big")
            plen = bin(mask).count("1")
            return ipaddress.ip_network((ipaddress.ip_address(ident.data[:half]), plen))
    except ValueError:
        return None
    return None


def ids_match(policy: PolicySettings, ids: tuple[Identification, ...]) -> bool:
    """Whether a CREATE's IDci/IDcr are ``policy``'s networks seen from the other side."""
    # The initiator's IDci is its side: our remote networks; IDcr is ours.
    ci, cr = (net_of(i) for i in ids)
    return ci in policy.remote_nets and cr in policy.local
