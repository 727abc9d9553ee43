"""The Transaction exchange (type 6) that carries XAuth and mode-config, pure: its HASH and
the check of a received one.

draft-dukes-ike-mode-cfg-02 §3.3 (and draft-ietf-ipsec-isakmp-xauth-06 §4, which reuses it):
the message is HDR*, HASH, ATTR with HASH = prf(SKEYID_a, M-ID | ATTR), ATTR the whole
attribute payload, generic header included, as RFC 2409 §5.7 protects an Informational.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import CfgType
from racoon2.ikev1.message import encode_chain
from racoon2.ikev1.payloads import Hash, ModeCfg, Payload, payload_name, payload_type

#: prf(key, data), the Phase 1 PRF (``racoon2.crypto.prf.Prf.compute``).
Prf = Callable[[bytes, bytes], bytes]


def cfg_name(cfg_type: int) -> str:
    """An attribute payload's type by name (REQUEST, REPLY, SET, ACK), else its number."""
    try:
        return CfgType(cfg_type).name
    except ValueError:
        return f"type {cfg_type}"


def hash_of(prf: Prf, skeyid_a: bytes, message_id: int, attributes: ModeCfg) -> bytes:
    """HASH = prf(SKEYID_a, M-ID | ATTR)."""
    _, attr = encode_chain((attributes,))
    return prf(skeyid_a, message_id.to_bytes(4, "big") + attr)


def seal(prf: Prf, skeyid_a: bytes, message_id: int, attributes: ModeCfg
         ) -> tuple[Hash, ModeCfg]:
    """The payloads of a Transaction message (to encrypt with the Phase 1 keys)."""
    return Hash(hash_of(prf, skeyid_a, message_id, attributes)), attributes


def open_(prf: Prf, skeyid_a: bytes, message_id: int, payloads: tuple[Payload, ...]
          ) -> ModeCfg:
    """The attribute payload of a decrypted Transaction message after its HASH is checked;
    raises :class:`ProtocolError` naming what is wrong (the engine logs it and drops the
    message)."""
    match payloads:
        case (Hash(data=digest), ModeCfg() as attributes):
            pass
        case _:
            kinds = ", ".join(payload_name(payload_type(p)) for p in payloads) or "nothing"
            raise ProtocolError(f"Transaction message with {kinds}, expected HASH, ATTRIBUTE")
    if not hmac.compare_digest(digest, hash_of(prf, skeyid_a, message_id, attributes)):
        raise ProtocolError(f"Transaction message {message_id:#010x}: HASH does not match "
                            "prf(SKEYID_a, M-ID | ATTR), dropped")
    return attributes
