"""SA lifetimes without holes: a CHILD_SA's kernel EXPIRE in either direction (RFC 7296 §2.8:
soft rekeys, hard deletes and tells the peer), a rekey that swaps the kernel SAs
make-before-break, and an IKE SA lifetime that waits for the window and, at its hard end,
sends Delete.  The clock is virtual: each call is given its ``now``."""

from __future__ import annotations

from pathlib import Path

from iked.events import ChildSaDown, ChildSaUp, IkeSaDown
from racoon2.ikev2.constants import ExchangeType, NotifyType, ProtocolId
from racoon2.ikev2.constants import PayloadType as P
from racoon2.ikev2.payloads import SA, Delete
from racoon2.kernel import api

from . import internals
from .harness import Side, exchange, ike_sas, of, pump, settle, spi_in, two_sides
from .test_queue import queue_of

REKEY_GRACE = 60.0  # iked.ikev2.sa's, for a remote without kmp_sa_nego_time_limit

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL


def up(tmp_path: Path, seconds: str = "1 hour") -> dict[str, Side]:
    """A and B with byte lifetimes (ipsec_sa_lifetime_byte on both sides) and the time
    lifetime ``seconds``, up with one CHILD_SA (IKE_SA_INIT, IKE_AUTH)."""
    edit = (("ipsec_sa_lifetime_time 1 hour;",
             f"ipsec_sa_lifetime_time {seconds}; ipsec_sa_lifetime_byte 1000000;"),)
    sides = two_sides(tmp_path, a_edit=edit, b_edit=edit)
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    return sides


def outbound(side: Side) -> api.SaKey:
    """The key of the side's outbound SA of its only CHILD_SA (to the peer's SPI)."""
    (spec,) = [s for s in internals.negotiated_specs(side)
               if s.src == side.core.config.interface.ike[0].address]  # type: ignore[union-attr]
    return spec.key


def in_kernel(side: Side, key: api.SaKey) -> bool:
    """Whether the side's in-memory kernel holds the SA ``key``."""
    return (key.dst, key.proto, key.spi) in side.kernel.sas


def kernel_log(side: Side) -> list[tuple[str, int]]:
    """From now on, the side's kernel SA additions and deletions in order, as (op, SPI)."""
    log: list[tuple[str, int]] = []
    k = side.kernel
    add, update, delete = k.add_sa, k.update_sa, k.del_sa

    async def add_sa(sa: api.SaSpec) -> None:
        log.append(("add", sa.spi))
        await add(sa)

    async def update_sa(sa: api.SaSpec) -> None:
        log.append(("update", sa.spi))
        await update(sa)

    async def del_sa(key: api.SaKey) -> None:
        log.append(("del", key.spi))
        await delete(key)

    k.add_sa, k.update_sa, k.del_sa = add_sa, update_sa, del_sa  # type: ignore[method-assign]
    return log


def test_an_outbound_soft_expire_rekeys_once(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    spec = next(s for s in internals.negotiated_specs(a) if s.key == outbound(a))
    assert spec.lifetime.hard_bytes == 1000000 and spec.lifetime.soft_bytes == 800000
    # The outbound SA reaches its soft byte limit first (A sends more than it receives):
    # before, only inbound SPIs were indexed and this EXPIRE was not ours.
    assert a.core.kernel_event(api.Expire(outbound(a), hard=False), 5.0)
    # and then the inbound one: the rekey is already wished, it is not repeated.
    (child,) = ike_sas(a)[0]["children"]
    key_in = next(s.key for s in internals.negotiated_specs(a) if s.spi == spi_in(child))
    assert a.core.kernel_event(api.Expire(key_in, hard=False), 5.0)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, 5.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, False, [NotifyType.REKEY_SA, NotifyType.USE_TRANSPORT_MODE]), m.draw()
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    m = exchange(b, a, 5.0)
    assert (m.exchange, m.response) == (CREATE, True), m.draw()
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, A's old inbound SPI) }    and its answer
    assert pump(sides, now=5.0) == 2
    for side in (a, b):
        assert [e.rekey for e in of(side, ChildSaUp)] == [False, True]
        assert len(ike_sas(side)[0]["children"]) == 1


def test_an_outbound_hard_expire_deletes_and_the_next_acquire_renegotiates(
        tmp_path: Path) -> None:
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    (child,) = ike_sas(a)[0]["children"]
    old_in, key_out = spi_in(child), outbound(a)
    keys = [s.key for s in internals.negotiated_specs(a)]
    # The outbound SA hit its hard byte limit (the kernel dropped it): the CHILD_SA is gone.
    assert a.core.kernel_event(api.Expire(key_out, hard=True), 7.0)
    a.collect()
    assert [e.reason for e in of(a, ChildSaDown)] == ["hard lifetime expired"]
    assert ike_sas(a)[0]["children"] == []  # status: no CHILD_SA counted any more
    settle(a, 7.0)
    assert not any(in_kernel(a, k) for k in keys)  # the inbound SA went with it
    # INFORMATIONAL  i -> r  HDR, SK { D(ESP, A's inbound SPI) }          (RFC 7296 §1.4.1)
    m = exchange(a, b, 7.0)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    (d,) = m.payloads
    assert isinstance(d, Delete) and d.protocol == ProtocolId.ESP
    assert [int.from_bytes(s, "big") for s in d.spis] == [old_in]
    # INFORMATIONAL  i <- r  HDR, SK { D(ESP, B's inbound SPI) }
    m = exchange(b, a, 7.0)
    assert (m.exchange, m.response, m.types) == (INFO, True, [P.DELETE]), m.draw()
    assert ike_sas(b)[0]["children"] == [] and len(b.kernel.sas) == 0
    # The policy's next ACQUIRE negotiates a new CHILD_SA on the same IKE SA.
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    first = next(iter(a.core.sas.values()))
    assert a.core.initiate("peer_out", 8.0) is first
    m = exchange(a, b, 8.0)
    assert (m.exchange, m.response, m.notifies) == (
        CREATE, False, [NotifyType.USE_TRANSPORT_MODE]), m.draw()
    assert pump(sides, now=8.0) == 1  # CREATE_CHILD_SA  i <- r  HDR, SK { ..., SA, Nr, ... }
    for side in (a, b):
        assert [c["policy"] for c in ike_sas(side)[0]["children"]] == ["peer_transport"]


def test_a_rekey_answered_after_the_hard_lifetime_takes_the_old_sas_place(
        tmp_path: Path) -> None:
    """A's rekey is slow (ML-KEM follow-ups on a loaded host, seen in the VM's rekey run): the
    old CHILD_SA reaches its hard lifetime before the answer.  A deletes the old one and tells
    B, and the new CHILD_SA, which B installed when it answered, carries the traffic: it is
    not deleted as a rekey of an SA the peer took away, which would leave the policy without
    an SA until the next ACQUIRE's exchange."""
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    (child,) = ike_sas(a)[0]["children"]
    old = spi_in(child)
    key_in = next(s.key for s in internals.negotiated_specs(a) if s.spi == old)
    assert a.core.kernel_event(api.Expire(key_in, hard=False), 5.0)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, 5.0)
    assert (m.exchange, m.response) == (CREATE, False), m.draw()
    settle(b, 5.0)  # B answers (its new inbound SA in, its outbound held), still on the wire
    assert a.core.kernel_event(api.Expire(key_in, hard=True), 6.0)
    a.collect()
    assert [e.reason for e in of(a, ChildSaDown)] == ["hard lifetime expired"]
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    m = exchange(b, a, 6.0)
    assert (m.exchange, m.response) == (CREATE, True), m.draw()
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, A's old inbound SPI) }    and its answer
    assert pump(sides, now=6.0) == 2
    # The new CHILD_SA is up (phase2_up, after the old one's phase2_down), not a rekey.
    assert [e.rekey for e in of(a, ChildSaUp)] == [False, False]
    assert len(of(a, ChildSaDown)) == 1
    (new_a,) = ike_sas(a)[0]["children"]
    (new_b,) = ike_sas(b)[0]["children"]
    assert spi_in(new_a) != old
    assert (spi_in(new_a), spi_in(new_b)) == (int(new_b["spi_out"], 16),
                                              int(new_a["spi_out"], 16))
    for side in (a, b):
        assert len(side.kernel.sas) == 2, side.kernel.sas  # the new pair, nothing stale


def test_a_rekey_installs_before_it_removes(tmp_path: Path) -> None:
    """The kernel sees new inbound, new outbound, old outbound removed, and the old inbound
    removed only once the peer answered our Delete of it."""
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    (child,) = ike_sas(a)[0]["children"]
    old_in, old_out = spi_in(child), int(child["spi_out"], 16)
    log = kernel_log(a)
    assert a.core.kernel_event(api.Expire(outbound(a), hard=False), 5.0)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, 5.0)
    assert (m.exchange, m.notifies[0]) == (CREATE, NotifyType.REKEY_SA), m.draw()
    # B installed its new inbound SA before it answered; its outbound one waits for our
    # Delete (tests/pair/test_make_before_break.py).
    (new_b,) = [c for c in ike_sas(b)[0]["children"] if spi_in(c) != old_out]
    assert b.installed[-1].spi == spi_in(new_b)
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    m = exchange(b, a, 5.0)
    assert (m.exchange, m.response) == (CREATE, True), m.draw()
    (new,) = ike_sas(a)[0]["children"]
    new_in, new_out = spi_in(new), int(new["spi_out"], 16)
    assert log == [("update", new_in), ("add", new_out), ("del", old_out)]
    assert (a.core.config.interface.ike[0].address, api.Proto.ESP,  # type: ignore[union-attr]
            old_in) in a.kernel.sas  # the peer's packets in flight still arrive
    # INFORMATIONAL  i -> r  HDR, SK { D(ESP, A's old inbound SPI) }
    m = exchange(a, b, 5.0)
    assert (m.exchange, m.types) == (INFO, [P.DELETE]), m.draw()
    assert log[-1] == ("del", old_out)
    # INFORMATIONAL  i <- r  HDR, SK { D(ESP, B's old inbound SPI) }
    m = exchange(b, a, 5.0)
    assert (m.exchange, m.response) == (INFO, True), m.draw()
    settle(a, 5.0)
    assert log == [("update", new_in), ("add", new_out), ("del", old_out), ("del", old_in)]
    # Only the new CHILD_SA's SAs are left to expire (the old ones left the index).
    assert internals.expiry_index(a) == {s.key for s in internals.negotiated_specs(a)}
    assert {k.spi for k in internals.expiry_index(a)} == {new_in, new_out}


def test_the_ike_sa_lifetime_waits_for_the_window(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    life, _, _ = internals.deadlines(a)
    assert life is not None
    # A CHILD_SA rekey holds the window when the IKE SA's lifetime ends: the IKE SA rekey
    # waits for it (before the queue, the SA ended here).
    assert a.core.kernel_event(api.Expire(outbound(a), hard=False), life)
    settle(a, life)
    a.core.handle_timer(life)
    assert queue_of(a)["active"]["kind"] == "CREATE_CHILD_SA rekey"
    assert queue_of(a)["queued"][0]["kind"] == "IKE SA rekey"
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    exchange(a, b, life)
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }
    exchange(b, a, life)
    # INFORMATIONAL    i -> r  HDR, SK { D(ESP, old SPI) }    and its answer
    exchange(a, b, life)
    exchange(b, a, life)
    # CREATE_CHILD_SA  i -> r  HDR, SK { SA(IKE), Ni, KE }                (RFC 7296 §1.3.2)
    m = exchange(a, b, life)
    sa_p = next(p for p in m.payloads if isinstance(p, SA))
    assert (m.exchange, m.types) == (CREATE, [P.SA, P.NONCE, P.KE]), m.draw()
    assert sa_p.proposals[0].protocol == ProtocolId.IKE
    # the answer, then INFORMATIONAL D(IKE) of the old IKE SA and its answer
    pump(sides, now=life)
    for side in (a, b):
        (sa,) = ike_sas(side)
        assert sa["state"] == "established" and len(sa["children"]) == 1
        assert [e.replaced for e in of(side, IkeSaDown)] == [True]


def test_a_hard_ike_sa_lifetime_sends_delete(tmp_path: Path) -> None:
    sides = up(tmp_path)
    a, b = sides["a"], sides["b"]
    life, _, _ = internals.deadlines(a)
    _, nego = internals.peer_limits(a)
    assert life is not None
    hard = life + (nego or REKEY_GRACE)
    # A CHILD_SA rekey is in flight when the lifetime ends, and its answer takes longer than
    # a negotiation may: the queued IKE SA rekey never got its turn.
    assert a.core.kernel_event(api.Expire(outbound(a), hard=False), life - 1.0)
    settle(a, life - 1.0)
    a.core.handle_timer(life)
    # (the liveness check, due by now, waits behind it)
    assert [t["kind"] for t in queue_of(a)["queued"]] == [
        "IKE SA rekey", "INFORMATIONAL liveness check"]
    a.core.handle_timer(hard)
    assert [t["kind"] for t in queue_of(a)["queued"]] == [
        "INFORMATIONAL delete IKE SA", "IKE SA rekey", "INFORMATIONAL liveness check"]
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr }
    m = exchange(a, b, hard)
    assert (m.exchange, m.response) == (CREATE, False), m.draw()
    a.outbox.clear()  # its retransmissions
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr }   (late)
    m = exchange(b, a, hard)
    assert (m.exchange, m.response) == (CREATE, True), m.draw()
    # INFORMATIONAL    i -> r  HDR, SK { D(IKE) }       (not a silent local teardown)
    m = exchange(a, b, hard)
    assert (m.exchange, m.response, m.types) == (INFO, False, [P.DELETE]), m.draw()
    (d,) = m.payloads
    assert isinstance(d, Delete) and d.protocol == ProtocolId.IKE
    # INFORMATIONAL    i <- r  HDR, SK { }
    m = exchange(b, a, hard)
    assert (m.exchange, m.response, m.types) == (INFO, True, []), m.draw()
    for side, reason in ((a, "deleted"), (b, "deleted by the peer")):
        settle(side, hard)
        assert ike_sas(side) == [] and len(side.kernel.sas) == 0
        # phase1_down, and phase2_down for the CHILD_SA that was up
        assert [(e.reason, e.replaced) for e in of(side, IkeSaDown)] == [(reason, False)]
        assert [e.replaced for e in of(side, ChildSaDown)][-1] is False
