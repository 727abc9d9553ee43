"""iked's kernel SAs are told from everyone else's by the inbound SPI band (iked/kernel_sas.py)."""

from __future__ import annotations

import asyncio
import ipaddress

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


def test_owned_pairs_outbound_and_ipcomp_with_our_inbound() -> None:
    async def run() -> tuple[int, list[api.SaKey]]:
        k = MemoryBackend(seed=1)
        spi = await k.alloc_spi(api.Proto.ESP, PEER, ME, 7, lo=kernel_sas.SPI_BAND[0],
                                hi=kernel_sas.SPI_BAND[1])
        for sa in (_sa(PEER, ME, spi, 7),                      # our inbound
                   _sa(ME, PEER, 0x1234, 7),                   # its outbound (peer's SPI)
                   _sa(PEER, ME, 300, 7, api.Proto.IPCOMP),    # IPComp of that CHILD_SA
                   _sa(ME, PEER, 0x5678, 8),                   # another daemon's: reqid 8
                   _sa(OTHER, ME, 0x9ABC, 7),                  # another peer, SPI out of band
                   _sa(ME, OTHER, 0xDEF0, 7)):
            await (k.update_sa(sa) if sa.spi == spi else k.add_sa(sa))
        return spi, kernel_sas.owned(await k.dump_sas())

    spi, keys = asyncio.run(run())
    assert kernel_sas.SPI_BAND[0] <= spi <= kernel_sas.SPI_BAND[1]
    assert sorted((str(k.src), k.spi) for k in keys) == sorted(
        [("192.0.2.2", spi), ("192.0.2.1", 0x1234), ("192.0.2.2", 300)])
