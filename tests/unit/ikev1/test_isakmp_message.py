"""ISAKMP messages: known bytes, hostile input, and every captured IKEv1 message (the clear ones
and, decrypted with the saved SKEYID_e, the encrypted ones) byte for byte."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from isakmp_captures import IKEV1, decrypt_all, messages

from racoon2.errors import ParseError
from racoon2.ikev1.constants import (
    Doi,
    ExchangeType,
    NotifyType,
    PayloadType,
    ProtocolId,
)
from racoon2.ikev1.message import (
    Header,
    Message,
    decode,
    decode_chain,
    decode_header,
    decode_plaintext,
    encode,
    encode_chain,
    encode_header,
    fragments,
    reassemble,
)
from racoon2.ikev1.payloads import (
    KE,
    SA,
    Delete,
    Fragment,
    Hash,
    Identification,
    NatD,
    Nonce,
    Notification,
    VendorId,
)

CKY_I, CKY_R = bytes.fromhex("0123456789abcdef"), bytes.fromhex("fedcba9876543210")


def _raw(first: int, body: str, flags: int = 0, exchange: int = 2) -> bytes:
    tail = bytes.fromhex(body)
    return encode_header(Header(CKY_I, CKY_R, first, 0x10, exchange, flags, 0, 28 + len(tail))
                         ) + tail


def test_main_mode_message_bytes() -> None:
    msg = Message(CKY_I, CKY_R, ExchangeType.MAIN_MODE, 0,
                  (KE(b"\x01\x02"), Nonce(b"\x03\x04"), NatD(b"\x05"), NatD(b"\x06")))
    raw = encode(msg)
    assert raw.hex() == (
        "0123456789abcdef" "fedcba9876543210" "04" "10" "02" "00" "00000000" "00000032"
        "0a000006" "0102"          # KE, next Nonce
        "14000006" "0304"          # Nonce, next NAT-D
        "14000005" "05"            # NAT-D, next NAT-D
        "00000005" "06")           # NAT-D, last
    assert decode(raw) == msg
    header = decode_header(raw)
    assert header == Header(CKY_I, CKY_R, PayloadType.KE, 0x10, 2, 0, 0, 50)
    assert encode_header(header) == raw[:28]
    assert not (header.encrypted or header.commit or header.authentication_only)
    assert msg.find(NatD) == [NatD(b"\x05"), NatD(b"\x06")]


def test_zero_padding_after_a_clear_message_is_kept() -> None:
    # libreswan 4.10 pads its IKEv1 messages to 4 octets: a Main Mode message whose Length
    # counts 3 zero octets after the last payload (seen after a CERTREQ of odd length).
    raw = encode(Message(CKY_I, CKY_R, ExchangeType.MAIN_MODE, 0, (Nonce(b"\x03"),)))
    padded = raw[:24] + (len(raw) + 3).to_bytes(4, "big") + raw[28:] + bytes(3)
    msg = decode(padded)
    assert msg.payloads == (Nonce(b"\x03"),) and msg.padding == bytes(3)
    assert encode(msg) == padded
    for bad in (bytes(4), b"\x00\x01"):  # more than an alignment, or not zero
        with pytest.raises(ParseError, match="octets after the last payload"):
            decode(raw[:24] + (len(raw) + len(bad)).to_bytes(4, "big") + raw[28:] + bad)


def test_encrypted_message_keeps_ciphertext() -> None:
    msg = Message(CKY_I, CKY_R, ExchangeType.QUICK_MODE, 0x01020304, flags=0x03,
                  encrypted=bytes(range(16)), first_payload=PayloadType.HASH)
    raw = encode(msg)
    assert raw.hex() == ("0123456789abcdef" "fedcba9876543210" "08" "10" "20" "03" "01020304"
                         "0000002c" + bytes(range(16)).hex())
    assert decode(raw) == msg
    header = decode_header(raw)
    assert header.encrypted and header.commit and not header.authentication_only


def test_decrypted_body_with_padding() -> None:
    first, chain = encode_chain((Hash(b"\xaa" * 4), Delete(Doi.IPSEC, ProtocolId.ISAKMP, 16,
                                                           (CKY_I + CKY_R,))))
    plain = chain + bytes(16 - len(chain) % 16)
    payloads, padding = decode_plaintext(plain, first)
    assert payloads == decode_chain(chain, first) and padding == bytes(16 - len(chain) % 16)
    with pytest.raises(ParseError) as err:
        decode_chain(plain, first)
    assert err.value.what == "payload chain" and err.value.offset == len(chain)


def test_dpd_informational() -> None:
    ru_there = Notification(Doi.IPSEC, ProtocolId.ISAKMP, NotifyType.R_U_THERE, CKY_I + CKY_R,
                            (42).to_bytes(4, "big"))
    msg = Message(CKY_I, CKY_R, ExchangeType.INFORMATIONAL, 0x11223344, (Hash(bytes(32)), ru_there))
    again = decode(encode(msg))
    assert again == msg and again.find(Notification)[0] == ru_there


@pytest.mark.parametrize("kwargs", [
    {"flags": 1},
    {"encrypted": b"x"},
    {"flags": 1, "encrypted": b"x", "payloads": (Nonce(b""),)},
    {"first_payload": 8},
    {"cookie_i": b"short"},
])
def test_inconsistent_messages_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"cookie_i": CKY_I, "cookie_r": CKY_R, "exchange": 2,
                               "message_id": 0}
    with pytest.raises(ValueError):
        Message(**(args | kwargs))  # type: ignore[arg-type]


def test_oversized_payload_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode_chain((VendorId(bytes(0x10000)),))


SA_HEAD = "00000001" "00000001"


@pytest.mark.parametrize(("raw", "what", "offset"), [
    (bytes(10), "ISAKMP header", 0),
    (_raw(0, "")[:17] + b"\x20" + _raw(0, "")[18:], "ISAKMP header", 17),
    (_raw(0, "") + b"\x00", "ISAKMP header", 24),
    (_raw(PayloadType.KE, "000000"), "KE", 28),
    (_raw(PayloadType.KE, "00000002"), "KE", 30),
    (_raw(PayloadType.KE, "00000010" "aa"), "KE", 30),
    (_raw(PayloadType.KE, "00010005" "aa"), "KE", 29),
    (_raw(PayloadType.KE, "08000005" "aa"), "HASH", 33),
    (_raw(PayloadType.KE, "00000005" "aa" "ff"), "payload chain", 33),
    (_raw(PayloadType.ID, "00000006" "0100"), "ID", 32),
    (_raw(PayloadType.SA, "0000000c" "00000001" "00000002"), "SA", 36),
    (_raw(PayloadType.SA, "0000000a" "000000010000"), "SA", 32),
    # proposal announcing 2 transforms, holding 1
    (_raw(PayloadType.SA, "0000001c" + SA_HEAD + "00000010" "01010002" "00000008" "01010000"),
     "SA", 56),
    # proposal followed by payload type 5 instead of 2 or 0
    (_raw(PayloadType.SA, "0000001c" + SA_HEAD + "05000010" "01010001" "00000008" "01010000"),
     "SA", 40),
    # proposal's length below its fixed part
    (_raw(PayloadType.SA, "00000014" + SA_HEAD + "00000004" "01010000"), "SA", 42),
    # SPI Size 4 in an 8-octet proposal
    (_raw(PayloadType.SA, "00000018" + SA_HEAD + "00000008" "01010400" "aabbccdd"), "SA", 46),
    # data after the last proposal
    (_raw(PayloadType.SA, "00000016" + SA_HEAD + "00000008" "01010000" "ffff"), "SA", 48),
    # a proposal that says more follow, and none does
    (_raw(PayloadType.SA, "00000014" + SA_HEAD + "02000008" "01010000"), "SA", 48),
    # transform RESERVED2 not zero
    (_raw(PayloadType.SA, "0000001c" + SA_HEAD + "00000010" "01010001" "00000008" "01010001"),
     "SA", 54),
    # transform followed by payload type 9
    (_raw(PayloadType.SA, "0000001c" + SA_HEAD + "00000010" "01010001" "09000008" "01010000"),
     "SA", 48),
    # a TLV attribute longer than its transform
    (_raw(PayloadType.SA, "00000024" + SA_HEAD + "00000018" "01010001" "00000010" "01010000"
          "000c0008" "00007080"), "SA", 58),
    # a 2-octet attribute
    (_raw(PayloadType.SA, "0000001e" + SA_HEAD + "00000012" "01010001" "0000000a" "01010000"
          "8001"), "SA", 56),
    (_raw(PayloadType.NOTIFICATION, "0000000e" "00000001" "0110" "8d28" "0102"),
     "NOTIFICATION", 40),
    (_raw(PayloadType.DELETE, "00000010" "00000001" "0304" "0002" "01020304"), "DELETE", 38),
    (_raw(PayloadType.NAT_OA, "0000000b" "01000000" "c00002"), "NAT_OA", 32),
    (_raw(PayloadType.NAT_OA, "0000000c" "03000000" "c0000201"), "NAT_OA", 32),
    (_raw(PayloadType.NAT_OA_DRAFT, "0000000c" "01000100" "c0000201"), "NAT_OA_DRAFT", 33),
    (_raw(PayloadType.ATTRIBUTE, "00000008" "01010000"), "ATTRIBUTE", 33),
    (_raw(PayloadType.ATTRIBUTE, "0000000a" "01000000" "0001"), "ATTRIBUTE", 36),
    (_raw(PayloadType.ATTRIBUTE, "0000000c" "01000000" "00010001"), "ATTRIBUTE", 38),
    (_raw(PayloadType.FRAGMENT, "0000000a" "00010001" "dead"), "FRAGMENT", 34),
    (_raw(PayloadType.PROPOSAL, "00000004"), "PROPOSAL", 28),
    (_raw(PayloadType.TRANSFORM, "00000004"), "TRANSFORM", 28),
], ids=lambda v: v if isinstance(v, str | int) else "")
def test_malformed(raw: bytes, what: str, offset: int) -> None:
    with pytest.raises(ParseError) as err:
        decode(raw)
    assert (err.value.what, err.value.offset) == (what, offset), str(err.value)


def test_fragments_reassemble_in_any_order() -> None:
    whole = encode(Message(CKY_I, CKY_R, ExchangeType.AGGRESSIVE, 0,
                           (Identification(1, bytes(4)), VendorId(bytes(300)))))
    parts = fragments(whole, 7, 100)
    assert [f.number for f in parts] == [1, 2, 3, 4] and [f.last for f in parts] == [
        False, False, False, True]
    carried = [decode(encode(Message(CKY_I, CKY_R, ExchangeType.AGGRESSIVE, 0, (f,))))
               for f in parts]
    received = [p for m in carried for p in m.payloads if isinstance(p, Fragment)]
    shuffled = received + received[:2]
    random.Random(1).shuffle(shuffled)
    assert reassemble(shuffled) == whole
    assert reassemble(received[:3]) is None and reassemble(received[1:]) is None
    assert reassemble([]) is None
    assert fragments(b"", 1, 10) == (Fragment(1, 1, b"", 1),)
    with pytest.raises(ValueError):
        reassemble([Fragment(1, 1, b""), Fragment(2, 2, b"", 1)])
    with pytest.raises(ValueError):
        fragments(whole, 1, 0)


@pytest.mark.parametrize("d", IKEV1, ids=lambda d: d.name)
def test_captured_messages_round_trip(d: Path) -> None:
    clear = 0
    for raw in messages(d):
        msg = decode(raw)
        assert encode(msg) == raw
        clear += msg.encrypted is None
    assert clear >= 2


@pytest.mark.parametrize("d", IKEV1, ids=lambda d: d.name)
def test_captured_phase1_contents(d: Path) -> None:
    first = decode(messages(d)[0])
    (sa,) = first.find(SA)
    assert isinstance(sa, SA) and sa.doi == Doi.IPSEC and sa.situation == 1
    transform = sa.proposals[0].transforms[0]
    assert sa.proposals[0].protocol == ProtocolId.ISAKMP and transform.id == 1
    assert transform.attribute(1) is not None  # Encryption Algorithm
    assert any(isinstance(p, VendorId) for p in first.payloads)


@pytest.mark.parametrize("d", IKEV1, ids=lambda d: d.name)
def test_decrypted_messages_round_trip(d: Path) -> None:
    opened = decrypt_all(d)
    assert len(opened) == sum(decode(raw).encrypted is not None for raw in messages(d))
    kinds = set()
    for o in opened:
        payloads, padding = decode_plaintext(o.plaintext, o.first)
        assert len(padding) < 16 or set(padding) == {0}
        assert encode_chain(payloads) == (o.first, o.plaintext[:len(o.plaintext) - len(padding)])
        assert isinstance(payloads[0], Hash | Identification | NatD)
        kinds |= {type(p) for p in payloads}
    # Quick Mode with PFS: SA (ESP), Nonce, KE, IDci/IDcr; the INFORMATIONAL's Delete
    assert {SA, Nonce, KE, Identification, Delete} <= kinds
