"""Shutdown (SIGTERM) and a reload (SIGHUP) that removes the remote, while an exchange of ours
is in flight: the Delete waits for the window (RFC 7296 §2.3, window size 1) and is sent after
it, so that the peer is told; a peer that never answers ends the SA at ``stop_wait``.

Before, ``IkeSa.delete`` ended such an SA locally without a Delete: the peer kept its half.
A (192.0.2.1) and B (192.0.2.2) on samples/ikev2-transport.conf, on a virtual clock.
"""

from __future__ import annotations

from pathlib import Path

from iked.events import IkeSaDown
from racoon2.config import loads
from racoon2.ikev2.constants import ExchangeType, ProtocolId
from racoon2.ikev2.payloads import Delete
from racoon2.kernel import api

from . import internals
from .harness import Msg, Side, decode, exchange, ike_sas, of, pump, settle, side_config, spi_in

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL
REMOVED = (("remote peer {", "remote other {"), ("remote_index peer;", "remote_index other;"))


def _rekey_in_flight(pair: dict[str, Side]) -> None:
    """A and B up; A's CHILD_SA rekey request is sent and not yet delivered."""
    a = pair["a"]
    assert a.core.initiate("peer_out", 0.0) is not None
    pump(pair)
    (child,) = ike_sas(a)[0]["children"]
    key = next(s.key for s in internals.negotiated_specs(a) if s.spi == spi_in(child))
    assert a.core.kernel_event(api.Expire(key, hard=False), 1.0)
    settle(a, 1.0)
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), SA, Ni, TSi, TSr }   (held in A's outbox)
    assert [decode(d.data, a).exchange for d in a.outbox] == [CREATE]


def _the_delete_follows_the_exchange(pair: dict[str, Side]) -> None:
    a, b = pair["a"], pair["b"]
    # The SA is still A's, its Delete queued behind the rekey: nothing more is sent yet.
    assert [s["state"] for s in ike_sas(a)] == ["established"]
    assert ike_sas(a)[0]["exchanges"]["queued"][0]["kind"] == "INFORMATIONAL delete IKE SA"
    assert len(a.outbox) == 1
    #   A                                            B
    #   HDR, SK { N(REKEY_SA), SA, Ni, TSi, TSr } -->
    #                                             <-- HDR, SK { SA, Nr, TSi, TSr }
    #   HDR, SK { D(IKE) }                        -->      (the window is free: the Delete)
    #                                             <-- HDR, SK { }
    assert exchange(a, b, 1.0).exchange is CREATE
    assert exchange(b, a, 1.0).exchange is CREATE
    m = exchange(a, b, 1.0)
    assert (m.exchange, [p.protocol for p in m.payloads if isinstance(p, Delete)]) == \
        (INFO, [ProtocolId.IKE]), m.draw()
    assert exchange(b, a, 1.0).response
    pump(pair, 1.0)
    for side in (a, b):
        assert ike_sas(side) == [] and side.kernel.sas == {}
    assert [e.reason for e in of(b, IkeSaDown)] == ["deleted by the peer"]


def test_shutdown_with_a_rekey_in_flight_sends_the_delete_after_it(pair: dict[str, Side]
                                                                   ) -> None:
    _rekey_in_flight(pair)
    pair["a"].core.shutdown(1.0, 3.0)
    settle(pair["a"], 1.0)
    _the_delete_follows_the_exchange(pair)


def test_reload_removing_the_remote_with_a_rekey_in_flight_sends_the_delete(
        pair: dict[str, Side], tmp_path: Path) -> None:
    _rekey_in_flight(pair)
    text = side_config("ikev2-transport.conf", tmp_path / "a", "192.0.2.1", "192.0.2.2",
                       edit=REMOVED)
    assert pair["a"].core.reconfigure(loads(text, f"{tmp_path}/a/racoon2.conf"), 1.0, 3.0) == 1
    settle(pair["a"], 1.0)
    _the_delete_follows_the_exchange(pair)


def test_a_silent_peer_costs_stop_wait_and_no_more(pair: dict[str, Side]) -> None:
    _rekey_in_flight(pair)
    a = pair["a"]
    a.core.shutdown(1.0, 3.0)
    # B never answers: at 1 + 3 s the SA ends, its kernel SAs (the new larval one too) go.
    a.core.handle_timer(3.9)
    settle(a, 3.9)
    assert [s["state"] for s in ike_sas(a)] == ["established"]
    assert a.core.next_timer() is not None and a.core.next_timer() <= 4.0  # type: ignore[operator]
    a.core.handle_timer(4.0)
    settle(a, 4.0)
    assert ike_sas(a) == [] and a.kernel.sas == {}
    assert [e.reason for e in of(a, IkeSaDown)] == ["shut down (no answer to our Delete in time)"]


def test_a_rekey_still_waiting_for_its_spi_gives_way_to_the_delete(pair: dict[str, Side]
                                                                   ) -> None:
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    pump(pair)
    (child,) = ike_sas(a)[0]["children"]
    key = next(s.key for s in internals.negotiated_specs(a) if s.spi == spi_in(child))
    assert a.core.kernel_event(api.Expire(key, hard=False), 1.0)
    # The rekey waits for the kernel's SPI when SIGTERM comes: nothing was sent yet, so it is
    # abandoned (its SPI freed) and the Delete goes first.
    #   HDR, SK { D(IKE) } -->   <-- HDR, SK { }
    a.core.shutdown(1.0, 3.0)
    m = exchange(a, b, 1.0)
    assert (m.exchange, [p.protocol for p in m.payloads if isinstance(p, Delete)]) == \
        (INFO, [ProtocolId.IKE]), m.draw()
    pump(pair, 1.0)
    for side in (a, b):
        assert ike_sas(side) == [] and side.kernel.sas == {}


def test_shutdown_during_an_ike_sa_rekey_deletes_the_successor_too(pair: dict[str, Side]
                                                                    ) -> None:
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    pump(pair)
    internals.set_life(a, 5.0)
    a.core.handle_timer(5.0)
    settle(a, 5.0)
    # CREATE_CHILD_SA  i -> r  HDR, SK { SA(IKE), Ni, KEi }   (the IKE SA rekey, in flight)
    assert [decode(d.data, a).exchange for d in a.outbox] == [CREATE]
    a.core.shutdown(5.0, 3.0)
    # The answer makes the successor, which the shutdown deletes as well as the old IKE SA:
    #   HDR, SK { D(IKE) } on the new IKE SA and on the old one, both answered.
    wire: list[Msg] = []
    pump(pair, 5.0, record=wire)
    assert [p.protocol for m in wire if not m.response for p in m.payloads
            if isinstance(p, Delete)] == [ProtocolId.IKE, ProtocolId.IKE]
    for side in (a, b):
        assert ike_sas(side) == [] and side.kernel.sas == {}
