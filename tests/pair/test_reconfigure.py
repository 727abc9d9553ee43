"""SA lifecycle without holes: SIGHUP's IkeCore.reconfigure keeps what the new configuration
still describes; INITIAL_CONTACT from a restarted peer ends its old SAs.

A (192.0.2.1) and B (192.0.2.2) are up on samples/ikev2-transport.conf; A then gets a new
configuration in place, as iked's shell does on SIGHUP.
"""

from __future__ import annotations

from pathlib import Path

from iked.events import ChildSaDown, IkeSaDown
from racoon2.config import loads
from racoon2.ikev2.constants import ExchangeType, NotifyType, ProtocolId
from racoon2.ikev2.payloads import Delete

from .harness import (
    Edit,
    Msg,
    Side,
    exchanges,
    ike_sas,
    make_side,
    of,
    pump,
    side_config,
    two_sides,
)

AUTH, CREATE = ExchangeType.IKE_AUTH, ExchangeType.CREATE_CHILD_SA
INFO = ExchangeType.INFORMATIONAL


def _up(pair: dict[str, Side]) -> None:
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    pump(pair)
    assert [len(sa["children"]) for sa in ike_sas(pair["a"])] == [1]


def _reload(side: Side, tmp: Path, edit: Edit, now: float = 1.0) -> None:
    text = side_config("ikev2-transport.conf", tmp / "a", "192.0.2.1", "192.0.2.2", edit=edit)
    side.core.reconfigure(loads(text, f"{tmp}/a/racoon2.conf"), now)


def _deletes(wire: list[Msg]) -> list[tuple[int, bool]]:
    return [(p.protocol, m.response) for m in wire for p in m.payloads
            if isinstance(p, Delete)]


def test_unchanged_keeps_every_sa(pair: dict[str, Side], tmp_path: Path) -> None:
    _up(pair)
    a = pair["a"]
    before, kernel = ike_sas(a), list(a.installed)
    _reload(a, tmp_path, ())
    # No message, no kernel request: the same IKE SA and CHILD_SA SPIs.
    assert a.core.requests() == []
    assert pump(pair, 1.0) == 0
    assert ike_sas(a) == before and a.installed == kernel
    assert of(a, IkeSaDown) == [] and of(a, ChildSaDown) == []


def test_removed_remote_is_deleted(pair: dict[str, Side], tmp_path: Path) -> None:
    _up(pair)
    a, b = pair["a"], pair["b"]
    # The remote is renamed: "peer" is gone (the policy now names "other").
    _reload(a, tmp_path, (("remote peer {", "remote other {"),
                          ("remote_index peer;", "remote_index other;")))
    wire: list[Msg] = []
    pump(pair, 1.0, record=wire)
    # INFORMATIONAL  i -> r  HDR, SK { D(IKE) }, answered; both sides' SAs are gone.
    assert exchanges(wire) == [(INFO, False), (INFO, True)]
    assert _deletes(wire) == [(ProtocolId.IKE, False)]
    assert ike_sas(a) == [] and ike_sas(b) == []
    assert a.kernel.sas == {} and b.kernel.sas == {}


def test_changed_remote_is_renegotiated(pair: dict[str, Side], tmp_path: Path) -> None:
    _up(pair)
    a, b = pair["a"], pair["b"]
    old = ike_sas(a)[0]["sa"]
    _reload(a, tmp_path, (("kmp_sa_lifetime_time 8 hours", "kmp_sa_lifetime_time 4 hours"),))
    wire: list[Msg] = []
    pump(pair, 1.0, record=wire)
    assert _deletes(wire) == [(ProtocolId.IKE, False)] and ike_sas(b) == []
    # The next ACQUIRE negotiates a new IKE SA with the new settings.
    assert a.core.initiate("peer_out", 2.0) is not None
    pump(pair, 2.0)
    [new] = ike_sas(a)
    assert new["sa"] != old and len(new["children"]) == 1
    assert a.core.sas[bytes.fromhex(new["sa"][:16])].peer.lifetime == 4 * 3600


def test_changed_policy_renegotiates_the_child_only(pair: dict[str, Side],
                                                     tmp_path: Path) -> None:
    _up(pair)
    a, b = pair["a"], pair["b"]
    [before] = ike_sas(a)
    _reload(a, tmp_path, (("ipsec_sa_lifetime_time 1 hour", "ipsec_sa_lifetime_time 2 hours"),))
    wire: list[Msg] = []
    pump(pair, 1.0, record=wire)
    # INFORMATIONAL  i -> r  HDR, SK { D(ESP) }; i <- r  HDR, SK { D(ESP) }
    assert _deletes(wire) == [(ProtocolId.ESP, False), (ProtocolId.ESP, True)]
    assert [sa["sa"] for sa in ike_sas(a)] == [before["sa"]]
    assert ike_sas(a)[0]["children"] == [] and a.kernel.sas == {}
    # The next ACQUIRE: CREATE_CHILD_SA on the IKE SA that stayed, with the new lifetime.
    assert a.core.initiate("peer_out", 2.0) is not None
    wire.clear()
    pump(pair, 2.0, record=wire)
    assert exchanges(wire) == [(CREATE, False), (CREATE, True)]
    [after] = ike_sas(a)
    assert after["sa"] == before["sa"] and len(after["children"]) == 1
    assert a.installed[-1].lifetime.hard_add_seconds == 7200
    assert len(b.kernel.sas) == 2


def test_initial_contact_ends_the_old_sas_of_a_restarted_peer(tmp_path: Path) -> None:
    on = (("kmp_sa_lifetime_time 8 hours;", "kmp_sa_lifetime_time 8 hours; initial_contact on;"),)
    pair = two_sides(tmp_path, a_edit=on)
    _up(pair)
    b = pair["b"]
    [old] = ike_sas(b)
    # A is killed (no Delete) and starts again: a new core, the same configuration.
    pair["a"] = make_side(tmp_path / "a2", "192.0.2.1", "192.0.2.2", b"A", edit=on)
    assert pair["a"].core.initiate("peer_out", 5.0) is not None
    wire: list[Msg] = []
    pump(pair, 5.0, record=wire)
    # IKE_AUTH  i -> r  HDR, SK { IDi, N(INITIAL_CONTACT), AUTH, ... }
    auth = next(m for m in wire if m.exchange is AUTH and not m.response)
    assert NotifyType.INITIAL_CONTACT in auth.notifies, auth.draw()
    # RFC 7296 §2.4: B ends the old IKE SA and its CHILD_SA locally; only the new ones stay.
    [new] = ike_sas(b)
    assert new["sa"] != old["sa"] and len(new["children"]) == 1
    assert len(b.kernel.sas) == 2
    assert [e.reason for e in of(b, IkeSaDown)] == ["the peer restarted (INITIAL_CONTACT)"]
    assert not any(m.exchange is INFO for m in wire)  # nothing sent on the dead SA


def test_unchanged_road_warrior_keeps_its_narrowed_child_sas(tmp_path: Path) -> None:
    # The client's CHILD_SA was narrowed to the leased address, the server's to the client's
    # IP_RW address: the same file again changes nothing on either side.
    from .test_config_request import CLIENT, SERVER

    pair = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", edit=CLIENT),
            "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", edit=SERVER)}
    _up(pair)
    before = {k: ike_sas(s) for k, s in pair.items()}
    for name, me, peer, edit in (("a", "192.0.2.1", "192.0.2.2", CLIENT),
                                 ("b", "192.0.2.2", "192.0.2.1", SERVER)):
        text = side_config("ikev2-transport.conf", tmp_path / name, me, peer, edit=edit)
        pair[name].core.reconfigure(loads(text, f"{tmp_path}/{name}/racoon2.conf"), 1.0)
    assert pump(pair, 1.0) == 0
    assert {k: ike_sas(s) for k, s in pair.items()} == before
    assert of(pair["a"], ChildSaDown) == [] and of(pair["b"], ChildSaDown) == []
