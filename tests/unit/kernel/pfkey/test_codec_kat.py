"""Known-answer bytes for every PF_KEYv2 message shape and extension, written from the RFC 2367
and Linux pfkeyv2.h/ipsec.h layouts (little-endian hosts: PF_KEY fields are host order)."""

from __future__ import annotations

import sys
from ipaddress import ip_address

import pytest

from racoon2.errors import ParseError
from racoon2.kernel.pfkey import codec as c
from racoon2.kernel.pfkey.constants import (
    AuthAlg,
    Dir,
    EncAlg,
    ExtType,
    Level,
    Mode,
    MsgType,
    PolicyType,
    SaState,
    SaType,
)

pytestmark = pytest.mark.skipif(sys.byteorder != "little", reason="KATs are little-endian bytes")

V4A = c.Sockaddr(ip_address("192.0.2.1"))
V4B = c.Sockaddr(ip_address("192.0.2.2"))
V6A = c.Sockaddr(ip_address("2001:db8::1"))
V6B = c.Sockaddr(ip_address("2001:db8::2"))

# sockaddr_in: family 2 (host order), port 0, 192.0.2.1, 8 zero bytes
SIN_A = "0200 0000 c0000201 0000000000000000"
SIN_B = "0200 0000 c0000202 0000000000000000"
# sockaddr_in6: family 10, port, flowinfo, 2001:db8::1, scope_id
SIN6_A = "0a00 0000 00000000 20010db8000000000000000000000001 00000000"
SIN6_B = "0a00 0000 00000000 20010db8000000000000000000000002 00000000"


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", "").replace("\n", ""))


def roundtrip(msg: c.Message, wire: str) -> None:
    data = h(wire)
    assert msg.encode().hex() == data.hex()
    assert c.decode(data) == msg


SA_ADD_V4 = c.Message(MsgType.ADD, SaType.ESP, seq=7, pid=0x1234, extensions=(
    c.SaExt(0x1001, replay=32, state=SaState.MATURE, auth=AuthAlg.SHA2_256HMAC,
            encrypt=EncAlg.AESCBC),
    c.Sa2Ext(Mode.TUNNEL, reqid=0x1001),
    c.LifetimeExt(ExtType.LIFETIME_HARD, addtime=3600),
    c.LifetimeExt(ExtType.LIFETIME_SOFT, addtime=3000),
    c.AddressExt(ExtType.ADDRESS_SRC, V4A, 32, 255),
    c.AddressExt(ExtType.ADDRESS_DST, V4B, 32, 255),
    c.KeyExt(ExtType.KEY_AUTH, b"\x33" * 32),
    c.KeyExt(ExtType.KEY_ENCRYPT, b"\x22" * 16),
    c.NatTTypeExt(2),
    c.NatTPortExt(ExtType.X_NAT_T_SPORT, 4500),
    c.NatTPortExt(ExtType.X_NAT_T_DPORT, 4500),
))
SA_ADD_V4_WIRE = (
    # sadb_msg: v2, ADD, errno 0, ESP, len 36 words, reserved, seq 7, pid 0x1234
    "02 03 00 03 1f00 0000 07000000 34120000"
    # SA: len 2, type 1, spi 0x00001001 (network order), replay 32, MATURE, auth 5, enc 12, flags
    "0200 0100 00001001 20 01 05 0c 00000000"
    # X_SA2: len 2, type 19, mode 2, reserved, reserved, sequence 0, reqid 0x1001
    "0200 1300 02 00 0000 00000000 01100000"
    # LIFETIME_HARD/SOFT: len 4, allocations, bytes, addtime, usetime
    "0400 0300 00000000 0000000000000000 100e000000000000 0000000000000000"
    "0400 0400 00000000 0000000000000000 b80b000000000000 0000000000000000"
    # ADDRESS_SRC/DST: len 3, proto 255, prefixlen 32, reserved, sockaddr_in
    f"0300 0500 ff 20 0000 {SIN_A}"
    f"0300 0600 ff 20 0000 {SIN_B}"
    # KEY_AUTH: len 5, bits 256, reserved, key; KEY_ENCRYPT: len 3, bits 128
    "0500 0800 0001 0000" + "33" * 32 +
    "0300 0900 8000 0000" + "22" * 16 +
    # NAT_T_TYPE 2; NAT_T_SPORT/DPORT 4500 (network order)
    "0100 1400 02 000000"
    "0100 1500 1194 0000"
    "0100 1600 1194 0000"
)


def test_sadb_add_v4_tunnel_natt() -> None:
    roundtrip(SA_ADD_V4, SA_ADD_V4_WIRE)


def test_sadb_getspi_v6() -> None:
    msg = c.Message(MsgType.GETSPI, SaType.ESP, seq=1, pid=99, extensions=(
        c.Sa2Ext(Mode.TRANSPORT, reqid=5),
        c.AddressExt(ExtType.ADDRESS_SRC, V6A, 128),
        c.AddressExt(ExtType.ADDRESS_DST, V6B, 128),
        c.SpiRangeExt(0x100, 0x0FFFFFFF),
    ))
    roundtrip(msg, (
        "02 01 00 03 1000 0000 01000000 63000000"
        "0200 1300 01 00 0000 00000000 05000000"
        # ADDRESS with sockaddr_in6: 8 + 28 + 4 padding = 40 bytes = 5 words
        f"0500 0500 00 80 0000 {SIN6_A} 00000000"
        f"0500 0600 00 80 0000 {SIN6_B} 00000000"
        # SPIRANGE: host order min, max, reserved
        "0200 1000 00010000 ffffff0f 00000000"
    ))


def test_sadb_delete_and_get() -> None:
    for mtype, code in ((MsgType.DELETE, "04"), (MsgType.GET, "05")):
        msg = c.Message(mtype, SaType.ESP, seq=2, extensions=(
            c.SaExt(0xC0FFEE01),
            c.AddressExt(ExtType.ADDRESS_SRC, V4A, 32),
            c.AddressExt(ExtType.ADDRESS_DST, V4B, 32),
        ))
        roundtrip(msg, (
            f"02 {code} 00 03 0a00 0000 02000000 00000000"
            "0200 0100 c0ffee01 00 00 00 00 00000000"
            f"0300 0500 00 20 0000 {SIN_A}"
            f"0300 0600 00 20 0000 {SIN_B}"
        ))


def test_sadb_flush_dump_register_headers() -> None:
    roundtrip(c.Message(MsgType.FLUSH, SaType.UNSPEC, seq=3),
              "02 09 00 00 0200 0000 03000000 00000000")
    roundtrip(c.Message(MsgType.DUMP, SaType.ESP), "02 0a 00 03 0200 0000 00000000 00000000")
    roundtrip(c.Message(MsgType.REGISTER, SaType.AH, pid=1),
              "02 07 00 02 0200 0000 00000000 01000000")
    roundtrip(c.Message(MsgType.X_SPDFLUSH), "02 13 00 00 0200 0000 00000000 00000000")
    roundtrip(c.Message(MsgType.X_SPDDUMP), "02 12 00 00 0200 0000 00000000 00000000")


def test_register_reply_supported() -> None:
    msg = c.Message(MsgType.REGISTER, SaType.ESP, extensions=(
        c.SupportedExt(ExtType.SUPPORTED_AUTH, (c.Alg(AuthAlg.SHA2_256HMAC, 0, 256, 256),)),
        c.SupportedExt(ExtType.SUPPORTED_ENCRYPT, (
            c.Alg(EncAlg.AESCBC, 8, 128, 256), c.Alg(EncAlg.NULL, 0, 0, 0))),
    ))
    roundtrip(msg, (
        "02 07 00 03 0700 0000 00000000 00000000"
        # SUPPORTED: len, type, reserved; sadb_alg: id, ivlen, min, max, reserved
        "0200 0e00 00000000 05 00 0001 0001 0000"
        "0300 0f00 00000000 0c 08 8000 0001 0000 0b 00 0000 0000 0000"
    ))


def test_spdadd_tunnel_policy_v4() -> None:
    msg = c.Message(MsgType.X_SPDADD, SaType.UNSPEC, seq=4, extensions=(
        c.AddressExt(ExtType.ADDRESS_SRC, c.Sockaddr(ip_address("198.51.100.0")), 24, 255),
        c.AddressExt(ExtType.ADDRESS_DST, c.Sockaddr(ip_address("203.0.113.0")), 24, 255),
        c.PolicyExt(PolicyType.IPSEC, Dir.OUTBOUND, id=0, priority=0x52010000, requests=(
            c.IpsecRequest(50, Mode.TUNNEL, Level.UNIQUE, 7, V4A, V4B),)),
    ))
    roundtrip(msg, (
        "02 0e 00 00 1000 0000 04000000 00000000"
        "0300 0500 ff 18 0000 0200 0000 c6336400 0000000000000000"
        "0300 0600 ff 18 0000 0200 0000 cb007100 0000000000000000"
        # X_POLICY: len 8, type 18, IPSEC, dir out, reserved, id, priority
        "0800 1200 0200 02 00 00000000 00000152"
        # ipsecrequest: len 48 bytes, proto 50, mode 2, level 3, reserved, reqid 7, reserved
        f"3000 3200 02 03 0000 07000000 00000000 {SIN_A} {SIN_B}"
    ))


def test_spdadd_transport_v6_and_bypass() -> None:
    msg = c.Message(MsgType.X_SPDADD, extensions=(
        c.AddressExt(ExtType.ADDRESS_SRC, V6A, 128, 58),
        c.AddressExt(ExtType.ADDRESS_DST, V6B, 128, 58),
        c.PolicyExt(PolicyType.IPSEC, Dir.INBOUND, requests=(
            c.IpsecRequest(50, Mode.TRANSPORT, Level.REQUIRE, 0),)),
    ))
    roundtrip(msg, (
        "02 0e 00 00 1000 0000 00000000 00000000"
        f"0500 0500 3a 80 0000 {SIN6_A} 00000000"
        f"0500 0600 3a 80 0000 {SIN6_B} 00000000"
        "0400 1200 0200 01 00 00000000 00000000"
        "1000 3200 01 02 0000 00000000 00000000"
    ))
    bypass = c.PolicyExt(PolicyType.BYPASS, Dir.OUTBOUND)
    assert bypass.encode().hex() == h("0200 1200 0400 02 00 00000000 00000000").hex()


def test_spd_tunnel_v6_request_is_72_bytes() -> None:
    rq = c.IpsecRequest(50, Mode.TUNNEL, Level.REQUIRE, 1, V6A, V6B)
    wire = h(f"4800 3200 02 02 0000 01000000 00000000 {SIN6_A}{SIN6_B}")
    assert rq.encode(False).hex() == wire.hex()


def test_spddelete2_and_spdget_by_id() -> None:
    for mtype, code in ((MsgType.X_SPDDELETE2, "16"), (MsgType.X_SPDGET, "10")):
        msg = c.Message(mtype, extensions=(c.PolicyExt(PolicyType.IPSEC, Dir.ANY, id=0x209),))
        roundtrip(msg, f"02 {code} 00 00 0400 0000 00000000 00000000"
                       "0200 1200 0200 00 00 09020000 00000000")


def test_migrate() -> None:
    msg = c.Message(MsgType.X_MIGRATE, extensions=(
        c.KmAddressExt(V4A, V4B),
        c.AddressExt(ExtType.ADDRESS_SRC, V4A, 32, 255),
        c.AddressExt(ExtType.ADDRESS_DST, V4B, 32, 255),
        c.PolicyExt(PolicyType.IPSEC, Dir.OUTBOUND, requests=(
            c.IpsecRequest(50, Mode.TUNNEL, Level.REQUIRE, 1, V4A, V4B),
            c.IpsecRequest(50, Mode.TUNNEL, Level.REQUIRE, 1, V4A,
                           c.Sockaddr(ip_address("192.0.2.3"))))),
    ))
    roundtrip(msg, (
        "02 18 00 00 1b00 0000 00000000 00000000"
        f"0500 1900 00000000 {SIN_A} {SIN_B}"
        f"0300 0500 ff 20 0000 {SIN_A}"
        f"0300 0600 ff 20 0000 {SIN_B}"
        "0e00 1200 0200 02 00 00000000 00000000"
        f"3000 3200 02 02 0000 01000000 00000000 {SIN_A} {SIN_B}"
        f"3000 3200 02 02 0000 01000000 00000000 {SIN_A} 0200 0000 c0000203 0000000000000000"
    ))


def test_acquire_with_proposal_and_identity() -> None:
    comb = c.Comb(AuthAlg.SHA2_256HMAC, EncAlg.AESCBC, 0, 256, 256, 128, 256,
                  hard_addtime=28800, soft_addtime=21600)
    msg = c.Message(MsgType.ACQUIRE, SaType.ESP, seq=9, extensions=(
        c.AddressExt(ExtType.ADDRESS_SRC, V4A, 32),
        c.AddressExt(ExtType.ADDRESS_DST, V4B, 32),
        c.PolicyExt(PolicyType.IPSEC, Dir.OUTBOUND, id=0x1a1),
        c.IdentityExt(ExtType.IDENTITY_SRC, 2, 0, b"a.example\x00\x00\x00\x00\x00\x00\x00"),
        c.ProposalExt(32, (comb,)),
    ))
    roundtrip(msg, (
        "02 06 00 03 1800 0000 09000000 00000000"
        f"0300 0500 00 20 0000 {SIN_A}"
        f"0300 0600 00 20 0000 {SIN_B}"
        "0200 1200 0200 02 00 a1010000 00000000"
        "0400 0a00 0200 0000 0000000000000000 612e6578616d706c6500000000000000"
        "0a00 0d00 20 000000"
        "05 0c 0000 0001 0001 8000 0001 00000000 00000000 00000000"
        "0000000000000000 0000000000000000 6054000000000000 8070000000000000"
        "0000000000000000 0000000000000000"
    ))


def test_expire_with_current_lifetime_and_misc_extensions() -> None:
    msg = c.Message(MsgType.EXPIRE, SaType.ESP, extensions=(
        c.SaExt(0x1001, state=SaState.DYING),
        c.LifetimeExt(ExtType.LIFETIME_CURRENT, 3, 300, 1700000000, 0),
        c.SensitivityExt(1, 2, 3, b"\x01" * 8, b""),
        c.SecCtxExt(1, 1, b"ctx"),
        c.FilterExt(V4A, V4B, 24, 32),
        c.RawExt(ExtType.X_KMPRIVATE, bytes(4)),
        c.AddressExt(ExtType.X_NAT_T_OA, V4A, 0),
    ))
    roundtrip(msg, (
        "02 08 00 03 1600 0000 00000000 00000000"
        "0200 0100 00001001 00 02 00 00 00000000"
        "0400 0200 03000000 2c01000000000000 00f1536500000000 0000000000000000"
        # SENSITIVITY: dpd, sens level/len(words), integ level/len, reserved, bitmap
        "0300 0c00 01000000 02 01 03 00 00000000 0101010101010101"
        # X_SEC_CTX: alg, doi, ctx_len 3, "ctx", padding
        "0200 1800 01 01 0300 6374780000000000"
        # X_FILTER: saddr[16], daddr[16], family, splen, dplen
        "0500 1a00 c0000201 000000000000000000000000 c0000202 000000000000000000000000"
        "0200 18 20"
        "0100 1100 00000000"
        f"0300 1700 00 00 0000 {SIN_A}"
    ))


def test_bsd_sockaddr_layout() -> None:
    ext = c.AddressExt(ExtType.ADDRESS_SRC, V4A, 32)
    data = ext.encode(bsd=True)
    assert data[8:10] == b"\x10\x02"
    msg = c.Message(MsgType.GET, SaType.ESP, extensions=(ext,))
    assert c.decode(msg.encode(bsd=True), bsd=True) == msg


@pytest.mark.parametrize("cut", range(1, len(h(SA_ADD_V4_WIRE))))
def test_truncation_names_the_message(cut: int) -> None:
    with pytest.raises(ParseError) as info:
        c.decode(h(SA_ADD_V4_WIRE)[:cut])
    assert info.value.what.startswith(("SADB_ADD", "PF_KEY message"))


def test_bad_inputs() -> None:
    good = bytearray(h(SA_ADD_V4_WIRE))
    bad_version = bytes([1]) + bytes(good[1:])
    with pytest.raises(ParseError, match="version"):
        c.decode(bad_version)
    zero_len = bytearray(good)
    zero_len[16:18] = b"\x00\x00"
    with pytest.raises(ParseError, match="SADB_ADD"):
        c.decode(bytes(zero_len))
    bad_family = bytearray(good)
    bad_family[120:122] = b"\x07\x00"
    with pytest.raises(ParseError, match="family"):
        c.decode(bytes(bad_family))


def test_names() -> None:
    assert c.msg_name(MsgType.X_SPDADD) == "SADB_X_SPDADD"
    assert c.msg_name(200) == "SADB_200"
    assert c.ext_name(ExtType.KEY_AUTH) == "SADB_EXT_KEY_AUTH"
    assert c.ext_name(ExtType.X_NAT_T_TYPE) == "SADB_X_EXT_NAT_T_TYPE"
