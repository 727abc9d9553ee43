"""racoon2.radius: the RADIUS codec against RFC 2865 §7.1's example, RFC 3579 §3.2's
Message-Authenticator and RFC 2548 §2.4.2's key hiding (computed independently here)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from racoon2.errors import ParseError, ProtocolError
from racoon2.radius import mppe
from racoon2.radius.packet import (
    Attr,
    Code,
    access_request,
    accounting_request,
    decode,
    encode,
    response_authenticator,
    split_eap,
    u32,
    verify_reply,
)

# RFC 2865 §7.1 "User Telnet to Specified Host": secret xyzzy5461, user nemo.
SECRET_71 = b"xyzzy5461"
REQUEST_71 = bytes.fromhex(
    "01000038 0f403f9473978057bd83d5cb98f4227a 01066e656d6f"
    "02120dbe708d93d413ce3196e43f782a0aee 0406c0a80110 050600000003".replace(" ", ""))
ACCEPT_71 = bytes.fromhex(
    "02000026 86fe220e7624ba2a1005f6bf9b55e0b2 060600000001 0f0600000000"
    "0e06c0a80103".replace(" ", ""))


def test_rfc2865_example_decodes_and_verifies() -> None:
    request = decode(REQUEST_71)
    assert request.code == Code.ACCESS_REQUEST and request.get(Attr.USER_NAME) == b"nemo"
    assert request.get(Attr.NAS_IP_ADDRESS) == bytes((192, 168, 1, 16))
    assert encode(request) == REQUEST_71
    # The Access-Accept has no Message-Authenticator: the Response Authenticator alone.
    assert response_authenticator(ACCEPT_71, request.authenticator, SECRET_71) == \
        ACCEPT_71[4:20]
    verify_reply(ACCEPT_71, request.authenticator, SECRET_71)  # no EAP: no MA needed
    with pytest.raises(ProtocolError, match="Response Authenticator"):
        verify_reply(ACCEPT_71, request.authenticator, b"wrong")


def _answer(code: int, ident: int, req_auth: bytes, attrs: bytes, secret: bytes) -> bytes:
    """An answer built the way RFC 3579 §3.2 and RFC 2865 §3 say, without the codec."""
    ma = bytes((80, 18)) + bytes(16)
    length = 20 + len(attrs) + len(ma)
    head = bytes((code, ident)) + length.to_bytes(2, "big")
    mac = hmac.new(secret, head + req_auth + attrs + ma, "md5").digest()
    body = attrs + bytes((80, 18)) + mac
    resp = hashlib.md5(head + req_auth + body + secret).digest()
    return head + resp + body


def test_message_authenticator_on_request_and_answer() -> None:
    secret, req_auth = b"s3cret", bytes(range(16))
    raw = access_request(7, req_auth, [(Attr.USER_NAME, b"alice")], secret)
    assert raw[-18:-16] == bytes((80, 18))
    zeroed = raw[:-16] + bytes(16)
    assert raw[-16:] == hmac.new(secret, zeroed, "md5").digest()
    answer = _answer(Code.ACCESS_CHALLENGE, 7, req_auth, bytes((24, 5)) + b"abc", secret)
    assert verify_reply(answer, req_auth, secret).get(Attr.STATE) == b"abc"
    # An EAP-Message without Message-Authenticator is refused (RFC 3579 §3.2).
    with_eap = _answer(Code.ACCESS_CHALLENGE, 7, req_auth, bytes((79, 3)) + b"x", secret)
    stripped = bytearray(with_eap[:-18])
    stripped[2:4] = len(stripped).to_bytes(2, "big")
    stripped[4:20] = hashlib.md5(bytes(stripped[:4]) + req_auth + bytes(stripped[20:]) +
                                 secret).digest()
    with pytest.raises(ProtocolError, match="lacks Message-Authenticator"):
        verify_reply(bytes(stripped), req_auth, secret)
    forged = bytearray(answer)
    forged[-1] ^= 1
    forged[4:20] = hashlib.md5(bytes(forged[:4]) + req_auth + bytes(forged[20:]) +
                               secret).digest()
    with pytest.raises(ProtocolError, match="Message-Authenticator does not verify"):
        verify_reply(bytes(forged), req_auth, secret)


def test_accounting_request_authenticator() -> None:
    raw = accounting_request(3, [(Attr.ACCT_STATUS_TYPE, u32(1)),
                                 (Attr.ACCT_SESSION_ID, b"x")], b"k")
    assert raw[4:20] == hashlib.md5(raw[:4] + bytes(16) + raw[20:] + b"k").digest()


def test_eap_message_split_in_253_octet_pieces() -> None:
    eap = bytes(600)
    pieces = split_eap(eap)
    assert [len(v) for _, v in pieces] == [253, 253, 94]
    raw = access_request(1, bytes(16), pieces, b"k")
    assert decode(raw).eap_message() == eap


def _hide(key: bytes, secret: bytes, req_auth: bytes, salt: bytes) -> bytes:
    """RFC 2548 §2.4.2 written out: P = len | key | zero padding, c(i) = p(i) ^ b(i)."""
    plain = bytes((len(key),)) + key
    plain += bytes(-len(plain) % 16)
    out, prev = b"", req_auth + salt
    for i in range(0, len(plain), 16):
        b = hashlib.md5(secret + prev).digest()
        prev = bytes(x ^ y for x, y in zip(plain[i:i + 16], b, strict=True))
        out += prev
    return salt + out


def _vsa(vendor_type: int, value: bytes) -> bytes:
    sub = bytes((vendor_type, len(value) + 2)) + value
    return bytes((26, len(sub) + 6)) + (311).to_bytes(4, "big") + sub


def test_mppe_keys_give_the_msk_recv_then_send() -> None:
    secret, req_auth = b"testing123", bytes.fromhex("11" * 16)
    recv, send = bytes(range(32)), bytes(range(32, 64))
    attrs = _vsa(17, _hide(recv, secret, req_auth, b"\x81\x02")) + \
        _vsa(16, _hide(send, secret, req_auth, b"\x83\x04"))
    answer = verify_reply(_answer(Code.ACCESS_ACCEPT, 1, req_auth, attrs, secret), req_auth,
                          secret)
    assert mppe.msk(answer, secret, req_auth) == recv + send
    with pytest.raises(ProtocolError, match="MS-MPPE key length"):
        mppe.decrypt_key(_hide(recv, secret, req_auth, b"\x81\x02"), b"other", req_auth)


def test_malformed_packets_are_parse_errors() -> None:
    with pytest.raises(ParseError):
        decode(bytes(10))
    with pytest.raises(ParseError):
        decode(bytes((2, 1, 0, 23)) + bytes(16) + bytes((1, 9, 0)))
