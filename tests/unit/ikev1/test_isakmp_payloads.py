"""ISAKMP payloads byte for byte, written from the RFC layouts (RFC 2408 §3.4-3.16, RFC 2407
§4.5-4.6, RFC 3947 §3-5, RFC 3706 §5, the mode-config draft, the Cisco fragment)."""

from __future__ import annotations

import pytest

from racoon2.ikev1.constants import (
    AuthMethod,
    CertEncoding,
    CfgAttr,
    CfgType,
    Doi,
    EncapsulationMode,
    EncryptionAlgorithm,
    EspTransformId,
    HashAlgorithm,
    IdType,
    IpsecAttr,
    IsakmpTransformId,
    LifeType,
    NotifyType,
    PayloadType,
    Phase1Attr,
    ProtocolId,
    Situation,
)
from racoon2.ikev1.message import decode_chain, encode_chain
from racoon2.ikev1.payloads import (
    KE,
    SA,
    Attribute,
    Cert,
    CertReq,
    Delete,
    Fragment,
    Hash,
    Identification,
    ModeCfg,
    NatD,
    NatOA,
    Nonce,
    Notification,
    Payload,
    Proposal,
    Signature,
    Transform,
    Unknown,
    VendorId,
    encode_body,
)

PHASE1_SA = SA(Doi.IPSEC, Situation.IDENTITY_ONLY, (Proposal(1, ProtocolId.ISAKMP, b"", (
    Transform(1, IsakmpTransformId.KEY_IKE, (
        Attribute(Phase1Attr.ENCRYPTION_ALGORITHM, EncryptionAlgorithm.AES_CBC),
        Attribute(Phase1Attr.KEY_LENGTH, 128),
        Attribute(Phase1Attr.HASH_ALGORITHM, HashAlgorithm.SHA2_256),
        Attribute(Phase1Attr.AUTHENTICATION_METHOD, AuthMethod.PRE_SHARED_KEY),
        Attribute(Phase1Attr.GROUP_DESCRIPTION, 14),
        Attribute(Phase1Attr.LIFE_TYPE, LifeType.SECONDS),
        Attribute(Phase1Attr.LIFE_DURATION, (28800).to_bytes(4, "big")),
    )),)),))


def _one(p: Payload) -> str:
    first, chain = encode_chain((p,))
    assert decode_chain(chain, first) == (p,)
    return chain.hex()


def test_phase1_sa() -> None:
    assert _one(PHASE1_SA) == (
        "00" "00" "003c" "00000001" "00000001"          # SA: IPsec DOI, SIT_IDENTITY_ONLY
        "00" "00" "0030" "01" "01" "00" "01"            # last proposal, 48, #1 ISAKMP, no SPI
        "00" "00" "0028" "01" "01" "0000"               # last transform, 40, #1 KEY_IKE
        "80010007" "800e0080" "80020004" "80030001"     # AES-CBC, 128 bits, SHA2-256, PSK
        "8004000e" "800b0001"                           # MODP-2048, seconds
        "000c0004" "00007080")                          # Life Duration 28800 as TLV
    t = PHASE1_SA.proposals[0].transforms[0]
    duration = t.attribute(Phase1Attr.LIFE_DURATION)
    assert duration is not None and duration.as_int == 28800
    assert t.attribute(Phase1Attr.PRF) is None


def test_quick_mode_sa_chains_proposals_and_transforms() -> None:
    esp = Proposal(1, ProtocolId.IPSEC_ESP, bytes.fromhex("c0ffee01"), (
        Transform(1, EspTransformId.AES, (
            Attribute(IpsecAttr.ENCAPSULATION_MODE, EncapsulationMode.UDP_TUNNEL),
            Attribute(IpsecAttr.KEY_LENGTH, 256))),
        Transform(2, EspTransformId.TRIPLE_DES, ()),
    ))
    ipcomp = Proposal(1, ProtocolId.IPCOMP, bytes.fromhex("1234"), (Transform(1, 2, ()),))
    sa = SA(Doi.IPSEC, Situation.IDENTITY_ONLY, (esp, ipcomp))
    assert _one(sa) == (
        "00" "00" "0042" "00000001" "00000001"
        "02" "00" "0024" "01" "03" "04" "02" "c0ffee01"     # more proposals follow: 2
        "03" "00" "0010" "01" "0c" "0000" "80040003" "80060100"  # more transforms: 3
        "00" "00" "0008" "02" "03" "0000"
        "00" "00" "0012" "01" "04" "02" "01" "1234"         # IPComp, AND-ed (same number)
        "00" "00" "0008" "01" "02" "0000")


@pytest.mark.parametrize(("payload", "expected"), [
    (KE(b"\x01\x02\x03"), "00000007" "010203"),
    (Nonce(b"\xaa" * 4), "00000008" "aaaaaaaa"),
    (Hash(b"\xbb" * 2), "00000006" "bbbb"),
    (Signature(b"\xcc"), "00000005" "cc"),
    (VendorId(bytes.fromhex("afcad71368a1f1c96b8696fc77570100")),
     "00000014" "afcad71368a1f1c96b8696fc77570100"),                 # RFC 3706 DPD vendor ID
    (Identification(IdType.IPV4_ADDR, bytes([192, 0, 2, 1]), 17, 500),
     "0000000c" "01" "11" "01f4" "c0000201"),
    (Identification(IdType.IPV4_ADDR_SUBNET, bytes([192, 0, 2, 0, 255, 255, 255, 0])),
     "00000010" "04" "00" "0000" "c0000200" "ffffff00"),
    (Identification(IdType.FQDN, b"vpn.example"), "00000013" "02000000" + b"vpn.example".hex()),
    (Cert(CertEncoding.X509_SIGNATURE, b"\x30\x00"), "00000007" "04" "3000"),
    (CertReq(CertEncoding.X509_SIGNATURE), "00000005" "04"),
    (Notification(Doi.IPSEC, ProtocolId.ISAKMP, NotifyType.R_U_THERE, bytes(range(16)),
                  (7).to_bytes(4, "big")),
     "00000020" "00000001" "01" "10" "8d28" + bytes(range(16)).hex() + "00000007"),
    (Notification(Doi.IPSEC, ProtocolId.ISAKMP, NotifyType.R_U_THERE_ACK, b"\x01" * 16,
                  (7).to_bytes(4, "big")),
     "00000020" "00000001" "01" "10" "8d29" + "01" * 16 + "00000007"),
    (Notification(Doi.IPSEC, ProtocolId.IPSEC_ESP, NotifyType.RESPONDER_LIFETIME, b"\x0a" * 4,
                  bytes.fromhex("800b0001000c000400000e10")),
     "0000001c" "00000001" "03" "04" "6000" "0a0a0a0a" "800b0001000c000400000e10"),
    (Notification(Doi.ISAKMP, ProtocolId.ISAKMP, NotifyType.NO_PROPOSAL_CHOSEN),
     "0000000c" "00000000" "01" "00" "000e"),
    (Delete(Doi.IPSEC, ProtocolId.IPSEC_ESP, 4, (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08")),
     "00000014" "00000001" "03" "04" "0002" "01020304" "05060708"),
    (Delete(Doi.IPSEC, ProtocolId.ISAKMP, 16, (bytes(8) + b"\xff" * 8,)),
     "0000001c" "00000001" "01" "10" "0001" + "00" * 8 + "ff" * 8),
    (ModeCfg(CfgType.REQUEST, 0x1234, (Attribute(CfgAttr.INTERNAL_IP4_ADDRESS, b""),
                                       Attribute(CfgAttr.XAUTH_TYPE, 0))),
     "00000010" "01" "00" "1234" "00010000" "c0880000"),
    (ModeCfg(CfgType.REPLY, 1, (Attribute(CfgAttr.INTERNAL_IP4_ADDRESS, bytes([10, 0, 0, 7])),)),
     "00000010" "02" "00" "0001" "00010004" "0a000007"),
    (Fragment(1, 2, b"\xde\xad", 1), "0000000a" "0001" "02" "01" "dead"),
    (Unknown(200, b"?"), "00000005" "3f"),
])
def test_simple_payloads(payload: Payload, expected: str) -> None:
    assert _one(payload) == expected


@pytest.mark.parametrize(("payload", "kind", "expected"), [
    (NatD(b"\x11" * 20), PayloadType.NAT_D, "00000018" + "11" * 20),
    (NatD(b"\x11" * 20, draft=True), PayloadType.NAT_D_DRAFT, "00000018" + "11" * 20),
    (NatOA(IdType.IPV4_ADDR, bytes([192, 0, 2, 1])), PayloadType.NAT_OA,
     "0000000c" "01000000" "c0000201"),
    (NatOA(IdType.IPV6_ADDR, bytes(15) + b"\x01", draft=True), PayloadType.NAT_OA_DRAFT,
     "00000018" "05000000" + "00" * 15 + "01"),
])
def test_nat_traversal_payloads(payload: Payload, kind: int, expected: str) -> None:
    first, chain = encode_chain((payload,))
    assert first == kind and chain.hex() == expected
    assert decode_chain(chain, first) == (payload,)


def test_chain_links_next_payload() -> None:
    first, chain = encode_chain((Hash(b"h"), NatD(b"d"), NatOA(1, bytes(4), True)))
    assert first == PayloadType.HASH
    assert chain.hex() == "14000005" "68" "83000005" "64" "0000000c" "01000000" "00000000"


def test_fragment_last_flag() -> None:
    assert Fragment(1, 3, b"", 1).last and not Fragment(1, 2, b"").last


@pytest.mark.parametrize(("payload", "message"), [
    (Delete(1, 3, 4, (b"\x01\x02",)), "4 octets"),
    (SA(1, 1, ()), "proposals"),
    (SA(1, 1, (Proposal(1, 1, b"", ()),)), "transforms"),
    (NatOA(IdType.IPV4_ADDR, bytes(16)), "NAT-OA"),
    (ModeCfg(1, 0, (Attribute(1, 0x10000),)), "16 bits"),
    (ModeCfg(1, 0, (Attribute(0x8000, 0),)), "15 bits"),
    (ModeCfg(1, 0, (Attribute(1, bytes(0x10000)),)), "16 bits"),
])
def test_unencodable_payloads(payload: Payload, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_body(payload)


def test_encode_body_refuses_foreign_objects() -> None:
    with pytest.raises(TypeError):
        encode_body(object())  # type: ignore[arg-type]
