"""IKEv1 DPD (iked/ikev1/dpd.py): the Vendor ID both libreswan and strongSwan sent in
tests/vectors/captures/ikev1-main-psk, the notification layout of RFC 3706 §5 (types 36136
and 36137), the replay rule of §7 and the original's dpd_delay / dpd_retry / dpd_maxfail
timeline (ipsec-tools isakmp_info_send_r_u)."""

from __future__ import annotations

import pytest
from isakmp_captures import CAPTURES, messages

from iked.ikev1 import dpd
from iked.ikev1.dpd import PeerProbes, Prober, Settings, Verdict
from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import NotifyType
from racoon2.ikev1.message import decode, encode_chain
from racoon2.ikev1.payloads import Notification, VendorId

COOKIES = bytes.fromhex("0011223344556677" "8899aabbccddeeff")


def test_vendor_id_is_the_captured_one() -> None:
    for index in (0, 1):  # libreswan's and strongSwan's Main Mode messages 1 and 2
        vids = [p.data for p in decode(messages(CAPTURES / "ikev1-main-psk")[index]).payloads
                if isinstance(p, VendorId)]
        assert dpd.VENDOR_ID in vids and dpd.supported(vids)
    assert not dpd.supported([bytes(16)])
    assert dpd.supported([dpd.VENDOR_ID[:14] + b"\x01\x01"])  # a later minor version


def test_notify_layout() -> None:
    _, body = encode_chain((dpd.r_u_there(COOKIES, 0x01020304),))
    # RFC 3706 §5: DOI IPsec, protocol ISAKMP, SPI size 16, R-U-THERE, CKY-I|CKY-R, seq
    assert body.hex() == ("0000" "0020" "00000001" "01" "10" "8d28" + COOKIES.hex()
                          + "01020304")
    ack = dpd.r_u_there_ack(COOKIES, 0xFFFFFFFF)
    assert ack.type == NotifyType.R_U_THERE_ACK == 36137
    assert dpd.sequence(ack, COOKIES) == 0xFFFFFFFF


def test_malformed_notifies() -> None:
    good = dpd.r_u_there(COOKIES, 7)
    with pytest.raises(ProtocolError, match="cookies"):
        dpd.sequence(good, bytes(16))
    with pytest.raises(ProtocolError, match="4-octet"):
        dpd.sequence(Notification(1, 1, NotifyType.R_U_THERE, COOKIES, b"\0"), COOKIES)
    with pytest.raises(ProtocolError, match="no DPD"):
        dpd.sequence(Notification(1, 1, NotifyType.INITIAL_CONTACT, COOKIES), COOKIES)
    with pytest.raises(ValueError, match="16 octets"):
        dpd.r_u_there(COOKIES[:8], 1)


def test_first_sequence_has_the_high_bit_clear() -> None:
    assert dpd.first_sequence(b"\xff\xff\xff\xff") == 0x7FFFFFFF  # RFC 3706 §7
    assert dpd.first_sequence(b"\x12\x34\x56\x78") == 0x12345678


def test_peer_probes_must_move_forward() -> None:
    seen = PeerProbes()
    assert seen.accept(100)
    assert not seen.accept(100)       # a replay
    assert not seen.accept(50)        # older
    assert seen.accept(101) and seen.accept(200)
    wrap = PeerProbes()
    assert wrap.accept(0xFFFFFFFF) and wrap.accept(0)   # serial arithmetic across the wrap
    assert not wrap.accept(0x80000000)                  # half the space away: not forward


def test_timeline_of_the_original_directives() -> None:
    p = Prober(Settings(delay=30, retry=5, maxfail=5), peer_supports=True, first_seq=10,
               now=0)
    assert p.tick(29.9) == (Verdict.NOTHING, None)
    sent = [p.tick(t) for t in (30, 35, 40, 45, 50)]
    assert sent == [(Verdict.PROBE, s) for s in (10, 11, 12, 13, 14)]
    assert p.failures == 5
    assert p.tick(54.9) == (Verdict.NOTHING, None)
    assert p.tick(55) == (Verdict.DEAD, None)
    assert p.tick(1000) == (Verdict.NOTHING, None) and p.deadline is None


def test_an_answer_restarts_the_count() -> None:
    p = Prober(Settings(delay=30, retry=5, maxfail=2), True, 0xFFFFFFFF, 0)
    assert p.tick(30) == (Verdict.PROBE, 0xFFFFFFFF)
    assert p.tick(35) == (Verdict.PROBE, 0)
    assert not p.acked(7, 36)            # answers nothing we sent: ignored
    assert p.failures == 2
    assert p.acked(0xFFFFFFFF, 36)       # a late answer to the first probe still counts
    assert p.failures == 0 and p.deadline == 66
    assert p.tick(66) == (Verdict.PROBE, 1)


@pytest.mark.parametrize(("settings", "peer"), [(Settings(delay=0), True),
                                                (Settings(delay=30), False),
                                                (Settings(enabled=False, delay=30), True)])
def test_no_probes(settings: Settings, peer: bool) -> None:
    p = Prober(settings, peer, 1, 0)
    assert not p.active and p.tick(10_000) == (Verdict.NOTHING, None)
    p.alive(5)
    assert p.deadline is None
