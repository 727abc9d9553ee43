"""IKEv1 NAT traversal (RFC 3947, and the draft-ietf-ipsec-nat-t-ike-02/03 variants older
Windows and macOS clients still announce), pure: which variant both sides speak, the NAT-D
hashes and what they reveal, when to float to port 4500, the NAT-OA payloads of transport mode
and the UDP-encapsulation mode numbers.

The engine calls, in order: :func:`choose` on the peer's Vendor IDs (Phase 1 messages 1-2),
:func:`nat_d_payloads` for its own NAT-D payloads and :func:`detect` on the peer's (Main Mode
messages 3-4, Aggressive Mode 2-3), :func:`floated` once a NAT is seen, then in Quick Mode
:func:`encapsulation` / :func:`decapsulation` on the SA's mode attribute and
:func:`nat_oa_payloads` for transport mode.  The non-ESP marker and the keepalive octet are
the shell's (``iked/shell.py``), shared with IKEv2.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from iked.ikev2.sa import NAT_KEEPALIVE, NAT_KEEPALIVE_PACKET, NAT_T_PORT
from racoon2.crypto.keymat import ikev1_hash
from racoon2.crypto.prf import Prf
from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import EncapsulationMode, IdType
from racoon2.ikev1.payloads import NatD, NatOA
from racoon2.net import Address, Endpoint

#: The negotiated hash function, ``digest_for(prf)``.
Digest = Callable[[bytes], bytes]

__all__ = ["KEEPALIVE", "KEEPALIVE_INTERVAL", "NAT_T_PORT", "NatStatus", "Variant", "choose",
           "decapsulation", "detect", "digest_for", "encapsulation", "floated", "nat_d",
           "nat_d_payloads", "nat_oa_payloads", "original_addresses", "vendor_id"]

#: RFC 3948 §2.3: one 0xFF octet, sent by the side behind the NAT; every 20 s as the
#: original's natk_interval.
KEEPALIVE = NAT_KEEPALIVE_PACKET
IKE_PORT = 500
KEEPALIVE_INTERVAL = NAT_KEEPALIVE


class Variant(enum.Enum):
    """A NAT-T dialect and its Vendor ID: MD5 of the name (RFC 3947 §3.1; the drafts' §3.1).
    ``DRAFT_02_N`` hashes the name with a trailing newline, an error early implementations
    shipped and Windows and macOS kept announcing (ipsec-tools vendorid.h, strongSwan
    vendor_id_payload's table)."""

    RFC3947 = "RFC 3947"
    DRAFT_03 = "draft-ietf-ipsec-nat-t-ike-03"
    DRAFT_02 = "draft-ietf-ipsec-nat-t-ike-02"
    DRAFT_02_N = "draft-ietf-ipsec-nat-t-ike-02\n"

    @property
    def draft(self) -> bool:
        """The drafts' private payload types (130, 131) and modes (61443, 61444)."""
        return self is not Variant.RFC3947


#: Most preferred first, as racoon and strongSwan choose.
_PREFERENCE = (Variant.RFC3947, Variant.DRAFT_03, Variant.DRAFT_02, Variant.DRAFT_02_N)


def vendor_id(variant: Variant) -> bytes:
    """The 16-octet Vendor ID announcing ``variant``."""
    return hashlib.md5(variant.value.encode(), usedforsecurity=False).digest()


_BY_VID = {vendor_id(v): v for v in _PREFERENCE}


def choose(peer_vendor_ids: Iterable[bytes], ours: Sequence[Variant] = _PREFERENCE
           ) -> Variant | None:
    """The variant to speak: the most preferred of ``ours`` the peer announced, or None (no
    NAT-T; draft-00/01 and unknown IDs are not NAT-T dialects we speak).  A responder answers
    with this one Vendor ID only."""
    theirs = {_BY_VID[v] for v in peer_vendor_ids if v in _BY_VID}
    return next((v for v in ours if v in theirs), None)


def digest_for(prf: Prf) -> Digest:
    """The Phase 1 hash (not its HMAC) that NAT-D uses (RFC 3947 §3.2), from the SA's PRF."""
    return lambda data: ikev1_hash(prf, data)


def nat_d(digest: Digest, cookie_i: bytes, cookie_r: bytes,
          endpoint: Endpoint) -> bytes:
    """HASH = HASH(CKY-I | CKY-R | IP | Port) (RFC 3947 §3.2)."""
    return digest(cookie_i + cookie_r + endpoint.addr.packed + endpoint.port.to_bytes(2, "big"))


def nat_d_payloads(digest: Digest, cookie_i: bytes, cookie_r: bytes,
                   local: Endpoint, remote: Endpoint, variant: Variant) -> tuple[NatD, NatD]:
    """Our NAT-D payloads: the peer's address first, then ours (RFC 3947 §3.2)."""
    return (NatD(nat_d(digest, cookie_i, cookie_r, remote), variant.draft),
            NatD(nat_d(digest, cookie_i, cookie_r, local), variant.draft))


@dataclass(frozen=True, slots=True)
class NatStatus:
    """What the peer's NAT-D payloads say: who is behind a NAT."""

    local_behind: bool
    peer_behind: bool

    @property
    def nat(self) -> bool:
        """Some NAT is between us: float to 4500, encapsulate ESP in UDP."""
        return self.local_behind or self.peer_behind


def detect(digest: Digest, cookie_i: bytes, cookie_r: bytes,
           received: Sequence[NatD], local: Endpoint, remote: Endpoint) -> NatStatus:
    """RFC 3947 §3.2: the first NAT-D hashes the address the peer sent to; if it is not ours
    (the packet's destination), we are behind a NAT.  The others hash the addresses the peer
    sent from; if none is the packet's source, the peer is.  ``local`` and ``remote`` are the
    received packet's destination and source."""
    if len(received) < 2:
        raise ProtocolError(f"{len(received)} NAT-D payload(s), expected at least two "
                            "(RFC 3947 §3.2)")
    hashes = [p.data for p in received]
    return NatStatus(local_behind=hashes[0] != nat_d(digest, cookie_i, cookie_r, local),
                     peer_behind=nat_d(digest, cookie_i, cookie_r, remote) not in hashes[1:])


def floated(local: Endpoint, remote: Endpoint) -> tuple[Endpoint, Endpoint]:
    """(local, remote) after floating (RFC 3947 §4): the initiator moves to port 4500 from
    Main Mode message 5 (Aggressive Mode message 3) on once a NAT is detected, with the
    non-ESP marker; the responder then answers where the message came from.  A peer behind
    a NAT: only port 500 (IKE's) changes; a translated port is the NAT's and is learned from
    the next message that arrives through it."""
    def move(e: Endpoint) -> Endpoint:
        return Endpoint(e.addr, NAT_T_PORT) if e.port == IKE_PORT else e
    return move(local), move(remote)


_UDP = {EncapsulationMode.TUNNEL: (EncapsulationMode.UDP_TUNNEL,
                                   EncapsulationMode.UDP_TUNNEL_DRAFT),
        EncapsulationMode.TRANSPORT: (EncapsulationMode.UDP_TRANSPORT,
                                      EncapsulationMode.UDP_TRANSPORT_DRAFT)}
_PLAIN = {udp: plain for plain, modes in _UDP.items() for udp in modes}


def encapsulation(mode: EncapsulationMode, variant: Variant) -> EncapsulationMode:
    """The Encapsulation Mode value to propose behind a NAT: 3/4 (RFC 3947 §5.1) or the
    drafts' 61443/61444."""
    rfc, draft = _UDP[mode]
    return draft if variant.draft else rfc


def decapsulation(value: int) -> tuple[EncapsulationMode, bool]:
    """(tunnel or transport, UDP-encapsulated?) for a received Encapsulation Mode value, any
    variant's; an unknown value raises (RFC 2407 §4.5: refuse the transform)."""
    try:
        mode = EncapsulationMode(value)
    except ValueError:
        raise ProtocolError(f"Encapsulation Mode {value} is none of RFC 2407, RFC 3947 or the "
                            "NAT-T drafts") from None
    if mode in _PLAIN:
        return _PLAIN[mode], True
    return mode, False


def _oa(addr: Address, draft: bool) -> NatOA:
    return NatOA(IdType.IPV4_ADDR if addr.version == 4 else IdType.IPV6_ADDR, addr.packed, draft)


def nat_oa_payloads(initiator: Address, responder: Address, variant: Variant
                    ) -> tuple[NatOA, NatOA]:
    """NAT-OAi then NAT-OAr for a transport-mode Quick Mode behind a NAT (RFC 3947 §5.2):
    each side's original address as the sender knows it.  Both are sent, with the variant's
    payload type, as ipsec-tools' ``create_natoa_payloads`` does; L2TP/IPsec needs them to fix
    up the TCP/UDP checksums of NATed transport traffic."""
    return _oa(initiator, variant.draft), _oa(responder, variant.draft)


def original_addresses(received: Sequence[NatOA]) -> tuple[Address | None, Address | None]:
    """(initiator's, responder's) original address from a Quick Mode's NAT-OA payloads (one
    or two; RFC 3947 §5.2), None where absent."""
    if len(received) > 2:
        raise ProtocolError(f"{len(received)} NAT-OA payloads, expected at most two "
                            "(RFC 3947 §5.2)")
    addrs = [ipaddress.ip_address(p.address) for p in received]
    return (addrs[0] if addrs else None), (addrs[1] if len(addrs) > 1 else None)
