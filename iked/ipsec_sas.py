"""The kernel SAs of one negotiated IPsec SA pair, for IKEv2 CHILD_SAs and IKEv1 Quick Mode
alike (pure).

Lifetimes follow the original (doc/iked.md, "Kernel SAs"): the kernel gets the hard limit and
a soft limit at 80-90 % of it, drawn at random so peers do not rekey at once.
"""

from __future__ import annotations

from iked.ikev2.settings import ChildSettings
from racoon2.crypto.rng import Rng
from racoon2.crypto.transforms import Transform
from racoon2.errors import CryptoError
from racoon2.frozen import frozen
from racoon2.kernel import api
from racoon2.net import Address

#: (cipher key, integrity key) of one direction.
Keys = tuple[bytes, bytes]


def _algorithms(encr: Transform | None, integ: Transform | None, key: bytes, ikey: bytes
                ) -> tuple[api.Cipher | None, api.Integrity | None, api.Aead | None]:
    if encr is not None and encr.aead:
        return None, None, api.Aead(encr.xfrm_name or "", key, encr.icv_size * 8)
    if integ is None:
        raise CryptoError(f"{encr.name if encr else 'AH'} needs an integrity algorithm")
    integrity = api.Integrity(integ.xfrm_name or "", ikey,
                              integ.xfrm_trunc_bits or integ.icv_size * 8)
    return (api.Cipher(encr.xfrm_name or "", key) if encr else None), integrity, None


def lifetime(hard: int, hard_bytes: int, rng: Rng) -> api.Lifetime:
    """The kernel lifetime of an SA living ``hard`` seconds / ``hard_bytes`` bytes (0: no
    limit), its soft limits below."""
    soft = int(hard * (0.8 + 0.1 * rng.random_bytes(1)[0] / 255)) if hard else 0
    return api.Lifetime(soft_bytes=int(hard_bytes * 0.8) if hard_bytes else 0,
                        hard_bytes=hard_bytes, soft_add_seconds=soft, hard_add_seconds=hard)


@frozen
class Ends:
    """Where an SA pair runs: the outer addresses and mode, and the UDP ports of ESP in UDP
    (ours, the peer's) when a NAT lies between."""

    me: Address
    peer: Address
    mode: api.Mode
    udp: tuple[int, int] | None = None


def ends(child: ChildSettings, local: Address, remote: Address,
         udp: tuple[int, int] | None = None, inner: bool = False) -> Ends:
    """The SA ends of ``child`` between the IKE peers ``local`` and ``remote``; ``inner``:
    an IPComp SA sits inside, so ESP/AH runs in transport mode around it."""
    me = child.my_sa_addr if child.tunnel and child.my_sa_addr else local
    peer = child.peers_sa_addr if child.tunnel and child.peers_sa_addr else remote
    tunnel = api.Mode.TUNNEL if child.tunnel else api.Mode.TRANSPORT
    return Ends(me, peer, api.Mode.TRANSPORT if inner else tunnel, udp)


def sa_pair(where: Ends, proto: api.Proto, reqid: int, encr: Transform | None,
            integ: Transform | None, spi_in: int, spi_out: int, keys_in: Keys, keys_out: Keys,
            life: api.Lifetime, esn: bool = False) -> tuple[api.SaSpec, api.SaSpec]:
    """(inbound, outbound) kernel SAs: the peer sends to us on ``spi_in`` with ``keys_in``."""
    def spec(src: Address, dst: Address, spi: int, k: Keys,
             ports: tuple[int, int] | None) -> api.SaSpec:
        cipher, integrity, aead = _algorithms(encr, integ, *k)
        encap = api.Encap(*ports) if ports and proto is not api.Proto.AH else None
        return api.SaSpec(src, dst, proto, spi, where.mode, reqid, cipher=cipher,
                          integrity=integrity, aead=aead, lifetime=life, esn=esn, encap=encap)

    udp = where.udp
    return (spec(where.peer, where.me, spi_in, keys_in, udp[::-1] if udp else None),
            spec(where.me, where.peer, spi_out, keys_out, udp))


def describe(encr: Transform | None, integ: Transform | None, ah: bool = False,
             esn: bool = False) -> str:
    """``ENCR_AES_CBC-128/AUTH_HMAC_SHA1_96`` for logs and events."""
    return ("AH " if ah else "") + (
        encr.name + (f"-{encr.key_size * 8}" if encr.variable_key else "") if encr else "") + (
        f"{'/' if encr else ''}{integ.name}" if integ else "") + ("/ESN" if esn else "")
