"""AH and IPComp CHILD_SAs between two IKEv2 cores and the in-memory kernel (RFC 7296 §3.3,
§2.22; the bundles iked -n refuses are checked in tests/unit/iked/test_ikev2_bundles.py)."""

from __future__ import annotations

import struct
from pathlib import Path

from iked.events import ChildSaUp, NegotiationFailed
from racoon2.ikev2.constants import ExchangeType, NotifyType, ProtocolId
from racoon2.ikev2.constants import PayloadType as P
from racoon2.ikev2.payloads import Delete, Notify
from racoon2.kernel import api

from . import internals
from .bundles import AH, COMP
from .harness import A, Msg, exchanges, make_side, of, pump, two_sides

INIT, AUTH = ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH
CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL
HANDSHAKE = [(INIT, False), (INIT, True), (AUTH, False), (AUTH, True)]
SA_TS = [P.SA, P.TSI, P.TSR]


def test_ah_child_sa(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, AH, AH)
    record: list[Msg] = []
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(USE_TRANSPORT_MODE), SAi2 (AH), TSi, TSr }
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, N(USE_TRANSPORT_MODE), SAr2 (AH), TSi, TSr }
    pump(pair, record=record)
    assert exchanges(record) == HANDSHAKE
    assert record[2].types == [P.IDI, P.AUTH, P.NOTIFY, P.NOTIFY, *SA_TS], record[2].draw()
    assert record[3].types == [P.IDR, P.AUTH, P.NOTIFY, P.NOTIFY, *SA_TS], record[3].draw()
    for side in pair.values():
        assert [e.algorithms for e in side.events if isinstance(e, ChildSaUp)] == [
            "AH AUTH_HMAC_SHA2_384_192"]
        assert {s.proto for s in side.installed} == {api.Proto.AH}
    a_out = next(s for s in pair["a"].installed if str(s.src) == "192.0.2.1")
    b_in = next(s for s in pair["b"].installed if str(s.src) == "192.0.2.1")
    assert a_out.cipher is None and a_out.aead is None and a_out.integrity is not None
    assert (a_out.spi, a_out.integrity) == (b_in.spi, b_in.integrity)
    assert a_out.integrity.name == "hmac(sha384)" and a_out.integrity.trunc_bits == 192
    assert len(a_out.integrity.key) == 48
    # The larval SA the initiator reserved is an AH one (the kernel looks SPIs up per protocol).
    assert (api.Proto.AH, a_out.spi) in {(k[1], k[2]) for k in pair["b"].kernel.sas}


def test_ah_child_is_deleted_with_an_ah_delete(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, AH, AH)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)  # IKE_SA_INIT, IKE_AUTH
    a_in = next(s for s in pair["a"].installed if s.dst == A)
    assert pair["a"].core.kernel_event(api.Expire(a_in.key, hard=True), 1.0)
    record: list[Msg] = []
    # INFORMATIONAL  i -> r  HDR, SK { D(AH, A's inbound SPI) }       (RFC 7296 §3.11)
    # INFORMATIONAL  i <- r  HDR, SK { D(AH, B's inbound SPI) }
    pump(pair, 1.0, record=record)
    assert exchanges(record) == [(INFO, False), (INFO, True)]
    assert [(d.protocol, len(d.spis)) for m in record for d in m.payloads
            if isinstance(d, Delete)] == [(ProtocolId.AH, 1), (ProtocolId.AH, 1)]
    assert record[0].payloads[0] == Delete(ProtocolId.AH, 4, (a_in.spi.to_bytes(4, "big"),))
    assert not any(k[1] is api.Proto.AH for k in pair["b"].kernel.sas)
    assert not any(k[1] is api.Proto.AH for k in pair["a"].kernel.sas)


def test_esp_with_ipcomp(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, COMP, COMP)
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    record: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(MOBIKE_SUPPORTED), N(USE_TRANSPORT_MODE),
    #                                N(IPCOMP_SUPPORTED), SAi2, TSi, TSr }
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, N(MOBIKE_SUPPORTED), N(USE_TRANSPORT_MODE),
    #                                N(IPCOMP_SUPPORTED), SAr2, TSi, TSr }
    pump(pair, record=record)
    assert exchanges(record) == HANDSHAKE
    for m in record[2:]:
        assert m.notifies == [NotifyType.MOBIKE_SUPPORTED, NotifyType.USE_TRANSPORT_MODE,
                              NotifyType.IPCOMP_SUPPORTED]
        assert m.types[2:] == [P.NOTIFY, P.NOTIFY, P.NOTIFY, *SA_TS], m.draw()
    for side in pair.values():
        ups = of(side, ChildSaUp)
        assert ups and ups[0].algorithms.endswith(" + IPComp deflate")
        assert sorted(s.proto for s in side.installed) == [api.Proto.ESP, api.Proto.ESP,
                                                           api.Proto.IPCOMP, api.Proto.IPCOMP]
    a_comp = {str(s.src): s for s in pair["a"].installed if s.proto is api.Proto.IPCOMP}
    b_comp = {str(s.src): s for s in pair["b"].installed if s.proto is api.Proto.IPCOMP}
    for src in ("192.0.2.1", "192.0.2.2"):
        assert a_comp[src].spi == b_comp[src].spi and 0x100 <= a_comp[src].spi <= 0xFFFF
        assert a_comp[src].compression == "deflate" and a_comp[src].replay_window == 0
    # The inbound CPI was reserved in the kernel (ALLOCSPI), then filled.
    assert ("192.0.2.1", api.Proto.IPCOMP, a_comp["192.0.2.2"].spi) in {
        (str(k[0]), k[1], k[2]) for k in pair["a"].kernel.sas}


def test_tunnel_ipcomp_is_the_tunnel_and_esp_transport(tmp_path: Path) -> None:
    """spmd's templates: IPComp innermost in tunnel mode, ESP in transport mode around it."""
    edit = (("sa_index esp_aes_sha256;", "sa_index { esp_aes_sha256; comp; };"),
            ("sa esp_aes_sha256 {", "sa comp { sa_protocol ipcomp; };\nsa esp_aes_sha256 {"))
    a = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", edit=edit + (
        ("ipsec_mode transport;", "ipsec_mode tunnel;"),))
    b = make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", edit=edit + (
        ("ipsec_mode transport;", "ipsec_mode tunnel;"),))
    pair = {"a": a, "b": b}
    a.core.initiate("peer_out", 0.0)
    record: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(MOBIKE_SUPPORTED), N(IPCOMP_SUPPORTED), SAi2,
    #                                TSi, TSr }  (tunnel)
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, N(MOBIKE_SUPPORTED), N(IPCOMP_SUPPORTED), SAr2,
    #                                TSi, TSr }
    pump(pair, record=record)
    assert [m.notifies for m in record[2:]] == [
        [NotifyType.MOBIKE_SUPPORTED, NotifyType.IPCOMP_SUPPORTED]] * 2
    modes = {(s.proto, s.mode) for s in a.installed}
    assert modes == {(api.Proto.ESP, api.Mode.TRANSPORT), (api.Proto.IPCOMP, api.Mode.TUNNEL)}
    ups = of(a, ChildSaUp)
    assert ups and ups[0].mode is api.Mode.TUNNEL


def test_ipcomp_supported_notify_data(tmp_path: Path) -> None:
    """RFC 7296 §3.10.1: a two-octet CPI, then a one-octet transform ID (DEFLATE is 2)."""
    pair = two_sides(tmp_path, COMP, COMP)
    pair["a"].core.initiate("peer_out", 0.0)
    record: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(USE_TRANSPORT_MODE),
    #                                N(IPCOMP_SUPPORTED: A's CPI, DEFLATE), SAi2, TSi, TSr }
    # IKE_AUTH     i <- r  ...
    pump(pair, record=record)
    cpi_in, _, _ = internals.ipcomp_state(pair["a"])
    (offer,) = internals.ipcomp_offer(pair["a"])
    assert isinstance(offer, Notify) and offer.type == NotifyType.IPCOMP_SUPPORTED
    assert int(offer.type) == 16387
    assert offer.data == struct.pack("!HB", cpi_in, 2)
    sent = [p for p in record[2].payloads if isinstance(p, Notify)
            and p.type == NotifyType.IPCOMP_SUPPORTED]
    assert [p.data for p in sent] == [struct.pack("!HB", cpi_in, 2)]
    assert internals.ipcomp_pick(pair["a"], [offer, Notify(0, NotifyType.IPCOMP_SUPPORTED, b"",
                                                           b"\x12\x34\x01")]) == (cpi_in, 2)
    assert internals.ipcomp_received([Notify(0, NotifyType.IPCOMP_SUPPORTED, b"", b"\x12")]) \
        == []


def test_responder_without_ipcomp_is_refused_by_the_initiator(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, COMP, ())
    pair["a"].core.initiate("peer_out", 0.0)
    record: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(USE_TRANSPORT_MODE), N(IPCOMP_SUPPORTED), ... }
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, N(USE_TRANSPORT_MODE), SAr2, TSi, TSr }
    pump(pair, record=record)
    assert exchanges(record) == HANDSHAKE
    assert NotifyType.IPCOMP_SUPPORTED in record[2].notifies
    assert record[3].notifies == [NotifyType.MOBIKE_SUPPORTED, NotifyType.USE_TRANSPORT_MODE], \
        record[3].draw()
    failed = of(pair["a"], NegotiationFailed)
    assert failed and "did not agree to IPComp" in failed[0].reason
    assert not pair["a"].installed
    assert not pair["a"].kernel.sas  # the larval ESP SA and the CPI are given back


def test_initiator_without_ipcomp_is_refused_by_the_responder(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, (), COMP)
    pair["a"].core.initiate("peer_out", 0.0)
    record: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, N(USE_TRANSPORT_MODE), SAi2, TSi, TSr }
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, N(NO_PROPOSAL_CHOSEN) }  (RFC 7296 §1.2)
    pump(pair, record=record)
    assert exchanges(record) == HANDSHAKE
    assert record[3].types == [P.IDR, P.AUTH, P.NOTIFY, P.NOTIFY], record[3].draw()
    assert record[3].notifies == [NotifyType.MOBIKE_SUPPORTED, NotifyType.NO_PROPOSAL_CHOSEN]
    failed = of(pair["b"], NegotiationFailed)
    assert failed and "no IPComp agreed" in failed[0].reason
    assert not pair["b"].installed and not pair["a"].installed


def test_ipcomp_child_is_rekeyed_with_new_cpis(tmp_path: Path) -> None:
    """A CREATE_CHILD_SA rekey negotiates IPComp again (new CPIs); the old SAs all go."""
    pair = two_sides(tmp_path, COMP, COMP)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)  # IKE_SA_INIT, IKE_AUTH
    old_in = next(s for s in pair["a"].installed if s.proto is api.Proto.ESP and
                  str(s.dst) == "192.0.2.1")
    old_cpis = {s.spi for s in pair["a"].installed if s.proto is api.Proto.IPCOMP}
    assert pair["a"].core.kernel_event(api.Expire(old_in.key, hard=False), 10.0)
    record: list[Msg] = []
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE),
    #                                    N(IPCOMP_SUPPORTED: a new CPI), SA, Ni, TSi, TSr }
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), N(IPCOMP_SUPPORTED: new CPI),
    #                                    SA, Nr, TSi, TSr }
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP) }   and  i <- r  HDR, SK { D(ESP) }
    pump(pair, now=10.0, record=record)
    assert exchanges(record) == [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    assert record[0].notifies == [NotifyType.REKEY_SA, NotifyType.USE_TRANSPORT_MODE,
                                  NotifyType.IPCOMP_SUPPORTED], record[0].draw()
    assert record[1].notifies == [NotifyType.USE_TRANSPORT_MODE, NotifyType.IPCOMP_SUPPORTED]
    for side in pair.values():
        assert [e.rekey for e in of(side, ChildSaUp)] == [False, True]
        _, cpi_in, cpi_out = internals.ipcomp_state(side)
        assert {cpi_in, cpi_out}.isdisjoint(old_cpis)
        kernel = {(k[1], k[2]) for k in side.kernel.sas}
        assert kernel == {(s.proto, s.spi) for s in internals.negotiated_specs(side)}
