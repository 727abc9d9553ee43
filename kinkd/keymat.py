"""KINK KEYMAT (RFC 4430 §5): IKEv1 Quick Mode key expansion keyed by the Kerberos session key.

RFC 4430 §5 reuses RFC 2409 §5.5::

    KEYMAT = K1 | K2 | ...
    K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b [| Nr_b])
    Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b [| Nr_b])

with two substitutions: SKEYID_d is the session key of the AP-REQ's ticket (subkeys are
ignored), and prf is the RFC 3961 PRF of that key's enctype.  Nr_b is empty when the responder
sent no nonce, which is what the optimistic two-message CREATE does.  The original racoon2
(``kinkd/kink_crypto.c``) computes the same, and likewise never sends KE, so ``g_xy_qm`` stays
empty in practice.

Each SA has its own KEYMAT, seeded with that SA's SPI, and cut as RFC 2409 §5.5 and the ESP
transform say: the encryption key (with any salt) first, then the integrity key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from kinkd.krb5.api import Context
from kinkd.krb5.values import Keyblock
from racoon2.crypto.keymat import quick_mode_keymat
from racoon2.crypto.transforms import Transform
from racoon2.ikev1.constants import ProtocolId


def keymat(ctx: Context, session_key: Keyblock, protocol: int, spi: bytes, ni_b: bytes,
           nr_b: bytes, length: int, g_xy_qm: bytes = b"") -> bytes:
    """``length`` octets of KEYMAT for the SA with ``spi`` (RFC 4430 §5, RFC 2409 §5.5)."""
    return quick_mode_keymat(lambda data: ctx.c_prf(session_key, data), protocol, spi, ni_b,
                             nr_b, length, g_xy_qm)


@dataclass(frozen=True)
class EspKeys:
    """One ESP SA's keys: the cipher key (salt included) and the integrity key."""

    encr: bytes = field(repr=False)
    integ: bytes = field(repr=False)


def esp_keys(ctx: Context, session_key: Keyblock, spi: int, ni_b: bytes, nr_b: bytes,
             encr: Transform, integ: Transform | None) -> EspKeys:
    """The keys of the ESP SA whose SPI (chosen by its receiver) is ``spi``."""
    e, a = encr.keymat_size, integ.key_size if integ else 0
    material = keymat(ctx, session_key, ProtocolId.IPSEC_ESP, struct.pack("!I", spi), ni_b,
                      nr_b, e + a)
    return EspKeys(material[:e], material[e:])
