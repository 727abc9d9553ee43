"""Two IKEv2 cores negotiate with each other in memory (unit tests of the pure core).

The proof against real peers and kernels is in tests/interop; here the exchanges, failures and
drop counters are checked message by message with a virtual clock and the in-memory kernel.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from iked.events import (
    ChildSaDown,
    ChildSaUp,
    DropReason,
    IkeSaDown,
    IkeSaUp,
    NatDetected,
    NegotiationFailed,
)
from iked.hooks import phase2_env
from racoon2.ikev2 import message
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.constants import PayloadType as P
from racoon2.ikev2.payloads import Notify
from racoon2.kernel import api
from racoon2.net import Endpoint
from racoon2.spmif.commands import PolicyAdd

from . import internals
from .harness import (
    A,
    B,
    Msg,
    Side,
    decode,
    exchange,
    exchanges,
    ike_sas,
    make_side,
    of,
    perform_requests,
    pump,
    settle,
    spi_in,
    two_sides,
)

INIT, AUTH = ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH
CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL
NAT_D = [NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP]
#: RFC 7296 §1.2's first exchanges of the sample (transport mode: RFC 7296 §1.3.1).
HANDSHAKE = [(INIT, False), (INIT, True), (AUTH, False), (AUTH, True)]
FRAG = NotifyType.IKEV2_FRAGMENTATION_SUPPORTED  # RFC 7383, on by default
#: A CHILD_SA rekey (RFC 7296 §1.3.3), then the Delete of the old one (§1.4.1).
CHILD_REKEY = [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]


def test_psk_transport_pair(pair: dict[str, Side]) -> None:
    a, b = pair["a"], pair["b"]
    sa = a.core.initiate("peer_out", 0.0)
    assert sa is not None
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(IKEV2_FRAGMENTATION_SUPPORTED),
    #                      N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)
    m = exchange(a, b)
    assert (m.exchange, m.response, m.protected) == (INIT, False, False)
    assert m.types == [P.SA, P.KE, P.NONCE] + [P.NOTIFY] * 3, m.draw()
    assert m.notifies == [FRAG, *NAT_D], m.draw()
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(IKEV2_FRAGMENTATION_SUPPORTED),
    #                      N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)
    m = exchange(b, a)
    assert (m.exchange, m.response, m.protected) == (INIT, True, False)
    assert m.types == [P.SA, P.KE, P.NONCE] + [P.NOTIFY] * 3, m.draw()
    assert m.notifies == [FRAG, *NAT_D], m.draw()
    # IKE_AUTH  i -> r  HDR, SK { IDi, AUTH, N(MOBIKE_SUPPORTED), N(USE_TRANSPORT_MODE), SAi2,
    #                            TSi, TSr }                                      (RFC 4555 §3.2)
    m = exchange(a, b)
    assert (m.exchange, m.response, m.protected) == (AUTH, False, True)
    assert m.types == [P.IDI, P.AUTH, P.NOTIFY, P.NOTIFY, P.SA, P.TSI, P.TSR], m.draw()
    assert m.notifies == [NotifyType.MOBIKE_SUPPORTED, NotifyType.USE_TRANSPORT_MODE]
    # IKE_AUTH  i <- r  HDR, SK { IDr, AUTH, N(MOBIKE_SUPPORTED), N(USE_TRANSPORT_MODE), SAr2,
    #                            TSi, TSr }
    m = exchange(b, a)
    assert (m.exchange, m.response, m.protected) == (AUTH, True, True)
    assert m.types == [P.IDR, P.AUTH, P.NOTIFY, P.NOTIFY, P.SA, P.TSI, P.TSR], m.draw()
    assert m.notifies == [NotifyType.MOBIKE_SUPPORTED, NotifyType.USE_TRANSPORT_MODE]
    assert pump(pair) == 0  # IKE_SA_INIT and IKE_AUTH, request and response: nothing more
    for side in (a, b):
        assert [type(e) for e in side.events if isinstance(e, IkeSaUp | ChildSaUp)] == [
            IkeSaUp, ChildSaUp]
        assert len(side.installed) == 2
    a_out = next(s for s in a.installed if s.src == A)
    b_in = next(s for s in b.installed if s.src == A)
    assert (a_out.spi, a_out.cipher, a_out.integrity) == (b_in.spi, b_in.cipher, b_in.integrity)
    assert a_out.integrity is not None and a_out.integrity.trunc_bits == 128
    assert a_out.mode is api.Mode.TRANSPORT and a_out.cipher is not None
    assert a_out.cipher.name == "cbc(aes)" and len(a_out.cipher.key) == 32
    assert 2880 <= a_out.lifetime.soft_add_seconds <= 3240
    assert a_out.lifetime.hard_add_seconds == 3600
    up = next(e for e in a.events if isinstance(e, ChildSaUp))
    assert not up.rekey and phase2_env(up.hook) == [
        ("LOCAL_ADDR", "192.0.2.1"), ("REMOTE_ADDR", "192.0.2.2"),
        ("SELECTOR_INDEX", "peer_out"), ("IPSEC_MODE", "transport"),
        ("LOCAL_NET_ADDR", "192.0.2.1"), ("LOCAL_NET_PREFIXLEN", "32"), ("LOCAL_NET_PORT", "0"),
        ("REMOTE_NET_ADDR", "192.0.2.2"), ("REMOTE_NET_PREFIXLEN", "32"),
        ("REMOTE_NET_PORT", "0"), ("UPPER_LAYER_PROTOCOL", "any")]


def test_kernel_replies_that_leave_a_deadline_push_no_timer(pair: dict[str, Side]) -> None:
    # One heap entry per SA and deadline: the handshake's kernel replies (SPI, SAs), which
    # do not move the SA's deadline, push none (each pushed a copy of the entry before).
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    pump(pair)
    for side in (a, b):
        (sa,) = side.core.sas.values()
        assert sa.deadline() is not None
        assert internals.timer_entries(side).count((sa.deadline(), sa)) == 1
        assert side.core.next_timer() == sa.deadline()


def test_tunnel_gcm_curve25519(tmp_path: Path) -> None:
    edit = (("aes256_cbc; };\n\t\tkmp_prf", "aes256_gcm16; };\n\t\tkmp_prf"),
            ("modp3072; modp2048;", "curve25519;"),
            ("esp_enc_alg { aes256_cbc; };", "esp_enc_alg { aes128_gcm16; };"))
    a = make_side(tmp_path / "a", "198.51.100.1", "203.0.113.1", b"a", "ikev2-tunnel.conf",
                  edit=edit)
    b_edit = edit + (('"192.0.2.0/25"', '"@X@"'), ('"192.0.2.128/25"', '"192.0.2.0/25"'),
                     ('"@X@"', '"192.0.2.128/25"'), ('"gw-a.example.net"', '"@Y@"'),
                     ('"gw-b.example.net"', '"gw-a.example.net"'), ('"@Y@"', '"gw-b.example.net"'),
                     ('"198.51.100.1"', '"@G@"'), ('"203.0.113.1"', '"198.51.100.1"'),
                     ('"@G@"', '"203.0.113.1"'))
    b = make_side(tmp_path / "b", "203.0.113.1", "198.51.100.1", b"b", "ikev2-tunnel.conf",
                  edit=b_edit)
    sides = {"a": a, "b": b}
    assert a.core.initiate("net_out", 0.0) is not None
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*)
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, SAi2, TSi, TSr }   (tunnel: no USE_TRANSPORT_MODE)
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, SAr2, TSi, TSr }
    pump(sides, record=wire)
    assert exchanges(wire) == HANDSHAKE
    assert all(NotifyType.USE_TRANSPORT_MODE not in m.notifies for m in wire[2:])
    ups = of(b, ChildSaUp)
    assert ups and ups[0].algorithms == "ENCR_AES_GCM_16-128"
    out = next(s for s in a.installed if str(s.src) == "198.51.100.1")
    assert out.mode is api.Mode.TUNNEL and out.aead is not None
    assert out.aead.name == "rfc4106(gcm(aes))" and out.aead.icv_bits == 128
    assert len(out.aead.key) == 20


def test_wrong_psk_fails_cleanly(tmp_path: Path) -> None:
    sides = two_sides(tmp_path, b_psk=b"other")
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*)
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(USE_TRANSPORT_MODE), SAi2, TSi, TSr }
    # IKE_AUTH     i <- r  HDR, SK { N(AUTHENTICATION_FAILED) }
    pump(sides, record=wire)
    assert exchanges(wire) == HANDSHAKE
    assert wire[-1].notifies == [NotifyType.AUTHENTICATION_FAILED], wire[-1].draw()
    failed = of(sides["b"], NegotiationFailed)
    assert failed and "pre-shared keys differ" in failed[0].reason
    assert not sides["a"].installed and not sides["b"].installed
    assert not any(isinstance(e, IkeSaUp) for s in sides.values() for e in s.events)
    assert isinstance(next(e for e in sides["a"].events if isinstance(e, NegotiationFailed)),
                      NegotiationFailed)


def test_no_common_proposal(tmp_path: Path) -> None:
    sides = two_sides(tmp_path, b_edit=(("kmp_dh_group { modp2048; }",
                                         "kmp_dh_group { ecp256; }"),))
    sides["a"].core.initiate("peer_out", 0.0)
    # IKE_SA_INIT  i -> r  HDR, SAi1 (MODP_2048), KEi, Ni, N(NAT_DETECTION_*)
    m = exchange(sides["a"], sides["b"])
    assert m.exchange is INIT and not m.response
    # IKE_SA_INIT  i <- r  HDR, N(NO_PROPOSAL_CHOSEN)
    m = exchange(sides["b"], sides["a"])
    assert m.exchange is INIT and m.response and m.notifies == [NotifyType.NO_PROPOSAL_CHOSEN]
    assert pump(sides) == 0
    fail = next(e for e in sides["b"].events if isinstance(e, NegotiationFailed))
    assert fail.reason == "no proposal chosen"
    assert "MODP_2048" in fail.received and "ECP_256" in fail.configured
    a_fail = next(e for e in sides["a"].events if isinstance(e, NegotiationFailed))
    assert "NO_PROPOSAL_CHOSEN" in a_fail.reason


def test_invalid_ke_retry(tmp_path: Path) -> None:
    sides = two_sides(tmp_path, a_edit=(("kmp_dh_group { modp2048; }",
                                         "kmp_dh_group { ecp256; modp2048; }"),))
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi (ECP_256), Ni, N(NAT_DETECTION_*)
    # IKE_SA_INIT  i <- r  HDR, N(INVALID_KE_PAYLOAD)                   (RFC 7296 §1.2)
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi (MODP_2048), Ni, N(NAT_DETECTION_*)
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*)
    # IKE_AUTH     i -> r  and  i <- r
    assert pump(sides, record=wire) == 6
    assert exchanges(wire) == [(INIT, False), (INIT, True)] + HANDSHAKE
    assert wire[1].notifies == [NotifyType.INVALID_KE_PAYLOAD], wire[1].draw()
    assert any(isinstance(e, IkeSaUp) for e in sides["a"].events)


def test_cookie_required(tmp_path: Path) -> None:
    sides = two_sides(tmp_path, b_edit=(("kmp_auth_method { psk; };",
                                         "kmp_auth_method { psk; }; cookie_required on;"),))
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)
    # IKE_SA_INIT  i <- r  HDR, N(COOKIE)                               (RFC 7296 §2.6)
    # IKE_SA_INIT  i -> r  HDR, N(COOKIE), SAi1, KEi, Ni, N(NAT_DETECTION_*)
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*)
    # IKE_AUTH     i -> r  and  i <- r
    assert pump(sides, record=wire) == 6
    assert exchanges(wire) == [(INIT, False), (INIT, True)] + HANDSHAKE
    assert wire[1].notifies == [NotifyType.COOKIE] and wire[2].types[0] is P.NOTIFY
    assert wire[2].notifies[0] is NotifyType.COOKIE, wire[2].draw()
    assert any(isinstance(e, IkeSaUp) for e in sides["b"].events)


def test_tampered_auth_is_dropped_and_counted(pair: dict[str, Side]) -> None:
    pair["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { ... }   one bit of its ICV flipped: B drops it
    pump(pair, tamper=True, record=wire)
    assert exchanges(wire) == HANDSHAKE[:3]
    assert pair["b"].core.dropped[DropReason.BAD_ICV] == 1
    assert not pair["b"].installed
    # The initiator retransmits the intact request: the SA still comes up.
    pair["a"].core.handle_timer(1.0)
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(USE_TRANSPORT_MODE), SAi2, TSi, TSr }
    m = exchange(pair["a"], pair["b"], 1.0)
    assert m.exchange is AUTH and not m.response and m.data == wire[2].data
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, N(USE_TRANSPORT_MODE), SAr2, TSi, TSr }
    assert exchange(pair["b"], pair["a"], 1.0).exchange is AUTH
    pump(pair, now=1.0)
    assert any(isinstance(e, IkeSaUp) for e in pair["b"].events)


def test_garbage_and_unknown_spi(pair: dict[str, Side]) -> None:
    core = pair["b"].core
    peer, me = Endpoint(A, 500), Endpoint(B, 500)
    # Ten bytes: shorter than the IKE header (RFC 7296 §3.1).
    core.receive_datagram(b"\x00" * 10, me, peer, 0.0)
    # A header of counting bytes: version 0x13, a length that is not the datagram's.
    core.receive_datagram(bytes(range(28)) + b"\x00" * 8, me, peer, 0.0)
    # HDR(SPIi=0, SPIr=0101.., INFORMATIONAL, I) for an IKE SA B never made.
    unknown = message.Message(bytes(8), b"\x01" * 8, INFO, 0, (), 0x08)
    assert message.encode(unknown) == (bytes(8) + b"\x01" * 8 + bytes([0, 0x20, 37, 0x08])
                                       + bytes(4) + (28).to_bytes(4, "big"))
    core.receive_datagram(message.encode(unknown), me, peer, 0.0)
    assert core.dropped[DropReason.MALFORMED] == 2
    assert core.dropped[DropReason.UNKNOWN_SPI] == 1
    assert not ike_sas(pair["b"])


def test_retransmission_then_give_up(pair: dict[str, Side]) -> None:
    sa = pair["a"].core.initiate("peer_out", 0.0)
    assert sa is not None
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)   lost, and each resend too
    (first,) = pair["a"].take()
    sent = []
    now = 0.0
    while (t := pair["a"].core.next_timer()) is not None and now < 10_000:
        now = t
        pair["a"].core.handle_timer(now)
        sent += pair["a"].take()
    assert len(sent) == 10  # max_retry_to_send
    assert {d.data for d in sent} == {first.data}
    assert internals.is_dead(sa) and not ike_sas(pair["a"])
    fail = of(pair["a"], NegotiationFailed)
    assert fail and "no response" in fail[0].reason


def test_delete_from_initiator(pair: dict[str, Side]) -> None:
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)  # IKE_SA_INIT, IKE_AUTH
    pair["a"].core.shutdown(1.0)
    # INFORMATIONAL  i -> r  HDR, SK { D }                              (RFC 7296 §1.4.1)
    m = exchange(pair["a"], pair["b"], 1.0)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    # INFORMATIONAL  i <- r  HDR, SK { }
    m = exchange(pair["b"], pair["a"], 1.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
    pump(pair, now=1.0)
    for side in pair.values():
        assert not ike_sas(side)
        assert any(isinstance(e, IkeSaDown) for e in side.events)
        assert not side.kernel.sas


def test_init_flood_needs_cookies_and_real_peers_still_connect(pair: dict[str, Side]) -> None:
    """A flood of IKE_SA_INIT from spoofed SPIs: after 20 half-open SAs the responder keeps no
    state and answers with a COOKIE; a real initiator then comes through with the cookie."""
    flooder = make_side(Path(pair["a"].core.config.file).parent.parent / "f", "192.0.2.1",
                        "192.0.2.2", b"f")
    b = pair["b"]
    for _ in range(30):
        sa = flooder.core.initiate("peer_out", 0.0)
        assert sa is not None
        internals.forget_sas(flooder)  # a flooder keeps nothing
        # IKE_SA_INIT  i -> r  HDR(new SPIi), SAi1, KEi, Ni, N(NAT_DETECTION_*)
        m = exchange(flooder, b)
        assert m.exchange is INIT and not m.response
    assert len(ike_sas(b)) == 20
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*)    x 20, then
    # IKE_SA_INIT  i <- r  HDR, N(COOKIE)                               x 10 (RFC 7296 §2.6)
    answers = [decode(d.data, b) for d in b.take()]
    cookies = [m for m in answers if NotifyType.COOKIE in m.notifies]
    assert len(cookies) == 10 and all(m.exchange is INIT for m in cookies)
    assert all(m.types == [P.NOTIFY] for m in cookies)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)  # the exchanges of test_cookie_required
    assert any(isinstance(e, IkeSaUp) for e in pair["b"].events)


def test_authenticated_sas_waiting_for_their_spi_are_not_half_open(
        pair: dict[str, Side]) -> None:
    """20 initiators whose IKE_AUTH B has authenticated, each waiting for its inbound SPI from
    the kernel: proven peers, not half-open SAs (RFC 7296 §2.6), so the next initiator gets
    SAr1, not a COOKIE."""
    b, root = pair["b"], Path(pair["a"].core.config.file).parent.parent
    for i in range(21):
        peer = make_side(root / f"p{i}", "192.0.2.1", "192.0.2.2", bytes([i + 1]))
        assert peer.core.initiate("peer_out", 0.0) is not None
        # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)
        settle(peer)
        d = peer.outbox.popleft()
        b.core.receive_datagram(d.data, d.remote, d.local, 0.0)
        # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*)   (no COOKIE)
        b.collect()
        (answer,) = b.outbox
        b.outbox.clear()
        assert decode(answer.data, b).types[0] is P.SA, i
        if i == 20:
            break
        # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, SAi2, TSi, TSr }: B authenticates it and
        # asks its kernel for an SPI, which does not answer yet.
        peer.core.receive_datagram(answer.data, answer.remote, answer.local, 0.0)
        settle(peer)
        d = peer.outbox.popleft()
        b.core.receive_datagram(d.data, d.remote, d.local, 0.0)
        b.collect()
        assert not b.outbox
    assert len(ike_sas(b)) == 21


def test_replayed_auth_is_answered_from_cache_only(pair: dict[str, Side]) -> None:
    wire: list[Msg] = []
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair, record=wire)  # IKE_SA_INIT, IKE_AUTH
    b = pair["b"]
    auth = next(m for m in wire if m.exchange is AUTH and not m.response)
    installed, events = len(b.installed), len(b.events)
    # IKE_AUTH  i -> r  HDR, SK { IDi, AUTH, ... }   again (a replay, or a lost response)
    b.core.receive_datagram(auth.data, Endpoint(B, 500), Endpoint(A, 500), 1.0)
    # IKE_AUTH  i <- r  the cached response, byte for byte (RFC 7296 §2.1)
    again = b.core.datagrams_to_send()
    assert len(again) == 1 and again[0].data == next(m.data for m in wire if m.exchange is AUTH
                                                     and m.response)
    assert not b.core.requests() and len(b.installed) == installed
    assert b.core.next_event() is None and len(b.events) == events
    # An old message ID (IKE_SA_INIT's) on the established SA is stale: dropped, counted.
    # IKE_AUTH  i -> r  HDR(Message ID 0), SK { ... }
    old = message.decode(auth.data)
    stale = message.encode(message.Message(old.spi_i, old.spi_r, old.exchange, 0, old.payloads,
                                           old.flags))
    assert stale == auth.data[:20] + bytes(4) + auth.data[24:]
    b.core.receive_datagram(stale, Endpoint(B, 500), Endpoint(A, 500), 1.0)
    assert b.core.dropped[DropReason.STALE] == 1


def test_hard_expire_deletes_the_child_on_both_sides(pair: dict[str, Side]) -> None:
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)  # IKE_SA_INIT, IKE_AUTH
    a_in = next(s for s in pair["a"].installed if s.dst == A)
    assert pair["a"].core.kernel_event(api.Expire(a_in.key, hard=True), 2.0)
    # INFORMATIONAL  i -> r  HDR, SK { D(ESP, A's inbound SPI) }
    m = exchange(pair["a"], pair["b"], 2.0)
    assert (m.exchange, m.types) == (INFO, [P.DELETE]), m.draw()
    # INFORMATIONAL  i <- r  HDR, SK { D(ESP, B's inbound SPI) }        (RFC 7296 §1.4.1)
    m = exchange(pair["b"], pair["a"], 2.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, [P.DELETE]), m.draw()
    pump(pair, now=2.0)
    downs = {n: of(pair[n], ChildSaDown) for n in "ab"}
    assert downs["a"][0].reason == "hard lifetime expired"
    assert downs["b"][0].reason == "deleted by the peer"
    assert all(not sa["children"] for n in "ab" for sa in ike_sas(pair[n]))
    assert not pair["a"].core.kernel_event(api.Expire(a_in.key, hard=True), 3.0)


def test_wrong_cookie_is_counted_and_refused(tmp_path: Path) -> None:
    sides = two_sides(tmp_path, b_edit=(("kmp_auth_method { psk; };",
                                         "kmp_auth_method { psk; }; cookie_required on;"),))
    a, b = sides["a"], sides["b"]
    sa = a.core.initiate("peer_out", 0.0)
    assert sa is not None
    (first,) = a.take()
    forged = message.decode(first.data)
    forged = message.Message(forged.spi_i, forged.spi_r, forged.exchange, 0,
                             (Notify(0, NotifyType.COOKIE, b"", b"\x00" * 33),
                              *forged.payloads), forged.flags)
    # IKE_SA_INIT  i -> r  HDR, N(COOKIE: 33 zero octets B never gave), SAi1, KEi, Ni, N(NAT_D*)
    b.core.receive_datagram(message.encode(forged), Endpoint(B, 500), Endpoint(A, 500), 0.0)
    assert b.core.dropped[DropReason.BAD_COOKIE] == 1 and not ike_sas(b)
    # IKE_SA_INIT  i <- r  HDR, N(COOKIE)                               a fresh cookie
    (answer,) = b.take()
    reply = decode(answer.data, b)
    assert reply.exchange is INIT and reply.response
    assert reply.notifies == [NotifyType.COOKIE], reply.draw()


@pytest.mark.parametrize("pfs", [False, True])
def test_soft_expire_rekeys_the_child(tmp_path: Path, pfs: bool) -> None:
    edit = (("kmp_auth_method { psk; };", "kmp_auth_method { psk; }; need_pfs on;"),) if pfs \
        else ()
    sides = two_sides(tmp_path, a_edit=edit)
    a, b = sides["a"], sides["b"]
    a.core.initiate("peer_out", 0.0)
    pump(sides)  # IKE_SA_INIT, IKE_AUTH
    old_in = next(s for s in a.installed if s.dst == A)
    assert a.core.kernel_event(api.Expire(old_in.key, hard=False), 10.0)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, [KEi,]
    #                                    TSi, TSr }                       (RFC 7296 §1.3.3)
    m = exchange(a, b, 10.0)
    ke = [P.KE] if pfs else []
    assert (m.exchange, m.response) == (CREATE, False)
    assert m.types == [P.NOTIFY, P.NOTIFY, P.SA, P.NONCE, *ke, P.TSI, P.TSR], m.draw()
    assert m.notifies == [NotifyType.REKEY_SA, NotifyType.USE_TRANSPORT_MODE]
    wire = [m]
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, [KEr,] TSi, TSr }
    m = exchange(b, a, 10.0)
    assert (m.exchange, m.response) == (CREATE, True)
    assert m.types == [P.NOTIFY, P.SA, P.NONCE, *ke, P.TSI, P.TSR], m.draw()
    wire.append(m)
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, old inbound SPI) }
    # INFORMATIONAL    i <- r  HDR, SK { D(ESP, B's old inbound SPI) }
    pump(sides, now=10.0, record=wire)
    assert exchanges(wire) == CHILD_REKEY
    assert [m.types for m in wire[2:]] == [[P.DELETE], [P.DELETE]]
    # With PFS both CREATE_CHILD_SA messages carry a 256-byte MODP2048 KE payload.
    assert all((len(m.data) > 400) == pfs for m in wire[:2]), [len(m.data) for m in wire]
    for n, reason in (("a", "rekeyed"), ("b", "deleted by the peer")):
        side = sides[n]
        downs = of(side, ChildSaDown)
        assert [(e.reason, e.replaced) for e in downs] == [(reason, True)]  # no phase2_down
        assert [e.rekey for e in of(side, ChildSaUp)] == [False, True]
        assert sum(isinstance(e, ChildSaUp) for e in side.events) == 2
        (sa,) = ike_sas(side)
        assert len(sa["children"]) == 1 and spi_in(sa["children"][0]) != old_in.spi
    new_a_out = a.installed[-1]
    new_b_in = next(s for s in b.installed[2:] if s.src == A)
    assert (new_a_out.spi, new_a_out.cipher) == (new_b_in.spi, new_b_in.cipher)
    assert new_a_out.cipher != old_in.cipher


@pytest.mark.parametrize("rekeyer", ["a", "b"])
def test_ike_sa_rekey_moves_children(pair: dict[str, Side], rekeyer: str) -> None:
    """At the IKE SA lifetime (8 h in the sample) the side whose timer fires rekeys the IKE SA:
    a successor with new SPIs takes the CHILD_SA, the old SA is deleted (no phase1_down), and
    the successor's keys work: a CHILD_SA rekey over it succeeds."""
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)  # IKE_SA_INIT, IKE_AUTH
    (old,) = ike_sas(pair["a"])
    old_name = old["sa"]
    internals.never_expires(pair["b" if rekeyer == "a" else "a"])  # only the rekeyer's ends
    now = 0.0
    wire: list[Msg] = []
    while (t := min(filter(None, (s.core.next_timer() for s in pair.values())),
                    default=None)) is not None and t <= 8 * 3600:
        now = t  # DPD probes every hour, then the rekey
        for side in pair.values():
            side.core.handle_timer(now)
        # Each hour both sides probe (DPD, RFC 7296 §2.4), and each answers the other's:
        # INFORMATIONAL    i -> r  HDR, SK { }         INFORMATIONAL  i <- r  HDR, SK { }
        # INFORMATIONAL    i <- r  HDR, SK { }         INFORMATIONAL  i -> r  HDR, SK { }
        # At 8 h the rekeyer, between the probes (RFC 7296 §1.3.2, §2.18):
        # CREATE_CHILD_SA  -->     HDR, SK { SA, Ni, KEi }
        # CREATE_CHILD_SA  <--     HDR, SK { SA, Nr, KEr }
        # INFORMATIONAL    -->     HDR, SK { D }       the old IKE SA
        # INFORMATIONAL    <--     HDR, SK { }
        pump(pair, now=now, record=wire)
    assert now == 8 * 3600
    assert all(m.exchange is INFO for m in wire if not m.types)  # the probes and answers
    rekey = [m for m in wire if m.types]
    assert [(m.exchange, m.response, m.types) for m in rekey] == [
        (CREATE, False, [P.SA, P.NONCE, P.KE]), (CREATE, True, [P.SA, P.NONCE, P.KE]),
        (INFO, False, [P.DELETE])], [m.draw() for m in rekey]
    assert all(m.initiator == (rekeyer == "a") for m in rekey if not m.response)
    for side in pair.values():
        (new,) = ike_sas(side)
        assert new["sa"] != old_name and len(new["children"]) == 1
        assert new["initiator"] == (side is pair[rekeyer])
        ups = of(side, IkeSaUp)
        assert [u.rekey_of for u in ups] == [None, old_name]
        downs = of(side, IkeSaDown)
        assert [(d.sa, d.replaced) for d in downs] == [(old_name, True)]
        assert not any(isinstance(e, ChildSaDown) for e in side.events)
    child_in = next(s for s in pair["a"].installed if s.dst == A)
    assert pair["a"].core.kernel_event(api.Expire(child_in.key, hard=False), 9 * 3600)
    wire = []
    # CREATE_CHILD_SA, then INFORMATIONAL Delete, over the successor's keys
    pump(pair, now=9 * 3600, record=wire)
    assert exchanges(wire) == CHILD_REKEY
    for side in pair.values():
        assert [e.rekey for e in of(side, ChildSaUp)] == [False, True]


UDP_POLICY = '''selector udp_out { direction outbound; src "192.0.2.1"; dst "192.0.2.2";
    upper_layer_protocol udp; policy_index peer_udp; };
selector udp_in { direction inbound; src "192.0.2.2"; dst "192.0.2.1";
    upper_layer_protocol udp; policy_index peer_udp; };
policy peer_udp { action auto_ipsec; remote_index peer; ipsec_mode transport;
    ipsec_index { esp_sha256; }; ipsec_level require; };
policy peer_transport {'''


def test_second_policy_gets_a_child_on_the_same_ike_sa(tmp_path: Path) -> None:
    mirrored = UDP_POLICY.replace("192.0.2.1", "@").replace("192.0.2.2", "192.0.2.1").replace(
        "@", "192.0.2.2")
    sides = two_sides(tmp_path, a_edit=(("policy peer_transport {", UDP_POLICY),),
                      b_edit=(("policy peer_transport {", mirrored),))
    first = sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)  # IKE_SA_INIT, IKE_AUTH
    second = sides["a"].core.initiate("udp_out", 1.0)
    assert second is first
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }  (§1.3.1)
    m = exchange(sides["a"], sides["b"], 1.0)
    assert (m.exchange, m.response) == (CREATE, False)
    assert m.types == [P.NOTIFY, P.SA, P.NONCE, P.TSI, P.TSR], m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    m = exchange(sides["b"], sides["a"], 1.0)
    assert (m.exchange, m.response) == (CREATE, True)
    assert pump(sides, now=1.0) == 0  # one CREATE_CHILD_SA, nothing else
    for side in sides.values():
        (sa,) = ike_sas(side)
        assert sorted(c["policy"] for c in sa["children"]) == ["peer_transport", "peer_udp"]
    udp = next(s for s in sides["a"].installed[2:] if s.src == A)
    assert len(sides["a"].installed) == 4 and udp.spi != sides["a"].installed[1].spi


def test_nat_detected_floats_to_4500_and_encapsulates(tmp_path: Path) -> None:
    """A behind a NAT (its source becomes 203.0.113.254 with another port; B accepts any
    address, IP_RW): both sides detect it, IKE moves to port 4500, the ESP SAs get UDP
    encapsulation with the mapped ports, and A sends NAT keepalives."""
    pair = two_sides(tmp_path, b_edit=(('peers_ipaddr "${PEER_IP4}" port 500;',
                                        "peers_ipaddr IP_RW;"),))
    public = ipaddress.ip_address("203.0.113.254")
    mapping: dict[Endpoint, Endpoint] = {}
    a, b = pair["a"], pair["b"]
    a.core.initiate("peer_out", 0.0)
    wire: list[tuple[Endpoint, Msg]] = []

    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)   500 -> NAT 40001 -> 500
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*)   (RFC 7296 §2.23)
    # IKE_AUTH     i -> r  HDR, SK { ... }   4500 -> NAT 40002 -> 4500, and its answer
    async def run() -> None:
        busy = True
        while busy:
            busy = False
            for side in pair.values():
                busy = await perform_requests(side, 0.0) or busy
            for d in a.take():
                busy = True
                outside = mapping.setdefault(d.local, Endpoint(public, 40000 + len(mapping)))
                wire.append((d.local, decode(d.data, a)))
                b.core.receive_datagram(d.data, d.remote, outside, 0.0)
            for d in b.take():
                busy = True
                inside = next(k for k, v in mapping.items() if v == d.remote)
                wire.append((d.local, decode(d.data, b)))
                a.core.receive_datagram(d.data, inside, d.local, 0.0)
        for side in pair.values():
            side.collect()

    asyncio.run(run())
    assert [(m.exchange, m.response, port.port) for port, m in wire] == [
        (INIT, False, 500), (INIT, True, 500), (AUTH, False, 4500), (AUTH, True, 4500)]
    nats = {n: of(pair[n], NatDetected) for n in "ab"}
    assert [(e.local_behind, e.peer_behind) for e in nats["a"]] == [(True, False)]
    assert [(e.local_behind, e.peer_behind) for e in nats["b"]] == [(False, True)]
    a_out = next(s for s in a.installed if s.src == A)
    b_in = next(s for s in b.installed if s.dst == B)
    assert a_out.encap == api.Encap(4500, 4500)  # A's view: its own port 4500 to B's
    assert b_in.encap == api.Encap(40001, 4500)  # B's view: the NAT's port to its 4500
    assert internals.local_port(a) == 4500 and internals.deadlines(a)[2] == 20.0
    a.core.handle_timer(20.0)
    # NAT-keepalive  0xFF                                              (RFC 3948 §2.3)
    assert [d.data for d in a.take()] == [b"\xff"]


def test_ip_rw_child_narrows_to_the_peer_and_asks_for_policies(tmp_path: Path) -> None:
    """A responder with an IP_RW policy takes the peer's address as its side of the CHILD_SA,
    asks spmd (POLICY ADD) for the policies, and reports the CHILD_SA up only after that."""
    edit = (('peers_ipaddr "${PEER_IP4}" port 500;', "peers_ipaddr IP_RW;"),
            ('dst "${PEER_IP4}"', "dst IP_RW"), ('src "${PEER_IP4}"', "src IP_RW"))
    sides = two_sides(tmp_path, b_edit=edit)
    sides["a"].core.initiate("peer_out", 0.0)
    # IKE_SA_INIT  i -> r  and  i <- r
    exchange(sides["a"], sides["b"])
    exchange(sides["b"], sides["a"])
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(USE_TRANSPORT_MODE), SAi2, TSi, TSr }
    exchange(sides["a"], sides["b"])
    # (B: POLICY ADD peer_out 192.0.2.2/32 192.0.2.1/32, then the CHILD_SA is up)
    (add,) = sides["b"].asked
    assert isinstance(add, PolicyAdd) and add.selector_index == "peer_out"
    assert (str(add.src), str(add.dst), str(add.sa_dst)) == ("192.0.2.2/32", "192.0.2.1/32",
                                                             "192.0.2.1")
    assert any(isinstance(e, ChildSaUp) for e in sides["b"].events)
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, N(USE_TRANSPORT_MODE), SAr2, TSi, TSr }
    m = exchange(sides["b"], sides["a"])
    assert (m.exchange, m.response, m.types[-2:]) == (AUTH, True, [P.TSI, P.TSR]), m.draw()
    pump(sides)
    assert len(sides["b"].asked) == 1


def test_passive_remote_does_not_initiate(tmp_path: Path) -> None:
    side = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a",
                     edit=(("kmp_auth_method { psk; };", "kmp_auth_method { psk; }; passive on;"),))
    assert side.core.initiate("peer_out", 0.0) is None
    fail = side.core.next_event()
    assert isinstance(fail, NegotiationFailed) and "passive" in fail.reason
    assert not side.core.datagrams_to_send()
