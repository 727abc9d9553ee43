"""The algorithms iked accepts for compatibility but an admin should know are weak, by their
transform names (racoon2.crypto.transforms), with the reason the RFCs give.

They stay negotiable: Windows' built-in IKEv2 client offers MODP1024 and SHA-1 by default,
and the L2TP/IPsec clients of Windows and Apple (IKEv1) offer 3DES, SHA-1 and MODP1024
(../shared/spec/native-clients.md).  iked names them in a warning line per SA instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

#: Transform name → why it is weak.  RFC 8247 (IKEv2) and RFC 8221 (ESP) give the
#: requirement levels; IKEv1 uses the same primitives.
WEAK: dict[str, str] = {
    "ENCR_3DES": "64-bit block (Sweet32), RFC 8221 §5 SHOULD NOT",
    "PRF_HMAC_MD5": "MD5, RFC 8247 §2.2 MUST NOT",
    "PRF_HMAC_SHA1": "SHA-1, RFC 8247 §2.2 MUST-",
    "AUTH_HMAC_MD5_96": "MD5, RFC 8247 §2.3 MUST NOT",
    "AUTH_HMAC_SHA1_96": "SHA-1, RFC 8247 §2.3 MUST-",
    "MODP_768": "768-bit group, RFC 8247 §2.4 MUST NOT",
    "MODP_1024": "1024-bit group, RFC 8247 §2.4 SHOULD NOT",
    "MODP_1536": "1536-bit group, RFC 8247 §2.4 SHOULD NOT",
}

_NAME = re.compile(r"[A-Z][A-Z0-9_]+")


def weaknesses(names: Iterable[str]) -> list[str]:
    """The weak ones among ``names`` (transform names, or texts such as
    ``ENCR_3DES/AUTH_HMAC_SHA1_96`` that hold them), each as ``NAME (why)``, once, in order."""
    return list(_weaknesses(tuple(names)))


@functools.lru_cache(maxsize=256)
def _weaknesses(names: tuple[str, ...]) -> tuple[str, ...]:
    # Asked for every SA that comes up, of the few algorithm texts the configuration allows.
    found: dict[str, None] = {}
    for text in names:
        found.update((f"{name} ({WEAK[name]})", None) for name in _NAME.findall(text)
                     if name in WEAK)
    return tuple(found)
