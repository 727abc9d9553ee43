"""XAuth and mode-config as the gateway (iked/ikev1/xauth.py, modecfg.py, transaction.py).

Known answers: the attribute payloads byte for byte in the layouts of
draft-ietf-ipsec-isakmp-xauth-06 §6 (XAUTH_TYPE 16520 basic, USER_NAME 16521, PASSWORD
16522, STATUS 16527) and draft-dukes-ike-mode-cfg-02 §3.2-3.3 (types 1-15); the HASH
prf(SKEYID_a, M-ID | ATTR) computed independently with Python's hmac (RFC 2104) over those
bytes; the XAuth Vendor ID as strongSwan sent it (tests/vectors/captures/ikev1-main-psk).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest
from isakmp_captures import CAPTURES, messages

from iked.ikev1 import transaction, xauth
from iked.ikev1.modecfg import ModeCfgServer
from iked.ikev1.xauth import Send, Status, XauthServer
from iked.ikev2.config_payload import Provide
from iked.leases import Pool
from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import CfgAttr, CfgType
from racoon2.ikev1.message import decode, decode_chain, encode_chain
from racoon2.ikev1.payloads import Attribute, Hash, ModeCfg, Nonce, VendorId
from racoon2.net import Address

SKEYID_A = bytes(range(32))


def prf(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _reply(identifier: int, user: bytes, password: bytes) -> ModeCfg:
    return ModeCfg(CfgType.REPLY, identifier, (Attribute(CfgAttr.XAUTH_USER_NAME, user),
                                               Attribute(CfgAttr.XAUTH_USER_PASSWORD, password)))


def check(user: str, password: bytes) -> bool:
    return (user, password) == ("alice", b"s3cret")


def test_vendor_id_is_the_captured_one() -> None:
    vids = [p.data for p in decode(messages(CAPTURES / "ikev1-main-psk")[1]).payloads
            if isinstance(p, VendorId)]
    assert xauth.VENDOR_ID in vids


def test_request_bytes_and_hash() -> None:
    server = XauthServer()
    sent = server.start(0x11223344, 0x0102)
    _, chain = encode_chain((sent.payload,))
    attr = bytes.fromhex("0000" "0014" "01" "00" "0102"     # REQUEST, identifier 0x0102
                         "c0880000"                         # XAUTH_TYPE (TV) Generic
                         "40890000" "408a0000")             # USER_NAME, USER_PASSWORD empty
    assert chain == attr
    digest, payload = transaction.seal(prf, SKEYID_A, 0x11223344, sent.payload)
    assert digest == Hash(hmac.new(SKEYID_A, bytes.fromhex("11223344") + attr,
                                   hashlib.sha256).digest())
    assert payload is sent.payload


def test_seal_and_open_round_trip_and_tampering() -> None:
    attrs = _reply(7, b"alice", b"s3cret")
    first, chain = encode_chain(transaction.seal(prf, SKEYID_A, 99, attrs))
    got = decode_chain(chain, first)
    assert transaction.open_(prf, SKEYID_A, 99, got) == attrs
    with pytest.raises(ProtocolError, match="HASH does not match"):
        transaction.open_(prf, SKEYID_A, 100, got)
    with pytest.raises(ProtocolError, match="HASH does not match"):
        transaction.open_(prf, SKEYID_A, 99, (got[0], _reply(7, b"alice", b"guess")))
    with pytest.raises(ProtocolError, match="expected HASH, ATTRIBUTE"):
        transaction.open_(prf, SKEYID_A, 99, (Nonce(b"x"), attrs))
    with pytest.raises(ProtocolError, match="with nothing"):
        transaction.open_(prf, SKEYID_A, 99, ())
    assert transaction.cfg_name(3) == "SET" and transaction.cfg_name(9) == "type 9"


def _judge(s: XauthServer, mid: int, reply: ModeCfg, next_mid: int, ident: int) -> Send:
    given = s.receive(mid, reply)
    assert given is not None and s.status is Status.CHECKING
    ok = given.usable and check(given.user or "", given.password or b"")
    return s.verdict(ok, next_mid, ident)


def test_success() -> None:
    s = XauthServer()
    req = s.start(1, 10)
    told = _judge(s, 1, _reply(10, b"alice", b"s3cret"), 2, 20)
    assert told == Send(2, ModeCfg(CfgType.SET, 20, (Attribute(CfgAttr.XAUTH_STATUS, 1),)))
    assert encode_chain((told.payload,))[1].hex() == "0000000c" "03000014" "c08f0001"
    assert s.status is Status.TELLING and req.message_id == 1
    assert s.receive(2, ModeCfg(CfgType.ACK, 20, (Attribute(CfgAttr.XAUTH_STATUS, 1),))) \
        is None
    assert s.status is Status.SUCCEEDED and s.user == "alice"


def test_retry_then_fail() -> None:
    s = XauthServer(attempts=2)
    s.start(1, 10)
    again = _judge(s, 1, _reply(10, b"alice", b"wrong"), 2, 20)
    assert again.payload.cfg_type == CfgType.REQUEST and s.tries == 2
    assert s.status is Status.ASKING
    told = _judge(s, 2, _reply(20, b"alice", b"wrong"), 3, 30)
    assert told.payload.attributes == (Attribute(CfgAttr.XAUTH_STATUS, xauth.STATUS_FAIL),)
    assert s.receive(3, ModeCfg(CfgType.ACK, 30)) is None
    assert s.status is Status.FAILED and s.user is None


@pytest.mark.parametrize(("reply", "cancelled"), [
    (ModeCfg(CfgType.REPLY, 10, (Attribute(CfgAttr.XAUTH_STATUS, 0),)), True),  # cancelled
    (ModeCfg(CfgType.REPLY, 10, (Attribute(CfgAttr.XAUTH_USER_NAME, b"alice"),)), False),
    (_reply(10, b"\xff", b"s3cret"), False),                                      # not UTF-8
])
def test_cancel_and_malformed_replies_fail(reply: ModeCfg, cancelled: bool) -> None:
    s = XauthServer(attempts=3)
    s.start(1, 10)
    given = s.receive(1, reply)
    assert given is not None and not given.usable and given.cancelled == cancelled
    told = s.verdict(True, 2, 20)   # unusable credentials never pass, whatever the check said
    if cancelled:   # no second chance for a user who gave up
        assert told.payload.attributes[0].value == xauth.STATUS_FAIL
    else:
        assert told.payload.cfg_type == CfgType.REQUEST


def test_messages_that_answer_nothing() -> None:
    s = XauthServer()
    with pytest.raises(ProtocolError, match="answers nothing"):
        s.receive(1, _reply(10, b"alice", b"s3cret"))
    s.start(1, 10)
    with pytest.raises(ValueError, match="without credentials"):
        s.verdict(True, 2, 20)
    with pytest.raises(ProtocolError, match="answers nothing"):
        s.receive(5, _reply(10, b"alice", b"s3cret"))
    with pytest.raises(ProtocolError, match="answers nothing"):
        s.receive(1, _reply(11, b"alice", b"s3cret"))
    with pytest.raises(ProtocolError, match="expected REPLY"):
        s.receive(1, ModeCfg(CfgType.ACK, 10))
    assert s.status is Status.ASKING
    assert s.receive(1, _reply(10, b"alice", b"s3cret")) is not None
    with pytest.raises(ProtocolError, match="answers nothing"):   # a retransmitted REPLY
        s.receive(1, _reply(10, b"alice", b"s3cret"))
    with pytest.raises(ValueError, match="at least one"):
        XauthServer(attempts=0)
    s = XauthServer()
    s.start(1, 10)
    assert s.receive(1, _reply(0, b"alice", b"s3cret")) is not None  # strongSwan's identifier


A4 = ipaddress.ip_address
POOL = [(A4("198.51.100.10"), A4("198.51.100.11")), (A4("2001:db8::10"), A4("2001:db8::10"))]
PROVIDE = Provide(("p",), dns=(A4("192.0.2.53"), A4("2001:db8::53")), application_version="r2")


def _server(provide: Provide = PROVIDE) -> tuple[ModeCfgServer, Pool]:
    pool = Pool(POOL)
    return ModeCfgServer(provide, lambda v: pool.lease(v, None, 0.0)), pool


def _ask(*kinds: int, identifier: int = 5) -> ModeCfg:
    return ModeCfg(CfgType.REQUEST, identifier, tuple(Attribute(k, b"") for k in kinds))


def test_pull_reply_bytes() -> None:
    server, _ = _server()
    got = server.reply(_ask(CfgAttr.INTERNAL_IP4_ADDRESS, CfgAttr.INTERNAL_IP4_NETMASK,
                            CfgAttr.INTERNAL_IP4_DNS, CfgAttr.INTERNAL_IP4_NBNS))
    assert encode_chain((got,))[1].hex() == (
        "0000" "0020" "02000005"          # REPLY, identifier 5
        "00010004" "c633640a"             # INTERNAL_IP4_ADDRESS 198.51.100.10
        "00020004" "ffffffff"             # INTERNAL_IP4_NETMASK, a host address
        "00030004" "c0000235")            # INTERNAL_IP4_DNS 192.0.2.53; no NBNS: left out
    assert server.leased == A4("198.51.100.10")
    # a retransmitted REQUEST gets the same address, not a second lease
    assert server.reply(_ask(CfgAttr.INTERNAL_IP4_ADDRESS)).attributes[0].value == \
        A4("198.51.100.10").packed


def test_pull_ipv6_version_and_supported() -> None:
    server, _ = _server()
    got = server.reply(_ask(CfgAttr.INTERNAL_IP6_ADDRESS, CfgAttr.INTERNAL_IP6_DNS,
                            CfgAttr.APPLICATION_VERSION, CfgAttr.SUPPORTED_ATTRIBUTES))
    values = {a.type: a.value for a in got.attributes}
    assert values[CfgAttr.INTERNAL_IP6_ADDRESS] == A4("2001:db8::10").packed   # 16 octets
    assert values[CfgAttr.INTERNAL_IP6_DNS] == A4("2001:db8::53").packed
    assert values[CfgAttr.APPLICATION_VERSION] == b"r2"
    assert values[CfgAttr.SUPPORTED_ATTRIBUTES] == bytes.fromhex("00010002000300080" "00a0007000e")


def test_no_pool_no_address() -> None:
    leases: list[int] = []

    def lease(version: int) -> Address | None:
        leases.append(version)
        return None
    server = ModeCfgServer(Provide((), dns=(A4("192.0.2.53"),)), lease)
    got = server.reply(_ask(CfgAttr.INTERNAL_IP4_ADDRESS, CfgAttr.INTERNAL_IP4_DNS))
    assert got.attributes == (Attribute(CfgAttr.INTERNAL_IP4_DNS, A4("192.0.2.53").packed),)
    assert leases == [] and server.leased is None
    with pytest.raises(ProtocolError, match="expected REQUEST"):
        server.reply(ModeCfg(CfgType.SET, 1))


def test_push_and_ack() -> None:
    server, _ = _server()
    pushed = server.push(0x0abc)
    assert pushed.cfg_type == CfgType.SET and pushed.identifier == 0x0abc
    assert [a.type for a in pushed.attributes] == [
        CfgAttr.INTERNAL_IP4_ADDRESS, CfgAttr.INTERNAL_IP4_NETMASK, CfgAttr.INTERNAL_IP4_DNS,
        CfgAttr.INTERNAL_IP6_DNS, CfgAttr.APPLICATION_VERSION]
    with pytest.raises(ProtocolError, match="answers no SET"):
        server.acked(ModeCfg(CfgType.ACK, 1))
    ack = ModeCfg(CfgType.ACK, 0x0abc, (Attribute(CfgAttr.INTERNAL_IP4_ADDRESS, b""),))
    assert server.acked(ack) == {CfgAttr.INTERNAL_IP4_ADDRESS}
    with pytest.raises(ProtocolError, match="answers no SET"):
        server.acked(ack)


def test_push_falls_back_to_ipv6() -> None:
    pool = Pool([(A4("2001:db8::10"), A4("2001:db8::10"))])
    server = ModeCfgServer(Provide(("p",)), lambda v: pool.lease(v, None, 0.0))
    assert server.push(1).attributes == (
        Attribute(CfgAttr.INTERNAL_IP6_ADDRESS, A4("2001:db8::10").packed),)
