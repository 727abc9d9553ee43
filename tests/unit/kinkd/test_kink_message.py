"""KINK messages (RFC 4430 §4): layout bytes, round trips, the checksum input, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinkd.message import (
    ApRep,
    ApReq,
    Encrypt,
    Error,
    ErrorCode,
    Isakmp,
    KrbError,
    Message,
    MsgType,
    PayloadType,
    TgtReq,
    Unknown,
    check_header,
    checksum_input,
    decode,
    decode_chain,
    decrypted_chain,
    encode,
    encode_chain,
    encrypt_plaintext,
)
from racoon2.errors import ParseError


def test_create_message_bytes() -> None:
    msg = Message(MsgType.CREATE, 0x01020304,
                  (ApReq(7, b"\x6e\x01\x02"), Encrypt(b"\x06\x00\x00\x00" + b"\xaa" * 8)),
                  ack_request=True, checksum=b"\xcc" * 12)
    assert encode(msg).hex() == (
        "01" "10" "0038" "00000001" "01020304" "01" "80" "000c"   # header: Length 56
        "07" "00" "000b" "00000007" "6e0102" "00"                # AP_REQ, 11 + 1 pad
        "00" "00" "0010" "06" "000000" + "aa" * 8                 # ENCRYPT: inner ISAKMP
        + "cc" * 12)
    assert decode(encode(msg)) == msg


def test_checksum_input_drops_the_checksum_and_fixes_the_lengths() -> None:
    raw = encode(Message(MsgType.REPLY, 9, (ApRep(1, b"rep"),), checksum=b"\x01" * 12))
    covered = checksum_input(raw)
    assert len(covered) == len(raw) - 12
    assert covered[2:4] == (len(raw) - 12).to_bytes(2, "big") and covered[14:16] == b"\0\0"
    assert covered[16:] == raw[16:-12]


@pytest.mark.parametrize("payload", [
    ApReq(0xFFFFFFFF, b""), ApRep(1, b"x" * 5), KrbError(b"\x7e\x03abc"), TgtReq(b"realm"),
    Isakmp(1, b"\x00\x00\x00\x08abcd"), Encrypt(b"\x06\x00\x00\x00"), Error(ErrorCode.BADQMVERS),
    Unknown(200, b"\x01\x02"),
])
def test_every_payload_round_trips(payload: object) -> None:
    msg = Message(MsgType.STATUS, 1, (payload,))  # type: ignore[arg-type]
    raw = encode(msg)
    assert len(raw) % 4 == 0
    assert decode(raw) == msg and encode(decode(raw)) == raw


def test_inner_chain_is_the_encrypted_plaintext() -> None:
    first, chain = encode_chain((Isakmp(1, b"qm-payloads"), Error(0)))
    assert first == 6 and decode_chain(chain, first) == (Isakmp(1, b"qm-payloads"), Error(0))


def test_header_checks() -> None:
    assert check_header(Message(MsgType.CREATE, 1)) is ErrorCode.OK
    assert check_header(Message(MsgType.CREATE, 1, version=0x20)) is ErrorCode.INVMAJ
    assert check_header(Message(MsgType.CREATE, 1, version=0x11)) is ErrorCode.INVMIN
    assert check_header(Message(MsgType.CREATE, 1, doi=2)) is ErrorCode.INVDOI
    assert check_header(Message(MsgType.CREATE, 1, (Isakmp(1, b"", 0x20),))) is \
        ErrorCode.BADQMVERS


@pytest.mark.parametrize(("raw", "where"), [
    (b"\x01\x10", "KINK header"),
    (bytes.fromhex("01100020000000010000000101000000"), "KINK header"),   # Length > data
    (bytes.fromhex("011000140000000100000001080000000000000f"), "KINK_ERROR"),
    (bytes.fromhex("01100014000000010000000108000000" "00000008"), "KINK_ERROR"),
    (bytes.fromhex("01100014000000010000000108000008" "00000000"), "KINK header"),
])
def test_malformed_messages_name_the_culprit(raw: bytes, where: str) -> None:
    with pytest.raises(ParseError) as e:
        decode(raw)
    assert e.value.what == where


@given(st.binary(max_size=200))
def test_random_bytes_give_a_message_or_parse_error(data: bytes) -> None:
    try:
        msg = decode(data)
    except ParseError:
        return
    assert isinstance(msg, Message)


@given(st.binary(min_size=16, max_size=120), st.integers(0, 119), st.integers(0, 255))
def test_mutated_messages(data: bytes, at: int, value: int) -> None:
    base = bytearray(encode(Message(MsgType.CREATE, 5, (ApReq(1, data), Isakmp(1, data)),
                                    checksum=data[:12])))
    base[at % len(base)] = value
    try:
        decode(bytes(base))
    except ParseError:
        pass


def test_encrypt_plaintext_carries_inner_next_and_reserved2() -> None:
    """InnerNextPload and RESERVED2 are inside KINK_ENCRYPT's ciphertext, as the original
    kinkd and the Wireshark KINK dissector have them."""
    inner = (Isakmp(1, b"\x00\x00\x00\x08abcd"),)
    plain = encrypt_plaintext(inner)
    assert plain[:4] == bytes([PayloadType.ISAKMP, 0, 0, 0])
    assert decrypted_chain(plain) == inner
    with pytest.raises(ParseError, match="RESERVED2"):
        decrypted_chain(plain[:1] + b"\x01" + plain[2:])
    with pytest.raises(ParseError):
        decrypted_chain(b"\x06\x00")
