"""INITIAL-CONTACT received (RFC 2407 §4.6.3.3): a peer that restarted has its old SAs
with us ended, and only its own."""

from __future__ import annotations

import re
from pathlib import Path

from iked.events import ChildSaDown, ChildSaUp, IkeSaDown, IkeSaUp
from iked.ikev1.core import Ikev1Core
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.kernel.memory import MemoryBackend

from .conf import ikev1_conf
from .harness import A, B, Side, pair, pump, side

C = "192.0.2.3"


def _b_with_two_peers(tmp: Path) -> Side:
    """B with a remote for A and another for C (the second block's names renamed)."""
    text = ikev1_conf(tmp / "b", B, A)
    for_c = ikev1_conf(tmp / "bc", B, C)
    blocks = for_c[for_c.index("remote peer"):]
    for old, new in ((r"peer \{", "peer_c {"), (r"remote_index peer;", "remote_index peer_c;"),
                     (r"\bsel_", "selc_"), (r"\bpol\b", "pol_c"),
                     (r"\besp_(ipsec|sa)\b", r"espc_\1")):
        blocks = re.sub(old, new, blocks)
    core = Ikev1Core(loads(text + blocks, f"{tmp}/b/racoon2.conf"), DeterministicRng(b"b"),
                     read_secret, 0.0)
    return Side(core, MemoryBackend(seed=7))


def _keyed(s: Side) -> set[int]:
    return {k[2] for k, (_, _, larval) in s.kernel.sas.items() if not larval}


def test_initial_contact_ends_the_restarted_peers_old_sas_only(tmp_path: Path) -> None:
    b = _b_with_two_peers(tmp_path)
    a, _ = pair(tmp_path / "ab")
    c = side(tmp_path / "c", C, B, b"c")
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    c.core.initiate("sel_out", 0.0)
    pump(c, b, now=1.0)
    assert len(b.of(ChildSaUp)) == 2 and len(b.core.sas) == 2
    old_a = next(sa for sa in b.core.sas.values() if str(sa.remote.addr) == A)
    old_spis = {old_a.children[0].spi_in, old_a.children[0].spi_out}
    c_spis = _keyed(b) - old_spis
    # A restarts (its SAs lost, no Delete sent) and begins again:
    # MM5  a -> b  HDR*, IDii, HASH_I, N(INITIAL-CONTACT)
    a2 = side(tmp_path / "a2", A, B, b"A2")
    a2.core.initiate("sel_out", 2.0)
    pump(a2, b, now=2.0)
    downs = [e for e in b.events if isinstance(e, IkeSaDown)]
    assert [(d.sa, d.reason) for d in downs] == [
        (old_a.name, "the peer restarted (INITIAL-CONTACT)")]
    (child_down,) = b.of(ChildSaDown)
    assert isinstance(child_down, ChildSaDown) and child_down.spi_in in old_spis
    assert not old_spis & _keyed(b)                         # the old kernel SAs are gone
    assert c_spis <= _keyed(b)                              # C's are not
    assert len(b.of(IkeSaUp)) == 3 and len(b.of(ChildSaUp)) == 3
    assert sorted(str(sa.remote.addr) for sa in b.core.sas.values()) == [A, C]
    assert not c.of(ChildSaDown) and not c.of(IkeSaDown)
