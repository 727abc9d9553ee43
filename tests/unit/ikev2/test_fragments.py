"""RFC 7383 fragments: racoon2.ikev2.sk cuts and seals them and opens strongSwan's
(tests/vectors/captures/ikev2-psk-fragmented, ``fragment_size = 200``, keys as strongSwan
logged them), and iked.ikev2.fragments reassembles within every bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iked.ikev2.fragments import (
    DEFAULT_LIMITS,
    Drop,
    Limits,
    Reassembly,
    message_size,
    unfragmented,
)
from iked.ikev2.intauth import octets
from racoon2.crypto.rng import DeterministicRng
from racoon2.crypto.transforms import TransformType, by_id
from racoon2.errors import CryptoError
from racoon2.ikev2 import message
from racoon2.ikev2.constants import ExchangeType, PayloadType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import SKF, IDi, Notify, Payload, payload_type
from racoon2.ikev2.sk import SkCipher, SkKeys

CAPTURE = Path(__file__).resolve().parents[2] / "vectors" / "captures" / "ikev2-psk-fragmented"
CBC = SkCipher(by_id(TransformType.ENCR, 12, 128), by_id(TransformType.INTEG, 12))
GCM = SkCipher(by_id(TransformType.ENCR, 20, 256), None)
KEYS = SkKeys(bytes(range(16)), bytes(range(32)))
GCM_KEYS = SkKeys(bytes(range(36)), b"")
HEAD = Message(bytes(range(8)), bytes(range(8, 16)), ExchangeType.IKE_AUTH, 1, (), 0x08)
INNER = (IDi(1, b"\xc0\x00\x02\x01"), Notify(0, 40000, b"", bytes(range(256)) * 8))


def test_message_size_leaves_room_for_ip_udp_and_the_marker() -> None:
    # RFC 7383 §2.5.1: the datagram's size; the IKE message gets what the headers leave
    assert message_size(576, ipv6=False, natt=False) == 548
    assert message_size(1280, ipv6=True, natt=False) == 1232
    assert message_size(1280, ipv6=False, natt=True) == 1248


@pytest.mark.parametrize(("cipher", "keys"), [(CBC, KEYS), (GCM, GCM_KEYS)], ids=["cbc", "gcm"])
@pytest.mark.parametrize("size", [200, 548, 1252])
def test_sealed_fragments_fit_and_open(cipher: SkCipher, keys: SkKeys, size: int) -> None:
    out = cipher.seal_fragments(HEAD, INNER, keys, DeterministicRng(b"f"), size)
    first, chain = message.encode_chain(INNER)
    assert len(out) > 1
    plain = b""
    for n, data in enumerate(out, 1):
        assert len(data) <= size
        msg = message.decode(data)
        skf = msg.payloads[-1]
        assert isinstance(skf, SKF) and (skf.number, skf.total) == (n, len(out))
        assert skf.first_inner == (first if n == 1 else 0)  # §2.5
        plain += cipher.open_fragment(data, msg, keys)
    assert plain == chain
    # all but the last are full: no fragment more than needed
    assert all(len(d) > size - 16 for d in out[:-1])


def test_each_fragment_has_its_own_icv_over_its_numbers() -> None:
    out = CBC.seal_fragments(HEAD, INNER, KEYS, DeterministicRng(b"f"), 548)
    data = bytearray(out[1])
    data[28 + 6] ^= 1  # Total Fragments: in the integrity-protected octets (§2.5)
    with pytest.raises(CryptoError):
        CBC.open_fragment(bytes(data), message.decode(bytes(data)), KEYS)
    data = bytearray(out[0])
    data[-1] ^= 1
    with pytest.raises(CryptoError):
        CBC.open_fragment(bytes(data), message.decode(bytes(data)), KEYS)


def test_a_message_that_fits_is_one_fragment_of_one() -> None:
    (one,) = CBC.seal_fragments(HEAD, (Notify(0, 16384),), KEYS, DeterministicRng(b"f"), 548)
    skf = message.decode(one).payloads[-1]
    assert isinstance(skf, SKF) and (skf.number, skf.total) == (1, 1)


def test_unfragmented_head_gives_intauth_the_whole_messages_octets() -> None:
    """RFC 9242 §3.3.2: IntAuth of a fragmented message equals that of the message whole."""
    whole = CBC.seal(HEAD, INNER, KEYS, DeterministicRng(b"w"))
    out = CBC.seal_fragments(HEAD, INNER, KEYS, DeterministicRng(b"f"), 548)
    first, chain = message.encode_chain(INNER)
    frag1 = message.decode(out[0])
    assert octets(unfragmented(frag1, first), chain) == octets(whole, chain)


# -- strongSwan's fragments ------------------------------------------------------------------


def _capture() -> tuple[list[bytes], dict[str, dict[str, Any]]]:
    records = [bytes.fromhex(r["hex"]) for r in
               json.loads((CAPTURE / "messages.json").read_text())]
    keys = {k["spi_i"] + k["spi_r"]: k for k in json.loads((CAPTURE / "keys.json").read_text())}
    return records, keys


def test_strongswan_fragments_reassemble() -> None:
    records, keys = _capture()
    cipher = SkCipher(by_id(TransformType.ENCR, 20, 128), None)  # AES_GCM_16-128
    box = Reassembly()
    whole: list[tuple[Message, tuple[Payload, ...]]] = []
    for data in records:
        msg = message.decode(data)
        k = keys.get(data[:16].hex())
        if k is None or not isinstance(msg.payloads[-1], SKF):
            continue
        sent_by_i = bool(msg.flags & 0x08)
        key = bytes.fromhex(k["sk_ei"] if sent_by_i else k["sk_er"])
        plain = cipher.open_fragment(data, msg, SkKeys(key, b""))
        got = box.add((data[:16], sent_by_i), msg, plain, 0.0)
        assert got.drop is None
        if got.whole is not None:
            assert got.first is not None
            skf = got.first.payloads[-1]
            assert isinstance(skf, SKF)
            whole.append((msg, message.decode_chain(got.whole, skf.first_inner)))
    kinds = [(m.exchange, m.response) for m, _ in whole]
    assert (ExchangeType.IKE_AUTH, False) in kinds and (ExchangeType.IKE_AUTH, True) in kinds
    auth_request = next(p for m, p in whole if m.exchange == ExchangeType.IKE_AUTH
                        and not m.response)
    types = [payload_type(p) for p in auth_request]
    assert types[0] == PayloadType.IDI and PayloadType.AUTH in types, types
    assert box.pending == 0 and box.held == 0


# -- reassembly's rules ----------------------------------------------------------------------


def _frag(number: int, total: int, mid: int = 1, response: bool = False) -> Message:
    skf = SKF(PayloadType.NOTIFY if number == 1 else 0, number, total, b"")
    return Message(bytes(8), bytes(8), ExchangeType.IKE_AUTH, mid, (skf,),
                   0x20 if response else 0)


def test_any_order_completes_and_duplicates_are_ignored() -> None:
    box = Reassembly()
    assert box.add("sa", _frag(3, 3), b"c", 0).whole is None
    assert box.add("sa", _frag(1, 3), b"a", 0).whole is None
    assert box.add("sa", _frag(1, 3), b"X", 0).whole is None  # a duplicate: the first stays
    assert box.held == 2
    got = box.add("sa", _frag(2, 3), b"b", 0)
    assert got.whole == b"abc" and got.first == _frag(1, 3)
    assert (box.pending, box.held) == (0, 0)


def test_a_higher_total_restarts_a_lower_one_is_dropped() -> None:
    box = Reassembly()
    box.add("sa", _frag(1, 2), b"a" * 10, 0)
    got = box.add("sa", _frag(1, 4), b"b" * 5, 0)  # §2.6: the sender cut smaller
    assert got.drop is None and got.evicted == 1 and box.held == 5
    assert box.add("sa", _frag(2, 2), b"c", 0).drop is Drop.FEWER
    assert box.held == 5


def test_total_fragments_within_the_limit() -> None:
    # the table's own bounds (octets, messages, peers, addresses, time) are
    # tests/unit/iked/test_reassembly.py's
    box = Reassembly(Limits(max_fragments=8))
    assert box.add("sa", _frag(1, 9), b"", 0).drop is Drop.NUMBER
    assert box.add("sa", _frag(1, 8), b"", 0).drop is None


def test_one_message_a_direction_per_ike_sa() -> None:
    box = Reassembly(DEFAULT_LIMITS)
    box.add("sa", _frag(1, 2, mid=1), b"a", 0)
    box.add("sa", _frag(1, 2, mid=0, response=True), b"r", 0)
    assert box.pending == 2  # the peer's request and the response to ours
    got = box.add("sa", _frag(1, 2, mid=2), b"b", 0)  # a newer request: the old one is moot
    assert got.evicted == 1 and box.pending == 2 and box.held == 2
    assert box.settled("sa", True) == 1 and box.pending == 1
    box.forget_peer("sa")
    assert (box.pending, box.held) == (0, 0)

