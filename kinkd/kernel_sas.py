"""kinkd's SAs in the kernel: installing a pair, its outbound SA after the ACK, removing it."""

from __future__ import annotations

import contextlib
import logging

from kinkd.sas import SaPair, SaTable, algorithms, sa_specs
from racoon2.crypto.rng import Rng
from racoon2.errors import Racoon2Error
from racoon2.kernel import api

log = logging.getLogger("kinkd")
#: kinkd's inbound SPIs: a band of its own, so that iked's sweep of its stale SAs after a
#: crash never takes a kinkd SA for one of iked's (racoon2.kernel.api.spi_band).
SPIS = api.spi_band(api.Owner.KINKD)


class KernelSas:
    """The kernel side of the SA table: a pair is in the table while its SAs are installed."""

    def __init__(self, kernel: api.KernelBackend, pairs: SaTable, rng: Rng) -> None:
        self.kernel = kernel
        self.pairs = pairs
        self.rng = rng

    async def install(self, pair: SaPair, outbound: bool) -> bool:
        """Install ``pair``'s inbound SA (and its outbound one with ``outbound``) and add it to
        the table; False (nothing installed) when the kernel refuses."""
        inbound, out = sa_specs(pair, self.rng)
        what = "inbound"
        try:
            await self.kernel.update_sa(inbound)
            if outbound:
                what = "outbound"
                await self.kernel.add_sa(out)
                pair.outbound_installed = True
        except Racoon2Error as e:
            log.error("policy %s with %s: cannot install the %s ESP SA: %s",
                      pair.policy.policy, pair.principal, what, e)
            # Also the larval SA of the allocated SPI, if the update did not happen.
            await self.forget(pair.inbound)
            return False
        self.pairs.add(pair)
        log.info("ESP SAs of policy %s up with %s at %s: %s %s, %s (%s)", pair.policy.policy,
                 pair.principal, pair.remote, pair.policy.mode.name.lower(), pair.describe(),
                 algorithms(pair.child), "initiator" if pair.initiator else
                 "responder" + (", outbound SA after the ACK" if not outbound else ""))
        return True

    async def install_outbound(self, pair: SaPair) -> None:
        """The responder's outbound SA, once the ACK came."""
        try:
            await self.kernel.add_sa(sa_specs(pair, self.rng)[1])
        except Racoon2Error as e:
            log.error("policy %s with %s: cannot install the outbound ESP SA: %s",
                      pair.policy.policy, pair.principal, e)
            return
        pair.outbound_installed = True
        log.info("policy %s with %s: ACK received, outbound SA 0x%08x installed",
                 pair.policy.policy, pair.principal, pair.child.outbound_spi)

    async def remove(self, pair: SaPair, why: str) -> None:
        """Take ``pair`` out of the table and its SAs out of the kernel (once)."""
        if not self.pairs.remove(pair):
            return
        for key in (pair.inbound, pair.outbound) if pair.outbound_installed else (pair.inbound,):
            await self.forget(key)
        log.info("ESP SAs of policy %s with %s (%s) deleted: %s", pair.policy.policy,
                 pair.principal, pair.describe(), why)

    async def forget(self, key: api.SaKey) -> None:
        """Delete one SA from the kernel; one that is gone already is no error."""
        with contextlib.suppress(Racoon2Error):
            await self.kernel.del_sa(key)
