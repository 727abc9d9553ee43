"""iked's and kinkd's kernel SAs are told from everyone else's by the inbound SPI band
(iked/kernel_sas.py, racoon2.kernel.api.owned_sas)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from iked import kernel_sas
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.net import Address

ME, PEER, OTHER = (ipaddress.ip_address(a) for a in ("192.0.2.1", "192.0.2.2", "192.0.2.9"))
CIPHER = api.Cipher("cbc(aes)", bytes(16))
INTEG = api.Integrity("hmac(sha256)", bytes(32), 128)


def _sa(src: Address, dst: Address, spi: int, reqid: int,
        proto: api.Proto = api.Proto.ESP) -> api.SaSpec:
    if proto is api.Proto.IPCOMP:
        return api.SaSpec(src, dst, proto, spi, reqid=reqid, compression="deflate")
    return api.SaSpec(src, dst, proto, spi, reqid=reqid, cipher=CIPHER, integrity=INTEG)


def test_alloc_spi_is_narrowed_to_the_band_except_ipcomp() -> None:
    esp = kernel_sas.in_band(api.AllocSpi(api.Proto.ESP, PEER, ME, 7))
    assert (esp.lo, esp.hi) == kernel_sas.SPI_BAND
    comp = api.AllocSpi(api.Proto.IPCOMP, PEER, ME, 7, lo=256, hi=65535)
    assert kernel_sas.in_band(comp) == comp


@pytest.mark.parametrize("owner", [api.Owner.IKED, api.Owner.KINKD])
def test_owned_pairs_outbound_and_ipcomp_with_our_inbound(owner: api.Owner) -> None:
    band = api.spi_band(owner)
    other = api.spi_band(api.Owner.KINKD if owner is api.Owner.IKED else api.Owner.IKED)

    async def run() -> tuple[int, list[api.SaKey]]:
        k = MemoryBackend(seed=1)
        spi = await k.alloc_spi(api.Proto.ESP, PEER, ME, 7, lo=band[0], hi=band[1])
        for sa in (_sa(PEER, ME, spi, 7),                      # our inbound
                   _sa(ME, PEER, 0x1234, 7),                   # its outbound (peer's SPI)
                   _sa(PEER, ME, 300, 7, api.Proto.IPCOMP),    # IPComp of that CHILD_SA
                   _sa(ME, PEER, 0x5678, 8),                   # another daemon's: reqid 8
                   _sa(PEER, ME, other[0] + 5, 7),             # the other daemon's band
                   _sa(OTHER, ME, 0x9ABC, 7),                  # another peer, SPI out of band
                   _sa(ME, OTHER, 0xDEF0, 7)):
            await (k.update_sa(sa) if sa.spi == spi else k.add_sa(sa))
        return spi, api.owned_sas(await k.dump_sas(), owner)

    spi, keys = asyncio.run(run())
    assert band[0] <= spi <= band[1]
    assert sorted((str(k.src), k.spi) for k in keys) == sorted(
        [("192.0.2.2", spi), ("192.0.2.1", 0x1234), ("192.0.2.2", 300)])
