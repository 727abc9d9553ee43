"""One CHILD_SA: traffic selectors on the wire, its keys, and the kernel SAs (pure).

KEYMAT = prf+(SK_d, Ni | Nr); the initiator-to-responder keys come first (RFC 7296 §2.17).
The kernel SAs themselves (addresses, mode, lifetimes) are :mod:`iked.ipsec_sas`', shared with
IKEv1's Quick Mode.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace

from iked import ipsec_sas
from iked.hooks import CfgReply, ChildEvent, Net
from iked.ikev2 import intauth, proposals
from iked.ikev2.proposals import Chosen
from iked.ikev2.settings import ChildSettings
from iked.ikev2.ts import Ts, exact, intersect, narrow
from racoon2.crypto import keymat
from racoon2.crypto.prf import Prf
from racoon2.crypto.rng import Rng
from racoon2.crypto.transforms import TransformType
from racoon2.errors import CryptoError
from racoon2.frozen import frozen
from racoon2.ikev2.constants import ProtocolId, TsType
from racoon2.ikev2.payloads import TrafficSelector
from racoon2.ipsec import Mode as SpmifMode
from racoon2.kernel import api
from racoon2.net import Address, Prefix

#: The IKEv2 protocol ID of a CHILD_SA's kernel protocol (Delete, REKEY_SA).
PROTOCOL_ID = {api.Proto.ESP: ProtocolId.ESP, api.Proto.AH: ProtocolId.AH}


def to_wire(selectors: Sequence[Ts]) -> tuple[TrafficSelector, ...]:
    """TS payload entries for ``selectors``."""
    return tuple(TrafficSelector(TsType.IPV4_ADDR_RANGE if t.version == 4 else
                                 TsType.IPV6_ADDR_RANGE, t.proto, t.start_port, t.end_port,
                                 t.start.packed, t.end.packed) for t in selectors)


def from_wire(entries: Sequence[TrafficSelector]) -> list[Ts]:
    """The address-range selectors of a TS payload (other TS types are skipped)."""
    out = []
    for e in entries:
        if e.ts_type in (TsType.IPV4_ADDR_RANGE, TsType.IPV6_ADDR_RANGE):
            try:
                out.append(Ts(ipaddress.ip_address(e.start), ipaddress.ip_address(e.end),
                              e.protocol, e.start_port, e.end_port))
            except ValueError:
                continue
    return out


def show(selectors: Sequence[Ts]) -> str:
    """``192.0.2.0/25, 192.0.2.128/26`` for logs."""
    return ", ".join(str(t) for t in selectors) or "(none)"


def rw_narrowed(settings: ChildSettings, peer: Sequence[Address]) -> ChildSettings:
    """An IP_RW policy as it applies to one peer: its side is ``peer`` (the addresses we
    leased it, one of each family at most, else the one it has now)."""
    return replace(settings, remote_ts=tuple(
        t for t in (intersect(Ts(a, a), r) for a in peer for r in settings.remote_ts) if t))


def rw_policies(s: ChildSettings, me: Address, peer: Address
                ) -> list[tuple[str, int, SpmifMode, Prefix, Prefix, Address, Address]]:
    """spmif POLICY ADD/DELETE arguments for an IP_RW policy of SA ends ``me``, ``peer``:
    one per address family of the narrowed peer side (a client leased an IPv4 and an IPv6
    address has a policy pair of each; the kernel's policies are of one family)."""
    pairs: list[tuple[Prefix, Prefix]] = []
    for version in dict.fromkeys(t.version for t in s.remote_ts):
        mine = [t for t in s.local_ts if t.version == version]
        if mine:
            theirs = next(t for t in s.remote_ts if t.version == version)
            pairs.append((mine[0].prefixes()[0], theirs.prefixes()[0]))
    if not pairs:  # no family in common: the first of each side (or the SA ends)
        pairs = [(s.local_ts[0].prefixes()[0] if s.local_ts else ipaddress.ip_network(me),
                  s.remote_ts[0].prefixes()[0] if s.remote_ts else ipaddress.ip_network(peer))]
    mode = SpmifMode.TUNNEL if s.tunnel else SpmifMode.TRANSPORT
    return [(s.selector, s.lifetime_seconds, mode, local, remote, me, peer)
            for local, remote in pairs]


def responder_ts(child: ChildSettings, tsi: Sequence[Ts], tsr: Sequence[Ts],
                 check_exact: bool) -> tuple[list[Ts], list[Ts]] | None:
    """Our answer (TSi, TSr) when ``child`` covers the initiator's offer, else None.

    The initiator's TSi is its side, our remote side.  ``selector_check exact`` (the default)
    wants the offer to be exactly the policy; ``obey`` narrows the offer to the policy.
    """
    if check_exact:
        if exact(tsi, child.remote_ts) and exact(tsr, child.local_ts):
            return list(child.remote_ts), list(child.local_ts)
        return None
    ni, nr = narrow(tsi, child.remote_ts), narrow(tsr, child.local_ts)
    return (ni, nr) if ni and nr else None


def initiator_accepts(child: ChildSettings, tsi: Sequence[Ts], tsr: Sequence[Ts]) -> bool:
    """The responder's narrowed TS must lie inside what we proposed."""
    def inside(got: Sequence[Ts], mine: Sequence[Ts]) -> bool:
        return bool(got) and all(any(m.contains(g) for m in mine) for g in got)
    return inside(tsi, child.local_ts) and inside(tsr, child.remote_ts)


@frozen
class Negotiated:
    """A CHILD_SA ready for the kernel: both directions' SAs, and the IPComp SAs beside them
    when IPComp was agreed (RFC 7296 §2.22)."""

    inbound: api.SaSpec
    outbound: api.SaSpec
    algorithms: str
    ipcomp: tuple[api.SaSpec, api.SaSpec] | None = None

    @property
    def specs(self) -> tuple[api.SaSpec, ...]:
        """Every kernel SA of the CHILD_SA, inbound ones first."""
        return (self.inbound, self.outbound, *(self.ipcomp or ()))

    @property
    def inbound_specs(self) -> tuple[api.SaSpec, ...]:
        """The kernel SAs the peer sends to (ESP or AH, and IPComp)."""
        return (self.inbound, *(self.ipcomp[:1] if self.ipcomp else ()))

    @property
    def outbound_specs(self) -> tuple[api.SaSpec, ...]:
        """The kernel SAs we send with."""
        return (self.outbound, *(self.ipcomp[1:] if self.ipcomp else ()))


@frozen
class Ipcomp:
    """An agreed IPComp: the transform ID and both CPIs (ours is the peer's to send to)."""

    transform: int
    cpi_in: int
    cpi_out: int


def negotiate(child: ChildSettings, chosen: Chosen, prf: Prf, sk_d: bytes, ni: bytes,
              nr: bytes, initiator: bool, spi_in: int, spi_out: int,
              local: Address, remote: Address, rng: Rng, shares: Sequence[bytes] = (),
              udp: tuple[int, int] | None = None, ipcomp: Ipcomp | None = None) -> Negotiated:
    """Derive the keys of one CHILD_SA and describe its inbound and outbound kernel SAs;
    ``shares`` are a CREATE_CHILD_SA's shared secrets, its PFS exchange's first, then RFC
    9370's additional ones, ``udp`` the (our, the
    peer's) IKE ports when a NAT lies between us: ESP then travels in UDP (RFC 3948)."""
    ah = chosen.protocol == ProtocolId.AH
    encr = None if ah else chosen.get(TransformType.ENCR)
    integ = chosen.get(TransformType.INTEG)
    if encr is None and not ah:
        raise CryptoError("the chosen ESP proposal has no encryption transform")
    size = keymat.child_keymat_size(encr, integ)
    stream = keymat.child_keymat(prf, sk_d, ni, nr, size, shares[0] if shares else b"",
                                 shares[1:])
    keys = keymat.split_child_keymat(stream, encr, integ)
    mine, theirs = (keys.encr_i, keys.integ_i), (keys.encr_r, keys.integ_r)
    if not initiator:
        mine, theirs = theirs, mine
    where = ipsec_sas.ends(child, local, remote, None if ah else udp, ipcomp is not None)
    life = ipsec_sas.lifetime(child.lifetime_seconds, child.lifetime_bytes, rng)
    proto = api.Proto.AH if ah else api.Proto.ESP
    inbound, outbound = ipsec_sas.sa_pair(where, proto, child.reqid, encr, integ, spi_in,
                                          spi_out, theirs, mine, life, chosen.esn)
    name = ipsec_sas.describe(encr, integ, ah, chosen.esn)
    comp = None
    if ipcomp is not None:
        alg = proposals.IPCOMP_NAMES[ipcomp.transform]
        tunnel = ipsec_sas.ends(child, local, remote)
        me, peer = tunnel.me, tunnel.peer
        # The kernel holds the 16-bit CPI as the SPI of the IPComp SA (RFC 3173 §3.3); it has
        # no replay window and lives as long as the SA beside it.
        comp = (api.SaSpec(peer, me, api.Proto.IPCOMP, ipcomp.cpi_in, tunnel.mode, child.reqid,
                           compression=alg, replay_window=0),
                api.SaSpec(me, peer, api.Proto.IPCOMP, ipcomp.cpi_out, tunnel.mode,
                           child.reqid, compression=alg, replay_window=0))
        name += f" + IPComp {alg}"
    return Negotiated(inbound, outbound, name + (" in UDP" if udp else ""), comp)


@dataclass(eq=False)
class Child:
    """A CHILD_SA of an IKE SA: its policy, SPIs and, once negotiated, its kernel SAs."""

    settings: ChildSettings
    spi_in: int = 0
    spi_out: int = 0
    negotiated: Negotiated | None = None
    cpi_in: int = 0                 # our IPComp CPI, offered in IPCOMP_SUPPORTED
    ipcomp: Ipcomp | None = None    # the IPComp agreed with the peer
    rekey_of: Child | None = None   # the CHILD_SA this one replaces
    replaced: bool = False          # a rekey replaced this one
    expired: bool = False           # its hard lifetime ended (dispatch.expire_child)
    #: The key exchanges its KEYMAT came from: a CREATE_CHILD_SA's PFS group, then the RFC
    #: 9370 additional ones (none for IKE_AUTH's CHILD_SA).
    key_exchanges: tuple[int, ...] = ()
    # As responder of a rekey, our outbound SAs wait until the initiator has its inbound
    # ones (child_sa.release_outbound): not in the kernel yet, due at this time at the latest.
    outbound_held_until: float | None = None
    established_at: float | None = None  # keys handed to the kernel (ikedctl)
    #: The lower nonce of the exchange that made it: of two IKEv1 rekeys of one SA, or two
    #: IKEv2 CHILD_SAs of one policy made at once, the one with the higher stays
    #: (iked.ikev1.quick_mode, iked.ikev2.child_sa); ``initiated``: IKEv1, whether we began it.
    nonce_key: bytes = b""
    initiated: bool = False


def hook_event(c: Child, ends: tuple[Address, Address], leases: Sequence[Address] = (),
               cfg_reply: CfgReply | None = None) -> ChildEvent:
    """What the phase2_* hooks report about ``c`` (doc/iked.md, "Hook scripts"): ``leases`` are the
    addresses we leased the peer, ``cfg_reply`` what the peer's CFG_REPLY gave us."""
    def net(selectors: Sequence[Ts]) -> Net | None:
        if not selectors:
            return None
        first = selectors[0].prefixes()[0]
        port = selectors[0].start_port if selectors[0].start_port == selectors[0].end_port \
            else 0
        return Net(first.network_address, first.prefixlen, port)

    s = c.settings
    proto = s.local_ts[0].proto if s.local_ts else 0
    return ChildEvent(ends[0], ends[1], s.selector, s.tunnel, net(s.local_ts),
                      net(s.remote_ts), proto, leases=tuple(leases), cfg_reply=cfg_reply,
                      key_exchanges=tuple(intauth.name(k) for k in c.key_exchanges))
