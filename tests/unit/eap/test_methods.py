"""Known answers for the EAP methods' computations and the server's conversations.

Vectors: RFC 1320 §A.5 (MD4); RFC 2759 §9.2 (MS-CHAPv2: user "User", password
"clientPass"); RFC 3079 §3.5.3 (MPPE 128-bit keys from the same exchange)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racoon2.eap import mschapv2
from racoon2.eap.md4 import md4
from racoon2.eap.md5 import Md5
from racoon2.eap.packet import Code, Packet, Type, decode
from racoon2.eap.server import Failed, Server, Succeeded
from racoon2.errors import ParseError

AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
NT_RESPONSE = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
NT_HASH = bytes.fromhex("44EBBA8D5312B8D611474411F56989AE")


@pytest.mark.parametrize(("message", "digest"), [
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "043f8582f241db351ce627e153e7f0e4"),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
])
def test_md4_rfc1320(message: bytes, digest: str) -> None:
    assert md4(message).hex() == digest


def test_mschapv2_rfc2759_vectors() -> None:
    assert mschapv2.nt_password_hash("clientPass") == NT_HASH
    assert md4(NT_HASH).hex().upper() == "41C00C584BD2D91C4017A2A12FA59F3F"
    assert mschapv2.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, b"User").hex().upper() \
        == "D02E4386BCE91226"
    assert mschapv2.nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, b"User", NT_HASH) \
        == NT_RESPONSE
    assert mschapv2.authenticator_response(NT_HASH, NT_RESPONSE, PEER_CHALLENGE,
                                           AUTH_CHALLENGE, b"User") \
        == b"S=407A5589115FD0D6209F510FE9C04566932CDA56"
    # RFC 2759 §8.2: a DOMAIN\ prefix is not hashed.
    assert mschapv2.nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, b"EXAMPLE\\User", NT_HASH) \
        == NT_RESPONSE


def test_mppe_rfc3079_keys() -> None:
    master = mschapv2.master_key(NT_HASH, NT_RESPONSE)
    assert master.hex().upper() == "FDECE3717A8C838CB388E527AE3CDD31"
    # §3.5.3's SendStartKey128 is the server's send key (Magic3).
    assert mschapv2.asymmetric_start_key(master, send=True, server=True).hex().upper() \
        == "8B7CDC149B993A1BA118CB153F56DCCB"
    assert mschapv2.asymmetric_start_key(master, send=False, server=False) == \
        mschapv2.asymmetric_start_key(master, send=True, server=True)
    msk = mschapv2.msk(NT_HASH, NT_RESPONSE)
    assert len(msk) == 64 and msk[16:32].hex().upper() == "8B7CDC149B993A1BA118CB153F56DCCB"
    assert msk[32:] == bytes(32)


class _Users:
    def nt_hash(self, user: str) -> bytes | None:
        return NT_HASH if user == "User" else None

    def password(self, user: str) -> bytes | None:
        return b"clientPass" if user == "User" else None


def _mschap_server() -> Server:
    return Server(lambda user: mschapv2.MsChapV2(user, _Users(), AUTH_CHALLENGE),
                  Type.MSCHAPV2, 7)


def _response(name: bytes, nt: bytes, ms_id: int) -> bytes:
    value = PEER_CHALLENGE + bytes(8) + nt + b"\0"
    body = bytes([49]) + value + name
    return bytes([2, ms_id]) + (4 + len(body)).to_bytes(2, "big") + body


def test_mschapv2_conversation() -> None:
    """Identity, Challenge, Response, Success request, Success ack, EAP-Success + MSK."""
    server = _mschap_server()
    first = server.start()
    assert first == Packet(Code.REQUEST, 7, Type.IDENTITY)
    step = server.receive(Packet(Code.RESPONSE, 7, Type.IDENTITY, b"User"))
    assert step.packet.identifier == 8 and step.packet.type == Type.MSCHAPV2
    data = step.packet.data
    assert data[0] == mschapv2.CHALLENGE and data[4] == 16 and data[5:21] == AUTH_CHALLENGE
    assert decode(step.packet.encode()) == step.packet
    step = server.receive(Packet(Code.RESPONSE, 8, Type.MSCHAPV2,
                                 _response(b"User", NT_RESPONSE, data[1])))
    assert step.packet.data[0] == mschapv2.SUCCESS
    assert b"S=407A5589115FD0D6209F510FE9C04566932CDA56" in step.packet.data
    step = server.receive(Packet(Code.RESPONSE, 9, Type.MSCHAPV2, bytes([3])))
    assert step.packet == Packet(Code.SUCCESS, 9)
    assert step.outcome == Succeeded("User", mschapv2.msk(NT_HASH, NT_RESPONSE))


def test_mschapv2_wrong_password_and_unknown_user() -> None:
    server = _mschap_server()
    server.receive(Packet(Code.RESPONSE, 7, Type.IDENTITY, b"User"))
    step = server.receive(Packet(Code.RESPONSE, 8, Type.MSCHAPV2,
                                 _response(b"User", bytes(24), 8)))
    assert step.packet == Packet(Code.FAILURE, 8)
    assert isinstance(step.outcome, Failed) and "wrong password" in step.outcome.reason
    server = _mschap_server()
    server.receive(Packet(Code.RESPONSE, 7, Type.IDENTITY, b"mallory"))
    step = server.receive(Packet(Code.RESPONSE, 8, Type.MSCHAPV2,
                                 _response(b"mallory", NT_RESPONSE, 8)))
    assert step.outcome == Failed("mallory", "no such user, or its secret cannot do MSCHAPv2")


def test_server_refuses_nak_and_wrong_identifier() -> None:
    server = _mschap_server()
    server.receive(Packet(Code.RESPONSE, 7, Type.IDENTITY, b"User"))
    step = server.receive(Packet(Code.RESPONSE, 8, Type.NAK, bytes([Type.MD5])))
    assert isinstance(step.outcome, Failed) and "EAP types 4" in step.outcome.reason
    server = _mschap_server()
    step = server.receive(Packet(Code.RESPONSE, 9, Type.IDENTITY, b"User"))
    assert isinstance(step.outcome, Failed) and step.packet.code == Code.FAILURE
    with pytest.raises(ParseError):
        decode(b"\x02\x01\x00\x09\x01")


def test_md5_conversation() -> None:
    """RFC 3748 §5.4: MD5(Identifier | password | challenge); no MSK."""
    challenge = bytes(range(16))
    server = Server(lambda user: Md5(user, _Users(), challenge), Type.MD5, 1)
    step = server.receive(Packet(Code.RESPONSE, 1, Type.IDENTITY, b"User"))
    assert step.packet == Packet(Code.REQUEST, 2, Type.MD5, b"\x10" + challenge)
    value = hashlib.md5(b"\x02clientPass" + challenge).digest()
    step = server.receive(Packet(Code.RESPONSE, 2, Type.MD5, b"\x10" + value))
    assert step.outcome == Succeeded("User", None) and step.packet == Packet(Code.SUCCESS, 2)
    server = Server(lambda user: Md5(user, _Users(), challenge), Type.MD5, 1)
    server.receive(Packet(Code.RESPONSE, 1, Type.IDENTITY, b"User"))
    step = server.receive(Packet(Code.RESPONSE, 2, Type.MD5, b"\x10" + bytes(16)))
    assert isinstance(step.outcome, Failed) and "wrong password" in step.outcome.reason


@given(st.lists(st.binary(max_size=80), max_size=6), st.sampled_from(["mschapv2", "md5"]))
@settings(max_examples=300, deadline=None)
def test_hostile_responses_end_or_raise_parse_error(datas: list[bytes], method: str) -> None:
    """Whatever a client sends, the server answers with a packet (the last one Success or
    Failure, with an outcome) or raises ParseError, which iked turns into a refusal."""
    server = _mschap_server() if method == "mschapv2" else Server(
        lambda user: Md5(user, _Users(), bytes(16)), Type.MD5, 1)
    server.start()
    identifier = 7 if method == "mschapv2" else 1
    for data in datas:
        kind = Type.IDENTITY if data[:1] == b"\x01" else (
            Type.MSCHAPV2 if method == "mschapv2" else Type.MD5)
        try:
            step = server.receive(Packet(Code.RESPONSE, identifier, kind, data[1:]))
        except ParseError:
            return
        assert step.packet.code in (Code.REQUEST, Code.SUCCESS, Code.FAILURE)
        assert (step.outcome is None) == (step.packet.code == Code.REQUEST)
        if step.outcome is not None:
            assert isinstance(step.outcome, Failed)  # no secret guessed from noise
            return
        identifier = step.packet.identifier
