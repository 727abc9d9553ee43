"""NAT traversal in iked's IKEv1 exchanges (RFC 3947), pure: the engine's use of
:mod:`iked.ikev1.natt`.

* Vendor IDs: the initiator announces every variant we speak, the responder the one it chose
  (:data:`iked.ikev1.vendor.SENDERS`).
* NAT-D beside KE in MM3/MM4 and in AM2/AM3 (:data:`iked.ikev1.main_mode.KE_EXTRAS`,
  ``KE_RECEIVED``); a NAT found, the initiator floats to port 4500 before MM5/AM3.
* The responder follows the peer to the endpoint its messages come from (:func:`follow`).
* Quick Mode: the UDP Encapsulation Mode of the chosen variant (:func:`mode`), NAT-OA in
  transport mode (:func:`nat_oa`), a transport-mode peer's IDs read as the addresses seen
  (:func:`seen_ts`), the kernel SAs' UDP ports (:func:`udp_ports`).
* One keepalive octet every 20 s from the side behind the NAT (:func:`keepalive`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from iked.events import NatDetected, Now
from iked.ikev1 import main_mode, natt, vendor
from iked.ikev1.sa import IsakmpSa
from iked.ikev2.ts import Ts
from racoon2.ikev1.constants import EncapsulationMode
from racoon2.ikev1.payloads import NatD, NatOA, Payload
from racoon2.net import Endpoint


def _variant(sa: IsakmpSa) -> natt.Variant | None:
    # Only once the peer announced one; our own setting first (nat_traversal off: none).
    return natt.choose(sa.peer_vendor_ids) if sa.settings.nat_traversal else None


def _vendor_ids(sa: IsakmpSa) -> Sequence[bytes]:
    if not sa.settings.nat_traversal:
        return ()
    if sa.initiator:
        return tuple(natt.vendor_id(v) for v in natt.Variant)
    chosen = _variant(sa)
    return (natt.vendor_id(chosen),) if chosen is not None else ()


def _nat_d(sa: IsakmpSa) -> Sequence[Payload]:
    variant = _variant(sa)
    if variant is None or sa.algs is None:
        return ()
    return natt.nat_d_payloads(natt.digest_for(sa.algs.prf), sa.cookie_i, sa.cookie_r,
                               sa.local, sa.remote, variant)


def _detect(sa: IsakmpSa, payloads: Sequence[Payload]) -> None:
    received = [p for p in payloads if isinstance(p, NatD)]
    if not received or _variant(sa) is None or sa.algs is None:
        return
    local, remote = sa.arrived or (sa.local, sa.remote)
    status = natt.detect(natt.digest_for(sa.algs.prf), sa.cookie_i, sa.cookie_r, received,
                         local, remote)
    sa.nat_variant = _variant(sa)
    sa.nat = status
    if not status.nat:
        return
    if status.local_behind:
        # The first keepalive 20 s into the SA, then every 20 s (RFC 3948 §2.3).
        sa.keepalive_at = sa.born + natt.KEEPALIVE_INTERVAL
    sa.host.emit(NatDetected(sa.name, status.local_behind, status.peer_behind))
    if sa.initiator:
        # RFC 3947 §4: from MM5 / AM3 on, IKE runs between the ports 4500.
        sa.local, sa.remote = natt.floated(sa.local, sa.remote)


vendor.SENDERS.append(_vendor_ids)
main_mode.KE_RECEIVED.append(_detect)
main_mode.KE_EXTRAS.append(_nat_d)


def follow(sa: IsakmpSa, local: Endpoint, remote: Endpoint) -> tuple[Endpoint, Endpoint]:
    """A message of ``sa`` came between ``local`` and ``remote``: with NAT-T, a responder
    moves to where its peer floated to (port 4500) and either side to a NAT's new port
    (RFC 3947 §4, §6).  Returns the SA's former endpoints, for :func:`unfollow` when the
    message turns out not to be the peer's."""
    before = sa.local, sa.remote
    if sa.settings.nat_traversal and local.port == natt.NAT_T_PORT and \
            (sa.nat is None or sa.nat.nat or not sa.initiator) and before != (local, remote):
        sa.local, sa.remote = local, remote
    return before


def unfollow(sa: IsakmpSa, before: tuple[Endpoint, Endpoint]) -> None:
    """The message that moved ``sa`` was dropped: back to where it was."""
    sa.local, sa.remote = before


def encapsulated(sa: IsakmpSa) -> bool:
    """Whether ESP runs in UDP for ``sa``'s IPsec SAs."""
    return sa.nat is not None and sa.nat.nat and sa.nat_variant is not None


def mode(sa: IsakmpSa, tunnel: bool) -> EncapsulationMode:
    """The Encapsulation Mode to propose (RFC 3947 §5.1, the drafts' values per variant)."""
    plain = EncapsulationMode.TUNNEL if tunnel else EncapsulationMode.TRANSPORT
    if not encapsulated(sa):
        return plain
    assert sa.nat_variant is not None
    return natt.encapsulation(plain, sa.nat_variant)


def nat_oa(sa: IsakmpSa, initiator: bool, tunnel: bool) -> tuple[NatOA, ...]:
    """NAT-OAi and NAT-OAr of a transport-mode Quick Mode behind a NAT (RFC 3947 §5.2)."""
    if tunnel or not encapsulated(sa):
        return ()
    assert sa.nat_variant is not None
    ends = (sa.local.addr, sa.remote.addr) if initiator else (sa.remote.addr, sa.local.addr)
    return natt.nat_oa_payloads(*ends, sa.nat_variant)


def seen_ts(sa: IsakmpSa, tsi: Ts, tsr: Ts) -> tuple[Ts, Ts]:
    """The responder's reading of a transport-mode Quick Mode's host IDs behind a NAT.

    There a host's IDci/IDcr is its own, original address (the one NAT-OA carries, RFC 3947
    §5.2), which the other side never sees: the policy and SAs must name the address each IKE
    end has here, as the kernel sees the packets it decapsulates (RFC 3948 §3.1.2 leaves the
    transport checksum to the host).  Host IDs are read as the ISAKMP SA's ends, their
    protocol and ports kept; a subnet or range ID (a tunnel's) and IDs without a NAT stay."""
    if not encapsulated(sa):
        return tsi, tsr

    def here(ts: Ts, addr: Endpoint) -> Ts:
        single = ts.start == ts.end and ts.start.version == addr.addr.version
        return replace(ts, start=addr.addr, end=addr.addr) if single else ts
    return here(tsi, sa.remote), here(tsr, sa.local)


def udp_ports(sa: IsakmpSa) -> tuple[int, int] | None:
    """(our, the peer's) UDP port of ESP in UDP (RFC 3948), None without a NAT."""
    return (sa.local.port, sa.remote.port) if encapsulated(sa) else None


def keepalive_due(sa: IsakmpSa, now: Now) -> bool:
    """RFC 3948 §2.3: whether the side behind the NAT sends a keepalive now (and when
    next)."""
    if sa.keepalive_at is None or now < sa.keepalive_at:
        return False
    sa.keepalive_at = now + natt.KEEPALIVE_INTERVAL
    return True


def keepalive(sa: IsakmpSa, now: Now) -> None:
    """Send the keepalive octet when due (the shell adds no non-ESP marker to it)."""
    if keepalive_due(sa, now):
        sa.host.send(sa, natt.KEEPALIVE)
