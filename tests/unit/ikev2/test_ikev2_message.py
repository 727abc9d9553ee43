"""IKEv2 codec: known bytes, every captured message (outer and decrypted inner chains) byte for
byte, hostile input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racoon2.crypto.encr import encr_for, unpad_ikev2
from racoon2.crypto.transforms import TransformType, by_id
from racoon2.errors import ParseError
from racoon2.ikev2.constants import ExchangeType, NotifyType, PayloadType
from racoon2.ikev2.message import (
    Message,
    decode,
    decode_chain,
    encode,
    encode_chain,
    unsupported_critical,
)
from racoon2.ikev2.payloads import (
    SA,
    SK,
    Attribute,
    Nonce,
    Notify,
    Proposal,
    TrafficSelector,
    Transform,
    TSi,
    Unknown,
    signature_auth,
    split_signature_auth,
)

CAPTURES = Path(__file__).resolve().parents[2] / "vectors" / "captures"
IKEV2 = sorted(d for d in CAPTURES.glob("ikev2-*") if d.is_dir())
ENCR = {"AES_CBC-128": (12, 128), "AES_GCM_16-128": (20, 128), "AES_GCM_16-256": (20, 256)}
ICV = {"HMAC_SHA2_256_128": 16}


def test_ike_sa_init_bytes() -> None:
    sa = SA((Proposal(1, 1, b"", (Transform(1, 12, (Attribute(14, 128),)), Transform(4, 14))),))
    msg = Message(b"\x11" * 8, bytes(8), ExchangeType.IKE_SA_INIT, 0,
                  (sa, Nonce(b"\xab" * 4),
                   Notify(0, NotifyType.NAT_DETECTION_SOURCE_IP, b"", b"\xcd" * 20)), 0x08)
    raw = encode(msg)
    assert raw.hex() == (
        "1111111111111111" "0000000000000000" "21" "20" "22" "08" "00000000" "00000060"
        "28" "00" "0020"                                   # SA, next Nonce, 32 octets
        "00" "00" "001c" "01" "01" "00" "02"               # last proposal, 28, #1 IKE, 2 xforms
        "03" "00" "000c" "01" "00" "000c" "800e0080"       # ENCR AES-CBC, Key Length 128
        "00" "00" "0008" "04" "00" "000e"                  # KE group 14 (last)
        "29" "00" "0008" "abababab"                        # Nonce, next Notify
        "00" "00" "001c" "00" "00" "4004" + "cd" * 20)     # NAT_DETECTION_SOURCE_IP
    assert decode(raw) == msg


def test_ts_and_rfc7427_auth() -> None:
    ts = TSi((TrafficSelector(7, 17, 500, 500, bytes([192, 0, 2, 1]), bytes([192, 0, 2, 9])),))
    first, chain = encode_chain((ts,))
    assert first == PayloadType.TSI and chain.hex() == (
        "00000018" "01000000" "07" "11" "0010" "01f4" "01f4" "c0000201" "c0000209")
    assert decode_chain(chain, first)[0].selectors[0].end_address.exploded == "192.0.2.9"  # type: ignore[union-attr]
    assert split_signature_auth(signature_auth(b"\x30\x03\x06\x01\x00", b"sig")) == (
        b"\x30\x03\x06\x01\x00", b"sig")


def test_unknown_critical_payload() -> None:
    msg = Message(bytes(8), bytes(8), 34, 0, (Unknown(200, b"x", 0x80),))
    again = decode(encode(msg))
    assert again == msg and unsupported_critical(again) == 200


def _messages(d: Path) -> list[bytes]:
    return [bytes.fromhex(r["hex"]) for r in json.loads((d / "messages.json").read_text())]


@pytest.mark.parametrize("d", IKEV2, ids=lambda d: d.name)
def test_captured_messages_round_trip(d: Path) -> None:
    for raw in _messages(d):
        assert encode(decode(raw)) == raw


def _open(raw: bytes, keys: dict[str, Any]) -> tuple[int, bytes] | None:
    msg = decode(raw)
    last = msg.payloads[-1] if msg.payloads else None
    if not isinstance(last, SK) or raw[:16].hex() != keys["spi_i"] + keys["spi_r"]:
        return None
    names = keys["algorithms"].split("/")
    if names[0] not in ENCR:
        return None
    encr_id, bits = ENCR[names[0]]
    t = by_id(TransformType.ENCR, encr_id, bits)
    encr = encr_for(encr_id, bits)
    side = "i" if msg.initiator else "r"
    key = bytes.fromhex(keys[f"sk_e{side}"])
    iv = last.data[:t.iv_size]
    integ = next((ICV[n] for n in names if n in ICV), None)
    if integ is not None:
        plain = encr.decrypt(key, iv, last.data[t.iv_size:-integ])
    else:
        icv = t.icv_size
        plain = encr.decrypt(key, iv, last.data[t.iv_size:-icv], last.data[-icv:],
                             raw[:len(raw) - len(last.data)])
    return last.first_inner, unpad_ikev2(plain)


@pytest.mark.parametrize("d", IKEV2, ids=lambda d: d.name)
def test_decrypted_inner_chains_round_trip(d: Path) -> None:
    keys = json.loads((d / "keys.json").read_text())
    opened = 0
    for raw in _messages(d):
        for k in keys:
            got = _open(raw, k)
            if got is None:
                continue
            first, plain = got
            payloads = decode_chain(plain, first)
            assert encode_chain(payloads) == (first, plain)
            opened += 1
    assert opened or d.name.endswith("fragmented") or "cookie" in d.name


@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    try:
        decode(data)
    except ParseError:
        pass


@given(st.sampled_from([r for d in IKEV2 for r in _messages(d)]), st.integers(0, 2000),
       st.integers(0, 255))
def test_mutated_captures(raw: bytes, at: int, value: int) -> None:
    data = bytearray(raw)
    data[at % len(data)] = value
    try:
        msg = decode(bytes(data))
    except ParseError:
        return
    # Reserved octets inside substructures are ignored on receipt (RFC 7296 §3.3) and sent
    # as zero, so a mutated one does not survive; everything else does.
    assert decode(encode(msg)) == msg
