"""A restart that keeps the tunnels (iked --keep-sas, doc/iked.md "Restart"): core A saves its
IKE SA (:meth:`IkeCore.keep`), a new core A' over the same kernel restores it
(:meth:`IkeCore.restore`), and B does not notice: its next liveness check, a CHILD_SA rekey of
either side, the IKE SA rekey and the final Delete all go through with the message IDs and
keys A had.  A and B from samples/ikev2-transport.conf, A with ``dpd_delay 60 sec``; A' runs
on a monotonic clock of its own (a new process), the wall clock carries the deadlines over.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from iked.events import ChildSaDown, ChildSaUp, IkeSaDown, IkeSaUp
from iked.ikev2.snapshot import Clock
from racoon2.ikev2.constants import ExchangeType, ProtocolId
from racoon2.ikev2.payloads import Delete
from racoon2.kernel import api

from . import internals
from .harness import (
    Edit,
    Msg,
    Side,
    exchange,
    exchanges,
    ike_sas,
    make_side,
    of,
    pump,
    settle,
    two_sides,
)
from .test_expiry import outbound
from .test_liveness import DPD, LIFE, up

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL
WALL = 1_800_000_000.0  # the wall clock at t = 0 of A and B
#: A' starts 5 s after A stopped at t = 10, its monotonic clock then reading 500.
STOP, GAP, MONO = 10.0, 5.0, 500.0


def restarted(a: Side, tmp_path: Path, edit: Edit = ((LIFE, f"{LIFE} {DPD}"),),
              stop: float = STOP) -> tuple[Side, list[tuple[str, str]]]:
    """A saved at ``stop`` and restored by a new core over the same kernel (a new process:
    another random seed, another monotonic clock); its restore report."""
    data = a.core.keep(Clock(stop, WALL + stop))
    a2 = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a2", edit=edit)
    a2.kernel = a.kernel
    sas = asyncio.run(a.kernel.dump_sas())
    return a2, a2.core.restore(data, sas, Clock(MONO, WALL + stop + GAP))


def mono(t: float) -> float:
    """A's time ``t`` on A''s monotonic clock."""
    return t - STOP - GAP + MONO


def test_b_does_not_notice(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    (name,) = [s["sa"] for s in ike_sas(a)]
    kernel = dict(a.kernel.sas)
    a2, done = restarted(a, tmp_path)
    # Nothing went down on either side, the kernel is untouched, A' asks it nothing.
    assert done == [(name, "")]
    assert of(a, IkeSaDown) == [] and of(a, ChildSaDown) == []
    assert a.core.requests() == [] and a2.core.requests() == [] and a2.kernel.sas == kernel
    assert [(s["sa"], s["state"], len(s["children"])) for s in ike_sas(a2)] == \
        [(name, "established", 1)]
    pair = {"a": a2, "b": b}
    # The liveness deadline (t = 60) moved to A''s clock; the check goes through.
    life, dpd, _ = internals.deadlines(a2)
    assert dpd == mono(60.0) and life == mono(8 * 3600.0)
    a2.core.handle_timer(dpd)
    #   A'                                 B
    #   HDR, SK {}                 -->          (message ID 2: IKE_SA_INIT 0, IKE_AUTH 1)
    #                              <--     HDR, SK {}
    req = exchange(a2, b, dpd)
    assert (req.exchange, req.message_id, req.response) == (INFO, 2, False)
    assert exchange(b, a2, dpd).response
    # B's next request (its CHILD_SA rekey, B's message ID 0) is answered by A'.
    wire: list[Msg] = []
    assert b.core.kernel_event(api.Expire(outbound(b), hard=False), dpd + 1)
    pump(pair, dpd + 1, record=wire)
    assert exchanges(wire) == [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    assert [m.message_id for m in wire] == [0, 0, 1, 1]
    # A''s own CHILD_SA rekey (its message ID 3).
    wire.clear()
    assert a2.core.kernel_event(api.Expire(outbound(a2), hard=False), dpd + 2)
    pump(pair, dpd + 2, record=wire)
    assert exchanges(wire) == [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    assert [m.message_id for m in wire] == [3, 3, 4, 4]
    assert len(of(a2, ChildSaUp)) == 2 and len(of(b, ChildSaUp)) == 3
    # The IKE SA rekey at its deadline: a new IKE SA on both sides, the CHILD_SA moved.
    a2.core.handle_timer(life)
    pump(pair, life)
    (new,) = ike_sas(a2)
    assert new["sa"] != name and [s["sa"] for s in ike_sas(b)] == [new["sa"]]
    assert of(a2, IkeSaUp)[-1].rekey_of == name and len(new["children"]) == 1
    # A later normal stop deletes everything on both sides.
    a2.core.shutdown(life + 1)
    pump(pair, life + 1)
    assert ike_sas(a2) == [] and ike_sas(b) == []
    assert a2.kernel.sas == {} and b.kernel.sas == {}
    # B saw its IKE SA go down twice only: replaced by the rekey, then deleted.
    assert [(e.reason, e.replaced) for e in of(b, IkeSaDown)] == \
        [("rekeyed", True), ("deleted by the peer", False)]
    assert not b.core.dropped


def test_a_lost_answer_is_sent_again_after_the_restart(tmp_path: Path) -> None:
    # B checks A's liveness; A answers just before it stops, the answer is lost: B
    # retransmits to A', which answers from the saved response (RFC 7296 §2.1).
    sides = up(tmp_path, a_dpd="", b_dpd=DPD)
    a, b = sides["a"], sides["b"]
    b.core.handle_timer(60.0)
    req = exchange(b, a, 60.0)
    assert (req.exchange, req.response) == (INFO, False)
    (lost,) = a.take()  # A's answer
    a2, done = restarted(a, tmp_path, edit=(), stop=60.5)
    assert [why for _, why in done] == [""]
    b.core.handle_timer(61.0)  # interval_to_send 1 sec
    again = exchange(b, a2, 61.0)
    assert again.data == req.data
    # A' sends the very answer A sealed (its clear copy is A's, so it is compared as bytes).
    (answer,) = a2.take()
    assert answer.data == lost.data
    b.core.receive_datagram(answer.data, answer.remote, answer.local, 61.0)
    settle(b, 61.0)
    assert [(s["state"], s["exchanges"]) for s in ike_sas(b)] == [("established", {})]
    assert not b.core.dropped


def test_a_removed_remote_is_deleted_at_start(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    renamed = (("remote peer {", "remote other {"), ("remote_index peer;", "remote_index other;"))
    a2, done = restarted(a, tmp_path, edit=renamed)
    assert [why for _, why in done] == ["remote peer is no longer configured"]
    wire: list[Msg] = []
    pump({"a": a2, "b": b}, MONO, record=wire)
    # INFORMATIONAL  i -> r  HDR, SK { D(IKE) }, with the saved keys and message ID.
    assert exchanges(wire) == [(INFO, False), (INFO, True)]
    assert [(p.protocol, m.message_id) for m in wire for p in m.payloads
            if isinstance(p, Delete)] == [(ProtocolId.IKE, 2)]
    assert ike_sas(a2) == [] and ike_sas(b) == [] and b.kernel.sas == {}


def test_an_sa_whose_kernel_sas_are_gone_is_deleted_at_start(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    a.kernel.sas.clear()  # flushed while no iked ran (ip xfrm state flush)
    a2, done = restarted(a, tmp_path)
    (why,) = [w for _, w in done]
    assert why.startswith("the kernel SAs of policy") and why.endswith("are gone")
    pump({"a": a2, "b": b}, MONO)
    assert ike_sas(a2) == [] and ike_sas(b) == [] and b.kernel.sas == {}


def test_an_exchange_in_flight_is_not_kept(tmp_path: Path) -> None:
    # A's liveness check is unanswered at the stop: the SA cannot be saved (its message
    # IDs are in doubt); it ends as at a forced stop, its kernel SAs removed.
    sides = up(tmp_path)
    a = sides["a"]
    a.core.handle_timer(60.0)
    settle(a, 60.0)  # the inbound SAs' counters read: no ESP came, so the check goes out
    assert a.take()
    a2, done = restarted(a, tmp_path, stop=60.5)
    assert done == [] and ike_sas(a) == [] and ike_sas(a2) == []
    pump({"a": a}, 60.5)
    assert a.kernel.sas == {}


def test_a_soft_lifetime_passed_while_down_rekeys_at_once(tmp_path: Path) -> None:
    # The kernel's soft EXPIRE came while no iked listened: A' rekeys the CHILD_SA as it
    # restores it (its kernel SAs were added at WALL; soft lifetime 80-90 % of 1 hour).
    sides = two_sides(tmp_path, a_edit=((LIFE, f"{LIFE} {DPD}"),))
    a, b = sides["a"], sides["b"]
    a.kernel.now = WALL
    a.core.initiate("peer_out", 0.0)
    pump(sides)
    data = a.core.keep(Clock(STOP, WALL + STOP))
    a2 = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a2",
                   edit=((LIFE, f"{LIFE} {DPD}"),))
    a2.kernel = a.kernel
    sas = asyncio.run(a.kernel.dump_sas())
    assert [why for _, why in a2.core.restore(data, sas, Clock(MONO, WALL + 3300))] == [""]
    wire: list[Msg] = []
    pump({"a": a2, "b": b}, MONO, record=wire)
    assert exchanges(wire) == [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    assert [e.rekey for e in of(a2, ChildSaUp)] == [True]
