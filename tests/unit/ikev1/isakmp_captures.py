"""The captured IKEv1 exchanges of tests/vectors/captures, raw and decrypted, for the ISAKMP
codec's tests (a helper module, not a test module)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from racoon2.crypto import keymat
from racoon2.crypto.encr import encr_for
from racoon2.crypto.prf import prf_for
from racoon2.ikev1.constants import ExchangeType
from racoon2.ikev1.message import decode
from racoon2.ikev1.payloads import KE

CAPTURES = Path(__file__).resolve().parents[2] / "vectors" / "captures"
IKEV1 = sorted(d for d in CAPTURES.glob("ikev1-*") if d.is_dir())
# keys.json's algorithm string -> (racoon2.crypto ENCR id, key bits) / PRF id
ENCR = {"AES_CBC-128": (12, 128)}
PRF = {"PRF_HMAC_SHA2_256": 5}
BLOCK = 16


@dataclass(frozen=True)
class Opened:
    """One encrypted message: its bytes, its first payload type and its decrypted body."""

    raw: bytes
    first: int
    plaintext: bytes


def messages(d: Path) -> list[bytes]:
    """Every captured message of one directory, in capture order."""
    return [bytes.fromhex(r["hex"]) for r in json.loads((d / "messages.json").read_text())]


def all_messages() -> list[bytes]:
    """Every captured IKEv1 message."""
    return [raw for d in IKEV1 for raw in messages(d)]


def decrypt_all(d: Path) -> list[Opened]:
    """Decrypt every encrypted message of one capture with the saved SKEYID_e.

    IVs per RFC 2409 Appendix B: hash(g^xi | g^xr) for Phase 1's first encrypted message, then
    the previous message's last ciphertext block; for each Quick Mode or Informational
    exchange hash(last Phase 1 block | M-ID), then chained within the exchange.  A
    retransmission repeats its original bytes, so it reuses the original's IV.
    """
    (keys,) = json.loads((d / "keys.json").read_text())
    names = keys["algorithms"].split("/")
    cbc = encr_for(*ENCR[names[0]])
    prf = prf_for(next(PRF[n] for n in names if n in PRF))
    key = bytes.fromhex(keys["ka"])
    msgs = [decode(raw) for raw in messages(d)]
    kes = [p.data for m in msgs for p in m.payloads if isinstance(p, KE)]
    phase1_iv = keymat.ikev1_phase1_iv(prf, kes[0], kes[1], BLOCK)
    last_phase1 = b""
    chained: dict[int, bytes] = {}
    seen: dict[bytes, bytes] = {}
    out = []
    for raw, m in zip(messages(d), msgs, strict=True):
        if m.encrypted is None:
            continue
        if m.encrypted in seen:
            iv = seen[m.encrypted]
        elif m.exchange in (ExchangeType.MAIN_MODE, ExchangeType.AGGRESSIVE):
            iv, phase1_iv = phase1_iv, m.encrypted[-BLOCK:]
            last_phase1 = phase1_iv
        else:
            iv = chained.get(m.message_id) or keymat.ikev1_phase2_iv(
                prf, last_phase1, m.message_id.to_bytes(4, "big"), BLOCK)
            chained[m.message_id] = m.encrypted[-BLOCK:]
        seen[m.encrypted] = iv
        out.append(Opened(raw, m.first_payload, cbc.decrypt(key, iv, m.encrypted)))
    return out
