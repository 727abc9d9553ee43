"""NAT detection (pure): the NAT_DETECTION_*_IP notifies of IKE_SA_INIT (RFC 7296 §2.23) and
of MOBIKE's UPDATE_SA_ADDRESSES on a new path (RFC 4555 §3.5)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iked.ikev2.common import notify
from racoon2.ikev2.constants import NotifyType
from racoon2.ikev2.payloads import Notify, Payload
from racoon2.net import Endpoint

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa


def nat_hash(spi_i: bytes, spi_r: bytes, ep: Endpoint) -> bytes:
    """NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | Port) (RFC 7296 §2.23)."""
    return hashlib.sha1(spi_i + spi_r + ep.addr.packed + struct.pack("!H", ep.port)).digest()


def nat_seen(sa: IkeSa, payloads: Sequence[Payload], spi_r: bytes, local: Endpoint,
             remote: Endpoint) -> tuple[bool, bool] | None:
    """(a NAT in front of us, one in front of the peer): the peer's NAT_DETECTION hashes
    against ``local`` and ``remote`` as we see them; None without NAT detection (RFC 7296
    §2.23, again on a new path for MOBIKE, RFC 4555 §3.5)."""
    notes = {p.type: p.data for p in payloads if isinstance(p, Notify)}
    source = notes.get(NotifyType.NAT_DETECTION_SOURCE_IP)
    destination = notes.get(NotifyType.NAT_DETECTION_DESTINATION_IP)
    if not sa.peer.nat_traversal or source is None or destination is None:
        return None
    return (destination != nat_hash(sa.spi_i, spi_r, local),
            source != nat_hash(sa.spi_i, spi_r, remote))


def nat_notifies(sa: IkeSa, spi_r: bytes) -> list[Payload]:
    """Our NAT_DETECTION_SOURCE_IP and _DESTINATION_IP for the SA's endpoints now."""
    return [notify(NotifyType.NAT_DETECTION_SOURCE_IP, nat_hash(sa.spi_i, spi_r, sa.local)),
            notify(NotifyType.NAT_DETECTION_DESTINATION_IP,
                   nat_hash(sa.spi_i, spi_r, sa.remote))]
