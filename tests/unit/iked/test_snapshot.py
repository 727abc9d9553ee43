"""iked's saved state (iked/ikev2/snapshot.py, iked/statefile.py): the document round-trips
an IKE SA and its CHILD_SA exactly, deadlines move between monotonic clocks by the wall clock,
and a damaged, foreign or readable-by-others file is refused before anything of it is used."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from pathlib import Path

import pytest

from iked import statefile
from iked.events import Event
from iked.ikev2 import snapshot
from iked.ikev2.child import Ipcomp
from iked.ikev2.proposals import Chosen
from iked.ikev2.settings import ChildSettings
from iked.ikev2.ts import Ts
from racoon2.crypto import keymat
from racoon2.crypto.rng import DeterministicRng
from racoon2.errors import StateError
from racoon2.ikev2.constants import ProtocolId
from racoon2.ikev2.payloads import Attribute, Transform
from racoon2.kernel import api
from racoon2.net import Endpoint

ME, PEER = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")
CONF = "/etc/racoon2/racoon2.conf"
#: AES-CBC-128 (Key Length 128), PRF and INTEG HMAC-SHA2-256, group 14.
CHOSEN = Chosen(1, ProtocolId.IKE, b"", (Transform(1, 12, (Attribute(14, 128),)),
                                         Transform(2, 5), Transform(3, 12), Transform(4, 14)))
KEYS = keymat.IkeKeys(*(bytes([i]) * 32 for i in range(7)))
LOCAL_TS = (Ts(ME, ME),)
REMOTE_TS = (Ts(PEER, PEER, 6, 80, 80),)


class Host:
    """What an IkeSa needs of the core, for a revived SA that sends nothing."""

    rng = DeterministicRng(b"t")
    tracing = False

    def send(self, sa: object, data: bytes) -> None:
        raise AssertionError("nothing is sent")

    def emit(self, event: Event) -> None:
        raise AssertionError(f"no event: {event}")


def _spec(src: ipaddress.IPv4Address, dst: ipaddress.IPv4Address, proto: api.Proto,
          spi: int) -> api.SaSpec:
    return api.SaSpec(src, dst, proto, spi, reqid=7,
                      lifetime=api.Lifetime(soft_add_seconds=3000, hard_add_seconds=3600))


SPECS = (_spec(PEER, ME, api.Proto.ESP, 0x52200001), _spec(ME, PEER, api.Proto.ESP, 0xC0FFEE),
         _spec(PEER, ME, api.Proto.IPCOMP, 0x4001), _spec(ME, PEER, api.Proto.IPCOMP, 0x4002))
KERNEL = {(s.src, s.dst, s.proto, s.spi): api.SaInfo(s, api.LifetimeCurrent(add_time=1000))
          for s in SPECS}
SETTINGS = ChildSettings("pol", "sel", 7, False, LOCAL_TS, LOCAL_TS, None, None, (), False,
                         3600, 0)
CHILD = snapshot.SavedChild("pol", 0x52200001, 0xC0FFEE, 0x4001, Ipcomp(2, 0x4001, 0x4002),
                            LOCAL_TS, REMOTE_TS,
                            tuple((s.src, s.dst, s.proto, s.spi) for s in SPECS),
                            "AES_CBC-128/HMAC_SHA2_256_128 + IPComp deflate", (31, 36))
SAVED = snapshot.SavedSa(
    "peer", True, bytes(range(8)), bytes(range(8, 16)), Endpoint(ME, 500), Endpoint(PEER, 4500),
    CHOSEN, KEYS, 5, 3, 2, (b"\x01response",), (2, b"peer.example"), frozenset({2, 4}),
    True, False, (("pool", ipaddress.ip_address("198.51.100.7")),
                  ("pool", ipaddress.ip_address("2001:db8:1::7"))),
    {"life": 2_000_000.0, "hard": None, "dpd": 1_000_060.0, "keepalive": None}, (CHILD,),
    ppk_id=b"ppk-1")


START = snapshot.Clock(0.0, 1e6)


def _doc(saved: snapshot.SavedSa = SAVED, clock: snapshot.Clock = START) -> bytes:
    sa, why = snapshot.revive(Host(), snapshot.farewell("peer"),  # type: ignore[arg-type]
                              [SETTINGS], saved, KERNEL, clock)
    assert why == ""
    return snapshot.dump([sa], clock, CONF)


def test_the_document_round_trips() -> None:
    data = _doc()
    (back,) = snapshot.load(data, CONF)
    assert back == SAVED
    # Again through another process's clock: the same wall-clock deadlines, the same bytes.
    assert _doc(back, snapshot.Clock(500.0, 1e6)) == data


def test_deadlines_move_between_monotonic_clocks_by_the_wall_clock() -> None:
    sa, _ = snapshot.revive(Host(), snapshot.farewell("peer"),  # type: ignore[arg-type]
                            [SETTINGS], SAVED, KERNEL, snapshot.Clock(500.0, 1_000_010.0))
    assert (sa.deadline_dpd, sa.deadline_life, sa.deadline_hard) == (550.0, 1_000_490.0, None)
    assert sa.state.value == "established" and sa.tasks.window.next_mid == 5
    (c,) = sa.children
    assert c.negotiated is not None and c.negotiated.specs == SPECS
    # Added at 1000 with a soft lifetime of 3000 s: overdue from 4000 on (EXPIRE missed).
    assert not snapshot.overdue(c, KERNEL, 3999.0) and snapshot.overdue(c, KERNEL, 4000.0)


def test_what_cannot_carry_on_is_named() -> None:
    def why(settings: list[ChildSettings] | None, kernel: dict[snapshot.SaRef, api.SaInfo]
            ) -> str:
        sa, reason = snapshot.revive(Host(), snapshot.farewell("peer"),  # type: ignore[arg-type]
                                     settings, SAVED, kernel, snapshot.Clock(0.0, 1e6))
        assert reason == "" or sa.children == []
        return reason

    assert why(None, KERNEL) == "remote peer is no longer configured"
    assert why([], KERNEL) == "policy pol is no longer configured"
    gone = dict(list(KERNEL.items())[1:])
    assert why([SETTINGS], gone) == "the kernel SAs of policy pol (spi in 0x52200001) are gone"


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(version=1), "saved state version 1; this iked reads version 2"),
    (lambda d: d.update(config="/other.conf"), "saved state of '/other.conf'"),
    (lambda d: d.update(format="x"), "not a saved state of iked"),
    (lambda d: d["ike_sas"][0]["keys"].update(sk_d="%%%"), "damaged saved state"),
    (lambda d: d["ike_sas"][0].pop("window"), "damaged saved state: KeyError"),
    (lambda d: d["ike_sas"][0]["window"].update(next_mid="5"), "damaged saved state"),
])
def test_a_foreign_or_damaged_document_is_refused(change: object, message: str) -> None:
    doc = json.loads(_doc())
    change(doc)  # type: ignore[operator]
    with pytest.raises(StateError, match=message.replace("(", r"\(")):
        snapshot.load(json.dumps(doc).encode(), CONF)


def test_a_truncated_file_is_refused() -> None:
    with pytest.raises(StateError, match="not a saved state"):
        snapshot.load(_doc()[:100], CONF)


def test_secrets_are_base64_not_clear() -> None:
    doc = json.loads(_doc())
    assert base64.b64decode(doc["ike_sas"][0]["keys"]["sk_ei"]) == KEYS.sk_ei
    assert "children" in doc["ike_sas"][0] and "key" not in json.dumps(doc["ike_sas"][0]
                                                                       ["children"])


def test_the_file_is_written_atomically_at_mode_0600_and_read_once(tmp_path: Path) -> None:
    path = str(tmp_path / "iked.state")
    statefile.write(path, b"old")
    statefile.write(path, b"new")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["iked.state"]  # no temporary file left
    assert statefile.take(path) == b"new"
    assert not os.path.exists(path) and statefile.take(path) is None


def test_a_file_others_may_read_is_refused_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "iked.state"
    path.write_bytes(b"{}")
    path.chmod(0o644)
    with pytest.raises(StateError, match="mode -rw-r--r--.*refused"):
        statefile.take(str(path))
    assert not path.exists()


def test_an_unwritable_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="cannot create a file in"):
        statefile.write(str(tmp_path / "missing" / "iked.state"), b"x")
