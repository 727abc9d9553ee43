"""Exchanges an IKE SA wants while another of ours holds the window wait in its task manager's
queue (RFC 7296 §2.3, window size 1) and run when it frees, Deletes first; the peer's request
that meets one of ours goes to our task's ``collide`` hook (RFC 7296 §2.8;
the collisions themselves are in test_collisions.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iked.events import ChildSaDown, ChildSaUp
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.constants import PayloadType as P
from racoon2.kernel import api

from . import internals
from .harness import Msg, Side, exchange, exchanges, ike_sas, of, pump, settle, two_sides
from .test_ike_sa import UDP_POLICY

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL


def two_policies(tmp_path: Path) -> dict[str, Side]:
    """A and B with the sample's policy and a second one for UDP, up with the first's
    CHILD_SA (IKE_SA_INIT and IKE_AUTH delivered)."""
    mirrored = UDP_POLICY.replace("192.0.2.1", "@").replace("192.0.2.2", "192.0.2.1").replace(
        "@", "192.0.2.2")
    sides = two_sides(tmp_path, a_edit=(("policy peer_transport {", UDP_POLICY),),
                      b_edit=(("policy peer_transport {", mirrored),))
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)  # IKE_SA_INIT, IKE_AUTH
    return sides


def inbound(side: Side) -> api.SaKey:
    """The key of the side's first inbound SA (the first CHILD_SA's)."""
    iface = side.core.config.interface
    assert iface is not None
    me = iface.ike[0].address
    return next(s for s in side.installed if s.dst == me).key


def queue_of(side: Side) -> dict[str, Any]:
    """The only IKE SA's ``exchanges`` in the status JSON."""
    (sa,) = ike_sas(side)
    out: dict[str, Any] = sa["exchanges"]
    return out


def test_an_acquire_during_a_rekey_is_queued_then_runs(tmp_path: Path) -> None:
    sides = two_policies(tmp_path)
    a, b = sides["a"], sides["b"]
    first = next(iter(a.core.sas.values()))
    assert a.core.kernel_event(api.Expire(inbound(a), hard=False), 1.0)
    # The ACQUIRE for peer_udp comes while the rekey waits for its inbound SPI: it waits in
    # the queue on the same IKE SA (before, it made a second IKE SA).
    assert a.core.initiate("udp_out", 1.0) is first
    assert queue_of(a) == {
        "preparing": {"kind": "CREATE_CHILD_SA rekey", "step": "waiting for the kernel",
                      "policy": "peer_transport"},
        "queued": [{"kind": "CREATE_CHILD_SA", "step": "waiting for the window",
                    "policy": "peer_udp"}]}
    assert a.core.initiate("udp_out", 1.0) is first  # a second ACQUIRE: one wish is enough
    assert len(queue_of(a)["queued"]) == 1
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, 1.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, False, [NotifyType.REKEY_SA, NotifyType.USE_TRANSPORT_MODE]), m.draw()
    assert queue_of(a)["active"]["kind"] == "CREATE_CHILD_SA rekey"
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    m = exchange(b, a, 1.0)
    assert (m.exchange, m.response) == (CREATE, True), m.draw()
    # The window is free: the old CHILD_SA's Delete goes before the queued CHILD_SA.
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, A's old inbound SPI) }
    m = exchange(a, b, 1.0)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    assert queue_of(a)["queued"] == [{"kind": "CREATE_CHILD_SA",
                                      "step": "waiting for the window", "policy": "peer_udp"}]
    # INFORMATIONAL    i <- r  HDR, SK { D(ESP, B's old inbound SPI) }
    m = exchange(b, a, 1.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, [P.DELETE]), m.draw()
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }   (§1.3.1)
    m = exchange(a, b, 1.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, False, [NotifyType.USE_TRANSPORT_MODE]), m.draw()
    assert m.types == [P.NOTIFY, P.SA, P.NONCE, P.TSI, P.TSR]
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    m = exchange(b, a, 1.0)
    assert (m.exchange, m.response) == (CREATE, True), m.draw()
    assert pump(sides, now=1.0) == 0
    for side in sides.values():
        (sa,) = ike_sas(side)
        assert sorted(c["policy"] for c in sa["children"]) == ["peer_transport", "peer_udp"]
        assert sa["exchanges"] == {}
        assert [e.rekey for e in of(side, ChildSaUp)] == [False, True, False]


def test_a_delete_during_a_liveness_check_waits_then_goes(tmp_path: Path) -> None:
    sides = two_sides(tmp_path)
    a, b = sides["a"], sides["b"]
    a.core.initiate("peer_out", 0.0)
    pump(sides)  # IKE_SA_INIT (ID 0), IKE_AUTH (ID 1)
    _, dpd, _ = internals.deadlines(a)
    assert dpd is not None
    a.core.handle_timer(dpd)
    settle(a, dpd)  # the kernel's counters first: no ESP from B, so the check is sent
    # The CHILD_SA's hard lifetime ends while the liveness check is in flight: it leaves A's
    # kernel at once, and its Delete waits for the window (before, the peer was never told).
    assert a.core.kernel_event(api.Expire(inbound(a), hard=True), dpd)
    assert queue_of(a) == {
        "active": {"kind": "INFORMATIONAL liveness check", "step": "request sent",
                   "message_id": 2},
        "queued": [{"kind": "INFORMATIONAL delete CHILD_SA", "step": "waiting for the window",
                    "policy": "peer_transport"}]}
    a.collect()
    assert [e.reason for e in of(a, ChildSaDown)] == ["hard lifetime expired"]
    # INFORMATIONAL  i -> r  HDR, SK { }                                 (RFC 7296 §2.4)
    m = exchange(a, b, dpd)
    assert (m.exchange, m.response, m.types, m.message_id) == (INFO, False, [], 2), m.draw()
    # INFORMATIONAL  i <- r  HDR, SK { }
    m = exchange(b, a, dpd)
    assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
    # INFORMATIONAL  i -> r  HDR, SK { D(ESP, A's inbound SPI) }         (RFC 7296 §1.4.1)
    m = exchange(a, b, dpd)
    assert (m.exchange, m.response, m.types, m.message_id) == (INFO, False, [P.DELETE], 3), \
        m.draw()
    # INFORMATIONAL  i <- r  HDR, SK { D(ESP, B's inbound SPI) }
    m = exchange(b, a, dpd)
    assert (m.exchange, m.response, m.types) == (INFO, True, [P.DELETE]), m.draw()
    assert pump(sides, now=dpd) == 0
    assert [e.reason for e in of(b, ChildSaDown)] == ["deleted by the peer"]
    assert all(not sa["children"] and sa["exchanges"] == {} for n in "ab"
               for sa in ike_sas(sides[n]))


def test_the_queue_is_in_the_status_in_priority_order(tmp_path: Path) -> None:
    """While a liveness check is in flight A wants a CHILD_SA rekey (twice: the kernel's soft
    expiry) and then an ACQUIRE's new CHILD_SA: the status lists the new CHILD_SA first (it
    goes first, as in strongSwan), and they run in that order."""
    sides = two_policies(tmp_path)
    a = sides["a"]
    _, dpd, _ = internals.deadlines(a)
    assert dpd is not None
    a.core.handle_timer(dpd)
    settle(a, dpd)
    key = inbound(a)
    assert a.core.kernel_event(api.Expire(key, hard=False), dpd)
    assert a.core.kernel_event(api.Expire(key, hard=False), dpd)
    a.core.initiate("udp_out", dpd)
    assert queue_of(a) == {
        "active": {"kind": "INFORMATIONAL liveness check", "step": "request sent",
                   "message_id": 2},
        "queued": [{"kind": "CREATE_CHILD_SA", "step": "waiting for the window",
                    "policy": "peer_udp"},
                   {"kind": "CREATE_CHILD_SA rekey", "step": "waiting for the window",
                    "policy": "peer_transport"}]}
    wire: list[Msg] = []
    # INFORMATIONAL    i -> r  HDR, SK { }              and its answer   (the liveness check)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }  and answer
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, old SPI) }          and its answer
    pump(sides, now=dpd, record=wire)
    assert exchanges(wire) == [(INFO, False), (INFO, True), (CREATE, False), (CREATE, True),
                               (CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    assert [m.notifies for m in wire if m.exchange is CREATE and not m.response] == [
        [NotifyType.USE_TRANSPORT_MODE], [NotifyType.REKEY_SA, NotifyType.USE_TRANSPORT_MODE]]
    assert [m.message_id for m in wire if not m.response] == [2, 3, 4, 5]
    assert queue_of(a) == {}
    assert sorted(c["policy"] for c in ike_sas(a)[0]["children"]) == [
        "peer_transport", "peer_udp"]
