"""IPComp beside a CHILD_SA (RFC 7296 §2.22, §3.10.1; RFC 3173), pure.

IPComp has no SA payload of its own: the initiator sends one IPCOMP_SUPPORTED notify per
transform it accepts, each with the CPI it wants to receive with, and the responder answers with
one of them and its own CPI.  A policy whose ``ipsec`` bundles IPComp gets kernel templates that
require it, so here an agreement is required too: without one the CHILD_SA is refused.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from iked.ikev2.child import Child, Ipcomp
from iked.ikev2.common import notify
from racoon2.ikev2.constants import NotifyType
from racoon2.ikev2.payloads import Notify, Payload
from racoon2.kernel import api
from racoon2.net import Address

#: CPIs 0-255 are the well-known ones (RFC 3173 §3.3); the kernel's are 16 bits.
CPI_RANGE = (0x100, 0xFFFF)


def alloc(c: Child, me: Address, peer: Address) -> api.AllocSpi:
    """The kernel request reserving our inbound CPI for ``c``."""
    return api.AllocSpi(api.Proto.IPCOMP, peer, me, c.settings.reqid, lo=CPI_RANGE[0],
                        hi=CPI_RANGE[1])


def offer(c: Child) -> list[Payload]:
    """The initiator's IPCOMP_SUPPORTED notifies: our CPI with each transform we accept."""
    if not c.settings.ipcomp or not c.cpi_in:
        return []
    return [notify(NotifyType.IPCOMP_SUPPORTED, struct.pack("!HB", c.cpi_in, t))
            for t in c.settings.ipcomp]


def received(inner: Sequence[Payload]) -> list[tuple[int, int]]:
    """(CPI, transform ID) of each IPCOMP_SUPPORTED in ``inner``, in order."""
    out = []
    for p in inner:
        if isinstance(p, Notify) and p.type == NotifyType.IPCOMP_SUPPORTED and len(p.data) >= 3:
            cpi, transform = struct.unpack_from("!HB", p.data)
            out.append((cpi, transform))
    return out


def pick(c: Child, inner: Sequence[Payload]) -> tuple[int, int] | None:
    """Responder: the peer's (CPI, transform) of the first offer our policy accepts."""
    return next(((cpi, t) for cpi, t in received(inner) if t in c.settings.ipcomp), None)


def answer(c: Child) -> list[Payload]:
    """The responder's IPCOMP_SUPPORTED: our CPI and the transform chosen."""
    if c.ipcomp is None:
        return []
    return [notify(NotifyType.IPCOMP_SUPPORTED,
                   struct.pack("!HB", c.ipcomp.cpi_in, c.ipcomp.transform))]


def agreed(c: Child, inner: Sequence[Payload]) -> Ipcomp | None:
    """Initiator: the IPComp of the responder's answer, when it is one we offered."""
    got = received(inner)
    if len(got) != 1 or got[0][1] not in c.settings.ipcomp:
        return None
    return Ipcomp(got[0][1], c.cpi_in, got[0][0])
