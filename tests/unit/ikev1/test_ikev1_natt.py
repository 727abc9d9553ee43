"""IKEv1 NAT-T (iked/ikev1/natt.py) against known answers: the Vendor IDs as libreswan sent
them and the NAT-D hashes libreswan and strongSwan computed, both from
tests/vectors/captures/ikev1-main-psk and ikev1-aggressive-psk; the mode numbers of RFC 3947
§5.1 and the drafts; the NAT-OA layout of RFC 3947 §5.1."""

from __future__ import annotations

import ipaddress

import pytest
from isakmp_captures import CAPTURES, messages

from iked.ikev1 import natt
from iked.ikev1.natt import NatStatus, Variant
from racoon2.crypto.prf import prf_for
from racoon2.errors import CryptoError, ProtocolError
from racoon2.ikev1.constants import EncapsulationMode
from racoon2.ikev1.message import Message, decode, encode_chain
from racoon2.ikev1.payloads import NatD, NatOA, VendorId
from racoon2.net import Endpoint

LIBRESWAN = Endpoint(ipaddress.ip_address("192.0.2.1"), 500)
STRONGSWAN = Endpoint(ipaddress.ip_address("192.0.2.2"), 500)
SHA256 = natt.digest_for(prf_for(5))  # PRF_HMAC_SHA2_256, the captures' PRF


def _capture(name: str) -> list[Message]:
    return [decode(raw) for raw in messages(CAPTURES / name)]


def _vids(m: Message) -> list[bytes]:
    return [p.data for p in m.payloads if isinstance(p, VendorId)]


def _nat_ds(m: Message) -> list[NatD]:
    return [p for p in m.payloads if isinstance(p, NatD)]


def test_vendor_ids_are_the_ones_libreswan_sends() -> None:
    # libreswan 4.10's Main Mode message 1: RFC 3947, draft-03, draft-02\n, draft-02 (in that
    # order after FRAGMENTATION and DPD); the same hex is in ipsec-tools' vendorid.h
    sent = _vids(_capture("ikev1-main-psk")[0])
    assert [natt.vendor_id(v).hex() for v in Variant] == [
        "4a131c81070358455c5728f20e95452f", "7d9419a65310ca6f2c179d9215529d56",
        "cd60464335df21f87cfdb2fc68b6a448", "90cb80913ebb696e086381b5ec427b1f"]
    assert {natt.vendor_id(v) for v in Variant} <= set(sent)


def test_choice_prefers_the_rfc_then_the_newest_draft() -> None:
    vid = natt.vendor_id
    assert natt.choose(_vids(_capture("ikev1-main-psk")[0])) is Variant.RFC3947
    assert natt.choose([vid(Variant.DRAFT_02), vid(Variant.DRAFT_03)]) is Variant.DRAFT_03
    assert natt.choose([vid(Variant.DRAFT_02_N)]) is Variant.DRAFT_02_N
    assert natt.choose([vid(Variant.DRAFT_02)], ours=(Variant.RFC3947,)) is None
    # draft-00 (MD5 of its name) is no dialect iked speaks
    assert natt.choose([bytes.fromhex("4485152d18b6bbcd0be8a8469579ddcc")]) is None
    assert not Variant.RFC3947.draft and Variant.DRAFT_02_N.draft


def test_nat_d_hashes_are_the_captured_ones() -> None:
    m = _capture("ikev1-main-psk")[2]  # libreswan's Main Mode message 3, hash SHA2-256
    ours = natt.nat_d_payloads(SHA256, m.cookie_i, m.cookie_r, LIBRESWAN, STRONGSWAN,
                               Variant.RFC3947)
    assert list(ours) == _nat_ds(m)
    assert natt.detect(SHA256, m.cookie_i, m.cookie_r, _nat_ds(m), STRONGSWAN, LIBRESWAN) == \
        NatStatus(False, False)


@pytest.mark.parametrize(("capture", "index"), [("ikev1-main-psk", 3),
                                                ("ikev1-aggressive-psk", 1)])
def test_strongswan_fakes_its_own_nat_d_to_force_encapsulation(capture: str, index: int
                                                               ) -> None:
    # strongSwan's kernel-libipsec needs ESP in UDP, so it sends a random hash for its own
    # address (its forced-encapsulation trick): its first NAT-D is the true hash of ours,
    # and we see it as behind a NAT; both then floated to 4500 in the capture
    m = _capture(capture)[index]
    got = _nat_ds(m)
    assert got[0] == NatD(natt.nat_d(SHA256, m.cookie_i, m.cookie_r, LIBRESWAN))
    assert got[1] != NatD(natt.nat_d(SHA256, m.cookie_i, m.cookie_r, STRONGSWAN))
    assert natt.detect(SHA256, m.cookie_i, m.cookie_r, got, LIBRESWAN, STRONGSWAN) == \
        NatStatus(False, True)


def test_detection_names_the_side_behind_the_nat() -> None:
    m = _capture("ikev1-main-psk")[2]
    got = _nat_ds(m)
    public = Endpoint(ipaddress.ip_address("203.0.113.9"), 500)
    translated = Endpoint(ipaddress.ip_address("198.51.100.7"), 41000)
    # the packet reached us at another address than the one libreswan sent to: we are behind
    assert natt.detect(SHA256, m.cookie_i, m.cookie_r, got, public, LIBRESWAN) == \
        NatStatus(True, False)
    # it came from another source than the one libreswan hashed: libreswan is behind one
    status = natt.detect(SHA256, m.cookie_i, m.cookie_r, got, STRONGSWAN, translated)
    assert status == NatStatus(False, True) and status.nat
    with pytest.raises(ProtocolError, match="at least two"):
        natt.detect(SHA256, m.cookie_i, m.cookie_r, got[:1], STRONGSWAN, LIBRESWAN)


def test_draft_payload_types_and_a_prf_without_hash() -> None:
    a, b = natt.nat_d_payloads(SHA256, bytes(8), bytes(8), LIBRESWAN, STRONGSWAN,
                               Variant.DRAFT_02)
    assert a.draft and b.draft
    assert encode_chain((a,))[0] == 130
    with pytest.raises(CryptoError, match="IKEv1 has no hash"):
        natt.digest_for(prf_for(4))(b"")   # PRF_AES128_XCBC


def test_floating_moves_port_500_only() -> None:
    behind = Endpoint(ipaddress.ip_address("198.51.100.7"), 41000)
    assert natt.floated(STRONGSWAN, behind) == (Endpoint(STRONGSWAN.addr, 4500), behind)
    assert natt.floated(Endpoint(STRONGSWAN.addr, 4500), LIBRESWAN)[0].port == 4500


def test_encapsulation_modes() -> None:
    T, U = EncapsulationMode.TRANSPORT, EncapsulationMode.TUNNEL
    assert natt.encapsulation(T, Variant.RFC3947) == 4          # RFC 3947 §5.1
    assert natt.encapsulation(U, Variant.RFC3947) == 3
    assert natt.encapsulation(T, Variant.DRAFT_03) == 61444     # the drafts' private values
    assert natt.encapsulation(U, Variant.DRAFT_02_N) == 61443
    assert natt.decapsulation(61444) == (T, True)
    assert natt.decapsulation(3) == (U, True)
    assert natt.decapsulation(2) == (T, False)
    with pytest.raises(ProtocolError, match="Encapsulation Mode 5"):
        natt.decapsulation(5)


def test_nat_oa_for_transport_mode() -> None:
    i = ipaddress.ip_address("198.51.100.7")
    r = ipaddress.ip_address("2001:db8::1")
    oai, oar = natt.nat_oa_payloads(i, r, Variant.RFC3947)
    # RFC 3947 §5.1: Next Payload, RESERVED, Length | ID Type, RESERVED (3) | address
    assert encode_chain((oai,))[1].hex() == "0000000c" "01000000" "c6336407"
    assert oar == NatOA(5, r.packed)
    assert natt.nat_oa_payloads(i, r, Variant.DRAFT_03)[0].draft
    assert natt.original_addresses((oai, oar)) == (i, r)
    assert natt.original_addresses((oai,)) == (i, None)
    assert natt.original_addresses(()) == (None, None)
    with pytest.raises(ProtocolError, match="at most two"):
        natt.original_addresses((oai, oai, oai))


def test_keepalive() -> None:
    assert natt.KEEPALIVE == b"\xff" and natt.KEEPALIVE_INTERVAL == 20  # RFC 3948 §2.3
