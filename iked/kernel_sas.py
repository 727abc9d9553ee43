"""Which kernel SAs are iked's (pure): its inbound SPIs lie in a band of their own.

XFRM has no owner field for SAs, and a mark or if_id would change which packets an SA takes.
The inbound SPI is ours to choose (ALLOCSPI's range) and changes nothing about matching, so
iked allocates every ESP and AH SPI in :data:`SPI_BAND`.  The SAs it installs with a peer's
SPI (outbound) and the IPComp SAs (16-bit CPIs) carry the same reqid between the same two
addresses as such an inbound SA: that pairs them.  After ``kill -9`` the new iked removes
exactly these (:func:`racoon2.kernel.api.owned_sas`, doc/design.md, "iked: kernel SAs after a
crash").
"""

from __future__ import annotations

from dataclasses import replace

from racoon2.kernel import api

#: iked's inbound ESP/AH SPIs (racoon2.kernel.api.spi_band).
SPI_BAND = api.spi_band(api.Owner.IKED)


def in_band(op: api.AllocSpi) -> api.AllocSpi:
    """``op`` with its SPI range narrowed to iked's band (IPComp CPIs keep theirs)."""
    if op.proto is api.Proto.IPCOMP:
        return op
    return replace(op, lo=SPI_BAND[0], hi=SPI_BAND[1])
