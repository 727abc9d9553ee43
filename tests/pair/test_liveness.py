"""Liveness checks (RFC 7296 §2.4): an empty INFORMATIONAL after ``dpd_delay`` seconds without
a message from the peer; a peer that does not answer within the retransmission limit is dead:
its IKE SA and CHILD_SAs leave the kernel, and the next ACQUIRE makes a fresh IKE SA.

A and B from samples/ikev2-transport.conf with ``dpd_delay 60 sec; interval_to_send 1 sec;
max_retry_to_send 3;`` in A's remote (B's stays at the default, 3600 s), on a virtual clock.
"""

from __future__ import annotations

from pathlib import Path

from iked.events import ChildSaDown, IkeSaDown, IkeSaUp
from racoon2.ikev2.constants import ExchangeType
from racoon2.ikev2.constants import PayloadType as P
from racoon2.kernel import api

from . import internals
from .harness import (
    Msg,
    Side,
    decode,
    exchange,
    exchanges,
    ike_sas,
    make_side,
    of,
    pump,
    settle,
    two_sides,
)

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL
DPD = "dpd_delay 60 sec; interval_to_send 1 sec; max_retry_to_send 3;"
LIFE = "kmp_sa_lifetime_time 8 hours;"


def up(tmp_path: Path, a_dpd: str = DPD, b_dpd: str = "") -> dict[str, Side]:
    """A and B with one IKE SA and its CHILD_SA, established at t = 0."""
    sides = two_sides(tmp_path, a_edit=((LIFE, f"{LIFE} {a_dpd}"),),
                      b_edit=((LIFE, f"{LIFE} {b_dpd}"),))
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    assert [s["state"] for s in ike_sas(sides["a"])] == ["established"]
    return sides


def test_an_idle_peer_is_probed_after_dpd_delay_and_answers(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    _, dpd, _ = internals.deadlines(a)
    assert dpd == 60.0
    a.core.handle_timer(59.0)
    settle(a, 59.0)
    assert not a.outbox
    a.core.handle_timer(60.0)
    #   A                                  B
    #   HDR, SK {}                 -->          (t = 60: nothing from B for dpd_delay)
    #                              <--     HDR, SK {}
    req = exchange(a, b, 60.0)
    assert (req.exchange, req.response, req.types) == (INFO, False, [])
    resp = exchange(b, a, 60.0)
    assert (resp.exchange, resp.response, resp.types) == (INFO, True, [])
    # The answer re-arms the check: the next one is dpd_delay after it.
    assert internals.deadlines(a)[1] == 120.0
    assert [s["state"] for s in ike_sas(a)] == ["established"]


def test_a_request_of_the_peer_postpones_the_check(tmp_path: Path) -> None:
    sides = up(tmp_path, b_dpd="dpd_delay 50 sec;")
    a, b = sides["a"], sides["b"]
    # B's liveness check of its own at t = 50 (a message from B) moves A's to t = 110.
    b.core.handle_timer(50.0)
    wire = [exchange(b, a, 50.0), exchange(a, b, 50.0)]
    assert exchanges(wire) == [(INFO, False), (INFO, True)]
    assert internals.deadlines(a)[1] == 110.0
    a.core.handle_timer(60.0)
    settle(a, 60.0)
    assert not a.outbox


def test_a_response_to_another_exchange_postpones_the_check(tmp_path: Path) -> None:
    # The CHILD_SA rekey (and the Delete of the old CHILD_SA) answered at t = 30 count.
    sides = up(tmp_path)
    a = sides["a"]
    key = next(s for s in a.installed if str(s.dst) == "192.0.2.1").key
    assert a.core.kernel_event(api.Expire(key, hard=False), 30.0)
    pump(sides, now=30.0)
    assert internals.deadlines(a)[1] == 90.0


def test_a_dead_peer_loses_its_sas_and_comes_back_with_a_fresh_one(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a = sides["a"]
    (first,) = ike_sas(a)
    child_keys = {(s.dst, s.proto, s.spi) for s in a.installed}
    assert len(child_keys) == 2 and child_keys <= set(a.kernel.sas)  # in A's kernel
    # B is gone: A's check at t = 60 and its 3 retransmissions (waits 1, 2, 4, 8 s:
    # interval_to_send × 2**attempt) reach nobody.
    #   A                                  B
    #   HDR, SK {}   t = 60, 61, 63, 67  -->  (lost)
    sent = []
    for t in (60.0, 61.0, 63.0, 67.0):
        a.core.handle_timer(t)
        settle(a, t)
        sent += a.take()
    assert len(sent) == 4 and len({d.data for d in sent}) == 1
    assert [s["state"] for s in ike_sas(a)] == ["established"]
    a.core.handle_timer(74.9)
    assert [s["state"] for s in ike_sas(a)] == ["established"]
    a.core.handle_timer(75.0)  # 8 s after the last retransmission: dead
    settle(a, 75.0)
    assert ike_sas(a) == []
    (down,) = of(a, IkeSaDown)
    assert down.sa == first["sa"] and str(down.remote.addr) == "192.0.2.2"
    assert down.reason == "peer not responding (dead after 3 retransmissions)"
    assert [c.reason for c in of(a, ChildSaDown)] == [down.reason]
    assert not child_keys & set(a.kernel.sas)  # both SAs of the CHILD_SA deleted
    # B is back; the kernel's next ACQUIRE (spmd's policy stays) makes a fresh IKE SA.
    sides["b"] = make_side(tmp_path / "b2", "192.0.2.2", "192.0.2.1", b"c")
    sa = a.core.initiate("peer_out", 100.0)
    assert sa is not None and internals.is_dead(sa) is False
    pump(sides, now=100.0)
    (again,) = ike_sas(a)
    assert again["state"] == "established" and again["sa"] != first["sa"]
    assert len(of(a, IkeSaUp)) == 2


def test_dpd_delay_zero_means_no_checks(tmp_path: Path) -> None:
    sides = up(tmp_path, "dpd_delay 0;")
    a = sides["a"]
    assert internals.deadlines(a)[1] is None
    a.core.handle_timer(10_000.0)
    settle(a, 10_000.0)
    assert not a.outbox


def test_a_check_queued_behind_an_answered_exchange_is_not_sent(tmp_path: Path) -> None:
    # The check falls due while A's CHILD_SA rekey waits for the kernel: it queues; the
    # rekey's answer shows B alive, so the check is dropped, not sent.
    sides = up(tmp_path)
    a = sides["a"]
    key = next(s for s in a.installed if str(s.dst) == "192.0.2.1").key
    assert a.core.kernel_event(api.Expire(key, hard=False), 60.0)
    a.core.handle_timer(60.0)
    (sa,) = ike_sas(a)
    assert sa["exchanges"]["queued"] == [{"kind": "INFORMATIONAL liveness check",
                                          "step": "waiting for the window"}]
    record: list[Msg] = []
    pump(sides, now=60.0, record=record)
    assert exchanges(record) == [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    assert [m.types for m in record if m.exchange is INFO] == [[P.DELETE], [P.DELETE]]
    assert internals.deadlines(a)[1] == 120.0


def test_esp_from_the_peer_counts_as_life(tmp_path: Path) -> None:
    # RFC 7296 §2.4, as strongSwan: before the check A reads its inbound SA's packet counter
    # (the kernel's current lifetime); B's ESP since the last check makes the request moot.
    sides = up(tmp_path)
    a = sides["a"]
    key = next(s for s in a.installed if str(s.dst) == "192.0.2.1").key
    a.kernel.carry(key, 1, 1500)  # B's traffic at t = 30
    a.core.handle_timer(60.0)
    settle(a, 60.0)
    assert not a.outbox
    assert internals.deadlines(a)[1] == 120.0
    # Nothing more from B: the counter stands still, so the check at t = 120 is sent.
    a.core.handle_timer(120.0)
    settle(a, 120.0)
    (d,) = a.take()
    req = decode(d.data, a)
    assert (req.exchange, req.response, req.types) == (INFO, False, [])


def test_esp_that_only_we_send_is_no_life(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a = sides["a"]
    out = next(s for s in a.installed if str(s.dst) == "192.0.2.2").key
    a.kernel.carry(out, 1, 1500)  # A's own traffic to B, unanswered
    a.core.handle_timer(60.0)
    settle(a, 60.0)
    assert [decode(d.data, a).exchange for d in a.take()] == [INFO]
