"""Vendor IDs of phase 1 (RFC 2408 §3.16), sent and received through these two functions only.

NAT-T (RFC 3947 §2), DPD (RFC 3706 §2), IKE fragmentation and XAuth announce themselves by
vendor ID: their modules add theirs to :data:`SENDERS` and read the peer's from
``IsakmpSa.peer_vendor_ids`` once phase 1 is up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from iked.ikev1.sa import IsakmpSa
from racoon2.ikev1.payloads import Payload, VendorId

#: Each returns the vendor IDs one feature sends in the first phase 1 message of either role.
SENDERS: list[Callable[[IsakmpSa], Sequence[bytes]]] = []


def ours(sa: IsakmpSa) -> tuple[VendorId, ...]:
    """The vendor ID payloads of our first phase 1 message."""
    return tuple(VendorId(v) for send in SENDERS for v in send(sa))


def received(sa: IsakmpSa, payloads: Sequence[Payload]) -> None:
    """Keep the peer's vendor IDs (every phase 1 message may carry some)."""
    sa.peer_vendor_ids += tuple(p.data for p in payloads if isinstance(p, VendorId))
